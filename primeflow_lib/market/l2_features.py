"""Level-2 book features per ticker and minute (``market.l2_features``) from Databento records.

:class:`L2MinuteBuilder` takes Databento MBO or MBP-10 records one at a time - the records of a
DBN file (:func:`primeflow_lib.flow.l2book.open_dbn`), of a historical API response or of a live
client, which all hand over the same ``databento_dbn`` record objects - and returns each
minute's row once the minute is complete. :func:`l2_minute_features` runs it over an iterable.

The book
--------
* ``mbo``: the book is rebuilt order by order with :class:`primeflow_lib.flow.l2book.MBOBook`
  (never crossed, out of sync after a sequence gap or an unknown order until a clear and
  snapshot resynchronise it). The records must start with the session (or with a snapshot):
  cancels of orders placed before the first record put the book out of sync.
* ``mbp-10``: each record carries the ten levels per side after its event
  (:func:`primeflow_lib.flow.l2book.mbp10_levels`); a record whose best bid is at or above its
  best ask is an integrity problem like a crossed MBO book (the state is not used).

The book is read after every record flagged ``F_LAST`` (the last record of a venue event).

Minutes
-------
A record belongs to the minute in which Databento **received** it (``ts_recv``; ``ts_event``
when ``ts_recv`` is undefined): everything in a minute's row was known when the minute ended.
A minute is complete when a record (of any instrument of the stream, or a live heartbeat) is
received in a later minute; :meth:`L2MinuteBuilder.flush` completes the open minutes at the end
of a stream. Minutes without records between two records of the same New York day get a row
of their own (``messages`` 0, ``ofi`` 0, the book state carried over): nothing changed. A record
received out of order (an earlier minute than one already complete) is counted in the open
minute (``late_records`` in :attr:`L2MinuteBuilder.stats`): closed minutes never change.

Per minute (columns of ``market.l2_features``):

* ``ofi``: the Cont-Kukanov-Stoikov order-flow imbalance
  (:func:`primeflow_lib.flow.l2book.ofi_event`) of each book event against the previous state,
  summed over the minute, in shares (positive = buying pressure). The first event of a New York
  day and the first event after the book lost sync have no previous state and add nothing;
  ``ofi`` is null for a minute in which the book was out of sync at any time (part of its
  flow is unknown; a resynchronised book's first event has no previous state either).
* ``bid``, ``ask``, ``bid_size``, ``ask_size``, ``spread``, ``mid``: the best quote at the end
  of the minute; ``bid_depth`` / ``ask_depth``: shares on the top ``depth_levels`` levels per
  side; ``depth_imbalance = (bid_depth - ask_depth) / (bid_depth + ask_depth)`` (null when both
  are 0). Null while the book is out of sync (``synced`` false).
* ``book_events`` (events applied in sync), ``messages`` (records), ``book_issues``
  (integrity problems: each cleared the book).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from primeflow_lib.flow.l2book import (
    F_LAST,
    PRICE_SCALE,
    Issue,
    MBOBook,
    depth_sums,
    mbp10_levels,
    ofi_event,
    top_of_book,
)
from primeflow_lib.schema.market import L2_FEATURES

NY = ZoneInfo("America/New_York")
NS_MIN = 60_000_000_000
UNDEF_TIMESTAMP = 2**64 - 1
#: Databento schemas the builder reads (record class -> schema)
BOOK_RECORDS = {"MBOMsg": "mbo", "MBP10Msg": "mbp-10"}
L2_SCHEMAS = tuple(BOOK_RECORDS.values())
#: records that carry no book data: skipped (a heartbeat still moves the clock on)
_CLOCK_ONLY = frozenset({"SystemMsg", "SystemMsgV1", "Metadata"})
_MAPPING = frozenset({"SymbolMappingMsg", "SymbolMappingMsgV1"})
_ERRORS = frozenset({"ErrorMsg", "ErrorMsgV1"})


class L2Error(ValueError):
    """Records the builder cannot use; the message names the record and the problem."""


def _ny_day(minute: int) -> dt.date:
    return dt.datetime.fromtimestamp(minute * 60, NY).date()


def _recv_minute(rec) -> int:
    t = int(getattr(rec, "ts_recv", UNDEF_TIMESTAMP))
    if t >= UNDEF_TIMESTAMP or t <= 0:
        t = int(rec.ts_event)
    return t // NS_MIN


@dataclass
class _Instrument:
    """The running state of one instrument: its book, the last state read and the open minute."""

    ticker: str
    depth: int
    contiguous: bool
    schema: str | None = None
    book: MBOBook | None = None
    state: tuple | None = None  # (top, bid_depth, ask_depth) of the last in-sync event
    prev_top: tuple | None = None
    minute: int | None = None
    day: dt.date | None = None
    messages: int = 0
    events: int = 0
    ofi: float = 0.0
    issues: int = 0
    lost: bool = False  # the book is out of sync now
    gap: bool = False  # the book was out of sync at some time in the open minute

    def reset_minute(self, minute: int) -> None:
        self.minute = minute
        self.messages = self.events = self.issues = 0
        self.ofi = 0.0
        self.gap = self.lost


@dataclass
class L2MinuteBuilder:
    """Minute rows of ``market.l2_features`` from a stream of MBO or MBP-10 records (see the
    module doc). Feed records with :meth:`feed` (returns the rows the record completed), then
    :meth:`flush` at the end.

    Exactly one of ``ticker`` and ``symbols`` names the instruments:

    Args:
        ticker: every book record is of this ticker (one instrument; a second instrument id is
            an :class:`L2Error`).
        symbols: instrument id -> ticker (a DBN file's or response's symbology); extended by
            the ``SymbolMappingMsg`` records a live client sends. A record of an instrument
            without a ticker is an :class:`L2Error`.
        wanted: with ``symbols``: only these tickers get rows; records of the others are
            skipped and counted (``stats["other_instrument_records"]``).
        depth_levels: levels per side summed into the depths (>= 1).
        contiguous: MBO only: every record's sequence must follow the previous one (a full
            channel, as a live feed delivers it); see :class:`MBOBook`.
        vendor, dataset, source: stored with every row (where the records came from).
    """

    ticker: str | None = None
    symbols: Mapping[int, str] | None = None
    wanted: Iterable[str] | None = None
    depth_levels: int = 5
    contiguous: bool = False
    vendor: str = "databento"
    dataset: str = ""
    source: str = ""
    stats: dict[str, int] = field(default_factory=lambda: {
        "records": 0, "book_records": 0, "other_instrument_records": 0, "late_records": 0, "book_issues": 0})
    #: ``(ticker, MBOBook issue)`` for every integrity problem, in order
    issues: list[tuple[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if (self.ticker is None) == (self.symbols is None):
            raise ValueError("L2MinuteBuilder: give exactly one of ticker (a one-instrument stream) or symbols "
                             "(instrument id -> ticker)")
        if int(self.depth_levels) < 1:
            raise ValueError(f"depth_levels must be >= 1, got {self.depth_levels}")
        self._symbols = {int(k): str(v) for k, v in (self.symbols or {}).items()}
        self._wanted = None if self.wanted is None else {str(t) for t in self.wanted}
        self._inst: dict[int, _Instrument] = {}
        self._clock: int | None = None  # the latest minute a record was received in

    # -- records ---------------------------------------------------------------------------------
    def feed(self, rec) -> list[dict[str, Any]]:
        """Apply one record; returns the rows of the minutes it completed (often none)."""
        kind = type(rec).__name__
        self.stats["records"] += 1
        if kind in _MAPPING:
            sym = str(getattr(rec, "stype_in_symbol", "") or getattr(rec, "stype_out_symbol", "")).strip()
            if sym and self.symbols is not None:
                self._symbols[int(rec.instrument_id)] = sym
            return []
        if kind in _ERRORS:
            raise L2Error(f"{self.source or 'L2 stream'}: the gateway sent an error: {getattr(rec, 'err', rec)}")
        if kind in _CLOCK_ONLY:
            ts = int(getattr(rec, "ts_event", 0) or 0)
            return self._advance(ts // NS_MIN) if ts and kind != "Metadata" else []
        schema = BOOK_RECORDS.get(kind)
        if schema is None:
            raise L2Error(f"{self.source or 'L2 stream'}: record {self.stats['records']} is a {kind}: only MBO and "
                          "MBP-10 records build a book (schemas mbo, mbp-10)")
        inst = self._instrument(rec, schema)
        if inst is None:
            return []
        minute = _recv_minute(rec)
        out = self._advance(minute) if self._clock is None or minute > self._clock else []
        if minute < self._clock:
            self.stats["late_records"] += 1
        if inst.minute is None or inst.minute < self._clock:
            out += self._roll(inst, self._clock)
        self.stats["book_records"] += 1
        inst.messages += 1
        self._apply(inst, rec)
        return out

    def feed_many(self, records: Iterable) -> Iterator[dict[str, Any]]:
        """:meth:`feed` every record, then :meth:`flush`; yields the rows in order."""
        for rec in records:
            yield from self.feed(rec)
        yield from self.flush()

    def flush(self) -> list[dict[str, Any]]:
        """Complete every open minute (the end of a file or of the session)."""
        out = []
        for inst in self._inst.values():
            if inst.minute is not None:
                out.append(self._row(inst))
                inst.minute = None
        return out

    # -- internals ---------------------------------------------------------------------------------
    def _instrument(self, rec, schema: str) -> _Instrument | None:
        iid = int(rec.instrument_id)
        inst = self._inst.get(iid)
        if inst is None:
            if self.ticker is not None:
                if self._inst:
                    other = next(iter(self._inst))
                    raise L2Error(f"{self.source or 'L2 stream'}: field instrument_id: records of instruments "
                                  f"{other} and {iid} in a stream given as one ticker ({self.ticker}); pass "
                                  "symbols (instrument id -> ticker) instead")
                ticker = self.ticker
            else:
                ticker = self._symbols.get(iid)
                if ticker is None:
                    raise L2Error(f"{self.source or 'L2 stream'}: field instrument_id: no ticker for instrument "
                                  f"{iid} (not in the stream's symbology)")
                if self._wanted is not None and ticker not in self._wanted:
                    self.stats["other_instrument_records"] += 1
                    return None
            inst = _Instrument(ticker, int(self.depth_levels), self.contiguous)
            self._inst[iid] = inst
        elif self._wanted is not None and inst.ticker not in self._wanted:
            return None
        if inst.schema is None:
            inst.schema = schema
            if schema == "mbo":
                inst.book = MBOBook(contiguous=self.contiguous)
        elif inst.schema != schema:
            raise L2Error(f"{self.source or 'L2 stream'}: field schema: {inst.ticker} has {inst.schema} and "
                          f"{schema} records in one stream")
        return inst

    def _apply(self, inst: _Instrument, rec) -> None:
        flags = int(getattr(rec, "flags", 0))
        if inst.book is not None:
            n_issues = len(inst.book.issues)
            ready = inst.book.apply(rec)
            if len(inst.book.issues) > n_issues:
                for issue in inst.book.issues[n_issues:]:
                    self.issues.append((inst.ticker, issue))
                new = len(inst.book.issues) - n_issues
                inst.issues += new
                self.stats["book_issues"] += new
                inst.state = inst.prev_top = None
            inst.lost = not inst.book.synced
            if inst.lost:
                inst.state = inst.prev_top = None
                inst.gap = True
            if not ready:
                return
            levels = inst.book.levels(inst.depth)
        else:
            if not flags & F_LAST:
                return
            levels = mbp10_levels(rec, inst.depth)
            if levels[0] and levels[1] and levels[0][0][0] >= levels[1][0][0]:
                # the same rule as the MBO book: a crossed or locked top is not a usable state
                issue = Issue(int(getattr(rec, "sequence", 0)), int(rec.ts_event),
                              f"crossed book in an MBP-10 record: best bid {levels[0][0][0] / PRICE_SCALE} >= "
                              f"best ask {levels[1][0][0] / PRICE_SCALE}")
                self.issues.append((inst.ticker, issue))
                inst.issues += 1
                self.stats["book_issues"] += 1
                inst.state = inst.prev_top = None
                inst.lost = inst.gap = True
                return
            inst.lost = False
        top = top_of_book(levels)
        if inst.prev_top is not None:
            inst.ofi += ofi_event(inst.prev_top, top)
        inst.prev_top = top
        inst.events += 1
        inst.state = (top, *depth_sums(levels, inst.depth))

    def _advance(self, minute: int) -> list[dict[str, Any]]:
        """The clock reached ``minute``: complete every instrument's earlier minutes."""
        out: list[dict[str, Any]] = []
        if self._clock is not None and minute <= self._clock:
            return out
        self._clock = minute
        for inst in self._inst.values():
            if inst.minute is not None and inst.minute < minute:
                out += self._roll(inst, minute)
        return out

    def _roll(self, inst: _Instrument, minute: int) -> list[dict[str, Any]]:
        """Close ``inst``'s open minute and the quiet minutes after it (same New York day) up to
        ``minute``, which becomes the open one."""
        out: list[dict[str, Any]] = []
        if inst.minute is not None:
            out.append(self._row(inst))
            day = inst.day
            m = inst.minute + 1
            while m < minute and _ny_day(m) == day:
                inst.reset_minute(m)
                out.append(self._row(inst))
                m += 1
        day = _ny_day(minute)
        if inst.day is not None and day != inst.day:
            inst.prev_top = None  # a new session: no OFI against the previous day's last state
        inst.day = day
        inst.reset_minute(minute)
        return out

    def _row(self, inst: _Instrument) -> dict[str, Any]:
        st = inst.state
        if st is None:
            bp = ap = bq = aq = sb = sa = np.nan
        else:
            (bp, bq, ap, aq), sb, sa = st
        has_b, has_a = np.isfinite(bp), np.isfinite(ap)
        tot = sb + sa
        return {
            "minute": inst.minute, "ticker": inst.ticker,
            "ofi": None if inst.issues or inst.gap else float(inst.ofi),
            "book_events": inst.events, "messages": inst.messages,
            "bid": bp if has_b else None, "ask": ap if has_a else None,
            "bid_size": int(bq) if has_b else None, "ask_size": int(aq) if has_a else None,
            "spread": ap - bp if has_b and has_a else None,
            "mid": (ap + bp) / 2 if has_b and has_a else None,
            "bid_depth": int(sb) if st is not None else None, "ask_depth": int(sa) if st is not None else None,
            "depth_imbalance": (sb - sa) / tot if st is not None and tot > 0 else None,
            "depth_levels": inst.depth, "synced": st is not None, "book_issues": inst.issues,
            "schema": inst.schema, "dataset": self.dataset, "vendor": self.vendor, "source": self.source,
        }  # fmt: skip


