"""Sweep many options structures over one underlying and signal: one :func:`simulate_options`
per configuration, in-process or in chunks on the Dask cluster named by
``PRIMEFLOW_DASK_ADDRESS`` (:mod:`primeflow_lib.scale.cluster`), with identical results."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.research.options.simulate import simulate_options
from primeflow_lib.research.options.spec import OptionsSpec
from primeflow_lib.scale import cluster


def sweep_chunk(bars: pd.DataFrame, signal: np.ndarray, specs: Sequence[OptionsSpec], kw: dict[str, Any]) -> list[dict]:
    """One row per spec (what one cluster task runs)."""
    out = []
    for spec in specs:
        run = simulate_options(bars, signal, spec, **kw)
        final = float(run.equity.iloc[-1])
        out.append({"spec": json.dumps(spec.to_dict(), sort_keys=True, default=str), "final_equity": final,
                    "total_return": final / float(kw["capital"]) - 1.0, "n_trades": int(len(run.trades)),
                    "legs_repriced": int(run.legs_repriced)})
    return out


def sweep_options(bars: pd.DataFrame, signal: pd.Series | np.ndarray, specs: Sequence[OptionsSpec],
                  **kw: Any) -> pd.DataFrame:
    """Backtest every spec of ``specs`` on ``bars`` with ``signal`` (keyword arguments as for
    :func:`simulate_options`, ``capital`` required).

    Returns one row per spec, in order: ``config_no, spec (JSON), final_equity, total_return,
    n_trades, legs_repriced``. With ``PRIMEFLOW_DASK_ADDRESS`` set the specs go to the cluster in
    tasks of ``PRIMEFLOW_CLUSTER_TRIALS_PER_TASK`` configurations."""
    sig = np.asarray(signal, dtype=np.float64)
    specs = list(specs)
    if cluster.cluster_address() is not None:
        parts = cluster.map_chunks(sweep_chunk, [(specs[lo:hi], kw) for lo, hi in
                                                 cluster.chunks(len(specs), cluster.trials_per_task())],
                                   shared=(bars, sig))
        rows = [r for p in parts for r in p]
    else:
        rows = sweep_chunk(bars, sig, specs, kw)
    df = pd.DataFrame(rows, columns=["spec", "final_equity", "total_return", "n_trades", "legs_repriced"])
    df.insert(0, "config_no", np.arange(len(df), dtype=np.int64))
    return df
