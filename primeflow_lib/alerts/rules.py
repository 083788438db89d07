"""Alert rules: which signal or order sends an alert to which channel.

A rule (in config under ``alerts.rules``, or saved on the workbench in ``live.alert_rules``)::

    name: big_spy_sweeps          # letters, digits, _ and -; unique
    applies_to: order             # signal (default): scored signals; order: every order
    when:                         # the filter language of primeflow_lib.flow.criteria
      ticker: [SPY, QQQ]
      event_type: sweep
      premium: {gte: 1000000}
      days_to_earnings: {gt: 5, or_unknown: true}
    channel: desk_discord         # declared under alerts.channels, or a sink name
    cooldown_minutes: 15          # per ticker and rule, in event time (0: none)
    daily_cap: 20                 # alerts of this rule per session (null: no cap)
    mode: medium                  # short | medium | deep_dive (default: by kind)
    enabled: true
    description: Large index sweeps

**Built-in rules**: the kind routing (``alerts.routing``) is three rules when
``alerts.builtin_rules`` is true (the default): ``route_scalp`` (kind SCALP ->
``routing.SCALP``), ``route_swing`` (SWING -> ``routing.SWING``) and ``route_default`` (every
other kind -> ``routing.default``); one ``route_<kind>`` per kind that ``alerts.routing`` names.
They never cool down or cap, so they send exactly what the routing always sent.

**Evaluation** (:func:`evaluate`) is a pure function of one enriched row
(:mod:`primeflow_lib.flow.enrich`), the rules and a :class:`RuleState`; it returns one
:class:`Hit` per matching rule with its outcome, checked in this order:

1. ``earnings_gate``: a signal whose kind is in ``earnings.gate_kinds`` and whose report is at
   most ``earnings.gate_days`` calendar days away (unknown earnings never gate);
2. ``daily_cap``: the rule already sent ``daily_cap`` alerts this session;
3. ``cooldown``: the rule alerted on this ticker less than ``cooldown_minutes`` before the row's
   event time (suppressed hits do not restart the cooldown);
4. ``alert``.

:func:`evaluate_rows` runs it over rows in event-time order and records each alert in the state.
The daily path (``flow/rule_alerts``), the near-live path (:func:`~primeflow_lib.alerts.outbox.
enqueue_alerts`) and a streaming path call the same functions; the near-live path rebuilds the
state of the session from ``live.rule_alerts`` (:meth:`RuleState.from_hits`), so cooldowns and
caps hold across batches, and a (rule, row) pair already evaluated is never evaluated again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from primeflow_lib.alerts.formatting import MODES
from primeflow_lib.alerts.routing import (
    DEFAULTABLE_CHANNELS,
    AlertConfigError,
    resolve_channels,
    route_channel,
)
from primeflow_lib.flow.criteria import (
    Condition,
    CriteriaError,
    criteria_to_yaml,
    matches,
    parse_criteria,
)
from primeflow_lib.models import SIGNAL_KINDS

APPLIES_TO = ("signal", "order")
OUTCOMES = ("alert", "cooldown", "daily_cap", "earnings_gate")
RULE_SOURCES = ("builtin", "config", "warehouse")
RULE_KEYS = ("name", "description", "applies_to", "when", "channel", "cooldown_minutes", "daily_cap",
             "mode", "enabled")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class RuleError(AlertConfigError):
    """A rule that cannot be used; the message names the rule, the key, the value and what was
    expected (several problems are reported together)."""


@dataclass(frozen=True)
class Rule:
    """One validated alert rule (see the module doc for the keys)."""

    name: str
    channel: str
    applies_to: str = "signal"
    when: tuple[Condition, ...] = ()
    cooldown_minutes: float = 0.0
    daily_cap: int | None = None
    mode: str | None = None
    enabled: bool = True
    description: str = ""
    source: str = "config"

    def matches(self, row: Mapping[str, Any]) -> bool:
        """The row is what the rule is on (a signal or an order) and passes every condition."""
        is_order = str(row.get("kind")) == "ORDER"
        return (is_order == (self.applies_to == "order")) and matches(self.when, row)

    def to_dict(self) -> dict[str, Any]:
        """The rule in config form (what ``live.alert_rules.rule_json`` stores)."""
        out: dict[str, Any] = {"name": self.name, "applies_to": self.applies_to, "when": criteria_to_yaml(self.when),
                               "channel": self.channel}
        if self.description:
            out["description"] = self.description
        out["cooldown_minutes"] = self.cooldown_minutes
        out["daily_cap"] = self.daily_cap
        if self.mode:
            out["mode"] = self.mode
        out["enabled"] = self.enabled
        return out


def _type_name(v: Any) -> str:
    return "null" if v is None else type(v).__name__


def parse_rule(spec: Any, *, source: str = "config", index: int | None = None) -> Rule:
    """Validate one rule mapping.

    Raises:
        RuleError: every problem found, each naming the rule (or its position), the key and the
            value: unknown key, wrong type, unknown field or operator in ``when``, bad mode.
    """
    where = f"alerts.rules[{index}]" if index is not None else "rule"
    if not isinstance(spec, Mapping):
        raise RuleError(f"{where}: must be a mapping with name, when and channel, got {spec!r}")
    name = spec.get("name")
    if isinstance(name, str) and _NAME.match(name):
        where = f"rule {name!r}"
    problems: list[str] = []
    for k in spec:
        if k not in RULE_KEYS:
            problems.append(f"{where}: unknown key {k!r} (allowed: {', '.join(RULE_KEYS)})")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append(f"{where}: name must be 1-64 letters, digits, _ or - (starting with a letter "
                        f"or digit), got {name!r}")
    on = spec.get("applies_to", "signal")
    if on not in APPLIES_TO:
        problems.append(f"{where}: applies_to must be one of {', '.join(APPLIES_TO)}, got {on!r}")
    channel = spec.get("channel")
    if not isinstance(channel, str) or not channel.strip():
        problems.append(f"{where}: channel must name a channel, got {channel!r} ({_type_name(channel)})")
    cooldown = spec.get("cooldown_minutes", 0)
    if isinstance(cooldown, bool) or not isinstance(cooldown, (int, float)) or not math.isfinite(cooldown) \
            or cooldown < 0:
        problems.append(f"{where}: cooldown_minutes must be a number >= 0, got {cooldown!r}")
        cooldown = 0
    cap = spec.get("daily_cap")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        problems.append(f"{where}: daily_cap must be a whole number >= 1 or null, got {cap!r}")
        cap = None
    mode = spec.get("mode")
    if mode is not None and mode not in MODES:
        problems.append(f"{where}: mode must be one of {', '.join(MODES)}, got {mode!r}")
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        problems.append(f"{where}: enabled must be true or false, got {enabled!r}")
    desc = spec.get("description", "")
    if not isinstance(desc, str):
        problems.append(f"{where}: description must be text, got {desc!r}")
    when: tuple[Condition, ...] = ()
    if on in APPLIES_TO:
        if "when" in spec and not isinstance(spec["when"], Mapping):
            problems.append(f"{where}: when must be a mapping of field -> condition, got {spec['when']!r}")
        else:
            for k, v in (spec.get("when") or {}).items():
                try:
                    when += parse_criteria({k: v}, scope=on, ctx=where, prefix="when.")
                except CriteriaError as exc:
                    problems.append(str(exc))
    if problems:
        raise RuleError("; ".join(problems))
    return Rule(name=name, channel=channel.strip(), applies_to=on, when=when, cooldown_minutes=float(cooldown),
                daily_cap=cap, mode=mode, enabled=enabled, description=desc, source=source)


def builtin_rules(cfg: Mapping[str, Any]) -> list[Rule]:
    """The kind routing as rules (see the module doc); empty when ``alerts.builtin_rules`` is
    false."""
    a = cfg.get("alerts", {}) or {}
    if not a.get("builtin_rules", True):
        return []
    routing = a.get("routing") or {}
    kinds = [k for k in SIGNAL_KINDS if k in routing]
    out = [Rule(name=f"route_{k.lower()}", channel=str(routing[k]), when=(Condition("kind", "eq", k),),
                source="builtin", description=f"kind routing: {k} -> alerts.routing.{k}") for k in kinds]
    default = route_channel(cfg, "default")  # routing.default, else telegram_main
    rest = (Condition("kind", "not_in", tuple(kinds)),) if kinds else ()
    out.append(Rule(name="route_default", channel=default, when=rest, source="builtin",
                    description="kind routing: every other kind -> alerts.routing.default"))
    return out


def config_rules(cfg: Mapping[str, Any]) -> list[Rule]:
    """``alerts.rules`` validated (every problem of every rule in one :class:`RuleError`)."""
    specs = (cfg.get("alerts", {}) or {}).get("rules") or []
    if not isinstance(specs, list):
        raise RuleError(f"alerts.rules must be a list of rules, got {specs!r}")
    out, problems = [], []
    for i, spec in enumerate(specs):
        try:
            out.append(parse_rule(spec, source="config", index=i))
        except RuleError as exc:
            problems.append(str(exc))
    if problems:
        raise RuleError("; ".join(problems))
    return out


def stored_rules(rows: pd.DataFrame | Iterable[Mapping[str, Any]] | None) -> list[Rule]:
    """Rules from ``live.alert_rules`` rows (``name``, ``rule_json``, ``enabled``)."""
    if rows is None:
        return []
    recs = rows.to_dict(orient="records") if isinstance(rows, pd.DataFrame) else list(rows)
    out, problems = [], []
    for r in recs:
        spec = r["rule_json"]
        try:
            spec = json.loads(spec) if isinstance(spec, str) else dict(spec)
            spec["enabled"] = bool(r.get("enabled", spec.get("enabled", True)))
            out.append(parse_rule(spec, source="warehouse"))
        except (RuleError, ValueError, TypeError) as exc:
            problems.append(f"live.alert_rules row {r.get('name')!r}: {exc}")
    if problems:
        raise RuleError("; ".join(problems))
    return out


def all_rules(cfg: Mapping[str, Any], stored: Sequence[Rule] = ()) -> list[Rule]:
    """Built-in, config and warehouse rules, checked together: unique names, and every channel
    declared under ``alerts.channels`` or a sink name. Disabled rules are included (with
    ``enabled`` false); evaluation skips them."""
    rules = [*builtin_rules(cfg), *config_rules(cfg), *stored]
    problems = check_rules(cfg, rules)
    if problems:
        raise RuleError("; ".join(problems))
    return rules


def check_rules(cfg: Mapping[str, Any], rules: Sequence[Rule]) -> list[str]:
    """Duplicate names and unknown channels among ``rules`` (no environment needed)."""
    declared = (cfg.get("alerts", {}) or {}).get("channels") or {}
    problems: list[str] = []
    seen: dict[str, str] = {}
    for r in rules:
        if r.name in seen:
            problems.append(f"rule {r.name!r}: defined twice ({seen[r.name]} and {r.source}); names are unique")
        seen[r.name] = r.source
        if r.channel not in declared and r.channel not in DEFAULTABLE_CHANNELS:
            problems.append(
                f"rule {r.name!r}: unknown channel {r.channel!r} (declared under alerts.channels: "
                f"{', '.join(sorted(declared)) or 'none'}; sink names: {', '.join(sorted(DEFAULTABLE_CHANNELS))})")
    return problems


def check_rule_secrets(cfg: Mapping[str, Any], rules: Sequence[Rule],
                       environ: Mapping[str, str] | None = None) -> list[str]:
    """Problems resolving the channels the enabled rules send to: a declared channel whose
    secret variable is unset or malformed is named with the rules that use it."""
    try:
        resolve_channels(cfg, environ)
    except AlertConfigError as exc:
        msg = str(exc)
        users: dict[str, list[str]] = {}
        for r in rules:
            if r.enabled:
                users.setdefault(r.channel, []).append(r.name)
        named = [f"channel {c!r} is used by rule(s) {', '.join(sorted(n))}" for c, n in sorted(users.items())
                 if f"channel {c!r}" in msg]
        return [msg] + named
    return []


# ------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Hit:
    """What one rule did with one row."""

    rule: str
    rule_source: str
    channel: str
    outcome: str
    row_id: str
    applies_to: str
    kind: str
    ticker: str
    ts: dt.datetime
    trade_date: dt.date
    premium: float
    days_to_earnings: int | None
    mode: str | None = None

    @property
    def hit_id(self) -> str:
        return hashlib.sha1(f"{self.rule}\x1f{self.row_id}".encode()).hexdigest()[:16]


@dataclass
class RuleState:
    """Memory of the alerts already sent: the last alert time per (rule, ticker), the alerts per
    (rule, session) and the (rule, row) pairs already evaluated."""

    last_alert: dict[tuple[str, str], dt.datetime] = field(default_factory=dict)
    sent: dict[tuple[str, dt.date], int] = field(default_factory=dict)
    seen: set[tuple[str, str]] = field(default_factory=set)

    def record(self, hit: Hit) -> None:
        """Remember ``hit`` (an alert starts a cooldown and counts toward the cap)."""
        self.seen.add((hit.rule, hit.row_id))
        if hit.outcome == "alert":
            key = (hit.rule, hit.ticker)
            prev = self.last_alert.get(key)
            if prev is None or hit.ts > prev:
                self.last_alert[key] = hit.ts
            day = (hit.rule, hit.trade_date)
            self.sent[day] = self.sent.get(day, 0) + 1

    @classmethod
    def from_hits(cls, rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> RuleState:
        """The state after the stored hits ``rows`` (``flow.rule_alerts`` / ``live.rule_alerts``
        columns)."""
        st = cls()
        recs = rows.to_dict(orient="records") if isinstance(rows, pd.DataFrame) else list(rows)
        for r in recs:
            st.record(Hit(rule=r["rule"], rule_source=r.get("rule_source", ""), channel=r["channel"],
                          outcome=r["outcome"], row_id=r["row_id"], applies_to=r.get("applies_to", ""),
                          kind=r.get("kind", ""), ticker=r["ticker"], ts=pd.Timestamp(r["ts"]).to_pydatetime(),
                          trade_date=pd.Timestamp(r["trade_date"]).date(), premium=float(r.get("premium") or 0),
                          days_to_earnings=None))
        return st


@dataclass(frozen=True)
class EarningsGate:
    """``earnings.gate_kinds`` / ``gate_days``: signals of these kinds send nothing when the
    report is 0..days calendar days away."""

    kinds: tuple[str, ...] = ()
    days: int = 5

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> EarningsGate:
        e = cfg.get("earnings", {}) or {}
        kinds = tuple(str(k).upper() for k in e.get("gate_kinds") or ())
        bad = [k for k in kinds if k not in SIGNAL_KINDS]
        if bad:
            raise RuleError(f"earnings.gate_kinds: unknown signal kind(s) {bad} (one of {', '.join(SIGNAL_KINDS)})")
        days = int(e.get("gate_days", 5))
        if days < 0:
            raise RuleError(f"earnings.gate_days must be >= 0, got {days}")
        return cls(kinds=kinds, days=days)

    def blocks(self, row: Mapping[str, Any]) -> bool:
        d = row.get("days_to_earnings")
        if d is None or (isinstance(d, float) and math.isnan(d)):
            return False
        return str(row.get("kind")) in self.kinds and 0 <= int(d) <= self.days


def clean_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row with pandas' NaN / NaT / NA turned into None, so optional fields read as unknown."""
    out = {}
    for k, v in row.items():
        if (isinstance(v, float) and math.isnan(v)) or type(v).__name__ in ("NaTType", "NAType"):
            v = None
        out[k] = v
    return out


