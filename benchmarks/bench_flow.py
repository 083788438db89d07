"""Benchmark: flow classification + context + all three strategies on a full options day.

Usage::

    .venv/bin/python benchmarks/bench_flow.py                 # 20,000,000 prints
    .venv/bin/python benchmarks/bench_flow.py --prints 1000000 --tickers 200

The input is made by a fast seeded generator in this script (no warehouse, no network): a
heavy-tailed universe of underlyings with 21 sessions of 1-minute bars (20 for RVOL history plus
the scored day), 60 sessions of daily bars, a previous-session option chain, previous sessions'
flow events for SwingAccumulation, and one day of option prints with U-shaped intraday timing,
realistic NBBO, multi-exchange sweeps, splits, blocks and crosses, multi-leg orders (2-4 legs on
different contracts of one underlying in the same instant, sizes 1:1, 1:2:1, 1:1:1:1), cancels,
late prints, compression prints and prints without quotes.

The day is scored the way a real OPRA day must be: by underlying in bounded chunks
(:func:`primeflow_lib.flow.engine.plan_chunks`, ``--chunk-prints`` prints at most), each chunk
end to end in one of ``--workers`` processes (:func:`primeflow_lib.flow.engine.
score_chunks_parallel`; the chunk's result is counted and let go in the worker). A child process
first generates the day and writes each chunk's inputs (prints, bars, daily bars, chain, history)
as Parquet files, as a warehouse query per chunk would return them; the timed part is loading and
scoring every chunk. The last line printed is one JSON object with ``prints_per_s``,
``seconds``, ``cpu_seconds`` (this process and its workers), ``peak_rss_mb`` (the peak of the
summed RSS of this process and its workers, sampled every 50 ms) and the load average. Target on
the 2-core reference machine: 20M prints <= 40 s, peak RSS <= 4 GB.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import multiprocessing
import os
import resource
import sys
import tempfile
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
from primeflow_lib.flow.engine import plan_chunks, score_batch, score_chunks_parallel  # noqa: E402

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
    # multi-leg orders: 2-4 legs on neighbouring contracts of the ticker, one instant
    legs = np.where(
        kind == 1,
        rng.integers(2, 7, n_prints),
        np.where((kind == 2) | (kind == 5), 2,
                 np.where(kind == 4, rng.choice([2, 3, 4], n_prints, p=[0.6, 0.2, 0.2]), 1)),
    )
    cut = int(np.searchsorted(np.cumsum(legs), n_prints)) + 1
    kind, legs = kind[:cut], legs[:cut].copy()
    legs[-1] -= int(legs.sum()) - n_prints
    if legs[-1] < 2 and kind[-1] in (1, 2, 4, 5):
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
    is_ml = kind[oid] == 4
    t = o_t[oid] + np.where(is_ml, 0, leg * rng.integers(100_000, 3_000_000, n))
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
    # legs: contracts 2 apart in the chain (the next strike, same right), inside the ticker;
    # sizes 1:1 (2 legs), 1:2:1 (3), 1:1:1:1 (4)
    o_tk_p = o_tk[oid]
    last_c = first_c[o_tk_p] + per_tk[o_tk_p] - 1
    con = np.where(is_ml, np.minimum(o_c[oid] + 2 * leg, last_c - (legs[oid] - 1 - leg) * 2), o_c[oid])
    con = np.maximum(con, first_c[o_tk_p])
    size = np.where(is_ml & (legs[oid] == 3) & (leg == 1), 2 * size, size)
    wall = t + late_shift
    order = np.argsort(t, kind="stable")  # arrival order
    wall, px, bid, ask, size, ex, cond, ocon = (
        a[order] for a in (wall, px, bid, ask, size, ex, cond, con)
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



def _write_inputs(folder: str, n_prints: int, n_tickers: int, seed: int, chunk_prints: int) -> None:
    """Child process: generate the day and write, per chunk of underlyings, one Parquet file of
    each input (prints, 1m bars, daily bars with the regime benchmark's, chain, history), as a
    warehouse query per chunk would return them. Its memory is not the scoring side's."""
    import pyarrow.parquet as pq

    d = generate(n_prints, n_tickers, seed)
    out = Path(folder)
    p = d.pop("prints")
    und = p["underlying"].to_numpy(dtype=object)
    counts = pd.Series(und).value_counts().to_dict()
    plan = plan_chunks(counts, chunk_prints)
    table = pa.Table.from_pandas(p, preserve_index=False)
    del p
    codes, uniq = pd.factorize(und)
    pos = {u: i for i, u in enumerate(uniq)}
    cols = {"bars_1m": "ticker", "daily_bars": "ticker", "chain": "underlying", "history": "ticker"}
    for i, tickers in enumerate(plan):
        mask = np.isin(codes, [pos[t] for t in tickers])
        pq.write_table(table.filter(pa.array(mask)), out / f"prints_{i:04d}.parquet")
        for name, col in cols.items():
            want = {*tickers, "SPY"} if name == "daily_bars" else set(tickers)  # SPY: the regime benchmark
            frame = d[name]
            frame[frame[col].isin(want)].to_parquet(out / f"{name}_{i:04d}.parquet", index=False)
    (out / "plan.json").write_text(json.dumps({"chunks": plan, "prints": int(len(und)),
                                               "bars": int(len(d["bars_1m"]))}))


def _load_inputs(folder: str, index: dict, tickers: list[str]) -> dict:
    """One chunk's inputs from the files :func:`_write_inputs` wrote."""
    i = index[tickers[0]]
    f = Path(folder)
    return {name: pd.read_parquet(f / f"{name}_{i:04d}.parquet")
            for name in ("prints", "bars_1m", "daily_bars", "chain", "history")}


def _summary(tickers: list[str], res) -> dict:
    """The sink: count what the chunk produced and let the rows go."""
    st = res.stats
    return {"events": st["events"], "signals": st["signals"], "quarantined": len(res.quarantine),
            "structures": st["prints"].get("structures", 0), "by_type": st["events_by_type"],
            "timings": st["timings_s"]}


class _RssPeak:
    """Peak of the summed RSS of this process and its children, sampled every 50 ms."""

    def __init__(self) -> None:
        import threading

        import psutil

        self.me = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            for p in [self.me, *self.me.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):  # a worker that just exited
                    total += p.memory_info().rss
            self.peak = max(self.peak, total)
            self._stop.wait(0.05)

    def stop(self) -> float:
        self._stop.set()
        self._t.join()
        return self.peak / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--prints", type=int, default=20_000_000)
    ap.add_argument("--tickers", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--chunk-prints", type=int, default=1_000_000,
                    help="most prints per chunk of underlyings (a bigger underlying is a chunk alone)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                    help="processes scoring chunks at once (1: in this process)")
    ap.add_argument(
        "--warmup",
        type=int,
        default=20_000,
        help="prints in an untimed warm-up run (compiles the numba kernels into their cache)",
    )
    args = ap.parse_args()
    print("machine:", json.dumps(_machine()))
    cfg = load_config(with_api_keys=False)
    if args.warmup:
        w = generate(args.warmup, min(args.tickers, 20), args.seed + 1)
        score_batch(w["prints"], w["bars_1m"], w["daily_bars"], w["chain"], cfg, w["history"])
        del w
    with tempfile.TemporaryDirectory(prefix="bench-flow-") as tmp:
        t0 = time.perf_counter()
        child = multiprocessing.get_context("spawn").Process(
            target=_write_inputs, args=(tmp, args.prints, args.tickers, args.seed, args.chunk_prints))
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"input generation failed (exit code {child.exitcode})")
        meta = json.loads((Path(tmp) / "plan.json").read_text())
        n, plan = int(meta["prints"]), meta["chunks"]
        print(f"generated {n:,} prints in {len(plan)} chunks, {meta['bars']:,} bars in "
              f"{time.perf_counter() - t0:.1f}s")
        index = {c[0]: i for i, c in enumerate(plan)}
        load = functools.partial(_load_inputs, tmp, index)
        rss = _RssPeak()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)  # the generator is a child too
        load_before = os.getloadavg()[0]
        t0 = time.perf_counter()
        c0 = time.process_time()
        parts = score_chunks_parallel(load, plan, cfg, sink=_summary, workers=args.workers, source="bench")
        sec = time.perf_counter() - t0
        cpu = time.process_time() - c0
        peak = rss.stop()
    load_after = os.getloadavg()[0]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    workers_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    totals = {k: sum(p[k] for p in parts) for k in ("events", "signals", "quarantined", "structures")}
    by_type: dict[str, int] = {}
    timings: dict[str, float] = {}
    for p in parts:
        for k, v in p["by_type"].items():
            by_type[k] = by_type.get(k, 0) + v
        for k, v in p["timings"].items():
            timings[k] = round(timings.get(k, 0.0) + v, 3)
    print("timings_s (summed over chunks):", json.dumps(timings))
    print("events:", totals["events"], json.dumps(by_type), "structures:", totals["structures"])
    # other processes on the machine slow the wall clock: cpu_seconds (this process and the
    # scoring workers) and the load averages (1-minute, before and after) say how much was ours
    print(
        json.dumps(
            {
                "bench": "flow",
                "prints": n,
                "chunks": len(plan),
                "workers": args.workers,
                "seconds": round(sec, 3),
                "prints_per_s": round(n / sec),
                "peak_rss_mb": round(peak, 1),
                "cpu_seconds": round(cpu + workers_cpu, 3),
                "load_avg": [round(load_before, 2), round(load_after, 2)],
                "events": totals["events"],
                "structures": totals["structures"],
                "signals": totals["signals"],
            }
        )
    )


if __name__ == "__main__":
    main()
