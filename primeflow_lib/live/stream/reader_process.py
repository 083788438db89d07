"""The Massive websocket read in a child process, handing the service Arrow record batches.

Why a process: in a burst the websocket reader (the ``websockets`` client, JSON, a frame's trades
into columns: ~150 us a frame plus ~5 us a trade) took about half of the service's interpreter
lock, so the scoring loop ran on half a core while the alerts waited. In a child it runs beside
the loop; what crosses over is one Arrow IPC message every few milliseconds (the columns
already typed), which the parent reads without a Python object per print.

The child runs :meth:`~primeflow_lib.vendors.massive_ws.MassiveOptionsStream.frames` with
``columns=True`` (reconnects and backoff as in-process), gathers what arrives within
``flush_ms`` and sends ``(connections, ipc bytes or None, rejected)``; an exception that ends
the stream is sent as ``("error", type, message, vendor)`` and raised again in the parent with
its type (:class:`~primeflow_lib.vendors.base.VendorError` and its subclasses); the end as
``("end",)``. The child dies with its parent (``PR_SET_PDEATHSIG``) and ignores Ctrl-C (the
service stops it).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import multiprocessing as mp
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

import pyarrow as pa

from primeflow_lib.live.stream.journal import SCHEMA, blocks_to_arrow
from primeflow_lib.vendors import base as vendor_errors

#: how long the child gathers frames into one message (milliseconds; ``stream.reader_flush_ms``)
FLUSH_MS = 10.0


def encode_blocks(blocks: list[dict[str, Any]]) -> bytes:
    """Blocks of columns as one Arrow IPC stream message of the journal's schema."""
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, SCHEMA) as w:
        w.write_batch(blocks_to_arrow(blocks))
    return sink.getvalue()


def decode_block(data: bytes) -> dict[str, Any]:
    """An IPC message of :func:`encode_blocks` as one block (column name -> Arrow array)."""
    with pa.ipc.open_stream(pa.py_buffer(data)) as r:
        batch = r.read_next_batch()
    return {name: batch.column(i) for i, name in enumerate(batch.schema.names)}


def _error_message(exc: BaseException) -> tuple:
    return ("error", type(exc).__name__, str(exc), getattr(exc, "vendor", ""))


def raise_error(kind: str, message: str, vendor: str) -> None:
    """Raise what the child reported, with its type where it is a vendor error."""
    cls = getattr(vendor_errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, vendor_errors.VendorError):
        raise cls(message, vendor=vendor)
    raise RuntimeError(f"websocket reader: {kind}: {message}")


def _child_main(stream: Any, conn: Any, parent_pid: int, flush_ms: float) -> None:
    from primeflow_lib.live.stream.writer import die_with_parent

    die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    async def pump() -> None:
        loop = asyncio.get_running_loop()
        pending: list[dict[str, Any]] = []
        rejected: list[tuple[str, str]] = []
        timer: asyncio.TimerHandle | None = None

        def flush() -> None:
            nonlocal pending, rejected, timer
            timer = None
            if pending or rejected:
                blocks, rej = pending, rejected
                pending, rejected = [], []
                conn.send((stream.connections, encode_blocks(blocks) if blocks else None, rej))

        try:
            async for data, rej in stream.frames(strict=False, columns=True):
                if len(data["option_symbol"]):
                    pending.append(data)
                rejected.extend(rej)
                if timer is None:
                    timer = loop.call_later(flush_ms / 1000.0, flush)
        except Exception as exc:  # noqa: BLE001 - handed to the parent, which raises it
            flush()
            conn.send(_error_message(exc))
            return
        if timer is not None:
            timer.cancel()
        flush()
        conn.send(("end",))

    try:
        asyncio.run(pump())
    except (BrokenPipeError, EOFError, OSError):  # the parent went away
        pass
    finally:
        with contextlib.suppress(OSError):
            conn.close()


class ProcessFrames:
    """The child process (module doc) and the parent's listener thread, with the interface of
    the in-process reader thread: ``put`` gets ``(connections, block, rejected)`` per message,
    then ``_END`` or the exception that ended the stream."""

    def __init__(self, stream: Any, put: Callable[[Any], Any], end: Any, *, flush_ms: float = FLUSH_MS) -> None:
        self.put = put
        self._end = end
        ctx = mp.get_context("spawn")  # the service has threads and open files: no fork
        self._conn, child = ctx.Pipe(duplex=False)
        self._proc = ctx.Process(target=_child_main, args=(stream, child, os.getpid(), flush_ms),
                                 name="massive-ws-reader", daemon=True)
        self._child_end = child
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="massive-ws-listener", daemon=True)

    def start(self) -> None:
        self._proc.start()
        self._child_end.close()  # the child holds it: EOF here once the child is gone
        self._thread.start()

    def stop(self) -> None:
        """End the child (the connection closes); returns at once."""
        self._stopping.set()
        with contextlib.suppress(OSError, ValueError, AttributeError):
            self._proc.kill()

    def _send(self, item: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the consumer's loop is gone: nobody to tell
            self.put(item)

    def _listen(self) -> None:
        try:
            while True:
                try:
                    msg = self._conn.recv()
                except (EOFError, OSError):
                    if not self._stopping.is_set():
                        self._send(RuntimeError(
                            f"websocket reader process ended unexpectedly (exit code {self._proc.exitcode})"))
                    return
                if msg[0] == "end":
                    self._send(self._end)
                    return
                if msg[0] == "error":
                    try:
                        raise_error(*msg[1:])
                    except Exception as exc:  # noqa: BLE001 - handed to the consumer
                        self._send(exc)
                    return
                conns, data, rejected = msg
                block = decode_block(data) if data is not None else {"option_symbol": []}
                self._send((conns, block, rejected))
        finally:
            with contextlib.suppress(OSError):
                self._conn.close()
            self._proc.join(timeout=5)
