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

import bisect
import hashlib
import os
import re
import struct
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont, TTLibError

from certflow.certificates.deflate import Deflated, Part, joined
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


class FontUnreadableError(FontNotFoundError):
    """The font file is there but cannot be parsed: cut short, damaged, or not
    a font at all. As unusable as a missing one, and as lasting: parsing it
    again gives the same error until the file is replaced."""


# What fontTools (and reading the file) raise on a file that is no whole font:
# its own error for a bad header or table, and the errors of the low-level
# reads it does unchecked on tables cut short or out of form.
_UNPARSEABLE = (
    TTLibError,
    struct.error,
    AssertionError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ValueError,
    OSError,
)


class UnsupportedCharactersError(ValueError):
    """Text holds characters the certificate font has no glyph for.

    Printing them would show empty boxes on the certificate, so rendering is
    refused. The text is a person's name more often than not: the message
    gives where the characters stand (``positions``, 1-based), never the
    characters, because it ends up in logs and in the activity's failure.
    ``characters`` lists them for a caller that shows them to staff.
    """

    def __init__(
        self, characters: list[str], positions: list[int], message: str
    ) -> None:
        super().__init__(message)
        self.characters = characters
        self.positions = positions


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


@dataclass(frozen=True)
class DescriptorValues:
    """A face's PDF font descriptor entries, in 1/1000 em."""

    name: str
    flags: int
    bbox: str
    italic_angle: int
    ascent: int
    descent: int
    cap_height: int
    stem_v: int
    missing_width: int


def descriptor_values(font: CjkFont) -> DescriptorValues:
    """Return what a PDF font descriptor says of ``font``."""
    metrics = font.metrics
    scale = 1000 / metrics.units_per_em
    flags = 4  # symbolic: glyphs are selected by code, not by a standard encoding
    if metrics.fixed_pitch:
        flags |= 1
    if metrics.italic_angle:
        flags |= 64
    if metrics.weight_class >= 600:
        flags |= 1 << 18  # force bold
    box = (metrics.x_min, metrics.y_min, metrics.x_max, metrics.y_max)
    return DescriptorValues(
        name=re.sub(r"[^A-Za-z0-9_.-]", "", metrics.full_name) or "CJK",
        flags=flags,
        bbox=" ".join(f"{v * scale:.0f}" for v in box),
        italic_angle=int(metrics.italic_angle),
        ascent=round(metrics.ascent * scale),
        descent=round(metrics.descent * scale),
        cap_height=round(metrics.cap_height * scale),
        stem_v=round(50 + int(pow((metrics.weight_class / 65), 2))),
        missing_width=round(scale * font.glyph_advance(0)),
    )


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
    advances: list[int] = field(repr=False)
    _glyf: _GlyfTables | None = field(default=None, repr=False)

    def glyph_advance(self, gid: int) -> int:
        """Return the advance width of a glyph in font units."""
        return self.advances[gid]

    def coverage(self) -> Coverage:
        """What says which characters of a text the face cannot print, as
        ``unsupported`` does, in a form that crosses to another process: the
        face itself is megabytes of tables, its coverage a set of code
        points. Built once per face and process."""
        return _coverage(self.path, self.face_index)

    def widths(self) -> dict[int, int]:
        """Return the advance of every character in 1/1000 em, as PDF counts widths.

        Built once per face and process (~30 ms for a CJK face).
        """
        return _widths(self.path, self.face_index)

    @property
    def fast_subsetting(self) -> bool:
        """Whether subsets are cut by copying raw outlines (TrueType faces)."""
        return self._glyf is not None

    def unsupported(self, text: str) -> list[str]:
        """Return the distinct characters of ``text`` with no glyph, in order."""
        return self.coverage()(text)

    def missing_positions(self, text: str) -> list[int]:
        """Return where the characters of ``text`` with no glyph stand, from 1.

        What may be said of a name in a log or an error: where it cannot be
        printed, not what it holds.
        """
        return [i for i, char in enumerate(text, 1) if ord(char) not in self.cmap]

    def subset(self, text: Iterable[str]) -> bytes:
        """Return a standalone TrueType font holding the glyphs of ``text`` only.

        Glyph ids are renumbered compactly in code point order after .notdef.
        Only for TrueType faces (see :attr:`fast_subsetting`).
        """
        return joined(SubsetBase(self, "", mapped=True).extend("".join(text)).parts)

    def subset_glyphs(self, slots: list[int | None], cmap: dict[int, int]) -> bytes:
        """Return a TrueType font whose glyph ``i`` is this face's glyph ``slots[i]``.

        ``None`` leaves an empty glyph in that place, so a caller can make glyph
        ids equal its own character codes. Parts of composite glyphs are appended
        after the slots. ``cmap`` maps code points to the new glyph ids.
        """
        tables = self._outlines()
        order, placed = _with_parts(list(slots), {}, tables)
        glyf, loca, hmtx = _copy_glyphs(order, placed, tables, 0)
        loca.append(len(glyf))
        out: dict[str, bytes] = {
            **_constant_tables(tables),
            "hmtx": bytes(hmtx),
            "loca": _loca_bytes(loca),
            "glyf": bytes(glyf),
            "cmap": _cmap_format_12(
                [struct.pack(">III", cp, cp, gid) for cp, gid in sorted(cmap.items())]
            ),
            **_counted_tables(tables, len(order)),
        }
        return _assemble_sfnt(out)

    def _outlines(self) -> _GlyfTables:
        if self._glyf is None:
            raise ValueError(f"{self.path} has no TrueType outlines to copy")
        return self._glyf


