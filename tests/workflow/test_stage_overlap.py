"""A stage written late by a timed-out attempt does not overwrite a newer one.

Regression: ``record_stage`` wrote whatever stage it was given. An attempt that
timed out waiting for a database connection is retried and not stopped: once
it got its connection, after its retry had recorded the stage and the plan had
moved on, it set the plan's row back to the older stage, which batches gather
plans by. The workflow's clock now orders the changes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from activities.db import create_pool
from activities.store import PlanStore
from certflow.activity_models import StageChange
from certflow.models import Stage
from tests.support import registered_plan

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def test_a_stage_written_late_by_a_timed_out_attempt_stays_overwritten(
    resources: Any, database_url: str
) -> None:
    pool, _ = resources
    plan, started = await registered_plan(pool)
    review = StageChange(
        plan_id=plan.plan_id,
        stage=Stage.CONSISTENCY_REVIEW,
        at=started + timedelta(hours=1),
    )
    publication = StageChange(
        plan_id=plan.plan_id,
        stage=Stage.SCORE_PUBLICATION,
        at=started + timedelta(hours=2),
    )

    # The first attempt's worker has one connection, and it is busy.
    busy = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with busy.acquire():
            first = asyncio.create_task(PlanStore(busy).record_stage(review))
            # It times out; its retry records the stage, and the plan moves on.
            await PlanStore(pool).record_stage(review)
            await PlanStore(pool).record_stage(publication)
        # The first attempt gets its connection at last.
        await first
    finally:
        await busy.close()

    row = await pool.fetchrow(
        "SELECT stage, updated_at FROM plans WHERE plan_id = $1", plan.plan_id
    )
    assert row["stage"] == Stage.SCORE_PUBLICATION.value
    assert row["updated_at"] == publication.at
