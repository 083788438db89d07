"""The filter language shared by the order tape and the alert rules.

A filter is a mapping of **field -> condition** (all conditions must hold)::

    premium: {gte: 500000}           # a mapping of operators (all must hold)
    side: [ask, above_ask]           # a list: "in"
    event_type: sweep                # a scalar: "eq"
    dte: {between: [0, 7]}
    tags: {any: [SWEEP, GOLDEN]}     # tags: any / all / none of the listed tags
    days_to_earnings: {gt: 5, or_unknown: true}
    ticker: {not_in: [SPY, QQQ]}

Operators by field type:

==========  ====================================================================
type        operators
==========  ====================================================================
number      ``eq ne gt gte lt lte between`` (``between: [lo, hi]``, inclusive)
integer     as number; values must be whole numbers
text        ``eq ne in not_in`` (a field with a fixed set of values rejects others)
bool        ``eq``
tags        ``any all none`` (a scalar or a list is ``any``)
every type  ``is_null: true|false``; ``or_unknown: true`` lets a row whose value is
            unknown (NULL) pass the other operators
==========  ====================================================================

**Unknown values**: every operator except ``is_null`` is false on a NULL value (so ``ne`` and
``not_in`` do not match an unknown value either), unless the condition says ``or_unknown:
true``. Text values of fields with a fixed vocabulary are matched case-insensitively and stored
in their canonical case; tickers are upper-cased.

Each :class:`Condition` evaluates two ways that agree (tested on random rows): :meth:`test` on
one value (the alert rules: a pure function over a row) and :meth:`sql` as a bound-parameter
SQL predicate (the tape: DuckDB over a whole day). Bad input raises :class:`CriteriaError`
naming where (``rule 'x': when.premium.gte``), the value and what was expected.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from primeflow_lib.flow.classify import EVENT_TYPES, SENTIMENTS, STRUCTURES
from primeflow_lib.flow.side import CONFIDENCE_LABELS, SIDE_LABELS
from primeflow_lib.models import SIGNAL_KINDS

#: opening/closing estimate labels (primeflow_lib.flow.open_interest)
OPEN_CLOSE: tuple[str, ...] = ("opening", "closing", "mixed", "pending", "unknown")
#: tags an order can carry on the tape and in order rules (definitions: primeflow_lib.flow.enrich)
ORDER_TAG_NAMES: tuple[str, ...] = (
    "SWEEP", "BLOCK", "ISO", "GOLDEN", "VOL>OI", "0DTE", "MULTI_LEG", "AGGRESSIVE", "LATE",
    "EXTENDED", "EARNINGS", "ETF",
)
#: tags a signal can carry (flow.signals.tags, plus EARNINGS / ETF / 0DTE added on evaluation)
SIGNAL_TAG_NAMES: tuple[str, ...] = (
    "SIZE", "SWEEP", "AGGRESSIVE", "VOL>OI", "TREND_CONFIRMED", "REPEAT", "BLOCK", "GOLDEN",
    "NEG_GAMMA", "EARNINGS", "ETF", "0DTE",
)

TYPES = ("number", "integer", "text", "bool", "tags")
OPERATORS: dict[str, tuple[str, ...]] = {
    "number": ("eq", "ne", "gt", "gte", "lt", "lte", "between", "is_null"),
    "integer": ("eq", "ne", "gt", "gte", "lt", "lte", "between", "is_null"),
    "text": ("eq", "ne", "in", "not_in", "is_null"),
    "bool": ("eq", "is_null"),
    "tags": ("any", "all", "none", "is_null"),
}
#: where a field can be used: the tape, rules on orders, rules on signals
SCOPES = ("tape", "order", "signal")


class CriteriaError(ValueError):
    """A filter or rule condition that cannot be used; the message names where, the value and
    what was expected."""


@dataclass(frozen=True)
class Field:
    """A filterable field.

    Attributes:
        name: the key in a filter and the column of the enriched rows.
        type: one of :data:`TYPES`.
        doc: meaning and unit.
        scopes: where it may be used (:data:`SCOPES`).
        values: the fixed vocabulary of a text or tags field (None: free text).
        upper: upper-case text values (tickers).
    """

    name: str
    type: str
    doc: str
    scopes: tuple[str, ...] = SCOPES
    values: tuple[str, ...] | None = None
    upper: bool = False


_T, _O, _S = "tape", "order", "signal"
_ALL = (_T, _O, _S)
_KINDS = (*SIGNAL_KINDS, "ORDER")

FIELDS: dict[str, Field] = {f.name: f for f in (
    # the order (flow.flow_events)
    Field("ticker", "text", "underlying symbol", upper=True),
    Field("event_type", "text", "order type", values=EVENT_TYPES),
    Field("structure", "text", "multi-leg structure (NULL: not multi-leg)", values=STRUCTURES),
    Field("side", "text", "aggressor side", values=SIDE_LABELS),
    Field("side_confidence", "text", "confidence of the side label", values=CONFIDENCE_LABELS),
    Field("sentiment", "text", "bullish | bearish | neutral", values=SENTIMENTS),
    Field("right", "text", "C (call) or P (put)", values=("C", "P")),
    Field("premium", "number", "premium, USD"),
    Field("size", "integer", "contracts"),
    Field("dte", "integer", "calendar days from the session to expiry (0 = 0DTE)"),
    Field("otm_pct", "number", "OTM distance, fraction of spot (negative: ITM)"),
    Field("vol_oi", "number", "day volume / open interest"),
    Field("iv", "number", "implied volatility from the previous snapshot, fraction"),
    Field("delta", "number", "delta from the previous snapshot, per share"),
    Field("n_prints", "integer", "prints in the order"),
    Field("n_exchanges", "integer", "exchanges in the order"),
    Field("day_volume", "integer", "contract volume so far in the session"),
    Field("open_interest", "integer", "open interest (previous snapshot)"),
    Field("spot", "number", "underlying price at the order, USD"),
    Field("has_iso", "bool", "a print carried an intermarket-sweep condition"),
    Field("is_late", "bool", "late / out-of-sequence print"),
    Field("is_extended", "bool", "extended-hours print"),
    # the market context (flow.flow_context / the signal's context_json)
    Field("regime", "text", "market regime", values=("BULL", "BEAR", "NEUTRAL", "HIGH_VOL", "UNKNOWN")),
    Field("trend_15m", "text", "15-minute trend", values=("UP", "DOWN", "FLAT")),
    Field("daily_trend", "text", "daily trend", values=("UP", "DOWN", "FLAT", "UNKNOWN")),
    Field("or_break", "text", "opening-range break", values=("UP", "DOWN", "INSIDE", "PENDING")),
    Field("gex_regime", "text", "dealer gamma regime", values=("POSITIVE", "NEGATIVE", "UNKNOWN")),
    Field("rvol", "number", "time-of-day relative volume"),
    Field("vwap_dist", "number", "spot / VWAP - 1"),
    # derived on read (primeflow_lib.flow.enrich)
    Field("days_to_earnings", "integer", "calendar days to the next report (NULL: unknown)"),
    Field("is_etf", "bool", "the ticker is in desk.etfs"),
    Field("sector", "text", "sector from desk.sectors (NULL: not mapped)"),
    Field("tags", "tags", "order tags (tape, order rules) or signal tags (signal rules)",
          values=tuple(dict.fromkeys((*ORDER_TAG_NAMES, *SIGNAL_TAG_NAMES)))),
    Field("open_close", "text", "opening/closing estimate from the next snapshot's OI change: "
          "known only after the session, so never available to rules", scopes=(_T,),
          values=OPEN_CLOSE),
    # the signal (flow.signals)
    Field("kind", "text", "signal kind (ORDER for order rules)", scopes=(_O, _S), values=_KINDS),
    Field("direction", "text", "BULLISH | BEARISH", scopes=(_S,), values=("BULLISH", "BEARISH")),
    Field("strength", "number", "signal strength, 0..1", scopes=(_S,)),
)}


def _is_missing(v: Any) -> bool:
    """None, NaN, and pandas' NA / NaT."""
    if v is None:
        return True
    if isinstance(v, float):
        return math.isnan(v)
    return type(v).__name__ in ("NAType", "NaTType")


