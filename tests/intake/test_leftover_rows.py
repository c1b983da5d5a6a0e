"""Rows a pre-filled form leaves over, and a note that nothing follows.

Schools' forms come numbered and pre-filled further: 证件类型 and 考核模块
filled down, a 考核结果 formula showing 不合格, a 总成绩 formula showing 0,
考试状态 正常 filled down. Only the candidates there are get a name; the rows
left over keep the rest, and each was read as a candidate's row and refused
with a "此项不能为空" per empty cell. Below the last candidate such a row
names nobody and holds nothing a school typed for a person: it is blank, named
in the one blank-row note. A row naming nobody that holds data (a typed score,
a value no candidate's row holds) is refused once, saying so.

Schools also write 以下空白 (以下无内容, （以下空白）, 此页以下空白) in the first
unused row, often merged across it. It was read as a candidate's row; it now
ends the list: blank, named in the note, and every row below it down to the
signature lines must hold no data.

The xlsx, xls and ods files are the sample summary as LibreOffice saved it,
with cells written as an office suite writes them (``with_cell_xml``,
``xls_cells``, ``ods_with_cells``: no office suite runs here); the CSV is the
sample GBK CSV with its lines changed the same way (a CSV keeps no formula).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from certflow.intake import (
    SignInReading,
    SummaryReading,
    read_candidate_sign_in,
    read_evaluator_sign_in,
    read_score_summary,
)
from certflow.intake.limits import IntakeLimits
from certflow.intake.workbook import Workbook, open_workbook
from certflow.models import PlanInfo, Problem
from tests.intake.conftest import (
    CSV_SHIFT,
    SAMPLES,
    SIGN_IN_FORMATS,
    ods_number_cell,
    ods_text_cell,
    ods_with_cells,
    sample_csv,
    sheet_file,
    with_cell_xml,
    with_sheet_xml,
)
from tests.intake.xls_cells import (
    CellRecord,
    blank,
    formula_number,
    formula_text,
    number,
    text,
    with_cells,
)

SUMMARY = "P2026-1104-0412-成绩汇总表"


@dataclass(frozen=True)
class Formula:
    """A formula saved with what it shows: a number or a text."""

    shows: float | str


# What to write into a cell: None empties it, a text or a number is typed.
Value = Formula | str | float | None
Cells = dict[str, Value]

# Rows 34 and 35 of the sample hold its last two candidates; emptied of
# their name, ID and admission number (B, D, E) and of their typed scores and
# result (G, H, K), with 总成绩 (I) and 考核结果 (K) formulas, they are a
# pre-filled template's rows left over. The 序号 (A), 证件类型 (C), 考核模块 (F)
# and 考试状态 (J) stay as the candidates above have them.
PREFILLED: Cells = {
    **{f"{column}{row}": None for row in (34, 35) for column in "BDEGH"},
    **{f"I{row}": Formula(0) for row in (34, 35)},
    **{f"K{row}": Formula("不合格") for row in (34, 35)},
}


def _xlsx_cell(ref: str, value: Value) -> str:
    if value is None:
        return f'<c r="{ref}"/>'
    if isinstance(value, str):
        return f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'
    if isinstance(value, (int, float)):
        return f'<c r="{ref}"><v>{value}</v></c>'
    if isinstance(value.shows, str):
        return (
            f'<c r="{ref}" t="str"><f>IF(H{ref[1:]}&gt;=60,"合格","不合格")</f>'
            f"<v>{escape(value.shows)}</v></c>"
        )
    return (
        f'<c r="{ref}"><f>ROUND(G{ref[1:]}*0.3+H{ref[1:]}*0.7,2)</f>'
        f"<v>{value.shows}</v></c>"
    )


def _xlsx(cells: Cells, data: bytes | None = None) -> bytes:
    data = data or (SAMPLES / f"{SUMMARY}.xlsx").read_bytes()
    return with_cell_xml(data, {ref: _xlsx_cell(ref, v) for ref, v in cells.items()})


def _xls_cell(value: Value) -> CellRecord:
    if value is None:
        return blank
    if isinstance(value, str):
        return text(value)
    if isinstance(value, (int, float)):
        return number(value)
    if isinstance(value.shows, str):
        return formula_text(value.shows)
    return formula_number(value.shows)


def _xls(cells: Cells) -> bytes:
    records = {ref: _xls_cell(value) for ref, value in cells.items()}
    return with_cells((SAMPLES / f"{SUMMARY}.xls").read_bytes(), records)


def _ods_cell(value: Value) -> str:
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, str):
        return ods_text_cell(value)
    if isinstance(value, (int, float)):
        return ods_number_cell(value)
    if isinstance(value.shows, str):
        return (
            '<table:table-cell table:formula="of:=IF([.H4]&gt;=60;&quot;合格&quot;;'
            '&quot;不合格&quot;)" office:value-type="string"'
            f' office:string-value="{value.shows}" calcext:value-type="string">'
            f"<text:p>{value.shows}</text:p></table:table-cell>"
        )
    return ods_number_cell(value.shows, ' table:formula="of:=ROUND([.G4]*0.3;2)"')


def _ods(cells: Cells) -> bytes:
    data = (SAMPLES / f"{SUMMARY}.ods").read_bytes()
    return ods_with_cells(data, {ref: _ods_cell(v) for ref, v in cells.items()})


def _csv(cells: Cells) -> bytes:
    """The sample CSV with the cells written as a CSV keeps them: a formula
    as the value it shows, typed."""
    return sample_csv(
        {ref: v.shows if isinstance(v, Formula) else v for ref, v in cells.items()}
    )


FORMATS: dict[str, Callable[[Cells], bytes]] = {
    "xlsx": _xlsx,
    "xls": _xls,
    "ods": _ods,
    "csv": _csv,
}
SHIFT = {"xlsx": 0, "xls": 0, "ods": 0, "csv": CSV_SHIFT}
WITH_FORMULAS = ["xlsx", "xls", "ods"]


def _without_formulas(cells: Cells) -> Cells:
    """``cells`` as a CSV holds a template's rows: its formulas left empty."""
    return {ref: None if isinstance(v, Formula) else v for ref, v in cells.items()}


