"""A plan nobody passed has no certificate to issue and nothing to pay: it ends.

Regression (trial): a summary with 0 passing and 2 absent candidates reached
the payment stage. The staff tool refused ``--amount 0`` (须大于 0), the plan
refused 0.01 (0 人 × 300.00 元 = 0.00 元), and the site kept owing the
application: reminded, marked overdue, the regional contact told every 2
days, with no end but cancelling the plan (the wrong record) or paying for
absentees. Now such a plan ends once publicity and its corrections are
closed, in stage ``no_certificates``, told once; a correction that makes a
candidate pass before then opens the payment stage as usual.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import openpyxl
import pytest
from temporalio.api.enums.v1 import EventType

from activities.batch_report import BatchReportActivities
from activities.store import joint_payment_facts
from certflow.actions import (
    ApplicationUpload,
    CorrectionDecision,
    PaymentConfirmation,
    SimpleAction,
    SiteSignoffRequest,
)
from certflow.activity_models import BatchReportRequest
from certflow.i18n import t
from certflow.models import Role, Stage
from certflow.plan import Duty
from certflow.timeutil import end_of_day
from starter.cli import render_status
from starter.smtp_sink import body_text
from tests.support import (
    FINANCE,
    MANAGER,
    SEQ_12,
    SITE,
    TECH,
    PlanDriver,
    approve_and_apply,
    correction_request,
    mails_of,
    refusal_text,
)
from tests.workflow.test_cancel import stage_attribute
from tests.workflow.test_finance import _application as application_of
from tests.workflow.test_invoice_records import _invoice, _joint_application
from tests.workflow.test_web_ui_details import current_details, details_showing
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

FEE = Decimal("300.00")
# Seq 2 of the sample: theory 74.00, practical 84.60, passing.
SEQ_2 = "2026110412002"
ALARMS = ("alarm_reminder", "alarm_overdue", "alarm_overdue_repeat")


def _nobody_passes(driver: PlanDriver, *, but: str | None = None) -> None:
    """Rewrite the plan's summary so that nobody passes (but ``but``): each
    passing candidate's practical score becomes 50.00, the total and the
    result following. 32 candidates, 2 of them absent, as the sample's."""
    path = driver.files["summary"]
    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    for row in sheet.iter_rows(min_row=4):
        if row[10].value != "合格" or row[4].value == but:
            continue
        theory = Decimal(str(row[6].value))
        practical = Decimal("50.00")
        total = theory * Decimal("0.3") + practical * Decimal("0.7")
        row[7].value = float(practical)
        row[8].value = float(total.quantize(Decimal("0.01"), ROUND_HALF_UP))
        row[10].value = "不合格"
    book.save(path)


async def _published(driver: PlanDriver, *, but: str | None = None) -> None:
    """Start the plan and play stages 1-3 with a summary nobody passes (but
    ``but``), up to the first day of publicity."""
    await driver.start()
    _nobody_passes(driver, but=but)
    await driver.submit_everything()
    await driver.approve_review()
    await driver.confirm_upload()
    await driver.open_publicity()


async def _past_publicity(driver: PlanDriver) -> None:
    """Skip past the publicity end day: the payment stage's first moment."""
    status = await driver.status()
    assert status.publicity is not None
    await driver.skip_to(end_of_day(status.publicity.end_day) + timedelta(hours=1))


def _application(driver: PlanDriver, heads: int, amount: str) -> ApplicationUpload:
    """The site's application of ``heads`` and ``amount``, no absentees."""
    return application_of(driver, heads, 0, amount, driver.plan.exam_end_date)


async def _filed_then_closed(driver: PlanDriver, practical: str) -> str:
    """Publish a summary nobody passes, file a correction of seq 12's
    practical score to ``practical``, and skip past publicity with it still
    open; return the request's number."""
    await _published(driver)
    filed = await driver.h.execute_update(
        ExamPlanWorkflow.submit_correction,
        correction_request(SEQ_12, "practical", practical),
    )
    assert filed.accepted and filed.reference
    await _past_publicity(driver)
    await driver.wait_for(lambda s: s.payment_waits_for_corrections)
    return filed.reference


def _plan_mails(sink_messages: Any, plan_id: str, *templates: str) -> list[Any]:
    return [
        m
        for m in sink_messages()
        if m["X-Certflow-Plan"] == plan_id and m["X-Certflow-Template"] in templates
    ]


