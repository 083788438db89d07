"""Cboe delayed-quote chain exports (``<sym>_quotedata.csv``) -> ``market.option_chain`` rows.

The file Cboe's "delayed quotes" page exports for one underlying::

    (line 1: empty)
    Standard & Poors 500 Index,Last: 4500.5298,Change:  23.0898          <- spot on line 2
    "Date: February 5 2022, 8:09 PM EST",Bid: 4420.5,Ask: 4615.43,...     <- time stamp, line 3
    Expiration Date,Calls,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest,Strike,
        Puts,Last Sale,Net,Bid,Ask,Volume,IV,Delta,Gamma,Open Interest  <- header, line 4
    Mon Feb 07 2022,SPXW220207C02400000,0,0,2087.8,2102.6,0,4.285,0.9999,0,0,2400.00,
        SPXW220207P02400000,...                                        <- one line per strike

Each strike line holds a call block and a put block. One ``market.option_chain`` row per
contract: ``option_symbol`` from the Calls / Puts column (OCC root such as ``SPXW`` -> underlying
``SPX``), ``expiry`` from the Expiration Date, ``bid``/``ask``/``last``/``volume``,
``open_interest``, ``iv`` (annualised fraction as exported), ``delta``, ``gamma`` (Cboe's own,
rounded to 4 decimals in the file), ``underlying_price`` = the spot of line 2, ``vendor`` =
``cboe``. ``trade_date`` is the session the snapshot belongs to: the time stamp's date when it is
a session and the stamp is after its open, else the latest session before it (exports taken on a
weekend belong to the Friday). The stamp itself is returned as ``ChainExport.asof`` (New York
wall time): gamma exposure measures time to expiry from it (see ``primeflow_lib.flow.gex``).

**Errors** (:class:`~primeflow_lib.vendors.cboe.trades.CboeFileError`, naming file, line and
field): no spot line (line 2 without ``Last:``), no or unreadable time stamp on line 3, a header
that is not the documented one, a strike line with the wrong number of fields, a value that is
not a number or an option symbol that does not parse.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib.schema.market import OPTION_CHAIN
from primeflow_lib.symbols import OptionSymbolError, parse_occ
from primeflow_lib.vendors.cboe.trades import VENDOR, CboeFileError

HEADER = (
    "Expiration Date", "Calls", "Last Sale", "Net", "Bid", "Ask", "Volume", "IV", "Delta",
    "Gamma", "Open Interest", "Strike", "Puts", "Last Sale", "Net", "Bid", "Ask", "Volume", "IV",
    "Delta", "Gamma", "Open Interest",
)
_BLOCK = ("symbol", "last", "net", "bid", "ask", "volume", "iv", "delta", "gamma", "open_interest")
_STAMP_FORMATS = ("%B %d %Y, %I:%M %p", "%B %d, %Y at %I:%M %p", "%B %d, %Y, %I:%M %p")


@dataclass
class ChainExport:
    """One parsed export: ``chain`` (``market.option_chain`` rows), the ``spot`` of line 2, the
    time stamp ``asof`` (naive New York wall time), the snapshot's ``trade_date`` and the
    underlying's name as line 2 gives it."""

    chain: pd.DataFrame
    spot: float
    asof: dt.datetime
    trade_date: dt.date
    name: str
    source: str


def _spot(row: list[str], path: Path) -> tuple[str, float]:
    for cell in row:
        m = re.match(r"\s*Last:\s*([-+0-9.,]+)\s*$", cell)
        if m:
            try:
                return row[0].strip(), float(m.group(1).replace(",", ""))
            except ValueError:
                break
    raise CboeFileError(
        f"{path.name}: line 2: no spot ('Last: <price>' field) on the underlying line; a Cboe "
        f"chain export starts with a blank line, then '<name>,Last: <spot>,Change: ...' (got {row!r})")


def _stamp(row: list[str], path: Path) -> dt.datetime:
    cell = row[0].strip() if row else ""
    m = re.match(r"^Date:\s*(.+?)\s+(EST|EDT|ET)?\s*$", cell)
    if m:
        for fmt in _STAMP_FORMATS:
            try:
                return dt.datetime.strptime(m.group(1).strip(), fmt)
            except ValueError:
                continue
    raise CboeFileError(f"{path.name}: line 3: field Date: {cell!r} is not a time stamp like "
                        "'Date: February 7, 2023 at 5:34 PM EST'")


