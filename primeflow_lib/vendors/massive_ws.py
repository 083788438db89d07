"""Massive options websocket stream: trades (``T.*`` or ``T.<contract>``) as
``flow.option_prints``-shaped rows, for the near-live feed.

Protocol (``wss://socket.massive.com/options``; ``wss://delayed.massive.com/options`` for the
15-minute delayed feed; override with ``PRIMEFLOW_MASSIVE_WS_URL``):

1. the server greets with ``[{"ev":"status","status":"connected"}]``;
2. we send ``{"action":"auth","params":KEY}`` and wait for ``auth_success``
   (``auth_failed`` -> :class:`VendorAuthError`, not retried);
3. we send ``{"action":"subscribe","params":"T.*"}`` (comma-separated channels);
4. every frame is a JSON array of events: ``T`` trades ``{sym, x, p, s, c, t (ms), q}``,
   ``Q`` quotes ``{sym, bx, ax, bp, ap, bs, as, t, q}``, ``status`` messages.

Each trade becomes one row with the columns of ``flow.option_prints`` (``sip_timestamp`` is the
event's ms time x 1e6, ``seq`` counts prints per contract and day as received by this client,
``correction`` is NULL because the stream has none). When ``Q.`` channels are subscribed too, a
trade's bid/ask is the last quote received for its contract (else NULL).

A dropped connection is re-opened with jittered exponential backoff and the subscriptions are
sent again; after ``max_reconnects`` consecutive failures :class:`VendorError` is raised. A
``max_connections`` status (another connection already uses the key) is fatal at once, because
reconnecting would only take the slot back from the other consumer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import websockets
from websockets.asyncio.client import connect as ws_connect

from primeflow_lib.backoff import backoff
from primeflow_lib.config import load_api_keys
from primeflow_lib.redact import redact, register_secret, shorten
from primeflow_lib.schema.flow import OPTION_PRINTS
from primeflow_lib.symbols import OptionSymbolError, parse_occ
from primeflow_lib.vendors.base import VendorAuthError, VendorDataError, VendorError
from primeflow_lib.vendors.http import ET, make_frame, reveal
from primeflow_lib.vendors.massive import KEY_ENVS, conditions_text, print_id

log = logging.getLogger(__name__)

#: bid and ask of a trade with no quote received for its contract (NULL)
_NO_QUOTE = (float("nan"), float("nan"))

REALTIME_URL = "wss://socket.massive.com/options"
DELAYED_URL = "wss://delayed.massive.com/options"
WS_URL_ENV = "PRIMEFLOW_MASSIVE_WS_URL"
#: statuses after which reconnecting cannot help
FATAL_STATUSES = {"max_connections"}
#: why :meth:`MassiveOptionsStream.frames` sets a trade aside (its ``q`` was seen already)
REPEATED = "trade sent again: its sequence number q is not above the last one received for the contract"


class _Reconnect(Exception):
    """Internal: the connection dropped; open a new one."""


class MassiveOptionsStream:
    """Async client of the Massive options stream.

    Args:
        api_key: the Massive key (plain string or ``config.Secret``).
        subscriptions: channels, e.g. ``("T.*",)`` or ``("T.O:SPY251219C00650000",
            "Q.O:SPY251219C00650000")`` (quotes: at most 1,000 contracts per connection).
        url: default ``PRIMEFLOW_MASSIVE_WS_URL``, else the real-time (or ``delayed``) URL.
        delayed: use the 15-minute delayed feed when no URL is given.
        connect_timeout: seconds to open the socket and to wait for each handshake reply.
        backoff_base, backoff_max: reconnect waits (doubling, jittered to 50-100 %).
        max_reconnects: consecutive failed connections before giving up.
        connect: the ``websockets`` connect function (injectable for tests).
    """

    name = "massive"

    def __init__(
        self,
        api_key: object | None,
        subscriptions: Sequence[str] = ("T.*",),
        *,
        url: str | None = None,
        delayed: bool = False,
        connect_timeout: float = 10.0,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_reconnects: int = 10,
        connect: Callable[..., Any] = ws_connect,
    ) -> None:
        self._key = reveal(api_key).strip()
        if not self._key:
            first, *legacy = KEY_ENVS
            raise VendorAuthError(
                f"massive stream: no API key: set {first} (legacy names also read: "
                f"{', '.join(legacy)})",
                vendor=self.name,
            )
        register_secret(self._key)
        if isinstance(subscriptions, str):
            subscriptions = [subscriptions]
        if not subscriptions or not all(isinstance(s, str) and s for s in subscriptions):
            raise VendorError(
                "massive stream: give at least one channel, e.g. 'T.*'", vendor=self.name
            )
        self.subscriptions = tuple(subscriptions)
        self.url = (
            url
            or os.environ.get(WS_URL_ENV, "").strip()
            or (DELAYED_URL if delayed else REALTIME_URL)
        )
        self.connect_timeout = connect_timeout
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_reconnects = max_reconnects
        self._connect = connect
        self._seq: dict[tuple[str, dt.date], int] = {}
        self._nbbo: dict[str, tuple[float, float]] = {}
        self._last_q: dict[str, int] = {}
        self._occ: dict[Any, tuple[str, str] | str] = {}
        self._offsets: dict[int, dt.timedelta] = {}
        self._offsets_ms: dict[int, int] = {}
        self._dates: dict[int, dt.date] = {}
        #: connections opened so far (1 + reconnects), for monitoring
        self.connections = 0

    @classmethod
    def from_config(
        cls, cfg: Mapping[str, Any], subscriptions: Sequence[str] = ("T.*",), **kwargs: Any
    ) -> MassiveOptionsStream:
        """Build from the loaded config (key from ``cfg["api_keys"]["massive"]``, connect timeout
        and backoff from ``cfg["runtime"]``; ``max_reconnects`` keeps its own default because a
        live feed should ride out longer outages than one REST call)."""
        keys = cfg.get("api_keys") or {}
        key = keys.get("massive") or load_api_keys().get("massive")
        rt = cfg.get("runtime") or {}
        kwargs.setdefault("connect_timeout", float(rt.get("http_connect_timeout_s", 10.0)))
        kwargs.setdefault("backoff_base", float(rt.get("http_backoff_base_s", 0.5)))
        kwargs.setdefault("backoff_max", float(rt.get("http_backoff_max_s", 30.0)))
        return cls(key, subscriptions, **kwargs)

    # -- rows --------------------------------------------------------------------------------

    def _trade_row(self, ev: Mapping[str, Any]) -> dict[str, Any]:
        where = "stream trade event"
        for k in ("sym", "x", "p", "s", "t"):
            if k not in ev:
                raise VendorDataError(
                    f"massive: {where}: field {k!r} missing in {ev!r}", vendor=self.name
                )
        sym, underlying = self._contract(ev["sym"], where)
        for k in ("x", "s", "t"):
            if isinstance(ev[k], bool) or not isinstance(ev[k], int | float) or ev[k] != int(ev[k]):
                raise VendorDataError(
                    f"massive: {where}: field {k!r} must be an integer, got {ev[k]!r}",
                    vendor=self.name,
                )
        if isinstance(ev["p"], bool) or not isinstance(ev["p"], int | float):
            raise VendorDataError(
                f"massive: {where}: price 'p' must be a number, got {ev['p']!r}", vendor=self.name
            )
        sip_ns = int(ev["t"]) * 1_000_000  # the stream sends ms, REST sends ns
        ts = self._wall(int(ev["t"]))
        day = ts.date()
        seq = self._seq.get((sym, day), 0)
        self._seq[(sym, day)] = seq + 1
        conds = conditions_text(ev.get("c"), where=where)
        price = float(ev["p"])
        bid, ask = self._nbbo.get(sym, (None, None))
        return {
            "trade_date": day,
            "print_id": print_id(sym, sip_ns, int(ev["x"]), price, int(ev["s"]), conds, seq),
            "option_symbol": sym,
            "underlying": underlying,
            "sip_ts": ts,
            "sip_timestamp": sip_ns,
            "exchange": int(ev["x"]),
            "price": price,
            "size": int(ev["s"]),
            "conditions": conds,
            "correction": None,
            "bid": bid,
            "ask": ask,
            "seq": seq,
            "vendor": self.name,
            "vendor_sequence": None,  # Massive option trades carry no sequence number
            "quote_source": None,
        }

    def _contract(self, raw: Any, where: str) -> tuple[str, str]:
        """(OCC symbol, underlying) of a stream symbol, parsed once per symbol (a stream repeats
        its contracts thousands of times)."""
        if not isinstance(raw, str):  # a list or object would not even be a dict key
            raise VendorDataError(f"massive: {where}: symbol must be a string, got {raw!r}"[:300], vendor=self.name)
        got = self._occ.get(raw)
        if got is None:
            try:
                parsed = parse_occ(raw)
                got = (parsed.symbol, parsed.underlying)
            except OptionSymbolError as exc:
                got = str(exc)
            if len(self._occ) < 200_000:
                self._occ[raw] = got
        if isinstance(got, str):
            raise VendorDataError(f"massive: {where}: {got}", vendor=self.name)
        return got

    def _wall(self, ms: int) -> dt.datetime:
        """America/New_York wall time (naive) of a UTC millisecond timestamp; the UTC offset is
        looked up once per hour (offsets change on the hour)."""
        return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms) + self._offset(ms // 3_600_000)

    def _offset(self, hour: int) -> dt.timedelta:
        """America/New_York's UTC offset in the UTC hour ``hour`` (hours since the epoch)."""
        off = self._offsets.get(hour)
        if off is None:
            off = dt.datetime.fromtimestamp(hour * 3600, tz=ET).utcoffset()
            self._offsets[hour] = off
        return off

    def _repeated(self, ev: Mapping[str, Any]) -> bool:
        """True for a trade whose sequence number ``q`` is not above the last one received for
        its contract (Massive's ``q`` increases per symbol): a message sent again after a
        reconnect. Trades without ``q`` are never judged repeated."""
        q = ev.get("q")
        if isinstance(q, bool) or not isinstance(q, int):
            return False
        last = self._last_q.get(str(ev.get("sym")))
        return last is not None and q <= last

    def _seen(self, ev: Mapping[str, Any]) -> None:
        """Remember the sequence number of a trade that became a row."""
        q = ev.get("q")
        if isinstance(q, int) and not isinstance(q, bool):
            self._last_q[str(ev.get("sym"))] = q

    def _quote(self, ev: Mapping[str, Any]) -> None:
        got = self._quote_of(ev)
        if got is not None:
            self._nbbo[got[0]] = got[1]

    def _quote_of(self, ev: Mapping[str, Any]) -> tuple[str, tuple[float, float]] | None:
        """(OCC symbol, (bid, ask)) of a quote event, or None for a quote that is not usable (an
        unparseable symbol, a missing price)."""
        try:
            sym, _ = self._contract(ev.get("sym", ""), "quote")  # parsed once per contract, as for trades
        except VendorDataError:
            log.debug("massive stream: quote for unparseable symbol %r ignored", ev.get("sym"))
            return None
        bp, ap = ev.get("bp"), ev.get("ap")
        if isinstance(bp, int | float) and isinstance(ap, int | float):
            return sym, (float(bp), float(ap))
        return None


    def _frame_rows(self, events: list[dict[str, Any]], strict: bool) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """One frame's events in order, one at a time: trades as rows, trades that cannot be
        rows as ``(raw text, reason)`` (raised when ``strict``), quotes and statuses applied."""
        rows: list[dict[str, Any]] = []
        rejected: list[tuple[str, str]] = []
        for ev in events:
            kind = ev.get("ev")
            if kind == "T":
                if self._repeated(ev):
                    rejected.append((json.dumps(ev, default=str)[:1000], REPEATED))
                    continue
                try:
                    rows.append(self._trade_row(ev))
                    self._seen(ev)
                except VendorDataError as exc:
                    if strict:
                        raise
                    rejected.append((json.dumps(ev, default=str)[:1000], str(exc)))
            elif kind == "Q":
                self._quote(ev)
            elif kind == "status":
                self._status(ev)
            # other event types (A, AM, ...) are not ours: ignored
        return rows, rejected

    def _frame_columns(self, events: list[dict[str, Any]]) -> dict[str, Any] | None:
        """The stream's hot path (a burst brings 20,000 trades a second): one frame's trades as
        a block of columns (see :meth:`frames`), with the values :meth:`_trade_row` gives, when
        every trade in it is well formed and new. Otherwise None, with nothing changed (the
        quotes, sequence counters and last ``q`` of the frame are kept aside until the end), and
        the frame goes through :meth:`_frame_rows`, which names what is wrong."""
        occ, nbbo, last_q, seqs = self._occ, self._nbbo, self._last_q, self._seq
        offsets, dates = self._offsets_ms, self._dates
        nb_new: dict[str, tuple[float, float]] = {}
        q_new: dict[str, int] = {}
        seq_new: dict[tuple[str, dt.date], int] = {}
        statuses: list[dict[str, Any]] = []
        sym_l: list[str] = []
        und_l: list[str] = []
        pid_l: list[str] = []
        cond_l: list[str] = []
        date_l: list[dt.date] = []
        num_l: list[tuple] = []
        for ev in events:
            kind = ev.get("ev")
            if kind == "T":
                raw = ev.get("sym")
                if type(raw) is not str:
                    return None
                got = occ.get(raw)
                if type(got) is not tuple:
                    try:
                        got = self._contract(raw, "stream trade event")
                    except VendorDataError:
                        return None
                x, p, s, t = ev.get("x"), ev.get("p"), ev.get("s"), ev.get("t")
                # exact types: anything else (a bool, a whole float, a missing field) takes the
                # row path, which accepts or rejects it by its own rules
                if type(x) is not int or type(s) is not int or type(t) is not int or \
                        (type(p) is not float and type(p) is not int):
                    return None
                q = ev.get("q")
                if type(q) is int:
                    last = q_new.get(raw)
                    if last is None:
                        last = last_q.get(raw)
                    if last is not None and q <= last:
                        return None
                    q_new[raw] = q
                c = ev.get("c")
                if c is None:
                    cond = ""
                elif type(c) is list and all(type(v) is int for v in c):
                    cond = ",".join(map(str, c))
                else:
                    return None
                sym = got[0]
                hour = t // 3_600_000
                off = offsets.get(hour)
                if off is None:
                    off = offsets[hour] = int(self._offset(hour).total_seconds() * 1000)
                wall = t + off
                dno = wall // 86_400_000
                day = dates.get(dno)
                if day is None:
                    day = dates[dno] = dt.date(1970, 1, 1) + dt.timedelta(days=dno)
                key = (sym, day)
                n = seq_new.get(key)
                if n is None:
                    n = seqs.get(key, 0)
                seq_new[key] = n + 1
                price = float(p)
                nb = nb_new.get(sym) or nbbo.get(sym)
                sym_l.append(sym)
                und_l.append(got[1])
                cond_l.append(cond)
                date_l.append(day)
                pid_l.append(print_id(sym, t * 1_000_000, x, price, s, cond, n))
                num_l.append((t, wall, x, price, s, n, *(nb or _NO_QUOTE)))
            elif kind == "Q":
                quote = self._quote_of(ev)
                if quote is not None:
                    nb_new[quote[0]] = quote[1]
            elif kind == "status":
                statuses.append(ev)
        for ev in statuses:
            self._status(ev)
        nbbo.update(nb_new)
        last_q.update(q_new)
        seqs.update(seq_new)
        # one array for the numbers (ms times are below 2**53: exact as float64)
        num = np.asarray(num_l, dtype=np.float64).reshape(-1, 8)
        t_ms = num[:, 0].astype(np.int64)
        wall_ms = num[:, 1].astype(np.int64)
        return {
            "trade_date": date_l,
            "print_id": pid_l,
            "option_symbol": sym_l,
            "underlying": und_l,
            "sip_ts": (wall_ms * 1000).astype("datetime64[us]"),
            "sip_timestamp": t_ms * 1_000_000,
            "exchange": num[:, 2].astype(np.int64),
            "price": num[:, 3].copy(),
            "size": num[:, 4].astype(np.int64),
            "conditions": cond_l,
            "bid": num[:, 6].copy(),
            "ask": num[:, 7].copy(),
            "seq": num[:, 5].astype(np.int64),
            "vendor": [self.name] * len(sym_l),
        }

    # -- protocol ----------------------------------------------------------------------------

    async def _recv_events(self, ws: Any, timeout: float | None) -> list[dict[str, Any]]:
        raw = await (asyncio.wait_for(ws.recv(), timeout) if timeout else ws.recv())
        try:
            data = json.loads(raw)
        except (TypeError, ValueError):
            raise VendorDataError(
                f"massive stream: undecodable frame (not JSON): {shorten(raw, 80, (self._key,))!r}", vendor=self.name
            ) from None
        if isinstance(data, dict):  # tolerate a single event outside an array
            data = [data]
        if not isinstance(data, list) or not all(isinstance(e, dict) for e in data):
            raise VendorDataError(
                f"massive stream: a frame must be a JSON array of objects, got {shorten(raw, 80, (self._key,))!r}",
                vendor=self.name,
            )
        return data

    def _status(self, ev: Mapping[str, Any]) -> str:
        status = str(ev.get("status", ""))
        message = redact(str(ev.get("message", "")), (self._key,))
        if status == "auth_failed":
            raise VendorAuthError(
                f"massive stream: authentication failed ({message}); check {' / '.join(KEY_ENVS)}",
                vendor=self.name,
            )
        if status in FATAL_STATUSES:
            raise VendorError(f"massive stream: {status}: {message}", vendor=self.name)
        if status in ("error", "slow_consumer"):
            log.warning("massive stream: %s: %s", status, message)
        else:
            log.debug("massive stream: %s: %s", status, message)
        return status

    async def _handshake(self, ws: Any) -> None:
        t = self.connect_timeout
        await ws.send(json.dumps({"action": "auth", "params": self._key}))
        while True:
            events = await self._recv_events(ws, t)
            statuses = [self._status(e) for e in events if e.get("ev") == "status"]
            if "auth_success" in statuses:
                break
        await ws.send(json.dumps({"action": "subscribe", "params": ",".join(self.subscriptions)}))
        log.info("massive stream: subscribed to %s", ",".join(self.subscriptions))

    async def rows(self) -> AsyncIterator[dict[str, Any]]:
        """Yield one ``flow.option_prints`` row (a dict) per trade, forever, reconnecting as
        needed (see the module doc). Stop by breaking out of the loop or cancelling the task.

        Raises:
            VendorAuthError: the key was rejected.
            VendorError: ``max_connections``, or ``max_reconnects`` consecutive failures.
            VendorDataError: an undecodable frame or a malformed trade event.
        """
        async for rows, rejected in self.frames(strict=True):
            for _raw, why in rejected:  # only trades sent again after a reconnect
                log.warning("massive stream: %s", why)
            for row in rows:
                yield row

    async def frames(
        self, *, strict: bool = False, columns: bool = False
    ) -> AsyncIterator[tuple[Any, list[tuple[str, str]]]]:
        """Per websocket frame: ``(rows, rejected)``, the trades as ``flow.option_prints`` rows
        and, unless ``strict``, what could not be read as ``(raw text, reason)`` (an undecodable
        frame, a malformed trade) instead of raising, so a streaming consumer can count and
        quarantine it and carry on. Reconnects like :meth:`rows`; ``connections`` counts them.

        ``columns``: the trades as one *block* instead of rows: ``flow.option_prints`` column
        name -> the frame's values (a list or a numpy array; columns that are NULL for this
        vendor are left out), what the stream service journals and scores without building a
        dict per trade (:meth:`_frame_columns`; a frame with anything unusual in it goes through
        the row path and is converted, so the values and rejections are the same)."""
        failures = 0
        while True:
            reason = ""
            try:
                async with self._connect(
                    self.url, open_timeout=self.connect_timeout, max_size=2**24
                ) as ws:
                    self.connections += 1
                    await self._handshake(ws)
                    failures = 0  # a connection that authenticates counts as healthy
                    while True:
                        try:
                            events = await self._recv_events(ws, None)
                        except VendorDataError as exc:
                            if strict:
                                raise
                            yield (rows_block([]) if columns else []), [(str(exc)[:500], "undecodable websocket frame")]
                            continue
                        if columns:
                            block = self._frame_columns(events)
                            if block is not None:
                                if block["option_symbol"]:
                                    yield block, []
                                continue
                        rows, rejected = self._frame_rows(events, strict)
                        if rows or rejected:
                            yield (rows_block(rows) if columns else rows), rejected
            except (
                websockets.ConnectionClosed,
                OSError,
                TimeoutError,
                websockets.InvalidHandshake,
            ) as exc:
                reason = f"{type(exc).__name__}: {redact(str(exc), (self._key,))}"
            failures += 1
            if failures > self.max_reconnects:
                raise VendorError(
                    f"massive stream: gave up after {failures} failed connections to "
                    f"{self.url} (last: {reason})",
                    vendor=self.name,
                )
            wait = backoff(failures, self.backoff_base, self.backoff_max)
            log.warning(
                "massive stream: connection lost (%s); reconnecting in %.2fs (%d/%d)",
                reason,
                wait,
                failures,
                self.max_reconnects,
            )
            await asyncio.sleep(wait)

    async def batches(
        self, max_rows: int = 500, max_seconds: float = 1.0
    ) -> AsyncIterator[pd.DataFrame]:
        """Group :meth:`rows` into ``flow.option_prints`` frames of at most ``max_rows`` rows,
        emitted at least every ``max_seconds`` while trades arrive (for atomic inbox files)."""
        buf: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        started = loop.time()
        async for row in self.rows():
            if not buf:
                started = loop.time()
            buf.append(row)
            if len(buf) >= max_rows or loop.time() - started >= max_seconds:
                yield make_frame(OPTION_PRINTS, buf)
                buf = []


def rows_block(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows (dicts with the same keys) as one block of columns (see
    :meth:`MassiveOptionsStream.frames`)."""
    if not rows:
        return {"option_symbol": []}
    return {k: [r[k] for r in rows] for k in rows[0]}


__all__ = ["DELAYED_URL", "REALTIME_URL", "WS_URL_ENV", "MassiveOptionsStream", "rows_block"]
