"""A worker killed while it sends a mail, on a real-clock dev server.

Operator trial: after ``kill -9`` of the worker in the middle of a send, the
plan's mails waited the claim's whole ten minutes, and the retry logged every
minute, with a traceback, that an attempt "still running" was sending the
mail. The holder of a claim then renewed it while it sent, a claim unrenewed
for 90 s lapsed, and the server's retry after the activity's two-minute
start-to-close timeout sent the mail once, two minutes after the kill. The
mail activities now heartbeat: the server retries after the 30 s heartbeat
timeout, the claim (unrenewed for 20 s) has lapsed by then, and the mail goes
out once, about half a minute after the kill.

The mail server is a real SMTP server on loopback that holds the message at
DATA, where the kill finds the attempt; the connection gone, it drops that
copy, as a server does a message whose sender left before it answered.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from activities.documents import DocumentStore
from activities.heartbeat import HEARTBEAT_TIMEOUT
from certflow.actions import ExamPlanInput, plan_workflow_id
from certflow.config import DeadlinePolicy, Settings
from certflow.timeutil import cst_date
from tests.stack.test_worker_death import _scheduled, _worker, _worker_env
from tests.support import dev_server_on_free_ports, sample_plan, unique_plan_id
from tests.workflow.test_mail_overlap import held_server
from worker import connect
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(300)]

# Within a minute of the kill: the heartbeat timeout, the retry's first
# interval and a worker's start. It was two minutes (the start-to-close).
WITHIN = 60.0


async def _sent_at(pool: Any, plan_id: str, within: float) -> Any:
    deadline = time.monotonic() + within
    while True:
        sent = await pool.fetchval(
            "SELECT sent_at FROM notifications WHERE plan_id = $1"
            " AND template = 'submission_opened'",
            plan_id,
        )
        if sent is not None:
            return sent
        assert time.monotonic() < deadline, "the mail was never sent"
        await asyncio.sleep(0.5)


async def test_a_mail_whose_worker_is_killed_mid_send_is_sent_once_soon(
    settings: Settings, resources: tuple[Any, DocumentStore], tmp_path: Path
) -> None:
    pool, _ = resources
    server = dev_server_on_free_ports(tmp_path / "temporal.sqlite")
    async with server, held_server() as smtp:
        env = {**_worker_env(settings, server.address), "SMTP_PORT": str(smtp.port)}
        on_server = settings.temporal.model_copy(update={"address": server.address})
        client = await connect(settings.model_copy(update={"temporal": on_server}))
        plan = sample_plan(cst_date(datetime.now(UTC)), unique_plan_id())
        handle = await client.start_workflow(
            ExamPlanWorkflow.run,
            ExamPlanInput(info=plan, policy=DeadlinePolicy()),
            id=plan_workflow_id(plan.plan_id),
            task_queue=settings.temporal.task_queue,
        )

        async with _worker(env, tmp_path / "first.log") as first:
            # The plan's first mail, held by the server at DATA: mid-send.
            await until_async(lambda: smtp.arrived == 1, within=60)
            first.kill()
            await first.wait()
            killed_at = time.monotonic()

        async with _worker(env, tmp_path / "second.log"):
            await until_async(lambda: smtp.arrived == 2, within=WITHIN)
            retried = time.monotonic() - killed_at
            smtp.let_through(1)
            await _sent_at(pool, plan.plan_id, within=30)
            took = time.monotonic() - killed_at
            await asyncio.sleep(1)  # any other attempt would be under way now
            history = await handle.fetch_history()
        await handle.terminate("test over")

    # Exactly once: the killed attempt's copy was dropped with its connection.
    assert [m for m in smtp.taken if plan.plan_id.encode() in m] == smtp.taken
    assert len(smtp.taken) == 1
    assert retried < WITHIN, retried
    # Scheduled with the heartbeat timeout, and sent by its first retry, which
    # the heartbeat timeout started and which found the claim lapsed.
    scheduled = _scheduled(history, "notify")
    timeouts = {
        e.activity_task_scheduled_event_attributes.heartbeat_timeout.ToSeconds()
        for e in history.events
        if e.event_id in scheduled
    }
    assert timeouts == {HEARTBEAT_TIMEOUT.total_seconds()}
    [started] = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.HasField("activity_task_started_event_attributes")
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
        and e.activity_task_started_event_attributes.attempt > 1
    ]
    assert started.attempt == 2, (took, started)
    assert "heartbeat" in started.last_failure.message.lower(), started.last_failure
    log = (tmp_path / "second.log").read_text("utf-8")
    assert "Traceback" not in log
    assert "still running" not in log
    assert log.count(f"mail sent plan_id={plan.plan_id}") == 1
    for line in log.splitlines():
        if "claimed by an earlier attempt" in line:
            assert "may have died with its worker" in line and "lapses at" in line


async def until_async(done: Any, within: float) -> None:
    """Wait until ``done()``, for up to ``within`` seconds."""
    deadline = time.monotonic() + within
    while not done():
        assert time.monotonic() < deadline, "it never came to pass"
        await asyncio.sleep(0.1)
