"""Data quality for market tables: row validation at ingest, and checks over stored partitions.

Two layers, on purpose:

* :func:`validate_market_frame` runs on every vendor frame *before* it is stored. Rows breaking a
  rule go to ``<schema>.quarantine`` with the field, value, row and rule; the rest are stored.
* :func:`run_checks` runs SQL over what is *stored* for a partition window (what the Dagster asset
  checks report). It catches anything that reached the table another way: an empty partition,
  duplicate keys across writes, hand-edited or corrupted rows.

Rules (each has a short name used in the quarantine ``reason`` and the check name):

=====================  ===================================================================
``price_positive``     open, high, low, close (bars) / strike (chain) finite and > 0
``ohlc_consistent``    low <= min(open, close) and high >= max(open, close)
``volume_nonnegative`` volume finite and >= 0
``unique_key``         the table's declared key appears once
``in_session``         bar ``ts`` inside the regular session of ``trade_date``; print ``sip_ts``
                       up to 15 minutes after the close (ETF/index options trade to 16:15)
``size_positive``      print size finite and > 0
``symbol_parses``      option symbols are OCC symbols (see :mod:`primeflow_lib.symbols`)
``quote_not_crossed``  chain bid <= ask when both are present
``not_null``           declared NOT NULL columns are present
=====================  ===================================================================
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib.schema import Table
from primeflow_lib.schema.quarantine import quarantine_rows
from primeflow_lib.symbols import occ_parse_errors

# SQL form of the OCC pattern in primeflow_lib.symbols (compact, canonical stored form).
OCC_SQL_PATTERN = r"[A-Z][A-Z0-9.]{0,5}[0-9]{6}[CP][0-9]{8}"


@dataclass
class Validation:
    """Outcome of validating one frame: rows to store, quarantine rows, counts by rule."""

    good: pd.DataFrame
    quarantine: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def n_bad(self) -> int:
        return len(self.quarantine)


def _first_failure(df: pd.DataFrame, rules: list[tuple[str, str, np.ndarray]]) -> tuple[np.ndarray, list]:
    """For each row, the first rule it breaks (rules applied in order)."""
    bad = np.zeros(len(df), dtype=bool)
    assigned: list[Any] = [None] * len(df)
    for name, fld, mask in rules:
        new = mask & ~bad
        for i in np.flatnonzero(new):
            assigned[i] = (name, fld)
        bad |= mask
    return bad, assigned


def validate_market_frame(t: Table, df: pd.DataFrame, *, source: str, trade_date: dt.date | None = None) -> Validation:
    """Split a vendor frame bound for ``t`` into good rows and quarantine rows (see module doc).

    Args:
        t: target table declaration (``market.*``).
        df: the frame with the table's declared columns.
        source: vendor or file name, stored with quarantined rows.
        trade_date: the batch's session (for the quarantine partition).
    """
    df = df.reset_index(drop=True)
    rules: list[tuple[str, str, np.ndarray]] = []
    names = set(df.columns)
    for c in t.columns:
        if not c.nullable and c.name in names:
            rules.append(("not_null", c.name, df[c.name].isna().to_numpy()))

    def num(col: str) -> np.ndarray:
        return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)

    if {"open", "high", "low", "close"} <= names:
        o, h, lo, c = num("open"), num("high"), num("low"), num("close")
        for col, arr in (("open", o), ("high", h), ("low", lo), ("close", c)):
            rules.append(("price_positive", col, ~(np.isfinite(arr) & (arr > 0))))
        with np.errstate(invalid="ignore"):
            rules.append(("ohlc_consistent", "low", lo > np.minimum(o, c)))
            rules.append(("ohlc_consistent", "high", h < np.maximum(o, c)))
    if "volume" in names and t.column("volume").type in ("DOUBLE", "BIGINT") and "strike" not in names:
        v = num("volume")
        rules.append(("volume_nonnegative", "volume", ~(np.isfinite(v) & (v >= 0))))
    if "strike" in names:
        k = num("strike")
        rules.append(("price_positive", "strike", ~(np.isfinite(k) & (k > 0))))
        rules.append(("symbol_parses", "option_symbol", occ_parse_errors(df["option_symbol"])))
        b, a = num("bid"), num("ask")
        with np.errstate(invalid="ignore"):
            rules.append(("quote_not_crossed", "bid", np.isfinite(b) & np.isfinite(a) & (b > a)))
        oi = num("open_interest")
        with np.errstate(invalid="ignore"):
            rules.append(("volume_nonnegative", "open_interest", np.isfinite(oi) & (oi < 0)))
    if {"price", "size"} <= names:
        px, sz = num("price"), num("size")
        rules.append(("price_positive", "price", ~(np.isfinite(px) & (px > 0))))
        rules.append(("size_positive", "size", ~(np.isfinite(sz) & (sz > 0))))
        if "strike" not in names:
            rules.append(("symbol_parses", "option_symbol", occ_parse_errors(df["option_symbol"])))
    ts_col, grace = ts_rule(t)
    if ts_col and ts_col in names and "trade_date" in names and len(df):
        rules.append(("in_session", ts_col, ~_in_session(df["trade_date"], df[ts_col], grace)))
    if t.key and set(t.key) <= names:
        rules.append(("unique_key", ",".join(t.key), df.duplicated(list(t.key), keep="first").to_numpy()))

    bad, assigned = _first_failure(df, rules)
    counts: dict[str, int] = {}
    for a in assigned:
        if a is not None:
            counts[a[0]] = counts.get(a[0], 0) + 1
    bad_idx = np.flatnonzero(bad)
    if len(bad_idx):
        bad_rows = df.iloc[bad_idx]
        fields = [assigned[i][1] for i in bad_idx]
        values = [
            ",".join(str(df.at[i, f]) for f in fld.split(",")) if all(f in names for f in fld.split(",")) else None
            for i, fld in zip(bad_idx, fields, strict=True)
        ]
        q = quarantine_rows(
            t.fqn,
            bad_rows,
            source=source,
            reason=[f"{assigned[i][0]}: {_RULE_TEXT[assigned[i][0]]}" for i in bad_idx],
            field=fields,
            value=values,
            row_number=list(bad_idx),
            trade_date=trade_date,
        )
    else:
        q = quarantine_rows(t.fqn, df.iloc[:0], source=source, reason=[], trade_date=trade_date)
    return Validation(good=df.iloc[np.flatnonzero(~bad)].reset_index(drop=True), quarantine=q, counts=counts)


_RULE_TEXT = {
    "not_null": "a required field is missing",
    "size_positive": "size must be finite and > 0",
    "price_positive": "price must be finite and > 0",
    "ohlc_consistent": "low <= min(open, close) and high >= max(open, close) must hold",
    "volume_nonnegative": "must be finite and >= 0",
    "unique_key": "duplicate of an earlier row's key",
    "in_session": "timestamp outside the regular session of its trade_date",
    "symbol_parses": "not an OCC option symbol",
    "quote_not_crossed": "bid above ask (crossed quote)",
}


def session_bounds_frame(days: list[dt.date]) -> pd.DataFrame:
    """``trade_date, open_ts, close_ts`` (naive ET) for each session in ``days``."""
    rows = [(d, *calendar.session_open_close(d)) for d in sorted(set(days)) if calendar.is_session(d)]
    return pd.DataFrame(rows, columns=["trade_date", "open_ts", "close_ts"])


#: options on ETFs and indices trade until 16:15 ET, a quarter hour after the equity close
PRINT_CLOSE_GRACE = dt.timedelta(minutes=15)


def ts_rule(t: Table) -> tuple[str | None, dt.timedelta]:
    """The timestamp column checked against the session, and the grace after the close."""
    cols = set(t.column_names)
    if "sip_ts" in cols:
        return "sip_ts", PRINT_CLOSE_GRACE
    if "ts" in cols:
        return "ts", dt.timedelta(0)
    return None, dt.timedelta(0)


def _in_session(trade_date: pd.Series, ts: pd.Series, grace: dt.timedelta = dt.timedelta(0)) -> np.ndarray:
    days = pd.to_datetime(trade_date).dt.date
    bounds = session_bounds_frame(list(days.unique())).set_index("trade_date")
    o = pd.to_datetime(days.map(bounds["open_ts"]))
    c = pd.to_datetime(days.map(bounds["close_ts"])) + grace
    t = pd.to_datetime(ts)
    return ((t >= o) & (t < c)).fillna(False).to_numpy()


@dataclass(frozen=True)
class CheckOutcome:
    """One data-quality check over a stored partition window."""

    name: str
    passed: bool
    description: str
    failing_rows: int = 0
    sample: str = ""


def run_checks(con: duckdb.DuckDBPyConnection, t: Table, start: dt.date, end: dt.date) -> list[CheckOutcome]:
    """Run every check that applies to ``t`` over stored rows with ``trade_date`` in
    ``start``..``end``. Identifiers come from the declaration; dates are bound parameters."""
    out: list[CheckOutcome] = []
    rng = [start, end]
    w = '"trade_date" BETWEEN ? AND ?'
    n = con.execute(f"SELECT count(*) FROM {t.fqn} WHERE {w}", rng).fetchall()[0][0]
    days = calendar.sessions(start, end)
    per_day = dict(con.execute(
        f"SELECT trade_date, count(*) FROM {t.fqn} WHERE {w} GROUP BY 1", rng).fetchall())
    empty = [d for d in days if per_day.get(d, 0) == 0]
    out.append(CheckOutcome(
        "non_empty", not empty, f"every session in the window has rows ({n} rows in {len(days)} sessions)",
        len(empty), ", ".join(map(str, empty[:5]))))

    keys = ", ".join(f'"{k}"' for k in t.key)
    dup = con.execute(
        f"SELECT count(*), any_value(concat_ws('|', {keys})) FROM (SELECT {keys} FROM {t.fqn} WHERE {w} "
        f"GROUP BY {keys} HAVING count(*) > 1)", rng).fetchall()[0]
    out.append(CheckOutcome("unique_key", dup[0] == 0, f"({', '.join(t.key)}) is unique", dup[0], dup[1] or ""))

    cols = set(t.column_names)
    if {"open", "high", "low", "close"} <= cols:
        bad = con.execute(
            f"SELECT count(*), any_value(concat_ws('|', ticker, trade_date)) FROM {t.fqn} WHERE {w} AND NOT ("
            "low <= least(open, close) AND high >= greatest(open, close) AND low > 0 AND "
            "isfinite(open) AND isfinite(high) AND isfinite(low) AND isfinite(close) AND volume >= 0)",
            rng).fetchall()[0]
        out.append(CheckOutcome(
            "ohlc_consistent", bad[0] == 0,
            "low <= open, close <= high; prices > 0; volume >= 0", bad[0], bad[1] or ""))
    ts_col, grace = ts_rule(t)
    if ts_col:
        bounds = session_bounds_frame(days)
        bounds["close_ts"] = bounds["close_ts"] + grace
        con.register("_pf_sessions", bounds)
        try:
            bad = con.execute(
                f"SELECT count(*), any_value(CAST(x.{ts_col} AS VARCHAR)) FROM {t.fqn} x "
                "LEFT JOIN _pf_sessions s USING (trade_date) "
                f"WHERE x.{w} AND (s.open_ts IS NULL OR x.{ts_col} < s.open_ts OR x.{ts_col} >= s.close_ts)",
                rng).fetchall()[0]
        finally:
            con.unregister("_pf_sessions")
        out.append(CheckOutcome("in_session", bad[0] == 0, "bar timestamps inside the regular session",
                                bad[0], bad[1] or ""))
    if "option_symbol" in cols:
        bad = con.execute(
            f"SELECT count(*), any_value(option_symbol) FROM {t.fqn} WHERE {w} AND NOT "
            "regexp_full_match(option_symbol, ?)", [*rng, OCC_SQL_PATTERN]).fetchall()[0]
        out.append(CheckOutcome("symbol_parses", bad[0] == 0, "option symbols are OCC symbols",
                                bad[0], bad[1] or ""))
    return out
