"""A staff action that reaches a plan while it is still writing its row waits
for it, and for the duties it opens next.

In a module of its own: its worker holds the plan's registration back.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from temporalio import activity
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from tests.support import LEAD, PlanDriver
from worker import build_worker
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


class _HeldRegistration(Interceptor):
    """Lets the plan's row be written, then holds the activity's answer back
    until ``released`` is set: the plan is registered in PostgreSQL but does
    not know it yet, as on a loaded worker."""

    def __init__(self) -> None:
        self.released = asyncio.Event()
        self.written = asyncio.Event()

    def intercept_activity(
        self, next: ActivityInboundInterceptor
    ) -> ActivityInboundInterceptor:
        return _Holding(next, self)


class _Holding(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, hold: _HeldRegistration):
        super().__init__(next)
        self.hold = hold

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        result = await super().execute_activity(input)
        if activity.info().activity_type == "register_plan":
            self.hold.written.set()
            await self.hold.released.wait()
        return result


async def test_an_upload_during_registration_is_counted_once_the_plan_is_open(
    make_driver: Any, resources: Any
) -> None:
    """Regression: the summary uploaded in the plan's first moments was
    accepted and recorded, but the duty it closed was not open yet; it opened
    right after as owed, and the plan waited in stage 1 for an upload it had
    (seen once in CI, as a consistency review that never came)."""
    pool, store = resources
    driver: PlanDriver = await make_driver()
    queue = f"certflow-held-{uuid.uuid4().hex[:8]}"
    driver.settings = driver.settings.model_copy(
        update={
            "temporal": driver.settings.temporal.model_copy(
                update={"task_queue": queue}
            )
        }
    )
    hold = _HeldRegistration()
    worker = build_worker(
        driver.client, driver.settings, pool, store, interceptors=[hold]
    )
    async with worker:
        await driver.start()
        await asyncio.wait_for(hold.written.wait(), 30)
        upload = asyncio.create_task(
            driver.upload(
                ExamPlanWorkflow.upload_score_summary, LEAD, driver.files["summary"]
            )
        )
        # Long enough for the upload to be handled, had it not waited.
        await asyncio.sleep(2)
        hold.released.set()
        result = await asyncio.wait_for(upload, 60)

        assert result.accepted, result.problems
        status = await driver.wait_for(lambda s: bool(s.owed))
        owed = {o.duty for o in status.owed}
        assert "score_summary" not in owed
        assert "signed_scan" in owed  # the others are open, as they should be
