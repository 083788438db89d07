"""What the workbench shows instead of raw JSON: a signal's context, rules and score as tables
with units, the strategy scorecard in the demo's units, and the gaps of an equity curve.

Meanings come from the table declarations (``flow.flow_context`` documents every context field
with its unit), so a field added there is explained here without a second list.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.research.gaps import missing_sessions
from primeflow_lib.schema import table

#: context fields that are not columns of flow.flow_context (computed by the strategies)
EXTRA_MEANINGS = {
    "repeat_days": "sessions of the last 5 with an order in the same contract and direction",
    "gex_wall_room": "room to the nearest dealer wall in the order's direction (soft check)",
}

#: the strategy scorecard as the demo prints it: (mart column, label, kind)
SCORECARD = (
    ("kind", "kind", "text"), ("signals", "signals", "count"), ("closed", "closed", "count"),
    ("tp", "TP", "count"), ("sl", "SL", "count"), ("timeout", "timeout", "count"),
    ("open", "open", "count"), ("win_rate", "win rate", "ratio"),
    ("avg_return", "avg return %", "pct"), ("total_return", "total return %", "pct"),
    ("avg_strength", "avg strength (0-1)", "ratio"), ("avg_option_pnl_usd", "avg option P&L (USD)", "usd"),
)  # fmt: skip


def _meanings() -> dict[str, str]:
    out = {c.name: c.doc for c in table("flow.flow_context").columns}
    out.update(EXTRA_MEANINGS)
    return out


def _is_missing(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT


def format_value(name: str, value: Any, meaning: str = "") -> str:
    """One context value for people: fractions (``*_dist``, returns, volatility) as percent,
    USD amounts with a dollar sign (``gex_total`` in USD millions), RVOL as a multiple, flags as
    yes/no, missing values as ``n/a``."""
    if _is_missing(value):
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
        if name == "gex_total":
            return f"${v / 1e6:,.1f}M per 1 % move"
        if name.endswith(("_dist", "_ret")) or name in ("regime_vol", "daily_ret", "ret_15m"):
            return f"{v:+.2%}" if name != "regime_vol" else f"{v:.1%}"
        if name == "rvol":
            return f"{v:.2f}x"
        if "USD" in meaning:
            return f"${v:,.2f}"
        if v.is_integer():
            return f"{int(v):,}"
        return f"{v:,.4g}"
    text = str(value)
    return text[:10] if re.fullmatch(r"\d{4}-\d\d-\d\d( 00:00:00)?", text) else text


def context_table(context: Mapping[str, Any]) -> pd.DataFrame:
    """``field, value, meaning`` for a signal's context (``context_json`` and the flow_context
    row), in the order of the flow_context declaration (then any other field, sorted)."""
    meanings = _meanings()
    order = [c for c in meanings if c in context] + sorted(k for k in context if k not in meanings)
    skip = {"trade_date", "event_id", "ticker", "ts"}
    rows = [(k, format_value(k, context[k], meanings.get(k, "")), meanings.get(k, ""))
            for k in order if k not in skip]
    return pd.DataFrame(rows, columns=["field", "value", "meaning"])


_OP = re.compile(r"\s*(<=|>=|<|>)\s*")


def _rule_text(rule: str) -> str:
    """``premium>=250000`` -> ``premium >= $250,000``; ``|otm|<=0.15`` -> ``|otm| <= 15%``;
    ``14<=dte<=120`` -> ``14 <= dte <= 120``; a name alone (``not_late``) -> ``not late``."""
    parts = _OP.split(rule)
    if len(parts) == 1:
        return rule.replace("_", " ")
    name = next((x for x in parts[::2] if not re.fullmatch(r"[\d.]+", x)), "")
    out = []
    for i, x in enumerate(parts):
        if i % 2 or not re.fullmatch(r"[\d.]+", x):
            out.append(x.replace("_", " ") if i % 2 == 0 else x)
            continue
        n = float(x)
        if name == "premium":
            out.append(f"${n:,.0f}")
        elif "." in x and n < 1 and name in ("|otm|", "gex_wall_room"):
            out.append(f"{n:.0%}")
        else:
            out.append(x)
    return " ".join(out)


def rules_table(passed: Iterable[str] | None, failed: Iterable[str] | None) -> pd.DataFrame:
    """``rule, check, result`` for every rule of a signal: the gates it passed (all gates must
    pass for a signal to exist) and the soft checks it failed (recorded, never blocking)."""
    rows = [(r, _rule_text(r), "passed") for r in (passed or [])]
    rows += [(r, _rule_text(r), "failed (soft check: recorded, does not block)") for r in (failed or [])]
    return pd.DataFrame(rows, columns=["rule", "check", "result"])


def score_table(score: Mapping[str, Any] | None) -> pd.DataFrame:
    """``component, score`` (each in [0, 1]; ``strength`` is the blend the signal carries)."""
    rows = [(k.replace("_", " "), "n/a" if _is_missing(v) else f"{float(v):.2f}")
            for k, v in (score or {}).items()]
    return pd.DataFrame(rows, columns=["component", "score (0-1)"])


def scorecard_table(mart: pd.DataFrame) -> pd.DataFrame:
    """``marts.strategy_scorecard`` in the units the demo prints: counts, win rate and strength
    as 0-1 ratios to 3 decimals, returns in percent (``avg return %`` = mean underlying return
    of closed paper trades x 100), option P&L in USD; columns named with their unit."""
    out = {}
    for col, label, kind in SCORECARD:
        if col not in mart.columns:
            continue
        v = mart[col]
        if kind == "pct":
            v = (v.astype(float) * 100).round(3)
        elif kind == "ratio":
            v = v.astype(float).round(3)
        elif kind == "usd":
            v = v.astype(float).round(2)
        out[label] = v
    return pd.DataFrame(out)


def gap_segments(ts: Iterable[Any]) -> tuple[np.ndarray, list[tuple[str, str, int]]]:
    """For an equity curve's timestamps: a segment number per point that increases after every
    gap of missing NYSE sessions (so a chart draws each stretch as its own line, never a straight
    line across a gap), and the gaps as ``(last bar before, first bar after, sessions
    missing)``."""
    idx = pd.DatetimeIndex(list(ts))
    if len(idx) < 2:
        return np.zeros(len(idx), dtype=np.int64), []
    days = idx.normalize().to_numpy(dtype="datetime64[D]")
    missing = np.array(missing_sessions(days), dtype="datetime64[D]")
    # sessions missing strictly between consecutive points
    between = np.searchsorted(missing, days[1:], side="left") - np.searchsorted(missing, days[:-1], side="right")
    breaks = between > 0
    seg = np.r_[0, np.cumsum(breaks)].astype(np.int64)
    gaps = [(str(days[i]), str(days[i + 1]), int(between[i])) for i in np.flatnonzero(breaks)]
    return seg, gaps


def display_path(path: str | os.PathLike) -> str:
    """A path for screens and screenshots: relative to the working directory when inside it,
    else ``.../<folder>/<file>`` (no machine-specific prefix)."""
    p = Path(path)
    try:
        return str(p.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(Path("...", *p.parts[-2:]))
