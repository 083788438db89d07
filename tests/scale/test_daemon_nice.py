"""PRIMEFLOW_DAEMON_NICE: the daemon (and what it launches) yields the CPU to the stream."""

from __future__ import annotations

import os
import subprocess
import sys

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
