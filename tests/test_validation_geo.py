"""Coordinates inside Norway, Svalbard or Jan Mayen; swapped pairs are recognised."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tilsyn.validation.findings import Finding
from tilsyn.validation.geo import coordinate_findings


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (59.911491, 10.757933),  # Oslo, the seed's example
        (57.959, 7.0),  # Pysen, southernmost
        (71.186, 25.67),  # Knivskjellodden
        (70.39, 31.169),  # Hornøya, easternmost
        (60.0, 4.499),  # Holmebåen, westernmost
        (78.22, 15.65),  # Longyearbyen
        (74.43, 19.0),  # Bjørnøya
        (70.98, -8.5),  # Jan Mayen
    ],
)
def test_inside(lat: float, lon: float) -> None:
    assert coordinate_findings(lat, lon) == []


def test_seed_hierarchy_example_is_swapped() -> None:
    """The seed writes ``"Longitude": 59.911491, "Latitude": 10.757933``."""
    assert codes(coordinate_findings(10.757933, 59.911491)) == ["coordinates_swapped"]


@pytest.mark.parametrize(
    ("lat", "lon"),
    [(52.52, 13.40), (55.68, 12.57), (0.0, 0.0), (-33.9, 18.4), (90.0, 180.0), (64.0, -20.0)],
)
def test_outside(lat: float, lon: float) -> None:
    assert codes(coordinate_findings(lat, lon)) == ["outside_norway"]


def test_boxes_are_coarse() -> None:
    """Stockholm lies inside the mainland box: the check catches gross errors only."""
    assert coordinate_findings(59.33, 18.07) == []


def test_not_a_number_is_outside() -> None:
    assert codes(coordinate_findings(math.nan, math.nan)) == ["outside_norway"]


@given(
    st.floats(min_value=-90, max_value=90, allow_nan=False),
    st.floats(min_value=-180, max_value=180, allow_nan=False),
)
def test_never_raises_and_gives_at_most_one_finding(lat: float, lon: float) -> None:
    findings = coordinate_findings(lat, lon)
    assert len(findings) <= 1
    assert set(codes(findings)) <= {"coordinates_swapped", "outside_norway"}


@given(
    st.floats(min_value=57.9, max_value=71.3),
    st.floats(min_value=4.4, max_value=31.3),
)
def test_mainland_box_is_accepted_and_swap_detected(lat: float, lon: float) -> None:
    assert coordinate_findings(lat, lon) == []
    assert codes(coordinate_findings(lon, lat)) == ["coordinates_swapped"]
