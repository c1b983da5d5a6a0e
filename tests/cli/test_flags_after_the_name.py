"""Flags read after a command's name as before it, and roles refused first.

A staff trial's findings:

- ``list --as ROLE`` and ``clock show --as ROLE`` were unknown arguments,
  while every other command takes who acts after its name;
- ``revoke … --wait 5`` was an unknown argument, and a ``--wait`` before
  ``revoke`` was taken and ignored;
- ``payment`` (and every other plan action) asked ``--as site`` for its
  ``--site`` before saying that finance confirms payments;
- ``notice resend --role`` listed every role in its help, candidates and
  evaluators too, though it takes only the roles mails go to.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from certflow.i18n import t
from certflow.models import Role
from starter.cli import STACK_CLOCK_WAIT, build_parser, main, parse
from tests.cli.test_flag_consistency import REVOKE

pytestmark = pytest.mark.timeout(60)

SITE = ["--as", "site", "--person", "whjt-kaowu"]


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--as", "admin", "--person", "admin-liu"],
        ["list", "--overdue", "--as", "系统管理员"],
        ["clock", "show", "--as", "admin", "--person", "admin-liu"],
        ["clock", "show", "--as", "site", "--site", "HB-WH-0031"],
    ],
    ids=["list", "list-chinese-role", "clock-show", "clock-show-site"],
)
def test_list_and_clock_show_take_who_acts_after_their_name(
    argv: list[str], no_acting_env: None
) -> None:
    """Regression: 无法识别的参数 --as admin."""
    args, _ = parse(argv)

    assert args.role in ("admin", "site")


def test_the_site_after_list_picks_plans_and_the_one_before_acts(
    no_acting_env: None,
) -> None:
    """``list``'s own ``--site`` is a filter: taking who acts after its name
    leaves it so."""
    args, _ = parse(["--site", "HB-WH-0031", "list", "--as", "site", "--site", "X1"])

    assert (args.role, args.site, args.filter_site) == ("site", "HB-WH-0031", "X1")


def test_a_role_given_after_list_is_checked_as_before_it(
    no_acting_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        parse(["list", "--as", "考评组"])

    assert exit.value.code == 2
    assert "“考评组”不是角色" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [[*REVOKE, "--wait", "5", *SITE], ["--wait", "5", *REVOKE, *SITE]],
    ids=["after", "before"],
)
def test_revoke_takes_wait_wherever_it_is_given(
    argv: list[str], no_acting_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: ``revoke … --wait 5`` answered 无法识别的参数 --wait 5,
    hiding the refusal of the role."""
    status = main(argv)

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out.strip() == t("cli.revoke_role", roles="技术部、系统管理员")
    assert captured.err == ""


def test_a_wait_after_revoke_is_checked_as_everywhere(
    no_acting_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main([*REVOKE, "--wait", "0", "--as", "admin", "--person", "admin-1"])

    assert exit.value.code == 2
    assert t("cli.bad_wait", value="0") in capsys.readouterr().err


@pytest.fixture
def silent_temporal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A Temporal address on loopback that takes connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []

    def hold() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=hold, daemon=True).start()
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{server.getsockname()[1]}")
    yield
    server.close()
    for connection in held:
        connection.close()


@pytest.mark.parametrize(
    "argv",
    [
        ["--as", "admin", "--person", "admin-1", *REVOKE, "--wait", "1"],
        ["--as", "admin", "--person", "admin-1", "--wait", "1", *REVOKE],
    ],
    ids=["after", "before"],
)
def test_revoke_waits_for_temporal_as_long_as_told(
    argv: list[str],
    no_acting_env: None,
    silent_temporal: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A Temporal that never answers is waited for ``--wait`` seconds, not the
    default few (then the database, not reachable here, is said so)."""
    began = time.monotonic()
    status = main(argv)
    took = time.monotonic() - began

    assert status == 1, capsys.readouterr()
    assert took < STACK_CLOCK_WAIT - 1, took
    assert "数据库" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "action", "allowed"),
    [
        (["payment", "P1", "--amount", "4500", "--received-on", "2026-12-01"],
         "confirm_payment", "finance"),
        (["payment", "P1", "--amount", "45", "--refunded-on", "2026-12-01",
          "--settle-difference"], "settle_payment_difference", "finance"),
        (["invoice", "P1", "--number", "87654321", "--date", "2026-12-01",
          "--amount", "4500"], "record_invoice", "finance"),
        (["org-signoff", "P1"], "org_signoff", "tech_dept"),
        (["correction", "apply", "P1", "C001"], "apply_correction", "info_center"),
    ],
    ids=["payment", "settle-difference", "invoice", "org-signoff", "apply"],
)  # fmt: skip
def test_a_site_is_refused_a_plan_action_before_asked_for_its_code(
    argv: list[str],
    action: str,
    allowed: str,
    no_acting_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: ``--as site`` without ``--site`` on ``payment`` was told to
    give --site, as if a site confirmed payments once it named itself. The
    role is refused in the plan's words, before anything is asked."""
    status = main([*SITE, *argv])
    said = capsys.readouterr().out

    assert status == 2
    reason = t(
        "plan.wrong_role",
        action=t(f"actions.{action}"),
        allowed=t(f"roles.{allowed}"),
    )
    assert said.strip() == t("cli.refused", reason=reason)
    assert t("cli.site_missing") not in said


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["batch", "decide", "B1", "--approve-all"],
         t("cli.refused", reason=t("plan.wrong_role",
                                   action=t("actions.approve_batch"),
                                   allowed=t("roles.general_manager")))),
        (["calendar", "load", "2027.toml"], t("cli.admin_only")),
    ],
    ids=["batch-decide", "calendar-load"],
)  # fmt: skip
def test_a_site_is_refused_a_decision_or_the_calendar_before_asked_for_its_code(
    argv: list[str],
    said: str,
    no_acting_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main([*SITE, *argv])
    out = capsys.readouterr().out

    assert status == 2
    assert out.strip() == said


def _resend_role_flag() -> tuple[str, object]:
    """The help and the type of ``notice resend --role``."""
    commands = next(a for a in build_parser()._actions if a.dest == "command")
    notice = commands.choices["notice"]  # type: ignore[index]
    group = next(a for a in notice._actions if a.dest == "notice_command")
    resend = group.choices["resend"]  # type: ignore[index]
    flag = next(a for a in resend._actions if "--role" in a.option_strings)
    return str(flag.help), flag.type


def test_notice_resend_role_help_lists_the_roles_it_takes_only() -> None:
    """Regression: the help listed candidate（考生） and evaluator（考评员),
    which get no mail and are refused."""
    shown, convert = _resend_role_flag()

    for role in Role:
        listed = f"、{role.value}（" in shown or f"：{role.value}（" in shown
        try:
            convert(role.value)  # type: ignore[operator]
        except Exception:
            taken = False
        else:
            taken = True
        assert listed == taken, role
    assert "candidate（" not in shown and "、evaluator（" not in shown
    assert "site（考核站点）" in shown and "admin（系统管理员）" in shown
