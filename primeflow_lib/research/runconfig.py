"""``RunConfig``: everything that defines a backtest run, its ``config_id``, and the run id of
the config on given bars.

A config is plain data (JSON/YAML round-trip) grouped in sections::

    dataset:    symbol, timeframe (1d | 1m 5m 15m 30m 1h 4h), start, end (ISO dates, inclusive),
                vendor, csv (path of the user's CSV instead of the warehouse), universe
                (tickers of a momentum_rotation panel)
    capital:    starting cash, USD
    mode:       "equities" | "options" (option structures priced by Black-Scholes-Merton;
                see the options section and docs/options.md)
    strategy:   "signals" (indicators -> blend -> engine), "buy_and_hold", "momentum_rotation"
    indicators: {key: {params: {...}, auto_tune: false}}; key = registry name or "name:label"
    regime:     parameters of the MFT regime engine (used by regime_weighted and phi_mft)
    blend:      mode (weighted_sum | voting | regime_weighted | phiai), weights,
                regime_weights {REGIME: {indicator: w}}, min_strength (voting), window, train,
                min_train (phiai)
    entry:      threshold, exit_threshold, allow_short, on (level | cross)
    exits:      stop_loss, take_profit, trailing_stop (fractions), max_bars, on_signal
    execution:  fill (next_open | close), commission_pct, commission_per_share, slippage_pct
    sizing:     mode (percent_equity | fixed_cash), value (fraction of equity or USD), fractional
    rotation:   top_k, lookback, rebalance_every, absolute (momentum_rotation only)
    options:    mode "options" only: structures per signal class, DTE, strikes, vol source,
                fills, sizing and option exits (:mod:`primeflow_lib.research.options.spec`)
    metric:     the evaluation metric (sharpe, sortino, calmar, ...)
    description, tags: free text for people

Run identity
------------
``config_id`` = the first 16 hex digits of SHA-256 over the *canonical JSON* of the config:
every default filled in, indicator parameters resolved against the registry (``{}`` and the
explicit defaults hash the same), numbers as floats, keys sorted, plus the engine version.
``description`` and ``tags`` are **excluded**: they describe a run, they do not change its
numbers. ``entry.on`` enters the hash only when it is ``"cross"``: the default ``"level"`` is
the rule every earlier config used, so their ids do not change.

A run's ``run_id`` (:meth:`RunConfig.run_id_for`) = 16 hex digits of SHA-256 over the
``config_id`` **and the data hash** of the bars it saw
(:func:`primeflow_lib.research.data.data_hash`): the same config on changed bars is a different
run, so the run history never mixes two results under one id; the same config on the same
bars is the same run with the same numbers, and recording it again keeps the stored rows
(:func:`primeflow_lib.research.history.write_run`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from primeflow_lib.research.blend import BLEND_MODES
from primeflow_lib.research.engine import ENTRY_RULES, FILLS, SIZE_MODES, EngineParams
from primeflow_lib.research.errors import ResearchError, RunConfigError
from primeflow_lib.research.metrics import EVALUATION_METRICS
from primeflow_lib.research.options.spec import OptionsSpec
from primeflow_lib.research.regime import REGIMES
from primeflow_lib.research.timeframes import TIMEFRAMES

# Bump when a change to the engine, indicators or metrics changes the numbers of an unchanged
# config, so old and new runs get different ids.
ENGINE_VERSION = "1"
MODES = ("equities", "options")
STRATEGIES = ("signals", "buy_and_hold", "momentum_rotation")


def _iso(value: Any, path: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return dt.date.fromisoformat(str(value)).isoformat()
    except ValueError:
        raise RunConfigError(f"{path}: {value!r} is not a date (YYYY-MM-DD)") from None


def _number(value: Any, path: str, *, optional: bool = False, integer: bool = False):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RunConfigError(f"{path}: {value!r} is not a number")
    if integer:
        if float(value) != int(value):
            raise RunConfigError(f"{path}: {value!r} must be a whole number")
        return int(value)
    return float(value)


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise RunConfigError(f"{path}: {value!r} must be true or false")
    return value


def _text(value: Any, path: str, *, optional: bool = False, choices=None) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise RunConfigError(f"{path}: {value!r} must be text")
    if choices is not None and value not in choices:
        raise RunConfigError(f"{path}: {value!r} is not one of {list(choices)}")
    return value


def _mapping(value: Any, path: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise RunConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
    return value


def _check_keys(cls, data: Mapping, path: str) -> None:
    known = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in known:
            raise RunConfigError(f"{path}: unknown key {key!r}; known keys are {known}")


@dataclass(frozen=True)
class Dataset:
    """Which bars: ``symbol``, ``timeframe``, ``start``/``end`` (inclusive ISO dates), ``vendor``,
    ``csv`` (the user's file instead of the warehouse), ``universe`` (rotation tickers)."""

    symbol: str = ""
    timeframe: str = "1d"
    start: str | None = None
    end: str | None = None
    vendor: str | None = None
    csv: str | None = None
    universe: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "dataset") -> Dataset:
        _check_keys(cls, d, path)
        universe = d.get("universe", ())
        if isinstance(universe, str) or not all(isinstance(u, str) for u in universe):
            raise RunConfigError(f"{path}.universe: {universe!r} must be a list of tickers")
        return cls(
            symbol=_text(d.get("symbol", ""), f"{path}.symbol"),
            timeframe=_text(d.get("timeframe", "1d"), f"{path}.timeframe", choices=TIMEFRAMES),
            start=_iso(d.get("start"), f"{path}.start"),
            end=_iso(d.get("end"), f"{path}.end"),
            vendor=_text(d.get("vendor"), f"{path}.vendor", optional=True),
            csv=_text(d.get("csv"), f"{path}.csv", optional=True),
            universe=tuple(universe),
        )


