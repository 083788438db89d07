"""Heartbeat: one ``live.heartbeat`` row per scored batch.

:func:`heartbeat_row` turns a :class:`~primeflow_lib.flow.engine.FlowResult` into a dict whose
keys are the ``live.heartbeat`` columns, plus ``signals_by_kind`` and ``quarantined_by_reason``
(dicts: the validation and plausibility rules broken, with counts) and
``events_per_minute`` / ``open_positions`` / ``lag_seconds`` / ``last_error`` / ``synthetic`` /
``ts``, which is exactly what :func:`primeflow_lib.alerts.formatting.format_heartbeat` reads. Use
:func:`heartbeat_frame` to get the one-row frame to insert.

* ``events_per_minute`` = events / minutes between the batch's first and last print (at least 1
  minute, so a 5-second micro-batch is not blown up to a rate it never had).
* ``lag_seconds`` = ``now`` (America/New_York wall time) minus the newest print's time.
* ``open_positions`` = ``PENDING`` + ``OPEN`` rows of the positions passed (null if none passed).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from primeflow_lib.schema.live import HEARTBEAT

NY = ZoneInfo("America/New_York")


def heartbeat_row(
    result: Any,
    *,
    source: str,
    now: dt.datetime | None = None,
    positions: pd.DataFrame | None = None,
    last_error: str | None = None,
) -> dict[str, Any]:
    """Compute the heartbeat of one scored batch.

    Args:
        result: a :class:`~primeflow_lib.flow.engine.FlowResult`.
        source: batch name (partition key or inbox file name).
        now: America/New_York wall time (naive); default the current time in New York.
        positions: ``live.paper_positions`` rows after the batch (for ``open_positions``).
        last_error: the last error text to report (redact before passing).
    """
    now = now or dt.datetime.now(NY).replace(tzinfo=None)
    st = result.stats
    ev = result.events
    n_ev = len(ev)
    if n_ev:
        first = pd.Timestamp(ev["first_ts"].min())
        last = pd.Timestamp(ev["last_ts"].max())
        minutes = max((last - first).total_seconds() / 60.0, 1.0)
        lag = (pd.Timestamp(now) - last).total_seconds()
        trade_date = pd.Timestamp(ev["trade_date"].max()).date()
        synthetic = bool((ev["vendor"].astype(str) == "synthetic").any())
    else:
        minutes, lag, trade_date, synthetic = 1.0, None, now.date(), False
    by_kind = {k: int(v) for k, v in (st.get("signals_by_kind") or {}).items()}
    open_pos = None
    if positions is not None:
        open_pos = (
            int(positions["status"].astype(str).isin(["PENDING", "OPEN"]).sum())
            if len(positions)
            else 0
        )
    return {
        "ts": now,
        "trade_date": trade_date,
        "source": source,
        "prints": int(st.get("prints", {}).get("in", 0)),
        "events": int(n_ev),
        "events_per_minute": round(n_ev / minutes, 3),
        "signals": int(sum(by_kind.values())),
        "signals_scalp": by_kind.get("SCALP", 0),
        "signals_day_trade": by_kind.get("DAY_TRADE", 0),
        "signals_swing": by_kind.get("SWING", 0),
        "signals_by_kind": by_kind,
        "open_positions": open_pos,
        "quarantined": int(len(result.quarantine)),
        "quarantined_by_reason": {str(k): int(v) for k, v in (st.get("quarantined_by_reason") or {}).items()},
        "lag_seconds": None if lag is None else round(float(lag), 3),
        "processing_seconds": float(st.get("timings_s", {}).get("total", np.nan)),
        "last_error": last_error,
        "synthetic": synthetic,
    }


def heartbeat_frame(row: dict[str, Any]) -> pd.DataFrame:
    """The ``live.heartbeat`` columns of a :func:`heartbeat_row` dict, as a one-row frame."""
    return pd.DataFrame([{c: row.get(c) for c in HEARTBEAT.column_names}])
