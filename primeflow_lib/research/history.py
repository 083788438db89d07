"""Run history in DuckDB: store a run, read it back, compare runs side by side.

Tables: ``research.backtest_runs``, ``research.backtest_trades``, ``research.backtest_equity``,
``research.backtest_legs`` (option legs of ``mode: options`` runs; declared in :mod:`primeflow_lib.schema.research`) and the view ``research.run_comparison``.

:func:`write_run` never overwrites: a run's ``run_id`` is its config **and** the hash of its
bars (:meth:`~primeflow_lib.research.runconfig.RunConfig.run_id_for`), so the same id means the
same config on the same bars and the same numbers; recording it again keeps the stored rows
(and refuses with :class:`RunConflictError` if the numbers differ, which only a change to the
engine without an ``ENGINE_VERSION`` bump can cause). A new run is inserted into the four
tables in one transaction (joining the caller's :func:`primeflow_lib.warehouse.transaction`,
so ``record_run`` stores a run and its study together). Table and column names come only from
the declarations; values are bound parameters or registered frames.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import duckdb
import numpy as np
import pandas as pd

from primeflow_lib import warehouse
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.runner import BacktestResult, json_safe
from primeflow_lib.schema.research import (
    BACKTEST_EQUITY,
    BACKTEST_LEGS,
    BACKTEST_RUNS,
    BACKTEST_TRADES,
)
from primeflow_lib.schema.research import TABLES as RESEARCH_TABLES

COMPARISON_COLUMNS = (
    "run_id", "created_at", "strategy", "symbol", "timeframe", "first_bar", "last_bar", "n_bars",
    "description", "tags", "metric", "metric_value", "total_return", "cagr", "sharpe", "sortino",
    "calmar", "max_drawdown", "max_drawdown_duration", "volatility", "profit_factor", "win_rate",
    "avg_win", "avg_loss", "exposure", "direction_accuracy", "n_trades", "final_equity",
    "data_hash", "engine_version",
)  # fmt: skip

RUN_COMPARISON_VIEW_DDL = (
    "CREATE OR REPLACE VIEW research.run_comparison AS\n"
    "SELECT " + ", ".join(f"r.{c}" for c in COMPARISON_COLUMNS) + ",\n"
    "  rank() OVER (PARTITION BY r.symbol, r.timeframe ORDER BY r.sharpe DESC NULLS LAST)"
    " AS sharpe_rank,\n"
    "  (SELECT count(*) FROM research.backtest_trades t"
    " WHERE t.run_id = r.run_id AND NOT t.is_open) AS closed_trades\n"
    "FROM research.backtest_runs r"
)
"""``research.run_comparison``: one row per run with its headline metrics, its Sharpe rank
among runs of the same symbol and timeframe, and its number of closed trades."""


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``research`` schema, its tables (from the declarations) and the comparison
    view if they do not exist. Safe to call on every connection."""
    con.execute("CREATE SCHEMA IF NOT EXISTS research")
    for table in RESEARCH_TABLES:
        con.execute(table.ddl())
    con.execute(RUN_COMPARISON_VIEW_DDL)


