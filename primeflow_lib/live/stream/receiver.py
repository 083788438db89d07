"""A local webhook receiver for the stream's tests and benchmark (and for trying the stream with a
``webhook`` channel pointed at it).

It records every complete POST (receive time in ns, JSON body) and answers ``200`` in **one write with
Nagle off** (``TCP_NODELAY``): an HTTP server that writes its headers and its body separately
makes the client's next request wait for the delayed ACK of the first segment, about 40 ms per
request on Linux, which would swamp the latencies being measured. HTTP/1.1 keep-alive, so the
relay's session reuses its connection. A request whose body stops short of its
``Content-Length`` (the sender died mid-request) is not a delivery: it is counted in
``truncated`` and answered ``400``, as a real webhook endpoint would reject it.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Post:
    """One request received."""

    received_ns: int
    path: str
    body: dict[str, Any]
    received_mono: float = 0.0  # time.monotonic() at receipt (for intervals within one process)


class WebhookReceiver:
    """``with WebhookReceiver() as rx: ... rx.url ... rx.posts``."""

    def __init__(self, port: int = 0) -> None:
        self.posts: list[Post] = []
        self.truncated = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                at, mono = time.time_ns(), time.monotonic()
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                if len(raw) < n:
                    with receiver.lock:
                        receiver.truncated += 1
                    self._answer(400, b'{"ok":false,"error":"truncated body"}')
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_undecodable": raw[:200].decode("utf-8", "replace")}
                with receiver.lock:
                    receiver.posts.append(Post(at, self.path, body if isinstance(body, dict) else {"_body": body}, mono))
                self._answer(200, b'{"ok":true}')

            def _answer(self, code: int, payload: bytes) -> None:
                reason = b"OK" if code == 200 else b"Bad Request"
                try:
                    self.wfile.write(
                        b"HTTP/1.1 " + str(code).encode() + b" " + reason
                        + b"\r\nContent-Type: application/json\r\nContent-Length: "
                        + str(len(payload)).encode() + b"\r\n\r\n" + payload
                    )
                except OSError:
                    self.close_connection = True  # the sender is gone

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook-receiver", daemon=True)

    def start(self) -> WebhookReceiver:
        """Serve (in a thread) until :meth:`stop`."""
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def snapshot(self) -> list[Post]:
        with self.lock:
            return list(self.posts)
