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
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.batch_report import BatchReportActivities, Check
from certflow.actions import (
    BatchDecisionRequest,
    CancelRequest,
    DifferenceSettlement,
    InvoiceRecord,
    PaymentConfirmation,
)
from certflow.activity_models import BatchReportRequest
from certflow.config import DeadlinePolicy
from certflow.i18n import t
from certflow.models import Role, Stage, SummaryStats
from certflow.payment_difference import (
    DifferenceKind,
    SettledDifference,
    difference_text,
)
from certflow.plan import Duty, PaymentRecord, PlanState, difference_of
from certflow.timeutil import cst_date
from starter.sample_plan import sample_plan
from tests.cli.conftest import certflow_runner
from tests.conftest import replay_all
from tests.support import (
    FINANCE,
    GM,
    TECH,
    HeldAnswer,
    PlanDriver,
    approve_and_apply,
    correction_request,
    mails_of,
    refusal_text,
    runs_of,
    unique_plan_id,
    worker_holding,
)
from tests.workflow.test_finance import _application, sign_off
from tests.workflow.test_update_flood import continued
from tests.workflow.test_web_ui_details import details_showing
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]

wf = ExamPlanWorkflow
# Seq 12 of the sample fails (practical 50.10); 60.10 makes it pass.
SEQ_12 = "2026110412012"
# Seq 2 of the sample passes; absent, it does not.
SEQ_2 = "2026110412002"
# Seqs 6 and 18 of the sample are absent (缺考); present, they fail until
# both part scores are in.
SEQ_6 = "2026110412006"
SEQ_18 = "2026110412018"
FINANCE_ARGS = ["--as", "finance", "--person", FINANCE.person]


async def _filed(driver: PlanDriver, admission: str, field: str, value: str) -> str:
    filed = await driver.h.execute_update(
        wf.submit_correction, correction_request(admission, field, value)
    )
    assert filed.accepted and filed.reference, filed.message
    return str(filed.reference)


async def _confirmed_then_corrected(
    driver: PlanDriver,
    corrections: list[tuple[str, str, str]],
    *,
    invoice: bool,
    heads: int = 14,
    absentees: int = 0,
    amount: str = "4200.00",
    applied_first: tuple[tuple[str, str, str], ...] = (),
    **input_fields: Any,
) -> list[str]:
    """A plan whose site paid 4200.00 for its 14 passes (or ``amount`` for
    ``heads``, ``absentees`` of them absent), confirmed by finance (and
    invoiced, with ``invoice``), before the corrections filed during
    publicity were applied (those ``applied_first`` were, during publicity);
    the plan's input has ``input_fields``. Returns the requests' ids."""
    await driver.reach_publicity(**input_fields)
    await driver.open_publicity()
    for admission, field, value in applied_first:
        await _apply(driver, await _filed(driver, admission, field, value))
    filed = [await _filed(driver, *correction) for correction in corrections]
    await driver.skip(15)
    await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    today = await driver.today()
    uploaded = await driver.h.execute_update(
        wf.upload_application, _application(driver, heads, absentees, amount, today)
    )
    assert uploaded.accepted, uploaded.message
    confirmed = await driver.h.execute_update(
        wf.confirm_payment,
        _payment(Decimal(amount), today),
    )
    assert confirmed.accepted, confirmed.message
    if invoice:
        await driver.record_invoice(Decimal(amount))
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
    applied = await _a_15th_pass(driver, invoice=True)

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
    open_json = as_json["payment"]["difference"]
    assert (open_json["amount"], open_json["amount_text"]) == (300.0, "300.00")
    assert open_json["owner"] == "finance"

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
    # The invoice holds it now: owed by finance; nobody owes its gathering.
    assert {o.duty for o in status.owed} == {Duty.INVOICE_CORRECTION}
    assert status.payment_held is not None
    assert status.payment_held.reason == "invoice"
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
    # In --json a settlement's money is numbers with their text, as the
    # payment's own: not "300.00" beside 4500.0.
    as_json = json.loads((await certflow("status", plan_id, "--json")).out)
    [entry] = as_json["payment"]["settlements"]
    assert (entry["amount"], entry["amount_text"]) == (300.0, "300.00")
    money = ("confirmed_amount", "confirmed_amount_text", "expected_amount")
    assert tuple(entry[key] for key in money) == (4200.0, "4200.00", 4500.0)
    assert as_json["payment"]["confirmed_amount"] == 4500.0
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


