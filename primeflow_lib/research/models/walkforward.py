"""Walk-forward prediction: fit a model or baseline on each fold's train window (labelled bars
only) and predict every bar of its test window. Shared by the model lab (:mod:`.lab`) and the
leakage gates (:mod:`.gates`)."""

from __future__ import annotations

import numpy as np

from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.models import estimators as est
from primeflow_lib.research.tuning.folds import Fold


def predict_fold(
    name: str, X: np.ndarray, y: np.ndarray, f: Fold, k: int, seed: int, horizon: int
) -> tuple[np.ndarray, object, np.ndarray | None, int]:
    tr = np.arange(f.train_start, f.train_end)
    tr = tr[y[tr] >= 0]
    te = np.arange(f.test_start, f.test_end)
    if tr.size < 2:
        raise ResearchError(f"folds: train fold {f.index + 1} holds {tr.size} labelled bars")
    if name == "majority":
        return est.majority(y[tr], te.size, k), None, None, tr.size
    if name == "persistence":
        return est.persistence(y, tr, te, horizon, k), None, None, tr.size
    probs, fitted, imp = est.fit_predict(name, X[tr], y[tr], X[te], k, seed)
    return probs, fitted, imp, tr.size


def walk_forward(
    X: np.ndarray, y: np.ndarray, folds: list[Fold], name: str, k: int, seed: int, horizon: int
) -> tuple[np.ndarray, list[tuple[int, np.ndarray | None, object]]]:
    """Probabilities of ``name`` on every test bar (fold order) and per fold ``(n_train,
    importances, fitted)``."""
    parts, info = [], []
    for f in folds:
        p, fitted, imp, ntr = predict_fold(name, X, y, f, k, seed, horizon)
        parts.append(p)
        info.append((ntr, imp, fitted))
    return np.concatenate(parts), info
