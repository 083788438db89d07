"""One entry point for scoring flow: :func:`score_batch`.

The daily partition assets and the near-live micro-batch job call the same function with the same
kinds of inputs; only the amount of data differs:

=====================  ====================================================================
input                  daily partition D                  near-live batch at time T of D
=====================  ====================================================================
prints                 all of D's ``flow.option_prints``   the micro-batch's prints
bars_1m                D's bars + the previous             bars of D up to T (nothing after)
                       ``flow.rvol_lookback_sessions``     + the previous sessions
                       sessions
daily_bars             daily bars of the tickers and the benchmark for at least
                       ``market_regime.trend_lookback_days + 1`` sessions before D
chain                  ``market.option_chain`` snapshots; only snapshots dated **before** D are
                       used (the latest per contract): OI, IV and delta as of the previous
                       session's snapshot (see docs/flow.md "Open interest")
history                ``flow.flow_events`` rows of the previous ``swing.repeat_lookback_days``
                       sessions                            + this session's earlier batches
=====================  ====================================================================

``score_batch`` never reads the warehouse and never raises on bad rows: rows that fail validation
are returned in ``FlowResult.quarantine`` and counted in ``FlowResult.stats``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.arrays import factorize
from primeflow_lib.flow.classify import classify_prints, empty_events, to_ns
from primeflow_lib.flow.conditions import load_condition_maps
from primeflow_lib.flow.context import CONTEXT_COLUMNS, build_context
from primeflow_lib.flow.scoring import TAGS
from primeflow_lib.flow.side import MID
from primeflow_lib.flow.strategies import Pools, empty_signals, run_strategies
from primeflow_lib.flow.validate import TARGET, validate_prints
from primeflow_lib.schema.flow import FLOW_EVENTS
from primeflow_lib.schema.quarantine import empty_quarantine, quarantine_rows

NS_DAY = 86_400_000_000_000
#: ``flow.flow_events`` columns, in order
EVENT_COLUMNS = FLOW_EVENTS.column_names
HISTORY_COLUMNS = (
    "trade_date",
    "event_id",
    "ticker",
    "option_symbol",
    "event_type",
    "sentiment",
    "premium",
    "size",
    "dte",
    "is_late",
    "non_directional",
    "last_ts",
)


@dataclass
class FlowResult:
    """What :func:`score_batch` returns.

    Attributes:
        events: ``flow.flow_events`` rows (one per order).
        context: ``flow.flow_context`` rows (one per event, same order).
        signals: ``flow.signals`` rows (rows round-trip through ``Signal.from_row``).
        quarantine: ``flow.quarantine`` rows (validation failures, unmatched cancels).
        stats: counts for asset metadata: ``prints`` (in / good / quarantined / cancels / late /
            compression / no quote / crossed quote / unknown conditions), ``quarantined_by_reason``,
            ``events_by_type``, ``events_by_side``, ``signals_by_kind``, ``signals_by_kind_tag``,
            ``funnel`` (per kind: evaluated, failed per gate, signals), ``timings_s``,
            ``first_print_ts`` / ``last_print_ts`` (ISO strings).
    """

    events: pd.DataFrame
    context: pd.DataFrame
    signals: pd.DataFrame
    quarantine: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)


def chain_snapshot(chain: pd.DataFrame | None, day_ns: int) -> pd.DataFrame:
    """The latest ``market.option_chain`` row per contract dated strictly before the session
    ``day_ns`` (ns of its midnight): ``option_symbol`` (no ``O:`` prefix), ``open_interest``,
    ``iv``, ``delta`` and ``d`` (the snapshot's date, ns). Empty without a usable chain."""
    if chain is None or len(chain) == 0:
        return pd.DataFrame(columns=["option_symbol", "open_interest", "iv", "delta", "d"])
    ch = chain[["trade_date", "option_symbol", "open_interest", "iv", "delta"]].copy()
    ch["d"] = to_ns(ch["trade_date"])
    ch["option_symbol"] = ch["option_symbol"].astype(str).str.replace("O:", "", regex=False)
    c = ch[ch["d"] < day_ns]
    c = c.sort_values(["option_symbol", "d"]).drop_duplicates("option_symbol", keep="last")
    return c.drop(columns="trade_date").reset_index(drop=True)


class SnapshotLookup:
    """(open_interest, iv, delta, chain_date ns) per symbol from a :func:`chain_snapshot`, the
    snapshot's symbol index and numeric columns built once (the stream looks symbols up in the
    same snapshot every step; building the index of a whole chain cost ~1 ms a step)."""

    def __init__(self, snapshot: pd.DataFrame) -> None:
        self.n = len(snapshot)
        self.index = pd.Index(snapshot["option_symbol"]) if self.n else pd.Index([])
        self.cols = {name: pd.to_numeric(snapshot[name], errors="coerce").to_numpy(np.float64, na_value=np.nan)
                     for name in ("open_interest", "iv", "delta")} if self.n else {}
        self.d = snapshot["d"].to_numpy(np.int64) if self.n else np.zeros(0, np.int64)

    def __call__(self, symbols: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = len(symbols)
        if not self.n or not n:
            nan = np.full(n, np.nan)
            return nan, nan.copy(), nan.copy(), np.full(n, np.iinfo(np.int64).min)
        codes, uniq = pd.factorize(symbols)
        idx = self.index.get_indexer(uniq)
        ok_u = idx >= 0
        take = np.where(ok_u, idx, 0)[codes]
        ok = ok_u[codes]
        oi, iv, de = (np.where(ok, self.cols[k][take], np.nan) for k in ("open_interest", "iv", "delta"))
        return oi, iv, de, np.where(ok, self.d[take], np.iinfo(np.int64).min)


def snapshot_lookup(
    snapshot: pd.DataFrame, symbols: pd.Series
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(open_interest, iv, delta, chain_date ns) per symbol from a :func:`chain_snapshot`
    (NaN / INT64 min where the contract has no row); see :class:`SnapshotLookup` for many
    lookups in one snapshot."""
    return SnapshotLookup(snapshot)(symbols)


def _chain_lookup(
    events: pd.DataFrame, chain: pd.DataFrame | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(open_interest, iv, delta, chain_date ns) per event from the latest snapshot strictly
    before the event's session."""
    ne = len(events)
    oi = np.full(ne, np.nan)
    iv = np.full(ne, np.nan)
    de = np.full(ne, np.nan)
    cd = np.full(ne, np.iinfo(np.int64).min)
    if chain is None or len(chain) == 0 or ne == 0:
        return oi, iv, de, cd
    ev_d = to_ns(events["trade_date"])
    for d in np.sort(pd.unique(ev_d)):
        sel = np.flatnonzero(ev_d == d)
        snap = chain_snapshot(chain, int(d))
        if not len(snap):
            continue
        oi[sel], iv[sel], de[sel], cd[sel] = snapshot_lookup(snap, events["option_symbol"].iloc[sel])
    return oi, iv, de, cd


def _history(history: pd.DataFrame | None, ev: pd.DataFrame) -> pd.DataFrame:
    cols = list(HISTORY_COLUMNS)
    if history is None or len(history) == 0:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    missing = [c for c in cols if c not in history.columns]
    if missing:
        raise ValueError(f"history frame lacks flow.flow_events columns {missing}")
    h = history[cols].reset_index(drop=True)
    if not len(ev):
        return h
    # a re-run that passes this batch's own earlier output must not count it twice: drop
    # history rows of the batch's sessions whose event_id is in the batch
    hd = to_ns(h["trade_date"]) // NS_DAY
    same = np.isin(hd, pd.unique(to_ns(ev["trade_date"]) // NS_DAY))
    if same.any():
        dup = np.zeros(len(h), bool)
        ids = pd.Index(ev["event_id"].astype(str).to_numpy(dtype=object))
        dup[same] = ids.get_indexer(h.loc[same, "event_id"].astype(str).to_numpy(dtype=object)) >= 0
        h = h[~dup].reset_index(drop=True)
    return h


def pool_rows(df: pd.DataFrame, min_premium: float, vocab: dict[str, pd.Index]) -> pd.DataFrame:
    """Directional, non-late orders at or above ``min_premium``, in the columns the strategies'
    memory uses (see :class:`~primeflow_lib.flow.strategies.Pools`)."""
    if len(df) == 0:
        return pd.DataFrame(
            {
                "tk_key": pd.Series([], dtype=np.int64),
                "sym_key": pd.Series([], dtype=np.int64),
                "trade_date": pd.Series([], dtype="datetime64[ns]"),
                "sentiment_sign": pd.Series([], dtype=np.int8),
                "event_type": pd.Series([], dtype=object),
                "premium": pd.Series([], dtype=np.float64),
                "dte": pd.Series([], dtype=np.int64),
                "ts_ns": pd.Series([], dtype=np.int64),
                "event_id": pd.Series([], dtype=object),
            }
        )
    if "sentiment_sign" in df:
        sign = df["sentiment_sign"].to_numpy().astype(np.int8)
    else:
        sign = _sentiment_sign(df["sentiment"])
    keep = (
        (sign != 0)
        & ~df["is_late"].astype(bool).to_numpy()
        & ~df["non_directional"].astype(bool).to_numpy()
        & (pd.to_numeric(df["premium"]).to_numpy(np.float64) >= min_premium)
    )
    idx = np.flatnonzero(keep)
    # the columns read below, then the rows (a row take of the whole events frame copied every column)
    d = df[["ticker", "option_symbol", "trade_date", "event_type", "premium", "dte", "last_ts", "event_id"]].iloc[idx]
    return pd.DataFrame(
        {
            "tk_key": codes_in(d["ticker"], vocab["ticker"]),
            "sym_key": codes_in(d["option_symbol"], vocab["option_symbol"]),
            "trade_date": to_ns(d["trade_date"]).astype("datetime64[ns]"),
            "sentiment_sign": sign[idx],
            "event_type": d["event_type"].astype(str).to_numpy(dtype=object),
            "premium": pd.to_numeric(d["premium"]).to_numpy(np.float64),
            "dte": pd.to_numeric(d["dte"]).to_numpy(np.int64),
            "ts_ns": to_ns(d["last_ts"]),
            # which order each row is (the strategies ignore it; the stream replaces a row when a
            # cancel changes an order it had already committed)
            "event_id": d["event_id"].astype(str).to_numpy(dtype=object),
        }
    )


def _sentiment_sign(sentiment: pd.Series) -> np.ndarray:
    """+1 bullish, -1 bearish, 0 otherwise (int8); compared in Arrow for a string column."""
    if isinstance(sentiment.dtype, pd.StringDtype):
        bull = (sentiment == "bullish").to_numpy(dtype=bool, na_value=False)
        bear = (sentiment == "bearish").to_numpy(dtype=bool, na_value=False)
    else:
        sent = sentiment.astype(str).to_numpy(dtype=object)
        bull, bear = sent == "bullish", sent == "bearish"
    return np.where(bull, 1, np.where(bear, -1, 0)).astype(np.int8)


def codes_in(values: pd.Series, vocab: pd.Index) -> np.ndarray:
    """Positions of ``values`` in ``vocab`` (categoricals map their categories only)."""
    codes, uniq = factorize(values)
    pos = vocab.get_indexer(np.asarray(uniq, dtype=object).astype(str))
    return np.where(codes >= 0, pos[np.maximum(codes, 0)] if len(pos) else -1, -1).astype(np.int64)


def _vocab(ev: pd.DataFrame, hist: pd.DataFrame) -> dict[str, pd.Index]:
    out = {}
    for col in ("ticker", "option_symbol"):
        _, u1 = factorize(ev[col])
        u2 = _distinct_str(hist[col]) if len(hist) else []
        out[col] = pd.Index(
            np.unique(
                np.concatenate(
                    [
                        np.asarray(u1, dtype=object).astype(str),
                        np.asarray(u2, dtype=object).astype(str),
                    ]
                )
            )
        )
    return out


def _distinct_str(values: pd.Series) -> np.ndarray:
    """The distinct values of ``values`` as strings (missing ones as ``"nan"``), in any order:
    the Arrow dictionary of a string column without missing values (most history frames),
    else through ``astype(str)``."""
    if isinstance(values.dtype, pd.StringDtype) and not values.isna().any():
        return factorize(values)[1]
    return pd.unique(values.astype(str).to_numpy(dtype=object))


def score_batch(
    prints: pd.DataFrame,
    bars_1m: pd.DataFrame | None,
    daily_bars: pd.DataFrame | None,
    chain: pd.DataFrame | None,
    cfg: dict[str, Any],
    history: pd.DataFrame | None = None,
    *,
    source: str = "batch",
    now: dt.datetime | None = None,
    gamma: pd.DataFrame | None = None,
    l2: pd.DataFrame | None = None,
) -> FlowResult:
    """Validate, classify, contextualise and score a batch of option prints.

    Args:
        prints: ``flow.option_prints`` rows (any order; several sessions allowed).
        bars_1m: ``market.ohlcv_intraday`` rows (see the module table for the span needed).
        daily_bars: ``market.ohlcv_daily`` rows of the tickers and the regime benchmark.
        chain: ``market.option_chain`` rows; only snapshots dated before each event's session
            are used.
        cfg: the loaded config (:func:`primeflow_lib.config.load_config`).
        history: earlier ``flow.flow_events`` rows (at least the columns in
            :data:`HISTORY_COLUMNS`): previous sessions for SwingAccumulation, and for near-live
            the same session's earlier micro-batches (DayTrend clusters, REPEAT, day volume).
            Rows whose ``event_id`` is in this batch are ignored, so re-scoring is idempotent.
        source: batch name stored in quarantine rows.
        now: timestamp for quarantine rows (UTC naive); default now.
        gamma: ``market.gamma_exposure`` rows (the previous session's, from
            :func:`primeflow_lib.flow.inputs.read_gamma_levels`) for the ``gex_*`` context
            fields; only rows dated before an event's session are used. None: fields unknown.
        l2: ``market.l2_features`` rows of the session (from
            :func:`primeflow_lib.flow.inputs.read_l2_features`) for the ``l2_*`` context fields;
            only minutes closed at or before each event are used. None: fields null.

    Returns:
        :class:`FlowResult`. Deterministic: the same inputs give identical frames and ids.
    """
    tm: dict[str, float] = {}
    t0 = time.perf_counter()
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)

    v = validate_prints(prints, source=source, now=now, rules=cfg.get("plausibility"), bars_1m=bars_1m)
    tm["validate"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    cl = _classify(v, cfg)
    ev = cl.events
    tm["classify"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    hist = _history(history, ev)
    _add_prior_volume(ev, hist)
    ne = len(ev)
    if ne:
        ctx = build_context(ev, bars_1m, daily_bars, cfg, gamma, l2)
        enrich_events(ev, ctx, _chain_lookup(ev, chain))
    else:
        ctx = pd.DataFrame({c: pd.Series([], dtype=object) for c in CONTEXT_COLUMNS})
        ev = empty_events()
        for c in EVENT_COLUMNS:
            if c not in ev:
                ev[c] = pd.Series([], dtype=object)
    tm["context"] = time.perf_counter() - t2

    t3 = time.perf_counter()
    signals, funnel = _score(ev, ctx, hist, daily_bars, cfg)
    tm["strategies"] = time.perf_counter() - t3

    quarantine = v.quarantine
    if cl.quarantine_rows:
        extra = pd.concat([_rejected(v.good, rows, fld, reason, source, now)
                           for rows, fld, reason in cl.quarantine_rows], ignore_index=True)
        quarantine = pd.concat([quarantine, extra], ignore_index=True) if len(quarantine) else extra
    if quarantine is None or not len(quarantine):
        quarantine = empty_quarantine()

    stats = _stats(v.counts, cl.counts, ev, signals, funnel, quarantine)
    tm["total"] = time.perf_counter() - t0
    stats["timings_s"] = {k: round(x, 4) for k, x in tm.items()}
    events_out = ev[EVENT_COLUMNS].reset_index(drop=True)
    return FlowResult(
        events=events_out,
        context=ctx.reset_index(drop=True),
        signals=signals,
        quarantine=quarantine.reset_index(drop=True),
        stats=stats,
    )


def enrich_events(
    ev: pd.DataFrame,
    ctx: pd.DataFrame,
    chain: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> None:
    """Add the enriched ``flow.flow_events`` columns in place: ``open_interest``, ``iv``,
    ``delta`` and ``chain_date`` from the previous snapshot (``chain`` as returned by
    :func:`snapshot_lookup`), ``vol_oi``, the structure's net delta, ``spot`` from the context
    rows (same order), ``otm_pct`` and ``dte``."""
    oi, iv, de, cd = chain
    spot = ctx["spot"].to_numpy(np.float64)
    strike = ev["strike"].to_numpy(np.float64)
    is_call = ev["right"].to_numpy(dtype=object) == "C"
    with np.errstate(invalid="ignore", divide="ignore"):
        otm = np.where(is_call, strike / spot - 1.0, 1.0 - strike / spot)
        vol = ev["day_volume"].to_numpy(np.float64)
        voi = np.where(np.isfinite(oi), vol / np.maximum(oi, 1.0), np.nan)
    dte = ev["expiry"].to_numpy("datetime64[D]") - ev["trade_date"].to_numpy("datetime64[D]")
    ev["open_interest"] = pd.array(np.where(np.isfinite(oi), oi, np.nan), dtype="Int64")
    ev["vol_oi"] = voi
    ev["iv"] = iv
    ev["delta"] = de
    ev["structure_net_delta"] = structure_net_delta(ev)
    ev["chain_date"] = np.where(
        cd == np.iinfo(np.int64).min, np.datetime64("NaT"), cd.astype("datetime64[ns]")
    ).astype("datetime64[ns]")
    ev["spot"] = spot
    ev["otm_pct"] = otm
    ev["dte"] = dte.astype(np.int64)


def structure_net_delta(ev: pd.DataFrame) -> np.ndarray:
    """Per event: its structure's net delta in shares of the underlying (sum over the legs of
    side x delta x size x 100, side +1 bought, -1 sold, 0 at mid); NaN outside structures or when
    a leg's delta is unknown."""
    out = np.full(len(ev), np.nan)
    sid = ev["structure_id"]
    inside = sid.notna().to_numpy()
    if not inside.any():
        return out
    side = ev["side_code"].to_numpy()[inside]
    dirn = np.where(side < MID, 1.0, np.where(side > MID, -1.0, 0.0))
    leg = dirn * ev["delta"].to_numpy(np.float64)[inside] * ev["size"].to_numpy(np.float64)[inside] * 100.0
    codes, _ = pd.factorize(sid[inside])
    total = np.bincount(codes, weights=np.nan_to_num(leg))
    unknown = np.bincount(codes, weights=np.isnan(leg).astype(float)) > 0
    out[np.flatnonzero(inside)] = np.where(unknown[codes], np.nan, total[codes])
    return out


def session_history(prints: pd.DataFrame, bars_1m: pd.DataFrame | None, cfg: dict[str, Any], *,
                    source: str = "history") -> pd.DataFrame:
    """The swing-memory rows (:data:`HISTORY_COLUMNS`) :func:`score_batch` produces for one
    session's prints, computed from the prints alone: validation (with the session's 1-minute
    bars, as :func:`score_batch` is given them) and classification, no context or strategies.

    Equal to ``history_rows(score_batch(prints, bars_1m, ...).events)`` (tested), so a run can
    rebuild the memory of the sessions before it without waiting for another run to store their
    events (the scale profile's parallel backfills)."""
    v = validate_prints(prints, source=source, now=dt.datetime(1970, 1, 1), rules=cfg.get("plausibility"),
                        bars_1m=bars_1m)
    ev = _classify(v, cfg).events
    if not len(ev):
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in HISTORY_COLUMNS})
    dte = ev["expiry"].to_numpy("datetime64[D]") - ev["trade_date"].to_numpy("datetime64[D]")
    return ev.assign(dte=dte.astype(np.int64))[list(HISTORY_COLUMNS)].reset_index(drop=True)


def _classify(v: Any, cfg: dict[str, Any]) -> Any:
    """Classification of validated prints ``v`` with the config's flow rules, condition maps and
    product sessions (the one call :func:`score_batch` and :func:`session_history` share)."""
    return classify_prints(
        v.good,
        v.contracts,
        cfg["flow"],
        conditions=v.conditions,
        condition_maps=load_condition_maps(cfg.get("conditions")),
        sessions=cfg.get("sessions"),
    )


def _add_prior_volume(ev: pd.DataFrame, hist: pd.DataFrame) -> None:
    """Add the contracts traded in earlier micro-batches of the same session to ``day_volume``."""
    if not len(hist) or not len(ev):
        return
    ev_day = to_ns(ev["trade_date"]) // NS_DAY
    h_day = to_ns(hist["trade_date"]) // NS_DAY
    codes, cats = factorize(ev["option_symbol"])
    cats = np.asarray(cats, dtype=object).astype(str)
    add = np.zeros(len(ev), np.int64)
    for d in np.sort(pd.unique(ev_day)):
        hs = hist[h_day == d]
        if not len(hs):
            continue
        pv = pd.to_numeric(hs["size"]).groupby(hs["option_symbol"].astype(str).to_numpy()).sum()
        per_cat = pv.reindex(cats).fillna(0).to_numpy(np.int64)
        sel = ev_day == d
        add[sel] = np.where(codes[sel] >= 0, per_cat[np.maximum(codes[sel], 0)], 0)
    ev["day_volume"] = ev["day_volume"].to_numpy(np.int64) + add


@dataclass(frozen=True)
class ScoreLimits:
    """The loosest thresholds over all strategies and per-ticker overrides: a cheap superset
    filter for candidates (``floor``: smallest ``min_premium``; ``max_dte``, ``max_otm``) and
    the smallest premium an order needs to count in the strategies' memory (``pool_floor``)."""

    floor: float
    pool_floor: float
    max_dte: float
    max_otm: float


def score_limits(cfg: dict[str, Any]) -> ScoreLimits:
    """:class:`ScoreLimits` of the config (sections ``scalp``, ``day_trade``, ``swing`` and their
    overrides under ``tickers.overrides``)."""
    sections = ("scalp", "day_trade", "swing")
    overrides = (cfg.get("tickers", {}).get("overrides", {}) or {}).values()
    mins = [float(cfg[s]["min_premium"]) for s in sections]
    for body in overrides:
        for s in sections:
            if s in (body or {}) and "min_premium" in body[s]:
                mins.append(float(body[s]["min_premium"]))
    floor = min(mins)
    pool_floor = min(
        [floor, float(cfg["day_trade"]["cluster_min_premium"])]
        + [
            float(b["day_trade"]["cluster_min_premium"])
            for b in overrides
            if "cluster_min_premium" in (b or {}).get("day_trade", {})
        ]
    )
    bodies = [cfg] + [{s: b[s] for s in sections if s in (b or {})} for b in overrides]
    max_dte = max(
        float(b[s]["max_dte"]) for b in bodies for s in sections if s in b and "max_dte" in b[s]
    )
    max_otm = max(
        float(b[s]["max_otm_pct"])
        for b in bodies
        for s in sections
        if s in b and "max_otm_pct" in b[s]
    )
    return ScoreLimits(floor, pool_floor, max_dte, max_otm)


def candidate_rows(
    ev: pd.DataFrame, ctx: pd.DataFrame, limits: ScoreLimits, vocab: dict[str, pd.Index]
) -> pd.DataFrame:
    """The events the strategies evaluate (premium, direction, DTE and OTM within the loosest
    limits; late and unknown-condition orders stay so the funnel shows why they fail), joined
    with their context rows and keyed for the strategies' memory (``ts_ns``, ``date_ns``,
    ``tk_key``, ``sym_key`` in ``vocab``)."""
    sign = ev["sentiment_sign"].to_numpy()
    otm = ev["otm_pct"].to_numpy(np.float64)
    cmask = (
        (ev["premium"].to_numpy(np.float64) >= limits.floor)
        & (sign != 0)
        & (ev["dte"].to_numpy(np.int64) <= limits.max_dte)
        & ~(np.abs(otm) > limits.max_otm)  # NaN (no spot) stays: the funnel shows spot_known
    )
    extra = [c for c in CONTEXT_COLUMNS if c not in ev.columns]
    if cmask.all():  # the streaming path's pre-filtered orders: no row take of the wide frames
        cand = pd.concat([ev.reset_index(drop=True), ctx[extra].reset_index(drop=True)], axis=1)
    else:
        idx = np.flatnonzero(cmask)
        cand = pd.concat([ev.iloc[idx].reset_index(drop=True), ctx[extra].iloc[idx].reset_index(drop=True)], axis=1)
    cand["ts_ns"] = to_ns(cand["last_ts"])
    cand["date_ns"] = to_ns(cand["trade_date"])
    cand["tk_key"] = codes_in(cand["ticker"], vocab["ticker"])
    cand["sym_key"] = codes_in(cand["option_symbol"], vocab["option_symbol"])
    return cand


def known_sessions(*days: np.ndarray | pd.Series | None) -> np.ndarray:
    """Sorted distinct sessions (``datetime64[D]``) of the given date columns (the batch, the
    history, the daily bars): the calendar SwingAccumulation counts repeat days on."""
    parts = [pd.to_datetime(pd.Series(d)).to_numpy("datetime64[D]") for d in days if d is not None and len(d)]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, "datetime64[D]")


def _score(ev, ctx, hist, daily_bars, cfg) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Pre-filter candidates cheaply, then run the strategies on them."""
    if not len(ev):
        return empty_signals(), {}
    limits = score_limits(cfg)
    vocab = _vocab(ev, hist)
    cand = candidate_rows(ev, ctx, limits, vocab)
    today = pool_rows(ev, limits.pool_floor, vocab)
    prior_hist = pool_rows(hist, limits.pool_floor, vocab)
    ev_days = np.sort(pd.unique(to_ns(ev["trade_date"])))
    hist_same = prior_hist[np.isin(prior_hist["trade_date"].to_numpy().view(np.int64), ev_days)]
    pools_today = pd.concat([today, hist_same], ignore_index=True)
    prior = pd.concat([prior_hist, today], ignore_index=True)
    sessions = known_sessions(
        ev_days.astype("datetime64[ns]"),
        hist["trade_date"] if len(hist) else None,
        daily_bars["trade_date"] if daily_bars is not None and len(daily_bars) else None,
    )
    return run_strategies(cand, cfg, Pools(today=pools_today, prior=prior, sessions=sessions))


def _rejected(good: pd.DataFrame, rows: np.ndarray, fld: str, reason: str, source: str,
              now: dt.datetime | None) -> pd.DataFrame:
    """Quarantine rows for validated prints the classifier rejects (e.g. unmatched cancels),
    numbered by their row in the batch as received."""
    sub = good.iloc[np.sort(rows)]
    return quarantine_rows(
        TARGET, sub.drop(columns=[c for c in ("row_number", "contract_code", "condition_code") if c in sub]),
        source=source, reason=reason, field=fld,
        value=sub[fld].to_numpy(dtype=object) if fld in sub else None,
        row_number=sub["row_number"].to_numpy(np.int64),
        trade_date=list(pd.to_datetime(sub["trade_date"]).dt.date), now=now,
    )  # fmt: skip


def _stats(vc, cc, ev, signals, funnel, quarantine) -> dict[str, Any]:
    by_reason = quarantine["reason"].value_counts().to_dict() if len(quarantine) else {}
    st: dict[str, Any] = {
        "prints": {
            "in": vc["rows_in"],
            "good": vc["rows_good"],
            "quarantined_rows": vc["rows_quarantined"],
            **{k: v for k, v in cc.items() if k not in ("events", "by_event_type")},
        },
        "quarantined_by_reason": {str(k): int(v) for k, v in by_reason.items()},
        "events": int(len(ev)),
        "events_by_type": dict(cc.get("by_event_type", {})),
        "events_by_side": {str(k): int(v) for k, v in ev["side"].value_counts().items() if v}
        if len(ev)
        else {},
        "events_late": int(ev["is_late"].astype(bool).sum()) if len(ev) else 0,
        "events_low_confidence": int((ev["side_confidence"] == "low").sum()) if len(ev) else 0,
        "signals": int(len(signals)),
        "signals_by_kind": {k: int(v) for k, v in signals["kind"].value_counts().items()}
        if len(signals)
        else {},
        "signals_by_kind_tag": {},
        "funnel": funnel,
    }
    if len(signals):
        for kind, grp in signals.groupby("kind"):
            tags = grp["tags"].str.split(",").explode()
            tags = tags[tags.notna() & (tags != "")]
            st["signals_by_kind_tag"][str(kind)] = {
                t: int((tags == t).sum()) for t in TAGS if (tags == t).any()
            }
    if len(ev):
        st["first_print_ts"] = str(pd.Timestamp(ev["first_ts"].min()))
        st["last_print_ts"] = str(pd.Timestamp(ev["last_ts"].max()))
    return st


# ------------------------------------------------------------------------- scoring in chunks
def plan_chunks(counts: Mapping[str, int], max_prints: int) -> list[list[str]]:
    """Underlyings grouped into chunks of at most ``max_prints`` prints, in name order (an
    underlying with more prints than that is a chunk of its own).

    Every print of an underlying lands in one chunk, and nothing the engine computes crosses
    underlyings (orders, structures, day volume, context, clusters, repeats), so scoring the
    chunks one after the other gives the same rows as scoring the whole day at once, while the
    memory held is bounded by the largest chunk."""
    if max_prints < 1:
        raise ValueError(f"max_prints must be >= 1, got {max_prints}")
    chunks: list[list[str]] = []
    cur: list[str] = []
    n = 0
    for u in sorted(counts):
        c = int(counts[u])
        if cur and n + c > max_prints:
            chunks.append(cur)
            cur, n = [], 0
        cur.append(u)
        n += c
    if cur:
        chunks.append(cur)
    return chunks


class _ByTicker:
    """Row positions of a frame per value of its ticker column, found once."""

    def __init__(self, df: pd.DataFrame | None, col: str) -> None:
        self.df = df
        self.pos: dict[str, np.ndarray] = {}
        if df is not None and len(df):
            codes, uniq = factorize(df[col])
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(uniq) + 1))
            self.pos = {str(u): order[bounds[i]:bounds[i + 1]] for i, u in enumerate(uniq)}

    def take(self, tickers: Iterable[str]) -> pd.DataFrame | None:
        if self.df is None:
            return None
        parts = [self.pos[t] for t in tickers if t in self.pos]
        idx = np.sort(np.concatenate(parts)) if parts else np.zeros(0, np.int64)
        return self.df.iloc[idx].reset_index(drop=True)


def score_chunks(
    load_chunk: Callable[[list[str]], pd.DataFrame],
    chunks: Sequence[list[str]],
    bars_1m: pd.DataFrame | None,
    daily_bars: pd.DataFrame | None,
    chain: pd.DataFrame | None,
    cfg: dict[str, Any],
    history: pd.DataFrame | None = None,
    *,
    source: str = "batch",
    now: dt.datetime | None = None,
    gamma: pd.DataFrame | None = None,
    l2: pd.DataFrame | None = None,
) -> Iterator[tuple[list[str], FlowResult]]:
    """:func:`score_batch` chunk by chunk (see :func:`plan_chunks`): yields ``(underlyings,
    result)`` per chunk, so a caller writes each result and lets it go.

    Args:
        load_chunk: returns the ``flow.option_prints`` rows of the given underlyings (e.g. a
            ``WHERE underlying IN (...)`` query, or one file per chunk).
        chunks: lists of underlyings (:func:`plan_chunks`).
        The other arguments are :func:`score_batch`'s for the whole day; each chunk gets the
        rows of its underlyings (daily bars also the regime benchmark's).
    """
    bench = str(cfg["market_regime"]["benchmark"])
    bars = _ByTicker(bars_1m, "ticker")
    daily = _ByTicker(daily_bars, "ticker")
    ch = _ByTicker(chain, "underlying")
    hist = _ByTicker(history, "ticker")
    gam = _ByTicker(gamma, "underlying")
    book = _ByTicker(l2, "ticker")
    for tickers in chunks:
        prints = load_chunk(list(tickers))
        res = score_batch(
            prints,
            bars.take(tickers),
            daily.take([*tickers, bench] if bench not in tickers else tickers),
            ch.take(tickers),
            cfg,
            hist.take(tickers),
            source=source,
            now=now,
            gamma=gam.take(tickers),
            l2=book.take(tickers),
        )
        yield list(tickers), res


# the worker side of score_chunks_parallel (module level: picklable under spawn)
_WORKER: dict[str, Any] = {}


def _worker_init(load_inputs, sink, cfg, source, now) -> None:
    _WORKER.update(load_inputs=load_inputs, sink=sink, cfg=cfg, source=source, now=now)


def _worker_score(tickers: list[str]) -> Any:
    w = _WORKER
    inp = w["load_inputs"](tickers)
    res = score_batch(inp["prints"], inp.get("bars_1m"), inp.get("daily_bars"), inp.get("chain"), w["cfg"],
                      inp.get("history"), source=w["source"], now=w["now"], gamma=inp.get("gamma"),
                      l2=inp.get("l2"))
    return w["sink"](tickers, res)


def score_chunks_parallel(
    load_inputs: Callable[[list[str]], Mapping[str, pd.DataFrame]],
    chunks: Sequence[list[str]],
    cfg: dict[str, Any],
    *,
    sink: Callable[[list[str], FlowResult], Any],
    workers: int = 2,
    source: str = "batch",
    now: dt.datetime | None = None,
) -> list[Any]:
    """Score chunks of underlyings in ``workers`` processes (spawned), each chunk end to end in
    one worker: ``load_inputs(tickers)`` returns that chunk's ``prints`` and its ``bars_1m``,
    ``daily_bars`` (with the regime benchmark's), ``chain``, ``history``, ``gamma``, ``l2``;
    ``sink(tickers, result)`` runs in the worker (write the rows there) and its small return
    value comes back. Returns those values in chunk order. ``load_inputs`` and ``sink`` must be
    picklable (module-level functions or ``functools.partial`` of them). Memory held is about one
    chunk per worker; the rows equal :func:`score_batch` of the whole day (see
    :func:`plan_chunks`)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if workers <= 1:
        _worker_init(load_inputs, sink, cfg, source, now)
        return [_worker_score(list(t)) for t in chunks]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_worker_init, initargs=(load_inputs, sink, cfg, source, now)) as ex:
        return list(ex.map(_worker_score, [list(t) for t in chunks]))
