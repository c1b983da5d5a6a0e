"""A payment difference a late correction made, settled by finance.

A correction applied after finance confirmed the payment changes what the
payment must cover. The plan records the difference (补缴 or 退还), owed by
finance; an approval batch leaves the plan out until it is settled and, where
an invoice was recorded for the old total, until the invoice is corrected.
Regression (trial): nothing could settle it, finance's corrected amount, the
site's new application and a larger invoice were all refused, and
``certflow status`` did not show it.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from activities.batch_report import BatchReportActivities, Check
from certflow.actions import (
    BatchDecisionRequest,
    DifferenceSettlement,
    InvoiceRecord,
    PaymentConfirmation,
)
from certflow.activity_models import BatchReportRequest
from certflow.i18n import t
from certflow.models import Role, Stage
from certflow.payment_difference import DifferenceKind, difference_text
from certflow.plan import Duty
from tests.cli.conftest import certflow_runner
from tests.support import (
    FINANCE,
    GM,
    PlanDriver,
    approve_and_apply,
    correction_request,
    mails_of,
    refusal_text,
)
from tests.workflow.test_finance import _application, sign_off
from tests.workflow.test_web_ui_details import details_showing
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

wf = ExamPlanWorkflow
# Seq 12 of the sample fails (practical 50.10); 60.10 makes it pass.
SEQ_12 = "2026110412012"
# Seq 2 of the sample passes; absent, it does not.
SEQ_2 = "2026110412002"
FINANCE_ARGS = ["--as", "finance", "--person", FINANCE.person]


async def _confirmed_then_corrected(
    driver: PlanDriver, corrections: list[tuple[str, str, str]], *, invoice: bool
) -> list[str]:
    """A plan whose site paid 4200.00 for its 14 passes, confirmed by finance
    (and invoiced, with ``invoice``), before the corrections filed during
    publicity were applied; both sign-offs done. Returns the requests' ids."""
    await driver.reach_publicity()
    await driver.open_publicity()
    filed = []
    for admission, field, value in corrections:
        answer = await driver.h.execute_update(
            wf.submit_correction, correction_request(admission, field, value)
        )
        assert answer.accepted and answer.reference, answer.message
        filed.append(answer.reference)
    await driver.skip(15)
    await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    today = await driver.today()
    uploaded = await driver.h.execute_update(
        wf.upload_application, _application(driver, 14, 0, "4200.00", today)
    )
    assert uploaded.accepted, uploaded.message
    confirmed = await driver.h.execute_update(
        wf.confirm_payment,
        _payment(Decimal("4200.00"), today),
    )
    assert confirmed.accepted, confirmed.message
    if invoice:
        await driver.record_invoice()
    return filed


def _payment(amount: Decimal, day: date) -> PaymentConfirmation:
    return PaymentConfirmation(actor=FINANCE, received_amount=amount, received_on=day)


async def _apply(driver: PlanDriver, request_id: str) -> str:
    return (await approve_and_apply(driver, request_id)).message


async def _gathered(driver: PlanDriver, pool: Any, batch_id: str) -> bool:
    """Run a gathering named ``batch_id``, once the plan awaits approval in
    PostgreSQL too; whether it took the plan."""
    for _ in range(100):
        stage = await pool.fetchval(
            "SELECT stage FROM plans WHERE plan_id = $1", driver.plan.plan_id
        )
        if stage == Stage.AWAITING_APPROVAL.value:
            break
        await asyncio.sleep(0.1)
    await driver.start_batch(batch_id)
    batch = driver.client.get_workflow_handle(f"approval-batch-{batch_id}")
    for _ in range(300):
        held = await pool.fetchval(
            "SELECT 1 FROM audit WHERE plan_id = $1 AND action = 'held_back_from_batch'"
            " AND details ->> 'batch_id' = $2",
            driver.plan.plan_id,
            batch_id,
        )
        if held:
            return False
        if (await driver.status()).batch_id == batch_id:
            return True
        described = await batch.describe()
        if described.status is not None and described.status.name != "RUNNING":
            return (await driver.status()).batch_id == batch_id
        await asyncio.sleep(0.1)
    raise AssertionError(f"batch {batch_id} never decided on {driver.plan.plan_id}")


