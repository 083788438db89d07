"""Open interest: the day-over-day change per contract from consecutive chain snapshots, and the
opening/closing estimate of an order.

**OI change** (:func:`oi_change`, stored in ``marts.oi_change``): a snapshot dated D holds the
open interest at the start of D (OCC publishes it overnight), so

    oi_change(D) = open_interest(snapshot D) - open_interest(snapshot of the previous session)

is what trading on the previous session did. The previous session is the NYSE calendar's, not
the previous stored snapshot: when the underlying has no snapshot for it, every contract of D
says ``missing_prev_snapshot`` (and the change is NULL) instead of silently comparing with an
older day. A contract not listed in the previous snapshot (while the underlying has one) is a
``new_contract`` whose previous open interest counts as 0. :func:`missing_snapshots` names the
sessions without any snapshot.

**Opening/closing estimate** (an estimate, documented as such): an order of ``size`` contracts
on session D is compared with the OI change dated on the session after D (the next snapshot):

==========  ================================================================
opening     oi_change >= ``tape.open_close_min_frac`` x size (0.5 by default)
closing     oi_change <= -``open_close_min_frac`` x size
mixed       in between (other trades of the day offset it)
pending     the next snapshot is not stored yet (or is after the as-of day)
unknown     the change is unknown (a missing snapshot, no OI)
==========  ================================================================

The change nets every trade of the day in the contract, so a large order on a busy contract
can read ``mixed``. It is known only after the session: the tape shows it for past sessions,
and no signal, context or alert rule can use it (the rules' filter language refuses the
field).

**Max pain** per expiry is the ``marts.max_pain`` SQL model (``dbt_like_sql/max_pain.sql``).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib.schema.desk import OI_CHANGE

STATUSES = ("ok", "new_contract", "missing_prev_snapshot", "no_oi")


def snapshot_days(con: duckdb.DuckDBPyConnection, chain: str = "market.option_chain") -> pd.DataFrame:
    """``(trade_date, underlying)`` of every stored snapshot."""
    return con.execute(f"SELECT DISTINCT trade_date, underlying FROM {chain} ORDER BY 1, 2").df()


def missing_snapshots(days: list[dt.date]) -> list[dt.date]:
    """NYSE sessions between the first and the last of ``days`` with no snapshot at all."""
    if not days:
        return []
    have = set(days)
    return [d for d in calendar.sessions(min(days), max(days)) if d not in have]


def oi_change(con: duckdb.DuckDBPyConnection, *, start: dt.date | None = None,
              end: dt.date | None = None) -> pd.DataFrame:
    """``marts.oi_change`` rows for the snapshots dated ``start``..``end`` (default all), from
    ``market.option_chain`` on ``con`` (see the module doc for every rule)."""
    snaps = snapshot_days(con)
    if snaps.empty:
        return pd.DataFrame(columns=OI_CHANGE.column_names)
    days = sorted({pd.Timestamp(d).date() for d in snaps["trade_date"]})
    lo = start or days[0]
    hi = end or days[-1]
    pairs = pd.DataFrame({"trade_date": [d for d in days if lo <= d <= hi]})
    pairs["prev_date"] = [calendar.previous_session(d) for d in pairs["trade_date"]]
    con.register("_pf_pairs", pairs)
    try:
        df = con.execute("""
            WITH cur AS (
                SELECT c.trade_date, c.underlying, c.option_symbol, c.expiry, c."right", c.strike,
                       c.open_interest, c.vendor, p.prev_date
                FROM market.option_chain c JOIN _pf_pairs p ON p.trade_date = c.trade_date
            ),
            prev_snap AS (
                SELECT DISTINCT trade_date, underlying FROM market.option_chain
                WHERE trade_date IN (SELECT prev_date FROM _pf_pairs)
            )
            SELECT cur.trade_date, cur.underlying, cur.option_symbol, cur.expiry, cur."right", cur.strike,
                   cur.open_interest, cur.prev_date,
                   CASE WHEN ps.underlying IS NULL THEN NULL ELSE prv.open_interest END AS prev_open_interest,
                   CASE WHEN ps.underlying IS NULL OR cur.open_interest IS NULL THEN NULL
                        WHEN prv.option_symbol IS NULL THEN cur.open_interest
                        WHEN prv.open_interest IS NULL THEN NULL
                        ELSE cur.open_interest - prv.open_interest END AS oi_change,
                   CASE WHEN ps.underlying IS NULL THEN 'missing_prev_snapshot'
                        WHEN cur.open_interest IS NULL OR (prv.option_symbol IS NOT NULL AND prv.open_interest IS NULL)
                            THEN 'no_oi'
                        WHEN prv.option_symbol IS NULL THEN 'new_contract'
                        ELSE 'ok' END AS status,
                   cur.vendor
            FROM cur
            LEFT JOIN prev_snap ps ON ps.trade_date = cur.prev_date AND ps.underlying = cur.underlying
            LEFT JOIN market.option_chain prv
              ON prv.trade_date = cur.prev_date AND prv.option_symbol = cur.option_symbol
            ORDER BY cur.trade_date, cur.underlying, cur.option_symbol
        """).df()
    finally:
        con.unregister("_pf_pairs")
    return df[OI_CHANGE.column_names]


def missing_prev_summary(df: pd.DataFrame) -> list[str]:
    """``"D: previous session P has no snapshot for N underlyings (A, B, ...)"`` lines."""
    miss = df[df["status"] == "missing_prev_snapshot"]
    out = []
    for (d, p), g in miss.groupby(["trade_date", "prev_date"], sort=True):
        names = sorted(g["underlying"].unique())
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        out.append(f"{pd.Timestamp(d).date()}: the previous session {pd.Timestamp(p).date()} has no chain "
                   f"snapshot for {len(names)} underlying(s) ({shown}): OI change unknown")
    return out
