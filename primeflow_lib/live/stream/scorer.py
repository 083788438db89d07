"""Incremental scoring: each print is classified and scored once, as soon as nothing that can
still arrive could change the result, with the daily batch path's own rules.

The daily path (:func:`primeflow_lib.flow.engine.score_batch`) sees a whole session at once. The
stream sees prints one chunk at a time and keeps only what a new print can still affect:

* **per contract**: the newest timestamp received (late prints), the running volume in received
  order (``day_volume``), the tick-rule state after its last committed print (price and
  direction), the prints of its orders that are still open;
* **per underlying**: the prints whose multi-leg structure bucket is not complete yet;
* **per session**: the strategies' order memory (clusters, repeats, earlier sessions), the
  context tables (bars, daily bars, regime, the previous snapshot's gamma levels) and the
  previous chain snapshot (open interest, IV, delta).

The **frontier** ``F`` is the newest SIP time received minus the allowed lateness
(``stream.lateness_ms``): every print with a timestamp before ``F`` is taken to have arrived. An
order is *committed* when no print can join it any more (its sweep window ``flow.sweep_window_ms``
has passed ``F``, or the contract's next print already started a new order, and every print in
it has a final structure bucket: ``flow.structure_window_ms`` passed too); it is *scored* once
every order of its ticker that ended at or before it is committed too (its end + sweep window +
structure window < ``F``), because DayTrend counts those in its cluster. The classification uses
the classifier's rule functions and kernels (:mod:`primeflow_lib.flow.classify`); context,
enrichment and strategies are the engine's (:mod:`primeflow_lib.flow.engine`), so a replayed
session gives the daily batch's events and signals, ids included (tested).

Where the stream *cannot* match the batch, because what arrives changes an order it already
committed and alerted, it says so: a :class:`Divergence` per print (cancel of a committed print,
a late print inside or next to a committed order, a print older than the frontier, a bar missing
when an order was scored), stored in ``stream.divergences``. The daily re-scoring is exact.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.arrays import hash_strings, mix
from primeflow_lib.flow import classify as CL
from primeflow_lib.flow import classify_kernels as K
from primeflow_lib.flow import conditions as C
from primeflow_lib.flow.context import ContextTables, context_rows, context_tables
from primeflow_lib.flow.engine import (
    HISTORY_COLUMNS,
    SnapshotLookup,
    candidate_rows,
    chain_snapshot,
    enrich_events,
    known_sessions,
    pool_rows,
    score_limits,
)
from primeflow_lib.flow.strategies import Pools, empty_signals, run_strategies
from primeflow_lib.flow.validate import TARGET, validate_prints
from primeflow_lib.live.stream.kernels import bucket_starts, tick_directions
from primeflow_lib.schema.flow import FLOW_CONTEXT, FLOW_EVENTS
from primeflow_lib.schema.quarantine import empty_quarantine, quarantine_rows

NS_MS = 1_000_000
INT64_MIN = np.iinfo(np.int64).min
INT64_MAX = np.iinfo(np.int64).max
#: structure state of a tail print: bucket not complete yet / no structure
UNDECIDED, NO_STRUCTURE = -2, -1
#: prefix of a committed print's order id until the step's events are built (no real id has it)
_HOLDER = "\x00order:"
#: why the stream could not judge a print as the daily batch does
DIVERGENCE_REASONS = (
    "cancel_of_committed_print",
    "late_print_splits_committed_order",
    "late_print_changes_committed_side",
    "print_behind_frontier",
    "context_bar_missing",
)
#: a loader of the scoring inputs of a session: ``(day, tickers) -> {"bars_1m", "daily_bars",
#: "chain", "gamma", "history"}`` as :func:`primeflow_lib.flow.inputs.load_scoring_inputs`
Loader = Callable[[dt.date, list[str]], dict[str, pd.DataFrame]]


@dataclass
class Divergence:
    """One print the stream could not judge as the daily batch does (see module doc)."""

    rx: int
    reason: str
    detail: str
    print_id: str | None = None
    option_symbol: str | None = None
    print_ts: dt.datetime | None = None
    event_ids: list[str] = field(default_factory=list)


@dataclass
class StepResult:
    """What one :meth:`StreamScorer.advance` produced.

    Attributes:
        events: scored orders in commit order: their classification columns, and every enriched
            ``flow.flow_events`` column when the scorer keeps events.
        context: their ``flow.flow_context`` rows (same order) when the scorer keeps events.
        signals: ``flow.signals`` rows of those orders.
        quarantine: ``flow.quarantine`` rows of prints rejected since the last step (row_number =
            the print's receipt number ``rx``).
        divergences: see :class:`Divergence`.
        done_rx: receipt numbers of every print whose processing is finished (in a scored order,
            quarantined, dropped by a counted rule): what may now go to the sensor path's inbox.
        event_rx: per row of ``events``, the receipt numbers of its prints.
    """

    events: pd.DataFrame
    context: pd.DataFrame
    signals: pd.DataFrame
    quarantine: pd.DataFrame
    divergences: list[Divergence]
    done_rx: np.ndarray
    event_rx: list[np.ndarray] = field(default_factory=list)


class SessionMarket:
    """The market context of one session for the stream, loaded once per underlying and kept in
    memory: context tables, the previous chain snapshot, the strategies' memory of earlier
    sessions, the bars the plausibility rules read.

    Args:
        day: the session.
        cfg: the loaded config.
        loader: reads the inputs of a list of tickers (see :data:`Loader`).
    """

    def __init__(self, day: dt.date, cfg: dict[str, Any], loader: Loader) -> None:
        self.day = day
        self.cfg = cfg
        self.loader = loader
        self.tickers: set[str] = set()
        self.bars: pd.DataFrame | None = None
        self.daily: pd.DataFrame | None = None
        self.chain: pd.DataFrame | None = None
        self.gamma: pd.DataFrame | None = None
        self.history = pd.DataFrame({c: pd.Series([], dtype=object) for c in HISTORY_COLUMNS})
        self.tables: ContextTables = context_tables(None, None, cfg, None)
        self.snapshot = chain_snapshot(None, 0)
        self.lookup = SnapshotLookup(self.snapshot)  # open interest, IV, delta by symbol
        self.session_highs: pd.DataFrame | None = None
        self._chain_names: set[str] | None = None
        self.day_ns = int(pd.Timestamp(day).value)
        self.loads = 0
        self.load_seconds = 0.0

    def ensure(self, tickers: list[str]) -> bool:
        """Load the inputs of ``tickers`` not loaded yet; True when something was loaded."""
        new = sorted(set(tickers) - self.tickers)
        if not new:
            return False
        t0 = time.perf_counter()
        got = self.loader(self.day, new)
        self.tickers |= set(new)

        def add(old: pd.DataFrame | None, part: pd.DataFrame | None) -> pd.DataFrame | None:
            if part is None or not len(part):
                return old
            if old is None or not len(old):
                return part
            return pd.concat([old, part], ignore_index=True).drop_duplicates()

        self.bars = add(self.bars, got.get("bars_1m"))
        self.daily = add(self.daily, got.get("daily_bars"))
        self.chain = add(self.chain, got.get("chain"))
        self.gamma = add(self.gamma, got.get("gamma"))
        hist = got.get("history")
        if hist is not None and len(hist):
            self.history = add(self.history, hist[list(HISTORY_COLUMNS)])
        self.tables = context_tables(self.bars, self.daily, self.cfg, self.gamma)
        self.session_highs = _session_highs(self.bars, self.day)
        self.snapshot = chain_snapshot(self.chain, self.day_ns)
        self.lookup = SnapshotLookup(self.snapshot)
        self._chain_names = None
        self.loads += 1
        self.load_seconds += time.perf_counter() - t0
        return True

    def has_chain(self, option_symbol: str) -> bool:
        """Whether the previous chain snapshot lists the contract (its open interest is known)."""
        if self._chain_names is None:
            self._chain_names = set(self.snapshot["option_symbol"].astype(str)) if len(self.snapshot) else set()
        return option_symbol in self._chain_names

    def fresh_bars(self) -> pd.DataFrame | None:
        """Read the loaded tickers' 1-minute bars again (a live session: bars that closed since
        the start); pass the result to :meth:`refresh_bars`. Safe to call from another thread."""
        if not self.tickers:
            return None
        return self.loader(self.day, sorted(self.tickers)).get("bars_1m")

    def refresh_bars(self, bars_1m: pd.DataFrame | None) -> None:
        """Replace the session's 1-minute bars (see :meth:`fresh_bars`)."""
        if bars_1m is None or not len(bars_1m):
            return
        self.bars = bars_1m
        self.tables = context_tables(self.bars, self.daily, self.cfg, self.gamma)
        self.session_highs = _session_highs(self.bars, self.day)

    def last_bar_close_ns(self, ticker: str) -> int:
        """Wall-time ns at which the newest bar of ``ticker`` in this session closed (INT64_MIN
        when it has none)."""
        bf = self.tables.bars
        if not len(bf):
            return INT64_MIN
        names = bf.attrs["tickers"]
        pos = np.searchsorted(names, ticker)
        if pos >= len(names) or names[pos] != ticker:
            return INT64_MIN
        sel = (bf["ticker_code"].to_numpy() == pos) & (bf["date_ns"].to_numpy() == self.day_ns)
        return int(bf["close_ns"].to_numpy()[sel].max()) if sel.any() else INT64_MIN


