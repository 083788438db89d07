"""Helpers for the alert tests: signals, configs, a fake clock, a scripted HTTP server on
127.0.0.1 and an outbox database."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb

from primeflow_lib.config import default_config
from primeflow_lib.models import Signal


def make_signal(i: int = 0, **overrides: Any) -> Signal:
    """A realistic signal; ``i`` makes the id unique."""
    base: dict[str, Any] = dict(
        signal_id=f"{i:08x}" + "ab" * 28,
        trade_date=dt.date(2025, 3, 3),
        ts=dt.datetime(2025, 3, 3, 10, 31, 5),
        kind="SCALP",
        ticker="SPY",
        option_symbol="SPY250321C00580000",
        expiry=dt.date(2025, 3, 21),
        right="C",
        strike=580.0,
        direction="BULLISH",
        strength=0.82,
        tags=("sweep", "above_ask"),
        event_id=f"ev{i}",
        event_type="sweep",
        side="ASK",
        premium=1_234_000.0,
        size=1200,
        avg_price=10.28,
        n_exchanges=4,
        spot=575.2,
        dte=18,
        vendor="massive",
        context={
            "vwap_dist": 0.0042,
            "rvol": 2.13,
            "trend_15m": "UP",
            "daily_trend": "DOWN",
            "regime": "BULL_LOW_VOL",
        },
        rules_passed=("premium_min", "dte_max", "rvol_min"),
        rules_failed=("otm_max",),
        print_ids=("p1", "p2", "p3"),
    )
    base.update(overrides)
    return Signal(**base)


def alerts_cfg(
    channels: dict[str, dict] | None = None, routing: dict[str, str] | None = None
) -> dict:
    """The default config with ``alerts.channels`` / ``alerts.routing`` replaced."""
    cfg = default_config()
    if channels is not None:
        cfg["alerts"]["channels"] = channels
    if routing is not None:
        cfg["alerts"]["routing"] = routing
    return cfg


class FakeClock:
    """Wall-clock seconds that only move when someone sleeps."""

    def __init__(self, start: float | None = None) -> None:
        self.t = time.time() if start is None else start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)


@dataclass
class Reply:
    """One scripted response."""

    status: int = 200
    body: Any = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Hit:
    """One request the server received."""

    t: float  # time.monotonic() at arrival
    fake_t: float | None  # the test's fake clock at arrival, if any
    path: str
    body: Any


class ScriptedServer:
    """A threaded HTTP server on 127.0.0.1 answering from a script: replies are used in order,
    the last one repeats. ``hits`` records every request."""

    def __init__(self, replies: list[Reply] | None = None, clock: FakeClock | None = None) -> None:
        self.replies = list(replies or [Reply()])
        self.clock = clock
        self.hits: list[Hit] = []
        self.on_request: Callable[[Hit], None] | None = None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server API
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                hit = Hit(
                    time.monotonic(), server.clock.time() if server.clock else None, self.path, body
                )
                with server._lock:
                    idx = len(server.hits)
                    server.hits.append(hit)
                    reply = server.replies[min(idx, len(server.replies) - 1)]
                if server.on_request:
                    server.on_request(hit)
                if reply.delay:
                    time.sleep(reply.delay)
                data = (
                    reply.body if isinstance(reply.body, (bytes, str)) else json.dumps(reply.body)
                )
                data = data.encode() if isinstance(data, str) else data
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (read timeout test)

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client killed mid-request (crash test) is expected, not noise

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def times(self) -> list[float]:
        return [h.t for h in self.hits]

    def fake_times(self) -> list[float]:
        return [h.fake_t for h in self.hits if h.fake_t is not None]

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class OutboxDB:
    """A warehouse file with the alert tables; ``connect`` opens a new connection each call."""

    path: Path

    def connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(str(self.path))

    def enqueue(self, signals: list[Signal], cfg: dict) -> int:
        from primeflow_lib.alerts import enqueue_alerts

        with self.connect() as con:
            con.execute("BEGIN")
            n = enqueue_alerts(con, signals, cfg)
            con.execute("COMMIT")
        return n

    def rows(
        self,
        sql: str = "SELECT * FROM live.alert_outbox ORDER BY created_at, alert_key",
        params: list | None = None,
    ) -> list[dict]:
        with self.connect() as con:
            cur = con.execute(sql, params or [])
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def run_relay_child(argv: list[str], env: dict[str, str], log_path: str) -> None:
    """Body of a relay process for the crash test: ``python -m primeflow_lib.alerts ARGV`` with
    extra environment, output appended to ``log_path``. Started from a forkserver that has the
    modules preloaded, so twenty restarts cost milliseconds instead of seconds of imports."""
    import os
    import sys

    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.environ.update(env)
    from primeflow_lib.alerts.relay import main

    sys.exit(main(argv))
