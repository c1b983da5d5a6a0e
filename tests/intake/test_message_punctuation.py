"""The problems of a refused upload are said in one punctuation.

A refusal lists problems from three catalogues (intake, identity numbers,
the invoice details form) beside each other; most ended without 。 and a few
with it, so one list mixed both. Every problem is now whole sentences ending
in 。, with the value it shows before that 。; notes stay clauses, joined with
；into one sentence that ends in 。.
"""

from __future__ import annotations

from certflow.i18n import catalogue, t
from certflow.intake import read_score_summary
from certflow.models import PlanInfo, Problem
from tests.intake.conftest import SAMPLES

# Keys that are no sentence of their own: the documents' names and a CSV's
# separators, said inside other messages, and the notes, joined into one
# sentence.
_NOT_SENTENCES = (
    "intake.document_",
    "invoice.document",
    "intake.separator_",
    "intake.note_",
    "invoice.note_",
)


def test_every_problem_message_ends_its_sentence() -> None:
    messages = {
        key: text
        for key, text in catalogue().items()
        if key.split(".")[0] in ("intake", "identity", "invoice")
    }

    unfinished = [
        key
        for key, text in messages.items()
        if not key.startswith(_NOT_SENTENCES) and not text.endswith("。")
    ]
    finished_clauses = [
        key
        for key, text in messages.items()
        if key.startswith(_NOT_SENTENCES) and text.endswith("。")
    ]

    assert unfinished == [] and finished_clauses == []
    assert len(messages) > 80  # the three catalogues were read


def test_a_refusal_lists_its_problems_alike(plan: PlanInfo) -> None:
    """broken-mixed.xlsx mixes intake's own problems with identity numbers'."""
    reading = read_score_summary((SAMPLES / "broken-mixed.xlsx").read_bytes(), plan)

    codes = {p.code for p in reading.problems}
    assert "bad_check_character" in codes and "total_mismatch" in codes
    rendered = [p.render() for p in reading.problems]
    assert all(line.endswith("。") and "。（值" not in line for line in rendered)


def test_the_value_shown_goes_before_the_full_stop() -> None:
    found = Problem(
        code="bad_check_character",
        message=t("identity.bad_check_character"),
        sheet="成绩汇总",
        row=6,
        column="证件号码",
        value="4210**********6067",
    )

    assert found.render() == (
        "工作表“成绩汇总” 第 6 行 “证件号码”列：证件号码校验位错误，"
        "请核对号码是否抄错（值：4210**********6067）。"
    )
    # A message of another area, not ending its sentence, is shown as it was.
    other = found.model_copy(update={"message": "不对"})
    assert other.render().endswith("：不对（值：4210**********6067）")


def test_notes_make_one_sentence(plan: PlanInfo) -> None:
    data = (SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx").read_bytes()
    reading = read_score_summary(data, plan)
    assert len(reading.notes) >= 2

    said = t("plan.upload_notes", notes="；".join(reading.notes))

    assert said.endswith("。") and said.count("。") == 1
