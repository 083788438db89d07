"""The order tape on a hand-made day: every filter of the issue, sorting, the count of all
matches, presets (saved, loaded, refused), the opening/closing estimate (never visible on the
order's own day) and an order opened to its prints and context."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest
from desk_builders import D1, D2, EARNINGS_AAPL

from primeflow_lib.config import default_config
from primeflow_lib.flow.enrich import DeskSettings
from primeflow_lib.flow.tape import (
    TapeError,
    TapeQuery,
    list_presets,
    load_preset,
    order_detail,
    run_tape,
    save_preset,
    simple_where,
    split_where,
)
from primeflow_lib.schema.flow import FLOW_CONTEXT, FLOW_EVENTS, SIGNALS

SETTINGS = DeskSettings.from_config(default_config())


def ids(con, where=None, **kw) -> list[str]:
    q = TapeQuery.from_dict({"where": where if where is not None else simple_where(**kw), "sort": "event_id",
                             "start": D1.isoformat()})
    res = run_tape(q, SETTINGS, con)
    return sorted(res.rows["event_id"])


@pytest.fixture
def con(desk_db):
    c = duckdb.connect(str(desk_db))
    yield c
    c.close()


def test_every_filter_of_the_tape(con):
    assert ids(con) == sorted(f"e{i}" for i in range(1, 11))
    assert ids(con, tickers=["spy"]) == ["e1", "e2", "e7", "e8", "e9"]
    assert ids(con, event_types=["sweep"], rights=["C"]) == ["e1", "e6", "e7", "e8"]
    assert ids(con, structures=["vertical"]) == ["e4"]
    assert ids(con, sides=["ask", "above_ask"]) == ["e1", "e10", "e5", "e6", "e7", "e8"]
    assert ids(con, min_premium=600_000, max_premium=1_000_000) == ["e10", "e6", "e8"]
    assert ids(con, min_size=1500) == ["e2", "e6"]
    assert ids(con, zero_dte="only") == ["e2"]
    assert "e2" not in ids(con, zero_dte="exclude")
    assert ids(con, min_dte=30) == ["e5"]
    assert ids(con, min_otm_pct=0.03) == ["e6"]
    assert ids(con, min_vol_oi=2) == ["e6"]
    assert ids(con, etf="only") == ["e1", "e2", "e7", "e8", "e9"]
    assert "e1" not in ids(con, etf="exclude")
    assert ids(con, tags=["GOLDEN"]) == ["e1"]
    assert ids(con, tags=["EARNINGS"]) == ["e10", "e3", "e4"]
    assert ids(con, tags=["LATE"]) == ["e5"]
    assert "e5" not in ids(con, exclude_tags=["LATE"])
    assert ids(con, where={"regime": "BULL", "rvol": {"gte": 1.5}, "sector": "Index ETFs"}) == \
        ["e1", "e2", "e7", "e8", "e9"]


def test_sort_limit_and_count_of_all_matches(con):
    q = TapeQuery.from_dict({"where": {"event_type": "sweep"}, "sort": "-premium", "limit": 2})
    res = run_tape(q, SETTINGS, con)
    assert list(res.rows["event_id"]) == ["e1", "e6"] and res.total == 5
    assert (res.start, res.end) == (D1, D1)  # the latest session with orders by default
    q = TapeQuery.from_dict({"where": {"event_type": "sweep"}, "sort": "premium", "limit": 2})
    assert list(run_tape(q, SETTINGS, con).rows["event_id"]) == ["e9", "e7"]


def test_derived_fields_earnings_and_etf(con):
    res = run_tape(TapeQuery.from_dict({"sort": "event_id"}), SETTINGS, con)
    r = res.rows.set_index("event_id")
    assert r.loc["e3", "days_to_earnings"] == (EARNINGS_AAPL - D1).days
    assert r.loc["e1", "days_to_earnings"] is None or str(r.loc["e1", "days_to_earnings"]) == "<NA>"  # unknown
    assert bool(r.loc["e1", "is_etf"]) and not bool(r.loc["e3", "is_etf"])
    assert r.loc["e1", "sector"] == "Index ETFs"
    assert set(r.loc["e1", "tags"].split(",")) == {"SWEEP", "ISO", "GOLDEN", "VOL>OI", "AGGRESSIVE", "ETF"}


def test_opening_closing_estimate_from_the_next_snapshot(con):
    res = run_tape(TapeQuery.from_dict({"sort": "event_id"}), SETTINGS, con)
    oc = dict(zip(res.rows["event_id"], res.rows["open_close"], strict=True))
    # e1: +1000 for 1000 contracts; e6: -1600 for 1500; e3: +50 for 400; e2: the 0DTE contract is gone
    assert (oc["e1"], oc["e6"], oc["e3"], oc["e2"]) == ("opening", "closing", "mixed", "unknown")
    assert ids(con, open_close=["opening"]) == ["e1", "e10", "e7", "e8"]


def test_the_estimate_is_never_visible_on_the_orders_own_day(con):
    """As of the order's session the next snapshot does not exist: every estimate is pending,
    whatever is stored later; no flow table a signal is scored from has the field, and a rule
    cannot use it."""
    same_day = TapeQuery.from_dict({"as_of": D1.isoformat(), "sort": "event_id"})
    assert set(run_tape(same_day, SETTINGS, con).rows["open_close"]) == {"pending"}
    next_day = TapeQuery.from_dict({"as_of": D2.isoformat(), "sort": "event_id"})
    assert "opening" in set(run_tape(next_day, SETTINGS, con).rows["open_close"])
    for t in (FLOW_EVENTS, FLOW_CONTEXT, SIGNALS):
        assert not {"open_close", "next_oi_change"} & set(t.column_names)
    from primeflow_lib.alerts.rules import RuleError, parse_rule

    with pytest.raises(RuleError, match="open_close.*known only after the next chain snapshot"):
        parse_rule({"name": "x", "applies_to": "order", "when": {"open_close": "opening"}, "channel": "console"})


def test_presets_round_trip_and_validation(con):
    q = TapeQuery.from_dict({"where": simple_where(tickers=["SPY"], min_premium=500_000, zero_dte="exclude",
                                                   tags=["SWEEP"]), "sort": "-premium", "limit": 50})
    save_preset(con, "spy big sweeps", q, "index sweeps")
    assert list(list_presets(con)["name"]) == ["spy big sweeps"]
    back = load_preset(con, "spy big sweeps")
    assert back == q
    assert ids(con, where=back.to_dict()["where"]) == ["e1", "e7", "e8"]
    simple, extra = split_where(back.to_dict()["where"])
    assert simple == {"tickers": ["SPY"], "min_premium": 500000.0, "tags": ["SWEEP"], "zero_dte": "exclude"}
    assert extra == {}
    with pytest.raises(TapeError, match="unknown field 'premum'.*did you mean 'premium'"):
        save_preset(con, "bad", {"where": {"premum": {"gte": 1}}})
    with pytest.raises(TapeError, match=r"where.premium.gtee: unknown operator 'gtee'"):
        save_preset(con, "bad", {"where": {"premium": {"gtee": 1}}})
    with pytest.raises(TapeError, match="unknown key"):
        save_preset(con, "bad", {"wher": {}})
    with pytest.raises(TapeError, match=r"where.side\[0\]: unknown value 'asks' for side \(did you mean 'ask'"):
        save_preset(con, "bad", {"where": {"side": ["asks"]}})
    assert list(list_presets(con)["name"]) == ["spy big sweeps"]  # nothing stored by the refusals
    # a preset edited by hand in the warehouse is refused when loaded, naming it
    con.execute("UPDATE flow.tape_presets SET filters_json = ?", [json.dumps({"where": {"dte": {"lte": "x"}}})])
    with pytest.raises(TapeError, match="preset 'spy big sweeps'.*where.dte.lte: must be a number"):
        load_preset(con, "spy big sweeps")
    with pytest.raises(TapeError, match="no tape preset 'nope'"):
        load_preset(con, "nope")


def test_an_order_opens_to_its_prints_context_and_signals(con):
    d = order_detail("e1", SETTINGS, con)
    assert d["order"]["ticker"] == "SPY" and d["order"]["open_close"] == "opening"
    assert d["context"]["regime"] == "BULL"
    with pytest.raises(KeyError, match="no order 'zz'"):
        order_detail("zz", SETTINGS, con)


def test_tape_says_what_this_warehouse_lacks(tmp_path):
    from desk_builders import build

    path = tmp_path / "bare.duckdb"
    build(path, structure=False)
    c = duckdb.connect(str(path))
    try:
        if "structure" in FLOW_EVENTS.column_names:  # a warehouse written before the column
            c.execute("ALTER TABLE flow.flow_events DROP COLUMN structure")
        c.execute("DROP TABLE marts.oi_change")
        res = run_tape(TapeQuery.from_dict({}), SETTINGS, c)
        assert any("no structure column" in n for n in res.notes)
        assert any("marts.oi_change is not built" in n for n in res.notes)
        assert set(res.rows["open_close"]) == {None} or res.rows["open_close"].isna().all()
        with pytest.raises(TapeError, match="has no structure column"):
            run_tape(TapeQuery.from_dict({"where": {"structure": "vertical"}}), SETTINGS, c)
    finally:
        c.close()


def test_bad_queries_name_the_key_and_value():
    with pytest.raises(TapeError, match="sort: unknown column 'premiums'"):
        TapeQuery.from_dict({"sort": "-premiums"})
    with pytest.raises(TapeError, match="limit must be a whole number"):
        TapeQuery.from_dict({"limit": 0})
    with pytest.raises(TapeError, match="end 2024-12-01 is before start 2024-12-31"):
        TapeQuery.from_dict({"start": "2024-12-31", "end": "2024-12-01"})
    with pytest.raises(TapeError, match="'31/12/2024' is not a date"):
        TapeQuery.from_dict({"start": "31/12/2024"})
    with pytest.raises(TapeError, match="zero_dte: must be one of include, exclude, only"):
        simple_where(zero_dte="yes")
    assert dt.date(2024, 12, 31) == D1


def test_the_workbench_tape_sees_a_republished_read_copy(desk_db, tmp_path):
    """desk_views holds the read copy open between queries (warm buffers); a republish (a new
    file) is seen at once, by it and by every other reader."""
    from desk_builders import ORDERS, order, rows

    from primeflow_lib import warehouse
    from primeflow_lib.workbench import desk_views as dv
    from primeflow_lib.workbench.readcopy import read_frame

    read = tmp_path / "read.duckdb"
    warehouse.publish_read_copy(desk_db, read)
    cfg = default_config()
    assert dv.tape({}, cfg, read).total == len(ORDERS)
    with warehouse.connect(desk_db) as c:
        extra = rows("flow.flow_events", [order("e11", "SPY", "C", 610.0, D2, "single", "ask", 5_000.0, 1, (15, 0))])
        if "structure" in c.execute("SELECT * FROM flow.flow_events LIMIT 0").df().columns:
            extra["structure"] = None
        c.register("x", extra)
        c.execute("INSERT INTO flow.flow_events SELECT * FROM x")
    warehouse.publish_read_copy(desk_db, read)
    assert dv.tape({}, cfg, read).total == len(ORDERS) + 1
    assert read_frame("SELECT count(*) AS n FROM flow.flow_events", path=read)["n"].iloc[0] == len(ORDERS) + 1
