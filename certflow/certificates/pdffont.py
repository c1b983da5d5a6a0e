"""fpdf2 glue that embeds the cached CJK face without re-parsing it per document.

fpdf2 normally parses the font file when a font is added and, when the PDF is
written, has fontTools cut and re-serialise a subset. For a CJK face that is
~0.25 s per document, and even for a pre-cut subset ~9 ms, most of a
certificate's cost. Here fpdf2 gets a font object filled from the process-wide
parse (:class:`CachedFace`), and an output producer (:class:`CertificateOutput`,
passed through fpdf2's documented ``output_producer_class`` hook) embeds that
font by copying the raw outlines of exactly the glyphs the page used, numbered
so that glyph id equals character code (``/CIDToGIDMap /Identity``).

Every other font in the document still goes through fpdf2's own path. The pieces
of fpdf2 used here are pinned by the version range in pyproject.toml, and the
tests check the result with poppler.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from functools import cache
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import FontDescriptorFlags, TextEmphasis
from fpdf.fonts import PDFFontDescriptor, SubsetMap, TTFFont
from fpdf.output import CIDSystemInfo, OutputProducer, PDFFont, PDFFontStream
from fpdf.syntax import Name, PDFArray, PDFContentStream

from certflow.certificates.fonts import CjkFont, descriptor_values, load_font
from certflow.certificates.pdfwriter import to_unicode_cmap


@cache
def _table(path: Path, face_index: int, default: int) -> defaultdict[int, float]:
    widths: defaultdict[int, float] = defaultdict(lambda: default)
    widths.update(load_font(path).widths())
    return widths


def _widths(font: CjkFont, default: int) -> defaultdict[int, float]:
    """fpdf2's width table of a face: built once per face and process (~30 ms)."""
    return _table(font.path, font.face_index, default)


class CachedFace(TTFFont):
    """An fpdf2 TrueType font backed by the cached :class:`CjkFont` parse.

    It sets the attributes fpdf2's text layout reads (widths, glyph ids, the
    descriptor) without opening the file; ``TTFFont.__init__`` is skipped on
    purpose because parsing is exactly the cost being avoided.
    """

    def __init__(self, fpdf: FPDF, font: CjkFont, fontkey: str) -> None:
        metrics = font.metrics
        values = descriptor_values(font)
        widths = _widths(font, values.missing_width)

        self.cjk = font
        self.i = len(fpdf.fonts) + 1
        self.type = "TTF"
        self.ttffile = font.path
        self.is_compressed = False
        self._hbfont = None
        self.fontkey = fontkey
        self.biggest_size_pt = 0
        self.collection_font_number = font.face_index
        self.ttfont = None
        self.is_cff = False
        self.is_cid_keyed = False
        self.is_symbol = False
        self.cff_ros = None
        self.scale = scale = 1000 / metrics.units_per_em
        self.desc = PDFFontDescriptor(
            ascent=values.ascent,
            descent=values.descent,
            cap_height=values.cap_height,
            flags=FontDescriptorFlags(values.flags),
            font_b_box=f"[{values.bbox}]",
            italic_angle=values.italic_angle,
            stem_v=values.stem_v,
            missing_width=values.missing_width,
        )
        self.cw = widths
        self.cmap = font.glyph_names
        self.glyph_ids = font.cmap
        self.missing_glyphs = []
        self.name = values.name
        self.up = round(metrics.underline_position * scale)
        self.ut = round(metrics.underline_thickness * scale)
        self.sp = round(metrics.strikeout_position * scale)
        self.ss = round(metrics.strikeout_size * scale)
        self.emphasis = TextEmphasis.coerce("")
        self.subset = SubsetMap(self)
        self.palette_index = 0
        self.color_font = None

    def close(self) -> None:
        """Nothing to close: the face is shared and holds no open file."""


class CertificateOutput(OutputProducer):
    """fpdf2 output producer that embeds :class:`CachedFace` fonts itself."""

    def _add_fonts(self, *args: Any, **kwargs: Any) -> dict[int, Any]:
        fonts = self.fpdf.fonts
        cached = {key: f for key, f in fonts.items() if isinstance(f, CachedFace)}
        for key in cached:
            del fonts[key]
        try:
            objects: dict[int, Any] = super()._add_fonts(*args, **kwargs)
        finally:
            fonts.update(cached)
        for face in cached.values():
            objects[face.i] = self._embed(face)
        return objects

    def _embed(self, face: CachedFace) -> PDFFont:
        used = sorted(
            (code, glyph) for glyph, code in face.subset.items() if glyph is not None
        )
        slots: list[int | None] = [None] * (used[-1][0] + 1 if used else 1)
        cmap: dict[int, int] = {}
        for code, glyph in used:
            slots[code] = glyph.glyph_id
            chars = glyph.unicode if isinstance(glyph.unicode, tuple) else ()
            if len(chars) == 1 and chars[0]:
                cmap[chars[0]] = code
        slots[0] = 0  # code 0 is fpdf2's reserved .notdef
        font_bytes = face.cjk.subset_glyphs(slots, cmap)
        # A subset is named TAG+Font, the tag six capitals unique to the subset.
        digest = hashlib.sha256(font_bytes).digest()
        tag = "".join(chr(ord("A") + b % 26) for b in digest[:6])
        fontname = f"{tag}+{face.name}"

        composite = PDFFont(subtype="Type0", base_font=fontname, encoding="Identity-H")
        self._add_pdf_obj(composite, "fonts")
        widths = " ".join(f"{code} [{glyph.glyph_width}]" for code, glyph in used)
        cid_font = PDFFont(
            subtype="CIDFontType2",
            base_font=fontname,
            d_w=face.desc.missing_width,
            w=f"[{widths}]",
        )
        self._add_pdf_obj(cid_font, "fonts")
        composite.descendant_fonts = PDFArray([cid_font])

        texts = [
            (code, "".join(map(chr, glyph.unicode)))
            for code, glyph in used
            if isinstance(glyph.unicode, tuple) and any(glyph.unicode)
        ]
        to_unicode = PDFContentStream(to_unicode_cmap(texts))
        self._add_pdf_obj(to_unicode, "fonts")
        composite.to_unicode = to_unicode

        system_info = CIDSystemInfo()
        self._add_pdf_obj(system_info, "fonts")
        cid_font.c_i_d_system_info = system_info

        descriptor = face.desc
        descriptor.font_name = Name(fontname)
        self._add_pdf_obj(descriptor, "fonts")
        cid_font.font_descriptor = descriptor
        cid_font.c_i_d_to_g_i_d_map = Name("Identity")  # type: ignore[assignment]

        stream = PDFFontStream(contents=font_bytes)
        self._add_pdf_obj(stream, "fonts")
        descriptor.font_file2 = stream  # type: ignore[attr-defined]
        return composite


class CjkPDF(FPDF):
    """An fpdf2 document that embeds CJK faces from the process-wide cache."""

    def use_cjk_font(self, font: CjkFont, family: str) -> None:
        """Register ``font`` under ``family`` (lower case).

        TrueType faces are backed by the cached parse; faces with CFF outlines
        go through fpdf2's own loading and subsetting (correct, but slower).
        """
        if font.fast_subsetting:
            self.fonts[family] = CachedFace(self, font, family)
        else:
            self.add_font(
                family, "", str(font.path), collection_font_number=font.face_index
            )

    def to_bytes(self) -> bytes:
        """Write the document, embedding cached faces through CertificateOutput."""
        return bytes(self.output(output_producer_class=CertificateOutput))
