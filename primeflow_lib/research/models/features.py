"""Features of the model lab: causal columns from the indicator registry and the MFT regime engine.

Every feature at bar ``t`` uses bars ``0..t`` only (the close of ``t`` included), so a prediction
made from it is known at the close of ``t`` and can be traded at the next open at the earliest.

Default feature set (:data:`DEFAULT_INDICATORS`, each at its registry defaults):

* the signal in [-1, +1] of each indicator (``sig_<name>``), lookbacks as in the registry;
* the MFT regime engine's probabilities (``p_trend_up`` .. ``p_high_vol``) and features
  (``trend adx vol vol_ratio momentum volume_pressure compression breakout_dir``; lookback
  :func:`primeflow_lib.research.regime.lookback`, 218 bars with the defaults);
* ``ret_1``, ``ret_5``: log close-to-close returns over 1 and 5 bars; ``range``: (high - low) /
  close of the bar.

``first`` (the first usable bar) is the longest declared lookback; after it, a NaN or infinite
feature is an error naming the column and the bar (the model lab never fills or drops bars
silently), and so is a feature that is constant over the usable bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from primeflow_lib.research import regime
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.indicators import compute_signals, get

DEFAULT_INDICATORS: tuple[str, ...] = (
    "rsi", "macd", "bollinger", "stochastic", "ema_crossover", "momentum", "roc", "atr_ratio",
    "adx", "range_pos", "cmf", "vwap_dev", "wyckoff",
)  # fmt: skip
REGIME_FEATURES: tuple[str, ...] = (
    "trend", "adx", "vol", "vol_ratio", "momentum", "volume_pressure", "compression",
    "breakout_dir",
)  # fmt: skip
RETURN_FEATURES: tuple[str, ...] = ("ret_1", "ret_5", "range")
RETURN_LOOKBACK = 5


@dataclass(frozen=True)
class FeatureFrame:
    """Features of one bar frame: ``X`` (index = bars), the first usable bar ``first`` and the
    MFT regime labels (used by the ``regime`` label and the Regimes comparison)."""

    X: pd.DataFrame
    first: int
    mft_regime: pd.Series


def build_features(
    bars: pd.DataFrame, indicators: Sequence[str] = DEFAULT_INDICATORS, include_regime: bool = True
) -> FeatureFrame:
    """The causal feature frame of ``bars`` (see the module docstring).

    Args:
        bars: the workbench's bar frame (validated).
        indicators: registry names whose signals become features (defaults at registry params).
        include_regime: add the MFT probabilities and features.
    """
    for name in indicators:
        get(name)  # unknown names fail here with the registry's message
    cols: dict[str, np.ndarray] = {}
    sig = compute_signals(bars, {n: None for n in indicators})
    for n in indicators:
        cols[f"sig_{n}"] = sig[n].to_numpy()
    lookbacks = [get(n).lookback(None) for n in indicators]
    reg = regime.regime_probabilities(bars)
    if include_regime:
        for c in regime.PROB_COLUMNS:
            cols[c] = reg[c].to_numpy()
        for c in REGIME_FEATURES:
            cols[f"mft_{c}"] = reg[c].to_numpy(dtype=np.float64)
        lookbacks.append(regime.lookback())
    close = bars["close"].to_numpy(dtype=np.float64)
    logc = np.log(close)
    r1 = np.full(len(close), np.nan)
    r1[1:] = np.diff(logc)
    r5 = np.full(len(close), np.nan)
    r5[RETURN_LOOKBACK:] = logc[RETURN_LOOKBACK:] - logc[:-RETURN_LOOKBACK]
    cols["ret_1"], cols["ret_5"] = r1, r5
    cols["range"] = (bars["high"].to_numpy(dtype=np.float64) - bars["low"].to_numpy(dtype=np.float64)) / close
    lookbacks.append(RETURN_LOOKBACK)
    X = pd.DataFrame(cols, index=bars.index)
    first = int(max(lookbacks)) + 1
    return FeatureFrame(X=X, first=first, mft_regime=reg["regime"])


def check_features(X: pd.DataFrame, first: int, where: str = "features") -> None:
    """Refuse NaN/inf after ``first`` and constant columns over ``[first, n)`` (errors name the
    column, the bar and its time)."""
    if first >= len(X):
        raise ResearchError(
            f"{where}: {len(X)} bars leave no usable bar after the features' warm-up of {first} "
            "bars; give more bars"
        )
    values = X.to_numpy(dtype=np.float64)[first:]
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise ResearchError(
            f"{where}.{X.columns[col]}: value {float(values[row, col])!r} at bar {first + row} "
            f"({X.index[first + row]}) is not finite; features must be finite after the "
            f"warm-up ({first} bars)"
        )
    span = np.ptp(values, axis=0)
    const = np.flatnonzero(span == 0)
    if const.size:
        c = X.columns[const[0]]
        raise ResearchError(
            f"{where}.{c}: constant ({float(values[0, const[0]])!r}) over all {len(values)} usable bars; "
            "a constant feature carries no information: drop it"
        )
