"""``certflow revoke``: the command around activities.revocation.revoke."""

from __future__ import annotations

import pytest

from certflow.config import Settings
from starter.cli import main


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
