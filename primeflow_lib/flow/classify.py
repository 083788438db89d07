"""Prints -> orders: turn validated option prints into ``flow.flow_events`` rows.

The rules, in the order they are applied (per contract and session unless said otherwise);
each is one function below (``rule_*``), the compiled loops are in
:mod:`primeflow_lib.flow.classify_kernels`:

1. **Received order and late prints** (:func:`rule_received_order`). Prints are put in received
   order (``seq``, then row order). A print is **late** when its condition means late (per the
   vendor's condition map, :mod:`primeflow_lib.flow.conditions`) *or* its ``sip_timestamp`` is
   earlier than a print of the same contract received before it (out of sequence). Late prints
   count toward volume but are always their own event with ``is_late = true`` and never trigger a
   signal.
2. **Time order.** Within a contract, prints are then ordered by ``sip_timestamp`` (ties keep the
   received order). Everything below works in this order.
3. **Duplicates** (:func:`rule_duplicates`): a print is a duplicate only when it is *the same
   record delivered twice*: the same contract, the same identity (the vendor's sequence number,
   ``vendor_sequence``, where the vendor has one; else ``seq``, the print's position in the
   vendor's delivery of that contract and day) and the same timestamp, exchange, price, size and
   conditions. The first received copy is kept, later copies are quarantined. Distinct fills
   that happen to be identical in every field (same millisecond, price and size) have distinct
   identities and are kept and counted as separate volume. Two records with one vendor sequence
   number but different content are both kept and counted (``vendor_sequence_conflicts``).
4. **Compression** prints are dropped and counted (``compression_dropped``).
5. **Cancels** (:func:`rule_cancels`). A print with a cancel condition or a non-zero
   ``correction`` is a cancel message. It removes the **nearest earlier** (in time order; at an
   equal timestamp the one received earlier) not-yet-cancelled regular print of the same
   contract with the same price and size; both are dropped and counted (``cancels``,
   ``cancelled_prints``). A cancel with no such print is dropped and goes to quarantine with
   reason "cancel with no matching earlier print" (``cancels_unmatched``).
6. **Product session** (:func:`rule_session`): a print outside its product's regular session
   (config ``sessions``: index and VIX options to 16:15 ET) is flagged ``is_extended`` and
   counted (``out_of_session_prints``).
7. **Multi-leg structures across contracts** (:func:`rule_structures`, per underlying). A
   *bucket* is a run of kept, non-late prints of one underlying within
   ``flow.structure_window_ms`` (1 ms) of its first print. The first of these that covers 2 to
   ``flow.structure_max_legs`` contracts whose summed sizes are in a ratio of small integers
   (each size / their gcd <= ``flow.structure_max_ratio``) is one structure: the whole bucket;
   its prints that carry a multi-leg condition; the runs of vendor sequence numbers at most
   ``flow.structure_max_seq_gap`` apart (where every print has one). Then, with
   ``flow.structure_waive_ratio_for_flagged``, the multi-leg-flagged prints still left form one
   structure whatever their ratio (the vendor marks them as legs; delta-weighted ratios such as
   9:25 are common; two simultaneous complex orders may merge into one ``complex``). Each
   structure gets a label (:data:`STRUCTURES`, :func:`label_code`), an id, its net premium and
   (in the engine) its net delta. Its legs are non-directional (event type ``multileg``): a
   spread is one order, never a directional bet per leg.
8. **Side** per print from its NBBO (:mod:`primeflow_lib.flow.side`), tick rule when the quote
   is missing or crossed/locked (confidence ``low``). When the quote is the trading venue's own
   best quote rather than the consolidated one (``quote_source`` = ``venue_bbo``, e.g.
   Databento ``tbbo``), the confidence is one level lower (high -> medium -> low), counted in
   ``venue_quote_prints``.
9. **Orders** (:func:`rule_orders`). Consecutive kept prints of the same contract form one order
   while every print is within ``flow.sweep_window_ms`` of the order's **first** print, has the
   same direction class (buy: above_ask/ask/to_ask, neutral: mid, sell: to_bid/bid/below_bid),
   the same print class (regular, multi-leg, stock-option) and the same structure. Late prints
   and negotiated prints are always orders of their own.
10. **Event type** (:func:`rule_event_types`). ``multileg`` (a multi-leg condition or a leg of a
    structure) and ``stock_option`` are non-directional; otherwise 2+ prints on 2+ exchanges =
    ``sweep`` (ISO is recorded as ``has_iso``), 2+ prints on one exchange = ``split``, one print
    >= ``flow.block_min_size`` contracts or >= ``flow.block_min_premium`` USD or an auction /
    cross / floor print = ``block``, else ``single``.
11. **Event side** = the label of the size-weighted mean of its prints' side codes (rounded; all
    prints of an order share a direction class), confidence = the lowest of its prints.
    **Sentiment**: calls bought (buy side) or puts sold (sell side) = ``bullish``; puts bought
    or calls sold = ``bearish``; mid or non-directional = ``neutral``.
12. **Day volume so far** (:func:`rule_day_volume`) = contracts of the contract traded this
    session up to and including the order, counted in *received* order (so a late print counts
    from the moment it arrived, never before), plus ``prior_volume`` from earlier micro-batches.

``event_id`` = 16 hex digits of a hash of (session, contract, first print's timestamp, exchange,
price and size, last print's timestamp, number of prints, the first print's vendor sequence
number where the vendor gives one): stable across re-runs of the same
batch, across a vendor's re-issued print ids and between a vendor's live feed and its files, and
distinct for two fills of one contract in the same millisecond at the same price, size and venue
where the vendor numbers its records. ``structure_id`` = 16 hex digits of a hash of (session,
underlying, the structure's first timestamp, its prints and contracts).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.arrays import (
    categorical,
    factorize,
    hash_strings,
    hex_strings,
    join_segments,
    mix,
)
from primeflow_lib.flow import classify_kernels as K
from primeflow_lib.flow import conditions as C
from primeflow_lib.flow.side import CONFIDENCE_LABELS, MID, SIDE_LABELS, quote_side
from primeflow_lib.schema.flow import FLOW_EVENTS

EVENT_TYPES = ("sweep", "split", "block", "single", "multileg", "stock_option")
SENTIMENTS = ("bearish", "neutral", "bullish")  # index = sentiment + 1
#: structure labels (index = label code of :func:`label_code`)
STRUCTURES = (
    "vertical",
    "straddle",
    "strangle",
    "calendar",
    "diagonal",
    "ratio",
    "butterfly",
    "condor",
    "roll",
    "complex",
)
NS_DAY = 86_400_000_000_000
#: quarantine reasons of rules 3 and 5
REASON_DUPLICATE = (
    "duplicate print: the same record delivered twice (same contract, vendor sequence or position "
    "at the source, sip_timestamp, exchange, price, size and conditions as an earlier row; the "
    "first is kept)"
)
REASON_UNMATCHED_CANCEL = "cancel with no matching earlier print (same contract, price, size)"
#: the ``flow`` keys of the structure rule and their defaults (older configs lack them)
STRUCTURE_DEFAULTS = {
    "structure_window_ms": 1.0,
    "structure_max_ratio": 3,
    "structure_max_legs": 6,
    "structure_max_seq_gap": 64,
    "structure_waive_ratio_for_flagged": True,
    "roll_max_dte": 7,
}


@dataclass
class Classified:
    """Output of :func:`classify_prints`: event rows (without market context), the rows it
    rejected as ``(row indices of good, field, reason)`` (turn them into quarantine rows with
    :func:`primeflow_lib.schema.quarantine.quarantine_rows`) and counts."""

    events: pd.DataFrame
    quarantine_rows: list[tuple[np.ndarray, str, str]] = field(default_factory=list)
    counts: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Tape:
    """The batch's prints as arrays in time order (rule 2), then only the kept ones."""

    rows: np.ndarray  # row index in ``good``
    pos: np.ndarray  # received position (index into the received order)
    ck: np.ndarray  # contract-session key
    t: np.ndarray  # sip_timestamp, ns
    price: np.ndarray
    size: np.ndarray
    exch: np.ndarray
    cond: np.ndarray  # (vendor, condition) pair code
    flags: np.ndarray  # uint16 condition flags
    bid: np.ndarray
    ask: np.ndarray
    late: np.ndarray
    ident: np.ndarray  # identity of the record at its source (vendor sequence, else seq)
    has_vseq: np.ndarray
    vseq: np.ndarray

    def take(self, idx: np.ndarray) -> _Tape:
        return _Tape(**{k: v[idx] for k, v in self.__dict__.items()})


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


