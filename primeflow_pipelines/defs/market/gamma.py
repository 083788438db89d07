"""``market/gamma_exposure``: dealer gamma exposure per underlying from each session's chain
snapshot (library: :mod:`primeflow_lib.flow.gex`; meaning and caveats: docs/flow.md "Dealer
gamma"). Writes ``market.gamma_exposure``, ``market.gamma_by_strike``, ``market.gamma_by_expiry``
and the unusable chain rows to ``market.quarantine``, one transaction per session
(delete-then-insert), then checks what is stored."""

import base64
import datetime as dt

import dagster as dg

from primeflow_lib import warehouse as db
from primeflow_lib.flow.gex import GEX_UNITS, GexInputError, GexResult, compute_gex
from primeflow_lib.flow.gex_plots import gex_png
from primeflow_lib.market import quality
from primeflow_lib.schema import market as m
from primeflow_pipelines.defs.ingest import preview_md
from primeflow_pipelines.defs.market.assets import CHAIN_KEY
from primeflow_pipelines.defs.partitions import backfill_policy, sessions_of, trading_days
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, PrimeflowConfig, WarehouseResource

GAMMA_KEY = dg.AssetKey(["market", "gamma_exposure"])
_CHAIN_COLS = ("trade_date", "underlying", "option_symbol", "expiry", "right", "strike", "open_interest", "iv",
               "underlying_price", "vendor")
_CHECKS = {
    "non_empty": "every session of the partition has rows",
    "unique_key": "(trade_date, underlying) is unique",
    "totals_match_strikes": "total_gex equals the sum of gamma_by_strike.net_gex of the session and underlying",
    "flip_inside_grid": "zero_gamma is null or inside [grid_low, grid_high]",
}


@dg.asset(
    key=GAMMA_KEY,
    deps=[CHAIN_KEY],
    partitions_def=trading_days,
    backfill_policy=backfill_policy(),
    pool=DUCKDB_WRITE_POOL,
    group_name="market",
    kinds={"duckdb", "python"},
    description=m.GAMMA_EXPOSURE.doc,
    check_specs=[dg.AssetCheckSpec(n, asset=GAMMA_KEY, description=d, blocking=True) for n, d in _CHECKS.items()],
)
def gamma_exposure(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, primeflow_config: PrimeflowConfig
) -> dg.MaterializeResult:
    """Dealer gamma exposure per underlying and session from the stored chain snapshot: totals,
    by strike and expiry, call / put walls and the zero-gamma flip (config ``gex``)."""
    cfg = primeflow_config.load()["gex"]
    days = sessions_of(context)
    last: GexResult | None = None
    totals = {"underlyings": 0, "contracts_used": 0, "contracts_expired": 0, "quarantined": 0}
    by_rule: dict[str, int] = {}
    without: list[str] = []
    for i, day in enumerate(days, 1):
        with warehouse.reading(m.OPTION_CHAIN) as con:
            cols = ", ".join(f'"{c}"' for c in _CHAIN_COLS)
            chain = con.execute(f"SELECT {cols} FROM market.option_chain WHERE trade_date = ? "
                                "ORDER BY underlying, option_symbol", [day]).df()
        if chain.empty:
            raise dg.Failure(description=f"market.option_chain has no rows for {day}: materialize "
                             "market/option_chain for that partition first")
        try:
            res = compute_gex(chain, convention=cfg["convention"], grid_pct=cfg["grid_pct"],
                              grid_points=cfg["grid_points"], rate=cfg["risk_free_rate"],
                              source=f"gex:{day}", near_flip_band=cfg["near_flip_band"])
        except GexInputError as exc:
            raise dg.Failure(description=str(exc)) from None
        _write(warehouse, day, res)
        last = res
        for k in totals:
            totals[k] += int(res.stats[k])
        for k, v in res.stats["quarantined_by_rule"].items():
            by_rule[k] = by_rule.get(k, 0) + int(v)
        without += res.stats["underlyings_without_usable_rows"]
        context.log.info(f"[{i}/{len(days)}] {day}: {res.stats['underlyings']} underlyings, "
                         f"{res.stats['contracts_used']:,} contracts, {res.stats['quarantined']:,} quarantined, "
                         f"{int(res.levels['zero_gamma'].notna().sum())} with a flip ({cfg['convention']})")
    checks = _checks(warehouse, days[0], days[-1])
    lv = last.levels
    top = lv.reindex(lv["total_gex"].abs().sort_values(ascending=False).index)
    names = list(top["underlying"].head(int(cfg["plot_names"])))
    png = base64.b64encode(gex_png(lv, last.by_strike, last.profile, names)).decode() if names else ""
    return dg.MaterializeResult(
        metadata={
            "rows": dg.MetadataValue.int(len(lv)),
            "convention": dg.MetadataValue.text(cfg["convention"]),
            "units": dg.MetadataValue.text(GEX_UNITS),
            "underlyings": dg.MetadataValue.int(totals["underlyings"]),
            "contracts_used": dg.MetadataValue.int(totals["contracts_used"]),
            "contracts_expired": dg.MetadataValue.int(totals["contracts_expired"]),
            "quarantined": dg.MetadataValue.int(totals["quarantined"]),
            "quarantined_by_rule": dg.MetadataValue.json(by_rule),
            "underlyings_without_usable_rows": dg.MetadataValue.text(", ".join(without) or "none"),
            "with_flip_last_session": dg.MetadataValue.int(int(lv["zero_gamma"].notna().sum())),
            "levels_last_session": preview_md(top[["underlying", "spot", "total_gex", "call_wall", "put_wall",
                                                   "zero_gamma", "flip_crossings", "regime", "contracts_used"]], 10),
            "gex_by_strike_and_profile": dg.MetadataValue.md(
                f"![GEX by strike and profile](data:image/png;base64,{png})" if png else "_no names_"),
        },
        check_results=checks,
    )


