"""The ``l2_*`` fields of ``flow.flow_context``: level-2 book features at an event, causally.

For an event of ticker ``T`` at time ``t`` (its ``last_ts``, New York wall time) in session
``D``, the ``market.l2_features`` row used is the one of ``T`` and ``D`` with the latest minute
that **closed at or before** ``t`` (minute start + 1 minute <= ``t``): the minute holding ``t``,
and every later one, is never used. The row is used only if it closed at most
``l2.max_age_minutes`` before ``t`` (a feed that stopped gives nulls, not old values). Then:

* ``l2_asof``: that minute's close (start + 1 minute);
* ``l2_ofi_1m``: its order-flow imbalance (shares; null when the book lost sync in it);
* ``l2_depth_imbalance``, ``l2_spread``: the book at its end (null when out of sync);
* ``l2_source``: ``"<vendor> <schema> <dataset>"`` of the row.

Without such a row (no L2 source configured, no rows for the ticker and session, or too old)
every other ``l2_*`` field is null and ``l2_source`` is ``"none"`` (:data:`NO_L2`): no value
is carried forward or made up. The same rows give the same fields whether they were read for a
whole day or, near-live, only up to the batch's last print (rows of minutes that closed later
are never used either way).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.arrays import codes_in
from primeflow_lib.flow.classify import to_ns
from primeflow_lib.schema.flow import FLOW_CONTEXT

NS_MIN = 60_000_000_000
#: the ``l2_*`` columns of ``flow.flow_context``, as declared
L2_CONTEXT_COLUMNS = [c for c in FLOW_CONTEXT.column_names if c.startswith("l2_")]
#: ``l2_source`` of an event without a usable L2 minute
NO_L2 = "none"


def l2_context(ticker: pd.Series, event_ts: np.ndarray, event_date: np.ndarray, l2: pd.DataFrame | None,
               max_age_minutes: int) -> dict[str, Any]:
    """The ``l2_*`` context fields of events (see the module doc), aligned with them.

    Args:
        ticker: the events' tickers.
        event_ts: the events' times, New York wall time (``datetime64`` or int ns).
        event_date: the events' sessions (``datetime64`` or int ns of midnight).
        l2: ``market.l2_features`` rows (``trade_date, ts, ticker, ofi, depth_imbalance,
            spread, schema, dataset, vendor``) or None.
        max_age_minutes: the newest usable row must have closed at most this long before the
            event (config ``l2.max_age_minutes``).

    Raises:
        ValueError: ``l2`` holds two rows for one (ticker, minute).
    """
    ne = len(ticker)
    out: dict[str, Any] = {
        "l2_asof": np.full(ne, np.datetime64("NaT"), dtype="datetime64[ns]"),
        "l2_ofi_1m": np.full(ne, np.nan),
        "l2_depth_imbalance": np.full(ne, np.nan),
        "l2_spread": np.full(ne, np.nan),
        "l2_source": pd.Categorical([NO_L2] * ne),
    }
    if l2 is None or not len(l2) or not ne:
        return out
    dup = l2.duplicated(["ticker", "ts"], keep=False)
    if dup.any():
        r = l2[dup].iloc[0]
        raise ValueError(f"market.l2_features: two rows for {r['ticker']} at {r['ts']}")
    r_u, r_tk = np.unique(l2["ticker"].astype(str).to_numpy(dtype=object).astype(str), return_inverse=True)
    r_ts = to_ns(l2["ts"])
    r_day = to_ns(l2["trade_date"]) // (1440 * NS_MIN)
    o = np.lexsort((r_ts, r_tk))
    r_tk, r_ts, r_day = r_tk[o], r_ts[o], r_day[o]
    # one sortable key per (ticker, minute): ticker code in the high digits
    span = 10**12  # minutes since the epoch stay far below this
    r_key = r_tk.astype(np.int64) * span + r_ts // NS_MIN

    e_tk = codes_in(ticker, r_u)
    ev_ts = np.asarray(event_ts).astype("datetime64[ns]").astype(np.int64)
    ev_day = np.asarray(event_date).astype("datetime64[ns]").astype(np.int64) // (1440 * NS_MIN)
    # the last minute whose start is <= t - 1 minute, i.e. closed at or before t
    e_key = np.maximum(e_tk, 0).astype(np.int64) * span + np.floor_divide(ev_ts - NS_MIN, NS_MIN)
    j = np.searchsorted(r_key, e_key, side="right") - 1
    jj = np.maximum(j, 0)
    close = r_ts[jj] + NS_MIN
    ok = ((e_tk >= 0) & (j >= 0) & (r_tk[jj] == e_tk) & (r_day[jj] == ev_day) & (close <= ev_ts)
          & (ev_ts - close <= int(max_age_minutes) * NS_MIN))
    rows = o[jj]

    def take(col: str) -> np.ndarray:
        return np.where(ok, pd.to_numeric(l2[col], errors="coerce").to_numpy(np.float64)[rows], np.nan)

    out["l2_asof"] = np.where(ok, close.astype("datetime64[ns]"), np.datetime64("NaT"))
    out["l2_ofi_1m"] = take("ofi")
    out["l2_depth_imbalance"] = take("depth_imbalance")
    out["l2_spread"] = take("spread")
    src = (l2["vendor"].astype(str) + " " + l2["schema"].astype(str) + " " + l2["dataset"].astype(str)).to_numpy(
        dtype=object)
    out["l2_source"] = pd.Categorical(np.where(ok, src[rows], NO_L2))
    return out
