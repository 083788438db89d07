"""PhiAI tuning assets.

* ``research/tuning_trials``: one study per materialization, described in the launchpad (a
  preset by name, or the whole tune config in YAML). It stores the study in one transaction:
  ``research.tuning_studies``, every trial in ``research.tuning_trials`` and the outcome in
  ``research.tuned_parameters``, after the chosen configuration's OOS backtest in the run history.
* ``research/tuned_parameters``: reports the outcome of the study of the same launchpad config
  (found by its study id: same config + data = same id); run alone it computes the study first.
"""

import enum
import json

import dagster as dg
import pandas as pd
import yaml

from primeflow_lib.research import RunConfig
from primeflow_lib.research.data import bars_from_connection, data_hash, validate_bars
from primeflow_lib.research.tuning import TuneConfig, phiai_full_auto, write_study
from primeflow_lib.research.tuning.plots import is_oos_figure, logit_figure, png_markdown
from primeflow_lib.research.tuning.study import study_id
from primeflow_pipelines.defs.market.assets import DAILY_KEY
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, WarehouseResource

#: launchpad presets: candidate indicators, budget and folds
TUNE_PRESETS: dict[str, dict] = {
    "trend_mean_reversion": {"indicators": ["rsi", "macd", "dual_sma"], "trials": 2000,
                             "folds": {"n_folds": 5}},
    "oscillators": {"indicators": ["rsi", "stochastic", "bollinger"], "trials": 1500,
                    "folds": {"n_folds": 4}},
    "quick": {"indicators": ["rsi", "macd"], "trials": 300, "folds": {"n_folds": 3}},
}

TunePreset = enum.Enum("TunePreset", {name: name for name in TUNE_PRESETS})
TunePreset.__doc__ = "Tuning presets (candidates, budget, folds): a dropdown in the launchpad."


class TuneLaunchConfig(dg.Config):
    """What to tune. A preset by name with symbol, dates, seed and sampler; or a whole tune
    config in YAML/JSON in ``tune_config`` (keys of primeflow_lib.research.tuning.TuneConfig,
    which then wins). See docs/tuning.md."""

    preset: TunePreset = TunePreset.trend_mean_reversion
    """trend_mean_reversion (rsi, macd, dual_sma; 2000 trials; 5 folds), oscillators, quick"""
    symbol: str = "SPY"
    start: str = ""
    """first session (YYYY-MM-DD); empty = the first stored bar"""
    end: str = ""
    """last session; empty = the last stored bar"""
    seed: int = 7
    sampler: str = "sobol"
    """sobol | random | grid"""
    trials: int = 0
    """override the preset's budget (0 = the preset's)"""
    tune_config: str = ""
    """a full tune config as YAML/JSON (indicators, trials, sampler, seed, folds, top_n, ...)"""


def build_tune(c: TuneLaunchConfig) -> tuple[TuneConfig, RunConfig]:
    """The tune config and base RunConfig a launchpad config describes."""
    if c.tune_config.strip():
        try:
            data = yaml.safe_load(c.tune_config) or {}
        except yaml.YAMLError as exc:
            raise dg.Failure(description=f"tune_config is not valid YAML/JSON: {exc}") from None
    else:
        name = c.preset.value if isinstance(c.preset, enum.Enum) else str(c.preset)
        data = {**TUNE_PRESETS[name], "seed": c.seed, "sampler": c.sampler}
        if c.trials:
            data["trials"] = c.trials
    tc = TuneConfig.from_dict(data)
    base = RunConfig.from_dict({"dataset": {"symbol": c.symbol.upper(), "start": c.start or None,
                                            "end": c.end or None}})
    return tc, base


def _study(context, config: TuneLaunchConfig, warehouse: WarehouseResource):
    tc, base = build_tune(config)
    ds = base.dataset
    with warehouse.connect() as con:
        bars = bars_from_connection(con, ds.symbol, ds.start, ds.end, ds.timeframe, where="the warehouse")
    context.log.info(f"tuning {ds.symbol}: {len(bars):,} bars, {tc.trials} trials of {', '.join(tc.indicators)}")
    return phiai_full_auto(bars, tc, base), bars


def _stats_md(study) -> dg.MetadataValue:
    rows = [(k, v) for k, v in study.stats.items()]
    return dg.MetadataValue.md(pd.DataFrame(rows, columns=["statistic", "value"]).to_markdown(index=False, floatfmt=".4g"))


