"""Enriched orders and signals: the rows the order tape filters and the alert rules evaluate.

One SQL definition (:func:`orders_sql`, :func:`signals_sql`) serves both: the tape runs it on the
read copy over a whole day, the rule paths run it on the rows of a batch (DuckDB over pandas
frames), so a tag or a derived field means the same on the tape, in a daily rule hit and in a
live alert.

Derived fields (beside the ``flow.flow_events`` / ``flow.signals`` columns and the context:
``regime``, ``trend_15m``, ``daily_trend``, ``or_break``, ``gex_regime``, ``rvol``,
``vwap_dist``):

* ``days_to_earnings``: calendar days from the session to the ticker's next report on or after
  it in ``market.earnings`` (any vendor; the earliest date wins), with ``earnings_date`` and
  ``earnings_source`` (the vendors that have that date). NULL / ``unknown`` when no stored
  source has a report on or after the session.
* ``is_etf`` (``desk.etfs``) and ``sector`` (``desk.sectors``; NULL when not mapped).
* ``tags``: a list. Orders: :data:`ORDER_TAGS` below. Signals: their stored tags plus
  ``EARNINGS``, ``ETF`` and ``0DTE`` computed the same way.
* ``open_close`` (orders on the tape only, never for rules): the opening/closing estimate from
  the next snapshot's OI change (:mod:`primeflow_lib.flow.open_interest`).
* ``kind``: the signal kind, ``ORDER`` for orders.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from primeflow_lib.flow.side import AGGRESSIVE_SIDES
from primeflow_lib.warehouse import scratch

#: context columns carried onto each order / signal row (flow.flow_context names)
CONTEXT_FIELDS: dict[str, str] = {
    "regime": "VARCHAR", "trend_15m": "VARCHAR", "daily_trend": "VARCHAR",
    "or_break": "VARCHAR", "gex_regime": "VARCHAR", "rvol": "DOUBLE", "vwap_dist": "DOUBLE",
}

_AGG = ", ".join(f"'{s}'" for s in sorted(AGGRESSIVE_SIDES))
_ASKS = "'ask', 'above_ask'"

#: order tags: name -> SQL predicate over the enriched order row ({golden} and {tag_days} are
#: the configured numbers). The one definition of each order tag.
ORDER_TAGS: dict[str, str] = {
    "SWEEP": "event_type = 'sweep'",
    "BLOCK": "event_type = 'block'",
    "ISO": "has_iso",
    "GOLDEN": f"event_type = 'sweep' AND side IN ({_ASKS}) AND vol_oi > 1 AND premium >= {{golden}}",
    "VOL>OI": "vol_oi > 1",
    "0DTE": "dte = 0",
    "MULTI_LEG": "event_type = 'multileg'",
    "AGGRESSIVE": f"side IN ({_AGG})",
    "LATE": "is_late",
    "EXTENDED": "is_extended",
    "EARNINGS": "days_to_earnings BETWEEN 0 AND {tag_days}",
    "ETF": "is_etf",
}
#: tags added to a signal's stored tags on evaluation (same predicates as for orders)
SIGNAL_EXTRA_TAGS = ("EARNINGS", "ETF", "0DTE")

_REL = re.compile(r"^(?:[a-z_]+\.[a-z_]+|_pf_[a-z_]+)$")


class DeskConfigError(ValueError):
    """A desk setting that cannot be used (a ticker in two sectors, ...)."""


@dataclass(frozen=True)
class DeskSettings:
    """The settings the enriched rows depend on (from config ``desk``, ``flow``, ``earnings``,
    ``tape``)."""

    etfs: tuple[str, ...] = ()
    sectors: tuple[tuple[str, str], ...] = ()  # (ticker, sector)
    tag_days: int = 7
    golden_min_premium: float = 1_000_000.0
    open_close_min_frac: float = 0.5

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> DeskSettings:
        """Read ``desk.etfs``, ``desk.sectors`` (each ticker in one sector only),
        ``earnings.tag_days``, ``flow.golden_min_premium`` and ``tape.open_close_min_frac``."""
        desk = cfg.get("desk") or {}
        seen: dict[str, str] = {}
        for sector, tickers in (desk.get("sectors") or {}).items():
            for t in tickers:
                t = str(t).upper()
                if t in seen and seen[t] != sector:
                    raise DeskConfigError(f"desk.sectors: {t} is in both {seen[t]!r} and {sector!r}; "
                                          "a ticker belongs to one sector")
                seen[t] = str(sector)
        frac = float((cfg.get("tape") or {}).get("open_close_min_frac", 0.5))
        if not 0 < frac <= 1:
            raise DeskConfigError(f"tape.open_close_min_frac must be in (0, 1], got {frac}")
        return cls(
            etfs=tuple(sorted({str(t).upper() for t in desk.get("etfs") or ()})),
            sectors=tuple(sorted(seen.items())),
            tag_days=int((cfg.get("earnings") or {}).get("tag_days", 7)),
            golden_min_premium=float((cfg.get("flow") or {}).get("golden_min_premium", 1e6)),
            open_close_min_frac=frac,
        )

    def sector_of(self, ticker: str) -> str | None:
        return dict(self.sectors).get(str(ticker).upper())


def _rel(name: str | None) -> str | None:
    if name is not None and not _REL.match(name):
        raise ValueError(f"relation {name!r} is not an allowed table name")
    return name


def _settings_ctes(s: DeskSettings) -> tuple[str, list[Any]]:
    """The ``_pf_etfs`` and ``_pf_sectors`` CTEs (bound parameters) and their parameters."""
    sql = ("_pf_etfs AS (SELECT unnest(?::VARCHAR[]) AS ticker), "
           "_pf_sectors AS (SELECT unnest(?::VARCHAR[]) AS ticker, unnest(?::VARCHAR[]) AS sector)")
    return sql, [list(s.etfs), [t for t, _ in s.sectors], [x for _, x in s.sectors]]


def _earnings_cte(earnings: str | None) -> str:
    if earnings is None:
        return ("_pf_next AS (SELECT NULL::VARCHAR AS ticker, NULL::DATE AS report_date, "
                "NULL::VARCHAR AS vendors WHERE false)")
    return (f"_pf_next AS (SELECT ticker, report_date, string_agg(DISTINCT vendor, ',' ORDER BY vendor) "
            f"AS vendors FROM {earnings} GROUP BY ticker, report_date)")


def _tags_sql(names: tuple[str, ...], s: DeskSettings) -> str:
    parts = [f"CASE WHEN {ORDER_TAGS[n].format(golden=float(s.golden_min_premium), tag_days=int(s.tag_days))} "
             f"THEN '{n}' END" for n in names]
    return "list_filter([" + ", ".join(parts) + "]::VARCHAR[], lambda x: x IS NOT NULL)"


def orders_sql(
    events: str,
    settings: DeskSettings,
    *,
    context: str | None = None,
    earnings: str | None = None,
    oi_change: str | None = None,
    has_structure: bool = True,
    as_of: dt.date | None = None,
    sessions: tuple[dt.date, dt.date] | None = None,
) -> tuple[str, list[Any]]:
    """``(sql, params)``: a SELECT of enriched orders over ``events`` (``flow.flow_events``
    columns); the parameters come first, so a caller may append its own (a WHERE).

    Args:
        events / context / earnings / oi_change: table names (``schema.table`` or a registered
            ``_pf_*`` frame); None leaves the fields they provide NULL.
        has_structure: ``events`` has the ``structure`` column (written since multi-leg
            structures are labelled); otherwise ``structure`` is NULL.
        as_of: the opening/closing estimate only uses OI changes dated on or before this day
            (None: every stored snapshot). Only the tape passes ``oi_change``.
        sessions: ``(first, last)``: only orders of these sessions (pushed into the scan).
    """
    ev, ctx, earn, oic = _rel(events), _rel(context), _rel(earnings), _rel(oi_change)
    ctx_cols = ", ".join(f"c.{k}" if ctx else f"NULL::{t} AS {k}" for k, t in CONTEXT_FIELDS.items())
    ctx_join = f"LEFT JOIN {ctx} c ON c.event_id = e.event_id" if ctx else ""
    cols = "e.* EXCLUDE (structure), e.structure" if has_structure else "e.*, NULL::VARCHAR AS structure"
    frac = float(settings.open_close_min_frac)
    if oic:
        # the next snapshot of the underlying exists (else: pending) and lists the contract (else: unknown)
        cut = f" AND trade_date <= DATE '{as_of.isoformat()}'" if as_of else ""
        span = (f" AND prev_date BETWEEN DATE '{sessions[0].isoformat()}' AND DATE '{sessions[1].isoformat()}'"
                if sessions else "")
        oc_cols = (", o.oi_change AS next_oi_change, ns.trade_date AS oi_snapshot_date, "
                   "CASE WHEN ns.trade_date IS NULL THEN 'pending' WHEN o.oi_change IS NULL THEN 'unknown' "
                   f"WHEN o.oi_change >= {frac} * x.size THEN 'opening' "
                   f"WHEN o.oi_change <= -{frac} * x.size THEN 'closing' ELSE 'mixed' END AS open_close")
        oc_join = (f"LEFT JOIN (SELECT DISTINCT underlying, prev_date, trade_date FROM {oic} WHERE true{cut}{span}) ns "
                   "ON ns.underlying = x.ticker AND ns.prev_date = x.trade_date "
                   f"LEFT JOIN (SELECT * FROM {oic} WHERE true{cut}{span}) o "
                   "ON o.option_symbol = x.option_symbol AND o.prev_date = x.trade_date")
    else:
        oc_cols = (", NULL::BIGINT AS next_oi_change, NULL::DATE AS oi_snapshot_date, "
                   "NULL::VARCHAR AS open_close")
        oc_join = ""
    tags = _tags_sql(tuple(ORDER_TAGS), settings)
    ctes, params = _settings_ctes(settings)
    where = ""
    if sessions is not None:
        where = "WHERE e.trade_date BETWEEN ? AND ?"
        params = [*params, sessions[0], sessions[1]]
        if ctx:
            ctx_join = ctx_join.replace(f"LEFT JOIN {ctx} c ON", f"LEFT JOIN (SELECT * FROM {ctx} WHERE trade_date "
                                        "BETWEEN ? AND ?) c ON")
            params += [sessions[0], sessions[1]]
    return f"""
