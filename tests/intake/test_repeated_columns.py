"""Two header cells naming one column: refused, naming both, never the first read.

Regression (trial): a summary headed 理论成绩（初评） and 理论成绩（复核）, whose
values differ by five points, and no 总成绩 column to give the choice away, was
accepted with the first column's scores and no word about the second.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from certflow.intake import read_candidate_sign_in, read_score_summary
from certflow.models import PlanInfo
from tests.corpus.intake.make_corpus import META, MODULE, TITLE, rid
from tests.intake.conftest import sheet_file

HEADER = ["序号", "姓名", "证件类型", "证件号码", "准考证号", "考核模块"]


def _candidate(seq: int, name: str) -> list[object]:
    return [seq, name, "居民身份证", rid(seq), f"20261104120{seq:02d}", MODULE]


def test_two_theory_columns_without_a_total_are_refused_naming_both(
    plan: PlanInfo, tmp_path: Path
) -> None:
    header = [*HEADER, "理论成绩（初评）", "理论成绩（复核）", "实操成绩", "考核结果"]
    rows = [
        [*_candidate(1, "黎芬"), 0, 5, 69, "不合格"],
        [*_candidate(2, "胡俊霞"), 69, 74, 84.6, "合格"],
        [*_candidate(3, "陈思彬"), 48.1, 53.1, 60.8, "不合格"],
    ]
    data = sheet_file(
        tmp_path / "summary.xlsx",
        [[TITLE], [f"{META}  考核日期：2026-11-04"], header, *rows],
    )

    reading = read_score_summary(data, plan)

    assert not reading.accepted and reading.rows == []
    [found] = reading.problems
    assert (found.code, found.sheet, found.row, found.column) == (
        "repeated_column",
        "Sheet",
        3,
        "H",
    )
    for named in ("第 H 列", "理论成绩(复核)", "第 G 列", "理论成绩(初评)", "理论成绩"):
        assert named in found.message


def test_a_second_score_column_at_the_end_is_refused_in_a_csv_too(
    plan: PlanInfo,
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*HEADER, "理论成绩", "实操成绩", "总成绩", "班级", "理论"])
    writer.writerow([*_candidate(1, "黎芬"), 80, 90, 87, "汽修2101", 99])

    reading = read_score_summary(buffer.getvalue().encode("gbk"), plan)

    assert [(p.code, p.row, p.column) for p in reading.problems] == [
        ("repeated_column", 1, "K")
    ]
    assert "第 G 列“理论成绩”" in reading.problems[0].message


def test_a_repeated_column_the_document_does_not_read_is_no_problem(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """A summary does not read signatures: two signature columns beside it
    choose no value. A sign-in sheet reads them, and is refused."""
    summary = sheet_file(
        tmp_path / "summary.xlsx",
        [
            [*HEADER, "理论成绩", "实操成绩", "考评员签名", "签字"],
            [*_candidate(1, "黎芬"), 80, 90, "", ""],
        ],
    )
    sign_in = sheet_file(
        tmp_path / "sign-in.xlsx",
        [
            ["序号", "姓名", "准考证号", "签名", "本人签名"],
            [1, "黎芬", "2026110412001", "", "已签"],
        ],
    )

    assert read_score_summary(summary, plan).accepted
    reading = read_candidate_sign_in(sign_in, plan)
    assert [(p.code, p.row, p.column) for p in reading.problems] == [
        ("repeated_column", 1, "E")
    ]
    assert reading.candidates == []
