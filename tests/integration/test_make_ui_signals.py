"""``make ui`` stops on SIGTERM and SIGINT (issue 23, item 6), even when it was started with both
signals ignored (what a background job or a service manager hands down): the launcher
(``primeflow_pipelines.ui``) turns either into an orderly ``dagster dev`` shutdown, and nothing of
it (webserver, daemon, code servers) is left running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ignore_both() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _tree(pid: int) -> list[psutil.Process]:
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _with_port(port: int) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if f"--port {port}" in cmd or f"-p {port}" in cmd:
            out.append(p)
    return out


@pytest.mark.slow
@pytest.mark.xdist_group("make_ui")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_make_ui_stops_on_the_signal(sig, tmp_path):
    port = _free_port()
    env = dict(os.environ)  # DAGSTER_HOME: the test's own instance (tests/conftest.py)
    (Path(env["DAGSTER_HOME"]) / "dagster.yaml").write_text((REPO / "dagster_home" / "dagster.yaml").read_text())
    log = open(tmp_path / "ui.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "primeflow_pipelines.ui", "--port", str(port), "--grace", "45"],
                            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_ignore_both)
    try:
        deadline = time.monotonic() + 240
        while True:
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the UI did not come up in 240 s"
            time.sleep(1)
        started = [p.pid for p in _tree(proc.pid)] + [p.pid for p in _with_port(port)]
        assert len(started) >= 3
        proc.send_signal(sig)
        code = proc.wait(90)
        assert code == 128 + sig
        gone_by = time.monotonic() + 20
        while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in started):
            assert time.monotonic() < gone_by, [p for p in started if psutil.pid_exists(p)]
            time.sleep(0.5)
        text = (tmp_path / "ui.log").read_text()
        assert f"{signal.Signals(sig).name} received, stopping dagster dev" in text
        assert "Dagster services shut down" in text  # an orderly stop, not the kill
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in _with_port(port):
            p.kill()
        log.close()
