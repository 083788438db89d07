"""Fixtures of the model-lab tests: models are persisted under the test's own folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _models_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PRIMEFLOW_MODELS_DIR", str(tmp_path / "var" / "models"))
