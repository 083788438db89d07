"""Every workbench page through Streamlit's headless harness (AppTest), on the small test
warehouse: what the page shows, the empty and missing-read-copy states, and bad input (the
CLI's message on the page, nothing written)."""

from __future__ import annotations

import datetime as dt
import math

import duckdb
import pytest
import wb_fixtures

from primeflow_lib.flow.gex import compute_gex
from primeflow_lib.research import RunConfig, RunConfigError, load_csv, preset, run_backtest
from primeflow_lib.research.errors import BarsError
from primeflow_lib.research.options.chain import load_chain

TUNING_TABLES = ("research.tuning_studies", "research.tuning_trials", "research.tuned_parameters")
PAGES = ["pages/backtest.py", "pages/history.py", "pages/tuning.py", "pages/data.py"]


def texts(at, kind: str) -> list[str]:
    return [e.value for e in getattr(at, kind)]


def charts(at) -> int:
    return len(at.get("vega_lite_chart"))


def runs_in(path) -> int:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM research.backtest_runs").fetchone()[0]
    finally:
        con.close()


def no_traceback(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_every_page_says_run_make_demo_before_the_read_copy_exists(app):
    at = app.run()
    pages = [at, *(at.switch_page(p).run() for p in PAGES)]
    for page in pages:
        no_traceback(page)
        assert any("does not exist yet: run `make demo`" in w for w in texts(page, "warning"))


def test_flow_today_lists_signals_filters_and_opens_one_to_its_rows(app, wb):
    at = app.run()
    no_traceback(at)
    assert not at.error
    assert "Signals (4)" in texts(at, "subheader")  # 3 daily + 1 live
    assert any(w.startswith("Synthetic data") for w in texts(at, "warning"))
    at.multiselect(key="flow_kinds").set_value(["SCALP"]).run()
    assert "Signals (2)" in texts(at, "subheader")
    at.multiselect(key="flow_sources").set_value(["daily"]).run()
    assert "Signals (1)" in texts(at, "subheader")
    at.multiselect(key="flow_kinds").set_value([])
    at.multiselect(key="flow_tags").set_value(["BLOCK"]).run()
    assert "Signals (1)" in texts(at, "subheader")
    at.multiselect(key="flow_tags").set_value([])
    at.slider(key="flow_strength").set_value(0.5).run()
    assert "Signals (2)" in texts(at, "subheader")  # 0.8 and 0.6 of the daily ones
    at.slider(key="flow_strength").set_value(0.0).run()
    at.selectbox(key="flow_pick").set_value(0).run()  # strongest first: the SCALP on SPY
    no_traceback(at)
    assert "SCALP BULLISH SPY SPY250117C00600000" in texts(at, "subheader")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["status"] == "CLOSED" and metrics["exit"] == "TP"
    assert metrics["option P&L / contract"] == "$120"
    prints = [d.value for d in at.dataframe if "print_id" in d.value.columns]
    assert prints and list(prints[0]["print_id"]) == ["p0", "p1"]
    assert any("SYNTHETIC DATA" in c.value for c in at.code)
    assert metrics["regime"] == "POSITIVE"  # the fixture's gamma snapshot of the session
    scorecards = [d.value for d in at.dataframe if "win_rate" in d.value.columns]
    assert scorecards and set(scorecards[0]["kind"]) == {"SCALP", "SWING", "DAY_TRADE"}


def _open_first_signal(app):
    at = app.run()
    at.selectbox(key="flow_pick").set_value(0).run()  # the SCALP on SPY
    no_traceback(at)
    return at


def test_flow_today_shows_the_gamma_levels_compute_gex_stored(app, wb):
    expected = compute_gex(wb_fixtures.chain(wb_fixtures.SESSION, 590.0)).levels.iloc[0]
    at = _open_first_signal(app)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["call wall"] == f"{expected['call_wall']:,.2f}"
    assert metrics["put wall"] == f"{expected['put_wall']:,.2f}"
    assert metrics["zero-gamma flip"] == f"{expected['zero_gamma']:,.2f}"
    assert metrics["total GEX"] == f"${expected['total_gex'] / 1e6:,.1f}M"
    assert any("sign convention **dealer_long_calls_short_puts**" in c and
               "marts.gamma_levels" in c for c in texts(at, "caption"))
    levels = next(d.value for d in at.dataframe if "gex_regime" in d.value.columns)
    assert list(levels["trade_date"].dt.date) == [wb_fixtures.SESSION,
                                                  dt.date(2024, 12, 30)]  # newest first
    assert charts(at) == 2  # net GEX by strike: the signal's tab and the page's section


def test_flow_today_dealer_gamma_section_without_opening_a_signal(app, wb):
    at = app.run()
    no_traceback(at)
    assert "Dealer gamma" in texts(at, "subheader")
    assert at.selectbox(key="flow_gex_ticker").options == ["SPY"]
    assert {m.label: m.value for m in at.metric}["regime"] == "POSITIVE"
    assert charts(at) == 1


def test_flow_today_gamma_falls_back_to_the_table_and_says_when_empty(app, wb):
    con = duckdb.connect(str(wb["read"]))
    con.execute("DROP TABLE marts.gamma_levels")
    con.close()
    at = _open_first_signal(app)
    assert any("from market.gamma_exposure" in c for c in texts(at, "caption"))
    assert {m.label: m.value for m in at.metric}["regime"] == "POSITIVE"
    wb_fixtures.empty_tables(wb["read"], "market.gamma_exposure", "market.gamma_by_strike")
    at = _open_first_signal(app)
    assert any("No gamma levels for SPY up to 2024-12-31" in i for i in texts(at, "info"))
    con = duckdb.connect(str(wb["read"]))
    con.execute("DROP TABLE market.gamma_exposure")
    con.close()
    at = _open_first_signal(app)
    assert any("market.gamma_exposure is not in this warehouse yet" in i
               for i in texts(at, "info"))


def test_flow_today_empty_session_state(app, wb):
    con = duckdb.connect(str(wb["read"]))
    con.execute("DELETE FROM flow.signals")
    con.execute("DELETE FROM live.signals")
    con.close()
    at = app.run()
    no_traceback(at)
    assert any("No signals yet" in i for i in texts(at, "info"))


def _backtest(app):
    at = app.run()
    return at.switch_page("pages/backtest.py").run()


def test_backtest_runs_records_and_shows_metrics_and_charts(app, wb):
    at = _backtest(app)
    no_traceback(at)
    before = runs_in(wb["live"])
    at.selectbox(key="bt_symbol").set_value("QQQ")  # the fixture ran buy_and_hold on QQQ
    at.button(key="bt_run").click().run()
    no_traceback(at)
    assert not at.error, texts(at, "error")
    metrics = {m.label: m.value for m in at.metric}
    assert {"sharpe", "total return", "max drawdown", "n trades"} <= set(metrics)
    assert charts(at) == 2  # equity and drawdown
    cfg = preset("dual_sma", "QQQ")  # the CLI's run_id for the same preset and symbol
    assert any(cfg.run_id in h.value for h in at.header)
    assert runs_in(wb["live"]) == before + 1  # the new run (the fixture has other configs)
    assert runs_in(wb["read"]) == before + 1  # republished
    assert any(w.startswith("Synthetic data") for w in texts(at, "warning"))


def test_backtest_form_parameters_change_the_run(app, wb):
    at = _backtest(app)
    at.checkbox(key="bt_record").set_value(False)
    at.selectbox(key="bt_symbol").set_value("SPY")
    at.number_input(key="bt_dual_sma_dual_sma_fast").set_value(5)
    at.number_input(key="bt_dual_sma_dual_sma_slow").set_value(30)
    at.number_input(key="bt_dual_sma_sl").set_value(0.05)
    at.button(key="bt_run").click().run()
    no_traceback(at)
    expected = preset("dual_sma", "SPY").replace(
        indicators={"dual_sma": {"fast": 5, "slow": 30}}, exits={"stop_loss": 0.05})
    assert any(expected.run_id in h.value for h in at.header)
    assert runs_in(wb["live"]) == wb_fixtures.N_RUNS  # not recorded


def _expect_error_and_nothing_written(at, wb, message: str) -> None:
    no_traceback(at)
    assert any(message in e for e in texts(at, "error")), texts(at, "error")
    assert runs_in(wb["live"]) == wb_fixtures.N_RUNS
    assert not at.get("vega_lite_chart")


def test_backtest_bad_parameters_show_the_library_message(app, wb):
    at = _backtest(app)
    at.number_input(key="bt_dual_sma_dual_sma_fast").set_value(30)
    at.number_input(key="bt_dual_sma_dual_sma_slow").set_value(20)
    at.button(key="bt_run").click().run()
    with pytest.raises(RunConfigError) as exc:
        RunConfig.from_dict({"indicators": {"dual_sma": {"params": {"fast": 30, "slow": 20}}}}
                            ).check_runnable()
    _expect_error_and_nothing_written(at, wb, str(exc.value))


def _options_form(app):
    at = _backtest(app)
    at.selectbox(key="bt_symbol").set_value("SPY")
    at.radio(key="bt_mode").set_value("options").run()
    return at


def test_backtest_options_run_through_the_form_shows_legs_and_the_iv_source(app, wb):
    at = _options_form(app)
    at.selectbox(key="bt_dual_sma_opt_bearish").set_value("iron_condor")
    at.number_input(key="bt_dual_sma_opt_dte").set_value(30)
    at.number_input(key="bt_dual_sma_opt_sdelta").set_value(0.25)
    at.number_input(key="bt_dual_sma_opt_width").set_value(10.0)
    at.number_input(key="bt_dual_sma_opt_pt").set_value(0.5)
    at.number_input(key="bt_dual_sma_opt_stop").set_value(2.0)
    before = runs_in(wb["live"])
    at.button(key="bt_run").click().run()
    no_traceback(at)
    assert not at.error, texts(at, "error")
    expected = preset("dual_sma", "SPY").replace(mode="options", options={
        "bearish": "iron_condor", "dte": 30, "short_delta": 0.25, "width": 10.0,
        "profit_take": 0.5, "stop": 2.0})
    assert any(expected.run_id in h.value for h in at.header)  # the CLI's config and run_id
    result = run_backtest(expected, wb_fixtures.spy_bars(wb["read"]))
    assert any(w.startswith("Realised-vol proxy used") and result.iv_note in w
               for w in texts(at, "warning"))
    legs = next(d.value for d in at.dataframe if "leg_no" in d.value.columns)
    assert len(legs) == len(result.legs) > 0
    assert set(legs["structure"]) <= {"bull_put", "iron_condor"}
    assert set(legs["iv_source"]) == {"realized"}
    assert list(legs["strike"]) == list(result.legs["strike"])
    assert any(f"{len(legs)} stored in research.backtest_legs" in c for c in texts(at, "caption"))
    assert runs_in(wb["live"]) == before + 1


def test_backtest_options_bad_value_shows_the_spec_message(app, wb):
    at = _options_form(app)
    at.number_input(key="bt_dual_sma_opt_dte").set_value(0)
    at.button(key="bt_run").click().run()
    with pytest.raises(RunConfigError) as exc:
        RunConfig.from_dict({"mode": "options", "options": {"dte": 0}})
    assert "options.dte" in str(exc.value)
    _expect_error_and_nothing_written(at, wb, str(exc.value))


def test_backtest_options_chain_iv_without_a_chain_says_so(app, wb):
    con = duckdb.connect(str(wb["read"]))  # the desk day stores SPY snapshots: drop them here
    try:
        con.execute("DELETE FROM market.option_chain WHERE underlying = 'SPY'")
    finally:
        con.close()
    at = _options_form(app)
    at.radio(key="bt_dual_sma_opt_iv").set_value("chain")
    at.button(key="bt_run").click().run()
    cfg = preset("dual_sma", "SPY").replace(mode="options", options={"iv_source": "chain"})
    with pytest.raises(RunConfigError) as exc:  # the CLI's calls: no chain in the read copy
        run_backtest(cfg, wb_fixtures.spy_bars(wb["read"]), load_chain("SPY", None, wb["read"]))
    assert "no market.option_chain snapshot was found for 'SPY'" in str(exc.value)
    _expect_error_and_nothing_written(at, wb, str(exc.value))
    assert not any("leg_no" in d.value.columns for d in at.dataframe)


def test_backtest_symbol_without_bars_in_range(app, wb):
    at = _backtest(app)
    at.selectbox(key="bt_symbol").set_value("SPY")
    at.date_input(key="bt_start").set_value(dt.date(1999, 1, 4))
    at.date_input(key="bt_end").set_value(dt.date(1999, 12, 31))
    at.button(key="bt_run").click().run()
    _expect_error_and_nothing_written(at, wb, "no bars for 'SPY' in market.ohlcv_daily between "
                                              "1999-01-04 and 1999-12-31")


def test_backtest_bad_csv_shows_the_cli_message_and_keeps_nothing(app, wb, tmp_path):
    bad = b"Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,100\n2024-01-03,abc,2,0.5,1.5,100\n"
    ref = tmp_path / "prices.csv"
    ref.write_bytes(bad)
    with pytest.raises(BarsError) as exc:
        load_csv(ref)
    expected = str(exc.value).split(": ", 1)[1]  # the same text after the file's path
    at = _backtest(app)
    at.radio(key="bt_source").set_value("CSV upload").run()
    at.file_uploader(key="bt_upload").set_value(("prices.csv", bad, "text/csv")).run()
    at.button(key="bt_run").click().run()
    _expect_error_and_nothing_written(at, wb, expected)
    uploads = wb["live"].parent / "uploads"
    assert not uploads.exists() or not any(uploads.rglob("*.csv"))


def test_backtest_good_csv_upload_runs(app, wb, tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parents[1] / "research"))
    from research_fixtures import as_csv_frame, make_bars

    content = as_csv_frame(make_bars(300)).to_csv(index=False).encode()
    at = _backtest(app)
    at.radio(key="bt_source").set_value("CSV upload").run()
    at.file_uploader(key="bt_upload").set_value(("mine.csv", content, "text/csv")).run()
    at.checkbox(key="bt_record").set_value(False)
    at.button(key="bt_run").click().run()
    no_traceback(at)
    assert not at.error, texts(at, "error")
    assert charts(at) == 2
    assert any("uploaded file" in c and "mine.csv" in c for c in texts(at, "caption"))


