"""Massive (formerly Polygon.io) REST vendor: universe, daily/minute bars, option chain snapshot
and option prints with the NBBO in force at each print.

Key: ``cfg["api_keys"]["massive"]``, loaded from ``POLYGON_MASSIVE_KEY`` (legacy
``POLYGON_API_KEY`` / ``MASSIVE_API_KEY``) and sent as ``Authorization: Bearer``; it never goes
in a URL. Base URL ``https://api.massive.com``, overridable with ``PRIMEFLOW_MASSIVE_BASE_URL``
(e.g. ``http://127.0.0.1:8080`` for a local test server). Every list endpoint is paged by
following ``next_url``; a ``next_url`` on another host is re-based onto the configured base URL
so the key only goes to that host.

Endpoints per data kind (plan tiers per Massive: Basic < Starter < Developer < Advanced):

* universe: ``/v2/aggs/grouped/locale/us/market/stocks/{date}`` once per lookback session, and
  ``/v3/reference/tickers`` (type CS and ETF, cached per run and date) -- Basic (free: 5/min);
* bars: ``/v2/aggs/ticker/{t}/range/1/{day|minute}/{from}/{to}`` -- Basic;
* chain: ``/v3/snapshot/options/{underlying}`` (limit 250) -- Starter (snapshots);
* prints: the chain snapshot (contract list), ``/v3/trades/O:...`` per contract -- Developer;
  ``/v3/quotes/O:...`` for the bid/ask at each print -- Advanced; the conditions reference
  ``/v3/reference/conditions`` once per run.

Which contracts get prints: the chain snapshot's contracts whose day volume is > 0, most traded
first, at most ``max_contracts`` per underlying (``vendors.massive.max_contracts``, default 250).
Because a snapshot is "now", ``option_chain`` and ``option_prints`` serve only the latest NYSE
session on or before today (set ``PRIMEFLOW_MASSIVE_SNAPSHOT_ANY_DATE=1`` to stamp a snapshot with
another date, e.g. in tests); :meth:`MassiveVendor.contract_prints` fetches prints of an explicit
contract list for any date.

If the plan lacks quotes (HTTP 403 on ``/v3/quotes``), prints are still returned with bid/ask
NULL; this is logged once per vendor instance and recorded in :attr:`MassiveVendor.notices`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import quote

import numpy as np
import pandas as pd
import requests

from primeflow_lib.config import API_KEY_ENV, load_api_keys
from primeflow_lib.redact import shorten
from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.schema.market import OHLCV_DAILY, OHLCV_INTRADAY, OPTION_CHAIN, UNIVERSE
from primeflow_lib.symbols import OptionSymbolError, parse_occ
from primeflow_lib.vendors.base import (
    DATA_KINDS,
    BarSource,
    ChainSource,
    DataKind,
    PrintSource,
    UniverseSource,
    VendorAuthError,
    VendorDataError,
    VendorError,
    VendorPlanError,
)
from primeflow_lib.vendors.http import (
    ET,
    HttpClient,
    HttpSettings,
    check_tickers,
    epoch_to_et_naive,
    latest_session_on_or_before,
    make_frame,
    missing_data_error,
    now_et,
    regular_session_mask,
    reveal,
    sessions_before,
    sessions_between,
)

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.massive.com"
BASE_URL_ENV = "PRIMEFLOW_MASSIVE_BASE_URL"
SNAPSHOT_ANY_DATE_ENV = "PRIMEFLOW_MASSIVE_SNAPSHOT_ANY_DATE"
KEY_ENVS: tuple[str, ...] = API_KEY_ENV["massive"]
#: a quote this long before the first print of a contract may still be the NBBO in force
NBBO_LOOKBACK_NS = 60 * 1_000_000_000
#: safety stop for a vendor that keeps handing out next_url
MAX_PAGES = 10_000

T = TypeVar("T")
R = TypeVar("R")


def _bad(message: str, vendor: str = "massive") -> VendorDataError:
    """A :class:`VendorDataError` carrying the vendor name (the response had the wrong shape)."""
    return VendorDataError(message, vendor=vendor)


def _key_hint() -> str:
    first, *legacy = KEY_ENVS
    return f"set {first} (legacy names also read: {', '.join(legacy)})"


def print_id(
    option_symbol: str,
    sip_timestamp: int,
    exchange: int,
    price: float,
    size: int,
    conditions: str,
    seq: int,
) -> str:
    """Stable print id: a hash of the fields named in ``flow.option_prints.print_id``.

    Option trades carry no trade id, so identity is (contract, SIP ns, exchange, price, size,
    conditions) plus the 0-based ``seq`` within the contract and day, which separates two
    otherwise identical prints."""
    key = (
        f"{option_symbol}|{int(sip_timestamp)}|{int(exchange)}|{float(price)!r}|{int(size)}|"
        f"{conditions}|{int(seq)}"
    )
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


def conditions_text(value: Any, *, where: str = "") -> str:
    """Condition ids as stored: ``[219, 209] -> '219,209'``, absent -> ``''``."""
    if value is None:
        return ""
    if not isinstance(value, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in value
    ):
        raise _bad(f"massive: {where}: conditions must be a list of integers, got {value!r}")
    return ",".join(str(c) for c in value)


def _num(rec: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> float:
    v = rec.get(key)
    if v is None:
        if required:
            raise _bad(f"massive: {where}: field {key!r} is missing in {_short(rec)}")
        return float("nan")
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _bad(f"massive: {where}: field {key!r} is not a number: {v!r}")
    return float(v)


def _int(rec: Mapping[str, Any], key: str, where: str) -> int:
    v = _num(rec, key, where)
    if v != int(v):
        raise _bad(f"massive: {where}: field {key!r} must be a whole number, got {v!r}")
    return int(v)


def _short(rec: Any) -> str:
    return shorten(repr(rec), 200)  # redacted before it is cut (a next_url carries the key)


def _day_bounds_ns(day: dt.date) -> tuple[int, int]:
    """[00:00 ET, next 00:00 ET) of ``day`` in Unix ns (DST-correct)."""
    lo = dt.datetime.combine(day, dt.time(), tzinfo=ET)
    hi = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=ET)
    return int(lo.timestamp()) * 1_000_000_000, int(hi.timestamp()) * 1_000_000_000


class MassiveVendor(UniverseSource, BarSource, ChainSource, PrintSource):
    """Massive REST implementation of every data kind (see the module doc).

    Args:
        api_key: the key (plain string or ``config.Secret``); None/'' makes every call raise
            :class:`VendorAuthError` naming the environment variable.
        base_url: default ``PRIMEFLOW_MASSIVE_BASE_URL`` or ``https://api.massive.com``.
        settings: HTTP timeouts, retries, rate limit, worker threads.
        max_contracts: contracts per underlying that get prints (most traded first).
        nbbo: join the NBBO from ``/v3/quotes`` to every print (needs the Advanced plan).
        snapshot_any_date: allow chain/prints for a date other than the latest session.
        session: a ``requests.Session`` to use.
        today: returns today's date in New York (injectable for tests).
    """

    name = "massive"
    kinds: frozenset[DataKind] = frozenset(DATA_KINDS)

    def __init__(
        self,
        api_key: object | None = None,
        *,
        base_url: str | None = None,
        settings: HttpSettings | None = None,
        max_contracts: int = 250,
        nbbo: bool = True,
        snapshot_any_date: bool | None = None,
        session: requests.Session | None = None,
        today: Callable[[], dt.date] | None = None,
    ) -> None:
        self._key = reveal(api_key).strip()
        base = (base_url or os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self.http = HttpClient(
            self.name,
            base,
            settings=settings,
            headers=headers,
            secrets=(self._key,),
            session=session,
            key_env=" / ".join(KEY_ENVS),
        )
        if max_contracts < 1:
            raise VendorError("massive: max_contracts must be >= 1", vendor=self.name)
        self.max_contracts = int(max_contracts)
        self.nbbo = nbbo
        if snapshot_any_date is None:
            snapshot_any_date = os.environ.get(SNAPSHOT_ANY_DATE_ENV, "").strip() in (
                "1",
                "true",
                "yes",
            )
        self.snapshot_any_date = snapshot_any_date
        self._today = today or (lambda: now_et().date())
        self._lock = threading.Lock()
        self._tickers_cache: dict[dt.date, frozenset[str]] = {}
        self._conditions: pd.DataFrame | None = None
        self._quotes_denied: str | None = None
        #: things the user should know that are not errors (plan lacks quotes, caps applied)
        self.notices: list[str] = []

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> MassiveVendor:
        """Build from the loaded config: key from ``cfg["api_keys"]["massive"]`` (else the
        environment), HTTP settings from ``cfg["runtime"]``, options from ``cfg["vendors"]
        ["massive"]`` when present (``max_contracts``, ``nbbo``)."""
        keys = cfg.get("api_keys") or {}
        key = keys.get("massive") or load_api_keys().get("massive")
        vcfg = (cfg.get("vendors") or {}).get("massive")
        vcfg = vcfg if isinstance(vcfg, Mapping) else {}
        return cls(
            key,
            settings=HttpSettings.from_config(cfg),
            max_contracts=int(vcfg.get("max_contracts", 250)),
            nbbo=bool(vcfg.get("nbbo", True)),
        )

    # -- readiness ---------------------------------------------------------------------------

    def check_ready(self, kind: DataKind) -> None:
        """Fail now if ``kind`` is not offered or no key is configured (names the variable)."""
        super().check_ready(kind)
        self._require_key()

    def _require_key(self) -> None:
        if not self._key:
            raise VendorAuthError(f"massive: no API key: {_key_hint()}", vendor=self.name)

    def _require_current(self, trade_date: dt.date, what: str) -> None:
        if self.snapshot_any_date:
            return
        latest = latest_session_on_or_before(self._today())
        if trade_date != latest:
            raise VendorError(
                f"massive: {what} comes from a current snapshot, so it can only be taken for the "
                f"latest session ({latest}), not {trade_date}; use contract_prints() with an "
                f"explicit contract list for past sessions, or set {SNAPSHOT_ANY_DATE_ENV}=1 to "
                "stamp the snapshot with another date",
                vendor=self.name,
            )

    # -- plumbing ----------------------------------------------------------------------------

    def _pages(
        self, path: str, params: Mapping[str, Any] | None, *, what: str
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the ``results`` list of each page, following ``next_url``."""
        self._require_key()
        url: str = path
        p: Mapping[str, Any] | None = params
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            body = self.http.get_json(url, p, what=what)
            status = body.get("status")
            if isinstance(status, str) and status.upper() in ("ERROR", "NOT_AUTHORIZED"):
                msg = body.get("error") or body.get("message") or status
                cls = VendorPlanError if status.upper() == "NOT_AUTHORIZED" else VendorError
                raise cls(self.http.redact(f"massive: {what}: {msg}"), vendor=self.name)
            results = body.get("results", [])
            if results is None:
                results = []
            if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
                raise _bad(
                    f"massive: {what}: 'results' must be a list of objects, got {_short(results)}",
                    vendor=self.name,
                )
            yield results
            nxt = body.get("next_url")
            if not nxt:
                return
            if not isinstance(nxt, str) or nxt in seen:
                raise _bad(f"massive: {what}: bad or repeated next_url", vendor=self.name)
            seen.add(nxt)
            url, p = nxt, None
        raise _bad(f"massive: {what}: more than {MAX_PAGES} pages", vendor=self.name)

    def _all(
        self, path: str, params: Mapping[str, Any] | None, *, what: str
    ) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in self._pages(path, params, what=what):
            out.extend(page)
        return out

    def _map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``[fn(x) for x in items]`` on up to ``max_workers`` threads, in order; the first
        error cancels what has not started and is re-raised."""
        n = min(self.http.settings.max_workers, len(items))
        if n <= 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="massive") as ex:
            futures = [ex.submit(fn, x) for x in items]
            try:
                return [f.result() for f in futures]
            except BaseException:
                for f in futures:
                    f.cancel()
                raise

    def _notice(self, text: str) -> None:
        with self._lock:
            self.notices.append(text)
        log.warning("%s", text)

    # -- universe ----------------------------------------------------------------------------

    def stock_and_etf_tickers(self, as_of: dt.date) -> frozenset[str]:
        """Tickers of common stocks (type CS) and ETFs listed on ``as_of``, from
        ``/v3/reference/tickers`` (all pages); cached per vendor instance and date."""
        with self._lock:
            hit = self._tickers_cache.get(as_of)
        if hit is not None:
            return hit
        names: set[str] = set()
        for typ in ("CS", "ETF"):
            recs = self._all(
                "/v3/reference/tickers",
                {
                    "market": "stocks",
                    "type": typ,
                    "active": "true",
                    "date": as_of.isoformat(),
                    "limit": 1000,
                },
                what=f"reference tickers (type {typ})",
            )
            got = {r["ticker"] for r in recs if isinstance(r.get("ticker"), str)}
            if not got:
                raise _bad(
                    f"massive: reference tickers of type {typ} on {as_of} came back empty",
                    vendor=self.name,
                )
            names |= got
        result = frozenset(names)
        with self._lock:
            self._tickers_cache[as_of] = result
        return result

    def _grouped_daily(self, day: dt.date) -> dict[str, tuple[float, float]]:
        what = f"grouped daily bars of {day}"
        recs = self._all(
            f"/v2/aggs/grouped/locale/us/market/stocks/{day.isoformat()}",
            {"adjusted": "true", "include_otc": "false"},
            what=what,
        )
        if not recs:
            raise _bad(
                f"massive: {what} came back empty (a session's bars appear after its close)",
                vendor=self.name,
            )
        out: dict[str, tuple[float, float]] = {}
        for r in recs:
            t = r.get("T")
            if not isinstance(t, str):
                raise _bad(f"massive: {what}: a result has no ticker 'T': {_short(r)}")
            out[t] = (_num(r, "v", what), _num(r, "c", what, required=False))
        return out

    def top_volume_tickers(
        self, trade_date: dt.date, size: int, lookback: int = 20
    ) -> pd.DataFrame:
        """Top ``size`` common stocks and ETFs by mean share volume over the ``lookback``
        sessions before ``trade_date`` (one grouped-daily call per session). A ticker absent on
        a session counts as 0 shares that day, so a new listing is not ranked on a few days."""
        if size < 1:
            raise VendorError("massive: universe size must be >= 1", vendor=self.name)
        self._require_key()
        days = sessions_before(trade_date, lookback)
        allowed = self.stock_and_etf_tickers(days[-1])
        per_day = self._map(self._grouped_daily, days)
        totals: dict[str, float] = {}
        for res in per_day:
            for t, (v, _c) in res.items():
                if t in allowed:
                    totals[t] = totals.get(t, 0.0) + v
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
        if not ranked:
            raise _bad(
                f"massive: no common stock or ETF traded in the {lookback} sessions before "
                f"{trade_date}",
                vendor=self.name,
            )
        if len(ranked) < size:
            log.warning(
                "massive: universe for %s has %d tickers (< %d asked)",
                trade_date,
                len(ranked),
                size,
            )
        last = per_day[-1]
        rows = [
            {
                "trade_date": trade_date,
                "rank": i + 1,
                "ticker": t,
                "avg_volume": tot / len(days),
                "last_close": last.get(t, (0.0, float("nan")))[1],
                "vendor": self.name,
            }
            for i, (t, tot) in enumerate(ranked)
        ]
        return make_frame(UNIVERSE, rows)

    # -- bars --------------------------------------------------------------------------------

    def _aggs(self, ticker: str, timespan: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        what = f"{timespan} bars of {ticker}"
        recs = self._all(
            f"/v2/aggs/ticker/{quote(ticker, safe='.')}/range/1/{timespan}/"
            f"{start.isoformat()}/{end.isoformat()}",
            {"adjusted": "true", "sort": "asc", "limit": 50000},
            what=what,
        )
        rows = [
            {
                "t": _int(r, "t", what),
                "open": _num(r, "o", what),
                "high": _num(r, "h", what),
                "low": _num(r, "l", what),
                "close": _num(r, "c", what),
                "volume": _num(r, "v", what),
                "vwap": _num(r, "vw", what, required=False),
            }
            for r in recs
        ]
        df = pd.DataFrame(rows, columns=["t", "open", "high", "low", "close", "volume", "vwap"])
        df["ts"] = (
            epoch_to_et_naive(df["t"], "ms") if len(df) else pd.Series([], dtype="datetime64[us]")
        )
        df["ticker"] = ticker
        df["vendor"] = self.name
        return df

    def daily_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Adjusted daily bars (``/v2/aggs/.../1/day``). Raises a :class:`VendorDataError`
        naming every ticker without bars (the others are on ``err.partial``)."""
        tickers = check_tickers(self.name, tickers)
        self._require_key()
        frames = self._map(lambda t: self._aggs(t, "day", start, end), tickers)
        out, failed = [], {}
        for t, df in zip(tickers, frames, strict=True):
            if df.empty:
                failed[t] = "no bars returned"
                continue
            # daily `t` is midnight ET of the session
            df["trade_date"] = df["ts"].dt.date
            df = df[(df["trade_date"] >= start) & (df["trade_date"] <= end)]
            out.append(df)
        frame = make_frame(OHLCV_DAILY, pd.concat(out) if out else [])
        if failed and sessions_between(start, end):
            raise missing_data_error(self.name, "daily bars", failed, frame)
        return frame

    def intraday_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Regular-session 1-minute bars (``/v2/aggs/.../1/minute``, bar start in ET; half days
        end at the early close). Minutes without trades have no bar."""
        tickers = check_tickers(self.name, tickers)
        self._require_key()
        frames = self._map(lambda t: self._aggs(t, "minute", start, end), tickers)
        out, failed = [], {}
        for t, df in zip(tickers, frames, strict=True):
            if not df.empty:
                df = df[regular_session_mask(df["ts"]).to_numpy()]
            if df.empty:
                failed[t] = "no regular-session minute bars"
                continue
            df = df.assign(trade_date=df["ts"].dt.date)
            out.append(df)
        frame = make_frame(OHLCV_INTRADAY, pd.concat(out) if out else [])
        if failed and sessions_between(start, end):
            raise missing_data_error(self.name, "minute bars", failed, frame)
        return frame

    # -- option chain ------------------------------------------------------------------------

    def _snapshot(self, underlying: str) -> list[dict[str, Any]]:
        return self._all(
            f"/v3/snapshot/options/{quote(underlying, safe='.')}",
            {"limit": 250},
            what=f"option chain snapshot of {underlying}",
        )

    def _chain_row(self, underlying: str, r: Mapping[str, Any], trade_date: dt.date) -> dict:
        where = f"option chain snapshot of {underlying}"
        details = r.get("details")
        if not isinstance(details, Mapping):
            raise _bad(f"massive: {where}: a contract has no 'details': {_short(r)}")
        ticker = details.get("ticker")
        if not isinstance(ticker, str):
            raise _bad(f"massive: {where}: contract without details.ticker: {_short(r)}")
        right = {"call": "C", "put": "P"}.get(str(details.get("contract_type", "")).lower())
        try:
            expiry = dt.date.fromisoformat(str(details.get("expiration_date")))
        except ValueError:
            raise _bad(
                f"massive: {where}: {ticker}: bad expiration_date "
                f"{details.get('expiration_date')!r}"
            ) from None
        if right is None:
            raise _bad(
                f"massive: {where}: {ticker}: bad contract_type {details.get('contract_type')!r}"
            )
        strike = _num(details, "strike_price", where)
        try:
            symbol = parse_occ(ticker).symbol
        except OptionSymbolError:
            # keep the row (quarantine downstream decides), stored as sent minus the prefix
            symbol = ticker.removeprefix("O:")
            log.warning("massive: %s: %r is not an OCC symbol; stored as sent", where, ticker)
        greeks = r.get("greeks") if isinstance(r.get("greeks"), Mapping) else {}
        day = r.get("day") if isinstance(r.get("day"), Mapping) else {}
        lq = r.get("last_quote") if isinstance(r.get("last_quote"), Mapping) else {}
        lt = r.get("last_trade") if isinstance(r.get("last_trade"), Mapping) else {}
        ua = r.get("underlying_asset") if isinstance(r.get("underlying_asset"), Mapping) else {}
        volume = _num(day, "volume", where, required=False)
        last = _num(lt, "price", where, required=False)
        if np.isnan(last) and volume > 0:
            last = _num(day, "close", where, required=False)
        oi = r.get("open_interest")
        return {
            "trade_date": trade_date,
            "underlying": underlying,
            "option_symbol": symbol,
            "expiry": expiry,
            "right": right,
            "strike": strike,
            "bid": _num(lq, "bid", where, required=False),
            "ask": _num(lq, "ask", where, required=False),
            "last": last,
            "volume": volume,
            "open_interest": int(oi)
            if isinstance(oi, int | float) and not isinstance(oi, bool)
            else None,
            "iv": _num(r, "implied_volatility", where, required=False),
            "delta": _num(greeks, "delta", where, required=False),
            "gamma": _num(greeks, "gamma", where, required=False),
            "theta": _num(greeks, "theta", where, required=False),
            "vega": _num(greeks, "vega", where, required=False),
            "underlying_price": _num(ua, "price", where, required=False),
            "vendor": self.name,
        }

    def option_chain(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        """Chain snapshot per underlying (``/v3/snapshot/options``, 250 per page). Greeks and
        IV the vendor omits (deep ITM, no quotes) are NULL; ``last`` is the last trade price,
        else the day close when the contract traded, else NULL."""
        unds = check_tickers(self.name, underlyings)
        self._require_key()
        self._require_current(trade_date, "the option chain")
        snaps = self._map(self._snapshot, unds)
        rows, failed = [], {}
        for u, recs in zip(unds, snaps, strict=True):
            if not recs:
                failed[u] = "empty snapshot"
            rows.extend(self._chain_row(u, r, trade_date) for r in recs)
        frame = make_frame(OPTION_CHAIN, rows)
        if failed:
            raise missing_data_error(self.name, "option chain", failed, frame)
        return frame

    # -- prints ------------------------------------------------------------------------------

    def conditions(self) -> pd.DataFrame:
        """The options trade-conditions reference (``/v3/reference/conditions``), fetched once
        per vendor instance. Columns: id, name, abbreviation, opra, type."""
        with self._lock:
            if self._conditions is not None:
                return self._conditions
        recs = self._all(
            "/v3/reference/conditions",
            {"asset_class": "options", "limit": 1000},
            what="options trade conditions reference",
        )
        if not recs:
            raise _bad("massive: the trade conditions reference came back empty", vendor=self.name)
        rows = []
        for r in recs:
            if not isinstance(r.get("id"), int):
                raise _bad(f"massive: condition without integer id: {_short(r)}")
            sm = r.get("sip_mapping") if isinstance(r.get("sip_mapping"), Mapping) else {}
            rows.append(
                {
                    "id": r["id"],
                    "name": r.get("name"),
                    "abbreviation": r.get("abbreviation"),
                    "opra": sm.get("OPRA"),
                    "type": r.get("type"),
                }
            )
        df = pd.DataFrame(rows, columns=["id", "name", "abbreviation", "opra", "type"])
        with self._lock:
            self._conditions = df
        return df

    def _quotes(
        self, o_sym: str, lo: int, hi: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(sip ns, bid, ask) of the quotes in [lo, hi], or None when the plan has no quotes."""
        with self._lock:
            if self._quotes_denied is not None:
                return None
        what = f"option quotes of {o_sym}"
        denied: str | None = None
        try:
            recs = self._all(
                f"/v3/quotes/{o_sym}",
                {
                    "timestamp.gte": lo,
                    "timestamp.lte": hi,
                    "order": "asc",
                    "sort": "timestamp",
                    "limit": 50000,
                },
                what="option quotes (NBBO)",
            )
        except VendorPlanError as exc:
            denied = str(exc)
        if denied is not None:
            with self._lock:
                first = self._quotes_denied is None
                self._quotes_denied = denied
            if first:
                self._notice(
                    f"massive: the plan does not include option quotes, so bid/ask at each print "
                    f"are left NULL for this run ({denied})"
                )
            return None
        ts = np.array([_int(q, "sip_timestamp", what) for q in recs], dtype="int64")
        bid = np.array([_num(q, "bid_price", what, required=False) for q in recs], dtype="float64")
        ask = np.array([_num(q, "ask_price", what, required=False) for q in recs], dtype="float64")
        order = np.argsort(ts, kind="stable")
        return ts[order], bid[order], ask[order]

    def _prints_one(
        self, contract: str, trade_date: dt.date, underlying: str | None
    ) -> pd.DataFrame:
        try:
            parsed = parse_occ(contract)
        except OptionSymbolError as exc:
            raise VendorError(f"massive: {exc}", vendor=self.name) from None
        sym = parsed.symbol
        o_sym = "O:" + sym
        und = underlying or parsed.underlying
        lo, hi = _day_bounds_ns(trade_date)
        what = f"option trades of {o_sym}"
        recs = self._all(
            f"/v3/trades/{o_sym}",
            {
                "timestamp.gte": lo,
                "timestamp.lt": hi,
                "order": "asc",
                "sort": "timestamp",
                "limit": 50000,
            },
            what="option trades",
        )
        if not recs:
            return make_frame(OPTION_PRINTS, [])
        sip = np.array([_int(r, "sip_timestamp", what) for r in recs], dtype="int64")
        exch = [_int(r, "exchange", what) for r in recs]
        price = [_num(r, "price", what) for r in recs]
        size = [_int(r, "size", what) for r in recs]
        conds = [conditions_text(r.get("conditions"), where=what) for r in recs]
        corr = [r.get("correction") for r in recs]
        for c in corr:
            if c is not None and (isinstance(c, bool) or not isinstance(c, int)):
                raise _bad(f"massive: {what}: correction must be an integer, got {c!r}")
        bid = np.full(len(recs), np.nan)
        ask = np.full(len(recs), np.nan)
        if self.nbbo:
            q = self._quotes(o_sym, max(lo, int(sip.min()) - NBBO_LOOKBACK_NS), int(sip.max()))
            if q is not None and len(q[0]):
                # the NBBO in force at a print is the last quote strictly before it
                idx = np.searchsorted(q[0], sip, side="left") - 1
                ok = idx >= 0
                bid[ok] = q[1][idx[ok]]
                ask[ok] = q[2][idx[ok]]
        rows = [
            {
                "trade_date": trade_date,
                "print_id": print_id(sym, sip[i], exch[i], price[i], size[i], conds[i], i),
                "option_symbol": sym,
                "underlying": und,
                "sip_timestamp": int(sip[i]),
                "exchange": exch[i],
                "price": price[i],
                "size": size[i],
                "conditions": conds[i],
                "correction": corr[i],
                "bid": bid[i],
                "ask": ask[i],
                "seq": i,
                "vendor": self.name,
            }
            for i in range(len(recs))
        ]
        df = pd.DataFrame(rows)
        df["sip_ts"] = epoch_to_et_naive(df["sip_timestamp"], "ns")
        return make_frame(OPTION_PRINTS, df)

    def contract_prints(
        self,
        contracts: Sequence[str],
        trade_date: dt.date,
        underlyings: Mapping[str, str] | None = None,
    ) -> pd.DataFrame:
        """Every trade of ``contracts`` (OCC symbols, ``O:`` optional) on ``trade_date``, in
        SIP order per contract, with bid/ask from the quotes when the plan allows.

        Args:
            contracts: option symbols.
            trade_date: the session (its ET calendar day is queried).
            underlyings: symbol -> underlying, when known (else derived from the OCC root).
        """
        self._require_key()
        known = self.conditions()
        under = dict(underlyings or {})
        frames = self._map(lambda c: self._prints_one(c, trade_date, under.get(c)), list(contracts))
        frame = make_frame(OPTION_PRINTS, pd.concat(frames) if frames else [])
        ids = {int(x) for s in frame["conditions"].unique() if s for x in str(s).split(",")}
        unknown = sorted(ids - set(known["id"].tolist()))
        if unknown:
            log.warning("massive: condition ids not in the reference: %s", unknown)
        return frame

    def option_prints(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        """Prints of each underlying's traded contracts (see the module doc for the choice of
        contracts). Raises naming every underlying that yields no prints."""
        unds = check_tickers(self.name, underlyings)
        self._require_key()
        self._require_current(trade_date, "the contract list for option prints")
        snaps = self._map(self._snapshot, unds)
        contracts: list[str] = []
        under: dict[str, str] = {}
        for u, recs in zip(unds, snaps, strict=True):
            traded = []
            for r in recs:
                day = r.get("day") if isinstance(r.get("day"), Mapping) else {}
                vol = _num(day, "volume", f"option chain snapshot of {u}", required=False)
                tick = (
                    (r.get("details") or {}).get("ticker")
                    if isinstance(r.get("details"), Mapping)
                    else None
                )
                if isinstance(tick, str) and vol > 0:
                    traded.append((vol, tick))
            traded.sort(key=lambda vt: (-vt[0], vt[1]))
            if len(traded) > self.max_contracts:
                self._notice(
                    f"massive: {u}: {len(traded)} contracts traded on {trade_date}; prints are "
                    f"fetched for the {self.max_contracts} most traded "
                    "(vendors.massive.max_contracts)"
                )
            for _vol, tick in traded[: self.max_contracts]:
                contracts.append(tick)
                under[tick] = u
        frame = self.contract_prints(contracts, trade_date, under)
        got = set(frame["underlying"].unique())
        failed = {u: "no traded contracts or no prints" for u in unds if u not in got}
        if failed:
            raise missing_data_error(self.name, "option prints", failed, frame)
        return frame


__all__ = ["MassiveVendor", "conditions_text", "print_id"]
