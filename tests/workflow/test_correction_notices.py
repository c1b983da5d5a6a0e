"""What the parties are told of correction requests (成绩修改申请, 4.1.7):
how many are open, and which one a notice is about."""

from __future__ import annotations

from typing import Any

import pytest

from certflow.actions import CorrectionDecision
from certflow.i18n import t
from certflow.models import Stage
from starter.smtp_sink import body_text
from tests.support import (
    MANAGER,
    SEQ_12,
    PlanDriver,
    correction_request,
    driver_in_publicity,
    mails_of,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]
wf = ExamPlanWorkflow
# Seq 4 and 5 of the sample: present, theory 53.10 and 58.10.
SEQ_4 = "2026110412004"
SEQ_5 = "2026110412005"
GM_ADDRESS = "gm@certflow.example.org"


async def _file(driver: PlanDriver, admission: str, field: str, value: str) -> str:
    filed = await driver.h.execute_update(
        wf.submit_correction, correction_request(admission, field, value)
    )
    assert filed.accepted and filed.reference, filed.message
    return str(filed.reference)


async def test_open_requests_are_counted_and_each_notice_names_its_request(
    make_driver: Any, sink_messages: Any
) -> None:
    """Regression: with one request approved but not applied and two pending,
    the mail at publicity end said 尚有 2 份 (org-signoff said 3); the
    reminders and overdue notices of the two decisions did not say which
    request, and the general manager got two identical overdue notices."""
    driver = await driver_in_publicity(make_driver)
    plan_id = driver.plan.plan_id
    approved = await _file(driver, SEQ_12, "practical", "60.1")
    pending = [
        await _file(driver, SEQ_4, "theory", "63.1"),
        await _file(driver, SEQ_5, "theory", "60"),
    ]
    decided = await driver.h.execute_update(
        wf.decide_correction,
        CorrectionDecision(actor=MANAGER, request_id=approved, approve=True),
    )
    assert decided.accepted

    await driver.skip(15)
    await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)

    [opened] = await mails_of(sink_messages, plan_id, "payment_opened")
    assert "尚有 3 份成绩修改申请待办结" in body_text(opened)
    duty = t("duties.correction_decision")
    # One overdue notice per decision owed, to its owner and the supervisor,
    # each naming its request; none for the request decided.
    overdue = await mails_of(sink_messages, plan_id, "alarm_overdue", count=2)
    named = {
        request_id: [m for m in overdue if request_id in str(m["Subject"])]
        for request_id in [approved, *pending]
    }
    assert [len(named[r]) for r in pending] == [1, 1]
    # The approved one owes no decision; only the info center's update of it
    # (due by the publicity end day) is overdue by then, and says so.
    apply = t("duties.correction_apply")
    assert all(
        apply in str(m["Subject"]) and duty not in str(m["Subject"])
        for m in named[approved]
    )
    for request_id in pending:
        [notice] = named[request_id]
        label = t("plan.owed_with_ref", duty=duty, ref=request_id)
        assert label in str(notice["Subject"]) and label in body_text(notice)
        assert GM_ADDRESS in str(notice["To"])
    # The reminders before the deadline name their request too.
    reminders = await mails_of(sink_messages, plan_id, "alarm_reminder", count=4)
    decisions = [m for m in reminders if duty in str(m["Subject"])]
    assert sorted(
        next(r for r in pending if r in str(m["Subject"])) for m in decisions
    ) == sorted(pending * 2)
