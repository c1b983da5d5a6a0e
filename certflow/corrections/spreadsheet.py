"""Reading the xlsx correction request template (and xls / ods / CSV saved from it).

Files are opened by intake's reader, which recognises the format from content
and refuses encrypted files, macro workbooks and zip bombs before any parser
sees them, so a form attachment is held to the same rules as an upload.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from certflow.corrections.form import Record, check_records
from certflow.corrections.model import CorrectionDraft
from certflow.corrections.table import records_from_rows
from certflow.i18n import t
from certflow.intake.container import OLE2_MAGIC, ZIP_MAGICS, Refusal
from certflow.intake.limits import MIB, IntakeLimits
from certflow.intake.workbook import Workbook, open_workbook
from certflow.isolation import ReadingBounds, ReadingFailed, read_apart
from certflow.models import Problem

log = logging.getLogger(__name__)

# How a spreadsheet is recognised when a phone client sends it as
# application/octet-stream with a mangled name.
SPREADSHEET_MAGIC = (*ZIP_MAGICS, OLE2_MAGIC)
# The template filled with a few hundred rows is well under 1 MB.
FORM_LIMITS = IntakeLimits(max_bytes=10 * MIB, max_rows=2000)
# What reading one attachment may take: a form of 2,000 rows takes a small
# part of either.
FORM_BOUNDS = ReadingBounds(memory_mb=1024, cpu_seconds=20, wall_seconds=30)
# Refusals of intake's reader that the sender can fix in a particular way; the
# others (damaged, unknown format, HTML saved as .xls ...) read "cannot be opened".
_REFUSALS = {
    "empty_file": "empty_attachment",
    "encrypted": "encrypted_attachment",
    "macro_workbook": "macro_attachment",
    "file_too_large": "attachment_too_large",
    "too_many_rows": "attachment_too_large",
    "sheet_too_large": "attachment_too_large",
    "too_many_strings": "attachment_too_large",
    "too_many_cells": "attachment_too_large",
    "too_much_text": "attachment_too_large",
    "too_many_sheets": "attachment_too_large",
    "zip_ratio": "attachment_too_large",
    "zip_too_large": "attachment_too_large",
    "zip_too_many_members": "attachment_too_large",
}


@dataclass
class SheetReading:
    """What a spreadsheet attachment held: whether it is a form, and its requests."""

    is_form: bool = False
    drafts: list[CorrectionDraft] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def read_form_workbook(
    data: bytes, *, sender: str, sender_name: str = "", filename: str = ""
) -> SheetReading:
    """Read every sheet of a workbook that has the form header.

    Sheets without the header (the template's instructions sheet, a pasted score
    summary) are skipped; a workbook with no such sheet is not a form.

    Read in a process of its own (``certflow.isolation``): an attachment
    comes from anyone who can send a mail, and a file that makes the reader
    abort, panic or run on ends as a problem with it, not with the mailbox's
    worker.
    """
    name = filename or "xlsx"
    try:
        return read_apart(
            _read_form,
            data,
            sender=sender,
            sender_name=sender_name,
            filename=name,
            bounds=FORM_BOUNDS,
        )
    except ReadingFailed as failed:
        log.warning(
            "attachment unreadable reason=%s error=%s",
            failed.reason,
            failed.error or "-",
        )
        too_much = failed.reason in ("memory", "time", "wait")
        return SheetReading(
            problems=[
                refusal_problem("file_too_large" if too_much else "damaged", name)
            ]
        )


def _read_form(
    data: bytes, *, sender: str, sender_name: str, filename: str
) -> SheetReading:
    """``read_form_workbook``'s reading, in the reading's own process."""
    name = filename
    workbook = _open(data)
    if isinstance(workbook, Refusal):
        return SheetReading(problems=[refusal_problem(workbook.code, name)])

    records: list[Record] = []
    is_form = False
    for sheet in workbook.sheets:
        found = records_from_rows(
            sheet.rows,
            sheet=sheet.name,
            uncalculated=sheet.uncalculated,
            errors=sheet.errors,
        )
        if found is not None:
            is_form = True
            records.extend(found)
    if not is_form:
        problem = Problem(
            code="not_a_form",
            message=t("corrections.problem.not_a_form", filename=name),
        )
        return SheetReading(problems=[problem])

    drafts, problems = check_records(
        [r for r in records if r.attempted()], sender=sender, sender_name=sender_name
    )
    return SheetReading(is_form=True, drafts=drafts, problems=problems)


def refusal_problem(refusal: str, filename: str) -> Problem:
    """Return the problem an attachment refused for ``refusal`` (intake's code) is."""
    code = _REFUSALS.get(refusal, "unreadable_attachment")
    return Problem(
        code=code, message=t(f"corrections.problem.{code}", filename=filename)
    )


def _open(data: bytes) -> Workbook | Refusal:
    try:
        return open_workbook(data, FORM_LIMITS)
    except Exception:
        # Intake's reader lets a few errors of damaged files through (zipfile's
        # ValueError "negative seek value" on a cut central directory); a mail
        # attachment must still end as a problem, not as a failed activity.
        return Refusal("damaged", {})
    except BaseException as error:
        # A malformed file can make calamine's Rust code panic; pyo3 raises that
        # as PanicException, a BaseException, so that it is not caught by accident.
        if type(error).__name__ != "PanicException":
            raise
        return Refusal("damaged", {})


def read_correction_form_xlsx(
    data: bytes, *, sender: str, sender_name: str = ""
) -> tuple[list[CorrectionDraft], list[Problem]]:
    """Read the correction requests of a filled-in template, one per row.

    Rows that name fewer than three fields are taken for stray notes and skipped;
    incomplete requests are reported with their sheet and row.
    """
    reading = read_form_workbook(data, sender=sender.lower(), sender_name=sender_name)
    return reading.drafts, reading.problems
