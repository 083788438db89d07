"""Benchmark the options backtest: ten years of daily bars, an iron condor opened on every
neutral signal (the signal is random, so a structure opens whenever the previous one is closed
and the signal is inside the band), all four legs repriced at every close.

(a) ``seconds``: one end-to-end :func:`simulate_options` call (expiries, strike selection,
    the compiled loop, the trade and leg frames, the invariant checks), best of ``--repeat``,
    after a first call that compiles / loads the numba cache (``first_call_s``).
    ``legs_repriced_per_s`` = leg valuations of that run (marks + fills) / ``seconds``.
(b) ``sweep_seconds``: ``--sweep`` configurations (DTE x short delta x width x profit take x
    stop) run one after the other on the same bars, end to end as in (a).

Targets: (a) <= 0.5 s, (b) <= 60 s for 1,000 configurations on the 2-core machine.
Usage: ``.venv/bin/python benchmarks/bench_options_backtest.py [--years 10] [--sweep 1000]``.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from machine_info import machine_info  # noqa: E402 - benchmarks/ is on sys.path

from primeflow_lib import calendar  # noqa: E402
from primeflow_lib.research.options import OptionsSpec, simulate_options  # noqa: E402


def _bars(years: int, seed: int = 7) -> pd.DataFrame:
    days = calendar.sessions("2014-01-02", f"{2014 + years - 1}-12-31")
    rng = np.random.default_rng(seed)
    close = 200 * np.exp(np.cumsum(rng.normal(0.0002, 0.011, len(days))))
    open_ = close * np.exp(rng.normal(0, 0.003, len(days)))
    return pd.DataFrame({"open": open_, "close": close}, index=pd.DatetimeIndex(days))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--years", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--sweep", type=int, default=1000)
    a = ap.parse_args()
    bars = _bars(a.years)
    rng = np.random.default_rng(11)
    signal = np.clip(rng.normal(0, 0.6, len(bars)), -1, 1)
    base = {"bullish": None, "bearish": None, "neutral": "iron_condor", "dte": 45,
            "short_delta": 0.2, "width": 10.0, "profit_take": 0.5, "stop": 2.0, "dte_exit": 7}  # fmt: skip
    spec = OptionsSpec.from_dict(base)
    kw = {"capital": 1e6, "threshold": 0.3}
    t0 = time.perf_counter()
    run = simulate_options(bars, signal, spec, **kw)
    first = time.perf_counter() - t0
    best = np.inf
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        run = simulate_options(bars, signal, spec, **kw)
        best = min(best, time.perf_counter() - t0)
    grid = itertools.product((21, 30, 45, 60, 90), (0.1, 0.15, 0.2, 0.25, 0.3),
                             (5.0, 10.0, 15.0, 20.0), (0.25, 0.5, 0.75, 1.0, None),
                             (1.0, 1.5, 2.0, 3.0, None))  # fmt: skip
    configs = [
        OptionsSpec.from_dict(
            {**base, "dte": d, "short_delta": sd, "width": w, "profit_take": pt, "stop": st}
        )  # fmt: skip
        for d, sd, w, pt, st in itertools.islice(grid, a.sweep)
    ]
    t0 = time.perf_counter()
    finals = [simulate_options(bars, signal, c, **kw).equity.iloc[-1] for c in configs]
    sweep = time.perf_counter() - t0
    out = {
        "benchmark": "options_backtest",
        "bars": len(bars),
        "trades": len(run.trades),
        "legs_repriced": run.legs_repriced,
        "first_call_s": round(first, 3),
        "seconds": round(best, 4),
        "legs_repriced_per_s": round(run.legs_repriced / best),
        "sweep_configs": len(configs),
        "sweep_seconds": round(sweep, 2),
        "sweep_configs_per_s": round(len(configs) / sweep, 1),
        "sweep_best_final_equity": round(float(np.max(finals)), 2),
        "target_seconds": 0.5,
        "target_sweep_seconds": 60.0,
        **machine_info(),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
