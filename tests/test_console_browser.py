"""The console in a real headless Chromium: what a DLE inspector and admin do, page by page.

One server (in this process, SQLite) and one browser for the module; each test has its own
browser context (cookies). Every page visited is checked with axe-core, and the
screenshots in docs/console/ are written by these tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select

from tests.browser import (
    DESKTOP,
    PHONE,
    check_accessibility,
    chromium,
    console_errors,
    serving,
    snapshot,
)
from tests.conftest import SECRET
from tests.console_helpers import PASSWORD
from tilsyn.core.changelog import Actor
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.migrate import upgrade_database
from tilsyn.core.models import GridElement, Plant
from tilsyn.demo import load_demo
from tilsyn.instances import service as instances
from tilsyn.users import service as users

# A tile server that does not answer (nothing listens on the discard port): the map must
# still show its points.
TILES_DOWN = "http://127.0.0.1:9"
TILE_URL = TILES_DOWN + "/tiles/{z}/{x}/{y}.png"

# The machine running CI is shared and busy: waits are generous, never a fixed sleep.
expect.set_options(timeout=20_000)

ADMIN = "admin@dle.no"
INSPECTOR = "inspektor@dle.no"
VIEWER = "leser@dle.no"


class Site:
    """The running console and what the tests need to know about its data."""

    def __init__(self, base: str, database: Database) -> None:
        self.base = base
        self.database = database
        with database.read() as session:
            row = session.execute(
                select(Plant.metering_point_id, Plant.data)
                .where(Plant.connection_point_id.is_not(None))
                .order_by(Plant.id)
            ).first()
            assert row is not None
            self.plant = str(row[0])
            self.net_station = session.scalar(
                select(GridElement.name).where(GridElement.kind == "netStation").limit(1)
            )
            addresses = session.execute(select(Plant.data).order_by(Plant.id)).scalars()
            self.street = next(
                word
                for data in addresses
                for word in (data["address"]["addressText"] or "").split()
                if "ø" in word
            )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'console.db'}"
    database = Database(url)
    upgrade_database(database.engine)
    load_demo(database, secret_key=SECRET, plants=120)
    with database.write() as session:
        instance = instances.get_instance(session, "demo-test")
        actor = Actor(instance_id=instance.id)
        for email, role in ((ADMIN, "admin"), (INSPECTOR, "inspector"), (VIEWER, "viewer")):
            users.create_user(session, actor, email=email, role=role, password=PASSWORD)
    settings = Settings(database_url=url, secret_key=SECRET, console_tile_url=TILE_URL)
    with serving(settings, database) as base:
        yield Site(base, database)
    database.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """A fresh browser profile that may load nothing from another host."""
    context = browser.new_context(viewport=DESKTOP, base_url=site.base, locale="nb-NO")
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith((site.base, TILES_DOWN)):
            route.continue_()  # the tile server is configured (and down), not a CDN
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    yield context
    context.close()
    assert not outside, f"requests to other hosts: {outside}"


def sign_in(page: Page, email: str) -> None:
    page.goto("/console/sign-in")
    page.get_by_label("E-postadresse").fill(email)
    page.get_by_label("Passord").fill(PASSWORD)
    page.get_by_role("button", name="Logg inn").click()
    expect(page.get_by_role("heading", name="Oversikt")).to_be_visible()


def test_admin_walks_through_the_console(context: BrowserContext, site: Site) -> None:
    page = context.new_page()
    errors = console_errors(page, expected_down=TILES_DOWN)
    page.goto("/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    snapshot(page, "sign-in")
    sign_in(page, ADMIN)
    expect(page.locator(".cards")).to_contain_text("anlegg")
    snapshot(page, "overview")

    page.goto(f"/console/plant/{site.plant}")
    chain = page.locator("ol.chain")
    expect(chain).to_contain_text("Nettstasjon")
    expect(chain).to_contain_text("Tilknytningspunkt")
    expect(page.get_by_role("heading", name="Tilsynsinformasjon")).to_be_visible()
    expect(page.locator("table").filter(has_text="Kilde")).to_contain_text(
        re.compile(r"rule:|sendt av nettselskapet")
    )
    expect(page.locator("table.changes")).to_contain_text("create")
    snapshot(page, "plant")

    page.goto("/console/map")
    status = page.locator("#map-status")
    expect(status).to_have_attribute("data-plants", re.compile(r"^[1-9]\d*$"))
    expect(page.locator("#map .leaflet-overlay-pane canvas")).to_be_visible()
    # Tiles were asked for and none came: the points are drawn on the plain background.
    expect(page.locator("#map .leaflet-tile-pane img").first).to_be_attached()
    expect(page.locator("#map img.leaflet-tile-loaded")).to_have_count(0)
    snapshot(page, "map", full_page=False)

    page.goto("/console/rules")
    page.get_by_label("Forbrukskode").fill("35")
    page.get_by_label("Næringskode").fill("55.102")
    expect(page.locator("#explanation")).to_contain_text("fra regel")
    snapshot(page, "rules")

    page.goto("/console/users")
    page.locator("#new-email").fill("ny.inspektor@dle.no")
    page.locator("#new-role").select_option("inspector")
    page.get_by_role("button", name="Opprett bruker").click()
    setup_link = page.locator("code.secret").inner_text()
    assert "/console/setup/" in setup_link
    expect(page.locator("table").first).to_contain_text("ny.inspektor@dle.no")
    snapshot(page, "users")

    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", name="Users and keys")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.goto("/console/users")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.goto(setup_link.removeprefix(site.base))
    expect(page.get_by_role("heading", name="Choose a password")).to_be_visible()
    check_accessibility(page, "setup")
    assert not errors, errors


def test_search_by_a_partial_address_and_browse_the_grid(
    context: BrowserContext, site: Site
) -> None:
    page = context.new_page()
    sign_in(page, VIEWER)
    page.get_by_role("navigation").get_by_role("link", name="Søk").click()
    page.wait_for_load_state("load")  # htmx (deferred) listens from here on
    partial = site.street[: site.street.index("ø") + 2].upper()  # "BJØR" for Bjørkeveien
    page.get_by_label("Adresse, poststed").fill(partial)
    results = page.locator("#results table.plants")
    expect(results).to_contain_text(site.street)  # refreshed by htmx as one types
    expect(page).to_have_url(re.compile(r"q="))
    snapshot(page, "search")
    # "BJØR" also finds customers named Bjørn: open a plant on the street itself.
    results.locator("tr", has_text=site.street).first.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Anlegg 7070")
    expect(page.locator(".lead")).to_contain_text(site.street)

    page.get_by_role("navigation").get_by_role("link", name="Nett").click()
    expect(page.locator("table")).to_contain_text(site.net_station)
    snapshot(page, "grid")
    page.get_by_role("link", name=site.net_station, exact=True).click()
    expect(page.get_by_role("heading", level=2).first).to_contain_text("Transformator")
    snapshot(page, "net-station")
    page.locator("ul.points a").first.click()
    expect(page.locator("table.plants tbody tr").first).to_be_visible()
    check_accessibility(page, "connection point")


def test_admin_builds_and_exports_the_plan(context: BrowserContext, site: Site) -> None:
    page = context.new_page()
    sign_in(page, ADMIN)
    page.get_by_role("navigation").get_by_role("link", name="Plan").click()
    built = page.get_by_text(re.compile(r"Versjon \d+, laget"))
    before = int(re.findall(r"\d+", built.inner_text())[0]) if built.count() else 0
    page.get_by_label("Kapasitet per tilsynsområde").fill("none=5")
    page.get_by_role("button", name=re.compile("Lag planen for")).click()
    expect(page.get_by_text(f"Versjon {before + 1}, laget", exact=False)).to_be_visible()
    expect(page.locator("table").first).to_contain_text("5")
    with page.expect_download() as download:
        page.get_by_role("link", name="Eksporter som CSV").click()
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert exported.startswith("meteringPointId,")
    assert len(exported.splitlines()) > 1
    snapshot(page, "plan", full_page=False)


def test_inspector_records_an_inspection_on_a_phone(browser: Browser, site: Site) -> None:
    context = browser.new_context(
        viewport=PHONE, base_url=site.base, is_mobile=True, locale="nb-NO"
    )
    try:
        page = context.new_page()
        sign_in(page, INSPECTOR)
        page.goto(f"/console/plant/{site.plant}")
        page.get_by_role("link", name="Registrer tilsyn").click()
        page.get_by_label("Type").select_option("periodic")
        page.locator("#f0-description").fill("Manglende jordfeilbryter på kurs 3")
        page.locator("#f0-severity").select_option("nonconformity")
        page.locator("#f0-regulation").fill("FEL § 12")
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        snapshot(page, "inspection-form")
        page.get_by_role("button", name="Lagre tilsynet").click()
        finding = page.locator("article.finding", has_text="Manglende jordfeilbryter")
        expect(finding).to_be_visible()
        expect(finding.locator(".badge").first).to_have_text("åpent")
        finding.get_by_label("Flytt til").select_option("ordered")
        finding.get_by_role("button", name=re.compile("Lagre")).click()
        moved = page.locator("article.finding", has_text="Manglende jordfeilbryter")
        expect(moved.locator(".badge").first).to_have_text("pålagt")
        expect(moved.get_by_role("status")).to_have_text("Lagret.")  # swapped by htmx
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        snapshot(page, "finding-moved-phone")
        page.get_by_role("navigation").get_by_role("link", name="Funn").click()
        page.get_by_label("Status").select_option("ordered")
        page.get_by_role("button", name="Vis").click()
        listed = page.locator("article.finding", has_text="Manglende jordfeilbryter")
        expect(listed).to_contain_text("pålagt")
        snapshot(page, "findings")
    finally:
        context.close()


def test_viewer_cannot_reach_admin_pages(context: BrowserContext, site: Site) -> None:
    page = context.new_page()
    sign_in(page, VIEWER)
    page.goto(f"/console/plant/{site.plant}")
    expect(page.get_by_role("link", name="Registrer tilsyn")).to_have_count(0)
    expect(page.locator("form.move")).to_have_count(0)
    answer = page.goto(f"/console/plant/{site.plant}/inspection")
    assert answer is not None
    assert answer.status == 403
    menu = page.get_by_role("navigation")
    expect(menu.get_by_role("link", name="Brukere og nøkler")).to_have_count(0)
    answer = page.goto("/console/users")
    assert answer is not None
    assert answer.status == 403
    expect(page.locator(".error")).to_contain_text("Rollen din gir ikke tilgang")
    check_accessibility(page, "forbidden")
    page.goto("/console/rules")
    expect(page.get_by_role("button", name="Lagre reglene")).to_have_count(0)


def test_pages_fit_a_phone(browser: Browser, site: Site) -> None:
    context = browser.new_context(
        viewport=PHONE, base_url=site.base, is_mobile=True, locale="nb-NO"
    )
    try:
        page = context.new_page()
        sign_in(page, INSPECTOR)
        for path in ("/console/", f"/console/plant/{site.plant}", "/console/rules"):
            page.goto(path)
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{path} is {width} px wide: {too_wide(page)}"
        page.goto(f"/console/plant/{site.plant}")
        snapshot(page, "plant-phone")
    finally:
        context.close()


def too_wide(page: Page) -> list[str]:
    """The elements that stick out to the right of a phone's screen."""
    found: list[str] = page.evaluate(
        """(limit) => Array.from(document.querySelectorAll('body *'))
            .filter((e) => e.getBoundingClientRect().right > limit)
            .slice(0, 5)
            .map((e) => e.tagName + '.' + e.className + ' '
                + (e.textContent || '').slice(0, 40))""",
        PHONE["width"],
    )
    return found


def test_screenshots_are_written() -> None:
    """The README links these; a renamed page must not leave a dead link."""
    folder = Path(__file__).resolve().parent.parent / "docs" / "console"
    readme = (folder.parent.parent / "README.md").read_text(encoding="utf-8")
    for name in re.findall(r"docs/console/([\w-]+)\.png", readme):
        assert (folder / f"{name}.png").exists(), name
