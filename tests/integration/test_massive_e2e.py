"""End to end : one Dagster run materializes universe -> daily and 1-minute bars ->
option chain -> option prints -> flow events with the Massive vendor pointed at a local server.

No internet: :class:`FakeMassive` is a real HTTP server on 127.0.0.1 (pytest-httpserver) that
speaks the documented response shapes of ``tests/fixtures/massive`` for a small, internally
consistent market generated here:

* a daily open/close path per ticker over every session the run needs (the 20-session universe
  lookback before each day included); each session's 1-minute bars are a random bridge from that
  open to that close, and the daily and grouped-daily bars are aggregated from those minute bars,
  so minute and daily bars agree exactly (the minute responses also carry pre-market and
  after-hours bars the vendor must drop, and are paged with ``next_url``);
* reference tickers (CS paged, ETF) straight from the fixtures;
* option chain snapshots (SPY paged; one deep-ITM contract without greeks, IV or trades) priced
  with Black-Scholes off the underlying's bars, volume and last trade from the last session's
  tape;
* per contract and session a tape of trades with the NBBO quote in force just before each
  print, plus, planted on SPY250620C00600000 on 2025-06-12: an intermarket sweep (condition 219,
  four exchanges within 3.4 ms, at the ask) and a print that is later cancelled (condition 201,
  correction 1).

The server checks the ``Authorization`` header on every request, answers anything it does not
know with a 404 (recorded in ``unrouted``), and fails one request with a 503 whose body echoes
the key, to show the retry path does not leak it.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import logging
import math
import re
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import dagster as dg
import numpy as np
import pandas as pd
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from primeflow_lib import calendar, warehouse
from primeflow_lib.symbols import format_occ
from primeflow_pipelines.defs.flow.assets import flow_scoring
from primeflow_pipelines.defs.flow.prints import option_prints
from primeflow_pipelines.defs.market.assets import (
    ohlcv_daily,
    ohlcv_intraday,
    option_chain,
    universe,
)
from primeflow_pipelines.defs.resources import PrimeflowConfig, WarehouseResource

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "massive"
ET = ZoneInfo("America/New_York")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
PUBLIC = "https://api.massive.com"  # next_url host: the client must re-base it onto ours

FAKE_KEY = "pfE2EfakeMassiveKey7c41d09b2e"
START, END = dt.date(2025, 6, 11), dt.date(2025, 6, 13)
DAYS = calendar.sessions(START, END)
LOOKBACK = 20
ASSETS = [universe, ohlcv_daily, ohlcv_intraday, option_chain, option_prints, flow_scoring]

CONFIG = f"""
universe:
  size: 3
  lookback_sessions: {LOOKBACK}
vendors:
  default: massive
  massive:
    max_contracts: 10
runtime:
  http_connect_timeout_s: 2.0
  http_read_timeout_s: 10.0
  http_max_retries: 1
  http_backoff_base_s: 0.01
  http_backoff_max_s: 0.05
  http_retry_after_cap_s: 1.0
  http_max_workers: 4
  vendor_calls_per_minute: 100000
