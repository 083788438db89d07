"""Tuning studies for the workbench, read from the tuner's tables when they exist:
``research.tuning_studies`` (one row per study: verdict, PSR / DSR / PBO, ...),
``research.tuning_trials`` (one row per trial: parameters, in-sample and out-of-sample scores)
and ``research.tuned_parameters`` (the chosen parameters).

The tables are created by the tuner; this module reads whatever columns they have (found in
``information_schema``), so a page built on it shows new columns without a code change.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pandas as pd

from primeflow_lib.workbench.readcopy import existing_tables, quote, read_frame, table_columns

PathLike = str | os.PathLike | None
STUDIES, TRIALS, TUNED = ("research.tuning_studies", "research.tuning_trials",
                          "research.tuned_parameters")
STUDY_KEY = "study_id"
#: study columns that hold the overfitting statistics and the verdict, when present
STAT_PATTERN = re.compile(r"(^|_)(psr|dsr|pbo|verdict|deflated|probabilistic)($|_)", re.I)
_IS = re.compile(r"^(is|in_sample|train)_(.+)$", re.I)
_OOS = re.compile(r"^(oos|out_of_sample|test)_(.+)$", re.I)


def available(path: PathLike = None) -> dict[str, bool]:
    """Which of the three tuning tables exist in the read copy."""
    have = existing_tables(path)
    return {t: t in have for t in (STUDIES, TRIALS, TUNED)}


def studies(path: PathLike = None) -> pd.DataFrame | None:
    """Every study, newest first when the table has a ``created_at`` column; None when the
    table does not exist."""
    cols = table_columns(STUDIES, path)
    if not cols:
        return None
    order = f" ORDER BY {quote('created_at', cols)} DESC" if "created_at" in cols else ""
    return read_frame(f"SELECT * FROM {STUDIES}{order}", path=path)


def _for_study(fqn: str, study_id: str, path: PathLike) -> pd.DataFrame | None:
    cols = table_columns(fqn, path)
    if not cols:
        return None
    if STUDY_KEY not in cols:
        return read_frame(f"SELECT * FROM {fqn} LIMIT 0", path=path)
    return read_frame(f"SELECT * FROM {fqn} WHERE {quote(STUDY_KEY, cols)} = ?", [study_id], path)


def trials(study_id: str, path: PathLike = None) -> pd.DataFrame | None:
    """Trials of a study (None when ``research.tuning_trials`` does not exist)."""
    return _for_study(TRIALS, study_id, path)


def tuned_parameters(study_id: str, path: PathLike = None) -> pd.DataFrame | None:
    """Chosen parameters of a study (None when ``research.tuned_parameters`` does not exist)."""
    return _for_study(TUNED, study_id, path)


def is_oos_pairs(columns: list[str]) -> list[tuple[str, str, str]]:
    """``(metric, in-sample column, out-of-sample column)`` for every metric present both ways
    (``is_sharpe``/``oos_sharpe``, ``in_sample_x``/``out_of_sample_x``, ``train_x``/``test_x``)."""
    ins = {m.group(2): c for c in columns if (m := _IS.match(c))}
    outs = {m.group(2): c for c in columns if (m := _OOS.match(c))}
    return [(k, ins[k], outs[k]) for k in ins if k in outs]


def study_stats(study: dict[str, Any]) -> dict[str, Any]:
    """The overfitting statistics (PSR, DSR, PBO, ...) and the verdict of a study row."""
    return {k: v for k, v in study.items() if STAT_PATTERN.search(k)}
