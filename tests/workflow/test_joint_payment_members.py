"""Which plans make up a joint payment (合并缴费) agrees across its plans, and
one payment arrives once: the plans, finance and PostgreSQL play out the rules
of ``certflow.joint_payment``."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.store import PlanStore
from certflow.actions import ApplicationUpload, CancelRequest, PaymentConfirmation
from certflow.activity_models import JointPaymentCheck
from certflow.i18n import t
from certflow.joint_payment import (
    JointPaymentFacts,
    PaidPlansListing,
    ReceivedHolding,
    lists_refusal,
    received_refusal,
    received_still_apart,
)
from certflow.plan import Duty
from tests.support import FINANCE, SCAN_PDF, SITE, TECH, PlanDriver, refusal_text
from tests.workflow.test_finance_store import (
    _applied,
    _confirmed,
    _invoice,
    _plan,
    _record,
)
from tests.workflow.test_invoice_records import (
    _batch_of,
    _decide,
    _joint_application,
    _jointly_invoiced,
    _reach_payment_together,
)
from tests.workflow.test_invoice_records import _invoice as _plan_invoice
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]


async def _apply(driver: PlanDriver, paid: list[PlanDriver]) -> Any:
    """The site's application of the plan, paying for ``paid``'s plans."""
    scan = driver.tmp / "application.pdf"
    scan.write_bytes(SCAN_PDF)
    return await driver.h.execute_update(
        ExamPlanWorkflow.upload_application,
        ApplicationUpload(
            actor=SITE,
            application_scan=driver.put(scan),
            invoice_details=driver.invoice_form(),
            paid_plan_ids=[p.plan.plan_id for p in paid],
            head_count=14,
            amount=Decimal("4200.00"),
            paid_on=await driver.today(),
        ),
    )


async def _confirm(driver: PlanDriver, *, days_later: int = 0, ref: str = "") -> Any:
    """Finance's confirmation of the plan's 4200.00, received today (or
    ``days_later`` after the site paid)."""
    return await driver.h.execute_update(
        ExamPlanWorkflow.confirm_payment,
        PaymentConfirmation(
            actor=FINANCE,
            received_amount=Decimal("4200.00"),
            received_on=await driver.today() + timedelta(days=days_later),
            reference=ref,
        ),
    )


def _listing(driver: PlanDriver, listed: list[PlanDriver], **kw: bool) -> Any:
    return PaidPlansListing(
        plan_id=driver.plan.plan_id,
        listed=sorted(d.plan.plan_id for d in listed),
        **kw,
    )


def _ids(*drivers: PlanDriver) -> list[str]:
    return sorted(d.plan.plan_id for d in drivers)


async def test_finance_confirms_no_plan_of_a_payment_its_plans_list_differently(
    make_driver: Any,
) -> None:
    """Regression (trial): A1 and A2 listed A1 A2 A3, A3's application A3
    alone; finance confirmed and invoiced all three, 16,800 invoiced against
    12,600 received, and could then not correct it the shared way. Now no
    plan of the payment is confirmed until their lists agree, and the
    refusal says what each lists and whose site uploads again."""
    drivers: list[PlanDriver] = [await make_driver() for _ in range(3)]
    await _reach_payment_together(*drivers)
    a1, a2, a3 = drivers
    for driver in (a1, a2):
        assert (await _apply(driver, drivers)).accepted
    assert (await _apply(a3, [a3])).accepted  # no plan confirmed yet

    refused = await _confirm(a1)
    facts = JointPaymentFacts(
        listings=[_listing(a2, drivers), _listing(a3, [a3])],
    )
    expected = lists_refusal(
        a1.plan.plan_id, _ids(*drivers), facts, "plan.paid_plans_to_confirm"
    )
    assert (refused.accepted, refused.message) == (False, expected)
    assert f"{a3.plan.plan_id} 列出 {a3.plan.plan_id}" in refused.message
    lone = await _confirm(a3)
    assert not lone.accepted
    assert f"{a1.plan.plan_id} 列出 {'、'.join(_ids(*drivers))}" in lone.message
    for driver in drivers:
        assert not (await driver.status()).payment.confirmed_amount

    # A3's site names the same plans: finance confirms each.
    assert (await _apply(a3, drivers)).accepted
    for driver in drivers:
        result = await _confirm(driver)
        assert result.accepted, result.message


async def test_an_application_cannot_contradict_a_confirmed_or_ended_plan(
    make_driver: Any,
) -> None:
    """Regression (trial): once A1's payment was confirmed on a list naming
    A3, A3's application listing A3 alone was accepted; and an issued plan
    could be named in a new payment (``--paid-plan D2 A1``), which the batch
    could then never send back."""
    drivers: list[PlanDriver] = [await make_driver() for _ in range(4)]
    await _reach_payment_together(*drivers)
    a1, a2, a3, issued = drivers
    for driver in (a1, a2):
        assert (await _apply(driver, [a1, a2, a3])).accepted
    assert (await _confirm(a1)).accepted

    alone = await _apply(a3, [a3])
    assert not alone.accepted
    assert alone.message == t(
        "plan.paid_plans_settled",
        listings="；".join(
            t("plan.paid_plans_listing", plan_id=p, listed=listed)
            for p, listed in sorted(
                [
                    (a1.plan.plan_id, "、".join(_ids(a1, a2, a3))),
                    (a3.plan.plan_id, a3.plan.plan_id),
                ]
            )
        ),
    )
    assert (await _apply(a3, [a1, a2, a3])).accepted

    await issued.pay_and_sign()
    await issued.approve_in_batch()
    await issued.wait_for(lambda s: s.stage.value in ("issuance", "issued"))
    named = await _apply(a2, [a2, issued])
    assert (named.accepted, named.message) == (
        False,
        t("plan.paid_plans_ended", plans=issued.plan.plan_id),
    )


async def test_a_cancelled_plan_drops_out_of_every_plans_list(
    make_driver: Any,
) -> None:
    """Regression (trial): after A3 was cancelled, A2 applied again listing
    A1 A2 while A1 still listed A1 A2 A3: the whole invoice recorded on A1
    was refused to A2 as another payment's (与本考试计划不属同一笔缴费), and
    A2's own invoice was refused as the whole one was recorded."""
    drivers: list[PlanDriver] = [await make_driver() for _ in range(3)]
    await _reach_payment_together(*drivers)
    a1, a2, a3 = drivers
    assert (await _apply(a1, drivers)).accepted
    assert (await _confirm(a1)).accepted
    cancelled = await a3.h.execute_update(
        ExamPlanWorkflow.cancel_plan,
        CancelRequest(actor=TECH, reason="考试计划重复创建"),
    )
    assert cancelled.accepted, cancelled.message
    assert (await _apply(a2, [a1, a2])).accepted
    assert (await _confirm(a2)).accepted

    shared = "26442000000000070301"
    for driver in (a1, a2):
        result = await _plan_invoice(driver, shared, amount="8400.00")
        assert result.accepted, result.message


