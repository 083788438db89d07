"""Model-lab assets.

* ``research/model_fits``: one model-lab fit per materialization (a launchpad preset: models,
  label, horizon, timeframe; symbol, dates and seed as fields). Fits each model and the three
  baselines under purged walk-forward, runs the leakage gates, persists the models under
  ``var/models/`` and stores ``research.model_studies`` / ``model_fits`` / ``model_gates`` /
  ``model_signals`` in one transaction.
* ``research/model_signals``: the out-of-sample signals of the fit of the same launchpad config
  (same config + data = same fit id); run alone it computes the fit first.
"""

import enum

import dagster as dg
import pandas as pd

from primeflow_lib.research.data import bars_from_connection
from primeflow_lib.research.models import ModelConfig, fit_models
from primeflow_lib.research.models.data import regular_session
from primeflow_lib.research.models.store import write_model_study
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.tuning.folds import FoldSpec
from primeflow_pipelines.defs.market.assets import DAILY_KEY, INTRADAY_KEY
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, WarehouseResource

#: launchpad presets: models, label, horizon, timeframe, folds
MODEL_PRESETS: dict[str, dict] = {
    "direction_daily": {"models": ["lightgbm", "logistic"], "label": "direction", "horizon": 1,
                        "timeframe": "1d", "n_folds": 5},
    "direction_5m": {"models": ["lightgbm", "logistic"], "label": "direction", "horizon": 1,
                     "timeframe": "5m", "n_folds": 5},
    "vol_bucket_daily": {"models": ["lightgbm", "random_forest"], "label": "vol_bucket", "horizon": 5,
                         "timeframe": "1d", "n_folds": 4},
    "regime_daily": {"models": ["lightgbm"], "label": "regime", "horizon": 5, "timeframe": "1d", "n_folds": 4},
}
ModelPreset = enum.Enum("ModelPreset", {name: name for name in MODEL_PRESETS})
ModelPreset.__doc__ = "Model-lab presets (models, label, horizon, timeframe): a dropdown in the launchpad."


class ModelLaunchConfig(dg.Config):
    """What to fit: a preset by name, the symbol, dates and seed (see docs/models.md)."""

    preset: ModelPreset = ModelPreset.direction_daily
    """direction_daily (lightgbm + logistic, next-bar direction), direction_5m, vol_bucket_daily, regime_daily"""
    symbol: str = "SPY"
    start: str = ""
    """first session (YYYY-MM-DD); empty = the first stored bar"""
    end: str = ""
    """last session; empty = the last stored bar"""
    seed: int = 7
    models: str = ""
    """override the preset's models (comma-separated: lightgbm, random_forest, logistic)"""
    gates: bool = True
    """run the leakage gates (they refit the best model five more times)"""


def build_config(c: ModelLaunchConfig) -> ModelConfig:
    name = c.preset.value if isinstance(c.preset, enum.Enum) else str(c.preset)
    p = MODEL_PRESETS[name]
    models = tuple(m.strip() for m in c.models.split(",") if m.strip()) or tuple(p["models"])
    base = RunConfig.from_dict({"dataset": {"symbol": c.symbol.upper(), "timeframe": p["timeframe"],
                                            "start": c.start or None, "end": c.end or None},
                                "entry": {"allow_short": True}, "execution": {"slippage_pct": 0.0001}})
    return ModelConfig(models=models, label=p["label"], horizon=p["horizon"], seed=c.seed, gates=c.gates,
                       folds=FoldSpec(n_folds=p["n_folds"]), base=base)


def _bars(warehouse: WarehouseResource, cfg: ModelConfig) -> tuple[pd.DataFrame, str]:
    ds = cfg.base.dataset
    with warehouse.connect() as con:
        bars = bars_from_connection(con, ds.symbol, ds.start, ds.end, ds.timeframe, where="the warehouse")
        table = "ohlcv_daily" if ds.timeframe == "1d" else "ohlcv_intraday"
        vendors = [r[0] for r in con.execute(f"SELECT DISTINCT vendor FROM market.{table} WHERE ticker = ?",
                                             [ds.symbol]).fetchall()]
    if ds.timeframe != "1d":
        bars = regular_session(bars)
    return bars, f"warehouse market.{table} {ds.symbol} (vendor {','.join(sorted(map(str, vendors)))})"


def _fit(context, config: ModelLaunchConfig, warehouse: WarehouseResource):
    cfg = build_config(config)
    bars, source = _bars(warehouse, cfg)
    context.log.info(f"fitting {', '.join(cfg.models)} on {len(bars):,} {cfg.base.dataset.timeframe} bars of "
                     f"{cfg.base.dataset.symbol}: label {cfg.label}, horizon {cfg.horizon}")
    study = fit_models(bars, cfg, source)
    with warehouse.connect() as con:
        write_model_study(con, study)
    return study


