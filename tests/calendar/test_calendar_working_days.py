"""The working-day calendar: schedules, unknown years, and the holidays package."""

from __future__ import annotations

import pickle
from datetime import date, timedelta

import chinese_calendar
import holidays
import pytest

from certflow.calendar import (
    ScheduleError,
    UnknownYear,
    WorkingCalendar,
    YearSchedule,
    package,
)
from certflow.calendar.package import official_years
from certflow.models import Problem

# Days on which chinesecalendar is known to be wrong, each checked against the
# State Council notice. The cross-check fails on any other disagreement, and also
# when one of these stops disagreeing (then the entry is stale and must go).
CHINESECALENDAR_ERRATA = {
    # 国办发明电〔2005〕35号 (the 2006 notice): "12月31日（星期六）上班".
    # chinesecalendar treats it as a rest day (upstream issue #125, still open).
    date(2005, 12, 31): True,
}


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [
        first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)
    ]


def test_package_years_are_the_official_ones_only() -> None:
    years = official_years()

    assert min(years) == 2001
    assert 2026 in years
    # The package computes 2027 by extrapolation; that must not count as known.
    assert len(holidays.country_holidays("CN", years=2027)) > 0
    assert 2027 not in years
    assert WorkingCalendar.from_holidays_package().known_years() == years


def test_asking_for_an_unofficial_year_from_the_package_is_refused() -> None:
    with pytest.raises(ValueError, match="2027"):
        WorkingCalendar.from_holidays_package([2026, 2027])