@dataclass(frozen=True)
class FontProgram:
    """One document's subset: its bytes as parts, and the codes of its characters.

    The code of a character is its glyph id in the subset, so PDF can map codes
    to glyphs with ``/CIDToGIDMap /Identity``: :attr:`SubsetBase.codes` for the
    base's characters and ``added`` for the document's own. ``tag`` is the six
    capitals that name the subset (``TAG+FontName``), derived from its content.
    """

    parts: tuple[Part, ...]
    length: int
    added: dict[int, int]
    tag: str


class SubsetBase:
    """The glyphs a family of documents shares, copied and compressed once.

    A document's subset is the base plus the glyphs of its own text
    (:meth:`extend`), at a cost that grows with what it adds, not with the
    base. Its file is laid out so that each part the base fixes is whole and
    in one piece: the tables copied from the face with the base's outlines,
    the base's 'loca' entries, its 'hmtx' entries; each is compressed once
    (:class:`~certflow.certificates.deflate.Deflated`) and the document's own
    bytes go between and after them. TrueType checksums add up word by word,
    so the fixed parts' are summed once too.

    With ``mapped`` false the subset's 'cmap' is empty: PDF selects glyphs by
    id (``/CIDToGIDMap /Identity``) and never reads it, and an empty one
    belongs to the fixed part.
    """

    _COUNTED = ("head", "hhea", "maxp")

    def __init__(self, font: CjkFont, chars: Iterable[str], *, mapped: bool) -> None:
        tables = font._outlines()
        self.font = font
        self.mapped = mapped
        self._tables = tables
        codepoints = sorted({ord(c) for c in chars} & font.cmap.keys())
        slots: list[int | None] = [0]
        slots += [font.cmap[cp] for cp in codepoints]
        order, self._placed = _with_parts(slots, {}, tables)
        self._count = len(order)
        self.codes: dict[int, int] = {
            cp: self._placed[font.cmap[cp]] for cp in codepoints
        }
        glyf, loca, hmtx = _copy_glyphs(order, self._placed, tables, 0)
        self._glyf_length = len(glyf)
        self._sums = {
            "glyf": _checksum(glyf),
            "loca": _checksum(_loca_bytes(loca)),
            "hmtx": _checksum(hmtx),
        }
        self._cmap_keys = list(self.codes)  # in code point order
        self._cmap_groups = [
            struct.pack(">III", cp, cp, code) for cp, code in self.codes.items()
        ]

        constant = _constant_tables(tables)
        if not mapped:
            constant["cmap"] = _cmap_format_12([])
        self._tags = sorted([*constant, "glyf", "loca", "hmtx", "cmap", *self._COUNTED])
        self._entries: dict[str, tuple[int, int, int]] = {}  # checksum, offset, length
        offset = 12 + 16 * len(self._tags)
        block = bytearray()
        for tag in sorted(constant):
            data = constant[tag]
            self._entries[tag] = (_checksum(data), offset, len(data))
            block += _padded(data)
            offset += len(_padded(data))
        self._glyf_offset = offset
        self._fixed = (
            Deflated.of(bytes(block) + glyf),
            Deflated.of(_loca_bytes(loca)),
            Deflated.of(hmtx),
        )
        self._fixed_sum = sum(entry[0] for entry in self._entries.values())
        self._digest = hashlib.sha256(self._fixed[0].raw).digest()

    def code(self, char: str, program: FontProgram | None) -> int:
        """Return the code of ``char`` in ``program``, a subset of this base.

        Without a program only the base's own characters have codes.
        """
        cp = ord(char)
        code = self.codes.get(cp)
        if code is None:
            added = program.added.get(cp) if program is not None else None
            if added is None:
                # Never the character itself: it is a name's, and errors are logged.
                raise KeyError("a character outside the font subset")
            return added
        return code

    def extend(self, text: str) -> FontProgram:
        """Return the subset of the base plus the characters of ``text``.

        Characters the face lacks are skipped: callers check printability first
        (:func:`check_printable`).
        """
        font, tables, codes = self.font, self._tables, self.codes
        placed = self._placed
        order: list[int | None] = []
        added: dict[int, int] = {}
        extra: dict[int, int] = {}  # face glyph id -> new glyph id, beyond the base
        for cp in sorted({ord(c) for c in text if ord(c) not in codes}):
            gid = font.cmap.get(cp)
            if gid is None:
                continue
            code = placed.get(gid, extra.get(gid))
            if code is None:
                code = extra[gid] = self._count + len(order)
                order.append(gid)
            added[cp] = code
        if order:
            order, placed = _with_parts(
                order, {**placed, **extra}, tables, first_id=self._count
            )
        glyf, loca, hmtx = _copy_glyphs(order, placed, tables, self._glyf_length)
        glyf_length = self._glyf_length + len(glyf)
        loca_tail = _loca_bytes(loca + array("I", [glyf_length]))
        glyphs = self._count + len(order)

        sums = {
            "glyf": self._sums["glyf"] + _checksum(glyf),
            "loca": self._sums["loca"] + _checksum(loca_tail),
            "hmtx": self._sums["hmtx"] + _checksum(hmtx),
        }
        lengths = {
            "glyf": glyf_length,
            "loca": len(self._fixed[1].raw) + len(loca_tail),
            "hmtx": len(self._fixed[2].raw) + len(hmtx),
        }
        entries = dict(self._entries)
        offset = self._glyf_offset
        for tag in ("glyf", "loca", "hmtx"):
            entries[tag] = (sums[tag] & 0xFFFFFFFF, offset, lengths[tag])
            offset += lengths[tag]  # each is a whole number of 4-byte words
        rest = bytearray(hmtx)
        counted = _counted_tables(tables, glyphs)
        if self.mapped:
            groups = list(self._cmap_groups)
            keys = list(self._cmap_keys)
            for cp, code in added.items():
                at = bisect.bisect(keys, cp)
                keys.insert(at, cp)
                groups.insert(at, struct.pack(">III", cp, cp, code))
            counted = {"cmap": _cmap_format_12(groups), **counted}
        for tag, data in counted.items():
            entries[tag] = (_checksum(data), offset, len(data))
            rest += _padded(data)
            offset += len(_padded(data))
        head_at = entries["head"][1] - (offset - len(rest))

        directory = _directory(self._tags, entries)
        total = self._fixed_sum + _checksum(directory)
        total += sum(entries[tag][0] for tag in ("glyf", "loca", "hmtx", *counted))
        struct.pack_into(">I", rest, head_at + 8, (0xB1B0AFBA - total) & 0xFFFFFFFF)
        own = glyf + loca_tail + bytes(rest)
        digest = hashlib.sha256(self._digest + own).digest()
        fixed_block, fixed_loca, fixed_hmtx = self._fixed
        return FontProgram(
            parts=(directory, fixed_block, glyf, fixed_loca, loca_tail, fixed_hmtx,
                   bytes(rest)),
            length=offset,
            added=added,
            tag="".join(chr(ord("A") + b % 26) for b in digest[:6]),
        )  # fmt: skip


