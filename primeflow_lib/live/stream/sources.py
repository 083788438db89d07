"""Where the stream's prints come from: one interface, several sources.

A source yields :class:`Chunk` objects: prints as received (``flow.option_prints`` columns, in
received order), the source's *position* after the chunk (what to resume from), and optionally a
*clock*: a SIP time no later print of this source will be older than (the broker forwards the
ingest's; a replay knows its own), so quiet underlyings still see their orders complete.

* :class:`ReplaySource`: stored or synthetic prints of a session, at any speed (or as fast as
  possible), resumable from a position (the row after the last one journaled).
* :class:`MassiveSource`: the Massive options websocket (trades, optionally quotes), reconnecting
  with backoff; it cannot replay what was missed while disconnected (the vendor has no replay):
  the gap is counted (``gaps``), and a trade sent again after a reconnect is set aside.
* :class:`~primeflow_lib.live.stream.broker.BrokerSource`: one partition of a NATS JetStream
  stream, resumable from a stream sequence.
* :class:`~primeflow_lib.live.stream.databento_source.DatabentoSource`: Databento's live gateway.

Rejected raw input (an undecodable frame, a malformed trade) travels in ``Chunk.rejected`` to be
quarantined and counted, never dropped silently.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import datetime as dt
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from primeflow_lib.live.stream.journal import blocks_to_arrow, from_arrow, to_arrow
from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.vendors.http import make_frame
from primeflow_lib.vendors.massive_ws import MassiveOptionsStream, rows_block

#: what ``primeflow stream run --source`` accepts
STREAM_SOURCES = ("replay", "massive", "databento", "broker")
#: how the Massive websocket is read (``stream.reader``)
READERS = ("process", "thread")


@dataclass
class Chunk:
    """Prints received together (see module doc).

    Attributes:
        prints: ``flow.option_prints`` rows in received order (may be empty); None when the
            source gave ``rows`` instead (see :meth:`frame`).
        position: the source's position after this chunk (resume after it), or None.
        clock_ns: SIP time (UTC ns) below which this source will send no further print, or None.
        rejected: raw input that is not a print, as ``(raw text, reason)``.
        received_at: when it arrived (UTC).
        sent_ns: per print, when the sender sent it (UTC ns), where the source knows (benchmarks).
        ack_token: what the source needs to acknowledge the chunk once journaled (the broker messages).
    """

    prints: pd.DataFrame | None
    position: str | None = None
    clock_ns: int | None = None
    rejected: list[tuple[str, str]] = field(default_factory=list)
    received_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None))
    sent_ns: np.ndarray | None = None
    ack_token: Any = None
    #: raw ``flow.option_prints`` rows not turned into a frame yet (a websocket frame's trades):
    #: the service builds one frame per step from every chunk's rows, not one per frame
    rows: list[dict[str, Any]] | None = None
    #: the same as blocks of columns, one per websocket frame (``MassiveOptionsStream.frames(columns=True)``;
    #: before ``rows`` when a chunk has both)
    blocks: list[dict[str, Any]] | None = None

    def frame(self) -> pd.DataFrame:
        """The prints as a frame (built from ``blocks`` or ``rows`` when the source gave those)."""
        if self.prints is None:
            if self.blocks:
                self.prints = from_arrow(self.arrow())
            else:
                self.prints = make_frame(OPTION_PRINTS, self.rows or [])
            self.rows = self.blocks = None
        return self.prints

    def arrow(self) -> pa.RecordBatch:
        """Raw blocks and rows (not a frame) as one record batch of the journal's schema."""
        blocks = list(self.blocks or [])
        if self.rows:
            blocks.append(rows_block(self.rows))
        return blocks_to_arrow(blocks) if blocks else to_arrow(OPTION_PRINTS_EMPTY)

    def raw_rows(self) -> int:
        """Prints held as rows or blocks (not as a frame)."""
        return len(self.rows or ()) + sum(len(b["option_symbol"]) for b in self.blocks or ())


def merge_chunks(chunks: list[Chunk]) -> Chunk:
    """One chunk holding ``chunks`` in order: their prints (raw rows kept raw when every chunk
    has rows), the last position, the newest clock, every rejected input, the last receipt
    time (what a publisher sends as one message instead of one per websocket frame)."""
    if len(chunks) == 1:
        return chunks[0]
    pos = next((c.position for c in reversed(chunks) if c.position is not None), None)
    clocks = [c.clock_ns for c in chunks if c.clock_ns is not None]
    rejected = [r for c in chunks for r in c.rejected]
    if all(c.prints is None for c in chunks):
        if not any(c.blocks for c in chunks):
            rows = [r for c in chunks for r in (c.rows or [])]
            return Chunk(None, pos, max(clocks) if clocks else None, rejected, chunks[-1].received_at, rows=rows)
        blocks = [b for c in chunks for b in [*(c.blocks or []), *([rows_block(c.rows)] if c.rows else [])]]
        return Chunk(None, pos, max(clocks) if clocks else None, rejected, chunks[-1].received_at, blocks=blocks)
    frames = [c.frame() for c in chunks]
    frames = [f for f in frames if len(f)] or frames[:1]
    prints = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return Chunk(prints, pos, max(clocks) if clocks else None, rejected, chunks[-1].received_at)


