"""Trader's-desk market assets on trading-day partitions: earnings dates, the volatility term
structure and exposure beyond gamma (libraries: :mod:`primeflow_lib.vendors.earnings`,
:mod:`primeflow_lib.flow.volatility`, :mod:`primeflow_lib.flow.exposure`)."""

import datetime as dt

import dagster as dg
import pandas as pd

from primeflow_lib import warehouse as db
from primeflow_lib.flow.exposure import compute_exposure
from primeflow_lib.flow.gex import GexInputError
from primeflow_lib.flow.volatility import iv_term
from primeflow_lib.market import quality
from primeflow_lib.schema import desk
from primeflow_lib.vendors.base import VendorError
from primeflow_lib.vendors.earnings import fetch_earnings
from primeflow_pipelines.defs.ingest import preview_md, universe_tickers
from primeflow_pipelines.defs.market.assets import CHAIN_KEY, UNIVERSE_KEY
from primeflow_pipelines.defs.market.gamma import GAMMA_KEY
from primeflow_pipelines.defs.partitions import sessions_of, trading_days
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, PrimeflowConfig, WarehouseResource

EARNINGS_KEY = dg.AssetKey(["market", "earnings"])
IV_TERM_KEY = dg.AssetKey(["market", "iv_term"])
EXPOSURE_KEY = dg.AssetKey(["market", "greek_exposure"])

_COMMON = dict(
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_WRITE_POOL,
    group_name="market",
    kinds={"duckdb", "python"},
)


def _stored_checks(warehouse: WarehouseResource, t, key: dg.AssetKey, lo, hi, names=("non_empty", "unique_key")):
    with warehouse.connect() as con:
        outcomes = {o.name: o for o in quality.run_checks(con, t, lo, hi)}
    return [dg.AssetCheckResult(asset_key=key, check_name=n, passed=outcomes[n].passed,
                                metadata={"failing": outcomes[n].failing_rows, "sample": outcomes[n].sample})
            for n in names]


@dg.asset(key=EARNINGS_KEY, deps=[UNIVERSE_KEY], description=desk.EARNINGS.doc,
          check_specs=[dg.AssetCheckSpec("unique_key", asset=EARNINGS_KEY, blocking=True,
                                         description="(ticker, report_date, vendor) is unique")],
          **_COMMON)
def earnings(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
             primeflow_config: PrimeflowConfig) -> dg.MaterializeResult:
    """Earnings dates of the window's universe tickers from ``earnings.sources`` (upserted into
    the ``market.earnings`` cache; tickers no source knows stay unknown and are listed)."""
    cfg = primeflow_config.load()
    days = sessions_of(context)
    with warehouse.connect() as con:
        tickers = sorted({t for d in days for t in universe_tickers(con, d)})
    if not tickers:
        raise dg.Failure(description=f"no universe stored for {days[0]}..{days[-1]}: materialize market/universe first")
    try:
        got = fetch_earnings(tickers, days[0], days[-1], cfg, log=context.log.info)
    except VendorError as exc:
        raise dg.Failure(description=str(exc)) from None
    with warehouse.connect() as con, db.transaction(con):
        n = db.upsert_rows(con, desk.EARNINGS, got.rows)
        dup = con.execute(f"SELECT count(*) FROM (SELECT ticker, report_date, vendor FROM {desk.EARNINGS.fqn} "
                          "GROUP BY ALL HAVING count(*) > 1)").fetchone()[0]
    unknown = got.unknown
    return dg.MaterializeResult(
        metadata={"rows": dg.MetadataValue.int(n), "sources": dg.MetadataValue.text(", ".join(got.sources)),
                  "tickers": dg.MetadataValue.int(len(tickers)),
                  "tickers_unknown": dg.MetadataValue.text(", ".join(unknown) or "none"),
                  "preview": preview_md(got.rows.sort_values(["report_date", "ticker"]).head(10))},
        check_results=[dg.AssetCheckResult(asset_key=EARNINGS_KEY, check_name="unique_key", passed=dup == 0,
                                           metadata={"failing": int(dup)})])


def _day_chain(warehouse: WarehouseResource, day: dt.date) -> pd.DataFrame:
    """The stored chain snapshot of ``day``; a run failure naming the partition to materialize
    first when there is none."""
    with warehouse.connect() as con:
        chain = con.execute("SELECT * FROM market.option_chain WHERE trade_date = ?", [day]).df()
    if chain.empty:
        raise dg.Failure(description=f"market.option_chain has no rows for {day}: materialize "
                         "market/option_chain for that partition first")
    return chain


@dg.asset(key=IV_TERM_KEY, deps=[CHAIN_KEY], description=desk.IV_TERM.doc,
          check_specs=[dg.AssetCheckSpec(n, asset=IV_TERM_KEY, blocking=True, description=d) for n, d in (
              ("non_empty", "every session of the partition has rows"),
              ("unique_key", "(trade_date, underlying, expiry) is unique"),
              ("iv_in_range", "atm_iv is finite and in (0, 5]"))],
          **_COMMON)
