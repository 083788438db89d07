"""The order tape: every order of ``flow.flow_events`` (or ``live.flow_events``) for a session or
a range, enriched (:mod:`primeflow_lib.flow.enrich`), filtered in the filter language of
:mod:`primeflow_lib.flow.criteria`, sorted, and capped at ``limit`` rows with the count of
every match.

A tape query in dict form (what a saved preset stores, ``flow.tape_presets``)::

    {"where": {"premium": {"gte": 250000}, "side": ["ask", "above_ask"], "dte": {"gt": 0},
               "is_etf": false, "tags": {"any": ["SWEEP"]}},
     "sort": "-premium", "limit": 500, "source": "daily",
     "start": "2026-12-01", "end": "2026-12-04"}

``start`` / ``end`` are optional (default: the latest session with orders); a preset usually
leaves them out so it applies to whatever session is shown. ``sort`` is a column of
:data:`TAPE_COLUMNS`, ``-`` for descending. Unknown keys, fields, operators and values are
:class:`TapeError` naming them.

Speed: the session window is pushed into the scan and only :data:`TAPE_COLUMNS` are fetched;
``benchmarks/bench_tape.py`` measures filter-to-table on a full synthetic day.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from primeflow_lib.flow.criteria import (
    Condition,
    CriteriaError,
    criteria_to_yaml,
    parse_criteria,
    where_sql,
)
from primeflow_lib.flow.enrich import DeskSettings, orders_sql
from primeflow_lib.schema.desk import EARNINGS, OI_CHANGE, TAPE_PRESETS

#: where orders live, by source
EVENT_TABLES = {"daily": "flow.flow_events", "live": "live.flow_events"}
CONTEXT_TABLES = {"daily": "flow.flow_context", "live": None}
#: the columns a tape row shows (``tags`` comma-joined; the rest of the order: :func:`order_detail`)
TAPE_COLUMNS: tuple[str, ...] = (
    "last_ts", "ticker", "option_symbol", "expiry", "right", "strike", "event_type", "structure",
    "side", "sentiment", "premium", "size", "avg_price", "spot", "otm_pct", "dte", "vol_oi",
    "open_interest", "iv", "n_exchanges", "tags", "open_close", "days_to_earnings", "sector",
    "is_etf", "regime", "event_id", "trade_date", "vendor",
)
QUERY_KEYS = ("where", "sort", "limit", "source", "start", "end", "as_of")
MAX_LIMIT = 100_000
_PRESET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")

Fetch = Callable[[str, list[Any]], pd.DataFrame]


class TapeError(ValueError):
    """A tape query or preset that cannot run; the message names the key, the value and what
    was expected."""


def _day(v: Any, key: str) -> dt.date | None:
    if v is None or v == "":
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v))
    except ValueError:
        raise TapeError(f"tape {key}: {v!r} is not a date in YYYY-MM-DD form") from None


@dataclass(frozen=True)
class TapeQuery:
    """A validated tape query (see the module doc for the dict form)."""

    where: tuple[Condition, ...] = ()
    sort: str = "premium"
    descending: bool = True
    limit: int = 5000
    source: str = "daily"
    start: dt.date | None = None
    end: dt.date | None = None
    as_of: dt.date | None = None

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None, *, ctx: str = "tape") -> TapeQuery:
        """Validate the dict form. Raises :class:`TapeError` naming the key and value."""
        d = dict(d or {})
        unknown = [k for k in d if k not in QUERY_KEYS]
        if unknown:
            raise TapeError(f"{ctx}: unknown key(s) {unknown} (allowed: {', '.join(QUERY_KEYS)})")
        try:
            where = parse_criteria(d.get("where"), scope="tape", ctx=ctx, prefix="where.")
        except CriteriaError as exc:
            raise TapeError(str(exc)) from None
        sort = str(d.get("sort") or "-premium")
        desc = sort.startswith("-")
        col = sort.lstrip("-+")
        if col not in TAPE_COLUMNS:
            raise TapeError(f"{ctx}: sort: unknown column {col!r} (one of {', '.join(TAPE_COLUMNS)}; "
                            "prefix - for descending)")
        limit = d.get("limit", 5000)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise TapeError(f"{ctx}: limit must be a whole number 1..{MAX_LIMIT}, got {limit!r}")
        source = d.get("source", "daily")
        if source not in EVENT_TABLES:
            raise TapeError(f"{ctx}: source must be one of {', '.join(EVENT_TABLES)}, got {source!r}")
        start, end = _day(d.get("start"), "start"), _day(d.get("end"), "end")
        if start and end and end < start:
            raise TapeError(f"{ctx}: end {end} is before start {start}")
        return cls(where=where, sort=col, descending=desc, limit=limit, source=source, start=start,
                   end=end or start, as_of=_day(d.get("as_of"), "as_of"))

    def to_dict(self, *, with_dates: bool = True) -> dict[str, Any]:
        """The dict form (``with_dates=False``: without start / end / as_of, as a preset)."""
        out: dict[str, Any] = {"where": criteria_to_yaml(self.where),
                               "sort": ("-" if self.descending else "") + self.sort,
                               "limit": self.limit, "source": self.source}
        if with_dates:
            for k in ("start", "end", "as_of"):
                v = getattr(self, k)
                if v is not None:
                    out[k] = v.isoformat()
        return out


TOGGLES = ("include", "exclude", "only")


def simple_where(
    *,
    tickers: tuple[str, ...] | list[str] = (),
    event_types: tuple[str, ...] | list[str] = (),
    structures: tuple[str, ...] | list[str] = (),
    sides: tuple[str, ...] | list[str] = (),
    rights: tuple[str, ...] | list[str] = (),
    sentiments: tuple[str, ...] | list[str] = (),
    sectors: tuple[str, ...] | list[str] = (),
    min_premium: float | None = None,
    max_premium: float | None = None,
    min_size: int | None = None,
    max_size: int | None = None,
    min_dte: int | None = None,
    max_dte: int | None = None,
    zero_dte: str = "include",
    min_otm_pct: float | None = None,
    max_otm_pct: float | None = None,
    min_vol_oi: float | None = None,
    open_close: tuple[str, ...] | list[str] = (),
    etf: str = "include",
    tags: tuple[str, ...] | list[str] = (),
    exclude_tags: tuple[str, ...] | list[str] = (),
) -> dict[str, Any]:
    """The ``where`` mapping of the tape's usual filters (the CLI options and the Tape page's
    widgets): lists are "in" (tags: "any"), min / max are inclusive bounds, ``zero_dte`` and
    ``etf`` are ``include`` (no condition), ``exclude`` or ``only``. Empty / None: no condition."""
    for name, v in (("zero_dte", zero_dte), ("etf", etf)):
        if v not in TOGGLES:
            raise TapeError(f"tape {name}: must be one of {', '.join(TOGGLES)}, got {v!r}")
    w: dict[str, Any] = {}

    def put(field: str, op: str, value: Any) -> None:
        if value is None or (isinstance(value, (list, tuple)) and not value):
            return
        w.setdefault(field, {})[op] = list(value) if isinstance(value, (list, tuple)) else value

    put("ticker", "in", [t.strip().upper() for t in tickers if t.strip()])
    put("event_type", "in", event_types)
    put("structure", "in", structures)
    put("side", "in", sides)
    put("right", "in", rights)
    put("sentiment", "in", sentiments)
    put("sector", "in", sectors)
    put("premium", "gte", min_premium)
    put("premium", "lte", max_premium)
    put("size", "gte", min_size)
    put("size", "lte", max_size)
    put("dte", "gte", min_dte)
    put("dte", "lte", max_dte)
    if zero_dte == "exclude":
        put("dte", "gt", 0)
    elif zero_dte == "only":
        put("dte", "eq", 0)
    put("otm_pct", "gte", min_otm_pct)
    put("otm_pct", "lte", max_otm_pct)
    put("vol_oi", "gte", min_vol_oi)
    put("open_close", "in", open_close)
    if etf != "include":
        put("is_etf", "eq", etf == "only")
    put("tags", "any", tags)
    put("tags", "none", exclude_tags)
    return w


#: simple_where keyword -> (field, operator) for the list and bound filters
_SIMPLE = {
    "tickers": ("ticker", "in"), "event_types": ("event_type", "in"), "structures": ("structure", "in"),
    "sides": ("side", "in"), "rights": ("right", "in"), "sentiments": ("sentiment", "in"),
    "sectors": ("sector", "in"), "min_premium": ("premium", "gte"), "max_premium": ("premium", "lte"),
    "min_size": ("size", "gte"), "max_size": ("size", "lte"), "min_dte": ("dte", "gte"), "max_dte": ("dte", "lte"),
    "min_otm_pct": ("otm_pct", "gte"), "max_otm_pct": ("otm_pct", "lte"), "min_vol_oi": ("vol_oi", "gte"),
    "open_close": ("open_close", "in"), "tags": ("tags", "any"), "exclude_tags": ("tags", "none"),
}


def split_where(where: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The inverse of :func:`simple_where`: ``(simple_where keywords, the other conditions)``,
    so a preset opens in the Tape page's widgets with anything they cannot show kept aside."""
    rest: dict[str, dict[str, Any]] = {f: dict(c) if isinstance(c, Mapping) else {"eq": c} for f, c in where.items()}
    out: dict[str, Any] = {}
    for kw, (f, op) in _SIMPLE.items():
        if f in rest and op in rest[f] and not rest[f].get("or_unknown"):
            out[kw] = rest[f].pop(op)
    if "dte" in rest and rest["dte"].get("gt") == 0:
        rest["dte"].pop("gt")
        out["zero_dte"] = "exclude"
    elif "dte" in rest and rest["dte"].get("eq") == 0:
        rest["dte"].pop("eq")
        out["zero_dte"] = "only"
    if "is_etf" in rest and set(rest["is_etf"]) == {"eq"}:
        out["etf"] = "only" if rest.pop("is_etf")["eq"] else "exclude"
    return out, {f: c for f, c in rest.items() if c}


