"""``live_flow_job``: score one inbox batch, then deliver alerts.

Two ops so the write pool is held only while writing: ``score_inbox_batch`` (pool
``duckdb_write``) validates, scores and stores the batch with its outbox rows in one transaction
and updates paper positions; ``deliver_alerts`` runs the relay (short connections, HTTP outside
them). The batch file moves to ``processed/`` after scoring, or to ``failed/`` with the error.
"""

import dagster as dg

from primeflow_lib import warehouse as db
from primeflow_lib.live.inbox import batch_from_identity, move_done
from primeflow_lib.live.process import deliver_alerts, score_batch_file
from primeflow_lib.redact import redact
from primeflow_pipelines.defs.resources import DUCKDB_WRITE_POOL, PrimeflowConfig, WarehouseResource


class InboxBatchConfig(dg.Config):
    batch: str
    """the batch's identity (file name:size:mtime_ns), as the sensor gives it"""


@dg.op(pool=DUCKDB_WRITE_POOL, out=dg.Out(dg.Nothing))
def score_inbox_batch(
    context: dg.OpExecutionContext, config: InboxBatchConfig, warehouse: WarehouseResource,
    primeflow_config: PrimeflowConfig,
):
    """Score one batch and store signals + outbox rows atomically (see module doc)."""
    cfg = primeflow_config.load()
    path = batch_from_identity(config.batch)
    if not path.exists():
        done = path.parent / "processed" / path.name
        if done.exists():
            context.log.warning(f"{path.name} was already processed; nothing to do "
                                "(use `primeflow inbox requeue` to score it again)")
            return
        raise dg.Failure(description=f"batch {path.name} is not in the inbox {path.parent}")
    try:
        out = score_batch_file(path, warehouse.connect, cfg)
    except Exception as exc:
        move_done(path, failed=True, error=redact(f"{type(exc).__name__}: {exc}"))
        raise
    move_done(path)
    context.log.info(f"{path.name}: {out.prints:,} prints -> {out.events:,} orders, {out.signals} signals "
                     f"{out.signals_by_kind}, {out.enqueued} alerts queued, {out.quarantined} quarantined, "
                     f"lag {out.lag_seconds} s")
    context.add_output_metadata({
        "prints": out.prints, "events": out.events, "signals": out.signals,
        "signals_by_kind": dg.MetadataValue.json(out.signals_by_kind),
        "alerts_enqueued": out.enqueued, "quarantined": out.quarantined,
        "quarantined_by_reason": dg.MetadataValue.json(out.quarantined_by_reason),
        "open_positions": out.open_positions,
        "lag_seconds": dg.MetadataValue.float(float(out.lag_seconds or 0.0)),
        "synthetic": out.synthetic,
        **({"stream_agreed": out.stream_agreed, "stream_only": out.stream_only, "sensor_only_filled_in": out.sensor_only,
            "stream_strength_differs": out.strength_differs} if out.stream_batch else {}),
    })


@dg.op(ins={"after": dg.In(dg.Nothing)})
def deliver_pending_alerts(context: dg.OpExecutionContext, warehouse: WarehouseResource,
                           primeflow_config: PrimeflowConfig):
    """Send the pending outbox rows (Retry-After, pacing, splitting: see docs/alerts.md)."""
    cfg = primeflow_config.load()
    path = warehouse.path or str(db.warehouse_path())
    report = deliver_alerts(lambda: db.connect(path), cfg)
    context.log.info(f"relay: {report.sent} sent, {report.pending} pending, {report.failed_permanent} failed, "
                     f"{report.rate_limited} rate-limited")
    for err in report.errors[:5]:
        context.log.warning(f"delivery problem: {err}")


@dg.job(description="Score one inbox batch of option prints and deliver its alerts.",
        tags={"primeflow/kind": "live"})
def live_flow_job():
    deliver_pending_alerts(after=score_inbox_batch())
