"""What a new staff member met trying the tools: each a message, never a traceback.

A plan for a site nobody can mail, plan files that cannot be read, blank
reasons, counts below one, output cut short by ``head``, an action the plan
did not answer in time, and the mailbox queue's acting person and subjects.
"""

from __future__ import annotations

import asyncio
import io
import os
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from temporalio.client import Client

from activities.documents import DocumentStore
from activities.store import PlanStore
from certflow.actions import ExamPlanInput, plan_workflow_id
from certflow.activity_models import PlanRegistration
from certflow.arguments import shown
from certflow.config import Settings
from certflow.i18n import t
from starter import mailbox_cli
from starter.cli import BROKEN_PIPE
from tests.cli.conftest import Certflow
from tests.cli.test_commands import ADMIN, INFO, start_argv
from tests.cli.test_staff_rules import plan_exists, with_flag
from tests.support import PlanDriver, sample_plan, unique_plan_id
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
ACTING_INFO = ["--as", "info_center", "--person", "ic-li"]
ASSIGN = ["assign", "0123456789ab", "P2026-1", "--admission", "A1",
          "--field", "practical", "--requested", "60"]  # fmt: skip


async def status_of(certflow: Certflow, *argv: str) -> int:
    """The exit status of a command, also when its parser ends it (SystemExit)."""
    try:
        return (await certflow(*argv)).status
    except SystemExit as exit:
        return int(exit.code or 0)


# -- plan start ----------------------------------------------------------------