"""

# -- the market --------------------------------------------------------------------------------

#: ticker -> (first open, mean daily share volume, daily return volatility). The reference
#: lists (fixtures) hold CS: AAPL BRK.B F NVDA TSLA and ETF: SPY SOXL; the others in grouped
#: daily (a preferred, a warrant, a test symbol) are not CS/ETF and must never be ranked.
MARKET: dict[str, tuple[float, float, float]] = {
    "NVDA": (139.5, 190e6, 0.022),
    "TSLA": (331.0, 110e6, 0.030),
    "SPY": (588.0, 75e6, 0.008),
    "F": (10.4, 60e6, 0.015),
    "AAPL": (201.0, 52e6, 0.013),
    "SOXL": (19.6, 45e6, 0.045),
    "BRK.B": (486.0, 4e6, 0.009),
    "KIMpL": (21.2, 4e3, 0.004),
    "DJT.WS": (11.3, 3e5, 0.040),
    "ZVZZT": (10.0, 1.2e3, 0.001),
}
UNIVERSE_TICKERS = ["NVDA", "TSLA", "SPY"]  # the top 3 by mean volume among CS/ETF
BENCHMARK = "SPY"
#: the fake vendor has daily bars far enough back for the complete-history backfill of
#: market/ohlcv_daily (twice the regime lookback, see primeflow_lib.market.daily_history)
HISTORY_SESSIONS = 300
ALL_SESSIONS = calendar.sessions(calendar.sessions_before(START, HISTORY_SESSIONS)[0], END)
EXCHANGES = (300, 302, 303, 307, 308, 312, 313, 316, 319, 322, 323, 325)
RATE = 0.04


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32("|".join(map(str, parts)).encode()))


def _ns(day: dt.date, t: dt.time) -> int:
    """Unix ns of ET wall time ``day t`` (exact to the microsecond)."""
    aware = dt.datetime.combine(day, t, tzinfo=ET)
    return (aware - EPOCH) // dt.timedelta(microseconds=1) * 1000


def _ms(moment: dt.datetime) -> int:
    return (moment.replace(tzinfo=ET) - EPOCH) // dt.timedelta(milliseconds=1)


def _et_date(ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(ns / 1e9, ET).date()


@functools.cache
def daily_open_close(ticker: str) -> dict[dt.date, tuple[float, float, float]]:
    """session -> (open, close, share volume): a random walk with small overnight gaps."""
    first, volume, sigma = MARKET[ticker]
    rng = _rng("daily", ticker)
    out, prev = {}, first
    for day in ALL_SESSIONS:
        o = round(prev * (1 + rng.normal(0, sigma / 4)), 2)
        c = round(o * (1 + rng.normal(0, sigma)), 2)
        out[day] = (o, c, float(round(volume * rng.lognormal(0, 0.15))))
        prev = c
    return out


@functools.cache
def minute_bars(ticker: str, day: dt.date) -> tuple[dict[str, Any], ...]:
    """The regular-session 1-minute aggregates of ``ticker`` on ``day`` (Massive shape)."""
    o, c, volume = daily_open_close(ticker)[day]
    op, cl = calendar.session_open_close(day)
    n = int((cl - op).total_seconds() // 60)
    rng = _rng("minute", ticker, day)
    sigma = MARKET[ticker][2] / math.sqrt(n)
    walk = np.cumsum(rng.normal(0, sigma, n))
    walk -= np.arange(1, n + 1) / n * walk[-1]  # a bridge: ends where the daily close says
    closes = np.round(o + (c - o) * np.arange(1, n + 1) / n + o * walk, 2)
    closes[-1] = c
    opens = np.r_[o, closes[:-1]]
    highs = np.round(np.maximum(opens, closes) + np.abs(rng.normal(0, sigma / 2, n)) * o, 2)
    lows = np.round(np.minimum(opens, closes) - np.abs(rng.normal(0, sigma / 2, n)) * o, 2)
    profile = 1.0 + 2.0 * ((np.arange(n) - n / 2) / (n / 2)) ** 2  # busy open and close
    vols = np.maximum(1, np.round(volume * profile / profile.sum()))
    t0 = _ms(op)
    return tuple(
        {
            "c": float(closes[i]),
            "h": float(highs[i]),
            "l": float(lows[i]),
            "n": int(vols[i] // 90) + 1,
            "o": float(opens[i]),
            "t": t0 + 60_000 * i,
            "v": float(vols[i]),
            "vw": round(float(highs[i] + lows[i] + closes[i]) / 3, 4),
        }
        for i in range(n)
    )


def extended_hours_bars(ticker: str, day: dt.date) -> list[dict[str, Any]]:
    """Pre-market and after-hours bars Massive also returns; not part of the session."""
    o, c, _ = daily_open_close(ticker)[day]
    out = []
    for at, px in (
        (dt.time(8, 0), o),
        (dt.time(9, 29), o),
        (dt.time(16, 0), c),
        (dt.time(19, 59), c),
    ):
        ms = _ms(dt.datetime.combine(day, at))
        out.append({"c": px, "h": px, "l": px, "n": 3, "o": px, "t": ms, "v": 1500.0, "vw": px})
    return out


@functools.cache
def daily_bar(ticker: str, day: dt.date) -> dict[str, Any]:
    """The session's daily aggregate, built from its minute bars (``t`` = 00:00 ET)."""
    bars = minute_bars(ticker, day)
    v = sum(b["v"] for b in bars)
    return {
        "c": bars[-1]["c"],
        "h": max(b["h"] for b in bars),
        "l": min(b["l"] for b in bars),
        "n": sum(b["n"] for b in bars),
        "o": bars[0]["o"],
        "t": _ms(dt.datetime.combine(day, dt.time())),
        "v": v,
        "vw": round(sum(b["vw"] * b["v"] for b in bars) / v, 4),
    }


def grouped_daily(day: dt.date) -> list[dict[str, Any]]:
    close_ms = _ms(calendar.session_open_close(day)[1])
    return [{"T": t, **daily_bar(t, day), "t": close_ms} for t in MARKET]


# -- options -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Contract:
    underlying: str
    expiry: dt.date
    right: str
    strike: float
    iv: float | None  # None: deep ITM, the vendor sends no greeks / IV and it never trades
    open_interest: int

    @property
    def symbol(self) -> str:
        return format_occ(self.underlying, self.expiry, self.right, self.strike)


JUN20, JUL18, DEC19 = dt.date(2025, 6, 20), dt.date(2025, 7, 18), dt.date(2025, 12, 19)
CONTRACTS: dict[str, list[Contract]] = {
    "SPY": [
        Contract("SPY", JUN20, "C", 600, 0.14, 48210),
        Contract("SPY", JUN20, "P", 580, 0.17, 39105),
        Contract("SPY", DEC19, "C", 650, 0.17, 98412),
        Contract("SPY", JUN20, "C", 400, None, 312),
    ],
    "NVDA": [
        Contract("NVDA", JUN20, "C", 145, 0.42, 120331),
        Contract("NVDA", JUL18, "P", 135, 0.45, 60220),
    ],
    "TSLA": [
        Contract("TSLA", JUN20, "C", 340, 0.55, 70110),
        Contract("TSLA", JUN20, "P", 310, 0.58, 52200),
    ],
}
BY_SYMBOL = {c.symbol: c for cs in CONTRACTS.values() for c in cs}
DEEP_ITM = "SPY250620C00400000"

