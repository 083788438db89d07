"""Store a model-lab fit: ``research.model_studies``, ``research.model_fits``,
``research.model_gates``, ``research.model_signals`` (one transaction, rows of the fit id
replaced), and the fitted models as files under the models folder with their hash.

Models folder: ``PRIMEFLOW_MODELS_DIR`` (default ``var/models``). Each model is one pickle file
``<fit_id>_<model>_<hash>.pkl`` holding the estimator fitted on every labelled bar and what it
needs to be used again (feature columns, classes, label and horizon); ``hash`` is the first 16
hex digits of SHA-256 of the file's bytes, stored in ``research.model_fits.model_hash``.
:func:`load_model` refuses a file whose bytes no longer match its hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import pickle
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from primeflow_lib import warehouse
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.history import ensure_tables
from primeflow_lib.research.models.lab import ModelStudy
from primeflow_lib.schema.research import MODEL_FITS, MODEL_GATES, MODEL_SIGNALS, MODEL_STUDIES

MODELS_DIR_ENV = "PRIMEFLOW_MODELS_DIR"
DEFAULT_MODELS_DIR = "var/models"


def models_dir() -> Path:
    return Path(os.environ.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR)


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def save_models(study: ModelStudy, folder: str | os.PathLike | None = None) -> dict[str, tuple[str, str]]:
    """Write every fitted model of ``study``; returns ``{model: (hash, path)}``."""
    out_dir = Path(folder) if folder is not None else models_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    saved = {}
    for name, fitted in study.fitted.items():
        payload = {
            "fit_id": study.fit_id, "model": name, "estimator": fitted,
            "features": study.features, "classes": list(study.classes),
            "label": study.config.label, "horizon": study.config.horizon,
        }  # fmt: skip
        blob = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        h = hashlib.sha256(blob).hexdigest()[:16]
        path = out_dir / f"{study.fit_id}_{name}_{h}.pkl"
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)
        saved[name] = (h, str(path))
    study.models_saved = saved
    return saved


def load_model(path: str | os.PathLike) -> dict:
    """Read a persisted model, checking the hash in its file name against its bytes."""
    p = Path(path)
    if not p.is_file():
        raise ResearchError(f"model file not found: {p}")
    blob = p.read_bytes()
    want = p.stem.rsplit("_", 1)[-1]
    got = hashlib.sha256(blob).hexdigest()[:16]
    if got != want:
        raise ResearchError(f"{p}: content hash {got} does not match the hash {want} in its name")
    return pickle.loads(blob)  # noqa: S301 - our own file, verified by its hash


def study_rows(study: ModelStudy) -> dict[str, pd.DataFrame]:
    """The rows of the four model tables for ``study``."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cfg = study.config
    idx = study.index
    st = study.stats
    studies = pd.DataFrame([{
        "fit_id": study.fit_id, "created_at": now, "symbol": study.symbol,
        "timeframe": study.timeframe, "source": study.source, "first_bar": idx[0],
        "last_bar": idx[-1], "n_bars": len(idx), "label": cfg.label, "horizon": cfg.horizon,
        "models": json.dumps(list(cfg.models)), "features": json.dumps(study.features),
        "folds": json.dumps({"spec": cfg.folds.to_dict(), "windows": [f.__dict__ for f in study.folds]}),
        "purge": study.purge, "seed": cfg.seed, "data_hash": study.data_hash,
        "config": json.dumps(cfg.to_dict(), sort_keys=True, default=str),
        "best_model": study.best_model, "edge": study.edge, "verdict": study.verdict,
        "oos_sharpe": _num(st["oos_sharpe_ann"]), "buy_hold_sharpe": _num(st["buy_hold_sharpe_ann"]),
        "psr": _num(st["psr"]), "dsr": _num(st["dsr"]), "pbo": _num(st["pbo"]),
        "n_trials": int(st["n_trials"]),
        "trials": study.trials.to_json(orient="records"), "wall_s": float(study.wall_s),
    }])[MODEL_STUDIES.column_names]  # fmt: skip
    fits = []
    for r in study.records:
        if r.fold == -1:
            tr_s, tr_e = idx[study.folds[0].train_start], idx[study.folds[-1].train_end - 1]
            te_s, te_e = idx[study.folds[0].test_start], idx[study.folds[-1].test_end - 1]
        else:
            f = study.folds[r.fold]
            tr_s, tr_e, te_s, te_e = idx[f.train_start], idx[f.train_end - 1], idx[f.test_start], idx[f.test_end - 1]
        s = r.scores
        saved = study.models_saved.get(r.model) if r.fold == -1 else None
        fits.append({
            "fit_id": study.fit_id, "model": r.model, "role": r.role, "fold": r.fold,
            "train_start": tr_s, "train_end": tr_e, "test_start": te_s, "test_end": te_e,
            "n_train": r.n_train, "n_test": s["n"], "auc": _num(s["auc"]),
            "log_loss": _num(s["log_loss"]), "brier": _num(s["brier"]),
            "accuracy": _num(s["accuracy"]), "ece": _num(s["ece"]),
            "calibration": json.dumps(s["calibration"]),
            "feature_importances": json.dumps(r.importances) if r.importances else None,
            "symbol": study.symbol, "timeframe": study.timeframe, "label": cfg.label,
            "horizon": cfg.horizon, "seed": cfg.seed, "data_hash": study.data_hash,
            "config": json.dumps({"model": r.model, "role": r.role}),
            "model_hash": saved[0] if saved else None, "model_path": saved[1] if saved else None,
            "created_at": now,
        })  # fmt: skip
    fits = pd.DataFrame(fits)[MODEL_FITS.column_names]
    gates = pd.DataFrame([{"fit_id": study.fit_id, **{k: g[k] for k in
                           ("gate", "model", "value", "reference", "tolerance", "passed", "detail")}}
                          for g in study.gates], columns=MODEL_GATES.column_names)
    start = study.oos_start
    ts = idx[start:]
    lab = study.labels[start:]
    sig_parts = []
    for name, probs in study.probs.items():
        sig_parts.append(pd.DataFrame({
            "fit_id": study.fit_id, "model": name, "trade_date": ts.date, "ts": ts,
            "fold": study.fold_of.astype(np.int64),
            "probs": [json.dumps([round(float(v), 6) for v in row]) for row in probs],
            "label": pd.Series(lab, dtype="Int64").mask(lab < 0).to_numpy(),
            "signal": study.signal(name)[start:],
        }))  # fmt: skip
    signals = pd.concat(sig_parts, ignore_index=True)[MODEL_SIGNALS.column_names]
    for df, tb in ((fits, MODEL_FITS), (gates, MODEL_GATES)):
        for col in tb.columns:
            if col.type == "DOUBLE" and col.name in df:
                df[col.name] = pd.array([_num(v) for v in df[col.name]], dtype="Float64")
    return {MODEL_STUDIES.fqn: studies, MODEL_FITS.fqn: fits, MODEL_GATES.fqn: gates,
            MODEL_SIGNALS.fqn: signals}


def write_model_study(con: duckdb.DuckDBPyConnection, study: ModelStudy, save: bool = True) -> str:
    """Persist the models (``save``) and replace the fit id's rows in the four tables (one
    transaction). Returns the fit id."""
    ensure_tables(con)
    if save and study.fitted and not study.models_saved:
        save_models(study)
    rows = study_rows(study)
    with warehouse.transaction(con):
        for tb in (MODEL_STUDIES, MODEL_FITS, MODEL_GATES, MODEL_SIGNALS):
            warehouse.replace_where(con, tb, rows[tb.fqn], {"fit_id": study.fit_id})
    return study.fit_id
