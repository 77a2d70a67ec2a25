"""Is a WGS84 point in Norway? Boxes with a margin from Kartverket's extreme points (§11.2)."""

from __future__ import annotations

from typing import Final, NamedTuple

from tilsyn.validation.findings import Finding

__all__ = ["NORWAY_BOXES", "Box", "coordinate_findings", "in_norway"]


class Box(NamedTuple):
    name: str
    south: float
    north: float
    west: float
    east: float

    def contains(self, latitude: float, longitude: float) -> bool:
        return self.south <= latitude <= self.north and self.west <= longitude <= self.east


NORWAY_BOXES: Final[tuple[Box, ...]] = (
    Box("mainland Norway", 57.9, 71.3, 4.4, 31.3),
    Box("Svalbard", 74.3, 80.9, 10.0, 33.7),
    Box("Jan Mayen", 70.7, 71.2, -9.2, -7.8),
)


def in_norway(latitude: float, longitude: float) -> bool:
    """Inside one of the boxes; NaN is never inside."""
    return any(box.contains(latitude, longitude) for box in NORWAY_BOXES)


def coordinate_findings(latitude: float, longitude: float) -> list[Finding]:
    """Only warnings: the range check ([-90, 90], [-180, 180]) is the caller's error.

    Swapped pairs are common (the seed's own hierarchy examples swap them), so they get their
    own code telling the integrator what to fix.
    """
    if in_norway(latitude, longitude):
        return []
    if in_norway(longitude, latitude):
        return [
            Finding(
                "coordinates_swapped",
                "Stored as sent, but latitude and longitude look swapped: the other way round, "
                "the point lies in Norway. Check the export's columns.",
            )
        ]
    return [
        Finding(
            "outside_norway",
            "The point lies outside mainland Norway, Svalbard and Jan Mayen.",
        )
    ]
