"""Running the workbench headless and driving it with a real browser (the browser test, the
page-load benchmark and the README screenshot use this).

The browser is Debian's ``chromium`` (``/usr/bin/chromium``; ``.ci/run`` installs it), driven
by Playwright (a test-only dependency, imported only here). Playwright never downloads a
browser: :func:`launch_chromium` always passes ``executable_path``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
ROOT = APP.parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync")


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(env: Mapping[str, str] | None = None, port: int | None = None,
          timeout_s: float = 90.0, log: Path | None = None) -> Iterator[str]:
    """Start ``streamlit run primeflow_workbench/app.py`` on 127.0.0.1 (headless, telemetry
    off) with ``env`` added to the environment; yield its base URL once ``/_stcore/health``
    answers; stop it (SIGTERM, then SIGKILL) when the block ends."""
    port = port or free_port()
    cmd = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", "127.0.0.1",
           "--server.port", str(port), "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"]
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with code {proc.returncode} (log: {log})")
            with contextlib.suppress(OSError), urllib.request.urlopen(
                    f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workbench did not answer on {url} in {timeout_s:.0f} s")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        if log:
            out.close()


def launch_chromium(playwright):
    """Debian's chromium through Playwright, headless, no network side channels."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=list(CHROMIUM_ARGS))


def wait_idle(page, timeout_ms: float = 60_000) -> None:
    """Wait until the page's script run has finished: the app is rendered and no "Running..."
    status is shown (Streamlit's status widget disappears when the run ends)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stMainBlockContainer"] h1', timeout=timeout_ms)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !/Running/i.test(document.querySelector('[data-testid=\"stStatusWidget\"]')"
        ".innerText)", timeout=timeout_ms)
