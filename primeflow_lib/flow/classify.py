"""Prints -> orders: turn validated option prints into ``flow.flow_events`` rows.

The rules, in the order they are applied (per contract and session):

1. **Received order and late prints.** Prints are put in received order (``seq``, then row
   order). A print is **late** when it carries 202/204/206/208 *or* its ``sip_timestamp`` is
   earlier than a print of the same contract received before it (out of sequence). Late prints
   count toward volume but are always their own event with ``is_late = true`` and never trigger a
   signal.
2. **Time order.** Within a contract, prints are then ordered by ``sip_timestamp`` (ties keep the
   received order). Everything below works in this order.
3. **Compression** prints (247) are dropped and counted (``compression_dropped``).
4. **Cancels.** A print with a cancel condition (201/203/205/207) or a non-zero ``correction``
   is a cancel message. It removes the **nearest earlier** (in time order; at an equal timestamp
   the one received earlier) not-yet-cancelled regular print of the same contract with the same
   price and size; both are dropped and counted (``cancels``, ``cancelled_prints``). A cancel with
   no such print is dropped and goes to quarantine with reason "cancel with no matching earlier
   print" (``cancels_unmatched``): nothing vanishes silently.
5. **Side** per print from its NBBO (:mod:`primeflow_lib.flow.side`), tick rule when the quote is
   missing or crossed/locked (confidence ``low``).
6. **Orders.** Consecutive kept prints of the same contract form one order while every print is
   within ``flow.sweep_window_ms`` of the order's **first** print, has the same direction class
   (buy: above_ask/ask/to_ask, neutral: mid, sell: to_bid/bid/below_bid) and the same print class
   (regular, multi-leg, stock-option). Late prints and negotiated prints (227, 229, 231) are always
   orders of their own.
7. **Event type.**
   ``multileg`` (any of 232-236, 238, 239, 246) and ``stock_option`` (237, 240-245) are
   non-directional; otherwise 2+ prints on 2+ exchanges = ``sweep`` (219 is recorded as
   ``has_iso``), 2+ prints on one exchange = ``split``, one print >= ``flow.block_min_size``
   contracts or >= ``flow.block_min_premium`` USD or with 227-231 = ``block``, else ``single``.
8. **Event side** = the label of the size-weighted mean of its prints' side codes (rounded; all
   prints of an order share a direction class), confidence = the lowest of its prints.
   **Sentiment**: calls bought (buy side) or puts sold (sell side) = ``bullish``; puts bought or
   calls sold = ``bearish``; mid or non-directional = ``neutral``.
9. **Day volume so far** = contracts of the contract traded this session up to and including the
   order, counted in *received* order (so a late print counts from the moment it arrived, never
   before), plus ``prior_volume`` from earlier micro-batches of the session.

``event_id`` = 16 hex digits of a hash of (session, contract, first print_id, last print_id,
number of prints): stable across re-runs of the same batch.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import pandas as pd

from primeflow_lib.arrays import (
    categorical,
    factorize,
    hash_strings,
    hex_strings,
    join_segments,
    mix,
    stable_argsort,
)
from primeflow_lib.flow import conditions as C
from primeflow_lib.flow.side import CONFIDENCE_LABELS, MID, SIDE_LABELS, quote_side
from primeflow_lib.schema.flow import FLOW_EVENTS

EVENT_TYPES = ("sweep", "split", "block", "single", "multileg", "stock_option")
SENTIMENTS = ("bearish", "neutral", "bullish")  # index = sentiment + 1


@dataclass
class Classified:
    """Output of :func:`classify_prints`: event rows (without market context), the rows it
    rejected as ``(row indices of good, field, reason)`` (turn them into quarantine rows with
    :func:`primeflow_lib.schema.quarantine.quarantine_rows`) and counts."""

    events: pd.DataFrame
    quarantine_rows: list[tuple[np.ndarray, str, str]] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------- kernels
@numba.njit(cache=True)
def _late_and_time_order(ckey, ts):  # pragma: no cover - compiled
    """Input in received order. Returns (late_by_ts, perm) where perm sorts each contract's block
    by ts (stable), leaving blocks in place."""
    n = ckey.shape[0]
    late = np.zeros(n, np.bool_)
    perm = np.arange(n)
    i = 0
    while i < n:
        j = i
        run_max = ts[i]
        sorted_ok = True
        j = i + 1
        while j < n and ckey[j] == ckey[i]:
            if ts[j] < run_max:
                late[j] = True
                sorted_ok = False
            else:
                run_max = ts[j]
            j += 1
        if not sorted_ok:
            local = stable_argsort(ts[i:j])
            for k in range(j - i):
                perm[i + k] = i + local[k]
        i = j
    return late, perm


@numba.njit(cache=True)
def _duplicates(ck, t, exch, price, size, cond):  # pragma: no cover - compiled
    """Time order. Marks prints equal to an earlier print of the same run of equal (contract,
    timestamp) on exchange, price, size and condition code."""
    n = ck.shape[0]
    dup = np.zeros(n, np.bool_)
    i = 0
    while i < n:
        j = i + 1
        while j < n and ck[j] == ck[i] and t[j] == t[i]:
            j += 1
        if j - i > 1:
            for a in range(i + 1, j):
                for b in range(i, a):
                    if (
                        not dup[b]
                        and exch[a] == exch[b]
                        and price[a] == price[b]
                        and size[a] == size[b]
                        and cond[a] == cond[b]
                    ):
                        dup[a] = True
                        break
        i = j
    return dup


@numba.njit(cache=True)
def _match_cancels(key_run, is_cancel):  # pragma: no cover - compiled
    """Candidates sorted by (exact key, time). Per key run, a stack of live regular prints; a
    cancel pops the nearest earlier one. Returns (removed, unmatched)."""
    n = key_run.shape[0]
    removed = np.zeros(n, np.bool_)
    unmatched = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int64)
    top = 0
    for i in range(n):
        if i == 0 or key_run[i] != key_run[i - 1]:
            top = 0
        if is_cancel[i]:
            removed[i] = True
            if top > 0:
                top -= 1
                removed[stack[top]] = True
            else:
                unmatched[i] = True
        else:
            stack[top] = i
            top += 1
    return removed, unmatched


@numba.njit(cache=True)
def _tick_and_group(ckey, ts, price, code, late, pclass, negotiated, window_ns):  # pragma: no cover
    """Kept prints in time order. Fills tick-rule codes where code < 0 and assigns event starts."""
    n = ckey.shape[0]
    out = code.copy()
    start = np.zeros(n, np.bool_)
    last_dir = 0
    first_ts = ts[0] if n else 0
    prev_dir = 0
    for i in range(n):
        new_contract = i == 0 or ckey[i] != ckey[i - 1]
        if new_contract:
            last_dir = 0
        if out[i] < 0:
            if new_contract:
                d = 0
            elif price[i] > price[i - 1]:
                d = 1
            elif price[i] < price[i - 1]:
                d = -1
            else:
                d = last_dir
            out[i] = 2 if d > 0 else (4 if d < 0 else 3)
            last_dir = d
        else:
            if not new_contract:
                if price[i] > price[i - 1]:
                    last_dir = 1
                elif price[i] < price[i - 1]:
                    last_dir = -1
        c = out[i]
        dr = 1 if c < 3 else (-1 if c > 3 else 0)
        if (
            new_contract
            or late[i]
            or late[i - 1]
            or negotiated[i]
            or negotiated[i - 1]
            or pclass[i] != pclass[i - 1]
            or dr != prev_dir
            or ts[i] - first_ts > window_ns
        ):
            start[i] = True
            first_ts = ts[i]
        prev_dir = dr
    return out, start


# --------------------------------------------------------------------------------------- helpers
def hex64(h: np.ndarray) -> np.ndarray:
    """uint64 array -> object array of 16-character hex strings (for small arrays)."""
    return hex_strings(h).to_numpy(dtype=object)


def hash_ids(good: pd.DataFrame, ccode: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Stand-in print ids (16 hex digits) for batches without ``print_id``: a hash of the
    contract, sip_timestamp, exchange, price, size and seq; kept where a print_id exists."""
    h = mix(
        ccode.astype(np.uint64),
        good["sip_timestamp"].to_numpy(np.int64).view(np.uint64),
        pd.to_numeric(good["exchange"]).to_numpy(np.int64).view(np.uint64),
        good["price"].to_numpy(np.float64).view(np.uint64),
        pd.to_numeric(good["size"]).to_numpy(np.float64).view(np.uint64),
        seq.astype(np.int64).view(np.uint64),
    )
    synth = hex64(h)
    if "print_id" not in good:
        return synth
    given = good["print_id"].to_numpy(dtype=object)
    return np.where(pd.isna(given), synth, given)


