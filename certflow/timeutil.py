"""Dates and instants in China Standard Time, where every deadline is counted."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta, timezone

# China has no daylight saving time; a fixed offset avoids shipping tzdata into
# the workflow sandbox and is exactly what Asia/Shanghai has been since 1991.
CST = timezone(timedelta(hours=8), name="CST")


# A date as people write it in Chinese documents and type it: 2026-11-04,
# 2026/11/4, 2026.11.04, 2026年11月4日 (year, month, day as three groups).
DATE_TEXT = r"([0-9]{4})\s*[-/.年]\s*([0-9]{1,2})\s*[-/.月]\s*([0-9]{1,2})\s*日?"
_DATE_TEXT = re.compile(DATE_TEXT)


def date_parts(text: str) -> tuple[int, int, int] | None:
    """The year, month and day ``text`` writes in a ``DATE_TEXT`` form, or None:
    a day that does not exist (2026-02-30) is told apart from no date at all."""
    found = _DATE_TEXT.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if found is None:
        return None
    year, month, day = (int(part) for part in found.groups())
    return year, month, day


def date_from_text(text: str) -> date | None:
    """The date ``text`` writes in one of the ``DATE_TEXT`` forms (full-width
    digits too), or None when it is not one or no such day exists."""
    found = _DATE_TEXT.fullmatch(unicodedata.normalize("NFKC", text).strip())
    if found is None:
        return None
    try:
        return date(*(int(part) for part in found.groups()))
    except ValueError:
        return None


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
