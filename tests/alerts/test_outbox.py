"""The outbox: one row per (signal, channel, format), written in the caller's transaction,
idempotent under re-scoring; the relay to the console/file sink."""

from __future__ import annotations

import json

import duckdb
import pandas as pd
import pytest
from alert_helpers import alerts_cfg, make_signal

from primeflow_lib.alerts import (
    FORMAT_VERSION,
    alert_key,
    enqueue_alerts,
    enqueue_heartbeat,
    outbox_counts,
    requeue_failed,
)
from primeflow_lib.alerts.routing import AlertConfigError
from primeflow_lib.schema import table


def _signals(n=6):
    kinds = ["SCALP", "DAY_TRADE", "SWING"]
    return [
        make_signal(i, kind=kinds[i % 3], vendor="synthetic" if i % 2 else "massive")
        for i in range(n)
    ]


def test_declared_table_has_an_enforced_primary_key():
    t = table("live.alert_outbox")
    assert t.key == ("alert_key",) and t.enforce_key and t.partition_column is None
    assert "PRIMARY KEY" in t.ddl()
    assert table("live.alert_deliveries").schema == "live"


def test_alert_key_is_sha256_of_signal_channel_version():
    import hashlib

    k = alert_key("sig1", "telegram_main")
    assert k == hashlib.sha256(f"sig1\x1ftelegram_main\x1f{FORMAT_VERSION}".encode()).hexdigest()
    assert k != alert_key("sig1", "telegram_main", FORMAT_VERSION + 1)
    assert k != alert_key("sig1", "desk")


def test_enqueue_rows_are_routed_formatted_and_pending(outbox_db):
    cfg = alerts_cfg()
    assert outbox_db.enqueue(_signals(), cfg) == 6
    rows = outbox_db.rows()
    assert {r["status"] for r in rows} == {"pending"}
    by_kind = {r["kind"]: r for r in rows}
    assert by_kind["SCALP"]["channel"] == "telegram_scalps" and by_kind["SCALP"]["mode"] == "short"
    assert (
        by_kind["SWING"]["channel"] == "telegram_swings" and by_kind["SWING"]["mode"] == "deep_dive"
    )
    assert by_kind["DAY_TRADE"]["channel"] == "telegram_main"
    assert {r["channel_type"] for r in rows} == {"sink"}
    for r in rows:
        assert r["attempts"] == 0 and r["sent_at"] is None and r["last_error"] is None
        assert r["alert_key"] == alert_key(r["signal_id"], r["channel"])
        assert r["short_id"] in r["message_text"]
        assert ("[SYNTHETIC DATA]" in r["message_text"]) == r["is_synthetic"]
        assert json.loads(r["payload_json"])["signal_id"] == r["signal_id"]


def test_enqueue_three_times_changes_nothing_and_resends_nothing(
    outbox_db, relay_factory, tmp_path, monkeypatch
):
    sink = tmp_path / "sink.jsonl"
    monkeypatch.setenv("PRIMEFLOW_ALERTS_FILE", str(sink))
    cfg = alerts_cfg()
    sigs = _signals()
    assert outbox_db.enqueue(sigs, cfg) == 6
    relay = relay_factory(cfg, {"PRIMEFLOW_ALERTS_FILE": str(sink)})
    assert relay.drain(max_seconds=10).sent == 6
    for _ in range(3):  # the same batch scored again, as a DataFrame this time
        df = pd.DataFrame([s.to_dict() for s in sigs])
        assert outbox_db.enqueue(df, cfg) == 0
    with outbox_db.connect() as con:
        assert outbox_counts(con) == {"pending": 0, "sending": 0, "sent": 6, "failed_permanent": 0, "stream": 0}
    report = relay.drain(max_seconds=2)
    assert report.sent == 0 and report.attempts == 0
    assert len(sink.read_text().splitlines()) == 6