@dataclass
class TapeResult:
    """A tape page: ``rows`` (at most ``limit``, sorted), ``total`` matches, the sessions read,
    the seconds the query took and what is missing from this warehouse."""

    rows: pd.DataFrame
    total: int
    start: dt.date | None
    end: dt.date | None
    seconds: float
    notes: list[str] = field(default_factory=list)


def _fetch_from(con: Any) -> Fetch:
    return lambda sql, params: con.execute(sql, params).df()


def table_info(fetch: Fetch) -> tuple[set[str], set[str]]:
    """``(tables, columns of flow_events)`` present in the warehouse read by ``fetch``."""
    df = fetch("SELECT schema_name || '.' || table_name AS t, false AS s FROM duckdb_tables() UNION ALL "
               "SELECT schema_name || '.' || table_name, true FROM duckdb_columns() "
               "WHERE table_name = 'flow_events' AND column_name = 'structure'", [])
    return set(df.loc[~df["s"], "t"]), set(df.loc[df["s"], "t"])


def latest_session(fetch: Fetch, source: str = "daily") -> dt.date | None:
    """The newest session with orders in the source's table (None when there is none)."""
    tables, _ = table_info(fetch)
    t = EVENT_TABLES[source]
    if t not in tables:
        return None
    d = fetch(f"SELECT max(trade_date) AS d FROM {t}", [])["d"].iloc[0]
    return None if pd.isna(d) else pd.Timestamp(d).date()


