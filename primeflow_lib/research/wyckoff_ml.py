"""WyckoffML: a walk-forward logistic model of Wyckoff effort-vs-result features.

Features at bar ``t`` (causal, over ``period`` bars): volume pressure ``P`` (up-bar minus
down-bar volume over both), the price trend ``tanh(close/close[t-period] - 1) / 0.05)``, their
divergence ``P - trend`` (the ``wyckoff`` indicator's raw value), the log relative volume
``log(volume / mean volume)`` and the close's position in the ``period``-bar range, in [-1, 1].

Label of bar ``s``: 1 when ``close[s + horizon] > close[s]``; it is known at bar ``s + horizon``.

Walk-forward fit: every ``refit`` bars, at bar ``t``, an L2-regularised logistic regression
(penalty ``l2`` on standardised features, Newton steps) is fitted on the last ``train`` bars
whose labels are known at ``t`` (``s <= t - horizon``); it predicts ``p = P(up)`` on bars
``t .. t + refit - 1``. Signal ``2 p - 1``. Lookback: ``period + horizon + train`` bars (the
first fit needs ``train`` labelled bars with features).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from primeflow_lib.research.rolling import rolling_sum, shift, volume_pressure


def features(close, high, low, volume, period: int) -> np.ndarray:
    """``(n, 5)`` feature matrix (see the module docstring; NaN during warm-up)."""
    pressure = volume_pressure(close, volume, period)
    with np.errstate(invalid="ignore", divide="ignore"):
        trend = np.tanh((close / shift(close, period) - 1.0) / 0.05)
        relvol = np.log(np.maximum(volume, 1.0) / np.maximum(rolling_sum(volume, period) / period, 1.0))
        hh = -np.lib.stride_tricks.sliding_window_view(-high, period).min(axis=1) if len(high) >= period else np.array([])
        ll = np.lib.stride_tricks.sliding_window_view(low, period).min(axis=1) if len(low) >= period else np.array([])
        pos = np.full(len(close), np.nan)
        if len(hh):
            rng = hh - ll
            pos[period - 1:] = np.where(rng > 0, 2.0 * (close[period - 1:] - ll) / np.where(rng > 0, rng, 1.0) - 1.0, 0.0)
    return np.column_stack([pressure, trend, pressure - trend, relvol, pos])


@nb.njit(cache=True)
def _walk(F, y, train, refit, horizon, l2, first):  # pragma: no cover - compiled
    n, d = F.shape
    p = np.full(n, np.nan)
    w = np.zeros(d + 1)
    t = first
    while t < n:
        lo = t - horizon - train + 1
        hi = t - horizon + 1  # labels of bars < hi are known at t
        if lo >= 0:
            X = F[lo:hi]
            yy = y[lo:hi]
            mu = np.zeros(d)
            sd = np.ones(d)
            for j in range(d):
                mu[j] = X[:, j].mean()
                s = X[:, j].std()
                sd[j] = s if s > 0 else 1.0
            m = X.shape[0]
            Z = np.ones((m, d + 1))
            for j in range(d):
                Z[:, j + 1] = (X[:, j] - mu[j]) / sd[j]
            w[:] = 0.0
            for _ in range(8):  # Newton steps on the penalised log-likelihood
                eta = Z @ w
                q = 1.0 / (1.0 + np.exp(-eta))
                g = Z.T @ (q - yy)
                H = (Z.T * (q * (1.0 - q))) @ Z
                for j in range(1, d + 1):
                    g[j] += l2 * w[j]
                    H[j, j] += l2
                H[0, 0] += 1e-9
                w -= np.linalg.solve(H, g)
            for u in range(t, min(t + refit, n)):
                eta = w[0]
                ok = True
                for j in range(d):
                    v = F[u, j]
                    if not np.isfinite(v):
                        ok = False
                    eta += w[j + 1] * (v - mu[j]) / sd[j]
                if ok:
                    p[u] = 1.0 / (1.0 + np.exp(-eta))
        t += refit
    return p


def lookback(p) -> int:
    return int(p["period"] + p["horizon"] + p["train"])


def wyckoff_ml(close, high, low, volume, p) -> tuple[dict, np.ndarray]:
    """Raw lines (``p_up``) and signal ``2 p - 1`` of the ``wyckoff_ml`` indicator."""
    period, h, train, refit = int(p["period"]), int(p["horizon"]), int(p["train"]), int(p["refit"])
    F = features(close, high, low, volume, period)
    n = len(close)
    y = np.zeros(n)
    y[: max(n - h, 0)] = (close[h:] > close[: n - h]).astype(np.float64)
    first = lookback(p)
    Fc = np.where(np.isfinite(F), F, 0.0)  # rows before `period` are never in a fit window
    prob = _walk(np.ascontiguousarray(Fc), y, train, refit, h, float(p["l2"]), first) if first < n else np.full(n, np.nan)
    prob[:first] = np.nan
    return {"p_up": prob}, 2.0 * prob - 1.0
