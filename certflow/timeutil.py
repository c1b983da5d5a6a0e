"""Dates and instants in China Standard Time, where every deadline is counted."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

# China has no daylight saving time; a fixed offset avoids shipping tzdata into
# the workflow sandbox and is exactly what Asia/Shanghai has been since 1991.
CST = timezone(timedelta(hours=8), name="CST")


def cst_date(instant: datetime) -> date:
    """Return the calendar date in China Standard Time of an aware instant."""
    return instant.astimezone(CST).date()


def start_of_day(day: date) -> datetime:
    """Return 00:00:00 CST of ``day`` as an aware instant."""
    return datetime.combine(day, time(0, 0), tzinfo=CST)


def end_of_day(day: date) -> datetime:
    """Return the first instant after ``day`` ends in CST (00:00 of the next day).

    "Within N days of D" means until 23:59:59 of D + N; an action is on time when
    it happens strictly before ``end_of_day(D + N)``.
    """
    return start_of_day(day + timedelta(days=1))


def format_cst(instant: datetime) -> str:
    """Format an instant for people: ``2026-11-19 23:59`` in CST."""
    return instant.astimezone(CST).strftime("%Y-%m-%d %H:%M")


def format_deadline(day: date) -> str:
    """Format the last day of a deadline as staff read it."""
    return f"{day.isoformat()} 23:59:59"