def test_the_package_is_read_once_and_each_caller_gets_its_own_schedules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every working-day question built the package's schedules of all its
    years anew, day by day: some 40 ms of the worker's event loop each time."""
    reads: list[object] = []

    def counted(*args: object, **kwargs: object) -> holidays.HolidayBase:
        reads.append(args)
        return holidays.country_holidays(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(package, "country_holidays", counted)
    package._official_schedules.cache_clear()
    try:
        first = package.package_schedules()
        first[-1].holidays.clear()  # a caller's change is the caller's own
        again = package.package_schedules([first[-1].year])
        WorkingCalendar.from_holidays_package()
    finally:
        package._official_schedules.cache_clear()

    assert len(reads) == 1
    assert again[0].holidays


def test_package_schedules_keep_the_package_status_of_every_day(
    package_calendar: WorkingCalendar,
) -> None:
    years = sorted(package_calendar.known_years())
    # Loaded with the year after, as a notice may swap days of the year before.
    reference = holidays.country_holidays("CN", years=[*years, years[-1] + 1])

    wrong = [
        day
        for year in years
        for day in days_of(year)
        if package_calendar.is_working_day(day) != reference.is_working_day(day)
    ]

    assert wrong == []


def test_holidays_package_and_chinesecalendar_agree_on_every_shared_year(
    package_calendar: WorkingCalendar,
) -> None:
    covered = list(chinese_calendar.holidays) + list(chinese_calendar.workdays)
    shared = package_calendar.known_years() & set(
        range(min(covered).year, max(covered).year + 1)
    )
    assert len(shared) >= 20, "the two packages should overlap for two decades"

    disagreements = {
        day: package_calendar.is_working_day(day)
        for year in sorted(shared)
        for day in days_of(year)
        if package_calendar.is_working_day(day) != chinese_calendar.is_workday(day)
    }

    unexplained = {
        d: w for d, w in disagreements.items() if d not in CHINESECALENDAR_ERRATA
    }
    assert not unexplained, "holidays package vs chinesecalendar (True = working): " + (
        ", ".join(
            f"{d.isoformat()} {w}/{not w}" for d, w in sorted(unexplained.items())
        )
    )
    assert disagreements == CHINESECALENDAR_ERRATA


def test_unknown_year_is_never_guessed(package_calendar: WorkingCalendar) -> None:
    with pytest.raises(UnknownYear) as raised:
        package_calendar.is_working_day(date(2027, 3, 1))

    assert raised.value.year == 2027
    assert "2027" in str(raised.value)
    assert "2027 年" in raised.value.message_zh


def test_working_days_before_counts_back_without_the_day_itself(
    package_calendar: WorkingCalendar,
) -> None:
    friday = date(2026, 3, 20)  # an ordinary week in 2026

    assert package_calendar.working_days_before(friday, 1) == date(2026, 3, 19)
    assert package_calendar.working_days_before(friday, 2) == date(2026, 3, 18)
    assert package_calendar.working_days_before(friday, 3) == date(2026, 3, 17)
    with pytest.raises(ValueError):
        package_calendar.working_days_before(friday, 0)


def test_working_days_before_stops_at_an_unknown_year(
    made_up_2027: YearSchedule,
) -> None:
    only_2027 = WorkingCalendar([made_up_2027])

    # 2027-01-01 is a holiday, so the walk leaves 2027 before finding a day.
    with pytest.raises(UnknownYear) as raised:
        only_2027.working_days_before(date(2027, 1, 4), 1)

    assert raised.value.year == 2026


def test_makeup_days_work_and_weekend_holidays_rest(
    package_calendar: WorkingCalendar,
) -> None:
    assert package_calendar.is_working_day(date(2026, 10, 10))  # Saturday, 调休
    assert not package_calendar.is_working_day(date(2026, 10, 6))  # Tuesday, holiday
    assert not package_calendar.is_working_day(date(2026, 10, 11))  # ordinary Sunday
    assert package_calendar.is_working_day(date(2026, 10, 9))  # ordinary Friday


def test_a_loaded_schedule_replaces_the_package_year(
    package_calendar: WorkingCalendar,
) -> None:
    extra_day = date(2026, 12, 31)  # a Thursday, a working day in the real 2026
    original = package_calendar.schedule_for(2026)
    changed = original.model_copy(
        update={"holidays": [*original.holidays, extra_day], "source": "test"}
    )

    replaced = package_calendar.with_schedule(changed)

    assert not replaced.is_working_day(extra_day)
    assert package_calendar.is_working_day(extra_day), "the original must not change"
    assert replaced.schedule_for(2026).source == "test"
    assert replaced.known_years() == package_calendar.known_years()


def test_adding_a_year_makes_it_known(
    package_calendar: WorkingCalendar, made_up_2027: YearSchedule
) -> None:
    extended = package_calendar.with_schedule(made_up_2027)

    assert extended.known_years() == package_calendar.known_years() | {2027}
    assert not extended.is_working_day(date(2027, 2, 8))  # made-up holiday, Monday
    assert extended.is_working_day(date(2027, 2, 20))  # made-up make-up Saturday


def test_two_schedules_for_one_year_are_refused(made_up_2027: YearSchedule) -> None:
    with pytest.raises(ValueError, match="2027"):
        WorkingCalendar([made_up_2027, made_up_2027])


def test_an_unsound_schedule_is_refused_with_chinese_reasons() -> None:
    unsound = YearSchedule(
        year=2027,
        holidays=[
            date(2027, 1, 1),
            date(2027, 1, 1),
            date(2027, 1, 2),
            date(2026, 12, 31),
        ],
        makeup_workdays=[date(2027, 1, 4), date(2027, 1, 2)],  # a Monday; a holiday
        source="test",
    )

    with pytest.raises(ScheduleError) as raised:
        WorkingCalendar([unsound])

    codes = sorted(problem.code for problem in raised.value.problems)
    assert codes == [
        "date_outside_year",
        "duplicate_holiday",
        "holiday_and_makeup",
        "makeup_not_weekend",
    ]
    assert "2027-01-04 是周一" in str(raised.value)


def test_errors_survive_a_pickle_round_trip() -> None:
    unknown = pickle.loads(pickle.dumps(UnknownYear(2027)))
    refused = pickle.loads(
        pickle.dumps(ScheduleError([Problem(code="no_holidays", message="没有放假日")]))
    )

    assert unknown.year == 2027
    assert "2027" in str(unknown)
    assert refused.problems[0].code == "no_holidays"
    # Said as a sentence, as every refusal of a schedule is.
    assert str(refused) == "没有放假日。"


def test_working_days_after_counts_on_over_holidays_and_makeup_days(
    package_calendar: WorkingCalendar,
) -> None:
    """The issuance repair's deadline is counted so: the days of a holiday
    are no working days, a weekend made a working day (调休) is one."""
    friday = date(2026, 3, 20)
    before_national_day = date(2026, 9, 30)

    assert package_calendar.working_days_after(friday, 1) == date(2026, 3, 23)
    assert package_calendar.working_days_after(friday, 3) == date(2026, 3, 25)
    # 1-7 October rest; Thursday 8, Friday 9 and Saturday 10 (调休) work.
    assert package_calendar.working_days_after(before_national_day, 3) == date(
        2026, 10, 10
    )
    with pytest.raises(UnknownYear) as raised:
        package_calendar.working_days_after(date(2026, 12, 30), 3)
    assert raised.value.year == 2027


def test_a_refused_schedule_says_each_problem_as_a_sentence() -> None:
    """Regression (review): the problems were joined with "；" after their own
    full stops, "…完整。；2028 年…"."""
    from certflow.calendar.schedule import ScheduleError, calendar_problem

    refused = ScheduleError(
        [calendar_problem("no_holidays", year=year) for year in (2027, 2028)]
    )

    assert "。；" not in str(refused)
    assert str(refused).count("。") == 2
