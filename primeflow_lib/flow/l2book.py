"""Level-2 order books from Databento MBO and MBP-10 equity data, and order-flow features.

Records are read with the ``databento-dbn`` package (:func:`read_dbn`: a ``.dbn`` or ``.dbn.zst``
file, or any iterable of records - a live feed hands its records to the same :class:`MBOBook`).
Prices are Databento fixed-point integers (1 unit = 1e-9 USD); the book keeps them as integers
and converts to USD only in its outputs.

MBO (market by order)
---------------------
Actions (Databento's order-tracking rules): ``A`` add an order, ``C`` cancel ``size`` of it
(removed at 0), ``M`` modify its price and/or size (a new price loses queue priority), ``R``
clear the book; ``T`` trade, ``F`` fill and ``N`` none do not change the book (every fill is
followed by the cancel that does). The book is examined only after a record flagged ``F_LAST``
(the last record of a venue event).

Integrity (never a silently wrong book):

* **crossed**: after an event (``F_LAST``) the best bid must be below the best ask; a crossed
  book is out of sync;
* **sequence gaps**: ``sequence`` must increase; with ``contiguous=True`` (a full channel, as a
  live feed delivers it) every record must be the previous one + 1. Instrument-filtered files
  skip the venue's other messages, so only a sequence that goes backwards counts there;
* **unknown order ids** (cancel/modify of an order the book never saw) mean missed messages.

Any of these marks the book **out of sync**: it is cleared, :attr:`MBOBook.issues` records why
(sequence, time, reason), and records are ignored until a resynchronisation - a clear (``R``)
followed by snapshot records (``F_SNAPSHOT``), Databento's MBO snapshot convention - or a
:meth:`MBOBook.restore` from a snapshot. ``strict=True`` raises :class:`BookError` instead.

Snapshots: :meth:`MBOBook.snapshot` is the full state (orders in queue order and the last
sequence); restoring it and replaying the later records gives the same book as replaying
everything (the property the tests check against the MBP-10 file of the same session).

Features (:func:`book_features`)
--------------------------------
* ``spread`` = ask_1 - bid_1 (USD); ``mid``; ``microprice`` = (bid_1 * ask_sz_1 + ask_1 *
  bid_sz_1) / (bid_sz_1 + ask_sz_1);
* ``depth_imbalance_k`` = (sum bid sizes - sum ask sizes) / both over the top ``k`` levels, in
  [-1, 1];
* ``ofi``: order-flow imbalance of Cont, Kukanov and Stoikov (2014), per event
  ``e_n = 1{Pb_n >= Pb_n-1} qb_n - 1{Pb_n <= Pb_n-1} qb_n-1 - 1{Pa_n <= Pa_n-1} qa_n
  + 1{Pa_n >= Pa_n-1} qa_n-1`` from the best bid/ask prices ``P`` and sizes ``q`` before and
  after the event (shares; positive = buying pressure), summed per interval by
  :func:`ofi_by_interval`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

PRICE_SCALE = 1_000_000_000
UNDEF_PRICE = 9_223_372_036_854_775_807
F_LAST = 128
F_SNAPSHOT = 32


class BookError(ValueError):
    """A book that cannot be trusted (strict mode), naming the record's sequence and reason."""


def _code(x) -> str:
    """An action or side as its one-letter code (dbn enums or plain strings)."""
    return x if isinstance(x, str) else str(x.value)


def read_dbn(path: str | os.PathLike) -> tuple[object, list]:
    """``(metadata, records)`` of a DBN file (zstd-compressed when its name ends in ``.zst``)."""
    import databento_dbn as dbn

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"DBN file not found: {p}")
    comp = dbn.Compression.ZSTD if p.suffix == ".zst" else dbn.Compression.NONE
    dec = dbn.DBNDecoder(compression=comp)
    dec.write(p.read_bytes())
    try:
        recs = dec.decode()
    except Exception as exc:  # databento_dbn raises its own error types
        raise ValueError(f"{p}: not a readable DBN file: {exc}") from None
    meta = recs[0] if recs and type(recs[0]).__name__ == "Metadata" else None
    return meta, [r for r in recs if r is not meta]


@dataclass
class Issue:
    sequence: int
    ts_event: int
    reason: str