WITH {ctes}, {_earnings_cte(earn)},
_pf_base AS (
    SELECT {cols}, {ctx_cols}, 'ORDER' AS kind
    FROM {ev} e {ctx_join} {where}
),
_pf_x AS (
    SELECT b.*, ne.report_date AS earnings_date, coalesce(ne.vendors, 'unknown') AS earnings_source,
           date_diff('day', b.trade_date, ne.report_date)::INTEGER AS days_to_earnings,
           (et.ticker IS NOT NULL) AS is_etf, sc.sector
    FROM _pf_base b
    ASOF LEFT JOIN _pf_next ne ON ne.ticker = b.ticker AND ne.report_date >= b.trade_date
    LEFT JOIN _pf_etfs et ON et.ticker = b.ticker
    LEFT JOIN _pf_sectors sc ON sc.ticker = b.ticker
)
SELECT x.*, {tags} AS tags{oc_cols}
FROM _pf_x x {oc_join}
""", params


def signals_sql(signals: str, settings: DeskSettings, *, earnings: str | None = None) -> tuple[str, list[Any]]:
    """``(sql, params)``: a SELECT of enriched signals over ``signals`` (``flow.signals`` columns): the context fields
    read from ``context_json``, the derived fields, and ``tags`` as a list (stored tags plus
    :data:`SIGNAL_EXTRA_TAGS`)."""
    sig, earn = _rel(signals), _rel(earnings)
    ctx_cols = ", ".join(
        f"TRY_CAST(json_extract_string(s.context_json, '$.{k}') AS {t}) AS {k}"
        for k, t in CONTEXT_FIELDS.items())
    extra = _tags_sql(SIGNAL_EXTRA_TAGS, settings)
    ctes, params = _settings_ctes(settings)
    return f"""
