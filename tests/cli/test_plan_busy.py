"""The staff tool when a plan's run takes no action just now.

Regression: after 2,000 refused uploads to one plan, every further command on
it ended in an English traceback ("limit on the total number of distinct
updates in this workflow has been reached (2000)") and exit status 1. The
tool now sends an action again for a few seconds while the plan continues as
new, and otherwise says in Chinese why nothing was taken.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from activities.documents import DocumentStore
from certflow.actions import ExamPlanInput, plan_workflow_id
from certflow.activity_models import ProcessUpload
from certflow.config import DeadlinePolicy, Settings
from certflow.i18n import t
from certflow.models import DocumentKind
from certflow.timeutil import cst_date
from starter.devserver import DevServer
from tests.cli.conftest import Certflow
from tests.cli.test_commands import LEAD, SITE
from tests.support import (
    HeldAnswer,
    PlanDriver,
    dev_server_on_free_ports,
    empty_workbook,
    english_words,
    free_ports,
    run_python,
    runs_of,
    sample_plan,
    unique_plan_id,
    worker_holding,
)
from worker import build_worker, connect
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

# The server's limit on a run's updates, lowered from 2,000 to reach it at once.
SERVER_LIMIT = 3


@dataclass
class LimitedServer:
    """A dev server taking ``SERVER_LIMIT`` updates per run, with a worker
    whose mail server is down."""

    server: DevServer
    settings: Settings
    client: Client


@pytest.fixture
async def limited(
    settings: Settings, resources: tuple[Any, DocumentStore], tmp_path: Path
) -> AsyncIterator[LimitedServer]:
    """The dev server from the package binary, its update limit lowered.

    The worker mails to a loopback port where nothing listens: a plan waits
    for its mails before it continues as new, so its run reaches the
    server's limit, as a plan flooded during a mail outage does.
    """
    pool, store = resources
    [dead_smtp] = free_ports(1)
    server = dev_server_on_free_ports(
        tmp_path / "temporal.sqlite",
        dynamic_config={"history.maxTotalUpdates": SERVER_LIMIT},
    )
    async with server:
        dev = settings.model_copy(
            update={
                "temporal": settings.temporal.model_copy(
                    update={
                        "address": server.address,
                        "task_queue": f"busy-{uuid.uuid4().hex[:8]}",
                    }
                ),
                "smtp": settings.smtp.model_copy(update={"port": dead_smtp}),
            }
        )
        client = await connect(dev)
        async with build_worker(client, dev, pool, store):
            yield LimitedServer(server, dev, client)
            async for execution in client.list_workflows("ExecutionStatus='Running'"):
                await client.get_workflow_handle(execution.id).terminate("test over")


async def staff_tool(limited: LimitedServer, *argv: str) -> tuple[int, str]:
    """``certflow ARGV`` run as staff run it, in a process of its own, on the
    dev server and the worker's document store; its status and output."""
    settings = limited.settings
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": limited.server.address,
        "DATABASE_URL": settings.database_url,
        "CERTFLOW_STATE": str(settings.documents_dir.parent),
    }
    return await run_python("-m", "starter.cli", *argv, env=environment)


async def test_an_action_past_the_servers_update_limit_is_refused_in_chinese(
    limited: LimitedServer, tmp_path: Path
) -> None:
    plan = sample_plan(cst_date(datetime.now(UTC)), unique_plan_id())
    await limited.client.start_workflow(
        ExamPlanWorkflow.run,
        ExamPlanInput(info=plan, policy=DeadlinePolicy()),
        id=plan_workflow_id(plan.plan_id),
        task_queue=limited.settings.temporal.task_queue,
    )
    empty = str(empty_workbook(tmp_path))
    upload = [*SITE, "--wait", "6", "upload", "candidates", plan.plan_id, empty]
    for _ in range(SERVER_LIMIT):
        status, out = await staff_tool(limited, *upload)
        assert status == 2, out  # refused for its problems, and recorded

    status, out = await staff_tool(limited, *upload)

    limit = t("cli.update_limit_count", limit=SERVER_LIMIT)
    assert status == 1, out
    assert out.strip() == t("cli.plan_update_limit", plan_id=plan.plan_id, limit=limit)
    assert "Traceback" not in out
    assert english_words(out, "Temporal", "certflow", "worker") == []
    handle = limited.client.get_workflow_handle(plan_workflow_id(plan.plan_id))
    history = (await handle.query(ExamPlanWorkflow.status)).history
    refused = [h for h in history if h.action == "upload_candidate_sign_in:refused"]
    assert len(refused) == SERVER_LIMIT


async def test_an_action_sent_as_the_plan_continues_as_new_is_sent_again(
    certflow: Certflow, new_driver: PlanDriver, resources: Any
) -> None:
    """The plan refuses an action arriving while it waits for the one under
    way, to continue as new: the tool sends it again, and the new run takes
    it; staff see only its answer."""
    driver = new_driver
    hold = HeldAnswer(
        "process_upload",
        when=lambda req: (
            isinstance(req, ProcessUpload)
            and req.kind is DocumentKind.CANDIDATE_SIGN_IN
        ),
    )
    plan_id = driver.plan.plan_id
    async with worker_holding(driver, resources, hold):
        await driver.start(update_limit=2)
        summary = str(driver.files["summary"])
        accepted = await certflow(*LEAD, "upload", "summary", plan_id, summary)
        assert accepted.status == 0, accepted.out
        empty = str(empty_workbook(driver.tmp))
        try:
            under_way = asyncio.create_task(
                certflow(*SITE, "upload", "candidates", plan_id, empty)
            )
            await asyncio.wait_for(hold.written.wait(), 30)
            evaluators = str(driver.files["evaluators"])
            sent = asyncio.create_task(
                certflow(*SITE, "upload", "evaluators", plan_id, evaluators)
            )
            # Refused at least once meanwhile: the plan waits to continue.
            await asyncio.sleep(1.5)
            assert not sent.done()
        finally:
            hold.released.set()
        refused = await asyncio.wait_for(under_way, 30)
        taken = await asyncio.wait_for(sent, 30)
        status = await driver.status()

    assert refused.status == 2, refused.out
    assert taken.status == 0, taken.out
    assert taken.out.startswith(t("plan.upload_accepted", version=1))
    assert status.document_versions[DocumentKind.EVALUATOR_SIGN_IN] == 1
    assert len(await runs_of(driver)) == 2
