"""A sign-in sheet must say who signed: without its sign-in column it is refused.

Regression: the score summary uploaded as the candidates' sign-in sheet was
accepted, and with no 签名 / 签到时间 column every listed candidate counted as
signed in, the two absentees included.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import Workbook

from certflow.intake import (
    read_candidate_sign_in,
    read_evaluator_sign_in,
    read_score_summary,
)
from certflow.models import PlanInfo
from tests.intake.conftest import SAMPLES, sheet_file


def test_a_score_summary_as_the_candidates_sign_in_is_refused(
    plan: PlanInfo,
) -> None:
    data = (SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx").read_bytes()

    reading = read_candidate_sign_in(data, plan)

    assert not reading.accepted and reading.candidates == []
    [found] = reading.problems
    assert (found.code, found.sheet, found.row) == (
        "sign_in_looks_like_summary",
        "成绩汇总",
        3,
    )
    assert "签名" in found.message and "成绩汇总表" in found.message
    assert "certflow upload summary" in found.message


@pytest.mark.parametrize(
    ("sample", "reader", "upload", "missing"),
    [
        ("考评员签到表", read_candidate_sign_in, "evaluators", "准考证号"),
        ("考生签到表", read_evaluator_sign_in, "candidates", "工号"),
        ("成绩汇总表", read_evaluator_sign_in, "summary", "工号"),
        ("考生签到表", read_score_summary, "candidates", "实操成绩"),
        ("考评员签到表", read_score_summary, "evaluators", "准考证号"),
    ],
    ids=["evaluators-as-candidates", "candidates-as-evaluators",
         "summary-as-evaluators", "candidates-as-summary", "evaluators-as-summary"],
)  # fmt: skip
def test_a_sheet_uploaded_in_the_wrong_place_says_where_it_belongs(
    plan: PlanInfo,
    sample: str,
    reader: Callable[[bytes, PlanInfo], object],
    upload: str,
    missing: str,
) -> None:
    # Found by a staff trial: the evaluators' sheet uploaded as the
    # candidates' was only "missing 准考证号", which says nothing of the mix-up.
    data = (SAMPLES / f"P2026-1104-0412-{sample}.xlsx").read_bytes()

    reading = reader(data, plan)

    [found] = reading.problems  # type: ignore[attr-defined]
    assert found.code == "looks_like_other"
    assert f"缺少必需的列：{missing}" in found.message
    assert f"像是{sample}" in found.message
    assert f"certflow upload {upload}" in found.message


def _summary_beside_a_sign_in_list() -> bytes:
    book = Workbook()
    first = book.active
    assert first is not None
    first.title = "签到"
    first.append(["序号", "姓名", "准考证号", "签名"])
    book.create_sheet("成绩").append(
        ["序号", "姓名", "证件号码", "准考证号", "实操成绩", "总成绩"]
    )
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("header", "sheet"),
    [
        (["序号", "姓名", "证件号码", "准考证号", "实操成绩", "总成绩",
          "考评员签名"], "Sheet"),
        (None, "成绩"),
    ],
    ids=["signed-summary", "summary-beside-a-sign-in-list"],
)  # fmt: skip
def test_a_summary_missing_a_score_column_is_told_the_column_not_another_upload(
    plan: PlanInfo, tmp_path: Path, header: list[object] | None, sheet: str
) -> None:
    # Found in review: a summary with 考评员签名 and without 理论成绩 has a
    # name, an admission number and a signature column, as a candidates'
    # sign-in sheet has, and was sent to `certflow upload candidates`. Its
    # score columns say it is a summary: only the missing column is told,
    # also when a sign-in list is kept on a sheet before it.
    data = (
        _summary_beside_a_sign_in_list()
        if header is None
        else sheet_file(tmp_path / "s.xlsx", [header])
    )

    reading = read_score_summary(data, plan)

    [found] = reading.problems
    assert (found.code, found.sheet) == ("missing_columns", sheet)
    assert "缺少必需的列：理论成绩" in found.message
    assert "certflow upload" not in found.message


def test_of_two_other_documents_the_sheet_closest_to_the_upload_is_named(
    plan: PlanInfo,
) -> None:
    # A workbook of both sign-in lists uploaded as the summary: the
    # candidates' list shares the admission numbers with a summary, so it is
    # the one the staff meant, and the one named, whatever the sheet order.
    book = Workbook()
    first = book.active
    assert first is not None
    first.append(["序号", "姓名", "工号", "签名"])
    book.create_sheet("考生").append(["序号", "姓名", "准考证号", "签名"])
    buffer = BytesIO()
    book.save(buffer)

    [found] = read_score_summary(buffer.getvalue(), plan).problems

    assert (found.code, found.sheet) == ("looks_like_other", "考生")
    assert "certflow upload candidates" in found.message


def test_a_list_without_a_sign_in_column_is_refused_naming_it(
    plan: PlanInfo, tmp_path: Path
) -> None:
    candidates = sheet_file(
        tmp_path / "c.xlsx",
        [["序号", "姓名", "准考证号"], [1, "黎芬", "2026110412001"]],
    )
    evaluators = sheet_file(
        tmp_path / "e.xlsx",
        [["序号", "姓名", "工号"], [1, "周建国", "ZCX-E-0107"]],
    )

    for reading in (
        read_candidate_sign_in(candidates, plan),
        read_evaluator_sign_in(evaluators, plan),
    ):
        assert [(p.code, p.row) for p in reading.problems] == [("no_sign_in_column", 1)]
        assert "签名" in reading.problems[0].message

    # A sign-in time column alone is enough: an empty time is not signed.
    timed = sheet_file(
        tmp_path / "t.xlsx",
        [
            ["序号", "姓名", "准考证号", "签到时间"],
            [1, "黎芬", "2026110412001", "08:11"],
            [2, "胡俊霞", "2026110412002", ""],
        ],
    )
    signed = read_candidate_sign_in(timed, plan)
    assert [c.signed for c in signed.candidates] == [True, False]