@dataclass(frozen=True)
class IndicatorSpec:
    """One indicator of a run: its parameters (defaults for the rest) and the auto-tune flag."""

    params: dict[str, float] = field(default_factory=dict)
    auto_tune: bool = False

    @classmethod
    def from_dict(cls, d: Mapping | None, path: str) -> IndicatorSpec:
        d = {} if d is None else _mapping(d, path)
        _check_keys(cls, d, path)
        params = _mapping(d.get("params", {}) or {}, f"{path}.params")
        return cls(
            params={str(k): _number(v, f"{path}.params.{k}") for k, v in params.items()},
            auto_tune=_bool(d.get("auto_tune", False), f"{path}.auto_tune"),
        )


@dataclass(frozen=True)
class BlendSpec:
    """How indicator signals combine (see :mod:`primeflow_lib.research.blend`)."""

    mode: str = "weighted_sum"
    weights: dict[str, float] | None = None
    regime_weights: dict[str, dict[str, float]] | None = None
    min_strength: float = 0.0
    window: int = 63
    train: int | None = None
    min_train: int = 63

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "blend") -> BlendSpec:
        _check_keys(cls, d, path)
        weights = d.get("weights")
        if weights is not None:
            weights = {
                str(k): _number(v, f"{path}.weights.{k}")
                for k, v in _mapping(weights, f"{path}.weights").items()
            }
        rw = d.get("regime_weights")
        if rw is not None:
            rw_out = {}
            for regime, row in _mapping(rw, f"{path}.regime_weights").items():
                if regime not in REGIMES:
                    raise RunConfigError(
                        f"{path}.regime_weights: unknown regime {regime!r}; "
                        f"regimes are {list(REGIMES)}"
                    )
                rp = f"{path}.regime_weights.{regime}"
                rw_out[regime] = {
                    str(k): _number(v, f"{rp}.{k}") for k, v in _mapping(row, rp).items()
                }
            rw = rw_out
        return cls(
            mode=_text(d.get("mode", "weighted_sum"), f"{path}.mode", choices=BLEND_MODES),
            weights=weights,
            regime_weights=rw,
            min_strength=_number(d.get("min_strength", 0.0), f"{path}.min_strength"),
            window=_number(d.get("window", 63), f"{path}.window", integer=True),
            train=_number(d.get("train"), f"{path}.train", optional=True, integer=True),
            min_train=_number(d.get("min_train", 63), f"{path}.min_train", integer=True),
        )


@dataclass(frozen=True)
class EntrySpec:
    """Signal gating: enter at ``|signal| >= threshold``; signal exits at ``exit_threshold`` on
    the other side; shorts only with ``allow_short``. ``on``: ``"level"`` (default) enters
    while the signal is beyond the threshold, including the first bar after warm-up;
    ``"cross"`` only on the bar it crosses the threshold (see
    :mod:`primeflow_lib.research.engine`)."""

    threshold: float = 0.0
    exit_threshold: float = 0.0
    allow_short: bool = False
    on: str = "level"

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "entry") -> EntrySpec:
        _check_keys(cls, d, path)
        return cls(
            threshold=_number(d.get("threshold", 0.0), f"{path}.threshold"),
            exit_threshold=_number(d.get("exit_threshold", 0.0), f"{path}.exit_threshold"),
            allow_short=_bool(d.get("allow_short", False), f"{path}.allow_short"),
            on=_text(d.get("on", "level"), f"{path}.on", choices=ENTRY_RULES),
        )


