"""The due-date rules of SPEC §11, against a brute-force oracle (hypothesis), and the
services on both databases: due dates for a set of plants equal those of one plant."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import Tenant
from tests.seed_api import service_upsert_plant
from tilsyn.contract.time import today_in_oslo
from tilsyn.core.changelog import Actor
from tilsyn.core.db import Database
from tilsyn.inspections import service
from tilsyn.inspections.due import PlantFacts, add_years, due
from tilsyn.inspections.merge import TRANSITIONS
from tilsyn.inspections.parse import parse_valid_inspection

DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2040, 12, 31))


def anniversary_passed(start: date, years: int, day: date) -> bool:
    """Whether ``years`` whole years have passed from ``start`` on ``day``, counted the way
    a person counts birthdays: the years between, then whether the day of the year has come
    (a 29 February birthday comes on 28 February in a common year)."""
    elapsed = day.year - start.year
    month_day = (start.month, start.day)
    if month_day == (2, 29) and not _leap(day.year):
        month_day = (2, 28)
    if (day.month, day.day) < month_day:
        elapsed -= 1
    return elapsed >= years


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def oracle(facts: PlantFacts, today: date, new_years: int) -> tuple[date | None, list[str]]:
    """The first day on which the plant counts as due, found by walking the calendar."""
    if not facts.in_service:
        return None, ["not_in_service"]
    if not facts.interval:
        return None, ["no_interval"]
    reasons: list[str]
    if facts.clock is not None:
        reasons = ["interval"]

        def base(day: date) -> bool:
            assert facts.clock is not None
            assert facts.interval is not None
            return anniversary_passed(facts.clock, facts.interval, day)
    elif facts.connected is None:
        reasons = ["never_inspected"]

        def base(day: date) -> bool:
            return day >= today
    elif not anniversary_passed(facts.connected, new_years, today) or facts.connected > today:
        reasons = ["new_installation"]

        def base(day: date) -> bool:
            assert facts.connected is not None
            return day >= facts.connected
    else:
        reasons = ["interval"]

        def base(day: date) -> bool:
            assert facts.connected is not None
            assert facts.interval is not None
            return anniversary_passed(facts.connected, facts.interval, day)

    if facts.use_changed is not None:
        reasons.append("changed_use")
    if facts.overdue_deadline is not None:
        reasons.append("overdue_finding")
    day = date(1985, 1, 1)
    while True:
        if (
            base(day)
            or (facts.use_changed is not None and day >= facts.use_changed)
            or (facts.overdue_deadline is not None and day >= facts.overdue_deadline)
        ):
            return day, reasons
        day += timedelta(days=1)


facts_strategy = st.builds(
    PlantFacts,
    in_service=st.booleans(),
    interval=st.none() | st.integers(min_value=1, max_value=40),
    connected=st.none() | DAYS,
    clock=st.none() | DAYS,
    use_changed=st.none() | DAYS,
    overdue_deadline=st.none() | DAYS,
)


@settings(max_examples=150, deadline=None)
@given(facts=facts_strategy, today=DAYS, new_years=st.integers(min_value=0, max_value=5))
def test_due_matches_the_calendar_walk(facts: PlantFacts, today: date, new_years: int) -> None:
    expected_day, expected_reasons = oracle(facts, today, new_years)
    found = due(facts, today=today, new_installation_years=new_years)
    assert found.due_date == expected_day
    assert list(found.reasons) == expected_reasons


@given(start=DAYS, years=st.integers(min_value=0, max_value=100))
def test_add_years_is_the_anniversary(start: date, years: int) -> None:
    moved = add_years(start, years)
    assert anniversary_passed(start, years, moved)
    assert not anniversary_passed(start, years, moved - timedelta(days=1))


def test_the_chain_has_no_way_out_of_closed_and_no_self_loops() -> None:
    assert TRANSITIONS["closed"] == frozenset()
    assert all(status not in targets for status, targets in TRANSITIONS.items())


def test_due_dates_for_many_equal_one_at_a_time(database: Database, tenant: Tenant) -> None:
    today = today_in_oslo()
    actor = Actor(instance_id=tenant.instance_id)
    mpids = [f"70705750000000{n:04d}" for n in range(6)]
    with database.write() as session:
        for n, mpid in enumerate(mpids):
            body = {
                "meteringPointId": mpid,
                "consumptionCode": 35,
                "industrialClassification": "98.200",
                "status": "Spenningsatt" if n != 5 else "Terminert",
                "connectedDate": f"{1990 + 6 * n}-02-28",
                "auditSpecificInfo": {"inspectionRate": 5 + n},
            }
            service_upsert_plant(session, actor, body, today=today)
        for n, mpid in enumerate(mpids[:3]):
            change = parse_valid_inspection(
                {"meteringPointId": mpid, "date": f"{2004 + 4 * n}-02-29", "kind": "periodic"},
                today=today,
            )
            service.record_inspection(session, tenant.instance_id, change, actor=actor)
    with database.read() as session:
        every = service.due_dates(session, tenant.instance_id, today=today)
        assert len(every) == 6
        for plant_id, item in every.items():
            alone = service.due_dates(
                session, tenant.instance_id, today=today, plant_ids=[plant_id]
            )
            assert alone[plant_id].due == item.due
        by_mpid = {item.metering_point_id: item for item in every.values()}
        assert by_mpid[mpids[0]].due_date == date(2009, 2, 28)
        assert by_mpid[mpids[5]].reasons == ("not_in_service",)
        status = service.inspection_status(
            session, tenant.instance_id, mpids[0], today=today
        ).model_dump()
        assert status["dueDate"] == "2009-02-28"
        assert status["lastInspection"] == {"date": "2004-02-29", "kind": "periodic"}
