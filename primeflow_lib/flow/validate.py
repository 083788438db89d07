"""Print validation: split a batch of ``flow.option_prints`` rows into good and quarantine rows.

Rules (each broken rule gives one quarantine row naming the field, the value, the 0-based row
number in the batch as received, and the rule; a row is quarantined when it breaks any rule):

=====================  ==============================================================
field                  rule
=====================  ==============================================================
option_symbol          must parse as an OCC symbol (``O:`` prefix and padding accepted)
trade_date             must be present
sip_timestamp          must be present and > 0 (ns since the Unix epoch)
exchange               must be present
price                  must be finite and > 0 (NaN, inf, 0 and negative are rejected)
size                   must be finite, > 0 and a whole number of contracts
=====================  ==============================================================

Plausibility rules (impossible prices relative to the contract, spot or NBBO; absurd size or
premium; an underlying that is not the symbol's; a trade_date that is not the session of the
timestamp) are in :mod:`primeflow_lib.flow.plausibility`, with thresholds in the config's
``plausibility`` block; they quarantine too.

Rules that compare rows with each other run in the classifier, after it has sorted each contract
(:mod:`primeflow_lib.flow.classify`), and also end in quarantine: a **duplicate** print (equal to
an earlier-received print on contract, sip_timestamp, exchange, price, size and conditions; the
first is kept), and a **cancel with no matching earlier print**.

Problems that do not make a print unusable are *flagged*, not quarantined, and counted in
:class:`~primeflow_lib.flow.engine.FlowResult` ``stats``:

* missing, non-positive or crossed/locked quote (``bid >= ask``): side by tick rule, confidence
  ``low`` (see :mod:`primeflow_lib.flow.side`);
* unknown condition id: kept for volume, event flagged ``has_unknown_condition``, never a signal;
* timestamp earlier than an earlier-received print of the contract: ``is_late`` (volume only);
* ``sip_ts`` missing: rebuilt from ``sip_timestamp`` (UTC ns -> America/New_York wall time).

Nothing raises on bad values: a batch with every row broken returns an empty good frame and a
full quarantine.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from primeflow_lib.arrays import factorize
from primeflow_lib.flow.plausibility import plausibility_problems
from primeflow_lib.schema.quarantine import empty_quarantine, quarantine_rows
from primeflow_lib.symbols import factorize_occ

TARGET = "flow.option_prints"
REQUIRED = ("option_symbol", "trade_date", "sip_timestamp", "exchange", "price", "size")
OPTIONAL = (
    "print_id",
    "underlying",
    "sip_ts",
    "conditions",
    "correction",
    "bid",
    "ask",
    "seq",
    "vendor",
    "vendor_sequence",
    "quote_source",
)


@dataclass
class ValidatedPrints:
    """Result of :func:`validate_prints`.

    Attributes:
        good: the rows that passed, in the order received, with the original columns plus
            ``row_number`` (position in the batch) and ``contract_code`` (row of ``contracts``).
        contracts: one row per distinct symbol: ``root, underlying, expiry, right, strike,
            option_symbol`` (canonical compact form), ``error``.
        conditions: the distinct normalised condition strings; ``good.condition_code`` indexes
            them (so the classifier never re-parses the column).
        quarantine: rows shaped like ``flow.quarantine``.
        counts: ``{"rows_in", "rows_good", "rows_quarantined", "by_reason": {reason: n}, ...}``.
    """

    good: pd.DataFrame
    contracts: pd.DataFrame
    conditions: np.ndarray
    quarantine: pd.DataFrame
    counts: dict = field(default_factory=dict)


def _num(s: pd.Series | None, n: int, dtype=np.float64) -> np.ndarray:
    if s is None:
        return np.full(n, np.nan)
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=dtype, na_value=np.nan)


def _int_col(s: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(int64 values, ok mask) without going through float (ns timestamps exceed 2**53)."""
    if s is None:
        return np.zeros(n, np.int64), np.zeros(n, bool)
    if pd.api.types.is_integer_dtype(s.dtype) and not s.hasnans:
        return s.to_numpy(np.int64), np.ones(n, bool)
    v = pd.to_numeric(s, errors="coerce")
    ok = v.notna().to_numpy()
    f = np.array(v.to_numpy(np.float64, na_value=0.0), copy=True)
    ok = ok.copy() & np.isfinite(f)
    out = np.zeros(n, np.int64)
    if pd.api.types.is_integer_dtype(v.dtype):
        out[ok] = v[ok].to_numpy(np.int64)
    else:
        out[ok] = f[ok].astype(np.int64)
        ok &= f == np.floor(f)
    return out, ok


