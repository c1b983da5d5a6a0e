"""``certflow revoke``: the command around activities.revocation.revoke."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.certificates import CertificateActivities
from activities.db import create_pool
from activities.documents import DocumentStore
from certflow.activity_models import IssueRequest
from certflow.config import Settings
from certflow.i18n import t
from certflow.identity import compact_code
from starter.cli import main
from tests.support import free_ports
from tests.workflow.test_issuance import plan_with_scores


def test_revoking_an_unknown_number_is_refused_in_chinese(
    settings: Settings,
    resources: object,  # the migrated schema
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    status = main(
        [
            "--as",
            "tech_dept",
            "--person",
            "tech-zhao",
            "revoke",
            "ZCX2099QCYY2999999",
            "--reason",
            "测试",
        ]
    )
    out = capsys.readouterr().out
    assert status == 2
    assert "ZCX2099QCYY2999999" in out


def test_revoke_needs_to_know_who_revokes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CERTFLOW_PERSON", raising=False)
    with pytest.raises(SystemExit) as exit:
        main(["revoke", "ZCX2027QCYY2000001", "--reason", "测试"])
    assert exit.value.code == 2
    assert "--person" in capsys.readouterr().err


@pytest.mark.parametrize("role", ["candidate", "site", "info_center", None])
def test_only_the_tech_dept_and_admins_revoke(
    role: str | None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: anyone (even --as candidate) could revoke a certificate."""
    monkeypatch.delenv("CERTFLOW_ROLE", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    as_role = ["--as", role] if role else []
    status = main(["revoke", "ZCX2027QCYY2000001", "--reason", "测试",
                   "--person", "anyone", *as_role])  # fmt: skip
    assert status == 2
    assert "只有技术部、系统管理员可以撤销证书" in capsys.readouterr().out


def test_a_revocation_dated_in_the_future_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    argv = ["--as", "admin", "--person", "admin-1", "revoke", "ZCX2027QCYY2000001",
            "--reason", "测试", "--date", "2099-01-09"]  # fmt: skip
    status = main(argv)
    assert status == 2
    assert "晚于今天" in capsys.readouterr().out


@pytest.mark.parametrize("typed", ["", "   ", "\u200b"])
def test_an_empty_number_is_said_to_be_empty(
    typed: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trial: ``revoke "" --reason x`` answered 证书编号  不存在 (a double
    space where the number was): it is said to be empty, nothing looked up."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    argv = ["--as", "admin", "--person", "admin-1", "revoke", typed,
            "--reason", "测试"]  # fmt: skip
    with pytest.raises(SystemExit) as exit:
        main(argv)
    said = capsys.readouterr()
    assert exit.value.code == 2
    assert t("cli.certificate_number_blank") in said.err
    assert "不存在" not in said.out + said.err


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("2026-13-01", "没有 13 月"),
        ("2026/00/10", "没有 0 月"),
        ("2026年13月1日", "没有 13 月"),
        ("2026-02-30", "2026 年 2 月没有 30 日"),  # a real month, too short
        ("0000-01-01", "应写成 YYYY-MM-DD"),
    ],
)
def test_a_date_of_no_month_says_the_month(
    typed: str,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Trial: ``--received-on 2026-13-01`` answered 2026 年 13 月没有 1 日,
    blaming the day of a month that does not exist."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    argv = ["--as", "admin", "--person", "admin-1", "revoke", "ZCX2027QCYY2000001",
            "--reason", "测试", "--date", typed]  # fmt: skip
    with pytest.raises(SystemExit) as exit:
        main(argv)
    err = capsys.readouterr().err
    assert exit.value.code == 2
    assert said in err
    assert "月没有 1 日" not in err


