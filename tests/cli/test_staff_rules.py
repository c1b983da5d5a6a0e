"""Who may start plans and gather batches, what a new plan must satisfy, and the
offline commands (verify, mail), run as staff run them."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from mailbox import Maildir
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from certflow.actions import (
    ExamPlanInput,
    plan_workflow_id,
)
from certflow.certificates import (
    generate_keypair,
    load_private_key,
    render_pdf,
    sign,
)
from certflow.config import Settings
from certflow.i18n import t
from certflow.privacy import mask_id_number, mask_name, name_initial
from certflow.timeutil import cst_date
from tests.certificates.certificate_samples import make_data
from tests.cli.conftest import Certflow, certflow_runner
from tests.cli.test_commands import ADMIN, GM, LEAD, SITE, TECH, start_argv
from tests.support import (
    PlanDriver,
    english_words,
    run_batch,
    run_python,
    unique_plan_id,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

NAME, ID_NUMBER = "黎芬芳", "42010219990101123X"


def without_force(argv: list[str]) -> list[str]:
    """``start_argv`` with the date guard left on (this module skips no time)."""
    return [arg for arg in argv if arg != "--force"]


def with_flag(argv: list[str], flag: str, value: str) -> list[str]:
    """``argv`` with the value of one flag replaced."""
    changed = list(argv)
    changed[changed.index(flag) + 1] = value
    return changed


async def started_input(client: Client, plan_id: str) -> ExamPlanInput:
    """The input a plan's workflow was started with, read from its history."""
    handle = client.get_workflow_handle(plan_workflow_id(plan_id))
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [value] = await client.data_converter.decode(
        started.input.payloads, [ExamPlanInput]
    )
    assert isinstance(value, ExamPlanInput)
    return value


async def plan_exists(client: Client, plan_id: str) -> bool:
    """Whether a workflow of the plan was started."""
    try:
        await client.get_workflow_handle(plan_workflow_id(plan_id)).describe()
    except RPCError:
        return False
    return True


