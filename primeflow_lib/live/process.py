"""Scoring one inbox batch (the body of the near-live job), without Dagster.

:func:`score_batch_file` reads a batch, scores it with the same :func:`score_batch` as the daily
partitions, and writes in **one transaction**: ``live.flow_events``, ``live.signals``, their
outbox rows (``live.alert_outbox``, ``ON CONFLICT DO NOTHING``), the batch's quarantine rows and a
heartbeat row. Paper positions are opened / updated after that. :func:`deliver_alerts` then runs
the relay (no warehouse connection is held across an HTTP call).

Scoring the same batch again rewrites the same rows (stable ids) and enqueues nothing new.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib import warehouse as db
from primeflow_lib.alerts import enqueue_alerts, enqueue_heartbeat
from primeflow_lib.alerts.outbox import load_rules
from primeflow_lib.alerts.relay import Relay, RelayReport
from primeflow_lib.alerts.routing import resolve_channels
from primeflow_lib.arrays import parse_days
from primeflow_lib.flow.engine import score_batch
from primeflow_lib.flow.heartbeat import heartbeat_frame, heartbeat_row
from primeflow_lib.flow.inputs import load_scoring_inputs, select_sql
from primeflow_lib.flow.paper import paper_trade
from primeflow_lib.live.inbox import batch_meta
from primeflow_lib.live.stream.reconcile import read_side, reconcile
from primeflow_lib.schema import live as ls
from primeflow_lib.schema import market as ms
from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.schema.nearlive import LIVE_FLOW_EVENTS, LIVE_SIGNALS
from primeflow_lib.schema.quarantine import quarantine_rows

NY = ZoneInfo("America/New_York")
Connect = Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]


class BatchFileError(ValueError):
    """A batch file that cannot be scored (unreadable, missing columns); names the file."""


@dataclass
class BatchOutcome:
    """What scoring one batch did (for run metadata and the heartbeat)."""

    source: str
    prints: int = 0
    events: int = 0
    signals: int = 0
    signals_by_kind: dict[str, int] = field(default_factory=dict)
    enqueued: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    positions_updated: int = 0
    open_positions: int = 0
    lag_seconds: float | None = None
    synthetic: bool = False
    replay_of: str | None = None
    """the replayed session when the batch came from ``primeflow feed --source replay``"""
    replay_to_live: bool = False
    #: a batch written by the stream service: its comparison with the stream's signals
    #: (docs/stream.md, "The sensor path reconciles")
    stream_batch: bool = False
    stream_agreed: int = 0
    stream_only: int = 0
    sensor_only: int = 0
    strength_differs: int = 0


def read_batch(path: Path) -> pd.DataFrame:
    """A batch file as ``flow.option_prints`` rows; a clear error names the file and what is wrong."""
    try:
        df = pd.read_parquet(path)
    except Exception as exc:  # noqa: BLE001 - any decode failure is the same user-facing error
        raise BatchFileError(f"{path.name}: not a readable Parquet batch ({type(exc).__name__}: {exc})") from None
    # columns added to flow.option_prints later may be absent: null
    later = {"vendor_sequence": "Int64", "quote_source": "str"}
    missing = [c for c in OPTION_PRINTS.column_names if c not in df.columns and c not in later]
    if missing:
        raise BatchFileError(f"{path.name}: missing columns {missing} (a batch holds flow.option_prints columns)")
    for c, kind in later.items():
        if c not in df.columns:
            df[c] = pd.array([None] * len(df), dtype=kind)
    return df[OPTION_PRINTS.column_names]


def score_batch_file(path: Path, connect: Connect, cfg: dict[str, Any], *, now: dt.datetime | None = None) -> BatchOutcome:
    """Score ``path`` and store everything it produced (see module doc). Raises
    :class:`BatchFileError` for an unusable file and the alert routing error at once, before any
    write, when the alert configuration is wrong."""
    resolve_channels(cfg)  # a misconfigured channel fails before anything is written
    with connect() as con:  # so does a broken alert rule (config or saved on the workbench)
        load_rules(con, cfg)
    prints = read_batch(path)
    meta = batch_meta(path)
    side = read_side(path)
    out = BatchOutcome(source=path.name, prints=len(prints), stream_batch=side is not None)
    if meta.get("feed") == "replay":
        out.replay_of = str(meta.get("replay_of") or "a stored session")
        out.replay_to_live = bool(meta.get("replay_to_live"))
    if prints.empty:
        return out
    key = batch_days(prints)
    unscorable = np.isnat(key)
    for day in sorted(set(key[~unscorable].tolist())):
        rows = key == np.datetime64(day, "D")
        if calendar.is_session(day):
            _score_day(prints[rows], day, path.name, connect, cfg, out, now,
                       side if side is not None and side["trade_date"] == str(day) else None)
        else:
            unscorable |= rows
    if unscorable.any():
        _quarantine_unscorable(prints[unscorable], path.name, connect, cfg, out)
    return out


def batch_days(prints: pd.DataFrame) -> np.ndarray:
    """The session each row of a batch is scored with (datetime64[D]): its ``trade_date``, or,
    where that is missing or unparseable, the America/New_York date of its ``sip_timestamp``, so
    the row reaches validation and is quarantined there ("trade_date is missing") instead of
    vanishing; NaT where neither gives a date."""
    td = parse_days(prints["trade_date"])
    sip = pd.to_numeric(prints["sip_timestamp"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
    ok = np.isnat(td) & np.isfinite(sip) & (sip > 0)
    if ok.any():
        t = pd.to_datetime(sip[ok].astype(np.int64), unit="ns", utc=True).tz_convert(NY)
        td = td.copy()
        td[ok] = t.tz_localize(None).values.astype("datetime64[D]")
    return td


def _file_rows(q: pd.DataFrame, part: pd.DataFrame) -> pd.DataFrame:
    """Quarantine rows numbered by their row in the batch file (validation numbers rows within
    the session's part; ``part`` keeps the file's positional index)."""
    if not len(q):
        return q
    return q.assign(row_number=part.index.to_numpy(np.int64)[q["row_number"].astype(np.int64).to_numpy()])


def _quarantine_unscorable(part: pd.DataFrame, source: str, connect: Connect, cfg: dict[str, Any],
                           out: BatchOutcome) -> None:
    """Rows with no session to score them in: every one goes to ``flow.quarantine`` (with the
    validation rules it breaks, else ``why``), stored under ``live:<file>:unscored``."""
    from primeflow_lib.flow.validate import TARGET, validate_prints

    v = validate_prints(part, source=f"live:{source}", rules=cfg.get("plausibility"))
    q = v.quarantine
    rest = np.setdiff1d(np.arange(len(part)), q["row_number"].astype(np.int64).to_numpy())
    if len(rest):
        rows = part.iloc[rest]
        extra = quarantine_rows(
            TARGET, rows, source=f"live:{source}", field="trade_date", value=rows["trade_date"].to_numpy(dtype=object),
            reason="no trading session to score the row in (from trade_date or sip_timestamp)", row_number=rest,
        )  # fmt: skip
        q = pd.concat([q, extra], ignore_index=True) if len(q) else extra
    q = _file_rows(q, part).assign(source=f"live:{source}:unscored")
    with connect() as con, db.transaction(con):
        db.write_quarantine(con, "flow", q, source=f"live:{source}:unscored", trade_date=None)
    out.quarantined += len(q)
    for k, n in q["reason"].value_counts().items():
        out.quarantined_by_reason[str(k)] = out.quarantined_by_reason.get(str(k), 0) + int(n)


def _score_day(prints: pd.DataFrame, day: dt.date, source: str, connect: Connect, cfg: dict[str, Any],
               out: BatchOutcome, now: dt.datetime | None, side: dict[str, Any] | None = None) -> None:
    day = calendar.require_session(day)
    until = pd.Timestamp(prints["sip_ts"].max()).to_pydatetime()
    tickers = sorted(prints["underlying"].astype(str).unique())
    with connect() as con:
        inputs = load_scoring_inputs(con, day, tickers, cfg, until=until, live_history=True)
    res = score_batch(prints, inputs["bars_1m"], inputs["daily_bars"], inputs["chain"], cfg,
                      inputs["history"], source=source, gamma=inputs["gamma"], l2=inputs["l2"])
    now_ny = now or dt.datetime.now(NY).replace(tzinfo=None)
    hb = heartbeat_row(res, source=source, now=now_ny)
    with connect() as con, db.transaction(con):
        db.upsert_rows(con, LIVE_FLOW_EVENTS, res.events)
        db.upsert_rows(con, LIVE_SIGNALS, res.signals)
        # rows without a usable trade_date were scored with this session (batch_days): file them there
        # the stored source must be the one replaced, or scoring the file again would add rows
        db.write_quarantine(con, "flow", _file_rows(res.quarantine, prints).assign(trade_date=day,
                            source=f"live:{source}"), source=f"live:{source}", trade_date=day)
        if side is not None:  # the stream sent its alerts already: record them, compare, count
            rec = reconcile(con, source, day, side, res.signals, cfg)
            out.stream_agreed += rec.agreed
            out.stream_only += len(rec.stream_only)
            out.sensor_only += len(rec.sensor_only)
            out.strength_differs += rec.strength_differs
        out.enqueued += enqueue_alerts(con, res.signals, cfg, events=res.events, context=res.context,
                                       replay_of=out.replay_of, replay_to_live=out.replay_to_live)
    # paper positions after the commit: the signals and their alerts are already safe
    with connect() as con:
        carried = con.execute(select_sql(ls.PAPER_POSITIONS, "status <> 'CLOSED' AND ticker IN (SELECT unnest(?))"),
                              [tickers]).df()
        bars = con.execute(select_sql(ms.OHLCV_INTRADAY, "trade_date = ? AND ticker IN (SELECT unnest(?)) "
                                      "AND ts + INTERVAL 1 MINUTE <= ?") + " ORDER BY ticker, ts",
                           [day, tickers, until]).df()
        daily = con.execute(select_sql(ms.OHLCV_DAILY, "trade_date = ? AND ticker IN (SELECT unnest(?))"),
                            [day, tickers]).df()
    pos = paper_trade(res.signals, bars, daily, cfg, until, carried=carried if len(carried) else None)
    open_now = int(pos["status"].astype(str).isin(["PENDING", "OPEN"]).sum()) if len(pos) else 0
    hb["open_positions"] = open_now
    with connect() as con, db.transaction(con):
        if len(pos):
            db.upsert_rows(con, ls.PAPER_POSITIONS, pos[ls.PAPER_POSITIONS.column_names])
        db.upsert_rows(con, ls.HEARTBEAT, heartbeat_frame(hb))
        enqueue_heartbeat(con, {k: v for k, v in hb.items() if k not in ("ts", "trade_date")}, cfg,
                          replay_of=out.replay_of)
    st = res.stats
    out.events += len(res.events)
    out.signals += len(res.signals)
    for k, v in (st.get("signals_by_kind") or {}).items():
        out.signals_by_kind[k] = out.signals_by_kind.get(k, 0) + int(v)
    out.quarantined += len(res.quarantine)
    for k, v in (st.get("quarantined_by_reason") or {}).items():
        out.quarantined_by_reason[k] = out.quarantined_by_reason.get(k, 0) + int(v)
    out.positions_updated += len(pos)
    out.open_positions = open_now
    out.lag_seconds = hb.get("lag_seconds")
    out.synthetic = out.synthetic or bool(hb.get("synthetic"))


def deliver_alerts(connect: Connect, cfg: dict[str, Any], *, max_seconds: float | None = None) -> RelayReport:
    """Send pending outbox rows (this batch's and any earlier ones that are due)."""
    relay = Relay.from_config(connect, cfg)
    try:
        return relay.drain(max_seconds=cfg["alerts"]["relay_max_seconds"] if max_seconds is None else max_seconds)
    finally:
        relay.close()
