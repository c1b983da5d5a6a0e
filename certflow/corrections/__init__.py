"""Correction requests (成绩修改申请) from the exam mailbox: reading and replying.

Pure parsing and composing: no network, no database. The mailbox sources live in
``activities/mailbox.py``; the workflow side decides what a draft leads to.
"""

from certflow.corrections.mail import dedupe_key, read_correction_mail
from certflow.corrections.model import (
    INTAKE_PROBLEM_CODES,
    PROBLEM_CODES,
    CorrectionDraft,
    MailReading,
    ScoreField,
)
from certflow.corrections.reply import (
    RefusalReason,
    ReplyKind,
    compose_reply,
    refusal_text,
    reply_address,
)
from certflow.corrections.spreadsheet import read_correction_form_xlsx
from certflow.corrections.text import read_correction_form_text

__all__ = [
    "INTAKE_PROBLEM_CODES",
    "PROBLEM_CODES",
    "CorrectionDraft",
    "MailReading",
    "RefusalReason",
    "ReplyKind",
    "ScoreField",
    "compose_reply",
    "dedupe_key",
    "read_correction_form_text",
    "read_correction_form_xlsx",
    "read_correction_mail",
    "refusal_text",
    "reply_address",
]
