"""Finance's invoice and payment records (4.2.3-4.2.4): an invoice number is a
number, one payment's own, and finance corrects its record until the plan is
in an approval batch; a payment checked again voids the invoice it had."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from certflow.actions import (
    ApplicationUpload,
    BatchDecisionRequest,
    CancelRequest,
    InvoiceRecord,
    PaymentConfirmation,
    SimpleAction,
    SiteSignoffRequest,
)
from certflow.i18n import t
from certflow.models import Stage
from certflow.plan import Duty
from certflow.timeutil import format_cst
from starter.cli import batch_lines, render_status
from tests.support import (
    FINANCE,
    GM,
    SCAN_PDF,
    SITE,
    TECH,
    PlanDriver,
    refusal_text,
)
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow

# A joint payment invoiced as a whole: what sending it back voids.
WHOLE = t("batch.joint_voids_whole")

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]


async def _invoice(
    driver: PlanDriver,
    number: str,
    *,
    correct: bool = False,
    reason: str = "",
    issued_on: date | None = None,
    amount: str = "4200.00",
    typo: bool = False,
) -> Any:
    return await driver.h.execute_update(
        ExamPlanWorkflow.record_invoice,
        InvoiceRecord(
            actor=FINANCE,
            number=number,
            issued_on=issued_on or await driver.today(),
            amount=Decimal(amount),
            correct=correct,
            reason=reason,
            typo=typo,
        ),
    )


async def _audit(pool: Any, plan_id: str, action: str) -> list[dict[str, str]]:
    rows = await pool.fetch(
        "SELECT details FROM audit WHERE plan_id = $1 AND action = $2 ORDER BY id",
        plan_id,
        action,
    )
    return [dict(row["details"]) for row in rows]


async def _send_back_to_payment_check(driver: PlanDriver) -> Any:
    """A batch of the plan; the general manager returns it to ``payment_check``."""
    batch = await driver.start_batch()
    await driver.wait_gathered()
    await batch.execute_update(
        ApprovalBatchWorkflow.decide,
        BatchDecisionRequest(
            actor=GM,
            reject={driver.plan.plan_id: "到账金额待核"},
            return_to={driver.plan.plan_id: [Duty.PAYMENT_CHECK]},
        ),
    )
    return await driver.wait_for(
        lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF and s.batch_id is None
    )


async def _confirm_again(driver: PlanDriver) -> None:
    """Finance confirms the payment (sent back to it), as received today."""
    result = await driver.h.execute_update(
        ExamPlanWorkflow.confirm_payment,
        PaymentConfirmation(
            actor=FINANCE,
            received_amount=Decimal("4200.00"),
            received_on=await driver.today(),
        ),
    )
    assert result.accepted, result.message


async def test_an_invoice_number_is_digits_and_kept_as_issued(
    make_driver: Any, resources: Any
) -> None:
    """Regression: a blank number ("  ") and "INV 0001;<script>" were accepted,
    and the approval sheet then said 未记录 while the status showed blanks."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    await driver.pay_and_sign()

    async def refusal(number: str) -> str:
        return await refusal_text(_invoice(driver, number))

    assert await refusal("  ") == "bad_argument: " + t("plan.invoice_number_blank")
    for wrong in ("INV 0001;<script>", "1234567", "1" * 21, "2644-2000-0001"):
        assert await refusal(wrong) == "bad_argument: " + t(
            "plan.bad_invoice_number", value=wrong
        )

    # Trial: an ID number kept as the invoice's, printed and audited whole.
    for id_number in ("421002200506166066", "42100220050616606X"):
        said = await refusal(id_number)
        assert said == "bad_argument: " + t("plan.invoice_number_id")
        assert "1660" not in said

    # Full-width digits typed in groups: read as the 16 digits issued.
    result = await _invoice(driver, "２６４４ ２０００ ００００ １２３４")
    assert result.accepted, result.message
    status = await driver.status()
    assert status.payment.invoice_number == "2644200000001234"
    assert status.payment.invoice_amount_text == "4200.00"
    assert status.payment.invoice_issued_on == await driver.today()
    [recorded] = await _audit(pool, driver.plan.plan_id, "record_invoice")
    assert recorded["invoice"] == "2644200000001234"
    # A second invoice says how to correct the first.
    again = await refusal_text(_invoice(driver, "26442000000012340"))
    assert again == "already_done: " + t("plan.already_recorded")


