"""``primeflow check-real``: the flow engine, GEX and the CSV backtest path on real data."""

from __future__ import annotations

import sys

import click


@click.command("check-real")
def check_real() -> None:
    """Run the checks of primeflow_lib.real_data_check on PRIMEFLOW_REAL_DATA (default
    ../shared/real-data) and print one table; exit 0 with a message when the folder is absent,
    1 when a check finds a problem."""
    from tabulate import tabulate

    from primeflow_lib.config import load_config
    from primeflow_lib.real_data import real_data_dir, real_data_missing
    from primeflow_lib.real_data_check import run_checks

    why = real_data_missing()
    if why:
        click.echo(f"check-real: skipped: {why}")
        return
    root = real_data_dir()
    click.echo(f"check-real: {root}")
    rep = run_checks(root, load_config(with_api_keys=False), echo=lambda m: click.echo(f"  {m}", err=True))
    click.echo(tabulate(rep.frame(), headers="keys", tablefmt="github", showindex=False))
    if rep.problems:
        for p in rep.problems:
            click.echo(f"PROBLEM: {p}", err=True)
        sys.exit(1)
    click.echo("check-real: all checks passed")
