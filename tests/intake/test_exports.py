"""The annotated copy of a refused upload and the national-platform import file."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from certflow.intake import annotated_copy, national_platform_import, read_score_summary
from certflow.intake.export import PLATFORM_COLUMNS
from certflow.models import CandidateScore, ExamStatus, PlanInfo, Problem
from tests.intake.conftest import SAMPLES


def test_platform_import_has_one_row_per_candidate_with_text_ids(
    plan: PlanInfo,
) -> None:
    reading = read_score_summary(
        (SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx").read_bytes(), plan
    )

    book = load_workbook(io.BytesIO(national_platform_import(plan, reading.rows)))
    sheet = book.active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == PLATFORM_COLUMNS
    assert len(rows) == 33
    first = dict(zip(PLATFORM_COLUMNS, rows[1], strict=True))
    assert first == {
        "考试计划编号": "P2026-1104-0412",
        "姓名": "黎芬",
        "证件类型": "居民身份证",
        "证件号码": "421002200506166066",
        "准考证号": "2026110412001",
        "证书名称": "汽车运用与维修",
        "等级": "中级",
        "模块编码": "1-1",
        "模块名称": "汽车动力与驱动系统综合分析技术",
        "理论成绩": 0,
        "实操成绩": 69,
        "总成绩": 48.3,
        "考试状态": "正常",
        "考核结果": "不合格",
    }
    absent = dict(zip(PLATFORM_COLUMNS, rows[6], strict=True))
    assert absent["考试状态"] == "缺考" and absent["理论成绩"] is None
    assert sum(row[-1] == "合格" for row in rows[1:]) == 14


def test_platform_import_neutralises_formula_like_cells(plan: PlanInfo) -> None:
    hostile = [
        CandidateScore(
            name=name,
            id_type="passport",
            id_number="E12345678",
            admission_number=f"A{number}",
            module_code="1-1",
            theory=70,
            practical=70,
            total=70,
            status=ExamStatus.PRESENT,
            passed=True,
        )
        for number, name in enumerate(
            ['=HYPERLINK("http://x","y")', "+1", "-1+1", "@SUM(A1)", "\tx", "\rx"]
        )
    ]

    book = load_workbook(io.BytesIO(national_platform_import(plan, hostile)))
    sheet = book.active
    assert sheet is not None
    names = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert names == [
        '\'=HYPERLINK("http://x","y")',
        "'+1",
        "'-1+1",
        "'@SUM(A1)",
        "'\tx",
        "'\nx",  # XML parsers read a stored CR as LF; the quote is what matters
    ]
    assert all(cell.data_type == "s" for cell in sheet["B"][1:])


def test_annotated_copy_marks_each_problem_cell_and_lists_them(plan: PlanInfo) -> None:
    data = (SAMPLES / "broken-mixed.xlsx").read_bytes()
    problems = read_score_summary(data, plan).problems

    book = load_workbook(io.BytesIO(annotated_copy(data, problems)))
    copy, listing = book.worksheets
    assert copy.title == "Sheet"
    assert copy["B17"].value == "买买提·艾力"
    assert copy["D6"].value == "421002200311115640"
    marked = {
        cell.coordinate
        for row in copy.iter_rows()
        for cell in row
        if cell.fill.fill_type == "solid"
    }
    assert marked == {"D6", "E8", "H11", "I11", "I13", "K15", "D20"}
    assert "校验位" in copy["D6"].comment.text
    assert "第 19 行" in copy["D20"].comment.text

    assert listing.title == "问题清单"
    listed = list(listing.iter_rows(min_row=2, values_only=True))
    assert [(row[2], row[3]) for row in listed] == [(p.row, p.column) for p in problems]


def test_annotated_copy_of_an_unreadable_upload_lists_the_problem(
    plan: PlanInfo,
) -> None:
    problems = read_score_summary(b"%PDF-1.4", plan).problems

    book = load_workbook(io.BytesIO(annotated_copy(b"%PDF-1.4", problems)))
    assert [sheet.title for sheet in book.worksheets] == ["问题清单"]
    assert book.active is not None
    assert book.active["F2"].value == problems[0].message


def test_annotated_copy_neutralises_formulas_from_the_upload(plan: PlanInfo) -> None:
    upload = (
        "姓名,证件号码,准考证号,理论成绩,实操成绩,备注\n"
        '黎芬,421002200506166066,2026110412001,80,90,"=HYPERLINK(""http://x"")"\n'
        "胡俊霞,330106200308287009,2026110412002,80,abc,@SUM(A1)\n"
    ).encode()
    problems = read_score_summary(upload, plan).problems
    assert [(p.code, p.row) for p in problems] == [("score_not_a_number", 3)]

    book = load_workbook(io.BytesIO(annotated_copy(upload, problems)))
    copy = book.worksheets[0]
    assert copy["F2"].value == '\'=HYPERLINK("http://x")'
    assert copy["F3"].value == "'@SUM(A1)"
    assert copy["E3"].fill.fill_type == "solid"
    assert all(cell.data_type != "f" for row in copy.iter_rows() for cell in row)


def test_the_problem_list_masks_what_could_be_a_person_s_id_number() -> None:
    """A reader that repeats a value whole (as the invoice form's did with an ID
    number typed as 纳税人识别号) does not put it whole into the 问题清单; a
    long number that is no ID number (an admission number) stays whole."""
    problems = [
        Problem(code="x", message="有误。", row=2, value="黎芬421002200506166066"),
        Problem(code="y", message="有误。", row=3, value="2026110412001000001"),
    ]

    book = load_workbook(io.BytesIO(annotated_copy(b"a,b\n1,2\n3,4\n", problems)))

    listed = [
        row[4] for row in book.worksheets[1].iter_rows(min_row=2, values_only=True)
    ]
    assert listed == ["黎芬4210**********6066", "2026110412001000001"]


def test_a_control_character_in_a_cell_keeps_the_report(plan: PlanInfo) -> None:
    """Regression: a CSV cell holding a bell or a backspace (what no xlsx may
    hold) made openpyxl refuse the whole report, and the upload was refused
    without it: past the first 50 problems the sender had no list at all."""
    text = (SAMPLES / "P2026-1104-0412-成绩汇总表-gbk.csv").read_bytes().decode("gbk")
    text = text.replace("黎芬", "黎\x07芬").replace(
        "2026110412003", "2026110412003\x08"
    )
    data = text.encode("utf-8")
    reading = read_score_summary(data, plan)
    assert {(p.row, p.column) for p in reading.problems} >= {
        (2, "考生姓名"),
        (4, "准考证号"),
    }

    book = load_workbook(io.BytesIO(annotated_copy(data, reading.problems)))

    copy, listing = book.worksheets
    assert copy["B2"].value == "黎<U+0007>芬"
    assert copy["B2"].comment is not None
    listed = list(listing.iter_rows(min_row=2, values_only=True))
    assert len(listed) == len(reading.problems)
    assert any(row[4] == "2026110412003<U+0008>" for row in listed)
