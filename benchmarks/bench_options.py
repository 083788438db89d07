"""Benchmark: Black-Scholes price + greeks (and implied vol) throughput of primeflow_lib.pricing.

Usage::

    .venv/bin/python benchmarks/bench_options.py [--size 10000000] [--repeat 5] [--threads N]
                                                 [--iv-size 1000000] [--seed 0]

Inputs are random but realistic (spot 20-500, strike within +-40 % of spot, 1 day to 2 years,
vol 5-150 %, rates 0-6 %, dividend yield 0-4 %, half calls). Compilation happens in a warm-up
call that is not timed. Each figure is the best of ``--repeat`` timed runs; ``seconds`` is the
best wall time of one ``bs_greeks`` call over ``--size`` options (output arrays allocated by the
call, as users call it). The last line printed is one JSON object; the target on the project's
2-core machine is ``options_per_s >= 10_000_000``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine_info import machine_info  # noqa: E402 - benchmarks/ is on sys.path


def _machine() -> dict:
    import numba

    info = machine_info(
        numpy=np.__version__, numba=numba.__version__, numba_threads=numba.get_num_threads()
    )
    with contextlib.suppress(ValueError):  # no parallel kernel has run yet
        info["numba_threading_layer"] = numba.threading_layer()
    return info


def _inputs(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    spot = rng.uniform(20.0, 500.0, n)
    return {
        "spot": spot,
        "strike": spot * rng.uniform(0.6, 1.4, n),
        "years": rng.uniform(1.0 / 365.0, 2.0, n),
        "vol": rng.uniform(0.05, 1.5, n),
        "rate": rng.uniform(0.0, 0.06, n),
        "div_yield": rng.uniform(0.0, 0.04, n),
        "is_call": rng.random(n) < 0.5,
    }


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=10_000_000, help="options per call (default 10M)")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs; the best is reported")
    ap.add_argument("--threads", type=int, default=0, help="numba threads (default: all cores)")
    ap.add_argument(
        "--iv-size", type=int, default=1_000_000, help="options for the IV timing (0 = skip)"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import numba

    if args.threads:
        numba.set_num_threads(args.threads)

    t0 = time.perf_counter()
    from primeflow_lib.pricing import Greeks, bs_greeks, bs_price, implied_vol

    x = _inputs(16, args.seed)
    bs_greeks(**x)
    bs_price(**x)
    implied_vol(
        bs_price(**x), x["spot"], x["strike"], x["years"], x["rate"], x["div_yield"], x["is_call"]
    )
    warmup_s = time.perf_counter() - t0

    machine = _machine()
    print("machine:", json.dumps(machine))
    x = _inputs(args.size, args.seed)
    print(
        f"size={args.size:,} repeat={args.repeat} (import + compile/cache load: {warmup_s:.2f} s)"
    )

    greeks_s = _best(lambda: bs_greeks(**x), args.repeat)
    print(f"bs_greeks (allocating)     {greeks_s:8.4f} s  {args.size / greeks_s / 1e6:8.2f} M/s")
    out = Greeks(*(np.empty(args.size) for _ in range(6)))
    greeks_out_s = _best(lambda: bs_greeks(**x, out=out), args.repeat)
    rate_out = args.size / greeks_out_s / 1e6
    print(f"bs_greeks (out= reused)    {greeks_out_s:8.4f} s  {rate_out:8.2f} M/s")
    price_s = _best(lambda: bs_price(**x), args.repeat)
    print(f"bs_price                   {price_s:8.4f} s  {args.size / price_s / 1e6:8.2f} M/s")

    result = {
        "benchmark": "bs_price_greeks",
        "size": args.size,
        "seconds": round(greeks_s, 6),
        "options_per_s": round(args.size / greeks_s),
        "options_per_s_out_reused": round(args.size / greeks_out_s),
        "price_only_per_s": round(args.size / price_s),
    }
    if args.iv_size:
        m = min(args.iv_size, args.size)
        sl = {k: v[:m] for k, v in x.items()}
        prices = bs_price(**sl)
        iv_args = (prices, sl["spot"], sl["strike"], sl["years"], sl["rate"], sl["div_yield"])
        iv_s = _best(lambda: implied_vol(*iv_args, sl["is_call"]), max(1, args.repeat // 2))
        iv = implied_vol(*iv_args, sl["is_call"])
        # accuracy where the price pins the vol down (time value not lost in rounding)
        informative = bs_greeks(**sl).vega > 1e-4 * sl["spot"]
        max_err = float(np.nanmax(np.abs(iv - sl["vol"])[informative]))
        print(
            f"implied_vol                {iv_s:8.4f} s  {m / iv_s / 1e6:8.2f} M/s "
            f"(solved {np.isfinite(iv).mean():.1%}; max |iv - vol| {max_err:.1e} where vega "
            f"> 1e-4 spot)"
        )
        result["iv_per_s"] = round(m / iv_s)
        result["iv_max_abs_error"] = max_err
    result["target_options_per_s"] = 10_000_000
    result["machine"] = machine
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
