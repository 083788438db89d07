"""AlphaVantageVendor against a local HTTP server: string values, newest-first series, and the
HTTP-200 error bodies (Information / Note / Error Message)."""

from __future__ import annotations

import datetime as dt
import logging
import traceback

import pandas as pd
import pytest
from vendor_testkit import TEST_KEY, json_response, load_json

from primeflow_lib.schema.market import OHLCV_DAILY, OHLCV_INTRADAY
from primeflow_lib.vendors import vendor_for
from primeflow_lib.vendors.alpha_vantage import AlphaVantageVendor
from primeflow_lib.vendors.base import (
    VendorAuthError,
    VendorDataError,
    VendorPlanError,
    VendorRateLimitError,
)

DAY = dt.date(2025, 6, 13)


@pytest.fixture
def av(fake_server, vendor_cfg) -> AlphaVantageVendor:
    v = AlphaVantageVendor.from_config(vendor_cfg)
    v._today = lambda: DAY
    return v


def route_by_function(server, **bodies) -> None:
    """One /query route answering per ``function`` (and ``symbol`` when given as F:SYM)."""

    def handler(request):
        f, s = request.args["function"], request.args.get("symbol")
        body = bodies.get(f"{f}:{s}", bodies.get(f))
        if body is None:
            return json_response({"Error Message": f"Invalid API call for {f}."})
        return body if not isinstance(body, dict) else json_response(body)

    server.add("/query", handler)


def test_daily_bars_parsed_and_sorted_ascending(av, fake_server):
    body = load_json("alphavantage", "time_series_daily_IBM.json")
    body["Time Series (Daily)"]["2025-06-12"]["6. something new"] = "x"  # unknown: ignored
    body["Another Section"] = {}
    route_by_function(fake_server, TIME_SERIES_DAILY=body)
    bars = av.daily_bars(["IBM"], dt.date(2025, 6, 11), DAY)
    assert list(bars.columns) == OHLCV_DAILY.column_names
    assert bars["trade_date"].tolist() == [dt.date(2025, 6, d) for d in (11, 12, 13)]
    assert bars["open"].tolist() == [275.0, 273.41, 276.02]
    assert bars["volume"].tolist() == [3110245.0, 2831220.0, 3326931.0]
    assert bars["vwap"].isna().all() and set(bars["vendor"]) == {"alpha_vantage"}
    args = fake_server.hits[0].args
    assert args == {
        "function": "TIME_SERIES_DAILY",
        "symbol": "IBM",
        "outputsize": "compact",
        "apikey": TEST_KEY,
    }


def test_long_range_asks_for_full_output(av, fake_server):
    route_by_function(
        fake_server, TIME_SERIES_DAILY=load_json("alphavantage", "time_series_daily_IBM.json")
    )
    av.daily_bars(["IBM"], dt.date(2024, 6, 3), DAY)
    assert fake_server.hits[0].args["outputsize"] == "full"


def test_adjusted_daily_scales_prices(fake_server, vendor_cfg):
    v = AlphaVantageVendor.from_config(vendor_cfg)
    v.adjusted, v._today = True, (lambda: DAY)
    route_by_function(
        fake_server,
        TIME_SERIES_DAILY_ADJUSTED=load_json("alphavantage", "time_series_daily_adjusted_IBM.json"),
    )
    bars = v.daily_bars(["IBM"], dt.date(2025, 5, 1), DAY)
    may9 = bars.iloc[0]
    assert may9["trade_date"] == dt.date(2025, 5, 9)
    assert may9["close"] == 247.55 and may9["volume"] == 3812100
    assert may9["open"] == pytest.approx(249.2 * 247.55 / 249.2)


@pytest.mark.parametrize(
    ("fixture", "error", "match"),
    [
        ("info_daily_rate_limit.json", VendorRateLimitError, "quota used up.*25 requests per day"),
        ("note_rate_limit_legacy.json", VendorRateLimitError, "throttled.*5 calls per minute"),
        (
            "info_premium_endpoint.json",
            VendorPlanError,
            "TIME_SERIES_DAILY with outputsize=compact is a premium feature your plan lacks",
        ),
        ("error_invalid_call.json", VendorDataError, r"IBM \(Invalid API call"),
    ],
)
def test_http_200_error_bodies_are_typed_errors(av, fake_server, fixture, error, match):
    route_by_function(fake_server, TIME_SERIES_DAILY=load_json("alphavantage", fixture))
    with pytest.raises(error, match=match) as ei:
        av.daily_bars(["IBM"], dt.date(2025, 6, 11), DAY)
    assert "DEMOKEY123" not in str(ei.value)  # the key Alpha Vantage echoes back
    assert len(fake_server.hits) == 1  # quota bodies are not retried


def test_premium_function_is_reported_as_such(fake_server, vendor_cfg):
    v = AlphaVantageVendor.from_config(vendor_cfg)
    v.adjusted, v._today = True, (lambda: DAY)
    route_by_function(
        fake_server,
        TIME_SERIES_DAILY_ADJUSTED=load_json("alphavantage", "info_premium_endpoint.json"),
    )
    with pytest.raises(VendorPlanError, match="TIME_SERIES_DAILY_ADJUSTED .* premium"):
        v.daily_bars(["IBM"], dt.date(2025, 6, 11), DAY)