def snapshot_session(asof: dt.datetime) -> dt.date:
    """The session a snapshot taken at ``asof`` (New York wall time) belongs to."""
    d = asof.date()
    if calendar.is_session(d):
        open_, _ = calendar.session_open_close(d)
        if asof >= open_.replace(tzinfo=None):
            return d
    return calendar.previous_session(d)


def read_quotedata(path: str | Path) -> ChainExport:
    """Read one ``*_quotedata.csv`` chain export (see module doc).

    Raises:
        CboeFileError: the file does not have the documented shape (message names file, line,
            field).
    """
    path = Path(path)
    if not path.is_file():
        raise CboeFileError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8-sig") as fh:
        lines = list(csv.reader(fh))
    if len(lines) < 4:
        raise CboeFileError(f"{path.name}: {len(lines)} lines; a chain export has a blank line, the "
                            "spot line, the time stamp line and the header before its strike lines")
    name, spot = _spot(lines[1], path)
    asof = _stamp(lines[2], path)
    header = tuple(h.strip() for h in lines[3])
    if header != HEADER:
        missing = [h for h in HEADER if h not in header]
        extra = [h for h in header if h not in HEADER]
        raise CboeFileError(f"{path.name}: line 4: header is not the chain-export layout "
                            f"(missing {missing}, unknown {extra}; expected {', '.join(HEADER)})")
    body = [(i + 5, r) for i, r in enumerate(lines[4:]) if any(c.strip() for c in r)]
    for ln, r in body:
        if len(r) != len(HEADER):
            raise CboeFileError(f"{path.name}: line {ln}: {len(r)} fields, expected {len(HEADER)} "
                                "(a column is missing or extra)")
    trade_date = snapshot_session(asof)
    rows = []
    for ln, r in body:
        try:
            expiry = dt.datetime.strptime(r[0].strip(), "%a %b %d %Y").date()
        except ValueError:
            raise CboeFileError(f"{path.name}: line {ln}: field Expiration Date: {r[0]!r} is not a "
                                "date like 'Mon Feb 07 2022'") from None
        strike = _num(r[11], path, ln, "Strike")
        for right, start in (("C", 1), ("P", 12)):
            vals = dict(zip(_BLOCK, r[start:start + len(_BLOCK)], strict=True))
            try:
                sym = parse_occ(vals["symbol"].strip())
            except OptionSymbolError as exc:
                col = "Calls" if right == "C" else "Puts"
                raise CboeFileError(f"{path.name}: line {ln}: field {col}: {vals['symbol']!r}: {exc}") from None
            if sym.right != right or sym.expiry != expiry or abs(sym.strike - strike) > 1e-6:
                raise CboeFileError(f"{path.name}: line {ln}: {vals['symbol']!r} does not match the line's "
                                    f"expiry {expiry}, strike {strike} and side {right}")
            side = "calls" if right == "C" else "puts"

            def col(f: str, side: str = side) -> str:
                return f"{f} ({side})"

            rows.append({
                "trade_date": trade_date,
                "underlying": sym.underlying,
                "option_symbol": sym.symbol,
                "expiry": expiry,
                "right": right,
                "strike": strike,
                "bid": _num(vals["bid"], path, ln, col("Bid")),
                "ask": _num(vals["ask"], path, ln, col("Ask")),
                "last": _num(vals["last"], path, ln, col("Last Sale")),
                "volume": _num(vals["volume"], path, ln, col("Volume")),
                "open_interest": int(_num(vals["open_interest"], path, ln, col("Open Interest"))),
                "iv": _num(vals["iv"], path, ln, col("IV")),
                "delta": _num(vals["delta"], path, ln, col("Delta")),
                "gamma": _num(vals["gamma"], path, ln, col("Gamma")),
                "theta": np.nan,
                "vega": np.nan,
                "underlying_price": spot,
                "vendor": VENDOR,
            })
    chain = pd.DataFrame(rows, columns=OPTION_CHAIN.column_names)
    chain["open_interest"] = chain["open_interest"].astype("int64")
    return ChainExport(chain=chain, spot=spot, asof=asof, trade_date=trade_date, name=name,
                       source=path.name)


def _num(text: str, path: Path, line: int, fld: str) -> float:
    s = str(text).strip().replace(",", "")
    try:
        return float(s)
    except ValueError:
        raise CboeFileError(f"{path.name}: line {line}: field {fld}: {text!r} is not a number") from None
