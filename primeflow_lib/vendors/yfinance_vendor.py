"""yfinance (Yahoo Finance) vendor: universe, daily and intraday bars, option chains.

No key and no plan; Yahoo throttles by IP (``YFRateLimitError``, surfaced as
:class:`VendorRateLimitError`). Every call into yfinance goes through the object passed as
``yf`` (default: the ``yfinance`` module), so tests feed frames of its exact shape without
network.

Data kinds:

* **bars**: one ``yf.download`` call for all tickers per window (``group_by='column'``,
  ``auto_adjust=True``: split/dividend-adjusted OHLC, no ``Adj Close``). Its columns are a
  MultiIndex named ``['Price', 'Ticker']``; daily frames have a tz-naive ``Date`` index, intraday
  frames a tz-aware ``Datetime`` index that is converted to naive America/New_York (a naive
  intraday index is taken as New York time). Intraday history limits are checked before any
  call: 1m bars only within the last 30 days and at most 8 days per request (longer ranges are
  split into 7-day requests), 2m-90m within the last 60 days, 1h within 730 days.
  ``vwap`` is NULL (Yahoo has none).
* **chain**: ``Ticker.options`` (expiries) and ``Ticker.option_chain(expiry)`` per expiry,
  mapped onto ``market.option_chain``; greeks are Black-Scholes (:func:`primeflow_lib.pricing.
  bs_greeks`) from Yahoo's implied volatility, the underlying's ``regularMarketPrice``,
  ``risk_free_rate`` and no dividend yield, with days to expiry counted from ``trade_date``'s
  close; NULL for contracts expiring that day and for Yahoo's placeholder IVs (< 0.5 %). Yahoo's
  chain is "now", so only the latest session on or before today is served.
* **universe**: candidates from the ``most_actives`` screener (two pages of 250 with
  ``offset``; Yahoo's query keeps US equities with market cap >= $2B and day volume > 5M), then
  ranked by mean daily volume over the lookback sessions from one ``yf.download``. The candidate
  list is today's, so universes of past dates carry survivorship bias (a warning is logged when
  ``trade_date`` is more than a week old).

Failed tickers: ``yf.download`` does not raise, it logs "N Failed download" and returns
all-NaN columns (or an empty frame when all fail). The rule here: **requested tickers that come
back without data raise** :class:`VendorDataError` naming each one with Yahoo's reason (the good
rows are on ``err.partial``); a rate-limit reason raises :class:`VendorRateLimitError`. For the
universe, candidates without data are left out of the ranking with a warning naming them.

Tickers: warehouse ``BRK.B`` is Yahoo ``BRK-B`` (:func:`to_yahoo` / :func:`from_yahoo`).
"""

from __future__ import annotations

