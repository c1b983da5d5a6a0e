"""``clock advance`` names the plan whose workflow task keeps failing.

In a module of its own: the plan it sets up holds its test server's clock.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from temporalio.worker import PatchActivationInput

from certflow.i18n import t
from tests.cli.conftest import Certflow
from tests.support import (
    INTAKE_ANSWER,
    LEAD,
    HeldTask,
    PlanDriver,
    first_timer_fired,
    own_worker,
)
from workflows import ExamPlanWorkflow
from workflows.exam_plan import TIMERS_LEFT_TO_FIRE

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


def _as_released_before(patch: PatchActivationInput) -> bool:
    """The plan runs as before its timer loop left timers to fire."""
    return patch.patch_id != TIMERS_LEFT_TO_FIRE


async def test_clock_advance_names_the_plan_whose_task_keeps_failing(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression (training stack): a plan stuck by the test server's refusal
    of its task (its timer cancelled as it fired, the code before the fix)
    held the clock, and `clock advance` blamed a stopped worker while the
    worker ran."""
    driver = new_driver
    late = driver.plan.exam_end_date - timedelta(days=63)
    driver.plan = driver.plan.model_copy(update={"exam_end_date": late})
    task = HeldTask(INTAKE_ANSWER, lambda: first_timer_fired(driver.h, driver.env))
    async with own_worker(
        driver,
        resources,
        codec=task,
        max_cached_workflows=0,
        patch_activation_callback=_as_released_before,
    ):
        await driver.start()
        summary = asyncio.create_task(
            driver.upload(
                ExamPlanWorkflow.upload_score_summary, LEAD, driver.files["summary"]
            )
        )
        await asyncio.wait([summary], timeout=5)
        assert task.held and not summary.done(), "the plan was not stuck"

        # Longer than a task is given to answer: a failing one is told apart.
        advanced = await certflow(
            *["--as", "admin", "--person", "admin-li"],
            *["clock", "advance", "1", "--wait", "11"],
        )
        summary.cancel()

    assert advanced.status == 1
    said = advanced.out + capsys.readouterr().err
    assert t("cli.clock.task_failing", plans=driver.plan.plan_id) in said, said
    assert t("cli.clock.skip_failed") not in said
