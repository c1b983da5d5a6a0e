"""A joint payment (合并缴费) confirmed plan by plan: each plan of the payment
confirms its own declared share, and the bank's one total typed on a plan is
refused by the staff tool naming that share.

A module of its own: its time-skipping clock starts afresh, so its plans reach
payment within the years the working-day calendar covers.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import Client

from certflow.config import Settings
from certflow.i18n import t
from tests.cli.conftest import certflow_runner
from tests.support import FINANCE, PlanDriver
from tests.workflow.test_invoice_records import (
    _joint_application,
    _reach_payment_together,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]


async def _applied_together(make_driver: Any) -> tuple[PlanDriver, list[str]]:
    """Two plans of one site whose joint payment (4200.00 each) the site
    declared on both, not yet confirmed: the first, and both plans' ids."""
    drivers: list[PlanDriver] = [await make_driver() for _ in range(2)]
    await _reach_payment_together(*drivers)
    paid = [driver.plan.plan_id for driver in drivers]
    for driver in drivers:
        await _joint_application(driver, paid, confirm=False)
    return drivers[0], paid


async def test_a_joint_payments_total_confirmed_on_one_plan_names_its_share(
    make_driver: Any, worker_settings: Settings, client: Client
) -> None:
    """Trial: finance typed the bank's total of a joint payment on one plan
    (``payment P --amount 12600``) and was told to have the site correct its
    application, which was right: each plan confirms its own share."""
    first, paid = await _applied_together(make_driver)
    certflow = certflow_runner(worker_settings, client)
    payment = ["--as", "finance", "--person", FINANCE.person, "payment"]
    day = (await first.today()).isoformat()

    total = await certflow(
        *payment, first.plan.plan_id, "--amount", "8400", "--received-on", day
    )

    assert total.status != 0
    assert (
        t(
            "cli.payment_joint_total",
            received="8400.00",
            plans="、".join(sorted(paid)),
            plan_id=first.plan.plan_id,
            share="4200.00",
        )
        in total.out
    )
    assert "更正申请表" not in total.out
    assert (await first.status()).payment.confirmed_amount is None

    # Another wrong amount is the plan's to answer, as before; the share is taken.
    other = await certflow(
        *payment, first.plan.plan_id, "--amount", "6300", "--received-on", day
    )
    assert "更正申请表" in other.out
    share = await certflow(
        *payment, first.plan.plan_id, "--amount", "4200", "--received-on", day
    )
    assert share.status == 0, share.out
    assert (await first.status()).payment.confirmed_amount_text == "4200.00"


async def test_a_settlement_is_never_taken_for_a_joint_payments_total(
    make_driver: Any, worker_settings: Settings, client: Client
) -> None:
    """Review: the staff tool checked a settlement's amount (``payment
    --settle-difference --amount``) as it checks a confirmation's, and refused
    one equal to the joint payment's total as the bank's total typed on one
    plan. A settlement is the plan's own payment difference: the plan alone
    answers it (here, that it has none to settle)."""
    first, _ = await _applied_together(make_driver)
    certflow = certflow_runner(worker_settings, client)
    day = (await first.today()).isoformat()

    settled = await certflow(
        "--as", "finance", "--person", FINANCE.person, "payment",
        first.plan.plan_id, "--settle-difference", "--amount", "8400",
        "--received-on", day,
    )  # fmt: skip

    assert settled.status != 0
    assert t("plan.difference_none") in settled.out, settled.out
    assert "合并缴费" not in settled.out
