"""instance lookup keys and rate buckets: numbers re-keyed per instance; text that reads back

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 16:00:00.000000

Numbers each instance's changes on its own (``changes.seq``, ``instances.last_change_seq``):
the history and the feed show these, so that no id measures another instance's activity.

Adds ``instance_rate_limit_buckets``: an instance's rate limit holds for the instance as a
whole as well as for each of its keys.

Customer numbers were stored under one lookup key for the whole database (``pn1:``), so the
same number had the same stored key in every instance. Each instance now has a lookup key of
its own, derived from the database's (tilsyn/core/personal.py); this migration re-keys every
stored key (customers, customer periods, history, ``personal_numbers``, whose sealed numbers
are bound to their key) in the same transaction, on SQLite and PostgreSQL alike. Downgrading
puts the ``pn1:`` keys back.

On SQLite, bulk imports before this release could store an unpaired UTF-16 surrogate in a
document, which then made every read of it fail; such characters become U+FFFD (PostgreSQL
never stored them).
"""

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from tilsyn.core.personal import KEY_PREFIX, LEGACY_PREFIX, Codec, DataKeys, ensure_lookup_key

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
customers = sa.table(
    "customers",
    sa.column("id", sa.BigInteger),
    sa.column("instance_id", sa.Integer),
    sa.column("number", sa.String),
    sa.column("data", _DOCUMENT),
)
plants = sa.table("plants", sa.column("id", sa.BigInteger), sa.column("data", _DOCUMENT))
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
personal_numbers = sa.table(
    "personal_numbers",
    sa.column("instance_id", sa.Integer),
    sa.column("lookup", sa.String),
    sa.column("sealed", sa.Text),
)

Convert = Callable[[int, str], str]


def upgrade() -> None:
    op.create_table(
        "instance_rate_limit_buckets",
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_instance_rate_limit_buckets_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_instance_rate_limit_buckets")),
    )
    _number_changes_per_instance()
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _scrub_surrogates(conn)
    _rekey(
        conn,
        LEGACY_PREFIX,
        lambda codec, instance_id, number: codec.instance_lookup(instance_id, number),
    )


def downgrade() -> None:
    conn = op.get_bind()
    _rekey(conn, KEY_PREFIX, lambda codec, _instance_id, number: codec.lookup(number))
    op.drop_table("instance_rate_limit_buckets")
    op.drop_index("ix_changes_instance_id_seq", table_name="changes")
    with op.batch_alter_table("changes") as batch_op:
        batch_op.drop_column("seq")
    with op.batch_alter_table("instances") as batch_op:
        batch_op.drop_column("last_change_seq")


def _number_changes_per_instance() -> None:
    """``changes.seq``: each instance's changes numbered 1, 2, ... in the order of their ids
    (which followed commit order within an instance), and the counter that goes on from it."""
    op.add_column("changes", sa.Column("seq", sa.BigInteger(), nullable=True))
    op.add_column(
        "instances",
        sa.Column("last_change_seq", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE changes SET seq = numbered.seq FROM (SELECT id, row_number() OVER "
        "(PARTITION BY instance_id ORDER BY id) AS seq FROM changes) AS numbered "
        "WHERE changes.id = numbered.id"
    )
    op.execute(
        "UPDATE instances SET last_change_seq = (SELECT coalesce(max(seq), 0) FROM changes "
        "WHERE changes.instance_id = instances.id)"
    )
    op.create_index("ix_changes_instance_id_seq", "changes", ["instance_id", "seq"], unique=True)


def _data_keys() -> DataKeys:
    config = op.get_context().config
    keys = config.attributes.get("tilsyn.data_keys") if config is not None else None
    return keys if isinstance(keys, DataKeys) else DataKeys.from_env()


def _rekey(conn: sa.Connection, old_prefix: str, new_key: Callable[[Codec, int, str], str]) -> None:
    """Every stored key that starts with ``old_prefix`` becomes ``new_key`` of its number."""
    rows = conn.execute(
        sa.select(personal_numbers).where(personal_numbers.c.lookup.startswith(old_prefix))
    ).all()
    if not rows and not _has_keys(conn, old_prefix):
        return
    keys = _data_keys()
    codec = Codec(keys, ensure_lookup_key(conn, keys))
    mapping: dict[tuple[int, str], str] = {}
    for instance_id, old, sealed in rows:
        number = codec.open(instance_id, old, sealed)
        new = new_key(codec, instance_id, number)
        mapping[(instance_id, old)] = new
        conn.execute(
            personal_numbers.update()
            .where(personal_numbers.c.instance_id == instance_id, personal_numbers.c.lookup == old)
            .values(lookup=new, sealed=codec.seal(instance_id, new, number))
        )

    def convert(instance_id: int, value: str) -> str:
        if not value.startswith(old_prefix):
            return value
        found = mapping.get((instance_id, value))
        if found is None:
            # A key whose number was erased: a key of its own, unrelated across instances.
            found = new_key(codec, instance_id, f"erased:{value}")
            mapping[(instance_id, value)] = found
        return found

    _convert(conn, convert)


def _has_keys(conn: sa.Connection, prefix: str) -> bool:
    found = conn.scalar(
        sa.select(sa.func.count())
        .select_from(customers)
        .where(customers.c.number.startswith(prefix))
    )
    found = found or conn.scalar(
        sa.select(sa.func.count())
        .select_from(periods)
        .where(periods.c.customer_number.startswith(prefix))
    )
    return bool(found)


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


def _key(convert: Convert, instance_id: int, value: Any) -> Any:
    return convert(instance_id, value) if isinstance(value, str) else value


def _periods(convert: Convert, instance_id: int, value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [
        {**period, "customerId": _key(convert, instance_id, period.get("customerId"))}
        if isinstance(period, dict)
        else period
        for period in value
    ]


def _convert(conn: sa.Connection, convert: Convert) -> None:
    """Apply ``convert`` to every stored key outside ``personal_numbers``."""
    query = sa.select(customers.c.id, customers.c.instance_id, customers.c.number, customers.c.data)
    for row_id, instance_id, number, data in _batches(conn, query, customers.c.id):
        document = dict(data or {})
        document["Number"] = _key(convert, instance_id, document.get("Number"))
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
            new_key = _key(convert, instance_id, entity_key)
            if isinstance(diff, dict) and isinstance(diff.get("Number"), list):
                new_diff = {
                    **diff,
                    "Number": [_key(convert, instance_id, v) for v in diff["Number"]],
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


# --- Unpaired surrogates stored on SQLite ----------------------------------------------------


def _readable(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_readable(k): _readable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_readable(v) for v in value]
    return value


def _scrub_surrogates(conn: sa.Connection) -> None:
    """SQLite keeps JSON as text with \\u escapes: only rows holding a surrogate escape are
    read (LIKE is case-insensitive for ASCII there), and only those with a lone one change."""
    for table, column in ((customers, "data"), (plants, "data"), (changes, "diff")):
        text = sa.cast(table.c[column], sa.Text)
        query = sa.select(table.c.id, table.c[column]).where(text.like("%\\ud%"))
        for row_id, document in _batches(conn, query, table.c.id):
            readable = _readable(document)
            if readable != document:
                conn.execute(table.update().where(table.c.id == row_id).values({column: readable}))
