"""PhiAI steps as library functions: ``select_indicators``, ``tune_indicator``,
``phiai_full_auto``; and the study they produce.

A **study** = one tune config on one dataset. Its trials are every configuration evaluated:
every sampled parameter set of every candidate (the budget is shared by all candidates, so the
set of trials never depends on the data). ``N`` (for the DSR and the PBO) counts all of them.

Order of the steps: tune every candidate (``tune_indicator``), select indicators
(``select_indicators``, on folds before the last), blend. Selecting *before* tuning would let
the test windows decide which trials exist, and so influence the selections they are meant to
judge; this order keeps every fold's selection blind to its own test window.

Walk-forward selection: on each fold the configuration with the best **train** Sharpe is
chosen; the study's out-of-sample (OOS) return series is the concatenation of each fold's chosen
configuration on that fold's **test** window. The overfitting statistics are computed on that
series (PSR, DSR against all trials' OOS Sharpe ratios, MinTRL) and on the whole search (PBO by
CSCV over the per-bar returns of every trial after the longest warm-up). The chosen parameters of
each tuned indicator are its best on the last train window (the most data, what one would
deploy); the tuned RunConfig blends them (``phiai`` walk-forward weights when there are several).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.research import overfit
from primeflow_lib.research.data import data_hash, validate_bars
from primeflow_lib.research.errors import ResearchError
from primeflow_lib.research.indicators import get
from primeflow_lib.research.limits import check_tune_memory
from primeflow_lib.research.plausibility import PlausibilityRules, check_bars, check_sizing
from primeflow_lib.research.runconfig import ENGINE_VERSION, RunConfig
from primeflow_lib.research.timeframes import periods_per_year
from primeflow_lib.research.tuning.evaluate import TrialBlock, evaluate
from primeflow_lib.research.tuning.folds import Fold, FoldSpec, make_folds
from primeflow_lib.research.tuning.samplers import SAMPLERS, sample
from primeflow_lib.research.tuning.spaces import space_for

TUNER_VERSION = "1"
Progress = Callable[[int], None]


@dataclass(frozen=True)
class TuneConfig:
    """What to search.

    Attributes:
        indicators: candidate indicators (registry names).
        trials: tuning budget, shared evenly by the candidates (the remainder goes to the first
            ones); ``N`` = this budget.
        sampler: ``sobol`` (default), ``random`` or ``grid``.
        seed: seed of the samplers (each indicator draws from its own stream of this seed).
        folds: the walk-forward folds (:class:`FoldSpec`).
        metric: fold score; only ``sharpe`` (per-period mean / std, ddof 1) is supported.
        top_n / floor: keep at most ``top_n`` candidates whose selection score (annualised
            OOS Sharpe, :func:`select_indicators`) exceeds ``floor``; if none does, the best
            one is kept (and the study says so in ``notes``).
        pbo_splits: S of the CSCV (even).
    """

    indicators: tuple[str, ...]
    trials: int = 2000
    sampler: str = "sobol"
    seed: int = 7
    folds: FoldSpec = field(default_factory=FoldSpec)
    metric: str = "sharpe"
    top_n: int = 3
    floor: float = 0.0
    pbo_splits: int = 16

    def __post_init__(self) -> None:
        if isinstance(self.trials, bool) or int(self.trials) != self.trials or self.trials < 1:
            raise ResearchError(f"trials: {self.trials!r} must be a whole number >= 1")
        if not self.indicators:
            raise ResearchError("indicators: give at least one candidate indicator")
        if self.sampler not in SAMPLERS:
            raise ResearchError(f"sampler: {self.sampler!r} is not one of {list(SAMPLERS)}")
        if self.metric != "sharpe":
            raise ResearchError(f"metric: {self.metric!r}; the tuner scores folds by 'sharpe' only")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or not 0 <= self.seed < 2**63:
            raise ResearchError(f"seed: {self.seed!r} must be a whole number >= 0")
        if int(self.top_n) != self.top_n or self.top_n < 1:
            raise ResearchError(f"top_n: {self.top_n!r} must be a whole number >= 1")
        for name in self.indicators:
            space_for(name)  # unknown indicator / no tune ranges: fail before any work

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["indicators"] = list(self.indicators)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TuneConfig:
        d = dict(d)
        known = {f for f in cls.__dataclass_fields__}
        bad = sorted(set(d) - known)
        if bad:
            raise ResearchError(f"tune config: unknown key {bad[0]!r}; known keys are {sorted(known)}")
        if "folds" in d and isinstance(d["folds"], dict):
            fk = set(FoldSpec.__dataclass_fields__)
            badf = sorted(set(d["folds"]) - fk)
            if badf:
                raise ResearchError(f"folds: unknown key {badf[0]!r}; known keys are {sorted(fk)}")
            d["folds"] = FoldSpec(**d["folds"])
        if "indicators" in d:
            ind = d["indicators"]
            d["indicators"] = tuple(s.strip() for s in ind.split(",") if s.strip()) if isinstance(ind, str) else tuple(ind)
        return cls(**d)


@dataclass
class Study:
    """Everything a study produced (see the module docstring); ``trials`` has one row per trial:
    ``trial_no, step, indicator, params, is_sharpe (per fold), oos_sharpe (per fold),
    wf_oos_sharpe, n_trades`` (Sharpe columns per period; ``*_ann`` annualised)."""

    study_id: str
    tune: TuneConfig
    base: RunConfig
    tuned: RunConfig
    data_hash: str
    n_bars: int
    folds: list[Fold]
    purge: int
    trials: pd.DataFrame
    selection: pd.DataFrame
    chosen: dict[str, dict]
    fold_winners: list[int]
    oos_returns: np.ndarray
    stats: dict[str, float]
    pbo: overfit.PBOResult
    verdict: str
    notes: list[str]
    ppy: int
    first_bar: Any = None
    last_bar: Any = None
    wall_s: float = 0.0
    pbo_s: float = 0.0
    run_id: str | None = None
    run_result: Any = None
    last_weights: dict[str, float] | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-ready: study id, verdict, statistics, chosen parameters, tuned RunConfig."""
        return {
            "study_id": self.study_id,
            "verdict": self.verdict,
            "stats": {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in self.stats.items()},
            "chosen": self.chosen,
            "selected": [str(x) for x in self.selection.loc[self.selection["kept"], "indicator"]],
            "n_trials": int(len(self.trials)),
            "folds": [asdict(f) for f in self.folds],
            "purge": self.purge,
            "run_id": self.run_id,
            "notes": self.notes,
            "tune": self.tune.to_dict(),
            "run_config": self.tuned.to_dict(),
            "wall_s": round(self.wall_s, 3),
        }


