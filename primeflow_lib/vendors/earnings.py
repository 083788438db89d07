"""Earnings dates from the vendors that have them: Alpha Vantage, yfinance, and the synthetic
market (whose single stocks gap on their quarterly report days).

Every source returns ``market.earnings`` rows (``ticker, report_date, time_of_day,
fiscal_date_ending, eps_estimate, fetched_at, vendor``); :func:`fetch_earnings` asks the
configured sources in order and says which tickers each one had no date for. Nothing is
invented: a ticker no source knows stays unknown (``days_to_earnings`` NULL downstream).

* **Alpha Vantage** ``function=EARNINGS_CALENDAR&horizon=3month|6month|12month`` (key
  ``ALPHAVANTAGE_API_KEY``): one CSV download for the whole market (one call of the free
  tier's 25 a day), columns ``symbol,name,reportDate,fiscalDateEnding,estimate,currency`` and,
  on newer responses, ``timeOfTheDay`` (``pre-market`` / ``post-market`` / empty). Only
  *upcoming* reports are listed. CRLF line ends and quoted names are handled by the csv module;
  an empty estimate or ``None`` is NULL. A JSON body instead of CSV (quota, premium, bad key)
  raises the typed error of :class:`~primeflow_lib.vendors.alpha_vantage.AlphaVantageVendor`.
  A row with an unparseable date raises :class:`VendorDataError` naming the row, field and
  value.
* **yfinance** ``Ticker(t).get_earnings_dates(limit=N)``: past and upcoming dates per ticker
  (an index ``Earnings Date`` of tz-aware New York times, columns ``EPS Estimate``,
  ``Reported EPS``, ``Surprise(%)``); None (Yahoo has no table) means no date. The time of
  day: before 09:30 pre-market, from 16:00 post-market, else unknown (Yahoo's midnight
  placeholder included).
* **synthetic**: the report days of the synthetic market (every 63rd session per single
  stock, at the ticker's phase; ETFs have none), ``pre-market`` (the gap is at the open).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.schema.desk import EARNINGS
from primeflow_lib.vendors.base import VendorDataError, VendorError

SOURCES = ("synthetic", "alpha_vantage", "yfinance")
HORIZONS = ("3month", "6month", "12month")
TIMES_OF_DAY = ("pre-market", "post-market", "unknown")
AV_COLUMNS = ("symbol", "name", "reportDate", "fiscalDateEnding", "estimate", "currency")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=EARNINGS.column_names)
    return df.drop_duplicates(subset=list(EARNINGS.key), keep="first").reset_index(drop=True)


# ------------------------------------------------------------------------------- Alpha Vantage


def parse_av_calendar(text: str, *, fetched_at: dt.datetime | None = None) -> pd.DataFrame:
    """``market.earnings`` rows of an ``EARNINGS_CALENDAR`` CSV (every symbol in it).

    Raises:
        VendorDataError: the header lacks ``symbol`` or ``reportDate``, or a row has a bad date
            or estimate (the message names the row, the field and the value).
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in ("symbol", "reportDate") if c not in header]
    if missing:
        raise VendorDataError(f"alpha_vantage: EARNINGS_CALENDAR: the CSV header lacks {missing} "
                              f"(got {header}; expected {', '.join(AV_COLUMNS)}[,timeOfTheDay])",
                              vendor="alpha_vantage")
    when = fetched_at or _now()
    rows = []
    for i, r in enumerate(reader, start=2):  # line 1 is the header
        r = {(k or "").strip(): (v or "").strip() for k, v in r.items()}
        sym = r.get("symbol", "").upper()
        if not sym:
            raise VendorDataError(f"alpha_vantage: EARNINGS_CALENDAR line {i}: empty symbol", vendor="alpha_vantage")

        def day(fld: str, required: bool, r=r, i=i) -> dt.date | None:
            v = r.get(fld, "")
            if not v and not required:
                return None
            try:
                return dt.date.fromisoformat(v)
            except ValueError:
                raise VendorDataError(f"alpha_vantage: EARNINGS_CALENDAR line {i} ({r.get('symbol')}): "
                                      f"{fld} {v!r} is not a YYYY-MM-DD date", vendor="alpha_vantage") from None

        est_s = r.get("estimate", "")
        est = None
        if est_s and est_s.lower() != "none":
            try:
                est = float(est_s)
            except ValueError:
                raise VendorDataError(f"alpha_vantage: EARNINGS_CALENDAR line {i} ({sym}): estimate "
                                      f"{est_s!r} is not a number", vendor="alpha_vantage") from None
        tod = r.get("timeOfTheDay", "").lower()
        rows.append({"ticker": sym, "report_date": day("reportDate", True),
                     "time_of_day": tod if tod in TIMES_OF_DAY else "unknown",
                     "fiscal_date_ending": day("fiscalDateEnding", False), "eps_estimate": est,
                     "fetched_at": when, "vendor": "alpha_vantage"})
    return _frame(rows)


