"""Databento Binary Encoding (DBN) -> warehouse rows.

Reads DBN streams (``.dbn`` or zstd-compressed ``.dbn.zst``, from a file or an HTTP response
body) with the ``databento`` / ``databento-dbn`` packages and turns their records into rows:

=================  ==================  =========================================================
schema             dataset             rows
=================  ==================  =========================================================
``tcbbo``          ``OPRA.PILLAR``     ``flow.option_prints`` with the consolidated BBO at each
                                       trade (``quote_source`` = ``nbbo``)
``tbbo``           ``OPRA.PILLAR``     ``flow.option_prints`` with the trading venue's own BBO
                                       (``quote_source`` = ``venue_bbo``: side confidence one
                                       level lower, see the classifier)
``trades``         ``OPRA.PILLAR``     ``flow.option_prints`` without a quote (tick rule)
``definition``     ``OPRA.PILLAR``     contracts: OCC symbol, strike, expiry, right, underlying
``statistics``     ``OPRA.PILLAR``     open interest (``stat_type`` 9) -> ``market.option_chain``
``ohlcv-1d/-1m``   equities datasets   ``market.ohlcv_daily`` / ``market.ohlcv_intraday``
=================  ==================  =========================================================

Conventions: prices are fixed-point integers of 1e-9 USD (``price x 1e-9``); timestamps are ns
since the epoch (UTC): ``sip_timestamp`` = ``ts_event`` (the exchange's time of the trade), its
New York wall time ``sip_ts``; ``exchange`` = ``publisher_id`` (dataset + venue, named by
:func:`venue_of`); ``vendor_sequence`` = the record's ``sequence`` (the venue's message sequence
number), kept on every print that has one (``tcbbo`` records are consolidated and carry none); ``conditions`` = the record's ``flags`` bits that are set, e.g.
``"128,64,2"`` (OPRA trades from Databento carry no sale condition; the ``databento`` condition
map reads the flags); ``seq`` = position of the print among the stream's prints of its contract
and day.

**Errors** (:class:`DbnError`, naming the source and what is wrong): not a DBN stream, a
truncated zstd stream, a stream of another schema or dataset than expected, a record whose
instrument has no definition (symbol unknown).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import zstandard

from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.schema.market import OHLCV_DAILY, OHLCV_INTRADAY, OPTION_CHAIN
from primeflow_lib.symbols import OptionSymbolError, parse_occ
from primeflow_lib.vendors.base import VendorDataError
from primeflow_lib.vendors.massive import print_id

VENDOR = "databento"
OPRA = "OPRA.PILLAR"
PRINT_SCHEMAS = ("tcbbo", "tbbo", "trades")
#: quote_source per print schema (None: no quote)
QUOTE_SOURCE = {"tcbbo": "nbbo", "tbbo": "venue_bbo", "trades": None}
PRICE_DIVISOR = 1e9  # fixed-point prices: integer units of 1e-9 USD
STAT_OPEN_INTEREST = 9
UNDEF_PRICE = np.iinfo(np.int64).max
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_FLAG_BITS = (128, 64, 32, 16, 8, 4, 2, 1)


class DbnError(VendorDataError):
    """A DBN stream that cannot be used; the message names the source and the problem."""

    def __init__(self, message: str) -> None:
        super().__init__(message, vendor=VENDOR)


@dataclass
class DbnData:
    """A decoded stream: its ``dataset``, ``schema``, the records as a frame (fixed-point prices,
    integer ns times) and the ``source`` it came from."""

    dataset: str
    schema: str
    records: pd.DataFrame
    source: str


def venue_of(publisher_id: int) -> str:
    """The venue (MIC-style code) of a Databento publisher id, e.g. 23 -> ``EMLD`` (MIAX Emerald)."""
    from databento.common.publishers import Publisher

    try:
        return str(Publisher.from_int(int(publisher_id)).venue)
    except ValueError:
        return f"publisher {publisher_id}"


def decode(data: bytes, source: str, *, schema: str | tuple[str, ...] | None = None,
           dataset: str | None = None) -> DbnData:
    """Decode a DBN stream (zstd or plain) and check its schema and dataset.

    Raises:
        DbnError: truncated zstd, not DBN, or another schema / dataset than asked for.
    """
    import databento as db
    from databento_dbn import DBNError

    if data[:4] == _ZSTD_MAGIC:
        d = zstandard.ZstdDecompressor().decompressobj()
        try:
            plain = d.decompress(data)
        except zstandard.ZstdError as exc:
            raise DbnError(f"{source}: corrupt zstd stream ({exc})") from None
        if not d.eof:
            raise DbnError(f"{source}: truncated zstd stream: the compressed data ends before its "
                           f"frame does ({len(data):,} bytes read); download or copy the file again")
    else:
        plain = data
    try:
        store = db.DBNStore.from_bytes(io.BytesIO(plain))
        got_schema = str(store.schema) if store.schema is not None else ""
        got_dataset = str(store.dataset)
    except (DBNError, ValueError) as exc:
        raise DbnError(f"{source}: not a DBN stream ({exc})") from None
    want = (schema,) if isinstance(schema, str) else schema
    if want is not None and got_schema not in want:
        raise DbnError(f"{source}: field schema: the stream holds {got_schema!r} records, expected "
                       f"{' or '.join(repr(w) for w in want)}")
    if dataset is not None and got_dataset != dataset:
        raise DbnError(f"{source}: field dataset: the stream is from {got_dataset!r}, expected {dataset!r}")
    try:
        arr = store.to_ndarray()
    except (DBNError, ValueError) as exc:
        raise DbnError(f"{source}: cannot decode the records ({exc})") from None
    cols = {}
    for name in arr.dtype.names:
        kind = arr.dtype[name].kind
        if kind == "V":
            continue
        v = arr[name]
        if kind == "S":  # fixed-width C strings (symbols, codes)
            v = np.char.decode(v, "utf-8", errors="replace")
        cols[name] = v
    rec = pd.DataFrame(cols)
    return DbnData(dataset=got_dataset, schema=got_schema, records=rec, source=source)


def read_file(path: str | Path, **kw) -> DbnData:
    """:func:`decode` a ``.dbn`` / ``.dbn.zst`` file."""
    p = Path(path)
    if not p.is_file():
        raise DbnError(f"{p}: no such file")
    return decode(p.read_bytes(), p.name, **kw)


def contracts(defs: DbnData) -> pd.DataFrame:
    """``instrument_id, option_symbol, underlying, expiry, right, strike`` from ``definition``
    records (the latest definition per instrument)."""
    r = defs.records
    if not len(r):
        return pd.DataFrame(columns=["instrument_id", "option_symbol", "underlying", "expiry", "right", "strike"])
    r = r.sort_values("ts_recv" if "ts_recv" in r else "ts_event").drop_duplicates("instrument_id", keep="last")
    out = []
    for _, row in r.iterrows():
        try:
            occ = parse_occ(str(row["raw_symbol"]))
        except OptionSymbolError as exc:
            raise DbnError(f"{defs.source}: instrument {int(row['instrument_id'])}: field raw_symbol: "
                           f"{row['raw_symbol']!r} is not an OCC symbol ({exc})") from None
        und = str(row.get("underlying", "") or "").strip() or occ.underlying
        out.append({"instrument_id": int(row["instrument_id"]), "option_symbol": occ.symbol,
                    "underlying": und, "expiry": occ.expiry, "right": occ.right, "strike": occ.strike})
    return pd.DataFrame(out)


def _wall(ts_ns: np.ndarray) -> pd.Series:
    idx = pd.DatetimeIndex(np.asarray(ts_ns, dtype=np.int64).astype("datetime64[ns]")).tz_localize("UTC")
    return pd.Series(idx.tz_convert("America/New_York").tz_localize(None))


def _flags_text(flags: np.ndarray) -> np.ndarray:
    u, inv = np.unique(flags.astype(np.int64), return_inverse=True)
    txt = np.array([",".join(str(b) for b in _FLAG_BITS if int(v) & b) for v in u], dtype=object)
    return txt[inv.reshape(-1)]


def prints(trades: DbnData, defs: pd.DataFrame) -> pd.DataFrame:
    """``flow.option_prints`` rows from a ``tcbbo`` / ``tbbo`` / ``trades`` stream, with the
    contracts of ``defs`` (:func:`contracts`) naming each instrument."""
    if trades.schema not in PRINT_SCHEMAS:
        raise DbnError(f"{trades.source}: field schema: {trades.schema!r} records are not prints "
                       f"(expected one of {', '.join(PRINT_SCHEMAS)})")
    r = trades.records
    if "action" in r:
        r = r[r["action"] == "T"]
    r = r.reset_index(drop=True)
    n = len(r)
    if n == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in OPTION_PRINTS.column_names})
    by_id = defs.set_index("instrument_id") if len(defs) else pd.DataFrame()
    iid = r["instrument_id"].to_numpy(np.int64)
    unknown = ~np.isin(iid, by_id.index.to_numpy()) if len(by_id) else np.ones(n, bool)
    if unknown.any():
        bad = sorted(set(iid[unknown].tolist()))[:5]
        raise DbnError(f"{trades.source}: field instrument_id: {int(unknown.sum())} record(s) of "
                       f"instrument(s) {bad} have no definition (fetch or pass the definition "
                       "stream of the same day)")
    c = by_id.loc[iid]
    ts = r["ts_event"].to_numpy(np.uint64).astype(np.int64)
    wall = _wall(ts)
    price = r["price"].to_numpy(np.int64) / PRICE_DIVISOR
    size = r["size"].to_numpy(np.int64)
    exch = r["publisher_id"].to_numpy(np.int64)
    # tcbbo records carry no venue sequence number (consolidated): null there
    has_seq = "sequence" in r
    vseq = r["sequence"].to_numpy(np.int64) if has_seq else np.full(n, -1, np.int64)
    cond = _flags_text(r["flags"].to_numpy())
    sym = c["option_symbol"].to_numpy(dtype=object)
    quote = QUOTE_SOURCE[trades.schema]

    def px(col: str) -> np.ndarray:
        if quote is None or col not in r:
            return np.full(n, np.nan)
        v = r[col].to_numpy(np.int64)
        return np.where(v == UNDEF_PRICE, np.nan, v / PRICE_DIVISOR)

    day = wall.dt.date.to_numpy(dtype=object)
    key = pd.Series(sym, dtype=object) + "|" + pd.Series(day).astype(str)
    out = pd.DataFrame({
        "trade_date": day,
        "print_id": [print_id(*r) for r in zip(sym, ts, exch, price, size, cond, vseq, strict=True)],
        "option_symbol": pd.array(sym, dtype="str"),
        "underlying": pd.array(c["underlying"].to_numpy(dtype=object), dtype="str"),
        "sip_ts": wall.to_numpy().astype("datetime64[us]"),
        "sip_timestamp": ts,
        "exchange": exch.astype(np.int32),
        "price": price,
        "size": size,
        "conditions": pd.array(cond, dtype="str"),
        "correction": pd.array([None] * n, dtype="Int32"),
        "bid": px("bid_px_00"),
        "ask": px("ask_px_00"),
        "seq": key.groupby(key.to_numpy()).cumcount().to_numpy(np.int64),
        "vendor": pd.array([VENDOR] * n, dtype="str"),
        "vendor_sequence": pd.array(vseq, dtype="Int64") if has_seq else pd.array([None] * n, dtype="Int64"),
        "quote_source": pd.array([quote] * n, dtype="str"),
    })
    return out[OPTION_PRINTS.column_names]


def open_interest(stats: DbnData) -> pd.DataFrame:
    """``instrument_id, trade_date, open_interest`` from ``statistics`` records (stat_type 9);
    every venue repeats OPRA's figure, so the latest per instrument and day is kept."""
    r = stats.records
    r = r[r["stat_type"] == STAT_OPEN_INTEREST]
    if not len(r):
        return pd.DataFrame(columns=["instrument_id", "trade_date", "open_interest"])
    ts = r["ts_event"].to_numpy(np.uint64).astype(np.int64)
    out = pd.DataFrame({"instrument_id": r["instrument_id"].to_numpy(np.int64),
                        "trade_date": _wall(ts).dt.date.to_numpy(dtype=object),
                        "open_interest": r["quantity"].to_numpy(np.int64), "ts": ts})
    return out.sort_values("ts").drop_duplicates(["instrument_id", "trade_date"], keep="last").drop(columns="ts")


