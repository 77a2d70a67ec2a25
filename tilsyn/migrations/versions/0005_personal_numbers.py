"""personal numbers: customer numbers stored as keyed hashes, sealed once per instance

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 10:00:00.000000

Adds ``data_keys`` and ``personal_numbers`` and converts the numbers already stored in clear
text (customers, customer periods, history) in the same transaction: each becomes its stored
key and is sealed into ``personal_numbers`` (tilsyn/core/personal.py). The data keys are the
ones tilsyn migrates with (``upgrade_database``: ``TILSYN_DATA_KEY`` and
``TILSYN_DATA_KEY_PREVIOUS``); a database holding a prod instance is not converted under the
public development key. Downgrading opens them again and puts the numbers back.
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tilsyn.core.config import INSECURE_DEFAULT_DATA_KEY
from tilsyn.core.personal import STORED_KEY, Codec, DataKeys, ensure_lookup_key, parse_data_key

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ERASED = "[erased]"
BATCH = 1000
_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
customers = sa.table(
    "customers",
    sa.column("id", sa.BigInteger),
    sa.column("instance_id", sa.Integer),
    sa.column("number", sa.String),
    sa.column("data", _DOCUMENT),
)
periods = sa.table(
    "customer_periods",
    sa.column("instance_id", sa.Integer),
    sa.column("customer_number", sa.String),
)
changes = sa.table(
    "changes",
    sa.column("id", sa.BigInteger),
    sa.column("instance_id", sa.Integer),
    sa.column("entity_type", sa.String),
    sa.column("entity_key", sa.String),
    sa.column("diff", _DOCUMENT),
)
instances = sa.table("instances", sa.column("environment", sa.String))
personal_numbers = sa.table(
    "personal_numbers",
    sa.column("instance_id", sa.Integer),
    sa.column("lookup", sa.String),
    sa.column("sealed", sa.Text),
)

Convert = Callable[[int, str], str]


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("wrapped", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_data_keys")),
    )
    op.create_table(
        "personal_numbers",
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("lookup", sa.String(length=64), nullable=False),
        sa.Column("sealed", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_personal_numbers_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", "lookup", name=op.f("pk_personal_numbers")),
    )
    conn = op.get_bind()
    if not _has_numbers(conn):
        return
    keys = _data_keys()
    if keys.current == parse_data_key(INSECURE_DEFAULT_DATA_KEY) and conn.scalar(
        sa.select(sa.func.count()).select_from(instances).where(instances.c.environment == "prod")
    ):
        raise RuntimeError(
            "this database holds prod customers: set TILSYN_DATA_KEY before upgrading it, "
            "so that their numbers are not sealed under the public development key"
        )
    codec = Codec(keys, ensure_lookup_key(conn, keys))
    sealed: set[tuple[int, str]] = set()

    def to_key(instance_id: int, number: str) -> str:
        if STORED_KEY.fullmatch(number):
            return number
        key = codec.lookup(number)
        if (instance_id, key) not in sealed:
            conn.execute(
                personal_numbers.insert().values(
                    instance_id=instance_id,
                    lookup=key,
                    sealed=codec.seal(instance_id, key, number),
                )
            )
            sealed.add((instance_id, key))
        return key

    _convert(conn, to_key)


def downgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(sa.select(personal_numbers)).all()
    if rows:
        keys = _data_keys()
        codec = Codec(keys, ensure_lookup_key(conn, keys))
        numbers = {
            (instance_id, key): codec.open(instance_id, key, token)
            for instance_id, key, token in rows
        }
        _convert(conn, lambda instance_id, key: numbers.get((instance_id, key), key))
    op.drop_table("personal_numbers")
    op.drop_table("data_keys")


def _data_keys() -> DataKeys:
    config = op.get_context().config
    keys = config.attributes.get("tilsyn.data_keys") if config is not None else None
    return keys if isinstance(keys, DataKeys) else DataKeys.from_env()


def _has_numbers(conn: sa.Connection) -> bool:
    for table in (customers, periods):
        if conn.scalar(sa.select(sa.func.count()).select_from(table)):
            return True
    return bool(
        conn.scalar(
            sa.select(sa.func.count())
            .select_from(changes)
            .where(changes.c.entity_type.in_(("customer", "plant")))
        )
    )


def _batches(conn: sa.Connection, query: Any, id_column: Any) -> Iterator[Any]:
    last = None
    while True:
        page = query.order_by(id_column).limit(BATCH)
        if last is not None:
            page = page.where(id_column > last)
        rows = conn.execute(page).all()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def _number(convert: Convert, instance_id: int, value: Any) -> Any:
    if isinstance(value, str) and value not in ("", ERASED):
        return convert(instance_id, value)
    return value


def _periods(convert: Convert, instance_id: int, value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [
        {**period, "customerId": _number(convert, instance_id, period.get("customerId"))}
        if isinstance(period, dict)
        else period
        for period in value
    ]


def _convert(conn: sa.Connection, convert: Convert) -> None:
    """Apply ``convert`` to every customer number stored outside ``personal_numbers``."""
    query = sa.select(customers.c.id, customers.c.instance_id, customers.c.number, customers.c.data)
    for row_id, instance_id, number, data in _batches(conn, query, customers.c.id):
        document = dict(data or {})
        document["Number"] = _number(convert, instance_id, document.get("Number"))
        conn.execute(
            customers.update()
            .where(customers.c.id == row_id)
            .values(number=convert(instance_id, number), data=document)
        )
    pairs = conn.execute(
        sa.select(periods.c.instance_id, periods.c.customer_number)
        .where(periods.c.customer_number.is_not(None))
        .distinct()
    ).all()
    for instance_id, number in pairs:
        conn.execute(
            periods.update()
            .where(periods.c.instance_id == instance_id, periods.c.customer_number == number)
            .values(customer_number=convert(instance_id, number))
        )
    query = sa.select(
        changes.c.id,
        changes.c.instance_id,
        changes.c.entity_type,
        changes.c.entity_key,
        changes.c.diff,
    ).where(changes.c.entity_type.in_(("customer", "plant")))
    for row_id, instance_id, entity_type, entity_key, diff in _batches(conn, query, changes.c.id):
        new_key, new_diff = entity_key, diff
        if entity_type == "customer":
            new_key = _number(convert, instance_id, entity_key)
            if isinstance(diff, dict) and isinstance(diff.get("Number"), list):
                new_diff = {
                    **diff,
                    "Number": [_number(convert, instance_id, v) for v in diff["Number"]],
                }
        elif isinstance(diff, dict) and isinstance(diff.get("customerPeriods"), list):
            new_diff = {
                **diff,
                "customerPeriods": [
                    _periods(convert, instance_id, v) for v in diff["customerPeriods"]
                ],
            }
        if new_key != entity_key or new_diff != diff:
            conn.execute(
                changes.update()
                .where(changes.c.id == row_id)
                .values(entity_key=new_key, diff=new_diff)
            )
