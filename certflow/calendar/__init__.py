"""China's working-day calendar and the date rules of publicity and payment.

Pure domain code: no database, no network. Schedules come from the ``holidays``
package for the years it knows officially, or from the State Council's notice (or
an administrator's file) for the years it does not know yet.
"""

from certflow.calendar.files import load_schedule_file
from certflow.calendar.notice import NoticeError, notice_year, parse_notice
from certflow.calendar.publicity import (
    PublicityWindow,
    correction_in_time,
    publicity_start_day,
    publicity_window,
    score_submission_deadline,
    years_needed,
)
from certflow.calendar.schedule import (
    ScheduleError,
    UnknownYear,
    WorkingCalendar,
    YearSchedule,
    check_schedule,
    holiday_periods,
    schedule_problems,
)

__all__ = [
    "NoticeError",
    "PublicityWindow",
    "ScheduleError",
    "UnknownYear",
    "WorkingCalendar",
    "YearSchedule",
    "check_schedule",
    "correction_in_time",
    "holiday_periods",
    "load_schedule_file",
    "notice_year",
    "parse_notice",
    "publicity_start_day",
    "publicity_window",
    "schedule_problems",
    "score_submission_deadline",
    "years_needed",
]
