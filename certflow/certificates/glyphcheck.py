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
face's PostScript name, which must be that face's. Without the face, or for
a face fpdf2 embeds as CFF, the glyphs are not checked and the caller says
so; they are never reported as altered for want of a reference.
"""

from __future__ import annotations

import re
import threading
from enum import Enum
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

from fontTools.ttLib import TTFont

from certflow.certificates.fonts import CjkFont


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
    fonts = page["/Resources"]["/Font"]
    outcomes = {_check_font(fonts[name].get_object(), font) for name in fonts}
    if GlyphCheck.ALTERED in outcomes:
        return GlyphCheck.ALTERED
    return GlyphCheck.UNCHECKED if GlyphCheck.UNCHECKED in outcomes else GlyphCheck.SAME


def _check_font(type0: Any, font: CjkFont) -> GlyphCheck:
    if type0.get("/Subtype") != "/Type0" or "/ToUnicode" not in type0:
        return GlyphCheck.ALTERED  # the writers embed one composite font
    descendant = type0["/DescendantFonts"][0].get_object()
    program = descendant["/FontDescriptor"].get_object().get("/FontFile2")
    if program is None or descendant.get("/CIDToGIDMap") != "/Identity":
        return GlyphCheck.UNCHECKED  # CFF outlines, as fpdf2 embeds them
    embedded = TTFont(BytesIO(program.get_object().get_data()))
    reference = _reference(font.path, font.face_index)
    with reference.lock:
        if _identity(embedded) != _identity(reference.face):
            # The page names this face, yet its font program is another's:
            # the writers copy the face's names into the subset unchanged.
            return GlyphCheck.ALTERED
        mapping = to_unicode(type0["/ToUnicode"].get_object().get_data())
        order = embedded.getGlyphOrder()
        if len(mapping) > _MOST_MAPPINGS:
            return GlyphCheck.ALTERED  # far beyond any certificate's subset
        for code, text in mapping.items():
            if code == 0 or code >= len(order):
                return GlyphCheck.ALTERED
            if not _same_outline(embedded, order[code], reference, text):
                return GlyphCheck.ALTERED
    return GlyphCheck.SAME


class _Reference:
    """The certificate face, parsed lazily once; fontTools is not thread-safe."""

    def __init__(self, path: Path, face_index: int) -> None:
        self.face = TTFont(str(path), fontNumber=face_index, lazy=True)
        self.cmap = self.face.getBestCmap() or {}
        self.lock = threading.Lock()


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


_MOST_MAPPINGS = 10_000
_BFCHAR = re.compile(rb"<([0-9A-Fa-f]{2,8})>\s*<([0-9A-Fa-f]{4,})>")
_BFRANGE = re.compile(
    rb"<([0-9A-Fa-f]{2,8})>\s*<([0-9A-Fa-f]{2,8})>\s*<([0-9A-Fa-f]{4,})>"
)
_SECTION = re.compile(rb"beginbf(char|range)(.*?)endbf\1", re.S)


def to_unicode(cmap: bytes) -> dict[int, str]:
    """The code to text mappings of a ToUnicode CMap (bfchar and bfrange)."""
    mapping: dict[int, str] = {}
    for kind, body in _SECTION.findall(cmap):
        if kind == b"char":
            for code, text in _BFCHAR.findall(body):
                mapping[int(code, 16)] = _utf16(text)
            continue
        for low, high, start in _BFRANGE.findall(body):
            first = _utf16(start)
            span = int(high, 16) - int(low, 16) + 1
            if not 0 < span <= _MOST_MAPPINGS or len(mapping) > _MOST_MAPPINGS:
                raise ValueError("a ToUnicode range no certificate font has")
            base, last = int(low, 16), ord(first[-1])
            for offset in range(span):
                mapping[base + offset] = first[:-1] + chr(last + offset)
    return mapping


def _utf16(hexdigits: bytes) -> str:
    return bytes.fromhex(hexdigits.decode("ascii")).decode("utf-16-be")
