"""Outbox crash test: a relay process draining 300 alerts to a local receiver is SIGKILLed (by
pid) 20 times mid-batch and restarted each time. Every alert must arrive at least once, with no
more duplicates than kills, and every row must end ``sent``.

Half of the kills land while the receiver is handling a request (the POST is done, the mark is
not: the worst case, it forces a duplicate); the other half at a random moment while the relay
is busy (claiming, sending or marking). Figures are printed (``pytest -s``) and attached to the
test report as properties.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from alert_helpers import Reply, ScriptedServer, make_signal, run_relay_child

from primeflow_lib.alerts import enqueue_alerts, ensure_alert_tables, outbox_counts

N_ALERTS = 300
N_KILLS = 20
SECRET_PATH = "/hook/CRASHtestSECRET0123456789"


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_relay_sigkilled_20_times_loses_nothing(tmp_path: Path, record_property) -> None:
    rng = random.Random(20)
    db = tmp_path / "crash.duckdb"
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text(
        "alerts:\n"
        "  routing: {default: hook}\n"
        "  channels:\n"
        "    hook: {type: webhook, env: PF_CRASH_HOOK}\n"
    )
    from primeflow_lib.config import load_config

    cfg = load_config(cfg_file, with_api_keys=False)
    kinds = ["SCALP", "DAY_TRADE", "SWING"]
    with duckdb.connect(str(db)) as con:
        ensure_alert_tables(con)
        con.execute("BEGIN")
        assert (
            enqueue_alerts(con, [make_signal(i, kind=kinds[i % 3]) for i in range(N_ALERTS)], cfg)
            == N_ALERTS
        )
        con.execute("COMMIT")
        keys = {k for (k,) in con.execute("SELECT alert_key FROM live.alert_outbox").fetchall()}
    # the connection is closed: the relay processes need the file lock

    server = ScriptedServer([Reply(200, "ok")])
    state = {"pid": None, "kill_at": None}
    lock = threading.Lock()

    def on_request(hit) -> None:
        # kill while the request is being handled: the relay has sent, not yet marked
        with lock:
            if (
                state["kill_at"] is not None
                and len(server.hits) >= state["kill_at"]
                and state["pid"]
            ):
                os.kill(state["pid"], signal.SIGKILL)
                state["kill_at"] = None

    server.on_request = on_request
    hook_env = {"PF_CRASH_HOOK": server.url + SECRET_PATH}
    argv = [
        "--db",
        str(db),
        "--config",
        str(cfg_file),
        "--max-seconds",
        "120",
        "--batch-size",
        "20",
    ]
    log_path = tmp_path / "relay.log"
    # Relay processes fork from a server with the modules already imported: a restart then
    # costs milliseconds, not seconds of imports. Each is a real process, killed by pid.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["primeflow_lib.alerts.relay", "alert_helpers"])
    kills = 0
    started = time.monotonic()
    try:
        while kills < N_KILLS:
            before = len(server.hits)
            proc = ctx.Process(target=run_relay_child, args=(argv, hook_env, str(log_path)))
            proc.start()
            with lock:
                state["pid"] = proc.pid
                state["kill_at"] = before + rng.randint(1, 8) if kills % 2 == 0 else None
            if kills % 2 == 1:
                # wait until it is sending, then kill at a random moment of its work
                while len(server.hits) == before and proc.exitcode is None:
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.0, 0.25))
                if proc.exitcode is None:
                    os.kill(proc.pid, signal.SIGKILL)
            proc.join(timeout=60)
            with lock:
                state["pid"], state["kill_at"] = None, None
            assert proc.exitcode == -signal.SIGKILL, (
                f"relay exited by itself (exit code {proc.exitcode}) before kill {kills + 1}"
            )
            kills += 1
        # a last relay, started as a user would, left alone, finishes the job
        final = subprocess.run(
            [sys.executable, "-m", "primeflow_lib.alerts", *argv],
            env={**os.environ, **hook_env},
            capture_output=True,
            timeout=90,
        )
        assert final.returncode == 0, final.stderr.decode()[-2000:]
        report = json.loads(final.stdout.decode().strip().splitlines()[-1])
    finally:
        server.stop()
    elapsed = time.monotonic() - started

    # a relay killed between sending the headers and the body leaves a request without a JSON
    # body: the webhook never got that alert, so it is not a delivery (the row is resent)
    delivered = [h for h in server.hits if isinstance(h.body, dict) and "alert_key" in h.body]
    received = Counter(h.body["alert_key"] for h in delivered)
    lost = len(keys - set(received))
    duplicates = sum(received.values()) - len(received)
    with duckdb.connect(str(db)) as con:
        counts = outbox_counts(con)
    figures = {
        "alerts": N_ALERTS,
        "kills": kills,
        "lost": lost,
        "duplicates": duplicates,
        "posts": sum(received.values()),
        "recovered_by_last_relay": report["recovered"],
        "seconds": round(elapsed, 1),
    }
    print(f"\ncrash test: {figures}")
    for k, v in figures.items():
        record_property(k, v)

    assert set(received) == keys and lost == 0
    assert duplicates <= kills
    assert counts == {"pending": 0, "sending": 0, "sent": N_ALERTS, "failed_permanent": 0, "stream": 0}
    # the secret path never reached the relay's own output
    outputs = log_path.read_text() + final.stdout.decode() + final.stderr.decode()
    assert "CRASHtestSECRET" not in outputs