@dataclass(frozen=True)
class ExitSpec:
    """Protective exits (fractions of the entry price, None = off), time exit in bars, and
    whether an opposite signal closes the position."""

    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    max_bars: int | None = None
    on_signal: bool = True

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "exits") -> ExitSpec:
        _check_keys(cls, d, path)
        return cls(
            stop_loss=_number(d.get("stop_loss"), f"{path}.stop_loss", optional=True),
            take_profit=_number(d.get("take_profit"), f"{path}.take_profit", optional=True),
            trailing_stop=_number(d.get("trailing_stop"), f"{path}.trailing_stop", optional=True),
            max_bars=_number(d.get("max_bars"), f"{path}.max_bars", optional=True, integer=True),
            on_signal=_bool(d.get("on_signal", True), f"{path}.on_signal"),
        )


@dataclass(frozen=True)
class ExecutionSpec:
    """Fill timing and costs: commission as a fraction of notional and USD per share, slippage
    as a fraction of price."""

    fill: str = "next_open"
    commission_pct: float = 0.0
    commission_per_share: float = 0.0
    slippage_pct: float = 0.0

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "execution") -> ExecutionSpec:
        _check_keys(cls, d, path)
        return cls(
            fill=_text(d.get("fill", "next_open"), f"{path}.fill", choices=FILLS),
            commission_pct=_number(d.get("commission_pct", 0.0), f"{path}.commission_pct"),
            commission_per_share=_number(
                d.get("commission_per_share", 0.0), f"{path}.commission_per_share"
            ),
            slippage_pct=_number(d.get("slippage_pct", 0.0), f"{path}.slippage_pct"),
        )


@dataclass(frozen=True)
class SizingSpec:
    """``percent_equity`` with ``value`` a fraction (1.0 = all equity) or ``fixed_cash`` with
    ``value`` in USD; ``fractional`` shares or whole shares."""

    mode: str = "percent_equity"
    value: float = 1.0
    fractional: bool = True

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "sizing") -> SizingSpec:
        _check_keys(cls, d, path)
        return cls(
            mode=_text(d.get("mode", "percent_equity"), f"{path}.mode", choices=SIZE_MODES),
            value=_number(d.get("value", 1.0), f"{path}.value"),
            fractional=_bool(d.get("fractional", True), f"{path}.fractional"),
        )


@dataclass(frozen=True)
class RotationSpec:
    """momentum_rotation: hold the ``top_k`` tickers by ``lookback``-bar return, re-ranked every
    ``rebalance_every`` bars; with ``absolute`` only tickers with a positive return qualify."""

    top_k: int = 3
    lookback: int = 63
    rebalance_every: int = 21
    absolute: bool = True

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "rotation") -> RotationSpec:
        _check_keys(cls, d, path)
        out = cls(
            top_k=_number(d.get("top_k", 3), f"{path}.top_k", integer=True),
            lookback=_number(d.get("lookback", 63), f"{path}.lookback", integer=True),
            rebalance_every=_number(
                d.get("rebalance_every", 21), f"{path}.rebalance_every", integer=True
            ),
            absolute=_bool(d.get("absolute", True), f"{path}.absolute"),
        )
        for name in ("top_k", "lookback", "rebalance_every"):
            if getattr(out, name) < 1:
                raise RunConfigError(f"{path}.{name}: {getattr(out, name)} must be >= 1")
        return out


_SECTIONS = {
    "dataset": Dataset, "blend": BlendSpec, "entry": EntrySpec, "exits": ExitSpec,
    "execution": ExecutionSpec, "sizing": SizingSpec, "rotation": RotationSpec,
}  # fmt: skip
_SECTIONS["options"] = OptionsSpec  # mode: options


