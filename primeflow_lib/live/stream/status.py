"""The stream's status file: what Dagster (and ``primeflow stream status``) read about a running
stream without opening its database (which the stream holds open).

``<stream dir>/status-<stream_id>.json`` is rewritten atomically (temp file + rename) at every
heartbeat (``stream.heartbeat_seconds``) with the counts, the lag and the state. A stream whose
``heartbeat_at`` is older than ``stream.stall_seconds`` while its state is not ``stopped`` is
*stalled*: the process died without saying so, or hangs.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

#: the states a stream reports
STATES = ("starting", "recovering", "streaming", "reconnecting", "stopped")


def status_path(root: Path, stream_id: str) -> Path:
    return Path(root) / f"status-{stream_id}.json"


def write_status(root: Path, stream_id: str, status: dict[str, Any]) -> Path:
    """Write the status atomically; ``heartbeat_at`` (UTC ISO) is set here."""
    path = status_path(root, stream_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {**status, "stream_id": stream_id, "pid": os.getpid(),
            "heartbeat_at": dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(body, default=str, sort_keys=True))
    os.replace(tmp, path)
    return path


def read_statuses(root: Path) -> list[dict[str, Any]]:
    """Every stream status file in ``root`` (unreadable files are reported, not skipped:
    ``{"stream_id": ..., "error": ...}``)."""
    out = []
    for p in sorted(Path(root).glob("status-*.json")) if Path(root).is_dir() else []:
        try:
            out.append(json.loads(p.read_text()))
        except (OSError, ValueError) as exc:
            out.append({"stream_id": p.stem.removeprefix("status-"), "error": f"{type(exc).__name__}: {exc}"})
    return out


def heartbeat_age(status: dict[str, Any], now: dt.datetime | None = None) -> float | None:
    """Seconds since the status was written (None when it has no readable time)."""
    try:
        at = dt.datetime.fromisoformat(str(status["heartbeat_at"]))
    except (KeyError, ValueError):
        return None
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    return (now - at).total_seconds()


def is_stalled(status: dict[str, Any], stall_seconds: float, now: dt.datetime | None = None) -> bool:
    """A stream that is not ``stopped`` and has not written its status for ``stall_seconds``
    (or whose status file is unreadable)."""
    if "error" in status:
        return True
    if status.get("state") == "stopped":
        return False
    age = heartbeat_age(status, now)
    return age is None or age > stall_seconds
