"""A duty's nudges count the working days it has waited this time.

The rules of ``certflow.plan`` alone, no workflow: a duty owed again once
done (a payment check a batch sends back) is nudged from its reopening.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from certflow.config import DeadlinePolicy
from certflow.plan import Duty, PlanState, next_nudge_wake, take_due_nudge
from certflow.timeutil import CST, end_of_day
from tests.support import FINANCE, sample_plan

HOUR = timedelta(hours=1)


def test_a_duty_reopened_waits_and_is_nudged_from_its_reopening() -> None:
    """A payment check a batch sends back is the same duty owed again: its
    nudges count from when it was reopened, not from its first opening."""
    opened = datetime(2026, 12, 21, 10, tzinfo=CST)
    state = PlanState(
        info=sample_plan(date(2026, 11, 4), "P2026-1104-0412"),
        policy=DeadlinePolicy(),
        started_at=opened,
    )
    check = state.open_duty(Duty.PAYMENT_CHECK, opened)
    check.nudge_days = [date(2026, 12, 22), date(2026, 12, 23)]
    nudged = end_of_day(date(2026, 12, 23))
    first_ends = end_of_day(date(2026, 12, 22))
    # The plan wakes at the end of each working day counted, to show it.
    assert next_nudge_wake(check, opened) == first_ends
    assert next_nudge_wake(check, first_ends) == nudged
    assert check.working_days_waited(first_ends) == 1
    assert take_due_nudge(check, nudged - HOUR) is None
    assert take_due_nudge(check, nudged) is not None
    assert (check.days_waited, check.nudge_mails) == (2, 1)
    state.close_duty(Duty.PAYMENT_CHECK.value, nudged, FINANCE)

    reopened = opened + timedelta(days=30)
    again = state.open_duty(Duty.PAYMENT_CHECK, reopened)
    assert again is check and again.waiting_since == reopened
    assert again.working_days_waited(reopened) is None
    assert (again.days_waited, again.nudge_days) == (0, [])
