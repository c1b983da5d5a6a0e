"""Workbooks intake writes: the annotated copy of a refused upload and the
national-platform import file.

Every text cell written here goes through ``safe_cell``: a value starting with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with a single
quote, so no spreadsheet evaluates it as a formula.
"""

from __future__ import annotations

import io
import re

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import column_index_from_string
from openpyxl.worksheet.worksheet import Worksheet

from certflow.i18n import t
from certflow.identity import IdType, mask_person_id_numbers, parse_id_type
from certflow.intake.cells import CellValue, clean_text
from certflow.intake.consistency import Mismatch
from certflow.intake.container import Refusal
from certflow.intake.layout import Column, best_partial_match, header_key
from certflow.intake.limits import IntakeLimits
from certflow.intake.vocabulary import FAIL_WORD, PASS_WORD, STATUS_NAMES
from certflow.intake.workbook import Grid, open_workbook
from certflow.models import CandidateScore, PlanInfo, Problem
from certflow.text import code_point

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# The control characters an xlsx cannot hold (openpyxl's ILLEGAL_CHARACTERS_RE).
_NOT_IN_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
PROBLEM_FILL = PatternFill(
    fill_type="solid", start_color="FFFF9999", end_color="FFFF9999"
)
BOLD = Font(bold=True)

# The national-platform import template, in column order (docs/intake-templates.md).
PLATFORM_COLUMNS = (
    "考试计划编号",
    "姓名",
    "证件类型",
    "证件号码",
    "准考证号",
    "证书名称",
    "等级",
    "模块编码",
    "模块名称",
    "理论成绩",
    "实操成绩",
    "总成绩",
    "考试状态",
    "考核结果",
)


