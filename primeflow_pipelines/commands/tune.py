"""``primeflow tune``: a PhiAI study from the command line.

Examples::

    primeflow tune --csv prices.csv --indicators rsi,macd,dual_sma --trials 2000 --folds 5 --seed 7
    primeflow tune --symbol AAPL --start 2015-01-02 --end 2024-12-31 --indicators rsi,macd \\
        --sampler random --json study.json

Data: ``--csv FILE`` (``Date,Open,High,Low,Close,Volume``) or ``--symbol`` from the warehouse
read copy (``--db``), as ``primeflow backtest``. The study, its trials, the tuned parameters and
the chosen configuration's OOS backtest are stored in the live warehouse (``PRIMEFLOW_DUCKDB``;
``--warehouse`` to choose the file, ``--no-record`` to skip). ``--json OUT`` writes the study,
the chosen config and every trial.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.timeframes import TIMEFRAMES
from primeflow_lib.research.tuning.report import report_lines, study_payload
from primeflow_lib.research.tuning.samplers import SAMPLERS
from primeflow_pipelines.commands.options import write_output


@click.command("tune")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="OHLCV CSV: Date,Open,High,Low,Close,Volume.")
@click.option("--symbol", help="Ticker in market.ohlcv_daily (or the name of the CSV's ticker).")
@click.option("--start", help="First session, YYYY-MM-DD (inclusive).")
@click.option("--end", help="Last session, YYYY-MM-DD (inclusive).")
@click.option("--timeframe", default="1d", show_default=True, type=click.Choice(TIMEFRAMES))
@click.option("--db", type=click.Path(dir_okay=False), help="Warehouse read copy to read bars from (default $PRIMEFLOW_READ_DUCKDB).")
@click.option("--indicators", required=True, help="Comma-separated candidates, e.g. rsi,macd,dual_sma.")
@click.option("--trials", default=2000, show_default=True, type=int, help="Tuning budget (shared by the selected indicators).")
@click.option("--folds", default=5, show_default=True, type=int, help="Walk-forward folds.")
@click.option("--test-bars", type=int, help="Bars per test fold (default: see docs/tuning.md).")
@click.option("--train-bars", type=int, help="Bars per train fold with --rolling.")
@click.option("--rolling", is_flag=True, help="Rolling train windows (default: anchored).")
@click.option("--embargo", default=0, show_default=True, type=int, help="Extra bars between train and test, on top of the purge.")
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--sampler", default="sobol", show_default=True, type=click.Choice(SAMPLERS))
@click.option("--top-n", default=3, show_default=True, type=int, help="Keep at most this many indicators.")
@click.option("--capital", type=float, help="Starting capital, USD.")
@click.option("--commission", type=float, help="Commission, fraction of notional per fill.")
@click.option("--warehouse", "warehouse_path", type=click.Path(dir_okay=False), help="Live warehouse to record in (default $PRIMEFLOW_DUCKDB).")
@click.option("--record/--no-record", default=True, show_default=True, help="Store the study and its OOS run (one transaction).")
@click.option("--publish/--no-publish", default=True, show_default=True,
              help="After recording, republish the read copy (default warehouse only).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the study, the chosen config and every trial as JSON.")
@click.option("--memory-mb", type=click.FloatRange(min=0, min_open=True),
              help="Refuse a study whose estimated memory (trials x bars) is above this (default limits.research_memory_mb).")
def tune(**o: Any) -> None:
    """Run a PhiAI study: select indicators, tune them walk-forward, blend, and judge the result
    with PSR, DSR and PBO."""
    from primeflow_lib.research.dataset import load_bars
    from primeflow_lib.research.runconfig import RunConfig
    from primeflow_lib.research.tuning import FoldSpec, TuneConfig, phiai_full_auto, write_study
    from primeflow_lib.warehouse import WarehouseError

    try:
        if not o["csv_path"] and not o["symbol"]:
            raise ResearchError("give --csv FILE or --symbol TICKER")
        ds: dict[str, Any] = {"timeframe": o["timeframe"], "start": o["start"], "end": o["end"]}
        if o["csv_path"]:
            ds |= {"csv": str(o["csv_path"]), "symbol": o["symbol"] or Path(o["csv_path"]).stem}
        else:
            ds["symbol"] = o["symbol"].upper()
        base: dict[str, Any] = {"dataset": ds}
        if o["capital"] is not None:
            base["capital"] = o["capital"]
        if o["commission"] is not None:
            base["execution"] = {"commission_pct": o["commission"]}
        cfg = RunConfig.from_dict(base)
        spec = FoldSpec(n_folds=o["folds"], test_bars=o["test_bars"], train_bars=o["train_bars"],
                        anchored=not o["rolling"], embargo=o["embargo"])
        tc = TuneConfig(indicators=tuple(s.strip() for s in o["indicators"].split(",") if s.strip()),
                        trials=o["trials"], sampler=o["sampler"], seed=o["seed"], folds=spec,
                        top_n=o["top_n"])
        bars = load_bars(cfg, o["db"])
        for note in bars.attrs.get("notes") or []:
            click.echo(f"note: {note}")
        total = tc.trials
        with click.progressbar(length=total, label="tuning", file=sys.stderr) as bar:
            study = phiai_full_auto(bars, tc, cfg, progress=bar.update, memory_budget_mb=o["memory_mb"])
        if o["record"]:
            from primeflow_lib import warehouse

            with warehouse.connect(o["warehouse_path"]) as con:
                write_study(con, study, bars)
                if o["publish"] and not o["warehouse_path"]:
                    warehouse.publish_read_copy(con=con)
    except (ResearchError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from None
    for line in report_lines(study):
        click.echo(line)
    if o["json_out"]:
        write_output(o["json_out"], json.dumps(study_payload(study), indent=2, default=str) + "\n", "--json")
        click.echo(f"wrote {o['json_out']}")
