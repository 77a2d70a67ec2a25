"""Every query on tenant data starts here, so no read or write can cross instances."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Delete, Select, Update, bindparam, delete, select, update

from tilsyn.core.models import Base

ModelT = TypeVar("ModelT", bound=Base)


def owned_by(model: type[Base], instance_id: int) -> ColumnElement[bool]:
    column: Any = model.__table__.c.instance_id
    condition: ColumnElement[bool] = column == instance_id
    return condition


def scoped_select(model: type[ModelT], instance_id: int) -> Select[ModelT]:
    return select(model).where(owned_by(model, instance_id))


def scoped_update(model: type[Base], instance_id: int) -> Update:
    return update(model).where(owned_by(model, instance_id))


def scoped_delete(model: type[Base], instance_id: int) -> Delete:
    return delete(model).where(owned_by(model, instance_id))


CALLER = "caller_instance_id"
"""The parameter :func:`owned_by_caller` compares with (an insert or update cannot name a
parameter after one of its columns)."""


def owned_by_caller(model: type[Base]) -> ColumnElement[bool]:
    """:func:`owned_by` with the instance as the parameter :data:`CALLER`: for statements
    built once and run with each caller's instance."""
    column: Any = model.__table__.c.instance_id
    condition: ColumnElement[bool] = column == bindparam(CALLER)
    return condition