@dg.asset(
    key=["research", "model_fits"],
    deps=[DAILY_KEY, INTRADAY_KEY],
    pool=DUCKDB_WRITE_POOL,
    group_name="research",
    kinds={"duckdb", "python", "lightgbm"},
)
def model_fits(context: dg.AssetExecutionContext, config: ModelLaunchConfig,
               warehouse: WarehouseResource) -> dg.MaterializeResult:
    """A model-lab fit: every model and the majority, persistence and logistic baselines under
    purged walk-forward (research.model_fits), the verdict (research.model_studies), the
    leakage gates (research.model_gates) and the models under var/models/."""
    study = _fit(context, config, warehouse)
    st = study.stats
    gates = pd.DataFrame([{k: g[k] for k in ("gate", "passed", "value", "detail")} for g in study.gates])
    return dg.MaterializeResult(metadata={
        "fit_id": dg.MetadataValue.text(study.fit_id),
        "verdict": dg.MetadataValue.text(study.verdict),
        "edge": dg.MetadataValue.bool(bool(study.edge)),
        "model_vs_baselines": dg.MetadataValue.md(study.table().to_markdown(index=False, floatfmt=".4f")),
        "gates": dg.MetadataValue.md(gates.to_markdown(index=False, floatfmt=".4f") if len(gates) else "not run"),
        "source": dg.MetadataValue.text(study.source),
        "bars": dg.MetadataValue.int(len(study.index)),
        "oos_sharpe": dg.MetadataValue.float(float(st["oos_sharpe_ann"])),
        "dsr": dg.MetadataValue.float(float(st["dsr"])),
        "pbo": dg.MetadataValue.float(float(st["pbo"])) if pd.notna(st["pbo"]) else dg.MetadataValue.text("n/a"),
        "models_saved": dg.MetadataValue.json({m: {"hash": h, "path": p} for m, (h, p) in study.models_saved.items()}),
        "wall_s": dg.MetadataValue.float(round(study.wall_s, 2)),
    })


@dg.asset(
    key=["research", "model_signals"],
    deps=[["research", "model_fits"]],
    pool=DUCKDB_WRITE_POOL,
    group_name="research",
    kinds={"duckdb", "python"},
)
def model_signals(context: dg.AssetExecutionContext, config: ModelLaunchConfig,
                  warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The out-of-sample signals in [-1, +1] of the fit of this launchpad config
    (research.model_signals), one row per model, baseline and OOS bar."""
    from primeflow_lib.research.data import data_hash, validate_bars
    from primeflow_lib.research.models.lab import fit_id

    cfg = build_config(config)
    bars, _ = _bars(warehouse, cfg)
    fid = fit_id(cfg, data_hash(validate_bars(bars, cfg.base.dataset.symbol)))
    sql = ("SELECT s.model, count(*) AS bars, avg(s.signal) AS mean_signal, avg(abs(s.signal)) AS mean_abs_signal, "
           "max(s.ts) AS last_bar FROM research.model_signals s WHERE s.fit_id = ? GROUP BY 1 ORDER BY 1")
    with warehouse.connect() as con:
        have = con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'research' "
                           "AND table_name = 'model_signals'").fetchone()[0]
        rows = con.execute(sql, [fid]).df() if have else pd.DataFrame()
    if rows.empty:
        context.log.info(f"fit {fid} not stored yet: running it")
        _fit(context, config, warehouse)
        with warehouse.connect() as con:
            rows = con.execute(sql, [fid]).df()
    with warehouse.connect() as con:
        verdict = con.execute("SELECT best_model, verdict FROM research.model_studies WHERE fit_id = ?", [fid]).fetchone()
        last = con.execute("SELECT ts, signal, probs FROM research.model_signals WHERE fit_id = ? AND model = ? "
                           "ORDER BY ts DESC LIMIT 10", [fid, verdict[0]]).df()
    return dg.MaterializeResult(metadata={
        "fit_id": dg.MetadataValue.text(fid),
        "best_model": dg.MetadataValue.text(verdict[0]),
        "verdict": dg.MetadataValue.text(verdict[1]),
        "rows": dg.MetadataValue.int(int(rows["bars"].sum())),
        "per_model": dg.MetadataValue.md(rows.to_markdown(index=False, floatfmt=".4f")),
        "latest_signals": dg.MetadataValue.md(last.to_markdown(index=False, floatfmt=".4f")),
    })


models_job = dg.define_asset_job(
    "models_job",
    selection=dg.AssetSelection.keys(["research", "model_fits"], ["research", "model_signals"]),
    description="One model-lab fit and its signals: pick a preset in the launchpad.",
)


@dg.definitions
def models_defs() -> dg.Definitions:
    return dg.Definitions(assets=[model_fits, model_signals], jobs=[models_job])
