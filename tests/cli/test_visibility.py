"""The commands that search plans, against a real dev server: ``list`` and
``calendar load`` (which wakes the plans waiting for a year's schedule).

The time-skipping test server has no visibility store, so these tests start the
dev server from the package binary on free loopback ports, with a worker on the
session's database, and let the command connect by itself as staff would.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client

from activities.calendar import CalendarActivities
from activities.documents import DocumentStore
from certflow.actions import BatchInput, batch_workflow_id, plan_workflow_id
from certflow.calendar import load_schedule_file
from certflow.config import Settings
from certflow.i18n import t
from certflow.models import PlanInfo, Stage
from certflow.plan_details import batch_summary, plan_summary
from certflow.timeutil import cst_date
from starter.devserver import DevServer, temporal_cli_path
from tests.cli.conftest import Certflow, Outcome, certflow_runner
from tests.cli.test_commands import (
    ADMIN,
    CONTACT,
    INFO,
    start_and_submit,
    start_argv,
)
from tests.conftest import TEST_2027
from tests.support import (
    PlanDriver,
    dev_server_on_free_ports,
    sample_plan,
    unique_plan_id,
)
from worker import build_worker, connect
from workflows import ApprovalBatchWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(90)]


async def until_listed(run: Any, plan_id: str, *argv: str) -> Outcome:
    """Run ``list`` until the plan shows up (visibility lags the workflow a bit)."""
    for _ in range(50):
        outcome: Outcome = await run(*argv)
        if plan_id in outcome.out:
            return outcome
        await asyncio.sleep(0.2)
    raise AssertionError(f"{plan_id} never listed by {argv}: {outcome.out}")


@dataclass
class DevStack:
    """A dev server with a certflow worker, and the command pointed at both."""

    server: DevServer
    settings: Settings
    client: Client
    certflow: Certflow


@pytest.fixture
async def dev_stack(
    settings: Settings, resources: tuple[Any, DocumentStore], tmp_path: Path
) -> AsyncIterator[DevStack]:
    """A dev server on free ports with a worker; plans left running are ended."""
    pool, store = resources
    server = dev_server_on_free_ports(tmp_path / "temporal.sqlite")
    async with server:
        temporal = settings.temporal.model_copy(
            update={
                "address": server.address,
                "task_queue": f"cli-dev-{uuid.uuid4().hex[:8]}",
            }
        )
        dev = settings.model_copy(update={"temporal": temporal})
        client = await connect(dev)
        # The command connects by itself (no client given), as staff would.
        stack = DevStack(server, dev, client, certflow_runner(dev, None))
        async with build_worker(client, dev, pool, store):
            yield stack
            running = "ExecutionStatus = 'Running'"
            async for execution in client.list_workflows(running):
                await client.get_workflow_handle(execution.id).terminate("test over")


def dev_driver(
    stack: DevStack,
    resources: tuple[Any, DocumentStore],
    plan: PlanInfo,
    tmp_path: Path,
) -> PlanDriver:
    """A plan driver on the dev stack: it only waits, it never skips time."""
    return PlanDriver(
        client=stack.client,
        env=None,  # type: ignore[arg-type]
        settings=stack.settings,
        store=resources[1],
        plan=plan,
        tmp=tmp_path,
    )


async def test_list_finds_a_started_plan_by_stage(dev_stack: DevStack) -> None:
    certflow = dev_stack.certflow
    plan = sample_plan(cst_date(datetime.now(UTC)), unique_plan_id())

    started = await certflow(*start_argv(plan))
    by_stage = await until_listed(
        certflow, plan.plan_id, "list", "--stage", "score_submission"
    )
    by_owner = await until_listed(
        certflow,
        plan.plan_id,
        "list",
        "--owed-by",
        "lead_evaluator",
        "--site",
        plan.site_code,
    )
    elsewhere = await certflow("list", "--stage", "publicity")
    not_overdue = await certflow("list", "--overdue")
    cli = await asyncio.create_subprocess_exec(
        str(temporal_cli_path()),
        "workflow",
        "list",
        "--address",
        dev_stack.server.address,
        "--query",
        "Stage='score_submission'",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    listed, errors = await asyncio.wait_for(cli.communicate(), 30)

    assert started.status == 0
    assert by_stage.status == 0
    row = next(line for line in by_stage.out.splitlines() if plan.plan_id in line)
    assert t("stages.score_submission") in row and plan.site_code in row
    assert t("cli.list.no") in row  # not overdue
    assert by_owner.status == 0
    assert plan.plan_id not in elsewhere.out
    assert plan.plan_id not in not_overdue.out
    assert cli.returncode == 0, errors.decode()
    assert plan_workflow_id(plan.plan_id) in listed.decode()


async def test_the_operations_guides_queries_find_a_plan(dev_stack: DevStack) -> None:
    """The saved views docs/operations.md gives operators are valid queries."""
    plan = sample_plan(cst_date(datetime.now(UTC)), unique_plan_id())
    assert (await dev_stack.certflow(*start_argv(plan))).status == 0
    within = (datetime.now(UTC) + timedelta(days=60)).isoformat(timespec="seconds")
    own = f"PlanId = '{plan.plan_id}'"
    queries = [
        f"OwedBy = 'lead_evaluator' AND {own}",
        f"NextDeadline < '{within}' AND ExecutionStatus = 'Running' AND {own}",
        f"SiteCode = '{plan.site_code}' AND {own}",
    ]
    for query in queries:
        for _ in range(50):
            found = [w.id async for w in dev_stack.client.list_workflows(query)]
            if found:
                break
            await asyncio.sleep(0.2)
        assert found == [plan_workflow_id(plan.plan_id)], query
    assert [
        w async for w in dev_stack.client.list_workflows(f"Overdue = true AND {own}")
    ] == []


async def test_calendar_load_wakes_the_plans_waiting_for_the_year(
    dev_stack: DevStack,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
) -> None:
    # The publicity window of a plan ending today reaches into 2027. Without
    # the 2027 schedule the plan waits; loading it through the command must wake
    # it at once (its own recheck is a day away).
    pool, _ = resources
    certflow = dev_stack.certflow
    plan = sample_plan(cst_date(datetime.now(UTC)), unique_plan_id())
    driver = dev_driver(dev_stack, resources, plan, tmp_path)
    await pool.execute("DELETE FROM calendar_years WHERE year = 2027")
    try:
        await start_and_submit(certflow, driver)
        await driver.wait_for(
            lambda s: any(o.duty == "consistency_review" for o in s.owed)
        )
        assert (
            await certflow(
                *CONTACT, "review", plan.plan_id, "--approve", "--reason", "已核实"
            )
        ).status == 0
        await driver.wait_for(lambda s: any(o.duty == "score_upload" for o in s.owed))
        assert (await certflow(*INFO, "confirm-upload", plan.plan_id)).status == 0
        waiting = await driver.wait_for(lambda s: s.calendar_missing_years == [2027])
        # Nobody owes a step, yet the status says what the plan waits for.
        shown = await certflow("status", plan.plan_id)
        assert t("cli.status.waiting_calendar", years="2027") in shown.out
        await until_listed(
            certflow, plan.plan_id, "list", "--stage", "score_publication"
        )

        loaded = await certflow(*ADMIN, "calendar", "load", str(TEST_2027))
        woken = await driver.wait_for(lambda s: s.stage == Stage.AWAITING_PUBLICITY)
        # The Web UI filters on the stage waiting for the first publicity day.
        await until_listed(
            certflow, plan.plan_id, "list", "--stage", "awaiting_publicity"
        )
    finally:
        schedule = load_schedule_file(TEST_2027.read_bytes(), TEST_2027.name)
        await CalendarActivities(pool).store_year(
            schedule, loaded_by="test-admin", at=datetime.now(UTC)
        )

    assert waiting.publicity is None
    assert loaded.status == 0
    assert t("cli.calendar_signalled", count=1) in loaded.out
    assert woken.publicity is not None and woken.calendar_missing_years == []


async def metadata(client: Client, workflow_id: str) -> WorkflowMetadata:
    """What the Web UI reads for a workflow's summary and current details."""
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(50):
        found = await handle.query(
            "__temporal_workflow_metadata", result_type=WorkflowMetadata
        )
        if found.current_details:
            return found  # type: ignore[no-any-return]
        await asyncio.sleep(0.2)
    raise AssertionError(f"{workflow_id} never had current details")


