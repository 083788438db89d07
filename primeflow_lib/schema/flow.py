"""Declarations of the ``flow`` schema: raw option prints and everything derived from them."""

from __future__ import annotations

from primeflow_lib.schema.base import C, Table, quarantine_table
from primeflow_lib.schema.market import VENDOR

OPTION_PRINTS = Table(
    schema="flow",
    name="option_prints",
    columns=(
        C("trade_date", "DATE", "session date (America/New_York)"),
        C("print_id", "VARCHAR", "stable id: hash of (option_symbol, sip_timestamp, exchange, price, size, conditions, seq)"),
        C("option_symbol", "VARCHAR", "OCC/OSI compact symbol without prefix, e.g. SPY251219C00650000"),
        C("underlying", "VARCHAR", "underlying symbol"),
        C("sip_ts", "TIMESTAMP", "SIP timestamp as America/New_York wall time (microseconds)"),
        C("sip_timestamp", "BIGINT", "SIP timestamp, nanoseconds since the Unix epoch (UTC), as sent"),
        C("exchange", "INTEGER", "participant / exchange id"),
        C("price", "DOUBLE", "trade price, USD per share (premium = price x size x 100)"),
        C("size", "BIGINT", "contracts"),
        C("conditions", "VARCHAR", "comma-separated condition ids as sent (e.g. '219' or '232,209'); '' when none"),
        C("correction", "INTEGER", "correction indicator as sent (0 = regular)", nullable=True),
        C("bid", "DOUBLE", "NBBO bid in force at the print, USD", nullable=True),
        C("ask", "DOUBLE", "NBBO ask in force at the print, USD", nullable=True),
        C("seq", "BIGINT", "0-based order of the print within its contract and day as received"),
        VENDOR,
    ),
    key=("print_id",),
    doc="Raw option trades as the vendor delivered them (cancels, late and multi-leg prints "
    "included; classification happens downstream).",
)

TABLES = (OPTION_PRINTS, quarantine_table("flow"))
