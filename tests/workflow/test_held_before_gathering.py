"""A plan awaiting approval that its payment holds out of every batch, before
any gathering: nobody owes its gathering until the hold lifts.

Regression (review): a plan signed off with a payment difference open (or
an invoice to correct after one, or another plan of its joint payment
holding it) was shown in ``certflow status`` with 汇总进发证批次 owed by the
tech dept and "请技术部用 certflow batch gather 汇总", a few lines above
结清前不汇总进发证批次, and ``OwedBy`` listed ``tech_dept``, though the
gathering would leave the plan out. What holds it is owed, by finance (or on
the other plan of the payment); the gathering is owed again once it lifts.
Cancelling such a plan mailed the general manager, whom no batch had asked
anything; it now mails the tech dept, who gathers it, and nobody for an
approval its payment held.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest

from certflow.actions import CancelRequest, InvoiceRecord
from certflow.i18n import t
from certflow.models import Role
from starter.smtp_sink import body_text
from tests.cli.conftest import certflow_runner
from tests.cli.test_batch_gather import _owed_by
from tests.support import FINANCE, TECH, PlanDriver, approve_and_apply, mails_of
from tests.workflow.test_payment_difference import (
    SEQ_2,
    SEQ_12,
    _gathered,
    _settle,
    signed_off_owing_a_supplement,
)
from tests.workflow.test_payment_difference_joint import (
    HELD_BY_PARTNER,
    TECH_ARGS,
    _awaiting,
    _difference_before_signoffs,
    _site_signoff,
)
from tests.workflow.test_web_ui_details import details_showing
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]

wf = ExamPlanWorkflow
GATHERING = t("duties.approval_gathering")
HELD_BY_DIFFERENCE = t("payment_difference.held_difference").split("{")[0]
HELD_BY_INVOICE = t("payment_difference.held_invoice").split("{")[0]
# What ``status`` says of a plan whose gathering is owed, schedule or not.
TOLD_TO_GATHER = "certflow batch gather"


async def _owed_by_now(client: Any, driver: PlanDriver, expected: list[str]) -> None:
    """Until the plan's ``OwedBy`` reads ``expected`` (it follows the plan's
    workflow task)."""
    owed: list[str] = []
    for _ in range(100):
        owed = await _owed_by(client, driver.h.id)
        if owed == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"OwedBy stayed {owed}, not {expected}")


async def _cancel(driver: PlanDriver) -> None:
    cancelled = await driver.h.execute_update(
        wf.cancel_plan,
        CancelRequest(actor=TECH, reason="考核站点撤回", refund_by_finance=True),
    )
    assert cancelled.accepted, cancelled.message


async def test_a_plan_its_difference_holds_owes_no_gathering_until_it_lifts(
    make_driver: Any,
    resources: Any,
    client: Any,
    worker_settings: Any,
    sink_messages: Any,
) -> None:
    pool, _ = resources
    certflow = certflow_runner(worker_settings, client)
    driver = await signed_off_owing_a_supplement(make_driver)
    plan_id = driver.plan.plan_id

    # Before any gathering: finance owes the difference, nobody a gathering.
    shown = await certflow(*TECH_ARGS, "status", plan_id)
    assert HELD_BY_DIFFERENCE in shown.out, shown.out
    assert GATHERING not in shown.out and TOLD_TO_GATHER not in shown.out
    await _owed_by_now(client, driver, ["finance"])
    status = json.loads((await certflow("status", plan_id, "--json")).out)
    assert status["payment_held"]["reason"] == "difference"
    assert status["next_gathering"] is None
    assert {o["duty"] for o in status["owed"]} == {"payment_difference"}
    details = await details_showing(driver, HELD_BY_DIFFERENCE)
    assert GATHERING not in details, details
    # As a gathering finds: it leaves the plan out.
    assert not await _gathered(driver, pool, f"B-{plan_id}-1")

    # Settled, the invoice for the old total still holds it: finance's again.
    await _settle(driver, "300.00")
    shown = await certflow(*TECH_ARGS, "status", plan_id)
    assert HELD_BY_INVOICE in shown.out, shown.out
    assert GATHERING not in shown.out and TOLD_TO_GATHER not in shown.out
    await _owed_by_now(client, driver, ["finance"])

    # The invoice corrected, nothing holds it: the tech dept owes its gathering.
    corrected = await driver.h.execute_update(
        wf.record_invoice,
        InvoiceRecord(
            actor=FINANCE,
            number="26442000000012340401",
            issued_on=await driver.today(),
            amount=Decimal("4500.00"),
            correct=True,
            reason="红字冲销后重开",
        ),
    )
    assert corrected.accepted, corrected.message
    await _owed_by_now(client, driver, ["tech_dept"])
    shown = await certflow(*TECH_ARGS, "status", plan_id)
    assert GATHERING in shown.out and TOLD_TO_GATHER in shown.out, shown.out
    assert HELD_BY_INVOICE not in shown.out
    assert (
        json.loads((await certflow("status", plan_id, "--json")).out)["payment_held"]
        is None
    )

    # Cancelled before a batch took it: the tech dept hears, not the GM.
    await _cancel(driver)
    [told] = await mails_of(sink_messages, plan_id, "plan_cancelled")
    recipients = str(told["To"])
    assert all(a in recipients for a in driver.settings.recipients[Role.TECH_DEPT])
    assert not any(
        a in recipients for a in driver.settings.recipients[Role.GENERAL_MANAGER]
    )
    assert GATHERING in body_text(told)


async def test_a_plan_its_partner_holds_owes_no_gathering_until_freed(
    make_driver: Any, resources: Any, client: Any, worker_settings: Any
) -> None:
    """P14 comes to await approval while P13 of its payment, invoiced whole,
    owes a difference: nobody owes P14 anything until P13's ends; then the
    tech dept owes its gathering."""
    pool, _ = resources
    certflow = certflow_runner(worker_settings, client)
    held, partner, filed = await _difference_before_signoffs(
        make_driver,
        "26442000000000139401",
        [(SEQ_12, "practical", "60.10"), (SEQ_2, "status", "缺考")],
    )
    b = partner.plan.plan_id
    await _site_signoff(partner)
    await _awaiting(pool, partner)
    # Once it has asked the database whether another plan holds it.
    await partner.wait_for(lambda s: s.payment_held is not None)

    await _owed_by_now(client, partner, [])
    shown = await certflow(*TECH_ARGS, "status", b)
    assert HELD_BY_PARTNER in shown.out, shown.out
    assert GATHERING not in shown.out and TOLD_TO_GATHER not in shown.out
    status = json.loads((await certflow("status", b, "--json")).out)
    assert status["payment_held"]["reason"] == "joint", status["payment_held"]
    assert status["payment_held"]["details"]["plan"] == held.plan.plan_id
    assert status["owed"] == [] and status["held_back"] is None
    details = await details_showing(partner, HELD_BY_PARTNER)
    assert GATHERING not in details, details

    # P13's second correction ends its difference: P14 is free.
    await approve_and_apply(held, filed[1])
    await _owed_by_now(client, partner, ["tech_dept"])
    shown = await certflow(*TECH_ARGS, "status", b)
    assert GATHERING in shown.out and TOLD_TO_GATHER in shown.out, shown.out
    assert HELD_BY_PARTNER not in shown.out
    for driver in (partner, held):
        await _cancel(driver)


async def test_a_plan_its_partner_holds_cancelled_mails_nobody_of_its_approval(
    make_driver: Any, resources: Any
) -> None:
    """Nobody owed P14 anything, nor was told it ready: its cancellation
    mails nobody of its approval (the general manager was, of a decision
    never asked)."""
    pool, _ = resources
    held, partner, _ = await _difference_before_signoffs(
        make_driver, "26442000000000139501", [(SEQ_12, "practical", "60.10")]
    )
    await _site_signoff(partner)
    await _awaiting(pool, partner)
    await partner.wait_for(lambda s: s.payment_held is not None)

    await _cancel(partner)
    await partner.h.result()
    mailed = await pool.fetch(
        "SELECT template FROM notifications WHERE plan_id = $1",
        partner.plan.plan_id,
    )
    # Finance alone hears of it: of the money the plan held, to refund.
    assert "plan_cancelled" not in {row["template"] for row in mailed}
    assert "plan_cancelled_money" in {row["template"] for row in mailed}
    await _cancel(held)