def _write(warehouse: WarehouseResource, day: dt.date, res: GexResult) -> None:
    """The session's three tables and its quarantine rows in one transaction."""
    with warehouse.connect() as con, db.transaction(con):
        db.replace_partition(con, m.GAMMA_EXPOSURE, res.levels, day)
        db.replace_partition(con, m.GAMMA_BY_STRIKE, res.by_strike, day)
        db.replace_partition(con, m.GAMMA_BY_EXPIRY, res.by_expiry, day)
        db.write_quarantine(con, "market", res.quarantine, source=f"gex:{day}", trade_date=day)


def _checks(warehouse: WarehouseResource, lo: dt.date, hi: dt.date) -> list[dg.AssetCheckResult]:
    with warehouse.connect() as con:
        outcomes = {o.name: o for o in quality.run_checks(con, m.GAMMA_EXPOSURE, lo, hi)}
        mismatch = con.execute(
            "SELECT count(*), any_value(concat_ws('|', g.underlying, g.trade_date)) FROM market.gamma_exposure g "
            "LEFT JOIN (SELECT trade_date, underlying, sum(net_gex) AS s FROM market.gamma_by_strike "
            "WHERE trade_date BETWEEN ? AND ? GROUP BY ALL) b USING (trade_date, underlying) "
            "WHERE g.trade_date BETWEEN ? AND ? "
            "AND (b.s IS NULL OR abs(g.total_gex - b.s) > 1e-6 * greatest(abs(g.total_gex), 1))",
            [lo, hi, lo, hi]).fetchall()[0]
        outside = con.execute(
            "SELECT count(*), any_value(concat_ws('|', underlying, trade_date)) FROM market.gamma_exposure "
            "WHERE trade_date BETWEEN ? AND ? AND zero_gamma IS NOT NULL "
            "AND NOT (zero_gamma BETWEEN grid_low AND grid_high)", [lo, hi]).fetchall()[0]
    out = [dg.AssetCheckResult(check_name=n, passed=outcomes[n].passed,
                               metadata={"failing": outcomes[n].failing_rows, "sample": outcomes[n].sample})
           for n in ("non_empty", "unique_key")]
    out.append(dg.AssetCheckResult(check_name="totals_match_strikes", passed=mismatch[0] == 0,
                                   metadata={"failing": int(mismatch[0]), "sample": mismatch[1] or ""}))
    out.append(dg.AssetCheckResult(check_name="flip_inside_grid", passed=outside[0] == 0,
                                   metadata={"failing": int(outside[0]), "sample": outside[1] or ""}))
    return out



