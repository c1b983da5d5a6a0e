"""Year schedules of the State Council and the working-day calendar built on them.

A day is a working day when it is Monday to Friday and not an official holiday, or
when it is a listed make-up working day (调休). A year whose schedule is not loaded
is never guessed: asking about one of its days raises ``UnknownYear``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import date, timedelta

from certflow.i18n import t
from certflow.models import Model, Problem
from certflow.text import sentences

# Monday..Sunday as staff read them; used in reasons addressed to people.
WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


class YearSchedule(Model):
    """One year's official holiday schedule (放假调休安排) as the calendar uses it.

    ``holidays`` are the official days off, weekend days inside a holiday range
    included; ``makeup_workdays`` are the weekend days worked instead (调休上班).
    Every date lies in ``year``. ``source`` says where the schedule came from, e.g.
    ``holidays-package 0.109`` or ``notice:<sha256 prefix>``.
    """

    year: int
    holidays: list[date]
    makeup_workdays: list[date]
    source: str


class UnknownYear(Exception):
    """Raised when a date falls in a year whose schedule is not loaded.

    The message is English for logs; ``message_zh`` is the text for staff.
    """

    def __init__(self, year: int) -> None:
        # Only the year goes into args, so the exception pickles and round-trips.
        super().__init__(year)
        self.year = year

    def __str__(self) -> str:
        return (
            f"no working-day schedule is loaded for {self.year}; load the State "
            f"Council notice for {self.year} before computing dates in that year"
        )

    @property
    def message_zh(self) -> str:
        """Return the reason in Chinese, for staff screens and e-mails."""
        return t("calendar.unknown_year", year=self.year)


class ScheduleError(ValueError):
    """Raised when a schedule (a notice text or an admin's file) is refused.

    ``problems`` holds every reason found, in Chinese, so the administrator can fix
    the file in one pass; the exception text joins them.
    """

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems

    def __str__(self) -> str:
        # Each a sentence: never "…完整。；2028 年…".
        return sentences(problem.render() for problem in self.problems)


def calendar_problem(code: str, *, row: int | None = None, **fields: object) -> Problem:
    """Return the problem ``code`` with its Chinese text from the catalogue."""
    return Problem(code=code, message=t(f"calendar.{code}", **fields), row=row)


def is_weekend(day: date) -> bool:
    """Return whether ``day`` is a Saturday or a Sunday."""
    return day.weekday() >= 5


def holiday_periods(schedule: YearSchedule) -> list[tuple[date, date]]:
    """The year's holiday periods, first and last day, as the notice counts them.

    A period is a holiday with the days off next to it (weekend days not worked
    instead), within the year: the notice's "1月1日至3日放假调休，共3天". The
    schedule need not list those weekend days: the ``holidays`` package lists the
    official days only, so counting its list (22 days for 2026) disagrees with
    the notice (33); the periods agree with it.
    """
    year, off, worked = (
        schedule.year,
        set(schedule.holidays),
        set(schedule.makeup_workdays),
    )

    def resting(day: date) -> bool:
        return (
            day.year == year and day not in worked and (day in off or is_weekend(day))
        )

    periods: list[tuple[date, date]] = []
    for holiday in sorted(off):
        if periods and periods[-1][0] <= holiday <= periods[-1][1]:
            continue
        first = last = holiday
        while resting(first - timedelta(days=1)):
            first -= timedelta(days=1)
        while resting(last + timedelta(days=1)):
            last += timedelta(days=1)
        periods.append((first, last))
    return periods


def schedule_problems(schedule: YearSchedule) -> list[Problem]:
    """Return every reason ``schedule`` cannot be used, empty when it is sound."""
    found: list[Problem] = []
    year = schedule.year
    holidays, makeup = schedule.holidays, schedule.makeup_workdays

    if not holidays:
        found.append(calendar_problem("no_holidays", year=year))
    outside = sorted({d for d in (*holidays, *makeup) if d.year != year})
    found.extend(outside_year(first, last, year) for first, last in _runs(outside))
    for code, days in (("duplicate_holiday", holidays), ("duplicate_makeup", makeup)):
        for day, count in sorted(Counter(days).items()):
            if count > 1:
                found.append(calendar_problem(code, day=day, count=count))
    for day in sorted({d for d in makeup if not is_weekend(d)}):
        weekday = WEEKDAY_NAMES[day.weekday()]
        found.append(calendar_problem("makeup_not_weekend", day=day, weekday=weekday))
    for day in sorted(set(holidays) & set(makeup)):
        found.append(calendar_problem("holiday_and_makeup", day=day))
    return found


def outside_year(first: date, last: date, year: int, row: int | None = None) -> Problem:
    """The days ``first`` to ``last`` are not of ``year``: one day, or a run
    of them said as one range with its length (never one line a day)."""
    if first == last:
        return calendar_problem("date_outside_year", row=row, day=first, year=year)
    days = (last - first).days + 1
    return calendar_problem(
        "dates_outside_year", row=row, first=first, last=last, days=days, year=year
    )


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted ``days`` as runs of consecutive days, first and last of each: a
    range of another year is said once, not day by day."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and day - runs[-1][1] == timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def check_schedule(schedule: YearSchedule) -> YearSchedule:
    """Return ``schedule`` unchanged, or raise ``ScheduleError`` with every reason."""
    problems = schedule_problems(schedule)
    if problems:
        raise ScheduleError(problems)
    return schedule


class _Year:
    """The lookup form of one schedule: sets instead of lists."""

    __slots__ = ("holidays", "makeup_workdays", "schedule")

    def __init__(self, schedule: YearSchedule) -> None:
        self.schedule = schedule
        self.holidays = frozenset(schedule.holidays)
        self.makeup_workdays = frozenset(schedule.makeup_workdays)


class WorkingCalendar:
    """Answers which days are working days, for the years whose schedule is known.

    Immutable: ``with_schedule`` returns a new calendar, so a calendar handed to a
    computation never changes under it. Holds no I/O and imports nothing heavy, so
    workflow code may use it with schedules passed in from an activity.
    """

    def __init__(self, schedules: Iterable[YearSchedule]) -> None:
        years: dict[int, _Year] = {}
        for schedule in schedules:
            if schedule.year in years:
                raise ValueError(
                    f"two schedules given for {schedule.year}; use with_schedule() "
                    "to replace one"
                )
            years[schedule.year] = _Year(check_schedule(schedule))
        self._years = years

    @classmethod
    def from_holidays_package(
        cls, years: Iterable[int] | None = None
    ) -> WorkingCalendar:
        """Build a calendar from the ``holidays`` package's official China schedules.

        Only years the package encodes from a State Council notice are included
        (see ``certflow.calendar.package.official_years``); asking for any other
        year raises ``UnknownYear`` rather than taking the package's extrapolation.
        """
        # Imported here so that workflow code importing this module does not pull
        # the holidays package into the sandbox.
        from certflow.calendar.package import package_schedules

        return cls(package_schedules(years))

    def with_schedule(self, schedule: YearSchedule) -> WorkingCalendar:
        """Return a calendar where ``schedule`` replaces whatever its year had."""
        others = (s for s in self.schedules() if s.year != schedule.year)
        return WorkingCalendar([*others, schedule])

    def known_years(self) -> set[int]:
        """Return the years whose schedule this calendar holds."""
        return set(self._years)

    def schedules(self) -> list[YearSchedule]:
        """Return the schedules held, by year, e.g. to store or pass to a workflow."""
        return [self._years[year].schedule for year in sorted(self._years)]

    def schedule_for(self, year: int) -> YearSchedule:
        """Return the schedule of ``year``, or raise ``UnknownYear``."""
        return self._year(year).schedule

    def is_working_day(self, day: date) -> bool:
        """Return whether ``day`` is a working day; raise ``UnknownYear`` if unknown."""
        year = self._year(day.year)
        if day in year.makeup_workdays:
            return True
        if day in year.holidays:
            return False
        return not is_weekend(day)

    def working_days_before(self, day: date, n: int) -> date:
        """Return the ``n``-th working day before ``day``, ``day`` itself not counted.

        With ordinary weeks, the 3rd working day before a Friday is the Tuesday.
        Raises ``UnknownYear`` as soon as the count reaches an unknown year.
        """
        return self._nth_working_day(day, n, timedelta(days=-1))

    def working_days_after(self, day: date, n: int) -> date:
        """Return the ``n``-th working day after ``day``, ``day`` itself not counted.

        With ordinary weeks, the 3rd working day after a Friday is the
        Wednesday. Raises ``UnknownYear`` as soon as the count reaches an
        unknown year.
        """
        return self._nth_working_day(day, n, timedelta(days=1))

    def _nth_working_day(self, day: date, n: int, step: timedelta) -> date:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")

        found = 0
        for candidate in _days_from(day + step, step):
            if self.is_working_day(candidate):
                found += 1
                if found == n:
                    return candidate
        raise AssertionError("unreachable: the day walk ends only by returning")

    def working_days_between(self, first: date, last: date) -> int:
        """Return how many working days lie in ``first`` .. ``last``, both included."""
        count = 0
        day = first
        while day <= last:
            count += self.is_working_day(day)
            day += timedelta(days=1)
        return count

    def _year(self, year: int) -> _Year:
        try:
            return self._years[year]
        except KeyError:
            raise UnknownYear(year) from None


def _days_from(day: date, step: timedelta) -> Iterator[date]:
    # Endless on purpose: the walk stops at the n-th working day, or at the first
    # day of an unknown year, which raises; every known year has working days.
    while True:
        yield day
        day += step
