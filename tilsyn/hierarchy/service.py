"""The grid hierarchy: net station → transformer → connection point → plants.

Elements are shared by many plants, keyed by name per kind within an instance. A plant
upsert creates what is missing, moves an element sent under another parent, and updates
address and location only when they are sent (an element sent without them keeps its own).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, or_, select, update
from sqlalchemy.orm import Session, aliased

from tilsyn.contract.hierarchy.parse import KINDS, PARENT_KIND, ElementSpec
from tilsyn.contract.time import utc_now
from tilsyn.core import search_index
from tilsyn.core.changelog import Actor, record_change
from tilsyn.core.models import GridElement
from tilsyn.core.upsert import BatchConflict, insert_many_if_absent


@dataclass
class _Element:
    """An element as a batch leaves it; ``parent`` names the parent once the batch moved it."""

    id: int | None
    address_text: str | None
    postal_code: str | None
    latitude: float | None
    longitude: float | None
    parent_id: int | None
    parent_name: str | None
    parent: str | None = None
    dirty: bool = False


_FIELDS = ("address_text", "postal_code", "latitude", "longitude")
_ELEMENTS = cast(Table, GridElement.__table__)
_UPDATE_ELEMENT = (
    update(_ELEMENTS)
    .where(_ELEMENTS.c.id == bindparam("element_id"))
    .values(
        address_text=bindparam("new_address_text"),
        postal_code=bindparam("new_postal_code"),
        latitude=bindparam("new_latitude"),
        longitude=bindparam("new_longitude"),
        parent_id=bindparam("new_parent_id"),
        updated_at=bindparam("new_updated_at"),
    )
)


def upsert_chains(
    session: Session, actor: Actor, specs: Sequence[ElementSpec | None]
) -> list[tuple[int | None, bool]]:
    """Write the chains (each top-down) with a few statements per kind; per chain, the lowest
    element's id and whether anything of the chain changed.

    The chains apply in order, in memory, as if written one after another (same rows, same
    history, same ``changed`` per chain): an element is created with what was sent, a sent
    address or location replaces the stored one, a sent parent moves it. The database sees one
    locking read, one insert and one update per kind. Raises :class:`BatchConflict` when another
    transaction created one of the new elements meanwhile; the caller then goes one by one.
    """
    wanted: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for spec in specs:
        link = spec
        while link is not None:
            wanted[link.kind].add(link.name)
            link = link.parent
    elements = _lock_elements(session, actor.instance_id, wanted)
    changed = [spec is not None and _apply_spec(session, actor, elements, spec) for spec in specs]
    _write_elements(session, actor.instance_id, elements)
    return [
        (None if spec is None else _id_of(elements, spec), flag)
        for spec, flag in zip(specs, changed, strict=True)
    ]


def _id_of(elements: dict[tuple[str, str], _Element | None], spec: ElementSpec) -> int:
    element = elements[spec.kind, spec.name]
    assert element is not None, "every element of a chain is written"
    assert element.id is not None, "every element of a chain is written"
    return element.id


# Built once (a statement object keeps its cache key): one expanding list of names per kind,
# empty for a kind the batch does not name.
_LOCK_ELEMENTS = (
    select(
        _ELEMENTS.c.id,
        _ELEMENTS.c.kind,
        _ELEMENTS.c.name,
        _ELEMENTS.c.address_text,
        _ELEMENTS.c.postal_code,
        _ELEMENTS.c.latitude,
        _ELEMENTS.c.longitude,
        _ELEMENTS.c.parent_id,
    )
    .where(
        _ELEMENTS.c.instance_id == bindparam("instance_id"),
        or_(
            *(
                and_(
                    _ELEMENTS.c.kind == kind,
                    _ELEMENTS.c.name.in_(bindparam(f"names_{kind}", expanding=True)),
                )
                for kind in KINDS
            )
        ),
    )
    # PostgreSQL locks rows in the order the sort returns them.
    .order_by(
        case({kind: number for number, kind in enumerate(KINDS)}, value=_ELEMENTS.c.kind),
        _ELEMENTS.c.name,
    )
    .with_for_update()
)
_ELEMENT_NAMES = select(_ELEMENTS.c.id, _ELEMENTS.c.name).where(
    _ELEMENTS.c.id.in_(bindparam("element_ids", expanding=True))
)


def _lock_elements(
    session: Session, instance_id: int, wanted: dict[str, set[str]]
) -> dict[tuple[str, str], _Element | None]:
    """The stored elements of these names, in one read locked top-down and by name: one lock
    order for every writer."""
    elements: dict[tuple[str, str], _Element | None] = {
        (kind, name): None for kind in KINDS for name in sorted(wanted[kind])
    }
    if not elements:
        return elements
    rows = session.connection().execute(
        _LOCK_ELEMENTS,
        {"instance_id": instance_id} | {f"names_{kind}": sorted(wanted[kind]) for kind in KINDS},
    )
    parent_ids: set[int] = set()
    for row in rows:
        elements[row.kind, row.name] = _Element(
            id=row.id,
            address_text=row.address_text,
            postal_code=row.postal_code,
            latitude=row.latitude,
            longitude=row.longitude,
            parent_id=row.parent_id,
            parent_name=None,
        )
        if row.parent_id is not None:
            parent_ids.add(row.parent_id)
    # Read after the lock, not joined to it: on PostgreSQL a row locked after waiting for
    # another writer is re-read at its newest version, but a joined row is not, so a join would
    # name the parent the element had before (tests/test_history_feed.py saw that).
    if parent_ids:
        names_by_id = dict(
            session.connection().execute(_ELEMENT_NAMES, {"element_ids": sorted(parent_ids)}).all()
        )
        for element in elements.values():
            if element is not None and element.parent_id is not None:
                element.parent_name = names_by_id.get(element.parent_id)
    return elements


def _apply_spec(
    session: Session,
    actor: Actor,
    elements: dict[tuple[str, str], _Element | None],
    spec: ElementSpec,
) -> bool:
    """One chain applied to the batch's elements, top-down."""
    changed = False
    if spec.parent is not None:
        changed = _apply_spec(session, actor, elements, spec.parent)
    element = elements[spec.kind, spec.name]
    if element is None:
        diff = _create_element(elements, spec)
        operation = "create"
    else:
        diff = _update_element(element, spec)
        if not diff:
            return changed
        operation = "move" if set(diff) == {"parent"} else "update"
    record_change(
        session,
        actor,
        entity_type=spec.kind,
        entity_key=spec.name,
        operation=operation,
        diff=_wire_diff(diff),
    )
    return True


