"""Sweeps on a real 2-worker Dask cluster (separate worker processes on 127.0.0.1) equal the
in-process sweeps; a cluster address that does not answer is a clear error, never a silent
in-process run."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("distributed", reason="the scale extra is not installed (uv sync --extra scale)")

from primeflow_lib import calendar  # noqa: E402
from primeflow_lib.research.options import OptionsSpec  # noqa: E402
from primeflow_lib.research.options.sweep import sweep_options  # noqa: E402
from primeflow_lib.research.tuning import study  # noqa: E402
from primeflow_lib.scale import cluster  # noqa: E402
from primeflow_lib.scale.local_services import free_port  # noqa: E402


def _bars(n: int, seed: int = 3) -> pd.DataFrame:
    days = calendar.sessions("2015-01-02", "2030-12-31")[:n]
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high = np.maximum(open_, close) * 1.004
    low = np.minimum(open_, close) * 0.996
    return pd.DataFrame({"open": open_, "high": high, "low": low, "close": close, "volume": 1e6},
                        index=pd.DatetimeIndex(days))


@pytest.fixture(scope="module")
def local_cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as lc:
        yield lc.scheduler_address


@pytest.mark.slow
@pytest.mark.xdist_group("dask_cluster")
def test_tuner_study_on_two_workers_equals_in_process(local_cluster, monkeypatch):
    bars = _bars(400)
    tune = study.TuneConfig(indicators=("rsi", "bollinger"), trials=24_000, folds=study.FoldSpec(n_folds=3), seed=11)
    monkeypatch.delenv(cluster.ADDRESS_ENV, raising=False)
    t0 = time.perf_counter()
    local = study.phiai_full_auto(bars, tune)
    t_local = time.perf_counter() - t0
    monkeypatch.setenv(cluster.ADDRESS_ENV, local_cluster)
    from distributed import get_task_stream

    t0 = time.perf_counter()
    with get_task_stream(client=cluster.client()) as ts:
        remote = study.phiai_full_auto(bars, tune)
    t_remote = time.perf_counter() - t0
    # each indicator's 12,000 trials went out as 2 tasks (10,000 + 2,000), spread over both workers
    tasks = [t for t in ts.data if str(t["key"]).startswith("trial_returns")]
    assert len(tasks) == 4 and len({t["worker"] for t in tasks}) == 2
    assert remote.study_id == local.study_id
    pd.testing.assert_frame_equal(remote.trials, local.trials)
    np.testing.assert_array_equal(remote.oos_returns, local.oos_returns)
    assert remote.stats == local.stats and remote.verdict == local.verdict
    assert remote.chosen == local.chosen and remote.fold_winners == local.fold_winners
    print(f"in-process {t_local:.1f} s, 2-worker cluster {t_remote:.1f} s")


@pytest.mark.slow
@pytest.mark.xdist_group("dask_cluster")
def test_options_sweep_on_two_workers_equals_in_process(local_cluster, monkeypatch):
    bars = _bars(500)
    signal = np.clip(np.random.default_rng(2).normal(0, 0.6, len(bars)), -1, 1)
    base = {"bullish": None, "bearish": None, "neutral": "iron_condor", "dte": 45, "short_delta": 0.2,
            "width": 10.0, "profit_take": 0.5, "stop": 2.0, "dte_exit": 7}
    specs = [OptionsSpec.from_dict({**base, "dte": d, "short_delta": sd, "width": w})
             for d, sd, w in itertools.product((30, 45), (0.15, 0.2, 0.25), (5.0, 10.0))]
    kw = {"capital": 1e6, "threshold": 0.3}
    monkeypatch.delenv(cluster.ADDRESS_ENV, raising=False)
    local = sweep_options(bars, signal, specs, **kw)
    monkeypatch.setenv(cluster.ADDRESS_ENV, local_cluster)
    monkeypatch.setenv(cluster.PER_TASK_ENV, "5")  # 12 configurations -> 3 tasks
    remote = sweep_options(bars, signal, specs, **kw)
    pd.testing.assert_frame_equal(remote, local)
    assert local["n_trades"].sum() > 0


def test_a_cluster_that_does_not_answer_is_an_error_naming_the_setting(monkeypatch):
    addr = f"tcp://127.0.0.1:{free_port()}"
    monkeypatch.setenv(cluster.ADDRESS_ENV, addr)
    monkeypatch.setenv(cluster.TIMEOUT_ENV, "2")
    with pytest.raises(cluster.ClusterError, match=f"PRIMEFLOW_DASK_ADDRESS={addr}: the Dask scheduler did not answer"):
        sweep_options(_bars(300), np.zeros(300), [OptionsSpec.from_dict({"neutral": "iron_condor"})], capital=1e5)
    monkeypatch.setenv(cluster.PER_TASK_ENV, "0")
    with pytest.raises(cluster.ClusterError, match="PRIMEFLOW_CLUSTER_TRIALS_PER_TASK='0'"):
        cluster.trials_per_task()
