"""Console page times on a register of N plants: what a signed-in inspector waits for.

Loads ``tilsyn demo-data`` through ``tilsyn import`` (the bulk path), builds this year's plan,
then signs in through the form and times each page (median and worst of --rounds GETs,
in-process through the ASGI app, so the figures are the server's work without a network).

    python bench/console.py --plants 100000 --db sqlite --db postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from common import BENCH_ENV, cli, fresh_database
from fastapi.testclient import TestClient
from sqlalchemy import select

from tilsyn.app import create_app
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.changelog import Actor
from tilsyn.core.config import Settings
from tilsyn.core.db import Database
from tilsyn.core.models import GridElement, Plant
from tilsyn.instances import service as instances
from tilsyn.plans import service as plans
from tilsyn.users import service as users

PASSWORD = "bench-password-1"


def load(url: str, plants: int, folder: Path) -> None:
    cli(url, "instance", "create", "bench", "--environment", "test")
    out = folder / "data"
    customers = str(max(1, plants * 9 // 10))
    cli(url, "demo-data", "--plants", str(plants), "--customers", customers, "--out", str(out))
    cli(url, "import", "bench", str(out / "customers.ndjson"), str(out / "plants.ndjson"))


def sign_in(client: TestClient) -> None:
    form = client.get("/console/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    answer = client.post(
        "/console/sign-in",
        data={"email": "bench@dle.no", "password": PASSWORD, "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert answer.status_code == 303


def prepare(database: Database) -> tuple[str, str]:
    """A user, this year's plan, and a plant and a net station to open."""
    with database.write() as session:
        instance = instances.get_instance(session, "bench")
        actor = Actor(instance_id=instance.id)
        users.create_user(session, actor, email="bench@dle.no", role="admin", password=PASSWORD)
        plans.build_plan(session, actor, today_in_oslo().year, capacity={})
        plant = session.scalar(select(Plant.metering_point_id).order_by(Plant.id.desc()))
        station = session.scalar(
            select(GridElement.name).where(GridElement.kind == "netStation").limit(1)
        )
    assert plant
    assert station
    return plant, station


def time_pages(client: TestClient, pages: list[str], rounds: int) -> None:
    for page in pages:
        spent = []
        for _ in range(rounds):
            started = time.perf_counter()
            answer = client.get(page)
            spent.append(time.perf_counter() - started)
            assert answer.status_code == 200, (page, answer.status_code)
        print(
            f"  {page:<48} median {statistics.median(spent) * 1000:7.1f} ms"
            f"   worst {max(spent) * 1000:7.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plants", type=int, default=20_000)
    parser.add_argument("--db", action="append", default=[], help="sqlite or a PostgreSQL URL")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for kind in args.db or ["sqlite"]:
        with tempfile.TemporaryDirectory() as folder, fresh_database(kind) as url:
            started = time.perf_counter()
            load(url, args.plants, Path(folder))
            database = Database(url)
            plant, station = prepare(database)
            print(f"{kind}: {args.plants} plants loaded in {time.perf_counter() - started:.0f} s")
            settings = Settings(database_url=url, secret_key=BENCH_ENV["TILSYN_SECRET_KEY"])
            with TestClient(create_app(settings, database)) as client:
                sign_in(client)
                pages = [
                    "/console/",
                    "/console/search?q=bjørk",
                    "/console/search?q=storgata+1",
                    f"/console/plant/{plant}",
                    "/console/grid",
                    f"/console/grid/{station}",
                    "/console/findings",
                    "/console/plan",
                    "/console/map/points",
                ]
                time_pages(client, pages, args.rounds)
            database.dispose()


if __name__ == "__main__":
    main()
