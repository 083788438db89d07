"""Declarations of the ``flow`` schema: raw option prints and everything derived from them."""

from __future__ import annotations

from primeflow_lib.schema.base import C, Table
from primeflow_lib.schema.market import VENDOR
from primeflow_lib.schema.quarantine import quarantine_table

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
        C(
            "vendor_sequence",
            "BIGINT",
            "the vendor's own sequence number of the print (Cboe sequence_number, Databento "
            "sequence); null when the vendor has none (Massive, synthetic)",
            nullable=True,
        ),
        C(
            "quote_source",
            "VARCHAR",
            "what bid/ask are: nbbo (the consolidated quote at the trade) | venue_bbo (the trading "
            "venue's own best quote: side confidence one level lower); null = nbbo or no quote",
            nullable=True,
        ),
    ),
    key=("print_id",),
    doc="Raw option trades as the vendor delivered them (cancels, late and multi-leg prints "
    "included; classification happens downstream).",
)


FLOW_EVENTS = Table(
    schema="flow",
    name="flow_events",
    columns=(
        C("trade_date", "DATE", "session date (America/New_York)"),
        C(
            "event_id",
            "VARCHAR",
            "stable id: 16 hex digits of a hash of (session, contract, first and last print, "
            "number of prints, the first print's vendor sequence number where the vendor gives one)",
        ),
        C("ticker", "VARCHAR", "underlying symbol"),
        C("option_symbol", "VARCHAR", "OCC/OSI compact symbol without prefix"),
        C("expiry", "DATE", "expiration date"),
        C("right", "VARCHAR", "C or P"),
        C("strike", "DOUBLE", "strike price, USD"),
        C(
            "event_type",
            "VARCHAR",
            "sweep | split | block | single | multileg | stock_option (rules: docs/flow.md)",
        ),
        C(
            "side",
            "VARCHAR",
            "aggressor side: above_ask | ask | to_ask | mid | to_bid | bid | below_bid",
        ),
        C(
            "side_confidence",
            "VARCHAR",
            "high (at/beyond the quote) | medium (inside the spread) | "
            "low (tick rule: no usable quote)",
        ),
        C(
            "sentiment",
            "VARCHAR",
            "bullish (calls bought / puts sold) | bearish | neutral (mid, multi-leg, stock-option)",
        ),
        C("non_directional", "BOOLEAN", "multi-leg or stock-option order: no directional read"),
        C(
            "is_late",
            "BOOLEAN",
            "late / out-of-sequence print (202/204/206/208 or timestamp earlier than an "
            "earlier-received print): volume only, never a signal",
        ),
        C("has_iso", "BOOLEAN", "a print carried an intermarket-sweep condition (219, 228, 230)"),
        C("is_extended", "BOOLEAN", "a print carried the extended-hours condition (248)"),
        C(
            "has_unknown_condition",
            "BOOLEAN",
            "a print carried a condition id outside the known OPRA set: never a signal",
        ),
        C("n_prints", "INTEGER", "prints in the order"),
        C("n_exchanges", "INTEGER", "distinct exchanges in the order"),
        C("size", "BIGINT", "contracts"),
        C("premium", "DOUBLE", "sum of price x size x 100, USD"),
        C("avg_price", "DOUBLE", "size-weighted average price, USD per share"),
        C("first_ts", "TIMESTAMP", "first print, America/New_York wall time"),
        C("last_ts", "TIMESTAMP", "last print, America/New_York wall time (the event's time)"),
        C("first_sip_timestamp", "BIGINT", "first print's SIP timestamp, ns since the epoch (UTC)"),
        C("bid", "DOUBLE", "NBBO bid at the first print, USD", nullable=True),
        C("ask", "DOUBLE", "NBBO ask at the first print, USD", nullable=True),
        C(
            "day_volume",
            "BIGINT",
            "contracts of this contract traded in the session up to and including this order "
            "(received order)",
        ),
        C(
            "open_interest",
            "BIGINT",
            "open interest from the latest chain snapshot before the session",
            nullable=True,
        ),
        C(
            "vol_oi",
            "DOUBLE",
            "day_volume / max(open_interest, 1); null when OI is unknown",
            nullable=True,
        ),
        C(
            "iv",
            "DOUBLE",
            "implied volatility from that snapshot, annualised fraction",
            nullable=True,
        ),
        C("delta", "DOUBLE", "delta from that snapshot, per share", nullable=True),
        C("chain_date", "DATE", "session of the chain snapshot used", nullable=True),
        C(
            "spot",
            "DOUBLE",
            "underlying price at the event (flow.flow_context.spot), USD",
            nullable=True,
        ),
        C(
            "otm_pct",
            "DOUBLE",
            "out-of-the-money distance as a fraction of spot (calls strike/spot-1, "
            "puts 1-strike/spot; negative = ITM)",
            nullable=True,
        ),
        C("dte", "INTEGER", "calendar days from the session to expiry"),
        C(
            "print_ids",
            "VARCHAR",
            "comma-joined flow.option_prints.print_id of the order's prints, in time order",
        ),
        VENDOR,
        C(
            "structure",
            "VARCHAR",
            "multi-leg structure the order is a leg of: vertical | straddle | strangle | calendar "
            "| diagonal | ratio | butterfly | condor | roll | complex; null for orders that are "
            "not multi-leg (rules: docs/flow.md 3.7)",
            nullable=True,
        ),
        C(
            "structure_id",
            "VARCHAR",
            "id shared by the legs of one structure (16 hex digits); null outside structures",
            nullable=True,
        ),
        C("structure_legs", "INTEGER", "contracts in the structure", nullable=True),
        C(
            "structure_net_premium",
            "DOUBLE",
            "structure's net premium, USD: legs bought minus legs sold (by each leg's aggressor "
            "side; a leg at mid counts 0); positive = a net debit paid",
            nullable=True,
        ),
        C(
            "structure_net_delta",
            "DOUBLE",
            "structure's net delta in shares of the underlying: sum of side x delta x size x 100 "
            "over its legs (side +1 bought, -1 sold, 0 at mid; delta from the previous chain "
            "snapshot); null when a leg's delta is unknown",
            nullable=True,
        ),
    ),
    key=("event_id",),
    doc="Option prints grouped into orders per contract in time order, after dropping cancels "
    "(and the prints they cancel) and compression prints. One row per order with its type, "
    "aggressor side, sentiment, premium, volume vs OI and the prints behind it.",
)

