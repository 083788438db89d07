"""Options and helpers shared by the model-lab commands (``primeflow model``, ``primeflow rl``):
where the bars come from, printing tables, recording into the live warehouse."""

from __future__ import annotations

from pathlib import Path

import click

from primeflow_lib.research.timeframes import TIMEFRAMES


def table(df, floatfmt: str = ".4f") -> str:
    from tabulate import tabulate

    return tabulate(df, headers="keys", tablefmt="github", showindex=False, floatfmt=floatfmt)


def record(write, what: str, publish: bool) -> str:
    from primeflow_lib import warehouse

    try:
        with warehouse.connect(lock_timeout_s=30.0) as con:
            key = write(con)
            if publish:
                warehouse.publish_read_copy(con=con)
    except warehouse.WarehouseError as exc:
        raise click.ClickException(f"recording failed: {exc} (run again with --no-record)") from None
    tail = "; read copy republished" if publish else "; `primeflow publish` makes it visible to queries"
    return f"recorded {what} {key} in {warehouse.warehouse_path()}{tail}"


def data_options(f):
    for opt in reversed([
        click.option("--symbol", default=None, help="Ticker in the warehouse read copy."),
        click.option("--csv", "csv_path", default=None, type=click.Path(dir_okay=False),
                     help="Bars from this CSV instead (1-minute files are resampled to --timeframe)."),
        click.option("--timeframe", type=click.Choice(TIMEFRAMES), default="1d", show_default=True),
        click.option("--start", default=None, help="First session, YYYY-MM-DD."),
        click.option("--end", default=None, help="Last session, YYYY-MM-DD (inclusive)."),
        click.option("--all-hours", is_flag=True, help="Keep pre- and post-market intraday bars."),
        click.option("--db", default=None, help="Read copy to load bars from (default PRIMEFLOW_READ_DUCKDB)."),
    ]):
        f = opt(f)
    return f


def load_bars(o):
    from primeflow_lib.research.models.data import load_model_bars

    bars, source = load_model_bars(o["symbol"], o["csv_path"], o["timeframe"], o["start"], o["end"],
                                   not o["all_hours"], o["db"])
    symbol = o["symbol"] or (Path(o["csv_path"]).stem if o["csv_path"] else "")
    return bars, source, symbol