def _row_id(row: Mapping[str, Any]) -> str:
    return str(row["event_id"] if str(row.get("kind")) == "ORDER" else row["signal_id"])


def _ts(row: Mapping[str, Any]) -> dt.datetime:
    v = row.get("ts") if row.get("ts") is not None else row.get("last_ts")
    return pd.Timestamp(v).to_pydatetime()


def evaluate(row: Mapping[str, Any], rules: Sequence[Rule], state: RuleState,
             gate: EarningsGate | None = None) -> list[Hit]:
    """The hits of ``row`` (an enriched signal or order) under ``rules`` given ``state``;
    pure: ``state`` is only read (see :func:`evaluate_rows` for recording)."""
    out: list[Hit] = []
    row_id = _row_id(row)
    ts = _ts(row)
    day = pd.Timestamp(row["trade_date"]).date()
    ticker = str(row["ticker"])
    dte = row.get("days_to_earnings")
    dte = None if dte is None or (isinstance(dte, float) and math.isnan(dte)) else int(dte)
    gated = gate is not None and gate.blocks(row)
    for r in rules:
        if not r.enabled or (r.name, row_id) in state.seen or not r.matches(row):
            continue
        last = state.last_alert.get((r.name, ticker))
        if gated and r.applies_to == "signal":
            outcome = "earnings_gate"
        elif r.daily_cap is not None and state.sent.get((r.name, day), 0) >= r.daily_cap:
            outcome = "daily_cap"
        elif r.cooldown_minutes > 0 and last is not None and ts - last < dt.timedelta(minutes=r.cooldown_minutes):
            outcome = "cooldown"
        else:
            outcome = "alert"
        out.append(Hit(rule=r.name, rule_source=r.source, channel=r.channel, outcome=outcome,
                       row_id=row_id, applies_to=r.applies_to, kind=str(row.get("kind")), ticker=ticker, ts=ts,
                       trade_date=day, premium=float(row.get("premium") or 0.0), days_to_earnings=dte,
                       mode=r.mode))
    return out


