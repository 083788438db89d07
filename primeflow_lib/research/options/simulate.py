"""Options backtest of one instrument: the blended signal -> option structures -> trades, legs,
equity.

Timing (daily bars; an option expires at 16:00 of its expiry session, ACT/365 years):

* the signal of bar ``d`` is known at its close; the structure it asks for (bullish /
  bearish / neutral, see :class:`~.spec.OptionsSpec`) is chosen then: expiry from the listed
  expiries, strikes from the close of ``d`` and the vol known at that close. It fills at the
  **open of bar d + 1** at the model mid (spot = that open, vol and rate as known at the close
  of ``d``) +/- ``fill_fraction`` x the modelled half-spread, plus commission. Nothing of bar
  ``d + 1`` except its open price enters the fill;
* every close the open legs are repriced (mid, no costs) for the equity curve and the exits;
* exits are decided at a close and fill at the next open like entries, except **expiry**, which
  settles at that close: legs expiring that session are worth exactly their intrinsic value at
  the close (cash-settled, no spread, no commission); other legs of the structure (calendars'
  back month) are sold at the model mid -/+ spread with commission at the same close;
* **same-bar rule**: expiry settles first whatever else triggers; otherwise the first of
  stop, profit_take, dte, signal, time (in that order) is the reason; the stop wins over a
  profit take on the same close;
* after a stop, the same signal class opens nothing until the class changes; after other
  exits a new structure can be decided at the same close and fill at the same open as the exit;
* bearish structures need no ``allow_short`` (no stock is shorted).

Accounting: cash starts at the capital; an entry pays ``qty x 100 x premium`` (premium < 0 is a
credit, so cash rises) plus commission; an exit receives ``qty x 100 x exit premium`` minus
commission. Equity = cash + open legs at mid x 100. Checked after every run (an exception if
broken): realised P&L of closed trades = the cash change they caused; every leg of a trade has
the same spot and timestamp at entry and at exit; an expired leg's exit value is exactly its
intrinsic value; a vertical's value per share stays within [0, strike width] at every mark.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from primeflow_lib.research.errors import ResearchError, RunConfigError
from primeflow_lib.research.options import contracts as ct
from primeflow_lib.research.options import vol as vm
from primeflow_lib.research.options.kernel import (
    CLOSE_NS,
    EXIT_REASONS,
    LEG_FIELDS,
    simulate_kernel,
)
from primeflow_lib.research.options.spec import OptionsSpec
from primeflow_lib.research.options.structures import SIGNAL_CLASSES, STRUCTURES

OPEN_NS = 9 * 3_600_000_000_000 + 30 * 60_000_000_000

#: fields of every leg in the CLI's ``--json`` (``legs`` list of each trade), in this order
LEG_JSON_FIELDS = (
    "right", "strike", "expiry", "contracts", "entry_spot", "entry_iv", "entry_years",
    "entry_mid", "entry_fill", "exit_spot", "exit_iv", "exit_years", "exit_mid", "exit_fill",
    "rate", "div_yield",
)  # fmt: skip


@dataclass
class OptionsRun:
    """What :func:`simulate_options` returns.

    Attributes:
        equity, position: per bar (position = structures held, + debit / - credit).
        trades: one row per structure trade (the ``research.backtest_trades`` columns plus
            ``structure``, ``signal_class``, ``premium`` (signed, USD per share), ``entry_bar``,
            ``exit_bar``).
        legs: one row per leg (``research.backtest_legs`` columns without run_id).
        iv_source: ``chain`` or ``realized``; note: human-readable sentence about the vol used.
        skipped_entries: decided entries not opened (0 contracts from risk sizing).
        legs_repriced: leg valuations the loop made (marks + fills).
    """

    equity: pd.Series
    position: pd.Series
    trades: pd.DataFrame
    legs: pd.DataFrame
    iv_source: str
    note: str
    skipped_entries: int = 0
    legs_repriced: int = 0
    info: dict = field(default_factory=dict)


def _series_at(value, days: np.ndarray, path: str) -> np.ndarray:
    if not isinstance(value, dict):
        return np.full(len(days), float(value))
    keys = np.array(list(value), dtype="datetime64[D]")
    vals = np.array(list(value.values()), dtype=np.float64)
    i = np.searchsorted(keys, days, side="right") - 1
    if (i < 0).any():
        raise RunConfigError(
            f"{path}: the series starts {keys[0]}, after the first bar {days[0]}; "
            "add a value dated on or before it"
        )
    return vals[i]


def signal_classes(signal: np.ndarray, threshold: float) -> np.ndarray:
    """0 bullish (``s >= T`` and ``s > 0``), 1 bearish (``s <= -T`` and ``s < 0``), 2 neutral
    (``|s| < T``), -1 no opinion (NaN)."""
    s = np.asarray(signal, dtype=np.float64)
    out = np.full(len(s), -1, dtype=np.int64)
    fin = np.isfinite(s)
    out[fin & (np.abs(s) < threshold)] = 2
    out[fin & (s >= threshold) & (s > 0)] = 0
    out[fin & (s <= -threshold) & (s < 0)] = 1
    return out


def exit_flags(signal: np.ndarray, threshold: float, exit_threshold: float, on: bool):
    """[3, n] signal-reversal exits of a bullish / bearish / neutral position at each close."""
    s = np.asarray(signal, dtype=np.float64)
    n = len(s)
    out = np.zeros((3, n), dtype=np.bool_)
    if on:
        fin = np.isfinite(s)
        out[0] = fin & (s <= -exit_threshold) & (s < 0)
        out[1] = fin & (s >= exit_threshold) & (s > 0)
        out[2] = fin & (np.abs(s) >= threshold) & (threshold > 0)
    return out


class _Vol:
    """The run's vol inputs: base vol per bar (realized) or the surface + snapshot per bar."""

    def __init__(self, spec: OptionsSpec, close, days, ppy, chain, symbol):
        self.mode = 0 if spec.iv_source == "realized" else 1
        self.skew = spec.put_skew if self.mode == 0 else 0.0
        n = len(close)
        if self.mode == 0:
            self.base = vm.realized_vol(close, spec.vol_window, ppy) * spec.vol_premium
            self.snap = np.zeros(n, dtype=np.int64)
            self.surf = vm.empty_surface_arrays()
            self.note = (
                f"iv_source realized: proxy vol = {spec.vol_window}-bar realised vol (ddof=1) x "
                f"{spec.vol_premium:g} + put_skew {spec.put_skew:g}; no option chain was used"
            )
            self.ok = np.isfinite(self.base) & (self.base > 0)
            self.surface = None
        else:
            if chain is None or len(chain) == 0:
                raise RunConfigError(
                    f"options.iv_source: 'chain' but no market.option_chain snapshot was found "
                    f"for {symbol!r}; load the chain or set iv_source: realized"
                )
            self.surface = vm.build_surface(chain, symbol)
            self.base = np.zeros(n)
            self.snap = vm.snapshot_index(self.surface, days).astype(np.int64)
            self.surf = vm.surface_arrays(self.surface)
            self.ok = self.snap >= 0
            self.note = (
                f"iv_source chain: IV from {len(self.surface.dates)} market.option_chain "
                f"snapshots of {symbol} ({self.surface.dates[0]} .. {self.surface.dates[-1]}); "
                f"{self.surface.ignored} quotes without IV ignored"
            )

    def check_chain(self, days: np.ndarray, first: int, max_age: int) -> None:
        """Every bar from ``first`` on must have a snapshot no older than ``max_age`` days."""
        if self.mode == 0 or first < 0:
            return
        bad = np.flatnonzero(self.snap[first:] < 0)
        if len(bad):
            d = days[first + bad[0]]
            raise RunConfigError(
                f"options.iv_source: 'chain' but market.option_chain has no snapshot dated on or "
                f"before {d} (a bar whose legs must be priced); load the chain or set "
                "iv_source: realized"
            )
        age = (days[first:] - self.surface.dates[self.snap[first:]]).astype(np.int64)
        old = np.flatnonzero(age > max_age)
        if len(old):
            i = first + old[0]
            raise RunConfigError(
                f"options.iv_source: the newest market.option_chain snapshot before {days[i]} is "
                f"{self.surface.dates[self.snap[i]]}, {age[old[0]]} days old "
                f"(options.chain_max_age_days: {max_age})"
            )

    def at(self, idx: np.ndarray, s: np.ndarray, k: np.ndarray, e_ns: np.ndarray) -> np.ndarray:
        if self.mode == 0:
            return self.base[idx] + self.skew * np.maximum(0.0, np.log(s / k))
        return vm.surface_iv_many(self.snap[idx], k, e_ns, *self.surf)