async def test_a_supplement_holds_the_plan_until_settled_and_invoiced_anew(
    make_driver: Any,
    resources: Any,
    sink_messages: Any,
    client: Any,
    worker_settings: Any,
) -> None:
    """Finance confirmed and invoiced 4200.00 for 14; a correction made a 15th
    pass. The difference (补缴 300.00) shows in status, owed by finance, and
    holds the plan out of a batch; a wrong amount is refused with both
    figures; settled, the payment reads 15 and 4500.00 and the plan stays
    held until the invoice is corrected; then it is gathered, approved on a
    sheet that reads the new total, and issued."""
    pool, store = resources
    certflow = certflow_runner(worker_settings, client)
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    plan_id = driver.plan.plan_id
    [request_id] = await _confirmed_then_corrected(
        driver, [(SEQ_12, "practical", "60.10")], invoice=True
    )
    applied = await _apply(driver, request_id)

    status = await driver.status()
    difference = status.payment.difference
    assert difference is not None
    assert (difference.kind, difference.amount) == (
        DifferenceKind.SUPPLEMENT,
        Decimal("300.00"),
    )
    assert (difference.expected_heads, difference.confirmed_heads) == (15, 14)
    assert difference.owner is Role.FINANCE
    assert applied.endswith(
        t("plan.difference_opened", difference=difference_text(difference))
    )
    owed = {o.duty: o.owner for o in status.owed}
    assert owed[Duty.PAYMENT_DIFFERENCE] is Role.FINANCE
    assert status.payment.confirmed_amount == 4200.00  # not reopened
    shown = await certflow("status", plan_id)
    assert t("payment_difference.label") in shown.out
    assert (
        "补缴 300.00 元（应缴 15 人 4500.00 元，已确认 14 人 4200.00 元）" in shown.out
    )
    as_json = json.loads((await certflow("status", plan_id, "--json")).out)
    assert as_json["payment"]["difference"]["amount"] == "300.00"
    assert as_json["payment"]["difference"]["owner"] == "finance"

    # The tech dept and the site still sign off; a batch leaves the plan out.
    await sign_off(driver)
    held_by = f"B-{plan_id}-1"
    assert not await _gathered(driver, pool, held_by)
    shown = await certflow("status", plan_id)
    assert "缴费差额待财务部结清" in shown.out, shown.out
    # The plan itself says so (``held_back``), in --json and on its Web UI page.
    status = await driver.wait_for(lambda s: s.held_back is not None)
    hold = json.loads((await certflow("status", plan_id, "--json")).out)["held_back"]
    assert (hold["batch_id"], hold["payment_reason"]) == (held_by, "difference")
    assert hold["payment_details"]["amount"] == "300.00" and not hold["invoices"]
    details = await details_showing(driver, held_by)
    assert "缴费差额待财务部结清" in details, details

    # A wrong amount, or the wrong day, is refused with what to do.
    today = await driver.today()
    wrong = DifferenceSettlement(
        actor=FINANCE, amount=Decimal("200.00"), received_on=today
    )
    refusal = await refusal_text(
        driver.h.execute_update(wf.settle_payment_difference, wrong)
    )
    assert refusal.startswith("amount_mismatch: ")
    assert "200.00" in refusal and "300.00" in refusal and "-100.00" in refusal
    refund = DifferenceSettlement(
        actor=FINANCE, amount=Decimal("300.00"), refunded_on=today
    )
    refusal = await refusal_text(
        driver.h.execute_update(wf.settle_payment_difference, refund)
    )
    assert refusal.startswith("bad_argument: ") and "--received-on" in refusal
    # The tool refuses a settlement with both days before sending it.
    both = await certflow(
        *FINANCE_ARGS, "payment", plan_id, "--settle-difference",
        "--amount", "300", "--received-on", today.isoformat(),
        "--refunded-on", today.isoformat(),
    )  # fmt: skip
    assert both.status != 0 and t("cli.settle_needs_one_day") in both.out

    # Settled through the staff tool: the payment reads the new total.
    settled = await certflow(
        *FINANCE_ARGS, "payment", plan_id, "--settle-difference",
        "--amount", "300.00", "--received-on", today.isoformat(),
        "--reference", "BK-0301",
    )  # fmt: skip
    assert settled.status == 0, settled.out
    assert t("plan.difference_settled") in settled.out
    status = await driver.status()
    payment = status.payment
    assert payment.difference is None
    assert (payment.confirmed_amount, payment.head_count) == (4500.00, 15)
    [done] = payment.settlements
    assert (done.amount, done.reference, done.person) == (
        Decimal("300.00"),
        "BK-0301",
        FINANCE.person,
    )
    assert {o.duty for o in status.owed} == {Duty.INVOICE_CORRECTION, Duty.APPROVAL}
    audit = await pool.fetch(
        "SELECT action, details FROM audit WHERE plan_id = $1 AND action = ANY($2)"
        " ORDER BY at, id",
        plan_id,
        ["confirm_payment", "settle_payment_difference"],
    )
    assert [r["action"] for r in audit] == [
        "confirm_payment",
        "settle_payment_difference",
    ]
    assert audit[0]["details"]["amount"] == "4200.00"  # the original stays
    details = audit[1]["details"]
    assert (details["amount"], details["old_amount"], details["difference"]) == (
        "4500.00",
        "4200.00",
        "+300.00",
    )
    assert details["settlement_reference"] == "BK-0301"
    [told] = await mails_of(sink_messages, plan_id, "payment_difference_settled")
    for role in (Role.FINANCE, Role.TECH_DEPT):
        assert all(a in str(told["To"]) for a in driver.settings.recipients[role])

    # Before any gathering since, the plan shows what holds it now: the
    # invoice, not the difference it settled.
    hold = json.loads((await certflow("status", plan_id, "--json")).out)["held_back"]
    assert (hold["batch_id"], hold["payment_reason"]) == (held_by, "invoice")
    assert hold["payment_details"]["confirmed"] == "4500.00"
    shown = await certflow("status", plan_id)
    assert "待财务部按新的金额更正" in shown.out and "待财务部结清" not in shown.out
    details = await details_showing(driver, "invoice --correct")
    assert "待财务部结清" not in details, details

    # Still held: the invoice says 4200.00. The old amount is refused.
    assert not await _gathered(driver, pool, f"B-{plan_id}-2")
    shown = await certflow("status", plan_id)
    assert "待财务部按新的金额更正" in shown.out, shown.out
    old = InvoiceRecord(
        actor=FINANCE,
        number="26442000000012340001",
        issued_on=today,
        amount=Decimal("4200.00"),
        correct=True,
        reason="红字冲销后重开",
    )
    assert (
        await refusal_text(driver.h.execute_update(wf.record_invoice, old))
    ).startswith("amount_mismatch: ")
    corrected = await driver.h.execute_update(
        wf.record_invoice, old.model_copy(update={"amount": Decimal("4500.00")})
    )
    assert corrected.accepted, corrected.message
    assert t("plan.difference_invoice_corrected") in corrected.message

    # Gathered, approved on a sheet that reads 15 and 4500.00, issued.
    batch_id = f"B-{plan_id}-3"
    assert await _gathered(driver, pool, batch_id)
    report = await BatchReportActivities(worker_settings, pool, store).gather(
        BatchReportRequest(batch_id=batch_id, plan_ids=[plan_id])
    )
    [line] = report.lines
    assert line.check is Check.MATCH and line.line.payment.amount == Decimal("4500.00")
    batch = client.get_workflow_handle(f"approval-batch-{batch_id}")
    await driver.wait_gathered(batch_id)
    await batch.execute_update(
        ApprovalBatchWorkflow.decide,
        BatchDecisionRequest(actor=GM, approve=[plan_id]),
    )
    status = await driver.wait_for(lambda s: s.stage == Stage.ISSUED, attempts=600)
    assert status.certificates_issued == 15


