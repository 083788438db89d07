"""The near-live path: ``flow_inbox_sensor``'s cursor (fast) and the whole path through a real
``dagster-daemon`` subprocess (slow): batch file -> sensor tick -> ``live_flow_job`` run ->
alert POSTed to a local webhook -> batch moved to ``processed/``, and no second run for it.

Everything lives in the per-test folders of ``tests/conftest.py`` (warehouse, inbox, alerts file,
``DAGSTER_HOME``); the daemon gets those variables explicitly and is stopped (its whole process
group: code server and run workers too) when the test ends, whatever happened.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
import pytest
import yaml

from primeflow_lib.live.inbox import list_batches, write_batch
from primeflow_lib.live.stream.receiver import WebhookReceiver
from primeflow_pipelines.daemon import Daemon
from primeflow_pipelines.defs.live.sensor import flow_inbox_sensor

REPO = Path(__file__).resolve().parents[2]
SENSOR = "flow_inbox_sensor"
WEBHOOK_ENV = "PF_TEST_LIVE_WEBHOOK"
#: a fixed session, so the synthetic market (and so the signals) are the same every day
DAY = dt.date(2025, 6, 12)
#: prints of DAY in the dropped batch (its first ones in time order)
BATCH_PRINTS = 300


# ------------------------------------------------------------------------------------------
# fast: the sensor's cursor and run keys


def _batch_frame(rows: int = 1) -> pd.DataFrame:
    # the sensor only lists files; it never opens them
    return pd.DataFrame({"print_id": [f"p{i}" for i in range(rows)]})


def _tick(cursor: str | None):
    return flow_inbox_sensor.evaluate_tick(dg.build_sensor_context(cursor=cursor))


def test_sensor_requests_each_batch_once_by_identity():
    a = write_batch(_batch_frame(), prefix="a")
    b = write_batch(_batch_frame(), prefix="b")
    identities = {bf.path.name: bf.identity for bf in list_batches()}

    first = _tick(None)
    keys = {r.run_key for r in first.run_requests}
    assert keys == set(identities.values())
    for r in first.run_requests:
        assert r.run_config == {"ops": {"score_inbox_batch": {"config": {"batch": r.run_key}}}}
        assert identities[r.tags["primeflow/batch"]] == r.run_key
    assert first.skip_message is None
    assert set(json.loads(first.cursor)["requested"]) == keys

    # the same inbox with the returned cursor: nothing new, a skip reason instead
    again = _tick(first.cursor)
    assert again.run_requests == []
    assert again.skip_message and "no new batch" in again.skip_message
    assert set(json.loads(again.cursor)["requested"]) == keys

    # a replaced file (new content: new size and mtime) is a new batch; the other is not
    old_identity = identities[a.name]
    tmp = a.parent / f".{a.name}.tmp"
    _batch_frame(50).to_parquet(tmp, index=False)
    st = a.stat()
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    os.replace(tmp, a)
    replaced = _tick(again.cursor)
    assert len(replaced.run_requests) == 1
    req = replaced.run_requests[0]
    assert req.tags["primeflow/batch"] == a.name
    assert req.run_key != old_identity
    assert req.run_key == {bf.path.name: bf.identity for bf in list_batches()}[a.name]
    # the cursor forgets identities no longer in the inbox (it does not grow forever)
    assert old_identity not in json.loads(replaced.cursor)["requested"]

    # a batch that left the inbox (scored) drops out of the cursor too
    b.unlink()
    after = _tick(replaced.cursor)
    assert after.run_requests == []
    assert json.loads(after.cursor)["requested"] == [req.run_key]


def test_sensor_ignores_temp_files_and_subfolders():
    inbox = Path(os.environ["PRIMEFLOW_INBOX"])
    (inbox / "processed").mkdir(parents=True)
    _batch_frame().to_parquet(inbox / "processed" / "done-1.parquet")
    _batch_frame().to_parquet(inbox / ".half-written.parquet.tmp")
    data = _tick(None)
    assert data.run_requests == []
    assert data.skip_message


# ------------------------------------------------------------------------------------------
# slow: the real daemon


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def signal_posts(r: WebhookReceiver) -> list[dict[str, Any]]:
    """The bodies of the alerts received (heartbeats aside)."""
    return [p.body for p in r.snapshot() if p.body.get("signal_id")]


def _wait_for(what: str, check: Callable[[], Any], deadline: float, daemon: Daemon) -> Any:
    """Poll ``check`` until it returns something truthy; fail with the daemon's log at
    ``deadline`` (monotonic) or when the daemon died."""
    while True:
        got = check()
        if got:
            return got
        if daemon.proc.poll() is not None:
            pytest.fail(
                f"dagster-daemon exited ({daemon.proc.returncode}) while waiting for "
                f"{what}:\n{daemon.tail()}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} in time; daemon log:\n{daemon.tail()}")
        time.sleep(0.25)


def _sensor_ticks(instance: dg.DagsterInstance) -> list:
    """The sensor's ticks, newest first (instance storage; no public API lists them)."""
    from dagster._core.scheduler.instigation import InstigatorType

    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.name == SENSOR:
            return list(instance.get_ticks(state.instigator_origin_id, state.selector_id))
    return []