FLOW_CONTEXT = Table(
    schema="flow",
    name="flow_context",
    columns=(
        C("trade_date", "DATE", "session date"),
        C("event_id", "VARCHAR", "the event (flow.flow_events.event_id)"),
        C("ticker", "VARCHAR", "underlying symbol"),
        C("ts", "TIMESTAMP", "the event's time (last print), America/New_York wall time"),
        C(
            "bar_ts",
            "TIMESTAMP",
            "start of the last 1m bar closed at or before ts (null before the first bar closes)",
            nullable=True,
        ),
        C(
            "spot",
            "DOUBLE",
            "that bar's close, else the previous session's close, USD",
            nullable=True,
        ),
        C("spot_source", "VARCHAR", "bar | prev_close | none"),
        C("vwap", "DOUBLE", "session VWAP of the closed bars, USD", nullable=True),
        C("vwap_dist", "DOUBLE", "spot / vwap - 1", nullable=True),
        C(
            "session_volume",
            "DOUBLE",
            "shares traded in the session through the last closed bar",
            nullable=True,
        ),
        C(
            "rvol",
            "DOUBLE",
            "session volume to this minute / mean at the same minute of the previous sessions",
            nullable=True,
        ),
        C("rvol_ok", "BOOLEAN", "rvol is known (enough sessions of history)"),
        C("rvol_sessions", "INTEGER", "previous sessions in the RVOL mean"),
        C("ret_15m", "DOUBLE", "return over the last 15 minutes of closed bars", nullable=True),
        C("trend_15m", "VARCHAR", "UP | DOWN | FLAT (flow.trend_15m_threshold)"),
        C(
            "daily_ret",
            "DOUBLE",
            "the ticker's return over market_regime.trend_lookback_days sessions to the "
            "previous session",
            nullable=True,
        ),
        C("daily_trend", "VARCHAR", "UP | DOWN | FLAT | UNKNOWN (market_regime bull/bear_return)"),
        C("prev_high", "DOUBLE", "previous session's high, USD", nullable=True),
        C("prev_low", "DOUBLE", "previous session's low, USD", nullable=True),
        C("prev_close", "DOUBLE", "previous session's close, USD", nullable=True),
        C("above_pdh", "BOOLEAN", "spot above the previous session's high"),
        C("below_pdl", "BOOLEAN", "spot below the previous session's low"),
        C(
            "or_high",
            "DOUBLE",
            "opening-range high (first flow.opening_range_minutes), once complete",
            nullable=True,
        ),
        C("or_low", "DOUBLE", "opening-range low, once complete", nullable=True),
        C("or_break", "VARCHAR", "UP | DOWN | INSIDE | PENDING (range not complete yet)"),
        C(
            "regime",
            "VARCHAR",
            "BULL | BEAR | NEUTRAL | HIGH_VOL | UNKNOWN from the benchmark's daily bars to the "
            "previous session",
        ),
        C(
            "regime_ret",
            "DOUBLE",
            "benchmark return over market_regime.trend_lookback_days",
            nullable=True,
        ),
        C(
            "regime_vol",
            "DOUBLE",
            "benchmark annualised realised volatility over the same window",
            nullable=True,
        ),
        # dealer gamma (primeflow_lib.flow.gex.gex_context), from the snapshot before the session
        C("gex_date", "DATE", "session of the market.gamma_exposure row used (before the event's)", nullable=True),
        C("gex_convention", "VARCHAR", "sign convention of those levels", nullable=True),
        C("gex_total", "DOUBLE", "total dealer GEX, USD of delta per 1 % move", nullable=True),
        C(
            "gex_regime",
            "VARCHAR",
            "POSITIVE | NEGATIVE: sign of the GEX profile at spot (usually: spot above / below the "
            "flip; without a flip the sign of gex_total) | NEAR_FLIP (spot within "
            "gex.near_flip_band expected moves of the flip: the sign is not meaningful) | UNKNOWN",
        ),
        C("gex_flip", "DOUBLE", "zero-gamma flip, USD (null: no sign change on the grid)", nullable=True),
        C("gex_call_wall", "DOUBLE", "call wall strike, USD", nullable=True),
        C("gex_put_wall", "DOUBLE", "put wall strike, USD", nullable=True),
        C("gex_flip_dist", "DOUBLE", "gex_flip / spot - 1 (negative: flip below spot)", nullable=True),
        C("gex_call_wall_dist", "DOUBLE", "gex_call_wall / spot - 1", nullable=True),
        C("gex_put_wall_dist", "DOUBLE", "gex_put_wall / spot - 1", nullable=True),
        # level-2 book (primeflow_lib.flow.l2_context), from market.l2_features of the same session
        C("l2_asof", "TIMESTAMP", "close (start + 1 minute) of the market.l2_features minute used: the last "
          "minute of the ticker's session that closed at or before ts (never the minute holding ts). Null, like "
          "every other l2_* field (l2_source is then 'none'), when no L2 source is configured, the ticker has no L2 rows that session, or the "
          "last one closed more than l2.max_age_minutes before ts", nullable=True),
        C("l2_ofi_1m", "DOUBLE", "order-flow imbalance over that minute, shares (positive = buying pressure); "
          "null also when the book lost sync in it", nullable=True),
        C("l2_depth_imbalance", "DOUBLE", "depth imbalance over the top l2.depth_levels levels at that minute's "
          "end, in [-1, 1] (positive = more shares bid)", nullable=True),
        C("l2_spread", "DOUBLE", "bid-ask spread of the underlying at that minute's end, USD", nullable=True),
        C("l2_source", "VARCHAR", "where that minute came from: vendor, schema and dataset, e.g. "
          "'dbn mbo XNAS.ITCH'; 'none' when no L2 minute was usable (the other l2_* fields are then null)"),
    ),
    key=("event_id",),
    doc="Market context of each flow event, computed only from data available at the event's "
    "time: spot, VWAP, time-of-day RVOL, 15-minute and daily trend, level breaks, regime, the "
    "previous snapshot's dealer gamma levels and, when L2 data is stored, the last complete minute's order-flow "
    "and depth imbalance.",
)

