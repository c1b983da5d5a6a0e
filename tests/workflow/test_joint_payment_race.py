"""Two plans of one joint payment (合并缴费) confirmed at the same moment: one
payment arrives once, so the database takes one of the two confirmations
and the other is refused, as it is when they come one after the other.

A module of its own: its time-skipping clock starts afresh, so its plans
reach payment within the years the working-day calendar covers.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from certflow.joint_payment import JointPaymentFacts, ReceivedHolding, received_refusal
from tests.support import PlanDriver
from tests.workflow.test_invoice_records import (
    _joint_application,
    _reach_payment_together,
)
from tests.workflow.test_joint_payment_members import _confirm

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(240)]


async def _received(resources: Any, plan_ids: list[str]) -> set[tuple[str, str]]:
    """The payment identities (received day, reference) the audit trail
    holds confirmed for ``plan_ids``."""
    pool = resources[0]
    rows = await pool.fetch(
        "SELECT details ->> 'received_on' AS day,"
        " coalesce(details ->> 'reference', '') AS reference FROM audit"
        " WHERE plan_id = ANY($1) AND action = 'confirm_payment' AND accepted",
        plan_ids,
    )
    return {(row["day"], row["reference"]) for row in rows}


@pytest.mark.parametrize(
    "references", [("", ""), ("BANK-A", "BANK-B")], ids=["no-reference", "two-refs"]
)
async def test_two_plans_of_a_payment_confirmed_at_once_record_one_payment(
    make_driver: Any, resources: Any, references: tuple[str, str]
) -> None:
    """Regression (trial): the site applied for H and I with ``--paid-plan H
    I``, 4200 each; finance confirmed H as received on 02-07 and I on 02-08
    at the same moment, and both were taken (with references BANK-A and
    BANK-B too): the approval sheet showed two days for one bank transfer.
    One after the other the second was refused. Now the check and the
    record are one transaction under the payment's locks: exactly one
    payment identity is recorded, the other confirmation refused with the
    same message as one coming after it."""
    h: PlanDriver = await make_driver()
    i: PlanDriver = await make_driver()
    await _reach_payment_together(h, i)
    paid = [h.plan.plan_id, i.plan.plan_id]
    for driver in (h, i):
        await _joint_application(driver, paid, confirm=False)
    await h.skip(2)

    today = await h.today()
    sent = {
        h.plan.plan_id: (today - timedelta(days=2), references[0]),
        i.plan.plan_id: (today - timedelta(days=1), references[1]),
    }

    answers = await asyncio.gather(
        _confirm(h, days_later=-2, ref=references[0]),
        _confirm(i, days_later=-1, ref=references[1]),
    )

    assert sorted(a.accepted for a in answers) == [False, True], answers
    first, second = paid if answers[0].accepted else paid[::-1]
    day, reference = sent[first]
    assert await _received(resources, paid) == {(day.isoformat(), reference)}
    holding = ReceivedHolding(plan_id=first, received_on=day, reference=reference)
    assert answers[paid.index(second)].message == received_refusal(
        *sent[second], JointPaymentFacts(received=[holding]), sorted(paid)
    )
    statuses = {d.plan.plan_id: (await d.status()).payment for d in (h, i)}
    assert statuses[first].confirmed_amount_text == "4200.00"
    assert statuses[second].confirmed_amount is None
