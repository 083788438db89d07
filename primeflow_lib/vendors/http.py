"""The shared HTTP layer of the real vendors, and small helpers every vendor module uses.

:class:`HttpClient` wraps one ``requests.Session`` per vendor instance:

* connect and read timeouts from ``cfg["runtime"]`` (``http_connect_timeout_s``,
  ``http_read_timeout_s``);
* up to ``http_max_retries`` retries of HTTP 429, 5xx, timeouts and connection errors, with
  jittered exponential backoff; a ``Retry-After`` header (seconds or an HTTP-date) is honoured,
  capped at ``http_retry_after_cap_s``;
* typed errors from :mod:`primeflow_lib.vendors.base`: 401 -> :class:`VendorAuthError`,
  403 -> :class:`VendorPlanError` (never retried; the message names the feature the plan lacks),
  429 after the retries -> :class:`VendorRateLimitError`, an empty, non-JSON or non-object body
  -> :class:`VendorDataError`, anything else -> :class:`VendorError` with the status and the
  vendor's own message;
* every message, exception and log line goes through :func:`primeflow_lib.redact.redact`;
  exceptions from ``requests`` are caught and re-raised redacted, with no ``__cause__`` or
  ``__context__``;
* a client-side :class:`RateLimiter` (token bucket, thread-safe) spaces the calls to
  ``vendor_calls_per_minute``.

Optional ``runtime`` keys read with defaults (not declared in ``default_config.yaml`` yet, so
only a config built in code can set them): ``http_backoff_base_s`` (0.5),
``http_backoff_max_s`` (30), ``http_retry_after_cap_s`` (60), ``http_max_workers`` (4).

The second half of the module holds helpers shared by the vendor modules: the NYSE calendar
(sessions and regular-session bounds, from :mod:`primeflow_lib.calendar`), time-zone conversion
to naive America/New_York, building frames with exactly the declared warehouse columns, ticker
validation and the "some tickers returned nothing" error.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import requests

from primeflow_lib.backoff import backoff, cap_wait, parse_retry_after
from primeflow_lib.redact import install_log_redaction, redact, register_secret, reveal, shorten
from primeflow_lib.schema.base import Table
from primeflow_lib.vendors.base import (
    MissingDataError,
    VendorAuthError,
    VendorDataError,
    VendorError,
    VendorPlanError,
    VendorRateLimitError,
)

log = logging.getLogger(__name__)

# urllib3 prints "GET /query?...&apikey=KEY" at DEBUG: redact it at the source.
install_log_redaction()

ET = ZoneInfo("America/New_York")
USER_AGENT = "primeflow/0.1 (+https://github.com/primeflow)"
#: characters of a vendor's error text kept in messages (after redaction)
VENDOR_TEXT_LIMIT = 300
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 522, 524})


# ---------------------------------------------------------------------------------------------
# settings and rate limiting
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts, retry policy and client-side rate limit of one vendor client.

    Attributes:
        connect_timeout: seconds to establish the TCP/TLS connection.
        read_timeout: seconds to wait for the next byte of the response.
        max_retries: retries after the first attempt (so ``max_retries + 1`` attempts at most).
        backoff_base: first backoff wait, seconds; doubles each retry, jittered to 50-100 %.
        backoff_max: upper bound of one backoff wait, seconds.
        retry_after_cap: upper bound of a wait asked for by ``Retry-After``, seconds.
        calls_per_minute: client-side limit on requests (all threads of the client together).
        max_workers: threads a vendor may use for independent requests (per ticker/contract).
    """

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_cap: float = 60.0
    calls_per_minute: float = 600.0
    max_workers: int = 4

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> HttpSettings:
        """Settings from ``cfg["runtime"]`` (see the module doc for the keys)."""
        rt = cfg.get("runtime", {}) if isinstance(cfg, Mapping) else {}
        d = cls()
        return cls(
            connect_timeout=float(rt.get("http_connect_timeout_s", d.connect_timeout)),
            read_timeout=float(rt.get("http_read_timeout_s", d.read_timeout)),
            max_retries=max(0, int(rt.get("http_max_retries", d.max_retries))),
            backoff_base=float(rt.get("http_backoff_base_s", d.backoff_base)),
            backoff_max=float(rt.get("http_backoff_max_s", d.backoff_max)),
            retry_after_cap=float(rt.get("http_retry_after_cap_s", d.retry_after_cap)),
            calls_per_minute=float(rt.get("vendor_calls_per_minute", d.calls_per_minute)),
            max_workers=max(1, int(rt.get("http_max_workers", d.max_workers))),
        )

    def backoff(self, retry: int) -> float:
        """Wait before retry number ``retry`` (1-based): exponential, jittered to 50-100 % so
        parallel clients do not retry in lockstep (:func:`primeflow_lib.backoff.backoff`)."""
        return backoff(retry, self.backoff_base, self.backoff_max)


