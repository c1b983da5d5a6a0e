"""The mail activities heartbeat while they send, and the claim of a dead
attempt lapses before the server retries it.

Operator trial: a mail whose worker was killed mid-send went out two minutes
later, when the server retried ``notify`` after its start-to-close timeout:
the mail activities did not heartbeat. They now heartbeat in the background
with the long activities' timeout, and the claim lapses before the server's
retry comes (``tests/stack/test_mail_worker_death.py``). What a cancellation
their heartbeat brings does mid-send: ``test_mail_cut.py``.

The heartbeat timeout is scaled down (0.9 s, a heartbeat every 0.3 s); the
mail server is a real SMTP server on loopback holding each message, the
database real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

import activities.notify as notify
from activities.heartbeat import HEARTBEAT_EVERY
from activities.heartbeat import HEARTBEAT_TIMEOUT as WORKER_HEARTBEAT_TIMEOUT
from activities.mail_intake import MailboxRunRequest
from certflow.config import Settings
from certflow.models import Role
from tests.support import one_activity
from tests.workflow.test_mail_overlap import (
    answer_of,
    held_server,
    intake,
    mailbox_mail,
    resend_request,
    until,
)
from tests.workflow.test_mail_refused import note, notifier

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

HEARTBEAT_TIMEOUT = timedelta(seconds=0.9)
# How long the server holds the mail: several heartbeat timeouts.
HOLD = 3 * HEARTBEAT_TIMEOUT.total_seconds()


def beating(activity_type: str) -> tuple[ActivityEnvironment, list[float]]:
    """An attempt's context given a heartbeat timeout, and the loop times of
    its heartbeats."""
    loop = asyncio.get_running_loop()
    env = one_activity(activity_type, heartbeat_timeout=HEARTBEAT_TIMEOUT)
    beats: list[float] = []
    env.on_heartbeat = lambda *_: beats.append(loop.time())
    return env, beats


@pytest.mark.parametrize("activity", ["notify", "resend", "process_mailbox"])
async def test_each_mail_activity_heartbeats_while_the_server_holds_its_mail(
    settings: Settings,
    resources: Any,
    env: WorkflowEnvironment,
    tmp_path: Path,
    activity: str,
) -> None:
    """Each heartbeats all along a send the server holds for seconds, so that
    the server retries it soon only when its worker is gone."""
    pool, _ = resources
    request = await resend_request(settings, resources)
    source, _, raw = await mailbox_mail(tmp_path / "exam")
    attempt, beats = beating(activity)
    async with held_server() as server:
        sender = notifier(settings, resources, server.port)
        poll = intake(settings, resources, env, source, server.port)
        runs: dict[str, Callable[[], Awaitable[Any]]] = {
            "notify": lambda: attempt.run(sender.notify, note([Role.SITE])),
            "resend": lambda: attempt.run(sender.resend, request),
            "process_mailbox": lambda: attempt.run(
                poll.process_mailbox, MailboxRunRequest(poll=1)
            ),
        }
        loop = asyncio.get_running_loop()
        started = loop.time()
        running = asyncio.ensure_future(runs[activity]())
        await until(lambda: server.arrived == 1)
        await asyncio.sleep(HOLD)
        server.release.set()
        await running
        ended = loop.time()
        assert len(server.taken) == 1

    longest = max(b - a for a, b in pairwise([started, *beats, ended]))
    assert longest < HEARTBEAT_TIMEOUT.total_seconds(), beats
    if activity == "process_mailbox":
        assert (await answer_of(pool, raw))["replied_at"] is not None


async def test_a_dead_attempts_claim_lapses_before_the_server_retries_it() -> None:
    """The times the claim rests on (activities/notify.py): the server retries
    a dead attempt no sooner than a heartbeat timeout after the last heartbeat
    that reached it, which came at most a heartbeat's interval before the
    death; the claim was renewed at the latest at the death. A live attempt
    stops a renewal's length before its claim may lapse, and a renewal
    waited for at the end of a send leaves it time to record the mail."""
    assert notify.SEND_CLAIM <= WORKER_HEARTBEAT_TIMEOUT - HEARTBEAT_EVERY
    assert notify.UNCONFIRMED == notify.SEND_CLAIM - notify.RENEW_EVERY
    assert notify.RENEWAL_WAIT < notify.RENEW_EVERY
