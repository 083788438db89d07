"""Performance metrics: each defined once, here, with its formula.

Notation: ``E_0`` = starting capital, ``E_t`` = equity at the close of bar ``t`` (t = 1..n),
``r_t = E_t / E_{t-1} - 1`` the simple per-bar return, ``P`` = periods per year (bars per year:
252 for daily bars, 252 x bars per session intraday; see
:func:`primeflow_lib.research.timeframes.periods_per_year`). Means and standard deviations skip
NaN. Ratios whose denominator is 0 follow empyrical: ``inf`` (or ``-inf``) when the numerator is
non-zero, NaN when there is nothing to measure.

Trade statistics use closed trades only (a trade still open at the end is not a win or a loss).
The tests compare every return-based metric with empyrical-reloaded on the same series.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import pandas as pd


def simple_returns(equity: np.ndarray, capital: float) -> np.ndarray:
    """``r_t = E_t / E_{t-1} - 1`` with ``E_0 = capital`` (so bar 1's return is against the
    starting capital)."""
    e = np.asarray(equity, dtype=np.float64)
    prev = np.concatenate([[capital], e[:-1]])
    return e / prev - 1.0


def total_return(equity: np.ndarray, capital: float) -> float:
    """``E_n / E_0 - 1``."""
    e = np.asarray(equity, dtype=np.float64)
    return float(e[-1] / capital - 1.0) if len(e) else math.nan


def cagr(returns: np.ndarray, periods_per_year: float) -> float:
    """Compound annual growth rate: ``(prod(1 + r_t)) ** (P / n) - 1`` (empyrical
    ``annual_return``)."""
    r = np.asarray(returns, dtype=np.float64)
    if len(r) < 1:
        return math.nan
    growth = float(np.prod(1.0 + np.nan_to_num(r)))
    if growth <= 0:
        return -1.0
    return growth ** (periods_per_year / len(r)) - 1.0


@nb.njit(cache=True, error_model="numpy")
def sharpe_kernel(returns, periods_per_year, risk_free):  # pragma: no cover - compiled
    """Compiled Sharpe: see :func:`sharpe`. Shared by :func:`sharpe` and the parameter sweep."""
    s = 0.0
    m = 0
    for x in returns:
        if x == x:
            s += x - risk_free
            m += 1
    if m < 2:
        return np.nan
    mean = s / m
    ss = 0.0
    for x in returns:
        if x == x:
            d = x - risk_free - mean
            ss += d * d
    sd = np.sqrt(ss / (m - 1))
    if sd == 0.0:
        if mean == 0.0:
            return np.nan
        return np.inf if mean > 0 else -np.inf
    return mean / sd * np.sqrt(periods_per_year)


def sharpe(returns: np.ndarray, periods_per_year: float, risk_free: float = 0.0) -> float:
    """Annualised Sharpe ratio: ``mean(r - rf) / std(r - rf, ddof=1) * sqrt(P)``; ``rf`` is the
    risk-free rate *per bar*. NaN with fewer than 2 returns."""
    r = np.ascontiguousarray(returns, dtype=np.float64)
    return float(sharpe_kernel(r, float(periods_per_year), float(risk_free)))


def sortino(returns: np.ndarray, periods_per_year: float, required_return: float = 0.0) -> float:
    """Annualised Sortino ratio: ``mean(a) * P / (sqrt(mean(min(a, 0)^2)) * sqrt(P))`` with
    ``a = r - required_return`` (per bar); the downside deviation counts every bar (empyrical)."""
    a = np.asarray(returns, dtype=np.float64) - required_return
    if np.count_nonzero(~np.isnan(a)) < 2:
        return math.nan
    downside = math.sqrt(float(np.nanmean(np.minimum(a, 0.0) ** 2))) * math.sqrt(periods_per_year)
    mean = float(np.nanmean(a)) * periods_per_year
    if downside == 0.0:
        return math.nan if mean == 0.0 else math.copysign(math.inf, mean)
    return mean / downside


def drawdown(equity: np.ndarray, capital: float) -> np.ndarray:
    """Per-bar drawdown ``E_t / max(E_0..E_t) - 1`` (<= 0), the peak including the capital."""
    e = np.asarray(equity, dtype=np.float64)
    peak = np.maximum.accumulate(np.concatenate([[capital], e]))[1:]
    return e / peak - 1.0


def max_drawdown(returns: np.ndarray) -> float:
    """Largest peak-to-trough fall of the compounded curve, as a negative fraction:
    ``min_t (W_t / max_{s<=t} W_s - 1)`` with ``W_0 = 1``, ``W_t = prod(1 + r)`` (empyrical)."""
    r = np.nan_to_num(np.asarray(returns, dtype=np.float64))
    if len(r) == 0:
        return math.nan
    return float(min(drawdown(np.cumprod(1.0 + r), 1.0).min(), 0.0))


def max_drawdown_duration(equity: np.ndarray, capital: float) -> int:
    """Longest run of consecutive bars spent below the running peak (``E_t < max(E_0..E_t)``),
    in bars; a drawdown not recovered by the last bar counts up to the last bar; 0 if never
    below."""
    under = drawdown(equity, capital) < 0
    if not under.any():
        return 0
    # run lengths of True: positions where a run starts/ends
    edges = np.diff(np.concatenate([[0], under.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max())


def calmar(returns: np.ndarray, periods_per_year: float) -> float:
    """``CAGR / |max drawdown|``; NaN without a drawdown (empyrical ``calmar_ratio``)."""
    dd = max_drawdown(returns)
    if not dd < 0:
        return math.nan
    return cagr(returns, periods_per_year) / abs(dd)


def annual_volatility(returns: np.ndarray, periods_per_year: float) -> float:
    """``std(r, ddof=1) * sqrt(P)``."""
    r = np.asarray(returns, dtype=np.float64)
    if np.count_nonzero(~np.isnan(r)) < 2:
        return math.nan
    return float(np.nanstd(r, ddof=1)) * math.sqrt(periods_per_year)


def profit_factor(pnl: np.ndarray) -> float:
    """Gross profit / gross loss of closed trades: ``sum(pnl > 0) / |sum(pnl < 0)|``; ``inf`` with
    wins and no losses, NaN without trades or without wins and losses."""
    p = np.asarray(pnl, dtype=np.float64)
    gain, loss = float(p[p > 0].sum()), float(-p[p < 0].sum())
    if loss == 0.0:
        return math.inf if gain > 0 else math.nan
    return gain / loss


def win_rate(pnl: np.ndarray) -> float:
    """Fraction of closed trades with ``pnl > 0``; NaN without trades."""
    p = np.asarray(pnl, dtype=np.float64)
    return float((p > 0).mean()) if len(p) else math.nan


def average_win(pnl: np.ndarray) -> float:
    """Mean pnl (USD) of winning closed trades; NaN without wins."""
    p = np.asarray(pnl, dtype=np.float64)
    return float(p[p > 0].mean()) if (p > 0).any() else math.nan


def average_loss(pnl: np.ndarray) -> float:
    """Mean pnl (USD, negative) of losing closed trades; NaN without losses."""
    p = np.asarray(pnl, dtype=np.float64)
    return float(p[p < 0].mean()) if (p < 0).any() else math.nan


def exposure(position: np.ndarray) -> float:
    """Fraction of bars that end with an open position (non-zero position at the close)."""
    pos = np.asarray(position, dtype=np.float64)
    return float((pos != 0).mean()) if len(pos) else math.nan


def held_pnl(position: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Mark-to-market pnl of the position carried over each close-to-close interval:
    ``q_{t-1} * (C_t - C_{t-1})`` (0 for bar 0). For a panel pass 2-D arrays (bars x tickers);
    the result is summed over tickers."""
    q = np.asarray(position, dtype=np.float64)
    c = np.asarray(close, dtype=np.float64)
    out = np.zeros(q.shape[0])
    if q.shape[0] > 1:
        move = np.nan_to_num(q[:-1] * (c[1:] - c[:-1]))
        out[1:] = move.sum(axis=1) if move.ndim == 2 else move
    return out


