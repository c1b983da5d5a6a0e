"""Checking that a certificate's page draws its signed data, and nothing else.

The signature covers the attached data, not the drawing; a forger who keeps a
genuine attachment can redraw the page. Reading the page's text back is not
enough: text can be drawn invisibly (render mode 3, white, tiny, off the page,
under the QR code) while other text or shapes show something else. So the page
is read the way a renderer draws it, and must be what the issuer draws, with
either of its renderers:

- only the operators the issuer's writers use: text shown with ``Tj`` in fill
  mode, stroked rectangles and one line (the frame and the rule), one image;
  no filled shapes, clipping, shading, inline images, forms or annotations;
- every piece of text is one of the certificate's lines, at its line's height,
  in a colour dark enough to read on white, at the layout's size or the few
  points the layout may shrink a long value by; every line is there;
- the one image is the QR code of this certificate's verification URL, where
  the layout puts it.

The horizontal positions depend on the face's widths and are only kept on the
page. A face whose outlines were redrawn to show other characters under the
same text is beyond this check.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from certflow.certificates import qr
from certflow.certificates.pdfwriter import MM, PAGE_HEIGHT, PAGE_WIDTH, Text

# Operators either writer emits on a certificate page.
_ALLOWED = frozenset(b"q Q cm BT ET Tf Tm Td Tj Tc rg RG w J re m l S Do".split())
_MOST = {b"re": 2, b"m": 1, b"l": 1, b"Do": 1, b"cm": 1}
_PAGE_KEYS = frozenset({"/Type", "/Parent", "/MediaBox", "/Resources", "/Contents",
                        "/Group"})  # fmt: skip
_RESOURCE_KEYS = frozenset({"/Font", "/XObject", "/ProcSet"})
_IMAGE_KEYS = frozenset({
    "/Type", "/Subtype", "/Width", "/Height", "/ColorSpace", "/BitsPerComponent",
    "/Decode", "/Filter", "/DecodeParms", "/Length",
})  # fmt: skip
_MOST_CONTENT = 256 * 1024  # bytes; a certificate page draws about 5 KiB
_MOST_MAP = 256 * 1024  # bytes of a ToUnicode map; a certificate's is ~10 KiB
_SHRINK = 6.5  # points the layout may take off a value that does not fit
_HEIGHT_TOLERANCE = 1.0  # points
_DARKEST_LIGHT = 0.6  # luminance above which text is too light to read on white


class PageProblem(StrEnum):
    """Why a page is not the issuer's drawing (keys of the Chinese texts)."""

    FOREIGN_DRAWING = "foreign_drawing"
    FOREIGN_CONTENT = "foreign_content"  # beyond the page: scripts, links, files
    HIDDEN_TEXT = "hidden_text"
    OTHER_TEXT = "other_text"
    MISSING_TEXT = "missing_text"
    QR_CODE = "qr_code"
    LAYOUT = "layout"
    GLYPHS = "glyphs"
    FONT = "font"  # not the face the signed data names


@dataclass(frozen=True)
class _Run:
    text: str
    y: float  # baseline, points from the page's bottom
    x: float
    size: float


@dataclass(frozen=True)
class QrPlacement:
    """Where the layout draws the QR code, in millimetres from the top left."""

    x: float
    y: float
    side: float


def foreign_drawing(reader: Any, placement: QrPlacement) -> bool:
    """Whether the first page of ``reader`` (a pypdf reader) holds anything the
    issuer's writers never draw.

    Cheap and bounded: it looks at the page's structure and counts operators
    before any text is laid out, so a page built to make text extraction slow
    (forms drawn thousands of times, huge content) is refused first.
    """
    if len(reader.pages) != 1:
        return True
    page = reader.pages[0]
    if _foreign_structure(page):
        return True
    operations = _operations(reader, page)
    return operations is None or _foreign_operators(operations, placement)


