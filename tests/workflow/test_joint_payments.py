"""Joint payments (合并缴费) across their plans: one invoice number carries one
amount and one date on every plan, a payment is invoiced one way, and a batch
decides on what the payment covers at the time of the decision.

The rules themselves are unit-tested in ``test_joint_invoice_rules``; here the
plans, the batch and PostgreSQL play them out.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from certflow.actions import CancelRequest, SiteSignoffRequest
from certflow.i18n import t
from certflow.joint_invoice import (
    InvoiceConflict,
    InvoiceHolding,
    conflict_message,
    holdings_text,
)
from certflow.models import Stage
from certflow.plan import Duty
from starter.smtp_sink import body_text
from tests.cli.conftest import certflow_runner
from tests.cli.test_commands import personal_data
from tests.support import SITE, TECH, PlanDriver, mails_of, refusal_text
from tests.workflow.test_invoice_records import (
    WHOLE,
    _audit,
    _batch_of,
    _decide,
    _invoice,
    _joint_application,
    _reach_payment_together,
    voided_on_each,
)
from tests.workflow.test_web_ui_details import details_showing
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]

OWN, TOTAL = "4200.00", "8400.00"


async def _joint_pair(make_driver: Any) -> tuple[PlanDriver, PlanDriver, date]:
    """Two plans of one payment of 4200.00 each, confirmed by finance on the
    day returned (neither signed off by its site: no batch takes them); the
    clock then two days on, so an invoice may be dated on any of the three."""
    first: PlanDriver = await make_driver()
    second: PlanDriver = await make_driver()
    await _reach_payment_together(first, second)
    paid = [first.plan.plan_id, second.plan.plan_id]
    for driver in (first, second):
        await _joint_application(driver, paid, site_signoff=False)
    received = await first.today()
    await first.skip(2)
    return first, second, received


def _held(driver: PlanDriver, number: str, amount: str, day: date) -> InvoiceHolding:
    """The invoice ``driver``'s plan carries, as finance is told of it."""
    return InvoiceHolding(
        plan_id=driver.plan.plan_id,
        number=number,
        amount=Decimal(amount),
        issued_on=day,
    )


def _plans(*drivers: PlanDriver) -> list[str]:
    return sorted(d.plan.plan_id for d in drivers)


async def test_an_invoice_number_carries_one_amount_and_date_on_every_plan(
    make_driver: Any, resources: Any
) -> None:
    """Regression: one invoice number was accepted with the joint payment's
    total on one plan and with the plan's own amount (or another date) on
    another, nothing comparing them; and a payment could be invoiced both
    ways at once, a plan covered by the whole payment's invoice getting an
    invoice of its own besides."""
    pool, _ = resources
    first, second, day = await _joint_pair(make_driver)
    plans = _plans(first, second)
    shared, own = "26442000000000030101", "26442000000000030102"

    async def refused(
        conflict: InvoiceConflict,
        number: str,
        amount: str,
        issued_on: date,
        clashing: InvoiceHolding,
    ) -> None:
        result = await _invoice(second, number, amount=amount, issued_on=issued_on)
        claim = _held(second, number, amount, issued_on)
        expected = conflict_message(conflict, claim, [clashing], plans)
        assert (result.accepted, result.message) == (False, expected)
        assert first.plan.plan_id in result.message
        assert clashing.amount is not None
        assert f"{clashing.amount:.2f} 元" in result.message

    # The first plan's own invoice, for its own amount.
    assert (await _invoice(first, shared, issued_on=day)).accepted
    its_own = _held(first, shared, OWN, day)
    # The same number with the total, or shared with the own amount: refused.
    await refused(InvoiceConflict.DIFFERS, shared, TOTAL, day, its_own)
    await refused(InvoiceConflict.OWN_SHARED, shared, OWN, day, its_own)
    # A whole-payment invoice beside the first plan's own: refused.
    await refused(InvoiceConflict.INVOICED_APART, own, TOTAL, day, its_own)

    # Finance makes the first plan's invoice the whole payment's.
    corrected = await _invoice(
        first, shared, amount=TOTAL, issued_on=day, correct=True, reason="按合计开票"
    )
    assert corrected.accepted, corrected.message
    whole = _held(first, shared, TOTAL, day)
    # An invoice of the second plan's own beside it, or the same number of
    # another date: refused.
    await refused(InvoiceConflict.WHOLE_ELSEWHERE, own, OWN, day, whole)
    later = day + timedelta(days=1)
    await refused(InvoiceConflict.DIFFERS, shared, TOTAL, later, whole)
    # None of the refusals kept anything.
    assert (await second.status()).payment.invoice_number is None
    assert await _audit(pool, second.plan.plan_id, "record_invoice") == []

    # The same invoice as the first plan carries: accepted.
    result = await _invoice(second, shared, amount=TOTAL, issued_on=day)
    assert result.accepted, result.message
    rows = await pool.fetch(
        "SELECT plan_id, amount, issued_on, whole_payment FROM plan_invoices"
        " WHERE number = $1 ORDER BY plan_id",
        shared,
    )
    assert [tuple(row) for row in rows] == [
        (plan_id, Decimal(TOTAL), day, True) for plan_id in plans
    ]


