"""MassiveVendor against a local HTTP server speaking the documented shapes."""

from __future__ import annotations

import copy
import datetime as dt
import logging

import numpy as np
import pandas as pd
import pytest
from vendor_testkit import TEST_KEY, cursor_of, json_response, load_json

from primeflow_lib.config import Secret
from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.schema.market import OHLCV_DAILY, OHLCV_INTRADAY, OPTION_CHAIN, UNIVERSE
from primeflow_lib.vendors import get_vendor, vendor_for
from primeflow_lib.vendors.base import (
    VendorAuthError,
    VendorDataError,
    VendorError,
)
from primeflow_lib.vendors.massive import MassiveVendor

DAY = dt.date(2025, 6, 13)
O_650C = "O:SPY251219C00650000"


@pytest.fixture
def massive(fake_server, vendor_cfg) -> MassiveVendor:
    v = MassiveVendor.from_config(vendor_cfg)
    v._today = lambda: DAY  # the fixtures' session is "today" for the snapshot rule
    return v


def _grouped(day: str, scale: float, drop: tuple[str, ...] = ()) -> dict:
    body = load_json("massive", "grouped_daily_stocks_2025-06-13.json")
    body["results"] = [r for r in body["results"] if r["T"] not in drop]
    for r in body["results"]:
        r["v"] = r["v"] * scale
    body["results"].append(
        {"T": "BRK.B", "c": 480.0, "h": 482, "l": 477, "o": 479, "t": 0, "v": 4_000_000 * scale}
    )
    return body


def _route_reference_tickers(server) -> None:
    p1 = load_json("massive", "reference_tickers_CS_page1.json")
    server.add("/v3/reference/tickers", p1)
    server.add(
        "/v3/reference/tickers",
        load_json("massive", "reference_tickers_CS_page2.json"),
        cursor=cursor_of(p1["next_url"]),
    )


def _route_universe(server) -> None:
    # a single route serves both the CS and ETF calls: dispatch on the type parameter
    p1 = load_json("massive", "reference_tickers_CS_page1.json")
    etf = load_json("massive", "reference_tickers_ETF.json")

    def tickers(request):
        assert request.args["market"] == "stocks" and request.args["active"] == "true"
        return json_response(p1 if request.args["type"] == "CS" else etf)

    server.add("/v3/reference/tickers", tickers)
    server.add(
        "/v3/reference/tickers",
        load_json("massive", "reference_tickers_CS_page2.json"),
        cursor=cursor_of(p1["next_url"]),
    )
    base = "/v2/aggs/grouped/locale/us/market/stocks/"
    server.add(base + "2025-06-11", _grouped("2025-06-11", 1.0, drop=("TSLA",)))
    server.add(base + "2025-06-12", _grouped("2025-06-12", 2.0))
    server.add(base + "2025-06-13", _grouped("2025-06-13", 3.0))


def test_universe_ranks_common_stock_and_etfs_by_mean_volume(massive, fake_server):
    _route_universe(fake_server)
    uni = massive.top_volume_tickers(dt.date(2025, 6, 16), size=5, lookback=3)
    assert list(uni.columns) == UNIVERSE.column_names
    # mean over 3 sessions with volumes x1, x2, x3: NVDA 361M, TSLA 215M (x2 + x3 only),
    # SPY 179M, SOXL 168M, F 122M; AAPL 103M is sixth
    assert uni["ticker"].tolist() == ["NVDA", "TSLA", "SPY", "SOXL", "F"]
    # preferreds (KIMpL), warrants (DJT.WS) and test symbols are not CS/ETF: filtered out
    assert not {"KIMpL", "DJT.WS", "ZVZZT"} & set(uni["ticker"])
    nvda = 180820552
    assert uni.loc[0, "avg_volume"] == pytest.approx(nvda * (1 + 2 + 3) / 3)
    # TSLA is absent on one session: that day counts as 0, not skipped
    assert uni.loc[1, "avg_volume"] == pytest.approx(128964279 * (2 + 3) / 3)
    assert uni["rank"].tolist() == [1, 2, 3, 4, 5]
    assert uni.loc[0, "last_close"] == pytest.approx(141.97)
    assert set(uni["vendor"]) == {"massive"}
    assert set(uni["trade_date"]) == {dt.date(2025, 6, 16)}
    # the key goes in the header, never the URL
    assert all(h.headers.get("Authorization") == f"Bearer {TEST_KEY}" for h in fake_server.hits)
    assert all(TEST_KEY not in str(h.args) for h in fake_server.hits)


