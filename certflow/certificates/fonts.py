"""The CJK font of the certificate: finding it, checking coverage, cutting subsets.

The PDF embeds only the glyphs it uses. fontTools can cut such a subset, but it
parses the whole face every time (tens of thousands of glyphs, ~0.3 s), which
would make issuing a plan of several hundred candidates slow. So a face is parsed
once per process (:func:`load_font`) and, for TrueType-outline faces, each
document's subset is assembled by copying the raw outlines of the glyphs it
needs (:meth:`CjkFont.subset_glyphs`), well under a millisecond; the fpdf2 side
of that is in :mod:`certflow.certificates.pdffont`. PostScript-outline (CFF)
faces such as Noto CJK go through fpdf2's own subsetting: correct, but slower.
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont

from certflow.i18n import t

FONT_ENV = "CERTFLOW_CJK_FONT"

# Known locations of the Debian CJK fonts, preferred first: TrueType outlines
# take the fast subsetting path; Noto CJK (CFF outlines) works but is slower.
KNOWN_FONTS: tuple[tuple[str, str], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "fonts-wqy-microhei"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", "fonts-wqy-zenhei"),
    ("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", "fonts-noto-cjk"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "fonts-noto-cjk"),
)
RECOMMENDED_PACKAGE = "fonts-wqy-microhei"

# Tables copied into a subset unchanged: they do not refer to glyph ids.
_COPIED_TABLES = ("OS/2", "name", "cvt ", "fpgm", "prep", "gasp")

# Composite glyph flags (OpenType 'glyf' table).
_ARG_1_AND_2_ARE_WORDS = 0x0001
_WE_HAVE_A_SCALE = 0x0008
_MORE_COMPONENTS = 0x0020
_WE_HAVE_AN_X_AND_Y_SCALE = 0x0040
_WE_HAVE_A_TWO_BY_TWO = 0x0080


class FontNotFoundError(RuntimeError):
    """No usable CJK font: the message names the Debian package to install."""


class UnsupportedCharactersError(ValueError):
    """Text holds characters the certificate font has no glyph for.

    Printing them would show empty boxes on the certificate, so rendering is
    refused; ``characters`` lists them for the message shown to staff.
    """

    def __init__(self, characters: list[str], message: str) -> None:
        super().__init__(message)
        self.characters = characters


def find_font(font_path: Path | None = None) -> Path:
    """Return the CJK font to use: the argument, ``CERTFLOW_CJK_FONT``, or a known path.

    Raises :class:`FontNotFoundError` naming the Debian package when none exists,
    rather than letting the PDF fall back to a font without CJK glyphs.
    """
    explicit = font_path or (
        Path(os.environ[FONT_ENV]) if os.environ.get(FONT_ENV) else None
    )
    if explicit is not None:
        if not explicit.is_file():
            raise FontNotFoundError(
                f"The configured CJK font {explicit} does not exist. Point "
                f"{FONT_ENV} at a TrueType/OpenType CJK font, or unset it and "
                f"install the Debian package {RECOMMENDED_PACKAGE}."
            )
        return explicit
    for candidate, _package in KNOWN_FONTS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontNotFoundError(
        "No CJK font found for the certificate PDF. Install the Debian package "
        f"{RECOMMENDED_PACKAGE} (apt-get install {RECOMMENDED_PACKAGE}), or set "
        f"{FONT_ENV} to the path of a CJK TrueType/OpenType font."
    )


@dataclass(frozen=True)
class _GlyfTables:
    """The raw TrueType tables a subset is assembled from."""

    raw: dict[str, bytes]
    glyf: bytes
    loca: array[int]
    advances: list[int]
    side_bearings: list[int]


@dataclass(frozen=True)
class FaceMetrics:
    """Face-wide numbers a PDF font descriptor needs, in font units."""

    units_per_em: int
    ascent: int
    descent: int
    cap_height: int
    x_min: int
    y_min: int
    x_max: int
    y_max: int
    italic_angle: float
    fixed_pitch: bool
    weight_class: int
    underline_position: int
    underline_thickness: int
    strikeout_position: int
    strikeout_size: int
    full_name: str


@dataclass
class CjkFont:
    """One parsed face of a CJK font file, shared by every certificate of a process.

    ``cmap`` maps code points to glyph ids. For a TTC collection the face whose
    name says Simplified Chinese (``SC``) is chosen, else the first.
    """

    path: Path
    face_index: int
    family: str
    cmap: dict[int, int]
    glyph_names: dict[int, str] = field(repr=False)
    metrics: FaceMetrics = field(repr=False)
    _glyf: _GlyfTables | None = field(default=None, repr=False)

    def glyph_advance(self, gid: int) -> int:
        """Return the advance width of a glyph in font units (TrueType faces)."""
        if self._glyf is None:
            raise ValueError(f"{self.path} has no TrueType metrics loaded")
        return self._glyf.advances[gid]

    @property
    def fast_subsetting(self) -> bool:
        """Whether subsets are cut by copying raw outlines (TrueType faces)."""
        return self._glyf is not None

    def unsupported(self, text: str) -> list[str]:
        """Return the distinct characters of ``text`` with no glyph, in order."""
        missing: list[str] = []
        for char in text:
            if ord(char) not in self.cmap and char not in missing:
                missing.append(char)
        return missing

    def subset(self, text: Iterable[str]) -> bytes:
        """Return a standalone TrueType font holding the glyphs of ``text`` only.

        Glyph ids are renumbered compactly in code point order after .notdef.
        Only for TrueType faces (see :attr:`fast_subsetting`).
        """
        codepoints = sorted({ord(c) for c in text if ord(c) in self.cmap})
        slots: list[int | None] = [0]
        cmap: dict[int, int] = {}
        for cp in codepoints:
            cmap[cp] = len(slots)
            slots.append(self.cmap[cp])
        return self.subset_glyphs(slots, cmap)

    def subset_glyphs(self, slots: list[int | None], cmap: dict[int, int]) -> bytes:
        """Return a TrueType font whose glyph ``i`` is this face's glyph ``slots[i]``.

        ``None`` leaves an empty glyph in that place, so a caller can make glyph
        ids equal its own character codes. Parts of composite glyphs are appended
        after the slots. ``cmap`` maps code points to the new glyph ids.
        """
        if self._glyf is None:
            raise ValueError(f"{self.path} has no TrueType outlines to copy")
        tables = self._glyf

        order = list(slots)
        placed = {gid: new for new, gid in enumerate(order) if gid is not None}
        for gid in slots:
            if gid is not None:
                for part in _parts(gid, tables):
                    if part not in placed:
                        placed[part] = len(order)
                        order.append(part)

        glyf = bytearray()
        loca = array("I")
        hmtx = bytearray()
        for old in order:
            loca.append(len(glyf))
            if old is None:
                hmtx += b"\0\0\0\0"
                continue
            data = tables.glyf[tables.loca[old] : tables.loca[old + 1]]
            if len(data) >= 10 and struct.unpack_from(">h", data)[0] < 0:
                data = _renumber_components(data, placed)
            glyf += data
            glyf += b"\0" * (-len(glyf) % 4)
            hmtx += struct.pack(">Hh", tables.advances[old], tables.side_bearings[old])
        loca.append(len(glyf))
        if array("I", [1]).tobytes()[0] == 1:
            loca.byteswap()

        head = bytearray(tables.raw["head"])
        struct.pack_into(">I", head, 8, 0)  # checkSumAdjustment, set at the end
        struct.pack_into(">h", head, 50, 1)  # long loca offsets
        hhea = bytearray(tables.raw["hhea"])
        struct.pack_into(">H", hhea, 34, len(order))
        maxp = bytearray(tables.raw["maxp"])
        struct.pack_into(">H", maxp, 4, len(order))
        post = bytearray(tables.raw["post"][:32].ljust(32, b"\0"))
        struct.pack_into(">I", post, 0, 0x00030000)  # no glyph names
        post[16:32] = b"\0" * 16

        out: dict[str, bytes] = {
            "head": bytes(head),
            "hhea": bytes(hhea),
            "maxp": bytes(maxp),
            "post": bytes(post),
            "hmtx": bytes(hmtx),
            "loca": loca.tobytes(),
            "glyf": bytes(glyf),
            "cmap": _cmap_format_12(sorted(cmap.items())),
        }
        for tag in _COPIED_TABLES:
            if tag in tables.raw:
                out[tag] = tables.raw[tag]
        return _assemble_sfnt(out)


def _parts(gid: int, tables: _GlyfTables) -> list[int]:
    """Return the glyphs a composite glyph is built from, recursively."""
    found: list[int] = []
    data = tables.glyf[tables.loca[gid] : tables.loca[gid + 1]]
    if len(data) >= 10 and struct.unpack_from(">h", data)[0] < 0:
        for _offset, component in _components(data):
            found.append(component)
            found.extend(_parts(component, tables))
    return found


def _components(data: bytes) -> list[tuple[int, int]]:
    """Return (offset of the glyph index, glyph index) of each component."""
    found = []
    pos = 10
    while True:
        flags, index = struct.unpack_from(">HH", data, pos)
        found.append((pos + 2, index))
        pos += 4 + (4 if flags & _ARG_1_AND_2_ARE_WORDS else 2)
        if flags & _WE_HAVE_A_SCALE:
            pos += 2
        elif flags & _WE_HAVE_AN_X_AND_Y_SCALE:
            pos += 4
        elif flags & _WE_HAVE_A_TWO_BY_TWO:
            pos += 8
        if not flags & _MORE_COMPONENTS:
            return found


def _renumber_components(data: bytes, new_id: dict[int, int]) -> bytes:
    patched = bytearray(data)
    for offset, index in _components(data):
        struct.pack_into(">H", patched, offset, new_id[index])
    return bytes(patched)


def _cmap_format_12(pairs: list[tuple[int, int]]) -> bytes:
    """A 'cmap' table with one Unicode full-repertoire subtable (3, 10)."""
    groups = b"".join(struct.pack(">III", cp, cp, gid) for cp, gid in pairs)
    length = 16 + len(groups)
    subtable = struct.pack(">HHIII", 12, 0, length, 0, len(pairs)) + groups
    return struct.pack(">HHHHI", 0, 1, 3, 10, 12) + subtable


def _checksum(data: bytes) -> int:
    padded = data + b"\0" * (-len(data) % 4)
    words: tuple[int, ...] = struct.unpack(f">{len(padded) // 4}I", padded)
    return sum(words) & 0xFFFFFFFF


def _assemble_sfnt(tables: dict[str, bytes]) -> bytes:
    tags = sorted(tables)
    count = len(tags)
    power = 1 << (count.bit_length() - 1)
    header = struct.pack(
        ">IHHHH", 0x00010000, count, power * 16, power.bit_length() - 1,
        count * 16 - power * 16,
    )  # fmt: skip
    offset = 12 + 16 * count
    directory = b""
    body = b""
    for tag in tags:
        data = tables[tag]
        directory += struct.pack(
            ">4sIII", tag.encode("latin-1"), _checksum(data), offset, len(data)
        )
        padded = data + b"\0" * (-len(data) % 4)
        body += padded
        offset += len(padded)
    font = bytearray(header + directory + body)
    head_offset = (
        12
        + 16 * count
        + sum(
            len(tables[tag]) + (-len(tables[tag]) % 4)
            for tag in tags[: tags.index("head")]
        )
    )
    adjustment = (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF
    struct.pack_into(">I", font, head_offset + 8, adjustment)
    return bytes(font)


def _choose_face(path: Path) -> int:
    with path.open("rb") as handle:
        if handle.read(4) != b"ttcf":
            return 0
    from fontTools.ttLib import TTCollection

    collection = TTCollection(str(path), lazy=True)
    try:
        for index, face in enumerate(collection.fonts):
            family = face["name"].getDebugName(1) or ""
            if family.endswith(" SC") and "Mono" not in family:
                return index
        return 0
    finally:
        collection.close()


def load_font(font_path: Path | None = None) -> CjkFont:
    """Return the parsed face of the certificate font (see :func:`find_font`).

    Cached per resolved path for the life of the process: parsing is the costly
    part, and a changed ``CERTFLOW_CJK_FONT`` still takes effect.
    """
    return _load_face(find_font(font_path).resolve())


@cache
def _load_face(path: Path) -> CjkFont:
    index = _choose_face(path)
    face = TTFont(str(path), fontNumber=index, lazy=True)
    try:
        names = face.getBestCmap() or {}
        glyph_ids = face.getReverseGlyphMap()
        cmap = {cp: glyph_ids[name] for cp, name in names.items()}
        family = face["name"].getDebugName(1) or path.stem
        glyf: _GlyfTables | None = None
        if "glyf" in face.reader and "loca" in face.reader:
            glyf = _read_glyf_tables(face)
        return CjkFont(
            path=path,
            face_index=index,
            family=family,
            cmap=cmap,
            glyph_names=dict(names),
            metrics=_metrics(face),
            _glyf=glyf,
        )
    finally:
        face.close()


def _metrics(face: TTFont) -> FaceMetrics:
    head, hhea, os2, post = face["head"], face["hhea"], face["OS/2"], face["post"]
    return FaceMetrics(
        units_per_em=head.unitsPerEm,
        ascent=hhea.ascent,
        descent=hhea.descent,
        cap_height=getattr(os2, "sCapHeight", hhea.ascent),
        x_min=head.xMin,
        y_min=head.yMin,
        x_max=head.xMax,
        y_max=head.yMax,
        italic_angle=post.italicAngle,
        fixed_pitch=bool(post.isFixedPitch),
        weight_class=os2.usWeightClass,
        underline_position=post.underlinePosition,
        underline_thickness=post.underlineThickness,
        strikeout_position=os2.yStrikeoutPosition,
        strikeout_size=os2.yStrikeoutSize,
        full_name=face["name"].getBestFullName() or "CJK",
    )


def _read_glyf_tables(face: TTFont) -> _GlyfTables:
    reader = face.reader
    raw = {
        tag: bytes(reader[tag])
        for tag in ("head", "hhea", "maxp", "post", *_COPIED_TABLES)
        if tag in reader
    }
    num_glyphs = struct.unpack_from(">H", raw["maxp"], 4)[0]
    long_offsets = struct.unpack_from(">h", raw["head"], 50)[0] == 1
    loca = array("I" if long_offsets else "H", bytes(reader["loca"]))
    if array("I", [1]).tobytes()[0] == 1:
        loca.byteswap()
    if not long_offsets:
        loca = array("I", (offset * 2 for offset in loca))
    loca = loca[: num_glyphs + 1]

    metric_count = struct.unpack_from(">H", raw["hhea"], 34)[0]
    hmtx = bytes(reader["hmtx"])
    advances = [0] * num_glyphs
    bearings = [0] * num_glyphs
    for gid in range(num_glyphs):
        if gid < metric_count:
            advances[gid], bearings[gid] = struct.unpack_from(">Hh", hmtx, gid * 4)
        else:
            advances[gid] = advances[metric_count - 1]
            offset = metric_count * 4 + (gid - metric_count) * 2
            bearings[gid] = struct.unpack_from(">h", hmtx, offset)[0]
    return _GlyfTables(
        raw=raw,
        glyf=bytes(reader["glyf"]),
        loca=loca,
        advances=advances,
        side_bearings=bearings,
    )


def unsupported_characters(text: str, font_path: Path | None = None) -> list[str]:
    """Return the characters of ``text`` that the certificate font cannot print.

    Intake calls this to refuse a candidate name at upload time (a name with a
    rare character outside the font, such as some Extension B ideographs) rather
    than fail at issuance. An empty list means the text can be printed.
    """
    return load_font(font_path).unsupported(text)


def check_printable(text: str, font: CjkFont) -> None:
    """Raise :class:`UnsupportedCharactersError` if ``font`` lacks any glyph of text."""
    missing = font.unsupported(text)
    if missing:
        shown = t("certificates.list_separator").join(
            t("certificates.character", char=c, code=f"{ord(c):04X}") for c in missing
        )
        raise UnsupportedCharactersError(
            missing, t("certificates.unsupported_characters", characters=shown)
        )
