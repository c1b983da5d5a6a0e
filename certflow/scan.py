"""What a scan of a signed paper form must be: a PDF, JPEG or PNG of at most 30 MB.

One rule for every scan staff upload: the lead evaluator's signed score summary
(read by intake) and the site's sealed certificate application (checked by the
staff tool, whose file the plan never reads). Pure code: bytes in, problems out.
"""

from __future__ import annotations

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
    if scan_media_type(data) is None:
        return [Problem(code="not_a_scan", message=t("intake_db.scan_format"))]
    return []
