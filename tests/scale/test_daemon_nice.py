"""PRIMEFLOW_DAEMON_NICE: the daemon (and what it launches) yields the CPU to the stream."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from primeflow_pipelines import daemon


@pytest.mark.parametrize("raw", ["-1", "20", "ten", "2.5"])
def test_bad_values_name_the_setting(raw):
    with pytest.raises(ValueError, match="PRIMEFLOW_DAEMON_NICE"):
        daemon.daemon_nice({"PRIMEFLOW_DAEMON_NICE": raw})


def test_unset_is_zero():
    assert daemon.daemon_nice({}) == 0
    assert daemon.daemon_nice({"PRIMEFLOW_DAEMON_NICE": " "}) == 0


def test_the_priority_is_lowered_and_inherited_by_children():
    """In a child interpreter (lowering a priority cannot be undone without privileges): the
    process and a process it starts run at the lower priority."""
    code = (
        "import os, subprocess, sys\n"
        "from primeflow_pipelines import daemon\n"
        "print(daemon.lower_priority())\n"
        "print(subprocess.run([sys.executable, '-c', 'import os; print(os.nice(0))'],"
        " capture_output=True, text=True).stdout.strip())\n"
    )
    base = os.nice(0)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PRIMEFLOW_DAEMON_NICE": "7"}).stdout.split()
    want = min(base + 7, 19)
    assert [int(x) for x in out] == [want, want]


def test_the_entry_point_refuses_a_bad_value_in_one_line():
    r = subprocess.run([sys.executable, "-m", "primeflow_pipelines.daemon", "run", "-w", "workspace.yaml"],
                       capture_output=True, text=True, env={**os.environ, "PRIMEFLOW_DAEMON_NICE": "99"}, timeout=120)
    assert r.returncode != 0
    assert "PRIMEFLOW_DAEMON_NICE='99'" in r.stderr and "Traceback" not in r.stderr


_AUTOGROUP = os.path.exists("/proc/self/autogroup")


@pytest.mark.skipif(not _AUTOGROUP, reason="no Linux autogroup scheduling here (/proc/self/autogroup absent)")
def test_a_daemon_leading_its_session_lowers_its_session_group():
    """Under autogroup scheduling a session's niceness is what counts against other sessions: a
    daemon started in a session of its own (as the benchmarks and supervisors start it) lowers
    its session group, which its children share."""
    code = (
        "import os, subprocess, sys\n"
        "from primeflow_pipelines import daemon\n"
        "print(daemon.lower_priority())\n"
        "print(open('/proc/self/autogroup').read().split('nice')[-1].strip())\n"
        "print(subprocess.run([sys.executable, '-c', \"print(open('/proc/self/autogroup').read().split('nice')[-1])\"],"
        " capture_output=True, text=True).stdout.strip())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, start_new_session=True,
                         env={**os.environ, "PRIMEFLOW_DAEMON_NICE": "6"}).stdout.split()
    assert int(out[1]) == 6 and int(out[2]) == 6


@pytest.mark.skipif(not _AUTOGROUP, reason="no Linux autogroup scheduling here (/proc/self/autogroup absent)")
def test_a_daemon_started_from_a_shell_leaves_the_shells_session_alone():
    """Not a session leader (started from a shell or a test): the session's other processes keep
    their priority; only the daemon's own niceness changes."""
    before = Path("/proc/self/autogroup").read_text()
    code = "from primeflow_pipelines import daemon\nprint(daemon.lower_session_priority(5))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "None"
    assert Path("/proc/self/autogroup").read_text() == before


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="no SCHED_IDLE on this platform")
def test_idle_puts_the_daemon_and_its_children_in_the_idle_class():
    code = (
        "import os, subprocess, sys\n"
        "from primeflow_pipelines import daemon\n"
        "daemon.lower_priority()\n"
        "print(os.sched_getscheduler(0) == os.SCHED_IDLE)\n"
        "print(subprocess.run([sys.executable, '-c', 'import os; print(os.sched_getscheduler(0) == os.SCHED_IDLE)'],"
        " capture_output=True, text=True).stdout.strip())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PRIMEFLOW_DAEMON_NICE": "idle"}).stdout.split()
    assert out == ["True", "True"]
    assert daemon.daemon_nice({"PRIMEFLOW_DAEMON_NICE": "IDLE"}) == 19
    assert not daemon.daemon_idle({"PRIMEFLOW_DAEMON_NICE": "7"})
