"""Benchmark: the workbench tape, filter to table, on a full synthetic day.

Usage::

    .venv/bin/python benchmarks/bench_tape.py                       # >= 60,000 orders
    .venv/bin/python benchmarks/bench_tape.py --prints 150000 --tickers 150 --repeat 7

Builds one options day with ``benchmarks/bench_flow.py``'s seeded generator, scores it with the
real flow engine (:func:`primeflow_lib.flow.engine.score_batch`) into ``flow.flow_events`` and
``flow.flow_context`` of a temporary warehouse, adds the chain snapshots of that session and
the next one (so every order has its opening/closing estimate, ``marts.oi_change`` from
:func:`primeflow_lib.flow.open_interest.oi_change`) and earnings dates for a fifth of the
tickers, and publishes the read copy. Building is not timed.

Timed: :func:`primeflow_lib.workbench.desk_views.tape` exactly as the Tape page calls it (the
read copy opened read-only for each query, as the page does; the page cache is not used), for
several filters: the whole day, a ticker's sweeps at the ask over a premium, 0DTE off with an
OTM band and vol/OI, tags with ETFs off and opening estimates only, and a time sort. For each,
``seconds`` is the median of ``--repeat`` runs (after one untimed run) from the call to the
rows in a DataFrame (at most ``tape.max_rows`` = 5,000 rows) with the count of all matches.
Target: every filter <= 1 s on the 2-core machine. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_flow import DAY, generate  # noqa: E402 - benchmarks/ is on sys.path
from machine_info import machine_info  # noqa: E402

from primeflow_lib import calendar, warehouse  # noqa: E402
from primeflow_lib.config import load_config  # noqa: E402
from primeflow_lib.flow.engine import score_batch  # noqa: E402
from primeflow_lib.flow.open_interest import oi_change  # noqa: E402
from primeflow_lib.schema import table  # noqa: E402
from primeflow_lib.workbench.desk_views import tape  # noqa: E402


def build(folder: Path, prints: int, tickers: int, seed: int) -> tuple[Path, int, list[str]]:
    """Score one day into a warehouse under ``folder``; returns (read copy, orders, tickers)."""
    cfg = load_config()
    data = generate(prints, tickers, seed)
    res = score_batch(data["prints"], data["bars_1m"], data["daily_bars"], data["chain"], cfg, data["history"],
                      source="bench")
    live, read = folder / "bench.duckdb", folder / "bench_read.duckdb"
    day = pd.Timestamp(DAY).date()
    nxt = calendar.next_session(day)
    rng = np.random.default_rng(seed)
    chain = data["chain"]
    snaps = []
    for d, scale in ((day, 1.0), (nxt, None)):
        c = chain.copy()
        c["trade_date"] = pd.Timestamp(d)
        if scale is None:  # the next snapshot: open interest moved by up to +-60 %
            c["open_interest"] = (c["open_interest"] * rng.uniform(0.4, 1.6, len(c))).astype(np.int64)
        snaps.append(c)
    names = sorted(res.events["ticker"].unique())
    earn = pd.DataFrame({"ticker": names[::5], "report_date": day + dt.timedelta(days=5), "time_of_day": "unknown",
                         "fiscal_date_ending": None, "eps_estimate": None, "fetched_at": dt.datetime(2025, 6, 1),
                         "vendor": "bench"})
    with warehouse.connect(live) as con:
        warehouse.ensure_tables(con)
        warehouse.append_rows(con, "flow.flow_events", res.events[table("flow.flow_events").column_names])
        warehouse.append_rows(con, "flow.flow_context", res.context[table("flow.flow_context").column_names])
        for c in snaps:
            warehouse.append_rows(con, "market.option_chain", c[table("market.option_chain").column_names])
        warehouse.append_rows(con, "market.earnings", earn)
        warehouse.append_rows(con, "marts.oi_change", oi_change(con))
        warehouse.publish_read_copy(con=con, dst=read)
    top = res.events.groupby("ticker")["premium"].sum().sort_values(ascending=False).index[:3].tolist()
    return read, len(res.events), top


def filters(top: list[str]) -> dict[str, dict]:
    """The timed tape queries (the Tape page's widgets produce the same ``where`` mappings)."""
    return {
        "whole_day": {"where": {}, "sort": "-premium"},
        "ticker_sweeps_at_ask": {"where": {"ticker": top[:2], "event_type": ["sweep"], "side": ["ask", "above_ask"],
                                           "premium": {"gte": 25_000}}, "sort": "-premium"},
        "no_0dte_otm_band_vol_oi": {"where": {"dte": {"gt": 0}, "otm_pct": {"gte": 0.0, "lte": 0.1},
                                              "vol_oi": {"gte": 0.5}}, "sort": "-size"},
        "tags_no_etf_opening": {"where": {"tags": {"any": ["SWEEP", "BLOCK", "EARNINGS"]}, "is_etf": False,
                                          "open_close": ["opening"]}, "sort": "-premium"},
        "time_sorted": {"where": {"right": "P", "sentiment": ["bearish"]}, "sort": "last_ts"},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prints", type=int, default=110_000)
    ap.add_argument("--tickers", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    cfg = load_config()
    with tempfile.TemporaryDirectory(prefix="pf_bench_tape_") as tmp:
        t0 = time.perf_counter()
        read, n_orders, top = build(Path(tmp), args.prints, args.tickers, args.seed)
        build_s = time.perf_counter() - t0
        print(f"day built: {n_orders:,} orders of {args.tickers} tickers in {build_s:.1f} s (not timed)")
        out = {}
        for name, q in filters(top).items():
            spec = {**q, "limit": int(cfg["tape"]["max_rows"]), "source": "daily"}
            res = tape(spec, cfg, read)  # untimed: the first open of the file
            times = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                res = tape(spec, cfg, read)
                times.append(time.perf_counter() - t)
            out[name] = {"seconds": round(statistics.median(times), 4), "max_seconds": round(max(times), 4),
                         "rows": len(res.rows), "matches": res.total}
            print(f"{name:<26} {out[name]['seconds'] * 1000:7.0f} ms (max {out[name]['max_seconds'] * 1000:.0f}) "
                  f"{res.total:>8,} matches, {len(res.rows):,} rows")
    worst = max(v["seconds"] for v in out.values())
    print(json.dumps({"benchmark": "tape", "orders": n_orders, "tickers": args.tickers, "prints": args.prints,
                      "filters": out, "worst_seconds": worst, "target_seconds": 1.0, "meets_target": worst <= 1.0,
                      "machine": machine_info()}))


if __name__ == "__main__":
    main()
