"""The ``plans`` row says what the plan's status says of its deadlines.

Those who report from SQL read ``overdue`` and ``next_deadline`` there. They
were written only with the stage (trial): a plan past its submission deadline
read ``overdue = false, next_deadline = NULL``, and one whose payment stage
opened its duties after the stage was written read no next deadline while
``certflow status`` showed it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from certflow.actions import PlanStatus
from certflow.config import DeadlinePolicy
from certflow.models import Stage
from certflow.timeutil import end_of_day
from tests.support import PlanDriver

pytestmark = [
    pytest.mark.asyncio(loop_scope="session"),
    pytest.mark.timeout(180),
    # The row's deadlines between stage changes are withdrawn (see
    # ExamPlanWorkflow._keeps_row): these tests come back with them.
    pytest.mark.skip(reason="plan-row deadline writes withdrawn before release"),
]

POLICY = DeadlinePolicy(
    remind_before=[timedelta(days=3), timedelta(days=1)],
    overdue_repeat=timedelta(days=2),
)


async def row_matches(pool: Any, status: PlanStatus) -> tuple[bool, datetime | None]:
    """The row's ``overdue`` and ``next_deadline`` once they equal ``status``'s
    (the row is written beside the plan: up to 10 s); fails with the last."""
    seen: tuple[bool, datetime | None] = (False, None)
    for _ in range(100):
        row = await pool.fetchrow(
            "SELECT overdue, next_deadline FROM plans WHERE plan_id = $1",
            status.plan_id,
        )
        seen = (row["overdue"], row["next_deadline"])
        if seen == (status.overdue, status.next_deadline):
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"row says {seen}, status {(status.overdue, status.next_deadline)}"
    )


async def test_the_row_follows_the_submission_deadline_and_its_passing(
    make_driver: Any, resources: Any
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY)
    deadline = end_of_day(driver.plan.exam_end_date + timedelta(days=15))

    status = await driver.wait_for(lambda s: s.next_deadline is not None)
    assert await row_matches(pool, status) == (False, deadline)

    await driver.skip_to(deadline + timedelta(hours=1))
    status = await driver.wait_for(lambda s: s.overdue)
    assert await row_matches(pool, status) == (True, deadline)

    # Done late: nothing owed by then is overdue, and the review has no deadline.
    await driver.submit_everything()
    status = await driver.wait_for(lambda s: s.stage is Stage.CONSISTENCY_REVIEW)
    status = await driver.wait_for(lambda s: bool(s.owed))
    assert await row_matches(pool, status) == (False, None)


async def test_the_row_holds_the_payment_deadline_opened_after_the_stage(
    make_driver: Any, resources: Any
) -> None:
    """Regression: the row read ``next_deadline = NULL`` through the payment
    stage, its duties opened after the stage was written, while status showed
    the payment deadline."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    status = await driver.reach_payment(POLICY)
    assert status.publicity is not None
    status = await driver.wait_for(lambda s: s.next_deadline is not None)

    assert status.next_deadline == end_of_day(status.publicity.payment_deadline_day)
    assert await row_matches(pool, status) == (False, status.next_deadline)
