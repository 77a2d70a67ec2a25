"""inspections: visits, findings with their case, yearly plans, and two instance settings

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-04 15:40:00.000000

Adds ``inspections``, ``findings``, ``plans`` and ``plan_items`` (SPEC §11) and the
instance settings ``finding_deadline_days`` (default 60) and ``new_installation_years``
(default 2).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
STAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("finding_deadline_days", sa.Integer(), server_default="60", nullable=False)
        )
        batch_op.add_column(
            sa.Column("new_installation_years", sa.Integer(), server_default="2", nullable=False)
        )
    op.create_table(
        "inspections",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("plant_id", BIG_ID, nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("inspector", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_inspections_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plant_id"],
            ["plants.id"],
            name=op.f("fk_inspections_plant_id_plants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inspections")),
        sa.UniqueConstraint(
            "instance_id", "external_id", name=op.f("uq_inspections_instance_id_external_id")
        ),
    )
    op.create_index("ix_inspections_plant_id_date", "inspections", ["plant_id", "date"])
    op.create_table(
        "findings",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("inspection_id", BIG_ID, nullable=False),
        sa.Column("plant_id", BIG_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("regulation", sa.Text(), nullable=True),
        sa.Column("deadline", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_date", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", STAMP, nullable=False),
        sa.Column("updated_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_findings_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inspection_id"],
            ["inspections.id"],
            name=op.f("fk_findings_inspection_id_inspections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["plant_id"],
            ["plants.id"],
            name=op.f("fk_findings_plant_id_plants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_findings")),
    )
    op.create_index("ix_findings_inspection_id", "findings", ["inspection_id"])
    op.create_index("ix_findings_plant_id", "findings", ["plant_id"])
    op.create_index(
        "ix_findings_instance_id_status_id", "findings", ["instance_id", "status", "id"]
    )
    op.create_table(
        "plans",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("capacity", DOCUMENT, nullable=False),
        sa.Column("built_on", sa.Date(), nullable=False),
        sa.Column("built_at", STAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_plans_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
        sa.UniqueConstraint(
            "instance_id", "year", "version", name=op.f("uq_plans_instance_id_year_version")
        ),
    )
    op.create_table(
        "plan_items",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("plan_id", BIG_ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("plant_id", sa.BigInteger(), nullable=True),
        sa.Column("metering_point_id", sa.String(length=18), nullable=False),
        sa.Column("inspection_area", sa.Integer(), nullable=True),
        sa.Column("plant_type", sa.Text(), nullable=True),
        sa.Column("risk_category_group", sa.Integer(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("reasons", sa.String(length=200), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["plans.id"],
            name=op.f("fk_plan_items_plan_id_plans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_items")),
    )
    op.create_index("ix_plan_items_plan_id_position", "plan_items", ["plan_id", "position"])


def downgrade() -> None:
    op.drop_index("ix_plan_items_plan_id_position", table_name="plan_items")
    op.drop_table("plan_items")
    op.drop_table("plans")
    op.drop_index("ix_findings_instance_id_status_id", table_name="findings")
    op.drop_index("ix_findings_plant_id", table_name="findings")
    op.drop_index("ix_findings_inspection_id", table_name="findings")
    op.drop_table("findings")
    op.drop_index("ix_inspections_plant_id_date", table_name="inspections")
    op.drop_table("inspections")
    with op.batch_alter_table("instances", schema=None) as batch_op:
        batch_op.drop_column("new_installation_years")
        batch_op.drop_column("finding_deadline_days")
