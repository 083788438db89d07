"""Dealer gamma exposure (GEX) from an option chain snapshot: totals, walls and the zero-gamma flip.

What dealers must trade to stay delta-hedged depends on the gamma they hold. From the open
interest of every listed contract and its implied volatility we estimate, per underlying and
snapshot (:func:`compute_gex`):

* **GEX of a contract**, USD of delta per 1 % move of the underlying::

      gex = sign x gamma x open_interest x 100 x spot^2 x 0.01

  ``gamma`` is the Black-Scholes gamma (:func:`primeflow_lib.pricing.bs_gamma`, per share per
  USD) at the snapshot's spot with the contract's own IV and **time to expiry** ``T`` =
  calendar time from the snapshot's as-of time to 16:00 America/New_York on the expiry date, in
  years of 365 days (ACT/365 on the New York wall clock: a DST change adds or removes no hour). The as-of time is the
  snapshot session's 16:00 close, or the export's own time stamp when it was taken during that
  session (``asof``). ``100`` is the contract multiplier. GEX is the dollar delta dealers gain
  (gex > 0) or lose for a +1 % move, i.e. what they sell (buy) to re-hedge. (AM-settled
  contracts such as the monthly SPX really expire at the open; they are treated as 16:00.)
* **Sign convention** (``convention``, named in every output row), an *assumption* about who
  holds the options, because dealers' books are not public:

  ================================  =====  =====  =====================================
  convention                        calls  puts   reading
  ================================  =====  =====  =====================================
  ``dealer_long_calls_short_puts``  +      -      the common "naive" model (default):
                                                  customers sell calls (overwriting) and
                                                  buy puts (hedges)
  ``dealer_short_all``              -      -      customers buy both: dealers short
                                                  gamma everywhere
  ================================  =====  =====  =====================================

* **Totals** (``total_gex = call_gex + put_gex``), **by strike** and **by expiry**.
* **Call wall / put wall**: the strike with the largest positive / most negative net GEX (calls
  and puts of every expiry at that strike summed); NULL when no strike is positive / negative
  (under ``dealer_short_all`` nothing is positive, so the call wall is always NULL there). Ties
  go to the lowest strike.
* **Zero-gamma flip**: the total GEX is recomputed at ``grid_points`` hypothetical spots evenly
  spaced from ``(1 - grid_pct)`` to ``(1 + grid_pct)`` x spot, each contract with its own IV and
  time (IV held fixed: no smile dynamics). Scanning the grid upwards, the first pair of
  neighbouring points whose totals have opposite signs brackets the flip, located by linear
  interpolation between them (a grid point whose total is exactly 0 between totals of opposite
  signs is the flip itself). **No sign change on the grid -> no flip (NULL)**, never the spot or
  0. ``flip_crossings`` counts the sign changes (2 or more: the profile crosses back; the flip
  is still the lowest one).

* **Regime at the snapshot's spot** (``regime``): ``POSITIVE`` / ``NEGATIVE`` by the sign of
  the profile at spot (``total_gex``), but ``NEAR_FLIP`` when spot is within ``near_flip_band``
  expected moves of the flip: there the sign of the total is not meaningful (a small change of
  spot, IV or open interest flips it, and reasonable methods disagree). The **expected move** is
  the day's one-standard-deviation move, ``spot x atm_iv x sqrt(1 / 365)`` USD, with ``atm_iv``
  the mean IV of the used contracts of the nearest expiry at the strike closest to spot.

Expiry is checked **before** anything about open interest or IV: a contract whose expiry
(16:00 on its expiry date) is at or before the as-of time carries no gamma, whatever IV it shows
(exports list expired series with IV 0), and is counted in ``contracts_expired``. Rows that
cannot be used otherwise are never dropped silently (:class:`GexResult`): rows with no open
interest (NULL; an open interest of 0 is a real value: the contract is used and adds 0), no (or
a non-positive) IV, a bad strike / right / expiry, or no spot for their underlying are returned
as ``market.quarantine`` rows with the field, value and rule. A snapshot (session) with no
usable row at all raises :class:`GexInputError`.

Every output names its units: ``units`` on each levels row (:data:`GEX_UNITS`).

:func:`gex_context` turns stored levels into the flow-context fields (``gex_*``), strictly from
snapshots dated before each event's session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.arrays import categorical, factorize
from primeflow_lib.pricing import bs_gamma, bs_gamma_profile
from primeflow_lib.schema.flow import FLOW_CONTEXT
from primeflow_lib.schema.quarantine import quarantine_rows

CONVENTIONS = ("dealer_long_calls_short_puts", "dealer_short_all")
DEFAULT_CONVENTION = CONVENTIONS[0]
#: contract multiplier (shares per listed equity option)
MULTIPLIER = 100.0
#: GEX is quoted per 1 % move of the underlying
MOVE = 0.01
TARGET_TABLE = "market.gamma_exposure"
REQUIRED_COLUMNS = (
    "trade_date", "underlying", "expiry", "right", "strike", "open_interest", "iv",
    "underlying_price", "vendor",
)
GEX_REGIMES = ("POSITIVE", "NEGATIVE", "NEAR_FLIP", "UNKNOWN")
#: the unit of every GEX figure
GEX_UNITS = "USD of dealer delta per 1% move of the underlying"
NS_YEAR = 365 * 86_400_000_000_000
CLOSE_HOUR = 16
#: the dealer-gamma columns of ``flow.flow_context``, as declared there
GEX_CONTEXT_COLUMNS = [c for c in FLOW_CONTEXT.column_names if c.startswith("gex_")]

# (rule name, field, text), in the order rows are checked: a row is quarantined for the first.
# The first _N_STRUCTURAL rules come before the expiry check (an expired row is counted
# expired, whatever its open interest or IV), the rest after it.
_N_STRUCTURAL = 5
_RULES = (
    ("not_null", "underlying", "underlying is missing"),
    ("not_null", "trade_date", "trade_date is missing"),
    ("right_c_or_p", "right", "right must be C or P"),
    ("price_positive", "strike", "strike must be finite and > 0"),
    ("not_null", "expiry", "expiry is missing"),
    ("no_open_interest", "open_interest", "open interest is missing: the contract's exposure is unknown"),
    ("volume_nonnegative", "open_interest", "open interest must be >= 0"),
    ("no_iv", "iv", "implied volatility is missing or not > 0: no gamma can be computed"),
    ("no_spot", "underlying_price", "no finite, positive underlying_price for this underlying in the snapshot"),
)


class GexInputError(ValueError):
    """A chain that cannot give any exposure (missing columns, no usable row in a snapshot, bad
    parameters); the message names the field, the value and the session."""


@dataclass
class GexResult:
    """What :func:`compute_gex` returns (every frame carries ``convention``).

    Attributes:
        levels: ``market.gamma_exposure`` rows, one per (trade_date, underlying).
        by_strike: ``market.gamma_by_strike`` rows.
        by_expiry: ``market.gamma_by_expiry`` rows.
        profile: total GEX at each hypothetical spot of the grid: ``trade_date, underlying,
            convention, spot, total_gex`` (``grid_points`` rows per underlying, ascending spot).
        quarantine: ``market.quarantine`` rows for unusable chain rows.
        stats: ``rows_in``, ``contracts_used``, ``contracts_expired``, ``quarantined``,
            ``quarantined_by_rule``, ``underlyings``, ``underlyings_without_usable_rows``.
    """

    levels: pd.DataFrame
    by_strike: pd.DataFrame
    by_expiry: pd.DataFrame
    profile: pd.DataFrame
    quarantine: pd.DataFrame
    stats: dict[str, Any] = field(default_factory=dict)


def convention_signs(convention: str) -> tuple[float, float]:
    """``(call sign, put sign)`` of a sign convention (see the module doc)."""
    if convention == "dealer_long_calls_short_puts":
        return 1.0, -1.0
    if convention == "dealer_short_all":
        return -1.0, -1.0
    raise GexInputError(f"gex convention {convention!r} is not one of {', '.join(CONVENTIONS)}")


def spot_grid(spot: np.ndarray, grid_pct: float, grid_points: int) -> np.ndarray:
    """``(len(spot), grid_points)`` hypothetical spots from ``(1 - grid_pct)`` to
    ``(1 + grid_pct)`` x each spot, evenly spaced (ascending)."""
    if not (0.0 < float(grid_pct) < 1.0):
        raise GexInputError(f"gex grid_pct must be between 0 and 1 (a fraction of spot), got {grid_pct!r}")
    if int(grid_points) != grid_points or grid_points < 2:
        raise GexInputError(f"gex grid_points must be an integer >= 2, got {grid_points!r}")
    mult = np.linspace(1.0 - grid_pct, 1.0 + grid_pct, int(grid_points))
    return np.asarray(spot, dtype=np.float64)[:, None] * mult[None, :]


def zero_gamma(spots: np.ndarray, profile: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(flip, crossings)`` per row of a ``(groups, points)`` profile on ascending ``spots``.

    ``flip``: the first sign change scanning upwards, linearly interpolated (NaN without one);
    ``crossings``: how many sign changes the row has. Exact zeros are skipped when looking for
    a change of sign; a zero point between opposite signs is the flip.
    """
    m, g = profile.shape
    flip = np.full(m, np.nan)
    crossings = np.zeros(m, np.int64)
    if g < 2 or m == 0:
        return flip, crossings
    with np.errstate(invalid="ignore"):
        cross = profile[:, :-1] * profile[:, 1:] < 0
    has_zero = (profile == 0).any(axis=1)
    simple = ~has_zero
    rows = np.flatnonzero(simple & cross.any(axis=1))
    j = np.argmax(cross[rows], axis=1)
    x0, x1 = spots[rows, j], spots[rows, j + 1]
    y0, y1 = profile[rows, j], profile[rows, j + 1]
    flip[rows] = x0 - y0 * (x1 - x0) / (y1 - y0)
    crossings[simple] = cross[simple].sum(axis=1)
    for r in np.flatnonzero(has_zero):  # rare: an exact zero on the grid
        nz = np.flatnonzero(profile[r] != 0)
        if len(nz) < 2:
            continue
        s = np.sign(profile[r, nz])
        ch = np.flatnonzero(s[:-1] != s[1:])
        crossings[r] = len(ch)
        if not len(ch):
            continue
        a, b = nz[ch[0]], nz[ch[0] + 1]
        if b == a + 1:
            x0, x1, y0, y1 = spots[r, a], spots[r, b], profile[r, a], profile[r, b]
            flip[r] = x0 - y0 * (x1 - x0) / (y1 - y0)
        else:
            flip[r] = spots[r, a + 1]
    return flip, crossings


