"""Flow scoring and paper trading through Dagster, then the near-live job on inbox batches."""

import json
import os
import pathlib

import dagster as dg
import pandas as pd
import pytest

from primeflow_lib import warehouse
from primeflow_lib.live.inbox import inbox_path, list_batches, write_batch
from primeflow_pipelines.definitions import defs as load_defs
from primeflow_pipelines.defs.flow.assets import flow_scoring, paper_positions
from primeflow_pipelines.defs.flow.prints import option_prints
from primeflow_pipelines.defs.market.assets import (
    ohlcv_daily,
    ohlcv_intraday,
    option_chain,
    universe,
)

ALL = [universe, ohlcv_daily, ohlcv_intraday, option_chain, option_prints, flow_scoring, paper_positions]
START, END = "2024-05-13", "2024-05-24"  # RVOL needs 5 earlier sessions of bars


@pytest.fixture
def flow_market(small_config):
    """A busier market than the default small config, so every strategy has flow to find."""
    small_config.write_text("universe:\n  size: 10\nsynthetic:\n  prints_per_ticker_day: 2000\n")
    return small_config


@pytest.fixture
def flow_warehouse(flow_market, materialize_range):
    res = materialize_range(ALL, START, END)
    assert res.success, [e.step_failure_data.error.message for e in res.get_step_failure_events()]
    return res


@pytest.mark.slow
def test_signals_of_every_kind_with_tags_and_paper_outcomes(flow_warehouse, materialize_range):
    evals = flow_warehouse.get_asset_check_evaluations()
    assert evals and all(e.passed for e in evals)
    with warehouse.connect() as con:
        sig = con.execute("SELECT * FROM flow.signals").df()
        ev = con.execute("SELECT event_type, count(*) AS n FROM flow.flow_events GROUP BY 1").df()
        pos = con.execute("SELECT * FROM live.paper_positions").df()
        hb = con.execute("SELECT * FROM live.heartbeat").df()
    assert set(ev["event_type"]) >= {"sweep", "split", "block", "single", "multileg"}
    assert set(sig["kind"]) == {"SCALP", "DAY_TRADE", "SWING"}
    assert sig["tags"].str.len().gt(0).any()
    # one paper position per signal, with exits a trader understands
    assert set(pos["signal_id"]) == set(sig["signal_id"])
    assert set(pos["exit_reason"].dropna()) <= {"TP", "SL", "TIMEOUT"} and pos["exit_reason"].notna().any()
    assert len(hb) == 10 and (hb["events"] > 0).all()
    md = flow_warehouse.asset_materializations_for_node("flow_scoring")
    sig_md = next(m for m in md if m.asset_key == dg.AssetKey(["flow", "signals"])).metadata
    assert sum(sig_md["signals_by_kind"].value.values()) == len(sig)
    # scoring the same sessions again, split into two runs, gives identical ids and rows (the
    # swing memory a range run keeps in memory equals what single runs read back)
    before = sig.sort_values("signal_id").reset_index(drop=True)
    assert materialize_range([flow_scoring], START, "2024-05-17").success
    assert materialize_range([flow_scoring], "2024-05-20", END).success
    with warehouse.connect() as con:
        after = con.execute("SELECT * FROM flow.signals").df().sort_values("signal_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)


@pytest.fixture
def live_warehouse(small_config, materialize_range):
    """Two sessions of market data and prints, with gates loose enough that a batch alerts."""
    small_config.write_text("universe:\n  size: 8\nsynthetic:\n  prints_per_ticker_day: 1200\n"
                            "scalp: {min_strength: 0.3}\nday_trade: {min_strength: 0.3}\n"
                            "swing: {min_strength: 0.3}\nflow: {rvol_min_sessions: 1}\n")
    res = materialize_range(ALL[:5], "2024-05-23", END)
    assert res.success


@pytest.mark.slow
def test_live_job_scores_a_batch_once_and_alerts_without_duplicates(live_warehouse):
    with warehouse.connect() as con:
        prints = con.execute("SELECT * FROM flow.option_prints WHERE trade_date = ? "
                             "ORDER BY sip_ts", [pd.Timestamp(END).date()]).df()
    path = write_batch(prints, prefix="test")
    instance = dg.DagsterInstance.get()
    job = load_defs().resolve_job_def("live_flow_job")
    ident = list_batches()[0].identity
    res = job.execute_in_process(instance=instance,
                                 run_config={"ops": {"score_inbox_batch": {"config": {"batch": ident}}}})
    assert res.success
    assert not path.exists() and (inbox_path() / "processed" / path.name).exists()
    with warehouse.connect() as con:
        n_sig = con.execute("SELECT count(*) FROM live.signals").fetchall()[0][0]
        outbox = con.execute("SELECT status, count(*) FROM live.alert_outbox WHERE kind <> 'HEARTBEAT' "
                             "GROUP BY 1").fetchall()
    assert n_sig > 0 and outbox == [("sent", n_sig)]
    alerts = [json.loads(x) for x in _alert_lines()]
    signal_alerts = [a for a in alerts if a["kind"] != "HEARTBEAT"]
    assert len(signal_alerts) == n_sig and all(a["synthetic"] for a in signal_alerts)
    assert all(a["text"].startswith("[SYNTHETIC DATA]") for a in signal_alerts)
    # scoring the same batch again (an explicit requeue) enqueues and sends nothing new
    from primeflow_lib.live.inbox import requeue

    again = requeue(path.name)
    res2 = job.execute_in_process(instance=instance, run_config={"ops": {"score_inbox_batch": {
        "config": {"batch": list_batches()[0].identity}}}})
    assert res2.success and not again.exists()
    with warehouse.connect() as con:
        assert con.execute("SELECT count(*) FROM live.alert_outbox WHERE kind <> 'HEARTBEAT'").fetchall()[0][0] == n_sig
    assert len([a for a in _alert_lines() if json.loads(a)["kind"] != "HEARTBEAT"]) == n_sig


def _alert_lines() -> list[str]:
    return pathlib.Path(os.environ["PRIMEFLOW_ALERTS_FILE"]).read_text().splitlines()


def test_bad_batch_file_goes_to_failed_with_the_reason(small_config):
    instance = dg.DagsterInstance.get()
    path = write_batch(pd.DataFrame({"price": [1.0]}), prefix="bad")
    job = load_defs().resolve_job_def("live_flow_job")
    res = job.execute_in_process(instance=instance, raise_on_error=False, run_config={
        "ops": {"score_inbox_batch": {"config": {"batch": list_batches()[0].identity}}}})
    assert not res.success
    err = (inbox_path() / "failed" / (path.name + ".error.txt")).read_text()
    assert "missing columns" in err and path.name in err
