"""The automatic replies of the exam mailbox: acknowledgement and refusal."""

from __future__ import annotations

import re
from datetime import date, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid, parseaddr
from enum import StrEnum

from certflow.corrections.model import CorrectionDraft, MailReading
from certflow.i18n import t
from certflow.privacy import mask_id_numbers_anywhere, mask_name
from certflow.text import code_point, visible
from certflow.timeutil import CST

_REPLY_PREFIX = re.compile(r"^\s*(re|回复|答复)\s*[:：]", re.IGNORECASE)
# Long threads make References grow without end; the first and the latest ids
# are what clients need to thread (RFC 5322 3.6.4 allows trimming).
_MAX_REFERENCES = 10


class ReplyKind(StrEnum):
    """Which reply to send: the request was registered, or it was not."""

    RECEIVED = "received"
    REFUSED = "refused"


class RefusalReason(StrEnum):
    """Why a mail was not registered as a correction request."""

    AFTER_CUTOFF = "after_cutoff"
    UNKNOWN_PLAN = "unknown_plan"
    CANDIDATE_NOT_IN_PLAN = "candidate_not_in_plan"
    UNREADABLE_FORM = "unreadable_form"
    SENDER_NOT_SITE = "sender_not_site"
    SENDER_UNCLEAR = "sender_unclear"
    PUBLICITY_NOT_OPEN = "publicity_not_open"
    TOO_MANY_REQUESTS = "too_many_requests"
    NAME_MISMATCH = "name_mismatch"
    TEXT_TOO_LONG = "text_too_long"
    NO_SENDER = "no_sender"
    FOLLOW_UP = "follow_up"
    PUBLISHED_MISSING = "published_missing"


def refusal_text(
    reason: RefusalReason,
    *,
    plan_id: str | None = None,
    cutoff: date | None = None,
    admission_number: str | None = None,
    sender: str | None = None,
    opens: date | None = None,
    count: int | None = None,
    limit: int | None = None,
    field: str | None = None,
    length: int | None = None,
) -> str:
    """Phrase one refusal reason in Chinese, for ``compose_reply(reasons=...)``.

    Raises ``ValueError`` when a field the reason names is missing, so a refusal
    never goes out saying "截止日期为 None". A plan id or admission number
    the sender wrote is repeated with any ID number in it masked (a form with
    the ID number in the admission number's place).
    """
    needed: dict[RefusalReason, dict[str, object]] = {
        RefusalReason.AFTER_CUTOFF: {"cutoff": cutoff},
        RefusalReason.UNKNOWN_PLAN: {"plan_id": plan_id},
        RefusalReason.CANDIDATE_NOT_IN_PLAN: {
            "plan_id": plan_id,
            "admission_number": admission_number,
        },
        RefusalReason.UNREADABLE_FORM: {},
        RefusalReason.SENDER_NOT_SITE: {"plan_id": plan_id, "sender": sender},
        RefusalReason.SENDER_UNCLEAR: {"plan_id": plan_id},
        RefusalReason.PUBLICITY_NOT_OPEN: {"plan_id": plan_id},
        RefusalReason.TOO_MANY_REQUESTS: {"count": count, "limit": limit},
        RefusalReason.NAME_MISMATCH: {
            "plan_id": plan_id,
            "admission_number": admission_number,
        },
        RefusalReason.NO_SENDER: {},
        RefusalReason.FOLLOW_UP: {},
        RefusalReason.PUBLISHED_MISSING: {
            "plan_id": plan_id,
            "admission_number": admission_number,
            "field": field,
        },
        RefusalReason.TEXT_TOO_LONG: {
            "plan_id": plan_id,
            "admission_number": admission_number,
            "field": field,
            "limit": limit,
            "length": length,
        },
    }
    fields = needed[reason]
    missing = [name for name, value in fields.items() if value in (None, "")]
    if missing:
        raise ValueError(f"refusal {reason.value} needs {', '.join(missing)}")

    fields = {
        name: mask_id_numbers_anywhere(value) if isinstance(value, str) else value
        for name, value in fields.items()
    }
    key = reason.value
    if reason is RefusalReason.PUBLICITY_NOT_OPEN and opens is not None:
        key, fields = "publicity_not_open_from", {**fields, "opens": opens.isoformat()}
    if reason is RefusalReason.SENDER_NOT_SITE and not str(sender).isascii():
        # kaowu@whjtxx.exаmple.edu.cn (a Cyrillic а) reads as the site's address:
        # the characters that differ are named, so the sender sees why.
        key, fields = (
            "sender_not_site_lookalike",
            {**fields, "characters": _wide(sender)},
        )
    return t(f"corrections.refusal.{key}", **fields)


