"""The model lab: fit classifiers under purged walk-forward, score them against the same three
baselines every time, turn their predictions into a signal, run it through the engine and give
the tuner's verdict.

Protocol (every step is the same for every model and baseline)
--------------------------------------------------------------
1. **Features** (:mod:`.features`): causal columns; ``first`` = the longest lookback + 1.
2. **Labels** (:mod:`.labels`): kind and horizon ``h``; the label of bar ``t`` uses bars up to
   ``t + h``.
3. **Folds**: the tuner's walk-forward folds (:func:`primeflow_lib.research.tuning.folds.make_folds`)
   with ``purge = h`` (no train label reaches into its test window) plus the configured embargo.
   Each test window must hold at least :data:`MIN_TEST_BARS` bars and at least ``h``.
4. **Fit** each model and the baselines (:mod:`.estimators`) on each train window (labelled
   bars only) and predict every bar of its test window; scores (:mod:`.scores`) per fold and on
   all test windows pooled.
5. **Signal and engine**: probabilities -> signal in [-1, +1] (:func:`.labels.to_signal`); every
   model and baseline at every entry threshold of ``thresholds`` is a *trial*, run by the
   compiled engine (:func:`primeflow_lib.research.tuning.evaluate.run_signals`) with the base
   RunConfig's costs, sizing and fills (decide at the close, fill at the next open). The signal
   is NaN before the first test bar, so every trade is out of sample.
6. **Verdict**: the best model (highest pooled AUC) has an *edge* only if it beats all three
   baselines on AUC, log-loss and Brier (``logistic`` is the third baseline itself, so it is
   judged against the other two). Without an edge the verdict is ``no edge: ...``;
   with one, the trading verdict of :func:`primeflow_lib.research.overfit.verdict` on its OOS
   returns (DSR against every trial's Sharpe, PBO by CSCV over every trial).
7. **Leakage gates** (:mod:`.gates`) on the best model, stored with the fit.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.research import overfit
from primeflow_lib.research.data import data_hash, validate_bars
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.models import estimators as est
from primeflow_lib.research.models.features import (
    DEFAULT_INDICATORS,
    build_features,
    check_features,
)
from primeflow_lib.research.models.labels import check_kind, make_labels, to_signal
from primeflow_lib.research.models.scores import score
from primeflow_lib.research.models.walkforward import walk_forward
from primeflow_lib.research.runconfig import ENGINE_VERSION, RunConfig
from primeflow_lib.research.timeframes import periods_per_year
from primeflow_lib.research.tuning.evaluate import run_signals, window_sharpe
from primeflow_lib.research.tuning.folds import Fold, FoldSpec, make_folds

LAB_VERSION = "1"
MIN_TEST_BARS = 30
DEFAULT_THRESHOLDS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2)


def default_base() -> RunConfig:
    """The engine settings a fit uses unless told otherwise: long and short, enter at any
    non-zero signal, fill at the next open, 1 bp slippage per fill, no commission."""
    return RunConfig.from_dict({
        "entry": {"threshold": 0.0, "allow_short": True},
        "execution": {"fill": "next_open", "slippage_pct": 0.0001},
    })  # fmt: skip


@dataclass(frozen=True)
class ModelConfig:
    """What to fit.

    Attributes:
        models: registry names (:data:`.estimators.MODELS`).
        label: ``direction`` | ``vol_bucket`` | ``regime`` (:mod:`.labels`).
        horizon: label horizon in bars (>= 1; the purge is at least this).
        indicators: registry indicators whose signals are features.
        include_regime: add the MFT regime probabilities and features.
        folds: walk-forward folds (the tuner's :class:`FoldSpec`; ``embargo`` widens the purge).
        seed: seed of every model, shuffle and perturbation.
        thresholds: entry thresholds tried for every model and baseline (the trials of the
            DSR and PBO); the base RunConfig's own threshold is the headline and is added when
            missing.
        gates: run the leakage gates on the best model and store them.
        pbo_splits: S of the CSCV.
        base: the RunConfig whose dataset, costs, sizing and fills every trial uses.
    """

    models: tuple[str, ...] = ("lightgbm",)
    label: str = "direction"
    horizon: int = 1
    indicators: tuple[str, ...] = DEFAULT_INDICATORS
    include_regime: bool = True
    folds: FoldSpec = field(default_factory=FoldSpec)
    seed: int = 7
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    gates: bool = True
    pbo_splits: int = 16
    base: RunConfig = field(default_factory=default_base)

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", est.check_models(self.models))
        check_kind(self.label)
        h = self.horizon
        if isinstance(h, bool) or int(h) != h or h < 1:
            raise ResearchError(f"label.horizon: {h!r} must be a whole number of bars >= 1")
        for t in self.thresholds:
            if not 0.0 <= float(t) <= 1.0:
                raise ResearchError(f"thresholds: {t!r} must be between 0 and 1")
        ths = tuple(sorted({float(t) for t in self.thresholds} | {float(self.base.entry.threshold)}))
        object.__setattr__(self, "thresholds", ths)
        self.base.engine_params()  # bad engine settings fail now

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["models"], d["indicators"] = list(self.models), list(self.indicators)
        d["thresholds"] = list(self.thresholds)
        d["base"] = self.base.to_dict()
        return d


@dataclass
class FitRecord:
    """Scores of one model or baseline on one fold (``fold = -1``: all test windows pooled)."""

    model: str
    role: str
    fold: int
    scores: dict
    importances: dict | None = None
    n_train: int | None = None


@dataclass
class ModelStudy:
    """Everything one fit produced (see the module docstring)."""

    fit_id: str
    config: ModelConfig
    symbol: str
    timeframe: str
    source: str
    index: pd.DatetimeIndex
    data_hash: str
    features: list[str]
    first: int
    purge: int
    folds: list[Fold]
    classes: tuple[str, ...]
    labels: np.ndarray
    records: list[FitRecord]
    probs: dict[str, np.ndarray]
    fold_of: np.ndarray
    trials: pd.DataFrame
    best_model: str
    edge: bool
    verdict: str
    stats: dict[str, float]
    oos_returns: dict[str, np.ndarray]
    gates: list[dict] = field(default_factory=list)
    models_saved: dict[str, tuple[str, str]] = field(default_factory=dict)
    fitted: dict[str, object] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def oos_start(self) -> int:
        return self.folds[0].test_start

    def signal(self, model: str) -> np.ndarray:
        """The model's signal per bar (NaN outside the test windows)."""
        return _signal_of(self.config.label, self.probs[model], len(self.index), self.oos_start)

    def table(self) -> pd.DataFrame:
        """The model-vs-baseline table: pooled OOS scores of every model and baseline."""
        rows = []
        for r in self.records:
            if r.fold != -1:
                continue
            s = r.scores
            tr = self.trials[(self.trials["model"] == r.model)
                             & (self.trials["threshold"] == self.config.base.entry.threshold)]
            rows.append({
                "model": r.model, "role": r.role, "auc": s["auc"], "log_loss": s["log_loss"],
                "brier": s["brier"], "accuracy": s["accuracy"], "ece": s["ece"], "n_test": s["n"],
                "oos_sharpe_ann": float(tr["sharpe_ann"].iloc[0]) if len(tr) else math.nan,
            })  # fmt: skip
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, Any]:
        return {
            "fit_id": self.fit_id, "symbol": self.symbol, "timeframe": self.timeframe,
            "source": self.source, "bars": len(self.index), "first_bar": str(self.index[0]),
            "last_bar": str(self.index[-1]), "label": self.config.label,
            "horizon": self.config.horizon, "best_model": self.best_model, "edge": self.edge,
            "verdict": self.verdict,
            "stats": {k: (v if isinstance(v, float) and math.isfinite(v) else None) for k, v in self.stats.items()},
            "gates": [{k: g[k] for k in ("gate", "value", "passed", "detail")} for g in self.gates],
            "models_saved": {m: {"hash": h, "path": p} for m, (h, p) in self.models_saved.items()},
        }  # fmt: skip