def test_universe_includes_class_shares_and_caches_reference_tickers(massive, fake_server):
    _route_universe(fake_server)
    uni = massive.top_volume_tickers(dt.date(2025, 6, 16), size=10, lookback=3)
    assert "BRK.B" in set(uni["ticker"])
    n_ref = fake_server.paths().count("/v3/reference/tickers")
    assert n_ref == 3  # CS page 1, CS page 2 (next_url), ETF
    massive.top_volume_tickers(dt.date(2025, 6, 16), size=10, lookback=3)
    assert fake_server.paths().count("/v3/reference/tickers") == n_ref


def test_universe_empty_grouped_day_is_an_error(massive, fake_server):
    _route_universe(fake_server)
    fake_server.add(
        "/v2/aggs/grouped/locale/us/market/stocks/2025-06-12",
        {"adjusted": True, "queryCount": 0, "resultsCount": 0, "status": "OK"},
    )
    with pytest.raises(VendorDataError, match="grouped daily bars of 2025-06-12 came back empty"):
        massive.top_volume_tickers(dt.date(2025, 6, 16), size=5, lookback=3)


def test_daily_bars_with_class_share_and_unknown_fields(massive, fake_server):
    aapl = load_json("massive", "stock_aggs_AAPL_1_day.json")
    aapl["results"][0]["brand_new_field"] = [1, 2]
    aapl["another_top_level"] = "x"
    brk = copy.deepcopy(aapl)
    brk["ticker"] = "BRK.B"
    del brk["results"][2]["vw"]  # vwap is optional
    fake_server.add("/v2/aggs/ticker/AAPL/range/1/day/2025-06-11/2025-06-13", aapl)
    fake_server.add("/v2/aggs/ticker/BRK.B/range/1/day/2025-06-11/2025-06-13", brk)
    bars = massive.daily_bars(["AAPL", "brk.b"], dt.date(2025, 6, 11), DAY)
    assert list(bars.columns) == OHLCV_DAILY.column_names
    assert bars["ticker"].tolist() == ["AAPL"] * 3 + ["BRK.B"] * 3
    assert bars["trade_date"].tolist()[:3] == [
        dt.date(2025, 6, 11),
        dt.date(2025, 6, 12),
        dt.date(2025, 6, 13),
    ]
    assert bars.loc[2, "close"] == 196.45 and bars.loc[2, "volume"] == 51447349
    assert bars.loc[0, "vwap"] == pytest.approx(200.6012)
    assert np.isnan(bars.loc[5, "vwap"])
    hit = fake_server.hits[0]
    assert hit.args == {"adjusted": "true", "sort": "asc", "limit": "50000"}


def test_daily_bars_ticker_without_bars_is_named(massive, fake_server):
    fake_server.add(
        "/v2/aggs/ticker/AAPL/range/1/day/2025-06-11/2025-06-13",
        load_json("massive", "stock_aggs_AAPL_1_day.json"),
    )
    fake_server.add(
        "/v2/aggs/ticker/NOPE/range/1/day/2025-06-11/2025-06-13",
        {"ticker": "NOPE", "queryCount": 0, "resultsCount": 0, "status": "OK"},
    )
    with pytest.raises(VendorDataError, match=r"no daily bars for 1 ticker\(s\): NOPE") as ei:
        massive.daily_bars(["AAPL", "NOPE"], dt.date(2025, 6, 11), DAY)
    assert ei.value.failed_tickers == ["NOPE"]
    assert ei.value.partial["ticker"].unique().tolist() == ["AAPL"]


