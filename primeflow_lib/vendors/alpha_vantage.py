"""Alpha Vantage vendor: daily and intraday bars (``TIME_SERIES_DAILY``,
``TIME_SERIES_INTRADAY``).

Key: ``cfg["api_keys"]["alpha_vantage"]`` from ``ALPHAVANTAGE_API_KEY``. Alpha Vantage only
accepts it as the ``apikey`` query parameter, so it is in every request URL; the HTTP layer
redacts ``apikey=...`` and the key value from every message, exception and log line (urllib3's
DEBUG request lines included). Base URL ``https://www.alphavantage.co``, overridable with
``PRIMEFLOW_ALPHAVANTAGE_BASE_URL``.

Alpha Vantage reports throttling and errors with **HTTP 200** and a one-key body, mapped here:

=====================================  ==========================================
body                                   error raised
=====================================  ==========================================
``{"Information": "...premium..."}``   :class:`VendorPlanError` (names the function)
``{"Information": "...rate limit..."}`` :class:`VendorRateLimitError` (25/day free)
``{"Note": "...call frequency..."}``   :class:`VendorRateLimitError` (legacy 5/min)
``{"Error Message": "Invalid API..."}`` the ticker is reported as failed (bad symbol)
no ``Time Series (...)`` key           :class:`VendorDataError`
=====================================  ==========================================

Throttle bodies are not retried: the free quota is per day, so a retry only burns calls. Set
``runtime.vendor_calls_per_minute: 5`` for a free key.

Values arrive as strings, newest first; they are parsed strictly (a bad value names the date,
field and value) and sorted ascending. ``TIME_SERIES_DAILY`` is **not** split-adjusted;
``adjusted=True`` uses the premium ``TIME_SERIES_DAILY_ADJUSTED`` and scales open/high/low/close
by ``adjusted close / close``. ``outputsize=compact`` (the last 100 points) is used when the range
fits in it, else ``full`` (reported to be premium on daily data). Intraday uses one
``TIME_SERIES_INTRADAY`` call per ticker and month (``month=YYYY-MM``, ``outputsize=full``,
``extended_hours=false``); its timestamps are naive US/Eastern and taken as the bar start (Alpha
Vantage does not document the convention), bars outside the regular session are dropped.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import requests

from primeflow_lib.config import load_api_keys
from primeflow_lib.schema.market import OHLCV_DAILY, OHLCV_INTRADAY
from primeflow_lib.vendors.base import (
    BarSource,
    DataKind,
    VendorAuthError,
    VendorDataError,
    VendorError,
    VendorPlanError,
    VendorRateLimitError,
)
from primeflow_lib.vendors.http import (
    HttpClient,
    HttpSettings,
    check_tickers,
    make_frame,
    missing_data_error,
    now_et,
    regular_session_mask,
    reveal,
    sessions_between,
)

DEFAULT_BASE_URL = "https://www.alphavantage.co"
BASE_URL_ENV = "PRIMEFLOW_ALPHAVANTAGE_BASE_URL"
KEY_ENV = "ALPHAVANTAGE_API_KEY"
INTERVALS = ("1min", "5min", "15min", "30min", "60min")
#: points in ``outputsize=compact``
COMPACT_POINTS = 100
PREMIUM_FUNCTIONS = frozenset({"TIME_SERIES_DAILY_ADJUSTED"})

_DAILY_FIELDS = {
    "open": "1. open",
    "high": "2. high",
    "low": "3. low",
    "close": "4. close",
    "volume": "5. volume",
}
_ADJUSTED_FIELDS = {
    "open": "1. open",
    "high": "2. high",
    "low": "3. low",
    "close": "4. close",
    "adj_close": "5. adjusted close",
    "volume": "6. volume",
}


class _BadSymbol(Exception):
    """Internal: Alpha Vantage answered ``Error Message`` for one symbol."""


class AlphaVantageVendor(BarSource):
    """Alpha Vantage bars (see the module doc).

    Args:
        api_key: the key (plain string or ``config.Secret``).
        base_url: default ``PRIMEFLOW_ALPHAVANTAGE_BASE_URL`` or ``https://www.alphavantage.co``.
        settings: HTTP timeouts, retries and client-side rate limit.
        adjusted: use ``TIME_SERIES_DAILY_ADJUSTED`` (premium) for daily bars.
        session: a ``requests.Session`` to use.
        today: returns today's date in New York (injectable for tests).
    """

    name = "alpha_vantage"
    kinds: frozenset[DataKind] = frozenset({"bars"})

    def __init__(
        self,
        api_key: object | None = None,
        *,
        base_url: str | None = None,
        settings: HttpSettings | None = None,
        adjusted: bool = False,
        session: requests.Session | None = None,
        today: Callable[[], dt.date] | None = None,
    ) -> None:
        self._key = reveal(api_key).strip()
        base = (base_url or os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL).rstrip(
            "/"
        )
        self.http = HttpClient(
            self.name,
            base,
            settings=settings,
            secrets=(self._key,),
            session=session,
            key_env=KEY_ENV,
        )
        self.adjusted = adjusted
        self._today = today or (lambda: now_et().date())

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> AlphaVantageVendor:
        """Build from the loaded config (key from ``cfg["api_keys"]["alpha_vantage"]``, else
        the environment; HTTP settings from ``cfg["runtime"]``)."""
        keys = cfg.get("api_keys") or {}
        key = keys.get("alpha_vantage") or load_api_keys().get("alpha_vantage")
        return cls(key, settings=HttpSettings.from_config(cfg))

    def check_ready(self, kind: DataKind) -> None:
        """Fail now if ``kind`` is not bars or ``ALPHAVANTAGE_API_KEY`` is not set."""
        super().check_ready(kind)
        self._require_key()

    def _require_key(self) -> None:
        if not self._key:
            raise VendorAuthError(f"alpha_vantage: no API key: set {KEY_ENV}", vendor=self.name)

    # -- requests ----------------------------------------------------------------------------

    def query(self, function: str, symbol: str, **params: Any) -> dict[str, Any]:
        """Call ``/query?function=...`` and return the body after mapping Alpha Vantage's
        HTTP-200 error bodies to typed errors (see the module doc).

        Raises:
            _BadSymbol: internal, for ``Error Message`` (the caller names the ticker).
        """
        self._require_key()
        what = f"{function} {symbol}"
        body = self.http.get_json(
            "/query",
            {"function": function, "symbol": symbol, **params, "apikey": self._key},
            what=what,
        )
        return self.check_body(body, function, what, params)

    def get_csv(self, function: str, what: str, **params: Any) -> str:
        """Call ``/query?function=...`` for a CSV download (``EARNINGS_CALENDAR``). A JSON body
        instead of CSV is mapped like :meth:`query` maps it (quota, premium, error)."""
        self._require_key()
        text = self.http.get_text("/query", {"function": function, **params, "apikey": self._key}, what=what)
        if text.lstrip().startswith("{"):
            try:
                body = json.loads(text)
            except ValueError:
                raise VendorDataError(self.http.redact(f"alpha_vantage: {what}: neither CSV nor JSON: "
                                                       f"{text[:80]!r}"), vendor=self.name) from None
            try:
                self.check_body(body, function, what, params)
            except _BadSymbol as exc:
                raise VendorDataError(f"alpha_vantage: {what}: {exc}", vendor=self.name) from None
            raise VendorDataError(self.http.redact(f"alpha_vantage: {what}: expected CSV, got JSON with keys "
                                                   f"{sorted(body)}"), vendor=self.name)
        return text

    def check_body(self, body: dict[str, Any], function: str, what: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Map Alpha Vantage's HTTP-200 error bodies to typed errors (module doc); the body
        otherwise."""
        info = body.get("Information")
        note = body.get("Note")
        error = body.get("Error Message")
        if isinstance(info, str):
            low = info.lower()
            if "premium" in low and "rate limit" not in low:
                opts = ", ".join(f"{k}={v}" for k, v in params.items())
                raise VendorPlanError(
                    self.http.redact(
                        f"alpha_vantage: {what}: {function}{' with ' + opts if opts else ''}"
                        f" is a premium feature your plan lacks ({info})"
                    ),
                    vendor=self.name,
                    status=200,
                )
            if any(
                w in low
                for w in (
                    "rate limit",
                    "requests per day",
                    "call frequency",
                    "per minute",
                    "spread out",
                )
            ):
                raise VendorRateLimitError(
                    self.http.redact(f"alpha_vantage: {what}: quota used up ({info})"),
                    vendor=self.name,
                    status=200,
                )
            raise VendorError(
                self.http.redact(f"alpha_vantage: {what}: {info}"), vendor=self.name, status=200
            )
        if isinstance(note, str):
            raise VendorRateLimitError(
                self.http.redact(f"alpha_vantage: {what}: throttled ({note})"),
                vendor=self.name,
                status=200,
            )
        if isinstance(error, str):
            raise _BadSymbol(self.http.redact(error))
        return body

    def _series(
        self, body: Mapping[str, Any], key: str, fields: Mapping[str, str], what: str
    ) -> pd.DataFrame:
        series = body.get(key)
        if not isinstance(series, Mapping):
            raise VendorDataError(
                f"alpha_vantage: {what}: no {key!r} in the response (keys: {sorted(body)[:6]})",
                vendor=self.name,
            )
        rows = []
        for stamp, rec in series.items():
            if not isinstance(rec, Mapping):
                raise VendorDataError(
                    f"alpha_vantage: {what}: {stamp}: not an object: {rec!r}", vendor=self.name
                )
            try:
                when = pd.Timestamp(dt.datetime.fromisoformat(str(stamp)))
            except ValueError:
                raise VendorDataError(
                    f"alpha_vantage: {what}: bad timestamp {stamp!r}", vendor=self.name
                ) from None
            row: dict[str, Any] = {"ts": when}
            for col, field in fields.items():
                raw = rec.get(field)
                try:
                    val = float(raw)  # values are strings such as "276.0200"
                except (TypeError, ValueError):
                    val = float("nan")
                if raw is None or math.isnan(val) or math.isinf(val):
                    raise VendorDataError(
                        f"alpha_vantage: {what}: {stamp}: field {field!r} has bad value {raw!r}",
                        vendor=self.name,
                    )
                row[col] = val
            rows.append(row)
        df = pd.DataFrame(rows, columns=["ts", *fields])
        # newest first on the wire; the warehouse wants ascending
        return df.sort_values("ts", kind="stable").reset_index(drop=True)

    # -- bars --------------------------------------------------------------------------------

    def daily_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        """Daily bars, one request per ticker; tickers Alpha Vantage does not know, or with no
        bar in the range, are named in one :class:`VendorDataError` (the rest on
        ``err.partial``)."""
        tickers = check_tickers(self.name, tickers)
        self._require_key()
        function = "TIME_SERIES_DAILY_ADJUSTED" if self.adjusted else "TIME_SERIES_DAILY"
        fields = _ADJUSTED_FIELDS if self.adjusted else _DAILY_FIELDS
        compact = len(sessions_between(start, self._today())) <= COMPACT_POINTS
        out, failed = [], {}
        for t in tickers:
            what = f"{function} {t}"
            try:
                body = self.query(function, t, outputsize="compact" if compact else "full")
            except _BadSymbol as exc:
                failed[t] = str(exc)
                continue
            df = self._series(body, "Time Series (Daily)", fields, what)
            if self.adjusted:
                ratio = df["adj_close"] / df["close"]
                for c in ("open", "high", "low"):
                    df[c] = df[c] * ratio
                df["close"] = df["adj_close"]
            df["trade_date"] = df["ts"].dt.date
            df = df[(df["trade_date"] >= start) & (df["trade_date"] <= end)]
            if df.empty:
                failed[t] = f"no bar between {start} and {end}"
                continue
            out.append(df.assign(ticker=t, vwap=float("nan"), vendor=self.name))
        frame = make_frame(OHLCV_DAILY, pd.concat(out) if out else [])
        if failed:
            raise missing_data_error(self.name, "daily bars", failed, frame)
        return frame

    def intraday_bars(
        self, tickers: Sequence[str], start: dt.date, end: dt.date, interval: str = "1min"
    ) -> pd.DataFrame:
        """Regular-session intraday bars (``interval`` 1min by default; 5min..60min accepted),
        one request per ticker and calendar month."""
        if interval not in INTERVALS:
            raise VendorError(
                f"alpha_vantage: interval must be one of {INTERVALS}, got {interval!r}",
                vendor=self.name,
            )
        tickers = check_tickers(self.name, tickers)
        self._require_key()
        months = pd.period_range(start, end, freq="M")
        key = f"Time Series ({interval})"
        fields = _DAILY_FIELDS
        out, failed = [], {}
        for t in tickers:
            parts = []
            for m in months:
                what = f"TIME_SERIES_INTRADAY {t} {interval} {m}"
                try:
                    body = self.query(
                        "TIME_SERIES_INTRADAY",
                        t,
                        interval=interval,
                        month=str(m),
                        outputsize="full",
                        extended_hours="false",
                        adjusted="true",
                    )
                except _BadSymbol as exc:
                    failed[t] = str(exc)
                    break
                parts.append(self._series(body, key, fields, what))
            if t in failed:
                continue
            df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
            if not df.empty:
                df["ts"] = df["ts"].astype("datetime64[us]")
                days = df["ts"].dt.date
                df = df[((days >= start) & (days <= end)).to_numpy()]
                df = df[regular_session_mask(df["ts"]).to_numpy()]
            if df.empty:
                failed[t] = f"no regular-session {interval} bar between {start} and {end}"
                continue
            out.append(
                df.assign(
                    ticker=t, trade_date=df["ts"].dt.date, vwap=float("nan"), vendor=self.name
                )
            )
        frame = make_frame(OHLCV_INTRADAY, pd.concat(out) if out else [])
        if failed:
            raise missing_data_error(self.name, f"{interval} bars", failed, frame)
        return frame


__all__ = ["AlphaVantageVendor", "PREMIUM_FUNCTIONS"]
