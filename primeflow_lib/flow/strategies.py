"""The three flow strategies: ScalpMomentum, DayTrend, SwingAccumulation.

Each strategy evaluates **gates** on every candidate order (an event joined with its context).
Hard gates must all pass for a signal; soft checks only inform (they appear in ``rules_passed`` /
``rules_failed`` and most feed the score). Thresholds come from the config section of the strategy
(``scalp``, ``day_trade``, ``swing``) with per-ticker overrides from ``tickers.overrides``
(:func:`primeflow_lib.config.get_ticker_config`); rows are evaluated in groups, one per distinct
override set, so a rule's name shows the threshold actually applied (``dte<=7``).

Common hard gates (every strategy):

* ``enabled`` - the section's ``enabled`` flag;
* ``directional`` - not multi-leg / stock-option, sentiment not neutral (mid prints are neutral);
* ``not_late`` - late / out-of-sequence orders never signal;
* ``known_conditions`` - no unknown condition id on any print of the order;
* ``spot_known`` - context has a spot price (needed for OTM %).

**ScalpMomentum** (``scalp``): short-dated aggressive flow riding intraday momentum.
Hard: ``dte<=max_dte``, ``premium>=min_premium``, ``|otm|<=max_otm_pct``, ``rvol>=min_rvol``
(RVOL known), ``aggressive_side`` (filled at or beyond the touch, quote-based), ``momentum_15m``
(15-minute trend in the direction), ``vwap_side`` (spot above VWAP for bullish, below for
bearish), ``strength>=min_strength``. Soft: ``vol>oi``, ``daily_trend_aligned``,
``regime_aligned``.

**DayTrend** (``day_trade``): a cluster of sweeps in one direction on a trending name.
Hard: ``dte<=max_dte``, ``premium>=min_premium``, ``|otm|<=max_otm_pct``, ``rvol>=min_rvol``,
``cluster>=min_cluster_sweeps`` (sweeps of the same ticker and direction with premium >=
``cluster_min_premium`` whose last print is within the ``cluster_window_minutes`` up to and
including this order, counting earlier micro-batches of the session), ``vwap_side``,
``daily_trend_not_against`` (daily trend not opposite; FLAT/UNKNOWN pass),
``strength>=min_strength``. Soft: ``momentum_15m``, ``or_break_aligned``, ``vol>oi``,
``regime_aligned``.

**SwingAccumulation** (``swing``): the same directional bet repeated over several sessions.
Hard: ``min_dte<=dte<=max_dte``, ``premium>=min_premium``, ``|otm|<=max_otm_pct``,
``repeat_days>=min_repeat_days`` (distinct sessions among the last ``repeat_lookback_days``
sessions, this one included, with a directional, non-late order on the ticker in the same
direction, DTE in range and premium >= ``min_premium``; earlier sessions come from the
``history`` frame), ``daily_trend_not_against``, ``strength>=min_strength``. Soft:
``daily_trend_aligned``, ``regime_aligned``, ``vol>oi``.

``regime_aligned`` = BULL for bullish, BEAR for bearish; ``or_break_aligned`` = opening range
broken in the direction.

Dealer-gamma soft checks (:func:`gamma_checks`, from the previous snapshot's levels in the
context): ``negative_gamma`` (ScalpMomentum, DayTrend) and ``gex_wall_room`` (all three).
"""

from __future__ import annotations

import abc
import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.config import get_ticker_config
from primeflow_lib.flow.gex import GEX_CONTEXT_COLUMNS
from primeflow_lib.flow.l2_context import L2_CONTEXT_COLUMNS, NO_L2
from primeflow_lib.flow.scoring import COMPONENTS, score_base, score_signal, tag_names, trend_checks
from primeflow_lib.flow.side import AGGRESSIVE_SIDES
from primeflow_lib.schema.flow import SIGNALS

KINDS = {"SCALP": "scalp", "DAY_TRADE": "day_trade", "SWING": "swing"}

#: the columns of a signal row, as declared for ``flow.signals``
SIGNAL_COLUMNS = SIGNALS.column_names
CONTEXT_KEYS = (
    "bar_ts",
    "spot",
    "spot_source",
    "vwap",
    "vwap_dist",
    "rvol",
    "rvol_sessions",
    "ret_15m",
    "trend_15m",
    "daily_ret",
    "daily_trend",
    "prev_high",
    "prev_low",
    "above_pdh",
    "below_pdl",
    "or_high",
    "or_low",
    "or_break",
    "regime",
    "regime_ret",
    "regime_vol",
    *GEX_CONTEXT_COLUMNS,
    *L2_CONTEXT_COLUMNS,
)


