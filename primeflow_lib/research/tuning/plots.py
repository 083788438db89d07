"""Pictures of a study, small enough for Dagster metadata (6 x 3 inches at 80 dpi):

* :func:`is_oos_figure`: every trial's mean train Sharpe against its test-window Sharpe
  (annualised), the chosen configurations marked; a cloud sloping down is overfitting.
* :func:`logit_figure`: the CSCV logits of the PBO with 0 marked; the share at or left of 0 is
  the PBO.
"""

from __future__ import annotations

import base64
import io

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from primeflow_lib.research.tuning.study import Study


def _fig() -> tuple[Figure, object]:
    fig = Figure(figsize=(6, 3), dpi=80)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.tick_params(labelsize=6)
    ax.grid(alpha=0.3, lw=0.5)
    return fig, ax


def is_oos_figure(study: Study) -> Figure:
    """IS vs OOS Sharpe scatter of every trial, one colour per indicator."""
    fig, ax = _fig()
    t = study.trials
    for ind, g in t.groupby("indicator", sort=True):
        ax.scatter(g["is_sharpe_mean_ann"], g["wf_oos_sharpe_ann"], s=3, alpha=0.4, label=ind, lw=0)
    ax.axhline(0.0, color="k", lw=0.5)
    ax.set_xlabel("mean train Sharpe (ann.)", fontsize=7)
    ax.set_ylabel("test-window Sharpe (ann.)", fontsize=7)
    ax.set_title(f"study {study.study_id}: {len(t)} trials", fontsize=8)
    ax.legend(fontsize=6, markerscale=3, loc="best")
    fig.tight_layout(pad=0.4)
    return fig


def logit_figure(study: Study) -> Figure:
    """Histogram of the CSCV logits with the PBO written on it and 0 marked."""
    fig, ax = _fig()
    lg = study.pbo.logits
    finite = lg[np.isfinite(lg)]
    ax.hist(finite, bins=40, color="tab:blue", alpha=0.7)
    ax.axvline(0.0, color="tab:red", lw=1.0)
    ax.set_xlabel("logit of the IS winner's OOS rank", fontsize=7)
    ax.set_ylabel("splits", fontsize=7)
    ax.set_title(f"CSCV, {study.pbo.n_combinations} splits: PBO {study.pbo.pbo:.2f}", fontsize=8)
    fig.tight_layout(pad=0.4)
    return fig


def png_markdown(fig: Figure, alt: str) -> str:
    """The figure as an inline PNG in markdown (``![alt](data:image/png;base64,...)``)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"
