"""The synthetic vendor: the embedded, seeded, offline default data source.

**All data it returns is invented.** Ticker names include well-known symbols (SPY, QQQ, AAPL,
NVDA, TSLA, ...) so demos read naturally, followed by generated 3-4 letter names (which may
coincide with real symbols by chance); prices, volumes, chains and prints are simulations and
say nothing about the real instruments. Every row carries ``vendor = "synthetic"``.

Configuration (section ``synthetic`` of the config; see ``default_config.yaml``)::

    synthetic:
      seed: 7                      # everything is a function of the seed and the request
      prints_per_ticker_day: 1200  # mean option prints per universe ticker per session
      pool_size: 600               # tickers the universe is ranked from

Guarantees:

* **Deterministic**: the same seed and the same request give byte-identical frames, whatever was
  requested before or in which order (every random stream is derived from ``(seed, purpose,
  ticker[, date])``; see :mod:`.market`). No network access, ever.
* **Consistent**: daily bars exist for every NYSE session from 2010-01-04 to the end of the
  trading calendar and are computed without any intraday data; the 1-minute bars of a session
  open at the daily open, close at the daily close, reach exactly the daily high and low, and
  their volumes add up to the daily volume; the chain's contracts are the contracts the prints
  trade; print prices and NBBO follow the chain's Black-Scholes values at the intraday
  underlying price of the print time; ``underlying_price`` in the chain is the daily close.
* **Realistic structure** (what the flow engine is meant to find): market regimes (bull, bear,
  range, high-vol) with volatility clustering and overnight gaps; heavy-tailed volumes and
  print sizes; U-shaped intraday volume and print intensity; sweeps across exchanges, splits,
  blocks and crosses, multi-leg and stock-option prints, cancels, late reports, compression
  prints; an IV smile with put skew that follows realised volatility; and hidden
  *informed flow*: on some ticker-sessions aggressive sweeps and blocks buy calls (puts) before
  the underlying rises (falls), either 15-90 minutes later the same session or over the next
  1-5 sessions. Nothing in the output marks them; :meth:`SyntheticVendor.informed_flow_events`
  lists them for tests and research.

Print mix (per regular order; legs are prints): single auto-executions (209) ~80 % of orders,
intermarket sweeps (219) ~5 % of orders / ~14 % of prints, 2-8 legs on distinct exchanges within
a few ms at or through the quote; splits (209, 2-6 prints on one exchange); blocks and crosses
(227-231, hundreds to tens of thousands of contracts near mid); multi-leg prints (232-236,
238, 239: two contracts at the same timestamp, verticals, straddles or calendars); stock-option
prints (237, 240-245); compression (247). About 0.4 % of single prints are late reports (204)
whose SIP timestamp is earlier than prints received before them, and about 0.4 % of prints are
cancelled by a mirror print (201 or 203, ``correction = 1``). Exchange ids are Massive/Polygon
options participant ids (:data:`primeflow_lib.vendors.synthetic.options.EXCHANGES`).

Dtypes of the returned frames: DATE columns hold ``datetime.date`` objects, TIMESTAMP columns
are ``datetime64[us]`` (naive America/New_York), INTEGER is ``int32``, BIGINT ``int64``, DOUBLE
``float64``, VARCHAR pandas' string dtype.
"""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib import calendar as pf_calendar
from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.schema.market import OHLCV_DAILY, OHLCV_INTRADAY, OPTION_CHAIN, UNIVERSE
from primeflow_lib.vendors.base import (
    DATA_KINDS,
    BarSource,
    ChainSource,
    PrintSource,
    UniverseSource,
    UnknownTickerError,
    VendorError,
)
from primeflow_lib.vendors.synthetic.intraday import (
    IntradayDay,
    IntradayEvent,
    build_intraday,
    event_timing,
)
from primeflow_lib.vendors.synthetic.market import (
    EVENT_INTRADAY,
    FIRST_SESSION,
    REGIME_NAMES,
    DailyModel,
    TickerDaily,
    daily_model,
    open_close_ns,
    risk_free_rate,
)
from primeflow_lib.vendors.synthetic.options import (
    ORDER_NAMES,
    ChainDay,
    Contracts,
    DayInputs,
    PrintsDay,
    Surface,
    build_chain,
    build_contracts,
    build_prints,
    print_ids,
)

