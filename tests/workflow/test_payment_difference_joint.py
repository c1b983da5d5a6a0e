"""A payment difference on one plan of a joint payment invoiced whole, and
the invoices and messages around a settlement.

One invoice for a whole joint payment is one invoice on every plan of it: a
difference on one plan makes it wrong on all of them. Regression (finance
staff trial): P13 and P14 were one payment invoiced whole (8400.00); a late
correction made P13 owe a refund, the answer said no plan of the payment
would be gathered until all were corrected alike, yet a gathering took P14
with its 8400.00 invoice, and its status said nothing.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest

from activities.batch_report import BatchReportActivities
from certflow.actions import (
    CancelRequest,
    CorrectionApply,
    CorrectionDecision,
    DifferenceSettlement,
    PaymentConfirmation,
    SiteSignoffRequest,
    batch_workflow_id,
)
from certflow.activity_models import BatchReportRequest
from certflow.i18n import t
from certflow.joint_invoice import InvoiceHolding, still_to_correct
from certflow.models import Role, Stage
from certflow.payment_difference import difference_text
from starter.smtp_sink import body_text
from tests.cli.conftest import certflow_runner
from tests.support import (
    FINANCE,
    INFO,
    MANAGER,
    SITE,
    TECH,
    PlanDriver,
    approve_and_apply,
    correction_request,
    mails_of,
    refusal_text,
)
from tests.workflow.test_finance import sign_off
from tests.workflow.test_invoice_records import (
    _invoice,
    _joint_application,
    _joint_invoice,
    _send_back_to_payment_check,
)
from tests.workflow.test_payment_difference import (
    FINANCE_ARGS,
    SEQ_2,
    SEQ_12,
    _confirmed_then_corrected,
)
from tests.workflow.test_web_ui_details import details_showing
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]

wf = ExamPlanWorkflow
TECH_ARGS = ["--as", "tech_dept", "--person", TECH.person]
HELD_BY_PARTNER = t("payment_difference.held_joint").split("{")[0]


async def late_difference_in_joint_payment(
    make_driver: Any,
    number: str,
    correction: tuple[str, str, str],
    *,
    issue_partner: bool = False,
) -> tuple[PlanDriver, PlanDriver]:
    """Two plans of one payment, 4200.00 each, invoiced whole (8400.00)
    under ``number``: the second awaiting approval as paid (approved and
    issued, with ``issue_partner``); the first with ``correction`` applied
    after finance confirmed its payment, a difference open, not signed off."""
    held: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    partner: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    for driver in (held, partner):
        await driver.reach_publicity()
    await held.open_publicity()
    filed = await held.h.execute_update(
        wf.submit_correction, correction_request(*correction)
    )
    assert filed.accepted and filed.reference, filed.message
    await held.skip(15)
    for driver in (held, partner):
        await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    paid = [held.plan.plan_id, partner.plan.plan_id]
    # The request is not applied yet: the tech dept cannot sign off.
    await _joint_application(held, paid, site_signoff=False, org_signoff=False)
    await _joint_application(partner, paid)
    for driver in (held, partner):
        assert (await _joint_invoice(driver, number, "8400.00")).accepted
    await partner.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    if issue_partner:
        await partner.approve_in_batch()
        await partner.wait_for(lambda s: s.stage == Stage.ISSUED, attempts=600)
    await approve_and_apply(held, filed.reference)
    assert (await held.status()).payment.difference is not None
    return held, partner


async def _difference_beside_a_waiting_plan(
    make_driver: Any, number: str, correction: tuple[str, str, str]
) -> tuple[PlanDriver, PlanDriver]:
    """As ``late_difference_in_joint_payment``, both plans awaiting approval."""
    held, partner = await late_difference_in_joint_payment(
        make_driver, number, correction
    )
    await sign_off(held)
    return held, partner


async def _awaiting(pool: Any, *drivers: PlanDriver) -> None:
    """Until PostgreSQL has the plans awaiting approval too."""
    plans = [d.plan.plan_id for d in drivers]
    for _ in range(100):
        rows = await pool.fetch(
            "SELECT stage FROM plans WHERE plan_id = ANY($1)", plans
        )
        if {r["stage"] for r in rows} == {Stage.AWAITING_APPROVAL.value}:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{plans} never awaited approval in PostgreSQL")


async def _gather(certflow: Any, batch_id: str) -> str:
    """``batch gather`` by the tech dept; what it said."""
    gathered = await certflow(*TECH_ARGS, "batch", "gather", "--batch-id", batch_id)
    assert gathered.status == 0, gathered.out
    return str(gathered.out)


async def _batch_of(pool: Any, plan_id: str) -> str | None:
    return await pool.fetchval(  # type: ignore[no-any-return]
        "SELECT batch_id FROM plans WHERE plan_id = $1", plan_id
    )


async def test_a_difference_on_one_plan_holds_every_plan_of_a_whole_invoice(
    make_driver: Any, resources: Any, client: Any, worker_settings: Any
) -> None:
    """P13 owes a refund of 300.00; P14, its partner under one 8400.00
    invoice, is held back too, its status, ``--json``, Web UI page and the
    gathering naming P13. Settled, P13's invoice is still to reissue: both
    held. P13's reissued (8100.00) and P14's not yet: both held, for the
    invoices that disagree. Both reissued: the next gathering takes both."""
    pool, _ = resources
    certflow = certflow_runner(worker_settings, client)
    shared, anew = "26442000000000130001", "26442000000000130002"
    held, partner = await _difference_beside_a_waiting_plan(
        make_driver, shared, (SEQ_2, "status", "缺考")
    )
    a, b = held.plan.plan_id, partner.plan.plan_id
    await _awaiting(pool, held, partner)

    first = f"B-{b}-1"
    said = await _gather(certflow, first)
    assert await _batch_of(pool, b) is None and await _batch_of(pool, a) is None
    line = next(row for row in said.splitlines() if row.startswith(f"{b}："))
    assert HELD_BY_PARTNER in line and a in line, said
    shown = await certflow("status", b)
    assert HELD_BY_PARTNER in shown.out and a in shown.out, shown.out
    hold = json.loads((await certflow("status", b, "--json")).out)["held_back"]
    assert (hold["batch_id"], hold["payment_reason"]) == (first, "joint")
    assert hold["payment_details"]["plan"] == a
    details = await details_showing(partner, first)
    line = next(row for row in details.splitlines() if first in row)
    assert a in line and "缴费差额" in line, line

    # Settled: P13's whole invoice is to be reissued; both still held.
    settled = await held.h.execute_update(
        wf.settle_payment_difference,
        DifferenceSettlement(
            actor=FINANCE, amount=Decimal("300.00"), refunded_on=await held.today()
        ),
    )
    assert settled.accepted, settled.message
    second = f"B-{b}-2"
    said = await _gather(certflow, second)
    assert await _batch_of(pool, b) is None, said
    hold = json.loads((await certflow("status", b, "--json")).out)["held_back"]
    assert (hold["batch_id"], hold["payment_reason"]) == (second, "joint")
    assert hold["payment_details"]["plan_reason"] == "invoice"

    # P13 reissued, P14 not yet: the invoices disagree.
    reissued = await _invoice(
        held, anew, amount="8100.00", correct=True, reason="退还后红字冲销，重开"
    )
    assert reissued.accepted, reissued.message
    # Not said gatherable: the partner carries the old invoice still.
    assert t("plan.difference_invoice_corrected") not in reissued.message
    assert t("plan.difference_invoice_corrected_others", plans=b) in reissued.message, (
        reissued.message
    )
    third = f"B-{b}-3"
    await _gather(certflow, third)
    assert await _batch_of(pool, b) is None and await _batch_of(pool, a) is None
    hold = json.loads((await certflow("status", b, "--json")).out)["held_back"]
    assert hold["batch_id"] == third and hold["invoices"], hold

    # P14 may not rewrite the reversed number to the new total.
    rewritten = await _invoice(
        partner, shared, amount="8100.00", correct=True, reason="退还后按新合计更正"
    )
    assert not rewritten.accepted and "红字冲销" in rewritten.message
    assert [v.number for v in (await held.status()).payment.voided_invoices] == [shared]

    # Both reissued: gathered, and nothing says they are held.
    followed = await _invoice(
        partner, anew, amount="8100.00", correct=True, reason="退还后红字冲销，重开"
    )
    assert followed.accepted, followed.message
    last = f"B-{b}-4"
    await _gather(certflow, last)
    for driver in (held, partner):
        await driver.wait_gathered(last)
    assert json.loads((await certflow("status", b, "--json")).out)["held_back"] is None


async def test_an_open_supplement_holds_the_partner_of_a_whole_invoice(
    make_driver: Any, resources: Any, client: Any, worker_settings: Any
) -> None:
    """With a 补缴 still open on one plan, its partner under one whole
    invoice was gathered; it is held back, naming the plan that holds it."""
    pool, _ = resources
    certflow = certflow_runner(worker_settings, client)
    held, partner = await _difference_beside_a_waiting_plan(
        make_driver, "26442000000000130101", (SEQ_12, "practical", "60.10")
    )
    a, b = held.plan.plan_id, partner.plan.plan_id
    await _awaiting(pool, held, partner)
    said = await _gather(certflow, f"B-{b}-1")
    assert await _batch_of(pool, b) is None, said
    shown = await certflow("status", b)
    assert HELD_BY_PARTNER in shown.out and a in shown.out and "补缴" in shown.out


async def test_a_settled_invoice_is_reissued_under_a_new_number_and_listed_voided(
    make_driver: Any, resources: Any, client: Any, worker_settings: Any
) -> None:
    """Regression (trial): after a settlement, ``invoice P12 --number <the
    same> --amount 4500 --correct`` was accepted: one number carried 4200.00,
    then 4500.00 (and, corrected back, 4800.00), and the replaced invoice was
    not listed voided. The same number is refused, saying to record the
    reissued invoice's new number; the new one replaces it, the old listed
    under 已作废发票 as reversed, and its number is never recorded again."""
    pool, _ = resources
    certflow = certflow_runner(worker_settings, client)
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    plan_id = driver.plan.plan_id
    [request_id] = await _confirmed_then_corrected(
        driver, [(SEQ_12, "practical", "60.10")], invoice=True
    )
    await approve_and_apply(driver, request_id)
    today = (await driver.today()).isoformat()
    settled = await certflow(
        *FINANCE_ARGS, "payment", plan_id, "--settle-difference",
        "--amount", "300.00", "--received-on", today,
    )  # fmt: skip
    assert settled.status == 0, settled.out
    old, anew = driver.invoice_number, "26442000000000120002"

    def invoice(number: str) -> Any:
        return certflow(
            *FINANCE_ARGS, "invoice", plan_id, "--number", number,
            "--date", today, "--amount", "4500.00", "--correct",
            "--reason", "补缴后红字冲销，按新金额重开",
        )  # fmt: skip

    kept = await invoice(old)
    assert kept.status != 0
    assert "请登记重新开具的发票的新号码" in kept.out and old in kept.out, kept.out
    assert (await driver.status()).payment.invoice_amount_text == "4200.00"

    reissued = await invoice(anew)
    assert reissued.status == 0, reissued.out
    status = await driver.status()
    assert (status.payment.invoice_number, status.payment.invoice_amount_text) == (
        anew,
        "4500.00",
    )
    [voided] = status.payment.voided_invoices
    assert (voided.number, voided.amount_text, voided.replaced_by) == (
        old,
        "4200.00",
        anew,
    )
    shown = await certflow("status", plan_id)
    line = next(
        r for r in shown.out.splitlines() if t("cli.status.invoice_voided") in r
    )
    assert old in line and f"红字冲销，重新开具为 {anew}" in line, shown.out
    [void] = await pool.fetch(
        "SELECT details FROM audit WHERE plan_id = $1 AND action = 'void_invoice'",
        plan_id,
    )
    assert (void["details"]["invoice"], void["details"]["replaced_by"]) == (old, anew)
    assert void["details"]["amount"] == "4200.00"

    # The reversed number is never recorded again, not even corrected back.
    back = await invoice(old)
    assert back.status != 0 and "红字冲销" in back.out, back.out
    assert (await driver.status()).payment.invoice_number == anew


def _ready_mails(sink_messages: Any, plan_id: str) -> list[Any]:
    return [
        m
        for m in sink_messages()
        if m["X-Certflow-Plan"] == plan_id
        and m["X-Certflow-Template"] == "ready_for_approval"
    ]


async def test_what_finance_is_told_around_a_settlement(
    make_driver: Any,
    resources: Any,
    sink_messages: Any,
    client: Any,
    worker_settings: Any,
) -> None:
    """Regression (trial): messages that misled finance around a 补缴. A
    settlement asked for while the correction awaits the info center says
    so; an invoice for the new total before the settlement says to settle
    first, one for the old total that it will be reissued; the tech dept is
    told the plan is ready only once nothing holds it; the history shows
    the settlement's figures as such, not as a reason; the status keeps
    what the site declared beside the settled total; the approval sheet
    shows the supplement's day beside the original's; and finance checking
    the payment again is told the settled total is not the site's figure."""
    pool, store = resources
    certflow = certflow_runner(worker_settings, client)
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    plan_id = driver.plan.plan_id
    [request_id] = await _confirmed_then_corrected(
        driver, [(SEQ_12, "practical", "60.10")], invoice=False
    )
    decided = await driver.h.execute_update(
        wf.decide_correction,
        CorrectionDecision(actor=MANAGER, request_id=request_id, approve=True),
    )
    assert decided.accepted, decided.message
    today = (await driver.today()).isoformat()

    def settle() -> Any:
        return certflow(
            *FINANCE_ARGS, "payment", plan_id, "--settle-difference",
            "--amount", "300.00", "--received-on", today,
        )  # fmt: skip

    early = await settle()
    assert early.status != 0
    assert t("plan.difference_awaits_apply", requests=request_id) in early.out

    applied = await driver.h.execute_update(
        wf.apply_correction, CorrectionApply(actor=INFO, request_id=request_id)
    )
    assert applied.accepted, applied.message
    new_total = await refusal_text(
        _invoice(driver, "26442000000000120101", amount="4500.00")
    )
    assert new_total.startswith("amount_mismatch: ")
    assert "payment --settle-difference" in new_total, new_total
    old_total = await _invoice(driver, "26442000000000120101")
    assert old_total.accepted, old_total.message
    assert "红字冲销本发票" in old_total.message, old_total.message

    # Held by its difference: not said ready to the tech dept.
    await sign_off(driver)
    await asyncio.sleep(1)
    assert _ready_mails(sink_messages, plan_id) == []

    undated = await certflow(
        *FINANCE_ARGS, "payment", plan_id, "--settle-difference", "--amount", "300"
    )
    assert undated.status != 0 and undated.out.startswith("未受理："), undated.out
    settled = await settle()
    assert settled.status == 0, settled.out
    [told] = await mails_of(sink_messages, plan_id, "payment_difference_settled")
    assert f"{FINANCE.person} 登记。\n" in body_text(told), body_text(told)
    shown = (await certflow("status", plan_id)).out
    label = t("actions.settle_payment_difference")
    line = [r for r in shown.splitlines() if label in r][-1]
    assert f"{label} {request_id}：补缴 300.00 元" in line, line
    assert "原因" not in line, line
    assert f"申报 4200.00 元 / 14 人，{today} 缴费；到账 4200.00 元" in shown, shown
    assert "结清缴费差额后确认 4500.00 元 / 15 人" in shown, shown
    assert _ready_mails(sink_messages, plan_id) == []

    # Reissued: nothing holds it, and the tech dept is told it is ready.
    reissued = await _invoice(
        driver,
        "26442000000000120102",
        amount="4500.00",
        correct=True,
        reason="补缴后红字冲销，重开",
    )
    assert reissued.accepted, reissued.message
    await mails_of(sink_messages, plan_id, "ready_for_approval")

    # Sent back to be checked again: 4200.00 is the site's, 4500.00 settled.
    await _send_back_to_payment_check(driver)
    report = await BatchReportActivities(worker_settings, pool, store).gather(
        BatchReportRequest(batch_id=driver.batch_id, plan_ids=[plan_id])
    )
    [sheet_line] = report.lines
    assert sheet_line.line.payment.received_text() == f"{today}\n补缴 {today}"
    again = await refusal_text(
        driver.h.execute_update(
            wf.confirm_payment,
            PaymentConfirmation(
                actor=FINANCE,
                received_amount=Decimal("4200.00"),
                received_on=await driver.today(),
            ),
        )
    )
    assert "申请表填写 4200.00 元" in again and "按 4500.00 元确认" in again, again


