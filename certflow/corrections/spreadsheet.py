"""Reading the xlsx correction request template (and xls / ods saved from it)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from python_calamine import CalamineWorkbook

from certflow.corrections.form import Record, check_records
from certflow.corrections.model import CorrectionDraft
from certflow.corrections.table import records_from_rows
from certflow.i18n import t
from certflow.models import Problem

# Zip (xlsx, ods) and OLE2 (xls) signatures: how a spreadsheet is recognised when
# a phone client sends it as application/octet-stream with a mangled name.
SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")


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
    """
    name = filename or "xlsx"
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = [
            (title, workbook.get_sheet_by_name(title).to_python(skip_empty_area=False))
            for title in workbook.sheet_names
        ]
    except Exception:  # calamine raises several unrelated types for bad files
        return _unreadable(name)
    except BaseException as error:
        # A malformed file can make calamine's Rust code panic; pyo3 raises that
        # as PanicException, a BaseException, so that it is not caught by accident.
        if type(error).__name__ != "PanicException":
            raise
        return _unreadable(name)

    records: list[Record] = []
    is_form = False
    for title, rows in sheets:
        found = records_from_rows(rows, sheet=title)
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


def _unreadable(name: str) -> SheetReading:
    problem = Problem(
        code="unreadable_attachment",
        message=t("corrections.problem.unreadable_attachment", filename=name),
    )
    return SheetReading(problems=[problem])


def read_correction_form_xlsx(
    data: bytes, *, sender: str, sender_name: str = ""
) -> tuple[list[CorrectionDraft], list[Problem]]:
    """Read the correction requests of a filled-in template, one per row.

    Rows that name fewer than three fields are taken for stray notes and skipped;
    incomplete requests are reported with their sheet and row.
    """
    reading = read_form_workbook(data, sender=sender.lower(), sender_name=sender_name)
    return reading.drafts, reading.problems
