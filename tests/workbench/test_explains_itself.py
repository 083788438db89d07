"""A workbench that explains itself (issue 23, items 2 and 8): one row per signal, context and
rules as tables with units, gamma as the signal knew it, the scorecard in the demo's units, gaps
said and drawn on every result, a cache clear that names what it deletes, fetching a symbol and
tuning from the pages in the background, no machine paths, and no traceback for any absurd
value typed into any form."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd
import pytest
import wb_fixtures

from primeflow_lib import calendar
from primeflow_lib.workbench import explain, jobs


def texts(at, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


def no_traceback(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not any("internal error" in e or "Traceback" in e for e in texts(at, "error")), texts(at, "error")


def _sql(path, *statements: str) -> None:
    con = duckdb.connect(str(path))
    try:
        for s in statements:
            con.execute(s)
    finally:
        con.close()


def test_a_signal_scored_daily_and_live_is_one_row_with_both_sources(app, wb):
    _sql(wb["read"], "INSERT INTO live.signals SELECT * FROM flow.signals WHERE signal_id = 'sigscalp'")
    at = app.run()
    no_traceback(at)
    assert "Signals (4)" in texts(at, "subheader")  # not 5
    table = next(d.value for d in at.dataframe if "signal_id" in d.value.columns and "sources" in d.value.columns)
    assert list(table["signal_id"]).count("sigscalp") == 1
    assert table.set_index("signal_id").loc["sigscalp", "sources"] == "daily, live"
    assert table.set_index("signal_id").loc["siglive", "sources"] == "live"
    at.multiselect(key="flow_sources").set_value(["live"]).run()
    assert "Signals (2)" in texts(at, "subheader")  # the live-scored SCALP and the live-only one


def test_context_rules_and_score_are_tables_with_units(app, wb):
    at = app.run()
    at.selectbox(key="flow_pick").set_value(0).run()
    no_traceback(at)
    assert not at.json  # no raw JSON on the page
    ctx = next(d.value for d in at.dataframe if list(d.value.columns) == ["field", "value", "meaning"])
    ctx = ctx.set_index("field")
    assert ctx.loc["spot", "value"] == "$590.00" and "USD" in ctx.loc["spot", "meaning"]
    assert ctx.loc["rvol", "value"] == "1.80x" and ctx.loc["regime", "value"] == "BULL"
    rules = next(d.value for d in at.dataframe if list(d.value.columns) == ["rule", "check", "result"])
    assert rules.to_dict("records") == [{"rule": "premium>=100000", "check": "premium >= $100,000",
                                         "result": "passed"}]
    assert any(list(d.value.columns) == ["component", "score (0-1)"] for d in at.dataframe)


def test_the_scorecard_has_the_demo_units_and_every_column(app, wb):
    at = app.run()
    no_traceback(at)
    shown = next(d.value for d in at.dataframe if "win rate" in d.value.columns)
    con = duckdb.connect(str(wb["read"]), read_only=True)
    mart = con.execute("SELECT * FROM marts.strategy_scorecard ORDER BY kind").df()
    con.close()
    expected = explain.scorecard_table(mart)  # the function make demo prints with
    assert list(shown.columns) == list(expected.columns)
    assert "avg return %" in shown.columns and "avg option P&L (USD)" in shown.columns
    pd.testing.assert_frame_equal(shown.reset_index(drop=True), expected.reset_index(drop=True),
                                  check_dtype=False)


def _hole(path, ticker: str, first: int, n: int) -> list[dt.date]:
    days = calendar.sessions_before(wb_fixtures.SESSION, 299) + [wb_fixtures.SESSION]
    gone = days[first:first + n]
    con = duckdb.connect(str(path))
    con.execute("DELETE FROM market.ohlcv_daily WHERE ticker = ? AND trade_date IN (SELECT unnest(?))", [ticker, gone])
    con.close()
    return gone


def test_every_result_says_its_gaps_and_the_chart_breaks_there(app, wb):
    gone = _hole(wb["read"], "SPY", 150, 8)
    at = app.run().switch_page("pages/backtest.py").run()
    at.selectbox(key="bt_symbol").set_value("SPY")
    at.checkbox(key="bt_record").set_value(True)
    at.button(key="bt_run").click().run()
    no_traceback(at)
    assert any("data gaps" in w and "8 of" in w for w in texts(at, "warning")), texts(at, "warning")
    spec = json.dumps([json.loads(c.proto.spec) for c in at.get("vega_lite_chart")])
    assert '"segment"' in spec  # each stretch drawn alone
    seg, gaps = explain.gap_segments(pd.to_datetime(sorted(set(
        calendar.sessions_before(wb_fixtures.SESSION, 299) + [wb_fixtures.SESSION]) - set(gone))))
    assert gaps == [(str(calendar.previous_session(gone[0])), str(calendar.next_session(gone[-1])), 8)]
    assert seg.max() == 1
    # History says it too, for the recorded run
    rid = next(h.value for h in at.header if h.value.startswith("Results")).split()[-1]
    hist = at.switch_page("pages/history.py").run()
    hist.multiselect(key="hist_pick").set_value([rid]).run()
    no_traceback(hist)
    assert any(f"Run {rid}: 8 NYSE sessions missing" in w for w in texts(hist, "warning")), texts(hist, "warning")


def test_a_rejected_upload_is_removed_whatever_rejected_it(app, wb):
    mixed = (b"Date,Open,High,Low,Close,Volume\n2024-03-08 10:00-05:00,1,2,0.5,1.5,100\n"
             b"2024-03-11 10:00,1,2,0.5,1.5,100\n")
    at = app.run().switch_page("pages/backtest.py").run()
    at.radio(key="bt_source").set_value("CSV upload").run()
    at.file_uploader(key="bt_upload").set_value(("mixed.csv", mixed, "text/csv")).run()
    at.button(key="bt_run").click().run()
    no_traceback(at)
    assert any("has no UTC offset" in e for e in texts(at, "error")), texts(at, "error")
    uploads = wb["live"].parent / "uploads"
    assert not uploads.exists() or not any(uploads.rglob("*.csv"))


def test_clear_names_rows_and_dates_and_refuses_in_page_terms(app, wb):
    at = app.run().switch_page("pages/data.py").run()
    at.selectbox(key="clear_tf").set_value("1d").run()
    at.selectbox(key="clear_symbol").set_value("SPY")
    at.date_input(key="clear_start").set_value(dt.date(2024, 12, 2))
    at.date_input(key="clear_end").set_value(dt.date(2024, 12, 31))
    at.button(key="clear_ask").click().run()
    no_traceback(at)
    n = len(calendar.sessions("2024-12-02", "2024-12-31"))
    assert any(f"Delete {n:,} rows of market.ohlcv_daily (SPY) on {n} sessions, 2024-12-02 .. 2024-12-31" in w
               for w in texts(at, "warning")), texts(at, "warning")
    at.button(key="clear_no").click().run()
    at.date_input(key="clear_start").set_value(dt.date(2024, 12, 31))
    at.date_input(key="clear_end").set_value(dt.date(2024, 12, 2))
    at.button(key="clear_ask").click().run()
    assert any("From (2024-12-31) is after To (2024-12-02)" in e for e in texts(at, "error"))


def _wait_for_job(at, key: str, timeout_s: float = 300):
    job = jobs.get(at.session_state[key])
    assert job is not None
    jobs.wait(job, timeout_s)
    return job


def test_fetch_a_symbol_from_the_data_page_in_the_background(app, wb, monkeypatch):
    monkeypatch.setenv("PRIMEFLOW_VENDOR", "synthetic")
    at = app.run().switch_page("pages/data.py").run()
    at.text_input(key="fetch_symbol").set_value("IWM")
    start = calendar.sessions_before(wb_fixtures.SESSION, 9)[0]
    at.date_input(key="fetch_start").set_value(start)
    at.date_input(key="fetch_end").set_value(wb_fixtures.SESSION)
    at.selectbox(key="fetch_vendor").set_value("synthetic")
    at.button(key="fetch_go").click().run()
    no_traceback(at)
    job = _wait_for_job(at, "fetch_job")
    assert job.status == "done", job.error
    at.run()
    no_traceback(at)
    assert any("done" in s for s in texts(at, "success"))
    con = duckdb.connect(str(wb["read"]), read_only=True)  # republished
    assert con.execute("SELECT count(*) FROM market.ohlcv_daily WHERE ticker = 'IWM'").fetchone()[0] == 10
    con.close()
    # a bad request is one line on the page, no job
    at.text_input(key="fetch_symbol").set_value("../../etc/passwd")
    at.button(key="fetch_go").click().run()
    job = _wait_for_job(at, "fetch_job")
    at.run()
    no_traceback(at)
    assert job.status == "failed" and ("not a valid" in (job.error or "") or "invalid" in (job.error or "")), job.error


def test_start_a_tuning_study_from_the_page_in_the_background(app, wb):
    at = app.run().switch_page("pages/tuning.py").run()
    no_traceback(at)
    at.selectbox(key="tune_new_symbol").set_value("SPY")
    at.multiselect(key="tune_new_inds").set_value(["rsi"])
    at.number_input(key="tune_new_trials").set_value(30)
    at.number_input(key="tune_new_folds").set_value(2)
    at.button(key="tune_new_go").click().run()
    no_traceback(at)
    job = _wait_for_job(at, "tune_job")
    assert job.status == "done", job.error
    assert job.progress == 1.0 and any("storing it and its OOS run" in line for line in job.lines)
    at.run()
    no_traceback(at)
    con = duckdb.connect(str(wb["read"]), read_only=True)
    assert con.execute("SELECT count(*) FROM research.tuning_studies WHERE study_id = ?",
                       [job.result.study_id]).fetchone()[0] == 1
    con.close()
    # the memory estimate refuses a huge study in the job, in one line
    at.number_input(key="tune_new_trials").set_value(100_000_000)
    at.button(key="tune_new_go").click().run()
    job = _wait_for_job(at, "tune_job")
    assert job.status == "failed" and "estimated peak memory" in job.error


def test_the_sidebar_shows_no_machine_path(app, wb):
    at = app.run()
    shown = [c for c in texts(at, "caption") if "primeflow_read.duckdb" in c]
    assert shown and not any(c.strip("`").startswith("/") for c in shown), shown


#: every form: (page, the button it ends in, the prefix of its widgets' keys, setup: radios and
#: checkboxes set first, e.g. options mode to show the options section)
FORMS = [
    ("pages/backtest.py", "bt_run", "bt_", {"checkbox:bt_record": False}),
    ("pages/backtest.py", "bt_run", "bt_", {"checkbox:bt_record": False, "radio:bt_mode": "options"}),
    ("pages/data.py", "clear_ask", "clear_", {}),
    ("pages/data.py", "fetch_go", "fetch_", {}),
    ("pages/tuning.py", "tune_new_go", "tune_new_", {}),
    # the trader's desk: the tape filters (the table follows every change), saving a preset; the
    # rule editor's preview and save
    ("pages/tape.py", "tape_save", "tape_", {}),
    ("pages/rules.py", "rule_preview", "rule_", {}),
    ("pages/rules.py", "rule_save", "rule_", {}),
]
ABSURD = {
    "number_input": (1e12, -1e12),
    "text_input": ("x" * 300, "../../etc/passwd"),
    "date_input": (dt.date(1900, 1, 1), dt.date(2999, 12, 31)),
    # YAML a user could type in a filter or rule box: a bad date, a broken mapping, a list
    "text_area": ("{vol_oi: 2024-13-45}", "x: [", "- 1\n- 2"),
}


def _open(app, page: str, setup: dict):
    at = app.run().switch_page(page).run()
    for spec, value in setup.items():
        kind, key = spec.split(":")
        getattr(at, kind)(key=key).set_value(value)
    return at.run() if setup else at


@pytest.mark.slow
def test_no_absurd_value_in_any_form_gives_a_traceback(app, wb, monkeypatch):
    monkeypatch.setenv("PRIMEFLOW_VENDOR", "synthetic")  # a fetch that gets through stays local
    problems, runs, skipped = [], 0, []
    for page, action, prefix, setup in FORMS:
        first = _open(app, page, setup)
        for kind, values in ABSURD.items():
            keys = [w.key for w in getattr(first, kind) if w.key and w.key.startswith(prefix)]
            for key in keys:
                for value in values:
                    at = _open(app, page, setup)
                    try:
                        getattr(at, kind)(key=key).set_value(value)
                        at.button(key=action).click().run()
                    except Exception as exc:  # noqa: BLE001 - the harness refusing a value is fine
                        skipped.append(f"{key}: {type(exc).__name__}: {str(exc)[:80]}")
                        continue
                    runs += 1
                    if at.exception or any("internal error" in e for e in texts(at, "error")):
                        problems.append(f"{page} {key}={str(value)[:20]!r}: "
                                        f"{[e.value for e in at.exception] or texts(at, 'error')}")
    for job in jobs.jobs():
        jobs.wait(job, 180)
        if job.error and "internal error" in job.error:
            problems.append(f"job {job.label}: {job.error}")
    print(f"FORMS: {runs} runs, {len(problems)} problems, {len(skipped)} values the harness refused")
    assert runs > 60
    assert not problems, "\n".join(problems[:30])