class _Contracts:
    """The session's contracts, numbered as first seen (growing arrays: ``cols`` are views, so
    a step reads them without converting the session's contracts again)."""

    FIELDS: dict[str, Any] = {"option_symbol": object, "underlying": object, "expiry": object, "right": object,
                              "strike": object, "given": object, "vendor": object, "u": np.int64}

    def __init__(self) -> None:
        self.code: dict[str, int] = {}
        self.table = _GrowingTape(self.FIELDS)
        self.max_ts = np.zeros(0, np.int64)
        self.cum = np.zeros(0, np.int64)
        self.last_t = np.zeros(0, np.int64)  # newest committed print (time order), INT64_MIN: none
        self.last_price = np.zeros(0, np.float64)
        self.last_dir = np.zeros(0, np.int8)

    def __len__(self) -> int:
        return len(self.table)

    @property
    def cols(self) -> dict[str, np.ndarray]:
        return self.table.cols

    def add(self, rows: dict[str, list[Any]]) -> None:
        """Number new contracts after the known ones (``rows``: a list per field, in order)."""
        self.table.append(_Tape({k: np.asarray(v, dtype=self.FIELDS[k]) for k, v in rows.items()}))

    def grow(self, n: int) -> None:
        add = n - len(self.max_ts)
        if add <= 0:
            return
        self.max_ts = np.append(self.max_ts, np.full(add, INT64_MIN))
        self.cum = np.append(self.cum, np.zeros(add, np.int64))
        self.last_t = np.append(self.last_t, np.full(add, INT64_MIN))
        self.last_price = np.append(self.last_price, np.zeros(add))
        self.last_dir = np.append(self.last_dir, np.zeros(add, np.int8))

    def frame(self, codes: np.ndarray) -> pd.DataFrame:
        """The contracts ``codes`` as a ``contracts`` frame of the classifier (row i = codes[i])."""
        return pd.DataFrame({k: np.asarray(self.cols[k], dtype=object)[codes]
                             for k in ("option_symbol", "underlying", "expiry", "right", "strike")})


class _Tape:
    """Rows of prints as named numpy columns (the stream's open tail, its committed history)."""

    FIELDS: dict[str, Any] = {
        "rx": np.int64, "c": np.int64, "u": np.int64, "t": np.int64, "wall": np.int64,
        "price": np.float64, "size": np.int64, "exch": np.int64, "flags": np.uint16,
        "bid": np.float64, "ask": np.float64, "code0": np.int8, "conf": np.int8, "late": np.bool_,
        "seq": np.int64, "vseq": np.int64, "has_vseq": np.bool_, "cum": np.int64,
        "sgroup": np.int64, "pid": object,
    }

    def __init__(self, cols: dict[str, np.ndarray] | None = None) -> None:
        self.cols = cols or {k: np.zeros(0, dt_) for k, dt_ in self.FIELDS.items()}

    def __len__(self) -> int:
        return len(self.cols["rx"])

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["cols"][name]
        except KeyError:
            raise AttributeError(name) from None

    def take(self, idx: np.ndarray) -> _Tape:
        return _Tape({k: v[idx] for k, v in self.cols.items()})

    def append(self, other: _Tape) -> None:
        self.cols = {k: np.concatenate([v, other.cols[k]]) for k, v in self.cols.items()}

    def keep(self, mask: np.ndarray) -> None:
        self.cols = {k: v[mask] for k, v in self.cols.items()}


class _GrowingTape(_Tape):
    """A :class:`_Tape` that grows in place: its columns are views of buffers whose capacity
    doubles, so appending a step's rows costs what they add, not what the tape holds (the
    committed history spans ``history_minutes``: at 1x live a busy universe's hundreds of
    thousands of prints, copied whole every step before). The views stay writable: an item
    written through ``cols`` (a cancelled print's order) is written to the buffer."""

    def __init__(self, fields: dict[str, Any] | None = None) -> None:
        self._buf = {k: np.zeros(1024, dt_) for k, dt_ in (fields or self.FIELDS).items()}
        self._n = 0
        self._views()

    def _views(self) -> None:
        self.cols = {k: b[: self._n] for k, b in self._buf.items()}

    def __len__(self) -> int:
        return self._n

    def append(self, other: _Tape) -> None:
        k = len(next(iter(other.cols.values())))
        if not k:
            return
        need = self._n + k
        for name, b in self._buf.items():
            if need > len(b):
                grown = np.zeros(max(need, 2 * len(b)), b.dtype)
                grown[: self._n] = b[: self._n]
                self._buf[name] = b = grown
            b[self._n: need] = other.cols[name]
        self._n = need
        self._views()

    def keep(self, mask: np.ndarray) -> None:
        k = int(np.count_nonzero(mask))
        for b in self._buf.values():
            b[:k] = b[: self._n][mask]
        self._n = k
        self._views()


#: the per-print facts of the committed history besides its tape (:class:`_GrowingTape` fields)
_HIST_FACTS = {"start": np.bool_, "tick": np.bool_, "dir": np.int8, "event": object}


@dataclass
class _Build:
    """Orders ready for their event rows: the tape (time order per order), where each order
    starts, the per-print side codes, confidences, classes and structure numbers, and what to do
    with the orders' ids once built."""

    tape: _Tape
    starts: np.ndarray
    code: np.ndarray
    conf: np.ndarray
    pclass: np.ndarray
    sgroup: np.ndarray
    after: Callable[[np.ndarray], None] | None = None