def _values_at(s: pd.Series | None, rows: np.ndarray) -> np.ndarray:
    if s is None:
        return np.full(len(rows), None, dtype=object)
    return s.iloc[rows].to_numpy(dtype=object)


def to_ns(s: pd.Series) -> np.ndarray:
    """Naive datetimes (any unit) -> int64 ns; NaT -> INT64 min."""
    if not pd.api.types.is_datetime64_any_dtype(s.dtype):
        s = pd.to_datetime(s, errors="coerce")
    if getattr(s.dt, "tz", None) is not None:
        s = s.dt.tz_localize(None)
    return s.astype("datetime64[ns]").to_numpy().view(np.int64)


def sip_wall_ns(sip_timestamp: np.ndarray) -> np.ndarray:
    """UTC ns since the epoch -> America/New_York wall time as naive ns (vectorised)."""
    idx = pd.DatetimeIndex(sip_timestamp.astype("datetime64[ns]")).tz_localize("UTC")
    return idx.tz_convert("America/New_York").tz_localize(None).asi8


def _dates(s: pd.Series) -> tuple[np.ndarray, list[dt.date]]:
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    vals = [pd.Timestamp(u).date() for u in uniques]
    return codes.astype(np.int64), vals


# ------------------------------------------------------------------------------------ main entry
def classify_prints(
    good: pd.DataFrame,
    contracts: pd.DataFrame,
    flow_cfg: dict[str, Any],
    *,
    conditions: np.ndarray | None = None,
    prior_volume: pd.DataFrame | None = None,
) -> Classified:
    """Group validated prints into orders (see module doc for every rule).

    Args:
        good: ``ValidatedPrints.good`` (``flow.option_prints`` columns + ``row_number`` +
            ``contract_code``).
        contracts: ``ValidatedPrints.contracts``.
        conditions: ``ValidatedPrints.conditions`` (with ``good.condition_code``); when omitted
            the ``conditions`` column is parsed here.
        flow_cfg: the ``flow`` config section (``sweep_window_ms``, ``block_min_size``,
            ``block_min_premium``, ``mid_band``).
        prior_volume: optional frame ``trade_date, option_symbol, volume`` of contracts already
            traded this session in earlier micro-batches (added to ``day_volume``).

    Returns:
        :class:`Classified` with one row per order (no market context yet).
    """
    n = len(good)
    counts: dict[str, Any] = {
        "prints_in": n,
        "duplicates": 0,
        "compression_dropped": 0,
        "cancels": 0,
        "cancelled_prints": 0,
        "cancels_unmatched": 0,
        "late_prints": 0,
        "late_by_timestamp": 0,
        "no_quote_prints": 0,
        "crossed_quote_prints": 0,
        "unknown_condition_prints": 0,
        "extended_hours_prints": 0,
    }
    if n == 0:
        return Classified(events=empty_events(), counts=counts)

    _t0 = [time.perf_counter()]
    timings: dict[str, float] = {}

    def _tick(name: str) -> None:
        now = time.perf_counter()
        timings[name] = round(now - _t0[0], 4)
        _t0[0] = now

    date_code, dates = _dates(good["trade_date"])
    ccode = good["contract_code"].to_numpy(np.int64)
    ncon = int(ccode.max()) + 1
    ckey = date_code * ncon + ccode
    ts = good["sip_timestamp"].to_numpy(np.int64)
    rown = good["row_number"].to_numpy(np.int64)
    if "seq" in good:
        seq = pd.to_numeric(good["seq"], errors="coerce").to_numpy(np.float64, na_value=np.nan)
        seq = np.where(np.isfinite(seq), seq, rown).astype(np.int64)
    else:
        seq = rown

    _tick("setup")
    # 1. received order (ckey, seq, row)
    order = _received_order(ckey, seq, rown)
    ck_r = ckey[order]
    late_ts, perm = _late_and_time_order(ck_r, ts[order])
    late_ts_by_row = np.empty(n, np.bool_)
    late_ts_by_row[order] = late_ts
    tord = order[perm]  # row indices in time order

    _tick("late_perm")
    # gather in time order
    ck = ckey[tord]
    t = ts[tord]
    price = good["price"].to_numpy(np.float64)[tord]
    size = good["size"].to_numpy(np.float64).astype(np.int64)[tord]
    exch = pd.to_numeric(good["exchange"]).to_numpy(np.int64)[tord]
    if conditions is not None and "condition_code" in good:
        ccond = good["condition_code"].to_numpy(np.int64)
        ftab = np.fromiter((C.flags_of(x) for x in conditions), np.uint16, len(conditions))
        cond_text = np.asarray(conditions, dtype=object)
    else:
        ccond, cond_text = factorize(good.get("conditions"), n)
        cond_text = np.append(cond_text, "")
        ccond = np.where(ccond < 0, len(cond_text) - 1, ccond)
        ftab = np.fromiter((C.flags_of(x) for x in cond_text), np.uint16, len(cond_text))
    ccond = ccond[tord]
    flags = ftab[ccond]
    if "correction" in good:
        corr = pd.to_numeric(good["correction"], errors="coerce").to_numpy(np.float64, na_value=0)
        flags = np.where(np.nan_to_num(corr[tord]) != 0, flags | C.F_CANCEL, flags).astype(
            np.uint16
        )

    def col(name: str) -> np.ndarray:
        if name not in good:
            return np.full(n, np.nan)
        return pd.to_numeric(good[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)[
            tord
        ]

    bid, ask = col("bid"), col("ask")
    is_cancel = (flags & C.F_CANCEL) != 0
    is_comp = ((flags & C.F_COMPRESSION) != 0) & ~is_cancel
    late = ((flags & C.F_LATE) != 0) | late_ts_by_row[tord]

    _tick("gather")
    # duplicates (cross-row rule): the first received copy is kept
    qrows: list[tuple[np.ndarray, str, str]] = []  # (row indices of good, field, reason)
    dup = _duplicates(ck, t, exch, price, size, ccond)
    counts["duplicates"] = int(dup.sum())
    if dup.any():
        qrows.append(
            (
                tord[np.flatnonzero(dup)],
                "print_id",
                "duplicate print: same contract, sip_timestamp, exchange, price, size and "
                "conditions as an earlier row (the first is kept)",
            )
        )

    # 4. cancels: candidates share (contract, price, size) with some cancel
    is_comp &= ~dup  # a duplicate is quarantined, not counted again
    alive = ~is_comp & ~dup
    is_cancel &= ~dup
    if is_cancel.any():
        has_cancel = np.zeros(int(ck.max()) + 1, np.bool_)
        has_cancel[ck[is_cancel]] = True
        in_c = np.flatnonzero(has_cancel[ck] & alive)
        pkey = np.round(price[in_c] * 10000).astype(np.int64)
        kh = mix(ck[in_c].view(np.uint64), pkey.view(np.uint64), size[in_c].view(np.uint64))
        sel = pd.Series(kh).isin(pd.unique(kh[is_cancel[in_c]])).to_numpy()
        cand = in_c[sel]
        pk_c = pkey[sel]
        sub = np.lexsort((np.arange(len(cand)), t[cand], size[cand], pk_c, ck[cand]))
        ci = cand[sub]
        pk_ci = pk_c[sub]
        krun = np.zeros(len(ci), np.int64)
        if len(ci) > 1:
            chg = (np.diff(ck[ci]) != 0) | (np.diff(pk_ci) != 0) | (np.diff(size[ci]) != 0)
            krun[1:] = np.cumsum(chg)
        removed, unmatched = _match_cancels(krun, is_cancel[ci])
        alive[ci[removed]] = False
        counts["cancels"] = int(is_cancel.sum())
        counts["cancels_unmatched"] = int(unmatched.sum())
        counts["cancelled_prints"] = int(removed.sum()) - int(is_cancel[ci].sum())
        if unmatched.any():
            qrows.append(
                (
                    tord[ci[unmatched]],
                    "conditions",
                    "cancel with no matching earlier print (same contract, price, size)",
                )
            )
    counts["compression_dropped"] = int(is_comp.sum())

    keep = np.flatnonzero(alive)
    ck, t, price, size, exch, flags, bid, ask, late = (
        a[keep] for a in (ck, t, price, size, exch, flags, bid, ask, late)
    )
    rows_k = tord[keep]
    m = len(keep)
    counts["late_prints"] = int(late.sum())
    counts["late_by_timestamp"] = int(late_ts_by_row[rows_k].sum())
    counts["unknown_condition_prints"] = int(((flags & C.F_UNKNOWN) != 0).sum())
    counts["extended_hours_prints"] = int(((flags & C.F_EXTENDED) != 0).sum())
    if m == 0:
        return Classified(events=empty_events(), quarantine_rows=qrows, counts=counts)

    _tick("cancels")
    # 5. side
    mid_band = float(flow_cfg["mid_band"])
    code, conf = quote_side(price, bid, ask, mid_band)
    no_quote = ~(np.isfinite(bid) & np.isfinite(ask))
    counts["no_quote_prints"] = int(no_quote.sum())
    counts["crossed_quote_prints"] = int(((code < 0) & ~no_quote).sum())
    pclass = np.where((flags & C.F_MULTILEG) != 0, 1, np.where((flags & C.F_STOCKOPT) != 0, 2, 0))
    pclass = pclass.astype(np.int8)
    negotiated = (flags & C.F_NEGOTIATED) != 0
    window_ns = np.int64(round(float(flow_cfg["sweep_window_ms"]) * 1e6))
    code, start = _tick_and_group(ck, t, price, code, late, pclass, negotiated, window_ns)

    _tick("side_group")
    # 6. aggregates per order
    starts = np.flatnonzero(start)
    ne = len(starts)
    ends = np.append(starts[1:], m) - 1
    rp = perm[keep]  # received position of each kept print
    (e_size, e_prem, e_np, e_flags, e_late, e_conf, e_side, e_nx, e_last) = _aggregate(
        starts, size, price, flags, late, conf, code, exch, rp
    )

    e_class = pclass[starts]
    nondir = e_class != 0
    etype = np.where(
        e_class == 1,
        4,
        np.where(
            e_class == 2,
            5,
            np.where(
                e_np >= 2,
                np.where(e_nx >= 2, 0, 1),
                np.where(
                    (e_size >= int(flow_cfg["block_min_size"]))
                    | (e_prem >= float(flow_cfg["block_min_premium"]))
                    | ((e_flags & C.F_CROSS) != 0),
                    2,
                    3,
                ),
            ),
        ),
    )

    _tick("aggregates")
    # contract attributes (contract_code indexes the validated contracts table)
    first_rows = rows_k[starts]
    last_rows = rows_k[ends]
    ccode_all = good["contract_code"].to_numpy(np.int64)
    e_ccode = ccode_all[first_rows]
    right = contracts["right"].to_numpy(dtype=object)
    is_call = (right == "C")[e_ccode]
    dirn = np.where(e_side < MID, 1, np.where(e_side > MID, -1, 0))
    senti = np.where(nondir, 0, dirn * np.where(is_call, 1, -1)).astype(np.int8)

    _tick("contract")
    # 9. day volume so far, in received order (perm maps time order -> received position)
    time_of_rcv = np.empty(n, np.int64)
    time_of_rcv[perm] = np.arange(n)
    kept_idx = np.cumsum(alive) - 1  # time index -> index among kept prints
    tr = time_of_rcv[alive[time_of_rcv]]  # kept time indices, in received order
    ordr = kept_idx[tr]
    sz_r = size[ordr]
    ck_rr = ck[ordr]
    cs = np.cumsum(sz_r)
    grp_start = np.r_[True, ck_rr[1:] != ck_rr[:-1]]
    base = np.maximum.accumulate(np.where(grp_start, cs - sz_r, 0))
    cum = np.empty(m, np.int64)
    cum[ordr] = cs - base
    # the order's volume is the cumulative volume at its latest-received print
    e_vol = cum[e_last]

    _tick("volume")
    # per-contract attributes taken from the contract's first print (underlying, vendor)
    first_all = np.full(len(contracts), -1, np.int64)
    first_all[ccode_all[::-1]] = np.arange(n - 1, -1, -1)
    uniq_c = np.flatnonzero(first_all >= 0)
    first_of_c = first_all[uniq_c]
    und_given = _values_at(good.get("underlying"), first_of_c)
    und_sym = contracts["underlying"].to_numpy(dtype=object)[uniq_c]
    und = np.where(pd.isna(und_given) | (und_given == ""), und_sym, und_given)
    ven = _values_at(good.get("vendor"), first_of_c)
    ven = np.where(pd.isna(ven), "unknown", ven)
    pos_c = np.searchsorted(uniq_c, e_ccode)

    _tick("attrs")
    # ids: event_id from the numeric identity of the order (no per-row string work)
    sym_hash = hash_strings(contracts["option_symbol"].astype(str).to_numpy(dtype=object))
    date_hash = hash_strings(np.asarray([str(d) for d in dates], dtype=object))
    price_bits = np.ascontiguousarray(price).view(np.uint64)
    h = mix(
        date_hash[date_code[first_rows]],
        sym_hash[e_ccode],
        t[starts].view(np.uint64),
        exch[starts].astype(np.uint64),
        price_bits[starts],
        size[starts].astype(np.uint64),
        t[ends].view(np.uint64),
        e_np.astype(np.uint64),
    )
    if "print_id" in good and not good["print_id"].isna().any():
        print_ids = join_segments(good["print_id"], rows_k, starts)
    else:
        pid = hash_ids(good, ccode_all, seq)
        print_ids = join_segments(pid, rows_k, starts)

    dts = np.asarray(dates, dtype="datetime64[D]")[date_code[first_rows]]
    expiry = pd.to_datetime(contracts["expiry"]).to_numpy("datetime64[D]")[e_ccode]
    wall = _wall(good)
    sym_lab = contracts["option_symbol"].to_numpy(dtype=object)
    _tick("ids")
    ev = pd.DataFrame(
        {
            "trade_date": dts.astype("datetime64[s]"),
            "event_id": hex_strings(h),
            "ticker": categorical(pos_c, und.astype(str), sort=True),
            "option_symbol": categorical(
                e_ccode, np.where(pd.isna(sym_lab), "", sym_lab), sort=True
            ),
            "expiry": expiry.astype("datetime64[s]"),
            "right": categorical(np.where(is_call, 0, 1), ["C", "P"]),
            "strike": contracts["strike"].to_numpy(np.float64)[e_ccode],
            "event_type": categorical(etype, EVENT_TYPES),
            "side": categorical(e_side, SIDE_LABELS),
            "side_confidence": categorical(e_conf, CONFIDENCE_LABELS),
            "sentiment": categorical(senti + 1, SENTIMENTS),
            "non_directional": nondir,
            "is_late": e_late,
            "has_iso": (e_flags & C.F_ISO) != 0,
            "is_extended": (e_flags & C.F_EXTENDED) != 0,
            "has_unknown_condition": (e_flags & C.F_UNKNOWN) != 0,
            "n_prints": e_np,
            "n_exchanges": e_nx,
            "size": e_size,
            "premium": e_prem,
            "avg_price": e_prem / (e_size * 100.0),
            "first_ts": wall[first_rows].astype("datetime64[ns]"),
            "last_ts": wall[last_rows].astype("datetime64[ns]"),
            "first_sip_timestamp": t[starts],
            "bid": bid[starts],
            "ask": ask[starts],
            "day_volume": e_vol,
            "print_ids": print_ids,
            "vendor": categorical(pos_c, ven.astype(str), sort=True),
        },
        copy=False,  # one block per column: no consolidation copy of millions of rows
    )
    _tick("frame")
    if prior_volume is not None and len(prior_volume):
        pv = prior_volume.groupby(
            [
                pd.to_datetime(prior_volume["trade_date"]).dt.date.to_numpy(),
                prior_volume["option_symbol"].astype(str).to_numpy(),
            ]
        )["volume"].sum()
        key = pd.MultiIndex.from_arrays(
            [
                pd.to_datetime(ev["trade_date"]).dt.date.to_numpy(),
                ev["option_symbol"].astype(str).to_numpy(),
            ]
        )
        add = pv.reindex(key).fillna(0).to_numpy(np.int64)
        ev["day_volume"] = ev["day_volume"].to_numpy() + add
    ev["sentiment_sign"] = senti
    ev["event_type_code"] = etype.astype(np.int8)
    ev["side_code"] = e_side
    _tick("finish")
    counts["events"] = ne
    counts["timings_s"] = timings
    counts["by_event_type"] = {
        EVENT_TYPES[k]: int(v)
        for k, v in enumerate(np.bincount(etype, minlength=len(EVENT_TYPES)))
        if v
    }
    return Classified(events=ev, quarantine_rows=qrows, counts=counts)


def _received_order(ckey: np.ndarray, seq: np.ndarray, rown: np.ndarray) -> np.ndarray:
    """Row indices sorted by (contract-session, seq, row number).

    A counting sort by contract (stable, O(n)) followed by a per-contract check that ``seq``
    already ascends (it does when rows arrive in received order); only contracts where it does
    not are sorted locally."""
    del rown  # ties in seq keep row order: the counting sort and local sorts are stable
    return _group_sort(ckey, seq, int(ckey.max()) + 1 if len(ckey) else 0)


@numba.njit(cache=True)
def _group_sort(ckey, seq, nkeys):  # pragma: no cover - compiled
    n = ckey.shape[0]
    counts = np.zeros(nkeys + 1, np.int64)
    for i in range(n):
        counts[ckey[i] + 1] += 1
    for k in range(nkeys):
        counts[k + 1] += counts[k]
    pos = counts[:nkeys].copy()
    order = np.empty(n, np.int64)
    for i in range(n):
        k = ckey[i]
        order[pos[k]] = i
        pos[k] += 1
    for k in range(nkeys):
        a, b = counts[k], counts[k + 1]
        ok = True
        for j in range(a + 1, b):
            if seq[order[j]] < seq[order[j - 1]]:
                ok = False
                break
        if not ok:
            block = order[a:b].copy()
            local = stable_argsort(seq[block])
            for j in range(b - a):
                order[a + j] = block[local[j]]
    return order


@numba.njit(cache=True)
def _aggregate(starts, size, price, flags, late, conf, code, exch, rp):  # pragma: no cover
    """One pass over orders (contiguous segments): totals, OR of flags, lowest confidence,
    size-weighted side code, distinct exchanges, latest received position."""
    ne = starts.shape[0]
    m = size.shape[0]
    e_size = np.zeros(ne, np.int64)
    e_prem = np.zeros(ne, np.float64)
    e_np = np.zeros(ne, np.int32)
    e_flags = np.zeros(ne, np.uint16)
    e_late = np.zeros(ne, np.bool_)
    e_conf = np.zeros(ne, np.int8)
    e_side = np.zeros(ne, np.int8)
    e_nx = np.zeros(ne, np.int32)
    e_last = np.zeros(ne, np.int64)  # index (in kept order) of the latest-received print
    for e in range(ne):
        a = starts[e]
        b = starts[e + 1] if e + 1 < ne else m
        sz = 0
        prem = 0.0
        fl = np.uint16(0)
        lt = False
        cf = np.int8(127)
        wcode = 0.0
        best = a
        nx = 0
        for i in range(a, b):
            sz += size[i]
            prem += price[i] * size[i] * 100.0
            fl |= flags[i]
            lt = lt or late[i]
            if conf[i] < cf:
                cf = conf[i]
            wcode += code[i] * size[i]
            if rp[i] > rp[best]:
                best = i
            seen = False
            for j in range(a, i):
                if exch[j] == exch[i]:
                    seen = True
                    break
            if not seen:
                nx += 1
        e_size[e] = sz
        e_prem[e] = prem
        e_np[e] = b - a
        e_flags[e] = fl
        e_late[e] = lt
        e_conf[e] = cf
        e_side[e] = np.int8(np.rint(wcode / sz)) if sz > 0 else np.int8(3)
        e_nx[e] = nx
        e_last[e] = best
    return e_size, e_prem, e_np, e_flags, e_late, e_conf, e_side, e_nx, e_last


def _wall(good: pd.DataFrame) -> np.ndarray:
    """sip_ts as naive NY wall-time ns per row; rebuilt from sip_timestamp where missing."""
    ts = good["sip_timestamp"].to_numpy(np.int64)
    if "sip_ts" not in good:
        return sip_wall_ns(ts)
    w = to_ns(good["sip_ts"])
    bad = w == np.iinfo(np.int64).min
    if bad.any():
        w = w.copy()
        w[bad] = sip_wall_ns(ts[bad])
    return w


#: columns of ``flow.flow_events`` the engine adds after classification (chain snapshot, spot)
ENRICHED_COLUMNS = ("open_interest", "vol_oi", "iv", "delta", "chain_date", "spot", "otm_pct", "dte")
#: what :func:`classify_prints` returns: the declared event columns before enrichment
EVENT_COLUMNS = [c for c in FLOW_EVENTS.column_names if c not in ENRICHED_COLUMNS]


def empty_events() -> pd.DataFrame:
    """An events frame with no rows (same columns as a classified batch before context)."""
    ev = pd.DataFrame({c: pd.Series([], dtype=object) for c in EVENT_COLUMNS})
    for c in ("sentiment_sign", "event_type_code", "side_code"):
        ev[c] = pd.Series([], dtype=np.int8)
    return ev
