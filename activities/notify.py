"""E-mail to the parties of a plan, through a real SMTP server.

Texts come from the mail templates of the message catalogue; recipients come
from configuration by role (and by site code for the site). Each notification
has an idempotency key, so an activity retried after a crash does not send again
a mail that was already delivered; and the attempt sending a mail claims it on
its row (``SendClaim``), so a retry started while an earlier attempt, timed
out but not stopped, is still sending it does not send it too.

A failure is retried only when it may pass and would hold every mail alike (the
server away or busy, a 4xx answer, its credentials or sender refused, relaying
or authentication refused: operators fix those, and the mails then follow in
order). A mail the server will never take (every recipient or the message
refused with a 5xx code) or cannot be written (its attachment damaged in the
store) is given up: retried for ever, it would hold back every later mail of
its plan. Its row in ``notifications`` says
why, as it does for a mail some of whose recipients were refused. An attachment
missing from the store is waited for: it may come back (the store mounted again
or restored). A mail given up or partly refused is kept with its row, and an
admin can send it again once its cause is fixed (``resend``, through the
``ResendMailWorkflow``), to the roles that did not get it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, TypeVar

import aiosmtplib
import asyncpg
from aiosmtplib import SMTPResponse
from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from activities.documents import DocumentDamaged, DocumentNotFound, DocumentStore
from activities.heartbeat import HEARTBEAT_EVERY, HEARTBEAT_TIMEOUT, beats_while_running
from certflow import correction_details
from certflow.activity_models import Notification, ResendOutcome, ResendRequest
from certflow.config import Settings, SmtpSettings
from certflow.i18n import catalogue, t
from certflow.models import Role
from certflow.text import visible
from certflow.timeutil import CST

log = logging.getLogger(__name__)

T = TypeVar("T")

# How the workflows retry a mail: until it is sent or given up (the idempotency
# key keeps a retry from sending twice), and at least once a minute, so the
# mails follow within a minute once an absent mail server answers again.
MAIL_RETRY = RetryPolicy(maximum_interval=timedelta(minutes=1))

# How long an attempt's claim to send a mail holds unless renewed (see
# ``SendClaim``). The attempt ends the claim itself: recorded, or failed to be
# retried. Only one that died half-way (its worker killed) leaves it, and its
# mail then waits for it to lapse. A live attempt renews it every
# ``RENEW_EVERY`` while it talks to the mail server, so however slow the server
# is, another attempt finds the claim held: a retry of one past its two-minute
# start-to-close (cancelled at its next heartbeat, it may still be sending), or
# of one whose heartbeats did not reach the Temporal server.
#
# The mail activities heartbeat (activities/heartbeat.py): the server retries a
# dead worker's attempt once no heartbeat has come for ``HEARTBEAT_TIMEOUT``.
# Heartbeats reach the server every ``HEARTBEAT_EVERY``, so the last one came
# at most that long before the death, and the retry starts at the earliest
# ``HEARTBEAT_TIMEOUT - HEARTBEAT_EVERY`` (20 s) after it, plus the retry's
# first interval (1 s). The claim was last renewed at the latest at the death,
# so it lapses at the latest this long after: the retry finds it lapsed and
# sends the mail at once, 21 to 31 s after the death. (It was 90 s, below the
# activities' start-to-close of two minutes, after which the server retried
# while they did not heartbeat; ten minutes before renewals.) A mailbox poll's
# retry finds a reply's claim lapsed the same way, and answers the mail then
# instead of at the next poll. The price of the short claim: a send stops when
# the database has not answered its renewals for 16 s (``UNCONFIRMED``; it was
# 75 s), and is retried.
SEND_CLAIM = HEARTBEAT_TIMEOUT - HEARTBEAT_EVERY
# How often the attempt holding a claim renews it: five chances before it
# lapses, four before the attempt stops its send (``UNCONFIRMED``).
RENEW_EVERY = SEND_CLAIM / 5
# How long an attempt goes on sending without its claim renewed (the database
# out of reach or slow to answer): stopped a renewal's length before the claim
# can lapse, so no other attempt holds it while this one hands its mail over.
UNCONFIRMED = SEND_CLAIM - RENEW_EVERY
# How long an attempt whose send ended waits for a renewal of its claim under
# way, so as to end the claim it holds; past this (the database slow or away)
# the renewal is cancelled, and the claim may be left to lapse. Below
# ``RENEW_EVERY``: an attempt whose mail went out as its claim had gone
# unrenewed for nearly ``UNCONFIRMED`` waits this long and still has the rest
# of a renewal's length (2 s) to record the mail before anyone may take the
# claim over.
RENEWAL_WAIT = RENEW_EVERY / 2
# The error type of a mail an earlier attempt is sending: retried until it is done.
BEING_SENT = "mail_being_sent"
# The error type of an attempt that stopped sending a mail, its claim lost.
CLAIM_LOST = "mail_claim_lost"

# The error types of a mail given up (see ``Notifier.notify``).
RECIPIENTS_REFUSED = "mail_recipients_refused"
MESSAGE_REFUSED = "mail_message_refused"
ATTACHMENT_DAMAGED = "mail_attachment_damaged"
# The error type of a mail waiting for its attachment to be back in the store.
ATTACHMENT_MISSING = "mail_attachment_missing"
# The error type of a resend to roles with no address configured.
NO_RECIPIENTS = "mail_no_recipients"
# The mails about one correction request (``fields["request_id"]``): they say
# what it asks, read from the database as they are written.
REQUEST_MAILS = frozenset(
    {
        "correction_received",
        "correction_approved",
        "correction_rejected",
        "correction_applied",
    }
)
# Of those, the outcome told to whoever asked: to the address the request came
# from (a mail's sender, ``correction submit --email``) when the site
# registered it, else to the site's addresses.
REQUESTER_MAILS = frozenset({"correction_rejected", "correction_applied"})
# What operators can do about each, after the reason.
_ADVICE = {
    RECIPIENTS_REFUSED: "Check the addresses configured for these roles.",
    MESSAGE_REFUSED: "Check the mail server's limits on size and content.",
    ATTACHMENT_DAMAGED: "Check the document store and its backups.",
}
# SMTP's answer to a MAIL FROM declaring a size above the server's limit
# (RFC 1870): about the message, not the sender, whatever the command.
_TOO_LARGE = 552


def template_defaults(template: str) -> dict[str, str]:
    """The fields a template fills in itself when a notification lacks them.

    A field a template gained later is missing from a notification a plan
    scheduled before (a retry after a deploy); ``mail.<template>.defaults``
    says what such a mail reads instead of failing for ever.
    """
    prefix = f"mail.{template}.defaults."
    return {
        key.removeprefix(prefix): text
        for key, text in catalogue().items()
        if key.startswith(prefix)
    }


# An enhanced status code (RFC 3463) opening a reply's text: class.subject.detail.
_ENHANCED = re.compile(r"\s*([245])\.(\d{1,3})\.(\d{1,3})\b")
# Basic codes of a refused or missing login (530 authentication required, 535
# credentials refused), whatever the command they answer.
_AUTH_CODES = frozenset({530, 535})
# Words of a policy refusal, for a server that gives no enhanced code (not
# "author": an address may hold it).
_POLICY_WORDS = re.compile(
    r"\b(?:un)?(?:relay\w*|auth|authenticat\w*|authori[sz]\w*)\b", re.IGNORECASE
)

# Words of a refusal of this mail's content, which a 5.7.x code may carry too
# ("554 5.7.1 Message rejected as spam"): no retry changes the content.
_CONTENT_WORDS = re.compile(r"\b(?:spam\w*|virus\w*|malware|phish\w*|content)\b", re.I)


def _policy(code: int, text: str) -> bool:
    """Whether a refusal is the server's policy or security (5.7.x), not the mail.

    "554 5.7.1 Relay access denied", "530 5.7.0 Authentication required" or
    Exchange's "550 5.7.1 Client was not authenticated" refuse every mail alike
    until the server or certflow's login to it is set right.
    """
    if code in _AUTH_CODES:
        return True
    if _CONTENT_WORDS.search(text) is not None:
        return False
    enhanced = _ENHANCED.match(text)
    if enhanced is not None:
        return enhanced.group(2) == "7"
    return _POLICY_WORDS.search(text) is not None


def _permanent(code: int, text: str) -> bool:
    """Whether a refusal is of this one mail for good (5xx, and not policy)."""
    return 500 <= code < 600 and not _policy(code, text)


def _codes(codes: list[int]) -> str:
    return ",".join(str(code) for code in sorted(set(codes)))


def undeliverable(err: aiosmtplib.SMTPException) -> tuple[str, str] | None:
    """The error type and reason of a refusal no retry can change; else None.

    Only refusals of this one mail count: every recipient refused with a 5xx
    code (a mistyped address), or the message itself (too large, its content
    rejected). A 4xx code may pass; a refused login or sender, a policy or
    security refusal (relaying denied, authentication required: 5.7.x, 530,
    535), or a server away, refuses every mail alike: those are retried,
    keeping the plan's order, until operators set the server right.
    """
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in err.recipients]
        if codes and all(_permanent(r.code, r.message) for r in err.recipients):
            reason = f"the mail server refused all {len(codes)} recipient(s)"
            return RECIPIENTS_REFUSED, f"{reason} (SMTP {_codes(codes)})"
    elif isinstance(err, aiosmtplib.SMTPDataError) and _permanent(
        err.code, err.message
    ):
        return MESSAGE_REFUSED, f"the mail server refused the message (SMTP {err.code})"
    elif isinstance(err, aiosmtplib.SMTPSenderRefused) and err.code == _TOO_LARGE:
        return (
            MESSAGE_REFUSED,
            f"the mail server refused the message as too large (SMTP {err.code})",
        )
    return None


# An address in a server's answer ("450 4.1.8 <alice@x.org>: Domain not found").
_ADDRESS = re.compile(r"[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")
# The error type of a mail the server refused for now, or for every mail alike.
REFUSED_FOR_NOW = "mail_refused_for_now"
# The error type of a mail the server did not answer for: refused connection,
# timed out, or dropped the session.
SERVER_AWAY = "mail_server_away"


def waiting(message: str, kind: str) -> ApplicationError:
    """The error a mail that waits is retried with: expected, said in one line.

    Benign: the SDK logs it at DEBUG instead of a warning with a traceback at
    every attempt of every plan (trial: 15 lines per plan per minute while the
    mail server was away); certflow logs one line of its own (``mail waits``).
    Retries are as for any failure (``MAIL_RETRY``).
    """
    return ApplicationError(
        message, type=kind, category=ApplicationErrorCategory.BENIGN
    )


def claim_held(since: datetime | None) -> str:
    """What an attempt finding a mail claimed can truthfully say of the claim.

    ``since`` is when the holder took or last renewed it. A live holder renews
    it every ``RENEW_EVERY``; one that died with its worker does not, and the
    claim lapses ``SEND_CLAIM`` later. Times in CST, to the second.
    """
    if since is None:
        return "its claim has just ended; the next attempt sends the mail or finds it."
    lapses = since + SEND_CLAIM
    return (
        f"it holds the send claim since {_clock(since)} CST, until it lapses at"
        f" {_clock(lapses)} CST unless renewed; that attempt may have died with its"
        " worker. The mail is sent then, or found sent."
    )


def _attempt() -> int:
    """This activity attempt's number; 0 for a method called outside one (a
    script or a test calling it itself)."""
    return activity.info().attempt if activity.in_activity() else 0


def _clock(instant: datetime) -> str:
    return instant.astimezone(CST).strftime("%H:%M:%S")


def retried(note: Notification, err: aiosmtplib.SMTPException | OSError) -> Exception:
    """The error a mail is retried with, without the addresses ``err`` names.

    The failure goes into the workflow's history, the Web UI and the worker's
    log: aiosmtplib's own text lists every refused recipient, and servers
    quote the address in their answer. A server away names only itself.
    """
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused):
        answers = [(r.code, r.message) for r in err.recipients]
    elif isinstance(err, aiosmtplib.SMTPResponseException):
        answers = [(err.code, err.message)]
    else:
        return waiting(
            f"Mail {note.template} of {_whose(note)} waits: the mail server did not"
            f" answer ({type(err).__name__}). Retried at least once a minute; check"
            " the server and [smtp] if it lasts.",
            SERVER_AWAY,
        )
    said = "; ".join(
        f"{code} {_ADDRESS.sub('<address>', text)}" for code, text in answers
    )
    return waiting(
        f"Mail {note.template} of {_whose(note)} waits: the mail server answered"
        f" {said}. Retried; check the server and [smtp] if it lasts.",
        REFUSED_FOR_NOW,
    )


def batch_of(note: Notification) -> str | None:
    """The approval batch a mail belongs to; None for a plan's mail.

    A batch's mails have no plan (``plan_id`` is ``-``) and name their batch
    among their fields.
    """
    if note.plan_id != "-":
        return None
    return note.fields.get("batch_id") or None


def _row(note: Notification, recipients: list[str]) -> tuple[Any, ...]:
    """The values a mail's ``notifications`` row is created with."""
    return (
        note.idempotency_key,
        note.plan_id,
        note.template,
        recipients,
        note.model_dump(mode="json"),
        batch_of(note),
    )