def _candidates(name, spec, close, days, t_close, vol, rate, div, expiries):
    """Strikes [n, 4] and expiry ns [n, 4] of structure ``name`` decided at each close, and a
    validity mask (vol known). The last bar gets no candidate (nothing fills after it)."""
    legs = STRUCTURES[name]
    n = len(close)
    ks = np.zeros((n, 4))
    es = np.zeros((n, 4), dtype=np.int64)
    if n < 2:
        return ks, es, np.zeros(n, dtype=bool)
    d = np.arange(n - 1)
    dec, fill = days[:-1], days[1:]
    front = ct.choose_expiry(dec, fill, spec.dte, spec.dte_rule, expiries)
    back = ct.choose_expiry(dec, fill, spec.dte + spec.calendar_gap_days, spec.dte_rule, expiries)
    if np.isnat(front).any() or np.isnat(back).any():
        raise RunConfigError("options.dte: no listed expiry that far after the last bar")
    # a calendar's back month must be later than its front month
    back = np.where(back <= front, expiries[np.searchsorted(expiries, front, side="right")
                                           .clip(max=len(expiries) - 1)], back)  # fmt: skip
    s = close[:-1]
    inc = ct.strike_increment(s, spec.strike_grid)
    ok = vol.ok[:-1].copy()
    sv = np.where(ok, s, np.nan)
    for j, leg in enumerate(legs):
        e = (front if leg.expiry == "front" else back).astype("datetime64[ns]").view(np.int64)
        es[:-1, j] = e
        call = leg.right == "C"
        if leg.strike == "atm":
            k = ct.snap(s, inc)
        elif leg.strike == "same":
            k = ks[:-1, leg.ref].copy()
        elif leg.strike == "wing":
            ref = ks[:-1, leg.ref]
            k = ct.snap(ref + leg.direction * spec.width, inc)
            k = np.where(k == ref, ref + leg.direction * inc, k)
            k = np.maximum(k, inc)
        elif spec.strike_by == "moneyness":
            k = ct.snap(s * (1.0 + spec.moneyness if call else 1.0 - spec.moneyness), inc)
        elif spec.strike_by == "offset":
            k = ct.snap(s + spec.offset if call else s - spec.offset, inc)
        else:
            target = spec.short_delta if leg.side < 0 else spec.long_delta
            years = ct.years_between(e, t_close[:-1])
            k = sv.copy()
            for _ in range(4):  # the vol depends on the strike (skew, surface): fixed point
                v = vol.at(d, s, np.where(ok, k, s), e)
                k = ct.strike_for_delta(s, target, years, v, rate[:-1], div[:-1], call)
            k = ct.snap(np.where(ok & np.isfinite(k), k, s), inc)
        ks[:-1, j] = k
    if vol.mode == 1:
        # every leg's vol must exist at the decision bar (checked again per bar)
        for j in range(len(legs)):
            v = vol.at(d, s, ks[:-1, j], es[:-1, j])
            ok &= np.isfinite(v) & (v > 0)
    return ks, es, np.append(ok, False)


