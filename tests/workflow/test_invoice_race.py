"""An invoice recorded while the general manager sends the payment back.

In a module of its own: its worker holds finance's record back after writing
it, so that the verdict reaches the plan in between.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from certflow.actions import BatchDecisionRequest, InvoiceRecord
from certflow.activity_models import FinanceRecord
from certflow.i18n import t
from certflow.models import Stage
from certflow.plan import Duty
from tests.support import FINANCE, GM, HeldAnswer, PlanDriver, worker_holding
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]


async def test_an_invoice_for_a_payment_sent_back_meanwhile_is_not_taken(
    make_driver: Any, resources: Any
) -> None:
    """Review: the invoice waited for its record to be written; a send-back
    of the payment check arriving then set the invoice aside, and the plan
    took the invoice anyway, for a payment being checked again."""
    driver: PlanDriver = await make_driver()
    # The invoice's record alone: finance's confirmation is written by the
    # same activity (``received_once``), and goes through.
    hold = HeldAnswer(
        "record_finance",
        when=lambda req: (
            isinstance(req, FinanceRecord) and req.invoice_number is not None
        ),
    )
    async with worker_holding(driver, resources, hold):
        await driver.reach_publicity()
        await driver.skip(31)
        await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
        await driver.pay_and_sign()
        await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
        batch = await driver.start_batch()
        await driver.wait_gathered()

        invoice = asyncio.create_task(
            driver.h.execute_update(
                ExamPlanWorkflow.record_invoice,
                InvoiceRecord(
                    actor=FINANCE,
                    number=driver.invoice_number,
                    issued_on=await driver.today(),
                    amount=4200,
                ),
            )
        )
        await asyncio.wait_for(hold.written.wait(), 30)
        plan_id = driver.plan.plan_id
        await batch.execute_update(
            ApprovalBatchWorkflow.decide,
            BatchDecisionRequest(
                actor=GM,
                reject={plan_id: "到账金额待核实"},
                return_to={plan_id: [Duty.PAYMENT_CHECK]},
            ),
        )
        await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
        hold.released.set()
        answer = await asyncio.wait_for(invoice, 30)

        status = await driver.status()
    assert not answer.accepted
    assert answer.message == t("plan.invoice_payment_reopened")
    assert status.payment.invoice_number is None
    assert any(o.duty == "payment_check" for o in status.owed)
    assert not any(o.duty == "invoice" for o in status.owed)
