"""YFinanceVendor at its boundary: frames of yfinance's exact shape (read from the fixture CSVs,
and produced by the real ``yf.download`` with only its per-ticker fetch stubbed)."""

from __future__ import annotations

import datetime as dt
import logging
from collections import namedtuple
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yfinance
from vendor_testkit import fixture_path, read_yf_download_csv

from primeflow_lib.schema.market import OHLCV_DAILY, OHLCV_INTRADAY, OPTION_CHAIN, UNIVERSE
from primeflow_lib.vendors.base import VendorDataError, VendorError, VendorRateLimitError
from primeflow_lib.vendors.yfinance_vendor import YFinanceVendor, from_yahoo, to_yahoo

NY = "America/New_York"
Options = namedtuple("Options", ["calls", "puts", "underlying"])


def daily_frame() -> pd.DataFrame:
    return read_yf_download_csv("yf_download_multi_1d_group_by_column.csv")


def intraday_frame() -> pd.DataFrame:
    df = read_yf_download_csv("yf_download_multi_5m_group_by_column.csv")
    df.index = df.index.tz_convert(NY)  # yfinance's zone object, not the CSV's fixed offset
    return df


def calls_frame() -> pd.DataFrame:
    return pd.read_csv(
        fixture_path("yfinance", "yf_option_chain_calls.csv"),
        index_col=0,
        parse_dates=["lastTradeDate"],
    )


def nan_out(df: pd.DataFrame, ticker: str) -> pd.DataFrame:
    """What yf.download returns for a failed ticker: its columns all NaN."""
    df = df.copy()
    for price in ("Close", "High", "Low", "Open", "Volume"):
        df[(price, ticker)] = np.nan
    return df


class FakeTicker:
    def __init__(self, expiries=(), chains=None, error: Exception | None = None):
        self._expiries = tuple(expiries)
        self._chains = chains or {}
        self._error = error

    @property
    def options(self):
        if self._error:
            raise self._error
        return self._expiries

    def option_chain(self, date=None):
        if date not in self._chains:
            raise ValueError(f"Expiration `{date}` cannot be found.")
        return self._chains[date]


class FakeYF:
    """Stands in for the yfinance module: records calls, returns scripted frames, and logs
    failures the way yf.download does (``logger.error("['X']: Reason(...)")``)."""

    def __init__(self, frames=(), tickers=None, screens=None, log_errors=()):
        self.frames = list(frames)
        self.tickers = tickers or {}
        self.screens = screens or {}
        self.log_errors = list(log_errors)
        self.downloads: list[tuple[list[str], dict[str, Any]]] = []
        self.screen_calls: list[tuple] = []

    def download(self, tickers, **kw):
        self.downloads.append((list(tickers), kw))
        for line in self.log_errors:
            logging.getLogger("yfinance").error(line)
        return self.frames.pop(0) if len(self.frames) > 1 else self.frames[0]

    def Ticker(self, symbol):  # noqa: N802 - yfinance's name
        return self.tickers[symbol]

    def screen(self, query, offset=None, size=None, count=None):
        self.screen_calls.append((query, offset, size))
        return self.screens[offset]


def vendor(fake, today=dt.date(2025, 6, 13)) -> YFinanceVendor:
    return YFinanceVendor(fake, today=lambda: today)


def test_symbol_mapping():
    assert to_yahoo("BRK.B") == "BRK-B" and from_yahoo("BRK-B") == "BRK.B"
    assert to_yahoo("SPY") == "SPY" and from_yahoo("spy") == "SPY"


def test_daily_bars_from_the_multiindex_frame_in_one_call():
    fake = FakeYF([daily_frame()])
    bars = vendor(fake).daily_bars(
        ["SPY", "AAPL", "MSFT"], dt.date(2025, 6, 2), dt.date(2025, 6, 4)
    )
    assert list(bars.columns) == OHLCV_DAILY.column_names
    assert len(fake.downloads) == 1
    syms, kw = fake.downloads[0]
    assert syms == ["SPY", "AAPL", "MSFT"]
    assert kw["auto_adjust"] is True and kw["group_by"] == "column" and kw["interval"] == "1d"
    assert (kw["start"], kw["end"]) == ("2025-06-02", "2025-06-05")  # end is exclusive
    spy = bars[bars["ticker"] == "SPY"]
    assert spy["trade_date"].tolist() == [dt.date(2025, 6, d) for d in (2, 3, 4)]
    assert spy["close"].tolist() == [590.5, 591.5, 592.5]
    assert spy["volume"].tolist() == [1_000_000, 1_100_000, 900_000]
    assert bars["vwap"].isna().all() and set(bars["vendor"]) == {"yfinance"}


