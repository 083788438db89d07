"""Out-of-sample scores of a classifier: AUC, log-loss, Brier, accuracy, calibration.

``probs`` is ``(n, K)`` (rows sum to 1), ``y`` holds classes ``0..K-1``.

* **AUC**: two classes: ROC AUC of ``P(class 1)``; more: the macro mean of one-vs-rest AUCs over
  the classes present in ``y`` (NaN when ``y`` holds a single class: AUC is undefined).
* **log-loss**: ``-mean(log P(true class))``, probabilities clipped to ``[1e-12, 1]`` (nats).
* **Brier**: two classes ``mean((P(class 1) - y)^2)``; more: ``mean(sum_k (P_k - 1{y=k})^2)``.
* **accuracy**: share of bars whose most probable class is the true one.
* **calibration**: 10 equal-width bins of ``P(class 1)`` (two classes) or of the top-class
  probability (more): mean prediction, observed frequency and count per bin; **ECE** = the
  count-weighted mean of ``|observed - predicted|``.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import roc_auc_score

EPS = 1e-12
N_BINS = 10


def auc(y: np.ndarray, probs: np.ndarray) -> float:
    """ROC AUC (see the module docstring)."""
    k = probs.shape[1]
    present = np.unique(y)
    if present.size < 2:
        return math.nan
    if k == 2:
        return float(roc_auc_score(y, probs[:, 1]))
    vals = [roc_auc_score((y == c).astype(int), probs[:, c]) for c in present]
    return float(np.mean(vals))


def log_loss(y: np.ndarray, probs: np.ndarray) -> float:
    p = np.clip(probs[np.arange(len(y)), y], EPS, 1.0)
    return float(-np.mean(np.log(p)))


def brier(y: np.ndarray, probs: np.ndarray) -> float:
    if probs.shape[1] == 2:
        return float(np.mean((probs[:, 1] - y) ** 2))
    onehot = np.eye(probs.shape[1])[y]
    return float(np.mean(np.sum((probs - onehot) ** 2, axis=1)))


def accuracy(y: np.ndarray, probs: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == y))


def calibration(y: np.ndarray, probs: np.ndarray) -> tuple[list[dict], float]:
    """The reliability table and the ECE (see the module docstring)."""
    if probs.shape[1] == 2:
        p, hit = probs[:, 1], (y == 1).astype(float)
    else:
        top = np.argmax(probs, axis=1)
        p, hit = probs[np.arange(len(y)), top], (top == y).astype(float)
    b = np.minimum((p * N_BINS).astype(int), N_BINS - 1)
    table, ece = [], 0.0
    for i in range(N_BINS):
        m = b == i
        if not m.any():
            continue
        mp, obs, cnt = float(p[m].mean()), float(hit[m].mean()), int(m.sum())
        table.append({"bin": i, "predicted": mp, "observed": obs, "count": cnt})
        ece += cnt * abs(obs - mp)
    return table, ece / max(len(y), 1)


def score(y: np.ndarray, probs: np.ndarray) -> dict:
    """Every score of one prediction set: ``auc log_loss brier accuracy ece calibration n``."""
    table, ece = calibration(y, probs)
    return {
        "auc": auc(y, probs), "log_loss": log_loss(y, probs), "brier": brier(y, probs),
        "accuracy": accuracy(y, probs), "ece": ece, "calibration": table, "n": int(len(y)),
    }  # fmt: skip


def auc_standard_error(y: np.ndarray) -> float:
    """Standard error of the AUC of an uninformative score on these labels (two classes:
    ``sqrt((n1 + n0 + 1) / (12 n1 n0))``, the Mann-Whitney null); NaN for one class."""
    n1 = int(np.sum(y == 1)) if len(np.unique(y)) <= 2 else int(np.sum(y == np.bincount(y).argmax()))
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return math.nan
    return math.sqrt((n1 + n0 + 1) / (12.0 * n1 * n0))
