"""One reader for every accepted format: bytes in, named grids of cells out.

xlsx, xls and ods go through python-calamine; CSV through the standard library
after decoding. Each grid keeps absolute positions, so row ``i`` of a grid is row
``i + 1`` as the office suite shows it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import cast

import python_calamine

from certflow.intake.cells import CellValue
from certflow.intake.container import Format, Refusal, decode_text, sniff
from certflow.intake.limits import IntakeLimits

# Title rows above the header and signature rows below the data are allowed on
# top of the row cap.
LAYOUT_ALLOWANCE = 200


@dataclass(frozen=True)
class Grid:
    """One sheet's cells, row by row from the sheet's first row."""

    name: str
    rows: list[list[CellValue]]


@dataclass(frozen=True)
class Workbook:
    """The sheets of an upload, in the order the file lists them."""

    format: Format
    sheets: list[Grid]


def open_workbook(data: bytes, limits: IntakeLimits) -> Workbook | Refusal:
    """Recognise, check and read ``data``; return its sheets or why it is refused."""
    kind = sniff(data, limits)
    if isinstance(kind, Refusal):
        return kind
    if kind is Format.CSV:
        return _read_csv(data, limits)
    return _read_spreadsheet(data, kind, limits)


def _read_spreadsheet(
    data: bytes, kind: Format, limits: IntakeLimits
) -> Workbook | Refusal:
    cap = limits.max_rows + LAYOUT_ALLOWANCE
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheets = []
        for name in book.sheet_names:
            sheet = book.get_sheet_by_name(name)
            if sheet.total_height > cap:
                return Refusal("too_many_rows", {"limit": limits.max_rows})
            rows = cast(list[list[CellValue]], sheet.to_python(skip_empty_area=False))
            sheets.append(Grid(name, rows))
    except python_calamine.PasswordError:
        return Refusal("encrypted", {})
    except (python_calamine.CalamineError, ValueError, OSError):
        return Refusal("damaged", {})
    return Workbook(kind, sheets)


def _read_csv(data: bytes, limits: IntakeLimits) -> Workbook | Refusal:
    text = decode_text(data)
    if text is None:
        return Refusal("bad_encoding", {})
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    cap = limits.max_rows + LAYOUT_ALLOWANCE
    rows: list[list[CellValue]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if len(rows) >= cap:
                return Refusal("too_many_rows", {"limit": limits.max_rows})
            rows.append(list(row))
    except csv.Error:
        return Refusal("damaged", {})
    return Workbook(Format.CSV, [Grid("CSV", rows)])
