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


def normalise(periods: list[Period]) -> list[Period]:
    """Sorted, without a customerless period at the start and without a period that only
    repeats the customer of the one before it."""
    out: list[Period] = []
    for period in sorted(periods):
        if period.customer != (out[-1].customer if out else None):
            out.append(period)
    return out


def apply_customer_change(
    periods: list[Period], customer: str | None, start: date, *, today: date | None = None
) -> list[Period] | None:
    """The periods after a change to ``customer`` from ``start``; None when nothing changes.

    Sending the customer in force ``today`` again changes nothing when the change is dated
    today or earlier, whatever the date (a client that resends the date the customer moved in
    must not rewrite history each time). Any other change replaces the periods from ``start``
    on: a future one cancels a pending change to another customer, a past one replaces the
    periods that followed it. A customer continuing from the period before is one period.
    """
    if today is not None and start <= today:
        current = in_force(periods, today)
        if (current.customer if current else None) == customer:
            return None
    before = normalise(periods)
    kept = [period for period in before if period.valid_from < start]
    after = normalise([*kept, Period(start, customer)])
    return None if after == before else after
