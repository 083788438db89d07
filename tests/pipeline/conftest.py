import dagster as dg
import numpy as np
import pandas as pd
import pytest

from primeflow_lib import warehouse
from primeflow_lib.research.history import ensure_tables
from primeflow_pipelines.defs.resources import PrimeflowConfig, WarehouseResource

SMALL_CONFIG = """
universe:
  size: 6
synthetic:
  prints_per_ticker_day: 300
"""


@pytest.fixture
def small_config(tmp_path, monkeypatch):
    p = tmp_path / "config.yaml"
    p.write_text(SMALL_CONFIG)
    monkeypatch.setenv("PRIMEFLOW_CONFIG", str(p))
    return p


@pytest.fixture
def resources(small_config):
    return {"warehouse": WarehouseResource(), "primeflow_config": PrimeflowConfig()}


def range_tags(start: str, end: str) -> dict:
    return {"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end}


@pytest.fixture
def materialize_range(resources):
    """Materialize ``assets`` over a partition range in one run (single-run backfill)."""

    def run(assets, start, end, **kw):
        return dg.materialize(assets, resources=resources, tags=range_tags(start, end),
                              instance=dg.DagsterInstance.ephemeral(), raise_on_error=False, **kw)

    return run


@pytest.fixture
def store_daily_bars():
    """Write ``n`` random-walk daily bars of ``ticker`` (business days from ``start``, vendor
    synthetic) into market.ohlcv_daily of the test's warehouse."""

    def store(ticker: str, n: int, seed: int, start: str) -> None:
        rng = np.random.default_rng(seed)
        c = 100 * np.exp(np.cumsum(rng.normal(0.0003, 0.012, n)))
        o = np.r_[c[0], c[:-1]]
        days = pd.bdate_range(start, periods=n).date
        df = pd.DataFrame({"ticker": ticker, "trade_date": days, "open": o, "high": np.maximum(o, c) * 1.004,
                           "low": np.minimum(o, c) * 0.996, "close": c, "volume": 1e6, "vwap": c,
                           "vendor": "synthetic"})
        with warehouse.connect() as con:
            warehouse.ensure_tables(con)
            ensure_tables(con)
            cols = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns WHERE "
                                              "table_schema = 'market' AND table_name = 'ohlcv_daily'").fetchall()]
            for col in cols:
                if col not in df:
                    df[col] = None
            con.register("b", df[cols])
            con.execute("INSERT INTO market.ohlcv_daily SELECT * FROM b")

    return store
