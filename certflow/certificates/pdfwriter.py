"""One-page A4 PDFs drawn on a compiled template, written directly.

A plan's certificates differ only in a few lines: the name, the identity
number, the certificate number and the QR code. A :class:`Template` compiles
everything they share once, from drawing operations (:class:`Text`,
:class:`Box`, :class:`Line`): the font subset of its characters
(:class:`~certflow.certificates.fonts.SubsetBase`), its content operators,
the font's widths and text mappings, all compressed ahead of time where they
are fixed (:mod:`certflow.certificates.deflate`). :meth:`Template.render` then
adds one document's own operations, picture and attachment, and writes the
PDF 1.7 file: a catalogue, one page, one composite CID font (Identity-H with
glyph ids as codes, so text stays extractable through its ToUnicode map), an
optional 1-bit image and an optional embedded file.

A template with no operations is the least a page in the font can cost; the
certificate benchmark measures against it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from certflow.certificates.deflate import Deflated, zlib_stream
from certflow.certificates.fonts import (
    CjkFont,
    FontProgram,
    SubsetBase,
    descriptor_values,
)

MM = 72 / 25.4  # PDF points per millimetre
PAGE_WIDTH = 210.0
PAGE_HEIGHT = 297.0
FONT_RESOURCE = b"F1"
_HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Text:
    """A line of text; ``y`` is its baseline, in millimetres from the page top.

    ``size`` is in points, ``spacing`` the extra space after each character in
    millimetres.
    """

    x: float
    y: float
    size: float
    text: str
    colour: Colour = (0, 0, 0)
    spacing: float = 0.0


@dataclass(frozen=True)
class Box:
    """A stroked rectangle; ``x``, ``y`` is its top left corner, in millimetres."""

    x: float
    y: float
    w: float
    h: float
    line_width: float
    colour: Colour


@dataclass(frozen=True)
class Line:
    """A stroked straight line, in millimetres from the page's top left."""

    x1: float
    y1: float
    x2: float
    y2: float
    line_width: float
    colour: Colour


Op = Text | Box | Line


@dataclass(frozen=True)
class Picture:
    """A square grid of ``width`` x ``width`` modules, 1 dark and 0 light.

    It is drawn as a 1-bit image, 8 image pixels per module, so that
    renderers scale it down (sharp) rather than up (smoothed, blurred).
    """

    x: float
    y: float
    side: float
    width: int
    modules: bytes


@dataclass(frozen=True)
class Attachment:
    """A file embedded in the PDF, stored uncompressed."""

    name: str
    data: bytes
    mime_type: str
    description: str
    date: datetime


@dataclass(frozen=True)
class Info:
    """The document information dictionary."""

    title: str
    author: str
    subject: str
    created: datetime
    creator: str = "certflow"


def text_width(widths: dict[int, int], text: str, size: float, spacing: float) -> float:
    """Return the advance of ``text`` at ``size`` points, in millimetres."""
    units = sum(widths.get(ord(c), 0) for c in text)
    return units * size / 1000 / MM + spacing * len(text)


def pdf_string(text: str) -> bytes:
    """A PDF text string: literal for plain ASCII, else UTF-16BE with a mark."""
    if text.isascii() and text.isprintable():
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        return b"(" + escaped.encode("ascii") + b")"
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode("ascii") + b">"


def pdf_date(moment: datetime) -> bytes:
    """A PDF date string, with the moment's UTC offset."""
    offset = moment.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    stamp = moment.strftime("%Y%m%d%H%M%S")
    return f"(D:{stamp}{sign}{hours:02d}'{rest:02d}')".encode("ascii")


CMAP_HEAD = (
    b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
    b"/CIDSystemInfo\n<</Registry (Adobe)\n/Ordering (UCS)\n/Supplement 0\n>> def\n"
    b"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
    b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
)
CMAP_TAIL = b"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"


def _bfchar_blocks(pairs: Sequence[tuple[int, str]]) -> bytes:
    """ToUnicode mappings of 2-byte codes to text, 100 to a block (Adobe TN 5014)."""
    entries = [
        f"<{code:04X}> <{text.encode('utf-16-be').hex().upper()}>\n"
        for code, text in pairs
    ]
    return "".join(
        f"{len(entries[i : i + 100])} beginbfchar\n"
        f"{''.join(entries[i : i + 100])}endbfchar\n"
        for i in range(0, len(entries), 100)
    ).encode("ascii")


def to_unicode_cmap(pairs: Sequence[tuple[int, str]]) -> bytes:
    """The ToUnicode CMap mapping 2-byte codes to the text they show."""
    return CMAP_HEAD + _bfchar_blocks(pairs) + CMAP_TAIL


