"""Reading what a sheet hides costs as much as the cells read, not their square.

Anyone can mail a correction form, so a file of a few kilobytes must not make
the reader work for minutes: an ods with a matrix formula in every row took
work growing with the matrices seen so far, row after row (20,000 rows: 3.5
minutes). The work is counted here, not timed: the lines of
``certflow.intake.sheetstate`` a reading runs, which no machine's speed or
load changes. Read twice as many rows, the reading must run about twice as
many lines, not four times as many. How fast it is lives in the intake
benchmark.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from certflow.intake import IntakeLimits, sheetstate
from certflow.intake.workbook import Grid, Workbook, open_workbook
from tests.intake.conftest import ods_file, ods_text_cell

# Twice the rows must cost at most this many times the lines: the fixed work
# of opening a file keeps a linear reading below 2, a quadratic one nears 4.
LINEAR = 2.5
ROWS = 600
LIMITS = IntakeLimits()


def _lines(action: Callable[[], object]) -> int:
    """How many lines of ``certflow.intake.sheetstate`` ``action`` runs."""
    source = sheetstate.__file__
    counted = 0

    def line(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal counted
        counted += event == "line"
        return line

    def call(frame: FrameType, event: str, arg: Any) -> Any:
        return line if frame.f_code.co_filename == source else None

    before = sys.gettrace()
    sys.settrace(call)
    try:
        action()
    finally:
        sys.settrace(before)
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
