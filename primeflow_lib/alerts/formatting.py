"""Alert text: three formats (short, medium, deep dive), escaped for each channel's markup.

Which format a signal gets (:func:`choose_alert_mode`):

============  ===========  ============================================================
kind          mode         why
============  ===========  ============================================================
SCALP         short        minutes matter: one line a trader reads at a glance
DAY_TRADE     medium       a few lines: flow, strength, context, rules
SWING         deep_dive    days of holding: every gate, the full context, the ids
other         medium
============  ===========  ============================================================

Every format shows the ticker, the contract, the side, the premium (``$1.2M``), the size, the
tags, the strength, the context (VWAP distance, RVOL, trend, regime), the rules triggered and the
short alert id (first 8 characters of the signal id, so a person can spot a duplicate). An alert
built on synthetic data starts with ``[SYNTHETIC DATA]``.

Markups (``markup=``): ``html`` (Telegram, ``parse_mode=HTML``: ``& < >`` escaped), ``discord``
(markdown: ``\\ * _ ~ ` | > # [ ] ( ) -`` backslash-escaped, ``@everyone`` / ``@here`` broken with
a zero-width space), ``slack`` (mrkdwn: ``& < >`` escaped, which also neutralises ``<!here>``) and
``plain`` (webhook, console, file). In every markup, control characters other than newline and
tab are removed from data values, so a ticker cannot rewrite a terminal.

``FORMAT_VERSION`` is part of the outbox key: bump it when the text of a format changes in a way
that should re-send nothing already sent but format new rows differently.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from primeflow_lib.models import Signal
from primeflow_lib.redact import redact

FORMAT_VERSION = 1
"""Version of the alert text layout; part of every ``alert_key``."""

MODES: tuple[str, ...] = ("short", "medium", "deep_dive")
MARKUPS: tuple[str, ...] = ("html", "discord", "slack", "plain")
SYNTHETIC_MARKER = "[SYNTHETIC DATA]"
REPLAY_MARKER = "[REPLAY]"
"""First words of every alert built from a replayed batch (``primeflow feed --source replay``)."""

MODE_FOR_KIND: dict[str, str] = {"SCALP": "short", "DAY_TRADE": "medium", "SWING": "deep_dive"}

#: channel type -> markup its text is written in ("sink" is the console + file fallback)
MARKUP_FOR_TYPE: dict[str, str] = {
    "telegram": "html",
    "discord": "discord",
    "slack": "slack",
    "webhook": "plain",
    "console": "plain",
    "file": "plain",
    "sink": "plain",
}

# Context keys read from ``Signal.context``, first present wins. The flow engine names them;
# aliases keep the formatter working while names settle.
VWAP_FRACTION_KEYS = ("vwap_dist", "vwap_distance")
VWAP_PERCENT_KEYS = ("vwap_dist_pct",)
RVOL_KEYS = ("rvol", "relative_volume")
TREND_KEYS = (("15m", ("trend_15m",)), ("daily", ("daily_trend", "trend_daily")), ("", ("trend",)))
REGIME_KEYS = ("regime", "market_regime")
_SUMMARISED_KEYS = frozenset(
    (
        *VWAP_FRACTION_KEYS,
        *VWAP_PERCENT_KEYS,
        *RVOL_KEYS,
        *REGIME_KEYS,
        *(k for _, keys in TREND_KEYS for k in keys),
    )
)

#: dealer-gamma context keys (primeflow_lib.flow.gex.gex_context): shown on one deep-dive line
GEX_KEYS = (
    "gex_date", "gex_convention", "gex_total", "gex_regime", "gex_flip", "gex_call_wall",
    "gex_put_wall", "gex_flip_dist", "gex_call_wall_dist", "gex_put_wall_dist",
)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_DISCORD_SPECIAL = re.compile(r"([\\*_~`|>#\[\]()\-])")
_DISCORD_MENTION = re.compile(r"@(everyone|here)", re.I)
_ZWSP = "\u200b"


# ---------------------------------------------------------------------------------- escaping


def escape(text: Any, markup: str) -> str:
    """``text`` made inert in ``markup`` (see the module doc); control characters removed."""
    s = _CONTROL.sub("", str(text))
    if markup == "html" or markup == "slack":
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    if markup == "discord":
        s = _DISCORD_SPECIAL.sub(r"\\\1", s)
        return _DISCORD_MENTION.sub(lambda m: "@" + _ZWSP + m.group(1), s)
    if markup == "plain":
        return s
    raise ValueError(f"unknown markup {markup!r} (expected one of {', '.join(MARKUPS)})")


def _bold(s: str, markup: str) -> str:
    """Bold an already escaped string."""
    if markup == "html":
        return f"<b>{s}</b>"
    if markup == "discord":
        return f"**{s}**"
    if markup == "slack":
        return f"*{s}*"
    return s


def _code(s: str, markup: str) -> str:
    """Monospace an already escaped string (ids)."""
    if markup == "html":
        return f"<code>{s}</code>"
    return s


# ---------------------------------------------------------------------------------- numbers


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def human_money(x: Any) -> str:
    """USD amount for people: ``$950``, ``$12.5K``, ``$1.2M``, ``$3B``; ``n/a`` when unknown."""
    v = _finite(x)
    if v is None:
        return "n/a"
    sign = "-" if v < 0 else ""
    a = abs(v)
    for thr, suf in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        # 0.9995: an amount that rounds up to the next unit is shown in that unit ($1M, not $1000K)
        if a >= thr * 0.9995:
            q = a / thr
            txt = f"{q:.1f}" if q < 99.95 else f"{q:.0f}"
            return f"{sign}${txt.removesuffix('.0')}{suf}"
    return f"{sign}${a:.0f}"


def _num(x: Any, fmt: str = "{:,.2f}") -> str:
    v = _finite(x)
    return "n/a" if v is None else fmt.format(v)


def _size(x: Any) -> str:
    v = _finite(x)
    return "n/a" if v is None else f"{int(v):,}"


# ---------------------------------------------------------------------------------- pieces


def _first(ctx: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for k in keys:
        if k in ctx and ctx[k] is not None:
            v = ctx[k]
            if isinstance(v, float) and not math.isfinite(v):
                continue
            return v
    return None


def context_summary(signal: Signal) -> dict[str, str]:
    """The four context figures as display strings: ``vwap`` (signed %), ``rvol`` (``2.1x``),
    ``trend`` (``15m UP / daily DOWN``) and ``regime``; ``n/a`` when the context lacks one."""
    ctx = signal.context or {}
    vwap = "n/a"
    frac = _finite(_first(ctx, VWAP_FRACTION_KEYS))
    pct = _finite(_first(ctx, VWAP_PERCENT_KEYS))
    if pct is None and frac is not None:
        pct = frac * 100.0
    if pct is not None:
        vwap = f"{pct:+.2f}%"
    rv = _finite(_first(ctx, RVOL_KEYS))
    trends = []
    for label, keys in TREND_KEYS:
        t = _first(ctx, keys)
        if t is not None:
            trends.append(f"{label} {t}".strip())
    regime = _first(ctx, REGIME_KEYS)
    return {
        "vwap": vwap,
        "rvol": "n/a" if rv is None else f"{rv:.1f}x",
        "trend": " / ".join(trends) if trends else "n/a",
        "regime": "n/a" if regime is None else str(regime),
    }


def gamma_summary(signal: Signal) -> str | None:
    """The dealer-gamma line of the deep dive, e.g. ``NEGATIVE gamma | total -$1.2B per 1% |
    flip 431.20 (+1.30%) | call wall 440 (+3.40%) | put wall 420 (-1.30%) |
    dealer_long_calls_short_puts, levels of 2024-11-26``; None when the context has no levels."""
    ctx = signal.context or {}
    if ctx.get("gex_date") is None and _finite(ctx.get("gex_total")) is None:
        return None

    def level(name: str) -> str:
        v, d = _finite(ctx.get(f"gex_{name}")), _finite(ctx.get(f"gex_{name}_dist"))
        if v is None:
            return "none"
        return f"{v:,.2f}" + ("" if d is None else f" ({d * 100:+.2f}%)")

    total = _finite(ctx.get("gex_total"))
    when = str(ctx.get("gex_date") or "n/a")[:10]
    return (
        f"{ctx.get('gex_regime') or 'UNKNOWN'} gamma | total {human_money(total)} per 1% | "
        f"flip {level('flip')} | call wall {level('call_wall')} | put wall {level('put_wall')} | "
        f"{ctx.get('gex_convention') or 'n/a'}, levels of {when}"
    )


def contract_label(signal: Signal) -> str:
    """``SPY 2025-12-19 650C``: ticker, expiry, strike and right."""
    expiry = (
        signal.expiry.isoformat() if hasattr(signal.expiry, "isoformat") else str(signal.expiry)
    )
    strike = _finite(signal.strike)
    strike_s = "?" if strike is None else f"{strike:g}"
    return f"{signal.ticker} {expiry[:10]} {strike_s}{signal.right}"


def _ts(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


class _Parts:
    """Escaped display strings of one signal for one markup."""

    def __init__(self, signal: Signal, markup: str) -> None:
        e: Callable[[Any], str] = lambda v: escape(v, markup)  # noqa: E731
        ctx = context_summary(signal)
        self.markup = markup
        self.synthetic = e(SYNTHETIC_MARKER) if signal.is_synthetic else ""
        self.kind = e(signal.kind)
        self.ticker = e(signal.ticker)
        self.contract = e(contract_label(signal))
        self.direction = e(signal.direction)
        self.side = e(signal.side)
        self.event_type = e(signal.event_type)
        self.premium = e(human_money(signal.premium))
        self.size = e(_size(signal.size))
        self.avg_price = e(_num(signal.avg_price))
        self.strength = e(_num(signal.strength))
        self.tags = e(", ".join(signal.tags)) if signal.tags else "none"
        self.rules = e(", ".join(signal.rules_passed)) if signal.rules_passed else "none"
        self.rules_failed = e(", ".join(signal.rules_failed)) if signal.rules_failed else "none"
        self.vwap, self.rvol = e(ctx["vwap"]), e(ctx["rvol"])
        self.trend, self.regime = e(ctx["trend"]), e(ctx["regime"])
        self.short_id = e(signal.short_id)
        self.signal_id = e(signal.signal_id)
        self.event_id = e(signal.event_id)
        self.ts = e(_ts(signal.ts))
        self.spot = e(_num(signal.spot))
        self.dte = e(signal.dte)
        self.n_exchanges = e(signal.n_exchanges)
        self.vendor = e(signal.vendor)
        self.n_prints = len(signal.print_ids)
        gamma = gamma_summary(signal)
        self.gamma = None if gamma is None else e(gamma)
        # the rest of the context (the four summarised figures are not repeated)
        self.extra_context = [
            (e(k), e(_display(v)))
            for k, v in sorted((signal.context or {}).items())
            if k not in _SUMMARISED_KEYS and k not in GEX_KEYS
        ]

    def b(self, s: str) -> str:
        return _bold(s, self.markup)


def _display(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:.4g}"
    return str(v)


# ---------------------------------------------------------------------------------- formats


def format_short(signal: Signal, markup: str = "plain") -> str:
    """One line: kind, contract, direction, side and order type, premium, size, strength, tags,
    context, rules triggered and the short id."""
    p = _Parts(signal, markup)
    head = f"{p.synthetic} " if p.synthetic else ""
    return (
        f"{head}{p.b(p.kind)} {p.b(p.contract)} {p.direction} | {p.side} {p.event_type} "
        f"{p.premium} x{p.size} | str {p.strength} | tags {p.tags} | VWAP {p.vwap} "
        f"RVOL {p.rvol} trend {p.trend} regime {p.regime} | rules {p.rules} | "
        f"id {_code(p.short_id, markup)}"
    )


def format_medium(signal: Signal, markup: str = "plain") -> str:
    """A few lines: headline, the flow, strength and tags, context, rules, id and time."""
    p = _Parts(signal, markup)
    lines = [p.synthetic] if p.synthetic else []
    lines += [
        f"{p.b(p.kind)} {p.b(p.contract)} {p.direction}",
        f"Flow: {p.side} {p.event_type} {p.premium} | size {p.size} @ {p.avg_price} | "
        f"{p.n_exchanges} exch | DTE {p.dte}",
        f"Strength: {p.strength} | Tags: {p.tags}",
        f"Context: VWAP {p.vwap} | RVOL {p.rvol} | trend {p.trend} | regime {p.regime} | "
        f"spot {p.spot}",
        f"Rules: {p.rules}",
        f"id {_code(p.short_id, markup)} | {p.ts}",
    ]
    return "\n".join(lines)


def format_deep_dive(signal: Signal, markup: str = "plain") -> str:
    """Every detail: the contract, the order, the whole context (with the dealer-gamma line:
    regime, total GEX, flip and walls with their distance from spot, convention and the
    snapshot used), each rule passed and failed, the full ids and the vendor."""
    p = _Parts(signal, markup)
    lines = [p.synthetic] if p.synthetic else []
    lines += [
        f"{p.b(p.kind)} {p.b(p.contract)} {p.direction} (id {_code(p.short_id, markup)})",
        "",
        p.b("Order"),
        f"Side: {p.side} | Type: {p.event_type} | Premium: {p.premium}",
        f"Size: {p.size} contracts @ {p.avg_price} avg | {p.n_exchanges} exchanges | "
        f"{p.n_prints} prints",
        f"DTE: {p.dte} | Spot: {p.spot} | Time: {p.ts}",
        "",
        p.b("Score"),
        f"Strength: {p.strength} | Tags: {p.tags}",
        f"Rules triggered: {p.rules}",
        f"Rules failed: {p.rules_failed}",
        "",
        p.b("Context"),
        f"VWAP {p.vwap} | RVOL {p.rvol} | trend {p.trend} | regime {p.regime}",
    ]
    if p.gamma is not None:
        lines.append(f"Dealer gamma: {p.gamma}")
    lines += [f"{k}: {v}" for k, v in p.extra_context]
    lines += [
        "",
        f"Signal {_code(p.signal_id, markup)} | event {_code(p.event_id, markup)} | "
        f"vendor {p.vendor} | format v{FORMAT_VERSION}",
    ]
    return "\n".join(lines)


FORMATTERS: dict[str, Callable[[Signal, str], str]] = {
    "short": format_short,
    "medium": format_medium,
    "deep_dive": format_deep_dive,
}


def choose_alert_mode(signal: Signal) -> str:
    """``short`` for SCALP, ``medium`` for DAY_TRADE, ``deep_dive`` for SWING, else ``medium``."""
    return MODE_FOR_KIND.get(str(signal.kind).upper(), "medium")


def markup_for(channel_type: str) -> str:
    """The markup a channel type's text is written in (``ValueError`` for an unknown type)."""
    try:
        return MARKUP_FOR_TYPE[channel_type]
    except KeyError:
        raise ValueError(
            f"unknown channel type {channel_type!r} (expected one of {', '.join(MARKUP_FOR_TYPE)})"
        ) from None


