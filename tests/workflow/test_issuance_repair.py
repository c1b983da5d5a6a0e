"""The repair the tech dept owes when a plan's certificates are held up: it is
due some working days after issuance stopped, and reminded and escalated to
the general manager as any duty with a deadline, until issued again."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import workflow

from activities.calendar import CalendarActivities
from certflow.actions import SimpleAction
from certflow.certificates import FONT_ENV
from certflow.models import Stage
from certflow.plan import Duty
from certflow.timeutil import end_of_day
from starter.smtp_sink import body_text
from tests.support import TECH, PlanDriver, mails_of, own_worker
from workflows import ExamPlanWorkflow
from workflows.exam_plan import BLOCKED_TOLD_ONCE

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]
wf = ExamPlanWorkflow
REPAIR = Duty.ISSUANCE_REPAIR


async def test_a_held_up_issuance_is_reminded_and_escalated_until_issued_again(
    make_driver: Any,
    resources: Any,
    sink_messages: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Regression: the repair had no deadline, so a plan whose certificates
    nobody could issue waited without a reminder, and nobody above the tech
    dept heard of it. Due 3 working days on, it is reminded before and, once
    late, told to the tech dept and the general manager."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.approve_with_the_font(
        sink_messages, tmp_path / "gone.ttc", monkeypatch
    )
    status = await driver.wait_for(lambda s: s.issuance_blocked is not None)
    [owed] = [o for o in status.owed if o.duty == REPAIR]
    today = await driver.today()

    # Three working days after today, today not counted.
    assert owed.deadline_day is not None
    calendar = await CalendarActivities(pool).calendar()
    assert calendar.is_working_day(owed.deadline_day)
    after = today + timedelta(days=1)
    assert calendar.working_days_between(after, owed.deadline_day) == 3
    deadline = end_of_day(owed.deadline_day)

    plan_id = driver.plan.plan_id
    await driver.skip_to(deadline - timedelta(days=3) + timedelta(hours=1))
    [reminder] = await mails_of(sink_messages, plan_id, "alarm_reminder")
    assert "tech@" in str(reminder["To"]) and "gm@" not in str(reminder["To"])
    assert "排除证书暂缓发放或无法发放的原因" in body_text(reminder)

    await driver.skip_to(deadline + timedelta(hours=1))
    await mails_of(sink_messages, plan_id, "alarm_reminder", count=2)
    [overdue] = await mails_of(sink_messages, plan_id, "alarm_overdue")
    assert "tech@" in str(overdue["To"]) and "gm@" in str(overdue["To"])
    status = await driver.status()
    assert status.overdue and status.stage == Stage.ISSUANCE

    monkeypatch.delenv(FONT_ENV)
    again = await driver.h.execute_update(wf.issue_again, SimpleAction(actor=TECH))
    assert again.accepted, again.message
    status = await driver.status()
    assert status.stage == Stage.ISSUED and not status.overdue
    assert not any(o.duty == REPAIR for o in status.owed)
    # Issued: no further notice, though the repeat interval passes.
    await driver.skip(3)
    repeated = [
        m
        for m in sink_messages()
        if m["X-Certflow-Plan"] == plan_id
        and m["X-Certflow-Template"] == "alarm_overdue_repeat"
    ]
    assert repeated == []


async def test_a_plan_blocked_again_before_the_upgrade_is_not_told_again_after_it(
    make_driver: Any,
    resources: Any,
    sink_messages: Any,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Upgrade trial: a plan whose issue-again the release before answered
    blocked as before (mailing the tech dept again, as it did each time) was
    taken over by this release, and every later issue-again blocked as
    before mailed the notice anew: the patch, decided no on replaying that
    issue-again, stayed no for the rest of the run. The release before is
    this code with the patch answering no and recording nothing; a worker
    with no cache replays each task, as one does after a deploy."""
    real = workflow.patched

    def before_the_patch(patch_id: str) -> bool:
        return False if patch_id.startswith(BLOCKED_TOLD_ONCE) else real(patch_id)

    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    async with own_worker(driver, resources, max_cached_workflows=0):
        monkeypatch.setattr(workflow, "patched", before_the_patch)
        await driver.approve_with_the_font(
            sink_messages, tmp_path / "gone.ttc", monkeypatch
        )
        await driver.wait_for(lambda s: s.issuance_blocked is not None)
        again = await driver.h.execute_update(wf.issue_again, SimpleAction(actor=TECH))
        assert not again.accepted
        assert (
            len(await mails_of(sink_messages, plan_id, "issuance_blocked", count=2))
            == 2
        )

        # This release takes the plan over: blocked as before, no mail.
        monkeypatch.setattr(workflow, "patched", real)
        for _ in range(2):
            again = await driver.h.execute_update(
                wf.issue_again, SimpleAction(actor=TECH)
            )
            assert not again.accepted
        await asyncio.sleep(1)
        assert (
            len(await mails_of(sink_messages, plan_id, "issuance_blocked", count=2))
            == 2
        )
