"""The staff tool against the time-skipping server, a worker and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from temporalio.client import Client

from activities.documents import DocumentStore
from certflow.actions import plan_workflow_id
from certflow.config import Settings
from certflow.i18n import t
from certflow.models import DocumentRef, PlanInfo, Stage
from certflow.plan import REDO_DUTIES, Duty, duties_by_party
from certflow.timeutil import format_deadline
from starter.sample_plan import sample_invoice_form
from tests.cli.conftest import Certflow, certflow_runner
from tests.support import (
    CANDIDATE_SIGN_IN,
    EVALUATOR_SIGN_IN,
    INTAKE,
    SCAN_PDF,
    SUMMARY,
    PlanDriver,
    corrections_refused,
    english_words,
    retitled,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

LEAD = ["--as", "lead_evaluator", "--person", "ZCX-E-0107"]
SITE = ["--as", "site", "--person", "whjt-kaowu", "--site", "HB-WH-0031"]
OTHER_SITE = ["--as", "site", "--person", "other-kaowu", "--site", "HB-WH-0099"]
CONTACT = ["--as", "regional_contact", "--person", "rc-zhang"]
MANAGER = ["--as", "regional_manager", "--person", "rm-wang"]
INFO = ["--as", "info_center", "--person", "ic-li"]
TECH = ["--as", "tech_dept", "--person", "tech-zhao"]
FINANCE = ["--as", "finance", "--person", "fin-sun"]
GM = ["--as", "general_manager", "--person", "gm-chen"]
ADMIN = ["--as", "admin", "--person", "admin-liu"]
SIGNERS = ["ZCX-E-0107", "ZCX-E-0213", "ZCX-E-0288", "ZCX-E-0301"]
REDO_CODES = [d.value for d in REDO_DUTIES]


def start_argv(plan: PlanInfo) -> list[str]:
    """``certflow plan start`` by an admin, with every field of ``plan`` as a flag.

    ``--force``: the date guard reads the wall clock, and the time-skipping
    server's clock (the plan's dates) runs months ahead of it once a test has
    skipped time. The guard itself is tested in ``test_staff_rules``.
    """
    return [
        *ADMIN,
        "plan",
        "start",
        "--force",
        "--plan-id",
        plan.plan_id,
        "--site-code",
        plan.site_code,
        "--site-name",
        plan.site_name,
        "--certificate",
        plan.certificate,
        "--level",
        plan.level.value,
        "--module-code",
        plan.module_code,
        "--module-name",
        plan.module_name,
        "--exam-end",
        plan.exam_end_date.isoformat(),
        "--lead-evaluator",
        plan.lead_evaluator_id,
        "--evaluator",
        *plan.evaluator_ids,
    ]


def sample_files(driver: PlanDriver) -> dict[str, Path]:
    """The intake samples retitled for the driver's plan, and a scan."""
    plan = driver.plan
    scan = driver.tmp / "scan.pdf"
    scan.write_bytes(SCAN_PDF)
    return {
        "summary": retitled(SUMMARY, plan, driver.tmp),
        "candidates": retitled(CANDIDATE_SIGN_IN, plan, driver.tmp),
        "evaluators": retitled(EVALUATOR_SIGN_IN, plan, driver.tmp),
        "scan": scan,
    }


def personal_data(path: Path) -> set[str]:
    """Every name and identity number of a score workbook (to prove none leaks)."""
    found: set[str] = set()
    for sheet in openpyxl.load_workbook(path).worksheets:
        columns: list[int] = []
        for row in sheet.iter_rows(values_only=True):
            if "姓名" in row and "证件号码" in row:
                columns = [row.index("姓名"), row.index("证件号码")]
                continue
            found |= {str(row[i]) for i in columns if row[i]}
    return found


