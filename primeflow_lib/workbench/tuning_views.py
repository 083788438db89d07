"""PhiAI tuning studies for the workbench, read from the tuner's tables
(:mod:`primeflow_lib.research.tuning.store`, declared in :mod:`primeflow_lib.schema.research`):

* ``research.tuning_studies``: one row per study (symbol, data window, sampler, budget, N);
* ``research.tuning_trials``: one row per trial: parameters, ``is_sharpe`` (mean train Sharpe
  over the folds, annualised) and ``oos_sharpe`` (Sharpe of all test windows together,
  annualised);
* ``research.tuned_parameters``: the outcome per selected indicator: parameters, PSR, DSR, PBO,
  MinTRL, the verdict and ``run_id`` of the chosen configuration's OOS backtest.

Every query uses fixed SQL with bound values; the study id comes from the studies table.
"""

from __future__ import annotations

import os

import pandas as pd

from primeflow_lib.workbench.readcopy import existing_tables, read_frame

PathLike = str | os.PathLike | None
STUDIES, TRIALS, TUNED = ("research.tuning_studies", "research.tuning_trials",
                          "research.tuned_parameters")
#: the study columns the list shows (the JSON configs stay in the table)
STUDY_COLUMNS = ("study_id", "created_at", "symbol", "timeframe", "first_bar", "last_bar",
                 "n_bars", "sampler", "seed", "budget", "n_trials", "metric", "purge", "wall_s")
#: the outcome statistics, in the order the page shows them (docs/tuning.md)
STATS = ("is_sharpe", "oos_sharpe", "psr", "dsr", "pbo", "min_trl", "prob_oos_loss",
         "degradation_slope")


def available(path: PathLike = None) -> dict[str, bool]:
    """Which of the three tuning tables exist in the read copy (all do once the schema is
    ensured; an older read copy may lack them)."""
    have = existing_tables(path)
    return {t: t in have for t in (STUDIES, TRIALS, TUNED)}


def studies(path: PathLike = None) -> pd.DataFrame:
    """Every study (:data:`STUDY_COLUMNS`), newest first; empty before the first study."""
    cols = ", ".join(f'"{c}"' for c in STUDY_COLUMNS)
    return read_frame(f"SELECT {cols} FROM {STUDIES} ORDER BY created_at DESC, study_id",
                      path=path)


def trials(study_id: str, path: PathLike = None) -> pd.DataFrame:
    """Trials of a study in evaluation order: ``trial_no, step, indicator, params, is_sharpe,
    oos_sharpe, oos_sharpe_per_period, n_trades``."""
    return read_frame(
        "SELECT trial_no, step, indicator, params, is_sharpe, oos_sharpe, oos_sharpe_per_period, "
        f"n_trades FROM {TRIALS} WHERE study_id = ? ORDER BY trial_no", [study_id], path)


def tuned_parameters(study_id: str, path: PathLike = None) -> pd.DataFrame:
    """The outcome of a study, one row per selected indicator: ``indicator, params,
    blend_mode, weight``, :data:`STATS`, ``n_trials, verdict, run_id``."""
    stats = ", ".join(STATS)
    return read_frame(
        f"SELECT indicator, params, blend_mode, weight, {stats}, n_trials, verdict, run_id "
        f"FROM {TUNED} WHERE study_id = ? ORDER BY indicator", [study_id], path)


def oos_run_stored(run_id: str | None, path: PathLike = None) -> bool:
    """Whether the OOS run ``run_id`` is in ``research.backtest_runs`` of the read copy."""
    if not run_id or "research.backtest_runs" not in existing_tables(path):
        return False
    return not read_frame("SELECT 1 FROM research.backtest_runs WHERE run_id = ?", [run_id],
                          path).empty


def tunable_indicators() -> list[str]:
    """Indicators the tuner can search (those with tune ranges), registry order."""
    from primeflow_lib.research.errors import ResearchError
    from primeflow_lib.research.indicators import REGISTRY
    from primeflow_lib.research.tuning.spaces import space_for

    out = []
    for name in REGISTRY:
        try:
            space_for(name)
        except ResearchError:
            continue
        out.append(name)
    return out