def alpha_vantage_earnings(vendor: Any, tickers: Sequence[str], *, horizon: str = "3month",
                           fetched_at: dt.datetime | None = None) -> pd.DataFrame:
    """Upcoming reports of ``tickers`` from one ``EARNINGS_CALENDAR`` download through
    ``vendor`` (an :class:`~primeflow_lib.vendors.alpha_vantage.AlphaVantageVendor`)."""
    if horizon not in HORIZONS:
        raise VendorError(f"earnings.horizon must be one of {', '.join(HORIZONS)}, got {horizon!r}",
                          vendor="alpha_vantage")
    text = vendor.get_csv("EARNINGS_CALENDAR", f"EARNINGS_CALENDAR horizon={horizon}", horizon=horizon)
    df = parse_av_calendar(text, fetched_at=fetched_at)
    want = {t.upper() for t in tickers}
    return df[df["ticker"].isin(want)].reset_index(drop=True)


# ------------------------------------------------------------------------------- yfinance


def _time_of_day(ts: pd.Timestamp) -> str:
    minutes = ts.hour * 60 + ts.minute
    if minutes == 0:
        return "unknown"  # Yahoo's placeholder when the hour is not announced
    if minutes < 9 * 60 + 30:
        return "pre-market"
    if minutes >= 16 * 60:
        return "post-market"
    return "unknown"


def yfinance_earnings(vendor: Any, tickers: Sequence[str], *, limit: int = 12,
                      fetched_at: dt.datetime | None = None) -> tuple[pd.DataFrame, list[str]]:
    """``(rows, tickers without a date)`` from ``Ticker(t).get_earnings_dates(limit)`` per ticker
    through ``vendor`` (a :class:`~primeflow_lib.vendors.yfinance_vendor.YFinanceVendor`, whose
    ``yf`` is called and whose errors are typed and redacted)."""
    from primeflow_lib.vendors.yfinance_vendor import from_yahoo, to_yahoo

    if not 1 <= int(limit) <= 100:
        raise VendorError(f"earnings.yfinance_limit must be 1..100, got {limit}", vendor="yfinance")
    when = fetched_at or _now()
    rows: list[dict[str, Any]] = []
    without: list[str] = []
    for t in tickers:
        sym = to_yahoo(t)
        df = vendor.call(lambda sym=sym: vendor.yf.Ticker(sym).get_earnings_dates(limit=int(limit)),
                         f"earnings dates of {t}")
        if df is None or len(df) == 0:
            without.append(t)
            continue
        idx = pd.DatetimeIndex(df.index)
        if idx.tz is None:
            raise VendorDataError(f"yfinance: earnings dates of {t}: the index is not tz-aware "
                                  f"(got {idx[:1].tolist()})", vendor="yfinance")
        idx = idx.tz_convert("America/New_York")
        est = df["EPS Estimate"] if "EPS Estimate" in df.columns else pd.Series(np.nan, index=df.index)
        for ts, e in zip(idx, est, strict=True):
            e = None if e is None or (isinstance(e, float) and math.isnan(e)) else float(e)
            rows.append({"ticker": from_yahoo(sym), "report_date": ts.date(), "time_of_day": _time_of_day(ts),
                         "fiscal_date_ending": None, "eps_estimate": e, "fetched_at": when,
                         "vendor": "yfinance"})
    return _frame(rows), without


# ------------------------------------------------------------------------------- synthetic


