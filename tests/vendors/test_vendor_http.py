"""The shared HTTP layer against a real server on 127.0.0.1: retries, Retry-After, timeouts,
typed errors, redaction and the client-side rate limiter."""

from __future__ import annotations

import email.utils
import random
import socket
import threading
import time
import traceback

import pytest
from vendor_testkit import TEST_KEY, json_response, load_json, make_cfg
from werkzeug import Response

from primeflow_lib.backoff import backoff, backoff_bounds, cap_wait, parse_retry_after
from primeflow_lib.vendors.base import (
    VendorAuthError,
    VendorDataError,
    VendorError,
    VendorPlanError,
    VendorRateLimitError,
)
from primeflow_lib.vendors.http import HttpClient, HttpSettings, RateLimiter


def client(base_url: str, **runtime) -> HttpClient:
    settings = HttpSettings.from_config(make_cfg(**runtime))
    return HttpClient(
        "massive",
        base_url,
        settings=settings,
        headers={"Authorization": f"Bearer {TEST_KEY}"},
        secrets=[TEST_KEY],
        key_env="POLYGON_MASSIVE_KEY",
    )


def test_settings_come_from_runtime_config():
    s = HttpSettings.from_config(make_cfg(http_read_timeout_s=7.5, http_max_retries=4))
    assert (s.read_timeout, s.max_retries, s.backoff_base) == (7.5, 4, 0.01)
    d = HttpSettings.from_config({"runtime": {}})
    assert (d.connect_timeout, d.read_timeout, d.max_retries) == (5.0, 30.0, 5)


def test_429_retry_after_seconds_is_honoured(fake_server):
    body = load_json("massive", "error_429_rate_limited.json")
    fake_server.add(
        "/v1/x",
        json_response(body, 429, {"Retry-After": "1"}),
        {"status": "OK", "results": []},
    )
    got = client(fake_server.base_url).get_json("/v1/x", what="test data")
    assert got["status"] == "OK"
    assert len(fake_server.hits) == 2
    gap = fake_server.hits[1].at - fake_server.hits[0].at
    assert 0.95 <= gap < 1.8, gap


def test_429_retry_after_http_date_is_honoured(fake_server):
    # whole-second resolution: a date 2 s ahead means a wait of (1, 2] s
    when = email.utils.formatdate(time.time() + 2, usegmt=True)
    fake_server.add("/v1/x", json_response({}, 429, {"Retry-After": when}), {"ok": 1})
    client(fake_server.base_url).get_json("/v1/x", what="test data")
    gap = fake_server.hits[1].at - fake_server.hits[0].at
    assert 0.9 <= gap < 2.6, gap


def test_absurd_retry_after_is_capped(fake_server):
    fake_server.add("/v1/x", json_response({}, 429, {"Retry-After": "172800"}), {"ok": 1})
    t0 = time.monotonic()
    client(fake_server.base_url, http_retry_after_cap_s=0.3).get_json("/v1/x", what="test")
    assert time.monotonic() - t0 < 1.5


def test_persistent_429_gives_rate_limit_error_after_bounded_attempts(fake_server):
    body = load_json("massive", "error_429_rate_limited.json")
    fake_server.add("/v1/x", json_response(body, 429, {"Retry-After": "0"}))
    with pytest.raises(VendorRateLimitError) as ei:
        client(fake_server.base_url, http_max_retries=3).get_json("/v1/x", what="grouped bars")
    assert len(fake_server.hits) == 4
    assert ei.value.status == 429 and ei.value.vendor == "massive"
    assert "exceeded the maximum requests per minute" in str(ei.value)
    assert "after 4 attempts" in str(ei.value)


def test_500_then_success(fake_server):
    fake_server.add("/v1/x", json_response({"error": "boom"}, 500), {"status": "OK"})
    assert client(fake_server.base_url).get_json("/v1/x", what="t") == {"status": "OK"}
    assert len(fake_server.hits) == 2


def test_persistent_5xx_is_bounded_and_carries_status_and_message(fake_server):
    fake_server.add("/v1/x", json_response({"status": "ERROR", "error": "upstream down"}, 503))
    with pytest.raises(VendorError) as ei:
        client(fake_server.base_url, http_max_retries=2).get_json("/v1/x", what="t")
    assert len(fake_server.hits) == 3
    assert ei.value.status == 503 and "upstream down" in str(ei.value)
    assert type(ei.value) is VendorError


def test_401_is_auth_error_not_retried(fake_server):
    fake_server.add("/v1/x", json_response(load_json("massive", "error_401_unknown_key.json"), 401))
    with pytest.raises(VendorAuthError, match="Unknown API Key.*POLYGON_MASSIVE_KEY") as ei:
        client(fake_server.base_url).get_json("/v1/x", what="t")
    assert len(fake_server.hits) == 1 and ei.value.status == 401


def test_403_is_plan_error_naming_the_feature_not_retried(fake_server):
    fake_server.add(
        "/v1/x", json_response(load_json("massive", "error_403_not_authorized.json"), 403)
    )
    with pytest.raises(VendorPlanError) as ei:
        client(fake_server.base_url).get_json("/v1/x", what="option quotes (NBBO)")
    assert len(fake_server.hits) == 1
    msg = str(ei.value)
    assert "plan does not include option quotes (NBBO)" in msg
    assert "NOT_AUTHORIZED" in msg and "not entitled" in msg


