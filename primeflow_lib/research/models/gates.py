"""Leakage gates: three checks that a fit's protocol does not see the future. They run on
every fit (stored in ``research.model_gates``) and as tests; each can fail.

``shuffled_labels``
    The train labels of every fold are permuted (``repeats`` seeded permutations); the pooled
    OOS AUC must be ``0.5 +/- 0.02``. The band widens to 3 standard errors of the mean AUC of an
    uninformative score when the test windows are too short for 0.02 to be 3 of them (the
    record says which band applied). A protocol that leaks test information into training
    (labels overlapping the test window, features normalised over the whole series) keeps an
    AUC above the band.
``future_shift``
    Every feature is shifted one bar into the future (the value of bar ``t + 1`` used at ``t``);
    the AUC must *rise* by more than 2 standard errors. It proves the scoring can see leakage:
    if it cannot tell a one-bar look-ahead apart, a zero-leak result means nothing.
``truncation``
    The bars after the first fold's test window are replaced by a different, valid price path;
    features are recomputed and the first fold refitted; every prediction inside that fold must
    be unchanged (max absolute change <= 1e-9). A feature or label that uses later bars fails.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from primeflow_lib.research.models.features import build_features
from primeflow_lib.research.models.labels import check_kind, make_labels
from primeflow_lib.research.models.scores import auc, auc_standard_error
from primeflow_lib.research.models.walkforward import predict_fold, walk_forward
from primeflow_lib.research.tuning.folds import Fold

SHUFFLE_BAND = 0.02
TRUNCATION_TOL = 1e-9


def _xy(frame: pd.DataFrame, config, feature_fn=None) -> tuple[np.ndarray, np.ndarray, int]:
    if feature_fn is not None:
        X, first, mft = feature_fn(frame)
    else:
        ff = build_features(frame, config.indicators, config.include_regime)
        X, first, mft = ff.X, ff.first, ff.mft_regime
    y = make_labels(frame, config.label, config.horizon, mft)
    Xv = X.to_numpy(dtype=np.float64)
    Xv = np.where(np.arange(len(Xv))[:, None] >= first, Xv, 0.0)
    return np.nan_to_num(Xv), y, first


def _pooled(X, y, folds, model, k, seed, horizon) -> tuple[float, float]:
    probs, _ = walk_forward(X, y, folds, model, k, seed, horizon)
    te = np.concatenate([np.arange(f.test_start, f.test_end) for f in folds])
    ok = y[te] >= 0
    return auc(y[te][ok], probs[ok]), auc_standard_error(y[te][ok])


def shuffled_labels(frame, config, model: str, folds: list[Fold], repeats: int = 3, feature_fn=None) -> dict:
    X, y, _ = _xy(frame, config, feature_fn)
    k = len(check_kind(config.label))
    rng = np.random.default_rng(config.seed)
    aucs = []
    se = math.nan
    for _ in range(repeats):
        ys = y.copy()
        for f in folds:  # permute the labelled bars of each train window
            idx = np.arange(f.train_start, f.train_end)
            idx = idx[ys[idx] >= 0]
            ys[idx] = ys[rng.permutation(idx)]
        # the test labels stay true: the question is whether training taught anything real
        te = np.concatenate([np.arange(f.test_start, f.test_end) for f in folds])
        ys[te] = y[te]
        a, se = _pooled(X, ys, folds, model, k, config.seed, config.horizon)
        aucs.append(a)
    value = float(np.mean(aucs))
    tol = max(SHUFFLE_BAND, 3.0 * se / math.sqrt(repeats)) if math.isfinite(se) else SHUFFLE_BAND
    passed = math.isfinite(value) and abs(value - 0.5) <= tol
    band = "0.02" if tol == SHUFFLE_BAND else f"{tol:.3f} (3 standard errors: short test windows)"
    return {"gate": "shuffled_labels", "model": model, "value": value, "reference": 0.5,
            "tolerance": tol, "passed": bool(passed),
            "detail": f"AUC with shuffled train labels {value:.4f} over {repeats} shuffles; "
                      f"must be within 0.5 +/- {band}"}


def future_shift(frame, config, model: str, folds: list[Fold], base_auc: float | None = None, feature_fn=None) -> dict:
    X, y, _ = _xy(frame, config, feature_fn)
    k = len(check_kind(config.label))
    if base_auc is None:
        base_auc, se = _pooled(X, y, folds, model, k, config.seed, config.horizon)
    Xs = np.vstack([X[1:], X[-1:]])  # bar t sees bar t+1's features (the last bar repeats)
    shifted, se = _pooled(Xs, y, folds, model, k, config.seed, config.horizon)
    tol = 2.0 * se if math.isfinite(se) else 0.0
    passed = math.isfinite(shifted) and shifted > base_auc + tol
    return {"gate": "future_shift", "model": model, "value": float(shifted),
            "reference": float(base_auc), "tolerance": float(tol), "passed": bool(passed),
            "detail": f"features one bar in the future: AUC {shifted:.4f} vs honest {base_auc:.4f}; "
                      f"must rise by more than {tol:.4f} (2 standard errors)"}


def perturb_after(frame: pd.DataFrame, end: int, seed: int) -> pd.DataFrame:
    """A copy of ``frame`` whose bars from ``end`` on follow a different random path (valid
    OHLC, same timestamps); bars before ``end`` are untouched."""
    out = frame.copy()
    m = len(frame) - end
    if m <= 0:
        return out
    rng = np.random.default_rng(seed + 1)
    factor = np.exp(np.cumsum(rng.normal(0.0, 0.02, m)))
    for c in ("open", "high", "low", "close"):
        out.iloc[end:, out.columns.get_loc(c)] = frame[c].to_numpy()[end:] * factor
    out.iloc[end:, out.columns.get_loc("volume")] = rng.permutation(frame["volume"].to_numpy()[end:])
    if "vwap" in out.columns:
        out.iloc[end:, out.columns.get_loc("vwap")] = np.nan
    return out


def truncation(frame, config, model: str, folds: list[Fold], feature_fn=None) -> dict:
    f = folds[0]
    k = len(check_kind(config.label))
    X, y, _ = _xy(frame, config, feature_fn)
    p1, *_ = predict_fold(model, X, y, f, k, config.seed, config.horizon)
    X2, y2, _ = _xy(perturb_after(frame, f.test_end, config.seed), config, feature_fn)
    p2, *_ = predict_fold(model, X2, y2, f, k, config.seed, config.horizon)
    diff = float(np.max(np.abs(p1 - p2))) if p1.size else 0.0
    feat = float(np.max(np.abs(X[: f.test_end] - X2[: f.test_end])))
    passed = diff <= TRUNCATION_TOL and feat <= TRUNCATION_TOL
    return {"gate": "truncation", "model": model, "value": max(diff, feat), "reference": 0.0,
            "tolerance": TRUNCATION_TOL, "passed": bool(passed),
            "detail": f"bars after fold 1 ({f.test_end} bars) replaced: largest prediction change "
                      f"{diff:.3g}, largest feature change {feat:.3g} inside the fold; must be 0"}


def run_gates(frame, config, model: str, folds: list[Fold], base_auc: float | None = None) -> list[dict]:
    """The three gates on ``model`` (see the module docstring)."""
    return [
        shuffled_labels(frame, config, model, folds),
        future_shift(frame, config, model, folds, base_auc),
        truncation(frame, config, model, folds),
    ]