class PrintSource(abc.ABC):
    """A source of prints for the stream service."""

    name = "source"
    #: can :meth:`chunks` resume after a position (no print lost across a restart)?
    resumable = False

    def __init__(self) -> None:
        #: connections opened (1 + reconnects); gaps the vendor could not replay
        self.connections = 0
        self.gaps: list[str] = []

    @abc.abstractmethod
    def chunks(self, after: str | None = None) -> AsyncIterator[Chunk]:
        """Chunks from the position after ``after`` (None: from the start, or live now)."""

    async def ack(self, chunk: Chunk) -> None:  # noqa: B027 - optional hook
        """Called once ``chunk`` is journaled (a broker acknowledges it then)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


def setting_ms(name: str, value: Any, default: float) -> float:
    """A ``stream.<name>`` setting in milliseconds, checked: a number in (0, 1000] (None: ``default``)."""
    v = default if value is None else value
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < float(v) <= 1000:
        raise ValueError(f"stream.{name}: expected milliseconds in (0, 1000], got {value!r}")
    return float(v)


def received_order(prints: pd.DataFrame, group: str = "underlying") -> pd.DataFrame:
    """Rows in one received order across groups when each ``group`` (default the underlying)
    is already in its own received order (the synthetic vendor's frames; a stored day sorted by
    contract and ``seq`` with ``group="option_symbol"``): a row arrives no earlier than the
    newest SIP time its group showed before it, so a late report (older timestamp) arrives where
    it was received, not at its trade time. Stable: ties keep the input order."""
    if prints.empty:
        return prints
    p = prints.reset_index(drop=True)
    key = p.groupby(p[group].astype(str), sort=False)["sip_timestamp"].cummax().to_numpy(np.int64)
    order = np.lexsort((np.arange(len(p)), key))
    return p.iloc[order].reset_index(drop=True)


class ReplaySource(PrintSource):
    """Prints of one session replayed in received order.

    Args:
        prints: ``flow.option_prints`` rows, already in received order (:func:`received_order`).
        speed: market seconds per wall second (1 = real time); None = as fast as possible.
        chunk_rows: at most this many prints per chunk.
        clock: wall clock (seconds), injectable for tests; ``sleep`` likewise.
    """

    name = "replay"
    resumable = True

    def __init__(self, prints: pd.DataFrame, *, speed: float | None = None, chunk_rows: int = 500,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        super().__init__()
        if speed is not None and speed <= 0:
            raise ValueError(f"replay speed must be > 0 (market seconds per wall second), got {speed}")
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        self.prints = prints.reset_index(drop=True)
        self.speed = speed
        self.chunk_rows = chunk_rows
        self._clock = clock
        self._sleep = sleep
        ts = self.prints["sip_timestamp"].to_numpy(np.int64) if len(self.prints) else np.zeros(0, np.int64)
        self._arrive = np.maximum.accumulate(ts) if len(ts) else ts

    async def chunks(self, after: str | None = None) -> AsyncIterator[Chunk]:
        self.connections += 1
        start = int(after) + 1 if after is not None else 0
        n = len(self.prints)
        if start >= n:
            return
        t_wall0 = self._clock()
        t_mkt0 = int(self._arrive[start])
        i = start
        while i < n:
            j = min(i + self.chunk_rows, n)
            if self.speed is not None:
                # rows arriving by the time the first one is due, at most chunk_rows
                due = t_wall0 + (self._arrive[i] - t_mkt0) / 1e9 / self.speed
                wait = due - self._clock()
                if wait > 0:
                    await self._sleep(wait)
                now_mkt = t_mkt0 + (self._clock() - t_wall0) * self.speed * 1e9
                j = min(max(i + 1, int(np.searchsorted(self._arrive, now_mkt, side="right"))), i + self.chunk_rows, n)
            else:
                await asyncio.sleep(0)  # let the service commit between chunks
            yield Chunk(self.prints.iloc[i:j], position=str(j - 1), clock_ns=int(self._arrive[j - 1]))
            i = j


class MassiveSource(PrintSource):
    """The Massive options websocket (see :mod:`primeflow_lib.vendors.massive_ws`).

    The websocket is read on its own thread (with its own event loop): a scoring step holds the
    service's loop for its whole length, and a connection read only between steps falls behind
    the server under load; its keepalive pong then waits behind everything unread and the client
    drops the connection as dead (``keepalive ping timeout``), losing what the server sends until
    it reconnects. Read on a thread, frames are taken off the socket as they come and wait in
    memory for the next step; the lag shows in the status (``lag_seconds``).

    With ``reader="process"`` (``stream.reader``, the default for the Massive client) the
    websocket is read in a child process instead (:mod:`~primeflow_lib.live.stream.reader_process`):
    in a burst the reader took half of the service's interpreter lock.

    Args:
        stream: a configured :class:`~primeflow_lib.vendors.massive_ws.MassiveOptionsStream`.
        reader: ``"process"`` or ``"thread"`` (a stream object that cannot be pickled to a child,
            a test's stand-in, is always read on a thread).
        flush_ms: with the process reader, how long the child gathers frames into one message
            (``stream.reader_flush_ms``, milliseconds > 0).
    """

    name = "massive"
    resumable = False

    def __init__(self, stream: Any, *, reader: str = "thread", flush_ms: float | None = None) -> None:
        super().__init__()
        if reader not in READERS:
            raise ValueError(f"stream.reader: expected one of {', '.join(READERS)}, got {reader!r}")
        from primeflow_lib.live.stream.reader_process import FLUSH_MS

        self.stream = stream
        self.reader = reader
        self.flush_ms = setting_ms("reader_flush_ms", flush_ms, FLUSH_MS)

    async def chunks(self, after: str | None = None) -> AsyncIterator[Chunk]:
        if after is not None:
            self.gaps.append(f"restarted after position {after}: the Massive websocket cannot replay; "
                             "prints sent while the stream was down were not received")
        inbox = _Doorbell(asyncio.get_running_loop())
        if self.reader == "process" and isinstance(self.stream, MassiveOptionsStream):
            from primeflow_lib.live.stream.reader_process import ProcessFrames

            reader: Any = ProcessFrames(self.stream, inbox.put, _END, flush_ms=self.flush_ms)
        else:
            reader = _ThreadedFrames(self.stream, inbox.put)
        reader.start()
        seen = 0
        try:
            while True:
                # every frame already waiting goes out as one chunk: under a burst the reader
                # queues hundreds of frames a second, and each chunk costs the service's loop
                # a wake-up whatever its size
                items = await inbox.take()
                got: list[Chunk] = []
                end: Any = None
                for item in items:
                    if item is _END or isinstance(item, BaseException):
                        end = item
                        break
                    conns, data, rejected = item
                    if conns != seen:
                        if seen:
                            self.gaps.append(f"reconnected at {dt.datetime.now(dt.UTC):%H:%M:%S} UTC "
                                             f"(connection {conns}); prints sent while "
                                             "disconnected were not received")
                        seen = conns
                    self.connections = conns
                    if isinstance(data, dict):
                        got.append(Chunk(None, position=None, rejected=list(rejected), blocks=[data]))
                    else:
                        got.append(Chunk(None, position=None, rejected=list(rejected), rows=data))
                if got:
                    yield merge_chunks(got)
                if end is _END:
                    return
                if end is not None:
                    raise end
        finally:
            reader.stop()


_END = object()


class _Doorbell:
    """Items handed from a thread to an event loop with at most one wake-up of the loop per
    :meth:`take`: the websocket reader hands over ~1,000 frames a second, and a wake-up each
    (a write to the loop's self-pipe, a callback, the interpreter lock passed back and forth)
    cost more than reading the frame."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: list[Any] = []
        self._lock = threading.Lock()
        self._rung = False
        self._event = asyncio.Event()

    def put(self, item: Any) -> None:
        """From any thread."""
        with self._lock:
            self._items.append(item)
            ring, self._rung = not self._rung, True
        if ring:
            self._loop.call_soon_threadsafe(self._event.set)

    async def take(self) -> list[Any]:
        """Everything put since the last take (waits for at least one item)."""
        while True:
            await self._event.wait()
            with self._lock:
                items, self._items = self._items, []
                self._rung = False
                self._event.clear()
            if items:
                return items


class _ThreadedFrames:
    """``stream.frames(strict=False)`` run on a daemon thread with its own event loop; each
    ``(connections, rows, rejected)``, then ``_END`` or the exception that ended it, goes to
    ``put`` (thread-safe)."""

    def __init__(self, stream: Any, put: Callable[[Any], Any]) -> None:
        self.stream = stream
        self.put = put
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="massive-ws-reader", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self._ready.wait()

    def stop(self) -> None:
        """Cancel the reading (the connection closes); returns at once."""
        if self._loop is not None and self._task is not None:
            with contextlib.suppress(RuntimeError):  # the reader's loop already ended
                self._loop.call_soon_threadsafe(self._task.cancel)

    def _frames(self) -> AsyncIterator[tuple[Any, list[tuple[str, str]]]]:
        """The stream's frames as blocks of columns where it can give them (the Massive client),
        else as rows."""
        try:
            return self.stream.frames(strict=False, columns=True)
        except TypeError:  # a stream without blocks
            return self.stream.frames(strict=False)

    def _send(self, item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the consumer's loop is gone: nobody to tell
            self.put(item)

    def _run(self) -> None:
        async def pump() -> None:
            try:
                async for data, rejected in self._frames():
                    self._send((self.stream.connections, data, rejected))
            except asyncio.CancelledError:
                return
            except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
                self._send(exc)
                return
            self._send(_END)

        self._loop = asyncio.new_event_loop()
        try:
            self._task = self._loop.create_task(pump())
            self._ready.set()
            with contextlib.suppress(asyncio.CancelledError):  # stopped before it began
                self._loop.run_until_complete(self._task)
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._ready.set()
            self._loop.close()


OPTION_PRINTS_EMPTY = make_frame(OPTION_PRINTS, [])
