"""The indicator registry: 17 indicators, each mapped to a signal in ``[-1, +1]`` (+1 = strong buy).

Conventions (all indicators)
----------------------------
* Inputs are the workbench's bar frame (:mod:`primeflow_lib.research.data`).
* **Causal**: the value at bar ``t`` uses bars ``0..t`` only (the close of bar ``t`` included), so a
  signal is known at the close of its bar and can be traded at the next open at the earliest.
* **Warm-up**: the first ``lookback(params)`` bars are NaN, every later bar is finite. Lookbacks
  follow TA-Lib's definition (number of leading bars without a value).
* TA-Lib computes the indicator where it has the function (``talib_functions`` lists them); numpy
  computes the rest. ``IndicatorOutput.values`` holds the raw lines (RSI in points, MACD in USD,
  ...), the main one first (it is the ``value`` column of ``research.indicator_signals``);
  ``IndicatorOutput.signal`` is the mapped signal.
* Each parameter has a default, a hard minimum and a tune range ``(low, high, step)`` for the
  tuner. Unknown parameter names raise an error naming them.

Use :func:`compute_signals` for a DataFrame of signals, :data:`REGISTRY` / :func:`get` for the
declarations, and ``docs/research.md`` for the table of every indicator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import talib

from primeflow_lib.research import liquidity, regime, wyckoff_ml
from primeflow_lib.research.data import OHLCV, as_arrays
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.params import Param, resolve_params
from primeflow_lib.research.rolling import rolling_sum, shift, volume_pressure

__all__ = [
    "OHLCV", "REGISTRY", "Indicator", "IndicatorOutput", "Param", "all_indicators", "as_arrays",
    "compute_signals", "get", "max_lookback",
]  # fmt: skip


@dataclass(frozen=True)
class IndicatorOutput:
    """Raw indicator lines and the mapped signal, both indexed like the bars."""

    values: pd.DataFrame
    signal: pd.Series


@dataclass(frozen=True)
class Indicator:
    """A registered indicator.

    Attributes:
        name: registry key.
        summary: what it measures.
        mapping: how the raw value becomes a signal in [-1, +1] (the documented formula).
        params: parameter declarations.
        lookback_fn: ``params -> number of leading NaN bars``.
        fn: ``(OHLCV, params) -> (raw lines, signal)``.
        talib_functions: TA-Lib functions used (empty when computed with numpy).
        check: cross-parameter validation, returns an error text or None.
    """

    name: str
    summary: str
    mapping: str
    params: Mapping[str, Param]
    lookback_fn: Callable[[dict], int]
    fn: Callable[[OHLCV, dict], tuple[dict[str, np.ndarray], np.ndarray]]
    talib_functions: tuple[str, ...] = ()
    check: Callable[[dict], str | None] | None = field(default=None, repr=False)

    def resolve(self, params: Mapping[str, float] | None = None) -> dict[str, float]:
        """Defaults overlaid with ``params``; validates names, types, minimums and cross-rules."""
        return resolve_params(f"indicator {self.name!r}", self.params, params, self.check)

    def lookback(self, params: Mapping[str, float] | None = None) -> int:
        """Leading NaN bars for these parameters."""
        return int(self.lookback_fn(self.resolve(params)))

    def compute(
        self, bars: pd.DataFrame, params: Mapping[str, float] | None = None
    ) -> IndicatorOutput:
        """Raw lines and signal on ``bars`` (the workbench bar frame)."""
        p = self.resolve(params)
        raw, signal = self.fn(as_arrays(bars), p)
        signal = np.clip(signal, -1.0, 1.0)
        return IndicatorOutput(
            values=pd.DataFrame(raw, index=bars.index),
            signal=pd.Series(signal, index=bars.index, name=self.name),
        )


# --- mappings --------------------------------------------------------------------------------


def _band(x: np.ndarray, low: float, high: float) -> np.ndarray:
    """Oscillator band mapping: ``low -> +1``, ``high -> -1``, mid-point -> 0, clipped."""
    mid, half = (low + high) / 2.0, (high - low) / 2.0
    return np.clip((mid - x) / half, -1.0, 1.0)


def _safe_div(num: np.ndarray, den: np.ndarray, zero: float = 0.0) -> np.ndarray:
    """``num / den``; ``zero`` where ``den == 0``; NaN where either is NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(den == 0, zero, num / den)
    return np.where(np.isnan(num) | np.isnan(den), np.nan, out)