def drawing_problems(
    reader: Any, lines: Iterable[Text], url: str, placement: QrPlacement
) -> list[PageProblem]:
    """Return what is wrong with the first page of ``reader`` (a pypdf reader),
    a page :func:`foreign_drawing` found no fault with.

    ``lines`` are the certificate's text lines as the layout places them (their
    ``x`` is not compared) and ``url`` the verification URL its QR code holds.
    An empty list means the page is the issuer's drawing of these lines.
    """
    page = reader.pages[0]
    operations = _operations(reader, page) or []
    problems: list[PageProblem] = []
    if any(_too_light(operands) for operands, op in operations if op == b"rg"):
        problems.append(PageProblem.HIDDEN_TEXT)
    problems += _compare_runs(list(_runs(page)), list(lines))
    if not _shows_qr(page, url):
        problems.append(PageProblem.QR_CODE)
    return sorted(set(problems), key=list(PageProblem).index)


def bounded_data(stream: Any, limit: int) -> bytes | None:
    """The decoded bytes of a pypdf stream, or None past ``limit`` bytes.

    Only what the issuer's writers use is decoded (no filter, or Flate without
    predictors), and never more than ``limit`` bytes of it: a 200 KB stream may
    inflate to gigabytes, and pypdf would inflate it whole before anyone could
    look at its size.
    """
    stream = stream.get_object()
    raw = getattr(stream, "_data", None)
    if not isinstance(raw, bytes) or "/DecodeParms" in stream:
        return None
    filters = stream.get("/Filter")
    if filters is None:
        return raw if len(raw) <= limit else None
    names = [str(f) for f in filters] if isinstance(filters, list) else [str(filters)]
    if names != ["/FlateDecode"]:
        return None
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(raw, limit + 1)
    except zlib.error:
        return None
    return data if len(data) <= limit else None


def is_a4(box: Any) -> bool:
    """Whether a PDF box (a page's or the page tree's MediaBox) is A4 portrait,
    all of it shown (no box cutting a part away)."""
    values = [float(v) for v in box]
    expected = [0, 0, PAGE_WIDTH * MM, PAGE_HEIGHT * MM]
    if len(values) != 4:
        return False
    return all(abs(a - b) <= 0.5 for a, b in zip(values, expected, strict=True))


def _fonts_bounded(resources: Any) -> bool:
    """Every font's text map is of a certificate's size (read before any text)."""
    for font in resources.get("/Font", {}).values():
        font = font.get_object()
        to_unicode = font.get("/ToUnicode")
        if to_unicode is not None and bounded_data(to_unicode, _MOST_MAP) is None:
            return False
    return True


def _foreign_structure(page: Any) -> bool:
    if not set(page.keys()) <= _PAGE_KEYS:
        return True  # annotations, actions, another thumbnail...
    if not is_a4(page.get("/MediaBox", [])):
        return True
    resources = page.get("/Resources")
    if resources is None or not set(resources.keys()) <= _RESOURCE_KEYS:
        return True
    images = resources.get("/XObject")
    if images is None or len(images) != 1:
        return True
    image = next(iter(images.values())).get_object()
    if image.get("/Subtype") != "/Image":
        return True  # a form could draw anything
    if not set(image.keys()) <= _IMAGE_KEYS:
        return True  # optional content, alternates, a mask...
    return not _fonts_bounded(resources)


def page_content(page: Any) -> bytes | None:
    """The page's decoded content (one stream or several), bounded."""
    contents = page.get("/Contents")
    if contents is None:
        return None
    contents = contents.get_object()
    parts = list(contents) if isinstance(contents, list) else [contents]
    data = b""
    for part in parts:
        decoded = bounded_data(part, _MOST_CONTENT - len(data))
        if decoded is None:
            return None
        data += decoded
    return data


def drawn_operations(content: bytes) -> list[tuple[tuple[object, ...], bytes]]:
    """The operators of ``content`` with their operands, as a renderer reads them.

    Numbers to the hundredth, strings as their bytes: the same drawing written
    with other spacing, line breaks or number forms (as PDF tools re-save a
    file) reads the same; any other difference does not.
    """
    from pypdf.generic import ContentStream, DecodedStreamObject

    stream = DecodedStreamObject()
    stream.set_data(content)
    return [
        (tuple(_operand(value) for value in operands), op)
        for operands, op in ContentStream(stream, None).operations
    ]


def _operand(value: Any) -> object:
    from pypdf.generic import ByteStringObject, NameObject, TextStringObject

    if isinstance(value, ByteStringObject | TextStringObject):
        return bytes(value.original_bytes)
    if isinstance(value, NameObject):
        return str(value)
    if isinstance(value, int | float):
        return round(float(value), 2)
    return repr(value)


