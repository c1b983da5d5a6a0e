"""A staff action that reaches a plan while it is still writing its row waits
for it, and for the duties it opens next.

In a module of its own: its worker holds the plan's registration back.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support import LEAD, HeldAnswer, PlanDriver, worker_holding
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def test_an_upload_during_registration_is_counted_once_the_plan_is_open(
    make_driver: Any, resources: Any
) -> None:
    """Regression: the summary uploaded in the plan's first moments was
    accepted and recorded, but the duty it closed was not open yet; it opened
    right after as owed, and the plan waited in stage 1 for an upload it had
    (seen once in CI, as a consistency review that never came)."""
    driver: PlanDriver = await make_driver()
    hold = HeldAnswer("register_plan")
    async with worker_holding(driver, resources, hold):
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
