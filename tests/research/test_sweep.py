"""The dual-SMA sweep gives the same numbers as running each pair through run_backtest."""

from __future__ import annotations

import pytest
from research_fixtures import make_bars

from primeflow_lib.research.engine import EngineParams
from primeflow_lib.research.presets import preset
from primeflow_lib.research.runner import run_backtest
from primeflow_lib.research.sweep import sma_sweep


def test_sweep_matches_single_runs():
    bars = make_bars(504, seed=12)
    params = EngineParams(stop_loss=0.05, commission_pct=0.001, allow_short=True)
    grid = sma_sweep(bars, 5, 30, params)
    assert len(grid) == 26 * 25 // 2 and (grid.fast < grid.slow).all()
    for fast, slow in [(5, 6), (7, 30), (12, 20)]:
        cfg = preset("dual_sma").replace(
            indicators={"dual_sma": {"fast": fast, "slow": slow}},
            exits={"stop_loss": 0.05},
            execution={"commission_pct": 0.001},
            entry={"allow_short": True},
        )
        m = run_backtest(cfg, bars).metrics
        row = grid[(grid.fast == fast) & (grid.slow == slow)].iloc[0]
        assert row.sharpe == pytest.approx(m["sharpe"], rel=1e-9)
        assert row.total_return == pytest.approx(m["total_return"], rel=1e-9)
        assert row.n_trades == m["n_trades"]
