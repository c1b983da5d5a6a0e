"""A mail is sent once, also when a retry overlaps the attempt sending it.

Regression: an attempt of ``notify`` (or ``resend``) that timed out while the
mail server was slow to take its mail is retried, and nothing stopped it (the
mail activities did not heartbeat; now it is stopped at its next heartbeat,
which may come while it hands the mail over). The retry found the mail's row
without ``sent_at`` and sent it too: its people got it twice. The attempt
sending a mail now claims it on its row; a retry finding it claimed is retried
until the first has recorded what came of it, or until the claim of an attempt
that died half-way lapses.

A mail given up is not a mail still to send: a retry finding it given up ends
as the attempt that gave it up did. An attempt alive past its claim (unrenewed
for 20 s) records nothing over the attempt that took the mail over, only that
its own mail went out if it did; and an attempt cancelled leaves no claim.

The mail server is a real SMTP server on loopback that holds each message at
DATA until the test lets it through: the first attempt is then under way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import mailbox
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

import activities.notify as notify
from activities.mail_intake import MailIntakeActivities
from activities.mailbox import MaildirSource
from activities.notify import Mailer
from certflow.activity_models import Notification, ResendRequest
from certflow.config import Settings
from certflow.models import Role
from tests.corrections.mail_intake_support import SITE_ADDRESS, mail
from tests.support import unique_plan_id
from tests.workflow.test_mail_refused import note, notifier

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

# The error type of an attempt finding its mail claimed, as operators find it in
# a history, and how long the claim of an attempt that died holds.
BEING_SENT = "mail_being_sent"
SEND_CLAIM = timedelta(seconds=20)


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
async def held_server(held: HeldServer | None = None) -> AsyncIterator[HeldServer]:
    """A real SMTP server on loopback, holding each message until released;
    ``held`` handles its sessions (another way of holding)."""
    held = held or HeldServer()
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


async def until(done: Callable[[], bool], *, within: float = 10.0) -> None:
    """Wait until ``done()``, for up to ``within`` real seconds."""
    deadline = asyncio.get_running_loop().time() + within
    while not done():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the attempts never got there")
        await asyncio.sleep(0.01)


async def eventually(done: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(500):
        if await done():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("it never came to pass")


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


@pytest.fixture
def paused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The late attempt of ``taken_over`` as a paused process: it renews its
    claim no more. Its claim is dated back by hand; a renewal made meanwhile
    would find it moved, and stop the attempt as one whose claim was taken."""
    monkeypatch.setattr(notify, "RENEW_EVERY", timedelta(hours=1))


async def taken_over(
    server: HeldServer,
    attempt: Callable[[], Awaitable[Any]],
    lapsed: Callable[[], Awaitable[None]],
) -> tuple[asyncio.Task[Any], asyncio.Task[Any]]:
    """Run an attempt, let its claim lapse while the server holds its mail, and
    run the attempt that takes the mail over: the late one (message 0 at the
    server) and the newer one (message 1), both under way.

    The mail is then sent twice, as after an attempt that died half-way.
    """
    late = asyncio.create_task(attempt())
    await until(lambda: server.arrived == 1)
    await lapsed()
    newer = asyncio.create_task(attempt())
    await until(lambda: server.arrived == 2)
    return late, newer


async def lapse(pool: Any, table: str, column: str, key: str, value: str) -> None:
    """Date the claim on a row ``SEND_CLAIM`` back: the attempt holding it,
    alive still (its process paused), is past it, and has lost it."""
    await pool.execute(
        f"UPDATE {table} SET {column} = {column} - $2::interval WHERE {key} = $1",
        value,
        SEND_CLAIM,
    )


async def lapse_mail(pool: Any, mail: Notification) -> None:
    await lapse(
        pool, "notifications", "sending_since", "idempotency_key", mail.idempotency_key
    )


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


