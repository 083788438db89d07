"""The writer runs ahead of its scoring loop (``stream.writer_priority``): the writer lowers its
own niceness where it may, else the service raises its scoring loop's; bad settings are errors
naming the setting."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import textwrap
import threading

import psutil
import pytest
from stream_fixtures import DAY, stream_cfg

from primeflow_lib.live.stream import priority
from primeflow_lib.live.stream.priority import favour_writer, writer_priority
from primeflow_lib.live.stream.writer import WriterProcess, WriterSettings


def _in_thread(fn):
    """Run ``fn`` on a thread of its own (niceness is per thread on Linux: the test's own thread
    keeps its priority) and return its result with the thread's niceness before and after."""
    out: dict = {}

    def body() -> None:
        out["before"] = os.getpriority(os.PRIO_PROCESS, 0)
        out["result"] = fn()
        out["after"] = os.getpriority(os.PRIO_PROCESS, 0)

    t = threading.Thread(target=body)
    t.start()
    t.join()
    return out["result"], out["before"], out["after"]


@pytest.mark.parametrize("bad", [-1, 20, "5", 2.5, True])
def test_a_bad_setting_is_an_error_naming_it(bad):
    with pytest.raises(ValueError, match="stream.writer_priority"):
        writer_priority(bad)


def test_the_default_and_good_settings():
    assert writer_priority(None) == priority.WRITER_PRIORITY == 5
    assert writer_priority(0) == 0 and writer_priority(19) == 19


def _raise_in_a_child(levels: int, refuse: bool = False) -> dict:
    """``raise_own_priority(levels)`` in a fresh interpreter (it changes every thread of the
    process: not this test session's), with a thread started before and one after it."""
    code = textwrap.dedent(f"""
        import json, os, threading
        from primeflow_lib.live.stream import priority
        if {refuse!r}:
            def refused(*_a):
                raise PermissionError("not permitted")
            priority.os.setpriority = refused
        hold = threading.Event()
        early = threading.Thread(target=hold.wait); early.start()
        before = os.getpriority(os.PRIO_PROCESS, 0)
        done = priority.raise_own_priority({levels})
        late = threading.Thread(target=hold.wait); late.start()
        nice = sorted({{os.getpriority(os.PRIO_PROCESS, int(t)) for t in os.listdir("/proc/self/task")}})
        hold.set()
        print(json.dumps({{"done": done, "before": before, "threads": nice}}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_raising_ones_own_priority_when_permitted_and_when_not():
    if os.geteuid() == 0:
        got = _raise_in_a_child(3)
        assert got["done"] and got["threads"] == [max(-20, got["before"] - 3)]  # early and late threads too
    got = _raise_in_a_child(0)
    assert not got["done"] and got["threads"] == [got["before"]]
    got = _raise_in_a_child(3, refuse=True)
    assert not got["done"] and got["threads"] == [got["before"]]


def test_the_fallback_lowers_the_scoring_loop_once_however_often_it_runs():
    def twice():
        return favour_writer(4, False), favour_writer(4, False)

    (how1, how2), before, after = _in_thread(twice)
    assert how1 == how2 == "scoring loop" and after == min(19, before + 4)
    how, before, after = _in_thread(lambda: favour_writer(4, True))
    assert how == "writer" and after == before
    how, before, after = _in_thread(lambda: favour_writer(0, False))
    assert how == "off" and after == before


@pytest.mark.skipif(os.geteuid() != 0, reason="lowering a niceness needs root or CAP_SYS_NICE")
def test_the_writer_process_runs_the_configured_levels_ahead(tmp_path):
    cfg = copy.deepcopy(stream_cfg())
    cfg.setdefault("stream", {})["writer_priority"] = 3
    w = WriterProcess(WriterSettings(db_path=tmp_path / "stream-main.duckdb", stream_id="main", cfg=cfg, day=DAY,
                                     inbox=tmp_path / "inbox", relay=True))
    w.start()
    try:
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        child = psutil.Process(w._proc.pid)
        assert w.priority_raised
        # every thread of the writer (the relay's included) runs 3 levels ahead of this one
        niceness = {os.getpriority(os.PRIO_PROCESS, t.id) for t in child.threads()}
        assert niceness == {max(-20, mine - 3)}
    finally:
        w.stop()


def test_a_bad_setting_stops_the_writer_at_start_with_the_settings_name(tmp_path):
    from primeflow_lib.live.stream.writer import WriterError

    cfg = copy.deepcopy(stream_cfg())
    cfg.setdefault("stream", {})["writer_priority"] = 25
    w = WriterProcess(WriterSettings(db_path=tmp_path / "stream-main.duckdb", stream_id="main", cfg=cfg, day=DAY,
                                     inbox=tmp_path / "inbox", relay=False))
    with pytest.raises(WriterError, match="stream.writer_priority"):
        w.start()
    assert not w.alive