async def test_mail_subjects_say_what_changed_the_difference(
    make_driver: Any, sink_messages: Any
) -> None:
    """Regression (trial): a difference a later correction undid was mailed
    as 缴费差额已结清, though nobody settled it; a refund for a candidate
    paid for and now absent was mailed as not matching the passes."""
    driver: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    plan_id = driver.plan.plan_id
    first, second = await _confirmed_then_corrected(
        driver,
        [(SEQ_12, "practical", "60.10"), (SEQ_2, "status", "缺考")],
        invoice=False,
    )
    await approve_and_apply(driver, first)
    [opened] = await mails_of(sink_messages, plan_id, "confirmed_payment_differs")
    assert "应缴人数" in str(opened["Subject"]) and "合格人数不符" not in str(
        opened["Subject"]
    )
    await approve_and_apply(driver, second)
    # Typography (trial): one "的发票", no stray space before the text.
    apart = InvoiceHolding(
        plan_id="P1", number="26442000000000120201", amount=Decimal("4200.00")
    )
    note = still_to_correct("26442000000000120202", [], [apart])
    assert "的发票 26442000000000120201（4200.00 元）与本次" in note, note
    [cleared] = await mails_of(sink_messages, plan_id, "payment_difference_cleared")
    assert "已消除" in str(cleared["Subject"]), cleared["Subject"]
    assert [
        m
        for m in sink_messages()
        if m["X-Certflow-Plan"] == plan_id
        and m["X-Certflow-Template"] == "payment_difference_settled"
    ] == []