def iv_term_structure(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                      primeflow_config: PrimeflowConfig) -> dg.MaterializeResult:
    """ATM IV and 25-delta skew per expiry of each chain snapshot (config ``gex.risk_free_rate``
    for the deltas)."""
    cfg = primeflow_config.load()
    days = sessions_of(context)
    totals = {"expiries": 0, "expired": 0, "not_bracketing": 0, "rows_without_iv": 0}
    last = None
    for day in days:
        chain = _day_chain(warehouse, day)
        term, counts = iv_term(chain, rate=float(cfg["gex"]["risk_free_rate"]))
        with warehouse.connect() as con:
            db.replace_partition(con, desk.IV_TERM, term, day)
        for k in totals:
            totals[k] += counts[k]
        last = term
    checks = _stored_checks(warehouse, desk.IV_TERM, IV_TERM_KEY, days[0], days[-1])
    with warehouse.connect() as con:
        bad = con.execute(f"SELECT count(*) FROM {desk.IV_TERM.fqn} WHERE trade_date BETWEEN ? AND ? "
                          "AND NOT (isfinite(atm_iv) AND atm_iv > 0 AND atm_iv <= 5)", [days[0], days[-1]]).fetchone()[0]
    checks.append(dg.AssetCheckResult(asset_key=IV_TERM_KEY, check_name="iv_in_range", passed=bad == 0,
                                      metadata={"failing": int(bad)}))
    return dg.MaterializeResult(
        metadata={**{k: dg.MetadataValue.int(v) for k, v in totals.items()},
                  "preview": preview_md(last.head(10) if last is not None else last)},
        check_results=checks)


@dg.asset(key=EXPOSURE_KEY, deps=[CHAIN_KEY, GAMMA_KEY], description=desk.GREEK_EXPOSURE.doc,
          check_specs=[dg.AssetCheckSpec(n, asset=EXPOSURE_KEY, blocking=True, description=d) for n, d in (
              ("non_empty", "every session of the partition has rows"),
              ("unique_key", "(trade_date, underlying, expiry, strike) is unique"),
              ("gex_matches_gamma_exposure",
               "the summed gex of each snapshot and underlying equals market.gamma_exposure.total_gex"))],
          **_COMMON)
def greek_exposure(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                   primeflow_config: PrimeflowConfig) -> dg.MaterializeResult:
    """DEX, vanna and charm exposure (with GEX) per strike and expiry, under ``gex.convention``."""
    cfg = primeflow_config.load()["gex"]
    days = sessions_of(context)
    totals = {"contracts_used": 0, "contracts_expired": 0, "contracts_unusable": 0}
    for day in days:
        chain = _day_chain(warehouse, day)
        try:
            rows, counts = compute_exposure(chain, convention=cfg["convention"], rate=float(cfg["risk_free_rate"]))
        except GexInputError as exc:
            raise dg.Failure(description=str(exc)) from None
        with warehouse.connect() as con:
            db.replace_partition(con, desk.GREEK_EXPOSURE, rows, day)
        for k in totals:
            totals[k] += counts[k]
    checks = _stored_checks(warehouse, desk.GREEK_EXPOSURE, EXPOSURE_KEY, days[0], days[-1])
    with warehouse.connect() as con:
        mism = con.execute(
            "SELECT count(*), any_value(concat_ws('|', g.underlying, g.trade_date)) FROM market.gamma_exposure g "
            f"LEFT JOIN (SELECT trade_date, underlying, sum(gex) AS s FROM {desk.GREEK_EXPOSURE.fqn} "
            "WHERE trade_date BETWEEN ? AND ? GROUP BY ALL) e USING (trade_date, underlying) "
            "WHERE g.trade_date BETWEEN ? AND ? AND (e.s IS NULL OR abs(g.total_gex - e.s) > "
            "1e-6 * greatest(abs(g.total_gex), 1))", [days[0], days[-1], days[0], days[-1]]).fetchone()
        top = con.execute(
            f"SELECT underlying, sum(gex) AS gex, sum(dex) AS dex, sum(vanna) AS vanna, sum(charm) AS charm, "
            f"sum(gex) FILTER (WHERE zero_dte) AS gex_0dte FROM {desk.GREEK_EXPOSURE.fqn} WHERE trade_date = ? "
            "GROUP BY ALL ORDER BY abs(sum(gex)) DESC LIMIT 8", [days[-1]]).df()
    checks.append(dg.AssetCheckResult(asset_key=EXPOSURE_KEY, check_name="gex_matches_gamma_exposure",
                                      passed=mism[0] == 0, metadata={"failing": int(mism[0]), "sample": mism[1] or ""}))
    return dg.MaterializeResult(
        metadata={**{k: dg.MetadataValue.int(v) for k, v in totals.items()},
                  "convention": dg.MetadataValue.text(cfg["convention"]),
                  "last_session_by_underlying": preview_md(top, 8)},
        check_results=checks)