@dataclass
class MBOBook:
    """A market-by-order book of one instrument (see the module docstring)."""

    contiguous: bool = False
    strict: bool = False
    orders: dict[int, tuple[str, int, int]] = field(default_factory=dict)  # id -> side, price, size
    bids: dict[int, int] = field(default_factory=dict)  # price -> total size
    asks: dict[int, int] = field(default_factory=dict)
    queue: dict[int, list[int]] = field(default_factory=dict)  # price*side -> order ids in priority
    last_sequence: int | None = None
    synced: bool = True
    in_snapshot: bool = False
    issues: list[Issue] = field(default_factory=list)
    events: int = 0
    _bb: int | None = None  # cached best bid / ask (None = recompute)
    _ba: int | None = None

    # --- state ----------------------------------------------------------------------------------

    def _level(self, side: str) -> dict[int, int]:
        return self.bids if side == "B" else self.asks

    def _add(self, oid: int, side: str, price: int, size: int) -> None:
        self.orders[oid] = (side, price, size)
        lv = self._level(side)
        lv[price] = lv.get(price, 0) + size
        self.queue.setdefault((side, price), []).append(oid)
        if side == "B":
            if self._bb is not None and price > self._bb:
                self._bb = price
        elif self._ba is not None and price < self._ba:
            self._ba = price

    def _remove(self, oid: int, size: int | None = None) -> None:
        side, price, cur = self.orders[oid]
        take = cur if size is None else min(size, cur)
        lv = self._level(side)
        lv[price] -= take
        if lv[price] <= 0:
            del lv[price]
            if side == "B" and price == self._bb:
                self._bb = None
            elif side == "A" and price == self._ba:
                self._ba = None
        if take >= cur:
            del self.orders[oid]
            q = self.queue[(side, price)]
            q.remove(oid)
            if not q:
                del self.queue[(side, price)]
        else:
            self.orders[oid] = (side, price, cur - take)

    def clear(self) -> None:
        self._bb = self._ba = None
        self.orders.clear()
        self.bids.clear()
        self.asks.clear()
        self.queue.clear()

    # --- integrity ---------------------------------------------------------------------------------

    def _desync(self, rec, reason: str) -> None:
        seq, ts = int(getattr(rec, "sequence", 0)), int(getattr(rec, "ts_event", 0))
        if self.strict:
            raise BookError(f"sequence {seq}: {reason}")
        self.issues.append(Issue(seq, ts, reason))
        self.clear()
        self.synced = False

    def best_bid(self) -> int | None:
        if self._bb is None and self.bids:
            self._bb = max(self.bids)
        return self._bb if self.bids else None

    def best_ask(self) -> int | None:
        if self._ba is None and self.asks:
            self._ba = min(self.asks)
        return self._ba if self.asks else None

    def crossed(self) -> bool:
        b, a = self.best_bid(), self.best_ask()
        return b is not None and a is not None and b >= a

    # --- records ---------------------------------------------------------------------------------

    def apply(self, rec) -> bool:
        """Apply one MBO record; returns True when the book is in sync and complete after it
        (an ``F_LAST`` record): the moments to read the book."""
        seq = int(getattr(rec, "sequence", 0))
        flags = int(getattr(rec, "flags", 0))
        action = _code(rec.action)
        snapshot = bool(flags & F_SNAPSHOT)
        if not snapshot and self.last_sequence is not None and seq:
            if seq <= self.last_sequence and action != "R":
                self._desync(rec, f"sequence went from {self.last_sequence} to {seq} (replayed or out of order)")
            elif self.contiguous and seq != self.last_sequence + 1:
                self._desync(rec, f"sequence gap: {self.last_sequence} -> {seq} ({seq - self.last_sequence - 1} missed)")
        if seq and not snapshot:
            self.last_sequence = seq
        if action == "R":
            self.clear()
            self.in_snapshot = snapshot
            if snapshot or not self.synced:
                self.synced = True  # a clear starts a fresh book: resynchronised
            return self._done(rec, flags)
        if not self.synced:
            return False
        oid, side = int(rec.order_id), _code(rec.side)
        price, size = int(rec.price), int(rec.size)
        if action == "A":
            if oid in self.orders:
                self._desync(rec, f"add of order {oid} that is already in the book")
                return False
            if side not in ("B", "A") or price == UNDEF_PRICE:
                self._desync(rec, f"add of order {oid} with side {side!r} / undefined price")
                return False
            self._add(oid, side, price, size)
        elif action == "C":
            if oid not in self.orders:
                self._desync(rec, f"cancel of unknown order {oid}")
                return False
            self._remove(oid, size)
        elif action == "M":
            if oid not in self.orders:
                self._desync(rec, f"modify of unknown order {oid}")
                return False
            o_side, o_price, o_size = self.orders[oid]
            if price == o_price and size <= o_size:
                if size < o_size:  # a smaller size at the same price keeps queue priority
                    self._remove(oid, o_size - size)
            else:
                self._remove(oid)
                self._add(oid, o_side, price, size)
        return self._done(rec, flags)

    def _done(self, rec, flags: int) -> bool:
        if not flags & F_LAST:
            return False
        if self.in_snapshot and not flags & F_SNAPSHOT:
            self.in_snapshot = False
        self.events += 1
        if self.synced and self.crossed():
            self._desync(rec, f"crossed book: best bid {self.best_bid() / PRICE_SCALE} >= best ask "
                              f"{self.best_ask() / PRICE_SCALE}")
            return False
        return self.synced

    # --- views -----------------------------------------------------------------------------------

    def levels(self, depth: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Top ``depth`` ``(price, size)`` levels: bids best first, asks best first."""
        b = sorted(self.bids.items(), key=lambda kv: -kv[0])[:depth]
        a = sorted(self.asks.items(), key=lambda kv: kv[0])[:depth]
        return b, a

    def snapshot(self) -> dict:
        """The full state: orders in queue-priority order per level, and the last sequence."""
        rows = []
        for (side, price), ids in self.queue.items():
            for oid in ids:
                rows.append((oid, side, price, self.orders[oid][2]))
        return {"orders": rows, "last_sequence": self.last_sequence}

    @classmethod
    def restore(cls, snap: dict, contiguous: bool = False, strict: bool = False) -> MBOBook:
        book = cls(contiguous=contiguous, strict=strict)
        for oid, side, price, size in snap["orders"]:
            book._add(int(oid), side, int(price), int(size))
        book.last_sequence = snap["last_sequence"]
        return book


def mbp10_levels(rec, depth: int = 10) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The ``(price, size)`` levels an MBP-10 record carries (undefined levels left out)."""
    bids, asks = [], []
    for lv in rec.levels[:depth]:
        if lv.bid_px != UNDEF_PRICE and lv.bid_sz > 0:
            bids.append((int(lv.bid_px), int(lv.bid_sz)))
        if lv.ask_px != UNDEF_PRICE and lv.ask_sz > 0:
            asks.append((int(lv.ask_px), int(lv.ask_sz)))
    return bids, asks


def replay(records: Iterable, book: MBOBook | None = None, depth: int = 10) -> Iterator[tuple[object, tuple]]:
    """Apply MBO records and yield ``(record, levels)`` after every complete, in-sync event.
    Works the same on a file's records and on a live feed's iterator."""
    book = book or MBOBook()
    for rec in records:
        if book.apply(rec):
            yield rec, book.levels(depth)


def _top(levels) -> tuple[float, float, float, float]:
    bids, asks = levels
    bp, bq = (bids[0][0] / PRICE_SCALE, float(bids[0][1])) if bids else (np.nan, 0.0)
    ap, aq = (asks[0][0] / PRICE_SCALE, float(asks[0][1])) if asks else (np.nan, 0.0)
    return bp, bq, ap, aq


def ofi_event(prev, cur) -> float:
    """One event's order-flow imbalance (Cont, Kukanov and Stoikov; module docstring) from the
    best ``(bid price, bid size, ask price, ask size)`` before and after it."""
    pb0, qb0, pa0, qa0 = prev
    pb1, qb1, pa1, qa1 = cur
    e = 0.0
    if np.isfinite(pb0) and np.isfinite(pb1):
        e += (qb1 if pb1 >= pb0 else 0.0) - (qb0 if pb1 <= pb0 else 0.0)
    if np.isfinite(pa0) and np.isfinite(pa1):
        e += -(qa1 if pa1 <= pa0 else 0.0) + (qa0 if pa1 >= pa0 else 0.0)
    return e


def book_features(snapshots: Iterable[tuple[int, tuple]], k: int = 5) -> pd.DataFrame:
    """Per book state ``(ts_event ns, levels)``: ``ts, bid, ask, spread, mid, microprice,
    depth_imbalance_k, ofi`` (see the module docstring)."""
    rows, prev = [], None
    for ts, levels in snapshots:
        top = _top(levels)
        bp, bq, ap, aq = top
        bids, asks = levels
        sb = float(sum(s for _, s in bids[:k]))
        sa = float(sum(s for _, s in asks[:k]))
        micro = (bp * aq + ap * bq) / (bq + aq) if bq + aq > 0 and np.isfinite(bp) and np.isfinite(ap) else np.nan
        rows.append({
            "ts": pd.Timestamp(int(ts), unit="ns", tz="UTC"), "bid": bp, "ask": ap, "spread": ap - bp,
            "mid": (ap + bp) / 2, "microprice": micro,
            f"depth_imbalance_{k}": (sb - sa) / (sb + sa) if sb + sa > 0 else 0.0,
            "ofi": ofi_event(prev, top) if prev is not None else 0.0,
        })  # fmt: skip
        prev = top
    return pd.DataFrame(rows)


def ofi_by_interval(features: pd.DataFrame, freq: str = "1min") -> pd.DataFrame:
    """OFI summed per interval and the last depth imbalance and spread of each (bar start,
    UTC), ready to join to bars."""
    f = features.set_index("ts")
    imb = [c for c in f.columns if c.startswith("depth_imbalance_")]
    agg = {"ofi": "sum", "spread": "last", **{c: "last" for c in imb}}
    return f.resample(freq, label="left", closed="left").agg(agg).dropna(how="all")
