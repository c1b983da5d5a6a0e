"""Every application scan and consistency report a plan had stays listed and
fetchable, and no refused upload leaves a file in the store that no record names.

Trial: the plan kept the application scan and the consistency report it went
by, and no record named those they replaced, nor the scan of an application
the plan refused; finance and auditors could not see what a site had sent.
"""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from activities.documents import DocumentStore
from certflow.actions import plan_workflow_id
from certflow.i18n import t
from certflow.models import DocumentKind, DocumentRef
from certflow.plan_documents import DocumentState, StoredDocument, find, plan_documents
from starter.sample_plan import sample_invoice_form
from tests.cli.conftest import Certflow
from tests.cli.test_commands import LEAD, start_and_submit, start_argv
from tests.cli.test_documents import CONTACT, FINANCE, OTHER_SITE, SITE, _cells
from tests.support import SCAN_PDF, PlanDriver, empty_workbook

pytestmark = pytest.mark.timeout(120)
ON_THE_STACK = pytest.mark.asyncio(loop_scope="session")

GM = ["--as", "general_manager", "--person", "gm-chen"]


def _scan(folder: Path, name: str) -> Path:
    """A scan of the sealed application, unlike any other test's."""
    path = folder / name
    path.write_bytes(SCAN_PDF + b"\0" * 64 + os.urandom(16).hex().encode())
    return path


def _application(plan_id: str, scan: Path, today: str, heads: str = "14") -> list[str]:
    return [
        *SITE, "application", plan_id, "--scan", str(scan), "--paid-plan", plan_id,
        "--head-count", heads, "--amount", "4200.00", "--paid-on", today,
    ]  # fmt: skip


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def _rows(pool: Any, plan_id: str, digest: str) -> list[Any]:
    """The plan's records of the file whose digest is ``digest``."""
    return list(
        await pool.fetch(
            "SELECT kind, version, accepted, uploaded_by FROM plan_documents"
            " WHERE plan_id = $1 AND sha256 = $2 ORDER BY id",
            plan_id,
            digest,
        )
    )


async def _started(certflow: Certflow, driver: PlanDriver) -> str:
    """Start the driver's plan with the command; its id, once its row is written."""
    plan_id = driver.plan.plan_id
    assert (await certflow(*start_argv(driver.plan))).status == 0
    driver.handle = driver.client.get_workflow_handle(plan_workflow_id(plan_id))
    await driver.wait_for(lambda s: bool(s.owed))  # the plan's row is written
    return plan_id


def _in_store(store: DocumentStore, path: Path) -> bool:
    return store.path_of(DocumentRef(sha256=_digest(path), size=0)).exists()


