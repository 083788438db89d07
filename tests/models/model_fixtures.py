"""Bar builders for the model-lab tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def walk_bars(n: int, seed: int = 0, ar: float = 0.0, vol: float = 0.01, start: str = "2010-01-01") -> pd.DataFrame:
    """Daily-shaped bars whose close-to-close log returns follow an AR(1) with coefficient ``ar``
    (0 = a random walk: nothing to predict; 0.3 = a real, learnable edge)."""
    rng = np.random.default_rng(seed)
    e = rng.normal(0.0, vol, n)
    r = np.empty(n)
    r[0] = e[0]
    for t in range(1, n):
        r[t] = ar * r[t - 1] + e[t]
    c = 100.0 * np.exp(np.cumsum(r))
    o = np.r_[c[0], c[:-1]]  # open at the previous close: the next-open fill trades the AR
    h = np.maximum(o, c) * (1 + rng.uniform(0, vol / 2, n))
    lo = np.minimum(o, c) * (1 - rng.uniform(0, vol / 2, n))
    v = rng.uniform(1e5, 1e6, n).round()
    idx = pd.DatetimeIndex(pd.bdate_range(start, periods=n), name="ts")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": v}, index=idx)
