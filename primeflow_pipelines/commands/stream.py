"""``primeflow stream``: the streaming path (run, ingest into the broker, status, stop, broker)."""

from __future__ import annotations

import contextlib
import json
import signal

import click

from primeflow_lib.live.stream.run import REPLAY_FROM
from primeflow_lib.live.stream.sources import STREAM_SOURCES
from primeflow_pipelines.commands.options import parse_date


@contextlib.contextmanager
def _typed_errors():
    """The library's typed errors (a missing key, a bad config, an unreadable warehouse or
    source) as the command's one-line error."""
    from primeflow_lib.config import ConfigError
    from primeflow_lib.vendors.base import VendorError
    from primeflow_lib.warehouse import WarehouseError

    try:
        yield
    except (ConfigError, ValueError, WarehouseError, VendorError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
def stream() -> None:
    """Score option prints as they arrive and alert within the sweep window (docs/stream.md)."""


def _tickers(text: str | None) -> list[str] | None:
    return [t.strip().upper() for t in text.split(",") if t.strip()] if text else None


def _partition(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        k, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not K/N (e.g. 1/2)", param_hint="--partition") from None
    if not 1 <= k <= n:
        raise click.BadParameter(f"{text!r}: need 1 <= K <= N", param_hint="--partition")
    return k, n


@stream.command("run")
@click.option("--source", type=click.Choice(STREAM_SOURCES), default="replay", show_default=True)
@click.option("--date", "day", default=None, help="Session (default: today when it is one, else the latest completed).")
@click.option("--from", "origin", type=click.Choice(REPLAY_FROM), default="synthetic", show_default=True,
              help="replay: the synthetic vendor's prints or the stored flow.option_prints of the read copy.")
@click.option("--speed", type=click.FloatRange(min=0, max=1e6), default=60.0, show_default=True,
              help="replay: market seconds per wall second (0: as fast as possible).")
@click.option("--tickers", default=None, help="replay: only these underlyings (comma-separated).")
@click.option("--subscribe", default="T.*", show_default=True, help="massive: channels (add Q.<contract> for quotes).")
@click.option("--databento-dataset", default="OPRA.PILLAR", show_default=True, help="databento: dataset.")
@click.option("--databento-schema", default="tcbbo", show_default=True, help="databento: schema (trades with quotes).")
@click.option("--broker-url", default=None, help="broker: NATS URL (default PRIMEFLOW_NATS_URL or nats://127.0.0.1:4222).")
@click.option("--partition", default=None, help="broker: this consumer's partition of the underlyings, K/N.")
@click.option("--id", "stream_id", default=None, help="Instance name (default main, or pKofN with --partition).")
def stream_run(source, day, origin, speed, tickers, subscribe, databento_dataset, databento_schema, broker_url,
               partition, stream_id) -> None:
    """Run the stream service for one session until the source ends or SIGTERM / Ctrl-C."""
    from primeflow_lib import warehouse as db
    from primeflow_lib.config import load_config
    from primeflow_lib.live.stream import run as R
    from primeflow_lib.live.stream.service import StreamService

    with _typed_errors():
        cfg = load_config()
        session = R.session_for(parse_date(day, "--date") if day else None)
        part = _partition(partition)
        sid = stream_id or (f"p{part[0]}of{part[1]}" if part else "main")
        if source == "replay":
            src = R.build_replay(cfg, session, origin=origin, speed=speed or None, tickers=_tickers(tickers))
            cfg.setdefault("stream", {})["bars_refresh_seconds"] = 0  # a replay has the whole day's bars
        elif source == "massive":
            from primeflow_lib.live.stream.sources import MassiveSource
            from primeflow_lib.vendors.massive_ws import MassiveOptionsStream

            src = MassiveSource(MassiveOptionsStream.from_config(cfg, [s.strip() for s in subscribe.split(",") if s.strip()]),
                                reader=str((cfg.get("stream") or {}).get("reader", "process")),
                                flush_ms=(cfg.get("stream") or {}).get("reader_flush_ms"))
        elif source == "databento":
            from primeflow_lib.live.stream.databento_source import DatabentoSource

            src = DatabentoSource.from_config(cfg, dataset=databento_dataset, schema=databento_schema,
                                              symbols=_tickers(tickers))
        else:
            from primeflow_lib.live.stream.broker import BrokerSource, nats_url

            if part is None:
                raise click.BadParameter("the broker source needs --partition K/N", param_hint="--partition")
            src = BrokerSource(broker_url or nats_url(), session, part[0], part[1])
        preload = R.universe_tickers(session) if source != "replay" else None
        svc = StreamService(cfg, src, session, R.warehouse_loader(cfg), stream_id=sid, preload=preload,
                            alert_inputs=db.read_copy_path())
        click.echo(f"streaming {session} from {source} as {sid} (database {svc.db_path}, inbox {svc.inbox})")
        rep = R.run_service(svc)
        click.echo(json.dumps({k: v for k, v in rep.__dict__.items()}, default=str))


@stream.command("ingest")
@click.option("--source", type=click.Choice(("replay", "massive", "databento")), default="massive", show_default=True)
@click.option("--date", "day", default=None, help="Session (replay; default as for run).")
@click.option("--from", "origin", type=click.Choice(REPLAY_FROM), default="synthetic", show_default=True)
@click.option("--speed", type=click.FloatRange(min=0, max=1e6), default=60.0, show_default=True, help="replay: market seconds per wall second (0: fastest).")
@click.option("--tickers", default=None, help="replay: only these underlyings.")
@click.option("--subscribe", default="T.*", show_default=True, help="massive: channels.")
@click.option("--broker-url", default=None, help="NATS URL (default PRIMEFLOW_NATS_URL or nats://127.0.0.1:4222).")
@click.option("--partitions", type=click.IntRange(1, 256), default=2, show_default=True, help="Consumers the underlyings are split over.")
def stream_ingest(source, day, origin, speed, tickers, subscribe, broker_url, partitions) -> None:
    """Read a source once and publish its prints to NATS JetStream, partitioned by underlying."""
    from primeflow_lib.config import load_config
    from primeflow_lib.live.stream import run as R
    from primeflow_lib.live.stream.broker import ingest_batch_ms, nats_url, run_ingest

    with _typed_errors():
        cfg = load_config()
        session = R.session_for(parse_date(day, "--date") if day else None)
        if source == "replay":
            src = R.build_replay(cfg, session, origin=origin, speed=speed or None, tickers=_tickers(tickers))
        elif source == "massive":
            from primeflow_lib.live.stream.sources import MassiveSource
            from primeflow_lib.vendors.massive_ws import MassiveOptionsStream

            src = MassiveSource(MassiveOptionsStream.from_config(cfg, [s.strip() for s in subscribe.split(",") if s.strip()]),
                                reader=str((cfg.get("stream") or {}).get("reader", "process")),
                                flush_ms=(cfg.get("stream") or {}).get("reader_flush_ms"))
        else:
            from primeflow_lib.live.stream.databento_source import DatabentoSource

            src = DatabentoSource.from_config(cfg, symbols=_tickers(tickers))
        rep = run_ingest(src, broker_url or nats_url(), session, partitions,
                         batch_ms=ingest_batch_ms((cfg.get("stream") or {}).get("ingest_batch_ms")))
        click.echo(json.dumps(rep, default=str))


@stream.command("status")
def stream_status() -> None:
    """The status of every stream instance (from their status files)."""
    from primeflow_lib.config import load_config
    from primeflow_lib.live.stream.status import heartbeat_age, is_stalled, read_statuses
    from primeflow_lib.live.stream.store import stream_dir

    cfg = load_config()
    stall = float(cfg["stream"]["stall_seconds"])
    rows = read_statuses(stream_dir())
    if not rows:
        click.echo(f"no stream has run here ({stream_dir()} has no status file)")
        return
    for st in rows:
        age = heartbeat_age(st)
        flag = "STALLED" if is_stalled(st, stall) else st.get("state", "?")
        click.echo(f"{st.get('stream_id')}: {flag} | session {st.get('trade_date')} | prints {st.get('prints')} | "
                   f"signals {st.get('signals')} | alerts sent {st.get('alerts_sent')} pending {st.get('alerts_pending')} | "
                   f"divergences {st.get('divergences')} | lag {st.get('lag_seconds')} s | heartbeat "
                   f"{'n/a' if age is None else f'{age:.0f} s ago'}" + (f" | error: {st['error']}" if "error" in st else ""))


@stream.command("stop")
@click.option("--id", "stream_id", default="main", show_default=True)
def stream_stop(stream_id) -> None:
    """Stop a running stream (SIGTERM: it stops after the current step; nothing is lost)."""
    from primeflow_lib.live.stream.run import stop_stream
    from primeflow_lib.live.stream.status import read_statuses
    from primeflow_lib.live.stream.store import stream_dir

    try:
        pid = stop_stream(stream_dir(), stream_id, read_statuses)
    except (LookupError, ProcessLookupError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"sent SIGTERM to {stream_id} (pid {pid})")


@stream.command("broker")
@click.option("--port", type=click.IntRange(1, 65535), default=4222, show_default=True)
@click.option("--store", "store_dir", default=None, help="JetStream storage folder (default <stream dir>/nats).")
def stream_broker(port, store_dir) -> None:
    """Run a local NATS server with JetStream on 127.0.0.1 (foreground; Ctrl-C stops it)."""
    from pathlib import Path

    from primeflow_lib.live.stream.broker import NatsServer
    from primeflow_lib.live.stream.store import stream_dir

    server = NatsServer(Path(store_dir) if store_dir else stream_dir() / "nats", port=port)
    server.start()
    click.echo(f"NATS JetStream on {server.url} (store {server.store}); Ctrl-C stops it")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            server.wait()
    finally:
        server.stop()


@stream.command("serve")
@click.option("--date", "day", default=None, help="Session whose prints to play (default as for run).")
@click.option("--from", "origin", type=click.Choice(REPLAY_FROM), default="synthetic", show_default=True)
@click.option("--tickers", default=None, help="Only these underlyings.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True, max=1e6), default=200.0, show_default=True, help="Prints per second.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option("--key", default="local", show_default=True, help="The API key clients must send (set POLYGON_MASSIVE_KEY to it).")
def stream_serve(day, origin, tickers, rate, port, key) -> None:
    """A local websocket server speaking the Massive options protocol, playing a session's prints
    (for `primeflow stream run --source massive` with PRIMEFLOW_MASSIVE_WS_URL=ws://127.0.0.1:PORT)."""
    import asyncio

    from primeflow_lib.config import load_config
    from primeflow_lib.live.stream import run as R
    from primeflow_lib.live.stream.ws_server import MassiveReplayServer, ServePlan

    with _typed_errors():
        cfg = load_config()
        session = R.session_for(parse_date(day, "--date") if day else None)
        prints = R.replay_prints(cfg, session, origin=origin, tickers=_tickers(tickers))

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            async with MassiveReplayServer(prints, ServePlan(rate=rate, key=key), port=port) as srv:
                click.echo(f"serving {len(prints):,} prints of {session} on {srv.url} at {rate:g}/s (key {key!r}); Ctrl-C stops")
                done = asyncio.ensure_future(srv.state.done.wait())
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait({done, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not stop.is_set():
                    click.echo("all prints sent; still serving (Ctrl-C stops)")
                    await stopped
                done.cancel()
            click.echo("stopped")

        asyncio.run(main())