async def test_repeated_evaluator_flags_add_up(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    argv = start_argv(new_driver.plan)
    argv = argv[: argv.index("--evaluator")]
    argv += ["--evaluator", "E-1", "--evaluator", "E-2", "E-3", "--evaluator", "E-4"]

    outcome = await certflow(*argv)

    assert outcome.status == 0, outcome.out
    info = (await started_input(client, new_driver.plan.plan_id)).info
    assert info.evaluator_ids == ["E-1", "E-2", "E-3", "E-4"]


async def test_only_the_organisation_starts_plans(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    plan_id = new_driver.plan.plan_id
    argv = start_argv(new_driver.plan)[len(ADMIN) :]

    by_site = await certflow(*SITE, *argv)
    by_lead = await certflow(*LEAD, *argv)
    nobody = await certflow(*argv)

    assert by_site.status == 2
    assert t("cli.start_not_allowed", role=t("roles.site")) in by_site.out
    assert by_lead.status == 2
    assert t("cli.start_not_allowed", role=t("roles.lead_evaluator")) in by_lead.out
    assert nobody.status == 2 and t("cli.actor_missing") in nobody.out
    assert not await plan_exists(client, plan_id)

    by_tech = await certflow(*TECH, *argv)
    assert by_tech.status == 0, by_tech.out
    assert await plan_exists(client, plan_id)


async def test_only_the_tech_dept_gathers(certflow: Certflow) -> None:
    batch_id = f"B-{unique_plan_id()}"

    by_site = await certflow(*SITE, "batch", "gather", "--batch-id", batch_id)
    by_admin = await certflow(*ADMIN, "batch", "gather", "--batch-id", batch_id)

    assert by_site.status == 2
    assert t("cli.gather_not_allowed", role=t("roles.site")) in by_site.out
    assert by_admin.status == 0, by_admin.out


async def test_an_empty_batch_is_said_closed_by_every_batch_command(
    certflow: Certflow, client: Client, worker_settings: Settings
) -> None:
    """Regression: gathering said the empty batch was closed, its status said
    it awaited approval, and deciding it said it did not exist.

    A gathering with nothing ready starts no batch now: only one whose plans
    were taken meanwhile (or one the weekly schedule starts) closes empty.
    Started here as the command starts it, with nothing left to gather.
    """
    batch_id = f"B-{unique_plan_id()}"
    await run_batch(client, worker_settings, batch_id)

    status = await certflow(*TECH, "batch", "status", batch_id)
    decided = await certflow(*GM, "batch", "decide", batch_id, "--approve-all")

    closed = t("cli.batch_empty_closed", batch_id=batch_id)
    assert status.status == 0 and closed in status.out, status.out
    assert decided.status == 2 and closed in decided.out, decided.out


async def test_a_plan_without_a_pass_rule_is_refused(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    argv = without_force(start_argv(new_driver.plan))
    unconfigured = with_flag(argv, "--certificate", "智能新能源汽车")
    other_level = with_flag(argv, "--level", "高级")

    refused = await certflow(*unconfigured)
    refused_level = await certflow(*other_level)

    assert refused.status == 2
    assert "智能新能源汽车" in refused.out and "中级" in refused.out
    assert "pass_rules" in refused.out
    assert refused_level.status == 2 and "高级" in refused_level.out
    assert not await plan_exists(client, new_driver.plan.plan_id)


async def test_a_far_exam_end_date_needs_force(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    today = cst_date(datetime.now(UTC))
    argv = without_force(start_argv(new_driver.plan))
    ahead = (today + timedelta(days=61)).isoformat()
    behind = (today - timedelta(days=366)).isoformat()

    too_late = await certflow(*with_flag(argv, "--exam-end", ahead))
    too_early = await certflow(*with_flag(argv, "--exam-end", behind))
    edge = (today + timedelta(days=60)).isoformat()

    assert too_late.status == 2 and ahead in too_late.out and "--force" in too_late.out
    assert too_early.status == 2 and behind in too_early.out
    # An old plan entered late is one reason for --force; a date far ahead is
    # no old plan (trial: it was told "如确为补录的旧考试计划").
    assert "补录的旧考试计划" in too_early.out
    assert "补录" not in too_late.out and "考试结束前后创建" in too_late.out
    assert not await plan_exists(client, new_driver.plan.plan_id)

    forced = await certflow(*with_flag(argv, "--exam-end", behind), "--force")
    assert forced.status == 0, forced.out
    info = (await started_input(client, new_driver.plan.plan_id)).info
    assert info.exam_end_date == date.fromisoformat(behind)
    # The guard's edge is still inside: a plan 60 days ahead is accepted.
    other = with_flag(argv, "--plan-id", unique_plan_id())
    at_edge = await certflow(*with_flag(other, "--exam-end", edge))
    assert at_edge.status == 0, at_edge.out
    await client.get_workflow_handle(
        plan_workflow_id(other[other.index("--plan-id") + 1])
    ).terminate("test finished")


async def test_a_wrong_plan_id_is_named_in_chinese(
    certflow: Certflow, new_driver: PlanDriver
) -> None:
    argv = with_flag(start_argv(new_driver.plan), "--plan-id", "P2026 0001")

    outcome = await certflow(*argv)

    assert outcome.status == 2
    label, shape = t("cli.plan_fields.plan_id"), t("cli.plan_field_shapes.plan_id")
    assert (
        t("cli.plan_field_invalid", field=label, flag="--plan-id", problem=shape)
        in outcome.out
    )
    assert "pattern" not in outcome.out and "String" not in outcome.out


async def test_commands_end_without_aborting_at_shutdown(
    env: WorkflowEnvironment, tmp_path: Path
) -> None:
    # The abort came from interpreter finalisation racing the client's native
    # threads; it showed in about one run of ten, so ten runs must all be clean.
    address = env.client.service_client.config.target_host
    environment = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "CERTFLOW_STATE": str(tmp_path),
    }

    runs = await asyncio.gather(
        *(
            run_python("-m", "starter.cli", "status", "P2026-0000-0001",
                       env=environment)
            for _ in range(10)
        )
    )  # fmt: skip

    expected = t("cli.plan_not_found", plan_id="P2026-0000-0001")
    assert [status for status, _ in runs] == [2] * 10, runs
    assert all(expected in out for _, out in runs)


def certificate_pdf(private_pem: bytes, **changes: object) -> bytes:
    """A certificate of NAME / ID_NUMBER signed with ``private_pem``.

    ``changes`` alter the content after signing, as a forger would.
    """
    data = make_data(name=NAME, id_number=ID_NUMBER)
    signed = sign(data, load_private_key(private_pem))
    if changes:
        signed = signed.model_copy(update={"data": data.model_copy(update=changes)})
    return render_pdf(signed)


async def test_verify_exits_zero_only_for_a_valid_certificate(
    settings: Settings, tmp_path: Path
) -> None:
    certflow = certflow_runner(settings, None)
    private_pem, public_pem = generate_keypair()
    _, stranger_pem = generate_keypair()
    key, stranger = tmp_path / "key.pub.pem", tmp_path / "stranger.pub.pem"
    key.write_bytes(public_pem)
    stranger.write_bytes(stranger_pem)
    genuine, tampered = tmp_path / "genuine.pdf", tmp_path / "tampered.pdf"
    genuine.write_bytes(certificate_pdf(private_pem))
    tampered.write_bytes(certificate_pdf(private_pem, module_name="别的模块"))
    not_pdf = tmp_path / "notes.pdf"
    not_pdf.write_bytes(b"%PDF-1.4\nnot a certificate\n")

    # The key flag comes before the file: it must not swallow it.
    valid = await certflow("verify", "--public-key", str(key), str(genuine))
    two_keys = await certflow(
        "verify", "--public-key", str(stranger), "--public-key", str(key), str(genuine)
    )
    unknown = await certflow("verify", "--public-key", str(stranger), str(genuine))
    altered = await certflow("verify", "--public-key", str(key), str(tampered))
    neither = await certflow("verify", "--public-key", str(key), str(not_pdf))

    assert valid.status == 0, valid.out
    # The name masked as the verification page by number masks it: 黎某, not
    # 黎** (one star a character told the name's length).
    assert name_initial(NAME) in valid.out and mask_id_number(ID_NUMBER) in valid.out
    assert mask_name(NAME) not in valid.out
    assert NAME not in valid.out and ID_NUMBER not in valid.out
    for printed in ("ZCX2026QCYY2000001", "汽车动力与驱动综合分析技术", "中级"):
        assert printed in valid.out
    assert two_keys.status == 0, two_keys.out
    assert unknown.status == 5 and "无法确认证书真伪" in unknown.out
    assert NAME not in unknown.out and name_initial(NAME) not in unknown.out
    assert altered.status == 4 and "别的模块" not in altered.out
    assert neither.status == 6


async def test_mail_list_reads_the_state_named_by_the_environment(
    certflow: Certflow,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    message = EmailMessage()
    message["From"] = "certflow@certflow.example.org"
    message["To"] = "kaowu@whjtxx.example.edu.cn"
    message["Subject"] = "Mail in the state named by CERTFLOW_STATE"
    message.set_content("body")
    (tmp_path / "mailbox").mkdir()
    Maildir(tmp_path / "mailbox" / "all", create=True).add(message)
    monkeypatch.chdir(tmp_path.parent)  # no .state here, wherever the tests run
    monkeypatch.setenv("CERTFLOW_STATE", str(tmp_path))

    listed = await certflow("mail", "list")
    listed_out = capsys.readouterr().out
    shown = await certflow("mail", "show", "1")
    shown_out = capsys.readouterr().out
    missing = await certflow("mail", "show", "2")
    missing_err = capsys.readouterr().err

    assert listed.status == 0
    assert "Mail in the state named by CERTFLOW_STATE" in listed_out
    # The reader speaks Chinese like the rest of the tool.
    assert f"{t('mail_reader.subject')}：Mail in the state" in listed_out
    assert shown.status == 0 and f"{t('mail_reader.envelope_to')}：" in shown_out
    without_mail = listed_out
    for header in ("Subject", "From", "To"):
        without_mail = without_mail.replace(str(message[header]), "")
    assert english_words(without_mail) == []
    # No such mail is a wrong argument (exit 2), as the staff guide's table says.
    assert missing.status == 2
    folder = str(tmp_path / "mailbox" / "all")
    assert missing_err.strip().startswith(folder) and "共 1 封" in missing_err
    reply = missing_err.replace(folder, "")
    assert english_words(reply, "certflow", "mail", "list") == []


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--lead-evaluator", ""), ("--site-name", "   "), ("--module-name", "")],
)
async def test_a_plan_without_a_lead_evaluator_or_a_name_is_not_started(
    flag: str, value: str, certflow: Certflow, new_driver: PlanDriver
) -> None:
    """Regression: an empty lead evaluator started a plan nobody could upload to."""
    argv = start_argv(new_driver.plan)
    argv[argv.index(flag) + 1] = value

    refused = await certflow(*argv)

    assert refused.status == 2
    assert f"（{flag}）" in refused.out  # names the flag to fix, in Chinese
    listed = await certflow("status", new_driver.plan.plan_id)
    assert listed.status == 2  # no such plan


async def test_verify_refuses_a_file_far_too_big_to_be_a_certificate(
    certflow: Certflow, tmp_path: Path
) -> None:
    """Regression: a 1 GB file was read whole (seconds, gigabytes of memory)."""
    huge = tmp_path / "huge.pdf"
    with huge.open("wb") as handle:
        handle.truncate(11 * 2**20)  # sparse: no disk is spent
    key = tmp_path / "key.pub.pem"
    key.write_bytes(generate_keypair()[1])

    refused = await certflow("verify", str(huge), "--public-key", str(key))

    assert refused.status == 6
    assert "不是本机构签发的电子证书" in refused.out and "10 MB" in refused.out


async def test_verify_calls_a_truncated_certificate_damaged_without_english_noise(
    certflow: Certflow, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    private_pem, public_pem = generate_keypair()
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(certificate_pdf(private_pem)[:4000])
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem)

    result = await certflow("verify", str(cut), "--public-key", str(key))

    assert result.status != 0
    assert "已损坏" in result.out
    # pypdf's own English warnings would print on the staff member's terminal.
    assert [r for r in caplog.records if r.name.startswith("pypdf")] == []


@pytest.mark.parametrize("wait", ["-1", "0", "abc", "nan"])
async def test_a_wait_that_is_no_positive_number_is_a_usage_error(
    wait: str, certflow: Certflow, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: --wait -1 was accepted and answered 'No answer within -1 s'."""
    refused = await certflow("--wait", wait, "status", "P2026-1104-0412")
    assert refused.status == 2
    assert "--wait 应是大于 0 的秒数" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--as", "nobody", "status", "P2026-1104-0412"], "“nobody”不是角色"),
        (["status"], "缺少参数 PLAN_ID"),
        (["status", "P2026-1104-0412", "--bogus"], "无法识别的参数 --bogus"),
        (["--wait"], "后面需要一个值"),
    ],
)
async def test_usage_errors_are_said_in_chinese(
    argv: list[str],
    expected: str,
    certflow: Certflow,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: argparse's errors reached staff in English only."""
    refused = await certflow(*argv)
    err = capsys.readouterr().err
    assert refused.status == 2
    assert "参数有误" in err and expected in err
    assert "error:" not in err


async def test_a_value_a_request_refuses_is_explained_in_chinese(
    certflow: Certflow,
) -> None:
    """Regression: the request model's refusals reached staff in pydantic's
    English ("String should have at least 1 character"); nothing is sent."""
    finance = ["--as", "finance", "--person", "fin-sun"]
    invoice = await certflow(
        *finance, "invoice", "P2026-1104-0412", "--number", "12345678", "--date",
        "2026-12-22", "--amount", "0",
    )  # fmt: skip
    correction = await certflow(
        "--as", "info_center", "--person", "ic-li", "correction", "submit",
        "P2026-1104-0412", "--admission", "2026110412012", "--field", "total",
        "--requested", "6" * 17, "--reason", "成绩登记错误",
    )  # fmt: skip

    assert invoice.status == 2 and correction.status == 2
    assert invoice.out.strip() == t("cli.bad_argument", detail="--amount：须大于 0")
    # (A blank --admission is refused by its flag, before the request is made.)
    assert correction.out.strip() == t(
        "cli.bad_argument", detail="--requested：太长，最多 16 个字符"
    )
    assert english_words(invoice.out + correction.out) == []
