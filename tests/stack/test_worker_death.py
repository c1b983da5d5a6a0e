"""A worker killed in the middle of a long activity, on a real-clock dev server.

Operator trial: ``kill -9`` of the worker during ``process_upload`` left the
attempt "Started, attempt 1" on the dead worker until its 10-minute
start-to-close timeout; the staff tool gave up after two minutes and the
plan's other uploads waited. The long activities now heartbeat, and the
server retries such an attempt on a live worker after the heartbeat timeout.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from activities.documents import DocumentStore
from certflow.actions import ExamPlanInput, UploadRequest, plan_workflow_id
from certflow.config import DeadlinePolicy, Settings
from certflow.timeutil import cst_date
from tests.support import (
    CANDIDATE_SIGN_IN,
    SITE,
    dev_server_on_free_ports,
    retitled,
    sample_plan,
    unique_plan_id,
)
from worker import connect
from workflows import ExamPlanWorkflow
from workflows.exam_plan import LONG

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]


def _worker_env(settings: Settings, address: str) -> dict[str, str]:
    """``python -m worker`` on the session's database, documents and mail sink."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLOW_")}
    return {
        **env,
        "CERTFLOW_STATE": str(settings.documents_dir.parent),
        "CERTFLOW_SIGNING_KEY_FILE": str(settings.certificates.signing_key_file),
        "TEMPORAL_ADDRESS": address,
        "DATABASE_URL": settings.database_url,
        "SMTP_PORT": str(settings.smtp.port),
    }


async def _logged(log_file: Path, text: str, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while text.encode() not in (seen := await asyncio.to_thread(log_file.read_bytes)):
        assert time.monotonic() < deadline, seen.decode("utf-8")
        await asyncio.sleep(0.2)


@asynccontextmanager
async def _worker(env: dict[str, str], log_file: Path) -> AsyncIterator[Any]:
    """A started ``python -m worker`` process; killed on the way out."""
    with log_file.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "worker", cwd=REPO, env=env, stdout=log, stderr=log
        )
        try:
            await _logged(log_file, "worker started")
            yield process
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def _attempt_started(client: Client, workflow_id: str, activity: str) -> int:
    """Wait until an attempt of ``activity`` runs on a worker; its number."""
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(300):
        described = await handle.describe()
        for pending in described.raw_description.pending_activities:
            started = (
                pending.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            )
            if pending.activity_type.name == activity and started:
                return int(pending.attempt)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{activity} never started")


async def _waiting_on_lock(admin: asyncpg.Connection) -> None:
    """Wait until another session waits for a lock: the attempt is mid-write.

    ``admin`` holds the lock in an open transaction, and PostgreSQL keeps the
    sessions it showed a transaction once until the transaction ends: the
    snapshot is dropped before each look, or a first look taken before the
    attempt reached its write (on a loaded machine) would be all it saw.
    """
    for _ in range(300):
        await admin.execute("SELECT pg_stat_clear_snapshot()")
        waiting = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
            " AND datname = current_database() AND pid <> pg_backend_pid()"
        )
        if waiting:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the upload never reached its write")


def _scheduled(history: Any, activity: str) -> set[int]:
    return {
        e.event_id
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    }


async def test_an_upload_whose_worker_is_killed_is_retried_on_a_live_worker_soon(
    settings: Settings, resources: tuple[Any, DocumentStore], tmp_path: Path
) -> None:
    pool, store = resources
    server = dev_server_on_free_ports(tmp_path / "temporal.sqlite")
    async with server:
        env = _worker_env(settings, server.address)
        on_server = settings.temporal.model_copy(update={"address": server.address})
        client = await connect(settings.model_copy(update={"temporal": on_server}))
        plan = sample_plan(cst_date(datetime.now(UTC)), unique_plan_id())
        workflow_id = plan_workflow_id(plan.plan_id)
        handle = await client.start_workflow(
            ExamPlanWorkflow.run,
            ExamPlanInput(info=plan, policy=DeadlinePolicy()),
            id=workflow_id,
            task_queue=settings.temporal.task_queue,
        )
        document = store.put_file(retitled(CANDIDATE_SIGN_IN, plan, tmp_path))
        # The attempt blocks on its first write, where the kill finds it.
        admin = await asyncpg.connect(settings.database_url)
        lock = admin.transaction()
        await lock.start()
        await admin.execute("LOCK TABLE plan_documents IN EXCLUSIVE MODE")

        async with _worker(env, tmp_path / "first.log") as first:
            upload = asyncio.create_task(
                handle.execute_update(
                    ExamPlanWorkflow.upload_candidate_sign_in,
                    UploadRequest(actor=SITE, document=document),
                )
            )
            attempt = await _attempt_started(client, workflow_id, "process_upload")
            await _waiting_on_lock(admin)
            first.kill()
            await first.wait()
            killed_at = time.monotonic()
        await lock.commit()
        await admin.close()

        async with _worker(env, tmp_path / "second.log"):
            # A quarter of the old wait: retried once the heartbeats stopped,
            # not after the 10-minute start-to-close timeout.
            result = await asyncio.wait_for(upload, LONG.total_seconds() / 4)
            took = time.monotonic() - killed_at
            history = await handle.fetch_history()
        await handle.terminate("test over")

    assert attempt == 1
    assert result.accepted, result
    # The attempt that did it is the second, started after a heartbeat timeout.
    [started] = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.scheduled_event_id
        in _scheduled(history, "process_upload")
    ]
    assert started.attempt == 2, (took, started)
    assert "heartbeat" in started.last_failure.message.lower(), started.last_failure
    # Exactly once: the dead attempt's write never happened.
    rows = await pool.fetchval(
        "SELECT count(*) FROM plan_documents WHERE plan_id = $1 AND kind = $2",
        plan.plan_id,
        "candidate_sign_in",
    )
    assert rows == 1
