"""``primeflow model ...``: the model lab (fit, list), HMM regimes and the LiquidityPools event
study. Options are parsed here; the work is in ``primeflow_lib.research.models``."""

from __future__ import annotations

import json

import click

from primeflow_lib.research.models.estimators import MODELS
from primeflow_lib.research.models.labels import LABEL_KINDS
from primeflow_pipelines.commands.lab_options import data_options, load_bars, record, table


@click.group("model")
def model() -> None:
    """The model lab: learned models under purged walk-forward against three baselines."""


@model.command("fit")
@data_options
@click.option("--models", "model_names", default="lightgbm,logistic", show_default=True,
              help=f"Comma-separated models: {', '.join(MODELS)}.")
@click.option("--label", type=click.Choice(list(LABEL_KINDS)), default="direction", show_default=True)
@click.option("--horizon", type=int, default=1, show_default=True, help="Label horizon, bars.")
@click.option("--folds", "n_folds", type=int, default=5, show_default=True)
@click.option("--embargo", type=int, default=0, show_default=True, help="Extra bars in each purge gap.")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--threshold", type=float, default=0.0, show_default=True, help="Headline entry threshold on |signal|.")
@click.option("--long-only", is_flag=True, help="No short positions.")
@click.option("--slippage", type=float, default=0.0001, show_default=True, help="Slippage per fill, fraction of price.")
@click.option("--commission", type=float, default=0.0, show_default=True, help="Commission per fill, fraction of notional.")
@click.option("--no-gates", is_flag=True, help="Skip the leakage gates (they refit the best model 5 more times).")
@click.option("--no-record", is_flag=True, help="Do not store the fit (tables and var/models/).")
@click.option("--publish", is_flag=True, help="Republish the read copy after recording.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def fit(**o) -> None:
    """Fit models and compare them with the majority, persistence and logistic baselines.

    Example: primeflow model fit --symbol SPY --models lightgbm,logistic --label direction --horizon 1
    """
    from primeflow_lib.research.errors import ResearchError
    from primeflow_lib.research.models import ModelConfig, fit_models
    from primeflow_lib.research.models.store import write_model_study
    from primeflow_lib.research.runconfig import RunConfig
    from primeflow_lib.research.tuning.folds import FoldSpec

    try:
        bars, source, symbol = load_bars(o)
        base = RunConfig.from_dict({
            "dataset": {"symbol": symbol, "timeframe": o["timeframe"], "csv": o["csv_path"]},
            "entry": {"threshold": o["threshold"], "allow_short": not o["long_only"]},
            "execution": {"slippage_pct": o["slippage"], "commission_pct": o["commission"]},
        })  # fmt: skip
        cfg = ModelConfig(
            models=tuple(m.strip() for m in o["model_names"].split(",") if m.strip()),
            label=o["label"], horizon=o["horizon"], seed=o["seed"], gates=not o["no_gates"],
            folds=FoldSpec(n_folds=o["n_folds"], embargo=o["embargo"]), base=base,
        )  # fmt: skip
        study = fit_models(bars, cfg, source)
    except ResearchError as exc:
        raise click.ClickException(str(exc)) from None
    if not o["no_record"]:
        line = record(lambda con: write_model_study(con, study), "fit", o["publish"])
    else:
        line = "not recorded (--no-record)"
    if o["as_json"]:
        click.echo(json.dumps({**study.summary(), "table": study.table().to_dict("records")}, default=str, indent=2))
        return
    click.echo(f"fit {study.fit_id}  {symbol} {o['timeframe']}  {len(bars):,} bars  source: {source}")
    click.echo(f"label {cfg.label} (horizon {cfg.horizon} bars)  folds {len(study.folds)}  purge {study.purge}  "
               f"OOS bars {int(study.stats['oos_bars'])}  costs: slippage {o['slippage']:g}, commission {o['commission']:g}")
    click.echo(table(study.table()))
    st = study.stats
    click.echo(f"best model {study.best_model}: OOS Sharpe {st['oos_sharpe_ann']:.2f} (buy-and-hold "
               f"{st['buy_hold_sharpe_ann']:.2f}), PSR {st['psr']:.2f}, DSR {st['dsr']:.2f}, "
               f"PBO {st['pbo']:.2f}, N = {int(st['n_trials'])} trials")
    click.echo(f"verdict: {study.verdict}")
    for g in study.gates:
        click.echo(f"gate {g['gate']}: {'PASS' if g['passed'] else 'FAIL'}  {g['detail']}")
    click.echo(line)


@model.command("hmm")
@data_options
@click.option("--k-min", type=int, default=2, show_default=True)
@click.option("--k-max", type=int, default=5, show_default=True)
@click.option("--horizon", type=int, default=5, show_default=True, help="Forward bars of the comparison (and the purge).")
@click.option("--folds", "n_folds", type=int, default=4, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--no-record", is_flag=True)
@click.option("--publish", is_flag=True)
def hmm(**o) -> None:
    """Hidden-Markov regimes (filtered posteriors only) vs the MFT regimes.

    Example: primeflow model hmm --symbol SPY
    """
    from primeflow_lib.research.errors import ResearchError
    from primeflow_lib.research.models.hmm import HMMConfig, fit_hmm_regimes, write_hmm_study
    from primeflow_lib.research.tuning.folds import FoldSpec

    try:
        bars, source, symbol = load_bars(o)
        cfg = HMMConfig(k_range=(o["k_min"], o["k_max"]), horizon=o["horizon"], seed=o["seed"],
                        folds=FoldSpec(n_folds=o["n_folds"]))
        study = fit_hmm_regimes(bars, cfg, symbol, o["timeframe"])
    except ResearchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"hmm {study.hmm_id}  {symbol} {o['timeframe']}  {len(bars):,} bars  source: {source}")
    click.echo(f"k = {study.k} by BIC ({', '.join(f'k={k}: {v:.1f}' for k, v in study.bic.items())})")
    click.echo(f"smoothed (predict_proba) vs filtered state disagree on {study.smoothed_disagreement:.1%} "
               "of OOS bars: only the filtered posterior is used")
    click.echo(table(study.comparison()))
    if not o["no_record"]:
        click.echo(record(lambda con: write_hmm_study(con, study), "hmm fit", o["publish"]))


@model.command("sweeps")
@data_options
@click.option("--swing", type=int, default=3, show_default=True, help="Bars on each side of a swing.")
@click.option("--window", type=int, default=50, show_default=True, help="Bars a swing stays a level.")
@click.option("--horizons", default="1,5,10", show_default=True, help="Forward bars, comma-separated.")
@click.option("--seed", type=int, default=7, show_default=True)
def sweeps(**o) -> None:
    """LiquidityPools event study: forward returns after sweeps vs matched random times.

    Example: primeflow model sweeps --symbol SPY --horizons 1,5,10
    """
    from primeflow_lib.research.errors import ResearchError
    from primeflow_lib.research.liquidity import event_study

    try:
        bars, source, symbol = load_bars(o)
        horizons = tuple(int(h) for h in o["horizons"].split(",") if h.strip())
        result = event_study(bars, o["swing"], o["window"], horizons, seed=o["seed"])
    except ValueError as exc:  # ResearchError is a ValueError; so is a bad --horizons number
        raise click.ClickException(f"--horizons {o['horizons']!r}: {exc}" if not isinstance(exc, ResearchError) else str(exc)) from None
    click.echo(f"{symbol} {o['timeframe']}  {len(bars):,} bars  source: {source}  ({result.attrs['note']})")
    click.echo("forward log returns, sign-adjusted by the sweep's direction; 95 % bootstrap intervals")
    click.echo(table(result.astype({"horizon": str, "events": str}), ".5f"))


def _preset_choice():
    from primeflow_lib.research.presets import preset_names

    return click.Choice(preset_names())


@model.command("review")
@data_options
@click.option("--preset", "preset_name", type=_preset_choice(), default="phibot", show_default=True,
              help="The RunConfig preset to review.")
@click.option("--config", "config_path", default=None, type=click.Path(dir_okay=False),
              help="A RunConfig file (YAML/JSON) instead of a preset.")
@click.option("--folds", "n_folds", type=int, default=4, show_default=True)
@click.option("--no-record", is_flag=True)
@click.option("--publish", is_flag=True)
def review_cmd(**o) -> None:
    """Phi-Bot reviewer: propose changes, run each out of sample, keep only what DSR/PBO allow.

    Example: primeflow model review --symbol SPY --preset phibot
    """
    from primeflow_lib.research.errors import ResearchError
    from primeflow_lib.research.models.reviewer import review, write_review
    from primeflow_lib.research.presets import preset
    from primeflow_lib.research.runconfig import RunConfig
    from primeflow_lib.research.tuning.folds import FoldSpec

    try:
        bars, source, symbol = load_bars(o)
        cfg = RunConfig.load(o["config_path"]) if o["config_path"] else preset(o["preset_name"], symbol)
        cfg = cfg.replace(dataset={"symbol": symbol, "timeframe": o["timeframe"]})
        rev = review(cfg, bars, FoldSpec(n_folds=o["n_folds"]))
    except ResearchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"review {rev.review_id}  {symbol} {o['timeframe']}  {len(bars):,} bars  source: {source}  "
               f"(diagnostics on the first {rev.diagnostics['bars']} bars, evaluation on {rev.eval_bars} OOS bars)")
    click.echo(table(rev.table.drop(columns=["run_config"]), ".3f"))
    if not o["no_record"]:
        click.echo(record(lambda con: write_review(con, rev), "review", o["publish"]))




