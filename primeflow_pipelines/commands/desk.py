"""``primeflow desk``: the net-premium tide, volatility, open interest, max pain, exposure beyond
gamma and earnings dates, from the read copy (``earnings fetch`` writes the cache)."""

from __future__ import annotations

import datetime as dt

import click

from primeflow_lib.flow.tide import SCOPES
from primeflow_pipelines.commands.options import parse_date


def _cfg():
    from primeflow_lib.config import ConfigError, load_config

    try:
        return load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _date(value: str | None, name: str = "--day") -> dt.date | None:
    return parse_date(value, name)


def _table(df, n: int = 60) -> str:
    from tabulate import tabulate

    return tabulate(df.head(n), headers="keys", tablefmt="github", showindex=False, floatfmt=",.6g")


def _need(df, what: str):
    if df is None:
        raise click.ClickException(f"{what} is not in the read copy yet: run the marts job (or `make demo`)")
    return df


def _pick(days, day: dt.date | None, what: str) -> dt.date:
    if not days:
        raise click.ClickException(f"{what} has no sessions yet")
    if day is None:
        return days[0]
    if day not in days:
        raise click.ClickException(f"{what} has no rows for {day} (newest: {days[0]}, oldest: {days[-1]})")
    return day


@click.group()
def desk() -> None:
    """The trader's desk views (tide, volatility, open interest, exposure, earnings)."""


@desk.command("tide")
@click.option("--scope", type=click.Choice(SCOPES), default="market", show_default=True)
@click.option("--name", default="ALL", help="Ticker (scope ticker) or sector (scope sector, from desk.sectors).")
@click.option("--day", default=None, help="Session (default: the latest in marts.tide_minute).")
@click.option("--every", default=30, show_default=True, help="Print every Nth minute.")
def tide_cmd(scope: str, name: str, day: str | None, every: int) -> None:
    """Cumulative net premium through the session, with the price (calls at ask + puts at bid
    minus calls at bid + puts at ask; mid, multi-leg and late orders left out)."""
    from primeflow_lib.flow.tide import TideError
    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.workbench import desk_views as dv

    cfg = _cfg()
    try:
        d = _pick(_need(dv.tide_sessions(), "marts.tide_minute"), _date(day), "marts.tide_minute")
        s = dv.tide(scope, name, d, cfg)
    except (TideError, WarehouseError) as exc:
        raise click.ClickException(str(exc)) from None
    if s.empty:
        raise click.ClickException(f"no tide for {scope} {name} on {d}")
    cols = ["minute", "price", "net_call_premium", "net_put_premium", "cum_net_call_premium", "cum_net_put_premium",
            "cum_net_premium"]
    view = s[cols].iloc[sorted(set(range(0, len(s), max(1, every))) | {len(s) - 1})]
    click.echo(_table(view, 500))
    price = s["price_ticker"].iloc[0] if "price_ticker" in s.columns else (name if scope == "ticker" else "none")
    click.echo(f"{scope} {name} on {d}: net premium at the close ${s['cum_net_premium'].iloc[-1]:,.0f} "
               f"(calls ${s['cum_net_call_premium'].iloc[-1]:,.0f}, puts ${s['cum_net_put_premium'].iloc[-1]:,.0f}); "
               f"price: {price}")


@desk.command("vol")
@click.option("--ticker", default=None, help="One underlying's history and term structure.")
@click.option("--day", default=None, help="Snapshot (default: the latest).")
def vol_cmd(ticker: str | None, day: str | None) -> None:
    """IV rank / percentile (with the sessions each used), 30-day ATM IV, term slope and skew."""
    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.workbench import desk_views as dv

    try:
        snap = _need(dv.vol_snapshot(_date(day)), "marts.iv_stats")
        if snap.empty:
            raise click.ClickException(f"marts.iv_stats has no rows{' for ' + day if day else ''}")
        warn = dv.vol_warning(snap)
        if ticker:
            hist = dv.vol_history(ticker.upper())
            if hist is None or hist.empty:
                raise click.ClickException(f"no IV stats for {ticker.upper()}")
            d = pd_date(snap["trade_date"].iloc[0])
            click.echo(_table(hist[["trade_date", "atm_iv_30d", "iv_rank", "iv_percentile", "sessions_used",
                                    "lookback_sessions", "skew_25d_30d", "term_slope"]].tail(20)))
            term = dv.term_structure(ticker.upper(), d)
            if term is not None and len(term):
                click.echo(f"\nterm structure of {ticker.upper()} on {d}")
                click.echo(_table(term[["expiry", "dte", "atm_iv", "iv_25d_put", "iv_25d_call", "skew_25d"]]))
        else:
            click.echo(_table(snap[["underlying", "atm_iv_30d", "iv_rank", "iv_percentile", "sessions_used",
                                    "lookback_sessions", "front_iv", "term_slope", "skew_25d_30d"]]))
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    if warn:
        click.echo(f"warning: {warn}", err=True)


def pd_date(v) -> dt.date:
    import pandas as pd

    return pd.Timestamp(v).date()


