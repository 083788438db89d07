"""Benchmark: how long each workbench page takes to become interactive in a real browser.

Usage::

    .venv/bin/python benchmarks/bench_workbench.py                      # the demo read copy
    .venv/bin/python benchmarks/bench_workbench.py --db var/primeflow_read.duckdb --repeat 3
    .venv/bin/python benchmarks/bench_workbench.py --screenshot docs/img/workbench.png

Starts ``streamlit run primeflow_workbench/app.py`` on a free port against the read copy
(``--db``, default ``$PRIMEFLOW_READ_DUCKDB`` or ``var/primeflow_read.duckdb``), opens each page
in Debian's chromium (Playwright) and times ``goto`` until the page's script run has finished
and its title is shown (:func:`primeflow_workbench.browser.wait_idle`). ``first_s`` is the first
visit after the server started in a fresh browser profile (server imports, queries, the app's
JavaScript downloaded), ``warm_s`` the median of ``--repeat`` reloads afterwards (a new tab and
Streamlit session each, in one browser profile whose HTTP cache holds the JavaScript; queries
cached until the read copy is republished), ``nav_s`` the median time from a click on the
page's sidebar link to the page being interactive in an open session. Nothing is written: no backtest is run. Target: each page <= 2 s.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from machine_info import machine_info  # noqa: E402 - benchmarks/ is on sys.path

from primeflow_lib.warehouse import read_copy_path  # noqa: E402
from primeflow_workbench import browser  # noqa: E402

PAGES = ("flow", "backtest", "history", "tuning", "data")
PATHS = {"flow": "", "backtest": "backtest", "history": "history", "tuning": "tuning", "data": "data"}


TITLES = {"flow": "Flow today", "backtest": "Backtest", "history": "History & compare",
          "tuning": "Tuning studies", "data": "Data"}


def navigation_times(chromium, url: str, repeat: int) -> dict[str, list[float]]:
    """Seconds from a click on a page's sidebar link until that page is interactive, in one
    open session (how a user moves between pages: no reload of the browser app)."""
    ctx = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.goto(f"{url}/")
    browser.wait_idle(page)
    out: dict[str, list[float]] = {}
    order = [*PAGES[1:], PAGES[0]]
    for _ in range(repeat):
        for name in order:
            t = time.monotonic()
            page.locator('[data-testid="stSidebarNav"]').get_by_text(TITLES[name], exact=True).click()
            page.wait_for_function(
                "t => document.querySelector('[data-testid=\"stMainBlockContainer\"] h1')"
                "?.innerText.trim() === t", arg=TITLES[name], timeout=60_000)
            out.setdefault(name, []).append(browser.wait_idle(page) - t)
    ctx.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default=None, help="read copy (default: the configured one)")
    ap.add_argument("--repeat", type=int, default=3, help="warm visits per page")
    ap.add_argument("--screenshot", default=None, help="save the Flow page as this PNG")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    db = Path(args.db) if args.db else read_copy_path()
    if not db.is_file():
        sys.exit(f"read copy {db} not found: run `make demo` first")
    print(json.dumps(machine_info(read_copy=str(db), read_copy_mb=round(db.stat().st_size / 1e6))))
    first, warm = {}, {}
    t0 = time.monotonic()
    with browser.serve({"PRIMEFLOW_READ_DUCKDB": str(db.resolve())}) as url, \
            sync_playwright() as pw:
        server_s = time.monotonic() - t0
        chromium = browser.launch_chromium(pw)
        try:
            shared = chromium.new_context(viewport={"width": 1400, "height": 1000})
            for rep in range(args.repeat + 1):
                for name in PAGES:
                    # first visit: a fresh browser profile; then reloads in one profile (its
                    # HTTP cache holds the app's JavaScript, as a user's browser does)
                    ctx = chromium.new_context(viewport={"width": 1400, "height": 1000}) \
                        if rep == 0 else shared
                    page = ctx.new_page()
                    t = time.monotonic()
                    page.goto(f"{url}/{PATHS[name]}")
                    dt = browser.wait_idle(page) - t
                    if rep == 0:
                        first[name] = dt
                    else:
                        warm.setdefault(name, []).append(dt)
                    if args.screenshot and rep == 1 and name == "flow":
                        page.screenshot(path=args.screenshot)
                    page.close()
                    if rep == 0:
                        ctx.close()
            shared.close()
            nav = navigation_times(chromium, url, args.repeat)
        finally:
            chromium.close()
    result = {
        "server_start_s": round(server_s, 2),
        "first_s": {k: round(v, 2) for k, v in first.items()},
        "warm_s": {k: round(statistics.median(v), 2) for k, v in warm.items()},
        "target_s": 2.0,
    }
    result["nav_s"] = {k: round(statistics.median(v), 2) for k, v in nav.items()}
    result["max_nav_s"] = max(result["nav_s"].values())
    result["max_warm_s"] = max(result["warm_s"].values()) if warm else None
    result["max_first_s"] = max(result["first_s"].values())
    print(json.dumps(result))


if __name__ == "__main__":
    main()
