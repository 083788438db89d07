"""The relay: delivers pending outbox rows, at least once, paced, with bounded retries.

One cycle per alert::

    claim   connect; UPDATE pending -> sending (attempts + 1); COMMIT; close
    send    one POST per part, paced per destination      (no DuckDB connection is open)
    mark    connect; UPDATE sent | failed_permanent | pending + next_attempt_at; COMMIT; close

A writer that enqueues rows may claim them in its own transaction instead
(:meth:`Relay.claim_in`, same pacing and quarantine checks) and send them right after its commit
(:meth:`Relay.deliver`: send and mark as above), inside :meth:`Relay.holding` so that no other
relay of the process takes the claims back meanwhile; the streaming path's writer does so, which
saves a claim transaction per commit and the hand-over to a relay thread.

Guarantees:

* **At least once.** A row is marked only after its POST returned. If the relay dies between
  the two, the row stays ``sending``; the next relay (:meth:`Relay.drain` starts with
  :meth:`Relay.recover`) sees that the claimer's process is gone (host, pid and process start
  time are in ``claimed_by``) and sends it again. Rows of a claimer on another host, or one that
  is alive but silent, are taken back after ``lease_s``.
* **Duplicates <= crashes.** Parts are sent one at a time and each success is written before the
  next POST, so a crash can repeat only the one part in flight. A multi-part message resumes from
  its next unsent part (``parts_sent``).
* **Bounded retries.** 429: wait ``Retry-After`` / ``retry_after`` capped at
  ``RetryPolicy.retry_after_cap_s``; 5xx, timeouts, connection errors: jittered exponential
  backoff; both end in ``failed_permanent`` after ``max_attempts``. Other 4xx end at once; a
  401/403/404/410 also disables the channel for this relay, so one revoked webhook costs one
  request and one operator notice, not a retry storm (its other alerts stay pending for a
  relay started after the fix).
* **No secret leaves.** Senders return redacted errors; the URL-printing loggers are filtered;
  tables only get redacted text.

Sending is sequential on purpose: concurrency would multiply the duplicates one crash can cause.
A destination that must wait (pacing, backoff) does not hold back the others: each loop sends
what is allowed now and sleeps only when nothing is.

Run from a shell: ``python -m primeflow_lib.alerts --db var/primeflow.duckdb [--follow]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import random
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import psutil
import requests

from primeflow_lib.alerts import outbox
from primeflow_lib.alerts.pacing import SHARED_PACER, Pacer, primary_key
from primeflow_lib.alerts.retry import RetryPolicy
from primeflow_lib.alerts.routing import Channel, Channels, resolve_channels
from primeflow_lib.alerts.senders import (
    DEFAULT_TIMEOUT,
    AlertMessage,
    Sender,
    SendOutcome,
    make_sender,
    new_session,
)
from primeflow_lib.redact import install_log_redaction, redact

log = logging.getLogger(__name__)

Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]

_HOST = socket.gethostname().replace("|", "_")
#: relays of this process inside drain() / holding() (nested blocks counted)
_ACTIVE: dict[str, int] = {}
_ACTIVE_LOCK = threading.Lock()


def _process_start(pid: int) -> str | None:
    try:
        p = psutil.Process(pid)
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        return f"{p.create_time():.2f}"
    except psutil.Error:
        return None


_MY_START = _process_start(os.getpid()) or "0"


class RelayDatabaseError(RuntimeError):
    """The outbox could not be read or written (after retrying a locked file)."""


@dataclass
class RelayReport:
    """What one :meth:`Relay.drain` did. Holds no secret (errors are redacted).

    Attributes:
        sent: alerts marked sent.
        parts_sent: message parts delivered (POSTs that succeeded).
        attempts: POSTs made (every part, every outcome).
        rate_limited: 429s received.
        retried: transient failures re-queued with backoff.
        failed_permanent: alerts marked failed_permanent.
        recovered: rows found in ``sending`` from a dead relay and re-queued.
        refused_quarantined: alerts marked failed_permanent unsent because their signal
            references a print ``flow.quarantine`` holds (also counted in failed_permanent).
        disabled_channels: channels switched off after a revoked-token / deleted-webhook answer.
        pending: pending rows left (due or not) when the drain returned.
        next_attempt_in_s: seconds until the earliest pending row is due (None: none).
        elapsed_s: wall time of the drain.
        errors: the first 20 redacted error texts.
    """

    sent: int = 0
    parts_sent: int = 0
    attempts: int = 0
    rate_limited: int = 0
    retried: int = 0
    failed_permanent: int = 0
    recovered: int = 0
    refused_quarantined: int = 0
    disabled_channels: list[str] = field(default_factory=list)
    pending: int = 0
    next_attempt_in_s: float | None = None
    elapsed_s: float = 0.0
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Relay:
    """Delivers ``live.alert_outbox`` rows.

    One relay is used by one thread at a time; several relays (threads or processes) may drain
    the same outbox: a row is claimed by exactly one of them.

    Args:
        connect: a factory returning a *new* DuckDB connection, or a context manager yielding
            one (``lambda: duckdb.connect(path)``, or ``functools.partial(warehouse.connect,
            path)``); the relay closes it after each short transaction and never keeps one
            open across an HTTP call.
        channels: from :func:`~primeflow_lib.alerts.routing.resolve_channels`.
        policy: retry policy (caps, backoff, max attempts).
        pacer: pacing state; default the process-wide one (so limits hold across relays), or a
            private one when ``clock`` is given.
        clock: wall-clock seconds (default :func:`time.time`): deadlines, outbox times, pacing
            when a private pacer is used. Inject with ``sleep`` for fast tests.
        sleep: how to wait (default :func:`time.sleep`).
        timeout: ``(connect, read)`` seconds per POST.
        session: a ``requests.Session`` to reuse (default: one per relay).
        batch_size: rows claimed per transaction (unpaced destinations only; a paced one
            gets one row per loop).
        lease_s: a ``sending`` row whose claimer cannot be checked (another host) or is
            alive but silent is taken back after this long.
        db_retry_s: how long a locked or conflicting transaction is retried.
        log_deliveries: write one ``live.alert_deliveries`` row per POST.
        rng: random source for jitter (seed it in tests).
    """

    def __init__(
        self,
        connect: Connect,
        channels: Channels,
        *,
        policy: RetryPolicy | None = None,
        pacer: Pacer | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        batch_size: int = 20,
        lease_s: float = 300.0,
        db_retry_s: float = 60.0,
        log_deliveries: bool = True,
        rng: random.Random | None = None,
    ) -> None:
        self._connect = connect
        self.channels = channels
        self.policy = policy or RetryPolicy()
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep
        if pacer is None:
            pacer = Pacer(clock=clock) if clock is not None else SHARED_PACER
        self.pacer = pacer
        self.timeout = timeout
        self._own_session = session is None
        self.session = session or new_session()
        self.batch_size = max(1, batch_size)
        self.lease_s = lease_s
        self.db_retry_s = db_retry_s
        self.log_deliveries = log_deliveries
        self.rng = rng or random.Random()
        self.relay_id = outbox.new_relay_id(_HOST, os.getpid(), float(_MY_START))
        self._senders: dict[str, Sender] = {}
        self._disabled: dict[str, str] = {}
        self._refused = 0  # alerts refused in the current claim step (quarantined prints)
        self._warned_unknown: set[str] = set()
        install_log_redaction()

    @classmethod
    def from_config(
        cls,
        connect: Connect,
        cfg: dict[str, Any],
        environ: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Relay:
        """Resolve the channels from ``cfg`` and the environment (errors at once, see
        :func:`~primeflow_lib.alerts.routing.resolve_channels`) and build a relay."""
        return cls(connect, resolve_channels(cfg, environ), **kwargs)

    # ------------------------------------------------------------------ public

    def drain(self, max_seconds: float = 30.0, *, recover: bool = True) -> RelayReport:
        """Send what is pending, waiting for pacing and retries while ``max_seconds`` allow.

        Starts with :meth:`recover` (``recover=False`` skips it: a caller that is the outbox's
        only relay and recovered once, the streaming path's writer, saves a transaction per
        drain). Returns when nothing is pending, or when the next send would start after the
        deadline (a send already started finishes: at most one HTTP timeout past it). Rows
        still waiting stay pending for the next call; see ``RelayReport.pending`` and
        ``next_attempt_in_s``.
        """
        t0 = self.clock()
        deadline = t0 + max(0.0, max_seconds)
        report = RelayReport()
        with self._active():
            report.recovered = self.recover() if recover else 0
            first = True
            drained = False  # nothing due or waiting on an enabled channel: nothing pending
            while True:
                now = self.clock()
                if not first and now >= deadline:
                    break
                first = False
                # One transaction reads what is due, applies pacing and claims: a fresh DuckDB
                # open costs tens of milliseconds, so a relay cycle spends as few as it can.
                self._refused = 0
                rows, waits = self._db(lambda con, now=now: self._claim_step(con, now))
                report.refused_quarantined += self._refused
                report.failed_permanent += self._refused
                if rows:
                    for row in rows:
                        self._deliver(row, deadline, report)
                    continue
                if not waits:
                    drained = not self._disabled
                    break  # nothing pending (or only rows of disabled channels)
                wake = min(waits)
                if self.clock() + wake > deadline:
                    break
                self.sleep(max(wake, 0.001))
            # the last claim step found nothing pending: no second look (a row committed since
            # wakes the caller's next drain)
            report.pending, report.next_attempt_in_s = (0, None) if drained else self._db(self._pending_summary)
        report.disabled_channels = sorted(self._disabled)
        report.elapsed_s = round(self.clock() - t0, 3)
        return report

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """While inside, this relay's claims count as alive to every relay of this process
        (their :meth:`recover` leaves them alone, as it does a relay inside :meth:`drain`).
        Wrap :meth:`claim_in` *and* the :meth:`deliver` that follows in one block: a claim left
        when the block ends (the sender died in between) is re-queued by the next recover."""
        with self._active():
            yield

    def claim_in(self, con: duckdb.DuckDBPyConnection, due: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Claim ``due`` (``(alert_key, channel)`` of pending rows, oldest first) in the caller's
        open transaction: the rows that pacing allows now, as :meth:`drain` would claim them
        (rows of a channel this relay disabled are skipped; quarantined ones refused). Rows not
        claimed stay pending for :meth:`drain`. Call inside :meth:`holding` and pass the rows to
        :meth:`deliver` once the transaction has committed.

        The streaming path's writer uses it to claim a commit's alerts in the commit itself and
        send them at once, without a claim transaction of its own."""
        self._refused = 0
        due = [(k, c) for k, c in due if c not in self._disabled]
        rows, _waits = self._claim_due(con, due, _ts(self.clock()))
        return rows

    def deliver(self, rows: list[dict[str, Any]], max_seconds: float = 30.0) -> RelayReport:
        """Send rows this relay claimed with :meth:`claim_in` (each POST, then its mark in a
        short transaction, exactly as :meth:`drain` does). A row that must wait (pacing after
        a 429, a retry) goes back to pending for :meth:`drain`."""
        t0 = self.clock()
        report = RelayReport(refused_quarantined=self._refused, failed_permanent=self._refused)
        self._refused = 0
        with self._active():
            for row in rows:
                self._deliver(row, t0 + max(0.0, max_seconds), report)
        report.disabled_channels = sorted(self._disabled)
        report.elapsed_s = round(self.clock() - t0, 3)
        return report

    def recover(self) -> int:
        """Re-queue rows left in ``sending`` by a relay that died (or whose lease expired).

        Returns the rows re-queued; they are sent again (at least once)."""

        def _run(con: duckdb.DuckDBPyConnection) -> int:
            now = _ts(self.clock())
            lease_cutoff = now - dt.timedelta(seconds=self.lease_s)
            n = 0
            for owner, _oldest, _count in outbox.sending_owners(con):
                alive = self._owner_alive(owner)
                if alive is False:
                    n += outbox.release_owner(con, owner, now)
                else:
                    n += outbox.release_owner(con, owner, now, older_than=lease_cutoff)
            return n

        n = self._db(_run)
        if n:
            log.warning(
                "relay %s: re-queued %d alert(s) left in 'sending' by a stopped relay "
                "(they are sent again: at-least-once)",
                self._short_id(),
                n,
            )
        return n

    def close(self) -> None:
        """Close HTTP connections."""
        for s in self._senders.values():
            s.close()
        if self._own_session:
            self.session.close()

    # ------------------------------------------------------------------ internals

    def _short_id(self) -> str:
        return self.relay_id.rsplit("|", 1)[-1]

    @contextlib.contextmanager
    def _active(self) -> Iterator[None]:
        with _ACTIVE_LOCK:
            _ACTIVE[self.relay_id] = _ACTIVE.get(self.relay_id, 0) + 1
        try:
            yield
        finally:
            with _ACTIVE_LOCK:
                if _ACTIVE[self.relay_id] > 1:
                    _ACTIVE[self.relay_id] -= 1
                else:
                    del _ACTIVE[self.relay_id]

    def _owner_alive(self, owner: str | None) -> bool | None:
        """False: the claimer is certainly gone; True: alive; None: cannot tell (lease applies)."""
        if owner is None:
            return False
        if owner == self.relay_id:
            return False  # our own claim from an earlier, interrupted drain
        parts = owner.split("|")
        if len(parts) != 4 or parts[0] != _HOST:
            return None
        try:
            pid = int(parts[1])
        except ValueError:
            return None
        if pid == os.getpid() and parts[2] == _MY_START:
            with _ACTIVE_LOCK:
                return owner in _ACTIVE
        start = _process_start(pid)
        return start is not None and start == parts[2]

    def _sender(self, name: str) -> Sender:
        s = self._senders.get(name)
        if s is None:
            ch = self.channels.get(name)
            if (
                not ch.declared
                and name not in self.channels.channels
                and name not in self._warned_unknown
            ):
                self._warned_unknown.add(name)
                log.warning(
                    "outbox rows for channel %r, which the config does not route to: "
                    "delivering them to the console/file sink",
                    name,
                )
            s = make_sender(ch, session=self.session, timeout=self.timeout)
            self._senders[name] = s
        return s

    def _claim_step(
        self, con: duckdb.DuckDBPyConnection, now: float
    ) -> tuple[list[dict[str, Any]], list[float]]:
        """In one transaction: the due rows, the ones pacing allows now, claimed.

        Returns ``(claimed rows, seconds until something else may become sendable)``; both
        empty when nothing is pending (rows of disabled channels aside).
        """
        now_dt = _ts(now)
        due, next_due = outbox.due_rows(con, now_dt, self.batch_size, list(self._disabled))
        rows, waits = self._claim_due(con, due, now_dt)
        if next_due is not None:
            waits.append(max(0.0, (next_due - now_dt).total_seconds()))
        return rows, waits

    def _claim_due(
        self, con: duckdb.DuckDBPyConnection, due: list[tuple[str, str]], now_dt: dt.datetime
    ) -> tuple[list[dict[str, Any]], list[float]]:
        """Claim the rows of ``due`` that pacing allows now; the claimed rows whose signal
        references a quarantined print are refused (``failed_permanent``) instead."""
        picks, waits = self._pick(due)
        rows = outbox.claim(con, picks, self.relay_id, now_dt) if picks else []
        if rows:
            rows, refused = outbox.refuse_quarantined(con, rows, self.relay_id, now_dt)
            if refused:
                self._refused += len(refused)
                log.warning("refused %d alert(s) whose signal references a quarantined print", len(refused))
        return rows, waits

    def _pick(self, due: list[tuple[str, str]]) -> tuple[list[str], list[float]]:
        """Rows to claim now: per destination as many as its pacing allows right now (one for
        a paced destination, up to ``batch_size`` for an unpaced one)."""
        picks: list[str] = []
        waits: list[float] = []
        taken: dict[str, int] = {}
        blocked: set[str] = set()
        for key, name in due:
            sender = self._sender(name)
            dest = primary_key(sender.channel)
            if dest in blocked:
                continue
            cap = 1 if sender.rules else self.batch_size
            if taken.get(dest, 0) >= cap:
                continue
            w = self.pacer.wait_time(sender.rules, [dest])
            if w > 0:
                waits.append(w)
                blocked.add(dest)
                continue
            picks.append(key)
            taken[dest] = taken.get(dest, 0) + 1
            if len(picks) >= self.batch_size:
                break
        return picks, waits

    def _deliver(self, row: dict[str, Any], deadline: float, report: RelayReport) -> None:
        name = row["channel"]
        key = row["alert_key"]
        sender = self._sender(name)
        ch = sender.channel
        dest = primary_key(ch)
        msg = AlertMessage(
            alert_key=key,
            channel=name,
            kind=row["kind"],
            mode=row["mode"],
            text=row["message_text"],
            signal_id=row["signal_id"],
            short_id=row["short_id"],
            format_version=int(row["format_version"]),
            is_synthetic=bool(row["is_synthetic"]),
            payload=_loads(row["payload_json"]),
        )
        attempt = int(row["attempts"])
        if name in self._disabled:  # disabled after the claim was read: put it back untouched
            self._release(key, self.clock(), int(row["parts_sent"] or 0))
            return
        parts = sender.parts(msg.text)
        total = len(parts)
        if total == 0:
            self._finish(key, "failed_permanent", attempt, 0, 0, None, "empty message text", report)
            self._notice(msg, ch, attempt, "empty message text", revoked=False)
            return
        done = min(int(row["parts_sent"] or 0), total)
        for i in range(done, total):
            wait = self.pacer.wait_time(sender.rules, [dest])
            if wait > 0:
                if i == done or self.clock() + wait > deadline:
                    # The destination must rest (a 429 on an earlier row of this batch, or the
                    # pause between parts runs past the deadline): give the row back instead of
                    # blocking every other destination; progress is kept.
                    self._release(key, self.clock() + wait, i)
                    return
                self.sleep(wait)
            self.pacer.record(sender.rules)
            started = self.clock()
            out = _safe_send(sender, msg, parts[i], i, total)
            duration_ms = (self.clock() - started) * 1000.0
            report.attempts += 1
            if out.pace_block:
                self.pacer.block(dest, self.policy.cap(out.pace_block))
            delivery = (attempt, i, name, out, started, duration_ms)
            if out.ok:
                report.parts_sent += 1
                if i + 1 < total:
                    self._db(
                        lambda con, i=i, d=delivery: (
                            outbox.record_progress(con, key, self.relay_id, i + 1, total),
                            self._log_delivery(con, key, d, None),
                        )
                    )
                    continue
                self._finish(
                    key, "sent", attempt, total, total, out.status, None, report, delivery=delivery
                )
                return
            self._handle_failure(msg, ch, dest, attempt, i, total, out, report, delivery)
            return
        # every part was already sent before a crash: only the mark was missing
        self._finish(key, "sent", attempt, total, total, None, None, report)

    def _release(self, key: str, next_at: float, parts_sent: int) -> None:
        self._db(lambda con: outbox.release(con, key, self.relay_id, _ts(next_at), parts_sent))

    def _handle_failure(
        self,
        msg: AlertMessage,
        ch: Channel,
        dest: str,
        attempt: int,
        part: int,
        total: int,
        out: SendOutcome,
        report: RelayReport,
        delivery: tuple,
    ) -> None:
        err = out.error or out.outcome
        if len(report.errors) < 20:
            report.errors.append(f"{msg.short_id} {ch.name}: {err}")
        if out.outcome in ("revoked", "permanent"):
            revoked = out.outcome == "revoked"
            if revoked:
                self._disabled[ch.name] = err
            self._finish(
                msg.alert_key,
                "failed_permanent",
                attempt,
                part,
                total,
                out.status,
                err,
                report,
                delivery=delivery,
            )
            self._notice(msg, ch, attempt, err, revoked=revoked)
            return
        if out.outcome == "rate_limited":
            report.rate_limited += 1
            asked = out.retry_after
            wait = (
                self.policy.cap(asked)
                if asked is not None
                else self.policy.backoff(attempt, self.rng)
            )
            # the whole destination rests, not just this row
            self.pacer.block(dest, wait)
            note = f"{err} (waiting {wait:.1f}s" + (
                f", asked {asked:g}s)" if asked is not None else ")"
            )
        else:
            report.retried += 1
            wait = self.policy.backoff(attempt, self.rng)
            if out.retry_after is not None:
                wait = max(wait, self.policy.cap(out.retry_after))
            note = f"{err} (retry in {wait:.1f}s)"
        if attempt >= self.policy.max_attempts:
            msg_err = f"gave up after {attempt} attempts: {err}"
            self._finish(
                msg.alert_key,
                "failed_permanent",
                attempt,
                part,
                total,
                out.status,
                msg_err,
                report,
                delivery=delivery,
            )
            self._notice(msg, ch, attempt, msg_err, revoked=False)
            return
        self._finish(
            msg.alert_key,
            "pending",
            attempt,
            part,
            total,
            out.status,
            note,
            report,
            next_at=self.clock() + wait,
            delivery=delivery,
            wait_s=wait,
        )
        log.info("alert %s to %s: attempt %d failed: %s", msg.short_id, ch.name, attempt, note)

    def _notice(
        self, msg: AlertMessage, ch: Channel, attempt: int, err: str, *, revoked: bool
    ) -> None:
        """One operator notice per permanently failed alert (ERROR level, ``operator_notice``)."""
        hint = (
            f"the destination rejected the credentials or no longer exists: fix "
            f"{ch.env or 'the channel'} and re-queue with requeue_failed(con, channel={ch.name!r}); "
            "this relay sends nothing more to the channel, its other alerts stay pending"
            if revoked
            else f"re-queue with requeue_failed(con, keys=[{msg.alert_key[:12]!r}...]) once fixed"
        )
        log.error(
            "OPERATOR NOTICE: alert %s (%s) to channel %s (%s) failed permanently after %d "
            "attempt(s): %s; %s",
            msg.short_id,
            msg.kind,
            ch.name,
            ch.type,
            attempt,
            redact(err),
            hint,
            extra={"operator_notice": True},
        )

    def _finish(
        self,
        key: str,
        status: str,
        attempt: int,
        parts_sent: int | None,
        parts_total: int | None,
        http_status: int | None,
        error: str | None,
        report: RelayReport,
        *,
        next_at: float | None = None,
        delivery: tuple | None = None,
        wait_s: float | None = None,
    ) -> None:
        now = _ts(self.clock())

        def _run(con: duckdb.DuckDBPyConnection) -> None:
            outbox.mark(
                con,
                key,
                self.relay_id,
                status=status,
                now=now,
                parts_sent=int(parts_sent or 0),
                parts_total=int(parts_total or 0),
                last_status=http_status,
                last_error=error,
                next_attempt_at=_ts(next_at) if next_at is not None else None,
            )
            if delivery is not None:
                self._log_delivery(con, key, delivery, wait_s)

        self._db(_run)
        if status == "sent":
            report.sent += 1
        elif status == "failed_permanent":
            report.failed_permanent += 1

    def _log_delivery(
        self, con: duckdb.DuckDBPyConnection, key: str, d: tuple, wait_s: float | None
    ) -> None:
        if not self.log_deliveries:
            return
        attempt, part, channel, out, started, duration_ms = d
        outbox.log_delivery(
            con,
            key=key,
            attempt=attempt,
            part=part,
            channel=channel,
            outcome=out.outcome,
            http_status=out.status,
            error=out.error,
            wait_s=wait_s,
            started_at=_ts(started),
            duration_ms=round(duration_ms, 3),
            relay_id=self.relay_id,
        )

    def _pending_summary(self, con: duckdb.DuckDBPyConnection) -> tuple[int, float | None]:
        n, nxt = con.execute(
            f"SELECT count(*), min(next_attempt_at) FROM {outbox.OUTBOX} WHERE status = 'pending'"
        ).fetchone()
        if not n:
            return 0, None
        return int(n), max(0.0, round((nxt - _ts(self.clock())).total_seconds(), 3))

    def _db(self, fn: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        """Run ``fn`` in one short transaction on a fresh connection, retrying while another
        process holds the file lock or a concurrent transaction conflicts."""
        give_up = time.monotonic() + self.db_retry_s
        delay = 0.02
        while True:
            try:
                with self._connect() as con:
                    con.execute("BEGIN TRANSACTION")
                    try:
                        result = fn(con)
                        con.execute("COMMIT")
                    except BaseException:
                        with contextlib.suppress(duckdb.Error):
                            con.execute("ROLLBACK")
                        raise
                    return result
            except (duckdb.IOException, duckdb.TransactionException) as exc:
                text = str(exc).lower()
                retryable = (
                    "lock" in text
                    or "conflict" in text
                    or isinstance(exc, duckdb.TransactionException)
                )
                if not retryable or time.monotonic() >= give_up:
                    raise RelayDatabaseError(
                        f"alert outbox transaction failed: {redact(str(exc))}"
                    ) from None
                # real time on purpose: an injected fake sleep would not let the lock holder run
                time.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)


