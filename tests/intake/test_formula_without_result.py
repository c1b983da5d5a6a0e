"""A formula saved without its result is named as such, not as an empty cell.

A workbook written by a program (openpyxl here, as schools' tools and scripts
write them) keeps each formula's text but not its result, until Excel or WPS
opens and saves it. The reader sees such a cell as empty, though the office
suite shows a value there: every reader of uploaded workbooks must name it for
what it is, where it is (工作表, 行, 列), and say how to fix it. A formula saved
with its result, as Excel, WPS and LibreOffice save it, is read as before.

Each workbook is written to disk by openpyxl, as such a tool writes it.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from openpyxl import load_workbook
from openpyxl.utils import column_index_from_string
from openpyxl.workbook import Workbook
from openpyxl.worksheet.formula import ArrayFormula

from certflow.corrections import read_correction_form_xlsx
from certflow.i18n import t
from certflow.identity import credit_code_check_character
from certflow.intake import (
    read_candidate_sign_in,
    read_evaluator_sign_in,
    read_score_summary,
)
from certflow.intake.sheetstate import error_cells, uncalculated_cells
from certflow.invoice import read_invoice_details
from certflow.models import PlanInfo, Problem
from tests.intake.conftest import (
    SAMPLES,
    ods_file,
    ods_number_cell,
    ods_text_cell,
    ods_with_cells,
    with_sheet_xml,
)

REPO = Path(__file__).resolve().parents[2]
SUMMARY = SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx"
CANDIDATES = SAMPLES / "P2026-1104-0412-考生签到表.xlsx"
EVALUATORS = SAMPLES / "P2026-1104-0412-考评员签到表.xlsx"
INVOICE_TEMPLATE = REPO / "templates" / "invoice-details.xlsx"
CORRECTION_TEMPLATE = REPO / "templates" / "correction-request.xlsx"
NO_RESULT = "formula_without_result"


def _saved(book: Workbook, path: Path) -> bytes:
    book.save(path)
    return path.read_bytes()


def _located(problems: list[Problem]) -> list[tuple[str, str | None, int | None, str]]:
    return [(p.code, p.sheet, p.row, p.column or "") for p in problems]


def _with_results(data: bytes, results: dict[str, str]) -> bytes:
    """The xlsx with each named formula cell ("G4") saved with its result, as
    Excel saves it: a number, or text (``t="str"``), possibly empty."""
    saved: list[str] = []

    def change(text: str) -> str:
        for ref, result in results.items():
            kind = "" if re.fullmatch(r"[0-9.]+", result) else ' t="str"'
            text, found = re.subn(
                rf'<c r="{ref}"([^>]*)><f>([^<]*)</f><v\s*/></c>',
                rf'<c r="{ref}"\1{kind}><f>\2</f><v>{result}</v></c>',
                text,
            )
            saved.extend([ref] * found)
        return text

    changed = with_sheet_xml(data, change)
    assert sorted(saved) == sorted(results)
    return changed


def _summary_with_formulas() -> Workbook:
    """The sample summary with formulas where schools put them: a theory score
    summed from its parts, the total, the result, the sequence number."""
    book = load_workbook(SUMMARY)
    sheet = book["成绩汇总"]
    sheet["G4"] = "=0+0"  # 黎芬's theory score, 0
    sheet["I5"] = "=ROUND(0.3*G5+0.7*H5,2)"  # 胡俊霞's total, 81.42
    sheet["K6"] = '=IF(AND(G6>=60,H6>=60),"合格","不合格")'  # 夏宇玲: 合格
    sheet["A7"] = "=ROW()-3"  # seq 4
    sheet["M2"] = '="制表："&"考务办"'  # a title row, read for the plan's details
    return book


def test_a_summary_names_each_formula_without_its_result(
    plan: PlanInfo, tmp_path: Path
) -> None:
    data = _saved(_summary_with_formulas(), tmp_path / "summary.xlsx")

    reading = read_score_summary(data, plan)

    assert not reading.accepted and reading.rows == []
    assert _located(reading.problems) == [
        (NO_RESULT, "成绩汇总", 2, "M"),
        (NO_RESULT, "成绩汇总", 4, "理论成绩"),
        (NO_RESULT, "成绩汇总", 5, "总成绩"),
        (NO_RESULT, "成绩汇总", 6, "考核结果"),
        (NO_RESULT, "成绩汇总", 7, "序号"),
    ]
    shown = reading.problems[1].render()
    assert shown.startswith("工作表“成绩汇总” 第 4 行 “理论成绩”列：")
    assert "没有保存公式的计算结果" in shown
    assert "Excel 或 WPS 打开此文件并保存" in shown and "选择性粘贴" in shown
    # The cell is not empty, and is not said to be.
    assert not any("不能为空" in p.message for p in reading.problems)


def test_formulas_saved_with_their_results_are_read_as_before(
    plan: PlanInfo, tmp_path: Path
) -> None:
    honest = read_score_summary(SUMMARY.read_bytes(), plan)
    book = _summary_with_formulas()
    book["成绩汇总"]["L8"] = '=IF(J8="缺考","缺考","")'  # Excel keeps "" as text
    written = _saved(book, tmp_path / "summary.xlsx")

    data = _with_results(
        written,
        {
            "G4": "0",
            "I5": "81.42",
            "K6": "合格",
            "A7": "4",
            "M2": "制表：考务办",
            "L8": "",
        },
    )
    reading = read_score_summary(data, plan)

    assert reading.accepted, reading.problems
    assert reading.rows == honest.rows


def test_sign_in_sheets_name_theirs(plan: PlanInfo, tmp_path: Path) -> None:
    candidates = load_workbook(CANDIDATES)
    candidates["考生签到表"]["D4"] = '="2026110412"&TEXT(A4,"000")'
    evaluators = load_workbook(EVALUATORS)
    evaluators["考评员签到表"]["D3"] = '="ZCX-E-"&"0107"'

    read_candidates = read_candidate_sign_in(
        _saved(candidates, tmp_path / "candidates.xlsx"), plan
    )
    read_evaluators = read_evaluator_sign_in(
        _saved(evaluators, tmp_path / "evaluators.xlsx"), plan
    )

    assert not read_candidates.accepted and not read_evaluators.accepted
    assert _located(read_candidates.problems) == [
        (NO_RESULT, "考生签到表", 4, "准考证号")
    ]
    assert _located(read_evaluators.problems) == [
        (NO_RESULT, "考评员签到表", 3, "工号")
    ]
    assert read_evaluators.problems[0].message == t(f"intake.{NO_RESULT}")


def test_a_row_of_nothing_but_formulas_is_named_not_skipped(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """Read as empty, such a row would be skipped as a blank line, and a
    candidate lost without a word: in the middle of the table, or last (where
    the cell reader leaves it out altogether)."""
    book = load_workbook(CANDIDATES)
    sheet = book["考生签到表"]
    for row in (5, 34):
        for column, formula in enumerate(
            ["=ROW()-2", '=IF(1,"某某")', "", '="20261104120"&"99"', "", '="已签"'],
            start=1,
        ):
            sheet.cell(row=row, column=column, value=formula or None)

    reading = read_candidate_sign_in(_saved(book, tmp_path / "sign-in.xlsx"), plan)

    assert not reading.accepted
    assert [(p.code, p.row, p.column) for p in reading.problems] == [
        (NO_RESULT, row, column)
        for row in (5, 34)
        for column in ("序号", "姓名", "准考证号", "签名")
    ]


def test_formulas_the_reader_does_not_read_are_left_alone(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """A formula right of the table, in the signature lines below it or on
    another sheet is no cell of the summary: not read, not named."""
    book = load_workbook(SUMMARY)
    sheet = book["成绩汇总"]
    sheet["N4"] = "=G4+H4"  # a school's own check, beside the table
    sheet["C38"] = "=TODAY()"  # in the date line under the signatures
    book.create_sheet("填表说明")["A1"] = '="共"&COUNTA(成绩汇总!B:B)&"人"'

    reading = read_score_summary(_saved(book, tmp_path / "summary.xlsx"), plan)

    assert reading.accepted, reading.problems


def _prefixed(xml: str) -> str:
    """The sheet XML with the spreadsheet namespace bound to the prefix ``x``
    (``<x:c>``, ``<x:f>``), as some .NET libraries write it."""
    xml = xml.replace(f'xmlns="{_MAIN}"', f'xmlns:x="{_MAIN}"')
    return re.sub(r"<(/?)(\w+)(?=[\s/>])", r"<\1x:\2", xml)


def _implied_places(xml: str) -> str:
    """The sheet XML without each reference the order of rows and cells implies
    (``r="G4"`` of a cell right after F4, ``r="4"`` of a row after row 3), as
    the format allows and some libraries write it."""

    def row(match: re.Match[str]) -> str:
        last = -1

        def cell(found: re.Match[str]) -> str:
            nonlocal last
            column = column_index_from_string(found.group(2)) - 1
            implied, last = column == last + 1, column
            return found.group(1) if implied else found.group(0)

        return re.sub(r'(<(?:\w+:)?c\b[^>]*?) r="([A-Z]+)[0-9]+"', cell, match.group())

    xml = re.sub(r"<(?:\w+:)?row\b.*?</(?:\w+:)?row>", row, xml, flags=re.S)
    rows = iter(range(1, 1_048_577))
    return re.sub(
        r'(<(?:\w+:)?row\b[^>]*?) r="([0-9]+)"',
        lambda m: m.group(1) if int(m.group(2)) == next(rows) else m.group(0),
        xml,
    )


_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
WRITTEN_AS = {
    "prefixed": _prefixed,
    "implied places": _implied_places,
    "both": lambda xml: _implied_places(_prefixed(xml)),
}


@pytest.mark.parametrize("written", WRITTEN_AS)
def test_cells_without_references_or_with_a_prefix_are_named_too(
    plan: PlanInfo, tmp_path: Path, written: str
) -> None:
    """Read by their order, as the reader reads their values: without the
    reference, or with a prefix, such a cell was read as empty unsaid."""
    plain = _saved(_summary_with_formulas(), tmp_path / "summary.xlsx")
    data = with_sheet_xml(plain, WRITTEN_AS[written])
    xml = _sheet_xml(data)
    assert ("<x:c " in xml) is (written != "implied places")
    assert (' r="G4"' in xml) is (written == "prefixed")

    reading = read_score_summary(data, plan)

    assert _located(reading.problems) == _located(
        read_score_summary(plain, plan).problems
    )
    assert [p.row for p in reading.problems] == [2, 4, 5, 6, 7]


@pytest.mark.parametrize("written", WRITTEN_AS)
def test_results_saved_so_are_read_as_before(
    plan: PlanInfo, tmp_path: Path, written: str
) -> None:
    written_by = _saved(_summary_with_formulas(), tmp_path / "summary.xlsx")
    saved = _with_results(
        written_by,
        {"G4": "0", "I5": "81.42", "K6": "合格", "A7": "4", "M2": "制表：考务办"},
    )

    reading = read_score_summary(with_sheet_xml(saved, WRITTEN_AS[written]), plan)

    assert reading.accepted, reading.problems
    assert reading.rows == read_score_summary(SUMMARY.read_bytes(), plan).rows


def _sheet_xml(data: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("xl/worksheets/sheet1.xml").decode("utf-8")


def test_the_other_cells_of_an_array_formula_without_values_are_named(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """An array formula is written once, in its range's first cell; the
    others keep only their values. A program that saved the first cell's value
    alone left 31 totals reading as empty, and the rows were accepted with
    totals computed from their parts: what the sender sees was never read."""
    book = load_workbook(SUMMARY)
    sheet = book["成绩汇总"]
    sheet["I4"] = ArrayFormula("I4:I35", "=ROUND(0.3*G4:G35+0.7*H4:H35,2)")
    for row in range(5, 36):
        sheet[f"I{row}"] = None
    written = _saved(book, tmp_path / "summary.xlsx")
    data = with_sheet_xml(
        written, lambda xml: xml.replace("</f><v /></c>", "</f><v>48.3</v></c>")
    )
    assert "<v>48.3</v>" in _sheet_xml(data)  # the first cell keeps its result

    reading = read_score_summary(data, plan)

    assert not reading.accepted
    assert _located(reading.problems) == [
        (NO_RESULT, "成绩汇总", row, "总成绩") for row in range(5, 36)
    ]


def test_an_array_formula_saved_with_every_value_is_read(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """As Excel saves one: each cell of the range keeps its value."""
    book = load_workbook(SUMMARY)
    sheet = book["成绩汇总"]
    sheet["I4"] = ArrayFormula("I4:I5", "=ROUND(0.3*G4:G5+0.7*H4:H5,2)")
    written = _saved(book, tmp_path / "summary.xlsx")
    data = with_sheet_xml(
        written, lambda xml: xml.replace("</f><v /></c>", "</f><v>48.3</v></c>")
    )

    reading = read_score_summary(data, plan)

    assert reading.accepted, reading.problems
    assert reading.rows == read_score_summary(SUMMARY.read_bytes(), plan).rows


def test_array_cells_without_values_in_a_blank_row_are_no_problem(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """A writer that leaves out the empty text an array formula's cell holds
    wrote nothing for the blank row 36 its range reaches: read as a formula
    without its result, that cell refused the summary. In a row without data
    it is blank, said once; in a candidate's row it stays refused (above)."""
    book = load_workbook(SUMMARY)
    sheet = book["成绩汇总"]
    # Rows 22 to 35: candidates who sat the exam, each total a value.
    first = sheet["I22"].value
    sheet["I22"] = ArrayFormula(
        "I22:I36", '=IF(G22:G36="","",ROUND(0.3*G22:G36+0.7*H22:H36,2))'
    )
    written = _saved(book, tmp_path / "summary.xlsx")
    data = with_sheet_xml(
        written, lambda xml: xml.replace("</f><v /></c>", f"</f><v>{first}</v></c>")
    )
    assert 'r="I36"' not in _sheet_xml(data)

    reading = read_score_summary(data, plan)

    assert reading.accepted, reading.problems
    assert reading.rows == read_score_summary(SUMMARY.read_bytes(), plan).rows
    assert [note for note in reading.notes if "空行" in note] == [
        "第 36 行除公式外没有数据，已视为空行（“总成绩”列 数组公式未保存结果）"
    ]


