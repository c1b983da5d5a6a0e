"""Reading one raw mail of the exam mailbox into correction-request drafts."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.errors import InvalidHeaderDefect
from email.headerregistry import Address, AddressHeader, HeaderRegistry
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime

from certflow.corrections.archive import zip_members
from certflow.corrections.decode import (
    RAW,
    clean_text,
    decode_header_text,
    part_filename,
    part_text,
)
from certflow.corrections.html import html_to_text
from certflow.corrections.model import PLACE, CorrectionDraft, MailReading
from certflow.corrections.spreadsheet import (
    SPREADSHEET_MAGIC,
    read_form_workbook,
    refusal_problem,
)
from certflow.corrections.text import read_correction_form_text
from certflow.i18n import t
from certflow.models import Problem

_SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".csv")
_SPREADSHEET_TYPES = {
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-excel",
    "application/vnd.ms-excel.sheet.macroenabled.12",
    "application/vnd.oasis.opendocument.spreadsheet",
    "text/csv",
}
_ARCHIVE_SUFFIXES = (".zip",)
_ARCHIVE_TYPES = {
    "application/zip",
    "application/x-zip-compressed",
    "application/x-zip",
}
# Archives the standard library cannot open: read by staff.
_OTHER_ARCHIVE_SUFFIXES = (".rar", ".7z")
_ALL_ARCHIVE_SUFFIXES = _ARCHIVE_SUFFIXES + _OTHER_ARCHIVE_SUFFIXES
_SCAN_SUFFIXES = (".pdf", ".jpg", ".jpeg", ".png", ".heic", ".bmp", ".tif", ".tiff")
# A picture pasted into the body smaller than this is decoration (an emoji, a
# spacer, a tracking pixel), not a screenshot of the form: a form of one row,
# as the smallest screenshot shows it, is larger.
_DECORATION_BYTES = 4096
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# What the sender wrote, which no relay changes; trace headers (Received,
# Delivered-To, ...) are added on the way and differ between two deliveries.
_IDENTITY_HEADERS = ("from", "to", "cc", "date", "subject")
# How a body points at an attachment ("见附件", "请查收附件", "see attached").
_ATTACHMENT_WORDS = re.compile(r"附件|附表|attach", re.IGNORECASE)
# Real clients nest four or five levels (a forward of a mail with an inline
# image); a hostile message nested far deeper is not followed down.
_MAX_DEPTH = 16
# The standard library's strict reader of address headers (RFC 5322).
_ADDRESS_HEADERS = HeaderRegistry()


@dataclass
class _Parts:
    """The leaves of a mail that matter: body candidates and attachments."""

    # (alternative group, content type, text); a group is one multipart/alternative
    bodies: list[tuple[int, str, str]] = field(default_factory=list)
    # (name, bytes); bytes are None when the attachment was too large to read
    spreadsheets: list[tuple[str, bytes | None]] = field(default_factory=list)
    # What a person must read (a scan, an archive the reader does not open):
    # said only when the mail has no request at all
    for_people: list[Problem] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    alternatives: int = 0


def read_correction_mail(raw: bytes) -> MailReading:
    """Read a raw RFC 5322 message into its identity, drafts and problems.

    Spreadsheet attachments are read first, including those of a forwarded
    message. When one of them is a form, the body is not read for requests (it
    usually just says "see attachment"); otherwise the body is, preferring the
    plain-text alternative and falling back to HTML. A mail with no request at
    all gets a ``no_form`` problem (or ``scan_only`` for a photographed form,
    attached or pasted into the body) so staff can assign it from the unmatched
    queue.
    """
    parts = _Parts()
    try:
        message = BytesParser(policy=RAW).parsebytes(raw)
        _collect(message, parts, group=0, depth=0)
    except RecursionError:
        # The standard parser recurses once per nesting level; a message nested
        # a thousand deep is hostile. Keep its headers, so it can be answered.
        message = BytesParser(policy=RAW).parsebytes(raw, headersonly=True)
        parts = _Parts(for_people=[_for_people("unreadable_mail", "mail_too_deep")])
    sender_name, sender, sender_unclear = _sender(message)
    message_id = _message_ids(message.get("Message-ID"))
    synthetic = not message_id

    drafts: list[CorrectionDraft] = []
    problems: list[Problem] = []
    form_attached = False
    for filename, data in parts.spreadsheets:
        if data is None:
            problems.append(refusal_problem("file_too_large", filename))
            continue
        sheet = read_form_workbook(
            data, sender=sender, sender_name=sender_name, filename=filename
        )
        form_attached = form_attached or sheet.is_form
        drafts.extend(sheet.drafts)
        problems.extend(sheet.problems)

    if not form_attached:
        body_drafts, body_problems = _read_bodies(parts, sender, sender_name)
        drafts.extend(body_drafts)
        problems.extend(body_problems)
    if form_attached or drafts:
        problems = [p for p in problems if p.code != "not_a_form"]

    if not drafts and not problems:
        # Two pictures pasted into one body are one thing to say.
        said = {p.message: p for p in parts.for_people}
        problems = list(said.values()) or [_no_form(parts)]

    subject = decode_header_text(message.get("Subject"))
    return MailReading(
        message_id=message_id[0] if message_id else _synthetic_id(message, raw),
        message_id_synthetic=synthetic,
        content_key=hashlib.sha256(raw).hexdigest(),
        sender=sender,
        sender_name=sender_name,
        sender_unclear=sender_unclear,
        subject=subject,
        written_key=_written_key(message, raw),
        drafts=_unique(drafts),
        problems=problems,
        received_at=_date(message.get("Date")),
        references=_references(message),
        auto_submitted=_auto_submitted(message),
        attachments=parts.attachments,
    )


def dedupe_key(reading: MailReading, *, reused: bool = False) -> str:
    """Return the key that tells two deliveries of one mail apart from two mails.

    It is the sender with the Message-ID (or the synthetic id, itself derived
    from what the sender wrote), so a mail delivered twice, fetched again after a
    restart, or copied between folders gets the same key, while a different
    mail reusing another sender's Message-ID does not. With ``reused`` (the
    Message-ID was recorded for a mail that said something else) the key is
    of what the mail says too (``written_key``).
    """
    identity = f"{reading.sender}\n{reading.message_id.strip().lower()}"
    if reused:
        identity += f"\n{reading.written_key}"
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


def _collect(part: Message, into: _Parts, *, group: int, depth: int) -> None:
    """Sort the leaves of ``part`` into bodies, spreadsheets and the rest."""
    if part.is_multipart():
        if depth >= _MAX_DEPTH:
            into.for_people.append(_for_people("unreadable_mail", "mail_too_deep"))
            return
        if part.get_content_type() == "multipart/alternative":
            into.alternatives += 1
            group = into.alternatives
        payload = part.get_payload()
        for child in payload if isinstance(payload, list) else []:
            if isinstance(child, Message):
                _collect(child, into, group=group, depth=depth + 1)
        return

    content_type = part.get_content_type()
    if part.get_content_maintype() == "multipart":
        # A multipart the parser could not split (no boundary parameter, or a
        # boundary that never occurs): its parts are lost, not absent.
        into.for_people.append(_for_people("unreadable_mail"))
        return
    filename = part_filename(part)
    lower = filename.lower()
    disposition = (part.get_content_disposition() or "").lower()
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        data = b""
    if filename:
        into.attachments.append(filename)

    if lower.endswith(_ARCHIVE_SUFFIXES) or content_type in _ARCHIVE_TYPES:
        contents = zip_members(data, _SPREADSHEET_SUFFIXES, _ALL_ARCHIVE_SUFFIXES)
        if contents is None:
            into.for_people.append(_for_people("unreadable_archive", filename=filename))
        else:
            into.spreadsheets.extend(contents.members)
            into.attachments.extend(name for name, _ in contents.members)
            into.for_people.extend(
                _for_people(
                    "unreadable_archive",
                    "archive_in_archive",
                    filename=filename,
                    inner=inner,
                )
                for inner in contents.archives
            )
    elif (
        lower.endswith(_SPREADSHEET_SUFFIXES)
        or content_type in _SPREADSHEET_TYPES
        or (
            disposition == "attachment"
            and content_type == "application/octet-stream"
            and data.startswith(SPREADSHEET_MAGIC)
        )
    ):
        into.spreadsheets.append((filename, data))
    elif lower.endswith(_OTHER_ARCHIVE_SUFFIXES):
        into.for_people.append(_for_people("unreadable_archive", filename=filename))
    elif _is_picture(content_type, lower):
        scan = _scan(part, filename, data, disposition)
        if scan is not None:
            into.for_people.append(scan)
    elif (
        content_type in ("text/plain", "text/html")
        and disposition != "attachment"
        and not filename
    ):
        into.bodies.append((group, content_type, part_text(part)))


def _is_picture(content_type: str, lower_name: str) -> bool:
    """Whether a leaf is a photo, a screenshot or a PDF: by name or by type
    (a screenshot pasted into the body often has no name)."""
    return (
        lower_name.endswith(_SCAN_SUFFIXES)
        or content_type.startswith("image/")
        or content_type == "application/pdf"
    )


def _scan(
    part: Message, filename: str, data: bytes, disposition: str
) -> Problem | None:
    """The ``scan_only`` problem of a picture or PDF, or None for decoration.

    A picture pasted into an HTML mail (inline, or with a Content-ID the HTML
    shows it by) is said to be in the body, as its sender sees it, not by the
    name its mail program gave it (image001.png); one with no name is too.
    """
    pasted = disposition == "inline" or (not disposition and "Content-ID" in part)
    if pasted and len(data) < _DECORATION_BYTES:
        return None
    if pasted or not filename:
        return _for_people("scan_only", "scan_in_body")
    return _for_people("scan_only", filename=filename)


def _for_people(code: str, text: str = "", **fields: str) -> Problem:
    """A problem of what a person must read; ``text`` names its message when
    the code is said another way (``corrections.problem.<text>``)."""
    return Problem(
        code=code, message=t(f"corrections.problem.{text or code}", **fields)
    )


def _read_bodies(
    parts: _Parts, sender: str, sender_name: str
) -> tuple[list[CorrectionDraft], list[Problem]]:
    """Read the body texts; of each multipart/alternative only its best version.

    The best version gives the most drafts; on a tie the plain text wins, being
    what the person typed (an HTML table can read better than its plain rendering).
    """
    batches: list[list[tuple[str, str]]] = []
    batch_of_group: dict[int, int] = {}
    for group, content_type, text in parts.bodies:
        if group and group in batch_of_group:
            batches[batch_of_group[group]].append((content_type, text))
            continue
        if group:
            batch_of_group[group] = len(batches)
        batches.append([(content_type, text)])

    drafts: list[CorrectionDraft] = []
    problems: list[Problem] = []
    for batch in batches:
        readings = []
        for content_type, text in batch:
            plain = html_to_text(text) if content_type == "text/html" else text
            found, trouble = read_correction_form_text(
                plain, sender=sender, sender_name=sender_name
            )
            readings.append((len(found), content_type == "text/plain", found, trouble))
        _, _, found, trouble = max(readings, key=lambda r: (r[0], r[1]))
        drafts.extend(found)
        problems.extend(trouble)
    return drafts, problems


def _no_form(parts: _Parts) -> Problem:
    """Say that the mail holds no form, precisely when it was meant to.

    "见附件" with nothing attached is the commonest way a request gets lost: the
    sender is told the attachment did not come, not only that no form was found.
    """
    code = "no_form"
    if not parts.attachments and any(
        _ATTACHMENT_WORDS.search(
            html_to_text(text) if content_type == "text/html" else text
        )
        for _, content_type, text in parts.bodies
    ):
        code = "attachment_missing"
    return Problem(code=code, message=t(f"corrections.problem.{code}"))


def _unique(drafts: list[CorrectionDraft]) -> list[CorrectionDraft]:
    seen: set[str] = set()
    unique: list[CorrectionDraft] = []
    for draft in drafts:
        # The same request read twice (a form attached twice, or also in a
        # zip) is one, wherever it stood.
        key = draft.model_dump_json(exclude=set(PLACE))
        if key not in seen:
            seen.add(key)
            unique.append(draft)
    return unique


def _sender(message: Message) -> tuple[str, str, bool]:
    """The sender's display name and address, and whether the From is unclear.

    The address is the addr-spec of the one mailbox From names, as the
    standard library reads it strictly: the address in angle brackets, which
    mail programs show and DMARC checks, whatever the display name says. A
    From naming several mailboxes, or one the strict reader finds invalid
    (``kaowu@site <attacker@evil>`` unquoted), is unclear: its first address
    is kept to answer, never to be taken for a site's. A display name that is
    itself an address other than the sender's is no name (the requester is
    then the address).
    """
    value = message.get("From") or ""
    # Raw 8-bit bytes (UTF-8 or GBK headers) made text; encoded words are left
    # for the strict reader, so an encoded "<x@y>" stays inside the name.
    try:
        header = _ADDRESS_HEADERS("from", clean_text(value))
    except Exception:
        # The strict reader trips over some broken values ("a@[", "(<@") with
        # errors of its own making (IndexError, UnboundLocalError): unclear.
        mailboxes: tuple[Address, ...] = ()
        unclear = True
    else:
        assert isinstance(header, AddressHeader)
        mailboxes = header.addresses
        unclear = len(mailboxes) != 1 or any(
            isinstance(defect, InvalidHeaderDefect) for defect in header.defects
        )
    name, address = "", ""
    for pair_name, pair_address in getaddresses([value]):
        if pair_address:
            name, address = decode_header_text(pair_name), pair_address
            break
    # Two From headers name two senders, whichever a program shows.
    unclear = unclear or len(message.get_all("From") or []) > 1
    if not unclear:
        address = mailboxes[0].addr_spec
        if "@" in name and name.strip(" <>\"'").lower() != address.lower():
            name = ""
    address = clean_text(address).strip().lower()
    if not _usable(address):
        # Control characters (a NUL) in the address: no mail goes there, and
        # no site's address is so written. No address at all.
        return name, "", unclear
    return name, address, unclear


def _usable(address: str) -> bool:
    """Whether a mail could be sent to ``address``: no control character."""
    return address.isprintable() and not any(ch.isspace() for ch in address)


def _written_key(message: Message, raw: bytes) -> str:
    """The sha256 of what the sender wrote as it travels: the Subject as
    written (its folding aside) and each part's bytes, transfer encoding
    undone. A relay re-encoding the mail (8-bit to quoted-printable) or adding
    trace headers changes none of them; nor does a release of this reader that
    reads them otherwise (a mail fetched again after a deploy is the same
    mail: another key would file its requests twice)."""
    digest = hashlib.sha256()
    subject = " ".join(str(message.get("Subject") or "").split())
    digest.update(subject.encode("utf-8", "surrogateescape") + b"\x00")
    for payload in _leaf_payloads(message, raw):
        digest.update(hashlib.sha256(payload).digest())
    return digest.hexdigest()


def _leaf_payloads(message: Message, raw: bytes) -> list[bytes]:
    """Each leaf part's bytes, transfer encoding undone, in order; for a mail
    that cannot be walked so (nested past any form's depth, or damaged), its
    raw body."""
    found: list[bytes] = []
    stack: list[tuple[Message, int]] = [(message, 0)]
    try:
        while stack:
            part, depth = stack.pop()
            if not part.is_multipart():
                payload = part.get_payload(decode=True)
                found.append(payload if isinstance(payload, bytes) else b"")
                continue
            if depth >= _MAX_DEPTH:
                raise RecursionError("nested past any form's depth")
            children = part.get_payload()
            stack.extend(
                (child, depth + 1)
                for child in reversed(children if isinstance(children, list) else [])
                if isinstance(child, Message)
            )
    except Exception:  # a damaged mail: what it holds after its headers
        return [_body_of(raw)]
    return found


def _body_of(raw: bytes) -> bytes:
    """What a raw mail holds after its headers (from the blank line on); the
    whole of it where no blank line ends them."""
    start = raw.find(b"\r\n\r\n")
    if start < 0:
        start = raw.find(b"\n\n")
    return raw[start:] if start >= 0 else raw


def _message_ids(value: str | None) -> list[str]:
    """The ids a header names; a control character in one (a NUL) shown as
    U+FFFD, as the database keeps it and a reply's In-Reply-To names it."""
    return [
        "".join(ch if ch.isprintable() else "\ufffd" for ch in found)
        for found in _MESSAGE_ID.findall(clean_text(value or ""))
    ]


def _references(message: Message) -> list[str]:
    found = _message_ids(message.get("References"))
    for reply_to in _message_ids(message.get("In-Reply-To")):
        if reply_to not in found:
            found.append(reply_to)
    return found


def _synthetic_id(message: Message, raw: bytes) -> str:
    """Make a Message-ID for a mail without one, the same for every delivery."""
    digest = hashlib.sha256()
    for name in _IDENTITY_HEADERS:
        digest.update(
            f"{name}:{message.get(name) or ''}\n".encode("utf-8", "surrogateescape")
        )
    digest.update(_body_of(raw))
    return f"<{digest.hexdigest()[:40]}@synthetic.certflow.invalid>"


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    # A date without a zone cannot be placed in time; keep none rather than guess.
    return parsed if parsed.tzinfo is not None else None


def _auto_submitted(message: Message) -> bool:
    auto = (message.get("Auto-Submitted") or "no").strip().lower()
    precedence = (message.get("Precedence") or "").strip().lower()
    return (
        auto != "no"
        or precedence in ("bulk", "junk", "list", "auto_reply")
        or message.get_content_type() == "multipart/report"
        or message.get("X-Autoreply") is not None
        or message.get("X-Autorespond") is not None
    )