async def _reach_payment_together(*drivers: PlanDriver) -> None:
    """Several plans to stage 5-8, the clock skipped once for all of them."""
    for driver in drivers:
        await driver.reach_publicity()
    await drivers[0].skip(31)
    for driver in drivers:
        await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)


async def _joint_application(
    driver: PlanDriver,
    paid: list[str],
    *,
    site_signoff: bool = True,
    confirm: bool = True,
    org_signoff: bool = True,
) -> None:
    """The site's application for a payment covering ``paid``, then finance's
    confirmation and both sign-offs (the site's left out with
    ``site_signoff=False``, the tech dept's with ``org_signoff=False``,
    finance's with ``confirm=False``: the plan then stays at stage 5-8)."""
    scan = driver.tmp / "application.pdf"
    scan.write_bytes(SCAN_PDF)
    today = await driver.today()
    wf = ExamPlanWorkflow
    for update, request in (
        (
            wf.upload_application,
            ApplicationUpload(
                actor=SITE,
                application_scan=driver.put(scan),
                invoice_details=driver.invoice_form(),
                paid_plan_ids=paid,
                head_count=14,
                amount=Decimal("4200.00"),
                paid_on=today,
            ),
        ),
        (
            wf.confirm_payment,
            PaymentConfirmation(
                actor=FINANCE, received_amount=Decimal("4200.00"), received_on=today
            ),
        ),
        (wf.org_signoff, SimpleAction(actor=TECH)),
        (
            wf.site_signoff,
            SiteSignoffRequest(actor=SITE, plan_id=driver.plan.plan_id),
        ),
    ):
        if (
            (update is wf.site_signoff and not site_signoff)
            or (update is wf.confirm_payment and not confirm)
            or (update is wf.org_signoff and not org_signoff)
        ):
            continue
        result = await driver.h.execute_update(update, request)
        assert result.accepted, result.message


async def _paid_one_ready(make_driver: Any) -> tuple[PlanDriver, PlanDriver]:
    """Two plans paid for at stage 5-8; the tech dept signed off the first
    alone, so a batch gathers the first and not the other."""
    ready: PlanDriver = await make_driver()
    other: PlanDriver = await make_driver()
    await _reach_payment_together(ready, other)
    await ready.pay_and_sign()
    await other.pay_and_sign(org_signoff=False)
    return ready, other


async def test_one_invoice_number_belongs_to_one_payment(make_driver: Any) -> None:
    """Regression: the same number was accepted on two unrelated plans."""
    joint_a: PlanDriver = await make_driver()
    joint_b: PlanDriver = await make_driver()
    alone: PlanDriver = await make_driver()
    racer: PlanDriver = await make_driver()
    await _reach_payment_together(joint_a, joint_b, alone, racer)
    paid = [joint_a.plan.plan_id, joint_b.plan.plan_id]
    await _joint_application(joint_a, paid)
    await _joint_application(joint_b, list(reversed(paid)))
    await alone.pay_and_sign()
    await racer.pay_and_sign()

    # One payment for two plans, one invoice: both plans record it, with
    # the payment's total.
    shared = "26442000000000000101"
    assert (await _joint_invoice(joint_a, shared, "8400.00")).accepted
    assert (await _joint_invoice(joint_b, shared, "8400.00")).accepted

    # A plan of another payment is refused, naming the plans holding it.
    taken = await _invoice(alone, shared)
    assert not taken.accepted
    assert taken.message == t(
        "plan.invoice_number_taken", number=shared, plans="、".join(sorted(paid))
    )
    status = await alone.status()
    assert status.payment.invoice_number is None
    assert Duty.INVOICE in {o.duty for o in status.owed}

    # Two plans of two payments recording one new number at once: one wins.
    fresh = "26442000000000000202"
    first, second = await asyncio.gather(_invoice(alone, fresh), _invoice(racer, fresh))
    assert sorted([first.accepted, second.accepted]) == [False, True]
    loser, winner = (alone, racer) if second.accepted else (racer, alone)
    refused = first if not first.accepted else second
    assert winner.plan.plan_id in refused.message
    assert (await _invoice(loser, "26442000000000000303")).accepted


