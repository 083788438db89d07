"""Hidden-Markov regimes with **filtered (causal) posteriors only**.

``hmmlearn``'s ``predict_proba`` returns the *smoothed* posterior ``P(state_t | x_1..x_T)``: it
uses every bar of the series, later ones included, so a regime label read from it at bar ``t``
knows the future. Here the model is only *fitted* with hmmlearn; the state probabilities are the
**filtered** ones ``P(state_t | x_1..x_t)`` of the forward algorithm (:func:`filtered_posteriors`),
computed in log space from the fitted start probabilities, transition matrix and Gaussian
emissions. :func:`smoothed_disagreement` measures how often the two disagree out of sample.

Observations (causal, per bar): the log close-to-close return and the log of its realised
volatility over ``vol_window`` bars (sqrt of the mean squared return), both standardised with
the train window's mean and standard deviation. Lookback: ``vol_window`` bars.

Protocol: the tuner's walk-forward folds (purge = ``horizon``, the forward window of the
comparison). ``k`` is chosen once by BIC over ``k_range`` on the first train window
(``BIC = -2 log L + p log T``, ``p = (k - 1) + k (k - 1) + k d + k d (d + 1) / 2`` for full
covariances); each fold is refitted on its train window, its states are **ordered by
volatility** (variance of the return observation, calmest = state 0) after every refit, and
filtered over train + test so the test bars start from a warm filter.

Comparison with the rule-based MFT regimes (:mod:`primeflow_lib.research.regime`) on the same
OOS bars: per state, the mean forward log return and the mean forward volatility over
``horizon`` bars; the separation of each is the eta-squared (between-state sum of squares over
the total sum of squares: 0 = states say nothing, 1 = they explain everything).
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import asdict, dataclass, field

import numba as nb
import numpy as np
import pandas as pd

from primeflow_lib.research.data import data_hash, validate_bars
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.regime import REGIMES, regime_probabilities
from primeflow_lib.research.tuning.folds import Fold, FoldSpec, make_folds


@dataclass(frozen=True)
class HMMConfig:
    """``k_range`` (inclusive, BIC choice), ``vol_window`` bars, ``horizon`` bars of the forward
    comparison (and the purge), folds, seed, EM iterations."""

    k_range: tuple[int, int] = (2, 5)
    vol_window: int = 10
    horizon: int = 5
    folds: FoldSpec = field(default_factory=lambda: FoldSpec(n_folds=4))
    seed: int = 7
    n_iter: int = 100

    def __post_init__(self) -> None:
        lo, hi = self.k_range
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi <= 8):
            raise ResearchError(f"hmm.k_range: {self.k_range!r} must be two whole numbers 1 <= lo <= hi <= 8")
        for name in ("vol_window", "horizon", "n_iter"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ResearchError(f"hmm.{name}: {v!r} must be a whole number >= 1")


def observations(bars: pd.DataFrame, vol_window: int) -> tuple[np.ndarray, int]:
    """``(T, 2)`` raw observations and the first usable bar (see the module docstring)."""
    c = bars["close"].to_numpy(dtype=np.float64)
    r = np.r_[np.nan, np.diff(np.log(c))]
    r2 = pd.Series(r * r).rolling(vol_window, min_periods=vol_window).mean().to_numpy()
    lv = 0.5 * np.log(np.maximum(r2, 1e-16))
    return np.column_stack([r, lv]), vol_window + 1


def _gauss_logpdf(X: np.ndarray, means: np.ndarray, covars: np.ndarray) -> np.ndarray:
    """``(T, k)`` log densities of full-covariance Gaussians."""
    T, d = X.shape
    out = np.empty((T, means.shape[0]))
    for s in range(means.shape[0]):
        L = np.linalg.cholesky(covars[s])
        z = np.linalg.solve(L, (X - means[s]).T)
        out[:, s] = -0.5 * (z * z).sum(axis=0) - np.log(np.diag(L)).sum() - 0.5 * d * math.log(2 * math.pi)
    return out


def filtered_posteriors(model, X: np.ndarray) -> np.ndarray:
    """Forward-algorithm state probabilities ``P(state_t | x_1..x_t)``, ``(T, k)``: row ``t``
    uses observations up to ``t`` only. Scaled forward recursion (normalised every bar, emission
    densities divided by their row maximum), compiled."""
    logb = _gauss_logpdf(X, model.means_, model.covars_)
    return _forward(np.ascontiguousarray(logb), np.ascontiguousarray(model.transmat_, dtype=np.float64),
                    np.ascontiguousarray(model.startprob_, dtype=np.float64))


@nb.njit(cache=True)
def _forward(logb, A, start):  # pragma: no cover - compiled
    T, k = logb.shape
    out = np.empty((T, k))
    a = np.empty(k)
    for t in range(T):
        m = logb[t].max()
        tot = 0.0
        for j in range(k):
            if t == 0:
                p = start[j]
            else:
                p = 0.0
                for i in range(k):
                    p += out[t - 1, i] * A[i, j]
            a[j] = p * np.exp(logb[t, j] - m)
            tot += a[j]
        for j in range(k):
            out[t, j] = a[j] / tot if tot > 0 else 1.0 / k
    return out


def n_params(k: int, d: int) -> int:
    return (k - 1) + k * (k - 1) + k * d + k * d * (d + 1) // 2


def _fit(X: np.ndarray, k: int, cfg: HMMConfig):
    from hmmlearn.hmm import GaussianHMM

    m = GaussianHMM(n_components=k, covariance_type="full", n_iter=cfg.n_iter, random_state=cfg.seed,
                    min_covar=1e-4, init_params="stmc", params="stmc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(X)
    return order_by_volatility(m)


def order_by_volatility(model):
    """Relabel the states so that state 0 has the smallest variance of the return observation."""
    order = np.argsort(model.covars_[:, 0, 0], kind="stable")
    model.startprob_ = model.startprob_[order]
    model.transmat_ = model.transmat_[np.ix_(order, order)]
    model.means_ = model.means_[order]
    model.covars_ = model.covars_[order]
    return model


def choose_k(X: np.ndarray, cfg: HMMConfig) -> tuple[int, dict[int, float]]:
    """BIC of every ``k`` in ``k_range`` on ``X``; the smallest BIC wins."""
    bic = {}
    for k in range(cfg.k_range[0], cfg.k_range[1] + 1):
        m = _fit(X, k, cfg)
        bic[k] = float(-2.0 * m.score(X) + n_params(k, X.shape[1]) * math.log(len(X)))
    return min(bic, key=bic.get), bic


def eta_squared(values: np.ndarray, groups: np.ndarray) -> float:
    """Between-group sum of squares over the total sum of squares (NaN values dropped)."""
    ok = np.isfinite(values) & pd.notna(groups)
    v, g = values[ok], np.asarray(groups)[ok]
    if v.size < 2:
        return math.nan
    total = float(((v - v.mean()) ** 2).sum())
    if total == 0:
        return math.nan
    between = sum(float((g == s).sum()) * (float(v[g == s].mean()) - float(v.mean())) ** 2 for s in pd.unique(g))
    return between / total


def forward_stats(bars: pd.DataFrame, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Forward log return and forward volatility (sqrt mean squared log return) over the next
    ``horizon`` bars (NaN for the last ``horizon``)."""
    c = np.log(bars["close"].to_numpy(dtype=np.float64))
    n = len(c)
    fr = np.full(n, np.nan)
    fr[: n - horizon] = c[horizon:] - c[: n - horizon]
    r2 = np.r_[0.0, np.diff(c) ** 2]
    cs = np.cumsum(r2)
    fv = np.full(n, np.nan)
    fv[: n - horizon] = np.sqrt((cs[horizon:] - cs[: n - horizon]) / horizon)
    return fr, fv


