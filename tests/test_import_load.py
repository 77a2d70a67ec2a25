"""`tilsyn import` opens SQLite for a load: rarer WAL checkpoints, a larger page cache, and
customers 2,000 to a transaction; everything else keeps SQLite's defaults and 500 a chunk."""

from __future__ import annotations

import base64
from pathlib import Path

from tilsyn.bulk.service import CHUNK_SIZE
from tilsyn.cli.imports import SQLITE_CUSTOMER_CHUNK, _chunk_size
from tilsyn.core.db import LOAD_CACHE_KIB, LOAD_CHECKPOINT_PAGES, Database
from tilsyn.core.personal import DataKeys, parse_data_key

KEYS = DataKeys(parse_data_key(base64.b64encode(b"L" * 32).decode()))


def _pragmas(database: Database) -> tuple[int, int]:
    with database.engine.connect() as connection:
        checkpoint = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar_one()
        cache = connection.exec_driver_sql("PRAGMA cache_size").scalar_one()
    return int(checkpoint), int(cache)


def test_a_load_checkpoints_less_often_and_caches_more(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'load.db'}"
    served, loading = Database(url, data_keys=KEYS), Database(url, data_keys=KEYS, load=True)
    try:
        assert _pragmas(served) == (1000, -2000), "SQLite's defaults outside a load"
        assert _pragmas(loading) == (LOAD_CHECKPOINT_PAGES, -LOAD_CACHE_KIB)
    finally:
        served.dispose()
        loading.dispose()


def test_customers_go_in_larger_chunks_on_sqlite_only(tmp_path: Path) -> None:
    sqlite = Database(f"sqlite:///{tmp_path / 'chunks.db'}", data_keys=KEYS, load=True)
    try:
        assert _chunk_size(sqlite, "customer") == SQLITE_CUSTOMER_CHUNK == 2000
        assert _chunk_size(sqlite, "plant") == CHUNK_SIZE == 500
    finally:
        sqlite.dispose()


def test_postgresql_keeps_chunks_of_500(database: Database) -> None:
    expected = SQLITE_CUSTOMER_CHUNK if database.dialect == "sqlite" else CHUNK_SIZE
    assert _chunk_size(database, "customer") == expected
