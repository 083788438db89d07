"""Declarations of the near-live copies of the flow tables: ``live.flow_events`` and
``live.signals``.

The near-live job scores inbox batches with the same library code as the daily partitions and
writes here, not into ``flow.*``: a daily partition rewrite of ``flow.signals`` must never delete
what was alerted live. Same columns as their ``flow.*`` twins.
"""

from __future__ import annotations

import dataclasses

from primeflow_lib.schema.flow import FLOW_EVENTS, SIGNALS

LIVE_FLOW_EVENTS = dataclasses.replace(
    FLOW_EVENTS,
    schema="live",
    doc="Orders built by the near-live job from inbox batches (columns as flow.flow_events). "
    "Earlier batches of the session are the memory for clusters and repeats.",
)
LIVE_SIGNALS = dataclasses.replace(
    SIGNALS,
    schema="live",
    doc="Signals scored by the near-live job (columns as flow.signals); every row has outbox "
    "rows in live.alert_outbox written in the same transaction.",
)

TABLES = (LIVE_FLOW_EVENTS, LIVE_SIGNALS)