def simulate_options(
    bars: pd.DataFrame,
    signal: pd.Series | np.ndarray,
    spec: OptionsSpec,
    *,
    capital: float,
    threshold: float = 0.0,
    exit_threshold: float = 0.0,
    signal_exit: bool = True,
    max_bars: int | None = None,
    periods_per_year: float = 252.0,
    chain: pd.DataFrame | None = None,
    symbol: str = "",
) -> OptionsRun:
    """Run ``spec`` on daily ``bars`` (validated frame: DatetimeIndex of session dates, columns
    open, close, ...) driven by ``signal`` (per bar, [-1, 1], NaN = no opinion).

    ``chain``: ``market.option_chain`` rows of the underlying (needed with iv_source chain).
    Raises :class:`RunConfigError` for bad input (naming the field) and :class:`ResearchError`
    when an accounting invariant is broken."""
    idx = pd.DatetimeIndex(bars.index)
    days = idx.normalize().to_numpy("datetime64[D]")
    day_ns = days.astype("datetime64[ns]").view(np.int64)
    t_open = day_ns + OPEN_NS
    t_close = day_ns + CLOSE_NS
    open_ = bars["open"].to_numpy(np.float64)
    close = bars["close"].to_numpy(np.float64)
    sig = np.asarray(signal, dtype=np.float64)
    n = len(close)
    vol = _Vol(spec, close, days, periods_per_year, chain, symbol)
    rate = _series_at(spec.rate, days, "options.rate")
    div = _series_at(spec.div_yield, days, "options.div_yield")
    cls = signal_classes(sig, threshold)
    names = [spec.structure_map()[c] for c in SIGNAL_CLASSES]
    last_day = (days[-1] + np.timedelta64(spec.dte + spec.calendar_gap_days + 70, "D")).astype(
        object
    )
    expiries = ct.listed_expiries(days[0].astype(object), last_day, spec.expiry_cycle)
    nlegs = np.zeros(3, dtype=np.int64)
    callm = np.zeros((3, 4), dtype=np.bool_)
    signed = np.zeros((3, 4))
    cand_k = np.zeros((3, n, 4))
    cand_e = np.zeros((3, n, 4), dtype=np.int64)
    is_cal = np.zeros(3, dtype=np.bool_)
    vpairs = np.full((3, 2, 2), -1, dtype=np.int64)
    for c, name in enumerate(names):
        if name is None:
            cls[cls == c] = -1
    # chain: every bar from the first decision on needs a snapshot (an error, never a proxy)
    wanted = np.flatnonzero(cls >= 0)
    vol.check_chain(days, int(wanted[0]) if len(wanted) else -1, spec.chain_max_age_days)
    for c, name in enumerate(names):
        if name is None:
            continue
        legs = STRUCTURES[name]
        nlegs[c] = len(legs)
        for j, leg in enumerate(legs):
            callm[c, j] = leg.right == "C"
            signed[c, j] = leg.signed
        is_cal[c] = name.endswith("calendar")
        if name in ("bull_call", "bear_put", "bull_put", "bear_call"):
            vpairs[c, 0] = (0, 1)
        elif name == "iron_condor":
            vpairs[c, 0] = (0, 1)
            vpairs[c, 1] = (2, 3)
        ks, es, ok = _candidates(name, spec, close, days, t_close, vol, rate, div, expiries)
        cand_k[c], cand_e[c] = ks, es
        cls[(cls == c) & ~ok] = -1  # vol warm-up: no decision possible
    flags = exit_flags(sig, threshold, exit_threshold, signal_exit)
    out = simulate_kernel(
        open_, close, t_open, t_close, day_ns, cls, flags,
        nlegs, callm, signed, cand_k, cand_e, is_cal, vpairs,
        vol.mode, vol.base, vol.skew, vol.snap, *vol.surf,
        rate, div, spec.fill_fraction, spec.spread_min, spec.spread_pct, spec.spread_otm,
        spec.spread_dte, spec.commission, 0 if spec.sizing == "contracts" else 1,
        spec.contracts, spec.risk_fraction,
        np.nan if spec.profit_take is None else spec.profit_take,
        np.nan if spec.stop is None else spec.stop,
        -1 if spec.dte_exit is None else spec.dte_exit,
        -1 if max_bars is None else max_bars, float(capital),
    )  # fmt: skip
    equity, position, ti, tf, legs_a, lexp, tts, nt, skipped, violations, cash = out
    trades, legs_df = _frames(idx, names, ti, tf, legs_a, lexp, tts, signed, callm, vol, spec)
    _check_invariants(trades, legs_df, tf, ti, cash, capital, violations, equity)
    held = int((position != 0).sum())
    repriced = int(sum(nlegs[c] for c in ti[:, 0])) * 2 + int(
        sum(((trades["exit_bar"] - trades["entry_bar"] + 1) * trades["n_legs"]).tolist())
    )
    return OptionsRun(
        equity=pd.Series(equity, index=idx, name="equity"),
        position=pd.Series(position, index=idx, name="position"),
        trades=trades.drop(columns=["n_legs"]),
        legs=legs_df,
        iv_source=spec.iv_source,
        note=vol.note,
        skipped_entries=int(skipped),
        legs_repriced=repriced,
        info={
            "bars_in_position": held,
            "structures": dict(zip(SIGNAL_CLASSES, names, strict=True)),
        },
    )


