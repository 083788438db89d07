"""``primeflow fetch`` against the local Alpha Vantage / Massive servers of the vendor tests (real
HTTP on 127.0.0.1): stored into the warehouse tables, cached, --refresh, backtest afterwards, and
every kind of bad input as a clear error."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner
from vendor_testkit import TEST_KEY, cursor_of, json_response, load_json

from primeflow_lib import warehouse
from primeflow_pipelines.commands import main


@pytest.fixture
def av_server(fake_server, monkeypatch):
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", TEST_KEY)

    def handler(request):
        if request.args.get("function") == "TIME_SERIES_DAILY" and request.args.get("symbol") == "IBM":
            return json_response(load_json("alphavantage", "time_series_daily_IBM.json"))
        return json_response({"Error Message": "Invalid API call. Please retry or visit the documentation."})

    fake_server.add("/query", handler)
    return fake_server


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def ibm_rows():
    with warehouse.connect(read_only=True) as con:
        return con.execute("SELECT trade_date, close, vendor FROM market.ohlcv_daily WHERE ticker = 'IBM' "
                           "ORDER BY 1").fetchall()


def test_fetch_stores_caches_and_refreshes(av_server):
    r = cli("fetch", "--symbol", "ibm", "--start", "2025-06-09", "--end", "2025-06-13", "--vendor", "alpha_vantage")
    assert r.exit_code == 0, r.output
    assert "5 sessions requested, 0 already stored (cached), 3 fetched, 3 rows stored" in r.output
    # the fixture has no bar for the 9th and 10th: said, not hidden
    assert "WARNING: alpha_vantage returned no bar for 2 sessions: 2025-06-09, 2025-06-10" in r.output
    rows = ibm_rows()
    assert [d for d, _, _ in rows] == [dt.date(2025, 6, d) for d in (11, 12, 13)]
    assert {v for _, _, v in rows} == {"alpha_vantage"}
    assert len(av_server.hits) == 1

    # stored sessions are not fetched again ...
    r = cli("fetch", "--symbol", "IBM", "--start", "2025-06-11", "--end", "2025-06-13", "--vendor", "alpha_vantage")
    assert r.exit_code == 0 and "already stored from alpha_vantage (cached" in r.output
    assert len(av_server.hits) == 1
    # ... unless --refresh
    r = cli("fetch", "--symbol", "IBM", "--start", "2025-06-11", "--end", "2025-06-13", "--vendor",
            "alpha_vantage", "--refresh")
    assert r.exit_code == 0 and "3 fetched, 3 rows stored" in r.output and len(av_server.hits) == 2
    assert ibm_rows() == rows  # same rows, not duplicated

    # the read copy was republished: list shows it, backtest runs on it
    r = cli("cache", "list", "--symbol", "IBM")
    assert r.exit_code == 0 and "alpha_vantage" in r.output and "IBM" in r.output
    r = cli("backtest", "--symbol", "IBM", "--strategy", "buy_and_hold", "--no-record")
    assert r.exit_code == 0, r.output
    assert "(3 bars)" in r.output


def test_backtest_on_a_symbol_not_stored_says_how_to_fetch_it(av_server):
    cli("fetch", "--symbol", "IBM", "--start", "2025-06-11", "--end", "2025-06-13", "--vendor", "alpha_vantage")
    r = CliRunner().invoke(main, ["backtest", "--symbol", "MSFT", "--strategy", "buy_and_hold"])
    assert r.exit_code == 1
    assert "symbol 'MSFT' not found in market.ohlcv_daily" in r.output
    assert "primeflow fetch --symbol MSFT --start YYYY-MM-DD" in r.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--symbol", "../../etc/passwd", "--start", "2025-06-11"], "invalid ticker(s) '../../etc/passwd'"),
        (["--symbol", "IBM", "--start", "2025-06-13", "--end", "2025-06-11"],
         "--start 2025-06-13 is after --end 2025-06-11"),
        (["--symbol", "IBM", "--start", "2025-06-14", "--end", "2025-06-15"], "no NYSE sessions between"),
        (["--symbol", "IBM", "--start", "06/11/2025"], "is not a date in YYYY-MM-DD form"),
        (["--symbol", "NOPE", "--start", "2025-06-11", "--end", "2025-06-13"], "NOPE (Invalid API call"),
    ],
)
def test_bad_input_is_a_clear_error(av_server, args, needle):
    r = CliRunner().invoke(main, ["fetch", *args, "--vendor", "alpha_vantage"])
    assert r.exit_code != 0 and needle in r.output, r.output
    with warehouse.connect() as con:
        warehouse.ensure_tables(con)
        assert con.execute("SELECT count(*) FROM market.ohlcv_daily").fetchone()[0] == 0


def test_a_vendor_that_does_not_serve_the_symbol(av_server):
    r = CliRunner().invoke(main, ["fetch", "--symbol", "IBM", "--start", "2025-06-11", "--end", "2025-06-13",
                                  "--vendor", "synthetic"])
    assert r.exit_code == 1 and "unknown ticker(s) 'IBM'" in r.output


def test_massive_intraday_fetch_stores_one_minute_bars(fake_server, monkeypatch):
    monkeypatch.setenv("POLYGON_MASSIVE_KEY", TEST_KEY)
    page = load_json("massive", "stock_aggs_AAPL_1_minute.json")
    fake_server.add("/v2/aggs/ticker/AAPL/range/1/minute/2025-06-13/2025-06-13", page)
    fake_server.add("/v2/aggs/ticker/AAPL/range/1/minute/1749822720000/2025-06-13",
                    load_json("massive", "stock_aggs_AAPL_1_minute_page2.json"), cursor=cursor_of(page["next_url"]))
    r = cli("fetch", "--symbol", "AAPL", "--start", "2025-06-13", "--end", "2025-06-13", "--vendor", "massive",
            "--timeframe", "1h")
    assert r.exit_code == 0, r.output
    assert "into market.ohlcv_intraday" in r.output
    with warehouse.connect(read_only=True) as con:
        n, vendors = con.execute("SELECT count(*), list(DISTINCT vendor) FROM market.ohlcv_intraday "
                                 "WHERE ticker = 'AAPL'").fetchone()
    assert n == 5 and vendors == ["massive"]  # 4 bars on page 1 + 15:59 on page 2
