"""Alerts: formatting, routing, the transactional outbox and the relay that delivers it.

Typical use (the live job)::

    from primeflow_lib.alerts import Relay, enqueue_alerts, resolve_channels

    channels = resolve_channels(cfg)             # at start: clear error for a missing variable
    con.execute("BEGIN")
    ... write flow.signals ...
    enqueue_alerts(con, signals, cfg)             # same transaction as the signals
    con.execute("COMMIT")
    con.close()
    report = Relay(lambda: duckdb.connect(path), channels).drain(max_seconds=20)

See ``docs/alerts.md`` for the guarantees and the configuration.
"""

from primeflow_lib.alerts.formatting import (
    FORMAT_VERSION,
    choose_alert_mode,
    format_alert,
    format_deep_dive,
    format_heartbeat,
    format_medium,
    format_short,
)
from primeflow_lib.alerts.outbox import (
    alert_key,
    enqueue_alerts,
    enqueue_heartbeat,
    ensure_alert_tables,
    outbox_counts,
    requeue_failed,
)
from primeflow_lib.alerts.relay import Relay, RelayReport
from primeflow_lib.alerts.retry import RetryPolicy
from primeflow_lib.alerts.routing import AlertConfigError, Channel, Channels, resolve_channels
from primeflow_lib.alerts.splitting import split_message
from primeflow_lib.redact import redact

__all__ = [
    "FORMAT_VERSION",
    "AlertConfigError",
    "Channel",
    "Channels",
    "Relay",
    "RelayReport",
    "RetryPolicy",
    "alert_key",
    "choose_alert_mode",
    "enqueue_alerts",
    "enqueue_heartbeat",
    "ensure_alert_tables",
    "format_alert",
    "format_deep_dive",
    "format_heartbeat",
    "format_medium",
    "format_short",
    "outbox_counts",
    "redact",
    "requeue_failed",
    "resolve_channels",
    "split_message",
]
