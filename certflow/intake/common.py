"""What the score summary and the sign-in readers share: opening the upload,
choosing the sheet, checking identity cells and spotting repeated values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from openpyxl.utils import get_column_letter

from certflow.i18n import t
from certflow.identity import IdType, parse_id_type, validate_id
from certflow.intake.cells import (
    CellValue,
    clean_text,
    compact,
    halfwidth,
    is_number_cell,
    lost_digits,
)
from certflow.intake.container import Refusal
from certflow.intake.layout import (
    SYNONYMS,
    Column,
    Table,
    best_partial_match,
    find_table,
)
from certflow.intake.limits import IntakeLimits
from certflow.intake.metadata import check_metadata
from certflow.intake.workbook import Grid, open_workbook, xlsx_error_cells
from certflow.models import PlanInfo, Problem
from certflow.privacy import mask_id_number


def problem(
    code: str,
    *,
    sheet: str | None = None,
    row: int | None = None,
    column: str | None = None,
    value: str | None = None,
    **fields: object,
) -> Problem:
    """Build a Problem whose message is the catalogue's ``intake.<code>``."""
    return Problem(
        code=code,
        message=t(f"intake.{code}", **fields),
        sheet=sheet,
        row=row,
        column=column,
        value=value,
    )


def refusal_problem(refusal: Refusal) -> Problem:
    """Turn a container refusal into the Problem the uploader sees."""
    return Problem(
        code=refusal.code, message=t(f"intake.{refusal.code}", **refusal.fields)
    )


@dataclass
class Located:
    """The sheet and table an upload's rows come from, with notes for the uploader."""

    grid: Grid
    table: Table
    notes: list[str]
    problems: list[Problem]


def locate(
    data: bytes,
    plan: PlanInfo,
    limits: IntakeLimits,
    required: set[Column],
    document: str,
) -> Located | list[Problem]:
    """Open the upload, pick the sheet whose header has every ``required`` column.

    ``document`` is the Chinese name of what was expected (成绩汇总表, 签到表) for
    the messages. Problems with the title rows are returned with the table.
    """
    book = open_workbook(data, limits)
    if isinstance(book, Refusal):
        return [refusal_problem(book)]

    candidates = [(grid, find_table(grid, required)) for grid in book.sheets]
    found = [(grid, table) for grid, table in candidates if table is not None]
    if not found:
        return [_missing_columns(book.sheets, required, document)]

    # The sheet with the most data rows wins when several carry the header.
    grid, table = max(found, key=lambda pair: len(pair[1].data_rows))
    notes = [t("intake.note_sheet_used", sheet=grid.name, document=document)]
    others = [g.name for g in book.sheets if g is not grid]
    if others:
        notes.append(t("intake.note_sheets_ignored", sheets="、".join(others)))

    lines = [
        (index + 1, "  ".join(text for text in map(clean_text, row) if text))
        for index, row in enumerate(grid.rows[: table.header_row])
    ]
    problems = [
        _in_its_cell(found, grid)
        for found in check_metadata(
            [line for line in lines if line[1]], plan, grid.name
        )
    ]
    if not table.data_rows:
        problems.append(problem("no_rows", sheet=grid.name, document=document))
    if len(table.data_rows) > limits.max_rows:
        problems.append(
            problem("too_many_rows", sheet=grid.name, limit=limits.max_rows)
        )
    if table.footer_row is not None:
        footer = table.footer_row + 1
        notes.append(t("intake.note_footer_ignored", row=footer))
        problems.extend(
            problem("row_below_footer", sheet=grid.name, row=index + 1, footer=footer)
            for index in table.rows_below_footer
        )
    return Located(grid, table, notes, problems)


def _in_its_cell(found: Problem, grid: Grid) -> Problem:
    """A title-row problem with the column letter of the cell stating the value."""
    if found.row is None or not found.value or found.column is not None:
        return found
    for index, cell in enumerate(grid.rows[found.row - 1]):
        if found.value in halfwidth(clean_text(cell)):
            return found.model_copy(update={"column": get_column_letter(index + 1)})
    return found


def _missing_columns(
    sheets: list[Grid], required: set[Column], document: str
) -> Problem:
    best: set[Column] = set()
    best_sheet = None
    for grid in sheets:
        partial = best_partial_match(grid, required)
        if len(partial) >= max(len(best), 1):
            best, best_sheet = partial, grid.name
    if not best:
        return problem("no_header", document=document)
    missing = "、".join(SYNONYMS[c][0] for c in sorted(required - best))
    return problem(
        "missing_columns", sheet=best_sheet, columns=missing, document=document
    )


@dataclass
class Duplicates:
    """Remembers where each value was first seen, to name it on a later repeat."""

    seen: dict[str, int] = field(default_factory=dict)

    def earlier(self, value: str, row: int) -> int | None:
        """Return the row where ``value`` first appeared, recording it if new."""
        if not value:
            return None
        first = self.seen.setdefault(value, row)
        return None if first == row else first


def read_id(
    table: Table,
    type_cell: CellValue,
    raw: CellValue,
    row: int,
    today: date,
    *,
    optional: bool = False,
) -> tuple[IdType | None, str, list[Problem]]:
    """Read and check the identity document of one row.

    ``type_cell`` and ``raw`` are the row's 证件类型 and 证件号码 cells. Returns
    the type, the normalised number ("" when refused or absent) and the
    problems. A number the spreadsheet stored as a number is refused outright:
    its last digits are gone and are never guessed back.
    """
    sheet = table.sheet
    type_header = table.headers.get(Column.ID_TYPE)
    number_header = table.headers.get(Column.ID_NUMBER)
    type_text = clean_text(type_cell)
    number = compact(raw).upper()

    kind = parse_id_type(type_text)
    if kind is None:
        found = problem(
            "unknown_id_type", sheet=sheet, row=row, column=type_header, value=type_text
        )
        return None, "", [found]
    if not number:
        if optional:
            return kind, "", []
        return (
            kind,
            "",
            [problem("missing_value", sheet=sheet, row=row, column=number_header)],
        )
    if is_number_cell(raw) or lost_digits(raw):
        found = problem(
            "id_stored_as_number",
            sheet=sheet,
            row=row,
            column=number_header,
            value=mask_id_number(clean_text(raw)),
        )
        return kind, "", [found]
    reason = validate_id(kind.value, number, today=today)
    if reason is not None:
        found = Problem(
            code=reason,
            message=t(f"identity.{reason}"),
            sheet=sheet,
            row=row,
            column=number_header,
            value=mask_id_number(number),
        )
        return kind, "", [found]
    return kind, number, []


def explain_error_cells(
    data: bytes, located: Located, problems: list[Problem]
) -> list[Problem]:
    """Say so where a problem's cell holds a formula error (#N/A, #DIV/0!).

    The reader sees such a cell as empty, so its problem would read "may not
    be empty" of a cell that is not. Only looked up when there are problems.
    """
    if not problems:
        return problems
    errors = xlsx_error_cells(data, located.grid.name)
    if not errors:
        return problems
    table = located.table
    column_of = {header: table.columns[c] for c, header in table.headers.items()}
    explained = []
    for found in problems:
        index = column_of.get(found.column or "")
        error = errors.get((found.row or 0, index)) if index is not None else None
        if error is None or found.sheet != table.sheet:
            explained.append(found)
            continue
        explained.append(
            problem(
                "formula_error",
                sheet=found.sheet,
                row=found.row,
                column=found.column,
                value=error,
                error=error,
            )
        )
    return explained
