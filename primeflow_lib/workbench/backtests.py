"""Backtests from the workbench: the form's RunConfig, uploaded CSVs, running and recording a
run, stored runs, comparison, export and reproduction.

A run goes through the same library calls as ``primeflow backtest``: ``RunConfig.from_dict``
(+ ``check_runnable``), :func:`primeflow_lib.research.dataset.load_bars` (the CSV, or the read copy
via ``load_warehouse_bars``), :func:`~primeflow_lib.research.runner.run_backtest`. Recording
uses a short write connection to the live warehouse (:func:`primeflow_lib.warehouse.connect`,
which waits for the pipeline's writer instead of failing), stores the run with
:func:`~primeflow_lib.research.record.record_run` and republishes the read copy on the same
connection, as ``primeflow cache clear`` does, so History shows the run at once. Nothing is
written when validation, loading or the run fails.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from primeflow_lib.research import record as run_record
from primeflow_lib.research.dataset import load_bars
from primeflow_lib.research.errors import RunConfigError
from primeflow_lib.research.export import export_run
from primeflow_lib.research.history import compare_runs, list_runs, read_run
from primeflow_lib.research.indicators import REGISTRY
from primeflow_lib.research.options.chain import load_chain
from primeflow_lib.research.options.spec import OptionsSpec
from primeflow_lib.research.options.structures import STRUCTURES
from primeflow_lib.research.presets import PRESETS, preset
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.runner import BacktestResult, run_backtest
from primeflow_lib.warehouse import connect, publish_read_copy, warehouse_path
from primeflow_lib.workbench.readcopy import existing_tables, read_frame, require

PathLike = str | os.PathLike | None


def indicator_catalog() -> dict[str, dict[str, Any]]:
    """Every registered indicator: ``{name: {"summary", "mapping", "params": {param: {"default",
    "tune": (low, high, step), "doc", "integer", "minimum"}}}}`` (the form's choices)."""
    return {
        name: {
            "summary": ind.summary,
            "mapping": ind.mapping,
            "params": {p: dataclasses.asdict(spec) for p, spec in ind.params.items()},
        }
        for name, ind in REGISTRY.items()
    }


def preset_config(name: str) -> dict[str, Any]:
    """The plain-data RunConfig of preset ``name`` (the form's starting point)."""
    return preset(name).to_dict()


def preset_names() -> list[str]:
    """Presets the form offers."""
    return list(PRESETS)


def options_defaults(base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``options:`` section the form starts from: the defaults of
    :class:`~primeflow_lib.research.options.spec.OptionsSpec`, overlaid with the ``options``
    of ``base`` (a preset's :func:`preset_config`, e.g. ``options_bull_put``)."""
    return {**OptionsSpec().to_dict(), **dict((base or {}).get("options") or {})}


def structure_names() -> list[str]:
    """Every option structure a signal class can open (``options.bullish`` / ``bearish`` /
    ``neutral``), registry order."""
    return list(STRUCTURES)


def build_config(data: Mapping[str, Any]) -> RunConfig:
    """A runnable RunConfig from the form's plain data.

    Raises:
        RunConfigError: the same message the CLI gives (field path, value, why).
    """
    cfg = RunConfig.from_dict(data)
    cfg.check_runnable()
    return cfg


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def uploads_dir() -> Path:
    """Where uploaded CSVs are kept (``uploads/`` next to the live warehouse), so a run made on
    an upload can be reproduced from its stored config."""
    return warehouse_path().parent / "uploads"


def save_upload(name: str, content: bytes, folder: PathLike = None) -> Path:
    """Store an uploaded file as ``<folder>/<sha256 prefix>/<name>`` and return its path (the
    same bytes land in the same place)."""
    digest = hashlib.sha256(content).hexdigest()[:12]
    safe = _SAFE_NAME.sub("_", Path(name).name) or "upload.csv"
    out = Path(folder) if folder is not None else uploads_dir()
    target = out / digest / safe
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.write_bytes(content)
    return target


def load_dataset(cfg: RunConfig, read_path: PathLike = None) -> pd.DataFrame:
    """The bars of ``cfg.dataset`` exactly as the CLI loads them (CSV, else the read copy).

    Raises:
        BarsError / DataSourceError / RunConfigError: the CLI's messages.
    """
    if not cfg.dataset.csv:
        require(read_path)
    return load_bars(cfg, str(read_path) if read_path is not None else None)


def run(cfg: RunConfig, read_path: PathLike = None) -> BacktestResult:
    """Load the dataset and run ``cfg`` (nothing is written), as ``primeflow backtest`` does:
    an options run with ``options.iv_source: chain`` also loads the underlying's
    ``market.option_chain`` rows from the read copy (:func:`load_chain`); with ``realized`` no
    chain is read and ``result.iv_note`` says the realised-vol proxy was used."""
    bars = load_dataset(cfg, read_path)
    chain = None
    if cfg.mode == "options" and cfg.options.iv_source == "chain":
        chain = load_chain(cfg.dataset.symbol, cfg.dataset.end,
                           str(read_path) if read_path is not None else None)
    return run_backtest(cfg, bars, chain)


def record_run(result: BacktestResult, *, warehouse: PathLike = None,
               read_copy: PathLike = None, publish: bool = True) -> str:
    """Store ``result`` in the run history of the live warehouse (one short write connection:
    the run in one transaction, then an auto_tune run's study), then republish the read copy on
    that connection. A run already stored (same config, same bars) keeps its rows.
    Returns the run_id."""
    with connect(warehouse) as con:
        rid = run_record.record_run(con, result)
        if publish:
            publish_read_copy(con=con, dst=read_copy)
    return rid


def runs(path: PathLike = None) -> pd.DataFrame:
    """Every stored run (``research.run_comparison``), newest first; empty before any run."""
    p = require(path)
    if "research.run_comparison" not in existing_tables(p):
        return pd.DataFrame()
    with connect(p, read_only=True) as con:
        return list_runs(con)


def compare(run_ids: list[str], path: PathLike = None) -> pd.DataFrame:
    """Runs side by side: one column per run, one row per field (KeyError for unknown ids)."""
    with connect(require(path), read_only=True) as con:
        return compare_runs(con, run_ids)


def equity_curves(run_ids: list[str], path: PathLike = None) -> pd.DataFrame:
    """``run_id, ts, equity, drawdown`` of the given runs, long form, in time order."""
    return read_frame(
        "SELECT run_id, ts, equity, drawdown FROM research.backtest_equity "
        "WHERE run_id IN (SELECT unnest(?)) ORDER BY run_id, ts", [list(run_ids)], path)


def stored_run(run_id: str, path: PathLike = None) -> dict[str, Any]:
    """``research.history.read_run`` on the read copy (KeyError for an unknown run)."""
    with connect(require(path), read_only=True) as con:
        return read_run(con, run_id)


def legs(run_id: str, path: PathLike = None) -> pd.DataFrame | None:
    """``research.backtest_legs`` rows of an options run; None when that table does not exist."""
    if "research.backtest_legs" not in existing_tables(path):
        return None
    return read_frame("SELECT * FROM research.backtest_legs WHERE run_id = ?", [run_id], path)


def result_from_stored(stored: Mapping[str, Any]) -> BacktestResult:
    """A :class:`BacktestResult` rebuilt from a stored run (config, equity, trades, metrics), so
    the existing :func:`~primeflow_lib.research.export.export_run` can write it."""
    run_row = stored["run"]
    cfg = RunConfig.from_dict(run_row["config"])
    eq = stored["equity"].set_index(pd.DatetimeIndex(stored["equity"]["ts"], name="ts"))
    metrics = {k: (float("nan") if v is None else v) for k, v in run_row["metrics"].items()}
    trades = stored["trades"].drop(columns=["run_id"], errors="ignore")
    return BacktestResult(
        config=cfg, equity=eq["equity"].rename("equity"), position=eq["position"],
        exposure=eq["exposure"].astype(float), trades=trades, metrics=metrics,
        signal=eq["signal"].astype(float), data_hash=run_row["data_hash"],
        created_at=pd.Timestamp(run_row["created_at"]).to_pydatetime(),
        elapsed_s=float(run_row.get("elapsed_s") or 0.0),
    )  # fmt: skip


def export_stored(run_id: str, folder: str | os.PathLike, path: PathLike = None) -> dict[str, Path]:
    """Export a stored run with the existing ``export_run`` (config.json, results.json,
    trades.csv, equity.png) into ``folder``."""
    return export_run(result_from_stored(stored_run(run_id, path)), folder)


def zip_folder(files: Mapping[str, Path]) -> bytes:
    """The exported files as one zip archive (for a download button)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, p in files.items():
            zf.write(p, arcname=name)
    return buf.getvalue()


def reproduce(run_id: str, path: PathLike = None) -> tuple[BacktestResult, bool]:
    """Run a stored run again from its stored config on the data available now.

    Returns ``(result, same_data)``: ``same_data`` is True when the bars hash like the stored
    run's; then the result has the same run_id and the same numbers. On changed bars the result
    is another run (another run_id: a run id includes the data hash). Nothing is written.
    """
    stored = stored_run(run_id, path)
    cfg = RunConfig.from_dict(stored["run"]["config"])
    result = run(cfg, path)
    same_data = result.data_hash == stored["run"]["data_hash"]
    if same_data and result.run_id != run_id:  # a config stored by another engine version
        raise RunConfigError(
            f"run {run_id}: its stored config on the same bars now has run_id {result.run_id} "
            f"(engine version {stored['run']['engine_version']} vs the current one)")
    return result, same_data


def config_json(cfg: RunConfig) -> str:
    """The config as the JSON a user can save and pass to ``primeflow backtest --config``."""
    return json.dumps(cfg.to_dict(), indent=2, sort_keys=True)


def warehouse_symbols(path: PathLike = None) -> pd.DataFrame:
    """Tickers with daily bars in the read copy: ``ticker, vendor, first, last, sessions``
    (empty before market.ohlcv_daily exists)."""
    if "market.ohlcv_daily" not in existing_tables(path):
        return pd.DataFrame(columns=["ticker", "vendor", "first", "last", "sessions"])
    return read_frame(
        "SELECT ticker, string_agg(DISTINCT vendor, ',') AS vendor, min(trade_date) AS first, "
        "max(trade_date) AS last, count(*) AS sessions FROM market.ohlcv_daily "
        "GROUP BY ticker ORDER BY sessions DESC, ticker", path=path)


def form_config(base: Mapping[str, Any], *, dataset: Mapping[str, Any], mode: str,
                strategy: str, indicators: Mapping[str, Mapping[str, Any]],
                blend: Mapping[str, Any], entry: Mapping[str, Any], exits: Mapping[str, Any],
                execution: Mapping[str, Any], sizing: Mapping[str, Any], capital: float,
                options: Mapping[str, Any] | None = None, description: str = "",
                tags: tuple[str, ...] = ()) -> dict[str, Any]:
    """The RunConfig plain data of the workbench's five steps, starting from ``base`` (a
    preset's :func:`preset_config`). Regime weights are kept only for the chosen indicators
    (a preset's matrix stays valid when indicators are removed); weights all equal to 1 are
    left unset like the preset's, so an unchanged preset keeps the CLI's run_id. Validate with
    :func:`build_config`."""
    data = {k: v for k, v in base.items()}
    data["dataset"] = {**base.get("dataset", {}), **dataset}
    data["mode"] = mode
    data["strategy"] = strategy
    data["indicators"] = {k: dict(v) for k, v in indicators.items()}
    b = {**base.get("blend", {}), **blend}
    if b.get("weights") and not base.get("blend", {}).get("weights") and all(
            float(w) == 1.0 for w in b["weights"].values()):
        b["weights"] = None  # equal weights are the default: keep the preset's run_id
    if b.get("regime_weights"):
        b["regime_weights"] = {r: {k: w for k, w in row.items() if k in indicators}
                               for r, row in b["regime_weights"].items()}
    data["blend"] = b
    data["entry"] = {**base.get("entry", {}), **entry}
    data["exits"] = {**base.get("exits", {}), **exits}
    data["execution"] = {**base.get("execution", {}), **execution}
    data["sizing"] = {**base.get("sizing", {}), **sizing}
    data["capital"] = capital
    if options is not None:
        data["options"] = dict(options)
    data["description"] = description
    data["tags"] = list(tags)
    return data


def discard_upload(path: str | os.PathLike) -> None:
    """Remove an upload saved by :func:`save_upload` whose run failed (bad CSV, bad config), so
    a rejected file leaves nothing behind."""
    p = Path(path)
    p.unlink(missing_ok=True)
    if p.parent.is_dir() and not any(p.parent.iterdir()):
        p.parent.rmdir()


def run_vendors(run_ids: list[str], path: PathLike = None) -> list[str]:
    """Vendors of the bars behind the given runs: the run's stored ``vendor``, else (runs made
    without a vendor filter) the vendors of that symbol's daily bars in the read copy."""
    have = existing_tables(path)
    if "research.backtest_runs" not in have:
        return []
    sql = "SELECT DISTINCT vendor FROM research.backtest_runs WHERE run_id IN (SELECT unnest(?)) AND vendor IS NOT NULL"
    params: list[Any] = [list(run_ids)]
    if "market.ohlcv_daily" in have:
        sql += (" UNION SELECT DISTINCT d.vendor FROM research.backtest_runs r JOIN "
                "market.ohlcv_daily d ON d.ticker = r.symbol WHERE r.run_id IN (SELECT unnest(?)) "
                "AND r.vendor IS NULL")
        params.append(list(run_ids))
    return sorted(read_frame(sql, params, path)["vendor"].astype(str))