def test_failed_ticker_is_named_with_yahoos_reason_and_good_rows_kept():
    fake = FakeYF(
        [nan_out(daily_frame(), "MSFT")],
        log_errors=["['MSFT']: YFPricesMissingError('possibly delisted; no price data found')"],
    )
    with pytest.raises(VendorDataError) as ei:
        vendor(fake).daily_bars(["AAPL", "MSFT", "SPY"], dt.date(2025, 6, 2), dt.date(2025, 6, 4))
    msg = str(ei.value)
    assert "MSFT (YFPricesMissingError('possibly delisted; no price data found'))" in msg
    assert ei.value.failed_tickers == ["MSFT"]
    assert sorted(ei.value.partial["ticker"].unique()) == ["AAPL", "SPY"]


def test_all_tickers_failed_gives_an_error_not_an_empty_frame():
    fake = FakeYF([pd.DataFrame()])
    with pytest.raises(VendorDataError, match=r"2 ticker\(s\): AAPL .*MSFT"):
        vendor(fake).daily_bars(["AAPL", "MSFT"], dt.date(2025, 6, 2), dt.date(2025, 6, 4))


def test_class_shares_go_to_yahoo_with_a_dash_and_come_back_with_a_dot():
    df = daily_frame().rename(columns={"MSFT": "BRK-B"}, level="Ticker")
    fake = FakeYF([df])
    bars = vendor(fake).daily_bars(["BRK.B"], dt.date(2025, 6, 2), dt.date(2025, 6, 4))
    assert fake.downloads[0][0] == ["BRK-B"]
    assert set(bars["ticker"]) == {"BRK.B"} and len(bars) == 3


def test_rate_limit_reported_by_download_is_a_rate_limit_error():
    fake = FakeYF(
        [nan_out(daily_frame(), "AAPL")],
        log_errors=[
            "['AAPL']: YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')"
        ],
    )
    with pytest.raises(VendorRateLimitError, match="AAPL"):
        vendor(fake).daily_bars(["AAPL"], dt.date(2025, 6, 2), dt.date(2025, 6, 4))


def test_intraday_tz_aware_index_becomes_naive_new_york_time():
    fake = FakeYF([intraday_frame()])
    bars = vendor(fake).intraday_bars(
        ["AAPL", "SPY"], dt.date(2025, 6, 2), dt.date(2025, 6, 2), interval="5m"
    )
    assert list(bars.columns) == OHLCV_INTRADAY.column_names
    aapl = bars[bars["ticker"] == "AAPL"]
    assert aapl["ts"].tolist() == [pd.Timestamp(f"2025-06-02 09:{m}") for m in ("30", "35", "40")]
    assert bars["ts"].dt.tz is None and bars["ts"].dtype == "datetime64[us]"
    assert set(bars["trade_date"]) == {dt.date(2025, 6, 2)}


def test_intraday_utc_index_and_out_of_session_bars():
    df = intraday_frame()
    extra = df.iloc[[0]].copy()
    extra.index = pd.DatetimeIndex([pd.Timestamp("2025-06-02 16:00", tz=NY)], name="Datetime")
    df = pd.concat([df, extra])
    df.index = df.index.tz_convert("UTC")  # yfinance < 1.4 returned UTC
    bars = vendor(FakeYF([df])).intraday_bars(
        ["MSFT"], dt.date(2025, 6, 2), dt.date(2025, 6, 2), interval="5m"
    )
    assert [t.strftime("%H:%M") for t in bars["ts"]] == ["09:30", "09:35", "09:40"]


