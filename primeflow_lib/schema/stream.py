"""Declarations of the ``stream`` schema: what the streaming path (``primeflow stream``) found,
sent and could not match.

The stream service keeps these tables in **its own DuckDB file** (``PRIMEFLOW_STREAM_DUCKDB``,
default ``var/stream/stream.duckdb``), which it holds open for its whole life, next to its own
``live.alert_outbox`` / ``live.alert_deliveries`` / ``flow.quarantine``. The warehouse declares the
same tables: the sensor path copies there what each stream batch reports (its signals and
divergences, from the batch's ``.stream.parquet`` side file) and writes ``stream.reconciliation``,
so the audited record in the warehouse says what the stream sent and where the two paths
disagreed.
"""

from __future__ import annotations

from primeflow_lib.schema.base import C, Table
from primeflow_lib.schema.flow import SIGNALS

STREAM_ID = C("stream_id", "VARCHAR", "the stream service instance that found it (its partition of the underlyings, e.g. 'main' or 'p1of2')")

STREAM_SIGNALS = Table(
    schema="stream",
    name="signals",
    columns=(
        *SIGNALS.columns,
        STREAM_ID,
        C("emitted_at", "TIMESTAMP", "when the stream committed the signal and its outbox rows (UTC)"),
    ),
    key=("signal_id",),
    enforce_key=True,
    doc="Signals the streaming path scored incrementally (columns as flow.signals, plus the "
    "instance and the commit time). Their alerts are delivered by the stream's own relay; the "
    "warehouse copy is written by the sensor path when it reconciles the batch holding their prints.",
)

STREAM_DIVERGENCES = Table(
    schema="stream",
    name="divergences",
    columns=(
        C("trade_date", "DATE", "session of the print"),
        STREAM_ID,
        C("rx", "BIGINT", "receipt number of the print in the stream's journal (0-based, per session)"),
        C("print_id", "VARCHAR", "the print that could not be judged as the daily batch judges it", nullable=True),
        C("option_symbol", "VARCHAR", "its contract", nullable=True),
        C("print_ts", "TIMESTAMP", "its SIP time, America/New_York wall time", nullable=True),
        C("reason", "VARCHAR", "cancel_of_committed_print | late_print_splits_committed_order | "
          "late_print_changes_committed_side | print_behind_frontier | context_bar_missing"),
        C("detail", "VARCHAR", "what differs, in words (the committed order it reaches, the bar missing)"),
        C("event_ids", "VARCHAR", "comma-joined committed orders (flow_events.event_id) that the daily batch would build differently", nullable=True),
        C("detected_at", "TIMESTAMP", "when the stream saw it (UTC)"),
    ),
    key=("stream_id", "trade_date", "rx", "reason"),
    doc="Prints the streaming path could not judge exactly as the daily batch does, because the "
    "orders they reach were already committed and alerted (a cancel of an earlier print, a late "
    "print landing inside an order, a print older than the frontier) or a bar was not there yet. "
    "Counted, never silent: the daily re-scoring of the partition is exact.",
)

STREAM_INBOX_PRINTS = Table(
    schema="stream",
    name="inbox_prints",
    columns=(
        C("trade_date", "DATE", "session"),
        STREAM_ID,
        C("rx", "BIGINT", "receipt number of the print in the stream's journal (0-based, per session)"),
        C("inbox_file", "VARCHAR", "the inbox batch the print was written to"),
        C("written_at", "TIMESTAMP", "when the batch was renamed into the inbox (UTC)"),
    ),
    key=("trade_date", "stream_id", "rx"),
    doc="Which received print went into which inbox batch, so a restarted stream writes every "
    "print to the sensor path exactly once.",
)

STREAM_HEARTBEAT = Table(
    schema="stream",
    name="heartbeat",
    columns=(
        C("ts", "TIMESTAMP", "when the heartbeat was taken (UTC)"),
        STREAM_ID,
        C("trade_date", "DATE", "session being streamed", nullable=True),
        C("state", "VARCHAR", "starting | recovering | streaming | reconnecting | stopped"),
        C("source", "VARCHAR", "replay | massive | databento | broker"),
        C("prints", "BIGINT", "prints received this session"),
        C("events", "BIGINT", "orders committed this session"),
        C("signals", "BIGINT", "signals committed this session"),
        C("quarantined", "BIGINT", "prints quarantined this session"),
        C("divergences", "BIGINT", "divergences counted this session"),
        C("open_prints", "BIGINT", "prints waiting for their order to be complete"),
        C("alerts_pending", "BIGINT", "stream outbox rows not yet sent", nullable=True),
        C("lag_seconds", "DOUBLE", "ts minus the newest print's time (wall clock vs market clock; large in a replay)", nullable=True),
        C("watermark_ts", "TIMESTAMP", "newest print's SIP time, America/New_York wall time", nullable=True),
        C("connections", "INTEGER", "vendor connections opened (1 + reconnects)"),
        C("last_error", "VARCHAR", "last error text (redacted) or null", nullable=True),
    ),
    key=("stream_id", "ts"),
    partition_column=None,
    doc="One row per heartbeat of the stream service (every few seconds): what it received, "
    "committed and sent, and how far behind the market it is. Dagster's stream sensor reads the "
    "same figures from the status file.",
)

STREAM_RECONCILIATION = Table(
    schema="stream",
    name="reconciliation",
    columns=(
        C("batch", "VARCHAR", "inbox batch file written by the stream"),
        C("trade_date", "DATE", "session"),
        STREAM_ID,
        C("reconciled_at", "TIMESTAMP", "when the sensor path compared (UTC)"),
        C("stream_signals", "BIGINT", "signals the stream found for the batch's orders"),
        C("sensor_signals", "BIGINT", "signals the sensor path found scoring the batch"),
        C("agreed", "BIGINT", "same signal id on both paths (sent once, by the stream)"),
        C("stream_only", "BIGINT", "found by the stream only (sent by the stream; counted)"),
        C("sensor_only", "BIGINT", "found by the sensor path only (counted; filled in: sent by the warehouse relay)"),
        C("strength_differs", "BIGINT", "agreed ids whose strength or tags differ between the paths"),
        C("stream_only_ids", "JSON", "signal ids found by the stream only"),
        C("sensor_only_ids", "JSON", "signal ids found by the sensor path only"),
    ),
    key=("batch",),
    partition_column="trade_date",
    doc="The sensor path's check of each stream batch: which signals both paths found, which only "
    "one did. Disagreements are counted here and in the run's metadata; an alert is never sent "
    "twice (agreed ids are marked delivered by the stream in live.alert_outbox).",
)

TABLES = (
    STREAM_SIGNALS,
    STREAM_DIVERGENCES,
    STREAM_INBOX_PRINTS,
    STREAM_HEARTBEAT,
    STREAM_RECONCILIATION,
)
