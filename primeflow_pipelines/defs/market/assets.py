"""Market data assets on trading-day partitions: universe, daily and 1-minute bars, option chain.

Each asset: pick the vendor for its kind of data, skip sessions already stored for that vendor
(unless ``refresh``), fetch per session (or once for the range when the vendor serves ranges),
validate (bad rows to ``market.quarantine``), rewrite each session atomically, and run the
blocking checks on what is stored.
"""

import dagster as dg

from primeflow_lib.market import daily_history
from primeflow_lib.schema import market as m
from primeflow_lib.vendors import vendor_for
from primeflow_lib.vendors.base import VendorError
from primeflow_pipelines.defs.ingest import (
    IngestConfig,
    cached_days,
    check_specs,
    fetch_allowing_partial,
    ingest_sessions,
    universe_tickers,
)
from primeflow_pipelines.defs.partitions import backfill_policy, sessions_of, trading_days
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, PrimeflowConfig, WarehouseResource

_COMMON = dict(
    partitions_def=trading_days,
    backfill_policy=backfill_policy(),
    pool=DUCKDB_WRITE_POOL,
    group_name="market",
    kinds={"duckdb", "python"},
)

UNIVERSE_KEY = dg.AssetKey(["market", "universe"])
DAILY_KEY = dg.AssetKey(["market", "ohlcv_daily"])
INTRADAY_KEY = dg.AssetKey(["market", "ohlcv_intraday"])
CHAIN_KEY = dg.AssetKey(["market", "option_chain"])


def tickers_by_day(warehouse: WarehouseResource, days, cfg, *, with_benchmark: bool = True) -> dict:
    """Each day's stored universe, plus the regime benchmark (``market_regime.benchmark``)."""
    bench = cfg["market_regime"]["benchmark"]
    with warehouse.connect() as con:
        out = {}
        for d in days:
            tickers = universe_tickers(con, d)
            out[d] = tickers + ([bench] if with_benchmark and bench not in tickers else [])
    return out


@dg.asset(key=UNIVERSE_KEY, check_specs=check_specs(m.UNIVERSE, UNIVERSE_KEY), **_COMMON)
def universe(
    context: dg.AssetExecutionContext, config: IngestConfig, warehouse: WarehouseResource,
    primeflow_config: PrimeflowConfig,
) -> dg.MaterializeResult:
    """Top-N tickers by average share volume over the sessions before each day (config
    ``universe.size``, ``universe.lookback_sessions``)."""
    cfg = primeflow_config.load()
    vendor = vendor_for("universe", cfg)
    size, lookback = cfg["universe"]["size"], cfg["universe"]["lookback_sessions"]
    days = sessions_of(context)
    return ingest_sessions(
        context, warehouse, m.UNIVERSE, days,
        lambda day: vendor.top_volume_tickers(day, size, lookback), source=vendor.name,
        skip=cached_days(warehouse, "universe", vendor.name, days, None, config.refresh),
        allow_partial=config.allow_partial,
    )


