"""Staff fetch a plan's stored files: ``certflow document list`` and ``get``.

Trial: files went into the document store and no command gave them back. The
mail telling finance of an application leaves out a scan too large to mail,
and finance then had no way to see it; reviewers saw only what mails attach.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from activities.documents import DocumentStore
from certflow.config import Settings
from certflow.i18n import t
from certflow.models import DocumentKind, DocumentRef, Role
from certflow.plan_documents import (
    DocumentState,
    StoredDocument,
    Upload,
    find,
    plan_documents,
    readers,
)
from starter.cli import Context
from starter.sample_plan import sample_invoice_form
from tests import support
from tests.cli.conftest import Certflow
from tests.support import SCAN_PDF, PlanDriver, empty_workbook, mails_of
from workflows import ExamPlanWorkflow as wf

pytestmark = pytest.mark.timeout(120)
ON_THE_STACK = pytest.mark.asyncio(loop_scope="session")

LEAD = ["--as", "lead_evaluator", "--person", "ZCX-E-0107"]
OTHER_LEAD = ["--as", "lead_evaluator", "--person", "ZCX-E-0999"]
SITE = ["--as", "site", "--person", "whjt-kaowu", "--site", "HB-WH-0031"]
OTHER_SITE = ["--as", "site", "--person", "other-kaowu", "--site", "HB-WH-0099"]
CONTACT = ["--as", "regional_contact", "--person", "rc-zhang"]
EVALUATOR = ["--as", "evaluator", "--person", "ZCX-E-0213"]
FINANCE = ["--as", "finance", "--person", "fin-sun"]


def _line(out: str, *parts: str) -> str:
    """The one line of ``out`` holding every part; fails naming what it saw."""
    lines = [line for line in out.splitlines() if all(p in line for p in parts)]
    assert len(lines) == 1, f"{parts} in {out}"
    return lines[0]


def _cells(out: str, *parts: str) -> list[str]:
    """The columns of the one line of ``out`` holding every part."""
    return re.split(r"\s{2,}", _line(out, *parts).strip())


def _signed_again(path: Path, folder: Path) -> Path:
    """The candidates' sign-in sheet with one sign-in time corrected: a new file."""
    book = openpyxl.load_workbook(path)
    book.worksheets[0]["E3"] = "08:10"
    target = folder / path.name.replace("考生签到表", "考生签到表-更正")
    book.save(target)
    return target


async def _summary_uploaded(driver: PlanDriver) -> Path:
    """Start the plan and have its lead evaluator's summary accepted: version 1."""
    await driver.start()
    path = driver.files["summary"]
    result = await driver.upload(wf.upload_score_summary, support.LEAD, path)
    assert result.accepted, result.problems
    return path


async def _fetches(pool: Any, plan_id: str) -> list[Any]:
    return list(
        await pool.fetch(
            "SELECT role, person, details FROM audit"
            " WHERE plan_id = $1 AND action = 'fetch_document' ORDER BY id",
            plan_id,
        )
    )


