"""``primeflow backtest``: gap warnings and --strict, run history recording (--no-record), the
equity curve in results.json, --entry-on, and small fixes (a series too short for any
indicator, --size-pct as typed, cache clear of an invalid symbol)."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest
from click.testing import CliRunner
from research_fixtures import as_csv_frame, make_bars

from primeflow_lib import calendar, warehouse
from primeflow_lib.research.gaps import find_gaps
from primeflow_pipelines.commands import main
from primeflow_pipelines.commands.backtest import backtest


def invoke(*args):
    return CliRunner().invoke(backtest, [str(a) for a in args])


def session_bars(n: int, drop: tuple[int, ...] = ()) -> pd.DataFrame:
    """``n`` consecutive NYSE sessions from 2024-01-02 (minus the positions in ``drop``)."""
    days = calendar.sessions("2024-01-02", "2025-12-31")[:n]
    bars = make_bars(n, seed=4)
    bars.index = pd.DatetimeIndex(pd.to_datetime(days), name="ts")
    keep = [i for i in range(n) if i not in set(drop)]
    return bars.iloc[keep]


def write_csv(tmp_path, bars, name="prices.csv"):
    path = tmp_path / name
    as_csv_frame(bars).to_csv(path, index=False)
    return path


def test_find_gaps_counts_missing_sessions_and_the_largest_run():
    full = session_bars(60)
    assert not find_gaps(full.index).has_gaps
    g = find_gaps(session_bars(60, drop=(5, 20, 21, 22, 40)).index, "X")
    assert (g.missing_sessions, g.largest_gap) == (4 + 1, 3)
    days = calendar.sessions("2024-01-02", "2025-12-31")
    assert (g.largest_from, g.largest_to) == (str(days[20]), str(days[22]))
    assert g.expected_sessions == 60
    # leading/trailing sessions outside the range are not gaps; weekend bars are ignored
    assert not find_gaps(session_bars(60, drop=(0, 59)).index).has_gaps


def test_gappy_series_warns_in_output_summary_and_strict_refuses(tmp_path):
    path = write_csv(tmp_path, session_bars(80, drop=(30, 31, 50)))
    out = tmp_path / "out.json"
    r = invoke("--csv", path, "--strategy", "dual_sma", "--json", out, "--no-record")
    assert r.exit_code == 0, r.output
    assert "WARNING: data gaps:" in r.output and "3 of 80 NYSE sessions" in r.output
    assert "largest gap 2 sessions" in r.output
    s = json.loads(out.read_text())["summary"]
    assert s["data_gaps"]["missing_sessions"] == 3 and s["data_gaps"]["largest_gap_sessions"] == 2
    assert s["warnings"] and "largest gap 2 sessions" in s["warnings"][0]
    r = invoke("--csv", path, "--strategy", "dual_sma", "--strict", "--no-record")
    assert r.exit_code == 1 and "--strict" in r.output and "3 of 80 NYSE sessions" in r.output
    # a complete series passes --strict without a warning
    r = invoke("--csv", write_csv(tmp_path, session_bars(80), "full.csv"), "--strategy", "dual_sma",
               "--strict", "--no-record")
    assert r.exit_code == 0 and "WARNING" not in r.output


def test_cli_runs_are_recorded_unless_no_record_and_export_has_the_equity_curve(tmp_path):
    path = write_csv(tmp_path, session_bars(120))
    r = invoke("--csv", path, "--strategy", "dual_sma", "--export", tmp_path / "exp", "--no-publish")
    assert r.exit_code == 0, r.output
    assert "recorded run" in r.output and "primeflow publish" in r.output
    run_id = r.output.split()[1]
    with warehouse.connect(read_only=True) as con:
        runs = con.execute("SELECT run_id, n_bars FROM research.backtest_runs").fetchall()
        n_eq = con.execute("SELECT count(*) FROM research.backtest_equity WHERE run_id = ?", [run_id]).fetchone()[0]
    assert runs == [(run_id, 120)] and n_eq == 120
    res = json.loads((tmp_path / "exp" / "results.json").read_text())
    curve = res["equity_curve"]
    assert len(curve) == 120 and set(curve[0]) == {"ts", "equity", "drawdown", "position"}
    assert curve[-1]["equity"] == pytest.approx(res["metrics"]["final_equity"])
    # the same config on the same bars is the same run: kept, never rewritten
    r = invoke("--csv", path, "--strategy", "dual_sma", "--no-publish")
    assert r.exit_code == 0 and f"run {run_id} was already in research.backtest_runs" in r.output
    # --no-record leaves the history alone; recording publishes by default (the run is visible in
    # the read copy)
    r = invoke("--csv", path, "--strategy", "rsi", "--no-record")
    assert r.exit_code == 0 and "recorded" not in r.output
    r = invoke("--csv", path, "--strategy", "macd")
    assert r.exit_code == 0 and "read copy republished" in r.output
    with duckdb.connect(str(warehouse.read_copy_path()), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM research.backtest_runs").fetchone()[0] == 2


def test_entry_on_flag_changes_the_run(tmp_path):
    path = write_csv(tmp_path, session_bars(150))
    a = invoke("--csv", path, "--strategy", "dual_sma", "--no-record")
    b = invoke("--csv", path, "--strategy", "dual_sma", "--entry-on", "cross", "--no-record")
    assert a.exit_code == b.exit_code == 0
    assert a.output.split()[1] != b.output.split()[1]  # a different run id
    assert invoke("--csv", path, "--strategy", "dual_sma", "--entry-on", "x").exit_code == 2


def test_one_bar_csv_says_no_indicator_can_warm_up(tmp_path):
    path = write_csv(tmp_path, session_bars(1))
    r = invoke("--csv", path, "--strategy", "dual_sma", "--no-record")
    assert r.exit_code == 1
    assert "1 bar: no indicator can warm up (dual_sma needs 20 bars)" in r.output
    # too short for one indicator of a blend: named
    r = invoke("--csv", write_csv(tmp_path, session_bars(40), "p40.csv"), "--strategy", "phibot", "--no-record")
    assert r.exit_code == 1 and "40 bars: the blend cannot warm up (phi_mft needs 120 bars" in r.output


@pytest.mark.parametrize(("flag", "value"), [("--size-pct", "-5"), ("--size-pct", "0"), ("--size-cash", "-100")])
def test_size_flags_are_reported_as_typed(tmp_path, flag, value):
    r = invoke("--csv", write_csv(tmp_path, session_bars(60)), "--strategy", "dual_sma", flag, value)
    assert r.exit_code == 1
    assert f"{flag} {float(value):g}: must be > 0" in r.output and "size_value" not in r.output


def test_cache_clear_rejects_an_invalid_symbol_and_clear_all_empties_what_list_shows(tmp_path):
    from primeflow_lib.schema.market import OHLCV_DAILY

    bars = session_bars(5).reset_index().rename(columns={"ts": "trade_date"})
    bars = bars.assign(ticker="SPY", vwap=None, vendor="synthetic")[OHLCV_DAILY.column_names]
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        warehouse.append_rows(con, OHLCV_DAILY, bars)
        warehouse.publish_read_copy(con=con)
    run = CliRunner()
    r = run.invoke(main, ["cache", "clear", "--timeframe", "1d", "--symbol", "../../etc/passwd", "--yes"])
    assert r.exit_code == 1 and "--symbol '../../etc/passwd' is not a valid symbol" in r.output
    assert "deleted" not in r.output
    r = run.invoke(main, ["cache", "list", "--symbol", "../x"])
    assert r.exit_code == 1 and "not a valid symbol" in r.output
    assert "SPY" in run.invoke(main, ["cache", "list"]).output
    # --all asks first; no answer, nothing deleted
    r = run.invoke(main, ["cache", "clear", "--all"], input="n\n")
    assert r.exit_code == 1 and "Aborted" in r.output
    assert "SPY" in run.invoke(main, ["cache", "list"]).output
    r = run.invoke(main, ["cache", "clear", "--all", "--timeframe", "1d", "--yes"])
    assert r.exit_code == 2 and "--all clears everything" in r.output
    r = run.invoke(main, ["cache", "clear", "--all", "--yes"])
    assert r.exit_code == 0 and "1d: 5" in r.output and "(5 in all)" in r.output
    assert run.invoke(main, ["cache", "list"]).output.strip() == "nothing stored matches"
    r = run.invoke(main, ["cache", "clear", "--yes"])
    assert r.exit_code == 2 and "--timeframe" in r.output