__all__ = ["SyntheticVendor"]

VENDOR_NAME = "synthetic"


_INSTANCES: dict[tuple, SyntheticVendor] = {}
_INSTANCES_LOCK = threading.Lock()


class _LRU:
    """A small thread-safe LRU cache (values are immutable once built)."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._d: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        value = build()
        with self._lock:
            self._d[key] = value
            while len(self._d) > self.maxsize:
                self._d.popitem(last=False)
        return value


def _as_date(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise VendorError(
        f"synthetic: {what} must be a date (YYYY-MM-DD), got {value!r}", vendor=VENDOR_NAME
    )


def _empty(table: Any) -> pd.DataFrame:
    return _frame(table, {c: np.array([], dtype=object) for c in table.column_names})


_INT32 = {"INTEGER"}
_INT64 = {"BIGINT"}


def _frame(table: Any, cols: Mapping[str, Any]) -> pd.DataFrame:
    """A frame with exactly ``table``'s columns, in order, with the documented dtypes."""
    data = {}
    n = len(next(iter(cols.values()))) if cols else 0
    for col in table.columns:
        if col.name not in cols and col.nullable:  # e.g. vendor_sequence: the vendor has none
            kind = "Int64" if col.type in _INT32 | _INT64 else "str" if col.type == "VARCHAR" else "float64"
            data[col.name] = pd.array([None] * n, dtype=kind)
            continue
        v = cols[col.name]
        if col.type in _INT32:
            data[col.name] = np.asarray(v, dtype=np.int32)
        elif col.type in _INT64:
            data[col.name] = np.asarray(v, dtype=np.int64)
        elif col.type == "DOUBLE":
            data[col.name] = np.asarray(v, dtype=np.float64)
        elif col.type == "TIMESTAMP":
            data[col.name] = np.asarray(v, dtype="datetime64[us]")
        elif col.type == "VARCHAR":
            data[col.name] = pd.array(np.asarray(v, dtype=object), dtype="str")
        else:  # DATE
            data[col.name] = np.asarray(v, dtype=object)
    return pd.DataFrame(data, columns=table.column_names)