async def test_a_settlement_written_when_its_money_was_text_still_loads() -> None:
    """The plan's state goes into the workflow history as JSON (continue-as-
    new), where a settlement's money was text ("300.00") before it became a
    number like the payment's own. A state written either way reads to the
    cent, and the state written now reads back as it was."""
    converter = pydantic_data_converter.payload_converter
    figures = {
        "opened_at": "2027-01-04T02:00:00Z",
        "request_id": "P2026-1104-0412-C001",
        "confirmed_heads": 14,
        "confirmed_amount": "4200.00",
        "expected_heads": 15,
        "expected_absentees_paid": 0,
        "expected_amount": "4500.00",
        "amount": "300.00",
        "kind": "supplement",
        "owner": "finance",
    }
    settled = {
        **figures,
        "settled_at": "2027-01-05T02:00:00Z",
        "settled_on": "2027-01-05",
        "role": "finance",
        "person": FINANCE.person,
    }
    old = {"confirmed_amount": 4500.0, "settlements": [settled], "difference": figures}
    [payload] = converter.to_payloads([old])

    [payment] = converter.from_payloads([payload], [PaymentRecord])
    [done] = payment.settlements
    assert (done.confirmed_amount, done.expected_amount) == (
        Decimal("4200.00"),
        Decimal("4500.00"),
    )
    assert payment.difference is not None and payment.difference.amount == 300
    [written] = converter.to_payloads([payment])
    assert json.loads(written.data)["settlements"][0]["amount"] == 300.0
    [again] = converter.from_payloads([written], [PaymentRecord])
    assert again == payment
    assert str(again.settlements[0].expected_amount) == "4500.00"


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


async def _a_15th_pass(driver: PlanDriver, *, invoice: bool) -> str:
    """4200.00 confirmed for 14 (and invoiced, with ``invoice``), then a
    correction applied that makes a 15th pass; returns its answer."""
    [request_id] = await _confirmed_then_corrected(
        driver, [(SEQ_12, "practical", "60.10")], invoice=invoice
    )
    return await _apply(driver, request_id)


async def signed_off_owing_a_supplement(make_driver: Any) -> PlanDriver:
    """A plan at 300.00 a head, 4200.00 confirmed and invoiced for 14, a
    15th pass applied, then signed off: awaiting approval, its difference
    (补缴 300.00) holding it out of every batch."""
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    await _a_15th_pass(driver, invoice=True)
    await sign_off(driver)
    await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    return driver


async def _a_pass_then_an_absentee(
    make_driver: Any, **input_fields: Any
) -> tuple[PlanDriver, str, str]:
    """A plan at 300.00 a head, 4200.00 confirmed and invoiced for 14, with
    two requests to apply: a 15th pass, then a candidate paid for absent."""
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    first, second = await _confirmed_then_corrected(
        driver,
        [(SEQ_12, "practical", "60.10"), (SEQ_2, "status", "缺考")],
        invoice=True,
        **input_fields,
    )
    return driver, first, second


async def _settle(driver: PlanDriver, amount: str, *, refund: bool = False) -> str:
    """Finance settles the open difference, dated today; returns the answer."""
    today = await driver.today()
    day = {"refunded_on" if refund else "received_on": today}
    settled = await driver.h.execute_update(
        wf.settle_payment_difference,
        DifferenceSettlement(actor=FINANCE, amount=Decimal(amount), **day),
    )
    assert settled.accepted, settled.message
    return str(settled.message)


