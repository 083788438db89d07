"""Causal rolling-window helpers shared by indicators and the regime engine.

Every function returns an array as long as its input whose value at bar ``t`` uses bars
``t - n + 1 .. t`` only, with NaN until the first full window (or while the window holds a NaN).
"""

from __future__ import annotations

import numba as nb
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def rolling_sum(x: np.ndarray, n: int) -> np.ndarray:
    """Sum of the last ``n`` values (exact window sums, not a differenced cumsum). Lookback n-1."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    if n <= len(x):
        out[n - 1 :] = sliding_window_view(x, n).sum(axis=1)
    return out


def shift(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` delayed by ``k >= 0`` bars (value at t is x[t-k]), NaN for the first k bars."""
    x = np.asarray(x, dtype=np.float64)
    out = np.full(x.shape, np.nan)
    if k == 0:
        return x.copy()
    if k < len(x):
        out[k:] = x[:-k]
    return out


@nb.njit(cache=True)
def _rolling_rank(x, n):  # pragma: no cover - compiled
    m = x.shape[0]
    out = np.full(m, np.nan)
    for t in range(n - 1, m):
        v = x[t]
        if not np.isfinite(v):
            continue
        below = 0
        ok = True
        for j in range(t - n + 1, t + 1):
            w = x[j]
            if not np.isfinite(w):
                ok = False
                break
            if w <= v:
                below += 1
        if ok:
            out[t] = below / n
    return out


def rolling_percentile(x: np.ndarray, n: int) -> np.ndarray:
    """Percentile rank of x[t] among the last ``n`` values including itself: the fraction of
    them ``<= x[t]``, in ``(0, 1]``. NaN until ``n`` finite values are available."""
    return _rolling_rank(np.ascontiguousarray(x, dtype=np.float64), int(n))


def volume_pressure(close: np.ndarray, volume: np.ndarray, n: int) -> np.ndarray:
    """Up-volume minus down-volume over the last ``n`` bars, as a fraction of both:

    ``(sum(v_t | c_t > c_{t-1}) - sum(v_t | c_t < c_{t-1})) / (up + down)`` in ``[-1, +1]``;
    0 when no volume traded on up or down bars. Lookback ``n`` (the first change needs c_{t-1}).
    """
    close = np.asarray(close, dtype=np.float64)
    volume = np.asarray(volume, dtype=np.float64)
    change = np.diff(close, prepend=np.nan)
    up = np.where(change > 0, volume, 0.0)
    down = np.where(change < 0, volume, 0.0)
    up[0] = down[0] = np.nan  # bar 0 has no previous close
    su, sd = rolling_sum(up, n), rolling_sum(down, n)
    total = su + sd
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (su - sd) / total, np.where(np.isnan(total), np.nan, 0.0))