def direction_accuracy(held: np.ndarray) -> float:
    """Share of bars the held direction was right: among bars that carried a position over the
    close-to-close interval and moved (``held_pnl != 0``), the fraction with ``held_pnl > 0``. For
    one instrument that is ``sign(position_{t-1}) == sign(C_t - C_{t-1})``. NaN if never held."""
    h = np.asarray(held, dtype=np.float64)
    moved = h != 0
    return float((h[moved] > 0).mean()) if moved.any() else math.nan


METRIC_NAMES: tuple[str, ...] = (
    "total_return", "cagr", "sharpe", "sortino", "calmar", "max_drawdown",
    "max_drawdown_duration", "volatility", "profit_factor", "win_rate", "avg_win", "avg_loss",
    "exposure", "direction_accuracy", "n_trades", "final_equity",
)  # fmt: skip
# Metrics a tuner or leaderboard may rank by, and whether higher is better.
EVALUATION_METRICS: dict[str, bool] = {
    "sharpe": True, "sortino": True, "calmar": True, "cagr": True, "total_return": True,
    "profit_factor": True, "win_rate": True, "direction_accuracy": True, "max_drawdown": True,
}  # fmt: skip


def compute_metrics(
    equity: np.ndarray | pd.Series,
    capital: float,
    periods_per_year: float,
    position: np.ndarray | pd.Series | None = None,
    trades: pd.DataFrame | None = None,
    held: np.ndarray | None = None,
) -> dict[str, float]:
    """Every metric of one run (keys :data:`METRIC_NAMES`).

    Args:
        equity: equity at each close, USD.
        capital: starting capital ``E_0``, USD.
        periods_per_year: bars per year ``P``.
        position: position at each close (shares, or any non-zero marker) for ``exposure``.
        trades: trades table (``pnl``, ``is_open``) for the trade statistics.
        held: :func:`held_pnl` per bar for ``direction_accuracy``.
    """
    e = np.asarray(equity, dtype=np.float64)
    r = simple_returns(e, capital)
    closed = np.empty(0)
    n_trades = 0
    if trades is not None and len(trades):
        done = ~trades["is_open"].to_numpy(dtype=bool)
        closed = trades["pnl"].to_numpy(dtype=np.float64)[done]
        n_trades = int(len(trades))
    return {
        "total_return": total_return(e, capital),
        "cagr": cagr(r, periods_per_year),
        "sharpe": sharpe(r, periods_per_year),
        "sortino": sortino(r, periods_per_year),
        "calmar": calmar(r, periods_per_year),
        "max_drawdown": max_drawdown(r),
        "max_drawdown_duration": max_drawdown_duration(e, capital),
        "volatility": annual_volatility(r, periods_per_year),
        "profit_factor": profit_factor(closed),
        "win_rate": win_rate(closed),
        "avg_win": average_win(closed),
        "avg_loss": average_loss(closed),
        "exposure": exposure(position) if position is not None else math.nan,
        "direction_accuracy": direction_accuracy(held) if held is not None else math.nan,
        "n_trades": n_trades,
        "final_equity": float(e[-1]) if len(e) else math.nan,
    }
