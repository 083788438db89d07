"""The Massive stream's column path (``frames(columns=True)``, what the stream service reads)
gives exactly the rows and rejections of the row path, frame by frame, against a local
``websockets`` server: well-formed frames take the fast path, anything unusual goes through
the row path and comes out the same."""

from __future__ import annotations

import asyncio
import json

import pandas as pd
from test_vendor_massive_ws import AUTH_OK, CONNECTED, SPY_QUOTE, SPY_SWEEP, SUBSCRIBED, TSLA_LEG
from vendor_testkit import TEST_KEY
from websockets.asyncio.server import serve

from primeflow_lib.live.stream.journal import blocks_to_arrow, from_arrow, to_arrow
from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.vendors.http import make_frame
from primeflow_lib.vendors.massive_ws import REPEATED, MassiveOptionsStream

SPY = SPY_SWEEP[0]["sym"]  # "O:SPY251219C00650000"


#: above the fixture's sequence numbers for the contract
Q0 = 812_340_100


def _t(**kw) -> dict:
    return {**SPY_SWEEP[0], **kw}


#: one websocket frame per entry, in order: clean ones (fast path) and ones with something the
#: row path has to judge (a repeated q, a bool size, a whole float exchange, a bad symbol)
SCRIPT = [
    [SPY_QUOTE[0], *SPY_SWEEP, *TSLA_LEG],
    [_t(q=Q0 + 1, t=1749825313000), _t(q=Q0 + 2, t=1749825313001, c=None), _t(q=Q0 + 3, t=1749825313002, c=[232, 209], p=19)],
    [_t(q=Q0 + 3, t=1749825313005)],  # q not above the last: sent again
    [_t(q=Q0 + 10, t=1749825313010, s=True)],  # a bool is not a size
    [_t(q=Q0 + 11, t=1749825313011, x=304.0), {"ev": "Q", "sym": SPY, "bp": 18.4, "ap": 18.6}],  # a whole float exchange is accepted
    [{"ev": "status", "status": "success", "message": "ok"}, {"ev": "Q", "sym": "O:NOPE", "bp": 1, "ap": 2},
     _t(q=Q0 + 12, t=1749825313020), {**TSLA_LEG[0], "sym": "O:XYZ", "q": 5}],
    [{**TSLA_LEG[0], "sym": "O:QQQ250620C00500000", "q": 1, "t": 1749839713000},  # a contract never seen, 4 hours later
     {**TSLA_LEG[0], "sym": "O:QQQ250620C00500000", "q": 2, "t": 1749839713001, "c": None},
     {"ev": "AM", "sym": "SPY"}],
    [_t(q=Q0 + 13, t=1749825313030, c=[219, "x"])],  # a condition that is not a number
]


def _read(columns: bool) -> tuple[list, list]:
    async def handler(ws) -> None:
        await ws.send(json.dumps(CONNECTED))
        assert json.loads(await ws.recv())["params"] == TEST_KEY
        await ws.send(json.dumps(AUTH_OK))
        await ws.recv()
        await ws.send(json.dumps(SUBSCRIBED))
        for frame in SCRIPT:
            await ws.send(json.dumps(frame))
        await ws.close()

    async def main() -> tuple[list, list]:
        async with serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            stream = MassiveOptionsStream(TEST_KEY, url=f"ws://127.0.0.1:{port}", max_reconnects=0,
                                          backoff_base=0.01, backoff_max=0.01)
            got, rejected = [], []
            try:
                async for data, rej in stream.frames(strict=False, columns=columns):
                    got.append(data)
                    rejected.extend(rej)
            except Exception:  # noqa: BLE001 - the server closed and no reconnect is allowed
                pass
            return got, rejected

    return asyncio.run(main())


def test_columns_give_the_rows_and_rejections_of_the_row_path():
    rows, rej_rows = _read(columns=False)
    blocks, rej_cols = _read(columns=True)
    assert rej_cols == rej_rows
    reasons = [why for _, why in rej_rows]
    assert reasons.count(REPEATED) == 1 and any("'s' must be an integer" in w for w in reasons)
    assert any("XYZ" in w for w in reasons) and any("conditions" in w for w in reasons)
    assert all(isinstance(b, dict) for b in blocks) and len(blocks) == len(rows)
    via_rows = from_arrow(to_arrow(make_frame(OPTION_PRINTS, [r for f in rows for r in f])))
    via_blocks = from_arrow(blocks_to_arrow(blocks))
    assert len(via_blocks) == len(via_rows) == 12
    pd.testing.assert_frame_equal(via_blocks, via_rows)
    # what the fast path has to get right: the quote in force, NULL without one, the sequence
    # per contract, the ET wall time and session date, the vendor
    spy = via_blocks[via_blocks["option_symbol"] == "SPY251219C00650000"]
    assert spy["seq"].tolist() == list(range(len(spy)))
    assert spy["bid"].iloc[0] == SPY_QUOTE[0]["bp"] and via_blocks["bid"].isna().any()
    assert str(via_blocks["sip_ts"].iloc[0]) == "2025-06-13 10:35:12"
    assert set(via_blocks["vendor"]) == {"massive"}


def test_a_block_is_the_same_whichever_way_the_service_builds_it():
    """A step mixes fast blocks and blocks converted from rows (a frame that took the row
    path): one batch, in order, either way."""
    blocks, _ = _read(columns=True)
    one = from_arrow(blocks_to_arrow(blocks))
    parts = pd.concat([from_arrow(blocks_to_arrow([b])) for b in blocks], ignore_index=True)
    pd.testing.assert_frame_equal(one, parts)
