"""Test-wide isolation: every test gets its own warehouse, read copy, inbox and Dagster home,
and no real API key or webhook from the developer's environment."""

from __future__ import annotations

import pytest

_SECRET_VARS = (
    "POLYGON_MASSIVE_KEY",
    "POLYGON_API_KEY",
    "MASSIVE_API_KEY",
    "ALPHAVANTAGE_API_KEY",
    "PRIMEFLOW_VENDOR",
    "PRIMEFLOW_CONFIG",
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    for var in _SECRET_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PRIMEFLOW_DUCKDB", str(tmp_path / "var" / "primeflow.duckdb"))
    monkeypatch.setenv("PRIMEFLOW_READ_DUCKDB", str(tmp_path / "var" / "primeflow_read.duckdb"))
    monkeypatch.setenv("PRIMEFLOW_INBOX", str(tmp_path / "var" / "inbox"))
    monkeypatch.setenv("PRIMEFLOW_ALERTS_FILE", str(tmp_path / "var" / "alerts.jsonl"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    yield
