"""Pages in a real browser: Debian's Chromium (`chromium` package) driven by Playwright for
Python through `executable_path`; no browser is ever downloaded. Without Chromium or
Playwright the page tests skip with the reason, except under CI=true, where they fail.

Tests find fields by their labels and buttons by their names, as a screen reader would;
`serious_violations` runs axe-core (carried by axe-playwright-python, nothing fetched)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("POSTDESK_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parent.parent / "docs" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    """A headless Chromium for one test."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install -e '.[test]')")
    if not _chromium_installed():
        _unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    async with async_playwright() as p:
        # --no-sandbox: CI and this machine run as root, where Chromium refuses its sandbox.
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            await browser.close()


def _chromium_installed() -> bool:
    return Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None


async def new_page(chromium: Any, *, phone: bool = False) -> Any:
    """A page in a fresh context (its own cookies: one person's browser)."""
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
    context = await chromium.new_context(viewport=size)
    return await context.new_page()


async def sign_in(page: Any, base: str, email: str, password: str) -> None:
    """Sign in through the form, as a person would."""
    await page.goto(f"{base}/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_load_state()


async def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical violations on the page, as `id: help` lines."""
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    found = results.response["violations"]
    return [f"{v['id']}: {v['help']}" for v in found if v["impact"] in ("serious", "critical")]


async def screenshot(page: Any, name: str) -> None:
    """Keep a screenshot for the README and docs (docs/screenshots/<name>.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=False)