@dataclass
class Pools:
    """Order memory the gates need besides the candidate row itself.

    Attributes:
        today: directional, non-late orders of the batch's sessions (plus earlier micro-batches
            of the same sessions): ``tk_key, sym_key, trade_date, sentiment_sign, event_type,
            premium, dte, ts_ns`` (``tk_key`` / ``sym_key``: integer codes of the ticker and
            contract in one vocabulary shared with the candidates).
        sessions: sorted session dates (``datetime64[D]``) known to the caller: daily bars,
            history and the batch.
        prior: directional non-late orders of this and earlier sessions (history + batch), same
            columns as ``today``; used for SwingAccumulation's multi-day memory.
    """

    today: pd.DataFrame
    prior: pd.DataFrame
    sessions: np.ndarray


def _count_in_window(
    pk: np.ndarray, pt: np.ndarray, qk: np.ndarray, qlo: np.ndarray, qhi: np.ndarray
) -> np.ndarray:
    """For each query, the number of pool rows with key == qk and lo <= t <= hi (int64 t)."""
    if len(pk) == 0 or len(qk) == 0:
        return np.zeros(len(qk), np.int64)
    base = min(int(pt.min()), int(qlo.min()))
    span = max(int(pt.max()), int(qhi.max())) - base + 2
    shift = 1
    while span // shift >= (1 << 40):
        shift *= 10
    # only the rows of the queried keys can count (the key is in the high bits of ``comp``): a
    # streaming step asks about a few keys against the day's whole pool, and sorting all of it
    # cost ~8 ms a call at 100,000 rows, several calls a step (the scale, from the full arrays
    # above, is unchanged, so the counts are too)
    uq = np.unique(qk)
    if len(uq) * 16 < len(pk):
        keep = np.isin(pk, uq)
        pk, pt = pk[keep], pt[keep]
    o = np.lexsort((pt, pk))
    pk, pt = pk[o], pt[o]

    def comp(k: np.ndarray, t: np.ndarray) -> np.ndarray:
        tt = np.clip(t, base, base + span - 1)
        return k.astype(np.int64) * (1 << 40) + (tt - base) // shift

    pc = comp(pk, pt)
    lo = np.searchsorted(pc, comp(qk, qlo), side="left")
    hi = np.searchsorted(pc, comp(qk, qhi), side="right")
    return (hi - lo).astype(np.int64)


def _key(df: pd.DataFrame, col: str, rows: np.ndarray | None = None) -> np.ndarray:
    """Integer key of (contract or ticker, direction): ``code * 3 + sign + 1`` (of the rows
    where the mask ``rows`` holds, when given)."""
    code, sign = df[col].to_numpy(np.int64), df["sentiment_sign"].to_numpy(np.int64)
    if rows is not None:
        code, sign = code[rows], sign[rows]
    return code * 3 + sign + 1


def _override_groups(cfg: dict[str, Any], section: str, tickers: np.ndarray):
    """Yield (params, row mask) per override set: each overriding ticker, then the rest."""
    overrides = cfg.get("tickers", {}).get("overrides", {}) or {}
    rest = np.ones(len(tickers), bool)
    upper = pd.Series(tickers, dtype=object).str.upper().to_numpy(dtype=object)
    for t, body in overrides.items():
        if section not in (body or {}):
            continue
        m = upper == str(t).upper()
        if m.any():
            rest &= ~m
            yield get_ticker_config(cfg, str(t), section), m
    if rest.any():
        yield dict(cfg[section]), rest