async def _joint_invoice(driver: PlanDriver, number: str, amount: str) -> Any:
    """Finance records the invoice ``number`` of ``amount`` on the plan."""
    return await driver.h.execute_update(
        ExamPlanWorkflow.record_invoice,
        InvoiceRecord(
            actor=FINANCE,
            number=number,
            issued_on=await driver.today(),
            amount=Decimal(amount),
        ),
    )


async def test_a_joint_payments_invoice_may_carry_the_payments_total(
    make_driver: Any, resources: Any
) -> None:
    """Regression (trial): a joint invoice carries the payment's total
    (8400.00 for two plans of 4200.00), and recording it was refused: each
    plan's invoice had to be for that plan's own amount."""
    pool, _ = resources
    first: PlanDriver = await make_driver()
    second: PlanDriver = await make_driver()
    await _reach_payment_together(first, second)
    paid = [first.plan.plan_id, second.plan.plan_id]
    plans = "、".join(sorted(paid))
    await _joint_application(first, paid)
    await _joint_application(second, paid, confirm=False)
    shared = "26442000000000000606"

    async def joint(driver: PlanDriver, amount: str) -> Any:
        return await _joint_invoice(driver, shared, amount)

    figures = {"invoiced": "8400.00", "confirmed": "4200.00", "plans": plans}
    early = await joint(first, "8400.00")
    assert (early.accepted, early.message) == (
        False,
        t("plan.invoice_joint_unconfirmed", unconfirmed=second.plan.plan_id, **figures),
    )
    await _confirm_again(second)  # confirmed at last
    wrong = await joint(first, "8000.00")
    assert (wrong.accepted, wrong.message) == (
        False,
        t(
            "plan.invoice_joint_total_mismatch",
            total="8400.00",
            **(figures | {"invoiced": "8000.00"}),
        ),
    )
    # Neither refusal kept anything.
    assert (await first.status()).payment.invoice_number is None
    assert await _audit(pool, first.plan.plan_id, "record_invoice") == []

    # The total, on both plans; each shows it with its own part.
    for driver in (first, second):
        result = await joint(driver, "8400.00")
        assert result.accepted, result.message
        status = await driver.status()
        assert status.payment.invoice_amount_text == "8400.00"
        assert status.payment.confirmed_amount_text == "4200.00"
        lines = "\n".join(render_status(status))
        assert t("cli.status.invoice_joint", plans=plans, share="4200.00") in lines
        [row] = await _audit(pool, driver.plan.plan_id, "record_invoice")
        assert row["amount"] == "8400.00"


async def test_a_cancelled_plan_is_left_out_of_a_joint_payments_total(
    make_driver: Any,
) -> None:
    """Review: a plan of a joint payment cancelled before its payment was
    confirmed still counted in the payment's total, so an invoice for the
    total of the others could never be recorded, and the refusal called the
    cancelled plan not confirmed yet."""
    first: PlanDriver = await make_driver()
    second: PlanDriver = await make_driver()
    withdrawn: PlanDriver = await make_driver()
    await _reach_payment_together(first, second, withdrawn)
    paid = sorted(d.plan.plan_id for d in (first, second, withdrawn))
    await _joint_application(first, paid)
    await _joint_application(second, paid, confirm=False)
    await _joint_application(withdrawn, paid, confirm=False)
    cancel = CancelRequest(actor=TECH, reason="考试计划重复创建")
    cancelled = await withdrawn.h.execute_update(ExamPlanWorkflow.cancel_plan, cancel)
    assert cancelled.accepted, cancelled.message
    shared = "26442000000000000707"
    figures = {"confirmed": "4200.00", "plans": "、".join(paid)}
    left_out = t("plan.invoice_joint_cancelled", cancelled=withdrawn.plan.plan_id)

    # The cancelled plan is named as such, not as one to confirm.
    early = await _joint_invoice(first, shared, "8400.00")
    assert (early.accepted, early.message) == (
        False,
        t(
            "plan.invoice_joint_unconfirmed",
            unconfirmed=second.plan.plan_id,
            invoiced="8400.00",
            **figures,
        )
        + left_out,
    )
    await _confirm_again(second)
    # Its part is no part of the total.
    counting_it = await _joint_invoice(first, shared, "12600.00")
    assert (counting_it.accepted, counting_it.message) == (
        False,
        t(
            "plan.invoice_joint_total_mismatch",
            total="8400.00",
            invoiced="12600.00",
            **figures,
        )
        + left_out,
    )
    for driver in (first, second):
        result = await _joint_invoice(driver, shared, "8400.00")
        assert result.accepted, result.message
        assert (await driver.status()).payment.invoice_amount_text == "8400.00"