async def test_the_web_ui_shows_a_summary_and_details_of_plans_and_batches(
    dev_stack: DevStack,
) -> None:
    certflow = dev_stack.certflow
    plan = sample_plan(cst_date(datetime.now(UTC)), unique_plan_id())
    batch_id = f"B{unique_plan_id()}"
    assert (await certflow(*start_argv(plan))).status == 0
    # Started as ``batch gather`` starts one; with no plan ready the command
    # starts none, so the batch that closes empty is started here.
    await dev_stack.client.execute_workflow(
        ApprovalBatchWorkflow.run,
        BatchInput(batch_id=batch_id, requested_by="tech-zhao"),
        id=batch_workflow_id(batch_id),
        task_queue=dev_stack.settings.temporal.task_queue,
        static_summary=batch_summary(batch_id),
        execution_timeout=timedelta(seconds=60),
    )

    plan_handle = dev_stack.client.get_workflow_handle(plan_workflow_id(plan.plan_id))
    described = await plan_handle.describe()
    assert await described.static_summary() == plan_summary(plan)
    details = (await metadata(dev_stack.client, plan_handle.id)).current_details
    assert t("stages.score_submission") in details
    assert t("duties.score_summary") in details and t("roles.site") in details

    batch_handle = dev_stack.client.get_workflow_handle(batch_workflow_id(batch_id))
    described = await batch_handle.describe()
    assert await described.static_summary() == batch_summary(batch_id)
    details = (await metadata(dev_stack.client, batch_handle.id)).current_details
    assert details == t("details.batch_empty", batch_id=batch_id)


async def test_a_plan_under_review_is_found_by_what_the_contact_owes(
    dev_stack: DevStack, resources: tuple[Any, DocumentStore], tmp_path: Path
) -> None:
    """OwedBy follows a duty opened just before a wait (it once lagged until the
    next alarm: a review under way was not found by ``OwedBy``)."""
    plan = sample_plan(cst_date(datetime.now(UTC)), unique_plan_id())
    driver = dev_driver(dev_stack, resources, plan, tmp_path)
    await start_and_submit(dev_stack.certflow, driver)
    await driver.wait_for(lambda s: any(o.duty == "consistency_review" for o in s.owed))

    query = f"OwedBy = 'regional_contact' AND PlanId = '{plan.plan_id}'"
    for _ in range(50):
        found = [w.id async for w in dev_stack.client.list_workflows(query)]
        if found:
            break
        await asyncio.sleep(0.2)
    assert found == [plan_workflow_id(plan.plan_id)]
    listed = await until_listed(
        dev_stack.certflow, plan.plan_id, "list", "--owed-by", "regional_contact"
    )
    assert listed.status == 0