def test_a_number_typed_in_lower_case_revokes_the_certificate(
    settings: Settings,
    resources: object,  # the migrated schema
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: ``certflow revoke zcx2027qcyy2000002`` (or ``ZCX 2027…``) said
    the certificate did not exist; numbers are issued upper case without
    spaces, and the web pages read a typed number as issued."""

    async def issue() -> str:
        pool = await create_pool(settings.database_url, max_size=2)
        try:
            store = DocumentStore(settings.documents_dir)
            plan = await plan_with_scores(pool, store, tmp_path)
            issued = await ActivityEnvironment().run(
                CertificateActivities(settings, pool, store).issue_certificates,
                # A year no other test issues in, so its counter is this test's.
                IssueRequest(plan=plan, issued_on=date(2019, 1, 7)),
            )
            return issued.numbers[0]
        finally:
            await pool.close()

    number = asyncio.run(issue())
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    # No Temporal of anyone else's is told: nothing listens there.
    monkeypatch.setenv("TEMPORAL_ADDRESS", f"127.0.0.1:{free_ports(1)[0]}")
    # Lower case, full-width zeros, in groups as it is printed.
    typed = f"{number[:3]} {number[3:7]}\u3000{number[7:]}".lower().replace("0", "０")
    status = main(["--as", "tech_dept", "--person", "tech-zhao", "revoke", typed,
                   "--reason", "成绩更正"])  # fmt: skip

    out = capsys.readouterr().out
    assert status == 0, out
    assert number in out

    async def revoked_on() -> object:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await conn.fetchval(
                "SELECT revoked_on FROM certificates WHERE number = $1", number
            )
        finally:
            await conn.close()

    assert asyncio.run(revoked_on()) is not None


# An ID number staff might paste in place of a certificate number.
PASTED_ID = "330106200308287009"


@pytest.mark.parametrize(
    "typed",
    [
        PASTED_ID,
        "330106 20030828 7009",  # in groups, as read off the card
        "３３０１０６２００３０８２８７００９",  # full-width digits
        f"\u200b{PASTED_ID}",  # pasted with a zero-width space
        "33010620030828700x",  # a lower-case check letter
    ],
)
def test_an_id_number_given_as_the_number_is_not_repeated_whole(
    settings: Settings,
    resources: object,  # the migrated schema
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    typed: str,
) -> None:
    """Regression: ``certflow revoke 330106200308287009`` answered
    证书编号 330106200308287009 不存在, repeating a person's ID number whole
    (the web pages refuse to repeat such input)."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)

    status = main(["--as", "tech_dept", "--person", "tech-zhao", "revoke", typed,
                   "--reason", "测试"])  # fmt: skip

    printed = capsys.readouterr()
    said = printed.out + printed.err
    whole = compact_code(typed)  # as the tool reads it
    assert status == 2
    assert f"证书编号 {whole[:4]}**********{whole[-4:]} 不存在" in said
    assert whole not in said and typed not in said


def test_an_id_number_typed_anywhere_on_the_command_line_is_masked_in_messages(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse repeats a value it refuses: an ID number typed as the date."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")

    grouped = f"330106 20030828 {PASTED_ID[-4:]}"
    with pytest.raises(SystemExit):
        main(["--as", "admin", "--person", "admin-1", "revoke", "ZCX2027QCYY2000001",
              "--reason", "测试", "--date", grouped])  # fmt: skip

    err = capsys.readouterr().err
    assert "--date" in err and "3301**********7009" in err
    assert PASTED_ID not in err and "330106 20030828" not in err


@pytest.mark.parametrize(
    "reason",
    [
        f"考生{PASTED_ID}成绩更正",
        "证件 650102 1990 0101 0017",  # trial: 6-4-4-4 groups were published
        "证件 330 106 2003 0828 7009",
        "证件 330106\u00a02003\u00a00828\u00a07009",
        "证件 330106.20030828.7009",
        "证件 330 106\u2061 200 308 287 009",  # review: an invisible character
        "证件 330106/2003/0828/7009",
    ],
)
def test_a_reason_holding_an_id_number_is_refused_before_anything_is_done(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], reason: str
) -> None:
    """Regression: the reason, published in /status-list.json and on the public
    verification page, took an ID number (``--reason 考生330106200308287009…``,
    and ``--reason "证件 650102 1990 0101 0017"``)."""
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")

    with pytest.raises(SystemExit) as exit:
        main(["--as", "admin", "--person", "admin-1", "revoke", "ZCX2027QCYY2000001",
              "--reason", reason])  # fmt: skip

    err = capsys.readouterr().err
    assert exit.value.code == 2
    assert "公开显示" in err and "不能含有证件号码" in err
    assert PASTED_ID not in err and reason not in err


def test_the_help_says_the_reason_is_public(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["revoke", "--help"])

    out = "".join(capsys.readouterr().out.split())
    assert "公开" in out and "撤销列表" in out and "证件号码" in out
