"""Fixtures of the workbench tests: the small warehouse of wb_fixtures.py, built once per
session and copied into each test's own ``PRIMEFLOW_DUCKDB`` / ``PRIMEFLOW_READ_DUCKDB``."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "desk"))  # desk_builders: the desk pages' day
import wb_fixtures  # noqa: E402

APP = Path(__file__).resolve().parents[2] / "primeflow_workbench" / "app.py"


@pytest.fixture(scope="session")
def template(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wb_template")
    wb_fixtures.build(folder / "primeflow.duckdb", folder / "primeflow_read.duckdb")
    return folder


@pytest.fixture
def wb(template) -> dict[str, Path]:
    """This test's copy of the warehouse: ``{"live": path, "read": path}``."""
    live, read = Path(os.environ["PRIMEFLOW_DUCKDB"]), Path(os.environ["PRIMEFLOW_READ_DUCKDB"])
    live.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(template / "primeflow.duckdb", live)
    shutil.copy(template / "primeflow_read.duckdb", read)
    return {"live": live, "read": read}


@pytest.fixture
def app():
    """An AppTest of the workbench (not yet run)."""
    from streamlit.testing.v1 import AppTest

    return AppTest.from_file(str(APP), default_timeout=120)
