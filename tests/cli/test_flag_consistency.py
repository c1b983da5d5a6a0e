"""Flags that read alike everywhere in ``certflow`` (a staff trial's findings).

- ``--site`` after ``revoke`` was an unknown argument, hiding the refusal of
  the role that the same command gave without it;
- ``--as 考评组长`` was refused listing the codes only, while the tool names
  roles in Chinese everywhere (and CERTFLOW_ROLE's refusal lists both);
- ``mail show N`` of no such mail exited 1, a wrong argument being 2;
- ``correction history`` took the candidate by position only, while
  ``correction submit`` takes ``--admission``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from mailbox import Maildir
from pathlib import Path
from typing import Any

import pytest

from activities.documents import DocumentStore
from activities.store import PlanStore
from certflow.activity_models import PlanRegistration
from certflow.arguments import named_codes
from certflow.config import Settings
from certflow.i18n import t
from certflow.models import Role
from starter.cli import actor_of, main, parse
from tests.cli.conftest import certflow_runner
from tests.support import sample_plan, unique_plan_id

pytestmark = pytest.mark.timeout(60)

ALL_ROLES = named_codes((r.value for r in Role), "roles.")
REVOKE = ["revoke", "ZCX2027QCYY2000001", "--reason", "测试"]


@pytest.mark.parametrize(
    "argv",
    [
        [*REVOKE, "--as", "site", "--person", "whjt-kaowu", "--site", "HB-WH-0031"],
        ["--site", "HB-WH-0031", *REVOKE, "--as", "site", "--person", "whjt-kaowu"],
        ["--as", "site", *REVOKE, "--site", "HB-WH-0031", "--person", "whjt-kaowu"],
        [*REVOKE, "--as", "考评组长", "--person", "ZCX-E-0107"],
    ],
    ids=["site-after", "site-before", "as-before-site-after", "chinese-role"],
)
def test_revoke_refuses_the_role_wherever_the_acting_flags_are_given(
    argv: list[str], no_acting_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: ``revoke … --site CODE`` answered 无法识别的参数 --site."""
    status = main(argv)

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out.strip() == t("cli.revoke_role", roles="技术部、系统管理员")
    assert captured.err == ""


