"""Checking that a certificate's embedded glyphs are the certificate font's own.

The page check (:mod:`certflow.certificates.pagecheck`) reads what text a page
draws through the font's ToUnicode map. A forger can leave that text alone and
redraw the glyphs instead: give the code that reads as 中 the outline of 高, or
map the code of 高's outline to 中 in the ToUnicode map. Either way the text
reads back right and shows wrong. So each glyph the page's font maps to a
character must have, point for point, the outline the certificate font draws
for that character.

This needs the face the page is drawn in, which the caller finds by the
page's font name (:mod:`certflow.certificates.fontid`); the subset keeps the
face's PostScript name, which must be that face's. Both kinds of outline are
compared: a TrueType face's subset (the direct writer's) point for point, and
a PostScript (CFF) face's subset (fpdf2's, CID-keyed, as Noto CJK's) as the
path each drawn glyph's charstring traces. Without the face, the glyphs are
not checked and the caller says so; they are never reported as altered for
want of a reference.

Which glyph a code draws and which text it reads as come from the font's
maps, read as renderers read them and only as the writers write them
(:mod:`certflow.certificates.cmap`). The font program is the file's, not
ours: whatever fontTools raises on reading it is a program no writer of
ours wrote, an altered font, never an error of the verification.
"""

from __future__ import annotations

import threading
from enum import Enum
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from fontTools.cffLib import CFFFontSet
from fontTools.pens.recordingPen import RecordingPen
from fontTools.ttLib import TTFont

from certflow.certificates.cmap import encoding_cids, to_unicode
from certflow.certificates.fonts import CjkFont
from certflow.certificates.pagecheck import bounded_data, drawn_operations, page_content


class GlyphCheck(Enum):
    """What comparing a page's glyphs with the certificate font found."""

    SAME = "same"
    ALTERED = "altered"
    UNCHECKED = "unchecked"  # no reference to compare with


def check_glyphs(page: Any, font: CjkFont | None) -> GlyphCheck:
    """Compare the glyphs of ``page`` (pypdf) with those of ``font``, the face
    the page names as its font."""
    if font is None:
        return GlyphCheck.UNCHECKED
    try:
        fonts = page["/Resources"]["/Font"]
        outcomes = {_check_font(page, fonts[n].get_object(), font) for n in fonts}
    except Exception:
        # The font program and its maps are the file's, read by fontTools
        # and pypdf, which raise whatever their parsing trips over (an
        # AttributeError for a CID-keyed CFF without its FDArray, a
        # struct.error, an AssertionError...): no writer of ours wrote it.
        return GlyphCheck.ALTERED
    if GlyphCheck.ALTERED in outcomes:
        return GlyphCheck.ALTERED
    return GlyphCheck.UNCHECKED if GlyphCheck.UNCHECKED in outcomes else GlyphCheck.SAME


def _check_font(page: Any, type0: Any, font: CjkFont) -> GlyphCheck:
    if type0.get("/Subtype") != "/Type0" or "/ToUnicode" not in type0:
        return GlyphCheck.ALTERED  # the writers embed one composite font
    descendant = type0["/DescendantFonts"][0].get_object()
    descriptor = descendant["/FontDescriptor"].get_object()
    programs = [key for key in _PROGRAMS if key in descriptor]
    if programs == ["/FontFile2"] and _maps_codes_to_glyph_ids(type0, descendant):
        return _check_truetype(type0, descriptor["/FontFile2"].get_object(), font)
    if programs == ["/FontFile3"] and descendant.get("/Subtype") == "/CIDFontType0":
        return _check_cff(page, type0, descriptor["/FontFile3"].get_object(), font)
    # The direct writer maps codes to glyphs one to one, and fpdf2 embeds a
    # PostScript face as CFF: another map or no font program is neither's.
    return GlyphCheck.ALTERED


