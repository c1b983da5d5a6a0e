"""One reader for every accepted format: bytes in, named grids of cells out.

xlsx, xls and ods go through python-calamine; CSV through the standard library
after decoding. Each grid keeps absolute positions, so row ``i`` of a grid is row
``i + 1`` as the office suite shows it.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import cast
from xml.parsers import expat

import python_calamine
from openpyxl.utils import get_column_letter

from certflow.i18n import t
from certflow.intake.cells import CellValue
from certflow.intake.container import (
    MAX_COLUMNS,
    Format,
    Marks,
    Refusal,
    decode_text,
    extent_refusal,
    sheets_refusal,
    sniff,
    text_refusal,
)
from certflow.intake.extent import SheetExtent
from certflow.intake.limits import IntakeLimits
from certflow.intake.sheetstate import (
    Cell,
    Merge,
    SheetState,
    TooManyUnreadCells,
    XlsxFormulas,
    sheet_state,
    xlsx_extents,
    xlsx_shared_text,
)


@dataclass(frozen=True)
class Grid:
    """One sheet's cells, row by row from the sheet's first row.

    ``visible`` is False for a hidden (or "very hidden") sheet, which nobody
    sees in the office suite; ``hidden_rows`` and ``hidden_columns`` are the
    0-based rows and columns hidden on a visible sheet; ``merged`` the
    merged ranges (0-based, inclusive).
    ``uncalculated`` are the cells (1-based row, 0-based column) holding a
    formula whose result the file does not keep: they read as empty in
    ``rows``, though the office suite shows a value there once it computes it.
    ``array_uncalculated`` are those of them an array formula fills past its
    first cell: an office suite saves each with its value, but a writer may
    leave out those whose value is the empty text. ``errors`` are the cells
    holding a formula error, with the error as the office suite shows it
    (``#N/A``): they read as empty in ``rows`` too. ``formulas()`` are the
    cells holding a formula, whatever it shows, as the file says: a CSV has
    none, an xlsx's are read from it the first time they are asked for.
    """

    name: str
    rows: list[list[CellValue]]
    visible: bool = True
    hidden_rows: frozenset[int] = frozenset()
    hidden_columns: frozenset[int] = frozenset()
    merged: list[Merge] = field(default_factory=list)
    uncalculated: frozenset[Cell] = frozenset()
    array_uncalculated: frozenset[Cell] = frozenset()
    errors: Mapping[Cell, str] = field(default_factory=dict)
    formula_cells: Callable[[], frozenset[Cell]] = field(default=frozenset)

    def formulas(self) -> frozenset[Cell]:
        """The cells (1-based row, 0-based column) holding a formula."""
        return self.formula_cells()


@dataclass(frozen=True)
class Workbook:
    """The sheets of an upload, in the order the file lists them."""

    format: Format
    sheets: list[Grid]


def open_workbook(
    data: bytes, limits: IntakeLimits, *, header: Callable[[Grid], bool] | None = None
) -> Workbook | Refusal:
    """Recognise, check and read ``data``; return its sheets or why it is refused.

    ``header`` tells whether a grid holds the header of the document expected:
    a CSV whose reading with commas holds it is read with commas, whatever
    separator its lines suggest (``_read_csv``).
    """
    marks = Marks()
    kind = sniff(data, limits, marks)
    if isinstance(kind, Refusal):
        return kind
    if kind is Format.CSV:
        return _read_csv(data, limits, header)
    return _read_spreadsheet(data, kind, limits, marks)


def _read_spreadsheet(
    data: bytes, kind: Format, limits: IntakeLimits, marks: Marks
) -> Workbook | Refusal:
    """Read every sheet; ``marks`` names the zip members worth reading again."""
    cap = limits.max_sheet_rows
    if kind is Format.XLSX:
        refused = (_far_cells(data, marks, limits) if marks.far else None) or (
            _copied_text(data, marks, limits)
        )
        if refused is not None:
            return refused
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
        # The reader finds a sheet by its name in the list of them, for each
        # one: 100,000 names of one small sheet (500 KB) took 25 seconds.
        if many := sheets_refusal(len(book.sheets_metadata), limits):
            return many
        read = []
        cells = 0
        largest: tuple[int, int, str, int, int] = (0, 0, "", 0, 0)
        for index, meta in enumerate(book.sheets_metadata):
            sheet = book.get_sheet_by_name(meta.name)
            if sheet.total_height > cap:
                return Refusal("too_many_rows", {"limit": limits.max_rows})
            # Checked before the cells are made Python values, which costs
            # ten times the reader's own: a sheet dense with cells no header
            # names (a few MB of them, placed by their order) is as large as
            # one reaching far, and held the worker at 2 GB.
            # (The reader's height and width are its last row's and column's
            # 0-based index: the sample's A1:L38 is 37 by 11.)
            tall, wide = sheet.total_height + 1, sheet.total_width + 1
            cells += tall * wide
            # The sheet named is the largest read, not the one that tipped the
            # count over: the refusal tells the sender what to delete there.
            largest = max(largest, (tall * wide, -index, meta.name, tall, wide))
            if cells > limits.max_cells:
                _, _, name, tall, wide = largest
                fields = {
                    "sheet": name,
                    "rows": tall,
                    "column": get_column_letter(min(wide, MAX_COLUMNS)),
                    "cells": cells,
                    "limit": limits.max_cells,
                }
                return Refusal("too_many_cells", fields)
            rows = cast(list[list[CellValue]], sheet.to_python(skip_empty_area=False))
            merged = [(a, b, c, d) for (a, b), (c, d) in sheet.merged_cell_ranges or []]
            visible = meta.visible is python_calamine.SheetVisibleEnum.Visible
            read.append((meta.name, rows, visible, merged))
    except python_calamine.PasswordError:
        return Refusal("encrypted", {})
    except (python_calamine.CalamineError, ValueError, OSError):
        return Refusal("damaged", {})
    height = max((len(rows) for _, rows, _, _ in read), default=0)
    names = [name for name, *_ in read]
    try:
        state = sheet_state(
            data,
            kind,
            names,
            height,
            marks,
            last_row=cap,
            max_unread=limits.max_unread_cells,
        )
    except TooManyUnreadCells as refused:
        return Refusal("too_many_unread_cells", {"limit": refused.limit})
    # One for the whole file: it opens the xlsx once, when a sheet first asks.
    xlsx = XlsxFormulas(data) if kind is Format.XLSX else None
    sheets = [
        Grid(
            name,
            rows,
            visible=visible,
            hidden_rows=state.hidden_rows.get(name, frozenset()),
            hidden_columns=state.hidden_columns.get(name, frozenset()),
            merged=merged or state.merged.get(name, []),
            uncalculated=state.uncalculated.get(name, frozenset()),
            array_uncalculated=state.array_uncalculated.get(name, frozenset()),
            errors=state.errors.get(name, {}),
            formula_cells=_formula_cells(xlsx, state, name, cap),
        )
        for name, rows, visible, merged in read
    ]
    return Workbook(kind, sheets)


def _measured(
    measure: Callable[[], list[SheetExtent]],
) -> list[SheetExtent] | Refusal:
    """The sheets ``measure`` walks in an xlsx before the cell reader opens
    it, or ``damaged``. Not measured is not read: what the walk cannot read
    (not XML, an encoding expat does not read), the cell reader might,
    reaching as far as it likes. A zip the walk cannot open measures no
    sheet: the cell reader says what is wrong with it."""
    try:
        return measure()
    except (expat.ExpatError, ValueError):
        return Refusal("damaged", {})
    except (zipfile.BadZipFile, KeyError, OSError):
        return []


def _far_cells(data: bytes, marks: Marks, limits: IntakeLimits) -> Refusal | None:
    """Why an xlsx whose cells reach too far is refused, before the cell
    reader fills in every cell from A1 to the farthest (``FAR_MARK``): as an
    ods's are (``container.extent_refusal``)."""
    extents = _measured(lambda: xlsx_extents(data, marks.far, limits.max_sheet_rows))
    if isinstance(extents, Refusal):
        return extents
    tallest = max(extents, key=lambda sheet: sheet.rows, default=None)
    largest = max(extents, key=lambda sheet: sheet.cells, default=None)
    cells = sum(sheet.cells for sheet in extents)
    return extent_refusal(tallest, largest, cells, limits)


def _copied_text(data: bytes, marks: Marks, limits: IntakeLimits) -> Refusal | None:
    """Why an xlsx whose cells the reader would copy too much text into is
    refused, before it copies a shared string into every cell showing it
    (``sheetstate.xlsx_shared_text``): a 486 KB file of one 10,000-character
    string in 200,000 cells had it hold 4 GB.

    The sheets are walked only when the longest string times the cells that
    may show one (half the sheets' tags: each takes a ``<v>`` and a
    ``</v>``) passes the cap, as it never does for a list of names and
    scores."""
    longest = max(marks.strings, default=0)
    if longest * (marks.tags // 2) <= limits.max_cell_text:
        return None
    sheets = _measured(lambda: xlsx_shared_text(data, marks.strings))
    if isinstance(sheets, Refusal):
        return sheets
    wordiest = max(sheets, key=lambda sheet: sheet.text, default=None)
    return text_refusal(wordiest, sum(sheet.text for sheet in sheets), limits)


def _formula_cells(
    xlsx: XlsxFormulas | None, state: SheetState, name: str, last_row: int
) -> Callable[[], frozenset[Cell]]:
    """What gives the formula cells of the sheet ``name``: those the walk of
    an xls or an ods found, or (``xlsx``) the sheet read for them once, when
    first asked. Most uploads never ask, and an xlsx sheet is not read again
    for nothing."""
    if xlsx is None:
        found = state.formulas.get(name, frozenset())
        return lambda: found
    return cache(lambda: xlsx.cells(name, last_row))


def _read_csv(
    data: bytes, limits: IntakeLimits, header: Callable[[Grid], bool] | None
) -> Workbook | Refusal:
    """Read a CSV with the separator of its columns.

    The comma comes first: a file whose comma reading holds the expected
    ``header`` is a comma file, though its cells hold semicolons or tabs
    enough to make its lines look otherwise (a 备注 of ``已缴费;已通知`` on
    every row). Else the separator its lines tell (``_delimiter``), a ``;``
    or tab file being read as its comma form is.
    """
    text = decode_text(data)
    if isinstance(text, Refusal):
        return text
    # Text with no comma, tab or semicolon anywhere has no columns: no table
    # at all (a key file, a note), whatever its name says.
    if not _SEPARATORS.search(text):
        return Refusal("unsupported_format", {})
    delimiter = _delimiter(text)
    by_comma: list[list[CellValue]] | Refusal | None = None
    if header is not None and delimiter != ",":
        by_comma = _csv_rows(text, ",", limits)
        if not isinstance(by_comma, Refusal) and header(Grid("CSV", by_comma)):
            delimiter = ","
    if isinstance(delimiter, Refusal):
        return delimiter
    open_quote = _unclosed_quote(text)
    if open_quote is not None:
        return Refusal("csv_open_quote", {"line": open_quote})
    rows = by_comma if delimiter == "," and by_comma is not None else None
    if rows is None:
        rows = _csv_rows(text, delimiter, limits)
    if isinstance(rows, Refusal):
        return rows
    if delimiter != "," and (line := _decimal_comma_line(rows)) is not None:
        return Refusal(
            "csv_decimal_comma",
            {"line": line, "separator": t(f"intake.separator_{_NAMES[delimiter]}")},
        )
    return Workbook(Format.CSV, [Grid("CSV", rows)])


def _csv_rows(
    text: str, delimiter: str, limits: IntakeLimits
) -> list[list[CellValue]] | Refusal:
    """The rows of ``text`` with ``delimiter`` between its columns."""
    cap = limits.max_sheet_rows
    rows: list[list[CellValue]] = []
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            if len(rows) >= cap:
                return Refusal("too_many_rows", {"limit": limits.max_rows})
            rows.append(list(row))
    except csv.Error:
        return Refusal("damaged", {})
    return rows


_NAMES = {";": "semicolon", "\t": "tab"}


def _delimiter(text: str) -> str | Refusal:
    """The character separating the columns of a CSV: ``,``, ``;`` or a tab.

    Office software saves CSV with the list separator of the system's
    locale: ``;`` where the comma is the decimal sign, a tab for Excel's
    "Unicode 文本". ``csv.Sniffer``, told of these three only, names ``;``
    when the lines holding any of them hold it equally often and no comma or
    tab so; such a file is read as a comma one is (the same header is looked
    for). Else a tab when the first line has more tabs than commas, else a
    comma; a file where ``;`` outnumbers them but no separator is regular is
    refused (``csv_semicolons``): read with ``,`` every row would be one cell.
    What the lines tell yields to the header: a file whose comma reading
    holds the expected one is read with commas (``_read_csv``).
    """
    # Lines as Excel ends them (CRLF) would keep their "\r" cut on "\n":
    # the sniffer, which looks for a quoted cell at a line's end, would not
    # see one there.
    head = text[:_SNIFFED].replace("\r\n", "\n").split("\n")
    if len(text) > _SNIFFED and len(head) > 1:
        head.pop()  # cut short: a line of the file, not the file's line
    # A line with no separator at all (a title the software did not pad)
    # tells none of them.
    separated = [line for line in head if _SEPARATORS.search(line)]
    try:
        sniffed: str | None = (
            csv.Sniffer().sniff("\n".join(separated), delimiters=",;\t").delimiter
        )
    except csv.Error:
        sniffed = None
    if sniffed == ";":
        return ";"
    first = head[:5]
    if sum(line.count(";") for line in first) > sum(
        line.count(",") + line.count("\t") for line in first
    ):
        return Refusal("csv_semicolons", {})
    first_line = head[0]
    return "\t" if first_line.count("\t") > first_line.count(",") else ","


def _decimal_comma_line(rows: list[list[CellValue]]) -> int | None:
    """The first line (1-based) of a ``;`` or tab file with a number written
    with a decimal comma (``85,5``), or None.

    Read as it is, such a score is no number (and ``1,200`` might be a
    thousand or one): the file is refused whole, rather than each of its
    numbers, so that it is saved again with decimal points (or as xlsx).
    """
    for index, row in enumerate(rows, start=1):
        if any(_DECIMAL_COMMA.fullmatch(str(cell)) for cell in row):
            return index
    return None


# Enough of a CSV's first lines for ``csv.Sniffer`` to see its separator.
_SNIFFED = 4096
_DECIMAL_COMMA = re.compile(r"\s*[-+]?\d+,\d+\s*")


def _unclosed_quote(text: str) -> int | None:
    """The line (1-based) of a quote that is never closed, or None.

    A quote opens a cell that runs to the next quote: left open, it swallows
    every line after it into one cell, and the rows it ate would each be
    reported empty. Doubled quotes inside a cell count twice, so they cancel.
    """
    if text.count('"') % 2 == 0:
        return None
    line = opened = 1
    inside = False
    for match in _QUOTE_OR_NEWLINE.finditer(text):
        if match.group() == "\n":
            line += 1
        else:
            inside = not inside
            if inside:
                opened = line
    return opened


_QUOTE_OR_NEWLINE = re.compile(r'["\n]')
_SEPARATORS = re.compile(r"[,\t;]")
