"""Builders of synthetic bars and hand-made price paths for the research tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_bars(
    n: int = 600, seed: int = 0, drift: float = 0.0003, vol: float = 0.012
) -> pd.DataFrame:
    """A random-walk daily bar frame (the workbench's shape), reproducible by seed."""
    rng = np.random.default_rng(seed)
    c = 100 * np.exp(np.cumsum(rng.normal(drift, vol, n)))
    o = np.r_[c[0], c[:-1]] * np.exp(rng.normal(0, vol / 4, n))
    h = np.maximum(o, c) * (1 + rng.uniform(0, vol, n))
    lo = np.minimum(o, c) * (1 - rng.uniform(0, vol, n))
    v = rng.uniform(1e5, 1e6, n).round()
    idx = pd.DatetimeIndex(pd.bdate_range("2015-01-01", periods=n), name="ts")
    return pd.DataFrame({"open": o, "high": h, "low": lo, "close": c, "volume": v}, index=idx)


def path_bars(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """Bars from explicit (open, high, low, close) tuples, volume 1000, business days from 2024."""
    a = np.array(rows, dtype=float)
    idx = pd.DatetimeIndex(pd.bdate_range("2024-01-01", periods=len(a)), name="ts")
    return pd.DataFrame(
        {"open": a[:, 0], "high": a[:, 1], "low": a[:, 2], "close": a[:, 3], "volume": 1000.0},
        index=idx,
    )


def as_csv_frame(bars: pd.DataFrame) -> pd.DataFrame:
    """The bars as a user's CSV would hold them: Date,Open,High,Low,Close,Volume."""
    out = bars.reset_index().rename(columns=str.capitalize).rename(columns={"Ts": "Date"})
    out["Date"] = out["Date"].dt.strftime("%Y-%m-%d")
    return out[["Date", "Open", "High", "Low", "Close", "Volume"]]