def test_history_compares_exports_and_reproduces(app, wb):
    at = app.run().switch_page("pages/history.py").run()
    no_traceback(at)
    ids = at.multiselect(key="hist_pick").options
    assert len(ids) == wb_fixtures.N_RUNS
    at.multiselect(key="hist_pick").set_value(ids).run()
    no_traceback(at)
    side = [d.value for d in at.dataframe if set(ids) <= set(d.value.columns)]
    assert side and "sharpe" in side[0].index
    assert charts(at) == 2
    assert any(w.startswith("Synthetic data: The bars of these runs") for w in texts(at, "warning"))
    at.button(key="hist_export").click().run()
    no_traceback(at)
    folder = wb["live"].parent / "exports" / at.selectbox(key="hist_one").value
    assert {p.name for p in folder.iterdir()} == {"config.json", "results.json", "trades.csv",
                                                  "equity.png"}
    assert RunConfig.load(folder / "config.json").run_id == folder.name
    at.button(key="hist_repro").click().run()
    no_traceback(at)
    assert any("same data hash" in s for s in texts(at, "success"))


def test_history_empty_state(app, wb):
    con = duckdb.connect(str(wb["read"]))
    con.execute("DELETE FROM research.backtest_runs")
    con.close()
    at = app.run().switch_page("pages/history.py").run()
    no_traceback(at)
    assert any("No backtest runs yet" in i for i in texts(at, "info"))


