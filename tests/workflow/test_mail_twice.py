"""A mail that may have gone and is sent again is the same mail again.

A send that ends after its message went to the mail server and before the
server answered (the connection dropped, the worker killed) may have left
the mail with the server; its claim is left to lapse, and the retry sends
it again (docs/operations.md, "One attempt at a time sends a mail").
Regression: each attempt wrote its mail anew, with a Message-ID of its own,
so a party that got both held two different mails, which neither its mail
server nor its mail program could tell for one. Every attempt of a mail (and
of one resend of it) now gives it the Message-ID its idempotency key makes.

The mail server is a real SMTP server on loopback that takes the first
message and drops the connection before answering it.
"""

from __future__ import annotations

from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.exceptions import ApplicationError

from certflow.config import Settings
from certflow.models import Role
from tests.workflow.test_mail_overlap import (
    ACCEPTED,
    HeldServer,
    held_server,
    lapse,
    lapse_mail,
    resend_request,
    settled_sent,
)
from tests.workflow.test_mail_refused import note, notifier

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


class DropsAfterData(HeldServer):
    """A server taking every message, that drops the connection of the first
    before answering it: the sender cannot tell whether it went."""

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.arrived += 1
        self.taken.append(envelope.original_content or b"")
        if self.arrived == 1:
            assert server.transport is not None
            server.transport.abort()
        return ACCEPTED


def message_ids(server: HeldServer) -> list[str]:
    return [str(message_from_bytes(raw)["Message-ID"]) for raw in server.taken]


async def test_a_mail_sent_again_after_a_dropped_answer_is_the_same_mail(
    settings: Settings, resources: Any
) -> None:
    pool, _ = resources
    mail = note([Role.SITE])
    async with held_server(DropsAfterData()) as server:
        sender = notifier(settings, resources, server.port)
        with pytest.raises(ApplicationError):
            await sender.notify(mail)
        # Its claim left to lapse: the retry sends it once it has.
        await lapse_mail(pool, mail)
        await sender.notify(mail)

    assert await settled_sent(pool, mail)
    assert len(server.taken) == 2
    first, again = message_ids(server)
    assert first == again


async def test_a_resend_sent_again_after_a_dropped_answer_is_the_same_mail(
    settings: Settings, resources: Any
) -> None:
    pool, _ = resources
    request = await resend_request(settings, resources)
    async with held_server(DropsAfterData()) as server:
        sender = notifier(settings, resources, server.port)
        with pytest.raises(ApplicationError):
            await sender.resend(request)
        await lapse(
            pool,
            "notification_resends",
            "sending_since",
            "resend_key",
            request.resend_key,
        )
        assert (await sender.resend(request)).sent
        # Another resend of the mail is another mail.
        other = request.model_copy(
            update={"attempt": 2, "resend_key": f"{request.resend_key}-2"}
        )
        assert (await sender.resend(other)).sent

    assert len(server.taken) == 3
    first, again, other_id = message_ids(server)
    assert first == again
    assert other_id != first
