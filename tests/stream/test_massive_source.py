"""The stream on the Massive websocket protocol, against the local server
(:mod:`primeflow_lib.live.stream.ws_server`): a disconnect mid-burst (reconnect with backoff, the
trades sent again set aside by their sequence number), malformed messages, a print for a contract
that does not parse and a clock that jumps: each counted and quarantined with its reason, never a
crash, never a silent drop, and the rest still scored into alerts."""

from __future__ import annotations

import asyncio
import json
import time

import duckdb
import pytest
from stream_fixtures import loader, session, stream_cfg, without_cancels

from primeflow_lib.live.stream.service import StreamService
from primeflow_lib.live.stream.sources import MassiveSource
from primeflow_lib.live.stream.ws_server import MassiveReplayServer, ServePlan
from primeflow_lib.vendors.massive_ws import REPEATED, MassiveOptionsStream


class Hostile(MassiveReplayServer):
    """Sends, before the prints, one undecodable frame, one malformed trade, one trade of an
    unparseable contract and one stamped a day later (a clock that jumped)."""

    async def _play(self, ws) -> None:
        if self.state.connections == 1:
            await ws.send("{not json")
            good = self.events[0][-1]
            await ws.send(json.dumps([
                {**good, "p": "cheap"},
                {**good, "sym": "O:NOT_A_SYMBOL", "q": 10**9},
                {**good, "t": good["t"] + 86_400_000, "q": 10**9 + 1, "sym": "O:SPY250620C00999000"},
            ]))
        await super()._play(ws)


@pytest.mark.slow
@pytest.mark.parametrize("reader", ["thread", "process"])
def test_massive_stream_rides_out_disconnects_and_bad_input(tmp_path, reader):
    s = session()
    tape = without_cancels(s.prints).iloc[:3000].reset_index(drop=True)
    cfg = stream_cfg()
    cfg["stream"]["inbox_seconds"] = 0

    async def scenario():
        plan = ServePlan(rate=4000, frame_rows=40, drop_after=1200, resend=25, key="k")
        async with Hostile(tape, plan) as srv:
            client = MassiveOptionsStream("k", url=srv.url, connect_timeout=5, backoff_base=0.01, backoff_max=0.05)
            svc = StreamService(cfg, MassiveSource(client, reader=reader), s.day, loader(s), root=tmp_path / "stream",
                                inbox=tmp_path / "inbox", relay=False)
            stop = asyncio.Event()

            async def until_done():
                await srv.state.done.wait()
                while svc.report.prints < len(tape):
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.5)
                stop.set()

            watcher = asyncio.create_task(until_done())
            rep = await svc.run(stop)
            watcher.cancel()
            return rep, srv.state, svc

    rep, state, svc = asyncio.run(scenario())
    assert state.connections == 2 and state.drops == 1  # one disconnect mid-burst, one reconnect
    assert rep.connections == 2 and any("reconnected" in g for g in rep.gaps)
    with duckdb.connect(str(svc.db_path), read_only=True) as con:
        q = con.execute("SELECT source, reason, count(*) FROM flow.quarantine GROUP BY 1, 2 ORDER BY 2").fetchall()
        signals = con.execute("SELECT count(*) FROM stream.signals").fetchone()[0]
    reasons = {r: n for _src, r, n in q}
    assert reasons[REPEATED] == 25  # the trades sent again after the reconnect, set aside by q
    assert reasons["undecodable websocket frame"] == 1
    assert any("price 'p' must be a number" in r for r in reasons)
    assert any("OCC" in r or "option symbol" in r.lower() for r in reasons)
    assert any("another session" in r for r in reasons)  # the print whose clock jumped a day ahead
    # every print served was received once (+ the jumped one, received then quarantined): no silent drop
    assert rep.prints == len(tape) + 1
    assert svc.scorer.counts["duplicates"] == 0
    assert signals > 10



