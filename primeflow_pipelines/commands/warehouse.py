"""``primeflow query`` / ``publish`` / ``docs``: user SQL on the read copy, republishing it, and
the data dictionary."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("sql")
@click.option("--db", "db_path", default=None, help="DuckDB file to read (default: the read copy, PRIMEFLOW_READ_DUCKDB).")
@click.option("--csv", "csv_out", default=None, type=click.Path(dir_okay=False), help="Also write the result to this CSV file.")
@click.option("--max-rows", default=50, show_default=True, help="Rows to print.")
def query(sql: str, db_path: str | None, csv_out: str | None, max_rows: int) -> None:
    """Run SQL against the published read copy and print the result as a table.

    The query runs in the sandbox (primeflow_lib.sql_sandbox): read-only SELECT / EXPLAIN /
    PRAGMA / CALL only; ATTACH, COPY, file readers, INSTALL / LOAD and SET are refused. Export
    with --csv.

    Example: primeflow query "SELECT ticker, count(*) FROM flow.option_prints GROUP BY 1"
    """
    from tabulate import tabulate

    from primeflow_lib.sql_sandbox import run_sandboxed
    from primeflow_lib.warehouse import WarehouseError

    try:
        df = run_sandboxed(sql, path=db_path)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    if csv_out:
        df.to_csv(csv_out, index=False)
    click.echo(tabulate(df.head(max_rows), headers="keys", tablefmt="github", showindex=False, floatfmt=".6g"))
    if len(df) > max_rows:
        click.echo(f"... {len(df) - max_rows:,} more rows ({len(df):,} in all)")


@click.command()
def publish() -> None:
    """Republish the read copy from the live warehouse now."""
    from primeflow_lib.warehouse import publish_read_copy

    click.echo(f"published {publish_read_copy()}")


@click.command()
@click.option("--out", default="docs/data-dictionary.md", show_default=True)
def docs(out: str) -> None:
    """Regenerate the data dictionary from the table declarations."""
    from primeflow_lib.datadict import render_data_dictionary

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(render_data_dictionary() + "\n")
    click.echo(f"wrote {out}")
