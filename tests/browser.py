"""The browser-test harness: one in-process server and one headless Chromium per module.

Chromium is Debian's (``apt-get install chromium``), driven by Playwright through
``executable_path``: Playwright's own browser download is never used. A missing browser
skips the tests with one line saying so, except where ``TILSYN_TEST_REQUIRE_CHROMIUM=1``
(.ci/run, which installs the browser) makes that a failure. Every page a test visits is
checked with axe-core (bundled by axe-playwright-python, so it works offline), and its
screenshot can be written to docs/console/ for the README.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, sync_playwright

from tests.servers import free_port
from tilsyn.app import create_app
from tilsyn.core.config import Settings
from tilsyn.core.db import Database

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "console"
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
BLOCKING_IMPACTS = ("serious", "critical")


NO_BROWSER = (
    "no Chromium on PATH: install Debian's `chromium` to include the console browser tests "
    "(TILSYN_TEST_REQUIRE_CHROMIUM=1 makes this a failure)"
)


def chromium_path() -> str:
    """Debian's Chromium; without it the tests skip with one line, or fail where
    ``TILSYN_TEST_REQUIRE_CHROMIUM=1`` (CI, which installs it) says they must run."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("TILSYN_TEST_REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"TILSYN_TEST_REQUIRE_CHROMIUM=1, but {NO_BROWSER}")
        pytest.skip(NO_BROWSER)
    return path


@contextmanager
def serving(settings: Settings, database: Database) -> Iterator[str]:
    """tilsyn on a free local port in a thread of this process, until the block ends."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, database), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


_axe = Axe()


def check_accessibility(page: Page, name: str) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    results = _axe.run(page)
    blocking = [
        f"{violation['id']} ({violation['impact']}): "
        + "; ".join(node["target"][0] for node in violation["nodes"][:3])
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]
    assert not blocking, f"{name}: {blocking}"


def snapshot(page: Page, name: str, *, full_page: bool = True) -> None:
    """Check the page with axe, then save its screenshot as docs/console/<name>.png."""
    check_accessibility(page, name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)


def console_errors(page: Page, *, expected_down: str = "") -> list[str]:
    """Collects the page's console errors and failed requests (a blocked asset shows here);
    failures of requests to ``expected_down`` (a tile server that is down) are expected."""
    errors: list[str] = []

    def on_console(message: Any) -> None:
        url = (message.location or {}).get("url", "")
        if message.type == "error" and not (expected_down and url.startswith(expected_down)):
            errors.append(message.text)

    def on_failed(request: Any) -> None:
        # A navigation cancels what the page before was still loading: that is no error.
        if request.failure == "net::ERR_ABORTED":
            return
        if not (expected_down and request.url.startswith(expected_down)):
            errors.append(f"failed: {request.url} ({request.failure})")

    page.on("console", on_console)
    page.on("requestfailed", on_failed)
    return errors