@model.command("plutus")
@data_options
@click.option("--cutoff", required=True, help="The LLM's training cut-off date: only later bars are evaluated.")
@click.option("--llm-url", default="http://127.0.0.1:11434", show_default=True, help="Ollama-compatible server.")
@click.option("--llm-model", default="llama3.1", show_default=True)
@click.option("--min-confidence", type=float, default=0.6, show_default=True)
@click.option("--max-bars", type=int, default=250, show_default=True, help="Bars evaluated (the last after the cut-off).")
@click.option("--no-record", is_flag=True)
@click.option("--publish", is_flag=True)
def plutus_cmd(**o) -> None:
    """Plutus: an LLM strategy bar by bar after its cut-off date, vs the rule blend.

    Example: primeflow model plutus --symbol SPY --cutoff 2026-11-01 --llm-model llama3.1
    """
    from primeflow_lib.research.errors import ResearchError
    from primeflow_lib.research.models.plutus import PlutusConfig, run_plutus, write_plutus

    try:
        bars, source, symbol = load_bars(o)
        cfg = PlutusConfig(cutoff=o["cutoff"], url=o["llm_url"], model=o["llm_model"],
                           min_confidence=o["min_confidence"], max_bars=o["max_bars"])
        run = run_plutus(bars, cfg, symbol)
    except ResearchError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"plutus {run.llm_run_id}  {symbol}  model {cfg.model} at {cfg.url}  {len(run.decisions)} bars "
               f"after {cfg.cutoff}  source: {source}")
    click.echo(table(run.comparison, ".3f"))
    if not o["no_record"]:
        click.echo(record(lambda con: write_plutus(con, run), "plutus run", o["publish"]))