def test_daily_bars_reject_path_like_tickers_before_any_request(massive, fake_server):
    with pytest.raises(VendorError, match="invalid ticker"):
        massive.daily_bars(["../v3/x"], dt.date(2025, 6, 11), DAY)
    assert fake_server.hits == []


def test_minute_bars_follow_next_url_and_keep_the_regular_session(massive, fake_server):
    p1 = load_json("massive", "stock_aggs_AAPL_1_minute.json")
    fake_server.add("/v2/aggs/ticker/AAPL/range/1/minute/2025-06-13/2025-06-13", p1)
    fake_server.add(
        "/v2/aggs/ticker/AAPL/range/1/minute/1749822720000/2025-06-13",
        load_json("massive", "stock_aggs_AAPL_1_minute_page2.json"),
        cursor=cursor_of(p1["next_url"]),
    )
    bars = massive.intraday_bars(["AAPL"], DAY, DAY)
    assert list(bars.columns) == OHLCV_INTRADAY.column_names
    # 4 bars on page 1 + 15:59 on page 2; 16:00 and 19:59 are after the close
    assert [t.strftime("%H:%M") for t in bars["ts"]] == [
        "09:30",
        "09:31",
        "09:32",
        "09:33",
        "15:59",
    ]
    assert bars["ts"].dtype == "datetime64[us]"
    assert bars.loc[0, "ts"] == pd.Timestamp("2025-06-13 09:30")
    assert set(bars["trade_date"]) == {DAY}
    # the public-host next_url was re-based onto the local server (both pages served here)
    assert len(fake_server.hits) == 2


def _route_chain(server) -> None:
    p1 = load_json("massive", "options_chain_snapshot_SPY_page1.json")
    server.add("/v3/snapshot/options/SPY", p1)
    server.add(
        "/v3/snapshot/options/SPY",
        load_json("massive", "options_chain_snapshot_SPY_page2.json"),
        cursor=cursor_of(p1["next_url"]),
    )


def test_option_chain_pages_and_missing_greeks(massive, fake_server):
    _route_chain(fake_server)
    chain = massive.option_chain(["SPY"], DAY)
    assert list(chain.columns) == OPTION_CHAIN.column_names
    assert chain["option_symbol"].tolist() == [
        "SPY251219C00650000",
        "SPY251219P00550000",
        "SPY250620C00400000",
        "SPY251219P00600000",
    ]
    assert fake_server.hits[0].args == {"limit": "250"}
    c650 = chain.iloc[0]
    assert (c650["expiry"], c650["right"], c650["strike"]) == (dt.date(2025, 12, 19), "C", 650.0)
    assert (c650["bid"], c650["ask"], c650["last"]) == (18.35, 18.5, 18.42)
    assert (c650["delta"], c650["iv"], c650["open_interest"]) == (0.3121, 0.1689, 98412)
    assert c650["underlying_price"] == 597.44 and c650["vendor"] == "massive"
    deep = chain.iloc[2]  # deep ITM: no greeks, no IV, no last trade, no volume
    assert all(np.isnan(deep[c]) for c in ("delta", "gamma", "theta", "vega", "iv", "last"))
    assert deep["open_interest"] == 312 and deep["volume"] == 0


def test_option_chain_is_current_only(massive, fake_server):
    with pytest.raises(VendorError, match="latest session \\(2025-06-13\\), not 2025-06-02"):
        massive.option_chain(["SPY"], dt.date(2025, 6, 2))
    assert fake_server.hits == []


def test_option_chain_empty_snapshot_is_an_error(massive, fake_server):
    fake_server.add("/v3/snapshot/options/ZZZZ", {"status": "OK", "request_id": "x", "results": []})
    with pytest.raises(VendorDataError, match="ZZZZ \\(empty snapshot\\)"):
        massive.option_chain(["ZZZZ"], DAY)