PLANT_SYMBOL, PLANT_DAY = "SPY250620C00600000", dt.date(2025, 6, 12)
SWEEP_AT = dt.time(10, 35, 12)
SWEEP_LEGS = ((302, 40, 0), (308, 25, 1200), (316, 60, 2100), (323, 50, 3400))  # (exch, size, us)
CANCELLED_AT, CANCEL_AT = dt.time(11, 2, 0, 250_000), dt.time(11, 2, 4)
CANCELLED_EXCH, CANCELLED_SIZE = 312, 77


def black_scholes(spot: float, c: Contract, day: dt.date) -> dict[str, float]:
    """Price and per-share greeks (theta per day, vega per vol point)."""
    t = max((c.expiry - day).days, 1) / 365
    v = c.iv or 0.2
    sq = v * math.sqrt(t)
    d1 = (math.log(spot / c.strike) + (RATE + v * v / 2) * t) / sq
    d2 = d1 - sq
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    pdf = math.exp(-d1 * d1 / 2) / math.sqrt(2 * math.pi)
    disc = c.strike * math.exp(-RATE * t)
    decay = -spot * pdf * v / (2 * math.sqrt(t))
    if c.right == "C":
        price, delta = spot * cdf(d1) - disc * cdf(d2), cdf(d1)
        theta = (decay - RATE * disc * cdf(d2)) / 365
    else:
        price, delta = disc * cdf(-d2) - spot * cdf(-d1), cdf(d1) - 1
        theta = (decay + RATE * disc * cdf(-d2)) / 365
    return {
        "price": price,
        "delta": round(delta, 4),
        "gamma": round(pdf / (spot * sq), 4),
        "theta": round(theta, 4),
        "vega": round(spot * pdf * math.sqrt(t) / 100, 4),
    }


def nbbo(c: Contract, day: dt.date, spot: float) -> tuple[float, float]:
    theo = max(black_scholes(spot, c, day)["price"], 0.10)
    spread = 0.05 if theo < 3 else 0.10 if theo < 10 else 0.20
    bid = round(theo - spread / 2, 2)
    return bid, round(bid + spread, 2)


def _quote(ns: int, bid: float, ask: float, rng: np.random.Generator) -> dict[str, Any]:
    return {
        "ask_exchange": int(rng.choice(EXCHANGES)),
        "ask_price": ask,
        "ask_size": int(rng.integers(5, 300)),
        "bid_exchange": int(rng.choice(EXCHANGES)),
        "bid_price": bid,
        "bid_size": int(rng.integers(5, 300)),
        "sequence_number": int(rng.integers(10**8, 10**9)),
        "sip_timestamp": ns,
    }


def _trade(ns: int, exch: int, price: float, size: int, conds: list[int] | None) -> dict:
    out: dict[str, Any] = {
        "exchange": exch,
        "participant_timestamp": ns - 150_000,
        "price": price,
        "sip_timestamp": ns,
        "size": size,
    }
    if conds is not None:
        out["conditions"] = conds
    return out


@functools.cache
def tape(symbol: str, day: dt.date) -> tuple[tuple[dict, ...], tuple[dict, ...]]:
    """(trades, quotes) of a contract on a session, each in SIP order; every print has the
    quote in force 40 ms before it."""
    c = BY_SYMBOL[symbol]
    if c.iv is None:
        return (), ()
    rng = _rng("tape", symbol, day)
    closes = [b["c"] for b in minute_bars(c.underlying, day)]
    op, _ = calendar.session_open_close(day)
    trades: list[dict] = []
    quotes: list[dict] = []

    def quoted(ns: int, minute: int) -> tuple[float, float]:
        bid, ask = nbbo(c, day, closes[minute])
        quotes.append(_quote(ns - 40_000_000, bid, ask, rng))
        return bid, ask

    planted = symbol == PLANT_SYMBOL and day == PLANT_DAY
    busy = [65, 92] if planted else []  # 10:35 and 11:02: keep random prints away
    free = [m for m in range(3, len(closes) - 3) if all(abs(m - b) > 2 for b in busy)]
    for m in sorted(rng.choice(free, size=int(rng.integers(6, 11)), replace=False)):
        at = op + dt.timedelta(minutes=int(m), seconds=int(rng.integers(1, 58)))
        ns = _ns(day, at.time()) + int(rng.integers(0, 10**6)) * 1000
        bid, ask = quoted(ns, int(m))
        where = rng.choice(["ask", "bid", "mid"], p=[0.45, 0.35, 0.2])
        price = {"ask": ask, "bid": bid, "mid": round((bid + ask) / 2, 2)}[where]
        kind = rng.choice(["auto", "none", "multileg"], p=[0.75, 0.15, 0.10])
        conds = {"auto": [209], "none": None, "multileg": [232]}[kind]
        size = int(rng.choice([1, 2, 3, 5, 10, 15, 20, 25, 50]))
        trades.append(_trade(ns, int(rng.choice(EXCHANGES)), price, size, conds))
    if planted:
        t0 = _ns(day, SWEEP_AT)
        _, ask = quoted(t0, 65)
        for exch, size, us in SWEEP_LEGS:
            trades.append(_trade(t0 + us * 1000, exch, ask, size, [219]))
        t1 = _ns(day, CANCELLED_AT)
        bid, ask = quoted(t1, 92)
        mid = round((bid + ask) / 2, 2)
        trades.append(_trade(t1, CANCELLED_EXCH, mid, CANCELLED_SIZE, [209]))
        cancel = _trade(_ns(day, CANCEL_AT), CANCELLED_EXCH, mid, CANCELLED_SIZE, [201])
        cancel["correction"] = 1
        trades.append(cancel)
    trades.sort(key=lambda r: r["sip_timestamp"])
    quotes.sort(key=lambda r: r["sip_timestamp"])
    return tuple(trades), tuple(quotes)