class _Strategy(abc.ABC):
    kind = ""
    section = ""

    @abc.abstractmethod
    def gates(
        self, c: pd.DataFrame, p: dict[str, Any], pools: Pools, flow_cfg: dict[str, Any],
        soft: dict[str, np.ndarray] | None = None,
    ) -> tuple[list[tuple[str, np.ndarray, bool]], np.ndarray, dict[str, np.ndarray]]:
        """(gates as (name, passed, hard) in order, REPEAT tag mask, extra context arrays).
        ``soft``: :meth:`soft` of these rows, when the caller has it (it depends on the rows
        and the wall room only, so every strategy shares it)."""

    @staticmethod
    def common(c: pd.DataFrame, p: dict[str, Any]) -> list[tuple[str, np.ndarray, bool]]:
        n = len(c)
        return [
            ("enabled", np.full(n, bool(p["enabled"])), True),
            (
                "directional",
                ~c["non_directional"].to_numpy(bool) & (c["sentiment_sign"].to_numpy() != 0),
                True,
            ),
            ("not_late", ~c["is_late"].to_numpy(bool), True),
            ("known_conditions", ~c["has_unknown_condition"].to_numpy(bool), True),
            ("spot_known", np.isfinite(c["spot"].to_numpy(np.float64)), True),
        ]

    @staticmethod
    def size_gates(c: pd.DataFrame, p: dict[str, Any]) -> list[tuple[str, np.ndarray, bool]]:
        dte = c["dte"].to_numpy(np.int64)
        otm = c["otm_pct"].to_numpy(np.float64)
        out = []
        if "min_dte" in p:
            out.append(
                (
                    f"{p['min_dte']}<=dte<={p['max_dte']}",
                    (dte >= p["min_dte"]) & (dte <= p["max_dte"]),
                    True,
                )
            )
        else:
            out.append((f"dte<={p['max_dte']}", dte <= p["max_dte"], True))
        out.append(
            (
                f"premium>={p['min_premium']:.0f}",
                c["premium"].to_numpy(np.float64) >= p["min_premium"],
                True,
            )
        )
        out.append(
            (
                f"|otm|<={p['max_otm_pct']:g}",
                np.isfinite(otm) & (np.abs(otm) <= p["max_otm_pct"]),
                True,
            )
        )
        return out

    @staticmethod
    def soft(c: pd.DataFrame, room: float) -> dict[str, np.ndarray]:
        sign = c["sentiment_sign"].to_numpy()
        reg = c["regime"].to_numpy(dtype=object)
        orb = c["or_break"].to_numpy(dtype=object)
        td = c["daily_trend"].to_numpy(dtype=object)
        voi = c["vol_oi"].to_numpy(np.float64)
        checks = trend_checks(c)
        return {
            **checks,
            "regime_aligned": ((sign > 0) & (reg == "BULL")) | ((sign < 0) & (reg == "BEAR")),
            "or_break_aligned": ((sign > 0) & (orb == "UP")) | ((sign < 0) & (orb == "DOWN")),
            "daily_trend_not_against": ~(
                ((sign > 0) & (td == "DOWN")) | ((sign < 0) & (td == "UP"))
            ),
            "vol>oi": np.isfinite(voi) & (voi > 1.0),
            **gamma_checks(c, room),
        }

    @staticmethod
    def repeat_today(c: pd.DataFrame, pools: Pools, min_premium: float) -> np.ndarray:
        # the pool's columns as arrays, filtered there: a row filter of the pool frame copies
        # every column of the session's orders, once per strategy and step
        t = pools.today
        m = t["premium"].to_numpy(np.float64) >= min_premium
        pk, qk = _key(t, "sym_key", m), _key(c, "sym_key")
        qt = c["ts_ns"].to_numpy(np.int64)
        day = c["date_ns"].to_numpy(np.int64)
        return _count_in_window(pk, t["ts_ns"].to_numpy(np.int64)[m], qk, day, qt - 1) > 0


class ScalpMomentum(_Strategy):
    """Short-dated, aggressive, near-the-money flow with intraday momentum (see module doc)."""

    kind, section = "SCALP", "scalp"

    def gates(self, c, p, pools, flow_cfg, soft=None):
        room = float(flow_cfg["gex_wall_room_pct"])
        s = self.soft(c, room) if soft is None else soft
        rv = c["rvol"].to_numpy(np.float64)
        aggressive = c["side"].isin(list(AGGRESSIVE_SIDES)).to_numpy() & (
            c["side_confidence"].to_numpy(dtype=object) != "low"
        )
        g = (
            self.common(c, p)
            + self.size_gates(c, p)
            + [
                (f"rvol>={p['min_rvol']:g}", np.isfinite(rv) & (rv >= p["min_rvol"]), True),
                ("aggressive_side", aggressive, True),
                ("momentum_15m", s["momentum_15m"], True),
                ("vwap_side", s["vwap_side"], True),
                ("vol>oi", s["vol>oi"], False),
                ("daily_trend_aligned", s["daily_trend_aligned"], False),
                ("regime_aligned", s["regime_aligned"], False),
                ("negative_gamma", s["negative_gamma"], False),
                (f"gex_wall_room>={room:g}", s["gex_wall_room"], False),
            ]
        )
        return g, self.repeat_today(c, pools, float(p["min_premium"])), {}