def _located(problems: list[Problem]) -> list[tuple[str, int | None, str]]:
    return [(p.code, p.row, p.column or "") for p in problems]


def _blank_row_notes(notes: list[str]) -> list[str]:
    return [note for note in notes if "已视为空行" in note]


def _accepted_leaving_blank(reading: SummaryReading, note: str) -> None:
    """The summary was accepted with its 30 candidates, ``note`` the one
    note naming its blank rows."""
    assert reading.accepted, reading.problems
    assert reading.candidates == 30
    assert _blank_row_notes(reading.notes) == [note]


@pytest.mark.parametrize("kind", WITH_FORMULAS)
def test_formula_formats_find_the_cells_holding_a_formula(kind: str) -> None:
    book = open_workbook(FORMATS[kind](PREFILLED), IntakeLimits())

    assert isinstance(book, Workbook)
    assert book.sheets[0].formulas() == {(34, 8), (35, 8), (34, 10), (35, 10)}


@pytest.mark.parametrize("kind", WITH_FORMULAS)
def test_prefilled_rows_below_the_last_candidate_are_blank_rows(
    plan: PlanInfo, kind: str
) -> None:
    """Formulas showing 0 and 不合格, 证件类型, 考核模块 and 考试状态 filled
    down, the 序号: no candidate is there."""
    reading = read_score_summary(FORMATS[kind](PREFILLED), plan)

    _accepted_leaving_blank(reading, "第 34 至 35 行只有模板预填内容，已视为空行")


def test_a_csv_s_rows_filled_down_are_blank_rows(plan: PlanInfo) -> None:
    """A CSV keeps no formula: its template rows hold the values filled down."""
    reading = read_score_summary(_csv(_without_formulas(PREFILLED)), plan)

    _accepted_leaving_blank(reading, "第 32 至 33 行只有模板预填内容，已视为空行")


