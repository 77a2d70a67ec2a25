"""The plant merge is pure: stored state + change → document, diff and warnings, no database."""

from __future__ import annotations

from datetime import date
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.seed_api import make_mpid, minimal_plant
from tilsyn.contract.plants.merge import ConnectionPointRef, PlantMerge, StoredPlant, merge_plant
from tilsyn.contract.plants.parse import PlantChange, parse_plant

TODAY = date(2025, 6, 1)

days = st.dates(min_value=date(1950, 1, 1), max_value=TODAY)
companies = st.integers(min_value=1, max_value=999_999)
points = st.one_of(
    st.none(),
    st.builds(ConnectionPointRef, st.integers(1, 5), st.sampled_from(["CP-1", "CP-2", None])),
)


@st.composite
def changes(draw: st.DrawFn) -> PlantChange:
    """A valid plant body, parsed: the fields merging treats specially, and a few others."""
    fields: dict[str, Any] = {
        "description": draw(st.one_of(st.none(), st.text("abcæøå 1", max_size=20))),
        "status": draw(st.sampled_from([None, "Spenningsatt", "Inaktivt", "Terminert"])),
        "consumptionCode": draw(st.sampled_from([1, 23, 35, "1a"])),
    }
    if connected := draw(st.one_of(st.none(), days)):
        fields["connectedDate"] = connected.isoformat()
    if company := draw(st.one_of(st.none(), companies)):
        fields["builtByElCompanyId"] = company
    if draw(st.booleans()):
        fields["address"] = {"addressText": "Testveien 8", "postalCode": "0485"}
    change, issues = parse_plant(minimal_plant(make_mpid(7), **fields), today=TODAY)
    assert change is not None, issues.errors
    return change


def stored_from(merged: PlantMerge, point: ConnectionPointRef | None) -> StoredPlant:
    """The plant as the repository reads it back after storing ``merged``."""
    document = merged.document
    connected = document["connectedDate"]
    return StoredPlant(
        data=document,
        connected_date=date.fromisoformat(connected) if connected else None,
        built_by_el_company_id=document["builtByElCompanyId"],
        connection_point=point,
    )


@given(change=changes(), point=points)
def test_a_new_plant_stores_the_change_as_sent(
    change: PlantChange, point: ConnectionPointRef | None
) -> None:
    merged = merge_plant(None, change, connection_point=point)
    sent = change.connected_date
    assert merged.document["connectedDate"] == (sent.isoformat() if sent else None)
    assert merged.document["builtByElCompanyId"] == change.document["builtByElCompanyId"]
    assert merged.warnings == ()
    assert ("connectionPoint" in merged.diff) == (point is not None)


@given(change=changes(), point=points, first_point=points, first=changes())
def test_merging_a_change_onto_its_own_result_changes_nothing(
    change: PlantChange,
    point: ConnectionPointRef | None,
    first_point: ConnectionPointRef | None,
    first: PlantChange,
) -> None:
    stored = stored_from(merge_plant(None, first, connection_point=first_point), first_point)
    merged = merge_plant(stored, change, connection_point=point)
    again = merge_plant(stored_from(merged, point), change, connection_point=point)
    assert again.diff == {}
    # A later date sent again is kept out again, with the same notice; nothing else warns.
    assert again.warnings == merged.warnings
    assert again.document == merged.document


@given(first=changes(), point=points, stored_date=days, stored_company=companies)
def test_an_absent_date_and_builder_keep_the_stored_ones(
    first: PlantChange, point: ConnectionPointRef | None, stored_date: date, stored_company: int
) -> None:
    stored = StoredPlant(
        data=first.document | {"connectedDate": stored_date.isoformat()},
        connected_date=stored_date,
        built_by_el_company_id=stored_company,
        connection_point=point,
    )
    change, _ = parse_plant(minimal_plant(make_mpid(7)), today=TODAY)
    assert change is not None
    merged = merge_plant(stored, change, connection_point=point)
    assert merged.document["connectedDate"] == stored_date.isoformat()
    assert merged.document["builtByElCompanyId"] == stored_company
    assert merged.warnings == ()
    assert "connectionPoint" not in merged.diff


@given(change=changes(), stored_date=days)
def test_the_connected_date_moves_earlier_never_later(
    change: PlantChange, stored_date: date
) -> None:
    stored = StoredPlant(
        data=change.document | {"connectedDate": stored_date.isoformat()},
        connected_date=stored_date,
        built_by_el_company_id=None,
        connection_point=None,
    )
    merged = merge_plant(stored, change, connection_point=None)
    sent = change.connected_date
    expected = min(stored_date, sent) if sent else stored_date
    assert merged.document["connectedDate"] == expected.isoformat()
    later = sent is not None and sent > stored_date
    assert [w.code for w in merged.warnings] == (["connected_date_kept"] if later else [])
    assert all(not w.plausibility for w in merged.warnings)


@given(change=changes(), before=points, after=points)
def test_a_connection_point_change_is_in_the_diff(
    change: PlantChange, before: ConnectionPointRef | None, after: ConnectionPointRef | None
) -> None:
    stored = stored_from(merge_plant(None, change, connection_point=before), before)
    merged = merge_plant(stored, change, connection_point=after)
    moved = (before.id if before else None) != (after.id if after else None)
    assert merged.diff == (
        {"connectionPoint": [before.name if before else None, after.name if after else None]}
        if moved
        else {}
    )
