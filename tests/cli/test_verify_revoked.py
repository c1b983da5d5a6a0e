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
from certflow.config import Settings
from certflow.i18n import t
from tests.certificates.certificate_samples import (
    INSTALLED_FONTS,
    configure_only,
    make_data,
)
from tests.cli.conftest import certflow_runner
from tests.cli.test_staff_rules import certificate_pdf

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
    assert listed.status == 3 and "2026-12-01" in listed.out, listed.out
    assert forged.status == 7 and "签名无法验证" in forged.out, forged.out


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
    published = datetime(2026, 12, 4, 1, 30, tzinfo=UTC)  # 09:30 in Beijing
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
    assert t("cli.verify_revocation_as_of", at="2026-12-04 09:30") in outcome.out


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

    assert folder.status == 7
    assert t("cli.verify_is_folder", path=tmp_path) in folder.out
    assert too_big.status == 6
    # 11,000,000 bytes is 10.5 MiB: not "10 MB, at most 10 MB".
    assert t("cli.verify_too_large", path=big, size="10.5", limit=10) in too_big.out


async def test_the_tool_says_when_it_could_not_compare_the_glyphs(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page drawn in a face this machine does not have (fpdf2's CFF path
    here, where only the TrueType face is) verifies, with a word that its
    glyphs were not compared."""
    certflow = certflow_runner(settings, None)
    private_pem, public_pem = generate_keypair()
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem)
    signed = sign(make_data(name="黎芬"), load_private_key(private_pem))
    default = tmp_path / "default.pdf"
    default.write_bytes(render_pdf(signed))
    cff = [p for p in INSTALLED_FONTS if not load_font(p).fast_subsetting]
    if not cff or not load_font(None).fast_subsetting:
        pytest.skip("needs the TrueType certificate font and a CFF face installed")
    other = tmp_path / "other-face.pdf"
    other.write_bytes(render_pdf(signed, font_path=cff[0]))

    checked = await certflow("verify", "--public-key", str(key), str(default))
    configure_only(monkeypatch, load_font(None).path)
    unchecked = await certflow("verify", "--public-key", str(key), str(other))

    assert checked.status == 0 and unchecked.status == 8
    assert t("cli.verify_glyphs_unchecked") not in checked.out
    assert t("cli.verify_glyphs_unchecked") in unchecked.out


def _signed_list(private_pem: bytes, issued_at: datetime, path: Path) -> Path:
    path.write_text(
        sign_status_list(
            StatusList(issued_at=issued_at), load_private_key(private_pem)
        ).model_dump_json()
    )
    return path


async def test_a_list_issued_before_the_certificate_cannot_vouch_for_it(
    settings: Settings, tmp_path: Path
) -> None:
    """Regression (security trial): a genuine list issued a year before the
    certificate, listing nothing, made a revoked certificate read as valid with
    only 撤销状态核对至 2025-12-01 under it. A list cannot speak of a
    certificate issued after it."""
    certflow = certflow_runner(settings, None)
    private_pem, public_pem = generate_keypair()
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem)
    pdf = tmp_path / "cert.pdf"
    pdf.write_bytes(certificate_pdf(private_pem))  # issued 2026-12-04
    stale = _signed_list(
        private_pem, datetime(2025, 12, 1, 1, 30, tzinfo=UTC), tmp_path / "old.json"
    )

    outcome = await certflow(
        "verify", "--public-key", str(key), "--status-list", str(stale), str(pdf)
    )

    assert outcome.status == 9, outcome.out
    assert (
        t("cli.verify_list_predates", at="2025-12-01 09:30", issued_on="2026-12-04")
        in outcome.out
    )
    checked_until = t("cli.verify_revocation_as_of", at="|").split("|")[0]
    assert checked_until not in outcome.out


async def test_a_list_older_than_a_week_is_called_out_of_date(
    settings: Settings, tmp_path: Path
) -> None:
    """It still speaks of the certificate, as of its date: the tool says how
    old it is and where to get a newer one."""
    certflow = certflow_runner(settings, None)
    private_pem, public_pem = generate_keypair()
    key = tmp_path / "key.pub.pem"
    key.write_bytes(public_pem)
    pdf = tmp_path / "cert.pdf"
    data = make_data(name="黎芬", issued_on=date(2025, 1, 10))
    pdf.write_bytes(render_pdf(sign(data, load_private_key(private_pem))))
    old = _signed_list(
        private_pem, datetime(2025, 2, 1, 1, 30, tzinfo=UTC), tmp_path / "old.json"
    )
    fresh = _signed_list(private_pem, datetime.now(UTC), tmp_path / "fresh.json")

    with_old = await certflow(
        "verify", "--public-key", str(key), "--status-list", str(old), str(pdf)
    )
    with_fresh = await certflow(
        "verify", "--public-key", str(key), "--status-list", str(fresh), str(pdf)
    )

    assert with_old.status == 0 and with_fresh.status == 0, with_old.out
    warning = t("cli.verify_list_out_of_date", at="2025-02-01 09:30", days=7)
    assert warning in with_old.out
    assert t("cli.verify_revocation_as_of", at="2025-02-01 09:30") in with_old.out
    assert "已超过" not in with_fresh.out
