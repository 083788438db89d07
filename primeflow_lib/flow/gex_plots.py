"""Pictures of dealer gamma exposure for asset metadata: GEX by strike (bars) over the profile of
total GEX across hypothetical spots, one row of panels per underlying. Small (6 inches wide at
80 dpi) so it fits a Dagster metadata preview. matplotlib object API only (no pyplot)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def gex_figure(levels: pd.DataFrame, by_strike: pd.DataFrame, profile: pd.DataFrame,
               names: list[str], dpi: int = 80) -> Figure:
    """For each name in ``names`` (rows of one session's :class:`~primeflow_lib.flow.gex.GexResult`
    frames): net GEX by strike as bars (left) and total GEX over the spot grid (right), with the
    spot, the flip and the walls marked. GEX in USD millions per 1 % move."""
    fig = Figure(figsize=(6, 1.9 * max(len(names), 1)), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(fig.subplots(max(len(names), 1), 2, squeeze=False))
    for row, name in zip(axes, names, strict=False):
        lv = levels[levels["underlying"] == name].iloc[0]
        bs = by_strike[by_strike["underlying"] == name]
        pr = profile[profile["underlying"] == name]
        left, right = row
        k = bs["strike"].to_numpy(np.float64)
        net = bs["net_gex"].to_numpy(np.float64) / 1e6
        width = float(np.min(np.diff(k))) * 0.8 if len(k) > 1 else 1.0
        left.bar(k, net, width=width, color=np.where(net >= 0, "tab:green", "tab:red"))
        right.plot(pr["spot"].to_numpy(), pr["total_gex"].to_numpy() / 1e6, lw=1.0, color="tab:blue")
        right.axhline(0.0, color="black", lw=0.5)
        for ax in (left, right):
            ax.axvline(lv["spot"], color="black", lw=0.8, ls="--")
            if pd.notna(lv["zero_gamma"]):
                ax.axvline(lv["zero_gamma"], color="tab:orange", lw=0.8)
            ax.tick_params(labelsize=6)
            ax.grid(alpha=0.3, lw=0.5)
        flip = "none" if pd.isna(lv["zero_gamma"]) else f"{lv['zero_gamma']:.2f}"
        left.set_title(f"{name} {lv['trade_date']:%Y-%m-%d} GEX by strike ($M/1%)", fontsize=7)
        right.set_title(f"profile: spot {lv['spot']:.2f}, flip {flip} ({lv['convention']})", fontsize=6)
    fig.tight_layout(pad=0.4)
    return fig


def gex_png(levels: pd.DataFrame, by_strike: pd.DataFrame, profile: pd.DataFrame, names: list[str]) -> bytes:
    """:func:`gex_figure` as PNG bytes."""
    buf = io.BytesIO()
    gex_figure(levels, by_strike, profile, names).savefig(buf, format="png")
    return buf.getvalue()
