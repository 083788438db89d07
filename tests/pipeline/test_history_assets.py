"""Complete daily history through real materializations, on a universe that churns every day:
every ticker of the window has every session of the lookback, stored pairs are not fetched
again, and the flow context never says UNKNOWN for lack of stored bars."""

import datetime as dt

import pytest

from primeflow_lib import calendar, vendors, warehouse
from primeflow_lib.config import load_config
from primeflow_lib.market import daily_history
from primeflow_lib.vendors.synthetic.vendor import SyntheticVendor
from primeflow_pipelines.defs.flow.assets import flow_scoring
from primeflow_pipelines.defs.flow.prints import option_prints
from primeflow_pipelines.defs.market.assets import (
    ohlcv_daily,
    ohlcv_intraday,
    option_chain,
    universe,
)

START, END = "2024-05-20", "2024-05-22"


class _ChurnVendor(SyntheticVendor):
    """Synthetic, except the top-N slides along the volume ranking by one place per session, so
    tickers enter and leave the universe every day."""

    def top_volume_tickers(self, trade_date, size, lookback=20):
        df = super().top_volume_tickers(trade_date, size * 4, lookback)
        k = trade_date.toordinal() % (size * 3)
        out = df.iloc[k:k + size].copy()
        out["rank"] = range(1, len(out) + 1)
        return out.reset_index(drop=True)


@pytest.fixture
def churn(monkeypatch):
    monkeypatch.setattr(vendors, "get_vendor", lambda name, cfg: _ChurnVendor.from_config(cfg))


def _daily_md(res):
    return res.asset_materializations_for_node("market__ohlcv_daily")[0].metadata


def test_union_backfill_on_a_churning_universe(churn, materialize_range):
    res = materialize_range([universe, ohlcv_daily], START, END)
    assert res.success
    cfg = load_config()
    lookback = daily_history.history_lookback_sessions(cfg)
    days = calendar.sessions(START, END)
    first = calendar.sessions_before(days[0], lookback)[0]
    with warehouse.connect() as con:
        uni = con.execute("SELECT trade_date, ticker FROM market.universe").fetchall()
        depth = dict(con.execute(
            "SELECT ticker, count(*) FROM market.ohlcv_daily WHERE trade_date BETWEEN ? AND ? GROUP BY 1",
            [first, days[-1]]).fetchall())
    names = {t for _, t in uni} | {"SPY"}
    by_day = {d: {t for dd, t in uni if dd == d} for d in days}
    assert by_day[days[0]] != by_day[days[1]] != by_day[days[2]]  # it does churn
    # every ticker of the window, the benchmark included, has every session of the lookback
    assert set(depth) == names
    assert set(depth.values()) == {lookback + len(days)}
    md = _daily_md(res)
    assert md["history_tickers"].value == len(names)
    assert md["history_from"].value == str(first)
    assert md["pairs_fetched"].value == len(names) * (lookback + len(days))
    evals = res.get_asset_check_evaluations()
    assert evals and all(e.passed for e in evals)

    # the same range again: everything is stored, nothing is fetched
    again = materialize_range([universe, ohlcv_daily], START, END)
    assert again.success and _daily_md(again)["pairs_fetched"].value == 0

    # the next session: only the tickers that enter the universe that day are fetched, with
    # their whole lookback; what is stored stays
    nxt = calendar.next_session(days[-1])
    res3 = materialize_range([universe, ohlcv_daily], nxt.isoformat(), nxt.isoformat())
    assert res3.success
    with warehouse.connect() as con:
        new_names = {r[0] for r in con.execute(
            "SELECT ticker FROM market.universe WHERE trade_date = ?", [nxt]).fetchall()}
        n_rows = con.execute("SELECT count(*) FROM market.ohlcv_daily").fetchone()[0]
    entrants = new_names - names
    assert entrants  # the churn brings someone new
    # the new session for every ticker it needs, plus the lookback of the entrants
    assert _daily_md(res3)["pairs_fetched"].value == len(new_names | {"SPY"}) + len(entrants) * lookback
    assert n_rows == len(names) * (lookback + len(days)) + _daily_md(res3)["pairs_fetched"].value


def test_configured_research_symbols_get_their_history(churn, small_config, materialize_range):
    small_config.write_text(small_config.read_text() + "research:\n  symbols: [ZZAA]\n")
    res = materialize_range([universe, ohlcv_daily], END, END)
    assert not res.success  # the synthetic pool has no ZZAA: a clear error, not a silent skip
    err = res.get_step_failure_events()[0].step_failure_data.error
    assert "unknown ticker(s) 'ZZAA'" in err.to_string()


@pytest.mark.slow
def test_no_flow_context_row_is_unknown_for_lack_of_history(churn, materialize_range):
    res = materialize_range([universe, ohlcv_daily, ohlcv_intraday, option_chain, option_prints, flow_scoring],
                            START, END)
    assert res.success, [e.step_failure_data.error.message for e in res.get_step_failure_events()]
    with warehouse.connect() as con:
        ctx = con.execute("SELECT daily_trend, regime, count(*) AS n, count(DISTINCT ticker) AS tickers "
                          "FROM flow.flow_context GROUP BY ALL").df()
        # tickers scored on a session without having been in the universe the session before:
        # the per-day ingest had no daily bars for them
        fresh = con.execute(
            "SELECT count(DISTINCT c.ticker) FROM flow.flow_context c WHERE NOT EXISTS (SELECT 1 FROM "
            "market.universe u WHERE u.ticker = c.ticker AND u.trade_date = ?)",
            [calendar.previous_session(dt.date.fromisoformat(START))]).fetchone()[0]
    assert ctx["n"].sum() > 0 and fresh > 0
    assert "UNKNOWN" not in set(ctx["daily_trend"]), ctx
    assert "UNKNOWN" not in set(ctx["regime"]), ctx
