"""The correction intake: mail of the exam mailbox turned into correction requests.

Each poll fetches the unacknowledged messages of the configured source, reads
each into drafts (``certflow.corrections``), submits every draft to its plan's
workflow as the info center would, answers the sender, and only then lets the
source forget the message.

Delivery is at least once, so every step can run again without effect:

- a draft is submitted under ``<dedupe key>#<n>``; a draft its plan already
  filed under that key is found in ``correction_requests`` and not submitted
  again (the plan refuses a second one as ``duplicate`` too);
- the row in ``mail_messages`` is written after the submissions and before the
  reply; a message whose row exists is only finished: reply sent if it was not,
  then acknowledged;
- the reply is composed once, kept in the document store with a Message-ID
  derived from the dedupe key, and resent as the same bytes after a crash; the
  attempt sending it claims it on the row, so a retry of the poll overlapping
  it (timed out, not stopped) leaves the mail for the next poll instead of
  answering it again.

A reply that can never be delivered (the mail server refuses every recipient
or the message with a 5xx code, the mail program refuses the requester's
address as malformed, or the address is outside ASCII and the server takes no
such address) is given up: the reason goes to ``mail_messages.
reply_failure`` and the message is acknowledged, so one requester's address
does not hold back the mailbox. A failure that may pass (the server away, a
4xx answer, relaying or authentication refused) fails the poll, which is
retried.

Nothing here logs a name, an ID number or a subject: only dedupe-key prefixes,
plan ids, request ids and counts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.errors import MessageError
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP, compat32
from email.utils import parseaddr, parsedate_to_datetime
from enum import StrEnum
from typing import Any, Protocol

import aiosmtplib
import asyncpg
from aiosmtplib.email import extract_recipients, parse_address
from pydantic import Field, ValidationError
from temporalio import activity
from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory
from temporalio.service import RPCError, RPCStatusCode

from activities.correction_drafts import drafted, drop_draft, purge_drafts, told
from activities.documents import DocumentStore
from activities.heartbeat import beats_while_running
from activities.mailbox import ImapSource, MaildirSource, MailSource, StaleSourceKey
from activities.notify import (
    ClaimLost,
    Handover,
    Mailer,
    SendClaim,
    claim_held,
    undeliverable,
)
from certflow.actions import (
    REQUESTED_SCORE_MAX_LENGTH,
    ActionResult,
    CorrectionSubmission,
    PlanStatus,
    plan_workflow_id,
)
from certflow.config import MailboxSettings, Settings
from certflow.correction_details import MAILBOX_PERSON
from certflow.corrections import (
    CorrectionDraft,
    MailReading,
    RefusalReason,
    ReplyKind,
    compose_reply,
    dedupe_key,
    read_correction_mail,
    refusal_text,
    reply_address,
)
from certflow.corrections.form import LABELS, requester_fallback
from certflow.free_text import DETAIL_MAX_LENGTH, NAME, REQUEST_REASON_MAX_LENGTH
from certflow.i18n import t
from certflow.models import Actor, DocumentRef, Model, Problem, Role, Stage
from certflow.plan_busy import PlanBusyError, send_update
from certflow.privacy import mask_id_numbers_anywhere
from certflow.text import name_key, sentences

log = logging.getLogger(__name__)

# How far before the poll the Date a sender's machine wrote is still believed,
# for a mail the mail server stamped no arrival time on: mail waits in the
# mailbox between polls, and a poller down over a weekend reads Friday's mail on
# Monday. A Date older than that is a clock gone wrong (a school PC reset to a
# year long past), which would otherwise file a late request as on time: the
# poll's own time stands in for it. See ``received_time``.
DATE_HEADER_TRUSTED_FOR = timedelta(days=3)

# The outcome of a mail whose reply an earlier attempt of the poll is sending.
REPLY_PENDING = "reply_pending"
# The claim of the attempt sending a mail's reply (see ``SendClaim``).
REPLY_CLAIM = SendClaim(
    "mail_messages",
    "dedupe_key",
    "reply_sha256 IS NOT NULL AND replied_at IS NULL AND reply_failure IS NULL",
    since="reply_sending_since",
    sent="replied_at",
)
# The texts of a mailed form its plan takes only so long, by form key
# (``CorrectionSubmission``): a longer one is refused saying so (``overlong``).
MAILED_LIMITS = {
    "published_score": DETAIL_MAX_LENGTH,
    "requested_score": REQUESTED_SCORE_MAX_LENGTH,
    "reason": REQUEST_REASON_MAX_LENGTH,
}
# What a reading finds in a mail without any form: an out-of-office reply
# quoting the mailbox's own answer ("…xlsx 附件…") reads as one of these.
_NO_FORM = {"no_form", "attachment_missing"}
_SUBMIT_UPDATE = "submit_correction"
_STATUS_QUERY = "status"
_BEFORE_PUBLICITY = {
    Stage.SCORE_SUBMISSION,
    Stage.CONSISTENCY_REVIEW,
    Stage.SCORE_PUBLICATION,
    Stage.AWAITING_PUBLICITY,
}


class MailStatus(StrEnum):
    """What became of one mail of the exam mailbox (``mail_messages.status``)."""

    RECEIVED = "received"  # at least one request registered
    REFUSED = "refused"  # requests read, none registered
    UNMATCHED = "unmatched"  # no request could be read: staff assign it
    ASSIGNED = "assigned"  # staff assigned it to a plan by hand
    IGNORED = "ignored"  # an automatic mail (bounce, vacation reply): not answered


class MailboxRunRequest(Model):
    """Input of one poll of the exam mailbox."""

    poll: int = 0  # the poller's count, for the logs only


class MailboxRun(Model):
    """What one poll did: messages fetched and how many ended in each status.

    ``counts`` is keyed by ``MailStatus`` value, plus ``already_processed`` for
    a delivery of a mail recorded before (a double delivery or a restart).
    """

    fetched: int = 0
    counts: dict[str, int] = Field(default_factory=dict)


class MailSender(Protocol):
    """Sends one composed message (``activities.notify.Mailer`` does it by SMTP).

    What ``send`` returns (the notifier reads the recipients refused) is not used.
    """

    async def send(
        self, message: EmailMessage, handover: Handover | None = None
    ) -> object: ...


SourceFactory = Callable[[], MailSource]


@dataclass
class _Verdict:
    """What the intake decided for one mail, before it is recorded."""

    status: MailStatus
    plan_id: str | None = None
    request_ids: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    registered: list[CorrectionDraft] = field(default_factory=list)


@dataclass
class Submitted:
    """The answer of a plan to one submitted request: a reference or a reason."""

    reference: str | None = None
    reason: str | None = None
    # Why the acknowledgement of a filed request could not be delivered.
    reply_failure: str | None = None


class FilingDeferred(Exception):
    """A plan could not file a request for a system reason; nothing was recorded.

    Its filing kept failing, its run took no action just then (it continues
    as new, or has taken as many updates as the server allows), or it did not
    answer. The mail is left in the mailbox, unanswered, and read again at the
    next poll: a school is never told "refused" because certflow was unwell,
    and the mails behind it, for other plans, are read as usual.
    """


class AssignError(Exception):
    """A mail staff asked to assign cannot be assigned; the Chinese text says why."""


def source_from_settings(mailbox: MailboxSettings) -> MailSource:
    """The mail source the configuration names: a maildir or an IMAP mailbox."""
    if mailbox.kind == "imap":
        return ImapSource(
            mailbox.host,
            mailbox.port,
            mailbox.user,
            mailbox.password,
            mailbox=mailbox.folder,
            ssl=mailbox.ssl,
            processed_folder=mailbox.processed_folder,
        )
    return MaildirSource(mailbox.path)


def overlong(draft: CorrectionDraft) -> str | None:
    """Why a mailed request is refused for a text longer than its plan takes,
    said to its sender: the field as the form names it (修改原因), its limit
    and the length written; None when each is within its limit.

    The reader left out what the sender cannot see and made each line break
    one line feed (``certflow.corrections.form``): the length said is the
    length the sender sees.
    """
    for key, limit in MAILED_LIMITS.items():
        length = len(getattr(draft, key))
        if length > limit:
            return refusal_text(
                RefusalReason.TEXT_TOO_LONG,
                plan_id=draft.plan_id,
                admission_number=draft.admission_number,
                field=LABELS[key][0],
                limit=limit,
                length=length,
            )
    return None


def malformed_recipient(message: EmailMessage) -> bool:
    """Whether the mail program refuses the message's recipient address itself.

    aiosmtplib refuses, with a ``ValueError`` and before it talks to the server,
    an address it cannot put on an SMTP command line (``zhang@@example.org``
    reads as ``@example.org`` quoted as ``<>``): no retry changes it.
    """
    try:
        recipients = extract_recipients(message)
        for address in recipients:
            parse_address(address)
    except ValueError:
        return True
    return not recipients


def arrival_time(raw: bytes) -> datetime | None:
    """When the receiving server took the mail: the date of the topmost Received.

    Each server prepends its Received header, so the topmost is the mailbox's
    own and cannot be written by the sender (the ones below can). None when
    there is none or its date cannot be read.
    """
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw)
    stamps = headers.get_all("Received") or []
    if not stamps:
        return None
    _, _, stamp = str(stamps[0]).rpartition(";")
    try:
        parsed = parsedate_to_datetime(stamp.strip())
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


def received_time(raw: bytes, written: datetime | None, read_at: datetime) -> datetime:
    """When the mail counts as received, ``read_at`` being when the poll read it.

    The mail server's arrival stamp (``arrival_time``) where there is one, else
    the Date the sender's machine wrote, else ``read_at``. Never later than
    ``read_at``: a mail is not received after the mailbox has it, whatever a
    clock ahead wrote (a future date would file the request as received on a
    day that has not come). A Date more than ``DATE_HEADER_TRUSTED_FOR``
    before ``read_at`` is not believed either, and ``read_at`` is used.
    """
    arrived = arrival_time(raw)
    if arrived is not None:
        return min(arrived, read_at)
    if written is None or written > read_at:
        return read_at
    if written < read_at - DATE_HEADER_TRUSTED_FOR:
        return read_at
    return written


def _storable(text: str | None) -> str | None:
    """``text`` as PostgreSQL takes it: a NUL (which a header or a file name
    may carry, percent-encoded) shown as the replacement character."""
    return text.replace("\x00", "\ufffd") if text else text


def _loggable_key(source_key: str) -> str:
    """A mailbox's key of a message for a log line: a maildir file name or an
    IMAP uid, cut short, nothing a sender wrote."""
    return _storable(source_key[:40]) or "-"


# What the content of one mail can make its processing raise, where no path
# foresaw it: a value read wrong, a character the database refuses. Anything
# else (a worker stopped, the server away) fails the poll, which is retried.
MAIL_FAULTS = (
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    ArithmeticError,
    RecursionError,
    MessageError,
    asyncpg.DataError,
)


def poll_time() -> datetime:
    """When this poll reads the mailbox: its attempt's start by the Temporal
    server's clock (the one the plans read the day by), else now."""
    if activity.in_activity():
        return activity.info().started_time
    return datetime.now(UTC)


