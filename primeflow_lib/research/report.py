"""How research results are shown as text: one metric formatting for the CLI and the workbench."""

from __future__ import annotations

import math
from typing import Any

#: metrics stored as fractions and shown as percentages
PERCENT_METRICS = {
    "total_return", "cagr", "max_drawdown", "volatility", "win_rate", "exposure",
    "direction_accuracy",
}  # fmt: skip


def format_metric(name: str, value: Any) -> str:
    """One metric as printed by the CLI and shown by the workbench: percentages for the
    :data:`PERCENT_METRICS` (fractions x 100, two decimals), ``-`` for missing, ``inf``/``-inf``,
    integers as they are, other numbers with four decimals (two above 1e5)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if name in PERCENT_METRICS:
        return f"{value * 100:.2f}%"
    if isinstance(value, int):
        return str(value)
    return f"{value:,.4f}" if abs(value) < 1e5 else f"{value:,.2f}"


def metrics_table(metrics: dict[str, Any]) -> str:
    """The metrics as a two-column text table."""
    width = max(len(k) for k in metrics)
    return "\n".join(f"{k:<{width}}  {format_metric(k, v):>16}" for k, v in metrics.items())
