"""Finance's records in the database: a retry, and a cancelled plan's number.

The activities of ``PlanStore`` on the real PostgreSQL, as the worker runs
them, without a plan workflow: the cases are about what the database keeps
when an answer is lost or a plan is withdrawn.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

from temporalio.testing import ActivityEnvironment

from activities.store import PlanStore
from certflow.activity_models import AuditEntry, FinanceRecord
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


def _invoice(
    plan_id: str, number: str, *, key: str, paid: list[str] | None = None
) -> FinanceRecord:
    return FinanceRecord(
        entry=AuditEntry(
            plan_id=plan_id,
            action="correct_invoice",
            role=Role.FINANCE,
            person="fin-sun",
            at=AT,
            details={"invoice": number},
            idempotency_key=key,
        ),
        invoice_number=number,
        paid_plan_ids=paid or [plan_id],
        outside_batch=True,
    )


async def test_a_retried_record_already_written_is_done(resources: Any) -> None:
    """Review: the answer of a correction was lost, a batch gathered the plan,
    and the retry was refused as in a batch, though its number and audit line
    were written: the plan kept the old number, the approval sheet the new."""
    pool, _ = resources
    store = PlanStore(pool)
    plan_id = await _plan(pool)
    record = _invoice(plan_id, _number(), key=f"{plan_id}/correct/1")

    first = await ActivityEnvironment().run(store.record_finance, record)
    await pool.execute("UPDATE plans SET batch_id = 'B1' WHERE plan_id = $1", plan_id)
    retried = await ActivityEnvironment().run(store.record_finance, record)
    another = _invoice(plan_id, _number(), key=f"{plan_id}/correct/2")
    refused = await ActivityEnvironment().run(store.record_finance, another)

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
    assert (await ActivityEnvironment().run(store.record_finance, held)).recorded

    cancel = AuditEntry(
        plan_id=mistaken,
        action="cancel_plan",
        role=Role.TECH_DEPT,
        person="tech-zhao",
        at=AT,
        idempotency_key=f"{mistaken}/cancel",
    )
    assert (await ActivityEnvironment().run(store.cancel_plan, cancel)).cancelled
    again = _invoice(replacement, number, key=f"{replacement}/invoice")

    assert (await ActivityEnvironment().run(store.record_finance, again)).recorded


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
        assert (await ActivityEnvironment().run(store.record_finance, record)).recorded

    correction = _invoice(first, corrected, key=f"{first}/correct", paid=paid)
    correction.entry.details["old_invoice"] = shared
    outcome = await ActivityEnvironment().run(store.record_finance, correction)
    retried = await ActivityEnvironment().run(store.record_finance, correction)

    assert outcome.recorded and outcome.still_holding == [second]
    # A retry after a lost answer says the same (review: it said nothing).
    assert retried.recorded and retried.still_holding == [second]
