"""The bars a run reads: a RunConfig's ``dataset`` section resolved to a frame (the CLI, the
workbench and the tuner load bars through :func:`load_bars`)."""

from __future__ import annotations

import os

import pandas as pd

from primeflow_lib.research.data import load_csv, load_warehouse_bars
from primeflow_lib.research.errors import ResearchError, RunConfigError
from primeflow_lib.research.gaps import after_last_hole
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
    bars = load_warehouse_bars(ds.symbol, start, ds.end, ds.timeframe, db, ds.vendor)
    if ds.start is None and not ds.csv:
        bars = _after_backfill_hole(bars, f"market.ohlcv_daily {ds.symbol}")
    return bars


def history_hole_sessions() -> int:
    """``research.history_hole_sessions`` of the config (20 when the config cannot be read)."""
    from primeflow_lib.config import ConfigError, load_config

    try:
        return int(load_config(with_api_keys=False)["research"]["history_hole_sessions"])
    except (ConfigError, KeyError, TypeError, ValueError):
        return 20


def _after_backfill_hole(bars: pd.DataFrame, source: str) -> pd.DataFrame:
    """Without ``dataset.start``, the stored bars after the last hole of
    ``research.history_hole_sessions`` (20) or more missing sessions (an old range backfilled
    apart from the history); ``bars.attrs["notes"]`` says what was left out and how to include
    it."""
    pos, hole = after_last_hole(bars.index, history_hole_sessions())
    if not pos:
        return bars
    kept = bars.iloc[pos:].copy()
    kept.attrs["notes"] = [
        f"{source}: started at {kept.index[0].date()}, after {hole[0]} .. {hole[1]} with no bars (a hole of "
        f"research.history_hole_sessions or more sessions); the {pos} bars from {bars.index[0].date()} before it "
        f"were left out: give --start {bars.index[0].date()} to include them (the gap is then reported)"]
    return kept
