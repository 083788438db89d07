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
import math
import sys
from pathlib import Path
from typing import Any

import click

from primeflow_lib.research.errors import ResearchError


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def study_payload(study) -> dict[str, Any]:
    """The ``--json`` document: study summary, tuned RunConfig and every trial."""
    t = study.trials
    trials = [
        {
            "trial_no": int(r.trial_no), "step": r.step, "indicator": r.indicator, "params": r.params,
            "is_sharpe_folds": [float(v) for v in r.is_sharpe],
            "oos_sharpe_folds": [float(v) for v in r.oos_sharpe],
            "is_sharpe_ann": float(r.is_sharpe_mean_ann), "oos_sharpe_ann": float(r.wf_oos_sharpe_ann),
            "n_trades": int(r.n_trades),
        }  # fmt: skip
        for r in t.itertuples(index=False)
    ]
    return _clean({"study": study.summary(), "run_config": study.tuned.to_dict(), "trials": trials})


def report_lines(study) -> list[str]:
    """The human summary printed after a study."""
    s = study.stats
    lines = [f"study {study.study_id}: {len(study.trials)} trials, {len(study.folds)} folds, purge {study.purge} bars"]
    sel = study.selection
    lines.append("selection (each tuned indicator alone, OOS Sharpe on folds before the last, annualised):")
    for r in sel.itertuples(index=False):
        lines.append(f"  {r.indicator:<14} {r.score_ann:8.3f}  {'kept' if r.kept else 'dropped'}")
    lines.append("chosen parameters:")
    for ind, p in study.chosen.items():
        lines.append(f"  {ind}: " + ", ".join(f"{k}={v}" for k, v in sorted(p.items())))
    lines.append(f"blend: {study.tuned.blend.mode}")

    def f(v: float, pct: bool = False) -> str:
        if not math.isfinite(v):
            return "inf" if v == math.inf else "-"
        return f"{v * 100:.2f}%" if pct else f"{v:.4f}"

    lines += [
        f"IS Sharpe (ann.)       {f(s['is_sharpe_ann'])}",
        f"OOS Sharpe (ann.)      {f(s['oos_sharpe_ann'])}   over {int(s['oos_bars'])} test bars",
        f"OOS total return       {f(s['oos_total_return'], True)}",
        f"PSR (vs 0)             {f(s['psr'])}",
        f"DSR (N = {int(s['n_trials'])})".ljust(23) + f"{f(s['dsr'])}",
        f"PBO (CSCV, S = {study.tune.pbo_splits})".ljust(23) + f"{f(s['pbo'])}",
        f"MinTRL (bars)          {f(s['min_track_record_length'])}",
        f"verdict: {study.verdict}",
    ]
    lines += [f"note: {n}" for n in study.notes]
    if study.run_id:
        lines.append(f"OOS run {study.run_id} stored in research.backtest_runs")
    return lines


@click.command("tune")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="OHLCV CSV: Date,Open,High,Low,Close,Volume.")
@click.option("--symbol", help="Ticker in market.ohlcv_daily (or the name of the CSV's ticker).")
@click.option("--start", help="First session, YYYY-MM-DD (inclusive).")
@click.option("--end", help="Last session, YYYY-MM-DD (inclusive).")
@click.option("--timeframe", default="1d", show_default=True, type=click.Choice(["1d", "1m", "5m", "15m", "30m", "1h", "4h"]))
@click.option("--db", type=click.Path(dir_okay=False), help="Warehouse read copy to read bars from (default $PRIMEFLOW_READ_DUCKDB).")
@click.option("--indicators", required=True, help="Comma-separated candidates, e.g. rsi,macd,dual_sma.")
@click.option("--trials", default=2000, show_default=True, type=int, help="Tuning budget (shared by the selected indicators).")
@click.option("--folds", default=5, show_default=True, type=int, help="Walk-forward folds.")
@click.option("--test-bars", type=int, help="Bars per test fold (default: see docs/tuning.md).")
@click.option("--train-bars", type=int, help="Bars per train fold with --rolling.")
@click.option("--rolling", is_flag=True, help="Rolling train windows (default: anchored).")
@click.option("--embargo", default=0, show_default=True, type=int, help="Extra bars between train and test, on top of the purge.")
@click.option("--seed", default=7, show_default=True, type=int)
@click.option("--sampler", default="sobol", show_default=True, type=click.Choice(["sobol", "random", "grid"]))
@click.option("--top-n", default=3, show_default=True, type=int, help="Keep at most this many indicators.")
@click.option("--capital", type=float, help="Starting capital, USD.")
@click.option("--commission", type=float, help="Commission, fraction of notional per fill.")
@click.option("--warehouse", "warehouse_path", type=click.Path(dir_okay=False), help="Live warehouse to record in (default $PRIMEFLOW_DUCKDB).")
@click.option("--record/--no-record", default=True, show_default=True, help="Store the study and its OOS run.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Write the study, the chosen config and every trial as JSON.")
def tune(**o: Any) -> None:
    """Run a PhiAI study: select indicators, tune them walk-forward, blend, and judge the result
    with PSR, DSR and PBO."""
    from primeflow_lib.research.cli import load_bars
    from primeflow_lib.research.runconfig import RunConfig
    from primeflow_lib.research.tuning import FoldSpec, TuneConfig, phiai_full_auto, write_study

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
        total = tc.trials
        with click.progressbar(length=total, label="tuning", file=sys.stderr) as bar:
            study = phiai_full_auto(bars, tc, cfg, progress=bar.update)
        if o["record"]:
            from primeflow_lib import warehouse

            with warehouse.connect(o["warehouse_path"]) as con:
                write_study(con, study, bars)
    except ResearchError as exc:
        raise click.ClickException(str(exc)) from None
    for line in report_lines(study):
        click.echo(line)
    if o["json_out"]:
        Path(o["json_out"]).write_text(json.dumps(study_payload(study), indent=2, default=str) + "\n")
        click.echo(f"wrote {o['json_out']}")


if __name__ == "__main__":  # pragma: no cover
    tune()