def test_one_minute_history_limit_is_enforced_before_calling():
    fake = FakeYF([intraday_frame()])
    with pytest.raises(VendorError, match="1m bars are only available for the last 30 days"):
        vendor(fake, today=dt.date(2025, 6, 20)).intraday_bars(
            ["AAPL"], dt.date(2025, 5, 1), dt.date(2025, 5, 2)
        )
    with pytest.raises(VendorError, match="5m bars are only available for the last 60 days"):
        vendor(fake, today=dt.date(2025, 6, 20)).intraday_bars(
            ["AAPL"], dt.date(2025, 3, 1), dt.date(2025, 3, 2), interval="5m"
        )
    assert fake.downloads == []


def test_one_minute_ranges_are_split_into_requests_of_at_most_8_days():
    fake = FakeYF([intraday_frame()])
    bars = vendor(fake, today=dt.date(2025, 6, 20)).intraday_bars(
        ["AAPL"], dt.date(2025, 6, 2), dt.date(2025, 6, 18)
    )
    windows = [(kw["start"], kw["end"], kw["interval"]) for _s, kw in fake.downloads]
    assert windows == [
        ("2025-06-02", "2025-06-09", "1m"),
        ("2025-06-09", "2025-06-16", "1m"),
        ("2025-06-16", "2025-06-19", "1m"),
    ]
    assert len(bars) == 3  # the fake repeats one frame; rows outside the window are not added


def _chain_fake() -> FakeYF:
    calls = calls_frame()
    puts = calls.copy()
    puts["contractSymbol"] = puts["contractSymbol"].str.replace("C00", "P00")
    chains = {"2025-12-19": Options(calls, puts, {"regularMarketPrice": 597.44, "symbol": "SPY"})}
    return FakeYF(tickers={"SPY": FakeTicker(["2025-12-19"], chains)})


def test_option_chain_mapped_with_black_scholes_greeks():
    chain = vendor(_chain_fake()).option_chain(["SPY"], dt.date(2025, 6, 13))
    assert list(chain.columns) == OPTION_CHAIN.column_names
    assert len(chain) == 8
    c650 = chain[chain["option_symbol"] == "SPY251219C00650000"].iloc[0]
    assert (c650["expiry"], c650["right"], c650["strike"]) == (dt.date(2025, 12, 19), "C", 650.0)
    assert (c650["bid"], c650["ask"], c650["last"], c650["iv"]) == (18.35, 18.5, 18.42, 0.1689)
    assert c650["open_interest"] == 98412 and c650["underlying_price"] == 597.44
    # Massive's own greeks for this contract: delta 0.312, vega 1.52 (per vol point)
    assert c650["delta"] == pytest.approx(0.32, abs=0.02)
    assert c650["vega"] == pytest.approx(1.52, abs=0.1)
    assert c650["theta"] < 0 and c650["gamma"] > 0
    p650 = chain[chain["option_symbol"] == "SPY251219P00650000"].iloc[0]
    assert p650["delta"] == pytest.approx(c650["delta"] - 1, abs=1e-9)
    no_trades = chain[chain["option_symbol"] == "SPY251219C00750000"].iloc[0]
    assert np.isnan(no_trades["volume"])  # Yahoo's NaN volume stays NULL
    assert set(chain["vendor"]) == {"yfinance"} and set(chain["underlying"]) == {"SPY"}


def test_option_chain_errors():
    fake = _chain_fake()
    fake.tickers["NOPT"] = FakeTicker([])
    fake.tickers["LIMIT"] = FakeTicker(error=yfinance.exceptions.YFRateLimitError())
    v = vendor(fake)
    with pytest.raises(VendorDataError, match=r"NOPT \(no listed options\)"):
        v.option_chain(["NOPT"], dt.date(2025, 6, 13))
    with pytest.raises(VendorRateLimitError, match="Too Many Requests") as ei:
        v.option_chain(["LIMIT"], dt.date(2025, 6, 13))
    assert ei.value.__context__ is None
    with pytest.raises(VendorError, match="latest session"):
        v.option_chain(["SPY"], dt.date(2025, 6, 2))


