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

import datetime as dt
import hashlib
import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import duckdb

from primeflow_lib.alerts.formatting import (
    FORMAT_VERSION,
    escape,
    format_alert,
    format_heartbeat,
    markup_for,
)
from primeflow_lib.alerts.routing import (
    AlertConfigError,
    channel_type,
    check_routing,
    route_channel,
)
from primeflow_lib.models import Signal
from primeflow_lib.redact import redact
from primeflow_lib.schema.alerts import ALERT_DELIVERIES, ALERT_OUTBOX

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
    """Create schema ``live`` and the alert tables if they do not exist (idempotent)."""
    con.execute("CREATE SCHEMA IF NOT EXISTS live")
    for t in (ALERT_OUTBOX, ALERT_DELIVERIES):
        con.execute(t.ddl())


def _as_signals(signals: Any) -> list[Signal]:
    if signals is None:
        return []
    if hasattr(signals, "to_dict") and hasattr(signals, "columns"):  # a DataFrame of flow.signals
        return [Signal.from_row(_clean_row(r)) for r in signals.to_dict(orient="records")]
    out: list[Signal] = []
    for s in signals:
        if isinstance(s, Signal):
            out.append(s)
        elif isinstance(s, Mapping):
            out.append(Signal.from_row(_clean_row(s)))
        else:
            raise TypeError(
                f"enqueue_alerts: expected Signal or mapping rows, got {type(s).__name__}"
            )
    return out


def _clean_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """pandas NaN/NaT as None, so optional fields read as missing."""
    out = {}
    for k, v in row.items():
        if (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NaTType", "NAType"):
            v = None
        out[k] = v
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
)


def outbox_rows(
    signals: Any, cfg: Mapping[str, Any], *, now: dt.datetime | None = None, status: str = "pending"
) -> list[tuple]:
    """The outbox rows (tuples in ``_INSERT_COLS`` order) for ``signals`` under ``cfg``'s
    routing, in ``status``; no database needed. Raises :class:`AlertConfigError` for a broken
    routing."""
    problems = check_routing(cfg)
    if problems:
        raise AlertConfigError("alerts configuration: " + "; ".join(problems))
    now = now or utcnow()
    rows = []
    for s in _as_signals(signals):
        channel = route_channel(cfg, s.kind)
        ctype = channel_type(cfg, channel)
        mode, text = format_alert(s, ctype)
        rows.append(
            (
                alert_key(s.signal_id, channel),
                s.signal_id,
                s.short_id,
                str(s.kind),
                _to_date(s.trade_date),
                channel,
                ctype,
                mode,
                FORMAT_VERSION,
                text,
                json.dumps(signal_payload(s), allow_nan=False),
                bool(s.is_synthetic),
                status,
                now,
                0,
                now,
                0,
            )
        )
    return rows


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


def enqueue_alerts(
    con: duckdb.DuckDBPyConnection,
    signals: Any,
    cfg: Mapping[str, Any],
    *,
    now: dt.datetime | None = None,
    status: str = "pending",
) -> int:
    """Add one outbox row per signal, routed and formatted per ``cfg``, ``pending`` (the relay
    sends it) or ``stream`` (the streaming path sends it from its own outbox: recorded, never
    sent from this one).

    Runs inside the caller's transaction and never commits: write the signals and call this
    between the caller's ``BEGIN`` and ``COMMIT``. The tables must exist
    (:func:`ensure_alert_tables` or the warehouse's ``ensure_tables``).

    Args:
        con: an open DuckDB connection (ideally inside a transaction).
        signals: a DataFrame of ``flow.signals`` rows, or an iterable of :class:`Signal` or of
            row mappings.
        cfg: the loaded config (``alerts.routing`` / ``alerts.channels`` are used; no
            environment variable is read here).
        now: enqueue time (naive UTC); default now.
    Returns:
        Rows inserted (0 when every alert was already enqueued).
    Raises:
        AlertConfigError: a routing problem (unknown kind, route to an undeclared channel).
    """
    if status not in ("pending", "stream"):
        raise ValueError(f"enqueue_alerts: status must be 'pending' or 'stream', got {status!r}")
    return len(_insert(con, outbox_rows(signals, cfg, now=now, status=status)))


def enqueue_heartbeat(
    con: duckdb.DuckDBPyConnection,
    stats: Mapping[str, Any],
    cfg: Mapping[str, Any],
    *,
    now: dt.datetime | None = None,
) -> bool:
    """Enqueue one heartbeat (:func:`~primeflow_lib.alerts.formatting.format_heartbeat`) to
    ``alerts.heartbeat_channel``, at most once per ``alerts.heartbeat_minutes`` window.

    Returns True when a row was inserted; False when no heartbeat channel is configured or this
    window already has one."""
    channel = _operator_channel(cfg)
    if not channel:
        return False
    now = now or utcnow()
    minutes = max(1, int(cfg["alerts"].get("heartbeat_minutes") or 15))
    bucket = now.replace(second=0, microsecond=0)
    bucket -= dt.timedelta(minutes=(bucket.hour * 60 + bucket.minute) % minutes)
    hb_id = f"heartbeat:{bucket:%Y%m%dT%H%M}"
    ctype = channel_type(cfg, channel)
    text = format_heartbeat({"ts": now, **stats}, markup_for(ctype))
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