async def test_a_shared_invoice_is_corrected_plan_by_plan_to_the_same(
    make_driver: Any,
) -> None:
    """A correction of a shared invoice's date (or amount) is made on one plan
    at a time: the first leaves the others with what it corrected from and
    names them; they may then be corrected to it, and to nothing else."""
    first, second, day = await _joint_pair(make_driver)
    plans = _plans(first, second)
    shared = "26442000000000030201"
    for driver in (first, second):
        recorded = await _invoice(driver, shared, amount=TOTAL, issued_on=day)
        assert recorded.accepted, recorded.message
    later, latest = day + timedelta(days=1), day + timedelta(days=2)

    def correct(driver: PlanDriver, issued_on: date) -> Any:
        return _invoice(
            driver,
            shared,
            amount=TOTAL,
            issued_on=issued_on,
            correct=True,
            reason="开票日期录入错误",
        )

    # The first plan's correction is accepted, naming the second as left.
    moved = await correct(first, later)
    left = t(
        "plan.invoice_still_differs",
        number=shared,
        holders=holdings_text([_held(second, shared, TOTAL, day)]),
    )
    assert moved.accepted, moved.message
    assert moved.message.endswith(left)
    # The second plan goes to another date still: refused, naming the first.
    astray = await correct(second, latest)
    claim = _held(second, shared, TOTAL, latest)
    clashing = [_held(first, shared, TOTAL, later)]
    assert (astray.accepted, astray.message) == (
        False,
        conflict_message(InvoiceConflict.DIFFERS, claim, clashing, plans),
    )
    # To the first plan's date: accepted, nothing left.
    followed = await correct(second, later)
    assert followed.accepted, followed.message
    assert first.plan.plan_id not in followed.message
    for driver in (first, second):
        assert (await driver.status()).payment.invoice_issued_on == later


async def test_two_plans_recording_one_number_at_once_do_not_both_win(
    make_driver: Any, resources: Any
) -> None:
    """Regression: two plans of a joint payment recording one number at once,
    one with the total and the other with its own amount, were both accepted."""
    pool, _ = resources
    first, second, day = await _joint_pair(make_driver)
    shared = "26442000000000030301"

    answers = await asyncio.gather(
        _invoice(first, shared, amount=TOTAL, issued_on=day),
        _invoice(second, shared, amount=OWN, issued_on=day),
    )

    assert sorted(a.accepted for a in answers) == [False, True], answers
    # The loser is told what the winner carries.
    winner, loser = (first, second) if answers[0].accepted else (second, first)
    lost = answers[1] if answers[0].accepted else answers[0]
    assert winner.plan.plan_id in lost.message
    assert f"{TOTAL if winner is first else OWN} 元" in lost.message
    assert (await loser.status()).payment.invoice_number is None
    held = await pool.fetch(
        "SELECT plan_id FROM plan_invoices WHERE number = $1", shared
    )
    assert [row["plan_id"] for row in held] == [winner.plan.plan_id]


