"""Run an asset backfill through a real ``dagster-daemon`` and report its runs: what the scale
profile's test and benchmark (``benchmarks/bench_scale.py``) do to compare the embedded profile
with the scale profile on the same sessions.

The daemon is started from the repository with the environment given (``DAGSTER_HOME`` picks the
profile: the embedded ``dagster_home/dagster.yaml`` or ``deploy/scale/dagster.yaml``), the
backfill is added to the instance as the UI would add it, and the daemon's backfill loop, run
queue and run launcher do the rest.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from primeflow_pipelines.daemon import Daemon

REPO = Path(__file__).resolve().parents[1]

#: the assets of the flow backfill: the lake tables of a session and what scoring needs of it
FLOW_BACKFILL_KEYS = (
    ("market", "ohlcv_intraday"), ("market", "option_chain"), ("market", "gamma_exposure"),
    ("flow", "option_prints"), ("flow", "flow_events"), ("flow", "flow_context"), ("flow", "signals"),
)
#: the tables compared between profiles (the six lake tables)
FLOW_TABLES = ("market.ohlcv_intraday", "market.option_chain", "flow.option_prints", "flow.flow_events",
               "flow.flow_context", "flow.signals")


@dataclass
class BackfillOutcome:
    """What a finished backfill did."""

    backfill_id: str
    status: str
    wall_s: float
    runs: list[dict]
    peak_overlap: int
    busy_s: float
    #: CPU seconds (user + system) of the daemon's process group while the backfill ran: the
    #: daemon, its code server, the warm worker and every run (sampled every 0.5 s, so up to
    #: half a second of a process's last CPU can be missed)
    cpu_s: float = 0.0
    #: the same by process: ``[(command line, CPU seconds)]``, largest first
    cpu_by_process: list | None = None


def add_asset_backfill(instance: dg.DagsterInstance, keys: Sequence[Sequence[str]], days: Sequence[dt.date],
                       tags: dict[str, str] | None = None) -> str:
    """Add an asset backfill of ``keys`` over ``days`` (as the UI's "Materialize" > backfill does)."""
    from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
    from dagster._core.definitions.events import AssetKeyPartitionKey
    from dagster._core.execution.backfill import PartitionBackfill

    from primeflow_pipelines.definitions import defs

    # exactly these partitions of these assets (a selection + partitions backfill would also
    # target the sessions after the range whose scoring reads the range's stored inputs)
    target = AssetGraphSubset.from_asset_partition_set(
        {AssetKeyPartitionKey(dg.AssetKey(list(k)), d.isoformat()) for k in keys for d in days},
        defs().resolve_asset_graph())
    backfill_id = uuid.uuid4().hex[:8]
    backfill = PartitionBackfill.from_asset_graph_subset(
        backfill_id=backfill_id, backfill_timestamp=time.time(), tags=dict(tags or {}),
        dynamic_partitions_store=instance, asset_graph_subset=target, title=None, description=None,
        run_config=None)
    instance.add_backfill(backfill)
    return backfill_id


def peak_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    """The largest number of intervals ``(start, end)`` open at one moment."""
    ev = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    peak = cur = 0
    for _, d in ev:
        cur += d
        peak = max(peak, cur)
    return peak


def busy_seconds(intervals: Sequence[tuple[float, float]]) -> float:
    """Seconds during which at least one interval ``(start, end)`` is open (the union's length):
    the wall time minus the gaps in which no run executes, e.g. while the daemon's backfill loop
    (a fixed 30 s interval in Dagster 1.13) has not yet launched the next wave of runs."""
    total, end = 0.0, float("-inf")
    for s, e in sorted(intervals):
        if e > end:
            total += e - max(s, end)
            end = e
    return total


def run_timeline(instance: dg.DagsterInstance, run_id: str) -> dict:
    """When a run was queued, launched and started, and for each step (in start order): its
    first event (the step is ready), its start (after any wait for a pool slot) and its end, as
    instance timestamps (seconds since the epoch)."""
    run_marks: dict[str, float] = {}
    steps: dict[str, dict[str, float]] = {}
    for rec in instance.all_logs(run_id):
        ev = rec.dagster_event
        if ev is None:
            continue
        kind = ev.event_type.name  # RUN_START etc. (their stored values say PIPELINE_...)
        if kind in ("RUN_ENQUEUED", "RUN_DEQUEUED", "RUN_STARTING", "RUN_START", "RUN_SUCCESS", "RUN_FAILURE"):
            run_marks.setdefault(kind, rec.timestamp)
        if ev.step_key is None:
            continue
        st = steps.setdefault(ev.step_key, {"ready": rec.timestamp})
        if kind == "STEP_START":
            st["start"] = rec.timestamp
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE"):
            st["end"] = rec.timestamp
    ordered = sorted(steps.items(), key=lambda kv: kv[1].get("start", kv[1]["ready"]))
    return {"marks": run_marks, "steps": [{"step": k, **v} for k, v in ordered]}


class _CpuSampler:
    """CPU seconds used by each run's process (``primeflow/run_worker_pid``) and by every
    process of the daemon's group, from samples of their CPU times."""

    def __init__(self, daemon: Daemon) -> None:
        import psutil

        self._psutil = psutil
        self._daemon = daemon
        self.by_pid: dict[int, float] = {}
        self.names: dict[int, str] = {}
        self.by_run: dict[str, float] = {}
        self._start: dict[int, float] = {}
        for pid in daemon.members():  # CPU used before the backfill (start-up) is not counted
            with contextlib.suppress(psutil.Error):
                self._start[pid] = sum(psutil.Process(pid).cpu_times()[:2])

    def _cpu(self, pid: int) -> float | None:
        try:
            proc = self._psutil.Process(pid)
            used = sum(proc.cpu_times()[:2]) - self._start.get(pid, 0.0)
            if pid not in self.names:
                self.names[pid] = " ".join(proc.cmdline()[1:4])[:70]
        except self._psutil.Error:
            return None
        self.by_pid[pid] = max(self.by_pid.get(pid, 0.0), used)
        return self.by_pid[pid]

    def sample(self, recs) -> None:
        for pid in self._daemon.members():
            self._cpu(pid)
        for r in recs:
            pid = r.dagster_run.tags.get("primeflow/run_worker_pid")
            if pid and not r.dagster_run.is_finished:
                used = self._cpu(int(pid))
                if used is not None:
                    self.by_run[r.dagster_run.run_id] = used


def wait_for_backfill(instance: dg.DagsterInstance, backfill_id: str, daemon: Daemon, timeout_s: float) -> BackfillOutcome:
    """Poll until the backfill and all its runs have finished (or fail with the daemon's log)."""
    from dagster._core.execution.backfill import BulkActionStatus

    t0 = time.monotonic()
    done = {BulkActionStatus.COMPLETED, BulkActionStatus.COMPLETED_SUCCESS, BulkActionStatus.COMPLETED_FAILED,
            BulkActionStatus.FAILED, BulkActionStatus.CANCELED}
    cpu = _CpuSampler(daemon)
    while True:
        bf = instance.get_backfill(backfill_id)
        recs = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        cpu.sample(recs)
        if bf.status in done and all(r.dagster_run.is_finished for r in recs):
            break
        if daemon.proc.poll() is not None:
            raise RuntimeError(f"dagster-daemon exited ({daemon.proc.returncode}) during backfill {backfill_id}:\n"
                               f"{daemon.tail()}")
        if time.monotonic() - t0 > timeout_s:
            raise TimeoutError(f"backfill {backfill_id} not finished after {timeout_s:.0f} s "
                               f"(status {bf.status.value}, {len(recs)} runs); daemon log:\n{daemon.tail()}")
        time.sleep(0.5)
    runs = []
    for r in sorted(recs, key=lambda r: r.start_time or 0):
        tags = r.dagster_run.tags
        runs.append({"run_id": r.dagster_run.run_id, "status": r.dagster_run.status.value,
                     "start": r.start_time, "end": r.end_time,
                     "range": f"{tags.get('dagster/asset_partition_range_start', tags.get('dagster/partition'))}.."
                              f"{tags.get('dagster/asset_partition_range_end', '')}",
                     "assets": sorted("/".join(k.path) for k in (r.dagster_run.asset_selection or [])),
                     "cpu_s": round(cpu.by_run.get(r.dagster_run.run_id, 0.0), 2),
                     **run_timeline(instance, r.dagster_run.run_id)})
    intervals = [(r["start"], r["end"]) for r in runs if r["start"] and r["end"]]
    wall = (max(e for _, e in intervals) - min(s for s, _ in intervals)) if intervals else 0.0
    return BackfillOutcome(backfill_id, bf.status.value, wall, runs, peak_overlap(intervals),
                           busy_seconds(intervals), round(sum(cpu.by_pid.values()), 2),
                           sorted(((cpu.names.get(p, str(p)), round(c, 2)) for p, c in cpu.by_pid.items()),
                                  key=lambda x: -x[1]))


def build_prerequisites(days: Sequence[dt.date]) -> None:
    """Universe and daily bars for ``days`` in one in-process run (both profiles start from the
    same small DuckDB tables; the backfill then writes the per-session facts)."""
    from primeflow_pipelines.defs.market.assets import ohlcv_daily, universe
    from primeflow_pipelines.defs.resources import PrimeflowConfig, WarehouseResource

    res = dg.materialize(
        [universe, ohlcv_daily],
        resources={"warehouse": WarehouseResource(), "primeflow_config": PrimeflowConfig()},
        instance=dg.DagsterInstance.ephemeral(),
        tags={"dagster/asset_partition_range_start": days[0].isoformat(),
              "dagster/asset_partition_range_end": days[-1].isoformat()},
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        raise_on_error=True)
    assert res.success


@contextlib.contextmanager
def _environment(env: dict[str, str]):
    """Set ``env`` in this process for the block (the in-process steps read it), then restore."""
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_flow_backfill(profile: str, folder: Path, days: Sequence[dt.date], env: dict[str, str], *,
                      timeout_s: float = 900.0) -> dict:
    """The flow backfill (:data:`FLOW_BACKFILL_KEYS` over ``days``) on a fresh warehouse in
    ``folder`` through a real daemon, with the instance of ``profile`` (``embedded``: the
    repository's ``dagster_home/dagster.yaml``; ``scale``: ``deploy/scale/dagster.yaml``).

    ``env`` adds the profile's settings (PostgreSQL, lake, split backfills, config). Returns the
    wall time from the first run's start to the last run's end, the runs, the peak number of
    runs at once and the content hash of the six fact tables over ``days``."""
    import shutil

    from primeflow_lib import warehouse
    from primeflow_lib.lake import delta
    from primeflow_lib.scale.content import tables_hash

    folder.mkdir(parents=True, exist_ok=True)
    home = folder / "dagster_home"
    home.mkdir(exist_ok=True)
    src = REPO / ("deploy/scale/dagster.yaml" if profile == "scale" else "dagster_home/dagster.yaml")
    shutil.copy(src, home / "dagster.yaml")
    full = {**env, "DAGSTER_HOME": str(home), "PRIMEFLOW_DUCKDB": str(folder / "primeflow.duckdb"),
            "PRIMEFLOW_READ_DUCKDB": str(folder / "primeflow_read.duckdb"),
            "PRIMEFLOW_INBOX": str(folder / "inbox"), "PRIMEFLOW_ALERTS_FILE": str(folder / "alerts.jsonl")}
    with _environment(full):
        delta.forget_tables()
        build_prerequisites(days)
        # the instance's storage is created here, before the daemon starts: both creating a new
        # SQLite instance at once race on its tables ("table alembic_version already exists")
        instance = dg.DagsterInstance.get()
        daemon = Daemon({**os.environ}, folder / "daemon.log")
        try:
            t0 = time.monotonic()
            bid = add_asset_backfill(instance, FLOW_BACKFILL_KEYS, days, tags={"primeflow/bench": profile})
            out = wait_for_backfill(instance, bid, daemon, timeout_s)
            submitted_to_done = time.monotonic() - t0
        finally:
            daemon.stop()
        with warehouse.connect() as con:
            hashes = tables_hash(con, list(FLOW_TABLES), days[0], days[-1])
        delta.forget_tables()
    return {"profile": profile, "status": out.status, "wall_s": round(out.wall_s, 2),
            "submitted_to_done_s": round(submitted_to_done, 2), "runs": out.runs,
            "peak_overlapping_runs": out.peak_overlap, "busy_s": round(out.busy_s, 2), "cpu_s": out.cpu_s,
            "cpu_by_process": out.cpu_by_process, "hashes": hashes, "daemon_log": str(daemon.log)}
