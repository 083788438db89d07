"""Domain records passed between the flow engine, alerts and paper trading.

Batches travel as DataFrames whose columns are the warehouse declarations
(:mod:`primeflow_lib.schema`); these dataclasses are the one-record view of the same rows, used
where code handles a single item (formatting an alert, opening a paper position).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SignalKind = Literal["SCALP", "DAY_TRADE", "SWING"]
SIGNAL_KINDS: tuple[str, ...] = ("SCALP", "DAY_TRADE", "SWING")
Direction = Literal["BULLISH", "BEARISH"]


@dataclass(frozen=True)
class FlowPrint:
    """One option trade as received (see ``flow.option_prints`` for units)."""

    trade_date: dt.date
    print_id: str
    option_symbol: str
    underlying: str
    sip_ts: dt.datetime
    sip_timestamp: int
    exchange: int
    price: float
    size: int
    conditions: str
    correction: int | None
    bid: float | None
    ask: float | None
    seq: int
    vendor: str


@dataclass(frozen=True)
class Signal:
    """A scored setup a trader could act on.

    ``signal_id`` is a stable hash of the event and the strategy, so re-scoring the same batch
    gives the same id. ``context`` is the market snapshot at the event's time (VWAP distance,
    RVOL, trends, regime, spot); ``rules_passed`` / ``rules_failed`` name every gate evaluated.
    """

    signal_id: str
    trade_date: dt.date
    ts: dt.datetime
    kind: str
    ticker: str
    option_symbol: str
    expiry: dt.date
    right: str
    strike: float
    direction: str
    strength: float
    tags: tuple[str, ...]
    event_id: str
    event_type: str
    side: str
    premium: float
    size: int
    avg_price: float
    n_exchanges: int
    spot: float | None
    dte: int
    vendor: str
    context: Mapping[str, Any] = field(default_factory=dict)
    rules_passed: tuple[str, ...] = ()
    rules_failed: tuple[str, ...] = ()
    print_ids: tuple[str, ...] = ()

    @property
    def short_id(self) -> str:
        """First 8 characters of the id: shown in every alert so people can spot duplicates."""
        return self.signal_id[:8]

    @property
    def is_synthetic(self) -> bool:
        return self.vendor == "synthetic"

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Signal:
        """Build from a ``flow.signals`` row (tags comma-joined, JSON text for the rest)."""

        def _tuple(v: Any) -> tuple[str, ...]:
            if v is None:
                return ()
            if isinstance(v, str):
                v = v.strip()
                if v.startswith("["):
                    return tuple(json.loads(v))
                return tuple(t for t in v.split(",") if t)
            return tuple(v)

        ctx = row.get("context_json") if "context_json" in row else row.get("context")
        if isinstance(ctx, str):
            ctx = json.loads(ctx)
        kwargs = {f: row[f] for f in cls.__dataclass_fields__ if f in row and f not in (
            "tags", "context", "rules_passed", "rules_failed", "print_ids")}
        return cls(
            **kwargs,
            tags=_tuple(row.get("tags")),
            context=dict(ctx or {}),
            rules_passed=_tuple(row.get("rules_passed")),
            rules_failed=_tuple(row.get("rules_failed")),
            print_ids=_tuple(row.get("print_ids")),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _from_row(cls: type, row: Mapping[str, Any]) -> Any:
    return cls(**{f: row.get(f) for f in cls.__dataclass_fields__})


@dataclass(frozen=True)
class FlowEvent:
    """One order built from prints (a ``flow.flow_events`` row; units in the declaration)."""

    trade_date: dt.date
    event_id: str
    ticker: str
    option_symbol: str
    expiry: dt.date
    right: str
    strike: float
    event_type: str
    side: str
    side_confidence: str
    sentiment: str
    non_directional: bool
    is_late: bool
    n_prints: int
    n_exchanges: int
    size: int
    premium: float
    avg_price: float
    first_ts: dt.datetime
    last_ts: dt.datetime
    day_volume: int
    open_interest: int | None
    spot: float | None
    otm_pct: float | None
    dte: int
    print_ids: str
    vendor: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> FlowEvent:
        """Build from a ``flow.flow_events`` row (extra columns are ignored)."""
        return _from_row(cls, row)

    @property
    def print_id_list(self) -> tuple[str, ...]:
        """The prints behind the order, to trace an alert back to the tape."""
        return tuple(p for p in (self.print_ids or "").split(",") if p)


@dataclass(frozen=True)
class PaperPosition:
    """One paper trade (a ``live.paper_positions`` row; rules in ``primeflow_lib.flow.paper``)."""

    position_id: str
    signal_id: str
    trade_date: dt.date
    kind: str
    ticker: str
    direction: str
    status: str
    entry_ts: dt.datetime | None
    entry_price: float | None
    exit_reason: str | None
    exit_ts: dt.datetime | None
    exit_price: float | None
    mark_price: float | None
    return_pct: float | None
    option_pnl: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> PaperPosition:
        """Build from a ``live.paper_positions`` row (extra columns are ignored)."""
        return _from_row(cls, row)

    @property
    def is_open(self) -> bool:
        return self.status in ("PENDING", "OPEN")
