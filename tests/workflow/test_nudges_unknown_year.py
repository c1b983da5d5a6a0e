"""A nudge's count that reaches a year the calendar does not know counts
calendar days there, as every working-day count does: the nudge comes sooner,
never later, and nothing is guessed.

Its own module: the test moves the module's clock to late 2027, so that a
count runs into 2028, which no schedule covers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from activities.calendar import CalendarActivities
from certflow.calendar import UnknownYear
from certflow.plan import Duty
from certflow.timeutil import CST, end_of_day
from starter.smtp_sink import body_text
from tests.support import PlanDriver, mails_of
from tests.workflow.test_nudges import alarms_of, only_the_payment_check_waits, owed

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]
HOUR = timedelta(hours=1)
# The exam ends on a Saturday of late 2027: the site pays on Tuesday
# 2027-12-21, when the payment stage opens, and the second nudge's count runs
# past 2027-12-31.
EXAM_END = datetime(2027, 11, 20, 10, tzinfo=CST)


async def test_a_nudge_counted_into_an_unknown_year_counts_calendar_days(
    make_driver: Any, env: Any, resources: Any, sink_messages: Any
) -> None:
    now = await env.get_current_time()
    if now >= EXAM_END:
        pytest.skip("the module's clock is already past late 2027")
    await env.sleep(EXAM_END - now)  # no plan runs yet: nothing fires
    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    since = await only_the_payment_check_waits(driver)

    pool, _ = resources
    calendar = await CalendarActivities(pool).calendar()
    first = calendar.working_days_after(since, 5)  # in 2027: working days
    with pytest.raises(UnknownYear):
        calendar.working_days_after(first, 5)  # into 2028: no schedule
    second = first + timedelta(days=5)
    assert second.year == 2028

    await driver.skip_to(end_of_day(first) + HOUR)
    await mails_of(sink_messages, plan_id, "alarm_nudge")
    await driver.skip_to(end_of_day(second) - HOUR)
    assert len(await alarms_of(sink_messages, plan_id)) == 1
    waited = owed(await driver.status(), Duty.PAYMENT_CHECK).working_days_waited
    assert waited == 9  # the days of 2028 counted as they come, every day

    await driver.skip_to(end_of_day(second) + HOUR)
    nudges = await mails_of(sink_messages, plan_id, "alarm_nudge", count=2)
    assert "至今已 10 个工作日" in body_text(nudges[1])
    status = await driver.status()
    assert not status.overdue
    assert owed(status, Duty.PAYMENT_CHECK).nudges_sent == 2