def format_alert(signal: Signal, channel_type: str, mode: str | None = None) -> tuple[str, str]:
    """``(mode, text)`` for ``signal`` sent to a channel of ``channel_type``.

    ``mode`` defaults to :func:`choose_alert_mode`."""
    mode = mode or choose_alert_mode(signal)
    if mode not in FORMATTERS:
        raise ValueError(f"unknown alert mode {mode!r} (expected one of {', '.join(MODES)})")
    return mode, FORMATTERS[mode](signal, markup_for(channel_type))


# ---------------------------------------------------------------------------------- heartbeat


def format_heartbeat(stats: Mapping[str, Any], markup: str = "plain") -> str:
    """One status line for the operator.

    Args:
        stats: ``events_per_minute`` (float), ``signals_by_kind`` (mapping kind -> count),
            ``open_positions`` (int), ``lag_seconds`` (float: now minus the newest print
            scored), ``last_error`` (text or None; redacted here), optional ``ts`` (datetime)
            and ``synthetic`` (bool: adds the synthetic marker). Missing values show ``n/a``.
        markup: as for the alert formats.
    Returns:
        e.g. ``PrimeFlow heartbeat 14:05:00 | events/min 123.4 | signals SCALP 3, DAY_TRADE 1,
        SWING 0 | open positions 4 | lag 2.1s | last error: none``
    """
    e: Callable[[Any], str] = lambda v: escape(v, markup)  # noqa: E731
    by_kind = stats.get("signals_by_kind") or {}
    kinds = list(dict.fromkeys([*MODE_FOR_KIND, *by_kind]))
    signals = ", ".join(f"{k} {int(by_kind.get(k, 0) or 0)}" for k in kinds)
    lag = _finite(stats.get("lag_seconds"))
    last_error = stats.get("last_error")
    err = "none" if not last_error else redact(str(last_error))[:300]
    ts = stats.get("ts")
    when = f" {ts:%H:%M:%S}" if isinstance(ts, dt.datetime) else ""
    head = f"{e(SYNTHETIC_MARKER)} " if stats.get("synthetic") else ""
    op = stats.get("open_positions")
    return (
        f"{head}{_bold('PrimeFlow heartbeat', markup)}{e(when)} | "
        f"events/min {e(_num(stats.get('events_per_minute'), '{:,.1f}'))} | "
        f"signals {e(signals)} | open positions {e('n/a' if op is None else op)} | "
        f"lag {e('n/a' if lag is None else f'{lag:.1f}s')} | last error: {e(err)}"
    )
