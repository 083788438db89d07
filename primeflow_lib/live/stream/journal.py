"""The stream's journal: every chunk of prints as received, on disk before it is scored.

One folder per instance and session (``<stream dir>/journal/<stream_id>/<session>/``), one Arrow
IPC stream file per process run (``seg-00001.arrows``, ``seg-00002.arrows``, ...), each record
batch one received chunk with its source position (the vendor's or broker's sequence after the
chunk) and receive time as batch metadata. A chunk is written with one ``write`` call before the
scorer sees it, so a SIGKILL loses at most the chunk being written; the reader stops at a torn
last batch.

On restart the service replays the whole session's journal through a new scorer: the scorer is
deterministic in the order received, so it rebuilds exactly the state (open orders, memory) and
the signals it had, and the outbox's ``ON CONFLICT DO NOTHING`` keeps alerts already enqueued
from going out twice. Then the source resumes after the last journaled position.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from primeflow_lib.schema.flow import OPTION_PRINTS

_ARROW = {
    "DATE": pa.date32(),
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BOOLEAN": pa.bool_(),
}
#: the journal's columns: ``flow.option_prints`` as declared
SCHEMA = pa.schema([pa.field(c.name, _ARROW[c.type]) for c in OPTION_PRINTS.columns])


def to_arrow(prints: pd.DataFrame) -> pa.RecordBatch:
    """``flow.option_prints`` rows as a record batch of :data:`SCHEMA` (missing optional
    columns become nulls; a value that does not convert raises with the column named)."""
    cols = []
    n = len(prints)
    for f in SCHEMA:
        if f.name in prints:
            s = prints[f.name]
            if pa.types.is_date32(f.type):
                s = pd.to_datetime(s, errors="coerce").dt.date
            elif pa.types.is_timestamp(f.type):
                s = pd.to_datetime(s, errors="coerce")
            try:
                arr = pa.array(s, type=f.type, from_pandas=True)
                cols.append(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr)
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
                # a wrongly typed value is kept as text rather than refused here: validation
                # quarantines it with the field named
                if pa.types.is_string(f.type):
                    raise ValueError(f"journal: column {f.name!r}: {exc}") from None
                cols.append(pa.array(pd.to_numeric(s, errors="coerce"), type=f.type, from_pandas=True))
        else:
            cols.append(pa.nulls(n, f.type))
    return pa.RecordBatch.from_arrays(cols, schema=SCHEMA)


def blocks_to_arrow(blocks: list[dict[str, Any]]) -> pa.RecordBatch:
    """Blocks of columns (``flow.option_prints`` name -> a list or numpy array of one chunk's
    values, a column left out being NULL; see ``MassiveOptionsStream.frames(columns=True)``) as
    one record batch of :data:`SCHEMA`, in order: a step's prints without a dict or a pandas
    frame per websocket frame."""
    sizes = [len(b["option_symbol"]) for b in blocks]
    n = sum(sizes)
    cols = []
    for f in SCHEMA:
        if not n or not any(f.name in b for b in blocks):  # a column this source never sends
            cols.append(pa.nulls(n, f.type))
            continue
        parts = [b.get(f.name, [None] * k) for b, k in zip(blocks, sizes, strict=True) if k]
        if any(len(x) != k for x, k in zip(parts, [k for k in sizes if k], strict=True)):
            raise ValueError(f"journal: column {f.name!r} has a different length than the block's prints")
        if any(isinstance(x, pa.Array) for x in parts):  # blocks read back from a reader process
            arrays = [x if isinstance(x, pa.Array) else pa.array(x, type=f.type, from_pandas=True) for x in parts]
            cols.append(arrays[0] if len(arrays) == 1 else pa.concat_arrays(arrays))
            continue
        if all(isinstance(x, np.ndarray) for x in parts):
            values: Any = parts[0] if len(parts) == 1 else np.concatenate(parts)
        else:
            values = [v for x in parts for v in (x.tolist() if isinstance(x, np.ndarray) else x)]
        try:
            cols.append(pa.array(values, type=f.type, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise ValueError(f"journal: column {f.name!r}: {exc}") from None
    return pa.RecordBatch.from_arrays(cols, schema=SCHEMA)


#: a step marker's (empty) batch, built once: the service writes one per scoring step
_EMPTY = pa.RecordBatch.from_pylist([], schema=SCHEMA)


def from_arrow(batch: pa.RecordBatch) -> pd.DataFrame:
    """A journal batch back as ``flow.option_prints`` rows."""
    return batch.to_pandas(date_as_object=True)


@dataclass
class JournalChunk:
    """One entry read back: a received chunk (its prints, the receipt number of its first
    print, the source position after it, the source's clock, when it was received), or a
    *step marker* (``step`` = ``"step"`` or ``"final"``, no prints): the scorer advanced there,
    so a restart advances at the same points and reproduces exactly what was committed."""

    prints: pd.DataFrame
    rx0: int
    position: str | None
    received_at: dt.datetime | None
    clock_ns: int | None = None
    step: str | None = None


class Journal:
    """Append-only record of a session's received prints (see module doc).

    Args:
        root: the stream folder (``PRIMEFLOW_STREAM_DIR``).
        stream_id: the instance (``main``, ``p1of2``, ...).
        day: the session.
        fsync: also fsync after each chunk (survives a power loss, not just a process kill;
            costs a disk flush per chunk).
    """

    def __init__(self, root: Path, stream_id: str, day: dt.date, *, fsync: bool = False) -> None:
        self.folder = Path(root) / "journal" / stream_id / day.isoformat()
        self.fsync = fsync
        self.rows = 0
        self.last_position: str | None = None
        self.torn = 0
        self._fh = None
        self._writer: pa.ipc.RecordBatchStreamWriter | None = None

    def segments(self) -> list[Path]:
        return sorted(self.folder.glob("seg-*.arrows")) if self.folder.is_dir() else []

    def read(self) -> Iterator[JournalChunk]:
        """Every chunk journaled so far, in order (counts ``rows``, ``last_position`` and torn
        segment tails as it goes)."""
        self.rows = 0
        self.torn = 0
        for seg in self.segments():
            with open(seg, "rb") as fh:
                try:
                    reader = pa.ipc.open_stream(fh)
                except (pa.ArrowInvalid, OSError):
                    self.torn += 1  # killed before the schema was written
                    continue
                while True:
                    try:
                        batch, meta = reader.read_next_batch_with_custom_metadata()
                    except StopIteration:
                        break
                    except (pa.ArrowInvalid, OSError):
                        self.torn += 1  # a torn last batch: the chunk being written when killed
                        break
                    meta = meta or {}
                    pos = meta.get(b"position")
                    recv = meta.get(b"received_at")
                    clock = meta.get(b"clock")
                    step = meta.get(b"step")
                    chunk = JournalChunk(
                        from_arrow(batch), self.rows, pos.decode() if pos else None,
                        dt.datetime.fromisoformat(recv.decode()) if recv else None,
                        int(clock) if clock else None, step.decode() if step else None,
                    )
                    self.rows += batch.num_rows
                    if chunk.position is not None:
                        self.last_position = chunk.position
                    yield chunk

    def open(self) -> None:
        """Start a new segment for this process (after :meth:`read`, which counted the rows)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        n = len(self.segments()) + 1
        self._fh = open(self.folder / f"seg-{n:05d}.arrows", "ab")  # noqa: SIM115 - kept open
        self._writer = pa.ipc.new_stream(self._fh, SCHEMA)
        self._flush()

    def append(self, prints: pd.DataFrame | pa.RecordBatch, position: str | None, received_at: dt.datetime,
               clock_ns: int | None = None) -> int:
        """Write one chunk (a frame, or a record batch of :data:`SCHEMA`); returns the receipt
        number of its first print."""
        batch = prints if isinstance(prints, pa.RecordBatch) else to_arrow(prints)
        if self._writer is None:
            self.open()
        rx0 = self.rows
        meta = {"received_at": received_at.isoformat()}
        if position is not None:
            meta["position"] = position
        if clock_ns is not None:
            meta["clock"] = str(int(clock_ns))
        self._writer.write_batch(batch, custom_metadata=meta)
        self._flush()
        self.rows += batch.num_rows
        if position is not None:
            self.last_position = position
        return rx0

    def mark(self, step: str) -> None:
        """Record that the scorer advances here (``"step"``) or flushes (``"final"``)."""
        if self._writer is None:
            self.open()
        self._writer.write_batch(_EMPTY, custom_metadata={"step": step})
        self._flush()

    def _flush(self) -> None:
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._fh.close()
            self._writer = None
