"""``dagster-daemon`` with PrimeFlow's settings, and a daemon process the project starts and
stops itself (the scale benchmark's backfills, the daemon integration test).

**Entry point.** ``python -m primeflow_pipelines.daemon run -w workspace.yaml`` is
``dagster-daemon run -w workspace.yaml`` (same arguments) plus one setting Dagster does not
expose: ``PRIMEFLOW_BACKFILL_INTERVAL_S``, the seconds between the backfill daemon's iterations.
Dagster 1.13 hard-codes 30 s (``dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS``,
read by the backfill loop each time it sleeps). An asset backfill whose runs depend on each
other (a split flow backfill: scoring waits for the runs that store its inputs) launches each
next wave only on an iteration, so every wave boundary idles up to 30 s. Setting e.g.
``PRIMEFLOW_BACKFILL_INTERVAL_S=2`` launches the next runs within 2 s of their inputs being
stored; each iteration costs one read of the backfill's state from the instance. This patches a
Dagster internal (the module constant) before the daemon starts; the asset daemon keeps its own
interval (30 s, or ``auto_materialize.minimum_interval_seconds``). A test fails if Dagster
renames or moves the constant. Unset: Dagster's behaviour, unchanged.

**CPU priority.** ``PRIMEFLOW_DAEMON_NICE`` (0-19) lowers the daemon's scheduling priority by
that much before it starts (``os.nice``); the code server and every run worker it launches
inherit it. On a box shared with the streaming path (``primeflow stream``), the sensor path is
the audited record that runs behind by design while the stream is the one whose latency
matters: ``PRIMEFLOW_DAEMON_NICE=10`` lets the stream have the CPU when both want it (Linux
weighs a nice-10 process about a tenth of a nice-0 one) without starving the daemon when the
stream is idle. Unset or 0: unchanged.

**Process.** :class:`Daemon` runs that entry point in its own process group, its log in a file,
with a stop that returns only once every process of the group is gone.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from primeflow_pipelines.pg_pool import pool_instance_connections

REPO = Path(__file__).resolve().parents[1]

#: seconds between the backfill daemon's iterations (unset: Dagster's fixed 30 s)
BACKFILL_INTERVAL_ENV = "PRIMEFLOW_BACKFILL_INTERVAL_S"
#: how much lower the daemon's (and its runs') CPU priority is, 0-19, or ``idle`` (unset: unchanged)
DAEMON_NICE_ENV = "PRIMEFLOW_DAEMON_NICE"
#: the value of :data:`DAEMON_NICE_ENV` for Linux's idle scheduling class
IDLE = "idle"


def daemon_nice(env: dict[str, str] | None = None) -> int:
    """``PRIMEFLOW_DAEMON_NICE`` from ``env`` (default ``os.environ``): 0 when unset, 19 for
    ``idle`` (see :func:`daemon_idle`). Raises ``ValueError`` naming the setting for anything
    but a whole number from 0 to 19 or ``idle``."""
    raw = (os.environ if env is None else env).get(DAEMON_NICE_ENV, "").strip()
    if not raw:
        return 0
    if raw.lower() == IDLE:
        return 19
    if not raw.isdigit() or int(raw) > 19:
        raise ValueError(f"{DAEMON_NICE_ENV}={raw!r}: expected how much to lower the daemon's CPU "
                         "priority, a whole number from 0 (unchanged) to 19 (lowest), or 'idle' "
                         "(run only on CPU time nothing else wants)")
    return int(raw)


def daemon_idle(env: dict[str, str] | None = None) -> bool:
    """True when ``PRIMEFLOW_DAEMON_NICE`` is ``idle``: the daemon and its runs take Linux's
    idle scheduling class (``SCHED_IDLE``, no privileges needed): they run on CPU time no other
    process wants, and a stream thread that wakes takes the CPU from them at once (at nice 19 it
    can wait for their time slice, which adds up over the hundreds of wake-ups a second of a
    streaming service). The audited path runs behind the stream by design and catches up when
    the CPU is free."""
    daemon_nice(env)  # a bad value fails here
    return (os.environ if env is None else env).get(DAEMON_NICE_ENV, "").strip().lower() == IDLE


def lower_priority(env: dict[str, str] | None = None) -> int:
    """Lower this process's CPU priority by :data:`DAEMON_NICE_ENV` (children inherit it);
    returns the niceness now in effect.

    Linux with ``kernel.sched_autogroup_enabled=1`` (the default of most distributions) shares
    the CPU between *sessions* first and applies a process's niceness only against processes of
    its own session: a daemon started in a session of its own (``setsid``, a supervisor, the
    benchmarks) would get a full share against the stream however nice it is. When this process
    leads its session, the session's group is lowered by the same amount too
    (:func:`lower_session_priority`); a daemon started from a shell shares the shell's session
    and only its own niceness changes (the shell's other jobs keep their priority)."""
    n = daemon_nice(env)
    now = os.nice(n)
    if n:
        lower_session_priority(n)
    if daemon_idle(env) and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # children inherit it
    return now


#: the session's CPU group under Linux autogroup scheduling (absent elsewhere)
AUTOGROUP = Path("/proc/self/autogroup")


def lower_session_priority(n: int, autogroup: Path = AUTOGROUP) -> int | None:
    """Lower the CPU priority of this process's session group by ``n`` (Linux autogroup; see
    :func:`lower_priority`) when this process leads its session; returns the group's niceness
    now, or None when there is no group to change (not a session leader, autogroup off or not
    Linux). Raising a priority needs privileges; lowering does not."""
    if n <= 0 or os.getsid(0) != os.getpid():
        return None
    try:
        text = autogroup.read_text()  # "/autogroup-123 nice 0"
        current = int(text.split("nice")[-1])
        target = min(current + n, 19)
        autogroup.write_text(str(target))
        return int(autogroup.read_text().split("nice")[-1])
    except (OSError, ValueError):
        return None


def backfill_interval_s(env: dict[str, str] | None = None) -> float | None:
    """``PRIMEFLOW_BACKFILL_INTERVAL_S`` from ``env`` (default ``os.environ``) in seconds, or
    ``None`` when unset. Raises ``ValueError`` naming the setting for anything but a number in
    (0, 3600]."""
    raw = (os.environ if env is None else env).get(BACKFILL_INTERVAL_ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 3600:
        raise ValueError(f"{BACKFILL_INTERVAL_ENV}={raw!r}: expected seconds between backfill daemon "
                         "iterations, a number greater than 0 and at most 3600")
    return value


def apply_backfill_interval(seconds: float) -> None:
    """Make this process's daemon run its backfill iterations every ``seconds`` (see the module
    doc). Call before the daemon controller is created. The asset daemon, which reads the same
    constant when it is created, keeps Dagster's interval."""
    from dagster._daemon import controller
    from dagster._daemon.asset_daemon import AssetDaemon

    if not hasattr(controller, "DEFAULT_DAEMON_INTERVAL_SECONDS") or not hasattr(controller, "create_daemon_of_type"):
        raise RuntimeError(f"{BACKFILL_INTERVAL_ENV} is set, but this Dagster version no longer has "
                           "dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS / create_daemon_of_type: "
                           "unset it (the backfill loop then runs every 30 s)")
    dagster_default = controller.DEFAULT_DAEMON_INTERVAL_SECONDS
    create = getattr(controller.create_daemon_of_type, "__wrapped__", controller.create_daemon_of_type)

    @functools.wraps(create)
    def create_daemon_of_type(daemon_type, instance):
        if daemon_type != AssetDaemon.daemon_type():
            return create(daemon_type, instance)
        controller.DEFAULT_DAEMON_INTERVAL_SECONDS = dagster_default
        try:
            return create(daemon_type, instance)
        finally:
            controller.DEFAULT_DAEMON_INTERVAL_SECONDS = seconds

    controller.create_daemon_of_type = create_daemon_of_type
    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = seconds


def main() -> None:
    """``dagster-daemon`` (arguments as given) with :data:`BACKFILL_INTERVAL_ENV` and
    :data:`DAEMON_NICE_ENV` applied."""
    from dagster._daemon.cli import main as dagster_daemon_main

    try:
        seconds = backfill_interval_s()
        lower_priority()
    except ValueError as exc:
        sys.exit(f"error: {exc}")
    if seconds is not None:
        apply_backfill_interval(seconds)
    pool_instance_connections()
    dagster_daemon_main()


class Daemon:
    """``python -m primeflow_pipelines.daemon run -w workspace.yaml`` (``dagster-daemon`` with
    :data:`BACKFILL_INTERVAL_ENV` from ``env``) in its own process group (cwd: the repo), with
    the instance of ``env``'s ``DAGSTER_HOME``; its output goes to ``log``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        backfill_interval_s(env)  # a bad value fails here, not in the daemon's log
        daemon_nice(env)
        self.log = log
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "primeflow_pipelines.daemon", "run", "-w", "workspace.yaml"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def tail(self, n: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        return ""

    def members(self) -> list[int]:
        """Live processes of the daemon's group (code server, warm worker, run workers). A
        zombie is dead (it only waits for its parent, or init, to collect its exit status), so
        it does not count: ``killpg(pgid, 0)`` would still find it."""
        out = []
        for proc in psutil.process_iter(["pid", "status"]):
            try:
                if os.getpgid(proc.info["pid"]) == self.proc.pid and proc.info["status"] != psutil.STATUS_ZOMBIE:
                    out.append(proc.info["pid"])
            except (ProcessLookupError, psutil.NoSuchProcess):
                continue
        return out

    def group_alive(self) -> bool:
        return bool(self.members())

    def _wait_gone(self, seconds: float) -> bool:
        """Poll until no live process is left in the group (True) or ``seconds`` pass (False)."""
        deadline = time.monotonic() + seconds
        while self.group_alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def stop(self) -> None:
        """SIGTERM to the group; SIGKILL to whatever is left after 25 s. Either way this returns
        only once the group's processes are gone: a process sent SIGKILL is not gone at once
        (under load a process with the research stack loaded takes seconds to exit and be
        reaped), and checking the group right after the signal raced with that."""
        t0 = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=20)
        self.stopped_by = "SIGTERM"
        if not self._wait_gone(5):
            self.stopped_by = "SIGKILL"
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self._wait_gone(30)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        self.stop_s = time.monotonic() - t0
        self._fh.close()


if __name__ == "__main__":
    main()
