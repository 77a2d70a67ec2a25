"""search: the search index of plants, customers and grid elements; the feed by time

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 16:00:00.000000

Adds ``search_tokens`` (tilsyn/core/search_index.py) and fills it from the rows already stored,
in batches, with the same words the write paths index; and an index on the change feed's
time, so that the feed can start from a moment.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from tilsyn.core.search_index import customer_words, element_words, plant_words, token_rows

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5000
_DOCUMENT = sa.JSON().with_variant(sa.dialects.postgresql.JSONB(), "postgresql")
_TOKEN = sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
plants = sa.table(
    "plants",
    sa.column("id", sa.BigInteger),
    sa.column("instance_id", sa.Integer),
    sa.column("metering_point_id", sa.String),
    sa.column("data", _DOCUMENT),
)
customers = sa.table(
    "customers",
    sa.column("id", sa.BigInteger),
    sa.column("instance_id", sa.Integer),
    sa.column("data", _DOCUMENT),
)
elements = sa.table(
    "grid_elements",
    sa.column("id", sa.BigInteger),
    sa.column("instance_id", sa.Integer),
    sa.column("name", sa.String),
)


def upgrade() -> None:
    tokens = op.create_table(
        "search_tokens",
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=1), nullable=False),
        sa.Column("token", _TOKEN, nullable=False),
        sa.Column("ref_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_search_tokens_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "instance_id", "kind", "token", "ref_id", name=op.f("pk_search_tokens")
        ),
    )
    op.create_index("ix_search_tokens_kind_ref_id", "search_tokens", ["kind", "ref_id"])
    op.create_index("ix_changes_instance_id_at", "changes", ["instance_id", "at"])
    bind = op.get_bind()
    for instance_id, entries in _existing(bind):
        rows = token_rows(instance_id, entries)
        if rows:
            bind.execute(sa.insert(tokens), rows)


def _existing(bind: sa.Connection) -> Iterator[tuple[int, dict[int, Any]]]:
    """Batches of ``(instance_id, {ref_id: words})`` of every stored plant, customer, element."""
    sources: tuple[tuple[Any, Callable[[Any], dict[str, set[str]]]], ...] = (
        (plants, lambda row: plant_words(row.metering_point_id, row.data)),
        (customers, lambda row: customer_words(row.data)),
        (elements, lambda row: element_words(row.name)),
    )
    for table, words_of in sources:
        last = 0
        while True:
            batch = bind.execute(
                sa.select(table).where(table.c.id > last).order_by(table.c.id).limit(BATCH)
            ).all()
            if not batch:
                break
            last = batch[-1].id
            by_instance: dict[int, dict[int, Any]] = {}
            for row in batch:
                by_instance.setdefault(row.instance_id, {})[row.id] = words_of(row)
            yield from by_instance.items()


def downgrade() -> None:
    op.drop_index("ix_changes_instance_id_at", table_name="changes")
    op.drop_index("ix_search_tokens_kind_ref_id", table_name="search_tokens")
    op.drop_table("search_tokens")