def tape_sql(q: TapeQuery, settings: DeskSettings, *, start: dt.date, end: dt.date, tables: set[str],
             with_structure: set[str], columns: tuple[str, ...] = TAPE_COLUMNS) -> tuple[str, list[Any], list[str]]:
    """``(sql, params, notes)`` of one tape page over the tables present (``notes`` say which
    derived fields are unknown here and why)."""
    ev = EVENT_TABLES[q.source]
    if ev not in tables:
        raise TapeError(f"no table {ev} in this warehouse: materialize the flow assets (or run `make demo`)")
    ctx = CONTEXT_TABLES[q.source] if CONTEXT_TABLES[q.source] in tables else None
    earn = EARNINGS.fqn if EARNINGS.fqn in tables else None
    oic = OI_CHANGE.fqn if OI_CHANGE.fqn in tables else None
    notes = []
    if earn is None:
        notes.append("market.earnings is not in this warehouse: days_to_earnings is unknown everywhere")
    if oic is None:
        notes.append("marts.oi_change is not built: every opening/closing estimate is pending (run the marts job)")
    has_structure = ev in with_structure
    if not has_structure:
        used = [c.field for c in q.where if c.field == "structure"]
        if used:
            raise TapeError(f"{ev} has no structure column in this warehouse (multi-leg structures are "
                            "labelled by the classifier from the version that adds it): rebuild the flow tables")
        notes.append(f"{ev} has no structure column: structure is empty")
    base, params = orders_sql(ev, settings, context=ctx, earnings=earn, oi_change=oic,
                              has_structure=has_structure, as_of=q.as_of, sessions=(start, end))
    where, wparams = where_sql(q.where)
    # tags come back as text ("SWEEP,ISO"): a list column costs a Python object per row
    cols = ", ".join("array_to_string(tags, ',') AS tags" if c == "tags" else f'"{c}"' for c in columns)
    order = f'"{q.sort}" {"DESC" if q.descending else "ASC"} NULLS LAST, last_ts, event_id'
    sql = (f"SELECT {cols}, count(*) OVER () AS _total FROM ({base}) t WHERE {where} "
           f"ORDER BY {order} LIMIT {int(q.limit)}")
    return sql, [*params, *wparams], notes