class RateLimiter:
    """Token bucket: ``calls_per_minute`` tokens per minute, at most ``burst`` saved up.

    :meth:`acquire` blocks until a token is available. Thread-safe: the lock only guards the
    bookkeeping, the wait happens outside it, and each caller reserves its slot before sleeping
    so concurrent callers are spaced out instead of all waking at once.

    Args:
        calls_per_minute: sustained rate; ``0`` or less disables the limiter.
        burst: bucket size; default one second's worth of calls (at least 1), which keeps a
            5-per-minute free tier to one call every 12 s instead of 5 at once.
        clock, sleep: injectable for tests.
    """

    def __init__(
        self,
        calls_per_minute: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = float(calls_per_minute) / 60.0  # tokens per second
        self.capacity = float(burst) if burst is not None else max(1.0, self.rate)
        self._tokens = self.capacity
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take one token, waiting if needed. Returns the seconds waited."""
        if self.rate <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            self._tokens -= 1.0  # reserve now; a negative balance is this caller's wait
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._sleep(wait)
        return wait


# ---------------------------------------------------------------------------------------------
# the client
# ---------------------------------------------------------------------------------------------


def _vendor_message(resp: requests.Response) -> str:
    """The vendor's own explanation from an error response (JSON ``error``/``message`` or the
    body), single-lined and **whole**: the caller redacts, then shortens
    (:func:`primeflow_lib.redact.shorten`), never the other way round."""
    text = resp.text or ""
    msg = ""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        parts = [
            str(body[k])
            for k in ("status", "error", "message", "Error Message", "Information", "Note")
            if body.get(k)
        ]
        msg = ": ".join(parts)
    elif isinstance(body, str):
        msg = body
    if not msg:
        msg = text.strip()
    return " ".join(msg.split())


class HttpClient:
    """GET JSON from one vendor with timeouts, retries, typed errors, redaction and a rate limit.

    Args:
        vendor: vendor name used in messages and errors.
        base_url: scheme + host (+ optional path prefix) every relative path is joined to.
        settings: timeouts, retries and rate limit (:class:`HttpSettings`).
        headers: extra headers sent with every request (e.g. ``Authorization``).
        secrets: values to redact in addition to the registered ones (the key).
        session: a ``requests.Session`` to use (tests, connection reuse); one is made if None.
        key_env: the environment variable(s) to mention when the vendor rejects the key.
    """

    def __init__(
        self,
        vendor: str,
        base_url: str,
        *,
        settings: HttpSettings | None = None,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[object] = (),
        session: requests.Session | None = None,
        key_env: str = "",
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.settings = settings or HttpSettings()
        self.secrets = tuple(s for s in secrets if s)
        for s in self.secrets:
            register_secret(s)
        self.key_env = key_env
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = USER_AGENT
        self.session.headers["Accept"] = "application/json"
        self._headers = dict(headers or {})
        self.limiter = RateLimiter(self.settings.calls_per_minute)
        self._sleep = time.sleep

    # -- helpers ---------------------------------------------------------------------------

    def redact(self, text: object) -> str:
        """:func:`redact` with this client's secrets."""
        return redact(str(text), self.secrets)

    def resolve(self, path_or_url: str) -> str:
        """Absolute URL for a path, or for a vendor-given URL such as ``next_url``.

        A full URL on another origin than ``base_url`` is re-based onto ``base_url`` (same
        path and query): the key is only ever sent to the configured host, and fixtures or
        proxies that hand out the public host still work against a local base URL.
        """
        if re.match(r"^https?://", path_or_url, re.I):
            base = urlsplit(self.base_url)
            u = urlsplit(path_or_url)
            if (u.scheme, u.netloc) == (base.scheme, base.netloc):
                return path_or_url
            rebased = self.base_url + u.path + (f"?{u.query}" if u.query else "")
            log.debug("%s: re-based %s onto %s", self.vendor, self.redact(path_or_url), base.netloc)
            return rebased
        return urljoin(self.base_url + "/", path_or_url.lstrip("/"))

    def _err(self, cls: type[VendorError], text: str, status: int | None = None) -> VendorError:
        return cls(self.redact(f"{self.vendor}: {text}"), vendor=self.vendor, status=status)

    def close(self) -> None:
        """Close the session's pooled connections."""
        self.session.close()

    # -- the request loop ------------------------------------------------------------------

    def get_json(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        *,
        what: str,
    ) -> dict[str, Any]:
        """GET ``path_or_url`` and return the decoded JSON object (errors: :meth:`get`; an empty
        or undecodable body, or a JSON value that is not an object, is a
        :class:`VendorDataError`)."""
        resp, where = self.get(path_or_url, params, what=what)
        return self._decode(resp, what, where)

    def get_text(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        *,
        what: str,
    ) -> str:
        """GET ``path_or_url`` and return the body as text (a CSV download); errors as
        :meth:`get`, an empty body is a :class:`VendorDataError`."""
        resp, where = self.get(path_or_url, params, what=what)
        text = resp.text
        if not text or not text.strip():
            raise self._err(VendorDataError, f"{what}: GET {where}: empty response body", resp.status_code)
        return text

    def get(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | None = None,
        *,
        what: str,
    ) -> tuple[requests.Response, str]:
        """GET ``path_or_url`` with retries; returns the 2xx response and the redacted path.

        Args:
            path_or_url: a path joined to ``base_url``, or a full URL (see :meth:`resolve`).
            params: query parameters.
            what: the feature being fetched, in words ("option trades of O:SPY...");
                it is named in every error so a user knows which plan feature or request failed.

        Raises:
            VendorAuthError: HTTP 401.
            VendorPlanError: HTTP 403 (not retried).
            VendorRateLimitError: HTTP 429 on every allowed attempt.
            VendorError: other HTTP errors, timeouts and connection failures after the retries.
        """
        url = self.resolve(path_or_url)
        s = self.settings
        attempts = s.max_retries + 1
        where = self.redact(urlsplit(url).path)
        for attempt in range(1, attempts + 1):
            waited = self.limiter.acquire()
            if waited > 0.5:
                log.debug(
                    "%s: client rate limit: waited %.2fs before %s", self.vendor, waited, where
                )
            failure: str | None = None
            resp: requests.Response | None = None
            t0 = time.monotonic()
            try:
                resp = self.session.get(
                    url,
                    params=params,
                    headers=self._headers,
                    timeout=(s.connect_timeout, s.read_timeout),
                )
            except requests.Timeout as exc:
                kind = "connect" if isinstance(exc, requests.ConnectTimeout) else "read"
                limit = s.connect_timeout if kind == "connect" else s.read_timeout
                failure = f"{kind} timeout after {limit:g}s"
            except requests.RequestException as exc:
                # str(exc) carries the URL, with any key in the query: redact it here and keep
                # no reference to exc, so nothing unredacted is chained to what we raise.
                failure = f"{type(exc).__name__}: {self.redact(exc)}"
            elapsed = time.monotonic() - t0
            if failure is not None:
                if attempt < attempts:
                    wait = s.backoff(attempt)
                    log.warning(
                        "%s: %s: %s (attempt %d/%d); retrying in %.2fs",
                        self.vendor,
                        what,
                        failure,
                        attempt,
                        attempts,
                        wait,
                    )
                    self._sleep(wait)
                    continue
                raise self._err(
                    VendorError, f"{what}: GET {where} failed after {attempts} attempts: {failure}"
                )
            assert resp is not None
            status = resp.status_code
            log.debug(
                "%s: GET %s -> %d in %.0f ms",
                self.vendor,
                self.redact(resp.url),
                status,
                elapsed * 1000,
            )
            if 200 <= status < 300:
                return resp, where
            message = shorten(_vendor_message(resp), VENDOR_TEXT_LIMIT, self.secrets)
            if status == 401:
                hint = f"; check {self.key_env}" if self.key_env else ""
                raise self._err(
                    VendorAuthError,
                    f"{what}: HTTP 401: the API key was rejected ({message}){hint}",
                    status,
                )
            if status == 403:
                raise self._err(
                    VendorPlanError,
                    f"{what}: HTTP 403: your plan does not include {what} ({message})",
                    status,
                )
            if status in RETRY_STATUSES or 500 <= status < 600:
                if attempt < attempts:
                    ra = parse_retry_after(resp.headers.get("Retry-After"))
                    if ra is not None:
                        wait = cap_wait(ra, s.retry_after_cap)
                        how = f"Retry-After {resp.headers.get('Retry-After')!r}"
                    else:
                        wait = s.backoff(attempt)
                        how = "backoff"
                    log.warning(
                        "%s: %s: HTTP %d %s (attempt %d/%d); retrying in %.2fs (%s)",
                        self.vendor,
                        what,
                        status,
                        self.redact(message),
                        attempt,
                        attempts,
                        wait,
                        how,
                    )
                    resp.close()
                    self._sleep(wait)
                    continue
                cls = VendorRateLimitError if status == 429 else VendorError
                raise self._err(
                    cls,
                    f"{what}: HTTP {status} after {attempts} attempts: {message}",
                    status,
                )
            raise self._err(VendorError, f"{what}: GET {where}: HTTP {status}: {message}", status)
        raise AssertionError("unreachable")  # the loop always returns or raises

    def _decode(self, resp: requests.Response, what: str, where: str) -> dict[str, Any]:
        text = resp.text
        if not text or not text.strip():
            raise self._err(
                VendorDataError, f"{what}: GET {where}: empty response body", resp.status_code
            )
        body: Any = None
        bad = ""
        try:
            body = json.loads(text)
        except ValueError as exc:
            bad = (
                f"{exc.msg} at position {exc.pos}" if isinstance(exc, json.JSONDecodeError) else "?"
            )
        if bad:
            start = shorten(text, 80, self.secrets)
            raise self._err(
                VendorDataError,
                f"{what}: GET {where}: response is not valid JSON ({bad}); it starts {start!r}",
                resp.status_code,
            )
        if not isinstance(body, dict):
            raise self._err(
                VendorDataError,
                f"{what}: GET {where}: expected a JSON object, got {type(body).__name__}",
                resp.status_code,
            )
        return body


