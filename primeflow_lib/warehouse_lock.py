"""Whose turn it is to open the warehouse file for writing: an advisory lock beside the file.

DuckDB lets one process at a time open a database file read-write; the others get an error at
``connect`` and must try again. Trying again is expensive (a failed open costs several
milliseconds of CPU) and slow to notice the release (the retry sleeps). PrimeFlow processes
therefore first take an advisory ``flock`` on ``<file>.writer.lock``: asking for it is one
system call, so a waiting process asks every few milliseconds for almost no CPU and gets its
turn within milliseconds of the holder closing its connection. That matters when several runs
write the small DuckDB tables side by side (the scale profile), each holding the file for a
fraction of a second at a time.

Within one process the turn is shared: DuckDB lets connections of the same process use the file
together (e.g. the background writer thread and the reading thread), so the lock is taken by the
first connection and released when the last one closes. Processes that do not take this lock
(the DuckDB CLI, other tools) are still handled by :func:`primeflow_lib.warehouse.connect`'s own
retry on DuckDB's lock error.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from primeflow_lib.warehouse_errors import WarehouseLockedError

#: seconds between two requests for the lock while another process holds it
POLL_S = 0.003

_HELD: dict[str, list[int]] = {}  # lock file -> [fd, connections of this process holding it]
_GUARD = threading.Lock()
_PID = os.getpid()


def _forget_after_fork() -> None:
    """A forked child does not hold its parent's turn: its own connections ask for the lock.
    (Checked on use rather than in an at-fork hook, which would also run in subprocess
    children before exec, where it must not allocate.)"""
    global _GUARD, _HELD, _PID
    if os.getpid() != _PID:
        _HELD, _GUARD, _PID = {}, threading.Lock(), os.getpid()


def lock_path(db_path: str | os.PathLike) -> Path:
    """The advisory lock file of the warehouse file ``db_path``."""
    p = Path(db_path)
    return p.with_name(p.name + ".writer.lock")


@contextlib.contextmanager
def writer_turn(db_path: str | os.PathLike, timeout_s: float) -> Iterator[None]:
    """Hold this process's turn to open ``db_path`` read-write for the ``with`` block.

    Raises:
        WarehouseLockedError: another process kept its turn for more than ``timeout_s``.
    """
    _forget_after_fork()
    key = str(lock_path(db_path).resolve())
    deadline = time.monotonic() + timeout_s
    fd = -1
    try:
        while True:
            with _GUARD:
                held = _HELD.get(key)
                if held is not None:
                    held[1] += 1
                    break
                if fd < 0:
                    fd = os.open(key, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    pass
                else:
                    _HELD[key] = [fd, 1]
                    fd = -1  # owned by _HELD now
                    break
            if time.monotonic() >= deadline:
                raise WarehouseLockedError(
                    f"warehouse {db_path} is being written by another PrimeFlow process for more than "
                    f"{timeout_s:g} s (its lock {key} is held)")
            time.sleep(POLL_S)
    finally:
        if fd >= 0:
            os.close(fd)
    try:
        yield
    finally:
        with _GUARD:
            held = _HELD.get(key)
            if held is not None:
                held[1] -= 1
                if held[1] == 0:
                    del _HELD[key]
                    os.close(held[0])  # closing the descriptor releases the flock
