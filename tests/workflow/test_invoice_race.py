"""An invoice recorded while the general manager sends the payment back.

In a module of its own: its worker holds finance's record back after writing
it, so that the verdict reaches the plan in between.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from certflow.actions import BatchDecisionRequest, InvoiceRecord
from certflow.i18n import t
from certflow.models import Stage
from certflow.plan import Duty
from tests.support import FINANCE, GM, PlanDriver
from worker import build_worker
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]


class _HeldFinance(Interceptor):
    """Lets finance's record be written, then holds its answer until released."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.written = asyncio.Event()

    def intercept_activity(
        self, next: ActivityInboundInterceptor
    ) -> ActivityInboundInterceptor:
        return _Holding(next, self)


class _Holding(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, hold: _HeldFinance):
        super().__init__(next)
        self.hold = hold

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        if activity.info().activity_type == "record_finance":
            self.hold.written.set()
            await self.hold.released.wait()
        return result


async def test_an_invoice_for_a_payment_sent_back_meanwhile_is_not_taken(
    make_driver: Any, resources: Any
) -> None:
    """Review: the invoice waited for its record to be written; a send-back
    of the payment check arriving then set the invoice aside, and the plan
    took the invoice anyway, for a payment being checked again."""
    pool, store = resources
    driver: PlanDriver = await make_driver()
    queue = f"certflow-held-{uuid.uuid4().hex[:8]}"
    driver.settings = driver.settings.model_copy(
        update={
            "temporal": driver.settings.temporal.model_copy(
                update={"task_queue": queue}
            )
        }
    )
    hold = _HeldFinance()
    worker = build_worker(
        driver.client, driver.settings, pool, store, interceptors=[hold]
    )
    async with worker:
        await driver.reach_publicity()
        await driver.skip(31)
        await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
        await driver.pay_and_sign()
        await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
        batch = await driver.start_batch()
        await driver.wait_for(lambda s: s.batch_id == driver.batch_id)

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
