"""``flow_inbox_sensor``: one run of ``live_flow_job`` per new batch file in the inbox.

Only lists the folder (a ``stat`` per file; it never opens a file or the warehouse). The run key
is the file's identity (name, size, mtime), so a batch is scored once; the cursor remembers the
identities already requested while they are still in the inbox, so an unchanged inbox requests
nothing.
"""

import json

import dagster as dg

from primeflow_lib.live.inbox import inbox_path, list_batches
from primeflow_pipelines.defs.live.job import live_flow_job

#: batches requested per tick at most (the rest wait for the next tick, oldest first)
MAX_RUNS_PER_TICK = 50


@dg.sensor(
    job=live_flow_job,
    minimum_interval_seconds=1,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New option-print batches in PRIMEFLOW_INBOX (written by `primeflow feed`).",
)
def flow_inbox_sensor(context: dg.SensorEvaluationContext):
    batches = list_batches()
    state = json.loads(context.cursor) if context.cursor else {}
    requested = set(state.get("requested", []))
    new = [b for b in batches if b.identity not in requested][:MAX_RUNS_PER_TICK]
    for b in new:
        yield dg.RunRequest(
            run_key=b.identity,
            run_config={"ops": {"score_inbox_batch": {"config": {"batch": b.identity}}}},
            tags={"primeflow/batch": b.path.name},
        )
    present = {b.identity for b in batches}
    context.update_cursor(json.dumps({"requested": sorted((requested | {b.identity for b in new}) & present)}))
    if not new:
        yield dg.SkipReason(f"no new batch in {inbox_path()} ({len(batches)} waiting)")


@dg.definitions
def live_defs() -> dg.Definitions:
    return dg.Definitions(jobs=[live_flow_job], sensors=[flow_inbox_sensor])