def _ods_matrix(top: int, span: int, kept: dict[int, float]) -> bytes:
    """The sample summary's ods with a matrix formula filling column I from
    row ``top`` down ``span`` rows, written once in its first cell as
    LibreOffice writes it (with the range's size and the first value).
    The rows in ``kept`` keep their value, as LibreOffice saves each; the
    candidates' others none, as a writer may leave them (row 36, blank in
    the sample, holds nothing)."""
    last = top + span - 1
    formula = (
        f' table:number-matrix-columns-spanned="1"'
        f' table:number-matrix-rows-spanned="{span}"'
        f' table:formula="of:=ROUND(0.3*[.G{top}:.G{last}]+0.7*[.H{top}:.H{last}];2)"'
    )
    cells = {f"I{top}": ods_number_cell(kept[top], formula)}
    for row in range(top + 1, min(last, 35) + 1):
        value = kept.get(row)
        cells[f"I{row}"] = (
            "<table:table-cell/>" if value is None else ods_number_cell(value)
        )
    return ods_with_cells(
        (SAMPLES / "P2026-1104-0412-成绩汇总表.ods").read_bytes(), cells
    )


def _totals(plan: PlanInfo, rows: range) -> dict[int, float]:
    """The sample's totals in ``rows`` (its row 4 is the first candidate's)."""
    read = read_score_summary(SUMMARY.read_bytes(), plan).rows
    return {row: float(read[row - 4].total or 0) for row in rows}