async def _difference_before_signoffs(
    make_driver: Any, number: str, corrections: list[tuple[str, str, str]]
) -> tuple[PlanDriver, PlanDriver, list[str]]:
    """Two plans of one payment, 4200.00 each, invoiced whole (8400.00)
    under ``number``, with ``corrections`` filed on the first during
    publicity. The first of them is applied after finance confirmed the
    payment: the first plan owes a difference; neither is signed off by its
    site, the first not by the tech dept either. Returns the plans and the
    requests' ids."""
    held: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    partner: PlanDriver = await make_driver(fee_per_candidate=Decimal("300.00"))
    for driver in (held, partner):
        await driver.reach_publicity()
    await held.open_publicity()
    filed = []
    for correction in corrections:
        answer = await held.h.execute_update(
            wf.submit_correction, correction_request(*correction)
        )
        assert answer.accepted and answer.reference, answer.message
        filed.append(answer.reference)
    await held.skip(15)
    for driver in (held, partner):
        await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    a, b = held.plan.plan_id, partner.plan.plan_id
    await _joint_application(held, [a, b], site_signoff=False, org_signoff=False)
    await _joint_application(partner, [a, b], site_signoff=False)
    for driver in (held, partner):
        assert (await _joint_invoice(driver, number, "8400.00")).accepted
    await approve_and_apply(held, filed[0])
    assert (await held.status()).payment.difference is not None
    return held, partner, filed