def _route_prints(server, quotes_reply=None) -> None:
    _route_chain(server)
    server.add(
        "/v3/reference/conditions", load_json("massive", "reference_conditions_options_subset.json")
    )
    t1 = load_json("massive", "options_trades_O_SPY251219C00650000_page1.json")
    server.add(f"/v3/trades/{O_650C}", t1)
    server.add(
        f"/v3/trades/{O_650C}",
        load_json("massive", "options_trades_O_SPY251219C00650000_page2.json"),
        cursor=cursor_of(t1["next_url"]),
    )
    server.add(
        f"/v3/quotes/{O_650C}",
        quotes_reply or load_json("massive", "options_quotes_O_SPY251219C00650000.json"),
    )
    empty = {"status": "OK", "request_id": "e", "results": []}
    server.add("/v3/trades/O:SPY251219P00550000", empty)
    server.add("/v3/trades/O:SPY251219P00600000", empty)


def test_option_prints_with_nbbo_conditions_and_corrections(massive, fake_server):
    _route_prints(fake_server)
    prints = massive.option_prints(["SPY"], DAY)
    assert list(prints.columns) == OPTION_PRINTS.column_names
    assert len(prints) == 11
    assert set(prints["option_symbol"]) == {"SPY251219C00650000"}
    assert set(prints["underlying"]) == {"SPY"}
    assert prints["seq"].tolist() == list(range(11))
    assert prints["print_id"].is_unique
    # the deep-ITM contract had no volume: its trades were never asked for
    assert "/v3/trades/O:SPY250620C00400000" not in fake_server.paths()
    trades_hit = next(h for h in fake_server.hits if h.path == f"/v3/trades/{O_650C}")
    assert trades_hit.args["order"] == "asc" and trades_hit.args["limit"] == "50000"
    assert int(trades_hit.args["timestamp.gte"]) == 1749787200 * 10**9  # 00:00 ET
    first = prints.iloc[0]
    assert first["sip_timestamp"] == 1749825312000000000
    assert first["sip_ts"] == pd.Timestamp("2025-06-13 10:35:12")
    assert prints.iloc[1]["sip_ts"] == pd.Timestamp("2025-06-13 10:35:12.001200")
    assert (first["exchange"], first["price"], first["size"]) == (302, 18.5, 40)
    assert prints["conditions"].tolist()[:6] == ["219"] * 4 + ["209", "229"]
    assert prints["conditions"].iloc[-1] == ""  # no conditions key
    assert prints["correction"].tolist()[8] == 1 and pd.isna(prints["correction"].iloc[0])
    # NBBO in force: the last quote strictly before each print
    assert prints[["bid", "ask"]].iloc[:4].values.tolist() == [[18.35, 18.5]] * 4
    assert prints[["bid", "ask"]].iloc[4].tolist() == [18.3, 18.5]  # mid print
    assert prints[["bid", "ask"]].iloc[5].tolist() == [18.35, 18.45]  # print at the bid
    assert massive.notices == []


def test_option_prints_without_quotes_plan_leave_bid_ask_null_and_say_so_once(
    massive, fake_server, caplog
):
    denied = json_response(load_json("massive", "error_403_not_authorized.json"), 403)
    _route_prints(fake_server, quotes_reply=denied)
    # a second traded contract with prints, to show the denial is reported once
    t1 = load_json("massive", "options_trades_O_SPY251219C00650000_page1.json")
    del t1["next_url"]
    fake_server.add("/v3/trades/O:SPY251219P00550000", t1)
    fake_server.add("/v3/quotes/O:SPY251219P00550000", denied)
    massive.http.settings = type(massive.http.settings)(max_workers=1, max_retries=0)
    with caplog.at_level(logging.WARNING):
        prints = massive.option_prints(["SPY"], DAY)
    assert len(prints) == 17
    assert prints["bid"].isna().all() and prints["ask"].isna().all()
    assert len(massive.notices) == 1 and "does not include option quotes" in massive.notices[0]
    assert sum("option quotes" in r.getMessage() for r in caplog.records) == 1
    quote_hits = [p for p in fake_server.paths() if p.startswith("/v3/quotes/")]
    assert len(quote_hits) == 1  # not asked again once the plan said no


