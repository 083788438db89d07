"""The transactional outbox (``live.alert_outbox``): enqueueing alerts with their signals.

The scoring step writes its signals and their outbox rows in **one** DuckDB transaction::

    con.execute("BEGIN")
    ... write flow.signals ...
    enqueue_alerts(con, signals, cfg)       # no commit inside
    con.execute("COMMIT")

so an alert exists exactly when its signal does. ``alert_key`` = sha256(signal_id, channel,
FORMAT_VERSION) is the primary key and rows go in with ``INSERT ... ON CONFLICT DO NOTHING``:
scoring the same batch again inserts nothing and re-sends nothing, whatever state the first rows
reached. A :class:`~primeflow_lib.alerts.relay.Relay` then delivers pending rows.

The message text is rendered at enqueue time for the channel's type (HTML for Telegram, markdown
for Discord, ...), so the row holds exactly what is sent. If a channel's type changes in config
while rows are pending, those rows keep the text rendered for the old type.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pandas as pd

from primeflow_lib.alerts.formatting import (
    FORMAT_VERSION,
    REPLAY_MARKER,
    escape,
    format_alert,
    format_heartbeat,
    markup_for,
)
from primeflow_lib.alerts.routing import (
    AlertConfigError,
    channel_type,
    check_routing,
)
from primeflow_lib.alerts.rules import (
    EarningsGate,
    Hit,
    Rule,
    RuleState,
    all_rules,
    clean_row,
    evaluate_rows,
    hits_frame,
    stored_rules,
    uses_orders,
)
from primeflow_lib.flow.enrich import CONTEXT_FIELDS, DeskSettings, enrich_frames
from primeflow_lib.models import Signal
from primeflow_lib.redact import redact
from primeflow_lib.schema.alerts import ALERT_DELIVERIES, ALERT_OUTBOX
from primeflow_lib.schema.desk import ALERT_RULES, EARNINGS, LIVE_RULE_ALERTS
from primeflow_lib.warehouse import append_rows, upsert_rows

#: ``stream``: delivered by the streaming path's own relay (its outbox in the stream database);
#: the sensor path records it so it never sends the alert again
STATUSES = ("pending", "sending", "sent", "failed_permanent", "stream")
OUTBOX = ALERT_OUTBOX.fqn
DELIVERIES = ALERT_DELIVERIES.fqn


def utcnow() -> dt.datetime:
    """Now as naive UTC (the outbox's time zone)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def alert_key(signal_id: str, channel: str, format_version: int = FORMAT_VERSION) -> str:
    """sha256 hex of (signal_id, channel, format_version): the outbox primary key."""
    raw = "\x1f".join((str(signal_id), str(channel), str(format_version)))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def ensure_alert_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create schema ``live`` and the alert tables (outbox, deliveries, saved rules, rule hits)
    if they do not exist (idempotent)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS live")
    for t in (ALERT_OUTBOX, ALERT_DELIVERIES, ALERT_RULES, LIVE_RULE_ALERTS):
        con.execute(t.ddl())


def _as_signals(signals: Any) -> list[Signal]:
    if signals is None:
        return []
    if hasattr(signals, "to_dict") and hasattr(signals, "columns"):  # a DataFrame of flow.signals
        return [Signal.from_row(clean_row(r)) for r in signals.to_dict(orient="records")]
    out: list[Signal] = []
    for s in signals:
        if isinstance(s, Signal):
            out.append(s)
        elif isinstance(s, Mapping):
            out.append(Signal.from_row(clean_row(s)))
        else:
            raise TypeError(
                f"enqueue_alerts: expected Signal or mapping rows, got {type(s).__name__}"
            )
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item"):  # numpy scalar
        return _jsonable(v.item())
    if v is None or isinstance(v, (str, int, bool)):
        return v
    return str(v)


def signal_payload(signal: Signal) -> dict[str, Any]:
    """The signal's fields as JSON-ready values (what a generic webhook receives)."""
    return _jsonable(signal.to_dict())


def _to_date(v: Any) -> dt.date | None:
    if v is None:
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


_INSERT_COLS = (
    "alert_key",
    "signal_id",
    "short_id",
    "kind",
    "trade_date",
    "channel",
    "channel_type",
    "mode",
    "format_version",
    "message_text",
    "payload_json",
    "is_synthetic",
    "status",
    "created_at",
    "attempts",
    "next_attempt_at",
    "parts_sent",
    "rule",
)


#: where alerts of a replayed batch go unless the replay asks for live channels: a channel of this
#: name when ``alerts.channels`` declares one, else the console/file sink
REPLAY_CHANNEL = "replay"


def _replay_text(text: str, ctype: str, replay_of: str) -> str:
    return f"{escape(f'{REPLAY_MARKER} of {replay_of}', markup_for(ctype))} {text}"


def _signal_frame(signals: list[Signal]) -> pd.DataFrame:
    """``flow.signals``-shaped rows of ``signals`` (what the rule evaluation enriches)."""
    recs = []
    for s in signals:
        d = s.to_dict()
        d["tags"] = ",".join(s.tags)
        d["context_json"] = json.dumps(_jsonable(dict(s.context or {})))
        d.pop("context", None)
        d["print_ids"] = ",".join(s.print_ids)
        for k in ("rules_passed", "rules_failed"):
            d[k] = json.dumps(list(d[k]))
        recs.append(d)
    return pd.DataFrame(recs)


def order_as_signal(row: Mapping[str, Any], rule: str) -> Signal:
    """An order (an enriched ``flow.flow_events`` row) in the shape the alert formats read:
    kind ``ORDER``, its sentiment as the direction, its order tags, the rule as the rule
    triggered and no strength (shown as n/a)."""
    r = clean_row(row)
    senti = str(r.get("sentiment") or "neutral").upper()
    ctx = {k: r.get(k) for k in CONTEXT_FIELDS if r.get(k) is not None}
    if r.get("days_to_earnings") is not None:
        ctx["days_to_earnings"] = r["days_to_earnings"]
    if r.get("structure"):
        ctx["structure"] = r["structure"]
    tags = r.get("tags")
    return Signal(
        signal_id=str(r["event_id"]), trade_date=r["trade_date"], ts=r.get("last_ts"), kind="ORDER",
        ticker=str(r["ticker"]), option_symbol=str(r["option_symbol"]), expiry=r["expiry"],
        right=str(r["right"]), strike=float(r["strike"]), direction=senti, strength=float("nan"),
        tags=tuple(str(t) for t in (tags if tags is not None else ())), event_id=str(r["event_id"]),
        event_type=str(r["event_type"]), side=str(r["side"]), premium=float(r["premium"]),
        size=int(r["size"]), avg_price=float(r["avg_price"]), n_exchanges=int(r["n_exchanges"]),
        spot=r.get("spot"), dte=int(r["dte"]), vendor=str(r["vendor"]), context=ctx,
        rules_passed=(f"rule:{rule}",), print_ids=tuple(p for p in str(r.get("print_ids") or "").split(",") if p),
    )


@dataclass
class RuleAlerts:
    """What the rule evaluation of one batch produced.

    Attributes:
        rows: outbox rows (tuples in ``_INSERT_COLS`` order), one per (row, channel) alerted.
        hits: every rule hit (alerts and suppressed ones), in evaluation order.
        alert_keys: hit id -> the outbox key its alert went out under.
    """

    rows: list[tuple]
    hits: list[Hit]
    alert_keys: dict[str, str]


def evaluate_alerts(
    signals: Any,
    cfg: Mapping[str, Any],
    *,
    now: dt.datetime | None = None,
    rules: Sequence[Rule] | None = None,
    state: RuleState | None = None,
    events: pd.DataFrame | None = None,
    context: pd.DataFrame | None = None,
    earnings: pd.DataFrame | None = None,
    replay_of: str | None = None,
    replay_to_live: bool = False,
    status: str = "pending",
) -> RuleAlerts:
    """Evaluate the alert rules (:mod:`primeflow_lib.alerts.rules`) on ``signals`` (and on the
    orders ``events`` + ``context`` when a rule is on orders) and format one outbox row per
    alert; no database needed.

    Args:
        rules: default the built-in and config rules (:func:`all_rules` without stored rules).
        state: cooldown / cap memory; default empty (it is updated in place).
        earnings: ``market.earnings`` rows for ``days_to_earnings`` (None: unknown).
        replay_of: the replayed session (ISO date) when the batch is a replay: every alert's text
            starts with ``[REPLAY] of <date>``, its payload has ``"replay_of"``, and it goes to
            :data:`REPLAY_CHANNEL` instead of the rule's channel unless ``replay_to_live``.
        status: the rows' outbox status (``pending``; ``stream`` for alerts the streaming path
            delivered, see :func:`enqueue_alerts`).
    Raises:
        AlertConfigError: a broken routing or rule (unknown channel, field, operator...).
    """
    problems = check_routing(cfg)
    if problems:
        raise AlertConfigError("alerts configuration: " + "; ".join(problems))
    rules = all_rules(cfg) if rules is None else list(rules)
    state = RuleState() if state is None else state
    gate = EarningsGate.from_config(cfg)
    now = now or utcnow()
    sigs = _as_signals(signals)
    by_id = {s.signal_id: s for s in sigs}
    settings = DeskSettings.from_config(cfg)
    orders, enriched = enrich_frames(
        settings=settings, signals=_signal_frame(list(by_id.values())) if by_id else None,
        events=events if uses_orders(rules) else None, context=context, earnings=earnings)
    rows_in = [clean_row(r) for r in enriched.to_dict(orient="records")]
    rows_in += [clean_row(r) for r in orders.to_dict(orient="records")]
    order_by_id = {r["event_id"]: r for r in rows_in if r.get("kind") == "ORDER"}
    hits = evaluate_rows(rows_in, rules, state, gate)
    out: list[tuple] = []
    keys: dict[str, str] = {}
    for i, h in enumerate(hits):
        if h.outcome != "alert":
            continue
        if replay_of and not replay_to_live:
            # the hit records where the alert really went
            h = hits[i] = dataclasses.replace(h, channel=REPLAY_CHANNEL)
        if h.applies_to == "order":
            sig = order_as_signal(order_by_id[h.row_id], h.rule)
            key_id = f"order:{h.row_id}"
        else:
            sig = by_id[h.row_id]
            key_id = h.row_id
        ctype = channel_type(cfg, h.channel)
        mode, text = format_alert(sig, ctype, h.mode)
        key = alert_key(key_id, h.channel)
        keys[h.hit_id] = key
        payload = {**signal_payload(sig), "rule": h.rule}
        if replay_of:
            text = _replay_text(text, ctype, replay_of)
            payload["replay_of"] = replay_of
        out.append((key, sig.signal_id, sig.short_id, str(sig.kind), _to_date(sig.trade_date), h.channel,
                    ctype, mode, FORMAT_VERSION, text, json.dumps(payload, allow_nan=False),
                    bool(sig.is_synthetic), status, now, 0, now, 0, h.rule))
    return RuleAlerts(rows=out, hits=hits, alert_keys=keys)


def outbox_rows(
    signals: Any, cfg: Mapping[str, Any], *, now: dt.datetime | None = None,
    replay_of: str | None = None, replay_to_live: bool = False, status: str = "pending",
) -> list[tuple]:
    """The outbox rows (tuples in ``_INSERT_COLS`` order) for ``signals`` under ``cfg``'s
    built-in and config rules, from a fresh state, in ``status``; no database needed. Raises
    :class:`AlertConfigError` for a broken routing or rule.

    ``replay_of`` (the replayed session, ISO date) marks alerts of a replayed batch: the text
    starts with ``[REPLAY] of <date>``, the payload has ``"replay_of"``, and the row goes to
    :data:`REPLAY_CHANNEL` instead of the live route unless ``replay_to_live``."""
    return evaluate_alerts(signals, cfg, now=now, replay_of=replay_of, replay_to_live=replay_to_live,
                           status=status).rows


def _insert(con: duckdb.DuckDBPyConnection, rows: Sequence[tuple]) -> list[str]:
    """INSERT ... ON CONFLICT DO NOTHING in one statement (atomic even under autocommit);
    returns the keys actually inserted."""
    if not rows:
        return []
    # One multi-row VALUES statement per call: a single statement is all-or-nothing, which
    # matters when the caller runs in autocommit mode. Duplicates inside the batch are dropped
    # first (ON CONFLICT does not cover two new rows with one key).
    seen: dict[str, tuple] = {}
    for r in rows:
        seen.setdefault(r[0], r)
    uniq = list(seen.values())
    ph = "(" + ", ".join(["?"] * len(_INSERT_COLS)) + ")"
    cols = ", ".join(_INSERT_COLS)
    inserted: list[str] = []
    # Chunks keep each statement's parameter count moderate; a caller wanting all chunks
    # atomic runs them inside its transaction, as documented.
    for i in range(0, len(uniq), 500):
        chunk = uniq[i : i + 500]
        sql = (
            f"INSERT INTO {OUTBOX} ({cols}) VALUES "
            + ", ".join([ph] * len(chunk))
            + " ON CONFLICT DO NOTHING RETURNING alert_key"
        )
        params = [v for r in chunk for v in r]
        inserted += [k for (k,) in con.execute(sql, params).fetchall()]
    return inserted


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return (schema, name) in _tables_present(con, [(schema, name)])


def _tables_present(con: duckdb.DuckDBPyConnection, wanted: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of the ``(schema, table)`` pairs exist, in one catalog query (a commit of the
    streaming path asks for three: one query each cost it milliseconds)."""
    rows = con.execute(
        "SELECT table_schema, table_name FROM information_schema.tables "
        "WHERE (table_schema, table_name) IN (SELECT (unnest(?::VARCHAR[]), unnest(?::VARCHAR[])))",
        [[s for s, _ in wanted], [n for _, n in wanted]]).fetchall()
    return {(str(a), str(b)) for a, b in rows}


def load_rules(con: duckdb.DuckDBPyConnection | None, cfg: Mapping[str, Any], *,
               stored_table: bool | None = None) -> list[Rule]:
    """Every rule: built-in, ``alerts.rules`` and the rules saved in ``live.alert_rules`` (when
    ``con`` is given and the table exists; ``stored_table``: whether it exists, when the caller
    already knows), validated together."""
    stored = []
    if con is not None and (_has_table(con, "live", "alert_rules") if stored_table is None else stored_table):
        stored = stored_rules(con.execute(f"SELECT name, rule_json, enabled FROM {ALERT_RULES.fqn} "
                                          "ORDER BY name").df())
    return all_rules(cfg, stored)


def load_rule_state(con: duckdb.DuckDBPyConnection, days: Sequence[dt.date]) -> RuleState:
    """The cooldown and cap memory of sessions ``days``: their ``live.rule_alerts`` rows
    (an empty state when the table does not exist)."""
    if not _has_table(con, "live", "rule_alerts"):
        return RuleState()
    return _read_rule_state(con, days)


def _read_rule_state(con: duckdb.DuckDBPyConnection, days: Sequence[dt.date]) -> RuleState:
    return RuleState.from_hits(con.execute(
        f"SELECT * FROM {LIVE_RULE_ALERTS.fqn} WHERE trade_date IN (SELECT unnest(?::DATE[]))",
        [list(days)]).df())


@dataclass
class AlertInputs:
    """What :func:`enqueue_alerts` reads besides the signals, held by a caller that is the
    database's only writer and commits often (the streaming path's writer): reading the rules,
    the earnings dates and the session's rule hits again at every commit cost it milliseconds,
    the hits a Python pass over the whole session's hits.

    Attributes:
        rules: every rule (:func:`load_rules`).
        earnings: ``market.earnings`` rows (None: earnings unknown).
        days: the sessions ``state`` remembers.
        state: their cooldown and cap memory (:func:`load_rule_state`); :func:`enqueue_alerts`
            updates it in place, so a caller whose transaction then fails must drop it.
    """

    rules: list[Rule]
    earnings: pd.DataFrame | None
    days: tuple[dt.date, ...] = ()
    state: RuleState | None = None


def enqueue_alerts(
    con: duckdb.DuckDBPyConnection,
    signals: Any,
    cfg: Mapping[str, Any],
    *,
    now: dt.datetime | None = None,
    replay_of: str | None = None,
    replay_to_live: bool = False,
    events: pd.DataFrame | None = None,
    context: pd.DataFrame | None = None,
    status: str = "pending",
    inputs: AlertInputs | None = None,
) -> int:
    """Evaluate the alert rules on ``signals`` (and on the orders ``events`` when a rule is on
    orders), add one outbox row per alert and record every rule hit in ``live.rule_alerts``.
    The rows are ``pending`` (the relay sends them) or ``stream`` (the streaming path sent them
    from its own outbox: recorded, never sent from this one).

    Runs inside the caller's transaction and never commits: write the signals and call this
    between the caller's ``BEGIN`` and ``COMMIT``. The tables must exist
    (:func:`ensure_alert_tables` or the warehouse's ``ensure_tables``). The cooldown and cap
    memory is the session's ``live.rule_alerts`` rows; a (rule, row) pair already recorded is
    not evaluated again, so scoring the same batch twice enqueues nothing new.

    Args:
        con: an open DuckDB connection (ideally inside a transaction).
        signals: a DataFrame of ``flow.signals`` rows, or an iterable of :class:`Signal` or of
            row mappings.
        cfg: the loaded config (``alerts.routing`` / ``alerts.channels`` / ``alerts.rules`` are
            used; no environment variable is read here).
        now: enqueue time (naive UTC); default now.
        replay_of / replay_to_live: alerts of a replayed batch (:func:`outbox_rows`): marked
            ``[REPLAY]`` and sent to :data:`REPLAY_CHANNEL` unless ``replay_to_live``.
        events / context: the batch's ``flow.flow_events`` / ``flow.flow_context`` rows, for
            rules on orders.
        inputs: the rules, earnings and rule state held by the caller (:class:`AlertInputs`)
            instead of reading them from ``con``; its state is used when it remembers exactly
            the batch's sessions, else read from ``con`` and kept in it.
    Returns:
        Rows inserted (0 when every alert was already enqueued).
    Raises:
        AlertConfigError: a routing or rule problem (unknown kind, route or rule to an
            undeclared channel, unknown field...), before anything is read or written.
    """
    if status not in ("pending", "stream"):
        raise ValueError(f"enqueue_alerts: status must be 'pending' or 'stream', got {status!r}")
    problems = check_routing(cfg)
    if problems:
        raise AlertConfigError("alerts configuration: " + "; ".join(problems))
    all_rules(cfg)  # config problems before any table is touched
    sigs = _as_signals(signals)
    has_orders = events is not None and len(events) > 0
    if not sigs and not has_orders:
        return 0
    days = sorted({_to_date(s.trade_date) for s in sigs}
                  | ({_to_date(d) for d in pd.to_datetime(events["trade_date"]).dt.date} if has_orders else set()))
    tickers = sorted({s.ticker for s in sigs} | (set(events["ticker"].astype(str)) if has_orders else set()))
    if inputs is not None:
        rules = inputs.rules
        earnings = inputs.earnings
        if earnings is not None:
            earnings = earnings[earnings["ticker"].isin(tickers)].reset_index(drop=True)
        if inputs.state is None or tuple(days) != inputs.days:
            inputs.state, inputs.days = load_rule_state(con, days), tuple(days)
        state = inputs.state
    else:
        present = _tables_present(con, [("live", "alert_rules"), ("live", "rule_alerts"), ("market", "earnings")])
        rules = load_rules(con, cfg, stored_table=("live", "alert_rules") in present)
        state = _read_rule_state(con, days) if ("live", "rule_alerts") in present else RuleState()
        earnings = None
        if ("market", "earnings") in present:
            earnings = con.execute(f"SELECT * FROM {EARNINGS.fqn} WHERE ticker IN (SELECT unnest(?::VARCHAR[]))",
                                   [tickers]).df()
    res = evaluate_alerts(sigs, cfg, now=now, rules=rules, state=state, events=events, context=context,
                          earnings=earnings, replay_of=replay_of, replay_to_live=replay_to_live, status=status)
    inserted = _insert(con, res.rows)
    if res.hits:
        append_rows(con, LIVE_RULE_ALERTS, hits_frame(res.hits, res.alert_keys))
    return len(inserted)


def delivered_alerts(con: duckdb.DuckDBPyConnection, signal_ids: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The outbox rows (the columns :func:`record_delivered` takes) and the ``live.rule_alerts``
    hits of ``signal_ids`` in this database: what another database needs to know that these
    signals' alerts were decided and sent here (the streaming path's side files)."""
    ids = [str(i) for i in signal_ids]
    cols = ", ".join(_INSERT_COLS)
    alerts = con.execute(f"SELECT {cols} FROM {OUTBOX} WHERE signal_id IN (SELECT unnest(?::VARCHAR[]))",
                         [ids]).df()
    hits = (con.execute(f"SELECT * FROM {LIVE_RULE_ALERTS.fqn} WHERE row_id IN (SELECT unnest(?::VARCHAR[]))",
                        [ids]).df() if _has_table(con, "live", "rule_alerts") else pd.DataFrame())
    return alerts, hits


def record_delivered(con: duckdb.DuckDBPyConnection, alerts: pd.DataFrame, hits: pd.DataFrame) -> int:
    """Record alerts another outbox delivered (the streaming path's, from
    :func:`delivered_alerts` there): their rows with status ``stream`` (this relay never sends
    them) and their rule hits in ``live.rule_alerts``, so the rule evaluation here does not
    evaluate those (rule, row) pairs again and the cooldowns and caps count them. Runs inside
    the caller's transaction. Returns the outbox rows inserted (an alert key already here keeps
    its row)."""
    rows = []
    if len(alerts):
        missing = [c for c in _INSERT_COLS if c not in alerts.columns]
        if missing:
            raise ValueError(f"record_delivered: alert rows lack columns {missing}")
        a = alerts[list(_INSERT_COLS)].copy()
        a["status"] = "stream"
        for c in ("created_at", "next_attempt_at"):
            ts = pd.to_datetime(a[c])
            a[c] = (ts.dt.tz_localize(None) if ts.dt.tz is not None else ts).dt.to_pydatetime()
        a["trade_date"] = pd.to_datetime(a["trade_date"]).dt.date
        rows = [tuple(None if pd.isna(v) else (v.item() if hasattr(v, "item") else v) for v in r)
                for r in a.astype(object).itertuples(index=False, name=None)]
    inserted = _insert(con, rows)
    if len(hits):
        h = hits[LIVE_RULE_ALERTS.column_names].copy()
        h["trade_date"] = pd.to_datetime(h["trade_date"]).dt.date
        ts = pd.to_datetime(h["ts"])
        h["ts"] = ts.dt.tz_localize(None) if ts.dt.tz is not None else ts
        h["days_to_earnings"] = h["days_to_earnings"].astype("Int64")
        upsert_rows(con, LIVE_RULE_ALERTS, h)
    return len(inserted)


def enqueue_heartbeat(
    con: duckdb.DuckDBPyConnection,
    stats: Mapping[str, Any],
    cfg: Mapping[str, Any],
    *,
    now: dt.datetime | None = None,
    replay_of: str | None = None,
) -> bool:
    """Enqueue one heartbeat (:func:`~primeflow_lib.alerts.formatting.format_heartbeat`) to
    ``alerts.heartbeat_channel``, at most once per ``alerts.heartbeat_minutes`` window.

    Returns True when a row was inserted; False when no heartbeat channel is configured or this
    window already has one. A replayed batch's heartbeat (``replay_of``) is marked and goes to
    :data:`REPLAY_CHANNEL`: a replay says nothing about the live feed's health."""
    channel = _operator_channel(cfg)
    if not channel:
        return False
    if replay_of:
        channel = REPLAY_CHANNEL
    now = now or utcnow()
    minutes = max(1, int(cfg["alerts"].get("heartbeat_minutes") or 15))
    bucket = now.replace(second=0, microsecond=0)
    bucket -= dt.timedelta(minutes=(bucket.hour * 60 + bucket.minute) % minutes)
    hb_id = f"heartbeat:{bucket:%Y%m%dT%H%M}"
    ctype = channel_type(cfg, channel)
    text = format_heartbeat({"ts": now, **stats}, markup_for(ctype))
    if replay_of:
        text = _replay_text(text, ctype, replay_of)
    return bool(_insert(con, [_operator_row(hb_id, f"hb{bucket:%H%M}", bucket.date(), channel, ctype, text,
                                            stats, now)]))


def enqueue_operator_alert(
    con: duckdb.DuckDBPyConnection,
    alert_id: str,
    text: str,
    cfg: Mapping[str, Any],
    *,
    details: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Enqueue one operator message (e.g. "the stream stalled") to ``alerts.heartbeat_channel``,
    once per ``alert_id`` (kind ``HEARTBEAT``; ``text`` is escaped for the channel's markup).

    Returns True when a row was inserted; False when no heartbeat channel is configured or this
    id was enqueued before."""
    channel = _operator_channel(cfg)
    if not channel:
        return False
    now = now or utcnow()
    ctype = channel_type(cfg, channel)
    short = "op" + hashlib.sha256(alert_id.encode()).hexdigest()[:6]
    body = escape(redact(text), markup_for(ctype))
    return bool(_insert(con, [_operator_row(alert_id, short, now.date(), channel, ctype, body, dict(details or {}), now)]))


def _operator_channel(cfg: Mapping[str, Any]) -> str | None:
    """``alerts.heartbeat_channel`` (None when unset), after checking the routing."""
    channel = cfg.get("alerts", {}).get("heartbeat_channel")
    if not channel:
        return None
    problems = check_routing(cfg)
    if problems:
        raise AlertConfigError("alerts configuration: " + "; ".join(problems))
    return channel


def _operator_row(aid: str, short: str, day: dt.date, channel: str, ctype: str, text: str,
                  stats: Mapping[str, Any], now: dt.datetime) -> tuple:
    return (
        alert_key(aid, channel),
        aid,
        short,
        "HEARTBEAT",
        day,
        channel,
        ctype,
        "heartbeat",
        FORMAT_VERSION,
        text,
        json.dumps(_jsonable(dict(stats))),
        bool(stats.get("synthetic", False)),
        "pending",
        now,
        0,
        now,
        0,
        None,
    )


def requeue_failed(
    con: duckdb.DuckDBPyConnection,
    *,
    channel: str | None = None,
    keys: Iterable[str] | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Put ``failed_permanent`` rows back to ``pending`` (after fixing a channel's webhook or
    token), optionally only one channel's or the given keys. Returns rows re-queued."""
    now = now or utcnow()
    sql = (
        f"UPDATE {OUTBOX} SET status = 'pending', attempts = 0, next_attempt_at = ?, "
        "claimed_by = NULL, claimed_at = NULL WHERE status = 'failed_permanent'"
    )
    params: list[Any] = [now]
    if channel is not None:
        sql += " AND channel = ?"
        params.append(channel)
    if keys is not None:
        klist = list(keys)
        if not klist:
            return 0
        sql += " AND alert_key IN (SELECT unnest(?::VARCHAR[]))"
        params.append(klist)
    return len(con.execute(sql + " RETURNING alert_key", params).fetchall())


def outbox_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows per status (every status present, zeros included)."""
    counts = dict.fromkeys(STATUSES, 0)
    for status, n in con.execute(
        f"SELECT status, count(*) FROM {OUTBOX} GROUP BY status"
    ).fetchall():
        counts[status] = int(n)
    return counts


# ---------------------------------------------------------------------- relay transactions
# Each function below is one short transaction on a connection the relay opened for it.

_CLAIM_COLS = (
    "alert_key",
    "signal_id",
    "short_id",
    "kind",
    "channel",
    "channel_type",
    "mode",
    "format_version",
    "message_text",
    "payload_json",
    "is_synthetic",
    "attempts",
    "parts_sent",
    "trade_date",
)


def due_rows(
    con: duckdb.DuckDBPyConnection,
    now: dt.datetime,
    per_channel: int,
    skip_channels: Sequence[str] = (),
) -> tuple[list[tuple[str, str]], dt.datetime | None]:
    """Due pending rows as ``(alert_key, channel)``, the oldest ``per_channel`` of each channel
    (so one busy, paced channel never starves the others), oldest first; plus the next due time
    of the pending rows not due yet (None when there are none). ``skip_channels`` are ignored."""
    skip = list(skip_channels)
    rows = con.execute(
        f"SELECT alert_key, channel FROM {OUTBOX} "
        "WHERE status = 'pending' AND next_attempt_at <= ? AND NOT list_contains(?::VARCHAR[], channel) "
        "QUALIFY row_number() OVER (PARTITION BY channel ORDER BY created_at, alert_key) <= ? "
        "ORDER BY created_at, alert_key",
        [now, skip, per_channel],
    ).fetchall()
    nxt = con.execute(
        f"SELECT min(next_attempt_at) FROM {OUTBOX} WHERE status = 'pending' "
        "AND next_attempt_at > ? AND NOT list_contains(?::VARCHAR[], channel)",
        [now, skip],
    ).fetchone()[0]
    return [(k, c) for k, c in rows], nxt


def claim(
    con: duckdb.DuckDBPyConnection, keys: Sequence[str], relay_id: str, now: dt.datetime
) -> list[dict[str, Any]]:
    """pending -> sending for ``keys`` (those still pending and due); returns the claimed rows.
    ``attempts`` is incremented here, so a crash mid-send still counts the attempt."""
    if not keys:
        return []
    cols = ", ".join(_CLAIM_COLS)
    rows = con.execute(
        f"UPDATE {OUTBOX} SET status = 'sending', claimed_by = ?, claimed_at = ?, "
        "attempts = attempts + 1 WHERE status = 'pending' AND next_attempt_at <= ? "
        f"AND alert_key IN (SELECT unnest(?::VARCHAR[])) RETURNING {cols}",
        [relay_id, now, now, list(keys)],
    ).fetchall()
    out = [dict(zip(_CLAIM_COLS, r, strict=True)) for r in rows]
    order = {k: i for i, k in enumerate(keys)}
    out.sort(key=lambda r: order.get(r["alert_key"], 0))
    return out


def sending_owners(
    con: duckdb.DuckDBPyConnection,
) -> list[tuple[str | None, dt.datetime | None, int]]:
    """``(claimed_by, oldest claimed_at, rows)`` for the rows in ``sending``."""
    return con.execute(
        f"SELECT claimed_by, min(claimed_at), count(*) FROM {OUTBOX} WHERE status = 'sending' "
        "GROUP BY claimed_by"
    ).fetchall()


def release_owner(
    con: duckdb.DuckDBPyConnection,
    owner: str | None,
    now: dt.datetime,
    older_than: dt.datetime | None = None,
) -> int:
    """sending -> pending for the rows claimed by ``owner`` (a relay that died); with
    ``older_than``, only rows claimed before it (a lease that expired)."""
    sql = (
        f"UPDATE {OUTBOX} SET status = 'pending', next_attempt_at = ?, claimed_by = NULL, "
        "claimed_at = NULL WHERE status = 'sending' AND claimed_by IS NOT DISTINCT FROM ?"
    )
    params: list[Any] = [now, owner]
    if older_than is not None:
        sql += " AND claimed_at < ?"
        params.append(older_than)
    return len(con.execute(sql + " RETURNING alert_key", params).fetchall())


def release(
    con: duckdb.DuckDBPyConnection,
    key: str,
    relay_id: str,
    next_attempt_at: dt.datetime,
    parts_sent: int,
) -> None:
    """Give back a claimed row that was not attempted (its destination must rest): pending
    again, the attempt uncounted, progress kept."""
    con.execute(
        f"UPDATE {OUTBOX} SET status = 'pending', attempts = greatest(attempts - 1, 0), "
        "next_attempt_at = ?, parts_sent = ?, claimed_by = NULL, claimed_at = NULL "
        "WHERE alert_key = ? AND status = 'sending' AND claimed_by = ?",
        [next_attempt_at, parts_sent, key, relay_id],
    )


def record_progress(
    con: duckdb.DuckDBPyConnection, key: str, relay_id: str, parts_sent: int, parts_total: int
) -> None:
    """After each part of a multi-part message: remember how far it got, so a crash resumes
    from the next unsent part."""
    con.execute(
        f"UPDATE {OUTBOX} SET parts_sent = ?, parts_total = ? WHERE alert_key = ? "
        "AND status = 'sending' AND claimed_by = ?",
        [parts_sent, parts_total, key, relay_id],
    )


def mark(
    con: duckdb.DuckDBPyConnection,
    key: str,
    relay_id: str,
    *,
    status: str,
    now: dt.datetime,
    parts_sent: int,
    parts_total: int,
    last_status: int | None,
    last_error: str | None,
    next_attempt_at: dt.datetime | None = None,
) -> bool:
    """Finish a claim: ``sent``, ``failed_permanent`` or back to ``pending`` (with
    ``next_attempt_at``). ``sent`` is written even if another relay took the row over (the
    message *was* delivered); the others only while this relay still holds the claim.
    ``last_status`` / ``last_error`` keep their previous value when None is given."""
    if status not in ("sent", "failed_permanent", "pending"):
        raise ValueError(f"mark: bad status {status!r}")
    err = redact(last_error)[:500] if last_error else None
    guard = "status <> 'sent'" if status == "sent" else "status = 'sending' AND claimed_by = ?"
    params: list[Any] = [
        status,
        parts_sent,
        parts_total,
        last_status,
        err,
        now if status == "sent" else None,
        next_attempt_at or now,
        key,
    ]
    if status != "sent":
        params.append(relay_id)
    rows = con.execute(
        f"UPDATE {OUTBOX} SET status = ?, parts_sent = ?, parts_total = ?, "
        "last_status = coalesce(?, last_status), last_error = coalesce(?, last_error), "
        "sent_at = ?, next_attempt_at = ?, claimed_by = NULL, claimed_at = NULL "
        f"WHERE alert_key = ? AND {guard} RETURNING alert_key",
        params,
    ).fetchall()
    return bool(rows)


def log_delivery(
    con: duckdb.DuckDBPyConnection,
    *,
    key: str,
    attempt: int,
    part: int,
    channel: str,
    outcome: str,
    http_status: int | None,
    error: str | None,
    wait_s: float | None,
    started_at: dt.datetime,
    duration_ms: float,
    relay_id: str,
) -> None:
    """One ``live.alert_deliveries`` row (error redacted)."""
    con.execute(
        f"INSERT INTO {DELIVERIES} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            key,
            attempt,
            part,
            channel,
            outcome,
            http_status,
            redact(error)[:500] if error else None,
            wait_s,
            started_at,
            duration_ms,
            relay_id,
        ],
    )


def new_relay_id(host: str, pid: int, started: float) -> str:
    """``host|pid|process start time|random``: lets a later relay tell whether the claimer of
    a ``sending`` row is still alive."""
    return f"{host}|{pid}|{started:.2f}|{uuid.uuid4().hex[:8]}"


QUARANTINED_REASON = "refused: the signal's event references quarantined print(s)"


def refuse_quarantined(
    con: duckdb.DuckDBPyConnection, rows: Sequence[Mapping[str, Any]], relay_id: str, now: dt.datetime
) -> tuple[list[dict[str, Any]], list[str]]:
    """Defence in depth: claimed rows whose signal lists a print id that ``flow.quarantine``
    holds (validation refused that print) are marked ``failed_permanent`` with
    :data:`QUARANTINED_REASON` and the ids, never sent. Returns ``(rows to send, refused keys)``.

    Checked in the claim transaction; only quarantine rows of the signals' sessions are read.
    """
    want: dict[str, set[str]] = {}
    for r in rows:
        payload = r.get("payload_json")
        try:
            data = json.loads(payload) if isinstance(payload, str) else (payload or {})
        except (TypeError, ValueError):
            data = {}
        ids = data.get("print_ids") or []
        if isinstance(ids, str):
            ids = [x for x in ids.split(",") if x]
        if ids and r.get("kind") != "HEARTBEAT":
            want[r["alert_key"]] = {str(x) for x in ids}
    if not want:
        return list(rows), []
    has_q = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'flow' AND table_name = 'quarantine' "
        "AND database_name = current_database()"
    ).fetchone()[0]
    if not has_q:
        return list(rows), []
    days = sorted({r["trade_date"] for r in rows if r.get("trade_date") is not None and r["alert_key"] in want})
    all_ids = sorted(set().union(*want.values()))
    found = {
        x for (x,) in con.execute(
            "SELECT DISTINCT json_extract_string(row_json, '$.print_id') AS pid FROM flow.quarantine "
            "WHERE (trade_date IN (SELECT unnest(?::DATE[])) OR trade_date IS NULL) "
            "AND json_extract_string(row_json, '$.print_id') IN (SELECT unnest(?::VARCHAR[]))",
            [days, all_ids],
        ).fetchall()
    }
    keep, refused = [], []
    for r in rows:
        bad = sorted(want.get(r["alert_key"], set()) & found)
        if not bad:
            keep.append(dict(r))
            continue
        mark(con, r["alert_key"], relay_id, status="failed_permanent", now=now, parts_sent=0, parts_total=0,
             last_status=None, last_error=f"{QUARANTINED_REASON}: {', '.join(bad[:5])}",
             next_attempt_at=None)
        refused.append(r["alert_key"])
    return keep, refused

