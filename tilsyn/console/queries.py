"""Reads that only the console makes: the overview's counts, the latest changes, map points.

Each one is scoped to the signed-in user's instance like every other read (core/tenancy.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tilsyn.contract.hierarchy.parse import NET_STATION
from tilsyn.core.changelog import change_views
from tilsyn.core.models import (
    ApiKey,
    Change,
    Customer,
    Finding,
    GridElement,
    Plan,
    PlanItem,
    Plant,
    User,
)
from tilsyn.core.tenancy import owned_by, scoped_select
from tilsyn.inspections.repository import clock_plants_between

MAX_MAP_PLANTS = 5000


def counts(session: Session, instance_id: int) -> dict[str, int]:
    """Plants, customers and grid elements of the instance."""
    plants = session.scalar(select(func.count()).where(owned_by(Plant, instance_id))) or 0
    customers = session.scalar(select(func.count()).where(owned_by(Customer, instance_id))) or 0
    elements = dict(
        session.execute(
            select(GridElement.kind, func.count())
            .where(owned_by(GridElement, instance_id))
            .group_by(GridElement.kind)
        ).all()
    )
    return {
        "plants": plants,
        "customers": customers,
        "netStations": elements.get("netStation", 0),
        "transformers": elements.get("transformer", 0),
        "connectionPoints": elements.get("connectionPoint", 0),
    }


def plants_by_status(session: Session, instance_id: int) -> list[tuple[str | None, int]]:
    rows = session.execute(
        select(Plant.status, func.count())
        .where(owned_by(Plant, instance_id))
        .group_by(Plant.status)
        .order_by(func.count().desc())
    ).all()
    return [(status, count) for status, count in rows]


def latest_changes(session: Session, instance_id: int, *, limit: int = 10) -> list[dict[str, Any]]:
    rows = session.scalars(
        scoped_select(Change, instance_id).order_by(Change.id.desc()).limit(limit)
    ).all()
    views: list[dict[str, Any]] = change_views(session, instance_id, rows)
    return views


def map_points(session: Session, instance_id: int) -> dict[str, Any]:
    """Net stations and (up to :data:`MAX_MAP_PLANTS`) plants that have a location."""
    stations = [
        {"name": name, "lat": lat, "lon": lon}
        for name, lat, lon in session.execute(
            select(GridElement.name, GridElement.latitude, GridElement.longitude)
            .where(
                owned_by(GridElement, instance_id),
                GridElement.kind == NET_STATION,
                GridElement.latitude.is_not(None),
                GridElement.longitude.is_not(None),
            )
            .order_by(GridElement.name)
        )
    ]
    plants = []
    rows = session.execute(
        select(Plant.metering_point_id, Plant.data)
        .where(owned_by(Plant, instance_id))
        .order_by(Plant.id)
        .limit(MAX_MAP_PLANTS)
    )
    for mpid, data in rows:
        location = data.get("location") or {}
        lat, lon = location.get("latitude"), location.get("longitude")
        if isinstance(lat, int | float) and isinstance(lon, int | float):
            address = (data.get("address") or {}).get("addressText")
            plants.append({"id": mpid, "lat": lat, "lon": lon, "address": address})
    return {"netStations": stations, "plants": plants, "limit": MAX_MAP_PLANTS}


def keys_of(session: Session, instance_id: int) -> list[ApiKey]:
    return list(session.scalars(scoped_select(ApiKey, instance_id).order_by(ApiKey.id)))


def users_of(session: Session, instance_id: int) -> list[User]:
    return list(session.scalars(scoped_select(User, instance_id).order_by(User.email)))


def follow_up(session: Session, instance_id: int, *, today: date) -> dict[str, Any]:
    """Open and overdue findings, and this year's plan as built: due this year, overdue.

    Due dates come from the latest plan of the year rather than from every plant's history
    on each visit, which would cost a scan of the register per page view.
    """
    unclosed = owned_by(Finding, instance_id), Finding.status != "closed"
    open_findings = session.scalar(select(func.count()).where(*unclosed)) or 0
    overdue_findings = (
        session.scalar(
            select(func.count()).where(
                *unclosed, Finding.deadline.is_not(None), Finding.deadline < today
            )
        )
        or 0
    )
    plan_id = session.scalar(
        select(Plan.id)
        .where(owned_by(Plan, instance_id), Plan.year == today.year)
        .order_by(Plan.version.desc())
        .limit(1)
    )
    due = overdue = None
    if plan_id is not None:
        planned = PlanItem.plan_id == plan_id, PlanItem.status != "unplanned"
        due = session.scalar(select(func.count()).where(*planned)) or 0
        done = clock_plants_between(session, instance_id, date(today.year, 1, 1), today)
        late = session.scalars(select(PlanItem.plant_id).where(*planned, PlanItem.due_date < today))
        overdue = sum(1 for plant_id in late if plant_id not in done)
    return {
        "openFindings": open_findings,
        "overdueFindings": overdue_findings,
        "dueThisYear": due,
        "overdue": overdue,
        "year": today.year,
    }