def _safe_send(sender: Sender, msg: AlertMessage, part: str, i: int, total: int) -> SendOutcome:
    """A sender bug must not leave the row in ``sending`` or leak text: it becomes a transient
    failure with a redacted error."""
    try:
        return sender.send(msg, part, i, total)
    except Exception as exc:  # noqa: BLE001
        return SendOutcome(
            "transient", error=redact(f"sender error: {type(exc).__name__}: {exc}")[:300]
        )


def _ts(epoch: float) -> dt.datetime:
    """Epoch seconds as naive UTC (the outbox's time zone)."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)


def _loads(v: Any) -> dict[str, Any]:
    if isinstance(v, dict):
        return v
    try:
        out = json.loads(v) if v else {}
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


# ---------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """``python -m primeflow_lib.alerts``: drain the outbox of a warehouse file.

    Prints the :class:`RelayReport` as one JSON line per drain. Exit status 2 on a
    configuration error (message names the channel and variable)."""
    from primeflow_lib.config import ConfigError, load_config

    ap = argparse.ArgumentParser(
        prog="python -m primeflow_lib.alerts", description="Drain the alert outbox."
    )
    ap.add_argument("--db", default=os.environ.get("PRIMEFLOW_DUCKDB", "var/primeflow.duckdb"))
    ap.add_argument(
        "--config", default=None, help="config file (default PRIMEFLOW_CONFIG or ./config.yaml)"
    )
    ap.add_argument("--max-seconds", type=float, default=60.0)
    ap.add_argument("--follow", action="store_true", help="keep draining every --poll seconds")
    ap.add_argument("--poll", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--log-level", default="WARNING")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        cfg = load_config(args.config, with_api_keys=False)
        channels = resolve_channels(cfg)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    db = args.db

    def connect() -> duckdb.DuckDBPyConnection:
        return duckdb.connect(db)

    with connect() as con:
        outbox.ensure_alert_tables(con)
    relay = Relay(connect, channels, batch_size=args.batch_size)
    try:
        while True:
            report = relay.drain(max_seconds=args.max_seconds)
            print(json.dumps(report.to_dict()), flush=True)
            if not args.follow:
                return 0 if not report.pending else 1
            time.sleep(args.poll)
    except KeyboardInterrupt:
        return 130
    finally:
        relay.close()
