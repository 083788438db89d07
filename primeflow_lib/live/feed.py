"""Feeds that fill the inbox with micro-batches of prints (``primeflow feed``).

* ``synthetic``: the synthetic market's prints for a session, emitted in (scaled) real time;
* ``replay``: a stored day of ``flow.option_prints`` from the read copy, in order, at N x speed;
* ``massive``: the Massive options websocket (``T.*`` trades), batched every few seconds.

Replay and live share one code path downstream: every feed only writes batch files.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib.live.inbox import inbox_path, list_batches, write_batch
from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.sql_sandbox import run_sandboxed


class FeedError(ValueError):
    """A feed that cannot run (bad speed, no stored prints for the day...); the message says why."""


@dataclass
class FeedReport:
    batches: int = 0
    prints: int = 0
    files: list[Path] = field(default_factory=list)
    market_start: dt.datetime | None = None
    market_end: dt.datetime | None = None


#: what ``primeflow feed --source`` can read: the synthetic vendor in real time, a stored day of
#: ``flow.option_prints`` replayed, or the Massive websocket
FEED_SOURCES = ("synthetic", "replay", "massive")


def emit_in_real_time(
    prints: pd.DataFrame,
    *,
    speed: float = 1.0,
    batch_seconds: float = 1.0,
    inbox: Path | None = None,
    prefix: str = "feed",
    start_at: dt.datetime | None = None,
    max_batches: int | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    echo: Callable[[str], None] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> FeedReport:
    """Write ``prints`` to the inbox as they "happen": market time runs ``speed`` times faster
    than the wall clock from ``start_at`` (default: the first print), and every ``batch_seconds``
    of wall time the prints whose ``sip_ts`` fell in that slice are written as one batch. Empty
    slices write nothing.

    Args:
        prints: ``flow.option_prints`` rows of one session.
        speed: market seconds per wall second (1 = real time; 60 = an hour a minute).
        batch_seconds: wall seconds per batch (>= 0.05).
        max_batches: stop after this many batch files (for demos and tests); 0 writes nothing.
        meta: what the batches are (``feed``, ``replay_of``, ``replay_to_live``), stored in each
            file (:func:`primeflow_lib.live.inbox.write_batch`).

    Raises:
        FeedError: a speed, batch length or batch count out of range (named).
    """
    if not speed > 0:
        raise FeedError(f"speed: {speed!r} must be > 0 (market seconds per wall second)")
    if not batch_seconds >= 0.05:
        raise FeedError(f"batch seconds: {batch_seconds!r} must be >= 0.05")
    if max_batches is not None and max_batches < 0:
        raise FeedError(f"max batches: {max_batches!r} must be >= 0")
    rep = FeedReport()
    if prints.empty or max_batches == 0:
        return rep
    df = prints.sort_values(["sip_ts", "option_symbol", "seq"], kind="stable").reset_index(drop=True)
    ts = df["sip_ts"].to_numpy(dtype="datetime64[us]")
    start = np.datetime64(start_at, "us") if start_at is not None else ts[0]
    pos = int(np.searchsorted(ts, start, side="left"))
    rep.market_start = pd.Timestamp(start).to_pydatetime()
    t0 = clock()
    slice_no = 0
    while pos < len(df):
        slice_no += 1
        wake = t0 + slice_no * batch_seconds
        delay = wake - clock()
        if delay > 0:
            sleep(delay)
        market_now = start + np.timedelta64(int(slice_no * batch_seconds * speed * 1e6), "us")
        end = int(np.searchsorted(ts, market_now, side="right"))
        if end > pos:
            batch = df.iloc[pos:end]
            path = write_batch(batch, inbox, prefix=prefix, meta=meta)
            rep.batches += 1
            rep.prints += len(batch)
            rep.files.append(path)
            rep.market_end = pd.Timestamp(market_now).to_pydatetime()
            if echo:
                echo(f"{pd.Timestamp(market_now):%H:%M:%S} market time: wrote {path.name} ({len(batch):,} prints)")
            pos = end
            if max_batches is not None and rep.batches >= max_batches:
                break
    return rep


def synthetic_session_prints(cfg: dict, day: dt.date, tickers: list[str] | None = None) -> pd.DataFrame:
    """The synthetic vendor's prints for ``day`` on the day's universe (or ``tickers``)."""
    from primeflow_lib.vendors.synthetic.vendor import SyntheticVendor

    day = calendar.require_session(day)
    vendor = SyntheticVendor.from_config(cfg)
    if not tickers:
        uni = vendor.top_volume_tickers(day, cfg["universe"]["size"], cfg["universe"]["lookback_sessions"])
        tickers = list(uni["ticker"])
    return vendor.option_prints(tickers, day)


def latest_stored_session(read_path: Path | None = None) -> dt.date:
    """The newest ``trade_date`` of ``flow.option_prints`` in the read copy (what
    ``primeflow feed --source replay`` replays without ``--date``)."""
    df = run_sandboxed("SELECT max(trade_date) AS d FROM flow.option_prints", path=read_path)
    d = df["d"].iloc[0] if len(df) else None
    if d is None or pd.isna(d):
        raise FeedError("no stored prints in the read copy to replay; run `make demo` or materialize flow/option_prints")
    return pd.Timestamp(d).date()


def stored_session_prints(day: dt.date, read_path: Path | None = None) -> pd.DataFrame:
    """A stored day of ``flow.option_prints`` from the read copy, in received order."""
    day = calendar.require_session(day)
    cols = ", ".join(f'"{c}"' for c in OPTION_PRINTS.column_names)
    df = run_sandboxed(
        f"SELECT {cols} FROM flow.option_prints WHERE trade_date = ? ORDER BY sip_ts, option_symbol, seq",
        [day], path=read_path,
    )
    if df.empty:
        raise FeedError(f"no stored prints for {day} in the read copy; materialize flow/option_prints for it first")
    return df


def waiting_since(inbox: Path | None = None, older_than_s: float = 60.0) -> tuple[int, float | None]:
    """Batches in the inbox older than ``older_than_s`` seconds, and the oldest one's age in
    seconds: batches that wait that long mean nothing is scoring the inbox (the Dagster daemon
    of ``make ui`` runs ``flow_inbox_sensor``)."""
    now = time.time()
    ages = [now - b.mtime_ns / 1e9 for b in list_batches(inbox)]
    old = [a for a in ages if a > older_than_s]
    return len(old), (max(old) if old else None)


def where_batches_go(inbox: Path | None = None) -> str:
    """One line for ``primeflow feed``: where the batches go and what scores them."""
    return (f"batches go to {Path(inbox) if inbox is not None else inbox_path()}; the Dagster daemon's "
            "flow_inbox_sensor scores each one (live_flow_job) when `make ui` runs; otherwise they wait "
            "there (`primeflow inbox list`)")
