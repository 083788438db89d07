"""market/gamma_exposure through a real Dagster materialization on the synthetic vendor."""

import datetime as dt

import pandas as pd
import pytest

from primeflow_lib import warehouse
from primeflow_pipelines.defs.market.assets import option_chain, universe
from primeflow_pipelines.defs.market.gamma import gamma_exposure

START, END = "2024-11-26", "2024-11-27"


def test_gamma_asset_writes_levels_strikes_and_checks(materialize_range):
    res = materialize_range([universe, option_chain, gamma_exposure], START, END)
    assert res.success
    evals = {e.check_name: e for e in res.get_asset_check_evaluations() if e.asset_key.path[-1] == "gamma_exposure"}
    assert set(evals) == {"non_empty", "unique_key", "totals_match_strikes", "flip_inside_grid"}
    assert all(e.passed for e in evals.values())
    with warehouse.connect() as con:
        lv = con.execute("SELECT * FROM market.gamma_exposure ORDER BY trade_date, underlying").df()
        strikes = con.execute("SELECT trade_date, underlying, sum(net_gex) AS s, count(*) AS n "
                              "FROM market.gamma_by_strike GROUP BY ALL").df()
        n_chain = con.execute("SELECT count(*) FROM market.option_chain").fetchone()[0]
        expiry_rows = con.execute("SELECT count(*) FROM market.gamma_by_expiry").fetchone()[0]
    assert set(pd.to_datetime(lv["trade_date"]).dt.date) == {dt.date(2024, 11, 26), dt.date(2024, 11, 27)}
    assert lv.groupby("trade_date").size().eq(6).all()  # the small config's universe
    assert set(lv["convention"]) == {"dealer_long_calls_short_puts"} and set(lv["vendor"]) == {"synthetic"}
    # every chain row is used, expired (0DTE at the snapshot) or quarantined: nothing vanishes
    assert int((lv["contracts_used"] + lv["contracts_expired"] + lv["contracts_quarantined"]).sum()) == n_chain
    assert (lv["contracts_used"] > 0).all() and expiry_rows > 0
    merged = lv.merge(strikes, on=["trade_date", "underlying"])
    assert ((merged["total_gex"] - merged["s"]).abs() <= 1e-6 * merged["total_gex"].abs().clip(lower=1)).all()
    flips = lv.dropna(subset=["zero_gamma"])
    assert ((flips["zero_gamma"] >= flips["grid_low"]) & (flips["zero_gamma"] <= flips["grid_high"])).all()
    md = res.asset_materializations_for_node("market__gamma_exposure")[0].metadata
    assert md["convention"].value == "dealer_long_calls_short_puts"
    assert "data:image/png;base64," in md["gex_by_strike_and_profile"].value
    # a rerun rewrites the sessions instead of adding rows
    assert materialize_range([gamma_exposure], START, END).success
    with warehouse.connect() as con:
        assert con.execute("SELECT count(*) FROM market.gamma_exposure").fetchone()[0] == len(lv)


def test_gamma_levels_mart(materialize_range):
    from primeflow_pipelines.defs.sql_models import SQL_DIR, build_sql_asset

    mart = build_sql_asset(SQL_DIR / "gamma_levels.sql")
    assert materialize_range([universe, option_chain, gamma_exposure], START, START).success
    assert materialize_range([mart], START, START).success
    with warehouse.connect() as con:
        df = con.execute("SELECT * FROM marts.gamma_levels").df()
        lv = con.execute("SELECT * FROM market.gamma_exposure").df()
    assert len(df) == len(lv) == 6
    assert set(df["gex_regime"]) <= {"POSITIVE", "NEGATIVE", "UNKNOWN"}
    row = df.iloc[0]
    assert abs(row["total_gex_musd"]) == df["total_gex_musd"].abs().max()  # largest first
    assert row["gex_regime"] == ("POSITIVE" if row["total_gex_musd"] > 0 else "NEGATIVE")
    assert ((df["share_within_2pct"] >= 0) & (df["share_within_2pct"] <= 1)).all()


@pytest.mark.slow
def test_daily_and_live_paths_get_the_same_gamma_context(small_config, materialize_range):
    """The flow assets and the near-live job read the previous session's levels with the same
    code: a signal scored both ways carries the same gex_* fields."""
    import json

    from primeflow_lib.config import load_config
    from primeflow_lib.live.inbox import write_batch
    from primeflow_lib.live.process import score_batch_file
    from primeflow_pipelines.defs.flow.assets import flow_scoring
    from primeflow_pipelines.defs.flow.prints import option_prints
    from primeflow_pipelines.defs.market.assets import ohlcv_daily, ohlcv_intraday

    small_config.write_text("universe:\n  size: 6\nsynthetic:\n  prints_per_ticker_day: 1200\n"
                            "scalp: {min_strength: 0.3}\nday_trade: {min_strength: 0.3}\n"
                            "swing: {min_strength: 0.3}\nflow: {rvol_min_sessions: 1}\n")
    day = "2024-05-24"
    assets = [universe, ohlcv_daily, ohlcv_intraday, option_chain, option_prints, gamma_exposure, flow_scoring]
    assert materialize_range(assets, "2024-05-23", day).success
    with warehouse.connect() as con:
        prints = con.execute("SELECT * FROM flow.option_prints WHERE trade_date = ? ORDER BY sip_ts",
                             [pd.Timestamp(day).date()]).df()
        ctx = con.execute("SELECT gex_date, gex_regime, gex_total FROM flow.flow_context WHERE trade_date = ?",
                          [pd.Timestamp(day).date()]).df()
    assert set(pd.to_datetime(ctx["gex_date"]).dt.date) == {dt.date(2024, 5, 23)}
    assert set(ctx["gex_regime"]) <= {"POSITIVE", "NEGATIVE"} and ctx["gex_total"].notna().all()
    path = write_batch(prints, prefix="gex")
    score_batch_file(path, warehouse.connect, load_config())
    with warehouse.connect() as con:
        both = con.execute("SELECT d.context_json AS daily, l.context_json AS live FROM flow.signals d "
                           "JOIN live.signals l USING (signal_id)").df()
    assert len(both)
    keys = [k for k in json.loads(both["daily"].iloc[0]) if k.startswith("gex_")]
    assert len(keys) == 10
    for a, b in zip(both["daily"], both["live"], strict=True):
        da, db_ = json.loads(a), json.loads(b)
        assert {k: da[k] for k in keys} == {k: db_[k] for k in keys}
