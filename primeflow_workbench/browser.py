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


_STATE_JS = """() => {
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  const running = !!status && /Running/i.test(status.innerText);
  const main = document.querySelector('[data-testid="stMain"]');
  const skeletons = main ? main.querySelectorAll('[data-testid="stSkeleton"]').length : -1;
  const title = !!document.querySelector('[data-testid="stMainBlockContainer"] h1');
  const n = main ? main.querySelectorAll('[data-testid="stElementContainer"]').length : 0;
  return [running, skeletons, title, n];
}"""


def wait_idle(page, timeout_ms: float = 60_000, settle_s: float = 0.5) -> float:
    """Wait until the page is interactive and return the ``time.monotonic()`` at which it
    became so: the page title is shown, no "Running..." status, no skeleton placeholder left
    (tables and charts load their code lazily), and nothing changed for ``settle_s`` seconds
    after that (a script run adds elements in bursts, so a single check could pass between
    two of them). The returned time excludes that settling wait."""
    deadline = time.monotonic() + timeout_ms / 1000
    ready_since: float | None = None
    last = None
    while time.monotonic() < deadline:
        running, skeletons, title, n = page.evaluate(_STATE_JS)
        now = time.monotonic()
        state = (running, skeletons, title, n)
        ready = title and not running and skeletons == 0
        if not ready or state != last:
            ready_since = now if ready else None
        last = state
        if ready_since is not None and now - ready_since >= settle_s:
            return ready_since
        time.sleep(0.05)
    raise TimeoutError(f"the page was not interactive within {timeout_ms / 1000:.0f} s "
                       f"(running, skeletons, title, elements: {last})")
