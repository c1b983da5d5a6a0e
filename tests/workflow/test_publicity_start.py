"""Publicity opens on its first day, not when the upload is confirmed.

PROCESS.md: publicity starts at the later of the start of E+16 and the
confirmed upload, so candidates always get 15 whole days. A plan whose upload
is confirmed before its first day waits for it in stage ``awaiting_publicity``
on a durable timer; the stage, and the mail saying publicity began, come on
that day.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from certflow import search_attributes as sa
from certflow.actions import SimpleAction
from certflow.i18n import t
from certflow.models import Stage
from certflow.timeutil import cst_date, format_deadline, start_of_day
from starter.cli import render_status
from starter.smtp_sink import body_text
from tests.support import (
    TECH,
    PlanDriver,
    correction_request,
    mails_of,
    refusal_text,
    settle,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]
wf = ExamPlanWorkflow
OPENED = "publicity_opened"


async def stage_attribute(driver: PlanDriver) -> str:
    """The plan's ``Stage`` search attribute, as the Web UI filters on it."""
    # Raw: the time-skipping server's NextDeadline trips the SDK's decoding.
    described = await driver.client.workflow_service.describe_workflow_execution(
        DescribeWorkflowExecutionRequest(
            namespace=driver.client.namespace,
            execution=WorkflowExecution(workflow_id=driver.h.id),
        )
    )
    fields = described.workflow_execution_info.search_attributes.indexed_fields
    return str(json.loads(fields[sa.STAGE.name].data))


async def opened_mails(driver: PlanDriver, sink_messages: Any) -> list[Any]:
    """The plan's mails saying publicity began, once nothing of it runs."""
    assert await settle(driver.client, driver.h.id, any_activity=True)
    return [
        m
        for m in sink_messages()
        if m["X-Certflow-Plan"] == driver.plan.plan_id
        and m["X-Certflow-Template"] == OPENED
    ]


async def confirmed_on(driver: PlanDriver, day: date) -> None:
    """Play stages 1-3, the info center confirming the upload on ``day``."""
    await driver.start()
    await driver.submit_everything()
    await driver.approve_review()
    await driver.skip((day - await driver.today()).days)
    await driver.confirm_upload()


async def test_publicity_opens_on_its_first_day_not_at_the_confirmed_upload(
    make_driver: Any, sink_messages: Any
) -> None:
    """Regression (staff trial): exam end 12-20, upload confirmed 12-21; the
    plan read 成绩公示 at once and the site was mailed 现进入成绩公示期, though
    the period was 01-05 to 01-19, and nobody was mailed when it opened."""
    driver: PlanDriver = await make_driver()
    exam_end = driver.plan.exam_end_date
    await confirmed_on(driver, exam_end + timedelta(days=1))

    status = await driver.wait_for(lambda s: s.stage == Stage.AWAITING_PUBLICITY)
    window = status.publicity
    assert window is not None
    first_day = exam_end + timedelta(days=16)
    assert window.start_day == first_day
    # The stage says so with its first day: status, --json and the Web UI.
    opens = first_day.isoformat()
    label = t("plan.stage_opens", stage=t("stages.awaiting_publicity"), opens=opens)
    assert status.stage_label == label
    assert json.loads(status.model_dump_json())["stage"] == "awaiting_publicity"
    assert await stage_attribute(driver) == "awaiting_publicity"
    shown = "\n".join(render_status(status))
    assert label in shown
    end = window.end_day.isoformat()
    assert t("cli.status.waiting_publicity", start=opens, end=end) in shown
    metadata = await driver.h.query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    assert t("details.publicity_waiting", start=opens, end=end) in str(
        metadata.current_details
    )
    assert await opened_mails(driver, sink_messages) == []

    # Meanwhile a request is too early, also one dated on the first day by
    # whoever enters it; an action of stages 5-8 says when it can be done.
    request = correction_request("2026110412012", "practical", "60.10")
    too_early = "before_publicity: " + t(
        "plan.correction_before_publicity", opens=opens
    )
    dated = request.model_copy(update={"received_at": start_of_day(first_day)})
    for early in (request, dated):
        answer = await refusal_text(
            driver.h.execute_update(wf.submit_correction, early)
        )
        assert answer == too_early
    signoff = await refusal_text(
        driver.h.execute_update(wf.org_signoff, SimpleAction(actor=TECH))
    )
    assert signoff == "wrong_stage: " + t(
        "plan.wait_for_publicity_start",
        action=t("actions.org_signoff"),
        start=opens,
        end=end,
        opens=(window.end_day + timedelta(days=1)).isoformat(),
    )

    # The last minute before its first day: still waiting, nobody told.
    await driver.skip_to(start_of_day(first_day) - timedelta(minutes=1))
    assert (await driver.status()).stage == Stage.AWAITING_PUBLICITY
    assert await opened_mails(driver, sink_messages) == []

    await driver.skip_to(start_of_day(first_day) + timedelta(minutes=1))
    status = await driver.wait_for(lambda s: s.stage == Stage.PUBLICITY)
    assert status.stage_label == t("stages.publicity")
    assert await stage_attribute(driver) == "publicity"
    [mail] = await mails_of(sink_messages, driver.plan.plan_id, OPENED)
    for role in ("kaowu@whjtxx", "region-manager@", "info-center@"):
        assert role in str(mail["To"])
    body = body_text(mail)
    # The period, and the last day to file a request.
    assert f"{opens} 起至 {format_deadline(window.end_day)} 止" in body
    assert format_deadline(window.cutoff_day) in body
    entered = [h for h in status.history if h.action == "stage:publicity"]
    assert [cst_date(h.at) for h in entered] == [first_day]

    filed = await driver.h.execute_update(wf.submit_correction, request)
    assert filed.accepted, filed.message


async def test_an_upload_confirmed_after_e_plus_16_opens_publicity_the_next_day(
    make_driver: Any, sink_messages: Any
) -> None:
    """The later of the two: confirmed on E+20, publicity opens on E+21."""
    driver: PlanDriver = await make_driver()
    exam_end = driver.plan.exam_end_date
    await confirmed_on(driver, exam_end + timedelta(days=20))

    status = await driver.wait_for(lambda s: s.stage == Stage.AWAITING_PUBLICITY)
    assert status.publicity is not None
    first_day = exam_end + timedelta(days=21)
    assert status.publicity.start_day == first_day
    assert await opened_mails(driver, sink_messages) == []

    await driver.skip_to(start_of_day(first_day) + timedelta(minutes=1))
    await driver.wait_for(lambda s: s.stage == Stage.PUBLICITY)
    [mail] = await mails_of(sink_messages, driver.plan.plan_id, OPENED)
    assert first_day.isoformat() in str(mail["Subject"])
