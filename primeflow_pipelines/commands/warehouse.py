"""``primeflow query`` / ``publish`` / ``docs``: user SQL on the read copy, republishing it, and
the data dictionary."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("sql")
@click.option("--db", "db_path", default=None,
              help="Only the read copy is accepted (PRIMEFLOW_READ_DUCKDB); any other file is refused.")
@click.option("--csv", "csv_out", default=None, type=click.Path(dir_okay=False), help="Also write the result to this CSV file (a new file; --force to replace one).")
@click.option("--force", is_flag=True, help="With --csv: replace an existing file.")
@click.option("--max-rows", default=50, show_default=True, type=click.IntRange(min=0), help="Rows to print.")
@click.option("--limit", "limit", default=None, type=click.IntRange(min=1, max=10**9),
              help="Rows the result may have, applied in the query (default limits.query_max_rows, 100,000).")
@click.option("--timeout", "timeout_s", default=None, type=click.FloatRange(min=0, min_open=True, max=86400),
              help="Seconds before the query is interrupted (default limits.query_timeout_s, 30; at most a day).")
def query(sql: str, db_path: str | None, csv_out: str | None, force: bool, max_rows: int,
          limit: int | None, timeout_s: float | None) -> None:
    """Run SQL against the published read copy and print the result as a table.

    The query runs in the sandbox (primeflow_lib.sql_sandbox): read-only SELECT / EXPLAIN /
    PRAGMA / CALL only; ATTACH, COPY, file readers, INSTALL / LOAD and SET are refused; only the
    read copy is opened (never the live warehouse); a statement is interrupted after the timeout
    and the result is cut at --limit rows inside the query. Export with --csv.

    Example: primeflow query "SELECT ticker, count(*) FROM flow.option_prints GROUP BY 1"
    """
    from tabulate import tabulate

    from primeflow_lib.config import ConfigError, load_config
    from primeflow_lib.sql_sandbox import run_sandboxed, same_file
    from primeflow_lib.warehouse import WarehouseError, read_copy_path

    read_copy = read_copy_path()
    if db_path is not None and not same_file(db_path, read_copy):
        raise click.BadParameter(
            f"{db_path}: primeflow query reads only the published read copy ({read_copy}); set "
            "PRIMEFLOW_READ_DUCKDB to query another copy (the live warehouse is never opened)",
            param_hint="--db")
    if csv_out and Path(csv_out).exists() and not force:
        raise click.BadParameter(f"{csv_out} already exists; give another file name or --force to replace it",
                                 param_hint="--csv")
    try:
        limits = load_config(with_api_keys=False)["limits"]
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    rows = limit or int(limits["query_max_rows"])
    try:
        df = run_sandboxed(sql, path=read_copy, max_rows=rows,
                           timeout_s=timeout_s or float(limits["query_timeout_s"]))
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    if csv_out:
        try:
            df.to_csv(csv_out, index=False)
        except OSError as exc:
            raise click.BadParameter(f"{csv_out}: cannot write: {exc.strerror or exc}", param_hint="--csv") from None
    click.echo(tabulate(df.head(max_rows), headers="keys", tablefmt="github", showindex=False, floatfmt=".6g"))
    if len(df) > max_rows:
        click.echo(f"... {len(df) - max_rows:,} more rows ({len(df):,} in all)")
    if df.attrs.get("truncated"):
        click.echo(f"result cut at {rows:,} rows (the limit is applied in the query; --limit N for more, "
                   "or aggregate)")
    if csv_out:
        click.echo(f"wrote {len(df):,} rows to {csv_out}")


@click.command()
def publish() -> None:
    """Republish the read copy from the live warehouse now."""
    from primeflow_lib.warehouse import publish_read_copy

    click.echo(f"published {publish_read_copy()}")


@click.command()
@click.option("--out", default="docs/data-dictionary.md", show_default=True,
              type=click.Path(dir_okay=False, writable=True))
def docs(out: str) -> None:
    """Regenerate the data dictionary from the table declarations."""
    from primeflow_lib.datadict import render_data_dictionary

    try:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(render_data_dictionary() + "\n")
    except OSError as exc:
        raise click.BadParameter(f"{out}: cannot write: {exc.strerror or exc}", param_hint="--out") from None
    click.echo(f"wrote {out}")