async def start_and_submit(certflow: Certflow, driver: PlanDriver) -> dict[str, Path]:
    """Start the plan and do stage 1 through the command, asserting each answer."""
    plan_id = driver.plan.plan_id
    files = sample_files(driver)
    assert (await certflow(*start_argv(driver.plan))).status == 0
    driver.handle = driver.client.get_workflow_handle_for(
        ExamPlanWorkflow.run, plan_workflow_id(plan_id)
    )

    steps = [
        [*LEAD, "upload", "summary", plan_id, str(files["summary"])],
        [*LEAD, "upload", "scan", plan_id, str(files["scan"]), "--signed-by", *SIGNERS],
        [*SITE, "upload", "candidates", plan_id, str(files["candidates"])],
        [*SITE, "upload", "evaluators", plan_id, str(files["evaluators"])],
        [*SITE, "confirm-summary", plan_id, "--version", "1"],
    ]
    for argv in steps:
        outcome = await certflow(*argv)
        assert outcome.status == 0, outcome.out
    return files


async def test_start_upload_refuse_and_status(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    plan = new_driver.plan
    files = sample_files(new_driver)

    started = await certflow(*start_argv(plan))
    again = await certflow(*start_argv(plan))
    summary = await certflow(
        *LEAD, "upload", "summary", plan.plan_id, str(files["summary"])
    )
    wrong_role = await certflow(
        *LEAD, "upload", "candidates", plan.plan_id, str(files["candidates"])
    )
    wrong_site = await certflow(
        *OTHER_SITE, "upload", "candidates", plan.plan_id, str(files["candidates"])
    )
    no_signers = await certflow(
        *LEAD, "upload", "scan", plan.plan_id, str(files["scan"])
    )
    status = await certflow("status", plan.plan_id)
    raw = await certflow("status", plan.plan_id, "--json")

    assert started.status == 0
    assert plan.plan_id in started.out and t("stages.score_submission") in started.out
    assert again.status == 2
    assert t("cli.plan_exists", plan_id=plan.plan_id) in again.out
    assert summary.status == 0
    assert t("plan.upload_accepted", version=1) in summary.out

    assert wrong_role.status == 2
    assert wrong_role.out.strip() == t(
        "cli.refused",
        reason=t(
            "plan.wrong_role",
            action=t("actions.upload_candidate_sign_in"),
            allowed=t("roles.site"),
        ),
    )
    assert wrong_site.status == 2
    assert t("plan.wrong_site", plan_id=plan.plan_id) in wrong_site.out
    assert no_signers.status == 2
    assert t("plan.no_evaluators_signed") in no_signers.out

    assert status.status == 0
    assert t("stages.score_submission") in status.out
    deadline = format_deadline(plan.exam_end_date + timedelta(days=15))
    for duty in ("signed_scan", "candidate_sign_in", "summary_confirmation"):
        line = next(x for x in status.out.splitlines() if t(f"duties.{duty}") in x)
        assert deadline in line
    owed = status.out.split(t("cli.status.owed"))[1].split("\n\n")[0]
    assert t("duties.signed_scan") in owed
    assert t("duties.score_summary") not in owed
    assert t("actions.upload_score_summary") in status.out  # recent history

    parsed = json.loads(raw.out)
    assert parsed["stage"] == Stage.SCORE_SUBMISSION
    assert parsed["summary"]["candidates"] == 32
    assert parsed["summary"]["passed"] == 14


async def test_refused_upload_lists_masked_problems_and_the_report(
    certflow: Certflow, new_driver: PlanDriver, worker_settings: Settings
) -> None:
    plan = new_driver.plan
    broken = INTAKE / "broken-mixed.xlsx"
    assert (await certflow(*start_argv(plan))).status == 0

    refused = await certflow(*LEAD, "upload", "summary", plan.plan_id, str(broken))

    assert refused.status == 2
    assert refused.out.startswith(t("cli.refused", reason="").rstrip())
    assert "第 6 行" in refused.out  # the wrong check character, where it is
    report = re.search(r"完整报告：(\S+)", refused.out)
    assert report is not None
    # A copy under the worker's file name, in the output folder, opens as a workbook.
    report_file = Path(report.group(1))
    assert report_file.parent == worker_settings.output_dir
    assert report_file.suffix == ".xlsx"
    # It copies the whole sheet, names and ID numbers: for its owner's eyes only.
    modes = [
        os.stat(path).st_mode & 0o777 for path in (report_file, report_file.parent)
    ]
    assert modes == [0o600, 0o700]
    book = await asyncio.to_thread(openpyxl.load_workbook, report_file)
    assert book.worksheets
    leaked = {value for value in personal_data(broken) if value in refused.out}
    assert leaked == set()


async def test_whole_plan_through_the_command(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
) -> None:
    pool, store = resources
    driver = new_driver
    plan_id = driver.plan.plan_id
    files = await start_and_submit(certflow, driver)

    await driver.wait_for(lambda s: any(o.duty == "consistency_review" for o in s.owed))
    early = await certflow(*INFO, "confirm-upload", plan_id)
    review = await certflow(
        *CONTACT, "review", plan_id, "--approve", "--reason", "多签到的一人为旁听人员"
    )
    await driver.wait_for(lambda s: any(o.duty == "score_upload" for o in s.owed))
    upload = await certflow(*INFO, "confirm-upload", plan_id)
    await driver.wait_for(lambda s: s.stage == Stage.AWAITING_PUBLICITY)
    assert early.status == 2 and t("stages.consistency_review") in early.out
    assert review.status == 0 and upload.status == 0
    await driver.open_publicity()

    # Seq 12 asks for practical 60.1: practical, total and result all change.
    submitted = await certflow(
        *INFO,
        "correction",
        "submit",
        plan_id,
        "--admission",
        "2026110412012",
        "--field",
        "practical",
        "--published",
        "50.1",
        "--requested",
        "60.10",
        "--reason",
        "实操成绩录入错误",
        "--requester",
        "武汉市交通职业技术学校",
    )
    found = re.search(r"编号：(\S+)", submitted.out)
    assert submitted.status == 0 and found is not None
    request_id = found.group(1)
    decided = await certflow(
        *MANAGER, "correction", "decide", plan_id, request_id, "--approve"
    )
    applied = await certflow(*INFO, "correction", "apply", plan_id, request_id)
    history = await certflow(
        *MANAGER, "correction", "history", plan_id, "2026110412012"
    )
    nothing = await certflow(*INFO, "correction", "history", plan_id, "2026110412001")

    assert decided.status == 0 and applied.status == 0
    update_file = re.search(r"生成的文件：(\S+)", applied.out)
    assert update_file is not None and update_file.group(1).endswith(".xlsx")
    assert history.status == 0
    rows = [line for line in history.out.splitlines() if request_id in line]
    assert len(rows) == 3
    for label, old, new in (
        (t("cli.fields.practical"), "50.10", "60.10"),
        (t("cli.fields.total"), "59.70", "66.70"),
        (t("cli.fields.passed"), "不合格", "合格"),
    ):
        assert any(
            label in r and old in r and new in r and "ic-li" in r for r in rows
        ), (label, history.out)
    assert all("实操成绩录入错误" in r for r in rows)
    assert english_words(history.out, "ic-li") == []
    assert not {v for v in personal_data(files["summary"]) if v in history.out}
    assert t("cli.history_empty", admission="2026110412001", plan_id=plan_id) in (
        nothing.out
    )

    # Publicity runs out on its timer; then payment, invoice and both sign-offs.
    await driver.skip(15)
    await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    today = (await driver.today()).isoformat()
    application = tmp_path / "application.pdf"
    application.write_bytes(SCAN_PDF)
    invoice_form = tmp_path / "院校发票信息收集表.xlsx"
    invoice_form.write_bytes(sample_invoice_form())
    steps = [
        [
            *SITE,
            "application",
            plan_id,
            "--scan",
            str(application),
            "--invoice-form",
            str(invoice_form),
            "--paid-plan",
            plan_id,
            # The correction above made one more candidate pass: 15 × 300 yuan.
            "--head-count",
            "15",
            "--amount",
            "4500.00",
            "--paid-on",
            today,
            "--method",
            "银行转账",
        ],
        [*FINANCE, "payment", plan_id, "--amount", "4500.00", "--received-on", today],
        # The invoice is for the amount received, not the plan's first 4200.
        [
            *FINANCE,
            "invoice",
            plan_id,
            "--number",
            "12345678",
            "--date",
            today,
            "--amount",
            "4500.00",
        ],
        [*TECH, "org-signoff", plan_id],
        [*SITE, "site-signoff", plan_id, "--platform-plan-id", plan_id],
    ]
    mismatch = await certflow(
        *FINANCE, "payment", plan_id, "--amount", "4100.00", "--received-on", today
    )
    assert mismatch.status == 2  # before the application: refused, nothing kept
    # Paying for the 14 who passed before the correction does not add up: the
    # site is refused at upload with the head count it should give.
    stale = {"15": "14", "4500.00": "4200.00"}
    wrong = await certflow(*[stale.get(a, a) for a in steps[0]])
    assert wrong.status == 2, wrong.out
    assert "应为 15 人" in wrong.out and "相差 -1 人" in wrong.out
    assert t("plan.application_mismatch_to_site") in wrong.out
    assert any(o.duty == "application" for o in (await driver.status()).owed)
    invoice_refusals = []
    for argv in steps:
        if argv[len(FINANCE)] == "invoice":
            # Another amount than the one received, or a date still to come:
            # refused with the reason, nothing recorded.
            wrong = [*argv[:-1], "4200.00"]
            future = [a if a != today else "2099-01-01" for a in argv]
            invoice_refusals = [await certflow(*wrong), await certflow(*future)]
        outcome = await certflow(*argv)
        assert outcome.status == 0, (argv, outcome.out)
    await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    by_amount, by_date = invoice_refusals
    assert by_amount.status == 2 and "4500.00" in by_amount.out
    assert "相差 -300.00 元" in by_amount.out and "Traceback" not in by_amount.out
    assert by_date.status == 2 and "开票日期 2099-01-01 晚于今天" in by_date.out

    batch_id = f"B-{plan_id}"
    gathered = await certflow(*TECH, "batch", "gather", "--batch-id", batch_id)
    refused = await certflow(*TECH, "batch", "decide", batch_id, "--approve-all")
    decided = await certflow(*GM, "batch", "decide", batch_id, "--approve-all")
    shown = await certflow("batch", "status", batch_id)
    result = await driver.h.result()

    assert gathered.status == 0 and plan_id in gathered.out
    assert refused.status == 2 and t("roles.general_manager") in refused.out
    assert decided.status == 0
    assert t("cli.batch_closed") in shown.out and plan_id in shown.out
    # The staff ids of who gathered and who decided the batch are codes,
    # not English.
    assert english_words(shown.out + decided.out, "tech-zhao", "gm-chen") == []
    final = await certflow("status", plan_id)
    assert t("actions.approve_batch") in final.out
    staff = ("rc-zhang", "ic-li", "rm-wang", "fin-sun", "tech-zhao", "gm-chen")
    assert english_words(final.out, *staff, "whjt-kaowu", Stage.ISSUED.value) == []
    # 14 passed, and the corrected candidate now passes too.
    assert result.stage == Stage.ISSUED and result.certificates_issued == 15
    restarted = await certflow(*start_argv(driver.plan))
    regathered = await certflow(*TECH, "batch", "gather", "--batch-id", batch_id)
    assert restarted.status == 2 and regathered.status == 2  # ids are for ever
    # Issued and invoiced, the plan has ended, and says so as it is (trial: it
    # was told "cancelled, or issued and invoiced").
    corrected = await certflow(
        *FINANCE, "invoice", plan_id, "--number", "87654321", "--date", today,
        "--amount", "4500.00", "--correct", "--reason", "号码录错",
    )  # fmt: skip
    assert corrected.status == 2
    assert t("cli.plan_closed_issued", plan_id=plan_id) in corrected.out
    # The tech dept is not told to contact itself (trial: issue-again on the
    # ended plan said …请联系技术部处理记录), but what it can do.
    again = await certflow(*TECH, "issue-again", plan_id)
    assert again.status == 2
    assert "联系技术部" not in again.out
    assert t("cli.plan_closed_issued_tech", plan_id=plan_id) in again.out

    # One issued certificate, checked offline with the configured key.
    row = await pool.fetchrow(
        "SELECT number, pdf_sha256, name, id_number FROM certificates "
        "WHERE plan_id = $1 LIMIT 1",
        plan_id,
    )
    pdf = store.path_of(DocumentRef(sha256=row["pdf_sha256"], size=0))
    verified = await certflow("verify", str(pdf))
    assert verified.status == 0
    assert row["number"] in verified.out
    assert row["name"] not in verified.out and row["id_number"] not in verified.out

    stranger = tmp_path / "stranger.pem"
    created = await certflow("keys", "create", "--out", str(stranger))
    twice = await certflow("keys", "create", "--out", str(stranger))
    foreign = await certflow(
        "verify", str(pdf), "--public-key", str(tmp_path / "stranger.pub.pem")
    )
    assert created.status == 0 and stranger.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "stranger.pub.pem").stat().st_mode & 0o777 == 0o600
    assert twice.status == 2
    assert foreign.status == 5 and row["number"] in foreign.out
    not_a_certificate = await certflow("verify", str(application))
    assert not_a_certificate.status == 6