def study_id(tune: TuneConfig, base: RunConfig, dhash: str) -> str:
    """16 hex digits of SHA-256 over the tune config (seed, budget, folds, metric included), the
    dataset, the engine settings, the data hash and the tuner/engine versions."""
    payload = {
        "tune": tune.to_dict(), "dataset": base.to_dict()["dataset"],
        "engine": base.engine_params().to_dict(), "data_hash": dhash,
        "tuner_version": TUNER_VERSION, "engine_version": ENGINE_VERSION,
    }  # fmt: skip
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stream_seed(seed: int, i: int) -> int:
    return int(np.random.SeedSequence([int(seed), i]).generate_state(1)[0])


def _max_lookback(indicator: str) -> int:
    space = space_for(indicator)
    top = space.decode(np.full((1, space.dim), 1.0 - 1e-12))[0]
    return get(indicator).lookback(top)


def _block_frame(block: TrialBlock, step: str, ppy: int, start_no: int) -> pd.DataFrame:
    n = len(block.params)
    ann = math.sqrt(ppy)
    return pd.DataFrame({
        "trial_no": np.arange(start_no, start_no + n, dtype=np.int64),
        "step": step,
        "indicator": block.indicator,
        "params": block.params,
        "is_sharpe": list(block.is_sharpe),
        "oos_sharpe": list(block.oos_sharpe),
        "is_sharpe_mean_ann": block.is_sharpe.mean(axis=1) * ann,
        "wf_oos_sharpe": block.wf_oos_sharpe,
        "wf_oos_sharpe_ann": block.wf_oos_sharpe * ann,
        "n_trades": block.n_trades,
    })  # fmt: skip


