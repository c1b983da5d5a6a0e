"""A plan id names one plan: a new workflow never takes over an old plan's records.

The database outlives Temporal's own store (a reset store, a second stack on
the same database); a plan id it knows must not start a workflow that would
meet the old plan's scores and request numbers.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.documents import DocumentStore
from activities.store import PLAN_ID_TAKEN, PlanStore
from certflow.actions import ExamPlanInput, PlanResult, plan_workflow_id
from certflow.activity_models import PlanRegistration
from certflow.config import Settings
from certflow.i18n import t
from certflow.models import PlanInfo, Stage
from tests.cli.conftest import Certflow
from tests.cli.test_commands import start_argv
from tests.cli.test_staff_rules import plan_exists
from tests.support import PlanDriver
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

OLD_SITE_NAME = "旧考试计划的考核站点"


def registration(plan: PlanInfo, run: str, started_at: datetime) -> PlanRegistration:
    """The registration a workflow of ``plan`` sends from its run ``run``."""
    return PlanRegistration(
        info=plan,
        workflow_id=plan_workflow_id(plan.plan_id),
        started_at=started_at,
        first_run_id=run,
    )


async def old_plan(pool: Any, plan: PlanInfo) -> None:
    """The row an earlier workflow of the plan id left (another Temporal store)."""
    earlier = plan.model_copy(update={"site_name": OLD_SITE_NAME})
    await PlanStore(pool).register_plan(
        registration(earlier, "run-of-the-earlier-store", datetime.now(UTC))
    )


async def test_a_plan_id_the_database_knows_is_not_started_again(
    certflow: Certflow,
    new_driver: PlanDriver,
    client: Client,
    resources: tuple[Any, DocumentStore],
) -> None:
    plan_id = new_driver.plan.plan_id
    await old_plan(resources[0], new_driver.plan)

    outcome = await certflow(*start_argv(new_driver.plan))

    assert outcome.status == 2
    assert t("cli.plan_id_used", plan_id=plan_id) in outcome.out
    assert not await plan_exists(client, plan_id)


async def test_a_repeated_start_of_a_running_plan_is_answered_as_before(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    """The row exists, but so does its workflow: the start is a repeat, not a reuse."""
    plan_id = new_driver.plan.plan_id
    first = await certflow(*start_argv(new_driver.plan))
    await new_driver.client.get_workflow_handle(plan_workflow_id(plan_id)).query(
        ExamPlanWorkflow.status
    )  # answered once the registration's workflow task has run

    again = await certflow(*start_argv(new_driver.plan))

    assert first.status == 0, first.out
    assert again.status == 2
    assert t("cli.plan_exists", plan_id=plan_id) in again.out
    assert t("cli.plan_id_used", plan_id=plan_id) not in again.out


async def test_the_workflow_ends_cancelled_on_another_plans_row(
    certflow: Certflow,
    new_driver: PlanDriver,
    client: Client,
    worker_settings: Settings,
    resources: tuple[Any, DocumentStore],
    sink_messages: Any,
) -> None:
    """Started past the staff tool, the plan's first activity refuses the row."""
    pool = resources[0]
    plan = new_driver.plan
    await old_plan(pool, plan)
    mails_before = len(sink_messages())

    handle = await client.start_workflow(
        ExamPlanWorkflow.run,
        ExamPlanInput(info=plan, policy=worker_settings.deadlines),
        id=plan_workflow_id(plan.plan_id),
        task_queue=worker_settings.temporal.task_queue,
    )
    result = await asyncio.wait_for(handle.result(), 30)
    status = await handle.query(ExamPlanWorkflow.status)
    shown = await certflow("status", plan.plan_id)

    assert isinstance(result, PlanResult) and result.stage is Stage.CANCELLED
    assert status.stage is Stage.CANCELLED
    assert [entry.action for entry in status.history] == [PLAN_ID_TAKEN]
    assert t("stages.cancelled") in shown.out
    assert t("actions.plan_id_taken") in shown.out
    # The old plan's row is left as it was, and nobody was mailed.
    row = await pool.fetchrow(
        "SELECT site_name, stage FROM plans WHERE plan_id = $1", plan.plan_id
    )
    assert (row["site_name"], row["stage"]) == (OLD_SITE_NAME, "score_submission")
    assert len(sink_messages()) == mails_before
    # One try: the refusal is not retried.
    history = await handle.fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert attempts == [1]


async def test_a_retried_registration_passes_and_another_run_is_refused(
    new_driver: PlanDriver, resources: tuple[Any, DocumentStore]
) -> None:
    store, plan = PlanStore(resources[0]), new_driver.plan
    started = datetime.now(UTC).replace(microsecond=0)
    mine = registration(plan, "run-1", started)

    await store.register_plan(mine)
    await store.register_plan(mine)  # the same run retried: nothing changes
    with pytest.raises(ApplicationError) as refused:
        await store.register_plan(registration(plan, "run-2", started))

    assert refused.value.type == PLAN_ID_TAKEN and refused.value.non_retryable


async def test_a_row_from_before_run_ids_is_matched_by_its_start(
    new_driver: PlanDriver, resources: tuple[Any, DocumentStore]
) -> None:
    """Rows written before run ids were kept: the start time tells the workflow."""
    pool, plan = resources[0], new_driver.plan
    started = datetime.now(UTC).replace(microsecond=0)
    await PlanStore(pool).register_plan(registration(plan, "", started))

    with pytest.raises(ApplicationError):
        later = started + timedelta(seconds=1)
        await PlanStore(pool).register_plan(registration(plan, "run-9", later))
    await PlanStore(pool).register_plan(registration(plan, "run-1", started))

    recorded = await pool.fetchval(
        "SELECT first_run_id FROM plans WHERE plan_id = $1", plan.plan_id
    )
    assert recorded == "run-1"