@dg.asset(
    key=["research", "tuning_trials"],
    deps=[DAILY_KEY],
    pool=DUCKDB_WRITE_POOL,
    group_name="research",
    kinds={"duckdb", "python", "numba"},
)
def tuning_trials(
    context: dg.AssetExecutionContext, config: TuneLaunchConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """A PhiAI study on stored daily bars: every trial (parameters, per-fold IS and OOS Sharpe,
    trades) in research.tuning_trials, the study in research.tuning_studies."""
    study, bars = _study(context, config, warehouse)
    with warehouse.connect() as con:
        write_study(con, study, bars)
    top = study.trials.sort_values("is_sharpe_mean_ann", ascending=False).head(10)
    top = top.assign(params=[json.dumps(p, sort_keys=True) for p in top["params"]])[
        ["trial_no", "indicator", "params", "is_sharpe_mean_ann", "wf_oos_sharpe_ann", "n_trades"]]
    return dg.MaterializeResult(metadata={
        "study_id": dg.MetadataValue.text(study.study_id),
        "verdict": dg.MetadataValue.text(study.verdict),
        "trials": dg.MetadataValue.int(len(study.trials)),
        "top_trials": dg.MetadataValue.md(top.to_markdown(index=False, floatfmt=".3f")),
        "statistics": _stats_md(study),
        "is_vs_oos": dg.MetadataValue.md(png_markdown(is_oos_figure(study), "IS vs OOS Sharpe")),
        "pbo_logits": dg.MetadataValue.md(png_markdown(logit_figure(study), "CSCV logits")),
        "pbo": dg.MetadataValue.float(float(study.stats["pbo"])),
        "dsr": dg.MetadataValue.float(float(study.stats["dsr"])),
        "wall_s": dg.MetadataValue.float(round(study.wall_s, 3)),
    })


@dg.asset(
    key=["research", "tuned_parameters"],
    deps=[["research", "tuning_trials"]],
    pool=DUCKDB_WRITE_POOL,
    group_name="research",
    kinds={"duckdb", "python"},
)
def tuned_parameters(
    context: dg.AssetExecutionContext, config: TuneLaunchConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """The chosen configuration of the study of this launchpad config: its parameters, blend,
    PSR/DSR/PBO/MinTRL and verdict (research.tuned_parameters) and its out-of-sample backtest
    (research.backtest_runs, run_id linked)."""
    tc, base = build_tune(config)
    ds = base.dataset
    with warehouse.connect() as con:
        bars = bars_from_connection(con, ds.symbol, ds.start, ds.end, ds.timeframe, where="the warehouse")
        sid = study_id(tc, base, data_hash(validate_bars(bars, ds.symbol)))
        rows = con.execute("SELECT * FROM research.tuned_parameters WHERE study_id = ? ORDER BY indicator",
                           [sid]).df() if _has_table(con) else pd.DataFrame()
    if rows.empty:  # run alone: compute the study (the same config + data give the same study id)
        context.log.info(f"study {sid} not stored yet: running it")
        study, bars = _study(context, config, warehouse)
        with warehouse.connect() as con:
            write_study(con, study, bars)
            rows = con.execute("SELECT * FROM research.tuned_parameters WHERE study_id = ? ORDER BY indicator",
                               [sid]).df()
    first = rows.iloc[0]
    stats = {k: first[k] for k in ("is_sharpe", "oos_sharpe", "psr", "dsr", "pbo", "min_trl", "prob_oos_loss",
                                   "degradation_slope", "n_trials")}
    return dg.MaterializeResult(metadata={
        "study_id": dg.MetadataValue.text(sid),
        "verdict": dg.MetadataValue.text(str(first["verdict"])),
        "run_id": dg.MetadataValue.text(str(first["run_id"] or "")),
        "chosen": dg.MetadataValue.md(rows[["indicator", "params", "blend_mode", "weight"]].to_markdown(index=False)),
        "statistics": dg.MetadataValue.md(pd.DataFrame(list(stats.items()), columns=["statistic", "value"])
                                          .to_markdown(index=False, floatfmt=".4g")),
        "run_config": dg.MetadataValue.json(json.loads(first["run_config"])),
        **{k: dg.MetadataValue.float(float(stats[k])) for k in ("psr", "dsr", "pbo", "oos_sharpe")
           if pd.notna(stats[k])},
    })


def _has_table(con) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'research' "
                            "AND table_name = 'tuned_parameters'").fetchone()[0])


tuning_job = dg.define_asset_job(
    "tuning_job",
    selection=dg.AssetSelection.keys(["research", "tuning_trials"], ["research", "tuned_parameters"]),
    description="One PhiAI tuning study: pick a preset (or paste a tune config) in the launchpad.",
)


@dg.definitions
def tuning_defs() -> dg.Definitions:
    # a module with @dg.definitions contributes only what it returns: the assets too
    return dg.Definitions(assets=[tuning_trials, tuned_parameters], jobs=[tuning_job])
