"""Warm-up for the warm run worker (``run_launcher.config.warm_up`` in dagster_home/dagster.yaml).

:class:`primeflow_pipelines.launcher.WarmRunLauncher` calls :func:`warm_up` once in its
pre-loaded worker; every run forked from it inherits the result. It scores a small hand-made
batch of option prints in memory with the near-live scoring code (validation, classification,
context, strategies), so that the numba kernels are loaded from their cache and the modules the
scoring path imports lazily (scipy through numba, the Parquet reader) are imported before the
first real batch arrives: about 2 s per run on the reference machine. It touches no warehouse,
inbox or network, uses the packaged default configuration, and never raises: a warm-up that
fails only costs the time it saves.

It deliberately reads no Parquet file: that would start Arrow's thread pool, and the worker is
forked for every run, which is only safe while it runs as few threads as possible (each run
starts its own pool on its first read).
"""

import datetime as dt
import importlib
import sys
import time
import traceback

import pandas as pd

from primeflow_lib.config import default_config
from primeflow_lib.flow.engine import score_batch
from primeflow_lib.schema.flow import OPTION_PRINTS

#: imported, not used: what reading a batch file needs (pandas imports it on first use)
LAZY_MODULES = ("pyarrow.parquet", "pandas.io.parquet")

#: a Friday session and a weekly call on a made-up underlying
_DAY = dt.date(2025, 6, 13)
_CONTRACT = "WRM250620C00100000"
_EDT_OFFSET = pd.Timedelta(hours=4)


def sample_prints(n: int = 40) -> pd.DataFrame:
    """``n`` plausible prints of one contract (a sweep across exchanges, singles, a block),
    with every ``flow.option_prints`` column."""
    wall = pd.Timestamp(f"{_DAY} 10:30:00") + pd.to_timedelta(range(n), unit="s") * 7
    wall = wall.where(pd.Series(range(n)) % 10 != 3, wall - pd.Timedelta(seconds=6.9))
    frame = pd.DataFrame(
        {
            "trade_date": pd.Timestamp(_DAY),
            "option_symbol": _CONTRACT,
            "underlying": "WRM",
            "sip_ts": wall,
            "sip_timestamp": (wall + _EDT_OFFSET).astype("int64"),
            "exchange": [300 + (i % 7) for i in range(n)],
            "price": [2.50 + 0.01 * (i % 5) for i in range(n)],
            "size": [10 if i % 9 else 600 for i in range(n)],
            "conditions": ["209" if i % 10 == 3 else "" for i in range(n)],
            "correction": 0,
            "bid": 2.40,
            "ask": 2.55,
            "seq": range(n),
            "vendor": "warm-up",
            "print_id": [f"warmup{i:010d}" for i in range(n)],
            "vendor_sequence": pd.array([None] * n, dtype="Int64"),
            "quote_source": pd.array([None] * n, dtype="str"),
        }
    )
    return frame[[c for c in OPTION_PRINTS.column_names if c in frame.columns]]


def warm_up() -> None:
    """Score :func:`sample_prints` with the near-live scoring code in memory; report on stderr."""
    began = time.perf_counter()
    try:
        for name in LAZY_MODULES:
            importlib.import_module(name)
        prints = sample_prints()
        result = score_batch(prints, None, None, None, default_config(), source="warm-up")
        print(
            f"primeflow warm-up: scored {len(prints)} prints -> {len(result.events)} orders "
            f"in {time.perf_counter() - began:.1f} s",
            file=sys.stderr,
        )
    except Exception:  # noqa: BLE001 - an optimisation must never stop the worker
        print("primeflow warm-up failed (runs still work, just start slower):", file=sys.stderr)
        traceback.print_exc()