async def test_finance_corrects_its_invoice_until_the_plan_is_in_a_batch(
    make_driver: Any, resources: Any
) -> None:
    """Regression: a wrong invoice could never be corrected."""
    pool, _ = resources
    driver, other = await _paid_one_ready(make_driver)
    plan_id = driver.plan.plan_id
    wrong, right = "26442000000000001111", "26442000000000002222"
    assert (await _invoice(driver, wrong)).accepted

    async def correct(number: str, reason: str) -> str:
        return await refusal_text(_invoice(driver, number, correct=True, reason=reason))

    assert await correct(right, "  ") == "reason_required: " + t(
        "plan.correct_reason_required"
    )
    assert await correct(wrong, "核对") == "unchanged: " + t("plan.correct_unchanged")
    assert await correct("INV-1", "核对") == "bad_argument: " + t(
        "plan.bad_invoice_number", value="INV-1"
    )

    result = await _invoice(
        driver, right, correct=True, reason="发票号码录入错误", typo=True
    )
    assert result.accepted, result.message
    change = t(
        "plan.correct_change",
        field=t("plan.field_invoice_number"),
        old=wrong,
        new=right,
    )
    assert result.message == t("plan.corrected", changes=change) + t(
        "plan.invoice_typo_not_voided", number=wrong
    )
    status = await driver.status()
    assert status.payment.invoice_number == right
    assert status.history[-1].action == "correct_invoice"
    assert status.history[-1].note == "发票号码录入错误"
    [row] = await _audit(pool, plan_id, "correct_invoice")
    assert row["old_invoice"] == wrong and row["invoice"] == right
    assert row["reason"] == "发票号码录入错误"
    # The wrong number is free again: another payment's invoice may carry it.
    assert (await _invoice(other, wrong)).accepted

    # In an approval batch the record is what the general manager approves.
    await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    batch = await driver.start_batch()
    await driver.wait_gathered()
    in_batch = await correct("26442000000000003333", "再次核对")
    assert in_batch == "in_batch: " + t(
        "plan.correct_in_batch", batch_id=driver.batch_id
    )
    # Rejected without a return: out of the batch, finance may correct again.
    await batch.execute_update(
        ApprovalBatchWorkflow.decide,
        BatchDecisionRequest(actor=GM, reject={plan_id: "发票号码有误，请财务核对"}),
    )
    await driver.wait_for(lambda s: s.batch_id is None)
    again = await _invoice(
        driver, "26442000000000003333", correct=True, reason="再次核对"
    )
    assert again.accepted, again.message


