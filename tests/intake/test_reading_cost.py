"""Reading what a sheet hides costs as much as the cells read, not their square.

Anyone can mail a correction form, so a file of a few kilobytes must not make
the reader work for minutes: an ods with a matrix formula in every row took
work growing with the matrices seen so far, row after row (20,000 rows: 3.5
minutes), an xlsx whose every cell holds a formula searched back to the
sheet's start for each one, and an xlsx of thousands of sheets read its whole
list of sheets again for each. The work is counted here, not timed, so that no
machine's speed or load changes it: the lines of ``certflow.intake.sheetstate``
a reading runs (twice as many rows must run about twice as many lines, not four
times as many), and for an xlsx sheet, searched in its text, the bytes its
searches may read (a few times the text, not once per cell).
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

import pytest
from openpyxl import Workbook as Writer

from certflow.intake import IntakeLimits, read_score_summary, sheetstate
from certflow.intake.sheetstate import error_cells, uncalculated_cells
from certflow.intake.workbook import Grid, Workbook, open_workbook
from certflow.isolation import ReadingBounds, read_apart
from certflow.models import PlanInfo
from tests.intake.conftest import (
    SAMPLES,
    ods_file,
    ods_text_cell,
    run_hooked,
    sample_plan,
    with_sheet_xml,
)

SAMPLE = SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx"

# Twice the rows must cost at most this many times the lines: the fixed work
# of opening a file keeps a linear reading below 2, a quadratic one nears 4.
LINEAR = 2.5
ROWS = 600
SHEETS = 100
# The ods of a matrix in every row reaching the last row reaches farther
# right row by row, past the cells an ods's sheets may reach: its reading is
# measured here, not its refusal.
LIMITS = IntakeLimits(max_cells=10_000_000)


def _lines(
    action: Callable[[], object],
    sources: tuple[str, ...] = (sheetstate.__file__,),
    *,
    within: Callable[[CodeType], bool] | None = None,
) -> int:
    """How many lines ``action`` runs of the modules at ``sources``
    (``certflow.intake.sheetstate`` unless told), or of the functions
    ``within`` says are counted."""
    counted = 0
    counts = within or (lambda code: code.co_filename in sources)

    def line(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal counted
        counted += event == "line"
        return line

    def call(frame: FrameType, event: str, arg: Any) -> Any:
        return line if counts(frame.f_code) else None

    run_hooked(action, call, sys.settrace, sys.gettrace)
    return counted


def _growth(read: Callable[[int], object]) -> float:
    """How many times the lines ``read`` runs for ``2 * ROWS`` rows those it
    runs for ``ROWS``."""
    return _lines(lambda: read(2 * ROWS)) / _lines(lambda: read(ROWS))


def _matrix_rows(rows: int, *, to_the_end: bool) -> bytes:
    """An ods of ``rows`` rows under a header, each row a matrix formula two
    columns wide whose second cell keeps no value: one row deep, or reaching
    the last row (every matrix then still open in every row below it, each
    row's own cell before it keeping a value)."""
    body = []
    for n in range(rows):
        depth = rows - n if to_the_end else 1
        before = (
            f'<table:table-cell table:number-columns-repeated="{2 * n}"'
            f' office:value-type="float" office:value="{n}"/>'
            if to_the_end and n
            else ""
        )
        matrix = (
            '<table:table-cell table:number-matrix-columns-spanned="2"'
            f' table:number-matrix-rows-spanned="{depth}" table:formula="of:=1"'
            f' office:value-type="float" office:value="{n}"/>'
        )
        body.append([before, matrix])
    return ods_file("成绩修改申请表", [[ods_text_cell("姓名")], *body])


def _sheet(read: Workbook | object) -> Grid:
    assert isinstance(read, Workbook), read
    return read.sheets[0]


@pytest.mark.parametrize("to_the_end", [False, True], ids=["one row", "to the end"])
def test_an_ods_with_a_matrix_formula_in_every_row_is_read_in_linear_work(
    to_the_end: bool,
) -> None:
    def read(rows: int) -> Grid:
        return _sheet(open_workbook(_matrix_rows(rows, to_the_end=to_the_end), LIMITS))

    growth = _growth(read)

    assert growth < LINEAR
    # Still read as before: each matrix's second cell in its own row keeps
    # no value; the matrices open above it have their cells written.
    sheet = read(ROWS)
    if to_the_end:
        expected = {(row, 2 * (row - 2) + 1) for row in range(2, ROWS + 2)}
    else:
        expected = {(row, 1) for row in range(2, ROWS + 2)}
    assert sheet.array_uncalculated == expected


class _Text(bytes):
    """A sheet's XML counting the bytes its searches (``find``, ``rfind``)
    may read: from where each starts to where it may stop."""

    searched = 0

    def find(self, needle: Any, start: Any = 0, end: Any = None) -> int:
        _Text.searched += (len(self) if end is None else end) - start
        return super().find(needle, start, end)

    def rfind(self, needle: Any, start: Any = 0, end: Any = None) -> int:
        _Text.searched += (len(self) if end is None else end) - start
        return super().rfind(needle, start, end)


def _searched(action: Callable[[], object]) -> int:
    _Text.searched = 0
    action()
    return _Text.searched


def _xlsx_sheet(rows: int, cell: Callable[[int, str], str]) -> _Text:
    """An xlsx sheet's XML of ``rows`` rows of ten cells each."""
    body = "".join(
        f'<row r="{row}">'
        + "".join(cell(row, column) for column in "ABCDEFGHIJ")
        + "</row>"
        for row in range(1, rows + 1)
    )
    return _Text(
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f"<sheetData>{body}</sheetData></worksheet>".encode()
    )


# A reading may search its sheet's text this many times over, not once per cell.
SEARCHES = 4


def test_an_xlsx_of_formulas_without_results_is_read_in_linear_work() -> None:
    """Each formula's cell was found by searching back for a ``<c>`` no
    office suite writes: to the sheet's start, for every formula."""
    xml = _xlsx_sheet(ROWS, lambda row, column: f'<c r="{column}{row}"><f>1</f></c>')

    found = uncalculated_cells(xml, height=ROWS)

    assert _searched(lambda: uncalculated_cells(xml, height=ROWS)) <= SEARCHES * len(
        xml
    )
    assert found == {
        (row, column) for row in range(1, ROWS + 1) for column in range(10)
    }


def test_a_comment_of_unclosed_tags_is_read_at_once() -> None:
    """Regression: the patterns for a formula's, a row's or a cell's start
    tag read ``[^>]*``, on from each ``<f`` of a comment holding no ``>`` to
    its end: 100,000 of them beside one formula without its result took 11
    to 17 s, a 1 MB file minutes (these 120,000, hours); and expat, fed the
    sheet 2 KB at a time, scanned the comment again at each feed. The
    patterns run in C, where no line is counted: the sheet is read in a
    process held to 20 s of processor time, as the worker reads it, and now
    ends in its first."""
    # Each numbered, so that the file does not compress as a zip bomb does.
    junk = "".join(f"<f {n:x}<c {n:x}<row {n:x}" for n in range(120_000))
    data = with_sheet_xml(
        SAMPLE.read_bytes(),
        lambda xml: xml.replace(
            "</sheetData>",
            f'<row r="60" hidden="1"><c r="M60"><f>1+1</f></c></row>'
            f"</sheetData><!--{junk}-->",
        ),
    )
    bounds = ReadingBounds(cpu_seconds=20, wall_seconds=60)

    reading = read_apart(read_score_summary, data, sample_plan(), bounds=bounds)

    assert reading.accepted, [problem.code for problem in reading.problems]


def test_xlsx_error_cells_closed_in_their_tags_are_read_in_linear_work() -> None:
    """Each searched for its end tag to the sheet's end, though it has none."""
    xml = _xlsx_sheet(ROWS, lambda row, column: f'<c r="{column}{row}" t="e"/>')

    assert _searched(lambda: error_cells(xml, height=ROWS)) <= SEARCHES * len(xml)
    assert error_cells(xml, height=ROWS) == {}


def test_an_xlsx_tag_naming_its_error_type_again_is_read_in_linear_work() -> None:
    """``t="e"`` written again and again in another attribute's value: the
    cell was read again for each, its whole tag each time."""
    again = ' t="e"' * (10 * ROWS)
    cell = f'<c r="A1" t="e" x=\'{again}\'><v>#N/A</v></c>'
    xml = _xlsx_sheet(1, lambda row, column: cell if column == "A" else "")

    assert _searched(lambda: error_cells(xml, height=1)) <= SEARCHES * len(xml)
    assert error_cells(xml, height=1) == {(1, 0): "#N/A"}


def test_an_xlsx_array_formula_over_unclosed_cells_is_read_in_linear_work() -> None:
    """What looks like a cell's start tag (here in comments) was searched for
    its end tag to the sheet's end, and its content copied, for each one."""
    array = b'<c r="A1"><f t="array" ref="A1:A2">1</f><v>1</v></c>'
    written = _xlsx_sheet(ROWS, lambda row, column: "<!--<c>-->")
    xml = _Text(written.replace(b"<!--<c>-->", array, 1))

    assert _searched(lambda: uncalculated_cells(xml, height=ROWS)) <= SEARCHES * len(
        xml
    )
    assert uncalculated_cells(xml, height=ROWS) == {(2, 0)}


class _Pattern:
    """A pattern counting the bytes its searches read: from where each
    starts to the end of what it finds, or of the text."""

    def __init__(self, pattern: bytes) -> None:
        self.pattern = re.compile(pattern)
        self.read = 0

    def search(self, text: bytes, start: int) -> re.Match[bytes] | None:
        found = self.pattern.search(text, start)
        self.read += (len(text) if found is None else found.end()) - start
        return found


def test_searches_asked_forward_read_the_text_once() -> None:
    """What the xlsx readers search forward from one cell after another (an
    end tag, a value) is read once however many cells ask: each search goes
    on from the match found last."""
    text = b"<c>" * 5000 + b"</c>"
    pattern = _Pattern(rb"</c>")
    ahead = sheetstate._Ahead(text, pattern)  # type: ignore[arg-type]
    behind = sheetstate._Behind(_Text(text), b"<c>")
    _Text.searched = 0

    for at in range(0, len(text) - 4, 3):
        assert ahead.find(at) == len(text) - 4
        assert behind.find(at) == (at - 3 if at else -1)

    assert pattern.read <= len(text)
    assert _Text.searched <= 2 * len(text)


def _sheets(count: int) -> bytes:
    """An xlsx of ``count`` sheets, each a summary's header and a row naming
    nobody holding a typed score, so that every sheet is asked which of its
    cells hold a formula; the first holds a candidate too."""
    book = Writer()
    book.remove(book.worksheets[0])
    for number in range(1, count + 1):
        sheet = book.create_sheet(f"第{number}考场")
        sheet.append(["序号", "姓名", "证件号码", "准考证号", "理论成绩", "实操成绩"])
        if number == 1:  # candidates on one sheet only: a list split is refused
            sheet.append([1, "黎芬", "421002200506166066", "2026110412001", 80, 90])
        sheet.append([2, None, None, None, 55, None])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_of_many_sheets_is_read_in_linear_work(plan: PlanInfo) -> None:
    """Each sheet's part was found by reading the workbook's list of sheets
    and its relationships through again, and the file opened again (its zip
    directory read whole) for each sheet asked for its formulas: 4,000
    sheets, a 2 MB file, took minutes. Counted: the lines of
    ``sheetstate`` and of ``zipfile`` run."""
    sources = (sheetstate.__file__, zipfile.__file__)
    few, many = _sheets(SHEETS), _sheets(2 * SHEETS)

    def read(data: bytes) -> None:
        reading = read_score_summary(data, plan)
        assert [p.code for p in reading.problems] == ["row_without_identity"]

    growth = _lines(lambda: read(many), sources) / _lines(lambda: read(few), sources)

    assert growth < LINEAR


def _with_merges(refs: list[str]) -> bytes:
    """The sample summary with the merged ranges ``refs`` added to its sheet."""
    source = zipfile.ZipFile(io.BytesIO(SAMPLE.read_bytes()))
    out = io.BytesIO()
    merges = "".join(f'<mergeCell ref="{ref}"/>' for ref in refs).encode()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                content = re.sub(
                    rb'<mergeCells count="\d+">',
                    lambda found: found[0] + merges,
                    content,
                )
            target.writestr(item, content)
    return out.getvalue()


def _merge_lines(data: bytes, plan: PlanInfo) -> int:
    """How many lines spreading merged values runs reading ``data``."""
    return _lines(
        lambda: read_score_summary(data, plan),
        within=lambda code: code.co_name in ("_unmerged", "_next_uncovered"),
    )


def test_merged_ranges_are_spread_in_work_bound_by_the_table(plan: PlanInfo) -> None:
    """Review: a range merged to column XFD was stepped through all 16,384
    columns of each of its rows, though only the table's few are read: one
    26-byte ``A40:XFD20000`` took 35 s of CPU, and each range laid over it
    as long again. Each of the table's cells is now visited once."""
    table = _merge_lines(_with_merges(["A6:L36"]), plan)
    assert table > 0
    assert _merge_lines(_with_merges(["A6:XFD36"]), plan) < 1.5 * table
    stacked = [f"A{row}:XFD36" for row in range(6, 36)]
    assert _merge_lines(_with_merges(stacked), plan) < 3 * table