async def test_one_payment_arrives_on_one_day_under_one_reference(
    make_driver: Any,
) -> None:
    """Regression (trial): C1 was confirmed as received on 01-20 and C2 on
    01-21; C1 took the whole invoice dated 01-20, and C2 could then not
    record it (早于款项到账日期) while told to record the same invoice."""
    c1: PlanDriver = await make_driver()
    c2: PlanDriver = await make_driver()
    await _reach_payment_together(c1, c2)
    for driver in (c1, c2):
        assert (await _apply(driver, [c1, c2])).accepted
    await c1.skip(2)
    assert (await _confirm(c1, days_later=-1, ref="BANK-7")).accepted
    day = await c1.today() - timedelta(days=1)

    later = await _confirm(c2, ref="BANK-7")
    assert (later.accepted, later.message) == (
        False,
        received_refusal(
            day + timedelta(days=1),
            "BANK-7",
            JointPaymentFacts(
                received=[
                    ReceivedHolding(
                        plan_id=c1.plan.plan_id, received_on=day, reference="BANK-7"
                    )
                ]
            ),
            _ids(c1, c2),
        ),
    )
    other_ref = await _confirm(c2, days_later=-1, ref="BANK-8")
    assert not other_ref.accepted and "BANK-7" in other_ref.message
    assert (await _confirm(c2, days_later=-1, ref="BANK-7")).accepted
    for driver in (c1, c2):
        invoiced = await _plan_invoice(
            driver, "26442000000000070401", amount="8400.00", issued_on=day
        )
        assert invoiced.accepted, invoiced.message
    # A correction is made plan by plan, naming the plans left to correct.
    moved = await c1.h.execute_update(
        ExamPlanWorkflow.confirm_payment,
        PaymentConfirmation(
            actor=FINANCE,
            received_amount=Decimal("4200.00"),
            received_on=day - timedelta(days=1),
            reference="BANK-7",
            correct=True,
            reason="到账日期录入错误",
        ),
    )
    assert moved.accepted, moved.message
    assert moved.message.endswith(
        received_still_apart(
            [
                ReceivedHolding(
                    plan_id=c2.plan.plan_id, received_on=day, reference="BANK-7"
                )
            ]
        )
    )


