"""The stream service end to end on a replay: journal, incremental scoring, its own outbox and relay
to a real local webhook, inbox batches with side files; a stop and a restart in between; then the
sensor path scores those batches and reconciles (agreed alerts never sent twice, the rest filled
in and counted)."""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import sys

import duckdb
import pandas as pd
import pytest
from stream_fixtures import (
    WEBHOOK_ENV,
    batch,
    loader,
    session,
    stream_cfg,
    without_cancels,
    write_read_copy,
)

from primeflow_lib import warehouse as db
from primeflow_lib.live.inbox import list_batches, move_done
from primeflow_lib.live.process import deliver_alerts, score_batch_file
from primeflow_lib.live.stream.receiver import WebhookReceiver
from primeflow_lib.live.stream.service import StreamService
from primeflow_lib.live.stream.sources import ReplaySource


class StopAfter(ReplaySource):
    """A replay that sets ``stop`` once it has handed out ``n`` chunks (then waits, like a live
    source, so the service stops without flushing)."""

    def __init__(self, prints, n, stop, **kw):
        super().__init__(prints, **kw)
        self.n, self.stop = n, stop

    async def chunks(self, after=None):
        k = 0
        async for ch in super().chunks(after):
            yield ch
            k += 1
            if k >= self.n:
                self.stop.set()
                await asyncio.Event().wait()


def _run(svc, stop=None):
    return asyncio.run(svc.run(stop))


@pytest.mark.slow
def test_stream_alerts_once_survives_a_restart_and_the_sensor_path_reconciles(tmp_path, monkeypatch):
    s = session()
    tape = without_cancels(s.prints)
    cfg = stream_cfg(webhook=True)
    want = batch(s, tape, cfg)
    root, inbox = tmp_path / "stream", tmp_path / "inbox"
    with WebhookReceiver() as rx:
        monkeypatch.setenv(WEBHOOK_ENV, rx.url)

        async def first():
            stop = asyncio.Event()
            src = StopAfter(tape, 12, stop, speed=None, chunk_rows=250)
            svc = StreamService(cfg, src, s.day, loader(s), root=root, inbox=inbox)
            return await svc.run(stop), svc

        rep1, _ = asyncio.run(first())
        assert not rep1.flushed and rep1.prints == 12 * 250
        # a new process: recovers the journal, resumes the replay after the last position
        svc2 = StreamService(cfg, ReplaySource(tape, speed=None, chunk_rows=250), s.day, loader(s), root=root, inbox=inbox)
        rep2 = _run(svc2)
        assert rep2.recovered_prints == 12 * 250 and rep2.flushed
        assert rep2.prints == len(tape)  # the recovered prints and the rest

        con = duckdb.connect(str(svc2.db_path), read_only=True)
        try:
            got = con.execute("SELECT signal_id, kind, strength, tags FROM stream.signals").df()
            status = dict(con.execute("SELECT status, count(*) FROM live.alert_outbox WHERE kind <> 'HEARTBEAT' GROUP BY 1").fetchall())
        finally:
            con.close()
        assert sorted(got["signal_id"]) == sorted(want.signals["signal_id"])
        assert status == {"sent": len(want.signals)}
        posts = [p.body for p in rx.snapshot() if p.body.get("kind") != "HEARTBEAT"]
        keys = collections.Counter(p["alert_key"] for p in posts)
        assert len(keys) == len(want.signals) and max(keys.values()) == 1  # 0 lost, 0 twice

        # every print went to exactly one inbox batch, each with its side file
        files = list_batches(inbox)
        assert files
        seen = pd.concat([pd.read_parquet(b.path) for b in files], ignore_index=True)
        assert len(seen) == len(tape) and seen["print_id"].is_unique
        side_ids = set()
        for b in files:
            side = json.loads((inbox / (b.path.name + ".stream.json")).read_text())
            side_ids |= {x["signal_id"] for x in side["signals"]}
        assert side_ids == set(want.signals["signal_id"])

        # the sensor path: scores each batch, records the stream's alerts, sends only what it alone found
        wh = tmp_path / "wh.duckdb"
        write_read_copy(wh, s)
        connect = functools.partial(db.connect, wh)
        outcomes = []
        for b in files:
            outcomes.append(score_batch_file(b.path, connect, cfg))
            move_done(b.path)
        before = len(rx.snapshot())
        deliver_alerts(connect, cfg, max_seconds=30)
        filled = [p.body for p in rx.snapshot()[before:] if p.body.get("kind") != "HEARTBEAT"]
    agreed = sum(o.stream_agreed for o in outcomes)
    sensor_only = sum(o.sensor_only for o in outcomes)
    stream_only = sum(o.stream_only for o in outcomes)
    assert all(o.stream_batch for o in outcomes)
    assert agreed > 0.8 * len(want.signals)
    assert agreed + stream_only == len(want.signals)
    assert len(filled) == sensor_only  # filled in: exactly the signals only the sensor path found
    assert not set(p["alert_key"] for p in filled) & set(keys)  # never an alert twice
    with duckdb.connect(str(wh), read_only=True) as con:
        st = dict(con.execute("SELECT status, count(*) FROM live.alert_outbox WHERE kind <> 'HEARTBEAT' GROUP BY 1").fetchall())
        rec = con.execute("SELECT sum(agreed), sum(stream_only), sum(sensor_only) FROM stream.reconciliation").fetchone()
        copied = con.execute("SELECT count(*) FROM stream.signals").fetchone()[0]
        hits = con.execute("SELECT count(*), count(DISTINCT row_id) FROM live.rule_alerts WHERE outcome = 'alert' "
                           "AND row_id IN (SELECT signal_id FROM stream.signals)").fetchone()
    assert hits == (len(want.signals),) * 2  # the stream's rule decisions, recorded once (not evaluated again)
    assert st.get("stream") == len(want.signals) and st.get("sent", 0) == sensor_only
    assert rec == (agreed, stream_only, sensor_only)
    assert copied == len(want.signals)


