"""Benchmark a PhiAI study: ``--trials`` trials (default 5,000, shared by the indicators) over
``--indicators`` (default rsi,macd,dual_sma) with ``--folds`` walk-forward folds (default 5) on
``--bars`` daily bars (default 2,520), plus the PBO over every trial with S = ``--splits``
(default 16: 12,870 CSCV splits) and PSR/DSR/MinTRL: everything
:func:`primeflow_lib.research.tuning.phiai_full_auto` does. Target: <= 10 s on the 2-core
reference machine.

A small warm-up study runs first (numba loads its cached machine code; TA-Lib, scipy imports),
then the timed study (best of ``--repeat``). ``pbo_seconds`` is the CSCV part of ``seconds``.

Usage: ``.venv/bin/python benchmarks/bench_tune.py [--trials N] [--bars N] [--folds K] ...``
The last line printed is one JSON object (``trials_per_s``, ``seconds``, ``pbo_seconds``,
``peak_rss_mb``, the study's verdict and the machine).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from machine_info import machine_info  # noqa: E402 - benchmarks/ is on sys.path


def random_bars(n: int, seed: int, vol: float = 0.012) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0.0002, vol, n)))
    o = np.r_[c[0], c[:-1]] * np.exp(rng.normal(0, vol / 4, n))
    h = np.maximum(o, c) * (1 + rng.uniform(0, vol, n))
    lo = np.minimum(o, c) * (1 - rng.uniform(0, vol, n))
    idx = pd.DatetimeIndex(pd.bdate_range("2010-01-04", periods=n), name="ts")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 1e6}, index=idx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=5000)
    ap.add_argument("--indicators", default="rsi,macd,dual_sma")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--bars", type=int, default=2520)
    ap.add_argument("--splits", type=int, default=16)
    ap.add_argument("--sampler", default="sobol")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=1)
    a = ap.parse_args()

    import numba

    from primeflow_lib.research import RunConfig
    from primeflow_lib.research.tuning import FoldSpec, TuneConfig, phiai_full_auto

    bars = random_bars(a.bars, a.seed)
    inds = tuple(s.strip() for s in a.indicators.split(",") if s.strip())
    base = RunConfig.from_dict({"dataset": {"symbol": "BENCH"}})
    warm = TuneConfig(indicators=inds, trials=3 * len(inds), folds=FoldSpec(n_folds=a.folds), pbo_splits=4)
    t0 = time.perf_counter()
    phiai_full_auto(bars, warm, base)
    warm_s = time.perf_counter() - t0
    tc = TuneConfig(indicators=inds, trials=a.trials, sampler=a.sampler, seed=a.seed,
                    folds=FoldSpec(n_folds=a.folds), pbo_splits=a.splits)
    best, study = float("inf"), None
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        s = phiai_full_auto(bars, tc, base)
        dt = time.perf_counter() - t0
        if dt < best:
            best, study = dt, s
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(study.trials):,} trials x {a.folds} folds on {a.bars:,} bars in {best:.2f} s "
          f"(PBO {study.pbo_s:.2f} s, {study.pbo.n_combinations:,} splits); verdict: {study.verdict}")
    print(json.dumps({
        "benchmark": "tune", "trials": len(study.trials), "indicators": list(inds), "folds": a.folds,
        "bars": a.bars, "splits": a.splits, "sampler": a.sampler,
        "trials_per_s": round(len(study.trials) / best, 1), "seconds": round(best, 3),
        "pbo_seconds": round(study.pbo_s, 3), "warmup_seconds": round(warm_s, 3),
        "peak_rss_mb": round(peak, 1), "verdict": study.verdict,
        "pbo": round(study.stats["pbo"], 4), "dsr": round(study.stats["dsr"], 4),
        "target_seconds": 10.0, "machine": machine_info(numba_threads=numba.get_num_threads()),
    }))


if __name__ == "__main__":
    main()
