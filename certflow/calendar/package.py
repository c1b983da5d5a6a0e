"""Year schedules taken from the ``holidays`` package's China calendar.

The package computes China's holidays for any year, but only the years it encodes
from a State Council notice are official; for the others it extrapolates from the
fixed festival dates, without the year's 调休 swaps. Its China class says it is
checked against the notices from 2001 on, and it lists each notice's day swaps in
``ChinaStaticHolidays.special_public_holidays``, keyed by year: every notice since
2001 swaps at least one day, so those keys are exactly the official years.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from functools import cache
from importlib.metadata import version

from holidays import HolidayBase, country_holidays
from holidays.countries.china import ChinaStaticHolidays

from certflow.calendar.schedule import YearSchedule

# The package's China class: "Only checked with the official General Office of the
# State Council Notice from 2001 onwards."
FIRST_OFFICIAL_YEAR = 2001


def package_source() -> str:
    """Return the ``source`` text of schedules taken from the installed package."""
    return f"holidays-package {version('holidays')}"


def official_years() -> set[int]:
    """Return the years for which the package holds the State Council's schedule."""
    noticed = set(ChinaStaticHolidays.special_public_holidays)
    last = max(noticed)
    # A gap would mean the package's layout changed under us; refuse rather than
    # treat an extrapolated year as official.
    missing = set(range(FIRST_OFFICIAL_YEAR, last + 1)) - noticed
    if missing:
        raise RuntimeError(
            f"the holidays package lists no State Council swaps for {sorted(missing)}; "
            "its China data layout may have changed"
        )
    return set(range(FIRST_OFFICIAL_YEAR, last + 1))


def package_schedules(years: Iterable[int] | None = None) -> list[YearSchedule]:
    """Return the package's schedule of each requested official year (all if None).

    Asking for a year the package does not know officially raises ``ValueError``:
    a caller naming a year expects it, and silently leaving it out would surface
    much later as an ``UnknownYear``.
    """
    known = official_years()
    wanted = known if years is None else set(years)
    unofficial = wanted - known
    if unofficial:
        raise ValueError(
            f"the holidays package has no official China schedule for "
            f"{sorted(unofficial)}; it knows {min(known)}-{max(known)}"
        )

    # Copies: the schedules are the process's, the caller's may be changed.
    return [
        schedule.model_copy(deep=True)
        for schedule in _official_schedules()
        if schedule.year in wanted
    ]


@cache
def _official_schedules() -> tuple[YearSchedule, ...]:
    """Every official year's schedule, read from the package once a process.

    Reading them takes some 40 ms, on the worker's event loop at every
    working-day question, and the installed package does not change under a
    running process. A notice may move days of the year before (the 2002
    notice made 29 and 30 December 2001 working days): every year is read
    with the next one loaded.
    """
    known = sorted(official_years())
    china = country_holidays("CN", years=known)
    source = package_source()
    return tuple(_year_schedule(china, year, source) for year in known)


def _year_schedule(china: HolidayBase, year: int, source: str) -> YearSchedule:
    days_off: list[date] = []
    makeup: list[date] = []
    day = date(year, 1, 1)
    while day.year == year:
        working = china.is_working_day(day)
        if day.weekday() < 5 and not working:
            days_off.append(day)
        elif day.weekday() >= 5 and working:
            makeup.append(day)
        elif day.weekday() >= 5 and day in china:
            # A festival on a weekend: not a working day either way, but listing
            # it keeps the schedule close to the notice.
            days_off.append(day)
        day += timedelta(days=1)
    return YearSchedule(
        year=year, holidays=days_off, makeup_workdays=makeup, source=source
    )
