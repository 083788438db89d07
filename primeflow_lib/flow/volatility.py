"""Implied volatility from the daily chain snapshots: ATM IV and 25-delta skew per expiry (the
term structure), a constant-maturity ATM IV, and its rank and percentile over a lookback.

Per snapshot, underlying and expiry (:func:`iv_term`, stored in ``market.iv_term``):

* **spot**: the median ``underlying_price`` of the underlying's rows (as for dealer gamma);
* **ATM IV**: each strike's IV is the mean of its call and put IV (the ones that are usable:
  finite and > 0); the ATM IV is linear in strike between the listed strikes just below and
  just above spot (a strike at spot is used as is). An expiry whose strikes do not bracket
  spot, or that expires at or before the snapshot's close, has no row;
* **25-delta IVs**: the Black-Scholes delta of each contract from its own IV (days to expiry /
  365, ``rate``, no dividend) and IV linear in delta between the listed calls around +0.25 and
  the puts around -0.25; NULL when no pair brackets it. ``skew_25d = iv_25d_put -
  iv_25d_call`` (positive: puts richer, the usual equity skew).

Per snapshot and underlying (:func:`iv_daily`):

* **atm_iv_30d**: total variance ``iv^2 x T`` interpolated linearly in T between the two
  expiries around ``target_days`` (30), then back to a volatility; the nearest expiry's ATM IV
  when the expiries do not bracket the target;
* **front_iv**: the nearest expiry's ATM IV; **term_slope**: the ATM IV of the expiry nearest
  ``term_days`` (90) minus ``front_iv`` (positive: contango); **skew_25d_30d**: the skew of the
  expiry nearest the target.

Rank and percentile (:func:`iv_rank`) over the last ``lookback`` stored snapshots of the
underlying, this one included (snapshots, not calendar sessions: a missing snapshot shortens
the window, and ``sessions_used`` says how many there were):

* ``iv_rank = (x - min) / (max - min)`` (NULL when max = min);
* ``iv_percentile`` = share of the window's *other* snapshots with a lower value (NULL with
  none);
* ``short_history`` when fewer than ``lookback`` snapshots were stored; :func:`history_warning`
  words it ("IV rank of SPY over 40 sessions, not the 252 asked").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.pricing import bs_greeks
from primeflow_lib.schema.desk import IV_STATS, IV_TERM

REQUIRED_COLUMNS = ("trade_date", "underlying", "expiry", "right", "strike", "iv", "underlying_price", "vendor")
DEFAULT_LOOKBACK = 252


class VolatilityInputError(ValueError):
    """Input that cannot give an IV figure (missing columns, bad lookback); names the field."""


def iv_term(chain: pd.DataFrame, *, rate: float = 0.0) -> tuple[pd.DataFrame, dict[str, int]]:
    """``(market.iv_term rows, counts)`` from ``market.option_chain`` rows (one or several
    snapshots). ``counts``: ``expiries`` (rows out), ``expired`` (at or before the snapshot),
    ``not_bracketing`` (strikes do not bracket spot), ``rows_without_iv``."""
    missing = [c for c in REQUIRED_COLUMNS if c not in chain.columns]
    if missing:
        raise VolatilityInputError(f"chain frame lacks the column(s) {missing} (market.option_chain columns)")
    counts = {"expiries": 0, "expired": 0, "not_bracketing": 0, "rows_without_iv": 0}
    if chain.empty:
        return pd.DataFrame(columns=IV_TERM.column_names), counts
    df = chain[list(REQUIRED_COLUMNS)].copy()
    df["trade_date"] = pd.to_datetime(df["trade_date"]).dt.date
    df["expiry"] = pd.to_datetime(df["expiry"]).dt.date
    df["iv"] = pd.to_numeric(df["iv"], errors="coerce")
    df["strike"] = pd.to_numeric(df["strike"], errors="coerce")
    df["right"] = df["right"].astype(str).str.upper().str[0]
    spot = df.groupby(["trade_date", "underlying"])["underlying_price"].median().rename("spot")
    df = df.join(spot, on=["trade_date", "underlying"])
    ok = np.isfinite(df["iv"]) & (df["iv"] > 0) & np.isfinite(df["strike"]) & (df["strike"] > 0)
    counts["rows_without_iv"] = int((~ok).sum())
    df = df[ok & np.isfinite(df["spot"]) & (df["spot"] > 0)].copy()
    df["dte"] = (pd.to_datetime(df["expiry"]) - pd.to_datetime(df["trade_date"])).dt.days
    expired = df["dte"] <= 0
    counts["expired"] = int(df.loc[expired, ["trade_date", "underlying", "expiry"]].drop_duplicates().shape[0])
    df = df[~expired]
    t = df["dte"].to_numpy(np.float64) / 365.0
    g = bs_greeks(df["spot"].to_numpy(np.float64), df["strike"].to_numpy(np.float64), t,
                  df["iv"].to_numpy(np.float64), rate, 0.0, (df["right"] == "C").to_numpy())
    df["delta"] = g.delta
    keys = ["trade_date", "underlying", "expiry"]
    per_k = df.groupby([*keys, "strike"], sort=True).agg(iv=("iv", "mean"), spot=("spot", "first")).reset_index()
    atm = _bracket(per_k, keys, "strike", per_k["spot"].to_numpy(np.float64))
    calls = df[df["right"] == "C"]
    puts = df[df["right"] == "P"]
    c25 = _bracket(calls, keys, "delta", np.full(len(calls), 0.25))
    p25 = _bracket(puts, keys, "delta", np.full(len(puts), -0.25))
    base = df.groupby(keys, sort=True).agg(dte=("dte", "first"), spot=("spot", "first"), contracts=("iv", "size"),
                                           vendor=("vendor", lambda x: ",".join(sorted(set(map(str, x))))))
    out = base.join(atm.rename("atm_iv")).join(c25.rename("iv_25d_call")).join(p25.rename("iv_25d_put")).reset_index()
    counts["not_bracketing"] = int(out["atm_iv"].isna().sum())
    out = out[out["atm_iv"].notna()].copy()
    out["skew_25d"] = out["iv_25d_put"] - out["iv_25d_call"]
    for c in ("iv_25d_call", "iv_25d_put", "skew_25d"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    out["dte"] = out["dte"].astype(np.int64)
    out["contracts"] = out["contracts"].astype(np.int64)
    counts["expiries"] = len(out)
    return out[IV_TERM.column_names].reset_index(drop=True), counts


def _bracket(df: pd.DataFrame, keys: list[str], x: str, at: np.ndarray) -> pd.Series:
    """Per group of ``keys``: ``iv`` linear in ``x`` at ``at`` (one target per group, given per
    row) between the rows just below and just above it; NaN when no pair brackets it (a row
    exactly at the target is used as is)."""
    d = df.assign(_at=at).sort_values([*keys, x])
    lo = d[d[x] <= d["_at"]].groupby(keys, sort=True)[[x, "iv", "_at"]].last()
    hi = d[d[x] >= d["_at"]].groupby(keys, sort=True)[[x, "iv"]].first()
    j = lo.join(hi, suffixes=("_lo", "_hi"), how="inner")
    span = j[f"{x}_hi"] - j[f"{x}_lo"]
    frac = np.where(span > 0, (j["_at"] - j[f"{x}_lo"]) / span.where(span > 0, 1.0), 0.0)
    return (j["iv_lo"] + (j["iv_hi"] - j["iv_lo"]) * frac).rename(None)


def _nearest(dte: np.ndarray, target: float) -> int:
    return int(np.argmin(np.abs(dte - target)))


def iv_daily(term: pd.DataFrame, *, target_days: int = 30, term_days: int = 90) -> pd.DataFrame:
    """Per snapshot and underlying: ``atm_iv_30d``, ``front_iv``, ``term_slope``,
    ``skew_25d_30d`` from ``market.iv_term`` rows (see the module doc)."""
    if target_days < 1 or term_days < 1:
        raise VolatilityInputError(f"volatility.target_days and term_days must be >= 1, got "
                                   f"{target_days} and {term_days}")
    rows = []
    for (day, und), g in term.sort_values("dte").groupby(["trade_date", "underlying"], sort=True):
        dte = g["dte"].to_numpy(np.float64)
        iv = g["atm_iv"].to_numpy(np.float64)
        j = int(np.searchsorted(dte, target_days))
        if 0 < j < len(dte):
            t0, t1 = dte[j - 1], dte[j]
            w0, w1 = iv[j - 1] ** 2 * t0, iv[j] ** 2 * t1
            w = w0 + (w1 - w0) * (target_days - t0) / (t1 - t0)
            iv30 = float(np.sqrt(max(w, 0.0) / target_days))
        else:
            iv30 = float(iv[_nearest(dte, target_days)])
        skew = g["skew_25d"].to_numpy(np.float64)[_nearest(dte, target_days)]
        slope = float(iv[_nearest(dte, term_days)] - iv[0]) if len(dte) > 1 else None
        rows.append({"trade_date": day, "underlying": und, "atm_iv_30d": iv30,
                     "skew_25d_30d": None if not np.isfinite(skew) else float(skew),
                     "front_iv": float(iv[0]), "term_slope": slope,
                     "vendor": ",".join(sorted(set(",".join(g["vendor"].astype(str)).split(","))))})
    return pd.DataFrame(rows)


def iv_rank(daily: pd.DataFrame, lookback: int = DEFAULT_LOOKBACK) -> pd.DataFrame:
    """``marts.iv_stats`` rows: :func:`iv_daily` rows with rank and percentile of
    ``atm_iv_30d`` over the last ``lookback`` snapshots of each underlying (module doc)."""
    if int(lookback) != lookback or lookback < 2:
        raise VolatilityInputError(f"volatility.lookback_sessions must be a whole number >= 2, got {lookback!r}")
    lookback = int(lookback)
    parts = []
    for _, g in daily.sort_values("trade_date").groupby("underlying", sort=True):
        x = g["atm_iv_30d"].to_numpy(np.float64)
        pad = np.concatenate([np.full(lookback - 1, np.nan), x])
        win = np.lib.stride_tricks.sliding_window_view(pad, lookback)  # (n, lookback), last = x
        used = np.sum(~np.isnan(win), axis=1)
        lo, hi = np.nanmin(win, axis=1), np.nanmax(win, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            rank = np.where(hi > lo, (x - lo) / (hi - lo), np.nan)
            below = np.sum(win[:, :-1] < x[:, None], axis=1)
            pct = np.where(used > 1, below / (used - 1), np.nan)
        parts.append(g.assign(iv_rank=rank, iv_percentile=pct, iv_min=lo, iv_max=hi,
                              lookback_sessions=lookback, sessions_used=used.astype(np.int64),
                              short_history=used < lookback))
    if not parts:
        return pd.DataFrame(columns=IV_STATS.column_names)
    out = pd.concat(parts, ignore_index=True)
    for c in ("iv_rank", "iv_percentile", "skew_25d_30d", "term_slope"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out[IV_STATS.column_names]


def history_warning(stats: pd.DataFrame) -> str | None:
    """One sentence naming the underlyings whose latest IV rank used fewer snapshots than the
    lookback asked (None when every window was full)."""
    if stats.empty:
        return None
    last = stats.sort_values("trade_date").groupby("underlying").tail(1)
    short = last[last["short_history"].astype(bool)]
    if short.empty:
        return None
    asked = int(short["lookback_sessions"].iloc[0])
    used = short["sessions_used"].astype(int)
    names = ", ".join(f"{u} ({n})" for u, n in list(zip(short["underlying"], used, strict=True))[:8])
    more = f" and {len(short) - 8} more" if len(short) > 8 else ""
    return (f"IV rank over fewer sessions than the {asked} asked: {names}{more} "
            f"(stored chain snapshots, {used.min()}..{used.max()}); the rank is over that shorter window")


def settings(cfg: Mapping[str, Any]) -> dict[str, int]:
    """``volatility`` config: ``lookback_sessions``, ``target_days``, ``term_days``."""
    v = cfg.get("volatility") or {}
    return {"lookback_sessions": int(v.get("lookback_sessions", DEFAULT_LOOKBACK)),
            "target_days": int(v.get("target_days", 30)), "term_days": int(v.get("term_days", 90))}
