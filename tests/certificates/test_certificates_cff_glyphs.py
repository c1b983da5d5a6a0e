"""The glyphs of a certificate drawn in a CFF-outline face are compared too.

Regression: verification compared the embedded glyphs with the face only for
TrueType faces (the direct writer's pages). A certificate drawn in Noto CJK
(PostScript, CFF outlines: fpdf2 embeds a CID-keyed CFF subset) was never
compared, even where Noto CJK was installed: every such certificate verified
with exit 8 and a word that the font it was drawn in was not here, and a page
whose glyphs were redrawn passed as genuine but for that word. Its drawn
glyphs are now compared, path for path, with the face's own.

These need a CFF face (fonts-noto-cjk) installed, and skip without.
"""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, NameObject

from certflow.certificates import (
    FONT_ENV,
    KeyRing,
    SigningKey,
    VerificationStatus,
    font_id,
    load_font,
    render_pdf,
    sign,
    verify_pdf,
)
from certflow.i18n import t
from tests.certificates.certificate_samples import (
    INSTALLED_FONTS,
    make_data,
    with_cff_glyphs_swapped,
    with_cids_swapped,
    with_nothing_drawn_as,
)

NAME, ID_NUMBER = "胡明", "330102199001017009"
CFF_FACES = [p for p in INSTALLED_FONTS if not load_font(p).fast_subsetting]
needs_cff = pytest.mark.skipif(not CFF_FACES, reason="no CFF face (fonts-noto-cjk)")


def _in(face: Path, signing_key: SigningKey) -> bytes:
    """A certificate drawn in ``face`` by the real writer, its font signed."""
    data = make_data(name=NAME, id_number=ID_NUMBER, font=font_id(load_font(face)))
    return render_pdf(sign(data, signing_key.private_key), font_path=face)


@needs_cff
@pytest.mark.parametrize("face", CFF_FACES, ids=lambda p: p.name)
@pytest.mark.parametrize("configured", ["its-face", "truetype-configured"])
def test_a_certificate_in_a_cff_face_has_its_glyphs_compared(
    face: Path,
    configured: str,
    signing_key: SigningKey,
    keyring: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pdf = _in(face, signing_key)
    if configured == "its-face":
        monkeypatch.setenv(FONT_ENV, str(face))
    else:  # the default certificate font; the CFF face installed beside it
        monkeypatch.delenv(FONT_ENV, raising=False)

    result = verify_pdf(pdf, keyring)

    assert result.status is VerificationStatus.VALID, result.message
    assert result.glyphs_checked


Forgery = Callable[[bytes], bytes]
FORGERIES: dict[str, Forgery] = {
    "name-outlines-swapped": lambda pdf: with_cff_glyphs_swapped(pdf, "胡", "明"),
    "digit-outlines-swapped": lambda pdf: with_cff_glyphs_swapped(pdf, "7", "9"),
    "name-cids-swapped": lambda pdf: with_cids_swapped(pdf, "胡", "明"),
    "digit-cids-swapped": lambda pdf: with_cids_swapped(pdf, "0", "1"),
    # A "1" drawn before the name, in the code the text reads as nothing.
    "drawn-in-the-nul-code": lambda pdf: with_nothing_drawn_as(pdf, "1", "胡"),
}


@needs_cff
@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_glyphs_redrawn_on_a_cff_page_are_tampered(
    forge: Forgery,
    signing_key: SigningKey,
    keyring: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The text reads as signed; the page shows other characters."""
    face = CFF_FACES[0]
    monkeypatch.setenv(FONT_ENV, str(face))
    forged = forge(_in(face, signing_key))

    result = verify_pdf(forged, keyring)

    assert result.status is VerificationStatus.TAMPERED, result.message
    assert result.page_altered and result.data is None
    assert t("certificates.page_problem.glyphs") in result.message


def test_a_truetype_page_whose_codes_map_to_other_glyphs_is_tampered(
    signing_key: SigningKey, keyring: KeyRing
) -> None:
    """The direct writer maps each code to the glyph of that id: a page whose
    CIDToGIDMap sends the code of 7 to the glyph of 9 was reported as valid
    but for its glyphs (exit 8), as if the face were missing."""
    if not load_font(None).fast_subsetting:
        pytest.skip("needs the TrueType certificate font (fonts-wqy-microhei)")
    data = make_data(name=NAME, id_number=ID_NUMBER)
    pdf = render_pdf(sign(data, signing_key.private_key))
    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
    type0 = writer.pages[0]["/Resources"]["/Font"]["/F1"].get_object()
    descendant = type0["/DescendantFonts"][0].get_object()
    gids = bytearray(b"".join(code.to_bytes(2, "big") for code in range(0x10000)))
    seven, nine = 2 * ord("7"), 2 * ord("9")
    gids[seven : seven + 2], gids[nine : nine + 2] = (
        gids[nine : nine + 2],
        gids[seven : seven + 2],
    )
    remap = DecodedStreamObject()
    remap.set_data(bytes(gids))
    descendant[NameObject("/CIDToGIDMap")] = writer._add_object(remap)
    out = BytesIO()
    writer.write(out)

    result = verify_pdf(out.getvalue(), keyring)

    assert result.status is VerificationStatus.TAMPERED, result.message
    assert t("certificates.page_problem.glyphs") in result.message