def test_the_other_cells_of_an_ods_matrix_formula_without_values_are_named(
    plan: PlanInfo,
) -> None:
    """As in an xlsx (above): the ods's matrix formula holds its range's
    size in its first cell, and the other cells without a value read as
    empty, the totals then computed from their parts."""
    # Rows 4 to 8: the candidates before the first absentee's (row 9).
    reading = read_score_summary(_ods_matrix(4, 5, _totals(plan, range(4, 5))), plan)

    assert not reading.accepted
    assert _located(reading.problems) == [
        (NO_RESULT, "成绩汇总", row, "总成绩") for row in range(5, 9)
    ]


def test_an_ods_matrix_formula_saved_with_every_value_is_read(plan: PlanInfo) -> None:
    data = _ods_matrix(4, 4, _totals(plan, range(4, 8)))

    reading = read_score_summary(data, plan)

    assert reading.accepted, reading.problems
    assert reading.rows == read_score_summary(SUMMARY.read_bytes(), plan).rows


def test_ods_matrix_cells_without_values_in_a_blank_row_are_no_problem(
    plan: PlanInfo,
) -> None:
    """As in an xlsx: the matrix reaching the blank row 36, where nothing
    is written, leaves a blank row, said once."""
    data = _ods_matrix(33, 4, _totals(plan, range(33, 36)))

    reading = read_score_summary(data, plan)

    assert reading.accepted, reading.problems
    assert [note for note in reading.notes if "空行" in note] == [
        "第 36 行除公式外没有数据，已视为空行（“总成绩”列 数组公式未保存结果）"
    ]


