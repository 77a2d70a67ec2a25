"""The sentence a person reads beside each plan item: why this plant, why this day."""

from __future__ import annotations

from tilsyn.inspections.due import (
    CHANGED_USE,
    NEVER_INSPECTED,
    NEW_INSTALLATION,
    NO_INTERVAL,
    NOT_IN_SERVICE,
    OVERDUE_FINDING,
)
from tilsyn.inspections.service import PlantDue

_KIND_WORDS = {"periodic": "periodic", "new_installation": "new-installation"}


def explanation(item: PlantDue) -> str:
    facts = item.facts
    reasons = item.reasons
    if NOT_IN_SERVICE in reasons:
        return "Not in service (status is not Spenningsatt); not due"
    if NO_INTERVAL in reasons:
        return "No inspection interval: no inspectionRate sent and no rule gives one; never due"
    parts: list[str] = []
    if facts.clock is not None:
        kind = _KIND_WORDS.get(item.clock_kind or "", "periodic")
        parts += [f"Last {kind} inspection {facts.clock}", f"interval {facts.interval} years"]
    elif NEW_INSTALLATION in reasons:
        parts.append(f"Never inspected; new installation connected {facts.connected}")
    elif NEVER_INSPECTED in reasons:
        parts.append("Never inspected and no connection date")
    else:
        parts += [
            f"Never inspected; connected {facts.connected}",
            f"interval {facts.interval} years",
        ]
    if CHANGED_USE in reasons:
        parts.append(f"use changed {facts.use_changed}")
    if OVERDUE_FINDING in reasons:
        parts.append(f"a nonconformity's deadline {facts.overdue_deadline} has passed")
    parts.append(f"due {item.due_date}")
    return "; ".join(parts)