async def _ended_told_once(
    driver: PlanDriver, sink_messages: Any, resources: Any, *, finance: bool
) -> str:
    """Check the plan ended with no certificates, everywhere it is recorded
    and in one mail; return the mail's text."""
    pool, _ = resources
    plan_id = driver.plan.plan_id
    result = await asyncio.wait_for(driver.h.result(), 30)
    assert (result.stage, result.certificates_issued) == (Stage.NO_CERTIFICATES, 0)
    status = await driver.status()
    assert status.stage is Stage.NO_CERTIFICATES
    assert status.owed == [] and status.next_deadline is None and not status.overdue
    assert not status.payment_waits_for_corrections
    assert [h.action for h in status.history[-2:]] == [
        f"stage:{Stage.NO_CERTIFICATES.value}",
        "no_certificates",
    ]
    shown = "\n".join(render_status(status))
    assert t("stages.no_certificates") in shown and "合格 0 人" in shown
    assert t("details.no_certificates") in await current_details(driver)
    assert await stage_attribute(driver) == Stage.NO_CERTIFICATES.value
    row = await pool.fetchrow(
        "SELECT stage, overdue, next_deadline FROM plans WHERE plan_id = $1", plan_id
    )
    assert dict(row) == {
        "stage": Stage.NO_CERTIFICATES.value,
        "overdue": False,
        "next_deadline": None,
    }
    audit = await pool.fetchrow(
        "SELECT role, person, details FROM audit"
        " WHERE plan_id = $1 AND action = 'no_certificates'",
        plan_id,
    )
    assert (audit["role"], audit["person"]) == (None, None)
    assert (audit["details"]["passed"], audit["details"]["absent"]) == ("0", "2")

    [mail] = await mails_of(sink_messages, plan_id, "no_certificates")
    settings = driver.settings
    told = [
        *settings.site_recipients[driver.plan.site_code],
        *settings.recipients[Role.TECH_DEPT],
        *settings.recipients[Role.INFO_CENTER],
    ]
    for address in told:
        assert address in str(mail["To"])
    finance_told = settings.recipients[Role.FINANCE][0] in str(mail["To"])
    assert finance_told is finance
    text = body_text(mail)
    assert "合格 0 人" in text and "缺考 2 人" in text
    return text


async def _no_more_mail_after(
    driver: PlanDriver, sink_messages: Any, days: int
) -> None:
    """Skip ``days`` past the payment deadline: not one more mail."""
    plan_id = driver.plan.plan_id
    before = len(_plan_mails(sink_messages, plan_id, *ALARMS, "no_certificates"))
    status = await driver.status()
    assert status.publicity is not None
    deadline = end_of_day(status.publicity.payment_deadline_day)
    await driver.skip_to(deadline + timedelta(days=days))
    await asyncio.sleep(0.5)
    assert len(_plan_mails(sink_messages, plan_id, *ALARMS, "no_certificates")) == (
        before
    )


async def test_a_plan_nobody_passed_ends_when_publicity_closes(
    make_driver: Any, sink_messages: Any, resources: Any
) -> None:
    """The trial's plan: 0 passing, 2 absent, no correction. Publicity over,
    it ends with no certificates; nobody is asked to pay or reminded, ever."""
    driver: PlanDriver = await make_driver(fee_per_candidate=FEE)
    await _published(driver)
    status = await driver.status()
    assert status.summary is not None
    assert (status.summary.passed, status.summary.absent) == (0, 2)

    await _past_publicity(driver)

    await _ended_told_once(driver, sink_messages, resources, finance=False)
    plan_id = driver.plan.plan_id
    assert not _plan_mails(sink_messages, plan_id, "payment_opened")
    await _no_more_mail_after(driver, sink_messages, days=5)
    assert not _plan_mails(sink_messages, plan_id, *ALARMS)