def _operations(reader: Any, page: Any) -> list[tuple[list[Any], bytes]] | None:
    from pypdf.generic import ContentStream, DecodedStreamObject

    data = page_content(page)
    if data is None:
        return None
    contents = DecodedStreamObject()
    contents.set_data(data)
    return [
        (list(operands), op)
        for operands, op in ContentStream(contents, reader).operations
    ]


def _foreign_operators(
    operations: list[tuple[list[Any], bytes]], placement: QrPlacement
) -> bool:
    counts = Counter(op for _operands, op in operations)
    if not set(counts) <= _ALLOWED or counts[b"Do"] != 1:
        return True
    if any(counts[op] > most for op, most in _MOST.items()):
        return True
    for operands, op in operations:
        if op == b"Tm" and [float(v) for v in operands[:4]] != [1, 0, 0, 1]:
            return True  # scaled, skewed or mirrored text
        if op == b"cm" and not _places_qr(operands, placement):
            return True
        if op == b"w" and not 0 <= float(operands[0]) <= 5:
            return True  # a stroke wide enough to paint over text
    return False


def _places_qr(operands: list[Any], placement: QrPlacement) -> bool:
    side = placement.side * MM
    expected = [side, 0, 0, side, placement.x * MM,
                (PAGE_HEIGHT - placement.y - placement.side) * MM]  # fmt: skip
    return len(operands) == 6 and all(
        abs(float(a) - b) <= 0.5 for a, b in zip(operands, expected, strict=True)
    )


def _too_light(operands: list[Any]) -> bool:
    if len(operands) != 3:
        return True
    red, green, blue = (float(v) for v in operands)
    return 0.299 * red + 0.587 * green + 0.114 * blue > _DARKEST_LIGHT


def _runs(page: Any) -> Iterator[_Run]:
    """The page's pieces of text with where and how big they are drawn."""
    found: list[_Run] = []

    def visit(
        text: str, cm: list[float], tm: list[float], _font: Any, size: float
    ) -> None:
        shown = _normalised(text)
        if shown:
            found.append(_Run(shown, tm[5] + cm[5], tm[4] + cm[4], float(size)))

    page.extract_text(visitor_text=visit)
    yield from found


def _normalised(text: str) -> str:
    # Some faces' maps give each character a NUL before it; spaces do not count.
    return "".join(text.replace("\0", "").split())


def _compare_runs(runs: list[_Run], lines: list[Text]) -> list[PageProblem]:
    problems: list[PageProblem] = []
    waiting: dict[str, list[Text]] = {}
    for line in lines:
        waiting.setdefault(_normalised(line.text), []).append(line)
    for run in runs:
        candidates = waiting.get(run.text, [])
        match = next((line for line in candidates if _placed_as(run, line)), None)
        if match is None:
            known = bool(candidates)
            problems.append(
                PageProblem.HIDDEN_TEXT if known else PageProblem.OTHER_TEXT
            )
            continue
        candidates.remove(match)
    if any(waiting.values()):
        problems.append(PageProblem.MISSING_TEXT)
    return problems


def _placed_as(run: _Run, line: Text) -> bool:
    baseline = (PAGE_HEIGHT - line.y) * MM
    return (
        abs(run.y - baseline) <= _HEIGHT_TOLERANCE
        and line.size - _SHRINK <= run.size <= line.size + 0.01
        and 0 <= run.x < PAGE_WIDTH * MM
    )


def _shows_qr(page: Any, url: str) -> bool:
    """Whether the page's image shows exactly the QR code of ``url``."""
    from pypdf.errors import PyPdfError

    symbol = qr.encode(url)
    try:
        image = page.images[0].image.convert("L")
    except (PyPdfError, ValueError, KeyError, IndexError, OSError, NotImplementedError):
        return False  # an image pypdf or Pillow cannot decode is not the issuer's
    width, height = image.size
    modules = symbol.width
    if width != height or width < modules:
        return False
    pixels = image.load()
    step = Decimal(width) / modules
    for row in range(modules):
        y = int(step * row + step / 2)
        for column in range(modules):
            x = int(step * column + step / 2)
            dark = pixels[x, y] < 128
            if dark != bool(symbol.modules[row * modules + column]):
                return False
    return True