class MailIntakeActivities:
    """Reads the exam mailbox into correction requests of the plans it names.

    Holds what the intake shares between messages: the settings (site addresses,
    the mailbox), the database pool, the document store (raw mail and replies),
    the Temporal client that reaches the plans, and the mail source and sender.
    """

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        store: DocumentStore,
        client: Client,
        source_factory: SourceFactory | None = None,
        mailer: MailSender | None = None,
        renewals: asyncpg.Pool | None = None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        # The pool the reply claims' renewals go through (see ``Held``).
        self.renewals = renewals or pool
        self.store = store
        self.client = client
        self.source_factory = source_factory or (
            lambda: source_from_settings(settings.mailbox)
        )
        self.mailer: MailSender = mailer or Mailer(settings.smtp)
        self.address = settings.mailbox.address or settings.smtp.sender

    @activity.defn
    @beats_while_running
    async def process_mailbox(self, req: MailboxRunRequest) -> MailboxRun:
        """Process every unacknowledged message of the mailbox, oldest first.

        It heartbeats in the background while it runs (activities/heartbeat.py),
        however long one mail takes (a plan busy, a mail server slow): a poll
        whose worker died is retried within half a minute, and finds the claim
        on a reply that worker was sending lapsed (``SEND_CLAIM``).
        """
        # Drafts nobody filed, over a day old, go whether a mail comes or not.
        await _purged(self.pool)
        source = self.source_factory()
        try:
            messages = await source.fetch()
        except FileNotFoundError as err:
            # A maildir nothing delivers into yet (a fresh volume): the worker
            # said so at start; one line per poll tried, not a traceback.
            log.warning("mailbox not read: %s", err)
            raise ApplicationError(
                str(err),
                type="mailbox_missing",
                category=ApplicationErrorCategory.BENIGN,
            ) from None
        run = MailboxRun(fetched=len(messages))
        read_at = poll_time()
        for source_key, raw in messages:
            try:
                outcome = await self.process_message(source, source_key, raw, read_at)
            except MAIL_FAULTS as err:
                # Something in this one mail no path foresaw: it stays in the
                # mailbox (its request, if filed, is filed once), the mails
                # after it are read. Trial: a mail without a sender, or with
                # a NUL in a header, was retried without end, and no mail
                # after it was read.
                log.error(
                    "mail not processed source_key=%s error=%s",
                    _loggable_key(source_key),
                    type(err).__name__,
                )
                kept = await self._keep_for_staff(source, source_key, raw, read_at)
                outcome = "kept_for_staff" if kept else "failed"
            run.counts[outcome] = run.counts.get(outcome, 0) + 1
        log.info(
            "mailbox polled poll=%d fetched=%d %s",
            req.poll,
            run.fetched,
            " ".join(f"{k}={v}" for k, v in sorted(run.counts.items())),
        )
        return run

    async def _keep_for_staff(
        self, source: MailSource, source_key: str, raw: bytes, read_at: datetime
    ) -> bool:
        """Keep a mail whose processing raised for staff: recorded unmatched
        (``mailbox list`` shows it, ``mailbox assign`` files it by hand),
        answered to nobody, and forgotten by the source, so no poll reads it
        again (two hundred such mails would hold up the rest). False where even
        that fails: it stays in the mailbox for the next poll."""
        key = f"unprocessed-{hashlib.sha256(raw).hexdigest()}"
        try:
            stored = await asyncio.to_thread(
                self.store.put, raw, filename="message.eml", media_type="message/rfc822"
            )
            await self.pool.execute(
                """
                INSERT INTO mail_messages (dedupe_key, message_id, sender, subject,
                    received_at, source_key, status, reasons, raw_sha256,
                    processed_at)
                VALUES ($1, $1, '', '', $2, $3, 'unmatched', $4, $5, $2)
                ON CONFLICT (dedupe_key) DO NOTHING
                """,
                key,
                read_at,
                _storable(source_key),
                t("corrections.refusal.unprocessed"),
                stored.sha256,
            )
            await source.acknowledge(source_key)
        except (*MAIL_FAULTS, OSError, asyncpg.PostgresError, KeyError, StaleSourceKey):
            return False
        return True

    async def process_message(
        self,
        source: MailSource,
        source_key: str,
        raw: bytes,
        read_at: datetime | None = None,
    ) -> str:
        """Register, record, answer and acknowledge one message; return its status.

        A message already recorded is only finished (its reply sent if it was
        not) and acknowledged: ``already_processed`` is returned for it. One a
        plan could not file for a system reason is left unrecorded, unanswered
        and in the mailbox for the next poll: ``deferred``. One whose reply an
        earlier attempt of the poll (timed out, not stopped) is sending stays
        in the mailbox too, to be acknowledged once answered: ``reply_pending``.
        """
        # Off the event loop: an attachment is read in a process of its own
        # for up to its wait (``FORM_BOUNDS``), and the loop keeps the
        # heartbeats.
        reading = await asyncio.to_thread(read_correction_mail, raw)
        key = dedupe_key(reading)
        # What counts is when the mailbox got the mail, not the Date the sender's
        # machine wrote; the Date serves where the server stamped nothing, and
        # neither is later than the poll reading it.
        read_at = read_at or datetime.now(UTC)
        received = received_time(raw, reading.received_at, read_at)
        reading = reading.model_copy(update={"received_at": received})

        row = await self._row(key)
        if row is not None and row["written_key"] not in (None, reading.written_key):
            # A Message-ID recorded for a mail that said something else (a
            # program reusing its ids): another mail, not a second delivery.
            # Rows from before schema version 28 have no written_key.
            key = dedupe_key(reading, reused=True)
            row = await self._row(key)
        outcome = "already_processed"
        if row is None:
            try:
                row = await self._register(reading, key, source_key, raw, read_at)
            except FilingDeferred as deferred:
                # The cause is the server's or certflow's own words: no
                # personal data, and what operators look for.
                cause = deferred.__cause__
                log.warning(
                    "mail deferred: plan %s could not file it now (%s) key=%s",
                    deferred,
                    f"{type(cause).__name__}: {cause}" if cause else "filing failed",
                    key[:12],
                )
                return "deferred"
            outcome = str(row["status"])
        if not await self._send_reply(row):
            return REPLY_PENDING
        try:
            await source.acknowledge(source_key)
        except StaleSourceKey:
            # Fetched again under a new key next time, and recognised by its row.
            log.warning("mail acknowledgement stale key=%s", key[:12])
        except KeyError:
            # Another reader of the maildir moved it away: nothing left to forget.
            log.warning("mail gone before acknowledgement key=%s", key[:12])
        return outcome

    # -- deciding ------------------------------------------------------------------

    async def _register(
        self,
        reading: MailReading,
        key: str,
        source_key: str,
        raw: bytes,
        read_at: datetime,
    ) -> asyncpg.Record:
        raw_ref = await asyncio.to_thread(
            self.store.put, raw, filename="message.eml", media_type="message/rfc822"
        )
        verdict = await self._decide(reading, key)
        reply = self._compose(reading, verdict, key)
        reply_ref = None
        if reply is not None:
            reply_ref = await asyncio.to_thread(
                self.store.put,
                reply.as_bytes(),
                filename="reply.eml",
                media_type="message/rfc822",
            )
        await self.pool.execute(
            """
            INSERT INTO mail_messages (dedupe_key, message_id, sender, subject,
                received_at, source_key, status, plan_id, request_ids, reasons,
                raw_sha256, processed_at, reply_sha256, reply_message_id,
                written_key)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $14, $12, $13,
                $15)
            ON CONFLICT (dedupe_key) DO NOTHING
            """,
            key,
            reading.message_id,
            reading.sender,
            # Senders name candidates in subjects, an ID number too: kept
            # masked (the raw mail in the store keeps it as sent).
            _storable(mask_id_numbers_anywhere(reading.subject)),
            reading.received_at or read_at,
            source_key,
            verdict.status.value,
            _storable(verdict.plan_id),
            verdict.request_ids,
            _storable("\n".join(verdict.reasons)),
            raw_ref.sha256,
            reply_ref.sha256 if reply_ref else None,
            reply["Message-ID"] if reply is not None else None,
            # When the poll read it: what the mail's received time is capped at.
            read_at,
            reading.written_key,
        )
        log.info(
            "mail recorded key=%s status=%s plan_id=%s requests=%s",
            key[:12],
            verdict.status.value,
            verdict.plan_id or "-",
            ",".join(verdict.request_ids) or "-",
        )
        row = await self._row(key)
        assert row is not None
        return row

    async def _decide(self, reading: MailReading, key: str) -> _Verdict:
        # A site's OA system or mail-merge tool marks its mail automatic
        # (Precedence: bulk, Auto-Submitted: auto-generated): a form in it is
        # the site's request, read as any other (and never answered, see
        # ``_compose``); one that cannot be read waits for staff. Any other
        # automatic mail (a bounce, an out-of-office reply) holds no request.
        if reading.auto_submitted and not (
            _holds_form(reading) and self.from_any_site(reading)
        ):
            return _Verdict(MailStatus.IGNORED)
        if not reading.drafts:
            if await self._answers_our_reply(reading):
                # The acknowledgement asks for further material as a reply:
                # such a reply is for a person, and is said to be with one
                # (trial: it was refused as a form missing its template).
                return _Verdict(
                    MailStatus.UNMATCHED,
                    reasons=[refusal_text(RefusalReason.FOLLOW_UP)],
                )
            # What the reading found is said as found ("no form in the mail", "the
            # attachment did not come", "a scan"): it tells the sender what to
            # send. The general text stands only where the reading said nothing.
            return _Verdict(
                MailStatus.UNMATCHED,
                reasons=[p.render() for p in reading.problems]
                or [refusal_text(RefusalReason.UNREADABLE_FORM)],
            )

        verdict = _Verdict(MailStatus.REFUSED, plan_id=reading.drafts[0].plan_id)
        if not reading.sender:
            # No address to check against the sites', nor to answer: kept
            # refused with the reason, for staff (mailbox list).
            verdict.reasons = [refusal_text(RefusalReason.NO_SENDER)]
            return verdict
        limit = self.settings.mailbox.max_requests_per_mail
        if len(reading.drafts) > limit:
            # Each request is one action on its plan: a form of thousands of
            # rows kept the poll busy for a minute and grew its plan's history
            # past every limit. Refused whole, before any plan is asked, so
            # the sender splits it rather than guesses which rows were filed.
            log.info(
                "mail refused: too many requests key=%s requests=%d limit=%d",
                key[:12],
                len(reading.drafts),
                limit,
            )
            verdict.reasons = [
                refusal_text(
                    RefusalReason.TOO_MANY_REQUESTS,
                    count=len(reading.drafts),
                    limit=limit,
                )
            ]
            return verdict
        plans: dict[str, PlanStatus | None] = {}
        for n, draft in enumerate(reading.drafts, start=1):
            answer = await self._submit_draft(reading, draft, f"{key}#{n}", plans)
            if answer.reference:
                verdict.request_ids.append(answer.reference)
                verdict.registered.append(draft)
            elif answer.reason:
                several = len(reading.drafts) > 1
                verdict.reasons.append(_placed(draft, answer.reason, several=several))
        # Rows of the form that could not be read (a missing field) are said too.
        verdict.reasons += [p.render() for p in reading.problems]
        if verdict.request_ids:
            verdict.status = MailStatus.RECEIVED
        return verdict

    async def _answers_our_reply(self, reading: MailReading) -> bool:
        """Whether the mail answers an acknowledgement of this mailbox (its
        In-Reply-To or References name one we sent for a request filed). An
        answer to a refusal is told what the refusal told (a form missing,
        say), as any mail is."""
        if not reading.references:
            return False
        found = await self.pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM mail_messages"
            " WHERE reply_message_id = ANY($1::text[])"
            " AND status IN ('received', 'assigned'))",
            reading.references,
        )
        return bool(found)

    async def _submit_draft(
        self,
        reading: MailReading,
        draft: CorrectionDraft,
        source_key: str,
        plans: dict[str, PlanStatus | None],
    ) -> Submitted:
        # A From that names no one address clearly (an address for a name,
        # unquoted, before another in angle brackets) is no site's; refused,
        # as an address of no site, before the plan is looked up, so a
        # stranger does not learn which plan ids exist.
        if reading.sender_unclear:
            return Submitted(
                reason=refusal_text(RefusalReason.SENDER_UNCLEAR, plan_id=draft.plan_id)
            )
        if not self.from_any_site(reading):
            return Submitted(
                reason=refusal_text(
                    RefusalReason.SENDER_NOT_SITE,
                    plan_id=draft.plan_id,
                    sender=reading.sender,
                )
            )
        if draft.plan_id not in plans:
            try:
                plans[draft.plan_id] = await self.plan_status(draft.plan_id)
            except (RPCError, WorkflowQueryFailedError) as err:
                # One plan that does not answer holds back its own mail only.
                raise FilingDeferred(draft.plan_id) from err
        plan = plans[draft.plan_id]
        if plan is None:
            return Submitted(
                reason=refusal_text(RefusalReason.UNKNOWN_PLAN, plan_id=draft.plan_id)
            )
        if not self.from_site(reading.sender, plan.site_code):
            return Submitted(
                reason=refusal_text(
                    RefusalReason.SENDER_NOT_SITE,
                    plan_id=plan.plan_id,
                    sender=reading.sender,
                )
            )
        wrong = await self._against_record(plan, draft, source_key)
        if wrong is not None:
            return Submitted(reason=wrong)
        too_long = overlong(draft)
        if too_long is not None:
            return Submitted(reason=too_long)
        try:
            submission = CorrectionSubmission(
                actor=Actor(role=Role.INFO_CENTER, person=MAILBOX_PERSON),
                admission_number=draft.admission_number,
                field=draft.field,
                published_score=draft.published_score,
                requested_score=draft.requested_score,
                reason=draft.reason,
                # The form's requester, else the sender's name or address
                # (as its mail client wrote it): made to fit a requester's
                # bound rather than refused for what the site never typed.
                requester=NAME.fitted(draft.requester),
                requester_email=draft.requester_email or reading.sender,
                received_at=reading.received_at,
                source_key=source_key,
            )
        except ValidationError:
            # A value no form holds (each too long is said by ``overlong``).
            return Submitted(reason=refusal_text(RefusalReason.UNREADABLE_FORM))
        return await self.submit(plan, submission)

    async def _against_record(
        self, plan: PlanStatus, draft: CorrectionDraft, source_key: str
    ) -> str | None:
        """Why a request is refused for what its plan's record shows; None to
        submit it. Checked here, by the mailbox, so what the form got wrong
        stays out of the plan's history. Only while the plan takes requests
        (its own refusals say why it does not), of a candidate the plan has
        (it says so otherwise), and of a request not filed already.

        Its 考生姓名 must be the name of the candidate of its 准考证号 (a form
        filled from the wrong row), compared as the look-up compares names
        (``name_key``: a space, another dot or a hidden character is no other
        name); the reply never says whose the number is. Its 原成绩 may be
        left blank only where the candidate has no such score on record
        (absent, or a part score not yet in): there is none to copy, and a
        原成绩 given is compared with the record when the request is recorded
        (``_check_published`` of the record activity). A status is always on
        record.
        """
        if plan.stage is not Stage.PUBLICITY:
            return None
        if await self._filed(source_key) is not None:
            return None
        row = await self.pool.fetchrow(
            "SELECT name, theory, practical, total FROM scores"
            " WHERE plan_id = $1 AND admission_number = $2",
            plan.plan_id,
            draft.admission_number,
        )
        if row is None or row["name"] is None:
            return None
        reason: RefusalReason | None = None
        if name_key(row["name"]) != name_key(draft.candidate_name):
            reason = RefusalReason.NAME_MISMATCH
        elif not draft.published_score and (
            draft.field == "status" or row[draft.field] is not None
        ):
            reason = RefusalReason.PUBLISHED_MISSING
        if reason is None:
            return None
        log.info(
            "mail request refused: %s key=%s plan_id=%s",
            reason.value,
            source_key[:12],
            plan.plan_id,
        )
        return refusal_text(
            reason,
            plan_id=plan.plan_id,
            admission_number=draft.admission_number,
            field=t(f"corrections.reply.field_{draft.field}"),
        )

    def from_any_site(self, reading: MailReading) -> bool:
        """Whether the mail is from an address registered for some site."""
        return not reading.sender_unclear and any(
            self.from_site(reading.sender, code)
            for code in self.settings.site_recipients
        )

    def from_site(self, sender: str, site_code: str) -> bool:
        """Whether ``sender`` is one of the addresses registered for the site."""
        return self.settings.from_site(sender, site_code)

    async def plan_status(self, plan_id: str) -> PlanStatus | None:
        """The plan's status query, or None when no plan has that id."""
        handle = self.client.get_workflow_handle(plan_workflow_id(plan_id))
        try:
            status: PlanStatus = await handle.query(
                _STATUS_QUERY, result_type=PlanStatus
            )
        except RPCError as err:
            if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.INVALID_ARGUMENT):
                return None
            raise
        return status

    async def submit(
        self, plan: PlanStatus, submission: CorrectionSubmission
    ) -> Submitted:
        """File one request with its plan, unless it was filed before; say the outcome.

        A refusal becomes the reason phrased for the sender: after the cut-off
        (with its date), publicity not open yet (with its first day), candidate
        not in the plan, or the plan's own Chinese message for anything else.
        """
        earlier = await self._filed(submission.source_key)
        # A row its plan does not know of was written late by an attempt the
        # plan had given up on: filed again, the request takes that row over.
        if earlier is not None and earlier in plan.correction_states:
            return Submitted(reference=earlier)
        # Its personal parts wait in PostgreSQL, out of the plan's history.
        # Filed, the plan deleted the draft; refused, deferred or not
        # answered, it goes too: the mail is read again for a new one.
        sent = await drafted(self.pool, plan.plan_id, submission)
        try:
            return await self._sent(plan, sent)
        finally:
            await drop_draft(self.pool, sent.draft)

    async def _sent(
        self, plan: PlanStatus, submission: CorrectionSubmission
    ) -> Submitted:
        """Send one request to its plan; say the outcome (see ``submit``)."""
        handle = self.client.get_workflow_handle(plan_workflow_id(plan.plan_id))
        try:
            # Sent again for a few seconds while the plan continues as new.
            result = await send_update(
                handle, _SUBMIT_UPDATE, submission, result_type=ActionResult
            )
        except PlanBusyError as err:
            # The plan's run takes no action now (see certflow/plan_busy.py):
            # its mail waits for a later poll; the other mails go on.
            raise FilingDeferred(plan.plan_id) from err
        except WorkflowUpdateFailedError as err:
            return Submitted(reason=self._refusal(plan, err.cause))
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                # The server refused it for a reason of its own: nothing was
                # filed, and the mail is read again at the next poll.
                raise FilingDeferred(plan.plan_id) from err
            # The plan's workflow has finished: nothing can be filed any more.
            return Submitted(reason=self._closed(plan))

        if result.accepted and result.reference:
            return Submitted(reference=result.reference)
        if result.retry:
            raise FilingDeferred(plan.plan_id)
        # Words quoting the request's scores wait with its draft.
        result = await told(self.pool, submission.draft, result)
        codes = {p.code for p in result.problems}
        if "duplicate" in codes:
            earlier = await self._filed(submission.source_key)
            if earlier is not None:
                return Submitted(reference=earlier)
        if "unknown_candidate" in codes:
            return Submitted(
                reason=refusal_text(
                    RefusalReason.CANDIDATE_NOT_IN_PLAN,
                    plan_id=plan.plan_id,
                    admission_number=submission.admission_number,
                )
            )
        return Submitted(reason=sentences(p.render() for p in result.problems))

    def _refusal(self, plan: PlanStatus, cause: BaseException | None) -> str:
        kind = cause.type if isinstance(cause, ApplicationError) else None
        if kind == "after_cutoff" and plan.publicity is not None:
            return refusal_text(
                RefusalReason.AFTER_CUTOFF, cutoff=plan.publicity.cutoff_day
            )
        if kind == "before_publicity" and plan.publicity is not None:
            return refusal_text(
                RefusalReason.PUBLICITY_NOT_OPEN,
                plan_id=plan.plan_id,
                opens=plan.publicity.start_day,
            )
        if kind == "wrong_stage":
            return self._closed(plan)
        return str(getattr(cause, "message", "") or cause)

    def _closed(self, plan: PlanStatus) -> str:
        """Why a plan outside its publicity takes no request: not yet, or no more."""
        window = plan.publicity
        if plan.stage in _BEFORE_PUBLICITY or plan.stage is Stage.CANCELLED:
            return refusal_text(
                RefusalReason.PUBLICITY_NOT_OPEN,
                plan_id=plan.plan_id,
                opens=window.start_day if window else None,
            )
        if window is None:
            return refusal_text(RefusalReason.PUBLICITY_NOT_OPEN, plan_id=plan.plan_id)
        return refusal_text(RefusalReason.AFTER_CUTOFF, cutoff=window.cutoff_day)

    async def _filed(self, source_key: str | None) -> str | None:
        if not source_key:
            return None
        request_id: str | None = await self.pool.fetchval(
            "SELECT request_id FROM correction_requests WHERE source_key = $1",
            source_key,
        )
        return request_id

    # -- answering -------------------------------------------------------------------

    def _compose(
        self, reading: MailReading, verdict: _Verdict, key: str
    ) -> EmailMessage | None:
        if not _answered(reading):
            return None
        if verdict.status is MailStatus.RECEIVED:
            reply = compose_reply(
                reading,
                ReplyKind.RECEIVED,
                reference="、".join(verdict.request_ids),
                reasons=verdict.reasons,
                sender_address=self.address,
                drafts=verdict.registered,
            )
        else:
            reply = compose_reply(
                reading,
                ReplyKind.REFUSED,
                reference=None,
                reasons=verdict.reasons,
                sender_address=self.address,
            )
        return self.stamp(reply, key)

    def stamp(self, reply: EmailMessage, seed: str) -> EmailMessage:
        """Give the reply a Message-ID derived from ``seed``.

        A reply resent after a crash then carries the id of the first attempt,
        and the receiving client shows it once.
        """
        domain = parseaddr(self.address)[1].rpartition("@")[2] or "certflow.invalid"
        digest = hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]
        del reply["Message-ID"]
        reply["Message-ID"] = f"<reply.{digest}@{domain}>"
        return reply

    async def _send_reply(self, row: asyncpg.Record) -> bool:
        """Send the mail's reply unless it was sent or given up; False when an
        earlier attempt of the poll is sending it now.

        That attempt timed out and was not stopped; it records what came of
        the reply, and the mail, left in the mailbox, is acknowledged at the
        next poll. Without the claim both sent the reply.
        """
        key = row["dedupe_key"]
        if row["reply_sha256"] is None or row["replied_at"] is not None:
            return True
        if row["reply_failure"] is not None:
            return True  # given up before: a redelivery does not try again
        # Read before the claim is taken, in a thread: a store slow to answer
        # holds neither the claim nor the worker's other activities.
        data = await asyncio.to_thread(self._stored, row["reply_sha256"])
        reply = message_from_bytes(data, _class=EmailMessage, policy=SMTP)
        claimed = await REPLY_CLAIM.take(self.pool, key, self.renewals)
        if claimed is None:
            return await self._answered(key)

        handover = Handover()
        try:
            failure = await claimed.sending(self._attempt(reply, handover))
        except ClaimLost as lost:
            await claimed.end_unsent(handover)
            # Left in the mailbox: the next poll finds it answered, or answers it.
            log.warning(
                "mail reply send stopped key=%s: this attempt stopped sending it, as"
                " %s; the mail stays in the mailbox for the next poll",
                key[:12],
                lost,
            )
            return False
        except BaseException:
            await claimed.end_unsent(handover)
            raise
        if not await claimed.record(
            "replied_at = CASE WHEN $2::text IS NULL THEN now() END,"
            " reply_failure = $2",
            failure,
            sent=failure is None,
        ):
            # Alive past its claim: the attempt that took over had its say.
            return await self._answered(key)
        if failure is None:
            log.info("mail answered key=%s status=%s", key[:12], row["status"])
        else:
            _log_given_up(key, failure)
        return True

    async def _answered(self, key: str) -> bool:
        """Whether the mail's reply was sent or given up, another attempt of the
        poll having claimed it; False while that attempt is sending it."""
        current = await self._row(key)
        if current is None or current["replied_at"] or current["reply_failure"]:
            return True
        log.warning(
            "mail reply claimed by an earlier attempt key=%s: %s The mail stays in"
            " the mailbox until then.",
            key[:12],
            claim_held(current["reply_sending_since"]),
        )
        return False

    async def _attempt(
        self, reply: EmailMessage, handover: Handover | None = None
    ) -> str | None:
        """Send ``reply``: None once sent, else why it can never be delivered.

        A failure that may pass is raised, and the poll is retried. The reason
        names no address (personal data): the caller records it in
        ``mail_messages.reply_failure``.
        """
        try:
            await self.mailer.send(reply, handover)
        except aiosmtplib.SMTPNotSupported:
            if all(address.isascii() for address in extract_recipients(reply)):
                raise
            # A requester's address outside ASCII (张三@example.org), and a
            # server that takes no such address (no SMTPUTF8): no retry helps.
            return "the mail server takes no address outside ASCII (SMTPUTF8)"
        except aiosmtplib.SMTPException as err:
            given_up = undeliverable(err)
            if given_up is None:
                raise
            return given_up[1]
        except ValueError:
            if not malformed_recipient(reply):
                raise
            return "the mail program refused the requester's address as malformed"
        return None

    def _stored(self, sha256: str) -> bytes:
        # The store checks the bytes against the digest; the size is not used.
        return self.store.get(DocumentRef(sha256=sha256, size=0))

    async def _row(self, key: str) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self.pool.fetchrow(
            "SELECT * FROM mail_messages WHERE dedupe_key = $1", key
        )
        return row

    # -- staff ---------------------------------------------------------------------

    async def assign(
        self,
        key: str,
        plan_id: str,
        *,
        admission_number: str,
        score_field: str,
        requested_score: str,
        reason: str,
        person: str,
        published_score: str = "",
    ) -> Submitted:
        """File a request a person read from a recorded mail (the unmatched queue).

        The request counts as received when the mail was, so a scan sent before
        the cut-off and typed in by staff after it is still on time; never
        later than the poll that read it (a row recorded before received times
        were capped may hold a sender's future Date). The sender
        gets an acknowledgement with the reference. Assigning the same request
        again finds the one filed and files nothing.
        """
        row = await self._row(key)
        if row is None:
            raise AssignError(t("mailbox.not_found", key=key))
        if row["status"] in (MailStatus.IGNORED.value, MailStatus.RECEIVED.value):
            raise AssignError(
                t(
                    "mailbox.not_assignable",
                    key=key[:12],
                    status=t(f"mailbox.status_{row['status']}"),
                )
            )
        plan = await self.plan_status(plan_id)
        if plan is None:
            return Submitted(
                reason=refusal_text(RefusalReason.UNKNOWN_PLAN, plan_id=plan_id)
            )
        source_key = f"{key}#staff:{admission_number}:{score_field}"
        submission = CorrectionSubmission(
            actor=Actor(role=Role.INFO_CENTER, person=person),
            admission_number=admission_number,
            field=score_field,
            published_score=published_score,
            requested_score=requested_score,
            reason=reason,
            requester=NAME.fitted(requester_fallback("", row["sender"])),
            requester_email=row["sender"],
            received_at=min(row["received_at"], row["processed_at"]),
            source_key=source_key,
        )
        try:
            answer = await self.submit(plan, submission)
        except FilingDeferred:
            # Staff are at the keyboard: they are told to try again later.
            return Submitted(reason=t("plan.action_failed"))
        if answer.reference is None:
            return answer

        await self.pool.execute(
            """
            UPDATE mail_messages
            SET status = 'assigned', plan_id = coalesce(plan_id, $2),
                request_ids = CASE WHEN $3 = ANY(request_ids) THEN request_ids
                                   ELSE array_append(request_ids, $3) END,
                assigned_by = $4, assigned_at = now()
            WHERE dedupe_key = $1
            """,
            key,
            plan_id,
            answer.reference,
            person,
        )
        log.info(
            "mail assigned key=%s plan_id=%s request_id=%s by=%s",
            key[:12],
            plan_id,
            answer.reference,
            person,
        )
        answer.reply_failure = await self._acknowledge_assignment(
            row, submission, plan_id, answer.reference
        )
        return answer

    async def _acknowledge_assignment(
        self,
        row: asyncpg.Record,
        submission: CorrectionSubmission,
        plan_id: str,
        reference: str,
    ) -> str | None:
        """Send the sender the acknowledgement; return why it was given up, if so."""
        raw = await asyncio.to_thread(self._stored, row["raw_sha256"])
        reading = await asyncio.to_thread(read_correction_mail, raw)
        if not _answered(reading):
            return None
        draft = CorrectionDraft(
            plan_id=plan_id,
            admission_number=submission.admission_number,
            candidate_name="",
            field=submission.field,  # type: ignore[arg-type]
            # Blank where none is on record, said as the poll's answer says it.
            published_score=submission.published_score or "",
            requested_score=submission.requested_score,
            reason=submission.reason,
            requester=submission.requester,
            requester_email=submission.requester_email,
        )
        # The problems of the reading were answered already, when it was refused.
        reply = compose_reply(
            reading.model_copy(update={"problems": []}),
            ReplyKind.RECEIVED,
            reference=reference,
            reasons=[],
            sender_address=self.address,
            drafts=[draft],
        )
        stamped = self.stamp(reply, f"{row['dedupe_key']}#{reference}")
        failure = await self._attempt(stamped)
        if failure is not None:
            # Staff sent it, not a poll: no claim of the poll's to end.
            await self.pool.execute(
                "UPDATE mail_messages SET reply_failure = $2 WHERE dedupe_key = $1",
                row["dedupe_key"],
                failure,
            )
            _log_given_up(row["dedupe_key"], failure)
            return failure
        await self.pool.execute(
            "UPDATE mail_messages SET reply_message_id = $2, replied_at = now(),"
            " reply_failure = NULL WHERE dedupe_key = $1",
            row["dedupe_key"],
            reply["Message-ID"],
        )
        return None


