"""Benchmark: level-2 minute features and their as-of join into the flow context.

Usage::

    .venv/bin/python benchmarks/bench_l2_features.py [--messages 300000] [--tickers 500]
                                                     [--events 500000] [--seed 0]

* ``builder_records_per_s``: :class:`primeflow_lib.market.l2_features.L2MinuteBuilder` turning
  ``--messages`` MBO records (``databento_dbn.MBOMsg``: adds, cancels, modifies around a moving
  mid, each its own event, spread evenly over a 6.5-hour session) into minute rows: the book,
  OFI and depth after every event - the rate one process can keep up with a live feed;
* ``join_events_per_s``: :func:`primeflow_lib.flow.l2_context.l2_context` for ``--events``
  events of ``--tickers`` tickers against a full session of minute rows per ticker (390 x
  tickers rows).

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import databento_dbn as dbn
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_models import fix_modifies, mbo_stream  # noqa: E402 - benchmarks/ is on sys.path
from machine_info import machine_info  # noqa: E402

from primeflow_lib.flow.l2_context import l2_context  # noqa: E402
from primeflow_lib.market.l2_features import L2MinuteBuilder  # noqa: E402

OPEN = int(pd.Timestamp("2024-03-05 09:30", tz="America/New_York").value)
SESSION_NS = 390 * 60_000_000_000
ACTIONS = {"A": dbn.Action.ADD, "C": dbn.Action.CANCEL, "M": dbn.Action.MODIFY}
SIDES = {"B": dbn.Side.BID, "A": dbn.Side.ASK, "N": dbn.Side.NONE}


def records(n: int, seed: int) -> list:
    """The model benchmark's MBO stream as ``databento_dbn`` records with receive times."""
    out = []
    for i, r in enumerate(fix_modifies(mbo_stream(n, seed))):
        t = OPEN + i * (SESSION_NS // n)
        out.append(dbn.MBOMsg(publisher_id=2, instrument_id=1, ts_event=t, ts_recv=t, order_id=r.order_id,
                              price=r.price if r.price > 0 else dbn.UNDEF_PRICE, size=r.size,
                              action=ACTIONS[r.action], side=SIDES[r.side], flags=r.flags, sequence=r.sequence))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--tickers", type=int, default=500)
    ap.add_argument("--events", type=int, default=500_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    recs = records(a.messages, a.seed)
    b = L2MinuteBuilder(ticker="BENCH", contiguous=True)
    t0 = time.perf_counter()
    rows = list(b.feed_many(recs))
    build_s = time.perf_counter() - t0
    print(f"L2 minute builder: {a.messages:,} MBO records -> {len(rows)} minute rows in {build_s:.2f} s = "
          f"{a.messages / build_s:,.0f} records/s ({b.stats['book_issues']} issues)")

    rng = np.random.default_rng(a.seed)
    names = np.array([f"T{i:04d}" for i in range(a.tickers)], dtype=object)
    minutes = pd.date_range("2024-03-05 09:30", periods=390, freq="1min")
    l2 = pd.DataFrame({"trade_date": pd.Timestamp("2024-03-05"), "ts": np.tile(minutes, a.tickers),
                       "ticker": np.repeat(names, 390), "ofi": rng.normal(size=390 * a.tickers),
                       "depth_imbalance": rng.uniform(-1, 1, 390 * a.tickers), "spread": 0.01,
                       "schema": "mbo", "dataset": "XNAS.ITCH", "vendor": "dbn"})
    ev_ts = (np.datetime64("2024-03-05T09:30") + rng.integers(0, 390 * 60_000, a.events).astype("timedelta64[ms]"))
    ev_tk = pd.Series(names[rng.integers(0, a.tickers, a.events)])
    ev_day = np.full(a.events, np.datetime64("2024-03-05", "ns"))
    t0 = time.perf_counter()
    out = l2_context(ev_tk, ev_ts, ev_day, l2, 5)
    join_s = time.perf_counter() - t0
    hit = int((out["l2_source"] != "none").sum())
    print(f"as-of join: {a.events:,} events x {len(l2):,} minute rows in {join_s:.2f} s = "
          f"{a.events / join_s:,.0f} events/s ({hit:,} with a minute)")
    print(json.dumps({"benchmark": "l2_features", "builder_records": a.messages,
                      "builder_seconds": round(build_s, 3), "builder_records_per_s": round(a.messages / build_s),
                      "join_events": a.events, "join_rows": len(l2), "join_seconds": round(join_s, 3),
                      "join_events_per_s": round(a.events / join_s), "machine": machine_info()}))


if __name__ == "__main__":
    main()
