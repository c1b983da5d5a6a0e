"""The models a correction-request mail is read into."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from certflow.models import Model, Problem

ScoreField = Literal["theory", "practical", "total", "status"]

# The problems of a form's cells that every reader of uploaded workbooks
# reports alike (texts: intake.<code>).
INTAKE_PROBLEM_CODES = frozenset({"formula_without_result"})
# Every Problem.code a reading can carry (texts: corrections.problem.<code>,
# or intake.<code> for ``INTAKE_PROBLEM_CODES``).
PROBLEM_CODES = INTAKE_PROBLEM_CODES | frozenset(
    {
        "no_form",
        "attachment_missing",
        "scan_only",
        "unreadable_mail",
        "unreadable_archive",
        "empty_attachment",
        "unreadable_attachment",
        "attachment_too_large",
        "encrypted_attachment",
        "macro_attachment",
        "not_a_form",
        "missing_field",
        "unknown_score_field",
        "bad_plan_id",
        "bad_admission_number",
        "admission_is_id_number",
        "plan_id_is_id_number",
        "text_holds_id_number",
        "id_number_as_number",
    }
)


# The fields of a draft saying where it stands in its mail, not what it asks.
PLACE = frozenset({"sheet", "row", "ordinal"})


class CorrectionDraft(Model):
    """One correction request (成绩修改申请) as read from a mail or the staff tool.

    Values are kept as written by the requester; the workflow side checks them
    against the plan (does the candidate exist, is the score a number in range).
    Personal data: never log a draft.
    """

    plan_id: str
    admission_number: str
    candidate_name: str
    id_number: str | None = None
    module_code: str | None = None
    field: ScoreField
    published_score: str
    requested_score: str
    reason: str
    requester: str
    requester_email: str
    phone: str | None = None
    # Where the request stands in the mail, as the form's problems say it:
    # a spreadsheet's sheet and row, or its number among a body's requests.
    # The plan's refusal of it is said there, so the sender knows which to
    # send again.
    sheet: str | None = None
    row: int | None = None
    ordinal: int | None = None


class MailReading(Model):
    """What one mail of the exam mailbox says: its identity and its requests.

    ``drafts`` and ``problems`` may both be non-empty: a form with three good rows
    and one incomplete row gives three drafts and one problem. A reading with no
    drafts goes to the unmatched queue, where staff can assign it by hand.
    """

    message_id: str
    content_key: str
    sender: str
    subject: str
    drafts: list[CorrectionDraft] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)
    received_at: datetime | None = None
    sender_name: str = ""
    # The From names several mailboxes, or none the strict reader takes:
    # ``sender`` is whom to answer, never an address to take for a site's.
    sender_unclear: bool = False
    message_id_synthetic: bool = False
    references: list[str] = Field(default_factory=list)
    # True for bounces, vacation replies and list mail: never answer those, or
    # two robots end up mailing each other forever.
    auto_submitted: bool = False
    attachments: list[str] = Field(default_factory=list)
    # The sha256 of what the sender wrote, decoded (``mail._written_key``): the
    # same for every delivery of one mail, another for another mail under the
    # same Message-ID.
    written_key: str = ""
