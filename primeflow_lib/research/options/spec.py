"""The ``options:`` section of a RunConfig (used when ``mode: options``).

=======================  =============================================================  =========
key                      meaning                                                        default
=======================  =============================================================  =========
bullish / bearish /      structure opened when the blended signal is bullish            bull_put /
neutral                  (``s >= entry.threshold``), bearish (``s <= -threshold``) or   bear_call /
                         neutral (``|s| < threshold``); null = open nothing             null
dte                      target calendar days to expiry (>= 1)                          45
dte_rule                 nearest | first_after                                          nearest
expiry_cycle             monthly (third Friday) | weekly (every Friday)                 monthly
calendar_gap_days        calendars: back expiry target = dte + this                     28
strike_by                delta | moneyness | offset (rule of ``anchor`` legs)           delta
short_delta, long_delta  target ``|delta|`` of short / long anchor legs, in (0, 1)      0.30, 0.50
moneyness                fraction out of the money (0.05 = 5 %)                          0.0
offset                   USD out of the money                                           0.0
width                    wing width, USD (> 0)                                          5.0
strike_grid              ``[[upper_price, increment], ..., [null, increment]]``          see below
iv_source                chain | realized                                               realized
vol_window               realised-vol window, bars (>= 2)                               20
vol_premium              multiplier on realised vol                                     1.0
put_skew                 vol points per unit log-moneyness below spot                   0.0
chain_max_age_days       oldest usable chain snapshot, calendar days                    5
rate, div_yield          constant (annual fraction) or ``{YYYY-MM-DD: value}`` series   0.0
                         (step function; sampled at the entry decision, held per trade)
fill_fraction            fill at mid +/- this fraction of the modelled half-spread      0.5
spread_min, spread_pct   half-spread = max(spread_min USD, spread_pct x mid) ...        0.01, 0.05
spread_otm, spread_dte   ... x (1 + spread_otm x |ln(K/S)| / (iv sqrt(T)))              0.25, 1.0
                         x (1 + spread_dte x max(0, 1 - DTE / 30))
commission               USD per contract per leg per fill                              0.65
sizing                   contracts | risk                                               contracts
contracts                structures per trade (sizing: contracts)                       1
risk_fraction            max loss <= this fraction of equity (sizing: risk)             0.02
profit_take              close at this fraction of max profit (credits) / of the        null
                         debit (debits)
stop                     close when the loss reaches this multiple of the credit/debit  null
dte_exit                 close when the front expiry is this many days away or fewer   null
=======================  =============================================================  =========

The signal exit and the time exit come from the run's ``exits.on_signal`` and
``exits.max_bars``. See ``docs/options.md`` for the whole manual.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from primeflow_lib.research.errors import RunConfigError
from primeflow_lib.research.options.contracts import DEFAULT_GRID
from primeflow_lib.research.options.structures import STRUCTURES

IV_SOURCES = ("chain", "realized")
DTE_RULES = ("nearest", "first_after")
EXPIRY_CYCLES = ("monthly", "weekly")
STRIKE_RULES = ("delta", "moneyness", "offset")
SIZINGS = ("contracts", "risk")
#: longest days to expiry a structure may target (LEAPS are listed up to about three years out)
MAX_DTE = 1100
UNBOUNDED = ("short_straddle", "short_strangle")


def _num(v: Any, path: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise RunConfigError(f"{path}: {v!r} is not a number")
    return float(v)


def _opt_num(v: Any, path: str) -> float | None:
    return None if v is None else _num(v, path)


def _int(v: Any, path: str) -> int:
    x = _num(v, path)
    if x != int(x):
        raise RunConfigError(f"{path}: {v!r} must be a whole number")
    return int(x)


def _choice(v: Any, path: str, choices) -> str:
    if v not in choices:
        raise RunConfigError(f"{path}: {v!r} is not one of {list(choices)}")
    return v


def _structure(v: Any, path: str) -> str | None:
    if v is None or v == "none":
        return None
    if v not in STRUCTURES:
        raise RunConfigError(f"{path}: {v!r} is not a structure; structures are {list(STRUCTURES)}")
    return v


def _series(v: Any, path: str) -> float | dict[str, float]:
    if isinstance(v, Mapping):
        if not v:
            raise RunConfigError(f"{path}: a series needs at least one date: value")
        out = {}
        for k, x in v.items():
            try:
                day = dt.date.fromisoformat(str(k)[:10]).isoformat()
            except ValueError:
                raise RunConfigError(f"{path}: {k!r} is not a date (YYYY-MM-DD)") from None
            out[day] = _num(x, f"{path}.{day}")
        return dict(sorted(out.items()))
    return _num(v, path)


def _grid(v: Any, path: str) -> tuple[tuple[float | None, float], ...]:
    try:
        rows = [tuple(r) for r in v]
    except TypeError:
        raise RunConfigError(f"{path}: {v!r} must be a list of [upper_price, increment]") from None
    if not rows or any(len(r) != 2 for r in rows):
        raise RunConfigError(f"{path}: {v!r} must be a list of [upper_price, increment]")
    out = []
    last = 0.0
    for i, (upper, inc) in enumerate(rows):
        inc = _num(inc, f"{path}[{i}].increment")
        if inc <= 0:
            raise RunConfigError(f"{path}[{i}].increment: {inc} must be > 0")
        final = i == len(rows) - 1
        if upper is None:
            if not final:
                raise RunConfigError(f"{path}[{i}]: only the last row may have no upper price")
        else:
            upper = _num(upper, f"{path}[{i}].upper_price")
            if upper <= last:
                raise RunConfigError(f"{path}[{i}].upper_price: {upper} must increase")
            last = upper
        out.append((upper, inc))
    if out[-1][0] is not None:
        out.append((None, out[-1][1]))
    return tuple(out)


@dataclass(frozen=True)
class OptionsSpec:
    """The ``options:`` section (see the module table)."""

    bullish: str | None = "bull_put"
    bearish: str | None = "bear_call"
    neutral: str | None = None
    dte: int = 45
    dte_rule: str = "nearest"
    expiry_cycle: str = "monthly"
    calendar_gap_days: int = 28
    strike_by: str = "delta"
    short_delta: float = 0.30
    long_delta: float = 0.50
    moneyness: float = 0.0
    offset: float = 0.0
    width: float = 5.0
    strike_grid: tuple = DEFAULT_GRID
    iv_source: str = "realized"
    vol_window: int = 20
    vol_premium: float = 1.0
    put_skew: float = 0.0
    chain_max_age_days: int = 5
    rate: float | dict = 0.0
    div_yield: float | dict = 0.0
    fill_fraction: float = 0.5
    spread_min: float = 0.01
    spread_pct: float = 0.05
    spread_otm: float = 0.25
    spread_dte: float = 1.0
    commission: float = 0.65
    sizing: str = "contracts"
    contracts: int = 1
    risk_fraction: float = 0.02
    profit_take: float | None = None
    stop: float | None = None
    dte_exit: int | None = None

    @classmethod
    def from_dict(cls, d: Mapping, path: str = "options") -> OptionsSpec:
        """Validate plain data; every error names ``options.<key>`` and the value."""
        known = [f.name for f in dataclasses.fields(cls)]
        for key in d:
            if key not in known:
                raise RunConfigError(f"{path}: unknown key {key!r}; known keys are {known}")
        base = cls()
        g = {k: d.get(k, getattr(base, k)) for k in known}
        p = lambda k: f"{path}.{k}"  # noqa: E731
        out = cls(
            bullish=_structure(g["bullish"], p("bullish")),
            bearish=_structure(g["bearish"], p("bearish")),
            neutral=_structure(g["neutral"], p("neutral")),
            dte=_int(g["dte"], p("dte")),
            dte_rule=_choice(g["dte_rule"], p("dte_rule"), DTE_RULES),
            expiry_cycle=_choice(g["expiry_cycle"], p("expiry_cycle"), EXPIRY_CYCLES),
            calendar_gap_days=_int(g["calendar_gap_days"], p("calendar_gap_days")),
            strike_by=_choice(g["strike_by"], p("strike_by"), STRIKE_RULES),
            short_delta=_num(g["short_delta"], p("short_delta")),
            long_delta=_num(g["long_delta"], p("long_delta")),
            moneyness=_num(g["moneyness"], p("moneyness")),
            offset=_num(g["offset"], p("offset")),
            width=_num(g["width"], p("width")),
            strike_grid=_grid(g["strike_grid"], p("strike_grid")),
            iv_source=_choice(g["iv_source"], p("iv_source"), IV_SOURCES),
            vol_window=_int(g["vol_window"], p("vol_window")),
            vol_premium=_num(g["vol_premium"], p("vol_premium")),
            put_skew=_num(g["put_skew"], p("put_skew")),
            chain_max_age_days=_int(g["chain_max_age_days"], p("chain_max_age_days")),
            rate=_series(g["rate"], p("rate")),
            div_yield=_series(g["div_yield"], p("div_yield")),
            fill_fraction=_num(g["fill_fraction"], p("fill_fraction")),
            spread_min=_num(g["spread_min"], p("spread_min")),
            spread_pct=_num(g["spread_pct"], p("spread_pct")),
            spread_otm=_num(g["spread_otm"], p("spread_otm")),
            spread_dte=_num(g["spread_dte"], p("spread_dte")),
            commission=_num(g["commission"], p("commission")),
            sizing=_choice(g["sizing"], p("sizing"), SIZINGS),
            contracts=_int(g["contracts"], p("contracts")),
            risk_fraction=_num(g["risk_fraction"], p("risk_fraction")),
            profit_take=_opt_num(g["profit_take"], p("profit_take")),
            stop=_opt_num(g["stop"], p("stop")),
            dte_exit=None if g["dte_exit"] is None else _int(g["dte_exit"], p("dte_exit")),
        )
        out.check(path)
        return out

    def check(self, path: str = "options") -> None:
        """Range checks (the Bad input list of docs/options.md)."""

        def bad(key: str, why: str) -> RunConfigError:
            return RunConfigError(f"{path}.{key}: {getattr(self, key)!r} {why}")

        if self.dte < 1:
            raise bad("dte", "is shorter than one session (must be >= 1 calendar day)")
        if self.dte > MAX_DTE:
            raise bad("dte", f"is longer than any listed option (at most {MAX_DTE} calendar days)")
        for key in ("short_delta", "long_delta"):
            if not 0.0 < getattr(self, key) < 1.0:
                raise bad(key, "must be inside (0, 1)")
        if not self.width > 0:
            raise bad("width", "must be > 0 (USD between the strikes of a wing)")
        if self.vol_window < 2:
            raise bad("vol_window", "must be >= 2 bars")
        if not self.vol_premium > 0:
            raise bad("vol_premium", "must be > 0")
        if self.put_skew < 0:
            raise bad("put_skew", "must be >= 0")
        if self.calendar_gap_days < 1:
            raise bad("calendar_gap_days", "must be >= 1")
        if self.chain_max_age_days < 0:
            raise bad("chain_max_age_days", "must be >= 0")
        if not 0.0 <= self.moneyness < 1.0:
            raise bad("moneyness", "must be in [0, 1)")
        if self.offset < 0:
            raise bad("offset", "must be >= 0 USD")
        for key in ("fill_fraction", "spread_min", "spread_pct", "spread_otm", "spread_dte",
                    "commission"):  # fmt: skip
            if getattr(self, key) < 0:
                raise bad(key, "must be >= 0")
        if self.contracts < 1:
            raise bad("contracts", "must be >= 1")
        if not 0.0 < self.risk_fraction <= 1.0:
            raise bad("risk_fraction", "must be in (0, 1]")
        for key in ("profit_take", "stop"):
            v = getattr(self, key)
            if v is not None and not v > 0:
                raise bad(key, "must be > 0 (or null for off)")
        if self.dte_exit is not None and not 0 <= self.dte_exit <= MAX_DTE:
            raise bad("dte_exit", f"must be 0 .. {MAX_DTE} days (or null for off)")
        if self.bullish is None and self.bearish is None and self.neutral is None:
            raise RunConfigError(
                f"{path}: bullish, bearish and neutral are all null: the run would never trade"
            )
        if self.sizing == "risk":
            for cls_name in ("bullish", "bearish", "neutral"):
                s = getattr(self, cls_name)
                if s in UNBOUNDED:
                    raise RunConfigError(
                        f"{path}.{cls_name}: {s!r} has unlimited loss, so sizing: risk cannot "
                        "size it; use sizing: contracts"
                    )

    def structure_map(self) -> dict[str, str | None]:
        """``{"bullish": ..., "bearish": ..., "neutral": ...}``."""
        return {"bullish": self.bullish, "bearish": self.bearish, "neutral": self.neutral}

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON/YAML-ready)."""
        d = dataclasses.asdict(self)
        d["strike_grid"] = [list(r) for r in self.strike_grid]
        return d