@desk.command("oi")
@click.option("--ticker", default=None, help="Per-strike change of one underlying.")
@click.option("--day", default=None, help="Snapshot date (the change over the session before it).")
def oi_cmd(ticker: str | None, day: str | None) -> None:
    """Day-over-day open-interest change: the largest movers, or one underlying by strike, and
    the underlyings whose previous snapshot is missing."""
    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.workbench import desk_views as dv

    try:
        d = _pick(_need(dv.oi_sessions(), "marts.oi_change"), _date(day), "marts.oi_change")
        if ticker:
            df = dv.oi_by_strike(ticker.upper(), d)
            click.echo(_table(df, 200))
        else:
            click.echo(_table(dv.oi_movers(d)))
        miss = dv.oi_missing(d)
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"OI change dated {d} (trading of the previous session)")
    for r in miss.itertuples():
        click.echo(f"warning: {r.underlying}: no chain snapshot for {pd_date(r.missing_snapshot)}: "
                   f"OI change unknown for its {r.contracts} contracts", err=True)


@desk.command("max-pain")
@click.option("--ticker", required=True)
@click.option("--day", default=None, help="Snapshot (default: the latest).")
def max_pain_cmd(ticker: str, day: str | None) -> None:
    """Max pain per expiry of one underlying."""
    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.workbench import desk_views as dv

    try:
        d = _pick(_need(dv.oi_sessions(), "marts.oi_change"), _date(day), "the chain snapshots")
        df = _need(dv.max_pain(ticker.upper(), d), "marts.max_pain")
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    if df.empty:
        raise click.ClickException(f"no max pain for {ticker.upper()} on {d}")
    click.echo(_table(df[["expiry", "dte", "max_pain", "spot", "max_pain_dist", "payout_usd", "call_oi", "put_oi"]]))


@desk.command("exposure")
@click.option("--ticker", default=None, help="One underlying by strike and expiry.")
@click.option("--day", default=None, help="Snapshot (default: the latest).")
def exposure_cmd(ticker: str | None, day: str | None) -> None:
    """GEX, DEX, vanna and charm exposure (USD; sign convention named), 0DTE apart."""
    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.workbench import desk_views as dv

    try:
        d = _pick(_need(dv.exposure_sessions(), "market.greek_exposure"), _date(day), "market.greek_exposure")
        if ticker:
            by_k = _need(dv.exposure_by_strike(ticker.upper(), d), "marts.exposure_by_strike")
            near = by_k.iloc[(by_k["strike"] - by_k["spot"]).abs().argsort()[:25]].sort_values("strike")
            click.echo(_table(near[["strike", "gex", "dex", "vanna", "charm", "gex_0dte", "dex_0dte"]], 25))
            click.echo(f"\nby expiry of {ticker.upper()} on {d}")
            click.echo(_table(dv.exposure_by_expiry(ticker.upper(), d)))
            conv = by_k["convention"].iloc[0] if len(by_k) else "?"
        else:
            tot = dv.exposure_totals(d)
            click.echo(_table(tot, 30))
            conv = tot["convention"].iloc[0] if len(tot) else "?"
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"snapshot {d}, convention {conv} (an assumption); GEX USD of delta per 1 % move, DEX USD of "
               "underlying, vanna USD of delta per vol point, charm USD of delta per day")


@desk.group("earnings")
def earnings_grp() -> None:
    """Earnings dates (market.earnings)."""


@earnings_grp.command("list")
@click.option("--ticker", "tickers", multiple=True)
def earnings_list(tickers) -> None:
    """Stored earnings dates with their vendor."""
    from primeflow_lib.workbench import desk_views as dv

    df = dv.earnings(tuple(tickers))
    if df is None or df.empty:
        click.echo("no earnings dates stored (primeflow desk earnings fetch, or materialize market/earnings)")
        return
    click.echo(_table(df, 500))


@earnings_grp.command("fetch")
@click.option("--ticker", "tickers", multiple=True, required=True)
@click.option("--start", default=None, help="First session the dates are for (default today).")
@click.option("--end", default=None, help="Last session (default start).")
def earnings_fetch(tickers, start: str | None, end: str | None) -> None:
    """Ask the configured sources (earnings.sources) and upsert market.earnings in the live
    warehouse, then republish the read copy."""
    from primeflow_lib import warehouse
    from primeflow_lib.schema.desk import EARNINGS
    from primeflow_lib.vendors.base import VendorError
    from primeflow_lib.vendors.earnings import fetch_earnings

    cfg = _cfg()
    s = _date(start, "--start") or dt.date.today()
    e = _date(end, "--end") or s
    try:
        got = fetch_earnings(list(tickers), s, e, cfg, log=click.echo)
    except VendorError as exc:
        raise click.ClickException(str(exc)) from None
    with warehouse.connect() as con:
        warehouse.ensure_tables(con, [EARNINGS])
        with warehouse.transaction(con):
            n = warehouse.upsert_rows(con, EARNINGS, got.rows)
        warehouse.publish_read_copy(con=con)
    click.echo(f"stored {n} dates from {', '.join(got.sources)}; unknown: {', '.join(got.unknown) or 'none'}")