def test_mailbox_assign_takes_site_after_its_name_and_refuses_the_role(
    no_acting_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["mailbox", "assign", "K1", "P2026-1104-0412", "--admission",
            "2026110412012", "--field", "theory", "--requested", "80",
            "--reason", "核分有误", "--as", "site", "--person", "whjt-kaowu",
            "--site", "HB-WH-0031"]  # fmt: skip

    status = main(argv)

    captured = capsys.readouterr()
    assert status == 2
    assert "--site" not in captured.err
    assert t("mailbox.assign_role") in captured.out + captured.err


@pytest.mark.parametrize(
    ("typed", "code"),
    [("考评组长", "lead_evaluator"), ("技术部", "tech_dept"), (" 考核站点 ", "site")],
)
def test_a_role_is_taken_by_its_chinese_name_in_as_and_the_environment(
    typed: str, code: str, no_acting_env: pytest.MonkeyPatch
) -> None:
    by_flag, _ = parse(["--as", typed, "status", "P1"])
    after, _ = parse(["status", "P1", "--as", typed])
    no_acting_env.setenv("CERTFLOW_ROLE", typed)
    no_acting_env.setenv("CERTFLOW_PERSON", "ZCX-E-0107")
    no_acting_env.setenv("CERTFLOW_SITE", "HB-WH-0031")
    from_env, _ = parse(["status", "P1"])

    assert by_flag.role == after.role == from_env.role == code
    assert actor_of(from_env).role is Role(code)


def test_both_role_refusals_list_each_role_by_code_and_name(
    no_acting_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        parse(["status", "P1", "--as", "考评组"])
    by_flag = capsys.readouterr().err
    no_acting_env.setenv("CERTFLOW_ROLE", "考评组")
    no_acting_env.setenv("CERTFLOW_PERSON", "ZCX-E-0107")
    env_status = main(["status", "P1"])
    from_env = capsys.readouterr().out

    assert exit.value.code == 2
    assert t("cli.bad_role", value="考评组", roles=ALL_ROLES) in by_flag
    assert env_status == 2
    assert from_env.strip() == t("cli.bad_env_role", value="考评组", roles=ALL_ROLES)
    for refusal in (by_flag, from_env):
        assert "lead_evaluator（考评组长）" in refusal


@pytest.mark.parametrize(
    ("argv", "refusal"),
    [
        (["batch", "gather"], "cli.gather_not_allowed"),
        (["notice", "failed"], "cli.notice.admin_only"),
        (
            ["correction", "history", "P1", "2026110412001"],
            "cli.correction_history_not_allowed",
        ),
        (["invoice-details", "P1"], "cli.invoice_details_not_allowed"),
    ],
    ids=["batch-gather", "notice-failed", "correction-history", "invoice-details"],
)
def test_a_site_is_refused_a_command_it_may_not_run_before_asked_for_its_code(
    argv: list[str],
    refusal: str,
    no_acting_env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: ``--as site`` without ``--site`` on ``batch gather`` was told
    to give --site, as if a site could gather once it named itself."""
    status = main(["--as", "site", "--person", "whjt-kaowu", *argv])
    said = capsys.readouterr().out

    assert status == 2
    assert said.strip() == t(refusal, role=t("roles.site"))
    assert t("cli.site_missing") not in said


def test_role_flags_take_the_chinese_name_as_as_does(
    no_acting_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: ``list --owed-by`` and ``notice resend --role`` took codes
    only, while ``--as`` takes the role's Chinese name too."""
    listing, _ = parse(["list", "--owed-by", "财务部"])
    by_code, _ = parse(["list", "--owed-by", " Tech_Dept"])
    resend, _ = parse(
        ["notice", "resend", "42", "--role", "考核站点", "finance", "--role", "技术部"]
    )
    with pytest.raises(SystemExit) as not_a_role:
        parse(["list", "--owed-by", "财务"])
    no_such_role = capsys.readouterr().err
    with pytest.raises(SystemExit) as gets_no_mail:
        parse(["notice", "resend", "42", "--role", "考生"])
    no_mail = capsys.readouterr().err

    assert listing.owed_by == "finance"
    assert by_code.owed_by == "tech_dept"
    assert resend.roles == ["site", "finance", "tech_dept"]
    assert not_a_role.value.code == gets_no_mail.value.code == 2
    assert t("cli.bad_role", value="财务", roles=ALL_ROLES) in no_such_role
    mailed = named_codes(
        (r.value for r in Role if r not in (Role.CANDIDATE, Role.EVALUATOR)),
        "roles.",
    )
    assert t("cli.bad_role", value="考生", roles=mailed) in no_mail


def test_showing_a_mail_that_is_not_there_is_a_wrong_argument(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: ``mail show 999`` exited 1 (the stack not answering)."""
    (tmp_path / "mailbox").mkdir()
    Maildir(tmp_path / "mailbox" / "all", create=True)

    status = main(["mail", "show", "999", str(tmp_path)])

    assert status == 2
    assert "999" in capsys.readouterr().err


async def test_correction_history_takes_the_candidate_by_flag_as_submit_does(
    settings: Settings,
    resources: tuple[Any, DocumentStore],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: ``history PLAN --admission X`` was 无法识别的参数 --admission."""
    pool = resources[0]
    plan = sample_plan(date(2026, 11, 4), unique_plan_id())
    await PlanStore(pool).register_plan(
        PlanRegistration(
            info=plan, workflow_id=f"test-{plan.plan_id}", started_at=datetime.now(UTC)
        )
    )
    await pool.execute(
        """
        INSERT INTO score_history (plan_id, admission_number, module_code, field,
            old_value, new_value, changed_by, changed_at, reason, request_id)
        VALUES ($1, '2026110412012', 'M1', 'theory', '58', '62', 'ic-li', $2,
            '核分有误', NULL)
        """,
        plan.plan_id,
        datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
    )
    certflow = certflow_runner(settings, None)
    info = ["--as", "info_center", "--person", "ic-li"]
    history = [*info, "correction", "history", plan.plan_id]

    positional = await certflow(*history, "2026110412012")
    flagged = await certflow(*history, "--admission", "2026110412012")
    wide = "２０２６１１０４１２０１２"  # the same number, in full width
    both = await certflow(*history, "2026110412012", "--admission", wide)
    differ = await certflow(*history, "2026110412012", "--admission", "2026110412001")
    neither = await certflow(*history)

    assert positional.status == 0 and "核分有误" in positional.out
    assert flagged.status == 0 and flagged.out == positional.out
    assert both.status == 0 and both.out == positional.out
    assert differ.status == 2
    assert differ.out.strip() == t(
        "cli.history_admission_twice", positional="2026110412012", flag="2026110412001"
    )
    assert neither.status == 2
    assert neither.out.strip() == t("cli.history_admission_missing")