def _sign(x: np.ndarray) -> np.ndarray:
    return np.sign(x)  # NaN stays NaN


def _fast_slow(p: dict) -> str | None:
    return None if p["fast"] < p["slow"] else f"fast ({p['fast']}) must be < slow ({p['slow']})"


def _low_high(lo: str, hi: str) -> Callable[[dict], str | None]:
    def check(p: dict) -> str | None:
        return None if p[lo] < p[hi] else f"{lo} ({p[lo]}) must be < {hi} ({p[hi]})"

    return check


# --- indicator functions (TA-Lib) --------------------------------------------------------------


def _rsi(b: OHLCV, p: dict):
    rsi = talib.RSI(b.close, timeperiod=p["period"])
    return {"rsi": rsi}, _band(rsi, p["oversold"], p["overbought"])


def _macd(b: OHLCV, p: dict):
    macd, sig, hist = talib.MACD(
        b.close, fastperiod=p["fast"], slowperiod=p["slow"], signalperiod=p["signal"]
    )
    return {"hist": hist, "macd": macd, "signal": sig}, np.tanh(hist / (p["scale"] * b.close))


def _bollinger(b: OHLCV, p: dict):
    upper, mid, lower = talib.BBANDS(
        b.close, timeperiod=p["period"], nbdevup=p["nbdev"], nbdevdn=p["nbdev"], matype=0
    )
    z = _safe_div(b.close - mid, upper - mid)
    return {"z": z, "upper": upper, "middle": mid, "lower": lower}, np.clip(-z, -1.0, 1.0)


def _stochastic(b: OHLCV, p: dict):
    k, d = talib.STOCH(
        b.high, b.low, b.close,
        fastk_period=p["fastk"], slowk_period=p["slowk"], slowk_matype=0,
        slowd_period=p["slowd"], slowd_matype=0,
    )  # fmt: skip
    return {"slowk": k, "slowd": d}, _band(k, p["oversold"], p["overbought"])


def _dual_sma(b: OHLCV, p: dict):
    fast = talib.SMA(b.close, timeperiod=p["fast"])
    slow = talib.SMA(b.close, timeperiod=p["slow"])
    return {"spread": fast - slow, "sma_fast": fast, "sma_slow": slow}, _sign(fast - slow)


def _ema_crossover(b: OHLCV, p: dict):
    fast = talib.EMA(b.close, timeperiod=p["fast"])
    slow = talib.EMA(b.close, timeperiod=p["slow"])
    spread = fast - slow
    return {"spread": spread, "ema_fast": fast, "ema_slow": slow}, np.tanh(
        spread / (p["scale"] * b.close)
    )


def _momentum(b: OHLCV, p: dict):
    n = p["period"]
    mom = talib.MOM(b.close, timeperiod=n)
    atr = talib.ATR(b.high, b.low, b.close, timeperiod=n)
    z = _safe_div(mom, math.sqrt(n) * atr)
    return {"mom": mom, "atr": atr}, np.tanh(z)


def _roc(b: OHLCV, p: dict):
    roc = talib.ROC(b.close, timeperiod=p["period"])
    return {"roc": roc}, np.clip(roc / p["threshold"], -1.0, 1.0)


def _atr_ratio(b: OHLCV, p: dict):
    fast = talib.ATR(b.high, b.low, b.close, timeperiod=p["fast"])
    slow = talib.ATR(b.high, b.low, b.close, timeperiod=p["slow"])
    ratio = _safe_div(fast, slow, zero=1.0)
    expansion = np.clip((ratio - 1.0) / p["threshold"], 0.0, 1.0)
    direction = _sign(b.close - shift(b.close, p["fast"]))
    return {"ratio": ratio, "atr_fast": fast, "atr_slow": slow}, expansion * direction


