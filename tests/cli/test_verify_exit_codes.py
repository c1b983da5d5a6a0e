"""``certflow verify`` gives each outcome its own exit status.

From a security trial: valid was 0 and everything else 2, so a script had to
read Chinese to tell a revoked certificate from a forgery, or either from a
key file it could not read. The statuses are documented in a table in
docs/staff-guide.md and docs/certificates.md; each one is proven here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from certflow.certificates import (
    FONT_ENV,
    RevocationEntry,
    StatusList,
    font_id,
    generate_keypair,
    load_font,
    load_private_key,
    render_pdf,
    sign,
    sign_status_list,
)
from certflow.config import Settings
from certflow.i18n import t
from starter.cli import VerifyExit
from tests.certificates.certificate_samples import (
    INSTALLED_FONTS,
    add_document_javascript,
    cff_face_beside_truetype,
    configure_only,
    incrementally,
    make_data,
    with_cff_font_edited,
    with_cids_swapped,
    without_fdarray,
)
from tests.cli.conftest import certflow_runner

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

ISSUED_ON = date(2026, 12, 4)


@dataclass(frozen=True)
class Files:
    """A freshly issued certificate, its key, and the files a verifier is given."""

    folder: Path
    private_pem: bytes
    key: Path
    pdf: Path

    def write(self, name: str, data: bytes) -> Path:
        path = self.folder / name
        path.write_bytes(data)
        return path

    def status_list(self, name: str, issued_at: datetime, *revoked: str) -> Path:
        listed = StatusList(
            issued_at=issued_at,
            entries=[
                RevocationEntry(number=n, revoked_on=issued_at.date(), reason="测试")
                for n in revoked
            ],
        )
        signed = sign_status_list(listed, load_private_key(self.private_pem))
        return self.write(name, signed.model_dump_json().encode())


def _issued(folder: Path) -> Files:
    private_pem, public_pem = generate_keypair()
    data = make_data(name="胡明", id_number="330102199001017009", issued_on=ISSUED_ON)
    pdf = render_pdf(sign(data, load_private_key(private_pem)))
    files = Files(folder, private_pem, folder / "key.pub.pem", folder / "cert.pdf")
    files.write("key.pub.pem", public_pem)
    files.write("cert.pdf", pdf)
    return files


NUMBER = make_data().number
AFTER_ISSUE = datetime(2026, 12, 4, 10, tzinfo=UTC)
A_YEAR_BEFORE = datetime(2025, 12, 1, 1, tzinfo=UTC)


def _key(files: Files) -> list[str]:
    return ["--public-key", str(files.key)]


def _with_list(files: Files, issued_at: datetime, *revoked: str) -> list[str]:
    listed = files.status_list("status-list.json", issued_at, *revoked)
    return _given_list(files, listed)


def _other_pdf(files: Files, data: bytes) -> list[str]:
    return [*_key(files), str(files.write("other.pdf", data))]


def _stranger_key(files: Files) -> list[str]:
    stranger = files.write("stranger.pem", generate_keypair()[1])
    return ["--public-key", str(stranger), str(files.pdf)]


def _untrusted_list(files: Files) -> list[str]:
    genuine = files.status_list("genuine.json", AFTER_ISSUE).read_bytes()
    edited = files.write("edited.json", genuine.replace(b"2026-12-04", b"2026-12-05"))
    return _given_list(files, edited)


def _rotated(files: Files, *revoked: str) -> list[str]:
    """The key rotated, the old public key not given: a list signed by the new
    key (trusted), revoking ``revoked``, beside the certificate of the old."""
    new_private, new_public = generate_keypair()
    listed = StatusList(
        issued_at=AFTER_ISSUE,
        entries=[
            RevocationEntry(number=n, revoked_on=AFTER_ISSUE.date(), reason="测试")
            for n in revoked
        ],
    )
    signed = sign_status_list(listed, load_private_key(new_private))
    list_file = files.write("rotated.json", signed.model_dump_json().encode())
    key = files.write("new.pub.pem", new_public)
    return ["--public-key", str(key), "--status-list", str(list_file), str(files.pdf)]


def _given_list(files: Files, listed: Path) -> list[str]:
    return [*_key(files), "--status-list", str(listed), str(files.pdf)]


# Each outcome: the arguments after ``verify``, made from the files, and its status.
CASES: dict[str, tuple[Callable[[Files], list[str]], int]] = {
    "valid": (lambda f: [*_key(f), str(f.pdf)], 0),
    "valid-with-current-list": (lambda f: _with_list(f, AFTER_ISSUE), 0),
    "usage-unknown-flag": (lambda f: ["--no-such-flag", str(f.pdf)], 2),
    "usage-no-file": (_key, 2),
    "revoked": (lambda f: _with_list(f, AFTER_ISSUE, NUMBER), 3),
    "tampered-payload": (
        lambda f: _other_pdf(f, f.pdf.read_bytes().replace(b"7009", b"7008")),
        4,
    ),
    "tampered-content-added": (
        lambda f: _other_pdf(
            f, incrementally(f.pdf.read_bytes(), add_document_javascript)
        ),
        4,
    ),
    "unknown-key": (_stranger_key, 5),
    "unknown-key-not-revoked": (lambda f: _rotated(f), 5),
    # Regression (trial): the list revoking it, the file read "cannot confirm".
    "unknown-key-revoked": (lambda f: _rotated(f, NUMBER), 3),
    "not-a-certificate": (lambda f: _other_pdf(f, b"%PDF-1.4\nnot a pdf\n"), 6),
    "too-large-to-be-one": (
        lambda f: _other_pdf(f, b"%PDF-1.7\n" + bytes(11 << 20)),
        6,
    ),
    "file-missing": (lambda f: [*_key(f), str(f.folder / "none.pdf")], 7),
    "file-is-folder": (lambda f: [*_key(f), str(f.folder)], 7),
    "key-not-a-key": (
        lambda f: ["--public-key", str(f.write("k.pem", b"no key")), str(f.pdf)],
        7,
    ),
    "list-unreadable": (lambda f: _given_list(f, f.write("l.json", b"{}")), 7),
    "list-untrusted": (_untrusted_list, 7),
    "revocation-unchecked": (lambda f: _with_list(f, A_YEAR_BEFORE), 9),
}


@pytest.mark.parametrize(
    ("make", "expected"),
    [pytest.param(make, code, id=name) for name, (make, code) in CASES.items()],
)
async def test_each_outcome_has_its_own_exit_status(
    make: Callable[[Files], list[str]],
    expected: int,
    settings: Settings,
    tmp_path: Path,
) -> None:
    if not load_font(None).fast_subsetting:
        pytest.skip("needs the TrueType certificate font (fonts-wqy-microhei)")
    certflow = certflow_runner(settings, None)
    files = _issued(tmp_path)

    outcome = await certflow("verify", *make(files))

    assert outcome.status == expected, outcome.out


async def test_glyphs_not_compared_is_its_own_status_and_revocation_comes_first(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the certificate font is not installed (another face configured),
    a genuine certificate is 8: its page must be compared by eye. With a list
    too old to know it as well, the unchecked revocation (9) is what is said."""
    cff_face = cff_face_beside_truetype()
    certflow = certflow_runner(settings, None)
    files = _issued(tmp_path)
    old_list = files.status_list("old.json", A_YEAR_BEFORE)
    current_list = files.status_list("new.json", AFTER_ISSUE)
    revoking_list = files.status_list("rev.json", AFTER_ISSUE, NUMBER)
    configure_only(monkeypatch, cff_face)

    plain = await certflow("verify", *_key(files), str(files.pdf))
    current = await certflow(
        "verify", *_key(files), "--status-list", str(current_list), str(files.pdf)
    )
    both = await certflow(
        "verify", *_key(files), "--status-list", str(old_list), str(files.pdf)
    )
    revoked = await certflow(
        "verify", *_key(files), "--status-list", str(revoking_list), str(files.pdf)
    )

    assert plain.status == current.status == VerifyExit.GLYPHS_UNCHECKED == 8
    assert both.status == VerifyExit.REVOCATION_UNCHECKED == 9
    assert revoked.status == VerifyExit.REVOKED == 3


