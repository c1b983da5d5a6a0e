"""A mail is sent once, also when a retry overlaps the attempt sending it.

Regression: an attempt of ``notify`` (or ``resend``) that timed out while the
mail server was slow to take its mail is retried, and nothing stops it (the
mail activities do not heartbeat). The retry found the mail's row without
``sent_at`` and sent it too: its people got it twice. The attempt sending a
mail now claims it on its row; a retry finding it claimed is retried until the
first has recorded what came of it, or until the claim of an attempt that died
half-way lapses.

A mail given up is not a mail still to send: a retry finding it given up ends
as the attempt that gave it up did.

The mail server is a real SMTP server on loopback that holds each message at
DATA until the test lets it through: the first attempt is then under way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import mailbox
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.mail_intake import MailIntakeActivities
from activities.mailbox import MaildirSource
from activities.notify import Mailer
from certflow.activity_models import Notification, ResendRequest
from certflow.config import Settings
from certflow.models import Role
from tests.corrections.mail_intake_support import SITE_ADDRESS, mail
from tests.workflow.test_mail_refused import note, notifier

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

# The error type of an attempt finding its mail claimed, as operators find it in
# a history, and how long the claim of an attempt that died holds.
BEING_SENT = "mail_being_sent"
SEND_CLAIM = timedelta(minutes=10)


# The held server's answers: the message taken, or refused for good (the mail
# is then given up, as for a message refused for its content).
ACCEPTED = "250 Message accepted for delivery"
REFUSED = "554 5.6.0 Message refused"
MESSAGE_REFUSED = "mail_message_refused"


class HeldServer:
    """An SMTP server's handler holding every message at DATA until released.

    ``release`` lets every message through; ``let_through`` one, by its order
    of arrival. Each is answered as ``answers`` says, by that order, else
    accepted.
    """

    def __init__(self) -> None:
        self.arrived = 0
        self.taken: list[bytes] = []
        self.release = asyncio.Event()
        self.answers: dict[int, str] = {}
        self.gates: list[asyncio.Event] = []
        self.port = 0

    def let_through(self, index: int, answer: str = ACCEPTED) -> None:
        self.answers[index] = answer
        self.gates[index].set()

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        index = self.arrived
        self.arrived += 1
        gate = asyncio.Event()
        self.gates.append(gate)
        waits = [asyncio.create_task(e.wait()) for e in (self.release, gate)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        answer = self.answers.get(index, ACCEPTED)
        if answer == ACCEPTED:
            self.taken.append(envelope.original_content or b"")
        return answer


@contextlib.asynccontextmanager
async def held_server() -> AsyncIterator[HeldServer]:
    """A real SMTP server on loopback, holding each message until released."""
    held = HeldServer()
    listening = await asyncio.get_running_loop().create_server(
        lambda: SMTP(held, hostname="held-server"), "127.0.0.1", 0
    )
    held.port = listening.sockets[0].getsockname()[1]
    try:
        yield held
    finally:
        held.release.set()
        listening.close()
        await listening.wait_closed()


async def until(done: Callable[[], bool]) -> None:
    for _ in range(1000):
        if done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the attempts never got there")


async def overlapping(
    server: HeldServer, attempt: Callable[[], Awaitable[Any]]
) -> tuple[Any, Any]:
    """Run an attempt, and its retry while the first is handing its mail over.

    Return the result or error of each, once both are done.
    """
    first = asyncio.create_task(attempt())
    await until(lambda: server.arrived == 1)
    retry = asyncio.create_task(attempt())
    # The retry ends at once, or reaches the server too.
    await until(lambda: retry.done() or server.arrived == 2)
    server.release.set()
    done = await asyncio.gather(first, retry, return_exceptions=True)
    return done[0], done[1]


def is_being_sent(error: Any) -> bool:
    return (
        isinstance(error, ApplicationError)
        and error.type == BEING_SENT
        and not error.non_retryable
    )


async def claim_of(pool: Any, mail: Notification) -> Any:
    return await pool.fetchrow(
        "SELECT sent_at, failure, sending_since FROM notifications"
        " WHERE idempotency_key = $1",
        mail.idempotency_key,
    )


async def resend_request(settings: Settings, resources: Any) -> ResendRequest:
    """An admin's resend of a mail sent (to the session's sink)."""
    pool, _ = resources
    mail = note([Role.SITE])
    await notifier(settings, resources, settings.smtp.port).notify(mail)
    number = await pool.fetchval(
        "SELECT id FROM notifications WHERE idempotency_key = $1",
        mail.idempotency_key,
    )
    return ResendRequest(
        notification=number,
        attempt=1,
        roles=[Role.SITE],
        requested_by="admin-li",
        resend_key=f"resend-{number}-1",
        requested_at=datetime.now(UTC),
    )


async def resend_of(pool: Any, request: ResendRequest) -> Any:
    return await pool.fetchrow(
        "SELECT sent_at, failure, sending_since FROM notification_resends"
        " WHERE resend_key = $1",
        request.resend_key,
    )


async def mailbox_mail(folder: Path) -> tuple[MaildirSource, str, bytes]:
    """The exam mailbox (a maildir) holding one mail the intake cannot read:
    the mailbox, the mail's key there, and its bytes."""
    mailbox.Maildir(folder, create=True).add(
        mail(SITE_ADDRESS, "成绩修改", "请帮忙修改成绩。", datetime.now(UTC)).as_bytes()
    )
    source = MaildirSource(folder)
    [(key, raw)] = await source.fetch()
    return source, key, raw


