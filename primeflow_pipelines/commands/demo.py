"""``primeflow demo``: the demo warehouse through real Dagster runs."""

from __future__ import annotations

import os
import sys
import time

import click


@click.command()
@click.option("--sessions", type=click.IntRange(min=1, max=5000), default=None,
              help="Trading days to build (default: config demo.sessions).")
@click.option("--end", "end_date", default=None, help="Last session, YYYY-MM-DD (default: config demo.end_date or the latest completed session).")
def demo(sessions: int | None, end_date: str | None) -> None:
    """Build the demo warehouse through real Dagster runs on the synthetic vendor, publish the
    read copy and print a summary."""
    from primeflow_lib import calendar
    from primeflow_pipelines.commands.options import parse_date
    from primeflow_pipelines.demo import run_demo

    if end_date is not None:  # before any work: a bad date must not start a long build
        try:
            end_date = calendar.require_session(parse_date(end_date, "--end")).isoformat()
        except calendar.NotASessionError as exc:
            raise click.BadParameter(str(exc), param_hint="--end") from None
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
