"""``primeflow gex --chain-csv FILE``: dealer gamma levels of one chain export."""

from __future__ import annotations

import click

from primeflow_lib.flow.gex import CONVENTIONS


@click.command("gex")
@click.option("--chain-csv", "chain_csv", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A Cboe delayed-quote chain export (<sym>_quotedata.csv).")
@click.option("--convention", type=click.Choice(CONVENTIONS),
              default=None, help="Sign convention (default: config gex.convention).")
def gex(chain_csv: str, convention: str | None) -> None:
    """Print the gamma levels of one chain export: totals, flip, walls, regime, with units.

    Example: primeflow gex --chain-csv spx_quotedata.csv
    """
    from tabulate import tabulate

    from primeflow_lib.config import load_config
    from primeflow_lib.flow.gex import GexInputError
    from primeflow_lib.flow.gex_file import export_levels
    from primeflow_lib.vendors.base import VendorError

    cfg = dict(load_config()["gex"])
    if convention:
        cfg["convention"] = convention
    try:
        el = export_levels(chain_csv, cfg)
    except (VendorError, GexInputError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(tabulate(el.rows(), tablefmt="plain"))
