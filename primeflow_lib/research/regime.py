"""The MFT regime engine: causal per-bar probabilities of five market regimes.

Features (all causal: bar ``t`` uses bars ``0..t``)
----------------------------------------------------
=================  ==========================================================================
trend              (EMA_fast - EMA_slow) / ATR_slow: signed trend, in ATRs
adx                ADX(adx_period), 0-100: trend strength regardless of direction
vol                population std of log close-to-close returns over ``vol_period`` bars
                   (per bar, not annualised)
vol_pct            percentile rank of ``vol`` among its last ``rank_window`` values, (0, 1]
                   (reported, not scored: a calm window's local maximum ranks 1.0)
vol_ratio          vol / mean(vol over the last ``rank_window`` bars): 1 = usual, 2 = double
momentum           log(close / close[t - momentum_period]) / (vol * sqrt(momentum_period)):
                   the move as a z-score of a random walk with today's volatility
volume_pressure    (up-bar volume - down-bar volume) / both, over ``volume_period`` bars, [-1, 1]
compression        1 - percentile rank of the channel width (highest high - lowest low over
                   ``channel_period`` bars, / close) among its last ``rank_window`` values:
                   1 = the tightest range in the window
breakout_dir       +1 if the close is above the previous bar's ``channel_period``-bar high,
                   -1 if below the previous bar's low, else 0
=================  ==========================================================================

Regimes and their scores (``k`` = ``sharpness``)
------------------------------------------------
With ``strength = clip((adx - 15) / 25, 0, 1)`` and ``d = tanh(trend)``:

* TREND_UP:   ``k * strength * max(d, 0)``
* TREND_DOWN: ``k * strength * max(-d, 0)``
* RANGE:      ``k * (1 - strength) * (1 - |tanh(momentum)|)``
* BREAKOUT:   ``k * |breakout_dir| * (0.5 + 0.25 * compression[t-1]
  + 0.25 * max(volume_pressure * breakout_dir, 0))`` - a close outside the prior channel,
  stronger after a tight range and with volume on its side
* HIGH_VOL:   ``k * clip((vol_ratio - 1) / (high_vol_ratio - 1), 0, 1)``: full strength once
  volatility is ``high_vol_ratio`` times its recent mean

Probabilities are the softmax of the scores, so they are in (0, 1) and sum to 1 on every bar
after the warm-up (NaN before). The label ``regime`` is the most probable one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
import talib

from primeflow_lib.research.data import OHLCV, as_arrays
from primeflow_lib.research.params import Param, resolve_params
from primeflow_lib.research.rolling import rolling_percentile, rolling_sum, shift, volume_pressure

REGIMES: tuple[str, ...] = ("TREND_UP", "TREND_DOWN", "RANGE", "BREAKOUT", "HIGH_VOL")
PROB_COLUMNS: tuple[str, ...] = tuple(f"p_{r.lower()}" for r in REGIMES)
FEATURES: tuple[str, ...] = (
    "trend", "adx", "vol", "vol_pct", "vol_ratio", "momentum", "volume_pressure", "compression",
    "breakout_dir",
)  # fmt: skip

PHI_MAPPING = (
    "P(TREND_UP) - P(TREND_DOWN) + breakout_dir * P(BREAKOUT): probability mass of up-regimes "
    "minus down-regimes; RANGE and HIGH_VOL pull the signal toward 0"
)


PARAMS: dict[str, Param] = {
    "adx_period": Param(14, (7, 30, 1), "ADX bars", minimum=2),
    "fast": Param(10, (5, 30, 5), "fast EMA bars of the trend feature"),
    "slow": Param(40, (20, 100, 10), "slow EMA and ATR bars of the trend feature", minimum=2),
    "vol_period": Param(20, (10, 60, 5), "bars of log returns in the volatility", minimum=2),
    "rank_window": Param(100, (50, 250, 10), "bars for vol_pct, vol_ratio, compression", minimum=2),
    "momentum_period": Param(20, (5, 60, 5), "bars of the momentum move"),
    "volume_period": Param(20, (5, 60, 5), "bars of volume pressure"),
    "channel_period": Param(20, (10, 60, 5), "bars of the breakout channel", minimum=2),
    "high_vol_ratio": Param(2.0, (1.5, 3.0, 0.25), "vol / its mean at full HIGH_VOL strength",
                            integer=False, minimum=1.01),
    "sharpness": Param(4.0, (1.0, 8.0, 1.0), "score scale k (higher = more decisive)",
                       integer=False, minimum=1e-9),
}  # fmt: skip


def check_params(p: dict) -> str | None:
    if p["fast"] >= p["slow"]:
        return f"fast ({p['fast']}) must be < slow ({p['slow']})"
    return None


def resolve(params: Mapping[str, float] | None = None) -> dict[str, float]:
    """Regime parameters with defaults filled in and validated (same rules as indicators)."""
    return resolve_params("regime engine", PARAMS, params, check_params)


def lookback_resolved(p: Mapping[str, float]) -> int:
    """Leading NaN bars of the probabilities for already-resolved parameters."""
    w = p["rank_window"]
    return int(
        max(
            2 * p["adx_period"] - 1,
            p["slow"],
            p["vol_period"] + w - 1,
            max(p["momentum_period"], p["vol_period"]),
            p["volume_period"],
            p["channel_period"] + w - 1,
        )
    )


def lookback(params: Mapping[str, float] | None = None) -> int:
    """Leading NaN bars of the probabilities for these parameters (defaults for the rest)."""
    return lookback_resolved(resolve(params))


def probabilities_from_arrays(b: OHLCV, params: Mapping[str, float]) -> dict[str, np.ndarray]:
    """Features, regime probabilities and ``phi`` from an :class:`~.indicators.OHLCV` tuple."""
    p = params
    h, lo, c, v = b.high, b.low, b.close, b.volume
    atr = talib.ATR(h, lo, c, timeperiod=p["slow"])
    ema_gap = talib.EMA(c, timeperiod=p["fast"]) - talib.EMA(c, timeperiod=p["slow"])
    with np.errstate(invalid="ignore", divide="ignore"):
        trend = np.where(atr > 0, ema_gap / atr, 0.0)
        trend[np.isnan(atr) | np.isnan(ema_gap)] = np.nan
        adx = talib.ADX(h, lo, c, timeperiod=p["adx_period"])
        logret = np.log(c / shift(c, 1))
        vol = talib.STDDEV(logret, timeperiod=p["vol_period"], nbdev=1.0)
        vol_pct = rolling_percentile(vol, p["rank_window"])
        vol_ratio = vol / (rolling_sum(vol, p["rank_window"]) / p["rank_window"])
        m = p["momentum_period"]
        move = np.log(c / shift(c, m))
        denom = vol * math.sqrt(m)
        momentum = np.where(denom > 0, move / denom, 0.0)
        momentum[np.isnan(move) | np.isnan(denom)] = np.nan
        pressure = volume_pressure(c, v, p["volume_period"])
        n = p["channel_period"]
        hh, ll = talib.MAX(h, timeperiod=n), talib.MIN(lo, timeperiod=n)
        compression = 1.0 - rolling_percentile((hh - ll) / c, p["rank_window"])
        prev_hh, prev_ll = shift(hh, 1), shift(ll, 1)
        breakout_dir = np.where(c > prev_hh, 1.0, np.where(c < prev_ll, -1.0, 0.0))
        breakout_dir[np.isnan(prev_hh)] = np.nan

    k = p["sharpness"]
    strength = np.clip((adx - 15.0) / 25.0, 0.0, 1.0)
    d = np.tanh(trend)
    hv = p["high_vol_ratio"]
    scores = np.stack(
        [
            k * strength * np.maximum(d, 0.0),
            k * strength * np.maximum(-d, 0.0),
            k * (1.0 - strength) * (1.0 - np.abs(np.tanh(momentum))),
            k * np.abs(breakout_dir) * (
                0.5 + 0.25 * shift(compression, 1)
                + 0.25 * np.maximum(pressure * breakout_dir, 0.0)
            ),
            k * np.clip((vol_ratio - 1.0) / (hv - 1.0), 0.0, 1.0),
        ],
        axis=1,
    )  # fmt: skip
    valid = np.isfinite(scores).all(axis=1)
    scores = np.where(valid[:, None], scores, 0.0)
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    probs[~valid] = np.nan
    out = {
        "trend": trend, "adx": adx, "vol": vol, "vol_pct": vol_pct, "vol_ratio": vol_ratio,
        "momentum": momentum, "volume_pressure": pressure, "compression": compression,
        "breakout_dir": breakout_dir,
    }  # fmt: skip
    for j, col in enumerate(PROB_COLUMNS):
        out[col] = probs[:, j]
    bdir = np.where(valid, breakout_dir, np.nan)
    out["phi"] = probs[:, 0] - probs[:, 1] + bdir * probs[:, 3]
    return out


def regime_probabilities(
    bars: pd.DataFrame, params: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """Per-bar regime probabilities, label and features.

    Args:
        bars: the workbench's bar frame.
        params: regime parameters (see :data:`PARAMS`; defaults for the rest).

    Returns:
        DataFrame indexed like ``bars`` with ``p_trend_up p_trend_down p_range p_breakout
        p_high_vol`` (sum 1 per bar after warm-up, NaN before), ``regime`` (label of the most
        probable regime, None during warm-up), ``phi`` (the phi_mft signal) and the features.
    """
    p = resolve(params)
    arrays = probabilities_from_arrays(as_arrays(bars), p)
    df = pd.DataFrame(arrays, index=bars.index)
    probs = df[list(PROB_COLUMNS)].to_numpy()
    ok = np.isfinite(probs).all(axis=1)
    labels = np.array(REGIMES, dtype=object)[np.argmax(np.where(ok[:, None], probs, 0.0), axis=1)]
    df["regime"] = np.where(ok, labels, None)
    return df[[*PROB_COLUMNS, "regime", "phi", *FEATURES]]
