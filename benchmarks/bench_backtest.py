"""Benchmark the backtest engine and the SMA parameter sweep.

(a) kernel: one run over ``--bars`` bars (default 1,000,000) with stop-loss, take-profit and a
    trailing stop, long and short, commission; the signal (a dual-SMA crossover) is prepared
    beforehand. Best of ``--repeat`` runs into reused output buffers; the same run with fresh
    buffers (the ``simulate`` path) is reported as ``kernel_alloc_bars_per_s``.
(b) sweep: every fast < slow SMA pair in ``--min-period..--max-period`` (default 5..100: 4,560
    pairs) on ``--sweep-bars`` daily bars (default 2,520), end to end: SMAs, signals, backtests
    and Sharpe ratios (:func:`primeflow_lib.research.sweep.sma_sweep`).

Compile time is measured in a child process with an empty numba cache (``compile_s`` for the
kernel, ``sweep_compile_s`` for the parallel sweep); ``first_call_s`` is this process's first
call, which loads the cached machine code (``cache=True``).

Usage: ``.venv/bin/python benchmarks/bench_backtest.py [--bars N] [--sweep-bars N] ...``
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from machine_info import machine_info  # noqa: E402 - benchmarks/ is on sys.path

COMPILE_PROBE = """
import time, numpy as np
t0 = time.perf_counter()
from primeflow_lib.research.engine import EngineParams, backtest_kernel_into
x = np.linspace(100.0, 101.0, 64)
s = np.sign(np.sin(np.arange(64.0)))
t1 = time.perf_counter()
backtest_kernel_into(x, x + 1, x - 1, x, s, np.empty(64), np.empty(64), np.empty((65, 7)),
                     *EngineParams(stop_loss=0.01).kernel_args())
t2 = time.perf_counter()
import pandas as pd
from primeflow_lib.research.sweep import sma_sweep
bars = pd.DataFrame({"open": x, "high": x + 1, "low": x - 1, "close": x})
t3 = time.perf_counter()
sma_sweep(bars, 2, 5)
t4 = time.perf_counter()
print(t2 - t1, t4 - t3)
"""


def machine() -> dict:
    import numba

    return machine_info(
        numba_threads=numba.get_num_threads(), numpy=np.__version__, numba=numba.__version__
    )


def random_bars(n: int, seed: int, vol: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    o = np.r_[c[0], c[:-1]] * np.exp(rng.normal(0, vol / 2, n))
    h = np.maximum(o, c) * (1 + rng.uniform(0, vol, n))
    lo = np.minimum(o, c) * (1 - rng.uniform(0, vol, n))
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": 1e6})


def cold_compile_seconds() -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(ROOT))
        out = subprocess.run(
            [sys.executable, "-c", COMPILE_PROBE], env=env, capture_output=True, text=True,
            check=True,
        )  # fmt: skip
    kernel, sweep = out.stdout.split()
    return float(kernel), float(sweep)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bars", type=int, default=1_000_000, help="bars of the kernel run")
    ap.add_argument("--sweep-bars", type=int, default=2520, help="daily bars of the sweep")
    ap.add_argument("--min-period", type=int, default=5)
    ap.add_argument("--max-period", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=7, help="timed repetitions (best is reported)")
    ap.add_argument("--threads", type=int, default=0, help="numba threads (0 = all cores)")
    ap.add_argument("--skip-compile", action="store_true", help="do not measure cold compile")
    args = ap.parse_args()

    import numba

    if args.threads:
        numba.set_num_threads(args.threads)
    from primeflow_lib.research.engine import EngineParams, backtest_kernel, backtest_kernel_into
    from primeflow_lib.research.sweep import sma_sweep

    info = machine()
    print("machine:", json.dumps(info))
    compile_s, sweep_compile_s = (None, None) if args.skip_compile else cold_compile_seconds()

    # (a) kernel
    bars = random_bars(args.bars, 0, 0.001)
    c = bars["close"].to_numpy()
    cs = np.r_[0.0, np.cumsum(c)]
    fast, slow = 20, 50
    sig = np.full(args.bars, np.nan)
    sma_f = (cs[slow:] - cs[slow - fast : -fast]) / fast
    sma_s = (cs[slow:] - cs[:-slow]) / slow
    sig[slow - 1 :] = np.sign(sma_f - sma_s)
    arrays = [np.ascontiguousarray(bars[k].to_numpy()) for k in ("open", "high", "low", "close")]
    p = EngineParams(stop_loss=0.01, take_profit=0.02, trailing_stop=0.005, allow_short=True,
                     commission_pct=0.0005)  # fmt: skip
    kargs = p.kernel_args()
    n = args.bars
    eq, pos, tr = np.empty(n), np.empty(n), np.empty((n + 1, 7))
    t0 = time.perf_counter()
    n_trades = backtest_kernel_into(*arrays, sig, eq, pos, tr, *kargs)
    first_call_s = time.perf_counter() - t0
    best = best_alloc = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        backtest_kernel_into(*arrays, sig, eq, pos, tr, *kargs)
        best = min(best, time.perf_counter() - t0)
        t0 = time.perf_counter()
        backtest_kernel(*arrays, sig, *kargs)
        best_alloc = min(best_alloc, time.perf_counter() - t0)
    print(f"kernel: {n:,} bars, {n_trades:,} trades, best {best * 1e3:.2f} ms "
          f"({n / best / 1e6:.1f}M bars/s; fresh buffers {n / best_alloc / 1e6:.1f}M)")  # fmt: skip

    # (b) sweep, end to end
    daily = random_bars(args.sweep_bars, 1, 0.012)
    daily.index = pd.DatetimeIndex(pd.bdate_range("2015-01-01", periods=args.sweep_bars), name="ts")
    grid = sma_sweep(daily, args.min_period, args.max_period)  # loads/compiles the kernel
    sweep_best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        grid = sma_sweep(daily, args.min_period, args.max_period)
        sweep_best = min(sweep_best, time.perf_counter() - t0)
    pairs = len(grid)
    top = grid.sort_values("sharpe").iloc[-1]
    print(f"sweep: {pairs:,} pairs x {args.sweep_bars:,} bars, best {sweep_best * 1e3:.1f} ms "
          f"({pairs / sweep_best:,.0f} backtests/s on {numba.get_num_threads()} threads); "
          f"best pair {int(top.fast)}/{int(top.slow)} sharpe {top.sharpe:.2f}")  # fmt: skip

    result = {
        "kernel_bars_per_s": round(n / best),
        "kernel_alloc_bars_per_s": round(n / best_alloc),
        "sweep_backtests_per_s": round(pairs / sweep_best),
        "compile_s": None if compile_s is None else round(compile_s, 2),
        "sweep_compile_s": None if sweep_compile_s is None else round(sweep_compile_s, 2),
        "first_call_s": round(first_call_s, 3),
        "bars": n,
        "kernel_trades": int(n_trades),
        "sweep_pairs": pairs,
        "sweep_bars": args.sweep_bars,
        "threads": numba.get_num_threads(),
        "load_avg_1m": info.get("load_avg", [None])[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
