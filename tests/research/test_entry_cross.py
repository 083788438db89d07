"""``entry.on``: ``level`` (the original rule, unchanged) and ``cross`` (enter only when the signal
moves into the entry zone after warm-up), on constructed signals whose answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from research_fixtures import make_bars, path_bars

from primeflow_lib.research.engine import EngineParams, simulate
from primeflow_lib.research.errors import RunConfigError
from primeflow_lib.research.presets import preset
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.runner import run_backtest
from primeflow_lib.research.sweep import sma_sweep

FLAT = (100.0, 100.0, 100.0, 100.0)
NAN = np.nan


def run(signal, **params):
    params.setdefault("capital", 10_000.0)
    rows = [FLAT] * len(signal)
    return simulate(path_bars(rows), np.asarray(signal, dtype=float), EngineParams(**params))


# warm-up (NaN), then a signal that starts ABOVE the threshold, dips below it, crosses back up
STARTS_ABOVE = [NAN, NAN, 0.8, 0.9, 0.7, 0.2, 0.6, 0.9, 0.9, 0.9]


def test_level_enters_on_the_first_bar_after_warm_up():
    out = run(STARTS_ABOVE, threshold=0.5, fill="close")
    t = out.trades.iloc[0]
    assert t.entry_bar == 2  # the first finite signal, already beyond the threshold


def test_cross_waits_for_the_signal_to_cross_the_threshold():
    out = run(STARTS_ABOVE, threshold=0.5, fill="close", entry_on="cross")
    assert len(out.trades) == 1
    t = out.trades.iloc[0]
    assert t.entry_bar == 6  # 0.2 -> 0.6 is the first crossing; 0.8 after warm-up is not one
    assert (out.position.iloc[:6] == 0).all() and (out.position.iloc[6:] > 0).all()


def test_cross_with_next_open_fills_the_bar_after_the_crossing():
    out = run(STARTS_ABOVE, threshold=0.5, entry_on="cross")
    assert out.trades.iloc[0].entry_bar == 7


def test_cross_never_enters_when_the_signal_stays_beyond_the_threshold():
    out = run([NAN, 0.9, 0.9, 0.8, 0.95, 0.9], threshold=0.5, fill="close", entry_on="cross")
    assert out.trades.empty
    assert not run([NAN, 0.9, 0.9, 0.8, 0.95, 0.9], threshold=0.5, fill="close").trades.empty


def test_cross_ignores_nan_gaps_between_signals():
    # a NaN is "no opinion": the crossing is judged against the last known signal (0.2)
    out = run([NAN, 0.2, NAN, 0.7, 0.7], threshold=0.5, fill="close", entry_on="cross")
    assert out.trades.iloc[0].entry_bar == 3


def test_cross_short_side_and_reversal():
    sig = [NAN, -0.9, -0.9, 0.0, -0.8, 0.9, 0.9]
    out = run(sig, threshold=0.5, fill="close", allow_short=True, entry_on="cross")
    sides = out.trades[["side", "entry_bar"]].values.tolist()
    # no short at bar 1 (already beyond -T after warm-up); short on the cross at bar 4,
    # reversed to long at bar 5 (a crossing of +T)
    assert sides == [["short", 4], ["long", 5]]


def test_cross_after_a_stop_needs_a_new_crossing():
    rows = [FLAT, FLAT, (100, 100, 90, 91), (91, 92, 90, 91), (91, 92, 90, 91), (91, 92, 90, 91)]
    sig = [0.1, 0.9, 0.9, 0.9, 0.1, 0.9]
    out = simulate(path_bars(rows), np.asarray(sig), EngineParams(
        threshold=0.5, fill="close", stop_loss=0.05, entry_on="cross", capital=10_000.0))
    assert out.trades["exit_reason"].tolist()[0] == "stop_loss"
    assert out.trades["entry_bar"].tolist() == [1, 5]


def test_unknown_entry_rule_is_refused():
    with pytest.raises(RunConfigError, match="entry_on = 'crossing'"):
        EngineParams(entry_on="crossing")
    with pytest.raises(RunConfigError, match=r"entry.on: 'crossing' is not one of \['level', 'cross'\]"):
        RunConfig.from_dict({"entry": {"on": "crossing"}})


def test_run_id_changes_only_for_cross():
    cfg = preset("dual_sma", "AAPL")
    assert cfg.replace(entry={"on": "level"}).config_id == cfg.config_id
    assert "on" not in cfg.canonical()["entry"]
    cross = cfg.replace(entry={"on": "cross"})
    assert cross.config_id != cfg.config_id
    assert RunConfig.from_json(cross.to_json()) == cross


def test_cross_in_a_full_run_trades_less_often_on_a_sign_signal():
    bars = make_bars(400, seed=3)
    level = run_backtest(preset("dual_sma", "X"), bars)
    cross = run_backtest(preset("dual_sma", "X", entry={"on": "cross"}), bars)
    first_level = pd.Timestamp(level.trades["entry_ts"].iloc[0])
    first_cross = pd.Timestamp(cross.trades["entry_ts"].iloc[0])
    assert first_cross >= first_level
    # every cross entry follows a bar whose SMA sign was not +1
    sig = cross.signal
    for ts in cross.trades["entry_ts"]:
        i = sig.index.get_loc(pd.Timestamp(ts))
        assert sig.iloc[i - 1] >= 1.0 and sig.iloc[i - 2] < 1.0  # next_open: decided at i-1


def test_sweep_passes_the_entry_rule_to_the_kernel():
    bars = make_bars(300, seed=5)
    level = sma_sweep(bars, 5, 8, EngineParams())
    cross = sma_sweep(bars, 5, 8, EngineParams(entry_on="cross"))
    assert not np.allclose(level["total_return"], cross["total_return"])
    one = run_backtest(preset("dual_sma", "X", indicators={"dual_sma": {"fast": 5, "slow": 8}},
                              entry={"on": "cross"}, exits={"stop_loss": None},
                              execution={"commission_pct": 0.0}), bars)
    row = cross[(cross["fast"] == 5) & (cross["slow"] == 8)].iloc[0]
    assert row["total_return"] == pytest.approx(one.metrics["total_return"], rel=1e-9)
