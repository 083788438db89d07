"""The sensor path's check of a stream batch: same signals? Never send twice, fill in, count.

The stream writes every inbox batch with a side file ``<batch>.stream.json`` (written first):
the signals it found for the orders whose prints are in the batch (already alerted, or queued, by
its own relay) and the divergences it counted. When the sensor path scores the batch
(:func:`primeflow_lib.live.process.score_batch_file`) it compares:

* **agreed**: the same ``signal_id`` on both paths (same order, same kind): the warehouse outbox
  records the alert with status ``stream`` (delivered by the stream), so the warehouse relay
  never sends it;
* **stream only**: recorded the same way (the stream sent it) and counted;
* **sensor only**: counted and *filled in*: queued ``pending`` in the warehouse outbox and sent by
  its relay (a micro-batch can judge an order differently from the session-long stream, e.g. a
  print without a quote at the start of a batch, where the stream has the tick before it);
* **strength differs**: agreed ids whose strength or tags differ (counted).

The stream's signals and divergences are copied into the warehouse's ``stream.signals`` /
``stream.divergences``, and one ``stream.reconciliation`` row per batch keeps the counts and ids.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from primeflow_lib import warehouse as db
from primeflow_lib.alerts.outbox import enqueue_alerts, record_delivered
from primeflow_lib.live.inbox import SIDE_SUFFIX
from primeflow_lib.schema import stream as ss
from primeflow_lib.schema.flow import SIGNALS


@dataclass
class Reconciliation:
    """Counts of one batch's comparison (see module doc)."""

    stream_id: str
    stream_signals: int = 0
    sensor_signals: int = 0
    agreed: int = 0
    stream_only: list[str] = field(default_factory=list)
    sensor_only: list[str] = field(default_factory=list)
    strength_differs: int = 0


def side_file(batch: Path) -> Path:
    """The side file of an inbox batch (it may not exist: batches of ``primeflow feed``)."""
    return batch.with_name(batch.name + SIDE_SUFFIX)


def read_side(batch: Path) -> dict[str, Any] | None:
    """The stream's side file of ``batch`` as written, or None when the batch has none.

    Raises:
        ValueError: the side file exists but is not what the stream writes (names the file)."""
    p = side_file(batch)
    if not p.exists():
        return None
    try:
        side = json.loads(p.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"{p.name}: not a readable stream side file ({type(exc).__name__}: {exc})") from None
    for key in ("stream_id", "trade_date", "signals", "divergences"):
        if key not in side:
            raise ValueError(f"{p.name}: stream side file lacks {key!r}")
    return side


def side_signals(side: dict[str, Any]) -> pd.DataFrame:
    """The stream's signals of a side file as ``flow.signals`` rows (typed)."""
    df = pd.DataFrame(side["signals"])
    if df.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in SIGNALS.column_names})
    missing = [c for c in SIGNALS.column_names if c not in df]
    if missing:
        raise ValueError(f"stream side file {side.get('batch')}: signals lack columns {missing}")
    out = df[SIGNALS.column_names].copy()
    ts = pd.to_datetime(out["ts"])
    out["ts"] = ts.dt.tz_localize(None) if ts.dt.tz is not None else ts
    for c in ("trade_date", "expiry"):
        out[c] = pd.to_datetime(out[c]).dt.date
    return out


def reconcile(
    con: duckdb.DuckDBPyConnection, batch: str, day: dt.date, side: dict[str, Any], sensor: pd.DataFrame,
    cfg: dict[str, Any], *, now: dt.datetime | None = None,
) -> Reconciliation:
    """Inside the sensor path's transaction, before it enqueues its own alerts: record the
    stream's alerts as delivered (status ``stream``), copy its signals and divergences, compare,
    and write the ``stream.reconciliation`` row. The caller then enqueues the sensor path's
    signals as usual: agreed ids conflict and insert nothing, sensor-only ones go out (filled in).
    """
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    stream = side_signals(side)
    sid = str(side["stream_id"])
    rec = Reconciliation(stream_id=sid, stream_signals=len(stream), sensor_signals=len(sensor))
    if "alerts" in side:  # what the stream's rules decided and its relay sent, as it recorded it
        record_delivered(con, pd.DataFrame(side["alerts"]), pd.DataFrame(side.get("rule_hits") or []))
    elif len(stream):  # a side file without them (written before the stream recorded them)
        enqueue_alerts(con, stream, cfg, now=now, status="stream")
    if len(stream):
        db.upsert_rows(con, ss.STREAM_SIGNALS, stream.assign(stream_id=sid, emitted_at=now))
    divs = pd.DataFrame(side["divergences"])
    if len(divs):
        divs["trade_date"] = pd.to_datetime(divs["trade_date"]).dt.date
        for c in ("print_ts", "detected_at"):
            divs[c] = pd.to_datetime(divs[c])
        db.upsert_rows(con, ss.STREAM_DIVERGENCES, divs[ss.STREAM_DIVERGENCES.column_names])
    a = stream.set_index("signal_id") if len(stream) else None
    b = sensor.set_index("signal_id") if len(sensor) else None
    ids_a = set(a.index) if a is not None else set()
    ids_b = set(b.index) if b is not None else set()
    both = sorted(ids_a & ids_b)
    rec.agreed = len(both)
    rec.stream_only = sorted(ids_a - ids_b)
    rec.sensor_only = sorted(ids_b - ids_a)
    if both:
        sa_, sb_ = a.loc[both], b.loc[both]
        diff = (~np.isclose(sa_["strength"].astype(float), sb_["strength"].astype(float), rtol=0, atol=1e-12)) | (
            sa_["tags"].astype(str).to_numpy() != sb_["tags"].astype(str).to_numpy())
        rec.strength_differs = int(diff.sum())
    row = pd.DataFrame([{
        "batch": batch, "trade_date": day, "stream_id": sid, "reconciled_at": now,
        "stream_signals": rec.stream_signals, "sensor_signals": rec.sensor_signals, "agreed": rec.agreed,
        "stream_only": len(rec.stream_only), "sensor_only": len(rec.sensor_only),
        "strength_differs": rec.strength_differs, "stream_only_ids": json.dumps(rec.stream_only),
        "sensor_only_ids": json.dumps(rec.sensor_only),
    }])
    db.upsert_rows(con, ss.STREAM_RECONCILIATION, row)
    return rec
