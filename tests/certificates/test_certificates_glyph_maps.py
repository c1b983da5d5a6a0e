"""The maps and font programs behind a page's glyphs, read as renderers read them.

Regressions from a review of the glyph check:

- the encoding CMap of a CFF page was read by regular expression, so a
  mapping behind a ``%`` (a comment, which renderers skip) was read too: a
  certificate whose name's CIDs were exchanged, the genuine ones left behind
  comments, verified as valid, glyphs compared, while poppler drew the name
  exchanged;
- the ToUnicode map was read so too, while the page's text is read by pypdf,
  line by line: a map laid out to read two ways let the text read as signed
  while the glyphs drawn were compared with other text;
- a direct-writer page's encoding was never looked at: an embedded CMap in
  place of ``Identity-H`` drew other glyphs than the ones compared;
- a TrueType subset could draw its points on another grid (``unitsPerEm``),
  every glyph larger or smaller;
- a malformed font program (a CID-keyed CFF without its FDArray) raised out
  of ``verify_pdf``: a traceback in ``certflow verify``, a 500 on the upload
  page.

Where the forgery's point is what the page shows, poppler draws it: the
forged page's rows equal, pixel for pixel, a genuine page of the exchanged
data. The CFF cases need a CFF face (fonts-noto-cjk), the TrueType ones the
default certificate font (fonts-wqy-microhei); each skips without.
"""

from __future__ import annotations

import random
import subprocess
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from fontTools.ttLib import TTFont
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
from certflow.certificates.cmap import CMapError, encoding_cids, to_unicode, tokens
from certflow.i18n import t
from tests.certificates.certificate_samples import (
    INSTALLED_FONTS,
    font_program,
    make_data,
    with_cff_font_edited,
    with_cids_swapped,
    with_font_program,
    with_text_map_read_two_ways,
    with_units_per_em,
    without_fdarray,
)

NAME, ID_NUMBER = "胡明", "330102199001017009"
CFF_FACES = [p for p in INSTALLED_FONTS if not load_font(p).fast_subsetting]
needs_cff = pytest.mark.skipif(not CFF_FACES, reason="no CFF face (fonts-noto-cjk)")


def _needs_truetype() -> None:
    if not load_font(None).fast_subsetting:
        pytest.skip("needs the TrueType certificate font (fonts-wqy-microhei)")


def _drawn(signing_key: SigningKey, face: Path | None, **changes: Any) -> bytes:
    """A certificate of 胡明 drawn by the real writer in ``face`` (the
    default certificate font for ``None``), its font signed."""
    fields: dict[str, Any] = {"name": NAME, "id_number": ID_NUMBER, **changes}
    data = make_data(font=font_id(load_font(face)), **fields)
    return render_pdf(sign(data, signing_key.private_key), font_path=face)


@pytest.fixture
def cff_face(monkeypatch: pytest.MonkeyPatch) -> Path:
    """A CFF face configured, Noto Sans CJK where installed: its digits are of
    one width (Noto Serif CJK's are not), so exchanged digits draw in place."""
    if not CFF_FACES:
        pytest.skip("no CFF face (fonts-noto-cjk)")
    face = next((p for p in CFF_FACES if "Sans" in p.name), CFF_FACES[0])
    monkeypatch.setenv(FONT_ENV, str(face))
    return face


def _rows(pdf: bytes, tmp_path: Path) -> bytes:
    """The page's rows (above the QR code, which differs by signature) as
    poppler draws them, grey pixels."""
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    # 50 dpi: the page is 413 x 585 pixels; the QR code starts below 370.
    subprocess.run(
        ["pdftoppm", "-gray", "-r", "50", "-x", "0", "-y", "0", "-W", "413",
         "-H", "360", "-singlefile", str(path), str(tmp_path / "rows")],
        check=True,
    )  # fmt: skip
    return (tmp_path / "rows.pgm").read_bytes()


def _poppler_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "text.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def _assert_glyphs_tampered(pdf: bytes, keyring: KeyRing) -> None:
    result = verify_pdf(pdf, keyring)
    assert result.status is VerificationStatus.TAMPERED, result.message
    assert result.page_altered and result.data is None and not result.glyphs_checked
    assert t("certificates.page_problem.glyphs") in result.message


SWAPS = {
    "name": ("胡", "明", {"name": "明胡"}),
    # Digits printed in the ID number only (a CID is every row's).
    "id-digits": ("3", "9", {"id_number": "990102133001017003"}),
}


@pytest.mark.parametrize(("first", "second", "shown"), SWAPS.values(), ids=SWAPS)
def test_cids_swapped_behind_comments_are_tampered(
    first: str,
    second: str,
    shown: dict[str, str],
    cff_face: Path,
    signing_key: SigningKey,
    keyring: KeyRing,
    tmp_path: Path,
) -> None:
    """Poppler skips the comments and draws the exchanged characters; the
    check read the genuine CIDs behind them and said valid."""
    forged = with_cids_swapped(
        _drawn(signing_key, cff_face), first, second, behind_comments=True
    )

    assert _rows(forged, tmp_path) == _rows(
        _drawn(signing_key, cff_face, **shown), tmp_path
    )
    _assert_glyphs_tampered(forged, keyring)


