"""Complete daily history (primeflow_lib.market.daily_history) on a universe that churns: the union of
tickers, the lookback, which (session, ticker) pairs are missing, and what a range fetch keeps."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from primeflow_lib import calendar, warehouse
from primeflow_lib.config import default_config
from primeflow_lib.market import daily_history
from primeflow_lib.schema.market import OHLCV_DAILY
from primeflow_lib.vendors.base import VendorError

DAYS = calendar.sessions(dt.date(2024, 6, 3), dt.date(2024, 6, 7))
# a churning top-3: AAA leaves after day 2, CCC enters on day 3 and leaves, DDD enters on day 5
CHURN = {
    DAYS[0]: ["AAA", "BBB", "EEE"],
    DAYS[1]: ["AAA", "BBB", "EEE"],
    DAYS[2]: ["BBB", "CCC", "EEE"],
    DAYS[3]: ["BBB", "EEE", "FFF"],
    DAYS[4]: ["BBB", "DDD", "EEE"],
}


def bars(pairs) -> pd.DataFrame:
    rows = [{"trade_date": d, "ticker": t, "open": 10.0, "high": 11.0, "low": 9.0, "close": 10.5,
             "volume": 1e6, "vwap": None, "vendor": "synthetic"} for d, t in pairs]
    return pd.DataFrame(rows, columns=OHLCV_DAILY.column_names)


def test_union_of_a_churning_universe_plus_benchmark_and_configured_symbols():
    cfg = default_config()
    cfg["research"]["symbols"] = ["ibm", "BRK.B"]
    names = daily_history.history_symbols(CHURN, cfg)
    assert names == ["AAA", "BBB", "BRK.B", "CCC", "DDD", "EEE", "FFF", "IBM", "SPY"]


def test_an_invalid_configured_symbol_is_refused_by_name():
    cfg = default_config()
    cfg["research"]["symbols"] = ["../../etc/passwd"]
    with pytest.raises(VendorError, match=r"research.symbols: invalid ticker\(s\) '../../etc/passwd'"):
        daily_history.history_symbols(CHURN, cfg)


def test_lookback_covers_every_research_and_context_warm_up():
    cfg = default_config()
    from primeflow_lib.research import max_lookback

    lb = daily_history.history_lookback_sessions(cfg)
    assert lb == max_lookback({"phi_mft": None}) * 2 + daily_history.HISTORY_WARMUP_MARGIN == 248
    cfg["market_regime"]["trend_lookback_days"] = 400
    assert daily_history.history_lookback_sessions(cfg) == 405
    sessions = daily_history.history_sessions(DAYS, 10)
    assert sessions[-5:] == DAYS and len(sessions) == 15
    assert sessions[:10] == calendar.sessions_before(DAYS[0], 10)


def test_missing_pairs_on_a_churning_universe(tmp_path):
    cfg = default_config()
    names = daily_history.history_symbols(CHURN, cfg)
    sessions = daily_history.history_sessions(DAYS, 3)
    # what the old per-day ingest stored: each day's universe + SPY, and nothing before
    stored = [(d, t) for d, ts in CHURN.items() for t in [*ts, "SPY"]]
    with warehouse.connect(tmp_path / "w.duckdb") as con:
        warehouse.ensure_tables(con)
        warehouse.append_rows(con, OHLCV_DAILY, bars(stored))
        warehouse.append_rows(con, OHLCV_DAILY, bars([(DAYS[0], "CCC")]).assign(vendor="yfinance"))
        missing = daily_history.missing_pairs(con, names, sessions, "synthetic")
        again = daily_history.missing_pairs(con, names, sessions, "synthetic", refresh=DAYS[-1:])
    # the lookback sessions miss every ticker; inside the window only the churned-out days
    for d in sessions[:3]:
        assert missing[d] == names
    assert missing[DAYS[0]] == ["CCC", "DDD", "FFF"]  # CCC of another vendor does not count
    assert missing[DAYS[2]] == ["AAA", "DDD", "FFF"]
    assert missing[DAYS[4]] == ["AAA", "CCC", "FFF"]
    assert sum(map(len, missing.values())) == 3 * len(names) + 5 * len(names) - len(stored)
    assert again[DAYS[-1]] == names  # refresh asks for the whole session again


def test_keep_pairs_drops_what_is_stored_and_unserved_counts_vendor_gaps():
    wanted = {DAYS[0]: ["CCC"], DAYS[1]: ["CCC", "DDD"]}
    fetched = bars([(d, t) for d in DAYS[:2] for t in ("AAA", "CCC")])
    kept = daily_history.keep_pairs(fetched, wanted)
    assert sorted(zip(kept["trade_date"], kept["ticker"], strict=True)) == [(DAYS[0], "CCC"), (DAYS[1], "CCC")]
    assert daily_history.unserved(kept, wanted) == {"DDD": 1}
    assert daily_history.keep_pairs(fetched, {}).empty
