"""Databento historical API as a vendor of option prints, chain snapshots and equity bars.

Requests go through the official ``databento`` client (``Historical.timeseries.get_range``:
``POST {base}/v0/timeseries.get_range``, HTTP basic auth with the key, a zstd DBN body), with
our own retries around it. Decoding and the record -> row rules are in
:mod:`primeflow_lib.vendors.databento.dbn`.

==========  =================================================================================
kind        requests (``symbols`` = ``<UNDERLYING>.OPT``, ``stype_in`` = ``parent``)
==========  =================================================================================
prints      ``definition`` of the session (instrument -> OCC symbol), then the prints: ``tcbbo``
            (trades with the consolidated BBO at each trade); when the plan lacks it (HTTP 403 /
            422), ``tbbo`` (the trading venue's own BBO: side confidence one level lower) and,
            failing that, ``trades`` (no quote: tick rule). Each fallback is logged and recorded
            in :attr:`DatabentoVendor.notices`.
chain       ``definition`` + ``statistics`` (open interest, ``stat_type`` 9) of the session;
            no quotes, IV or greeks (null)
bars        ``ohlcv-1d`` / ``ohlcv-1m`` of ``vendors.databento.equities_dataset`` (``EQUS.MINI``),
            symbols as ``raw_symbol``; minute bars kept inside the regular session
==========  =================================================================================

Key: ``DATABENTO_API_KEY`` (never logged: every message goes through
:func:`primeflow_lib.redact.redact` with the key registered). Base URL:
``PRIMEFLOW_DATABENTO_BASE_URL`` (default ``https://hist.databento.com``; an ``http://`` URL,
such as a local test server, is used as given although the client itself only builds https
URLs). Errors: HTTP 401 -> :class:`VendorAuthError`; 403 -> :class:`VendorPlanError` (except
where a fallback schema exists); 429 and 5xx are retried (``Retry-After`` honoured, capped;
else jittered backoff) up to ``runtime.http_max_retries``, then :class:`VendorRateLimitError` /
:class:`VendorError`; other 4xx -> :class:`VendorError` with Databento's ``detail``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from primeflow_lib.backoff import cap_wait, parse_retry_after
from primeflow_lib.config import load_api_keys
from primeflow_lib.redact import install_log_redaction, redact, register_secret, reveal
from primeflow_lib.vendors.base import (
    BarSource,
    ChainSource,
    DataKind,
    PrintSource,
    VendorAuthError,
    VendorError,
    VendorPlanError,
    VendorRateLimitError,
)
from primeflow_lib.vendors.databento import dbn
from primeflow_lib.vendors.http import HttpSettings, RateLimiter, regular_session_mask

log = logging.getLogger(__name__)
install_log_redaction(("databento",))

KEY_ENV = "DATABENTO_API_KEY"
BASE_URL_ENV = "PRIMEFLOW_DATABENTO_BASE_URL"
DEFAULT_BASE_URL = "https://hist.databento.com"
#: HTTP statuses meaning "this plan / dataset does not offer that schema": try the next one
_FALLBACK_STATUSES = frozenset({403, 422})


def _day_utc(day: dt.date) -> tuple[str, str]:
    """[00:00, next 00:00) New York of ``day`` as UTC ISO strings."""
    lo = pd.Timestamp(day).tz_localize("America/New_York").tz_convert("UTC")
    hi = pd.Timestamp(day + dt.timedelta(days=1)).tz_localize("America/New_York").tz_convert("UTC")
    return lo.isoformat(), hi.isoformat()


class DatabentoVendor(PrintSource, ChainSource, BarSource):
    """Databento historical implementation of prints, chain and bars (see the module doc).

    Args:
        api_key: the key (plain or ``config.Secret``); empty makes every call raise
            :class:`VendorAuthError` naming ``DATABENTO_API_KEY``.
        base_url: default ``PRIMEFLOW_DATABENTO_BASE_URL`` or ``https://hist.databento.com``.
        settings: retries, backoff, rate limit (``runtime`` config).
        options_dataset: ``OPRA.PILLAR``.
        equities_dataset: dataset of the equity bars (``EQUS.MINI``, ``XNAS.ITCH``...).
        print_schemas: schemas tried in order for prints (``tcbbo``, ``tbbo``, ``trades``).
        sleep: injectable for tests.
    """

    name = "databento"
    kinds: frozenset[DataKind] = frozenset({"prints", "chain", "bars"})

    def __init__(
        self,
        api_key: object | None = None,
        *,
        base_url: str | None = None,
        settings: HttpSettings | None = None,
        options_dataset: str = dbn.OPRA,
        equities_dataset: str = "EQUS.MINI",
        print_schemas: Sequence[str] = dbn.PRINT_SCHEMAS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._key = reveal(api_key).strip()
        if self._key:
            register_secret(self._key)
        self.base_url = (base_url or os.environ.get(BASE_URL_ENV, "").strip() or DEFAULT_BASE_URL).rstrip("/")
        self.settings = settings or HttpSettings()
        self.limiter = RateLimiter(self.settings.calls_per_minute)
        self.options_dataset = options_dataset
        self.equities_dataset = equities_dataset
        bad = [s for s in print_schemas if s not in dbn.PRINT_SCHEMAS]
        if bad or not print_schemas:
            raise VendorError(f"databento: print_schemas {list(print_schemas)} must be taken from "
                              f"{', '.join(dbn.PRINT_SCHEMAS)}", vendor=self.name)
        self.print_schemas = tuple(print_schemas)
        self._sleep = sleep
        #: things the user should know that are not errors (a schema the plan lacks)
        self.notices: list[str] = []
        #: the schema each prints request was finally served from
        self.print_schema_used: dict[str, str] = {}

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> DatabentoVendor:
        """Key from ``cfg["api_keys"]["databento"]`` (else the environment), HTTP settings from
        ``runtime``, datasets and schemas from ``vendors.databento``."""
        keys = cfg.get("api_keys") or {}
        key = keys.get("databento") or load_api_keys().get("databento")
        v = (cfg.get("vendors") or {}).get("databento") or {}
        return cls(key, settings=HttpSettings.from_config(cfg),
                   options_dataset=v.get("options_dataset", dbn.OPRA),
                   equities_dataset=v.get("equities_dataset", "EQUS.MINI"),
                   print_schemas=tuple(v.get("print_schemas", dbn.PRINT_SCHEMAS)))

    def check_ready(self, kind: DataKind) -> None:
        super().check_ready(kind)
        self._require_key()

    def _require_key(self) -> None:
        if not self._key:
            raise VendorAuthError(f"databento: no API key: set {KEY_ENV}", vendor=self.name)

    # -- HTTP ----------------------------------------------------------------------------------
    def _err(self, cls: type[VendorError], text: str, status: int | None = None) -> VendorError:
        return cls(redact(f"databento: {text}", (self._key,)), vendor=self.name, status=status)

    def get_range(self, dataset: str, schema: str, symbols: Sequence[str], stype_in: str,
                  start: str, end: str, *, what: str) -> bytes:
        """One ``timeseries.get_range`` call with retries; returns the raw (zstd) DBN body."""
        import databento as db
        import requests
        from databento.common.error import BentoClientError, BentoError, BentoServerError
        from databento_dbn import DBNError

        self._require_key()
        s = self.settings
        attempts = s.max_retries + 1
        client = db.Historical(key=self._key, gateway=self.base_url)
        if self.base_url.startswith("http://"):
            # the official client always speaks https; a plain-http base URL (a local server)
            # is honoured by pointing its timeseries endpoint at it
            client.timeseries._base_url = client.timeseries._base_url.replace("https://", "http://", 1)
        for attempt in range(1, attempts + 1):
            self.limiter.acquire()
            with tempfile.TemporaryDirectory(prefix="primeflow-dbn-") as tmp:
                path = Path(tmp) / "body.dbn.zst"
                failure, status, wait = "", None, None
                try:
                    client.timeseries.get_range(dataset=dataset, schema=schema, symbols=list(symbols),
                                                stype_in=stype_in, start=start, end=end, path=path)
                    return path.read_bytes()
                except (BentoClientError, BentoServerError) as exc:
                    status = int(exc.http_status or 0)
                    detail = redact(str(exc.message or exc.http_body or ""), (self._key,))[:300]
                    if status == 401:
                        raise self._err(VendorAuthError, f"{what}: HTTP 401: the API key was rejected "
                                        f"({detail}); check {KEY_ENV}", status) from None
                    if status == 403:
                        raise self._err(VendorPlanError, f"{what}: HTTP 403: your plan does not include "
                                        f"{dataset} {schema} ({detail})", status) from None
                    if status != 429 and status < 500:
                        raise self._err(VendorError, f"{what}: HTTP {status}: {detail}", status) from None
                    ra = parse_retry_after((exc.headers or {}).get("Retry-After"))
                    wait = cap_wait(ra, s.retry_after_cap) if ra is not None else None
                    failure = f"HTTP {status}: {detail}"
                except requests.RequestException as exc:
                    failure = f"{type(exc).__name__}: {redact(str(exc), (self._key,))}"
                except (BentoError, DBNError) as exc:
                    # the body arrived but is not a usable DBN stream: say why, from our decoder
                    body = path.read_bytes() if path.exists() else b""
                    if body:
                        dbn.decode(body, f"{what} ({dataset} {schema})", schema=schema, dataset=dataset)
                    raise self._err(VendorError, f"{what}: {redact(str(exc), (self._key,))}") from None
            if attempt < attempts:
                wait = wait if wait is not None else s.backoff(attempt)
                log.warning("databento: %s: %s (attempt %d/%d); retrying in %.2fs", what, failure,
                            attempt, attempts, wait)
                self._sleep(wait)
                continue
            cls = VendorRateLimitError if status == 429 else VendorError
            raise self._err(cls, f"{what}: failed after {attempts} attempts: {failure}", status)
        raise AssertionError("unreachable")

    def _opra(self, schema: str, underlyings: Sequence[str], day: dt.date, what: str) -> dbn.DbnData:
        start, end = _day_utc(day)
        body = self.get_range(self.options_dataset, schema, [f"{u}.OPT" for u in underlyings], "parent",
                              start, end, what=what)
        return dbn.decode(body, f"{what} ({self.options_dataset} {schema})", schema=schema,
                          dataset=self.options_dataset)

    # -- kinds ---------------------------------------------------------------------------------
    def option_prints(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        """Every print of the session on the underlyings' contracts (see the module doc)."""
        und = sorted({u.upper() for u in underlyings})
        defs = dbn.contracts(self._opra("definition", und, trade_date, f"option definitions {trade_date}"))
        last: VendorError | None = None
        for schema in self.print_schemas:
            try:
                data = self._opra(schema, und, trade_date, f"option prints {trade_date}")
            except (VendorPlanError, VendorError) as exc:
                if exc.status in _FALLBACK_STATUSES and schema != self.print_schemas[-1]:
                    nxt = self.print_schemas[self.print_schemas.index(schema) + 1]
                    note = (f"databento: {schema} is not available on this key ({exc}); using {nxt}"
                            + (": bid/ask are the venue's own quote, side confidence lowered"
                               if nxt == "tbbo" else ": no quote, side by tick rule" if nxt == "trades" else ""))
                    log.warning("%s", note)
                    self.notices.append(note)
                    last = exc
                    continue
                raise
            self.print_schema_used[str(trade_date)] = schema
            return dbn.prints(data, defs)
        raise last or VendorError("databento: no print schema configured", vendor=self.name)

    def option_chain(self, underlyings: Sequence[str], trade_date: dt.date) -> pd.DataFrame:
        """Contracts with open interest of the session (no quotes, IV or greeks)."""
        und = sorted({u.upper() for u in underlyings})
        defs = dbn.contracts(self._opra("definition", und, trade_date, f"option definitions {trade_date}"))
        oi = dbn.open_interest(self._opra("statistics", und, trade_date, f"open interest {trade_date}"))
        return dbn.chain(defs, oi)

    def _bars(self, schema: str, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        lo, _ = _day_utc(start)
        _, hi = _day_utc(end)
        body = self.get_range(self.equities_dataset, schema, list(tickers), "raw_symbol", lo, hi,
                              what=f"{schema} bars of {', '.join(tickers)}")
        data = dbn.decode(body, f"{self.equities_dataset} {schema}", schema=schema, dataset=self.equities_dataset)
        return dbn.bars(data, dbn.symbol_map(body))

    def daily_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        return self._bars("ohlcv-1d", tickers, start, end)

    def intraday_bars(self, tickers: Sequence[str], start: dt.date, end: dt.date) -> pd.DataFrame:
        df = self._bars("ohlcv-1m", tickers, start, end)
        return df[regular_session_mask(pd.to_datetime(df["ts"]))].reset_index(drop=True)
