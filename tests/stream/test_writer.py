"""The stream's writer process: tasks done in order (commits first) with answers, a bad database a clear error at
start, and a writer that dies with its service (a SIGKILL of the service frees the database)."""

from __future__ import annotations

import datetime as dt
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import psutil
import pytest
from stream_fixtures import DAY, stream_cfg

from primeflow_lib.live.stream.writer import WriterError, WriterProcess, WriterSettings, _next_task


def _settings(tmp_path: Path, **kw) -> WriterSettings:
    return WriterSettings(db_path=tmp_path / "stream-main.duckdb", stream_id="main", cfg=stream_cfg(), day=DAY,
                          inbox=tmp_path / "inbox", relay=False, **kw)


def test_tasks_are_done_in_order_and_answered(tmp_path):
    got: dict[str, list] = {"batch": [], "counts": [], "error": []}
    done = threading.Event()
    w = WriterProcess(_settings(tmp_path), on_batch=got["batch"].append, on_error=got["error"].append,
                      on_counts=lambda c: (got["counts"].append(c), done.set()))
    w.start()
    try:
        assert len(w.written_rx()) == 0
        prints = pd.DataFrame({"print_id": ["a", "b"], "price": [1.0, 2.0]})
        w.submit("batch", "stream-main-x.parquet", {"signals": [], "divergences": []}, prints, np.array([0, 1]))
        row = {"ts": dt.datetime(2026, 1, 2, 15), "stream_id": "main", "trade_date": DAY, "state": "streaming",
               "source": "test", "prints": 2, "events": 0, "signals": 0, "quarantined": 0, "divergences": 0,
               "open_prints": 0, "alerts_pending": 0, "lag_seconds": None, "watermark_ts": None,
               "connections": 1, "last_error": None}
        w.submit("heartbeat", row, {"ts": dt.datetime.now(), "events_per_minute": None, "signals_by_kind": {},
                                    "open_positions": None, "lag_seconds": None, "last_error": None})
        assert done.wait(60), got
        # the batch came before the heartbeat, and its prints are recorded as written
        assert got["batch"] == ["stream-main-x.parquet"] and not got["error"]
        assert sorted(w.written_rx().tolist()) == [0, 1]
        w.submit("no such task")
        deadline = time.monotonic() + 30
        while not got["error"] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "unknown writer task" in got["error"][0]  # reported; the writer carries on
        assert len(w.written_rx()) == 2
    finally:
        w.stop()
    assert not w.alive
    assert (tmp_path / "inbox" / "stream-main-x.parquet").exists()
    with duckdb.connect(str(tmp_path / "stream-main.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM stream.heartbeat").fetchone()[0] == 1


def test_a_database_that_cannot_be_opened_is_a_clear_error(tmp_path):
    bad = WriterSettings(db_path=tmp_path / "stream.duckdb", stream_id="main", cfg=stream_cfg(), day=DAY,
                         inbox=tmp_path / "inbox", relay=False)
    with pytest.raises(WriterError, match="named after a schema"):
        WriterProcess(bad).start()


@pytest.mark.slow
def test_the_writer_dies_with_its_service_and_frees_the_database(tmp_path):
    """A service process killed with SIGKILL takes its writer along (nothing left holding the
    database's lock), so the next start opens it."""
    code = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from stream_fixtures import DAY, stream_cfg
        from pathlib import Path
        from primeflow_lib.live.stream.writer import WriterProcess, WriterSettings
        w = WriterProcess(WriterSettings(db_path=Path({str(tmp_path / "stream-main.duckdb")!r}), stream_id="main",
                          cfg=stream_cfg(), day=DAY, inbox=Path({str(tmp_path / "inbox")!r}), relay=False))
        w.start()
        print(w._proc.pid, flush=True)
        time.sleep(600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert psutil.pid_exists(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if psutil.Process(child).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the writer outlived its service")
    finally:
        if parent.poll() is None:
            parent.kill()
    w = WriterProcess(_settings(tmp_path))
    w.start()
    w.stop()


@pytest.mark.slow
def test_a_writer_that_dies_stops_the_stream_with_a_clear_error(tmp_path):
    """Killed mid-replay (what an out-of-memory kill does): the service raises instead of scoring
    into nowhere; started again, it recovers from its journal and stores what was lost."""
    import asyncio

    from stream_fixtures import loader, session, without_cancels

    from primeflow_lib.live.stream.service import StreamService
    from primeflow_lib.live.stream.sources import ReplaySource

    s = session()
    tape = without_cancels(s.prints).iloc[:6000].reset_index(drop=True)
    cfg = stream_cfg()
    cfg["stream"]["inbox_seconds"] = 0

    def service(speed):
        return StreamService(cfg, ReplaySource(tape, speed=speed, chunk_rows=200), s.day, loader(s),
                             root=tmp_path / "stream", inbox=tmp_path / "inbox", relay=False)

    svc = service(120.0)

    async def kill_the_writer():
        while getattr(svc, "writer", None) is None or svc.report.prints < 1000:
            await asyncio.sleep(0.02)
        svc.writer.kill()

    async def scenario():
        killer = asyncio.create_task(kill_the_writer())
        try:
            await svc.run()
        finally:
            killer.cancel()

    with pytest.raises(WriterError, match="ended unexpectedly"):
        asyncio.run(scenario())
    again = service(None)
    rep = asyncio.run(again.run())
    assert rep.flushed and rep.recovered_prints >= 1000
    with duckdb.connect(str(again.db_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM stream.signals").fetchone()[0] > 0


def test_the_writer_is_out_of_the_services_process_group(tmp_path):
    """A SIGTERM or Ctrl-C to the service's group (a supervisor, a terminal) reaches the service,
    which stops the writer after its queued work; the writer is not killed with the group."""
    w = WriterProcess(_settings(tmp_path))
    w.start()
    try:
        assert os.getpgid(w._proc.pid) == w._proc.pid != os.getpgid(0)
    finally:
        w.stop()


def test_a_commit_goes_before_batches_and_heartbeats_but_never_past_a_barrier():
    """An alert waits for its commit; an inbox batch for the sensor path can wait. ``written_rx``
    answers for everything queued before it, so nothing overtakes it (nor ``stop``)."""
    tasks: queue.Queue = queue.Queue()
    for t in [("batch", (1,)), ("heartbeat", ()), ("commit", (1,)), ("batch", (2,)), ("commit", (2,)),
              ("written_rx", ()), ("commit", (3,)), ("stop", ())]:
        tasks.put(t)
    waiting: list = []
    order = [_next_task(tasks, waiting) for _ in range(8)]
    assert order == [("commit", (1,)), ("commit", (2,)), ("batch", (1,)), ("heartbeat", ()), ("batch", (2,)),
                     ("written_rx", ()), ("commit", (3,)), ("stop", ())]
    assert not waiting and tasks.empty()


def test_the_writer_waits_for_a_commits_alerts_to_be_drained_not_longer():
    """After a commit with alerts the writer waits for a drain that began after it (one that
    began before does not count), and never longer than its limit (a channel that is down)."""
    from primeflow_lib.live.stream.writer import DrainTracker

    d = DrainTracker()
    assert d.wait(0.01)  # nothing committed: no wait
    early = d.starting()  # a drain already running when the commit lands
    d.committed()
    d.drained(early)
    t0 = time.monotonic()
    assert not d.wait(0.2) and time.monotonic() - t0 >= 0.19

    def relay() -> None:
        time.sleep(0.1)
        d.drained(d.starting())

    threading.Thread(target=relay).start()
    t0 = time.monotonic()
    assert d.wait(5.0) and time.monotonic() - t0 < 2.0


def test_commits_queued_together_become_one_commit_in_order():
    """Commits waiting behind one (a burst) join it, up to the first barrier; their signals,
    quarantine rows and divergences keep their order."""
    from primeflow_lib.live.stream.scorer import Divergence, StepResult
    from primeflow_lib.live.stream.writer import merge_steps, take_commits

    waiting = [("batch", (1,)), ("commit", ("b",)), ("heartbeat", ()), ("commit", ("c",)), ("written_rx", ()),
               ("commit", ("d",))]
    assert take_commits(waiting) == [("b",), ("c",)]
    assert waiting == [("batch", (1,)), ("heartbeat", ()), ("written_rx", ()), ("commit", ("d",))]

    def step(ids: list[str], q: int, div: int) -> StepResult:
        return StepResult(events=pd.DataFrame(), context=pd.DataFrame(), signals=pd.DataFrame({"signal_id": ids}),
                          quarantine=pd.DataFrame({"row_number": list(range(q))}),
                          divergences=[Divergence(rx=div, reason="r", detail="d")], done_rx=np.zeros(0, np.int64))

    m = merge_steps([step(["a"], 1, 1), step([], 0, 2), step(["b", "c"], 2, 3)])
    assert m.signals["signal_id"].tolist() == ["a", "b", "c"]
    assert len(m.quarantine) == 3 and [d.rx for d in m.divergences] == [1, 2, 3]
    one = step(["x"], 0, 9)
    assert merge_steps([one]) is one
