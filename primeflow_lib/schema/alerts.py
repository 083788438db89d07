"""Declarations of the alert tables: ``live.alert_outbox`` and ``live.alert_deliveries``.

The outbox is a queue, not a partitioned fact table: it is never partition-rewritten, because
deleting rows would let a re-scored day send its alerts again (the primary key is what makes
re-enqueueing a no-op). Times are naive UTC.
"""

from __future__ import annotations

from primeflow_lib.schema.base import C, Table

ALERT_OUTBOX = Table(
    schema="live",
    name="alert_outbox",
    columns=(
        C("alert_key", "VARCHAR", "sha256 hex of (signal_id, channel, format_version): one row per alert and channel"),
        C("signal_id", "VARCHAR", "the signal alerted on (flow.signals.signal_id); a heartbeat id for heartbeats"),
        C("short_id", "VARCHAR", "first 8 characters of signal_id, shown in the message"),
        C("kind", "VARCHAR", "signal kind (SCALP, DAY_TRADE, SWING) or HEARTBEAT"),
        C("trade_date", "DATE", "session of the signal", nullable=True),
        C("channel", "VARCHAR", "channel name from config alerts.channels / alerts.routing"),
        C("channel_type", "VARCHAR", "destination kind when enqueued: telegram, discord, slack, webhook, console, file, or sink (console + file fallback)"),
        C("mode", "VARCHAR", "alert format: short, medium, deep_dive or heartbeat"),
        C("format_version", "INTEGER", "primeflow_lib.alerts.formatting.FORMAT_VERSION used for message_text"),
        C("message_text", "VARCHAR", "the message exactly as sent, escaped for the channel's markup"),
        C("payload_json", "JSON", "the signal's fields (what a generic webhook receives)"),
        C("is_synthetic", "BOOLEAN", "built on synthetic data (the text then says [SYNTHETIC DATA])"),
        C("status", "VARCHAR", "pending, sending (claimed by a relay), sent, failed_permanent, or stream (delivered by the streaming path from its own outbox; never sent from this one)"),
        C("created_at", "TIMESTAMP", "when the row was enqueued (UTC)"),
        C("attempts", "INTEGER", "delivery attempts so far (claims; a multi-part message is one attempt)"),
        C("next_attempt_at", "TIMESTAMP", "not sent before this time (UTC): backoff or capped Retry-After"),
        C("parts_total", "INTEGER", "parts the message splits into for its channel (known after the first claim)", nullable=True),
        C("parts_sent", "INTEGER", "parts delivered; a relay resumes a multi-part message after the last one"),
        C("claimed_by", "VARCHAR", "relay holding the row while status = sending: host|pid|process start|instance", nullable=True),
        C("claimed_at", "TIMESTAMP", "when the row was claimed (UTC)", nullable=True),
        C("last_status", "INTEGER", "HTTP status of the last attempt (NULL: no response)", nullable=True),
        C("last_error", "VARCHAR", "what went wrong last, redacted (no URL, token or key)", nullable=True),
        C("sent_at", "TIMESTAMP", "when the last part was accepted (UTC)", nullable=True),
        C("rule", "VARCHAR", "the alert rule that sent it (primeflow_lib.alerts.rules; null for heartbeats)", nullable=True),
    ),
    key=("alert_key",),
    partition_column=None,
    enforce_key=True,
    doc="Transactional outbox of formatted alerts. Rows are written in the same transaction as "
    "their signals (INSERT ... ON CONFLICT DO NOTHING, so re-scoring never re-sends); a relay "
    "claims pending rows, sends them with pacing and retries, and marks them sent or "
    "failed_permanent. Delivery is at least once: a relay crash can repeat the message in flight, "
    "which shows the same short id.",
)

ALERT_DELIVERIES = Table(
    schema="live",
    name="alert_deliveries",
    columns=(
        C("alert_key", "VARCHAR", "the outbox row"),
        C("attempt", "INTEGER", "live.alert_outbox.attempts at the time of the POST"),
        C("part", "INTEGER", "0-based part of a split message"),
        C("channel", "VARCHAR", "channel name"),
        C("outcome", "VARCHAR", "ok, rate_limited, transient, revoked or permanent"),
        C("http_status", "INTEGER", "HTTP status (NULL: timeout or connection error)", nullable=True),
        C("error", "VARCHAR", "redacted error text", nullable=True),
        C("wait_s", "DOUBLE", "wait scheduled before the next attempt, seconds (capped)", nullable=True),
        C("started_at", "TIMESTAMP", "when the POST started (UTC)"),
        C("duration_ms", "DOUBLE", "POST round trip, milliseconds"),
        C("relay_id", "VARCHAR", "relay that made the attempt"),
    ),
    key=("alert_key", "attempt", "part", "started_at"),
    partition_column=None,
    doc="One row per delivery attempt of one message part, written with the outcome. An attempt "
    "interrupted by a crash leaves no row (its repeat does). Use it to see retries, 429s and "
    "latency per channel.",
)

TABLES: tuple[Table, ...] = (ALERT_OUTBOX, ALERT_DELIVERIES)