@pytest.mark.parametrize("kind", FORMATS)
def test_a_row_naming_nobody_with_a_typed_score_is_refused_once(
    plan: PlanInfo, kind: str
) -> None:
    """A 实操成绩 typed into the last row: someone's score, whose row names
    nobody. One line says so, never a "此项不能为空" per empty cell."""
    cells = {**PREFILLED, "H35": 0.0}
    if kind == "csv":
        cells = _without_formulas(cells)

    reading = read_score_summary(FORMATS[kind](cells), plan)

    shift = SHIFT[kind]
    assert _located(reading.problems) == [
        ("row_without_identity", 35 - shift, "实操" if kind == "csv" else "实操成绩")
    ]
    shown = reading.problems[0].render()
    assert "不能为空" not in shown
    names = (
        "考生姓名、身份证号码、准考证号"
        if kind == "csv"
        else "姓名、证件号码、准考证号"
    )
    assert f"此行的{names}都是空的，却填有内容" in shown
    assert _blank_row_notes(reading.notes) == [
        f"第 {34 - shift} 行只有模板预填内容，已视为空行"
    ]


@pytest.mark.parametrize("kind", FORMATS)
def test_a_value_typed_where_the_template_filled_another_is_refused(
    plan: PlanInfo, kind: str
) -> None:
    """护照 is the document of no candidate above; 缺考 is said of someone,
    though two candidates above are absent: neither is a template's."""
    cells = {**PREFILLED, "C34": "护照", "J35": "缺考"}
    if kind == "csv":
        cells = _without_formulas(cells)

    reading = read_score_summary(FORMATS[kind](cells), plan)

    shift = SHIFT[kind]
    assert _located(reading.problems) == [
        ("row_without_identity", 34 - shift, "证件类型"),
        ("row_without_identity", 35 - shift, "考试状态"),
    ]


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_a_status_filled_down_past_an_absent_last_candidate_is_the_template_s(
    plan: PlanInfo, kind: str
) -> None:
    """The last candidate is absent (缺考 typed over the template's 正常);
    the rows below keep 正常, as the candidates above them do."""
    absent: Cells = {
        **{f"{column}33": None for column in "GHI"},
        "J33": "缺考",
        "K33": "不合格",
    }
    cells = {**PREFILLED, **absent}
    if kind == "csv":
        cells = _without_formulas(cells)

    reading = read_score_summary(FORMATS[kind](cells), plan)

    assert reading.accepted, reading.problems
    assert reading.absent == 3
    assert len(_blank_row_notes(reading.notes)) == 1


@pytest.mark.parametrize("kind", WITH_FORMULAS)
def test_a_prefilled_row_among_the_candidates_is_checked_as_a_candidate_s(
    plan: PlanInfo, kind: str
) -> None:
    """Row 20 left as the template's among candidates: it may be a candidate
    cleared by mistake, and is checked cell by cell as before; the rows below
    the last candidate are blank."""
    gap: Cells = {"B20": None, "D20": None, "E20": None, "G20": None, "H20": None}
    cells = {**PREFILLED, **gap, "I20": Formula(0), "K20": Formula("不合格")}

    reading = read_score_summary(FORMATS[kind](cells), plan)

    assert {p.row for p in reading.problems} == {20}
    assert ("missing_value", 20, "姓名") in _located(reading.problems)
    assert _blank_row_notes(reading.notes) == [
        "第 34 至 35 行只有模板预填内容，已视为空行"
    ]


# Rows 34 and 35 of a template that fills in every numbered place's 准考证号
# from its 序号 (="2026110412"&TEXT(A34,"000")): the places left over show an
# admission number, though nobody is there.
COMPUTED: Cells = {
    **PREFILLED,
    **{f"E{row}": Formula(f"2026110412{row - 3:03d}") for row in (34, 35)},
}


