"""The ``plans`` row says what the plan's status says of its deadlines.

Those who report from SQL read ``overdue`` and ``next_deadline`` there. They
were written only with the stage (trial): a plan past its submission deadline
read ``overdue = false, next_deadline = NULL``, and one whose payment stage
opened its duties after the stage was written read no next deadline while
``certflow status`` showed it.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from certflow.actions import PlanStatus
from certflow.config import DeadlinePolicy
from certflow.models import Stage
from certflow.timeutil import end_of_day
from tests.support import PlanDriver

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]

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


async def runs_of(driver: PlanDriver) -> int:
    """How many runs the plan's workflow has had (each continue-as-new adds one)."""
    runs, run_id = 0, None
    while True:
        runs += 1
        handle = driver.client.get_workflow_handle(driver.h.id, run_id=run_id)
        async for event in handle.fetch_history_events():
            started = event.workflow_execution_started_event_attributes
            run_id = started.continued_execution_run_id or None
            break
        if run_id is None:
            return runs


# One run throughout, and a run per action (each the last of its run: the new
# run writes the row at its start).
@pytest.mark.parametrize("update_limit", [1000, 1])
async def test_the_row_follows_the_submission_deadline_and_its_passing(
    make_driver: Any, resources: Any, update_limit: int
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY, update_limit=update_limit)
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
    assert await runs_of(driver) >= (6 if update_limit == 1 else 1)


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
    # With CERTFLOW_RECORD_HISTORIES=1, the run is kept for the replay test
    # where none is: the first recorded keeping the row's deadlines.
    path = Path(__file__).parent / "histories" / "exam-plan-row-deadlines.json"
    if os.environ.get("CERTFLOW_RECORD_HISTORIES") and not path.exists():
        history = await driver.h.fetch_history()
        path.write_text(history.to_json(), encoding="utf-8")


async def events_of_run_taking(driver: PlanDriver, update: str) -> list[str]:
    """The events of the run that took the update named ``update``, by kind,
    with the activity type of each activity scheduled."""
    run_id: str | None = None
    while True:
        handle = driver.client.get_workflow_handle(driver.h.id, run_id=run_id)
        events: list[str] = []
        took = False
        async for event in handle.fetch_history_events():
            kind = str(event.WhichOneof("attributes")).removesuffix("_event_attributes")
            if event.HasField("workflow_execution_started_event_attributes"):
                started = event.workflow_execution_started_event_attributes
                run_id = started.continued_execution_run_id or None
            if event.HasField("workflow_execution_update_accepted_event_attributes"):
                accepted = event.workflow_execution_update_accepted_event_attributes
                took = took or accepted.accepted_request.input.name == update
            if event.HasField("activity_task_scheduled_event_attributes"):
                scheduled = event.activity_task_scheduled_event_attributes
                kind = f"{kind}:{scheduled.activity_type.name}"
            events.append(kind)
        if took:
            return events
        assert run_id is not None, f"no run took {update}"


async def test_a_runs_last_action_leaves_the_row_to_the_next_run(
    make_driver: Any, resources: Any
) -> None:
    """Regression: the run taking its last action (its update limit) wrote
    the row's new deadlines, and waited for the write before continuing as
    new; a status query sent in that wait was never answered on the test
    server (every run of a plan continuing as new after each action). The
    run's last action asks no write of the row: it continues as new when the
    action is answered, and the new run writes the row at its start."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY, update_limit=1)
    await driver.submit_everything()
    status = await driver.wait_for(
        lambda s: s.stage is Stage.CONSISTENCY_REVIEW and bool(s.owed)
    )
    assert await row_matches(pool, status) == (False, None)

    events = await events_of_run_taking(driver, "confirm_score_summary")
    after = events[events.index("workflow_execution_update_accepted") :]
    assert "activity_task_scheduled:record_deadlines" not in after
    # A patch first asked at the hand-over (``bounded-carry``) records its
    # marker and upserts TemporalChangeVersion there: commands of the same
    # task, nothing the run waits for.
    waited_for = [
        e
        for e in after
        if e not in ("upsert_workflow_search_attributes", "marker_recorded")
    ]
    assert waited_for[-2:] == [
        "workflow_execution_update_completed",
        "workflow_execution_continued_as_new",
    ]