def _whose(note: Notification) -> str:
    """``plan P…``, or ``batch B…`` for an approval batch's mail (no plan)."""
    batch = batch_of(note)
    return f"batch {batch}" if batch else f"plan {note.plan_id}"


def log_not_sent(logger: logging.LoggerAdapter[Any], template: str, **ids: str) -> None:
    """Log, for a workflow, that a mail's activity gave it up (see ``given_up``).

    ``logger`` is the workflow's own (``workflow.logger``), so the line is not
    repeated on replay; ``ids`` name the plan or batch. Why is in the
    activity's failure and the mail's ``notifications`` row.
    """
    logger.error("mail not sent", extra={**ids, "template": template})


@dataclass(frozen=True)
class SendClaim:
    """One attempt's claim to send one mail, kept on the mail's row.

    An activity attempt that timed out is retried while it may still run (the
    worker stops it only at its next heartbeat, or never where its heartbeats
    do not reach the server): the retry found the mail not sent yet and sent
    it too. The claim is taken in one statement, so one attempt sends; another
    finds it taken and is retried (``BEING_SENT``) until the first has
    recorded what came of it, which ends the claim. The holder renews it
    while it sends (``Held``), so only the claim of an attempt that died
    lapses. ``pending`` is the SQL condition of a row still to be tried:
    neither sent nor given up. ``since`` is its column holding when the claim
    was taken or last renewed, ``sent`` the one holding when the mail went out.
    """

    table: str
    key: str
    pending: str
    since: str = "sending_since"
    sent: str = "sent_at"

    async def take(
        self, pool: asyncpg.Pool, key: str, renewals: asyncpg.Pool | None = None
    ) -> Held | None:
        """Claim the mail for this attempt, or None when another attempt holds
        it or it is no longer to be sent. ``renewals`` is the pool its renewals
        go through (see ``Held``), ``pool`` if None."""
        asked = asyncio.get_running_loop().time()
        claimed: datetime | None = await pool.fetchval(
            f"UPDATE {self.table} SET {self.since} = now()"
            f" WHERE {self.key} = $1 AND {self.pending} AND ({self.since} IS NULL"
            f" OR {self.since} < now() - $2::interval) RETURNING {self.since}",
            key,
            SEND_CLAIM,
        )
        if claimed is None:
            return None
        return Held(self, pool, key, claimed, asked, renewals)

    async def renew(
        self, pool: asyncpg.Pool, key: str, since: datetime
    ) -> datetime | None:
        """Renew this attempt's claim, held ``since``: from when it is held
        now, or None if it lapsed and another attempt took it over.

        A mail withdrawn or recorded meanwhile keeps its claim renewed: the
        attempt holding it sends it to the end, as one not told would (a
        withdrawal never cuts a send in half).
        """
        renewed: datetime | None = await pool.fetchval(
            f"UPDATE {self.table} SET {self.since} = now()"
            f" WHERE {self.key} = $1 AND {self.since} = $2 RETURNING {self.since}",
            key,
            since,
        )
        return renewed

    async def holder(self, pool: asyncpg.Pool, key: str) -> datetime | None:
        """When the claim on the mail was taken or last renewed; None if none."""
        since: datetime | None = await pool.fetchval(
            f"SELECT {self.since} FROM {self.table} WHERE {self.key} = $1", key
        )
        return since

    async def record(
        self,
        pool: asyncpg.Pool,
        key: str,
        since: datetime,
        outcome: str,
        *values: object,
        sent: bool,
    ) -> bool:
        """Record what came of this attempt's send, ending its claim; False if
        the claim was lost meanwhile, and nothing but ``sent`` was recorded.

        ``outcome`` sets the row's columns from ``values`` (``$2`` on). A claim
        is lost by an attempt alive past ``SEND_CLAIM``: another attempt may
        have taken it over, sent the mail and recorded what came of it, or be
        sending it now, and its outcome is the one kept. Only the fact that
        this attempt's mail went out is recorded, when it did: a mail sent is
        never sent again, whatever the other attempt meets. The write goes on
        when the attempt is cancelled meanwhile (its worker shutting down): a
        mail the server took is recorded, and its claim ended, all the same.
        """
        return await asyncio.shield(
            self._record(pool, key, since, outcome, values, sent)
        )

    async def _record(
        self,
        pool: asyncpg.Pool,
        key: str,
        since: datetime,
        outcome: str,
        values: tuple[object, ...],
        sent: bool,
    ) -> bool:
        held = f"${len(values) + 2}"
        recorded = await pool.fetchval(
            f"UPDATE {self.table} SET {outcome}, {self.since} = NULL"
            f" WHERE {self.key} = $1 AND {self.since} = {held} AND {self.pending}"
            " RETURNING true",
            key,
            *values,
            since,
        )
        if recorded:
            return True
        if sent:
            await pool.execute(
                f"UPDATE {self.table} SET {self.sent} = now()"
                f" WHERE {self.key} = $1 AND {self.sent} IS NULL",
                key,
            )
        # Still ours where an attempt that had lost it recorded the mail sent.
        await self.release(pool, key, since)
        log.warning(
            "mail outcome left to another attempt table=%s sent=%s", self.table, sent
        )
        return False

    async def release(self, pool: asyncpg.Pool, key: str, since: datetime) -> None:
        """End this attempt's claim without an outcome, so a retry sends at once.

        A claim taken over since (it had lapsed) stays with its new holder.
        Where the database cannot be reached, the claim lapses on its own.
        """
        try:
            await pool.execute(
                f"UPDATE {self.table} SET {self.since} = NULL"
                f" WHERE {self.key} = $1 AND {self.since} = $2",
                key,
                since,
            )
        except (asyncpg.PostgresError, OSError) as err:
            log.warning(
                "mail claim left to lapse table=%s error=%s",
                self.table,
                type(err).__name__,
            )


