"""Pictures of a run: the equity curve over its drawdown, small enough for a Dagster metadata
preview or a chat message (6 x 3 inches at 80 dpi = 480 x 240 px, tens of KB as PNG).

Uses matplotlib's object API (no pyplot), so it never touches global figure state or needs a
display.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MAX_POINTS = 2000  # more points than pixels only costs time and file size


def _thin(n: int, keep: int) -> np.ndarray:
    """Indices of at most MAX_POINTS evenly spaced points plus ``keep`` (the deepest drawdown)."""
    if n <= MAX_POINTS:
        return np.arange(n)
    idx = np.linspace(0, n - 1, MAX_POINTS).astype(np.int64)
    return np.unique(np.append(idx, keep))


def equity_figure(
    equity: pd.Series, drawdown: pd.Series, title: str = "", figsize=(6, 3), dpi: int = 80
) -> Figure:
    """Equity (USD, top, 3/4 of the height) and drawdown (percent, bottom) on a shared time axis."""
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    dd = drawdown.to_numpy(dtype=np.float64)
    keep = _thin(len(equity), int(np.argmin(dd)) if len(dd) else 0)
    x = equity.index[keep]
    top.plot(x, equity.to_numpy()[keep], lw=1.0, color="tab:blue")
    top.set_ylabel("equity $", fontsize=7)
    if title:
        top.set_title(title, fontsize=8)
    bottom.fill_between(x, dd[keep] * 100.0, 0.0, color="tab:red", alpha=0.5, lw=0)
    bottom.set_ylabel("dd %", fontsize=7)
    for ax in (top, bottom):
        ax.tick_params(labelsize=6)
        ax.grid(alpha=0.3, lw=0.5)
    fig.autofmt_xdate()
    fig.tight_layout(pad=0.4)
    return fig


def save_equity_png(
    equity: pd.Series, drawdown: pd.Series, path: str | Path, title: str = ""
) -> Path:
    """Write :func:`equity_figure` as a PNG; returns the path."""
    p = Path(path)
    equity_figure(equity, drawdown, title).savefig(p, format="png")
    return p