@ON_THE_STACK
async def test_every_application_scan_is_listed_with_its_sender_and_fetchable(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    driver = new_driver
    pool, store = resources
    await driver.reach_payment()
    plan_id = driver.plan.plan_id
    today = (await driver.today()).isoformat()
    form = tmp_path / "院校发票信息收集表.xlsx"
    form.write_bytes(sample_invoice_form())
    first, second = _scan(tmp_path, "申请表-1.pdf"), _scan(tmp_path, "申请表-2.pdf")
    figures_wrong, form_wrong = (
        _scan(tmp_path, "申请表-人数错.pdf"),
        _scan(tmp_path, "申请表-收集表错.pdf"),
    )
    elsewhere, model_refused = (
        _scan(tmp_path, "他校申请表.pdf"),
        _scan(tmp_path, "申请表-负数.pdf"),
    )

    said = [
        await certflow(
            *_application(plan_id, first, today), "--invoice-form", str(form)
        ),
        # Corrected before finance confirmed it: a second version.
        await certflow(*_application(plan_id, second, today)),
        # Refused by the plan unread: the figures do not add up.
        await certflow(*_application(plan_id, figures_wrong, today, heads="13")),
        # Refused once its form was read.
        await certflow(
            *_application(plan_id, form_wrong, today),
            "--invoice-form",
            str(empty_workbook(tmp_path)),
        ),
        # From a site that is no party of the plan, and refused by the model.
        await certflow(
            *OTHER_SITE, *_application(plan_id, elsewhere, today)[len(SITE) :]
        ),
        await certflow(*_application(plan_id, model_refused, today, heads="-1")),
    ]
    assert [s.status for s in said] == [0, 0, 2, 2, 2, 2], [s.out for s in said]

    listed = await certflow(*FINANCE, "document", "list", plan_id)

    assert listed.status == 0, listed.out
    kind, version, _, _, by, at, _, state = _cells(listed.out, first.name)
    assert (kind, version, by) == ("证书申请表扫描件", "1", "考核站点 whjt-kaowu")
    assert state == t("cli.document.superseded") and at != t("cli.document.unknown")
    _, version, _, _, _, _, _, state = _cells(listed.out, second.name)
    assert (version, state) == ("2", t("cli.document.current"))
    _, version, _, _, by, _, _, state = _cells(listed.out, figures_wrong.name)
    assert (version, by) == (t("cli.document.unknown"), "考核站点 whjt-kaowu")
    assert state == t("cli.document.refused", count=1)
    _, _, _, _, _, _, _, state = _cells(listed.out, form_wrong.name)
    assert state.startswith("未受理（")
    for absent in (elsewhere, model_refused):
        assert absent.name not in listed.out

    # Finance fetches the first scan by its version; the general manager too.
    folder = tmp_path / "finance"
    folder.mkdir()
    monkeypatch.chdir(folder)
    old = await certflow(
        *FINANCE, "document", "get", plan_id, "certificate_application",
        "--version", "1",
    )  # fmt: skip
    current = await certflow(
        *GM, "document", "get", plan_id, "certificate_application",
        "--out", str(tmp_path / "current.pdf"),
    )  # fmt: skip
    assert old.status == 0, old.out
    assert (folder / first.name).read_bytes() == first.read_bytes()
    assert current.status == 0, current.out
    assert (tmp_path / "current.pdf").read_bytes() == second.read_bytes()

    # Nothing unnamed in the store: each file there has its record.
    for path in (first, second, figures_wrong, form_wrong):
        assert _in_store(store, path), path.name
        rows = await _rows(pool, plan_id, _digest(path))
        assert [(r["kind"], r["uploaded_by"]) for r in rows] == [
            ("certificate_application", "whjt-kaowu")
        ], path.name
    assert [
        r["accepted"] for r in await _rows(pool, plan_id, _digest(figures_wrong))
    ] == [False]
    for path in (elsewhere, model_refused):
        assert not _in_store(store, path), path.name
        assert await _rows(pool, plan_id, _digest(path)) == []


def _signed_again(path: Path, folder: Path) -> Path:
    """The candidates' sign-in sheet with one sign-in time changed: a new file."""
    book = openpyxl.load_workbook(path)
    book.worksheets[0]["E3"] = "08:12"
    target = folder / path.name.replace("考生签到表", "考生签到表-重传")
    book.save(target)
    return target


@ON_THE_STACK
async def test_a_consistency_report_a_send_back_replaced_stays_fetchable(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
) -> None:
    driver = new_driver
    _, store = resources
    plan_id = driver.plan.plan_id
    files = await start_and_submit(certflow, driver)
    first = await driver.wait_for(
        lambda s: any(o.duty == "consistency_review" for o in s.owed)
    )
    assert first.consistency is not None and first.consistency.report is not None
    sent_back = await certflow(
        *CONTACT, "review", plan_id, "--send-back", "site",
        "--item", "candidate_sign_in", "--reason", "签到表需重新扫描",
    )  # fmt: skip
    assert sent_back.status == 0, sent_back.out
    again = _signed_again(files["candidates"], tmp_path)
    assert (
        await certflow(*SITE, "upload", "candidates", plan_id, str(again))
    ).status == 0
    second = await driver.wait_for(
        lambda s: (
            any(o.duty == "consistency_review" for o in s.owed)
            and s.consistency is not None
            and s.consistency.review_outcome is None
        )
    )
    assert second.consistency is not None and second.consistency.report is not None

    listed = await certflow(*CONTACT, "document", "list", plan_id)
    out = tmp_path / "report-1.xlsx"
    fetched = await certflow(
        *CONTACT, "document", "get", plan_id, "consistency_report",
        "--version", "1", "--out", str(out),
    )  # fmt: skip

    assert listed.status == 0, listed.out
    kind = t("document_kinds.consistency_report")
    reports = [
        _cells(line, kind) for line in listed.out.splitlines() if line.startswith(kind)
    ]
    # The same mismatches make the same workbook: two records of it, each
    # report as the plan had it.
    assert [(r[1], r[-1]) for r in reports] == [
        ("1", t("cli.document.superseded")),
        ("2", t("cli.document.current")),
    ], listed.out
    assert reports[0][-2] == first.consistency.report.sha256[:12]
    assert reports[1][-2] == second.consistency.report.sha256[:12]
    assert fetched.status == 0, fetched.out
    assert out.read_bytes() == store.get(first.consistency.report)


def _row(
    kind: DocumentKind, digit: str, version: int | None, accepted: bool = True
) -> StoredDocument:
    at = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)
    ref = DocumentRef(sha256=digit * 64, size=10, filename=f"{digit}.xlsx")
    return StoredDocument(kind, version, ref, "certflow", at, accepted)


