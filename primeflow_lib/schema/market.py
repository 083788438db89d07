"""Declarations of the ``market`` schema: universe, bars, option chain snapshots."""

from __future__ import annotations

from primeflow_lib.schema.base import C, Table
from primeflow_lib.schema.quarantine import quarantine_table

VENDOR = C("vendor", "VARCHAR", "data vendor the row came from (synthetic, massive, yfinance, ...)")

UNIVERSE = Table(
    schema="market",
    name="universe",
    columns=(
        C("trade_date", "DATE", "session the universe applies to"),
        C("rank", "INTEGER", "1 = highest average share volume"),
        C("ticker", "VARCHAR", "underlying symbol, vendor-neutral form (BRK.B)"),
        C("avg_volume", "DOUBLE", "mean daily share volume over the lookback sessions before trade_date"),
        C("last_close", "DOUBLE", "close of the last session before trade_date, USD", nullable=True),
        VENDOR,
    ),
    key=("trade_date", "ticker"),
    doc="Top-N tickers by average share volume over the sessions *before* each trading day "
    "(no look-ahead: the universe for a day is known before its open).",
)

OHLCV_DAILY = Table(
    schema="market",
    name="ohlcv_daily",
    columns=(
        C("trade_date", "DATE", "session date"),
        C("ticker", "VARCHAR", "underlying symbol"),
        C("open", "DOUBLE", "regular-session open, USD"),
        C("high", "DOUBLE", "regular-session high, USD"),
        C("low", "DOUBLE", "regular-session low, USD"),
        C("close", "DOUBLE", "regular-session close, USD (split-adjusted where the vendor adjusts)"),
        C("volume", "DOUBLE", "shares traded"),
        C("vwap", "DOUBLE", "volume-weighted average price of the session, USD", nullable=True),
        VENDOR,
    ),
    key=("trade_date", "ticker"),
    doc="Daily OHLCV per ticker for every universe ticker of the day.",
)

OHLCV_INTRADAY = Table(
    schema="market",
    name="ohlcv_intraday",
    columns=(
        C("trade_date", "DATE", "session date"),
        C("ts", "TIMESTAMP", "bar start, America/New_York wall time (naive)"),
        C("ticker", "VARCHAR", "underlying symbol"),
        C("open", "DOUBLE", "USD"),
        C("high", "DOUBLE", "USD"),
        C("low", "DOUBLE", "USD"),
        C("close", "DOUBLE", "USD"),
        C("volume", "DOUBLE", "shares traded in the bar"),
        C("vwap", "DOUBLE", "bar VWAP, USD", nullable=True),
        VENDOR,
    ),
    key=("ticker", "ts"),
    doc="1-minute regular-session bars (09:30-16:00 ET, earlier close on half days). "
    "Coarser timeframes (5m, 15m, 1h, 4h) are resampled on read.",
)

OPTION_CHAIN = Table(
    schema="market",
    name="option_chain",
    columns=(
        C("trade_date", "DATE", "session of the snapshot"),
        C("underlying", "VARCHAR", "underlying symbol"),
        C("option_symbol", "VARCHAR", "OCC/OSI compact symbol without prefix, e.g. SPY251219C00650000"),
        C("expiry", "DATE", "expiration date"),
        C("right", "VARCHAR", "C or P"),
        C("strike", "DOUBLE", "strike price, USD"),
        C("bid", "DOUBLE", "closing bid, USD per share", nullable=True),
        C("ask", "DOUBLE", "closing ask, USD per share", nullable=True),
        C("last", "DOUBLE", "last trade price, USD per share", nullable=True),
        C("volume", "DOUBLE", "contracts traded in the session", nullable=True),
        C("open_interest", "BIGINT", "open interest as of the start of the session (contracts)", nullable=True),
        C("iv", "DOUBLE", "implied volatility, annualised fraction (0.25 = 25%)", nullable=True),
        C("delta", "DOUBLE", "Black-Scholes delta per share", nullable=True),
        C("gamma", "DOUBLE", "Black-Scholes gamma per share per USD", nullable=True),
        C("theta", "DOUBLE", "Black-Scholes theta, USD per share per calendar day", nullable=True),
        C("vega", "DOUBLE", "Black-Scholes vega, USD per share per 1 volatility point (0.01)", nullable=True),
        C("underlying_price", "DOUBLE", "underlying price at the snapshot, USD", nullable=True),
        VENDOR,
    ),
    key=("trade_date", "option_symbol"),
    doc="End-of-day option chain snapshot per underlying: open interest, IV and greeks.",
)

TABLES = (UNIVERSE, OHLCV_DAILY, OHLCV_INTRADAY, OPTION_CHAIN, quarantine_table("market"))

# Dealer gamma exposure (primeflow_lib.flow.gex; meaning and caveats: docs/flow.md "Dealer gamma").
_GEX_UNIT = "USD of dealer delta per 1 % move of the underlying (gamma x OI x 100 x spot^2 x 0.01, signed)"
_CONVENTION = C("convention", "VARCHAR",
                "sign convention assumed: dealer_long_calls_short_puts (calls +, puts -) or dealer_short_all")

