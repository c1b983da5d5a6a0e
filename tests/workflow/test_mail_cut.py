"""A mail activity cut mid-send (its worker shutting down, a cancellation its
workflow asks for or the server's word that it gave the attempt up, both
brought by the activity's heartbeat) leaves each mail's outcome right.

Regression: an attempt cut once the server had taken its mail, its goodbye
(SMTP ``QUIT``) under way, left the claim to lapse, unrecorded, and the mail
was sent again once it had lapsed; so did one whose claim was taken over
then. Now the mail the server took is recorded sent, and the attempt ends
cancelled (or finds the mail sent, its claim lost).

The mail server is a real SMTP server on loopback taking each mail at once and
holding the goodbye after it, the database real.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.mail_intake import MailboxRunRequest
from certflow.config import Settings
from certflow.models import Role
from tests.workflow.test_mail_overlap import (
    ACCEPTED,
    HeldServer,
    answer_of,
    claim_of,
    held_server,
    intake,
    mailbox_mail,
    resend_of,
    resend_request,
    settled_sent,
    until,
)
from tests.workflow.test_mail_refused import note, notifier

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


class HeldAtGoodbye(HeldServer):
    """A server taking each mail at once, and holding the goodbye after it
    (SMTP ``QUIT``) until released: the mail has gone, the exchange not ended."""

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.taken.append(envelope.original_content or b"")
        return ACCEPTED

    async def handle_QUIT(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.arrived += 1
        await self.release.wait()
        return "221 Bye"


async def cut_once_taken(
    server: HeldAtGoodbye, env: ActivityEnvironment, attempt: Awaitable[Any]
) -> None:
    """Cancel ``attempt`` as the worker does, once the server took its mail;
    it must end cancelled."""
    running = asyncio.ensure_future(attempt)
    await until(lambda: server.arrived == 1)
    env.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert len(server.taken) == 1


async def test_a_mail_cut_once_the_server_took_it_is_recorded_sent(
    settings: Settings, resources: Any
) -> None:
    """Regression: the attempt cut during the goodbye left its claim to lapse,
    the mail unrecorded, and the retry sent it again once it had lapsed."""
    pool, _ = resources
    mail = note([Role.SITE])
    async with held_server(HeldAtGoodbye()) as server:
        sender = notifier(settings, resources, server.port)
        attempt = ActivityEnvironment()
        await cut_once_taken(server, attempt, attempt.run(sender.notify, mail))

        assert await settled_sent(pool, mail)
        await sender.notify(mail)  # the retry finds it sent
        assert len(server.taken) == 1


async def test_a_resend_cut_once_the_server_took_it_is_recorded_sent(
    settings: Settings, resources: Any
) -> None:
    pool, _ = resources
    request = await resend_request(settings, resources)
    async with held_server(HeldAtGoodbye()) as server:
        sender = notifier(settings, resources, server.port)
        attempt = ActivityEnvironment()
        await cut_once_taken(server, attempt, attempt.run(sender.resend, request))

        row = await resend_of(pool, request)
        assert row["sent_at"] is not None and row["sending_since"] is None
        assert (await sender.resend(request)).sent  # found sent, not sent again
        assert len(server.taken) == 1


async def test_a_reply_cut_once_the_server_took_it_is_recorded_answered(
    settings: Settings, resources: Any, env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """The mailbox poll cut while the server says goodbye after taking a
    reply: the mail is recorded answered, and the next poll only
    acknowledges it."""
    pool, _ = resources
    source, key, raw = await mailbox_mail(tmp_path / "exam")
    async with held_server(HeldAtGoodbye()) as server:
        poll = intake(settings, resources, env, source, server.port)
        attempt = ActivityEnvironment()
        await cut_once_taken(
            server,
            attempt,
            attempt.run(poll.process_mailbox, MailboxRunRequest(poll=1)),
        )

        row = await answer_of(pool, raw)
        assert row["replied_at"] is not None and row["reply_sending_since"] is None
        assert await poll.process_message(source, key, raw) == "already_processed"
        assert len(server.taken) == 1
    assert await source.fetch() == []


async def test_a_mail_the_server_took_as_its_claim_was_taken_over_is_recorded_sent(
    settings: Settings, resources: Any, short_claims: timedelta
) -> None:
    """Regression: the attempt whose claim was taken over during its goodbye
    stopped as one that had sent nothing; the attempt holding the claim then
    sent the mail again. Now the mail is recorded sent, and the claim left to
    its holder, which finds the mail sent."""
    pool, _ = resources
    mail = note([Role.SITE])
    async with held_server(HeldAtGoodbye()) as server:
        sender = notifier(settings, resources, server.port)
        attempt = asyncio.create_task(sender.notify(mail))
        await until(lambda: server.arrived == 1)
        newer = await pool.fetchval(
            "UPDATE notifications SET sending_since = now() + interval '1 hour'"
            " WHERE idempotency_key = $1 RETURNING sending_since",
            mail.idempotency_key,
        )
        await attempt

        row = await claim_of(pool, mail)
        assert row["sent_at"] is not None and row["sending_since"] == newer
        await sender.notify(mail)  # another attempt finds it sent
        assert len(server.taken) == 1