async def settled_sent(pool: Any, mail: Notification) -> bool:
    """Whether ``mail`` is recorded sent, not given up, and claimed by none."""
    row = await claim_of(pool, mail)
    return bool(
        row["sent_at"] is not None
        and row["failure"] is None
        and row["sending_since"] is None
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
    with pytest.raises(ApplicationError, match=r"^mail_server_away"):
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


# -- an attempt alive past its claim --------------------------------------------


@pytest.mark.usefixtures("paused")
async def test_an_attempt_past_its_claim_records_nothing_over_the_one_that_took_over(
    settings: Settings, resources: Any
) -> None:
    """Regression: an attempt recorded what came of its mail whoever held the
    claim. One alive past the claim's lapse, refused for good, wrote the mail
    given up over the attempt that had taken it over and sent it: the mail
    read not sent, and the next attempt sent it a third time."""
    pool, _ = resources
    mail = note([Role.SITE])
    async with held_server() as server:
        sender = notifier(settings, resources, server.port)
        late, newer = await taken_over(
            server, lambda: sender.notify(mail), lambda: lapse_mail(pool, mail)
        )
        server.let_through(1)
        await newer
        server.let_through(0, REFUSED)

        await late  # it finds the mail sent
        await sender.notify(mail)
        assert server.arrived == 2
    assert await settled_sent(pool, mail)


@pytest.mark.usefixtures("paused")
async def test_a_mail_sent_by_an_attempt_past_its_claim_is_never_sent_again(
    settings: Settings, resources: Any
) -> None:
    """Regression: the late attempt's record ended the claim of the attempt
    that took the mail over, still sending it. Now the claim stays with that
    one, and the mail is recorded sent: no later attempt sends it, and the
    copy of the one that took over, refused, does not make it given up."""
    pool, _ = resources
    mail = note([Role.SITE])
    async with held_server() as server:
        sender = notifier(settings, resources, server.port)
        late, newer = await taken_over(
            server, lambda: sender.notify(mail), lambda: lapse_mail(pool, mail)
        )
        server.let_through(0)
        await late

        row = await claim_of(pool, mail)
        assert row["sent_at"] is not None and row["sending_since"] is not None
        await sender.notify(mail)  # a third attempt finds it sent
        assert server.arrived == 2
        server.let_through(1, REFUSED)
        await newer  # the mail went out: not given up
    assert await settled_sent(pool, mail)


@pytest.mark.usefixtures("paused")
async def test_a_resend_attempt_past_its_claim_records_nothing_over_the_newer(
    settings: Settings, resources: Any
) -> None:
    """Regression: as for a mail, a resend attempt alive past its claim wrote
    the resend refused over the attempt that had sent it since."""
    pool, _ = resources
    request = await resend_request(settings, resources)
    async with held_server() as server:
        sender = notifier(settings, resources, server.port)
        late, newer = await taken_over(
            server,
            lambda: sender.resend(request),
            lambda: lapse(
                pool,
                "notification_resends",
                "sending_since",
                "resend_key",
                request.resend_key,
            ),
        )
        server.let_through(1)
        assert (await newer).sent
        server.let_through(0, REFUSED)

        assert (await late).sent  # what the attempt that took over recorded
    row = await resend_of(pool, request)
    assert row["sent_at"] is not None and row["failure"] is None
    assert row["sending_since"] is None


@pytest.mark.usefixtures("paused")
async def test_a_poll_attempt_past_its_claim_records_nothing_over_the_newer(
    settings: Settings, resources: Any, env: WorkflowEnvironment, tmp_path: Path
) -> None:
    """Regression: a poll attempt alive past its claim on a reply wrote it
    given up over the attempt that had answered the mail since, and staff saw
    the requester as not answered (``mailbox list``)."""
    pool, _ = resources
    source, key, raw = await mailbox_mail(tmp_path / "exam")
    async with held_server() as server:
        poll = intake(settings, resources, env, source, server.port)
        late, newer = await taken_over(
            server,
            lambda: poll.process_message(source, key, raw),
            lambda: lapse(
                pool,
                "mail_messages",
                "reply_sending_since",
                "raw_sha256",
                hashlib.sha256(raw).hexdigest(),
            ),
        )
        server.let_through(1)
        assert await newer == "already_processed"
        server.let_through(0, REFUSED)

        assert await late == "unmatched"
    row = await answer_of(pool, raw)
    assert row["replied_at"] is not None and row["reply_failure"] is None
    assert row["reply_sending_since"] is None


# -- claims that end, and those that no attempt will end ---------------------------


def claims_query() -> str:
    """The query docs/operations.md gives operators for the mails claimed now."""
    text = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    after = text[text.index("Mails claimed now") :]
    return after.split("```sql\n", 1)[1].split("```", 1)[0]


async def test_the_mails_claimed_now_are_the_live_claims_only(
    settings: Settings, resources: Any, smtp_port: int
) -> None:
    """Regression: the operators' query listed every claim ever left, as the
    claim of an attempt that died while its activity was cancelled (an alarm
    withdrawn, a plan cancelled): no attempt comes to end it, and the mail was
    listed as being sent for good."""
    pool, _ = resources
    live, dead = note([Role.SITE]), note([Role.SITE])
    away = notifier(settings, resources, smtp_port)
    for claimed in (live, dead):
        with pytest.raises(ApplicationError, match=r"^mail_server_away"):
            await away.notify(claimed)  # recorded, not sent
        await pool.execute(
            "UPDATE notifications SET sending_since = now() WHERE idempotency_key = $1",
            claimed.idempotency_key,
        )
    await lapse_mail(pool, dead)

    listed = {row["plan_id"] for row in await pool.fetch(claims_query())}

    assert live.plan_id in listed
    assert dead.plan_id not in listed


async def recording_waits(pool: Any) -> bool:
    """Whether a mail's outcome is being written, waiting for a row lock."""
    waiting: int = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND wait_event_type = 'Lock' AND query LIKE '%UPDATE notifications SET%'"
    )
    return waiting > 0