async def _hold_of(pool: Any, plan_id: str) -> str | None:
    reason: str | None = await pool.fetchval(
        "SELECT reason FROM payment_holds WHERE plan_id = $1", plan_id
    )
    return reason


async def _cancelled(driver: PlanDriver) -> None:
    """Cancel a plan a test leaves awaiting approval, so no gathering of a
    later test takes it (or holds it back)."""
    cancelled = await driver.h.execute_update(
        wf.cancel_plan,
        CancelRequest(actor=TECH, reason="测试结束", refund_by_finance=True),
    )
    assert cancelled.accepted, cancelled.message


async def _sheet_line(worker_settings: Any, resources: Any, plan_id: str) -> Any:
    """The plan's line of an approval sheet drawn now, as a gathering would."""
    pool, store = resources
    report = await BatchReportActivities(worker_settings, pool, store).gather(
        BatchReportRequest(batch_id=f"S-{plan_id}", plan_ids=[plan_id])
    )
    [line] = report.lines
    return line


async def test_a_settlement_back_to_the_invoiced_total_owes_no_invoice_correction(
    make_driver: Any, resources: Any
) -> None:
    """Review: 4200.00 confirmed and invoiced; a 15th pass, +300.00 settled;
    another candidate absent, -300.00 settled. The payment reads 4200.00 again,
    as the invoice does: nothing is owed for the invoice and nothing holds
    the plan (before, the plan was held for ever: the correction finance was
    told to make, 按 4200.00 元, was refused as unchanged)."""
    pool, _ = resources
    driver, first, second = await _a_pass_then_an_absentee(make_driver)
    plan_id = driver.plan.plan_id
    await _apply(driver, first)
    answer = await _settle(driver, "300.00")
    assert "按 4500.00 元" in answer
    owed = {o.duty for o in (await driver.status()).owed}
    assert Duty.INVOICE_CORRECTION in owed
    assert await _hold_of(pool, plan_id) == "invoice"

    await _apply(driver, second)
    answer = await _settle(driver, "300.00", refund=True)

    assert answer.endswith(
        t(
            "plan.difference_invoice_matches",
            number=driver.invoice_number,
            amount="4200.00",
        )
    )
    status = await driver.status()
    assert (status.payment.confirmed_amount, status.payment.head_count) == (
        4200.0,
        14,
    )
    assert Duty.INVOICE_CORRECTION not in {o.duty for o in status.owed}
    assert await _hold_of(pool, plan_id) is None
    assert len(status.payment.settlements) == 2


async def test_an_absentee_paid_for_who_passes_leaves_the_sheet_matching(
    make_driver: Any, resources: Any, worker_settings: Any
) -> None:
    """Review: the site paid 4500.00 for 14 passes and 1 absentee; both
    absentees are corrected present, one of them passing. The money is as it
    was (15 passes, no absentee to pay for): the plan said so, but the
    approval sheet read the application's absentee, 16 × 300.00 against
    4500.00 paid, and flagged the plan."""
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    plan_id = driver.plan.plan_id
    absent, theory, practical = await _confirmed_then_corrected(
        driver,
        [
            (SEQ_18, "status", "正常"),
            (SEQ_6, "theory", "80"),
            (SEQ_6, "practical", "80"),
        ],
        invoice=False,
        heads=15,
        absentees=1,
        amount="4500.00",
        applied_first=((SEQ_6, "status", "正常"),),
    )
    # The other absentee present (and failed): none left to pay for, 退还 300.00.
    await _apply(driver, absent)
    difference = (await driver.status()).payment.difference
    assert difference is not None and difference.amount == Decimal("-300.00")
    await _apply(driver, theory)
    # Passed: the money is as confirmed again; the figures follow.
    answer = await _apply(driver, practical)
    assert answer.endswith(t("plan.difference_cleared", heads=15))
    payment = (await driver.status()).payment
    assert payment.difference is None
    assert (payment.head_count, payment.absentees_paid) == (15, 0)

    line = await _sheet_line(worker_settings, resources, plan_id)
    assert line.line.passed == 15 and line.line.payment.absentees_paid == 0
    assert line.check is Check.MATCH, line
    assert line.line.payment.amount == Decimal("4500.00")