def test_other_4xx_is_vendor_error_not_retried(fake_server):
    fake_server.add("/v1/x", json_response({"status": "ERROR", "error": "bad param"}, 400))
    with pytest.raises(VendorError, match="HTTP 400.*bad param"):
        client(fake_server.base_url).get_json("/v1/x", what="t")
    assert len(fake_server.hits) == 1


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("<html>oops</html>", "not valid JSON"),
        ('{"results": [1, 2', "not valid JSON"),
        ("", "empty response body"),
        ("   ", "empty response body"),
        ("[1, 2]", "expected a JSON object, got list"),
    ],
)
def test_undecodable_bodies_are_data_errors(fake_server, body, match):
    fake_server.add("/v1/x", Response(body, status=200, content_type="application/json"))
    with pytest.raises(VendorDataError, match=match):
        client(fake_server.base_url).get_json("/v1/x", what="t")


def test_slow_response_times_out_then_retry_succeeds(threaded_server):
    _server, fake = threaded_server
    calls = []

    def slow_then_fast(request):
        calls.append(time.monotonic())
        if len(calls) == 1:
            time.sleep(1.0)
        return json_response({"status": "OK"})

    fake.add("/v1/slow", slow_then_fast)
    c = client(fake.base_url, http_read_timeout_s=0.25)
    t0 = time.monotonic()
    assert c.get_json("/v1/slow", what="t") == {"status": "OK"}
    assert len(calls) == 2
    assert time.monotonic() - t0 < 0.9  # did not wait for the slow reply


def test_always_slow_gives_timeout_error_after_bounded_attempts(threaded_server):
    _server, fake = threaded_server

    def slow(request):
        time.sleep(0.6)
        return json_response({})

    fake.add("/v1/slow", slow)
    with pytest.raises(VendorError, match=r"read timeout after 0.2s") as ei:
        client(fake.base_url, http_read_timeout_s=0.2, http_max_retries=1).get_json(
            "/v1/slow", what="t"
        )
    assert "after 2 attempts" in str(ei.value)
    assert len(fake.hits) == 2


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_error_is_redacted_and_unchained():
    port = _dead_port()
    c = HttpClient(
        "alpha_vantage",
        f"http://127.0.0.1:{port}",
        settings=HttpSettings.from_config(make_cfg(http_max_retries=1)),
        secrets=[TEST_KEY],
    )
    with pytest.raises(VendorError) as ei:
        c.get_json("/query", {"function": "F", "apikey": TEST_KEY}, what="t")
    exc = ei.value
    text = "".join(traceback.format_exception(exc))
    assert "ConnectionError" in str(exc)
    assert TEST_KEY not in text
    assert exc.__cause__ is None and exc.__context__ is None


def test_next_url_on_another_host_is_rebased_onto_the_base_url():
    c = client("http://127.0.0.1:9")
    assert (
        c.resolve("https://api.massive.com/v3/trades/O:X?cursor=abc")
        == "http://127.0.0.1:9/v3/trades/O:X?cursor=abc"
    )
    assert c.resolve("http://127.0.0.1:9/v1/a?b=1") == "http://127.0.0.1:9/v1/a?b=1"
    assert c.resolve("/v2/aggs") == "http://127.0.0.1:9/v2/aggs"


def test_parse_retry_after():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("  2.5 ") == 2.5
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    past = email.utils.formatdate(time.time() - 100, usegmt=True)
    assert parse_retry_after(past) == 0.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after("") is None and parse_retry_after("nan") is None
    soon = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(soon, now=1_000_000) == 30.0


def test_backoff_doubles_to_the_ceiling_jittered():
    rng = random.Random(3)
    for attempt, high in [(1, 0.5), (2, 1.0), (3, 2.0), (8, 30.0), (5000, 30.0)]:
        assert backoff_bounds(attempt, 0.5, 30.0) == (high / 2, high)
        waits = [backoff(attempt, 0.5, 30.0, rng=rng) for _ in range(50)]
        assert all(high / 2 <= w <= high for w in waits) and len(set(waits)) > 1
    assert backoff(3, 0.5, 30.0, jitter=0.0) == 2.0
    assert (cap_wait(172800, 60.0), cap_wait(-1, 60.0), cap_wait(2.5, 60.0)) == (60.0, 0.0, 2.5)
    s = HttpSettings(backoff_base=0.5, backoff_max=30.0)
    assert all(1.0 <= s.backoff(3) <= 2.0 for _ in range(20))


class FakeClock:
    def __init__(self):
        self.t = 0.0
        self.slept: list[float] = []

    def time(self):
        return self.t

    def sleep(self, s):
        self.slept.append(s)
        self.t += s


def test_rate_limiter_spaces_calls_to_the_rate():
    clock = FakeClock()
    rl = RateLimiter(5, clock=clock.time, sleep=clock.sleep)  # free tier: 5/min
    for _ in range(6):
        rl.acquire()
    # bucket of 1 (one second's worth, at least one): then one call every 12 s
    assert clock.slept == pytest.approx([12.0] * 5)


def test_rate_limiter_allows_a_burst_then_the_rate():
    clock = FakeClock()
    rl = RateLimiter(600, clock=clock.time, sleep=clock.sleep)  # 10/s, burst 10
    for _ in range(10):
        rl.acquire()
    assert clock.slept == []
    rl.acquire()
    assert clock.slept == pytest.approx([0.1])


def test_rate_limiter_is_thread_safe():
    rl = RateLimiter(1200)  # 20/s, burst 20
    t0 = time.monotonic()
    threads = [threading.Thread(target=lambda: [rl.acquire() for _ in range(10)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 40 calls: 20 from the bucket, 20 more at 20/s -> about 1 s, never less
    assert 0.9 <= time.monotonic() - t0 < 2.0


def test_disabled_rate_limiter_never_waits():
    assert RateLimiter(0).acquire() == 0.0
