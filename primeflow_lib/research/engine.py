"""The backtest engine: one compiled (numba) pass over the bars of one instrument.

Signal to position
------------------
The input signal ``s[t]`` (in [-1, +1], NaN = no opinion) is known at the close of bar ``t``.
With ``threshold`` ``T`` and ``exit_threshold`` ``X`` (both >= 0):

* **enter long** when flat and ``s >= T`` and ``s > 0``;
* **enter short** (only with ``allow_short``) when flat and ``s <= -T`` and ``s < 0``;
* **signal exit** (``signal_exit``, on by default): a long closes when ``s <= -X`` and ``s < 0``,
  a short when ``s >= X`` and ``s > 0``; if the same signal also qualifies for the opposite
  entry, the position reverses at the same fill;
* a NaN signal changes nothing (warm-up bars never trade);
* ``entry_on`` (:data:`ENTRY_RULES`): ``"level"`` (default) enters whenever the signal is in an
  entry zone, including the first bar after warm-up; ``"cross"`` enters only on the bar the
  signal *moves into* the zone, i.e. the previous non-NaN signal was known and outside it (the
  crossover convention of backtesting.py's ``crossover()`` and vectorbt's ``crossed_above``).
  A signal already beyond the threshold when warm-up ends waits for the next crossing. Exits
  are the same under both rules.

Fills
-----
``fill="next_open"`` (default): a decision at the close of ``t`` fills at the open of ``t + 1``;
the signal of the last bar is not traded. ``fill="close"``: it fills at the close of ``t``.
Buys fill at ``price * (1 + slippage_pct)``, sells at ``price * (1 - slippage_pct)``.
Commission per fill: ``shares * fill_price * commission_pct + shares * commission_per_share``.

Protective exits (stop-loss, take-profit, trailing stop, time)
--------------------------------------------------------------
Levels are fractions of the entry *fill* price: long stop ``entry * (1 - stop_loss)``, long
target ``entry * (1 + take_profit)``, long trailing stop ``peak * (1 - trailing_stop)`` where
``peak`` is the highest high of the bars *completed* since entry (the entry price on the entry bar);
shorts mirror this with the lowest low. When both stop-loss and trailing stop are set, the tighter
one is the stop (equal levels count as ``stop_loss``).

Order of events inside bar ``t`` - **the same-bar rule**:

1. at the open, a position carried into the bar exits at the **open** if the open is at or
   through its stop (gap-through, reason ``stop_loss``/``trailing_stop``) or at or through its
   target (reason ``take_profit``);
2. (next_open) a time exit fills at the open once ``t - entry_bar >= max_bars``; then the
   previous close's signal is executed at the open;
3. intrabar, against the bar's high/low: stop first (at the stop level), then target (at the
   target level). When a bar's range holds both, the **stop wins** (we cannot know the path, so
   we assume the worse one);
4. (close) a time exit fills at the close once ``t - entry_bar >= max_bars``; then the bar's own
   signal is executed at the close.

So a stop that is hit intrabar always beats a signal exit on the same bar: the stop happens before
the close at which the signal is even known. In next_open mode the signal exit of the previous
close fills at this bar's open, before the intrabar stop could trigger; at the open itself a gap
through the stop is reported as the stop, at the same open price.

After a protective exit the engine does not re-enter on the same side until the signal has left
that side's entry zone (otherwise a still-bullish signal would re-buy the next bar and the stop
would mean nothing).

Sizing
------
``size_mode="percent_equity"``: spend ``size_value`` x equity (1.0 = all of it) at the fill;
``"fixed_cash"``: spend ``size_value`` USD. Shares = budget / (fill * (1 + commission_pct) +
commission_per_share), so fees are covered; with ``fractional=False`` rounded down to whole
shares (no trade when that is 0). Shorts are sized the same way.

Accounting
----------
``cash`` starts at ``capital``; equity at each close = cash + shares x close. A trade's ``pnl``
is net of both fills' fees; ``ret = pnl / (shares * entry_price)``; ``bars_held = exit_bar -
entry_bar``. A position still open after the last bar is reported as a trade with
``exit_reason = "open"``, valued at the last close without exit costs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numba as nb
import numpy as np
import pandas as pd

from primeflow_lib.research.errors import RunConfigError

# Exit reason codes used by the kernel (index into EXIT_REASONS).
NONE, SIGNAL, STOP_LOSS, TAKE_PROFIT, TRAILING_STOP, TIME, OPEN = range(7)
EXIT_REASONS = ("none", "signal", "stop_loss", "take_profit", "trailing_stop", "time", "open")
FILLS = ("next_open", "close")
ENTRY_RULES = ("level", "cross")
SIZE_MODES = ("percent_equity", "fixed_cash")


# error_model="numpy": float division never raises, so numba emits no exception branches in
# the hot loop (they cost about half the throughput).
_JIT = {"cache": True, "error_model": "numpy"}


@nb.njit(inline="always", **_JIT)
def _exit(
    tr, k, t, fill, qty, entry_bar, entry_px, entry_fee, cpct, cps, reason
):  # pragma: no cover
    """Record a closing fill as trade ``k``; returns the cash it brings (negative for a short)."""
    shares = abs(qty)
    fee = shares * fill * cpct + shares * cps
    tr[k, 0] = entry_bar
    tr[k, 1] = t
    tr[k, 2] = entry_px
    tr[k, 3] = fill
    tr[k, 4] = qty
    tr[k, 5] = entry_fee + fee
    tr[k, 6] = reason
    return qty * fill - fee


@nb.njit(**_JIT)
def backtest_kernel(
    open_, high, low, close, signal,
    threshold, exit_threshold, allow_short, signal_exit, fill_close,
    stop_loss, take_profit, trailing_stop, max_bars,
    commission_pct, commission_per_share, slippage_pct,
    fixed_cash, size_value, fractional, capital, entry_cross=False,
):  # fmt: skip  # pragma: no cover - compiled
    """Run one backtest; see the module docstring for every rule.

    Prices and ``signal`` are float64 arrays of equal length; stop_loss / take_profit /
    trailing_stop are fractions (0 = off); max_bars is an int (0 = off).

    Returns ``(equity, position, trades, n_trades)``: equity and signed shares at each close, and
    a ``(n + 1, 7)`` array whose first ``n_trades`` rows are ``entry_bar, exit_bar, entry_price,
    exit_price, signed qty, fees, reason code``.
    """
    n = close.shape[0]
    equity = np.empty(n)
    position = np.empty(n)
    tr = np.empty((n + 1, 7))
    k = backtest_kernel_into(
        open_, high, low, close, signal, equity, position, tr,
        threshold, exit_threshold, allow_short, signal_exit, fill_close,
        stop_loss, take_profit, trailing_stop, max_bars,
        commission_pct, commission_per_share, slippage_pct,
        fixed_cash, size_value, fractional, capital, entry_cross,
    )  # fmt: skip
    return equity, position, tr, k


@nb.njit(**_JIT)
def backtest_kernel_into(
    open_, high, low, close, signal, equity, position, tr,
    threshold, exit_threshold, allow_short, signal_exit, fill_close,
    stop_loss, take_profit, trailing_stop, max_bars,
    commission_pct, commission_per_share, slippage_pct,
    fixed_cash, size_value, fractional, capital, entry_cross=False,
):  # fmt: skip  # pragma: no cover - compiled
    """:func:`backtest_kernel` writing into caller-owned ``equity``, ``position`` (length n) and
    ``tr`` (shape ``(n + 1, 7)``); returns ``n_trades``. Reusing the buffers across runs (sweeps,
    tuners) saves the page faults of fresh allocations."""
    n = close.shape[0]
    k = 0
    cash = capital
    qty = 0.0
    side = 0
    entry_bar = -1
    entry_px = 0.0
    entry_fee = 0.0
    # Protective levels of the open position. Unset levels are +-inf so every check is a plain
    # comparison; the trailing level moves with `peak` (best high/low of completed bars).
    sl_level = 0.0
    target = 0.0
    peak = 0.0
    stop = 0.0
    trail_on = trailing_stop > 0.0
    block_long = False
    block_short = False
    buy_mult = 1.0 + slippage_pct
    sell_mult = 1.0 - slippage_pct
    cpct = commission_pct
    cps = commission_per_share
    prev_sig = np.nan
    # entry_cross: the last non-NaN signal acted on before this one (NaN until warm-up is over)
    last_sig = np.nan

    for t in range(n):
        o = open_[t]
        h = high[t]
        lo = low[t]
        c = close[t]

        # (1) the open: a position carried into the bar exits at the open if the open is at or
        # through its stop or target; (3, close mode) then the intrabar range before the close.
        if side != 0:
            px = 0.0
            why = NONE
            if side == 1:
                if o <= stop:
                    px = o
                    why = STOP_LOSS
                elif o >= target:
                    px = o
                    why = TAKE_PROFIT
                elif fill_close:
                    if lo <= stop:
                        px = stop
                        why = STOP_LOSS
                    elif h >= target:
                        px = target
                        why = TAKE_PROFIT
            else:
                if o >= stop:
                    px = o
                    why = STOP_LOSS
                elif o <= target:
                    px = o
                    why = TAKE_PROFIT
                elif fill_close:
                    if h >= stop:
                        px = stop
                        why = STOP_LOSS
                    elif lo <= target:
                        px = target
                        why = TAKE_PROFIT
            if why != NONE:
                if why == STOP_LOSS and stop != sl_level:
                    why = TRAILING_STOP
                mult = sell_mult if side == 1 else buy_mult
                cash += _exit(
                    tr, k, t, px * mult, qty, entry_bar, entry_px, entry_fee, cpct, cps, why
                )
                k += 1
                block_long = block_long or side == 1
                block_short = block_short or side == -1
                side = 0
                qty = 0.0

        # (2)/(4) the fill point: the open (next_open) or the close (close)
        if fill_close:
            px = c
            sig = signal[t]
        else:
            px = o
            sig = prev_sig
            prev_sig = signal[t]

        if side != 0 and max_bars > 0 and t - entry_bar >= max_bars:
            mult = sell_mult if side == 1 else buy_mult
            cash += _exit(tr, k, t, px * mult, qty, entry_bar, entry_px, entry_fee, cpct, cps, TIME)
            k += 1
            block_long = block_long or side == 1
            block_short = block_short or side == -1
            side = 0
            qty = 0.0

        if sig == sig:  # NaN = no opinion, nothing changes
            want_long = sig > 0.0 and sig >= threshold
            want_short = allow_short and sig < 0.0 and sig <= -threshold
            if not want_long:
                block_long = False
            if not want_short:
                block_short = False
            if entry_cross:
                # only a move *into* the zone enters: the previous signal must be known and
                # outside it, so a signal already beyond the threshold at warm-up waits
                was_long = last_sig > 0.0 and last_sig >= threshold
                was_short = last_sig < 0.0 and last_sig <= -threshold
                known = last_sig == last_sig
                last_sig = sig
                want_long = want_long and known and not was_long
                want_short = want_short and known and not was_short
            if signal_exit and (
                (side == 1 and sig < 0.0 and sig <= -exit_threshold)
                or (side == -1 and sig > 0.0 and sig >= exit_threshold)
            ):
                mult = sell_mult if side == 1 else buy_mult
                cash += _exit(
                    tr, k, t, px * mult, qty, entry_bar, entry_px, entry_fee, cpct, cps, SIGNAL
                )
                k += 1
                side = 0
                qty = 0.0
            new_side = 0
            if side == 0:
                if want_long and not block_long:
                    new_side = 1
                elif want_short and not block_short:
                    new_side = -1
            if new_side != 0:
                fill = px * (buy_mult if new_side == 1 else sell_mult)
                budget = size_value if fixed_cash else size_value * cash
                shares = budget / (fill * (1.0 + cpct) + cps)
                if not fractional:
                    # the epsilon keeps 9.999999999 (float noise) from becoming 9 shares
                    shares = np.floor(shares + 1e-9)
                if shares > 0.0:
                    fee = shares * fill * cpct + shares * cps
                    cash -= new_side * shares * fill + fee
                    qty = new_side * shares
                    side = new_side
                    entry_bar = t
                    entry_px = fill
                    entry_fee = fee
                    peak = fill
                    if new_side == 1:
                        sl_level = fill * (1.0 - stop_loss) if stop_loss > 0.0 else -np.inf
                        target = fill * (1.0 + take_profit) if take_profit > 0.0 else np.inf
                        stop = max(sl_level, fill * (1.0 - trailing_stop)) if trail_on else sl_level
                    else:
                        sl_level = fill * (1.0 + stop_loss) if stop_loss > 0.0 else np.inf
                        target = fill * (1.0 - take_profit) if take_profit > 0.0 else -np.inf
                        stop = min(sl_level, fill * (1.0 + trailing_stop)) if trail_on else sl_level

        # (3) next_open mode: intrabar stops, including for a position opened at this open
        if side != 0 and not fill_close:
            px = 0.0
            why = NONE
            if side == 1:
                if lo <= stop:
                    px = stop
                    why = STOP_LOSS
                elif h >= target:
                    px = target
                    why = TAKE_PROFIT
            else:
                if h >= stop:
                    px = stop
                    why = STOP_LOSS
                elif lo <= target:
                    px = target
                    why = TAKE_PROFIT
            if why != NONE:
                if why == STOP_LOSS and stop != sl_level:
                    why = TRAILING_STOP
                mult = sell_mult if side == 1 else buy_mult
                cash += _exit(
                    tr, k, t, px * mult, qty, entry_bar, entry_px, entry_fee, cpct, cps, why
                )
                k += 1
                block_long = block_long or side == 1
                block_short = block_short or side == -1
                side = 0
                qty = 0.0

        # The bar is complete: its extreme joins the trailing reference (not for a close entry,
        # whose bar happened before the entry). Branch-free max/min keeps this path cheap.
        if trail_on and side != 0 and not (fill_close and entry_bar == t):
            if side == 1:
                peak = max(peak, h)
                stop = max(sl_level, peak * (1.0 - trailing_stop))
            else:
                peak = min(peak, lo)
                stop = min(sl_level, peak * (1.0 + trailing_stop))
        equity[t] = cash + qty * c
        position[t] = qty

    if side != 0:
        tr[k, 0] = entry_bar
        tr[k, 1] = n - 1
        tr[k, 2] = entry_px
        tr[k, 3] = close[n - 1]
        tr[k, 4] = qty
        tr[k, 5] = entry_fee
        tr[k, 6] = OPEN
        k += 1
    return k


@dataclass(frozen=True)
class EngineParams:
    """Everything the engine needs besides prices and the signal (see the module docstring).

    Attributes:
        threshold: entry threshold T on |signal|, in [0, 1].
        exit_threshold: signal-exit threshold X, in [0, 1].
        allow_short: take short entries.
        signal_exit: close positions on an opposite signal.
        fill: ``"next_open"`` or ``"close"``.
        stop_loss / take_profit / trailing_stop: fractions of the entry price (0.05 = 5%), or None.
        max_bars: time exit after this many bars held, or None.
        commission_pct: fraction of traded notional per fill (0.001 = 10 bp).
        commission_per_share: USD per share per fill.
        slippage_pct: adverse price move per fill, fraction of price.
        size_mode / size_value: ``percent_equity`` (fraction of equity, 1.0 = 100%) or
            ``fixed_cash`` (USD per entry).
        fractional: allow fractional shares.
        capital: starting cash, USD.
        entry_on: ``"level"`` (enter while the signal is in the entry zone) or ``"cross"``
            (enter only when it moves into the zone; see the module docstring).
    """

    threshold: float = 0.0
    exit_threshold: float = 0.0
    allow_short: bool = False
    signal_exit: bool = True
    fill: str = "next_open"
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    max_bars: int | None = None
    commission_pct: float = 0.0
    commission_per_share: float = 0.0
    slippage_pct: float = 0.0
    size_mode: str = "percent_equity"
    size_value: float = 1.0
    fractional: bool = True
    capital: float = 100_000.0
    entry_on: str = "level"

    def __post_init__(self) -> None:
        def bad(name: str, rule: str) -> RunConfigError:
            return RunConfigError(f"{name} = {getattr(self, name)!r}: {rule}")

        for name in ("threshold", "exit_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise bad(name, "must be between 0 and 1")
        if self.entry_on not in ENTRY_RULES:
            raise bad("entry_on", f"must be one of {list(ENTRY_RULES)}")
        if self.fill not in FILLS:
            raise bad("fill", f"must be one of {list(FILLS)}")
        if self.size_mode not in SIZE_MODES:
            raise bad("size_mode", f"must be one of {list(SIZE_MODES)}")
        for name in ("stop_loss", "trailing_stop"):
            v = getattr(self, name)
            if v is not None and not 0.0 < v < 1.0:
                raise bad(name, "must be a fraction between 0 and 1 (0.05 = 5%), or None")
        if self.take_profit is not None and not self.take_profit > 0.0:
            raise bad("take_profit", "must be > 0 (0.10 = 10%), or None")
        if self.max_bars is not None and (int(self.max_bars) != self.max_bars or self.max_bars < 1):
            raise bad("max_bars", "must be a whole number >= 1, or None")
        for name in ("commission_pct", "commission_per_share"):
            if not getattr(self, name) >= 0.0:
                raise bad(name, "must be >= 0")
        if not 0.0 <= self.slippage_pct < 0.5:
            raise bad("slippage_pct", "must be in [0, 0.5)")
        if not self.size_value > 0.0:
            raise bad("size_value", "must be > 0")
        if not self.capital > 0.0:
            raise bad("capital", "must be > 0")

    def kernel_args(self) -> tuple:
        """Scalar arguments of :func:`backtest_kernel` after the five arrays, in order."""
        return (
            float(self.threshold), float(self.exit_threshold), bool(self.allow_short),
            bool(self.signal_exit), self.fill == "close",
            float(self.stop_loss or 0.0), float(self.take_profit or 0.0),
            float(self.trailing_stop or 0.0), int(self.max_bars or 0),
            float(self.commission_pct), float(self.commission_per_share), float(self.slippage_pct),
            self.size_mode == "fixed_cash", float(self.size_value), bool(self.fractional),
            float(self.capital), self.entry_on == "cross",
        )  # fmt: skip

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EngineOutput:
    """Per-bar equity and signed position (shares at the close), and the trades table."""

    equity: pd.Series
    position: pd.Series
    trades: pd.DataFrame


TRADE_COLUMNS = (
    "trade_no", "side", "entry_ts", "exit_ts", "entry_price", "exit_price", "qty", "pnl", "ret",
    "fees", "exit_reason", "bars_held", "is_open", "entry_bar", "exit_bar",
)  # fmt: skip


def trades_frame(trades: np.ndarray, n_trades: int, index: pd.Index) -> pd.DataFrame:
    """The kernel's trade rows as the trades table (``qty`` unsigned, ``side`` long/short)."""
    tr = trades[:n_trades]
    entry_bar, exit_bar = tr[:, 0].astype(np.int64), tr[:, 1].astype(np.int64)
    entry_px, exit_px, qty, fees = tr[:, 2], tr[:, 3], tr[:, 4], tr[:, 5]
    pnl = qty * (exit_px - entry_px) - fees
    shares = np.abs(qty)
    idx = index.to_numpy()
    reasons = np.array(EXIT_REASONS, dtype=object)[tr[:, 6].astype(np.int64)]
    return pd.DataFrame(
        {
            "trade_no": np.arange(1, n_trades + 1, dtype=np.int64),
            "side": np.where(qty > 0, "long", "short").astype(object),
            "entry_ts": idx[entry_bar],
            "exit_ts": idx[exit_bar],
            "entry_price": entry_px,
            "exit_price": exit_px,
            "qty": shares,
            "pnl": pnl,
            "ret": pnl / (shares * entry_px),
            "fees": fees,
            "exit_reason": reasons,
            "bars_held": exit_bar - entry_bar,
            "is_open": reasons == "open",
            "entry_bar": entry_bar,
            "exit_bar": exit_bar,
        },
        columns=list(TRADE_COLUMNS),
    )


