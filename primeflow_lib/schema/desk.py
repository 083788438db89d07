"""Declarations of the trader's-desk tables: tape presets, user alert rules and what they sent,
earnings dates, the volatility term structure, exposure beyond gamma and the Python-built marts
(``marts.iv_stats``, ``marts.oi_change``).

The SQL marts of the desk (``marts.tide_minute``, ``marts.exposure_by_strike``,
``marts.max_pain``) are defined by their ``dbt_like_sql/*.sql`` files, like the other SQL marts.
"""

from __future__ import annotations

import dataclasses

from primeflow_lib.schema.base import C, Table
from primeflow_lib.schema.market import VENDOR

TAPE_PRESETS = Table(
    schema="flow",
    name="tape_presets",
    columns=(
        C("name", "VARCHAR", "preset name chosen by the user (unique)"),
        C("filters_json", "JSON", "the tape filter as JSON (primeflow_lib.flow.tape.TapeFilter.to_dict)"),
        C("description", "VARCHAR", "what the preset is for", nullable=True),
        C("created_at", "TIMESTAMP", "when the preset was first saved (UTC)"),
        C("updated_at", "TIMESTAMP", "when the preset was last saved (UTC)"),
    ),
    key=("name",),
    partition_column=None,
    doc="Saved filters of the order tape (workbench Tape page, `primeflow tape --preset`). "
    "Every stored filter was validated when saved and is validated again when loaded.",
)

ALERT_RULES = Table(
    schema="live",
    name="alert_rules",
    columns=(
        C("name", "VARCHAR", "rule name (unique across config and warehouse rules)"),
        C("rule_json", "JSON", "the rule as JSON, same keys as an entry of alerts.rules in config"),
        C("enabled", "BOOLEAN", "false: the rule is kept but never evaluated"),
        C("created_at", "TIMESTAMP", "when the rule was first saved (UTC)"),
        C("updated_at", "TIMESTAMP", "when the rule was last saved (UTC)"),
    ),
    key=("name",),
    partition_column=None,
    doc="User alert rules edited on the workbench (Alert rules page). They are evaluated with "
    "the rules of config (alerts.rules) and the built-in kind routing by the same code on the "
    "daily and the near-live path (primeflow_lib.alerts.rules).",
)

_OUTCOME = C(
    "outcome",
    "VARCHAR",
    "alert (sent to the channel) | cooldown (same rule and ticker inside cooldown_minutes) | "
    "daily_cap (the rule's daily_cap reached) | earnings_gate (earnings.gate_kinds within "
    "earnings.gate_days of the report)",
)

RULE_ALERTS = Table(
    schema="flow",
    name="rule_alerts",
    columns=(
        C("trade_date", "DATE", "session of the signal or order"),
        C("hit_id", "VARCHAR", "stable id: 16 hex digits of sha1(rule, row_id)"),
        C("rule", "VARCHAR", "the rule that matched (name)"),
        C("rule_source", "VARCHAR", "builtin (kind routing) | config (alerts.rules) | warehouse (live.alert_rules)"),
        C("applies_to", "VARCHAR", "signal | order: what the rule is evaluated on"),
        C("row_id", "VARCHAR", "signal_id (on signal) or event_id (on order)"),
        C("kind", "VARCHAR", "signal kind (SCALP, DAY_TRADE, SWING) or ORDER"),
        C("ticker", "VARCHAR", "underlying symbol"),
        C("ts", "TIMESTAMP", "the row's event time, America/New_York wall time (cooldowns count from it)"),
        C("channel", "VARCHAR", "the rule's channel"),
        _OUTCOME,
        C("premium", "DOUBLE", "the order's premium, USD"),
        C("days_to_earnings", "INTEGER", "calendar days to the ticker's next report (null: unknown)", nullable=True),
        C("alert_key", "VARCHAR", "live.alert_outbox.alert_key of the alert (near-live path, outcome alert)", nullable=True),
    ),
    key=("hit_id",),
    doc="Every match of an alert rule on the daily path, in event-time order, with what the rule "
    "did (alert or why not). The daily path records; delivery happens on the near-live path "
    "(live.rule_alerts + live.alert_outbox), so a backfill never sends old alerts.",
)