def rows_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """``market.l2_features`` rows (declared columns and order) from builder rows, sorted by
    ticker and minute: ``ts`` the minute's start as New York wall time, ``trade_date`` its date."""
    df = pd.DataFrame(list(rows))
    if df.empty:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in L2_FEATURES.column_names})
    utc = pd.to_datetime(df.pop("minute").to_numpy(np.int64) * NS_MIN, utc=True)
    wall = utc.tz_convert(NY).tz_localize(None)
    df["ts"] = wall
    df["trade_date"] = wall.date
    for c in ("bid_size", "ask_size", "bid_depth", "ask_depth"):
        df[c] = pd.array(df[c], dtype="Int64")
    for c in ("ofi", "bid", "ask", "spread", "mid", "depth_imbalance"):
        df[c] = pd.to_numeric(df[c], errors="raise").astype(np.float64)
    df = df.sort_values(["ticker", "ts"], kind="stable").reset_index(drop=True)
    return df[L2_FEATURES.column_names]


def l2_minute_features(records: Iterable, **builder: Any) -> tuple[pd.DataFrame, L2MinuteBuilder]:
    """Every minute's ``market.l2_features`` row of ``records`` (MBO or MBP-10 records of a file,
    an API response or a live client) and the builder (its ``stats`` and ``issues``).
    ``builder``: the :class:`L2MinuteBuilder` arguments (``ticker`` or ``symbols``, ...)."""
    b = L2MinuteBuilder(**builder)
    return rows_frame(b.feed_many(records)), b