def _maps_codes_to_glyph_ids(type0: Any, descendant: Any) -> bool:
    """Whether each code draws the glyph of that id, as the direct writer's
    fonts do (``Identity-H``, ``/CIDToGIDMap /Identity``): the glyph compared
    is then the glyph drawn."""
    encoding, gids = type0.get("/Encoding"), descendant.get("/CIDToGIDMap")
    return bool(encoding == "/Identity-H" and gids == "/Identity")


def _check_truetype(type0: Any, program: Any, font: CjkFont) -> GlyphCheck:
    """A direct-writer page: every glyph its text map names, point for point."""
    data = bounded_data(program, _MOST_PROGRAM)
    cmap = bounded_data(type0["/ToUnicode"], _MOST_CMAP)
    if data is None or cmap is None:
        return GlyphCheck.ALTERED  # far beyond a certificate's, or no stream
    embedded = TTFont(BytesIO(data))
    reference = _reference(font.path, font.face_index)
    with reference.lock:
        if _identity(embedded) != _identity(reference.face):
            # The page names this face, yet its font program is another's:
            # the writers copy the face's names into the subset unchanged.
            return GlyphCheck.ALTERED
        if embedded["head"].unitsPerEm != reference.face["head"].unitsPerEm:
            # The same points on another grid: every glyph drawn larger or
            # smaller (a name shrunk out of sight, say).
            return GlyphCheck.ALTERED
        mapping = to_unicode(cmap)
        order = embedded.getGlyphOrder()
        if len(mapping) > _MOST_MAPPINGS:
            return GlyphCheck.ALTERED  # far beyond any certificate's subset
        for code, text in mapping.items():
            if code == 0 or code >= len(order):
                return GlyphCheck.ALTERED
            if not _same_outline(embedded, order[code], reference, text):
                return GlyphCheck.ALTERED
    return GlyphCheck.SAME


def _check_cff(page: Any, type0: Any, program: Any, font: CjkFont) -> GlyphCheck:
    """An fpdf2 page in a PostScript face: every glyph it draws.

    fpdf2 embeds a CID-keyed CFF subset and an encoding CMap from its codes
    to CIDs. Each code the page draws must read as one character (ToUnicode)
    and select (encoding, then the subset's charset) a glyph whose path and
    font matrices are the face's own for that character. Codes drawn are
    compared rather than codes mapped: fpdf2 maps code 0 to nothing it draws,
    and the text check reads neither spaces nor NUL, so a code that reads as
    one of those must show the face's glyph for it all the same.
    """
    if program.get("/Subtype") != "/CIDFontType0C" or "/Encoding" not in type0:
        return GlyphCheck.ALTERED
    encoding = type0["/Encoding"].get_object()
    if not set(encoding.keys()) <= _ENCODING_KEYS:
        return GlyphCheck.ALTERED  # /UseCMap, /WMode: maps beyond the one read
    data = bounded_data(program, _MOST_PROGRAM)
    cmap = bounded_data(encoding, _MOST_CMAP)
    texts = bounded_data(type0["/ToUnicode"], _MOST_CMAP)
    content = page_content(page)
    if data is None or cmap is None or texts is None or content is None:
        return GlyphCheck.ALTERED  # far beyond a certificate's, or no stream
    embedded = CFFFontSet()
    embedded.decompile(BytesIO(data), None)
    subset = embedded[0]
    if len(embedded.fontNames) != 1 or not hasattr(subset, "ROS"):
        return GlyphCheck.ALTERED  # fpdf2 embeds one CID-keyed font
    if len(set(subset.charset)) != len(subset.charset):
        return GlyphCheck.ALTERED  # a CID given two glyphs: which one shows?
    cid_of = encoding_cids(cmap, subset.ROS)
    text_of = to_unicode(texts)
    codes = _drawn_codes(content)
    if len(codes) > _MOST_MAPPINGS:
        return GlyphCheck.ALTERED
    reference = _reference(font.path, font.face_index)
    with reference.lock:
        face = reference.cff
        if face is None or embedded.fontNames != face.fontNames[:1]:
            # The subset keeps the face's CFF font name: another's is not it.
            return GlyphCheck.ALTERED
        for code in codes:
            text, cid = text_of.get(code, ""), cid_of.get(code)
            genuine = reference.cmap.get(ord(text)) if len(text) == 1 else None
            name = ".notdef" if cid == 0 else f"cid{cid:05d}"
            if genuine is None or cid is None or name not in subset.CharStrings:
                return GlyphCheck.ALTERED
            if _cff_outline(subset, name) != _cff_outline(face[0], genuine):
                return GlyphCheck.ALTERED
    return GlyphCheck.SAME