async def test_the_sheet_reads_the_settlement_before_the_hold_lifts(
    make_driver: Any, resources: Any, worker_settings: Any
) -> None:
    """Review: a settlement lifted the plan's hold before it wrote the audit
    line the approval sheet reads the payment from; a gathering in between
    drew the sheet from the old confirmation (4200.00 for 15 passes:
    flagged). The hold's lift is held here, as on a loaded worker, while a
    sheet is drawn."""
    pool, _ = resources
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    plan_id = driver.plan.plan_id
    hold = HeldAnswer(
        "record_payment_hold",
        when=lambda h: h.plan_id == plan_id and h.reason is None,
    )
    async with worker_holding(driver, resources, hold):
        await _a_15th_pass(driver, invoice=False)
        await sign_off(driver)
        settling = asyncio.create_task(_settle(driver, "300.00"))
        await asyncio.wait_for(hold.written.wait(), 30)
        # The hold is lifted in PostgreSQL: a gathering would take the plan.
        assert await _hold_of(pool, plan_id) is None
        line = await _sheet_line(worker_settings, resources, plan_id)
        hold.released.set()
        await asyncio.wait_for(settling, 30)
        await _cancelled(driver)
        # Ended before its worker is: the clock skips no time for a plan
        # whose worker is gone.
        await asyncio.wait_for(driver.h.result(), 30)
    assert line.line.payment.amount == Decimal("4500.00")
    assert line.check is Check.MATCH, line


async def test_a_plan_with_an_open_difference_cancelled_is_held_no_more(
    make_driver: Any,
    resources: Any,
    sink_messages: Any,
    worker_settings: Any,
    client: Any,
) -> None:
    """Review: cancelling a plan whose difference was open withdrew the duty
    but left the plan held in ``payment_holds``, ``certflow status`` still
    said 待财务部结清, and finance's mail named the money confirmed but not
    the difference (a supplement the site may have paid, to return too).
    And finance's correction of the payment meanwhile was refused as if the
    site had to send its application again."""
    pool, _ = resources
    certflow = certflow_runner(worker_settings, client)
    driver = await signed_off_owing_a_supplement(make_driver)
    plan_id = driver.plan.plan_id
    difference = (await driver.status()).payment.difference
    assert difference is not None
    text = difference_text(difference)

    # payment --correct says to settle first, not to have the site send again.
    correction = PaymentConfirmation(
        actor=FINANCE,
        received_amount=Decimal("4200.00"),
        received_on=await driver.today(),
        reference="BK-0999",
        correct=True,
        reason="补记凭证号",
    )
    refusal = await refusal_text(
        driver.h.execute_update(wf.confirm_payment, correction)
    )
    assert refusal == "difference_open: " + t(
        "plan.correct_difference_open", difference=text
    )
    assert "重新上传" not in refusal.replace("无须重新上传", "")

    await _cancelled(driver)

    assert await _hold_of(pool, plan_id) is None
    shown = await certflow("status", plan_id)
    assert "待财务部结清" not in shown.out, shown.out
    assert t("payment_difference.open_cancelled", difference=text) in shown.out
    [mail] = await mails_of(sink_messages, plan_id, "plan_cancelled_money")
    body = str(mail.get_body(("plain",)).get_content())
    assert t("plan.money_held_difference", difference=text) in body