def _invoice_form() -> Workbook:
    book = load_workbook(INVOICE_TEMPLATE)
    sheet = book["发票信息"]
    code = "12420000MB0123456" + credit_code_check_character("12420000MB0123456")
    values = [
        "武汉市交通职业技术学校",
        f'=UPPER("{code.lower()}")',  # the credit code, made upper case
        "湖北省武汉市江岸区解放大道 1 号",
        "027-82812345",
        "中国工商银行武汉江岸支行",
        "3202 0011 0920 0123 456",
        "caiwu@whjtxx.edu.cn",
    ]
    for row, value in enumerate(values, start=4):
        sheet.cell(row=row, column=2, value=value)
    return book


def test_the_invoice_details_form_names_its_formula(tmp_path: Path) -> None:
    reading = read_invoice_details(_saved(_invoice_form(), tmp_path / "form.xlsx"))

    assert not reading.accepted and reading.details is None
    # Named by the cell, and not as an empty or wrong taxpayer number.
    assert _located(reading.problems) == [(NO_RESULT, "发票信息", 5, "内容")]


def test_the_invoice_details_form_with_its_result_is_read(tmp_path: Path) -> None:
    written = _saved(_invoice_form(), tmp_path / "form.xlsx")
    code = "12420000MB0123456" + credit_code_check_character("12420000MB0123456")

    reading = read_invoice_details(_with_results(written, {"B5": code}))

    assert reading.accepted, reading.problems
    assert reading.details is not None and reading.details.taxpayer_id == code