async def _partner_held_back(
    make_driver: Any,
    certflow: Any,
    resources: Any,
    number: str,
    corrections: list[tuple[str, str, str]],
) -> tuple[PlanDriver, PlanDriver, list[str]]:
    """As ``_difference_before_signoffs``; then the second plan comes to
    await approval while the first's difference holds it, and a gathering
    holds it back."""
    pool, _ = resources
    held, partner, filed = await _difference_before_signoffs(
        make_driver, number, corrections
    )
    b = partner.plan.plan_id
    await _site_signoff(partner)
    await _awaiting(pool, partner)
    said = await _gather(certflow, f"B-{b}-1")
    assert await _batch_of(pool, b) is None, said
    return held, partner, filed


async def test_a_plan_held_by_its_partner_is_said_ready_when_the_partner_is_free(
    make_driver: Any,
    resources: Any,
    client: Any,
    worker_settings: Any,
    sink_messages: Any,
) -> None:
    """Regression (review): P14, held only because P13 of its payment
    invoiced whole owed 300.00, was mailed "ready for approval" as it came
    to await approval, though no gathering would take it; and once P13's
    difference ended, P14's status kept naming P13's hold until the next
    gathering. P14 is said ready when P13 frees it, and its status then
    names no hold."""
    certflow = certflow_runner(worker_settings, client)
    held, partner, filed = await _partner_held_back(
        make_driver,
        certflow,
        resources,
        "26442000000000130201",
        [(SEQ_12, "practical", "60.10"), (SEQ_2, "status", "缺考")],
    )
    b = partner.plan.plan_id
    hold = json.loads((await certflow("status", b, "--json")).out)["held_back"]
    assert hold["payment_reason"] == "joint", hold
    await held.skip(1)
    assert _ready_mails(sink_messages, b) == []

    # P13's second correction ends the difference: P14 is free, and told so.
    await approve_and_apply(held, filed[1])
    await _told_free(certflow, partner, sink_messages)