def select_indicators(
    blocks: dict[str, TrialBlock], folds: list[Fold], ppy: int, top_n: int = 3, floor: float = 0.0,
) -> pd.DataFrame:  # fmt: skip
    """Score each candidate alone out of sample and keep the ``top_n`` best whose score exceeds
    ``floor`` (the best one if none does).

    The score of a candidate is the annualised Sharpe of its own walk-forward path (on each fold
    its trial with the best train Sharpe, scored on that fold's test window) over every fold
    **but the last**, clipped to end before the last train window ends; with one fold, the best
    train Sharpe of the last train window. So the last test window, on which the chosen
    configuration's OOS run is made, never takes part in choosing the indicators.

    Returns a table ``indicator, score_ann, kept``.
    """
    last = folds[-1]
    names, score = list(blocks), []
    for name in names:
        blk = blocks[name]
        if len(folds) == 1:
            score.append(float(blk.is_sharpe[:, 0].max()) * math.sqrt(ppy))
            continue
        parts = []
        for k, f in enumerate(folds[:-1]):
            end = min(f.test_end, last.train_end)
            if end > f.test_start:
                parts.append(blk.returns[int(np.argmax(blk.is_sharpe[:, k])), f.test_start:end])
        r = np.concatenate(parts) if parts else np.zeros(2)
        score.append(overfit.sharpe_per_period(r) * math.sqrt(ppy) if len(r) >= 2 else 0.0)
    sc = np.array(score)
    order = np.argsort(-sc, kind="stable")
    kept = np.zeros(len(names), dtype=bool)
    for i in order[: int(top_n)]:
        kept[i] = sc[i] > floor
    if not kept.any():
        kept[order[0]] = True
    return pd.DataFrame({"indicator": names, "score_ann": sc, "kept": kept})


def tune_indicator(
    bars: pd.DataFrame, indicator: str, base: RunConfig, folds: list[Fold], trials: int,
    sampler: str = "sobol", seed: int = 7,
) -> TrialBlock:  # fmt: skip
    """Sample ``trials`` parameter sets of ``indicator`` (``sampler``, ``seed``) and evaluate
    each on every fold (:func:`~primeflow_lib.research.tuning.evaluate.evaluate`)."""
    params = sample(space_for(indicator), sampler, trials, seed)
    return evaluate(bars, indicator, params, base.engine_params(), folds)