def safe_cell(value: CellValue) -> CellValue:
    """Return ``value`` made inert: text that a spreadsheet would run gets a
    quote, and a control character no xlsx may hold (a NUL, a bell, an escape:
    what a CSV or an xls cell may carry) is written as its code point,
    ``<U+0007>``, as staff are shown it; openpyxl refuses the whole workbook
    for one, and a refused upload's report was lost with it."""
    if not isinstance(value, str):
        return value
    text = xlsx_text(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def xlsx_text(text: str) -> str:
    """``text`` with each control character no xlsx may hold written as its
    code point (``<U+0007>``)."""
    return _NOT_IN_XLSX.sub(lambda found: f"<{code_point(found.group())}>", text)


def national_platform_import(plan: PlanInfo, rows: list[CandidateScore]) -> bytes:
    """Return the xlsx staff upload to the national platform: one row per candidate."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "成绩导入"
    sheet.append(list(PLATFORM_COLUMNS))
    for cell in sheet[1]:
        cell.font = BOLD
    for score in rows:
        kind = parse_id_type(score.id_type) or IdType.RESIDENT_ID
        values: list[CellValue] = [
            plan.plan_id,
            score.name,
            kind.chinese,
            score.id_number,
            score.admission_number,
            plan.certificate,
            plan.level.chinese,
            plan.module_code,
            plan.module_name,
            score.theory,
            score.practical,
            score.total,
            STATUS_NAMES[score.status],
            PASS_WORD if score.passed else FAIL_WORD,
        ]
        sheet.append([safe_cell(v) for v in values])
    # Identity and admission numbers must stay text, or the platform loses digits.
    for column in ("D", "E", "H"):
        for cell in sheet[column][1:]:
            cell.number_format = "@"
    for column in ("J", "K", "L"):
        for cell in sheet[column][1:]:
            cell.number_format = "0.00"
    return _save(book)


def mismatch_report(plan: PlanInfo, mismatches: list[Mismatch], verdict: str) -> bytes:
    """Return the xlsx of a consistency review: the verdict, then every mismatch.

    Messages are already masked; admission numbers and staff ids identify the
    rows without personal data.
    """
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = t("intake_export.mismatch_sheet")
    sheet.append([safe_cell(f"{plan.plan_id}  {verdict}")])
    sheet.append(
        [t(f"intake_export.mismatch_{k}") for k in ("number", "who", "message")]
    )
    for cell in sheet[2]:
        cell.font = BOLD
    for number, mismatch in enumerate(mismatches, start=1):
        who = mismatch.admission_number or mismatch.staff_id or ""
        sheet.append([number, safe_cell(who), safe_cell(mismatch.message)])
    for cell in sheet["B"][2:]:
        cell.number_format = "@"
    sheet.column_dimensions["B"].width = 18
    sheet.column_dimensions["C"].width = 80
    return _save(book)


def annotated_copy(
    data: bytes, problems: list[Problem], *, limits: IntakeLimits | None = None
) -> bytes:
    """Return an xlsx: the uploaded sheet with each problem cell marked, and a list.

    The first sheet copies the cell values of the sheet the problems name (or the
    first sheet), each problem cell filled red with the reason as a comment; the
    second lists every problem. An unreadable upload gets the list only.

    Readers mask the values their problems repeat; the list masks once more
    what could still be a person's ID number, so no reader's slip puts one
    whole into a report that is mailed and kept.
    """
    book = Workbook()
    listing = book.active
    assert listing is not None

    # Which document it is, the copy is not told: a CSV is read with commas
    # when that reading names columns in one row, as the reader of each
    # document does when it finds its header there.
    opened = open_workbook(data, limits or IntakeLimits(), header=_names_columns)
    if not isinstance(opened, Refusal) and opened.sheets:
        named = next((p.sheet for p in problems if p.sheet), None)
        grid = next((g for g in opened.sheets if g.name == named), opened.sheets[0])
        copy = listing
        copy.title = _sheet_title(grid.name)
        _copy_grid(copy, grid)
        _mark_problems(
            copy, grid, [p for p in problems if p.sheet in (None, grid.name)]
        )
        listing = book.create_sheet()

    listing.title = t("intake_export.problems_sheet")
    listing.append([safe_cell(t(f"intake_export.column_{k}")) for k in _LISTING_KEYS])
    for cell in listing[1]:
        cell.font = BOLD
    for number, item in enumerate(problems, start=1):
        listing.append(
            [
                number,
                safe_cell(item.sheet or ""),
                item.row,
                safe_cell(item.column or ""),
                safe_cell(mask_person_id_numbers(item.value or "")),
                safe_cell(item.message),
            ]
        )
    return _save(book)


_LISTING_KEYS = ("number", "sheet", "row", "column", "value", "message")


def _names_columns(grid: Grid) -> bool:
    """Whether a row of ``grid`` names two columns or more of a document."""
    return len(best_partial_match(grid, set(Column))) >= 2


def _sheet_title(name: str) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in name)
    return cleaned[:31] or "Sheet"


def _copy_grid(target: Worksheet, grid: Grid) -> None:
    for index, row in enumerate(grid.rows, start=1):
        for position, value in enumerate(row, start=1):
            if value is None or value == "":
                continue
            written = (
                value if isinstance(value, (int, float, str)) else clean_text(value)
            )
            target.cell(row=index, column=position, value=safe_cell(written))


def _mark_problems(target: Worksheet, grid: Grid, problems: list[Problem]) -> None:
    positions: dict[str, int] = {}
    for row in grid.rows[:60]:
        for position, value in enumerate(row, start=1):
            positions.setdefault(clean_text(value), position)
            positions.setdefault(header_key(value), position)
    notes: dict[tuple[int, int], list[str]] = {}
    for item in problems:
        if item.row is None:
            continue
        # A header's text names a table column; a title-row problem names its
        # column by letter (考核日期 in J2); a problem without one marks column A.
        known = positions.get(item.column) if item.column else None
        column = known or _letter_position(item.column)
        notes.setdefault((item.row, column), []).append(item.message)
    for (row_number, column), messages in notes.items():
        cell = target.cell(row=row_number, column=column)
        cell.fill = PROBLEM_FILL
        # A reason may repeat a character no xlsx may hold, and openpyxl
        # writes a comment unchecked: the report would not open.
        cell.comment = Comment(xlsx_text("\n".join(messages)), "certflow")


def _letter_position(column: str | None) -> int:
    """Return the 1-based position of a column letter (``J`` -> 10), else 1."""
    if column and column.isascii() and column.isalpha():
        try:
            position: int = column_index_from_string(column.upper())
            return position
        except ValueError:  # past the last column a sheet can have
            pass
    return 1


def _save(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
