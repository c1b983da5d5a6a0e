"""The info center's duty to apply an approved correction has a deadline.

An approved correction is the info center's to apply by the publicity end day,
and no sooner than 3 working days after the approval (configured,
``correction_apply_working_days``): reminded before, and once late the info
center and the general manager are told, as for any duty. The tech dept's
sign-off waits for it: its notices and its line in ``status`` name the request
and who owes it, and go to the info center too.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from activities.calendar import CalendarActivities
from certflow.actions import CorrectionApply, CorrectionDecision, SimpleAction
from certflow.i18n import t
from certflow.models import Stage
from certflow.plan import Duty
from certflow.timeutil import end_of_day, format_deadline
from starter.cli import render_status
from starter.smtp_sink import body_text
from tests.support import (
    INFO,
    MANAGER,
    TECH,
    PlanDriver,
    correction_request,
    mails_of,
    refusal_text,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]
wf = ExamPlanWorkflow
APPLY = Duty.CORRECTION_APPLY


async def filed_in_publicity(driver: PlanDriver) -> str:
    """Start the plan, open its publicity and file one request; its number."""
    await driver.reach_publicity()
    await driver.open_publicity()
    filed = await driver.h.execute_update(
        wf.submit_correction,
        correction_request("2026110412012", "practical", "60.10"),
    )
    assert filed.accepted and filed.reference, filed.message
    return str(filed.reference)


async def approve(driver: PlanDriver, request_id: str) -> None:
    decided = await driver.h.execute_update(
        wf.decide_correction,
        CorrectionDecision(actor=MANAGER, request_id=request_id, approve=True),
    )
    assert decided.accepted, decided.message


def holding(request_id: str, deadline: str) -> str:
    """The open request as the org sign-off it holds names it."""
    return t(
        "plan.correction_holding",
        request_id=request_id,
        owner=t("roles.info_center"),
        duty=t("duties.correction_apply"),
        deadline=t("plan.holding_deadline", deadline=deadline),
    )


async def test_an_approved_correction_is_due_from_the_info_center_and_named_when_late(
    make_driver: Any, sink_messages: Any
) -> None:
    """Regression (staff trial): the regional manager approved C001 and the
    info center never applied it. Its line in status read ``— 0/0``, nobody
    reminded it, and at the payment deadline the tech dept and the general
    manager were told the tech dept's sign-off was overdue, though it was
    refused until the info center applied C001."""
    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    request_id = await filed_in_publicity(driver)
    await approve(driver, request_id)

    # Approved on the first publicity day: due on its last.
    status = await driver.status()
    window = status.publicity
    assert window is not None
    [owed] = [o for o in status.owed if o.duty == APPLY]
    assert owed.owner == "info_center" and owed.deadline_day == window.end_day
    assert owed.label == t(
        "plan.owed_with_ref", duty=t("duties.correction_apply"), ref=request_id
    )
    due = format_deadline(window.end_day)
    [row] = [line for line in render_status(status) if owed.label in line]
    assert due in row and "0/0" in row
    [approved] = await mails_of(sink_messages, plan_id, "correction_approved")
    assert t("mail.correction_approved.due", deadline=due) in body_text(approved)

    deadline = end_of_day(window.end_day)
    await driver.skip_to(deadline - timedelta(days=3) + timedelta(hours=1))
    [reminder] = await mails_of(sink_messages, plan_id, "alarm_reminder")
    assert "info-center@" in str(reminder["To"]) and "gm@" not in str(reminder["To"])
    assert f"“{owed.label}”" in body_text(reminder)

    # Publicity ends with the request approved and not applied: late, the
    # general manager told, and counted in the payment stage's opening mail.
    await driver.skip_to(deadline + timedelta(hours=1))
    status = await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    [overdue] = await mails_of(sink_messages, plan_id, "alarm_overdue")
    assert "info-center@" in str(overdue["To"]) and "gm@" in str(overdue["To"])
    assert f"“{owed.label}”" in body_text(overdue)
    [opened] = await mails_of(sink_messages, plan_id, "payment_opened")
    assert "尚有 1 份成绩修改申请待办结" in body_text(opened)
    status = await driver.wait_for(
        lambda s: any(o.duty == APPLY and o.escalations_sent for o in s.owed)
    )
    [owed] = [o for o in status.owed if o.duty == APPLY]
    assert owed.overdue and (owed.reminders_sent, owed.escalations_sent) == (2, 1)

    # The tech dept's sign-off names what holds it, in its refusal and status.
    named = holding(request_id, due)
    refused = await refusal_text(
        driver.h.execute_update(wf.org_signoff, SimpleAction(actor=TECH))
    )
    assert refused == "corrections_open: " + t(
        "plan.corrections_open", count=1, corrections=named
    )
    [signoff] = [o for o in status.owed if o.duty == Duty.ORG_SIGNOFF]
    assert signoff.label == t(
        "plan.owed_held_by", duty=t("duties.org_signoff"), corrections=named
    )

    # At the payment deadline its overdue notice says so, to the info center too.
    await driver.skip_to(end_of_day(window.payment_deadline_day) + timedelta(hours=1))
    [notice] = await mails_of(
        sink_messages, plan_id, "alarm_overdue", subject_holding=t("duties.org_signoff")
    )
    assert all(
        f"{role}@" in str(notice["To"]) for role in ("tech", "gm", "info-center")
    )
    assert t("mail.alarm_held", corrections=named) in body_text(notice)

    applied = await driver.h.execute_update(
        wf.apply_correction, CorrectionApply(actor=INFO, request_id=request_id)
    )
    assert applied.accepted and applied.late, applied.message
    signed = await driver.h.execute_update(wf.org_signoff, SimpleAction(actor=TECH))
    assert signed.accepted, signed.message


async def test_a_correction_approved_after_publicity_is_due_3_working_days_on(
    make_driver: Any, resources: Any, sink_messages: Any
) -> None:
    """Approved after the publicity end day (the decision itself late), the
    info center still gets its working days, not a deadline already past."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    plan_id = driver.plan.plan_id
    request_id = await filed_in_publicity(driver)
    window = (await driver.status()).publicity
    assert window is not None
    await driver.skip_to(end_of_day(window.end_day) + timedelta(days=1))
    await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    await approve(driver, request_id)

    status = await driver.status()
    [owed] = [o for o in status.owed if o.duty == APPLY]
    assert owed.deadline_day is not None and not owed.overdue
    calendar = await CalendarActivities(pool).calendar()
    after = await driver.today() + timedelta(days=1)
    assert calendar.is_working_day(owed.deadline_day)
    assert calendar.working_days_between(after, owed.deadline_day) == 3

    await driver.skip_to(end_of_day(owed.deadline_day) + timedelta(hours=1))
    [notice] = await mails_of(
        sink_messages,
        plan_id,
        "alarm_overdue",
        subject_holding=t("duties.correction_apply"),
    )
    assert "info-center@" in str(notice["To"]) and "gm@" in str(notice["To"])
    assert request_id in str(notice["Subject"])
