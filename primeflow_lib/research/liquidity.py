"""LiquidityPools: sweeps of the prior swing high or low, and their event study.

Swings (causal)
---------------
A **swing high** at bar ``j`` is a high that is the highest of bars ``j - swing .. j + swing``;
it is only *known* at bar ``j + swing`` (when the bars after it have printed), so it becomes a
liquidity level from bar ``j + swing + 1`` on. Swing lows mirror this. Resting stops and
breakout orders cluster beyond these levels ("liquidity pools").

Sweeps
------
At bar ``t`` the active level is the most recent known swing of the last ``window`` bars that no
bar has swept yet. A **buy-side sweep** is a bar whose high trades above the active swing high
but whose close falls back below it (the pool above was taken and rejected): a bearish event,
``-1``. A **sell-side sweep** mirrors it below the swing low: bullish, ``+1``. A swept level is
consumed. A bar that sweeps both sides is no event.

Signal: the sign of the latest event times ``0.5 ** (age / decay)`` (``age`` = bars since the
event; ``decay`` = half-life in bars), 0 before the first event; NaN during the first
``2 * swing`` bars (the lookback: no swing can be known earlier).

Event study (:func:`event_study`)
---------------------------------
Forward log returns over ``horizons`` bars after each event bar (sign-adjusted so that a
positive number means the sweep's direction was right) against the same number of **matched
random times** (bars drawn without replacement from the non-event bars after the warm-up, one
draw per event, seeded), with percentile bootstrap intervals of the mean of each and of their
difference.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pandas as pd

from primeflow_lib.research.errors import ResearchError


@nb.njit(cache=True)
def _sweeps(high, low, close, swing, window):  # pragma: no cover - compiled
    n = high.shape[0]
    ev = np.zeros(n)
    sh_level, sh_bar = np.nan, -1
    sl_level, sl_bar = np.nan, -1
    for t in range(n):
        # a pivot at j = t - swing - 1 became known at the close of bar t - 1: usable at t
        j = t - swing - 1
        if j - swing >= 0:
            hi, lo = -np.inf, np.inf
            for q in range(j - swing, j + swing + 1):
                hi = max(hi, high[q])
                lo = min(lo, low[q])
            if high[j] == hi:
                sh_level, sh_bar = high[j], j
            if low[j] == lo:
                sl_level, sl_bar = low[j], j
        if sh_bar >= 0 and t - sh_bar > window:
            sh_level, sh_bar = np.nan, -1
        if sl_bar >= 0 and t - sl_bar > window:
            sl_level, sl_bar = np.nan, -1
        up = sh_bar >= 0 and high[t] > sh_level and close[t] < sh_level
        dn = sl_bar >= 0 and low[t] < sl_level and close[t] > sl_level
        if up and not dn:
            ev[t] = -1.0
        elif dn and not up:
            ev[t] = 1.0
        if up:
            sh_level, sh_bar = np.nan, -1
        if dn:
            sl_level, sl_bar = np.nan, -1
    return ev


def sweep_events(high: np.ndarray, low: np.ndarray, close: np.ndarray, swing: int, window: int) -> np.ndarray:
    """Per bar: -1 buy-side sweep, +1 sell-side sweep, 0 none (see the module docstring)."""
    return _sweeps(np.ascontiguousarray(high, dtype=np.float64), np.ascontiguousarray(low, dtype=np.float64),
                   np.ascontiguousarray(close, dtype=np.float64), int(swing), int(window))


@nb.njit(cache=True)
def _decay(ev, decay):  # pragma: no cover - compiled
    n = ev.shape[0]
    out = np.zeros(n)
    last, age = 0.0, 0
    for t in range(n):
        if ev[t] != 0.0:
            last, age = ev[t], 0
        elif last != 0.0:
            age += 1
        out[t] = last * 0.5 ** (age / decay) if last != 0.0 else 0.0
    return out


def lookback(p) -> int:
    return int(2 * p["swing"])


def liquidity_pools(high, low, close, p) -> tuple[dict, np.ndarray]:
    """Raw lines and signal of the ``liquidity_pools`` indicator."""
    ev = sweep_events(high, low, close, p["swing"], p["window"])
    sig = _decay(ev, float(p["decay"]))
    lb = lookback(p)
    sig[:lb] = np.nan
    evn = ev.copy()
    evn[:lb] = np.nan
    return {"event": evn}, sig


def event_study(
    bars: pd.DataFrame, swing: int = 3, window: int = 50, horizons: tuple[int, ...] = (1, 5, 10),
    n_boot: int = 2000, seed: int = 7,
) -> pd.DataFrame:  # fmt: skip
    """Forward returns after sweeps vs matched random times, with 95 % bootstrap intervals.

    Returns one row per horizon: ``horizon, events, event_mean, event_lo, event_hi,
    random_mean, random_lo, random_hi, diff_mean, diff_lo, diff_hi`` (log returns,
    sign-adjusted by the event's direction; the random times carry the same signs).
    """
    for h in horizons:
        if isinstance(h, bool) or int(h) != h or h < 1:
            raise ResearchError(f"horizons: {h!r} must be whole numbers of bars >= 1")
    c = np.log(bars["close"].to_numpy(dtype=np.float64))
    ev = sweep_events(bars["high"].to_numpy(), bars["low"].to_numpy(), bars["close"].to_numpy(), swing, window)
    ev[: 2 * swing] = 0.0
    n = len(c)
    rng = np.random.default_rng(seed)
    rows = []
    for h in horizons:
        idx = np.flatnonzero(ev[: n - h] != 0)
        if idx.size < 2:
            raise ResearchError(f"event study: {idx.size} sweep events with {h} bars after them; "
                                "need at least 2 (more bars or a smaller swing)")
        pool = np.setdiff1d(np.arange(2 * swing, n - h), idx)
        if pool.size < idx.size:
            raise ResearchError("event study: fewer non-event bars than events to match")
        rnd = rng.choice(pool, idx.size, replace=False)
        sgn = ev[idx]
        fe = sgn * (c[idx + h] - c[idx])
        fr = sgn * (c[rnd + h] - c[rnd])
        b = rng.integers(0, idx.size, (n_boot, idx.size))
        be, br = fe[b].mean(axis=1), fr[b].mean(axis=1)
        bd = be - br

        def ci(x):
            return float(np.percentile(x, 2.5)), float(np.percentile(x, 97.5))

        rows.append({"horizon": int(h), "events": int(idx.size), "event_mean": float(fe.mean()),
                     **dict(zip(("event_lo", "event_hi"), ci(be), strict=True)),
                     "random_mean": float(fr.mean()), **dict(zip(("random_lo", "random_hi"), ci(br), strict=True)),
                     "diff_mean": float(fe.mean() - fr.mean()), **dict(zip(("diff_lo", "diff_hi"), ci(bd), strict=True))})
    out = pd.DataFrame(rows)
    out.attrs["note"] = f"swing {swing}, window {window}, {n_boot} bootstrap draws, seed {seed}"
    return out
