"""Publicity, correction cut-off, payment and score submission days (4.1-4.2).

The worked examples are the ones docs/calendar.md walks through by hand.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from certflow.calendar import (
    PublicityWindow,
    UnknownYear,
    WorkingCalendar,
    YearSchedule,
    correction_in_time,
    publicity_window,
    score_submission_deadline,
    years_needed,
)
from certflow.timeutil import CST, cst_date, end_of_day, start_of_day


def cst(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=CST)


def window(start: str, end: str, cutoff: str, payment: str) -> PublicityWindow:
    return PublicityWindow(
        start_day=date.fromisoformat(start),
        end_day=date.fromisoformat(end),
        cutoff_day=date.fromisoformat(cutoff),
        payment_deadline_day=date.fromisoformat(payment),
    )


def test_score_submission_ends_with_e_plus_15() -> None:
    assert score_submission_deadline(date(2026, 9, 13)) == date(2026, 9, 28)
    assert score_submission_deadline(date(2026, 12, 20)) == date(2027, 1, 4)


@pytest.mark.parametrize(
    ("exam_end", "confirmed", "expected"),
    [
        pytest.param(
            date(2026, 3, 1) - timedelta(days=11),  # 2026-02-18
            cst("2026-03-01T09:00"),
            window("2026-03-06", "2026-03-20", "2026-03-17", "2026-04-04"),
            id="ordinary-weeks-friday-end-tuesday-cutoff",
        ),
        pytest.param(
            date(2026, 9, 13),
            cst("2026-09-25T10:00"),
            window("2026-09-29", "2026-10-13", "2026-10-09", "2026-10-28"),
            id="end-after-national-day-makeup-saturday-counts",
        ),
        pytest.param(
            date(2026, 1, 25),
            cst("2026-02-05T16:20"),
            window("2026-02-10", "2026-02-24", "2026-02-12", "2026-03-11"),
            id="across-spring-festival",
        ),
        pytest.param(
            date(2026, 6, 1),
            cst("2026-06-20T15:30"),
            window("2026-06-21", "2026-07-05", "2026-07-01", "2026-07-20"),
            id="confirmed-after-e-plus-16-start-shifts",
        ),
        pytest.param(
            date(2026, 6, 1),
            datetime(2026, 6, 20, 17, 30, tzinfo=UTC),  # 2026-06-21 01:30 CST
            window("2026-06-22", "2026-07-06", "2026-07-01", "2026-07-21"),
            id="confirmation-day-is-the-cst-day",
        ),
        pytest.param(
            date(2026, 6, 1),
            cst("2026-06-16T23:59:59"),
            window("2026-06-17", "2026-07-01", "2026-06-26", "2026-07-16"),
            id="confirmed-just-before-e-plus-16",
        ),
        pytest.param(
            date(2026, 6, 1),
            cst("2026-06-17T00:00"),
            window("2026-06-18", "2026-07-02", "2026-06-29", "2026-07-17"),
            id="confirmed-at-the-start-of-e-plus-16",
        ),
    ],
)
def test_worked_examples_2026(
    exam_end: date,
    confirmed: datetime,
    expected: PublicityWindow,
    package_calendar: WorkingCalendar,
) -> None:
    assert publicity_window(exam_end, confirmed, package_calendar) == expected
    assert years_needed(exam_end, confirmed) == {2026}


def test_the_makeup_saturday_moves_the_cutoff(
    package_calendar: WorkingCalendar,
) -> None:
    # Without the 调休 Saturday 10 October the 3rd working day back from Tuesday
    # 13 October would be Thursday 8 October.
    schedule = package_calendar.schedule_for(2026)
    without = schedule.model_copy(
        update={
            "makeup_workdays": [d for d in schedule.makeup_workdays if d.month != 10]
        }
    )
    confirmed = cst("2026-09-25T10:00")

    changed = publicity_window(
        date(2026, 9, 13), confirmed, package_calendar.with_schedule(without)
    )

    assert changed.cutoff_day == date(2026, 10, 8)


def test_a_request_on_the_cutoff_day_is_accepted_and_later_refused(
    package_calendar: WorkingCalendar,
) -> None:
    result = publicity_window(
        date(2026, 9, 13), cst("2026-09-25T10:00"), package_calendar
    )

    assert correction_in_time(result, cst("2026-10-09T23:59:59"))
    assert correction_in_time(result, datetime(2026, 10, 9, 15, 59, tzinfo=UTC))
    assert not correction_in_time(result, cst("2026-10-10T00:00"))
    assert not correction_in_time(result, datetime(2026, 10, 9, 16, 0, tzinfo=UTC))


def test_2027_is_unknown_until_loaded_then_computed(
    package_calendar: WorkingCalendar, made_up_2027: YearSchedule
) -> None:
    exam_end, confirmed = date(2027, 1, 16), cst("2027-01-30T11:00")
    assert years_needed(exam_end, confirmed) == {2027}
    with pytest.raises(UnknownYear) as raised:
        publicity_window(exam_end, confirmed, package_calendar)
    assert raised.value.year == 2027

    loaded = package_calendar.with_schedule(made_up_2027)

    # The made-up Spring Festival holiday (5-12 February) pushes the cut-off back.
    assert publicity_window(exam_end, confirmed, loaded) == window(
        "2027-02-01", "2027-02-15", "2027-02-02", "2027-03-02"
    )


def test_a_window_across_new_year_needs_both_years(
    package_calendar: WorkingCalendar, made_up_2027: YearSchedule
) -> None:
    exam_end, confirmed = date(2026, 12, 10), cst("2026-12-20T09:00")
    assert years_needed(exam_end, confirmed) == {2026, 2027}
    with pytest.raises(UnknownYear):
        publicity_window(exam_end, confirmed, package_calendar)

    loaded = package_calendar.with_schedule(made_up_2027)

    assert publicity_window(exam_end, confirmed, loaded) == window(
        "2026-12-26", "2027-01-09", "2027-01-06", "2027-01-24"
    )


def test_naive_instants_are_refused(package_calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        publicity_window(date(2026, 6, 1), datetime(2026, 6, 20, 12), package_calendar)


def test_years_needed_suffice_for_every_exam_end_of_the_official_years(
    package_calendar: WorkingCalendar,
) -> None:
    restricted: dict[frozenset[int], WorkingCalendar] = {}
    day, last = date(min(package_calendar.known_years()), 1, 1), date(2026, 12, 1)

    while day <= last:
        confirmed = start_of_day(day + timedelta(days=3))
        years = frozenset(years_needed(day, confirmed))
        if years <= package_calendar.known_years():
            calendar = restricted.setdefault(
                years, WorkingCalendar(package_calendar.schedule_for(y) for y in years)
            )
            assert publicity_window(day, confirmed, calendar) == publicity_window(
                day, confirmed, package_calendar
            ), day
        day += timedelta(days=1)


# Properties over every official year.

ZONES = [CST, UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=14))]


@settings(max_examples=400, deadline=None)
@given(
    exam_end=st.dates(min_value=date(2001, 1, 1), max_value=date(2026, 11, 15)),
    delay=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=45)),
    zone=st.sampled_from(ZONES),
)
def test_publicity_properties(
    exam_end: date, delay: timedelta, zone: timezone, package_calendar: WorkingCalendar
) -> None:
    confirmed = (start_of_day(exam_end) + delay).astimezone(zone)
    assume(years_needed(exam_end, confirmed) <= package_calendar.known_years())

    result = publicity_window(exam_end, confirmed, package_calendar)
    start, end, cutoff = result.start_day, result.end_day, result.cutoff_day

    # 15 whole days, none before E+16 or before the confirmation, none wasted.
    assert (end - start).days + 1 == 15
    assert start >= exam_end + timedelta(days=16)
    assert start_of_day(start) > confirmed or start_of_day(start) == start_of_day(
        exam_end + timedelta(days=16)
    )
    # A later confirmation opens the day after its CST day, even at 00:00 sharp.
    assert start == exam_end + timedelta(days=16) or start - timedelta(
        days=1
    ) == cst_date(confirmed)

    # The cut-off is the 3rd working day before the end day, the end day not
    # counted: a working day, strictly before the end, with exactly 2 working
    # days strictly between them; it falls inside the publicity period.
    assert package_calendar.is_working_day(cutoff)
    assert cutoff < end
    between = package_calendar.working_days_between(
        cutoff + timedelta(days=1), end - timedelta(days=1)
    )
    assert between == 2
    assert start <= cutoff

    assert result.payment_deadline_day == end + timedelta(days=15)
    assert correction_in_time(result, end_of_day(cutoff) - timedelta(microseconds=1))
    assert not correction_in_time(result, end_of_day(cutoff))


@settings(max_examples=400, deadline=None)
@given(
    day=st.dates(min_value=date(2001, 3, 1), max_value=date(2026, 12, 31)),
    n=st.integers(min_value=1, max_value=20),
)
def test_working_days_before_properties(
    day: date, n: int, package_calendar: WorkingCalendar
) -> None:
    result = package_calendar.working_days_before(day, n)

    assert result < day
    assert package_calendar.is_working_day(result)
    assert package_calendar.working_days_between(result, day - timedelta(days=1)) == n
