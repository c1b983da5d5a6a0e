"""The e-certificate PDF: rendering, reading the signed payload back, verifying.

The page is A4 portrait in Simplified Chinese. The identity document number is
printed whole: the PDF is the candidate's own document and the national platform
prints it whole too; it never appears in the QR code or its URL.

Tamper evidence travels in two places:

- an attached file ``certflow-certificate.json`` holding the canonical data,
  the key id and the signature, which :func:`verify_pdf` checks offline;
- the QR code, whose URL names the certificate number, key id and signature,
  so the verification page can check the record it holds for that number.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time
from enum import StrEnum
from io import BytesIO
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from certflow.certificates import qr
from certflow.certificates.canonical import (
    CertificateData,
    canonical_bytes,
    canonical_json,
)
from certflow.certificates.fonts import CjkFont, check_printable, load_font
from certflow.certificates.keys import KeyRing
from certflow.certificates.pdffont import CjkPDF
from certflow.certificates.signing import (
    SignedCertificate,
    SignedStatusList,
    StatusList,
    Verdict,
    verify,
    verify_status_list,
)
from certflow.i18n import t
from certflow.models import Model
from certflow.timeutil import CST

ATTACHMENT_NAME = "certflow-certificate.json"
PAYLOAD_FORMAT = "certflow-signed-certificate-v1"
FONT_FAMILY = "cjk"

_QR_PIXELS = 4  # image pixels per module

# Page geometry in millimetres (A4 portrait).
_PAGE_W = 210.0
_LABEL_X = 38.0
_VALUE_X = 72.0
_VALUE_W = 112.0
_ROW_H = 11.5
_ACCENT = (150, 28, 32)
_INK = (30, 30, 30)


class NotACertificateError(ValueError):
    """The file is not a PDF, or carries no certflow signed payload."""


class PayloadError(ValueError):
    """The signed payload is there but cannot be read: it was altered."""


def verification_url(signed: SignedCertificate) -> str:
    """Return the URL behind the QR code.

    ``{verify_url_base}/verify/{number}?k={key_id}&sig={signature}``: the page
    looks the number up and checks the signature against its own record. No
    personal data is in the URL.
    """
    data = signed.data
    return (
        f"{data.verify_url_base}/verify/{data.number}"
        f"?k={signed.key_id}&sig={signed.signature_b64}"
    )


def check_scanned_record(
    url: str, record: CertificateData, keyring: KeyRing
) -> Verdict:
    """Check a scanned QR URL against the record the verification page holds.

    The page looks ``record`` up by the number in the URL; this confirms the
    URL's key id and signature cover exactly that record. A URL for another
    number, or one that is not a verification URL, counts as tampered.
    """
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    number = parts.path.rsplit("/", 1)[-1]
    kid, sig = query.get("k", [""])[0], query.get("sig", [""])[0]
    if number != record.number or not parts.path.endswith(f"/verify/{number}"):
        return Verdict.TAMPERED
    if not re.fullmatch(r"[0-9a-f]{16}", kid):
        return Verdict.TAMPERED
    return verify(
        SignedCertificate(data=record, key_id=kid, signature_b64=sig), keyring
    )


def payload_bytes(signed: SignedCertificate) -> bytes:
    """Return the attached file's bytes: canonical data, key id and signature."""
    return canonical_json(
        {
            "format": PAYLOAD_FORMAT,
            "certificate": json.loads(canonical_bytes(signed.data)),
            "key_id": signed.key_id,
            "signature": signed.signature_b64,
        }
    )


def parse_payload(payload: bytes) -> SignedCertificate:
    """Read a signed certificate from the attached file's bytes.

    Raises :class:`PayloadError` when the bytes are not exactly what
    :func:`payload_bytes` writes (unreadable JSON, unknown or missing fields):
    such a file was edited after signing.
    """
    try:
        document = json.loads(payload.decode("utf-8"))
        if document.get("format") != PAYLOAD_FORMAT:
            raise PayloadError("unknown payload format")
        fields = dict(document["certificate"])
        fields.pop("schema", None)
        signed = SignedCertificate(
            data=CertificateData.model_validate(fields),
            key_id=document["key_id"],
            signature_b64=document["signature"],
        )
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
        # The cause is not chained: validation errors quote the personal data.
        raise PayloadError("the signed payload cannot be read") from None
    if payload_bytes(signed) != payload:
        raise PayloadError("signed payload is not in canonical form")
    return signed


def _date_text(data: CertificateData) -> str:
    day = data.issued_on
    return t("certificates.pdf.date", year=day.year, month=day.month, day=day.day)


