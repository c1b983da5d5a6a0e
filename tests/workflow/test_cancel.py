"""A plan started by mistake is cancelled: it owes nothing, mails nothing, ends.

A typo'd plan id or exam date otherwise sends overdue notices to the site, the
lead evaluator and the regional contact every few days for ever.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.converter import PayloadConverter

from certflow.actions import BatchDecisionRequest, CancelRequest
from certflow.i18n import t
from certflow.models import Actor, Role, Stage
from certflow.timeutil import end_of_day
from starter.smtp_sink import body_text
from tests.support import GM, LEAD, TECH, PlanDriver, refusal_text
from tests.workflow.test_deadlines import POLICY, mails_for, skip_to
from tests.workflow.test_invoice_records import _invoice
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]

ADMIN = Actor(role=Role.ADMIN, person="admin-liu")
REASON = "计划编号录入错误，已按正确编号重新登记"


async def stage_attribute(driver: PlanDriver) -> str:
    """The plan's ``Stage`` search attribute, as the Web UI filters on it."""
    request = DescribeWorkflowExecutionRequest(
        namespace=driver.client.namespace,
        execution=WorkflowExecution(workflow_id=driver.h.id),
    )
    described = await driver.client.workflow_service.describe_workflow_execution(
        request
    )
    payload = described.workflow_execution_info.search_attributes.indexed_fields[
        "Stage"
    ]
    return str(PayloadConverter.default.from_payload(payload))


async def test_a_plan_cancelled_in_submission_sends_no_more_notices_and_ends(
    make_driver: Any, sink_messages: Any, resources: Any
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY, started_by=ADMIN)
    plan_id = driver.plan.plan_id
    deadline = end_of_day(driver.plan.exam_end_date + timedelta(days=15))
    # The first reminders went out: the plan is alive and mailing.
    await skip_to(driver, deadline - timedelta(days=3) + timedelta(hours=1))
    await driver.wait_for(lambda s: all(o.reminders_sent == 1 for o in s.owed))
    reminders = len(mails_for(sink_messages(), plan_id, "【提醒】"))

    wf = ExamPlanWorkflow
    wrong_role = await refusal_text(
        driver.h.execute_update(
            wf.cancel_plan, CancelRequest(actor=LEAD, reason=REASON)
        )
    )
    blank = await refusal_text(
        driver.h.execute_update(wf.cancel_plan, CancelRequest(actor=ADMIN, reason=" "))
    )
    result = await driver.h.execute_update(
        wf.cancel_plan, CancelRequest(actor=ADMIN, reason=REASON)
    )

    assert wrong_role.startswith("wrong_role:")
    assert blank == f"reason_required: {t('plan.cancel_reason_required')}"
    assert result.accepted, result.message
    assert result.message == t("plan.cancelled", plan_id=plan_id)

    # Waited for in real time, as every result is (the client fixture).
    ended = await asyncio.wait_for(driver.h.result(), 30)
    assert ended.stage == Stage.CANCELLED
    status = await driver.status()
    assert status.stage == Stage.CANCELLED and status.owed == []
    assert status.next_deadline is None and not status.overdue
    assert status.cancellation is not None
    assert (status.cancellation.person, status.cancellation.reason) == (
        "admin-liu",
        REASON,
    )
    assert status.cancellation.stage == Stage.SCORE_SUBMISSION
    first = status.history[0]
    assert (first.action, first.role, first.person) == (
        "start_plan",
        Role.ADMIN,
        "admin-liu",
    )
    last = status.history[-1]
    assert (last.action, last.person, last.note) == ("cancel_plan", "admin-liu", REASON)
    assert await stage_attribute(driver) == Stage.CANCELLED.value

    row = await pool.fetchrow(
        "SELECT stage, overdue, next_deadline FROM plans WHERE plan_id = $1", plan_id
    )
    assert dict(row) == {"stage": "cancelled", "overdue": False, "next_deadline": None}
    audit = await pool.fetchrow(
        "SELECT role, person, details FROM audit"
        " WHERE plan_id = $1 AND action = 'cancel_plan'",
        plan_id,
    )
    assert (audit["role"], audit["person"]) == ("admin", "admin-liu")
    assert audit["details"] == {"reason": REASON, "stage": "score_submission"}

    # Those who owed a step are told why, and that nothing is owed any more.
    for _ in range(100):
        told = mails_for(sink_messages(), plan_id, f"【考试计划 {plan_id}】已取消")
        if told:
            break
        await asyncio.sleep(0.1)
    assert len(told) == 1
    recipients = str(told[0]["To"])
    assert "lead-evaluators@" in recipients and "kaowu@whjtxx" in recipients
    assert REASON in body_text(told[0]) and "admin-liu" in body_text(told[0])

    # Past the deadline and two overdue repeats: not one more notice.
    await skip_to(driver, deadline + timedelta(days=5))
    await asyncio.sleep(0.5)
    assert not mails_for(sink_messages(), plan_id, "【逾期】")
    assert not mails_for(sink_messages(), plan_id, "【再次提醒·逾期】")
    assert len(mails_for(sink_messages(), plan_id, "【提醒】")) == reminders