def test_universe_from_two_screener_pages_ranked_by_volume(caplog):
    df = daily_frame().rename(columns={"MSFT": "BRK-B"}, level="Ticker")
    df[("Volume", "BRK-B")] *= 3
    df[("Volume", "SPY")] *= 2
    page1 = {
        "quotes": [{"symbol": "AAPL"}, {"symbol": "BRK-B"}]
        + [{"symbol": f"Z{i:03d}"} for i in range(248)],
        "count": 250,
        "total": 251,
    }
    page2 = {"quotes": [{"symbol": "SPY", "regularMarketVolume": 1}], "count": 1, "total": 251}
    fake = FakeYF([df], screens={0: page1, 250: page2})
    with caplog.at_level(logging.WARNING):
        uni = vendor(fake).top_volume_tickers(dt.date(2025, 6, 5), size=3, lookback=3)
    assert fake.screen_calls == [("most_actives", 0, 250), ("most_actives", 250, 250)]
    assert list(uni.columns) == UNIVERSE.column_names
    assert uni["ticker"].tolist() == ["BRK.B", "SPY", "AAPL"]
    assert uni.loc[0, "avg_volume"] == pytest.approx(3 * (1_000_000 + 1_100_000 + 900_000) / 3)
    assert uni.loc[2, "last_close"] == 202.5
    # the 248 candidates without data are named in a warning, not silently dropped
    assert any("Z000" in r.getMessage() for r in caplog.records)


# -- the real yf.download, with only its per-ticker fetch stubbed ------------------------------


class StubHistoryTicker:
    """Replaces ``yfinance.multi.Ticker``: ``history()`` returns what the real one returns for a
    good ticker (OHLCV in the exchange zone), raises for a failing one."""

    intraday = False

    def __init__(self, ticker, session=None):
        self.ticker = ticker
        self._price_history = None

    def history(self, **kw):
        if self.ticker == "FAIL":
            raise RuntimeError("FAIL: possibly delisted; no price data found")
        if self.ticker == "LIMITED":
            raise yfinance.exceptions.YFRateLimitError()
        if kw.get("interval", "1d").endswith("m"):
            idx = pd.date_range("2025-06-02 09:30", periods=3, freq="5min", tz=NY, name="Datetime")
        else:
            idx = pd.date_range("2025-06-02", periods=3, freq="D", tz=NY, name="Date")
        base = {"AAPL": 200.0, "BRK-B": 480.0}.get(self.ticker, 100.0)
        return pd.DataFrame(
            {
                "Open": base,
                "High": base + 1,
                "Low": base - 1,
                "Close": base + 0.5,
                "Volume": np.array([1000, 2000, 3000], dtype="int64"),
            },
            index=idx,
        )


@pytest.fixture
def real_download(monkeypatch):
    monkeypatch.setattr(yfinance.multi, "Ticker", StubHistoryTicker)
    return YFinanceVendor(today=lambda: dt.date(2025, 6, 13))


def test_real_download_daily_with_a_failed_ticker(real_download):
    with pytest.raises(VendorDataError) as ei:
        real_download.daily_bars(
            ["AAPL", "BRK.B", "FAIL"], dt.date(2025, 6, 2), dt.date(2025, 6, 4)
        )
    assert ei.value.failed_tickers == ["FAIL"]
    assert "possibly delisted" in str(ei.value)
    part = ei.value.partial
    assert sorted(part["ticker"].unique()) == ["AAPL", "BRK.B"]
    assert part["trade_date"].tolist()[:3] == [dt.date(2025, 6, d) for d in (2, 3, 4)]


def test_real_download_intraday_is_naive_new_york(real_download):
    bars = real_download.intraday_bars(
        ["AAPL"], dt.date(2025, 6, 2), dt.date(2025, 6, 2), interval="5m"
    )
    assert [t.strftime("%Y-%m-%d %H:%M") for t in bars["ts"]] == [
        "2025-06-02 09:30",
        "2025-06-02 09:35",
        "2025-06-02 09:40",
    ]


def test_real_download_rate_limit(real_download):
    with pytest.raises(VendorRateLimitError, match="LIMITED"):
        real_download.daily_bars(["AAPL", "LIMITED"], dt.date(2025, 6, 2), dt.date(2025, 6, 4))
