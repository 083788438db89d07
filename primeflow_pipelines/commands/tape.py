"""``primeflow tape``: the order tape on the read copy, with filters and saved presets."""

from __future__ import annotations

import json

import click

from primeflow_lib.flow.classify import EVENT_TYPES, SENTIMENTS, STRUCTURES
from primeflow_lib.flow.criteria import OPEN_CLOSE, ORDER_TAG_NAMES
from primeflow_lib.flow.side import SIDE_LABELS
from primeflow_lib.flow.tape import EVENT_TABLES, TAPE_COLUMNS, TOGGLES
from primeflow_pipelines.commands.options import parse_date

_DISPLAY = ("last_ts", "ticker", "option_symbol", "event_type", "structure", "side", "premium", "size", "dte",
            "otm_pct", "vol_oi", "tags", "open_close", "days_to_earnings", "event_id")


def _cfg():
    from primeflow_lib.config import ConfigError, load_config

    try:
        return load_config()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _table(df, max_rows: int) -> str:
    from tabulate import tabulate

    view = df.head(max_rows).copy()
    if "tags" in view.columns:
        view["tags"] = [",".join(t) if not isinstance(t, str) and t is not None else (t or "") for t in view["tags"]]
    if "days_to_earnings" in view.columns:
        view["days_to_earnings"] = [("unknown" if v is None or v != v else int(v)) for v in view["days_to_earnings"]]
    return tabulate(view, headers="keys", tablefmt="github", showindex=False, floatfmt=",.4g")


def _multi(name: str, dest: str, choices, help_: str):
    return click.option(name, dest, multiple=True, type=click.Choice(list(choices), case_sensitive=False), help=help_)


@click.group(invoke_without_command=True)
@click.option("--day", default=None, help="Session (YYYY-MM-DD; default: the latest with orders).")
@click.option("--start", default=None, help="First session of a range.")
@click.option("--end", default=None, help="Last session of a range.")
@click.option("--ticker", "tickers", multiple=True, help="Underlying (repeat for several).")
@_multi("--type", "types", EVENT_TYPES, "Order type (repeat).")
@_multi("--structure", "structures", STRUCTURES, "Multi-leg structure (repeat).")
@_multi("--side", "sides", SIDE_LABELS, "Aggressor side (repeat).")
@_multi("--right", "rights", ("C", "P"), "Calls or puts.")
@_multi("--sentiment", "sentiments", SENTIMENTS, "Sentiment (repeat).")
@click.option("--min-premium", type=float, default=None, help="USD.")
@click.option("--max-premium", type=float, default=None, help="USD.")
@click.option("--min-size", type=int, default=None, help="Contracts.")
@click.option("--max-size", type=int, default=None, help="Contracts.")
@click.option("--min-dte", type=int, default=None)
@click.option("--max-dte", type=int, default=None)
@click.option("--zero-dte", type=click.Choice(TOGGLES), default="include", show_default=True)
@click.option("--min-otm", type=float, default=None, help="OTM distance, fraction of spot (0.05 = 5 %).")
@click.option("--max-otm", type=float, default=None)
@click.option("--min-vol-oi", type=float, default=None, help="Day volume / open interest.")
@_multi("--open-close", "open_close", OPEN_CLOSE, "Opening/closing estimate (from the next snapshot; repeat).")
@click.option("--etf", type=click.Choice(TOGGLES), default="include", show_default=True)
@_multi("--tag", "tags", ORDER_TAG_NAMES, "Keep orders with any of these tags (repeat).")
@_multi("--without-tag", "without_tags", ORDER_TAG_NAMES, "Drop orders with any of these tags (repeat).")
@click.option("--where", "where_text", default=None,
              help='Extra conditions in the filter language, as JSON or YAML: \'{"vol_oi": {"gte": 2}}\'.')
@click.option("--sort", default=None,
              help=f"Column ({', '.join(TAPE_COLUMNS)}); prefix - for descending (default -premium).")