@pytest.mark.parametrize("kind", WITH_FORMULAS)
def test_numbers_a_template_computes_for_the_places_left_over_are_blank(
    plan: PlanInfo, kind: str
) -> None:
    """Regression: the computed admission numbers made rows 34 and 35
    candidates' rows, each refused for its empty 姓名 and scores. A formula
    filling in an ID or admission number names nobody; the row holds only
    what the template fills in. A candidate's row whose admission number a
    formula computes (row 33, its name typed) is read as before."""
    cells = {**COMPUTED, "E33": Formula("2026110412030")}

    reading = read_score_summary(FORMATS[kind](cells), plan)

    _accepted_leaving_blank(reading, "第 34 至 35 行只有模板预填内容，已视为空行")
    assert reading.rows[-1].admission_number == "2026110412030"


@pytest.mark.parametrize("kind", WITH_FORMULAS)
def test_a_computed_number_beside_typed_data_is_a_candidate_s_row(
    plan: PlanInfo, kind: str
) -> None:
    """A 理论成绩 typed into row 35, whose admission number the template
    computes: someone's row, whose name is missing. Read as a candidate's
    row, as before, and the template's row 34 above it with it: each named
    where it lacks what a candidate's row must hold."""
    cells = {**COMPUTED, "G35": 61.0}

    reading = read_score_summary(FORMATS[kind](cells), plan)

    located = _located(reading.problems)
    assert {row for _, row, _ in located} == {34, 35}
    assert ("missing_value", 35, "姓名") in located
    assert ("missing_value", 34, "姓名") in located


@pytest.mark.parametrize("kind", WITH_FORMULAS)
def test_a_computed_number_among_the_candidates_is_checked_as_before(
    plan: PlanInfo, kind: str
) -> None:
    """Row 20 cleared but for the admission number its formula computes,
    candidates below it: it may be a candidate cleared by mistake, and is
    checked cell by cell as a candidate's row, as before."""
    gap: Cells = {"B20": None, "D20": None, "G20": None, "H20": None}
    cells = {
        **gap,
        "E20": Formula("2026110412017"),
        "I20": Formula(0),
        "K20": Formula("不合格"),
    }

    reading = read_score_summary(FORMATS[kind](cells), plan)

    assert {p.row for p in reading.problems} == {20}
    assert ("missing_value", 20, "姓名") in _located(reading.problems)


# 以下空白 in the name cell of row 34, the rest of the row emptied but its
# 序号; row 35 left with its 序号 alone.
ENDED: Cells = {
    "B34": "以下空白",
    **{f"{column}34": None for column in "CDEFGHIJK"},
    **{f"{column}35": None for column in "BCDEFGHIJK"},
}


@pytest.mark.parametrize("kind", FORMATS)
def test_a_note_that_nothing_follows_ends_the_list(plan: PlanInfo, kind: str) -> None:
    reading = read_score_summary(FORMATS[kind](ENDED), plan)

    assert reading.accepted, reading.problems
    assert reading.candidates == 30
    shift = SHIFT[kind]
    assert _blank_row_notes(reading.notes) == [
        f"第 {34 - shift} 行写有“以下空白”、第 {35 - shift} 行只有序号，已视为空行"
    ]


@pytest.mark.parametrize(
    "marker",
    ["以下无内容", "以下为空", "（以下空白）", "此页以下空白", "—— 以 下 空 白 ——"],
)
def test_the_ways_schools_write_it_in_the_first_column(
    plan: PlanInfo, marker: str
) -> None:
    """Merged across the row, the text stands in its first cell, the 序号's."""
    cells = {**ENDED, "A34": marker, "B34": None}

    reading = read_score_summary(_csv(cells), plan)

    assert reading.accepted, reading.problems
    [note] = _blank_row_notes(reading.notes)
    assert note.startswith("第 32 行写有“")


