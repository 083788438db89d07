"""The Massive options stream client against a local ``websockets`` server that speaks the
documented frames (tests/fixtures/massive/ws_options_stream_frames.json)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pandas as pd
import pytest
from vendor_testkit import TEST_KEY, load_json
from websockets.asyncio.server import ServerConnection, serve

from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.vendors.base import VendorAuthError, VendorDataError, VendorError
from primeflow_lib.vendors.massive_ws import MassiveOptionsStream

FRAMES = load_json("massive", "ws_options_stream_frames.json")
CONNECTED, AUTH_OK, SUBSCRIBED, SPY_SWEEP, TSLA_LEG, SPY_QUOTE, MAX_CONN = FRAMES


async def _handshake(ws: ServerConnection, received: list[dict]) -> bool:
    """Server side of connect/auth/subscribe; False when the key is wrong."""
    await ws.send(json.dumps(CONNECTED))
    auth = json.loads(await ws.recv())
    received.append(auth)
    if auth != {"action": "auth", "params": TEST_KEY}:
        await ws.send(
            json.dumps(
                [{"ev": "status", "status": "auth_failed", "message": "authentication failed"}]
            )
        )
        return False
    await ws.send(json.dumps(AUTH_OK))
    received.append(json.loads(await ws.recv()))
    await ws.send(json.dumps(SUBSCRIBED))
    return True


async def _run(
    script: Callable[[ServerConnection, int, list[dict]], Awaitable[None]],
    consume: Callable[[MassiveOptionsStream], Awaitable[Any]],
    key: str = TEST_KEY,
    **kwargs: Any,
) -> tuple[Any, list[dict], MassiveOptionsStream]:
    received: list[dict] = []
    count = {"n": 0}

    async def handler(ws: ServerConnection) -> None:
        count["n"] += 1
        await script(ws, count["n"], received)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        kwargs.setdefault("backoff_base", 0.01)
        kwargs.setdefault("backoff_max", 0.02)
        stream = MassiveOptionsStream(
            key, url=f"ws://127.0.0.1:{port}", connect_timeout=2, **kwargs
        )
        result = await asyncio.wait_for(consume(stream), timeout=10)
    return result, received, stream


async def _collect(stream: MassiveOptionsStream, n: int | None = None) -> list[dict]:
    rows: list[dict] = []
    try:
        async for row in stream.rows():
            rows.append(row)
            if n is not None and len(rows) >= n:
                break
    except VendorError as exc:
        rows.append({"error": exc})
    return rows


def test_documented_frames_become_option_print_rows_until_max_connections():
    async def script(ws, n, received):
        if await _handshake(ws, received):
            for frame in (SPY_SWEEP, TSLA_LEG, SPY_QUOTE, MAX_CONN):
                await ws.send(json.dumps(frame))
            await ws.wait_closed()

    rows, received, stream = asyncio.run(_run(script, _collect))
    assert received == [
        {"action": "auth", "params": TEST_KEY},
        {"action": "subscribe", "params": "T.*"},
    ]
    *trades, last = rows
    # max_connections is fatal: another consumer holds the slot, reconnecting would fight it
    assert isinstance(last["error"], VendorError) and "max_connections" in str(last["error"])
    assert stream.connections == 1
    assert len(trades) == 5
    frame = pd.DataFrame(trades)
    assert set(frame.columns) == set(OPTION_PRINTS.column_names)
    spy = frame[frame["option_symbol"] == "SPY251219C00650000"]
    assert spy["seq"].tolist() == [0, 1, 2, 3]
    assert spy["exchange"].tolist() == [302, 308, 316, 323]
    assert spy["sip_timestamp"].iloc[0] == 1749825312000 * 1_000_000  # ms -> ns
    assert spy["sip_ts"].iloc[0] == dt.datetime(2025, 6, 13, 10, 35, 12)
    assert set(spy["conditions"]) == {"219"} and set(spy["underlying"]) == {"SPY"}
    tsla = frame[frame["underlying"] == "TSLA"].iloc[0]
    assert (tsla["conditions"], tsla["price"], tsla["size"], tsla["seq"]) == ("232", 4.15, 10, 0)
    assert frame["bid"].isna().all()  # the quote came after the trades
    assert frame["print_id"].is_unique and set(frame["vendor"]) == {"massive"}
    assert set(frame["trade_date"]) == {dt.date(2025, 6, 13)}


def test_reconnects_with_backoff_and_resubscribes():
    async def script(ws, n, received):
        if not await _handshake(ws, received):
            return
        if n == 1:
            await ws.send(json.dumps(SPY_SWEEP[:2]))
            return  # handler returns: the server closes this connection
        await ws.send(json.dumps(SPY_SWEEP[2:]))
        await ws.send(json.dumps(TSLA_LEG))
        await ws.wait_closed()

    rows, received, stream = asyncio.run(_run(script, lambda s: _collect(s, 5)))
    assert stream.connections == 2
    assert [m["action"] for m in received] == ["auth", "subscribe", "auth", "subscribe"]
    assert [r["seq"] for r in rows if r["underlying"] == "SPY"] == [0, 1, 2, 3]
    assert len(rows) == 5


def test_gives_up_after_bounded_reconnects():
    async def script(ws, n, received):
        await ws.close()  # drop every connection at once

    rows, _received, stream = asyncio.run(_run(script, _collect, max_reconnects=2))
    (only,) = rows
    assert "gave up after 3 failed connections" in str(only["error"])
    assert stream.connections == 3


def test_rejected_key_is_an_auth_error_and_not_retried():
    async def script(ws, n, received):
        await _handshake(ws, received)
        await ws.wait_closed()

    rows, received, stream = asyncio.run(_run(script, _collect, key="WRONG-KEY-123456"))
    (only,) = rows
    assert isinstance(only["error"], VendorAuthError)
    assert "WRONG-KEY-123456" not in str(only["error"])
    assert stream.connections == 1


def test_quotes_fill_bid_ask_of_later_trades_and_batches_are_frames():
    async def script(ws, n, received):
        if await _handshake(ws, received):
            await ws.send(json.dumps(SPY_QUOTE))
            await ws.send(json.dumps(SPY_SWEEP))
            await ws.wait_closed()

    async def consume(stream):
        async for batch in stream.batches(max_rows=4, max_seconds=60):
            return batch

    batch, _received, _stream = asyncio.run(
        _run(script, consume, subscriptions=("T.*", "Q.O:SPY251219C00650000"))
    )
    assert list(batch.columns) == OPTION_PRINTS.column_names and len(batch) == 4
    assert batch["bid"].tolist() == [18.35] * 4 and batch["ask"].tolist() == [18.55] * 4
    assert batch["sip_ts"].dtype == "datetime64[us]"


def test_undecodable_frame_is_a_data_error():
    async def script(ws, n, received):
        if await _handshake(ws, received):
            await ws.send("this is not json")
            await ws.wait_closed()

    rows, _received, stream = asyncio.run(_run(script, lambda s: _collect(s, 1)))
    (only,) = rows
    assert isinstance(only["error"], VendorDataError)
    assert "undecodable frame" in str(only["error"])
    assert stream.connections == 1  # a broken feed is reported, not papered over


def test_missing_key_fails_at_construction():
    with pytest.raises(VendorAuthError, match="POLYGON_MASSIVE_KEY"):
        MassiveOptionsStream(None)


def test_a_symbol_that_is_not_a_string_is_rejected_not_a_crash():
    """A trade whose ``sym`` is a list (valid JSON, not a symbol) is a rejected row with the
    reason; a quote like it is ignored; the stream reads on."""
    bad_trade = {**SPY_SWEEP[0], "sym": ["O:SPY251219C00650000"]}
    bad_quote = {**SPY_QUOTE[0], "sym": {"not": "a symbol"}}

    async def script(ws, n, received):
        if await _handshake(ws, received):
            await ws.send(json.dumps([bad_quote, bad_trade, *SPY_SWEEP]))
            await ws.wait_closed()

    async def consume(stream):
        async for rows, rejected in stream.frames(strict=False):
            return rows, rejected

    (rows, rejected), _received, _stream = asyncio.run(_run(script, consume))
    assert len(rows) == len(SPY_SWEEP)
    ((raw, why),) = rejected
    assert "symbol must be a string" in why and "O:SPY251219C00650000" in raw