@click.option("--limit", type=int, default=None, help="Rows (default tape.max_rows).")
@click.option("--source", type=click.Choice(list(EVENT_TABLES)), default="daily", show_default=True)
@click.option("--preset", default=None, help="Start from a saved preset (options add to it).")
@click.option("--save-preset", default=None, help="Save the resulting filter under this name.")
@click.option("--description", default=None, help="Description of the saved preset.")
@click.option("--csv", "csv_out", default=None, type=click.Path(dir_okay=False), help="Write every returned row.")
@click.option("--max-rows", default=40, show_default=True, help="Rows to print.")
@click.pass_context
def tape(ctx, day, start, end, tickers, types, structures, sides, rights, sentiments, min_premium, max_premium,
         min_size, max_size, min_dte, max_dte, zero_dte, min_otm, max_otm, min_vol_oi, open_close, etf, tags,
         without_tags, where_text, sort, limit, source, preset, save_preset, description, csv_out, max_rows) -> None:
    """The order tape: orders of a session or range, filtered, sorted, with saved presets.

    Example: primeflow tape --ticker SPY --type sweep --side ask --min-premium 250000 --zero-dte exclude
    """
    if ctx.invoked_subcommand is not None:
        return
    import yaml

    from primeflow_lib.flow.tape import TapeError, TapeQuery, simple_where
    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.workbench import desk_views as dv

    cfg = _cfg()
    try:
        base = dv.preset(preset).to_dict() if preset else {}
        where = dict(base.get("where") or {})
        opts = simple_where(
            tickers=tickers, event_types=types, structures=structures, sides=[s.lower() for s in sides],
            rights=[r.upper() for r in rights], sentiments=sentiments, min_premium=min_premium,
            max_premium=max_premium, min_size=min_size, max_size=max_size, min_dte=min_dte, max_dte=max_dte,
            zero_dte=zero_dte, min_otm_pct=min_otm, max_otm_pct=max_otm, min_vol_oi=min_vol_oi,
            open_close=open_close, etf=etf, tags=[t.upper() for t in tags],
            exclude_tags=[t.upper() for t in without_tags])
        extra = yaml.safe_load(where_text) if where_text else {}
        if extra is not None and not isinstance(extra, dict):
            raise click.BadParameter("must be a mapping of field -> condition", param_hint="--where")
        for f, cond in [*opts.items(), *(extra or {}).items()]:
            where[f] = {**where[f], **cond} if isinstance(where.get(f), dict) and isinstance(cond, dict) else cond
        d0, s0, e0 = parse_date(day, "--day"), parse_date(start, "--start"), parse_date(end, "--end")
        spec = {**base, "where": where, "source": source, "sort": sort or base.get("sort") or "-premium",
                "limit": limit or base.get("limit") or int(cfg["tape"]["max_rows"])}
        if d0 or s0:
            spec["start"], spec["end"] = (d0 or s0).isoformat(), (d0 or e0 or s0).isoformat()
        q = TapeQuery.from_dict(spec)
        if save_preset:
            dv.save_preset(save_preset, q, description)
            click.echo(f"saved preset {save_preset!r}: {json.dumps(q.to_dict(with_dates=False))}")
        res = dv.tape(q, cfg)
    except (TapeError, WarehouseError, yaml.YAMLError) as exc:
        raise click.ClickException(str(exc)) from None
    for note in res.notes:
        click.echo(f"note: {note}", err=True)
    if res.start is None:
        click.echo("no orders yet")
        return
    span = f"{res.start}" if res.start == res.end else f"{res.start} .. {res.end}"
    if csv_out:
        res.rows.to_csv(csv_out, index=False)
    cols = [c for c in _DISPLAY if c in res.rows.columns]
    click.echo(_table(res.rows[cols], max_rows))
    click.echo(f"{len(res.rows):,} of {res.total:,} matching orders, {span}, from {EVENT_TABLES[source]} "
               f"(sorted by {spec['sort']}; {res.seconds * 1000:.0f} ms)")
    vendors = sorted(set(res.rows["vendor"].dropna())) if len(res.rows) else []
    if "synthetic" in vendors:
        click.echo("note: synthetic data (generated for the demo, not market data)")


@tape.command("presets")
def presets_cmd() -> None:
    """List saved tape presets."""
    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.workbench import desk_views as dv

    try:
        df = dv.presets()
    except WarehouseError as exc:
        raise click.ClickException(str(exc)) from None
    if df.empty:
        click.echo("no presets saved yet (primeflow tape ... --save-preset NAME)")
        return
    click.echo(_table(df, 200))


@tape.command("delete-preset")
@click.argument("name")
def delete_preset_cmd(name: str) -> None:
    """Delete a saved tape preset."""
    from primeflow_lib.workbench import desk_views as dv

    if not dv.delete_preset(name):
        raise click.ClickException(f"no tape preset {name!r}")
    click.echo(f"deleted preset {name!r}")


@tape.command("order")
@click.argument("event_id")
@click.option("--source", type=click.Choice(list(EVENT_TABLES)), default="daily", show_default=True)
def order_cmd(event_id: str, source: str) -> None:
    """One order opened to its prints, context, signals, alerts and rule hits."""
    from primeflow_lib.warehouse import WarehouseError
    from primeflow_lib.workbench import desk_views as dv

    try:
        d = dv.order(event_id, _cfg(), source)
    except (KeyError, WarehouseError) as exc:
        raise click.ClickException(str(exc.args[0] if isinstance(exc, KeyError) else exc)) from None
    o = d["order"]
    click.echo(f"{o['ticker']} {o['option_symbol']} {o['event_type']} {o['side']} premium ${o['premium']:,.0f} "
               f"size {o['size']:,} at {o['last_ts']} ({source}, vendor {o['vendor']})")
    click.echo(f"tags {', '.join(o['tags']) or '-'} | open/close estimate {o['open_close']} | days to earnings "
               f"{o['days_to_earnings'] if o['days_to_earnings'] is not None else 'unknown'}")
    for title in ("prints", "signals", "alerts", "rule_hits"):
        df = d[title]
        click.echo(f"\n{title} ({len(df)})")
        if len(df):
            click.echo(_table(df, 50))
    if d["context"]:
        click.echo("\ncontext")
        click.echo(json.dumps({k: str(v) for k, v in d["context"].items()}, indent=1))
