"""Gamma levels of one chain export file (``primeflow gex --chain-csv FILE``).

Reads a Cboe ``*_quotedata.csv`` export (:func:`primeflow_lib.vendors.cboe.quotedata.
read_quotedata`), computes its gamma exposure with :func:`primeflow_lib.flow.gex.compute_gex`
(time to expiry measured from the export's own time stamp when it was taken during the
session, else from the session's 16:00 close) and lays the result out as rows to print.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from primeflow_lib.flow.gex import GEX_UNITS, GexResult, compute_gex
from primeflow_lib.vendors.cboe.quotedata import ChainExport, read_quotedata


@dataclass
class ExportLevels:
    """A chain export and its gamma exposure."""

    export: ChainExport
    result: GexResult

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) lines naming every unit."""
        lv = self.result.levels.iloc[0]
        st = self.result.stats

        def usd(x: float) -> str:
            return "n/a" if x != x else f"{x:,.2f}"

        def gex(x: float) -> str:
            return f"{x / 1e9:,.3f} bn" if abs(x) >= 1e9 else f"{x / 1e6:,.1f} M"

        return [
            ("file", self.export.source),
            ("underlying", f"{lv.underlying} ({self.export.name})"),
            ("snapshot", f"{self.export.asof:%Y-%m-%d %H:%M} New York; session {lv.trade_date:%Y-%m-%d}; "
                         f"time to expiry from {lv['asof']:%Y-%m-%d %H:%M} (ACT/365 to 16:00 New York)"),
            ("spot", f"{usd(lv.spot)} USD"),
            ("convention", str(lv.convention)),
            ("total GEX", f"{gex(lv.total_gex)} ({GEX_UNITS})"),
            ("call GEX / put GEX", f"{gex(lv.call_gex)} / {gex(lv.put_gex)} ({GEX_UNITS})"),
            ("zero-gamma flip", f"{usd(lv.zero_gamma)} USD ({lv.flip_crossings} sign change(s) on "
                                f"{lv.grid_low:,.2f}-{lv.grid_high:,.2f} USD)"),
            ("call wall / put wall", f"{usd(lv.call_wall)} / {usd(lv.put_wall)} USD (strike)"),
            ("ATM IV / expected move", f"{lv.atm_iv:.4f} / {usd(lv.expected_move)} USD per day (1 sd)"),
            ("regime at spot", f"{lv.regime} (NEAR_FLIP band: {lv.near_flip_band:g} expected moves)"),
            ("contracts", f"{st['rows_in']:,} rows: {st['contracts_used']:,} used, "
                          f"{st['contracts_expired']:,} expired, {st['quarantined']:,} quarantined "
                          f"{dict(st['quarantined_by_rule']) or ''}".rstrip()),
        ]


def export_levels(path: str | Path, gex_cfg: Mapping[str, Any]) -> ExportLevels:
    """Gamma exposure of the export at ``path`` under the ``gex`` config section.

    Raises:
        CboeFileError: the file is not a chain export (names file, line and field).
        GexInputError: no row of the export can carry exposure.
    """
    ex = read_quotedata(path)
    res = compute_gex(
        ex.chain,
        convention=gex_cfg["convention"],
        grid_pct=gex_cfg["grid_pct"],
        grid_points=gex_cfg["grid_points"],
        rate=gex_cfg["risk_free_rate"],
        source=f"gex:{ex.source}",
        asof=ex.asof,
        near_flip_band=gex_cfg["near_flip_band"],
    )
    return ExportLevels(export=ex, result=res)
