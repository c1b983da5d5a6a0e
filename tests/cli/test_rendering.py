"""Pure parts of the staff tool: batch ids, table layout, argument parsing."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certflow.actions import ReviewRequest, SiteSignoffRequest
from certflow.models import Role
from certflow.plan import Duty
from starter.cli import actor_of, new_batch_id, parse, table


def test_batch_id_is_the_cst_second() -> None:
    # Seconds, so two gatherings within one minute get different ids.
    at = datetime(2026, 12, 4, 7, 30, 5, tzinfo=UTC)
    assert new_batch_id(at) == "B20261204-153005"
    assert new_batch_id(at + timedelta(seconds=1)) == "B20261204-153006"
    assert new_batch_id(datetime(2026, 12, 4, 16, 5, tzinfo=UTC)) == "B20261205-000500"


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_table_columns_line_up_with_chinese_text() -> None:
    lines = table(["事项 Duty", "截止"], [["上传考生签到表", "2026-12-20"], ["x", "-"]])

    second = ["截止", "-" * 10, "2026-12-20", "-"]
    offsets = {
        _display_width(line[: line.rindex(cell)])
        for line, cell in zip(lines, second, strict=True)
    }
    assert offsets == {_display_width("上传考生签到表") + 2}


def test_flags_fill_the_request_and_the_plan_id_stays_apart() -> None:
    actor = ["--as", "site", "--person", "p", "--site", "S-1"]
    args, _ = parse(
        [*actor, "site-signoff", "P2026-1", "--platform-plan-id", "P2026-9"]
    )
    request = args.plan_action.request(args, actor_of(args), None)

    assert args.plan_id == "P2026-1"
    assert isinstance(request, SiteSignoffRequest) and request.plan_id == "P2026-9"
    assert request.actor.site_code == "S-1"


def test_send_back_items_become_roles_and_duties() -> None:
    actor = ["--as", "regional_contact", "--person", "rc"]
    decision = ["--send-back", "site", "--reason", "签到表缺页"]
    args, _ = parse(
        ["review", "P2026-1", *actor, *decision, "--item", "candidate_sign_in"]
    )
    request = args.plan_action.request(args, actor_of(args), None)

    assert isinstance(request, ReviewRequest)
    assert request.send_back_to == [Role.SITE]
    assert request.items == [Duty.CANDIDATE_SIGN_IN]
    assert not request.approve


def test_stack_and_mail_get_their_own_arguments() -> None:
    args, rest = parse(["--person", "mail", "mail", "show", "2", "--folder", "exam"])

    assert args.delegate == "mail" and args.person == "mail"
    assert rest == ["show", "2", "--folder", "exam"]
    with pytest.raises(SystemExit):
        parse(["review", "P2026-1", "--approve", "--send-back", "site"])


def test_the_installed_command_runs_offline_subcommands(tmp_path: Path) -> None:
    key = tmp_path / "signing.pem"
    not_pdf = tmp_path / "not-a-certificate.pdf"
    not_pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    command = [sys.executable, "-m", "starter.cli"]

    created = subprocess.run(
        [*command, "keys", "create", "--out", str(key)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    checked = subprocess.run(
        [
            *command,
            "verify",
            str(not_pdf),
            "--public-key",
            str(tmp_path / "signing.pub.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert created.returncode == 0, created.stderr
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert checked.returncode == 2, checked.stderr
    assert checked.stdout.strip()  # the verdict, in Chinese
