"""Benchmark: dealer gamma exposure (primeflow_lib.flow.gex.compute_gex) over a full chain.

Usage::

    .venv/bin/python benchmarks/bench_gex.py [--underlyings 500] [--rows 1000000]
                                             [--grid-points 60] [--repeat 3] [--seed 0]

The input is one session's ``market.option_chain`` frame: ``--underlyings`` names with spots of
10-600 USD, about ``--rows`` contracts in all (heavy-tailed across names, like a real chain:
SPY-like names carry thousands of contracts), 12 expiries from 1 day to 2 years, strikes within
+-40 % of spot, calls and puts, IV 10-120 % with skew, open interest 0-50,000, and a few rows
with no OI or no IV (quarantined). Compilation happens in an untimed warm-up call. ``seconds`` is
the best of ``--repeat`` runs of the whole ``compute_gex`` (validation, totals, by strike and by
expiry, walls, the profile on a ``--grid-points`` spot grid over +-20 % and the flips, the
quarantine rows); ``contracts_per_s`` = chain rows / seconds. The last line printed is one JSON
object; the target on the project's 2-core machine is ``seconds <= 5`` for 500 names and ~1M rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_info import machine_info  # noqa: E402 - benchmarks/ is on sys.path

from primeflow_lib.flow.gex import compute_gex  # noqa: E402


def make_chain(underlyings: int, rows: int, seed: int) -> pd.DataFrame:
    """A synthetic one-session chain (see the module doc)."""
    rng = np.random.default_rng(seed)
    day = dt.date(2024, 6, 3)
    share = rng.pareto(1.2, underlyings) + 1.0
    per = np.maximum((share / share.sum() * rows).astype(np.int64), 20)
    n = int(per.sum())
    und = np.repeat(np.array([f"U{i:03d}" for i in range(underlyings)], dtype=object), per)
    spot_u = rng.uniform(10.0, 600.0, underlyings)
    spot = np.repeat(spot_u, per)
    days = np.array([1, 3, 8, 15, 22, 29, 45, 75, 105, 180, 365, 730])
    dte = days[rng.integers(0, len(days), n)]
    strike = np.round(spot * rng.uniform(0.6, 1.4, n), 1)
    call = rng.random(n) < 0.5
    x = np.log(strike / spot)
    iv = np.clip(rng.uniform(0.15, 0.8, n) * (1 - 0.6 * x + 1.5 * x * x), 0.1, 1.2)
    oi = rng.integers(0, 50_000, n).astype(float)
    oi[rng.random(n) < 0.001] = np.nan
    iv[rng.random(n) < 0.001] = np.nan
    return pd.DataFrame({
        "trade_date": day,
        "underlying": und,
        "expiry": (np.datetime64(day) + dte.astype("timedelta64[D]")),
        "right": np.where(call, "C", "P"),
        "strike": strike,
        "open_interest": pd.array(oi, dtype="Int64"),
        "iv": iv,
        "underlying_price": spot,
        "vendor": "bench",
    })


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--underlyings", type=int, default=500)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--grid-points", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    import numba

    chain = make_chain(a.underlyings, a.rows, a.seed)
    compute_gex(chain.head(5000), grid_points=a.grid_points)  # compile (serial and parallel kernels)
    compute_gex(chain.iloc[:200_000], grid_points=a.grid_points)
    best, res = float("inf"), None
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        res = compute_gex(chain, grid_points=a.grid_points, rate=0.04)
        best = min(best, time.perf_counter() - t0)
    lv = res.levels
    out = {
        "benchmark": "gex",
        "underlyings": int(len(lv)),
        "rows": int(len(chain)),
        "contracts_used": int(res.stats["contracts_used"]),
        "quarantined": int(res.stats["quarantined"]),
        "grid_points": a.grid_points,
        "profile_evaluations": int(res.stats["contracts_used"]) * a.grid_points,
        "with_flip": int(lv["zero_gamma"].notna().sum()),
        "seconds": round(best, 3),
        "contracts_per_s": round(len(chain) / best),
        "target_seconds": 5.0,
        "machine": machine_info(numpy=np.__version__, numba=numba.__version__,
                                numba_threads=numba.get_num_threads()),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