def _adx(b: OHLCV, p: dict):
    n = p["period"]
    adx = talib.ADX(b.high, b.low, b.close, timeperiod=n)
    pdi = talib.PLUS_DI(b.high, b.low, b.close, timeperiod=n)
    mdi = talib.MINUS_DI(b.high, b.low, b.close, timeperiod=n)
    strength = np.clip((adx - p["threshold"]) / (p["full"] - p["threshold"]), 0.0, 1.0)
    return {"adx": adx, "plus_di": pdi, "minus_di": mdi}, _sign(pdi - mdi) * strength


def _range_pos(b: OHLCV, p: dict):
    hh = talib.MAX(b.high, timeperiod=p["period"])
    ll = talib.MIN(b.low, timeperiod=p["period"])
    pos = _safe_div(b.close - ll, hh - ll, zero=0.5)
    return {"position": pos, "highest": hh, "lowest": ll}, 2.0 * pos - 1.0


# --- indicator functions (numpy) ---------------------------------------------------------------


def _vwap_dev(b: OHLCV, p: dict):
    n = p["period"]
    price = (b.high + b.low + b.close) / 3.0
    if b.vwap is not None:
        # The bar's own VWAP is the better price of its volume when the vendor gives it.
        price = np.where(np.isfinite(b.vwap), b.vwap, price)
    vwap = _safe_div(rolling_sum(price * b.volume, n), rolling_sum(b.volume, n), zero=np.nan)
    dev = b.close / vwap - 1.0
    sig = np.clip(-dev / p["band"], -1.0, 1.0)
    sig = np.where(np.isnan(vwap) & ~np.isnan(rolling_sum(b.volume, n)), 0.0, sig)
    return {"deviation": dev, "vwap": vwap}, sig


def _cmf(b: OHLCV, p: dict):
    n = p["period"]
    mfm = _safe_div((b.close - b.low) - (b.high - b.close), b.high - b.low)
    cmf = _safe_div(rolling_sum(mfm * b.volume, n), rolling_sum(b.volume, n))
    return {"cmf": cmf}, np.clip(cmf / p["saturation"], -1.0, 1.0)


def _wyckoff(b: OHLCV, p: dict):
    n = p["period"]
    pressure = volume_pressure(b.close, b.volume, n)
    price_change = b.close / shift(b.close, n) - 1.0
    trend = np.tanh(price_change / p["scale"])
    return (
        {"volume_pressure": pressure, "price_change": price_change, "price_trend": trend},
        np.clip(pressure - trend, -1.0, 1.0),
    )


def _phi_mft(b: OHLCV, p: dict):
    out = regime.probabilities_from_arrays(b, p)
    return {"phi": out["phi"], **out}, out["phi"]


# --- the registry ------------------------------------------------------------------------------

_PERIOD = "bars in the window"