def test_a_correction_form_names_its_formulas_and_files_the_other_rows(
    tmp_path: Path,
) -> None:
    book = load_workbook(CORRECTION_TEMPLATE)
    sheet = book["成绩修改申请表"]
    request = [
        "P2026-1104-0412",
        "陈思彬",
        "",
        "2026110412004",
        "1-1",
        "理论成绩",
        "53.1",
        "63.1",
        "漏计一题",
        "张明",
    ]
    looked_up = [
        '=IF(1,"P2026-1104-0412")',  # every cell a formula, as a tool fills it
        '=IF(1,"夏宇玲")',
        "",
        '=IF(1,"2026110412003")',
        "1-1",
        "实操成绩",
        "=VLOOKUP(D6,成绩!A:H,8,0)",
        "80",
        "评分表漏登",
        "张明",
    ]
    # The last row, nothing but formulas: the cell reader leaves it out.
    only_formulas = [f'=IF(1,"{value}")' if value else "" for value in request]
    for row, values in ((4, request), (6, looked_up), (8, only_formulas)):
        for column, value in enumerate(values, start=1):
            sheet.cell(row=row, column=column, value=value or None)

    drafts, problems = read_correction_form_xlsx(
        _saved(book, tmp_path / "申请表.xlsx"), sender="kaowu@whjtxx.example.edu.cn"
    )

    assert [d.admission_number for d in drafts] == ["2026110412004"]
    assert _located(problems) == [
        (NO_RESULT, "成绩修改申请表", 6, "考试计划编号"),
        (NO_RESULT, "成绩修改申请表", 6, "考生姓名"),
        (NO_RESULT, "成绩修改申请表", 6, "准考证号"),
        (NO_RESULT, "成绩修改申请表", 6, "原成绩"),
        *((NO_RESULT, "成绩修改申请表", 8, label) for label in
          ("考试计划编号", "考生姓名", "准考证号", "考核模块", "修改项目", "原成绩",
           "申请修改为", "修改原因", "申请人"))
    ]  # fmt: skip


def _ods(name: str, rows: list[list[str]]) -> bytes:
    """A one-sheet ods; a cell "=…" is a formula saved without a value, as a
    program may write it; "=…|v" a formula saved with its value v."""

    def cell(text: str) -> str:
        if not text.startswith("="):
            return ods_text_cell(text)
        formula, _, value = text.partition("|")
        attribute = quoteattr(f"of:{formula}")
        if not value:
            return f"<table:table-cell table:formula={attribute}/>"
        return (
            f"<table:table-cell table:formula={attribute}"
            f' office:value-type="string"><text:p>{escape(value)}</text:p>'
            "</table:table-cell>"
        )

    return ods_file(name, [[cell(text) for text in row] for row in rows])


def test_an_ods_formula_without_a_value_is_named_too(
    plan: PlanInfo, tmp_path: Path
) -> None:
    rows = [
        ["序号", "姓名", "准考证号", "签名"],
        ["1", "黎芬", "2026110412001", "已签"],
        ["2", "胡俊霞", '=CONCATENATE("20261104120";"02")', "已签"],
    ]
    without = tmp_path / "sign-in.ods"
    without.write_bytes(_ods("签到", rows))
    rows[2][2] += "|2026110412002"
    saved = tmp_path / "sign-in-saved.ods"
    saved.write_bytes(_ods("签到", rows))

    refused = read_candidate_sign_in(without.read_bytes(), plan)
    accepted = read_candidate_sign_in(saved.read_bytes(), plan)

    assert _located(refused.problems) == [(NO_RESULT, "签到", 3, "准考证号")]
    assert accepted.accepted, accepted.problems
    assert [c.admission_number for c in accepted.candidates] == [
        "2026110412001",
        "2026110412002",
    ]


