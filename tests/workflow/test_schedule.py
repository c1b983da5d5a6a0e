"""The weekly Temporal Schedule that gathers approval batches, on a dev server
(the time-skipping test server has no schedules)."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, ScheduleHandle, WorkflowHandle

from activities.documents import DocumentStore
from activities.store import PlanStore
from certflow.actions import (
    BatchResult,
    ExamPlanInput,
    PlanStatus,
    batch_workflow_id,
    plan_workflow_id,
)
from certflow.activity_models import PlanRegistration
from certflow.config import DeadlinePolicy, Settings
from certflow.i18n import t
from certflow.models import Stage
from certflow.plan import PaymentRecord, PlanState
from certflow.plan_details import batch_summary
from certflow.timeutil import CST, cst_date, format_cst
from starter import schedules
from starter.schedules import SCHEDULE_ID, TIME_ZONE, ensure_batch_schedule
from tests.cli.conftest import certflow_runner
from tests.cli.test_commands import GM
from tests.conftest import replay_all
from tests.support import dev_server_on_free_ports, sample_plan, unique_plan_id
from worker import build_worker, connect, ensure_standing_work
from workflows import ExamPlanWorkflow
from workflows.mailbox import MAILBOX_WORKFLOW_ID

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(90)]

T = TypeVar("T")
# The id staff give a batch, and ``batch gather`` makes: the CST second.
BATCH_ID = re.compile(r"B\d{8}-\d{6}")


@dataclass
class ScheduleStack:
    """A dev server with the weekly schedule and a worker on the session's database."""

    client: Client
    settings: Settings
    schedule: ScheduleHandle


@pytest_asyncio.fixture(loop_scope="session")
async def stack(
    settings: Settings, resources: tuple[Any, DocumentStore], tmp_path: Path
) -> AsyncIterator[ScheduleStack]:
    pool, store = resources
    server = dev_server_on_free_ports(tmp_path / "t.sqlite")
    async with server:
        dev = settings.model_copy(
            update={
                "temporal": settings.temporal.model_copy(
                    update={"address": server.address, "task_queue": uuid.uuid4().hex}
                ),
                "batch_schedule": "0 9 * * MON",
            }
        )
        client = await connect(dev)
        await ensure_batch_schedule(client, dev)
        schedule = client.get_schedule_handle(SCHEDULE_ID)
        async with build_worker(client, dev, pool, store):
            yield ScheduleStack(client, dev, schedule)
            running = "ExecutionStatus = 'Running'"
            async for execution in client.list_workflows(running):
                await client.get_workflow_handle(execution.id).terminate("test over")
        await schedule.delete()


async def until(
    ask: Callable[[], Awaitable[T]], holds: Callable[[T], bool], what: str
) -> T:
    """Ask until the answer holds (real seconds: the dev server does not skip)."""
    for _ in range(150):
        answer = await ask()
        if holds(answer):
            return answer
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} never happened; last: {answer!r}")


async def triggered_run(stack: ScheduleStack) -> WorkflowHandle[Any, BatchResult]:
    """Fire the schedule now, as its Monday would; return the run it started."""
    await stack.schedule.trigger()
    described = await until(
        stack.schedule.describe,
        lambda d: bool(d.info.recent_actions),
        "a run of the schedule",
    )
    started = described.info.recent_actions[-1].action
    return stack.client.get_workflow_handle(
        started.workflow_id, result_type=BatchResult
    )


async def plan_awaiting_approval(stack: ScheduleStack, pool: Any) -> str:
    """A plan waiting for an approval batch: its row, and its workflow at stage 9.

    The plan's workflow starts from a state carried into stage 9, as a
    continue-as-new carries one: its payment confirmed, nothing owed. A dev
    server runs on the real clock, so the plans played through their stages
    live on the time-skipping server, which has no schedules.
    """
    now = datetime.now(UTC)
    plan = sample_plan(cst_date(now), unique_plan_id())
    workflow_id = plan_workflow_id(plan.plan_id)
    await PlanStore(pool).register_plan(
        PlanRegistration(info=plan, workflow_id=workflow_id, started_at=now)
    )
    await pool.execute(
        "UPDATE plans SET stage = $1 WHERE plan_id = $2",
        Stage.AWAITING_APPROVAL.value,
        plan.plan_id,
    )
    state = PlanState(
        info=plan,
        policy=DeadlinePolicy(),
        stage=Stage.AWAITING_APPROVAL,
        started_at=now,
        payment=PaymentRecord(
            declared_amount=4200.0,
            head_count=14,
            paid_plan_ids=[plan.plan_id],
            paid_on=cst_date(now),
            confirmed_amount=4200.0,
            received_on=cst_date(now),
        ),
    )
    await stack.client.start_workflow(
        ExamPlanWorkflow.run,
        ExamPlanInput(info=plan, state=state),
        id=workflow_id,
        task_queue=stack.settings.temporal.task_queue,
    )
    return plan.plan_id


