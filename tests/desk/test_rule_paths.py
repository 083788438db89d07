"""The same rule evaluation on the daily path (flow/rule_alerts: records) and the near-live path
(enqueue_alerts: records and enqueues, batch by batch with the cooldown memory in
live.rule_alerts): identical hits for the same session; every alert names its rule."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest
from desk_builders import D1, ORDERS, rows

from primeflow_lib import warehouse
from primeflow_lib.alerts import enqueue_alerts, ensure_alert_tables
from primeflow_lib.alerts.daily_rules import daily_rule_hits
from primeflow_lib.config import default_config

USER_RULES = [
    {"name": "spy_sweeps", "applies_to": "order", "channel": "console", "cooldown_minutes": 60, "daily_cap": 5,
     "when": {"ticker": "SPY", "event_type": "sweep", "side": ["ask", "above_ask"], "premium": {"gte": 500000}}},
    {"name": "bullish_rvol", "channel": "file", "when": {"direction": "BULLISH", "rvol": {"gte": 1.5}}},
]


def _cfg() -> dict:
    cfg = default_config()
    cfg["alerts"]["rules"] = USER_RULES
    cfg["earnings"]["gate_kinds"] = ["SWING"]
    cfg["earnings"]["gate_days"] = 3
    return cfg


def _signal(sid: str, kind: str, eid: str) -> dict:
    o = next(x for x in ORDERS if x["event_id"] == eid)
    return {"signal_id": sid, "trade_date": D1, "ts": o["last_ts"], "kind": kind, "ticker": o["ticker"],
            "option_symbol": o["option_symbol"], "expiry": o["expiry"], "right": o["right"], "strike": o["strike"],
            "direction": "BULLISH" if o["right"] == "C" else "BEARISH", "strength": 0.8, "tags": "SWEEP",
            "event_id": eid, "event_type": o["event_type"], "side": o["side"], "side_confidence": "high",
            "sentiment": o["sentiment"], "premium": o["premium"], "size": o["size"], "avg_price": o["avg_price"],
            "n_prints": 2, "n_exchanges": 2, "spot": o["spot"], "dte": o["dte"], "day_volume": o["size"],
            "vendor": "synthetic", "context_json": json.dumps({"regime": "BULL", "rvol": 2.0 if o["ticker"] == "SPY"
                                                              else 0.8}),
            "rules_passed": "[]", "rules_failed": "[]", "score_json": "{}", "print_ids": o["print_ids"]}


@pytest.fixture
def con(desk_db):
    c = duckdb.connect(str(desk_db))
    warehouse.append_rows(c, "flow.signals", rows("flow.signals", [
        _signal("s1", "SCALP", "e1"), _signal("s7", "SCALP", "e7"), _signal("s10", "SWING", "e10")]))
    ensure_alert_tables(c)
    yield c
    c.close()


def test_daily_and_live_paths_record_the_same_hits(con):
    cfg = _cfg()
    daily, stats = daily_rule_hits(con, D1, cfg)
    assert stats["orders_candidates"] >= 3 and stats["signals"] == 3
    noon = dt.datetime.combine(D1, dt.time(12, 0))
    sig = con.execute("SELECT * FROM flow.signals").df()
    ev = con.execute("SELECT * FROM flow.flow_events").df()
    ctx = con.execute("SELECT * FROM flow.flow_context").df()
    for part in (lambda t: t < noon, lambda t: t >= noon):  # two near-live batches
        s = sig[[part(t) for t in sig["ts"]]]
        e = ev[[part(t) for t in ev["last_ts"]]]
        con.execute("BEGIN")
        enqueue_alerts(con, s, cfg, events=e, context=ctx[ctx["event_id"].isin(e["event_id"])])
        con.execute("COMMIT")
    live = con.execute("SELECT * FROM live.rule_alerts").df()
    key = ["rule", "row_id", "outcome", "channel", "applies_to"]
    assert sorted(map(tuple, daily[key].to_numpy())) == sorted(map(tuple, live[key].to_numpy()))
    got = {(r.rule, r.row_id): r.outcome for r in daily.itertuples()}
    assert got[("spy_sweeps", "e1")] == "alert"
    assert got[("spy_sweeps", "e7")] == "alert"  # 3 h later: out of the 60-minute cooldown
    assert got[("spy_sweeps", "e8")] == "cooldown"  # 10 minutes after e7 (and across the batch boundary)
    assert ("spy_sweeps", "e9") not in got  # bid side
    assert got[("route_scalp", "s1")] == "alert" and got[("bullish_rvol", "s1")] == "alert"
    assert got[("route_swing", "s10")] == "earnings_gate"  # AAPL reports 3 days later
    outbox = con.execute("SELECT alert_key, signal_id, kind, channel, rule, message_text FROM live.alert_outbox").df()
    assert set(outbox["rule"]) == {"spy_sweeps", "route_scalp", "bullish_rvol"}  # every alert names its rule
    orders = outbox[outbox["rule"] == "spy_sweeps"]
    assert set(orders["signal_id"]) == {"e1", "e7"} and set(orders["kind"]) == {"ORDER"}
    assert all("rule:spy_sweeps" in t and "[SYNTHETIC DATA]" in t for t in orders["message_text"])
    assert "s10" not in set(outbox["signal_id"])
    assert set(outbox["alert_key"]) == set(live["alert_key"].dropna())  # each alert traces to its hit


def test_scoring_a_batch_again_enqueues_nothing_new(con):
    cfg = _cfg()
    sig = con.execute("SELECT * FROM flow.signals").df()
    ev = con.execute("SELECT * FROM flow.flow_events").df()
    assert enqueue_alerts(con, sig, cfg, events=ev) > 0
    n = con.execute("SELECT count(*) FROM live.rule_alerts").fetchone()[0]
    assert enqueue_alerts(con, sig, cfg, events=ev) == 0
    assert con.execute("SELECT count(*) FROM live.rule_alerts").fetchone()[0] == n


def test_a_rule_saved_in_the_warehouse_is_evaluated_with_the_others(con):
    from primeflow_lib.alerts.outbox import load_rules

    con.execute("INSERT INTO live.alert_rules VALUES ('nvda', ?, true, now(), now())",
                [json.dumps({"name": "nvda", "applies_to": "order", "when": {"ticker": "NVDA"}, "channel": "console"})])
    cfg = default_config()
    assert [r.name for r in load_rules(con, cfg)][-1] == "nvda"
    hits, _ = daily_rule_hits(con, D1, cfg)
    assert set(hits.loc[hits["rule"] == "nvda", "row_id"]) == {"e5", "e6"}
    con.execute("UPDATE live.alert_rules SET rule_json = ?", [json.dumps({"name": "nvda", "channel": "nowhere"})])
    from primeflow_lib.alerts.rules import RuleError

    with pytest.raises(RuleError, match="rule 'nvda': unknown channel 'nowhere'"):
        daily_rule_hits(con, D1, cfg)