@dataclass
class HMMStudy:
    hmm_id: str
    config: HMMConfig
    symbol: str
    timeframe: str
    index: pd.DatetimeIndex
    data_hash: str
    k: int
    bic: dict[int, float]
    folds: list[Fold]
    probs: np.ndarray
    states: np.ndarray
    fold_of: np.ndarray
    mft: np.ndarray
    smoothed_disagreement: float
    separation: dict

    @property
    def oos_start(self) -> int:
        return self.folds[0].test_start

    def comparison(self) -> pd.DataFrame:
        """The separation table: one row per model (hmm, mft)."""
        return pd.DataFrame([{"model": m, "states": v["states"], "eta2_forward_return": v["eta2_return"],
                              "eta2_forward_vol": v["eta2_vol"]} for m, v in self.separation.items()])


def fit_hmm_regimes(bars: pd.DataFrame, config: HMMConfig | None = None, symbol: str = "", timeframe: str = "1d") -> HMMStudy:
    """Walk-forward HMM regimes (see the module docstring)."""
    cfg = config or HMMConfig()
    frame = validate_bars(bars.drop(columns=["ticker", "vendor", "trade_date"], errors="ignore"), symbol or "bars")
    n = len(frame)
    raw, first = observations(frame, cfg.vol_window)
    folds = make_folds(n, cfg.folds, cfg.horizon, first=first, min_bars=max(50, 10 * cfg.k_range[1]))
    f0 = folds[0]
    mu, sd = raw[f0.train_start:f0.train_end].mean(axis=0), raw[f0.train_start:f0.train_end].std(axis=0)
    k, bic = choose_k((raw[f0.train_start:f0.train_end] - mu) / sd, cfg)
    probs, states, fold_of, dis = [], [], [], []
    for f in folds:
        tr = raw[f.train_start:f.train_end]
        mu, sd = tr.mean(axis=0), tr.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        m = _fit((tr - mu) / sd, k, cfg)
        span = (raw[f.train_start:f.test_end] - mu) / sd
        filt = filtered_posteriors(m, span)[f.test_start - f.train_start:]
        smooth = m.predict_proba(span)[f.test_start - f.train_start:]
        dis.append(np.argmax(filt, axis=1) != np.argmax(smooth, axis=1))
        probs.append(filt)
        states.append(np.argmax(filt, axis=1))
        fold_of.append(np.full(f.test_end - f.test_start, f.index))
    probs, states = np.concatenate(probs), np.concatenate(states)
    fold_of = np.concatenate(fold_of)
    start = folds[0].test_start
    mft = regime_probabilities(frame)["regime"].to_numpy(dtype=object)[start:]
    fr, fv = forward_stats(frame, cfg.horizon)
    fr, fv = fr[start:], fv[start:]
    sep = {}
    for name, groups, labels in (("hmm", states, list(range(k))), ("mft", mft, list(REGIMES))):
        rows = []
        for s in labels:
            msk = (groups == s) & np.isfinite(fr)
            rows.append({"state": str(s), "bars": int(msk.sum()),
                         "fwd_return_mean": float(fr[msk].mean()) if msk.any() else None,
                         "fwd_vol_mean": float(fv[msk].mean()) if msk.any() else None})
        sep[name] = {"states": len(labels), "eta2_return": eta_squared(fr, groups),
                     "eta2_vol": eta_squared(fv, groups), "per_state": rows}
    dhash = data_hash(frame)
    hid = hashlib.sha256(json.dumps({"cfg": asdict(cfg), "data": dhash}, sort_keys=True, default=str)
                         .encode()).hexdigest()[:16]
    return HMMStudy(hmm_id=hid, config=cfg, symbol=symbol or "bars", timeframe=timeframe,
                    index=frame.index, data_hash=dhash, k=k, bic=bic, folds=folds, probs=probs,
                    states=states, fold_of=fold_of, mft=mft,
                    smoothed_disagreement=float(np.concatenate(dis).mean()), separation=sep)


