"""Ready-made RunConfigs: a strategy in one word.

==================  ==============================================================================
buy_and_hold        always long from the first close (fill at the close), no exits
rsi                 RSI(14) mean reversion: long below RSI 40 (signal >= 0.5), out above RSI 50
macd                MACD(12, 26, 9) histogram trend: long while positive
bollinger           Bollinger(20, 2) mean reversion: long near the lower band (signal >= 0.9),
                    out above the middle band
dual_sma            SMA(10) vs SMA(20) crossover: long while fast > slow
mean_reversion      RSI(14) + Bollinger(20, 2) weighted sum, long at >= 0.5, out below 0
channel_breakout    range_pos(20): long when the close is in the top 2.5% of the 20-bar range
                    (signal >= 0.95), out in the lower half, 10% trailing stop
wyckoff             volume-price divergence(20): long on accumulation (signal >= 0.3)
momentum_rotation   top 3 of a universe by 63-bar return, re-ranked every 21 bars (needs a
                    multi-ticker panel and dataset.universe)
phibot              regime_weighted blend of 8 indicators incl. phi_mft: trend indicators in trend
                    regimes, oscillators in RANGE, breakout indicators in BREAKOUT, flat in
                    HIGH_VOL; long at >= 0.3
options_bull_put    mode options: SMA(10/20) trend; bullish -> 45-DTE bull put (short 0.30 delta,
                    5 USD wide), 50 % profit take, stop at 2x the credit
options_iron_condor mode options: RSI(14); neutral (|signal| < 0.5) -> 45-DTE iron condor (short
                    0.16 delta, 10 USD wings), 50 % profit take, 2x stop, out at 21 DTE
options_long_straddle  mode options: always long a 30-DTE ATM straddle, 50 % profit take,
                    held at most 10 sessions (exits.max_bars)
==================  ==============================================================================

All presets are long-only with next-open fills unless stated; pass overrides to change any
section (``preset("dual_sma", "AAPL", exits={"stop_loss": 0.05}, entry={"allow_short": True})``).
"""

from __future__ import annotations

from typing import Any

from primeflow_lib.research.errors import RunConfigError
from primeflow_lib.research.runconfig import RunConfig

_TREND = {"macd": 1.0, "dual_sma": 1.0, "adx": 1.0, "phi_mft": 1.0, "cmf": 0.5}

PRESETS: dict[str, dict[str, Any]] = {
    "buy_and_hold": {"strategy": "buy_and_hold", "execution": {"fill": "close"}},
    "rsi": {
        "indicators": {"rsi": {}},
        "entry": {"threshold": 0.5},
    },
    "macd": {"indicators": {"macd": {}}},
    "bollinger": {
        "indicators": {"bollinger": {}},
        "entry": {"threshold": 0.9},
    },
    "dual_sma": {"indicators": {"dual_sma": {"params": {"fast": 10, "slow": 20}}}},
    "mean_reversion": {
        "indicators": {"rsi": {}, "bollinger": {}},
        "blend": {"mode": "weighted_sum"},
        "entry": {"threshold": 0.5},
    },
    "channel_breakout": {
        "indicators": {"range_pos": {"params": {"period": 20}}},
        "entry": {"threshold": 0.95},
        "exits": {"trailing_stop": 0.10},
    },
    "wyckoff": {
        "indicators": {"wyckoff": {}},
        "entry": {"threshold": 0.3},
    },
    "momentum_rotation": {
        "strategy": "momentum_rotation",
        "rotation": {"top_k": 3, "lookback": 63, "rebalance_every": 21, "absolute": True},
    },
    "phibot": {
        "indicators": {
            "rsi": {},
            "bollinger": {},
            "macd": {},
            "dual_sma": {"params": {"fast": 20, "slow": 50}},
            "adx": {},
            "cmf": {},
            "range_pos": {},
            "phi_mft": {},
        },  # fmt: skip
        "blend": {
            "mode": "regime_weighted",
            "regime_weights": {
                "TREND_UP": _TREND,
                "TREND_DOWN": _TREND,
                "RANGE": {"rsi": 1.0, "bollinger": 1.0, "cmf": 0.5},
                "BREAKOUT": {"range_pos": 1.0, "phi_mft": 1.0, "macd": 0.5, "cmf": 0.5},
                "HIGH_VOL": {},
            },
        },
        "entry": {"threshold": 0.3},
    },
    # mode options
    "options_bull_put": {
        "mode": "options",
        "indicators": {"dual_sma": {"params": {"fast": 10, "slow": 20}}},
        "options": {
            "bullish": "bull_put",
            "bearish": None,
            "dte": 45,
            "short_delta": 0.30,
            "width": 5.0,
            "profit_take": 0.5,
            "stop": 2.0,
        },
    },  # fmt: skip
    "options_iron_condor": {
        "mode": "options",
        "indicators": {"rsi": {}},
        "entry": {"threshold": 0.5},
        "options": {
            "bullish": None,
            "bearish": None,
            "neutral": "iron_condor",
            "dte": 45,
            "short_delta": 0.16,
            "width": 10.0,
            "profit_take": 0.5,
            "stop": 2.0,
            "dte_exit": 21,
        },
    },  # fmt: skip
    "options_long_straddle": {
        "mode": "options",
        "strategy": "buy_and_hold",
        "exits": {"max_bars": 10},
        "options": {"bullish": "long_straddle", "bearish": None, "dte": 30, "profit_take": 0.5},
    },  # fmt: skip
}


def preset_names() -> list[str]:
    """Names of every preset."""
    return list(PRESETS)


def preset(name: str, symbol: str = "", **overrides: Any) -> RunConfig:
    """The RunConfig of preset ``name`` for ``symbol``, with ``overrides`` applied.

    ``overrides`` are top-level RunConfig fields; a section given as a dict is merged into the
    preset's (see :meth:`RunConfig.replace`). The preset name is added to ``tags``.
    """
    if name not in PRESETS:
        raise RunConfigError(f"unknown preset {name!r}; presets are {preset_names()}")
    cfg = RunConfig.from_dict({**PRESETS[name], "tags": [f"preset:{name}"]})
    if symbol:
        cfg = cfg.replace(dataset={"symbol": symbol})
    return cfg.replace(**overrides) if overrides else cfg
