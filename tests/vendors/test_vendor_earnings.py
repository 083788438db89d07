"""Earnings dates: Alpha Vantage's EARNINGS_CALENDAR (CSV) against a local HTTP server with the
documented shape and failures, yfinance through its own scraping code on a stored page, the
synthetic market's report days, and a ticker no source knows staying unknown."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from vendor_testkit import TEST_KEY, fixture_path, json_response, load_json
from werkzeug import Response

from primeflow_lib.schema.desk import EARNINGS
from primeflow_lib.vendors.alpha_vantage import AlphaVantageVendor
from primeflow_lib.vendors.base import VendorDataError, VendorPlanError, VendorRateLimitError
from primeflow_lib.vendors.earnings import (
    alpha_vantage_earnings,
    fetch_earnings,
    synthetic_earnings,
    yfinance_earnings,
)
from primeflow_lib.vendors.yfinance_vendor import YFinanceVendor


def csv_response(text: str) -> Response:
    return Response(text, status=200, content_type="application/x-download")


@pytest.fixture
def av(fake_server, vendor_cfg) -> AlphaVantageVendor:
    return AlphaVantageVendor.from_config(vendor_cfg)


def test_alpha_vantage_calendar_csv(av, fake_server):
    text = fixture_path("alphavantage", "earnings_calendar_3month.csv").read_bytes().decode()
    fake_server.add("/query", csv_response(text))
    df = alpha_vantage_earnings(av, ["AAPL", "JPM", "NVDA", "XYZQ", "MSFT"], horizon="3month")
    assert list(df.columns) == EARNINGS.column_names and set(df["vendor"]) == {"alpha_vantage"}
    r = df.set_index("ticker")
    assert r.loc["AAPL", "report_date"] == dt.date(2025, 7, 31) and r.loc["AAPL", "time_of_day"] == "post-market"
    assert r.loc["JPM", "eps_estimate"] == 4.48 and r.loc["JPM", "fiscal_date_ending"] == dt.date(2025, 6, 30)
    assert pd.isna(r.loc["NVDA", "eps_estimate"]) and r.loc["NVDA", "time_of_day"] == "unknown"
    assert pd.isna(r.loc["XYZQ", "eps_estimate"])  # "None"
    assert "MSFT" not in r.index and "IBM" not in r.index  # not asked / not listed
    assert fake_server.hits[0].args == {"function": "EARNINGS_CALENDAR", "horizon": "3month", "apikey": TEST_KEY}


@pytest.mark.parametrize(("fixture", "error", "text"), [
    ("info_daily_rate_limit.json", VendorRateLimitError, "quota used up"),
    ("info_premium_endpoint.json", VendorPlanError, "premium feature"),
])
def test_alpha_vantage_json_bodies_instead_of_csv(av, fake_server, fixture, error, text):
    fake_server.add("/query", json_response(load_json("alphavantage", fixture)))
    with pytest.raises(error, match=text) as exc:
        alpha_vantage_earnings(av, ["AAPL"])
    assert TEST_KEY not in str(exc.value)


def test_alpha_vantage_bad_rows_name_the_line_field_and_value(av, fake_server):
    fake_server.add("/query", csv_response("symbol,name,reportDate,fiscalDateEnding,estimate,currency\r\n"
                                           "AAPL,APPLE INC,31/07/2025,2025-06-30,1.43,USD\r\n"))
    with pytest.raises(VendorDataError, match=r"line 2 \(AAPL\): reportDate '31/07/2025' is not a YYYY-MM-DD"):
        alpha_vantage_earnings(av, ["AAPL"])
    fake_server.add("/query", csv_response("ticker,date\r\nAAPL,2025-07-31\r\n"))
    with pytest.raises(VendorDataError, match=r"the CSV header lacks \['symbol', 'reportDate'\]"):
        alpha_vantage_earnings(av, ["AAPL"])


class _ScrapedTicker:
    """yfinance's own ``Ticker`` whose page fetch returns a stored earnings page, so the parsing
    (pd.read_html, the EDT/EST handling, the index) is yfinance 1.7.0's real code."""

    def __init__(self, symbol: str, html: str | None, monkeypatch) -> None:
        import yfinance

        self.t = yfinance.Ticker(symbol)

        class Resp:
            text = html if html is not None else "<html><body>no table</body></html>"

        monkeypatch.setattr(self.t._data, "cache_get", lambda url, *a, **k: Resp())

    def get_earnings_dates(self, limit: int = 12):
        return self.t.get_earnings_dates(limit=limit)


class _FakeYF:
    def __init__(self, pages: dict[str, str | None], monkeypatch) -> None:
        self.pages, self.mp = pages, monkeypatch

    def Ticker(self, symbol: str):  # noqa: N802 - yfinance's name
        return _ScrapedTicker(symbol, self.pages.get(symbol), self.mp)


def test_yfinance_earnings_dates_through_its_scraper(monkeypatch):
    html = fixture_path("yfinance", "earnings_dates_AAPL.html").read_text()
    yf = _FakeYF({"AAPL": html, "ZZZZ": None}, monkeypatch)
    df, without = yfinance_earnings(YFinanceVendor(yf=yf), ["AAPL", "ZZZZ"], limit=12)
    assert without == ["ZZZZ"]
    r = df.set_index("report_date")
    assert set(df["vendor"]) == {"yfinance"} and len(df) == 5
    assert r.loc[dt.date(2025, 10, 30), "time_of_day"] == "post-market"
    assert r.loc[dt.date(2025, 1, 30), "time_of_day"] == "pre-market"
    assert r.loc[dt.date(2024, 10, 31), "time_of_day"] == "unknown"  # Yahoo's 12 AM placeholder
    assert r.loc[dt.date(2025, 10, 30), "eps_estimate"] == 1.77


def test_synthetic_report_days_are_the_gap_days_and_etfs_have_none():
    from primeflow_lib.vendors.synthetic.vendor import SyntheticVendor

    df = synthetic_earnings(["AAPL", "SPY", "NOPE"], dt.date(2025, 1, 1), dt.date(2025, 12, 31), seed=7,
                            pool_size=600)
    assert set(df["ticker"]) == {"AAPL"} and 3 <= len(df) <= 5  # every 63 sessions
    days = sorted(df["report_date"])
    bars = SyntheticVendor(seed=7, pool_size=600).daily_bars(["AAPL"], dt.date(2024, 12, 20), dt.date(2025, 12, 31))
    bars = bars.sort_values("trade_date")
    gap = (bars["open"] / bars["close"].shift() - 1).abs()
    on = gap[bars["trade_date"].isin(days)].mean()
    off = gap[~bars["trade_date"].isin(days)].mean()
    assert on > 2 * off  # the report days carry the earnings gaps


def test_fetch_earnings_reports_the_unknown_tickers(vendor_cfg):
    vendor_cfg["earnings"]["sources"] = ["synthetic"]
    got = fetch_earnings(["AAPL", "SPY"], dt.date(2025, 3, 3), dt.date(2025, 3, 7), vendor_cfg)
    assert got.sources == ["synthetic"] and got.unknown == ["SPY"]
    assert set(got.rows["ticker"]) == {"AAPL"}
    vendor_cfg["earnings"]["sources"] = ["bloomberg"]
    from primeflow_lib.vendors.base import VendorError

    with pytest.raises(VendorError, match=r"earnings.sources: unknown source\(s\) \['bloomberg'\]"):
        fetch_earnings(["AAPL"], dt.date(2025, 3, 3), dt.date(2025, 3, 7), vendor_cfg)