async def test_a_rejected_plan_is_sent_back_to_redo_its_application(
    certflow: Certflow, new_driver: PlanDriver, tmp_path: Path
) -> None:
    """Regression: ``batch decide --reject`` left the plan waiting for the next
    batch unchanged: the site could not send a clearer application, and the
    tool had no way to say what was to be redone."""
    driver = new_driver
    plan_id = driver.plan.plan_id
    await driver.reach_approval()
    batch_id = f"B-{plan_id}"
    gathered = await certflow(*TECH, "batch", "gather", "--batch-id", batch_id)
    assert gathered.status == 0 and plan_id in gathered.out, gathered.out
    await driver.wait_gathered(batch_id)
    decide = [*GM, "batch", "decide", batch_id]
    reject = ["--reject", f"{plan_id}=缴费凭证不清晰"]

    # Refused with the reason, nothing decided: a duty of another stage, a
    # return of a plan approved.
    invoice = await certflow(*decide, *reject, "--return", f"{plan_id}=invoice")
    approved = await certflow(
        *decide, "--approve", plan_id, "--return", f"{plan_id}=application"
    )
    assert invoice.status == 2
    assert "invoice（开具发票）" in invoice.out
    assert "application（缴费并上传证书申请表及院校发票信息收集表）" in invoice.out
    assert approved.status == 2
    assert t("batch.return_not_rejected", plan_id=plan_id) in approved.out
    assert english_words(invoice.out + approved.out, "invoice", *REDO_CODES) == []

    decided = await certflow(*decide, *reject, "--return", f"{plan_id}=application")
    assert decided.status == 0, decided.out
    redo = [Duty.APPLICATION, Duty.PAYMENT_CHECK, Duty.SITE_SIGNOFF]
    assert t("cli.batch_returned", items=duties_by_party(redo)) in decided.out
    # Who decided is said under who gathered, as the batch's row keeps it.
    decider = t("cli.batch_decided_by", who=f"{t('roles.general_manager')} gm-chen")
    assert decider in decided.out.splitlines()
    assert english_words(decided.out, "tech-zhao", "gm-chen") == []
    status = await driver.wait_for(lambda s: s.stage == Stage.PAYMENT_AND_SIGNOFF)
    # Owed now: the application; what rests on it waits for it.
    owed = {o.duty for o in status.owed}
    assert Duty.APPLICATION in owed
    assert not owed & {Duty.PAYMENT_CHECK, Duty.SITE_SIGNOFF}
    # The old figures still show, said to be the old ones.
    shown = await certflow("status", plan_id)
    line = next(x for x in shown.out.splitlines() if "4200.00" in x)
    assert line.endswith(t("cli.status.payment_superseded"))

    # The site sends its clearer application; finance and the site go again.
    today = (await driver.today()).isoformat()
    application = tmp_path / "application-2.pdf"
    application.write_bytes(SCAN_PDF)
    steps = [
        [*SITE, "application", plan_id, "--scan", str(application),
         "--paid-plan", plan_id, "--head-count", "14", "--amount", "4200.00",
         "--paid-on", today],
        [*FINANCE, "payment", plan_id, "--amount", "4200.00", "--received-on", today],
        [*SITE, "site-signoff", plan_id, "--platform-plan-id", plan_id],
    ]  # fmt: skip
    for argv in steps:
        outcome = await certflow(*argv)
        assert outcome.status == 0, (argv, outcome.out)
    await driver.wait_for(lambda s: s.stage == Stage.AWAITING_APPROVAL)
    shown = await certflow("status", plan_id)
    assert t("cli.status.payment_superseded") not in shown.out


