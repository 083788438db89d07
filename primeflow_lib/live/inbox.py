"""The inbox: a folder of micro-batches of option prints waiting to be scored.

Protocol (see ``docs/live.md``):

* a feed writes ``<inbox>/<name>.parquet`` atomically: it writes ``.<name>.parquet.tmp`` in the
  same folder, fsyncs, then renames, so a reader never sees a half-written batch;
* a batch's *identity* is ``name:size:mtime_ns``; the sensor uses it as the run key, so a file is
  processed once; replacing a file with new content gives it a new identity;
* after scoring, the file moves to ``processed/`` (or ``failed/`` with ``<name>.error.txt``
  beside it). Processing a file again is an explicit user action: ``primeflow inbox requeue``.

Batch files hold the ``flow.option_prints`` columns, and in the Parquet schema metadata (key
``primeflow``) what wrote them: ``{"feed": "synthetic" | "replay" | "massive", "replay_of":
"<session>", "replay_to_live": false}``. Alerts of a ``replay`` batch are marked ``[REPLAY]`` and
go to the ``replay`` channel (the console/file sink unless declared) unless ``replay_to_live``.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

BATCH_SUFFIX = ".parquet"
#: a batch written by the stream service has ``<batch>.stream.json`` beside it (the stream's
#: signals for its prints); it travels with the batch to ``processed/`` / ``failed/``
SIDE_SUFFIX = ".stream.json"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,200}\.parquet$")


def inbox_path() -> Path:
    """``PRIMEFLOW_INBOX`` (default ``var/inbox``)."""
    return Path(os.environ.get("PRIMEFLOW_INBOX") or "var/inbox")


@dataclass(frozen=True)
class BatchFile:
    path: Path
    size: int
    mtime_ns: int

    @property
    def identity(self) -> str:
        """``name:size:mtime_ns``: unique per file content written, used as the run key."""
        return f"{self.path.name}:{self.size}:{self.mtime_ns}"


META_KEY = b"primeflow"


def write_batch(prints: pd.DataFrame, inbox: Path | None = None, *, prefix: str = "batch",
                meta: Mapping[str, Any] | None = None, name: str | None = None) -> Path:
    """Write one micro-batch atomically (temp file + fsync + rename); returns the final path.
    ``meta`` (what wrote it: ``feed``, ``replay_of``, ``replay_to_live``) goes into the Parquet
    schema metadata (:func:`batch_meta` reads it back). The name is ``<prefix>-<random>.parquet``
    unless ``name`` is given (the stream names its batches so a side file can be written before
    the batch appears)."""
    folder = Path(inbox) if inbox is not None else inbox_path()
    folder.mkdir(parents=True, exist_ok=True)
    name = name or f"{prefix}-{uuid.uuid4().hex[:12]}{BATCH_SUFFIX}"
    if not _NAME_RE.match(name):
        raise ValueError(f"batch prefix {prefix!r} makes an invalid file name")
    tmp = folder / f".{name}.tmp"
    table = pa.Table.from_pandas(prints, preserve_index=False)
    if meta:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               META_KEY: json.dumps(dict(meta), default=str).encode()})
    pq.write_table(table, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    final = folder / name
    os.replace(tmp, final)
    return final


def batch_meta(path: Path) -> dict[str, Any]:
    """What wrote a batch (see the module docstring); ``{}`` for a file without it."""
    try:
        raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
    except (OSError, pa.ArrowException):
        return {}  # an unreadable file is reported by the reader with its name
    try:
        out = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return out if isinstance(out, dict) else {}


def list_batches(inbox: Path | None = None) -> list[BatchFile]:
    """Batches waiting in the inbox, oldest first. A cheap directory listing (one ``stat`` per
    file), safe to call from a sensor; temp files and sub-folders are ignored."""
    folder = Path(inbox) if inbox is not None else inbox_path()
    if not folder.is_dir():
        return []
    out = []
    with os.scandir(folder) as it:
        for e in it:
            if e.is_file() and _NAME_RE.match(e.name):
                st = e.stat()
                out.append(BatchFile(Path(e.path), st.st_size, st.st_mtime_ns))
    out.sort(key=lambda b: (b.mtime_ns, b.path.name))
    return out


def batch_from_identity(identity: str, inbox: Path | None = None) -> Path:
    """The inbox path of a batch named by its identity (the name is validated: no traversal)."""
    name = identity.split(":", 1)[0]
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid batch file name {name!r}")
    return (Path(inbox) if inbox is not None else inbox_path()) / name


def move_done(path: Path, *, failed: bool = False, error: str | None = None) -> Path:
    """Move a batch to ``processed/`` or ``failed/`` (with the error text beside it)."""
    dest_dir = path.parent / ("failed" if failed else "processed")
    dest_dir.mkdir(exist_ok=True)
    dest = dest_dir / path.name
    os.replace(path, dest)
    side = path.with_name(path.name + SIDE_SUFFIX)
    if side.exists():
        os.replace(side, dest_dir / side.name)
    if failed and error is not None:
        (dest_dir / (path.name + ".error.txt")).write_text(error)
    return dest


def requeue(name: str, inbox: Path | None = None) -> Path:
    """Put a processed or failed batch back in the inbox under a new name (a new identity), so it
    is scored again. This is the only way a batch is re-processed."""
    folder = Path(inbox) if inbox is not None else inbox_path()
    if not _NAME_RE.match(name):
        raise ValueError(f"invalid batch file name {name!r}")
    for sub in ("processed", "failed"):
        src = folder / sub / name
        if src.exists():
            stem = name[: -len(BATCH_SUFFIX)]
            dest = folder / f"{stem}-requeued-{uuid.uuid4().hex[:6]}{BATCH_SUFFIX}"
            os.replace(src, dest)
            side = folder / sub / (name + SIDE_SUFFIX)
            if side.exists():
                os.replace(side, dest.with_name(dest.name + SIDE_SUFFIX))
            (folder / sub / (name + ".error.txt")).unlink(missing_ok=True)
            return dest
    raise FileNotFoundError(f"no processed or failed batch named {name!r} in {folder}")
