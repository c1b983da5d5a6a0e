"""The evaluators' sign-in sheet's 工号 column holds staff ids, nothing else.

Regression: an ID number typed in 工号 (D4 of the sample) was accepted, and
the review list, the status, the plan's history and the consistency report
all showed ``考评员 刘**（420106200603077655）…`` whole. A name, or
``ZCX-E-0288 陈晓燕`` in one cell, was accepted too and made every comparison
with the plan's team a false mismatch.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook

from certflow.intake import read_evaluator_sign_in
from certflow.models import PlanInfo
from tests.intake.conftest import SAMPLES

EVALUATORS = SAMPLES / "P2026-1104-0412-考评员签到表.xlsx"
ID_NUMBER = "420106200603077655"


def _with_staff_id(value: object, path: Path) -> bytes:
    """The sample evaluators' sheet with cell D4 (刘海波's 工号) set to ``value``."""
    book = load_workbook(EVALUATORS)
    book.active["D4"] = value  # type: ignore[index]
    book.save(path)
    return path.read_bytes()


@pytest.mark.parametrize(
    ("typed", "shown"),
    [
        (ID_NUMBER, "4201**********7655"),
        ("4201 0620 0603 0776 55", "4201**********7655"),
        ("刘海波", "刘**"),
        ("ZCX-E-0213 刘海波", "ZCX-E-0213 刘**"),
        ("ZCX-E-0213（刘海波）", "ZCX-E-0213(刘**)"),
    ],
)
def test_a_staff_id_cell_holding_a_name_or_an_id_number_is_refused_masked(
    plan: PlanInfo, tmp_path: Path, typed: str, shown: str
) -> None:
    reading = read_evaluator_sign_in(_with_staff_id(typed, tmp_path / "e.xlsx"), plan)

    assert not reading.accepted and reading.evaluators == []
    [found] = reading.problems
    assert (found.code, found.sheet, found.row, found.column, found.value) == (
        "bad_staff_id",
        "考评员签到表",
        4,
        "工号",
        shown,
    )
    assert "ZCX-E-0107" in found.message  # what a staff id looks like
    said = found.model_dump_json()
    assert ID_NUMBER not in said and "刘海波" not in said


def test_an_id_number_stored_as_a_number_is_refused_masked(
    plan: PlanInfo, tmp_path: Path
) -> None:
    reading = read_evaluator_sign_in(
        _with_staff_id(int(ID_NUMBER), tmp_path / "e.xlsx"), plan
    )

    [found] = reading.problems
    assert (found.code, found.row) == ("bad_staff_id", 4)
    assert "20106200603077" not in found.model_dump_json()


def test_staff_ids_as_typed_are_still_read(plan: PlanInfo, tmp_path: Path) -> None:
    """Lower case, full width and spaces between the groups are a staff id."""
    reading = read_evaluator_sign_in(
        _with_staff_id("ｚｃｘ－Ｅ－０２１３ ", tmp_path / "e.xlsx"), plan
    )

    assert reading.accepted, reading.problems
    assert reading.evaluators[1].staff_id == "ZCX-E-0213"