class DayTrend(_Strategy):
    """A cluster of same-direction sweeps on a name trending the same way (see module doc)."""

    kind, section = "DAY_TRADE", "day_trade"

    def gates(self, c, p, pools, flow_cfg, soft=None):
        room = float(flow_cfg["gex_wall_room_pct"])
        s = self.soft(c, room) if soft is None else soft
        rv = c["rvol"].to_numpy(np.float64)
        t = pools.today
        sw = (t["event_type"].to_numpy(dtype=object) == "sweep") & (
            t["premium"].to_numpy(np.float64) >= float(p["cluster_min_premium"])
        )
        pk, qk = _key(t, "tk_key", sw), _key(c, "tk_key")
        qt = c["ts_ns"].to_numpy(np.int64)
        win = int(round(float(p["cluster_window_minutes"]) * 60e9))
        cluster = _count_in_window(pk, t["ts_ns"].to_numpy(np.int64)[sw], qk, qt - win, qt)
        g = (
            self.common(c, p)
            + self.size_gates(c, p)
            + [
                (f"rvol>={p['min_rvol']:g}", np.isfinite(rv) & (rv >= p["min_rvol"]), True),
                (
                    f"cluster>={p['min_cluster_sweeps']}sweeps/{p['cluster_window_minutes']}m",
                    cluster >= int(p["min_cluster_sweeps"]),
                    True,
                ),
                ("vwap_side", s["vwap_side"], True),
                ("daily_trend_not_against", s["daily_trend_not_against"], True),
                ("momentum_15m", s["momentum_15m"], False),
                ("or_break_aligned", s["or_break_aligned"], False),
                ("vol>oi", s["vol>oi"], False),
                ("regime_aligned", s["regime_aligned"], False),
                ("negative_gamma", s["negative_gamma"], False),
                (f"gex_wall_room>={room:g}", s["gex_wall_room"], False),
            ]
        )
        return g, self.repeat_today(c, pools, float(p["min_premium"])), {"cluster": cluster}


class SwingAccumulation(_Strategy):
    """Repeated directional accumulation over several sessions (see module doc)."""

    kind, section = "SWING", "swing"

    def gates(self, c, p, pools, flow_cfg, soft=None):
        room = float(flow_cfg["gex_wall_room_pct"])
        s = self.soft(c, room) if soft is None else soft
        pr = pools.prior
        dte = pr["dte"].to_numpy(np.int64)
        keep = (
            (pr["premium"].to_numpy(np.float64) >= float(p["min_premium"]))
            & (dte >= int(p["min_dte"]))
            & (dte <= int(p["max_dte"]))
        )
        sess = pools.sessions
        p_sidx = np.searchsorted(sess, pr["trade_date"].to_numpy("datetime64[D]")[keep])
        q_sidx = np.searchsorted(sess, c["trade_date"].to_numpy("datetime64[D]"))
        pk, qk = _key(pr, "tk_key", keep), _key(c, "tk_key")
        # distinct (key, session) pairs of earlier sessions
        if len(pk):
            # one int64 per (key, session), sorted as the pairs would be (np.unique over rows
            # of a 2-column array sorts a structured view: ten times slower on a day's pool)
            k0, span = int(pk.min()), len(sess) + 1
            pairs = np.unique((pk - k0) * span + p_sidx)
            upk, ups = pairs // span + k0, pairs % span
        else:
            upk = ups = np.zeros(0, np.int64)
        lb = int(p["repeat_lookback_days"])
        prior_days = _count_in_window(upk, ups, qk, q_sidx - (lb - 1), q_sidx - 1)
        days = prior_days + 1
        g = (
            self.common(c, p)
            + self.size_gates(c, p)
            + [
                (
                    f"repeat_days>={p['min_repeat_days']}/{lb}d",
                    days >= int(p["min_repeat_days"]),
                    True,
                ),
                ("daily_trend_not_against", s["daily_trend_not_against"], True),
                ("daily_trend_aligned", s["daily_trend_aligned"], False),
                ("regime_aligned", s["regime_aligned"], False),
                ("vol>oi", s["vol>oi"], False),
                (f"gex_wall_room>={room:g}", s["gex_wall_room"], False),
            ]
        )
        rep = self.repeat_today(c, pools, float(p["min_premium"])) | (days >= 2)
        return g, rep, {"repeat_days": days}


