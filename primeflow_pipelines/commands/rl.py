"""``primeflow rl ...``: the PPO agent's walk-forward report (needs the optional extra:
``make rl``). Options are parsed here; the work is in ``primeflow_lib.research.models.rl``."""

from __future__ import annotations

import json

import click

from primeflow_pipelines.commands.lab_options import data_options, load_bars, record, table


@click.group("rl")
def rl() -> None:
    """The reinforcement-learning agent (PPO, stable-baselines3; install with `make rl`)."""


@rl.command("train")
@data_options
@click.option("--seeds", type=int, default=10, show_default=True, help="Seeds 0..N-1 (the report needs >= 10).")
@click.option("--timesteps", default="20000", show_default=True,
              help="PPO timesteps per training; comma-separated values are settings (each a trial).")
@click.option("--folds", "n_folds", type=int, default=3, show_default=True)
@click.option("--long-only", is_flag=True, help="Actions flat/long only.")
@click.option("--slippage", type=float, default=0.0001, show_default=True)
@click.option("--commission", type=float, default=0.0, show_default=True)
@click.option("--oracle", is_flag=True, help="Give the agent the next bar's return (a plumbing check, not a strategy).")
@click.option("--no-record", is_flag=True)
@click.option("--publish", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def train(**o) -> None:
    """Train PPO per seed x walk-forward window and report the distribution against
    buy-and-hold, random and the phibot blend under the same costs.

    Example: primeflow rl train --symbol SPY --seeds 10 --timesteps 20000
    """
    from primeflow_lib.research.errors import ResearchError
    from primeflow_lib.research.models.rl import RLConfig, require_sb3, rl_report, write_rl_report
    from primeflow_lib.research.runconfig import RunConfig
    from primeflow_lib.research.tuning.folds import FoldSpec

    try:
        require_sb3()
        bars, source, symbol = load_bars(o)
        try:
            steps = [int(s) for s in o["timesteps"].split(",") if s.strip()]
        except ValueError:
            raise ResearchError(f"--timesteps: {o['timesteps']!r} must be whole numbers, comma-separated") from None
        base = RunConfig.from_dict({"entry": {"allow_short": not o["long_only"]},
                                    "execution": {"slippage_pct": o["slippage"], "commission_pct": o["commission"]}})
        cfg = RLConfig(seeds=tuple(range(o["seeds"])), settings=tuple({"timesteps": s} for s in steps),
                       folds=FoldSpec(n_folds=o["n_folds"]), oracle=o["oracle"], base=base)
        report = rl_report(bars, cfg, symbol, o["timeframe"])
    except ResearchError as exc:
        raise click.ClickException(str(exc)) from None
    line = ("not recorded (--no-record)" if o["no_record"]
            else record(lambda con: write_rl_report(con, report), "rl report", o["publish"]))
    if o["as_json"]:
        click.echo(json.dumps({"rl_id": report.rl_id, "summary": report.summary,
                               "runs": report.runs.to_dict("records")}, default=str, indent=2))
        return
    click.echo(f"rl {report.rl_id}  {symbol} {o['timeframe']}  {len(bars):,} bars  source: {source}")
    agg = (report.runs.groupby(["agent", "setting"], dropna=False)
           .agg(runs=("sharpe", "size"), sharpe_median=("sharpe", "median"), sharpe_min=("sharpe", "min"),
                sharpe_max=("sharpe", "max"), total_return_median=("total_return", "median"))
           .reset_index())
    click.echo(table(agg, ".3f"))
    for k, v in report.summary.items():
        click.echo(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
    click.echo(line)