def snapshot_result(c: Contract) -> dict[str, Any]:
    """One contract of ``/v3/snapshot/options/{underlying}`` as of the close of END."""
    spot = daily_bar(c.underlying, END)["c"]
    updated = _ns(END, dt.time(15, 59, 58))
    rng = _rng("snapshot", c.symbol)
    prev_day = calendar.previous_session(END)
    details = {
        "contract_type": "call" if c.right == "C" else "put",
        "exercise_style": "american",
        "expiration_date": c.expiry.isoformat(),
        "shares_per_contract": 100,
        "strike_price": c.strike,
        "ticker": "O:" + c.symbol,
    }
    underlying = {
        "change_to_break_even": 0.0,
        "last_updated": updated,
        "price": spot,
        "ticker": c.underlying,
        "timeframe": "REAL-TIME",
    }
    if c.iv is None:  # deep ITM: quoted, never traded, no greeks or IV
        intrinsic = round(spot - c.strike if c.right == "C" else c.strike - spot, 2)
        q = _quote(updated, round(intrinsic - 0.6, 2), round(intrinsic + 0.6, 2), rng)
        day = dict.fromkeys(("change", "change_percent", "volume", "vwap"), 0)
        day |= dict.fromkeys(("close", "high", "low", "open", "previous_close"), intrinsic)
        return {
            "break_even_price": round(c.strike + intrinsic, 2),
            "day": {**day, "last_updated": updated},
            "details": details,
            "last_quote": _snapshot_quote(q, updated),
            "open_interest": c.open_interest,
            "underlying_asset": underlying,
        }
    trades, quotes = tape(c.symbol, END)
    prices = [t["price"] for t in trades]
    sizes = [t["size"] for t in trades]
    prev_close = tape(c.symbol, prev_day)[0][-1]["price"]
    g = black_scholes(spot, c, END)
    last = trades[-1]
    be = c.strike + prices[-1] if c.right == "C" else c.strike - prices[-1]
    return {
        "break_even_price": round(be, 2),
        "day": {
            "change": round(prices[-1] - prev_close, 2),
            "change_percent": round(100 * (prices[-1] / prev_close - 1), 2),
            "close": prices[-1],
            "high": max(prices),
            "last_updated": updated,
            "low": min(prices),
            "open": prices[0],
            "previous_close": prev_close,
            "volume": sum(sizes),
            "vwap": round(sum(p * s for p, s in zip(prices, sizes, strict=True)) / sum(sizes), 4),
        },
        "details": details,
        "last_quote": _snapshot_quote(quotes[-1], updated),
        "open_interest": c.open_interest,
        "underlying_asset": {**underlying, "change_to_break_even": round(be - spot, 2)},
        "greeks": {k: g[k] for k in ("delta", "gamma", "theta", "vega")},
        "implied_volatility": c.iv,
        "last_trade": {
            "conditions": last.get("conditions", []),
            "exchange": last["exchange"],
            "price": last["price"],
            "sip_timestamp": last["sip_timestamp"],
            "size": last["size"],
            "timeframe": "REAL-TIME",
        },
    }


def _snapshot_quote(q: dict[str, Any], updated: int) -> dict[str, Any]:
    return {
        "ask": q["ask_price"],
        "ask_exchange": q["ask_exchange"],
        "ask_size": q["ask_size"],
        "bid": q["bid_price"],
        "bid_exchange": q["bid_exchange"],
        "bid_size": q["bid_size"],
        "last_updated": updated,
        "midpoint": round((q["ask_price"] + q["bid_price"]) / 2, 3),
        "timeframe": "REAL-TIME",
    }


