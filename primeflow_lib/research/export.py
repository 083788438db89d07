"""Export a run to a folder a person can read, attach or archive.

Files: ``config.json`` (the RunConfig; ``RunConfig.load`` reads it back, same run_id),
``results.json`` (run id, data hash, span, metrics with inf/NaN as null, data gaps and warnings,
and the equity curve: ``equity_curve`` = one ``{ts, equity, drawdown, position}`` per bar),
``trades.csv`` and
``equity.png`` (equity over drawdown, 480 x 240 px).
"""

from __future__ import annotations

import json
from pathlib import Path

from primeflow_lib.research.plots import save_equity_png
from primeflow_lib.research.runner import BacktestResult

EXPORT_FILES = ("config.json", "results.json", "trades.csv", "equity.png")


def equity_curve(result: BacktestResult) -> list[dict]:
    """The run's equity curve as JSON-ready rows: ``ts`` (ISO), ``equity`` (USD at the close),
    ``drawdown`` (fraction <= 0), ``position`` (signed shares; rotation: tickers held)."""
    eq, dd, pos = result.equity, result.drawdown, result.position
    return [
        {"ts": ts.isoformat(), "equity": float(e), "drawdown": float(d), "position": float(p)}
        for ts, e, d, p in zip(eq.index, eq.to_numpy(), dd.to_numpy(), pos.to_numpy(), strict=True)
    ]


def export_run(result: BacktestResult, folder: str | Path) -> dict[str, Path]:
    """Write the run's files into ``folder`` (created if needed); returns ``{file name: path}``."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = {name: out / name for name in EXPORT_FILES}
    paths["config.json"].write_text(result.config.to_json() + "\n")
    summary = result.summary() | {"n_trades": int(len(result.trades)), "files": list(EXPORT_FILES),
                                  "equity_curve": equity_curve(result)}
    paths["results.json"].write_text(json.dumps(summary, indent=2) + "\n")
    result.trades.to_csv(paths["trades.csv"], index=False, float_format="%.10g")
    title = f"{result.config.dataset.symbol or 'run'} {result.config.strategy} {result.run_id}"
    save_equity_png(result.equity, result.drawdown, paths["equity.png"], title)
    return paths
