"""Finance's records in the database: a retry, a cancelled plan's number, and a
voided invoice's number.

The activities of ``PlanStore`` on the real PostgreSQL, as the worker runs
them, without a plan workflow: the cases are about what the database keeps
when an answer is lost or a plan is withdrawn.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.store import PlanStore
from certflow.activity_models import (
    AuditEntry,
    CancelOutcome,
    FinanceOutcome,
    FinanceRecord,
    JointPaymentsRequest,
)
from certflow.models import Role

AT = datetime(2026, 12, 21, 3, tzinfo=UTC)


async def _plan(pool: Any) -> str:
    plan_id = f"T{uuid.uuid4().hex[:10].upper()}"
    await pool.execute(
        """
        INSERT INTO plans (plan_id, workflow_id, site_code, site_name, certificate,
            level, module_code, module_name, exam_end_date, stage, created_at,
            updated_at)
        VALUES ($1, $1, 'HB-WH-0031', '武汉市交通职业技术学校', '汽车运用与维修',
            'intermediate', '1-1', '汽车动力与驱动综合分析技术', $2,
            'payment_and_signoff', $3, $3)
        """,
        plan_id,
        date(2026, 11, 4),
        AT,
    )
    return plan_id


def _number() -> str:
    """A 20-digit invoice number no other test (or earlier run) holds."""
    return f"{uuid.uuid4().int % 10**20:020d}"


def _entry(
    plan_id: str, action: str, by: tuple[Role, str], key: str, **details: str
) -> AuditEntry:
    """The audit line of ``action`` on the plan, by a role's person, at ``AT``."""
    role, person = by
    return AuditEntry(
        plan_id=plan_id,
        action=action,
        role=role,
        person=person,
        at=AT,
        details=details,
        idempotency_key=key,
    )


def _invoice(
    plan_id: str, number: str, *, key: str, paid: list[str] | None = None
) -> FinanceRecord:
    return FinanceRecord(
        entry=_entry(
            plan_id, "correct_invoice", (Role.FINANCE, "fin-sun"), key, invoice=number
        ),
        invoice_number=number,
        paid_plan_ids=paid or [plan_id],
        outside_batch=True,
    )


async def _record(store: PlanStore, record: FinanceRecord) -> FinanceOutcome:
    """Finance's record, written as the worker runs the activity."""
    outcome: FinanceOutcome = await ActivityEnvironment().run(
        store.record_finance, record
    )
    return outcome


async def _cancel(store: PlanStore, plan_id: str) -> bool:
    """The tech dept cancels the plan, as ``plan cancel`` has it written."""
    cancel = _entry(
        plan_id, "cancel_plan", (Role.TECH_DEPT, "tech-zhao"), f"{plan_id}/cancel"
    )
    outcome: CancelOutcome = await ActivityEnvironment().run(store.cancel_plan, cancel)
    return outcome.cancelled


async def _void(store: PlanStore, plan_id: str, number: str) -> None:
    """The void of the plan's invoice ``number``, as the plan writes it when a
    batch sends its payment back to be checked again."""
    void = _entry(
        plan_id,
        "void_invoice",
        (Role.GENERAL_MANAGER, "gm-chen"),
        f"{plan_id}/void/{number}",
        invoice=number,
        reason="到账金额待核",
    )
    await ActivityEnvironment().run(store.record_audit, void)


async def test_a_retried_record_already_written_is_done(resources: Any) -> None:
    """Review: the answer of a correction was lost, a batch gathered the plan,
    and the retry was refused as in a batch, though its number and audit line
    were written: the plan kept the old number, the approval sheet the new."""
    pool, _ = resources
    store = PlanStore(pool)
    plan_id = await _plan(pool)
    record = _invoice(plan_id, _number(), key=f"{plan_id}/correct/1")

    first = await _record(store, record)
    await pool.execute("UPDATE plans SET batch_id = 'B1' WHERE plan_id = $1", plan_id)
    retried = await _record(store, record)
    another = _invoice(plan_id, _number(), key=f"{plan_id}/correct/2")
    refused = await _record(store, another)

    assert first.recorded and retried.recorded
    assert not refused.recorded and refused.batch_id == "B1"


async def test_a_cancelled_plans_invoice_number_is_free_again(resources: Any) -> None:
    """Review: a plan started by mistake kept its number, and its replacement
    (another payment) was refused the number for good."""
    pool, _ = resources
    store = PlanStore(pool)
    mistaken, replacement = await _plan(pool), await _plan(pool)
    number = _number()
    held = _invoice(mistaken, number, key=f"{mistaken}/invoice")
    assert (await _record(store, held)).recorded

    assert await _cancel(store, mistaken)
    again = _invoice(replacement, number, key=f"{replacement}/invoice")

    assert (await _record(store, again)).recorded