def _live_config(tmp_path: Path) -> Path:
    """Small synthetic universe, gates loosened, every signal kind to one webhook channel."""
    cfg = {
        "vendors": {"default": "synthetic"},
        "universe": {"size": 4, "lookback_sessions": 5},
        "synthetic": {"prints_per_ticker_day": 300},
        "flow": {"rvol_min_sessions": 1},
        "scalp": {"min_rvol": 0.0, "min_strength": 0.3, "min_premium": 20000.0},
        "day_trade": {"min_rvol": 0.0, "min_strength": 0.3, "min_premium": 25000.0},
        "swing": {"min_strength": 0.3, "min_premium": 50000.0, "min_repeat_days": 1},
        "alerts": {
            "routing": {"default": "hook", "SCALP": "hook", "SWING": "hook", "DAY_TRADE": "hook"},
            "channels": {"hook": {"type": "webhook", "env": WEBHOOK_ENV}},
        },
    }
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def _build_warehouse(days: list[dt.date]) -> None:
    """Market assets (universe, bars, chain) for ``days`` in one in-process run: the previous
    session's chain is the fed session's open interest."""
    from primeflow_pipelines.defs.market.assets import (
        ohlcv_daily,
        ohlcv_intraday,
        option_chain,
        universe,
    )
    from primeflow_pipelines.defs.resources import PrimeflowConfig, WarehouseResource

    res = dg.materialize(
        [universe, ohlcv_daily, ohlcv_intraday, option_chain],
        resources={"warehouse": WarehouseResource(), "primeflow_config": PrimeflowConfig()},
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": days[0].isoformat(),
            "dagster/asset_partition_range_end": days[-1].isoformat(),
        },
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=True,
    )
    assert res.success


def _batch_prints(cfg: dict) -> pd.DataFrame:
    from primeflow_lib import warehouse
    from primeflow_lib.live.feed import synthetic_session_prints

    with warehouse.connect(read_only=True) as con:
        tickers = [
            r[0]
            for r in con.execute(
                "SELECT ticker FROM market.universe WHERE trade_date = ? ORDER BY ticker", [DAY]
            ).fetchall()
        ]
    prints = synthetic_session_prints(cfg, DAY, tickers)
    prints = prints.sort_values(["sip_ts", "option_symbol", "seq"], kind="stable")
    return prints.head(BATCH_PRINTS).reset_index(drop=True)


def _expected_signals(frame: pd.DataFrame, cfg: dict, tmp_path: Path) -> int:
    """Score the batch on a copy of the warehouse (the real one must stay untouched for the
    daemon's run, which would otherwise find every alert already enqueued)."""
    from primeflow_lib import warehouse
    from primeflow_lib.live.process import score_batch_file

    probe = tmp_path / "probe"
    probe.mkdir()
    shutil.copy(warehouse.warehouse_path(), probe / "copy.duckdb")
    frame.to_parquet(probe / "probe.parquet", index=False)
    out = score_batch_file(
        probe / "probe.parquet", lambda: warehouse.connect(probe / "copy.duckdb"), cfg
    )
    return out.signals


def _initialised_instance() -> dg.DagsterInstance:
    """The instance of ``DAGSTER_HOME`` with every SQLite storage created and migrated: runs,
    schedules and sensor ticks, and the event log's index."""
    instance = dg.DagsterInstance.get()
    instance.get_run_records(limit=1)
    instance.all_instigator_state()
    instance.get_asset_keys()
    return instance


#: the slow test's hard limit (pytest-timeout) and the share its waits may use
TEST_TIMEOUT_S = 180
WAIT_BUDGET_S = 170


