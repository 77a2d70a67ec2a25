"""Browsing the grid downwards: net stations with counts, one net station's tree, counts.

Read-only views for the people who work by the grid ("what hangs under this station?").
Each reads a bounded set of elements and counts plants with one grouped query, served by
the indexes on ``grid_elements.parent_id`` and ``plants.connection_point_id``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from tilsyn.contract.errors import NotFound
from tilsyn.contract.hierarchy.parse import NET_STATION
from tilsyn.contract.hierarchy.schemas import (
    ConnectionPointNodeOut,
    ElementAddressOut,
    LocationOut,
    NetStationItemOut,
    NetStationTreeOut,
    TransformerNodeOut,
)
from tilsyn.core.models import GridElement, Plant

MAX_PAGE = 1000

_ELEMENT_COLUMNS = (
    GridElement.id,
    GridElement.name,
    GridElement.address_text,
    GridElement.postal_code,
    GridElement.latitude,
    GridElement.longitude,
)


def _view(row: Any) -> dict[str, Any]:
    """An element as the plant's import form nests it: name, address, location (the fields
    every browse model starts with)."""
    return {
        "name": row.name,
        "address": ElementAddressOut(addressText=row.address_text, postalCode=row.postal_code),
        "location": LocationOut(latitude=row.latitude, longitude=row.longitude),
    }


def _children(instance_id: int, parent_ids: list[int]) -> Any:
    return (
        select(*_ELEMENT_COLUMNS, GridElement.parent_id)
        .where(GridElement.instance_id == instance_id, GridElement.parent_id.in_(parent_ids))
        .order_by(GridElement.name)
    )


def net_stations(
    session: Session, instance_id: int, *, limit: int = 100, after: str | None = None
) -> tuple[list[NetStationItemOut], str | None]:
    """One page of net stations by name, each with how many transformers, connection points
    and plants hang under it; ``next`` is the last name of the page, ``None`` on the last."""
    query = (
        select(*_ELEMENT_COLUMNS)
        .where(GridElement.instance_id == instance_id, GridElement.kind == NET_STATION)
        .order_by(GridElement.name)
        .limit(limit + 1)
    )
    if after:
        query = query.where(GridElement.name > after)
    rows = session.execute(query).all()[: limit + 1]
    page = rows[:limit]
    counts = _station_counts(session, instance_id, [row.id for row in page])
    items = []
    for row in page:
        transformers, points, plants = counts.get(row.id, (0, 0, 0))
        items.append(
            NetStationItemOut(
                **_view(row), transformers=transformers, connectionPoints=points, plants=plants
            )
        )
    return items, page[-1].name if len(rows) > limit else None


def _station_counts(
    session: Session, instance_id: int, station_ids: list[int]
) -> dict[int, tuple[int, int, int]]:
    if not station_ids:
        return {}
    transformer = aliased(GridElement)
    point = aliased(GridElement)
    query = (
        select(
            transformer.parent_id,
            func.count(transformer.id.distinct()),
            func.count(point.id.distinct()),
            func.count(Plant.id),
        )
        .select_from(transformer)
        .outerjoin(point, point.parent_id == transformer.id)
        .outerjoin(Plant, Plant.connection_point_id == point.id)
        .where(transformer.instance_id == instance_id, transformer.parent_id.in_(station_ids))
        .group_by(transformer.parent_id)
    )
    rows = session.execute(query)
    return {row[0]: (row[1], row[2], row[3]) for row in rows if row[0] is not None}


def net_station(session: Session, instance_id: int, *, name: str) -> NetStationTreeOut:
    """A net station with its transformers, their connection points, and plant counts."""
    station = None
    if "\x00" not in name:
        station = session.execute(
            select(*_ELEMENT_COLUMNS).where(
                GridElement.instance_id == instance_id,
                GridElement.kind == NET_STATION,
                GridElement.name == name.strip(),
            )
        ).first()
    if station is None:
        raise NotFound("No net station with that name in this instance.")
    transformers = session.execute(_children(instance_id, [station.id])).all()
    points = session.execute(_children(instance_id, [t.id for t in transformers])).all()
    plants = _plant_counts(session, [p.id for p in points])
    points_of: dict[int, list[ConnectionPointNodeOut]] = {}
    for point in points:
        points_of.setdefault(point.parent_id, []).append(
            ConnectionPointNodeOut(**_view(point), plants=plants.get(point.id, 0))
        )
    tree = [
        TransformerNodeOut(
            **_view(t),
            plants=sum(p.plants for p in points_of.get(t.id, [])),
            connectionPoints=points_of.get(t.id, []),
        )
        for t in transformers
    ]
    return NetStationTreeOut(
        **_view(station),
        transformers=tree,
        connectionPoints=len(points),
        plants=sum(t.plants for t in tree),
    )


def _plant_counts(session: Session, point_ids: list[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for start in range(0, len(point_ids), 1000):
        chunk = point_ids[start : start + 1000]
        query = (
            select(Plant.connection_point_id, func.count())
            .where(Plant.connection_point_id.in_(chunk))
            .group_by(Plant.connection_point_id)
        )
        rows = session.execute(query)
        counts.update({row[0]: row[1] for row in rows if row[0] is not None})
    return counts
