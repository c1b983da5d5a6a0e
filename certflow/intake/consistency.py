"""The consistency review's computed part: the summary against the sign-in sheets.

Candidates are matched by admission number. A candidate marked absent (缺考) is
expected not to have signed in; anyone else in the summary must have. Evaluators
are matched by staff id: who signed the paper summary (as the lead evaluator
declares) against who signed in.

The same match ties an upload to its plan where nothing else can: a file without
title rows (a CSV) names no plan, and a plan holds no roster of its candidates,
only the sheets already accepted for it (``unrelated_candidates``).
"""

from __future__ import annotations

from collections.abc import Collection

from pydantic import Field

from certflow.i18n import t
from certflow.identity import staff_key
from certflow.intake.common import problem
from certflow.intake.signin import CandidateSignIn, EvaluatorSignIn
from certflow.models import CandidateScore, ExamStatus, Model, PlanInfo, Problem
from certflow.privacy import mask_id_number, mask_name


class Mismatch(Model):
    """One disagreement between the documents, as the regional contact reads it.

    ``message`` is Chinese with names and ID numbers masked. Exactly one of
    ``admission_number`` (candidates) and ``staff_id`` (evaluators) is set.
    """

    code: str
    message: str
    admission_number: str | None = None
    staff_id: str | None = None


class ConsistencyReport(Model):
    """Every mismatch found, the counts behind them and a one-line verdict."""

    consistent: bool
    mismatches: list[Mismatch] = Field(default_factory=list)
    verdict: str
    summary_candidates: int = 0
    summary_present: int = 0
    summary_absent: int = 0
    candidates_signed_in: int = 0
    evaluators_signed_in: int = 0
    evaluators_signed: int = 0


def unrelated_candidates(
    uploaded: Collection[str],
    accepted: Collection[str],
    *,
    document: str,
    other: str,
) -> Problem | None:
    """Return a problem when an upload shares no admission number with the plan.

    ``uploaded`` are the admission numbers of the file being read, ``accepted``
    those of the plan's other candidate list already accepted (the summary for a
    sign-in sheet, the candidates' sign-in sheet for a summary); ``document`` and
    ``other`` name both in Chinese. Not a single candidate in common means the
    file belongs to another plan (or the accepted one does). A partial overlap
    is no refusal: which candidates differ is the consistency review's to show.
    Nothing is compared while either list is empty.
    """
    if not uploaded or not accepted or not set(uploaded).isdisjoint(accepted):
        return None
    return problem(
        "no_common_candidate",
        document=document,
        other=other,
        count=len(set(uploaded)),
        accepted=len(set(accepted)),
    )


def consistency_report(
    plan: PlanInfo,
    summary: list[CandidateScore],
    candidate_sign_in: list[CandidateSignIn],
    evaluator_sign_in: list[EvaluatorSignIn],
    signed_evaluator_ids: list[str],
) -> ConsistencyReport:
    """Compare the summary with both sign-in sheets and the declared signatures."""
    mismatches = _candidates(summary, candidate_sign_in) + _evaluators(
        plan, evaluator_sign_in, signed_evaluator_ids
    )
    signed_in = [c for c in candidate_sign_in if c.signed]
    evaluators_in = [e for e in evaluator_sign_in if e.signed]
    counts = {
        "summary_candidates": len(summary),
        "summary_present": sum(s.status is not ExamStatus.ABSENT for s in summary),
        "summary_absent": sum(s.status is ExamStatus.ABSENT for s in summary),
        "candidates_signed_in": len(signed_in),
        "evaluators_signed_in": len(evaluators_in),
        "evaluators_signed": len(_signers(signed_evaluator_ids)),
    }
    if mismatches:
        verdict = t("consistency.verdict_inconsistent", count=len(mismatches), **counts)
    else:
        verdict = t("consistency.verdict_consistent", **counts)
    return ConsistencyReport(
        consistent=not mismatches, mismatches=mismatches, verdict=verdict, **counts
    )


def _candidates(
    summary: list[CandidateScore], sign_in: list[CandidateSignIn]
) -> list[Mismatch]:
    found: list[Mismatch] = []
    by_admission = {entry.admission_number: entry for entry in sign_in}
    in_summary = {score.admission_number for score in summary}

    for score in summary:
        who = {"name": mask_name(score.name), "admission": score.admission_number}
        entry = by_admission.get(score.admission_number)
        signed = entry is not None and entry.signed
        if score.status is ExamStatus.ABSENT:
            if signed:
                found.append(
                    _candidate("absent_signed_in", score.admission_number, **who)
                )
            continue
        if not signed:
            found.append(
                _candidate("candidate_not_signed_in", score.admission_number, **who)
            )
            continue
        assert entry is not None
        if entry.name != score.name:
            found.append(
                _candidate(
                    "name_differs",
                    score.admission_number,
                    summary_name=mask_name(score.name),
                    sign_in_name=mask_name(entry.name),
                    **who,
                )
            )
        if entry.id_number and entry.id_number != score.id_number:
            found.append(
                _candidate(
                    "id_differs",
                    score.admission_number,
                    summary_id=mask_id_number(score.id_number),
                    sign_in_id=mask_id_number(entry.id_number),
                    **who,
                )
            )

    for entry in sign_in:
        if entry.signed and entry.admission_number not in in_summary:
            found.append(
                _candidate(
                    "signed_in_not_in_summary",
                    entry.admission_number,
                    name=mask_name(entry.name),
                    admission=entry.admission_number,
                )
            )
    return found


def _candidate(code: str, admission_number: str, **fields: str) -> Mismatch:
    return Mismatch(
        code=code,
        message=t(f"consistency.{code}", **fields),
        admission_number=admission_number,
    )


def _evaluators(
    plan: PlanInfo, sign_in: list[EvaluatorSignIn], signed_ids: list[str]
) -> list[Mismatch]:
    found: list[Mismatch] = []
    # Staff ids are matched as staff type them: the plan keeps its team as it
    # was started (``zcx-e-0213``), the sheet and the signers as written.
    came = {staff_key(e.staff_id): e for e in sign_in if e.signed}
    signed = _signers(signed_ids)
    team = {staff_key(s) for s in (plan.lead_evaluator_id, *plan.evaluator_ids)}

    for staff_id in signed:
        if staff_id not in came:
            found.append(_evaluator("evaluator_signed_not_signed_in", staff_id))
    for staff_id, entry in came.items():
        if staff_id not in signed:
            found.append(
                _evaluator(
                    "evaluator_signed_in_not_signed",
                    staff_id,
                    name=mask_name(entry.name),
                )
            )
        if staff_id not in team:
            found.append(
                _evaluator(
                    "evaluator_not_in_team", staff_id, name=mask_name(entry.name)
                )
            )
    return found


def _signers(signed_ids: list[str]) -> list[str]:
    """The evaluators declared to have signed, each once, as staff ids are compared."""
    return list(dict.fromkeys(staff_key(s) for s in signed_ids if s.strip()))


def _evaluator(code: str, staff_id: str, **fields: str) -> Mismatch:
    return Mismatch(
        code=code,
        message=t(f"consistency.{code}", staff_id=staff_id, **fields),
        staff_id=staff_id,
    )