def _signal_of(kind: str, probs: np.ndarray, n: int, start: int) -> np.ndarray:
    out = np.full(n, np.nan)
    out[start:] = to_signal(kind, probs)
    return out


def fit_id(config: ModelConfig, dhash: str) -> str:
    """16 hex digits of SHA-256 over the config, the data hash and the lab/engine versions."""
    payload = {"config": config.to_dict(), "data_hash": dhash, "lab": LAB_VERSION,
               "engine": ENGINE_VERSION}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan_folds(n: int, first: int, config: ModelConfig) -> tuple[list[Fold], int]:
    """The walk-forward folds of ``n`` bars (purge = horizon; module docstring), with clear
    errors for too few bars and for a horizon longer than a test fold."""
    spec = config.folds
    k = int(spec.n_folds) if not isinstance(spec.n_folds, bool) else 0
    if k < 1:
        raise ResearchError(f"folds.n_folds: {spec.n_folds!r} must be a whole number >= 1")
    purge = int(config.horizon)
    gap = purge + int(spec.embargo)
    test = spec.test_bars if spec.test_bars is not None else (n - first - gap) // (k + 1)
    if test < MIN_TEST_BARS:
        raise ResearchError(
            f"bars: {n} bars are too few for {k} folds: after the features' warm-up ({first} "
            f"bars) and the purge ({gap} bars) each test fold would hold {max(int(test), 0)} bars "
            f"(needs >= {MIN_TEST_BARS}); give more bars or fewer folds"
        )
    if config.horizon > test:
        raise ResearchError(
            f"label.horizon: {config.horizon} bars is longer than the test fold ({int(test)} bars); "
            "use a shorter horizon, fewer folds or more bars"
        )
    folds = make_folds(n, spec, purge, first=first, min_bars=MIN_TEST_BARS)
    return folds, purge