class ClaimLost(Exception):
    """An attempt stopped its send: its claim was taken over, or went unrenewed
    so long that it could lapse. The text says which, naming no address."""


class Held:
    """An attempt's claim on one mail, renewed while the attempt sends it.

    The renewal is a task beside the SMTP exchange, which awaits the network
    only (aiosmtplib; the message is written before the claim is taken), so
    nothing the send does keeps it from running. Renewals go through a pool of
    their own (``renewals``; the worker's, see ``activities.db.RENEWAL_POOL``),
    so that activities holding every connection of the worker's pool do not
    keep them waiting: one that cannot be made (the database out of reach or
    slow) is tried again at the next turn, and a claim unrenewed for
    ``UNCONFIRMED`` stops the send, while it is still surely this attempt's.
    So does a claim found taken over. ``since`` is the claim's current value,
    which ``SendClaim.record`` and ``release`` match.
    """

    def __init__(
        self,
        claim: SendClaim,
        pool: asyncpg.Pool,
        key: str,
        since: datetime,
        confirmed: float,
        renewals: asyncpg.Pool | None = None,
    ) -> None:
        self.claim = claim
        self.pool = pool
        self.renewals = renewals or pool
        self.key = key
        self.since = since
        # The event loop's time a renewal (or the take) that held was asked.
        self.confirmed = confirmed
        self.lost = False
        # The attempt's cancellation, put off while its outcome is recorded.
        self.cancelled: asyncio.CancelledError | None = None

    async def sending(self, work: Awaitable[T]) -> T:
        """Await ``work`` (the SMTP exchange) while renewing the claim.

        ``work`` is cancelled, and ``ClaimLost`` raised, when the claim is
        taken over or left unrenewed for ``UNCONFIRMED``; one that ended all
        the same (the server took the mail as it was stopped) is returned.
        When the attempt itself is cancelled (its heartbeat brought the
        workflow's cancellation, or word that the server gave the attempt up;
        its worker shutting down), ``work`` is cancelled too; one that ended
        all the same, the server's answer heard, is returned, for the caller
        to record it (``record``), where the cancellation goes on. However the
        attempt ends, ``work`` and the renewals have ended when this returns or
        raises, so that ``since`` is the claim's value when the outcome is
        recorded or the claim released.
        """
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(work)
        stop = asyncio.Event()
        renewing = asyncio.create_task(self._renew(stop))
        try:
            try:
                while not task.done():
                    left = self.confirmed + UNCONFIRMED.total_seconds() - loop.time()
                    if self.lost or left <= 0:
                        return await self._stop(task)
                    # Renewals end early only with the claim lost, seen above.
                    watched = {task} if renewing.done() else {task, renewing}
                    await asyncio.wait(
                        watched, timeout=left, return_when=asyncio.FIRST_COMPLETED
                    )
            finally:
                await self._end(task, renewing, stop)
        except asyncio.CancelledError as cancelled:
            if not _answered(task):
                raise
            # Put off until the outcome is recorded: a mail the server took,
            # left unrecorded, would be sent again once the claim lapsed.
            self.cancelled = cancelled
        return task.result()

    async def record(self, outcome: str, *values: object, sent: bool) -> bool:
        """Record what came of this attempt's send, ending its claim; False if
        the claim was lost meanwhile (see ``SendClaim.record``).

        An attempt cancelled once its send had ended (``sending``) ends
        cancelled here, its outcome recorded.
        """
        recorded = await self.claim.record(
            self.pool, self.key, self.since, outcome, *values, sent=sent
        )
        if self.cancelled is not None:
            log.warning(
                "mail outcome recorded as its attempt was cancelled table=%s sent=%s",
                self.claim.table,
                sent,
            )
            raise self.cancelled
        return recorded

    async def _end(
        self, task: asyncio.Future[T], renewing: asyncio.Task[None], stop: asyncio.Event
    ) -> None:
        """End the send, hung up if it still runs (the attempt cancelled), and
        the renewals. A renewal under way is waited for: made and not heard
        of, it would leave ``since`` behind the claim, which then could be
        neither recorded nor released, and a retry would wait for it to lapse.
        One that takes longer than ``RENEWAL_WAIT`` is cancelled, and so are
        they all when this is interrupted: never a claim renewed for ever."""
        stop.set()
        try:
            if not task.done():
                task.cancel()
            await asyncio.wait({task})
            await asyncio.wait({renewing}, timeout=RENEWAL_WAIT.total_seconds())
        finally:
            renewing.cancel()  # none left running, whatever happens
        await asyncio.wait({renewing})

    async def end_unsent(self, handover: Handover) -> None:
        """End the claim of a send that ended without the mail sent, so that
        a retry sends it at once; unless the mail may be with the server.

        A send stopped or failed once its message went to the server, and
        before the server answered it, may have left the mail there: its claim
        is then left to lapse, as a dead attempt's, and the retry sends the
        mail after it (its people may get it twice). A claim lost to another
        attempt is that attempt's. A send the server answered, taking the mail
        or refusing it, is none of these: its outcome is recorded, also when
        its attempt was cancelled as it ended (see ``sending``).
        """
        if self.lost:
            return
        if handover.possible:
            log.warning(
                "mail claim left to lapse table=%s: the send ended after the"
                " message went to the server, which may have taken it",
                self.claim.table,
            )
            return
        await self.claim.release(self.pool, self.key, self.since)

    async def _stop(self, task: asyncio.Future[T]) -> T:
        task.cancel()
        # Waited for, not awaited: a cancellation of the attempt meanwhile is
        # its own, not the send's, and goes on.
        await asyncio.wait({task})
        if not task.cancelled():
            return task.result()  # ended all the same: its outcome, or its error
        if self.lost:
            raise ClaimLost("another attempt took its claim over")
        raise ClaimLost(
            f"its claim went unrenewed for {UNCONFIRMED.total_seconds():.0f} s"
            " (the database out of reach or slow)"
        )

    async def _renew(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                await asyncio.wait_for(stop.wait(), RENEW_EVERY.total_seconds())
                return
            except TimeoutError:
                pass
            asked = loop.time()
            try:
                since = await self.claim.renew(self.renewals, self.key, self.since)
            except Exception as err:  # whatever it is, the claim is not renewed
                log.warning(
                    "mail claim not renewed table=%s error=%s",
                    self.claim.table,
                    type(err).__name__,
                )
                continue
            if since is None:
                self.lost = True
                return
            self.since, self.confirmed = since, asked


def _answered(task: asyncio.Future[Any]) -> bool:
    """Whether the send ``task`` ended with an outcome, the server's answer heard."""
    return task.done() and not task.cancelled() and task.exception() is None


# Neither sent nor given up: a mail given up is sent again only by an admin's
# resend, never by an attempt of the activity that gave it up. Nor is a mail
# its plan withdrew claimed (migration 014).
_PENDING = "sent_at IS NULL AND failure IS NULL"
NOTIFICATION_CLAIM = SendClaim(
    "notifications", "idempotency_key", f"{_PENDING} AND withdrawn_at IS NULL"
)
RESEND_CLAIM = SendClaim("notification_resends", "resend_key", _PENDING)


class Handover:
    """Whether one SMTP exchange may have handed its message to the server.

    ``possible`` is set as the message's transfer begins (SMTP ``DATA``), and
    cleared when the server answers it with a refusal; ``taken`` is set when
    it answers that it took the message. A send that ends in between, stopped
    or failed without the server's answer, may have left the mail with the
    server; before it, or refused, the mail certainly did not go; taken, it
    went, whatever becomes of the rest of the exchange.
    """

    def __init__(self) -> None:
        self.possible = False
        self.taken = False


class _TellingSMTP(aiosmtplib.SMTP):
    """aiosmtplib's client, telling ``handover`` when its message may be with
    the server."""

    def __init__(self, handover: Handover, **options: Any) -> None:
        super().__init__(**options)
        self.handover = handover

    async def data(self, message: str | bytes, /, **options: Any) -> SMTPResponse:
        self.handover.possible = True
        try:
            answer = await super().data(message, **options)
        except aiosmtplib.SMTPResponseException:
            self.handover.possible = False  # the server refused it
            raise
        self.handover.taken = True
        return answer


class Mailer:
    """Sends one message over SMTP with the configured server and credentials."""

    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp

    async def send(
        self, message: EmailMessage, handover: Handover | None = None
    ) -> dict[str, SMTPResponse]:
        """Send ``message``; return the recipients refused while others took it.

        Each step of the exchange times out after 30 s. A send cancelled (its
        claim lost, its attempt cancelled) hangs up at once: ending politely
        with QUIT waited up to 30 s more for a server that had stopped
        answering, the connection open all along. ``handover`` is told when
        the message may be with the server, and when the server took it: the
        send then returns, also when its QUIT is cut short (cancelled, or the
        server gone), as the mail went out all the same.
        """
        told = handover or Handover()
        client = _TellingSMTP(
            told,
            hostname=self.smtp.host,
            port=self.smtp.port,
            username=self.smtp.username,
            password=self.smtp.password,
            start_tls=self.smtp.starttls,
            timeout=30,
        )
        refused: dict[str, SMTPResponse] = {}
        try:
            async with client:
                try:
                    refused, _ = await client.send_message(message)
                except asyncio.CancelledError:
                    client.close()
                    raise
        except (aiosmtplib.SMTPException, OSError, asyncio.CancelledError):
            if not told.taken:
                raise
            client.close()
        return refused


def message_id(idempotency_key: str) -> str:
    """The Message-ID of the mail keyed ``idempotency_key``, from its key alone."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    return f"<{digest}@certflow.local>"


def partly_refused(codes: list[int], recipients: int, roles: list[str]) -> str:
    """The failure recorded for a mail the server took for only some recipients.

    ``codes`` are the refusals' SMTP codes, one per refused recipient;
    ``roles`` name whose configured addresses they were, never the addresses.
    """
    return (
        f"Sent to {recipients - len(codes)} of {recipients} recipient(s):"
        f" the mail server refused {len(codes)} (SMTP {_codes(codes)}), configured"
        f" for {','.join(roles)}. {_ADVICE[RECIPIENTS_REFUSED]}"
    )


def _not_sent(reason: str, kind: str) -> str:
    """The failure recorded for a mail given up (``kind``), naming no address."""
    return f"Not sent: {reason}. {_ADVICE[kind]}"


def _reason_of(failure: str, kind: str) -> str:
    """The reason ``_not_sent`` wrote into ``failure``, for a mail found given up;
    the whole text where it was written otherwise (before the kinds were kept)."""
    advice = f". {_ADVICE[kind]}" if kind in _ADVICE else None
    text = failure.removeprefix("Not sent: ")
    if advice is None or advice not in text:
        return failure
    return text.partition(advice)[0]


@dataclass(frozen=True)
class Delivery:
    """What came of sending one mail (a failure that may pass is raised instead).

    ``refused_roles`` are the roles whose configured addresses the server
    refused: every role of the mail when it was given up. ``failure`` is the
    text kept for operators, naming roles and codes, never an address.
    """

    sent: bool
    refused_roles: list[str] = field(default_factory=list)
    failure: str | None = None
    failure_type: str | None = None
    # Why a mail given up was given up; the SMTP codes of partial refusals.
    reason: str = ""
    codes: list[int] = field(default_factory=list)

    def values(self) -> tuple[object, ...]:
        """``sent``, ``failure``, ``failure_type``, ``refused_roles``, for a row."""
        return self.sent, self.failure, self.failure_type, self.refused_roles or None


def without_address(delivery: Delivery, roles: list[str]) -> Delivery:
    """``delivery`` with ``roles``, which have no address configured, missed.

    A mail to nobody at all is not sent; one some of whose roles have
    addresses went to those. Either way the roles without one are recorded
    among those who did not get it.
    """
    if not roles:
        return delivery
    missed = f"No address is configured for {','.join(roles)}."
    return Delivery(
        sent=delivery.sent,
        refused_roles=[*delivery.refused_roles, *roles],
        failure=f"{delivery.failure} {missed}" if delivery.failure else missed,
        failure_type=delivery.failure_type or NO_RECIPIENTS,
        reason=delivery.reason,
        codes=delivery.codes,
    )


def _log(what: str, note: Notification, delivery: Delivery) -> None:
    """Log what came of a mail (``what``: ``mail``, ``mail resend``); no address."""
    if delivery.failure is None:
        log.info("%s sent plan_id=%s template=%s", what, note.plan_id, note.template)
    elif delivery.sent:
        log.warning(
            "%s partly refused plan_id=%s template=%s refused=%d codes=%s roles=%s",
            what,
            note.plan_id,
            note.template,
            len(delivery.codes),
            _codes(delivery.codes),
            ",".join(delivery.refused_roles),
        )
    else:
        log.error(
            "%s given up plan_id=%s template=%s roles=%s type=%s",
            what,
            note.plan_id,
            note.template,
            ",".join(role.value for role in note.roles),
            delivery.failure_type,
        )


# A resend recorded, with its audit line; the existing row's outcome if any.
_INSERT_RESEND = """
    INSERT INTO notification_resends (resend_key, notification, attempt, roles,
        recipients, requested_by, requested_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (resend_key) DO UPDATE SET recipients = CASE
        WHEN notification_resends.sent_at IS NULL
            AND notification_resends.failure IS NULL
        THEN EXCLUDED.recipients ELSE notification_resends.recipients END
    RETURNING sent_at, failure, failure_type, refused_roles
"""
_INSERT_AUDIT = """
    INSERT INTO audit (plan_id, action, role, person, at, accepted, late, details,
                       idempotency_key)
    VALUES ($1, $2, 'admin', $3, $4, true, false, $5, $6)
    ON CONFLICT (idempotency_key) DO NOTHING
"""
# What the attempt holding a mail's claim records of it, from ``Delivery.values``
# and the recipients (``SendClaim.record``): whom this attempt sent it to, as a
# retry that came meanwhile may have written its own configuration's addresses.
_NOTIFICATION_OUTCOME = """
    sent_at = CASE WHEN $2 THEN now() END, failure = $3, failure_type = $4,
    refused_roles = $5, failed_at = CASE WHEN $3::text IS NOT NULL THEN now() END,
    recipients = $6
"""
_RESEND_RECORD = """
    sent_at = CASE WHEN $2 THEN now() END, failure = $3, failure_type = $4,
    refused_roles = $5, recipients = $6
"""
# What came of a resend attempt, as ``_recorded`` reads it.
_RESEND_OUTCOME = """
    SELECT sent_at, failure, failure_type, refused_roles FROM notification_resends
"""


def _recorded(row: asyncpg.Record | None) -> Delivery | None:
    """What came of a resend attempt already tried to the end; None if not."""
    if row is None or (row["sent_at"] is None and row["failure"] is None):
        return None
    return Delivery(
        sent=row["sent_at"] is not None,
        refused_roles=list(row["refused_roles"] or []),
        failure=row["failure"],
        failure_type=row["failure_type"],
    )


# The audit action of an admin's resend of a mail.
RESEND_ACTION = "resend_mail"
# The error type of a resend of a mail whose content was not kept.
NOT_KEPT = "mail_not_kept"


class Notifier:
    """The notification activity: template + roles -> one mail to all recipients."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        store: DocumentStore,
        mailer: Mailer,
        renewals: asyncpg.Pool | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.store = store
        self.mailer = mailer
        # The pool the claims' renewals go through (see ``Held``).
        self.renewals = renewals or pool

    def addresses(self, role: Role, site_code: str | None) -> list[str]:
        """The configured addresses of one role; the site's by site code."""
        if role is Role.SITE:
            return self.settings.site_recipients.get(site_code or "", [])
        if role is Role.ADMIN:
            return self.settings.admins
        return self.settings.recipients.get(role, [])

    def recipients(self, roles: list[Role], site_code: str | None) -> list[str]:
        """The addresses of the given roles, each once."""
        found = [a for role in roles for a in self.addresses(role, site_code)]
        return list(dict.fromkeys(found))

    def recipients_of(self, note: Notification) -> list[str]:
        """Whom ``note`` goes to: its own addresses (a requester's), else
        its roles'."""
        if note.to:
            return list(dict.fromkeys(note.to))
        return self.recipients(note.roles, note.site_code)

    def unaddressed(self, note: Notification) -> list[str]:
        """The roles of ``note`` with no address configured: they miss it."""
        if note.to:
            return []
        return [
            role.value
            for role in note.roles
            if not self.addresses(role, note.site_code)
        ]

    def roles_of(self, note: Notification, addresses: set[str]) -> list[str]:
        """The roles of ``note`` configured with any of ``addresses``; all of
        them for a mail to its own addresses, any of which is among them."""
        wanted = {address.casefold() for address in addresses}
        if note.to:
            reached = any(a.casefold() in wanted for a in note.to)
            return [role.value for role in note.roles] if reached else []
        return [
            role.value
            for role in note.roles
            if any(a.casefold() in wanted for a in self.addresses(role, note.site_code))
        ]

    async def described(self, note: Notification) -> Notification:
        """``note`` with what its correction request asks, and, for a mail
        to the requester, the requester's address when the site registered
        it (see ``certflow.correction_details``); as it is for any other mail.

        Read when the mail is written: the plan names the request only. A
        request not (or no more) in the database leaves the mail as the
        template's defaults say it.
        """
        request_id = note.fields.get("request_id")
        if note.template not in REQUEST_MAILS or not request_id:
            return note
        row = await self.pool.fetchrow(
            correction_details.ONE_REQUEST, note.plan_id, request_id
        )
        if row is None:
            return note
        fields = {
            **note.fields,
            "details": correction_details.for_staff(row),
            "asks": correction_details.asks(row),
            "candidate": correction_details.candidate(row),
        }
        reason = " ".join((row["decision_reason"] or "").split())
        if reason:
            fields["decision_reason"] = reason
        if note.template == "correction_applied":
            changed = await self.pool.fetch(
                correction_details.REQUEST_CHANGES, note.plan_id, request_id
            )
            fields["changes"] = correction_details.changes(list(changed)) or t(
                "mail.correction_applied.unchanged"
            )
        to = note.to
        # The request's address is whatever its mail's sender, or the staff
        # member entering it, said: only one the site registered is mailed
        # the candidate's scores; the site hears of any other request.
        asker = row["requester_email"]
        if note.template in REQUESTER_MAILS and asker:
            if self.settings.from_site(asker, note.site_code):
                to = [asker]
        return note.model_copy(update={"fields": fields, "to": to})

    @activity.defn
    @beats_while_running
    async def notify(self, note: Notification) -> None:
        """Send the mail unless this notification was already tried to the end.

        An earlier attempt still sending it (timed out, not stopped yet) holds
        its claim: this one is retried until that attempt has recorded the
        outcome. A mail found sent is not sent again; one found given up is
        given up again, with the error its first attempt raised. It heartbeats
        while it runs, so that a dead worker's attempt is retried within half
        a minute (see ``SEND_CLAIM``).
        """
        note = await self.described(note)
        recipients = self.recipients_of(note)
        # Roles with no address configured: their people never get this mail.
        # Recorded like a refusal, so that it is listed and can be sent again
        # once the addresses are configured; never an error that stops the plan.
        unaddressed = self.unaddressed(note)
        if unaddressed:
            log.warning(
                "no recipients configured plan_id=%s template=%s roles=%s",
                note.plan_id,
                note.template,
                ",".join(unaddressed),
            )
        # The notification is kept with its row, so that an admin can send it
        # again once the cause of a failure is fixed (see ``resend``).
        row = await self.pool.fetchrow(
            """
            INSERT INTO notifications
                (idempotency_key, plan_id, template, recipients, note, batch_id)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (idempotency_key) DO UPDATE SET recipients = CASE
                -- A retry after a configuration change: whom it goes to now,
                -- unless it already went (or was given up), which the row says.
                WHEN notifications.sent_at IS NULL AND notifications.failure IS NULL
                THEN EXCLUDED.recipients ELSE notifications.recipients END,
                note = EXCLUDED.note
            RETURNING sent_at, failure, failure_type, refused_roles, recipients,
                      withdrawn_at
            """,
            *_row(note, recipients),
        )
        if self._settled(note, row):
            return
        # Composed before the claim is taken: reading the attachments may be
        # slow, and the claim covers only the exchange with the mail server.
        try:
            message = await self._message(note, recipients) if recipients else None
        except ApplicationError as err:
            await self._waits(NOTIFICATION_CLAIM, note.idempotency_key, note, err)
            raise
        claimed = await NOTIFICATION_CLAIM.take(
            self.pool, note.idempotency_key, self.renewals
        )
        if claimed is None:
            # An earlier attempt, timed out but still running, tried it to the
            # end since, or is sending it now.
            await self._found(note)
            return

        if message is None:
            delivery = without_address(Delivery(sent=False), unaddressed)
        else:
            sent = await self._send_claimed(claimed, note, recipients, message)
            delivery = without_address(sent, unaddressed)
        if not await claimed.record(
            _NOTIFICATION_OUTCOME,
            *delivery.values(),
            recipients,
            sent=delivery.sent,
        ):
            # Alive past its claim: the attempt that took over had its say.
            await self._found(note)
            return
        if not recipients:
            return  # nobody to send it to: recorded, and logged above
        _log("mail", note, delivery)
        if not delivery.sent:
            raise self.given_up(note, delivery)

    def _settled(self, note: Notification, row: asyncpg.Record) -> bool:
        """Whether the mail of ``row`` was tried to the end: sent, or recorded
        as going to nobody; a mail given up is given up again.

        A mail its plan withdrew (migration 014) is done: no attempt sends it.
        A retry finding it given up (by an earlier attempt, timed out but still
        running) ends as that attempt did, with the same error: sending it now
        would send it behind the back of the failure recorded, which
        ``notice failed`` lists for an admin's resend.
        """
        if row["sent_at"] is not None:
            return True
        if row["withdrawn_at"] is not None:
            log.info(
                "mail withdrawn by its plan plan_id=%s template=%s",
                note.plan_id,
                note.template,
            )
            return True
        if row["failure"] is None:
            return False
        if not row["recipients"]:
            return True  # nobody to send it to, as the attempt recorded
        kind = row["failure_type"] or RECIPIENTS_REFUSED
        raise self.given_up(
            note,
            Delivery(
                sent=False,
                refused_roles=list(row["refused_roles"] or []),
                failure=row["failure"],
                failure_type=kind,
                reason=_reason_of(row["failure"], kind),
            ),
        )

    async def _found(self, note: Notification) -> None:
        """End as the mail's row says, another attempt having claimed it: done
        if it was tried to the end, else retried while that attempt sends it."""
        row = await self.pool.fetchrow(
            "SELECT sent_at, failure, failure_type, refused_roles, recipients,"
            " withdrawn_at FROM notifications WHERE idempotency_key = $1",
            note.idempotency_key,
        )
        if not self._settled(note, row):
            since = await NOTIFICATION_CLAIM.holder(self.pool, note.idempotency_key)
            raise self.being_sent(note, since)

    @activity.defn
    async def withdraw(self, note: Notification) -> bool:
        """Withdraw a mail its plan no longer wants sent; False if it went out.

        The plan stops waiting for the mail without cancelling the activity
        sending it (see migration 014): a later attempt of that activity finds
        the row withdrawn and sends nothing, nor can it claim the mail. A mail
        no attempt has reached yet gets its row here, withdrawn. An attempt
        holding the claim may still send it, as a cancelled one could.
        """
        recipients = self.recipients_of(note)
        withdrawn = await self.pool.fetchval(
            """
            INSERT INTO notifications (idempotency_key, plan_id, template,
                recipients, note, batch_id, withdrawn_at)
            VALUES ($1, $2, $3, $4, $5, $6, now())
            ON CONFLICT (idempotency_key) DO UPDATE
                SET withdrawn_at = coalesce(notifications.withdrawn_at, now())
                WHERE notifications.sent_at IS NULL
            RETURNING withdrawn_at
            """,
            *_row(note, recipients),
        )
        return withdrawn is not None

    @activity.defn
    @beats_while_running
    async def resend(self, request: ResendRequest) -> ResendOutcome:
        """Send a mail again, to the current addresses of the requested roles.

        The mail is composed from the notification kept with its row, as it
        was first (its attachments read again from the store). The attempt's
        row, keyed by ``resend_key``, keeps a retried activity from sending
        twice; it is written with the audit line of who asked. A mail the
        server will never take is given up again, as ``notify`` gives it up,
        and the outcome says so: only a failure that may pass is retried.
        """
        row = await self.pool.fetchrow(
            "SELECT note FROM notifications WHERE id = $1", request.notification
        )
        if row is None or row["note"] is None:
            raise ApplicationError(
                f"Mail {request.notification} has no kept content to send again.",
                type=NOT_KEPT,
                non_retryable=True,
            )
        original = Notification.model_validate(row["note"])
        note = original.model_copy(
            update={"roles": request.roles, "idempotency_key": request.resend_key}
        )
        recipients = self.recipients_of(note)
        delivery = await self._record_resend(request, original, recipients)
        if delivery is None:
            delivery = await self._send_resend(request, note, recipients)
        return ResendOutcome(
            notification=request.notification,
            resend_key=request.resend_key,
            roles=request.roles,
            recipients=len(recipients),
            sent=delivery.sent,
            refused_roles=[Role(role) for role in delivery.refused_roles],
            failure_type=delivery.failure_type,
            failure=delivery.failure,
        )

    async def _send_resend(
        self, request: ResendRequest, note: Notification, recipients: list[str]
    ) -> Delivery:
        """Send a resend attempt recorded and not tried yet; what came of it."""
        message = await self._message(note, recipients, resent=True)
        claimed = await RESEND_CLAIM.take(self.pool, request.resend_key, self.renewals)
        if claimed is None:
            # An earlier attempt, timed out but still running, tried it to the
            # end since, or is sending it now.
            return await self._resend_found(request, note)

        sent = await self._send_claimed(claimed, note, recipients, message)
        # Roles still without an address on this worker (the configuration
        # corrected, the worker not restarted) are recorded as missed.
        delivery = without_address(sent, self.unaddressed(note))
        if not await claimed.record(
            _RESEND_RECORD,
            *delivery.values(),
            recipients,
            sent=delivery.sent,
        ):
            # Alive past its claim: the attempt that took over had its say.
            return await self._resend_found(request, note)
        _log("mail resend", note, delivery)
        return delivery

    async def _resend_found(
        self, request: ResendRequest, note: Notification
    ) -> Delivery:
        """What came of a resend another attempt claimed; retried while it sends."""
        done = _recorded(
            await self.pool.fetchrow(
                f"{_RESEND_OUTCOME} WHERE resend_key = $1", request.resend_key
            )
        )
        if done is None:
            since = await RESEND_CLAIM.holder(self.pool, request.resend_key)
            raise self.being_sent(note, since)
        return done

    async def _record_resend(
        self, request: ResendRequest, note: Notification, recipients: list[str]
    ) -> Delivery | None:
        """Record the attempt and who asked; what came of it if already tried.

        An attempt with no configured address at all is given up here.
        """
        roles = [role.value for role in request.roles]
        at = request.requested_at or datetime.now(CST)
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                _INSERT_RESEND,
                request.resend_key,
                request.notification,
                request.attempt,
                roles,
                recipients,
                request.requested_by,
                at,
            )
            await conn.execute(
                _INSERT_AUDIT,
                note.plan_id,
                RESEND_ACTION,
                request.requested_by,
                at,
                {
                    "notification": str(request.notification),
                    "template": note.template,
                    "roles": ",".join(roles),
                    "resend": request.resend_key,
                },
                f"{RESEND_ACTION}/{request.resend_key}",
            )
        done = _recorded(row)
        if done is not None:
            return done
        if recipients:
            return None
        failure = "Not sent: no address is configured for these roles."
        await self.pool.execute(
            "UPDATE notification_resends SET failure = $2, failure_type = $3,"
            " refused_roles = $4 WHERE resend_key = $1",
            request.resend_key,
            failure,
            NO_RECIPIENTS,
            roles,
        )
        return Delivery(
            sent=False, refused_roles=roles, failure=failure, failure_type=NO_RECIPIENTS
        )

    async def _send_claimed(
        self,
        claimed: Held,
        note: Notification,
        recipients: list[str],
        message: EmailMessage | Delivery,
    ) -> Delivery:
        """``send`` ``message`` (a ``Delivery``: given up already) while the
        claim is renewed; the caller records the outcome, which ends the
        claim. An attempt that fails or is cancelled ends its claim, so that
        its retry sends at once, unless the mail may be with the server (see
        ``Held.end_unsent``); one cancelled once the server answered returns
        the outcome, and ends cancelled once it is recorded (``Held.record``).
        A send stopped, its claim lost, is retried."""
        if isinstance(message, Delivery):
            return message
        claim, key = claimed.claim, claimed.key
        handover = Handover()
        try:
            return await claimed.sending(self.send(note, recipients, message, handover))
        except ClaimLost as lost:
            await claimed.end_unsent(handover)
            err = self.claim_lost(note, lost)
            await self._waits(claim, key, note, err)
            raise err from None
        except ApplicationError as err:
            await claimed.end_unsent(handover)
            await self._waits(claim, key, note, err)
            raise
        except BaseException:
            await claimed.end_unsent(handover)
            raise

    async def _waits(
        self, claim: SendClaim, key: str, note: Notification, err: ApplicationError
    ) -> None:
        """Say that an attempt to send a mail failed and the mail waits.

        One line in the worker's log (plan, template, attempt, kind of error:
        never an address), and the attempt and its error on the mail's row,
        where ``certflow notice failed`` lists the mails not sent yet. A
        database away too leaves the row as it was: the line says it.
        """
        attempt = _attempt()
        log.warning(
            "mail waits plan_id=%s template=%s attempt=%d error=%s",
            note.plan_id,
            note.template,
            attempt,
            err.type,
        )
        try:
            await self.pool.execute(
                f"UPDATE {claim.table} SET attempts = $2, last_tried_at = now(),"
                f" last_error_type = $3, last_error = $4 WHERE {claim.key} = $1",
                key,
                attempt,
                err.type,
                err.message,
            )
        except (asyncpg.PostgresError, OSError) as failure:
            log.warning(
                "mail attempt not recorded plan_id=%s error=%s",
                note.plan_id,
                type(failure).__name__,
            )

    @staticmethod
    def being_sent(note: Notification, since: datetime | None) -> ApplicationError:
        """The error of an attempt finding its mail claimed by an earlier one,
        held ``since`` (taken or last renewed); said in one line.

        Retried (``MAIL_RETRY``): once the earlier attempt has recorded what
        came of the mail, the retry finds it sent or given up; if that attempt
        died half-way (its worker killed), its claim lapses (``SEND_CLAIM``)
        and the retry sends the mail. Which of the two it is cannot be told
        from here: a live attempt renews its claim, a dead one does not.
        """
        held = claim_held(since)
        log.warning(
            "mail claimed by an earlier attempt plan_id=%s template=%s attempt=%d: %s",
            note.plan_id,
            note.template,
            _attempt(),
            held,
        )
        return waiting(
            f"Mail {note.template} of {_whose(note)} is claimed by an earlier"
            f" attempt of this activity: {held}",
            BEING_SENT,
        )

    @staticmethod
    def claim_lost(note: Notification, lost: ClaimLost) -> ApplicationError:
        """The error of an attempt that stopped its send, its claim lost; the
        caller logs it as a mail that waits."""
        return waiting(
            f"Mail {note.template} of {_whose(note)}: this attempt stopped sending"
            f" it, as {lost}. Retried: the attempt then holding the claim sends it.",
            CLAIM_LOST,
        )

    async def _message(
        self, note: Notification, recipients: list[str], *, resent: bool = False
    ) -> EmailMessage | Delivery:
        """The mail of ``note`` to ``recipients``; the mail given up when it
        cannot be written (an attachment damaged in the store).

        The attachments are read in a thread: a store that hangs (a network
        mount gone away) holds this attempt, not the worker's other activities.
        An attachment missing from the store is waited for: raised, for the
        activity to be retried.
        """
        try:
            attachments = await asyncio.to_thread(self._attachments, note)
        except DocumentDamaged:
            reason = "an attachment is damaged in the document store"
            return self._given_up(note, recipients, ATTACHMENT_DAMAGED, reason)
        except DocumentNotFound as err:
            # Retried: the plan's later mails wait, as for a server away.
            raise waiting(
                f"Mail {note.template} of {_whose(note)} waits for its"
                f" attachment: {err} Mount or restore the document store; the mail"
                " goes out at the next retry.",
                ATTACHMENT_MISSING,
            ) from None
        return self.compose(note, recipients, attachments, resent=resent)

    def _attachments(self, note: Notification) -> list[bytes]:
        # No time limit: a store that hangs holds this thread as long (README).
        return [self.store.get(ref) for ref in note.attachments]

    async def send(
        self,
        note: Notification,
        recipients: list[str],
        message: EmailMessage,
        handover: Handover | None = None,
    ) -> Delivery:
        """Send ``message``, the mail of ``note`` to ``recipients``; say what
        came of it. ``handover`` is told when the message may be with the server.

        A failure that may pass (the server away or busy, a 4xx, a policy
        refusal) is raised, for the activity to be retried. One no retry
        changes is returned as the mail given up, with every role of ``note``
        refused (see ``undeliverable``).
        """
        try:
            refused = await self.mailer.send(message, handover)
        except (aiosmtplib.SMTPException, OSError) as err:
            given_up = (
                undeliverable(err)
                if isinstance(err, aiosmtplib.SMTPException)
                else None
            )
            if given_up is None:
                raise retried(note, err) from None
            return self._given_up(note, recipients, *given_up)
        if not refused:
            return Delivery(sent=True)
        codes = [response.code for response in refused.values()]
        roles = self.roles_of(note, set(refused))
        return Delivery(
            sent=True,
            refused_roles=roles,
            failure=partly_refused(codes, len(recipients), roles),
            failure_type=RECIPIENTS_REFUSED,
            codes=codes,
        )

    def _given_up(
        self, note: Notification, recipients: list[str], kind: str, reason: str
    ) -> Delivery:
        """A mail given up: none of its roles got it."""
        return Delivery(
            sent=False,
            refused_roles=self.roles_of(note, set(recipients)),
            failure=_not_sent(reason, kind),
            failure_type=kind,
            reason=reason,
        )

    @staticmethod
    def given_up(note: Notification, delivery: Delivery) -> ApplicationError:
        """The error that ends the retries of a mail given up (already recorded).

        It names the plan, template and roles, and neither it nor the row
        names an address: they are kept in the workflow's history and the
        database, which more people read than the configuration.
        """
        kind = delivery.failure_type or RECIPIENTS_REFUSED
        roles = ",".join(role.value for role in note.roles)
        return ApplicationError(
            f"Mail {note.template} of {_whose(note)} to {roles} is given up:"
            f" {delivery.reason}. {_ADVICE[kind]} Later mails go out as usual.",
            type=kind,
            non_retryable=True,
        )

    def finance_contact(self) -> str:
        """The organisation's finance addresses, as a mail to a site names
        them for questions about money; "" where none is configured."""
        addresses = self.addresses(Role.FINANCE, None)
        if not addresses:
            return ""
        return t("mail.finance_contact", addresses="、".join(addresses))

    def compose(
        self,
        note: Notification,
        recipients: list[str],
        attachments: list[bytes],
        *,
        resent: bool = False,
    ) -> EmailMessage:
        """The mail of ``note``, with the bytes of its attachments, in order;
        ``resent``, marked as sent again, its content being as it was first
        asked for.

        What the mail repeats of what people typed or sent (a reason, a file's
        name) shows its hidden characters as code points (``<U+202E>``): a
        direction override would turn the mail's line around.
        """
        fields = {
            "organisation": self.settings.organisation,
            # The candidates' look-up and verification pages (certflow web).
            "lookup_url": self.settings.certificates.verify_url_base,
            # Whom a site asks about its money.
            "finance_contact": self.finance_contact(),
            **template_defaults(note.template),
            **note.fields,
        }
        message = EmailMessage()
        message["From"] = self.settings.smtp.sender
        message["To"] = ", ".join(recipients)
        subject = visible(t(f"mail.{note.template}.subject", **fields))
        if resent:
            subject = t("mail.resent_subject", subject=subject)
        message["Subject"] = subject
        # Staff read the time as their mail program shows it: in China, +0800.
        message["Date"] = format_datetime(datetime.now(CST).replace(microsecond=0))
        # The same for every attempt of the mail (or of one resend of it): a
        # mail sent again after a send that may have gone (see SEND_CLAIM) is
        # the same mail to the mail servers and programs of its people.
        message["Message-ID"] = message_id(note.idempotency_key)
        message["X-Certflow-Plan"] = note.plan_id
        message["X-Certflow-Template"] = note.template
        body = visible(t(f"mail.{note.template}.body", **fields))
        if resent:
            body = f"{t('mail.resent_note')}\n\n{body}"
        message.set_content(
            f"{body}\n\n{t('mail.signature', **fields)}\n", charset="utf-8"
        )
        for ref, data in zip(note.attachments, attachments, strict=True):
            maintype, _, subtype = ref.media_type.partition("/")
            message.add_attachment(
                data,
                maintype=maintype or "application",
                subtype=subtype or "octet-stream",
                filename=visible(ref.filename) or ref.sha256[:12],
            )
        return message
