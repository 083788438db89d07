"""Where the real market samples are (public files kept outside the repository).

The samples (a Cboe DataShop trades day, Cboe chain exports, Databento DBN files, SPY 1-minute
bars) live in a folder next to the project, never inside it. Code and tests find it through
``PRIMEFLOW_REAL_DATA`` (default ``../shared/real-data`` relative to the project root) and say
clearly when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "PRIMEFLOW_REAL_DATA"
#: the project root (the folder holding pyproject.toml)
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT = PROJECT_ROOT.parent / "shared" / "real-data"
#: sub-folders the checks read
CBOE_TRADES = "cboe_trades"
CBOE_QUOTEDATA = "cboe_quotedata"
DATABENTO = "databento"
SPY_1MIN = "spy_1min"


def real_data_dir() -> Path:
    """The folder named by ``PRIMEFLOW_REAL_DATA`` (default ``../shared/real-data`` from the
    project root); it may not exist: see :func:`real_data_missing`."""
    env = (os.environ.get(ENV) or "").strip()
    return Path(env).expanduser().resolve() if env else DEFAULT.resolve()


def real_data_missing() -> str | None:
    """``None`` when the folder exists, else the message to show."""
    d = real_data_dir()
    if d.is_dir():
        return None
    return (f"real market data folder {d} is absent (set {ENV} to the folder holding "
            f"{CBOE_TRADES}/, {CBOE_QUOTEDATA}/, {DATABENTO}/ and {SPY_1MIN}/)")
