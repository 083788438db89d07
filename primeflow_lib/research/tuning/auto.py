"""``auto_tune: true`` in a RunConfig: tune the flagged indicators on the bars strictly before
``dataset.start``, then run the backtest on ``dataset.start .. end`` with the tuned values.

The study uses :data:`AUTO_TUNE` (budget, folds, sampler, seed) with every flagged indicator kept
(no selection); only flagged indicators change, the config's blend and every other setting stay.
The tuned values are written into the run's config (so they are part of its ``config_id`` and of
``research.backtest_runs.config``), the run gets the tag ``tuning_study:<study_id>``, and the
study (stored with the run by ``write_run``) records the run's ``run_id`` in
``research.tuned_parameters``. The backtest window never takes part in the tuning, so the run is
out of sample for the tuned parameters.
"""

from __future__ import annotations

import math

import pandas as pd

from primeflow_lib.research.errors import ResearchError, RunConfigError
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.tuning.folds import FoldSpec
from primeflow_lib.research.tuning.study import Study, TuneConfig, phiai_full_auto

AUTO_TUNE: dict = {"trials": 400, "sampler": "sobol", "seed": 7, "folds": FoldSpec(n_folds=3)}
"""Search settings of ``auto_tune`` runs (documented in docs/tuning.md)."""


def flagged(config: RunConfig) -> list[str]:
    """Indicator keys with ``auto_tune: true``."""
    return [k for k, s in config.indicators.items() if s.auto_tune]


def needs_history(config: RunConfig) -> bool:
    """True when the run must be given bars before ``dataset.start`` (loaders use this to load
    from the first stored bar)."""
    return bool(flagged(config))


def auto_tune(config: RunConfig, frame: pd.DataFrame) -> tuple[RunConfig, pd.DataFrame, Study]:
    """Tune the flagged indicators on ``frame`` bars before ``dataset.start``.

    Returns ``(tuned config, bars of the backtest window, study)``.
    """
    keys = flagged(config)
    if not config.dataset.start:
        raise RunConfigError(
            f"indicators.{keys[0]}.auto_tune: needs dataset.start (the tuner uses the bars "
            "strictly before it; the backtest runs from it)"
        )
    start = pd.Timestamp(config.dataset.start)
    history = frame[frame.index < start]
    window = frame[frame.index >= start]
    if window.empty:
        raise RunConfigError(f"dataset.start: no bars on or after {config.dataset.start}")
    tc = TuneConfig(indicators=tuple(keys), top_n=len(keys), floor=-math.inf, **AUTO_TUNE)
    base = config.replace(indicators={k: {} for k in keys}, blend={"mode": "weighted_sum", "weights": None})
    try:
        study = phiai_full_auto(history, tc, base)
    except ResearchError as exc:
        raise RunConfigError(
            f"auto_tune: {len(history)} bars before dataset.start {config.dataset.start} are not "
            f"enough to tune {keys}: {exc}"
        ) from None
    inds = {k: (study.chosen[k] if k in study.chosen else dict(s.params)) for k, s in config.indicators.items()}
    specs = {}
    for k, s in config.indicators.items():
        specs[k] = type(s)(params=inds[k], auto_tune=s.auto_tune)
    tuned = config.replace(indicators=specs, tags=[*config.tags, f"tuning_study:{study.study_id}"])
    study.tuned = tuned  # its run_id is set by the run, from the tuned config and the window's bars
    return tuned, window, study
