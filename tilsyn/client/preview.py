"""What an upsert would do, predicted from the server's GET and the server's own rules.

The prediction runs the body through the same ``parse_customer``/``parse_plant`` the server
runs, builds the document the server would store, applies the rules the server applies on
write, and compares with what the server's GET shows now:

- a customer is stored exactly as sent (``customer_document``): fully predictable;
- a plant's ``connectedDate`` is protected (never cleared or moved later, with a warning),
  ``builtByElCompanyId`` is kept when absent, ``auditSpecificInfo`` values not sent are
  derived by the instance's rules (only explicit values are compared), the customer sent
  again while in force changes nothing;
- grid elements are shared: an element change is predicted for the first row (in export
  order) that makes it, as a sequential run would; a concurrent run may attribute it to
  another row that sends the same element.

What the GET cannot show, the dry run cannot predict: a customer change dated in the future
(the GET shows today's customer, not pending ones) is reported as an update with a note.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from tilsyn.contract.customers.merge import customer_document
from tilsyn.contract.customers.parse import parse_customer
from tilsyn.contract.diffs import diff_documents
from tilsyn.contract.hierarchy.parse import CONNECTION_POINT, ElementSpec
from tilsyn.contract.plants.merge import (
    AUDIT_FIELDS,
    address_view,
    consumption_code_out,
    merged_document,
)
from tilsyn.contract.plants.parse import parse_plant
from tilsyn.contract.problems import Issue, Issues

WOULD_CREATE = "would-create"
WOULD_UPDATE = "would-update"
UNCHANGED = "unchanged"


@dataclass
class Prediction:
    result: str
    diff: dict[str, list[Any]] = field(default_factory=dict)
    warnings: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _client_issues(issues: Issues, *, synthetic_ok: bool) -> list[Issue]:
    issues.apply_strictness(False, synthetic_ok=synthetic_ok)
    return [Issue(i.field, i.code, i.message) for i in issues.warnings]


def predict_customer(
    body: dict[str, Any], current: dict[str, Any] | None, *, today: date, synthetic_ok: bool
) -> Prediction:
    customer, issues = parse_customer(body, today=today)
    if customer is None or issues.errors:
        raise ValueError("only valid bodies can be predicted")
    warnings = _client_issues(issues, synthetic_ok=synthetic_ok)
    if current is None:
        return Prediction(WOULD_CREATE, warnings=warnings)
    diff = diff_documents(current, customer_document(customer))
    return Prediction(WOULD_UPDATE if diff else UNCHANGED, diff, warnings)


@dataclass
class _Element:
    address: tuple[str | None, str | None]
    location: tuple[float | None, float | None]
    parent: str | None


class HierarchyModel:
    """Grid elements as the GETs showed them, then as the rows before would leave them."""

    def __init__(self) -> None:
        self._elements: dict[tuple[str, str], _Element] = {}

    def learn(self, view: dict[str, Any] | None) -> None:
        """Take the elements of a plant's GET ``connectionPoint``; what is known stays."""
        chain: list[tuple[str, dict[str, Any] | None]] = []
        if view is not None:
            transformer = view.get("transformer")
            net_station = transformer.get("netStation") if transformer else None
            chain = [
                ("netStation", net_station),
                ("transformer", transformer),
                (CONNECTION_POINT, view),
            ]
        parent: str | None = None
        for kind, element in chain:
            if element is None:
                parent = None
                continue
            address = element.get("address") or {}
            location = element.get("location") or {}
            self._elements.setdefault(
                (kind, element["name"]),
                _Element(
                    (address.get("addressText"), address.get("postalCode")),
                    (location.get("latitude"), location.get("longitude")),
                    parent,
                ),
            )
            parent = element["name"]

    def apply(self, spec: ElementSpec) -> list[str]:
        """Write a chain as the server would; what it changes, named for a report."""
        changes: list[str] = []
        if spec.parent is not None:
            changes += self.apply(spec.parent)
        parent = spec.parent.name if spec.parent is not None else None
        key = (spec.kind, spec.name)
        element = self._elements.get(key)
        if element is None:
            self._elements[key] = _Element(
                spec.address or (None, None), spec.location or (None, None), parent
            )
            return [*changes, f"{spec.kind} {spec.name}: new"]
        if spec.address is not None and element.address != spec.address:
            changes.append(f"{spec.kind} {spec.name}: address")
            element.address = spec.address
        if spec.location is not None and element.location != spec.location:
            changes.append(f"{spec.kind} {spec.name}: location")
            element.location = spec.location
        if parent is not None and element.parent != parent:
            changes.append(f"{spec.kind} {spec.name}: moved under {parent}")
            element.parent = parent
        return changes


def _stored_audit(view: dict[str, Any]) -> dict[str, Any]:
    audit = view.get("auditSpecificInfo") or {}
    source = audit.get("source") or {}
    return {
        name: audit.get(name) if source.get(name) == "explicit" else None for name in AUDIT_FIELDS
    }


def predict_plant(
    body: dict[str, Any],
    current: dict[str, Any] | None,
    *,
    today: date,
    synthetic_ok: bool,
    hierarchy: HierarchyModel,
) -> Prediction:
    change, issues = parse_plant(body, today=today)
    if change is None or issues.errors:
        raise ValueError("only valid bodies can be predicted")
    element_changes = hierarchy.apply(change.chain) if change.chain is not None else []
    if current is None:
        return Prediction(WOULD_CREATE, warnings=_client_issues(issues, synthetic_ok=synthetic_ok))

    stored_date = current.get("connectedDate")
    document, kept = merged_document(
        change,
        connected_date=date.fromisoformat(stored_date) if stored_date else None,
        built_by=current.get("builtByElCompanyId"),
    )
    issues.warnings.extend(kept)
    document["consumptionCode"] = consumption_code_out(document["consumptionCode"])
    document["address"] = address_view(document["address"])
    before = {name: current.get(name) for name in document}
    before["auditSpecificInfo"] = _stored_audit(current)
    diff = diff_documents(before, document)

    notes: list[str] = []
    current_cp = current.get("connectionPoint")
    current_cp_name = current_cp.get("name") if current_cp else None
    sent_cp = change.chain.name if change.chain and change.chain.kind == CONNECTION_POINT else None
    if current_cp_name != sent_cp:
        diff["connectionPoint"] = [current_cp_name, sent_cp]
    if element_changes:
        diff["hierarchy"] = [None, "; ".join(element_changes)]

    start = change.customer_from or today
    if start > today:
        diff["customerId"] = [current.get("customerId"), change.customer]
        notes.append(
            f"a customer change from {start.isoformat()} cannot be predicted: "
            "the GET does not show pending changes"
        )
    elif current.get("customerId") != change.customer:
        diff["customerId"] = [current.get("customerId"), change.customer]
    warnings = _client_issues(issues, synthetic_ok=synthetic_ok)
    return Prediction(WOULD_UPDATE if diff else UNCHANGED, diff, warnings, notes)


def plant_body_from_view(view: dict[str, Any]) -> dict[str, Any]:
    """A plant's GET turned into the upsert that keeps it as it is.

    Derived ``auditSpecificInfo`` values stay derived (only explicit ones are sent), the
    customer in force is sent again (which changes nothing, pending changes included), and
    ``extensions`` are left to the builtby endpoint.
    """
    body = {
        name: value
        for name, value in view.items()
        if name not in {"extensions", "auditSpecificInfo", "customerChangeFrom"}
    }
    explicit = {k: v for k, v in _stored_audit(view).items() if v is not None}
    if explicit:
        body["auditSpecificInfo"] = explicit
    return body
