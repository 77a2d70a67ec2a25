"""search index: look a word up by its entity within the index alone

The index by ``(kind, ref_id)`` found an entity's words but not which of them a prefix
matches: each entry read its row back to compare the word. With the word in the index
(``(ref_id, kind, token)``) a plant's test for a word is one range of the index, and
PostgreSQL answers it from the index only (``instance_id`` is in it for that: the test
names the instance, so that a plan hashing a word's entries reads them as a range of the
primary key). ``ref_id`` leads: with ``kind`` first, PostgreSQL read every customer's
words through this index (a kind and a prefix, the entity unbound) to hash them, where a
few look-ups per plant were due.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:40:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_search_tokens_ref_id_kind_token",
        "search_tokens",
        ["ref_id", "kind", "token", "instance_id"],
    )
    op.drop_index("ix_search_tokens_kind_ref_id", table_name="search_tokens")


def downgrade() -> None:
    op.create_index("ix_search_tokens_kind_ref_id", "search_tokens", ["kind", "ref_id"])
    op.drop_index("ix_search_tokens_ref_id_kind_token", table_name="search_tokens")