async def test_cancel_is_refused_in_a_batch_and_once_certificates_are_issued(
    make_driver: Any,
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.reach_approval()
    batch = await driver.start_batch()
    await driver.wait_gathered()
    cancel = CancelRequest(actor=TECH, reason=REASON)

    in_batch = await refusal_text(
        driver.h.execute_update(ExamPlanWorkflow.cancel_plan, cancel)
    )
    await batch.execute_update(
        ApprovalBatchWorkflow.decide,
        BatchDecisionRequest(actor=GM, approve=[driver.plan.plan_id]),
    )
    # Issued, and still running: finance has not recorded the invoice yet.
    await driver.wait_for(lambda s: s.stage == Stage.ISSUED)
    issued = await refusal_text(
        driver.h.execute_update(ExamPlanWorkflow.cancel_plan, cancel)
    )

    assert in_batch == (
        f"in_batch: {t('plan.cancel_in_batch', batch_id=driver.batch_id)}"
    )
    assert issued == "wrong_stage: " + t(
        "plan.cancel_after_issuance", stage=t("stages.issued")
    )
    status = await driver.status()
    assert status.stage == Stage.ISSUED and status.certificates_issued > 0


async def test_a_plan_holding_money_is_cancelled_only_leaving_it_to_finance(
    make_driver: Any, sink_messages: Any, resources: Any
) -> None:
    """Regression: a plan with 4200.00 received and its invoice recorded was
    cancelled as any plan, nobody told of the money, and its invoice number
    was then recorded on another plan."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    other: PlanDriver = await make_driver()
    await driver.reach_payment()
    await driver.pay_and_sign(site_signoff=False)
    number = "26442000000000050505"
    invoiced = await _invoice(driver, number)
    assert invoiced.accepted, invoiced.message
    plan_id = driver.plan.plan_id
    wf = ExamPlanWorkflow

    refused = await refusal_text(
        driver.h.execute_update(
            wf.cancel_plan, CancelRequest(actor=ADMIN, reason=REASON)
        )
    )
    held = (
        f"财务部已确认到账 4200.00 元（{await driver.today()} 到账），"
        f"已登记发票号码 {number}（4200.00 元）"
    )
    assert refused == "money_held: " + t("plan.cancel_money_held", held=held)
    assert "--refund-by-finance" in refused and "红字发票" in refused
    assert (await driver.status()).stage is Stage.PAYMENT_AND_SIGNOFF

    cancel = CancelRequest(actor=ADMIN, reason=REASON, refund_by_finance=True)
    result = await driver.h.execute_update(wf.cancel_plan, cancel)
    assert result.accepted, result.message

    # Finance is told what was received and invoiced, and that it is theirs.
    subject = f"【考试计划 {plan_id}】已取消，其缴费与发票待财务部处理"
    for _ in range(100):
        told = mails_for(sink_messages(), plan_id, subject)
        if told:
            break
        await asyncio.sleep(0.1)
    assert len(told) == 1
    assert "finance@" in str(told[0]["To"])
    body = body_text(told[0])
    assert held in body and "红字发票" in body and REASON in body

    # The cancelled plan's invoice number is never recorded again.
    audit = await pool.fetchval(
        "SELECT details FROM audit WHERE plan_id = $1 AND action = 'cancel_plan'",
        plan_id,
    )
    assert audit["invoice"] == number
    await other.reach_payment()
    await other.pay_and_sign(site_signoff=False)
    again = await _invoice(other, number)
    assert not again.accepted
    assert again.message.startswith(f"发票号码 {number} 的发票属于已于")
    assert plan_id in again.message and "红字发票" in again.message