async def test_a_switch_of_the_certificate_font_changes_no_certificates_status(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: after the font was switched to Noto CJK, a certificate drawn
    in WenQuanYi (still installed) was 8, glyphs not compared; and one drawn in
    Noto CJK was 4, tampered, where WenQuanYi was configured, then 8 with a
    word that the font was not here, installed as it was: its CFF outlines
    were never compared. Both are 0, their glyphs compared."""
    cff_face = cff_face_beside_truetype()
    certflow = certflow_runner(settings, None)
    files = _issued(tmp_path)
    data = make_data(name="胡明", font=font_id(load_font(cff_face)))
    signed = sign(data, load_private_key(files.private_pem))
    in_cff = files.write("noto.pdf", render_pdf(signed, font_path=cff_face))

    monkeypatch.setenv(FONT_ENV, str(cff_face))
    switched = await certflow("verify", *_key(files), str(files.pdf))
    in_its_face = await certflow("verify", *_key(files), str(in_cff))
    monkeypatch.delenv(FONT_ENV)
    before = await certflow("verify", *_key(files), str(in_cff))

    assert switched.status == VerifyExit.VALID, switched.out
    for outcome in (in_its_face, before):
        assert outcome.status == VerifyExit.VALID, outcome.out
        assert t("cli.verify_glyphs_unchecked") not in outcome.out
        assert t("cli.verify_compare_printed") not in outcome.out


async def test_the_libraries_reading_a_damaged_file_say_nothing_in_english(
    settings: Settings, tmp_path: Path
) -> None:
    """Trial: a certificate with a byte changed inside its embedded font had
    four English lines of fontTools ('created' timestamp out of range, corrupt
    'loca' table…) printed above the Chinese verdict."""
    files = _issued(tmp_path)
    certflow = certflow_runner(settings, None)
    for library in ("pypdf", "fontTools"):
        logging.getLogger(library).setLevel(logging.NOTSET)

    await certflow("verify", *_key(files), str(files.pdf))

    for library in ("pypdf", "fontTools"):
        assert not logging.getLogger(library).isEnabledFor(logging.WARNING), library


async def test_a_cff_certificate_whose_glyphs_are_forged_or_font_broken_is_4(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a Noto CJK certificate whose name's CIDs were exchanged, the
    genuine ones left behind comments, exited 0; one whose CFF font had no
    FDArray raised AttributeError out of the command (a traceback)."""
    cff = [p for p in INSTALLED_FONTS if not load_font(p).fast_subsetting]
    if not cff:
        pytest.skip("no CFF face (fonts-noto-cjk)")
    monkeypatch.setenv(FONT_ENV, str(cff[0]))
    certflow = certflow_runner(settings, None)
    files = _issued(tmp_path)
    data = make_data(name="胡明", issued_on=ISSUED_ON, font=font_id(load_font(cff[0])))
    genuine = render_pdf(
        sign(data, load_private_key(files.private_pem)), font_path=cff[0]
    )
    hidden = with_cids_swapped(genuine, "胡", "明", behind_comments=True)
    broken = with_cff_font_edited(genuine, without_fdarray)

    valid = await certflow("verify", *_other_pdf(files, genuine))
    forged = await certflow("verify", *_other_pdf(files, hidden))
    crashed = await certflow("verify", *_other_pdf(files, broken))

    assert valid.status == VerifyExit.VALID == 0, valid.out
    assert forged.status == crashed.status == VerifyExit.TAMPERED == 4
    assert t("certificates.page_problem.glyphs") in crashed.out