def run_tape(q: TapeQuery, settings: DeskSettings, fetch: Fetch | Any) -> TapeResult:
    """Run a tape query with ``fetch(sql, params) -> DataFrame`` (or a DuckDB connection)."""
    if not callable(fetch):
        fetch = _fetch_from(fetch)
    t0 = time.perf_counter()
    tables, with_structure = table_info(fetch)
    start, end = q.start, q.end
    if start is None:
        start = end = latest_session(fetch, q.source)
        if start is None:
            return TapeResult(pd.DataFrame(columns=list(TAPE_COLUMNS)), 0, None, None,
                              time.perf_counter() - t0, [f"no orders in {EVENT_TABLES[q.source]} yet"])
    sql, params, notes = tape_sql(q, settings, start=start, end=end, tables=tables, with_structure=with_structure)
    df = fetch(sql, params)
    total = int(df["_total"].iloc[0]) if len(df) else 0
    return TapeResult(df.drop(columns="_total"), total, start, end, time.perf_counter() - t0, notes)


def order_detail(event_id: str, settings: DeskSettings, fetch: Fetch | Any, source: str = "daily") -> dict[str, Any]:
    """Everything behind one order: ``{"order": dict (enriched row, every column), "prints":
    DataFrame (flow.option_prints, time order), "context": dict (flow.flow_context row),
    "signals": DataFrame (signals scored on it), "alerts": DataFrame (outbox rows of those
    signals or of the order), "rule_hits": DataFrame}``.

    Raises:
        KeyError: no such order in the source's table.
    """
    if not callable(fetch):
        fetch = _fetch_from(fetch)
    tables, with_structure = table_info(fetch)
    ev = EVENT_TABLES[source]
    if ev not in tables:
        raise KeyError(f"no table {ev} in this warehouse")
    day = fetch(f"SELECT trade_date FROM {ev} WHERE event_id = ?", [event_id])
    if day.empty:
        raise KeyError(f"no order {event_id!r} in {ev}")
    d = pd.Timestamp(day["trade_date"].iloc[0]).date()
    ctx = CONTEXT_TABLES[source] if CONTEXT_TABLES[source] in tables else None
    base, params = orders_sql(ev, settings, context=ctx,
                              earnings=EARNINGS.fqn if EARNINGS.fqn in tables else None,
                              oi_change=OI_CHANGE.fqn if OI_CHANGE.fqn in tables else None,
                              has_structure=ev in with_structure, sessions=(d, d))
    order = fetch(f"SELECT * FROM ({base}) WHERE event_id = ?", [*params, event_id]).iloc[0].to_dict()
    ids = [p for p in str(order.get("print_ids") or "").split(",") if p]
    prints = pd.DataFrame()
    if ids and "flow.option_prints" in tables:
        prints = fetch("SELECT * FROM flow.option_prints WHERE trade_date = ? AND print_id IN "
                       "(SELECT unnest(?::VARCHAR[])) ORDER BY sip_ts, seq", [d, ids])
    context: dict[str, Any] = {}
    if ctx:
        c = fetch(f"SELECT * FROM {ctx} WHERE event_id = ?", [event_id])
        context = c.iloc[0].to_dict() if len(c) else {}
    sig_t = {"daily": "flow.signals", "live": "live.signals"}[source]
    signals = (fetch(f"SELECT signal_id, kind, direction, strength, tags, ts FROM {sig_t} WHERE event_id = ?",
                     [event_id]) if sig_t in tables else pd.DataFrame())
    keys = [event_id, *(signals["signal_id"].tolist() if len(signals) else [])]
    alerts = (fetch("SELECT channel, rule, mode, status, created_at, sent_at, message_text FROM live.alert_outbox "
                    "WHERE signal_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY created_at", [keys])
              if "live.alert_outbox" in tables else pd.DataFrame())
    hits = pd.DataFrame()
    for t in ("flow.rule_alerts", "live.rule_alerts"):
        if t in tables:
            h = fetch(f"SELECT '{t}' AS path, rule, outcome, channel, ts FROM {t} "
                      "WHERE row_id IN (SELECT unnest(?::VARCHAR[]))", [keys])
            hits = pd.concat([hits, h], ignore_index=True) if len(hits) else h
    return {"order": order, "prints": prints, "context": context, "signals": signals, "alerts": alerts,
            "rule_hits": hits}