async def test_a_plan_whose_corrections_leave_nobody_passing_waits_then_ends(
    make_driver: Any, sink_messages: Any, resources: Any
) -> None:
    """A correction still open as publicity ends might make someone pass: the
    payment stage owes nothing meanwhile (no application to remind of), and
    an application is refused saying why; rejected, the plan ends."""
    driver: PlanDriver = await make_driver(fee_per_candidate=FEE)
    request_id = await _filed_then_closed(driver, "55")
    wf = ExamPlanWorkflow

    status = await driver.status()
    assert status.stage is Stage.PAYMENT_AND_SIGNOFF
    assert [o.duty for o in status.owed] == [Duty.CORRECTION_DECISION]
    waits = t("details.payment_waits", count=1)
    assert waits in await details_showing(driver, waits)
    plan_id = driver.plan.plan_id
    [waiting] = await mails_of(sink_messages, plan_id, "payment_waits_for_corrections")
    assert "kaowu@whjtxx" in str(waiting["To"]) and "tech@" in str(waiting["To"])
    assert "finance@" not in str(waiting["To"])
    assert not _plan_mails(sink_messages, plan_id, "payment_opened")
    refusal = t("plan.nothing_to_pay") + t("plan.nothing_to_pay_pending", count=1)
    for heads, amount in ((0, "0"), (0, "0.01"), (2, "600.00")):
        assert (
            await refusal_text(
                driver.h.execute_update(
                    wf.upload_application, _application(driver, heads, amount)
                )
            )
            == f"nothing_to_pay: {refusal}"
        )

    decided = await driver.h.execute_update(
        wf.decide_correction,
        CorrectionDecision(
            actor=MANAGER, request_id=request_id, approve=False, reason="核实无误"
        ),
    )

    assert decided.accepted
    assert decided.message.endswith(t("plan.ends_without_certificates"))
    await _ended_told_once(driver, sink_messages, resources, finance=False)
    await _no_more_mail_after(driver, sink_messages, days=5)


async def test_a_correction_that_makes_a_candidate_pass_opens_the_payment(
    make_driver: Any, sink_messages: Any
) -> None:
    """Nobody passed until a correction decided after publicity: the payment
    stage then opens as usual, with its deadline, and the plan goes on to
    issue the one certificate."""
    driver: PlanDriver = await make_driver(fee_per_candidate=FEE)
    # Seq 12: practical 50.10 → 60.10 makes 不合格 合格.
    request_id = await _filed_then_closed(driver, "60.10")
    wf = ExamPlanWorkflow

    await approve_and_apply(driver, request_id)

    status = await driver.wait_for(
        lambda s: any(o.duty == Duty.APPLICATION for o in s.owed)
    )
    assert status.stage is Stage.PAYMENT_AND_SIGNOFF
    assert not status.payment_waits_for_corrections
    assert status.summary is not None and status.summary.passed == 1
    owed = {o.duty: o for o in status.owed}
    assert status.publicity is not None
    for duty in (Duty.APPLICATION, Duty.ORG_SIGNOFF):
        assert owed[duty].deadline_day == status.publicity.payment_deadline_day
    await mails_of(sink_messages, driver.plan.plan_id, "payment_opened")

    for update, request in (
        (wf.upload_application, _application(driver, 1, "300.00")),
        (
            wf.confirm_payment,
            PaymentConfirmation(
                actor=FINANCE,
                received_amount=FEE,
                received_on=driver.plan.exam_end_date,
            ),
        ),
        (wf.org_signoff, SimpleAction(actor=TECH)),
        (
            wf.site_signoff,
            SiteSignoffRequest(actor=SITE, plan_id=driver.plan.plan_id),
        ),
    ):
        result = await driver.h.execute_update(update, request)
        assert result.accepted, result.message
    await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    await driver.approve_in_batch()
    status = await driver.wait_for(lambda s: s.stage == Stage.ISSUED)
    assert status.certificates_issued == 1
    assert not _plan_mails(sink_messages, driver.plan.plan_id, "no_certificates")


async def test_corrections_in_the_payment_stage_that_leave_nobody_passing(
    make_driver: Any, sink_messages: Any, resources: Any
) -> None:
    """One candidate passed, and the site paid for them; a correction decided
    after publicity fails them while another is still open: the application
    is no longer owed (not sent back to be made again), the payment stage
    waits, finance told; the last correction closed, the plan ends."""
    driver: PlanDriver = await make_driver(fee_per_candidate=FEE)
    await _published(driver, but=SEQ_2)
    wf = ExamPlanWorkflow
    fails = await driver.h.execute_update(
        wf.submit_correction, correction_request(SEQ_2, "practical", "50")
    )
    other = await driver.h.execute_update(
        wf.submit_correction, correction_request(SEQ_12, "practical", "55")
    )
    assert fails.reference and other.reference
    await _past_publicity(driver)
    await driver.wait_for(lambda s: any(o.duty == Duty.APPLICATION for o in s.owed))
    result = await driver.h.execute_update(
        wf.upload_application, _application(driver, 1, "300.00")
    )
    assert result.accepted, result.message

    applied = await approve_and_apply(driver, fails.reference)

    assert applied.message.endswith(t("plan.waits_for_corrections"))
    status = await driver.wait_for(lambda s: s.payment_waits_for_corrections)
    assert [o.duty for o in status.owed] == [Duty.CORRECTION_DECISION]
    plan_id = driver.plan.plan_id
    [waiting] = await mails_of(sink_messages, plan_id, "payment_waits_for_corrections")
    assert "finance@" in str(waiting["To"])
    assert "300.00 元" in body_text(waiting)
    # Not asked to upload again an application nobody could make.
    assert not _plan_mails(sink_messages, plan_id, "application_reopened")

    decided = await driver.h.execute_update(
        wf.decide_correction,
        CorrectionDecision(
            actor=MANAGER, request_id=other.reference, approve=False, reason="核实无误"
        ),
    )

    assert decided.accepted
    text = await _ended_told_once(driver, sink_messages, resources, finance=True)
    assert "300.00 元" in text and "退还" in text
    await _no_more_mail_after(driver, sink_messages, days=5)


