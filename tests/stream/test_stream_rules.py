"""Alert rules on the streaming path: the stream's database evaluates them with its own cooldown
memory, takes the rules saved on the workbench and the earnings dates from the read copy, and
the sensor path records exactly what the stream decided (its alerts as ``stream``, its hits),
so it neither sends those alerts again nor evaluates those (rule, signal) pairs again."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pandas as pd
from alert_helpers import make_signal

from primeflow_lib import warehouse as db
from primeflow_lib.alerts import enqueue_alerts, ensure_alert_tables
from primeflow_lib.alerts.outbox import load_rules, record_delivered
from primeflow_lib.config import default_config
from primeflow_lib.live.stream.store import StreamStore
from primeflow_lib.schema.desk import ALERT_RULES, EARNINGS

T0 = dt.datetime(2025, 3, 3, 10, 31, 5)


def _cfg() -> dict:
    cfg = default_config()
    cfg["alerts"]["rules"] = [{"name": "spy_any", "channel": "file", "cooldown_minutes": 60, "when": {"ticker": "SPY"}}]
    return cfg


def _signals(first: int, n: int) -> list:
    return [make_signal(i, ts=T0 + dt.timedelta(minutes=i)) for i in range(first, first + n)]


def _outcomes(con: duckdb.DuckDBPyConnection) -> dict:
    return dict(con.execute("SELECT rule || ':' || outcome, count(*) FROM live.rule_alerts GROUP BY 1").fetchall())


def test_stream_rules_are_recorded_exactly_by_the_sensor_path(tmp_path):
    cfg = _cfg()
    st = StreamStore(tmp_path / "stream-main.duckdb", "main")
    try:
        sigs = _signals(0, 3)
        with st.cursor() as cur, db.transaction(cur):
            sent = enqueue_alerts(cur, sigs, cfg)
        with st.cursor() as cur:
            assert _outcomes(cur) == {"route_scalp:alert": 3, "spy_any:alert": 1, "spy_any:cooldown": 2}
        assert sent == 4
        side = json.loads(json.dumps(st.delivered([s.signal_id for s in sigs])))  # as in the side file
    finally:
        st.close()
    assert len(side["alerts"]) == 4 and len(side["rule_hits"]) == 6

    wh = duckdb.connect(str(tmp_path / "wh.duckdb"))
    ensure_alert_tables(wh)
    with db.transaction(wh):
        assert record_delivered(wh, pd.DataFrame(side["alerts"]), pd.DataFrame(side["rule_hits"])) == 4
        # the sensor path scores the same signals: every pair was decided by the stream
        assert enqueue_alerts(wh, sigs, cfg) == 0
    assert dict(wh.execute("SELECT status, count(*) FROM live.alert_outbox GROUP BY 1").fetchall()) == {"stream": 4}
    assert _outcomes(wh) == {"route_scalp:alert": 3, "spy_any:alert": 1, "spy_any:cooldown": 2}
    # a signal only the sensor path found: its built-in route goes out, spy_any is still cooling down
    with db.transaction(wh):
        assert enqueue_alerts(wh, _signals(3, 1), cfg) == 1
    assert _outcomes(wh)["spy_any:cooldown"] == 3
    wh.close()


def test_saved_rules_and_earnings_come_from_the_read_copy(tmp_path):
    read = tmp_path / "read.duckdb"
    with duckdb.connect(str(read)) as con:
        ensure_alert_tables(con)
        con.execute("CREATE SCHEMA IF NOT EXISTS market")
        con.execute(EARNINGS.ddl())
        now = dt.datetime(2025, 3, 1)
        rule = {"name": "saved_spy", "channel": "file", "when": {"ticker": "SPY"}}
        db.append_rows(con, ALERT_RULES, pd.DataFrame([{"name": "saved_spy", "rule_json": json.dumps(rule),
                                                        "enabled": True, "created_at": now, "updated_at": now}]))
        db.append_rows(con, EARNINGS, pd.DataFrame([{"ticker": "SPY", "report_date": dt.date(2025, 3, 5),
                                                     "time_of_day": "post-market", "fiscal_date_ending": None,
                                                     "eps_estimate": None, "fetched_at": now, "vendor": "synthetic"}]))
    st = StreamStore(tmp_path / "stream-main.duckdb", "main")
    try:
        assert st.copy_alert_inputs(read) == {"live.alert_rules": 1, "market.earnings": 1}
        with st.cursor() as cur:
            assert "saved_spy" in {r.name for r in load_rules(cur, default_config())}
        # a read copy without them: the copies are emptied, not kept stale
        assert st.copy_alert_inputs(tmp_path / "absent.duckdb") == {"live.alert_rules": 0, "market.earnings": 0}
        with st.cursor() as cur:
            assert "saved_spy" not in {r.name for r in load_rules(cur, default_config())}
    finally:
        st.close()
