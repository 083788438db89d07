"""OCC / OSI option symbols.

Accepted forms (all parse to the same :class:`OptionSymbol`):

* compact OSI: ``SPY251219C00650000`` (root 1-6 characters, ``YYMMDD``, ``C``/``P``, strike x 1000
  as 8 digits);
* Massive / Polygon: ``O:SPY251219C00650000``;
* padded OSI (21 characters, root padded with spaces to 6): ``SPY   251219C00650000``;
* adjusted and index roots: ``AMC1``, ``SPXW``, ``BRK.B``-style roots with a dot.

The root is not always the underlying (``SPXW`` -> ``SPX``, ``AMC1`` -> ``AMC`` after a
corporate action). :func:`parse_occ` returns the root; the underlying is taken from the vendor
when it says so, else from :data:`ROOT_TO_UNDERLYING`, else by stripping a trailing adjustment
digit.

The canonical stored form is the compact one without prefix (:func:`format_occ`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

_OCC_RE = re.compile(r"^(?:O:)?([A-Z][A-Z0-9.]{0,5}) *(\d{2})(\d{2})(\d{2})([CP])(\d{8})$")

_OCC_NAMED = (
    r"^(?:O:)?(?P<root>[A-Z][A-Z0-9.]{0,5}) *(?P<yy>\d{2})(?P<mm>\d{2})(?P<dd>\d{2})"
    r"(?P<right>[CP])(?P<k>\d{8})$"
)

#: index and weekly roots whose underlying differs from the root
ROOT_TO_UNDERLYING = {
    "SPXW": "SPX",
    "SPXPM": "SPX",
    "NDXP": "NDX",
    "RUTW": "RUT",
    "VIXW": "VIX",
    "XSPW": "XSP",
    "DJXW": "DJX",
}


class OptionSymbolError(ValueError):
    """A string that is not an OCC/OSI option symbol; the message says why."""


@dataclass(frozen=True)
class OptionSymbol:
    root: str
    underlying: str
    expiry: dt.date
    right: str  # "C" or "P"
    strike: float

    @property
    def symbol(self) -> str:
        return format_occ(self.root, self.expiry, self.right, self.strike)


def underlying_of_root(root: str) -> str:
    """Underlying for an OCC root: the known index roots, else an adjusted root's trailing digit
    stripped (``AMC1`` -> ``AMC``), else the root itself."""
    if root in ROOT_TO_UNDERLYING:
        return ROOT_TO_UNDERLYING[root]
    m = re.fullmatch(r"([A-Z.]+?)\d", root)
    return m.group(1) if m else root


def parse_occ(symbol: str) -> OptionSymbol:
    """Parse one option symbol (see module doc for the accepted forms).

    Raises:
        OptionSymbolError: with the offending string and the reason.
    """
    if not isinstance(symbol, str):
        raise OptionSymbolError(f"option symbol must be a string, got {symbol!r}")
    s = symbol.strip().upper()
    m = _OCC_RE.match(s)
    if not m:
        raise OptionSymbolError(
            f"not an OCC option symbol: {symbol!r} (expected ROOT + YYMMDD + C|P + 8-digit strike x 1000, "
            "optionally prefixed 'O:')"
        )
    root, yy, mm, dd, right, strike8 = m.groups()
    try:
        expiry = dt.date(2000 + int(yy), int(mm), int(dd))
    except ValueError:
        raise OptionSymbolError(
            f"option symbol {symbol!r} has an impossible expiry date 20{yy}-{mm}-{dd}"
        ) from None
    strike = int(strike8) / 1000.0
    if strike <= 0:
        raise OptionSymbolError(f"option symbol {symbol!r} has a zero strike")
    return OptionSymbol(
        root=root, underlying=underlying_of_root(root), expiry=expiry, right=right, strike=strike
    )


def format_occ(root: str, expiry: dt.date, right: str, strike: float) -> str:
    """Canonical compact symbol: ``format_occ("SPY", date(2025,12,19), "C", 650) == "SPY251219C00650000"``."""
    if right not in ("C", "P"):
        raise OptionSymbolError(f"right must be 'C' or 'P', got {right!r}")
    milli = int(round(strike * 1000))
    if not 0 < milli < 100_000_000:
        raise OptionSymbolError(f"strike {strike!r} out of range for an OCC symbol")
    return f"{root}{expiry:%y%m%d}{right}{milli:08d}"


def factorize_occ(symbols: pd.Series) -> tuple[np.ndarray, pd.DataFrame]:
    """Parse each distinct symbol once and return ``(codes, table)``.

    ``table`` has one row per distinct symbol plus a last row for missing symbols, with columns
    ``root, underlying, expiry (date), right, strike, option_symbol (canonical), error``;
    ``codes`` (int64, aligned with ``symbols``) index into it. Cheap for millions of prints:
    only the distinct symbols are parsed (with one vectorised regex, the same rules as
    :func:`parse_occ`; symbols it rejects are re-parsed one by one for the exact error text).
    """
    codes, u = _distinct(symbols)
    f = _occ_fields(u, all_str=_all_str(symbols))
    ok = f["ok"]
    cols = {
        "root": np.where(ok, f["root"], None),
        "underlying": np.full(len(u), None, dtype=object),
        "expiry": np.where(ok, f["expiry"], None),
        "right": np.where(ok, f["right"], None),
        "strike": np.where(ok, f["strike"], np.nan),
        "option_symbol": np.where(ok, f["symbol"], None),
        "error": np.full(len(u), None, dtype=object),
    }
    if ok.any():
        roots, root_codes = np.unique(f["root"][ok], return_inverse=True)
        cols["underlying"][ok] = np.array([underlying_of_root(r) for r in roots], dtype=object)[root_codes]
    for i in np.flatnonzero(~ok):
        try:  # not expected to succeed: gives the precise error message
            p = parse_occ(u[i])
            row = (p.root, p.underlying, p.expiry, p.right, p.strike, p.symbol, None)
        except OptionSymbolError as exc:
            row = (None, None, None, None, np.nan, None, str(exc))
        for c, v in zip(cols, row, strict=True):
            cols[c][i] = v
    missing = (None, None, None, None, np.nan, None, "option symbol is missing")
    table = pd.DataFrame(
        {c: pd.Series(np.append(v, np.array([m], dtype=v.dtype))).infer_objects() for (c, v), m in
         zip(cols.items(), missing, strict=True)}
    )
    codes = np.where(codes < 0, len(table) - 1, codes).astype(np.int64)
    return codes, table


def occ_parse_errors(symbols: pd.Series) -> np.ndarray:
    """True where a symbol is missing or does not parse: the rows whose :func:`factorize_occ`
    ``error`` is set, without building the table (each distinct symbol checked once)."""
    codes, u = _distinct(symbols)
    bad = ~_occ_fields(u, all_str=_all_str(symbols), full=False)["ok"]
    for i in np.flatnonzero(bad):  # the same second opinion factorize_occ asks for
        try:
            parse_occ(u[i])
            bad[i] = False
        except OptionSymbolError:
            pass
    bad = np.append(bad, True)  # missing
    return bad[np.where(codes < 0, len(bad) - 1, codes)]


def _distinct(symbols: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values as an object array); code -1 = missing."""
    from primeflow_lib.arrays import factorize

    codes, uniques = factorize(symbols)
    return codes, np.asarray(uniques, dtype=object)