class SyntheticVendor(UniverseSource, BarSource, ChainSource, PrintSource):
    """Seeded synthetic market: universe, daily and 1-minute bars, option chains and prints.

    Args:
        seed: master seed; every output is a pure function of it and the request.
        prints_per_ticker_day: mean number of option prints per session across the top
            ``universe_size`` tickers by base volume; individual tickers get more or fewer by
            volume rank (roughly Zipf: the most active name ~6x the mean, rank 50 ~0.2x) and by
            the day's activity.
        pool_size: number of tickers the vendor knows (the well-known list, then invented names).
        universe_size: the universe size the print intensity is normalised to.

    Raises (from every data method): :class:`UnknownTickerError` naming tickers outside the pool,
    :class:`VendorError` naming a date that is not an NYSE session (single-date methods), that is
    before 2010-01-04 or past the trading calendar, or a reversed date range.
    """

    name = VENDOR_NAME
    kinds = frozenset(DATA_KINDS)

    def __init__(
        self,
        seed: int = 7,
        prints_per_ticker_day: int = 1200,
        pool_size: int = 600,
        universe_size: int = 50,
    ) -> None:
        if prints_per_ticker_day < 0:
            raise VendorError(
                f"synthetic.prints_per_ticker_day must be >= 0, got {prints_per_ticker_day}",
                vendor=VENDOR_NAME,
            )
        if pool_size < 1:
            raise VendorError(
                f"synthetic.pool_size must be >= 1, got {pool_size}", vendor=VENDOR_NAME
            )
        self.seed = int(seed)
        self.prints_per_ticker_day = int(prints_per_ticker_day)
        self.pool_size = int(pool_size)
        self.universe_size = max(1, int(universe_size))
        self._model: DailyModel = daily_model(self.seed, self.pool_size)
        pool = self._model.pool
        ranks = pool.volume_rank.astype(np.float64)
        zipf = ranks**-0.9
        norm = np.mean(
            np.arange(1, min(self.universe_size, len(ranks)) + 1, dtype=np.float64) ** -0.9
        )
        self._print_weight = zipf / norm
        self._liquidity = np.clip((ranks - 1.0) / 150.0, 0.0, 1.0)
        # sized for a demo-scale run (50 tickers x 40 sessions) so later assets reuse the paths
        # and prints the earlier ones generated
        self._intraday_cache = _LRU(2400)
        self._options_cache = _LRU(2400)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> SyntheticVendor:
        """Build from the loaded config (sections ``synthetic`` and ``universe``)."""
        s = dict(cfg.get("synthetic") or {})
        u = dict(cfg.get("universe") or {})
        key = (
            cls,
            int(s.get("seed", 7)),
            int(s.get("prints_per_ticker_day", 1200)),
            int(s.get("pool_size", 600)),
            int(u.get("size", 50)),
        )
        # One instance per configuration and process: the assets of a run (prints, then the
        # chain built from the same prints) share its caches instead of generating twice. Safe
        # because every output is a pure function of the configuration.
        with _INSTANCES_LOCK:
            inst = _INSTANCES.get(key)
            if inst is None:
                inst = _INSTANCES[key] = cls(
                    seed=key[1], prints_per_ticker_day=key[2], pool_size=key[3], universe_size=key[4]
                )
        return inst

    def __repr__(self) -> str:
        return (
            f"SyntheticVendor(seed={self.seed}, "
            f"prints_per_ticker_day={self.prints_per_ticker_day}, "
            f"pool_size={self.pool_size})"
        )

    # ------------------------------------------------------------------ helpers
    @property
    def tickers(self) -> tuple[str, ...]:
        """Every ticker the vendor knows, well-known names first."""
        return self._model.pool.tickers

    def _check_tickers(self, tickers: Sequence[str] | str) -> list[str]:
        if isinstance(tickers, str):
            tickers = [tickers]
        out: list[str] = []
        unknown: list[str] = []
        index = self._model.pool.index
        for t in tickers:
            name = str(t).strip().upper()
            if name not in index:
                unknown.append(str(t))
            elif name not in out:
                out.append(name)
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            raise UnknownTickerError(
                f"synthetic: unknown ticker(s) {shown}: not in the synthetic pool of "
                f"{self.pool_size} "
                f"tickers (seed {self.seed}); see SyntheticVendor.tickers",
                vendor=VENDOR_NAME,
            )
        return out

    def _check_range(self, start: Any, end: Any) -> tuple[dt.date, dt.date]:
        s, e = _as_date(start, "start"), _as_date(end, "end")
        if e < s:
            raise VendorError(
                f"synthetic: date range end {e} is before its start {s}", vendor=VENDOR_NAME
            )
        lo, hi = pf_calendar.calendar_bounds()
        if e < FIRST_SESSION:
            raise VendorError(
                f"synthetic: no data for {s}..{e}: synthetic history starts {FIRST_SESSION}",
                vendor=VENDOR_NAME,
            )
        if e > hi:
            raise VendorError(
                f"synthetic: no data for {e}: the trading calendar ends {hi}", vendor=VENDOR_NAME
            )
        return max(s, FIRST_SESSION), e

    def _check_session(self, day: Any, what: str = "trade_date") -> dt.date:
        d = _as_date(day, what)
        if d < FIRST_SESSION:
            raise VendorError(
                f"synthetic: no data for {d}: synthetic history starts {FIRST_SESSION}",
                vendor=VENDOR_NAME,
            )
        try:
            pf_calendar.require_session(d)
        except pf_calendar.NotASessionError as exc:
            raise VendorError(f"synthetic: {what} {exc}", vendor=VENDOR_NAME) from None
        return d

    def _session_indices(self, start: dt.date, end: dt.date) -> tuple[np.ndarray, list[dt.date]]:
        sess = self._model.ensure(end)
        a = int(np.searchsorted(sess.dates, np.datetime64(start, "D"), side="left"))
        b = int(np.searchsorted(sess.dates, np.datetime64(end, "D"), side="right"))
        idx = np.arange(a, b)
        return idx, [sess.date(i) for i in idx]

    # ------------------------------------------------------------------ per ticker-day
    def _daily(self, ticker: str) -> TickerDaily:
        return self._model.ticker(ticker)

    def _event(self, td: TickerDaily, i: int, minutes: int) -> IntradayEvent | None:
        kind = int(td.ev_kind[i])
        if kind == 0:
            return None
        return event_timing(kind, int(td.ev_dir[i]), float(td.ev_mag[i]), td.ev_u[i], minutes)

    def _intraday(self, ticker: str, i: int) -> IntradayDay:
        def build() -> IntradayDay:
            td = self._daily(ticker)
            d = self._model.sessions.date(i)
            o_ns, c_ns, _ = open_close_ns(d)
            minutes = (c_ns - o_ns) // 60_000_000_000
            return build_intraday(
                self.seed,
                ticker,
                d.toordinal(),
                float(td.open[i]),
                float(td.high[i]),
                float(td.low[i]),
                float(td.close[i]),
                float(td.volume[i]),
                int(minutes),
                self._event(td, i, int(minutes)),
            )

        return self._intraday_cache.get((ticker, i), build)

    def _day_inputs(self, ticker: str, i: int) -> DayInputs:
        pool = self._model.pool
        j = pool.index[ticker]
        td = self._daily(ticker)
        d = self._model.sessions.date(i)
        o_ns, c_ns, _ = open_close_ns(d)
        minutes = int((c_ns - o_ns) // 60_000_000_000)
        base_iv = float(pool.total_vol[j]) * 1.08
        closes = td.close[max(0, i - 21) : i]
        if len(closes) >= 6:
            rv = float(np.std(np.diff(np.log(closes)), ddof=1) * math.sqrt(252.0))
        else:
            rv = base_iv
        atm_short = float(np.clip(0.5 * 1.1 * rv + 0.5 * base_iv, 0.5 * base_iv, 3.0 * base_iv))
        surface = Surface(
            atm_short=atm_short,
            atm_long=base_iv,
            skew=float(pool.skew[j]),
            smile=float(pool.smile[j]),
            rate=risk_free_rate(d),
            div_yield=float(pool.div_yield[j]),
        )
        activity = float(td.volume[i]) / float(pool.base_volume[j])
        n_prints = self.prints_per_ticker_day * float(self._print_weight[j]) * activity**0.7
        liq = float(self._liquidity[j])
        ev = self._event(td, i, minutes)
        return DayInputs(
            seed=self.seed,
            ticker=ticker,
            day=d,
            is_etf=bool(pool.is_etf[j]),
            liquidity=liq,
            open=float(td.open[i]),
            close=float(td.close[i]),
            prev_close=float(td.close[i - 1]) if i > 0 else float(td.open[i]),
            sd_day=float(pool.total_vol[j]) / math.sqrt(252.0),
            open_ns=o_ns,
            close_ns=c_ns,
            n_prints=n_prints,
            size_scale=0.7 + 1.5 * (1.0 - liq),
            surface=surface,
            intraday=self._intraday(ticker, i),
            events=() if ev is None else (ev,),
        )

    def _options_day(self, ticker: str, i: int) -> tuple[Contracts, PrintsDay, ChainDay, DayInputs]:
        def build() -> tuple[Contracts, PrintsDay, ChainDay, DayInputs]:
            inp = self._day_inputs(ticker, i)
            contracts = build_contracts(
                ticker, inp.day, inp.open, inp.surface.atm_short, inp.is_etf
            )
            prints = build_prints(contracts, inp)
            j = self._model.pool.index[ticker]
            oi_scale = self.prints_per_ticker_day * float(self._print_weight[j]) * inp.size_scale
            chain = build_chain(contracts, inp, prints, oi_scale)
            return contracts, prints, chain, inp

        return self._options_cache.get((ticker, i), build)

    # ------------------------------------------------------------------ interface
    def top_volume_tickers(
        self, trade_date: dt.date, size: int, lookback: int = 20
    ) -> pd.DataFrame:
        """Top ``size`` pool tickers by mean daily share volume over the ``lookback`` sessions
        strictly before ``trade_date`` (fewer near 2010-01-04; none on 2010-01-04 itself, which
        raises). Ties break by ticker. ``last_close`` is the close of the previous session.
        Columns: ``market.universe``."""
        d = self._check_session(trade_date)
        if size < 1 or lookback < 1:
            raise VendorError(
                f"synthetic: size and lookback must be >= 1 (got {size}, {lookback})",
                vendor=VENDOR_NAME,
            )
        sess = self._model.ensure(d)
        i = sess.index_of(d)
        if i == 0:
            raise VendorError(
                f"synthetic: no sessions before {d} to rank volume on "
                f"(history starts {FIRST_SESSION})",
                vendor=VENDOR_NAME,
            )
        close, volume = self._model.panels()
        a = max(0, i - lookback)
        avg = volume[:, a:i].mean(axis=1)
        names = np.array(self.tickers, dtype=object)
        order = np.lexsort((names, -avg))[: min(size, len(names))]
        n = len(order)
        return _frame(
            UNIVERSE,
            {
                "trade_date": np.full(n, d, dtype=object),
                "rank": np.arange(1, n + 1),
                "ticker": names[order],
                "avg_volume": avg[order],
                "last_close": close[order, i - 1],
                "vendor": np.full(n, VENDOR_NAME, dtype=object),
            },
        )

    def daily_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Daily OHLCV for ``tickers`` on the sessions ``start``..``end`` (inclusive; either end
        may be a non-session day). Prices in USD rounded to cents, volume in shares; ``vwap`` is
        an estimate ``(high + low + 2 * close) / 4`` (the daily model has no intraday data), not
        the volume-weighted mean of the 1-minute bars. Sorted by (trade_date, ticker). Columns:
        ``market.ohlcv_daily``."""
        names = self._check_tickers(tickers)
        s, e = self._check_range(start, end)
        idx, dates = self._session_indices(s, e)
        if not len(idx) or not names:
            return _empty(OHLCV_DAILY)
        per = [self._daily(t) for t in names]
        k = len(names)
        cols = {
            "open": np.stack([td.open[idx] for td in per], axis=1).ravel(),
            "high": np.stack([td.high[idx] for td in per], axis=1).ravel(),
            "low": np.stack([td.low[idx] for td in per], axis=1).ravel(),
            "close": np.stack([td.close[idx] for td in per], axis=1).ravel(),
            "volume": np.stack([td.volume[idx] for td in per], axis=1).ravel(),
        }
        order = np.argsort(np.array(names, dtype=object), kind="stable")
        if not np.array_equal(order, np.arange(k)):
            for key in cols:
                cols[key] = cols[key].reshape(len(idx), k)[:, order].ravel()
        sorted_names = np.array(names, dtype=object)[order]
        cols["vwap"] = np.round((cols["high"] + cols["low"] + 2.0 * cols["close"]) / 4.0, 4)
        cols["trade_date"] = np.repeat(np.array(dates, dtype=object), k)
        cols["ticker"] = np.tile(sorted_names, len(idx))
        cols["vendor"] = np.full(len(idx) * k, VENDOR_NAME, dtype=object)
        return _frame(OHLCV_DAILY, cols)

    def intraday_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Regular-session 1-minute bars (``ts`` = bar start, naive ET; 09:30-15:59, or to 12:59
        on early-close days) for the sessions ``start``..``end``. Aggregated per session they
        reproduce the daily bar exactly (open, high, low, close, volume). Sorted by (trade_date,
        ticker, ts). Columns: ``market.ohlcv_intraday``."""
        names = sorted(self._check_tickers(tickers))
        s, e = self._check_range(start, end)
        idx, dates = self._session_indices(s, e)
        if not len(idx) or not names:
            return _empty(OHLCV_INTRADAY)
        parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("o", "h", "l", "c", "v", "w", "ts", "d", "t")
        }
        minute_us = np.timedelta64(60_000_000, "us")
        for i, d in zip(idx, dates, strict=True):
            _, _, open_us = open_close_ns(d)
            for t in names:
                day = self._intraday(t, int(i))
                m = day.minutes
                parts["o"].append(day.open)
                parts["h"].append(day.high)
                parts["l"].append(day.low)
                parts["c"].append(day.close)
                parts["v"].append(day.volume)
                parts["w"].append(day.vwap)
                parts["ts"].append(open_us + np.arange(m) * minute_us)
                parts["d"].append(np.full(m, d, dtype=object))
                parts["t"].append(np.full(m, t, dtype=object))
        n = sum(len(a) for a in parts["o"])
        return _frame(
            OHLCV_INTRADAY,
            {
                "trade_date": np.concatenate(parts["d"]),
                "ts": np.concatenate(parts["ts"]),
                "ticker": np.concatenate(parts["t"]),
                "open": np.concatenate(parts["o"]),
                "high": np.concatenate(parts["h"]),
                "low": np.concatenate(parts["l"]),
                "close": np.concatenate(parts["c"]),
                "volume": np.concatenate(parts["v"]),
                "vwap": np.concatenate(parts["w"]),
                "vendor": np.full(n, VENDOR_NAME, dtype=object),
            },
        )

    def option_chain(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        """End-of-day chain snapshot of each underlying on session ``trade_date``: every listed
        contract (see :mod:`.options`) with closing NBBO, the session's volume (net of
        cancels) and last print price (NaN if it did not trade), open interest at the start of
        the session, IV and Black-Scholes greeks at the close (``underlying_price`` = daily
        close). Sorted by (underlying, expiry, right, strike). Columns: ``market.option_chain``."""
        names = sorted(self._check_tickers(underlyings))
        d = self._check_session(trade_date)
        sess = self._model.ensure(d)
        i = sess.index_of(d)
        frames: dict[str, list[np.ndarray]] = {}

        def add(key: str, arr: np.ndarray) -> None:
            frames.setdefault(key, []).append(arr)

        for t in names:
            c, _, ch, inp = self._options_day(t, i)
            n = len(c)
            add("underlying", np.full(n, t, dtype=object))
            add("option_symbol", c.symbol)
            add("expiry", c.expiry)
            add("right", np.where(c.is_call, "C", "P").astype(object))
            add("strike", c.strike)
            add("bid", ch.bid)
            add("ask", ch.ask)
            add("last", ch.last)
            add("volume", ch.volume)
            add("open_interest", ch.open_interest)
            add("iv", ch.iv)
            add("delta", ch.delta)
            add("gamma", ch.gamma)
            add("theta", ch.theta)
            add("vega", ch.vega)
            add("underlying_price", np.full(n, inp.close))
        if not frames:
            return _empty(OPTION_CHAIN)
        cols = {k: np.concatenate(v) for k, v in frames.items()}
        n = len(cols["strike"])
        cols["trade_date"] = np.full(n, d, dtype=object)
        cols["vendor"] = np.full(n, VENDOR_NAME, dtype=object)
        return _frame(OPTION_CHAIN, cols)

    def option_prints(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        """Every option print of session ``trade_date`` on the underlyings' listed contracts, per
        underlying in the order received (``seq`` counts per contract in that order; a late
        report's ``sip_timestamp`` is earlier than prints received before it). ``sip_timestamp``
        is UTC nanoseconds, ``sip_ts`` the same instant as naive ET wall time (microseconds);
        ``bid``/``ask`` are the NBBO at the print. Columns: ``flow.option_prints``."""
        names = sorted(self._check_tickers(underlyings))
        d = self._check_session(trade_date)
        sess = self._model.ensure(d)
        i = sess.index_of(d)
        o_ns, _, open_us = open_close_ns(d)
        parts: dict[str, list[np.ndarray]] = {}

        def add(key: str, arr: np.ndarray) -> None:
            parts.setdefault(key, []).append(arr)

        for t in names:
            c, p, _, _ = self._options_day(t, i)
            n = len(p.contract)
            sip_ns = o_ns + p.t_ns
            add("underlying", np.full(n, t, dtype=object))
            add("option_symbol", c.symbol[p.contract])
            add("sym_hash", c.sym_hash[p.contract])
            add("sip_timestamp", sip_ns)
            add("sip_ts", open_us + (p.t_ns // 1000).astype("timedelta64[us]"))
            add("exchange", p.exchange)
            add("price", p.price)
            add("size", p.size)
            add("cond", p.cond)
            add("correction", p.correction)
            add("bid", p.bid)
            add("ask", p.ask)
            add("seq", p.seq)
        if not parts:
            return _empty(OPTION_PRINTS)
        cols = {k: np.concatenate(v) for k, v in parts.items()}
        n = len(cols["price"])
        cond = cols.pop("cond")
        cols["conditions"] = np.array([str(x) for x in range(200, 250)], dtype=object)[cond - 200]
        cols["print_id"] = print_ids(
            cols.pop("sym_hash"),
            cols["sip_timestamp"],
            cols["exchange"],
            cols["price"],
            cols["size"],
            cond,
            cols["seq"],
        )
        cols["trade_date"] = np.full(n, d, dtype=object)
        cols["vendor"] = np.full(n, VENDOR_NAME, dtype=object)
        return _frame(OPTION_PRINTS, cols)

    # ------------------------------------------------------------------ research helpers
    def informed_flow_events(
        self, tickers: Sequence[str] | None = None, start: Any = None, end: Any = None
    ) -> pd.DataFrame:
        """The hidden informed-flow events (ground truth for tests and research; never part of
        the vendor tables).

        Args:
            tickers: tickers to list (default: the whole pool).
            start, end: session range (default: ``end`` = ``start`` = the given one; both
                required unless one is given).

        Returns one row per event with columns:

        * ``trade_date`` (date), ``ticker``, ``kind`` (``"intraday"`` | ``"multiday"``),
          ``direction`` (+1 the underlying will rise: informed flow buys calls; -1 it will
          fall: it buys puts), ``right`` (``"C"``/``"P"``), ``magnitude`` (log return the event
          adds to the underlying, signed);
        * ``flow_start``, ``flow_end``: naive ET timestamps bounding the aggressive sweeps and
          blocks (all on ``trade_date``);
        * ``move_start``, ``move_end``: intraday events: when the underlying makes the move
          (15-90 minutes after the flow, 10-30 minutes long); multi-day events: the next
          session's open and the close of the last session of the move;
        * ``horizon_sessions``: 0 for intraday, else the number of sessions the move spans.
        """
        if start is None and end is None:
            raise VendorError(
                "synthetic: informed_flow_events needs start and/or end", vendor=VENDOR_NAME
            )
        s, e = self._check_range(
            start if start is not None else end, end if end is not None else start
        )
        names = self._check_tickers(tickers) if tickers is not None else list(self.tickers)
        idx, dates = self._session_indices(s, e)
        sess = self._model.ensure(e)
        rows = []
        for t in sorted(names):
            td = self._daily(t)
            hits = idx[td.ev_kind[idx] != 0] if len(idx) else idx
            for i in hits:
                i = int(i)
                d = sess.date(i)
                o_ns, c_ns, open_us = open_close_ns(d)
                minutes = int((c_ns - o_ns) // 60_000_000_000)
                ev = self._event(td, i, minutes)
                assert ev is not None
                open_ts = pd.Timestamp(open_us)
                if ev.kind == EVENT_INTRADAY:
                    ms = open_ts + pd.Timedelta(minutes=ev.move_start)
                    me = open_ts + pd.Timedelta(minutes=ev.move_end)
                else:
                    after = pf_calendar.sessions(
                        d + dt.timedelta(days=1), d + dt.timedelta(days=7 + 2 * ev.horizon)
                    )[: ev.horizon] or [d]
                    nxt, last = after[0], after[-1]
                    ms = pd.Timestamp(open_close_ns(nxt)[2])
                    lo_ns, lc_ns, lopen = open_close_ns(last)
                    me = pd.Timestamp(lopen) + pd.Timedelta(
                        minutes=(lc_ns - lo_ns) // 60_000_000_000
                    )
                rows.append(
                    {
                        "trade_date": d,
                        "ticker": t,
                        "kind": "intraday" if ev.kind == EVENT_INTRADAY else "multiday",
                        "direction": int(ev.direction),
                        "right": "C" if ev.direction > 0 else "P",
                        "magnitude": float(ev.magnitude),
                        "flow_start": open_ts + pd.Timedelta(minutes=ev.flow_start),
                        "flow_end": open_ts + pd.Timedelta(minutes=ev.flow_end),
                        "move_start": ms,
                        "move_end": me,
                        "horizon_sessions": int(ev.horizon),
                    }
                )
        cols = [
            "trade_date",
            "ticker",
            "kind",
            "direction",
            "right",
            "magnitude",
            "flow_start",
            "flow_end",
            "move_start",
            "move_end",
            "horizon_sessions",
        ]
        out = pd.DataFrame(rows, columns=cols)
        for c in ("flow_start", "flow_end", "move_start", "move_end"):
            out[c] = out[c].astype("datetime64[us]")
        return out.sort_values(["trade_date", "ticker"], kind="stable").reset_index(drop=True)

    def market_regimes(self, start: Any, end: Any) -> pd.DataFrame:
        """The hidden market regime of each session in ``start``..``end``: columns
        ``trade_date``, ``regime`` (``bull`` | ``bear`` | ``range`` | ``high_vol``) and
        ``market_vol`` (annualised volatility of the market factor that day). Ground truth for
        testing regime detection."""
        s, e = self._check_range(start, end)
        idx, dates = self._session_indices(s, e)
        regime, _, _, var = self._model.market()
        return pd.DataFrame(
            {
                "trade_date": np.array(dates, dtype=object),
                "regime": pd.array(np.array(REGIME_NAMES, dtype=object)[regime[idx]], dtype="str"),
                "market_vol": np.sqrt(var[idx] * 252.0),
            }
        )

    def order_types(self, underlying: str, trade_date: Any) -> pd.DataFrame:
        """Diagnostic: for each print of ``option_prints([underlying], trade_date)`` (same row
        order) the generator's order type (single, sweep, split, block, multi_leg,
        stock_option, compression) and whether it belongs to an informed-flow order."""
        (name,) = self._check_tickers([underlying])
        d = self._check_session(trade_date)
        i = self._model.ensure(d).index_of(d)
        _, p, _, _ = self._options_day(name, i)
        return pd.DataFrame(
            {
                "order_type": pd.array(
                    np.array(ORDER_NAMES, dtype=object)[p.order_type], dtype="str"
                ),
                "informed": p.informed.copy(),
            }
        )