@dg.asset(key=DAILY_KEY, deps=[UNIVERSE_KEY], check_specs=check_specs(m.OHLCV_DAILY, DAILY_KEY), **_COMMON)
def ohlcv_daily(
    context: dg.AssetExecutionContext, config: IngestConfig, warehouse: WarehouseResource,
    primeflow_config: PrimeflowConfig,
) -> dg.MaterializeResult:
    """Complete daily OHLCV history (:mod:`primeflow_lib.market.daily_history`): for every ticker in
    the universe on any session of the run, the regime benchmark and ``research.symbols``, the
    bars of every session from the warm-up lookback (about a year) before the first partition
    to the last. Only pairs not stored yet for the vendor are fetched (``refresh`` fetches the
    partition's sessions again), in one vendor call for the range; stored rows of other tickers
    are never deleted."""
    cfg = primeflow_config.load()
    vendor = vendor_for("bars", cfg)
    days = sessions_of(context)
    by_day = tickers_by_day(warehouse, days, cfg)
    try:
        names = daily_history.history_symbols(by_day, cfg)
    except VendorError as exc:
        raise dg.Failure(description=str(exc)) from None
    lookback = daily_history.history_lookback_sessions(cfg)
    sessions = daily_history.history_sessions(days, lookback)
    with warehouse.connect() as con:
        missing = daily_history.missing_pairs(con, names, sessions, vendor.name,
                                              refresh=days if config.refresh else ())
    skip = {d for d in sessions if d not in missing}
    wanted = sum(len(v) for v in missing.values())
    bars = None
    failed: list[str] = []
    unserved: dict[str, int] = {}
    if missing:
        need = sorted({t for ts in missing.values() for t in ts})
        lo, hi = min(missing), max(missing)
        context.log.info(
            f"fetching daily bars for {len(need)} of {len(names)} tickers, {lo} .. {hi} from {vendor.name} "
            f"({wanted:,} (session, ticker) pairs not stored yet; history from {sessions[0]})")
        bars = fetch_allowing_partial(
            context, lambda: vendor.daily_bars(need, lo, hi), config.allow_partial, failed)
        bars = daily_history.keep_pairs(bars, missing)
        unserved = daily_history.unserved(bars, missing)
        if unserved:
            context.log.warning(
                f"{vendor.name} returned no bar for {sum(unserved.values()):,} wanted (session, ticker) pairs: "
                + ", ".join(f"{t} ({n})" for t, n in list(unserved.items())[:20]))

    def fetch(day):
        return bars[bars["trade_date"] == day]

    return ingest_sessions(
        context, warehouse, m.OHLCV_DAILY, sessions, fetch, source=vendor.name, skip=skip,
        failed_tickers=failed, merge=True,
        extra_metadata={
            "history_tickers": dg.MetadataValue.int(len(names)),
            "history_from": dg.MetadataValue.text(str(sessions[0])),
            "history_lookback_sessions": dg.MetadataValue.int(lookback),
            "pairs_fetched": dg.MetadataValue.int(wanted),
            "pairs_unserved_by_vendor": dg.MetadataValue.json(unserved),
        })


@dg.asset(key=INTRADAY_KEY, deps=[UNIVERSE_KEY], check_specs=check_specs(m.OHLCV_INTRADAY, INTRADAY_KEY), **_COMMON)
def ohlcv_intraday(
    context: dg.AssetExecutionContext, config: IngestConfig, warehouse: WarehouseResource,
    primeflow_config: PrimeflowConfig,
) -> dg.MaterializeResult:
    """Regular-session 1-minute bars for each day's universe tickers plus the benchmark
    (coarser timeframes are resampled on read)."""
    cfg = primeflow_config.load()
    vendor = vendor_for("bars", cfg)
    days = sessions_of(context)
    by_day = tickers_by_day(warehouse, days, cfg)
    return ingest_sessions(
        context, warehouse, m.OHLCV_INTRADAY, days,
        lambda day: vendor.intraday_bars(by_day[day], day, day), source=vendor.name,
        skip=cached_days(warehouse, "1m", vendor.name, days, by_day, config.refresh),
        allow_partial=config.allow_partial,
    )


@dg.asset(key=CHAIN_KEY, deps=[UNIVERSE_KEY], check_specs=check_specs(m.OPTION_CHAIN, CHAIN_KEY), **_COMMON)
def option_chain(
    context: dg.AssetExecutionContext, config: IngestConfig, warehouse: WarehouseResource,
    primeflow_config: PrimeflowConfig,
) -> dg.MaterializeResult:
    """End-of-day option chain per universe ticker: open interest, IV, greeks."""
    cfg = primeflow_config.load()
    vendor = vendor_for("chain", cfg)
    days = sessions_of(context)
    by_day = tickers_by_day(warehouse, days, cfg, with_benchmark=False)
    return ingest_sessions(
        context, warehouse, m.OPTION_CHAIN, days,
        lambda day: vendor.option_chain(by_day[day], day), source=vendor.name,
        skip=cached_days(warehouse, "chain", vendor.name, days, by_day, config.refresh),
        allow_partial=config.allow_partial,
    )