def _cff_outline(font: Any, name: str) -> tuple[object, ...]:
    """The path a CFF glyph traces, with the font matrices that scale it."""
    charstring, selector = font.CharStrings.getItemAndSelector(name)
    pen = RecordingPen()
    try:
        charstring.draw(pen)
    except (AttributeError, NotImplementedError):
        # A CFF2 operator (blend, vsindex) asks for a variation store a CFF
        # font has none of; operators long retired (store) are not drawn.
        raise ValueError("a charstring no CFF font draws") from None
    matrix = None
    if selector is not None:
        matrix = getattr(font.FDArray[selector], "FontMatrix", None)
    return tuple(pen.value), tuple(font.FontMatrix), tuple(matrix or ())


def _drawn_codes(content: bytes) -> set[int]:
    """The two-byte codes the page's text operators draw."""
    codes: set[int] = set()
    for operands, op in drawn_operations(content):
        if op != b"Tj":
            continue  # the page check allows no other text operator
        for shown in operands:
            if not isinstance(shown, bytes) or len(shown) % 2:
                raise ValueError("text no certificate font's codes spell")
            codes.update(
                int.from_bytes(shown[i : i + 2], "big") for i in range(0, len(shown), 2)
            )
    return codes


class _Reference:
    """The certificate face, parsed lazily once; fontTools is not thread-safe."""

    def __init__(self, path: Path, face_index: int) -> None:
        self.face = TTFont(str(path), fontNumber=face_index, lazy=True)
        self.cmap = self.face.getBestCmap() or {}
        self.lock = threading.Lock()

    @property
    def cff(self) -> Any:
        """The face's CFF font set, or ``None`` for a TrueType face."""
        return self.face["CFF "].cff if "CFF " in self.face else None


@cache
def _reference(path: Path, face_index: int) -> _Reference:
    return _Reference(path, face_index)


def _identity(face: TTFont) -> object:
    """The face's PostScript name, as its subsets keep it.

    Not its revision: a forger could change that number to have the outlines
    go unchecked, while a new release of the face that redrew a character
    would rightly read as different.
    """
    return face["name"].getDebugName(6)


def _same_outline(
    embedded: TTFont, name: str, reference: _Reference, text: str
) -> bool:
    if len(text) != 1 or (genuine := reference.cmap.get(ord(text))) is None:
        return False
    return _outline(embedded, name) == _outline(reference.face, genuine)


def _outline(face: TTFont, name: str) -> tuple[object, ...]:
    """The points, contour ends and on-curve flags of a glyph, parts resolved."""
    glyf = face["glyf"]
    coordinates, ends, flags = glyf[name].getCoordinates(glyf)
    return tuple(coordinates), tuple(ends), tuple(f & 1 for f in flags)


_PROGRAMS = ("/FontFile", "/FontFile2", "/FontFile3")
# What fpdf2 writes in an encoding CMap's stream dictionary, and a re-saving
# tool's filter: /UseCMap would draw codes through another map first.
_ENCODING_KEYS = {"/Type", "/CMapName", "/CIDSystemInfo", "/Length", "/Filter"}
_MOST_MAPPINGS = 10_000
_MOST_PROGRAM = 4 * 2**20  # bytes of a font subset; a certificate's is ~20 KiB
_MOST_CMAP = 256 * 1024  # bytes of a CMap; a certificate's are ~2-10 KiB