def _dates(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values, errors="coerce").to_numpy("datetime64[D]")


def _num(values: pd.Series) -> np.ndarray:
    return pd.to_numeric(values, errors="coerce").to_numpy(np.float64, na_value=np.nan)


def compute_gex(
    chain: pd.DataFrame,
    *,
    convention: str = DEFAULT_CONVENTION,
    grid_pct: float = 0.20,
    grid_points: int = 60,
    rate: float = 0.0,
    div_yield: float = 0.0,
    source: str = "market.option_chain",
    asof: dt.datetime | Mapping[dt.date, dt.datetime] | None = None,
    near_flip_band: float = 0.5,
) -> GexResult:
    """Gamma exposure per underlying and snapshot from ``market.option_chain`` rows.

    Args:
        chain: chain rows (at least :data:`REQUIRED_COLUMNS`); one or several sessions, any
            order. The spot of a snapshot is the median ``underlying_price`` of its rows
            (vendors repeat one value per underlying).
        convention: ``dealer_long_calls_short_puts`` (default) or ``dealer_short_all``.
        grid_pct: half-width of the flip search grid, fraction of spot (0.20 = +/-20 %).
        grid_points: points on that grid (ends included).
        rate: continuously compounded risk-free rate, annual fraction.
        div_yield: continuous dividend yield, annual fraction.
        source: the ``source`` stored with quarantine rows.
        asof: when the snapshot was taken (naive America/New_York wall time), one for all
            sessions or per session; it counts only when it falls inside the session (before
            its 16:00 close). Default: each session's 16:00 close.
        near_flip_band: half-width of the ``NEAR_FLIP`` regime around the flip, in expected
            moves (see the module doc); 0 turns it off.

    Returns:
        :class:`GexResult` (see the module doc for every definition). Deterministic; rows are
        sorted by session, underlying, then strike / expiry / spot.

    Raises:
        GexInputError: a required column is absent, a parameter is invalid, the chain is empty,
            or a session has no usable row (the message gives the counts by rule).
    """
    call_sign, put_sign = convention_signs(convention)
    spot_grid(np.ones(1), grid_pct, grid_points)  # validates the grid parameters early
    missing = [c for c in REQUIRED_COLUMNS if c not in chain.columns]
    if missing:
        raise GexInputError(f"chain frame lacks the column(s) {missing} (market.option_chain columns)")
    if not len(chain):
        raise GexInputError("chain frame has no rows: nothing to compute gamma exposure from")
    df = chain.reset_index(drop=True)
    n = len(df)
    day = _dates(df["trade_date"])
    expiry = _dates(df["expiry"])
    strike = _num(df["strike"])
    oi = _num(df["open_interest"])
    iv = _num(df["iv"])
    up = _num(df["underlying_price"])
    r_codes, r_u = factorize(df["right"])
    r_up = np.array([str(x).strip().upper() for x in r_u], dtype=object)
    is_call_u = np.isin(r_up, ("C", "CALL"))
    ok_right_u = is_call_u | np.isin(r_up, ("P", "PUT"))
    ok_right = np.where(r_codes >= 0, ok_right_u[np.maximum(r_codes, 0)] if len(r_u) else False, False)
    is_call = np.where(r_codes >= 0, is_call_u[np.maximum(r_codes, 0)] if len(r_u) else False, False)

    # groups = (session, underlying), numbered in sorted order
    u_codes, u_u = factorize(df["underlying"])
    u_names = np.asarray(u_u, dtype=object).astype(str)
    rank = np.argsort(np.argsort(u_names, kind="stable"), kind="stable")
    u_sorted = np.sort(u_names)
    ok_key = (u_codes >= 0) & ~np.isnat(day)
    u_rank = np.where(u_codes >= 0, rank[np.maximum(u_codes, 0)] if len(rank) else 0, 0)
    day_i = np.where(np.isnat(day), 0, day.astype(np.int64))
    key = day_i * (len(u_sorted) + 1) + u_rank
    gkeys, gid = np.unique(np.where(ok_key, key, -1), return_inverse=True)
    gid = gid.reshape(-1)
    # group ids of rows without a key point at the -1 entry, if there is one
    has_bad_key = bool(len(gkeys)) and gkeys[0] == -1
    gid = gid - (1 if has_bad_key else 0)
    gkeys = gkeys[1:] if has_bad_key else gkeys
    ng = len(gkeys)
    g_day = (gkeys // (len(u_sorted) + 1)).astype("datetime64[D]")
    g_und = u_sorted[gkeys % (len(u_sorted) + 1)] if ng else np.array([], dtype=object)

    with np.errstate(invalid="ignore"):
        up_ok = np.isfinite(up) & (up > 0)
    valid_gid = gid >= 0
    spot = (
        pd.Series(np.where(up_ok & valid_gid, up, np.nan)).groupby(np.where(valid_gid, gid, ng)).median()
        .reindex(np.arange(ng)).to_numpy(np.float64)
    )
    row_spot = np.where(valid_gid, spot[np.maximum(gid, 0)] if ng else np.nan, np.nan)

    with np.errstate(invalid="ignore"):
        fails = [
            u_codes < 0,
            np.isnat(day),
            ~ok_right,
            ~(np.isfinite(strike) & (strike > 0)),
            np.isnat(expiry),
            np.isnan(oi),
            oi < 0,
            ~(np.isfinite(iv) & (iv > 0)),
            ~(np.isfinite(row_spot) & (row_spot > 0)),
        ]
    structural = np.zeros(n, bool)
    for f in fails[:_N_STRUCTURAL]:
        structural |= f
    t_years = _years_to_expiry(day, expiry, asof, structural)
    expired = ~structural & (t_years <= 0)
    rule = np.full(n, -1, np.int64)
    for i in range(len(fails) - 1, -1, -1):
        rule[fails[i] & (~expired if i >= _N_STRUCTURAL else True)] = i
    bad = rule >= 0
    used = ~bad & ~expired

    stats: dict[str, Any] = {
        "rows_in": n,
        "contracts_used": int(used.sum()),
        "contracts_expired": int(expired.sum()),
        "quarantined": int(bad.sum()),
        "quarantined_by_rule": {},
    }
    q = _quarantine(df, rule, bad, day, source)
    for i, (name, fld, _) in enumerate(_RULES):
        c = int((rule == i).sum())
        if c:
            k = f"{name}:{fld}"
            stats["quarantined_by_rule"][k] = stats["quarantined_by_rule"].get(k, 0) + c
    _fail_unusable_sessions(day, used, rule)

    used_g = np.bincount(gid[used], minlength=ng) if ng else np.zeros(0, np.int64)
    have = used_g > 0
    stats["underlyings"] = int(have.sum())
    stats["underlyings_without_usable_rows"] = sorted(
        f"{g_day[g]}:{g_und[g]}" for g in np.flatnonzero(~have))
    # per-group counts of the output rows
    exp_g = np.bincount(gid[expired], minlength=ng) if ng else np.zeros(0, np.int64)
    bad_g = np.bincount(gid[bad & valid_gid], minlength=ng) if ng else np.zeros(0, np.int64)

    idx = np.flatnonzero(used)
    order = idx[np.lexsort((strike[idx], gid[idx]))]
    g = gid[order]
    K, T, V = strike[order], t_years[order], iv[order]
    S = spot[g]
    call = is_call[order]
    w = np.where(call, call_sign, put_sign) * oi[order] * MULTIPLIER * MOVE
    gex = w * bs_gamma(S, K, T, V, rate, div_yield) * S * S
    call_gex = np.bincount(g, weights=np.where(call, gex, 0.0), minlength=ng)
    put_gex = np.bincount(g, weights=np.where(call, 0.0, gex), minlength=ng)
    vendors = _vendor_per_group(df["vendor"], order, g, ng)

    by_strike = _by_key(g, K, call, gex, oi[order], g_day, g_und, vendors, "strike", convention)
    eorder = np.lexsort((expiry[order], g))
    by_expiry = _by_key(g[eorder], expiry[order][eorder], call[eorder], gex[eorder], oi[order][eorder],
                        g_day, g_und, vendors, "expiry", convention)
    call_wall, put_wall = _walls(by_strike, ng)
    for f in (by_strike, by_expiry):  # an array in attrs would break pd.concat of results
        f.attrs.pop("group", None)

    gs = np.flatnonzero(have)
    spots = spot_grid(spot[gs], grid_pct, grid_points)
    offsets = np.r_[0, np.cumsum(used_g[gs])]
    prof = bs_gamma_profile(spots, offsets, K, T, V, w, rate, div_yield) * spots * spots
    flip, crossings = zero_gamma(spots, prof)

    atm_iv = _atm_iv(g, K, T, V, spot, ng)[gs]
    em = spot[gs] * atm_iv * np.sqrt(1.0 / 365.0)
    regime = regime_codes(call_gex[gs] + put_gex[gs], flip, spot[gs], em, near_flip_band)
    levels = pd.DataFrame({
        "trade_date": g_day[gs],
        "underlying": g_und[gs],
        "convention": convention,
        "spot": spot[gs],
        "total_gex": call_gex[gs] + put_gex[gs],
        "call_gex": call_gex[gs],
        "put_gex": put_gex[gs],
        "call_wall": call_wall[gs],
        "put_wall": put_wall[gs],
        "zero_gamma": flip,
        "flip_crossings": crossings,
        "grid_low": spots[:, 0] if len(gs) else np.zeros(0),
        "grid_high": spots[:, -1] if len(gs) else np.zeros(0),
        "grid_points": int(grid_points),
        "contracts_used": used_g[gs],
        "contracts_expired": exp_g[gs],
        "contracts_quarantined": bad_g[gs],
        "vendor": vendors[gs],
        "asof": _asof_wall(g_day[gs], asof),
        "atm_iv": atm_iv,
        "expected_move": em,
        "near_flip_band": float(near_flip_band),
        "regime": np.asarray(GEX_REGIMES, dtype=object)[regime] if len(gs) else np.zeros(0, dtype=object),
        "units": GEX_UNITS,
    })
    profile = pd.DataFrame({
        "trade_date": np.repeat(g_day[gs], grid_points),
        "underlying": np.repeat(g_und[gs], grid_points),
        "convention": convention,
        "spot": spots.reshape(-1),
        "total_gex": prof.reshape(-1),
    })
    return GexResult(levels=levels, by_strike=by_strike, by_expiry=by_expiry, profile=profile,
                     quarantine=q, stats=stats)


def _asof_wall(days: np.ndarray, asof: dt.datetime | Mapping[dt.date, dt.datetime] | None) -> np.ndarray:
    """Per session: the as-of time (naive New York wall time, ns): the session's 16:00 close,
    or an earlier ``asof`` on that date."""
    d = np.asarray(days, dtype="datetime64[D]")
    close = d.astype("datetime64[ns]") + np.timedelta64(CLOSE_HOUR, "h")
    if asof is None:
        return close
    out = close.copy()
    for i, day in enumerate(d):
        if np.isnat(day):
            continue
        a = asof if isinstance(asof, dt.datetime) else asof.get(day.astype(object))
        if a is not None:
            a64 = np.datetime64(pd.Timestamp(a).tz_localize(None).as_unit("ns"))
            if a64.astype("datetime64[D]") == day and a64 < close[i]:
                out[i] = a64
    return out


def _years_to_expiry(day: np.ndarray, expiry: np.ndarray, asof, skip: np.ndarray) -> np.ndarray:
    """ACT/365 years from each row's as-of time to 16:00 on its expiry date, both New York wall
    times (0 where ``skip``)."""
    n = len(day)
    out = np.zeros(n)
    ok = ~skip
    if not ok.any():
        return out
    udays, dinv = np.unique(day[ok], return_inverse=True)
    start = _asof_wall(udays, asof)[dinv.reshape(-1)].astype(np.int64)
    end = (expiry[ok].astype("datetime64[ns]") + np.timedelta64(CLOSE_HOUR, "h")).astype(np.int64)
    out[ok] = (end - start) / NS_YEAR
    return out


def _atm_iv(g: np.ndarray, K: np.ndarray, T: np.ndarray, V: np.ndarray, spot: np.ndarray,
            ng: int) -> np.ndarray:
    """Per group: mean IV of the used contracts of the nearest expiry at the strike closest to
    spot (NaN without used contracts)."""
    out = np.full(ng, np.nan)
    if not len(g):
        return out
    df = pd.DataFrame({"g": g, "K": K, "T": T, "V": V})
    near = df.groupby("g")["T"].transform("min")
    d = df[df["T"] == near].copy()
    d["dist"] = (d["K"] - spot[d["g"].to_numpy()]).abs()
    best = d.groupby("g")["dist"].transform("min")
    atm = d[d["dist"] == best].groupby("g")["V"].mean()
    out[atm.index.to_numpy()] = atm.to_numpy()
    return out


def regime_codes(total: np.ndarray, flip: np.ndarray, spot: np.ndarray, expected_move: np.ndarray,
                 band: float | np.ndarray) -> np.ndarray:
    """Index into :data:`GEX_REGIMES` per row: NEAR_FLIP when spot is within ``band`` expected
    moves of the flip, else POSITIVE / NEGATIVE by the sign of ``total`` (the profile at spot),
    UNKNOWN when that is 0 or NaN."""
    with np.errstate(invalid="ignore"):
        code = np.where(total > 0, 0, np.where(total < 0, 1, 3))
        near = (np.isfinite(flip) & np.isfinite(spot) & np.isfinite(expected_move)
                & (np.abs(spot - flip) <= np.asarray(band) * expected_move) & (np.asarray(band) > 0))
    return np.where(near, 2, code).astype(np.int64)


def _quarantine(df: pd.DataFrame, rule: np.ndarray, bad: np.ndarray, day: np.ndarray, source: str) -> pd.DataFrame:
    bi = np.flatnonzero(bad)
    rows = df.iloc[bi]
    fields = [_RULES[rule[i]][1] for i in bi]
    values = [None if pd.isna(v) else v for v in (df.at[i, f] for i, f in zip(bi, fields, strict=True))]
    return quarantine_rows(
        TARGET_TABLE, rows, source=source,
        reason=[f"{_RULES[rule[i]][0]}: {_RULES[rule[i]][2]}" for i in bi],
        field=fields, value=values, row_number=list(bi),
        trade_date=[None if np.isnat(day[i]) else day[i].astype(object) for i in bi],
    )


def _fail_unusable_sessions(day: np.ndarray, used: np.ndarray, rule: np.ndarray) -> None:
    """Raise when a session of the chain has no row that can carry exposure."""
    known = ~np.isnat(day)
    sessions = np.unique(day[known])
    with_used = np.unique(day[used])
    dead = np.setdiff1d(sessions, with_used)
    if not len(dead) and known.any():
        return
    d = dead[0] if len(dead) else None
    sel = (day == d) if d is not None else ~known
    why = {}
    for i, (name, fld, _) in enumerate(_RULES):
        c = int((rule[sel] == i).sum())
        if c:
            why[f"{name}:{fld}"] = c
    expired = int((sel & (rule < 0)).sum())
    if expired:
        why["expired_at_snapshot"] = expired
    raise GexInputError(
        f"market.option_chain snapshot {d if d is not None else '(no trade_date)'}: none of its "
        f"{int(sel.sum())} rows can carry gamma exposure ({why}); fix or re-ingest the chain")


def _vendor_per_group(vendor: pd.Series, order: np.ndarray, g: np.ndarray, ng: int) -> np.ndarray:
    """The vendor of each group's used rows ('+'-joined, sorted, when several)."""
    codes, uniq = factorize(vendor)
    names = np.asarray(uniq, dtype=object).astype(str)
    c = codes[order]
    pairs = np.unique(np.column_stack([g, c]), axis=0) if len(g) else np.zeros((0, 2), np.int64)
    out = np.full(ng, "", dtype=object)
    for gi, ci in pairs:
        name = names[ci] if ci >= 0 else "unknown"
        out[gi] = name if not out[gi] else "+".join(sorted({*out[gi].split("+"), name}))
    return out


def _by_key(g, k, call, gex, oi, g_day, g_und, vendors, name, convention) -> pd.DataFrame:
    """Sums per (group, key) of rows sorted by (group, key)."""
    if not len(g):
        starts = np.zeros(0, np.int64)
    else:
        brk = np.r_[True, (g[1:] != g[:-1]) | (k[1:] != k[:-1])]
        starts = np.flatnonzero(brk)

    def red(x):
        return np.add.reduceat(x, starts) if len(starts) else np.zeros(0)

    cg, pg = red(np.where(call, gex, 0.0)), red(np.where(call, 0.0, gex))
    gg = g[starts]
    out = pd.DataFrame({
        "trade_date": g_day[gg],
        "underlying": g_und[gg],
        name: k[starts],
        "convention": convention,
        "call_gex": cg,
        "put_gex": pg,
        "net_gex": cg + pg,
        "call_oi": red(np.where(call, oi, 0.0)).astype(np.int64),
        "put_oi": red(np.where(call, 0.0, oi)).astype(np.int64),
        "contracts": red(np.ones(len(g))).astype(np.int64),
        "vendor": vendors[gg],
    })
    out.attrs["group"] = gg
    return out


def _walls(by_strike: pd.DataFrame, ng: int) -> tuple[np.ndarray, np.ndarray]:
    """Per group: strike of the largest positive and of the most negative net GEX (NaN when
    none); rows are sorted by strike within a group, so ties go to the lowest strike."""
    call_wall = np.full(ng, np.nan)
    put_wall = np.full(ng, np.nan)
    if not len(by_strike):
        return call_wall, put_wall
    gg = by_strike.attrs["group"]
    net = by_strike["net_gex"].to_numpy(np.float64)
    k = by_strike["strike"].to_numpy(np.float64)
    s = pd.Series(net)
    imax = s.groupby(gg).idxmax()
    imin = s.groupby(gg).idxmin()
    gm = imax.index.to_numpy()
    pos = net[imax.to_numpy()] > 0
    call_wall[gm[pos]] = k[imax.to_numpy()[pos]]
    neg = net[imin.to_numpy()] < 0
    put_wall[gm[neg]] = k[imin.to_numpy()[neg]]
    return call_wall, put_wall


# ------------------------------------------------------------------------------ flow context


def gex_context(
    ticker: pd.Series, event_date: np.ndarray, spot: np.ndarray, levels: pd.DataFrame | None
) -> dict[str, Any]:
    """The ``gex_*`` flow-context fields of events, from stored ``market.gamma_exposure`` rows.

    For each event the levels row of its ticker with the latest ``trade_date`` **strictly
    before** the event's session is used (the chain snapshot is taken after the close, so the
    same session's levels would be look-ahead; its OI is the vendor's start-of-day figure, so
    the levels used are about one session old). Then, with ``spot`` the event's spot:

    * ``gex_date``, ``gex_convention``, ``gex_total``, ``gex_flip``, ``gex_call_wall``,
      ``gex_put_wall``: copied from that row (null without one);
    * ``gex_regime``: the sign of the GEX profile at the event's spot, ``POSITIVE`` or
      ``NEGATIVE``. ``gex_total`` is the profile at the snapshot's spot; on the same side of the
      flip as that spot the regime is its sign, across the flip the opposite sign. In the usual
      shape (negative below the flip, positive above) that is "spot above the flip = positive
      gamma"; when the profile is inverted (positive below its lowest crossing) it still gives
      the profile's sign. Without a flip (one sign over the whole grid): the sign of
      ``gex_total``. ``NEAR_FLIP`` when the event's spot is within the row's ``near_flip_band``
      expected moves (``expected_move``) of the flip: there the sign is not meaningful.
      ``UNKNOWN`` without levels, with a zero total, or with a flip but no spot.
      A second crossing between the snapshot's spot and the event's is not seen (the profile
      is not stored per event; spot rarely moves that far in a session);
    * ``gex_flip_dist``, ``gex_call_wall_dist``, ``gex_put_wall_dist``: ``level / spot - 1``
      (negative: the level is below spot); null when either is unknown.

    Args:
        ticker: the events' tickers.
        event_date: the events' sessions (``datetime64`` or int ns).
        spot: the events' spot, USD (NaN when unknown).
        levels: ``market.gamma_exposure`` rows (``trade_date, underlying, convention, spot,
            total_gex, zero_gamma, call_wall, put_wall``) or None.

    Raises:
        ValueError: ``levels`` holds two rows for one (trade_date, underlying).
    """
    ne = len(ticker)
    nan = np.full(ne, np.nan)
    out: dict[str, Any] = {
        "gex_date": np.full(ne, np.datetime64("NaT"), dtype="datetime64[ns]"),
        "gex_convention": pd.Categorical([None] * ne, categories=list(CONVENTIONS)),
        "gex_total": nan.copy(),
        "gex_flip": nan.copy(),
        "gex_call_wall": nan.copy(),
        "gex_put_wall": nan.copy(),
    }
    ok = np.zeros(ne, bool)
    if levels is not None and len(levels) and ne:
        lv = levels
        dup = lv.duplicated(["trade_date", "underlying"], keep=False)
        if dup.any():
            r = lv[dup].iloc[0]
            raise ValueError(f"gamma levels: two rows for {r['underlying']} on {r['trade_date']} "
                             "(one convention per session)")
        l_day = pd.to_datetime(lv["trade_date"]).to_numpy("datetime64[D]").astype(np.int64)
        l_u, l_tk = np.unique(lv["underlying"].astype(str).to_numpy(dtype=object).astype(str),
                              return_inverse=True)
        o = np.lexsort((l_day, l_tk))
        l_key = l_tk[o] * 1_000_000 + l_day[o]
        e_codes, e_u = factorize(ticker)
        e_u = np.asarray(e_u, dtype=object).astype(str)
        pos = np.searchsorted(l_u, e_u)
        hit = (pos < len(l_u)) & (l_u[np.minimum(pos, len(l_u) - 1)] == e_u)
        per_u = np.where(hit, pos, -1)
        etk = np.where(e_codes >= 0, per_u[np.maximum(e_codes, 0)] if len(per_u) else -1, -1)
        e_day = np.asarray(event_date).astype("datetime64[ns]").astype("datetime64[D]").astype(np.int64)
        j = np.searchsorted(l_key, etk * 1_000_000 + e_day - 1, side="right") - 1
        jj = o[np.maximum(j, 0)]
        ok = (etk >= 0) & (j >= 0) & (l_tk[jj] == etk)

        def take(col: str) -> np.ndarray:
            v = pd.to_numeric(lv[col], errors="coerce").to_numpy(np.float64, na_value=np.nan)
            return np.where(ok, v[jj], np.nan)

        out["gex_date"] = np.where(ok, l_day[jj].astype("datetime64[D]"), np.datetime64("NaT")).astype(
            "datetime64[ns]")
        conv = pd.Categorical(lv["convention"].astype(str).to_numpy(dtype=object), categories=list(CONVENTIONS))
        out["gex_convention"] = pd.Categorical.from_codes(
            np.where(ok, conv.codes[jj], -1), categories=list(CONVENTIONS))
        out["gex_total"] = take("total_gex")
        out["gex_flip"] = take("zero_gamma")
        out["gex_call_wall"] = take("call_wall")
        out["gex_put_wall"] = take("put_wall")
        out["_snap_spot"] = take("spot")
        out["_em"] = take("expected_move") if "expected_move" in lv else nan.copy()
        out["_band"] = take("near_flip_band") if "near_flip_band" in lv else nan.copy()
    sp = np.asarray(spot, dtype=np.float64)
    flip, total, snap = out["gex_flip"], out["gex_total"], out.pop("_snap_spot", nan)
    em, band = out.pop("_em", nan), out.pop("_band", nan)
    has_flip = np.isfinite(flip)
    with np.errstate(invalid="ignore", divide="ignore"):
        # the profile's sign at the event's spot: total_gex is its value at the snapshot's spot;
        # crossing the flip changes it (the usual shape: negative below the flip, positive above)
        sgn = np.where(total > 0, 1, np.where(total < 0, -1, 0))
        across = has_flip & ((sp >= flip) != (snap >= flip))
        sgn = np.where(across, -sgn, sgn)
        known = ok & (sgn != 0) & (~has_flip | (np.isfinite(sp) & np.isfinite(snap)))
        code = np.where(known, np.where(sgn > 0, 0, 1), 3)
        near = ok & has_flip & np.isfinite(sp) & np.isfinite(em) & (np.nan_to_num(band) > 0) & (
            np.abs(sp - flip) <= band * em)
        code = np.where(near, 2, code)
        for name, col in (("gex_flip_dist", "gex_flip"), ("gex_call_wall_dist", "gex_call_wall"),
                          ("gex_put_wall_dist", "gex_put_wall")):
            out[name] = out[col] / sp - 1.0
    out["gex_regime"] = categorical(code, GEX_REGIMES)
    return out
