"""``primeflow feed --source massive``: the Massive options stream into the inbox.

Trades from :class:`primeflow_lib.vendors.massive_ws.MassiveOptionsStream` are grouped into
batches (at most every ``batch_seconds`` while trades arrive) and written atomically to the
inbox, exactly like the synthetic and replay feeds, so the live job cannot tell them apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from primeflow_lib.live.feed import FeedReport
from primeflow_lib.live.inbox import write_batch
from primeflow_lib.vendors.massive_ws import MassiveOptionsStream


async def stream_to_inbox(
    stream: MassiveOptionsStream,
    *,
    batch_seconds: float = 2.0,
    max_rows: int = 5000,
    max_batches: int | None = None,
    inbox: Path | None = None,
    echo: Callable[[str], None] | None = None,
) -> FeedReport:
    """Consume ``stream`` and write one inbox file per batch until ``max_batches`` (or forever;
    ``0`` writes nothing)."""
    rep = FeedReport()
    if max_batches is not None and max_batches <= 0:
        return rep
    async for frame in stream.batches(max_rows=max_rows, max_seconds=batch_seconds):
        if frame.empty:
            continue
        path = write_batch(frame, inbox, prefix="massive", meta={"feed": "massive"})
        rep.batches += 1
        rep.prints += len(frame)
        rep.files.append(path)
        if echo:
            echo(f"wrote {path.name} ({len(frame):,} prints)")
        if max_batches is not None and rep.batches >= max_batches:
            break
    return rep


def run_massive_feed(cfg: dict[str, Any], *, subscribe: str = "T.*", batch_seconds: float = 2.0,
                     max_batches: int | None = None, inbox: Path | None = None,
                     echo: Callable[[str], None] | None = None) -> FeedReport:
    """Blocking entry point used by the CLI (``subscribe`` is comma-separated channels)."""
    stream = MassiveOptionsStream.from_config(cfg, [s.strip() for s in subscribe.split(",") if s.strip()])
    return asyncio.run(stream_to_inbox(stream, batch_seconds=batch_seconds, max_batches=max_batches,
                                       inbox=inbox, echo=echo))
