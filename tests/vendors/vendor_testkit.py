"""Helpers for the vendor tests: fixture loading, a config builder and a scripted fake Massive /
Alpha Vantage server on top of pytest-httpserver (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from werkzeug import Request, Response

from primeflow_lib.config import Secret, default_config

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TEST_KEY = "TESTKEY-9f3b2c7d1e5a4f60"


def fixture_path(vendor: str, name: str) -> Path:
    return FIXTURES / vendor / name


def load_json(vendor: str, name: str) -> Any:
    return json.loads(fixture_path(vendor, name).read_text())


def make_cfg(tmp_path: Path | None = None, **runtime: Any) -> dict[str, Any]:
    """The packaged defaults with fast timeouts/retries for tests and a Massive + Alpha
    Vantage key (as ``Secret``, like load_config injects them)."""
    cfg = default_config()
    cfg["runtime"].update(
        {
            "http_connect_timeout_s": 1.0,
            "http_read_timeout_s": 2.0,
            "http_max_retries": 2,
            "vendor_calls_per_minute": 60000,
            # not declared in default_config.yaml: read with defaults by HttpSettings
            "http_backoff_base_s": 0.01,
            "http_backoff_max_s": 0.05,
            "http_retry_after_cap_s": 5.0,
            "http_max_workers": 2,
        }
    )
    cfg["runtime"].update(runtime)
    if tmp_path is not None:
        cfg["vendors"]["csv_dir"] = str(tmp_path / "csv")
    cfg["api_keys"] = {"massive": Secret(TEST_KEY), "alpha_vantage": Secret(TEST_KEY)}
    cfg["source"] = "<tests>"
    return cfg


@dataclass
class Hit:
    """One request the fake server received."""

    path: str
    args: dict[str, str]
    headers: dict[str, str]
    at: float


Reply = dict | list | str | bytes | Response | Callable[[Request], Response]


@dataclass
class FakeVendorServer:
    """Routes ``(path, cursor)`` to scripted replies; anything unrouted is a 404 so a test
    fails loudly. A route may hold a list of replies consumed in order (the last one repeats).
    Every request is recorded in ``hits`` with its arrival time."""

    base_url: str
    routes: dict[tuple[str, str | None], list[Reply]] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)

    def add(self, path: str, *replies: Reply, cursor: str | None = None) -> None:
        self.routes[(path, cursor)] = list(replies)

    def json_fixture(self, vendor: str, name: str) -> dict[str, Any]:
        """A fixture whose ``next_url`` is left pointing at the public host on purpose: the
        client must re-base it onto the configured base URL."""
        return copy.deepcopy(load_json(vendor, name))

    def handle(self, request: Request) -> Response:
        self.hits.append(
            Hit(request.path, dict(request.args), dict(request.headers), time.monotonic())
        )
        key = (request.path, request.args.get("cursor"))
        replies = self.routes.get(key)
        if replies is None:
            return Response(
                json.dumps({"status": "NOT_FOUND", "message": f"no route {key}"}),
                status=404,
                content_type="application/json",
            )
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        if callable(reply) and not isinstance(reply, Response):
            return reply(request)
        if isinstance(reply, Response):
            return reply
        if isinstance(reply, dict | list):
            return Response(json.dumps(reply), status=200, content_type="application/json")
        return Response(reply, status=200, content_type="application/json")

    def paths(self) -> list[str]:
        return [h.path for h in self.hits]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, headers=headers or {}, content_type="application/json"
    )


def cursor_of(url: str) -> str:
    """The ``cursor`` query value of a fixture's ``next_url``."""
    q = urlsplit(url).query
    return dict(p.split("=", 1) for p in q.split("&"))["cursor"]


def read_yf_download_csv(name: str) -> pd.DataFrame:
    """A ``yf.download`` frame exactly as the shapes README says to read it back."""
    df = pd.read_csv(fixture_path("yfinance", name), header=[0, 1], index_col=0, parse_dates=True)
    df.columns = df.columns.set_names(["Price", "Ticker"])
    return df
