"""A local websocket server that speaks the Massive options stream protocol and plays stored or
synthetic prints: for trying the stream without a key (``primeflow stream serve``, ``make
stream``), for the tests and for ``benchmarks/bench_stream.py``.

Protocol, as the real service (see :mod:`primeflow_lib.vendors.massive_ws`): greet with
``connected``, wait for ``auth`` (the key must match), answer ``auth_success``, wait for
``subscribe``, then send frames: JSON arrays of events, each trade as a quote ``Q`` (the print's
bid/ask, when known) followed by the trade ``T`` (``sym`` with the ``O:`` prefix, ``x``, ``p``,
``s``, ``c``, ``t`` in milliseconds, ``q`` the print's sequence number per contract).

Pacing: ``rate`` prints per second, with optional bursts (``burst_rate`` for ``burst_seconds``
starting ``burst_at`` seconds in); prints go out in frames of up to ``frame_rows`` trades. The
time each trade was sent is recorded (``sent``: send wall time in ns per row), so a benchmark can
measure print-to-alert latency. A disconnect can be scripted (``drop_after`` prints): the server
closes the connection mid-burst and, when the client reconnects, continues with the next print
and re-sends the last ``resend`` trades (the client must set those aside by their ``q``).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class ServePlan:
    """How to play the prints (see module doc)."""

    rate: float = 2000.0
    burst_rate: float | None = None
    burst_at: float = 0.0
    burst_seconds: float = 0.0
    frame_rows: int = 50
    drop_after: int | None = None
    resend: int = 0
    key: str = "local"

    def rate_at(self, elapsed: float) -> float:
        if self.burst_rate and self.burst_at <= elapsed < self.burst_at + self.burst_seconds:
            return self.burst_rate
        return self.rate


@dataclass
class ServeState:
    """What the server did: per row the wall time it was sent (ns, 0 = not yet), connections."""

    sent_ns: np.ndarray
    connections: int = 0
    drops: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)


def trade_events(prints: pd.DataFrame) -> list[list[dict[str, Any]]]:
    """Per print, its ``[Q, T]`` (or ``[T]`` without a quote) Massive events."""
    sym = prints["option_symbol"].astype(str).to_numpy(dtype=object)
    ts_ms = (prints["sip_timestamp"].to_numpy(np.int64) // 1_000_000).tolist()
    x = prints["exchange"].astype(int).tolist()
    p = prints["price"].astype(float).tolist()
    s = prints["size"].astype(int).tolist()
    q = prints["seq"].astype(int).tolist() if "seq" in prints else list(range(len(prints)))
    bid = prints["bid"].to_numpy(np.float64) if "bid" in prints else np.full(len(prints), np.nan)
    ask = prints["ask"].to_numpy(np.float64) if "ask" in prints else np.full(len(prints), np.nan)
    conds = prints["conditions"].fillna("").astype(str).tolist() if "conditions" in prints else [""] * len(prints)
    out = []
    for i in range(len(prints)):
        name = sym[i] if sym[i].startswith("O:") else f"O:{sym[i]}"
        c = [int(t) for t in conds[i].split(",") if t.strip().isdigit()]
        ev = [{"ev": "T", "sym": name, "x": x[i], "p": p[i], "s": s[i], "c": c, "t": ts_ms[i], "q": q[i]}]
        if np.isfinite(bid[i]) and np.isfinite(ask[i]):
            ev.insert(0, {"ev": "Q", "sym": name, "bp": float(bid[i]), "ap": float(ask[i]), "bx": x[i], "ax": x[i],
                          "bs": 1, "as": 1, "t": ts_ms[i], "q": q[i]})
        out.append(ev)
    return out


class MassiveReplayServer:
    """Serve ``prints`` (received order) on ``ws://127.0.0.1:<port>`` (see module doc).

    Use as ``async with MassiveReplayServer(prints, plan) as srv: ... srv.url ...``; ``state``
    says what was sent. One client at a time is served; a reconnecting client continues where
    the last one stopped."""

    def __init__(self, prints: pd.DataFrame, plan: ServePlan | None = None, *, port: int = 0) -> None:
        self.prints = prints.reset_index(drop=True)
        self.plan = plan or ServePlan()
        self.port = port
        self.events = trade_events(self.prints)
        self.state = ServeState(sent_ns=np.zeros(len(self.prints), np.int64))
        self._next = 0
        self._t0: float | None = None
        self._sent_total = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def __aenter__(self) -> MassiveReplayServer:
        from websockets.asyncio.server import serve

        self._server = await serve(self._handler, "127.0.0.1", self.port, max_size=2**24,
                                   compression=None, ping_interval=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self, timeout_s: float = 2.0) -> None:
        """Stop serving: close every connection (the closing handshake waits at most
        ``timeout_s`` for a client that does not answer, then the connection is dropped)."""
        self._server.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._server.wait_closed()), timeout_s)
        except TimeoutError:
            for ws in list(self._server.connections):
                ws.transport.abort()
            await self._server.wait_closed()

    async def _handler(self, ws: Any) -> None:
        self.state.connections += 1
        await ws.send(json.dumps([{"ev": "status", "status": "connected", "message": "Connected Successfully"}]))
        auth = json.loads(await ws.recv())
        if auth != {"action": "auth", "params": self.plan.key}:
            await ws.send(json.dumps([{"ev": "status", "status": "auth_failed", "message": "authentication failed"}]))
            return
        await ws.send(json.dumps([{"ev": "status", "status": "auth_success", "message": "authenticated"}]))
        await ws.recv()  # subscribe
        await ws.send(json.dumps([{"ev": "status", "status": "success", "message": "subscribed to: T.*"}]))
        if self.plan.resend and self.state.connections > 1:
            a = max(0, self._next - self.plan.resend)
            await ws.send(json.dumps([e for ev in self.events[a:self._next] for e in ev]))
        await self._play(ws)

    async def _play(self, ws: Any) -> None:
        plan = self.plan
        n = len(self.events)
        if self._t0 is None:
            self._t0 = time.monotonic()
        credit = 0.0
        last = time.monotonic()
        while self._next < n:
            now = time.monotonic()
            credit = min(credit + (now - last) * plan.rate_at(now - self._t0), plan.frame_rows * 4)
            last = now
            k = min(int(credit), plan.frame_rows, n - self._next)
            if plan.drop_after is not None and self._sent_total < plan.drop_after <= self._sent_total + k:
                k = plan.drop_after - self._sent_total
            if k <= 0:
                await asyncio.sleep(0.001)
                continue
            a, b = self._next, self._next + k
            frame = [e for ev in self.events[a:b] for e in ev]
            self.state.sent_ns[a:b] = time.time_ns()
            await ws.send(json.dumps(frame))
            # send() yields only when the socket buffer is full: behind schedule this loop would
            # never let the connection read the client's pings, and the client drops it as dead
            await asyncio.sleep(0)
            self._next = b
            self._sent_total += k
            credit -= k
            if plan.drop_after is not None and self._sent_total == plan.drop_after:
                self.state.drops += 1
                plan.drop_after = None
                await ws.close()
                return
        self.state.done.set()
        await ws.wait_closed()
