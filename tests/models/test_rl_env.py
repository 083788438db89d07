"""The RL environment and the report's plumbing, without torch (these run everywhere, CI
included): the environment reproduces the engine's equity exactly, passes gymnasium's checker,
and the report gives distributions, DSR and baselines over >= 10 seeds."""

from __future__ import annotations

import builtins

import duckdb
import numpy as np
import pytest
from model_fixtures import walk_bars

from primeflow_lib.research.engine import EngineParams, simulate
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.models import rl
from primeflow_lib.research.models.rl_env import TradingEnv, rollout
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.tuning.folds import FoldSpec

COSTS = EngineParams(threshold=0.5, allow_short=True, slippage_pct=0.001, commission_pct=0.0005,
                     commission_per_share=0.01)


def noise_features(n: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, 3))


def test_env_equity_equals_the_engine_with_costs_fills_at_next_open_and_reversals():
    bars = walk_bars(400, seed=1)
    acts = np.random.default_rng(2).choice([0, 2], 399)  # short / long every bar
    it = iter(acts)
    env = TradingEnv(bars, noise_features(400), 0, 400, COSTS)
    rollout(env, lambda o: next(it))
    signal = np.r_[np.where(acts == 2, 1.0, -1.0), np.nan]
    engine = simulate(bars, signal, COSTS).equity.to_numpy()
    np.testing.assert_allclose(env.equity_path, engine, rtol=0, atol=1e-7)


def test_going_flat_sells_at_the_next_open_with_slippage_and_commission():
    bars = walk_bars(10, seed=3)
    env = TradingEnv(bars, noise_features(10), 0, 10, COSTS)
    env.reset()
    env.step(2)  # long at the open of bar 1
    qty = env.shares
    cash_before = env.cash
    env.step(1)  # flat at the open of bar 2
    px = bars["open"].iloc[2] * (1 - COSTS.slippage_pct)
    fee = qty * px * COSTS.commission_pct + qty * COSTS.commission_per_share
    assert env.shares == 0 and env.cash == pytest.approx(cash_before + qty * px - fee)


def test_env_passes_gymnasiums_checker_and_the_oracle_sees_the_next_bar():
    from gymnasium.utils.env_checker import check_env

    bars = walk_bars(60, seed=4)
    env = TradingEnv(bars, noise_features(60), 10, 60, COSTS, oracle=True)
    with pytest.warns(UserWarning):  # unbounded Box: the checker only warns
        check_env(env, skip_render_check=True)
    obs, _ = env.reset()
    assert obs[-1] == pytest.approx(100 * (bars["close"].iloc[11] / bars["open"].iloc[11] - 1), rel=1e-5)
    long_only = TradingEnv(bars, noise_features(60), 10, 60, COSTS, allow_short=False)
    assert long_only.action_space.n == 2


def oracle_sign_agent(env, seed, setting):
    """A torch-free 'agent': long when the oracle says up (proves the report's plumbing)."""
    last = len(env.positions) - 1
    return lambda obs: last if obs[-1] > 0 else 0


def test_report_over_ten_seeds_gives_distribution_dsr_baselines_and_rows(tmp_path):
    cfg = rl.RLConfig(seeds=tuple(range(10)), settings=({"timesteps": 64},), folds=FoldSpec(n_folds=2),
                      oracle=True, indicators=("rsi",), include_regime=False)
    rep = rl.rl_report(walk_bars(700, seed=5), cfg, "SYN", agent=oracle_sign_agent)
    runs = rep.runs
    assert set(runs["agent"]) == {"ppo", "buy_and_hold", "random", "phibot_blend"}
    assert (runs[runs.agent == "ppo"].groupby("fold").size() == 10).all()
    assert (runs[runs.agent == "random"].groupby("fold").size() == 10).all()
    s = rep.summary
    assert s["trials"] == 10 and s["sharpe_min"] <= s["sharpe_median"] <= s["sharpe_max"]
    assert s["share_above_buy_and_hold"] == 1.0 and np.isfinite(s["dsr_median_trial"])
    assert s["sharpe_median"] > s["buy_and_hold_sharpe"] + 5
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    rl.write_rl_report(con, rep)
    assert con.execute("SELECT count(*) FROM research.rl_runs").fetchone()[0] == len(runs)


def test_missing_extra_is_a_clear_error_naming_make_rl(monkeypatch):
    real = builtins.__import__

    def no_sb3(name, *a, **k):
        if name.startswith("stable_baselines3"):
            raise ImportError("No module named 'stable_baselines3'", name="stable_baselines3")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_sb3)
    with pytest.raises(ResearchError, match=r"run `make rl`.*stable_baselines3 is missing"):
        rl.require_sb3()


def test_bad_rl_settings_are_named():
    with pytest.raises(ResearchError, match=r"rl.settings.timesteps: 10"):
        rl.RLConfig(settings=({"timesteps": 10},))
    with pytest.raises(ResearchError, match=r"rl.settings: unknown option 'lr'"):
        rl.RLConfig(settings=({"timesteps": 100, "lr": 1},))
    with pytest.raises(ResearchError, match="sizing.mode must be percent_equity"):
        TradingEnv.from_config(RunConfig.from_dict({"sizing": {"mode": "fixed_cash", "value": 1000}}),
                               walk_bars(20), noise_features(20), 0, 20)