# ------------------------------------------------------------------------------- presets


def _preset_name(name: Any) -> str:
    if not isinstance(name, str) or not _PRESET.match(name.strip()):
        raise TapeError(f"preset name must be 1-64 letters, digits, spaces, _ . or -, got {name!r}")
    return name.strip()


def save_preset(con: Any, name: str, query: TapeQuery | Mapping[str, Any], description: str | None = None,
                *, now: dt.datetime | None = None) -> TapeQuery:
    """Validate and store a preset (replacing one of the same name) in ``flow.tape_presets``;
    the caller commits (or runs in autocommit). Returns the stored query."""
    from primeflow_lib.warehouse import upsert_rows

    name = _preset_name(name)
    q = query if isinstance(query, TapeQuery) else TapeQuery.from_dict(query, ctx=f"preset {name!r}")
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    old = con.execute(f"SELECT created_at FROM {TAPE_PRESETS.fqn} WHERE name = ?", [name]).fetchall()
    row = pd.DataFrame([{"name": name, "filters_json": json.dumps(q.to_dict(with_dates=False)),
                         "description": description, "created_at": old[0][0] if old else now, "updated_at": now}])
    upsert_rows(con, TAPE_PRESETS, row)
    return q


def load_preset(fetch: Fetch | Any, name: str) -> TapeQuery:
    """The stored preset ``name``, validated again (a preset stored by an older version that no
    longer validates is a :class:`TapeError` naming it)."""
    if not callable(fetch):
        fetch = _fetch_from(fetch)
    df = fetch(f"SELECT filters_json FROM {TAPE_PRESETS.fqn} WHERE name = ?", [name])
    if df.empty:
        names = list_presets(fetch)["name"].tolist()
        raise TapeError(f"no tape preset {name!r} (saved: {', '.join(names) or 'none'})")
    return TapeQuery.from_dict(json.loads(df["filters_json"].iloc[0]), ctx=f"preset {name!r}")


def list_presets(fetch: Fetch | Any) -> pd.DataFrame:
    """``name, description, filters_json, updated_at`` of every preset, by name (empty when the
    table does not exist yet)."""
    if not callable(fetch):
        fetch = _fetch_from(fetch)
    tables, _ = table_info(fetch)
    if TAPE_PRESETS.fqn not in tables:
        return pd.DataFrame(columns=["name", "description", "filters_json", "updated_at"])
    return fetch(f"SELECT name, description, filters_json, updated_at FROM {TAPE_PRESETS.fqn} ORDER BY name", [])


def delete_preset(con: Any, name: str) -> bool:
    """Delete preset ``name``; False when there was none."""
    n = con.execute(f"DELETE FROM {TAPE_PRESETS.fqn} WHERE name = ? RETURNING name", [name]).fetchall()
    return bool(n)
