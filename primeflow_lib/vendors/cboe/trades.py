"""Cboe DataShop "Option Trades" CSV files -> ``flow.option_prints`` rows.

Layout (one file per day; DataShop documents the fields on its "Option Trades" page)::

    underlying_symbol,quote_datetime,sequence_number,root,expiration,strike,option_type,
    exchange_id,trade_size,trade_price,trade_condition_id,canceled_trade_condition_id,best_bid,
    best_ask,[trade_iv,trade_delta,]underlying_bid,underlying_ask,number_of_exchanges,
    {exchange,bid_size,bid,ask_size,ask}[number_of_exchanges]

After ``number_of_exchanges`` each row carries that many 5-field blocks of per-exchange quotes
(so rows have different lengths; the header names the block once). ``trade_iv`` and
``trade_delta`` are present only with DataShop's "Calcs" add-on.

Mapping to ``flow.option_prints``:

==================  ====================================================================
column              from
==================  ====================================================================
option_symbol       ``root`` + ``expiration`` (YYMMDD) + ``option_type`` + ``strike`` x 1000
underlying          ``underlying_symbol`` without the index caret (``^VIX`` -> ``VIX``)
sip_ts              ``quote_datetime`` (America/New_York wall time, ms)
sip_timestamp       the same instant in ns since the epoch (UTC)
trade_date          the New York date of ``quote_datetime``
exchange            ``exchange_id`` (DataShop's ids: 5 = CBOE, 6 = ISE, 42 = C2, ...)
price, size         ``trade_price``, ``trade_size``
conditions          ``trade_condition_id`` as sent (read with the ``cboe_datashop`` condition map)
correction          null (a cancel arrives as its own record, condition 40-44)
bid, ask            ``best_bid``, ``best_ask`` (the NBBO at the trade; ``quote_source`` nbbo)
seq                 0-based position of the row among the file's rows of its contract and day
vendor_sequence     ``sequence_number``
print_id            hash of (symbol, ns time, exchange, price, size, condition, sequence_number)
vendor              ``cboe``
==================  ====================================================================

``canceled_trade_condition_id`` is not stored: the cancellation itself arrives as a cancel
record (condition 40-44), which the classifier matches to the print it cancels; rows with a
non-zero value are counted in the report (``canceled_marked``).

**Errors** (:class:`CboeFileError`, naming the file, line and field): a header whose named
columns are missing, unknown or out of order; a row whose length is not 17 (19 with Calcs) + 5 x
``number_of_exchanges``; a value that cannot be read (not a number, not a date). **Counted
flags** (the row is kept; :class:`ImportReport` lists file, line, field, value): a zero or
crossed NBBO (``best_bid``/``best_ask``: the classifier then uses the tick rule, confidence low),
``sequence_number`` lower than the previous row's of the same contract in the file
(``sequence_backwards``: Cboe's numbers are not in time order, so this is information, not an
error; the sample day has many), and a non-zero ``canceled_trade_condition_id``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.vendors.base import VendorDataError
from primeflow_lib.vendors.massive import print_id

VENDOR = "cboe"
COLUMNS = (
    "underlying_symbol",
    "quote_datetime",
    "sequence_number",
    "root",
    "expiration",
    "strike",
    "option_type",
    "exchange_id",
    "trade_size",
    "trade_price",
    "trade_condition_id",
    "canceled_trade_condition_id",
    "best_bid",
    "best_ask",
)
CALCS = ("trade_iv", "trade_delta")
TAIL = ("underlying_bid", "underlying_ask", "number_of_exchanges")
BLOCK = ("{exchange", "bid_size", "bid", "ask_size", "ask}[number_of_exchanges]")
BLOCK_LEN = 5
#: flags the report counts
FLAG_KINDS = ("zero_quote", "crossed_quote", "sequence_backwards", "canceled_marked")


class CboeFileError(VendorDataError):
    """A Cboe file that cannot be read as documented; the message names file, line and field."""

    def __init__(self, message: str) -> None:
        super().__init__(message, vendor=VENDOR)


@dataclass
class ImportReport:
    """What an import read: ``rows_in`` data rows, ``rows_out`` rows returned (always equal: a
    file either imports whole or fails), counted ``flags`` per kind and the flagged rows
    (``flagged``: file, line, field, value, flag) so each can be looked up."""

    source: str
    rows_in: int = 0
    rows_out: int = 0
    flags: dict[str, int] = field(default_factory=dict)
    flagged: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["file", "line", "field", "value", "flag"]))

    def summary(self) -> dict:
        return {"source": self.source, "rows_in": self.rows_in, "rows_out": self.rows_out,
                "flags": dict(self.flags)}


def _check_header(header: list[str], path: Path) -> bool:
    """Validate the header; returns whether the Calcs columns are present."""
    names = [h.strip().lower() for h in header]
    # the per-exchange block is named once, split by the CSV reader into 5 tokens
    if names[-BLOCK_LEN:] == [b.lower() for b in BLOCK]:
        names = names[:-BLOCK_LEN]
    calcs = len(names) >= len(COLUMNS) + 2 and tuple(names[len(COLUMNS):len(COLUMNS) + 2]) == CALCS
    expected = list(COLUMNS) + (list(CALCS) if calcs else []) + list(TAIL)
    missing = [c for c in expected if c not in names]
    if missing:
        raise CboeFileError(f"{path.name}: line 1: header lacks the column(s) {missing} "
                            f"(Cboe DataShop Option Trades layout: {', '.join(expected)}, then the "
                            "per-exchange quote blocks)")
    extra = [c for c in names if c not in expected]
    if extra:
        raise CboeFileError(f"{path.name}: line 1: header has unknown column(s) {extra} "
                            f"(expected exactly: {', '.join(expected)}, then the per-exchange blocks)")
    if names != expected:
        raise CboeFileError(f"{path.name}: line 1: header columns are out of order: {names} "
                            f"(expected {expected})")
    return calcs


def read_option_trades(path: str | Path) -> tuple[pd.DataFrame, ImportReport]:
    """Read one DataShop Option Trades CSV.

    Returns:
        ``(prints, report)``: ``flow.option_prints`` rows (file order) and the
        :class:`ImportReport`.

    Raises:
        CboeFileError: unreadable file, bad header, a row of the wrong length, or a value that
            is not a number / date (the message names file, line, field and value).
    """
    path = Path(path)
    if not path.is_file():
        raise CboeFileError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = next(reader)
        except StopIteration:
            raise CboeFileError(f"{path.name}: empty file (no header line)") from None
        calcs = _check_header(header, path)
        fixed = len(COLUMNS) + (2 if calcs else 0) + len(TAIL)
        nx_at = fixed - 1
        rows: list[list[str]] = []
        for line, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < fixed:
                raise CboeFileError(f"{path.name}: line {line}: {len(row)} fields, expected at least "
                                    f"{fixed} (field number_of_exchanges missing)")
            try:
                nx = int(row[nx_at])
            except ValueError:
                raise CboeFileError(f"{path.name}: line {line}: field number_of_exchanges: "
                                    f"{row[nx_at]!r} is not an integer") from None
            if nx < 0 or len(row) != fixed + BLOCK_LEN * nx:
                raise CboeFileError(
                    f"{path.name}: line {line}: {len(row)} fields, but number_of_exchanges = {nx} "
                    f"needs {fixed + BLOCK_LEN * nx} ({fixed} + {BLOCK_LEN} per exchange): "
                    "a column is missing or extra")
            rows.append([*row[:len(COLUMNS)], str(line)])
    names = [*COLUMNS, "_line"]
    raw = pd.DataFrame(rows, columns=names) if rows else pd.DataFrame(columns=names)
    report = ImportReport(source=path.name, rows_in=len(raw))
    prints = _to_prints(raw, path, report)
    report.rows_out = len(prints)
    return prints, report


def _numbers(raw: pd.DataFrame, col: str, path: Path, *, integer: bool = False) -> np.ndarray:
    s = raw[col].str.strip()
    v = pd.to_numeric(s, errors="coerce")
    bad = v.isna().to_numpy().copy()
    if integer and not bad.all():
        fv = v.to_numpy(np.float64, na_value=np.nan)
        bad |= np.isfinite(fv) & (fv != np.floor(np.where(np.isfinite(fv), fv, 0)))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        kind = "an integer" if integer else "a number"
        raise CboeFileError(f"{path.name}: line {raw['_line'].iat[i]}: field {col}: "
                            f"{raw[col].iat[i]!r} is not {kind}")
    if integer:
        return pd.to_numeric(s).to_numpy(np.int64)
    return v.to_numpy(np.float64)


def _to_prints(raw: pd.DataFrame, path: Path, report: ImportReport) -> pd.DataFrame:
    n = len(raw)
    line = raw["_line"].astype(int).to_numpy()
    when = pd.to_datetime(raw["quote_datetime"].str.strip(), errors="coerce", format="%Y-%m-%d %H:%M:%S.%f")
    when = when.fillna(pd.to_datetime(raw["quote_datetime"].str.strip(), errors="coerce", format="%Y-%m-%d %H:%M:%S"))
    if when.isna().any():
        i = int(np.flatnonzero(when.isna().to_numpy())[0])
        raise CboeFileError(f"{path.name}: line {line[i]}: field quote_datetime: "
                            f"{raw['quote_datetime'].iat[i]!r} is not 'YYYY-MM-DD HH:MM:SS.fff'")
    expiry = pd.to_datetime(raw["expiration"].str.strip(), errors="coerce", format="%Y-%m-%d")
    if expiry.isna().any():
        i = int(np.flatnonzero(expiry.isna().to_numpy())[0])
        raise CboeFileError(f"{path.name}: line {line[i]}: field expiration: "
                            f"{raw['expiration'].iat[i]!r} is not a YYYY-MM-DD date")
    right = raw["option_type"].str.strip().str.upper()
    bad_r = ~right.isin(["C", "P"]).to_numpy()
    if bad_r.any():
        i = int(np.flatnonzero(bad_r)[0])
        raise CboeFileError(f"{path.name}: line {line[i]}: field option_type: "
                            f"{raw['option_type'].iat[i]!r} is not C or P")
    strike = _numbers(raw, "strike", path)
    vseq = _numbers(raw, "sequence_number", path, integer=True)
    exch = _numbers(raw, "exchange_id", path, integer=True)
    size = _numbers(raw, "trade_size", path)
    price = _numbers(raw, "trade_price", path)
    cond = _numbers(raw, "trade_condition_id", path, integer=True)
    canceled = _numbers(raw, "canceled_trade_condition_id", path, integer=True)
    bid = _numbers(raw, "best_bid", path)
    ask = _numbers(raw, "best_ask", path)

    root = raw["root"].str.strip().str.upper().to_numpy(dtype=object)
    milli = np.round(strike * 1000).astype(np.int64)
    sym = (pd.Series(root, dtype=object) + expiry.dt.strftime("%y%m%d") + right
           + pd.Series(milli).map("{:08d}".format)).to_numpy(dtype=object)
    und = raw["underlying_symbol"].str.strip().str.lstrip("^").str.upper().to_numpy(dtype=object)
    wall = when.astype("datetime64[ns]")
    sip = (pd.DatetimeIndex(wall).tz_localize("America/New_York", ambiguous="NaT", nonexistent="NaT")
           .tz_convert("UTC").asi8)
    trade_date = wall.dt.date.to_numpy(dtype=object)
    conds = cond.astype(str).astype(object)

    # seq: position among the file's rows of the same contract and day
    key = pd.Series(sym, dtype=object) + "|" + pd.Series(trade_date).astype(str)
    seq = key.groupby(key.to_numpy()).cumcount().to_numpy(np.int64)

    flagged: list[tuple] = []
    zero = (bid == 0) & (ask == 0)
    crossed = ~zero & (bid > ask)
    for mask, fld, kind in ((zero, "best_bid,best_ask", "zero_quote"),
                            (crossed, "best_bid,best_ask", "crossed_quote")):
        for i in np.flatnonzero(mask):
            flagged.append((path.name, int(line[i]), fld, f"{bid[i]}/{ask[i]}", kind))
    prev = key.groupby(key.to_numpy()).shift(1)
    prev_seq = pd.Series(vseq).groupby(key.to_numpy()).shift(1).to_numpy(np.float64, na_value=np.nan)
    back = prev.notna().to_numpy() & (vseq < prev_seq)
    for i in np.flatnonzero(back):
        flagged.append((path.name, int(line[i]), "sequence_number", f"{vseq[i]} < {int(prev_seq[i])}",
                        "sequence_backwards"))
    for i in np.flatnonzero(canceled != 0):
        flagged.append((path.name, int(line[i]), "canceled_trade_condition_id", str(canceled[i]),
                        "canceled_marked"))
    report.flagged = pd.DataFrame(flagged, columns=["file", "line", "field", "value", "flag"])
    report.flags = {k: int((report.flagged["flag"] == k).sum()) for k in FLAG_KINDS}

    out = pd.DataFrame(
        {
            "trade_date": trade_date,
            "print_id": [print_id(*r) for r in zip(sym, sip, exch, price, size, conds, vseq, strict=True)],
            "option_symbol": pd.array(sym, dtype="str"),
            "underlying": pd.array(und, dtype="str"),
            "sip_ts": wall.to_numpy().astype("datetime64[us]"),
            "sip_timestamp": sip.astype(np.int64),
            "exchange": exch.astype(np.int32),
            "price": price,
            "size": size.astype(np.int64) if np.all(size == np.floor(size)) else size,
            "conditions": pd.array(conds, dtype="str"),
            "correction": pd.array([None] * n, dtype="Int32"),
            "bid": bid,
            "ask": ask,
            "seq": seq,
            "vendor": pd.array([VENDOR] * n, dtype="str"),
            "vendor_sequence": vseq.astype(np.int64),
            "quote_source": pd.array(["nbbo"] * n, dtype="str"),
        }
    )
    return out[OPTION_PRINTS.column_names]

