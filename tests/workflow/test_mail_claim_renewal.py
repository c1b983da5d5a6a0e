"""The claim on a mail being sent is renewed by its live holder, and lapses soon
after its holder dies.

Operator trial: after a worker was killed while sending a mail, the plan's
mails waited the claim's whole ten minutes, and the retry logged every minute,
with a traceback, that the mail was "being sent by an earlier attempt ... still
running", though that attempt's worker was dead. The holder now renews its
claim every few seconds while it sends, so the claim can lapse within 20 s of
its death; a live attempt keeps it however slow the server. One
that cannot renew it (taken over, or the database out of reach) stops its send.
The retry says in one line when the claim was renewed and when it lapses.

The intervals are shortened here (a renewal every 0.2 s, a 1.5 s lapse); the
mail server is a real SMTP server on loopback holding each message, the
database real.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.testing import ActivityEnvironment

import activities.notify as notify
from activities.db import create_pool
from activities.notify import Mailer, Notifier
from certflow.activity_models import Notification
from certflow.config import Settings
from certflow.models import Role
from tests.support import waiting_on_locks
from tests.workflow.test_mail_overlap import (
    ACCEPTED,
    HeldServer,
    claim_of,
    held_server,
    settled_sent,
    until,
)
from tests.workflow.test_mail_refused import note, notifier
from worker import claim_renewals

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

BEING_SENT = "mail_being_sent"
CLAIM_LOST = "mail_claim_lost"


class HeldAtRecipient(HeldServer):
    """A server holding each mail before it is handed over (at RCPT TO)."""

    dropped = 0

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        self.arrived += 1
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.dropped += 1  # the sender went away
            raise
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.taken.append(envelope.original_content or b"")
        return ACCEPTED


@contextlib.asynccontextmanager
async def attempt_held_at_recipient(
    settings: Settings, resources: Any
) -> AsyncIterator[tuple[Notification, HeldAtRecipient, Notifier, asyncio.Task[None]]]:
    """An attempt sending a new mail, held by the server before it is handed
    over: the mail, the server, the sender and the attempt."""
    mail = note([Role.SITE])
    server = HeldAtRecipient()
    async with held_server(server):
        sender = notifier(settings, resources, server.port)
        attempt = asyncio.create_task(sender.notify(mail))
        await until(lambda: server.arrived == 1)
        yield mail, server, sender, attempt


async def lock_row(conn: Any, mail: Notification) -> None:
    """Hold the mail's row in ``conn``'s transaction: renewals wait for it."""
    await conn.execute(
        "SELECT 1 FROM notifications WHERE idempotency_key = $1 FOR UPDATE",
        mail.idempotency_key,
    )


async def test_two_live_attempts_send_a_mail_once_while_the_first_renews_its_claim(
    settings: Settings, resources: Any, short_claims: timedelta
) -> None:
    """Regression: without renewal, a claim held past its lapse by a live
    attempt (a server slow to answer) was taken over, and the mail sent twice.
    The first attempt holds the mail at the server for twice the lapse; the
    second, started then, finds the claim renewed and does not send."""
    pool, _ = resources
    mail = note([Role.SITE])
    async with held_server() as server:
        sender = notifier(settings, resources, server.port)
        first = asyncio.create_task(sender.notify(mail))
        await until(lambda: server.arrived == 1)
        await asyncio.sleep(2 * short_claims.total_seconds())

        with pytest.raises(ApplicationError) as raised:
            await sender.notify(mail)
        server.let_through(0)
        await first
        await sender.notify(mail)  # the next retry finds it sent

        assert server.arrived == 1 and len(server.taken) == 1
    assert raised.value.type == BEING_SENT
    assert await settled_sent(pool, mail)


async def test_racing_attempts_take_the_claim_once(
    settings: Settings, resources: Any, short_claims: timedelta
) -> None:
    """Two live attempts started together: one takes the claim and sends."""
    pool, _ = resources
    mail = note([Role.SITE])
    async with held_server() as server:
        server.release.set()
        sender = notifier(settings, resources, server.port)
        done = await asyncio.gather(
            sender.notify(mail), sender.notify(mail), return_exceptions=True
        )
        assert len(server.taken) == 1
    errors = [e for e in done if e is not None]
    assert all(isinstance(e, ApplicationError) and e.type == BEING_SENT for e in errors)
    assert await settled_sent(pool, mail)


async def test_an_attempt_whose_claim_was_taken_over_does_not_send(
    settings: Settings, resources: Any, short_claims: timedelta
) -> None:
    """The claim taken over while the attempt waits for the server, before it
    hands the mail over: the attempt stops, sends nothing, and leaves the claim
    to its new holder."""
    pool, _ = resources
    async with attempt_held_at_recipient(settings, resources) as held:
        mail, server, _, attempt = held
        # Another attempt's claim, as if this one's had lapsed and been taken.
        newer = await pool.fetchval(
            "UPDATE notifications SET sending_since = now() + interval '1 hour'"
            " WHERE idempotency_key = $1 RETURNING sending_since",
            mail.idempotency_key,
        )
        with pytest.raises(ApplicationError) as raised:
            await attempt
    assert raised.value.type == CLAIM_LOST
    assert raised.value.category == ApplicationErrorCategory.BENIGN
    assert server.taken == []
    row = await claim_of(pool, mail)
    assert row["sent_at"] is None and row["sending_since"] == newer


async def test_an_attempt_that_cannot_renew_its_claim_stops_before_it_lapses(
    settings: Settings, resources: Any, short_claims: timedelta
) -> None:
    """The mail's row locked (renewals wait), while the server holds the mail
    before it is handed over: the attempt stops within the lapse, unsent, and
    ends its claim."""
    pool, _ = resources
    loop = asyncio.get_running_loop()
    async with attempt_held_at_recipient(settings, resources) as held:
        mail, server, _, attempt = held
        started = loop.time()
        async with pool.acquire() as conn, conn.transaction():
            await lock_row(conn, mail)
            # The attempt hangs up; it ends once it can write to the row again.
            await until(lambda: server.dropped == 1)
            stopped = loop.time() - started
        with pytest.raises(ApplicationError) as raised:
            await attempt
    assert raised.value.type == CLAIM_LOST
    assert stopped < short_claims.total_seconds()
    assert server.taken == []
    # Its claim ended (once the renewal under way was made): the retry goes.
    assert (await claim_of(pool, mail))["sending_since"] is None


async def test_a_retry_finding_the_claim_says_when_it_lapses_in_one_line(
    settings: Settings,
    resources: Any,
    smtp_port: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression: the retry said the mail was being sent by an attempt "timed
    out but still running", at INFO, and the SDK logged its traceback each
    minute, though that attempt's worker was dead. It now says, in one WARNING
    line without a traceback, when the claim was renewed and lapses, that its
    holder may have died, and the error is benign (the SDK's line at DEBUG)."""
    pool, _ = resources
    mail = note([Role.SITE])
    with pytest.raises(ApplicationError):  # the mail server away: a row, unsent
        await notifier(settings, resources, smtp_port).notify(mail)
    since = await pool.fetchval(
        "UPDATE notifications SET sending_since = now() WHERE idempotency_key = $1"
        " RETURNING sending_since",
        mail.idempotency_key,
    )
    sender = notifier(settings, resources, settings.smtp.port)

    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="activities.notify"):
        with pytest.raises(ApplicationError) as raised:
            await ActivityEnvironment().run(sender.notify, mail)

    lines = [r for r in caplog.records if r.name == "activities.notify"]
    assert [r.levelno for r in lines] == [logging.WARNING]
    [line] = lines
    text = line.getMessage()
    assert line.exc_info is None
    held = notify.CST
    assert f"since {since.astimezone(held):%H:%M:%S} CST" in text
    lapses = since + notify.SEND_CLAIM
    assert f"lapses at {lapses.astimezone(held):%H:%M:%S} CST" in text
    assert "may have died with its worker" in text
    assert f"plan_id={mail.plan_id} template={mail.template} attempt=1" in text
    assert re.search(r"@|\.org|\.com", text) is None
    assert "still running" not in str(raised.value)
    assert raised.value.type == BEING_SENT
    assert raised.value.category == ApplicationErrorCategory.BENIGN


