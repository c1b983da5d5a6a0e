"""Refusals of the staff tool are said in Chinese only, never half in English.

A new user met ``参数 --amount：'4,200.00' is not an amount like 4200.00 /
"4,200.00"不是有效金额`` and refusals that opened in English. Codes, flags and
the values typed may stay as they are; nothing else in Latin letters.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from certflow.config import Settings
from certflow.i18n import t
from tests.cli.conftest import certflow_runner
from tests.support import english_words

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

PLAN = "P2026-1104-0412"
SITE = ["--as", "site", "--person", "whjt-kaowu", "--site", "HB-WH-0031"]
FINANCE = ["--as", "finance", "--person", "fin-wang"]
APPLICATION = ["application", PLAN, "--scan", "scan.pdf", "--paid-plan", PLAN,
               "--head-count", "14", "--amount", "4200.00",
               "--paid-on", "2026-12-20"]  # fmt: skip


@pytest.fixture(autouse=True)
def nobody(monkeypatch: pytest.MonkeyPatch) -> None:
    """Who acts is said on the command line only."""
    for name in ("CERTFLOW_ROLE", "CERTFLOW_PERSON", "CERTFLOW_SITE"):
        monkeypatch.delenv(name, raising=False)


def _with(argv: list[str], flag: str, value: str) -> list[str]:
    changed = list(argv)
    changed[changed.index(flag) + 1] = value
    return changed


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            [*SITE, *_with(APPLICATION, "--amount", "42,00")],
            t("cli.bad_amount", value="42,00"),
        ),
        (
            [*FINANCE, "payment", PLAN, "--amount", "4200", "--received-on", "昨天"],
            t("cli.bad_date", value="昨天"),
        ),
        (["status", "P2026 1104"], t("cli.bad_code", value="P2026 1104")),
        # Regression (trial): of letters only, it was said to hold others.
        (["batch", "status", "B" * 50], t("cli.code_too_long", limit=41, length=50)),
    ],
    ids=["amount", "date", "code", "code too long"],
)
async def test_a_value_of_the_wrong_form_is_refused_in_chinese_only(
    argv: list[str],
    expected: str,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome = await certflow_runner(settings, None)(*argv)

    err = capsys.readouterr().err
    assert outcome.status == 2
    assert expected in err
    refusal = err.rstrip("\n").split("\n")[-1]
    codes = ("certflow", "application", "payment", "status", "PLAN_ID", "YYYY-MM-DD",
             "batch", "BATCH_ID")  # fmt: skip
    assert english_words(refusal, *codes) == []


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        (["confirm-upload", PLAN], "cli.actor_missing"),
        (["--as", "site", "--person", "whjt-kaowu", "confirm-summary", PLAN],
         "cli.site_missing"),
    ],
    ids=["nobody", "site-without-code"],
)  # fmt: skip
async def test_who_acts_is_asked_for_in_chinese_only(
    argv: list[str], key: str, settings: Settings
) -> None:
    outcome = await certflow_runner(settings, None)(*argv)

    assert outcome.status == 2
    assert outcome.out == t(key) + "\n"


async def test_a_missing_upload_is_named_in_chinese_only(
    settings: Settings, tmp_path: Path
) -> None:
    missing = tmp_path / "成绩汇总表.xlsx"

    outcome = await certflow_runner(settings, None)(
        "--as", "lead_evaluator", "--person", "ZCX-E-0107",
        "upload", "summary", PLAN, str(missing),
    )  # fmt: skip

    assert outcome.status == 2
    assert outcome.out == t("cli.file_missing", path=missing) + "\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            'plan_id = "P2026-1104-0412"\nsite_code = "HB-WH-0031\ncertificate = "x"\n',
            "第 2 行第 24 列",
        ),
        ('plan_id = "P2026-1104-0412"\nlevel = ', "在文件末尾"),
    ],
    ids=["line", "end"],
)
async def test_a_malformed_plan_file_names_the_place_in_chinese(
    content: str, expected: str, settings: Settings, tmp_path: Path
) -> None:
    plan_file = tmp_path / "plan.toml"
    plan_file.write_text(content, encoding="utf-8")

    outcome = await certflow_runner(settings, None)(
        "--as", "admin", "--person", "admin-liu",
        "plan", "start", "--from-file", str(plan_file),
    )  # fmt: skip

    assert outcome.status == 2
    assert expected in outcome.out
    # tomllib's own words ("Illegal character", "Invalid value") stay out.
    assert english_words(outcome.out.replace(str(plan_file), ""), "TOML") == []


async def test_a_key_file_that_is_no_public_key_is_said_in_chinese_only(
    settings: Settings, tmp_path: Path
) -> None:
    """Regression: the cryptography library's English ('Valid PEM but no BEGIN
    PUBLIC KEY...', 'Not an unencrypted PEM key...') reached staff."""
    from certflow.certificates import generate_keypair

    private_pem, _ = generate_keypair()
    private = tmp_path / "signing.pem"
    private.write_bytes(private_pem)
    text = tmp_path / "notes.txt"
    text.write_text("not a key\n", encoding="utf-8")
    pdf = tmp_path / "c.pdf"
    pdf.write_bytes(b"%PDF-1.7\n")
    certflow = certflow_runner(settings, None)

    for key in (private, text):
        outcome = await certflow("verify", "--public-key", str(key), str(pdf))
        assert outcome.status == 7
        assert t("cli.bad_key_not_pem", path=key) in outcome.out
        said = outcome.out.replace(str(key), "")
        assert (
            english_words(said, "PEM", "certificate-signing.pub.pem", "keys.json") == []
        )