def _wide(text: str | None) -> str:
    """The characters of ``text`` outside ASCII, each once, by code point."""
    wide = dict.fromkeys(c for c in text or "" if not c.isascii())
    return "、".join(f"{code_point(c)}（{visible(c)}）" for c in wide)


def reply_address(sender: str) -> str | None:
    """The address a reply to ``sender`` goes to, None when there is none.

    A domain written outside ASCII (``whjtxx.exаmple.edu.cn``, a Cyrillic а)
    is sent in its ASCII form (IDNA, ``xn--…``): written as such in a header,
    the standard library made an encoded word of it, which is no address. A
    domain IDNA cannot write (a label too long) gets no reply.
    """
    local, at, domain = sender.rpartition("@")
    if not sender or domain.isascii():
        return sender or None
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    return f"{local}{at}{ascii_domain}"


def compose_reply(
    original: MailReading,
    kind: ReplyKind,
    *,
    reference: str | None,
    reasons: list[str],
    sender_address: str,
    drafts: list[CorrectionDraft] | None = None,
    sent_at: datetime | None = None,
) -> EmailMessage:
    """Compose the Chinese reply to a mail of the exam mailbox.

    RECEIVED acknowledges the registered requests (``drafts``, by default those
    of the mail) under ``reference``, and says what was not registered and why:
    ``reasons``, by default the problems found in the mail (the incomplete row
    of an otherwise good form). REFUSED lists the same, and must have some.

    The reply threads under the original (In-Reply-To, References) unless its
    Message-ID was synthetic, and is marked Auto-Submitted so that the sender's
    vacation robot does not answer it. What it repeats of the mail (its
    subject, a refused value) shows hidden characters as code points
    (``<U+202E>``), as every mail does.
    """
    to = reply_address(original.sender)
    if to is None:
        raise ValueError("the original mail has no sender address to reply to")
    subject = visible(original.subject.strip()) or t("corrections.default_subject")
    texts = reasons or [p.render() for p in original.problems]
    if kind is ReplyKind.RECEIVED:
        if not reference:
            raise ValueError("an acknowledgement needs the reference number")
        unregistered = (
            t("corrections.reply.unregistered", reasons=_numbered(texts))
            if texts
            else ""
        )
        body = _received_body(
            subject, reference, drafts or original.drafts, unregistered
        )
    else:
        if not texts:
            raise ValueError("a refusal needs at least one reason")
        body = t("corrections.reply.refused", subject=subject, reasons=_numbered(texts))

    reply = EmailMessage(policy=SMTP)
    reply["From"] = sender_address
    reply["To"] = to
    reply["Subject"] = subject if _REPLY_PREFIX.match(subject) else f"Re: {subject}"
    reply["Date"] = format_datetime((sent_at or datetime.now(CST)).astimezone(CST))
    domain = parseaddr(sender_address)[1].rpartition("@")[2]
    reply["Message-ID"] = make_msgid(domain=domain or None)
    if not original.message_id_synthetic:
        reply["In-Reply-To"] = original.message_id
        chain = [*original.references, original.message_id]
        if len(chain) > _MAX_REFERENCES:
            chain = [chain[0], *chain[-(_MAX_REFERENCES - 1) :]]
        reply["References"] = " ".join(chain)
    reply["Auto-Submitted"] = "auto-replied"
    # Outlook's own out-of-office robot honours this one instead.
    reply["X-Auto-Response-Suppress"] = "All"
    reply.set_content(visible(body.strip()) + "\n", charset="utf-8", cte="base64")
    return reply


def _numbered(texts: list[str]) -> str:
    return "\n".join(
        t("corrections.reply.reason_item", n=n, reason=text)
        for n, text in enumerate(texts, start=1)
    )


def _received_body(
    subject: str, reference: str, drafts: list[CorrectionDraft], unregistered: str
) -> str:
    items = "\n".join(
        t(
            "corrections.reply.item",
            n=n,
            plan_id=draft.plan_id,
            name=mask_name(draft.candidate_name),
            admission_number=draft.admission_number,
            field=t(f"corrections.reply.field_{draft.field}"),
            # 原成绩 left blank: the candidate had no score to copy.
            published=draft.published_score or t("corrections.reply.no_published"),
            requested=draft.requested_score,
        )
        for n, draft in enumerate(drafts, start=1)
    )
    plan_ids = "、".join(dict.fromkeys(d.plan_id for d in drafts))
    return t(
        "corrections.reply.received",
        subject=subject,
        reference=reference,
        plan_ids=plan_ids or "—",
        count=len(drafts),
        items=items,
        unregistered=unregistered,
    )
