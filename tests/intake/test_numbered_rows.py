"""A row holding only its 序号 is a pre-numbered form's row left unfilled.

Schools' forms come numbered 1 to 40, typed or filled down with ``=ROW()-3``,
and only the candidates there are get a name: the rows left over keep their
序号 alone. Read as candidates' rows, each refused the upload with a line of
"此项不能为空" per empty cell. Below the last candidate such rows are blank,
named in one note; among the candidates (a gap, perhaps a candidate cleared
by mistake) each is refused once. A row with anything else beside its 序号
stays a candidate's.

The xlsx, xls and ods files are the sample summary as LibreOffice saved it,
with cells cleared and 序号 cells made formulas as an office suite writes them
(``with_cell_xml``, ``xls_cells``, ``ods_with_cells``: no office suite runs
here); the CSV is the sample GBK CSV with its lines cut the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import load_workbook

from certflow.intake import (
    read_candidate_sign_in,
    read_evaluator_sign_in,
    read_score_summary,
)
from certflow.models import PlanInfo, Problem
from tests.intake.conftest import (
    CSV_SHIFT,
    SAMPLES,
    SIGN_IN_FORMATS,
    ods_number_cell,
    ods_with_cells,
    sample_csv,
    with_cell_xml,
)
from tests.intake.xls_cells import (
    CellRecord,
    blank,
    formula_error,
    formula_number,
    with_cells,
)

SUMMARY = "P2026-1104-0412-成绩汇总表"
# The columns of a candidate's row in the sample summary, 序号 (A) aside; 备注
# (L) is empty in every row.
DATA_COLUMNS = "BCDEFGHIJK"

# What to write into a cell: None empties it, a number makes it the formula
# =ROW()-3 showing that number, a text makes it a lookup showing that error.
Cells = dict[str, int | str | None]


def _cleared(*rows: int) -> Cells:
    """The cells of ``rows`` emptied but for their 序号."""
    return {f"{column}{row}": None for row in rows for column in DATA_COLUMNS}


def _xlsx_cell(ref: str, value: int | str | None) -> str:
    if value is None:
        return f'<c r="{ref}"/>'
    if isinstance(value, int):
        return f'<c r="{ref}"><f>ROW()-3</f><v>{value}</v></c>'
    return f'<c r="{ref}" t="e"><f>VLOOKUP(E1,名单!A:B,2,0)</f><v>{value}</v></c>'


def _xlsx(cells: Cells, data: bytes | None = None) -> bytes:
    """The sample summary, or the xlsx ``data``, with ``cells`` written."""
    data = data or (SAMPLES / f"{SUMMARY}.xlsx").read_bytes()
    return with_cell_xml(data, {ref: _xlsx_cell(ref, v) for ref, v in cells.items()})


def _xls_cell(value: int | str | None) -> CellRecord:
    if value is None:
        return blank
    if isinstance(value, int):
        return formula_number(value)
    return formula_error(value)


def _xls(cells: Cells) -> bytes:
    records = {ref: _xls_cell(value) for ref, value in cells.items()}
    return with_cells((SAMPLES / f"{SUMMARY}.xls").read_bytes(), records)


def _ods_cell(value: int | str | None) -> str:
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, int):
        return ods_number_cell(value, ' table:formula="of:=ROW()-3"')
    return (
        '<table:table-cell table:formula="of:=VLOOKUP([.E1];$名单.$A$1:$B$40;2;0())"'
        ' office:value-type="string" office:string-value=""'
        f' calcext:value-type="error"><text:p>{value}</text:p></table:table-cell>'
    )


def _ods(cells: Cells) -> bytes:
    data = (SAMPLES / f"{SUMMARY}.ods").read_bytes()
    return ods_with_cells(data, {ref: _ods_cell(v) for ref, v in cells.items()})


def _csv(cells: Cells) -> bytes:
    """The sample CSV with the cells written as a CSV keeps them: a formula's
    value, an empty text for an emptied cell (no error is kept as one)."""
    assert not any(isinstance(v, str) for v in cells.values()), "no error in a CSV"
    return sample_csv(cells)


FORMATS: dict[str, Callable[[Cells], bytes]] = {
    "xlsx": _xlsx,
    "xls": _xls,
    "ods": _ods,
    "csv": _csv,
}
# How many rows higher a row of the other formats stands in the CSV.
SHIFT = {"xlsx": 0, "xls": 0, "ods": 0, "csv": CSV_SHIFT}


def _located(problems: list[Problem]) -> list[tuple[str, int | None, str, str]]:
    return [(p.code, p.row, p.column or "", p.value or "") for p in problems]


def _blank_row_notes(notes: list[str]) -> list[str]:
    return [note for note in notes if "已视为空行" in note]


@pytest.mark.parametrize("kind", FORMATS)
def test_numbered_rows_below_the_last_candidate_are_blank_rows(
    plan: PlanInfo, kind: str
) -> None:
    """The last two rows keep only their 序号, one typed, one =ROW()-3."""
    cells: Cells = {**_cleared(34, 35), "A35": 32}

    reading = read_score_summary(FORMATS[kind](cells), plan)

    assert reading.accepted, reading.problems
    assert reading.candidates == 30
    rows = f"{34 - SHIFT[kind]} 至 {35 - SHIFT[kind]}"
    assert _blank_row_notes(reading.notes) == [f"第 {rows} 行只有序号，已视为空行"]


@pytest.mark.parametrize("kind", FORMATS)
def test_a_numbered_row_among_the_candidates_is_refused_once(
    plan: PlanInfo, kind: str
) -> None:
    """A row cleared but for its 序号 with candidates below it may be one
    cleared by mistake, or an absentee left out: refused, one line, never a
    line per empty cell."""
    reading = read_score_summary(FORMATS[kind]({**_cleared(20), "A20": 17}), plan)

    assert not reading.accepted
    assert _located(reading.problems) == [
        ("numbered_gap", 20 - SHIFT[kind], "序号", "17")
    ]
    shown = reading.problems[0].render()
    assert "只有序号" in shown and "不能为空" not in shown
    assert _blank_row_notes(reading.notes) == []


@pytest.mark.parametrize("kind", ["xlsx", "xls", "ods"])
def test_formula_errors_in_a_numbered_row_count_as_empty(
    plan: PlanInfo, kind: str
) -> None:
    """A lookup filled down with the numbering shows #N/A where no candidate
    is: the row below the last candidate is blank, its errors said in the
    note; the row among the candidates is refused, its error with it."""
    lookups: Cells = {"B34": "#N/A", "B35": "#N/A", "I35": "#DIV/0!"}

    below = read_score_summary(FORMATS[kind]({**_cleared(34, 35), **lookups}), plan)
    among = read_score_summary(
        FORMATS[kind]({**_cleared(20), "A20": 17, "B20": "#N/A"}), plan
    )

    assert below.accepted, below.problems
    assert _blank_row_notes(below.notes) == [
        "第 34 至 35 行只有序号，已视为空行（“姓名”列 #N/A，“总成绩”列 #DIV/0!）"
    ]
    assert _located(among.problems) == [
        ("numbered_gap", 20, "序号", "17"),
        ("formula_error", 20, "姓名", "#N/A"),
    ]


def test_a_numbered_row_holding_anything_else_is_a_candidate_s(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """Beside its 序号, row 34 holds a lookup saved without its result in
    姓名 (which may hold a name), so it is a candidate's; row 33, holding a
    证件类型 filled down, is then among the candidates and checked as theirs;
    row 35 holds nothing: only row 35 is blank."""
    book = load_workbook(SAMPLES / f"{SUMMARY}.xlsx")
    sheet = book["成绩汇总"]
    for row in (33, 34, 35):
        for column in DATA_COLUMNS:
            sheet[f"{column}{row}"] = None
    sheet["C33"] = "居民身份证"
    sheet["B34"] = "=VLOOKUP(E34,名单!A:B,2,0)"
    book.save(tmp_path / "summary.xlsx")

    reading = read_score_summary((tmp_path / "summary.xlsx").read_bytes(), plan)

    found = {(p.code, p.row, p.column) for p in reading.problems}
    assert {p.row for p in reading.problems} == {33, 34}
    assert {
        ("missing_value", 33, "姓名"),
        ("missing_value", 33, "准考证号"),
        ("score_missing", 33, "实操成绩"),
        ("formula_without_result", 34, "姓名"),
        ("missing_value", 34, "准考证号"),
    } <= found
    assert _blank_row_notes(reading.notes) == ["第 35 行只有序号，已视为空行"]


def test_numbered_rows_and_lookups_past_them_are_one_note(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """The numbering ends at row 35, the lookup was dragged on to row 36:
    one note, the rows of each kind named apart."""
    book = load_workbook(SAMPLES / f"{SUMMARY}.xlsx")
    book["成绩汇总"]["B36"] = "=VLOOKUP(E36,名单!A:B,2,0)"
    book.save(tmp_path / "summary.xlsx")
    data = _xlsx(
        {**_cleared(34, 35), "B35": "#N/A", "B36": "#N/A"},
        (tmp_path / "summary.xlsx").read_bytes(),
    )

    reading = read_score_summary(data, plan)

    assert reading.accepted, reading.problems
    assert _blank_row_notes(reading.notes) == [
        "第 34 至 35 行只有序号、第 36 行除公式外没有数据，已视为空行（“姓名”列 #N/A）"
    ]


def test_a_pre_numbered_template_sheet_does_not_hide_the_filled_one(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """A school keeps the blank template, numbered 1 to 40, beside the
    summary it filled in. Counted as 40 candidates' rows it outnumbered the
    summary's 32 and was read instead; its rows are blank."""
    book = load_workbook(SAMPLES / f"{SUMMARY}.xlsx")
    template = book.create_sheet("模板", 0)
    template.append(list(next(book["成绩汇总"].iter_rows(3, 3, values_only=True))))
    for number in range(1, 41):
        template.append([number])
    book.save(tmp_path / "summary.xlsx")

    reading = read_score_summary((tmp_path / "summary.xlsx").read_bytes(), plan)

    assert reading.accepted, reading.problems[:3]
    assert reading.sheet == "成绩汇总" and reading.candidates == 32


