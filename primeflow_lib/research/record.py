"""Recording a finished backtest: the run in the run history and its tuning study, in **one
transaction**.

:func:`record_run` is what the CLI, the workbench and the Dagster assets call after
:func:`~primeflow_lib.research.runner.run_backtest`; storing the run alone is
:func:`~primeflow_lib.research.history.write_run`, storing a study alone (with its own OOS run,
also in one transaction) is :func:`~primeflow_lib.research.tuning.store.write_study`. A process
killed while recording leaves either both or neither: never a run whose study is missing.
"""

from __future__ import annotations

import duckdb

from primeflow_lib import warehouse
from primeflow_lib.research.history import ensure_tables, write_run
from primeflow_lib.research.runner import BacktestResult
from primeflow_lib.research.tuning.store import write_study_rows


def record_run(con: duckdb.DuckDBPyConnection, result: BacktestResult) -> str:
    """Store ``result`` in ``research.backtest_*`` and, for an ``auto_tune`` run, its study in
    ``research.tuning_*`` (linked to this run_id), in one transaction. A run_id already stored
    is kept (same config and bars: same numbers; see
    :func:`~primeflow_lib.research.history.write_run`). Returns the run_id."""
    ensure_tables(con)
    with warehouse.transaction(con):
        rid = write_run(con, result)
        if result.tuning is not None:
            write_study_rows(con, result.tuning)
    return rid
