"""The mailbox poller keeps polling when ``poll_now`` wakes it as its timer fires.

Regression (training stack): the poller waited for ``poll_now`` with the poll
interval as a timeout, so the workflow task taking the signal cancelled the
interval's timer. Where that timer fired while the task ran, the time-skipping
test server (the training stack's) refused the task, and every later attempt
of it: the poller never polled again. The poller now leaves its timer to fire,
as the plan's timer loop does (see ``test_task_races.py``).

The test holds the task taking the signal open (a codec that takes its time,
as a loaded worker would) until the timer has fired, on a worker of its own
with no workflow cache, so every task replays the whole history.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from certflow.config import Settings
from tests.conftest import replay_all
from tests.corrections.mail_intake_support import polls_beyond
from tests.support import (
    HeldTask,
    first_timer_fired,
    own_queue,
    terminate_when_idle,
    worker_decoding,
)
from workflows.mailbox import MailboxPollInput, MailboxPollWorkflow, PollNow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

# The poll interval: a timer that fires while the test waits for it.
INTERVAL = timedelta(seconds=3)


async def test_a_poll_asked_for_as_the_timer_fires_keeps_the_poller_going(
    env: WorkflowEnvironment,
    settings: Settings,
    resources: Any,
    tmp_path: Path,
) -> None:
    exam = tmp_path / "exam"
    for folder in ("new", "cur", "tmp"):
        (exam / folder).mkdir(parents=True)
    mailbox = settings.mailbox.model_copy(update={"path": exam})
    settings = own_queue(settings.model_copy(update={"mailbox": mailbox}))
    asked = PollNow(requested_by=f"held-{uuid.uuid4().hex}")
    handle: WorkflowHandle[Any, Any] | None = None

    async def timer_fired() -> None:
        assert handle is not None
        await first_timer_fired(handle, env)

    task = HeldTask(asked.requested_by.encode(), timer_fired)
    worker = worker_decoding(
        env.client, settings, resources, task, max_cached_workflows=0
    )
    with env.auto_time_skipping_disabled():
        async with worker:
            handle = await env.client.start_workflow(
                MailboxPollWorkflow.run,
                MailboxPollInput(poll_interval=INTERVAL),
                id=f"mailbox-poller-{uuid.uuid4().hex[:8]}",
                task_queue=settings.temporal.task_queue,
            )
            try:
                await polls_beyond(handle, 0)
                await handle.signal(MailboxPollWorkflow.poll_now, asked)

                # The poll asked for, then the one the timer left to fire brings.
                polled = await polls_beyond(handle, 2)
                assert task.held and polled.polls >= 3
            finally:
                await terminate_when_idle(env.client, handle.id, "test finished")
    await replay_all([handle])
