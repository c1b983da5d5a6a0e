"""Finance (4.2.3-4.2.4): the payment is checked against the application, then
invoiced; an invoice cannot come before the confirmed payment."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from certflow.actions import InvoiceRecord
from certflow.models import Stage
from tests.support import FINANCE, PlanDriver, refused
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def test_invoice_follows_the_confirmed_payment_and_does_not_hold_approval(
    make_driver: Any, resources: Any
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start()
    await driver.submit_everything()
    await driver.approve_review()
    await driver.confirm_upload()
    await driver.skip(31)
    await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
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
    assert (
        await pool.fetchval(
            "SELECT details->>'invoice' FROM audit WHERE plan_id = $1 "
            "AND action = 'record_invoice'",
            driver.plan.plan_id,
        )
        == "INV-2027-0001"
    )
