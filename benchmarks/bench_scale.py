"""Benchmark: the same flow backfill (intraday bars, chain, dealer gamma, prints, flow scoring
over ``--sessions`` sessions) through a real ``dagster-daemon``, three ways:

(a) ``embedded_serialized``: the embedded profile (SQLite instance, DuckDB only, writer pool
    limit 1) with the backfill split into runs of ``--sessions-per-run`` sessions, so the pool
    runs them one at a time;
(b) ``scale``: the scale profile (PostgreSQL instance, the lake in a local folder or on a local
    S3-compatible server with ``--lake s3``, queued coordinator with threads) with the same split:
    runs go two at a time;
(c) ``embedded_single_run``: the embedded profile as shipped (one run for the whole range).

Wall time = first run's start to last run's end (as the instance records them; daemon start-up
excluded). Each result carries the content hash of the six fact tables over the sessions; they
must all be equal. Target on the 2-core machine: ``speedup = embedded_serialized / scale >= 1.5``.
The last line printed is one JSON object.

Usage: ``.venv/bin/python benchmarks/bench_scale.py [--sessions 8] [--sessions-per-run 4]
[--universe 20] [--lake local|s3] [--backfill-interval 2] [--skip-single-run]``. Every path's daemon
runs its backfill iterations every ``--backfill-interval`` seconds (``PRIMEFLOW_BACKFILL_INTERVAL_S``,
see ``primeflow_pipelines/daemon.py``); a split backfill launches its scoring runs on an iteration. Needs the scale extra (``make install-scale``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import yaml  # noqa: E402
from machine_info import machine_info  # noqa: E402 - benchmarks/ is on sys.path

from primeflow_lib import calendar  # noqa: E402
from primeflow_lib.scale.local_services import LocalPostgres, LocalS3  # noqa: E402
from primeflow_pipelines.scale_backfill import run_flow_backfill  # noqa: E402


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--sessions-per-run", type=int, default=4)
    ap.add_argument("--universe", type=int, default=20, help="tickers per session (synthetic vendor)")
    ap.add_argument("--end", default="2025-06-11", help="last session of the backfill")
    ap.add_argument("--lake", choices=("local", "s3"), default="local",
                    help="the scale profile's lake: a local folder (one big box) or a local S3-compatible "
                         "server (moto, a Python process: every read and write is an HTTP request to it)")
    ap.add_argument("--backfill-interval", type=float, default=2.0,
                    help="seconds between the backfill daemon's iterations (PRIMEFLOW_BACKFILL_INTERVAL_S, the "
                         "same for every path; 30 = Dagster's fixed default)")
    ap.add_argument("--skip-single-run", action="store_true")
    a = ap.parse_args()
    end = calendar.require_session(a.end)
    days = calendar.sessions_before(end, a.sessions - 1) + [end]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="pf-bench-scale-") as tmp:
        root = Path(tmp)
        cfg = root / "config.yaml"
        cfg.write_text(yaml.safe_dump({"vendors": {"default": "synthetic"},
                                       "universe": {"size": a.universe, "lookback_sessions": 5}}))
        base = {"PRIMEFLOW_CONFIG": str(cfg), "PRIMEFLOW_VENDOR": "synthetic", "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost", "PRIMEFLOW_BACKFILL_INTERVAL_S": str(a.backfill_interval)}
        split = {"PRIMEFLOW_BACKFILL_SESSIONS_PER_RUN": str(a.sessions_per_run)}
        results = {}
        results["embedded_serialized"] = run_flow_backfill("embedded", root / "embedded", days, {**base, **split})
        with LocalPostgres(root / "pg") as pg, LocalS3(root / "s3") as s3:
            env = {**base, **split, **pg.env, "PRIMEFLOW_LAKE_URI": str(root / "lake")}
            if a.lake == "s3":
                s3.create_bucket("pf-lake")
                env.update({**s3.env, "PRIMEFLOW_LAKE_URI": "s3://pf-lake/bench"})
            results["scale"] = run_flow_backfill("scale", root / "scale", days, env)
        if not a.skip_single_run:
            results["embedded_single_run"] = run_flow_backfill("embedded", root / "single", days, base)
    for name, r in results.items():
        print(f"{name:22s} {r['status']:18s} wall {r['wall_s']:7.1f} s  busy {r['busy_s']:7.1f} s  "
              f"CPU {r['cpu_s']:6.1f} s (runs {sum(run['cpu_s'] for run in r['runs']):5.1f} s)  "
              f"runs {len(r['runs'])}  peak overlapping {r['peak_overlapping_runs']}  rows {r['hashes']['all'][0]:,}")
        for cmd, sec in r["cpu_by_process"][:6]:
            print(f"    CPU {sec:5.1f} s  {cmd}")
        t0 = min(run["start"] for run in r["runs"])
        for run in r["runs"]:
            print(f"    {run['range']:24s} {run['status']:8s} +{run['start'] - t0:5.1f} s  "
                  f"{run['end'] - run['start']:6.1f} s  CPU {run['cpu_s']:5.1f} s  "
                  f"{', '.join(run['assets'])}")
            m = run["marks"]
            if "RUN_ENQUEUED" in m and "RUN_START" in m:
                print(f"        queued +{m['RUN_ENQUEUED'] - t0:5.1f} s, launched +{m.get('RUN_STARTING', 0) - t0:5.1f} s, "
                      f"started +{m['RUN_START'] - t0:5.1f} s")
            for st in run["steps"]:
                if "start" in st and "end" in st:
                    print(f"        {st['step']:32s} ready +{st['ready'] - t0:5.1f}  start +{st['start'] - t0:5.1f}  "
                          f"{st['end'] - st['start']:5.1f} s")
    hashes = {name: r["hashes"]["all"][1] for name, r in results.items()}
    ser, sc = results["embedded_serialized"]["wall_s"], results["scale"]["wall_s"]
    out = {
        "benchmark": "scale_backfill",
        "sessions": len(days), "first_session": str(days[0]), "last_session": str(days[-1]),
        "universe": a.universe, "sessions_per_run": a.sessions_per_run, "lake": a.lake,
        "backfill_interval_s": a.backfill_interval,
        "rows": results["scale"]["hashes"]["all"][0],
        "embedded_serialized_s": ser,
        "scale_s": sc,
        "speedup": round(ser / sc, 3) if sc else None,
        # wall minus the gaps where no run executes (the daemon's fixed 30 s backfill loop
        # launches each wave): what running the waves' runs at once buys by itself
        "embedded_serialized_busy_s": results["embedded_serialized"]["busy_s"],
        "scale_busy_s": results["scale"]["busy_s"],
        "busy_speedup": (round(results["embedded_serialized"]["busy_s"] / results["scale"]["busy_s"], 3)
                         if results["scale"]["busy_s"] else None),
        # CPU seconds of each path's daemon process group (daemon, code server, warm worker, runs)
        "cpu_s": {k: r["cpu_s"] for k, r in results.items()},
        "scale_peak_overlapping_runs": results["scale"]["peak_overlapping_runs"],
        "embedded_serialized_peak_overlapping_runs": results["embedded_serialized"]["peak_overlapping_runs"],
        "runs": {k: len(r["runs"]) for k, r in results.items()},
        "embedded_single_run_s": results.get("embedded_single_run", {}).get("wall_s"),
        "content_hash_equal": len(set(hashes.values())) == 1,
        "content_hash": hashes["scale"],
        "all_succeeded": all(r["status"] == "COMPLETED_SUCCESS" for r in results.values()),
        "target_speedup": 1.5,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "date": dt.date.today().isoformat(),
        **machine_info(),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
