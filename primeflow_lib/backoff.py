"""Waits between retries: jittered exponential backoff, capping, and the ``Retry-After`` header.

Only the arithmetic lives here, shared by the vendor HTTP client (GET retries), the Massive
stream (reconnects) and the alert relay (POSTs re-queued in the outbox). Each caller keeps its
own policy: which failures are retried, how often, and (alerts) what a chat API's body may ask.
Standard library only, so the alert relay can import it without pulling pandas.

Example::

    >>> backoff_bounds(3, base=0.5, ceiling=30.0)
    (1.0, 2.0)
    >>> parse_retry_after("120"), cap_wait(120.0, 60.0)
    (120.0, 60.0)
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random
import time

# 2 ** 64 times any sane base is past every ceiling; a larger exponent would overflow a float.
_MAX_DOUBLINGS = 64


def backoff_bounds(
    attempt: int, base: float, ceiling: float, jitter: float = 0.5
) -> tuple[float, float]:
    """``(low, high)`` of :func:`backoff` for the same arguments (for tests and docs)."""
    high = min(ceiling, base * 2.0 ** min(_MAX_DOUBLINGS, max(0, attempt - 1)))
    return high * (1.0 - jitter), high


def backoff(
    attempt: int,
    base: float,
    ceiling: float,
    *,
    jitter: float = 0.5,
    rng: random.Random | None = None,
) -> float:
    """Wait after the ``attempt``-th consecutive failure (1-based).

    ``base`` doubles with each attempt up to ``ceiling``; the top ``jitter`` fraction of that is
    drawn at random ("equal jitter" with 0.5: uniform in [b/2, b]), so many clients retrying
    after the same outage do not retry in lockstep.

    Args:
        attempt: failures so far, counting this one (1 = first failure).
        base: the first wait, seconds.
        ceiling: the longest wait before jitter, seconds.
        jitter: fraction of the wait drawn at random, within [0, 1].
        rng: random source (seed one in tests); the ``random`` module when None.
    """
    low, high = backoff_bounds(attempt, base, ceiling, jitter)
    return high - (high - low) * (rng or random).random()


def cap_wait(seconds: float, cap: float) -> float:
    """A server-requested wait cut to ``[0, cap]`` (absurd values such as 172800 become ``cap``)."""
    return min(max(0.0, seconds), cap)


def parse_retry_after(value: object, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header value: delay-seconds or an HTTP-date.

    Args:
        value: the header value (surrounding white space is ignored); None when absent.
        now: the reference time for an HTTP-date, Unix seconds; the current time when None.

    Returns:
        The wait in seconds, uncapped; 0 for a date in the past or a negative number; None when
        the value is absent, empty, NaN/infinite or unparseable (the caller then uses its own
        fallback, e.g. :func:`backoff`).
    """
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        secs = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        secs = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(secs):
        return None
    return max(0.0, secs)


__all__ = ["backoff", "backoff_bounds", "cap_wait", "parse_retry_after"]
