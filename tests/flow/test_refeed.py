"""Decision (docs/flow.md, "Plausibility rules"): identical prints arriving again in another file
are the same orders, so they give the same event and signal ids and enqueue no second alert.
Ids come from the prints' content (session, contract, timestamps, exchange, price, size), never
from the file name or the vendor's print ids."""

from __future__ import annotations

import duckdb
import pandas as pd

from primeflow_lib.alerts import enqueue_alerts, ensure_alert_tables
from primeflow_lib.flow.engine import HISTORY_COLUMNS, score_batch


def test_same_prints_in_a_second_file_alert_once(scenario, cfg, tmp_path):
    sc = scenario
    first = score_batch(sc["prints"], sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, source="a.parquet")
    assert len(first.signals) > 0
    again = sc["prints"].copy()
    again["print_id"] = [f"vendor-reissued-{i}" for i in range(len(again))]
    history = first.events[list(HISTORY_COLUMNS)]  # the live path reads the earlier batch back
    second = score_batch(again, sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg, history, source="b.parquet")
    assert sorted(second.signals["signal_id"]) == sorted(first.signals["signal_id"])
    con = duckdb.connect(str(tmp_path / "o.duckdb"))
    try:
        ensure_alert_tables(con)
        n1 = enqueue_alerts(con, first.signals, cfg)
        n2 = enqueue_alerts(con, second.signals, cfg)
        rows = con.execute("SELECT count(*) FROM live.alert_outbox").fetchall()[0][0]
    finally:
        con.close()
    assert n1 == rows > 0 and n2 == 0


def test_a_genuinely_new_print_is_a_new_order(scenario, cfg):
    sc = scenario
    first = score_batch(sc["prints"], sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg)
    moved = sc["prints"].copy()
    moved["sip_timestamp"] = moved["sip_timestamp"] + 1_000  # 1 microsecond later: other prints
    moved["sip_ts"] = pd.to_datetime(moved["sip_ts"]) + pd.Timedelta(microseconds=1)
    second = score_batch(moved, sc["bars_1m"], sc["daily_bars"], sc["chain"], cfg)
    assert set(second.events["event_id"]).isdisjoint(first.events["event_id"])