async def test_an_attempt_cancelled_once_its_mail_went_over_keeps_its_claim(
    settings: Settings, resources: Any
) -> None:
    """An attempt cancelled (its worker shutting down) while the server holds
    the message it was given, unanswered, may have left the mail there: its
    claim is left to lapse, as a dead attempt's, and the retry does not send
    the mail at once. Before, the claim was ended and the retry sent a second
    copy at once. (One stopped before its message went over ends its claim:
    ``test_mail_claim_renewal``.)"""
    pool, _ = resources
    mail = note([Role.SITE])
    async with held_server() as server:
        sender = notifier(settings, resources, server.port)
        cut = asyncio.create_task(sender.notify(mail))
        await until(lambda: server.arrived == 1)
        cut.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cut
        row = await claim_of(pool, mail)
        assert row["sent_at"] is None and row["sending_since"] is not None

        with pytest.raises(ApplicationError) as retried:
            await sender.notify(mail)
        assert retried.value.type == BEING_SENT
        assert server.arrived == 1


async def test_an_attempt_cancelled_while_recording_records_the_mail_it_sent(
    settings: Settings, resources: Any
) -> None:
    """Regression: an attempt cancelled (its worker shutting down) once the
    server had taken its mail, while recording it, lost the record with it;
    the mail kept its claim and no ``sent_at``, and was sent again once the
    claim had lapsed."""
    pool, _ = resources
    mail = note([Role.SITE])
    async with held_server() as server:
        sender = notifier(settings, resources, server.port)
        attempt = asyncio.create_task(sender.notify(mail))
        await until(lambda: server.arrived == 1)
        async with pool.acquire() as conn, conn.transaction():
            # The row held: the attempt's record waits for it, and is cancelled.
            await conn.execute(
                "SELECT 1 FROM notifications WHERE idempotency_key = $1 FOR UPDATE",
                mail.idempotency_key,
            )
            server.let_through(0)
            await eventually(lambda: recording_waits(pool))
            attempt.cancel()
            with pytest.raises(asyncio.CancelledError):
                await attempt
        assert len(server.taken) == 1

    async def recorded() -> bool:
        return (await claim_of(pool, mail))["sent_at"] is not None

    await eventually(recorded)
    assert (await claim_of(pool, mail))["sending_since"] is None


async def test_a_store_that_hangs_holds_neither_the_worker_nor_a_claim(
    settings: Settings, resources: Any
) -> None:
    """Regression: a mail's attachments were read on the worker's event loop
    with no time limit: a document store that hung (a network mount gone
    away) froze every activity of the worker, the claim held all along. They
    are read in a thread, before the claim is taken."""
    pool, store = resources
    content = f"plan,passed\n{unique_plan_id()},1\n".encode()
    ref = store.put(content, filename="report.csv", media_type="text/csv")
    path = store.path_of(ref)
    path.unlink()
    os.mkfifo(path)  # read, it hangs until written
    hang = 2.0

    def store_back() -> None:
        time.sleep(hang)
        path.write_bytes(content)

    threading.Thread(target=store_back, daemon=True).start()
    mail = note([Role.SITE], attachments=[ref])
    loop = asyncio.get_running_loop()
    try:
        async with held_server() as server:
            server.release.set()
            sender = notifier(settings, resources, server.port)
            started = loop.time()
            attempt = asyncio.create_task(sender.notify(mail))
            longest, claims = 0.0, []
            while not attempt.done():
                before = loop.time()
                await asyncio.sleep(0.05)
                longest = max(longest, loop.time() - before)
                if loop.time() - started < hang - 0.5:  # the store hangs
                    claims.append((await claim_of(pool, mail))["sending_since"])
            await attempt
            assert len(server.taken) == 1
    finally:
        path.unlink()
        store.put(content, filename="report.csv", media_type="text/csv")
    assert longest < hang / 2
    assert claims and set(claims) == {None}