async def test_without_a_fee_a_count_that_comes_back_costs_what_was_paid(
    make_driver: Any,
) -> None:
    """Review: a plan without a fee priced each difference at the rate of
    the total last settled, rounded each time: 1000.09 for 14, 13 heads
    (退还 71.43), 14 again (补缴 71.44), 1000.10 for what cost 1000.09. Now
    at the first confirmed payment's rate, rounded once."""
    driver: PlanDriver = await make_driver()
    assert driver.plan.fee_per_candidate is None
    absent, passes = await _confirmed_then_corrected(
        driver,
        [(SEQ_2, "status", "缺考"), (SEQ_12, "practical", "60.10")],
        invoice=False,
        amount="1000.09",
    )
    await _apply(driver, absent)
    difference = (await driver.status()).payment.difference
    assert difference is not None
    assert (difference.expected_heads, difference.amount) == (13, Decimal("-71.43"))
    await _settle(driver, "71.43", refund=True)

    await _apply(driver, passes)
    difference = (await driver.status()).payment.difference
    assert difference is not None
    assert difference.expected_amount == Decimal("1000.09")
    assert difference.amount == Decimal("71.43")
    await _settle(driver, "71.43")
    payment = (await driver.status()).payment
    assert (payment.confirmed_amount_text, payment.head_count) == ("1000.09", 14)


async def test_an_open_difference_and_its_settlements_survive_continue_as_new(
    make_driver: Any, resources: Any
) -> None:
    """The plan's run reaches its update limit right after the correction
    that opens the difference: the new run holds the difference, owes its
    settlement, keeps the plan held, takes the settlement and reckons the
    next correction against the settled total."""
    pool, _ = resources
    # 7 updates to publicity, 2 requests, the application, the confirmation
    # and the invoice: 12; the first request's decision and application: 14.
    driver, first, second = await _a_pass_then_an_absentee(make_driver, update_limit=14)
    plan_id = driver.plan.plan_id
    assert len(await runs_of(driver)) == 1
    await _apply(driver, first)
    before = (await driver.status()).payment.difference
    runs = await continued(driver)
    assert len(runs) == 2

    status = await driver.status()
    assert status.payment.difference == before is not None
    assert Duty.PAYMENT_DIFFERENCE in {o.duty for o in status.owed}
    assert await _hold_of(pool, plan_id) == "difference"
    await _settle(driver, "300.00")
    await _apply(driver, second)

    status = await driver.status()
    [settled] = status.payment.settlements
    assert settled.amount == Decimal("300.00")
    difference = status.payment.difference
    assert difference is not None
    assert (difference.confirmed_amount, difference.amount) == (
        Decimal("4500.00"),
        Decimal("-300.00"),
    )
    assert await _hold_of(pool, plan_id) == "difference"
    await replay_all(
        [driver.client.get_workflow_handle(driver.h.id, run_id=r) for r in runs]
    )


async def test_without_a_fee_a_payment_confirmed_anew_is_priced_at_its_own_rate() -> (
    None
):
    """Review: a plan without a fee priced a difference at the rate of its
    first settlement's confirmation (4200.00 for 14) even once a batch's
    return had the site apply again and finance confirm another rate (6000.00
    for 15): settlements are never cleared. Priced now from the payment
    confirmed last, as first confirmed. (The workflow takes no correction
    after a return, its sign-off needing the corrections closed: this is the
    rule itself, should one come.)"""
    now = datetime.now(UTC)
    plan = sample_plan(cst_date(now), unique_plan_id())
    earlier = SettledDifference(
        opened_at=now,
        request_id="R-1",
        confirmed_heads=14,
        confirmed_amount=Decimal("4200.00"),
        expected_heads=15,
        expected_absentees_paid=0,
        expected_amount=Decimal("4500.00"),
        settled_at=now,
        settled_on=cst_date(now),
        role=Role.FINANCE,
        person=FINANCE.person,
    )
    state = PlanState(
        info=plan,
        policy=DeadlinePolicy(),
        started_at=now,
        summary=SummaryStats(version=1, candidates=15, passed=14, failed=0, absent=1),
        payment=PaymentRecord(
            head_count=15,
            confirmed_amount=6000.0,
            settlements=[earlier],
            priced_from=1,
        ),
    )
    difference = difference_of(state, now, "R-2")
    assert difference is not None
    assert (difference.expected_heads, difference.expected_amount) == (
        14,
        Decimal("5600.00"),
    )
