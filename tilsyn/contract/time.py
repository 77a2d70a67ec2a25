"""Dates as the grid companies see them: the calendar day in Norway."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")


def today_in_oslo() -> date:
    return datetime.now(OSLO).date()


def utc_now() -> datetime:
    return datetime.now(UTC)
