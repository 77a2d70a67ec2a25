"""Fail when the models and the migrations disagree, on every database URL given.

Each URL gets a fresh database (for PostgreSQL a throwaway database on that server),
migrated to head; then Alembic's autogenerate must find nothing left to do.
"""

from __future__ import annotations

import sys
import uuid

import psycopg
from alembic import command
from sqlalchemy.engine import make_url

from tilsyn.core.db import Database
from tilsyn.core.migrate import alembic_config, upgrade_database


def check(url: str) -> None:
    database = Database(url)
    upgrade_database(database.engine)
    config = alembic_config()
    with database.engine.connect() as conn:
        config.attributes["connection"] = conn
        command.check(config)
    database.dispose()


def main(urls: list[str]) -> None:
    for url in urls:
        parsed = make_url(url)
        if parsed.get_backend_name() == "postgresql":
            name = f"tilsyn_check_{uuid.uuid4().hex[:8]}"
            admin = parsed.set(drivername="postgresql").render_as_string(hide_password=False)
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                check(parsed.set(database=name).render_as_string(hide_password=False))
            finally:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            check(url)
        print(f"migrations match the models on {parsed.get_backend_name()}")


if __name__ == "__main__":
    main(sys.argv[1:])