def test_enqueue_runs_in_the_callers_transaction(outbox_db):
    cfg = alerts_cfg()
    with outbox_db.connect() as con:
        con.execute("CREATE TABLE IF NOT EXISTS sigs (id VARCHAR)")
        con.execute("BEGIN")
        con.execute("INSERT INTO sigs VALUES ('a')")
        assert enqueue_alerts(con, _signals(3), cfg) == 3
        con.execute("ROLLBACK")  # the signals did not land, so neither do their alerts
        assert con.execute("SELECT count(*) FROM live.alert_outbox").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM sigs").fetchone()[0] == 0
        con.execute("BEGIN")
        enqueue_alerts(con, _signals(3), cfg)
        # the caller's transaction is still open: enqueue did not commit
        con.execute("INSERT INTO sigs VALUES ('a')")
        con.execute("COMMIT")
        assert con.execute("SELECT count(*) FROM live.alert_outbox").fetchone()[0] == 3


def test_same_signal_twice_in_one_batch_is_one_row(outbox_db):
    s = make_signal(1)
    assert outbox_db.enqueue([s, s], alerts_cfg()) == 1


def test_routing_error_at_enqueue():
    con = duckdb.connect()
    with pytest.raises(AlertConfigError, match="dsek"):
        enqueue_alerts(con, _signals(1), alerts_cfg(routing={"default": "dsek"}))


def test_requeue_failed(outbox_db):
    outbox_db.enqueue(_signals(2), alerts_cfg())
    with outbox_db.connect() as con:
        con.execute("UPDATE live.alert_outbox SET status = 'failed_permanent', attempts = 3")
        assert requeue_failed(con, channel="telegram_scalps") == 1
        assert outbox_counts(con)["pending"] == 1
        assert requeue_failed(con) == 1


def test_heartbeat_enqueued_once_per_window(outbox_db):
    import datetime as dt

    cfg = alerts_cfg({"ops": {"type": "console"}})
    cfg["alerts"]["heartbeat_channel"] = "ops"
    stats = {
        "events_per_minute": 12.0,
        "signals_by_kind": {"SCALP": 1},
        "open_positions": 0,
        "lag_seconds": 1.0,
    }
    t = dt.datetime(2025, 3, 3, 14, 3)
    with outbox_db.connect() as con:
        assert enqueue_heartbeat(con, stats, cfg, now=t)
        assert not enqueue_heartbeat(con, stats, cfg, now=t + dt.timedelta(minutes=5))
        assert enqueue_heartbeat(con, stats, cfg, now=t + dt.timedelta(minutes=15))
        rows = con.execute("SELECT kind, mode, message_text FROM live.alert_outbox").fetchall()
    assert len(rows) == 2 and rows[0][0] == "HEARTBEAT" and "events/min 12.0" in rows[0][2]


def test_enqueue_a_flow_signals_frame(outbox_db):
    """The frame the strategies write (flow.signals columns: tags comma-joined, JSON text for
    context and rules, numpy/pandas scalars, NaN for unknowns, extra columns)."""
    import numpy as np

    rows = []
    for i in range(3):
        d = make_signal(i, kind=["SCALP", "DAY_TRADE", "SWING"][i]).to_dict()
        d["tags"] = ",".join(d["tags"])
        d["context_json"] = json.dumps(d.pop("context"))
        d["rules_passed"] = json.dumps(list(d["rules_passed"]))
        d["rules_failed"] = json.dumps(list(d["rules_failed"]))
        d["print_ids"] = ",".join(d["print_ids"])
        d["spot"] = float("nan") if i == 0 else d["spot"]
        d.update(
            side_confidence="HIGH",
            sentiment="BULLISH",
            n_prints=3,
            otm_pct=0.01,
            day_volume=5000,
            open_interest=None,
            vol_oi=np.float64(1.5),
            iv=0.3,
            delta=0.5,
            score_json="{}",
        )
        rows.append(d)
    df = pd.DataFrame(rows)
    df["ts"] = pd.to_datetime(df["ts"])
    df["size"] = df["size"].astype("int64")
    assert outbox_db.enqueue(df, alerts_cfg()) == 3
    got = {r["kind"]: r for r in outbox_db.rows()}
    assert "premium_min, dte_max, rvol_min" in got["SCALP"]["message_text"]
    assert (
        "+0.42%" in got["SCALP"]["message_text"]
        and "sweep, above_ask" in got["SCALP"]["message_text"]
    )
    assert "spot n/a" not in got["DAY_TRADE"]["message_text"]
    payload = json.loads(got["SCALP"]["payload_json"])
    assert payload["spot"] is None and payload["ts"].startswith("2025-03-03T10:31:05")
