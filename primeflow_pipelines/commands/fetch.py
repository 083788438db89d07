"""``primeflow fetch``: store any symbol's bars from a vendor (see :mod:`primeflow_lib.market.fetch`)."""

from __future__ import annotations

import click

from primeflow_lib.market.fetch import FETCH_TIMEFRAMES
from primeflow_lib.vendors import VENDOR_CLASSES
from primeflow_pipelines.commands.options import parse_date


@click.command("fetch")
@click.option("--symbol", required=True, help="Ticker, e.g. IBM or BRK.B.")
@click.option("--start", required=True, help="First session, YYYY-MM-DD (inclusive).")
@click.option("--end", default=None, help="Last session, YYYY-MM-DD (inclusive; default the latest completed session).")
@click.option("--timeframe", type=click.Choice(FETCH_TIMEFRAMES), default="1d", show_default=True,
              help="1d -> market.ohlcv_daily; intraday timeframes store 1-minute bars in market.ohlcv_intraday.")
@click.option("--vendor", type=click.Choice(list(VENDOR_CLASSES)),
              default=None, help="Default: the configured bars vendor (vendors.bars / vendors.default).")
@click.option("--refresh", is_flag=True, help="Fetch sessions that are already stored again.")
@click.option("--no-publish", is_flag=True, help="Do not republish the read copy afterwards.")
def fetch(symbol, start, end, timeframe, vendor, refresh, no_publish) -> None:
    """Store SYMBOL's bars from a vendor into the warehouse (cached: stored sessions are not
    fetched again), then republish the read copy so `primeflow backtest --symbol` sees them.

    Example: primeflow fetch --symbol IBM --start 2015-01-01 --vendor alpha_vantage
    """
    from primeflow_lib.config import ConfigError, load_config
    from primeflow_lib.market.fetch import FetchError, fetch_symbol
    from primeflow_lib.vendors.base import VendorError
    from primeflow_lib.warehouse import WarehouseError, publish_read_copy

    s, e = parse_date(start, "--start"), parse_date(end, "--end")
    try:
        report = fetch_symbol(load_config(), symbol, s, e, timeframe=timeframe, vendor=vendor,
                              refresh=refresh, echo=click.echo)
        for line in report.lines():
            click.echo(line)
        if not no_publish and report.rows:
            click.echo(f"published {publish_read_copy()}")
    except (FetchError, VendorError, ConfigError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from None
