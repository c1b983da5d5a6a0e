"""Switching the certificate font: certificates drawn before keep verifying.

The tech dept may point ``CERTFLOW_CJK_FONT`` at another face (one that prints
a rare character of a name). Regression: verification compared every page
with the face configured where it ran, so a certificate drawn in Noto CJK read
as tampered where WenQuanYi was configured, and one drawn in WenQuanYi had its
glyphs not compared where Noto was. A page is now compared with the face it
is drawn in, wherever this machine has it; where it has not, its glyphs are
not compared, and it never reads as tampered for that.

These need both a TrueType face (WenQuanYi Micro Hei, the default) and a CFF
one (Noto CJK) installed, and skip without.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import NameObject

from certflow.certificates import (
    FONT_ENV,
    CertificateData,
    FontNotFoundError,
    KeyRing,
    SigningKey,
    VerificationStatus,
    find_face,
    font_id,
    load_font,
    render_pdf,
    sign,
    verify_pdf,
)
from certflow.certificates.fontid import face_name, page_face_name
from certflow.certificates.pagecheck import PageProblem
from certflow.certificates.pdf import page_problems, payload_bytes
from certflow.i18n import t
from tests.certificates.certificate_samples import (
    cff_face_beside_truetype,
    configure_only,
    make_data,
    with_glyph_from,
)

NAME = "胡明"


def _faces() -> tuple[Path, Path]:
    """The TrueType certificate font and a CFF face, both installed."""
    cff = cff_face_beside_truetype()
    return load_font(None).path, cff


Issue = Callable[[Path], bytes]


@pytest.fixture(params=[False, True], ids=["signed-before-fonts-were", "font-signed"])
def issue(request: pytest.FixtureRequest, signing_key: SigningKey) -> Issue:
    """Draws a certificate in a font; its signed data names the face, as
    issuance signs it now, or not, as certificates signed before."""

    def drawn_in(font: Path) -> bytes:
        data = make_data(name=NAME)
        if request.param:
            data = data.model_copy(update={"font": font_id(load_font(font))})
        return render_pdf(sign(data, signing_key.private_key), font_path=font)

    return drawn_in


def _base_font(pdf: bytes) -> str:
    page = PdfReader(BytesIO(pdf)).pages[0]
    return str(page["/Resources"]["/Font"]["/F1"]["/BaseFont"])


def test_a_certificate_is_checked_against_its_own_face_after_a_switch(
    issue: Issue, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Drawn in WenQuanYi, verified where Noto CJK is configured, and drawn in
    Noto (through fpdf2, as CFF) where WenQuanYi is: each valid, its glyphs
    compared with the face it is drawn in."""
    truetype, cff = _faces()
    in_truetype, in_cff = issue(truetype), issue(cff)

    monkeypatch.setenv(FONT_ENV, str(cff))  # the tech dept switched
    switched = verify_pdf(in_truetype, keyring)
    monkeypatch.setenv(FONT_ENV, str(truetype))
    switched_back = verify_pdf(in_cff, keyring)

    assert switched.status is VerificationStatus.VALID, switched.message
    assert switched.glyphs_checked
    assert switched_back.status is VerificationStatus.VALID, switched_back.message
    assert switched_back.glyphs_checked


