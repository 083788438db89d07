"""Retry policy for alert delivery: what a response means and how long to wait before the next try.

The outbox *is* the retry loop: a failed row goes back to ``pending`` with ``next_attempt_at``,
and the relay sends other destinations meanwhile. That is why this is not a tenacity
``Retrying`` around the POST: a wait held in-process would block every other channel, and would
be forgotten by a crash; a wait written in the row survives both. The classification follows
the same rules a tenacity policy would (docs/reliability.md):

====================================  ========================================================
response                              outcome
====================================  ========================================================
2xx                                   ``ok``
429                                   ``rate_limited``: wait ``Retry-After`` (header, seconds or
                                      HTTP date), else Telegram's ``parameters.retry_after`` or
                                      Discord's ``retry_after`` in the body, capped at
                                      ``retry_after_cap_s`` (60 s); re-queued
5xx, 408, 425, timeout, connection    ``transient``: jittered exponential backoff; after
                                      ``max_attempts`` attempts the row is failed_permanent
401, 403, 404, 410                    ``permanent`` and the channel is disabled for this relay
                                      (revoked token or deleted webhook: no retry storm)
other 4xx, 3xx                        ``permanent`` for this alert only
====================================  ========================================================
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from primeflow_lib.backoff import backoff, backoff_bounds, cap_wait
from primeflow_lib.backoff import parse_retry_after as parse_retry_after_header

REVOKED_STATUSES = frozenset({401, 403, 404, 410})
TRANSIENT_STATUSES = frozenset({408, 425})


@dataclass(frozen=True)
class RetryPolicy:
    """How failures are retried.

    Attributes:
        max_attempts: attempts (claims) after which a transient or rate-limit failure becomes
            ``failed_permanent``.
        backoff_base_s: first backoff after a transient failure.
        backoff_max_s: ceiling of one backoff.
        retry_after_cap_s: the longest wait a server may impose (absurd ``retry_after`` values
            such as 172800 are cut to this).
        jitter: fraction of each backoff drawn at random ("equal jitter" with 0.5: the wait is
            uniform in [b * (1 - jitter), b]); spreads retries of many relays apart.
    """

    max_attempts: int = 10
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0
    retry_after_cap_s: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("RetryPolicy.jitter must be within [0, 1]")
        if self.retry_after_cap_s <= 0 or self.backoff_base_s < 0:
            raise ValueError("RetryPolicy: waits must be positive")

    def backoff(self, failures: int, rng: random.Random | None = None) -> float:
        """Wait after the ``failures``-th consecutive transient failure (1-based)."""
        return backoff(
            failures, self.backoff_base_s, self.backoff_max_s, jitter=self.jitter, rng=rng
        )

    def backoff_bounds(self, failures: int) -> tuple[float, float]:
        """``(low, high)`` of :meth:`backoff` for ``failures`` (for tests and docs)."""
        return backoff_bounds(failures, self.backoff_base_s, self.backoff_max_s, self.jitter)

    def cap(self, seconds: float) -> float:
        """A server-requested wait, cut to ``retry_after_cap_s``."""
        return cap_wait(seconds, self.retry_after_cap_s)


def parse_retry_after(
    headers: Mapping[str, str], body: Any = None, *, now: dt.datetime | None = None
) -> float | None:
    """The wait a response asks for, in seconds, or None when it gives none.

    Looks at the ``Retry-After`` header (delay-seconds or HTTP-date, parsed by
    :func:`primeflow_lib.backoff.parse_retry_after`: a past date or a negative number is 0), then
    a JSON body's ``parameters.retry_after`` (Telegram) or ``retry_after`` (Discord, seconds, may
    be a float). Unparsable header values, and negative, NaN or unparsable body values, count as
    none.
    """
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    secs = parse_retry_after_header(raw, now=None if now is None else now.timestamp())
    if secs is not None:
        return secs
    if isinstance(body, Mapping):
        params = body.get("parameters")
        if isinstance(params, Mapping) and "retry_after" in params:
            secs = _seconds(params["retry_after"])
            if secs is not None:
                return secs
        if "retry_after" in body:
            return _seconds(body["retry_after"])
    return None


def _seconds(v: Any) -> float | None:
    try:
        s = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(s) or s < 0:
        return None
    return s


def classify_status(status: int) -> str:
    """``ok``, ``rate_limited``, ``transient``, ``revoked`` or ``permanent`` for an HTTP status."""
    if 200 <= status < 300:
        return "ok"
    if status == 429:
        return "rate_limited"
    if status >= 500 or status in TRANSIENT_STATUSES:
        return "transient"
    if status in REVOKED_STATUSES:
        return "revoked"
    if 400 <= status < 500 or 300 <= status < 400:
        return "permanent"
    return "transient"
