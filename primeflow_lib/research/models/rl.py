"""The RL agent and its honest report: PPO (``stable-baselines3``, optional extra) trained on
:class:`~.rl_env.TradingEnv` under walk-forward, over many seeds, against baselines.

Install the extra with ``make rl`` (stable-baselines3 and the CPU build of torch 2.13.0, from
the wheel on this machine's disk; nothing else in the project needs torch). Without it,
:func:`require_sb3` raises an error that says so.

Report (:func:`rl_report`)
--------------------------
* Folds: the tuner's walk-forward folds (purge = 1 bar: a step's reward ends at the next close).
  The agent of each (seed, setting) is trained on the train window and evaluated
  deterministically on the test window; features are standardised with the train window's
  statistics.
* Seeds x settings: every one is a trial; the report is the **distribution** of their OOS
  Sharpe ratios (min, quartiles, max, share above buy-and-hold), never the best seed.
* DSR: of the **median** trial's pooled OOS returns, deflated by every trial's Sharpe.
* Baselines on the same test windows and costs: ``buy_and_hold`` (always long),
  ``random`` (uniform random actions, one stream per seed) and ``phibot_blend`` (the ``phibot``
  preset's blended signal through the engine).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.research import overfit
from primeflow_lib.research.data import data_hash, validate_bars
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.models.features import DEFAULT_INDICATORS, build_features
from primeflow_lib.research.models.rl_env import TradingEnv, rollout
from primeflow_lib.research.runconfig import RunConfig
from primeflow_lib.research.timeframes import periods_per_year
from primeflow_lib.research.tuning.folds import FoldSpec, make_folds

EXTRA_HINT = ("the optional RL extra is not installed: run `make rl` (stable-baselines3 and the "
              "CPU build of torch 2.13.0)")


def require_sb3():
    """Import stable-baselines3 (and torch) or raise :class:`ResearchError` naming ``make rl``."""
    try:
        import stable_baselines3
        import torch
    except ImportError as exc:
        raise ResearchError(f"{EXTRA_HINT} ({exc.name} is missing)") from None
    torch.set_num_threads(1)
    return stable_baselines3


def sb3_available() -> bool:
    try:
        require_sb3()
    except ResearchError:
        return False
    return True


@dataclass(frozen=True)
class RLConfig:
    """``seeds`` (at least 10 for the report), ``settings`` (each a dict of PPO options, at least
    ``timesteps``), folds, ``oracle`` observation (tests only), features, the RunConfig whose
    costs every agent and baseline pays."""

    seeds: tuple[int, ...] = tuple(range(10))
    settings: tuple[dict, ...] = ({"timesteps": 20_000},)
    folds: FoldSpec = field(default_factory=lambda: FoldSpec(n_folds=3))
    oracle: bool = False
    indicators: tuple[str, ...] = DEFAULT_INDICATORS
    include_regime: bool = True
    base: RunConfig = field(default_factory=lambda: RunConfig.from_dict(
        {"entry": {"allow_short": True}, "execution": {"slippage_pct": 0.0001}}))

    def __post_init__(self) -> None:
        if not self.seeds:
            raise ResearchError("rl.seeds: give at least one seed")
        for s in self.settings:
            ts = s.get("timesteps")
            if isinstance(ts, bool) or not isinstance(ts, int) or ts < 64:
                raise ResearchError(f"rl.settings.timesteps: {ts!r} must be a whole number >= 64")
            bad = sorted(set(s) - {"timesteps", "learning_rate", "n_steps", "batch_size", "gamma", "ent_coef"})
            if bad:
                raise ResearchError(f"rl.settings: unknown option {bad[0]!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["base"] = self.base.to_dict()
        d["seeds"], d["settings"] = list(self.seeds), list(self.settings)
        return d


def setting_name(s: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(s.items()))


def ppo_agent(env: TradingEnv, seed: int, setting: dict) -> Callable[[np.ndarray], int]:
    """Train PPO on ``env`` and return its deterministic policy."""
    sb3 = require_sb3()
    opts = {"n_steps": 256, "batch_size": 64, "learning_rate": 3e-4, "gamma": 0.9, "ent_coef": 0.01}
    opts.update({k: v for k, v in setting.items() if k != "timesteps"})
    model = sb3.PPO("MlpPolicy", env, seed=int(seed), verbose=0, device="cpu", **opts)
    model.learn(total_timesteps=int(setting["timesteps"]))

    def policy(obs):
        return int(model.predict(obs, deterministic=True)[0])

    return policy


Agent = Callable[[TradingEnv, int, dict], Callable[[np.ndarray], int]]


@dataclass
class RLReport:
    rl_id: str
    config: RLConfig
    symbol: str
    timeframe: str
    index: pd.DatetimeIndex
    data_hash: str
    runs: pd.DataFrame
    summary: dict


def rl_report(bars: pd.DataFrame, config: RLConfig | None = None, symbol: str = "", timeframe: str = "1d",
              agent: Agent | None = None) -> RLReport:
    """Walk-forward report over seeds x settings (see the module docstring). ``agent`` defaults
    to PPO; tests pass a torch-free agent to check the plumbing."""
    cfg = config or RLConfig()
    agent = agent or ppo_agent
    frame = validate_bars(bars.drop(columns=["ticker", "vendor", "trade_date"], errors="ignore"), symbol or "bars")
    ff = build_features(frame, cfg.indicators, cfg.include_regime)
    F = ff.X.to_numpy(dtype=np.float64)
    folds = make_folds(len(frame), cfg.folds, 1, first=ff.first, min_bars=30)
    ppy = periods_per_year(timeframe)
    rows = []
    pooled: dict[tuple, list[np.ndarray]] = {}
    phibot, phibot_pos = _phibot_returns(frame, cfg.base)
    for f in folds:
        mu, sd = F[f.train_start:f.train_end].mean(axis=0), F[f.train_start:f.train_end].std(axis=0)

        def env(lo, hi, mu=mu, sd=sd):
            return TradingEnv.from_config(cfg.base, frame, F, lo, hi, cfg.oracle, mu, sd)

        def add(agent_name, setting, seed, r, ntr, f=f):
            sr = overfit.sharpe_per_period(r) if len(r) >= 2 else math.nan
            rows.append({"agent": agent_name, "setting": setting, "seed": seed, "fold": f.index,
                         "test_start": frame.index[f.test_start], "test_end": frame.index[f.test_end - 1],
                         "sharpe": sr * math.sqrt(ppy), "sharpe_per_period": sr,
                         "total_return": float(np.prod(1.0 + r) - 1.0), "n_trades": int(ntr)})
            pooled.setdefault((agent_name, setting, seed), []).append(r)

        test_env = env(f.test_start, f.test_end)
        long_action = len(test_env.positions) - 1
        r, ntr = rollout(test_env, lambda o, a=long_action: a)
        add("buy_and_hold", "always long", None, r, ntr)
        pos = phibot_pos[f.test_start:f.test_end]
        add("phibot_blend", "phibot preset", None, phibot[f.test_start + 1:f.test_end],
            int(np.sum(np.diff(pos) != 0)))
        for seed in cfg.seeds:
            rng = np.random.default_rng([int(seed), f.index])
            r, ntr = rollout(env(f.test_start, f.test_end), lambda o, rng=rng, k=long_action + 1: int(rng.integers(k)))
            add("random", "uniform actions", int(seed), r, ntr)
            for s in cfg.settings:
                policy = agent(env(f.train_start, f.train_end), int(seed), s)
                r, ntr = rollout(env(f.test_start, f.test_end), policy)
                add("ppo", setting_name(s), int(seed), r, ntr)
    runs = pd.DataFrame(rows)
    summary = _summarise(runs, pooled, ppy)
    dhash = data_hash(frame)
    rid = hashlib.sha256(json.dumps({"cfg": cfg.to_dict(), "data": dhash, "agent": getattr(agent, "__name__", "agent")},
                                    sort_keys=True, default=str).encode()).hexdigest()[:16]
    return RLReport(rid, cfg, symbol or "bars", timeframe, frame.index, dhash, runs, summary)


def _phibot_returns(frame: pd.DataFrame, base: RunConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar returns and position sign of the ``phibot`` preset's blend through the engine
    with ``base``'s costs and sizing."""
    from primeflow_lib.research import metrics
    from primeflow_lib.research.engine import simulate
    from primeflow_lib.research.presets import preset
    from primeflow_lib.research.runner import blended_signal

    cfg = preset("phibot")
    signal, *_ = blended_signal(cfg, frame)
    params = base.replace(entry={"threshold": cfg.entry.threshold}).engine_params()
    run = simulate(frame, signal, params)
    r = metrics.simple_returns(run.equity.to_numpy(), params.capital)
    return r, np.sign(run.position.to_numpy())


