"""The trader's-desk marts built in Python (``marts.iv_stats``, ``marts.oi_change``: a
configurable lookback and the NYSE calendar are beyond one SELECT) and the checks on the desk's
SQL marts (``marts.tide_minute``, ``marts.max_pain``, ``marts.exposure_by_strike`` from
``dbt_like_sql/``). All rebuilt whole, in the ``marts`` group (``marts_job``)."""

import dagster as dg

from primeflow_lib import warehouse as db
from primeflow_lib.flow import volatility as vol
from primeflow_lib.flow.open_interest import missing_prev_summary, missing_snapshots, oi_change
from primeflow_lib.schema.desk import IV_STATS, IV_TERM, OI_CHANGE
from primeflow_pipelines.defs.ingest import preview_md
from primeflow_pipelines.defs.market.assets import CHAIN_KEY
from primeflow_pipelines.defs.market.desk import IV_TERM_KEY
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, PrimeflowConfig, WarehouseResource

IV_STATS_KEY = dg.AssetKey(["marts", "iv_stats"])
OI_CHANGE_KEY = dg.AssetKey(["marts", "oi_change"])
TIDE_KEY = dg.AssetKey(["marts", "tide_minute"])
MAX_PAIN_KEY = dg.AssetKey(["marts", "max_pain"])
EXPOSURE_MART_KEY = dg.AssetKey(["marts", "exposure_by_strike"])

_MART = dict(pool=DUCKDB_WRITE_POOL, group_name="marts", kinds={"duckdb", "python"},
             automation_condition=dg.AutomationCondition.eager())


def _rewrite(warehouse: WarehouseResource, t, df) -> int:
    """Replace the whole table in one transaction."""
    with warehouse.connect() as con, db.transaction(con):
        con.execute(f"DELETE FROM {t.fqn}")
        return db.append_rows(con, t, df)


@dg.asset(key=IV_STATS_KEY, deps=[IV_TERM_KEY], description=IV_STATS.doc,
          check_specs=[dg.AssetCheckSpec("rank_in_unit_interval", asset=IV_STATS_KEY, blocking=True,
                                         description="iv_rank and iv_percentile are null or in [0, 1]; "
                                         "iv_min <= atm_iv_30d <= iv_max"),
                       dg.AssetCheckSpec("window_not_longer_than_asked", asset=IV_STATS_KEY, blocking=True,
                                         description="1 <= sessions_used <= lookback_sessions, "
                                         "short_history = sessions_used < lookback_sessions")],
          **_MART)
def iv_stats(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
             primeflow_config: PrimeflowConfig) -> dg.MaterializeResult:
    """IV rank / percentile per underlying and snapshot over ``volatility.lookback_sessions``
    stored snapshots, with the 30-day ATM IV, term slope and skew."""
    s = vol.settings(primeflow_config.load())
    with warehouse.connect() as con:
        term = con.execute(f"SELECT * FROM {IV_TERM.fqn}").df()
    try:
        stats = vol.iv_rank(vol.iv_daily(term, target_days=s["target_days"], term_days=s["term_days"]),
                            s["lookback_sessions"])
    except vol.VolatilityInputError as exc:
        raise dg.Failure(description=str(exc)) from None
    n = _rewrite(warehouse, IV_STATS, stats)
    warning = vol.history_warning(stats)
    if warning:
        context.log.warning(warning)
    with warehouse.connect() as con:
        bad = con.execute(f"SELECT count(*) FROM {IV_STATS.fqn} WHERE NOT (coalesce(iv_rank BETWEEN 0 AND 1, true) "
                          "AND coalesce(iv_percentile BETWEEN 0 AND 1, true) AND iv_min <= atm_iv_30d + 1e-12 "
                          "AND atm_iv_30d <= iv_max + 1e-12)").fetchone()[0]
        win = con.execute(f"SELECT count(*) FROM {IV_STATS.fqn} WHERE NOT (sessions_used BETWEEN 1 AND "
                          "lookback_sessions AND short_history = (sessions_used < lookback_sessions))").fetchone()[0]
        latest = con.execute(f"SELECT underlying, round(atm_iv_30d, 4) AS atm_iv_30d, round(iv_rank, 3) AS iv_rank, "
                             f"round(iv_percentile, 3) AS iv_percentile, sessions_used, lookback_sessions FROM "
                             f"{IV_STATS.fqn} WHERE trade_date = (SELECT max(trade_date) FROM {IV_STATS.fqn}) "
                             "ORDER BY iv_rank DESC NULLS LAST LIMIT 10").df()
    return dg.MaterializeResult(
        metadata={"rows": dg.MetadataValue.int(n), "lookback_sessions": dg.MetadataValue.int(s["lookback_sessions"]),
                  "history_warning": dg.MetadataValue.text(warning or "none: every window is full"),
                  "latest": preview_md(latest, 10)},
        check_results=[
            dg.AssetCheckResult(asset_key=IV_STATS_KEY, check_name="rank_in_unit_interval", passed=bad == 0,
                                metadata={"failing": int(bad)}),
            dg.AssetCheckResult(asset_key=IV_STATS_KEY, check_name="window_not_longer_than_asked", passed=win == 0,
                                metadata={"failing": int(win)}),
        ])


@dg.asset(key=OI_CHANGE_KEY, deps=[CHAIN_KEY], description=OI_CHANGE.doc,
          check_specs=[dg.AssetCheckSpec("change_is_difference", asset=OI_CHANGE_KEY, blocking=True,
                                         description="status ok: oi_change = open_interest - prev_open_interest; "
                                         "missing_prev_snapshot: oi_change is null")],
          **_MART)