import ast
import contextlib
import datetime as dt
import logging
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from primeflow_lib.redact import redact
from primeflow_lib.schema.market import OHLCV_DAILY, OHLCV_INTRADAY, OPTION_CHAIN, UNIVERSE
from primeflow_lib.symbols import OptionSymbolError, parse_occ
from primeflow_lib.vendors.base import (
    BarSource,
    ChainSource,
    DataKind,
    UniverseSource,
    VendorDataError,
    VendorError,
    VendorRateLimitError,
)
from primeflow_lib.vendors.http import (
    TICKER_RE,
    check_tickers,
    index_to_et_naive,
    latest_session_on_or_before,
    make_frame,
    missing_data_error,
    now_et,
    regular_session_mask,
    sessions_before,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

#: interval -> (days back from today Yahoo serves, calendar days per request)
INTRADAY_LIMITS: dict[str, tuple[int, int]] = {
    "1m": (30, 7),  # Yahoo allows 8 days per request; 7 leaves room for the exclusive end
    "2m": (60, 60),
    "5m": (60, 60),
    "15m": (60, 60),
    "30m": (60, 60),
    "60m": (60, 60),
    "90m": (60, 60),
    "1h": (730, 730),
}
PRICE_FIELDS = ("Open", "High", "Low", "Close", "Volume")
SCREENER = "most_actives"
SCREENER_PAGE = 250


def to_yahoo(ticker: str) -> str:
    """Warehouse form -> Yahoo form (``BRK.B`` -> ``BRK-B``)."""
    return ticker.replace(".", "-")


def from_yahoo(symbol: str) -> str:
    """Yahoo form -> warehouse form (``BRK-B`` -> ``BRK.B``)."""
    return symbol.strip().upper().replace("-", ".")


class _Collect(logging.Handler):
    """Collects yfinance's own error lines during one call (its only failure report)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        # never let a malformed log line break the download
        with contextlib.suppress(Exception):
            self.lines.append(record.getMessage())


def _failed_from_log(lines: Sequence[str]) -> dict[str, str]:
    """``"['AAPL', 'X']: YFRateLimitError('Too Many Requests...')"`` -> {AAPL: reason, X: ...}."""
    out: dict[str, str] = {}
    for line in lines:
        m = re.match(r"^\s*(\[.*?\]):\s*(.*)$", line, re.S)
        if not m:
            continue
        try:
            syms = ast.literal_eval(m.group(1))
        except (ValueError, SyntaxError):
            continue
        for s in syms if isinstance(syms, list | tuple) else []:
            out[str(s).upper()] = " ".join(m.group(2).split())[:200]
    return out


def _is_rate_limit(text: str) -> bool:
    return "ratelimit" in text.replace(" ", "").lower() or "too many requests" in text.lower()


class YFinanceVendor(UniverseSource, BarSource, ChainSource):
    """yfinance implementation of universe, bars and chain (see the module doc).

    Args:
        yf: the object whose ``download``, ``Ticker`` and ``screen`` are called (default: the
            ``yfinance`` module, imported on first use).
        today: returns today's date in New York (injectable for tests).
        risk_free_rate: annual, continuous, for the Black-Scholes greeks.
        max_expiries: fetch at most this many expiries per underlying (nearest first); None = all.
        timeout: seconds per Yahoo request.
    """

    name = "yfinance"
    kinds: frozenset[DataKind] = frozenset({"universe", "bars", "chain"})

    def __init__(
        self,
        yf: Any = None,
        *,
        today: Callable[[], dt.date] | None = None,
        risk_free_rate: float = 0.04,
        max_expiries: int | None = None,
        timeout: float = 30.0,
    ) -> None:
        self._yf = yf
        self._today = today or (lambda: now_et().date())
        self.risk_free_rate = risk_free_rate
        self.max_expiries = max_expiries
        self.timeout = timeout

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> YFinanceVendor:
        """Build from the loaded config (read timeout from ``cfg["runtime"]``)."""
        rt = cfg.get("runtime") or {}
        return cls(timeout=float(rt.get("http_read_timeout_s", 30.0)))

    @property
    def yf(self) -> Any:
        """The yfinance entry point in use."""
        if self._yf is None:
            import yfinance

            self._yf = yfinance
        return self._yf

    def check_ready(self, kind: DataKind) -> None:
        """Fail now if ``kind`` is not offered or yfinance cannot be imported."""
        super().check_ready(kind)
        try:
            self.yf  # noqa: B018 - import check
        except ImportError as exc:
            raise VendorError(
                f"yfinance: cannot import yfinance ({exc})", vendor=self.name
            ) from None

    # -- calls into yfinance -----------------------------------------------------------------

    def _translate(self, exc: BaseException, what: str) -> VendorError:
        text = redact(f"{type(exc).__name__}: {exc}")
        if type(exc).__name__ == "YFRateLimitError" or _is_rate_limit(text):
            return VendorRateLimitError(
                f"yfinance: {what}: Yahoo is rate-limiting this IP ({text}); wait and retry",
                vendor=self.name,
                status=429,
            )
        if isinstance(exc, ValueError | KeyError | TypeError):
            return VendorDataError(f"yfinance: {what}: {text}", vendor=self.name)
        return VendorError(f"yfinance: {what}: {text}", vendor=self.name)

    def call(self, fn: Callable[[], T], what: str) -> T:
        """Run ``fn`` (a call into yfinance); its exception comes back as a typed, redacted
        :class:`VendorError` naming ``what`` (used by :mod:`primeflow_lib.vendors.earnings`)."""
        return self._call(fn, what)

    def _call(self, fn: Callable[[], T], what: str) -> T:
        err: VendorError | None = None
        try:
            return fn()
        except Exception as exc:
            err = self._translate(exc, what)
        raise err  # outside the except block: no chained, unredacted context

    def _download(
        self, symbols: Sequence[str], start: dt.date, end_excl: dt.date, interval: str, what: str
    ) -> tuple[pd.DataFrame, dict[str, str]]:
        """One ``yf.download``; returns the frame and yfinance's per-ticker failure reasons."""
        collect = _Collect()
        ylog = logging.getLogger("yfinance")
        ylog.addHandler(collect)
        try:
            df = self._call(
                lambda: self.yf.download(
                    list(symbols),
                    start=start.isoformat(),
                    end=end_excl.isoformat(),
                    interval=interval,
                    auto_adjust=True,
                    group_by="column",
                    multi_level_index=True,
                    actions=False,
                    progress=False,
                    threads=True,
                    timeout=self.timeout,
                ),
                what,
            )
        finally:
            ylog.removeHandler(collect)
        reasons = _failed_from_log(collect.lines)
        limited = sorted(s for s, r in reasons.items() if _is_rate_limit(r))
        if limited:
            raise VendorRateLimitError(
                f"yfinance: {what}: Yahoo rate-limited the download of {', '.join(limited[:20])} "
                "(YFRateLimitError); wait and retry",
                vendor=self.name,
                status=429,
            )
        if df is None or not isinstance(df, pd.DataFrame):
            raise VendorDataError(
                f"yfinance: {what}: yf.download returned {type(df).__name__}, not a DataFrame",
                vendor=self.name,
            )
        return df, reasons

    def _split(
        self, df: pd.DataFrame, symbols: Sequence[str], reasons: Mapping[str, str], what: str
    ) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
        """Per Yahoo symbol, its OHLCV rows (all-NaN rows removed: they are the other tickers'
        dates), and the symbols that have no row at all, with a reason."""
        good: dict[str, pd.DataFrame] = {}
        failed: dict[str, str] = {}
        if df.empty:
            return good, {s: reasons.get(s.upper(), "empty download") for s in symbols}
        cols = df.columns
        if not isinstance(cols, pd.MultiIndex) or cols.nlevels != 2:
            raise VendorDataError(
                f"yfinance: {what}: expected columns MultiIndex ['Price', 'Ticker'], got "
                f"{list(cols)[:6]}",
                vendor=self.name,
            )
        names = list(cols.names)
        if "Ticker" in names and "Price" in names:
            tlev = names.index("Ticker")
        else:  # unnamed levels: the one holding 'Close' is the price level
            tlev = 1 if "Close" in cols.get_level_values(0) else 0
        plev = 1 - tlev
        present = set(cols.get_level_values(tlev))
        for s in symbols:
            if s not in present:
                failed[s] = reasons.get(s.upper(), "not in the download")
                continue
            sub = df.xs(s, axis=1, level=tlev)
            sub.columns = (
                list(sub.columns.get_level_values(0))
                if isinstance(sub.columns, pd.MultiIndex)
                else list(sub.columns)
            )
            missing = [f for f in PRICE_FIELDS if f not in sub.columns]
            if missing:
                raise VendorDataError(
                    f"yfinance: {what}: {s}: price fields {missing} missing "
                    f"(got {list(sub.columns)}"
                    f" on level {cols.names[plev]!r})",
                    vendor=self.name,
                )
            sub = sub[list(PRICE_FIELDS)].dropna(how="all")
            if sub.empty:
                failed[s] = reasons.get(s.upper(), "all values NaN (failed download)")
                continue
            good[s] = sub
        return good, failed

    # -- bars --------------------------------------------------------------------------------

    @staticmethod
    def _rows(sub: pd.DataFrame, ticker: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "ticker": ticker,
                "open": sub["Open"].to_numpy(dtype=float),
                "high": sub["High"].to_numpy(dtype=float),
                "low": sub["Low"].to_numpy(dtype=float),
                "close": sub["Close"].to_numpy(dtype=float),
                "volume": sub["Volume"].to_numpy(dtype=float),
                "vwap": np.nan,
            }
        )

    def daily_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Adjusted daily bars for ``start``..``end`` in one download (see the module doc for
        the failed-ticker rule)."""
        tickers = check_tickers(self.name, tickers)
        ysyms = [to_yahoo(t) for t in tickers]
        what = f"daily bars {start}..{end}"
        df, reasons = self._download(ysyms, start, end + dt.timedelta(days=1), "1d", what)
        good, failed = self._split(df, ysyms, reasons, what)
        out = []
        for t, ys in zip(tickers, ysyms, strict=True):
            if ys not in good:
                continue
            sub = good[ys]
            idx = pd.DatetimeIndex(sub.index)
            if idx.tz is not None:  # not the documented daily shape, but be exact about days
                idx = index_to_et_naive(idx)
            rows = self._rows(sub, t)
            rows["trade_date"] = idx.date
            rows = rows[(rows["trade_date"] >= start) & (rows["trade_date"] <= end)]
            out.append(rows.assign(vendor=self.name))
        frame = make_frame(OHLCV_DAILY, pd.concat(out) if out else [])
        if failed:
            raise missing_data_error(
                self.name, "daily bars", {from_yahoo(s): r for s, r in failed.items()}, frame
            )
        return frame

    def _check_window(self, interval: str, start: dt.date, end: dt.date) -> int:
        if interval not in INTRADAY_LIMITS:
            raise VendorError(
                f"yfinance: unsupported intraday interval {interval!r} "
                f"(one of {', '.join(INTRADAY_LIMITS)})",
                vendor=self.name,
            )
        back, per_request = INTRADAY_LIMITS[interval]
        today = self._today()
        earliest = today - dt.timedelta(days=back - 1)
        if start < earliest:
            raise VendorError(
                f"yfinance: {interval} bars are only available for the last {back} days: asked "
                f"from {start}, the earliest Yahoo serves today is {earliest}; use Massive or the "
                "csv vendor for older intraday bars",
                vendor=self.name,
            )
        return per_request

    def intraday_bars(
        self, tickers: Sequence[str], start: dt.date, end: dt.date, interval: str = "1m"
    ) -> pd.DataFrame:
        """Regular-session intraday bars (1-minute by default) for sessions ``start``..``end``.

        Raises:
            VendorError: the range is outside Yahoo's history limit for ``interval`` (checked
                before any request).
            VendorDataError: tickers without data (named; the rest on ``err.partial``).
        """
        tickers = check_tickers(self.name, tickers)
        per_request = self._check_window(interval, start, end)
        end = min(end, self._today())
        ysyms = [to_yahoo(t) for t in tickers]
        out: dict[str, list[pd.DataFrame]] = {t: [] for t in tickers}
        failed: dict[str, str] = {}
        lo = start
        while lo <= end:
            hi = min(end + dt.timedelta(days=1), lo + dt.timedelta(days=per_request))
            what = f"{interval} bars {lo}..{hi - dt.timedelta(days=1)}"
            df, reasons = self._download(ysyms, lo, hi, interval, what)
            good, bad = self._split(df, ysyms, reasons, what)
            for t, ys in zip(tickers, ysyms, strict=True):
                if ys in bad:
                    failed.setdefault(t, f"{what}: {bad[ys]}")
                    continue
                sub = good[ys]
                rows = self._rows(sub, t)
                rows["ts"] = index_to_et_naive(sub.index).as_unit("us")
                # only this request's days: windows must not overlap into duplicate bars
                days = rows["ts"].dt.date
                out[t].append(rows[((days >= lo) & (days < hi)).to_numpy()])
            lo = hi
        frames = []
        for t, parts in out.items():
            if not parts:
                failed.setdefault(t, "no bars")
                continue
            df = pd.concat(parts, ignore_index=True)
            df = df[regular_session_mask(df["ts"]).to_numpy()]
            if df.empty:
                failed.setdefault(t, "no regular-session bars")
                continue
            frames.append(df.assign(trade_date=df["ts"].dt.date, vendor=self.name))
        frame = make_frame(OHLCV_INTRADAY, pd.concat(frames) if frames else [])
        if failed:
            raise missing_data_error(self.name, f"{interval} bars", failed, frame)
        return frame

    # -- option chain ------------------------------------------------------------------------

    def _chain_rows(
        self,
        underlying: str,
        frame: pd.DataFrame | None,
        spot: float,
        trade_date: dt.date,
        what: str,
    ) -> list[dict[str, Any]]:
        if frame is None or len(frame) == 0:
            return []
        need = [
            "contractSymbol",
            "strike",
            "lastPrice",
            "bid",
            "ask",
            "volume",
            "openInterest",
            "impliedVolatility",
        ]
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise VendorDataError(f"yfinance: {what}: columns {missing} missing", vendor=self.name)
        rows = []
        for rec in frame[need].itertuples(index=False):
            try:
                p = parse_occ(str(rec.contractSymbol))
            except OptionSymbolError as exc:
                raise VendorDataError(f"yfinance: {what}: {exc}", vendor=self.name) from None
            oi = rec.openInterest
            rows.append(
                {
                    "trade_date": trade_date,
                    "underlying": underlying,
                    "option_symbol": p.symbol,
                    "expiry": p.expiry,
                    "right": p.right,
                    "strike": float(rec.strike),
                    "bid": float(rec.bid),
                    "ask": float(rec.ask),
                    "last": float(rec.lastPrice),
                    "volume": float(rec.volume),
                    "open_interest": None
                    if oi is None or (isinstance(oi, float) and math.isnan(oi))
                    else int(oi),
                    "iv": float(rec.impliedVolatility),
                    "underlying_price": spot,
                    "vendor": self.name,
                }
            )
        return rows

    def option_chain(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        """Every listed expiry's calls and puts per underlying, with Black-Scholes greeks."""
        unds = check_tickers(self.name, underlyings)
        latest = latest_session_on_or_before(self._today())
        if trade_date != latest:
            raise VendorError(
                f"yfinance: the option chain is a current snapshot: it can only be taken for the "
                f"latest session ({latest}), not {trade_date}",
                vendor=self.name,
            )
        rows: list[dict[str, Any]] = []
        failed: dict[str, str] = {}
        for u in unds:
            ys = to_yahoo(u)
            tk = self._call(lambda ys=ys: self.yf.Ticker(ys), f"Ticker({ys})")
            expiries = self._call(lambda tk=tk: tuple(tk.options), f"option expiries of {ys}")
            if not expiries:
                failed[u] = "no listed options"
                continue
            if self.max_expiries is not None:
                expiries = tuple(sorted(expiries))[: self.max_expiries]
            got = 0
            for e in expiries:
                what = f"option chain of {ys} expiring {e}"
                oc = self._call(lambda tk=tk, e=e: tk.option_chain(e), what)
                und = getattr(oc, "underlying", None) or {}
                spot = und.get("regularMarketPrice") if isinstance(und, Mapping) else None
                spot = float(spot) if isinstance(spot, int | float) else float("nan")
                for part in (getattr(oc, "calls", None), getattr(oc, "puts", None)):
                    new = self._chain_rows(u, part, spot, trade_date, what)
                    got += len(new)
                    rows.extend(new)
            if got == 0:
                failed[u] = "every expiry came back empty"
        frame = make_frame(OPTION_CHAIN, self._with_greeks(rows, trade_date))
        if failed:
            raise missing_data_error(self.name, "option chain", failed, frame)
        return frame

    def _with_greeks(self, rows: list[dict[str, Any]], trade_date: dt.date) -> list[dict[str, Any]]:
        if not rows:
            return rows
        df = pd.DataFrame(rows)
        days = np.array([(e - trade_date).days for e in df["expiry"]], dtype=float)
        iv = df["iv"].to_numpy(dtype=float)
        # Yahoo reports placeholder IVs like 1e-05 for illiquid strikes: no greeks from those
        sigma = np.where(iv >= 0.005, iv, np.nan)
        from primeflow_lib.pricing import bs_greeks  # numba: compiled on first use

        spot = df["underlying_price"].to_numpy(dtype=float)
        g = bs_greeks(
            spot,
            df["strike"].to_numpy(dtype=float),
            days / 365.0,
            sigma,
            self.risk_free_rate,
            0.0,
            (df["right"] == "C").to_numpy(),
        )
        # expired (0 DTE at the close), no usable IV or no spot: NULL, not pricing.py's
        # intrinsic-value convention
        ok = (days > 0) & np.isfinite(sigma) & np.isfinite(spot) & (spot > 0)
        delta, gamma, theta, vega = (
            np.where(ok, x, np.nan) for x in (g.delta, g.gamma, g.theta, g.vega)
        )
        df["delta"], df["gamma"], df["theta"], df["vega"] = delta, gamma, theta, vega
        return df.to_dict("records")

    # -- universe ----------------------------------------------------------------------------

    def _candidates(self) -> list[str]:
        """Yahoo symbols from the most-actives screener, two pages of 250, in screener order."""
        syms: list[str] = []
        for offset in (0, SCREENER_PAGE):
            res = self._call(
                lambda o=offset: self.yf.screen(SCREENER, offset=o, size=SCREENER_PAGE),
                f"{SCREENER} screener (offset {offset})",
            )
            quotes = res.get("quotes") if isinstance(res, Mapping) else None
            if not isinstance(quotes, list):
                raise VendorDataError(
                    f"yfinance: {SCREENER} screener: no 'quotes' list in the result "
                    f"(got {sorted(res)[:10] if isinstance(res, Mapping) else type(res).__name__})",
                    vendor=self.name,
                )
            page = [
                q["symbol"]
                for q in quotes
                if isinstance(q, Mapping) and isinstance(q.get("symbol"), str)
            ]
            syms.extend(s for s in page if s not in syms)
            total = res.get("total")
            if len(page) < SCREENER_PAGE or (isinstance(total, int) and len(syms) >= total):
                break
        if not syms:
            raise VendorDataError(
                f"yfinance: the {SCREENER} screener returned no symbols", vendor=self.name
            )
        return syms

    def top_volume_tickers(
        self, trade_date: dt.date, size: int, lookback: int = 20
    ) -> pd.DataFrame:
        """Top ``size`` of the most-actives candidates by mean daily volume over the ``lookback``
        sessions before ``trade_date`` (a missing day counts as 0 shares)."""
        if size < 1:
            raise VendorError("yfinance: universe size must be >= 1", vendor=self.name)
        days = sessions_before(trade_date, lookback)
        if trade_date < sessions_before(self._today(), 5)[0]:
            log.warning(
                "yfinance: the universe for %s is ranked from today's most-actives list "
                "(survivorship bias for past dates)",
                trade_date,
            )
        cands = self._candidates()
        skipped = [s for s in cands if not TICKER_RE.fullmatch(from_yahoo(s))]
        if skipped:
            log.warning(
                "yfinance: screener symbols not in warehouse form, left out: %s", skipped[:20]
            )
        cands = [s for s in cands if s not in skipped]
        what = f"universe volumes {days[0]}..{days[-1]}"
        df, reasons = self._download(cands, days[0], days[-1] + dt.timedelta(days=1), "1d", what)
        good, failed = self._split(df, cands, reasons, what)
        if failed:
            log.warning(
                "yfinance: %d screener candidates without data, left out of the ranking: %s",
                len(failed),
                ", ".join(f"{k} ({v})" for k, v in list(failed.items())[:20]),
            )
        want = set(days)
        scored = []
        for s, sub in good.items():
            idx = pd.DatetimeIndex(sub.index)
            dates = (index_to_et_naive(idx) if idx.tz is not None else idx).date
            mask = np.array([d in want for d in dates])
            vol = sub["Volume"].to_numpy(dtype=float)[mask]
            close = sub["Close"].to_numpy(dtype=float)
            last = close[np.array([d == days[-1] for d in dates])]
            scored.append(
                (
                    from_yahoo(s),
                    float(np.nansum(vol)) / len(days),
                    float(last[0]) if len(last) else float("nan"),
                )
            )
        scored.sort(key=lambda x: (-x[1], x[0]))
        top = scored[:size]
        if not top:
            raise VendorDataError(f"yfinance: no candidate had data for {what}", vendor=self.name)
        if len(top) < size:
            log.warning(
                "yfinance: universe for %s has %d tickers (< %d asked)", trade_date, len(top), size
            )
        rows = [
            {
                "trade_date": trade_date,
                "rank": i + 1,
                "ticker": t,
                "avg_volume": v,
                "last_close": c,
                "vendor": self.name,
            }
            for i, (t, v, c) in enumerate(top)
        ]
        return make_frame(UNIVERSE, rows)


__all__ = ["INTRADAY_LIMITS", "YFinanceVendor", "from_yahoo", "to_yahoo"]
