"""audit rules

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 23:47:26.586536
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("consumption_code", sa.String(length=20), nullable=True),
        sa.Column("naeringskode_prefix", sa.String(length=20), nullable=True),
        sa.Column("plant_type", sa.Text(), nullable=True),
        sa.Column("inspection_area", sa.Integer(), nullable=True),
        sa.Column("risk_category_group", sa.Integer(), nullable=True),
        sa.Column("inspection_rate", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_audit_rules_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_rules")),
        sa.UniqueConstraint(
            "instance_id", "rule_id", name=op.f("uq_audit_rules_instance_id_rule_id")
        ),
    )
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rules_version", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("rules_version")

    op.drop_table("audit_rules")