async def test_finance_corrects_the_received_date_of_its_confirmation(
    make_driver: Any, resources: Any
) -> None:
    """Regression: a wrong payment confirmation could never be corrected."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    await driver.pay_and_sign()  # paid and received today
    paid = await driver.today()
    invoiced, later = paid + timedelta(days=1), paid + timedelta(days=2)
    await driver.skip(3)

    def payment(day: date, *, correct: bool = True) -> PaymentConfirmation:
        return PaymentConfirmation(
            actor=FINANCE,
            received_amount=Decimal("4200.00"),
            received_on=day,
            correct=correct,
            reason="到账日期录入错误" if correct else "",
        )

    async def refusal(request: PaymentConfirmation) -> str:
        return await refusal_text(
            driver.h.execute_update(ExamPlanWorkflow.confirm_payment, request)
        )

    assert await refusal(payment(paid, correct=False)) == "already_done: " + t(
        "plan.already_recorded"
    )
    assert await refusal(payment(paid)) == "unchanged: " + t("plan.correct_unchanged")
    result = await _invoice(driver, "26442000000000004444", issued_on=invoiced)
    assert result.accepted, result.message
    # Received after the invoice's date: refused, the invoice would precede it.
    assert await refusal(payment(later)) == "date_order: " + t(
        "plan.received_after_invoice",
        day=later.isoformat(),
        invoice=invoiced.isoformat(),
    )

    result = await driver.h.execute_update(
        ExamPlanWorkflow.confirm_payment, payment(invoiced)
    )
    assert result.accepted, result.message
    status = await driver.status()
    assert status.payment.received_on == invoiced
    [row] = await _audit(pool, driver.plan.plan_id, "correct_payment")
    assert row["old_received_on"] == paid.isoformat()
    assert row["received_on"] == invoiced.isoformat()
    assert row["reason"] == "到账日期录入错误"


async def test_a_payment_checked_again_voids_its_invoice_in_the_status(
    make_driver: Any,
) -> None:
    """Regression: after a return to payment_check the old invoice showed as
    the plan's, beside an invoice owed."""
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    await driver.pay_and_sign()
    await driver.record_invoice()
    await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    status = await driver.status()
    # The method the site gave is kept, and money reads with two decimals.
    assert status.payment.method == "银行转账"
    dumped = status.model_dump(mode="json")["payment"]
    assert dumped["declared_amount"] == 4200.0
    assert dumped["declared_amount_text"] == "4200.00"
    assert dumped["confirmed_amount_text"] == "4200.00"
    lines = "\n".join(render_status(status))
    assert driver.invoice_number in lines
    assert "银行转账" in lines

    status = await _send_back_to_payment_check(driver)
    assert status.payment.invoice_number is None
    assert status.payment.void_invoice_number == driver.invoice_number
    lines = "\n".join(render_status(status))
    assert t("cli.status.invoice_void", number=driver.invoice_number) in lines

    # Confirmed again, the plan is invoiced anew: the voided number is not
    # recorded again (see the test below), a new one is.
    await _confirm_again(driver)
    assert (await _invoice(driver, "88880000222")).accepted
    status = await driver.status()
    assert status.payment.invoice_number == "88880000222"
    assert status.payment.void_invoice_number is None


