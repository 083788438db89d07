"""Fixtures for the alert tests (helpers live in ``alert_helpers.py``)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# pytest runs with --import-mode=importlib, which does not put test folders on sys.path; the
# helper module is shared by the test files of this folder.
sys.path.insert(0, str(Path(__file__).parent))
from alert_helpers import FakeClock, OutboxDB, Reply, ScriptedServer  # noqa: E402

from primeflow_lib.alerts import Relay, ensure_alert_tables, resolve_channels  # noqa: E402
from primeflow_lib.alerts.pacing import Pacer  # noqa: E402


@pytest.fixture
def server_factory() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def make(replies: list[Reply] | None = None, clock: FakeClock | None = None) -> ScriptedServer:
        s = ScriptedServer(replies, clock)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def outbox_db(tmp_path: Path) -> Iterator[OutboxDB]:
    """A fresh outbox file. The test process keeps one idle connection open so DuckDB reuses the
    database instance: every ``connect()`` of the relay is then a cheap new connection instead
    of a ~70 ms instance start. Transactions and their isolation are unchanged; the cross-process
    behaviour (real opens, file lock, SIGKILL) is what ``test_crash.py`` covers."""
    db = OutboxDB(tmp_path / "alerts.duckdb")
    keeper = db.connect()
    ensure_alert_tables(keeper)
    yield db
    keeper.close()


@pytest.fixture
def relay_factory(outbox_db: OutboxDB) -> Iterator[Callable[..., Relay]]:
    relays: list[Relay] = []

    def make(cfg: dict, env: dict[str, str], *, clock: FakeClock | None = None, **kw: Any) -> Relay:
        channels = resolve_channels(cfg, env)
        if clock is not None:
            kw.setdefault("clock", clock.time)
            kw.setdefault("sleep", clock.sleep)
            kw.setdefault("pacer", Pacer(clock=clock.time))
        else:
            kw.setdefault("pacer", Pacer())  # fresh pacing state: tests must not share it
        r = Relay(outbox_db.connect, channels, **kw)
        relays.append(r)
        return r

    yield make
    for r in relays:
        r.close()


@pytest.fixture
def notices(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    """Operator notices logged so far."""
    caplog.set_level(logging.INFO)
    return lambda: [r for r in caplog.records if getattr(r, "operator_notice", False)]