# Sign-in sheets: a candidates' sheet numbered to 8 with three candidates,
# the third place left empty among them, and an evaluators' sheet numbered
# to 6 with four evaluators.
CANDIDATES: list[list[object]] = [
    ["序号", "姓名", "证件号码", "准考证号", "签名"],
    [1, "黎芬", "", "2026110412001", "已签"],
    [2, "胡俊霞", "", "2026110412002", "已签"],
    [3],
    [4, "夏宇玲", "", "2026110412003", "已签"],
    [5],
    [6],
    [7],
    [8],
    ["监考签字："],
]
EVALUATORS: list[list[object]] = [
    ["序号", "姓名", "角色", "工号", "签到时间"],
    [1, "周建国", "考评组长", "ZCX-E-0107", "07:50"],
    [2, "刘海波", "考评员", "ZCX-E-0213", "07:50"],
    [3, "陈晓燕", "考评员", "ZCX-E-0288", "07:50"],
    [4, "黄志勇", "考评员", "ZCX-E-0301", "07:50"],
    [5],
    [6],
]


@pytest.mark.parametrize("kind", SIGN_IN_FORMATS)
def test_sign_in_sheets_read_numbered_rows_alike(
    plan: PlanInfo, kind: str, tmp_path: Path
) -> None:
    write = SIGN_IN_FORMATS[kind]
    filled = [row for row in CANDIDATES if row != [3]]
    candidates = read_candidate_sign_in(write(filled, tmp_path), plan)
    gap = read_candidate_sign_in(write(CANDIDATES, tmp_path), plan)
    evaluators = read_evaluator_sign_in(write(EVALUATORS, tmp_path), plan)

    assert candidates.accepted, candidates.problems
    assert [c.seq for c in candidates.candidates] == [1, 2, 4]
    assert _blank_row_notes(candidates.notes) == ["第 5 至 8 行只有序号，已视为空行"]
    assert _located(gap.problems) == [("numbered_gap", 4, "序号", "3")]
    assert evaluators.accepted, evaluators.problems
    assert len(evaluators.evaluators) == 4
    assert _blank_row_notes(evaluators.notes) == ["第 6 至 7 行只有序号，已视为空行"]