async def test_an_attempt_stopped_before_handing_its_mail_over_ends_its_claim(
    settings: Settings, resources: Any, short_claims: timedelta
) -> None:
    """Regression: an attempt cancelled (its worker shutting down) while one of
    its renewals was under way left that renewal running, cancelled but not
    awaited: the renewal moved the claim on after the attempt had ended it by
    the time it last knew, so the claim stayed, and the retry waited for it to
    lapse. The attempt now waits for its renewal and ends the claim it holds:
    stopped before its mail went to the server, the retry sends it at once."""
    pool, _ = resources
    async with attempt_held_at_recipient(settings, resources) as held:
        mail, server, sender, attempt = held
        async with pool.acquire() as conn:
            # The mail's row held: the attempt's next renewal waits for it.
            await conn.execute("BEGIN")
            await lock_row(conn, mail)
            await waiting_on_locks(pool, 1)
            # The row let go, the renewal is made; before the attempt hears of
            # it (the event loop held meanwhile), the attempt is cancelled.
            committing = asyncio.create_task(conn.execute("COMMIT"))
            await asyncio.sleep(0)
            time.sleep(0.3)  # noqa: ASYNC251 (the loop held on purpose)
            attempt.cancel()
            await committing
        with pytest.raises(asyncio.CancelledError):
            await attempt
        assert server.taken == [] and server.dropped == 1

        row = await claim_of(pool, mail)
        assert row["sending_since"] is None and row["sent_at"] is None
        server.release.set()
        await sender.notify(mail)  # the retry, at once
        assert len(server.taken) == 1
    assert await settled_sent(pool, mail)


