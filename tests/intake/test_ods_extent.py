"""An ods whose repeat counts claim millions of cells is refused before it is read.

Regression: an ods says a cell repeated along its row
(``table:number-columns-repeated``) and a row repeated down the sheet
(``table:number-rows-repeated``) in a few bytes, and the cell reader
(python-calamine) made every cell before certflow's caps applied. A 1 KB
file of one value repeated over 16,384 columns and 1,000 rows kept intake busy
for 9 seconds holding 2 GiB; one value at the sheet's last column over rows
of one value each did the same through the empty cells between. The file is
now measured in its XML, and refused before the cell reader opens it. The
rows and columns LibreOffice saves past the table, repeated a million times
but holding nothing, cost nothing and are no reason to refuse.

The work is counted, not timed: whether the cell reader was asked to open the
file at all.
"""

from __future__ import annotations

import sys
import zipfile
from collections.abc import Callable
from io import BytesIO
from types import FrameType
from typing import Any

import pytest
import python_calamine

from certflow.corrections.spreadsheet import read_form_workbook
from certflow.intake import IntakeLimits, read_score_summary
from certflow.intake.common import Problem
from certflow.intake.extent import OdsExtent
from certflow.intake.workbook import Workbook, open_workbook
from certflow.models import PlanInfo
from tests.intake.conftest import SAMPLES, ods_file, ods_text_cell, run_hooked

SAMPLE = SAMPLES / "P2026-1104-0412-成绩汇总表.ods"


def _repeated(columns: int, cell: str = 'office:value-type="string"') -> str:
    """A cell holding ``cell`` (a value, a formula, nothing), repeated."""
    return (
        f'<table:table-cell table:number-columns-repeated="{columns}" {cell}>'
        "<text:p>x</text:p></table:table-cell>"
    )


