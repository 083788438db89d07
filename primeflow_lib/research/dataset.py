"""The bars a run reads: a RunConfig's ``dataset`` section resolved to a frame (the CLI, the
workbench and the tuner load bars through :func:`load_bars`)."""

from __future__ import annotations

import os

import pandas as pd

from primeflow_lib.research.data import load_csv, load_warehouse_bars
from primeflow_lib.research.errors import ResearchError, RunConfigError
from primeflow_lib.research.runconfig import RunConfig


def load_bars(cfg: RunConfig, db: str | os.PathLike | None = None) -> pd.DataFrame:
    """The bars of a run's ``cfg.dataset``: the CSV (filtered to start/end, both inclusive
    sessions) or the warehouse read copy (``db``, default ``PRIMEFLOW_READ_DUCKDB``).

    An ``auto_tune`` run loads from the first stored bar (it tunes on the bars before
    ``dataset.start``); ``momentum_rotation`` loads the ``dataset.universe`` panel.
    Raises :class:`ResearchError` / :class:`RunConfigError` naming what is missing."""
    ds = cfg.dataset
    # auto_tune tunes on the bars before dataset.start: load from the first stored bar
    start = None if any(s.auto_tune for s in cfg.indicators.values()) else ds.start
    if ds.csv:
        bars = load_csv(ds.csv)
        if start:
            bars = bars[bars.index >= pd.Timestamp(ds.start)]
        if ds.end:  # inclusive: every bar of the end session
            bars = bars[bars.index < pd.Timestamp(ds.end) + pd.Timedelta(days=1)]
        if bars.empty:
            raise ResearchError(f"{ds.csv}: no bars between {ds.start or '-'} and {ds.end or '-'}")
        return bars
    if cfg.strategy == "momentum_rotation":
        if not ds.universe:
            raise RunConfigError("momentum_rotation needs --universe A,B,C (or dataset.universe)")
        return load_warehouse_bars(ds.universe, start, ds.end, ds.timeframe, db, ds.vendor)
    if not ds.symbol:
        raise RunConfigError("give --csv FILE or --symbol TICKER (or dataset.symbol / dataset.csv)")
    return load_warehouse_bars(ds.symbol, start, ds.end, ds.timeframe, db, ds.vendor)
