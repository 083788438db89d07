"""Dagster's view of the streaming path: ``stream_health_sensor`` reads every stream's status
file (it never opens the stream's database, which the stream holds), records an observation of
the ``live/stream`` asset (heartbeat, lag, counts) and, when a stream stalls (no heartbeat for
``stream.stall_seconds`` while not stopped), launches ``stream_stalled_job``: its run sends the
operator alert to ``alerts.heartbeat_channel`` and fails, so the stall shows as a failed run.
"""

import dagster as dg

from primeflow_lib import warehouse as db
from primeflow_lib.alerts.outbox import enqueue_operator_alert
from primeflow_lib.config import load_config
from primeflow_lib.live.process import deliver_alerts
from primeflow_lib.live.stream.status import heartbeat_age, is_stalled, read_statuses
from primeflow_lib.live.stream.store import stream_dir
from primeflow_pipelines.defs.resources import PrimeflowConfig, WarehouseResource

STREAM_ASSET = dg.AssetKey(["live", "stream"])

stream_asset = dg.AssetSpec(
    STREAM_ASSET,
    description="The streaming path (`primeflow stream run`): observed from its status files by "
    "stream_health_sensor (state, prints, signals, alerts, lag, divergences).",
    group_name="live",
)


class StalledStreamConfig(dg.Config):
    stream_id: str
    """the stalled instance"""
    heartbeat_at: str
    """its last heartbeat (UTC)"""
    age_seconds: float
    """seconds since it, when the sensor saw the stall"""


@dg.op
def report_stalled_stream(context: dg.OpExecutionContext, config: StalledStreamConfig,
                          warehouse: WarehouseResource, primeflow_config: PrimeflowConfig):
    """Alert the operator on the heartbeat channel, then fail the run."""
    cfg = primeflow_config.load()
    text = (f"PrimeFlow stream {config.stream_id} stalled: no heartbeat since {config.heartbeat_at} UTC "
            f"({config.age_seconds:.0f} s); alerts are only coming from the sensor path. "
            "Check the process and restart it (`make stream`): it resumes from its journal.")
    with warehouse.connect() as con:
        enqueue_operator_alert(con, f"stream-stalled:{config.stream_id}:{config.heartbeat_at}", text, cfg,
                               details={"stream_id": config.stream_id, "heartbeat_at": config.heartbeat_at})
    path = warehouse.path or str(db.warehouse_path())
    report = deliver_alerts(lambda: db.connect(path), cfg, max_seconds=20.0)
    context.log.info(f"operator alert: {report.sent} sent, {report.pending} pending")
    raise dg.Failure(description=text)


@dg.job(description="A stream stopped sending heartbeats: alert the operator and fail.",
        tags={"primeflow/kind": "live"})
def stream_stalled_job():
    report_stalled_stream()


@dg.sensor(
    job=stream_stalled_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Heartbeat, lag and counts of every stream (status files in PRIMEFLOW_STREAM_DIR); "
    "a stalled stream fails a run of stream_stalled_job and alerts the heartbeat channel.",
)
def stream_health_sensor(context: dg.SensorEvaluationContext):
    statuses = read_statuses(stream_dir())
    if not statuses:
        return dg.SkipReason(f"no stream status in {stream_dir()}")
    stall = float(load_config()["stream"]["stall_seconds"])
    events, runs = [], []
    for st in statuses:
        sid = str(st.get("stream_id"))
        age = heartbeat_age(st)
        stalled = is_stalled(st, stall)
        meta = {k: st[k] for k in ("state", "trade_date", "source", "prints", "events", "signals", "alerts_sent",
                                   "alerts_pending", "quarantined", "divergences", "open_prints", "lag_seconds",
                                   "connections", "gaps", "last_error") if st.get(k) is not None}
        meta.update({"stream_id": sid, "heartbeat_age_seconds": -1.0 if age is None else round(age, 1),
                     "stalled": stalled})
        events.append(dg.AssetObservation(asset_key=STREAM_ASSET, partition=None, metadata=meta))
        if stalled:
            at = str(st.get("heartbeat_at", "unknown"))
            runs.append(dg.RunRequest(
                run_key=f"stalled:{sid}:{at}",
                run_config={"ops": {"report_stalled_stream": {"config": {
                    "stream_id": sid, "heartbeat_at": at, "age_seconds": float(age or -1.0)}}}},
                tags={"primeflow/stream": sid},
            ))
    return dg.SensorResult(run_requests=runs, asset_events=events)


@dg.definitions
def stream_health_defs() -> dg.Definitions:
    return dg.Definitions(assets=[stream_asset], jobs=[stream_stalled_job], sensors=[stream_health_sensor])
