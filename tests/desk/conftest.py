"""Shared fixtures of the trader's-desk tests: a small hand-made warehouse (desk_builders.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import desk_builders  # noqa: E402


@pytest.fixture
def desk_db(tmp_path):
    """A fresh warehouse file with the desk day (``desk_builders.build``); returns its path."""
    path = tmp_path / "desk.duckdb"
    desk_builders.build(path)
    return path
