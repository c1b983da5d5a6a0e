"""Hidden sheets and rows are never read; merged data cells are read as staff see them.

The xls and ods forms of the same cases are corpus files (``hidden-*``,
``merged-module.*`` in tests/corpus/intake/manifest.json).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from openpyxl import Workbook, load_workbook

from certflow.intake import (
    SummaryReading,
    read_candidate_sign_in,
    read_score_summary,
)
from certflow.intake.container import HIDDEN_MARK
from certflow.models import PlanInfo
from tests.intake.conftest import SAMPLES

SUMMARY = SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx"


def _book() -> Workbook:
    return load_workbook(io.BytesIO(SUMMARY.read_bytes()))


def _bytes(book: Workbook, path: Path) -> bytes:
    book.save(path)
    return path.read_bytes()


def _scores(reading: SummaryReading) -> dict[str, float | None]:
    return {row.admission_number: row.practical for row in reading.rows}


def test_a_hidden_copy_moved_first_is_not_read(plan: PlanInfo, tmp_path: Path) -> None:
    honest = read_score_summary(SUMMARY.read_bytes(), plan)
    for state in ("hidden", "veryHidden"):
        book = _book()
        copy = book.copy_worksheet(book["成绩汇总"])
        copy["H5"] = 99  # one practical score changed in the copy
        copy.sheet_state = state
        book.move_sheet(copy, offset=-1)

        reading = read_score_summary(_bytes(book, tmp_path / "s.xlsx"), plan)

        assert reading.accepted, reading.problems
        assert reading.sheet == "成绩汇总"
        assert _scores(reading) == _scores(honest)
        assert any(copy.title in note and "隐藏" in note for note in reading.notes)
        # No sheet is called one without the header: both have it.
        assert not any("不含所需表头" in note for note in reading.notes)


def test_a_hidden_copy_with_more_rows_is_not_read(
    plan: PlanInfo, tmp_path: Path
) -> None:
    book = _book()
    copy = book.copy_worksheet(book["成绩汇总"])
    copy.sheet_state = "hidden"
    copy.insert_rows(10, amount=5)
    for index in range(10, 15):
        copy.cell(index, 1, 90 + index)

    reading = read_score_summary(_bytes(book, tmp_path / "s.xlsx"), plan)

    assert reading.accepted, reading.problems
    assert reading.sheet == "成绩汇总" and reading.candidates == 32


def test_a_summary_only_on_a_hidden_sheet_is_refused_naming_it(
    plan: PlanInfo, tmp_path: Path
) -> None:
    book = _book()
    book.create_sheet("说明", 0).append(["见下一页"])
    book["成绩汇总"].sheet_state = "veryHidden"

    reading = read_score_summary(_bytes(book, tmp_path / "s.xlsx"), plan)

    assert not reading.accepted and reading.rows == []
    [found] = reading.problems
    assert found.code == "hidden_sheet" and found.sheet == "成绩汇总"
    assert "成绩汇总" in found.message and "取消隐藏" in found.message


def test_a_hidden_data_row_is_refused_with_its_row(
    plan: PlanInfo, tmp_path: Path
) -> None:
    book = _book()
    book["成绩汇总"].row_dimensions[7].hidden = True
    book["成绩汇总"].row_dimensions[2].hidden = True  # a title row: harmless

    reading = read_score_summary(_bytes(book, tmp_path / "s.xlsx"), plan)

    assert not reading.accepted
    assert [(p.code, p.sheet, p.row) for p in reading.problems] == [
        ("hidden_row", "成绩汇总", 7)
    ]
    assert "隐藏" in reading.problems[0].message


def test_a_hidden_row_marked_across_a_read_boundary_is_found(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """The container check inflates members in 64 KiB reads and notes which
    say hidden= (only those are read again): a mark split by a read boundary
    still counts."""
    book = _book()
    book["成绩汇总"].row_dimensions[7].hidden = True
    packed = _bytes(book, tmp_path / "s.xlsx")
    with zipfile.ZipFile(io.BytesIO(packed)) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    sheet = next(name for name, xml in parts.items() if HIDDEN_MARK in xml)
    xml = parts[sheet]
    mark, start = (
        xml.index(HIDDEN_MARK),
        xml.index(b"<sheetData>") + len(b"<sheetData>"),
    )
    # Blank space between elements moves the mark to straddle the boundary.
    padding = 64 * 1024 - 3 - mark
    assert padding > 0
    parts[sheet] = xml[:start] + b" " * padding + xml[start:]
    assert parts[sheet].index(HIDDEN_MARK) == 64 * 1024 - 3
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)

    reading = read_score_summary(out.getvalue(), plan)

    assert [(p.code, p.row) for p in reading.problems] == [("hidden_row", 7)]


def test_a_hidden_row_of_a_sign_in_sheet_is_refused_too(
    plan: PlanInfo, tmp_path: Path
) -> None:
    book = load_workbook(SAMPLES / "P2026-1104-0412-考生签到表.xlsx")
    sheet = next(s for s in book.worksheets if s.sheet_state == "visible")
    sheet.row_dimensions[5].hidden = True

    reading = read_candidate_sign_in(_bytes(book, tmp_path / "c.xlsx"), plan)

    assert [(p.code, p.row) for p in reading.problems] == [("hidden_row", 5)]


def test_the_module_merged_down_is_read_on_every_row(
    plan: PlanInfo, tmp_path: Path
) -> None:
    book = _book()
    sheet = book["成绩汇总"]
    for row in range(5, 36):
        sheet.cell(row, 6).value = None
    sheet.merge_cells("F4:F35")

    reading = read_score_summary(_bytes(book, tmp_path / "s.xlsx"), plan)

    assert reading.accepted, reading.problems[:3]
    assert reading.candidates == 32


def test_absent_merged_over_two_rows_counts_both_absent(
    plan: PlanInfo, tmp_path: Path
) -> None:
    # 缺考 typed once in the practical column over two absentees' rows, with
    # no status column: both rows are absent.
    rows = [
        ["序号", "姓名", "证件号码", "准考证号", "理论成绩", "实操成绩", "总成绩"],
        [1, "黎芬", "420106200503021021", "2026110412001", "缺考", "缺考", ""],
        [2, "胡俊霞", "420106200503031035", "2026110412002", "", "", ""],
        [3, "夏宇玲", "420106200503041049", "2026110412003", 80, 90, 87],
    ]
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for values in rows:
        sheet.append(values)
    sheet.merge_cells("E2:E3")
    sheet.merge_cells("F2:F3")

    reading = read_score_summary(_bytes(book, tmp_path / "s.xlsx"), plan)

    assert reading.problems == [] and reading.absent == 2, reading.problems


def test_a_merged_name_says_merged_cell_not_empty(
    plan: PlanInfo, tmp_path: Path
) -> None:
    book = _book()
    sheet = book["成绩汇总"]
    sheet["B5"] = None
    sheet.merge_cells("B4:B5")

    reading = read_score_summary(_bytes(book, tmp_path / "s.xlsx"), plan)

    assert [(p.code, p.row, p.column) for p in reading.problems] == [
        ("merged_cell", 5, "姓名")
    ]
    assert "合并单元格 B4:B5" in reading.problems[0].message


def test_a_header_over_two_rows_is_said_so(plan: PlanInfo, tmp_path: Path) -> None:
    """Regression: a header written over two rows (成绩 merged above 理论 |
    实操 | 总分, the other headers merged down) was refused as missing the
    score columns, though the sender sees them; the refusal now says the
    header is on two rows, naming the row and the columns below."""
    book = _book()
    sheet = book["成绩汇总"]
    sheet.insert_rows(4)
    for column, below in (("G", "理论"), ("H", "实操"), ("I", "总分")):
        sheet[f"{column}4"] = below
    sheet["G3"], sheet["H3"], sheet["I3"] = "成绩", None, None
    sheet.merge_cells("G3:I3")
    for column in "ABCDEFJKL":
        sheet.merge_cells(f"{column}3:{column}4")

    reading = read_score_summary(_bytes(book, tmp_path / "two.xlsx"), plan)

    [refused] = reading.problems
    assert (refused.code, refused.sheet, refused.row) == (
        "header_two_rows",
        "成绩汇总",
        4,
    )
    shown = refused.render()
    for said in ("第 3 行是表头", "“实操成绩”、“理论成绩”", "第 4 行"):
        assert said in shown
    one_missing = _book()
    one_missing["成绩汇总"]["H3"] = "备用"
    reading = read_score_summary(_bytes(one_missing, tmp_path / "one.xlsx"), plan)
    assert [p.code for p in reading.problems] == ["missing_columns"]
