"""Each refused upload's annotated report has its own file name.

Regression: every refusal of a plan wrote ``<plan id>-问题标注.xlsx``, so in the
staff tool's output folder a site's report replaced the lead evaluator's and
each refusal the one before.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from activities.intake import report_filename
from certflow.activity_models import ProcessUpload
from certflow.models import DocumentKind, DocumentRef, PlanInfo

DOCUMENT = DocumentRef(sha256="3fa9c2e1" + "0" * 56, size=1)
AT = datetime(2026, 11, 5, 1, 30, 12, tzinfo=UTC)


def _upload(
    plan: PlanInfo,
    kind: DocumentKind,
    at: datetime,
    document: DocumentRef = DOCUMENT,
) -> ProcessUpload:
    return ProcessUpload(
        plan=plan, kind=kind, document=document, uploaded_by="someone", at=at
    )


def test_each_refusal_of_a_plan_gets_its_own_report_name(plan: PlanInfo) -> None:
    uploads = [
        _upload(plan, DocumentKind.SCORE_SUMMARY, AT),
        _upload(plan, DocumentKind.CANDIDATE_SIGN_IN, AT),
        _upload(plan, DocumentKind.EVALUATOR_SIGN_IN, AT),
        _upload(plan, DocumentKind.INVOICE_DETAILS, AT),
        _upload(plan, DocumentKind.SCORE_SUMMARY, AT + timedelta(seconds=1)),
    ]

    names = [report_filename(upload) for upload in uploads]

    assert len(set(names)) == len(names)
    # The time is said in CST, as staff read it.
    assert (
        names[0] == "P2026-1104-0412-成绩汇总表-问题标注-20261105-093012-3fa9c2e1.xlsx"
    )
    assert (
        names[1] == "P2026-1104-0412-考生签到表-问题标注-20261105-093012-3fa9c2e1.xlsx"
    )
    # The staff tool names its copy by the last path component: the whole name.
    assert all(Path(name).name == name and name.endswith(".xlsx") for name in names)


def test_two_files_refused_in_the_same_second_get_their_own_reports(
    plan: PlanInfo,
) -> None:
    """Regression: two summaries refused within one second (the lead evaluator's
    and a resend) shared one report name, so the second replaced the first."""
    other = DocumentRef(sha256="b7" + "1" * 62, size=2)
    first = _upload(plan, DocumentKind.SCORE_SUMMARY, AT)
    second = _upload(
        plan, DocumentKind.SCORE_SUMMARY, AT + timedelta(milliseconds=400), other
    )

    assert report_filename(first) != report_filename(second)
    assert report_filename(second).endswith("-20261105-093012-b7111111.xlsx")