def _frames(idx, names, ti, tf, legs_a, lexp, tts, signed, callm, vol, spec):
    nt = len(ti)
    cls = ti[:, 0]
    prem = tf[:, 0]
    qty = ti[:, 3]
    basis = np.abs(prem) * qty * 100.0
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = np.where(basis > 0, tf[:, 2] / basis, np.nan)
    nl = np.array([len(STRUCTURES[names[c]]) for c in cls], dtype=np.int64)
    trades = pd.DataFrame(
        {
            "trade_no": np.arange(1, nt + 1, dtype=np.int64),
            "side": np.where(prem < 0, "short", "long"),
            "entry_ts": idx[ti[:, 1]] if nt else pd.DatetimeIndex([]),
            "exit_ts": idx[ti[:, 2]] if nt else pd.DatetimeIndex([]),
            "entry_price": np.abs(prem),
            "exit_price": np.abs(tf[:, 1]),
            "qty": qty.astype(np.float64),
            "pnl": tf[:, 2],
            "ret": ret,
            "fees": tf[:, 3],
            "exit_reason": [EXIT_REASONS[r] for r in ti[:, 4]],
            "bars_held": ti[:, 2] - ti[:, 1],
            "is_open": ti[:, 5].astype(bool),
            "entry_bar": ti[:, 1],
            "exit_bar": ti[:, 2],
            "structure": [names[c] for c in cls],
            "signal_class": [SIGNAL_CLASSES[c] for c in cls],
            "premium": prem,
            "n_legs": nl,
        }
    )
    rows = []
    for k in range(nt):
        c = cls[k]
        for j in range(nl[k]):
            rows.append((k, j, c))
    ki = np.array([r[0] for r in rows], dtype=np.int64)
    ji = np.array([r[1] for r in rows], dtype=np.int64)
    ci = np.array([r[2] for r in rows], dtype=np.int64)
    vals = legs_a[ki, ji] if len(rows) else np.zeros((0, 13))
    legs = pd.DataFrame(vals, columns=list(LEG_FIELDS))
    legs.insert(0, "trade_no", ki + 1)
    legs.insert(1, "leg_no", ji + 1)
    legs.insert(2, "structure", [names[c] for c in ci])
    legs.insert(3, "right", np.where(callm[ci, ji], "C", "P") if len(rows) else [])
    legs.insert(
        5, "expiry", pd.to_datetime(lexp[ki, ji]).date if len(rows) else np.array([], dtype=object)
    )
    legs.insert(6, "contracts", (signed[ci, ji] * ti[ki, 3]).astype(np.int64))
    legs.insert(7, "entry_ts", pd.to_datetime(tts[ki, 0]))
    legs.insert(8, "exit_ts", pd.to_datetime(tts[ki, 1]))
    legs["iv_source"] = spec.iv_source
    legs["exit_reason"] = [EXIT_REASONS[r] for r in ti[ki, 4]] if len(rows) else []
    legs["is_open"] = ti[ki, 5].astype(bool) if len(rows) else []
    return trades, legs