def _padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


@dataclass(frozen=True)
class Coverage:
    """The code points a font face prints; called with a text, the distinct
    characters of it the face cannot print, in order (``CjkFont.unsupported``).
    Intake asks it of every name of an upload it reads in a process of its
    own (``certflow.isolation``)."""

    codes: frozenset[int]

    def __call__(self, text: str) -> list[str]:
        missing: list[str] = []
        for char in text:
            if ord(char) not in self.codes and char not in missing:
                missing.append(char)
        return missing


@cache
def _coverage(path: Path, face_index: int) -> Coverage:
    return Coverage(frozenset(_load_face(path).cmap))


@cache
def _widths(path: Path, face_index: int) -> dict[int, int]:
    font = _load_face(path)
    scale = 1000 / font.metrics.units_per_em
    return {
        cp: round(scale * font.advances[gid] + 0.001) for cp, gid in font.cmap.items()
    }


def _with_parts(
    order: list[int | None],
    placed: dict[int, int],
    tables: _GlyfTables,
    first_id: int = 0,
) -> tuple[list[int | None], dict[int, int]]:
    """Place ``order`` and append the parts of its composite glyphs.

    ``order[i]`` gets glyph id ``first_id + i``. Returns the glyph order and
    where each face glyph id landed (``placed`` with the new ones).
    """
    order = list(order)
    placed = dict(placed)
    for index, gid in enumerate(order):
        if gid is not None:
            placed.setdefault(gid, first_id + index)
    for gid in list(order):
        if gid is not None:
            for part in _parts(gid, tables):
                if part not in placed:
                    placed[part] = first_id + len(order)
                    order.append(part)
    return order, placed