def test_a_text_map_that_reads_two_ways_is_tampered(
    cff_face: Path, signing_key: SigningKey, keyring: KeyRing, tmp_path: Path
) -> None:
    """pypdf (the page check's reader) reads 胡明 as signed; poppler reads,
    and draws, 明胡. The glyphs were compared with poppler's reading."""
    forged = with_text_map_read_two_ways(_drawn(signing_key, cff_face), "胡", "明")

    read = PdfReader(BytesIO(forged)).pages[0].extract_text()
    assert NAME in read.replace("\0", "")  # pypdf reads each code's NUL byte
    assert "明胡" in _poppler_text(forged, tmp_path)
    assert _rows(forged, tmp_path) == _rows(
        _drawn(signing_key, cff_face, name="明胡"), tmp_path
    )
    _assert_glyphs_tampered(forged, keyring)


def _encoded_through(pdf: bytes, swapped: tuple[str, str]) -> bytes:
    """``pdf`` (the direct writer's) whose font draws through an embedded
    encoding CMap, identity but for the two characters' codes exchanged."""
    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
    type0 = writer.pages[0]["/Resources"]["/Font"]["/F1"].get_object()
    code_of = {
        text: code
        for code, text in to_unicode(
            type0["/ToUnicode"].get_object().get_data()
        ).items()
    }
    one, other = (code_of[c] for c in swapped)
    cmap = DecodedStreamObject()
    cmap.set_data(
        b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >>"
        b" def\n/CMapName /Adobe-Identity-Swapped def /CMapType 1 def\n"
        b"1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        b"1 begincidrange <0000> <FFFF> 0 endcidrange\n"
        b"2 begincidchar <%04X> %d <%04X> %d endcidchar\n"
        b"endcmap CMapName currentdict /CMap defineresource pop end end"
        % (one, other, other, one)
    )
    cmap[NameObject("/Type")] = NameObject("/CMap")
    type0[NameObject("/Encoding")] = writer._add_object(cmap)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def test_a_truetype_page_drawn_through_another_encoding_is_tampered(
    signing_key: SigningKey, keyring: KeyRing, tmp_path: Path
) -> None:
    """The direct writer's codes are glyph ids (``Identity-H``); the check
    compared each code's glyph of that id, whatever the encoding said."""
    _needs_truetype()
    forged = _encoded_through(_drawn(signing_key, None), ("7", "9"))

    assert _rows(forged, tmp_path) == _rows(
        _drawn(signing_key, None, id_number="330102177001019007"), tmp_path
    )
    _assert_glyphs_tampered(forged, keyring)


def test_a_truetype_subset_on_another_grid_is_tampered(
    signing_key: SigningKey, keyring: KeyRing, tmp_path: Path
) -> None:
    """The same points at four times the units to the em: every glyph drawn
    at a quarter of its size, the points compared still the face's."""
    _needs_truetype()
    genuine = _drawn(signing_key, None)
    units = TTFont(BytesIO(font_program(genuine)))["head"].unitsPerEm
    forged = with_units_per_em(genuine, units * 4)

    assert _rows(forged, tmp_path) != _rows(genuine, tmp_path)
    _assert_glyphs_tampered(forged, keyring)


def _half_size(font: Any) -> None:
    font.FontMatrix = [value / 2 for value in font.FontMatrix]


def _fd_half_size(font: Any) -> None:
    for fd in font.FDArray:
        fd.FontMatrix = [value / 2 for value in getattr(fd, "FontMatrix", [1] * 6)]


@pytest.mark.parametrize("rescale", [_half_size, _fd_half_size], ids=["top", "fd"])
def test_a_cff_subset_under_another_font_matrix_is_tampered(
    rescale: Callable[[Any], None],
    cff_face: Path,
    signing_key: SigningKey,
    keyring: KeyRing,
    tmp_path: Path,
) -> None:
    """A CFF subset's glyphs rescaled by its font matrices (compared since the
    CFF check was added; kept here beside the TrueType grid)."""
    genuine = _drawn(signing_key, cff_face)
    forged = with_cff_font_edited(genuine, rescale)

    assert _rows(forged, tmp_path) != _rows(genuine, tmp_path)
    _assert_glyphs_tampered(forged, keyring)


@needs_cff
def test_a_cff_subset_without_its_fdarray_is_tampered_not_a_crash(
    cff_face: Path, signing_key: SigningKey, keyring: KeyRing
) -> None:
    """fontTools raised AttributeError (numGlyphs) out of verify_pdf."""
    forged = with_cff_font_edited(_drawn(signing_key, cff_face), without_fdarray)

    _assert_glyphs_tampered(forged, keyring)


def _mutations(program: bytes, rng: random.Random) -> bytes:
    """``program`` with a few of its bytes changed, cut short or doubled."""
    data = bytearray(program)
    kind = rng.randrange(4)
    if kind == 0:
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == 1:
        del data[rng.randrange(len(data)) :]
    elif kind == 2:
        start = rng.randrange(len(data))
        data[start:start] = data[start : start + rng.randint(1, 64)]
    else:  # a header or an offset table: where parsers go astray
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(min(len(data), 256))] = rng.randrange(256)
    return bytes(data)


