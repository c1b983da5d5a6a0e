"""``certflow verify --status-list``: offline verification knows revocations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from certflow.certificates import (
    RevocationEntry,
    StatusList,
    generate_keypair,
    load_font,
    load_private_key,
    render_pdf,
    sign,
    sign_status_list,
)
from certflow.certificates.fonts import FONT_ENV, KNOWN_FONTS
from certflow.config import Settings
from certflow.i18n import t
from tests.certificates.certificate_samples import make_data
from tests.cli.conftest import certflow_runner
from tests.cli.test_staff_rules import certificate_pdf

INSTALLED = [Path(p) for p, _package in KNOWN_FONTS if Path(p).is_file()]

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]


async def test_a_revoked_certificate_fails_offline_with_the_published_list(
    settings: Settings, tmp_path: Path
) -> None:
    certflow = certflow_runner(settings, None)
    private_pem, public_pem = generate_keypair()
    stranger_private, _ = generate_keypair()
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem)
    pdf = tmp_path / "cert.pdf"
    pdf.write_bytes(certificate_pdf(private_pem))
    revoked = StatusList(
        issued_at=datetime.now(UTC),
        entries=[
            RevocationEntry(
                number="ZCX2026QCYY2000001", revoked_on=date(2026, 12, 1), reason="测试"
            )
        ],
    )
    good_list = tmp_path / "status-list.json"
    good_list.write_text(
        sign_status_list(revoked, load_private_key(private_pem)).model_dump_json()
    )
    forged_list = tmp_path / "forged.json"
    forged_list.write_text(
        sign_status_list(
            StatusList(issued_at=datetime.now(UTC)), load_private_key(stranger_private)
        ).model_dump_json()
    )

    plain = await certflow("verify", "--public-key", str(key), str(pdf))
    listed = await certflow(
        "verify", "--public-key", str(key), "--status-list", str(good_list), str(pdf)
    )
    forged = await certflow(
        "verify", "--public-key", str(key), "--status-list", str(forged_list), str(pdf)
    )

    assert plain.status == 0, plain.out
    # Without the list, "valid" says only "genuine": the tool says so.
    assert "未核对撤销状态" in plain.out
    assert listed.status == 2 and "2026-12-01" in listed.out, listed.out
    assert forged.status == 2 and "签名无法验证" in forged.out, forged.out


async def test_verification_says_how_old_its_status_list_is(
    settings: Settings, tmp_path: Path
) -> None:
    """Regression: a status list published before a revocation still said
    "valid", with nothing telling how old the list was."""
    certflow = certflow_runner(settings, None)
    private_pem, public_pem = generate_keypair()
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem)
    pdf = tmp_path / "cert.pdf"
    pdf.write_bytes(certificate_pdf(private_pem))
    published = datetime(2026, 12, 2, 1, 30, tzinfo=UTC)  # 09:30 in Beijing
    old_list = tmp_path / "old.json"
    old_list.write_text(
        sign_status_list(
            StatusList(issued_at=published), load_private_key(private_pem)
        ).model_dump_json()
    )

    outcome = await certflow(
        "verify", "--public-key", str(key), "--status-list", str(old_list), str(pdf)
    )

    assert outcome.status == 0, outcome.out
    assert t("cli.verify_revocation_as_of", at="2026-12-02 09:30") in outcome.out


async def test_a_folder_or_a_big_file_is_named_for_what_it_is(
    settings: Settings, tmp_path: Path
) -> None:
    certflow = certflow_runner(settings, None)
    _private, public_pem = generate_keypair()
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem)
    big = tmp_path / "big.pdf"
    big.write_bytes(b"%PDF-1.7\n" + bytes(11_000_000))

    folder = await certflow("verify", "--public-key", str(key), str(tmp_path))
    too_big = await certflow("verify", "--public-key", str(key), str(big))

    assert folder.status == 2
    assert t("cli.verify_is_folder", path=tmp_path) in folder.out
    assert too_big.status == 2
    # 11,000,000 bytes is 10.5 MiB: not "10 MB, at most 10 MB".
    assert t("cli.verify_too_large", path=big, size="10.5", limit=10) in too_big.out


async def test_the_tool_says_when_it_could_not_compare_the_glyphs(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page drawn in a face this machine does not have (fpdf2's CFF path
    here) verifies, with a word that its glyphs were not compared."""
    certflow = certflow_runner(settings, None)
    private_pem, public_pem = generate_keypair()
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem)
    signed = sign(make_data(name="黎芬"), load_private_key(private_pem))
    default = tmp_path / "default.pdf"
    default.write_bytes(render_pdf(signed))
    cff = [p for p in INSTALLED if not load_font(p).fast_subsetting]
    if not cff:
        pytest.skip("no CFF-outline CJK face installed (fonts-noto-cjk)")
    other = tmp_path / "other-face.pdf"
    other.write_bytes(render_pdf(signed, font_path=cff[0]))

    checked = await certflow("verify", "--public-key", str(key), str(default))
    # Where that face is the configured certificate font (a TrueType one makes
    # such a page foreign: see the certificate tests).
    monkeypatch.setenv(FONT_ENV, str(cff[0]))
    unchecked = await certflow("verify", "--public-key", str(key), str(other))

    assert checked.status == 0 and unchecked.status == 0
    assert t("cli.verify_glyphs_unchecked") not in checked.out
    assert t("cli.verify_glyphs_unchecked") in unchecked.out
