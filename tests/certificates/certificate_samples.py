"""Sample certificate data shared by the e-certificate tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from fontTools.cffLib import CFFFontSet
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    ByteStringObject,
    ContentStream,
    DictionaryObject,
    NameObject,
    TextStringObject,
)

from certflow.certificates import (
    FONT_ENV,
    FONT_ENV_PREVIOUS,
    CertificateData,
    NumberScheme,
    load_font,
)
from certflow.certificates.cmap import to_unicode
from certflow.certificates.fonts import KNOWN_FONTS, choose_face
from certflow.certificates.pdfwriter import to_unicode_cmap
from certflow.models import Level

# The CJK faces of ``KNOWN_FONTS`` this machine has installed.
INSTALLED_FONTS = [Path(p) for p, _package in KNOWN_FONTS if Path(p).is_file()]


def cff_face_beside_truetype() -> Path:
    """An installed CFF-outline face, where the certificate font is TrueType.

    Configured as the only font of a machine (:func:`configure_only`), it is
    not the face a certificate was written in, so the certificate's glyphs
    cannot be compared. Skips the test on a machine without both.
    """
    cff = [p for p in INSTALLED_FONTS if not load_font(p).fast_subsetting]
    if not cff or not load_font(None).fast_subsetting:
        pytest.skip("needs a TrueType certificate font and a CFF face installed")
    return cff[0]


def configure_only(monkeypatch: pytest.MonkeyPatch, font: Path) -> None:
    """Make ``font`` the certificate font and the only one this machine has
    for verifying: a certificate drawn in another face finds none."""
    monkeypatch.setenv(FONT_ENV, str(font))
    monkeypatch.setenv(FONT_ENV_PREVIOUS, "")


def make_data(
    name: str = "买买提·艾力", seq: int = 1, **changes: object
) -> CertificateData:
    """A certificate of an intermediate 汽车运用与维修 candidate, numbered by scheme."""
    number = NumberScheme().format(
        year=2026, certificate="汽车运用与维修", level=Level.INTERMEDIATE, seq=seq
    )
    fields: dict[str, object] = {
        "number": number,
        "organisation": "北京中车行高新技术有限公司",
        "candidate_name": name,
        "id_type": "居民身份证",
        "id_number": "65010219990101123X",
        "certificate": "汽车运用与维修",
        "level": Level.INTERMEDIATE,
        "module_code": "1-1",
        "module_name": "汽车动力与驱动综合分析技术",
        "plan_id": "P2026-HB-0031",
        "issued_on": date(2026, 12, 4),
        "verify_url_base": "https://zhengshu.example.org",
    }
    fields.update(changes)
    return CertificateData.model_validate(fields)


def with_glyphs_swapped(pdf: bytes, first: str, second: str) -> bytes:
    """``pdf`` whose embedded font draws ``first`` as ``second`` and back.

    The page's text and its ToUnicode map are left alone, so the text reads
    back as signed while the page shows the two characters exchanged.
    """

    def swap(face: TTFont, glyph_of: Callable[[str], str]) -> None:
        glyf = face["glyf"]
        one, other = glyph_of(first), glyph_of(second)
        glyf[one], glyf[other] = glyf[other], glyf[one]

    return _with_font_edited(pdf, swap)


def with_glyph_from(pdf: bytes, char: str, font: Path) -> bytes:
    """``pdf`` whose embedded font draws ``char`` as ``font`` draws it.

    The character is redrawn in another face (its curves made quadratic for
    the TrueType subset), the rest of the page's font left as it was: the
    page still shows that character, in a shape its font never had.
    """
    source = TTFont(str(font), fontNumber=choose_face(font), lazy=True)
    pen = TTGlyphPen(None)
    source.getGlyphSet()[source.getBestCmap()[ord(char)]].draw(
        Cu2QuPen(pen, max_err=1.0, reverse_direction=True)
    )

    def redraw(face: TTFont, glyph_of: Callable[[str], str]) -> None:
        face["glyf"][glyph_of(char)] = pen.glyph()

    return _with_font_edited(pdf, redraw)


def _with_font_edited(
    pdf: bytes, edit: Callable[[TTFont, Callable[[str], str]], None]
) -> bytes:
    """``pdf`` with its page's embedded TrueType font edited by ``edit``, which
    gets the parsed font and the glyph name of each character on the page."""
    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
    type0 = writer.pages[0]["/Resources"]["/Font"]["/F1"].get_object()
    program = type0["/DescendantFonts"][0]["/FontDescriptor"]["/FontFile2"]
    program = program.get_object()
    codes = {
        text: code
        for code, text in to_unicode(
            type0["/ToUnicode"].get_object().get_data()
        ).items()
    }
    face = TTFont(BytesIO(program.get_data()))
    order = face.getGlyphOrder()
    edit(face, lambda char: order[codes[char]])
    out = BytesIO()
    face.save(out)
    program.set_data(out.getvalue())
    saved = BytesIO()
    writer.write(saved)
    return saved.getvalue()


class CffPage:
    """The font of a page fpdf2 drew in a CFF face, opened to be forged: its
    embedded CFF font set, its encoding (code -> CID) and ToUnicode codes."""

    def __init__(self, pdf: bytes) -> None:
        self.writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
        self.type0 = self.writer.pages[0]["/Resources"]["/Font"]["/F1"].get_object()
        descriptor = self.type0["/DescendantFonts"][0]["/FontDescriptor"]
        self.program = descriptor["/FontFile3"].get_object()
        self.fonts = CFFFontSet()
        self.fonts.decompile(BytesIO(self.program.get_data()), None)
        mapping = to_unicode(self.type0["/ToUnicode"].get_object().get_data())
        self.code_of = {text: code for code, text in mapping.items()}
        encoding = self.type0["/Encoding"].get_object().get_data()
        self.cid_of = {
            int(code, 16): int(cid)
            for code, cid in re.findall(rb"<([0-9A-F]{4})> (\d+)", encoding)
        }

    def glyph(self, char: str) -> str:
        """The glyph name the page draws ``char`` with."""
        return f"cid{self.cid_of[self.code_of[char]]:05d}"

    def encode(self, cids: dict[int, int], comments: str = "") -> None:
        """Give the encoding these codes' CIDs instead of its own, laid out
        as fpdf2 lays one out (blocks of 100), ``comments`` before its end."""
        self.cid_of.update(cids)
        lines = [f"<{c:04X}> {cid}\n" for c, cid in sorted(self.cid_of.items())]
        blocks = "".join(
            f"{len(lines[i : i + 100])} begincidchar\n"
            f"{''.join(lines[i : i + 100])}endcidchar\n"
            for i in range(0, len(lines), 100)
        )
        stream = self.type0["/Encoding"].get_object()
        data = stream.get_data()
        head = data[: data.index(b"endcodespacerange\n") + 18]
        tail = data[data.index(b"endcmap") :]
        body = blocks.removesuffix("endcidchar\n") + comments + "endcidchar\n"
        stream.set_data(head + body.encode() + tail)

    def saved(self) -> bytes:
        out = BytesIO()
        self.fonts.compile(out, TTFont(recalcBBoxes=False))
        self.program.set_data(out.getvalue())
        saved = BytesIO()
        self.writer.write(saved)
        return saved.getvalue()


def with_cff_glyphs_swapped(pdf: bytes, first: str, second: str) -> bytes:
    """``pdf`` (drawn in a CFF face) whose embedded font draws ``first`` as
    ``second`` and back: their charstrings exchanged, text and maps as signed."""
    page = CffPage(pdf)
    strings = page.fonts[0].CharStrings
    one, other = page.glyph(first), page.glyph(second)
    strings[one], strings[other] = strings[other], strings[one]
    return page.saved()


def with_cids_swapped(
    pdf: bytes, first: str, second: str, *, behind_comments: bool = False
) -> bytes:
    """``pdf`` (drawn in a CFF face) whose encoding sends the code of ``first``
    to the glyph of ``second`` and back: the font and the text left as signed.

    ``behind_comments`` adds, as PostScript comments that renderers skip, the
    two codes' genuine mappings after the swapped ones: a reader of the map
    by pattern, not by token, reads the genuine CIDs.
    """
    page = CffPage(pdf)
    one, other = page.code_of[first], page.code_of[second]
    genuine = {one: page.cid_of[one], other: page.cid_of[other]}
    comments = "".join(f"% <{c:04X}> {cid}\n" for c, cid in genuine.items())
    page.encode(
        {one: genuine[other], other: genuine[one]},
        comments if behind_comments else "",
    )
    return page.saved()


def with_text_map_read_two_ways(pdf: bytes, first: str, second: str) -> bytes:
    """``pdf`` (drawn in a CFF face) that draws ``first`` as ``second`` and
    back, its ToUnicode map laid out so that it reads two ways.

    The encoding's CIDs of the two are exchanged, and their ToUnicode lines
    are replaced by ones a reader by PostScript token (a renderer's text
    extraction) pairs as the glyphs now drawn, while pypdf, reading the map
    line by line and pairing within a line only, still reads the text as
    signed. ``pdftotext`` then reads the page's name exchanged, pypdf not.
    """
    page = CffPage(pdf)
    one, other = page.code_of[first], page.code_of[second]
    page.encode({one: page.cid_of[other], other: page.cid_of[one]})
    kept = sorted(
        (code, text) for text, code in page.code_of.items() if code not in (one, other)
    )
    genuine, _, tail = to_unicode_cmap(kept).rpartition(b"endcmap")

    def hexed(char: str) -> bytes:
        return char.encode("utf-16-be").hex().upper().encode()

    def spliced(code: int, shown: str, read: str, unused: int) -> bytes:
        # By token: <unused> <code>, <read> <unused>, <code> <shown>.
        # By line: <code> <read> only (odd lines are dropped, pairs per line).
        return b"<%04X>\n<%04X> <%s>\n<%04X> <%04X>\n<%s>\n" % (
            unused, code, hexed(read), unused + 1, code, hexed(shown),
        )  # fmt: skip

    extra = spliced(one, second, first, 0xF000) + spliced(other, first, second, 0xF002)
    block = b"6 beginbfchar\n" + extra + b"endbfchar\n"
    page.type0["/ToUnicode"].get_object().set_data(genuine + block + b"endcmap" + tail)
    return page.saved()


def with_cff_font_edited(pdf: bytes, edit: Callable[[Any], None]) -> bytes:
    """``pdf`` (drawn in a CFF face) whose embedded CFF font (fontTools'
    top dictionary) ``edit`` changed; the maps and the text left as signed."""
    page = CffPage(pdf)
    edit(page.fonts[0])
    return page.saved()


def without_fdarray(font: Any) -> None:
    """Remove a CID-keyed CFF font's FDSelect and FDArray (an edit for
    :func:`with_cff_font_edited`): fontTools then fails on reading it."""
    for key in ("FDSelect", "FDArray"):
        font.rawDict.pop(key, None)
        if hasattr(font, key):
            delattr(font, key)


def with_units_per_em(pdf: bytes, units: int) -> bytes:
    """``pdf`` (the direct writer's, TrueType) whose embedded font has
    ``units`` to the em: the same points drawn on another grid."""

    def rescale(face: TTFont, _glyph_of: Callable[[str], str]) -> None:
        face["head"].unitsPerEm = units

    return _with_font_edited(pdf, rescale)


def with_font_program(pdf: bytes, program: bytes) -> bytes:
    """``pdf`` whose embedded font program (TrueType or CFF) is ``program``."""
    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
    type0 = writer.pages[0]["/Resources"]["/Font"]["/F1"].get_object()
    descriptor = type0["/DescendantFonts"][0]["/FontDescriptor"].get_object()
    key = "/FontFile2" if "/FontFile2" in descriptor else "/FontFile3"
    descriptor[key].get_object().set_data(program)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def font_program(pdf: bytes) -> bytes:
    """The decoded font program a certificate's page embeds."""
    type0 = PdfReader(BytesIO(pdf)).pages[0]["/Resources"]["/Font"]["/F1"]
    descriptor = type0.get_object()["/DescendantFonts"][0]["/FontDescriptor"]
    descriptor = descriptor.get_object()
    key = "/FontFile2" if "/FontFile2" in descriptor else "/FontFile3"
    data: bytes = descriptor[key].get_object().get_data()
    return data


def with_nothing_drawn_as(pdf: bytes, char: str, before: str) -> bytes:
    """``pdf`` (drawn in a CFF face) that draws ``char`` before the first text
    piece starting with ``before``, in the code fpdf2 maps to U+0000.

    Text extraction reads that code as NUL, which the page check does not
    count, so the text still reads as signed while the page shows ``char``.
    """
    page = CffPage(pdf)
    page.encode({0: page.cid_of[page.code_of[char]]})
    target = page.code_of[before].to_bytes(2, "big")
    content = ContentStream(page.writer.pages[0].get_contents(), page.writer)
    for operands, op in content.operations:
        if op == b"Tj" and bytes(operands[0].original_bytes).startswith(target):
            operands[0] = ByteStringObject(b"\0\0" + operands[0].original_bytes)
            break
    else:
        raise AssertionError(f"no text piece starts with {before!r}")
    page.writer.pages[0].replace_contents(content)
    return page.saved()


def incrementally(pdf: bytes, update: Callable[[PdfWriter], None]) -> bytes:
    """``pdf`` with ``update`` appended as an incremental update: the original
    bytes, the signed attachment among them, are kept as they are."""
    writer = PdfWriter(BytesIO(pdf), incremental=True)
    update(writer)
    out = BytesIO()
    writer.write(out)
    assert out.getvalue().startswith(pdf)
    return out.getvalue()


def javascript(code: str) -> DictionaryObject:
    """A JavaScript action running ``code``."""
    return DictionaryObject({
        NameObject("/S"): NameObject("/JavaScript"),
        NameObject("/JS"): TextStringObject(code),
    })  # fmt: skip


def add_document_javascript(writer: PdfWriter) -> None:
    """Document JavaScript, which a reader runs when it opens the file."""
    script = writer._add_object(javascript("app.alert('证书有效')"))
    names = writer._root_object["/Names"]
    names[NameObject("/JavaScript")] = DictionaryObject(
        {NameObject("/Names"): ArrayObject([TextStringObject("check"), script])}
    )
