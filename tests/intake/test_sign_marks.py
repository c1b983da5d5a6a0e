"""What a sign-in sheet's 签名 cell says: signed, not signed, or unclear.

Regression (trial): a 签名 cell holding "/", "—", "-" or 请假 counted as
signed, so an absentee passed the consistency review as present; only ×,
未签到 and an empty cell were read as not signed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from certflow.intake import (
    consistency_report,
    read_candidate_sign_in,
    read_evaluator_sign_in,
    read_score_summary,
)
from certflow.models import ExamStatus, PlanInfo
from tests.intake.conftest import SAMPLES, sheet_file

SIGNED = ["√", "✓", "是", "已到", "到", "签", "1", "已签", "（已签）", "黎芬", "迟到"]
NOT_SIGNED = [
    "",
    "/",
    "／",
    "\\",
    "-",
    "--",
    "—",
    "——",
    "－",
    "…",
    "×",
    "x",
    "Ｘ",
    "未签到",
    "未签",
    "请假",
    "病假",
    "事假",
    "缺考",
    "（缺考）",
    "缺考（病假）",
    "缺席",
    "未到",
    "无",
    "否",
    "0",
    "弃考",
]


def _sign_in(tmp_path: Path, marks: list[str]) -> bytes:
    rows: list[list[object]] = [["序号", "姓名", "准考证号", "签到时间", "签名"]]
    rows += [
        [seq, f"考生{chr(0x4E00 + seq)}", f"2026110412{seq:03d}", "08:10", mark]
        for seq, mark in enumerate(marks, start=1)
    ]
    return sheet_file(tmp_path / "sign-in.xlsx", rows)


def test_marks_of_a_signature_and_of_none_are_told_apart(
    plan: PlanInfo, tmp_path: Path
) -> None:
    reading = read_candidate_sign_in(_sign_in(tmp_path, SIGNED + NOT_SIGNED), plan)

    assert reading.accepted, [p.render() for p in reading.problems]
    read = {c.admission_number: c.signed for c in reading.candidates}
    marks = SIGNED + NOT_SIGNED
    assert {marks[int(k[-3:]) - 1]: v for k, v in read.items()} == {
        **dict.fromkeys(SIGNED, True),
        **dict.fromkeys(NOT_SIGNED, False),
    }


@pytest.mark.parametrize("mark", ["○", "〇", "△", "？", "本人签名"])
def test_a_mark_of_no_clear_meaning_is_refused_where_it_is(
    plan: PlanInfo, tmp_path: Path, mark: str
) -> None:
    reading = read_candidate_sign_in(_sign_in(tmp_path, ["√", mark, "/"]), plan)

    assert not reading.accepted and reading.candidates == []
    [found] = reading.problems
    assert (found.code, found.row, found.column) == ("unclear_sign_mark", 3, "签名")
    assert found.value == mark.replace("？", "?")
    assert "请假" in found.message


def test_a_struck_out_signature_is_a_candidate_not_signed_in(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """The sample summary's candidates, their sign-in sheet with a slash, a dash
    and 请假 for three who are present in the summary: the review names them."""
    summary = read_score_summary(
        (SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx").read_bytes(), plan
    )
    assert summary.accepted
    present = [s for s in summary.rows if s.status is ExamStatus.PRESENT][:5]
    marks = {present[0].admission_number: "/", present[1].admission_number: "—"}
    marks[present[2].admission_number] = "请假"
    rows: list[list[object]] = [["序号", "姓名", "准考证号", "签名"]]
    rows += [
        [s.seq, s.name, s.admission_number, marks.get(s.admission_number, "已签")]
        for s in summary.rows
        if s.status is ExamStatus.PRESENT
    ]
    sign_in = read_candidate_sign_in(sheet_file(tmp_path / "s.xlsx", rows), plan)
    assert sign_in.accepted

    report = consistency_report(plan, summary.rows, sign_in.candidates, [], [])

    unsigned = [
        m.admission_number
        for m in report.mismatches
        if m.code == "candidate_not_signed_in"
    ]
    assert sorted(unsigned) == sorted(marks)


def test_an_evaluator_on_leave_is_not_signed_in(plan: PlanInfo, tmp_path: Path) -> None:
    data = sheet_file(
        tmp_path / "evaluators.xlsx",
        [
            ["序号", "姓名", "工号", "签名"],
            [1, "周建国", "ZCX-E-0107", "周建国"],
            [2, "刘海波", "ZCX-E-0213", "请假"],
            [3, "陈晓燕", "ZCX-E-0288", "/"],
        ],
    )

    reading = read_evaluator_sign_in(data, plan)

    assert [(e.staff_id, e.signed) for e in reading.evaluators] == [
        ("ZCX-E-0107", True),
        ("ZCX-E-0213", False),
        ("ZCX-E-0288", False),
    ]
