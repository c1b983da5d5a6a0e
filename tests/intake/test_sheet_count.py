"""A file of more sheets than any form has is refused before they are read.

Regression (an audit of the cell reader): the reader reads every sheet of an
xls or an ods as it opens the file, and finds an xlsx sheet by its name
among all the names. 270,000 sheet records naming one small xls sheet (7 MB)
took it past 2.6 GB and aborted the process; 700,000 one-cell ods tables
(4 MB) held 1.8 GB for 23 s; 100,000 names of one small xlsx sheet (500 KB)
took 25 s. ``IntakeLimits.max_sheets`` (1,000) is counted in the file, or in
the list of sheets the reader reads first, and such a file is refused as
``too_many_sheets``.
"""

from __future__ import annotations

import re

from certflow.intake import IntakeLimits, read_score_summary
from certflow.intake.workbook import Workbook, open_workbook
from certflow.isolation import ReadingBounds, read_apart
from tests.intake.conftest import (
    SAMPLES,
    ods_file,
    ods_text_cell,
    sample_plan,
    with_member,
    with_sheet_xml,
)
from tests.intake.test_ods_extent import _cell_reader_opened
from tests.intake.xls_writer import xls_file

LIMITS = IntakeLimits(max_sheets=20)


def _refused_unread(data: bytes) -> dict[str, object]:
    """The fields of ``data``'s ``too_many_sheets`` refusal, which the
    cell reader gave without reading a sheet (xlsx) or opening the file."""
    refused = open_workbook(data, LIMITS)
    assert not isinstance(refused, Workbook)
    assert refused.code == "too_many_sheets"
    return refused.fields


def _xlsx_of(sheets: int) -> bytes:
    """The sample xlsx whose workbook lists its one sheet ``sheets`` times,
    under as many names."""

    def listed(content: bytes) -> bytes:
        text = content.decode()
        tag = _SHEET.search(text)
        assert tag is not None
        copies = "".join(
            _NAME.sub(f'name="s{n}" sheetId="{n + 1}"', tag.group())
            for n in range(sheets)
        )
        return text.replace(tag.group(), copies).encode()

    return with_member((SAMPLES / _SAMPLE_XLSX).read_bytes(), "xl/workbook.xml", listed)


_SAMPLE_XLSX = "P2026-1104-0412-成绩汇总表.xlsx"
_SHEET = re.compile(r"<sheet\b[^<>]*/>")
_NAME = re.compile(r'name="[^"]*" sheetId="[0-9]+"')


def _ods_of(tables: int) -> bytes:
    """An ods of ``tables`` one-cell tables."""
    body = "".join(
        f'<table:table table:name="t{n}"><table:table-row>'
        f"{ods_text_cell('x')}</table:table-row></table:table>"
        for n in range(tables)
    )
    table = re.compile(rb"<table:table .*</table:table>", re.S)
    one = ods_file("t", [[ods_text_cell("x")]])
    return with_member(one, "content.xml", lambda xml: table.sub(body.encode(), xml))


def test_an_xlsx_of_too_many_sheets_is_refused_before_one_is_read() -> None:
    assert _refused_unread(_xlsx_of(21)) == {"count": 21, "limit": 20}
    assert isinstance(open_workbook(_xlsx_of(20), LIMITS), Workbook)


def test_an_xls_of_too_many_sheets_is_refused_unopened() -> None:
    data = xls_file({f"s{n}": [["姓名"]] for n in range(21)})

    assert _cell_reader_opened(lambda: open_workbook(data, LIMITS)) == 0
    assert _refused_unread(data) == {"count": 21, "limit": 20}
    fewer = xls_file({f"s{n}": [["姓名"]] for n in range(20)})
    assert isinstance(open_workbook(fewer, LIMITS), Workbook)


def test_an_ods_of_too_many_tables_is_refused_unopened() -> None:
    data = _ods_of(21)

    assert _cell_reader_opened(lambda: open_workbook(data, LIMITS)) == 0
    assert _refused_unread(data) == {"count": 21, "limit": 20}
    assert isinstance(open_workbook(_ods_of(20), LIMITS), Workbook)


def test_the_default_cap_reads_the_samples() -> None:
    for name in (_SAMPLE_XLSX, "P2026-1104-0412-成绩汇总表.xls"):
        data = (SAMPLES / name).read_bytes()
        assert isinstance(open_workbook(data, IntakeLimits()), Workbook)


def test_hidden_columns_of_a_sheet_named_many_times_are_read_at_once() -> None:
    """Regression (the same audit): each hidden ``<col>`` span was listed
    column by column, and again for each name of its sheet: 2,000 spans
    over the whole width in one sheet named 1,000 times cost some 30
    billion steps (a 20 KB file, minutes). The spans are joined first and
    each part read once; read in a process held to 20 s of processor time,
    as the worker reads it, the file is answered in its first."""
    spans = '<col min="1" max="16384" width="9" hidden="1"/>' * 2000
    named = _xlsx_of(1000)
    data = with_sheet_xml(
        named,
        lambda xml: xml.replace("<sheetData", f"<cols>{spans}</cols><sheetData", 1),
    )
    bounds = ReadingBounds(cpu_seconds=20, wall_seconds=60)

    reading = read_apart(read_score_summary, data, sample_plan(), bounds=bounds)

    # Each of the 1,000 names shows the sample's sheet: a summary in each.
    assert [problem.code for problem in reading.problems] == ["several_sheets"]
