"""The alert retry policy on top of the shared backoff arithmetic (primeflow_lib.backoff)."""

from __future__ import annotations

import datetime as dt
import email.utils
import random

import pytest

from primeflow_lib.alerts.retry import RetryPolicy, classify_status, parse_retry_after

NOW = dt.datetime(2025, 6, 13, 14, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({"Retry-After": "2"}, None, 2.0),
        ({"retry-after": " 1.5 "}, {"retry_after": 9}, 1.5),  # the header wins
        ({"Retry-After": email.utils.format_datetime(NOW + dt.timedelta(seconds=7))}, None, 7.0),
        ({"Retry-After": email.utils.format_datetime(NOW - dt.timedelta(seconds=7))}, None, 0.0),
        ({"Retry-After": "soon"}, {"parameters": {"retry_after": 3}}, 3.0),  # Telegram
        ({}, {"retry_after": 0.6, "global": False}, 0.6),  # Discord
        ({}, {"retry_after": -1}, None),
        ({}, {"parameters": {"retry_after": "nan"}, "retry_after": 4}, 4.0),
        ({}, "not json", None),
        ({}, None, None),
    ],
)
def test_parse_retry_after_header_then_body(headers, body, expected):
    assert parse_retry_after(headers, body, now=NOW) == expected


def test_policy_backoff_and_cap():
    p = RetryPolicy(backoff_base_s=1.0, backoff_max_s=300.0, retry_after_cap_s=60.0, jitter=0.5)
    assert [p.backoff_bounds(k) for k in (1, 2, 10)] == [(0.5, 1.0), (1.0, 2.0), (150.0, 300.0)]
    rng = random.Random(1)
    assert all(2.0 <= p.backoff(3, rng) <= 4.0 for _ in range(50))
    assert (p.cap(172800), p.cap(-3), p.cap(2)) == (60.0, 0.0, 2)
    assert RetryPolicy(jitter=0.0).backoff(4) == 8.0


def test_classify_status():
    got = {s: classify_status(s) for s in (200, 429, 503, 408, 401, 410, 400, 302)}
    assert got == {
        200: "ok",
        429: "rate_limited",
        503: "transient",
        408: "transient",
        401: "revoked",
        410: "revoked",
        400: "permanent",
        302: "permanent",
    }