WITH {ctes}, {_earnings_cte(earn)},
_pf_x AS (
    SELECT s.* EXCLUDE (tags), string_split(coalesce(s.tags, ''), ',') AS stored_tags, {ctx_cols},
           ne.report_date AS earnings_date, coalesce(ne.vendors, 'unknown') AS earnings_source,
           date_diff('day', s.trade_date, ne.report_date)::INTEGER AS days_to_earnings,
           (et.ticker IS NOT NULL) AS is_etf, sc.sector
    FROM {sig} s
    ASOF LEFT JOIN _pf_next ne ON ne.ticker = s.ticker AND ne.report_date >= s.trade_date
    LEFT JOIN _pf_etfs et ON et.ticker = s.ticker
    LEFT JOIN _pf_sectors sc ON sc.ticker = s.ticker
)
SELECT x.* EXCLUDE (stored_tags),
       list_distinct(list_concat(list_filter(stored_tags, lambda t: t <> ''), {extra})) AS tags
FROM _pf_x x
""", params


def enrich_frames(
    *,
    settings: DeskSettings,
    events: pd.DataFrame | None = None,
    context: pd.DataFrame | None = None,
    signals: pd.DataFrame | None = None,
    earnings: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(orders, signals)`` enriched from in-memory rows (a batch of the near-live path or a
    streaming print), by the same SQL as the tape. ``earnings`` holds ``market.earnings`` rows
    (None: every ``days_to_earnings`` is unknown)."""
    has_earn = earnings is not None and len(earnings) > 0
    has_events = events is not None and len(events) > 0
    has_ctx = has_events and context is not None and len(context) > 0
    has_sigs = signals is not None and len(signals) > 0
    frames = {name: df for name, df, there in (("_pf_earnings", earnings, has_earn), ("_pf_events", events, has_events),
                                               ("_pf_context", context, has_ctx), ("_pf_signals", signals, has_sigs))
              if there}
    with scratch(frames) as con:
        orders = pd.DataFrame()
        if has_events:
            orders = con.execute(*orders_sql(
                "_pf_events", settings, context="_pf_context" if has_ctx else None,
                earnings="_pf_earnings" if has_earn else None,
                has_structure="structure" in events.columns)).df()
        sigs = pd.DataFrame()
        if has_sigs:
            sigs = con.execute(*signals_sql("_pf_signals", settings,
                                            earnings="_pf_earnings" if has_earn else None)).df()
        return orders, sigs
