"""A staff action's record written by an attempt past its time is rolled back.

Regression: the activities recording a staff action send no heartbeat, so an
attempt that outlived its two-minute start-to-close (its worker's pool busy)
was retried and never stopped. The plan gives such an action four attempts,
then answers that it was not processed; an attempt stalled past them all
wrote once it got its connection. A cancellation so written left the plan's
row cancelled (its invoice voided) while its workflow ran on: no later stage
of it was recorded, and no batch ever gathered it. A record of finance so
written claimed an invoice number finance was told was not recorded. Such an
attempt now commits only within its time and rolls back past it.

The database is real; the attempt's worker has a pool of one connection,
busy until the attempt's time is over.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities.db import create_pool
from activities.deadline import MARGIN, OVERDUE
from activities.store import PlanStore
from certflow.activity_models import AuditEntry, FinanceRecord, StageChange
from certflow.models import Role, Stage
from tests.support import one_activity, registered_plan

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

# The attempt's start-to-close: its time to write is over two seconds in.
TIMEOUT = MARGIN + timedelta(seconds=2)


async def _past_its_time(database_url: str, activity_type: str, arg: Any) -> Any:
    """Run an attempt of the record activity ``activity_type`` with ``arg``,
    whose worker's only connection is busy until the attempt's time is over;
    its result, or its error."""
    busy = await create_pool(database_url, min_size=1, max_size=1)
    env = one_activity(activity_type, start_to_close_timeout=TIMEOUT)
    try:
        async with busy.acquire():
            attempt = getattr(PlanStore(busy), activity_type)
            late = asyncio.create_task(env.run(attempt, arg))
            await asyncio.sleep((TIMEOUT - MARGIN).total_seconds() + 1)
        return (await asyncio.gather(late, return_exceptions=True))[0]
    finally:
        await busy.close()


def _entry(plan_id: str, action: str, role: Role, person: str) -> AuditEntry:
    return AuditEntry(
        plan_id=plan_id,
        action=action,
        role=role,
        person=person,
        at=datetime(2026, 12, 7, 9, tzinfo=UTC),
        details={},
        idempotency_key=f"test/{plan_id}/{action}/{uuid.uuid4().hex}",
    )


def _overdue(outcome: Any) -> bool:
    return isinstance(outcome, ApplicationError) and outcome.type == OVERDUE


async def test_a_cancellation_written_past_its_time_is_rolled_back(
    resources: Any, database_url: str
) -> None:
    pool, _ = resources
    plan, started = await registered_plan(pool)
    entry = _entry(plan.plan_id, "cancel_plan", Role.TECH_DEPT, "tech-zhao")

    outcome = await _past_its_time(database_url, "cancel_plan", entry)

    assert _overdue(outcome), outcome
    # The plan went on, and its next stage is recorded.
    await PlanStore(pool).record_stage(
        StageChange(
            plan_id=plan.plan_id,
            stage=Stage.CONSISTENCY_REVIEW,
            at=started + timedelta(days=1),
        )
    )
    row = await pool.fetchrow(
        "SELECT stage FROM plans WHERE plan_id = $1", plan.plan_id
    )
    assert row["stage"] == Stage.CONSISTENCY_REVIEW.value
    assert not await pool.fetchval(
        "SELECT count(*) FROM audit WHERE idempotency_key = $1", entry.idempotency_key
    )


async def test_an_invoice_recorded_past_its_time_is_rolled_back(
    resources: Any, database_url: str
) -> None:
    pool, _ = resources
    plan, _ = await registered_plan(pool)
    number = f"{uuid.uuid4().int % 10**20:020d}"
    record = FinanceRecord(
        entry=_entry(plan.plan_id, "record_invoice", Role.FINANCE, "fin-sun"),
        invoice_number=number,
        paid_plan_ids=[plan.plan_id],
        invoice_amount=Decimal("4200.00"),
        invoice_issued_on=date(2026, 12, 21),
    )

    outcome = await _past_its_time(database_url, "record_finance", record)

    assert _overdue(outcome), outcome
    assert not await pool.fetchval(
        "SELECT count(*) FROM plan_invoices WHERE plan_id = $1", plan.plan_id
    )
    assert not await pool.fetchval(
        "SELECT count(*) FROM audit WHERE idempotency_key = $1",
        record.entry.idempotency_key,
    )
