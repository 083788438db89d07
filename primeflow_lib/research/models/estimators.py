"""The model registry and the three baselines every fit is compared with.

Models (:data:`MODELS`; each is fitted on one train window and predicts class probabilities):

==================  ==========================================================================
``lightgbm``        LightGBM gradient-boosted trees: 200 trees, learning rate 0.05, 15 leaves,
                    at least 50 bars per leaf, 80 % row / column subsampling, one thread,
                    deterministic; importances = total gain
``random_forest``   scikit-learn random forest: 200 trees, at least 50 bars per leaf, one
                    thread; importances = mean impurity decrease
``logistic``        scikit-learn logistic regression (L2, C = 1) on standardised features;
                    importances = |coefficient| of the standardised feature (mean over classes)
==================  ==========================================================================

Baselines (:data:`BASELINES`, the same three every time):

==========================  ================================================================
``majority``                the train window's class frequencies (Laplace-smoothed: one
                            extra count per class) on every bar (AUC 0.5 within a fold)
``persistence``             the last label known at the close of ``t`` (bar ``t - h``'s) is
                            predicted with the train window's probability that a label repeats
                            its predecessor ``h`` bars earlier; the rest is spread by class
                            frequency
``logistic_baseline``       the ``logistic`` model on the same features
==========================  ================================================================

Classes absent from a train window get probability 0 from every model (scored as such).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from primeflow_lib.research.errors import ResearchError


@dataclass(frozen=True)
class ModelInfo:
    name: str
    summary: str
    build: Callable[[int], object]


def _lightgbm(seed: int):
    from lightgbm import LGBMClassifier

    return LGBMClassifier(
        n_estimators=200, learning_rate=0.05, num_leaves=15, min_child_samples=50,
        subsample=0.8, subsample_freq=1, colsample_bytree=0.8, random_state=seed, n_jobs=1,
        deterministic=True, force_row_wise=True, verbose=-1, importance_type="gain",
    )  # fmt: skip


def _forest(seed: int):
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=200, min_samples_leaf=50, random_state=seed, n_jobs=1)


def _logistic(seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000, random_state=seed))


MODELS: dict[str, ModelInfo] = {
    m.name: m
    for m in (
        ModelInfo("lightgbm", "LightGBM gradient-boosted trees", _lightgbm),
        ModelInfo("random_forest", "scikit-learn random forest", _forest),
        ModelInfo("logistic", "logistic regression on standardised features", _logistic),
    )
}
BASELINES: tuple[str, ...] = ("majority", "persistence", "logistic_baseline")


def check_models(names) -> tuple[str, ...]:
    """Validate model names (a clear error names an unknown one and the choices)."""
    names = tuple(names)
    if not names:
        raise ResearchError(f"models: give at least one of {list(MODELS)}")
    for n in names:
        if n not in MODELS:
            raise ResearchError(f"models: unknown model {n!r}; choose from {list(MODELS)}")
    return names


def _full_probs(est, X: np.ndarray, k: int) -> np.ndarray:
    p = est.predict_proba(X)
    classes = np.asarray(est.classes_, dtype=np.int64)
    out = np.zeros((len(X), k))
    out[:, classes] = p
    return out


def fit_predict(
    name: str, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, k: int, seed: int
) -> tuple[np.ndarray, object, np.ndarray | None]:
    """Fit model ``name`` on the train window and predict ``(n_test, k)`` probabilities.

    Returns ``(probs, fitted estimator, feature importances or None)``."""
    est = MODELS["logistic" if name == "logistic_baseline" else name].build(seed)
    if np.unique(y_train).size < 2:
        # one class in the window: every model can only say "that class"
        probs = np.zeros((len(X_test), k))
        probs[:, int(y_train[0])] = 1.0
        return probs, None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; scores tell the story
        est.fit(X_train, y_train)
    probs = _full_probs(est, X_test, k)
    return probs, est, importances(est)


def importances(est) -> np.ndarray | None:
    """Per-feature importances of a fitted estimator (see the module docstring)."""
    if hasattr(est, "feature_importances_"):
        return np.asarray(est.feature_importances_, dtype=np.float64)
    if hasattr(est, "steps"):
        coef = est.steps[-1][1].coef_
        return np.abs(coef).mean(axis=0)
    return None


def majority(y_train: np.ndarray, n_test: int, k: int) -> np.ndarray:
    """The train window's class frequencies (Laplace: one extra count per class, so a class
    absent from the window is rare, not impossible) on every test bar."""
    freq = np.bincount(y_train, minlength=k).astype(np.float64) + 1.0
    freq /= freq.sum()
    return np.tile(freq, (n_test, 1))


def persistence(
    y_all: np.ndarray, train_idx: np.ndarray, test_idx: np.ndarray, horizon: int, k: int
) -> np.ndarray:
    """Persistence probabilities (see the module docstring). ``y_all`` holds every bar's label
    (``-1`` unknown); the label known at bar ``t`` is ``y_all[t - horizon]``."""
    yt = y_all[train_idx]
    freq = np.bincount(yt, minlength=k).astype(np.float64) + 1.0  # Laplace: no zero class
    freq /= freq.sum()
    prev_tr = np.where(train_idx - horizon >= 0, y_all[np.maximum(train_idx - horizon, 0)], -1)
    ok = prev_tr >= 0
    stay = float(np.mean(yt[ok] == prev_tr[ok])) if ok.any() else float(freq.max())
    prev = np.where(test_idx - horizon >= 0, y_all[np.maximum(test_idx - horizon, 0)], -1)
    out = np.tile(freq, (len(test_idx), 1))
    known = prev >= 0
    if known.any():
        rows = np.flatnonzero(known)
        base = np.tile(freq, (rows.size, 1))
        base[np.arange(rows.size), prev[rows]] = 0.0
        base /= base.sum(axis=1, keepdims=True)
        base *= 1.0 - stay
        base[np.arange(rows.size), prev[rows]] = stay
        out[rows] = base
    return out
