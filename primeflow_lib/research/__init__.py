"""The research workbench: indicators, the MFT regime engine, blends, a compiled backtest
engine, metrics, reproducible run configs and run history.

Entry points (what the CLI and the Dagster assets call):

* :func:`run_backtest` (``RunConfig`` + bars -> :class:`BacktestResult`)
* :func:`compute_signals`, :func:`regime_probabilities`, :func:`blend_signals`
* :func:`record_run` (the run, then an auto_tune run's study), :func:`write_run`, :func:`read_run`, :func:`compare_runs`, :func:`export_run`
* :func:`load_csv`, :func:`load_warehouse_bars`, :func:`validate_bars`,
  :func:`resample_intraday`
* rows for ``research.indicator_signals`` / ``regimes`` / ``blends``:
  :func:`indicator_signal_rows`, :func:`regime_rows`, :func:`blend_rows`

See ``docs/research.md`` for the user manual.
"""

from __future__ import annotations

from primeflow_lib.research.blend import BLEND_MODES, blend_signals
from primeflow_lib.research.data import load_csv, load_warehouse_bars, validate_bars, validate_panel
from primeflow_lib.research.engine import EngineParams, simulate
from primeflow_lib.research.errors import BarsError, DataSourceError, ResearchError, RunConfigError
from primeflow_lib.research.export import export_run
from primeflow_lib.research.history import (
    RUN_COMPARISON_VIEW_DDL,
    compare_runs,
    ensure_tables,
    list_runs,
    read_run,
    write_run,
)
from primeflow_lib.research.indicators import REGISTRY, compute_signals, max_lookback
from primeflow_lib.research.metrics import compute_metrics
from primeflow_lib.research.presets import PRESETS, preset
from primeflow_lib.research.record import record_run
from primeflow_lib.research.regime import REGIMES, regime_probabilities
from primeflow_lib.research.rows import blend_rows, indicator_signal_rows, regime_rows
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.runner import BacktestResult, run_backtest
from primeflow_lib.research.timeframes import periods_per_year, resample_intraday

__all__ = [
    "BLEND_MODES", "PRESETS", "REGIMES", "REGISTRY", "RUN_COMPARISON_VIEW_DDL", "BacktestResult",
    "BarsError", "DataSourceError", "EngineParams", "ResearchError", "RunConfig", "RunConfigError",
    "blend_rows", "blend_signals", "compare_runs", "compute_metrics", "compute_signals",
    "ensure_tables", "export_run", "indicator_signal_rows", "list_runs", "load_csv",
    "load_warehouse_bars", "max_lookback", "periods_per_year", "preset", "read_run", "record_run",
    "regime_probabilities", "regime_rows", "resample_intraday", "run_backtest", "simulate",
    "validate_bars", "validate_panel", "write_run",
]  # fmt: skip