def test_a_note_merged_across_a_prefilled_row(plan: PlanInfo) -> None:
    """（以下空白） merged over B34:L34 hides the row's 证件类型 and 考核模块;
    row 35 keeps the template's, which the candidates' rows hold."""
    cells = {**PREFILLED, "B34": "（以下空白）", **{f"{c}34": None for c in "CFIJK"}}

    def merged(xml: str) -> str:
        return xml.replace(
            '<mergeCells count="2">',
            '<mergeCells count="3"><mergeCell ref="B34:L34"/>',
        )

    data = with_sheet_xml((SAMPLES / f"{SUMMARY}.xlsx").read_bytes(), merged)
    reading = read_score_summary(_xlsx(cells, data), plan)

    assert reading.accepted, reading.problems
    assert _blank_row_notes(reading.notes) == [
        "第 34 行写有“(以下空白)”、第 35 行只有模板预填内容，已视为空行"
    ]
    assert "第 37 行起为签字或备注行，已忽略" in reading.notes


@pytest.mark.parametrize("kind", FORMATS)
def test_data_below_the_note_is_refused_naming_it(plan: PlanInfo, kind: str) -> None:
    """The school said nothing follows row 33, yet the last two candidates
    stand below it: neither is read as if it were one, each is refused."""
    cells: Cells = {"B33": "此页以下空白", **{f"{c}33": None for c in "CDEFGHIJK"}}

    reading = read_score_summary(FORMATS[kind](cells), plan)

    shift = SHIFT[kind]
    name = "考生姓名" if kind == "csv" else "姓名"
    assert _located(reading.problems) == [
        ("row_below_end_marker", 34 - shift, name),
        ("row_below_end_marker", 35 - shift, name),
    ]
    assert f"第 {33 - shift} 行写有“此页以下空白”" in reading.problems[0].render()


def test_a_row_naming_nobody_below_the_note_is_refused_too(plan: PlanInfo) -> None:
    """Below the note, a typed score is refused as data below it; the
    template's own rows are blank."""
    cells = {**PREFILLED, "B34": "以下空白", "G35": 60.0}

    reading = read_score_summary(_xlsx(cells), plan)

    assert _located(reading.problems) == [("row_below_end_marker", 35, "理论成绩")]


# Sign-in sheets: candidates numbered to 6 with 证件类型 filled down, three
# candidates; evaluators numbered to 6 with 角色 filled down, four evaluators.
CANDIDATES: list[list[object]] = [
    ["序号", "姓名", "证件类型", "证件号码", "准考证号", "签名"],
    [1, "黎芬", "居民身份证", "", "2026110412001", "已签"],
    [2, "胡俊霞", "居民身份证", "", "2026110412002", "已签"],
    [3, "夏宇玲", "居民身份证", "", "2026110412003", "已签"],
    [4, "", "居民身份证", "", "", ""],
    [5, "", "居民身份证", "", "", ""],
    [6, "", "居民身份证", "", "", ""],
    ["监考签字："],
]
EVALUATORS: list[list[object]] = [
    ["序号", "姓名", "角色", "工号", "签到时间"],
    [1, "周建国", "考评组长", "ZCX-E-0107", "07:50"],
    [2, "刘海波", "考评员", "ZCX-E-0213", "07:50"],
    [3, "陈晓燕", "考评员", "ZCX-E-0288", "07:50"],
    [4, "黄志勇", "考评员", "ZCX-E-0301", "07:50"],
    [5, "", "考评员", "", ""],
    [6, "", "考评员", "", ""],
]


def _template_rows_left_blank(
    candidates: SignInReading, evaluators: SignInReading
) -> None:
    """``CANDIDATES`` and ``EVALUATORS`` (or alike) were accepted, their
    three candidates and four evaluators read, the rows left over blank."""
    assert candidates.accepted, candidates.problems
    assert len(candidates.candidates) == 3
    assert _blank_row_notes(candidates.notes) == [
        "第 5 至 7 行只有模板预填内容，已视为空行"
    ]
    assert evaluators.accepted, evaluators.problems
    assert len(evaluators.evaluators) == 4
    assert _blank_row_notes(evaluators.notes) == [
        "第 6 至 7 行只有模板预填内容，已视为空行"
    ]