def test_a_formula_across_a_read_boundary_is_found(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """The container check inflates members in 64 KiB reads and notes those
    that may hold a formula without its result (only those are read again):
    one split by a read boundary still counts."""
    book = load_workbook(CANDIDATES)
    book["考生签到表"]["D4"] = '="2026110412"&"002"'
    packed = _saved(book, tmp_path / "candidates.xlsx")
    with zipfile.ZipFile(io.BytesIO(packed)) as source:
        parts = {info.filename: source.read(info) for info in source.infolist()}
    name = next(n for n, xml in parts.items() if b"<f>" in xml)
    xml = parts[name]
    end = xml.index(b"</f><v")
    start = xml.index(b"<sheetData>") + len(b"<sheetData>")
    # Blank space between elements moves the formula's end onto the boundary.
    parts[name] = xml[:start] + b" " * (64 * 1024 - 2 - end) + xml[start:]
    assert parts[name].index(b"</f><v") == 64 * 1024 - 2
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for part, data in parts.items():
            target.writestr(part, data)

    reading = read_candidate_sign_in(out.getvalue(), plan)

    assert _located(reading.problems) == [(NO_RESULT, "考生签到表", 4, "准考证号")]


def test_which_xlsx_cells_have_no_result() -> None:
    xml = (
        b'<sheetData><row r="2">'
        b'<c r="A2"><f>B2+C2</f></c>'  # no value at all
        b'<c r="B2"><f>1+1</f><v /></c>'  # an empty value, as openpyxl writes it
        b'<c r="C2" t="str"><f>IF(1,"","")</f><v></v></c>'  # the empty text
        b'<c r="D2"><f>1+1</f><v>2</v></c>'  # saved with its result
        b'<c r="E2"><f t="shared" ref="E2:E3" si="0">A2</f><v>3</v></c>'
        b'</row><row r="3"><c r="E3"><f t="shared" si="0"/></c>'
        b'<c r="F3" t="inlineStr"><is><t>=A1</t></is></c>'  # text, no formula
        b"</row></sheetData>"
    )

    assert uncalculated_cells(xml, height=10) == {(2, 0), (2, 1), (3, 4)}
    assert uncalculated_cells(xml, height=2) == {(2, 0), (2, 1)}


def test_cells_are_placed_by_their_order_where_no_reference_says() -> None:
    xml = (
        b"<x:sheetData><x:row>"  # row 1
        b"<x:c><x:f>B1</x:f></x:c>"  # A1
        b'<x:c t="str"><x:f>IF(1,"","")</x:f><x:v></x:v></x:c>'  # B1: ""
        b"<x:c/><x:c><x:f>1+1</x:f><x:v /></x:c>"  # C1 empty, D1
        b'</x:row><x:row r="4"><x:c r="C4"><x:v>1</x:v></x:c>'
        b"<x:c><x:f>C4</x:f></x:c>"  # D4, after C4
        b'<x:c t="e"><x:f>NA()</x:f><x:v>#N/A</x:v></x:c>'  # E4
        b"</x:row><x:row><x:c><x:f>1</x:f><x:v/></x:c></x:row>"  # A5
        b"</x:sheetData>"
    )

    assert uncalculated_cells(xml, height=10) == {(1, 0), (1, 3), (4, 3), (5, 0)}
    assert error_cells(xml, height=10) == {(4, 4): "#N/A"}


def test_array_formula_cells_keeping_no_value() -> None:
    xml = (
        b'<sheetData><row r="2"><c r="B2"><f t="array" ref="B2:C4">A2:A4*2</f>'
        b'<v>2</v></c><c r="C2"><v>2</v></c></row>'
        b'<row r="3"><c r="B3"><v>4</v></c><c r="C3"/></row>'  # C3: no value
        b'<row r="4"><c r="B4" t="str"><v></v></c></row>'  # B4: "", C4: absent
        b"</sheetData>"
    )

    assert uncalculated_cells(xml, height=10) == {(3, 2), (4, 2)}
    assert uncalculated_cells(xml, height=3) == {(3, 2)}
