import dagster as dg
import pytest

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
