"""Benchmark: near-live latency, batch file written -> its first alert received.

Usage::

    .venv/bin/python benchmarks/bench_live.py                         # 20 batches, 10 s apart
    .venv/bin/python benchmarks/bench_live.py --batches 40 --interval 5 --prints-per-batch 200
    .venv/bin/python benchmarks/bench_live.py --coordinator direct    # DefaultRunCoordinator
    .venv/bin/python benchmarks/bench_live.py --coordinator queued --dequeue-interval 1

Everything runs for real, in a temporary folder that is removed at the end (``--keep`` keeps it):

1. its own ``DAGSTER_HOME`` (a copy of ``dagster_home/dagster.yaml``; ``--coordinator`` /
   ``--dequeue-interval`` change only that copy), warehouse, read copy, inbox, alerts file and a
   ``PRIMEFLOW_CONFIG`` with a small synthetic universe, loosened strategy gates and every
   signal kind routed to a ``webhook`` channel whose URL (``PF_BENCH_WEBHOOK``) is a receiver
   started here on 127.0.0.1;
2. a small warehouse built through Dagster in this process: market assets for every session,
   option prints and flow scoring for the sessions before the fed one (chain / open interest,
   swing memory);
3. ``dagster-daemon run`` and ``dagster-webserver`` as subprocesses (cwd = the repository,
   ``-w workspace.yaml``); the benchmark waits for the daemon's heartbeats and a first tick of
   ``flow_inbox_sensor``;
4. one warm-up batch (the first run after start: ``first_run_s``), then ``--batches`` batch
   files written with :func:`primeflow_lib.live.inbox.write_batch` every ``--interval`` seconds
   plus a random 0..``--jitter`` s (so drops sample every phase of the daemon's 5-second sensor
   loop). Each batch is the next ``--prints-per-batch`` prints of the session's synthetic tape
   from ``--start`` (what ``primeflow feed --source synthetic`` writes).

A webhook POST carries the signal's ``print_ids``; every print belongs to exactly one batch, so
each alert is attributed to its batch exactly. Latency = first alert of the batch received -
batch file renamed into the inbox (same process, monotonic clock). A batch whose run succeeded
without any alert counts in ``no_alert``; failed runs and batches still unresolved at the end
count in ``failed`` / ``timed_out``; none of them is silently dropped. The run records give a
breakdown per batch: ``created`` (the sensor tick requested the run), ``launched`` (the run
coordinator handed it to the launcher), ``started`` (the run worker is up: Python started and
the code location loaded) and ``ended``. ``--run-buffer`` sets
``concurrency.pools.op_granularity_run_buffer`` in the temporary ``dagster.yaml``.

The last line printed is one JSON object with ``p50_s``, ``p95_s``, ``n`` and the rest (see
``summarize``). Target on the 2-core reference machine: p50 <= 6 s, p95 <= 10 s.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from machine_info import machine_info  # noqa: E402 - benchmarks/ is on sys.path

# the webhook: answers in one write with Nagle off (a server writing its headers and body apart
# adds ~40 ms of delayed ACK to every request) and records each POST's receipt time and body
from primeflow_lib.live.stream.receiver import WebhookReceiver  # noqa: E402

SENSOR_NAME = "flow_inbox_sensor"
WEBHOOK_ENV = "PF_BENCH_WEBHOOK"
DEFAULT_DATE = "2025-06-12"
TARGET_P50_S = 6.0
TARGET_P95_S = 10.0
#: variables never passed to the subprocesses (the bench uses the synthetic vendor only)
SECRET_VARS = ("POLYGON_MASSIVE_KEY", "POLYGON_API_KEY", "MASSIVE_API_KEY", "ALPHAVANTAGE_API_KEY")


TERMINAL = ("SUCCESS", "FAILURE", "CANCELED")


class BenchError(RuntimeError):
    """A setup step failed or took too long; the message says which and where the logs are."""


# --------------------------------------------------------------------------------------------
# environment, config, dagster.yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_config(universe_size: int, prints_per_ticker_day: int) -> dict[str, Any]:
    """A PrimeFlow config (keys as in ``primeflow_lib/default_config.yaml``): a small synthetic
    universe, gates loosened so that most batches of ~100 prints make at least one signal, and
    every signal kind routed to one webhook channel."""
    return {
        "vendors": {"default": "synthetic"},
        "universe": {"size": universe_size, "lookback_sessions": 5},
        "synthetic": {"prints_per_ticker_day": prints_per_ticker_day},
        # RVOL needs previous sessions' 1-minute bars; the bench builds only a few sessions
        "flow": {"rvol_min_sessions": 1},
        # loosened gates: on the default tape 20 of 21 batches of 100 prints make an alert
        "scalp": {"min_rvol": 0.0, "min_strength": 0.2, "min_premium": 10000.0},
        "day_trade": {
            "min_rvol": 0.0,
            "min_strength": 0.2,
            "min_premium": 20000.0,
            "min_cluster_sweeps": 1,
        },
        "swing": {"min_strength": 0.2, "min_premium": 20000.0, "min_repeat_days": 1},
        "alerts": {
            "routing": {"default": "hook", "SCALP": "hook", "SWING": "hook", "DAY_TRADE": "hook"},
            "channels": {"hook": {"type": "webhook", "env": WEBHOOK_ENV}},
            "heartbeat_channel": "console",
        },
    }


def instance_yaml(
    coordinator: str,
    dequeue_interval: int | None = None,
    run_buffer: int | None = None,
    launcher: str = "repo",
) -> dict[str, Any]:
    """``dagster_home/dagster.yaml`` with the run coordinator and launcher swapped as asked.

    * ``launcher``: ``repo`` keeps the file's ``run_launcher`` (PrimeFlow's ``WarmRunLauncher``);
      ``default`` removes it, so Dagster's ``DefaultRunLauncher`` spawns a fresh run worker
      through the code server for every run;

    * ``direct``: ``DefaultRunCoordinator``: the sensor daemon launches each run at once (no
      queue, no run limit); pool ``duckdb_write`` is still enforced, by the op inside the run;
    * ``queued``: ``QueuedRunCoordinator``, optionally with ``dequeue_interval_seconds``;
    * ``run_buffer`` (queued): ``concurrency.pools.op_granularity_run_buffer``: how many runs may
      be launched while their first op still waits for a pool slot. With 0 (Dagster's default) a
      run is not even dequeued while the previous one holds ``duckdb_write``, so run-worker
      start-up never overlaps the previous run;
    * ``repo``: the file unchanged.
    """
    cfg = yaml.safe_load((REPO / "dagster_home" / "dagster.yaml").read_text()) or {}
    if coordinator == "direct":
        cfg["run_coordinator"] = {
            "module": "dagster._core.run_coordinator",
            "class": "DefaultRunCoordinator",
        }
        # run-level limits only exist in the queue; pools (op concurrency) still apply
        cfg.get("concurrency", {}).pop("runs", None)
    elif coordinator == "queued":
        rc = cfg.setdefault(
            "run_coordinator",
            {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"},
        )
        if rc.get("class") != "QueuedRunCoordinator":
            rc.update({"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"})
            rc.pop("config", None)
        if dequeue_interval is not None:
            rc.setdefault("config", {})["dequeue_interval_seconds"] = int(dequeue_interval)
        if run_buffer is not None:
            pools = cfg.setdefault("concurrency", {}).setdefault("pools", {})
            pools["op_granularity_run_buffer"] = int(run_buffer)
    elif coordinator != "repo":
        raise ValueError(f"unknown coordinator {coordinator!r}")
    if launcher == "default":
        cfg.pop("run_launcher", None)
    elif launcher != "repo":
        raise ValueError(f"unknown launcher {launcher!r}")
    return cfg


@dataclass
class Paths:
    root: Path
    home: Path = field(init=False)
    warehouse: Path = field(init=False)
    read_copy: Path = field(init=False)
    inbox: Path = field(init=False)
    alerts_file: Path = field(init=False)
    config: Path = field(init=False)
    logs: Path = field(init=False)

    def __post_init__(self) -> None:
        self.home = self.root / "dagster_home"
        self.warehouse = self.root / "var" / "primeflow.duckdb"
        self.read_copy = self.root / "var" / "primeflow_read.duckdb"
        self.inbox = self.root / "var" / "inbox"
        self.alerts_file = self.root / "var" / "alerts.jsonl"
        self.config = self.root / "config.yaml"
        self.logs = self.root / "logs"
        for p in (self.home, self.warehouse.parent, self.inbox, self.logs):
            p.mkdir(parents=True, exist_ok=True)


LIVE_ONLY_LOCATION = '''"""Experiment written by benchmarks/bench_live.py --location live-only: a code location with
only the near-live job, its sensor and the resources, so a run worker imports less."""

import dagster as dg

from primeflow_pipelines.defs.live.job import live_flow_job
from primeflow_pipelines.defs.live.sensor import flow_inbox_sensor
from primeflow_pipelines.defs.resources import PrimeflowConfig, WarehouseResource

defs = dg.Definitions(
    jobs=[live_flow_job],
    sensors=[flow_inbox_sensor],
    resources={"warehouse": WarehouseResource(), "primeflow_config": PrimeflowConfig()},
    executor=dg.in_process_executor,
)
'''


def workspace_file(location: str, paths: Paths) -> str:
    """``workspace.yaml`` of the repository, or (``live-only``) a workspace in the temporary
    folder whose one code location holds just the live job (what a lighter run worker would
    save; the read-copy sensor is not in it)."""
    if location == "repo":
        return "workspace.yaml"
    mod = paths.root / "live_location.py"
    mod.write_text(LIVE_ONLY_LOCATION)
    ws = paths.root / "workspace.yaml"
    ws.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {
                        "python_file": {
                            "relative_path": mod.name,
                            "location_name": "primeflow_live",
                            "working_directory": str(REPO),
                        }
                    }
                ]
            }
        )
    )
    return str(ws)


def bench_env(paths: Paths, webhook_url: str) -> dict[str, str]:
    """The variables every process of the benchmark gets (this one and the subprocesses)."""
    return {
        "DAGSTER_HOME": str(paths.home),
        "PRIMEFLOW_DUCKDB": str(paths.warehouse),
        "PRIMEFLOW_READ_DUCKDB": str(paths.read_copy),
        "PRIMEFLOW_INBOX": str(paths.inbox),
        "PRIMEFLOW_ALERTS_FILE": str(paths.alerts_file),
        "PRIMEFLOW_CONFIG": str(paths.config),
        "PRIMEFLOW_VENDOR": "synthetic",
        WEBHOOK_ENV: webhook_url,
        # the receiver is local: never send it through a proxy
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


def subprocess_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    env.update(extra)
    return env


# --------------------------------------------------------------------------------------------
# warehouse


def quiet_run_config() -> dict[str, Any]:
    return {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def build_warehouse(days: list[dt.date], echo) -> None:
    """Market assets for every session in ``days``; option prints and flow scoring for every
    session but the last (the fed one), through in-process Dagster runs on the bench instance."""
    import dagster as dg

    from primeflow_lib import warehouse
    from primeflow_pipelines.defs.flow.assets import flow_scoring
    from primeflow_pipelines.defs.flow.prints import option_prints
    from primeflow_pipelines.defs.market.assets import (
        ohlcv_daily,
        ohlcv_intraday,
        option_chain,
        universe,
    )
    from primeflow_pipelines.defs.resources import PrimeflowConfig, WarehouseResource

    resources = {"warehouse": WarehouseResource(), "primeflow_config": PrimeflowConfig()}
    market = [universe, ohlcv_daily, ohlcv_intraday, option_chain]
    # an in-process run leaves SIGTERM with SIGINT's handler: ignored when this script runs as a
    # shell's background job, and the processes it starts afterwards would inherit that
    term = signal.getsignal(signal.SIGTERM)
    with dg.DagsterInstance.get() as instance:
        for assets, lo, hi in (
            (market + [option_prints, flow_scoring], days[0], days[-2]),
            (market, days[-1], days[-1]),
        ):
            t0 = time.monotonic()
            res = dg.materialize(
                assets,
                resources=resources,
                instance=instance,
                raise_on_error=False,
                run_config=quiet_run_config(),
                tags={
                    "dagster/asset_partition_range_start": lo.isoformat(),
                    "dagster/asset_partition_range_end": hi.isoformat(),
                    "primeflow/bench": "live",
                },
            )
            if not res.success:
                raise BenchError(f"building the warehouse failed (run {res.run_id}, {lo} .. {hi})")
            echo(f"  {len(assets)} assets {lo} .. {hi}: {time.monotonic() - t0:.1f} s")
    signal.signal(signal.SIGTERM, term)
    warehouse.publish_read_copy()


def session_tape(cfg: dict, day: dt.date, start: dt.time) -> Any:
    """The fed session's synthetic prints on its stored universe from ``start`` (market time),
    in time order."""
    from primeflow_lib import warehouse
    from primeflow_lib.live.feed import synthetic_session_prints

    with warehouse.connect(read_only=True) as con:
        tickers = [
            r[0]
            for r in con.execute(
                "SELECT ticker FROM market.universe WHERE trade_date = ? ORDER BY ticker", [day]
            ).fetchall()
        ]
    if not tickers:
        raise BenchError(f"no universe stored for {day}")
    prints = synthetic_session_prints(cfg, day, tickers)
    prints = prints[prints["sip_ts"] >= dt.datetime.combine(day, start)]
    return prints.sort_values(["sip_ts", "option_symbol", "seq"], kind="stable").reset_index(
        drop=True
    )


# --------------------------------------------------------------------------------------------
# dagster processes


class Proc:
    """A subprocess in its own process group, logging to a file; ``stop`` ends the group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name, self.log = name, log
        self._fh = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.p = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM to the group (the daemon, its code server and run workers), then SIGKILL to
        what is left after ``timeout``; returns the exit code."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.p.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.p.wait(timeout=timeout)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # children of the group may outlive the leader
            try:
                os.killpg(self.p.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.p.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.p.wait(timeout=5)
        self._fh.close()
        return self.p.returncode

    def tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def venv_bin(name: str) -> str:
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    found = shutil.which(name)
    if not found:
        raise BenchError(f"{name} not found beside {sys.executable} nor on PATH")
    return found


def wait_until(what: str, check, deadline: float, *, every: float = 0.5, procs: list[Proc] = ()):
    """Poll ``check()`` until it returns something truthy; BenchError at ``deadline`` or when a
    watched process died."""
    while True:
        got = check()
        if got:
            return got
        for p in procs:
            if not p.alive():
                raise BenchError(
                    f"{p.name} exited with {p.p.returncode} while waiting for {what}; "
                    f"last lines of {p.log}:\n{p.tail()}"
                )
        if time.monotonic() >= deadline:
            raise BenchError(f"timed out waiting for {what}")
        time.sleep(every)


def sensor_ticks(instance, name: str = SENSOR_NAME) -> list:
    """Ticks of the sensor called ``name`` (newest first); empty before its first evaluation."""
    from dagster._core.scheduler.instigation import InstigatorType

    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.name == name:
            return list(instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=5))
    return []


def daemon_up(instance, since: float, coordinator_queued: bool) -> bool:
    beats = instance.get_daemon_heartbeats()
    needed = ["SENSOR"] + (["QUEUED_RUN_COORDINATOR"] if coordinator_queued else [])
    return all(t in beats and beats[t].timestamp >= since for t in needed)


def webserver_up(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


# --------------------------------------------------------------------------------------------
# measuring


@dataclass
class Batch:
    index: int
    name: str
    prints: int
    print_ids: frozenset[str]
    written_mono: float = math.nan
    written_wall: float = math.nan
    alerts: int = 0
    first_alert_mono: float | None = None
    run_status: str | None = None
    run_created: float | None = None
    run_launched: float | None = None
    run_started: float | None = None
    run_ended: float | None = None

    @property
    def latency(self) -> float | None:
        return None if self.first_alert_mono is None else self.first_alert_mono - self.written_mono

    def resolved(self, grace_s: float) -> bool:
        """The run ended, and either an alert came or ``grace_s`` passed since the end (the
        relay runs inside the job, so no alert of this batch can come later)."""
        if self.run_status in ("FAILURE", "CANCELED"):
            return True
        if self.run_status != "SUCCESS" or self.run_ended is None:
            return False
        return self.first_alert_mono is not None or time.time() >= self.run_ended + grace_s

    def row(self) -> dict[str, Any]:
        def rel(t):
            return None if t is None else round(t - self.written_wall, 3)

        return {
            "batch": self.name,
            "prints": self.prints,
            "alerts": self.alerts,
            "latency_s": None if self.latency is None else round(self.latency, 3),
            "run": self.run_status,
            "run_created_s": rel(self.run_created),
            "run_launched_s": rel(self.run_launched),
            "run_started_s": rel(self.run_started),
            "run_ended_s": rel(self.run_ended),
        }


class Tracker:
    """Attributes webhook POSTs and run records to batches."""

    def __init__(self, receiver: WebhookReceiver, instance) -> None:
        self.receiver, self.instance = receiver, instance
        self.by_print: dict[str, Batch] = {}
        self.batches: list[Batch] = []
        self.seen = 0
        self.unattributed = 0
        self._last_runs_poll = -math.inf

    def add(self, b: Batch) -> None:
        self.batches.append(b)
        for pid in b.print_ids:
            self.by_print[pid] = b

    def poll(self) -> None:
        posts = self.receiver.snapshot()
        for rec in posts[self.seen :]:
            sig = rec.body.get("signal") or {}
            ids = sig.get("print_ids") or []
            batch = next((self.by_print[i] for i in ids if i in self.by_print), None)
            if batch is None:
                self.unattributed += 1
                continue
            batch.alerts += 1
            if batch.first_alert_mono is None or rec.received_mono < batch.first_alert_mono:
                batch.first_alert_mono = rec.received_mono
        self.seen = len(posts)
        self._poll_runs()

    def _poll_runs(self) -> None:
        """One query for the sensor's runs, at most once a second (the bench shares the CPU
        with what it measures); run times come from the run records."""
        import dagster as dg

        now = time.monotonic()
        if now - self._last_runs_poll < 1.0:
            return
        self._last_runs_poll = now
        pending = {
            b.name: b
            for b in self.batches
            if b.run_status not in TERMINAL and not math.isnan(b.written_wall)
        }
        if not pending:
            return
        recs = self.instance.get_run_records(
            filters=dg.RunsFilter(tags={"dagster/sensor_name": SENSOR_NAME})
        )
        for r in recs:
            b = pending.get(r.dagster_run.tags.get("primeflow/batch", ""))
            if b is None:
                continue
            b.run_status = r.dagster_run.status.value
            b.run_created = r.create_timestamp.timestamp()
            b.run_started = r.start_time
            b.run_ended = r.end_time
            if b.run_status in TERMINAL:
                # RUN_STARTING: the coordinator handed the run to the launcher (dequeued)
                starting = self.instance.all_logs(
                    r.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_STARTING
                )
                b.run_launched = starting[0].timestamp if starting else None


def write(batch: Batch, frame) -> None:
    from primeflow_lib.live.inbox import write_batch

    prefix = batch.name
    path = write_batch(frame, prefix=prefix)
    batch.written_mono, batch.written_wall = time.monotonic(), time.time()
    batch.name = path.name


def percentile(xs: list[float], q: float) -> float | None:
    """Linear-interpolated percentile (numpy's default), None for no values."""
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return round(s[lo] + (s[hi] - s[lo]) * (k - lo), 3)


def summarize(measured: list[Batch], warm: Batch, args, extra: dict[str, Any]) -> dict[str, Any]:
    lat = [b.latency for b in measured if b.latency is not None]
    ended = [b.run_ended - b.written_wall for b in measured if b.run_ended]
    created = [b.run_created - b.written_wall for b in measured if b.run_created]
    launched = [b.run_launched - b.written_wall for b in measured if b.run_launched]
    started = [b.run_started - b.written_wall for b in measured if b.run_started]
    p50, p95 = percentile(lat, 50), percentile(lat, 95)
    return {
        "bench": "live",
        "coordinator": args.coordinator,
        "launcher": args.launcher,
        "dequeue_interval_s": args.dequeue_interval,
        "run_buffer": args.run_buffer,
        "webserver": not args.no_webserver,
        "location": args.location,
        "batches": len(measured),
        "prints_per_batch": args.prints_per_batch,
        "interval_s": args.interval,
        "jitter_s": args.jitter,
        "date": args.date,
        "start": args.start,
        "n": len(lat),
        "p50_s": p50,
        "p95_s": p95,
        "min_s": round(min(lat), 3) if lat else None,
        "max_s": round(max(lat), 3) if lat else None,
        "mean_s": round(sum(lat) / len(lat), 3) if lat else None,
        # the first run after the daemon started: file -> run ended, and -> its first alert
        "first_run_s": round(warm.run_ended - warm.written_wall, 3) if warm.run_ended else None,
        "first_run_alert_s": None if warm.latency is None else round(warm.latency, 3),
        "no_alert": sum(1 for b in measured if b.latency is None and b.run_status == "SUCCESS"),
        "failed": sum(1 for b in measured if b.run_status in ("FAILURE", "CANCELED")),
        "timed_out": sum(1 for b in measured if b.latency is None and b.run_status not in TERMINAL),
        "alerts": sum(b.alerts for b in measured),
        # where the time goes (file written -> ...): the sensor tick created the run, the
        # coordinator launched it, the run worker started (code loaded), the run ended
        "p50_run_created_s": percentile(created, 50),
        "p50_run_launched_s": percentile(launched, 50),
        "p50_run_started_s": percentile(started, 50),
        "p50_run_ended_s": percentile(ended, 50),
        "p95_run_ended_s": percentile(ended, 95),
        "target_met": bool(
            p50 is not None and p95 is not None and p50 <= TARGET_P50_S and p95 <= TARGET_P95_S
        ),
        **extra,
        "per_batch": [b.row() for b in measured],
    }


# --------------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import dagster
    import duckdb

    return machine_info(dagster=dagster.__version__, duckdb=duckdb.__version__)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--batches", type=int, default=20, help="measured batch files (default 20)")
    ap.add_argument(
        "--prints-per-batch", type=int, default=100, help="prints per batch (default 100)"
    )
    ap.add_argument(
        "--interval", type=float, default=10.0, help="seconds between drops (default 10)"
    )
    ap.add_argument(
        "--jitter",
        type=float,
        default=5.0,
        help="random extra delay per drop, 0..JITTER s (default 5: the sensor loop period)",
    )
    ap.add_argument("--seed", type=int, default=7, help="seed of the jitter (default 7)")
    ap.add_argument(
        "--coordinator",
        choices=["queued", "direct", "repo"],
        default="queued",
        help="queued: QueuedRunCoordinator as in dagster_home/dagster.yaml (default); "
        "direct: DefaultRunCoordinator (the sensor launches the run itself); "
        "repo: dagster_home/dagster.yaml unchanged",
    )
    ap.add_argument(
        "--dequeue-interval",
        type=int,
        default=None,
        help="queued: run_coordinator.config.dequeue_interval_seconds (Dagster default 5)",
    )
    ap.add_argument(
        "--run-buffer",
        type=int,
        default=None,
        help="queued: concurrency.pools.op_granularity_run_buffer (Dagster default 0)",
    )
    ap.add_argument(
        "--launcher",
        choices=["repo", "default"],
        default="repo",
        help="repo: the run_launcher of dagster_home/dagster.yaml, PrimeFlow's WarmRunLauncher "
        "(default); default: Dagster's DefaultRunLauncher (a fresh process per run)",
    )
    ap.add_argument(
        "--location",
        choices=["repo", "live-only"],
        default="repo",
        help="repo: workspace.yaml (default); live-only: a temporary code location holding only "
        "live_flow_job and its sensor (measures what a lighter run worker saves)",
    )
    ap.add_argument("--universe", type=int, default=6, help="universe size (default 6)")
    ap.add_argument(
        "--sessions",
        type=int,
        default=3,
        help="sessions built, the fed one included (default 3, at least 2)",
    )
    ap.add_argument(
        "--date", default=DEFAULT_DATE, help=f"the fed session (default {DEFAULT_DATE})"
    )
    ap.add_argument(
        "--start",
        default="10:00",
        help="market time of the first batch, HH:MM (default 10:00: the 15-minute trend and the "
        "opening range exist by then)",
    )
    ap.add_argument("--no-webserver", action="store_true", help="do not start dagster-webserver")
    ap.add_argument(
        "--startup-timeout",
        type=float,
        default=240.0,
        help="seconds for the daemon (and webserver) to come up (default 240)",
    )
    ap.add_argument(
        "--batch-timeout",
        type=float,
        default=120.0,
        help="seconds a batch may take before it counts as timed out (default 120)",
    )
    ap.add_argument(
        "--timeout", type=float, default=1200.0, help="overall limit in seconds (default 1200)"
    )
    ap.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (logs, warehouse)"
    )
    args = ap.parse_args(argv)
    if (
        args.batches < 1
        or args.prints_per_batch < 1
        or args.interval < 0
        or args.jitter < 0
        or args.sessions < 2
    ):
        ap.error("--batches and --prints-per-batch must be >= 1, --interval >= 0, --sessions >= 2")
    return args


def _terminate_on_signal(signum, frame):  # noqa: ARG001
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - one linear script
    args = parse_args(argv)
    t_start = time.monotonic()
    deadline = t_start + args.timeout

    def echo(msg: str) -> None:
        print(f"[{time.monotonic() - t_start:7.1f}s] {msg}", flush=True)

    signal.signal(signal.SIGTERM, _terminate_on_signal)
    # the project's assets use beta parameters (backfill_policy); one warning each is noise here
    warnings.filterwarnings("ignore", message=r".*currently in beta.*")
    print("machine:", json.dumps(machine()), flush=True)
    root = Path(tempfile.mkdtemp(prefix="pf-bench-live-"))
    paths = Paths(root)
    receiver = WebhookReceiver().start()
    procs: list[Proc] = []
    ok = False
    try:
        env = bench_env(paths, receiver.url)
        os.environ.update(env)
        for k in SECRET_VARS:
            os.environ.pop(k, None)
        queued = args.coordinator == "queued" or (
            args.coordinator == "repo"
            and "QueuedRunCoordinator" in (REPO / "dagster_home" / "dagster.yaml").read_text()
        )
        inst_cfg = instance_yaml(
            args.coordinator, args.dequeue_interval, args.run_buffer, args.launcher
        )
        (paths.home / "dagster.yaml").write_text(yaml.safe_dump(inst_cfg, sort_keys=False))
        echo(f"temp folder {root}")
        shown = {k: inst_cfg.get(k) for k in ("run_coordinator", "run_launcher", "concurrency")}
        echo(f"instance: {json.dumps(shown)}")

        from primeflow_lib import calendar
        from primeflow_lib.config import load_config

        day = calendar.require_session(args.date)
        try:
            start = dt.time.fromisoformat(args.start)
        except ValueError:
            raise BenchError(f"--start {args.start!r} is not HH:MM") from None
        days = calendar.sessions_before(day, args.sessions - 1) + [day]
        need = (args.batches + 1) * args.prints_per_batch
        # prints are heavy-tailed across tickers and the tape starts at --start: ask for plenty
        per_ticker = max(400, math.ceil(need * 2.5 / args.universe))
        paths.config.write_text(
            yaml.safe_dump(bench_config(args.universe, per_ticker), sort_keys=False)
        )
        cfg = load_config()

        echo(
            f"building the warehouse: {len(days)} sessions {days[0]} .. {day}, "
            f"universe {args.universe}, ~{per_ticker} prints per ticker and session"
        )
        build_warehouse(days, echo)
        tape = session_tape(cfg, day, start)
        if len(tape) < need:
            raise BenchError(
                f"the synthetic tape of {day} has {len(tape):,} prints, fewer than "
                f"{need:,} = (batches + 1) x prints-per-batch; ask for fewer"
            )
        frames = [
            tape.iloc[i * args.prints_per_batch : (i + 1) * args.prints_per_batch]
            for i in range(args.batches + 1)
        ]
        batches = [
            Batch(i, f"bench-{i:03d}", len(f), frozenset(f["print_id"].astype(str)))
            for i, f in enumerate(frames)
        ]
        echo(
            f"{len(tape):,} prints of {day} -> {len(batches)} batches of {args.prints_per_batch} "
            f"(1 warm-up + {args.batches})"
        )

        import dagster as dg

        instance = dg.DagsterInstance.get()
        penv = subprocess_env(env)
        workspace = workspace_file(args.location, paths)
        since = time.time()
        procs.append(
            Proc(
                "dagster-daemon",
                [venv_bin("dagster-daemon"), "run", "-w", workspace],
                penv,
                paths.logs / "daemon.log",
            )
        )
        port = None
        if not args.no_webserver:
            port = free_port()
            procs.append(
                Proc(
                    "dagster-webserver",
                    [
                        venv_bin("dagster-webserver"),
                        "-h",
                        "127.0.0.1",
                        "-p",
                        str(port),
                        "-w",
                        workspace,
                    ],
                    penv,
                    paths.logs / "webserver.log",
                )
            )
        up_by = min(deadline, time.monotonic() + args.startup_timeout)
        wait_until(
            "the daemon's heartbeats",
            lambda: daemon_up(instance, since, queued),
            up_by,
            procs=procs,
        )
        echo("daemon up")
        wait_until(
            f"a first tick of {SENSOR_NAME}", lambda: sensor_ticks(instance), up_by, procs=procs
        )
        echo(f"{SENSOR_NAME} is ticking")
        if port is not None:
            wait_until("the webserver", lambda: webserver_up(port), up_by, procs=procs)
            echo(f"webserver on http://127.0.0.1:{port}")
        daemon_ready_s = round(time.monotonic() - t_start, 1)

        tracker = Tracker(receiver, instance)
        for b in batches:
            tracker.add(b)
        grace = 3.0

        def settle(bs: list[Batch], by: float, what: str) -> None:
            def done():
                tracker.poll()
                return all(b.resolved(grace) for b in bs)

            try:
                wait_until(what, done, by, every=0.2, procs=procs[:1])
            except BenchError as exc:
                if not procs[0].alive():
                    raise
                echo(f"warning: {exc}")

        warm, measured = batches[0], batches[1:]
        write(warm, frames[0])
        echo(f"warm-up batch {warm.name} written")
        settle(
            [warm], min(deadline, time.monotonic() + args.batch_timeout + 60), "the warm-up batch"
        )
        echo(f"warm-up: {warm.row()}")

        # a random offset per drop, so drops do not stay in phase with the sensor loop (5 s)
        rng = random.Random(args.seed)
        t0 = time.monotonic()
        for i, b in enumerate(measured):
            wake = t0 + i * args.interval + rng.uniform(0, args.jitter)
            while time.monotonic() < wake:
                tracker.poll()
                if time.monotonic() >= deadline:
                    raise BenchError("overall --timeout reached while dropping batches")
                time.sleep(min(0.2, max(0.0, wake - time.monotonic())))
            write(b, frames[b.index])
            if not procs[0].alive():
                raise BenchError(
                    f"dagster-daemon exited with {procs[0].p.returncode}:\n{procs[0].tail()}"
                )
        echo(f"{len(measured)} batches written; waiting for their alerts and runs")
        settle(
            measured, min(deadline, time.monotonic() + args.batch_timeout), "the measured batches"
        )
        tracker.poll()
        for b in measured:
            echo(f"  {json.dumps(b.row())}")
        result = summarize(
            measured,
            warm,
            args,
            {
                "unattributed_posts": tracker.unattributed,
                "daemon_ready_s": daemon_ready_s,
                "total_s": round(time.monotonic() - t_start, 1),
                "load_avg_end": [round(x, 2) for x in os.getloadavg()],
            },
        )
        ok = True
    except KeyboardInterrupt as exc:
        echo(f"interrupted ({exc}); stopping")
        raise
    except BenchError as exc:
        echo(f"FAILED: {exc}")
        for p in procs:
            echo(f"--- last lines of {p.log} ---\n{p.tail(40)}")
        result = None
    finally:
        for p in reversed(procs):
            code = p.stop()
            echo(f"{p.name} stopped (exit {code})")
        receiver.stop()
        if args.keep or not ok:
            echo(f"kept {root}" if args.keep else f"logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    if result is None:
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
