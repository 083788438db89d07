"""Client-side pacing per destination, so chat services never need to send us a 429.

A destination is paced by a set of :class:`Rule`\\ s, each on a key (a hash, never a secret):

==========================  ==============================================================
destination                 rules
==========================  ==============================================================
Telegram chat               1 message / s per chat; groups (negative id or ``@name``) also
                            20 messages per rolling 60 s; 30 messages / s per bot token
Discord webhook             5 per 2 s and 30 per 60 s per webhook (Discord's documented
                            webhook limits), tightened by ``X-RateLimit-Remaining`` /
                            ``X-RateLimit-Reset-After`` on every response
Slack incoming webhook      1 message / s
generic webhook             none (unless ``max_per_minute``)
console, file, sink         none
==========================  ==============================================================

``max_per_minute`` in a channel's config adds a 60 s window rule. A 429's (capped) wait also
blocks the destination through :meth:`Pacer.block`, so the next alert to it waits too.

The state lives in a :class:`Pacer`; :data:`SHARED_PACER` is one per process, so the limits hold
across successive relay calls (each Dagster step creates a new relay). Tests inject a pacer with
a fake clock. A small safety margin (50 ms) is added to every interval and window: the server
counts arrival times, which trail our send times.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from primeflow_lib.alerts.routing import Channel

TELEGRAM_CHAT_INTERVAL_S = 1.0
TELEGRAM_GROUP_PER_MINUTE = 20
TELEGRAM_BOT_PER_SECOND = 30
SLACK_INTERVAL_S = 1.0
DISCORD_WINDOWS = ((2.0, 5), (60.0, 30))


@dataclass(frozen=True)
class Rule:
    """One limit on a key: at most one send per ``min_interval`` seconds, and/or at most
    ``max_in_window`` sends in any rolling ``window`` seconds."""

    key: str
    min_interval: float = 0.0
    window: float = 0.0
    max_in_window: int = 0


def rules_for(channel: Channel) -> tuple[Rule, ...]:
    """The pacing rules of a destination (see the module table)."""
    fp = channel.fingerprint
    rules: list[Rule] = []
    if channel.type == "telegram":
        rules.append(Rule(f"tg-chat:{fp}", min_interval=TELEGRAM_CHAT_INTERVAL_S))
        if channel.is_group:
            rules.append(
                Rule(f"tg-group:{fp}", window=60.0, max_in_window=TELEGRAM_GROUP_PER_MINUTE)
            )
        bot = channel.secret.reveal().split(":", 1)[0] if channel.secret is not None else ""
        # The bot id (digits before ':') is public; the per-bot limit spans all its chats.
        rules.append(Rule(f"tg-bot:{bot}", window=1.0, max_in_window=TELEGRAM_BOT_PER_SECOND))
    elif channel.type == "discord":
        for i, (w, n) in enumerate(DISCORD_WINDOWS):
            rules.append(Rule(f"discord:{fp}:{i}", window=w, max_in_window=n))
    elif channel.type == "slack":
        rules.append(Rule(f"slack:{fp}", min_interval=SLACK_INTERVAL_S))
    if channel.max_per_minute:
        rules.append(Rule(f"cfg:{fp}", window=60.0, max_in_window=channel.max_per_minute))
    return tuple(rules)


def primary_key(channel: Channel) -> str:
    """The key a server-imposed block (429, Discord headers) applies to."""
    return f"dest:{channel.fingerprint}"


class Pacer:
    """Send-time bookkeeping per key.

    Args:
        clock: seconds, monotonic (default :func:`time.monotonic`); inject a fake for tests.
        margin: seconds added to every interval and window.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, margin: float = 0.05) -> None:
        self.clock = clock
        self.margin = margin
        self._sent: dict[str, deque[float]] = {}
        self._blocked: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_time(self, rules: Sequence[Rule], block_keys: Iterable[str] = ()) -> float:
        """Seconds until a send satisfying every rule (and every block) is allowed; 0 = now."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in block_keys:
                wait = max(wait, self._blocked.get(key, 0.0) - now)
            for r in rules:
                times = self._sent.get(r.key)
                if not times:
                    continue
                if r.min_interval > 0:
                    wait = max(wait, times[-1] + r.min_interval + self.margin - now)
                if r.window > 0 and r.max_in_window > 0:
                    horizon = now - (r.window + self.margin)
                    recent = [t for t in times if t > horizon]
                    if len(recent) >= r.max_in_window:
                        # the oldest send that must leave the window before one more fits
                        oldest = recent[len(recent) - r.max_in_window]
                        wait = max(wait, oldest + r.window + self.margin - now)
        return max(0.0, wait)

    def record(self, rules: Sequence[Rule]) -> float:
        """Note a send now on every rule's key; returns the time recorded."""
        now = self.clock()
        with self._lock:
            for r in rules:
                dq = self._sent.setdefault(r.key, deque())
                dq.append(now)
                keep = max(r.window, r.min_interval) + self.margin
                while dq and dq[0] < now - keep - 1.0:
                    dq.popleft()
        return now

    def block(self, key: str, seconds: float) -> None:
        """Allow nothing on ``key`` for ``seconds`` from now (extends, never shortens)."""
        if seconds <= 0:
            return
        with self._lock:
            until = self.clock() + seconds
            self._blocked[key] = max(self._blocked.get(key, 0.0), until)


def discord_block_seconds(headers: Mapping[str, str]) -> float | None:
    """How long Discord's rate-limit headers say to wait: ``X-RateLimit-Reset-After`` when
    ``X-RateLimit-Remaining`` is 0 (capped at 60 s: never trust an absurd reset), else None."""
    remaining = headers.get("X-RateLimit-Remaining")
    reset_after = headers.get("X-RateLimit-Reset-After")
    if remaining is None or reset_after is None:
        return None
    try:
        if int(float(remaining)) > 0:
            return None
        secs = float(reset_after)
    except ValueError:
        return None
    if secs != secs or secs <= 0:  # NaN or nothing to wait
        return None
    return min(secs, 60.0)


SHARED_PACER = Pacer()
"""The process-wide pacer used by every relay that is not given its own."""
