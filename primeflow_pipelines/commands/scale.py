"""``primeflow scale check``: test the scale profile's settings (PostgreSQL, lake, Dask)."""

from __future__ import annotations

import click

from primeflow_lib.scale import preflight
from primeflow_lib.warehouse_errors import WarehouseError


@click.group("scale")
def scale() -> None:
    """The scale profile (docs/scaling.md)."""


@scale.command("check")
@click.option("--no-postgres", is_flag=True, help="skip the PostgreSQL instance (e.g. on a worker machine)")
def check(no_postgres: bool) -> None:
    """Connect to the PostgreSQL instance, open every lake table and reach the Dask scheduler, as
    the environment names them; exit 1 with the setting that is wrong."""
    steps = [("lake", preflight.check_lake), ("cluster", preflight.check_cluster)]
    if not no_postgres:
        steps.insert(0, ("postgres", preflight.check_postgres))
    for name, fn in steps:
        try:
            click.echo(f"{name:9s} ok: {fn()}")
        except WarehouseError as exc:
            raise click.ClickException(f"{name}: {exc}") from None
