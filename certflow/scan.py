"""What a scan of a signed paper form must be: a PDF, JPEG or PNG of at most 30 MB
that opens, an image of no more pixels than a finely scanned page.

One rule for every scan staff upload: the lead evaluator's signed score summary
(read by intake) and the site's sealed certificate application (checked by the
staff tool, whose file the plan never reads). Pure code: bytes in, problems out.
"""

from __future__ import annotations

import io
import logging

from PIL import Image, JpegImagePlugin, PngImagePlugin
from pypdf import PdfReader

from certflow.i18n import t
from certflow.intake.container import is_blank
from certflow.models import Problem

SCAN_MAX_BYTES = 30 * 1024 * 1024

# The first bytes of each file type a scan may be, and its media type.
SCAN_SIGNATURES = {
    b"%PDF-": "application/pdf",
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
}
SCAN_MEDIA_TYPES = frozenset(SCAN_SIGNATURES.values())


def scan_media_type(data: bytes) -> str | None:
    """The media type the bytes of a scan show, or None for any other file."""
    return next(
        (kind for sig, kind in SCAN_SIGNATURES.items() if data.startswith(sig)), None
    )


def scan_problems(data: bytes) -> list[Problem]:
    """Why ``data`` is no scan: empty (no byte, or blank lines only, as every
    upload counts empty), too large, not a PDF, JPEG or PNG, an image of more
    pixels than :data:`SCAN_MAX_PIXELS`, or a file that does not open."""
    if is_blank(data):
        return [Problem(code="empty", message=t("intake_db.scan_empty"))]
    if len(data) > SCAN_MAX_BYTES:
        return [Problem(code="too_large", message=t("intake_db.scan_too_large"))]
    kind = scan_media_type(data)
    if kind is None:
        return [Problem(code="not_a_scan", message=t("intake_db.scan_format"))]
    size = image_size(data, kind)
    if size is not None and size[0] * size[1] > SCAN_MAX_PIXELS:
        message = t(
            "intake_db.scan_too_many_pixels",
            width=size[0],
            height=size[1],
            pixels=size[0] * size[1] // 10_000,
            limit=SCAN_MAX_PIXELS // 10_000,
        )
        return [Problem(code="too_many_pixels", message=message)]
    if not readable(data, kind):
        return [Problem(code="unreadable", message=t("intake_db.scan_unreadable"))]
    return []


# The most pixels a scan's image may have: an A4 page at 600 dpi is 35 million.
# A few hundred kilobytes of PNG can declare far more, and decoding them would
# take the worker's memory (a 13000 x 13000 page: about 700 MB).
SCAN_MAX_PIXELS = 60_000_000


# The image readers by media type, used without ``Image.open``: it refuses an
# image past Pillow's own limit (about 179 million pixels) before telling its
# size, and a scan that large must be called too large, not damaged.
_IMAGE_FILES = {
    "image/png": PngImagePlugin.PngImageFile,
    "image/jpeg": JpegImagePlugin.JpegImageFile,
}


def image_size(data: bytes, kind: str) -> tuple[int, int] | None:
    """The width and height an image scan declares, read from its header
    without decoding a pixel; None for a PDF or a header that does not read."""
    reader = _IMAGE_FILES.get(kind)
    if reader is None:
        return None
    try:
        with reader(io.BytesIO(data)) as image:
            width, height = image.size
            return width, height
    except Exception:
        # A header that does not read is the sender's fault, found again
        # (and called unreadable) when the scan is opened.
        return None


def readable(data: bytes, kind: str) -> bool:
    """Whether the scan opens: a PDF with at least one page, or an image of at
    most :data:`SCAN_MAX_PIXELS` whose data is whole. Regression: eight bytes
    of a PNG's signature, or a PDF header and zeros, passed as a scan that
    nothing can open.

    Bounded: an image is not decoded at full size (a PNG's chunks are checked
    whole, a JPEG is decoded at an eighth of its size), and its pixel count is
    read before anything is decoded.
    """
    pypdf_log = logging.getLogger("pypdf")
    level = pypdf_log.level
    pypdf_log.setLevel(logging.CRITICAL)  # its notes on odd files are not ours
    try:
        if kind == "application/pdf":
            return len(PdfReader(io.BytesIO(data)).pages) > 0
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if not 0 < width * height <= SCAN_MAX_PIXELS:
                return False
            if kind == "image/png":
                image.verify()  # every chunk present and its checksum right
                return True
            image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
            image.load()
            return True
    except Exception:
        # Any failure to open a sender's file means unreadable: the file is
        # theirs, its faults are many, and none may crash the upload.
        return False
    finally:
        pypdf_log.setLevel(level)
