"""The streaming path: ``primeflow stream`` scores option prints as they arrive and alerts
within the sweep window of the print, beside the audited sensor path (docs/stream.md).

Modules: :mod:`.scorer` (incremental classification and scoring with the batch rules),
:mod:`.sources` (Massive websocket, Databento live, replay of stored prints, the broker),
:mod:`.journal` (received prints on disk), :mod:`.store` (the stream's own DuckDB: outbox,
signals, divergences), :mod:`.service` (the loop), :mod:`.broker` (NATS JetStream partitions),
:mod:`.reconcile` (the sensor path's check of each stream batch), :mod:`.status` (heartbeat file).
"""