async def test_a_plan_of_a_joint_payment_ending_with_no_certificates_leaves_it(
    make_driver: Any, sink_messages: Any, resources: Any, worker_settings: Any
) -> None:
    """Regression (review): plan X's site paid for X and Y together (合并缴费);
    a correction then failed X's one passing candidate, and X ended with no
    certificate to issue. The database still counted X in the payment, as
    it counts only a cancelled plan out: Y's payment listed X as owing its
    confirmation, an invoice for the payment's total was refused for X not
    confirmed, the approval sheet named X as a plan of Y's payment outside
    the batch, and neither finance nor Y was told. X now leaves the payment
    as a cancelled plan does."""
    pool, store = resources
    partner: PlanDriver = await make_driver()
    driver: PlanDriver = await make_driver(fee_per_candidate=FEE)
    await partner.reach_publicity()
    await _published(driver, but=SEQ_2)
    wf = ExamPlanWorkflow
    fails = await driver.h.execute_update(
        wf.submit_correction, correction_request(SEQ_2, "practical", "50")
    )
    assert fails.reference
    await _past_publicity(driver)
    for plan in (driver, partner):
        await plan.wait_for(lambda s: s.stage is Stage.PAYMENT_AND_SIGNOFF)
    x, y = driver.plan.plan_id, partner.plan.plan_id
    paid = sorted([x, y])
    applied = await driver.h.execute_update(
        wf.upload_application,
        _application(driver, 1, "300.00").model_copy(update={"paid_plan_ids": paid}),
    )
    assert applied.accepted, applied.message
    await _joint_application(partner, paid)
    await partner.wait_for(lambda s: s.stage is Stage.AWAITING_APPROVAL)

    ended = await approve_and_apply(driver, fails.reference)

    assert ended.message.endswith(t("plan.ends_without_certificates"))
    text = await _ended_told_once(driver, sink_messages, resources, finance=True)
    # Finance is told the payment owes X's share no more.
    assert t("plan.joint_payment_left", plans=y, amount="300.00").strip() in text
    # Y's payment lists X no more, nor waits for its confirmation.
    async with pool.acquire() as conn:
        facts = await joint_payment_facts(conn, y, paid)
    assert facts.cancelled == [x] and facts.listings == []
    # An invoice for the payment's total counts Y's confirmed 4200.00 alone.
    whole = await _invoice(partner, "26442000000000140101", amount="4500.00")
    assert not whole.accepted
    assert (
        t(
            "plan.invoice_joint_total_mismatch",
            total="4200.00",
            invoiced="4500.00",
            confirmed="4200.00",
            plans="、".join(paid),
        )
        in whole.message
    )
    assert t("plan.invoice_joint_cancelled", cancelled=x) in whole.message
    # Told, as on a cancellation, that nothing of X holds it.
    history = await partner.h.fetch_history()
    freed = [
        e.workflow_execution_signaled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert [a.signal_name for a in freed if a.signal_name == "payment_freed"] == [
        "payment_freed"
    ]
    # The batch and its approval sheet name no plan of a joint payment.
    batch = await partner.start_batch()
    await partner.wait_gathered()
    status = await batch.query(ApprovalBatchWorkflow.status)
    assert status.joint_payments == []
    report = await BatchReportActivities(worker_settings, pool, store).gather(
        BatchReportRequest(batch_id=partner.batch_id, plan_ids=[y])
    )
    [line] = report.lines
    assert line.outside == () and not line.line.shared