def _summarise(runs: pd.DataFrame, pooled: dict, ppy: int) -> dict:
    def pooled_sr(key):
        r = np.concatenate(pooled[key])
        return overfit.sharpe_per_period(r), r

    trials = {k: pooled_sr(k) for k in pooled if k[0] == "ppo"}
    bh_sr, _ = pooled_sr(("buy_and_hold", "always long", None))
    out: dict[str, Any] = {"buy_and_hold_sharpe": bh_sr * math.sqrt(ppy)}
    pb = [k for k in pooled if k[0] == "phibot_blend"]
    out["phibot_blend_sharpe"] = pooled_sr(pb[0])[0] * math.sqrt(ppy) if pb else math.nan
    rnd = [pooled_sr(k)[0] * math.sqrt(ppy) for k in pooled if k[0] == "random"]
    out["random_sharpe_median"] = float(np.median(rnd)) if rnd else math.nan
    if trials:
        srs = np.array([v[0] for v in trials.values()])
        ann = srs * math.sqrt(ppy)
        order = np.argsort(srs)
        med_key = list(trials)[order[len(order) // 2]]
        out.update({
            "trials": len(trials), "sharpe_min": float(ann.min()), "sharpe_p25": float(np.percentile(ann, 25)),
            "sharpe_median": float(np.median(ann)), "sharpe_p75": float(np.percentile(ann, 75)),
            "sharpe_max": float(ann.max()), "share_above_buy_and_hold": float(np.mean(srs > bh_sr)),
            "median_trial": f"seed {med_key[2]}, {med_key[1]}",
            "dsr_median_trial": overfit.deflated_sharpe_ratio(trials[med_key][1], srs) if len(srs) >= 2 else math.nan,
            "psr_median_trial": overfit.probabilistic_sharpe_ratio(trials[med_key][1]),
        })  # fmt: skip
    return out


def rl_rows(report: RLReport) -> pd.DataFrame:
    import datetime as dt

    from primeflow_lib.schema.research import RL_RUNS

    df = report.runs.copy()
    df.insert(0, "rl_id", report.rl_id)
    df["created_at"] = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    df["symbol"], df["timeframe"], df["data_hash"] = report.symbol, report.timeframe, report.data_hash
    df["config"] = json.dumps(report.config.to_dict(), default=str)
    df["seed"] = pd.array(df["seed"], dtype="Int64")
    for c in ("sharpe", "sharpe_per_period", "total_return"):
        df[c] = pd.array([v if math.isfinite(v) else None for v in df[c]], dtype="Float64")
    return df[RL_RUNS.column_names]


def write_rl_report(con, report: RLReport) -> str:
    from primeflow_lib import warehouse
    from primeflow_lib.research.history import ensure_tables
    from primeflow_lib.schema.research import RL_RUNS

    ensure_tables(con)
    with warehouse.transaction(con):
        warehouse.replace_where(con, RL_RUNS, rl_rows(report), {"rl_id": report.rl_id})
    return report.rl_id
