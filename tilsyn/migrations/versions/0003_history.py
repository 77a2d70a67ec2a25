"""history: the key's label on each change

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 10:00:00.000000

The feed needs no column of its own: changes are inserted under a per-instance lock taken
just before commit, so within an instance their ids follow commit order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_key_label", sa.String(length=200), nullable=True))
    op.execute(
        "UPDATE changes SET api_key_label = "
        "(SELECT label FROM api_keys WHERE api_keys.id = changes.api_key_id) "
        "WHERE api_key_id IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("changes", schema=None) as batch_op:
        batch_op.drop_column("api_key_label")
