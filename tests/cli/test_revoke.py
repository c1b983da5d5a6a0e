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
        ["revoke", "ZCX2099QCYY2999999", "--reason", "测试", "--person", "tech-zhao"]
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
