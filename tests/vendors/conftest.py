"""Fixtures of the vendor tests. No test here touches the internet: Massive and Alpha Vantage are
served by real HTTP servers on 127.0.0.1 (pytest-httpserver), yfinance by an injected object
returning frames of its exact shape, the Massive stream by a local ``websockets`` server."""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

# pytest runs with --import-mode=importlib, which does not put test folders on sys.path; the
# vendor tests share helpers through this uniquely named module next to this file.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from vendor_testkit import FakeVendorServer, make_cfg  # noqa: E402

#: the session of the fixtures (Friday 2025-06-13); "today" for vendors that need a clock
FIXTURE_DAY = dt.date(2025, 6, 13)


@pytest.fixture
def vendor_cfg(tmp_path):
    """Test config: fast retries, tiny backoff, a Massive and an Alpha Vantage key."""
    return make_cfg(tmp_path)


@pytest.fixture
def fake_server(httpserver: HTTPServer, monkeypatch) -> Iterator[FakeVendorServer]:
    """A scripted vendor server; both vendors' base URLs point at it."""
    base = httpserver.url_for("/").rstrip("/")
    server = FakeVendorServer(base_url=base)
    httpserver.expect_request(re.compile(".*")).respond_with_handler(server.handle)
    monkeypatch.setenv("PRIMEFLOW_MASSIVE_BASE_URL", base)
    monkeypatch.setenv("PRIMEFLOW_ALPHAVANTAGE_BASE_URL", base)
    yield server


@pytest.fixture
def threaded_server(monkeypatch) -> Iterator[tuple[HTTPServer, FakeVendorServer]]:
    """Like ``fake_server`` but handling requests on threads, so a deliberately slow reply
    does not hold up the client's retry."""
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    base = server.url_for("/").rstrip("/")
    fake = FakeVendorServer(base_url=base)
    server.expect_request(re.compile(".*")).respond_with_handler(fake.handle)
    monkeypatch.setenv("PRIMEFLOW_MASSIVE_BASE_URL", base)
    monkeypatch.setenv("PRIMEFLOW_ALPHAVANTAGE_BASE_URL", base)
    try:
        yield server, fake
    finally:
        server.clear()
        server.stop()