async def test_schedule_is_created_once_in_cst_and_starts_batches(
    stack: ScheduleStack,
) -> None:
    await ensure_batch_schedule(stack.client, stack.settings)  # a restart: no change

    described = await stack.schedule.describe()
    # The server keeps the cron line as calendar specs; its next firing tells.
    assert described.schedule.spec.time_zone_name == TIME_ZONE
    upcoming = described.info.next_action_times[0]
    assert upcoming.astimezone(CST).hour == 9
    assert upcoming.astimezone(CST).weekday() == 0

    run = await triggered_run(stack)
    result = await asyncio.wait_for(run.result(), 30)
    # The run names its batch as staff name theirs: the CST second.
    assert BATCH_ID.fullmatch(result.batch_id), result.batch_id


async def test_a_pause_operators_set_survives_a_workers_start(
    stack: ScheduleStack,
) -> None:
    """Review: every worker start replaced the whole schedule, so a pause an
    operator set (a holiday week, say) was lifted by the next restart."""
    await stack.schedule.pause(note="春节期间暂停")
    try:
        await ensure_batch_schedule(stack.client, stack.settings)  # a restart

        state = (await stack.schedule.describe()).schedule.state
        assert state.paused and state.note == "春节期间暂停"
    finally:
        await stack.schedule.unpause()


async def test_a_plan_no_batch_took_says_when_the_schedule_gathers_it(
    stack: ScheduleStack, resources: tuple[Any, DocumentStore]
) -> None:
    """Trial: a plan awaiting approval, before any gathering, said only that
    the general manager owed 批准发证. It says the weekly schedule gathers it
    at its next run, or, with the schedule paused, the tech dept on demand."""
    pool, _ = resources
    plan_id = await plan_awaiting_approval(stack, pool)
    certflow = certflow_runner(stack.settings, stack.client)
    upcoming = (await stack.schedule.describe()).info.next_action_times[0]
    try:
        scheduled = await certflow("status", plan_id)
        await stack.schedule.pause(note="春节期间暂停")
        try:
            paused = await certflow("status", plan_id)
        finally:
            await stack.schedule.unpause()
    finally:
        # Gathered by no later test's run.
        handle = stack.client.get_workflow_handle(plan_workflow_id(plan_id))
        await handle.terminate("test over")
        await pool.execute(
            "UPDATE plans SET stage = $1 WHERE plan_id = $2",
            Stage.CANCELLED.value,
            plan_id,
        )

    assert scheduled.status == 0, scheduled.out
    said = t("cli.status.awaits_batch_scheduled", at=format_cst(upcoming))
    assert said in scheduled.out.splitlines()
    assert t("cli.status.awaits_batch_on_demand") in paused.out.splitlines()