def _create_element(
    elements: dict[tuple[str, str], _Element | None], spec: ElementSpec
) -> dict[str, list[Any]]:
    """Add the element as sent to the batch; its history diff (each field sent, from None)."""
    parent = spec.parent.name if spec.parent is not None else None
    element = _Element(
        id=None,
        address_text=spec.address[0] if spec.address else None,
        postal_code=spec.address[1] if spec.address else None,
        latitude=spec.location[0] if spec.location else None,
        longitude=spec.location[1] if spec.location else None,
        parent_id=None,
        parent_name=parent,
        parent=parent,
        dirty=True,
    )
    elements[spec.kind, spec.name] = element
    created: dict[str, list[Any]] = {
        field: [None, getattr(element, field)]
        for field in _FIELDS
        if getattr(element, field) is not None
    }
    if parent is not None:
        created["parent"] = [None, parent]
    return created


def _update_element(element: _Element, spec: ElementSpec) -> dict[str, list[Any]]:
    """Apply what was sent (address, location, parent) to a known element; what changed."""
    diff: dict[str, list[Any]] = {}
    sent: list[tuple[str, Any]] = []
    if spec.address is not None:
        sent += zip(("address_text", "postal_code"), spec.address, strict=True)
    if spec.location is not None:
        sent += zip(("latitude", "longitude"), spec.location, strict=True)
    for field, value in sent:
        if getattr(element, field) != value:
            diff[field] = [getattr(element, field), value]
            setattr(element, field, value)
    parent = spec.parent.name if spec.parent is not None else None
    if parent is not None and element.parent_name != parent:
        diff["parent"] = [element.parent_name, parent]
        element.parent_name = element.parent = parent
    if diff:
        element.dirty = True
    return diff


