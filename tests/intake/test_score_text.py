"""Scores are plain decimal numbers: a spreadsheet's own numbers, or text of digits.

Decimal() alone reads "1e1", "Infinity" or digits of other scripts ("١٠"); a
score typed as anything but a plain decimal is refused with its row and column,
in the score summary and in a correction request alike.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from certflow.intake import read_score_summary
from certflow.intake.vocabulary import parse_score
from certflow.models import PlanInfo
from certflow.privacy import mask_id_numbers_in
from tests.corpus.intake.make_corpus import HEADER, csv_bytes, row, workbook

NOT_PLAIN = ["1e1", "1E1", "10e0", "0x10", "١٠", "Infinity", "NaN", "+10", ".5"]


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_a_text_score_that_is_no_plain_decimal_is_refused_in_an_xlsx(
    plan: PlanInfo, tmp_path: Path, text: str
) -> None:
    path = tmp_path / "summary.xlsx"
    workbook([row(1, "黎芬", 80, text, 87, "合格")]).save(path)

    reading = read_score_summary(path.read_bytes(), plan)

    assert not reading.accepted
    assert [(p.code, p.row, p.column, p.value) for p in reading.problems] == [
        ("score_not_a_number", 4, "实操成绩", text)
    ]
    assert "十进制" in reading.problems[0].message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("74o", "字母“o”像是打错的数字“0”"),
        ("8O", "字母“O”像是打错的数字“0”"),
        ("9l.5", "字母“l”像是打错的数字“1”"),
        ("1O0", "字母“O”像是打错的数字“0”"),
        ("abc", "此格不是数字。"),
        # A lone letter is a mark, not a score with a digit mistyped.
        ("O", "此格不是数字。"),
        ("l", "此格不是数字。"),
        ("I", "此格不是数字。"),
        # An ID number pasted in a score cell: no number, shown masked.
        ("黎芬421002200506166066", "此格不是数字。"),
    ],
    ids=["o-for-0", "O-for-0", "l-for-1", "O-among-digits", "letters", "lone-O",
         "lone-l", "lone-I", "id-number"],
)  # fmt: skip
def test_a_score_of_no_number_is_said_to_be_none_plainly(
    plan: PlanInfo, tmp_path: Path, text: str, said: str
) -> None:
    """Staff trial: ``74o`` (a letter o for the zero) was told about
    scientific notation and hexadecimal, which it is none of."""
    path = tmp_path / "summary.xlsx"
    workbook([row(1, "黎芬", 80, text, 87, "合格")]).save(path)

    [found] = read_score_summary(path.read_bytes(), plan).problems

    assert (found.code, found.row, found.column) == (
        "score_not_a_number",
        4,
        "实操成绩",
    )
    assert said in found.message
    assert "科学记数法" not in found.message and "十六进制" not in found.message
    assert "421002200506166066" not in found.render()
    assert found.value == mask_id_numbers_in(text)


def test_a_score_in_scientific_notation_is_refused_in_a_csv(
    plan: PlanInfo, tmp_path: Path
) -> None:
    path = tmp_path / "summary.csv"
    path.write_bytes(csv_bytes([row(1, "黎芬", "8e1", 90, 87, "合格")], HEADER, "gbk"))

    reading = read_score_summary(path.read_bytes(), plan)

    assert [(p.code, p.row, p.column) for p in reading.problems] == [
        ("score_not_a_number", 2, "理论成绩")
    ]


def test_numbers_and_plain_text_scores_are_still_read(
    plan: PlanInfo, tmp_path: Path
) -> None:
    path = tmp_path / "summary.xlsx"
    rows = [
        # Real numeric cells, as a spreadsheet stores numbers.
        row(1, "黎芬", 80.0, 90.0, 87.0, "合格"),
        # Text cells: trimmed, full-width digits made ASCII, trailing zeros kept.
        row(2, "胡俊霞", "80", " 90.00 ", "８７", "合格"),
    ]
    workbook(rows).save(path)

    reading = read_score_summary(path.read_bytes(), plan)

    assert reading.accepted, [p.render() for p in reading.problems]
    assert [(r.theory, r.practical, r.total) for r in reading.rows] == [
        (80.0, 90.0, 87.0),
        (80.0, 90.0, 87.0),
    ]


@pytest.mark.parametrize("text", NOT_PLAIN)
def test_a_correction_refuses_the_same_texts(text: str) -> None:
    assert parse_score(text) is None


def test_a_correction_reads_plain_scores_as_written() -> None:
    assert [parse_score(t) for t in ("85", " 85.50 ", "０", "100")] == [
        85,
        parse_score("85.50"),
        0,
        100,
    ]
    assert str(parse_score("85.50")) == "85.50"
    assert [parse_score(t) for t in ("-5", "100.01", "60.123")] == [None] * 3


@pytest.mark.parametrize("huge", [1e308, -1e308, float("inf")])
def test_a_numeric_score_too_big_for_cents_is_refused_at_its_cell(
    huge: float, plan: PlanInfo
) -> None:
    """Regression: 1e308 in a score cell made the whole file 'unreadable'
    (an overflow), naming no row or column."""
    rows = [
        row(1, "黎芬", huge, 90, 87, "合格"),
        row(2, "胡俊霞", 74, 84.6, 81.42, "合格"),
    ]
    buffer = io.BytesIO()
    workbook(rows).save(buffer)

    reading = read_score_summary(buffer.getvalue(), plan)

    assert not reading.accepted
    [problem] = reading.problems
    assert (problem.row, problem.column) == (4, "理论成绩")
    assert len(problem.render()) < 120  # not three hundred digits
