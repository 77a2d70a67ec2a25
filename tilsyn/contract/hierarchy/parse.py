"""A grid hierarchy chain as sent with a plant: the elements to write, with their positions.

Pure parsing (no database): the server's plant upsert and the sync client's dry run both
read a chain with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tilsyn.contract.hierarchy.schemas import (
    ConnectionPointIn,
    CoordinatesIn,
    ElementAddressIn,
    LocationIn,
    NetStationIn,
    TransformerIn,
)
from tilsyn.contract.problems import Issues, join_path
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
        where = join_path(path.rpartition(".")[0], "coordinates")
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
    transformer_in, net_station_in = _upper_sources(
        connection_point, flat_transformer, flat_net_station, issues
    )
    net_station = None
    if net_station_in is not None:
        net_station = _spec(NET_STATION, *net_station_in, None, issues)
    transformer = None
    if transformer_in is not None:
        transformer = _spec(TRANSFORMER, *transformer_in, net_station, issues)
    if connection_point is None:
        return transformer if transformer is not None else net_station
    return _spec(CONNECTION_POINT, connection_point, CONNECTION_POINT, transformer, issues)


def _upper_sources(
    connection_point: ConnectionPointIn | None,
    flat_transformer: TransformerIn | None,
    flat_net_station: NetStationIn | None,
    issues: Issues,
) -> tuple[tuple[TransformerIn, str] | None, tuple[NetStationIn, str] | None]:
    """The transformer and the net station sent, each with its path in the body.

    The nested form wins: a flat transformer beside ``connectionPoint.transformer`` is ignored
    (with a warning), and a transformer's own ``netStation`` beats a flat one.
    """
    nested = connection_point.transformer if connection_point is not None else None
    transformer: tuple[TransformerIn, str] | None = None
    if nested is not None:
        transformer = (nested, "connectionPoint.transformer")
    elif flat_transformer is not None:
        transformer = (flat_transformer, "transformer")
    if nested is not None and flat_transformer is not None and flat_transformer is not nested:
        issues.warn(
            "transformer",
            "ignored_duplicate",
            "was ignored because connectionPoint.transformer was sent",
            plausibility=False,
        )
    net_station = (flat_net_station, "netStation") if flat_net_station is not None else None
    if transformer is not None and transformer[0].netStation is not None:
        net_station = (transformer[0].netStation, f"{transformer[1]}.netStation")
    return transformer, net_station


def _spec(
    kind: str,
    source: ConnectionPointIn | TransformerIn | NetStationIn,
    path: str,
    parent: ElementSpec | None,
    issues: Issues,
) -> ElementSpec:
    """One element as sent; problems with its position are reported under ``path``."""
    location = resolve_location(source.location, source.coordinates, f"{path}.location", issues)
    return ElementSpec(kind, source.name.strip(), _address(source.address), location, parent)
