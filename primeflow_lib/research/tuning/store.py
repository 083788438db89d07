"""Store a study: ``research.tuning_studies``, ``research.tuning_trials``,
``research.tuned_parameters`` (one transaction through :mod:`primeflow_lib.warehouse`), and the
chosen configuration's out-of-sample backtest in the run history (``write_run``).

The OOS run: the tuned RunConfig backtested on the **last test window** (strictly after the
data its parameters were chosen on), preceded by ``purge`` warm-up bars (plus the blend's
``min_train`` for a ``phiai`` blend) so its indicators are warm when the window starts. Its
``run_id`` goes into ``research.tuned_parameters``; the run carries the tag
``tuning_study:<study_id>``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from primeflow_lib import warehouse
from primeflow_lib.research.data import validate_bars
from primeflow_lib.research.history import ensure_tables, write_run
from primeflow_lib.research.runconfig import ENGINE_VERSION
from primeflow_lib.research.runner import BacktestResult, run_backtest
from primeflow_lib.research.tuning.study import TUNER_VERSION, Study
from primeflow_lib.schema.research import TUNED_PARAMETERS, TUNING_STUDIES, TUNING_TRIALS


def _num(x: Any) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _fold_list(a) -> str:
    return json.dumps([_num(v) for v in np.asarray(a, dtype=float)])


def oos_run(study: Study, bars: pd.DataFrame) -> BacktestResult:
    """Backtest the tuned RunConfig on the last test window (with warm-up; module docstring)."""
    frame = validate_bars(bars.drop(columns=["ticker", "vendor"], errors="ignore"), study.base.dataset.symbol or "bars")
    last = study.folds[-1]
    warm = study.purge + (study.tuned.blend.min_train if study.tuned.blend.mode == "phiai" else 0)
    lo = max(0, last.test_start - warm)
    window = frame.iloc[lo:]
    cfg = study.tuned.replace(
        dataset={"start": window.index[0].date().isoformat(), "end": window.index[-1].date().isoformat()},
        description=f"PhiAI study {study.study_id}: tuned configuration on its last test window "
        f"(from bar {window.index[last.test_start - lo].date()}; earlier bars are warm-up)",
        tags=[*study.base.tags, f"tuning_study:{study.study_id}"],
    )
    return run_backtest(cfg, window)


def study_rows(study: Study) -> dict[str, pd.DataFrame]:
    """The rows of the three tuning tables for ``study``."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    ds = study.base.dataset
    st = study.stats
    studies = pd.DataFrame([{
        "study_id": study.study_id, "created_at": now, "symbol": ds.symbol or (ds.csv or ""),
        "timeframe": ds.timeframe, "first_bar": study.first_bar, "last_bar": study.last_bar,
        "n_bars": study.n_bars, "data_hash": study.data_hash,
        "indicators": json.dumps(list(study.tune.indicators)), "sampler": study.tune.sampler,
        "seed": int(study.tune.seed), "budget": int(study.tune.trials), "n_trials": len(study.trials),
        "metric": study.tune.metric,
        "folds": json.dumps({"spec": study.tune.folds.to_dict(), "windows": [f.__dict__ for f in study.folds]}),
        "purge": int(study.purge), "tune_config": json.dumps(study.tune.to_dict(), sort_keys=True),
        "base_config": study.base.to_json(indent=None), "tuner_version": TUNER_VERSION,
        "engine_version": ENGINE_VERSION, "wall_s": float(study.wall_s),
    }])[TUNING_STUDIES.column_names]  # fmt: skip
    t = study.trials
    trials = pd.DataFrame({
        "study_id": study.study_id,
        "trial_no": t["trial_no"].to_numpy(),
        "step": t["step"].to_numpy(),
        "indicator": t["indicator"].to_numpy(),
        "params": [json.dumps(p, sort_keys=True) for p in t["params"]],
        "is_metric": [_fold_list(a) for a in t["is_sharpe"]],
        "oos_metric": [_fold_list(a) for a in t["oos_sharpe"]],
        "is_sharpe": t["is_sharpe_mean_ann"].to_numpy(dtype=float),
        "oos_sharpe": t["wf_oos_sharpe_ann"].to_numpy(dtype=float),
        "oos_sharpe_per_period": t["wf_oos_sharpe"].to_numpy(dtype=float),
        "n_trades": t["n_trades"].to_numpy(dtype=np.int64),
    })[TUNING_TRIALS.column_names]  # fmt: skip
    weights = study.last_weights or {}
    rows = []
    for ind, params in study.chosen.items():
        rows.append({
            "study_id": study.study_id, "indicator": ind, "params": json.dumps(params, sort_keys=True),
            "blend_mode": study.tuned.blend.mode, "weight": _num(weights.get(ind, math.nan)),
            "is_sharpe": _num(st["is_sharpe_ann"]), "oos_sharpe": _num(st["oos_sharpe_ann"]),
            "psr": _num(st["psr"]), "dsr": _num(st["dsr"]), "pbo": _num(st["pbo"]),
            "min_trl": _num(st["min_track_record_length"]), "prob_oos_loss": _num(st["prob_oos_loss"]),
            "degradation_slope": _num(st["degradation_slope"]), "n_trials": len(study.trials),
            "verdict": study.verdict, "run_id": study.run_id, "run_config": study.tuned.to_json(indent=None),
        })  # fmt: skip
    tuned = pd.DataFrame(rows)[TUNED_PARAMETERS.column_names]
    for df, tb in ((trials, TUNING_TRIALS), (tuned, TUNED_PARAMETERS)):
        for col in tb.columns:
            if col.type == "DOUBLE" and col.name in df:
                df[col.name] = pd.array([_num(v) if v is not None else None for v in df[col.name]], dtype="Float64")
    return {TUNING_STUDIES.fqn: studies, TUNING_TRIALS.fqn: trials, TUNED_PARAMETERS.fqn: tuned}


def write_study_rows(con: duckdb.DuckDBPyConnection, study: Study) -> str:
    """Replace the rows of ``study``'s id in the three tuning tables (one transaction, or the
    caller's :func:`primeflow_lib.warehouse.transaction`). Returns the study id."""
    ensure_tables(con)
    rows = study_rows(study)
    with warehouse.transaction(con):
        for tb in (TUNING_STUDIES, TUNING_TRIALS, TUNED_PARAMETERS):
            warehouse.replace_where(con, tb, rows[tb.fqn], {"study_id": study.study_id})
    return study.study_id


def write_study(con: duckdb.DuckDBPyConnection, study: Study, bars: pd.DataFrame | None = None) -> str:
    """Store ``study`` (replacing the rows of its study id in the three tables).

    With ``bars`` (the study's bars) the chosen configuration's OOS backtest is run first, then
    the run (:func:`~primeflow_lib.research.history.write_run`) and the study rows, linked by
    its run id, are written in **one transaction**: a process killed meanwhile leaves neither.
    Returns the study id.
    """
    ensure_tables(con)
    result = None
    if bars is not None:
        result = oos_run(study, bars)  # computed before the transaction: no lock held meanwhile
        study.run_id = result.run_id
        study.run_result = result
        if result.blend_weights is not None and len(result.blend_weights):
            last = result.blend_weights.iloc[-1]
            study.last_weights = {k: float(v) for k, v in last.items()}
        elif len(study.chosen) == 1:
            study.last_weights = {next(iter(study.chosen)): 1.0}
    with warehouse.transaction(con):
        if result is not None:
            write_run(con, result)
        write_study_rows(con, study)
    return study.study_id
