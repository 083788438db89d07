"""Test-wide isolation: every test gets its own warehouse, read copy, inbox and Dagster home,
and no real API key or webhook from the developer's environment."""

from __future__ import annotations

import pytest

_SECRET_VARS = (
    "POLYGON_MASSIVE_KEY",
    "POLYGON_API_KEY",
    "MASSIVE_API_KEY",
    "ALPHAVANTAGE_API_KEY",
    "DATABENTO_API_KEY",
    "PRIMEFLOW_VENDOR",
    "PRIMEFLOW_CONFIG",
    "PRIMEFLOW_NATS_URL",
    "PRIMEFLOW_STREAM_DUCKDB",
    "PRIMEFLOW_MASSIVE_WS_URL",
)


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    for var in _SECRET_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PRIMEFLOW_DUCKDB", str(tmp_path / "var" / "primeflow.duckdb"))
    monkeypatch.setenv("PRIMEFLOW_READ_DUCKDB", str(tmp_path / "var" / "primeflow_read.duckdb"))
    monkeypatch.setenv("PRIMEFLOW_INBOX", str(tmp_path / "var" / "inbox"))
    monkeypatch.setenv("PRIMEFLOW_ALERTS_FILE", str(tmp_path / "var" / "alerts.jsonl"))
    monkeypatch.setenv("PRIMEFLOW_STREAM_DIR", str(tmp_path / "var" / "stream"))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    (tmp_path / "dagster_home").mkdir()
    yield


@pytest.fixture
def real_data():
    """The real market samples folder (``PRIMEFLOW_REAL_DATA``); skipped with the reason when
    it is absent, but failing in CI, where the folder always exists."""
    import os

    from primeflow_lib.real_data import real_data_dir, real_data_missing

    why = real_data_missing()
    if why:
        if os.environ.get("CI") or os.environ.get("PRIMEFLOW_CI"):
            pytest.fail(f"{why}; CI always has it")
        pytest.skip(why)
    return real_data_dir()
