"""A study as text and as JSON: the summary ``primeflow tune`` prints and its ``--json`` document."""

from __future__ import annotations

import math
from typing import Any


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