def _fields(data: CertificateData) -> list[tuple[str, str]]:
    return [
        (t("certificates.pdf.candidate_name"), data.candidate_name),
        (t("certificates.pdf.id_type"), data.id_type),
        (t("certificates.pdf.id_number"), data.id_number),
        (
            t("certificates.pdf.certificate"),
            t("certificates.pdf.certificate_name", certificate=data.certificate),
        ),
        (t("certificates.pdf.level"), data.level.chinese),
        (t("certificates.pdf.module"), f"{data.module_code} {data.module_name}"),
        (t("certificates.pdf.number"), data.number),
        (t("certificates.pdf.issued_on"), _date_text(data)),
        (t("certificates.pdf.organisation"), data.organisation),
    ]


class _Page:
    """Places the certificate's content on one fpdf2 page."""

    def __init__(self, font: CjkFont) -> None:
        self.pdf = CjkPDF(orientation="portrait", unit="mm", format="A4")
        self.pdf.set_auto_page_break(False)
        self.pdf.set_margins(0, 0, 0)
        self.pdf.use_cjk_font(font, FONT_FAMILY)
        self.pdf.add_page()

    def border(self) -> None:
        pdf = self.pdf
        pdf.set_draw_color(*_ACCENT)
        pdf.set_line_width(1.4)
        pdf.rect(9, 9, _PAGE_W - 18, 297 - 18)
        pdf.set_line_width(0.35)
        pdf.rect(13, 13, _PAGE_W - 26, 297 - 26)

    def centred(self, y: float, text: str, size: float, spacing: float = 0.0) -> None:
        pdf = self.pdf
        pdf.set_font(FONT_FAMILY, size=size)
        pdf.set_char_spacing(spacing)
        width = pdf.get_string_width(text)
        pdf.text((_PAGE_W - width) / 2 + spacing / 2, y, text)
        pdf.set_char_spacing(0)

    def fitted(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        width: float,
        *,
        right: bool = False,
    ) -> None:
        """Write ``text`` at ``size``, shrinking it until it fits ``width``.

        With ``right``, ``x`` is where the text ends rather than where it starts.
        """
        pdf = self.pdf
        pdf.set_font(FONT_FAMILY, size=size)
        while size > 7 and pdf.get_string_width(text) > width:
            size -= 0.5
            pdf.set_font(FONT_FAMILY, size=size)
        pdf.text(x - pdf.get_string_width(text) if right else x, y, text)

    def qr(self, url: str, x: float, y: float, side: float) -> None:
        """Draw the QR code of ``url`` with the standard four-module quiet zone.

        The bitmap is enlarged without smoothing to several pixels per module,
        so that renderers downscale it rather than blur it when they upscale.
        """
        scaled = qr.encode(url).image(_QR_PIXELS)
        self.pdf.image(scaled, x=x, y=y, w=side, h=side)


def render_pdf(signed: SignedCertificate, *, font_path: Path | None = None) -> bytes:
    """Render the e-certificate PDF of a signed certificate.

    Raises :class:`~certflow.certificates.fonts.FontNotFoundError` when no CJK
    font is installed and
    :class:`~certflow.certificates.fonts.UnsupportedCharactersError` when the
    font lacks a glyph of the data: a certificate never shows empty boxes.
    The output is deterministic for the same input and font.
    """
    data = signed.data
    font = load_font(font_path)
    fields = _fields(data)
    fixed = [
        t("certificates.pdf.title"),
        t("certificates.pdf.statement"),
        t("certificates.pdf.qr_caption"),
        t("certificates.pdf.platform_note"),
    ]
    text = "".join(fixed) + "".join(label + value for label, value in fields)
    check_printable(text, font)

    page = _Page(font)
    pdf = page.pdf
    issued = datetime.combine(data.issued_on, time(9, 0), tzinfo=CST)
    pdf.set_creation_date(issued)
    pdf.set_title(f"{fields[3][1]} {data.number}")
    pdf.set_author(data.organisation)
    pdf.set_subject(data.number)
    pdf.set_creator("certflow")
    pdf.set_producer("certflow")

    page.border()
    pdf.set_text_color(*_ACCENT)
    page.centred(52, t("certificates.pdf.title"), 30, spacing=3)
    pdf.set_text_color(*_INK)
    page.centred(68, fields[3][1], 15)
    pdf.set_draw_color(*_ACCENT)
    pdf.set_line_width(0.3)
    pdf.line(40, 76, _PAGE_W - 40, 76)

    y = 96.0
    for label, value in fields:
        pdf.set_font(FONT_FAMILY, size=12)
        pdf.set_text_color(90, 90, 90)
        pdf.text(_LABEL_X, y, label)
        pdf.set_text_color(*_INK)
        page.fitted(_VALUE_X, y, value, 13, _VALUE_W)
        y += _ROW_H
    page.centred(y + 8, t("certificates.pdf.statement"), 14)

    qr_x, qr_y, qr_side = 22.0, 224.0, 38.0
    page.qr(verification_url(signed), qr_x, qr_y, qr_side)
    pdf.set_font(FONT_FAMILY, size=8)
    caption = t("certificates.pdf.qr_caption")
    pdf.text(
        qr_x + (qr_side - pdf.get_string_width(caption)) / 2,
        qr_y + qr_side + 4,
        caption,
    )

    for offset, line in ((236.0, data.organisation), (246.0, _date_text(data))):
        # Right of the QR code: from x = 66 mm to the inner border's margin.
        page.fitted(_PAGE_W - 26, offset, line, 13, _PAGE_W - 26 - 66, right=True)

    pdf.set_text_color(90, 90, 90)
    page.centred(279, t("certificates.pdf.platform_note"), 9)

    pdf.embed_file(
        bytes=payload_bytes(signed),
        basename=ATTACHMENT_NAME,
        mime_type="application/json",
        desc=t("certificates.pdf.attachment_description"),
        creation_date=issued,
        modification_date=issued,
    )
    return pdf.to_bytes()


