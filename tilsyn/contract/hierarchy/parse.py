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
            resolve_location(
                net_station_in.location,
                net_station_in.coordinates,
                f"{net_station_path}.location",
                issues,
            ),
            None,
        )
    transformer = None
    if transformer_in is not None:
        transformer = ElementSpec(
            TRANSFORMER,
            transformer_in.name.strip(),
            _address(transformer_in.address),
            resolve_location(
                transformer_in.location,
                transformer_in.coordinates,
                f"{transformer_path}.location",
                issues,
            ),
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
        resolve_location(
            connection_point.location,
            connection_point.coordinates,
            "connectionPoint.location",
            issues,
        ),
        transformer,
    )
