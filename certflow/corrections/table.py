"""Reading the form laid out as a table: a header row, then one request per row.

Spreadsheet sheets and tab-separated blocks pasted into a mail body both come
through here.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from certflow.corrections.form import Record, label_key
from certflow.intake.cells import CellValue, lost_digits

# The header is looked for among the first rows: the template has a title and a
# note above it, and people add a line or two of their own.
HEADER_SEARCH_ROWS = 12
# The rest of the cell is taken and checked like a plan id column: cutting it at
# the first unexpected character would turn "P2026'; DROP…" into plan P2026.
_PLAN_LINE = re.compile(r"考试计划编号\s*[:：]\s*(\S.*)", re.DOTALL)


def cell_text(cell: CellValue) -> str:
    """Return a cell as the text a person sees in it (74.0 -> "74")."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "是" if cell else "否"
    if isinstance(cell, float):
        if cell.is_integer() and abs(cell) < 1e21:
            return str(int(cell))
        return repr(cell)
    return str(cell).strip()


def find_header(
    rows: Sequence[Sequence[CellValue]],
) -> tuple[int, dict[int, str]] | None:
    """Return the index of the header row and its column -> form key map.

    A header names at least three form fields: the plan id or the admission
    number, and the score to change or its new value. Anything less is a title
    row or another sheet; a score summary, with its 姓名 / 证件号码 / 准考证号
    columns, names candidates but no change.
    """
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        columns: dict[int, str] = {}
        for col, cell in enumerate(row):
            if isinstance(cell, str) and (key := label_key(cell)) is not None:
                columns.setdefault(col, key)
        keys = set(columns.values())
        identifies = keys & {"plan_id", "admission_number"}
        changes = keys & {"field", "requested_score"}
        if len(keys) >= 3 and identifies and changes:
            return index, columns
    return None


def records_from_rows(
    rows: Sequence[Sequence[CellValue]],
    *,
    sheet: str | None,
    first_row_number: int | None = 1,
    uncalculated: Collection[tuple[int, int]] = (),
    errors: Mapping[tuple[int, int], str] | None = None,
) -> list[Record] | None:
    """Read the requests of a table; None when it has no form header at all.

    ``first_row_number`` is the row number the office suite shows for ``rows[0]``
    (None for a table in a mail body, whose records are numbered instead).
    A plan id written above the header ("考试计划编号：P…") serves every row that
    leaves its own plan id column out or empty. ``uncalculated`` are the cells
    (row as the office suite shows it, 0-based column) holding a formula saved
    without its result: read as empty, each is named on its record instead.
    ``errors`` are the cells holding a formula error, with the error
    (``#N/A``): read as empty too, each is named on its record, unless the row
    holds nothing else (a lookup filled down past the last request).
    """
    found = find_header(rows)
    if found is None:
        return None
    header_index, columns = found

    plan_above = None
    for row in rows[:header_index]:
        for cell in row:
            if isinstance(cell, str) and (match := _PLAN_LINE.search(cell)):
                plan_above = match.group(1).strip()

    failed = errors or {}
    # Rows holding nothing but such formulas may be past the rows read.
    height = len(rows)
    if uncalculated and first_row_number is not None:
        height = max(height, max(r for r, _ in uncalculated) - first_row_number + 1)
    records: list[Record] = []
    for offset in range(header_index + 1, height):
        row = rows[offset] if offset < len(rows) else ()
        texts = {col: cell_text(row[col]) for col in columns if col < len(row)}
        number = None if first_row_number is None else first_row_number + offset
        formulas = [
            key for col, key in columns.items() if (number, col) in uncalculated
        ]
        if not any(texts.values()) and not formulas:
            continue
        shown = {
            key: error
            for col, key in columns.items()
            if number is not None and (error := failed.get((number, col)))
        }
        record = Record(sheet=sheet, row=number, uncalculated=formulas, errors=shown)
        if number is None:
            record.ordinal = len(records) + 1
        for col, key in columns.items():
            if texts.get(col):
                record.values.setdefault(key, texts[col])
            if key == "id_number" and col < len(row):
                record.id_as_number = lost_digits(row[col])
        if plan_above and not record.values.get("plan_id"):
            record.values["plan_id"] = plan_above
        records.append(record)
    return records