def _num(v: Any) -> float | None:
    if _is_missing(v) or isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Condition:
    """One ``field operator value`` test (see the module doc for the semantics)."""

    field: str
    op: str
    value: Any
    or_unknown: bool = False

    def test(self, value: Any) -> bool:
        """Does one row's ``value`` of the field pass (NULL semantics as documented)?"""
        f = FIELDS[self.field]
        if self.op == "is_null":
            return _is_missing(value) == bool(self.value)
        if f.type == "tags":
            if _is_missing(value):
                return self.or_unknown
            have = {str(t) for t in (value.split(",") if isinstance(value, str) else value) if t}
            want = set(self.value)
            return {"any": bool(have & want), "all": want <= have, "none": not (have & want)}[self.op]
        if _is_missing(value):
            return self.or_unknown
        if f.type in ("number", "integer"):
            x = _num(value)
            if x is None:
                return self.or_unknown
            v = self.value
            if self.op == "between":
                return v[0] <= x <= v[1]
            return {"eq": x == v, "ne": x != v, "gt": x > v, "gte": x >= v, "lt": x < v,
                    "lte": x <= v}[self.op]
        if f.type == "bool":
            return bool(value) == self.value
        s = str(value).upper() if f.upper else str(value)
        if self.op == "eq":
            return s == self.value
        if self.op == "ne":
            return s != self.value
        if self.op == "in":
            return s in self.value
        return s not in self.value  # not_in

    def sql(self, column: str) -> tuple[str, list[Any]]:
        """``(predicate, params)`` over ``column`` (an identifier from the allow-list of the
        caller), with the same semantics as :meth:`test`."""
        f = FIELDS[self.field]
        c = column
        # NaN is an unknown number, as in test()
        unknown = f"({c} IS NULL OR isnan({c}::DOUBLE))" if f.type in ("number", "integer") else f"({c} IS NULL)"
        if self.op == "is_null":
            return (unknown if self.value else f"(NOT {unknown})"), []
        if f.type == "tags":
            body, params = {
                "any": (f"list_has_any({c}, ?::VARCHAR[])", [list(self.value)]),
                "all": (f"list_has_all({c}, ?::VARCHAR[])", [list(self.value)]),
                "none": (f"NOT list_has_any({c}, ?::VARCHAR[])", [list(self.value)]),
            }[self.op]
        elif f.type in ("number", "integer"):
            if self.op == "between":
                body, params = f"{c} BETWEEN ? AND ?", [float(self.value[0]), float(self.value[1])]
            else:
                sym = {"eq": "=", "ne": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[self.op]
                body, params = f"{c} {sym} ?", [float(self.value)]
            # NaN never passes a comparison here, as in test()
            body = f"(NOT isnan({c}::DOUBLE) AND {body})"
        elif f.type == "bool":
            body, params = f"{c} = ?", [bool(self.value)]
        else:
            col = f"upper({c})" if f.upper else c
            body, params = {
                "eq": (f"{col} = ?", [self.value]),
                "ne": (f"{col} <> ?", [self.value]),
                "in": (f"list_contains(?::VARCHAR[], {col})", [list(self.value)]),
                "not_in": (f"NOT list_contains(?::VARCHAR[], {col})", [list(self.value)]),
            }[self.op]
        if self.or_unknown:
            return f"({unknown} OR coalesce({body}, false))", params
        return f"coalesce({body}, false)", params

    def to_yaml(self) -> Any:
        """The condition in the filter language (for storing and showing)."""
        v = list(self.value) if isinstance(self.value, tuple) else self.value
        return {self.op: v, **({"or_unknown": True} if self.or_unknown else {})}


def _where(ctx: str, path: str) -> str:
    return f"{ctx}: {path}" if ctx else path


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _scalar(f: Field, v: Any, where: str) -> Any:
    """One value checked and normalised for field ``f``."""
    if f.type in ("number", "integer"):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise CriteriaError(f"{where}: must be a number, got {v!r} ({_type_name(v)})")
        if f.type == "integer" and float(v) != int(v):
            raise CriteriaError(f"{where}: must be a whole number, got {v!r}")
        return float(v)
    if f.type == "bool":
        if not isinstance(v, bool):
            raise CriteriaError(f"{where}: must be true or false, got {v!r} ({_type_name(v)})")
        return v
    if not isinstance(v, str) or not v.strip():
        raise CriteriaError(f"{where}: must be a non-empty text, got {v!r} ({_type_name(v)})")
    s = v.strip()
    if f.values is not None:
        canon = {x.upper(): x for x in f.values}
        if s.upper() not in canon:
            raise CriteriaError(
                f"{where}: unknown value {s!r} for {f.name}{_suggest(s, f.values)} "
                f"(one of {', '.join(f.values)})")
        return canon[s.upper()]
    return s.upper() if f.upper else s


def _list(f: Field, v: Any, where: str) -> tuple[Any, ...]:
    if isinstance(v, str) or not isinstance(v, (list, tuple)):
        raise CriteriaError(f"{where}: must be a list, got {v!r} ({_type_name(v)})")
    if not v:
        raise CriteriaError(f"{where}: must list at least one value")
    return tuple(_scalar(f, x, f"{where}[{i}]") for i, x in enumerate(v))


def parse_condition(name: str, spec: Any, *, scope: str, ctx: str = "", prefix: str = "") -> list[Condition]:
    """The conditions of one ``field: spec`` entry.

    Args:
        name: the field.
        spec: a scalar, a list or a mapping of operators (module doc).
        scope: ``tape``, ``order`` or ``signal``: fields outside their scope are refused.
        ctx: what is being parsed, for messages (``rule 'big_sweeps'``).
        prefix: the path of the mapping (``when.``).
    Raises:
        CriteriaError: unknown field, field not usable here, unknown operator, bad value.
    """
    path = f"{prefix}{name}"
    f = FIELDS.get(name)
    if f is None:
        usable = sorted(k for k, x in FIELDS.items() if scope in x.scopes)
        raise CriteriaError(f"{_where(ctx, path)}: unknown field {name!r}{_suggest(name, usable)} "
                            f"(fields: {', '.join(usable)})")
    if scope not in f.scopes:
        why = {"open_close": "it is known only after the next chain snapshot, so a rule (evaluated "
               "when the order happens) can never see it"}.get(name, f"it exists only for {' and '.join(f'{x}s' if x != 'tape' else 'the tape' for x in f.scopes)}")
        where_used = "a tape filter" if scope == "tape" else f"a rule on {scope}s"
        raise CriteriaError(f"{_where(ctx, path)}: field {name!r} cannot be used in {where_used}: {why}")
    if isinstance(spec, Mapping):
        ops = dict(spec)
        if not ops:
            raise CriteriaError(f"{_where(ctx, path)}: an empty mapping has no operator "
                                f"(one of {', '.join(OPERATORS[f.type])})")
        unknown_ok = ops.pop("or_unknown", False)
        if not isinstance(unknown_ok, bool):
            raise CriteriaError(f"{_where(ctx, path + '.or_unknown')}: must be true or false, got {unknown_ok!r}")
        if not ops:
            raise CriteriaError(f"{_where(ctx, path)}: or_unknown needs another operator")
        out = []
        for op, v in ops.items():
            where = _where(ctx, f"{path}.{op}")
            if op not in OPERATORS[f.type]:
                raise CriteriaError(f"{where}: unknown operator {op!r} for a {f.type} field"
                                    f"{_suggest(str(op), OPERATORS[f.type])} (one of {', '.join(OPERATORS[f.type])})")
            if op == "is_null":
                if not isinstance(v, bool):
                    raise CriteriaError(f"{where}: must be true or false, got {v!r}")
                out.append(Condition(name, op, v, False))
                continue
            if op in ("in", "not_in", "any", "all", "none"):
                vals = (v,) if f.type == "tags" and isinstance(v, str) else v
                value: Any = _list(f, vals, where)
            elif op == "between":
                value = _list(f, v, where)
                if len(value) != 2 or value[0] > value[1]:
                    raise CriteriaError(f"{where}: must be [low, high] with low <= high, got {v!r}")
            else:
                value = _scalar(f, v, where)
            out.append(Condition(name, op, value, unknown_ok))
        return out
    where = _where(ctx, path)
    if f.type == "tags":
        return [Condition(name, "any", _list(f, [spec] if isinstance(spec, str) else spec, where))]
    if isinstance(spec, (list, tuple)):
        if f.type != "text":
            raise CriteriaError(f"{where}: a list means 'in', which a {f.type} field does not have; "
                                f"use a mapping such as {{between: [low, high]}}")
        return [Condition(name, "in", _list(f, spec, where))]
    return [Condition(name, "eq", _scalar(f, spec, where))]


def parse_criteria(spec: Any, *, scope: str, ctx: str = "", prefix: str = "") -> tuple[Condition, ...]:
    """All conditions of a ``field -> condition`` mapping (None or empty: no condition)."""
    if spec is None:
        return ()
    if not isinstance(spec, Mapping):
        raise CriteriaError(f"{_where(ctx, prefix.rstrip('.') or 'filter')}: must be a mapping of "
                            f"field -> condition, got {spec!r} ({_type_name(spec)})")
    out: list[Condition] = []
    for name, cond in spec.items():
        out += parse_condition(str(name), cond, scope=scope, ctx=ctx, prefix=prefix)
    return tuple(out)


def criteria_to_yaml(conditions: Sequence[Condition]) -> dict[str, Any]:
    """Conditions back to the filter language (one mapping per field)."""
    out: dict[str, dict[str, Any]] = {}
    for c in conditions:
        out.setdefault(c.field, {}).update(c.to_yaml())
    return out


def matches(conditions: Sequence[Condition], row: Mapping[str, Any]) -> bool:
    """True when ``row`` passes every condition (a missing key is an unknown value)."""
    return all(c.test(row.get(c.field)) for c in conditions)


def where_sql(conditions: Sequence[Condition], columns: Mapping[str, str] | None = None) -> tuple[str, list[Any]]:
    """``(sql, params)``: the AND of every condition (``TRUE`` without any). ``columns`` maps a
    field to its SQL expression (default: the quoted field name)."""
    parts, params = [], []
    for c in conditions:
        col = (columns or {}).get(c.field, f'"{c.field}"')
        s, p = c.sql(col)
        parts.append(s)
        params += p
    return (" AND ".join(parts) if parts else "TRUE"), params