def intake(
    settings: Settings,
    resources: Any,
    env: WorkflowEnvironment,
    source: MaildirSource,
    port: int,
) -> MailIntakeActivities:
    """The mailbox poll's activities, answering mails through ``port``."""
    pool, store = resources
    smtp = settings.smtp.model_copy(update={"port": port})
    return MailIntakeActivities(
        settings.model_copy(update={"smtp": smtp}),
        pool,
        store,
        env.client,
        source_factory=lambda: source,
        mailer=Mailer(smtp),
    )


async def answer_of(pool: Any, raw: bytes) -> Any:
    return await pool.fetchrow(
        "SELECT status, replied_at, reply_failure, reply_sending_since"
        " FROM mail_messages WHERE raw_sha256 = $1",
        hashlib.sha256(raw).hexdigest(),
    )


async def test_a_retry_overlapping_the_attempt_sending_a_mail_does_not_send_it(
    settings: Settings, resources: Any
) -> None:
    pool, _ = resources
    mail = note([Role.SITE])
    async with held_server() as server:
        sender = notifier(settings, resources, server.port)
        first, retried = await overlapping(server, lambda: sender.notify(mail))

        assert first is None
        assert len(server.taken) == 1
        assert is_being_sent(retried)
        # The retry's next attempt finds the mail sent.
        await sender.notify(mail)
        assert len(server.taken) == 1
    row = await claim_of(pool, mail)
    assert row["sent_at"] is not None and row["sending_since"] is None


async def test_a_claim_ends_with_a_failed_attempt_and_lapses_with_a_dead_one(
    settings: Settings, resources: Any, smtp_port: int, sink_messages: Any
) -> None:
    pool, _ = resources
    mail = note([Role.SITE])

    # The mail server away: the attempt fails and is retried, its claim ended.
    with pytest.raises(OSError):
        await notifier(settings, resources, smtp_port).notify(mail)
    row = await claim_of(pool, mail)
    assert row["sent_at"] is None and row["sending_since"] is None

    # An attempt claimed it and died (its worker killed): the retry waits ...
    sender = notifier(settings, resources, settings.smtp.port)
    await pool.execute(
        "UPDATE notifications SET sending_since = now() WHERE idempotency_key = $1",
        mail.idempotency_key,
    )
    with pytest.raises(ApplicationError) as raised:
        await sender.notify(mail)
    assert is_being_sent(raised.value)
    # ... until the claim lapses, then sends it.
    await pool.execute(
        "UPDATE notifications SET sending_since = now() - $2::interval"
        " WHERE idempotency_key = $1",
        mail.idempotency_key,
        SEND_CLAIM,
    )
    await sender.notify(mail)
    sent = [m for m in sink_messages() if m["X-Certflow-Plan"] == mail.plan_id]
    assert len(sent) == 1
    row = await claim_of(pool, mail)
    assert row["sent_at"] is not None and row["sending_since"] is None


async def test_a_resend_retry_overlapping_its_attempt_does_not_send_it_again(
    settings: Settings, resources: Any
) -> None:
    pool, _ = resources
    request = await resend_request(settings, resources)
    async with held_server() as server:
        sender = notifier(settings, resources, server.port)
        first, retried = await overlapping(server, lambda: sender.resend(request))

        assert first.sent
        assert len(server.taken) == 1
        assert is_being_sent(retried)
        outcome = await sender.resend(request)
        assert outcome.sent and outcome.recipients == 1
        assert len(server.taken) == 1
    row = await resend_of(pool, request)
    assert row["sent_at"] is not None and row["sending_since"] is None


async def test_a_poll_overlapping_the_attempt_answering_a_mail_leaves_it_answered_once(
    settings: Settings, resources: Any, env: WorkflowEnvironment, tmp_path: Path
) -> None:
    pool, _ = resources
    source, key, raw = await mailbox_mail(tmp_path / "exam")
    async with held_server() as server:
        poll = intake(settings, resources, env, source, server.port)
        # The poll's retry reads the mail while the first attempt answers it.
        first, retried = await overlapping(
            server, lambda: poll.process_message(source, key, raw)
        )

        assert first == "unmatched"
        assert len(server.taken) == 1
        assert retried == "reply_pending"
    row = await answer_of(pool, raw)
    assert row["status"] == "unmatched" and row["replied_at"] is not None
    assert row["reply_sending_since"] is None
    # The first attempt acknowledged the mail once it had answered it.
    assert await source.fetch() == []


# -- a mail given up ----------------------------------------------------------------


async def test_a_retry_finding_its_mail_given_up_gives_it_up_again_unsent(
    settings: Settings, resources: Any
) -> None:
    """Regression: the claim took a mail given up (its failure recorded, no
    ``sent_at``) for one still to send. The first attempt, timed out but still
    running, was refused for good and recorded the mail given up; the retry's
    next attempt then sent it, and erased the failure ``notice failed`` lists."""
    pool, _ = resources
    mail = note([Role.SITE])
    async with held_server() as server:
        server.answers[0] = REFUSED  # then the server would take it
        sender = notifier(settings, resources, server.port)
        first, retried = await overlapping(server, lambda: sender.notify(mail))

        assert isinstance(first, ApplicationError) and first.non_retryable
        assert first.type == MESSAGE_REFUSED
        assert is_being_sent(retried)
        # The retry's next attempt finds the mail given up: it ends as the
        # first attempt did, and sends nothing.
        with pytest.raises(ApplicationError) as again:
            await sender.notify(mail)
        assert server.arrived == 1
    assert again.value.non_retryable
    assert (again.value.type, str(again.value)) == (first.type, str(first))
    row = await claim_of(pool, mail)
    assert row["sent_at"] is None and row["sending_since"] is None
    assert "554" in row["failure"]
