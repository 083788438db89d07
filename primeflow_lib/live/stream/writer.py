"""The stream's database writer and relay, in a process of their own.

A scoring step's signals must be committed (outbox rows, alert rules, enrichment) before the
relay sends them; that commit is mostly Python work (pandas frames for the rules and the
enrichment) of 100-200 ms a step. On a thread beside the scoring loop it took the interpreter
lock from the loop: a replay at full speed ran 30 % slower with commits than without. Here the
stream database, the commits, the inbox batches (and the record of what went in them), the
heartbeat rows and the relay live in a child process, on the other core.

Protocol: the service puts tasks on a queue in the order it wants them done (``commit``,
``batch``, ``heartbeat``, ``written_rx``, ``stop``); the child does them one after another, in
that order except that a ``commit`` goes before the batches and heartbeats queued ahead of it
(never before a ``written_rx`` or ``stop``), and answers on a second queue (``ready``, ``alerts`` n, ``batch`` name, ``counts``, ``written_rx``,
``error`` text, ``stopped``). A listener thread in the service hands the answers to callbacks.

**Crashes.** The child dies with its parent (``PR_SET_PDEATHSIG``: a SIGKILL of the service
takes the writer with it, as it took the thread before): tasks queued and not done are lost
exactly as a thread's queue was, and recovery scores the journal again and rewrites them (each
write is idempotent). A new writer waits up to ``open_timeout_s`` for the file lock of a writer
that is still being reaped.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import datetime as dt
import gc
import json
import logging
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from primeflow_lib.live.stream.priority import raise_own_priority, writer_priority
from primeflow_lib.redact import redact

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1

#: the cyclic collector's thresholds while streaming, in the service (restored after) and the
#: writer process: the websocket hand-over and a commit's pandas work make tens of thousands of
#: short-lived containers a second; at Python's default (700, 10, 10) young collections ran
#: dozens of times a second and walked each step's rows again at every promotion
GC_THRESHOLDS = (50_000, 20, 20)


@dataclass
class WriterSettings:
    """What the child needs to open the store and run the relay (all picklable).

    Attributes:
        db_path: the stream database.
        stream_id: this instance.
        cfg: the loaded config (alerts, stream).
        day: the session.
        inbox: where batches for the sensor path go.
        environ: the channels' secrets (None: the child's environment, inherited).
        relay: run the relay.
        alert_inputs: a read copy to copy the alert rules and earnings from at start.
        open_timeout_s: how long to wait for the database's lock (a previous writer being reaped).
    """

    db_path: Path
    stream_id: str
    cfg: dict[str, Any]
    day: dt.date
    inbox: Path
    environ: dict[str, str] | None = None
    relay: bool = True
    alert_inputs: Path | None = None
    open_timeout_s: float = 30.0
    extra: dict[str, Any] = field(default_factory=dict)


class WriterError(RuntimeError):
    """The writer process could not start, or stopped answering."""


class WriterProcess:
    """The child process (see module doc) and the service's side of it.

    Callbacks (called on the listener thread): ``on_alerts(n)`` after a commit enqueued ``n``
    alerts (sent by then, unless a channel must wait), ``on_batch(name)`` after an inbox batch
    is written, ``on_counts(dict)`` with the outbox counts after a heartbeat, ``on_error(text)``
    for a task that failed (the writer carries on).
    """

    def __init__(self, settings: WriterSettings, *, on_alerts: Callable[[int], None] | None = None,
                 on_batch: Callable[[str], None] | None = None,
                 on_counts: Callable[[dict[str, int]], None] | None = None,
                 on_error: Callable[[str], None] | None = None) -> None:
        self.settings = settings
        self._cbs = {"alerts": on_alerts, "batch": on_batch, "counts": on_counts, "error": on_error}
        ctx = mp.get_context("spawn")  # the service has threads and open files: no fork
        self._tasks = ctx.Queue()
        self._answers = ctx.Queue()
        self._proc = ctx.Process(target=_child_main, args=(settings, self._tasks, self._answers, os.getpid()),
                                 name=f"stream-writer-{settings.stream_id}", daemon=True)
        self._listener: threading.Thread | None = None
        #: the child lowered its niceness by ``stream.writer_priority`` (see :mod:`.priority`)
        self.priority_raised = False
        self._reply: queue.Queue = queue.Queue()
        self._stopped = threading.Event()

    def start(self, timeout_s: float = 120.0) -> None:
        """Start the child and wait until its database is open. Raises :class:`WriterError`."""
        self._proc.start()
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                kind, payload = self._answers.get(timeout=0.5)
            except queue.Empty:
                if not self._proc.is_alive():
                    raise WriterError(f"stream writer exited at start (code {self._proc.exitcode})") from None
                if time.monotonic() > deadline:
                    self.kill()
                    raise WriterError(f"stream writer did not open {self.settings.db_path} within "
                                      f"{timeout_s:g} s") from None
                continue
            if kind == "ready":
                self.priority_raised = bool(payload)
                break
            if kind == "fatal":
                self._proc.join(timeout=10)
                raise WriterError(payload)
        self._listener = threading.Thread(target=self._listen, name=f"writer-answers-{self.settings.stream_id}",
                                          daemon=True)
        self._listener.start()

    def submit(self, kind: str, *args: Any) -> None:
        """Queue a task (the queue's feeder thread pickles and sends it: this does not block)."""
        self._tasks.put((kind, args))

    def written_rx(self, timeout_s: float = 60.0) -> np.ndarray:
        """Receipt numbers of the session already written to an inbox batch (a round trip).
        Raises :class:`WriterError` when the writer fails to read them, dies or does not answer."""
        while not self._reply.empty():  # a late answer to an earlier call that timed out
            self._reply.get_nowait()
        self.submit("written_rx")
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                got = self._reply.get(timeout=0.5)
            except queue.Empty:
                self.check()
                if time.monotonic() > deadline:
                    raise WriterError(f"stream writer did not answer within {timeout_s:g} s") from None
                continue
            if isinstance(got, str):
                raise WriterError(f"stream writer: reading the inbox record: {got}")
            return got

    def stop(self, timeout_s: float = 120.0) -> None:
        """Let the child finish every queued task and the relay's final drain, then exit;
        killed after ``timeout_s``."""
        if not self._proc.is_alive():
            self._stopped.set()
            self._tasks.cancel_join_thread()  # nobody reads the queue: do not wait on its pipe at exit
            return
        self.submit("stop")
        self._proc.join(timeout=timeout_s)
        if self._proc.is_alive():
            log.error("stream writer did not stop within %.0f s: killed", timeout_s)
            self.kill()
        self._stopped.set()
        if self._listener is not None:
            self._listener.join(timeout=10)
        self._tasks.close()
        if self._proc.exitcode == 0:
            self._tasks.join_thread()
        else:  # tasks it never read may fill the pipe: waiting for them to be written would hang
            self._tasks.cancel_join_thread()

    def kill(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._proc.kill()
        self._proc.join(timeout=10)

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def check(self) -> None:
        """Raise :class:`WriterError` when the child died while the service still needs it (an
        out-of-memory kill, a crash): nothing it was sent since is stored or sent, and carrying on
        would score into nowhere. The service stops with the error; its next start scores the
        journal again and stores and sends what was lost (every write is idempotent)."""
        if not self._stopped.is_set() and not self._proc.is_alive():
            raise WriterError(f"the stream writer process ended unexpectedly (exit code {self._proc.exitcode}); "
                              "restart the stream: it recovers from its journal")

    def _listen(self) -> None:
        while True:
            try:
                kind, payload = self._answers.get(timeout=0.5)
            except queue.Empty:
                if (self._stopped.is_set() or not self._proc.is_alive()) and self._answers.empty():
                    return
                continue
            except (EOFError, OSError):
                return
            if kind == "stopped":
                return
            if kind == "written_rx":
                self._reply.put(payload)
                continue
            cb = self._cbs.get(kind)
            if cb is not None:
                try:
                    cb(payload)
                except Exception:  # noqa: BLE001 - a callback must not end the listener
                    log.exception("stream writer callback %s", kind)


# ---------------------------------------------------------------------------------- the child


def die_with_parent(parent_pid: int) -> None:
    """Make this child process die with its parent (``PR_SET_PDEATHSIG``: a SIGKILL of the
    service takes its children with it); exits at once if the parent is already gone."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the line above
        os._exit(1)


def _open_store(settings: WriterSettings):  # noqa: ANN202 - StreamStore, imported late
    from primeflow_lib.live.stream.store import StreamStore

    deadline = time.monotonic() + settings.open_timeout_s
    while True:
        try:
            return StreamStore(settings.db_path, settings.stream_id)
        except duckdb.IOException as exc:
            # a writer killed with its parent holds the file until it is reaped
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class DrainTracker:
    """Commits with alerts against the relay's drains, so the writer can wait for a commit's
    alerts to go out before it writes an inbox batch (a batch holds the writer's interpreter
    lock for hundreds of milliseconds in a burst; the alerts are what is late). A drain sends
    everything committed before it began."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._committed = 0
        self._drained = 0

    def committed(self) -> None:
        """A commit enqueued alerts (call after its transaction)."""
        with self._cond:
            self._committed += 1

    def starting(self) -> int:
        """A drain begins: returns what it will cover (pass it to :meth:`drained`)."""
        with self._cond:
            return self._committed

    def drained(self, upto: int) -> None:
        """The drain begun with ``upto`` ended (sent, or gave up for now)."""
        with self._cond:
            self._drained = max(self._drained, upto)
            self._cond.notify_all()

    def wait(self, timeout_s: float) -> bool:
        """Until every commit so far is drained, at most ``timeout_s``; True when drained."""
        with self._cond:
            return self._cond.wait_for(lambda: self._drained >= self._committed, timeout=timeout_s)


#: tasks a commit may not overtake: ``written_rx`` answers for everything queued before it
_BARRIERS = ("stop", "written_rx")


def _next_task(tasks: Any, waiting: list[tuple[str, tuple]]) -> tuple[str, tuple]:
    """The next task to do: everything already queued is read into ``waiting``, and the first
    ``commit`` there goes before inbox batches and heartbeats queued ahead of it (an alert waits
    for its commit, a batch for the sensor path can wait: under a burst a batch takes hundreds
    of milliseconds). Nothing overtakes a ``stop`` or ``written_rx``; otherwise in order."""
    if not waiting:
        waiting.append(tasks.get())
    with contextlib.suppress(queue.Empty):
        while True:
            waiting.append(tasks.get_nowait())
    for i, (kind, _) in enumerate(waiting):
        if kind in _BARRIERS:
            break
        if kind == "commit":
            return waiting.pop(i)
    return waiting.pop(0)


def take_commits(waiting: list[tuple[str, tuple]]) -> list[tuple]:
    """Remove from ``waiting`` the ``commit`` tasks queued before its first barrier and return
    their arguments, in order (they join the commit being done: see :func:`merge_steps`)."""
    out: list[tuple] = []
    keep: list[tuple[str, tuple]] = []
    for i, (kind, args) in enumerate(waiting):
        if kind in _BARRIERS:
            keep.extend(waiting[i:])
            break
        if kind == "commit":
            out.append(args)
        else:
            keep.append((kind, args))
    waiting[:] = keep
    return out


def merge_steps(steps: list[Any]) -> Any:
    """Several scoring steps' results as one commit: their signals, quarantine rows and
    divergences, in order. A commit has a fixed cost of tens of milliseconds (alert rules,
    enrichment, two transactions); when commits queue up behind one (a burst), one commit takes
    them all and their alerts leave together instead of one fixed cost after another."""
    if len(steps) == 1:
        return steps[0]
    sig = [s.signals for s in steps if len(s.signals)] or [steps[0].signals]
    qua = [s.quarantine for s in steps if len(s.quarantine)] or [steps[0].quarantine]
    return dataclasses.replace(
        steps[0],
        signals=pd.concat(sig, ignore_index=True) if len(sig) > 1 else sig[0],
        quarantine=pd.concat(qua, ignore_index=True) if len(qua) > 1 else qua[0],
        divergences=[d for s in steps for d in s.divergences],
    )


def _child_main(settings: WriterSettings, tasks: Any, answers: Any, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    # before any thread starts (DuckDB's, the relay's, the queues'): they inherit it
    try:
        raised = raise_own_priority(writer_priority((settings.cfg.get("stream") or {}).get("writer_priority")))
    except ValueError as exc:  # reported to the parent, which raises it
        answers.put(("fatal", f"stream writer: {exc}"))
        return
    # a group of its own: a SIGTERM or Ctrl-C to the service's process group (a supervisor, a
    # terminal) stops the service, which then stops the writer after its queued work; killed
    # with the group, the writer would lose that work and the service's stop would fail
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from primeflow_lib.alerts.relay import Relay
    from primeflow_lib.alerts.routing import resolve_channels
    from primeflow_lib.live.inbox import SIDE_SUFFIX, write_batch

    try:
        store = _open_store(settings)
        if settings.alert_inputs is not None:
            store.copy_alert_inputs(settings.alert_inputs)
        channels = resolve_channels(settings.cfg, settings.environ)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        answers.put(("fatal", redact(f"stream writer: {type(exc).__name__}: {exc}")))
        return
    scfg = settings.cfg.get("stream") or {}
    wake = threading.Event()
    stopping = threading.Event()
    relay_error: list[str] = []
    drains = DrainTracker()
    relay_wait_s = float(scfg.get("relay_wait_seconds", 2.0))

    def relay_loop() -> None:
        relay = Relay(store.cursor, channels, db_retry_s=30.0)
        # rows a relay left in 'sending' come from an earlier writer (or a drain or a commit's
        # sending of this one that failed): these are the database's only relays, so it
        # recovers at its first drain, after a failed one and once a minute, not at every
        # drain (a transaction each)
        recover_at = 0.0
        try:
            while not stopping.is_set():
                wake.wait(timeout=1.0)
                wake.clear()
                if recover_soon.is_set():
                    recover_soon.clear()
                    recover_at = 0.0
                upto = drains.starting()
                try:
                    recover = time.monotonic() >= recover_at
                    rep = relay.drain(max_seconds=5.0, recover=recover)
                    if recover:
                        recover_at = time.monotonic() + 60.0
                except Exception as exc:  # noqa: BLE001 - the relay must outlive one bad drain
                    recover_at = 0.0
                    relay_error.append(redact(f"relay: {type(exc).__name__}: {exc}"))
                    answers.put(("error", relay_error[-1]))
                    time.sleep(1.0)
                    continue
                finally:
                    drains.drained(upto)
                if rep.pending:
                    wake.set()
            relay.drain(max_seconds=float(scfg.get("relay_final_seconds", 10.0)))
        finally:
            relay.close()

    def wait_for_relay() -> None:
        """Until the relay has drained after the last commit with alerts (at most
        ``stream.relay_wait_seconds``: a channel that is down must not stop the writer)."""
        if relay_thread is not None:
            drains.wait(relay_wait_s)

    # what is loaded by now (modules, the store, the rules) lives as long as the process: out of
    # the collector's way, and young collections once per 50,000 allocations (a commit's ~70 ms
    # ran ~10 % faster on the benchmark's signals)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    relay_thread = threading.Thread(target=relay_loop, name="relay", daemon=True) if settings.relay else None
    # A commit claims its alerts in its own transaction and this thread sends them right after
    # it (no claim transaction, no hand-over to the relay thread); the relay thread drains what
    # is left: retries, paced rows, heartbeats, a failed sending's rows (after its recover).
    sender = Relay(store.cursor, channels, db_retry_s=30.0) if settings.relay else None
    recover_soon = threading.Event()
    if relay_thread is not None:
        relay_thread.start()
    answers.put(("ready", raised))

    def enqueued(n: int, claimed: list[dict[str, Any]]) -> None:
        answers.put(("alerts", n))
        finished = 0  # of the n: sent, or failed for good (refused at the claim included)
        if n and sender is not None:
            try:
                rep = sender.deliver(claimed, max_seconds=relay_wait_s)
                finished = rep.sent + rep.failed_permanent
            except Exception as exc:  # noqa: BLE001 - its claims are re-queued by the relay thread
                relay_error.append(redact(f"relay: {type(exc).__name__}: {exc}"))
                answers.put(("error", relay_error[-1]))
                recover_soon.set()
        if n > finished:  # pacing held some back, a send is to be retried, or the sending failed
            drains.committed()
            wake.set()

    def write_batch_files(name: str, side: dict[str, Any], batch: pd.DataFrame, rx: np.ndarray) -> None:
        inbox = Path(settings.inbox)
        inbox.mkdir(parents=True, exist_ok=True)
        # the alerts and rule hits of its signals, as committed (this process committed them)
        side.update(store.delivered([str(s["signal_id"]) for s in side["signals"]]))
        tmp = inbox / f".{name}{SIDE_SUFFIX}.tmp"
        tmp.write_text(json.dumps(side))
        os.replace(tmp, inbox / f"{name}{SIDE_SUFFIX}")
        write_batch(batch, inbox, name=name)
        store.mark_inbox(settings.day, rx, name)
        answers.put(("batch", name))

    waiting: list[tuple[str, tuple]] = []
    try:
        while True:
            kind, args = _next_task(tasks, waiting)
            if kind == "stop":
                break
            try:
                if kind == "commit":
                    step = merge_steps([args[0], *(a[0] for a in take_commits(waiting))])
                    if sender is None:
                        store.commit(step, settings.cfg, day=settings.day, on_alerts=enqueued)
                    else:
                        with sender.holding():
                            store.commit(step, settings.cfg, day=settings.day, on_alerts=enqueued,
                                         claim=sender.claim_in)
                    wait_for_relay()
                elif kind == "batch":
                    write_batch_files(*args)
                elif kind == "heartbeat":
                    row, stats = args
                    store.heartbeat(row, settings.cfg, stats)
                    answers.put(("counts", store.outbox_counts()))
                    wake.set()
                elif kind == "written_rx":
                    answers.put(("written_rx", store.written_rx(settings.day)))
                else:
                    raise ValueError(f"unknown writer task {kind!r}")
            except Exception as exc:  # noqa: BLE001 - reported; the writer carries on
                text = redact(f"{type(exc).__name__}: {exc}")
                answers.put(("written_rx", text) if kind == "written_rx" else ("error", text))
    finally:
        stopping.set()
        wake.set()
        if relay_thread is not None:
            relay_thread.join(timeout=float(scfg.get("relay_final_seconds", 10.0)) + 30)
        if sender is not None:
            sender.close()
        store.close()
        gc.unfreeze()  # the interpreter's exit may collect them again (extensions check for leaks)
        answers.put(("stopped", None))
        answers.close()
        answers.join_thread()
