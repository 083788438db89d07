"""The stream service: source -> journal -> incremental scorer -> outbox -> relay, one session.

::

    source ──chunk──> journal (disk) ──> StreamScorer.add
                                             │  every stream.tick_ms while prints arrive
                                             ▼
                                  StreamScorer.advance
                                             │ signals, quarantine, divergences
                                             ▼
            writer process: StreamStore.commit (signals + outbox rows, then quarantine and
                            divergences) ──> relay thread ──> channels;
                            inbox batches (+ .stream.json side file) ──> sensor path;
                            heartbeat rows

The event loop reads the source, journals and scores. The database, the inbox batches and the
relay live in a child process (:mod:`.writer`), which does the tasks in the order the loop
queued them: a commit's Python work (alert rules, enrichment) no longer takes the interpreter
lock from the scoring loop, and its fsync or a Parquet write never holds up the vendor's socket.

**Restart.** On start the service reads the session's journal and scores it again through a new
scorer (no pacing, no alert is sent twice: the outbox keeps alert keys), then asks the source for
what comes after the last journaled position. Resumable sources (replay, broker, Databento)
lose nothing across a SIGKILL; the Massive websocket cannot replay, so what was sent while the
process was down is a counted gap.

**Ends.** A replay (or any finite source) ends with a flush: every open order is committed and
scored. A stop (SIGTERM, Ctrl-C, ``stop`` event) does *not* flush: the open orders are in the
journal and the next start finishes them exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import json
import logging
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.alerts.routing import resolve_channels
from primeflow_lib.live.inbox import inbox_path
from primeflow_lib.live.stream.journal import Journal, from_arrow
from primeflow_lib.live.stream.priority import favour_writer, writer_priority
from primeflow_lib.live.stream.scorer import (
    INT64_MIN,
    Divergence,
    Loader,
    SessionMarket,
    StepResult,
    StreamScorer,
)
from primeflow_lib.live.stream.sources import OPTION_PRINTS_EMPTY, Chunk, PrintSource, merge_chunks
from primeflow_lib.live.stream.status import write_status
from primeflow_lib.live.stream.store import (
    divergence_frame,
    stream_db_path,
    stream_dir,
    utcnow,
)
from primeflow_lib.live.stream.writer import GC_THRESHOLDS, WriterProcess, WriterSettings
from primeflow_lib.redact import redact
from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.schema.quarantine import quarantine_rows

log = logging.getLogger(__name__)



def switch_interval_s(scfg: dict[str, Any]) -> float | None:
    """``stream.switch_interval_ms`` in seconds (None: 0, Python's own interval is kept).

    The interpreter lock's switch interval while the service streams: how long one thread (the
    scoring loop) keeps the lock before another (the websocket reader) may take it. Python's 5 ms
    made the lock change hands hundreds of times a second under a burst, and on a busy machine its
    holder was often descheduled while the other thread waited (docs/stream.md, Speed).

    Raises:
        ValueError: not a number of milliseconds >= 0 (the setting is named).
    """
    raw = scfg.get("switch_interval_ms", 20.0)
    try:
        ms = float(raw)
    except (TypeError, ValueError):
        ms = float("nan")
    if isinstance(raw, bool) or not math.isfinite(ms) or ms < 0:
        raise ValueError(f"stream.switch_interval_ms: expected milliseconds (a number >= 0), got {raw!r}")
    return ms / 1000.0 if ms > 0 else None


@dataclass
class ServiceReport:
    """What a run of the service did (also the last status written)."""

    stream_id: str
    trade_date: dt.date
    recovered_prints: int = 0
    #: prints journaled for the session (recovered + received by this process)
    prints: int = 0
    events: int = 0
    signals: int = 0
    alerts_enqueued: int = 0
    quarantined: int = 0
    raw_rejected: int = 0
    divergences: dict[str, int] = field(default_factory=dict)
    inbox_batches: int = 0
    #: times an inbox batch waited because the loop was behind (``stream.busy_step_seconds``)
    inbox_deferred: int = 0
    connections: int = 0
    gaps: list[str] = field(default_factory=list)
    flushed: bool = False
    last_error: str | None = None
    #: how the writer was put ahead of the scoring loop: ``writer``, ``scoring loop`` or ``off``
    #: (``stream.writer_priority``, :mod:`~primeflow_lib.live.stream.priority`)
    writer_priority: str = "off"


class StreamService:
    """Streams one session (see module doc).

    Args:
        cfg: the loaded config (``stream``, ``alerts``, ``flow``, strategies ...).
        source: where prints come from.
        day: the session; prints of another session are quarantined (counted).
        loader: reads the market context of tickers (:data:`~.scorer.Loader`).
        stream_id: this instance (``main``; ``p1of2`` for broker partitions).
        root: the stream folder (default :func:`~.store.stream_dir`).
        db_path: the stream database (default :func:`~.store.stream_db_path`).
        inbox: where batches for the sensor path go (default ``PRIMEFLOW_INBOX``); None with
            ``stream.inbox_seconds: 0`` writes none.
        environ: environment for the channels' secrets (default ``os.environ``).
        relay: run the relay thread (tests that only score may switch it off).
        preload: tickers whose market context is loaded before the first print (a live source:
            the session's universe), so the first prints do not wait for a read.
        alert_inputs: a read copy to take the saved alert rules and earnings dates from when
            the service starts (:meth:`~.store.StreamStore.copy_alert_inputs`); None: the
            built-in and config rules, earnings unknown.
    """

    def __init__(self, cfg: dict[str, Any], source: PrintSource, day: dt.date, loader: Loader, *,
                 stream_id: str = "main", root: Path | None = None, db_path: Path | None = None,
                 inbox: Path | None = None, environ: dict[str, str] | None = None, relay: bool = True,
                 preload: list[str] | None = None, alert_inputs: Path | None = None) -> None:
        self.cfg = cfg
        self.scfg = {**(cfg.get("stream") or {})}
        self.source = source
        self.day = day
        self.stream_id = stream_id
        self.root = Path(root) if root is not None else stream_dir()
        self.db_path = Path(db_path) if db_path is not None else (
            stream_db_path(stream_id) if root is None else self.root / f"stream-{stream_id}.duckdb")
        self.inbox = Path(inbox) if inbox is not None else inbox_path()
        resolve_channels(cfg, environ)  # a broken channel fails here, before anything runs
        self.environ = None if environ is None else dict(environ)
        self.use_relay = relay
        self.preload = list(preload or [])
        self.alert_inputs = alert_inputs
        self.switch_interval = switch_interval_s(self.scfg)  # a bad value fails here, before anything runs
        self.writer_levels = writer_priority(self.scfg.get("writer_priority"))
        self.market = SessionMarket(day, cfg, loader)
        self.scorer = StreamScorer(day, cfg, self.market, source=f"{source.name}:{stream_id}")
        self.report = ServiceReport(stream_id=stream_id, trade_date=day)
        self.state = "starting"
        self._frames: dict[int, pd.DataFrame] = {}  # rx0 -> chunk, until written to the inbox
        self._done: list[np.ndarray] = []
        self._written = np.zeros(0, np.bool_)  # by rx: already in an inbox batch
        self._left: dict[int, int] = {}  # rx0 of a kept chunk -> its prints not written yet
        self._sig_buf: list[pd.DataFrame] = []
        self._div_buf: list[Divergence] = []
        self._event_rx: dict[str, np.ndarray] = {}
        self._raw_no = 0
        self._last_hb = 0.0
        self._last_inbox = time.monotonic()
        self._last_step = 0.0
        self._step_s = 0.0  # how long the last step took (wall seconds)
        self._dirty = False
        self._pending: list[tuple[pd.DataFrame, np.ndarray, dt.datetime | None]] = []
        self._writer_error: str | None = None
        self._counts: dict[str, int] = {}
        self._inbound: list[Chunk] = []
        self._trace: Any = None  # PRIMEFLOW_STREAM_TRACE, open while run() runs
        self._trace_lock = threading.RLock()  # re-entrant: the collector may run inside a write
        self._gc_trace: Any = None
        self._to_ack: list[Chunk] = []
        self._clock = 0

    # ------------------------------------------------------------------ life cycle

    async def run(self, stop: asyncio.Event | None = None) -> ServiceReport:
        """Recover from the journal, then stream until the source ends (flush) or ``stop`` is
        set (no flush: the journal keeps the open orders)."""
        stop = stop or asyncio.Event()
        self.journal = Journal(self.root, self.stream_id, self.day, fsync=bool(self.scfg.get("fsync", False)))
        self.writer = WriterProcess(
            WriterSettings(db_path=self.db_path, stream_id=self.stream_id, cfg=self.cfg, day=self.day,
                           inbox=self.inbox, environ=self.environ, relay=self.use_relay,
                           alert_inputs=self.alert_inputs),
            on_alerts=self._enqueued, on_batch=self._batch_written, on_counts=self._got_counts,
            on_error=self._writer_failed)
        self._open_trace()
        gc_before, switch_before = gc.get_threshold(), sys.getswitchinterval()
        try:
            self.writer.start()
        except Exception:
            self.journal.close()
            self._close_trace()
            raise
        self.report.writer_priority = favour_writer(self.writer_levels, self.writer.priority_raised)
        try:
            if self.preload:
                self.market.ensure(self.preload)
            self._recover()
            # everything loaded so far (modules, the session's market context, the recovered
            # state) lives as long as the process: out of the collector's way, or every full
            # collection walks it again (150-300 ms pauses every few seconds under load)
            gc.collect()
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
            if self.switch_interval is not None:
                sys.setswitchinterval(self.switch_interval)
            self.state = "streaming"
            self._heartbeat(force=True)
            ended = await self._stream(stop)
            self.writer.check()
            if ended:
                self._step(final=True)
                await self._ack()
                self.report.flushed = True
            self._write_inbox(force=True)
            self.state = "stopped"
        except Exception as exc:
            self.report.last_error = redact(f"{type(exc).__name__}: {exc}")
            self.state = "stopped"
            raise
        finally:
            with contextlib.suppress(Exception):
                self._heartbeat(force=True)
            self.writer.stop(timeout_s=120)  # it finishes what is queued and the relay's drain
            if self._writer_error is not None and self.report.last_error is None:
                self.report.last_error = self._writer_error
            self.journal.close()
            self._close_trace()
            gc.unfreeze()  # the interpreter's exit may collect them again (extensions check for leaks)
            gc.set_threshold(*gc_before)
            sys.setswitchinterval(switch_before)
            await self.source.close()
        return self.report

    # ------------------------------------------------------------------ the step trace

    def _open_trace(self) -> None:
        """``PRIMEFLOW_STREAM_TRACE``: one JSON line per scoring step and per pause of the
        cyclic garbage collector of 5 ms or more (for finding where an alert's time goes)."""
        path = os.environ.get("PRIMEFLOW_STREAM_TRACE", "").strip()
        if not path:
            return
        self._trace = open(path, "a", buffering=1)  # noqa: SIM115 - closed by _close_trace
        started = [0.0]

        def gc_pause(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                started[0] = time.perf_counter()
            elif (ms := (time.perf_counter() - started[0]) * 1e3) >= 5:
                self._trace_line({"gc_ms": round(ms, 1), "generation": info.get("generation"),
                                  "collected": info.get("collected")})

        gc.callbacks.append(gc_pause)
        self._gc_trace = gc_pause

    def _trace_line(self, row: dict[str, Any]) -> None:
        with self._trace_lock:  # the collector may run on any thread
            if self._trace is not None and not self._trace.closed:
                self._trace.write(json.dumps({"wall": round(time.time(), 3), "stream": self.stream_id, **row}) + "\n")

    def _close_trace(self) -> None:
        if self._gc_trace is not None:
            with contextlib.suppress(ValueError):
                gc.callbacks.remove(self._gc_trace)
            self._gc_trace = None
        with self._trace_lock:
            if self._trace is not None:
                self._trace.close()
                self._trace = None

    # ------------------------------------------------------------------ the writer process

    def _commit(self, step: StepResult) -> None:
        """Queue a step's signals, quarantine rows and divergences for the writer (only what it
        stores crosses the process boundary)."""
        self.writer.submit("commit", StepResult(
            events=step.events.iloc[:0], context=step.context.iloc[:0], signals=step.signals,
            quarantine=step.quarantine, divergences=step.divergences, done_rx=step.done_rx[:0]))

    def _enqueued(self, n: int) -> None:
        self.report.alerts_enqueued += n

    def _batch_written(self, _name: str) -> None:
        self.report.inbox_batches += 1

    def _got_counts(self, counts: dict[str, int]) -> None:
        self._counts = counts

    def _writer_failed(self, text: str) -> None:
        self._writer_error = text
        if text.startswith("relay:"):
            self.report.last_error = text
        log.error("stream writer: %s", text)

    def _recover(self) -> None:
        """Score the session's journal again (see module doc)."""
        self.state = "recovering"
        self._mark_written(self.writer.written_rx())
        for ch in self.journal.read():
            if ch.step is not None:
                self._step(final=ch.step == "final", journal=False)
                continue
            if len(ch.prints):
                self._keep_frame(ch.rx0, ch.prints)
                self._pending.append((ch.prints, np.arange(ch.rx0, ch.rx0 + len(ch.prints)), ch.received_at))
            self._clock = max(self._clock, ch.clock_ns or 0)
        self._flush_pending()
        self.report.recovered_prints = self.report.prints = self.journal.rows
        self._dirty = self.journal.rows > 0  # what came after the last step is committed at the first tick
        self.journal.open()

    async def _stream(self, stop: asyncio.Event) -> bool:
        """Consume the source; True when it ended (finite), False when stopped."""
        tick = float(self.scfg.get("tick_ms", 20.0)) / 1000.0
        it = self.source.chunks(after=self.journal.last_position).__aiter__()
        nxt: asyncio.Task | None = None
        stopper = asyncio.create_task(stop.wait())
        refresh = float(self.scfg.get("bars_refresh_seconds", 60.0))
        bars_task: asyncio.Task | None = None
        last_refresh = time.monotonic()
        try:
            while True:
                # a live session's bars keep closing: read them again now and then, off the loop
                if refresh > 0 and bars_task is None and time.monotonic() - last_refresh >= refresh:
                    bars_task = asyncio.ensure_future(asyncio.to_thread(self.market.fresh_bars))
                if bars_task is not None and bars_task.done():
                    last_refresh = time.monotonic()
                    try:
                        self.market.refresh_bars(bars_task.result())
                    except Exception as exc:  # noqa: BLE001 - stale bars are counted, not fatal
                        self.report.last_error = redact(f"bars refresh: {type(exc).__name__}: {exc}")
                    bars_task = None
                if nxt is None:
                    nxt = asyncio.ensure_future(it.__anext__())
                done, _ = await asyncio.wait({nxt, stopper}, timeout=self._wait_s(tick),
                                             return_when=asyncio.FIRST_COMPLETED)
                if stopper in done:
                    nxt.cancel()
                    self._to_ack.extend(self._journal_inbound())  # kept, not committed: the next start does
                    await self._ack()
                    return False
                if nxt in done:
                    try:
                        chunk = nxt.result()
                    except StopAsyncIteration:
                        return True
                    nxt = None
                    self._receive(chunk)
                    self._dirty = True
                    # more already waiting? take it before committing (bigger steps under load)
                    if self._since_step() < tick:
                        continue
                t0 = time.perf_counter()
                stepped = self._dirty
                if self._dirty:
                    self.writer.check()  # a dead writer stops the stream before it scores into nowhere
                    self._dirty = False
                    self._step()
                    t0 = time.perf_counter()
                    await self._ack()
                self._write_inbox()
                self._heartbeat()
                busy = time.perf_counter() - t0
                if self._trace is not None and busy >= 0.005:
                    self._trace_line({"housekeeping_ms": round(busy * 1e3, 1)})
                # the next step waits a tick after the loop's work *ended* (the step and the
                # inbox batch, heartbeat and acks after it): a loop busier than the tick then
                # takes in everything that arrived meanwhile instead of stepping on one frame
                # (an idle pass leaves the clock alone: a lone print is scored at once)
                if stepped or busy >= tick:
                    self._last_step = time.monotonic()
        finally:
            stopper.cancel()
            if nxt is not None and not nxt.done():
                nxt.cancel()
            if bars_task is not None:
                bars_task.cancel()

    async def _ack(self) -> None:
        chunks, self._to_ack = self._to_ack, []
        for ch in chunks:
            await self.source.ack(ch)

    def _since_step(self) -> float:
        return time.monotonic() - self._last_step

    def _wait_s(self, tick: float) -> float:
        """How long the loop may wait for the next chunk: with prints received and not yet
        scored, only until a tick has passed since the last step (a full tick from each
        arrival held a broker consumer's message, which comes every ``ingest_batch_ms``, up to
        a tick more: it waited for a next message that came after the tick); otherwise a tick
        (the loop then goes round for its housekeeping)."""
        return max(0.0, tick - self._since_step()) if self._dirty else tick

    # ------------------------------------------------------------------ work

    def _receive(self, chunk: Chunk) -> None:
        if chunk.rejected:
            self._reject_raw(chunk.rejected)
        self.report.connections = self.source.connections
        self.report.gaps = list(self.source.gaps)
        self._inbound.append(chunk)

    def _journal_inbound(self) -> list[Chunk]:
        """Journal what arrived since the last step as one entry (one write, one record batch)
        and queue it for the scorer: it is scored with whatever else arrived by then, one
        validation per step rather than per websocket frame. Returns the chunks journaled (to
        acknowledge). A kill before this loses at most these chunks: a resumable source sends
        them again (their position was not journaled)."""
        chunks, self._inbound = self._inbound, []
        if not chunks:
            return []
        raw = [c for c in chunks if c.prints is None and c.raw_rows()]
        frames = [c.frame() for c in chunks if c.prints is not None and len(c.prints)]
        batch = None
        if raw:  # one conversion per step for sources that give raw rows or blocks
            batch = merge_chunks(raw).arrow()
            frames.append(from_arrow(batch))
        prints = (pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]).reindex(
            columns=OPTION_PRINTS.column_names) if frames else OPTION_PRINTS_EMPTY
        pos = next((c.position for c in reversed(chunks) if c.position is not None), None)
        clocks = [c.clock_ns for c in chunks if c.clock_ns is not None]
        clock = max(clocks) if clocks else None
        if len(prints) or pos is not None or clock is not None:
            # the raw prints' batch is journaled as built (the frame was made from it)
            rx0 = self.journal.append(batch if batch is not None and len(frames) == 1 else prints, pos,
                                      chunks[-1].received_at, clock)
            self.report.prints += len(prints)
            if len(prints):
                self._keep_frame(rx0, prints)
                self._pending.append((prints, np.arange(rx0, rx0 + len(prints)), chunks[-1].received_at))
        self._clock = max(self._clock, clock or 0)
        return chunks

    def _flush_pending(self) -> None:
        """Hand the prints received since the last step to the scorer, in received order."""
        if self._pending:
            prints = pd.concat([p for p, _, _ in self._pending], ignore_index=True) if len(self._pending) > 1 \
                else self._pending[0][0]
            self._add(prints, np.concatenate([r for _, r, _ in self._pending]), self._pending[-1][2])
            self._pending = []
        if self._clock:
            self.scorer.observe_clock(self._clock)

    def _add(self, prints: pd.DataFrame, rx: np.ndarray, received_at: dt.datetime | None) -> None:
        day = pd.to_datetime(prints["trade_date"], errors="coerce").dt.date.to_numpy(dtype=object)
        other = np.asarray([d is not None and not pd.isna(d) and d != self.day for d in day], dtype=bool)
        if other.any():
            bad = prints.iloc[np.flatnonzero(other)]
            q = quarantine_rows(
                "flow.option_prints", bad, source=f"stream:{self.source.name}:{self.stream_id}", field="trade_date",
                value=bad["trade_date"].to_numpy(dtype=object), row_number=rx[other],
                reason=f"print of another session than the one streamed ({self.day})", trade_date=[self.day] * len(bad))
            self.scorer.quarantine.append(q)
            self.scorer.counts["quarantined"] += len(bad)
            self.scorer.done.append(rx[other])
            keep = np.flatnonzero(~other)
            prints, rx = prints.iloc[keep], rx[keep]
        self.scorer.add(prints, rx, now=received_at)

    def _step(self, *, final: bool = False, journal: bool = True) -> StepResult:
        t0 = time.monotonic()
        try:
            return self._step_once(final=final, journal=journal)
        finally:
            self._last_step = time.monotonic()
            self._step_s = self._last_step - t0

    def _step_once(self, *, final: bool, journal: bool) -> StepResult:
        t0 = time.perf_counter()
        # the oldest chunk of the step: how long its prints waited for the step (ingest window,
        # broker, the loop's tick), in the trace
        first_rx = min((c.received_at for c in self._inbound), default=None) if self._trace is not None else None
        if journal:  # before committing: a restart advances at the same point
            self._to_ack.extend(self._journal_inbound())
            self.journal.mark("final" if final else "step")
        n_in = sum(len(p) for p, _, _ in self._pending)
        t1 = time.perf_counter()
        self._flush_pending()
        step = self.scorer.advance(final=final)
        if self._trace is not None:
            waited = None if first_rx is None else round((utcnow() - first_rx).total_seconds() * 1e3, 1)
            self._trace_line({"prints": n_in, "waited_ms": waited, "journal_ms": round((t1 - t0) * 1e3, 1),
                              "score_ms": round((time.perf_counter() - t1) * 1e3, 1), "signals": len(step.signals),
                              "open": self.scorer.open_prints})
        if len(step.signals) or len(step.quarantine) or step.divergences:
            self._commit(step)
        self.report.events += len(step.events)
        self.report.signals += len(step.signals)
        if len(step.done_rx):
            self._done.append(step.done_rx)
        if len(step.signals):
            # the receipt numbers of the orders with signals: the inbox batch holding an order's
            # prints lists its signals (every order's, a dict entry a print in a burst, is not needed)
            ids = step.events["event_id"].astype(str).to_numpy(dtype=object)
            for i in np.flatnonzero(pd.Index(ids).isin(step.signals["event_id"].astype(str))):
                self._event_rx[ids[i]] = np.asarray(step.event_rx[i], np.int64)
        if len(step.signals):
            self._sig_buf.append(step.signals)
        self._div_buf.extend(step.divergences)
        self.report.quarantined = self.scorer.counts["quarantined"]
        self.report.divergences = {k: v for k, v in self.scorer.counts["divergences"].items() if v}
        return step

    def _reject_raw(self, rejected: list[tuple[str, str]]) -> None:
        rows = pd.DataFrame({"raw": [r for r, _ in rejected]})
        q = quarantine_rows(
            "flow.option_prints", rows, source=f"stream:{self.source.name}:{self.stream_id}:raw", field=None,
            value=None, row_number=np.arange(self._raw_no, self._raw_no + len(rows)),
            reason=[why for _, why in rejected], trade_date=[self.day] * len(rows))
        self._raw_no += len(rows)
        self.scorer.quarantine.append(q)
        self.report.raw_rejected += len(rows)

    # ------------------------------------------------------------------ inbox and heartbeat

    def _keep_frame(self, rx0: int, prints: pd.DataFrame) -> None:
        self._grow(rx0 + len(prints))
        left = int((~self._written[rx0:rx0 + len(prints)]).sum())
        if left:
            self._frames[rx0] = prints
            self._left[rx0] = left

    def _grow(self, n: int) -> None:
        if n > len(self._written):
            self._written = np.append(self._written, np.zeros(max(n - len(self._written), 4096), np.bool_))

    def _mark_written(self, rx: np.ndarray) -> None:
        if len(rx):
            self._grow(int(rx.max()) + 1)
            self._written[rx] = True

    def _write_inbox(self, *, force: bool = False) -> None:
        """Every ``stream.inbox_seconds``: the prints whose processing finished since the last
        batch, as one inbox batch for the sensor path, with the side file listing the stream's
        signals of those orders and its divergences (written first: the sensor may see the batch
        the moment it is renamed in)."""
        every = float(self.scfg.get("inbox_seconds", 2.0))
        since = time.monotonic() - self._last_inbox
        if every <= 0 or (not force and since < every):
            return
        # while the loop is behind (a step took longer than stream.busy_step_seconds: a burst),
        # the batch waits, up to stream.inbox_max_defer_seconds: building and handing it over
        # costs the loop and the writer process CPU the alerts need, and the sensor path runs
        # behind the stream by design
        if not force and self._step_s >= float(self.scfg.get("busy_step_seconds", 1.0)) \
                and since < float(self.scfg.get("inbox_max_defer_seconds", 15.0)):
            self.report.inbox_deferred += 1
            return
        self._last_inbox = time.monotonic()
        if not self._done:
            return
        rx = np.unique(np.concatenate(self._done))
        self._done = []
        self._grow(int(rx.max()) + 1)
        rx = rx[~self._written[rx]]
        if not len(rx):
            return
        keys = np.sort(np.fromiter(self._frames.keys(), np.int64))
        which = keys[np.searchsorted(keys, rx, side="right") - 1]
        batch = pd.concat([self._frames[int(k)].iloc[rx[which == k] - k] for k in np.unique(which)],
                          ignore_index=True)
        before = self._written.copy()
        self._written[rx] = True
        sigs = pd.concat(self._sig_buf, ignore_index=True) if self._sig_buf else None
        if sigs is not None:
            # a signal goes with the batch holding its order's prints; one whose prints went out
            # before a restart was listed then (scored again while recovering: not again)
            erx = [self._event_rx.get(str(e), rx[:0]) for e in sigs["event_id"]]
            mine = np.asarray([len(r) > 0 and bool(np.isin(r, rx).all()) for r in erx], bool)
            old = np.asarray([len(r) > 0 and bool(before[r].all()) for r in erx], bool)
            rest = sigs[~mine & ~old]
            sigs = sigs[mine]
            self._sig_buf = [rest] if len(rest) else []
        name = f"stream-{self.stream_id}-{self.day:%Y%m%d}-{int(rx[0]):09d}.parquet"
        side = {
            "stream_id": self.stream_id, "trade_date": self.day.isoformat(), "batch": name,
            "prints": int(len(rx)), "rx_first": int(rx[0]), "rx_last": int(rx[-1]),
            "signals": [] if sigs is None else json.loads(sigs.to_json(orient="records", date_format="iso")),
            "divergences": json.loads(divergence_frame(self._div_buf, self.stream_id, self.day, utcnow())
                                      .to_json(orient="records", date_format="iso")) if self._div_buf else [],
        }
        self._div_buf = []
        self.writer.submit("batch", name, side, batch, rx)
        self._forget_written_events()
        for k in np.unique(which):
            k = int(k)
            self._left[k] -= int((which == k).sum())
            if self._left[k] <= 0:
                del self._left[k], self._frames[k]

    def _forget_written_events(self) -> None:
        """Drop the receipt numbers of the orders whose prints all went out in inbox batches
        (checked in one pass: a burst leaves tens of thousands of orders here)."""
        if not self._event_rx:
            return
        keys = list(self._event_rx)
        rxs = list(self._event_rx.values())
        order = np.repeat(np.arange(len(rxs)), [len(r) for r in rxs])
        # an order with no prints has nothing left to send: it goes too (as .all() of nothing)
        unwritten = np.bincount(order, weights=~self._written[np.concatenate(rxs)], minlength=len(rxs))
        for i in np.flatnonzero(unwritten == 0):
            del self._event_rx[keys[i]]

    def _heartbeat(self, *, force: bool = False) -> None:
        every = float(self.scfg.get("heartbeat_seconds", 5.0))
        now_m = time.monotonic()
        if not force and now_m - self._last_hb < every:
            return
        self._last_hb = now_m
        sc = self.scorer
        now = utcnow()
        wm = sc.watermark
        wm_wall = None if wm == INT64_MIN else pd.Timestamp(wm, tz="UTC").tz_convert("America/New_York").tz_localize(None)
        lag = None if wm == INT64_MIN else round((time.time_ns() - wm) / 1e9, 3)
        counts = self._counts
        status = {
            "state": self.state, "source": self.source.name, "trade_date": self.day.isoformat(),
            "prints": self.report.prints, "events": self.report.events, "signals": self.report.signals,
            "quarantined": sc.counts["quarantined"] + self.report.raw_rejected,
            "divergences": sum(sc.counts["divergences"].values()),
            "divergences_by_reason": self.report.divergences, "open_prints": sc.open_prints,
            "alerts_pending": counts.get("pending", 0) + counts.get("sending", 0),
            "alerts_sent": counts.get("sent", 0), "alerts_failed": counts.get("failed_permanent", 0),
            "lag_seconds": lag, "watermark_ts": None if wm_wall is None else str(wm_wall),
            "connections": self.source.connections, "gaps": len(self.source.gaps),
            "recovered_prints": self.report.recovered_prints, "inbox_batches": self.report.inbox_batches,
            "inbox_deferred": self.report.inbox_deferred,
            "contracts_without_chain": sc.counts["contracts_without_chain"],
            "underlyings_without_bars": sc.counts["underlyings_without_bars"],
            "timings_s": {k: round(v, 3) for k, v in sc.timings.items()},
            "writer_priority": self.report.writer_priority,
            "last_error": self.report.last_error, "db": str(self.db_path),
        }
        write_status(self.root, self.stream_id, status)
        row = {"ts": now, "stream_id": self.stream_id, "trade_date": self.day, "state": self.state,
               "source": self.source.name, "prints": self.report.prints, "events": self.report.events,
               "signals": self.report.signals, "quarantined": status["quarantined"],
               "divergences": status["divergences"], "open_prints": sc.open_prints,
               "alerts_pending": status["alerts_pending"], "lag_seconds": lag, "watermark_ts": wm_wall,
               "connections": self.source.connections, "last_error": self.report.last_error}
        by_kind = {k: v["signals"] for k, v in sc.counts["funnel"].items()}
        stats = {"ts": dt.datetime.now(), "events_per_minute": None, "signals_by_kind": by_kind,
                 "open_positions": None, "lag_seconds": lag, "last_error": self.report.last_error}
        self.writer.submit("heartbeat", row, stats)
