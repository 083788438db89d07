"""Fixtures of the flow tests (builders live in flow_builders.py beside this file)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from flow_builders import build_scenario  # noqa: E402

from primeflow_lib.config import default_config  # noqa: E402


@pytest.fixture
def cfg() -> dict:
    return copy.deepcopy(default_config())


@pytest.fixture
def scenario(cfg):
    """See :func:`build_scenario`."""
    return build_scenario(cfg)
