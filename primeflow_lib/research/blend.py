"""Blending several indicator signals into one signal in ``[-1, +1]``.

Modes
-----
``weighted_sum``
    ``b_t = sum_i w_i s_{i,t} / sum_i |w_i|``.
``voting``
    Weighted majority: each indicator votes ``sign(s_{i,t})`` (0 abstains; with ``min_strength``
    a signal with ``|s| < min_strength`` abstains too) and ``b_t = sum_i w_i vote_{i,t} /
    sum_i |w_i|``, the weighted vote margin: > 0 means a weighted majority for buying, and a
    threshold of 0.5 asks for a 75/25 majority.
``regime_weighted``
    A weight matrix ``W[regime][indicator]`` mixed by the MFT regime probabilities ``P_{r,t}``:
    each regime's row is a weighted-sum blend of its own, and the blend is their
    probability-weighted mix, ``b_t = sum_r P_{r,t} * sum_i W[r][i] s_{i,t} / sum_i |W[r][i]|``
    (equivalently per-bar weights ``w_{i,t} = sum_r P_{r,t} W[r][i] / sum_j |W[r][j]|`` and
    ``b_t = sum_i w_{i,t} s_{i,t}``). A regime whose row is all zeros contributes 0, so
    ``HIGH_VOL: {}`` means "stand aside in high volatility": the signal shrinks as that regime
    grows likely. A regime missing from the matrix uses the static ``weights``; an indicator
    missing from a regime's row has weight 0 in that regime.
``phiai``
    Walk-forward weights from each indicator's own backtest: the bars are cut into windows of
    ``window`` bars; for the window starting at bar ``b`` the weight of indicator ``i`` is
    ``max(Sharpe_i, 0)``, where ``Sharpe_i`` is the Sharpe ratio of indicator ``i``'s standalone
    backtest returns over bars ``[b - train, b)`` (all earlier bars when ``train`` is None) - data
    strictly before the window. Windows start once ``min_train`` bars of returns exist; earlier
    bars are NaN. When no indicator has a positive score the blend is 0 (stay flat).

Common rules: weights default to 1 for every indicator; when weights are given they must name
exactly the indicators (a clear error otherwise). A blended bar is NaN until *every* indicator
(and, for regime_weighted, the regime engine) has left its warm-up, so the blend's warm-up is the
longest one; weighted_sum and voting are also NaN when the weights' absolute sum is 0. Output is
clipped to [-1, +1]. Every mode is causal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.metrics import sharpe
from primeflow_lib.research.regime import PROB_COLUMNS, REGIMES

BLEND_MODES: tuple[str, ...] = ("weighted_sum", "voting", "regime_weighted", "phiai")


@dataclass(frozen=True)
class BlendOutput:
    """The blended signal and the per-bar weights that produced it (columns = indicators)."""

    signal: pd.Series
    weights: pd.DataFrame


def _weights(signals: pd.DataFrame, weights: Mapping[str, float] | None, what: str) -> np.ndarray:
    cols = list(signals.columns)
    if weights is None:
        return np.ones(len(cols))
    missing = [c for c in cols if c not in weights]
    extra = [k for k in weights if k not in cols]
    if missing or extra:
        raise ResearchError(
            f"{what}: weights must name exactly the indicators {cols}; "
            + (f"missing {missing}" if missing else f"unknown {extra}")
        )
    w = np.array([float(weights[c]) for c in cols])
    if not np.isfinite(w).all():
        raise ResearchError(f"{what}: weights must be finite numbers, got {dict(weights)}")
    return w


def _combine(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Row-wise ``sum(w * v) / sum(|w|)`` with NaN when any value is NaN or the weights sum to 0.
    ``w`` is (k,) or (n, k)."""
    w2 = np.broadcast_to(w, values.shape)
    den = np.abs(w2).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (w2 * values).sum(axis=1) / den
    out[np.isnan(values).any(axis=1) | (den == 0) | np.isnan(den)] = np.nan
    return np.clip(out, -1.0, 1.0)


def weighted_sum(signals: pd.DataFrame, weights: Mapping[str, float] | None = None) -> BlendOutput:
    """Weighted mean of the signals (see module docs)."""
    w = _weights(signals, weights, "weighted_sum")
    out = _combine(signals.to_numpy(dtype=np.float64), w)
    return BlendOutput(
        pd.Series(out, index=signals.index, name="blend"),
        pd.DataFrame(
            np.broadcast_to(w, signals.shape), index=signals.index, columns=signals.columns
        ),
    )


def voting(
    signals: pd.DataFrame, weights: Mapping[str, float] | None = None, min_strength: float = 0.0
) -> BlendOutput:
    """Weighted majority vote (see module docs); ``min_strength`` in [0, 1]."""
    w = _weights(signals, weights, "voting")
    s = signals.to_numpy(dtype=np.float64)
    votes = np.where(np.abs(s) >= max(min_strength, 0.0), np.sign(s), 0.0)
    votes[np.isnan(s)] = np.nan
    out = _combine(votes, w)
    return BlendOutput(
        pd.Series(out, index=signals.index, name="blend"),
        pd.DataFrame(
            np.broadcast_to(w, signals.shape), index=signals.index, columns=signals.columns
        ),
    )


