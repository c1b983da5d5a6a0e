"""An invoice corrected under a new number: a reissue (红字冲销并重开), the old
number voided for good, unless finance says the record was typed wrong
(``typo``). In a module of its own: each module's clock is its own, and the
records module's skips reach the end of the 2027 test calendar."""

from __future__ import annotations

from typing import Any

import pytest

from certflow.i18n import t
from certflow.timeutil import format_cst
from tests.workflow.test_invoice_records import _audit, _invoice, _paid_one_ready

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]


async def test_an_invoice_reissued_under_a_new_number_voids_the_old_one(
    make_driver: Any, resources: Any
) -> None:
    """Regression (review): an invoice reversed (红字冲销) and reissued for
    the same amount, its title or taxpayer id wrong, was recorded as a
    number typed wrong: no void, the old number free once no plan held it,
    another payment could record it, and the status listed nothing voided.
    A new number is a reissue unless finance says ``typo``; a typing error
    so said voids nothing."""
    pool, _ = resources
    driver, other = await _paid_one_ready(make_driver)
    plan_id = driver.plan.plan_id
    first, second, third = (
        "26442000000000004401",
        "26442000000000004402",
        "26442000000000004403",
    )
    assert (await _invoice(driver, first)).accepted

    reissued = await _invoice(
        driver, second, correct=True, reason="发票抬头有误，红字冲销后重开"
    )
    assert reissued.accepted, reissued.message
    assert reissued.message.endswith(t("plan.invoice_reversed_for_good", number=first))
    [void] = await _audit(pool, plan_id, "void_invoice")
    assert (void["invoice"], void["amount"], void["replaced_by"]) == (
        first,
        "4200.00",
        second,
    )
    [listed] = (await driver.status()).payment.voided_invoices
    assert (listed.number, listed.replaced_by) == (first, second)
    voided_at = await pool.fetchval(
        "SELECT at FROM audit WHERE plan_id = $1 AND action = 'void_invoice'",
        plan_id,
    )
    taken = await _invoice(other, first)
    assert (taken.accepted, taken.message) == (
        False,
        t(
            "plan.invoice_number_reversed",
            number=first,
            plan_id=plan_id,
            at=format_cst(voided_at),
        ),
    )

    # The reissued invoice's number was typed wrong: said so, nothing voided.
    typed = await _invoice(
        driver, third, correct=True, reason="发票号码录入错误", typo=True
    )
    assert typed.accepted, typed.message
    assert typed.message.endswith(t("plan.invoice_typo_not_voided", number=second))
    assert len(await _audit(pool, plan_id, "void_invoice")) == 1
    assert len((await driver.status()).payment.voided_invoices) == 1
    assert (await _invoice(other, second)).accepted