def _check_invariants(trades, legs, tf, ti, cash, capital, violations, equity):
    scale = max(1.0, abs(capital))
    closed = ~ti[:, 5].astype(bool)
    open_flow = -(ti[~closed, 3] * 100.0 * tf[~closed, 0] + tf[~closed, 3]).sum()
    if abs(tf[closed, 2].sum() + open_flow - (cash - capital)) > 1e-7 * scale:
        raise ResearchError(
            f"options invariant broken: realised P&L {tf[closed, 2].sum():.6f} != cash change "
            f"{cash - capital - open_flow:.6f}"
        )
    if len(equity) and abs(tf[:, 2].sum() - (equity[-1] - capital)) > 1e-7 * scale:
        raise ResearchError("options invariant broken: sum of trade P&L != final equity - capital")
    if violations:
        raise ResearchError(
            f"options invariant broken: a vertical was valued outside [0, width] {violations} times"
        )
    if len(legs):
        g = legs.groupby("trade_no")
        for col in ("entry_spot", "exit_spot", "entry_ts", "exit_ts"):
            if (g[col].nunique(dropna=False) > 1).any():
                raise ResearchError(f"options invariant broken: legs of one trade differ in {col}")
        exp = legs[(legs["exit_reason"] == "expiry") & (legs["exit_years"] == 0.0)]
        intrinsic = np.where(
            exp["right"] == "C",
            np.maximum(exp["exit_spot"] - exp["strike"], 0.0),
            np.maximum(exp["strike"] - exp["exit_spot"], 0.0),
        )
        if not np.array_equal(exp["exit_mid"].to_numpy(), intrinsic):
            raise ResearchError("options invariant broken: an expired leg is not worth intrinsic")


def legs_json(legs: pd.DataFrame, trade_no: int) -> list[dict]:
    """The ``legs`` list of one trade for the CLI's ``--json`` (fields :data:`LEG_JSON_FIELDS`;
    ``expiry`` ISO date, ``contracts`` signed, NaN as null)."""
    sub = legs[legs["trade_no"] == trade_no]
    out = []
    for row in sub.itertuples(index=False):
        d = {}
        for f in LEG_JSON_FIELDS:
            v = getattr(row, f)
            if f == "expiry":
                v = str(v)
            elif f == "contracts":
                v = int(v)
            elif f != "right":
                v = float(v)
                v = None if not np.isfinite(v) else v
            d[f] = v
        out.append(d)
    return out
