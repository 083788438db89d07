"""``primeflow cache list`` / ``cache clear``: what is stored per vendor, symbol and timeframe."""

from __future__ import annotations

import click

from primeflow_lib.market.cache import TIMEFRAMES as CACHE_TIMEFRAMES
from primeflow_pipelines.commands.options import parse_date


@click.group()
def cache() -> None:
    """Show or clear what is stored per vendor, symbol and timeframe."""


@cache.command("list")
@click.option("--vendor", default=None)
@click.option("--symbol", default=None)
@click.option("--timeframe", type=click.Choice(list(CACHE_TIMEFRAMES)), default=None)
def cache_list(vendor: str | None, symbol: str | None, timeframe: str | None) -> None:
    """List stored sessions per (timeframe, vendor, symbol), from the read copy."""
    from tabulate import tabulate

    from primeflow_lib.market.cache import CacheError, list_cache
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
@click.option("--timeframe", type=click.Choice(list(CACHE_TIMEFRAMES)), default=None,
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
    from primeflow_lib.market.cache import CacheError, check_symbol, clear_all, clear_cache
    from primeflow_lib.warehouse import WarehouseError, connect, publish_read_copy

    if clear_everything:
        if timeframe or vendor or symbol or start or end:
            raise click.UsageError("--all clears everything: give no --timeframe/--vendor/--symbol/--start/--end")
        if not yes:
            click.confirm(f"delete EVERY stored row of {', '.join(CACHE_TIMEFRAMES)}?", abort=True)
        try:
            with connect() as con:
                counts = clear_all(con)
                publish_read_copy(con=con)
        except WarehouseError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(", ".join(f"{tf}: {n:,}" for tf, n in counts.items()) + f" rows deleted ({sum(counts.values()):,} in all)")
        return
    if timeframe is None:
        raise click.UsageError(f"give --timeframe (one of {', '.join(CACHE_TIMEFRAMES)}) or --all")
    s, e = parse_date(start, "--start"), parse_date(end, "--end")
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