def validate_prints(
    prints: pd.DataFrame,
    *,
    source: str = "batch",
    now: dt.datetime | None = None,
    rules: dict | None = None,
    bars_1m: pd.DataFrame | None = None,
) -> ValidatedPrints:
    """Validate a batch of option prints (columns of ``flow.option_prints``; see module doc).

    Args:
        prints: the batch as received. Missing optional columns are allowed (treated as null);
            a missing required column quarantines every row with reason "column missing".
        source: where the batch came from (vendor name or file name), stored in quarantine rows.
        now: the quarantine timestamp (UTC, naive); default the current time.
        rules: the ``plausibility`` config block; default the packaged defaults (the rules
            always run).
        bars_1m: 1-minute bars of the underlyings (the call-above-spot rule uses each
            session's high); without them calls are not checked against spot.

    Returns:
        :class:`ValidatedPrints`.
    """
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    n = len(prints)
    df = prints.reset_index(drop=True)
    problems: list[tuple[np.ndarray, str, str]] = []  # (bad-mask, field, reason)

    missing_cols = [c for c in REQUIRED if c not in df.columns]
    for c in missing_cols:
        problems.append((np.ones(n, bool), c, f"required column {c!r} is missing from the batch"))

    sym = df["option_symbol"] if "option_symbol" in df else pd.Series([None] * n, dtype=object)
    sym_codes, contracts = factorize_occ(sym)
    bad_sym = contracts["error"].notna().to_numpy()[sym_codes]
    if "option_symbol" in df:
        problems.append((bad_sym, "option_symbol", "option symbol is missing or not an OCC symbol"))

    if "trade_date" in df:
        problems.append(
            (_bad_dates(df["trade_date"]), "trade_date", "trade_date is missing or not a date")
        )
    sip, sip_ok = _int_col(df.get("sip_timestamp"), n)
    if "sip_timestamp" in df:
        problems.append(
            (
                ~(sip_ok & (sip > 0)),
                "sip_timestamp",
                "sip_timestamp must be a positive integer (ns since the epoch)",
            )
        )
    exch = _num(df.get("exchange"), n)
    if "exchange" in df:
        problems.append((~np.isfinite(exch), "exchange", "exchange id is missing"))
    price = _num(df.get("price"), n)
    if "price" in df:
        problems.append(
            (~(np.isfinite(price) & (price > 0)), "price", "price must be finite and > 0")
        )
    size = _num(df.get("size"), n)
    if "size" in df:
        ok = np.isfinite(size) & (size > 0)
        ok &= np.where(ok, size == np.floor(np.where(ok, size, 0)), False)
        problems.append((~ok, "size", "size must be a whole number of contracts > 0"))

    if rules is None:
        from primeflow_lib.config import default_config

        rules = default_config()["plausibility"]
    plaus, unchecked = plausibility_problems(df, contracts, sym_codes, price, size, sip, sip_ok, rules, bars_1m)
    problems.extend(plaus)

    bad_any = np.zeros(n, bool)
    for m, _, _ in problems:
        bad_any |= m

    cond_codes, cond_values = _condition_codes(df.get("conditions", None), n)

    good_mask = ~bad_any
    quarantine = _quarantine_rows(df, problems, source, now)
    good = df if good_mask.all() else df.loc[good_mask].copy()
    good["row_number"] = np.flatnonzero(good_mask)
    good["contract_code"] = sym_codes[good_mask]
    good["condition_code"] = cond_codes[good_mask]
    by_reason: dict[str, int] = {}
    for m, _, reason in problems:
        k = int(m.sum())
        if k:
            by_reason[reason] = by_reason.get(reason, 0) + k
    counts = {
        "rows_in": n,
        "rows_good": int(good_mask.sum()),
        "rows_quarantined": int(bad_any.sum()),
        "by_reason": by_reason,
        "plausibility_unchecked": unchecked,
    }
    return ValidatedPrints(
        good=good.reset_index(drop=True),
        contracts=contracts,
        conditions=cond_values,
        quarantine=quarantine,
        counts=counts,
    )


def _condition_codes(cond: pd.Series | None, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the normalised condition strings (spaces and brackets ignored, missing = '')
    and the distinct normalised strings they index."""
    codes, uniques = factorize(cond, n)
    norm = np.array(
        [
            ""
            if (u is None or (isinstance(u, float) and np.isnan(u)))
            else str(u).replace(" ", "").strip("[]")
            for u in uniques
        ]
        + [""],
        dtype=object,
    )
    vals, inv = np.unique(norm.astype(str), return_inverse=True)
    return inv[np.where(codes < 0, len(norm) - 1, codes)].astype(np.int64), vals.astype(object)


def _bad_dates(s: pd.Series) -> np.ndarray:
    """True where a trade_date value is missing or not a date (parses each distinct value once)."""
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return s.isna().to_numpy()
    codes, uniques = factorize(s)
    ok = pd.to_datetime(pd.Series(uniques, dtype=object), errors="coerce", format="mixed").notna().to_numpy()
    ok = np.append(ok, False)
    return ~ok[np.where(codes < 0, len(ok) - 1, codes)]


def _quarantine_rows(
    df: pd.DataFrame, problems: list[tuple[np.ndarray, str, str]], source: str, now: dt.datetime
) -> pd.DataFrame:
    """One quarantine row per (row, broken rule): ``problems`` are (row mask, field, reason)."""
    parts = []
    for m, fld, reason in problems:
        rows = np.flatnonzero(m)
        if not len(rows):
            continue
        sub = df.iloc[rows]
        parts.append(quarantine_rows(
            TARGET, sub, source=source, reason=reason, field=fld,
            value=sub[fld].to_numpy(dtype=object) if fld in df.columns else None,
            row_number=rows, trade_date=_days(sub), now=now,
        ))  # fmt: skip
    if not parts:
        return empty_quarantine()
    return pd.concat(parts, ignore_index=True)


def _days(rows: pd.DataFrame) -> list[dt.date | None]:
    """Each row's session (None where ``trade_date`` is missing or unparseable)."""
    if "trade_date" not in rows.columns:
        return [None] * len(rows)
    td = pd.to_datetime(rows["trade_date"], errors="coerce")
    return [None if pd.isna(t) else t.date() for t in td]