class StreamScorer:
    """Scores one session's prints incrementally (see the module doc).

    Args:
        day: the session.
        cfg: the loaded config (``flow``, strategies, ``conditions``, ``sessions``,
            ``plausibility``, and ``stream`` for ``lateness_ms`` and ``history_minutes``).
        market: the session's :class:`SessionMarket`.
        source: stored in quarantine rows (``stream:<source>``).
        wall_ns: the wall clock (UTC ns) the "clock that jumps" rule compares with.
        keep_events: enrich every order (``StepResult.events`` then has every
            ``flow.flow_events`` column and ``context`` every row); by default only the orders a
            strategy could take get context, the rest keep their classification columns.

    Use: :meth:`add` each chunk of received prints (in received order, with their receipt
    numbers ``rx``), then :meth:`advance` to commit and score what became final; :meth:`flush`
    at the end of the session (or of a replay) scores everything left.
    """

    def __init__(self, day: dt.date, cfg: dict[str, Any], market: SessionMarket, *, source: str = "stream",
                 keep_events: bool = False, wall_ns: Callable[[], int] = time.time_ns) -> None:
        self.day = day
        self.wall_ns = wall_ns
        self.keep_events = keep_events
        self.cfg = cfg
        self.flow_cfg = cfg["flow"]
        self.market = market
        self.source = source
        scfg = cfg.get("stream") or {}
        self.lateness_ns = int(round(float(scfg.get("lateness_ms", 0.0)) * NS_MS))
        self.history_ns = int(round(float(scfg.get("history_minutes", 30.0)) * 60e9))
        self.window_ns = np.int64(round(float(self.flow_cfg["sweep_window_ms"]) * NS_MS))
        sp = {**CL.STRUCTURE_DEFAULTS, **{k: self.flow_cfg[k] for k in CL.STRUCTURE_DEFAULTS if k in self.flow_cfg}}
        self.struct_ns = np.int64(round(float(sp["structure_window_ms"]) * NS_MS))
        self.maps = C.load_condition_maps(cfg.get("conditions"))
        self.limits = score_limits(cfg)
        self.date_hash = hash_strings(np.asarray([str(day)], dtype=object))
        self.contracts = _Contracts()
        self.und_code: dict[str, int] = {}
        self.und_names: list[str] = []
        self.und_bounds = np.zeros((0, 2), np.int64)
        self.tail = _Tape()
        self.hist = _GrowingTape()  # committed prints kept ``history_minutes`` (late prints, cancels)
        self._hist_index: tuple[np.ndarray, np.ndarray] | None = None  # see _hist_rows
        # per history row: starts an order, took its side from the tick rule, direction, order id
        self.hist_facts = _GrowingTape(_HIST_FACTS)
        # scored orders (id, underlying, last print's SIP time), kept ``history_minutes``
        self.log_event = np.zeros(0, dtype=object)
        self.log_u = np.zeros(0, np.int64)
        self.log_t = np.zeros(0, np.int64)
        self.isolated = _Tape()  # late prints older than their contract's committed orders
        self.watermark = INT64_MIN
        self.sfront = np.zeros(0, np.int64)  # per underlying: prints before it have final buckets
        self.next_sgroup = 0
        self.dedup: dict[int, set[int]] = {}  # minute -> identity hashes seen
        self.pending_events: list[pd.DataFrame] = []  # committed, not scored yet
        self.pending_t_last: list[np.ndarray] = []
        self.pool = _Pool()
        self.builds = 0  # steps that committed orders (their placeholder ids)
        #: committed orders that lost a print to a cancel this chunk (event id -> contract code)
        self.stale: dict[str, int] = {}
        self.pool_ids: dict[str, list[str]] = {}  # order rebuilt after a cancel -> its ids in the pool
        self.vocab_names: dict[str, dict[str, int]] = {"ticker": {}, "option_symbol": {}}
        self._vocab_cache: dict[str, pd.Index] | None = None
        self.prior_pool: pd.DataFrame | None = None
        self.sessions: np.ndarray | None = None
        self.quarantine: list[pd.DataFrame] = []
        self.divergences: list[Divergence] = []
        self.done: list[np.ndarray] = []
        self.counts: dict[str, Any] = {
            "prints": 0, "quarantined": 0, "duplicates": 0, "compression_dropped": 0, "cancels": 0,
            "cancelled_prints": 0, "cancels_unmatched": 0, "late_prints": 0, "events": 0, "signals": 0,
            "divergences": {r: 0 for r in DIVERGENCE_REASONS}, "funnel": {},
            # contracts missing from the previous chain snapshot (scored with open interest
            # unknown, as the daily batch does); underlyings with no 1-minute bars (no spot)
            "contracts_without_chain": 0, "underlyings_without_bars": 0,
        }
        #: seconds spent per step kind (add, structures, commit, score), for the heartbeat
        self.timings: dict[str, float] = {}

    # ------------------------------------------------------------------ vocabulary and memory

    def _vocab(self) -> dict[str, pd.Index]:
        if self._vocab_cache is None:
            self._vocab_cache = {k: pd.Index(list(v), dtype=object) for k, v in self.vocab_names.items()}
        return self._vocab_cache

    def _learn(self, col: str, values: Any) -> None:
        names = self.vocab_names[col]
        for v in pd.unique(np.asarray(values, dtype=object).astype(str)):
            if v not in names:
                names[v] = len(names)
                self._vocab_cache = None

    def _memory(self) -> None:
        """Pools of earlier sessions, once the history of the tickers seen is loaded."""
        hist = self.market.history
        self._learn("ticker", hist["ticker"].astype(str)) if len(hist) else None
        self._learn("option_symbol", hist["option_symbol"].astype(str)) if len(hist) else None
        self.prior_pool = pool_rows(hist, self.limits.pool_floor, self._vocab())
        day = pd.Timestamp(self.day).to_datetime64().astype("datetime64[D]")
        self.sessions = known_sessions(
            np.asarray([day]), hist["trade_date"] if len(hist) else None,
            self.market.daily["trade_date"] if self.market.daily is not None and len(self.market.daily) else None,
        )

    # per history row (writable views of hist_facts): starts an order, took its side from the
    # tick rule, its direction, its order's id ("" once its print is cancelled)
    hist_start = property(lambda self: self.hist_facts.cols["start"])
    hist_tick = property(lambda self: self.hist_facts.cols["tick"])
    hist_dir = property(lambda self: self.hist_facts.cols["dir"])
    hist_event = property(lambda self: self.hist_facts.cols["event"])

    def _pool_today(self) -> pd.DataFrame:
        return self.pool.frame()

    # ------------------------------------------------------------------ arrival

    def add(self, prints: pd.DataFrame, rx: np.ndarray, *, now: dt.datetime | None = None) -> None:
        """Take one chunk of received prints (``flow.option_prints`` columns, received order;
        ``rx`` their receipt numbers in the session). Validation, duplicates, compression and
        cancels are decided here; the rest waits in the open tail for :meth:`advance`."""
        n = len(prints)
        if not n:
            return
        t_add = time.perf_counter()
        try:
            self._add(prints, rx, now)
        finally:
            self._time("add", time.perf_counter() - t_add)

    def _add(self, prints: pd.DataFrame, rx: np.ndarray, now: dt.datetime | None) -> None:
        n = len(prints)
        now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
        rx = np.asarray(rx, np.int64)
        self.counts["prints"] += n
        tick_names = prints["underlying"].dropna().astype(str).unique().tolist() if "underlying" in prints else []
        if self.market.ensure(tick_names) or self.prior_pool is None:
            self._memory()
        # a clock that jumps ahead: a print stamped later than the wall clock allows is not
        # scored (it would move the frontier past every open order)
        ahead_ns = int(float((self.cfg.get("stream") or {}).get("max_future_seconds", 60.0)) * 1e9)
        sip = pd.to_numeric(prints["sip_timestamp"], errors="coerce").to_numpy(np.float64) \
            if "sip_timestamp" in prints else np.full(n, np.nan)
        future = np.isfinite(sip) & (sip > self.wall_ns() + ahead_ns)
        if future.any():
            bad = prints.iloc[np.flatnonzero(future)]
            self.quarantine.append(quarantine_rows(
                TARGET, bad, source=f"stream:{self.source}", field="sip_timestamp",
                value=bad["sip_timestamp"].to_numpy(dtype=object), row_number=rx[future],
                reason=f"sip_timestamp more than stream.max_future_seconds ({ahead_ns / 1e9:g} s) ahead "
                "of the wall clock: a clock that jumped",
                trade_date=[self.day] * len(bad), now=now))  # fmt: skip
            self.counts["quarantined"] += int(future.sum())
            self.done.append(rx[future])
            keep_rows = np.flatnonzero(~future)
            prints, rx = prints.iloc[keep_rows], rx[keep_rows]
            n = len(prints)
            if not n:
                return
        v = validate_prints(prints, source=f"stream:{self.source}", now=now,
                            rules=self.cfg.get("plausibility"), bars_1m=self.market.session_highs)
        if len(v.quarantine):
            q = v.quarantine.copy()
            q["row_number"] = rx[q["row_number"].astype(np.int64).to_numpy()]
            self.quarantine.append(q)
            self.counts["quarantined"] += int(q["row_number"].nunique())
            self.done.append(np.unique(q["row_number"].to_numpy(np.int64)))
        good = v.good
        if not len(good):
            return
        grx = rx[good["row_number"].to_numpy(np.int64)]
        # contracts: global codes, static attributes from the first print seen
        cons = v.contracts
        local = cons["option_symbol"].astype(str).to_numpy(dtype=object)
        gcode = np.empty(len(local), np.int64)
        cc = self.contracts
        given = good["underlying"].to_numpy(dtype=object) if "underlying" in good else np.full(len(good), None)
        vendor = good["vendor"].to_numpy(dtype=object) if "vendor" in good else np.full(len(good), None)
        lc = good["contract_code"].to_numpy(np.int64)
        first_row = np.full(len(local), -1, np.int64)
        first_row[lc[::-1]] = np.arange(len(good) - 1, -1, -1)
        new: dict[str, list[Any]] = {k: [] for k in cc.FIELDS}
        attrs: dict[str, np.ndarray] | None = None
        for i, sym in enumerate(local):
            code = cc.code.get(sym)
            if code is None:
                if attrs is None:  # the parsed attributes as arrays, once (a row of the frame: ~75 us)
                    attrs = {k: cons[k].to_numpy(dtype=object) for k in ("underlying", "expiry", "right")}
                    attrs["strike"] = cons["strike"].to_numpy(np.float64)
                code = len(cc) + len(new["option_symbol"])
                cc.code[sym] = code
                fr = first_row[i]
                g = given[fr] if fr >= 0 else None
                parsed = attrs["underlying"][i]
                und = parsed if g is None or pd.isna(g) or g == "" else g
                ven = vendor[fr] if fr >= 0 else None
                for k, val in (("option_symbol", sym), ("underlying", parsed), ("expiry", attrs["expiry"][i]),
                               ("right", attrs["right"][i]), ("strike", attrs["strike"][i]), ("given", str(und)),
                               ("vendor", "unknown" if ven is None or pd.isna(ven) else ven),
                               ("u", self._underlying(str(und), parsed))):
                    new[k].append(val)
                if not self.market.has_chain(sym):
                    self.counts["contracts_without_chain"] += 1
            gcode[i] = code
        if new["option_symbol"]:
            cc.add(new)
        cc.grow(len(cc))
        c = gcode[lc]
        u = np.asarray(cc.cols["u"], np.int64)[c]
        self._learn("option_symbol", local)
        self._learn("ticker", np.asarray(cc.cols["given"], dtype=object)[np.unique(c)])
        ts = good["sip_timestamp"].to_numpy(np.int64)
        seq = pd.to_numeric(good["seq"], errors="coerce").to_numpy(np.float64) if "seq" in good else np.full(len(good), np.nan)
        seq = np.where(np.isfinite(seq), seq, grx).astype(np.int64)
        vq = pd.to_numeric(good["vendor_sequence"], errors="coerce").to_numpy(np.float64) if "vendor_sequence" in good else np.full(len(good), np.nan)
        has_vseq = np.isfinite(vq)
        vseq = np.where(has_vseq, vq, -1).astype(np.int64)
        flags, _pair, _unknown = CL.condition_flags(good, self.maps, v.conditions)
        # rule 6 (product session) on every print: it only reads the print
        wall = CL.wall_ns(good)
        tod = wall - (wall // CL.NS_DAY) * CL.NS_DAY
        oos = CL.rule_session(tod, self.und_bounds[u])
        flags = np.where(oos, flags | C.F_EXTENDED, flags).astype(np.uint16)
        # rules 1-2: late by timestamp, against everything received on the contract before
        order = np.lexsort((np.arange(len(c)), seq, c))
        cs, tss = c[order], ts[order]
        gstart = np.r_[True, cs[1:] != cs[:-1]]
        gid = np.cumsum(gstart) - 1
        runmax = pd.Series(tss).groupby(gid).cummax().to_numpy(np.int64)
        prev = np.where(gstart, INT64_MIN, np.r_[INT64_MIN, runmax[:-1]])
        late_ts = np.zeros(len(c), np.bool_)
        late_ts[order] = tss < np.maximum(prev, cc.max_ts[cs])
        np.maximum.at(cc.max_ts, c, ts)
        late = ((flags & C.F_LATE) != 0) | late_ts
        # rule 3: the same record delivered twice
        # identity hashes of the distinct condition texts and vendors, taken per print by code
        cond_hash = hash_strings(np.asarray(v.conditions, dtype=object))[good["condition_code"].to_numpy(np.int64)]
        vendors, vcode = np.unique(np.asarray(vendor, dtype=object).astype(str), return_inverse=True)
        ident = np.where(has_vseq, vseq, seq)
        key = mix(c.astype(np.uint64), ts.view(np.uint64), ident.view(np.uint64),
                  pd.to_numeric(good["exchange"]).to_numpy(np.int64).view(np.uint64),
                  good["price"].to_numpy(np.float64).view(np.uint64),
                  good["size"].to_numpy(np.float64).astype(np.int64).view(np.uint64),
                  cond_hash, hash_strings(vendors)[vcode.reshape(-1)])
        dup = self._duplicates(ts // 60_000_000_000, key, order)
        is_cancel = ((flags & C.F_CANCEL) != 0) & ~dup
        is_comp = ((flags & C.F_COMPRESSION) != 0) & ~is_cancel & ~dup
        alive = ~is_comp & ~dup & ~is_cancel
        self.counts["duplicates"] += int(dup.sum())
        self.counts["compression_dropped"] += int(is_comp.sum())
        self.counts["cancels"] += int(is_cancel.sum())
        rejected = []
        if dup.any():
            rejected.append((np.flatnonzero(dup), "print_id", CL.REASON_DUPLICATE))
        # rule 12: running volume of the contract in received order (alive prints)
        size = good["size"].to_numpy(np.float64).astype(np.int64)
        cum = np.zeros(len(c), np.int64)
        so = order[alive[order]]
        if len(so):
            cs2 = c[so]
            g2 = np.cumsum(np.r_[True, cs2[1:] != cs2[:-1]]) - 1
            csum = np.cumsum(size[so])
            base = (csum - size[so])[np.flatnonzero(np.r_[True, cs2[1:] != cs2[:-1]])][g2]
            cum[so] = cc.cum[cs2] + csum - base
            np.add.at(cc.cum, cs2, size[so])
        venue = CL.venue_quotes(good)
        code0, conf = CL.print_sides(good["price"].to_numpy(np.float64), _col(good, "bid"), _col(good, "ask"),
                                     venue, self.flow_cfg)
        new = _Tape({
            "rx": grx, "c": c, "u": u, "t": ts, "wall": wall, "price": good["price"].to_numpy(np.float64),
            "size": size, "exch": pd.to_numeric(good["exchange"]).to_numpy(np.int64), "flags": flags,
            "bid": _col(good, "bid"), "ask": _col(good, "ask"), "code0": code0, "conf": conf, "late": late,
            "seq": seq, "vseq": vseq, "has_vseq": has_vseq, "cum": cum,
            "sgroup": np.full(len(c), UNDECIDED, np.int64),
            "pid": good["print_id"].to_numpy(dtype=object) if "print_id" in good else np.full(len(c), None, object),
        })
        # received order across the chunk for the frontier (arrival = row order)
        arrival = np.argsort(good["row_number"].to_numpy(np.int64), kind="stable")
        wm = np.maximum.accumulate(np.r_[self.watermark, ts[arrival]])
        behind = np.zeros(len(c), np.bool_)
        behind[arrival] = ts[arrival] < wm[:-1] - self.lateness_ns
        self.watermark = int(wm[-1])
        # cancels (rule 5): they need the tail and the committed history
        for i in np.flatnonzero(is_cancel)[np.argsort(grx[is_cancel], kind="stable")]:
            if not self._cancel(new, i, alive):
                rejected.append((np.asarray([i]), "conditions", CL.REASON_UNMATCHED_CANCEL))
        self._rebuild_stale_orders()
        for rows, fld, reason in rejected:
            sub = good.iloc[np.sort(rows)]
            self.quarantine.append(quarantine_rows(
                TARGET, sub.drop(columns=[x for x in ("row_number", "contract_code", "condition_code") if x in sub]),
                source=f"stream:{self.source}", reason=reason, field=fld,
                value=sub[fld].to_numpy(dtype=object) if fld in sub else None,
                row_number=grx[np.sort(rows)], trade_date=[self.day] * len(sub), now=now))  # fmt: skip
            self.counts["quarantined"] += len(rows)
        self.done.append(grx[~alive])
        keep = np.flatnonzero(alive)
        self.counts["late_prints"] += int(late[keep].sum())
        # a late print older than its contract's committed orders is an order of its own now
        into = late[keep] & (ts[keep] < cc.last_t[c[keep]])
        if into.any():
            iso = new.take(keep[into])
            iso.cols["sgroup"][:] = NO_STRUCTURE
            self.isolated.append(iso)
        rest = keep[~into]
        # a print older than the frontier: its neighbours may be committed already
        for i in rest[behind[rest] & ~late[rest]]:
            self._diverge(new, i, "print_behind_frontier",
                          f"arrived {(wm[-1] - ts[i]) / 1e6:.1f} ms behind the newest print; orders and "
                          "structure buckets before the frontier were already committed")
        late_struct = behind[rest] & (ts[rest] < self.sfront[u[rest]])
        tail_new = new.take(rest)
        tail_new.cols["sgroup"] = np.where(tail_new.late | late_struct, NO_STRUCTURE, UNDECIDED).astype(np.int64)
        self.tail.append(tail_new)

    def _duplicates(self, minute: np.ndarray, key: np.ndarray, order: np.ndarray) -> np.ndarray:
        """Rule 3 for a chunk: True where a print's identity ``key`` was seen before in its
        minute, in earlier chunks or earlier in ``order`` (received order within each contract;
        contracts do not interact); the chunk's new identities are remembered. Set operations
        per minute, not a Python step per print (a burst step holds tens of thousands)."""
        n = len(key)
        dup = np.zeros(n, np.bool_)
        if not n:
            return dup
        mo, ko = minute[order], key[order]
        # within the chunk: every occurrence of a (minute, key) after the first in ``order``
        o2 = np.lexsort((np.arange(n), ko, mo))
        again = np.r_[False, (mo[o2][1:] == mo[o2][:-1]) & (ko[o2][1:] == ko[o2][:-1])]
        dup_o = np.zeros(n, np.bool_)
        dup_o[o2[again]] = True
        first = ~dup_o
        # against earlier chunks: the first occurrences, minute by minute
        for m in np.unique(mo):
            sel = np.flatnonzero(first & (mo == m))
            bucket = self.dedup.setdefault(int(m), set())
            ks = ko[sel].tolist()
            seen = bucket.intersection(ks)
            if seen:
                dup_o[sel[np.isin(ko[sel], np.fromiter(seen, np.uint64, len(seen)))]] = True
            bucket.update(ks)
        dup[order] = dup_o
        return dup

    def _underlying(self, name: str, root: str) -> int:
        code = self.und_code.get(name)
        if code is None:
            code = len(self.und_names)
            self.und_code[name] = code
            self.und_names.append(name)
            b = CL.session_bounds(np.asarray([root], dtype=object), self.cfg.get("sessions"))
            self.und_bounds = np.vstack([self.und_bounds, b])
            if self.market.last_bar_close_ns(name) == INT64_MIN:
                self.counts["underlyings_without_bars"] += 1
            self.sfront = np.append(self.sfront, INT64_MIN)
        return code

    def _cancel(self, new: _Tape, i: int, alive: np.ndarray) -> bool:
        """Rule 5 for the cancel at row ``i`` of ``new``: remove the nearest earlier live print
        (time order) with its contract, price and size; True when one was found."""
        c, t, rx = new.c[i], new.t[i], new.rx[i]
        pkey = np.round(new.price[i] * 10000)
        best = None  # (t, rx, where, index)

        def scan(tp: _Tape, where: str) -> None:
            nonlocal best
            if not len(tp):
                return
            # the contract's rows first: the history holds up to stream.history_minutes of every
            # contract, and a burst brings hundreds of cancels a second
            js = self._hist_rows(c) if where == "hist" else np.flatnonzero(tp.c == c)
            if not len(js):
                return
            tj, rj = tp.t[js], tp.rx[js]
            m = (np.round(tp.price[js] * 10000) == pkey) & (tp.size[js] == new.size[i])
            m &= (tj < t) | ((tj == t) & (rj < rx))
            if where == "hist":
                m &= self.hist_event[js] != ""  # a cancelled print is gone
            elif where == "new":
                m &= alive[js] & ((new.flags[js] & C.F_CANCEL) == 0)
            for j in js[m]:
                cand = (int(tp.t[j]), int(tp.rx[j]))
                if best is None or cand > best[:2]:
                    best = (*cand, where, j)

        scan(self.tail, "tail")
        scan(self.isolated, "isolated")
        scan(self.hist, "hist")
        scan(new, "new")
        if best is None:
            self.counts["cancels_unmatched"] += 1
            return False
        self.counts["cancelled_prints"] += 1
        _, trx, where, j = best
        size = int(new.size[i])
        if where == "new":
            alive[j] = False  # reported done with the chunk's other dropped prints
        elif where in ("tail", "isolated"):
            tp = self.tail if where == "tail" else self.isolated
            tp.keep(np.arange(len(tp)) != j)
            self.done.append(np.asarray([trx]))
        else:
            ev = str(self.hist_event[j])
            rows_c = self._hist_rows(c)  # an order's prints share its contract
            t_last = int(self.hist.t[rows_c[self.hist_event[rows_c] == ev]].max())
            later = rows_c[self.hist.rx[rows_c] > trx]
            # scored orders of the ticker that counted this order in their memory (DayTrend's
            # cluster, REPEAT) or this print in their volume
            u = int(self.contracts.cols["u"][c])
            seen = (self.log_u == u) & (self.log_t >= t_last)
            events = sorted({ev, *self.hist_event[later].tolist(), *self.log_event[seen].tolist()} - {""})
            self.hist_event[j] = ""  # cancelled: no other cancel can take it
            self.stale[ev] = int(c)  # rebuilt in the memory once the chunk's cancels are all in
            self._diverge(new, i, "cancel_of_committed_print",
                          f"cancels print rx {trx} of an order already committed and alerted; the daily "
                          "batch drops both, counts less volume for the contract's later orders and "
                          "remembers the order without it (the stream's memory is corrected from now on)",
                          event_ids=events)
        self._uncount(new, c, trx, size)
        self.contracts.cum[c] -= size
        return True

    def _hist_rows(self, c: int) -> np.ndarray:
        """The committed history's rows of contract ``c``, ascending: from one index of the
        history by contract, built again only after the history changed (a scan of the whole
        history per cancel or late print was O(history): at 1x live that is 30 minutes of
        every contract's prints, for each of hundreds of cancels a second in a burst)."""
        if self._hist_index is None:
            order = np.argsort(self.hist.c, kind="stable")
            self._hist_index = (order, self.hist.c[order])
        order, cs = self._hist_index
        return order[np.searchsorted(cs, c, "left"):np.searchsorted(cs, c, "right")]

    def _rebuild_stale_orders(self) -> None:
        """Committed orders that lost prints to cancels since the last call (``self.stale``):
        rebuild each from the prints it has left, as the daily batch sees it, and put that in the
        strategies' memory in place of the old order. All of a step's in one order pass and one
        event build (a rebuild costs milliseconds of fixed work: a burst brings dozens of
        cancels a second); each order under a key of its own, its tick rule continued from the
        live committed print of its contract just before it."""
        if not self.stale:
            return
        contract_of, self.stale = self.stale, {}
        stale = sorted(contract_of)
        # an order rebuilt before may sit in the memory under another id (its first print gone)
        self.pool.drop_many([i for e in stale for i in self.pool_ids.pop(e, [e])])
        hs, he = self.hist, self.hist_event
        rows_of, bt, bp, bd = [], [], [], []
        for e in stale:
            # the order's rows among its contract's (the history holds every contract's)
            rows_c = self._hist_rows(contract_of[e])
            rows = rows_c[he[rows_c] == e]
            if not len(rows):
                continue
            rows = rows[np.lexsort((hs.rx[rows], hs.t[rows]))]
            t, rx = hs.t[rows[0]], hs.rx[rows[0]]
            mine = rows_c[he[rows_c] != ""]  # the contract's live committed prints
            before = mine[(hs.t[mine] < t) | ((hs.t[mine] == t) & (hs.rx[mine] < rx))]
            if len(before):
                b = before[np.lexsort((hs.rx[before], hs.t[before]))[-1]]
                bt.append(hs.t[b]), bp.append(hs.price[b]), bd.append(self.hist_dir[b])
            else:
                bt.append(INT64_MIN), bp.append(0.0), bd.append(0)
            rows_of.append((e, rows))
        if not rows_of:
            return
        idx = np.concatenate([r for _, r in rows_of])
        key = np.repeat(np.arange(len(rows_of), dtype=np.int64), [len(r) for _, r in rows_of])
        keyed = hs.take(idx)
        real_c = keyed.c.copy()
        keyed.cols["c"] = key
        bt_, bp_, bd_ = np.asarray(bt, np.int64), np.asarray(bp, np.float64), np.asarray(bd, np.int8)
        has = np.flatnonzero(bt_ != INT64_MIN)
        full, is_ghost, code, start, pclass, _dirs = self._order_pass(keyed, (has, bt_[has], bp_[has], bd_[has]))
        k = np.flatnonzero(~is_ghost)
        r = full.take(k)
        owner = r.c.copy()
        r.cols["c"] = real_c[np.searchsorted(key, owner)]
        starts = np.flatnonzero(start[k])
        ev = self._events(r, starts, code[k], r.conf, pclass[k], r.sgroup, pools=True)
        for (e, _), ids in zip(rows_of, _split_by(owner[starts], ev["event_id"].astype(str).to_numpy(dtype=object),
                                                   len(rows_of)), strict=True):
            self.pool_ids[e] = list(ids)
        self.counts["events"] -= len(ev)  # not new orders: the memory's version of old ones
        self.counts["events_rebuilt"] = self.counts.get("events_rebuilt", 0) + len(ev)

    def _uncount(self, new: _Tape, c: int, trx: int, size: int) -> None:
        """A cancelled print never counted toward volume: take it out of the running volume of
        every print of its contract received after it that is still open."""
        for tp in (self.tail, self.isolated, new):
            if len(tp):
                m = (tp.c == c) & (tp.rx > trx)
                tp.cols["cum"] = np.where(m, tp.cum - size, tp.cum)

    def _diverge(self, tp: _Tape, i: int, reason: str, detail: str, event_ids: list[str] | None = None) -> None:
        sym = self.contracts.cols["option_symbol"][int(tp.c[i])]
        self.divergences.append(Divergence(
            rx=int(tp.rx[i]), reason=reason, detail=detail, print_id=None if tp.pid[i] is None else str(tp.pid[i]),
            option_symbol=sym, print_ts=pd.Timestamp(int(tp.wall[i])).to_pydatetime(), event_ids=event_ids or []))
        self.counts["divergences"][reason] += 1

    def observe_clock(self, clock_ns: int | None) -> None:
        """The source promises no later print older than ``clock_ns`` (SIP time, UTC ns): the
        frontier may move there even when no print of this session's underlyings arrives."""
        if clock_ns is not None and clock_ns > self.watermark:
            self.watermark = int(clock_ns)

    # ------------------------------------------------------------------ commit and score

    def advance(self, *, final: bool = False) -> StepResult:
        """Commit the orders no print can change any more and score those every earlier order
        of their ticker is known for (``final``: the session or the replay ended: everything)."""
        frontier = INT64_MAX if final else self.watermark - self.lateness_ns
        if self.watermark == INT64_MIN and not final:
            return self._result([], [])
        t0 = time.perf_counter()
        self._structures(frontier)
        built = [b for b in (self._commit(frontier), self._isolated()) if b is not None]
        parts = [self._build(built)] if built else []
        t1 = time.perf_counter()
        out = self._result(parts, [], frontier=frontier)
        self._time("commit", t1 - t0)
        self._time("score", time.perf_counter() - t1)
        self._prune()
        return out

    def _time(self, what: str, sec: float) -> None:
        self.timings[what] = self.timings.get(what, 0.0) + sec

    def _prune(self) -> None:
        """Forget print identities older than ``stream.dedup_minutes``."""
        keep = (self.watermark - int(float((self.cfg.get("stream") or {}).get("dedup_minutes", 60)) * 60e9)) // 60_000_000_000
        for m in [m for m in self.dedup if m < keep]:
            del self.dedup[m]

    def flush(self) -> StepResult:
        """Score everything still open (end of the session or of a replay)."""
        return self.advance(final=True)

    def _structures(self, frontier: int) -> None:
        """Rule 7 on the prints whose bucket can be complete: buckets that ended before the
        frontier get their final structure number; later ones wait."""
        tp = self.tail
        und = np.flatnonzero(tp.sgroup == UNDECIDED)
        if not len(und):
            return
        o = und[np.lexsort((tp.rx[und], tp.c[und], tp.t[und], tp.u[und]))]
        uk, t = tp.u[o], tp.t[o]
        bstart = bucket_starts(uk, t, self.struct_ns)
        done = t[bstart] + self.struct_ns < frontier
        if not done.any():
            return
        p = {**CL.STRUCTURE_DEFAULTS, **{k: self.flow_cfg[k] for k in CL.STRUCTURE_DEFAULTS if k in self.flow_cfg}}
        g = K.find_structures(
            uk, t, tp.c[o], tp.size[o], (tp.flags[o] & C.F_MULTILEG) != 0, tp.vseq[o], tp.has_vseq[o],
            self.struct_ns, int(p["structure_max_ratio"]), int(p["structure_max_legs"]),
            int(p["structure_max_seq_gap"]), bool(p["structure_waive_ratio_for_flagged"]),
        )
        sg = tp.cols["sgroup"]
        fin = o[done]
        gfin = g[done]
        uniq = np.unique(gfin[gfin >= 0])
        # the k-th structure found gets the next number + k; prints in none keep NO_STRUCTURE
        sg[fin] = np.where(gfin >= 0, self.next_sgroup + np.searchsorted(uniq, gfin), NO_STRUCTURE).astype(np.int64)
        self.next_sgroup += len(uniq)
        # a print arriving later inside a finished bucket can no longer join it
        ends = t[bstart][done] + self.struct_ns + 1
        np.maximum.at(self.sfront, uk[done], ends)

    def _ghosts(self, cs: np.ndarray, last_t: np.ndarray, last_price: np.ndarray, last_dir: np.ndarray) -> _Tape:
        """Two prints per contract key ``cs`` that put the tick rule where a committed print
        left it (``last_t``, ``last_price``, ``last_dir``) and force the next print to start an
        order (they are marked late; their events are discarded)."""
        n = len(cs)
        p = np.asarray(last_price, np.float64)
        d = np.asarray(last_dir).astype(np.float64)
        price = np.empty(2 * n)
        price[0::2] = p * (1.0 - 0.5 * d)
        price[1::2] = p
        z = np.zeros(2 * n)
        return _Tape({
            "rx": np.full(2 * n, -1, np.int64), "c": np.repeat(cs, 2), "u": np.zeros(2 * n, np.int64),
            "t": np.repeat(np.asarray(last_t, np.int64), 2), "wall": np.zeros(2 * n, np.int64), "price": price,
            "size": np.ones(2 * n, np.int64), "exch": np.zeros(2 * n, np.int64),
            "flags": np.zeros(2 * n, np.uint16), "bid": z + np.nan, "ask": z + np.nan,
            "code0": np.full(2 * n, -1, np.int8), "conf": np.zeros(2 * n, np.int8),
            "late": np.ones(2 * n, np.bool_), "seq": np.full(2 * n, -1, np.int64),
            "vseq": np.full(2 * n, -1, np.int64), "has_vseq": np.zeros(2 * n, np.bool_),
            "cum": np.zeros(2 * n, np.int64), "sgroup": np.full(2 * n, NO_STRUCTURE, np.int64),
            "pid": np.full(2 * n, None, object),
        })

    def _order_pass(self, tp: _Tape, before: tuple[np.ndarray, ...] | None = None,
                    ) -> tuple[_Tape, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rules 8-9 on ``tp`` (time order per contract) after the ghosts of its contracts:
        returns (tape with ghosts, is-ghost mask, side codes, start flags, pclass, tick-rule
        direction after each print). ``before``: ``(keys, t, price, dir)`` of the committed print
        each contract key of ``tp.c`` continues from (default: the contracts' last committed
        print)."""
        if before is None:
            cc = self.contracts
            cs = np.unique(tp.c)
            cs = cs[cc.last_t[cs] != INT64_MIN]
            before = (cs, cc.last_t[cs], cc.last_price[cs], cc.last_dir[cs])
        cs = before[0]
        g = self._ghosts(*before)
        full = _Tape({k: np.concatenate([g.cols[k], tp.cols[k]]) for k in tp.cols})
        is_ghost = np.r_[np.ones(len(g), np.bool_), np.zeros(len(tp), np.bool_)]
        rank = np.r_[np.tile([0, 1], len(cs)), np.full(len(tp), 2)]
        o = np.lexsort((full.rx, rank, full.t, full.c))
        full = full.take(o)
        is_ghost = is_ghost[o]
        pclass = np.where(((full.flags & C.F_MULTILEG) != 0) | (full.sgroup >= 0), 1,
                          np.where((full.flags & C.F_STOCKOPT) != 0, 2, 0)).astype(np.int8)
        negotiated = (full.flags & C.F_NEGOTIATED) != 0
        code, start = K.tick_and_group(full.c, full.t, full.price, full.code0, full.late, pclass, negotiated,
                                       full.sgroup, self.window_ns)
        dirs = tick_directions(full.c, full.price, full.code0, code)
        return full, is_ghost, code, start, pclass, dirs

    def _commit(self, frontier: int) -> pd.DataFrame | None:
        """Rules 8-12 on the open tail; commit every complete order (see module doc)."""
        tp = self.tail
        if not len(tp):
            return None
        o = np.lexsort((tp.rx, tp.t, tp.c))
        tp = tp.take(o)
        # per contract, only the prints before its first undecided structure bucket can group
        und = tp.sgroup == UNDECIDED
        cstart = np.r_[True, tp.c[1:] != tp.c[:-1]]
        grp = np.cumsum(cstart) - 1
        seen_und = _group_cummax(grp, und)
        dec = ~seen_und
        first_und_t = np.full(grp[-1] + 1, INT64_MAX)
        np.minimum.at(first_und_t, grp[und], tp.t[und])
        sub = tp.take(np.flatnonzero(dec))
        if not len(sub):
            return None
        full, is_ghost, code, start, pclass, dirs = self._order_pass(sub)
        real = np.flatnonzero(~is_ghost)
        r = full.take(real)
        code, start, pclass, dirs = code[real], start[real], pclass[real], dirs[real]
        # an order is complete when the contract's next print started a new one, or nothing can
        # join it any more (its window passed the frontier and the contract's first undecided print)
        rgrp = np.searchsorted(np.unique(r.c), r.c)
        ucs = np.unique(r.c)
        lim = np.minimum(frontier, first_und_t[np.searchsorted(np.unique(tp.c), ucs)])
        sidx = np.flatnonzero(start)
        seg_end = np.append(sidx[1:], len(r))  # exclusive
        same_c_next = np.zeros(len(sidx), np.bool_)
        nxt = seg_end < len(r)
        same_c_next[nxt] = r.c[seg_end[nxt]] == r.c[sidx[nxt]]
        first_t = r.t[sidx]
        complete = same_c_next | (first_t + self.window_ns < lim[rgrp[sidx]])
        # per contract: the orders up to the first incomplete one; a structure's legs commit
        # together (a leg held back holds back the others, which may hold back more)
        sg = r.sgroup[sidx]
        seg_grp = rgrp[sidx]
        take_seg = ~_group_cummax(seg_grp, ~complete)
        while (sg >= 0).any():
            bad = np.isin(sg, np.unique(sg[(sg >= 0) & ~take_seg])) & (sg >= 0)
            if not (bad & take_seg).any():
                break
            take_seg &= ~_group_cummax(seg_grp, bad)
        if not take_seg.any():
            return None
        lens = seg_end - sidx
        pmask = np.repeat(take_seg, lens)
        pos = np.flatnonzero(pmask)
        ct = r.take(pos)
        cstart_seg = np.cumsum(np.r_[0, lens[take_seg][:-1]])
        # contract state after its last committed print (time order)
        last = np.r_[ct.c[1:] != ct.c[:-1], True]
        cc = self.contracts
        lc = ct.c[last]
        cc.last_t[lc] = ct.t[last]
        cc.last_price[lc] = ct.price[last]
        cc.last_dir[lc] = dirs[pos][last]
        # out of the tail
        gone = np.zeros(len(self.tail), np.bool_)
        gone[np.isin(self.tail.rx, ct.rx)] = True
        self.tail.keep(~gone)
        # committed history, for late prints (this step's too) and cancels still to come; the
        # orders' ids are known once the step's events are built: placeholders until then
        seg_of = np.repeat(np.arange(len(cstart_seg)), np.diff(np.r_[cstart_seg, len(ct)]))
        self.builds += 1  # placeholders of one step never match another's (a build that failed)
        tag = f"{_HOLDER}{self.builds}:"
        holders = np.asarray([f"{tag}{k}" for k in range(len(cstart_seg))], dtype=object)
        self._remember(ct, start[pos], code[pos] >= 0, ct.code0 < 0, dirs[pos], holders[seg_of])
        n = len(ct)
        return _Build(ct, cstart_seg, code[pos], ct.conf, pclass[pos], ct.sgroup,
                      lambda ids: self._name_holders(ids, n, tag))

    def _name_holders(self, event_ids: np.ndarray, n: int, tag: str) -> None:
        """Replace the placeholder ids (``tag`` + order number) of this step's ``n`` committed
        prints (the newest rows of the history) and of the divergences that named them by their
        orders' ids."""
        ids = np.asarray([str(e) for e in event_ids], dtype=object)
        he = self.hist_event
        base = max(len(he) - n, 0)
        # one hash lookup of the step's rows against the placeholders (tag + order number)
        pos = pd.Index(np.asarray([f"{tag}{k}" for k in range(len(ids))], dtype=object)).get_indexer(he[base:])
        hit = np.flatnonzero(pos >= 0)
        he[base + hit] = ids[pos[hit]]
        named = [d for d in self.divergences if any(e.startswith(_HOLDER) for e in d.event_ids)]
        if named:
            real = {f"{tag}{k}": e for k, e in enumerate(ids)}
            for d in named:
                d.event_ids = [real.get(e, e) for e in d.event_ids]

    def _remember(self, ct: _Tape, start: np.ndarray, _quoted: np.ndarray, tick: np.ndarray,
                  dirs: np.ndarray, events: np.ndarray) -> None:
        self._hist_index = None
        self.hist.append(ct)
        self.hist_facts.append(_Tape({"start": np.asarray(start, np.bool_), "tick": np.asarray(tick, np.bool_),
                                      "dir": np.asarray(dirs, np.int8), "event": np.asarray(events, dtype=object)}))
        cut = self.watermark - self.history_ns
        if len(self.hist) > 4096 and (self.hist.t < cut).mean() > 0.5:
            k = self.hist.t >= cut
            self.hist.keep(k)
            self.hist_facts.keep(k)

    def _isolated(self) -> pd.DataFrame | None:
        """Late prints older than their contract's committed orders: each its own order (rule 1),
        its tick rule continued from the committed print before it; a committed order it would
        split, or a committed side it would change, is a divergence."""
        iso = self.isolated
        if not len(iso):
            return None
        self.isolated = _Tape()
        hs = self.hist
        live = self.hist_event != ""
        n = len(iso)
        # the committed print before each late print (one scan of the history per print)
        bt = np.full(n, INT64_MIN, np.int64)
        bp = np.zeros(n, np.float64)
        bd = np.zeros(n, np.int8)
        for i in range(n):
            c, t, rx = int(iso.c[i]), int(iso.t[i]), int(iso.rx[i])
            mine = self._hist_rows(c)
            mine = mine[live[mine]]
            if not len(mine):
                continue
            ht, hrx = hs.t[mine], hs.rx[mine]
            earlier = (ht < t) | ((ht == t) & (hrx < rx))
            after = mine[~earlier]
            if len(after):
                a = after[np.lexsort((hs.rx[after], hs.t[after]))[0]]
                if not self.hist_start[a]:
                    self._diverge(iso, i, "late_print_splits_committed_order",
                                  "a late print inside a committed order: the daily batch splits that order "
                                  "at it", event_ids=[str(self.hist_event[a])])
                elif self.hist_tick[a]:
                    self._diverge(iso, i, "late_print_changes_committed_side",
                                  "the next committed print took its side from the tick rule against an "
                                  "earlier price; the daily batch compares it with this print",
                                  event_ids=[str(self.hist_event[a])])
            before = mine[earlier]
            if len(before):
                b = before[np.lexsort((hs.rx[before], hs.t[before]))[-1]]
                bt[i], bp[i], bd[i] = hs.t[b], hs.price[b], self.hist_dir[b]
        # all of them in one pass: each late print under a key of its own (its contract's
        # committed print before it is its own ghost state), then its contract back
        real_c = iso.c.copy()
        keyed = _Tape(dict(iso.cols))
        keyed.cols["c"] = np.arange(n, dtype=np.int64)
        has = np.flatnonzero(bt != INT64_MIN)
        full, is_ghost, code, start, pclass, _dirs = self._order_pass(keyed, (has, bt[has], bp[has], bd[has]))
        k = np.flatnonzero(~is_ghost)
        r = full.take(k)
        r.cols["c"] = real_c[r.c]
        return _Build(r, np.flatnonzero(start[k]), code[k], r.conf, pclass[k], r.sgroup)

    def _build(self, builds: list[_Build]) -> pd.DataFrame:
        """The events of a step's committed orders and isolated late prints in one event build
        (a build has a fixed cost of milliseconds), rows in the order of ``builds``; then each
        build's ``after`` with its orders' ids."""
        if len(builds) == 1:
            b = builds[0]
            ev = self._events(b.tape, b.starts, b.code, b.conf, b.pclass, b.sgroup)
        else:
            off = np.cumsum([0] + [len(b.tape) for b in builds[:-1]])
            tape = _Tape({k: np.concatenate([b.tape.cols[k] for b in builds]) for k in builds[0].tape.cols})
            ev = self._events(tape, np.concatenate([b.starts + o for b, o in zip(builds, off, strict=True)]),
                              *(np.concatenate([getattr(b, f) for b in builds]) for f in ("code", "conf", "pclass", "sgroup")))
        ids = ev["event_id"].to_numpy(dtype=object)
        first = 0
        for b in builds:
            if b.after is not None:
                b.after(ids[first:first + len(b.starts)])
            first += len(b.starts)
        return ev

    def _events(self, ct: _Tape, starts: np.ndarray, code: np.ndarray, conf: np.ndarray,
                pclass: np.ndarray, sgroup: np.ndarray, *, pools: bool = True) -> pd.DataFrame:
        """``flow.flow_events`` rows (before enrichment) of the committed orders in ``ct`` with
        the classifier's own :func:`~primeflow_lib.flow.classify.build_events`."""
        codes, inv = np.unique(ct.c, return_inverse=True)
        inv = inv.reshape(-1)
        cc = self.contracts
        tape = _Tape(dict(ct.cols))
        tape.cols["rows"] = np.arange(len(ct))
        tape.cols["pos"] = ct.rx
        ev, _ = CL.build_events(
            tape, starts, code, conf, pclass, sgroup,
            wall=ct.wall, date_code=np.zeros(len(ct), np.int64), dates=[self.day], ccode=inv,
            contracts=cc.frame(codes), print_ids=pd.Series(ct.pid, dtype="str"),
            underlying=np.asarray(cc.cols["given"], dtype=object)[codes],
            vendor=np.asarray(cc.cols["vendor"], dtype=object)[codes],
            day_volume=lambda e_last: ct.cum[e_last], flow_cfg=self.flow_cfg,
        )  # fmt: skip
        ev["dte"] = (ev["expiry"].to_numpy("datetime64[D]") - ev["trade_date"].to_numpy("datetime64[D]")).astype(np.int64)
        ev["_t_last"] = ct.t[np.append(starts[1:], len(ct)) - 1]
        ev["_rx"] = [ct.rx[a:b] for a, b in zip(starts, np.append(starts[1:], len(ct)), strict=True)]
        if pools:
            self.pool.append(pool_rows(ev, self.limits.pool_floor, self._vocab()))
        self.counts["events"] += len(ev)
        return ev

    def _result(self, committed: list[pd.DataFrame], _unused: list, *, frontier: int = INT64_MIN) -> StepResult:
        if committed:
            self.pending_events.extend(committed)
        if frontier == INT64_MAX:
            ready_cut = INT64_MAX
        elif frontier == INT64_MIN:
            ready_cut = INT64_MIN
        else:
            ready_cut = frontier - int(self.window_ns) - int(self.struct_ns)
        ready, wait = [], []
        for ev in self.pending_events:
            m = ev["_t_last"].to_numpy(np.int64) < ready_cut
            if m.all():
                ready.append(ev)
            elif m.any():
                ready.append(ev[m].reset_index(drop=True))
                wait.append(ev[~m].reset_index(drop=True))
            else:
                wait.append(ev)
        self.pending_events = wait
        q = pd.concat(self.quarantine, ignore_index=True) if self.quarantine else empty_quarantine()
        self.quarantine = []
        div, self.divergences = self.divergences, []
        if not ready:
            done = np.concatenate(self.done) if self.done else np.zeros(0, np.int64)
            self.done = []
            return StepResult(_empty_events(), _empty_context(), empty_signals(), q, div, done)
        ev = pd.concat(ready, ignore_index=True)
        self._log(ev)
        done = np.concatenate([*self.done, *ev["_rx"].tolist()])
        self.done = []
        # context and strategies only for orders a strategy could take (cheap superset first;
        # ``keep_events`` enriches every order, for equivalence checks and diagnostics)
        lim = self.limits
        maybe = (
            (ev["premium"].to_numpy(np.float64) >= lim.floor)
            & (ev["sentiment_sign"].to_numpy() != 0)
            & (ev["dte"].to_numpy(np.int64) <= lim.max_dte)
        )
        sel = np.arange(len(ev)) if self.keep_events else np.flatnonzero(maybe)
        if not len(sel):  # no order a strategy could take (a third of the steps at 2,000 prints/s)
            return StepResult(ev.drop(columns=["_t_last", "_rx"]), _empty_context(), empty_signals(), q, div, done,
                              list(ev["_rx"]))
        part = ev.iloc[sel].reset_index(drop=True)
        ctx = context_rows(part, self.market.tables)
        enrich_events(part, ctx, self.market.lookup(part["option_symbol"]))
        cmask = maybe[sel]
        if cmask.all():  # without keep_events: every row (a row take of the wide frames costs ms)
            cpart, cctx = part, ctx
        else:
            cpart, cctx = part[cmask].reset_index(drop=True), ctx[cmask].reset_index(drop=True)
        div.extend(self._bar_check(cpart, cctx))
        signals = self._signals(cpart, cctx)
        events = (part if self.keep_events else ev).drop(columns=["_t_last", "_rx"])
        return StepResult(events, ctx if self.keep_events else _empty_context(), signals, q, div, done,
                          list(ev["_rx"]))

    def _log(self, ev: pd.DataFrame) -> None:
        names, inv = np.unique(ev["ticker"].to_numpy(dtype=object).astype(str), return_inverse=True)
        und = np.asarray([self.und_code.get(t, -1) for t in names], np.int64)[inv.reshape(-1)]
        self.log_event = np.concatenate([self.log_event, ev["event_id"].astype(str).to_numpy(dtype=object)])
        self.log_u = np.concatenate([self.log_u, und])
        self.log_t = np.concatenate([self.log_t, ev["_t_last"].to_numpy(np.int64)])
        cut = self.watermark - self.history_ns
        if len(self.log_t) > 8192 and (self.log_t < cut).mean() > 0.5:
            k = self.log_t >= cut
            self.log_event, self.log_u, self.log_t = self.log_event[k], self.log_u[k], self.log_t[k]

    def _bar_check(self, ev: pd.DataFrame, ctx: pd.DataFrame) -> list[Divergence]:
        """An order scored before the bars loaded reached its time (a live feed whose bars lag):
        the context used an older bar than the daily batch will."""
        out: list[Divergence] = []
        last_ts = ev["last_ts"].to_numpy("datetime64[ns]").view(np.int64)
        # the bar that closed at or before the event starts at floor(t - 1 minute)
        want = (last_ts - 60_000_000_000) // 60_000_000_000 * 60_000_000_000
        open_ns = self.market.day_ns + (9 * 60 + 30) * 60_000_000_000
        close_ns = self.market.day_ns + 16 * 3_600_000_000_000
        inside = (want >= open_ns) & (want < close_ns)
        if not inside.any():
            return out
        tick = ev["ticker"].astype(str).to_numpy(dtype=object)
        horizon = {t: self.market.last_bar_close_ns(t) for t in pd.unique(tick[inside])}
        for i in np.flatnonzero(inside):
            if horizon[tick[i]] >= want[i] + 60_000_000_000:
                continue
            rx = int(ev["_rx"].iloc[i][-1])
            out.append(Divergence(rx=rx, reason="context_bar_missing",
                                  detail=f"the 1-minute bar starting {pd.Timestamp(want[i])} was not loaded when the "
                                  "order was scored; its context used an earlier bar",
                                  option_symbol=str(ev["option_symbol"].iloc[i]),
                                  print_ts=pd.Timestamp(last_ts[i]).to_pydatetime(),
                                  event_ids=[str(ev["event_id"].iloc[i])]))
            self.counts["divergences"]["context_bar_missing"] += 1
        return out

    def _signals(self, ev: pd.DataFrame, ctx: pd.DataFrame) -> pd.DataFrame:
        vocab = self._vocab()
        cand = candidate_rows(ev, ctx, self.limits, vocab)
        if not len(cand):
            return empty_signals()
        today = self._pool_today()
        hist = self.prior_pool if self.prior_pool is not None else today.iloc[:0]
        day = pd.Timestamp(self.day).to_datetime64()
        same = hist[hist["trade_date"].to_numpy("datetime64[ns]") == day]
        pools = Pools(today=pd.concat([today, same], ignore_index=True),
                      prior=pd.concat([hist, today], ignore_index=True), sessions=self.sessions)
        signals, funnel = run_strategies(cand, self.cfg, pools)
        for kind, f in funnel.items():
            acc = self.counts["funnel"].setdefault(kind, {"evaluated": 0, "failed": {}, "signals": 0})
            acc["evaluated"] += f["evaluated"]
            acc["signals"] += f["signals"]
            for g, k in f["failed"].items():
                acc["failed"][g] = acc["failed"].get(g, 0) + k
        self.counts["signals"] += len(signals)
        return signals

    @property
    def open_prints(self) -> int:
        """Prints waiting for their order (or its scoring) to be final."""
        return len(self.tail) + len(self.isolated) + sum(
            int(sum(len(r) for r in e["_rx"])) for e in self.pending_events)


def _session_highs(bars: pd.DataFrame | None, day: dt.date) -> pd.DataFrame | None:
    """The session's highest 1-minute high per ticker (one row each): all the plausibility rule
    "call price above spot" reads from the bars, so validation does not regroup every bar."""
    if bars is None or not len(bars):
        return None
    b = bars[pd.to_datetime(bars["trade_date"]).dt.date == day]
    return b.groupby(["ticker", "trade_date"], as_index=False, sort=False)["high"].max()


def _col(df: pd.DataFrame, name: str) -> np.ndarray:
    if name not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)


def _split_by(owner: np.ndarray, values: np.ndarray, n: int) -> list[np.ndarray]:
    """``values`` (sorted by ``owner``, owners 0..n-1) as one array per owner."""
    cut = np.searchsorted(owner, np.arange(1, n))
    return np.split(values, cut)


def _group_cummax(grp: np.ndarray, flag: np.ndarray) -> np.ndarray:
    """True from the first True of ``flag`` to the end of each consecutive group ``grp``."""
    if not len(flag):
        return flag.astype(bool)
    starts = np.r_[True, grp[1:] != grp[:-1]]
    gid = np.cumsum(starts) - 1
    c = np.cumsum(flag.astype(np.int64))
    base = (c - flag.astype(np.int64))[np.flatnonzero(starts)][gid]
    return (c - base) > 0


_EMPTY: dict[str, pd.DataFrame] = {}


def _empty_events() -> pd.DataFrame:
    """An empty events frame (one shared object: nobody writes into it)."""
    if "events" not in _EMPTY:
        _EMPTY["events"] = pd.DataFrame({c: pd.Series([], dtype=object) for c in FLOW_EVENTS.column_names})
    return _EMPTY["events"]


def _empty_context() -> pd.DataFrame:
    if "context" not in _EMPTY:
        _EMPTY["context"] = pd.DataFrame({c: pd.Series([], dtype=object) for c in FLOW_CONTEXT.column_names})
    return _EMPTY["context"]


class _Pool:
    """The session's strategy memory (:func:`~primeflow_lib.flow.engine.pool_rows` rows) in
    growing arrays (a :class:`_GrowingTape` of its columns): appending a step's orders and
    handing the strategies a frame cost what the step adds, not what the day holds."""

    def __init__(self) -> None:
        self.rows: _GrowingTape | None = None
        self._frame: pd.DataFrame | None = None

    def append(self, rows: pd.DataFrame) -> None:
        if not len(rows):
            return
        cols = {c: rows[c].to_numpy() for c in rows.columns}
        if self.rows is None:
            self.rows = _GrowingTape({c: a.dtype for c, a in cols.items()})
        self.rows.append(_Tape(cols))
        self._frame = None

    def drop_many(self, event_ids: list[str]) -> None:
        if self.rows is None or not event_ids:
            return
        keep = ~np.isin(self.rows.cols["event_id"], np.asarray(event_ids, dtype=object))
        if keep.all():
            return
        self.rows.keep(keep)
        self._frame = None

    def frame(self) -> pd.DataFrame:
        if self._frame is None:
            if self.rows is None:
                self._frame = pool_rows(pd.DataFrame(), 0.0, {})
            else:
                self._frame = pd.DataFrame(dict(self.rows.cols), copy=False)
        return self._frame
