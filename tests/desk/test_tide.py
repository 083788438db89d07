"""The net-premium tide (dbt_like_sql/tide_minute.sql and the tide queries) on the desk day:
the definition (calls at ask + puts at bid - the opposite), what is left out, the running sums,
the market and sector series and the price."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest
from desk_builders import D1

from primeflow_lib.config import default_config
from primeflow_lib.flow.tide import TideError, leaders_query, tide_query

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def con(desk_db):
    c = duckdb.connect(str(desk_db))
    body = "\n".join(ln for ln in (ROOT / "dbt_like_sql" / "tide_minute.sql").read_text().splitlines()
                     if not ln.startswith("--"))
    c.execute(f"CREATE OR REPLACE TABLE marts.tide_minute AS {body}")
    yield c
    c.close()


def series(con, scope, name):
    sql, params = tide_query(scope, name, D1, default_config())
    return con.execute(sql, params).df().set_index("minute")


def at(h, m):
    return dt.datetime.combine(D1, dt.time(h, m))


def test_ticker_tide_definition_and_running_sum(con):
    spy = series(con, "ticker", "spy")
    # e1 10:05 call at the ask $1.2M; e2 10:30 put at the bid $300k (bullish: puts sold)
    assert spy.loc[at(10, 5), "net_call_premium"] == 1_200_000
    assert spy.loc[at(10, 30), "net_put_premium"] == -300_000 and spy.loc[at(10, 30), "net_premium"] == 300_000
    last = spy.iloc[-1]
    assert last["cum_net_call_premium"] == 1_200_000 + 520_000 + 650_000
    assert last["cum_net_put_premium"] == -300_000 - 400_000
    assert last["cum_net_premium"] == 2_370_000 + 700_000
    assert spy.loc[at(12, 0), "price"] == pytest.approx(590.0 * (1 + 0.0001 * 150))


def test_mid_multileg_and_late_orders_are_left_out(con):
    aapl = series(con, "ticker", "AAPL")
    # e3 to_ask call $80k counts; e4 (multi-leg at mid) does not; e10 put at the ask is bearish
    assert aapl["cum_net_premium"].iloc[-1] == 80_000 - 900_000
    assert aapl.loc[at(11, 15), "net_premium"] == 0
    nvda = con.execute("SELECT sum(net_put_premium) FROM marts.tide_minute WHERE name = 'NVDA'").fetchone()[0]
    assert nvda == 0  # e5 (late) left out


def test_market_and_sector_series(con):
    market = series(con, "market", "ALL")
    assert market["cum_net_premium"].iloc[-1] == 3_070_000 + (80_000 - 900_000) + 700_000
    assert (market["price_ticker"] == "SPY").all() and market.loc[at(10, 5), "price"] > 0
    index = series(con, "sector", "Index ETFs")
    assert index["cum_net_premium"].iloc[-1] == 3_070_000 and index["price"].isna().all()
    with pytest.raises(TideError, match="unknown sector 'Tech'"):
        tide_query("sector", "Tech", D1, default_config())
    with pytest.raises(TideError, match="tide scope must be one of market, ticker, sector"):
        tide_query("world", "x", D1, default_config())
    sql, params = leaders_query(D1, 1)
    lead = con.execute(sql, params).df()
    assert list(lead["ticker"]) == ["SPY", "AAPL"]