def _num_col(good: pd.DataFrame, name: str) -> np.ndarray:
    if name not in good:
        return np.full(len(good), np.nan)
    return pd.to_numeric(good[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)


def wall_ns(good: pd.DataFrame) -> np.ndarray:
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


def _hhmm_ns(text: str, key: str) -> int:
    try:
        h, m = (int(x) for x in str(text).split(":"))
    except ValueError:
        raise ValueError(f"config {key}: {text!r} is not a HH:MM time") from None
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"config {key}: {text!r} is not a HH:MM time")
    return (h * 60 + m) * 60_000_000_000


def session_bounds(underlyings: np.ndarray, sessions: Mapping[str, Any] | None) -> np.ndarray:
    """``(n, 2)`` regular-session (open, close) per underlying as ns after midnight New York,
    from config ``sessions`` (``products.<UNDERLYING>`` else ``default``)."""
    if sessions is None:
        from primeflow_lib.config import default_config

        sessions = default_config()["sessions"]
    d = sessions["default"]
    dflt = (_hhmm_ns(d["open"], "sessions.default.open"), _hhmm_ns(d["close"], "sessions.default.close"))
    prods = sessions.get("products") or {}
    out = np.empty((len(underlyings), 2), np.int64)
    for i, u in enumerate(np.asarray(underlyings, dtype=object)):
        p = prods.get(str(u).upper())
        if p is None:
            out[i] = dflt
        else:
            out[i] = (
                _hhmm_ns(p.get("open", d["open"]), f"sessions.products.{u}.open"),
                _hhmm_ns(p.get("close", d["close"]), f"sessions.products.{u}.close"),
            )
    return out