def _write_elements(
    session: Session, instance_id: int, elements: dict[tuple[str, str], _Element | None]
) -> None:
    """Insert the new elements and update the changed ones, parents before children."""
    now = utc_now()
    for kind in KINDS:
        batch = {name: e for (k, name), e in elements.items() if k == kind and e and e.dirty}
        for element in batch.values():
            if element.parent is not None:
                parent = elements[PARENT_KIND[kind], element.parent]
                assert parent is not None, "a parent is in the batch"
                assert parent.id is not None, "parents are written first"
                element.parent_id = parent.id
        stored = [e for e in batch.values() if e.id is not None]
        new = {name: e for name, e in batch.items() if e.id is None}
        if new:
            rows = [
                {
                    "instance_id": instance_id,
                    "kind": kind,
                    "name": name,
                    "parent_id": e.parent_id,
                    **{field: getattr(e, field) for field in _FIELDS},
                    "created_at": now,
                    "updated_at": now,
                }
                for name, e in new.items()
            ]
            ids = insert_many_if_absent(
                session, GridElement, rows, key=["instance_id", "kind", "name"], returning="name"
            )
            if len(ids) != len(rows):
                raise BatchConflict("another transaction created some of these elements")
            for name, element in new.items():
                element.id = ids[name]
            # Names never change (they are the key), so new elements are all there is to index.
            search_index.add_words(
                session, instance_id, {ids[name]: search_index.element_words(name) for name in new}
            )
        updates = [
            {
                "element_id": e.id,
                **{f"new_{field}": getattr(e, field) for field in _FIELDS},
                "new_parent_id": e.parent_id,
                "new_updated_at": now,
            }
            for e in stored
        ]
        if updates:
            session.execute(_UPDATE_ELEMENT, updates)


_WIRE_NAMES = {
    "address_text": "address.addressText",
    "postal_code": "address.postalCode",
    "latitude": "location.latitude",
    "longitude": "location.longitude",
    "parent": "parent",
}


def _wire_diff(diff: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {_WIRE_NAMES[field]: change for field, change in diff.items()}


def history_state(session: Session, row: GridElement) -> dict[str, Any]:
    """The element as its history paths name it (core/changelog.py replays these)."""
    parent = session.get(GridElement, row.parent_id) if row.parent_id else None
    return {
        _WIRE_NAMES["address_text"]: row.address_text,
        _WIRE_NAMES["postal_code"]: row.postal_code,
        _WIRE_NAMES["latitude"]: row.latitude,
        _WIRE_NAMES["longitude"]: row.longitude,
        _WIRE_NAMES["parent"]: parent.name if parent else None,
    }


def element_view(row: GridElement | None) -> dict[str, Any] | None:
    """An element in the plant's nested import form (without its parent)."""
    if row is None:
        return None
    return _element_view(row.name, row.address_text, row.postal_code, row.latitude, row.longitude)


def _element_view(
    name: str | None,
    address_text: str | None,
    postal_code: str | None,
    latitude: float | None,
    longitude: float | None,
) -> dict[str, Any] | None:
    if name is None:  # not joined
        return None
    return {
        "name": name,
        "address": {"addressText": address_text, "postalCode": postal_code},
        "location": {"latitude": latitude, "longitude": longitude},
    }


CONNECTION_POINT_ROW = aliased(GridElement, name="connection_point")
TRANSFORMER_ROW = aliased(GridElement, name="transformer")
NET_STATION_ROW = aliased(GridElement, name="net_station")
"""A connection point and its parents, joined below a plant (see :func:`chain_columns`); built
once, since a fresh aliased() per call defeats SQLAlchemy's statement cache."""

_VIEW_FIELDS = ("name", "address_text", "postal_code", "latitude", "longitude")


def chain_columns() -> list[Any]:
    """The columns, of the three aliases above, that :func:`chain_view` reads back."""
    return [
        getattr(alias, field)
        for alias in (CONNECTION_POINT_ROW, TRANSFORMER_ROW, NET_STATION_ROW)
        for field in _VIEW_FIELDS
    ]


def chain_view(values: Sequence[Any]) -> dict[str, Any] | None:
    """A connection point's nested view with its transformer and net station, from the values
    of :func:`chain_columns` (plain columns: rows, not ORM objects, on every plant read)."""
    size = len(_VIEW_FIELDS)
    view = _element_view(*values[:size])
    if view is None:
        return None
    transformer = _element_view(*values[size : 2 * size])
    if transformer is not None:
        transformer["netStation"] = _element_view(*values[2 * size : 3 * size])
    view["transformer"] = transformer
    return view