def test_conditions_reference_is_fetched_once(massive, fake_server):
    _route_prints(fake_server)
    massive.option_prints(["SPY"], DAY)
    massive.option_prints(["SPY"], DAY)
    assert fake_server.paths().count("/v3/reference/conditions") == 1
    cond = massive.conditions()
    assert cond.set_index("id").loc[219, "abbreviation"] == "ISOI"


def test_contract_prints_for_an_explicit_list_on_a_past_date(massive, fake_server):
    _route_prints(fake_server)
    prints = massive.contract_prints(["SPY251219C00650000"], DAY)
    assert len(prints) == 11 and set(prints["underlying"]) == {"SPY"}


def test_missing_key_fails_at_once_naming_the_variables(fake_server, vendor_cfg, monkeypatch):
    vendor_cfg["api_keys"] = {}
    for kind in ("universe", "bars", "chain", "prints"):
        with pytest.raises(
            VendorAuthError, match="POLYGON_MASSIVE_KEY.*POLYGON_API_KEY.*MASSIVE_API_KEY"
        ):
            MassiveVendor.from_config(vendor_cfg).check_ready(kind)
    monkeypatch.setenv("PRIMEFLOW_VENDOR", "massive")
    with pytest.raises(VendorAuthError, match="POLYGON_MASSIVE_KEY"):
        vendor_for("prints", vendor_cfg)
    with pytest.raises(VendorAuthError):
        MassiveVendor.from_config(vendor_cfg).daily_bars(["AAPL"], DAY, DAY)
    assert fake_server.hits == []


def test_legacy_env_key_is_used_when_config_has_none(fake_server, vendor_cfg, monkeypatch):
    vendor_cfg["api_keys"] = {}
    monkeypatch.setenv("POLYGON_API_KEY", "legacy-key-1234")
    v = MassiveVendor.from_config(vendor_cfg)
    v.check_ready("bars")
    fake_server.add(
        "/v2/aggs/ticker/AAPL/range/1/day/2025-06-11/2025-06-13",
        load_json("massive", "stock_aggs_AAPL_1_day.json"),
    )
    v.daily_bars(["AAPL"], dt.date(2025, 6, 11), DAY)
    assert fake_server.hits[0].headers["Authorization"] == "Bearer legacy-key-1234"


def test_registry_builds_massive_on_the_env_base_url(fake_server, vendor_cfg):
    v = get_vendor("massive", vendor_cfg)
    assert isinstance(v, MassiveVendor)
    assert v.http.base_url == fake_server.base_url
    assert repr(vendor_cfg["api_keys"]["massive"]) == "Secret('***')"
    assert isinstance(vendor_cfg["api_keys"]["massive"], Secret)


def test_key_never_in_errors_or_logs(massive, fake_server, caplog):
    caplog.set_level(logging.DEBUG)
    fake_server.add(
        "/v2/aggs/ticker/AAPL/range/1/day/2025-06-11/2025-06-13",
        json_response({"status": "ERROR", "error": f"bad key {TEST_KEY}"}, 500),
        load_json("massive", "stock_aggs_AAPL_1_day.json"),
    )
    massive.daily_bars(["AAPL"], dt.date(2025, 6, 11), DAY)
    fake_server.add(
        "/v2/aggs/ticker/MSFT/range/1/day/2025-06-11/2025-06-13",
        json_response({"status": "ERROR", "error": f"Unknown API Key {TEST_KEY}"}, 401),
    )
    with pytest.raises(VendorAuthError) as ei:
        massive.daily_bars(["MSFT"], dt.date(2025, 6, 11), DAY)
    assert TEST_KEY not in str(ei.value) and "***" in str(ei.value)
    ours = [r for r in caplog.records if not r.name.startswith("werkzeug")]
    assert any(r.name.startswith("urllib3") for r in ours)  # DEBUG request lines captured
    assert any("retrying" in r.getMessage() for r in ours)
    for r in ours:
        assert TEST_KEY not in r.getMessage()
    assert TEST_KEY not in caplog.text