# ---------------------------------------------------------------------------------------------
# helpers shared by the vendor modules
# ---------------------------------------------------------------------------------------------


#: warehouse (vendor-neutral) ticker form: BRK.B, SPY, BF.B; no slashes, no '..'
TICKER_RE = re.compile(r"[A-Z][A-Z0-9]{0,9}(?:\.[A-Z0-9]{1,4})?")


def check_tickers(vendor: str, tickers: Sequence[str] | str) -> list[str]:
    """Validate and normalise (strip, upper-case) warehouse tickers; raise on anything else.

    A ticker goes into URL paths and file names, so only the strict form is accepted.
    """
    if isinstance(tickers, str):
        raise VendorError(
            f"{vendor}: tickers must be a list of symbols, got the string {tickers!r}",
            vendor=vendor,
        )
    out: list[str] = []
    bad: list[str] = []
    for t in tickers:
        s = t.strip().upper() if isinstance(t, str) else ""
        if TICKER_RE.fullmatch(s):
            if s not in out:
                out.append(s)
        else:
            bad.append(repr(t))
    if bad:
        raise VendorError(
            f"{vendor}: invalid ticker(s) {', '.join(bad[:10])}; expected e.g. 'SPY' or 'BRK.B' "
            "(letters/digits, at most one '.' class suffix)",
            vendor=vendor,
        )
    if not out:
        raise VendorError(f"{vendor}: no tickers requested", vendor=vendor)
    return out


