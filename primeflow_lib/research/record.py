"""Recording a finished backtest: the run in the run history, then its tuning study.

:func:`record_run` is what the CLI, the workbench and the Dagster assets call after
:func:`~primeflow_lib.research.runner.run_backtest`; storing the run alone is
:func:`~primeflow_lib.research.history.write_run`, storing a study alone (with its own OOS run)
is :func:`~primeflow_lib.research.tuning.store.write_study`.
"""

from __future__ import annotations

import duckdb

from primeflow_lib.research.history import write_run
from primeflow_lib.research.runner import BacktestResult
from primeflow_lib.research.tuning.store import write_study


def record_run(con: duckdb.DuckDBPyConnection, result: BacktestResult) -> str:
    """Store ``result`` in ``research.backtest_*`` (one transaction, replacing the run's rows),
    then, for an ``auto_tune`` run, its study in ``research.tuning_*`` (its own transaction;
    the study links to this run_id). Returns the run_id."""
    rid = write_run(con, result)
    if result.tuning is not None:
        write_study(con, result.tuning)
    return rid
