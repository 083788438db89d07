"""``run_backtest``: the one entry point the CLI and the Dagster assets call.

``run_backtest(config, bars)`` validates the bars, computes the indicator signals, the regime
probabilities (when the blend needs them), the blend, runs the engine (or the rotation) and the
metrics, and returns a :class:`BacktestResult` that :mod:`~primeflow_lib.research.history` can
store and :mod:`~primeflow_lib.research.export` can write to a folder.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.research import blend as blend_mod
from primeflow_lib.research import metrics as m
from primeflow_lib.research.data import data_hash, validate_bars, validate_panel
from primeflow_lib.research.engine import EngineParams, simulate
from primeflow_lib.research.errors import ResearchError, RunConfigError
from primeflow_lib.research.gaps import GapReport, check_gaps, find_gaps, panel_gaps
from primeflow_lib.research.indicators import compute_signals, get
from primeflow_lib.research.plausibility import PlausibilityRules, check_bars, check_sizing
from primeflow_lib.research.regime import regime_probabilities
from primeflow_lib.research.rotation import simulate_rotation
from primeflow_lib.research.runconfig import ENGINE_VERSION, RunConfig
from primeflow_lib.research.timeframes import periods_per_year


@dataclass
class BacktestResult:
    """Everything one run produced.

    Attributes:
        config: the RunConfig that was run (``run_id`` = its id on these bars).
        equity: equity at each close, USD (index = bar ``ts``).
        position: signed shares at each close (rotation: number of tickers held).
        exposure: market value of the position / equity at each close (signed).
        trades: the trades table (see :data:`primeflow_lib.research.engine.TRADE_COLUMNS`) with
            a ``ticker`` column.
        metrics: :func:`primeflow_lib.research.metrics.compute_metrics` of the run.
        signal: the blended signal that drove the engine (None for rotation).
        signals: each indicator's signal (None when the strategy has no indicators).
        regimes: regime probabilities when the blend used them.
        blend_weights: per-bar weights of each indicator in the blend.
        data_hash: 16 hex digits of SHA-256 over the bars the run saw.
        created_at: when the run finished (UTC, naive).
        elapsed_s: wall time of the run, seconds.
        legs: mode options: one row per option leg (``research.backtest_legs`` without run_id).
        iv_source: mode options: ``chain`` or ``realized``; iv_note says what was used.
        data_gaps: NYSE sessions missing inside the bars' range
            (:class:`~primeflow_lib.research.gaps.GapReport`).
        warnings: things a reader of the results must know (gaps in the data), one line each.
    """

    config: RunConfig
    equity: pd.Series
    position: pd.Series
    exposure: pd.Series
    trades: pd.DataFrame
    metrics: dict[str, float]
    signal: pd.Series | None = None
    signals: pd.DataFrame | None = None
    regimes: pd.DataFrame | None = None
    blend_weights: pd.DataFrame | None = None
    data_hash: str = ""
    created_at: dt.datetime = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None)
    )
    elapsed_s: float = 0.0
    legs: pd.DataFrame | None = None
    iv_source: str | None = None
    iv_note: str = ""
    tuning: Any = None
    """The :class:`~primeflow_lib.research.tuning.Study` of an ``auto_tune`` run (stored with
    the run by ``write_run``), else None."""
    data_gaps: GapReport | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        """The run's id: the config's id and the data hash of its bars
        (:meth:`RunConfig.run_id_for`); the same config on changed bars is another run."""
        return self.config.run_id_for(self.data_hash)

    @property
    def drawdown(self) -> pd.Series:
        """Drawdown at each close, fraction <= 0 (see :func:`metrics.drawdown`)."""
        return pd.Series(
            m.drawdown(self.equity.to_numpy(), self.config.capital),
            index=self.equity.index,
            name="drawdown",
        )

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary: run id, dataset, span, metrics (inf/NaN as None), engine version."""
        ds = self.config.dataset
        idx = self.equity.index
        return {
            "run_id": self.run_id,
            "engine_version": ENGINE_VERSION,
            "strategy": self.config.strategy,
            "symbol": ds.symbol,
            "timeframe": ds.timeframe,
            "first_bar": str(idx[0]) if len(idx) else None,
            "last_bar": str(idx[-1]) if len(idx) else None,
            "n_bars": int(len(idx)),
            "data_hash": self.data_hash,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "elapsed_s": round(self.elapsed_s, 4),
            "metrics": json_safe(self.metrics),
            **(
                {"mode": "options", "iv_source": self.iv_source, "iv_note": self.iv_note}
                if self.config.mode == "options"
                else {}
            ),
            "data_gaps": self.data_gaps.to_dict() if self.data_gaps is not None else None,
            "warnings": list(self.warnings),
        }