def _changed(rows: list[list[object]], row: int, column: int, value: object) -> list:
    changed = [list(cells) for cells in rows]
    changed[row - 1][column] = value
    return changed


@pytest.mark.parametrize("kind", SIGN_IN_FORMATS)
def test_sign_in_sheets_read_prefilled_rows_alike(
    plan: PlanInfo, kind: str, tmp_path: Path
) -> None:
    write = SIGN_IN_FORMATS[kind]

    candidates = read_candidate_sign_in(write(CANDIDATES, tmp_path), plan)
    evaluators = read_evaluator_sign_in(write(EVALUATORS, tmp_path), plan)
    signed = read_candidate_sign_in(
        write(_changed(CANDIDATES, 6, 5, "已签"), tmp_path), plan
    )
    timed = read_evaluator_sign_in(
        write(_changed(EVALUATORS, 7, 4, "07:55"), tmp_path), plan
    )

    _template_rows_left_blank(candidates, evaluators)
    assert _located(signed.problems) == [("row_without_identity", 6, "签名")]
    assert "此行的姓名、证件号码、准考证号都是空的" in signed.problems[0].render()
    assert _located(timed.problems) == [("row_without_identity", 7, "签到时间")]
    assert "此行的姓名、工号都是空的" in timed.problems[0].render()


@pytest.mark.parametrize("kind", SIGN_IN_FORMATS)
def test_sign_in_sheets_end_at_a_note_that_nothing_follows(
    plan: PlanInfo, kind: str, tmp_path: Path
) -> None:
    write = SIGN_IN_FORMATS[kind]
    ended = _changed(CANDIDATES, 5, 1, "（以下无内容）")
    early = [*CANDIDATES[:3], ["", "以下空白"], *CANDIDATES[3:]]

    reading = read_candidate_sign_in(write(ended, tmp_path), plan)
    refused = read_candidate_sign_in(write(early, tmp_path), plan)

    assert reading.accepted, reading.problems
    assert _blank_row_notes(reading.notes) == [
        "第 5 行写有“(以下无内容)”、第 6 至 7 行只有模板预填内容，已视为空行"
    ]
    assert _located(refused.problems) == [("row_below_end_marker", 5, "姓名")]


def test_an_xlsx_sign_in_sheet_s_formulas_are_the_template_s(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """A 签名 cell showing "" or 未签 by formula, in the rows left over."""
    data = sheet_file(tmp_path / "sign-in.xlsx", CANDIDATES)
    formula = '<c r="F{0}" t="str"><f>IF(B{0}="","未签","")</f><v>未签</v></c>'
    data = with_cell_xml(data, {f"F{row}": formula.format(row) for row in (5, 6, 7)})

    reading = read_candidate_sign_in(data, plan)

    assert reading.accepted, reading.problems
    assert _blank_row_notes(reading.notes) == [
        "第 5 至 7 行只有模板预填内容，已视为空行"
    ]


def test_sign_in_sheets_numbers_computed_for_the_places_left_over_are_blank(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """The candidates' 准考证号 and the evaluators' 工号 filled in by formula
    for every numbered place, the places left over showing one."""
    admission = '<c r="E{0}" t="str"><f>"2026110412"&amp;TEXT(A{0},"000")</f>'
    admission += "<v>2026110412{0:03d}</v></c>"
    candidates = with_cell_xml(
        sheet_file(tmp_path / "candidates.xlsx", CANDIDATES),
        {f"E{row}": admission.format(row) for row in (5, 6, 7)},
    )
    staff = '<c r="D{0}" t="str"><f>"ZCX-E-"&amp;TEXT(A{0},"0000")</f>'
    staff += "<v>ZCX-E-{0:04d}</v></c>"
    evaluators = with_cell_xml(
        sheet_file(tmp_path / "evaluators.xlsx", EVALUATORS),
        {f"D{row}": staff.format(row) for row in (6, 7)},
    )

    signed = read_candidate_sign_in(candidates, plan)
    present = read_evaluator_sign_in(evaluators, plan)

    _template_rows_left_blank(signed, present)