def _num(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return text if text != "-0" else "0"


def _rgb(colour: Colour) -> str:
    return " ".join(_num(c / 255) for c in colour)


class _Objects:
    """Numbered PDF objects, written out with their cross-reference table."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def reserve(self) -> int:
        self.bodies.append(b"")
        return len(self.bodies)

    def put(self, number: int, body: bytes) -> int:
        self.bodies[number - 1] = body
        return number

    def add(self, body: bytes) -> int:
        return self.put(self.reserve(), body)

    def stream(self, entries: bytes, data: bytes, number: int = 0) -> int:
        body = b"<<%s/Length %d>>\nstream\n%s\nendstream" % (entries, len(data), data)
        return self.put(number, body) if number else self.add(body)

    def write(self, root: int, info: int, file_id: bytes) -> bytes:
        out = [_HEADER]
        offsets = []
        position = len(_HEADER)
        for number, body in enumerate(self.bodies, start=1):
            chunk = b"%d 0 obj\n%s\nendobj\n" % (number, body)
            offsets.append(position)
            out.append(chunk)
            position += len(chunk)
        count = len(self.bodies) + 1
        xref = [b"xref\n0 %d\n0000000000 65535 f \n" % count]
        xref += [b"%010d 00000 n \n" % offset for offset in offsets]
        ident = file_id.hex().upper().encode("ascii")
        trailer = b"trailer\n<</Size %d/Root %d 0 R/Info %d 0 R/ID[<%s><%s>]>>\n" % (
            count, root, info, ident, ident,
        )  # fmt: skip
        tail = b"startxref\n%d\n%%%%EOF\n" % position
        return b"".join(out) + b"".join(xref) + trailer + tail


def draw_operators(ops: Iterable[Op], code: Callable[[str], int]) -> bytes:
    """The content stream operators drawing ``ops``, ``code`` giving each glyph.

    The one place the page's drawing is written: the verifier writes it again
    from a certificate's signed data and compares (pagecheck).
    """
    out: list[str] = []
    for op in ops:
        if isinstance(op, Text):
            hexcodes = "".join(f"{code(c):04X}" for c in op.text)
            spacing = f"{_num(op.spacing * MM)} Tc " if op.spacing else ""
            reset = " 0 Tc" if op.spacing else ""
            out.append(
                f"BT /F1 {_num(op.size)} Tf {_rgb(op.colour)} rg {spacing}"
                f"1 0 0 1 {_num(op.x * MM)} {_num((PAGE_HEIGHT - op.y) * MM)} Tm "
                f"<{hexcodes}> Tj{reset} ET\n"
            )
        elif isinstance(op, Box):
            out.append(
                f"{_rgb(op.colour)} RG {_num(op.line_width * MM)} w "
                f"{_num(op.x * MM)} {_num((PAGE_HEIGHT - op.y - op.h) * MM)} "
                f"{_num(op.w * MM)} {_num(op.h * MM)} re S\n"
            )
        else:
            out.append(
                f"{_rgb(op.colour)} RG {_num(op.line_width * MM)} w "
                f"{_num(op.x1 * MM)} {_num((PAGE_HEIGHT - op.y1) * MM)} m "
                f"{_num(op.x2 * MM)} {_num((PAGE_HEIGHT - op.y2) * MM)} l S\n"
            )
    return "".join(out).encode("ascii")


def picture_operator(picture: Picture) -> bytes:
    """The operators placing ``picture`` (the page's one image, /Im1)."""
    return (
        f"q {_num(picture.side * MM)} 0 0 {_num(picture.side * MM)} "
        f"{_num(picture.x * MM)} "
        f"{_num((PAGE_HEIGHT - picture.y - picture.side) * MM)} cm "
        "/Im1 Do Q\n"
    ).encode("ascii")


class Template:
    """The shared part of a family of one-page documents, compiled once."""

    def __init__(self, font: CjkFont, ops: Sequence[Op], extra_chars: str = "") -> None:
        texts = "".join(op.text for op in ops if isinstance(op, Text))
        self.font = font
        self.widths = font.widths()
        self.base = SubsetBase(font, texts + extra_chars, mapped=False)
        self.content = Deflated.of(self._operators(ops, None))
        codes = sorted((code, chr(cp)) for cp, code in self.base.codes.items())
        self._base_w = " ".join(
            f"{code} [{self.widths.get(ord(char), 0)}]" for code, char in codes
        )
        self._unicode = Deflated.of(CMAP_HEAD + _bfchar_blocks(codes))
        values = descriptor_values(font)
        self._descriptor = (
            f"/Flags {values.flags}/FontBBox[{values.bbox}]"
            f"/ItalicAngle {values.italic_angle}/Ascent {values.ascent}"
            f"/Descent {values.descent}/CapHeight {values.cap_height}"
            f"/StemV {values.stem_v}/MissingWidth {values.missing_width}"
        ).encode("ascii")
        self._missing_width = values.missing_width
        self._name = values.name.encode("ascii")

    def _operators(self, ops: Iterable[Op], program: FontProgram | None) -> bytes:
        base = self.base
        return draw_operators(ops, lambda char: base.code(char, program))

    def render(
        self,
        ops: Sequence[Op],
        info: Info,
        file_id: bytes,
        *,
        picture: Picture | None = None,
        attachment: Attachment | None = None,
    ) -> bytes:
        """Return the PDF of the template with ``ops`` drawn over it.

        ``file_id`` (16 bytes) identifies the document in the trailer; callers
        derive it from the content so the output is deterministic.
        """
        texts = "".join(op.text for op in ops if isinstance(op, Text))
        program = self.base.extend(texts)
        objects = _Objects()
        catalog, info_ref, pages, page = (objects.reserve() for _ in range(4))

        content = self._operators(ops, program)
        if picture is not None:
            content += picture_operator(picture)
        contents = objects.stream(
            b"/Filter/FlateDecode", zlib_stream([self.content, content])
        )
        font = self._embed(objects, program)
        resources = b"/Font<</F1 %d 0 R>>" % font
        if picture is not None:
            pixels = picture.width * _PIXELS
            image = objects.stream(
                b"/Type/XObject/Subtype/Image/Width %d/Height %d/ColorSpace/DeviceGray"
                b"/BitsPerComponent 1/Decode[1 0]/Filter/FlateDecode"
                % (pixels, pixels),
                zlib_stream([image_rows(picture)], level=1),
            )
            resources += b"/XObject<</Im1 %d 0 R>>" % image

        names = b""
        if attachment is not None:
            names = self._attach(objects, attachment)
        objects.put(page, (
            b"<</Type/Page/Parent %d 0 R/MediaBox[0 0 %s %s]/Resources<<%s>>"
            b"/Contents %d 0 R>>"
        ) % (
            pages, _num(PAGE_WIDTH * MM).encode(), _num(PAGE_HEIGHT * MM).encode(),
            resources, contents,
        ))  # fmt: skip
        objects.put(pages, b"<</Type/Pages/Kids[%d 0 R]/Count 1>>" % page)
        objects.put(
            catalog, b"<</Type/Catalog/Pages %d 0 R/Lang(zh-CN)%s>>" % (pages, names)
        )
        created = pdf_date(info.created)
        objects.put(info_ref, b"".join([
            b"<</Title ", pdf_string(info.title), b"/Author ", pdf_string(info.author),
            b"/Subject ", pdf_string(info.subject), b"/Creator ",
            pdf_string(info.creator), b"/Producer ", pdf_string(info.creator),
            b"/CreationDate ", created, b">>",
        ]))  # fmt: skip
        return objects.write(catalog, info_ref, file_id)

    def _embed(self, objects: _Objects, program: FontProgram) -> int:
        """Add the composite font of ``program``; return the Type0 font's number."""
        fontname = program.tag.encode("ascii") + b"+" + self._name
        added = sorted((code, chr(cp)) for cp, code in program.added.items())
        widths = " ".join(
            [self._base_w]
            + [f"{code} [{self.widths.get(ord(char), 0)}]" for code, char in added]
        )
        font_file = objects.stream(
            b"/Filter/FlateDecode/Length1 %d" % program.length,
            zlib_stream(program.parts),
        )
        descriptor = objects.add(
            b"<</Type/FontDescriptor/FontName/%s%s/FontFile2 %d 0 R>>"
            % (fontname, self._descriptor, font_file)
        )
        cid_font = objects.add(
            b"<</Type/Font/Subtype/CIDFontType2/BaseFont/%s"
            b"/CIDSystemInfo<</Registry(Adobe)/Ordering(Identity)/Supplement 0>>"
            b"/FontDescriptor %d 0 R/DW %d/W[%s]/CIDToGIDMap/Identity>>"
            % (fontname, descriptor, self._missing_width, widths.encode("ascii"))
        )
        to_unicode = objects.stream(
            b"/Filter/FlateDecode",
            zlib_stream([self._unicode, _bfchar_blocks(added) + CMAP_TAIL]),
        )
        return objects.add(
            b"<</Type/Font/Subtype/Type0/BaseFont/%s/Encoding/Identity-H"
            b"/DescendantFonts[%d 0 R]/ToUnicode %d 0 R>>"
            % (fontname, cid_font, to_unicode)
        )

    def _attach(self, objects: _Objects, attachment: Attachment) -> bytes:
        """Add the embedded file; return the catalogue entries that list it."""
        when = pdf_date(attachment.date)
        mime = attachment.mime_type.replace("/", "#2F").encode("ascii")
        data = objects.stream(
            b"/Type/EmbeddedFile/Subtype/%s/Params<</Size %d/CreationDate %s"
            b"/ModDate %s>>" % (mime, len(attachment.data), when, when),
            attachment.data,
        )
        name = pdf_string(attachment.name)
        spec = objects.add(
            b"<</Type/Filespec/F %s/UF %s/EF<</F %d 0 R/UF %d 0 R>>/Desc %s"
            b"/AFRelationship/Data>>"
            % (name, name, data, data, pdf_string(attachment.description))
        )
        return b"/Names<</EmbeddedFiles<</Names[%s %d 0 R]>>>>/AF[%d 0 R]" % (
            name, spec, spec,
        )  # fmt: skip


_PIXELS = 8  # image pixels per module: one module is one byte of a row
_MODULE_BYTE = bytes.maketrans(b"\0\1", b"\0\xff")


def image_rows(picture: Picture) -> bytes:
    """The picture's 1-bit image rows, set bits dark."""
    width = picture.width
    bits = picture.modules.translate(_MODULE_BYTE)
    return b"".join(
        bits[start : start + width] * _PIXELS
        for start in range(0, width * width, width)
    )