def run_rows(result: BacktestResult) -> dict[str, pd.DataFrame]:
    """The rows of the four backtest tables for ``result``, keyed by table name."""
    cfg = result.config
    ds = cfg.dataset
    rid = result.run_id
    metrics = result.metrics
    idx = result.equity.index
    run = {
        "run_id": rid,
        "created_at": result.created_at,
        "engine_version": result.summary()["engine_version"],
        "strategy": cfg.strategy,
        "mode": cfg.mode,
        "symbol": ds.symbol or (ds.csv or ""),
        "timeframe": ds.timeframe,
        "start_date": pd.Timestamp(ds.start).date() if ds.start else None,
        "end_date": pd.Timestamp(ds.end).date() if ds.end else None,
        "first_bar": idx[0],
        "last_bar": idx[-1],
        "n_bars": len(idx),
        "vendor": ds.vendor,
        "capital": cfg.capital,
        "data_hash": result.data_hash,
        "metric": cfg.metric,
        "description": cfg.description,
        "tags": json.dumps(list(cfg.tags)),
        "config": cfg.to_json(indent=None),
        "metrics": json.dumps(json_safe(metrics)),
        "elapsed_s": result.elapsed_s,
    }
    safe = json_safe({**metrics, "metric_value": metrics.get(cfg.metric)})
    for col in BACKTEST_RUNS.columns:
        if col.name in safe:
            run[col.name] = safe[col.name]  # inf/NaN -> None -> NULL
    runs = pd.DataFrame([run])[BACKTEST_RUNS.column_names]
    for col in BACKTEST_RUNS.columns:
        if col.type == "DOUBLE":
            runs[col.name] = pd.array(runs[col.name].tolist(), dtype="Float64")
    trades = result.trades.copy()
    trades.insert(0, "run_id", rid)
    if "ticker" not in trades.columns:
        trades["ticker"] = ds.symbol
    trades = trades[BACKTEST_TRADES.column_names]
    equity = pd.DataFrame(
        {
            "run_id": rid,
            "ts": idx,
            "equity": result.equity.to_numpy(),
            "drawdown": result.drawdown.to_numpy(),
            "position": result.position.to_numpy(dtype=np.float64),
            "exposure": pd.array(result.exposure.to_numpy(dtype=np.float64), dtype="Float64"),
            "signal": pd.array(
                result.signal.to_numpy(dtype=np.float64)
                if result.signal is not None
                else np.full(len(idx), np.nan),
                dtype="Float64",
            ),
        }
    )[BACKTEST_EQUITY.column_names]
    out = {BACKTEST_RUNS.fqn: runs, BACKTEST_TRADES.fqn: trades, BACKTEST_EQUITY.fqn: equity}
    legs = (
        result.legs
        if result.legs is not None
        else pd.DataFrame(columns=[c for c in BACKTEST_LEGS.column_names if c != "run_id"])
    )
    legs = legs.copy()
    legs.insert(0, "run_id", rid)
    if "ticker" not in legs.columns:
        legs["ticker"] = ds.symbol
    out[BACKTEST_LEGS.fqn] = legs[BACKTEST_LEGS.column_names]  # empty for equity runs
    return out


class RunConflictError(ResearchError):
    """A run id already stored with different numbers (the engine changed without a version
    bump); the stored run is kept."""


#: columns compared when a run id is recorded again (same config + same bars = same numbers)
_SAME_RESULT = ("n_bars", "first_bar", "last_bar", "final_equity", "n_trades", "data_hash")


