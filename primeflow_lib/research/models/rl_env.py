"""A ``gymnasium`` trading environment on the backtest engine's semantics.

One step = one bar. At the close of bar ``t`` the agent picks a target position (``short``,
``flat``, ``long``; without ``allow_short`` only ``flat`` and ``long``); the order fills at the
**open of bar t + 1** exactly as :mod:`primeflow_lib.research.engine` fills a signal: buys at
``open * (1 + slippage_pct)``, sells at ``open * (1 - slippage_pct)``, commission
``shares * price * commission_pct + shares * commission_per_share`` per fill, the whole equity
(``sizing.value`` x equity) spent on an entry with fractional shares, a reversal closing first.
The reward is the log change of equity from the close of ``t`` to the close of ``t + 1`` (the
old position earns the overnight gap, the new one the bar after the fill). Costs, slippage,
sizing and capital come from a RunConfig (:meth:`TradingEnv.from_config`).

Observation at bar ``t``: the causal feature row of bar ``t`` (standardised with the mean and
standard deviation of the *training* window the caller passes) and the current position
(-1, 0, +1). With ``oracle=True`` one more value is appended: the return of bar ``t + 1`` from
its open to its close - information no real agent has, used by the oracle test to prove the
plumbing (an agent that sees it must beat buy-and-hold by a wide margin).

An episode runs over bars ``[start, end)``: ``end - start - 1`` steps.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pandas as pd

from primeflow_lib.research.engine import EngineParams
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.runconfig import RunConfig


class TradingEnv(gym.Env):
    """See the module docstring."""

    metadata = {"render_modes": []}

    def __init__(
        self, bars: pd.DataFrame, features: np.ndarray, start: int, end: int,
        params: EngineParams | None = None, allow_short: bool = True, oracle: bool = False,
        mean: np.ndarray | None = None, std: np.ndarray | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        if end - start < 3 or start < 0 or end > len(bars):
            raise ResearchError(f"rl env: bars [{start}, {end}) must hold at least 3 bars of the {len(bars)}")
        self.p = params or EngineParams()
        if self.p.size_mode != "percent_equity":
            raise ResearchError("rl env: sizing.mode must be percent_equity (the agent trades its whole equity)")
        self.open = bars["open"].to_numpy(dtype=np.float64)
        self.close = bars["close"].to_numpy(dtype=np.float64)
        F = np.asarray(features, dtype=np.float64)
        mu = F[start:end].mean(axis=0) if mean is None else mean
        sd = F[start:end].std(axis=0) if std is None else std
        self.F = np.nan_to_num((F - mu) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
        self.start, self.end = int(start), int(end)
        self.positions = (-1, 0, 1) if allow_short else (0, 1)
        self.oracle = oracle
        d = self.F.shape[1] + 1 + (1 if oracle else 0)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, (d,), np.float32)
        self.action_space = gym.spaces.Discrete(len(self.positions))
        self.t = self.start
        self.cash = self.p.capital
        self.shares = 0.0
        self.equity_path: list[float] = []
        self.trades = 0

    @classmethod
    def from_config(cls, config: RunConfig, bars, features, start, end, oracle=False, mean=None, std=None):
        """An environment with the costs, slippage, sizing and capital of ``config``."""
        return cls(bars, features, start, end, config.engine_params(), config.entry.allow_short,
                   oracle, mean, std)

    # --- gymnasium API ------------------------------------------------------------------------

    def _obs(self) -> np.ndarray:
        pos = float(np.sign(self.shares))
        extra = [pos]
        if self.oracle:
            t1 = self.t + 1
            extra.append(100.0 * (self.close[t1] / self.open[t1] - 1.0))
        return np.concatenate([self.F[self.t], np.array(extra, dtype=np.float32)]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = self.start
        self.cash, self.shares, self.trades = self.p.capital, 0.0, 0
        self.equity_path = [self.p.capital]
        return self._obs(), {}

    def _fill(self, side: int, qty: float, price: float) -> float:
        """Cash change of buying (side +1) or selling (-1) ``qty`` shares at ``price`` (before
        slippage) with commission."""
        px = price * (1.0 + self.p.slippage_pct) if side > 0 else price * (1.0 - self.p.slippage_pct)
        fee = qty * px * self.p.commission_pct + qty * self.p.commission_per_share
        return -side * qty * px - fee

    def step(self, action):
        target = self.positions[int(action)]
        e0 = self.cash + self.shares * self.close[self.t]
        t1 = self.t + 1
        o = self.open[t1]
        if target != int(np.sign(self.shares)):
            if self.shares != 0.0:
                self.cash += self._fill(-int(np.sign(self.shares)), abs(self.shares), o)
                self.shares = 0.0
            if target != 0:
                px = o * (1.0 + self.p.slippage_pct) if target > 0 else o * (1.0 - self.p.slippage_pct)
                budget = self.p.size_value * self.cash
                qty = budget / (px * (1.0 + self.p.commission_pct) + self.p.commission_per_share)
                if not self.p.fractional:
                    qty = math.floor(qty)
                if qty > 0:
                    self.cash += self._fill(target, qty, o)
                    self.shares = target * qty
            self.trades += 1
        e1 = self.cash + self.shares * self.close[t1]
        self.t = t1
        self.equity_path.append(e1)
        reward = math.log(e1 / e0) if e0 > 0 and e1 > 0 else -10.0
        terminated = self.t >= self.end - 1 or e1 <= 0
        obs = self._obs() if not terminated else np.zeros(self.observation_space.shape, np.float32)
        return obs, float(reward), bool(terminated), False, {"equity": e1}

    # --- helpers -------------------------------------------------------------------------------

    def returns(self) -> np.ndarray:
        """Per-step simple returns of the episode so far (``E_t / E_{t-1} - 1``)."""
        e = np.asarray(self.equity_path)
        return e[1:] / e[:-1] - 1.0


def rollout(env: TradingEnv, policy) -> tuple[np.ndarray, int]:
    """Run ``policy(obs) -> action`` over one episode; per-bar returns and position changes."""
    obs, _ = env.reset()
    done = False
    while not done:
        obs, _, done, _, _ = env.step(policy(obs))
    return env.returns(), env.trades