def json_safe(d: dict[str, Any]) -> dict[str, Any]:
    """Metrics with inf/NaN replaced by None (JSON has neither) and numpy scalars as Python."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, (float, np.floating)):
            out[k] = float(v) if math.isfinite(v) else None
        elif isinstance(v, np.integer):
            out[k] = int(v)
        else:
            out[k] = v
    return out


def indicator_strategy_returns(
    bars: pd.DataFrame, signals: pd.DataFrame, params: EngineParams
) -> pd.DataFrame:
    """Per-bar equity returns of each indicator traded alone with ``params`` (NaN while that
    indicator warms up); the scores the ``phiai`` blend weighs indicators by."""
    out = {}
    for col in signals.columns:
        eq = simulate(bars, signals[col], params).equity.to_numpy()
        r = m.simple_returns(eq, params.capital)
        r[np.isnan(signals[col].to_numpy())] = np.nan
        out[col] = r
    return pd.DataFrame(out, index=bars.index)


def blended_signal(
    config: RunConfig,
    frame: pd.DataFrame,
    params: EngineParams | None = None,
    ppy: int | None = None,
) -> tuple[pd.Series, pd.DataFrame | None, pd.DataFrame | None, pd.DataFrame | None]:
    """The signal that drives the engine for ``config`` on a validated bar frame.

    Returns ``(signal, indicator signals, regime probabilities, blend weights)``; the last three
    are None when not used (buy_and_hold has a constant +1 signal and no indicators).
    """
    if config.strategy == "buy_and_hold":
        return pd.Series(1.0, index=frame.index, name="blend"), None, None, None
    params = params or config.engine_params()
    ppy = ppy or periods_per_year(config.dataset.timeframe)
    specs = {k: s.params for k, s in config.indicators.items()}
    signals = compute_signals(frame, specs)
    b = config.blend
    regimes = regime_probabilities(frame, config.regime) if b.mode == "regime_weighted" else None
    strategy_returns = (
        indicator_strategy_returns(frame, signals, params) if b.mode == "phiai" else None
    )
    out = blend_mod.blend_signals(
        signals, b.mode, b.weights, regimes, b.regime_weights, strategy_returns, ppy,
        b.min_strength, b.window, b.train, b.min_train,
    )  # fmt: skip
    return out.signal, signals, regimes, out.weights


def run_backtest(
    config: RunConfig, bars: pd.DataFrame, chain: pd.DataFrame | None = None, *,
    strict: bool = False,
) -> BacktestResult:
    """Run ``config`` on ``bars``.

    Args:
        config: the run; ``config.check_runnable()`` is applied first (options mode, unknown
            indicators and bad engine values raise :class:`RunConfigError`). Indicators with
            ``auto_tune: true`` are tuned on the bars before ``dataset.start`` first (the bars
            must include that history) and the run covers ``dataset.start`` onwards
            (:mod:`primeflow_lib.research.tuning.auto`).
        bars: one instrument's bars (anything :func:`validate_bars` accepts: a CSV-shaped frame,
            a ``market.ohlcv_daily`` extract, the bar frame); for ``momentum_rotation`` a long
            panel with a ``ticker`` column.
        chain: mode options with ``options.iv_source: chain``: the ``market.option_chain``
            rows of the underlying (:func:`primeflow_lib.research.options.chain.load_chain`).
        strict: refuse bars with NYSE sessions missing inside their range
            (:mod:`~primeflow_lib.research.gaps`); otherwise they are reported in
            ``result.data_gaps`` and ``result.warnings``.

    Implausible bars (spikes, weekend dates at ``1d``) and sizes (a first position beyond
    ``research.plausibility.max_notional_multiple`` x capital) are refused before the run
    (:mod:`~primeflow_lib.research.plausibility`); bars on NYSE holidays are a warning.

    Returns:
        :class:`BacktestResult`. Deterministic: the same config and bars give the same numbers.

    Raises:
        ResearchError: besides bad configs and bars, a ``signals`` run on too few bars for its
            blend to leave warm-up (it could never trade: an error, not "0 trades"), and with
            ``strict`` a series with gaps.
    """
    t0 = time.perf_counter()
    config.check_runnable()
    ppy = periods_per_year(config.dataset.timeframe)
    params = config.engine_params()
    notes: list[str] = list(bars.attrs.get("notes") or [])  # what the loader left out, and why
    if config.mode == "options":
        result = _run_options(config, bars, params, ppy, chain, strict, notes)
    elif config.strategy == "momentum_rotation":
        result = _run_rotation(config, bars, params, ppy, strict, notes)
    else:
        result = _run_single(config, bars, params, ppy, strict, notes)
    result.warnings.extend(notes)
    if result.data_gaps is not None and result.data_gaps.has_gaps:
        result.warnings.append(f"data gaps: {result.data_gaps.message()}")
    result.elapsed_s = time.perf_counter() - t0
    return result


def check_warm_up(config: RunConfig, signal: pd.Series, source: str) -> None:
    """Raise :class:`ResearchError` when a ``signals`` run's blended signal never leaves its
    warm-up (too few bars for the indicators' lookbacks): it could never trade."""
    if config.strategy != "signals" or np.isfinite(signal.to_numpy(dtype=np.float64)).any():
        return
    n = len(signal)
    needs = {k: get(k).lookback(s.params) + 1 for k, s in config.indicators.items()}
    short = {k: v for k, v in needs.items() if v > n}
    what = "no indicator can warm up" if len(short) == len(needs) else "the blend cannot warm up"
    detail = ", ".join(f"{k} needs {v} bars" for k, v in sorted(short.items(), key=lambda kv: -kv[1]))
    raise ResearchError(
        f"{source}: {n} bar{'s' if n != 1 else ''}: {what} ({detail or 'no finite signal'}); give a "
        "longer series (an earlier start) or shorter indicator periods")


def plausible(config: RunConfig, frame: pd.DataFrame, source: str, notes: list[str] | None = None,
              rules: PlausibilityRules | None = None) -> None:
    """Refuse implausible bars or sizing of ``config`` on a validated ``frame`` (see
    :mod:`~primeflow_lib.research.plausibility`); add its warnings to ``notes``."""
    rules = rules or PlausibilityRules.from_config()
    found = check_bars(frame, config.dataset.timeframe, source, rules)
    check_sizing(config, frame, rules)
    if notes is not None:
        notes.extend(found)


def _run_single(
    config: RunConfig, bars: pd.DataFrame, params: EngineParams, ppy: int, strict: bool = False,
    notes: list[str] | None = None,
) -> BacktestResult:
    source = config.dataset.csv or config.dataset.symbol or "bars"
    frame = validate_bars(bars.drop(columns=["ticker", "vendor"], errors="ignore"), source)
    plausible(config, frame, source, notes)
    study = None
    if any(s.auto_tune for s in config.indicators.values()):
        from primeflow_lib.research.tuning.auto import auto_tune

        config, frame, study = auto_tune(config, frame)
    gaps = find_gaps(frame.index, source)
    check_gaps(gaps, strict)
    signal, signals, regimes, weights = blended_signal(config, frame, params, ppy)
    check_warm_up(config, signal, source)
    run = simulate(frame, signal, params)
    close = frame["close"].to_numpy()
    held = m.held_pnl(run.position.to_numpy(), close)
    metrics = m.compute_metrics(run.equity, config.capital, ppy, run.position, run.trades, held)
    trades = run.trades.copy()
    trades.insert(1, "ticker", config.dataset.symbol or source)
    with np.errstate(invalid="ignore", divide="ignore"):
        exposure = run.position * frame["close"] / run.equity
    dhash = data_hash(frame)
    if study is not None:
        study.run_id = config.run_id_for(dhash)  # the tuned config on the backtest window
    return BacktestResult(
        config=config, equity=run.equity, position=run.position,
        exposure=exposure.rename("exposure"), trades=trades, metrics=metrics, signal=signal,
        signals=signals, regimes=regimes, blend_weights=weights, data_hash=dhash,
        tuning=study,
        data_gaps=gaps,
    )  # fmt: skip


def _run_rotation(
    config: RunConfig, bars: pd.DataFrame, params: EngineParams, ppy: int, strict: bool = False,
    notes: list[str] | None = None,
) -> BacktestResult:
    if "ticker" not in {str(c).lower() for c in bars.columns}:
        raise RunConfigError(
            "strategy 'momentum_rotation' needs a multi-ticker panel (a 'ticker' column); "
            "load it with load_warehouse_bars(dataset.universe, ...)"
        )
    panel = validate_panel(bars, config.dataset.symbol or "panel")
    if config.dataset.universe:
        missing = sorted(set(config.dataset.universe) - set(panel["ticker"]))
        if missing:
            raise RunConfigError(f"dataset.universe: no bars for {missing}")
        panel = panel[panel["ticker"].isin(config.dataset.universe)]
    rules = PlausibilityRules.from_config()
    for name, part in panel.groupby("ticker", sort=False):
        plausible(config, part.set_index("ts"), f"{config.dataset.symbol or 'panel'} ticker {name}", notes, rules)
    gaps = panel_gaps(panel, config.dataset.symbol or "panel")
    check_gaps(gaps, strict)
    r = config.rotation
    out = simulate_rotation(panel, r.top_k, r.lookback, r.rebalance_every, r.absolute, params)
    held = m.held_pnl(out.holdings.to_numpy(), out.close.to_numpy())
    metrics = m.compute_metrics(out.equity, config.capital, ppy, out.names_held, out.trades, held)
    value = np.nansum(out.holdings.to_numpy() * out.close.to_numpy(), axis=1)
    return BacktestResult(
        config=config, equity=out.equity, position=out.names_held.rename("position"),
        exposure=pd.Series(value / out.equity.to_numpy(), index=out.equity.index, name="exposure"),
        trades=out.trades, metrics=metrics,
        data_hash=data_hash(panel.set_index("ts")), data_gaps=gaps,
    )  # fmt: skip


def _run_options(
    config: RunConfig,
    bars: pd.DataFrame,
    params: EngineParams,
    ppy: int,
    chain: pd.DataFrame | None,
    strict: bool = False,
    notes: list[str] | None = None,
) -> BacktestResult:
    from primeflow_lib.research.options import simulate_options

    source = config.dataset.csv or config.dataset.symbol or "bars"
    frame = validate_bars(bars.drop(columns=["ticker", "vendor"], errors="ignore"), source)
    plausible(config, frame, source, notes)
    gaps = find_gaps(frame.index, source)
    check_gaps(gaps, strict)
    signal, signals, regimes, weights = blended_signal(config, frame, params, ppy)
    run = simulate_options(
        frame, signal.to_numpy(), config.options, capital=config.capital,
        threshold=config.entry.threshold, exit_threshold=config.entry.exit_threshold,
        signal_exit=config.exits.on_signal, max_bars=config.exits.max_bars,
        periods_per_year=ppy, chain=chain, symbol=config.dataset.symbol or source,
    )  # fmt: skip
    metrics = m.compute_metrics(run.equity, config.capital, ppy, run.position, run.trades, None)
    metrics["skipped_entries"] = run.skipped_entries
    trades = run.trades.copy()
    trades.insert(1, "ticker", config.dataset.symbol or source)
    legs = run.legs.copy()
    legs.insert(0, "ticker", config.dataset.symbol or source)
    return BacktestResult(
        config=config, equity=run.equity, position=run.position,
        exposure=pd.Series(np.nan, index=run.equity.index, name="exposure"), trades=trades,
        metrics=metrics, signal=signal, signals=signals, regimes=regimes, blend_weights=weights,
        data_hash=data_hash(frame), legs=legs, iv_source=run.iv_source, iv_note=run.note,
        data_gaps=gaps,
    )  # fmt: skip
