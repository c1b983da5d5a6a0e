"""Every corpus file gives the outcome its manifest entry states, no more, no less."""

from __future__ import annotations

import json
from typing import Any

import pytest

from certflow.intake import (
    SignInReading,
    SummaryReading,
    read_candidate_sign_in,
    read_evaluator_sign_in,
    read_score_summary,
)
from certflow.models import PassRule, PlanInfo
from tests.intake.conftest import CORPUS, sample_plan

MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))["files"]
READERS = {
    "summary": read_score_summary,
    "candidate_sign_in": read_candidate_sign_in,
    "evaluator_sign_in": read_evaluator_sign_in,
}


def _plan(entry: dict[str, Any]) -> PlanInfo:
    plan = sample_plan()
    if "rule" in entry:
        plan = plan.model_copy(update={"pass_rule": PassRule(**entry["rule"])})
    return plan


def _read(entry: dict[str, Any]) -> SummaryReading | SignInReading:
    data = (CORPUS / entry["file"]).read_bytes()
    return READERS[entry["reader"]](data, _plan(entry))  # type: ignore[operator, no-any-return]


def test_manifest_covers_every_corpus_file() -> None:
    listed = {entry["file"] for entry in MANIFEST}
    present = {
        path.name
        for path in CORPUS.iterdir()
        if path.suffix not in (".py", ".json") and path.is_file()
    }
    assert listed == present


@pytest.mark.parametrize("entry", MANIFEST, ids=[e["file"] for e in MANIFEST])
def test_corpus_file_gives_its_stated_outcome(entry: dict[str, Any]) -> None:
    reading = _read(entry)

    found = [[p.code, p.row, p.column] for p in reading.problems]
    assert found == entry.get("problems", [])
    assert reading.accepted is entry["accepted"]
    assert all(p.message for p in reading.problems)
    if "sheet" in entry:
        assert reading.sheet == entry["sheet"]
    if "counts" in entry:
        assert isinstance(reading, SummaryReading)
        counts = [
            reading.candidates,
            reading.passed,
            reading.failed,
            reading.absent,
            reading.disqualified,
        ]
        assert counts == entry["counts"]
    if "signed" in entry:
        assert isinstance(reading, SignInReading)
        signed = {c.admission_number: c.signed for c in reading.candidates}
        assert signed == entry["signed"]
    if not entry["accepted"]:
        assert isinstance(reading, SignInReading) or reading.rows == []


SAME_ROWS = [e for e in MANIFEST if e.get("same_rows_as")]


@pytest.mark.parametrize("entry", SAME_ROWS, ids=[e["file"] for e in SAME_ROWS])
def test_every_format_reads_to_the_same_rows(entry: dict[str, Any]) -> None:
    reference = next(e for e in MANIFEST if e["file"] == entry["same_rows_as"])
    reading = _read(entry)
    expected = _read(reference)

    assert isinstance(reading, SummaryReading) and isinstance(expected, SummaryReading)
    assert reading.rows == expected.rows


def test_honest_layout_is_normalised_cell_by_cell() -> None:
    reading = read_score_summary(
        (CORPUS / "honest-layout-libreoffice.xlsx").read_bytes(), sample_plan()
    )

    rows = {row.seq: row for row in reading.rows}
    assert rows[2].name == "胡俊霞"  # trailing spaces
    assert rows[2].admission_number == "2026110412002"  # stored as a number
    assert rows[3].admission_number == "2026110412003"  # full-width digits
    assert rows[3].theory == 71.4  # full-width number stored as text
    assert rows[4].name == "阿不都·热合曼"  # katakana middle dot
    assert rows[5].name == "买买提·艾力"  # full-width full stop
    assert rows[5].id_number.endswith("X")  # lower-case x
    assert [rows[n].id_type for n in (6, 7, 8, 9, 10)] == [
        "hmt_residence_permit",
        "foreign_permanent_residence",
        "foreign_permanent_residence",
        "passport",
        "hk_macau_home_return_permit",
    ]
    assert rows[11].status == "absent" and rows[11].total is None
    assert rows[12].status == "disqualified" and not rows[12].passed
    assert any("填表说明" in note for note in reading.notes)
