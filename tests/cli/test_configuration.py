"""The configuration file: read the same from any folder, and refused clearly.

Regression: run from another folder, the staff tool stored an upload under
that folder's ``.state`` while the worker looked in the project's, and the
upload failed; a mistyped ``--config`` quietly ran on the defaults (another
database); a malformed file ended in a Python traceback.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from certflow.config import PROJECT_DIR, ConfigError, Settings, deployment_warnings
from certflow.i18n import t
from starter.cli import run
from tests.support import english_words


def test_relative_paths_are_read_from_the_project_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CERTFLOW_STATE", raising=False)
    monkeypatch.delenv("CERTFLOW_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)

    settings = Settings.load()

    assert settings.documents_dir == PROJECT_DIR / ".state" / "documents"
    assert settings.output_dir == PROJECT_DIR / ".state" / "out"
    assert settings.certificates.signing_key_file.is_relative_to(PROJECT_DIR)
    assert settings.mailbox.path.is_relative_to(PROJECT_DIR)


def test_a_state_folder_from_the_environment_is_read_from_where_staff_are(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CERTFLOW_STATE", "mine")

    settings = Settings.load()

    assert settings.documents_dir == tmp_path / "mine" / "documents"


async def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = await run(list(argv), out=out)
    return status, out.getvalue()


@pytest.mark.asyncio(loop_scope="session")
async def test_a_configuration_file_that_does_not_exist_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "certflw.toml"

    status, _ = await _run("--config", str(missing), "status", "P2026-1104-0412")

    assert status == 2
    err = capsys.readouterr().err
    assert "找不到配置文件" in err and str(missing) in err
    with pytest.raises(ConfigError):
        Settings.load(missing)


def test_a_configuration_naming_no_file_in_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CERTFLOW_CONFIG", str(tmp_path / "nowhere.toml"))
    with pytest.raises(ConfigError, match=r"nowhere\.toml"):
        Settings.load()


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('database_url = "postgresql://x\n[smtp\n', "第 1 行第 31 列"),
        (
            '[smtp]\nport = "abc"\npassword = "s3cret-value"\n',
            "smtp.port：" + t("validation.not_a_number"),
        ),
        ("database_url = 5\n", "database_url：" + t("validation.not_text")),
        (
            '[deadlines]\ninvoice_day = 30\n[[fees]]\ncertificate = "x"\nfe = 1\n'
            'password = "s3cret-value"\n',
            "deadlines.invoice_day、fees.1.fe、fees.1.password",
        ),
    ],
    ids=["malformed", "wrong-type", "wrong-type-top", "misspelt-keys"],
)
async def test_a_wrong_configuration_says_where_without_a_traceback(
    text: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "certflow.toml"
    config.write_text(text, encoding="utf-8")

    status, _ = await _run("--config", str(config), "status", "P2026-1104-0412")

    assert status == 2
    err = capsys.readouterr().err
    assert expected in err and str(config) in err
    # Chinese but for the settings' own names.
    names = ("TOML", "smtp.port", "database_url", "password", "docs", "operations.md")
    names += ("deadlines.invoice_day", "fees.1.fe", "fees.1.password")
    assert english_words(err.replace(str(config), ""), *names) == []
    assert "Traceback" not in err
    assert "s3cret-value" not in err  # values (passwords) are never echoed


@pytest.mark.asyncio(loop_scope="session")
async def test_a_malformed_configuration_says_where_in_chinese_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: 配置文件 … 无法读取：Illegal character '\\n' (at line 1,
    column 27): tomllib's English, the place in its words."""
    config = tmp_path / "certflow.toml"
    config.write_text('database_url = "postgresql://x\n', encoding="utf-8")

    status, _ = await _run("--config", str(config), "status", "P2026-1104-0412")

    assert status == 2
    err = capsys.readouterr().err.strip()
    kind = t("config.file")
    assert err == t("config.toml_invalid", file=kind, path=config, line=1, column=31)
    assert english_words(err.replace(str(config), ""), "TOML") == []
    config.write_bytes('database_url = "数据库"\n'.encode("gbk"))
    with pytest.raises(ConfigError, match="UTF-8"):
        Settings.load(config)


