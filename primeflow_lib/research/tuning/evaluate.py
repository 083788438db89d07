"""Evaluate many configurations of one indicator: signals, one engine pass each, fold metrics.

Design (why it is fast)
-----------------------
Indicators are causal, so each trial's signal is computed **once on the whole series**, and each
trial runs the engine kernel (:func:`primeflow_lib.research.engine.backtest_kernel_into`, the
same one every backtest uses) **once** over all bars, in a compiled ``prange`` loop over trials
that reuses its buffers (as :mod:`primeflow_lib.research.sweep` does). Train and test metrics
are then slices of each trial's per-bar returns ``r_t = E_t / E_{t-1} - 1``.

What that implies: a position opened before a fold boundary is carried into the next window
(the engine is not reset at fold starts). That uses only past bars, so it is not look-ahead;
the purge gap (longest lookback + holding horizon) keeps train scores independent of every test
bar, and test scores include the carried position exactly as live trading would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
import pandas as pd

from primeflow_lib.research.data import as_arrays
from primeflow_lib.research.engine import EngineParams, backtest_kernel_into
from primeflow_lib.research.indicators import get
from primeflow_lib.research.tuning.folds import Fold
from primeflow_lib.scale import cluster


@nb.njit(parallel=True, cache=True, error_model="numpy")
def _run_many(
    open_, high, low, close, sigs, args_f, args_b, max_bars, n_workers, returns, ntr,
):  # fmt: skip  # pragma: no cover - compiled
    n = close.shape[0]
    m = sigs.shape[0]
    capital = args_f[9]
    for w in nb.prange(n_workers):
        eq = np.empty(n)
        pos = np.empty(n)
        tr = np.empty((n + 1, 7))
        for j in range(w, m, n_workers):
            k = backtest_kernel_into(
                open_, high, low, close, sigs[j], eq, pos, tr,
                args_f[0], args_f[1], args_b[0], args_b[1], args_b[2],
                args_f[2], args_f[3], args_f[4], max_bars,
                args_f[5], args_f[6], args_f[7],
                args_b[3], args_f[8], args_b[4], capital,
            )  # fmt: skip
            prev = capital
            for t in range(n):
                returns[j, t] = eq[t] / prev - 1.0
                prev = eq[t]
            ntr[j] = k


def signal_matrix(bars: pd.DataFrame, indicator: str, params: list[dict]) -> np.ndarray:
    """``(len(params), n)`` signals in [-1, 1] (NaN in warm-up), one row per parameter set."""
    ind = get(indicator)
    arrays = as_arrays(bars)
    out = np.empty((len(params), len(bars)))
    for i, p in enumerate(params):
        _, sig = ind.fn(arrays, ind.resolve(p))
        np.clip(sig, -1.0, 1.0, out=out[i])
    return out


def run_signals(
    bars: pd.DataFrame, sigs: np.ndarray, params: EngineParams, n_workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar returns ``(m, n)`` and trade counts ``(m,)`` of each signal row."""
    arr = [np.ascontiguousarray(bars[c].to_numpy(dtype=np.float64)) for c in ("open", "high", "low", "close")]
    a = params.kernel_args()
    args_f = np.array([a[0], a[1], a[5], a[6], a[7], a[9], a[10], a[11], a[13], a[15]])
    args_b = np.array([a[2], a[3], a[4], a[12], a[14]])
    m = sigs.shape[0]
    returns = np.empty((m, len(bars)))
    ntr = np.empty(m, np.int64)
    workers = int(n_workers or nb.get_num_threads())
    _run_many(*arr, np.ascontiguousarray(sigs), args_f, args_b, a[8], workers, returns, ntr)
    return returns, ntr


def window_sharpe(returns: np.ndarray, start: int, end: int) -> np.ndarray:
    """Per-period Sharpe (ddof=1) of each row over bars ``[start, end)``; 0 for a flat row."""
    x = returns[:, start:end]
    mean = x.mean(axis=1)
    sd = x.std(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sd > 1e-12 * np.maximum(np.abs(mean), 1e-300), mean / sd, 0.0)


def test_bar_index(folds: list[Fold]) -> np.ndarray:
    """Bar indices of every test window, concatenated in fold order."""
    return np.concatenate([np.arange(f.test_start, f.test_end) for f in folds])


@dataclass
class TrialBlock:
    """Evaluated trials of one indicator.

    Attributes:
        indicator: registry key.
        params: one dict per trial.
        returns: ``(n_trials, n_bars)`` per-bar strategy returns.
        n_trades: trades per trial over the whole series (an open one included).
        is_sharpe / oos_sharpe: ``(n_trials, n_folds)`` per-period Sharpe on each train / test
            window.
        wf_oos_sharpe: per-period Sharpe of each trial over all test windows together.
    """

    indicator: str
    params: list[dict]
    returns: np.ndarray
    n_trades: np.ndarray
    is_sharpe: np.ndarray
    oos_sharpe: np.ndarray
    wf_oos_sharpe: np.ndarray


def trial_returns(
    bars: pd.DataFrame, indicator: str, params: list[dict], engine: EngineParams, chunk: int = 512,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Per-bar returns ``(len(params), n)`` and trade counts of every parameter set, computed
    ``chunk`` signals at a time (what one cluster task runs)."""
    returns = np.empty((len(params), len(bars)))
    ntr = np.empty(len(params), np.int64)
    for lo in range(0, len(params), chunk):
        sigs = signal_matrix(bars, indicator, params[lo : lo + chunk])
        r, k = run_signals(bars, sigs, engine)
        returns[lo : lo + len(r)] = r
        ntr[lo : lo + len(r)] = k
    return returns, ntr


def evaluate(
    bars: pd.DataFrame, indicator: str, params: list[dict], engine: EngineParams,
    folds: list[Fold], chunk: int = 512,
) -> TrialBlock:  # fmt: skip
    """Signals, one engine pass and fold metrics for every parameter set of ``indicator``.

    With ``PRIMEFLOW_DASK_ADDRESS`` set, the trials go to that Dask cluster in tasks of
    ``PRIMEFLOW_CLUSTER_TRIALS_PER_TASK`` (default 10,000) configurations
    (:mod:`primeflow_lib.scale.cluster`); the result is identical to the in-process one."""
    if cluster.cluster_address() is not None:  # chunks of trials on the Dask cluster (docs/scaling.md)
        parts = cluster.map_chunks(trial_returns, [(indicator, params[lo:hi], engine, chunk) for lo, hi in
                                                   cluster.chunks(len(params), cluster.trials_per_task())],
                                   shared=(bars,))
        returns = np.concatenate([r for r, _ in parts]) if parts else np.empty((0, len(bars)))
        ntr = np.concatenate([k for _, k in parts]) if parts else np.empty(0, np.int64)
    else:
        returns, ntr = trial_returns(bars, indicator, params, engine, chunk)
    is_s = np.column_stack([window_sharpe(returns, f.train_start, f.train_end) for f in folds])
    oos_s = np.column_stack([window_sharpe(returns, f.test_start, f.test_end) for f in folds])
    idx = test_bar_index(folds)
    wf = window_sharpe(returns[:, idx], 0, len(idx))
    return TrialBlock(indicator, params, returns, ntr, is_s, oos_s, wf)
