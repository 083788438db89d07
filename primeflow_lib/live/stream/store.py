"""The stream's own DuckDB file: its outbox, signals, orders, quarantine and divergences.

Why its own file: DuckDB lets one process at a time open a database for writing. The warehouse is
written all day by Dagster runs (the sensor path's ``live_flow_job``, the daily assets), each
holding the file for up to seconds; a stream committing every few milliseconds there would wait
behind them (the p99 target is 1 s) and slow them down. So the stream keeps
``PRIMEFLOW_STREAM_DUCKDB`` (default ``<PRIMEFLOW_STREAM_DIR>/stream-<id>.duckdb``) open for its whole
life, with the same declared tables (``live.alert_outbox``, ``live.alert_deliveries``,
``flow.quarantine``, ``stream.*``), and its relay is the same :class:`~primeflow_lib.alerts.relay.Relay`
working on cursors of that connection (nearly free "opens"). The sensor path learns what the
stream sent from each batch's side file and records it in the warehouse
(:mod:`primeflow_lib.live.stream.reconcile`); an alert key is the same on both paths, so nothing
is sent twice.

Every commit is one transaction: orders, signals, their outbox rows (``ON CONFLICT DO NOTHING``),
quarantine rows and divergences together, so an alert exists exactly when its signal does, and
a restarted stream that scores the journal again inserts nothing twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from primeflow_lib import warehouse as db
from primeflow_lib.alerts.outbox import (
    OUTBOX,
    AlertInputs,
    delivered_alerts,
    enqueue_alerts,
    enqueue_heartbeat,
    load_rules,
)
from primeflow_lib.live.stream.scorer import Divergence, StepResult
from primeflow_lib.schema import SCHEMAS
from primeflow_lib.schema import alerts as sa
from primeflow_lib.schema import desk as sd
from primeflow_lib.schema import stream as ss
from primeflow_lib.schema.flow import SIGNALS
from primeflow_lib.schema.quarantine import quarantine_table

#: the tables the stream's database holds
STREAM_DB_TABLES = (
    sa.ALERT_OUTBOX, sa.ALERT_DELIVERIES, sd.LIVE_RULE_ALERTS, quarantine_table("flow"),
    ss.STREAM_SIGNALS, ss.STREAM_DIVERGENCES, ss.STREAM_INBOX_PRINTS, ss.STREAM_HEARTBEAT,
)  # fmt: skip
#: what the alert rules read besides the signals, copied from the read copy when a stream starts
ALERT_INPUT_TABLES = (sd.ALERT_RULES, sd.EARNINGS)


def stream_dir() -> Path:
    """``PRIMEFLOW_STREAM_DIR`` (default ``var/stream``): database, journal, status files."""
    return Path(os.environ.get("PRIMEFLOW_STREAM_DIR") or "var/stream")


def stream_db_path(stream_id: str = "main") -> Path:
    """``PRIMEFLOW_STREAM_DUCKDB``, default ``<stream dir>/stream-<stream_id>.duckdb``."""
    env = os.environ.get("PRIMEFLOW_STREAM_DUCKDB")
    if env and stream_id == "main":
        return Path(env)
    return stream_dir() / f"stream-{stream_id}.duckdb"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class StreamStore:
    """The stream's database, open for the life of the service (see module doc).

    Args:
        path: the DuckDB file.
        stream_id: this instance, stored on every row.
    """

    def __init__(self, path: Path, stream_id: str) -> None:
        self.path = Path(path)
        if self.path.stem in SCHEMAS:  # DuckDB names the catalog after the file: ambiguous with the schema
            raise ValueError(f"stream database {self.path}: a file named after a schema ({self.path.stem}) "
                             "cannot hold that schema's tables; name it e.g. stream-main.duckdb")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.stream_id = stream_id
        self.con = duckdb.connect(str(self.path))
        for schema in ("flow", "live", "stream", "market"):
            self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        db.ensure_tables(self.con, STREAM_DB_TABLES + ALERT_INPUT_TABLES)
        # the alert rules, earnings and the session's rule hits, read at the first commit and
        # kept: this store is its database's only writer (see commit)
        self._alert_inputs: AlertInputs | None = None
        self._alert_cfg: dict[str, Any] | None = None  # the config they were read under

    def copy_alert_inputs(self, read_path: Path) -> dict[str, int]:
        """Copy what the alert rules read besides signals from the read copy at ``read_path``:
        the rules saved on the workbench (``live.alert_rules``) and the earnings dates
        (``market.earnings``, the earnings gate), replacing the stream's copies. A table the read
        copy lacks is left empty (no saved rules; earnings unknown). Returns rows per table."""
        frames: dict[str, pd.DataFrame] = {}
        if Path(read_path).exists():
            src = duckdb.connect(str(read_path), read_only=True)
            try:
                for t in ALERT_INPUT_TABLES:
                    with contextlib.suppress(duckdb.CatalogException):
                        frames[t.fqn] = src.execute(f"SELECT {', '.join(t.column_names)} FROM {t.fqn}").df()
            finally:
                src.close()
        self._alert_inputs = None
        with self.cursor() as cur, db.transaction(cur):
            for t in ALERT_INPUT_TABLES:
                cur.execute(f"DELETE FROM {t.fqn}")
                if len(frames.get(t.fqn, ())):
                    db.append_rows(cur, t, frames[t.fqn])
        return {t.fqn: len(frames.get(t.fqn, ())) for t in ALERT_INPUT_TABLES}

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()

    @contextlib.contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the open database (what the relay's ``connect`` gets: no file open)."""
        cur = self.con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    # ------------------------------------------------------------------ writes

    def commit(self, step: StepResult, cfg: dict[str, Any], *, day: dt.date, now: dt.datetime | None = None,
               on_alerts: Callable[[int, list[dict[str, Any]]], None] | None = None,
               claim: Callable[[duckdb.DuckDBPyConnection, list[tuple[str, str]]], list[dict[str, Any]]] | None = None,
               ) -> int:
        """Store one scoring step; returns the alerts enqueued. Two transactions: the signals
        and their outbox rows first (then ``on_alerts(n, claimed)``: they may be sent while the
        rest is written), then the step's quarantine rows and divergences. A kill between the
        two loses nothing: recovery scores the journal again and rewrites both (each write is
        idempotent).

        ``claim`` (:meth:`~primeflow_lib.alerts.relay.Relay.claim_in` of a relay holding its
        claims) claims the alerts this commit enqueued inside the first transaction; the rows
        it claimed are passed to ``on_alerts`` to be delivered at once (the others, and older
        pending rows of the same signals, stay pending for the relay's drain). A kill after the
        commit leaves them ``sending`` by a dead relay: the next relay re-queues and sends them
        (at least once).

        The alert rules, earnings dates and the session's rule hits are read at the first
        commit and kept (:class:`~primeflow_lib.alerts.outbox.AlertInputs`): only this store
        writes its database, the rules and earnings change only through
        :meth:`copy_alert_inputs`, and a commit whose transaction fails drops them (read again
        at the next)."""
        now = now or utcnow()
        n = 0
        if len(step.signals):
            if self._alert_inputs is None or cfg is not self._alert_cfg:
                self._alert_cfg = cfg
                with self.cursor() as cur:
                    earn = cur.execute(f"SELECT * FROM {sd.EARNINGS.fqn}").df()
                    self._alert_inputs = AlertInputs(rules=load_rules(cur, cfg), earnings=earn if len(earn) else None)
            try:
                n, claimed = self._commit_signals(step, cfg, now, claim)
            except BaseException:
                self._alert_inputs = None  # its rule state may hold hits that were not stored
                raise
            if on_alerts is not None:
                on_alerts(n, claimed)
        if not (len(step.quarantine) or step.divergences):
            return n
        with self.cursor() as cur, db.transaction(cur):
            if len(step.quarantine):
                q = step.quarantine.drop_duplicates(["target_table", "source", "row_number", "reason"])
                keys = q[["source", "row_number", "reason"]]
                cur.register("_pf_q", keys)
                try:
                    cur.execute("DELETE FROM flow.quarantine t USING _pf_q k WHERE t.source = k.source "
                                "AND t.row_number = k.row_number AND t.reason = k.reason")
                finally:
                    cur.unregister("_pf_q")
                db.append_rows(cur, "flow.quarantine", q)
            if step.divergences:
                db.upsert_rows(cur, ss.STREAM_DIVERGENCES, divergence_frame(step.divergences, self.stream_id, day, now))
        return n

    def _commit_signals(self, step: StepResult, cfg: dict[str, Any], now: dt.datetime,
                        claim: Callable[[duckdb.DuckDBPyConnection, list[tuple[str, str]]], list[dict[str, Any]]]
                        | None = None) -> tuple[int, list[dict[str, Any]]]:
        """The signals and their outbox rows, in one transaction; returns the alerts enqueued
        and the rows ``claim`` claimed (see :meth:`commit`)."""
        with self.cursor() as cur, db.transaction(cur):
            sig = db.conform(ss.STREAM_SIGNALS, step.signals[SIGNALS.column_names].assign(
                stream_id=self.stream_id, emitted_at=now))
            cur.register("_pf_s", sig)
            try:  # a signal scored again after a restart keeps its first row (and alert)
                cols = ", ".join(f'"{c}"' for c in ss.STREAM_SIGNALS.column_names)
                cur.execute(f"INSERT INTO stream.signals ({cols}) SELECT {cols} FROM _pf_s ON CONFLICT DO NOTHING")
            finally:
                cur.unregister("_pf_s")
            n = enqueue_alerts(cur, step.signals, cfg, now=now, inputs=self._alert_inputs)
            if claim is None:
                return n, []
            # only the rows this transaction inserted (created now): older pending rows of these
            # signals (a crash left them unsent) are the relay thread's, which may be claiming
            # them right now; claiming them here too would conflict and fail this commit
            due = cur.execute(f"SELECT alert_key, channel FROM {OUTBOX} WHERE status = 'pending' AND created_at = ? "
                              "AND signal_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY alert_key",
                              [now, step.signals["signal_id"].astype(str).tolist()]).fetchall()
            return n, (claim(cur, [(k, c) for k, c in due]) if due else [])

    def delivered(self, signal_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The outbox rows and rule hits of ``signal_ids`` as JSON records (``alerts``,
        ``rule_hits``): what the side file tells the sensor path this stream decided and sent."""
        with self.cursor() as cur:
            alerts, hits = delivered_alerts(cur, signal_ids)
        return {"alerts": json.loads(alerts.to_json(orient="records", date_format="iso")),
                "rule_hits": json.loads(hits.to_json(orient="records", date_format="iso"))}

    def heartbeat(self, row: dict[str, Any], cfg: dict[str, Any], stats: dict[str, Any]) -> None:
        """A ``stream.heartbeat`` row and, once per ``alerts.heartbeat_minutes``, the status line
        to ``alerts.heartbeat_channel`` (through this outbox)."""
        with self.cursor() as cur, db.transaction(cur):
            db.append_rows(cur, ss.STREAM_HEARTBEAT, pd.DataFrame([row])[ss.STREAM_HEARTBEAT.column_names])
            enqueue_heartbeat(cur, stats, cfg)

    def mark_inbox(self, day: dt.date, rx: np.ndarray, name: str, *, now: dt.datetime | None = None) -> None:
        """Record that prints ``rx`` went to inbox batch ``name`` (and their orders)."""
        now = now or utcnow()
        frame = pd.DataFrame({"trade_date": day, "stream_id": self.stream_id, "rx": np.asarray(rx, np.int64),
                              "inbox_file": name, "written_at": now})
        with self.cursor() as cur, db.transaction(cur):
            db.upsert_rows(cur, ss.STREAM_INBOX_PRINTS, frame)

    def written_rx(self, day: dt.date) -> np.ndarray:
        """Receipt numbers of the session already written to an inbox batch."""
        with self.cursor() as cur:
            return cur.execute("SELECT rx FROM stream.inbox_prints WHERE trade_date = ? AND stream_id = ?",
                               [day, self.stream_id]).fetchnumpy()["rx"].astype(np.int64)

    def signals_for(self, event_ids: list[str]) -> pd.DataFrame:
        """The stream's signal rows of these orders, with their alert keys' statuses."""
        with self.cursor() as cur:
            cur.register("_pf_e", pd.DataFrame({"event_id": pd.Series(event_ids, dtype=object)}))
            try:
                return cur.execute(
                    "SELECT s.* FROM stream.signals s JOIN _pf_e e USING (event_id)").df()
            finally:
                cur.unregister("_pf_e")

    def outbox_counts(self) -> dict[str, int]:
        with self.cursor() as cur:
            return {k: int(v) for k, v in cur.execute(
                "SELECT status, count(*) FROM live.alert_outbox GROUP BY status").fetchall()}


def divergence_frame(divs: list[Divergence], stream_id: str, day: dt.date | None, now: dt.datetime) -> pd.DataFrame:
    """``stream.divergences`` rows."""
    return pd.DataFrame({
        "trade_date": day,
        "stream_id": stream_id,
        "rx": [d.rx for d in divs],
        "print_id": [d.print_id for d in divs],
        "option_symbol": [d.option_symbol for d in divs],
        "print_ts": [d.print_ts for d in divs],
        "reason": [d.reason for d in divs],
        "detail": [d.detail for d in divs],
        "event_ids": [",".join(d.event_ids) or None for d in divs],
        "detected_at": now,
    })