def synthetic_earnings(tickers: Sequence[str], start: dt.date, end: dt.date, *, seed: int,
                       pool_size: int, fetched_at: dt.datetime | None = None) -> pd.DataFrame:
    """The synthetic market's report days of ``tickers`` between ``start`` and ``end``
    (inclusive); tickers outside the pool and ETFs get none."""
    from primeflow_lib.vendors.synthetic.market import EARNINGS_CYCLE, build_pool, sessions_until

    pool = build_pool(int(seed), int(pool_size))
    sess = sessions_until(max(end.year, start.year) + 1)
    lo = int(np.searchsorted(sess.dates, np.datetime64(start, "D")))
    hi = int(np.searchsorted(sess.dates, np.datetime64(end, "D"), side="right"))
    t = np.arange(lo, hi)
    when = fetched_at or _now()
    rows = []
    for tk in tickers:
        i = pool.index.get(str(tk).upper())
        if i is None or bool(pool.is_etf[i]):
            continue
        for k in t[(t + int(pool.earn_phase[i])) % EARNINGS_CYCLE == 0]:
            rows.append({"ticker": str(tk).upper(), "report_date": sess.date(int(k)), "time_of_day": "pre-market",
                         "fiscal_date_ending": None, "eps_estimate": None, "fetched_at": when,
                         "vendor": "synthetic"})
    return _frame(rows)


# ------------------------------------------------------------------------------- all sources


@dataclass
class EarningsFetch:
    """What :func:`fetch_earnings` got: the rows, and per source the tickers it had no date
    for (in the asked window for synthetic; at all for the others)."""

    rows: pd.DataFrame
    sources: list[str]
    without: dict[str, list[str]] = field(default_factory=dict)

    @property
    def unknown(self) -> list[str]:
        """Tickers no source had a date for."""
        have = set(self.rows["ticker"]) if len(self.rows) else set()
        asked = {t for ts in self.without.values() for t in ts}
        return sorted(asked - have)


def earnings_sources(cfg: Mapping[str, Any]) -> list[str]:
    """``earnings.sources``, or by default synthetic when ``vendors.default`` (or
    ``PRIMEFLOW_VENDOR``) is synthetic, else Alpha Vantage then yfinance."""
    import os

    e = cfg.get("earnings") or {}
    sources = list(e.get("sources") or [])
    if not sources:
        default = (os.environ.get("PRIMEFLOW_VENDOR") or "").strip() or (cfg.get("vendors") or {}).get("default")
        sources = ["synthetic"] if (default or "synthetic") == "synthetic" else ["alpha_vantage", "yfinance"]
    bad = [s for s in sources if s not in SOURCES]
    if bad:
        raise VendorError(f"earnings.sources: unknown source(s) {bad} (one of {', '.join(SOURCES)})")
    return sources


def fetch_earnings(
    tickers: Sequence[str],
    start: dt.date,
    end: dt.date,
    cfg: Mapping[str, Any],
    *,
    vendors: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> EarningsFetch:
    """Earnings dates of ``tickers`` from every configured source (:func:`earnings_sources`).

    Args:
        start / end: the sessions the dates are for (the synthetic source lists reports from
            ``start`` to 120 days after ``end``; the others return what they have).
        vendors: source name -> vendor object to use (tests); default built from ``cfg``.
        log: called with one line per source.
    Raises:
        VendorError (typed): a source that fails (missing key, quota, bad data): nothing is
            silently skipped.
    """
    from primeflow_lib.vendors import get_vendor

    e = cfg.get("earnings") or {}
    names = earnings_sources(cfg)
    tickers = sorted({str(t).upper() for t in tickers})
    parts, without = [], {}
    now = _now()
    for name in names:
        if name == "synthetic":
            syn = cfg.get("synthetic") or {}
            df = synthetic_earnings(tickers, start - dt.timedelta(days=120), end + dt.timedelta(days=120),
                                    seed=int(syn.get("seed", 7)), pool_size=int(syn.get("pool_size", 600)),
                                    fetched_at=now)
        elif name == "alpha_vantage":
            v = (vendors or {}).get(name) or get_vendor("alpha_vantage", cfg)
            df = alpha_vantage_earnings(v, tickers, horizon=str(e.get("horizon", "3month")), fetched_at=now)
        else:
            v = (vendors or {}).get(name) or get_vendor("yfinance", cfg)
            df, _ = yfinance_earnings(v, tickers, limit=int(e.get("yfinance_limit", 12)), fetched_at=now)
        without[name] = sorted(set(tickers) - set(df["ticker"]))
        parts.append(df)
        if log:
            log(f"earnings from {name}: {len(df)} dates for {df['ticker'].nunique()} of {len(tickers)} tickers")
    rows = pd.concat(parts, ignore_index=True) if parts else _frame([])
    return EarningsFetch(rows=_frame(rows.to_dict(orient="records")), sources=names, without=without)