@pytest.mark.slow
@pytest.mark.timeout(TEST_TIMEOUT_S)
def test_batch_to_alert_through_the_daemon(tmp_path, monkeypatch, receiver):
    from dagster._core.scheduler.instigation import TickStatus

    from primeflow_lib import calendar
    from primeflow_lib.config import load_config

    t_start = time.monotonic()
    deadline = t_start + WAIT_BUDGET_S
    home = Path(os.environ["DAGSTER_HOME"])
    shutil.copy(REPO / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("PRIMEFLOW_CONFIG", str(_live_config(tmp_path)))
    monkeypatch.setenv("PRIMEFLOW_VENDOR", "synthetic")
    monkeypatch.setenv(WEBHOOK_ENV, receiver.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    cfg = load_config()

    _build_warehouse([calendar.previous_session(DAY), DAY])
    frame = _batch_prints(cfg)
    expected = _expected_signals(frame, cfg, tmp_path)
    assert expected >= 1, "precondition: the fixed batch must produce a signal under this config"

    def sensor_runs():
        return instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/sensor_name": SENSOR}))

    # The race this test used to lose under load: DAGSTER_HOME starts empty, and the daemon and
    # this process both created its SQLite storages (runs, schedules, event log) at the same
    # moment; Dagster retries a concurrent init of the event log only, so the loser of the
    # runs/schedules race failed with "table alembic_version already exists". The storages are
    # created here, completely, before the daemon starts; it then only opens them.
    instance = _initialised_instance()
    # the daemon gets the per-test variables explicitly (os.environ holds the monkeypatched ones)
    daemon = Daemon(dict(os.environ), tmp_path / "daemon.log")
    try:
        batch = write_batch(frame)
        inbox = batch.parent
        print_ids = set(frame["print_id"].astype(str))
        t_written = time.monotonic()

        # the sensor picks the file up once the daemon is up; the run scores it and POSTs
        posts = _wait_for("alert at the webhook", lambda: signal_posts(receiver), deadline, daemon)
        latency = time.monotonic() - t_written
        assert all(set(p["signal"]["print_ids"]) <= print_ids for p in posts)
        assert {p["kind"] for p in posts} <= {"SCALP", "DAY_TRADE", "SWING"}

        def finished_runs():
            recs = sensor_runs()
            return recs if recs and all(r.dagster_run.is_finished for r in recs) else None

        runs = _wait_for("finished run", finished_runs, deadline, daemon)
        assert [r.dagster_run.status for r in runs] == [dg.DagsterRunStatus.SUCCESS]
        run = runs[0]
        assert run.dagster_run.tags["primeflow/batch"] == batch.name
        assert not batch.exists()
        assert (inbox / "processed" / batch.name).exists()
        assert not (inbox / "failed").exists() or not any((inbox / "failed").iterdir())

        # later ticks see an unchanged inbox (the batch while its run was starting, then the
        # empty inbox): none may start a run. The daemon stores a tick as STARTED before it
        # evaluates the sensor and updates it when done, so a tick read mid-evaluation has no
        # outcome yet (under load the evaluation takes long enough that the newest tick was
        # often read in that state): only finished ticks are judged.
        def finished(ticks: list) -> list:
            return [t for t in ticks if t.status != TickStatus.STARTED]

        def ticks_after_run():
            ts = [t for t in finished(_sensor_ticks(instance)) if t.timestamp > run.end_time]
            return ts if len(ts) >= 2 else None

        _wait_for("two finished sensor ticks after the run", ticks_after_run, deadline, daemon)
        every = _sensor_ticks(instance)
        ticks = finished(every)
        requesting = [t for t in ticks if t.run_ids]
        assert [t.run_ids for t in requesting] == [[run.dagster_run.run_id]]
        assert all(t.status == TickStatus.SKIPPED for t in ticks if not t.run_ids), [
            (t.status, t.run_ids) for t in ticks]
        assert len(sensor_runs()) == 1
        # every alert of the batch arrived (at least once: the relay may repeat one after a
        # timeout, never lose one)
        keys = [p["alert_key"] for p in signal_posts(receiver)]
        assert len(set(keys)) == expected <= len(keys)
        print(
            f"batch -> first alert {latency:.1f} s; {len(ticks)} ticks; "
            f"{len(every) - len(ticks)} in progress when read; test {time.monotonic() - t_start:.0f} s"
        )
    finally:
        daemon.stop()
    print(f"daemon stopped by {daemon.stopped_by} in {daemon.stop_s:.1f} s")
    assert not daemon.group_alive(), f"daemon processes left behind: {daemon.members()}"