async def test_a_cancelled_plans_voided_number_stays_taken(resources: Any) -> None:
    """A cancelled plan lets go of the number it holds, never voided; the
    number of an invoice it voided stays taken, for its replacement too."""
    pool, _ = resources
    store = PlanStore(pool)
    mistaken, replacement = await _plan(pool), await _plan(pool)
    voided, held = _number(), _number()
    first = _invoice(mistaken, voided, key=f"{mistaken}/invoice/1")
    assert (await _record(store, first)).recorded
    await _void(store, mistaken, voided)
    second = _invoice(mistaken, held, key=f"{mistaken}/invoice/2")
    assert (await _record(store, second)).recorded
    assert await _cancel(store, mistaken)

    takes_voided = _invoice(replacement, voided, key=f"{replacement}/invoice/1")
    refused = await _record(store, takes_voided)
    takes_held = _invoice(replacement, held, key=f"{replacement}/invoice/2")
    given = await _record(store, takes_held)

    assert not refused.recorded
    assert (refused.voided_on, refused.voided_at) == (mistaken, AT)
    assert given.recorded


async def test_a_joint_invoice_voided_on_one_plan_alone_stays_the_others_own(
    resources: Any,
) -> None:
    """Review: a batch gathered before ``joint-payments-read`` and decided
    after it sent one plan of a joint payment back alone; the invoice was
    voided on that plan and kept by the other, whose every correction keeping
    the number was then refused as voided on the first."""
    pool, _ = resources
    store = PlanStore(pool)
    voiding, keeping, other = await _plan(pool), await _plan(pool), await _plan(pool)
    paid = [voiding, keeping]
    shared = _number()
    for plan_id in paid:
        record = _invoice(plan_id, shared, key=f"{plan_id}/invoice", paid=paid)
        assert (await _record(store, record)).recorded
    await _void(store, voiding, shared)

    # The plan keeping it corrects its record (the date, say), number kept.
    dated = _invoice(keeping, shared, key=f"{keeping}/correct", paid=paid)
    dated.entry.details |= {"old_invoice": shared, "issued_on": "2026-12-20"}
    corrected = await _record(store, dated)
    # The voiding plan may not take it again, nor may another plan.
    again = _invoice(voiding, shared, key=f"{voiding}/invoice/2", paid=paid)
    refused_again = await _record(store, again)
    taken = await _record(store, _invoice(other, shared, key=f"{other}/invoice"))

    assert corrected.recorded, corrected
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM audit WHERE idempotency_key = $1",
            f"{keeping}/correct",
        )
        == 1
    )
    for refused in (refused_again, taken):
        assert not refused.recorded
        assert (refused.voided_on, refused.voided_at) == (voiding, AT)


async def test_a_joint_payments_number_corrected_on_one_plan_names_the_others(
    resources: Any,
) -> None:
    """Trial: correcting the shared invoice number on one plan of a joint
    payment was accepted without a word, leaving two numbers for one payment."""
    pool, _ = resources
    store = PlanStore(pool)
    first, second = await _plan(pool), await _plan(pool)
    paid = [first, second]
    shared, corrected = _number(), _number()
    for plan_id in paid:
        record = _invoice(plan_id, shared, key=f"{plan_id}/invoice", paid=paid)
        assert (await _record(store, record)).recorded

    correction = _invoice(first, corrected, key=f"{first}/correct", paid=paid)
    correction.entry.details["old_invoice"] = shared
    outcome = await _record(store, correction)
    retried = await _record(store, correction)

    assert outcome.recorded and outcome.still_holding == [second]
    # A retry after a lost answer says the same (review: it said nothing).
    assert retried.recorded and retried.still_holding == [second]


async def _applied(store: PlanStore, plan_id: str, paid: list[str], n: int) -> None:
    """The site's ``n``-th application of the plan, paying for ``paid``."""
    await store.record_audit(
        AuditEntry(
            plan_id=plan_id,
            action="upload_application",
            role=Role.SITE,
            person="whjt-kaowu",
            at=AT + timedelta(minutes=n),
            details={"paid_plans": ",".join(paid)},
            idempotency_key=f"{plan_id}/application/{n}",
        )
    )


async def test_a_batch_reads_the_joint_payments_of_its_plans(resources: Any) -> None:
    """What a joint payment covers is what the latest application of a plan
    of the batch declared, payments naming a common plan being one; a
    cancelled plan holds no invoice and is left out, and so is a plan paid
    alone."""
    pool, _ = resources
    store = PlanStore(pool)
    a, b, c, d, e, f, alone = [await _plan(pool) for _ in range(7)]
    await _applied(store, a, [a], 1)  # replaced by its next application
    await _applied(store, a, [a, b], 2)
    await _applied(store, f, [f, b], 1)
    await _applied(store, c, [c, d, e], 1)
    await _applied(store, alone, [alone, b], 1)
    await _applied(store, alone, [alone], 2)
    assert await _cancel(store, d)

    payments = await ActivityEnvironment().run(
        store.joint_payments,
        JointPaymentsRequest(batch_id="B-joint", plan_ids=[a, c, f, alone]),
    )

    assert sorted((p.plan_ids, p.outside) for p in payments) == sorted(
        [(sorted([a, b, f]), [b]), (sorted([c, e]), [e])]
    )
