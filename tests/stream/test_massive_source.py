"""The stream on the Massive websocket protocol, against the local server
(:mod:`primeflow_lib.live.stream.ws_server`): a disconnect mid-burst (reconnect with backoff, the
trades sent again set aside by their sequence number), malformed messages, a print for a contract
that does not parse and a clock that jumps: each counted and quarantined with its reason, never a
crash, never a silent drop, and the rest still scored into alerts."""

from __future__ import annotations

import asyncio
import json

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
def test_massive_stream_rides_out_disconnects_and_bad_input(tmp_path):
    s = session()
    tape = without_cancels(s.prints).iloc[:3000].reset_index(drop=True)
    cfg = stream_cfg()
    cfg["stream"]["inbox_seconds"] = 0

    async def scenario():
        plan = ServePlan(rate=4000, frame_rows=40, drop_after=1200, resend=25, key="k")
        async with Hostile(tape, plan) as srv:
            client = MassiveOptionsStream("k", url=srv.url, connect_timeout=5, backoff_base=0.01, backoff_max=0.05)
            svc = StreamService(cfg, MassiveSource(client), s.day, loader(s), root=tmp_path / "stream",
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