def hmm_rows(study: HMMStudy) -> dict[str, pd.DataFrame]:
    """Rows of ``research.hmm_fits`` and ``research.hmm_states``."""
    import datetime as dt

    from primeflow_lib.schema.research import HMM_FITS, HMM_STATES

    def clean(x):
        return None if isinstance(x, float) and not math.isfinite(x) else x

    sep = {m: {k: (clean(v) if not isinstance(v, list) else v) for k, v in d.items()} for m, d in study.separation.items()}
    fits = pd.DataFrame([{
        "hmm_id": study.hmm_id, "created_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        "symbol": study.symbol, "timeframe": study.timeframe, "data_hash": study.data_hash,
        "k": study.k, "bic": json.dumps({str(k): v for k, v in study.bic.items()}),
        "folds": json.dumps([f.__dict__ for f in study.folds]),
        "smoothed_disagreement": study.smoothed_disagreement, "separation": json.dumps(sep),
        "config": json.dumps(asdict(study.config), default=str),
    }])[HMM_FITS.column_names]  # fmt: skip
    ts = study.index[study.oos_start:]
    states = pd.DataFrame({
        "hmm_id": study.hmm_id, "symbol": study.symbol, "timeframe": study.timeframe,
        "trade_date": ts.date, "ts": ts, "fold": study.fold_of.astype(np.int64),
        "state": study.states.astype(np.int64),
        "probs": [json.dumps([round(float(v), 6) for v in row]) for row in study.probs],
        "mft_regime": study.mft,
    })[HMM_STATES.column_names]  # fmt: skip
    return {HMM_FITS.fqn: fits, HMM_STATES.fqn: states}


def write_hmm_study(con, study: HMMStudy) -> str:
    from primeflow_lib import warehouse
    from primeflow_lib.research.history import ensure_tables
    from primeflow_lib.schema.research import HMM_FITS, HMM_STATES

    ensure_tables(con)
    rows = hmm_rows(study)
    with warehouse.transaction(con):
        for tb in (HMM_FITS, HMM_STATES):
            warehouse.replace_where(con, tb, rows[tb.fqn], {"hmm_id": study.hmm_id})
    return study.hmm_id
