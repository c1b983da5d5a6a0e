"""A sign-in sheet's times are times, and a repeated 序号 is said.

Regressions of a staff trial: a sign-in time ``25:61`` was accepted as
signed; and a 序号 given twice was accepted without a word. The samples'
candidates' sheet numbers 严豪刚 31 again (README: accepted, a mismatch for
the review), so a repeated 序号 is a note, never a refusal: the sheets are
read by admission number and 工号.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from certflow.intake import read_candidate_sign_in, read_evaluator_sign_in
from certflow.models import PlanInfo
from tests.intake.conftest import SAMPLES, SIGN_IN_FORMATS

CANDIDATES = SAMPLES / "P2026-1104-0412-考生签到表.xlsx"
EVALUATORS = SAMPLES / "P2026-1104-0412-考评员签到表.xlsx"


@pytest.mark.parametrize("kind", SIGN_IN_FORMATS)
@pytest.mark.parametrize(
    "typed", ["25:61", "24:00", "08:60", "08:11:75", "2026-11-04 25:10"]
)
def test_a_sign_in_time_no_clock_shows_is_refused_naming_the_cell(
    plan: PlanInfo, tmp_path: Path, kind: str, typed: str
) -> None:
    rows: list[list[object]] = [
        ["序号", "姓名", "准考证号", "签到时间", "签名"],
        [1, "黎芬", "2026110412001", "08:11", "已签"],
        [2, "胡俊霞", "2026110412002", typed, "已签"],
    ]

    reading = read_candidate_sign_in(SIGN_IN_FORMATS[kind](rows, tmp_path), plan)

    assert not reading.accepted
    [found] = reading.problems
    assert (found.code, found.row, found.column, found.value) == (
        "bad_sign_time",
        3,
        "签到时间",
        typed,
    )
    assert "0 到 23" in found.message and "08:11" in found.message


def test_the_evaluators_sheet_checks_its_times_alike(
    plan: PlanInfo, tmp_path: Path
) -> None:
    book = load_workbook(EVALUATORS)
    book.active["E5"] = "25:61"  # type: ignore[index]
    book.save(tmp_path / "e.xlsx")

    reading = read_evaluator_sign_in((tmp_path / "e.xlsx").read_bytes(), plan)

    assert [(p.code, p.row, p.column) for p in reading.problems] == [
        ("bad_sign_time", 5, "签到时间")
    ]


@pytest.mark.parametrize(
    "typed", ["07:50", "7:05", "23:59:59", "0:00", "√", "缺考", ""]
)
def test_real_times_and_marks_are_read_as_before(
    plan: PlanInfo, tmp_path: Path, typed: str
) -> None:
    book = load_workbook(EVALUATORS)
    book.active["E5"] = typed  # type: ignore[index]
    book.save(tmp_path / "e.xlsx")

    reading = read_evaluator_sign_in((tmp_path / "e.xlsx").read_bytes(), plan)

    assert reading.accepted, reading.problems
    assert reading.evaluators[2].signed is (typed not in ("缺考", ""))


def test_the_sample_s_repeated_seq_is_accepted_with_a_note(plan: PlanInfo) -> None:
    reading = read_candidate_sign_in(CANDIDATES.read_bytes(), plan)

    assert reading.accepted, reading.problems
    assert [c.seq for c in reading.candidates].count(31) == 2
    [note] = [n for n in reading.notes if "序号有重复" in n]
    assert "第 33 行的序号 31 与第 31 行相同" in note


def test_many_repeated_numbers_are_one_note_naming_ten(
    plan: PlanInfo, tmp_path: Path
) -> None:
    """A school typing 1 in every row gets one note, not one per row."""
    book = load_workbook(CANDIDATES)
    for row in range(3, 34):
        book.active.cell(row, 1, 1)  # type: ignore[union-attr]
    book.save(tmp_path / "c.xlsx")

    reading = read_candidate_sign_in((tmp_path / "c.xlsx").read_bytes(), plan)

    assert reading.accepted, reading.problems
    [note] = [n for n in reading.notes if "序号有重复" in n]
    assert note.count("与第 3 行相同") == 10 and "等 30 处" in note