def extract_signed(pdf: bytes) -> SignedCertificate:
    """Read the signed payload embedded in a certificate PDF.

    Raises :class:`NotACertificateError` when the bytes are not a PDF or carry
    no payload, and :class:`PayloadError` when the payload was altered so that
    it no longer parses.
    """
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        attachments = PdfReader(BytesIO(pdf)).attachments
        contents = attachments.get(ATTACHMENT_NAME)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise NotACertificateError(f"not a readable PDF: {exc}") from None
    if not contents:
        raise NotACertificateError(f"the PDF has no {ATTACHMENT_NAME} attachment")
    return parse_payload(contents[0])


class VerificationStatus(StrEnum):
    """The outcome of verifying a certificate PDF offline."""

    VALID = "valid"
    TAMPERED = "tampered"
    UNKNOWN_KEY = "unknown_key"
    REVOKED = "revoked"
    NOT_A_CERTIFICATE = "not_a_certificate"


class VerificationResult(Model):
    """What :func:`verify_pdf` found, with a Chinese message for the person asking.

    ``data`` is set only when the signature verified (valid or revoked), so a
    caller never shows data it cannot vouch for.
    """

    status: VerificationStatus
    message: str
    number: str | None = None
    key_id: str | None = None
    data: CertificateData | None = None
    revoked_on: date | None = None
    revocation_reason: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the certificate is genuine and not revoked."""
        return self.status is VerificationStatus.VALID


class StatusListError(ValueError):
    """A signed status list that does not verify was handed to the verifier."""


def verify_pdf(
    pdf: bytes,
    keyring: KeyRing,
    status_list: StatusList | SignedStatusList | None = None,
) -> VerificationResult:
    """Verify a certificate PDF offline: signature, key, then revocation.

    ``status_list`` is the latest revocation list; a :class:`SignedStatusList`
    is checked against ``keyring`` first (a bad one raises
    :class:`StatusListError` rather than silently treating nothing as revoked).
    """
    if isinstance(status_list, SignedStatusList):
        if verify_status_list(status_list, keyring) is not Verdict.VALID:
            raise StatusListError("The status list's signature does not verify.")
        status_list = status_list.status_list

    try:
        signed = extract_signed(pdf)
    except NotACertificateError:
        return VerificationResult(
            status=VerificationStatus.NOT_A_CERTIFICATE,
            message=t("certificates.verify.not_certificate"),
        )
    except PayloadError:
        return VerificationResult(
            status=VerificationStatus.TAMPERED,
            message=t("certificates.verify.tampered"),
        )

    data = signed.data
    verdict = verify(signed, keyring)
    if verdict is Verdict.UNKNOWN_KEY:
        return VerificationResult(
            status=VerificationStatus.UNKNOWN_KEY,
            message=t("certificates.verify.unknown_key", key_id=signed.key_id),
            number=data.number,
            key_id=signed.key_id,
        )
    if verdict is Verdict.TAMPERED:
        return VerificationResult(
            status=VerificationStatus.TAMPERED,
            message=t("certificates.verify.tampered"),
            key_id=signed.key_id,
        )

    revocation = status_list.find(data.number) if status_list else None
    if revocation is not None:
        reason = (
            t("certificates.verify.revoked_reason", reason=revocation.reason)
            if revocation.reason
            else ""
        )
        return VerificationResult(
            status=VerificationStatus.REVOKED,
            message=t(
                "certificates.verify.revoked",
                number=data.number,
                revoked_on=revocation.revoked_on.isoformat(),
                reason=reason,
            ),
            number=data.number,
            key_id=signed.key_id,
            data=data,
            revoked_on=revocation.revoked_on,
            revocation_reason=revocation.reason,
        )
    return VerificationResult(
        status=VerificationStatus.VALID,
        message=t(
            "certificates.verify.valid",
            number=data.number,
            organisation=data.organisation,
            issued_on=data.issued_on.isoformat(),
        ),
        number=data.number,
        key_id=signed.key_id,
        data=data,
    )