async def test_a_site_without_a_mail_address_is_not_started(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    argv = with_flag(start_argv(new_driver.plan), "--site-code", "HB-WH-0099")

    outcome = await certflow(*argv)

    assert outcome.status == 2
    assert t("cli.site_not_configured", site_code="HB-WH-0099") in outcome.out
    assert "[site_recipients]" in outcome.out
    assert not await plan_exists(client, new_driver.plan.plan_id)


@pytest.mark.parametrize(
    ("content", "key"),
    [
        (b'plan_id = "P2026-1"\nsite_code = \n', "config.toml_invalid"),
        ('plan_id = "考试"'.encode("gbk"), "config.not_utf8"),
        (b"plan = 5\n", "cli.plan_file_no_table"),
        (None, "cli.file_missing"),
    ],
)
async def test_a_plan_file_that_cannot_be_read_is_named(
    content: bytes | None, key: str, certflow: Certflow, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.toml"
    if content is not None:
        plan_file.write_bytes(content)

    outcome = await certflow(*ADMIN, "plan", "start", "--from-file", str(plan_file))

    assert outcome.status == 2
    kind = t("cli.plan_file")
    expected = t(key, file=kind, path=plan_file, line=2, column=13).split("：")[0]
    assert expected in outcome.out and "Traceback" not in outcome.out


async def test_a_folder_given_as_the_plan_file_is_refused(
    certflow: Certflow, tmp_path: Path
) -> None:
    outcome = await certflow(*ADMIN, "plan", "start", "--from-file", str(tmp_path))

    assert outcome.status == 2
    assert t("cli.file_is_folder", path=tmp_path) in outcome.out


# -- reasons -------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [*INFO, "correction", "decide", "P2026-1", "P2026-1-C001", "--reject",
         "--reason", "   "],
        ["--as", "regional_contact", "--person", "rc-zhang", "review", "P2026-1",
         "--send-back", "site", "--reason", ""],
        [*INFO, "correction", "submit", "P2026-1", "--admission", "A1", "--field",
         "practical", "--requested", "60", "--reason", "\t \u3000"],
        ["--as", "general_manager", "--person", "gm-chen", "batch", "decide", "B1",
         "--reject", "P2026-1=  "],
        ["--as", "admin", "--person", "admin-liu", "revoke", "ZCX2027QCYY2000001",
         "--reason", " "],
        [*ACTING_INFO, "mailbox", *ASSIGN, "--reason", "  "],
        ["--as", "admin", "--person", "admin-liu", "plan", "cancel", "P2026-1",
         "--reason", " \u3000"],
    ],
    ids=["decide", "review", "submit", "batch", "revoke", "mailbox", "cancel"],
)  # fmt: skip
async def test_a_blank_reason_is_refused_wherever_one_is_taken(
    argv: list[str], certflow: Certflow, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await status_of(certflow, *argv)

    # A reason of one plan among several is named with its plan.
    expected = (
        t("cli.reason_blank_for", field="驳回理由（P2026-1）")
        if "batch" in argv
        else t("cli.reason_blank")
    )
    assert status == 2
    assert expected in capsys.readouterr().err


# -- mailbox -------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["-1", "0", "ten"])
async def test_a_mailbox_limit_below_one_is_refused(
    limit: str, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await mailbox_cli.run(["list", "--limit", limit], settings)

    assert status == 2
    assert t("mailbox.bad_limit", value=limit) in capsys.readouterr().err


async def recorded_mail(pool: Any, subject: str) -> str:
    """A mail of the unmatched queue, recorded as the intake records one."""
    key = uuid.uuid4().hex
    await pool.execute(
        """
        INSERT INTO mail_messages (dedupe_key, message_id, sender, subject,
                                   received_at, source_key, status, raw_sha256,
                                   processed_at)
        VALUES ($1, $2, 'kaowu@whjtxx.example.edu.cn', $3, $4, $1, 'unmatched',
                $1, $4)
        """,
        key,
        f"<{key}@example.org>",
        subject,
        datetime.now(UTC),
    )
    return key


async def test_the_mailbox_list_shows_subjects_only_when_asked(
    settings: Settings, resources: tuple[Any, DocumentStore]
) -> None:
    """A subject is what the sender typed, often a candidate's name."""
    subject = "黎芬芳同学实操成绩复核"
    key = await recorded_mail(resources[0], subject)

    # The whole list: other tests' mails may be dated later (their plans run on
    # a skipped clock), so this one need not be the newest.
    plain, shown = io.StringIO(), io.StringIO()
    listed = await mailbox_cli.run(["list", "--limit", "100000"], settings, out=plain)
    asked = await mailbox_cli.run(
        ["list", "--limit", "100000", "--subjects"], settings, out=shown
    )

    assert listed == 0 and key[:12] in plain.getvalue()
    assert "黎芬芳" not in plain.getvalue()
    assert t("mailbox.header_subject") not in plain.getvalue()
    assert asked == 0 and subject in shown.getvalue()


async def test_mailbox_assign_acts_as_the_person_given_like_every_command(
    certflow: Certflow,
    settings: Settings,
    resources: tuple[Any, DocumentStore],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--as`` is the role, ``--person`` the staff id, before or after the tool."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.delenv("CERTFLOW_ROLE", raising=False)
    monkeypatch.delenv("CERTFLOW_PERSON", raising=False)
    reason = ["--reason", "电话核实"]

    before = await status_of(certflow, *ACTING_INFO, "mailbox", *ASSIGN, *reason)
    before_out = capsys.readouterr().out
    after = await status_of(certflow, "mailbox", *ASSIGN, *reason, *ACTING_INFO)
    after_out = capsys.readouterr().out
    as_site = await status_of(
        certflow, "--as", "site", "--person", "x", "mailbox", *ASSIGN, *reason
    )
    site_out = capsys.readouterr().out
    nobody = await status_of(
        certflow, "mailbox", *ASSIGN, *reason, "--as", "info_center"
    )
    nobody_out = capsys.readouterr().out
    old_form = await status_of(certflow, "mailbox", *ASSIGN, *reason, "--as", "ic-li")
    old_err = capsys.readouterr().err

    # The info center gets as far as the key (none such here), either way round.
    not_found = t("mailbox.not_found", key=ASSIGN[1])
    assert (before, after) == (2, 2)
    assert not_found in before_out and not_found in after_out
    assert as_site == 2 and t("mailbox.assign_role") in site_out
    assert nobody == 2 and t("mailbox.assign_person") in nobody_out
    assert old_form == 2 and "ic-li" in old_err  # a staff id is no role


# -- output and answers ----------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [["calendar", "show", "2027"], ["mailbox", "list"]],
    ids=["calendar", "mailbox"],
)
async def test_output_into_a_closed_pipe_ends_quietly(
    argv: list[str], settings: Settings, resources: tuple[Any, DocumentStore]
) -> None:
    """``certflow … | head -1``: the reader is gone before the command writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    environment = {**os.environ, "DATABASE_URL": settings.database_url}
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "starter.cli", *argv,
            cwd=ROOT, env=environment, stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
    finally:
        os.close(write_end)
    _, err = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == BROKEN_PIPE, err.decode()
    assert err == b""


async def started_without_worker(
    client: Client, driver: PlanDriver, settings: Settings
) -> str:
    """Start the driver's plan on a task queue no worker polls; its id."""
    plan_id = driver.plan.plan_id
    await client.start_workflow(
        ExamPlanWorkflow.run,
        ExamPlanInput(info=driver.plan, policy=settings.deadlines),
        id=plan_workflow_id(plan_id),
        task_queue=f"nobody-listens-{uuid.uuid4().hex[:8]}",
    )
    return plan_id


async def test_an_unanswered_action_may_still_be_processed(
    certflow: Certflow,
    new_driver: PlanDriver,
    client: Client,
    worker_settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No worker runs the plan: the update waits at the server, maybe to be taken."""
    plan_id = await started_without_worker(client, new_driver, worker_settings)

    outcome = await certflow("--wait", "1", *INFO, "confirm-upload", plan_id)

    assert outcome.status == 1
    check = f"certflow status {plan_id}"
    assert t("cli.update_no_answer", seconds="1", check=check) in (
        capsys.readouterr().err
    )


async def test_a_status_no_worker_answers_says_nothing_was_changed(
    certflow: Certflow,
    new_driver: PlanDriver,
    client: Client,
    worker_settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Trial: ``certflow status`` with no worker told staff to look later with
    ``certflow status`` whether it had been done; a query does nothing."""
    plan_id = await started_without_worker(client, new_driver, worker_settings)

    outcome = await certflow("--wait", "1", "status", plan_id)

    assert outcome.status == 1
    err = capsys.readouterr().err
    assert err.strip() == t("cli.query_no_answer", seconds="1")
    assert "是否已办理" not in err


# -- correction history and wording ------------------------------------------------


async def test_the_correction_history_of_an_unknown_plan_says_it_is_not_found(
    certflow: Certflow,
    resources: tuple[Any, DocumentStore],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: a mistyped plan id answered "no correction records" with exit
    status 0, as if the plan were there and nothing had changed."""
    plan = sample_plan(date(2026, 11, 4), unique_plan_id())
    await PlanStore(resources[0]).register_plan(
        PlanRegistration(
            info=plan, workflow_id=f"test-{plan.plan_id}", started_at=datetime.now(UTC)
        )
    )

    unknown = await certflow(
        *INFO, "correction", "history", "P2026-9999-0001", "2026110412012"
    )
    known = await certflow(
        *INFO, "correction", "history", plan.plan_id, "2026110412012"
    )
    wide = "２０２６１１０４１２０１２"
    full_width = await certflow(*INFO, "correction", "history", plan.plan_id, wide)
    typo = "黎芬 " + "9" * 500
    capsys.readouterr()
    pasted = await certflow(*INFO, "correction", "history", plan.plan_id, typo)
    refused = capsys.readouterr().err

    assert full_width.out == known.out
    # Not an admission number: said so, repeating only the start of it.
    assert pasted.status == 2
    assert t("cli.bad_admission", value=shown(typo), limit=40) in refused
    assert "9" * 50 not in refused
    assert unknown.status == 2
    assert unknown.out.strip() == t("cli.plan_not_found", plan_id="P2026-9999-0001")
    # No score summary accepted: no candidate list, said as such (not "no
    # record" of this one number, which nothing could check).
    assert known.status == 0
    assert known.out.strip() == t("cli.history_no_list", plan_id=plan.plan_id)


async def test_the_regional_contact_is_called_by_one_name_everywhere() -> None:
    """Regression: a refusal said 区域联络人 where the guide and the role name say
    区域联系人 (考务部区域联系人)."""
    assert "区域联系人" in t("roles.regional_contact")
    places = [ROOT / "certflow" / "messages", ROOT / "docs", ROOT / "web"]
    texts = [
        path.read_text(encoding="utf-8")
        for folder in places
        for path in folder.rglob("*")
        if path.suffix in {".toml", ".md", ".html", ".py"}
    ]
    assert all("区域联络人" not in text for text in texts)
    assert "区域联系人" in t("cli.start_not_allowed", role="")


async def test_a_skip_the_training_server_gives_up_is_one_chinese_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression (trial): after a worker run by hand was restarted, the test
    server gave up the skip ("Timeout expired") and `clock advance` ended in
    a traceback."""

    from temporalio.service import RPCError, RPCStatusCode

    from starter import training
    from starter.cli import run

    async def now(client: Any) -> datetime:
        return datetime(2026, 12, 21, 1, tzinfo=UTC)

    async def gives_up(client: Any, by: Any, *, rpc_timeout: Any) -> datetime:
        raise RPCError("Timeout expired", RPCStatusCode.UNKNOWN, b"")

    monkeypatch.setattr(training, "training_now", now)
    monkeypatch.setattr(training, "advance_clock", gives_up)
    out = io.StringIO()

    status = await run(
        ["--as", "admin", "--person", "admin-li", "clock", "advance", "1"],
        client=object(),  # type: ignore[arg-type]
        out=out,
    )

    said = out.getvalue() + capsys.readouterr().err
    assert status == 1
    assert t("cli.clock.skip_failed") in said and "Traceback" not in said


async def test_a_formula_column_without_results_is_one_line_naming_its_rows(
    certflow: Certflow, new_driver: PlanDriver, tmp_path: Path
) -> None:
    """Trial: a summary whose 总成绩 column was formulas saved without their
    results printed the same long advice thirty times, once per cell, and
    without its final 。; the other problems fell past the lines shown. The
    annotated report still marks every cell."""
    driver = new_driver
    await driver.start()
    book = openpyxl.load_workbook(driver.files["summary"])
    sheet = book.worksheets[0]
    for row in range(4, 34):
        sheet[f"I{row}"] = f"=G{row}*0.3+H{row}*0.7"
    sheet["B10"] = None  # and one problem of another kind
    path = tmp_path / "成绩汇总表.xlsx"
    book.save(path)

    outcome = await certflow(
        "--as", "lead_evaluator", "--person", "ZCX-E-0107",
        "upload", "summary", driver.plan.plan_id, str(path),
    )  # fmt: skip

    assert outcome.status == 2
    message = t("intake.formula_without_result")
    assert message.endswith("。")
    listed = [line for line in outcome.out.splitlines() if line.startswith("  ")]
    assert listed[0] == "  1. " + t(
        "cli.problem_group",
        where="工作表“成绩汇总” “总成绩”列 第 4 至 33 行",
        count=30,
        message=message,
    )
    assert listed[1].startswith("  2. 工作表“成绩汇总” 第 10 行 “姓名”列：")
    assert outcome.out.count(message) == 1
    assert t("cli.problems", count=31) in outcome.out
    assert t("cli.problems_more", count=0)[:4] not in outcome.out  # none left out
    # Every cell is still marked in the annotated report.
    [report] = [
        Path(line.split("：", 1)[1])
        for line in outcome.out.splitlines()
        if line.startswith(t("cli.report", path="").rstrip())
    ]
    marked = openpyxl.load_workbook(report).worksheets[0]
    assert all(marked[f"I{row}"].comment for row in range(4, 34))
