"""A cell holding a formula error (#N/A, #DIV/0!) is named as such, not as empty.

Schools fill summaries with VLOOKUP and division formulas; one that finds
nothing leaves #N/A, which the spreadsheet reader sees as an empty cell, in
xlsx, xls and ods alike. The refusal must say what the cell really holds,
where it is, and the cell is refused even where an empty cell would be fine
(a 序号, a 备注): its value was never read.

The xlsx files are the sample summary (saved by LibreOffice) with the cells
as Excel writes them; the xls and ods files are the sample summary's own xls
and ods with the cells as LibreOffice writes them (see ``xls_cells`` and
``ods_with_cells``: no office suite runs here to save them).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook

from certflow.intake import read_candidate_sign_in, read_score_summary
from certflow.intake.limits import IntakeLimits
from certflow.intake.workbook import Workbook, open_workbook
from certflow.models import PlanInfo, Problem
from tests.corpus.intake.make_corpus import row, workbook
from tests.intake.conftest import (
    SAMPLES,
    ods_with_cells,
    sheet_file,
    with_error_cells,
)
from tests.intake.xls_cells import blank, constant_error, formula_error, with_cells

ROWS = [row(1, "黎芬", 80, 90, 87, "合格"), row(2, "胡俊霞", 74, 84.6, 81.42, "合格")]
SUMMARY = "P2026-1104-0412-成绩汇总表"


def _summary_bytes() -> bytes:
    buffer = io.BytesIO()
    workbook(ROWS).save(buffer)
    return buffer.getvalue()


def _ods_error(error: str | None) -> str:
    """A formula cell whose result is ``error``, as LibreOffice saves it, or
    an emptied cell (None)."""
    if error is None:
        return "<table:table-cell/>"
    return (
        '<table:table-cell table:formula="of:=VLOOKUP([.E4];$名单.$A$1:$B$40;2;0())"'
        ' office:value-type="string" office:string-value=""'
        f' calcext:value-type="error"><text:p>{error}</text:p></table:table-cell>'
    )


# The cells to change: the error each shows, or None to empty it.
Cells = dict[str, str | None]


def _xlsx(errors: Cells) -> bytes:
    return with_error_cells((SAMPLES / f"{SUMMARY}.xlsx").read_bytes(), errors)


def _xls(errors: Cells) -> bytes:
    cells = {
        ref: blank if error is None else formula_error(error)
        for ref, error in errors.items()
    }
    return with_cells((SAMPLES / f"{SUMMARY}.xls").read_bytes(), cells)


def _ods(errors: Cells) -> bytes:
    cells = {ref: _ods_error(error) for ref, error in errors.items()}
    return ods_with_cells((SAMPLES / f"{SUMMARY}.ods").read_bytes(), cells)


# The sample summary in each format, with formula errors in the given cells.
FORMATS: dict[str, Callable[[Cells], bytes]] = {
    "xlsx": _xlsx,
    "xls": _xls,
    "ods": _ods,
}


def _book(data: bytes) -> Workbook:
    book = open_workbook(data, IntakeLimits())
    assert isinstance(book, Workbook)
    return book


def _located(problems: list[Problem]) -> list[tuple[str, int | None, str, str]]:
    return [(p.code, p.row, p.column or "", p.value or "") for p in problems]


@pytest.mark.parametrize("kind", FORMATS)
def test_the_error_cells_of_a_sheet_are_found(kind: str) -> None:
    data = FORMATS[kind]({"G4": "#N/A", "H5": "#DIV/0!"})

    [sheet] = _book(data).sheets

    assert sheet.errors == {(4, 6): "#N/A", (5, 7): "#DIV/0!"}
    # They read as empty: the reader cannot see them otherwise.
    assert sheet.rows[3][6] == "" and sheet.rows[4][7] == ""


@pytest.mark.parametrize("kind", FORMATS)
def test_errors_past_the_cap_refuse_the_file(plan: PlanInfo, kind: str) -> None:
    """``max_unread_cells`` counts the formula errors of the whole file; past
    it the file is refused, not read with the errors past it as empty cells."""
    data = FORMATS[kind]({"G4": "#N/A", "H5": "#DIV/0!", "G6": "#N/A"})

    refused = read_score_summary(data, plan, limits=IntakeLimits(max_unread_cells=2))
    named = read_score_summary(data, plan, limits=IntakeLimits(max_unread_cells=3))

    assert [p.code for p in refused.problems] == ["too_many_unread_cells"]
    assert [p.code for p in named.problems] == ["formula_error"] * 3


def test_only_the_sheet_holding_them_has_them() -> None:
    buffer = io.BytesIO()
    book = workbook(ROWS)
    book.create_sheet("填表说明")["A1"] = "说明"
    book.save(buffer)

    sheets = _book(with_error_cells(buffer.getvalue(), {"G4": "#N/A"})).sheets

    assert {s.name: s.errors for s in sheets if s.errors} == {
        "成绩汇总": {(4, 6): "#N/A"}
    }


@pytest.mark.parametrize("kind", FORMATS)
def test_a_score_left_as_n_a_is_refused_as_a_formula_error(
    plan: PlanInfo, kind: str
) -> None:
    data = FORMATS[kind]({"G4": "#N/A", "D5": "#REF!"})

    reading = read_score_summary(data, plan)

    assert not reading.accepted
    assert _located(reading.problems) == [
        ("formula_error", 4, "理论成绩", "#N/A"),
        ("formula_error", 5, "证件号码", "#REF!"),
    ]
    shown = reading.problems[0].render()
    assert shown.startswith("工作表“成绩汇总” 第 4 行 “理论成绩”列：")
    assert "#N/A" in shown
    assert not any("不能为空" in p.render() for p in reading.problems)


@pytest.mark.parametrize("kind", FORMATS)
def test_an_error_where_a_cell_may_be_empty_is_refused_too(
    plan: PlanInfo, kind: str
) -> None:
    """Read as empty, a 序号 or a title-row cell holding an error was accepted
    without a word; it is no value the sender meant."""
    data = FORMATS[kind]({"A5": "#REF!", "A2": "#NAME?"})

    reading = read_score_summary(data, plan)

    assert not reading.accepted
    assert _located(reading.problems) == [
        ("formula_error", 2, "A", "#NAME?"),
        ("formula_error", 5, "序号", "#REF!"),
    ]


def test_an_xls_error_typed_as_a_value_is_named(plan: PlanInfo) -> None:
    data = with_cells(
        (SAMPLES / f"{SUMMARY}.xls").read_bytes(), {"H6": constant_error("#N/A")}
    )

    reading = read_score_summary(data, plan)

    assert _located(reading.problems) == [("formula_error", 6, "实操成绩", "#N/A")]


def test_an_ods_names_libreoffice_s_own_errors(plan: PlanInfo) -> None:
    """LibreOffice's errors of its own (Err:502, an invalid argument) are
    saved as its others are; one saved without LibreOffice's error mark (an
    older version, another writer) is found by what the cell shows."""
    unmarked = (
        '<table:table-cell table:formula="of:=[.G4]/0" office:value-type="string"'
        ' office:string-value=""><text:p>#DIV/0!</text:p></table:table-cell>'
    )
    data = ods_with_cells(
        (SAMPLES / f"{SUMMARY}.ods").read_bytes(),
        {"I4": _ods_error("Err:502"), "I5": unmarked},
    )

    reading = read_score_summary(data, plan)

    assert _located(reading.problems) == [
        ("formula_error", 4, "总成绩", "Err:502"),
        ("formula_error", 5, "总成绩", "#DIV/0!"),
    ]


def test_a_text_result_that_looks_like_an_error_is_read_as_text(
    plan: PlanInfo,
) -> None:
    """A text formula's result is kept in office:string-value: "#N/A" there is
    text the formula produced, read as the text it is (and refused as such)."""
    text = (
        '<table:table-cell table:formula="of:=&quot;#N/A&quot;"'
        ' office:value-type="string" office:string-value="#N/A"'
        ' calcext:value-type="string"><text:p>#N/A</text:p></table:table-cell>'
    )
    data = ods_with_cells((SAMPLES / f"{SUMMARY}.ods").read_bytes(), {"K4": text})

    assert _book(data).sheets[0].errors == {}
    reading = read_score_summary(data, plan)
    assert [(p.code, p.row, p.column) for p in reading.problems] == [
        ("unknown_result", 4, "考核结果")
    ]


def test_errors_the_reader_does_not_read_are_left_alone(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """An error right of the table or in the signature lines below it is no
    cell of the summary: not read, not named."""
    book = load_workbook(SAMPLES / f"{SUMMARY}.xlsx")
    sheet = book["成绩汇总"]
    sheet["N4"] = "=G4+H4"  # a school's own check, beside the table
    sheet["C38"] = "=TODAY()"  # in the date line under the signatures
    book.save(tmp_path / "summary.xlsx")
    data = with_error_cells(
        (tmp_path / "summary.xlsx").read_bytes(), {"N4": "#VALUE!", "C38": "#NAME?"}
    )

    assert _book(data).sheets[0].errors == {(4, 13): "#VALUE!", (38, 2): "#NAME?"}
    reading = read_score_summary(data, plan)
    assert reading.accepted, reading.problems


def test_a_sign_in_sheet_names_its_error_cells_too(
    plan: PlanInfo, tmp_path: Path
) -> None:
    data = sheet_file(
        tmp_path / "sign-in.xlsx",
        [
            ["序号", "姓名", "证件号码", "准考证号", "签名"],
            [1, "黎芬", "", "2026110412001", "已签"],
            [2, "胡俊霞", "", "2026110412002", "已签"],
        ],
    )

    reading = read_candidate_sign_in(with_error_cells(data, {"D3": "#N/A"}), plan)

    assert [(p.code, p.row, p.column) for p in reading.problems] == [
        ("formula_error", 3, "准考证号")
    ]


# The last candidate's row (35) cleared, as a school clears a candidate who
# left: only the 姓名 lookup and the 总成绩 average left in it, showing
# their errors.
CLEARED: Cells = {f"{column}35": None for column in "ACDEFGHJK"}
BLANK_ROW_NOTE = (
    "第 {rows} 行除公式外没有数据，已视为空行（“姓名”列 #N/A，“总成绩”列 #DIV/0!）"
)


def _blank_row_notes(notes: list[str]) -> list[str]:
    return [note for note in notes if "已视为空行" in note]


@pytest.mark.parametrize("kind", FORMATS)
def test_errors_in_a_row_without_data_are_one_note(plan: PlanInfo, kind: str) -> None:
    """Schools drag a VLOOKUP or an AVERAGE down past the last candidate: in
    a row holding nothing else it shows #N/A or #DIV/0!, no cell of a
    candidate. Such a row is blank, said once; the same row holding data (its
    准考证号) is a candidate's, and its errors stay refused."""
    lookups: Cells = {"B35": "#N/A", "I35": "#DIV/0!"}
    admission_kept: Cells = {ref: None for ref in CLEARED if ref != "E35"}

    blank_row = read_score_summary(FORMATS[kind]({**CLEARED, **lookups}), plan)
    holding_data = read_score_summary(
        FORMATS[kind]({**admission_kept, **lookups}), plan
    )

    assert blank_row.accepted, blank_row.problems
    assert blank_row.candidates == 31
    assert _blank_row_notes(blank_row.notes) == [BLANK_ROW_NOTE.format(rows="35")]
    assert not holding_data.accepted
    assert {
        ("formula_error", 35, "姓名", "#N/A"),
        ("formula_error", 35, "总成绩", "#DIV/0!"),
    } <= set(_located(holding_data.problems))
    assert _blank_row_notes(holding_data.notes) == []


