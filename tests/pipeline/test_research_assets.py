"""Research assets through Dagster: per-day signals/regimes/blends and launchpad backtests."""

import base64
import re

import pandas as pd
import pytest

from primeflow_lib import calendar, warehouse
from primeflow_pipelines.defs.market.assets import ohlcv_daily, universe
from primeflow_pipelines.defs.research.assets import (
    backtest_runs,
    blends,
    indicator_signals,
    regimes,
)

END = "2024-06-28"


@pytest.fixture
def history(materialize_range):
    """About seven months of universe + daily bars before END (enough for every warm-up)."""
    days = calendar.sessions_before(END, 140) + [calendar.require_session(END)]
    res = materialize_range([universe, ohlcv_daily], days[0].isoformat(), END)
    assert res.success
    return days


@pytest.mark.slow
def test_signals_regimes_and_blends_for_a_range(history, materialize_range):
    res = materialize_range([indicator_signals, regimes, blends], history[-3].isoformat(), END)
    assert res.success
    with warehouse.connect() as con:
        sig = con.execute("SELECT * FROM research.indicator_signals").df()
        reg = con.execute("SELECT * FROM research.regimes").df()
        bl = con.execute("SELECT * FROM research.blends").df()
    days = set(pd.to_datetime(sig["trade_date"]).dt.date)
    assert days == set(history[-3:])
    assert sig["indicator"].nunique() == 15
    # tickers with a full warm-up of stored history have every signal; only tickers that joined
    # the universe recently (short stored history) may still be warming up (NULL)
    with warehouse.connect() as con:
        depth = dict(con.execute(
            "SELECT ticker, count(*) FROM market.ohlcv_daily WHERE trade_date < ? AND trade_date >= ? "
            "GROUP BY 1", [history[-3], calendar.sessions_before(history[-3], 129)[0]]).fetchall())
    full = sig[sig["ticker"].map(depth).fillna(0) >= 129]
    assert len(full) and full["signal"].notna().all()
    assert full["ticker"].nunique() >= 4
    assert sig["signal"].dropna().between(-1, 1).all()
    cols = ["p_trend_up", "p_trend_down", "p_range", "p_breakout", "p_high_vol"]
    warm = reg[reg[cols].notna().all(axis=1)]
    assert warm["ticker"].nunique() >= 4  # warmed-up tickers; the rest are NULL, never partial
    assert (warm[cols].sum(axis=1) - 1).abs().max() < 1e-9
    assert reg[cols].notna().all(axis=1).eq(reg[cols].notna().any(axis=1)).all()
    with warehouse.connect() as con:
        n_tickers = con.execute("SELECT count(DISTINCT ticker) FROM market.universe WHERE trade_date >= ?",
                                [history[-3]]).fetchall()[0][0]
    assert bl["signal"].dropna().between(-1, 1).all() and len(bl) == n_tickers * 3


@pytest.mark.slow
def test_backtest_from_preset_and_from_yaml(history, resources):
    import dagster as dg

    def run(cfg):
        return dg.materialize([backtest_runs], resources=resources, instance=dg.DagsterInstance.ephemeral(),
                              run_config={"ops": {"research__backtest_runs": {"config": cfg}}})

    res = run({"preset": "dual_sma", "symbol": "SPY"})
    assert res.success
    md = res.asset_materializations_for_node("research__backtest_runs")[0].metadata
    run_id = md["run_id"].value
    png = re.search(r"base64,([A-Za-z0-9+/=]+)\)", md["equity_curve"].value).group(1)
    assert base64.b64decode(png).startswith(b"\x89PNG") and len(png) < 200_000
    assert "sharpe" in md["metrics"].value
    # the same config again rewrites the same run rows
    assert run({"preset": "dual_sma", "symbol": "SPY"}).success
    yaml_cfg = "dataset: {symbol: SPY, timeframe: 1d}\nindicators: {rsi: {}}\nentry: {threshold: 0.5}\n"
    assert run({"run_config": yaml_cfg}).success
    with warehouse.connect() as con:
        runs = con.execute("SELECT run_id, count(*) AS n FROM research.backtest_runs GROUP BY 1").df()
        eq = con.execute("SELECT count(*) FROM research.backtest_equity WHERE run_id = ?", [run_id]).fetchall()[0][0]
        spy = con.execute("SELECT count(*) FROM market.ohlcv_daily WHERE ticker = 'SPY'").fetchall()[0][0]
    assert len(runs) == 2 and (runs["n"] == 1).all()
    assert eq == spy >= len(history)  # every stored SPY bar, the warm-up history included


def test_bad_launchpad_config_is_a_clear_failure(resources):
    import dagster as dg

    with pytest.raises(dg.DagsterInvalidConfigError, match="nope"):
        dg.materialize([backtest_runs], resources=resources, instance=dg.DagsterInstance.ephemeral(),
                       run_config={"ops": {"research__backtest_runs": {"config": {"preset": "nope"}}}})
    bad_yaml = {"run_config": "dataset: {symbol: SPY}\nindicators: {rsii: {}}\n"}
    res = dg.materialize([backtest_runs], resources=resources, instance=dg.DagsterInstance.ephemeral(),
                         raise_on_error=False, run_config={"ops": {"research__backtest_runs": {"config": bad_yaml}}})
    assert not res.success
    err = res.get_step_failure_events()[0].step_failure_data.error
    text = err.message + (err.cause.message if err.cause else "")
    assert "rsii" in text


@pytest.mark.slow
@pytest.mark.parametrize("name", ["options_bull_put", "options_iron_condor", "options_long_straddle"])
def test_options_presets_run_through_the_launchpad(name, history, resources):
    import dagster as dg

    res = dg.materialize([backtest_runs], resources=resources, instance=dg.DagsterInstance.ephemeral(),
                         run_config={"ops": {"research__backtest_runs": {"config": {"preset": name, "symbol": "SPY"}}}})
    assert res.success
    md = res.asset_materializations_for_node("research__backtest_runs")[0].metadata
    assert md["iv_source"].value == "realized" and "proxy" in md["iv_note"].value
    png = re.search(r"base64,([A-Za-z0-9+/=]+)\)", md["payoff_at_entry"].value).group(1)
    assert base64.b64decode(png).startswith(b"\x89PNG")
    with warehouse.connect() as con:
        n_legs = con.execute("SELECT count(*) FROM research.backtest_legs WHERE run_id = ?",
                             [md["run_id"].value]).fetchall()[0][0]
        mode = con.execute("SELECT mode FROM research.backtest_runs WHERE run_id = ?",
                           [md["run_id"].value]).fetchall()[0][0]
    assert n_legs == md["legs"].value > 0 and mode == "options"