def chain(defs: pd.DataFrame, oi: pd.DataFrame) -> pd.DataFrame:
    """``market.option_chain`` rows: one per contract with open interest (Databento sends no
    quotes, IV or greeks with these schemas: those columns are null)."""
    if not len(oi):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in OPTION_CHAIN.column_names})
    m = oi.merge(defs, on="instrument_id", how="left")
    missing = m["option_symbol"].isna()
    if missing.any():
        bad = sorted(m.loc[missing, "instrument_id"].astype(int).unique().tolist())[:5]
        raise DbnError(f"statistics: field instrument_id: open interest for instrument(s) {bad} "
                       "without a definition")
    nan = np.full(len(m), np.nan)
    out = pd.DataFrame({
        "trade_date": m["trade_date"], "underlying": m["underlying"], "option_symbol": m["option_symbol"],
        "expiry": m["expiry"], "right": m["right"], "strike": m["strike"].astype(float),
        "bid": nan, "ask": nan, "last": nan, "volume": nan,
        "open_interest": m["open_interest"].astype("int64"), "iv": nan, "delta": nan, "gamma": nan,
        "theta": nan, "vega": nan, "underlying_price": nan, "vendor": VENDOR,
    })
    return out[OPTION_CHAIN.column_names]


def bars(ohlcv: DbnData, symbols: dict[int, str]) -> pd.DataFrame:
    """``market.ohlcv_daily`` (``ohlcv-1d``) or ``market.ohlcv_intraday`` (``ohlcv-1m``) rows;
    ``symbols`` maps instrument ids to tickers (the stream's symbology)."""
    if ohlcv.schema not in ("ohlcv-1d", "ohlcv-1m"):
        raise DbnError(f"{ohlcv.source}: field schema: {ohlcv.schema!r} is not ohlcv-1d or ohlcv-1m")
    r = ohlcv.records
    iid = r["instrument_id"].to_numpy(np.int64)
    tick = np.array([symbols.get(int(i)) for i in iid], dtype=object)
    if (tick == None).any():  # noqa: E711 - element-wise
        bad = sorted({int(i) for i in iid[tick == None]})[:5]  # noqa: E711
        raise DbnError(f"{ohlcv.source}: field instrument_id: no symbol for instrument(s) {bad}")
    ts = r["ts_event"].to_numpy(np.uint64).astype(np.int64)
    vals = {k: r[k].to_numpy(np.int64) / PRICE_DIVISOR for k in ("open", "high", "low", "close")}
    if ohlcv.schema == "ohlcv-1d":
        day = pd.Series(ts.astype("datetime64[ns]")).dt.date.to_numpy(dtype=object)  # UTC midnight = the session
        out = pd.DataFrame({"trade_date": day, "ticker": tick, **vals,
                            "volume": r["volume"].to_numpy(np.float64), "vwap": np.nan, "vendor": VENDOR})
        return out[OHLCV_DAILY.column_names]
    wall = _wall(ts)
    out = pd.DataFrame({"trade_date": wall.dt.date.to_numpy(dtype=object), "ts": wall.to_numpy(),
                        "ticker": tick, **vals, "volume": r["volume"].to_numpy(np.float64),
                        "vwap": np.nan, "vendor": VENDOR})
    return out[OHLCV_INTRADAY.column_names]


def symbol_map(data: bytes) -> dict[int, str]:
    """instrument id -> symbol from a DBN stream's metadata mappings (raw_symbol requests)."""
    import databento as db

    plain = zstandard.ZstdDecompressor().decompressobj().decompress(data) if data[:4] == _ZSTD_MAGIC else data
    md = db.DBNStore.from_bytes(io.BytesIO(plain)).metadata
    out: dict[int, str] = {}
    for sym, intervals in (md.mappings or {}).items():
        for iv in intervals:
            try:
                out[int(iv["symbol"])] = str(sym)
            except (KeyError, ValueError):
                continue
    return out