GAMMA_EXPOSURE = Table(
    schema="market",
    name="gamma_exposure",
    columns=(
        C("trade_date", "DATE", "session of the chain snapshot (after its close)"),
        C("underlying", "VARCHAR", "underlying symbol"),
        _CONVENTION,
        C("spot", "DOUBLE", "spot of the snapshot (median underlying_price of its rows), USD"),
        C("total_gex", "DOUBLE", "call_gex + put_gex, " + _GEX_UNIT),
        C("call_gex", "DOUBLE", "GEX of the calls, " + _GEX_UNIT),
        C("put_gex", "DOUBLE", "GEX of the puts, " + _GEX_UNIT),
        C("call_wall", "DOUBLE", "strike with the largest positive net GEX, USD (null: none positive)", nullable=True),
        C("put_wall", "DOUBLE", "strike with the most negative net GEX, USD (null: none negative)", nullable=True),
        C("zero_gamma", "DOUBLE", "zero-gamma flip: lowest spot on the grid where total GEX changes sign, "
          "linearly interpolated, USD; null when it never changes sign on the grid", nullable=True),
        C("flip_crossings", "INTEGER", "sign changes of the total-GEX profile on the grid"),
        C("grid_low", "DOUBLE", "lowest hypothetical spot of the profile grid, USD"),
        C("grid_high", "DOUBLE", "highest hypothetical spot of the profile grid, USD"),
        C("grid_points", "INTEGER", "points of the profile grid"),
        C("contracts_used", "BIGINT", "chain rows in the figures"),
        C("contracts_expired", "BIGINT", "chain rows expiring at or before the snapshot close (no gamma left)"),
        C("contracts_quarantined", "BIGINT", "chain rows unusable (no OI, no IV, ...): in market.quarantine"),
        VENDOR,
        C("asof", "TIMESTAMP", "time to expiry is measured from here (America/New_York wall time): the "
          "session's 16:00 close, or the snapshot's own time when taken during the session"),
        C("atm_iv", "DOUBLE", "IV of the nearest expiry at the strike closest to spot, annualised fraction",
          nullable=True),
        C("expected_move", "DOUBLE", "the day's one-standard-deviation move, spot x atm_iv x sqrt(1/365), USD",
          nullable=True),
        C("near_flip_band", "DOUBLE", "NEAR_FLIP half-width around the flip, in expected moves (gex.near_flip_band)"),
        C("regime", "VARCHAR", "at the snapshot's spot: POSITIVE | NEGATIVE (sign of total_gex) | NEAR_FLIP "
          "(spot within near_flip_band expected moves of the flip: the sign is not meaningful) | UNKNOWN"),
        C("units", "VARCHAR", "unit of the GEX figures: USD of dealer delta per 1% move of the underlying"),
    ),
    key=("trade_date", "underlying"),
    doc="Dealer gamma exposure per underlying and chain snapshot: totals, call and put walls and the "
    "zero-gamma flip, under the sign convention named in each row (an assumption: dealer books are "
    "not public). Flow context uses the previous session's row (no look-ahead).",
)

GAMMA_BY_STRIKE = Table(
    schema="market",
    name="gamma_by_strike",
    columns=(
        C("trade_date", "DATE", "session of the chain snapshot"),
        C("underlying", "VARCHAR", "underlying symbol"),
        C("strike", "DOUBLE", "strike, USD"),
        _CONVENTION,
        C("call_gex", "DOUBLE", "GEX of the calls at this strike (all expiries), " + _GEX_UNIT),
        C("put_gex", "DOUBLE", "GEX of the puts at this strike, " + _GEX_UNIT),
        C("net_gex", "DOUBLE", "call_gex + put_gex"),
        C("call_oi", "BIGINT", "open interest of the calls, contracts"),
        C("put_oi", "BIGINT", "open interest of the puts, contracts"),
        C("contracts", "INTEGER", "chain rows summed"),
        VENDOR,
    ),
    key=("trade_date", "underlying", "strike"),
    doc="Dealer gamma exposure per strike (every expiry summed) of each chain snapshot.",
)

GAMMA_BY_EXPIRY = Table(
    schema="market",
    name="gamma_by_expiry",
    columns=(
        C("trade_date", "DATE", "session of the chain snapshot"),
        C("underlying", "VARCHAR", "underlying symbol"),
        C("expiry", "DATE", "expiration date"),
        _CONVENTION,
        C("call_gex", "DOUBLE", "GEX of the calls of this expiry, " + _GEX_UNIT),
        C("put_gex", "DOUBLE", "GEX of the puts of this expiry, " + _GEX_UNIT),
        C("net_gex", "DOUBLE", "call_gex + put_gex"),
        C("call_oi", "BIGINT", "open interest of the calls, contracts"),
        C("put_oi", "BIGINT", "open interest of the puts, contracts"),
        C("contracts", "INTEGER", "chain rows summed"),
        VENDOR,
    ),
    key=("trade_date", "underlying", "expiry"),
    doc="Dealer gamma exposure per expiry of each chain snapshot (how much of it rolls off soon).",
)

TABLES = (*TABLES, GAMMA_EXPOSURE, GAMMA_BY_STRIKE, GAMMA_BY_EXPIRY)
