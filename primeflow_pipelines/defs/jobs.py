"""Jobs over the trading-day partitioned assets, the daily schedule after the close, and the
sensor that republishes the read copy after every successful run."""


import dagster as dg

from primeflow_lib import calendar, warehouse

#: every asset on trading-day partitions (market data, prints, flow, paper, research signals)
DAILY_SELECTION = dg.AssetSelection.groups("market", "flow", "live", "research_daily")

daily_job = dg.define_asset_job(
    "daily_partitions_job",
    selection=DAILY_SELECTION,
    description="Materialize one trading day (or a range, in one run) of every partitioned asset.",
)


history_job = dg.define_asset_job(
    "history_job",
    selection=dg.AssetSelection.keys(["market", "universe"], ["market", "ohlcv_daily"]),
    description="Universe and daily bars only, for long backfills (research history).",
)

backtest_job = dg.define_asset_job(
    "backtest_job",
    selection=dg.AssetSelection.keys(["research", "backtest_runs"]),
    description="One backtest: pick a preset or paste a RunConfig in the launchpad.",
)

marts_job = dg.define_asset_job(
    "marts_job",
    selection=dg.AssetSelection.groups("marts"),
    description="Rebuild every marts.* table from dbt_like_sql/.",
)


@dg.schedule(
    job=daily_job,
    cron_schedule="30 17 * * 1-5",
    execution_timezone="America/New_York",
    description="17:30 ET on weekdays (after the 16:15 close of index options): that day's partition.",
)
def daily_after_close(context: dg.ScheduleEvaluationContext):
    day = context.scheduled_execution_time.date()
    if not calendar.is_session(day):
        return dg.SkipReason(f"{day} is not an NYSE session")
    key = day.isoformat()
    return dg.RunRequest(run_key=key, partition_key=key)


@dg.run_status_sensor(
    run_status=dg.DagsterRunStatus.SUCCESS,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Republish var/primeflow_read.duckdb after every successful run, so queries and the "
    "workbench see it without touching the live file (on by default).",
)
def publish_read_copy_on_success(context: dg.RunStatusSensorContext):
    run_id = context.dagster_run.run_id
    record = context.instance.get_run_record_by_id(run_id)
    ended = record.end_time if record is not None else None
    snapshot = warehouse.read_copy_snapshot_time()
    if ended is not None and snapshot is not None and snapshot >= ended:
        # several runs finishing together: the copy taken after this one ended already holds it
        context.log.info(f"read copy (snapshot after run {run_id} ended) already holds its writes")
        return
    path = warehouse.publish_read_copy()
    context.log.info(f"read copy published to {path} after run {run_id}")


@dg.definitions
def job_defs() -> dg.Definitions:
    return dg.Definitions(jobs=[daily_job, history_job, backtest_job, marts_job], schedules=[daily_after_close], sensors=[publish_read_copy_on_success])
