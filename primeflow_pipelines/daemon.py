"""A ``dagster-daemon`` process the project starts and stops itself (the scale benchmark's
backfills, the daemon integration test): its own process group, its log in a file, and a stop
that returns only once every process of the group is gone."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


class Daemon:
    """``dagster-daemon run -w workspace.yaml`` in its own process group (cwd: the repo), with
    the instance of ``env``'s ``DAGSTER_HOME``; its output goes to ``log``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        exe = Path(sys.executable).parent / "dagster-daemon"
        self.log = log
        self._fh = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(exe if exe.exists() else "dagster-daemon"), "run", "-w", "workspace.yaml"],
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