@pytest.mark.slow
def test_stream_serve_stops_on_ctrl_c_after_its_last_print(tmp_path):
    """``primeflow stream serve`` with a client still connected after the last print: SIGINT
    (Ctrl-C) stops it within seconds, also when it was started the way ``make stream`` starts it
    (a background job of a non-interactive shell, which inherits SIGINT ignored: it used to keep
    serving)."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    import websockets

    with socket.socket() as s_:
        s_.bind(("127.0.0.1", 0))
        port = s_.getsockname()[1]
    exe = Path(sys.executable).with_name("primeflow")
    env = {**os.environ, "PRIMEFLOW_DUCKDB": str(tmp_path / "w.duckdb"),
           "PRIMEFLOW_READ_DUCKDB": str(tmp_path / "r.duckdb")}
    proc = subprocess.Popen([str(exe), "stream", "serve", "--date", "2025-06-12", "--tickers", "SPY",
                             "--rate", "100000", "--port", str(port), "--key", "k"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert "serving" in proc.stdout.readline()

        async def client() -> None:
            ws = await websockets.connect(f"ws://127.0.0.1:{port}", max_size=2**24)
            await ws.recv()
            await ws.send(json.dumps({"action": "auth", "params": "k"}))
            await ws.recv()
            await ws.send(json.dumps({"action": "subscribe", "params": "T.*"}))
            while True:  # until the server goes quiet: every print was sent
                try:
                    await asyncio.wait_for(ws.recv(), 2.0)
                except TimeoutError:
                    break
            assert "all prints sent" in proc.stdout.readline()
            t0 = time.monotonic()
            proc.send_signal(signal.SIGINT)
            while proc.poll() is None and time.monotonic() - t0 < 15:
                await asyncio.sleep(0.1)  # the client keeps its connection open meanwhile

        asyncio.run(client())
        assert proc.poll() == 0, "stream serve still running 15 s after Ctrl-C"
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_the_replay_server_stops_while_a_client_holds_its_connection_idle():
    """``primeflow stream serve`` stopped with Ctrl-C after its last print: a connected client
    that neither reads nor closes cannot keep it running (the closing handshake is bounded)."""
    import time

    import websockets

    prints = session().prints.iloc[:50]

    async def main() -> float:
        async with MassiveReplayServer(prints, ServePlan(rate=10_000, key="k")) as srv:
            ws = await websockets.connect(srv.url)
            await ws.recv()
            await ws.send(json.dumps({"action": "auth", "params": "k"}))
            await ws.recv()
            await ws.send(json.dumps({"action": "subscribe", "params": "T.*"}))
            await ws.recv()
            await asyncio.wait_for(srv.state.done.wait(), 30)
            t0 = time.monotonic()
            # the client stays connected and stops reading: the server must still stop
            await srv.close(timeout_s=0.5)
            took = time.monotonic() - t0
            ws.transport.abort()
            return took

    assert asyncio.run(main()) < 5.0


class _QueuedFrames:
    """A stand-in for the websocket client: three frames (one with a rejected trade, one on a
    second connection), all read before the service asks for any, then the end."""

    connections = 0

    async def frames(self, strict: bool = False):
        script = [(1, [{"n": 1}, {"n": 2}], []), (1, [{"n": 3}], [("raw", "why")]), (2, [{"n": 4}], [])]
        for conns, rows, rejected in script:
            self.connections = conns
            yield rows, rejected


def test_frames_waiting_together_come_out_as_one_chunk_in_order():
    """A burst queues many frames while the service's loop is busy scoring: they are handed over
    as one chunk (rows in order, rejections kept, the reconnect noted), then the end."""
    async def read():
        src = MassiveSource(_QueuedFrames())
        it = src.chunks()
        first = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0)  # the reader thread starts; the consumer waits for its first frame
        time.sleep(0.3)  # the loop is busy (a scoring step): every frame and the end queue up
        chunk = await first
        with pytest.raises(StopAsyncIteration):
            await it.__anext__()
        return src, chunk

    src, chunk = asyncio.run(read())
    assert [r["n"] for r in chunk.rows] == [1, 2, 3, 4]
    assert chunk.rejected == [("raw", "why")]
    assert src.connections == 2 and len(src.gaps) == 1 and "connection 2" in src.gaps[0]


def test_the_reader_process_raises_the_vendors_error_in_the_service():
    """A stream that ends with an error in the reader process (a rejected key) raises the same
    error type in the service, with its message; the process is gone after."""
    from primeflow_lib.vendors.base import VendorAuthError

    async def scenario():
        plan = ServePlan(rate=1000, key="right")
        async with MassiveReplayServer(session().prints.iloc[:10], plan) as srv:
            src = MassiveSource(MassiveOptionsStream("wrong", url=srv.url, connect_timeout=5), reader="process")
            with pytest.raises(VendorAuthError, match="authentication failed"):
                async for _ in src.chunks():
                    pass

    asyncio.run(scenario())


def test_a_reader_that_is_not_known_is_refused():
    with pytest.raises(ValueError, match="stream.reader"):
        MassiveSource(object(), reader="fiber")


@pytest.mark.parametrize("bad", [0, -5, 5000, "10", True, float("nan")])
def test_a_flush_interval_that_is_not_milliseconds_is_refused(bad):
    with pytest.raises(ValueError, match=r"stream.reader_flush_ms.*got"):
        MassiveSource(object(), reader="process", flush_ms=bad)


def test_the_flush_interval_defaults_to_the_reader_process_setting():
    from primeflow_lib.live.stream.reader_process import FLUSH_MS

    assert MassiveSource(object()).flush_ms == FLUSH_MS
    assert MassiveSource(object(), flush_ms=5).flush_ms == 5.0