def gamma_checks(c: pd.DataFrame, room: float) -> dict[str, np.ndarray]:
    """The dealer-gamma soft checks on the context's ``gex_*`` fields (soft: they are recorded in
    ``rules_passed`` / ``rules_failed`` and never block a signal or change its strength):

    * ``negative_gamma``: ``gex_regime`` is NEGATIVE (dealer hedging amplifies moves: momentum
      can run); fails for POSITIVE and UNKNOWN;
    * ``gex_wall_room``: the order is not heading into a nearby wall: fails for a bullish order
      whose call wall is at or above spot but less than ``room`` (fraction of spot) above it, and
      for a bearish order whose put wall is at or below spot but less than ``room`` below it;
      passes when the wall is unknown.
    """
    n = len(c)
    if "gex_regime" not in c:
        return {"negative_gamma": np.zeros(n, bool), "gex_wall_room": np.ones(n, bool)}
    sign = c["sentiment_sign"].to_numpy()
    cw = c["gex_call_wall_dist"].to_numpy(np.float64)
    pw = c["gex_put_wall_dist"].to_numpy(np.float64)
    with np.errstate(invalid="ignore"):
        into = ((sign > 0) & (cw >= 0) & (cw < room)) | ((sign < 0) & (pw <= 0) & (pw > -room))
    return {
        "negative_gamma": c["gex_regime"].to_numpy(dtype=object) == "NEGATIVE",
        "gex_wall_room": ~into,
    }


STRATEGIES: tuple[_Strategy, ...] = (ScalpMomentum(), DayTrend(), SwingAccumulation())


def signal_id(event_id: str, kind: str) -> str:
    """Stable id of a signal: 16 hex digits of sha1(event_id + ':' + kind)."""
    return hashlib.sha1(f"{event_id}:{kind}".encode()).hexdigest()[:16]


def _json_val(v: Any) -> Any:
    if v is None or v is pd.NaT or (np.isscalar(v) and not isinstance(v, str) and pd.isna(v)):
        return None
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return None if not np.isfinite(f) else round(f, 6)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (pd.Timestamp, np.datetime64)):
        return None if pd.isna(v) else str(pd.Timestamp(v))
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return v


