"""docs/reliability.md scenarios 14 and 11 with figures: webhooks at a dead port and at a 500 server
with DEBUG logging leak no secret into logs, stdout/stderr, outbox tables, reports or the live
path's heartbeat; another process holding the DuckDB lock for 30 s is waited out by a writer and
by the relay."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time

import duckdb
import pytest
from alert_helpers import OutboxDB, Reply, ScriptedServer, alerts_cfg, make_signal

from primeflow_lib import warehouse
from primeflow_lib.alerts import Relay, RetryPolicy, ensure_alert_tables, resolve_channels
from primeflow_lib.alerts.pacing import Pacer

pytestmark = pytest.mark.slow

TOKEN = "555666777:AAHreliabilitySECRETtoken_abcdefg"
HOOK_SECRET = "RELIABILITYhookSECRET_0123456789"
LOCK_S = float(os.environ.get("RELIABILITY_LOCK_S", "30"))


def _dead_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


def _channel(kind: str, base: str) -> tuple[dict, dict]:
    if kind == "telegram":
        return ({"type": "telegram", "env": "R_SECRET", "chat_id_env": "R_CHAT"},
                {"R_SECRET": TOKEN, "R_CHAT": "-1009", "PRIMEFLOW_TELEGRAM_API_URL": base})
    path = {"discord": "/api/webhooks/42/", "slack": "/services/T1/B1/", "webhook": "/hooks/"}[kind]
    return {"type": kind, "env": "R_SECRET"}, {"R_SECRET": base + path + HOOK_SECRET}


def test_no_secret_in_any_output(tmp_path, caplog, capfd, record_property):
    caplog.set_level(logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    logging.getLogger().addHandler(handler)
    servers, scans, found, attempts = [], 0, 0, 0
    try:
        for i, (kind, target) in enumerate((k, t) for k in ("telegram", "discord", "slack", "webhook")
                                           for t in ("dead_port", "http_500")):
            if target == "dead_port":
                base = _dead_url()
            else:
                srv = ScriptedServer([Reply(500, {"ok": False, "description": "boom"})])
                servers.append(srv)
                base = srv.url
            ch, env = _channel(kind, base)
            cfg = alerts_cfg({"dest": ch}, {"default": "dest"})
            db = OutboxDB(tmp_path / f"o{i}.duckdb")
            with db.connect() as con:
                ensure_alert_tables(con)
            db.enqueue([make_signal(i)], cfg)
            relay = Relay(db.connect, resolve_channels(cfg, env), pacer=Pacer(),
                          policy=RetryPolicy(max_attempts=2, backoff_base_s=0.05))
            try:
                report = relay.drain(max_seconds=5)
            finally:
                relay.close()
            attempts += report.attempts
            texts = [repr(report), str(report.to_dict())]
            with db.connect() as con:
                for t in ("live.alert_outbox", "live.alert_deliveries"):
                    texts += [str(r) for r in con.execute(f"SELECT * FROM {t}").fetchall()]
            texts += [r.getMessage() + (r.exc_text or "") for r in caplog.records]
            out, err = capfd.readouterr()
            texts += [out, err]
            scans += len(texts)
            found += sum(1 for t in texts for s in (TOKEN, HOOK_SECRET) if s in t)
            caplog.clear()
    finally:
        logging.getLogger().removeHandler(handler)
        for s in servers:
            s.stop()
    record_property("channels_x_targets", 8)
    record_property("attempts", attempts)
    record_property("texts_scanned", scans)
    record_property("secrets_found", found)
    assert attempts >= 8 and found == 0


_HOLD = """
import duckdb, sys, time, pathlib
con = duckdb.connect(sys.argv[1])
pathlib.Path(sys.argv[2]).write_text("locked")
time.sleep(float(sys.argv[3]))
con.close()
"""


def test_lock_held_30s_is_waited_out(tmp_path, record_property):
    p = tmp_path / "w.duckdb"
    with warehouse.connect(p) as con:
        warehouse.ensure_tables(con)
        ensure_alert_tables(con)
    sink = tmp_path / "sink.jsonl"
    cfg = alerts_cfg()  # the default routing: the console / file sink
    db = OutboxDB(p)
    db.enqueue([make_signal(1)], cfg)
    marker = tmp_path / "locked"
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(p), str(marker), str(LOCK_S)])
    waits, survived = 0, 0
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        t0 = time.monotonic()
        with pytest.raises(duckdb.IOException):
            duckdb.connect(str(p)).close()  # the lock really is held
        with warehouse.connect(p, lock_timeout_s=LOCK_S + 60) as con:
            waits += 1
            con.execute("INSERT INTO market.universe (trade_date, ticker, rank, avg_volume, vendor) "
                        "VALUES (DATE '2024-01-02', 'SPY', 1, 1e6, 'synthetic')")
        writer_wait = time.monotonic() - t0
        survived += int(writer_wait >= LOCK_S * 0.8)
    finally:
        proc.wait()
    # the relay meets the lock too: a second holder, and a drain that retries its transaction
    marker2 = tmp_path / "locked2"
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(p), str(marker2), str(min(LOCK_S, 10))])
    try:
        while not marker2.exists():
            time.sleep(0.05)
        relay = Relay(lambda: duckdb.connect(str(p)), resolve_channels(cfg, {"PRIMEFLOW_ALERTS_FILE": str(sink)}),
                      pacer=Pacer(), db_retry_s=LOCK_S + 60)
        try:
            waits += 1
            report = relay.drain(max_seconds=5)
            survived += int(report.sent == 1)
        finally:
            relay.close()
    finally:
        proc.wait()
    with warehouse.connect(p, read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM market.universe").fetchall()[0][0]
    record_property("lock_seconds", LOCK_S)
    record_property("lock_waits", waits)
    record_property("lock_waits_survived", survived)
    record_property("writer_wait_s", round(writer_wait, 1))
    assert stored == 1 and survived == waits == 2
