"""RunConfig: JSON/YAML round trip, stable run_id, strict validation, presets."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from primeflow_lib.research.errors import RunConfigError
from primeflow_lib.research.presets import PRESETS, preset
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.runner import run_backtest

# The id of preset("dual_sma", "AAPL"), pinned: if it changes, every stored run gets a new id,
# so a change must be deliberate (and bump ENGINE_VERSION when numbers change).
PINNED_DUAL_SMA_AAPL = "31193df8cdd7f527"


def full_config() -> RunConfig:
    return preset("phibot", "AAPL").replace(
        dataset={"start": "2024-01-02", "end": "2024-12-31", "vendor": "synthetic"},
        exits={"stop_loss": 0.05, "take_profit": 0.1, "trailing_stop": 0.03, "max_bars": 20},
        execution={"fill": "close", "commission_pct": 0.001, "slippage_pct": 0.0005},
        sizing={"mode": "fixed_cash", "value": 5000.0, "fractional": False},
        entry={"allow_short": True},
        description="phibot on AAPL",
        tags=["research", "q4"],
    )


def test_json_and_yaml_round_trip(tmp_path):
    cfg = full_config()
    assert RunConfig.from_json(cfg.to_json()) == cfg
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()))
    assert RunConfig.load(path) == cfg
    path = tmp_path / "run.json"
    path.write_text(cfg.to_json())
    assert RunConfig.load(path).config_id == cfg.config_id


def test_run_id_is_stable_and_ignores_labels():
    cfg = preset("dual_sma", "AAPL")
    assert cfg.config_id == PINNED_DUAL_SMA_AAPL
    assert cfg.replace(description="x", tags=["y"]).config_id == cfg.config_id
    explicit = cfg.replace(indicators={"dual_sma": {"fast": 10.0, "slow": 20}})
    assert explicit.config_id == cfg.config_id  # 10 == 10.0, and defaults spelled out hash alike
    assert cfg.replace(indicators={"dual_sma": {"fast": 11, "slow": 20}}).config_id != cfg.config_id
    assert cfg.replace(exits={"stop_loss": 0.05}).config_id != cfg.config_id
    assert cfg.replace(dataset={"symbol": "MSFT"}).config_id != cfg.config_id
    assert len(cfg.config_id) == 16 and int(cfg.config_id, 16) >= 0


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"exits": {"stop_los": 0.05}}, "exits: unknown key 'stop_los'"),
        ({"exits": {"stop_loss": "five"}}, "exits.stop_loss: 'five' is not a number"),
        ({"execution": {"fill": "tomorrow"}}, "execution.fill: 'tomorrow' is not one of"),
        ({"dataset": {"start": "2024-13-01"}}, "dataset.start: '2024-13-01' is not a date"),
        ({"indicators": {"rsi": {"params": {"period": "x"}}}}, "indicators.rsi.params.period"),
        ({"blend": {"regime_weights": {"BULL": {}}}}, "unknown regime 'BULL'"),
        ({"colour": "red"}, "RunConfig: unknown key 'colour'"),
    ],
)
def test_bad_configs_name_the_key(data, needle):
    with pytest.raises(RunConfigError) as exc:
        RunConfig.from_dict(data)
    assert needle in str(exc.value)


def test_options_mode_runs_and_refuses_rotation(bars):
    cfg = RunConfig.from_dict({"mode": "options", "indicators": {"rsi": {}}})
    result = run_backtest(cfg, bars)
    assert result.iv_source == "realized" and result.summary()["mode"] == "options"
    assert result.equity.iloc[-1] == pytest.approx(100_000 + result.trades.pnl.sum(), rel=1e-9)
    with pytest.raises(RunConfigError, match="strategy 'momentum_rotation' cannot drive"):
        cfg.replace(strategy="momentum_rotation").check_runnable()


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        (
            {"indicators": {"rsi": {"perod": 3}}},
            "indicators.rsi: indicator 'rsi': unknown parameter",
        ),
        ({"indicators": {"macdd": {}}}, "unknown indicator 'macdd'"),
        ({"blend": {"weights": {"zzz": 1.0}}}, "blend.weights must name exactly"),
        ({"exits": {"stop_loss": 2.0}}, "stop_loss = 2.0"),
        ({"capital": -5.0}, "capital: -5.0 must be > 0"),
    ],
)
def test_unrunnable_configs_fail_before_any_work(changes, needle):
    cfg = preset("rsi").replace(**changes)
    with pytest.raises(RunConfigError) as exc:
        cfg.check_runnable()
    assert needle in str(exc.value)


def test_auto_tune_needs_a_start_date(bars):
    # auto_tune tunes on the bars before dataset.start (tests/research/test_tuning_auto.py)
    cfg = RunConfig.from_dict({"indicators": {"rsi": {"auto_tune": True}}})
    with pytest.raises(RunConfigError, match=r"indicators.rsi.auto_tune: needs dataset.start"):
        run_backtest(cfg, bars)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_runs(name, bars, panel):
    cfg = preset(name, "TEST")
    data = bars
    if name == "momentum_rotation":
        cfg = cfg.replace(dataset={"universe": ["AAA", "BBB", "CCC", "DDD", "EEE"]})
        data = panel
    result = run_backtest(cfg, data)
    m = result.metrics
    assert m["n_trades"] >= 1 and np.isfinite(m["sharpe"]) and m["max_drawdown"] <= 0
    assert len(result.equity) == result.equity.index.nunique() > 300
    assert result.equity.iloc[-1] == pytest.approx(100_000 + result.trades.pnl.sum(), rel=1e-9)
    assert f"preset:{name}" in cfg.tags
    json.dumps(result.summary())  # JSON-ready


def test_buy_and_hold_tracks_the_close(bars):
    result = run_backtest(preset("buy_and_hold"), bars)
    expected = 100_000 * bars["close"] / bars["close"].iloc[0]
    np.testing.assert_allclose(result.equity.to_numpy(), expected.to_numpy(), rtol=1e-12)
    t = result.trades.iloc[0]
    assert t.is_open and t.entry_bar == 0


def test_same_config_and_bars_give_the_same_numbers(bars):
    a = run_backtest(preset("phibot"), bars)
    b = run_backtest(preset("phibot"), bars.copy())
    assert a.run_id == b.run_id and a.data_hash == b.data_hash
    assert a.metrics == b.metrics
