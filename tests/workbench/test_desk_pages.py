"""The trader's-desk pages through Streamlit's headless harness on the test warehouse (the desk
day of tests/desk/desk_builders.py): Tape filters, presets and an order opened; the Market desk
tabs and their empty states; the Alert rules editor (preview, refusal, save) and hits."""

from __future__ import annotations

import duckdb
import pytest
import wb_fixtures

DESK_PAGES = ["pages/tape.py", "pages/desk.py", "pages/rules.py"]


@pytest.fixture(autouse=True)
def _packaged_config(tmp_path, monkeypatch):
    """The packaged defaults (not the repository's demo config.yaml, which adds a rule)."""
    p = tmp_path / "config.yaml"
    p.write_text("experiment: {id: desk-pages}\n")
    monkeypatch.setenv("PRIMEFLOW_CONFIG", str(p))


def texts(at, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


def no_traceback(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def tape(app):
    at = app.run().switch_page("pages/tape.py").run()
    no_traceback(at)
    return at


def orders(at) -> str:
    return next(s for s in texts(at, "subheader") if s.startswith("Orders ("))


def test_desk_pages_say_run_make_demo_before_the_read_copy_exists(app):
    at = app.run()
    for p in DESK_PAGES:
        page = at.switch_page(p).run()
        no_traceback(page)
        assert any("does not exist yet: run `make demo`" in w for w in texts(page, "warning"))


def test_tape_filters(app, wb):
    at = tape(app)
    assert orders(at) == "Orders (11 of 11)"  # the desk day's 10 orders and the Flow page's one
    assert any(w.startswith("Synthetic data") for w in texts(at, "warning"))
    at.multiselect(key="tape_tickers").set_value(["SPY"]).run()
    assert orders(at) == "Orders (6 of 6)"
    at.number_input(key="tape_min_premium").set_value(600_000.0).run()
    assert orders(at) == "Orders (2 of 2)"  # e1 $1.2M, e8 $650k
    at.number_input(key="tape_min_premium").set_value(0.0)
    at.radio(key="tape_zero_dte").set_value("only").run()
    assert orders(at) == "Orders (1 of 1)"
    at.radio(key="tape_zero_dte").set_value("include")
    at.multiselect(key="tape_tickers").set_value([])
    at.multiselect(key="tape_structures").set_value(["vertical"]).run()
    assert orders(at) == "Orders (1 of 1)"
    at.multiselect(key="tape_structures").set_value([])
    at.multiselect(key="tape_open_close").set_value(["opening"]).run()
    assert orders(at) == "Orders (5 of 5)"  # e1, e7, e8, e10 and the Flow page's order on e1's contract
    at.multiselect(key="tape_open_close").set_value([])
    at.text_area(key="tape_extra").set_value("vol_oi: {gte: 2}").run()
    assert orders(at) == "Orders (1 of 1)"
    at.text_area(key="tape_extra").set_value("premum: {gte: 2}").run()
    assert any("unknown field 'premum'" in e for e in texts(at, "error"))
    no_traceback(at)


def test_tape_preset_saved_and_applied_and_an_order_opened(app, wb):
    at = tape(app)
    at.multiselect(key="tape_tickers").set_value(["SPY"])
    at.multiselect(key="tape_types").set_value(["sweep"])
    at.radio(key="tape_etf").set_value("only")
    at.text_input(key="tape_save_name").set_value("spy sweeps")
    at.button(key="tape_save").click().run()
    no_traceback(at)
    assert any("Saved preset 'spy sweeps'" in s for s in texts(at, "success"))
    con = duckdb.connect(str(wb["live"]), read_only=True)
    try:
        assert con.execute("SELECT name FROM flow.tape_presets").fetchall() == [("spy sweeps",)]
    finally:
        con.close()
    from streamlit.testing.v1 import AppTest

    fresh = tape(AppTest.from_file(str(wb_fixtures.ROOT / "primeflow_workbench" / "app.py"), default_timeout=120))
    # a new session: widgets at their defaults, then the preset chosen
    assert orders(fresh) == "Orders (11 of 11)"
    fresh.selectbox(key="tape_preset").set_value("spy sweeps").run()
    no_traceback(fresh)
    assert orders(fresh) == "Orders (5 of 5)"  # e1, e7, e8, e9 and the Flow page's SPY sweep
    assert fresh.multiselect(key="tape_tickers").value == ["SPY"]
    fresh.selectbox(key="tape_pick").set_value(0).run()
    no_traceback(fresh)
    metrics = {m.label: m.value for m in fresh.metric}
    assert metrics["premium"] == "$1,200,000" and metrics["open / close"] == "opening"


def test_market_desk_sections(app, wb):
    at = app.run().switch_page("pages/desk.py").run()
    no_traceback(at)
    metrics = {m.label: m.value for m in at.metric}
    # market: SPY 3.07M (+ the Flow page's $250k call at the ask) + AAPL -0.82M + NVDA 0.7M
    assert metrics["net premium at the close"] == "$3,200,000"
    assert len(at.get("vega_lite_chart")) == 1  # the tide with the price
    at.radio(key="tide_scope").set_value("ticker").run()
    at.selectbox(key="tide_ticker").set_value("SPY").run()
    assert {m.label: m.value for m in at.metric}["net premium at the close"] == "$3,320,000"
    at.radio(key="desk_section").set_value("Volatility").run()
    assert any("IV rank over fewer sessions than the 252 asked" in w for w in texts(at, "warning"))
    assert len(at.get("vega_lite_chart")) == 2  # IV history, term structure
    at.radio(key="desk_section").set_value("Open interest").run()
    no_traceback(at)
    assert len(at.get("vega_lite_chart")) == 1 and any("max_pain" in d.value.columns for d in at.dataframe)
    at.radio(key="desk_section").set_value("Exposure").run()
    at.radio(key="exp_greek").set_value("charm").run()
    no_traceback(at)
    assert len(at.get("vega_lite_chart")) == 1


def test_market_desk_without_the_marts(app, wb):
    wb_fixtures.empty_tables(wb["read"])
    con = duckdb.connect(str(wb["read"]))
    try:
        for t in ("marts.tide_minute", "marts.iv_stats", "marts.oi_change", "marts.max_pain",
                  "marts.exposure_by_strike", "market.greek_exposure"):
            con.execute(f"DROP TABLE {t}")
    finally:
        con.close()
    at = app.run().switch_page("pages/desk.py").run()
    no_traceback(at)
    infos = []
    for section in ("Tide", "Volatility", "Open interest", "Exposure"):
        at.radio(key="desk_section").set_value(section).run()
        no_traceback(at)
        infos += texts(at, "info")
    for t in ("marts.tide_minute", "marts.iv_stats", "marts.oi_change"):
        assert any(i.startswith(t) and "run the marts job" in i for i in infos), t
    assert any("market.greek_exposure is not in this warehouse yet" in i for i in infos)


def test_alert_rules_preview_refusal_and_save(app, wb):
    at = app.run().switch_page("pages/rules.py").run()
    no_traceback(at)
    rules = next(d.value for d in at.dataframe if "applies_to" in d.value.columns)
    assert list(rules["name"]) == ["route_scalp", "route_swing", "route_default"]
    at.text_input(key="rule_name").set_value("spy_sweeps")
    at.text_area(key="rule_when").set_value("ticker: SPY\nevent_type: sweep\nside: [ask, above_ask]")
    at.button(key="rule_preview").click().run()
    no_traceback(at)
    assert any("4 hits on 2024-12-31" in m and "\"cooldown\": 2" in m for m in texts(at, "markdown")), \
        texts(at, "markdown")  # the Flow page's 10:00 sweep, e1 10:05 (cooling), e7, e8 (cooling)
    at.selectbox(key="rule_channel").set_value("telegram_main")
    at.text_area(key="rule_when").set_value("premum: 3")
    at.button(key="rule_save").click().run()
    assert any("unknown field 'premum'" in e for e in texts(at, "error"))
    at.text_area(key="rule_when").set_value("ticker: SPY")
    at.button(key="rule_save").click().run()
    no_traceback(at)
    assert any("Saved rule 'spy_sweeps'" in s for s in texts(at, "success"))
    con = duckdb.connect(str(wb["live"]), read_only=True)
    try:
        assert con.execute("SELECT name, enabled FROM live.alert_rules").fetchall() == [("spy_sweeps", True)]
    finally:
        con.close()
    at.text_input(key="rule_name").set_value("route_swing")
    at.button(key="rule_save").click().run()
    assert any("rule 'route_swing' is defined in builtin" in e for e in texts(at, "error"))
    summary = next(d.value for d in at.dataframe if "hits" in d.value.columns)
    assert set(summary["rule"]) >= {"route_scalp", "route_swing"}
