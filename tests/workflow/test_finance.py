"""Finance (4.2.3-4.2.4): the payment is checked against the application, then
invoiced; an invoice cannot come before the confirmed payment, differ from it,
or be dated before the money arrived, and it is still owed after issuance."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError

from certflow.actions import ApplicationUpload, InvoiceRecord, PaymentConfirmation
from certflow.config import DeadlinePolicy
from certflow.i18n import t
from certflow.models import Stage
from certflow.timeutil import end_of_day
from starter.cli import render_status
from tests.support import (
    FINANCE,
    SCAN_PDF,
    SITE,
    PlanDriver,
    refusal_text,
    refused,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def test_invoice_follows_the_confirmed_payment_and_does_not_hold_approval(
    make_driver: Any, resources: Any
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    invoice = InvoiceRecord(
        actor=FINANCE,
        number="INV-2027-0001",
        issued_on=await driver.today(),
        amount=Decimal("4200.00"),
    )
    assert (
        await refused(driver.h.execute_update(ExamPlanWorkflow.record_invoice, invoice))
        == "wrong_stage"
    )

    await driver.pay_and_sign()
    # 4.2.6 needs the confirmed payment and both sign-offs, not the invoice.
    status = await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    assert any(o.duty == "invoice" for o in status.owed)

    result = await driver.h.execute_update(ExamPlanWorkflow.record_invoice, invoice)
    assert result.accepted
    status = await driver.status()
    assert status.payment.invoice_number == "INV-2027-0001"
    assert all(o.duty != "invoice" for o in status.owed)
    recorded = await pool.fetchval(
        "SELECT details FROM audit WHERE plan_id = $1 AND action = 'record_invoice'",
        driver.plan.plan_id,
    )
    assert recorded["invoice"] == "INV-2027-0001"
    assert recorded["amount"] == "4200.00"
    assert recorded["issued_on"] == invoice.issued_on.isoformat()


async def test_head_count_and_fee_mismatches_are_refused_with_the_difference(
    make_driver: Any,
) -> None:
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    await driver.reach_payment()
    today = await driver.today()
    scan = driver.store.put(
        SCAN_PDF, filename="申请表.pdf", media_type="application/pdf"
    )

    async def apply_and_check(heads: int, absentees: int, amount: str) -> str | None:
        """Upload an application, then let finance check it; return the refusal."""
        application = ApplicationUpload(
            actor=SITE,
            application_scan=scan,
            paid_plan_ids=[driver.plan.plan_id],
            head_count=heads,
            absentees_paid=absentees,
            amount=Decimal(amount),
            paid_on=today,
        )
        confirm = PaymentConfirmation(
            actor=FINANCE, received_amount=Decimal(amount), received_on=today
        )
        try:
            # A site corrects its application by uploading it again.
            await driver.h.execute_update(
                ExamPlanWorkflow.upload_application, application
            )
            await driver.h.execute_update(ExamPlanWorkflow.confirm_payment, confirm)
        except WorkflowUpdateFailedError as err:
            return f"{getattr(err.cause, 'type', '')}: {err.cause}"
        return None

    # 14 passed and 2 were absent (the sample's 缺考 seq 6 and 18).
    refusal = await apply_and_check(13, 0, "3900.00")
    assert (
        refusal
        and refusal.startswith("head_count_mismatch")
        and "应为 14 人" in refusal
    )
    refusal = await apply_and_check(17, 3, "5100.00")
    assert (
        refusal and refusal.startswith("head_count_mismatch") and "2 名缺考" in refusal
    )
    refusal = await apply_and_check(14, 0, "4000.00")
    assert refusal and refusal.startswith("fee_mismatch")
    assert "14 人 × 300.00 元 = 4200.00 元" in refusal and "-200.00" in refusal
    # Both absentees paid for too: 16 × 300.
    assert await apply_and_check(16, 2, "4800.00") is None
    # Once finance confirmed it, the application can no longer be changed.
    refusal = await apply_and_check(14, 0, "4200.00")
    assert refusal and refusal.startswith("already_done")


async def test_the_invoice_details_form_is_read_and_a_bad_one_refuses_the_application(
    make_driver: Any, resources: Any
) -> None:
    from tests.intake.test_invoice_details import EXPECTED, HONEST, filled_template

    pool, store = resources
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    scan = store.put(SCAN_PDF, filename="申请表.pdf", media_type="application/pdf")

    def application(form: bytes) -> ApplicationUpload:
        return ApplicationUpload(
            actor=SITE,
            application_scan=scan,
            invoice_details=store.put(form, filename="院校发票信息收集表.xlsx"),
            paid_plan_ids=[driver.plan.plan_id],
            head_count=14,
            amount=Decimal("4200.00"),
            paid_on=date(2027, 1, 8),
        )

    broken = filled_template({**HONEST, "纳税人识别号": "91350100M000100Y44"})
    refused_form = await driver.h.execute_update(
        ExamPlanWorkflow.upload_application, application(broken)
    )
    assert not refused_form.accepted
    assert [p.code for p in refused_form.problems] == ["taxpayer_id_check"]
    assert any(o.duty == "application" for o in (await driver.status()).owed)

    accepted = await driver.h.execute_update(
        ExamPlanWorkflow.upload_application, application(filled_template(HONEST))
    )
    assert accepted.accepted
    stored = await pool.fetchval(
        "SELECT details FROM invoice_details WHERE plan_id = $1", driver.plan.plan_id
    )
    assert stored == EXPECTED


async def test_an_invoice_for_another_amount_than_the_confirmed_payment_is_refused(
    make_driver: Any, resources: Any
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    await driver.pay_and_sign()  # finance confirmed 4200.00 received
    today = await driver.today()

    def invoice(amount: str) -> InvoiceRecord:
        return InvoiceRecord(
            actor=FINANCE,
            number="INV-2027-0002",
            issued_on=today,
            amount=Decimal(amount),
        )

    for amount, difference in (("4000.00", "-200.00"), ("4200.01", "+0.01")):
        refusal = await refusal_text(
            driver.h.execute_update(ExamPlanWorkflow.record_invoice, invoice(amount))
        )
        assert refusal == "amount_mismatch: " + t(
            "plan.invoice_amount_mismatch",
            invoiced=amount,
            confirmed="4200.00",
            difference=difference,
        )
    # Refused by the validator: nothing recorded, the invoice still owed.
    status = await driver.status()
    assert status.payment.invoice_number is None
    assert any(o.duty == "invoice" for o in status.owed)
    assert not await pool.fetchval(
        "SELECT count(*) FROM audit WHERE plan_id = $1 AND action = 'record_invoice'",
        driver.plan.plan_id,
    )

    result = await driver.h.execute_update(
        ExamPlanWorkflow.record_invoice, invoice("4200")
    )
    assert result.accepted


async def test_money_dates_in_the_future_or_out_of_order_are_refused(
    make_driver: Any,
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    today = await driver.today()
    tomorrow = today + timedelta(days=1)
    paid_on = today - timedelta(days=3)
    received_on = today - timedelta(days=2)
    scan = driver.store.put(
        SCAN_PDF, filename="申请表.pdf", media_type="application/pdf"
    )
    wf = ExamPlanWorkflow

    def application(day: date) -> ApplicationUpload:
        return ApplicationUpload(
            actor=SITE,
            application_scan=scan,
            paid_plan_ids=[driver.plan.plan_id],
            head_count=14,
            amount=Decimal("4200.00"),
            paid_on=day,
        )

    def payment(day: date) -> PaymentConfirmation:
        return PaymentConfirmation(
            actor=FINANCE, received_amount=Decimal("4200.00"), received_on=day
        )

    def invoice(day: date) -> InvoiceRecord:
        return InvoiceRecord(
            actor=FINANCE, number="INV-2027-0003", issued_on=day, amount=Decimal("4200")
        )

    async def refusal(update: Any, request: Any) -> str:
        return await refusal_text(driver.h.execute_update(update, request))

    def in_future(key: str, day: date) -> str:
        return "future_date: " + t(key, day=day.isoformat(), today=today.isoformat())

    def out_of_order(key: str, day: date, earliest: date) -> str:
        return "date_order: " + t(
            key, day=day.isoformat(), earliest=earliest.isoformat()
        )

    # The site cannot have paid tomorrow; the application stays owed.
    assert await refusal(wf.upload_application, application(tomorrow)) == in_future(
        "plan.paid_on_in_future", tomorrow
    )
    assert any(o.duty == "application" for o in (await driver.status()).owed)
    assert (
        await driver.h.execute_update(wf.upload_application, application(paid_on))
    ).accepted

    # Money is not received tomorrow, nor before the site paid it.
    assert await refusal(wf.confirm_payment, payment(tomorrow)) == in_future(
        "plan.received_on_in_future", tomorrow
    )
    early = paid_on - timedelta(days=1)
    assert await refusal(wf.confirm_payment, payment(early)) == out_of_order(
        "plan.received_before_paid", early, paid_on
    )
    status = await driver.status()
    assert status.payment.confirmed_amount is None
    assert any(o.duty == "payment_check" for o in status.owed)
    assert (
        await driver.h.execute_update(wf.confirm_payment, payment(received_on))
    ).accepted

    # The invoice is not dated tomorrow, nor before the money arrived.
    assert await refusal(wf.record_invoice, invoice(tomorrow)) == in_future(
        "plan.invoice_date_in_future", tomorrow
    )
    assert await refusal(wf.record_invoice, invoice(paid_on)) == out_of_order(
        "plan.invoice_before_received", paid_on, received_on
    )
    assert (await driver.status()).payment.invoice_number is None
    # Received and invoiced the same day is fine, and so is today.
    assert (
        await driver.h.execute_update(wf.record_invoice, invoice(received_on))
    ).accepted
    status = await driver.status()
    assert (status.payment.paid_on, status.payment.received_on) == (
        paid_on,
        received_on,
    )


async def test_an_issued_plan_stays_open_and_escalates_until_the_invoice_is_recorded(
    make_driver: Any, sink_messages: Any, resources: Any
) -> None:
    """Issuance needs only the confirmed payment: the plan must not close while
    finance still owes the invoice, and the invoice's deadline still escalates."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.reach_payment(DeadlinePolicy(invoice_days=5))
    await driver.pay_and_sign()
    confirmed_on = await driver.today()
    batch = await driver.approve_in_batch()
    await batch.result()

    status = await driver.wait_for(lambda s: s.stage == Stage.ISSUED)
    assert status.certificates_issued == 14
    [owed] = status.owed
    assert (owed.duty, owed.owner) == ("invoice", "finance")
    assert owed.deadline_day == confirmed_on + timedelta(days=5)
    shown = "\n".join(render_status(status))
    assert t("stages.issued") in shown and t("duties.invoice") in shown

    # Past its deadline finance and its supervisor are told, as for any duty.
    now = await driver.env.get_current_time()
    await driver.env.sleep(end_of_day(owed.deadline_day) + timedelta(hours=1) - now)
    status = await driver.wait_for(lambda s: s.overdue)
    assert status.stage == Stage.ISSUED
    assert [o.escalations_sent for o in status.owed] == [1]
    overdue = [
        m
        for m in sink_messages()
        if m["X-Certflow-Plan"] == driver.plan.plan_id
        and str(m["Subject"]).startswith("【逾期】")
    ]
    assert any(
        t("duties.invoice") in str(m["Subject"])
        and "finance@" in str(m["To"])
        and "gm@" in str(m["To"])
        for m in overdue
    )

    # The late invoice is accepted; then the plan completes, issued.
    result = await driver.record_invoice()
    assert result.accepted and result.late
    outcome = await driver.h.result()
    assert (outcome.stage, outcome.certificates_issued) == (Stage.ISSUED, 14)
    late = await pool.fetchval(
        "SELECT late FROM audit WHERE plan_id = $1 AND action = 'record_invoice'",
        driver.plan.plan_id,
    )
    assert late is True