REGISTRY: dict[str, Indicator] = {
    i.name: i
    for i in (
        Indicator(
            "rsi",
            "Wilder's Relative Strength Index (0-100), mean reversion.",
            "clip((m - RSI) / h, -1, 1) with m = (oversold + overbought)/2, "
            "h = (overbought - oversold)/2: RSI at oversold -> +1, at overbought -> -1",
            {
                "period": Param(14, (5, 30, 1), _PERIOD, minimum=2),
                "oversold": Param(
                    30, (10, 40, 5), "RSI level mapped to +1", integer=False, minimum=0
                ),
                "overbought": Param(
                    70, (60, 90, 5), "RSI level mapped to -1", integer=False, minimum=0
                ),
            },
            lambda p: p["period"],
            _rsi,
            ("RSI",),
            _low_high("oversold", "overbought"),
        ),
        Indicator(
            "macd",
            "MACD histogram (EMA fast - EMA slow, minus its EMA signal line), trend.",
            "tanh(hist / (scale * close)): a histogram of scale x price maps to 0.76",
            {
                "fast": Param(12, (5, 20, 1), "fast EMA bars", minimum=2),
                "slow": Param(26, (20, 50, 2), "slow EMA bars", minimum=2),
                "signal": Param(9, (5, 15, 1), "signal-line EMA bars"),
                "scale": Param(
                    0.005,
                    (0.002, 0.02, 0.002),
                    "fraction of price for tanh(1)",
                    integer=False,
                    minimum=1e-9,
                ),
            },
            lambda p: p["slow"] - 1 + p["signal"] - 1,
            _macd,
            ("MACD",),
            _fast_slow,
        ),
        Indicator(
            "bollinger",
            "Position of the close inside Bollinger bands (SMA +- nbdev population std), "
            "mean reversion.",
            "clip(-z, -1, 1) with z = (close - middle) / (upper - middle): lower band -> +1, "
            "upper band -> -1, middle -> 0",
            {
                "period": Param(20, (10, 40, 2), _PERIOD, minimum=2),
                "nbdev": Param(
                    2.0,
                    (1.5, 3.0, 0.25),
                    "band width in standard deviations",
                    integer=False,
                    minimum=1e-9,
                ),
            },
            lambda p: p["period"] - 1,
            _bollinger,
            ("BBANDS",),
        ),
        Indicator(
            "stochastic",
            "Slow stochastic %K (0-100), mean reversion.",
            "clip((m - %K) / h, -1, 1) with m, h from oversold/overbought as for rsi",
            {
                "fastk": Param(14, (5, 30, 1), "%K window bars"),
                "slowk": Param(3, (1, 5, 1), "%K smoothing bars"),
                "slowd": Param(3, (1, 5, 1), "%D smoothing bars"),
                "oversold": Param(
                    20, (10, 30, 5), "%K level mapped to +1", integer=False, minimum=0
                ),
                "overbought": Param(
                    80, (70, 90, 5), "%K level mapped to -1", integer=False, minimum=0
                ),
            },
            lambda p: p["fastk"] - 1 + p["slowk"] - 1 + p["slowd"] - 1,
            _stochastic,
            ("STOCH",),
            _low_high("oversold", "overbought"),
        ),
        Indicator(
            "dual_sma",
            "Fast vs slow simple moving average of the close, trend.",
            "sign(SMA_fast - SMA_slow): +1 above, -1 below, 0 equal",
            {
                "fast": Param(10, (5, 50, 5), "fast SMA bars"),
                "slow": Param(20, (20, 200, 10), "slow SMA bars", minimum=2),
            },
            lambda p: p["slow"] - 1,
            _dual_sma,
            ("SMA",),
            _fast_slow,
        ),
        Indicator(
            "ema_crossover",
            "Fast vs slow exponential moving average spread, trend.",
            "tanh((EMA_fast - EMA_slow) / (scale * close))",
            {
                "fast": Param(12, (5, 30, 1), "fast EMA bars"),
                "slow": Param(26, (20, 100, 5), "slow EMA bars", minimum=2),
                "scale": Param(
                    0.01,
                    (0.005, 0.05, 0.005),
                    "fraction of price for tanh(1)",
                    integer=False,
                    minimum=1e-9,
                ),
            },
            lambda p: p["slow"] - 1,
            _ema_crossover,
            ("EMA",),
            _fast_slow,
        ),
        Indicator(
            "momentum",
            "n-bar price change in units of volatility (MOM / (sqrt(n) * ATR)), trend.",
            "tanh(MOM_n / (sqrt(n) * ATR_n)): a move of one random-walk range maps to 0.76",
            {"period": Param(10, (5, 60, 5), _PERIOD)},
            lambda p: p["period"],
            _momentum,
            ("MOM", "ATR"),
        ),
        Indicator(
            "roc",
            "Rate of change, percent: 100 * (close / close[t-n] - 1), trend.",
            "clip(ROC / threshold, -1, 1): a move of threshold percent or more -> +-1",
            {
                "period": Param(10, (5, 60, 5), _PERIOD),
                "threshold": Param(
                    5.0, (1.0, 20.0, 1.0), "percent move mapped to +-1", integer=False, minimum=1e-9
                ),
            },
            lambda p: p["period"],
            _roc,
            ("ROC",),
        ),
        Indicator(
            "atr_ratio",
            "Volatility expansion: ATR_fast / ATR_slow, signed by the direction of the "
            "fast-window move.",
            "clip((ATR_fast/ATR_slow - 1) / threshold, 0, 1) * sign(close - close[t-fast]); "
            "calm markets (ratio <= 1) -> 0",
            {
                "fast": Param(5, (2, 20, 1), "fast ATR bars"),
                "slow": Param(20, (10, 60, 5), "slow ATR bars", minimum=2),
                "threshold": Param(
                    0.5,
                    (0.1, 1.0, 0.1),
                    "ratio excess mapped to full strength",
                    integer=False,
                    minimum=1e-9,
                ),
            },
            lambda p: p["slow"],
            _atr_ratio,
            ("ATR",),
            _fast_slow,
        ),
        Indicator(
            "vwap_dev",
            "Deviation of the close from the rolling n-bar VWAP (bar vwap, else typical price "
            "(h+l+c)/3, weighted by volume), mean reversion.",
            "clip(-(close / VWAP_n - 1) / band, -1, 1): band below VWAP -> +1, above -> -1; "
            "0 when the window traded no volume",
            {
                "period": Param(20, (5, 60, 5), _PERIOD),
                "band": Param(
                    0.02,
                    (0.005, 0.05, 0.005),
                    "fractional deviation mapped to +-1",
                    integer=False,
                    minimum=1e-9,
                ),
            },
            lambda p: p["period"] - 1,
            _vwap_dev,
        ),
        Indicator(
            "cmf",
            "Chaikin money flow: sum(MFM * volume, n) / sum(volume, n), "
            "MFM = ((c - l) - (h - c)) / (h - l) (0 when h = l), accumulation.",
            "clip(CMF / saturation, -1, 1); 0 when the window traded no volume",
            {
                "period": Param(20, (5, 60, 5), _PERIOD),
                "saturation": Param(
                    0.25, (0.05, 0.5, 0.05), "CMF mapped to +-1", integer=False, minimum=1e-9
                ),
            },
            lambda p: p["period"] - 1,
            _cmf,
        ),
        Indicator(
            "adx",
            "Average directional index with +DI/-DI, trend strength and direction.",
            "sign(+DI - -DI) * clip((ADX - threshold) / (full - threshold), 0, 1)",
            {
                "period": Param(14, (7, 30, 1), _PERIOD, minimum=2),
                "threshold": Param(
                    20, (10, 30, 5), "ADX at which the signal starts", integer=False, minimum=0
                ),
                "full": Param(40, (30, 60, 5), "ADX at full strength", integer=False, minimum=0),
            },
            lambda p: 2 * p["period"] - 1,
            _adx,
            ("ADX", "PLUS_DI", "MINUS_DI"),
            _low_high("threshold", "full"),
        ),
        Indicator(
            "wyckoff",
            "Volume-price divergence (effort vs result): volume pressure over n bars minus the "
            "price trend over the same bars.",
            "clip(P - tanh((close/close[t-n] - 1) / scale), -1, 1), P = (up-bar volume - down-bar "
            "volume) / both: buying volume on a falling or flat price (accumulation) -> +, "
            "selling volume into a rising price (distribution) -> -, agreement -> 0",
            {
                "period": Param(20, (5, 60, 5), _PERIOD),
                "scale": Param(
                    0.05, (0.01, 0.2, 0.01), "price change for tanh(1)", integer=False, minimum=1e-9
                ),
            },
            lambda p: p["period"],
            _wyckoff,
        ),
        Indicator(
            "range_pos",
            "Position of the close in the n-bar high-low range, breakout-following.",
            "2 * (close - lowest low) / (highest high - lowest low) - 1: at the range high -> +1, "
            "at the low -> -1; 0 for a flat range",
            {"period": Param(20, (5, 100, 5), _PERIOD, minimum=2)},
            lambda p: p["period"] - 1,
            _range_pos,
            ("MAX", "MIN"),
        ),
    )
}