def _cell_reader_opened(action: Callable[[], object]) -> int:
    """How many times ``action`` asks the cell reader to open a file."""
    opened = 0

    def count(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal opened
        if (
            event == "c_call"
            and getattr(arg, "__self__", None) is python_calamine.CalamineWorkbook
            and arg.__name__ == "from_filelike"
        ):
            opened += 1

    run_hooked(action, count, sys.setprofile, sys.getprofile)
    return opened


def refused_unread(data: bytes, plan: PlanInfo) -> list[Problem]:
    """Why ``data`` is refused as a score summary, which it must be without
    the cell reader opening it."""
    reading = None

    def read() -> None:
        nonlocal reading
        reading = read_score_summary(data, plan)

    assert _cell_reader_opened(read) == 0
    assert reading is not None and not reading.accepted
    return reading.problems


def _extent(data: bytes) -> OdsExtent:
    extent = OdsExtent()
    extent.feed(zipfile.ZipFile(BytesIO(data)).read("content.xml"), final=True)
    return extent


def test_a_value_repeated_over_rows_and_columns_is_refused_unread(
    plan: PlanInfo,
) -> None:
    """One value over 16,384 columns and 100 rows: 1.6 million cells."""
    data = ods_file(
        "成绩汇总", [[ods_text_cell("姓名")], [_repeated(16384)]], repeats={1: 100}
    )
    assert len(data) < 2048

    [refused] = refused_unread(data, plan)
    assert refused.code == "sheet_too_large"
    shown = refused.render()
    for said in (
        "工作表“成绩汇总”",
        "第 101 行",
        "XFD 列",
        "第 2 行的 XFD 列",
        "1000000",
    ):
        assert said in shown
    assert _cell_reader_opened(lambda: read_score_summary(SAMPLE.read_bytes(), plan))


def test_one_far_cell_over_a_column_of_values_is_refused_unread() -> None:
    """A value in column WQK of one row, and one value in column A of each of
    500 rows below it: the cell reader fills in the empty cells between,
    8 million of them."""
    far = '<table:table-cell table:number-columns-repeated="16000"/>' + (
        ods_text_cell("备注")
    )
    data = ods_file(
        "成绩汇总",
        [[ods_text_cell("姓名")], [far], [ods_text_cell("张三")]],
        repeats={2: 500},
    )

    opened = _cell_reader_opened(lambda: open_workbook(data, IntakeLimits()))
    refused = open_workbook(data, IntakeLimits())

    assert opened == 0
    assert not isinstance(refused, Workbook)
    assert refused.code == "sheet_too_large"
    assert (refused.fields["rows"], refused.fields["column"]) == (502, "WQK")
    assert refused.fields["row"] == 2


def test_rows_of_values_past_the_row_cap_are_refused_unread(plan: PlanInfo) -> None:
    data = ods_file(
        "成绩汇总",
        [[ods_text_cell("姓名")], [ods_text_cell("张三")]],
        repeats={1: 10**6},
    )

    assert [p.code for p in refused_unread(data, plan)] == ["too_many_rows"]


def test_formulas_count_and_cells_holding_no_value_do_not() -> None:
    """A formula (its value saved or not) is made by the cell reader; a cell
    of a style only, or of text without a value type, is empty to it."""
    formula = _extent(
        ods_file("S", [[_repeated(1000, 'table:formula="of:=1"')]], repeats={0: 50})
    )
    styled = _extent(
        ods_file(
            "S",
            [
                [ods_text_cell("姓名")],
                [_repeated(16384, 'table:style-name="ce1"')],
                ['<table:table-cell table:style-name="ce1"/>'],
            ],
            repeats={1: 10**6, 2: 10**6},
        )
    )

    assert (formula.cells, formula.tallest and formula.tallest.rows) == (50_000, 50)
    assert styled.cells == 1
    assert styled.tallest is not None and styled.tallest.rows == 1


def test_the_sheets_of_a_file_count_together(plan: PlanInfo) -> None:
    """Three sheets of 400,000 cells each: each under the cap, not all."""
    sheet = ods_file("S", [[_repeated(400)]], repeats={0: 1000})
    content = zipfile.ZipFile(BytesIO(sheet)).read("content.xml").decode()
    start, end = content.index("<table:table "), content.index("</office:spreadsheet>")
    table = content[start:end]
    tables = "".join(table.replace('"S"', f'"S{n}"') for n in range(3))
    data = _with_content(sheet, content[:start] + tables + content[end:])

    reading = read_score_summary(data, plan)

    assert [p.code for p in reading.problems] == ["sheet_too_large"]
    assert "1200000 个单元格" in reading.problems[0].render()


def _with_content(data: bytes, content: str) -> bytes:
    source = zipfile.ZipFile(BytesIO(data))
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            part = content.encode() if item.filename == "content.xml" else None
            target.writestr(item, part if part is not None else source.read(item))
    return out.getvalue()


def test_the_rows_and_columns_libreoffice_saves_past_the_table_count_for_nothing(
    plan: PlanInfo,
) -> None:
    """The sample as LibreOffice saved it: its rows end in empty cells
    repeated to the last column, and an empty row repeated to the sheet's
    last row."""
    content = zipfile.ZipFile(SAMPLE).read("content.xml").decode()
    assert 'table:number-rows-repeated="1048537"' in content
    assert 'table:number-columns-repeated="16384"' in content

    extent = _extent(SAMPLE.read_bytes())
    reading = read_score_summary(SAMPLE.read_bytes(), plan)

    assert extent.largest is not None
    assert (extent.largest.rows, extent.largest.columns) == (38, 12)
    assert reading.accepted, reading.problems


def test_content_that_is_not_xml_is_damaged(plan: PlanInfo) -> None:
    data = _with_content(
        ods_file("S", [[ods_text_cell("姓名")]]), "<office:document-content><x"
    )

    assert [p.code for p in read_score_summary(data, plan).problems] == ["damaged"]


@pytest.mark.parametrize("count", ["9" * 5000, "4294967297"])
def test_a_count_past_any_sheet_is_refused_unread(count: str) -> None:
    """A count of thousands of digits is not read as a number (that costs the
    square of its digits), and is as far past any cap."""
    cell = _repeated(1).replace('repeated="1"', f'repeated="{count}"')
    data = ods_file("S", [[cell], [ods_text_cell("张三")]], repeats={1: 100})

    refused = open_workbook(data, IntakeLimits())

    assert not isinstance(refused, Workbook) and refused.code == "sheet_too_large"


def test_a_mailed_correction_form_so_made_is_too_large() -> None:
    data = ods_file("成绩修改申请表", [[_repeated(16384)]], repeats={0: 100})

    reading = read_form_workbook(data, sender="school@example.com", filename="a.ods")

    assert [p.code for p in reading.problems] == ["attachment_too_large"]
