"""When a plant is due for inspection (SPEC §11): pure, no I/O, the same for one plant and a
million.

The facts about a plant (its status, effective interval, connection date, the inspection
that sets its clock, the changes of use and the overdue findings) are read in bulk by the
repository; this module turns them into a due date and the reasons for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

NOT_IN_SERVICE = "not_in_service"
NO_INTERVAL = "no_interval"
INTERVAL = "interval"
NEW_INSTALLATION = "new_installation"
NEVER_INSPECTED = "never_inspected"
CHANGED_USE = "changed_use"
OVERDUE_FINDING = "overdue_finding"

IN_SERVICE = "Spenningsatt"
CLOCK_KINDS = ("periodic", "new_installation")
"""The kinds of inspection that restart a plant's interval."""


def add_years(day: date, years: int) -> date:
    """``day`` moved by whole years; 29 February becomes 28 February in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


@dataclass(frozen=True, slots=True)
class PlantFacts:
    """What the due date depends on, as of the day it is computed for."""

    in_service: bool
    interval: int | None
    connected: date | None = None
    clock: date | None = None
    """Date of the latest periodic or new-installation inspection."""
    use_changed: date | None = None
    """The first change of consumption code or næringskode after the clock."""
    overdue_deadline: date | None = None
    """The earliest deadline of an unclosed nonconformity that has passed."""


@dataclass(frozen=True, slots=True)
class Due:
    due_date: date | None
    reasons: tuple[str, ...]


def first_use_change_after(changes: list[date], clock: date | None) -> date | None:
    """The first change of use after the clock (any change when there is no clock)."""
    after = [day for day in changes if clock is None or day > clock]
    return min(after) if after else None


def due(facts: PlantFacts, *, today: date, new_installation_years: int) -> Due:
    """The plant's due date and why, exactly as SPEC §11 lists the cases."""
    if not facts.in_service:
        return Due(None, (NOT_IN_SERVICE,))
    if facts.interval is None or facts.interval <= 0:
        return Due(None, (NO_INTERVAL,))
    if facts.clock is not None:
        due_date, reason = add_years(facts.clock, facts.interval), INTERVAL
    elif facts.connected is None:
        due_date, reason = today, NEVER_INSPECTED
    elif add_years(facts.connected, new_installation_years) > today:
        due_date, reason = facts.connected, NEW_INSTALLATION
    else:
        due_date, reason = add_years(facts.connected, facts.interval), INTERVAL
    reasons = [reason]
    if facts.use_changed is not None:
        reasons.append(CHANGED_USE)
        due_date = min(due_date, facts.use_changed)
    if facts.overdue_deadline is not None:
        reasons.append(OVERDUE_FINDING)
        due_date = min(due_date, facts.overdue_deadline)
    return Due(due_date, tuple(reasons))
