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

    The query runs in the sandbox (primeflow_lib.sql_sandbox): read-only SELECT / EXPLAIN /
    PRAGMA / CALL only; ATTACH, COPY, file readers, INSTALL / LOAD and SET are refused. Export
    with --csv.

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


def _parse_date(value: str | None, name: str):
    import datetime as dt

    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form", param_hint=name) from None


@main.group()
def cache() -> None:
    """Show or clear what is stored per vendor, symbol and timeframe."""


@cache.command("list")
@click.option("--vendor", default=None)
@click.option("--symbol", default=None)
@click.option("--timeframe", type=click.Choice(["universe", "1d", "1m", "chain", "prints"]), default=None)
def cache_list(vendor: str | None, symbol: str | None, timeframe: str | None) -> None:
    """List stored sessions per (timeframe, vendor, symbol), from the read copy."""
    from tabulate import tabulate

    from primeflow_lib.cache import CacheError, list_cache
    from primeflow_lib.warehouse import WarehouseError, connect, read_copy_path

    try:
        with connect(read_copy_path(), read_only=True) as con:
            df = list_cache(con, vendor=vendor, symbol=symbol, timeframe=timeframe)
    except (CacheError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from None
    if df.empty:
        click.echo("nothing stored matches")
        return
    click.echo(tabulate(df, headers="keys", tablefmt="github", showindex=False, intfmt=","))


@cache.command("clear")
@click.option("--timeframe", type=click.Choice(["universe", "1d", "1m", "chain", "prints"]), default=None,
              help="Table to clear (required unless --all).")
@click.option("--vendor", default=None)
@click.option("--symbol", default=None)
@click.option("--start", default=None, help="First session to clear (YYYY-MM-DD).")
@click.option("--end", default=None, help="Last session to clear (YYYY-MM-DD).")
@click.option("--all", "clear_everything", is_flag=True,
              help="Clear every table `cache list` shows (needs --yes, or a typed confirmation).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def cache_clear(timeframe, vendor, symbol, start, end, clear_everything, yes) -> None:
    """Delete stored rows (the next materialization fetches them again), then republish."""
    from primeflow_lib.cache import CacheError, check_symbol, clear_all, clear_cache
    from primeflow_lib.warehouse import WarehouseError, connect, publish_read_copy

    if clear_everything:
        if timeframe or vendor or symbol or start or end:
            raise click.UsageError("--all clears everything: give no --timeframe/--vendor/--symbol/--start/--end")
        if not yes:
            click.confirm("delete EVERY stored row of universe, 1d, 1m, chain and prints?", abort=True)
        try:
            with connect() as con:
                counts = clear_all(con)
                publish_read_copy(con=con)
        except WarehouseError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(", ".join(f"{tf}: {n:,}" for tf, n in counts.items()) + f" rows deleted ({sum(counts.values()):,} in all)")
        return
    if timeframe is None:
        raise click.UsageError("give --timeframe (one of universe, 1d, 1m, chain, prints) or --all")
    s, e = _parse_date(start, "--start"), _parse_date(end, "--end")
    try:
        check_symbol(symbol)
    except CacheError as exc:
        raise click.ClickException(str(exc)) from None
    if not yes:
        click.confirm(f"delete {timeframe} rows (vendor={vendor}, symbol={symbol}, {s}..{e})?", abort=True)
    try:
        with connect() as con:
            n = clear_cache(con, timeframe=timeframe, vendor=vendor, symbol=symbol, start=s, end=e)
            publish_read_copy(con=con)
    except (CacheError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"deleted {n:,} rows")


@main.command()
@click.option("--source", type=click.Choice(["synthetic", "replay", "massive"]), default="synthetic", show_default=True)
@click.option("--date", "day", default=None, help="Session to feed (synthetic, replay); default the latest completed session.")
@click.option("--speed", type=float, default=1.0, show_default=True, help="Market seconds per wall second.")
@click.option("--batch-seconds", type=float, default=2.0, show_default=True, help="Wall seconds per batch file.")
@click.option("--start", "start_time", default=None, help="Market time to start from, HH:MM (default: the first print).")
@click.option("--max-batches", type=int, default=None, help="Stop after this many batch files.")
@click.option("--tickers", default=None, help="Comma-separated underlyings (synthetic; default the day's universe).")
@click.option("--subscribe", default="T.*", show_default=True, help="Massive channels (massive).")
def feed(source, day, speed, batch_seconds, start_time, max_batches, tickers, subscribe) -> None:
    """Write micro-batches of option prints into the inbox (PRIMEFLOW_INBOX) for the live sensor."""
    import datetime as dt

    from primeflow_lib import calendar
    from primeflow_lib.config import load_config
    from primeflow_lib.live import feed as feeds
    from primeflow_lib.live.inbox import inbox_path

    cfg = load_config()
    if source == "massive":
        from primeflow_lib.live.massive_feed import run_massive_feed

        run_massive_feed(cfg, subscribe=subscribe, batch_seconds=batch_seconds, max_batches=max_batches, echo=click.echo)
        return
    session = calendar.require_session(_parse_date(day, "--date")) if day else calendar.latest_completed_session()
    if source == "synthetic":
        names = [t.strip().upper() for t in tickers.split(",")] if tickers else None
        prints = feeds.synthetic_session_prints(cfg, session, names)
    else:
        prints = feeds.stored_session_prints(session)
    start_at = None
    if start_time:
        try:
            start_at = dt.datetime.combine(session, dt.time.fromisoformat(start_time))
        except ValueError:
            raise click.BadParameter(f"{start_time!r} is not HH:MM", param_hint="--start") from None
    click.echo(f"feeding {len(prints):,} {source} prints of {session} into {inbox_path()} at {speed}x")
    rep = feeds.emit_in_real_time(prints, speed=speed, batch_seconds=batch_seconds, prefix=f"{source}-{session}",
                                  start_at=start_at, max_batches=max_batches, echo=click.echo)
    click.echo(f"done: {rep.batches} batches, {rep.prints:,} prints")


@main.group()
def inbox() -> None:
    """Inspect the live inbox, or put a processed batch back for scoring."""


@inbox.command("list")
def inbox_list() -> None:
    """Batches waiting, processed and failed."""
    from primeflow_lib.live.inbox import inbox_path, list_batches

    root = inbox_path()
    waiting = list_batches(root)
    click.echo(f"{root}: {len(waiting)} waiting")
    for sub in ("processed", "failed"):
        files = sorted((root / sub).glob("*.parquet")) if (root / sub).is_dir() else []
        click.echo(f"  {sub}: {len(files)}")
        for f in files[-5:]:
            err = root / sub / (f.name + ".error.txt")
            click.echo(f"    {f.name}" + (f"  ({err.read_text().splitlines()[0][:100]})" if err.exists() else ""))


@inbox.command("requeue")
@click.argument("name")
def inbox_requeue(name: str) -> None:
    """Score a processed or failed batch again (it gets a new identity, so the sensor runs it)."""
    from primeflow_lib.live.inbox import requeue

    try:
        click.echo(f"requeued as {requeue(name).name}")
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


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


def _attach_library_commands() -> None:
    from primeflow_lib.research.cli import backtest

    main.add_command(backtest)
    from primeflow_lib.research.tune_cli import tune

    main.add_command(tune)
    from primeflow_pipelines.fetch_cli import fetch
    main.add_command(fetch)


_attach_library_commands()

from primeflow_pipelines.commands.scale import scale  # noqa: E402 - registered at the bottom

main.add_command(scale)

if __name__ == "__main__":
    main()