async def test_a_plan_of_a_joint_payment_cancelled_since_gathering_no_longer_counts(
    make_driver: Any, resources: Any
) -> None:
    """Regression: the batch read which plans shared a joint payment when it
    gathered them; a plan of the payment outside the batch cancelled since
    (started by mistake) still refused sending the others back to have the
    payment checked again, which it would no longer touch."""
    pool, _ = resources
    drivers: list[PlanDriver] = [await make_driver() for _ in range(3)]
    await _reach_payment_together(*drivers)
    ready, also_ready, withdrawn = drivers
    paid = _plans(*drivers)
    shared = "26442000000000030401"
    for driver in drivers:
        # The third plan's site has not signed off: no batch takes it.
        await _joint_application(driver, paid, site_signoff=driver is not withdrawn)
    for driver in drivers:
        assert (await _invoice(driver, shared, amount="12600.00")).accepted
    for driver in (ready, also_ready):
        await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    batch = await _batch_of(ready, also_ready)
    a, b, c = (d.plan.plan_id for d in drivers)
    gathered = await batch.query(ApprovalBatchWorkflow.status)
    assert [(p.plan_ids, p.outside) for p in gathered.joint_payments] == [(paid, [c])]

    # Its payment confirmed and invoiced: finance refunds and reverses it.
    cancel = CancelRequest(
        actor=TECH, reason="考试计划重复创建", refund_by_finance=True
    )
    cancelled = await withdrawn.h.execute_update(ExamPlanWorkflow.cancel_plan, cancel)
    assert cancelled.accepted, cancelled.message

    # One plan sent back alone is still refused, for the other in the batch
    # only: the cancelled plan is no part of the payment any more.
    reasons = {a: "到账金额待核", b: "到账金额待核"}
    alone = _decide(batch, reject=reasons, return_to={a: [Duty.PAYMENT_CHECK]})
    assert await refusal_text(alone) == "bad_argument: " + t(
        "batch.joint_return_partial", plan_id=a, others=b, voids=WHOLE, kept=b
    )
    status = await batch.query(ApprovalBatchWorkflow.status)
    assert not status.decided
    assert [(p.plan_ids, p.outside) for p in status.joint_payments] == [
        (sorted([a, b]), [])
    ]
    # Both sent back: accepted, the invoice void on both.
    both = {a: [Duty.PAYMENT_CHECK], b: [Duty.PAYMENT_CHECK]}
    decided = await _decide(batch, reject=reasons, return_to=both)
    assert sorted(decided.returned) == sorted([a, b])
    await voided_on_each(pool, shared, ready, also_ready)


HELD_BACK = "batch_held_back"


def _held_back_mails(sink_messages: Any, plan_id: str) -> list[Any]:
    """The mails telling of ``plan_id`` held back, as they are now."""
    return [
        m
        for m in sink_messages()
        if m["X-Certflow-Template"] == HELD_BACK and plan_id in str(m["Subject"])
    ]


async def _invoiced_apart(
    make_driver: Any, pool: Any, shared: str
) -> tuple[PlanDriver, PlanDriver, date, date]:
    """Two plans of one payment awaiting approval (in PostgreSQL too), both
    invoiced under ``shared`` for the whole payment, the first dated a day
    later (the second day returned) than the second (the first)."""
    first: PlanDriver = await make_driver()
    second: PlanDriver = await make_driver()
    await _reach_payment_together(first, second)
    paid = _plans(first, second)
    for driver in (first, second):
        await _joint_application(driver, paid)
    day = await first.today()
    await first.skip(2)
    for driver in (first, second):
        assert (await _invoice(driver, shared, amount=TOTAL, issued_on=day)).accepted
    later = day + timedelta(days=1)
    moved = await _invoice(
        first, shared, amount=TOTAL, issued_on=later, correct=True, reason="日期错"
    )
    assert moved.accepted, moved.message
    for _ in range(100):
        stages = await pool.fetch(
            "SELECT stage FROM plans WHERE plan_id = ANY($1)", paid
        )
        if [r["stage"] for r in stages] == [Stage.AWAITING_APPROVAL.value] * 2:
            break
        await asyncio.sleep(0.1)
    return first, second, day, later


async def test_plans_held_back_from_a_batch_are_told_once_and_shown_in_status(
    make_driver: Any,
    resources: Any,
    sink_messages: Any,
    client: Any,
    worker_settings: Any,
) -> None:
    """Regression: a gathering (the weekly schedule's too) left out the plans
    of a joint payment whose invoices disagree and told nobody but their
    audit trail; ``certflow status`` did not say so either. Finance and the
    general manager are mailed, naming the plans and the invoices, once per
    hold and again a week on while it lasts; the status says why, until a
    gathering takes the plans."""
    pool, _ = resources
    certflow = certflow_runner(worker_settings, client)
    shared = "26442000000000030501"
    first, second, day, later = await _invoiced_apart(make_driver, pool, shared)
    paid = _plans(first, second)
    a, b = (d.plan.plan_id for d in (first, second))

    # A first gathering (it takes what other tests left ready) holds both back.
    opening = f"B-{a}-1"
    await first.start_batch(opening)
    [mail] = await mails_of(sink_messages, "-", HELD_BACK, subject_holding=a)

    assert "finance@" in str(mail["To"]) and "gm@" in str(mail["To"])
    body = body_text(mail)
    assert f"考试计划 {'、'.join(paid)} 未被汇总" in body and opening in body
    assert f"{a} 的发票 {shared}（8400.00 元，{later.isoformat()} 开具）" in body
    assert f"{b} 的发票 {shared}（8400.00 元，{day.isoformat()} 开具）" in body
    shown = await certflow("status", a)
    assert t("cli.status.held_back").split("：")[0] in shown.out, shown.out
    assert opening in shown.out and later.isoformat() in shown.out

    # Gathered again the same week, still held back: not told again.
    again = await first.start_batch(f"B-{a}-2")
    await asyncio.wait_for(again.result(), timeout=30)
    assert len(_held_back_mails(sink_messages, a)) == 1
    # A week on, still held back: told again.
    await first.skip(7)
    weekly = await first.start_batch(f"B-{a}-3")
    await asyncio.wait_for(weekly.result(), timeout=30)
    await mails_of(sink_messages, "-", HELD_BACK, count=2, subject_holding=a)

    # Corrected alike: the next gathering takes both, and the hold is gone.
    followed = await _invoice(
        second, shared, amount=TOTAL, issued_on=later, correct=True, reason="日期错"
    )
    assert followed.accepted, followed.message
    await first.start_batch(f"B-{a}-4")
    for driver in (first, second):
        await driver.wait_gathered(f"B-{a}-4")
    released = await pool.fetch(
        "SELECT released_at FROM batch_holds WHERE plan_id = ANY($1)", paid
    )
    assert len(released) == 2 and all(r["released_at"] for r in released)
    shown = await certflow("status", a)
    assert t("cli.status.held_back").split("：")[0] not in shown.out
    assert len(_held_back_mails(sink_messages, a)) == 2


