"""The sample uploads of samples/intake give exactly the outcomes its README states."""

from __future__ import annotations

import io

from openpyxl import Workbook

from certflow.intake import (
    consistency_report,
    read_candidate_sign_in,
    read_evaluator_sign_in,
    read_score_summary,
)
from certflow.models import ExamStatus, PlanInfo
from tests.intake.conftest import SAMPLES

SUMMARY = "P2026-1104-0412-成绩汇总表"


def _summary(name: str, plan: PlanInfo):  # type: ignore[no-untyped-def]
    return read_score_summary((SAMPLES / name).read_bytes(), plan)


def test_xlsx_summary_is_accepted_with_the_stated_counts(plan: PlanInfo) -> None:
    reading = _summary(f"{SUMMARY}.xlsx", plan)

    assert reading.accepted, [p.render() for p in reading.problems]
    assert reading.problems == []
    assert reading.sheet == "成绩汇总"
    assert any("成绩汇总" in note for note in reading.notes)
    assert len(reading.rows) == 32
    assert (reading.candidates, reading.passed, reading.failed, reading.absent) == (
        32,
        14,
        16,
        2,
    )
    absent = [row for row in reading.rows if row.status is ExamStatus.ABSENT]
    assert [(row.seq, row.name) for row in absent] == [(6, "杨鹏"), (18, "熊杰")]
    assert all(row.theory is None and not row.passed for row in absent)
    first = reading.rows[0]
    assert (first.seq, first.admission_number, first.id_number) == (
        1,
        "2026110412001",
        "421002200506166066",
    )
    assert (first.theory, first.practical, first.total, first.passed) == (
        0.0,
        69.0,
        48.3,
        False,
    )


def test_xls_summary_is_identical_to_the_xlsx(plan: PlanInfo) -> None:
    reading = _summary(f"{SUMMARY}.xls", plan)

    assert reading.accepted, [p.render() for p in reading.problems]
    assert reading.rows == _summary(f"{SUMMARY}.xlsx", plan).rows


def test_ods_summary_is_identical_to_the_xlsx(plan: PlanInfo) -> None:
    reading = _summary(f"{SUMMARY}.ods", plan)

    assert reading.accepted, [p.render() for p in reading.problems]
    assert reading.rows == _summary(f"{SUMMARY}.xlsx", plan).rows


def test_gbk_csv_summary_is_identical_to_the_xlsx(plan: PlanInfo) -> None:
    reading = _summary(f"{SUMMARY}-gbk.csv", plan)

    assert reading.accepted, [p.render() for p in reading.problems]
    assert reading.rows == _summary(f"{SUMMARY}.xlsx", plan).rows


def test_ids_stored_as_numbers_are_refused_never_repaired(plan: PlanInfo) -> None:
    reading = _summary("broken-id-as-number.xlsx", plan)

    assert not reading.accepted
    assert reading.rows == []
    codes = {p.code for p in reading.problems}
    assert codes == {"id_stored_as_number"}
    # Every ID without an X check character became a number; the two ending in X
    # stayed text and are valid.
    assert [p.row for p in reading.problems] == [
        r for r in range(4, 36) if r not in (25, 30)
    ]
    assert all(p.column == "证件号码" for p in reading.problems)
    assert all("*" in (p.value or "") for p in reading.problems)


def test_mixed_broken_summary_lists_every_problem_and_nothing_else(
    plan: PlanInfo,
) -> None:
    reading = _summary("broken-mixed.xlsx", plan)

    assert not reading.accepted
    found = [(p.code, p.row, p.column) for p in reading.problems]
    assert found == [
        ("bad_check_character", 6, "证件号码"),
        ("duplicate_admission_number", 8, "准考证号"),
        ("score_out_of_range", 11, "实操成绩"),
        ("score_out_of_range", 11, "总成绩"),
        ("total_mismatch", 13, "总成绩"),
        ("result_mismatch", 15, "考核结果"),
        ("duplicate_id_number", 20, "证件号码"),
    ]
    by_code = {p.code: p for p in reading.problems}
    assert "第 7 行" in by_code["duplicate_admission_number"].message
    assert "第 19 行" in by_code["duplicate_id_number"].message
    assert "79.69" in by_code["total_mismatch"].message
    assert by_code["total_mismatch"].value == "84.69"
    assert by_code["result_mismatch"].value == "合格"
    assert by_code["bad_check_character"].value == "4210**********5640"
    assert any("第 18 行" in note and "·" in note for note in reading.notes)


def test_candidate_sign_in_matches_summary_except_one_extra_person(
    plan: PlanInfo,
) -> None:
    summary = _summary(f"{SUMMARY}.xlsx", plan)
    sign_in = read_candidate_sign_in(
        (SAMPLES / "P2026-1104-0412-考生签到表.xlsx").read_bytes(), plan
    )
    evaluators = read_evaluator_sign_in(
        (SAMPLES / "P2026-1104-0412-考评员签到表.xlsx").read_bytes(), plan
    )

    assert sign_in.accepted, [p.render() for p in sign_in.problems]
    assert len(sign_in.candidates) == 31
    report = consistency_report(
        plan,
        summary.rows,
        sign_in.candidates,
        evaluators.evaluators,
        ["ZCX-E-0107", "ZCX-E-0213", "ZCX-E-0288", "ZCX-E-0301"],
    )
    assert not report.consistent
    assert [(m.code, m.admission_number) for m in report.mismatches] == [
        ("signed_in_not_in_summary", "2026110412099")
    ]
    assert "严*" in report.mismatches[0].message
    assert "严豪刚" not in report.mismatches[0].message
    # The two absentees did not sign in, and that is no mismatch.
    signed = {c.admission_number for c in sign_in.candidates}
    assert {"2026110412006", "2026110412018"}.isdisjoint(signed)
    assert report.summary_absent == 2
    assert report.verdict


def test_evaluator_sign_in_lists_all_four_evaluators(plan: PlanInfo) -> None:
    reading = read_evaluator_sign_in(
        (SAMPLES / "P2026-1104-0412-考评员签到表.xlsx").read_bytes(), plan
    )

    assert reading.accepted, [p.render() for p in reading.problems]
    assert [(e.staff_id, e.role_text) for e in reading.evaluators] == [
        ("ZCX-E-0107", "考评组长"),
        ("ZCX-E-0213", "考评员"),
        ("ZCX-E-0288", "考评员"),
        ("ZCX-E-0301", "考评员"),
    ]
    assert [e.name for e in reading.evaluators] == [
        "周建国",
        "刘海波",
        "陈晓燕",
        "黄志勇",
    ]


def test_sign_in_title_of_another_plan_is_refused(plan: PlanInfo) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["武汉市交通职业技术学校 1+X 考核考生签到表（P2026-1104-0999）"])
    sheet.append(["序号", "姓名", "证件号码", "准考证号", "签名"])
    sheet.append([1, "黎芬", "421002200506166066", "2026110412001", "已签"])
    buffer = io.BytesIO()
    book.save(buffer)

    reading = read_candidate_sign_in(buffer.getvalue(), plan)

    assert [(p.code, p.row, p.value) for p in reading.problems] == [
        ("plan_id_mismatch", 1, "P2026-1104-0999")
    ]


def test_the_sample_scan_is_a_scan_intake_takes() -> None:
    """The sample plan's signed scan, which the staff guide's walk-through
    uploads, is one a plan accepts: a PDF that opens."""
    from certflow.scan import scan_media_type, scan_problems

    data = (SAMPLES / "P2026-1104-0412-签字扫描件.pdf").read_bytes()
    assert scan_media_type(data) == "application/pdf"
    assert scan_problems(data) == []
