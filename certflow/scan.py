"""What a scan of a signed paper form must be: a PDF, JPEG or PNG of at most 30 MB
that opens.

One rule for every scan staff upload: the lead evaluator's signed score summary
(read by intake) and the site's sealed certificate application (checked by the
staff tool, whose file the plan never reads). Pure code: bytes in, problems out.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image
from pypdf import PdfReader

from certflow.i18n import t
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
    """Why ``data`` is no scan: empty, too large, or not a PDF, JPEG or PNG."""
    if not data:
        return [Problem(code="empty", message=t("intake_db.scan_empty"))]
    if len(data) > SCAN_MAX_BYTES:
        return [Problem(code="too_large", message=t("intake_db.scan_too_large"))]
    kind = scan_media_type(data)
    if kind is None:
        return [Problem(code="not_a_scan", message=t("intake_db.scan_format"))]
    if not readable(data, kind):
        return [Problem(code="unreadable", message=t("intake_db.scan_unreadable"))]
    return []


def readable(data: bytes, kind: str) -> bool:
    """Whether the scan opens: a PDF with at least one page, or an image whose
    pixels decode. Regression: eight bytes of a PNG's signature, or a PDF
    header and zeros, passed as a scan that nothing can open."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pypdf's warnings on odd files
            if kind == "application/pdf":
                return len(PdfReader(io.BytesIO(data)).pages) > 0
            with Image.open(io.BytesIO(data)) as image:
                image.load()  # decodes every pixel; refuses a decompression bomb
                return image.width > 0 and image.height > 0
    except Exception:
        # Any failure to open a sender's file means unreadable: the file is
        # theirs, its faults are many, and none may crash the upload.
        return False
