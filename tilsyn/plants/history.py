"""A plant's history page, and the plant as of a day.

As-of reads replay history backwards from the current state (core/changelog.py): the
plant's document, its customer periods, its extensions and its connection point's name, and
each hierarchy element's address, location and parent, all as they were at the end of that
day in Norway. Values derived by the audit rules are derived by the rules in force now.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy.orm import Session

from tilsyn.contract.diffs import flatten, unflatten
from tilsyn.contract.errors import NotFound
from tilsyn.contract.hierarchy.parse import CONNECTION_POINT, NET_STATION, TRANSFORMER
from tilsyn.contract.plants.merge import plant_document
from tilsyn.contract.plants.schemas import ExtensionOut, PlantIn, PlantOut
from tilsyn.core.changelog import (
    ERASED,
    check_kept,
    end_of_day,
    entity_history,
    has_history,
    state_at,
)
from tilsyn.core.models import GridElement, Plant
from tilsyn.core.personal import reveal
from tilsyn.hierarchy.service import element_view
from tilsyn.hierarchy.service import history_state as element_state
from tilsyn.plants import repository
from tilsyn.plants.periods import Period, in_force
from tilsyn.plants.service import history_state as plant_state
from tilsyn.plants.views import plant_out
from tilsyn.rules.service import rules_at

_EXTENSION = re.compile(r"extensions\[(?P<name>.*)\|(?P<year>\d*)\]\.builtByElCompanyId", re.S)
_NOT_DOCUMENT = ("connectionPoint", "customerPeriods")
_NO_PLANT = "No plant with that meteringPointId in this instance."


def _key(value: str) -> str:
    # From a URL; PostgreSQL cannot compare text holding NUL.
    if "\x00" in value:
        raise NotFound(_NO_PLANT)
    return value.strip()


def plant_history(
    session: Session, instance_id: int, mpid: str, *, limit: int, before: int | None
) -> dict[str, Any]:
    mpid = _key(mpid)
    changes, next_before = entity_history(
        session, instance_id, "plant", mpid, limit=limit, before=before
    )
    row = repository.find_plant(session, instance_id, mpid)
    if not changes and row is None and not has_history(session, instance_id, "plant", mpid):
        raise NotFound(_NO_PLANT)
    periods = _periods(plant_state(session, row)) if row is not None else []
    page = {"changes": changes, "next": next_before, "customerPeriods": _periods_out(periods)}
    return dict(reveal(session, instance_id, page))


def _periods_out(periods: list[Period]) -> list[dict[str, Any]]:
    out = []
    for index, period in enumerate(periods):
        following = periods[index + 1] if index + 1 < len(periods) else None
        out.append(
            {
                "customerId": period.customer,
                "from": period.valid_from.isoformat(),
                "to": (following.valid_from - timedelta(days=1)).isoformat() if following else None,
            }
        )
    return out


@cache
def _plant_skeleton() -> dict[str, Any]:
    """Every path of a stored plant document, empty: what a reconstructed one starts from."""
    body = PlantIn.model_construct(
        meteringPointId="", consumptionCode="", industrialClassification=""
    )
    return dict.fromkeys(flatten(plant_document(body, status=None, position=None)))


def _periods(state: dict[str, Any]) -> list[Period]:
    return sorted(
        Period(
            date.fromisoformat(period["from"]),
            None if period["customerId"] in (None, ERASED) else period["customerId"],
        )
        for period in state.get("customerPeriods") or []
    )


def plant_as_of(session: Session, instance_id: int, mpid: str, day: date) -> PlantOut:
    """The plant in import format as stored at the end of ``day`` (Europe/Oslo)."""
    mpid = _key(mpid)
    check_kept(session, instance_id, day)
    row = repository.find_plant(session, instance_id, mpid)
    moment = end_of_day(day)
    current = plant_state(session, row) if row is not None else None
    state = state_at(session, instance_id, "plant", mpid, current=current, moment=moment)
    if not state or state.get("consumptionCode") is None:
        raise NotFound("No plant with that meteringPointId in this instance on that day.")
    document = unflatten(
        _plant_skeleton()
        | {
            path: value
            for path, value in state.items()
            if path not in _NOT_DOCUMENT and not path.startswith("extensions[")
        }
    )
    snapshot = Plant(
        instance_id=instance_id,
        metering_point_id=mpid,
        data=document,
        consumption_code=document["consumptionCode"],
        industrial_classification=document["industrialClassification"],
        connection_point_id=None,
    )
    rules = rules_at(session, instance_id, moment)
    period = in_force(_periods(state), day)
    point = _connection_point(session, instance_id, state.get("connectionPoint"), moment)
    return plant_out(
        session,
        snapshot,
        customer=period,
        connection_point=point,
        extensions=_extensions(state, nulls_first=session.get_bind().dialect.name == "sqlite"),
        rules=rules,
    )


def _extensions(state: dict[str, Any], *, nulls_first: bool) -> list[ExtensionOut]:
    """Ordered like the live GET: by year (the database's place for no year), then name."""
    found = []
    for path, company in state.items():
        match = _EXTENSION.fullmatch(path)
        if match and company is not None:
            year = int(match["year"]) if match["year"] else None
            found.append((match["name"], year, company))
    found.sort(key=lambda e: ((e[1] is None) != nulls_first, e[1] or 0, e[0]))
    return [
        ExtensionOut(extensionName=name, extensionYearBuilt=year, builtByElCompanyId=company)
        for name, year, company in found
    ]


def _element(
    session: Session, instance_id: int, kind: str, name: str, moment: datetime | None
) -> dict[str, Any] | None:
    row = repository.element_by_name(session, instance_id, kind, name)
    current = element_state(session, row) if row is not None else None
    state = state_at(session, instance_id, kind, name, current=current, moment=moment)
    view = element_view(
        GridElement(
            name=name,
            address_text=(state or {}).get("address.addressText"),
            postal_code=(state or {}).get("address.postalCode"),
            latitude=(state or {}).get("location.latitude"),
            longitude=(state or {}).get("location.longitude"),
        )
    )
    assert view is not None
    view["parent"] = (state or {}).get("parent")
    return view


def _connection_point(
    session: Session, instance_id: int, name: str | None, moment: datetime | None
) -> dict[str, Any] | None:
    """The nested connection point → transformer → net station as they were."""
    if not name:
        return None
    view = _element(session, instance_id, CONNECTION_POINT, name, moment)
    assert view is not None
    transformer_name = view.pop("parent")
    transformer = None
    if transformer_name:
        transformer = _element(session, instance_id, TRANSFORMER, transformer_name, moment)
        assert transformer is not None
        station_name = transformer.pop("parent")
        station = None
        if station_name:
            station = _element(session, instance_id, NET_STATION, station_name, moment)
            assert station is not None
            station.pop("parent")
        transformer["netStation"] = station
    view["transformer"] = transformer
    return view
