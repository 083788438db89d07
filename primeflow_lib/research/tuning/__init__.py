"""PhiAI tuner: search spaces from the indicator registry, seeded samplers, walk-forward folds
with purge and embargo, one compiled engine pass per trial, and overfitting statistics
(:mod:`primeflow_lib.research.overfit`). See ``docs/tuning.md``.

Entry points: :func:`phiai_full_auto` (the whole study), :func:`select_indicators`,
:func:`tune_indicator`, :func:`write_study`.
"""

from __future__ import annotations

from primeflow_lib.research.tuning.folds import Fold, FoldSpec, make_folds
from primeflow_lib.research.tuning.samplers import SAMPLERS, sample
from primeflow_lib.research.tuning.spaces import Space, space_for
from primeflow_lib.research.tuning.store import oos_run, write_study
from primeflow_lib.research.tuning.study import (
    Study,
    TuneConfig,
    phiai_full_auto,
    select_indicators,
    tune_indicator,
)

__all__ = [
    "SAMPLERS", "Fold", "FoldSpec", "Space", "Study", "TuneConfig", "make_folds",
    "oos_run", "phiai_full_auto", "sample", "select_indicators", "space_for", "tune_indicator",
    "write_study",
]  # fmt: skip