async def _told_free(certflow: Any, partner: PlanDriver, sink_messages: Any) -> None:
    """Until the plan is said ready, and its status names no hold."""
    b = partner.plan.plan_id
    await mails_of(sink_messages, b, "ready_for_approval")
    await partner.wait_for(lambda s: s.held_back is None)
    shown = await certflow("status", b)
    assert HELD_BY_PARTNER not in shown.out, shown.out
    assert json.loads((await certflow("status", b, "--json")).out)["held_back"] is None


async def test_a_plan_held_by_its_partner_is_said_ready_when_the_partner_is_cancelled(
    make_driver: Any,
    resources: Any,
    client: Any,
    worker_settings: Any,
    sink_messages: Any,
) -> None:
    """Regression (review): P14, held only because P13 of its payment
    invoiced whole owed 300.00, was not said ready once P13 was cancelled
    (a cancelled plan holds nobody), and its status named P13's hold until
    the next gathering. Cancelling P13 frees P14 as a settlement would: it
    is said ready, its status names no hold, and a gathering takes it."""
    certflow = certflow_runner(worker_settings, client)
    held, partner, _ = await _partner_held_back(
        make_driver,
        certflow,
        resources,
        "26442000000000130301",
        [(SEQ_12, "practical", "60.10")],
    )
    b = partner.plan.plan_id
    await partner.wait_for(lambda s: s.held_back is not None)
    assert _ready_mails(sink_messages, b) == []

    cancelled = await held.h.execute_update(
        wf.cancel_plan,
        CancelRequest(actor=TECH, reason="考核站点撤回", refund_by_finance=True),
    )
    assert cancelled.accepted, cancelled.message
    await _told_free(certflow, partner, sink_messages)
    last = f"B-{b}-2"
    await _gather(certflow, last)
    await partner.wait_gathered(last)


