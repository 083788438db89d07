"""The model lab and regimes for the workbench, read from the model tables
(:mod:`primeflow_lib.research.models.store`, :mod:`primeflow_lib.research.models.hmm`):

* ``research.model_studies``: one row per fit (verdict, edge, DSR, PBO);
* ``research.model_fits``: pooled and per-fold OOS scores of every model and baseline;
* ``research.model_gates``: the leakage gates of a fit;
* ``research.model_signals``: per-bar OOS probabilities and signals;
* ``research.hmm_fits`` / ``research.hmm_states``: HMM regimes (filtered posteriors) next to
  the MFT regime; ``research.regimes``: the MFT probabilities per bar.

Every query uses fixed SQL with bound values.
"""

from __future__ import annotations

import json
import os

import pandas as pd

from primeflow_lib.workbench.readcopy import existing_tables, read_frame

PathLike = str | os.PathLike | None
STUDIES, FITS, GATES, SIGNALS = ("research.model_studies", "research.model_fits", "research.model_gates",
                                 "research.model_signals")
HMM_FITS, HMM_STATES, REGIMES = "research.hmm_fits", "research.hmm_states", "research.regimes"


def available(path: PathLike = None) -> dict[str, bool]:
    have = existing_tables(path)
    return {t: t in have for t in (STUDIES, FITS, GATES, SIGNALS, HMM_FITS, HMM_STATES, REGIMES)}


def studies(path: PathLike = None) -> pd.DataFrame:
    """Every fit, newest first."""
    return read_frame(
        "SELECT fit_id, created_at, symbol, timeframe, source, n_bars, label, horizon, best_model, edge, verdict, "
        f"oos_sharpe, buy_hold_sharpe, psr, dsr, pbo, n_trials, wall_s FROM {STUDIES} ORDER BY created_at DESC",
        path=path)


def pooled_scores(fit_id: str, path: PathLike = None) -> pd.DataFrame:
    """The model-vs-baseline table of a fit: pooled OOS scores, models first."""
    return read_frame(
        f"SELECT model, role, auc, log_loss, brier, accuracy, ece, n_test, model_hash, model_path FROM {FITS} "
        "WHERE fit_id = ? AND fold = -1 ORDER BY role DESC, model", [fit_id], path)


def fold_scores(fit_id: str, path: PathLike = None) -> pd.DataFrame:
    return read_frame(f"SELECT model, role, fold, test_start, test_end, n_train, n_test, auc, log_loss, brier, "
                      f"accuracy FROM {FITS} WHERE fit_id = ? AND fold >= 0 ORDER BY fold, model", [fit_id], path)


def calibration(fit_id: str, path: PathLike = None) -> pd.DataFrame:
    """Reliability tables (pooled) of every model and baseline: ``model, predicted, observed, count``."""
    raw = read_frame(f"SELECT model, calibration FROM {FITS} WHERE fit_id = ? AND fold = -1", [fit_id], path)
    rows = [{"model": m, **b} for m, c in zip(raw["model"], raw["calibration"], strict=True) for b in json.loads(c or "[]")]
    return pd.DataFrame(rows, columns=["model", "bin", "predicted", "observed", "count"])


def importances(fit_id: str, model: str, path: PathLike = None) -> pd.DataFrame:
    raw = read_frame(f"SELECT feature_importances FROM {FITS} WHERE fit_id = ? AND model = ? AND fold = -1",
                     [fit_id, model], path)
    if raw.empty or raw.iloc[0, 0] is None:
        return pd.DataFrame(columns=["feature", "importance"])
    d = json.loads(raw.iloc[0, 0])
    return pd.DataFrame({"feature": list(d), "importance": list(d.values())}).sort_values("importance", ascending=False)


def gates(fit_id: str, path: PathLike = None) -> pd.DataFrame:
    return read_frame(f"SELECT gate, model, passed, value, reference, tolerance, detail FROM {GATES} "
                      "WHERE fit_id = ? ORDER BY gate", [fit_id], path)


def signals(fit_id: str, model: str, path: PathLike = None) -> pd.DataFrame:
    return read_frame(f"SELECT ts, fold, signal, label FROM {SIGNALS} WHERE fit_id = ? AND model = ? ORDER BY ts",
                      [fit_id, model], path)


def hmm_fits(path: PathLike = None) -> pd.DataFrame:
    return read_frame(f"SELECT hmm_id, created_at, symbol, timeframe, k, bic, smoothed_disagreement, separation "
                      f"FROM {HMM_FITS} ORDER BY created_at DESC", path=path)


def hmm_states(hmm_id: str, path: PathLike = None) -> pd.DataFrame:
    """Per OOS bar: ``ts, state, mft_regime`` and one ``p_state_<i>`` column per state."""
    df = read_frame(f"SELECT ts, fold, state, probs, mft_regime FROM {HMM_STATES} WHERE hmm_id = ? ORDER BY ts",
                    [hmm_id], path)
    if df.empty:
        return df
    probs = pd.DataFrame([json.loads(p) for p in df["probs"]], index=df.index)
    probs.columns = [f"p_state_{i}" for i in probs.columns]
    return pd.concat([df.drop(columns="probs"), probs], axis=1)


def mft_probabilities(symbol: str, timeframe: str = "1d", path: PathLike = None, limit: int = 400) -> pd.DataFrame:
    """The latest ``limit`` bars of ``research.regimes`` for a symbol (the MFT probabilities)."""
    return read_frame(
        f"SELECT ts, p_trend_up, p_trend_down, p_range, p_breakout, p_high_vol, regime, phi FROM {REGIMES} "
        "WHERE ticker = ? AND timeframe = ? ORDER BY ts DESC LIMIT ?", [symbol, timeframe, int(limit)], path
    ).sort_values("ts")


def regime_symbols(path: PathLike = None) -> list[str]:
    if REGIMES not in existing_tables(path):
        return []
    return list(read_frame(f"SELECT DISTINCT ticker FROM {REGIMES} ORDER BY 1", path=path)["ticker"])


def blend_weights(symbol: str, timeframe: str = "1d", path: PathLike = None) -> pd.DataFrame:
    """Per-bar weights of the stored ``regime_weighted`` blend (the MFT blender: weights mixed by
    the MFT regime probabilities), long form ``ts, indicator, weight``, plus ``signal``."""
    if "research.blends" not in existing_tables(path):
        return pd.DataFrame(columns=["ts", "indicator", "weight", "signal"])
    raw = read_frame("SELECT ts, signal, weights FROM research.blends WHERE ticker = ? AND timeframe = ? "
                     "AND mode = 'regime_weighted' ORDER BY ts", [symbol, timeframe], path)
    rows = [{"ts": t, "indicator": k, "weight": v, "signal": s}
            for t, s, w in zip(raw["ts"], raw["signal"], raw["weights"], strict=True)
            for k, v in (json.loads(w) if isinstance(w, str) else {}).items()]
    return pd.DataFrame(rows, columns=["ts", "indicator", "weight", "signal"])
