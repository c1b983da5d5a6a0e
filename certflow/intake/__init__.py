"""Intake of uploaded score summaries and sign-in sheets: bytes in, results out.

Pure code: no database, no network, no file names. An activity passes the
uploaded bytes and the exam plan and gets back either accepted rows or every
problem, each located by sheet, row and column as the office suite shows them.
"""

from certflow.intake.consistency import (
    ConsistencyReport,
    Mismatch,
    consistency_report,
    unrelated_candidates,
)
from certflow.intake.export import (
    annotated_copy,
    mismatch_report,
    national_platform_import,
)
from certflow.intake.limits import IntakeLimits
from certflow.intake.signin import (
    CandidateSignIn,
    EvaluatorSignIn,
    SignInReading,
    read_candidate_sign_in,
    read_evaluator_sign_in,
)
from certflow.intake.summary import SummaryReading, read_score_summary

__all__ = [
    "CandidateSignIn",
    "ConsistencyReport",
    "EvaluatorSignIn",
    "IntakeLimits",
    "Mismatch",
    "SignInReading",
    "SummaryReading",
    "annotated_copy",
    "consistency_report",
    "mismatch_report",
    "national_platform_import",
    "read_candidate_sign_in",
    "read_evaluator_sign_in",
    "read_score_summary",
    "unrelated_candidates",
]
