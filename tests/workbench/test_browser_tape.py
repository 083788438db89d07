"""The Tape in a real browser: the app on a free port against the test read copy, Debian's
chromium (Playwright) sets filters (ticker, minimum premium, 0DTE), sees the table and its count
change, saves the filter as a preset, and in a new tab picks the preset and gets the same
orders. Screenshots go to var/test-artifacts/workbench/."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest
from test_browser import ARTIFACTS, _require_chromium

from primeflow_workbench import browser

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workbench_browser")]


def _count(page) -> str:
    h = page.locator('[data-testid="stHeading"]').filter(has_text=re.compile(r"^Orders \("))
    return h.first.inner_text().strip()


def _wait_count(page, text: str) -> None:
    from playwright.sync_api import expect

    expect(page.locator('[data-testid="stHeading"]').filter(has_text=text).first).to_be_visible(timeout=60_000)
    browser.wait_idle(page)


def _choose(page, label: str, option: str) -> None:
    """Pick ``option`` in the multiselect or selectbox labelled ``label``."""
    box = page.locator('[data-testid="stMultiSelect"], [data-testid="stSelectbox"]').filter(
        has=page.get_by_text(label, exact=True)).first
    box.locator("input").click()
    box.locator("input").fill(option)
    page.get_by_role("option", name=option, exact=True).first.click()
    page.keyboard.press("Escape")
    browser.wait_idle(page)


def _open_tape(chromium, url: str):
    """A new tab on the app, then the Tape through the sidebar (as a user gets there)."""
    page = chromium.new_page(viewport={"width": 1500, "height": 1400})
    page.goto(f"{url}/")
    browser.wait_idle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Tape", exact=True).click()
    browser.wait_idle(page)
    return page


def _number(page, label: str, value: str) -> None:
    box = page.locator('[data-testid="stNumberInput"]').filter(has=page.get_by_text(label, exact=True)).first
    box.locator("input").fill(value)
    box.locator("input").press("Enter")
    browser.wait_idle(page)


def test_tape_filters_and_a_preset_in_chromium(wb, tmp_path):
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "config.yaml"
    cfg.write_text("experiment: {id: browser-tape}\n")
    env = {"PRIMEFLOW_DUCKDB": str(wb["live"]), "PRIMEFLOW_READ_DUCKDB": str(wb["read"]),
           "PRIMEFLOW_CONFIG": str(cfg)}
    with browser.serve(env, log=ARTIFACTS / "streamlit_tape.log") as url, sync_playwright() as pw:
        chromium = browser.launch_chromium(pw)
        try:
            page = _open_tape(chromium, url)
            _wait_count(page, "Orders (11 of 11)")
            _choose(page, "Ticker", "SPY")
            _wait_count(page, "Orders (6 of 6)")
            _number(page, "Min premium ($)", "600000")
            _wait_count(page, "Orders (2 of 2)")
            page.screenshot(path=ARTIFACTS / "tape.png", full_page=True)
            page.get_by_label("Save this filter as").fill("big spy")
            page.get_by_role("button", name="Save preset").click()
            expect(page.get_by_text("Saved preset 'big spy'")).to_be_visible(timeout=60_000)
            assert not page.locator('[data-testid="stException"]').count()

            other = _open_tape(chromium, url)
            _wait_count(other, "Orders (11 of 11)")
            _choose(other, "Preset", "big spy")
            _wait_count(other, "Orders (2 of 2)")
            other.screenshot(path=ARTIFACTS / "tape_preset.png", full_page=True)
            assert not other.locator('[data-testid="stException"]').count()
        finally:
            chromium.close()
    con = duckdb.connect(str(wb["live"]), read_only=True)
    try:
        assert con.execute("SELECT name FROM flow.tape_presets").fetchall() == [("big spy",)]
    finally:
        con.close()
    assert Path(ARTIFACTS / "tape.png").stat().st_size > 10_000
