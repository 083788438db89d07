"""``flow/option_prints``: raw option trades per session for the universe's underlyings."""

import dagster as dg

from primeflow_lib.schema import flow as f
from primeflow_lib.vendors import vendor_for
from primeflow_pipelines.defs.ingest import IngestConfig, cached_days, check_specs, ingest_sessions
from primeflow_pipelines.defs.market.assets import UNIVERSE_KEY, tickers_by_day
from primeflow_pipelines.defs.partitions import backfill_policy, sessions_of, trading_days
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, PrimeflowConfig, WarehouseResource

PRINTS_KEY = dg.AssetKey(["flow", "option_prints"])


@dg.asset(
    key=PRINTS_KEY,
    deps=[UNIVERSE_KEY],
    check_specs=check_specs(f.OPTION_PRINTS, PRINTS_KEY),
    partitions_def=trading_days,
    backfill_policy=backfill_policy(),
    pool=DUCKDB_WRITE_POOL,
    group_name="flow",
    kinds={"duckdb", "python"},
)
def option_prints(
    context: dg.AssetExecutionContext, config: IngestConfig, warehouse: WarehouseResource,
    primeflow_config: PrimeflowConfig,
) -> dg.MaterializeResult:
    """Every option print of the session on the universe's underlyings, as the vendor sent it
    (cancels, late and multi-leg prints included: classification happens in flow/flow_events).
    Prints with a non-positive or non-finite price or size, an unparseable symbol, a duplicate id
    or a timestamp outside the session go to ``flow.quarantine``."""
    cfg = primeflow_config.load()
    vendor = vendor_for("prints", cfg)
    days = sessions_of(context)
    by_day = tickers_by_day(warehouse, days, cfg, with_benchmark=False)
    return ingest_sessions(
        context, warehouse, f.OPTION_PRINTS, days,
        lambda day: vendor.option_prints(by_day[day], day), source=vendor.name,
        skip=cached_days(warehouse, "prints", vendor.name, days, by_day, config.refresh),
        allow_partial=config.allow_partial,
    )
