"""Stored L2 minutes reach the flow context in the daily partitions and the near-live job
(real Dagster runs on the synthetic vendor; the L2 rows are written here)."""

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from primeflow_lib import warehouse
from primeflow_lib.live.inbox import list_batches, write_batch
from primeflow_lib.schema.market import L2_FEATURES
from primeflow_pipelines.definitions import defs as load_defs
from primeflow_pipelines.defs.flow.assets import flow_scoring
from primeflow_pipelines.defs.flow.prints import option_prints
from primeflow_pipelines.defs.market.assets import (
    ohlcv_daily,
    ohlcv_intraday,
    option_chain,
    universe,
)

DAY = "2024-05-24"
SOURCE = "test mbo XNAS.ITCH"


def l2_minutes(tickers) -> pd.DataFrame:
    """One row per ticker and minute of the session: ofi = minutes since 09:30."""
    ts = pd.date_range(f"{DAY} 09:30", f"{DAY} 15:59", freq="1min")
    n = len(ts)
    df = pd.concat([pd.DataFrame({
        "trade_date": pd.Timestamp(DAY).date(), "ts": ts, "ticker": t, "ofi": np.arange(n, dtype=float),
        "book_events": 3, "messages": 3, "bid": 100.0, "ask": 100.01, "bid_size": 1, "ask_size": 1,
        "spread": 0.01, "mid": 100.005, "bid_depth": 3, "ask_depth": 1, "depth_imbalance": 0.5, "depth_levels": 5,
        "synced": True, "book_issues": 0, "schema": "mbo", "dataset": "XNAS.ITCH", "vendor": "test",
        "source": "written by the test"}) for t in tickers], ignore_index=True)
    return df[L2_FEATURES.column_names]


@pytest.mark.slow
def test_l2_minutes_reach_the_daily_and_live_context(small_config, materialize_range):
    small_config.write_text("universe:\n  size: 6\nsynthetic:\n  prints_per_ticker_day: 1200\n"
                            "scalp: {min_strength: 0.3}\nday_trade: {min_strength: 0.3}\n"
                            "swing: {min_strength: 0.3}\nflow: {rvol_min_sessions: 1}\n")
    assert materialize_range([universe, ohlcv_daily, ohlcv_intraday, option_chain, option_prints],
                             "2024-05-23", DAY).success
    with warehouse.connect() as con:
        tickers = [r[0] for r in con.execute("SELECT DISTINCT underlying FROM flow.option_prints").fetchall()]
        con.register("l2", l2_minutes(tickers))
        con.execute("INSERT INTO market.l2_features SELECT * FROM l2")
    assert materialize_range([flow_scoring], DAY, DAY).success
    with warehouse.connect() as con:
        ctx = con.execute("SELECT c.*, e.last_ts AS t FROM flow.flow_context c JOIN flow.flow_events e "
                          "USING (event_id)").df()
    assert len(ctx)
    inside = (ctx["t"] >= pd.Timestamp(f"{DAY} 09:31")) & (ctx["t"] <= pd.Timestamp(f"{DAY} 16:05"))
    assert inside.any() and (ctx.loc[inside, "l2_source"] == SOURCE).all()
    assert (ctx.loc[~inside, "l2_source"] == "none").all() and ctx.loc[~inside, "l2_ofi_1m"].isna().all()
    asof = ctx.loc[inside, "t"].dt.floor("min")  # the last minute closed at or before the event
    asof = asof.where(ctx.loc[inside, "t"] <= pd.Timestamp(f"{DAY} 16:00"), pd.Timestamp(f"{DAY} 16:00"))
    assert (ctx.loc[inside, "l2_asof"] == asof).all()
    want = (asof - pd.Timestamp(f"{DAY} 09:31")).dt.total_seconds() / 60
    assert np.allclose(ctx.loc[inside, "l2_ofi_1m"], want)

    # near-live: a batch of the session's prints through the live job
    with warehouse.connect() as con:
        prints = con.execute("SELECT * FROM flow.option_prints WHERE trade_date = ? ORDER BY sip_ts",
                             [pd.Timestamp(DAY).date()]).df()
    write_batch(prints, prefix="test")
    res = load_defs().resolve_job_def("live_flow_job").execute_in_process(
        instance=dg.DagsterInstance.get(),
        run_config={"ops": {"score_inbox_batch": {"config": {"batch": list_batches()[0].identity}}}})
    assert res.success
    with warehouse.connect() as con:
        live = con.execute("SELECT ts, context_json FROM live.signals").df()
    assert len(live)
    in_l2 = live["ts"].between(pd.Timestamp(f"{DAY} 09:31"), pd.Timestamp(f"{DAY} 16:05"))
    ctxs = [json.loads(c) for c in live.loc[in_l2, "context_json"]]
    assert ctxs and all(c["l2_source"] == SOURCE for c in ctxs)
