"""Benchmark: flow classification + context + all three strategies on a full options day.

Usage::

    .venv/bin/python benchmarks/bench_flow.py                 # 10,000,000 prints
    .venv/bin/python benchmarks/bench_flow.py --prints 1000000 --tickers 200

The input is made by a fast seeded generator in this script (no warehouse, no network): a
heavy-tailed universe of underlyings with 21 sessions of 1-minute bars (20 for RVOL history plus
the scored day), 60 sessions of daily bars, a previous-session option chain, previous sessions'
flow events for SwingAccumulation, and one day of option prints with U-shaped intraday timing,
realistic NBBO, multi-exchange sweeps, splits, blocks and crosses, multi-leg prints, cancels,
late prints, compression prints and prints without quotes.

Only :func:`primeflow_lib.flow.engine.score_batch` is timed (validation, classification,
context, strategies). The last line printed is one JSON object with ``prints_per_s``,
``seconds`` and ``peak_rss_mb``. Target on the 2-core reference machine: 10M prints <= 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine_info import machine_info  # noqa: E402 - benchmarks/ is on sys.path

from primeflow_lib.arrays import hex_strings  # noqa: E402
from primeflow_lib.config import load_config  # noqa: E402
from primeflow_lib.flow.classify import hex64  # noqa: E402
from primeflow_lib.flow.engine import score_batch  # noqa: E402

NS_MIN = 60_000_000_000
DAY = np.datetime64("2025-06-13")
EXCHANGES = np.array(
    [300, 301, 302, 303, 304, 307, 308, 309, 312, 313, 315, 316, 319, 320, 322, 323, 325]
)
DTES = np.array([0, 2, 7, 14, 28, 45, 63, 91])


def _sessions(n: int, end: np.datetime64) -> np.ndarray:
    days = np.arange(end - np.timedelta64(n * 2, "D"), end + np.timedelta64(1, "D"))
    wd = (days.astype("datetime64[D]").view("int64") - 4) % 7  # 0 = Monday
    return days[wd < 5][-n:]


def generate(n_prints: int, n_tickers: int, seed: int = 7) -> dict[str, pd.DataFrame]:
    """Seeded synthetic inputs for :func:`score_batch` (see module doc)."""
    rng = np.random.default_rng(seed)
    tickers = np.array(["SPY"] + [f"T{i:03d}" for i in range(1, n_tickers)], dtype=object)
    spot0 = np.exp(rng.uniform(np.log(15), np.log(700), n_tickers))
    spot0[0] = 600.0
    share_vol = np.exp(rng.normal(15, 1, n_tickers))
    weight = 1.0 / np.arange(1, n_tickers + 1) ** 0.9
    weight /= weight.sum()
    drift = rng.normal(0, 0.0015, n_tickers)  # some names trend for days

    # --- 1m bars: 21 sessions x 390 minutes
    sess = _sessions(21, DAY)
    ns_, nm = len(sess), 390
    shape = (n_tickers, ns_, nm)
    r = rng.normal(0, 0.0009, shape) + drift[:, None, None] / nm
    logp = np.log(spot0)[:, None, None] + np.cumsum(r.reshape(n_tickers, -1), axis=1).reshape(shape)
    close = np.exp(logp)
    open_ = np.concatenate([close[:, :, :1], close[:, :, :-1]], axis=2)
    hi = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0004, shape)))
    lo = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0004, shape)))
    u = np.linspace(-1, 1, nm)
    ushape = 0.6 + 1.6 * u**2
    vol = (share_vol[:, None, None] / nm) * ushape[None, None, :] * rng.lognormal(0, 0.4, shape)
    ts = (
        sess.astype("datetime64[ns]")[:, None]
        + np.timedelta64(570, "m")
        + np.arange(nm).astype("timedelta64[m]")[None, :]
    )
    bars = pd.DataFrame(
        {
            "trade_date": np.broadcast_to(
                sess.astype("datetime64[ns]")[None, :, None], shape
            ).ravel(),
            "ts": np.broadcast_to(ts[None], shape).ravel(),
            "ticker": np.repeat(tickers, ns_ * nm),
            "open": open_.ravel(),
            "high": hi.ravel(),
            "low": lo.ravel(),
            "close": close.ravel(),
            "volume": vol.ravel(),
            "vwap": ((hi + lo + close) / 3).ravel(),
            "vendor": "bench",
        }
    )
    # --- daily bars: 40 earlier sessions synthesised + the 21 above aggregated
    dsess = _sessions(61, DAY)
    early = dsess[:-21]
    er = rng.normal(0, 0.012, (n_tickers, len(early))) + drift[:, None]
    ec = spot0[:, None] * np.exp(np.cumsum(er[:, ::-1], axis=1)[:, ::-1] * -1)
    daily = pd.concat(
        [
            pd.DataFrame(
                {
                    "trade_date": np.tile(early.astype("datetime64[ns]"), n_tickers),
                    "ticker": np.repeat(tickers, len(early)),
                    "open": ec.ravel(),
                    "high": ec.ravel() * 1.01,
                    "low": ec.ravel() * 0.99,
                    "close": ec.ravel(),
                    "volume": np.repeat(share_vol, len(early)),
                    "vwap": ec.ravel(),
                    "vendor": "bench",
                }
            ),
            pd.DataFrame(
                {
                    "trade_date": np.tile(sess.astype("datetime64[ns]"), n_tickers),
                    "ticker": np.repeat(tickers, ns_),
                    "open": open_[:, :, 0].ravel(),
                    "high": hi.max(axis=2).ravel(),
                    "low": lo.min(axis=2).ravel(),
                    "close": close[:, :, -1].ravel(),
                    "volume": vol.sum(axis=2).ravel(),
                    "vwap": close.mean(axis=2).ravel(),
                    "vendor": "bench",
                }
            ),
        ],
        ignore_index=True,
    )
    # --- chain: per ticker 8 expiries x 17 strikes x C/P, snapshot of the previous session
    moneyness = np.linspace(0.8, 1.2, 17)
    t_idx = np.repeat(np.arange(n_tickers), len(DTES) * len(moneyness) * 2)
    dte = np.tile(np.repeat(DTES, len(moneyness) * 2), n_tickers)
    mny = np.tile(np.repeat(moneyness, 2), n_tickers * len(DTES))
    right = np.tile(np.array(["C", "P"], dtype=object), n_tickers * len(DTES) * len(moneyness))
    strike = np.round(spot0[t_idx] * mny, 0).clip(1)
    expiry = DAY + dte.astype("timedelta64[D]")
    yymmdd = pd.Series(expiry).dt.strftime("%y%m%d").to_numpy(dtype=object)
    sym = (
        tickers[t_idx]
        + yymmdd
        + right
        + pd.Series((strike * 1000).astype(np.int64)).map("{:08d}".format).to_numpy(dtype=object)
    )
    nC = len(sym)
    iv = rng.uniform(0.15, 0.6, nC)
    oi = rng.integers(0, 20000, nC)
    cs = pd.DataFrame({"sym": sym}).drop_duplicates().index.to_numpy()
    chain = (
        pd.DataFrame(
            {
                "trade_date": np.datetime64(sess[-2], "ns"),
                "underlying": tickers[t_idx],
                "option_symbol": sym,
                "expiry": expiry,
                "right": right,
                "strike": strike,
                "bid": np.nan,
                "ask": np.nan,
                "last": np.nan,
                "volume": np.nan,
                "open_interest": oi,
                "iv": iv,
                "delta": np.nan,
                "gamma": np.nan,
                "theta": np.nan,
                "vega": np.nan,
                "underlying_price": spot0[t_idx],
                "vendor": "bench",
            }
        )
        .iloc[cs]
        .reset_index(drop=True)
    )
    t_idx, dte, right, strike, sym, iv = (a[cs] for a in (t_idx, dte, right, strike, sym, iv))
    nC = len(sym)

    # --- orders -> prints
    # draw order kinds and legs for more orders than needed, keep exactly n_prints prints
    kind = rng.choice(7, n_prints, p=[0.775, 0.10, 0.05, 0.01, 0.05, 0.005, 0.01])
    # 0 single 1 sweep 2 split 3 block/cross 4 multileg 5 cancel pair 6 late
    legs = np.where(
        kind == 1, rng.integers(2, 7, n_prints), np.where((kind == 2) | (kind == 5), 2, 1)
    )
    cut = int(np.searchsorted(np.cumsum(legs), n_prints)) + 1
    kind, legs = kind[:cut], legs[:cut].copy()
    legs[-1] -= int(legs.sum()) - n_prints
    if legs[-1] < 2 and kind[-1] in (1, 2, 5):
        kind[-1] = 0
    n_orders = len(kind)
    o_tk = rng.choice(n_tickers, n_orders, p=weight)
    per_tk = np.bincount(t_idx, minlength=n_tickers)
    first_c = np.concatenate([[0], np.cumsum(per_tk)[:-1]])
    # near-the-money and short-dated contracts trade more
    o_c = first_c[o_tk] + np.minimum(
        (np.abs(rng.normal(0, 0.22, n_orders)) * per_tk[o_tk]).astype(np.int64), per_tk[o_tk] - 1
    )
    minute = np.clip((rng.beta(0.6, 0.6, n_orders) * 390), 0, 389.999)
    o_t = (
        DAY.astype("datetime64[ns]").view("int64")
        + 570 * NS_MIN
        + (minute * NS_MIN).astype(np.int64)
    )
    o_spot = close[o_tk, -1, minute.astype(int)]
    K = strike[o_c]
    is_call = right[o_c] == "C"
    intr = np.where(is_call, o_spot - K, K - o_spot).clip(0)
    tv = o_spot * iv[o_c] * np.sqrt((dte[o_c] + 1) / 365) * 0.4
    mid = np.round(intr + tv, 2).clip(0.05)
    half = np.round((mid * 0.03).clip(0.01, 0.5), 2)
    o_bid, o_ask = mid - half, mid + half
    side = rng.choice(5, n_orders, p=[0.35, 0.15, 0.15, 0.3, 0.05])  # ask, mid, to, bid, above
    o_px = np.select(
        [side == 0, side == 1, side == 2, side == 3],
        [o_ask, mid, mid + half / 2, o_bid],
        o_ask + 0.01,
    )
    o_size = np.where(
        kind == 3,
        rng.integers(1000, 3000, n_orders),
        np.ceil(rng.pareto(1.3, n_orders) * 5).astype(np.int64).clip(1, 5000),
    )

    n = int(legs.sum())
    oid = np.repeat(np.arange(n_orders), legs)
    leg = np.arange(n) - np.repeat(np.cumsum(legs) - legs, legs)
    t = o_t[oid] + leg * rng.integers(100_000, 3_000_000, n)
    ex = np.where(
        kind[oid] == 1, EXCHANGES[(oid * 7 + leg) % len(EXCHANGES)], EXCHANGES[oid % len(EXCHANGES)]
    )
    k = kind[oid]
    cond = np.select(
        [k == 1, k == 3, k == 4, (k == 5) & (leg == 1), k == 6],
        ["219", "229", "232", "201", "204"],
        "209",
    ).astype(object)
    late_shift = np.where(k == 6, -rng.integers(1, 600, n) * 1_000_000_000, 0)
    px = o_px[oid]
    bid = o_bid[oid]
    ask = o_ask[oid]
    noq = rng.random(n) < 0.01
    bid = np.where(noq, np.nan, bid)
    ask = np.where(noq, np.nan, ask)
    size = np.where(k == 5, o_size[oid], np.maximum(o_size[oid] // legs[oid], 1))
    wall = t + late_shift
    order = np.argsort(t, kind="stable")  # arrival order
    wall, px, bid, ask, size, ex, cond, ocon = (
        a[order] for a in (wall, px, bid, ask, size, ex, cond, o_c[oid])
    )
    seq = pd.Series(ocon).groupby(ocon).cumcount().to_numpy()
    sip = wall + 4 * 3600 * 1_000_000_000  # EDT -> UTC

    def arrow_str(uniques: np.ndarray, codes: np.ndarray) -> pd.Series:
        return pd.Series(pa.array(uniques.astype(str)).take(pa.array(codes)), dtype="str")

    cond_u, cond_codes = np.unique(cond.astype(str), return_inverse=True)
    prints = pd.DataFrame(
        {
            "trade_date": DAY.astype("datetime64[ns]"),
            "print_id": hex_strings(np.arange(n, dtype=np.uint64) * np.uint64(2654435761)),
            "option_symbol": arrow_str(sym, ocon),
            "underlying": arrow_str(tickers, t_idx[ocon]),
            "sip_ts": wall.astype("datetime64[ns]"),
            "sip_timestamp": sip,
            "exchange": ex.astype(np.int32),
            "price": px,
            "size": size.astype(np.int64),
            "conditions": arrow_str(cond_u, cond_codes),
            "correction": np.where(cond == "201", 1, 0),
            "bid": bid,
            "ask": ask,
            "seq": seq,
            "vendor": "bench",
        }
    )
    prints["vendor"] = prints["vendor"].astype("str")
    # --- history: previous sessions' large orders (for SwingAccumulation)
    nh = min(200_000, n_orders // 20)
    hc = rng.choice(nC, nh)
    hd = rng.choice(sess[-6:-1], nh)
    history = pd.DataFrame(
        {
            "trade_date": hd.astype("datetime64[ns]"),
            "event_id": hex64(rng.integers(0, 2**63, nh).astype(np.uint64)),
            "ticker": tickers[t_idx[hc]],
            "option_symbol": sym[hc],
            "event_type": rng.choice(["sweep", "block", "single"], nh),
            "sentiment": rng.choice(["bullish", "bearish", "neutral"], nh),
            "premium": rng.pareto(1.2, nh) * 50_000,
            "size": rng.integers(1, 2000, nh),
            "dte": dte[hc],
            "is_late": False,
            "non_directional": False,
            "last_ts": hd.astype("datetime64[ns]") + np.timedelta64(11, "h"),
        }
    )
    return {
        "prints": prints,
        "bars_1m": bars,
        "daily_bars": daily,
        "chain": chain,
        "history": history,
    }


def _machine() -> dict:
    return machine_info()



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prints", type=int, default=10_000_000)
    ap.add_argument("--tickers", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--warmup",
        type=int,
        default=20_000,
        help="prints in an untimed warm-up run (compiles the numba kernels)",
    )
    args = ap.parse_args()
    print("machine:", json.dumps(_machine()))
    cfg = load_config(with_api_keys=False)
    if args.warmup:
        w = generate(args.warmup, min(args.tickers, 20), args.seed + 1)
        score_batch(w["prints"], w["bars_1m"], w["daily_bars"], w["chain"], cfg, w["history"])
    t0 = time.perf_counter()
    data = generate(args.prints, args.tickers, args.seed)
    gen_s = time.perf_counter() - t0
    n = len(data["prints"])
    print(f"generated {n:,} prints, {len(data['bars_1m']):,} bars in {gen_s:.1f}s")
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = score_batch(
        data["prints"],
        data["bars_1m"],
        data["daily_bars"],
        data["chain"],
        cfg,
        data["history"],
        source="bench",
    )
    sec = time.perf_counter() - t0
    cpu = time.process_time() - c0
    load_after = os.getloadavg()[0]
    st = res.stats
    print("timings_s:", json.dumps(st["timings_s"]))
    print("events:", st["events"], json.dumps(st["events_by_type"]))
    print("signals:", json.dumps(st["signals_by_kind"]))
    print("quarantined:", json.dumps(st["quarantined_by_reason"]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # other processes on the machine slow the wall clock: cpu_seconds and the load averages
    # (1-minute, before and after) say how much of it was ours
    print(
        json.dumps(
            {
                "bench": "flow",
                "prints": n,
                "seconds": round(sec, 3),
                "prints_per_s": round(n / sec),
                "peak_rss_mb": round(peak, 1),
                "cpu_seconds": round(cpu, 3),
                "load_avg": [round(load_before, 2), round(load_after, 2)],
                "events": st["events"],
                "signals": st["signals"],
            }
        )
    )


if __name__ == "__main__":
    main()