class _RecordsSwitch(ReplaySource):
    """A replay that notes the interpreter's switch interval while the service reads it."""

    seen: list[float]

    async def chunks(self, after=None):
        self.seen = []
        async for ch in super().chunks(after):
            self.seen.append(sys.getswitchinterval())
            yield ch


def test_the_switch_interval_is_set_while_streaming_and_restored(tmp_path):
    s = session()
    tape = without_cancels(s.prints).iloc[:400].reset_index(drop=True)
    cfg = stream_cfg()
    cfg["stream"]["switch_interval_ms"] = 35
    src = _RecordsSwitch(tape, speed=None, chunk_rows=200)
    before = sys.getswitchinterval()
    svc = StreamService(cfg, src, s.day, loader(s), root=tmp_path / "stream", inbox=tmp_path / "inbox", relay=False)
    assert _run(svc).flushed
    assert src.seen and all(v == pytest.approx(0.035) for v in src.seen)
    assert sys.getswitchinterval() == before


@pytest.mark.parametrize("bad", [-1, "fast", float("nan"), True, None])
def test_a_bad_switch_interval_is_refused_before_anything_runs(tmp_path, bad):
    s = session()
    cfg = stream_cfg()
    cfg["stream"]["switch_interval_ms"] = bad
    with pytest.raises(ValueError, match=r"stream\.switch_interval_ms: expected milliseconds"):
        StreamService(cfg, ReplaySource(s.prints.iloc[:10]), s.day, loader(s), root=tmp_path / "s",
                      inbox=tmp_path / "inbox", relay=False)


def test_inbox_batches_wait_while_the_loop_is_behind_and_nothing_is_lost(tmp_path):
    """A loop whose steps take longer than ``busy_step_seconds`` (here: every step) holds its
    inbox batches back (counted), up to ``inbox_max_defer_seconds``; at the end every print is
    in a batch once."""
    s = session()
    tape = without_cancels(s.prints).iloc[:3000].reset_index(drop=True)

    def run(defer_s: float, root: str) -> tuple[StreamService, pd.DataFrame]:
        cfg = stream_cfg()
        cfg["stream"].update({"inbox_seconds": 0.01, "busy_step_seconds": 0.0, "inbox_max_defer_seconds": defer_s})
        svc = StreamService(cfg, ReplaySource(tape, speed=None, chunk_rows=100), s.day, loader(s),
                            root=tmp_path / root, inbox=tmp_path / f"{root}-inbox", relay=False)
        assert _run(svc).flushed
        files = list_batches(tmp_path / f"{root}-inbox")
        return svc, pd.concat([pd.read_parquet(f.path) for f in files], ignore_index=True)

    held, got = run(3600.0, "held")
    assert held.report.inbox_deferred > 0 and held.report.inbox_batches == 1
    assert sorted(got["print_id"]) == sorted(tape["print_id"])
    free, got = run(0.0, "free")
    assert free.report.inbox_deferred == 0 and free.report.inbox_batches > 1
    assert sorted(got["print_id"]) == sorted(tape["print_id"])


def test_a_loop_with_prints_waiting_steps_a_tick_after_its_last_step(tmp_path):
    """Received prints wait at most until a tick has passed since the last step, not a tick
    from each arrival (a broker consumer's messages come every ingest window, slower than the
    tick: each waited for a next message that came after the tick). A loop with nothing to
    score waits a whole tick."""
    import time

    s = session()
    svc = StreamService(stream_cfg(), ReplaySource(s.prints.iloc[:10]), s.day, loader(s), root=tmp_path / "s",
                        inbox=tmp_path / "inbox", relay=False)
    svc._last_step = time.monotonic() - 0.030
    svc._dirty = True
    assert 0.0 <= svc._wait_s(0.040) <= 0.0101
    svc._last_step = time.monotonic() - 0.5  # overdue: no wait at all
    assert svc._wait_s(0.040) == 0.0
    svc._dirty = False
    assert svc._wait_s(0.040) == 0.040
