"""What the Temporal Web UI shows on a plan's page: current details and timers.

The Web UI reads a workflow's current details through the built-in
``__temporal_workflow_metadata`` query and names each timer by the summary of
its start event. These tests read both as the Web UI does, on the
time-skipping server, and check an operator finds the stage, what is owed by
whom until when, the alarms sent, and never a candidate's name or ID number.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import WorkflowUpdateFailedError

from certflow import search_attributes as sa
from certflow.config import DeadlinePolicy
from certflow.i18n import t
from certflow.models import Stage
from certflow.timeutil import end_of_day, format_cst, format_deadline
from tests.cli.test_commands import personal_data
from tests.support import LEAD, PlanDriver
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

POLICY = DeadlinePolicy(
    remind_before=[timedelta(days=3)], overdue_repeat=timedelta(days=2)
)


async def current_details(driver: PlanDriver) -> str:
    metadata = await driver.h.query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    return str(metadata.current_details)


async def details_showing(driver: PlanDriver, text: str) -> str:
    """The current details once they show ``text`` (polled, real seconds)."""
    for _ in range(300):
        details = await current_details(driver)
        if text in details:
            return details
        await asyncio.sleep(0.1)
    raise AssertionError(f"the details never showed {text!r}:\n{details}")


async def timer_summaries(driver: PlanDriver) -> list[str]:
    converter = driver.client.data_converter.payload_converter
    return [
        converter.from_payload(event.user_metadata.summary, str)
        async for event in driver.h.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED
        and event.user_metadata.HasField("summary")
    ]


def owed_line(details: str, duty: str) -> str:
    return next(line for line in details.splitlines() if t(f"duties.{duty}") in line)


async def test_a_plans_page_shows_what_is_owed_until_when_and_the_alarms(
    make_driver: Any,
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.start(policy=POLICY)
    plan = driver.plan
    deadline = plan.exam_end_date + timedelta(days=15)

    await driver.wait_for(lambda s: bool(s.owed))
    details = await current_details(driver)
    assert plan.plan_id in details.splitlines()[0]
    assert t("stages.score_submission") in details.splitlines()[0]
    line = owed_line(details, "score_summary")
    assert t("roles.lead_evaluator") in line
    assert format_deadline(deadline) in line
    assert t("details.on_time") in line
    assert t("details.overdue") not in details
    # The next deadline reads as the table and the staff tool say it.
    assert f"- {t('details.next_deadline', deadline=format_deadline(deadline))}" in (
        details.splitlines()
    )
    # The plan's one timer is named after when it wakes: the first reminder.
    first_reminder = end_of_day(deadline) - timedelta(days=3)
    assert await timer_summaries(driver) == [
        t("details.timer", time=format_cst(first_reminder))
    ]

    # Past the deadline: overdue, with the reminder and the escalation counted.
    await driver.skip_to(end_of_day(deadline) + timedelta(hours=1))
    await driver.wait_for(lambda s: s.overdue and s.owed[0].escalations_sent == 1)
    details = await current_details(driver)
    line = owed_line(details, "score_summary")
    assert t("details.overdue") in line
    assert t("details.alarms", reminders=1, escalations=1) in line
    summaries = await timer_summaries(driver)
    assert len(summaries) >= 2
    assert summaries[-1] == t(
        "details.timer", time=format_cst(end_of_day(deadline) + timedelta(days=2))
    )


async def test_details_follow_the_stage_and_never_show_personal_data(
    make_driver: Any,
) -> None:
    driver: PlanDriver = await make_driver()
    await driver.start()
    await driver.submit_everything()
    await driver.wait_for(lambda s: s.stage == Stage.CONSISTENCY_REVIEW)

    details = await details_showing(driver, t("duties.consistency_review"))
    assert t("stages.consistency_review") in details.splitlines()[0]
    review = owed_line(details, "consistency_review")
    assert t("roles.regional_contact") in review
    assert t("details.no_deadline_state") in review  # a review has no deadline
    assert t("duties.score_summary") not in details
    for value in personal_data(driver.files["summary"]):
        assert value not in details
    # The search attributes say the same at once (they used to wait for the
    # next alarm, and a review has none before its deadline).
    # (Raw: the time-skipping server's NextDeadline trips the SDK's decoding.)
    described = await driver.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=driver.client.namespace,
            execution=WorkflowExecution(workflow_id=driver.h.id),
        )
    )
    fields = described.workflow_execution_info.search_attributes.indexed_fields
    owed_by = fields[sa.OWED_BY.name]
    assert json.loads(owed_by.data) == ["regional_contact"]
    # A refused action leaves the page as it was.
    with pytest.raises(WorkflowUpdateFailedError):
        await driver.upload(
            ExamPlanWorkflow.upload_score_summary, LEAD, driver.files["summary"]
        )
    unchanged = await current_details(driver)
    assert unchanged.splitlines()[:-1] == details.splitlines()[:-1]