async def test_a_scheduled_batch_is_shown_and_decided_with_the_staff_tool(
    stack: ScheduleStack, resources: tuple[Any, DocumentStore], sink_messages: Any
) -> None:
    """Regression: a batch the schedule gathered took its id from its workflow
    id (``scheduled-2026-12-07T01:00:00Z``), which ``certflow batch`` refused as
    a code: the general manager could not decide the weekly batch at all."""
    pool, _ = resources
    plan_id = await plan_awaiting_approval(stack, pool)
    plan = stack.client.get_workflow_handle(plan_workflow_id(plan_id))
    certflow = certflow_runner(stack.settings, stack.client)

    run = await triggered_run(stack)
    joined: PlanStatus = await until(
        lambda: plan.query(ExamPlanWorkflow.status),
        lambda s: s.batch_id is not None,
        "the plan joining the scheduled batch",
    )
    batch_id = joined.batch_id
    assert batch_id is not None

    # The general manager types the batch as the plan's status names it.
    seen = await certflow("status", plan_id)
    assert batch_id in seen.out
    shown = await certflow("batch", "status", batch_id)
    assert shown.status == 0, shown.out
    assert f"  {plan_id}" in shown.out.splitlines()
    # Gathered by the schedule, as its row, the plan's audit line and the
    # status say (trial: every row said ``workflow``, no audit line said it).
    schedule = t("cli.batch_gathered_by_schedule")
    assert t("cli.batch_gathered_by", who=schedule) in shown.out.splitlines()
    assert (
        await pool.fetchval(
            "SELECT requested_by FROM batches WHERE batch_id = $1", batch_id
        )
        == "schedule"
    )
    gathered = await pool.fetchrow(
        "SELECT role, person, details FROM audit"
        " WHERE plan_id = $1 AND action = 'gather_batch'",
        plan_id,
    )
    assert (gathered["role"], gathered["person"]) == (None, "schedule")
    assert dict(gathered["details"]) == {"batch_id": batch_id}
    decided = await certflow(*GM, "batch", "decide", batch_id.lower(), "--approve-all")
    assert decided.status == 0, decided.out
    assert t("cli.batch_approved", plans=plan_id) in decided.out
    # The schedule's run, typed by its own id as the Web UI lists it, leads to
    # the batch it started.
    via_run = await certflow("batch", "status", run.id.removeprefix("approval-batch-"))
    assert via_run.status == 0, via_run.out
    assert t("cli.batch_approved", plans=plan_id) in via_run.out

    # Named as staff name theirs (the CST second it was gathered), in the
    # report mail and on the Web UI too.
    assert BATCH_ID.fullmatch(batch_id), batch_id
    mails = await until(
        lambda: asyncio.to_thread(sink_messages),
        lambda found: any(batch_id in str(m["Subject"]) for m in found),
        "the batch's report mail",
    )
    [report] = [m for m in mails if batch_id in str(m["Subject"])]
    assert report["X-Certflow-Template"] == "batch_ready"
    batch = stack.client.get_workflow_handle(batch_workflow_id(batch_id))
    assert await (await batch.describe()).static_summary() == batch_summary(batch_id)
    details = await until(
        lambda: batch.query(
            "__temporal_workflow_metadata", result_type=WorkflowMetadata
        ),
        lambda found: plan_id in found.current_details,
        "the batch's details naming the plan",
    )
    assert batch_id in details.current_details
    started = await run.query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )
    assert started.current_details == t(
        "details.batch_scheduled_started", batch_id=batch_id
    )

    # The plan had the verdict: approved, it leaves stage 9.
    await until(
        lambda: plan.query(ExamPlanWorkflow.status),
        lambda s: s.stage in (Stage.ISSUANCE, Stage.ISSUED),
        "the plan leaving the approval stage",
    )
    closed = await until(
        lambda: certflow("batch", "status", batch_id),
        lambda outcome: t("cli.batch_closed") in outcome.out,
        "the batch closing",
    )
    assert t("cli.batch_approved", plans=plan_id) in closed.out
    await replay_all([run, batch, plan])


async def test_workers_starting_together_ensure_one_schedule_without_an_error(
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Regression: worker replicas starting at the same second both tried to
    create the schedule; the one that found it created went on to update it,
    and waited to read it back until the server's scheduler had run the new
    schedule once. On a busy host that took longer than the call may wait,
    and the replica logged "batch schedule and mailbox poller not ensured" at
    ERROR, though there was one schedule and one poller all the same.

    The server's scheduler is held here (no system worker), as on a host too
    busy to run it in time: a schedule just created never answers. The replica
    finding it created waits 2 s for it here (10 s in production), and leaves
    it as it is."""
    monkeypatch.setattr(schedules, "DESCRIBE_WAIT", timedelta(seconds=2))
    server = dev_server_on_free_ports(
        tmp_path / "t.sqlite", dynamic_config={"worker.perNamespaceWorkerCount": 0}
    )
    async with server:
        dev = settings.model_copy(
            update={
                "temporal": settings.temporal.model_copy(
                    update={"address": server.address, "task_queue": uuid.uuid4().hex}
                )
            }
        )
        replicas = [await connect(dev) for _ in range(2)]

        with caplog.at_level(logging.INFO):
            await asyncio.gather(*(ensure_standing_work(c, dev) for c in replicas))

        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == []
        said = [r.getMessage() for r in caplog.records if r.name == schedules.__name__]
        assert sum(line.startswith("batch schedule created") for line in said) == 1
        assert sum(line.startswith("batch schedule left") for line in said) == 1
        # Not applied means a changed setting silently kept its old times:
        # said at WARNING, naming the setting and what to do.
        [left] = [
            r
            for r in caplog.records
            if r.getMessage().startswith("batch schedule left")
        ]
        assert left.levelno == logging.WARNING
        assert f"batch_schedule={dev.batch_schedule}" in left.getMessage()
        assert "restart a worker" in left.getMessage()
        assert sum(line.startswith("mailbox poller running") for line in said) == 2

        client = replicas[0]
        listed = await until(
            lambda: schedule_ids(client), lambda ids: ids != [], "the schedule listed"
        )
        assert listed == [SCHEDULE_ID]
        pollers = [
            run.id
            async for run in client.list_workflows(
                f"WorkflowId = '{MAILBOX_WORKFLOW_ID}' AND ExecutionStatus = 'Running'"
            )
        ]
        assert pollers == [MAILBOX_WORKFLOW_ID]


async def schedule_ids(client: Client) -> list[str]:
    return [entry.id async for entry in await client.list_schedules()]