async def test_a_plan_held_back_says_so_in_its_json_status_and_web_ui_page(
    make_driver: Any, resources: Any, client: Any, worker_settings: Any
) -> None:
    """Regression: only the text of ``certflow status`` said a gathering held
    the plan back; ``status --json`` and the Web UI said nothing. Both say
    which gathering, when, and the invoices (no person's data), until a
    gathering takes the plan."""
    pool, _ = resources
    certflow = certflow_runner(worker_settings, client)
    shared = "26442000000000030502"
    first, second, day, later = await _invoiced_apart(make_driver, pool, shared)
    a, b = (d.plan.plan_id for d in (first, second))

    held_by = f"B-{a}-held"
    await asyncio.wait_for((await first.start_batch(held_by)).result(), timeout=30)
    shown = await certflow("status", a, "--json")
    assert shown.status == 0, shown.out
    hold = json.loads(shown.out)["held_back"]
    assert hold["plan_id"] == a and hold["batch_id"] == held_by
    assert hold["at"] == hold["since"]
    # Plan by plan, as the plans' ids sort.
    assert [
        (h["plan_id"], h["number"], h["amount"], h["issued_on"])
        for h in hold["invoices"]
    ] == sorted(
        [(a, shared, TOTAL, later.isoformat()), (b, shared, TOTAL, day.isoformat())]
    )
    details = await details_showing(first, held_by)
    line = next(row for row in details.splitlines() if held_by in row)
    assert t("details.held_back").split("：")[0] in line
    assert "、".join(sorted([a, b])) in line
    for value in personal_data(first.files["summary"]):
        assert value not in details and value not in shown.out

    # Corrected alike: a gathering takes both, and neither says so any more.
    followed = await _invoice(
        second, shared, amount=TOTAL, issued_on=later, correct=True, reason="日期错"
    )
    assert followed.accepted, followed.message
    taken_by = f"B-{a}-taken"
    await first.start_batch(taken_by)
    await first.wait_gathered(taken_by)
    assert json.loads((await certflow("status", a, "--json")).out)["held_back"] is None
    details = await details_showing(first, taken_by)
    assert held_by not in details


async def test_a_site_signoff_of_the_other_plan_of_its_payment_is_refused(
    make_driver: Any, resources: Any
) -> None:
    """4.2.5: the plan signed must be the plan paid. Audit: a sign-off naming
    the other plan of a joint payment, paid for too but not this plan, was
    shown refused nowhere; only a plan paid for by nobody was."""
    pool, _ = resources
    first, second, _ = await _joint_pair(make_driver)

    result = await first.h.execute_update(
        ExamPlanWorkflow.site_signoff,
        SiteSignoffRequest(actor=SITE, plan_id=second.plan.plan_id),
    )

    assert not result.accepted
    [problem] = result.problems
    assert problem.code == "plan_mismatch"
    assert problem.message == t(
        "plan.signoff_plan_problem",
        given=second.plan.plan_id,
        plan_id=first.plan.plan_id,
    )
    assert any(o.duty == "site_signoff" for o in (await first.status()).owed)
    attempt = await pool.fetchrow(
        "SELECT accepted, details FROM audit WHERE plan_id = $1 "
        "AND action = 'site_signoff'",
        first.plan.plan_id,
    )
    assert attempt is not None and attempt["accepted"] is False
    assert attempt["details"]["signed_plan"] == second.plan.plan_id
