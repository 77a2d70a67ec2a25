"""The grid hierarchy: net station → transformer → connection point → plants.

Elements are shared by many plants, keyed by name per kind within an instance. A plant
upsert creates what is missing, moves an element sent under another parent, and updates
address and location only when they are sent (an element sent without them keeps its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, aliased

from tilsyn.core.models import GridElement
from tilsyn.core.problems import Issues, join_path
from tilsyn.core.tenancy import scoped_select
from tilsyn.core.time import utc_now
from tilsyn.core.upsert import insert_if_absent
from tilsyn.hierarchy.schemas import (
    ConnectionPointIn,
    CoordinatesIn,
    ElementAddressIn,
    LocationIn,
    NetStationIn,
    TransformerIn,
)
from tilsyn.history.service import Actor, record_change
from tilsyn.validation.geo import coordinate_findings

NET_STATION = "netStation"
TRANSFORMER = "transformer"
CONNECTION_POINT = "connectionPoint"
KINDS = (NET_STATION, TRANSFORMER, CONNECTION_POINT)
PARENT_KIND = {CONNECTION_POINT: TRANSFORMER, TRANSFORMER: NET_STATION}

Position = tuple[float, float]


@dataclass(frozen=True)
class ElementSpec:
    """One element as sent: ``None`` for address or location means "not sent, keep"."""

    kind: str
    name: str
    address: tuple[str | None, str | None] | None
    location: Position | None
    parent: ElementSpec | None


def resolve_location(
    location: LocationIn | None,
    legacy: CoordinatesIn | None,
    path: str,
    issues: Issues,
) -> Position | None:
    """One position from any of the accepted forms, with plausibility warnings."""
    lat = lon = None
    where = path
    if location is not None:
        lat, lon = location.latitude, location.longitude
        if lat is None and lon is None and location.coordinates is not None:
            coords = location.coordinates
            lat = coords.latitude if coords.latitude is not None else coords.lat
            lon = coords.longitude if coords.longitude is not None else coords.long
            where = join_path(path, "coordinates")
    if lat is None and lon is None and legacy is not None:
        lat = legacy.latitude if legacy.latitude is not None else legacy.lat
        lon = legacy.longitude if legacy.longitude is not None else legacy.long
        where = "coordinates"
    if lat is None and lon is None:
        return None
    if lat is None or lon is None:
        missing = "latitude" if lat is None else "longitude"
        issues.error(join_path(where, missing), "missing", "is required when a position is sent")
        return None
    for finding in coordinate_findings(lat, lon):
        issues.warn(where, finding.code, finding.message)
    return (lat, lon)


def _address(address: ElementAddressIn | None) -> tuple[str | None, str | None] | None:
    if address is None:
        return None
    return (address.addressText, address.postalCode)


def element_specs(
    connection_point: ConnectionPointIn | None,
    flat_transformer: TransformerIn | None,
    flat_net_station: NetStationIn | None,
    issues: Issues,
) -> ElementSpec | None:
    """The chain to write, from the nested form or the flat form of the change notes.

    Returns the lowest element sent (normally the connection point).
    """
    transformer_in = flat_transformer
    if connection_point is not None and connection_point.transformer is not None:
        transformer_in = connection_point.transformer
    transformer_path = (
        "connectionPoint.transformer"
        if connection_point is not None and connection_point.transformer is not None
        else "transformer"
    )
    net_station_in = flat_net_station
    net_station_path = "netStation"
    if transformer_in is not None and transformer_in.netStation is not None:
        net_station_in = transformer_in.netStation
        net_station_path = f"{transformer_path}.netStation"
    if flat_transformer is not None and transformer_in is not flat_transformer:
        issues.warn(
            "transformer",
            "ignored_duplicate",
            "was ignored because connectionPoint.transformer was sent",
            plausibility=False,
        )

    net_station = None
    if net_station_in is not None:
        net_station = ElementSpec(
            NET_STATION,
            net_station_in.name.strip(),
            _address(net_station_in.address),
            resolve_location(net_station_in.location, None, f"{net_station_path}.location", issues),
            None,
        )
    transformer = None
    if transformer_in is not None:
        transformer = ElementSpec(
            TRANSFORMER,
            transformer_in.name.strip(),
            _address(transformer_in.address),
            resolve_location(transformer_in.location, None, f"{transformer_path}.location", issues),
            net_station,
        )
    elif net_station is not None and connection_point is None:
        return net_station
    if connection_point is None:
        return transformer
    return ElementSpec(
        CONNECTION_POINT,
        connection_point.name.strip(),
        _address(connection_point.address),
        resolve_location(connection_point.location, None, "connectionPoint.location", issues),
        transformer,
    )


def upsert_chain(session: Session, actor: Actor, spec: ElementSpec) -> tuple[int, bool]:
    """Write the chain top-down (a fixed lock order); the lowest element's id, and whether
    anything changed."""
    parent_id = None
    changed = False
    if spec.parent is not None:
        parent_id, changed = upsert_chain(session, actor, spec.parent)
    element_id, element_changed = _upsert_element(session, actor, spec, parent_id)
    return element_id, changed or element_changed


def _lock(session: Session, instance_id: int, kind: str, name: str) -> GridElement | None:
    return session.scalar(
        scoped_select(GridElement, instance_id)
        .where(GridElement.kind == kind, GridElement.name == name)
        .with_for_update()
    )


def _upsert_element(
    session: Session, actor: Actor, spec: ElementSpec, parent_id: int | None
) -> tuple[int, bool]:
    row = _lock(session, actor.instance_id, spec.kind, spec.name)
    if row is None:
        now = utc_now()
        values: dict[str, Any] = {
            "instance_id": actor.instance_id,
            "kind": spec.kind,
            "name": spec.name,
            "parent_id": parent_id,
            "address_text": spec.address[0] if spec.address else None,
            "postal_code": spec.address[1] if spec.address else None,
            "latitude": spec.location[0] if spec.location else None,
            "longitude": spec.location[1] if spec.location else None,
            "created_at": now,
            "updated_at": now,
        }
        new_id = insert_if_absent(session, GridElement, values, key=["instance_id", "kind", "name"])
        if new_id is not None:
            created: dict[str, list[Any]] = {
                field: [None, values[field]]
                for field in ("address_text", "postal_code", "latitude", "longitude")
                if values[field] is not None
            }
            if parent_id is not None:
                created["parent"] = [None, spec.parent.name if spec.parent else None]
            record_change(
                session,
                actor,
                entity_type=spec.kind,
                entity_key=spec.name,
                operation="create",
                diff=_wire_diff(created),
            )
            return new_id, True
        row = _lock(session, actor.instance_id, spec.kind, spec.name)
        assert row is not None, "a conflicting insert must leave a row"

    diff: dict[str, list[Any]] = {}
    if spec.address is not None:
        for field, value in zip(("address_text", "postal_code"), spec.address, strict=True):
            if getattr(row, field) != value:
                diff[field] = [getattr(row, field), value]
                setattr(row, field, value)
    if spec.location is not None:
        for field, position in zip(("latitude", "longitude"), spec.location, strict=True):
            if getattr(row, field) != position:
                diff[field] = [getattr(row, field), position]
                setattr(row, field, position)
    if parent_id is not None and row.parent_id != parent_id:
        old_parent = session.get(GridElement, row.parent_id) if row.parent_id else None
        diff["parent"] = [
            old_parent.name if old_parent else None,
            spec.parent.name if spec.parent else None,
        ]
        row.parent_id = parent_id
    if not diff:
        return row.id, False
    row.updated_at = utc_now()
    session.flush()
    record_change(
        session,
        actor,
        entity_type=spec.kind,
        entity_key=spec.name,
        operation="move" if set(diff) == {"parent"} else "update",
        diff=_wire_diff(diff),
    )
    return row.id, True


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
    """The element as its history paths name it (history/service.py replays these)."""
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
    return {
        "name": row.name,
        "address": {"addressText": row.address_text, "postalCode": row.postal_code},
        "location": {"latitude": row.latitude, "longitude": row.longitude},
    }


_TRANSFORMER = aliased(GridElement, name="transformer")
_NET_STATION = aliased(GridElement, name="net_station")
# Built once: a fresh aliased() per call defeats SQLAlchemy's statement cache.
_CHAIN_QUERY = (
    select(GridElement, _TRANSFORMER, _NET_STATION)
    .outerjoin(_TRANSFORMER, _TRANSFORMER.id == GridElement.parent_id)
    .outerjoin(_NET_STATION, _NET_STATION.id == _TRANSFORMER.parent_id)
    .where(
        GridElement.id == bindparam("element_id"),
        GridElement.instance_id == bindparam("instance_id"),
    )
)


def connection_point_view(
    session: Session, instance_id: int, connection_point_id: int | None
) -> dict[str, Any] | None:
    """The nested import form of a connection point with its transformer and net station."""
    if connection_point_id is None:
        return None
    row = session.execute(
        _CHAIN_QUERY, {"element_id": connection_point_id, "instance_id": instance_id}
    ).first()
    if row is None:
        return None
    cp, tr, ns = row
    view = element_view(cp)
    assert view is not None
    tr_view = element_view(tr)
    if tr_view is not None:
        tr_view["netStation"] = element_view(ns)
    view["transformer"] = tr_view
    return view