def fit_models(bars: pd.DataFrame, config: ModelConfig, source: str = "") -> ModelStudy:
    """Run the protocol of the module docstring on one instrument's bars.

    Args:
        bars: anything :func:`~primeflow_lib.research.data.validate_bars` accepts.
        config: the fit (:class:`ModelConfig`).
        source: where the bars came from, for the record (warehouse + vendor, or a CSV path).

    Returns:
        :class:`ModelStudy` (store it with :func:`.store.write_model_study`).

    Raises:
        ResearchError: too few bars for the folds, a horizon longer than a test fold, NaN or
            constant features, unknown models or labels (each naming the parameter and value).
    """
    t0 = time.perf_counter()
    ds = config.base.dataset
    symbol = ds.symbol or ds.csv or "bars"
    frame = validate_bars(bars.drop(columns=["ticker", "vendor", "trade_date"], errors="ignore"), symbol)
    n = len(frame)
    ff = build_features(frame, config.indicators, config.include_regime)
    check_features(ff.X, ff.first)
    classes = check_kind(config.label)
    k = len(classes)
    y = make_labels(frame, config.label, config.horizon, ff.mft_regime)
    folds, purge = plan_folds(n, ff.first, config)
    X = ff.X.to_numpy(dtype=np.float64)
    X = np.where(np.arange(n)[:, None] >= ff.first, X, 0.0)  # warm-up rows are never used
    dhash = data_hash(frame)
    fid = fit_id(config, dhash)
    te_idx = np.concatenate([np.arange(f.test_start, f.test_end) for f in folds])
    fold_of = np.concatenate([np.full(f.test_end - f.test_start, f.index) for f in folds])
    ok = y[te_idx] >= 0

    names = [(m, "model") for m in config.models] + [(b, "baseline") for b in est.BASELINES]
    records: list[FitRecord] = []
    probs_of: dict[str, np.ndarray] = {}
    cols = list(ff.X.columns)
    for name, role in names:
        probs, info = walk_forward(X, y, folds, name, k, config.seed, config.horizon)
        probs_of[name] = probs
        imps = [i for _, i, _ in info if i is not None]
        mean_imp = dict(zip(cols, np.mean(imps, axis=0).tolist(), strict=True)) if imps else None
        for f, (ntr, imp, _) in zip(folds, info, strict=True):
            sel = (fold_of == f.index) & ok
            records.append(FitRecord(name, role, f.index, score(y[te_idx][sel], probs[sel]),
                                     dict(zip(cols, imp.tolist(), strict=True)) if imp is not None else None,
                                     ntr))
        records.append(FitRecord(name, role, -1, score(y[te_idx][ok], probs[ok]), mean_imp,
                                 int(sum(i[0] for i in info))))

    pooled = {r.model: r.scores for r in records if r.fold == -1}
    best = max(config.models, key=lambda m: (np.nan_to_num(pooled[m]["auc"], nan=-1.0), -config.models.index(m)))
    edge, why = _edge(best, pooled)

    trials, oos_returns = _trials(frame, probs_of, folds, config, [nm for nm, _ in names])
    ppy = periods_per_year(ds.timeframe)
    headline = f"{best}@{config.base.entry.threshold:g}"
    r_best = oos_returns[headline]
    sr, g3, g4, t_oos = overfit.moments(r_best)
    trial_sr = trials["sharpe"].to_numpy()
    dsr = overfit.deflated_sharpe_ratio(r_best, trial_sr) if len(trial_sr) >= 2 else math.nan
    mat = np.column_stack([oos_returns[t] for t in trials["trial"]])
    splits = int(config.pbo_splits)
    while splits > 2 and mat.shape[0] < 2 * splits:
        splits -= 2
    pbo_val = overfit.pbo(mat, splits).pbo if mat.shape[1] >= 2 and mat.shape[0] >= 4 else math.nan
    bh = oos_returns["buy_and_hold"]
    stats = {
        "oos_sharpe": sr, "oos_sharpe_ann": sr * math.sqrt(ppy),
        "buy_hold_sharpe_ann": overfit.sharpe_per_period(bh) * math.sqrt(ppy),
        "oos_total_return": float(np.prod(1.0 + r_best) - 1.0),
        "buy_hold_total_return": float(np.prod(1.0 + bh) - 1.0),
        "oos_bars": float(t_oos), "psr": overfit.probabilistic_sharpe_ratio(r_best), "dsr": dsr,
        "pbo": pbo_val, "n_trials": float(len(trials)), "pbo_splits": float(splits),
    }  # fmt: skip
    trade_verdict = overfit.verdict(pbo_val if math.isfinite(pbo_val) else 1.0, dsr)
    verdict = (f"edge over the baselines ({why}); trading: {trade_verdict}" if edge
               else f"no edge: {why}; trading: {trade_verdict}")
    study = ModelStudy(
        fit_id=fid, config=config, symbol=symbol, timeframe=ds.timeframe, source=source or symbol,
        index=frame.index, data_hash=dhash, features=cols, first=ff.first, purge=purge,
        folds=folds, classes=classes, labels=y, records=records, probs=probs_of, fold_of=fold_of,
        trials=trials, best_model=best, edge=edge, verdict=verdict, stats=stats,
        oos_returns=oos_returns,
    )  # fmt: skip
    if config.gates:
        from primeflow_lib.research.models.gates import run_gates

        study.gates = run_gates(frame, config, best, folds, base_auc=pooled[best]["auc"])
    study.fitted = final_models(X, y, ff.first, config)
    study.wall_s = time.perf_counter() - t0
    return study