REGISTRY["phi_mft"] = Indicator(
    "phi_mft",
    "Composite of the MFT regime engine (primeflow_lib.research.regime).",
    regime.PHI_MAPPING,
    regime.PARAMS,
    regime.lookback_resolved,
    _phi_mft,
    ("ADX", "ATR", "EMA", "STDDEV", "MAX", "MIN"),
    regime.check_params,
)


REGISTRY["liquidity_pools"] = Indicator(
    "liquidity_pools",
    "LiquidityPools: a bar that trades through the prior swing high (low) and closes back inside "
    "(a liquidity sweep), faded (primeflow_lib.research.liquidity).",
    "sign of the latest sweep (buy-side sweep -> -1, sell-side -> +1) * 0.5 ** (bars since / "
    "decay); 0 before the first sweep",
    {
        "swing": Param(3, (2, 10, 1), "bars on each side of a swing high/low", minimum=1),
        "window": Param(50, (20, 120, 10), "bars a swing stays a liquidity level", minimum=2),
        "decay": Param(5, (1, 20, 1), "half-life of the signal after a sweep, bars", minimum=1),
    },
    liquidity.lookback,
    lambda b, p: liquidity.liquidity_pools(b.high, b.low, b.close, p),
)

REGISTRY["wyckoff_ml"] = Indicator(
    "wyckoff_ml",
    "WyckoffML: walk-forward logistic regression of the next move on Wyckoff effort-vs-result "
    "features, refitted every `refit` bars on labels already known "
    "(primeflow_lib.research.wyckoff_ml).",
    "2 * P(close[t + horizon] > close[t]) - 1 from the latest fit",
    {
        "period": Param(20, (10, 60, 5), _PERIOD, minimum=2),
        "train": Param(250, (100, 500, 50), "labelled bars in each fit", minimum=20),
        "refit": Param(20, (5, 50, 5), "bars between refits", minimum=1),
        "horizon": Param(5, (1, 10, 1), "label horizon, bars", minimum=1),
        "l2": Param(1.0, (0.1, 5.0, 0.1), "L2 penalty on standardised weights", integer=False,
                    minimum=0.0),
    },
    wyckoff_ml.lookback,
    lambda b, p: wyckoff_ml.wyckoff_ml(b.close, b.high, b.low, b.volume, p),
)