async def test_a_voided_invoice_is_audited_and_stays_listed_after_the_next(
    make_driver: Any, resources: Any
) -> None:
    """Regression: voiding an invoice wrote no audit line, and once finance
    recorded the next invoice the voided one was shown nowhere."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    await driver.pay_and_sign()
    await driver.record_invoice()
    issued = await driver.today()
    await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    await _send_back_to_payment_check(driver)
    await _confirm_again(driver)
    recorded = await _invoice(driver, "88880000111")
    assert recorded.accepted, recorded.message

    # The audit line of the void: which invoice, its date and amount, who
    # sent the payment back, from which batch and why.
    [row] = await pool.fetch(
        "SELECT role, person, details FROM audit"
        " WHERE plan_id = $1 AND action = 'void_invoice'",
        driver.plan.plan_id,
    )
    assert (row["role"], row["person"]) == (GM.role.value, GM.person)
    assert dict(row["details"]) == {
        "invoice": driver.invoice_number,
        "issued_on": issued.isoformat(),
        "amount": "4200.00",
        "batch_id": driver.batch_id,
        "reason": "到账金额待核",
    }
    # The new invoice is the plan's; the voided one stays listed, as such.
    status = await driver.status()
    assert status.payment.invoice_number == "88880000111"
    [voided] = status.payment.voided_invoices
    assert voided.number == driver.invoice_number
    assert (voided.issued_on, voided.amount_text) == (issued, "4200.00")
    assert (voided.role, voided.person) == (GM.role, GM.person)
    assert (voided.batch_id, voided.reason) == (driver.batch_id, "到账金额待核")
    dumped = status.model_dump(mode="json")["payment"]["voided_invoices"]
    assert dumped[0]["number"] == driver.invoice_number
    assert dumped[0]["amount_text"] == "4200.00" and dumped[0]["voided_at"]
    lines = "\n".join(render_status(status))
    assert "88880000111" in lines
    assert t("cli.status.invoice_voided") in lines and "已作废" in lines
    [line] = [x for x in lines.splitlines() if t("cli.status.invoice_voided") in x]
    assert driver.invoice_number in line and "4200.00" in line
    assert "到账金额待核" in line and driver.batch_id in line
    # The history says it too, naming the invoice.
    assert f"{t('actions.void_invoice')} {driver.invoice_number}" in lines


async def test_a_voided_invoice_number_is_never_recorded_again(
    make_driver: Any, resources: Any
) -> None:
    """Regression: once finance recorded the next invoice of a plan whose
    payment was sent back, the voided invoice's number was free, and another
    payment (or the plan itself) could record it; a voided invoice's number
    is never issued again."""
    pool, _ = resources
    voiding, other = await _paid_one_ready(make_driver)
    voided = voiding.invoice_number
    await voiding.record_invoice()
    await voiding.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    await _send_back_to_payment_check(voiding)
    await _confirm_again(voiding)
    voided_at = await pool.fetchval(
        "SELECT at FROM audit WHERE plan_id = $1 AND action = 'void_invoice'",
        voiding.plan.plan_id,
    )
    refusal = t(
        "plan.invoice_number_voided",
        number=voided,
        plan_id=voiding.plan.plan_id,
        at=format_cst(voided_at),
    )

    # The plan that voided it may not record it again, nor correct to it.
    again = await _invoice(voiding, voided)
    assert (again.accepted, again.message) == (False, refusal)
    renewed = await _invoice(voiding, "88880000333")
    assert renewed.accepted, renewed.message
    corrected = await _invoice(voiding, voided, correct=True, reason="发票号码录入错误")
    assert (corrected.accepted, corrected.message) == (False, refusal)
    # Nor may another payment, though no plan holds the number any longer.
    taken = await _invoice(other, voided)
    assert (taken.accepted, taken.message) == (False, refusal)
    # Nothing of the refused records was kept.
    assert (await voiding.status()).payment.invoice_number == "88880000333"
    assert (await other.status()).payment.invoice_number is None
    assert await _audit(pool, other.plan.plan_id, "record_invoice") == []
    assert not await pool.fetchval(
        "SELECT 1 FROM plan_invoices WHERE number = $1", voided
    )


async def test_finance_corrects_the_reference_of_its_confirmation_alone(
    make_driver: Any, resources: Any
) -> None:
    """Regression (trial): a confirmation whose bank reference alone was wrong
    was refused as unchanged, and the reference was shown nowhere."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.reach_payment()
    await driver.pay_and_sign()
    received = (await driver.status()).payment.received_on
    assert received is not None

    def payment(reference: str) -> PaymentConfirmation:
        return PaymentConfirmation(
            actor=FINANCE,
            received_amount=Decimal("4200.00"),
            received_on=received,
            reference=reference,
            correct=True,
            reason="凭证号录入错误",
        )

    first = await driver.h.execute_update(
        ExamPlanWorkflow.confirm_payment, payment("BANK-REF-10")
    )
    again = await refusal_text(
        driver.h.execute_update(
            ExamPlanWorkflow.confirm_payment, payment("BANK-REF-10")
        )
    )

    assert first.accepted, first.message
    assert t("plan.field_reference") in first.message
    assert again == "unchanged: " + t("plan.correct_unchanged")
    status = await driver.status()
    assert status.payment.received_reference == "BANK-REF-10"
    assert "BANK-REF-10" in "\n".join(render_status(status))
    [row] = await _audit(pool, driver.plan.plan_id, "correct_payment")
    assert row["reference"] == "BANK-REF-10"


def _decide(batch: Any, **fields: Any) -> Any:
    return batch.execute_update(
        ApprovalBatchWorkflow.decide, BatchDecisionRequest(actor=GM, **fields)
    )


async def _batch_of(driver: PlanDriver, *others: PlanDriver) -> Any:
    """A batch gathering ``driver``'s plan (and ``others``' if ready), once it
    has read their joint payments and takes a decision."""
    batch = await driver.start_batch()
    for plan in (driver, *others):
        await plan.wait_gathered(driver.batch_id)
    for _ in range(100):
        status = await batch.query(ApprovalBatchWorkflow.status)
        if status.joint_payments:
            break
        await asyncio.sleep(0.1)
    # Not read within 10 s, the decisions below say what became of it.
    return batch


async def _jointly_invoiced(
    make_driver: Any, number: str, *, both_ready: bool = True
) -> tuple[PlanDriver, PlanDriver]:
    """Two plans of one payment, one invoice ``number`` for its total recorded
    on both; the second awaits approval too unless ``both_ready`` is False
    (its site has not signed off)."""
    first: PlanDriver = await make_driver()
    second: PlanDriver = await make_driver()
    await _reach_payment_together(first, second)
    paid = [first.plan.plan_id, second.plan.plan_id]
    await _joint_application(first, paid)
    await _joint_application(second, paid, site_signoff=both_ready)
    for driver in (first, second):
        assert (await _joint_invoice(driver, number, "8400.00")).accepted
    await first.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    if both_ready:
        await second.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    return first, second


