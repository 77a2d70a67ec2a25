"""/docs and /redoc render from the package alone, in a real browser with no network.

The pages are checked as HTML (no address of another host), then rendered by a headless
Chromium against a real server while every request to another host is refused and recorded:
the operation list must show and nothing may have left for the internet. Chromium is Debian's
(`apt-get install chromium`), driven by Playwright; without it the browser tests skip with one
line saying how to include them, except where ``TILSYN_TEST_REQUIRE_CHROMIUM=1`` (CI) makes
that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Route, sync_playwright

from tests.conftest import SECRET
from tests.servers import running_server
from tilsyn.app import create_app
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.migrate import upgrade_database

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
_REMOTE = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", re.IGNORECASE)
_NO_BROWSER = (
    "no Chromium on PATH: install Debian's `chromium` to include the /docs browser tests "
    "(TILSYN_TEST_REQUIRE_CHROMIUM=1 makes this a failure)"
)


@pytest.fixture(scope="module")
def docs_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    path = tmp_path_factory.mktemp("docs") / "docs.db"
    with TestClient(create_app(Settings(database_url=f"sqlite:///{path}"))) as client:
        yield client


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_nothing_from_another_host(docs_client: TestClient, page: str) -> None:
    response = docs_client.get(page)
    assert response.status_code == 200
    assert _REMOTE.findall(response.text) == []
    policy = response.headers["content-security-policy"]
    assert "default-src 'self'" in policy
    for asset in re.findall(r'(?:src|href)="([^"]+)"', response.text):
        fetched = docs_client.get(asset)
        assert fetched.status_code == 200, asset
        assert len(fetched.content) > 500, asset
        assert "immutable" in fetched.headers["cache-control"], asset


def test_docs_pages_are_off_with_the_schema(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'off.db'}", docs_enabled=False)
    with TestClient(create_app(settings)) as client:
        for page in ("/docs", "/redoc", "/openapi.json", "/docs/vendor/VENDORED.md"):
            assert client.get(page).status_code == 404, page


def test_vendored_assets_say_what_they_are() -> None:
    vendor = Path(__file__).resolve().parent.parent / "tilsyn" / "static" / "vendor"
    note = (vendor / "VENDORED.md").read_text()
    for folder in sorted(p for p in vendor.iterdir() if p.is_dir()):
        assert (folder / "LICENSE").is_file(), folder
        assert f"`{folder.name}/`" in note, folder


# --- in a real browser ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if CHROMIUM is None:
        if os.environ.get("TILSYN_TEST_REQUIRE_CHROMIUM") == "1":
            pytest.fail("TILSYN_TEST_REQUIRE_CHROMIUM=1, but there is no Chromium on PATH")
        pytest.skip(_NO_BROWSER)
    path = tmp_path_factory.mktemp("browser") / "docs.db"
    database = Database(f"sqlite:///{path}")
    upgrade_database(database.engine)
    database.dispose()
    with running_server(f"sqlite:///{path}", secret=SECRET) as base:
        yield base


def _render(
    base: str, page: str, ready: str, screenshot: Path, *, also: tuple[str, ...] = ()
) -> tuple[int, list[str]]:
    """Open ``page``; refuse and record every request to another host; count ``ready``.

    ``also``: further selectors that must be visible on the page.
    """
    own = urlsplit(base).netloc
    elsewhere: list[str] = []

    def gate(route: Route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 1600})
            context.route("**/*", gate)
            tab = context.new_page()
            tab.goto(f"{base}{page}", wait_until="networkidle")
            tab.locator(ready).last.wait_for(state="attached", timeout=30_000)
            tab.locator(ready).first.wait_for(state="visible", timeout=30_000)
            for selector in also:
                tab.locator(selector).first.wait_for(state="visible", timeout=5_000)
            tab.screenshot(path=str(screenshot))
            count = tab.locator(ready).count()
        finally:
            browser.close()
    return count, elsewhere


def _operations(base: str) -> int:
    schema = httpx.get(f"{base}/openapi.json").json()
    return sum(len(item) for item in schema["paths"].values())


def test_docs_and_redoc_render_every_operation_offline(browser_server: str, tmp_path: Path) -> None:
    """One test for both pages, so that a machine without Chromium shows one skip line."""
    operations = _operations(browser_server)
    # "Authorize" shows only when the schema declares a security scheme.
    pages = (
        ("/docs", ".opblock", ("button.authorize",)),
        ("/redoc", "[data-section-id*='/operation/']", ()),
    )
    for page, operation, also in pages:
        shot = tmp_path / f"{page.strip('/')}.png"
        shown, elsewhere = _render(browser_server, page, operation, shot, also=also)
        assert elsewhere == [], page
        assert shown == operations, page
        _assert_drawn(shot)


def _assert_drawn(screenshot: Path) -> None:
    """A blank page compresses to a few kB; text and coloured method badges do not."""
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    assert screenshot.stat().st_size > 40_000