async def test_no_invoice_is_recorded_while_a_payments_plans_list_otherwise(
    resources: Any,
) -> None:
    """Regression (trial): plans confirmed on lists that disagree (before
    the rule) took invoices of 16,800 against 12,600 received: the invoice
    of the whole payment on A1 and A2, and A3's own for its part."""
    pool, _ = resources
    store = PlanStore(pool)
    a1, a2, a3 = paid = sorted([await _plan(pool) for _ in range(3)])
    for plan_id in (a1, a2):
        await _applied(store, plan_id, paid, 1)
    await _applied(store, a3, [a3], 1)
    for plan_id in paid:
        await _confirmed(store, plan_id)

    whole = _invoice(
        a1, "26442000000000070501", key=f"{a1}/whole", paid=paid, amount="12600.00"
    )
    whole = whole.model_copy(update={"joint_amount": "12600.00"})
    own = _invoice(a3, "26442000000000070502", key=f"{a3}/own", amount="4200.00")
    for record, lists in (
        (whole, {a2: paid, a3: [a3]}),
        (own, {a1: paid, a2: paid}),
    ):
        outcome = await _record(store, record)
        assert not outcome.recorded
        assert outcome.paid_plans is not None
        assert {p.plan_id: p.listed for p in outcome.paid_plans.listings} == lists
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM plan_invoices WHERE plan_id = ANY($1)", paid
        )
        == 0
    )
    # A3 alone, asked as its confirmation asks: A1 and A2 name it.
    facts = await ActivityEnvironment().run(
        store.check_joint_payment, JointPaymentCheck(plan_id=a3, paid_plan_ids=[a3])
    )
    assert sorted(p.plan_id for p in facts.listings) == [a1, a2]


async def test_a_send_back_refusal_says_how_the_payment_is_invoiced(
    make_driver: Any,
) -> None:
    """Regression (trial): refusing to send one plan of a joint payment back
    said its invoice was the one whole-payment invoice all plans share, also
    where each plan was invoiced on its own."""
    first: PlanDriver = await make_driver()
    second: PlanDriver = await make_driver()
    await _reach_payment_together(first, second)
    paid = _ids(first, second)
    for driver, number in (
        (first, "26442000000000070601"),
        (second, "26442000000000070602"),
    ):
        await _joint_application(driver, paid)
        assert (await _plan_invoice(driver, number)).accepted
    for driver in (first, second):
        await driver.wait_for(lambda s: s.stage.value == "awaiting_approval")
    batch = await _batch_of(first, second)
    a, b = first.plan.plan_id, second.plan.plan_id

    alone = _decide(
        batch, approve=[b], reject={a: "到账待核"}, return_to={a: [Duty.PAYMENT_CHECK]}
    )
    text = await refusal_text(alone)
    assert t("batch.joint_voids_apart") in text and "共用" not in text
    assert text == "bad_argument: " + t(
        "batch.joint_return_partial",
        plan_id=a,
        others=b,
        voids=t("batch.joint_voids_apart"),
        kept=b,
    )


async def test_a_plan_rejected_beside_an_approved_one_is_not_told_to_wait(
    make_driver: Any,
) -> None:
    """Regression (trial): C2 approved and C1 rejected in one decision; every
    correction of C1's invoice was refused with 请待总经理审批该批次后再办理,
    though the batch was decided: the approved plan still names its batch,
    and was taken for one waiting in it. The refusal now says the approved
    invoice stands and what finance may record."""
    shared = "26442000000000070701"
    c1, c2 = await _jointly_invoiced(make_driver, shared)
    batch = await _batch_of(c1, c2)
    a, b = c1.plan.plan_id, c2.plan.plan_id
    await _decide(batch, approve=[b], reject={a: "发票待核，请财务核对"})
    await c1.wait_for(lambda s: s.batch_id is None)

    own = await _plan_invoice(
        c1, "26442000000000070702", correct=True, reason="改为分别开票"
    )
    assert not own.accepted
    assert "请待总经理审批" not in own.message
    assert own.message.startswith(
        t(
            "plan.invoice_joint_approved",
            plans="、".join(_ids(c1, c2)),
            gathered=t("plan.invoice_gathered_plan", plan_id=b, batch_id=c1.batch_id),
            holders="",
        ).split("：")[0]
    )
