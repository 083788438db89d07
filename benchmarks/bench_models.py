"""Benchmark: the model lab's hot paths.

Usage::

    .venv/bin/python benchmarks/bench_models.py [--messages 500000] [--hmm-bars 100000]
                                                [--fit-bars 5000] [--seed 0]

* ``l2_messages_per_s``: :class:`primeflow_lib.flow.l2book.MBOBook` applying ``--messages``
  synthetic MBO records (adds, partial and full cancels, modifies around a moving mid, every
  record an event of its own: ``F_LAST``, so the crossed check runs on each) - the rate a live
  feed can be kept in sync at;
* ``hmm_filter_bars_per_s``: the forward-algorithm filter (:func:`filtered_posteriors`) of a
  4-state Gaussian HMM over ``--hmm-bars`` observations;
* ``fit_seconds``: one :func:`fit_models` (lightgbm + logistic, the three baselines, 5 folds,
  the default 45 features, no gates) on ``--fit-bars`` daily bars.

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import machine_info  # noqa: E402 - benchmarks/ is on sys.path

from primeflow_lib.flow.l2book import F_LAST, MBOBook  # noqa: E402
from primeflow_lib.research.models import ModelConfig, fit_models  # noqa: E402
from primeflow_lib.research.models.hmm import HMMConfig, _fit, filtered_posteriors  # noqa: E402


def mbo_stream(n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    out, live, oid, mid = [], [], 0, 100_000
    for seq in range(1, n + 1):
        r = rng.random()
        if r < 0.47 or len(live) < 50:
            oid += 1
            side = "B" if rng.random() < 0.5 else "A"
            off = int(rng.integers(1, 40))
            price = (mid - off if side == "B" else mid + off) * 10_000_000
            live.append(oid)
            out.append(SimpleNamespace(action="A", side=side, price=price, size=int(rng.integers(1, 500)),
                                       order_id=oid, flags=F_LAST, sequence=seq))
        elif r < 0.93:
            k = int(rng.integers(len(live)))
            o = live.pop(k)
            out.append(SimpleNamespace(action="C", side="N", price=0, size=10**9, order_id=o,
                                       flags=F_LAST, sequence=seq))
        else:
            o = live[int(rng.integers(len(live)))]
            out.append(SimpleNamespace(action="M", side="N", price=-1, size=0, order_id=o, flags=F_LAST,
                                       sequence=seq))
    return out


def fix_modifies(stream: list) -> list:
    """Modifies keep the order's side and price, with a new size (known only while replaying)."""
    book = {}
    for rec in stream:
        if rec.action == "A":
            book[rec.order_id] = (rec.side, rec.price, rec.size)
        elif rec.action == "C":
            s, p, q = book.pop(rec.order_id)
            rec.size = q
        else:
            s, p, q = book[rec.order_id]
            rec.price, rec.size = p, max(1, q // 2)
            book[rec.order_id] = (s, p, rec.size)
    return stream


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=500_000)
    ap.add_argument("--hmm-bars", type=int, default=100_000)
    ap.add_argument("--fit-bars", type=int, default=5_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()

    stream = fix_modifies(mbo_stream(a.messages, a.seed))
    book = MBOBook(contiguous=True, strict=True)
    t0 = time.perf_counter()
    for rec in stream:
        book.apply(rec)
    l2_s = time.perf_counter() - t0
    print(f"L2 book: {a.messages:,} MBO records in {l2_s:.2f} s = {a.messages / l2_s:,.0f} records/s "
          f"({len(book.orders)} resting orders, {len(book.issues)} issues)")

    rng = np.random.default_rng(a.seed)
    vol = np.where((np.arange(a.hmm_bars) // 500) % 2 == 0, 0.5, 2.0)
    X = np.column_stack([rng.normal(0, vol), np.log(vol) + rng.normal(0, 0.3, a.hmm_bars)])
    model = _fit(X[:5000], 4, HMMConfig(n_iter=30))
    t0 = time.perf_counter()
    filtered_posteriors(model, X)
    hmm_s = time.perf_counter() - t0
    print(f"HMM filter: {a.hmm_bars:,} bars, k=4 in {hmm_s:.2f} s = {a.hmm_bars / hmm_s:,.0f} bars/s")

    n = a.fit_bars
    c = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, n)))
    o = np.r_[c[0], c[:-1]]
    bars = pd.DataFrame({"open": o, "high": np.maximum(o, c) * 1.003, "low": np.minimum(o, c) * 0.997,
                         "close": c, "volume": rng.uniform(1e5, 1e6, n)},
                        index=pd.DatetimeIndex(pd.bdate_range("2000-01-03", periods=n), name="ts"))
    fit_models(bars.iloc[:800], ModelConfig(models=("logistic",), gates=False))  # compile numba
    t0 = time.perf_counter()
    study = fit_models(bars, ModelConfig(models=("lightgbm", "logistic"), gates=False))
    fit_s = time.perf_counter() - t0
    print(f"model lab: {n:,} bars, lightgbm + logistic + 3 baselines, {len(study.folds)} folds in {fit_s:.1f} s")
    print(json.dumps({"benchmark": "models", "l2_messages": a.messages, "l2_seconds": round(l2_s, 3),
                      "l2_messages_per_s": round(a.messages / l2_s), "hmm_bars": a.hmm_bars,
                      "hmm_filter_bars_per_s": round(a.hmm_bars / hmm_s), "fit_bars": n,
                      "fit_seconds": round(fit_s, 2), "machine": machine_info()}))


if __name__ == "__main__":
    main()