async def _site_signoff(driver: PlanDriver) -> None:
    signed = await driver.h.execute_update(
        wf.site_signoff, SiteSignoffRequest(actor=SITE, plan_id=driver.plan.plan_id)
    )
    assert signed.accepted, signed.message


def _mails_naming(sink_messages: Any, template: str, plan_id: str) -> list[Any]:
    """A batch's mails from ``template`` with a line of ``plan_id``."""
    return [
        m
        for m in sink_messages()
        if m["X-Certflow-Template"] == template and f"{plan_id}：" in body_text(m)
    ]


async def _gathered_nothing(certflow: Any, client: Any, batch_id: str) -> None:
    """``batch gather`` forming no batch, run to its end (any mail sent)."""
    said = await _gather(certflow, batch_id)
    assert t("cli.batch_none_ready") in said, said
    await client.get_workflow_handle(batch_workflow_id(batch_id)).result()


async def test_the_general_manager_hears_of_plans_held_for_their_payment(
    make_driver: Any,
    resources: Any,
    client: Any,
    worker_settings: Any,
    sink_messages: Any,
) -> None:
    """Regression (review): a gathering holding plans back for a payment
    difference (one owing 300.00, its partner under one whole invoice) told
    the general manager nothing: the batch's mail named the plans gathered
    alone, and a gathering that formed no batch mailed nobody. A gathering
    forming no batch mails finance and the general manager the plans that
    wait for finance, with why, once per hold; a batch's mail lists them
    beside its own plans (and they count as told)."""
    pool, _ = resources
    certflow = certflow_runner(worker_settings, client)
    number = "26442000000000130401"
    held, partner, _ = await _difference_before_signoffs(
        make_driver, number, [(SEQ_12, "practical", "60.10")]
    )
    a, b = held.plan.plan_id, partner.plan.plan_id
    difference = (await held.status()).payment.difference
    assert difference is not None
    # Plans other tests of the module left ready go to a batch of their own.
    await _gather(certflow, f"B-{a}-0")
    await sign_off(held)
    await _site_signoff(partner)
    await _awaiting(pool, held, partner)

    await _gathered_nothing(certflow, client, f"B-{a}-1")
    [told] = _mails_naming(sink_messages, "batch_held_for_payment", a)
    body = body_text(told)
    own = t(
        "mail.batch_ready.held_difference",
        plan_id=a,
        difference=difference_text(difference),
    )
    beside = (
        f"{b}：与 {a} 为同一笔合并缴费，按合计金额开具一张发票 {number}，{a} 的缴费差额"
    )
    assert own in body and beside in body, body
    assert f"B-{a}-1" in str(told["Subject"]), told["Subject"]
    for role in (Role.FINANCE, Role.GENERAL_MANAGER):
        assert all(x in str(told["To"]) for x in held.settings.recipients[role])
    # Told once per hold: the next gathering does not mail them again.
    await _gathered_nothing(certflow, client, f"B-{a}-2")
    assert len(_mails_naming(sink_messages, "batch_held_for_payment", a)) == 1

    ready: PlanDriver = await make_driver()
    await ready.reach_approval()
    gathered = f"B-{a}-3"
    await _gather(certflow, gathered)
    await ready.wait_gathered(gathered)
    [report] = await mails_of(
        sink_messages, "-", "batch_ready", subject_holding=gathered
    )
    body = body_text(report)
    assert ready.plan.plan_id in body
    assert "未汇总进本批次" in body and own in body and beside in body, body
    # Listed by the batch's mail, a week ago or not: not mailed again.
    await _gathered_nothing(certflow, client, f"B-{a}-4")
    assert len(_mails_naming(sink_messages, "batch_held_for_payment", a)) == 1

    for driver in (held, partner):
        cancelled = await driver.h.execute_update(
            wf.cancel_plan,
            CancelRequest(actor=TECH, reason="测试结束", refund_by_finance=True),
        )
        assert cancelled.accepted, cancelled.message