# ------------------------------------------------------------------------------------- the rules
def rule_received_order(
    ckey: np.ndarray, seq: np.ndarray, ts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rules 1-2: received order (``seq``, then row), late-by-timestamp, then time order.

    Returns ``(tord, late_by_row, perm)``: row indices in time order, the late-by-timestamp flag
    per row, and the permutation from received position to time position."""
    n = len(ckey)
    order = K.group_sort(ckey, seq, int(ckey.max()) + 1 if n else 0)
    late_ts, perm = K.late_and_time_order(ckey[order], ts[order])
    late_by_row = np.empty(n, np.bool_)
    late_by_row[order] = late_ts
    return order[perm], late_by_row, perm


def rule_duplicates(tp: _Tape) -> tuple[np.ndarray, int]:
    """Rule 3: the same record delivered twice (see the module doc). Returns the duplicate mask
    (time order) and the number of vendor-sequence conflicts (same number, other content)."""
    dup = K.duplicates(tp.ck, tp.t, tp.ident, tp.exch, tp.price, tp.size, tp.cond)
    conflicts = 0
    has = tp.has_vseq & ~dup
    if has.any():
        idx = np.flatnonzero(has)
        o = idx[np.lexsort((tp.vseq[idx], tp.ck[idx]))]
        same = (tp.ck[o][1:] == tp.ck[o][:-1]) & (tp.vseq[o][1:] == tp.vseq[o][:-1])
        conflicts = int(same.sum())
    return dup, conflicts


def rule_cancels(tp: _Tape, alive: np.ndarray, is_cancel: np.ndarray) -> tuple[np.ndarray, dict]:
    """Rule 5: each cancel removes the nearest earlier live print with its contract, price and
    size. Updates ``alive`` in place; returns (indices of unmatched cancels, counts)."""
    counts = {"cancels": 0, "cancels_unmatched": 0, "cancelled_prints": 0}
    if not is_cancel.any():
        return np.zeros(0, np.int64), counts
    ck, price, size, t = tp.ck, tp.price, tp.size, tp.t
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
    removed, unmatched = K.match_cancels(krun, is_cancel[ci])
    alive[ci[removed]] = False
    counts["cancels"] = int(is_cancel.sum())
    counts["cancels_unmatched"] = int(unmatched.sum())
    counts["cancelled_prints"] = int(removed.sum()) - int(is_cancel[ci].sum())
    return ci[unmatched], counts


def rule_session(tod: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Rule 6: True where a print's wall time of day (ns after midnight New York) is before its
    product's open or after its close (``bounds`` per print: open, close)."""
    return (tod < bounds[:, 0]) | (tod > bounds[:, 1])


def rule_structures(
    ukey: np.ndarray,
    tp: _Tape,
    eligible: np.ndarray,
    flow_cfg: Mapping[str, Any],
) -> np.ndarray:
    """Rule 7: the structure number of each kept print (-1: not in a structure).

    ``ukey`` is the (session, underlying) key per print; only ``eligible`` prints (kept, not
    late) are considered."""
    p = {**STRUCTURE_DEFAULTS, **{k: flow_cfg[k] for k in STRUCTURE_DEFAULTS if k in flow_cfg}}
    n = len(tp.t)
    gid = np.full(n, -1, np.int64)
    idx = np.flatnonzero(eligible)
    if len(idx) < 2:
        return gid
    # (underlying-session, time) order; ties keep the contract order of the tape. One stable
    # (radix) sort of a combined int64 key when the times fit in 46 bits (~19 hours of ns)
    t_i = tp.t[idx]
    t0 = int(t_i.min())
    span = int(t_i.max()) - t0
    if span < (1 << 46) and int(ukey[idx].max()) < (1 << 16):
        o = idx[np.argsort((ukey[idx].astype(np.int64) << 46) | (t_i - t0), kind="stable")]
    else:
        o = idx[np.lexsort((t_i, ukey[idx]))]
    g = K.find_structures(
        ukey[o],
        tp.t[o],
        tp.ck[o],
        tp.size[o],
        (tp.flags[o] & C.F_MULTILEG) != 0,
        tp.vseq[o],
        tp.has_vseq[o],
        np.int64(round(float(p["structure_window_ms"]) * 1e6)),
        int(p["structure_max_ratio"]),
        int(p["structure_max_legs"]),
        int(p["structure_max_seq_gap"]),
        bool(p["structure_waive_ratio_for_flagged"]),
    )
    gid[o] = g
    return gid


def label_code(
    gid: np.ndarray,
    ccode: np.ndarray,
    size: np.ndarray,
    is_call: np.ndarray,
    strike: np.ndarray,
    expiry_day: np.ndarray,
    dte: np.ndarray,
    roll_max_dte: int,
    max_ratio: int = 3,
) -> np.ndarray:
    """Label code (index into :data:`STRUCTURES`) per structure number ``0..gid.max()``.

    The legs are the structure's contracts with their summed sizes (``ratio`` = sizes / gcd):

    * 2 legs, same expiry and right: ``vertical`` (1:1) or ``ratio`` (e.g. 1:2, each part at
      most ``flow.structure_max_ratio``);
    * 2 legs, same expiry, call + put, 1:1: ``straddle`` (same strike) or ``strangle``;
    * 2 legs, same right, different expiries, 1:1: ``roll`` when the nearer leg has at most
      ``flow.roll_max_dte`` days left (positions are rolled shortly before expiry), else
      ``calendar`` (same strike) or ``diagonal``;
    * 3 legs, same expiry and right, equidistant strikes, 1:2:1: ``butterfly``;
    * 4 legs, same expiry, 1:1:1:1: ``condor`` (one right, equal wings; or puts below calls:
      iron condor) or ``butterfly`` (iron butterfly: the put and call bodies share a strike);
    * anything else: ``complex``.
    """
    ng = int(gid.max()) + 1 if len(gid) else 0
    if ng == 0:
        return np.zeros(0, np.int8)
    key = gid * (int(ccode.max()) + 1) + ccode
    uk, first, inv = np.unique(key, return_index=True, return_inverse=True)
    leg_size = np.bincount(inv.reshape(-1), weights=size, minlength=len(uk)).astype(np.int64)
    lg = gid[first]
    lr = is_call[first].astype(np.int64)
    lk = strike[first]
    le = expiry_day[first]
    ld = dte[first]
    o = np.lexsort((lk, lr, le, lg))
    lg, lr, lk, le, ld, ls = lg[o], lr[o], lk[o], le[o], ld[o], leg_size[o]
    gstart = np.flatnonzero(np.r_[True, lg[1:] != lg[:-1]])
    return K.label_structures(gstart, lr, lk, le, ls, ld, int(roll_max_dte), int(max_ratio))


def rule_orders(
    tp: _Tape,
    code: np.ndarray,
    pclass: np.ndarray,
    sgroup: np.ndarray,
    window_ms: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Rules 8-9: tick-rule sides where the quote was unusable, and where each order starts."""
    negotiated = (tp.flags & C.F_NEGOTIATED) != 0
    window_ns = np.int64(round(float(window_ms) * 1e6))
    return K.tick_and_group(
        tp.ck, tp.t, tp.price, code, tp.late, pclass, negotiated, sgroup, window_ns
    )


def rule_event_types(
    e_class: np.ndarray,
    e_np: np.ndarray,
    e_nx: np.ndarray,
    e_size: np.ndarray,
    e_prem: np.ndarray,
    e_flags: np.ndarray,
    flow_cfg: Mapping[str, Any],
) -> np.ndarray:
    """Rule 10: event type code per order (index into :data:`EVENT_TYPES`)."""
    return np.where(
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


def rule_sentiment(e_side: np.ndarray, is_call: np.ndarray, nondir: np.ndarray) -> np.ndarray:
    """Rule 11: +1 bullish, -1 bearish, 0 neutral per order."""
    dirn = np.where(e_side < MID, 1, np.where(e_side > MID, -1, 0))
    return np.where(nondir, 0, dirn * np.where(is_call, 1, -1)).astype(np.int8)


def rule_day_volume(
    n: int, perm: np.ndarray, alive: np.ndarray, ck: np.ndarray, size: np.ndarray,
    e_last: np.ndarray,
) -> np.ndarray:
    """Rule 12: cumulative contract volume at each order's latest-received print, counted in
    received order (``perm`` maps received position -> time position; ``ck``/``size`` are the
    kept prints in time order)."""
    m = len(ck)
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
    return cum[e_last]


# ------------------------------------------------------------------------------------ main entry
def classify_prints(
    good: pd.DataFrame,
    contracts: pd.DataFrame,
    flow_cfg: dict[str, Any],
    *,
    conditions: np.ndarray | None = None,
    prior_volume: pd.DataFrame | None = None,
    condition_maps: C.ConditionMaps | None = None,
    sessions: Mapping[str, Any] | None = None,
) -> Classified:
    """Group validated prints into orders (see module doc for every rule).

    Args:
        good: ``ValidatedPrints.good`` (``flow.option_prints`` columns + ``row_number`` +
            ``contract_code``).
        contracts: ``ValidatedPrints.contracts``.
        conditions: ``ValidatedPrints.conditions`` (with ``good.condition_code``); when omitted
            the ``conditions`` column is parsed here.
        flow_cfg: the ``flow`` config section (``sweep_window_ms``, ``block_min_size``,
            ``block_min_premium``, ``mid_band``, the ``structure_*`` keys, ``roll_max_dte``).
        prior_volume: optional frame ``trade_date, option_symbol, volume`` of contracts already
            traded this session in earlier micro-batches (added to ``day_volume``).
        condition_maps: the parsed ``conditions`` config (default: the packaged maps).
        sessions: the ``sessions`` config section (default: the packaged one).

    Returns:
        :class:`Classified` with one row per order (no market context yet).
    """
    n = len(good)
    counts: dict[str, Any] = {
        "prints_in": n,
        "duplicates": 0,
        "vendor_sequence_conflicts": 0,
        "compression_dropped": 0,
        "cancels": 0,
        "cancelled_prints": 0,
        "cancels_unmatched": 0,
        "late_prints": 0,
        "late_by_timestamp": 0,
        "no_quote_prints": 0,
        "crossed_quote_prints": 0,
        "unknown_condition_prints": 0,
        "unknown_condition_codes": {},
        "extended_hours_prints": 0,
        "out_of_session_prints": 0,
        "structures": 0,
        "structure_prints": 0,
        "structures_by_label": {},
        "multileg_prints": 0,
        "multileg_prints_in_structures": 0,
        "venue_quote_prints": 0,
    }
    if n == 0:
        return Classified(events=empty_events(), counts=counts)
    maps = condition_maps or C.load_condition_maps()

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
    seq = _num_col(good, "seq")
    seq = np.where(np.isfinite(seq), seq, rown).astype(np.int64)
    vseq_f = _num_col(good, "vendor_sequence")
    has_vseq = np.isfinite(vseq_f)
    vseq = np.where(has_vseq, vseq_f, -1).astype(np.int64)
    if "vendor_sequence" in good and pd.api.types.is_integer_dtype(good["vendor_sequence"].dtype):
        vseq = np.where(has_vseq, good["vendor_sequence"].to_numpy(np.int64, na_value=-1), -1)
    _tick("setup")

    # 1-2. received order, late by timestamp, time order
    tord, late_by_row, perm = rule_received_order(ckey, seq, ts)
    _tick("late_perm")

    flags_all, pair, unknown = condition_flags(good, maps, conditions)
    wall_all = wall_ns(good)
    tp = _Tape(
        rows=tord,
        pos=perm,
        ck=ckey[tord],
        t=ts[tord],
        price=good["price"].to_numpy(np.float64)[tord],
        size=good["size"].to_numpy(np.float64).astype(np.int64)[tord],
        exch=pd.to_numeric(good["exchange"]).to_numpy(np.int64)[tord],
        cond=pair[tord],
        flags=flags_all[tord],
        bid=_num_col(good, "bid")[tord],
        ask=_num_col(good, "ask")[tord],
        late=np.zeros(n, np.bool_),
        ident=np.where(has_vseq, vseq, seq)[tord],
        has_vseq=has_vseq[tord],
        vseq=vseq[tord],
    )
    tp.late = ((tp.flags & C.F_LATE) != 0) | late_by_row[tord]
    _tick("gather")

    # 3. duplicates: the first received copy is kept
    qrows: list[tuple[np.ndarray, str, str]] = []  # (row indices of good, field, reason)
    dup, conflicts = rule_duplicates(tp)
    counts["duplicates"] = int(dup.sum())
    counts["vendor_sequence_conflicts"] = conflicts
    if dup.any():
        qrows.append(
            (
                tp.rows[np.flatnonzero(dup)],
                "print_id",
                REASON_DUPLICATE,
            )
        )

    # 4-5. compression and cancels
    is_cancel = ((tp.flags & C.F_CANCEL) != 0) & ~dup
    is_comp = ((tp.flags & C.F_COMPRESSION) != 0) & ~is_cancel & ~dup
    alive = ~is_comp & ~dup
    unmatched, cc = rule_cancels(tp, alive, is_cancel)
    counts.update(cc)
    if len(unmatched):
        qrows.append(
            (
                tp.rows[unmatched],
                "conditions",
                REASON_UNMATCHED_CANCEL,
            )
        )
    counts["compression_dropped"] = int(is_comp.sum())

    keep = np.flatnonzero(alive)
    tp = tp.take(keep)
    m = len(keep)
    counts["late_prints"] = int(tp.late.sum())
    counts["late_by_timestamp"] = int(late_by_row[tp.rows].sum())
    counts["unknown_condition_prints"] = int(((tp.flags & C.F_UNKNOWN) != 0).sum())
    counts["unknown_condition_codes"] = dict(sorted(unknown.items()))
    if m == 0:
        return Classified(events=empty_events(), quarantine_rows=qrows, counts=counts)
    _tick("cancels")

    # 6. product sessions
    und_names = contracts["underlying"].to_numpy(dtype=object)
    u_codes, u_vals = factorize(pd.Series(und_names, dtype=object))
    bounds_u = session_bounds(np.asarray(u_vals, dtype=object), sessions)
    c_of_row = ccode[tp.rows]
    u_of_print = u_codes[c_of_row]
    wall_k = wall_all[tp.rows]
    tod = wall_k - (wall_k // NS_DAY) * NS_DAY
    oos = rule_session(tod, bounds_u[np.maximum(u_of_print, 0)]) & (u_of_print >= 0)
    tp.flags = np.where(oos, tp.flags | C.F_EXTENDED, tp.flags).astype(np.uint16)
    counts["out_of_session_prints"] = int(oos.sum())
    counts["extended_hours_prints"] = int(((tp.flags & C.F_EXTENDED) != 0).sum())

    # 7. multi-leg structures across contracts
    ukey = date_code[tp.rows] * (len(u_vals) + 1) + u_of_print
    sgroup = rule_structures(ukey, tp, ~tp.late, flow_cfg)
    in_struct = sgroup >= 0
    is_ml = (tp.flags & C.F_MULTILEG) != 0
    counts["multileg_prints"] = int(is_ml.sum())
    counts["multileg_prints_in_structures"] = int((is_ml & in_struct).sum())
    counts["structure_prints"] = int(in_struct.sum())
    _tick("structures")

    # 8. side from the quote; a venue's own quote (not the NBBO) lowers the confidence a level
    venue_q = venue_quotes(good)
    code, conf = print_sides(tp.price, tp.bid, tp.ask, None if venue_q is None else venue_q[tp.rows], flow_cfg)
    if venue_q is not None:
        counts["venue_quote_prints"] = int(venue_q[tp.rows].sum())
    no_quote = ~(np.isfinite(tp.bid) & np.isfinite(tp.ask))
    counts["no_quote_prints"] = int(no_quote.sum())
    counts["crossed_quote_prints"] = int(((code < 0) & ~no_quote).sum())
    pclass = np.where(
        ((tp.flags & C.F_MULTILEG) != 0) | in_struct,
        1,
        np.where((tp.flags & C.F_STOCKOPT) != 0, 2, 0),
    ).astype(np.int8)
    # 9. orders (tick rule where the quote was unusable)
    code, start = rule_orders(tp, code, pclass, sgroup, float(flow_cfg["sweep_window_ms"]))
    _tick("side_group")

    # per-contract attributes taken from the contract's first print (underlying, vendor)
    und_c, ven_c = contract_attributes(good, ccode, contracts)
    ev, ecounts = build_events(
        tp, np.flatnonzero(start), code, conf, pclass, sgroup,
        wall=wall_all, date_code=date_code, dates=dates, ccode=ccode, contracts=contracts,
        print_ids=good["print_id"] if "print_id" in good and not good["print_id"].isna().any()
        else hash_ids(good, ccode, seq),
        underlying=und_c, vendor=ven_c,
        day_volume=lambda e_last: rule_day_volume(n, perm, alive, tp.ck, tp.size, e_last),
        flow_cfg=flow_cfg,
    )  # fmt: skip
    counts.update(ecounts)
    _tick("events")
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
    _tick("finish")
    counts["timings_s"] = timings
    return Classified(events=ev, quarantine_rows=qrows, counts=counts)


def condition_flags(
    good: pd.DataFrame, maps: C.ConditionMaps, conditions: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """Rule flags per row (``uint16``, :mod:`primeflow_lib.flow.conditions`) under each row's
    vendor map, a non-zero ``correction`` counting as a cancel; also the (condition, vendor)
    pair code per row (what rule 3 compares) and the unknown condition codes seen (counts).

    ``conditions`` / ``good.condition_code`` are the validated, factorized condition texts when
    the caller has them; else the ``conditions`` column is factorized here."""
    n = len(good)
    if conditions is not None and "condition_code" in good:
        ccond = good["condition_code"].to_numpy(np.int64)
        cond_text = np.asarray(conditions, dtype=object)
    else:
        ccond, cond_text = factorize(good.get("conditions"), n)
        cond_text = np.append(cond_text, "")
        ccond = np.where(ccond < 0, len(cond_text) - 1, ccond)
    vcodes, vvals = factorize(good.get("vendor"), n)
    flags, unknown = C.flag_table(ccond, cond_text, vcodes, np.asarray(vvals, dtype=object), maps)
    pair = ccond * (len(vvals) + 1) + (vcodes + 1)
    if "correction" in good:
        corr = _num_col(good, "correction")
        flags = np.where(np.nan_to_num(corr) != 0, flags | C.F_CANCEL, flags).astype(np.uint16)
    return flags, pair, unknown


def venue_quotes(good: pd.DataFrame) -> np.ndarray | None:
    """Per row: the quote is the trading venue's own best quote (``quote_source`` =
    ``venue_bbo``), not the consolidated NBBO; None when the batch has no ``quote_source``."""
    if "quote_source" not in good:
        return None
    return (good["quote_source"].astype("str") == "venue_bbo").to_numpy(dtype=bool, na_value=False)


def print_sides(
    price: np.ndarray, bid: np.ndarray, ask: np.ndarray, venue: np.ndarray | None,
    flow_cfg: Mapping[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Rule 8: side code and confidence per print from its quote (-1: use the tick rule); a
    venue's own quote (``venue`` True) lowers the confidence one level."""
    code, conf = quote_side(price, bid, ask, float(flow_cfg["mid_band"]))
    if venue is not None:
        conf = np.where(venue & (code >= 0), np.maximum(conf - 1, 0), conf).astype(np.int8)
    return code, conf


def contract_attributes(
    good: pd.DataFrame, ccode: np.ndarray, contracts: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Per contract code: the underlying (the row's ``underlying``, else the symbol's root) and
    the vendor (``unknown`` when missing), taken from the contract's first row in ``good``."""
    n = len(good)
    first_all = np.full(len(contracts), -1, np.int64)
    first_all[ccode[::-1]] = np.arange(n - 1, -1, -1)
    uniq_c = np.flatnonzero(first_all >= 0)
    first_of_c = first_all[uniq_c]
    und_names = contracts["underlying"].to_numpy(dtype=object)
    und_given = _values_at(good.get("underlying"), first_of_c)
    und = np.where(pd.isna(und_given) | (und_given == ""), und_names[uniq_c], und_given)
    ven = _values_at(good.get("vendor"), first_of_c)
    ven = np.where(pd.isna(ven), "unknown", ven)
    und_c = np.full(len(contracts), "", dtype=object)
    ven_c = np.full(len(contracts), "unknown", dtype=object)
    und_c[uniq_c] = und
    ven_c[uniq_c] = ven
    return und_c, ven_c


def build_events(
    tp: Any,
    starts: np.ndarray,
    code: np.ndarray,
    conf: np.ndarray,
    pclass: np.ndarray,
    sgroup: np.ndarray,
    *,
    wall: np.ndarray,
    date_code: np.ndarray,
    dates: list[dt.date],
    ccode: np.ndarray,
    contracts: pd.DataFrame,
    print_ids: pd.Series | np.ndarray,
    underlying: np.ndarray,
    vendor: np.ndarray,
    day_volume: Callable[[np.ndarray], np.ndarray],
    flow_cfg: Mapping[str, Any],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Rules 10-12 and the ids: one ``flow.flow_events`` row (before enrichment) per order.

    Args:
        tp: the kept prints in time order (the classifier's tape: ``rows, pos, t, price, size,
            exch, flags, late, bid, ask, has_vseq, vseq``), ``rows`` indexing the per-row arrays
            below.
        starts: tape positions where an order starts (rule 9); ``code`` / ``conf`` the side code
            (tick rule applied) and confidence per tape print; ``pclass`` the print class and
            ``sgroup`` the structure number per tape print.
        wall, date_code, ccode, print_ids: per row (indexed by ``tp.rows``): New York wall time
            ns, session code into ``dates``, contract code into ``contracts`` and the print id.
        underlying, vendor: per contract code.
        day_volume: ``e_last`` (tape position of each order's latest-received print) -> the
            contract's volume so far at that print (rule 12).

    Returns:
        ``(events, counts)``; the events frame also carries ``sentiment_sign``,
        ``event_type_code`` and ``side_code`` for the engine.
    """
    m = len(tp.t)
    ne = len(starts)
    ends = np.append(starts[1:], m) - 1
    (e_size, e_prem, e_np, e_flags, e_late, e_conf, e_side, e_nx, e_last) = K.aggregate(
        starts, tp.size, tp.price, tp.flags, tp.late, conf, code, tp.exch, tp.pos
    )
    # 10. event type
    e_class = pclass[starts]
    nondir = e_class != 0
    etype = rule_event_types(e_class, e_np, e_nx, e_size, e_prem, e_flags, flow_cfg)
    first_rows = tp.rows[starts]
    last_rows = tp.rows[ends]
    e_ccode = ccode[first_rows]
    is_call = (contracts["right"].to_numpy(dtype=object) == "C")[e_ccode]
    # 11. sentiment
    senti = rule_sentiment(e_side, is_call, nondir)
    # 12. day volume so far, in received order
    e_vol = day_volume(e_last)
    # ids: event_id from the numeric identity of the order (no per-row string work)
    sym_hash = hash_strings(contracts["option_symbol"].astype(str).to_numpy(dtype=object))
    date_hash = hash_strings(np.asarray([str(d) for d in dates], dtype=object))
    price_bits = np.ascontiguousarray(tp.price).view(np.uint64)
    h = mix(
        date_hash[date_code[first_rows]],
        sym_hash[e_ccode],
        tp.t[starts].view(np.uint64),
        tp.exch[starts].astype(np.uint64),
        price_bits[starts],
        tp.size[starts].astype(np.uint64),
        tp.t[ends].view(np.uint64),
        e_np.astype(np.uint64),
    )
    # the first print's sequence number at its vendor, where it has one: two fills of one
    # contract in the same millisecond at one price, size and venue (a real Cboe day has them:
    # legs of separate packages) are two orders and had one id (two orders, one key); a vendor's
    # re-issued print ids keep it (not the print id: a refeed alerts once). Not ``seq``: for a
    # vendor without sequence numbers that is a position in one delivery (Massive's websocket
    # counts from the stream's start, its files from the day's). Orders without one keep the id
    # they always had.
    has = tp.has_vseq[starts]
    if has.any():
        h = np.where(has, mix(h, tp.vseq[starts].astype(np.uint64)), h)
    pids = join_segments(print_ids, tp.rows, starts)
    dts = np.asarray(dates, dtype="datetime64[D]")[date_code[first_rows]]
    expiry = pd.to_datetime(contracts["expiry"]).to_numpy("datetime64[D]")[e_ccode]
    sym_lab = contracts["option_symbol"].to_numpy(dtype=object)
    strike = contracts["strike"].to_numpy(np.float64)[e_ccode]
    e_hash = mix(date_hash[date_code[first_rows]], sym_hash[e_ccode])
    st = _structure_columns(
        sgroup[starts], e_ccode, e_size, e_prem, e_side, is_call, strike, expiry, dts,
        e_hash, tp.t[starts], e_np, flow_cfg,
    )
    counts: dict[str, Any] = {"structures": st.pop("_n"), "structures_by_label": st.pop("_by_label")}
    present = np.unique(e_ccode)
    pos_c = np.searchsorted(present, e_ccode)
    ev = pd.DataFrame(
        {
            "trade_date": dts.astype("datetime64[s]"),
            "event_id": hex_strings(h),
            "ticker": categorical(pos_c, underlying[present].astype(str), sort=True),
            "option_symbol": categorical(
                e_ccode, np.where(pd.isna(sym_lab), "", sym_lab), sort=True
            ),
            "expiry": expiry.astype("datetime64[s]"),
            "right": categorical(np.where(is_call, 0, 1), ["C", "P"]),
            "strike": strike,
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
            "first_sip_timestamp": tp.t[starts],
            "bid": tp.bid[starts],
            "ask": tp.ask[starts],
            "day_volume": e_vol,
            "print_ids": pids,
            "vendor": categorical(pos_c, vendor[present].astype(str), sort=True),
            **st,
        },
        copy=False,  # one block per column: no consolidation copy of millions of rows
    )
    ev["sentiment_sign"] = senti
    ev["event_type_code"] = etype.astype(np.int8)
    ev["side_code"] = e_side
    counts["events"] = ne
    counts["by_event_type"] = {
        EVENT_TYPES[k]: int(v)
        for k, v in enumerate(np.bincount(etype, minlength=len(EVENT_TYPES)))
        if v
    }
    return ev, counts


def _structure_columns(
    e_gid: np.ndarray,
    e_ccode: np.ndarray,
    e_size: np.ndarray,
    e_prem: np.ndarray,
    e_side: np.ndarray,
    is_call: np.ndarray,
    strike: np.ndarray,
    expiry: np.ndarray,
    dts: np.ndarray,
    e_hash: np.ndarray,
    e_t: np.ndarray,
    e_np: np.ndarray,
    flow_cfg: Mapping[str, Any],
) -> dict[str, Any]:
    """The ``structure*`` event columns: label, id, number of legs (contracts) and net premium
    (USD: premium of the legs bought minus premium of the legs sold, by each leg's aggressor
    side; a leg at mid counts 0); null outside structures. ``structure_net_delta`` is filled by
    the engine once deltas are known. ``e_hash`` is a per-event hash of (session, underlying,
    contract) used for the structure id."""
    ne = len(e_gid)
    inside = e_gid >= 0
    codes = np.full(ne, -1, np.int64)
    id_codes = np.full(ne, -1, np.int64)
    id_cats: np.ndarray = np.zeros(0, dtype=object)
    legs_e = np.zeros(ne, np.int64)
    netp = np.full(ne, np.nan)
    ng = 0
    by_label: dict[str, int] = {}
    if inside.any():
        sel = np.flatnonzero(inside)
        ug, g = np.unique(e_gid[sel], return_inverse=True)
        g = g.reshape(-1)
        ng = len(ug)
        dte = (expiry[sel] - dts[sel]).astype(np.int64)
        p = {**STRUCTURE_DEFAULTS, **{k: flow_cfg[k] for k in STRUCTURE_DEFAULTS if k in flow_cfg}}
        lab = label_code(
            g, e_ccode[sel], e_size[sel], is_call[sel], strike[sel],
            expiry[sel].astype(np.int64), dte, int(p["roll_max_dte"]), int(p["structure_max_ratio"]),
        )
        dirn = np.where(e_side[sel] < MID, 1.0, np.where(e_side[sel] > MID, -1.0, 0.0))
        net = np.bincount(g, weights=dirn * e_prem[sel], minlength=ng)
        pair = np.unique(g * (int(e_ccode.max()) + 1) + e_ccode[sel])
        legs = np.bincount(pair // (int(e_ccode.max()) + 1), minlength=ng)
        # id from the structure's first time, its prints and its contracts (order-free sum)
        o = np.argsort(g, kind="stable")
        gs = np.flatnonzero(np.r_[True, g[o][1:] != g[o][:-1]])
        first_t = np.minimum.reduceat(e_t[sel][o], gs)
        nprint = np.add.reduceat(e_np[sel][o].astype(np.uint64), gs)
        hsum = np.add.reduceat(e_hash[sel][o].astype(np.uint64), gs)
        ids = hex_strings(mix(first_t.astype(np.int64).view(np.uint64), nprint, hsum)).to_numpy(dtype=object)
        codes[sel] = lab[g]
        id_cats, id_inv = np.unique(ids, return_inverse=True)
        id_codes[sel] = id_inv.reshape(-1)[g]
        legs_e[sel] = legs[g]
        netp[sel] = net[g]
        by_label = {
            STRUCTURES[k]: int(v)
            for k, v in enumerate(np.bincount(lab, minlength=len(STRUCTURES)))
            if v
        }
    legs_col = pd.array(legs_e, dtype="Int64")
    legs_col[~inside] = pd.NA
    return {
        "structure": pd.Categorical.from_codes(codes, categories=list(STRUCTURES)),
        # a categorical: few distinct ids among millions of mostly-null events
        "structure_id": pd.Categorical.from_codes(id_codes, categories=pd.Index(id_cats, dtype=object)),
        "structure_legs": legs_col,
        "structure_net_premium": netp,
        "_n": ng,
        "_by_label": by_label,
    }


#: columns of ``flow.flow_events`` the engine adds after classification (chain snapshot, spot)
ENRICHED_COLUMNS = ("open_interest", "vol_oi", "iv", "delta", "chain_date", "spot", "otm_pct", "dte",
                    "structure_net_delta")
#: what :func:`classify_prints` returns: the declared event columns before enrichment
EVENT_COLUMNS = [c for c in FLOW_EVENTS.column_names if c not in ENRICHED_COLUMNS]


def empty_events() -> pd.DataFrame:
    """An events frame with no rows (same columns as a classified batch before context)."""
    ev = pd.DataFrame({c: pd.Series([], dtype=object) for c in EVENT_COLUMNS})
    for c in ("sentiment_sign", "event_type_code", "side_code"):
        ev[c] = pd.Series([], dtype=np.int8)
    return ev
