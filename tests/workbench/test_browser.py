"""The workbench in a real browser: the app runs as its own process on a free port against a
test read copy; Debian's chromium (driven by Playwright) runs one backtest through the form and
sees the metrics and a chart. Screenshots go to var/test-artifacts/workbench/."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest
import wb_fixtures

from primeflow_workbench import browser

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workbench_browser")]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "workbench"


def _require_chromium() -> None:
    if browser.CHROMIUM.exists():
        return
    if os.environ.get("CI") or os.environ.get("PRIMEFLOW_CI"):
        pytest.fail(f"{browser.CHROMIUM} is missing in CI (.ci/run installs Debian's chromium)")
    pytest.skip(f"{browser.CHROMIUM} is not installed (apt-get install chromium); "
                "CI installs it and runs this test")


def test_a_backtest_through_the_form_in_chromium(wb):
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {"PRIMEFLOW_DUCKDB": str(wb["live"]), "PRIMEFLOW_READ_DUCKDB": str(wb["read"])}
    with browser.serve(env, log=ARTIFACTS / "streamlit.log") as url, sync_playwright() as pw:
        chromium = browser.launch_chromium(pw)
        try:
            page = chromium.new_page(viewport={"width": 1400, "height": 1200})
            page.goto(f"{url}/")
            browser.wait_idle(page)
            expect(page.get_by_text("Signals (4)")).to_be_visible()
            page.screenshot(path=ARTIFACTS / "flow.png", full_page=True)

            page.goto(f"{url}/backtest")
            browser.wait_idle(page)
            page.get_by_role("button", name="Run backtest").click()
            metrics = page.locator('[data-testid="stMetric"]')
            expect(metrics.filter(has_text="sharpe")).to_be_visible(timeout=60_000)
            expect(metrics.filter(has_text="max drawdown")).to_be_visible()
            chart = page.locator('[data-testid="stVegaLiteChart"]').first
            expect(chart).to_be_visible(timeout=30_000)
            expect(chart.locator("canvas, svg").first).to_be_visible(timeout=30_000)
            browser.wait_idle(page)
            chart.scroll_into_view_if_needed()
            page.screenshot(path=ARTIFACTS / "backtest.png")
            assert not page.locator('[data-testid="stException"]').count()
        finally:
            chromium.close()
    con = duckdb.connect(str(wb["live"]), read_only=True)
    try:  # recorded by the app with its short write connection, next to the fixture's runs
        n = con.execute("SELECT count(*) FROM research.backtest_runs").fetchone()[0]
        assert n == wb_fixtures.N_RUNS + 1
    finally:
        con.close()
    assert (ARTIFACTS / "backtest.png").stat().st_size > 10_000
