"""Running the stream service from the command line: building its source and market loader, and
stopping cleanly on SIGTERM / SIGINT (``primeflow stream run``, ``make stream``)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from primeflow_lib import calendar
from primeflow_lib import warehouse as db
from primeflow_lib.flow.inputs import load_scoring_inputs
from primeflow_lib.live.stream.scorer import Loader
from primeflow_lib.live.stream.service import ServiceReport, StreamService
from primeflow_lib.live.stream.sources import PrintSource, ReplaySource, received_order

#: where a replay's prints come from
REPLAY_FROM = ("synthetic", "stored")


def warehouse_loader(cfg: dict[str, Any], path: Path | None = None) -> Loader:
    """A :data:`~.scorer.Loader` reading the published read copy (``PRIMEFLOW_READ_DUCKDB``),
    read-only, one short connection per load (the warehouse itself stays free for Dagster)."""
    read = Path(path) if path is not None else db.read_copy_path()

    def load(day: dt.date, tickers: list[str]) -> dict[str, pd.DataFrame]:
        if not read.exists():
            raise FileNotFoundError(
                f"no read copy at {read}: the stream reads market context (bars, chain, gamma "
                "levels, earlier flow) from it; run `make demo` or `primeflow publish` first")
        con = duckdb.connect(str(read), read_only=True)
        try:
            return load_scoring_inputs(con, day, tickers, cfg)
        finally:
            con.close()

    return load


def universe_tickers(day: dt.date, path: Path | None = None) -> list[str]:
    """The session's universe (``market.universe``) from the read copy, else the tickers with
    1-minute bars that day; empty without a read copy."""
    read = Path(path) if path is not None else db.read_copy_path()
    if not read.exists():
        return []
    con = duckdb.connect(str(read), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT DISTINCT ticker FROM market.universe WHERE trade_date = ?", [day]).fetchall()]
        if not names:
            names = [r[0] for r in con.execute(
                "SELECT DISTINCT ticker FROM market.ohlcv_intraday WHERE trade_date = ?", [day]).fetchall()]
        return sorted(names)
    except duckdb.CatalogException:
        return []
    finally:
        con.close()


def replay_prints(cfg: dict[str, Any], day: dt.date, *, origin: str = "synthetic",
                  tickers: list[str] | None = None, read_path: Path | None = None) -> pd.DataFrame:
    """A session's prints in received order, from the synthetic vendor or the read copy."""
    from primeflow_lib.live.feed import stored_session_prints, synthetic_session_prints

    if origin == "synthetic":
        return received_order(synthetic_session_prints(cfg, day, tickers))
    if origin == "stored":
        p = stored_session_prints(day, read_path)
        if tickers:
            p = p[p["underlying"].astype(str).isin(tickers)]
        p = p.sort_values(["option_symbol", "seq"], kind="stable")
        return received_order(p, group="option_symbol")
    raise ValueError(f"replay origin must be one of {REPLAY_FROM}, got {origin!r}")


def run_service(service: StreamService, *, install_signals: bool = True) -> ServiceReport:
    """Run the service until its source ends or SIGTERM / SIGINT arrives (then it stops without
    flushing: the journal keeps the open orders for the next start)."""

    async def main() -> ServiceReport:
        stop = asyncio.Event()
        if install_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
        return await service.run(stop)

    return asyncio.run(main())


def session_for(day: dt.date | None) -> dt.date:
    """The session to stream: ``day``, else today in New York when it is a session, else the
    latest completed one."""
    if day is not None:
        return calendar.require_session(day)
    today = pd.Timestamp.now(tz="America/New_York").date()
    return today if calendar.is_session(today) else calendar.latest_completed_session()


def build_replay(cfg: dict[str, Any], day: dt.date, *, origin: str, speed: float | None,
                 tickers: list[str] | None, chunk_rows: int = 500) -> PrintSource:
    return ReplaySource(replay_prints(cfg, day, origin=origin, tickers=tickers), speed=speed, chunk_rows=chunk_rows)


def stop_stream(root: Path, stream_id: str, read_status: Callable[[Path], list[dict[str, Any]]]) -> int:
    """SIGTERM the process of a running stream (pid from its status file); returns the pid."""
    for st in read_status(root):
        if st.get("stream_id") == stream_id and st.get("state") != "stopped" and st.get("pid"):
            os.kill(int(st["pid"]), signal.SIGTERM)
            return int(st["pid"])
    raise LookupError(f"no running stream {stream_id!r} in {root}")
