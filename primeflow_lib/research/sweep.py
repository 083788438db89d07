"""Parameter sweep of the dual-SMA strategy: every (fast, slow) pair, end to end in one compiled
parallel pass.

All SMAs are computed once from a cumulative sum (``SMA_p[t] = (S[t+1] - S[t+1-p]) / p``), then
each pair runs the same :func:`~primeflow_lib.research.engine.backtest_kernel_into` as every
other backtest with signal ``sign(SMA_fast - SMA_slow)`` (NaN while the slow SMA warms up, as
the ``dual_sma`` indicator), and its Sharpe comes from the one Sharpe definition
(:func:`~primeflow_lib.research.metrics.sharpe_kernel`). Pairs are spread over the CPU cores
(numba ``prange``); each worker reuses its buffers.

The cumulative-sum SMA differs from TA-Lib's by float rounding (~1e-12 relative), which can flip
the sign of a crossover only when the two SMAs are equal to that precision.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pandas as pd

from primeflow_lib.research.engine import EngineParams, backtest_kernel_into
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.limits import check_sweep_memory
from primeflow_lib.research.metrics import sharpe_kernel


def sma_table(close: np.ndarray, periods: np.ndarray) -> np.ndarray:
    """``(len(periods), n)`` array of simple moving averages, NaN during each warm-up."""
    c = np.asarray(close, dtype=np.float64)
    n = len(c)
    cs = np.concatenate([[0.0], np.cumsum(c)])
    out = np.full((len(periods), n), np.nan)
    for j, p in enumerate(periods):  # one vectorised row per period, not per bar
        if p <= n:
            out[j, p - 1 :] = (cs[p:] - cs[:-p]) / p
    return out


@nb.njit(parallel=True, cache=True, error_model="numpy")
def _sweep_kernel(
    open_, high, low, close, smas, fast_row, slow_row, slow_period, args_f, args_b, max_bars,
    periods_per_year, n_workers,
):  # fmt: skip  # pragma: no cover - compiled
    n = close.shape[0]
    npairs = fast_row.shape[0]
    sharpe = np.empty(npairs)
    total = np.empty(npairs)
    ntr = np.empty(npairs, np.int64)
    capital = args_f[9]
    for w in nb.prange(n_workers):
        sig = np.empty(n)
        eq = np.empty(n)
        pos = np.empty(n)
        tr = np.empty((n + 1, 7))
        ret = np.empty(n)
        for j in range(w, npairs, n_workers):
            f = smas[fast_row[j]]
            s = smas[slow_row[j]]
            warm = slow_period[j] - 1
            for t in range(n):
                if t < warm:
                    sig[t] = np.nan
                else:
                    d = f[t] - s[t]
                    sig[t] = 1.0 if d > 0 else (-1.0 if d < 0 else 0.0)
            k = backtest_kernel_into(
                open_, high, low, close, sig, eq, pos, tr,
                args_f[0], args_f[1], args_b[0], args_b[1], args_b[2],
                args_f[2], args_f[3], args_f[4], max_bars,
                args_f[5], args_f[6], args_f[7],
                args_b[3], args_f[8], args_b[4], capital, args_b[5],
            )  # fmt: skip
            prev = capital
            for t in range(n):
                ret[t] = eq[t] / prev - 1.0
                prev = eq[t]
            sharpe[j] = sharpe_kernel(ret, periods_per_year, 0.0)
            total[j] = eq[n - 1] / capital - 1.0
            ntr[j] = k
    return sharpe, total, ntr


def sma_sweep(
    bars: pd.DataFrame,
    min_period: int = 5,
    max_period: int = 100,
    params: EngineParams | None = None,
    periods_per_year: float = 252,
    n_workers: int | None = None,
    memory_budget_mb: float | None = None,
) -> pd.DataFrame:
    """Backtest every ``fast < slow`` pair with both in ``[min_period, max_period]``.

    Args:
        bars: the workbench's bar frame.
        params: engine rules (default: long-only, next-open fills, no costs).
        periods_per_year: for the Sharpe ratio.
        n_workers: parallel workers (default: numba's thread count).
        memory_budget_mb: refuse a sweep estimated above this many MB before it starts
            (default ``limits.research_memory_mb``; :mod:`primeflow_lib.research.limits`).

    Returns:
        One row per pair: ``fast, slow, sharpe, total_return, n_trades`` (n_trades includes a
        trade still open at the end), in (fast, slow) order.
    """
    if not 1 <= min_period < max_period:
        raise ResearchError(
            f"sma_sweep: need 1 <= min_period < max_period, got {min_period}, {max_period}"
        )
    params = params or EngineParams()
    workers = n_workers or nb.get_num_threads()
    check_sweep_memory(max_period - min_period + 1, len(bars), memory_budget_mb, workers)
    periods = np.arange(min_period, max_period + 1, dtype=np.int64)
    fi, si = np.triu_indices(len(periods), k=1)
    arr = [
        np.ascontiguousarray(bars[c].to_numpy(dtype=np.float64))
        for c in ("open", "high", "low", "close")
    ]
    smas = sma_table(arr[3], periods)
    a = params.kernel_args()
    # kernel_args order: thr, exit_thr, short, sig_exit, fill_close, sl, tp, trail, max_bars,
    # cpct, cps, slip, fixed_cash, size_value, fractional, capital, entry_cross
    args_f = np.array([a[0], a[1], a[5], a[6], a[7], a[9], a[10], a[11], a[13], a[15]])
    args_b = np.array([a[2], a[3], a[4], a[12], a[14], a[16]])
    sharpe, total, ntr = _sweep_kernel(
        *arr, smas, fi.astype(np.int64), si.astype(np.int64), periods[si], args_f, args_b,
        a[8], float(periods_per_year), int(workers),
    )  # fmt: skip
    return pd.DataFrame(
        {"fast": periods[fi], "slow": periods[si], "sharpe": sharpe, "total_return": total,
         "n_trades": ntr}
    )  # fmt: skip
