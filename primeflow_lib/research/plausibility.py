"""Plausibility of research inputs: bars and sizing checked before a backtest or a tuning study,
as the flow side checks option prints (:mod:`primeflow_lib.flow.plausibility`).

:func:`~primeflow_lib.research.data.validate_bars` already refuses what cannot be a bar (a
missing or non-finite value, a price <= 0, a high below the open / close / low). This module
refuses bars that are well-formed but implausible, and sizes no account could hold:

``spike_multiple`` (default 50)
    A bar's **true range** (``max(high, previous close) - min(low, previous close)``; intraday,
    the first bar of a session uses ``high - low``: the overnight gap is not a spike) above
    this multiple of the median range of a *session* over the ``spike_lookback`` (20) sessions
    before it (of the whole series for the first five): daily, a session's range is its bar's
    true range; intraday, the session's high minus low, so a busy opening minute is never
    compared with the quiet minutes before it. Catches ``High = 1e308`` and a close 50x the
    previous one; an earnings gap of 20 % on a stock moving 2 % a day is 10x. Raise the
    multiple (or fix the row) when a move is real.
``weekend_bars`` (default ``refuse``)
    Daily bars (timeframe ``1d``) dated on a Saturday or Sunday: no US exchange has a session
    then. NYSE holidays are not refused (other markets trade on them) but each run on them gets
    a warning naming the dates. ``allow`` accepts weekend bars (a 7-day market).
``max_notional_multiple`` (default 100)
    The notional a run may put on at its first bar, as a multiple of capital: ``percent_equity``
    sizing above 100 (x equity), ``fixed_cash`` above 100 x capital, or option ``contracts`` x
    100 shares x the first close above 100 x capital (the issue's 1e9 contracts).

The settings are ``research.plausibility`` in the config. Every refusal is a
:class:`~primeflow_lib.research.errors.BarsError` / ``RunConfigError`` naming the field, the
value, the row and the date, and the key to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib.research.errors import BarsError, RunConfigError
from primeflow_lib.research.timeframes import DAILY

#: shares per option contract (the options engine's multiplier)
CONTRACT_SHARES = 100
WEEKEND_POLICIES = ("refuse", "allow")


@dataclass(frozen=True)
class PlausibilityRules:
    """``research.plausibility`` of the config (see the module docstring)."""

    spike_multiple: float = 50.0
    spike_lookback: int = 20
    weekend_bars: str = "refuse"
    max_notional_multiple: float = 100.0

    @classmethod
    def from_config(cls, cfg: dict[str, Any] | None = None) -> PlausibilityRules:
        """The rules of ``cfg`` (default: the loaded config; the defaults when it cannot be read:
        a broken config file is reported by the commands that load it)."""
        if cfg is None:
            from primeflow_lib.config import ConfigError, load_config

            try:
                cfg = load_config(with_api_keys=False)
            except ConfigError:
                return cls()
        r = dict((cfg.get("research") or {}).get("plausibility") or {})
        rules = cls(**{k: r[k] for k in cls.__dataclass_fields__ if k in r})
        if rules.weekend_bars not in WEEKEND_POLICIES:
            raise RunConfigError(f"research.plausibility.weekend_bars: {rules.weekend_bars!r} is not one of "
                                 f"{list(WEEKEND_POLICIES)}")
        return rules


def _true_range(frame: pd.DataFrame, intraday: bool) -> np.ndarray:
    high, low, close = (frame[c].to_numpy(dtype=np.float64) for c in ("high", "low", "close"))
    prev = np.r_[np.nan, close[:-1]]
    if intraday:
        days = frame.index.normalize().to_numpy()
        prev[1:][days[1:] != days[:-1]] = np.nan  # session opens: the overnight gap is not a spike
    with np.errstate(invalid="ignore"):
        tr = np.fmax(high, prev) - np.fmin(low, prev)
    return np.where(np.isnan(prev), high - low, tr)


def check_bars(frame: pd.DataFrame, timeframe: str, source: str,
               rules: PlausibilityRules | None = None) -> list[str]:
    """Refuse implausible bars (spikes, weekend dates at ``1d``) of a validated bar frame;
    return warnings for the run (NYSE holidays among daily bars).

    Raises:
        BarsError: naming the row (1-based), its date, the field, the value and the rule.
    """
    rules = rules or PlausibilityRules.from_config()
    warnings: list[str] = []
    if frame.empty:
        return warnings
    idx = frame.index
    daily = timeframe == DAILY
    if daily:
        wk = np.asarray(idx.day_of_week >= 5)
        if wk.any() and rules.weekend_bars == "refuse":
            pos = int(np.argmax(wk))
            raise BarsError(
                f"{source}: row {pos + 1}: field 'Date' value '{idx[pos].date()}' is a {idx[pos].day_name()}: "
                f"daily bars must be trading sessions ({int(wk.sum())} weekend date(s) in all; set "
                "research.plausibility.weekend_bars: allow for a market that trades every day)")
        lo, hi = calendar.calendar_bounds()  # outside the calendar's span nothing is known
        days = {d.date() for d in idx[~wk]}
        holidays = sorted(d for d in days if lo <= d <= hi and not calendar.is_session(d))
        if holidays:
            shown = ", ".join(str(d) for d in holidays[:5]) + (" ..." if len(holidays) > 5 else "")
            warnings.append(f"{source}: {len(holidays)} bar(s) dated on NYSE holidays ({shown}); "
                            "kept (another exchange may trade then)")
    tr = _true_range(frame, intraday=not daily)
    n = len(tr)
    if n < 6:
        return warnings
    # the scale is a session's range: daily, each bar's true range; intraday, each session's high
    # minus low (a minute bar is never compared with the quiet minutes before it, only with days)
    if daily:
        session_range = pd.Series(tr)
        bar_session = np.arange(n)
    else:
        key = idx.normalize()
        g = frame.groupby(key)
        session_range = pd.Series((g["high"].max() - g["low"].min()).to_numpy())
        bar_session = pd.Index(g["high"].max().index).get_indexer(key)
    lb = max(5, int(rules.spike_lookback))
    ref_s = session_range.shift(1).rolling(lb, min_periods=5).median().to_numpy()
    whole = float(np.nanmedian(session_range.to_numpy()))
    ref = np.where(np.isnan(ref_s), whole, ref_s)[bar_session]
    close = frame["close"].to_numpy(dtype=np.float64)
    # a flat series (range 0) still needs a scale: a hundredth of a percent of the price
    floor = 1e-4 * np.r_[close[0], close[:-1]]
    ref = np.fmax(ref, floor)
    with np.errstate(invalid="ignore", over="ignore"):
        ratio = tr / ref
    bad = ratio > float(rules.spike_multiple)
    if bad.any():
        pos = int(np.argmax(bad))
        row = frame.iloc[pos]
        field = max(("high", "low", "close", "open"),
                    key=lambda c: abs(float(row[c]) - float(close[pos - 1] if pos else row["open"])))
        raise BarsError(
            f"{source}: row {pos + 1} (date {_when(idx[pos])}): field {field.capitalize()!r} value "
            f"{float(row[field]):.6g}: the bar's true range {tr[pos]:.6g} is {ratio[pos]:,.0f}x the median "
            f"range of a session before it ({ref[pos]:.6g}), above research.plausibility.spike_multiple "
            f"({rules.spike_multiple:g}); fix the row, or raise the multiple if the move is real")
    return warnings


def _when(t: pd.Timestamp) -> str:
    return str(t.date()) if t == t.normalize() else str(t)


def check_sizing(config: Any, frame: pd.DataFrame, rules: PlausibilityRules | None = None) -> None:
    """Refuse a run whose first position would be beyond ``max_notional_multiple`` x capital
    (``config`` is a :class:`~primeflow_lib.research.runconfig.RunConfig`)."""
    rules = rules or PlausibilityRules.from_config()
    cap = float(config.capital)
    mult = float(rules.max_notional_multiple)
    key = "research.plausibility.max_notional_multiple"
    if config.mode == "options":
        o = config.options
        if o.sizing == "contracts" and len(frame):
            px = float(frame["close"].iloc[0])
            notional = float(o.contracts) * CONTRACT_SHARES * px
            if notional > mult * cap:
                raise RunConfigError(
                    f"options.contracts: {o.contracts:,} structures x {CONTRACT_SHARES} shares x ${px:,.2f} "
                    f"(first close, {_when(frame.index[0])}) = ${notional:,.0f} of underlying, "
                    f"{notional / cap:,.0f}x the capital ${cap:,.0f}; at most {mult:g}x ({key}): lower "
                    "--contracts or size by risk (--risk-fraction)")
        return
    s = config.sizing
    if s.mode == "percent_equity" and float(s.value) > mult:
        raise RunConfigError(
            f"sizing.value: {s.value:g} x equity per entry ({s.value * 100:,.0f} %) is more than {mult:g}x "
            f"({key}); 1.0 = all of the equity")
    if s.mode == "fixed_cash" and float(s.value) > mult * cap:
        raise RunConfigError(
            f"sizing.value: ${s.value:,.0f} per entry is {s.value / cap:,.0f}x the capital ${cap:,.0f}; at most "
            f"{mult:g}x ({key})")