async def test_who_acts_must_be_said(certflow: Certflow) -> None:
    missing = await certflow("confirm-upload", "P2026-0000-0001")
    # A command sites run (another role is refused as such first).
    site_without_code = await certflow(
        "--as", "site", "--person", "x", "confirm-summary", "P2026-0000-0001"
    )
    unknown = await certflow(*TECH, "org-signoff", "P2026-0000-0001")
    no_status = await certflow("status", "P2026-0000-0001")

    assert missing.status == 2 and t("cli.actor_missing") in missing.out
    assert (
        site_without_code.status == 2 and t("cli.site_missing") in site_without_code.out
    )
    assert unknown.status == 2
    assert t("cli.plan_not_found", plan_id="P2026-0000-0001") in unknown.out
    assert no_status.status == 2


async def test_actor_from_environment(
    certflow: Certflow, new_driver: PlanDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = new_driver.plan
    files = sample_files(new_driver)
    assert (await certflow(*start_argv(plan))).status == 0
    monkeypatch.setenv("CERTFLOW_ROLE", "site")
    monkeypatch.setenv("CERTFLOW_PERSON", "whjt-kaowu")
    monkeypatch.setenv("CERTFLOW_SITE", "HB-WH-0031")

    outcome = await certflow(
        "upload", "candidates", plan.plan_id, str(files["candidates"])
    )

    assert outcome.status == 0, outcome.out
    status = await new_driver.client.get_workflow_handle(
        f"exam-plan-{plan.plan_id}"
    ).query("status")
    assert any(h["person"] == "whjt-kaowu" for h in status["history"])


async def test_unreachable_temporal_says_start_the_stack(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    nowhere = settings.model_copy(
        update={
            "temporal": settings.temporal.model_copy(
                update={"address": f"127.0.0.1:{port}"}
            )
        }
    )

    outcome = await certflow_runner(nowhere, None)("status", "P2026-0000-0001")

    assert outcome.status == 1
    err = capsys.readouterr().err
    assert err.strip() == t("cli.connection", address=f"127.0.0.1:{port}")


async def test_calendar_load_and_show(
    certflow: Certflow, client: Client, tmp_path: Path
) -> None:
    from tests.conftest import TEST_2027

    shown = await certflow("calendar", "show", "2027")
    not_admin = await certflow(*CONTACT, "calendar", "load", str(TEST_2027))
    loaded = await certflow(*ADMIN, "calendar", "load", str(TEST_2027))
    broken_file = tmp_path / "2028.toml"
    broken_file.write_text(
        'year = 2028\nholidays = ["2029-01-01"]\nmakeup_workdays = []\n',
        encoding="utf-8",
    )
    broken = await certflow(*ADMIN, "calendar", "load", str(broken_file))
    unknown = await certflow("calendar", "show", "2031")

    assert shown.status == 0
    assert "2027-01-01" in shown.out
    # As the notice states them: periods with their first and last day.
    assert (
        t("cli.calendar_period", first="2027-02-05", last="2027-02-14", days=10)
        in shown.out
    )
    assert not_admin.status == 2 and t("cli.admin_only") in not_admin.out
    assert loaded.status == 0
    assert t("cli.calendar_stored", year=2027, source="").split("（")[0] in loaded.out
    # The test server has no visibility store: plans recheck on their own.
    assert t("cli.calendar_recheck") in loaded.out
    assert broken.status == 2 and t("cli.calendar_refused") in broken.out
    assert unknown.status == 2 and t("cli.calendar_unknown", year=2031) in unknown.out


async def test_plan_from_file_late_from_the_start(
    certflow: Certflow, new_driver: PlanDriver, tmp_path: Path
) -> None:
    # The exam ended 20 days ago, so every submission duty is already overdue.
    plan = new_driver.plan
    exam_end = plan.exam_end_date - timedelta(days=20)
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(
        f"""
        plan_id = "{plan.plan_id}"
        site_code = "{plan.site_code}"
        site_name = "{plan.site_name}"
        certificate = "{plan.certificate}"
        level = "中级"
        module_code = "{plan.module_code}"
        module_name = "{plan.module_name}"
        exam_end_date = {exam_end.isoformat()}
        lead_evaluator_id = "{plan.lead_evaluator_id}"
        evaluator_ids = {json.dumps(plan.evaluator_ids)}
        """,
        encoding="utf-8",
    )
    # The summary states the exam date of the plan it belongs to.
    dated = plan.model_copy(update={"exam_end_date": exam_end})
    summary = retitled(SUMMARY, dated, tmp_path)

    started = await certflow(
        *ADMIN, "plan", "start", "--force", "--from-file", str(plan_file)
    )
    late = await certflow(*LEAD, "upload", "summary", plan.plan_id, str(summary))
    status = await certflow("status", plan.plan_id)

    assert started.status == 0
    assert late.status == 0 and late.out.startswith(t("cli.late_mark"))
    owed = status.out.split(t("cli.status.owed"))[1].split("\n\n")[0]
    overdue_rows = [
        line for line in owed.splitlines() if t("cli.status.overdue") in line
    ]
    assert len(overdue_rows) == 4  # scan, both sign-ins, the confirmation
    deadline = format_deadline(exam_end + timedelta(days=15))
    assert all(deadline in row for row in overdue_rows)
    assert t("cli.status.overdue") in status.out.splitlines()[3]  # next deadline


async def test_list_says_when_the_server_cannot_search(
    certflow: Certflow, capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = await certflow("list", "--stage", "publicity")

    assert outcome.status == 1
    assert t("cli.list_visibility") in capsys.readouterr().err


async def _to_publicity(
    certflow: Certflow, driver: PlanDriver, *, opened: bool = True
) -> None:
    """Start the plan through the command and bring it to its publicity.

    With ``opened`` the clock moves on to the first publicity day too.
    """
    plan_id = driver.plan.plan_id
    await start_and_submit(certflow, driver)
    await driver.wait_for(lambda s: any(o.duty == "consistency_review" for o in s.owed))
    await certflow(*CONTACT, "review", plan_id, "--approve", "--reason", "旁听人员")
    await driver.wait_for(lambda s: any(o.duty == "score_upload" for o in s.owed))
    await certflow(*INFO, "confirm-upload", plan_id)
    await driver.wait_for(lambda s: s.stage == Stage.AWAITING_PUBLICITY)
    if opened:
        await driver.open_publicity()


def _correction(plan_id: str, field: str, published: str, requested: str) -> list[str]:
    """``correction submit`` for seq 12 of the sample summary (2026110412012)."""
    return [
        *INFO, "correction", "submit", plan_id, "--admission", "2026110412012",
        "--field", field, "--published", published, "--requested", requested,
        "--reason", "成绩录入错误", "--requester", "武汉市交通职业技术学校",
    ]  # fmt: skip


async def test_status_lists_what_the_consistency_review_decides_on(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    """Regression: the mismatches reached staff only through status --json."""
    plan_id = new_driver.plan.plan_id
    files = await start_and_submit(certflow, new_driver)
    await new_driver.wait_for(
        lambda s: any(o.duty == "consistency_review" for o in s.owed)
    )

    # Asked by the one who decides: the mismatches are for the report's readers.
    shown = await certflow(*CONTACT, "status", plan_id)

    assert shown.status == 0
    assert "不一致之处（共 1 处" in shown.out and "--reason" in shown.out
    listed = [line for line in shown.out.splitlines() if line.startswith("  1. ")]
    assert len(listed) == 1
    leaked = {v for v in personal_data(files["summary"]) if v in shown.out}
    assert leaked == set()


async def test_a_second_request_on_a_score_awaiting_its_first_is_refused(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    """Regression: three requests from one published score were all filed, and
    applying the second 'corrected' a score the first had already changed."""
    plan_id = new_driver.plan.plan_id
    await _to_publicity(certflow, new_driver)

    first = await certflow(*_correction(plan_id, "practical", "50.1", "60.10"))
    again = await certflow(*_correction(plan_id, "practical", "50.1", "61"))
    theory = await certflow(*_correction(plan_id, "theory", "82.10", "83"))
    total = await certflow(*_correction(plan_id, "total", "52.5", "60"))
    assert first.status == 0 and theory.status == 0  # different scores: both filed
    assert again.status == 2 and f"{plan_id}-C001" in again.out
    assert "尚未办结" in again.out
    assert total.status == 2  # the total moves with the pending practical
    # Said as what it is: another score, which the total follows.
    assert "实操成绩的更正申请" in total.out and "总成绩随实操成绩而变" in total.out

    request_id = f"{plan_id}-C001"
    await certflow(*MANAGER, "correction", "decide", plan_id, request_id, "--approve")
    assert (
        await certflow(*INFO, "correction", "apply", plan_id, request_id)
    ).status == 0
    stale = await certflow(*_correction(plan_id, "practical", "50.1", "61"))
    fresh = await certflow(*_correction(plan_id, "practical", "60.10", "61"))
    assert stale.status == 2  # its published score is no longer the score
    assert fresh.status == 0


async def test_a_correction_entered_before_publicity_opens_is_refused(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    """Regression: the window is set on the upload's confirmation but opens on
    E+16; a request entered in between was filed."""
    plan_id = new_driver.plan.plan_id
    await _to_publicity(certflow, new_driver, opened=False)
    window = (await new_driver.status()).publicity
    assert window is not None

    early = await certflow(*_correction(plan_id, "practical", "50.1", "60.10"))
    await new_driver.open_publicity()
    on_time = await certflow(*_correction(plan_id, "practical", "50.1", "60.10"))

    assert early.status == 2
    opens = t("plan.correction_before_publicity", opens=window.start_day.isoformat())
    assert early.out.strip() == t("cli.refused", reason=opens)
    assert on_time.status == 0 and f"{plan_id}-C001" in on_time.out


async def test_an_action_a_system_failure_kept_from_the_plan_exits_1(
    certflow: Certflow,
    new_driver: PlanDriver,
    resources: tuple[Any, DocumentStore],
) -> None:
    """Not a refusal (2): nothing was recorded, and the same command may be
    sent again once the system is well."""
    pool, _store = resources
    plan_id = new_driver.plan.plan_id
    await _to_publicity(certflow, new_driver)
    submit = _correction(plan_id, "practical", "50.1", "60.10")
    async with corrections_refused(pool, plan_id):
        failed = await certflow(*submit)
    again = await certflow(*submit)

    assert failed.status == 1
    assert t("plan.action_failed") in failed.out
    assert t("cli.refused", reason="").rstrip() not in failed.out
    assert again.status == 0 and f"{plan_id}-C001" in again.out


async def test_an_id_number_in_an_uploaded_file_name_stays_on_the_staff_machine(
    certflow: Certflow,
    new_driver: PlanDriver,
    client: Client,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
) -> None:
    """Regression: the file name went verbatim into the DocumentRef, and with
    it into the plan's Temporal history and the database: people name a file
    after the candidate, ID number included."""
    pool, _ = resources
    plan = new_driver.plan
    id_number = "421002200506166066"
    named = tmp_path / f"黎芬{id_number}补签.xlsx"
    named.write_bytes(retitled(SUMMARY, plan, tmp_path).read_bytes())
    assert (await certflow(*start_argv(plan))).status == 0

    uploaded = await certflow(*LEAD, "upload", "summary", plan.plan_id, str(named))

    assert uploaded.status == 0, uploaded.out
    history = await client.get_workflow_handle(
        plan_workflow_id(plan.plan_id)
    ).fetch_history()
    recorded = payload_text(json.loads(history.to_json()))
    # The masked name is there (the reference was recorded), the number is not.
    assert "4210**********6066" in recorded
    assert id_number not in recorded
    stored = await pool.fetchval(
        "SELECT filename FROM plan_documents WHERE plan_id = $1", plan.plan_id
    )
    assert stored == "黎芬4210**********6066补签.xlsx"


def payload_text(node: Any) -> str:
    """Every payload of a history (given as JSON), decoded, one per line."""
    if isinstance(node, list):
        return "\n".join(payload_text(item) for item in node)
    if not isinstance(node, dict):
        return ""
    found = []
    for key, value in node.items():
        if key == "data" and isinstance(value, str):
            found.append(base64.b64decode(value).decode("utf-8", "replace"))
        else:
            found.append(payload_text(value))
    return "\n".join(text for text in found if text)