def _all_str(symbols: pd.Series) -> bool:
    """Whether every non-missing value is a ``str`` (a pandas string column)."""
    return isinstance(getattr(symbols, "dtype", None), pd.StringDtype)


def _occ_fields(u: np.ndarray, *, all_str: bool = False, full: bool = True) -> dict[str, np.ndarray]:
    """The vectorised part of :func:`factorize_occ` (in Arrow): for each distinct value, ``ok``
    (a string the regex and the date / strike rules accept) and, with ``full``, where ok,
    ``root, expiry (date), right, strike, symbol`` (canonical). ``all_str``: the values are
    known to be strings (skips checking each one)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if all_str:
        is_str = np.ones(len(u), dtype=bool)
        arr = pa.array(u, pa.string())
    else:
        is_str = np.fromiter((isinstance(x, str) for x in u), dtype=bool, count=len(u))
        arr = pa.array(np.where(is_str, u, "").astype(str), pa.string())
    arr = pc.utf8_upper(pc.utf8_trim_whitespace(arr))
    m = pc.extract_regex(arr, _OCC_NAMED)
    matched = pc.is_valid(m)
    ok = matched.to_numpy(zero_copy_only=False) & is_str

    def field(name: str, default: str) -> pa.Array:
        return pc.if_else(matched, pc.struct_field(m, name), default)

    root, right, k8 = field("root", ""), field("right", ""), field("k", "00000000")
    yymmdd = pc.binary_join_element_wise(field("yy", "00"), field("mm", "00"), field("dd", "00"), "")
    # few distinct expiries: parse each once
    ymd = pc.dictionary_encode(yymmdd)
    exp = pd.to_datetime(pd.Series(ymd.dictionary.to_numpy(zero_copy_only=False)), format="%y%m%d",
                         errors="coerce")
    ymd_codes = ymd.indices.to_numpy(zero_copy_only=False)
    strike = pc.cast(k8, pa.int64()).to_numpy() / 1000.0
    ok &= exp.notna().to_numpy()[ymd_codes] & (strike > 0)
    if not full:
        return {"ok": ok}
    return {
        "ok": ok,
        "root": root.to_numpy(zero_copy_only=False),
        "expiry": exp.dt.date.to_numpy(dtype=object)[ymd_codes],
        "right": right.to_numpy(zero_copy_only=False),
        "strike": strike,
        "symbol": pc.binary_join_element_wise(root, yymmdd, right, k8, "").to_numpy(zero_copy_only=False),
    }


def parse_occ_series(symbols: pd.Series) -> pd.DataFrame:
    """Vectorised parse of many symbols (parses each distinct symbol once).

    Returns a frame aligned with ``symbols`` with columns ``root, underlying, expiry (date),
    right, strike, option_symbol (canonical), error``; ``error`` is None for good symbols and the
    reason for bad ones (their other columns are null), so callers can quarantine them.
    """
    codes, table = factorize_occ(symbols)
    out = table.iloc[codes].reset_index(drop=True)
    out.index = symbols.index
    return out
