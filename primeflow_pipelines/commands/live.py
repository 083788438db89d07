"""``primeflow feed`` and ``primeflow inbox``: the near-live path's micro-batches."""

from __future__ import annotations

import click

from primeflow_lib.live.feed import FEED_SOURCES
from primeflow_pipelines.commands.options import parse_date


@click.command()
@click.option("--source", type=click.Choice(FEED_SOURCES), default="synthetic", show_default=True)
@click.option("--date", "day", default=None,
              help="Session to feed; default: synthetic the latest completed session, replay the newest stored one.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True, max=1e6), default=1.0, show_default=True,
              help="Market seconds per wall second (at most 1,000,000).")
@click.option("--batch-seconds", type=click.FloatRange(min=0.05, max=3600), default=2.0, show_default=True,
              help="Wall seconds per batch file (0.05 .. 3600).")
@click.option("--start", "start_time", default=None, help="Market time to start from, HH:MM (default: the first print).")
@click.option("--max-batches", type=click.IntRange(min=0), default=None,
              help="Stop after this many batch files (0: write nothing).")
@click.option("--tickers", default=None, help="Comma-separated underlyings (synthetic; default the day's universe).")
@click.option("--subscribe", default="T.*", show_default=True, help="Massive channels (massive).")
@click.option("--replay-to-live", is_flag=True,
              help="replay: send the replayed alerts to the live channels too (still marked [REPLAY]); "
                   "by default they go to the 'replay' channel (console/file sink).")
def feed(source, day, speed, batch_seconds, start_time, max_batches, tickers, subscribe, replay_to_live) -> None:
    """Write micro-batches of option prints into the inbox (PRIMEFLOW_INBOX).

    The Dagster daemon started by `make ui` scores each batch (flow_inbox_sensor ->
    live_flow_job): signals, alerts and paper positions. Without it, batches wait in the inbox
    (`primeflow inbox list`). Replayed batches carry a [REPLAY] marker on every alert and go to
    the 'replay' channel (the console/file sink unless declared), never to live channels unless
    --replay-to-live."""
    import datetime as dt

    from primeflow_lib import calendar
    from primeflow_lib.config import ConfigError, load_config
    from primeflow_lib.live import feed as feeds
    from primeflow_lib.live.inbox import inbox_path
    from primeflow_lib.vendors.base import VendorError
    from primeflow_lib.warehouse import WarehouseError

    if replay_to_live and source != "replay":
        raise click.BadParameter("only applies to --source replay", param_hint="--replay-to-live")
    try:
        cfg = load_config()
        click.echo(feeds.where_batches_go())
        stale, age = feeds.waiting_since()
        if stale:
            click.echo(f"note: {stale} batch(es) have waited up to {age / 60:,.0f} min in {inbox_path()}: is "
                       "`make ui` (the Dagster daemon) running?")
        if source == "massive":
            from primeflow_lib.live.massive_feed import run_massive_feed

            rep = run_massive_feed(cfg, subscribe=subscribe, batch_seconds=batch_seconds,
                                   max_batches=max_batches, echo=click.echo)
            click.echo(f"done: {rep.batches} batches, {rep.prints:,} prints")
            return
        if day is not None:
            session = calendar.require_session(parse_date(day, "--date"))
        elif source == "replay":
            session = feeds.latest_stored_session()
        else:
            session = calendar.latest_completed_session()
        start_at = None
        if start_time:
            try:
                start_at = dt.datetime.combine(session, dt.time.fromisoformat(start_time))
            except ValueError:
                raise click.BadParameter(f"{start_time!r} is not HH:MM", param_hint="--start") from None
        if source == "synthetic":
            names = [t.strip().upper() for t in tickers.split(",")] if tickers else None
            prints = feeds.synthetic_session_prints(cfg, session, names)
            meta = {"feed": "synthetic"}
        else:
            prints = feeds.stored_session_prints(session)
            meta = {"feed": "replay", "replay_of": session.isoformat(), "replay_to_live": replay_to_live}
            click.echo(f"replay of {session}: alerts are marked [REPLAY] and go to "
                       + ("the live channels (--replay-to-live)" if replay_to_live
                          else "the 'replay' channel (console/file sink unless declared), not the live channels"))
        click.echo(f"feeding {len(prints):,} {source} prints of {session} into {inbox_path()} at {speed}x")
        rep = feeds.emit_in_real_time(prints, speed=speed, batch_seconds=batch_seconds, prefix=f"{source}-{session}",
                                      start_at=start_at, max_batches=max_batches, echo=click.echo, meta=meta)
    except (ConfigError, ValueError, WarehouseError, VendorError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"done: {rep.batches} batches, {rep.prints:,} prints")


@click.group()
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