def test_unknown_symbol_named_other_tickers_kept(av, fake_server):
    route_by_function(
        fake_server,
        **{
            "TIME_SERIES_DAILY:IBM": load_json("alphavantage", "time_series_daily_IBM.json"),
            "TIME_SERIES_DAILY:BRK.B": load_json("alphavantage", "time_series_daily_IBM.json"),
        },
    )
    with pytest.raises(VendorDataError) as ei:
        av.daily_bars(["IBM", "NOPE", "BRK.B"], dt.date(2025, 6, 11), DAY)
    assert ei.value.failed_tickers == ["NOPE"]
    assert sorted(ei.value.partial["ticker"].unique()) == ["BRK.B", "IBM"]


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({}, "no 'Time Series \\(Daily\\)'"),
        ({"Meta Data": {"2. Symbol": "IBM"}}, "no 'Time Series \\(Daily\\)'"),
        (
            {
                "Time Series (Daily)": {
                    "2025-06-13": {
                        "1. open": "abc",
                        "2. high": "1",
                        "3. low": "1",
                        "4. close": "1",
                        "5. volume": "1",
                    }
                }
            },
            "2025-06-13: field '1. open' has bad value 'abc'",
        ),
        ({"Time Series (Daily)": {"2025-06-13": {"1. open": "1"}}}, "field '2. high'"),
        ({"Time Series (Daily)": {"13/06/2025": {}}}, "bad timestamp '13/06/2025'"),
    ],
)
def test_wrong_shapes_are_data_errors(av, fake_server, body, match):
    route_by_function(fake_server, TIME_SERIES_DAILY=body)
    with pytest.raises(VendorDataError, match=match):
        av.daily_bars(["IBM"], dt.date(2025, 6, 11), DAY)


def test_intraday_one_minute_regular_session_ascending(av, fake_server):
    route_by_function(
        fake_server,
        TIME_SERIES_INTRADAY=load_json("alphavantage", "time_series_intraday_1min_IBM.json"),
    )
    bars = av.intraday_bars(["IBM"], DAY, DAY)
    assert list(bars.columns) == OHLCV_INTRADAY.column_names
    assert [t.strftime("%H:%M") for t in bars["ts"]] == ["09:30", "09:31", "15:59"]
    assert bars.loc[0, "ts"] == pd.Timestamp("2025-06-13 09:30")
    args = fake_server.hits[0].args
    assert (args["interval"], args["month"], args["extended_hours"]) == ("1min", "2025-06", "false")


def test_intraday_five_minute_fixture(av, fake_server):
    route_by_function(
        fake_server,
        TIME_SERIES_INTRADAY=load_json("alphavantage", "time_series_intraday_5min_IBM.json"),
    )
    bars = av.intraday_bars(["IBM"], DAY, DAY, interval="5min")
    # 16:00 and the 19:xx extended-hours bars are outside the regular session
    assert [t.strftime("%H:%M") for t in bars["ts"]] == ["15:55"]
    assert bars.loc[0, "close"] == 272.71


def test_missing_key_names_the_variable(fake_server, vendor_cfg, monkeypatch):
    vendor_cfg["api_keys"] = {}
    with pytest.raises(VendorAuthError, match="ALPHAVANTAGE_API_KEY"):
        AlphaVantageVendor.from_config(vendor_cfg).check_ready("bars")
    monkeypatch.setenv("PRIMEFLOW_VENDOR", "alpha_vantage")
    with pytest.raises(VendorAuthError, match="ALPHAVANTAGE_API_KEY"):
        vendor_for("bars", vendor_cfg)
    assert fake_server.hits == []


def test_alpha_vantage_offers_bars_only(vendor_cfg):
    with pytest.raises(Exception, match="does not provide 'prints'"):
        AlphaVantageVendor.from_config(vendor_cfg).check_ready("prints")


def test_key_in_the_url_never_reaches_errors_or_logs(av, fake_server, caplog):
    caplog.set_level(logging.DEBUG)
    echo = {
        "Information": f"We have detected your API key as {TEST_KEY} and our standard API "
        "rate limit is 25 requests per day."
    }
    route_by_function(fake_server, TIME_SERIES_DAILY=json_response({"oops": TEST_KEY}, 500))
    fake_server.routes[("/query", None)] = [
        json_response({"error": f"upstream {TEST_KEY}"}, 500),
        json_response(echo),
    ]
    with pytest.raises(VendorRateLimitError) as ei:
        av.daily_bars(["IBM"], dt.date(2025, 6, 11), DAY)
    text = "".join(traceback.format_exception(ei.value))
    assert TEST_KEY not in text and "API key as ***" in text
    ours = [r for r in caplog.records if not r.name.startswith("werkzeug")]
    lines = [r.getMessage() for r in ours]
    # urllib3 logged the request line at DEBUG, with the key masked
    assert any("apikey=***" in m for m in lines if "GET /query" in m)
    assert all(TEST_KEY not in m for m in lines)