def is_stored(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Whether ``run_id`` is in ``research.backtest_runs`` (False before the table exists)."""
    ensure_tables(con)
    return bool(con.execute(f"SELECT count(*) FROM {BACKTEST_RUNS.fqn} WHERE run_id = ?", [run_id]).fetchone()[0])


def _same(a, b) -> bool:
    if a is None or b is None or (isinstance(a, float) and np.isnan(a)) or (isinstance(b, float) and np.isnan(b)):
        return (a is None or a != a) and (b is None or b != b)
    if isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=1e-9))
    return pd.Timestamp(a) == pd.Timestamp(b) if "Timestamp" in type(a).__name__ + type(b).__name__ else a == b


def write_run(con: duckdb.DuckDBPyConnection, result: BacktestResult) -> str:
    """Store ``result`` under its run_id, one transaction; a run_id already stored is kept (see
    the module docstring). Returns the run_id.

    Creates the tables first if needed (:func:`ensure_tables`). An ``auto_tune`` run's study is
    not stored here: record a finished backtest with
    :func:`primeflow_lib.research.record.record_run`, which writes the run and its study in one
    transaction.

    Raises:
        RunConflictError: the run_id is stored with other numbers (nothing is written).
    """
    ensure_tables(con)
    rows = run_rows(result)
    rid = result.run_id
    with warehouse.transaction(con):
        stored = con.execute(f"SELECT {', '.join(_SAME_RESULT)} FROM {BACKTEST_RUNS.fqn} WHERE run_id = ?",
                             [rid]).fetchall()
        if stored:
            new = rows[BACKTEST_RUNS.fqn].iloc[0]
            diff = [c for c, old in zip(_SAME_RESULT, stored[0], strict=True) if not _same(old, new[c])]
            if diff:
                c = diff[0]
                raise RunConflictError(
                    f"run {rid} is already stored with {c} = {stored[0][_SAME_RESULT.index(c)]!r}; this run "
                    f"has {new[c]!r} for the same config and bars. The stored run is kept; the engine's "
                    "numbers changed without an ENGINE_VERSION bump")
            return rid
        for fqn, df in rows.items():
            cols = ", ".join(f'"{c}"' for c in df.columns)
            con.register("_pf_rows", df)
            try:
                con.execute(f"INSERT INTO {fqn} ({cols}) SELECT {cols} FROM _pf_rows")
            finally:
                con.unregister("_pf_rows")
    return rid


def delete_run(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    """Remove a run from the four tables (one transaction)."""
    con.execute("BEGIN TRANSACTION")
    try:
        for fqn in (BACKTEST_RUNS.fqn, BACKTEST_TRADES.fqn, BACKTEST_EQUITY.fqn, BACKTEST_LEGS.fqn):
            con.execute(f"DELETE FROM {fqn} WHERE run_id = ?", [run_id])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def read_run(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, object]:
    """A stored run: ``{"run": dict of the runs row (config and metrics parsed), "trades":
    DataFrame, "equity": DataFrame, "legs": DataFrame (options runs; empty otherwise)}``. KeyError when the run_id is unknown."""
    runs = con.execute(f"SELECT * FROM {BACKTEST_RUNS.fqn} WHERE run_id = ?", [run_id]).df()
    if runs.empty:
        raise KeyError(f"no run {run_id!r} in {BACKTEST_RUNS.fqn}")
    run = runs.iloc[0].to_dict()
    for key in ("config", "metrics", "tags"):
        run[key] = json.loads(run[key])
    trades = con.execute(
        f"SELECT * FROM {BACKTEST_TRADES.fqn} WHERE run_id = ? ORDER BY trade_no", [run_id]
    ).df()
    equity = con.execute(
        f"SELECT * FROM {BACKTEST_EQUITY.fqn} WHERE run_id = ? ORDER BY ts", [run_id]
    ).df()
    legs = con.execute(
        f"SELECT * FROM {BACKTEST_LEGS.fqn} WHERE run_id = ? ORDER BY trade_no, leg_no", [run_id]
    ).df()
    return {"run": run, "trades": trades, "equity": equity, "legs": legs}


def list_runs(con: duckdb.DuckDBPyConnection, symbol: str | None = None) -> pd.DataFrame:
    """Every stored run (from ``research.run_comparison``), newest first; optionally one symbol."""
    sql = "SELECT * FROM research.run_comparison"
    params: list = []
    if symbol is not None:
        sql += " WHERE symbol = ?"
        params.append(symbol)
    return con.execute(sql + " ORDER BY created_at DESC, run_id", params).df()


def compare_runs(
    con: duckdb.DuckDBPyConnection, run_ids: Sequence[str], side_by_side: bool = True
) -> pd.DataFrame:
    """Runs next to each other: with ``side_by_side`` one column per run_id (in the order given)
    and one row per field of ``research.run_comparison``; otherwise one row per run.
    KeyError names run_ids that are not stored."""
    ids = list(run_ids)
    df = con.execute(
        "SELECT * FROM research.run_comparison WHERE run_id IN (SELECT unnest(?))", [ids]
    ).df()
    missing = [r for r in ids if r not in set(df["run_id"])]
    if missing:
        raise KeyError(f"runs not found in research.backtest_runs: {missing}")
    df = df.set_index("run_id").loc[ids]
    return df.T if side_by_side else df.reset_index()
