"""``make ui``: ``dagster dev`` (the web UI and the daemon) that stops on SIGTERM and SIGINT.

Why a launcher: a process started in the background by a shell script, a CI job or a service
manager inherits SIGINT *ignored*; Python then keeps it ignored, and ``dagster dev`` maps SIGTERM
to the SIGINT handler, so both signals are ignored and ``make ui`` can only be stopped with
SIGKILL (leaving the webserver, the daemon and the code servers running). This launcher starts
``dagster dev`` in its own process group with both signals reset to their defaults, turns
SIGTERM and SIGINT into one SIGINT for ``dagster dev`` (its orderly shutdown), and kills the
group if it has not stopped within ``--grace`` seconds.

Usage: ``python -m primeflow_pipelines.ui [--port 3000] [--host 127.0.0.1] [--grace 30]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence


def _reset_signals() -> None:
    # runs in the child before exec: an inherited SIG_IGN would survive exec, a default does not
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def dagster_dev_command(host: str, port: int, workspace: str = "workspace.yaml") -> list[str]:
    """The ``dagster dev`` command line the launcher runs."""
    return [sys.executable, "-m", "dagster", "dev", "-w", workspace, "-h", host, "-p", str(port)]


def run(command: Sequence[str], grace_s: float = 30.0) -> int:
    """Run ``command`` in its own process group until it exits or a SIGTERM / SIGINT arrives;
    then send it one SIGINT, wait ``grace_s`` seconds, and kill its group if it is still there.
    Returns its exit code (128 + signal when it was stopped by one)."""
    child = subprocess.Popen(list(command), preexec_fn=_reset_signals, start_new_session=True)  # noqa: PLW1509
    stop: list[int] = []

    def on_signal(signum: int, _frame) -> None:
        if not stop:
            stop.append(signum)
            print(f"make ui: {signal.Signals(signum).name} received, stopping dagster dev ...",
                  file=sys.stderr, flush=True)
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGINT)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while child.poll() is None and not stop:
            time.sleep(0.2)
        if stop:
            deadline = time.monotonic() + grace_s
            while child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
        code = child.poll()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        # whatever is left of the group (a server that did not stop in time, orphans)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
        if child.poll() is None:
            child.wait(10)
    if stop:
        return 128 + stop[0]
    return code if code is not None else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make ui", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--grace", type=float, default=30.0, help="seconds to wait for an orderly stop")
    args = parser.parse_args(argv)
    return run(dagster_dev_command(args.host, args.port), args.grace)


if __name__ == "__main__":
    sys.exit(main())
