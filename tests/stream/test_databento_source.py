"""The Databento live source through the official client (``databento.Live``) against a local
gateway that speaks the live protocol (greeting, CRAM challenge, authentication, subscriptions,
session start, then one DBN stream) and replays real OPRA records: an AAPL call's definition and
its ``tbbo`` trades (``PRIMEFLOW_REAL_DATA``). Checks the records become the same
``flow.option_prints`` rows as the historical decoder's, a wrong key is refused, and a restart
from the source's position replays from that instant (the repeated nanosecond's prints come again
and are recognised as records delivered twice)."""

from __future__ import annotations

import asyncio
import random
import string

import numpy as np
import pandas as pd
import pytest
import zstandard

from primeflow_lib.live.stream.databento_source import DatabentoSource
from primeflow_lib.vendors.databento import dbn

KEY = "db-" + "A" * 24 + "Bkt42"


def _records(path):
    import databento_dbn as d

    dec = d.DBNDecoder()
    dec.write(zstandard.ZstdDecompressor().decompressobj().decompress(path.read_bytes()))
    recs = dec.decode()
    return recs[0], recs[1:]


class Gateway:
    """A local live gateway replaying ``definitions`` then ``prints`` (records ``ts_event`` >= the
    subscription's ``start``)."""

    def __init__(self, meta, definitions, prints) -> None:
        self.meta, self.definitions, self.prints = meta, definitions, prints
        self.sessions = 0
        self.refused = 0
        self.subscriptions: list = []

    async def handle(self, reader, writer) -> None:
        from databento.common import cram
        from databento.live.gateway import (
            AuthenticationRequest,
            AuthenticationResponse,
            ChallengeRequest,
            Greeting,
            SessionStart,
            SubscriptionRequest,
            parse_gateway_message,
        )
        from databento_dbn import Metadata, Schema, SType

        challenge = "".join(random.choice(string.ascii_letters) for _ in range(32))  # noqa: S311 - a test nonce
        writer.write(bytes(Greeting(lsg_version="0.4.2")) + bytes(ChallengeRequest(cram=challenge)))
        await writer.drain()
        start = None
        while line := await reader.readline():
            msg = parse_gateway_message(line.decode())
            if isinstance(msg, AuthenticationRequest):
                if msg.auth != cram.get_challenge_response(challenge, KEY):
                    self.refused += 1
                    writer.write(bytes(AuthenticationResponse(success="0", error="Authentication failed.")))
                    await writer.drain()
                    writer.close()
                    return
                writer.write(bytes(AuthenticationResponse(success="1", session_id=str(self.sessions))))
            elif isinstance(msg, SubscriptionRequest):
                self.subscriptions.append(msg)
                if msg.start is not None:
                    start = int(msg.start)
            elif isinstance(msg, SessionStart):
                self.sessions += 1
                meta = Metadata(dataset=self.meta.dataset, start=0, stype_in=SType.PARENT,
                                stype_out=SType.INSTRUMENT_ID, schema=Schema.MBP_1, version=self.meta.version)
                out = bytearray(meta.encode())
                for r in self.definitions:
                    out += bytes(r)
                for r in self.prints:
                    if start is None or r.ts_event >= start:
                        out += bytes(r)
                writer.write(bytes(out))
                await writer.drain()
                writer.write_eof()
                return
            await writer.drain()


async def _collect(gw: Gateway, port: int, key: str, after: str | None = None):
    src = DatabentoSource(key, schema="tbbo", symbols=["AAPL"], gateway="127.0.0.1", port=port)
    chunks = []
    async for ch in src.chunks(after):
        chunks.append(ch)
    await src.close()
    return src, chunks


@pytest.mark.slow
def test_databento_live_client_through_a_local_gateway(real_data):
    base = real_data / "databento" / "OPRA.PILLAR"
    _, defs = _records(base / "test_data.definition.dbn.zst")
    meta, tbbo = _records(base / "test_data.tbbo.dbn.zst")
    gw = Gateway(meta, defs, tbbo)
    want = dbn.prints(dbn.read_file(base / "test_data.tbbo.dbn.zst"),
                      dbn.contracts(dbn.read_file(base / "test_data.definition.dbn.zst")))

    async def scenario():
        server = await asyncio.start_server(gw.handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            src, chunks = await _collect(gw, port, KEY)
            got = pd.concat([c.prints for c in chunks], ignore_index=True)
            pos = chunks[-1].position
            _, again = await _collect(gw, port, KEY, after=pos)
            with pytest.raises(Exception) as bad:
                await _collect(gw, port, "db-" + "B" * 24 + "Bkt42")
        return src, got, pos, again, bad

    src, got, pos, again, bad = asyncio.run(scenario())
    assert len(want) == 4 and gw.sessions >= 2
    cols = ["print_id", "option_symbol", "underlying", "sip_timestamp", "exchange", "price", "size", "conditions",
            "bid", "ask", "vendor", "vendor_sequence", "quote_source"]
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True), want[cols].reset_index(drop=True), check_dtype=False)
    assert {s.stype_in for s in gw.subscriptions} == {"parent"} and {s.symbols for s in gw.subscriptions} == {"AAPL.OPT"}
    # resuming at the last delivered instant: only that instant's prints come again
    assert int(pos) == int(want["sip_timestamp"].max())
    again_p = pd.concat([c.prints for c in again], ignore_index=True)
    assert set(again_p["print_id"]) == set(want.loc[want["sip_timestamp"] == int(pos), "print_id"])
    assert gw.refused == 1 and "auth" in str(bad.value).lower()
    assert np.all(got["trade_date"].astype(str) == "2025-02-20")
