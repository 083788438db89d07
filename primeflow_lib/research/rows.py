"""Frames shaped exactly like the ``research.*`` tables, for the assets that write them.

Each function computes on the bars it is given and returns rows with the declared columns in
declared order (:mod:`primeflow_lib.schema.research`). Indicators need history before the first
bar you want to store: load ``max_lookback`` extra bars before the partition and pass ``since``
(the partition's first session) so only the partition's rows come back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from primeflow_lib.research import indicators as ind
from primeflow_lib.research import regime as reg
from primeflow_lib.research.data import validate_bars
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.schema import research as schema


def params_id(params: Mapping) -> str:
    """12 hex digits of SHA-256 over resolved parameters (numbers as floats, keys sorted)."""
    canon = {k: float(v) for k, v in params.items()}
    return hashlib.sha256(json.dumps(canon, sort_keys=True).encode()).hexdigest()[:12]


def blend_id(config: RunConfig) -> str:
    """12 hex digits of SHA-256 over the config's indicators, regime and blend settings."""
    c = config.canonical()
    part = {k: c[k] for k in ("indicators", "regime", "blend", "strategy")}
    return hashlib.sha256(json.dumps(part, sort_keys=True).encode()).hexdigest()[:12]


def _frame(bars: pd.DataFrame) -> pd.DataFrame:
    return validate_bars(bars.drop(columns=["ticker", "vendor"], errors="ignore"), "bars")


def _base(frame: pd.DataFrame, ticker: str, timeframe: str) -> pd.DataFrame:
    ts = frame.index
    return pd.DataFrame(
        {"trade_date": ts.normalize().date, "ts": ts, "ticker": ticker, "timeframe": timeframe}
    )


def _since(df: pd.DataFrame, since: dt.date | None) -> pd.DataFrame:
    if since is None:
        return df.reset_index(drop=True)
    return df[df["ts"] >= pd.Timestamp(since)].reset_index(drop=True)


def _nullable(x: np.ndarray) -> pd.arrays.FloatingArray:
    """Floats with NaN/inf as missing, so DuckDB stores NULL rather than a NaN double."""
    x = np.asarray(x, dtype=np.float64)
    return pd.array(np.where(np.isfinite(x), x, np.nan), dtype="Float64")


def indicator_signal_rows(
    bars: pd.DataFrame,
    indicators: Mapping[str, Mapping[str, float] | None],
    ticker: str,
    timeframe: str = "1d",
    vendor: str | None = None,
    since: dt.date | None = None,
) -> pd.DataFrame:
    """Rows of ``research.indicator_signals`` for ``{key: params}`` on one ticker's bars (one
    block of rows per indicator, in the order given)."""
    cols = schema.INDICATOR_SIGNALS.column_names
    if not indicators:
        return pd.DataFrame(columns=cols)
    frame = _frame(bars)
    keep = np.ones(len(frame), bool) if since is None else frame.index >= pd.Timestamp(since)
    keys, ids, texts, values, signals = [], [], [], [], []
    for key, params in indicators.items():
        indicator = ind.get(key)
        resolved = indicator.resolve(params)
        out = indicator.compute(frame, resolved)
        keys.append(key)
        ids.append(params_id(resolved))
        texts.append(json.dumps(resolved, sort_keys=True))
        values.append(out.values.iloc[:, 0].to_numpy(dtype=np.float64)[keep])
        signals.append(out.signal.to_numpy(dtype=np.float64)[keep])
    base = _base(frame, ticker, timeframe)[keep]
    k, m = len(keys), len(base)

    def each(labels: list[str]) -> pd.arrays.ArrowStringArray:
        return pd.array(np.repeat(np.array(labels, dtype=object), m), dtype="str")

    return pd.DataFrame(
        {
            "trade_date": np.tile(base["trade_date"].to_numpy(), k),
            "ts": np.tile(base["ts"].to_numpy(), k),
            "ticker": ticker,
            "timeframe": timeframe,
            "indicator": each(keys),
            "params_id": each(ids),
            "params": each(texts),
            "value": _nullable(np.concatenate(values)),
            "signal": _nullable(np.concatenate(signals)),
            "vendor": vendor,
        }
    )[cols]


def regime_rows(
    bars: pd.DataFrame,
    params: Mapping[str, float] | None,
    ticker: str,
    timeframe: str = "1d",
    vendor: str | None = None,
    since: dt.date | None = None,
) -> pd.DataFrame:
    """Rows of ``research.regimes`` on one ticker's bars."""
    frame = _frame(bars)
    resolved = reg.resolve(params)
    probs = reg.regime_probabilities(frame, resolved)
    df = _base(frame, ticker, timeframe)
    df["params_id"] = params_id(resolved)
    for col in schema.REGIMES.column_names:
        if col in probs.columns and col != "regime":
            df[col] = _nullable(probs[col].to_numpy(dtype=np.float64))
    df["regime"] = probs["regime"].to_numpy()
    df["vendor"] = vendor
    return _since(df, since)[schema.REGIMES.column_names]


def blend_rows(
    bars: pd.DataFrame,
    config: RunConfig,
    ticker: str,
    timeframe: str | None = None,
    vendor: str | None = None,
    since: dt.date | None = None,
) -> pd.DataFrame:
    """Rows of ``research.blends``: the blended signal of ``config`` (its indicators, regime and
    blend sections) on one ticker's bars, exactly as :func:`run_backtest` computes it."""
    from primeflow_lib.research.runner import blended_signal

    frame = _frame(bars)
    signal, _, _, weights = blended_signal(config, frame)
    df = _base(frame, ticker, timeframe or config.dataset.timeframe)
    df["blend_id"] = blend_id(config)
    df["mode"] = config.blend.mode if config.strategy == "signals" else config.strategy
    df["signal"] = _nullable(signal.to_numpy(dtype=np.float64))
    if weights is not None:
        w = weights.to_numpy(dtype=np.float64)
        names = list(weights.columns)
        df["weights"] = [
            None
            if np.isnan(row).any()
            else json.dumps(dict(zip(names, map(float, row), strict=True)))
            for row in w
        ]  # one JSON text per bar: a Python loop, but over output rows, not the hot path
    else:
        df["weights"] = None
    df["vendor"] = vendor
    return _since(df, since)[schema.BLENDS.column_names]