SIGNALS = Table(
    schema="flow",
    name="signals",
    columns=(
        C("signal_id", "VARCHAR", "stable id: sha1(event_id:kind), 16 hex digits"),
        C("trade_date", "DATE", "session date"),
        C("ts", "TIMESTAMP", "the event's time (last print), America/New_York wall time"),
        C("kind", "VARCHAR", "SCALP | DAY_TRADE | SWING"),
        C("ticker", "VARCHAR", "underlying symbol"),
        C("option_symbol", "VARCHAR", "OCC/OSI compact symbol"),
        C("expiry", "DATE", "expiration date"),
        C("right", "VARCHAR", "C or P"),
        C("strike", "DOUBLE", "strike, USD"),
        C("direction", "VARCHAR", "BULLISH | BEARISH"),
        C("strength", "DOUBLE", "shared score in [0, 1] (docs/flow.md)"),
        C(
            "tags",
            "VARCHAR",
            "comma-joined tags: SIZE, SWEEP, AGGRESSIVE, VOL>OI, TREND_CONFIRMED, REPEAT, BLOCK, "
            "GOLDEN, NEG_GAMMA",
        ),
        C("event_id", "VARCHAR", "the order (flow.flow_events.event_id)"),
        C("event_type", "VARCHAR", "sweep | split | block | single"),
        C("side", "VARCHAR", "aggressor side label"),
        C("side_confidence", "VARCHAR", "high | medium | low"),
        C("sentiment", "VARCHAR", "bullish | bearish"),
        C("premium", "DOUBLE", "USD"),
        C("size", "BIGINT", "contracts"),
        C("avg_price", "DOUBLE", "USD per share"),
        C("n_prints", "INTEGER", "prints in the order"),
        C("n_exchanges", "INTEGER", "distinct exchanges"),
        C("spot", "DOUBLE", "underlying at the event, USD", nullable=True),
        C("otm_pct", "DOUBLE", "OTM distance, fraction of spot", nullable=True),
        C("dte", "INTEGER", "days to expiry"),
        C("day_volume", "BIGINT", "contract volume so far in the session"),
        C("open_interest", "BIGINT", "open interest (previous snapshot)", nullable=True),
        C("vol_oi", "DOUBLE", "day_volume / max(open_interest, 1)", nullable=True),
        C("iv", "DOUBLE", "implied volatility (previous snapshot)", nullable=True),
        C("delta", "DOUBLE", "delta (previous snapshot)", nullable=True),
        VENDOR,
        C(
            "context_json",
            "JSON",
            "flow.flow_context snapshot at the event (+ cluster / repeat_days)",
        ),
        C(
            "rules_passed",
            "JSON",
            "JSON list of every gate and check that passed (names carry the thresholds)",
        ),
        C("rules_failed", "JSON", "JSON list of soft checks that failed (hard gates all passed)"),
        C("score_json", "JSON", "score components and strength"),
        C("print_ids", "VARCHAR", "comma-joined print ids behind the order"),
    ),
    key=("signal_id",),
    doc="Scored setups from ScalpMomentum, DayTrend and SwingAccumulation. Each row names every "
    "rule it passed and failed and carries the context it was scored on; rows round-trip "
    "through primeflow_lib.models.Signal.from_row.",
)

TABLES = (OPTION_PRINTS, quarantine_table("flow"), FLOW_EVENTS, FLOW_CONTEXT, SIGNALS)