def get(name: str) -> Indicator:
    """The indicator registered under ``name`` (``name:label`` aliases select ``name``)."""
    base = name.split(":", 1)[0]
    try:
        return REGISTRY[base]
    except KeyError:
        raise ResearchError(f"unknown indicator {base!r}; known: {sorted(REGISTRY)}") from None


def all_indicators() -> dict[str, Indicator]:
    """Every registered indicator by name (the 17 of the workbench)."""
    return dict(REGISTRY)


def max_lookback(indicators: Mapping[str, Mapping[str, float] | None]) -> int:
    """The longest warm-up among ``{key: params}``: bars of history a caller must load before the
    first bar it wants signals for."""
    return max((get(k).lookback(p) for k, p in indicators.items()), default=0)


def compute_signals(
    bars: pd.DataFrame, indicators: Mapping[str, Mapping[str, float] | None]
) -> pd.DataFrame:
    """Signals in [-1, +1] for several indicators on the same bars.

    Args:
        bars: the workbench's bar frame (validate first with
            :func:`primeflow_lib.research.data.validate_bars`).
        indicators: ``{key: params}``; a key is a registry name, or ``name:label`` to use the
            same indicator twice (``{"dual_sma:short": {"fast": 5, "slow": 20}}``). ``None`` or
            ``{}`` uses the defaults.

    Returns:
        DataFrame indexed like ``bars``, one float column per key, NaN during each warm-up.
    """
    cols = {
        key: get(key).compute(bars, params).signal.to_numpy() for key, params in indicators.items()
    }
    return pd.DataFrame(cols, index=bars.index, columns=list(indicators))
