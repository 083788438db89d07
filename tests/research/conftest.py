"""Shared fixtures for the research workbench tests (builders live in research_fixtures.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

# pytest runs with --import-mode=importlib, which does not put test folders on sys.path; the
# builders module is shared by the test files of this folder.
sys.path.insert(0, str(Path(__file__).parent))
from research_fixtures import make_bars  # noqa: E402


@pytest.fixture(scope="session")
def bars() -> pd.DataFrame:
    return make_bars()


@pytest.fixture(scope="session")
def panel() -> pd.DataFrame:
    parts = []
    for i, t in enumerate(["AAA", "BBB", "CCC", "DDD", "EEE"]):
        b = make_bars(400, seed=10 + i, drift=0.0002 * (i - 2)).reset_index()
        b.insert(0, "ticker", t)
        parts.append(b)
    return pd.concat(parts, ignore_index=True)