def oi_change_mart(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Day-over-day OI change per contract from consecutive snapshots (a missing previous
    snapshot is named per day and underlying)."""
    with warehouse.connect() as con:
        df = oi_change(con)
        days = sorted({d for (d,) in con.execute("SELECT DISTINCT trade_date FROM market.option_chain").fetchall()})
    n = _rewrite(warehouse, OI_CHANGE, df)
    gaps = missing_prev_summary(df)
    for line in gaps[:20]:
        context.log.warning(line)
    with warehouse.connect() as con:
        bad = con.execute(f"SELECT count(*) FROM {OI_CHANGE.fqn} WHERE (status = 'ok' AND oi_change IS DISTINCT FROM "
                          "open_interest - prev_open_interest) OR (status = 'missing_prev_snapshot' AND oi_change "
                          "IS NOT NULL)").fetchone()[0]
        counts = dict(con.execute(f"SELECT status, count(*) FROM {OI_CHANGE.fqn} GROUP BY 1").fetchall())
    return dg.MaterializeResult(
        metadata={"rows": dg.MetadataValue.int(n), "by_status": dg.MetadataValue.json(counts),
                  "sessions_without_any_snapshot": dg.MetadataValue.text(
                      ", ".join(map(str, missing_snapshots(days))) or "none"),
                  "missing_previous_snapshots": dg.MetadataValue.md("\n".join(f"* {g}" for g in gaps[:20]) or "none")},
        check_results=[dg.AssetCheckResult(asset_key=OI_CHANGE_KEY, check_name="change_is_difference",
                                           passed=bad == 0, metadata={"failing": int(bad)})])


def _check(con, sql: str) -> dg.AssetCheckResult:
    n, sample = con.execute(sql).fetchone()
    return dg.AssetCheckResult(passed=n == 0, metadata={"failing": int(n), "sample": str(sample or "")})


@dg.asset_check(asset=TIDE_KEY, blocking=True,
                description="the running net premium at each series' last minute equals the sum of its minutes, "
                "and the market series equals the sum of the tickers' each minute")
def tide_adds_up(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con:
        a = _check(con, "SELECT count(*), any_value(concat_ws('|', scope, name, trade_date)) FROM (SELECT scope, name, "
                   "trade_date, arg_max(cum_net_premium, minute) AS last, sum(net_premium) AS total FROM "
                   "marts.tide_minute GROUP BY ALL) WHERE abs(last - total) > 1e-6 * greatest(abs(total), 1)")
        b = _check(con, "SELECT count(*), any_value(m.minute) FROM marts.tide_minute m JOIN (SELECT trade_date, minute, "
                   "sum(net_premium) AS s FROM marts.tide_minute WHERE scope = 'ticker' GROUP BY ALL) t USING "
                   "(trade_date, minute) WHERE m.scope = 'market' AND abs(m.net_premium - t.s) > 1e-6 * "
                   "greatest(abs(t.s), 1)")
    return dg.AssetCheckResult(passed=a.passed and b.passed,
                               metadata={"series_not_adding_up": a.metadata["failing"],
                                         "market_minutes_not_adding_up": b.metadata["failing"]})


@dg.asset_check(asset=MAX_PAIN_KEY, blocking=True,
                description="max pain is a listed strike of its expiry and the payout there is >= 0")
def max_pain_is_a_listed_strike(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con:
        return _check(con, "SELECT count(*), any_value(concat_ws('|', p.underlying, p.trade_date, p.expiry)) FROM "
                      "marts.max_pain p WHERE p.payout_usd < 0 OR NOT EXISTS (SELECT 1 FROM market.option_chain c "
                      "WHERE c.trade_date = p.trade_date AND c.underlying = p.underlying AND c.expiry = p.expiry "
                      "AND c.strike = p.max_pain)")


@dg.asset_check(asset=EXPOSURE_MART_KEY, blocking=True,
                description="per snapshot and underlying the strikes' gex adds up to market.gamma_exposure.total_gex "
                "and 0DTE + rest = total for every exposure")
def exposure_adds_up(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect() as con:
        a = _check(con, "SELECT count(*), any_value(concat_ws('|', g.underlying, g.trade_date)) FROM "
                   "market.gamma_exposure g JOIN (SELECT trade_date, underlying, sum(gex) AS s FROM "
                   "marts.exposure_by_strike GROUP BY ALL) e USING (trade_date, underlying) WHERE "
                   "abs(g.total_gex - e.s) > 1e-6 * greatest(abs(g.total_gex), 1)")
        b = _check(con, "SELECT count(*), any_value(concat_ws('|', underlying, trade_date, strike)) FROM "
                   "marts.exposure_by_strike WHERE abs(gex - gex_0dte - gex_rest) + abs(dex - dex_0dte - dex_rest) + "
                   "abs(vanna - vanna_0dte - vanna_rest) + abs(charm - charm_0dte - charm_rest) > "
                   "1e-6 * greatest(abs(gex) + abs(dex) + abs(vanna) + abs(charm), 1)")
    return dg.AssetCheckResult(passed=a.passed and b.passed,
                               metadata={"gex_mismatch": a.metadata["failing"], "split_mismatch": b.metadata["failing"],
                                         "sample": a.metadata["sample"] or b.metadata["sample"]})