def simulate(
    bars: pd.DataFrame, signal: pd.Series | np.ndarray, params: EngineParams
) -> EngineOutput:
    """Backtest one instrument.

    Args:
        bars: the workbench's bar frame (validated; see :mod:`primeflow_lib.research.data`).
        signal: per-bar signal in [-1, +1] aligned with ``bars`` (NaN = no opinion).
        params: execution, exit and sizing rules.

    Returns:
        :class:`EngineOutput` with equity (USD at each close), position (signed shares at each
        close) and the trades table (:data:`TRADE_COLUMNS`).
    """
    sig = np.ascontiguousarray(np.asarray(signal, dtype=np.float64))
    if sig.shape[0] != len(bars):
        raise ValueError(f"signal has {sig.shape[0]} values for {len(bars)} bars")
    arrays = [
        np.ascontiguousarray(bars[c].to_numpy(dtype=np.float64))
        for c in ("open", "high", "low", "close")
    ]
    equity, position, raw_trades, n_trades = backtest_kernel(*arrays, sig, *params.kernel_args())
    trades = trades_frame(raw_trades, n_trades, bars.index)
    return EngineOutput(
        equity=pd.Series(equity, index=bars.index, name="equity"),
        position=pd.Series(position, index=bars.index, name="position"),
        trades=trades,
    )