def _tuning(app):
    at = app.run().switch_page("pages/tuning.py").run()
    no_traceback(at)
    return at


def test_tuning_empty_state_with_empty_tables_and_without_them(app, wb):
    wb_fixtures.empty_tables(wb["read"], *TUNING_TABLES)
    at = _tuning(app)
    assert any(i.startswith("No tuning study yet: run `primeflow tune") for i in texts(at, "info"))
    con = duckdb.connect(str(wb["read"]))
    for t in TUNING_TABLES:
        con.execute(f"DROP TABLE {t}")
    con.close()
    at = _tuning(app)
    assert any("research.tuning_studies does not exist" in i for i in texts(at, "info"))


def test_tuning_shows_the_study_trials_statistics_verdict_and_oos_run(app, wb):
    con = duckdb.connect(str(wb["read"]), read_only=True)
    tuned = con.execute("SELECT * FROM research.tuned_parameters").df().iloc[0]
    n_trials = con.execute("SELECT count(*) FROM research.tuning_trials").fetchone()[0]
    con.close()
    assert n_trials == wb_fixtures.TUNE.trials
    at = _tuning(app)
    assert not at.error
    stats = {m.label: m.value for m in at.metric}
    for label, key in (("PBO", "pbo"), ("DSR", "dsr"), ("PSR", "psr"),
                       ("OOS Sharpe", "oos_sharpe")):
        assert stats[label] == f"{tuned[key]:.3f}"
    mintrl = tuned["min_trl"]  # NULL = never (the OOS Sharpe is not above 0)
    assert stats["MinTRL (bars)"] == (f"{mintrl:,.0f}" if math.isfinite(mintrl) else "never")
    assert f"Verdict: {tuned['verdict']}" in texts(at, "info")
    assert charts(at) == 1  # in-sample vs out-of-sample scatter
    trials = next(d.value for d in at.dataframe if "oos_sharpe" in d.value.columns
                  and "trial_no" in d.value.columns)
    assert len(trials) == n_trials
    assert any(f"run `{tuned['run_id']}`" in c for c in texts(at, "caption"))
    at.button(key="tune_open_rsi").click().run()
    no_traceback(at)
    assert at.multiselect(key="hist_pick").value == [tuned["run_id"]]