def run_strategies(
    cand: pd.DataFrame, cfg: dict[str, Any], pools: Pools
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Evaluate every strategy on the candidate orders and build ``flow.signals`` rows.

    Args:
        cand: events joined with context (plus ``ts_ns``, ``date_ns``, ``vol_oi``, ``otm_pct``,
            ``dte``, ``sentiment_sign``).
        cfg: full config.
        pools: order memory (see :class:`Pools`).

    Returns:
        ``(signals, funnel)``: signals sorted by ``ts, kind, signal_id``; ``funnel[kind]`` =
        ``{"evaluated": n, "failed": {gate: n}, "signals": n}`` (a gate's count is rows failing it
        among rows evaluated, whatever else failed).
    """
    # the wall-room threshold lives in the gex section; the gates read it with the flow keys
    flow_cfg = {**cfg["flow"], "gex_wall_room_pct": float(cfg["gex"]["wall_room_pct"])}
    frames = []
    funnel: dict[str, Any] = {}
    cand = cand.reset_index(drop=True)
    tickers = cand["ticker"].to_numpy(dtype=object)
    room = float(flow_cfg["gex_wall_room_pct"])
    # the rows of an override group, their soft checks and score, shared by the strategies whose
    # groups coincide (without overrides: every strategy sees all the candidates)
    groups: dict[bytes, tuple[pd.DataFrame, dict[str, np.ndarray]]] = {}
    for strat in STRATEGIES:
        f = {"evaluated": 0, "failed": {}, "signals": 0}
        for p, mask in _override_groups(cfg, strat.section, tickers):
            key = mask.tobytes()
            if key not in groups:
                c = cand if mask.all() else cand.loc[mask].reset_index(drop=True)
                groups[key] = (c, _Strategy.soft(c, room), score_base(c, flow_cfg)) if len(c) else (c, {}, {})
            c, soft, base = groups[key]
            if not len(c):
                continue
            gates, rep, extra = strat.gates(c, p, pools, flow_cfg, soft)
            strength, tags, comps = score_signal(
                c, flow_cfg, min_premium=float(p["min_premium"]), repeat=rep, base=base
            )
            gates.append((f"strength>={p['min_strength']:g}", strength >= p["min_strength"], True))
            hard = np.ones(len(c), bool)
            for name, ok, is_hard in gates:
                bad = int((~ok).sum())
                if bad:
                    f["failed"][name] = f["failed"].get(name, 0) + bad
                if is_hard:
                    hard &= ok
            f["evaluated"] += len(c)
            sel = np.flatnonzero(hard)
            f["signals"] += len(sel)
            if not len(sel):
                continue
            frames.append(_build_rows(strat.kind, c, sel, gates, strength, tags, comps, extra))
        funnel[strat.kind] = f
    if not frames:
        return empty_signals(), funnel
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["ts", "kind", "signal_id"], kind="stable").reset_index(drop=True)
    return out[SIGNAL_COLUMNS], funnel


def _build_rows(kind, c, sel, gates, strength, tags, comps, extra) -> pd.DataFrame:
    # column by column on the selected rows only: the candidates frame is wide (one block per
    # context column), and a row slice of it or ``to_dict`` costs milliseconds per call, which a
    # streaming step with two signals pays for every strategy
    def col(name: str, dtype: Any = None) -> np.ndarray:
        # the selected rows first, then the conversion: a nullable column converts by what
        # those rows hold (ints without a NA), and an unselected row's NA never reaches it
        return c[name].take(sel).to_numpy(dtype=dtype)

    names = [g[0] for g in gates]
    okm = np.column_stack([g[1][sel] for g in gates])
    passed = [json.dumps([nm for nm, ok in zip(names, row, strict=True) if ok]) for row in okm]
    failed = [json.dumps([nm for nm, ok in zip(names, row, strict=True) if not ok]) for row in okm]
    ctx_cols = [k for k in CONTEXT_KEYS if k in c.columns]
    # Series.tolist boxes values as DataFrame.to_dict does (Python scalars, Timestamps)
    ctx_vals = {k: c[k].take(sel).tolist() for k in ctx_cols}
    extra = {k: v[sel] for k, v in extra.items()}
    ctx_json = []
    for i in range(len(sel)):
        d = {k: _json_val(ctx_vals[k][i]) for k in ctx_cols}
        if d.get("l2_source", NO_L2) == NO_L2:
            # no L2 minute: the signal's context reads exactly as it did before L2 existed
            for k in L2_CONTEXT_COLUMNS:
                d.pop(k, None)
        for k, arr in extra.items():
            d[k] = int(arr[i])
        ctx_json.append(json.dumps(d, sort_keys=True))
    score_json = [
        json.dumps({k: round(float(comps[k][i]), 6) for k in (*COMPONENTS, "strength")})
        for i in sel
    ]
    sign = col("sentiment_sign")
    eids = col("event_id", object)
    return pd.DataFrame(
        {
            "signal_id": [signal_id(e, kind) for e in eids],
            "trade_date": col("trade_date"),
            "ts": col("last_ts"),
            "kind": kind,
            "ticker": col("ticker", object),
            "option_symbol": col("option_symbol", object),
            "expiry": col("expiry"),
            "right": col("right", object),
            "strike": col("strike", np.float64),
            "direction": np.where(sign > 0, "BULLISH", "BEARISH"),
            "strength": strength[sel],
            "tags": [",".join(t) for t in tag_names(tags[sel])],
            "event_id": eids,
            "event_type": col("event_type", object),
            "side": col("side", object),
            "side_confidence": col("side_confidence", object),
            "sentiment": col("sentiment", object),
            "premium": col("premium", np.float64),
            "size": col("size", np.int64),
            "avg_price": col("avg_price", np.float64),
            "n_prints": col("n_prints", np.int64),
            "n_exchanges": col("n_exchanges", np.int64),
            "spot": col("spot", np.float64),
            "otm_pct": col("otm_pct", np.float64),
            "dte": col("dte", np.int64),
            "day_volume": col("day_volume", np.int64),
            "open_interest": col("open_interest"),
            "vol_oi": col("vol_oi", np.float64),
            "iv": col("iv", np.float64),
            "delta": col("delta", np.float64),
            "vendor": col("vendor", object),
            "context_json": ctx_json,
            "rules_passed": passed,
            "rules_failed": failed,
            "score_json": score_json,
            "print_ids": col("print_ids", object),
        }
    )


@functools.cache
def _empty_signals_template() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in SIGNAL_COLUMNS})


def empty_signals() -> pd.DataFrame:
    """A signals frame with no rows (a copy of one built once: building 37 empty columns costs
    milliseconds, which a streaming step pays every time it scores nothing)."""
    return _empty_signals_template().copy(deep=False)
