"""``market/l2_features``: level-2 book features per ticker and minute from the configured L2
source (config ``l2``; library: :mod:`primeflow_lib.market.l2_sources`). One transaction per
session (delete-then-insert). Without an L2 source the run succeeds, writes nothing and says so
in its log and metadata: the flow context's ``l2_*`` fields then stay null."""

import datetime as dt

import dagster as dg

from primeflow_lib import warehouse as db
from primeflow_lib.config import ConfigError
from primeflow_lib.market.l2_sources import L2Settings, build_l2_day
from primeflow_lib.schema import market as m
from primeflow_lib.vendors.base import VendorError
from primeflow_pipelines.defs.ingest import preview_md
from primeflow_pipelines.defs.partitions import backfill_policy, sessions_of, trading_days
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, PrimeflowConfig, WarehouseResource

L2_KEY = dg.AssetKey(["market", "l2_features"])
NO_SOURCE = ("no L2 source configured (config l2.source is null): market.l2_features not written; the flow "
             "context's l2_* fields stay null")
_CHECKS = {
    "unique_key": "(ticker, ts) is unique",
    "book_not_crossed": "every stored spread is > 0 and every depth imbalance in [-1, 1]",
}


@dg.asset(
    key=L2_KEY,
    partitions_def=trading_days,
    backfill_policy=backfill_policy(),
    pool=DUCKDB_WRITE_POOL,
    group_name="market",
    kinds={"duckdb", "python"},
    description=m.L2_FEATURES.doc,
    check_specs=[dg.AssetCheckSpec(n, asset=L2_KEY, description=d, blocking=True) for n, d in _CHECKS.items()],
)
def l2_features(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, primeflow_config: PrimeflowConfig
) -> dg.MaterializeResult:
    """Order-flow imbalance, spread and depth imbalance per ticker and minute from Databento MBO or
    MBP-10 records (local DBN files or the historical API, config ``l2``)."""
    cfg = primeflow_config.load()
    try:
        settings = L2Settings.from_config(cfg)
    except ConfigError as exc:
        raise dg.Failure(description=str(exc)) from None
    days = sessions_of(context)
    if settings is None:
        context.log.info(NO_SOURCE)
        return dg.MaterializeResult(
            metadata={"l2_source": dg.MetadataValue.text("none"), "note": dg.MetadataValue.text(NO_SOURCE),
                      "rows": dg.MetadataValue.int(0)},
            check_results=_checks(warehouse, days[0], days[-1]))
    context.log.info(f"L2 source: {settings.describe()}")
    rows = 0
    notes: list[str] = []
    issues: list[str] = []
    per_ticker: dict[str, dict[str, int]] = {}
    last = None
    for i, day in enumerate(days, 1):
        try:
            res = build_l2_day(settings, day, cfg)
        except (ValueError, OSError, VendorError) as exc:
            raise dg.Failure(description=f"{day}: {exc}") from None
        with warehouse.connect() as con, db.transaction(con):
            db.replace_partition(con, m.L2_FEATURES, res.rows, day)
        rows += len(res.rows)
        notes += [f"{day}: {n}" for n in res.notes]
        issues += [f"{day}: {n}" for n in res.issues]
        for t, st in res.stats.items():
            acc = per_ticker.setdefault(t, {})
            for k, v in st.items():
                acc[k] = acc.get(k, 0) + int(v)
        for n in res.notes:
            context.log.warning(f"{day}: {n}")
        context.log.info(f"[{i}/{len(days)}] {day}: {len(res.rows):,} minute rows, "
                         f"{sum(s['messages'] for s in res.stats.values()):,} records, "
                         f"{len(res.issues)} book integrity issue(s)")
        last = res
    cols = ["ticker", "ts", "ofi", "book_events", "spread", "depth_imbalance", "synced", "book_issues"]
    return dg.MaterializeResult(
        metadata={
            "l2_source": dg.MetadataValue.text(settings.describe()),
            "rows": dg.MetadataValue.int(rows),
            "per_ticker": dg.MetadataValue.json(per_ticker),
            "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in notes) or "_none_"),
            "book_issues": dg.MetadataValue.md("\n".join(f"- {n}" for n in issues[:50]) or "_none_"),
            "last_session_preview": preview_md(last.rows[cols], 10),
        },
        check_results=_checks(warehouse, days[0], days[-1]),
    )


def _checks(warehouse: WarehouseResource, lo: dt.date, hi: dt.date) -> list[dg.AssetCheckResult]:
    with warehouse.connect() as con:
        dup = con.execute(
            "SELECT count(*), any_value(concat_ws('|', ticker, ts)) FROM (SELECT ticker, ts FROM market.l2_features "
            "WHERE trade_date BETWEEN ? AND ? GROUP BY ALL HAVING count(*) > 1)", [lo, hi]).fetchall()[0]
        bad = con.execute(
            "SELECT count(*), any_value(concat_ws('|', ticker, ts)) FROM market.l2_features "
            "WHERE trade_date BETWEEN ? AND ? AND (spread <= 0 OR abs(depth_imbalance) > 1)", [lo, hi]).fetchall()[0]
    return [dg.AssetCheckResult(check_name="unique_key", passed=dup[0] == 0,
                                metadata={"failing": int(dup[0]), "sample": dup[1] or ""}),
            dg.AssetCheckResult(check_name="book_not_crossed", passed=bad[0] == 0,
                                metadata={"failing": int(bad[0]), "sample": bad[1] or ""})]
