"""The reliability suite (``make reliability``): docs/reliability.md scenarios not covered elsewhere,
each recording its figures with ``record_property`` (collected by ``tests/reliability/run.py``
from the JUnit XML, so every figure comes from the run, never from a constant)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
# pytest runs with --import-mode=importlib: make the shared helpers importable
for p in (HERE.parent, HERE.parent / "alerts", HERE.parent / "flow"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
