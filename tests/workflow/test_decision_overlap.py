"""A correction decision written late by a timed-out attempt leaves the
request as its plan went on with it.

Regression: ``record_correction_decision`` wrote the decision over whatever
the request's row said. An attempt that timed out waiting for a database
connection is retried and not stopped (the record activities send no
heartbeat): once it got its connection, after its retry had recorded the
decision and the info center had applied the correction, it set the row back
to ``approved``. The scores were changed, yet the request read as still to
apply: every later request on that score of the candidate was refused as
waiting behind it. A decision is now written only over a request awaiting
it (or over the same decision: a retry changes nothing).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from activities.db import create_pool
from activities.intake import IntakeActivities
from certflow.activity_models import CorrectionDecisionRecord
from tests.support import (
    MANAGER,
    SEQ_12,
    PlanDriver,
    approve_and_apply,
    correction_request,
    driver_in_publicity,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
wf = ExamPlanWorkflow


async def test_a_decision_written_late_leaves_the_applied_request_applied(
    make_driver: Any, resources: Any, database_url: str
) -> None:
    pool, store = resources
    driver: PlanDriver = await driver_in_publicity(make_driver)
    filed = await driver.h.execute_update(
        wf.submit_correction, correction_request(SEQ_12, "practical", "60.10")
    )
    assert filed.accepted and filed.reference, filed.message
    decision = CorrectionDecisionRecord(
        plan_id=driver.plan.plan_id,
        request_id=filed.reference,
        approved=True,
        reason="",
        decided_by=MANAGER.person,
        at=await driver.env.get_current_time(),
    )

    # The first attempt's worker has one connection, and it is busy.
    busy = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with busy.acquire():
            first = asyncio.create_task(
                IntakeActivities(busy, store).record_correction_decision(decision)
            )
            # It times out; its retry records the decision, and the info
            # center applies the correction.
            await approve_and_apply(driver, filed.reference)
        # The first attempt gets its connection at last.
        await first
    finally:
        await busy.close()

    status = await pool.fetchval(
        "SELECT status FROM correction_requests WHERE request_id = $1",
        filed.reference,
    )
    assert status == "applied"
    # The score corrected may be corrected again: nothing waits on it.
    again = await driver.h.execute_update(
        wf.submit_correction, correction_request(SEQ_12, "practical", "61.10")
    )
    assert again.accepted, again.message
