"""Fixtures of the streaming-path tests (builders in stream_fixtures.py beside this file)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
for p in (HERE, HERE.parent / "alerts"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