def _copy_glyphs(
    order: list[int | None],
    placed: dict[int, int],
    tables: _GlyfTables,
    start: int,
) -> tuple[bytes, array[int], bytes]:
    """Copy outlines and metrics of ``order``; loca offsets count from ``start``."""
    glyf = bytearray()
    loca = array("I")
    hmtx = bytearray()
    for old in order:
        loca.append(start + len(glyf))
        if old is None:
            hmtx += b"\0\0\0\0"
            continue
        data = tables.glyf[tables.loca[old] : tables.loca[old + 1]]
        if len(data) >= 10 and struct.unpack_from(">h", data)[0] < 0:
            data = _renumber_components(data, placed)
        glyf += data
        glyf += b"\0" * (-len(glyf) % 4)
        hmtx += struct.pack(">Hh", tables.advances[old], tables.side_bearings[old])
    return bytes(glyf), loca, bytes(hmtx)


def _loca_bytes(loca: array[int]) -> bytes:
    """The long-offset 'loca' table (big-endian)."""
    if array("I", [1]).tobytes()[0] == 1:
        loca = array("I", loca)
        loca.byteswap()
    return loca.tobytes()


def _constant_tables(tables: _GlyfTables) -> dict[str, bytes]:
    """The tables a subset takes from the face unchanged, and its 'post'."""
    post = bytearray(tables.raw["post"][:32].ljust(32, b"\0"))
    struct.pack_into(">I", post, 0, 0x00030000)  # no glyph names
    post[16:32] = b"\0" * 16
    out = {tag: tables.raw[tag] for tag in _COPIED_TABLES if tag in tables.raw}
    out["post"] = bytes(post)
    return out


def _counted_tables(tables: _GlyfTables, glyphs: int) -> dict[str, bytes]:
    """'head', 'hhea' and 'maxp' for a subset of ``glyphs`` glyphs."""
    head = bytearray(tables.raw["head"])
    struct.pack_into(">I", head, 8, 0)  # checkSumAdjustment, set at the end
    struct.pack_into(">h", head, 50, 1)  # long loca offsets
    hhea = bytearray(tables.raw["hhea"])
    struct.pack_into(">H", hhea, 34, glyphs)
    maxp = bytearray(tables.raw["maxp"])
    struct.pack_into(">H", maxp, 4, glyphs)
    return {"head": bytes(head), "hhea": bytes(hhea), "maxp": bytes(maxp)}


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


def _cmap_format_12(groups: list[bytes]) -> bytes:
    """A 'cmap' table with one Unicode full-repertoire subtable (3, 10).

    ``groups`` are packed (first, last code point, glyph id), sorted.
    """
    data = b"".join(groups)
    length = 16 + len(data)
    subtable = struct.pack(">HHIII", 12, 0, length, 0, len(groups)) + data
    return struct.pack(">HHHHI", 0, 1, 3, 10, 12) + subtable


def _checksum(data: bytes) -> int:
    padded = data + b"\0" * (-len(data) % 4)
    words: tuple[int, ...] = struct.unpack(f">{len(padded) // 4}I", padded)
    return sum(words) & 0xFFFFFFFF


def _directory(tags: list[str], entries: dict[str, tuple[int, int, int]]) -> bytes:
    """The sfnt header and table directory; entries are (checksum, offset, length)."""
    count = len(tags)
    power = 1 << (count.bit_length() - 1)
    header = struct.pack(
        ">IHHHH", 0x00010000, count, power * 16, power.bit_length() - 1,
        count * 16 - power * 16,
    )  # fmt: skip
    return header + b"".join(
        struct.pack(">4sIII", tag.encode("latin-1"), *entries[tag]) for tag in tags
    )


