"""The database schema: every table of tilsyn, in one place. Alembic migrations mirror it.

Imported documents are kept in their canonical import form (``data``), so that a GET returns
exactly what was stored; the columns beside it are what tilsyn looks up, joins or filters on.
Every tenant table carries ``instance_id`` and its natural key is unique per instance.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Document = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a real bigint.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Instance(Base):
    __tablename__ = "instances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    environment: Mapped[str] = mapped_column(String(10))
    strict_validation: Mapped[bool] = mapped_column(Boolean, default=False)
    # Bumped by every change of the instance's audit rules; server processes compare it
    # with the version of their compiled rules cache.
    rules_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Requests per second and burst per API key; NULL takes the default, 0 per second is
    # unlimited (instances/ratelimit.py).
    rate_limit_per_second: Mapped[float | None] = mapped_column(Float)
    rate_limit_burst: Mapped[int | None] = mapped_column(Integer)
    # Inspection settings (SPEC §11): a nonconformity's default deadline after its
    # inspection, and how long a plant counts as a new installation after its connection.
    finding_deadline_days: Mapped[int] = mapped_column(Integer, server_default="60")
    new_installation_years: Mapped[int] = mapped_column(Integer, server_default="2")
    # The number of the instance's latest change (changes.seq); core/changelog.py.
    last_change_seq: Mapped[int] = mapped_column(BigInteger, server_default="0")


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), index=True
    )
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_prefix: Mapped[str] = mapped_column(String(32))
    label: Mapped[str | None] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RateLimitBucket(Base):
    """One API key's token bucket, shared by every server process; they lease tokens from it."""

    __tablename__ = "rate_limit_buckets"

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    tokens: Mapped[float] = mapped_column(Float)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class InstanceRateLimitBucket(Base):
    """One instance's token bucket, which all its keys draw from as well as their own."""

    __tablename__ = "instance_rate_limit_buckets"

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    tokens: Mapped[float] = mapped_column(Float)
    refreshed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("instance_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(Document)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class GridElement(Base):
    """A net station, transformer or connection point; keyed by name per instance and kind."""

    __tablename__ = "grid_elements"
    __table_args__ = (
        UniqueConstraint("instance_id", "kind", "name"),
        Index("ix_grid_elements_parent_id", "parent_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("grid_elements.id", ondelete="SET NULL")
    )
    address_text: Mapped[str | None] = mapped_column(Text)
    postal_code: Mapped[str | None] = mapped_column(String(20))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Plant(Base):
    __tablename__ = "plants"
    __table_args__ = (
        UniqueConstraint("instance_id", "metering_point_id"),
        Index("ix_plants_connection_point_id", "connection_point_id"),
        Index("ix_plants_instance_id_consumption_code", "instance_id", "consumption_code"),
        # The console's plants by status: without it SQLite reads every document to reach
        # the column behind it (300 ms at 50,000 plants; 3 ms with it).
        Index("ix_plants_instance_id_status", "instance_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    metering_point_id: Mapped[str] = mapped_column(String(18))
    data: Mapped[dict[str, Any]] = mapped_column(Document)
    consumption_code: Mapped[str] = mapped_column(String(20))
    industrial_classification: Mapped[str] = mapped_column(String(40))
    status: Mapped[str | None] = mapped_column(String(20))
    connected_date: Mapped[date | None] = mapped_column(Date)
    built_by_el_company_id: Mapped[int | None] = mapped_column(BigInteger)
    connection_point_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("grid_elements.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CustomerPeriod(Base):
    """From ``valid_from`` until the next period of the plant, ``customer_number`` owns it.

    ``customer_number`` (like ``customers.number``) holds the number's stored key, a keyed
    hash; the number is in ``personal_numbers`` (core/personal.py).
    """

    __tablename__ = "customer_periods"
    __table_args__ = (
        UniqueConstraint("plant_id", "valid_from"),
        Index("ix_customer_periods_instance_id_customer_number", "instance_id", "customer_number"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    plant_id: Mapped[int] = mapped_column(BigId, ForeignKey("plants.id", ondelete="CASCADE"))
    valid_from: Mapped[date] = mapped_column(Date)
    customer_number: Mapped[str | None] = mapped_column(String(64))


class PlantExtension(Base):
    __tablename__ = "plant_extensions"
    __table_args__ = (UniqueConstraint("plant_id", "extension_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    plant_id: Mapped[int] = mapped_column(BigId, ForeignKey("plants.id", ondelete="CASCADE"))
    extension_key: Mapped[str] = mapped_column(String(300))
    extension_name: Mapped[str] = mapped_column(String(200))
    extension_year_built: Mapped[int | None] = mapped_column(Integer)
    built_by_el_company_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRule(Base):
    """Derives auditSpecificInfo values from consumption code and næringskode prefix."""

    __tablename__ = "audit_rules"
    __table_args__ = (UniqueConstraint("instance_id", "rule_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(String(64))
    consumption_code: Mapped[str | None] = mapped_column(String(20))
    naeringskode_prefix: Mapped[str | None] = mapped_column(String(20))
    plant_type: Mapped[str | None] = mapped_column(Text)
    inspection_area: Mapped[int | None] = mapped_column(Integer)
    risk_category_group: Mapped[int | None] = mapped_column(Integer)
    inspection_rate: Mapped[int | None] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)


class Change(Base):
    """One effective change of one entity: the history and the change feed read this.

    ``seq`` numbers an instance's changes in commit order (core/changelog.py): it is the id
    the history and the feed show, and the feed's cursor, and tells nothing of other
    instances (``id`` counts all of them). ``api_key_label`` keeps who sent it readable even
    if keys change later.
    """

    __tablename__ = "changes"
    __table_args__ = (
        Index("ix_changes_entity", "instance_id", "entity_type", "entity_key", "id"),
        Index("ix_changes_instance_id_id", "instance_id", "id"),
        Index("ix_changes_instance_id_seq", "instance_id", "seq", unique=True),
        # The feed started from a moment (``since``) finds its first change by this.
        Index("ix_changes_instance_id_at", "instance_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    api_key_id: Mapped[int | None] = mapped_column(Integer)
    api_key_label: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(30))
    entity_key: Mapped[str] = mapped_column(String(200))
    operation: Mapped[str] = mapped_column(String(20))
    diff: Mapped[dict[str, Any] | None] = mapped_column(Document)
    # Every row has one; nullable only so that migration 0006 adds it without rebuilding.
    seq: Mapped[int] = mapped_column(BigInteger, nullable=True)


# Compared by code point on both databases, so that a prefix range is exact (core/search_text.py).
Token = String(64).with_variant(String(64, collation="C"), "postgresql")


class SearchToken(Base):
    """One word of one entity's searchable text, folded (core/search_text.py): the search index.

    A word sits on the entity whose text it is (``kind``: ``p`` a plant's metering point id,
    address and postal code; ``z`` a plant's postal code, for the exact filter; ``c`` a
    customer's name; ``e`` a grid element's name), not copied onto every plant it concerns:
    a customer change, or an element moved to another parent, then re-indexes nothing, and
    the search joins from the words to the plants (search/service.py). A B-tree on
    ``(instance_id, kind, token)`` serves a prefix as a range; one on ``(ref_id, kind,
    token, instance_id)`` tests an entity for a prefix within the index alone.
    """

    __tablename__ = "search_tokens"
    __table_args__ = (
        Index("ix_search_tokens_ref_id_kind_token", "ref_id", "kind", "token", "instance_id"),
    )

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(1), primary_key=True)
    token: Mapped[str] = mapped_column(Token, primary_key=True)
    ref_id: Mapped[int] = mapped_column(BigId, primary_key=True)


class DataKey(Base):
    """Keys tilsyn makes itself, sealed under the configured data key (core/personal.py)."""

    __tablename__ = "data_keys"

    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    wrapped: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PersonalNumber(Base):
    """A customer number, sealed, under its stored key: the one place it is kept.

    Elsewhere (``customers.number``, ``customer_periods.customer_number``, history) the
    stored key stands for it; erasing the customer deletes this row.
    """

    __tablename__ = "personal_numbers"

    instance_id: Mapped[int] = mapped_column(
        ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True
    )
    lookup: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed: Mapped[str] = mapped_column(Text)


class User(Base):
    """A person who signs in to the console; a user belongs to one instance, like a key."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("instance_id", "email"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254), index=True)
    role: Mapped[str] = mapped_column(String(20))
    # Argon2id; NULL until the user has chosen a password through a one-time link.
    password_hash: Mapped[str | None] = mapped_column(Text)
    # SHA-256 of the one-time link's token: the link itself is shown once and never stored.
    setup_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    setup_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UserSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is kept here."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The synchronizer token every form of this session must send back (CSRF).
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SignInFailure(Base):
    """A failed sign-in, counted per account and per client address to slow down guessing.

    ``subject`` is a SHA-256 of ``account:<email>`` or ``client:<address>``: the table never
    holds who tried which address in clear.
    """

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_subject_at", "subject", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subject: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Inspection(Base):
    """A visit or review of one plant; ``external_id`` is the client's own key, when sent."""

    __tablename__ = "inspections"
    __table_args__ = (
        UniqueConstraint("instance_id", "external_id"),
        Index("ix_inspections_plant_id_date", "plant_id", "date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    plant_id: Mapped[int] = mapped_column(BigId, ForeignKey("plants.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(String(200))
    date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))
    inspector: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Finding(Base):
    """A nonconformity or remark of an inspection, with where its case stands.

    ``plant_id`` repeats the inspection's so that a plant's open findings are one indexed
    read; ``closed_on`` is kept so that a year's figures can say what was open at its end.
    """

    __tablename__ = "findings"
    __table_args__ = (
        Index("ix_findings_inspection_id", "inspection_id"),
        Index("ix_findings_plant_id", "plant_id"),
        Index("ix_findings_instance_id_status_id", "instance_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    inspection_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("inspections.id", ondelete="CASCADE")
    )
    plant_id: Mapped[int] = mapped_column(BigId, ForeignKey("plants.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    severity: Mapped[str] = mapped_column(String(20))
    regulation: Mapped[str | None] = mapped_column(Text)
    deadline: Mapped[date | None] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(20))
    status_date: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Plan(Base):
    """One build of a year's inspection plan; each build is a new version."""

    __tablename__ = "plans"
    __table_args__ = (UniqueConstraint("instance_id", "year", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("instances.id", ondelete="CASCADE"))
    year: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    capacity: Mapped[dict[str, Any]] = mapped_column(Document)
    built_on: Mapped[date] = mapped_column(Date)
    built_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class PlanItem(Base):
    """A plant in a plan: ``planned``, ``deferred`` or ``unplanned`` as built (``done`` is
    computed when read). The plant is named by its key so that the plan outlives it."""

    __tablename__ = "plan_items"
    __table_args__ = (Index("ix_plan_items_plan_id_position", "plan_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    plan_id: Mapped[int] = mapped_column(BigId, ForeignKey("plans.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    plant_id: Mapped[int | None] = mapped_column(BigInteger)
    metering_point_id: Mapped[str] = mapped_column(String(18))
    inspection_area: Mapped[int | None] = mapped_column(Integer)
    plant_type: Mapped[str | None] = mapped_column(Text)
    risk_category_group: Mapped[int | None] = mapped_column(Integer)
    due_date: Mapped[date | None] = mapped_column(Date)
    reasons: Mapped[str] = mapped_column(String(200))
    explanation: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20))
