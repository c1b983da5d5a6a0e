"""A file certflow produces for a plan is recorded once per activity.

Regression: the national platform's import file was recorded unless a row of
the plan held a file with the same digest. Every attempt writes its workbook
anew, and a workbook carries the second it was saved in, so a retry (started
while its first attempt, timed out but not stopped, was still writing, or
after a lost answer) recorded a second file the plan never held. The retry
now returns the file its activity recorded first.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from temporalio.testing import ActivityEnvironment

from activities.documents import DocumentStore
from activities.intake import IntakeActivities
from certflow.activity_models import PlatformImportRequest
from certflow.models import DocumentKind, DocumentRef, PlanInfo
from tests.support import next_second, one_activity, registered_plan, waiting_on_locks

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


Build = Callable[[ActivityEnvironment], Awaitable[DocumentRef]]


@pytest_asyncio.fixture(loop_scope="session")
async def plan_import(resources: Any) -> tuple[PlanInfo, Build]:
    """A new registered plan, and an attempt of its import file's activity."""
    pool, store = resources
    plan, _ = await registered_plan(pool)
    intake = IntakeActivities(pool, store)
    request = PlatformImportRequest(plan=plan)

    def build(env: ActivityEnvironment) -> Awaitable[DocumentRef]:
        return env.run(intake.build_platform_import, request)

    return plan, build


async def produced(pool: Any, plan_id: str) -> list[str]:
    rows = await pool.fetch(
        "SELECT sha256 FROM plan_documents WHERE plan_id = $1 AND kind = $2",
        plan_id,
        DocumentKind.PLATFORM_IMPORT.value,
    )
    return [row["sha256"] for row in rows]


async def test_a_retry_overlapping_its_first_attempt_records_one_file(
    resources: Any, plan_import: tuple[PlanInfo, Build]
) -> None:
    pool, store = resources
    plan, build = plan_import
    env = one_activity("build_platform_import")

    # A staff action holds the plan's row (as cancelling the plan or recording
    # finance's record does) while both attempts record their file: the first
    # attempt, then, a second later, its retry. Neither has committed yet.
    async with pool.acquire() as holder, holder.transaction():
        await holder.execute(
            "SELECT 1 FROM plans WHERE plan_id = $1 FOR UPDATE", plan.plan_id
        )
        first = asyncio.create_task(build(env))
        await waiting_on_locks(pool, 1)
        await next_second()
        retry = asyncio.create_task(build(env))
        await waiting_on_locks(pool, 2)
    first_file, retried_file = await asyncio.gather(first, retry)

    assert await produced(pool, plan.plan_id) == [first_file.sha256]
    assert retried_file == first_file
    assert store.get(first_file)


async def test_a_retry_after_its_first_attempt_returns_the_file_recorded(
    resources: Any, plan_import: tuple[PlanInfo, Build]
) -> None:
    pool, _ = resources
    plan, build = plan_import
    env = one_activity("build_platform_import")

    first_file = await build(env)
    # The answer was lost; the retry comes later and writes its own workbook.
    await next_second()
    retried_file = await build(env)

    assert await produced(pool, plan.plan_id) == [first_file.sha256]
    assert retried_file == first_file

    # Another activity of the plan (the file built again after a send-back)
    # records its own file.
    rebuilt = await build(one_activity("build_platform_import"))
    assert rebuilt != first_file
    assert sorted(await produced(pool, plan.plan_id)) == sorted(
        [first_file.sha256, rebuilt.sha256]
    )


async def test_an_attempt_failing_after_storing_its_file_leaves_it_to_the_retry(
    resources: Any, plan_import: tuple[PlanInfo, Build]
) -> None:
    """Regression: an attempt that stored its file and then failed to record
    it left the file in the store, named by no record; the retry stored and
    recorded another. The retry takes the first attempt's file back."""
    pool, store = resources
    plan, build = plan_import
    env = one_activity("build_platform_import")
    # A plan without scores has the same workbook as others in the same second.
    await next_second()
    before = stored(store)

    # The database refuses the plan's file once it is stored: a real failure.
    refusal = f"refuse_{uuid.uuid4().hex}"
    await pool.execute(
        f"ALTER TABLE plan_documents ADD CONSTRAINT {refusal}"
        f" CHECK (plan_id <> '{plan.plan_id}') NOT VALID"
    )
    try:
        with pytest.raises(asyncpg.CheckViolationError):
            await build(env)
    finally:
        await pool.execute(f"ALTER TABLE plan_documents DROP CONSTRAINT {refusal}")
    [left] = stored(store) - before
    await next_second()
    env.info = dataclasses.replace(env.info, attempt=2)
    recorded = await build(env)

    assert recorded.sha256 != left
    assert stored(store) - before == {recorded.sha256}
    assert await produced(pool, plan.plan_id) == [recorded.sha256]


def stored(store: DocumentStore) -> set[str]:
    """The digests of every file in the store."""
    return {path.name for path in store.root.glob("*/*") if path.is_file()}
