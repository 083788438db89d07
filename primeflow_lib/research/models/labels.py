"""Labels of the model lab, each with a stated horizon ``h`` (bars).

The label of bar ``t`` is known only at the close of ``t + h``: it uses bars ``t+1 .. t+h``.
The last ``h`` bars therefore have no label (``-1``), and the walk-forward purge between a train
window and its test window is at least ``h`` bars, so no train label looks into a test bar.

=============  ==================================================================  ============
kind           class of bar t                                                      classes
=============  ==================================================================  ============
direction      1 when ``close[t+h] > close[t]``, else 0 (a flat move counts as 0)   down, up
vol_bucket     realised variance of the next ``h`` log returns over that of the     calmer,
               last ``h`` (``sum r^2``): < 0.8 -> 0, > 1.25 -> 2, else 1            similar,
                                                                                    more volatile
regime         the MFT regime (:mod:`primeflow_lib.research.regime`) at ``t+h``     the 5 regimes
=============  ==================================================================  ============

Signals (:func:`to_signal`): direction ``2 P(up) - 1``; vol_bucket ``P(calmer) - P(more
volatile)`` (long into calm, out before turbulence); regime ``P(TREND_UP) - P(TREND_DOWN)``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.regime import REGIMES

LABEL_KINDS: dict[str, tuple[str, ...]] = {
    "direction": ("down", "up"),
    "vol_bucket": ("calmer", "similar", "more_volatile"),
    "regime": REGIMES,
}
VOL_LOW, VOL_HIGH = 0.8, 1.25


def check_kind(kind: str) -> tuple[str, ...]:
    """The class names of ``kind``; a clear error for unknown kinds."""
    try:
        return LABEL_KINDS[kind]
    except KeyError:
        raise ResearchError(f"label: {kind!r} is not one of {list(LABEL_KINDS)}") from None


def make_labels(bars: pd.DataFrame, kind: str, horizon: int, mft_regime: pd.Series | None = None) -> np.ndarray:
    """Integer classes per bar (``-1`` where the label is not known: the last ``horizon`` bars,
    and for ``regime`` bars whose regime is in warm-up)."""
    check_kind(kind)
    if isinstance(horizon, bool) or int(horizon) != horizon or horizon < 1:
        raise ResearchError(f"label.horizon: {horizon!r} must be a whole number of bars >= 1")
    h = int(horizon)
    n = len(bars)
    y = np.full(n, -1, dtype=np.int64)
    if h >= n:
        return y
    close = bars["close"].to_numpy(dtype=np.float64)
    if kind == "direction":
        y[: n - h] = (close[h:] > close[: n - h]).astype(np.int64)
    elif kind == "vol_bucket":
        r2 = np.zeros(n)
        r2[1:] = np.diff(np.log(close)) ** 2
        cs = np.concatenate([[0.0], np.cumsum(r2)])
        t = np.arange(h, n - h)  # needs h past returns (bars t-h+1..t) and h future ones
        past = cs[t + 1] - cs[t + 1 - h]
        fut = cs[t + 1 + h] - cs[t + 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(past > 0, fut / past, np.where(fut > 0, np.inf, 1.0))
        y[t] = np.where(ratio < VOL_LOW, 0, np.where(ratio > VOL_HIGH, 2, 1))
    else:
        if mft_regime is None:
            raise ResearchError("label 'regime' needs the MFT regime labels of the bars")
        lab = pd.Series(mft_regime).to_numpy(dtype=object)
        code = {r: i for i, r in enumerate(REGIMES)}
        future = lab[h:]
        known = np.array([v in code for v in future])
        y[: n - h][known] = [code[v] for v in future[known]]
    return y


def to_signal(kind: str, probs: np.ndarray) -> np.ndarray:
    """Class probabilities ``(n, K)`` -> signal in [-1, +1] (see the module docstring)."""
    if kind == "direction":
        s = 2.0 * probs[:, 1] - 1.0
    elif kind == "vol_bucket":
        s = probs[:, 0] - probs[:, 2]
    else:
        s = probs[:, 0] - probs[:, 1]
    return np.clip(s, -1.0, 1.0)