def test_without_the_face_it_was_drawn_in_the_glyphs_are_not_compared(
    issue: Issue, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    truetype, cff = _faces()
    in_truetype, in_cff = issue(truetype), issue(cff)

    configure_only(monkeypatch, cff)
    without_truetype = verify_pdf(in_truetype, keyring)
    configure_only(monkeypatch, truetype)
    without_cff = verify_pdf(in_cff, keyring)

    for result in (without_truetype, without_cff):
        assert result.status is VerificationStatus.VALID, result.message
        assert not result.glyphs_checked and result.data is not None


def test_a_name_redrawn_in_another_face_is_tampered_whatever_font_is_configured(
    issue: Issue, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The name's first character given Noto's outline of it, in a page of
    WenQuanYi: compared with WenQuanYi, installed, wherever configured."""
    truetype, cff = _faces()
    forged = with_glyph_from(issue(truetype), "胡", cff)

    for configured in (truetype, cff):
        monkeypatch.setenv(FONT_ENV, str(configured))
        result = verify_pdf(forged, keyring)
        assert result.status is VerificationStatus.TAMPERED, configured
        assert result.page_altered and result.data is None
        assert t("certificates.page_problem.glyphs") in result.message


def _with_payload(pdf: bytes, payload: bytes) -> bytes:
    """``pdf`` whose attached signed data is ``payload``, the page left alone."""
    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
    names = writer._root_object["/Names"]["/EmbeddedFiles"]["/Names"]
    names[1].get_object()["/EF"]["/F"].get_object().set_data(payload)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_page_drawn_in_another_face_than_the_signed_one_is_tampered(
    signing_key: SigningKey, keyring: KeyRing
) -> None:
    """Signed data naming WenQuanYi, on a page drawn in Noto CJK: a face whose
    glyphs are never compared cannot stand in for the one signed."""
    truetype, cff = _faces()
    data = make_data(name=NAME)
    genuine = sign(
        data.model_copy(update={"font": font_id(load_font(truetype))}),
        signing_key.private_key,
    )
    in_cff = render_pdf(sign(data, signing_key.private_key), font_path=cff)
    forged = _with_payload(in_cff, payload_bytes(genuine))

    result = verify_pdf(forged, keyring)

    assert page_problems(forged, genuine) == [PageProblem.FONT]
    assert result.status is VerificationStatus.TAMPERED and result.page_altered
    assert t("certificates.page_problem.font") in result.message


def test_a_page_in_fpdf2s_structure_naming_a_truetype_face_is_refused(
    signing_key: SigningKey, keyring: KeyRing
) -> None:
    """TrueType faces are drawn by the direct writer: a page in fpdf2's
    structure (looser rules, no glyph check) whose font names such a face is
    refused rather than checked by the looser rules."""
    truetype, cff = _faces()
    pdf = render_pdf(sign(make_data(name=NAME), signing_key.private_key), font_path=cff)
    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
    type0 = writer.pages[0]["/Resources"]["/Font"]["/F1"].get_object()
    claimed = NameObject(f"/MPDFAA+{face_name(load_font(truetype).metrics.full_name)}")
    type0[NameObject("/BaseFont")] = claimed
    type0["/DescendantFonts"][0].get_object()[NameObject("/BaseFont")] = claimed
    out = BytesIO()
    writer.write(out)

    result = verify_pdf(out.getvalue(), keyring)

    assert result.status is VerificationStatus.TAMPERED and result.page_altered
    assert t("certificates.page_problem.foreign_drawing") in result.message


def test_a_certificate_naming_its_font_is_drawn_in_it_or_not_at_all(
    signing_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its signed data names the face: drawing it in another would make a
    page that does not verify."""
    truetype, cff = _faces()
    data = make_data(name=NAME, font=font_id(load_font(truetype)))
    signed = sign(data, signing_key.private_key)

    monkeypatch.setenv(FONT_ENV, str(cff))
    pdf = render_pdf(signed)  # found among the installed faces
    assert _base_font(pdf).endswith("+WenQuanYiMicroHei")
    with pytest.raises(FontNotFoundError, match="WenQuanYiMicroHei"):
        render_pdf(signed, font_path=cff)
    configure_only(monkeypatch, cff)
    with pytest.raises(FontNotFoundError, match="sign it again"):
        render_pdf(signed)


def test_issuance_after_a_switch_draws_in_the_new_face_only(
    signing_key: SigningKey, keyring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The plan's compiled template is kept per face: certificates of one plan
    drawn before, after and again before a switch each carry their own face."""
    truetype, cff = _faces()
    for seq, font in enumerate((truetype, cff, truetype), 1):
        monkeypatch.setenv(FONT_ENV, str(font))
        face = font_id(load_font())
        signed = sign(make_data(name=NAME, seq=seq, font=face), signing_key.private_key)

        pdf = render_pdf(signed)

        assert page_face_name(_base_font(pdf)) == face.partition(":")[0]
        assert page_problems(pdf, signed) == []
        assert verify_pdf(pdf, keyring).status is VerificationStatus.VALID


def test_a_font_id_names_one_face_and_release() -> None:
    truetype, cff = _faces()
    ids = {font_id(load_font(truetype)), font_id(load_font(cff))}
    assert len(ids) == 2
    for path in (truetype, cff):
        face = load_font(path)
        name, digest = font_id(face).split(":")
        assert find_face(name, font_id(face)) is face
        assert find_face(name, f"{name}:{'0' * 16}") is None
        assert len(digest) == 16
    assert CertificateData.model_fields["font"].default is None