def test_reports_are_numbered_and_those_replaced_or_never_used_said_so() -> None:
    report = DocumentKind.CONSISTENCY_REPORT
    rows = [_row(report, "a", None), _row(report, "b", None), _row(report, "c", None)]
    held = rows[1].ref

    documents = plan_documents(rows, {report: held}, {})
    unheld = plan_documents(rows[:1], {}, {})

    assert [(d.version, d.state) for d in documents] == [
        (1, DocumentState.SUPERSEDED),
        (2, DocumentState.CURRENT),
        # Made, then the plan was cancelled before it went by it.
        (3, DocumentState.NOT_USED),
    ]
    assert [d.state for d in unheld] == [DocumentState.NOT_USED]
    assert find(documents, report, 1) == documents[0]


def test_a_held_scan_from_before_is_listed_beside_a_refused_send_of_it() -> None:
    """A scan the plan took before scans were recorded, sent again in an
    application then refused: the refusal is listed, and the scan the plan
    goes by still is, from the state."""
    application = DocumentKind.CERTIFICATE_APPLICATION
    refused = _row(application, "d", None, accepted=False)

    documents = plan_documents([refused], {application: refused.ref}, {})

    assert [(d.version, d.state) for d in documents] == [
        (None, DocumentState.REFUSED),
        (None, DocumentState.CURRENT),
    ]


@ON_THE_STACK
async def test_any_upload_refused_unread_is_recorded_or_taken_back(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
) -> None:
    """A plan's own party refused for what it sent has the file listed as
    refused; a file from someone else, or for no plan, leaves the store."""
    driver = new_driver
    pool, store = resources
    plan_id = await _started(certflow, driver)
    signed = _scan(tmp_path, "成绩汇总表签字页.pdf")
    misplaced = _scan(tmp_path, "站点误传.pdf")
    nowhere = _scan(tmp_path, "无此计划.pdf")

    unknown_signer = await certflow(
        *LEAD, "upload", "scan", plan_id, str(signed), "--signed-by", "ZCX-E-9999"
    )
    wrong_role = await certflow(*SITE, "upload", "scan", plan_id, str(misplaced))
    no_plan = await certflow(
        *LEAD, "upload", "scan", "P2099-0000-0000", str(nowhere), "--signed-by",
        "ZCX-E-0107",
    )  # fmt: skip
    listed = await certflow(*LEAD, "document", "list", plan_id)

    assert [unknown_signer.status, wrong_role.status, no_plan.status] == [2, 2, 2]
    _, version, _, _, by, _, _, state = _cells(listed.out, signed.name)
    assert (version, by) == (t("cli.document.unknown"), "考评组长 ZCX-E-0107")
    assert state == t("cli.document.refused", count=1)
    rows = await _rows(pool, plan_id, _digest(signed))
    assert [(r["kind"], r["accepted"]) for r in rows] == [
        ("signed_summary_scan", False)
    ]
    for path in (misplaced, nowhere):
        assert not _in_store(store, path), path.name
        assert path.name not in listed.out


@ON_THE_STACK
async def test_a_file_mended_by_an_upload_refused_unread_stays_in_the_store(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
) -> None:
    """Regression: the way to mend a file damaged in the store is to upload it
    again. Sent by someone the plan refuses (another lead evaluator than the
    plan's; a role that uploads no scan is refused before anything is
    stored), the upload wrote the good bytes and the staff tool then took the
    file it had written back out of the store: the records naming the scan
    named a file that was gone. A file is taken back only where no record
    names it."""
    driver = new_driver
    _, store = resources
    plan_id = await _started(certflow, driver)
    signed = _scan(tmp_path, "成绩汇总表签字页.pdf")
    accepted = await certflow(
        *LEAD, "upload", "scan", plan_id, str(signed), "--signed-by", "ZCX-E-0107"
    )
    assert accepted.status == 0, accepted.out
    ref = DocumentRef(sha256=_digest(signed), size=signed.stat().st_size)
    store.path_of(ref).write_bytes(b"damaged on disk")

    another_lead = ["--as", "lead_evaluator", "--person", "ZCX-E-0288"]
    mended = await certflow(
        *another_lead, "upload", "scan", plan_id, str(signed), "--signed-by",
        "ZCX-E-0107",
    )  # fmt: skip

    assert mended.status == 2
    assert store.get(ref) == signed.read_bytes()
