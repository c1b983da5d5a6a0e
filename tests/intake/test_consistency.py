"""The consistency report: every kind of mismatch, and none when all agree."""

from __future__ import annotations

from datetime import date

from certflow.identity import make_resident_id
from certflow.intake import (
    CandidateSignIn,
    EvaluatorSignIn,
    consistency_report,
    unrelated_candidates,
)
from certflow.models import CandidateScore, ExamStatus, PlanInfo
from certflow.privacy import mask_id_number

TEAM = ["ZCX-E-0107", "ZCX-E-0213", "ZCX-E-0288", "ZCX-E-0301"]


def _score(n: int, status: ExamStatus = ExamStatus.PRESENT) -> CandidateScore:
    present = status is ExamStatus.PRESENT
    return CandidateScore(
        seq=n,
        name=f"考生{n}",
        id_type="resident_id",
        id_number=make_resident_id("420106", date(2005, 1, n), n),
        admission_number=f"A{n:03d}",
        module_code="1-1",
        theory=80 if present else None,
        practical=80 if present else None,
        total=80 if present else None,
        status=status,
        passed=present,
    )


def _signed_in(score: CandidateScore, **changes: object) -> CandidateSignIn:
    entry = CandidateSignIn(
        seq=score.seq,
        name=score.name,
        id_number=score.id_number,
        admission_number=score.admission_number,
        signed=True,
    )
    return entry.model_copy(update=changes)


def _evaluators(*ids: str) -> list[EvaluatorSignIn]:
    return [EvaluatorSignIn(name=f"考评员{i}", staff_id=i) for i in ids]


def test_all_agreeing_documents_are_consistent(plan: PlanInfo) -> None:
    summary = [_score(1), _score(2), _score(3, ExamStatus.ABSENT)]
    sign_in = [_signed_in(summary[0]), _signed_in(summary[1], id_number="")]

    report = consistency_report(plan, summary, sign_in, _evaluators(*TEAM), TEAM)

    assert report.consistent and report.mismatches == []
    assert (report.summary_candidates, report.summary_absent) == (3, 1)
    assert report.verdict.startswith("一致")


def test_every_candidate_mismatch_is_reported_masked(plan: PlanInfo) -> None:
    summary = [_score(n) for n in range(1, 5)] + [_score(5, ExamStatus.ABSENT)]
    other_id = make_resident_id("420106", date(2005, 1, 20), 20)
    stranger = _signed_in(_score(9))
    sign_in = [
        _signed_in(summary[0]),
        _signed_in(summary[1], signed=False),  # listed but did not sign
        _signed_in(summary[2], name="别人"),
        _signed_in(summary[3], id_number=other_id),
        _signed_in(summary[4]),  # absent yet signed in
        stranger,
    ]

    report = consistency_report(plan, summary, sign_in, _evaluators(*TEAM), TEAM)

    assert not report.consistent
    assert [(m.code, m.admission_number) for m in report.mismatches] == [
        ("candidate_not_signed_in", "A002"),
        ("name_differs", "A003"),
        ("id_differs", "A004"),
        ("absent_signed_in", "A005"),
        ("signed_in_not_in_summary", "A009"),
    ]
    text = " ".join(m.message for m in report.mismatches)
    assert "考生3" not in text and "别人" not in text and other_id not in text
    assert "考**" in text and "别*" in text


def test_evaluator_signatures_against_sign_in(plan: PlanInfo) -> None:
    came = _evaluators("ZCX-E-0107", "ZCX-E-0213", "ZCX-E-0999")
    signed = ["ZCX-E-0107", "zcx-e-0288 ", "ZCX-E-0999"]

    report = consistency_report(plan, [], [], came, signed)

    assert [(m.code, m.staff_id) for m in report.mismatches] == [
        ("evaluator_signed_not_signed_in", "ZCX-E-0288"),
        ("evaluator_signed_in_not_signed", "ZCX-E-0213"),
        ("evaluator_not_in_team", "ZCX-E-0999"),
    ]
    assert "3 处不一致" in report.verdict


def test_an_upload_sharing_no_candidate_with_the_plan_is_unrelated() -> None:
    names = {"document": "成绩汇总表", "other": "考生签到表"}

    found = unrelated_candidates(["B001", "B002"], ["A001", "A002", "A003"], **names)

    assert found is not None and found.code == "no_common_candidate"
    assert "2 个准考证号" in found.message and "3 人" in found.message
    # One candidate in common is a matter for the review, not a refusal; and
    # nothing is compared before the plan has the other list.
    assert unrelated_candidates(["A001", "B002"], ["A001", "A003"], **names) is None
    assert unrelated_candidates(["B001"], [], **names) is None


def test_staff_ids_are_matched_in_any_case_and_width(plan: PlanInfo) -> None:
    """Regression: a plan started with lower-case staff ids called every
    evaluator of the sign-in sheet (written in capitals) not of its team, and
    a signer typed twice in two cases counted as two."""
    lower = plan.model_copy(
        update={
            "lead_evaluator_id": TEAM[0].lower(),
            "evaluator_ids": [s.lower() for s in TEAM[1:]],
        }
    )
    signed = ["ｚｃｘ－ｅ－０１０７", "ZCX-E-0107", "zcx-e-0213", "ZCX-E-0288"]
    signed.append("Zcx-E-0301")

    report = consistency_report(lower, [], [], _evaluators(*TEAM), signed)

    assert report.mismatches == []
    assert (report.evaluators_signed, report.evaluators_signed_in) == (4, 4)


def test_a_short_document_number_is_masked_not_shown_whole(plan: PlanInfo) -> None:
    """Trial: a passport's E01234567 was reported as E012*4567, and a 往来港澳
    通行证's CA1234567 as CA12*4567: the first and last 4 characters an ID
    number keeps left one character of a 9-character number hidden. Such a
    number now keeps its first character and its last 2, as the ID number
    keeps less than half of its 18."""
    passport = _score(1).model_copy(
        update={"id_type": "passport", "id_number": "E01234567"}
    )
    sign_in = [_signed_in(passport, id_number="E01234568")]

    report = consistency_report(plan, [passport], sign_in, _evaluators(*TEAM), TEAM)

    [mismatch] = report.mismatches
    assert mismatch.code == "id_differs"
    assert "E******67" in mismatch.message and "E******68" in mismatch.message
    for number in ("CA1234567", "H12345678", "H1234567890", "1234567890", "L12345678"):
        shown = [c for c in mask_id_number(number) if c != "*"]
        assert len(shown) == 3, mask_id_number(number)
    # A resident ID number, and a number of 8 characters or fewer, as before.
    assert mask_id_number("421002200506166066") == "4210**********6066"
    assert mask_id_number("12345678") == "*******8"