def evaluate_rows(rows: Iterable[Mapping[str, Any]], rules: Sequence[Rule], state: RuleState,
                  gate: EarningsGate | None = None) -> list[Hit]:
    """Evaluate ``rows`` in event-time order (ties by id), recording each hit in ``state``."""
    ordered = sorted(rows, key=lambda r: (_ts(r), _row_id(r)))
    hits: list[Hit] = []
    for row in ordered:
        for h in evaluate(row, rules, state, gate):
            state.record(h)
            hits.append(h)
    return hits


def hits_frame(hits: Sequence[Hit], alert_keys: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``flow.rule_alerts`` / ``live.rule_alerts`` rows of ``hits`` (``alert_keys``: hit_id ->
    the outbox key of its alert, near-live path)."""
    from primeflow_lib.schema.desk import RULE_ALERTS

    keys = alert_keys or {}
    recs = [{"trade_date": h.trade_date, "hit_id": h.hit_id, "rule": h.rule, "rule_source": h.rule_source,
             "applies_to": h.applies_to, "row_id": h.row_id, "kind": h.kind, "ticker": h.ticker, "ts": h.ts,
             "channel": h.channel, "outcome": h.outcome, "premium": h.premium,
             "days_to_earnings": h.days_to_earnings, "alert_key": keys.get(h.hit_id)} for h in hits]
    df = pd.DataFrame(recs, columns=RULE_ALERTS.column_names)
    df["days_to_earnings"] = df["days_to_earnings"].astype("Int64")
    return df


def uses_orders(rules: Sequence[Rule]) -> bool:
    """Any enabled rule on orders (the paths then enrich every order, not only signals)."""
    return any(r.enabled and r.applies_to == "order" for r in rules)
