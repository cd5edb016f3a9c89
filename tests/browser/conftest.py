"""Browser fixtures: Debian's Chromium driven by Playwright (no browser download), and the e2e
stack (anvil, ledger, bridge thread, uvicorn) the pages are loaded from.

`make test` installs Chromium when it is missing (the Makefile's ``browser`` target); the tests
skip only when no Chromium can be had, and fail instead under CI, where it must run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Stack, stack  # noqa: F401  (the fixture, re-exported)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    found = os.environ.get("MILEAGE_CHROMIUM") or shutil.which("chromium")
    return found if found and Path(found).exists() else None


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    if path is None:
        reason = "no Chromium: `make browser` installs it (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-US")
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(str(exc)))
    # the pages must work offline: any request leaving the server is a failure
    pg.on(
        "request",
        lambda req: (
            None
            if req.url.startswith(("http://127.0.0.1", "blob:", "data:"))
            else problems.append(f"external request {req.url}")
        ),
    )
    pg.problems = problems
    yield pg
    context.close()


def _shot(page: Any, name: str, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


@pytest.fixture
def shot() -> Any:
    """``shot(page, name)``: a full-page screenshot under build/screenshots/ (the README's
    copies live in docs/screenshots/)."""
    return _shot
