"""``primeflow import prints|chain --source cboe|dbn --path ...``: vendor files into the warehouse."""

from __future__ import annotations

import json

import click

from primeflow_lib.vendors.imports import IMPORT_SOURCES


@click.group("import")
def import_group() -> None:
    """Import vendor files: Cboe DataShop trades and chain exports, Databento DBN files."""


_source = click.option("--source", type=click.Choice(IMPORT_SOURCES), required=True,
                       help="cboe: DataShop Option Trades CSV / *_quotedata.csv; dbn: Databento .dbn(.zst) files.")
_path = click.option("--path", "paths", multiple=True, required=True, type=click.Path(exists=True),
                     help="A file or a folder (searched recursively); repeatable.")
_store = click.option("--store/--no-store", default=True, show_default=True,
                      help="Write the rows to the warehouse (each session and vendor replaced).")


def _write(table, rows, no_publish: bool) -> None:
    from primeflow_lib import warehouse as db
    from primeflow_lib.vendors.imports import store

    with db.connect() as con:
        db.ensure_tables(con)
        n = store(con, table, rows)
    click.echo(f"stored {n:,} rows in {table.fqn}")
    if not no_publish:
        click.echo(f"published {db.publish_read_copy()}")


@import_group.command("prints")
@_source
@_path
@_store
@click.option("--score/--no-score", default=True, show_default=True,
              help="Also run the flow engine on the prints and print its accounting.")
@click.option("--no-publish", is_flag=True, help="Do not republish the read copy afterwards.")
def prints_cmd(source, paths, store, score, no_publish) -> None:
    """Option prints into flow.option_prints.

    Example: primeflow import prints --source dbn --path ../shared/real-data/databento/OPRA.PILLAR
    """
    from primeflow_lib.config import load_config
    from primeflow_lib.real_data_check import CheckReport, flow_rows
    from primeflow_lib.schema.flow import OPTION_PRINTS
    from primeflow_lib.vendors.base import VendorError
    from primeflow_lib.vendors.imports import read_prints

    try:
        rows, reports = read_prints(source, paths)
    except (VendorError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    for r in reports:
        click.echo(json.dumps(r, default=str))
    click.echo(f"read {len(rows):,} prints")
    if score:
        from tabulate import tabulate

        rep = CheckReport()
        flow_rows(rep, source, rows, load_config())
        click.echo(tabulate(rep.frame().drop(columns="section"), headers="keys", tablefmt="github", showindex=False))
        for p in rep.problems:
            click.echo(f"PROBLEM: {p}", err=True)
    if store:
        _write(OPTION_PRINTS, rows, no_publish)


@import_group.command("chain")
@_source
@_path
@_store
@click.option("--no-publish", is_flag=True, help="Do not republish the read copy afterwards.")
def chain_cmd(source, paths, store, no_publish) -> None:
    """Option chain snapshots (open interest, IV, greeks) into market.option_chain.

    Example: primeflow import chain --source cboe --path spx_quotedata.csv
    """
    from primeflow_lib.schema.market import OPTION_CHAIN
    from primeflow_lib.vendors.base import VendorError
    from primeflow_lib.vendors.imports import read_chain

    try:
        rows, reports = read_chain(source, paths)
    except (VendorError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    for r in reports:
        click.echo(json.dumps(r, default=str))
    if store:
        _write(OPTION_CHAIN, rows, no_publish)