async def test_a_joint_payment_goes_back_to_be_checked_again_whole_or_not_at_all(
    make_driver: Any, resources: Any
) -> None:
    """Regression (trial): the general manager approved one plan of a joint
    payment and sent the other back to ``payment_check``: the one invoice of
    the payment was voided on the plan sent back and stayed valid on the
    approved one, which was issued and invoiced, and nobody was told."""
    pool, _ = resources
    shared = "26442000000000000404"
    first, second = await _jointly_invoiced(make_driver, shared)
    a, b = first.plan.plan_id, second.plan.plan_id
    batch = await _batch_of(first, second)

    # One plan sent back, the other approved or waiting for the next batch:
    # refused, naming the other plan and what to do instead.
    refusal = "bad_argument: " + t(
        "batch.joint_return_partial", plan_id=a, others=b, voids=WHOLE, kept=b
    )
    back = {a: [Duty.PAYMENT_CHECK]}
    approved = _decide(batch, approve=[b], reject={a: "到账待核"}, return_to=back)
    assert await refusal_text(approved) == refusal
    both = {a: "到账待核", b: "到账待核"}
    assert await refusal_text(_decide(batch, reject=both, return_to=back)) == refusal
    status = await batch.query(ApprovalBatchWorkflow.status)
    assert not status.decided
    for driver in (first, second):
        assert (await driver.status()).payment.invoice_number == shared
    # batch status says so before the general manager decides.
    joint = t("cli.batch_joint", plans="、".join(sorted([a, b])), outside="")
    assert joint in batch_lines(status)

    # Both sent back (a new application is a payment to check again too): the
    # invoice is void on both, each with its audit line.
    decided = await _decide(
        batch, reject=both, return_to={a: [Duty.PAYMENT_CHECK], b: [Duty.APPLICATION]}
    )
    assert sorted(decided.returned) == sorted([a, b])
    await voided_on_each(pool, shared, first, second)


async def voided_on_each(pool: Any, number: str, *drivers: PlanDriver) -> None:
    """Each plan, sent back to stage 5-8, holds no invoice but the void of
    ``number``, audited on each of them and no other."""
    for driver in drivers:
        status = await driver.wait_for(
            lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF and s.batch_id is None
        )
        assert status.payment.invoice_number is None
        assert status.payment.void_invoice_number == number
    voided = await pool.fetch(
        "SELECT plan_id FROM audit"
        " WHERE action = 'void_invoice' AND details ->> 'invoice' = $1",
        number,
    )
    assert sorted(row["plan_id"] for row in voided) == sorted(
        d.plan.plan_id for d in drivers
    )


async def test_a_plan_of_a_joint_payment_outside_the_batch_keeps_it_from_going_back(
    make_driver: Any,
) -> None:
    """A joint payment's plan not in the batch (here not ready yet; approved
    or issued before alike) would keep the invoice a return voids: the
    return is refused naming it, and the plan is rejected without one."""
    shared = "26442000000000000505"
    ready, waiting = await _jointly_invoiced(make_driver, shared, both_ready=False)
    a, b = ready.plan.plan_id, waiting.plan.plan_id
    batch = await _batch_of(ready)

    back = _decide(batch, reject={a: "到账待核"}, return_to={a: [Duty.PAYMENT_CHECK]})
    assert await refusal_text(back) == "bad_argument: " + t(
        "batch.joint_return_outside", plan_id=a, others=b, voids=WHOLE, outside=b
    )
    status = await batch.query(ApprovalBatchWorkflow.status)
    plans = "、".join(sorted([a, b]))
    assert t("cli.batch_joint_outside", plans=plans, outside=b) in batch_lines(status)
    # Rejected without a return, the plan waits for the next batch; the
    # invoice stays valid on both plans (finance corrects it if need be).
    await _decide(batch, reject={a: "发票待核，请财务核对"})
    status = await ready.wait_for(lambda s: s.batch_id is None)
    assert status.stage == Stage.AWAITING_APPROVAL
    for driver in (ready, waiting):
        assert (await driver.status()).payment.invoice_number == shared