# -- the server ----------------------------------------------------------------------------------


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _cursor(**state: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("=")


def _uncursor(text: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _page(body: dict[str, Any], results: list, state: dict, path: str, size: int) -> dict:
    """``results[off:off + size]`` with a ``next_url`` on the public host when more remain."""
    off = int(state.get("off", 0))
    body = {**body, "results": results[off : off + size], "status": "OK"}
    body["request_id"] = hashlib.md5(f"{path}{off}".encode()).hexdigest()
    body["resultsCount"] = len(body["results"])
    if off + size < len(results):
        body["next_url"] = f"{PUBLIC}{path}?" + urlencode(
            {"cursor": _cursor(**state, off=off + size)}
        )
    return body


@dataclass
class Hit:
    path: str
    args: dict[str, str]
    authorization: str | None


@dataclass
class FakeMassive:
    """The Massive REST API for the market above (see the module doc)."""

    base_url: str
    hits: list[Hit] = field(default_factory=list)
    unrouted: list[str] = field(default_factory=list)
    #: path prefix -> reply that replaces the normal one (e.g. a 403 for a plan feature)
    overrides: dict[str, Callable[[Request], Response]] = field(default_factory=dict)
    #: paths that fail once with a 503 echoing the key, then work
    flaky: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, request: Request) -> Response:
        path, args = request.path, dict(request.args)
        with self._lock:
            self.hits.append(Hit(path, args, request.headers.get("Authorization")))
            flaky = path in self.flaky and not args.get("cursor")
            self.flaky.discard(path)
        if request.headers.get("Authorization") != f"Bearer {FAKE_KEY}":
            return _json(_fixture("error_401_unknown_key.json"), 401)
        if flaky:
            return _json({"status": "ERROR", "error": f"upstream busy (key {FAKE_KEY})"}, 503)
        for prefix, reply in self.overrides.items():
            if path.startswith(prefix):
                return reply(request)
        for pattern, name in self.ROUTES:
            m = pattern.fullmatch(path)
            if m:
                return getattr(self, name)(path, args, *m.groups())
        with self._lock:
            self.unrouted.append(path)
        return _json({"status": "NOT_FOUND", "message": f"no route for {path}"}, 404)

    ROUTES = (
        (re.compile(r"/v2/aggs/grouped/locale/us/market/stocks/(\d{4}-\d\d-\d\d)"), "_grouped"),
        (re.compile(r"/v2/aggs/ticker/([A-Za-z.]+)/range/1/(day|minute)/([^/]+)/([^/]+)"), "_aggs"),
        (re.compile(r"/v3/reference/tickers"), "_tickers"),
        (re.compile(r"/v3/reference/conditions"), "_conditions"),
        (re.compile(r"/v3/snapshot/options/([A-Za-z.]+)"), "_snapshot"),
        (re.compile(r"/v3/trades/O:([A-Z0-9]+)"), "_trades"),
        (re.compile(r"/v3/quotes/O:([A-Z0-9]+)"), "_quotes"),
    )

    def _grouped(self, path: str, args: dict, day: str) -> Response:
        assert args == {"adjusted": "true", "include_otc": "false"}
        d = dt.date.fromisoformat(day)
        results = grouped_daily(d) if calendar.is_session(d) else []
        body = {"adjusted": True, "queryCount": len(results), "results": results}
        return _json(_page(body, results, {}, path, 10_000))

    def _aggs(self, path: str, args: dict, ticker: str, span: str, lo: str, hi: str) -> Response:
        state = _uncursor(args["cursor"]) if "cursor" in args else {"lo": lo, "hi": hi}
        if "cursor" not in args:
            assert args == {"adjusted": "true", "sort": "asc", "limit": "50000"}
        days = calendar.sessions(state["lo"], state["hi"])
        if span == "day":
            results = [daily_bar(ticker, d) for d in days]
        else:
            results = sorted(
                (
                    b
                    for d in days
                    for b in (*minute_bars(ticker, d), *extended_hours_bars(ticker, d))
                ),
                key=lambda b: b["t"],
            )
        body = {"adjusted": True, "queryCount": len(results), "ticker": ticker}
        return _json(_page(body, results, state, path, 250))

    def _tickers(self, path: str, args: dict) -> Response:
        p1 = _fixture("reference_tickers_CS_page1.json")
        if args.get("cursor") == p1["next_url"].split("cursor=")[1]:
            return _json(_fixture("reference_tickers_CS_page2.json"))
        assert args["market"] == "stocks" and args["active"] == "true", args
        return _json(p1 if args["type"] == "CS" else _fixture("reference_tickers_ETF.json"))

    def _conditions(self, path: str, args: dict) -> Response:
        assert args["asset_class"] == "options"
        return _json(_fixture("reference_conditions_options_subset.json"))

    def _snapshot(self, path: str, args: dict, und: str) -> Response:
        state = _uncursor(args["cursor"]) if "cursor" in args else {}
        results = [snapshot_result(c) for c in CONTRACTS.get(und, [])]
        return _json(_page({}, results, state, path, 2))

    def _trades(self, path: str, args: dict, sym: str) -> Response:
        state = _uncursor(args["cursor"]) if "cursor" in args else dict(args)
        day = _et_date(int(state["timestamp.gte"]))
        assert int(state["timestamp.gte"]) == _ns(day, dt.time())
        trades, _ = tape(sym, day) if sym in BY_SYMBOL else ((), ())
        # the planted session's tape comes in pages of 6, the others in one page
        size = 6 if sym == PLANT_SYMBOL else 50_000
        return _json(_page({}, list(trades), state, path, size))

    def _quotes(self, path: str, args: dict, sym: str) -> Response:
        lo, hi = int(args["timestamp.gte"]), int(args["timestamp.lte"])
        _, quotes = tape(sym, _et_date(hi))
        return _json(
            _page({}, [q for q in quotes if lo <= q["sip_timestamp"] <= hi], {}, path, 50_000)
        )


def not_authorized(request: Request) -> Response:
    return _json(_fixture("error_403_not_authorized.json"), 403)


@pytest.fixture
def massive_server(tmp_path, monkeypatch) -> Iterator[FakeMassive]:
    """The fake Massive on a threaded local server, and the environment a user would set."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    fake = FakeMassive(base_url=server.url_for("/").rstrip("/"))
    server.expect_request(re.compile(".*")).respond_with_handler(fake.handle)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG)
    monkeypatch.setenv("PRIMEFLOW_CONFIG", str(cfg))
    monkeypatch.setenv("PRIMEFLOW_VENDOR", "massive")
    monkeypatch.setenv("POLYGON_MASSIVE_KEY", FAKE_KEY)
    monkeypatch.setenv("PRIMEFLOW_MASSIVE_BASE_URL", fake.base_url)
    monkeypatch.setenv("PRIMEFLOW_MASSIVE_SNAPSHOT_ANY_DATE", "1")  # chain/prints for past days
    try:
        yield fake
    finally:
        server.clear()
        server.stop()


@pytest.fixture
def debug_logs(caplog) -> Iterator[pytest.LogCaptureFixture]:
    """Every log record at DEBUG and up, from every logger. (Not ``caplog.set_level(..,
    logger="numba")`` to quiet numba's compiler: that also raises the capture handler's level.)"""
    caplog.set_level(logging.DEBUG)
    numba_log = logging.getLogger("numba")
    before = numba_log.level
    numba_log.setLevel(logging.WARNING)
    try:
        yield caplog
    finally:
        numba_log.setLevel(before)


def materialize(instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        resources={"warehouse": WarehouseResource(), "primeflow_config": PrimeflowConfig()},
        tags={
            "dagster/asset_partition_range_start": START.isoformat(),
            "dagster/asset_partition_range_end": END.isoformat(),
        },
        instance=instance,
        raise_on_error=False,
    )


def text_columns() -> list[tuple[str, str, str]]:
    with warehouse.connect() as con:
        return con.execute(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns "
            "WHERE data_type IN ('VARCHAR', 'JSON') AND table_schema NOT IN ('information_schema', "
            "'pg_catalog') ORDER BY ALL"
        ).fetchall()


def rows_containing(needle: str) -> dict[str, int]:
    """``schema.table.column -> rows`` whose text (VARCHAR or JSON) contains ``needle``, over
    every table of the warehouse."""
    out = {}
    with warehouse.connect() as con:
        for s, t, c in text_columns():
            sql = f'SELECT count(*) FROM "{s}"."{t}" WHERE contains(CAST("{c}" AS VARCHAR), ?)'
            n = con.execute(sql, [needle])
            if (k := n.fetchone()[0]) > 0:
                out[f"{s}.{t}.{c}"] = k
    return out


def vendors_by_table() -> dict[str, dict[str, int]]:
    """``schema.table -> {vendor: rows}`` for every table with a vendor column."""
    out = {}
    with warehouse.connect() as con:
        for s, t, c in text_columns():
            if c == "vendor":
                got = con.execute(f'SELECT vendor, count(*) FROM "{s}"."{t}" GROUP BY 1').fetchall()
                out[f"{s}.{t}"] = dict(got)
    return out


def query(sql: str, params: list | None = None) -> pd.DataFrame:
    with warehouse.connect() as con:
        return con.execute(sql, params or []).df()


def assert_key_nowhere(instance: dg.DagsterInstance, res, caplog, server: FakeMassive) -> None:
    # sent only as the bearer header, never in a URL
    assert server.hits and all(h.authorization == f"Bearer {FAKE_KEY}" for h in server.hits)
    assert not [h for h in server.hits if FAKE_KEY in h.path or FAKE_KEY in json.dumps(h.args)]
    # no log record (DEBUG and up, every logger: urllib3 request lines, retries, the server)
    names = {r.name.split(".")[0] for r in caplog.records}
    assert {"urllib3", "primeflow_lib", "werkzeug"} <= names, names
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    for r in caplog.records:
        text = r.getMessage() + (r.exc_text or "") + (r.stack_info or "")
        assert FAKE_KEY not in text, (r.name, text)
    # no stored row
    assert rows_containing(FAKE_KEY) == {}
    # no event of the run: metadata values, step logs, failures (the whole serialized record)
    entries = instance.all_logs(res.run_id)
    assert entries
    for e in entries:
        assert FAKE_KEY not in dg.serialize_value(e), e.dagster_event_type
    for m in res.get_asset_materialization_events():
        for k, v in m.materialization.metadata.items():
            assert FAKE_KEY not in str(v.value), k


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.slow  # ~14 s warm; ~30 s on a cold numba cache (the flow engine's JIT compile)
def test_massive_end_to_end_universe_to_flow_events(massive_server, debug_logs):
    caplog = debug_logs
    # one minute-bar request fails with a 503 that echoes the key; the retry gets the data
    massive_server.flaky.add(f"/v2/aggs/ticker/SPY/range/1/minute/{PLANT_DAY}/{PLANT_DAY}")
    instance = dg.DagsterInstance.ephemeral()

    res = materialize(instance)

    failures = [
        (e.step_key, e.event_specific_data.error.to_string()) for e in res.get_step_failure_events()
    ]
    assert res.success, failures
    assert massive_server.unrouted == []
    evals = res.get_asset_check_evaluations()
    expected = {(c.asset_key, c.name) for a in ASSETS for c in a.check_specs}
    assert {(e.asset_key, e.check_name) for e in evals} == expected
    assert all(e.passed for e in evals), [
        (e.asset_key, e.check_name) for e in evals if not e.passed
    ]
    materialized = {m.asset_key for m in res.get_asset_materialization_events()}
    assert materialized == {k for a in ASSETS for k in a.keys}

    # every stored row comes from massive
    by_table = vendors_by_table()
    for t in (
        "market.universe",
        "market.ohlcv_daily",
        "market.ohlcv_intraday",
        "market.option_chain",
        "flow.option_prints",
        "flow.flow_events",
    ):
        assert by_table[t].get("massive", 0) > 0, t
    assert {v for counts in by_table.values() for v in counts} == {"massive"}, by_table

    # universe: the top 3 CS/ETF by mean volume over the 20 sessions before each day
    uni = query("SELECT * FROM market.universe ORDER BY trade_date, rank")
    for day, g in uni.groupby(uni["trade_date"].dt.date):
        assert g["ticker"].tolist() == UNIVERSE_TICKERS, day
        lookback = calendar.sessions_before(day, LOOKBACK)
        for t, avg in zip(g["ticker"], g["avg_volume"], strict=True):
            assert avg == pytest.approx(np.mean([daily_bar(t, d)["v"] for d in lookback]))
        assert g["last_close"].tolist() == [
            daily_bar(t, lookback[-1])["c"] for t in UNIVERSE_TICKERS
        ]
    assert set(uni["trade_date"].dt.date) == set(DAYS)

    # bars: daily as served; minute bars of the regular session only, aggregating to the daily
    # (daily bars reach back over the warm-up lookback: complete history, no gaps)
    history = query("SELECT * FROM market.ohlcv_daily ORDER BY ticker, trade_date")
    for t, g in history.groupby("ticker"):
        span = calendar.sessions(g["trade_date"].min().date(), g["trade_date"].max().date())
        assert list(g["trade_date"].dt.date) == span, t
        assert span[-1] == DAYS[-1] and len(span) > len(DAYS) + LOOKBACK, t
    assert set(history["ticker"]) == set(UNIVERSE_TICKERS)
    for r in history.itertuples():
        b = daily_bar(r.ticker, r.trade_date.date())
        assert (r.open, r.high, r.low, r.close, r.volume) == tuple(b[k] for k in "ohlcv")
    daily = history[history["trade_date"].dt.date.isin(DAYS)].reset_index(drop=True)
    assert len(daily) == len(UNIVERSE_TICKERS) * len(DAYS)
    agg = query(
        "SELECT ticker, trade_date, count(*) AS n, min(ts) AS first, max(ts) AS last, "
        "max(high) AS high, min(low) AS low, sum(volume) AS volume, arg_max(close, ts) AS close "
        "FROM market.ohlcv_intraday GROUP BY ALL ORDER BY ALL"
    )
    assert len(agg) == len(daily)
    for a, d in zip(agg.itertuples(), daily.itertuples(), strict=True):
        assert (a.ticker, a.trade_date) == (d.ticker, d.trade_date)
        assert a.n == 390
        assert (a.first.time(), a.last.time()) == (dt.time(9, 30), dt.time(15, 59))
        assert (a.high, a.low, a.volume, a.close) == (d.high, d.low, d.volume, d.close)

    # chain: every contract each day, the deep-ITM one without greeks or IV
    chain = query("SELECT * FROM market.option_chain ORDER BY trade_date, option_symbol")
    assert len(chain) == len(BY_SYMBOL) * len(DAYS)
    assert set(chain["option_symbol"]) == set(BY_SYMBOL)
    deep = chain[chain["option_symbol"] == DEEP_ITM]
    assert deep[["delta", "gamma", "theta", "vega", "iv"]].isna().all().all()
    assert (deep["volume"] == 0).all() and (deep["open_interest"] == 312).all()
    traded = chain[chain["option_symbol"] != DEEP_ITM]
    assert traded[["delta", "gamma", "theta", "vega", "iv"]].notna().all().all()

    # prints: every trade of every traded contract, as served (the cancel included)
    prints = query("SELECT * FROM flow.option_prints ORDER BY trade_date, option_symbol, seq")
    served = sum(len(tape(s, d)[0]) for s in BY_SYMBOL for d in DAYS)
    assert len(prints) == served
    assert prints["bid"].notna().all() and prints["ask"].notna().all()  # NBBO joined
    trade_paths = {h.path for h in massive_server.hits if h.path.startswith("/v3/trades/")}
    assert f"/v3/trades/O:{DEEP_ITM}" not in trade_paths  # no volume: never asked for
    # next_url was followed (re-based from the public host) for every paged resource
    paged = {h.path.split("/")[2] for h in massive_server.hits if "cursor" in h.args}
    assert {"aggs", "reference", "snapshot", "trades"} <= paged, paged

    # flow events: the planted sweep, and the cancelled print gone with its cancel
    events = query("SELECT * FROM flow.flow_events ORDER BY trade_date, first_sip_timestamp")
    assert len(events) and set(events["trade_date"].dt.date) == set(DAYS)
    sweep_ns = _ns(PLANT_DAY, SWEEP_AT)
    sweep = events[
        (events["option_symbol"] == PLANT_SYMBOL) & (events["first_sip_timestamp"] == sweep_ns)
    ]
    assert len(sweep) == 1, events[events["option_symbol"] == PLANT_SYMBOL]
    sw = sweep.iloc[0]
    assert sw["event_type"] == "sweep" and sw["n_exchanges"] >= 2
    assert (sw["n_prints"], sw["n_exchanges"], sw["size"]) == (4, 4, 175)
    assert bool(sw["has_iso"]) and sw["side"] == "ask" and sw["sentiment"] == "bullish"
    assert sw["open_interest"] == 48210 and sw["chain_date"].date() == START  # previous snapshot
    plant = prints[
        (prints["option_symbol"] == PLANT_SYMBOL) & (prints["trade_date"].dt.date == PLANT_DAY)
    ]
    legs = plant[plant["sip_timestamp"].between(sweep_ns, sweep_ns + 3_400_000)]
    assert sw["print_ids"].split(",") == legs["print_id"].tolist()
    assert sw["premium"] == pytest.approx((legs["price"] * legs["size"]).sum() * 100)
    gone = plant[plant["size"] == CANCELLED_SIZE]
    assert len(gone) == 2 and gone["correction"].fillna(0).tolist() == [0, 1]  # stored raw
    used = {p for ids in events["print_ids"] for p in ids.split(",")}
    assert not used & set(gone["print_id"])
    assert not (
        (events["option_symbol"] == PLANT_SYMBOL) & (events["size"] == CANCELLED_SIZE)
    ).any()
    assert set(used) <= set(prints["print_id"])

    # the transient 503 was retried, and the key is nowhere
    flaky_path = f"/v2/aggs/ticker/SPY/range/1/minute/{PLANT_DAY}/{PLANT_DAY}"
    first_pages = [
        h for h in massive_server.hits if h.path == flaky_path and "cursor" not in h.args
    ]
    assert len(first_pages) == 2
    assert any(
        "HTTP 503" in r.getMessage() and "retrying" in r.getMessage() for r in caplog.records
    )
    assert_key_nowhere(instance, res, caplog, massive_server)


def test_massive_plan_without_chain_snapshots_fails_clearly_without_fallback(
    massive_server, debug_logs
):
    caplog = debug_logs
    massive_server.overrides["/v3/snapshot/options/"] = not_authorized
    instance = dg.DagsterInstance.ephemeral()

    res = materialize(instance)

    assert not res.success
    failed = {e.step_key: e.event_specific_data.error for e in res.get_step_failure_events()}
    # option_prints takes its contract list from the same snapshot: it fails the same way
    assert set(failed) == {"market__option_chain", "flow__option_prints"}
    for step, err in failed.items():
        chain_of_errors = []
        while err is not None:
            chain_of_errors.append(err)
            err = err.cause or err.context
        plan = [e for e in chain_of_errors if e.cls_name == "VendorPlanError"]
        assert plan, (step, [e.cls_name for e in chain_of_errors])
        msg = plan[0].message
        assert "massive" in msg and "option chain snapshot of" in msg, msg
        assert "HTTP 403" in msg and "your plan does not include" in msg, msg
        assert "not entitled" in msg, msg  # the vendor's own words are kept
    # a plan error is final: each snapshot asked for at most once per asset, never retried
    snap = Counter(h.path for h in massive_server.hits if h.path.startswith("/v3/snapshot/"))
    assert snap and max(snap.values()) <= 2, snap
    assert not [h for h in massive_server.hits if h.path.startswith(("/v3/trades/", "/v3/quotes/"))]

    materialized = {m.asset_key for m in res.get_asset_materialization_events()}
    assert materialized == {a.key for a in (universe, ohlcv_daily, ohlcv_intraday)}
    by_table = vendors_by_table()
    for t in ("market.universe", "market.ohlcv_daily", "market.ohlcv_intraday"):
        assert by_table[t].get("massive", 0) > 0, t
    for t in ("market.option_chain", "flow.option_prints", "flow.flow_events", "flow.signals"):
        assert by_table[t] == {}, (t, by_table[t])
    quarantined = query(
        "SELECT target_table FROM market.quarantine UNION ALL "
        "SELECT target_table FROM flow.quarantine"
    )
    assert not set(quarantined["target_table"]) & {"market.option_chain", "flow.option_prints"}
    # no fallback to synthetic data anywhere: not as a vendor, not as a quarantine source
    assert {v for counts in by_table.values() for v in counts} == {"massive"}, by_table
    assert rows_containing("synthetic") == {}
    assert_key_nowhere(instance, res, caplog, massive_server)
