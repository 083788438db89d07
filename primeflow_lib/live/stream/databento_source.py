"""Databento's live gateway as a stream source, through the official client (``databento.Live``).

The source subscribes to the options dataset (``OPRA.PILLAR``) for ``definition`` records (the
instrument id -> OCC symbol map) and one print schema (``tcbbo``: trades with the consolidated
BBO; ``tbbo``: with the venue's own BBO; ``trades``: no quote), by parent symbol (``SPY.OPT``,
``stype_in`` = ``parent``). Records are turned into ``flow.option_prints`` rows by the same code
as the historical vendor (:func:`primeflow_lib.vendors.databento.dbn.prints`): prices 1e-9 USD,
``vendor_sequence`` = the record's sequence, ``exchange`` = the publisher id, flags as
conditions.

**Resume.** The gateway replays a session from a start time (intraday replay): the source's
position is the newest ``ts_event`` it delivered, and a restart subscribes from that instant,
so nothing is lost; the prints of that very nanosecond come again and the stream sets them aside
as records delivered twice (rule 3: same vendor sequence and content).

**Errors.** A gateway ``ErrorMsg`` and a trade of an instrument without a definition are
quarantined with the reason (``Chunk.rejected``); the stream carries on.

Tested against a local gateway speaking the live protocol (greeting, CRAM authentication,
subscription, session start, a DBN stream) that replays real DBN records; the real gateway needs
a key (``DATABENTO_API_KEY``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from primeflow_lib.config import load_api_keys
from primeflow_lib.live.stream.sources import OPTION_PRINTS_EMPTY, Chunk, PrintSource
from primeflow_lib.redact import register_secret
from primeflow_lib.vendors.base import VendorAuthError
from primeflow_lib.vendors.databento import dbn

KEY_ENV = "DATABENTO_API_KEY"
_TRADE_FIELDS = ("ts_event", "ts_recv", "publisher_id", "instrument_id", "price", "size", "flags", "sequence")


def _char(v: Any) -> str:
    return v if isinstance(v, str) else chr(int(v))


def trade_frame(records: Sequence[Any]) -> pd.DataFrame:
    """Trade-bearing live records (``TradeMsg``, ``MBP1Msg``, ``CMBP1Msg``, ``CBBOMsg``) as the
    columns :meth:`databento.DBNStore.to_ndarray` gives (what :func:`dbn.prints` reads)."""
    cols: dict[str, list[Any]] = {k: [] for k in (*_TRADE_FIELDS, "action", "bid_px_00", "ask_px_00")}
    for r in records:
        for k in _TRADE_FIELDS:
            cols[k].append(int(getattr(r, k, 0) or 0))
        cols["action"].append(_char(getattr(r, "action", "T")))
        lv = getattr(r, "levels", None)
        cols["bid_px_00"].append(int(lv[0].bid_px) if lv else dbn.UNDEF_PRICE)
        cols["ask_px_00"].append(int(lv[0].ask_px) if lv else dbn.UNDEF_PRICE)
    return pd.DataFrame({k: (v if k == "action" else np.asarray(v, np.int64)) for k, v in cols.items()})


def definition_frame(records: Sequence[Any]) -> pd.DataFrame:
    """``InstrumentDefMsg`` records as the columns :func:`dbn.contracts` reads."""
    return pd.DataFrame({
        "instrument_id": [int(r.instrument_id) for r in records],
        "raw_symbol": [str(r.raw_symbol) for r in records],
        "underlying": [str(getattr(r, "underlying", "") or "") for r in records],
        "ts_recv": [int(r.ts_recv) for r in records],
    })


class DatabentoSource(PrintSource):
    """Option prints from Databento's live gateway (see module doc).

    Args:
        key: the API key (else ``DATABENTO_API_KEY``).
        dataset, schema: ``OPRA.PILLAR`` and ``tcbbo`` | ``tbbo`` | ``trades``.
        symbols: underlyings (subscribed as ``<U>.OPT``, parent symbology); None: ``ALL_SYMBOLS``.
        gateway, port: override the gateway (tests: a local one).
        chunk_seconds: records are handed to the stream at least this often.
    """

    name = "databento"
    resumable = True

    def __init__(self, key: str | None, *, dataset: str = dbn.OPRA, schema: str = "tcbbo",
                 symbols: Sequence[str] | None = None, gateway: str | None = None, port: int = 13000,
                 chunk_seconds: float = 0.01) -> None:
        super().__init__()
        if schema not in dbn.PRINT_SCHEMAS:
            raise ValueError(f"databento schema must be one of {dbn.PRINT_SCHEMAS}, got {schema!r}")
        self.key = (key or "").strip()
        if not self.key:
            raise VendorAuthError(f"databento live: no API key: set {KEY_ENV}", vendor="databento")
        register_secret(self.key)
        self.dataset, self.schema = dataset, schema
        self.symbols = [f"{s}.OPT" for s in symbols] if symbols else None
        self.gateway, self.port = gateway, port
        self.chunk_seconds = chunk_seconds
        self.defs = pd.DataFrame(columns=["instrument_id", "option_symbol", "underlying", "expiry", "right", "strike"])
        self._live = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any], **kw: Any) -> DatabentoSource:
        keys = cfg.get("api_keys") or {}
        key = keys.get("databento") or load_api_keys().get("databento")
        return cls(getattr(key, "reveal", lambda: key)() if key is not None else None, **kw)

    async def chunks(self, after: str | None = None) -> AsyncIterator[Chunk]:
        import databento as db
        from databento_dbn import ErrorMsg, InstrumentDefMsg

        live = db.Live(key=self.key, gateway=self.gateway, port=self.port)
        self._live = live
        self.connections += 1
        start = int(after) if after is not None else None
        syms = self.symbols or "ALL_SYMBOLS"
        stype = "parent" if self.symbols else "raw_symbol"
        # the client connects and authenticates synchronously on its own thread: keep this loop free
        await asyncio.to_thread(live.subscribe, self.dataset, "definition", syms, stype_in=stype, start=start)
        await asyncio.to_thread(live.subscribe, self.dataset, self.schema, syms, stype_in=stype, start=start)
        defs_buf: list[Any] = []
        trades: list[Any] = []
        rejected: list[tuple[str, str]] = []
        loop = asyncio.get_running_loop()
        last = loop.time()
        last_ts = start
        async for rec in live:
            if isinstance(rec, InstrumentDefMsg):
                defs_buf.append(rec)
            elif isinstance(rec, ErrorMsg):
                rejected.append((str(getattr(rec, "err", rec))[:500], "databento gateway error message"))
            elif hasattr(rec, "price") and hasattr(rec, "size"):
                trades.append(rec)
            if loop.time() - last < self.chunk_seconds and len(trades) < 2000:
                continue
            last = loop.time()
            chunk, last_ts = self._chunk(defs_buf, trades, rejected, last_ts)
            defs_buf, trades, rejected = [], [], []
            if chunk is not None:
                yield chunk
        chunk, _ = self._chunk(defs_buf, trades, rejected, last_ts)
        if chunk is not None:
            yield chunk

    def _chunk(self, defs_buf, trades, rejected, last_ts) -> tuple[Chunk | None, int | None]:
        if defs_buf:
            new = dbn.contracts(dbn.DbnData(self.dataset, "definition", definition_frame(defs_buf), "databento live"))
            self.defs = pd.concat([self.defs, new], ignore_index=True).drop_duplicates("instrument_id", keep="last")
        if not trades and not rejected:
            return None, last_ts
        frame = OPTION_PRINTS_EMPTY.copy()
        if trades:
            tf = trade_frame(trades)
            known = tf["instrument_id"].isin(self.defs["instrument_id"])
            for iid in tf.loc[~known, "instrument_id"].unique():
                rejected.append((f"instrument_id {int(iid)}", "a trade of an instrument without a definition"))
            tf = tf[known].reset_index(drop=True)
            if len(tf):
                frame = dbn.prints(dbn.DbnData(self.dataset, self.schema, tf, "databento live"), self.defs)
                last_ts = max(int(tf["ts_event"].max()), last_ts or 0)
        return Chunk(frame, position=None if last_ts is None else str(last_ts), rejected=list(rejected),
                     received_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)), last_ts

    async def close(self) -> None:
        if self._live is not None:
            with contextlib.suppress(Exception):  # already closed
                self._live.stop()
            self._live = None