def test_durations_as_numbers_and_a_folder_are_refused_in_words(
    tmp_path: Path,
) -> None:
    """Regression: remind_before = [3, 1] was taken as three and one seconds, and
    --config naming a folder said no such file."""
    config = tmp_path / "certflow.toml"
    config.write_text("[deadlines]\nremind_before = [3, 1]\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        Settings.load(config)
    assert str(raised.value) == t(
        "config.bare_durations", path=config, keys="deadlines.remind_before"
    )
    config.write_text('[deadlines]\nremind_before = ["P3D", "PT12H"]\n')
    assert Settings.load(config).deadlines.remind_before[1].total_seconds() == 43200
    with pytest.raises(ConfigError) as raised:
        Settings.load(tmp_path)
    assert str(raised.value) == t("config.is_folder", path=tmp_path)


def test_an_overdue_notice_repeating_without_pause_is_refused(tmp_path: Path) -> None:
    """Regression: overdue_repeat = "PT0S" was accepted, and every plan started
    with it failed its workflow task for good (a division by zero)."""
    config = tmp_path / "certflow.toml"
    config.write_text('[deadlines]\noverdue_repeat = "PT0S"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="overdue_repeat") as raised:
        Settings.load(config)
    assert t("config.overdue_repeat_too_short") in str(raised.value)
    config.write_text('[deadlines]\nremind_before = ["-P1D"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="remind_before") as raised:
        Settings.load(config)
    assert t("config.remind_before_not_before") in str(raised.value)


@pytest.mark.parametrize(
    ("setting", "where"),
    [
        (
            '[site_recipients]\n"42010601" = ["ok@whjtxx.edu.cn", "k@whjtxx..edu.cn"]',
            "site_recipients.42010601.2",
        ),
        (
            '[recipients]\nfinance = ["财务部 caiwu@certflow.example.org"]',
            "recipients.finance.1",
        ),
        ('admins = ["admin@certflow"]', "admins.1"),
        ('[smtp]\nsender = "certflow at example.org"', "smtp.sender"),
    ],
)
def test_a_mistyped_mail_address_is_refused_naming_the_setting(
    tmp_path: Path, setting: str, where: str
) -> None:
    """Regression: an address with a doubled dot was taken; the mail program
    refused it at the first mail, which was retried for ever, and with it every
    later mail of the plan, each attempt logging the address."""
    config = tmp_path / "certflow.toml"
    config.write_text(setting + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        Settings.load(config)
    message = str(raised.value)
    assert where in message and t("config.not_mail_address") in message
    assert "whjtxx..edu" not in message and "caiwu@" not in message  # not repeated


@pytest.mark.parametrize("tool", ["revoke", "mailbox"])
def test_a_config_given_before_a_tools_name_reaches_the_tool(
    tool: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression: `certflow --config F revoke ...` read the default
    configuration (the default database); `mailbox` ended in a traceback."""
    from starter.cli import main

    monkeypatch.delenv("CERTFLOW_CONFIG", raising=False)
    missing = tmp_path / "production.toml"
    rest = {
        "revoke": ["revoke", "ZCX2027QCYY2000001", "--reason", "测试"],
        "mailbox": ["mailbox", "list"],
    }[tool]

    status = main(["--config", str(missing), "--as", "admin", "--person", "a", *rest])

    assert status == 2
    err = capsys.readouterr().err
    assert "找不到配置文件" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("base", "warned"),
    [
        ("http://127.0.0.1:8080", "points at this machine"),
        ("http://localhost:8080", "points at this machine"),
        ("http://zhengshu.example.org", "is not https"),
        ("https://zhengshu.example.org", None),
    ],
)
def test_a_verification_address_nobody_else_can_open_is_warned_of(
    base: str, warned: str | None
) -> None:
    """The address is signed into every certificate: a loopback one, shipped
    as the default, would leave QR codes that lead nowhere, for good."""
    settings = Settings.load()
    settings = settings.model_copy(
        update={
            "certificates": settings.certificates.model_copy(
                update={"verify_url_base": base}
            )
        }
    )
    warnings = deployment_warnings(settings)
    if warned is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warned in warnings[0]


def test_roles_without_a_mail_address_are_warned_of(tmp_path: Path) -> None:
    """An empty [recipients] was taken without a word; their mails went nowhere."""
    config = tmp_path / "certflow.toml"
    config.write_text(
        '[recipients]\nfinance = []\ntech_dept = ["tech@certflow.example.org"]\n',
        encoding="utf-8",
    )

    [warning] = [
        w for w in deployment_warnings(Settings.load(config)) if "mail address" in w
    ]

    assert "finance" in warning and "general_manager" in warning
    assert "admins" in warning and "tech_dept" not in warning


FEE = '[[fees]]\ncertificate = "汽车运用与维修"\nlevel = "intermediate"\n'
RULE = (
    '[[pass_rules]]\ncertificate = "汽车运用与维修"\nlevel = "intermediate"\n'
    'rule = {{ kind = "both_at_least", threshold = {threshold}, '
    "theory_weight = {theory}, practical_weight = {practical} }}\n"
)


@pytest.mark.parametrize(
    ("setting", "where", "problem"),
    [
        # No amount could ever match these fees: the plan could never be paid.
        *[
            (FEE + f"fee_per_candidate = {fee}", "fees.1.fee_per_candidate", "fee")
            for fee in ("-300", "0", "300.005", "nan", "inf", "1e300")
        ],
        (
            FEE + "fee_per_candidate = 300\n" + FEE + "fee_per_candidate = 280",
            "fees",
            "duplicate_entry",
        ),
        # Nobody could pass; the weights gave totals above 100.
        (
            RULE.format(threshold=160, theory=0.3, practical=0.7),
            "pass_rules.1.rule",
            "threshold_out_of_range",
        ),
        (
            RULE.format(threshold=60, theory=0.9, practical=0.7),
            "pass_rules.1.rule",
            "weights_not_one",
        ),
        ('[mailbox]\npoll_interval = "PT0S"', "mailbox.poll_interval", "poll"),
        ("[smtp]\nport = 99999", "smtp.port", ""),
        ("[smtp]\nport = -1", "smtp.port", ""),
        ('[temporal]\nnamespace = ""', "temporal.namespace", ""),
        ('[temporal]\naddress = ""', "temporal.address", "not_host_and_port"),
        ('batch_schedule = "every monday"', "batch_schedule", "not_cron_line"),
        (
            '[certificates]\nverify_url_base = "not a url"',
            "certificates.verify_url_base",
            "not_web_address",
        ),
        (
            'database_url = "postgresql://u:hunter2@127.0.0.1:notaport/x"',
            "database_url",
            "not_database_url",
        ),
    ],
)
def test_a_setting_no_plan_could_work_with_is_refused_at_load(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    where: str,
    problem: str,
) -> None:
    """Regression: each was taken without a word. A fee of 300.005 left no
    amount the site could declare (the plan stuck for good), PT0S polled the
    mailbox in a busy loop, the others failed later with a traceback."""
    for name in ("DATABASE_URL", "TEMPORAL_ADDRESS", "SMTP_PORT"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "certflow.toml"
    config.write_text(setting + "\n", encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        Settings.load(config)

    message = str(raised.value)
    assert where in message
    keys = {"fee": "fee_not_money", "poll": "poll_interval_too_short"}
    if problem:
        assert t(f"config.{keys.get(problem, problem)}") in message
    assert "hunter2" not in message
    text = message.replace(str(config), "")
    codes = ("https", "http", "postgresql", "PostgreSQL", "MON", "cron", "weekly")
    assert not english_words(text, where, *codes, "zhengshu.example.org")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SMTP_PORT", "abc"),
        ("DATABASE_URL", "postgresql://u:hunter2@127.0.0.1:notaport/x"),
        ("DATABASE_URL", "postgres ql://u:hunter2@127.0.0.1/x"),
        ("TEMPORAL_ADDRESS", "127.0.0.1"),
    ],
)
async def test_a_malformed_server_address_in_the_environment_is_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
) -> None:
    """Regression: SMTP_PORT=abc or a DATABASE_URL with a port that is no
    number ended the staff tool and the worker in a Python traceback."""
    monkeypatch.setenv(name, value)

    status, _ = await _run("status", "P2026-1104-0412")

    err = capsys.readouterr().err
    assert status != 0
    assert name in err and "Traceback" not in err
    assert "hunter2" not in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "setting",
    [
        'batch_schedule = "@weekly"',
        'batch_schedule = "0 0 9 * * MON *"',
        'batch_schedule = "CRON_TZ=Asia/Shanghai 0 9 * * MON"',
        'database_url = "postgresql://certflow@db1:5432,db2:5432/certflow"',
        'database_url = "postgresql://postgres:@/certflow?host=/run/postgresql"',
        'database_url = "postgresql://certflow@[::1]:5432/certflow"',
    ],
)
def test_settings_the_servers_take_are_still_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, setting: str
) -> None:
    """Regression (review): the new checks refused a shorthand or six-field
    cron line that Temporal schedules take, and a URL naming a standby host."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = tmp_path / "certflow.toml"
    config.write_text(setting + "\n", encoding="utf-8")

    # Taken as written, not only without an error (audit: the test asked no
    # more than that loading raised nothing).
    key, value = (part.strip() for part in setting.split("=", 1))
    assert getattr(Settings.load(config), key) == value.strip('"')