async def test_a_refund_is_settled_and_lifts_the_hold(
    make_driver: Any, resources: Any, client: Any, worker_settings: Any
) -> None:
    """A candidate paid for was corrected to absent: 退还 300.00. Finance
    refunds it, with no invoice recorded yet; the hold lifts at once, and the
    invoice is then owed for the new total."""
    pool, _ = resources
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    plan_id = driver.plan.plan_id
    [request_id] = await _confirmed_then_corrected(
        driver, [(SEQ_2, "status", "缺考")], invoice=False
    )
    await _apply(driver, request_id)
    difference = (await driver.status()).payment.difference
    assert difference is not None
    assert (difference.kind, difference.amount) == (
        DifferenceKind.REFUND,
        Decimal("-300.00"),
    )
    await sign_off(driver)
    today = await driver.today()
    received = DifferenceSettlement(
        actor=FINANCE, amount=Decimal("300.00"), received_on=today
    )
    refusal = await refusal_text(
        driver.h.execute_update(wf.settle_payment_difference, received)
    )
    assert refusal.startswith("bad_argument: ") and "--refunded-on" in refusal
    settled = await driver.h.execute_update(
        wf.settle_payment_difference,
        DifferenceSettlement(actor=FINANCE, amount=Decimal("300"), refunded_on=today),
    )
    assert settled.accepted, settled.message
    assert t("plan.difference_invoice_none", amount="3900.00") in settled.message
    status = await driver.status()
    assert (status.payment.confirmed_amount, status.payment.head_count) == (3900.0, 13)
    assert Duty.INVOICE_CORRECTION not in {o.duty for o in status.owed}
    hold = await pool.fetchval(
        "SELECT reason FROM payment_holds WHERE plan_id = $1", plan_id
    )
    assert hold is None
    await driver.record_invoice(Decimal("3900.00"))
    assert await _gathered(driver, pool, f"B-{plan_id}-1")


async def test_a_second_correction_reckons_against_the_current_total(
    make_driver: Any, resources: Any
) -> None:
    """Two corrections: the first makes a 15th pass (补缴 300.00); the second
    makes another absent, undoing the money before it was settled (the hold
    lifts, the figures follow). No second settlement is owed."""
    pool, _ = resources
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    first, second = await _confirmed_then_corrected(
        driver,
        [(SEQ_12, "practical", "60.10"), (SEQ_2, "status", "缺考")],
        invoice=False,
    )
    await _apply(driver, first)
    difference = (await driver.status()).payment.difference
    assert difference is not None and difference.amount == Decimal("300.00")
    assert (
        await pool.fetchval(
            "SELECT reason FROM payment_holds WHERE plan_id = $1", driver.plan.plan_id
        )
        == "difference"
    )
    answer = await _apply(driver, second)
    assert answer.endswith(t("plan.difference_cleared", heads=14))
    status = await driver.status()
    assert status.payment.difference is None and status.payment.head_count == 14
    assert Duty.PAYMENT_DIFFERENCE not in {o.duty for o in status.owed}
    assert (
        await pool.fetchval(
            "SELECT reason FROM payment_holds WHERE plan_id = $1", driver.plan.plan_id
        )
        is None
    )
