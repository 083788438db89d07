"""Resources: the warehouse and the configuration. Executors and pools are set here too."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import dagster as dg
import duckdb

from primeflow_lib import warehouse
from primeflow_lib.config import load_config

#: every asset that writes the warehouse runs in this pool (limit 1 in dagster_home/dagster.yaml)
DUCKDB_WRITE_POOL = "duckdb_write"


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse. ``path`` defaults to ``PRIMEFLOW_DUCKDB`` (``var/primeflow.duckdb``),
    ``read_path`` to ``PRIMEFLOW_READ_DUCKDB`` (``var/primeflow_read.duckdb``)."""

    path: str | None = None
    read_path: str | None = None
    lock_timeout_s: float = 120.0

    @contextlib.contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short read-write connection with the declared tables ensured."""
        path = self.path or warehouse.warehouse_path()
        with warehouse.connect(path, lock_timeout_s=self.lock_timeout_s) as con:
            warehouse.ensure_tables_once(con, path)
            yield con

    @contextlib.contextmanager
    def reading(self, *tables: str | Any) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to read ``tables``: for lake tables only, one that does not open the
        warehouse file (:func:`primeflow_lib.warehouse.connect_for`); otherwise :meth:`connect`."""
        if tables and all(warehouse.in_lake(t) for t in tables):
            with warehouse.connect_for(tables) as con:
                yield con
        else:
            with self.connect() as con:
                yield con

    def publish(self) -> str:
        """Republish the read copy; returns its path."""
        return str(warehouse.publish_read_copy(self.path, self.read_path))


class PrimeflowConfig(dg.ConfigurableResource):
    """The PrimeFlow configuration file (``config.yaml`` / ``PRIMEFLOW_CONFIG`` when ``path`` is
    unset). API keys come from the environment only, never from here."""

    path: str | None = None

    def load(self) -> dict[str, Any]:
        return load_config(self.path)


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={"warehouse": WarehouseResource(), "primeflow_config": PrimeflowConfig()},
        executor=dg.in_process_executor,
    )