def test_data_page_lists_cache_with_gaps_and_clears_after_confirmation(app, wb):
    con = duckdb.connect(str(wb["read"]))
    con.execute("DELETE FROM market.ohlcv_daily WHERE ticker = 'QQQ' AND trade_date = "
                "DATE '2024-12-02'")
    con.close()
    at = app.run().switch_page("pages/data.py").run()
    no_traceback(at)
    inv = next(d.value for d in at.dataframe if "gaps" in d.value.columns)
    row = inv[(inv["timeframe"] == "1d") & (inv["symbol"] == "QQQ")].iloc[0]
    assert row["gaps"] == 1 and "2024-12-02" in row["missing"]
    assert any(w.startswith("Synthetic data") for w in texts(at, "warning"))

    at.selectbox(key="clear_tf").set_value("1d").run()
    at.selectbox(key="clear_symbol").set_value("QQQ")
    at.button(key="clear_ask").click().run()
    assert any("Delete 1d rows" in w for w in texts(at, "warning"))
    at.button(key="clear_no").click().run()
    con = duckdb.connect(str(wb["live"]), read_only=True)
    assert con.execute("SELECT count(*) FROM market.ohlcv_daily WHERE ticker = 'QQQ'").fetchone()[0] == 300
    con.close()
    at.button(key="clear_ask").click().run()
    at.button(key="clear_yes").click().run()
    no_traceback(at)
    assert "deleted 300 rows" in texts(at, "success")
    for p in (wb["live"], wb["read"]):
        con = duckdb.connect(str(p), read_only=True)
        assert con.execute("SELECT count(*) FROM market.ohlcv_daily WHERE ticker = 'QQQ'").fetchone()[0] == 0
        con.close()


def test_data_page_refuses_to_clear_a_whole_table(app, wb):
    at = app.run().switch_page("pages/data.py").run()
    at.selectbox(key="clear_tf").set_value("1d")
    at.button(key="clear_ask").click().run()
    at.button(key="clear_yes").click().run()
    no_traceback(at)
    assert any("give at least one of --vendor, --symbol, --start, --end" in e
               for e in texts(at, "error"))
