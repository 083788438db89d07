"""The writer process runs ahead of its scoring loop (``stream.writer_priority``).

A committed step's alerts wait for the writer (the commit, then the POSTs); new prints wait for
the scoring loop. When both want the CPU, the alert already found is the one that is late, so
the writer gets ``writer_priority`` nice levels over the scoring loop of its own service:

* where the writer may lower its own niceness (root, ``CAP_SYS_NICE``, or an ``RLIMIT_NICE``
  that allows it, e.g. systemd's ``LimitNICE=``), it does so when it starts, before its threads
  (they inherit it): ``how = "writer"``;
* otherwise the service raises the niceness of its scoring loop by as much once the writer is
  up (``how = "scoring loop"``; any process may lower its own priority). Threads started
  before keep theirs.

Linux gives the CPU to *sessions* first when ``kernel.sched_autogroup_enabled`` is 1 (the default
of most distributions), and applies niceness only among the processes of one session: a stream
started in a session of its own (a supervisor, ``setsid``, the benchmark) then only shifts the
share between its writer and its scoring loop, whichever way it was applied. Without autogroups
the ``scoring loop`` fallback also lowers the loop against other processes of the machine.

Measured on the reference machine (broker, two consumers; ``docs/stream.md``, "Speed", eighth
round): 5 levels took the commit-to-send leg from p50 115-160 ms to 89-103 ms.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Any

#: default of ``stream.writer_priority``
WRITER_PRIORITY = 5

#: per thread, its niceness before the first fallback (a process that runs the service several
#: times, a test session, must not sink one level set more each time)
_BASE: dict[int, int] = {}


def writer_priority(value: Any) -> int:
    """``stream.writer_priority`` checked: nice levels from 0 (off) to 19 (None: the default).
    Raises ``ValueError`` naming the setting."""
    if value is None:
        return WRITER_PRIORITY
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 19:
        raise ValueError(f"stream.writer_priority: expected a whole number of nice levels from 0 (off) "
                         f"to 19, got {value!r}")
    return value


def raise_own_priority(levels: int) -> bool:
    """Lower this process's niceness by ``levels``: every thread it has (Linux keeps a niceness
    per thread; imported extensions start some) and, through the calling thread, every thread
    it starts later. True when done, False when not permitted or ``levels`` is 0."""
    if levels <= 0:
        return False
    target = max(-20, os.getpriority(os.PRIO_PROCESS, 0) - levels)
    try:
        os.setpriority(os.PRIO_PROCESS, 0, target)
    except PermissionError:
        return False
    tasks = Path("/proc/self/task")
    for tid in (int(t.name) for t in tasks.iterdir()) if tasks.is_dir() else ():
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            os.setpriority(os.PRIO_PROCESS, tid, target)
    return True


def favour_writer(levels: int, writer_raised: bool) -> str:
    """Called by the service once its writer is up: ``"writer"`` when the writer raised its own
    priority, else raises the calling (scoring) thread's niceness by ``levels`` and returns
    ``"scoring loop"``; ``"off"`` for 0 levels."""
    if levels <= 0:
        return "off"
    if writer_raised:
        return "writer"
    base = _BASE.setdefault(threading.get_native_id(), os.getpriority(os.PRIO_PROCESS, 0))
    target = min(19, base + levels)
    if os.getpriority(os.PRIO_PROCESS, 0) < target:
        os.setpriority(os.PRIO_PROCESS, 0, target)
    return "scoring loop"
