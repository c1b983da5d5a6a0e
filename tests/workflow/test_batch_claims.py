"""Approval batches claim plans in PostgreSQL: never one sent back to redo
duties, and a batch id only with the plans it names.

Regression: a rejected plan sent back to stage 5-8 was released from its batch
while its row still said it awaited approval, until its workflow recorded the
new stage; a batch gathered in between took it again.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.db import create_pool
from activities.documents import DocumentStore
from activities.store import PlanStore
from certflow.actions import BatchInput, BatchResult, batch_workflow_id, new_batch_id
from certflow.activity_models import (
    BatchClosing,
    ClaimRequest,
    DeadlineChange,
    PlanRegistration,
    PlanVerdictRecord,
    ReleaseRequest,
    StageChange,
)
from certflow.config import Settings
from certflow.models import Stage
from tests.support import (
    one_activity,
    run_batch,
    sample_plan,
    unique_plan_id,
)
from workflows import ApprovalBatchWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


def batch_run() -> ActivityEnvironment:
    """The claim of one batch run, which each of its attempts shares."""
    return one_activity("claim_ready_plans")


async def claim(
    store: PlanStore, batch_id: str, run: ActivityEnvironment | None = None
) -> list[str]:
    """An attempt of the claim of batch ``batch_id`` in ``run`` (a new one)."""
    attempt = (run or batch_run()).run(
        store.claim_ready_plans, ClaimRequest(batch_id=batch_id)
    )
    return await attempt


async def ready_plan(pool: Any) -> str:
    """A new plan registered and awaiting approval, in no batch."""
    plan = sample_plan(date(2026, 11, 4), unique_plan_id())
    await PlanStore(pool).register_plan(
        PlanRegistration(
            info=plan, workflow_id=f"test-{plan.plan_id}", started_at=datetime.now(UTC)
        )
    )
    await pool.execute(
        "UPDATE plans SET stage = $1 WHERE plan_id = $2",
        Stage.AWAITING_APPROVAL.value,
        plan.plan_id,
    )
    return plan.plan_id


async def test_a_plan_sent_back_is_not_claimed_again_before_it_says_so(
    resources: tuple[Any, DocumentStore],
) -> None:
    pool, _ = resources
    store = PlanStore(pool)
    returned, waiting = (sample_plan(date(2026, 11, 4), unique_plan_id()) for _ in "ab")
    for plan in (returned, waiting):
        await store.register_plan(
            PlanRegistration(
                info=plan,
                workflow_id=f"test-{plan.plan_id}",
                started_at=datetime.now(UTC),
            )
        )
    ours = [returned.plan_id, waiting.plan_id]
    await pool.execute(
        "UPDATE plans SET stage = $1 WHERE plan_id = ANY($2)",
        Stage.AWAITING_APPROVAL.value,
        ours,
    )
    first, second = f"B-{unique_plan_id()}", f"B-{unique_plan_id()}"

    assert set(ours) <= set(await claim(store, first))
    await store.release_plans(
        ReleaseRequest(
            batch_id=first, plan_ids=sorted(ours), returned=[returned.plan_id]
        )
    )
    again = await claim(store, second)

    assert waiting.plan_id in again
    assert returned.plan_id not in again
    stage = await pool.fetchval(
        "SELECT stage FROM plans WHERE plan_id = $1", returned.plan_id
    )
    assert stage == Stage.PAYMENT_AND_SIGNOFF.value


async def test_a_returned_plan_that_already_came_back_is_not_set_back(
    resources: tuple[Any, DocumentStore],
) -> None:
    """The release may run late (the database was away, the worker slow): a
    returned plan that has meanwhile redone its duties and recorded that it
    awaits approval again keeps that stage, so a later batch can gather it."""
    pool, _ = resources
    store = PlanStore(pool)
    plan = sample_plan(date(2026, 11, 4), unique_plan_id())
    decided = datetime.now(UTC)
    await store.register_plan(
        PlanRegistration(
            info=plan, workflow_id=f"test-{plan.plan_id}", started_at=decided
        )
    )
    await pool.execute(
        "UPDATE plans SET stage = $1, updated_at = $2 WHERE plan_id = $3",
        Stage.AWAITING_APPROVAL.value,
        decided - timedelta(days=1),
        plan.plan_id,
    )
    first, second = f"B-{unique_plan_id()}", f"B-{unique_plan_id()}"
    assert plan.plan_id in await claim(store, first)
    # Sent back, redone and ready again before the release ran.
    await store.record_stage(
        StageChange(
            plan_id=plan.plan_id,
            stage=Stage.AWAITING_APPROVAL,
            at=decided + timedelta(hours=1),
            overdue=False,
            next_deadline=None,
        )
    )
    release = ReleaseRequest(
        batch_id=first,
        plan_ids=[plan.plan_id],
        returned=[plan.plan_id],
        decided_at=decided,
    )
    await store.release_plans(release)

    assert plan.plan_id in await claim(store, second)


async def test_newer_deadlines_do_not_keep_a_returned_plan_awaiting_approval(
    resources: tuple[Any, DocumentStore],
) -> None:
    """Regression: the plan's deadlines written a second after the general
    manager's decision, and before the release ran, counted as a newer stage:
    the release left the returned plan awaiting approval in no batch, and the
    next gathering took it again before the plan wrote its stage."""
    pool, _ = resources
    store = PlanStore(pool)
    plan = sample_plan(date(2026, 11, 4), unique_plan_id())
    decided = datetime.now(UTC)
    await store.register_plan(
        PlanRegistration(
            info=plan,
            workflow_id=f"test-{plan.plan_id}",
            started_at=decided - timedelta(days=2),
        )
    )
    await store.record_stage(
        StageChange(
            plan_id=plan.plan_id,
            stage=Stage.AWAITING_APPROVAL,
            at=decided - timedelta(days=1),
        )
    )
    first, second = f"B-{unique_plan_id()}", f"B-{unique_plan_id()}"
    assert plan.plan_id in await claim(store, first)
    await store.record_deadlines(
        DeadlineChange(
            plan_id=plan.plan_id,
            at=decided + timedelta(seconds=1),
            overdue=True,
            next_deadline=decided + timedelta(days=3),
        )
    )
    await store.release_plans(
        ReleaseRequest(
            batch_id=first,
            plan_ids=[plan.plan_id],
            returned=[plan.plan_id],
            decided_at=decided,
        )
    )

    assert plan.plan_id not in await claim(store, second)
    row = await pool.fetchrow(
        "SELECT stage, overdue, next_deadline FROM plans WHERE plan_id = $1",
        plan.plan_id,
    )
    assert row["stage"] == Stage.PAYMENT_AND_SIGNOFF.value
    # The deadlines written stay, and so does their order: an older stage
    # write landing late is refused, a newer one taken.
    assert row["overdue"] and row["next_deadline"] == decided + timedelta(days=3)
    stale = StageChange(plan_id=plan.plan_id, stage=Stage.AWAITING_APPROVAL, at=decided)
    await store.record_stage(stale)
    assert (
        await pool.fetchval("SELECT stage FROM plans WHERE plan_id = $1", plan.plan_id)
        == Stage.PAYMENT_AND_SIGNOFF.value
    )
    await store.record_stage(
        stale.model_copy(
            update={
                "stage": Stage.PAYMENT_AND_SIGNOFF,
                "at": decided + timedelta(seconds=1),
            }
        )
    )
    assert await pool.fetchval(
        "SELECT stage_at FROM plans WHERE plan_id = $1", plan.plan_id
    ) == decided + timedelta(seconds=1)


async def scheduled_run(client: Client, settings: Settings) -> BatchResult:
    """A run as the weekly schedule starts it (no batch id of its own)."""
    result: BatchResult = await client.execute_workflow(
        ApprovalBatchWorkflow.run,
        BatchInput(batch_id="", requested_by="schedule"),
        id=batch_workflow_id(f"scheduled-{unique_plan_id()}"),
        task_queue=settings.temporal.task_queue,
        execution_timeout=timedelta(seconds=60),
    )
    return result


async def test_a_scheduled_gathering_that_finds_nothing_takes_no_batch_id(
    client: Client, worker_settings: Settings, resources: tuple[Any, DocumentStore]
) -> None:
    """Regression: a batch that found no plan ready still wrote its row, so its
    id stayed taken; the weekly schedule left one such batch every quiet week.

    Plans of other tests left awaiting approval are taken and found gone: no
    plan either.
    """
    pool, _ = resources

    batch_id = (await scheduled_run(client, worker_settings)).batch_id
    batch = client.get_workflow_handle(
        batch_workflow_id(batch_id), result_type=BatchResult
    )
    result = await batch.result()
    status = await batch.query(ApprovalBatchWorkflow.status)

    assert result.batch_id == batch_id and result.approved == []
    assert status.closed_empty and status.plan_ids == []
    assert not await pool.fetchval(
        "SELECT 1 FROM batches WHERE batch_id = $1", batch_id
    )


async def test_a_scheduled_batch_takes_the_next_second_no_batch_has_had(
    client: Client, env: WorkflowEnvironment, worker_settings: Settings
) -> None:
    """A scheduled run names its batch after its CST second, as staff name
    theirs; a batch that had that id (running, or closed and maybe decided,
    its approved plans still naming it) is never joined: the next second is."""
    now = await env.get_current_time()
    taken = [new_batch_id(now + timedelta(seconds=s)) for s in range(-1, 10)]
    for batch_id in taken:
        await run_batch(client, worker_settings, batch_id)

    batch_id = (await scheduled_run(client, worker_settings)).batch_id

    assert batch_id == new_batch_id(now + timedelta(seconds=10))
    started = await client.get_workflow_handle(batch_workflow_id(batch_id)).describe()
    assert started.parent_id is not None and started.parent_id.startswith(
        batch_workflow_id("scheduled-")
    )


async def test_a_batch_whose_every_plan_is_gone_leaves_its_id_free(
    resources: tuple[Any, DocumentStore],
) -> None:
    """A batch that claimed only plans whose workflow no longer runs gathered
    nothing: its row goes with them, and a later batch may take its id."""
    pool, _ = resources
    store = PlanStore(pool)
    plan_id = await ready_plan(pool)
    batch_id = f"B-{unique_plan_id()}"

    claimed = await claim(store, batch_id)
    held = await pool.fetchval("SELECT 1 FROM batches WHERE batch_id = $1", batch_id)
    await store.mark_plans_gone(ReleaseRequest(batch_id=batch_id, plan_ids=claimed))

    assert plan_id in claimed and held
    assert not await pool.fetchval(
        "SELECT 1 FROM batches WHERE batch_id = $1", batch_id
    )


async def test_a_decision_is_written_the_same_however_often_the_close_is_retried(
    resources: tuple[Any, DocumentStore],
) -> None:
    """Closing a batch writes who decided, when and each plan's verdict; a
    retry writes the same, and a closing of an older release (its batch id
    alone, as a ``ClaimRequest``) still closes the batch."""
    pool, _ = resources
    store = PlanStore(pool)
    kept, rejected = await ready_plan(pool), await ready_plan(pool)
    batch_id, older = f"B-{unique_plan_id()}", f"B-{unique_plan_id()}"
    await claim(store, batch_id)
    decided_at = datetime(2027, 1, 6, 1, 30, tzinfo=UTC)
    closing = BatchClosing(
        batch_id=batch_id,
        decided_by="gm-chen",
        decided_at=decided_at,
        verdicts=[
            PlanVerdictRecord(plan_id=kept, approved=True),
            PlanVerdictRecord(plan_id=rejected, approved=False, reason="发票待核"),
        ],
    )

    for _ in range(2):
        await store.close_batch(closing)
    row = await pool.fetchrow(
        "SELECT status, decided_by, decided_at FROM batches WHERE batch_id = $1",
        batch_id,
    )
    verdicts = await pool.fetch(
        "SELECT plan_id, verdict, reason FROM batch_plans"
        " WHERE batch_id = $1 AND plan_id = ANY($2)",
        batch_id,
        [kept, rejected],
    )
    await ready_plan(pool)
    await claim(store, older)
    await store.close_batch(
        BatchClosing.model_validate(ClaimRequest(batch_id=older).model_dump())
    )

    assert tuple(row) == ("decided", "gm-chen", decided_at)
    assert {r["plan_id"]: (r["verdict"], r["reason"]) for r in verdicts} == {
        kept: ("approved", None),
        rejected: ("rejected", "发票待核"),
    }
    assert tuple(
        await pool.fetchrow(
            "SELECT status, decided_by, decided_at IS NOT NULL FROM batches"
            " WHERE batch_id = $1",
            older,
        )
    ) == ("decided", None, True)


async def batch_of(pool: Any, plan_id: str) -> str | None:
    batch_id: str | None = await pool.fetchval(
        "SELECT batch_id FROM plans WHERE plan_id = $1", plan_id
    )
    return batch_id


async def test_a_first_attempt_claiming_after_its_retry_claims_nothing_new(
    resources: tuple[Any, DocumentStore], database_url: str
) -> None:
    """Regression: an attempt of the claim that timed out (waiting for a
    connection) is retried and not stopped. Once it got its connection, after
    its retry had claimed the batch's plans, it claimed every plan that had
    become ready since: their rows named a batch whose workflow had its plans
    already and never heard of them, and no later batch could gather them."""
    pool, _ = resources
    store = PlanStore(pool)
    gathered = await ready_plan(pool)
    batch_id = f"B-{unique_plan_id()}"
    run = batch_run()

    # The first attempt's worker has one connection, and it is busy.
    busy = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with busy.acquire():
            first = asyncio.create_task(claim(PlanStore(busy), batch_id, run))
            # It times out; its retry claims the batch's plans, and another
            # plan becomes ready.
            retried = await claim(store, batch_id, run)
            later = await ready_plan(pool)
        # The first attempt gets its connection at last.
        late = await first
    finally:
        await busy.close()

    assert gathered in retried and late == retried
    assert await batch_of(pool, later) is None
    assert later in await claim(store, f"B-{unique_plan_id()}")


async def test_a_late_attempt_of_a_run_that_gathered_nothing_leaves_the_id_free(
    resources: tuple[Any, DocumentStore],
) -> None:
    """A run whose claim found no plan closes without any: its late attempt
    claims nothing into it, and a later run of the same batch id (as
    ``certflow batch gather`` may start) claims afresh."""
    pool, _ = resources
    store = PlanStore(pool)
    # Plans other tests left ready are gathered first, by a batch of their own.
    await claim(store, f"B-{unique_plan_id()}")
    batch_id = f"B-{unique_plan_id()}"
    run = batch_run()

    assert await claim(store, batch_id, run) == []
    later = await ready_plan(pool)
    late = await claim(store, batch_id, run)
    again = await claim(store, batch_id)

    assert late == [] and again == [later]
    assert await batch_of(pool, later) == batch_id