def regime_weighted(
    signals: pd.DataFrame,
    regime_probs: pd.DataFrame,
    regime_weights: Mapping[str, Mapping[str, float]],
    weights: Mapping[str, float] | None = None,
) -> BlendOutput:
    """Regime-dependent weights (see module docs).

    Args:
        signals: indicator signals, one column each.
        regime_probs: output of :func:`primeflow_lib.research.regime.regime_probabilities`
            aligned with ``signals`` (columns ``p_trend_up`` ... ``p_high_vol``).
        regime_weights: ``{regime: {indicator: weight}}`` with regimes from :data:`REGIMES`.
        weights: static weights used for regimes missing from ``regime_weights``.
    """
    unknown = [r for r in regime_weights if r not in REGIMES]
    if unknown:
        raise ResearchError(
            f"regime_weighted: unknown regime {unknown[0]!r}; regimes are {list(REGIMES)}"
        )
    cols = list(signals.columns)
    static = _weights(signals, weights, "regime_weighted")
    matrix = np.empty((len(REGIMES), len(cols)))
    for j, r in enumerate(REGIMES):
        row = regime_weights.get(r)
        if row is None:
            matrix[j] = static
            continue
        bad = [k for k in row if k not in cols]
        if bad:
            raise ResearchError(
                f"regime_weighted: regime {r!r} names unknown indicator {bad[0]!r}; "
                f"indicators are {cols}"
            )
        matrix[j] = [float(row.get(c, 0.0)) for c in cols]
    row_sum = np.abs(matrix).sum(axis=1, keepdims=True)
    matrix = np.divide(matrix, row_sum, out=np.zeros_like(matrix), where=row_sum > 0)
    probs = regime_probs.reindex(signals.index)[list(PROB_COLUMNS)].to_numpy(dtype=np.float64)
    w = probs @ matrix  # (n, k); NaN during the regime warm-up
    values = signals.to_numpy(dtype=np.float64)
    out = (w * values).sum(axis=1)
    out[np.isnan(values).any(axis=1) | np.isnan(w).any(axis=1)] = np.nan
    out = np.clip(out, -1.0, 1.0)
    return BlendOutput(
        pd.Series(out, index=signals.index, name="blend"),
        pd.DataFrame(w, index=signals.index, columns=cols),
    )


def phiai(
    signals: pd.DataFrame,
    strategy_returns: pd.DataFrame,
    periods_per_year: float,
    window: int = 63,
    train: int | None = None,
    min_train: int = 63,
) -> BlendOutput:
    """Walk-forward score-weighted blend (see module docs).

    Args:
        signals: indicator signals, one column each.
        strategy_returns: per-bar returns of each indicator's standalone backtest (same columns,
            same index; NaN while that indicator was warming up). Bar ``t``'s return must be known
            at the close of ``t`` - the engine's equity returns are.
        periods_per_year: for the Sharpe scores.
        window: bars each set of weights is applied to (re-weighting cadence).
        train: trailing bars scored for each window; None = every earlier bar.
        min_train: bars of history before the first window.
    """
    if window < 1 or min_train < 2 or (train is not None and train < 2):
        raise ResearchError(
            f"phiai: need window >= 1, min_train >= 2, train >= 2 or None; "
            f"got window={window}, min_train={min_train}, train={train}"
        )
    cols = list(signals.columns)
    missing = [c for c in cols if c not in strategy_returns.columns]
    if missing:
        raise ResearchError(f"phiai: no strategy returns for indicators {missing}")
    rets = strategy_returns.reindex(signals.index)[cols].to_numpy(dtype=np.float64)
    n, k = rets.shape
    w = np.full((n, k), np.nan)
    for b in range(min(min_train, n), n, window):  # one step per window, not per bar
        lo = 0 if train is None else max(0, b - train)
        past = rets[lo:b]
        scores = [sharpe(past[:, i], periods_per_year) for i in range(k)]
        # NaN scores (no returns yet, flat) and losers get 0; inf (no variance) is capped
        w[b : b + window] = [min(s, 1e6) if s > 0 else 0.0 for s in scores]
    values = signals.to_numpy(dtype=np.float64)
    valid = ~np.isnan(w).any(axis=1) & ~np.isnan(values).any(axis=1)
    wz = np.nan_to_num(w)
    den = wz.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den > 0, (wz * np.nan_to_num(values)).sum(axis=1) / den, 0.0)
    out = np.where(valid, np.clip(out, -1.0, 1.0), np.nan)
    return BlendOutput(
        pd.Series(out, index=signals.index, name="blend"),
        pd.DataFrame(w, index=signals.index, columns=cols),
    )


def blend_signals(
    signals: pd.DataFrame,
    mode: str = "weighted_sum",
    weights: Mapping[str, float] | None = None,
    regime_probs: pd.DataFrame | None = None,
    regime_weights: Mapping[str, Mapping[str, float]] | None = None,
    strategy_returns: pd.DataFrame | None = None,
    periods_per_year: float = 252,
    min_strength: float = 0.0,
    window: int = 63,
    train: int | None = None,
    min_train: int = 63,
) -> BlendOutput:
    """Dispatch to one of :data:`BLEND_MODES` (see module docs for each mode's inputs).

    A single indicator with the default weights passes through unchanged in every mode except
    ``voting`` (which reduces it to its sign) and ``phiai``.
    """
    if mode == "weighted_sum":
        return weighted_sum(signals, weights)
    if mode == "voting":
        return voting(signals, weights, min_strength)
    if mode == "regime_weighted":
        if regime_probs is None:
            raise ResearchError("regime_weighted blend needs regime probabilities")
        return regime_weighted(signals, regime_probs, regime_weights or {}, weights)
    if mode == "phiai":
        if strategy_returns is None:
            raise ResearchError("phiai blend needs each indicator's strategy returns")
        return phiai(signals, strategy_returns, periods_per_year, window, train, min_train)
    raise ResearchError(f"unknown blend mode {mode!r}; choose one of {list(BLEND_MODES)}")