def _split_budget(total: int, k: int) -> list[int]:
    return [total // k + (1 if i < total % k else 0) for i in range(k)]


def phiai_full_auto(
    bars: pd.DataFrame, tune: TuneConfig, base: RunConfig | None = None,
    progress: Progress | None = None, memory_budget_mb: float | None = None,
) -> Study:  # fmt: skip
    """Select, tune each selected indicator, blend, and compute the overfitting statistics.

    Args:
        bars: one instrument's bars (anything :func:`validate_bars` accepts).
        tune: the search (:class:`TuneConfig`).
        base: engine, sizing, cost and dataset settings of the tuned RunConfig (default: the
            defaults, daily bars).
        progress: called with the number of trials just finished (for progress bars).
        memory_budget_mb: refuse a study estimated above this many MB before any trial runs
            (default ``limits.research_memory_mb``; :mod:`primeflow_lib.research.limits`).

    Returns:
        :class:`Study` (not yet stored: see :func:`primeflow_lib.research.tuning.store.write_study`).
    """
    t0 = time.perf_counter()
    base = base or RunConfig()
    frame = validate_bars(bars.drop(columns=["ticker", "vendor"], errors="ignore"), base.dataset.symbol or "bars")
    n = len(frame)
    check_tune_memory(int(tune.trials), n, memory_budget_mb)  # before any trial: refuse, not swap
    rules = PlausibilityRules.from_config()
    notes: list[str] = check_bars(frame, base.dataset.timeframe, base.dataset.symbol or "bars", rules)
    check_sizing(base, frame, rules)
    ppy = periods_per_year(base.dataset.timeframe)
    engine = base.engine_params()
    lookback = max(_max_lookback(c) for c in tune.indicators)
    horizon = int(engine.max_bars or 1)
    purge = lookback + horizon
    first = lookback + 1
    try:
        folds = make_folds(n, tune.folds, purge, first=first, min_bars=max(lookback, 2))
    except ResearchError as exc:
        longest = max(tune.indicators, key=_max_lookback)
        raise ResearchError(f"{exc} (the longest lookback is {longest}'s: {_max_lookback(longest)} bars at the "
                            "top of its tune range)") from None
    tick = progress or (lambda k: None)

    # Every candidate is tuned (the trial set never depends on the data), then the indicators
    # are selected on folds before the last one (select_indicators).
    tuned_blocks: dict[str, TrialBlock] = {}
    budgets = _split_budget(int(tune.trials), len(tune.indicators))
    for i, (ind, budget) in enumerate(zip(tune.indicators, budgets, strict=True)):
        if budget < 1:
            notes.append(f"{ind}: no budget left (trials = {tune.trials}); not tuned")
            continue
        blk = tune_indicator(frame, ind, base, folds, budget, tune.sampler, _stream_seed(tune.seed, i))
        tuned_blocks[ind] = blk
        tick(len(blk.params))
    table = select_indicators(tuned_blocks, folds, ppy, tune.top_n, tune.floor)
    if not (table["score_ann"] > tune.floor).any():
        notes.append(f"no candidate beat the floor ({tune.floor}) out of sample; kept the best one")
    selected = [c for c, k in zip(table["indicator"], table["kept"], strict=True) if k]
    blocks: list[tuple[str, TrialBlock]] = [("tune", b) for b in tuned_blocks.values()]

    frames, start = [], 1
    for step, blk in blocks:
        frames.append(_block_frame(blk, step, ppy, start))
        start += len(blk.params)
    trials = pd.concat(frames, ignore_index=True)
    returns = np.concatenate([b.returns for _, b in blocks])
    is_all = np.concatenate([b.is_sharpe for _, b in blocks])
    wf_all = np.concatenate([b.wf_oos_sharpe for _, b in blocks])

    winners = [int(np.argmax(is_all[:, k])) for k in range(len(folds))]
    oos = np.concatenate([returns[w, f.test_start:f.test_end] for w, f in zip(winners, folds, strict=True)])

    chosen: dict[str, dict] = {}
    for ind in selected:
        blk = tuned_blocks[ind]
        chosen[ind] = blk.params[int(np.argmax(blk.is_sharpe[:, -1]))]
    if len(selected) == 1:
        blend = {"mode": "weighted_sum", "weights": {selected[0]: 1.0}}
    else:
        blend = {"mode": "phiai", "weights": None}
    tuned = base.replace(
        indicators={k: chosen[k] for k in selected}, blend=blend, strategy="signals",
    )

    dsr = overfit.deflated_sharpe_ratio(oos, wf_all) if len(wf_all) >= 2 else math.nan
    if len(wf_all) < 2:
        notes.append("fewer than 2 trials: no DSR")
    t_pbo = time.perf_counter()
    pbo_res = overfit.pbo(returns[:, first:].T, tune.pbo_splits) if returns.shape[0] >= 2 else None
    pbo_s = time.perf_counter() - t_pbo
    if pbo_res is None:
        raise ResearchError(f"trials: {tune.trials} leaves fewer than 2 configurations for the PBO")
    sr, g3, g4, t_oos = overfit.moments(oos)
    stats = {
        "n_trials": float(len(trials)),
        "oos_sharpe": sr,
        "oos_sharpe_ann": sr * math.sqrt(ppy),
        "is_sharpe_ann": float(np.mean([is_all[w, k] for k, w in enumerate(winners)]) * math.sqrt(ppy)),
        "oos_total_return": float(np.prod(1.0 + oos) - 1.0),
        "oos_bars": float(t_oos),
        "oos_skew": g3,
        "oos_kurtosis": g4,
        "psr": overfit.probabilistic_sharpe_ratio(oos),
        "dsr": dsr,
        "expected_max_sharpe": overfit.expected_max_sharpe(len(wf_all), float(np.std(wf_all, ddof=1))) if len(wf_all) >= 2 else math.nan,
        "min_track_record_length": overfit.min_track_record_length(oos),
        "pbo": pbo_res.pbo,
        "prob_oos_loss": pbo_res.prob_oos_loss,
        "degradation_slope": pbo_res.degradation_slope,
    }
    return Study(
        study_id=study_id(tune, base, data_hash(frame)), tune=tune, base=base, tuned=tuned,
        data_hash=data_hash(frame), n_bars=n, folds=folds, purge=purge, trials=trials,
        selection=table, chosen=chosen, fold_winners=winners, oos_returns=oos, stats=stats,
        pbo=pbo_res, verdict=overfit.verdict(pbo_res.pbo, dsr), notes=notes, ppy=ppy,
        first_bar=frame.index[0], last_bar=frame.index[-1], pbo_s=pbo_s, wall_s=time.perf_counter() - t0,
    )  # fmt: skip