LIVE_RULE_ALERTS = dataclasses.replace(
    RULE_ALERTS,
    schema="live",
    doc="Every match of an alert rule on the near-live path (columns as flow.rule_alerts); rows "
    "with outcome alert have their live.alert_outbox row, written in the same transaction. The "
    "session's rows are the cooldown and daily-cap memory of the next batch.",
)

EARNINGS = Table(
    schema="market",
    name="earnings",
    columns=(
        C("ticker", "VARCHAR", "underlying symbol"),
        C("report_date", "DATE", "the day the company reports (America/New_York)"),
        C("time_of_day", "VARCHAR", "pre-market | post-market | unknown (as the vendor says)"),
        C("fiscal_date_ending", "DATE", "end of the fiscal period reported", nullable=True),
        C("eps_estimate", "DOUBLE", "consensus EPS estimate, USD", nullable=True),
        C("fetched_at", "TIMESTAMP", "when the vendor was asked (UTC)"),
        VENDOR,
    ),
    key=("ticker", "report_date", "vendor"),
    partition_column=None,
    doc="Earnings dates per ticker as each vendor gave them (Alpha Vantage EARNINGS_CALENDAR, "
    "yfinance earnings dates, or the synthetic vendor), kept as a cache: a fetch upserts by "
    "(ticker, report_date, vendor). A ticker with no row has unknown earnings.",
)

_IV = "annualised fraction (0.25 = 25 %)"

IV_TERM = Table(
    schema="market",
    name="iv_term",
    columns=(
        C("trade_date", "DATE", "session of the chain snapshot"),
        C("underlying", "VARCHAR", "underlying symbol"),
        C("expiry", "DATE", "expiration date"),
        C("dte", "INTEGER", "calendar days from the snapshot to the expiry"),
        C("spot", "DOUBLE", "spot of the snapshot (median underlying_price), USD"),
        C("atm_iv", "DOUBLE", "IV at the spot: call and put IV averaged per strike, linear in strike "
          "between the two strikes around spot, " + _IV),
        C("iv_25d_call", "DOUBLE", "IV of the 25-delta call (linear in delta between listed calls), " + _IV, nullable=True),
        C("iv_25d_put", "DOUBLE", "IV of the -25-delta put (linear in delta between listed puts), " + _IV, nullable=True),
        C("skew_25d", "DOUBLE", "iv_25d_put - iv_25d_call, volatility points as a fraction", nullable=True),
        C("contracts", "INTEGER", "chain rows with a usable IV in the expiry"),
        VENDOR,
    ),
    key=("trade_date", "underlying", "expiry"),
    doc="Volatility term structure per chain snapshot: ATM IV and 25-delta skew per expiry "
    "(primeflow_lib.market.volatility). Expiries at or before the snapshot's close and expiries "
    "whose strikes do not bracket spot are left out (counted in the asset's metadata).",
)

_EXPO = (
    "sign convention as market.gamma_exposure (dealer_long_calls_short_puts: calls +, puts -; "
    "dealer_short_all: both -)"
)

GREEK_EXPOSURE = Table(
    schema="market",
    name="greek_exposure",
    columns=(
        C("trade_date", "DATE", "session of the chain snapshot (after its close)"),
        C("underlying", "VARCHAR", "underlying symbol"),
        C("expiry", "DATE", "expiration date"),
        C("strike", "DOUBLE", "strike, USD"),
        C("convention", "VARCHAR", "sign convention assumed: " + _EXPO),
        C("spot", "DOUBLE", "spot of the snapshot, USD"),
        C("zero_dte", "BOOLEAN", "the contracts expire in the next session (the one the exposure applies to)"),
        C("gex", "DOUBLE", "gamma exposure, USD of dealer delta per 1 % move (as market.gamma_by_strike)"),
        C("dex", "DOUBLE", "delta exposure, USD of underlying dealers hold (delta x OI x 100 x spot, signed)"),
        C("vanna", "DOUBLE", "vanna exposure, USD of dealer delta per +1 volatility point (vanna x OI x 100 x spot x 0.01, signed)"),
        C("charm", "DOUBLE", "charm exposure, USD of dealer delta per calendar day passing (charm x OI x 100 x spot / 365, signed)"),
        C("call_oi", "BIGINT", "open interest of the calls, contracts"),
        C("put_oi", "BIGINT", "open interest of the puts, contracts"),
        C("contracts", "INTEGER", "chain rows summed"),
        VENDOR,
    ),
    key=("trade_date", "underlying", "expiry", "strike"),
    doc="Dealer exposure per strike and expiry of each chain snapshot, next to GEX: delta (DEX), "
    "vanna and charm under the same sign convention (primeflow_lib.flow.exposure). Rows that "
    "market.gamma_exposure quarantines are left out here too.",
)