async def test_a_claim_is_renewed_while_every_connection_of_the_pool_is_held(
    settings: Settings, resources: Any, short_claims: timedelta
) -> None:
    """Regression (review): renewals went through the worker's pool, which up
    to 100 activities share with 10 connections; a renewal waiting there for
    a connection stopped the send once the claim had gone unrenewed for
    ``UNCONFIRMED``, and a send stopped after DATA may go out twice. They go
    through a pool of their own: with every connection of the worker's pool
    held, the claim is renewed and the send goes on."""
    _, store = resources
    mail = note([Role.SITE])
    server = HeldAtRecipient()
    async with (
        held_server(server),
        claim_renewals(settings) as renewals,
        contextlib.AsyncExitStack() as held,
    ):
        pool = await create_pool(settings.database_url, max_size=2)
        held.push_async_callback(pool.close)
        smtp = settings.smtp.model_copy(update={"port": server.port})
        sender = Notifier(
            settings.model_copy(update={"smtp": smtp}),
            pool,
            store,
            Mailer(smtp),
            renewals,
        )
        attempt = asyncio.create_task(sender.notify(mail))
        await until(lambda: server.arrived == 1)
        taken = (await claim_of(renewals, mail))["sending_since"]
        # Busy activities hold every connection of the worker's pool.
        busy = [await pool.acquire() for _ in range(2)]
        await asyncio.sleep(2 * short_claims.total_seconds())
        renewed = (await claim_of(renewals, mail))["sending_since"]
        going_on = not attempt.done() and server.dropped == 0
        for conn in busy:
            await pool.release(conn)
        server.release.set()
        await asyncio.wait({attempt})

        assert renewed > taken and going_on
        assert attempt.exception() is None
        assert len(server.taken) == 1
        assert await settled_sent(renewals, mail)
