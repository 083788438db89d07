"""Payoff-at-entry picture of an options trade (matplotlib object API, no pyplot)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from primeflow_lib.research.options.structures import expiry_pnl


def payoff_figure(legs: pd.DataFrame, trade_no: int | None = None, title: str = "") -> Figure:
    """Expiry P&L (USD, all contracts) of one trade over underlying prices +/- 25 % of the
    entry spot, from its legs' strikes, signed contracts and entry fills; the entry spot and
    the breakevens are marked. ``trade_no`` defaults to the last trade. Calendars are drawn at
    the front expiry with the back leg valued at intrinsic (a lower bound)."""
    if trade_no is None:
        trade_no = int(legs["trade_no"].max())
    lg = legs[legs["trade_no"] == trade_no]
    spot = float(lg["entry_spot"].iloc[0])
    x = np.linspace(spot * 0.75, spot * 1.25, 241)
    contracts = lg["contracts"].to_numpy(np.float64)
    premium = float((contracts * lg["entry_fill"].to_numpy()).sum())
    y = expiry_pnl(x, lg["strike"].to_numpy(), lg["right"].tolist(), contracts, premium) * 100.0
    fig = Figure(figsize=(6, 3), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(x, y, color="tab:blue", lw=1.5)
    ax.fill_between(x, y, 0, where=y >= 0, color="tab:green", alpha=0.2)
    ax.fill_between(x, y, 0, where=y < 0, color="tab:red", alpha=0.2)
    ax.axhline(0, color="black", lw=0.6)
    ax.axvline(spot, color="grey", ls="--", lw=0.8)
    ax.set_xlabel("underlying at expiry, USD")
    ax.set_ylabel("P&L, USD")
    ax.set_title(
        title or f"trade {trade_no}: {lg['structure'].iloc[0]} payoff at entry", fontsize=9
    )
    fig.tight_layout()
    return fig