IV_STATS = Table(
    schema="marts",
    name="iv_stats",
    columns=(
        C("trade_date", "DATE", "session of the chain snapshot"),
        C("underlying", "VARCHAR", "underlying symbol"),
        C("atm_iv_30d", "DOUBLE", "30-calendar-day ATM IV, interpolated in total variance between the "
          "expiries around 30 days (the nearest one when they do not bracket 30), " + _IV),
        C("skew_25d_30d", "DOUBLE", "25-delta skew (put - call) of the expiry nearest 30 days", nullable=True),
        C("front_iv", "DOUBLE", "ATM IV of the nearest expiry after the snapshot, " + _IV),
        C("term_slope", "DOUBLE", "ATM IV of the expiry nearest 90 days minus front_iv (positive: contango)", nullable=True),
        C("iv_rank", "DOUBLE", "(atm_iv_30d - min) / (max - min) over the lookback window, 0..1 (null: max = min)", nullable=True),
        C("iv_percentile", "DOUBLE", "share of the window's other sessions with a lower atm_iv_30d, 0..1 (null: no other session)", nullable=True),
        C("iv_min", "DOUBLE", "lowest atm_iv_30d in the window"),
        C("iv_max", "DOUBLE", "highest atm_iv_30d in the window"),
        C("lookback_sessions", "INTEGER", "sessions asked for (volatility.lookback_sessions)"),
        C("sessions_used", "INTEGER", "snapshots in the window (this one included)"),
        C("short_history", "BOOLEAN", "sessions_used < lookback_sessions: the rank is over a shorter window"),
        VENDOR,
    ),
    key=("trade_date", "underlying"),
    partition_column=None,
    doc="IV rank and percentile per underlying and snapshot over a lookback of stored snapshots "
    "(default 252 sessions), with the 30-day ATM IV, term slope and skew. sessions_used says how "
    "many snapshots the window had; short_history flags a window shorter than asked.",
)

OI_CHANGE = Table(
    schema="marts",
    name="oi_change",
    columns=(
        C("trade_date", "DATE", "session of the snapshot (open interest at the start of this session)"),
        C("underlying", "VARCHAR", "underlying symbol"),
        C("option_symbol", "VARCHAR", "OCC/OSI compact symbol"),
        C("expiry", "DATE", "expiration date"),
        C("right", "VARCHAR", "C or P"),
        C("strike", "DOUBLE", "strike, USD"),
        C("open_interest", "BIGINT", "open interest in this snapshot, contracts", nullable=True),
        C("prev_date", "DATE", "the previous NYSE session (whose trading the change reflects)"),
        C("prev_open_interest", "BIGINT", "open interest in the previous session's snapshot (null: not listed or missing)", nullable=True),
        C("oi_change", "BIGINT", "open_interest - prev_open_interest (null when either is unknown)", nullable=True),
        C("status", "VARCHAR", "ok | new_contract (not in the previous snapshot) | missing_prev_snapshot "
          "(no chain snapshot of the underlying for prev_date) | no_oi"),
        VENDOR,
    ),
    key=("trade_date", "option_symbol"),
    partition_column=None,
    doc="Day-over-day open-interest change per contract from consecutive chain snapshots. The "
    "change dated D is what trading on the previous session did (OCC publishes OI overnight), so "
    "an order's opening/closing estimate needs the snapshot after its session "
    "(primeflow_lib.flow.open_interest). A missing snapshot is named in status, never skipped.",
)

TABLES: tuple[Table, ...] = (
    TAPE_PRESETS,
    ALERT_RULES,
    RULE_ALERTS,
    LIVE_RULE_ALERTS,
    EARNINGS,
    IV_TERM,
    GREEK_EXPOSURE,
    IV_STATS,
    OI_CHANGE,
)