def _assemble_sfnt(tables: dict[str, bytes]) -> bytes:
    """A TrueType file of ``tables``, laid out in tag order."""
    tags = sorted(tables)
    offset = 12 + 16 * len(tags)
    entries: dict[str, tuple[int, int, int]] = {}
    body = bytearray()
    for tag in tags:
        data = tables[tag]
        entries[tag] = (_checksum(data), offset, len(data))
        body += data + b"\0" * (-len(data) % 4)
        offset += len(data) + (-len(data) % 4)
    font = bytearray(_directory(tags, entries) + body)
    adjustment = (0xB1B0AFBA - _checksum(bytes(font))) & 0xFFFFFFFF
    struct.pack_into(">I", font, entries["head"][1] + 8, adjustment)
    return bytes(font)


def choose_face(path: Path) -> int:
    """The index of the face certflow draws from the font file at ``path``.

    In a collection, the face whose family ends in ``SC`` (not a Mono one),
    else the first.
    """
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
    return _load_face(_located(font_path, os.environ.get(FONT_ENV) or None))


@lru_cache(maxsize=16)
def _located(font_path: Path | None, configured: str | None) -> Path:
    """Where :func:`find_font` found the font, per argument and configuration.

    Looked up once: certificates are rendered by the hundred. A failed look-up
    raises and is tried again next time.
    """
    del configured  # part of the cache key: find_font reads it from the environment
    return find_font(font_path).resolve()


@cache
def _load_face(path: Path) -> CjkFont:
    """The parsed face of the font file ``path``.

    Raises :class:`FontUnreadableError` when the file is no whole font; only
    the error's type is told, its text may be fontTools' long dump.
    """
    try:
        return _parse_face(path)
    except _UNPARSEABLE as err:
        raise FontUnreadableError(
            f"The certificate font {path} cannot be read as a font "
            f"({type(err).__name__}): it is damaged, cut short or not a font. "
            f"Replace it, or point {FONT_ENV} at a whole TrueType/OpenType CJK "
            "font."
        ) from err


def _parse_face(path: Path) -> CjkFont:
    index = choose_face(path)
    face = TTFont(str(path), fontNumber=index, lazy=True)
    try:
        names = face.getBestCmap() or {}
        glyph_ids = face.getReverseGlyphMap()
        cmap = {cp: glyph_ids[name] for cp, name in names.items()}
        family = face["name"].getDebugName(1) or path.stem
        advances, bearings = _horizontal_metrics(face)
        glyf: _GlyfTables | None = None
        if "glyf" in face.reader and "loca" in face.reader:
            glyf = _read_glyf_tables(face, advances, bearings)
        return CjkFont(
            path=path,
            face_index=index,
            family=family,
            cmap=cmap,
            glyph_names=dict(names),
            metrics=_metrics(face),
            advances=advances,
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


def _horizontal_metrics(face: TTFont) -> tuple[list[int], list[int]]:
    """Advance widths and left side bearings of every glyph, from raw 'hmtx'."""
    reader = face.reader
    num_glyphs = struct.unpack_from(">H", bytes(reader["maxp"]), 4)[0]
    metric_count = struct.unpack_from(">H", bytes(reader["hhea"]), 34)[0]
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
    return advances, bearings


def _read_glyf_tables(
    face: TTFont, advances: list[int], bearings: list[int]
) -> _GlyfTables:
    reader = face.reader
    raw = {
        tag: bytes(reader[tag])
        for tag in ("head", "hhea", "maxp", "post", *_COPIED_TABLES)
        if tag in reader
    }
    num_glyphs = len(advances)
    long_offsets = struct.unpack_from(">h", raw["head"], 50)[0] == 1
    loca = array("I" if long_offsets else "H", bytes(reader["loca"]))
    if array("I", [1]).tobytes()[0] == 1:
        loca.byteswap()
    if not long_offsets:
        loca = array("I", (offset * 2 for offset in loca))
    loca = loca[: num_glyphs + 1]
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
    """Raise :class:`UnsupportedCharactersError` if ``font`` lacks any glyph of text.

    The message says how many characters and where they stand in ``text``,
    not which: see :class:`UnsupportedCharactersError`.
    """
    positions = font.missing_positions(text)
    if positions:
        raise UnsupportedCharactersError(
            font.unsupported(text),
            positions,
            t(
                "certificates.unsupported_characters",
                count=len(positions),
                positions=t("certificates.list_separator").join(map(str, positions)),
            ),
        )
