"""``flow/rule_alerts``: every alert rule (built-in routing, ``alerts.rules``, rules saved on the
workbench) evaluated on each session's signals and orders, recorded in ``flow.rule_alerts``
(library: :mod:`primeflow_lib.alerts.daily_rules`; the near-live path runs the same evaluation
and delivers)."""

import dagster as dg

from primeflow_lib import warehouse as db
from primeflow_lib.alerts.daily_rules import daily_rule_hits
from primeflow_lib.alerts.routing import AlertConfigError
from primeflow_lib.schema.desk import RULE_ALERTS
from primeflow_pipelines.defs.flow.assets import CONTEXT_KEY, EVENTS_KEY, SIGNALS_KEY
from primeflow_pipelines.defs.ingest import preview_md
from primeflow_pipelines.defs.market.desk import EARNINGS_KEY
from primeflow_pipelines.defs.partitions import sessions_of, trading_days
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, PrimeflowConfig, WarehouseResource

RULE_ALERTS_KEY = dg.AssetKey(["flow", "rule_alerts"])


@dg.asset(
    key=RULE_ALERTS_KEY,
    deps=[SIGNALS_KEY, EVENTS_KEY, CONTEXT_KEY, EARNINGS_KEY],
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool=DUCKDB_WRITE_POOL,
    group_name="flow",
    kinds={"duckdb", "python"},
    description=RULE_ALERTS.doc,
    check_specs=[
        dg.AssetCheckSpec("hits_reference_rows", asset=RULE_ALERTS_KEY, blocking=True,
                          description="every hit's row is a stored signal (on signal) or order (on order)"),
        dg.AssetCheckSpec("every_signal_routed", asset=RULE_ALERTS_KEY, blocking=True,
                          description="with the built-in rules on, every signal has exactly one built-in hit"),
    ],
)
def rule_alerts(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                primeflow_config: PrimeflowConfig) -> dg.MaterializeResult:
    """Each session's rule hits (alert, cooldown, daily_cap, earnings_gate), one transaction per
    session; nothing is sent from here."""
    cfg = primeflow_config.load()
    days = sessions_of(context)
    by_rule: dict[str, dict[str, int]] = {}
    last = None
    for day in days:
        with warehouse.connect() as con:
            try:
                hits, stats = daily_rule_hits(con, day, cfg)
            except AlertConfigError as exc:
                raise dg.Failure(description=str(exc)) from None
            db.replace_partition(con, RULE_ALERTS, hits, day)
        for r, outs in stats["by_rule"].items():
            for o, n in outs.items():
                by_rule.setdefault(r, {}).setdefault(o, 0)
                by_rule[r][o] += n
        context.log.info(f"{day}: {stats['hits']} hits of {stats['rules']} rules over {stats['signals']} signals "
                         f"and {stats['orders_candidates']} candidate orders")
        last = hits
    lo, hi = days[0], days[-1]
    with warehouse.connect() as con:
        orphan = con.execute(
            f"SELECT count(*), any_value(h.hit_id) FROM {RULE_ALERTS.fqn} h WHERE h.trade_date BETWEEN ? AND ? AND NOT "
            "CASE WHEN h.applies_to = 'order' THEN EXISTS (SELECT 1 FROM flow.flow_events e WHERE e.event_id = h.row_id) "
            "ELSE EXISTS (SELECT 1 FROM flow.signals s WHERE s.signal_id = h.row_id) END", [lo, hi]).fetchone()
        unrouted = 0
        if cfg["alerts"].get("builtin_rules", True):
            unrouted = con.execute(
                f"SELECT count(*) FROM flow.signals s WHERE s.trade_date BETWEEN ? AND ? AND (SELECT count(*) FROM "
                f"{RULE_ALERTS.fqn} h WHERE h.row_id = s.signal_id AND h.rule_source = 'builtin') <> 1",
                [lo, hi]).fetchone()[0]
    return dg.MaterializeResult(
        metadata={"hits_by_rule": dg.MetadataValue.json(by_rule),
                  "last_session": preview_md(last[["rule", "ticker", "ts", "channel", "outcome", "premium"]]
                                             if last is not None and len(last) else last.head(0), 10)},
        check_results=[
            dg.AssetCheckResult(asset_key=RULE_ALERTS_KEY, check_name="hits_reference_rows", passed=orphan[0] == 0,
                                metadata={"failing": int(orphan[0]), "sample": orphan[1] or ""}),
            dg.AssetCheckResult(asset_key=RULE_ALERTS_KEY, check_name="every_signal_routed", passed=unrouted == 0,
                                metadata={"failing": int(unrouted)}),
        ])
