"""The date rules of score submission, publicity and payment (PROCESS.md 4.1-4.2).

``E`` is the exam end date. Days are CST calendar days; a deadline "day D" ends at
23:59:59 CST of D, i.e. an action is on time strictly before ``end_of_day(D)``.

- Score submission (4.1.3/4.1.4): until the end of E+15.
- Publicity (4.1.7): starts at the later of the start of E+16 and the moment the
  info center confirmed the score upload. If the confirmation comes before E+16
  starts, the first publicity day S is E+16; otherwise S is the day after the
  confirmation's CST day, so candidates always get 15 whole days. The last day is
  S+14.
- Correction cut-off: the 3rd working day before the publicity end day, the end
  day itself not counted; requests filed on the cut-off day are accepted.
- Payment (4.2.1/4.2.2): until the end of (publicity end day + 15), calendar days.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from certflow.calendar.schedule import WorkingCalendar
from certflow.models import Model
from certflow.timeutil import cst_date, end_of_day, start_of_day

SCORE_SUBMISSION_DAYS = 15
PUBLICITY_OFFSET_DAYS = 16
PUBLICITY_DAYS = 15
CUTOFF_WORKING_DAYS = 3
PAYMENT_DAYS = 15


class PublicityWindow(Model):
    """成绩公示期: the publicity period of one exam plan and the days that follow it.

    Every field is a CST calendar day; each period ends at 23:59:59 CST of its day.
    ``cutoff_day`` is the last day a correction request is accepted.
    """

    start_day: date
    end_day: date
    cutoff_day: date
    payment_deadline_day: date


def score_submission_deadline(exam_end: date) -> date:
    """Return the last day of score submission: E+15."""
    return exam_end + timedelta(days=SCORE_SUBMISSION_DAYS)


def publicity_start_day(exam_end: date, upload_confirmed_at: datetime) -> date:
    """Return the first publicity day S for a score upload confirmed at that instant.

    A confirmation strictly before 00:00 CST of E+16 gives S = E+16; any later one,
    even at exactly midnight, gives the day after the confirmation's CST day.
    """
    if upload_confirmed_at.tzinfo is None:
        raise ValueError("upload_confirmed_at must be timezone-aware")

    earliest = exam_end + timedelta(days=PUBLICITY_OFFSET_DAYS)
    if upload_confirmed_at < start_of_day(earliest):
        return earliest
    return cst_date(upload_confirmed_at) + timedelta(days=1)


def publicity_window(
    exam_end: date, upload_confirmed_at: datetime, calendar: WorkingCalendar
) -> PublicityWindow:
    """Return the publicity window; raises ``UnknownYear`` if the cut-off needs one."""
    start = publicity_start_day(exam_end, upload_confirmed_at)
    end = start + timedelta(days=PUBLICITY_DAYS - 1)
    return PublicityWindow(
        start_day=start,
        end_day=end,
        cutoff_day=calendar.working_days_before(end, CUTOFF_WORKING_DAYS),
        payment_deadline_day=end + timedelta(days=PAYMENT_DAYS),
    )


def correction_in_time(window: PublicityWindow, filed_at: datetime) -> bool:
    """Return whether a correction request filed at ``filed_at`` is accepted.

    Accepted until 23:59:59 CST of the cut-off day; later requests are refused.
    """
    if filed_at.tzinfo is None:
        raise ValueError("filed_at must be timezone-aware")
    return filed_at < end_of_day(window.cutoff_day)


def years_needed(exam_end: date, upload_confirmed_at: datetime) -> set[int]:
    """Return the years whose schedule ``publicity_window`` will consult.

    The cut-off search walks back from the day before the end day; within 15
    days there are always 3 working days in every official schedule so far, so
    the walk stays inside the publicity period and only its years are asked.
    """
    start = publicity_start_day(exam_end, upload_confirmed_at)
    end = start + timedelta(days=PUBLICITY_DAYS - 1)
    return {start.year, end.year}