def test_a_lookup_in_the_blank_row_above_the_signatures_is_no_problem(
    plan: PlanInfo, tmp_path: Path
) -> None:
    book = load_workbook(SAMPLES / f"{SUMMARY}.xlsx")
    book["成绩汇总"]["B36"] = "=VLOOKUP(E36,名单!A:B,2,0)"
    book.save(tmp_path / "summary.xlsx")
    data = with_error_cells((tmp_path / "summary.xlsx").read_bytes(), {"B36": "#N/A"})

    reading = read_score_summary(data, plan)

    assert reading.accepted, reading.problems
    assert reading.candidates == 32
    assert _blank_row_notes(reading.notes) == [
        "第 36 行除公式外没有数据，已视为空行（“姓名”列 #N/A）"
    ]


def test_lookups_dragged_down_to_the_sheet_s_end_are_one_note(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """Without signature lines nothing ends the table: the errors run down
    to the last row the formulas were dragged to, each column one reason."""
    book = load_workbook(SAMPLES / f"{SUMMARY}.xlsx")
    sheet = book["成绩汇总"]
    sheet.delete_rows(37, 2)
    errors: Cells = {}
    for number in range(36, 121):
        sheet[f"B{number}"] = f"=VLOOKUP(E{number},名单!A:B,2,0)"
        sheet[f"I{number}"] = f"=AVERAGE(G{number}:H{number})"
        errors |= {f"B{number}": "#N/A", f"I{number}": "#DIV/0!"}
    book.save(tmp_path / "summary.xlsx")
    data = with_error_cells((tmp_path / "summary.xlsx").read_bytes(), errors)

    reading = read_score_summary(data, plan)

    assert reading.accepted, reading.problems[:3]
    assert reading.candidates == 32
    assert _blank_row_notes(reading.notes) == [BLANK_ROW_NOTE.format(rows="36 至 120")]


def test_a_sign_in_sheet_s_blank_rows_with_lookups_are_blank_too(
    plan: PlanInfo, tmp_path: Path
) -> None:
    lookups = [[None, "=VLOOKUP(C5,名单!A:B,2,0)"] for _ in range(5, 31)]
    data = sheet_file(
        tmp_path / "sign-in.xlsx",
        [
            ["序号", "姓名", "准考证号", "签名"],
            [1, "黎芬", "2026110412001", "已签"],
            [2, "胡俊霞", "2026110412002", "已签"],
            [None, "=VLOOKUP(C4,名单!A:B,2,0)", "2026110412003"],
            *lookups,
        ],
    )
    errors: Cells = {f"B{row}": "#N/A" for row in range(4, 31)}

    reading = read_candidate_sign_in(with_error_cells(data, errors), plan)

    # Row 4 names a candidate: its lookup is refused; the rows below are blank.
    assert _located(reading.problems) == [("formula_error", 4, "姓名", "#N/A")]
    assert _blank_row_notes(reading.notes) == [
        "第 5 至 30 行除公式外没有数据，已视为空行（“姓名”列 #N/A）"
    ]
