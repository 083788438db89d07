"""The shared score: strength in [0, 1] and tags, the same for every strategy.

``strength`` is a weighted mean of six components, each in [0, 1] (weights:
``flow.score_weights``; they are normalised to sum to 1):

=============  ==========================================================================
component      value
=============  ==========================================================================
premium        log-scale between ``flow.score_premium_floor`` (0) and
               ``flow.score_premium_full`` (1): clip(log(premium/floor) / log(full/floor))
aggression     above_ask / below_bid 1.0; ask / bid 0.85; to_ask / to_bid 0.5; mid 0;
               halved when the side came from the tick rule (confidence ``low``)
event_type     sweep 1.0, block 0.8, split 0.6, single 0.3
vol_oi         clip(day volume / open interest, 0, 1); 0 when OI is unknown
trend          share of the three trend checks that agree with the direction:
               15-minute trend, daily trend, side of VWAP
rvol           clip((rvol - 1) / 2, 0, 1): 1 at 3x normal volume; 0 when unknown
=============  ==========================================================================

Tags (in this order; a tag is shown only when earned):

* ``SIZE``: premium >= ``flow.tag_size_multiple`` x the strategy's ``min_premium``;
* ``SWEEP``: the order is a sweep;
* ``AGGRESSIVE``: filled at or beyond the touch (above_ask, ask, bid, below_bid) with a quote
  (not the tick rule);
* ``VOL>OI``: day volume so far > open interest;
* ``TREND_CONFIRMED``: all three trend checks agree with the direction;
* ``REPEAT``: the same contract saw an earlier same-direction order today at or above the
  strategy's ``min_premium`` (for SwingAccumulation also: flow on 2+ sessions);
* ``BLOCK``: the order is a block;
* ``GOLDEN``: a sweep >= ``flow.golden_min_premium``, bought at or above the ask, with VOL>OI;
* ``NEG_GAMMA``: the order lands in negative dealer gamma (``gex_regime`` NEGATIVE: spot below the
  previous snapshot's zero-gamma flip, or no flip and negative total GEX), where dealer hedging
  tends to amplify moves. Informational: it does not change ``strength``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

TAGS = ("SIZE", "SWEEP", "AGGRESSIVE", "VOL>OI", "TREND_CONFIRMED", "REPEAT", "BLOCK", "GOLDEN", "NEG_GAMMA")
AGGRESSION = {
    "above_ask": 1.0,
    "below_bid": 1.0,
    "ask": 0.85,
    "bid": 0.85,
    "to_ask": 0.5,
    "to_bid": 0.5,
    "mid": 0.0,
}
TYPE_SCORE = {"sweep": 1.0, "block": 0.8, "split": 0.6, "single": 0.3}
COMPONENTS = ("premium", "aggression", "event_type", "vol_oi", "trend", "rvol")


def trend_checks(c: pd.DataFrame) -> dict[str, np.ndarray]:
    """The three trend checks per row: True when they agree with ``sentiment_sign``."""
    sign = c["sentiment_sign"].to_numpy()
    up, down = sign > 0, sign < 0
    t15 = c["trend_15m"].to_numpy(dtype=object)
    td = c["daily_trend"].to_numpy(dtype=object)
    vd = c["vwap_dist"].to_numpy(np.float64)
    return {
        "momentum_15m": (up & (t15 == "UP")) | (down & (t15 == "DOWN")),
        "daily_trend_aligned": (up & (td == "UP")) | (down & (td == "DOWN")),
        "vwap_side": (up & (vd > 0)) | (down & (vd < 0)),
    }


def score_base(c: pd.DataFrame, flow_cfg: dict[str, Any]) -> dict[str, Any]:
    """The part of :func:`score_signal` that does not depend on the strategy: the components,
    the strength and every tag but SIZE and REPEAT (computed once for the candidates every
    strategy scores). Returns ``{"prem", "strength", "components", "tags"}``."""
    n = len(c)
    prem = c["premium"].to_numpy(np.float64)
    floor = float(flow_cfg["score_premium_floor"])
    full = float(flow_cfg["score_premium_full"])
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.clip(np.log(np.maximum(prem, 1e-9) / floor) / np.log(full / floor), 0.0, 1.0)
    side = c["side"].to_numpy(dtype=object)
    conf = c["side_confidence"].to_numpy(dtype=object)
    low = conf == "low"
    aggr = pd.Series(side).map(AGGRESSION).fillna(0.0).to_numpy(np.float64)
    aggr = np.where(low, aggr * 0.5, aggr)
    etype = c["event_type"].to_numpy(dtype=object)
    typ = pd.Series(etype).map(TYPE_SCORE).fillna(0.0).to_numpy(np.float64)
    voi = c["vol_oi"].to_numpy(np.float64)
    voi_c = np.where(np.isfinite(voi), np.clip(voi, 0.0, 1.0), 0.0)
    checks = trend_checks(c)
    trend = (
        checks["momentum_15m"].astype(float) + checks["daily_trend_aligned"] + checks["vwap_side"]
    ) / 3.0
    rv = c["rvol"].to_numpy(np.float64)
    rv_c = np.where(np.isfinite(rv), np.clip((rv - 1.0) / 2.0, 0.0, 1.0), 0.0)
    comps = {
        "premium": p,
        "aggression": aggr,
        "event_type": typ,
        "vol_oi": voi_c,
        "trend": trend,
        "rvol": rv_c,
    }
    w = flow_cfg["score_weights"]
    wsum = float(sum(float(w[k]) for k in COMPONENTS)) or 1.0
    strength = sum(float(w[k]) * comps[k] for k in COMPONENTS) / wsum
    strength = np.round(np.clip(strength, 0.0, 1.0), 6)

    aggressive = np.isin(side, ["above_ask", "ask", "bid", "below_bid"]) & ~low
    vol_gt_oi = np.isfinite(voi) & (voi > 1.0)
    tag_mask = {
        "SWEEP": etype == "sweep",
        "AGGRESSIVE": aggressive,
        "VOL>OI": vol_gt_oi,
        "TREND_CONFIRMED": checks["momentum_15m"]
        & checks["daily_trend_aligned"]
        & checks["vwap_side"],
        "BLOCK": etype == "block",
        "GOLDEN": (etype == "sweep")
        & (prem >= float(flow_cfg["golden_min_premium"]))
        & np.isin(side, ["ask", "above_ask"])
        & ~low
        & vol_gt_oi,
        "NEG_GAMMA": (
            c["gex_regime"].to_numpy(dtype=object) == "NEGATIVE" if "gex_regime" in c else np.zeros(n, bool)
        ),
    }
    return {"prem": prem, "strength": strength, "components": comps, "tags": tag_mask}


def score_signal(
    c: pd.DataFrame,
    flow_cfg: dict[str, Any],
    *,
    min_premium: float | np.ndarray,
    repeat: np.ndarray | None = None,
    base: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Score candidate rows (events joined with their context).

    Args:
        c: rows with ``premium, side, side_confidence, event_type, vol_oi, rvol, trend_15m,
            daily_trend, vwap_dist, sentiment_sign``.
        flow_cfg: the ``flow`` config section.
        min_premium: the strategy's ``min_premium`` (scalar or per row) for the SIZE tag.
        repeat: per-row bool, REPEAT earned (computed by the strategy).
        base: :func:`score_base` of ``c``, when the caller has it (the strategies share it).

    Returns:
        ``(strength, tags, components)``: strength float array in [0, 1], a list of tag lists
        (order of :data:`TAGS`), and each component array (for the signal's record).
    """
    n = len(c)
    b = score_base(c, flow_cfg) if base is None else base
    tag_mask = {
        **b["tags"],
        "SIZE": b["prem"] >= float(flow_cfg["tag_size_multiple"]) * np.asarray(min_premium),
        "REPEAT": np.zeros(n, bool) if repeat is None else np.asarray(repeat, bool),
    }
    stacked = np.column_stack([tag_mask[t] for t in TAGS]) if n else np.zeros((0, len(TAGS)), bool)
    return b["strength"], stacked, {**b["components"], "strength": b["strength"]}


def tag_names(tags: np.ndarray) -> list[list[str]]:
    """Rows of a tag matrix from :func:`score_signal` as lists of tag names (in TAGS order)."""
    names = np.asarray(TAGS, dtype=object)
    return [list(names[row]) for row in np.atleast_2d(tags)]