@pytest.mark.parametrize("kind", ["cff", "truetype"])
def test_malformed_font_programs_never_raise(
    kind: str,
    signing_key: SigningKey,
    keyring: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seeded fuzzing of real certificates' embedded font programs (and, for
    CFF, of the font's dictionaries): every verification gives a verdict."""
    if kind == "cff":
        if not CFF_FACES:
            pytest.skip("no CFF face (fonts-noto-cjk)")
        monkeypatch.setenv(FONT_ENV, str(CFF_FACES[0]))
        genuine = _drawn(signing_key, CFF_FACES[0])
    else:
        _needs_truetype()
        genuine = _drawn(signing_key, None)
    program = font_program(genuine)
    rng = random.Random(f"certificate font {kind}")
    forged = [with_font_program(genuine, _mutations(program, rng)) for _ in range(150)]
    if kind == "cff":
        edited = [_compiled(genuine, _dropping(rng)) for _ in range(40)]
        forged += [pdf for pdf in edited if pdf is not None]
        assert len(forged) > 170  # most of the edits compile

    verdicts = {verify_pdf(pdf, keyring).status for pdf in forged}

    assert verdicts <= {VerificationStatus.TAMPERED, VerificationStatus.VALID}
    assert VerificationStatus.TAMPERED in verdicts


def _compiled(pdf: bytes, edit: Callable[[Any], None]) -> bytes | None:
    """``pdf`` with its CFF font edited, or ``None`` where fontTools cannot
    write the edited font (no charset, say)."""
    try:
        return with_cff_font_edited(pdf, edit)
    except Exception:
        return None


_TOP_KEYS = ("FDSelect", "FDArray", "charset", "ROS", "FontMatrix", "CharStrings")


def _dropping(rng: random.Random) -> Callable[[Any], None]:
    """An edit removing some of a CID-keyed CFF's top dictionary entries."""
    dropped = rng.sample(_TOP_KEYS, rng.randint(1, 3))

    def drop(font: Any) -> None:
        for key in dropped:
            font.rawDict.pop(key, None)
            if key in font.__dict__:
                delattr(font, key)

    return drop


# The reading itself, against what renderers do.


def test_tokens_drop_comments_and_keep_strings_and_hex_strings() -> None:
    read = tokens(b"(a % not a comment) % a comment <0041>\n<00 4 2> /Name op")

    assert [(tok.kind, tok.value) for tok in read] == [
        ("string", b"a % not a comment"),
        ("hex", b"\x00\x42"),
        ("name", b"Name"),
        ("other", b"op"),
    ]


def _encoding(blocks: bytes) -> bytes:
    return (
        b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        b"/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (Identity)\n/Supplement 0\n"
        b">> def\n/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n" + blocks
        + b"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
    )  # fmt: skip


ROS = ("Adobe", "Identity", 0)


def test_the_writers_encoding_is_read() -> None:
    cmap = _encoding(b"2 begincidchar\n<0000> 32\n<0001> 7\nendcidchar\n")

    assert encoding_cids(cmap, ROS) == {0: 32, 1: 7}


REFUSED = {
    "comment": b"2 begincidchar\n<0000> 32\n<0001> 7\n% <0001> 8\nendcidchar\n",
    "two-on-a-line": b"2 begincidchar\n<0000> 32 <0001> 7\nendcidchar\n",
    "code-twice": b"2 begincidchar\n<0001> 32\n<0001> 7\nendcidchar\n",
    "count-wrong": b"3 begincidchar\n<0000> 32\n<0001> 7\nendcidchar\n",
    "range": b"1 begincidrange\n<0000> <00FF> 0\nendcidrange\n",
    "usecmap": b"/Identity-H usecmap\n1 begincidchar\n<0000> 32\nendcidchar\n",
    "one-byte-code": b"1 begincidchar\n<41> 32\nendcidchar\n",
    "vertical": b"/WMode 1 def\n1 begincidchar\n<0000> 32\nendcidchar\n",
    "notdef": b"1 beginnotdefrange\n<0000> <FFFF> 1\nendnotdefrange\n",
    "unclosed": b"1 begincidchar\n<0000> 32\n",
}


@pytest.mark.parametrize("blocks", REFUSED.values(), ids=REFUSED)
def test_an_encoding_the_writers_never_write_is_refused(blocks: bytes) -> None:
    with pytest.raises(CMapError):
        encoding_cids(_encoding(blocks), ROS)


def test_a_text_map_with_a_comment_is_refused(signing_key: SigningKey) -> None:
    genuine = render_pdf(sign(make_data(), signing_key.private_key))
    font = PdfReader(BytesIO(genuine)).pages[0]["/Resources"]["/Font"]["/F1"]
    cmap = font.get_object()["/ToUnicode"].get_object().get_data()
    assert to_unicode(cmap)

    with pytest.raises(CMapError):
        to_unicode(cmap.replace(b"endbfchar", b"% <0041> <660E>\nendbfchar", 1))
