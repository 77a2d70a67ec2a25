"""Customer periods of a plant: who is the customer from which date (SPEC §5, §10).

A period runs from its ``valid_from`` until the next period starts; ``customer`` None means
the plant has no customer in that period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, order=True)
class Period:
    valid_from: date
    customer: str | None


def in_force(periods: list[Period], day: date) -> Period | None:
    """The period in force on ``day``: the latest that started on or before it."""
    current = None
    for period in sorted(periods):
        if period.valid_from <= day:
            current = period
        else:
            break
    return current


def apply_customer_change(
    periods: list[Period], customer: str | None, start: date
) -> list[Period] | None:
    """The periods after a change to ``customer`` from ``start``; None when nothing changes.

    Sending the customer already in force on that date changes nothing; any other change
    replaces the periods from ``start`` on.
    """
    current = in_force(periods, start)
    current_customer = current.customer if current else None
    if current_customer == customer:
        return None
    kept = [period for period in sorted(periods) if period.valid_from < start]
    return [*kept, Period(start, customer)]
