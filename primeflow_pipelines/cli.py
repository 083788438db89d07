"""The ``primeflow`` command line.

Commands that only read or compute call ``primeflow_lib`` directly; ``demo`` drives real Dagster
runs on the instance in ``DAGSTER_HOME`` (so they show up in the UI afterwards).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click


@click.group()
@click.version_option(package_name="primeflow")
def main() -> None:
    """PrimeFlow: options-flow intelligence and strategy research on Dagster + DuckDB."""


@main.command()
@click.argument("sql")
@click.option("--db", "db_path", default=None, help="DuckDB file to read (default: the read copy, PRIMEFLOW_READ_DUCKDB).")
@click.option("--csv", "csv_out", default=None, type=click.Path(dir_okay=False), help="Also write the result to this CSV file.")
@click.option("--max-rows", default=50, show_default=True, help="Rows to print.")
def query(sql: str, db_path: str | None, csv_out: str | None, max_rows: int) -> None:
    """Run SQL against the published read copy and print the result as a table.

    Example: primeflow query "SELECT ticker, count(*) FROM flow.option_prints GROUP BY 1"
    """
    from tabulate import tabulate

    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.warehouse import query as run_query

    try:
        df = run_query(sql, path=db_path)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    if csv_out:
        df.to_csv(csv_out, index=False)
    click.echo(tabulate(df.head(max_rows), headers="keys", tablefmt="github", showindex=False, floatfmt=".6g"))
    if len(df) > max_rows:
        click.echo(f"... {len(df) - max_rows:,} more rows ({len(df):,} in all)")


@main.command()
def publish() -> None:
    """Republish the read copy from the live warehouse now."""
    from primeflow_lib.warehouse import publish_read_copy

    click.echo(f"published {publish_read_copy()}")


@main.command()
@click.option("--out", default="docs/data-dictionary.md", show_default=True)
def docs(out: str) -> None:
    """Regenerate the data dictionary from the table declarations."""
    from primeflow_lib.datadict import render_data_dictionary

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(render_data_dictionary() + "\n")
    click.echo(f"wrote {out}")


@main.command()
@click.option("--sessions", type=int, default=None, help="Trading days to build (default: config demo.sessions).")
@click.option("--end", "end_date", default=None, help="Last session, YYYY-MM-DD (default: config demo.end_date or the latest completed session).")
def demo(sessions: int | None, end_date: str | None) -> None:
    """Build the demo warehouse through real Dagster runs on the synthetic vendor, publish the
    read copy and print a summary."""
    from primeflow_pipelines.demo import run_demo

    if not os.environ.get("DAGSTER_HOME"):
        raise click.ClickException("DAGSTER_HOME is not set (run through `make demo`, or export DAGSTER_HOME=$PWD/dagster_home)")
    t0 = time.monotonic()
    try:
        summary = run_demo(sessions=sessions, end_date=end_date, echo=click.echo)
    except Exception as exc:  # noqa: BLE001 - the demo reports any failure in one line and exits 1
        click.echo(f"demo failed: {exc}", err=True)
        sys.exit(1)
    click.echo(summary)
    click.echo(f"demo finished in {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
