"""Declarations of the ``live`` schema: paper positions, alert outbox, heartbeat."""

from __future__ import annotations

from primeflow_lib.schema.base import C, Table
from primeflow_lib.schema.market import VENDOR

PAPER_POSITIONS = Table(
    schema="live",
    name="paper_positions",
    columns=(
        C("position_id", "VARCHAR", "= signal_id (one position per signal)"),
        C("signal_id", "VARCHAR", "the signal (flow.signals.signal_id)"),
        C("trade_date", "DATE", "session of the signal"),
        C("kind", "VARCHAR", "SCALP | DAY_TRADE | SWING"),
        C("ticker", "VARCHAR", "underlying symbol"),
        C("option_symbol", "VARCHAR", "the signal's contract (option leg estimate)"),
        C("direction", "VARCHAR", "BULLISH | BEARISH"),
        C("position", "VARCHAR", "LONG | SHORT the underlying"),
        C("option_side", "VARCHAR", "LONG (flow bought) | SHORT (flow sold) the option leg"),
        C("signal_ts", "TIMESTAMP", "signal time, America/New_York wall time"),
        C("strength", "DOUBLE", "signal strength"),
        C("take_profit_pct", "DOUBLE", "target move in the direction, fraction of entry"),
        C("stop_loss_pct", "DOUBLE", "stop move against the direction, fraction of entry"),
        C("timeout_minutes", "INTEGER", "SCALP / DAY_TRADE holding limit, minutes", nullable=True),
        C(
            "timeout_days",
            "INTEGER",
            "SWING holding limit, sessions after the entry session",
            nullable=True,
        ),
        C("status", "VARCHAR", "PENDING (no bar after the signal yet) | OPEN | CLOSED"),
        C("entry_ts", "TIMESTAMP", "open of the first 1m bar after the signal", nullable=True),
        C("entry_price", "DOUBLE", "underlying entry, USD", nullable=True),
        C("tp_price", "DOUBLE", "take-profit level, USD", nullable=True),
        C("sl_price", "DOUBLE", "stop-loss level, USD", nullable=True),
        C("deadline_ts", "TIMESTAMP", "entry + timeout_minutes (intraday kinds)", nullable=True),
        C("sessions_held", "INTEGER", "sessions after the entry session seen so far"),
        C(
            "exit_reason",
            "VARCHAR",
            "TP | SL | TIMEOUT (SL wins when one bar reaches both)",
            nullable=True,
        ),
        C("exit_ts", "TIMESTAMP", "exit time, America/New_York wall time", nullable=True),
        C("exit_price", "DOUBLE", "underlying exit, USD", nullable=True),
        C(
            "last_bar_ts",
            "TIMESTAMP",
            "start of the last 1m bar processed (carry-over point)",
            nullable=True,
        ),
        C(
            "mark_price",
            "DOUBLE",
            "exit price when closed, else the last close seen, USD",
            nullable=True,
        ),
        C(
            "return_pct",
            "DOUBLE",
            "underlying return in the signal's direction (mark / entry - 1, signed)",
            nullable=True,
        ),
        C("strike", "DOUBLE", "option leg strike, USD"),
        C("expiry", "DATE", "option leg expiry"),
        C("right", "VARCHAR", "C or P"),
        C("iv", "DOUBLE", "volatility used for the option leg, annualised fraction", nullable=True),
        C("iv_source", "VARCHAR", "chain | implied (from the order's fill) | none"),
        C(
            "option_entry",
            "DOUBLE",
            "Black-Scholes option value at entry, USD per share",
            nullable=True,
        ),
        C(
            "option_mark",
            "DOUBLE",
            "Black-Scholes option value at exit / mark, USD per share",
            nullable=True,
        ),
        C(
            "option_pnl",
            "DOUBLE",
            "estimated option P&L per contract (x100), USD, signed by option_side",
            nullable=True,
        ),
        C(
            "option_return_pct",
            "DOUBLE",
            "estimated option return, signed by option_side",
            nullable=True,
        ),
        C("updated_at", "TIMESTAMP", "when the row was last updated (UTC)"),
        VENDOR,
    ),
    key=("position_id",),
    doc="One paper position per signal, entered at the next 1m bar's open and closed on take "
    "profit, stop loss or timeout (rules: docs/flow.md). Open positions carry over: each update "
    "rewrites the rows it touched (upsert by position_id); trade_date is the signal's session.",
)

HEARTBEAT = Table(
    schema="live",
    name="heartbeat",
    columns=(
        C("ts", "TIMESTAMP", "when the heartbeat was computed, America/New_York wall time"),
        C("trade_date", "DATE", "session of the batch"),
        C("source", "VARCHAR", "batch name (daily partition, inbox file)"),
        C("prints", "BIGINT", "prints received in the batch"),
        C("events", "BIGINT", "orders classified"),
        C(
            "events_per_minute",
            "DOUBLE",
            "events / minutes spanned by the batch's prints (at least 1)",
        ),
        C("signals", "BIGINT", "signals scored"),
        C("signals_scalp", "BIGINT", "SCALP signals"),
        C("signals_day_trade", "BIGINT", "DAY_TRADE signals"),
        C("signals_swing", "BIGINT", "SWING signals"),
        C(
            "open_positions",
            "BIGINT",
            "paper positions PENDING or OPEN after the batch",
            nullable=True,
        ),
        C("quarantined", "BIGINT", "quarantine rows from the batch"),
        C(
            "lag_seconds",
            "DOUBLE",
            "ts minus the newest print's time (processing lag)",
            nullable=True,
        ),
        C("processing_seconds", "DOUBLE", "time score_batch took"),
        C("last_error", "VARCHAR", "last error text (redacted) or null", nullable=True),
        C("synthetic", "BOOLEAN", "the batch came from the synthetic vendor"),
    ),
    key=("ts", "source"),
    doc="One row per scored batch: throughput, signals by kind, open paper positions and "
    "processing lag; the source of the operator heartbeat message.",
)

TABLES: tuple[Table, ...] = (PAPER_POSITIONS, HEARTBEAT)