def _answered(reading: MailReading) -> bool:
    """Whether the mailbox answers the mail: not an automatic one (RFC 3834:
    no automatic answer, even to a site's request filed from it, or two
    robots would mail each other), and from an address a reply can go to."""
    return not reading.auto_submitted and reply_address(reading.sender) is not None


async def _purged(pool: Any) -> None:
    """Delete the correction drafts nobody filed (``purge_drafts``); a
    database of a schema before version 29 has none."""
    try:
        count = await purge_drafts(pool)
    except asyncpg.UndefinedTableError:
        return
    if count:
        log.info("correction drafts nobody filed deleted count=%d", count)


def _placed(draft: CorrectionDraft, reason: str, *, several: bool) -> str:
    """``reason`` said where its request stands in the mail, as the form's
    own problems are: a spreadsheet row by its sheet and row, a request typed
    in a body by its number when the body holds several.

    Trial: a form of a dozen rows answered "申请修改的成绩“101”无效" alone
    left the site to guess which row to send again.
    """
    if draft.row is not None:
        where = Problem(code="", message="", sheet=draft.sheet, row=draft.row)
        return f"{where.locate()}：{reason}"
    if several and draft.ordinal is not None:
        return t("corrections.problem.in_body", n=draft.ordinal, message=reason)
    return reason


def _holds_form(reading: MailReading) -> bool:
    """Whether the mail holds a form, read or not: a request, or an
    attachment a person can read (a scan, an archive, a damaged workbook)."""
    return bool(reading.drafts) or any(
        problem.code not in _NO_FORM for problem in reading.problems
    )


def _log_given_up(key: str, failure: str) -> None:
    """Log a reply given up, with the key's prefix only (never the address)."""
    log.warning("mail reply given up key=%s reason=%s", key[:12], failure)


def mailbox_activities(
    settings: Settings, pool: Any, client: Client, renewals: Any = None
) -> list[Callable[..., Any]]:
    """The activities of the correction intake, for the worker to register;
    ``renewals`` the pool of its claims' renewals (``pool`` if None)."""
    intake = MailIntakeActivities(
        settings,
        pool,
        DocumentStore(settings.documents_dir),
        client,
        renewals=renewals,
    )
    return [intake.process_mailbox]