def missing_data_error(
    vendor: str,
    what: str,
    failed: Mapping[str, str] | Sequence[str],
    partial: pd.DataFrame | None = None,
) -> MissingDataError:
    """The error for "these tickers returned nothing": names every failed ticker (and the reason
    per ticker when known). The rows that did arrive are attached as ``err.partial`` and the
    names as ``err.failed_tickers``, so a caller may decide to keep them, explicitly."""
    if isinstance(failed, Mapping):
        items = [f"{k} ({v})" if v else k for k, v in failed.items()]
        names = list(failed)
    else:
        items = list(failed)
        names = list(failed)
    shown = ", ".join(items[:20]) + (f" and {len(items) - 20} more" if len(items) > 20 else "")
    return MissingDataError(
        redact(f"{vendor}: no {what} for {len(names)} ticker(s): {shown}"),
        vendor=vendor,
        failed_tickers=names,
        partial=partial,
    )


# -- calendar ----------------------------------------------------------------------------------
# Session dates and hours come from the project calendar (primeflow_lib.calendar, XNYS via
# exchange_calendars), imported on first use because exchange_calendars takes ~2 s to import.


def sessions_between(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE sessions ``start``..``end`` inclusive, as ``datetime.date``."""
    from primeflow_lib import calendar

    return list(calendar.sessions(start, end))


def sessions_before(day: dt.date, n: int) -> list[dt.date]:
    """The ``n`` NYSE sessions strictly before ``day``, oldest first."""
    from primeflow_lib import calendar

    if n < 1:
        raise VendorError(f"lookback must be >= 1 session, got {n}")
    out = list(calendar.sessions_before(day, n))
    if len(out) < n:
        raise VendorError(f"the calendar has only {len(out)} sessions before {day} (asked {n})")
    return out


def latest_session_on_or_before(day: dt.date) -> dt.date:
    """The last NYSE session on or before ``day``."""
    got = sessions_between(day - dt.timedelta(days=14), day)
    if not got:
        raise VendorError(f"no NYSE session in the two weeks before {day}")
    return got[-1]


def session_bounds(days: Iterable[dt.date]) -> dict[dt.date, tuple[pd.Timestamp, pd.Timestamp]]:
    """Regular-session open and close (naive ET) per session date; early closes included.
    Dates that are not sessions are absent from the result."""
    from primeflow_lib import calendar

    days = sorted(set(days))
    if not days:
        return {}
    in_cal = set(sessions_between(days[0], days[-1]))
    out: dict[dt.date, tuple[pd.Timestamp, pd.Timestamp]] = {}
    for d in days:
        if d in in_cal:
            op, cl = calendar.session_open_close(d)
            out[d] = (pd.Timestamp(op), pd.Timestamp(cl))
    return out


def regular_session_mask(ts: pd.Series) -> pd.Series:
    """True where a naive-ET bar start lies in its day's regular session [open, close)."""
    if ts.empty:
        return pd.Series([], dtype=bool, index=ts.index)
    days = ts.dt.normalize()
    bounds = session_bounds(d.date() for d in days.unique())
    nat = (pd.NaT, pd.NaT)
    op = pd.to_datetime(days.map(lambda d: bounds.get(d.date(), nat)[0]))
    cl = pd.to_datetime(days.map(lambda d: bounds.get(d.date(), nat)[1]))
    return ((ts >= op) & (ts < cl)).fillna(False).astype(bool)


def now_et() -> dt.datetime:
    """Current wall time in America/New_York (tz-aware)."""
    return dt.datetime.now(ET)


# -- time conversion ---------------------------------------------------------------------------


def epoch_to_et_naive(values: Any, unit: str) -> pd.Series:
    """Unix epoch numbers (``unit`` 'ms' or 'ns') -> naive America/New_York timestamps with
    microsecond precision (the warehouse TIMESTAMP resolution; sub-microsecond digits are
    truncated, the raw value is kept elsewhere when it matters)."""
    s = pd.Series(values, dtype="int64")
    t = pd.to_datetime(s, unit=unit, utc=True).dt.tz_convert(ET).dt.tz_localize(None)
    return t.dt.floor("us").astype("datetime64[us]")


def index_to_et_naive(idx: pd.Index) -> pd.DatetimeIndex:
    """A tz-aware index converted to naive ET; a naive index is taken as ET already."""
    di = pd.DatetimeIndex(idx)
    if di.tz is not None:
        di = di.tz_convert(ET).tz_localize(None)
    return di


# -- frames ------------------------------------------------------------------------------------


def _as_date(v: Any) -> dt.date | None:
    if v is None or v is pd.NaT or (isinstance(v, float | np.floating | np.datetime64) and pd.isna(v)):
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    return pd.Timestamp(v).date()


def make_frame(table: Table, data: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """A frame with exactly ``table``'s columns, in order, with dtypes matching the declared
    types: DATE -> ``datetime.date`` objects, TIMESTAMP -> ``datetime64[us]`` (naive),
    DOUBLE -> float64 (NaN = NULL), BIGINT/INTEGER -> int64 (``Int64`` when nullable),
    VARCHAR -> str, BOOLEAN -> bool. Extra columns are dropped; a missing non-nullable column
    is a bug and raises KeyError."""
    if isinstance(data, pd.DataFrame):
        df = data.reset_index(drop=True)
        n = len(df)

        def column(name: str) -> pd.Series | None:
            return df[name] if name in df.columns else None
    else:
        # rows: one column at a time straight from the mappings (a frame built from a list of
        # dicts first costs three times as much, which a stream of prints pays per print)
        rows = data if isinstance(data, list) else list(data)
        n = len(rows)

        def column(name: str) -> pd.Series | None:
            if not any(name in r for r in rows):
                return None
            return pd.Series([r.get(name) for r in rows], dtype=object)
    out: dict[str, pd.Series] = {}
    for col in table.columns:
        s = column(col.name)
        if s is None:
            if not (col.nullable or n == 0):
                raise KeyError(f"{table.fqn}: column {col.name!r} missing from vendor frame")
            s = pd.Series([None] * n, dtype=object)
        if col.type == "DATE":
            s = pd.Series([_as_date(v) for v in s], dtype=object)
        elif col.type == "TIMESTAMP":
            s = pd.to_datetime(s).astype("datetime64[us]")
        elif col.type == "DOUBLE":
            s = pd.to_numeric(s, errors="raise").astype("float64")
        elif col.type in ("BIGINT", "INTEGER"):
            s = pd.to_numeric(s, errors="raise")
            s = s.astype("Int64") if col.nullable else s.astype("int64")
        elif col.type == "BOOLEAN":
            s = s.astype(bool)
        elif col.type == "VARCHAR":
            # pandas 3 "str" dtype; None stays missing (NULL) instead of becoming "None"
            s = s.astype(object).where(s.notna(), None).astype("str")
        out[col.name] = s.reset_index(drop=True)
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def as_float(value: Any) -> float:
    """A JSON number or numeric string as float; None/'' -> NaN."""
    if value is None or value == "":
        return float("nan")
    return float(value)


def nan_to_none(value: Any) -> Any:
    """NaN -> None, for nullable integer columns built from floats."""
    if value is None:
        return None
    if isinstance(value, float | np.floating) and math.isnan(value):
        return None
    return value


__all__ = [
    "ET",
    "HttpClient",
    "HttpSettings",
    "RateLimiter",
    "check_tickers",
    "epoch_to_et_naive",
    "index_to_et_naive",
    "latest_session_on_or_before",
    "make_frame",
    "missing_data_error",
    "regular_session_mask",
    "reveal",
    "session_bounds",
    "sessions_before",
    "sessions_between",
]
