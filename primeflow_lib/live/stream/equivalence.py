"""Stream = batch on a tape: replay prints through the incremental scorer and compare its orders
with the daily batch's, cell by cell, accounting for every difference.

The stream promises the batch's orders (every ``flow.flow_events`` column) except where it said it
could not match (a :class:`~primeflow_lib.live.stream.scorer.Divergence`: a cancel of an order it
had committed, a print that arrived behind the frontier). :func:`compare_orders` checks exactly
that: an order both paths built must agree everywhere unless a divergence names it; an order only
the stream built must be named; an order only the batch built must be made of prints of named
orders. ``make check-real`` runs it on the real tapes (``primeflow_lib.real_data_check``).
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.live.stream.scorer import Divergence, Loader, SessionMarket, StreamScorer
from primeflow_lib.schema.flow import FLOW_EVENTS

#: divergences about an order's context, not the order: they account for no order difference
CONTEXT_ONLY = frozenset({"context_bar_missing"})

#: the order columns compared (the id is the key)
ORDER_COLUMNS = [c for c in FLOW_EVENTS.column_names if c != "event_id"]


@dataclass
class Replayed:
    """What a replay through the scorer produced (every step's output, concatenated)."""

    events: pd.DataFrame
    signals: pd.DataFrame
    quarantine: pd.DataFrame
    divergences: list[Divergence]
    steps: int


def replay(prints: pd.DataFrame, day: dt.date, cfg: dict[str, Any], *, chunks: Callable[[], int],
           loader: Loader | None = None, keep_events: bool = True, source: str = "replay") -> Replayed:
    """Feed ``prints`` (received order) to a :class:`StreamScorer` in chunks of ``chunks()``
    prints, advancing after each, then flush.

    Args:
        chunks: the next chunk's size (e.g. a constant, or a seeded random draw: a live feed's
            frames vary).
        loader: the market context (None: none; orders then lack context and the scorer counts
            ``context_bar_missing``).
    """
    sc = StreamScorer(day, cfg, SessionMarket(day, cfg, loader or (lambda _d, _n: {})), source=source,
                      keep_events=keep_events)
    p = prints.reset_index(drop=True)
    out: dict[str, list[pd.DataFrame]] = {"events": [], "signals": [], "quarantine": []}
    divs: list[Divergence] = []
    i = steps = 0
    while True:
        final = i >= len(p)
        if final:
            r = sc.flush()
        else:
            k = max(1, int(chunks()))
            sc.add(p.iloc[i:i + k], np.arange(i, min(i + k, len(p))))
            i += k
            r = sc.advance()
        steps += 1
        out["events"].append(r.events)
        out["signals"].append(r.signals)
        out["quarantine"].append(r.quarantine)
        divs.extend(r.divergences)
        if final:
            break

    def cat(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    return Replayed(cat(out["events"]), cat(out["signals"]), cat(out["quarantine"]), divs, steps)


def comparable(df: pd.DataFrame, key: str, cols: list[str]) -> pd.DataFrame:
    """``cols`` of ``df`` indexed by ``key``, categoricals and strings as text and missing values
    as None, so frames from the two paths compare cell by cell."""
    out = df.set_index(key)[cols].copy()
    for c in cols:
        s = out[c]
        if isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s.dtype):
            out[c] = s.astype(object).where(s.notna(), None)
            out[c] = [None if v is None else str(v) for v in out[c]]
    return out.sort_index()


@dataclass
class OrderComparison:
    """Orders of the batch against the stream's (see module doc).

    Attributes:
        both / batch_only / stream_only: order ids in both, only in one.
        differing: ids in both with a cell that differs (numbers: relative 1e-9).
        columns: differing cells per column.
        reported: ids the stream named in a divergence.
        divergences: divergences by reason.
        unexplained: ids whose difference no divergence accounts for (must be empty).

    A :data:`CONTEXT_ONLY` divergence (an order scored before its minute's bar was read) is
    about context, not the order: it accounts for no difference here.
    """

    both: int = 0
    batch_only: int = 0
    stream_only: int = 0
    differing: int = 0
    columns: dict[str, int] = field(default_factory=dict)
    reported: int = 0
    divergences: dict[str, int] = field(default_factory=dict)
    unexplained: list[str] = field(default_factory=list)


def compare_orders(batch: pd.DataFrame, stream: pd.DataFrame, divergences: list[Divergence]) -> OrderComparison:
    """Compare the batch's orders with the stream's and account for every difference."""
    b_ids = set(batch["event_id"]) if len(batch) else set()
    s_ids = set(stream["event_id"]) if len(stream) else set()
    # named: the orders a divergence names, and on either path the orders holding a print a
    # divergence names (a print that arrived behind the frontier names no order)
    odd = [d for d in divergences if d.reason not in CONTEXT_ONLY]
    reported = {e for d in odd for e in d.event_ids}
    odd_prints = {str(d.print_id) for d in odd if d.print_id is not None}
    if odd_prints:
        for df in (batch, stream):
            if len(df):
                holds = [bool(odd_prints & set(str(ids).split(","))) for ids in df["print_ids"]]
                reported |= set(df.loc[holds, "event_id"])
    both = sorted(b_ids & s_ids)
    cmp = OrderComparison(both=len(both), batch_only=len(b_ids - s_ids), stream_only=len(s_ids - b_ids),
                          reported=len(reported),
                          divergences=dict(collections.Counter(d.reason for d in divergences)))
    differing: set[str] = set()
    if both:
        bb = comparable(batch.drop_duplicates("event_id"), "event_id", ORDER_COLUMNS).loc[both]
        ss = comparable(stream.drop_duplicates("event_id"), "event_id", ORDER_COLUMNS).loc[both]
        diff = (bb != ss) & ~(bb.isna() & ss.isna())
        for c in ORDER_COLUMNS:
            if pd.api.types.is_numeric_dtype(bb[c]) and pd.api.types.is_numeric_dtype(ss[c]):
                x, y = bb[c].to_numpy(np.float64), ss[c].to_numpy(np.float64)
                diff[c] = ~np.isclose(x, y, rtol=1e-9, atol=0, equal_nan=True)
        per_col = diff.sum()
        cmp.columns = {c: int(n) for c, n in per_col.items() if n}
        differing = set(diff.index[diff.any(axis=1)])
    cmp.differing = len(differing)
    # an order only the batch built must consist of prints the stream put in orders it named
    named_prints: set[str] = set()
    if reported and len(stream):
        named = stream[stream["event_id"].isin(reported)]
        named_prints = {x for ids in named["print_ids"].astype(str) for x in ids.split(",") if x}
    b_only = batch[batch["event_id"].isin(b_ids - s_ids)] if len(batch) else batch
    unexplained_b = [e for e, ids in zip(b_only["event_id"], b_only["print_ids"].astype(str), strict=True)
                     if not set(filter(None, ids.split(","))) <= named_prints] if len(b_only) else []
    cmp.unexplained = sorted((differing | (s_ids - b_ids)) - reported) + sorted(unexplained_b)
    return cmp