@dataclass(frozen=True)
class RunConfig:
    """A complete, reproducible description of one backtest (see the module docstring)."""

    dataset: Dataset = field(default_factory=Dataset)
    capital: float = 100_000.0
    mode: str = "equities"
    strategy: str = "signals"
    indicators: dict[str, IndicatorSpec] = field(default_factory=dict)
    regime: dict[str, float] = field(default_factory=dict)
    blend: BlendSpec = field(default_factory=BlendSpec)
    entry: EntrySpec = field(default_factory=EntrySpec)
    exits: ExitSpec = field(default_factory=ExitSpec)
    execution: ExecutionSpec = field(default_factory=ExecutionSpec)
    sizing: SizingSpec = field(default_factory=SizingSpec)
    rotation: RotationSpec = field(default_factory=RotationSpec)
    options: OptionsSpec = field(default_factory=OptionsSpec)
    metric: str = "sharpe"
    description: str = ""
    tags: tuple[str, ...] = ()

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Mapping) -> RunConfig:
        """Build from plain data; unknown keys and wrong types raise :class:`RunConfigError`
        naming the key path (``exits.stop_loss: 'five' is not a number``)."""
        data = _mapping(data, "RunConfig")
        _check_keys(cls, data, "RunConfig")
        kwargs: dict[str, Any] = {}
        for name, section in _SECTIONS.items():
            if name in data:
                kwargs[name] = section.from_dict(_mapping(data[name] or {}, name), name)
        if "indicators" in data:
            inds = _mapping(data["indicators"] or {}, "indicators")
            kwargs["indicators"] = {
                str(k): IndicatorSpec.from_dict(v, f"indicators.{k}") for k, v in inds.items()
            }
        if "regime" in data:
            reg = _mapping(data["regime"] or {}, "regime")
            kwargs["regime"] = {str(k): _number(v, f"regime.{k}") for k, v in reg.items()}
        if "capital" in data:
            kwargs["capital"] = _number(data["capital"], "capital")
        for key, choices in (
            ("mode", MODES),
            ("strategy", STRATEGIES),
            ("metric", tuple(EVALUATION_METRICS)),
        ):
            if key in data:
                kwargs[key] = _text(data[key], key, choices=choices)
        if "description" in data:
            kwargs["description"] = _text(data["description"] or "", "description")
        if "tags" in data:
            tags = data["tags"] or ()
            if isinstance(tags, str) or not all(isinstance(t, str) for t in tags):
                raise RunConfigError(f"tags: {tags!r} must be a list of text")
            kwargs["tags"] = tuple(tags)
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> RunConfig:
        """Parse JSON text (see :meth:`from_dict`)."""
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as exc:
            raise RunConfigError(f"RunConfig JSON: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Read a YAML (``.yaml``/``.yml``) or JSON file."""
        p = Path(path)
        if not p.is_file():
            raise RunConfigError(f"RunConfig file not found: {p}")
        text = p.read_text()
        try:
            data = (
                yaml.safe_load(text) if p.suffix.lower() in (".yaml", ".yml") else json.loads(text)
            )
        except (yaml.YAMLError, json.JSONDecodeError) as exc:
            raise RunConfigError(f"{p}: cannot parse: {exc}") from None
        try:
            return cls.from_dict(data or {})
        except RunConfigError as exc:
            raise RunConfigError(f"{p}: {exc}") from None

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with top-level fields replaced. A section given as a dict is *merged* into the
        current one (``cfg.replace(exits={"stop_loss": 0.05})`` keeps the other exits);
        ``indicators`` given as ``{key: params}`` or ``{key: IndicatorSpec}`` replaces them all."""
        for name, section in _SECTIONS.items():
            if isinstance(changes.get(name), Mapping):
                current = dataclasses.asdict(getattr(self, name))
                changes[name] = section.from_dict({**current, **changes[name]}, name)
        if isinstance(changes.get("indicators"), Mapping):
            changes["indicators"] = {
                k: v
                if isinstance(v, IndicatorSpec)
                else IndicatorSpec.from_dict({"params": v or {}}, f"indicators.{k}")
                for k, v in changes["indicators"].items()
            }
        if "tags" in changes:
            changes["tags"] = tuple(changes["tags"])
        return dataclasses.replace(self, **changes)

    # --- serialisation -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain data with every field (JSON/YAML-ready; tuples become lists)."""
        d = dataclasses.asdict(self)
        d["dataset"]["universe"] = list(self.dataset.universe)
        d["tags"] = list(self.tags)
        d["options"] = self.options.to_dict()
        return d

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text that :meth:`from_json` reads back to an equal config."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    def canonical(self) -> dict[str, Any]:
        """The identity of the run: :meth:`to_dict` without description/tags, indicator and
        regime parameters resolved to full sets, numbers as floats, plus ``engine_version``."""
        from primeflow_lib.research import indicators, regime

        d = self.to_dict()
        d.pop("description")
        d.pop("tags")
        resolved = {}
        for key, spec in self.indicators.items():
            try:
                params = indicators.get(key).resolve(spec.params)
            except ResearchError:
                params = dict(spec.params)  # invalid configs still get an id; runs reject them
            resolved[key] = {"params": params, "auto_tune": spec.auto_tune}
        d["indicators"] = resolved
        with contextlib.suppress(ResearchError):  # invalid regime params: the run rejects them
            d["regime"] = regime.resolve(self.regime)
        if d["entry"]["on"] == "level":
            # the default rule predates the key: leaving it out keeps every earlier run_id
            del d["entry"]["on"]
        d["engine_version"] = ENGINE_VERSION
        if self.mode != "options":
            d.pop("options")  # equity runs keep the ids they had before the options section
        return _floats(d)

    @property
    def config_id(self) -> str:
        """First 16 hex digits of SHA-256 of the canonical JSON (see the module docstring)."""
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def run_id_for(self, data_hash: str) -> str:
        """The run id of this config on bars whose :func:`~primeflow_lib.research.data.data_hash`
        is ``data_hash``: 16 hex digits of SHA-256 over ``config_id:data_hash``."""
        if not data_hash:
            raise RunConfigError("run id: the bars' data hash is empty (run the config on bars first)")
        return hashlib.sha256(f"{self.config_id}:{data_hash}".encode()).hexdigest()[:16]

    # --- run-time checks ---------------------------------------------------------------------

    def check_runnable(self) -> None:
        """Raise :class:`RunConfigError` for anything a run cannot do: options mode, auto-tune
        without dataset.start, unknown indicators or parameters, weights naming unknown indicators, bad engine values."""
        if self.mode == "options":
            if self.strategy not in ("signals", "buy_and_hold"):
                raise RunConfigError(
                    f"mode 'options': strategy {self.strategy!r} cannot drive option structures; "
                    "use 'signals' or 'buy_and_hold'"
                )
            if self.dataset.timeframe != "1d":
                raise RunConfigError(
                    f"dataset.timeframe: {self.dataset.timeframe!r}: mode 'options' runs on daily "
                    "bars (1d)"
                )
            self.options.check()
        tuned = [k for k, s in self.indicators.items() if s.auto_tune]
        if tuned and not self.dataset.start:
            raise RunConfigError(
                f"indicators.{tuned[0]}.auto_tune: needs dataset.start (the tuner uses the bars "
                "strictly before it; the backtest runs from it)"
            )
        if self.strategy == "signals" and not self.indicators:
            raise RunConfigError("strategy 'signals' needs at least one entry under indicators")
        from primeflow_lib.research import indicators, regime

        for key, spec in self.indicators.items():
            try:
                indicators.get(key).resolve(spec.params)
            except ResearchError as exc:
                raise RunConfigError(f"indicators.{key}: {exc}") from None
        try:
            regime.resolve(self.regime)
        except ResearchError as exc:
            raise RunConfigError(f"regime: {exc}") from None
        names = set(self.indicators)
        if self.blend.weights is not None and set(self.blend.weights) != names:
            raise RunConfigError(
                f"blend.weights must name exactly the indicators {sorted(names)}; "
                f"got {sorted(self.blend.weights)}"
            )
        for r, row in (self.blend.regime_weights or {}).items():
            bad = sorted(set(row) - names)
            if bad:
                raise RunConfigError(f"blend.regime_weights.{r}: unknown indicator {bad[0]!r}")
        if not self.capital > 0:
            raise RunConfigError(f"capital: {self.capital!r} must be > 0")
        self.engine_params()

    def engine_params(self) -> EngineParams:
        """The engine settings of this config (validated by :class:`EngineParams`)."""
        return EngineParams(
            threshold=self.entry.threshold,
            exit_threshold=self.entry.exit_threshold,
            allow_short=self.entry.allow_short,
            signal_exit=self.exits.on_signal,
            fill=self.execution.fill,
            stop_loss=self.exits.stop_loss,
            take_profit=self.exits.take_profit,
            trailing_stop=self.exits.trailing_stop,
            max_bars=self.exits.max_bars,
            commission_pct=self.execution.commission_pct,
            commission_per_share=self.execution.commission_per_share,
            slippage_pct=self.execution.slippage_pct,
            size_mode=self.sizing.mode,
            size_value=self.sizing.value,
            fractional=self.sizing.fractional,
            capital=self.capital,
            entry_on=self.entry.on,
        )


def _floats(x: Any) -> Any:
    """Numbers as floats (so 10 and 10.0 hash alike); bools, text and None unchanged."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, (int, float)):
        return float(x)
    if isinstance(x, Mapping):
        return {str(k): _floats(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_floats(v) for v in x]
    return x