def _edge(best: str, pooled: dict[str, dict]) -> tuple[bool, str]:
    s = pooled[best]
    lost = []
    for b in est.BASELINES:
        if best == "logistic" and b == "logistic_baseline":
            continue  # the same model: it is judged against the other two
        o = pooled[b]
        for key, better in (("auc", lambda a, c: a > c), ("log_loss", lambda a, c: a < c),
                            ("brier", lambda a, c: a < c)):
            a, c = s[key], o[key]
            if not (math.isfinite(a) and (not math.isfinite(c) or better(a, c))):
                lost.append(f"{key} {a:.4f} vs {b} {c:.4f}")
    if lost:
        return False, f"{best} does not beat its baselines out of sample ({'; '.join(lost[:3])})"
    return True, f"{best} AUC {s['auc']:.4f}, log-loss {s['log_loss']:.4f}, Brier {s['brier']:.4f}"


def _trials(frame, probs_of, folds, config: ModelConfig, names) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    n = len(frame)
    start = folds[0].test_start
    ppy = periods_per_year(config.base.dataset.timeframe)
    sigs = np.stack([_signal_of(config.label, probs_of[nm], n, start) for nm in names])
    rows, rets = [], {}
    for th in config.thresholds:
        params = config.base.replace(entry={"threshold": th}).engine_params()
        r, ntr = run_signals(frame, sigs, params)
        sr = window_sharpe(r, start, n)
        for j, nm in enumerate(names):
            key = f"{nm}@{th:g}"
            rets[key] = r[j, start:]
            rows.append({"trial": key, "model": nm, "threshold": th, "sharpe": float(sr[j]),
                         "sharpe_ann": float(sr[j]) * math.sqrt(ppy),
                         "total_return": float(np.prod(1.0 + r[j, start:]) - 1.0),
                         "n_trades": int(ntr[j])})
    bh_params = config.base.replace(entry={"threshold": 0.0, "allow_short": False}).engine_params()
    bh_sig = np.full((1, n), np.nan)
    bh_sig[0, start:] = 1.0
    r, _ = run_signals(frame, bh_sig, bh_params)
    rets["buy_and_hold"] = r[0, start:]
    return pd.DataFrame(rows), rets


def final_models(X: np.ndarray, y: np.ndarray, first: int, config: ModelConfig) -> dict[str, object]:
    """Every model fitted on all labelled bars after the warm-up: what one would deploy."""
    idx = np.arange(first, len(y))
    idx = idx[y[idx] >= 0]
    out = {}
    for m in config.models:
        _, fitted, _ = est.fit_predict(m, X[idx], y[idx], X[idx[:1]], len(check_kind(config.label)), config.seed)
        out[m] = fitted
    return out