@ON_THE_STACK
async def test_the_list_shows_every_version_and_get_writes_the_one_asked_for(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    driver = new_driver
    pool, _ = resources
    summary = await _summary_uploaded(driver)
    plan_id = driver.plan.plan_id
    first = driver.files["candidates"]
    second = _signed_again(first, tmp_path)
    for path in (first, second):
        assert (
            await driver.upload(wf.upload_candidate_sign_in, support.SITE, path)
        ).accepted
    refused = await driver.upload(
        wf.upload_candidate_sign_in, support.SITE, empty_workbook(tmp_path)
    )
    assert not refused.accepted

    listed = await certflow(*CONTACT, "document", "list", plan_id)

    assert listed.status == 0, listed.out
    assert t("cli.document.heading", plan_id=plan_id, count=4) in listed.out
    kind, version, _, _, by, _, _, state = _cells(listed.out, summary.name)
    assert (kind, version, by) == ("成绩汇总表", "1", "考评组长 ZCX-E-0107")
    assert state == t("cli.document.current")
    _, version, _, _, by, _, _, state = _cells(listed.out, first.name)
    assert (version, by) == ("1", "考核站点 whjt-kaowu")
    assert state == t("cli.document.superseded")
    _, version, _, _, _, _, digest, state = _cells(listed.out, second.name)
    assert (version, state) == ("2", t("cli.document.current"))
    assert digest == driver.store.put_file(second).sha256[:12]
    problems = refused.problem_count
    assert "empty.xlsx" in _line(listed.out, t("cli.document.refused", count=problems))
    assert "candidate_sign_in（考生签到表）" in listed.out  # what the contact may get

    # The current version, under its recorded name, in the current folder.
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    current = await certflow(*CONTACT, "document", "get", plan_id, "candidate_sign_in")
    # An older version, where --out says.
    chosen = await certflow(
        *CONTACT, "document", "get", plan_id, "candidate_sign_in",
        "--version", "1", "--out", str(tmp_path / "v1.xlsx"),
    )  # fmt: skip
    no_such = await certflow(
        *CONTACT, "document", "get", plan_id, "candidate_sign_in", "--version", "3"
    )

    assert current.status == 0, current.out
    written = here / second.name
    assert written.read_bytes() == second.read_bytes()
    assert str(written) in current.out
    assert chosen.status == 0, chosen.out
    assert (tmp_path / "v1.xlsx").read_bytes() == first.read_bytes()
    for path in (written, tmp_path / "v1.xlsx"):
        # Personal data: readable by the one who fetched it only.
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert no_such.status == 2
    assert "已有：1、2" in no_such.out

    # A file there is not replaced unless asked.
    written.write_bytes(b"my notes")
    kept = await certflow(*CONTACT, "document", "get", plan_id, "candidate_sign_in")
    replaced = await certflow(
        *CONTACT, "document", "get", plan_id, "candidate_sign_in", "--overwrite"
    )

    assert kept.status == 2
    assert t("cli.document.exists", path=written) in kept.out
    assert replaced.status == 0, replaced.out
    assert written.read_bytes() == second.read_bytes()
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    # Every copy made is on record, with who made it; the refused one is not.
    fetches = await _fetches(pool, plan_id)
    assert [(f["role"], f["person"]) for f in fetches] == [
        ("regional_contact", "rc-zhang")
    ] * 3
    assert [f["details"]["version"] for f in fetches] == ["2", "1", "2"]
    assert {f["details"]["kind"] for f in fetches} == {"candidate_sign_in"}


@ON_THE_STACK
async def test_a_damaged_or_missing_file_is_named_and_nothing_is_written(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    driver = new_driver
    pool, store = resources
    path = await _summary_uploaded(driver)
    plan_id = driver.plan.plan_id
    ref = store.put_file(path)  # the summary's own bytes: no other plan's file
    out = tmp_path / "fetched.xlsx"
    fetch = (*LEAD, "document", "get", plan_id, "score_summary", "--out", str(out))

    store.path_of(ref).write_bytes(b"damaged on disk")
    try:
        damaged = await certflow(*fetch)
        damaged_said = capsys.readouterr().err
        store.path_of(ref).unlink()
        missing = await certflow(*fetch)
        missing_said = capsys.readouterr().err
        # Trial: a folder in its place was a traceback (IsADirectoryError).
        store.path_of(ref).mkdir()
        unreadable = await certflow(*fetch)
        unreadable_said = capsys.readouterr().err
        store.path_of(ref).rmdir()
    finally:
        store.put_file(path)  # mended, as an upload of the same file mends it
    mended = await certflow(*fetch)

    assert damaged.status == 1
    assert "成绩汇总表第 1 版" in damaged_said and "已损坏" in damaged_said
    assert str(store.path_of(ref)) in damaged_said
    assert missing.status == 1
    assert "找不到" in missing_said and ref.sha256 in missing_said
    assert unreadable.status == 1
    assert unreadable_said == missing_said
    assert str(store.path_of(ref)) in unreadable_said
    assert mended.status == 0, mended.out
    assert out.read_bytes() == path.read_bytes()
    # Only the good copy was made, and only it is on record.
    assert len(await _fetches(pool, plan_id)) == 1


@ON_THE_STACK
async def test_an_upload_the_store_cannot_take_is_said_with_its_path(
    certflow: Certflow,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A folder where the store keeps the file: said, nothing sent, no traceback."""
    _, store = resources
    path = tmp_path / "考生签到表.xlsx"
    path.write_bytes(b"sign-in sheet " + os.urandom(16).hex().encode())
    place = store.path_of(
        DocumentRef(sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size=0)
    )
    place.mkdir(parents=True)
    try:
        refused = await certflow(
            *SITE, "upload", "candidates", "P2026-0000-0001", str(path)
        )
        said = capsys.readouterr().err
    finally:
        place.rmdir()

    assert refused.status == 1
    assert said.strip() == t("cli.store_unwritable", path=place, file=path)


def _special_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Things that are no regular file, each with how the refusal names it: a
    FIFO, a device node (made only where the test may: as root), and a
    symbolic link to the device (to the FIFO elsewhere). All in ``folder``."""
    fifo = folder / "pipe"
    os.mkfifo(fifo)
    found = {"fifo": (fifo, t("cli.document.node_fifo"))}
    linked = fifo
    device = folder / "null"
    try:
        os.mknod(device, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pass
    else:
        found["device"] = (device, t("cli.document.node_device"))
        linked = device
    link = folder / "link-to-device.xlsx"
    link.symlink_to(linked)
    found["symlink"] = (link, t("cli.document.node_symlink"))
    return found


@ON_THE_STACK
async def test_a_device_pipe_or_link_at_out_is_refused_and_left_as_it_is(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
) -> None:
    """Trial: run as root, ``--out /dev/null --overwrite`` replaced the device
    with a regular file of names and ID numbers (a FIFO likewise): the copy
    went to a temporary file renamed over whatever was there."""
    driver = new_driver
    pool, _ = resources
    await _summary_uploaded(driver)
    plan_id = driver.plan.plan_id
    special = _special_files(tmp_path)

    said = {}
    for name, (path, _) in special.items():
        for overwrite in ([], ["--overwrite"]):
            said[name, bool(overwrite)] = await certflow(
                *LEAD, "document", "get", plan_id, "score_summary",
                "--out", str(path), *overwrite,
            )  # fmt: skip

    for (name, _), outcome in said.items():
        path, what = special[name]
        assert outcome.status == 2, outcome.out
        reason = t("cli.document.not_regular", path=path, what=what)
        assert outcome.out.strip() == t("cli.refused", reason=reason)
    fifo = tmp_path / "pipe"
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    link = special["symlink"][0]
    assert link.is_symlink() and link.readlink() in (tmp_path / "null", fifo)
    if "device" in special:
        assert stat.S_ISCHR((tmp_path / "null").lstat().st_mode)
    # Refused before anything was recorded.
    assert await _fetches(pool, plan_id) == []


@ON_THE_STACK
async def test_a_copy_the_place_does_not_take_leaves_no_record(
    certflow: Certflow, new_driver: PlanDriver, resources: tuple[Any, DocumentStore]
) -> None:
    """Trial: ``--out /proc/x.xlsx`` (a folder that looks writable to root
    but takes no file, as a full disk does not either) was refused after the
    fetch had been recorded in the audit trail: a record of a copy never
    made. The copy is now written before the record, and put in place after."""
    pool, _ = resources
    await _summary_uploaded(new_driver)
    plan_id = new_driver.plan.plan_id
    target = Path("/proc") / f"certflow-{plan_id}.xlsx"

    said = await certflow(
        *LEAD, "document", "get", plan_id, "score_summary", "--out", str(target)
    )

    assert said.status == 2, said.out
    reason = t("cli.document.unwritable", path=target)
    assert said.out.strip() == t("cli.refused", reason=reason)
    assert not target.exists()
    assert await _fetches(pool, plan_id) == []


@ON_THE_STACK
async def test_out_ending_in_a_slash_is_a_folder_and_an_empty_out_is_refused(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Trial: ``--out newdir/`` wrote a file named ``newdir``; ``--out ''``
    wrote into the current folder without a word."""
    driver = new_driver
    pool, _ = resources
    summary = await _summary_uploaded(driver)
    plan_id = driver.plan.plan_id
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    a_file = tmp_path / "notes"
    a_file.write_bytes(b"my notes")
    fetch = (*LEAD, "document", "get", plan_id, "score_summary", "--out")

    into_new = await certflow(*fetch, f"{tmp_path / 'new' / 'deeper'}/")
    empty = await certflow(*fetch, "")
    empty_said = capsys.readouterr().err
    not_a_folder = await certflow(*fetch, f"{a_file}/")

    assert into_new.status == 0, into_new.out
    folder = tmp_path / "new" / "deeper"
    assert (folder / summary.name).read_bytes() == summary.read_bytes()
    for made in (folder, folder.parent):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700
    assert empty.status == 2
    assert t("cli.out_empty") in empty_said
    assert list(here.iterdir()) == []
    assert not_a_folder.status == 2
    reason = t("cli.document.out_not_folder", path=f"{a_file}/")
    assert not_a_folder.out.strip() == t("cli.refused", reason=reason)
    assert a_file.read_bytes() == b"my notes"
    assert len(await _fetches(pool, plan_id)) == 1


def test_a_report_copy_never_replaces_what_is_not_a_file(
    settings: Settings, tmp_path: Path
) -> None:
    """The copy of a refused upload's annotated report goes into the output
    folder under its recorded name: a pipe or a link there is left as it is,
    and the report is named where the store keeps it."""
    ctx = Context(settings=settings, out=io.StringIO())
    ref = ctx.store.put(os.urandom(32), filename=f"{uuid.uuid4().hex}.xlsx")
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    in_the_way = settings.output_dir / ref.filename
    os.mkfifo(in_the_way)
    try:
        shown = ctx.export(ref)
        kept = stat.S_ISFIFO(in_the_way.lstat().st_mode)
    finally:
        in_the_way.unlink()

    assert kept
    assert shown == ctx.store.path_of(ref)


@ON_THE_STACK
async def test_only_the_plans_own_parties_and_roles_needing_a_file_reach_it(
    certflow: Certflow, new_driver: PlanDriver, tmp_path: Path
) -> None:
    driver = new_driver
    path = await _summary_uploaded(driver)
    plan_id = driver.plan.plan_id
    out = ["--out", str(tmp_path / "summary.xlsx")]

    own_site = await certflow(*SITE, "document", "list", plan_id)
    other_site = await certflow(*OTHER_SITE, "document", "list", plan_id)
    other_site_get = await certflow(
        *OTHER_SITE, "document", "get", plan_id, "score_summary", *out
    )
    other_lead = await certflow(
        *OTHER_LEAD, "document", "get", plan_id, "score_summary", *out
    )
    evaluator = await certflow(*EVALUATOR, "document", "list", plan_id)
    unknown = await certflow(*CONTACT, "document", "list", "P2099-0000-0000")
    finance = await certflow(*FINANCE, "document", "get", plan_id, "score_summary")
    nothing_yet = await certflow(
        *SITE, "document", "get", plan_id, "candidate_sign_in", *out
    )

    assert own_site.status == 0, own_site.out
    assert path.name in own_site.out
    for refused in (other_site, other_site_get):
        assert refused.status == 2
        assert t("plan.wrong_site", plan_id=plan_id) in refused.out
        assert path.name not in refused.out
    assert other_lead.status == 2
    assert t("plan.wrong_lead", plan_id=plan_id, lead="ZCX-E-0107") in other_lead.out
    assert evaluator.status == 2
    assert "考评员不能查看考试计划的文件：只有考评组长、考核站点" in evaluator.out
    assert unknown.status == 2
    assert t("cli.plan_not_found", plan_id="P2099-0000-0000") in unknown.out
    assert finance.status == 2
    # Said with who may fetch it.
    assert "财务部不能取回成绩汇总表" in finance.out
    for role in ("考评组长", "考核站点", "考务部区域联系人", "信息管理中心"):
        assert role in finance.out
    assert nothing_yet.status == 2
    assert t("cli.document.no_document", plan_id=plan_id, kind="考生签到表") in (
        nothing_yet.out
    )
    assert not (tmp_path / "summary.xlsx").exists()


@ON_THE_STACK
async def test_the_lead_evaluator_reaches_the_files_typing_the_id_as_they_please(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
) -> None:
    """Regression (trial): the plan's lead evaluator typing the staff id in
    lower case was refused as another lead evaluator, and in full width (a
    Chinese input method) as no staff id at all. The full-width id is kept in
    half width, its case as typed."""
    path = await _summary_uploaded(new_driver)
    plan_id = new_driver.plan.plan_id

    for n, person in enumerate(("zcx-e-0107", "ＺＣＸ－Ｅ－０１０７")):
        lead = ["--as", "lead_evaluator", "--person", person]
        listed = await certflow(*lead, "document", "list", plan_id)
        out = tmp_path / f"summary-{n}.xlsx"
        fetched = await certflow(
            *lead, "document", "get", plan_id, "score_summary", "--out", str(out)
        )

        assert listed.status == 0, listed.out
        assert path.name in listed.out
        assert fetched.status == 0, fetched.out
        assert out.read_bytes() == path.read_bytes()
    fetches = await _fetches(resources[0], plan_id)
    assert [row["person"] for row in fetches] == ["zcx-e-0107", "ZCX-E-0107"]


@ON_THE_STACK
async def test_finance_fetches_the_application_scan_its_mail_left_out(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, DocumentStore],
    sink_messages: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The known gap: a scan and form above 7 MB leave the scan out of the
    mail, which now says how finance fetches it; finance follows it."""
    driver = new_driver
    pool, _ = resources
    await driver.reach_payment()
    plan_id = driver.plan.plan_id
    scan = tmp_path / "证书申请表.pdf"
    scan.write_bytes(SCAN_PDF + b"\0" * (7 * 1024 * 1024) + plan_id.encode())
    form = tmp_path / "院校发票信息收集表.xlsx"
    form.write_bytes(sample_invoice_form())
    applied = await certflow(
        *SITE, "application", plan_id, "--scan", str(scan),
        "--invoice-form", str(form), "--paid-plan", plan_id, "--head-count", "14",
        "--amount", "4200.00", "--paid-on", (await driver.today()).isoformat(),
    )  # fmt: skip
    assert applied.status == 0, applied.out
    [mail] = await mails_of(sink_messages, plan_id, "application_uploaded")
    assert [a.get_filename() for a in mail.iter_attachments()] == [form.name]
    body = str(mail.get_body(("plain",)).get_content())
    assert f"certflow --as finance document get {plan_id} certificate_application" in (
        body
    )

    listed = await certflow(*FINANCE, "document", "list", plan_id)
    folder = tmp_path / "finance"
    folder.mkdir()
    monkeypatch.chdir(folder)
    fetched = await certflow(
        *FINANCE, "document", "get", plan_id, "certificate_application"
    )

    assert listed.status == 0, listed.out
    application = _line(listed.out, "证书申请表扫描件", scan.name)
    assert "考核站点 whjt-kaowu" in application
    assert t("cli.document.current") in application and "7.0 MB" in application
    assert t("cli.document.current") in _line(listed.out, form.name)
    # What the plan produced is listed too.
    assert t("document_kinds.consistency_report") in listed.out
    assert t("document_kinds.platform_import") in listed.out
    assert fetched.status == 0, fetched.out
    copy = folder / scan.name
    assert copy.read_bytes() == scan.read_bytes()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    [fetch] = await _fetches(pool, plan_id)
    assert (fetch["role"], fetch["person"]) == ("finance", "fin-sun")
    assert fetch["details"]["kind"] == "certificate_application"


def _ref(name: str, digit: str) -> DocumentRef:
    return DocumentRef(sha256=digit * 64, size=10, filename=name)


def _stored(
    kind: DocumentKind, version: int | None, ref: DocumentRef, accepted: bool = True
) -> StoredDocument:
    at = datetime(2026, 12, 20, 1, 0, tzinfo=UTC)
    return StoredDocument(kind, version, ref, "whjt-kaowu", at, accepted)


def test_a_form_read_but_not_taken_and_a_scan_only_the_plan_keeps_are_said_so() -> None:
    """The plan goes by its state: an invoice form intake accepted, whose
    application was then refused, is no current version; the application
    scan, which no table records, is listed from the state."""
    kept, refused_with = _ref("收集表.xlsx", "a"), _ref("收集表-新.xlsx", "b")
    scan = _ref("申请表.pdf", "c")
    at = datetime(2026, 12, 21, 2, 0, tzinfo=UTC)
    invoice = DocumentKind.INVOICE_DETAILS
    application = DocumentKind.CERTIFICATE_APPLICATION

    documents = plan_documents(
        [_stored(invoice, 1, kept), _stored(invoice, 2, refused_with)],
        {invoice: kept, application: scan},
        {},
        {application: Upload(person="whjt-kaowu", at=at)},
    )

    states = {(d.kind, d.version): d.state for d in documents}
    assert states == {
        (application, None): DocumentState.CURRENT,
        (invoice, 1): DocumentState.CURRENT,
        (invoice, 2): DocumentState.NOT_TAKEN,
    }
    current = find(documents, application, None)
    assert current is not None and current.ref == scan
    assert (current.role, current.person, current.at) == (Role.SITE, "whjt-kaowu", at)
    assert find(documents, invoice, None) == find(documents, invoice, 1)
    assert readers(application) == [
        Role.SITE,
        Role.FINANCE,
        Role.GENERAL_MANAGER,
        Role.ADMIN,
    ]
