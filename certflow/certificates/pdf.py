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

import hashlib
import json
import re
import string
from collections.abc import Callable
from datetime import date, datetime, time
from enum import StrEnum
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from certflow.certificates import qr
from certflow.certificates.canonical import (
    CertificateData,
    canonical_bytes,
    canonical_json,
)
from certflow.certificates.cmap import to_unicode
from certflow.certificates.filecheck import altered_properties, foreign_content
from certflow.certificates.fontid import find_face, font_id, page_face_name
from certflow.certificates.fonts import (
    CjkFont,
    FontNotFoundError,
    check_printable,
    load_font,
)
from certflow.certificates.glyphcheck import GlyphCheck, check_glyphs
from certflow.certificates.keys import KeyRing
from certflow.certificates.pagecheck import (
    PageProblem,
    QrPlacement,
    bounded_data,
    drawing_problems,
    drawn_operations,
    foreign_drawing,
    page_content,
)
from certflow.certificates.pdffont import CjkPDF
from certflow.certificates.pdfwriter import (
    MM,
    PAGE_WIDTH,
    Attachment,
    Box,
    Colour,
    Info,
    Line,
    Op,
    Picture,
    Template,
    Text,
    draw_operators,
    image_rows,
    picture_operator,
    text_width,
)
from certflow.certificates.signing import (
    RevocationEntry,
    SignedCertificate,
    SignedStatusList,
    StatusList,
    Verdict,
    public_reason,
    verify,
    verify_status_list,
)
from certflow.i18n import t
from certflow.models import Model
from certflow.timeutil import CST

ATTACHMENT_NAME = "certflow-certificate.json"

PAYLOAD_FORMAT = "certflow-signed-certificate-v1"
FONT_FAMILY = "cjk"

_QR_PIXELS = 4  # image pixels per module on the fpdf2 path

# Page geometry in millimetres (A4 portrait).
_PAGE_W = PAGE_WIDTH
_LABEL_X = 38.0
_VALUE_X = 72.0
_VALUE_W = 112.0
_ROW_H = 11.5
_VALUES_Y = 96.0  # baseline of the first labelled row
_ACCENT = (150, 28, 32)
_INK = (30, 30, 30)
_GREY = (90, 90, 90)
_QR_X, _QR_Y, _QR_SIDE = 22.0, 224.0, 38.0
_QR_PLACEMENT = QrPlacement(_QR_X, _QR_Y, _QR_SIDE)


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


# A key id and a signature as a QR code prints them: 16 hex digits, and the
# 64 bytes of an Ed25519 signature in 86 base64url characters.
_KEY_ID_TEXT = re.compile(r"[0-9a-f]{16}")
_SIGNATURE_TEXT = re.compile(r"[A-Za-z0-9_-]{86}")
# What a link cut short keeps of them: their first characters, or none.
_KEY_ID_START = re.compile(r"[0-9a-f]{0,16}")
_SIGNATURE_START = re.compile(r"[A-Za-z0-9_-]{0,85}")


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
    if not _KEY_ID_TEXT.fullmatch(kid) or not _SIGNATURE_TEXT.fullmatch(sig):
        # Base64 decoding would skip a character of another alphabet.
        return Verdict.TAMPERED
    return verify(
        SignedCertificate(data=record, key_id=kid, signature_b64=sig), keyring
    )


def is_cut_short_link(kid: str | None, sig: str | None) -> bool:
    """Whether a QR link's key id and signature are what is left of a printed
    link cut short.

    The link ends in ``?k={key id}&sig={signature}``. A chat app that breaks
    it, or a copy that missed its end, loses the end of the signature, the
    signature, or the end of the key id and the signature after it: what is
    left is no signature and says nothing of the certificate. Whatever else
    is not a whole key id and signature (a key id of other characters or
    longer than 16, a signature longer than 86 characters or with a character
    base64url does not use, a signature after a key id missing or cut short)
    no cut leaves: the link was changed, and :func:`check_scanned_record`
    finds it tampered.
    """
    if kid is None:
        return sig is None
    if not _KEY_ID_START.fullmatch(kid):
        return False
    if sig is None:
        return True
    whole_kid = _KEY_ID_TEXT.fullmatch(kid) is not None
    return whole_kid and _SIGNATURE_START.fullmatch(sig) is not None


def payload_bytes(signed: SignedCertificate) -> bytes:
    """Return the attached file's bytes: canonical data, key id and signature.

    The canonical JSON of ``{"certificate": ..., "format": ..., "key_id": ...,
    "signature": ...}``, the certificate being its canonical bytes verbatim (the
    keys are already in sorted order).
    """
    return b"".join([
        b'{"certificate":', canonical_bytes(signed.data),
        b',"format":', canonical_json(PAYLOAD_FORMAT),
        b',"key_id":', canonical_json(signed.key_id),
        b',"signature":', canonical_json(signed.signature_b64), b"}",
    ])  # fmt: skip


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


Fields = tuple[tuple[str, str], ...]  # (label, value) per printed row


def printed_fields(data: CertificateData) -> list[tuple[str, str]]:
    """Each labelled row of the certificate's page, label and value exactly as
    the page prints them (the date as 2026年12月04日), none masked.

    What a reader compares the page with where its glyphs could not be.
    """
    return _fields(data)


def document_title(data: CertificateData) -> str:
    """The title a PDF viewer shows for the certificate: its certificate's
    name and its number (``汽车运用与维修职业技能等级证书 ZCX2026…``), as every
    certificate issued has had it."""
    name = t("certificates.pdf.certificate_name", certificate=data.certificate)
    return f"{name} {data.number}"


def _fields(data: CertificateData) -> list[tuple[str, str]]:
    values = (
        data.candidate_name,
        data.id_type,
        data.id_number,
        t("certificates.pdf.certificate_name", certificate=data.certificate),
        data.level.chinese,
        f"{data.module_code} {data.module_name}",
        data.number,
        _date_text(data),
        data.organisation,
    )
    return [
        (t(f"certificates.pdf.{key}"), value)
        for key, value in zip(_ROW_KEYS, values, strict=True)
    ]


# The printed rows, by the catalogue key of their label, in page order.
_ROW_KEYS = (
    "candidate_name",
    "id_type",
    "id_number",
    "certificate",
    "level",
    "module",
    "number",
    "issued_on",
    "organisation",
)
# The fields of a plan (``PlanInfo``) its certificates print, in the
# certificate's name and the module's row: ``plan start`` refuses one the font
# cannot print, since it would block every certificate of the plan.
PRINTED_PLAN_FIELDS = ("certificate", "module_code", "module_name")
# The rows of _fields that differ between the candidates of one plan: name,
# identity number, certificate number. Everything else is the plan's template.
_OWN_ROWS = (0, 2, 6)
# The page's fixed wording besides the labels.
_FIXED_TEXTS = ("title", "statement", "qr_caption", "platform_note")


class PrintGap(Model):
    """A text of a certificate's page holding characters the font has no glyph for.

    ``row`` names the printed row by its label's catalogue key
    (``candidate_name``, ``id_number``, ``module`` ...), or is ``page`` for
    the fixed wording and the labels. ``positions`` says where the characters
    stand in it (from 1), never which they are (a name's: see
    ``UnsupportedCharactersError``). ``own`` is true of the candidate's own
    rows (name, ID number, number): the rest is the same on every certificate
    of the plan.
    """

    row: str
    positions: list[int]
    own: bool


def unprintable(
    data: CertificateData, *, font_path: Path | None = None
) -> list[PrintGap]:
    """Every text of the certificate of ``data`` the font cannot print whole.

    Empty when :func:`render_pdf` would draw it. Issuance asks this before it
    gives a number, with the candidate's data under a provisional one: a
    certificate that cannot be drawn is never numbered nor signed.
    """
    font = load_font(font_path)
    gaps = [
        PrintGap(row=key, positions=positions, own=index in _OWN_ROWS)
        for index, (key, (_label, value)) in enumerate(
            zip(_ROW_KEYS, _fields(data), strict=True)
        )
        if (positions := font.missing_positions(value))
    ]
    wording = "".join(
        [label for label, _value in _fields(data)]
        + [t(f"certificates.pdf.{key}") for key in _FIXED_TEXTS]
    )
    if positions := font.missing_positions(wording):
        gaps.append(PrintGap(row="page", positions=positions, own=False))
    return gaps


class _Layout:
    """Places the certificate's lines, measuring text with the face's widths."""

    def __init__(self, widths: dict[int, int]) -> None:
        self.widths = widths  # a face's, built once per face and process

    def width(self, text: str, size: float, spacing: float = 0.0) -> float:
        return text_width(self.widths, text, size, spacing)

    def centred(
        self, y: float, text: str, size: float, colour: Colour, spacing: float = 0.0
    ) -> Text:
        x = (_PAGE_W - self.width(text, size, spacing)) / 2 + spacing / 2
        return Text(x, y, size, text, colour, spacing)

    def fitted(
        self,
        x: float,
        y: float,
        text: str,
        size: float,
        width: float,
        *,
        right: bool = False,
    ) -> Text:
        """``text`` at ``size``, shrunk until it fits ``width``.

        With ``right``, ``x`` is where the text ends rather than where it starts.
        """
        while size > 7 and self.width(text, size) > width:
            size -= 0.5
        start = x - self.width(text, size) if right else x
        return Text(start, y, size, text, _INK)

    def own(self, fields: Fields) -> list[Op]:
        """The candidate's own lines: name, identity number, certificate number."""
        return [
            self.fitted(
                _VALUE_X, _VALUES_Y + row * _ROW_H, fields[row][1], 13, _VALUE_W
            )
            for row in _OWN_ROWS
        ]

    def shared(self, fields: Fields) -> tuple[Op, ...]:
        """The drawing every certificate with these fields shares (one plan's)."""
        shared: list[Op] = [
            Box(9, 9, _PAGE_W - 18, 297 - 18, 1.4, _ACCENT),
            Box(13, 13, _PAGE_W - 26, 297 - 26, 0.35, _ACCENT),
            self.centred(52, t("certificates.pdf.title"), 30, _ACCENT, spacing=3),
            self.centred(68, fields[3][1], 15, _INK),
            Line(40, 76, _PAGE_W - 40, 76, 0.3, _ACCENT),
        ]
        y = _VALUES_Y
        for row, (label, value) in enumerate(fields):
            shared.append(Text(_LABEL_X, y, 12, label, _GREY))
            if row not in _OWN_ROWS:
                shared.append(self.fitted(_VALUE_X, y, value, 13, _VALUE_W))
            y += _ROW_H
        shared.append(self.centred(y + 8, t("certificates.pdf.statement"), 14, _INK))
        caption = t("certificates.pdf.qr_caption")
        shared.append(
            Text(
                _QR_X + (_QR_SIDE - self.width(caption, 8)) / 2,
                _QR_Y + _QR_SIDE + 4,
                8,
                caption,
                _INK,
            )
        )
        for offset, line_text in ((236.0, fields[8][1]), (246.0, fields[7][1])):
            # Right of the QR code: from x = 66 mm to the inner border's margin.
            shared.append(
                self.fitted(
                    _PAGE_W - 26, offset, line_text, 13, _PAGE_W - 26 - 66, right=True
                )
            )
        shared.append(self.centred(279, t("certificates.pdf.platform_note"), 9, _GREY))
        return tuple(shared)


def _shared_fields(fields: Fields) -> Fields:
    """``fields`` with the candidate's own values left out: a template's key."""
    return tuple(
        (label, "" if row in _OWN_ROWS else value)
        for row, (label, value) in enumerate(fields)
    )


@lru_cache(maxsize=16)
def _template(path: Path, face_index: int, fields: Fields) -> Template:
    """The compiled template of one plan's certificates, kept for the process.

    Raises :class:`~certflow.certificates.fonts.UnsupportedCharactersError`
    when the face cannot print the shared text.
    """
    del face_index  # part of the cache key only: a path always gives one face
    font = load_font(path)
    ops = _Layout(font.widths()).shared(fields)
    check_printable("".join(op.text for op in ops if isinstance(op, Text)), font)
    return Template(font, ops, _TEMPLATE_CHARACTERS)


# Characters every template's font carries, so identity and certificate numbers
# seldom need glyphs of their own.
_TEMPLATE_CHARACTERS = string.digits + string.ascii_letters + "-"


def render_pdf(signed: SignedCertificate, *, font_path: Path | None = None) -> bytes:
    """Render the e-certificate PDF of a signed certificate.

    Raises :class:`~certflow.certificates.fonts.FontNotFoundError` when no CJK
    font is installed and
    :class:`~certflow.certificates.fonts.UnsupportedCharactersError` when the
    font lacks a glyph of the data: a certificate never shows empty boxes.
    The output is deterministic for the same input and font.

    TrueType faces go through the compiled template
    (:mod:`certflow.certificates.pdfwriter`); faces with PostScript outlines
    through fpdf2, drawing the same layout.

    Certificates that name their font (``CertificateData.font``) are drawn in
    that face: the configured (or given) one when it is that face, else the
    face found among the certificate fonts here (only without ``font_path``);
    :class:`~certflow.certificates.fonts.FontNotFoundError` when there is none.
    """
    data = signed.data
    font = _drawing_font(data, font_path)
    fields = tuple(_fields(data))
    check_printable("".join(fields[row][1] for row in _OWN_ROWS), font)
    if not font.fast_subsetting:
        check_printable("".join(value for _label, value in fields), font)
    layout = _Layout(font.widths())
    own = layout.own(fields)

    payload = payload_bytes(signed)
    issued = datetime.combine(data.issued_on, time(9, 0), tzinfo=CST)
    symbol = qr.encode(verification_url(signed))
    info = Info(
        title=document_title(data),
        author=data.organisation,
        subject=data.number,
        created=issued,
    )
    attachment = Attachment(
        name=ATTACHMENT_NAME,
        data=payload,
        mime_type="application/json",
        description=t("certificates.pdf.attachment_description"),
        date=issued,
    )
    if not font.fast_subsetting:
        ops = [*layout.shared(fields), *own]
        return _render_with_fpdf(font, ops, symbol, info, attachment)
    template = _template(font.path, font.face_index, _shared_fields(fields))
    return template.render(
        own,
        info,
        hashlib.sha256(payload).digest()[:16],
        picture=Picture(_QR_X, _QR_Y, _QR_SIDE, symbol.width, symbol.modules),
        attachment=attachment,
    )


def _drawing_font(data: CertificateData, font_path: Path | None) -> CjkFont:
    """The face to draw the certificate of ``data`` in (see :func:`render_pdf`)."""
    font = load_font(font_path)
    if data.font is None or font_id(font) == data.font:
        return font
    named = None
    if font_path is None:
        named = find_face(data.font.partition(":")[0], data.font)
    if named is None:
        raise FontNotFoundError(
            f"The certificate is signed to be drawn in the font {data.font}, "
            f"which is not the font {font_id(font)} given or configured here "
            "nor one of the certificate fonts installed. Draw it where that "
            "font is installed, or sign it again for the font configured."
        )
    return named


def _render_with_fpdf(
    font: CjkFont,
    ops: list[Op],
    symbol: qr.QrSymbol,
    info: Info,
    attachment: Attachment,
) -> bytes:
    """Draw the certificate through fpdf2 (faces with PostScript outlines)."""
    pdf = CjkPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.use_cjk_font(font, FONT_FAMILY)
    pdf.add_page()
    pdf.set_creation_date(info.created)
    pdf.set_title(info.title)
    pdf.set_author(info.author)
    pdf.set_subject(info.subject)
    pdf.set_creator(info.creator)
    pdf.set_producer(info.creator)
    for op in ops:
        if isinstance(op, Text):
            pdf.set_font(FONT_FAMILY, size=op.size)
            pdf.set_text_color(*op.colour)
            pdf.set_char_spacing(op.spacing * MM)
            pdf.text(op.x, op.y, op.text)
            pdf.set_char_spacing(0)
        elif isinstance(op, Box):
            pdf.set_draw_color(*op.colour)
            pdf.set_line_width(op.line_width)
            pdf.rect(op.x, op.y, op.w, op.h)
        else:
            pdf.set_draw_color(*op.colour)
            pdf.set_line_width(op.line_width)
            pdf.line(op.x1, op.y1, op.x2, op.y2)
    image = symbol.image(_QR_PIXELS)
    pdf.image(image, x=_QR_X, y=_QR_Y, w=_QR_SIDE, h=_QR_SIDE)
    pdf.embed_file(
        bytes=attachment.data,
        basename=attachment.name,
        mime_type=attachment.mime_type,
        desc=attachment.description,
        creation_date=attachment.date,
        modification_date=attachment.date,
    )
    return pdf.to_bytes()


def _reader(pdf: bytes) -> Any:
    """A pypdf reader of ``pdf``; :class:`NotACertificateError` if unreadable."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        return PdfReader(BytesIO(pdf))
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise NotACertificateError(f"not a readable PDF: {exc}") from None


def extract_signed(pdf: bytes) -> SignedCertificate:
    """Read the signed payload embedded in a certificate PDF.

    Raises :class:`NotACertificateError` when the bytes are not a PDF or carry
    no payload, and :class:`PayloadError` when the payload was altered so that
    it no longer parses.
    """
    return _signed_of(_reader(pdf))


def _signed_of(reader: Any) -> SignedCertificate:
    from pypdf.errors import PyPdfError

    try:
        contents = reader.attachments.get(ATTACHMENT_NAME)
    except (PyPdfError, ValueError, KeyError, TypeError, OSError) as exc:
        raise NotACertificateError(f"not a readable PDF: {exc}") from None
    if not contents:
        raise NotACertificateError(f"the PDF has no {ATTACHMENT_NAME} attachment")
    return parse_payload(contents[0])


def page_mismatches(pdf: bytes, data: CertificateData) -> list[str]:
    """Return the labels of the printed rows whose value the page does not show.

    The page's text (as any reader extracts it, through the fonts' ToUnicode
    maps) must be one page holding every value the certificate prints. This
    catches edited text and a signed attachment moved into another PDF; how
    the text is drawn is :func:`page_problems`' part.
    """
    return _mismatches(_reader(pdf), data)


def _mismatches(reader: Any, data: CertificateData) -> list[str]:
    from pypdf.errors import PyPdfError

    try:
        pages = reader.pages
        text = pages[0].extract_text() if len(pages) == 1 else ""
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, IndexError):
        text = ""
    # Some fonts' maps give each character a NUL before it; spaces do not count.
    shown = "".join(text.replace("\0", "").split())
    return [
        "".join(label.split())
        for label, value in _fields(data)
        if "".join(value.split()) not in shown
    ]


def page_problems(pdf: bytes, signed: SignedCertificate) -> list[PageProblem]:
    """Return how the page differs from the issuer's drawing of ``signed``.

    See :mod:`certflow.certificates.pagecheck`: hidden or extra text, shapes
    the issuer never draws, another QR code; and
    :mod:`certflow.certificates.filecheck`: anything beyond the page the
    writers never write.
    """
    reader = _reader(pdf)
    if _guarded(lambda: foreign_drawing(reader, _QR_PLACEMENT)):
        return [PageProblem.FOREIGN_DRAWING]
    if _guarded(lambda: foreign_content(reader, ATTACHMENT_NAME)):
        return [PageProblem.FOREIGN_CONTENT]
    return _drawn_in_face(reader, signed)[0]


def _drawn_in_face(
    reader: Any, signed: SignedCertificate
) -> tuple[list[PageProblem], CjkFont | None]:
    """How the page differs from the drawing of ``signed``, and the face it
    is drawn in where this machine has it (for its glyphs to be compared)."""
    face = _face_of(reader, signed.data)
    if isinstance(face, PageProblem):
        return [face], None
    return _drawing_problems(reader, signed, face), face


def _face_of(reader: Any, data: CertificateData) -> CjkFont | PageProblem | None:
    """The face the page is drawn in, where this machine has it, else ``None``.

    Found by the name the page gives its font among the certificate fonts
    (:func:`~certflow.certificates.fontid.find_face`), not by the font
    configured here: certificates drawn before a switch of the font keep
    theirs. A certificate naming its font in its signed data must be drawn in
    a face of that name (else :attr:`PageProblem.FONT`), and is compared with
    that release of it only.
    """
    try:
        type0 = _page_font(reader.pages[0])
        if type0 is None:
            return PageProblem.FOREIGN_DRAWING  # both writers use one font, /F1
        name = page_face_name(str(type0["/BaseFont"]))
    except _unreadable():
        return PageProblem.FOREIGN_DRAWING
    if data.font is not None and name != data.font.partition(":")[0]:
        return PageProblem.FONT
    return find_face(name, data.font)


def _drawing_problems(
    reader: Any, signed: SignedCertificate, face: CjkFont | None
) -> list[PageProblem]:
    """How a page that passed :func:`foreign_drawing` differs from the drawing
    of ``signed`` by the writer that made it.

    The writer is the one that draws ``face``, the face the page is drawn in
    (the direct writer TrueType faces, fpdf2 the others): a page in the other
    writer's structure was not made by this organisation. Where this machine
    lacks the face, the page is checked as its structure says.
    """
    try:
        page = reader.pages[0]
        type0 = _page_font(page)
        if type0 is not None and _embeds_truetype(type0):
            if face is not None and not face.fast_subsetting:
                return [PageProblem.FOREIGN_DRAWING]
            return _exact_problems(page, type0, signed)
    except _unreadable():
        return [PageProblem.FOREIGN_DRAWING]
    if face is not None and face.fast_subsetting:
        return [PageProblem.FOREIGN_DRAWING]
    return _drawn_like(reader, signed)


def _page_font(page: Any) -> Any:
    fonts = page["/Resources"].get("/Font", {})
    return fonts["/F1"].get_object() if list(fonts) == ["/F1"] else None


def _embeds_truetype(type0: Any) -> bool:
    descendants = type0.get("/DescendantFonts")
    if not descendants:
        return False
    descriptor = descendants[0].get_object().get("/FontDescriptor")
    return descriptor is not None and "/FontFile2" in descriptor.get_object()


def _exact_problems(
    page: Any, type0: Any, signed: SignedCertificate
) -> list[PageProblem]:
    """The page against the direct writer's drawing of ``signed``, byte for byte.

    The drawing depends on the face only through each character's code and
    width, which the page's own font gives (its ToUnicode map and /W array):
    so the content the writer would produce is written again here and must be
    the page's content exactly. Any moved, respaced, recoloured, resized,
    hidden or added mark differs.
    """
    cmap = bounded_data(type0["/ToUnicode"], 256 * 1024)
    if cmap is None:
        return [PageProblem.FOREIGN_DRAWING]
    code_of: dict[str, int] = {}
    for code, text in to_unicode(cmap).items():
        if len(text) != 1 or text in code_of:
            return [PageProblem.LAYOUT]  # a character drawn by two glyphs
        code_of[text] = code
    descendant = type0["/DescendantFonts"][0].get_object()
    width_of = _cid_widths(descendant.get("/W", []))
    widths = {ord(c): width_of[code] for c, code in code_of.items() if code in width_of}
    layout = _Layout(widths)
    fields = tuple(_fields(signed.data))
    symbol = qr.encode(verification_url(signed))
    picture = Picture(_QR_X, _QR_Y, _QR_SIDE, symbol.width, symbol.modules)
    try:
        expected = draw_operators(
            [*layout.shared(fields), *layout.own(fields)], code_of.__getitem__
        ) + picture_operator(picture)
    except KeyError:
        return [PageProblem.MISSING_TEXT]  # a character the font cannot show
    problems = []
    actual = page_content(page)
    if actual is None or drawn_operations(actual) != drawn_operations(expected):
        problems.append(PageProblem.LAYOUT)
    if not _is_picture(page, picture):
        problems.append(PageProblem.QR_CODE)
    return problems


def _cid_widths(array: Any) -> dict[int, int]:
    """A CIDFont's /W array as {code: width} (``c [w1 w2 ...]`` and ``c1 c2 w``)."""
    widths: dict[int, int] = {}
    items = list(array)
    index = 0
    while index < len(items):
        first = int(items[index])
        following = items[index + 1]
        if isinstance(following, list):
            for offset, width in enumerate(following):
                widths[first + offset] = int(width)
            index += 2
        else:
            last, width = int(following), int(items[index + 2])
            if last - first > 0xFFFF:
                raise ValueError("a /W range no certificate font has")
            for code in range(first, last + 1):
                widths[code] = width
            index += 3
    return widths


def _is_picture(page: Any, picture: Picture) -> bool:
    """The page's one image is exactly the writer's image of ``picture``."""
    image = next(iter(page["/Resources"]["/XObject"].values())).get_object()
    rows = image_rows(picture)
    pixels = picture.width * 8
    entries = (
        image.get("/Width") == pixels
        and image.get("/Height") == pixels
        and image.get("/BitsPerComponent") == 1
        and image.get("/ColorSpace") == "/DeviceGray"
        and [int(v) for v in image.get("/Decode", [])] == [1, 0]
        and "/SMask" not in image
        and "/Mask" not in image
    )
    return entries and bounded_data(image, len(rows)) == rows


def _drawn_like(reader: Any, signed: SignedCertificate) -> list[PageProblem]:
    """Pages of fpdf2's structure (faces with PostScript outlines): the rules."""
    fields = tuple(_fields(signed.data))
    layout = _Layout({})  # only the lines' heights and sizes are compared
    lines = [
        op
        for op in (*layout.shared(fields), *layout.own(fields))
        if isinstance(op, Text)
    ]
    try:
        url = verification_url(signed)
        return drawing_problems(reader, lines, url, _QR_PLACEMENT)
    except _unreadable():
        return [PageProblem.FOREIGN_DRAWING]


def _glyph_check(reader: Any, face: CjkFont | None) -> GlyphCheck:
    """The page's glyphs against ``face``, the face it is drawn in, if here."""
    if face is None:
        return GlyphCheck.UNCHECKED
    return check_glyphs(reader.pages[0], face)


def _unreadable() -> tuple[type[Exception], ...]:
    """What pypdf raises on a file it cannot read (pypdf loads only when used)."""
    from pypdf.errors import PyPdfError

    return (PyPdfError, ValueError, KeyError, TypeError, OSError, IndexError,
            RecursionError)  # fmt: skip


def _guarded(check: Callable[[], bool]) -> bool:
    """``check()``, counting a page pypdf cannot read as not the issuer's."""
    try:
        return check()
    except _unreadable():
        return True


class VerificationStatus(StrEnum):
    """The outcome of verifying a certificate PDF offline."""

    VALID = "valid"
    TAMPERED = "tampered"
    UNKNOWN_KEY = "unknown_key"
    REVOKED = "revoked"
    NOT_A_CERTIFICATE = "not_a_certificate"


class RevocationCheck(StrEnum):
    """Whether a certificate was looked up in a status list."""

    CHECKED = "checked"  # in a list issued on or after its issue date
    NO_LIST = "no_list"  # no list given
    # The list was issued before the certificate: it cannot list it, so its
    # silence says nothing of whether the certificate was revoked.
    LIST_PREDATES = "list_predates_certificate"


class VerificationResult(Model):
    """What :func:`verify_pdf` found, with a Chinese message for the person asking.

    ``data`` is set only when the signature verified (valid or revoked), so a
    caller never shows data it cannot vouch for.
    """

    status: VerificationStatus
    message: str
    number: str | None = None
    key_id: str | None = None
    # Set only when the file's key is not trusted (unknown, or revoked by the
    # list whatever key signed it): the signature the file carries, unchecked,
    # for a verifier holding the issuer's records to compare with its own.
    signature: str | None = None
    data: CertificateData | None = None
    revoked_on: date | None = None
    revocation_reason: str | None = None
    # Whether the page's glyphs were compared with the face it is drawn in
    # (that face is needed here, at the same release, to compare them).
    glyphs_checked: bool = False
    # Tampered although the signature verifies: the page does not show the
    # signed data (edited, redrawn, or a genuine attachment in another PDF).
    page_altered: bool = False
    # Tampered although the signature verifies and the page is as issued: the
    # file holds what the writers never write (scripts, links, more files).
    content_added: bool = False
    # Tampered although the signature verifies: the document properties a
    # viewer shows (title, subject, author) say other than the signed data.
    properties_altered: bool = False
    # Set with ``data``: whether revocation was checked against the list given.
    revocation: RevocationCheck = RevocationCheck.NO_LIST

    @property
    def ok(self) -> bool:
        """Whether the certificate is genuine and not revoked."""
        return self.status is VerificationStatus.VALID


def _revoked_unconfirmed(
    signed: SignedCertificate, listed: RevocationEntry
) -> VerificationResult:
    """A file whose key is not trusted, of a number the list revokes: revoked,
    its data unvouched for (``data`` stays None), its reason shown as any
    list's is (withheld if it names the holder the file names)."""
    data = signed.data
    shown = public_reason(listed.reason, data.candidate_name, (data.id_number,))
    return VerificationResult(
        revocation=RevocationCheck.CHECKED,
        status=VerificationStatus.REVOKED,
        message=t(
            "certificates.verify.revoked",
            number=data.number,
            revoked_on=listed.revoked_on.isoformat(),
            reason=t("certificates.verify.revoked_reason", reason=shown)
            if shown
            else "",
        ),
        number=data.number,
        key_id=signed.key_id,
        signature=signed.signature_b64,
        revoked_on=listed.revoked_on,
        revocation_reason=shown,
    )


def _redrawn(
    signed: SignedCertificate, problems: list[PageProblem]
) -> VerificationResult:
    """The values are on the page, but drawn so that something else shows."""
    return VerificationResult(
        status=VerificationStatus.TAMPERED,
        message=t(
            "certificates.verify.page_redrawn",
            problems=t("certificates.list_separator").join(
                t(f"certificates.page_problem.{p.value}") for p in problems
            ),
        ),
        key_id=signed.key_id,
        page_altered=True,
    )


class StatusListError(ValueError):
    """A signed status list that does not verify was handed to the verifier.

    ``verdict`` says why: ``UNKNOWN_KEY`` when the list names a key the ring
    lacks (``key_id``, say a newer key than the verifier has), else ``TAMPERED``.
    """

    def __init__(self, message: str, verdict: Verdict, key_id: str) -> None:
        super().__init__(message)
        self.verdict = verdict
        self.key_id = key_id


def verify_pdf(
    pdf: bytes,
    keyring: KeyRing,
    status_list: StatusList | SignedStatusList | None = None,
) -> VerificationResult:
    """Verify a certificate PDF offline: signature, key, then revocation.

    ``status_list`` is the latest revocation list; a :class:`SignedStatusList`
    is checked against ``keyring`` first (a bad one raises
    :class:`StatusListError` rather than silently treating nothing as revoked).
    A list issued before the certificate is not consulted: the result says so
    (``revocation``), and is valid only as far as the signature and the page go.
    """
    if isinstance(status_list, SignedStatusList):
        verdict = verify_status_list(status_list, keyring)
        if verdict is not Verdict.VALID:
            raise StatusListError(
                f"The status list's signature does not verify ({verdict.value}).",
                verdict,
                status_list.key_id,
            )
        status_list = status_list.status_list

    try:
        reader = _reader(pdf)
        signed = _signed_of(reader)
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
    if verdict is Verdict.VALID:
        # The signed data is genuine; the page must show it and nothing else
        # (an edited or redrawn page, or a genuine attachment moved into
        # another PDF). The bounded structural check runs before any text is
        # laid out.
        if _guarded(lambda: foreign_drawing(reader, _QR_PLACEMENT)):
            return _redrawn(signed, [PageProblem.FOREIGN_DRAWING])
        # Scripts, links, more files: the catalog holds only what we write.
        if _guarded(lambda: foreign_content(reader, ATTACHMENT_NAME)):
            return VerificationResult(
                status=VerificationStatus.TAMPERED,
                message=t("certificates.verify.content_added"),
                key_id=signed.key_id,
                content_added=True,
            )
        # The title and subject every viewer shows: the signed number.
        if _guarded(
            lambda: altered_properties(
                reader,
                title=document_title(data),
                number=data.number,
                organisation=data.organisation,
            )
        ):
            return VerificationResult(
                status=VerificationStatus.TAMPERED,
                message=t("certificates.verify.properties_altered"),
                key_id=signed.key_id,
                properties_altered=True,
            )
        if differing := _mismatches(reader, data):
            return VerificationResult(
                status=VerificationStatus.TAMPERED,
                message=t(
                    "certificates.verify.page_mismatch",
                    fields=t("certificates.list_separator").join(differing),
                ),
                key_id=signed.key_id,
                page_altered=True,
            )
        problems, face = _drawn_in_face(reader, signed)
        if problems:
            return _redrawn(signed, problems)
        glyphs = _glyph_check(reader, face)
        if glyphs is GlyphCheck.ALTERED:
            return _redrawn(signed, [PageProblem.GLYPHS])
    if verdict is Verdict.UNKNOWN_KEY:
        listed = status_list.find(data.number) if status_list is not None else None
        if listed is not None:
            # The key is not trusted, the list is: whoever signed this file,
            # its number is revoked. (It read "cannot confirm" offline.)
            return _revoked_unconfirmed(signed, listed)
        return VerificationResult(
            status=VerificationStatus.UNKNOWN_KEY,
            message=t("certificates.verify.unknown_key", key_id=signed.key_id),
            number=data.number,
            key_id=signed.key_id,
            signature=signed.signature_b64,
        )
    if verdict is Verdict.TAMPERED:
        return VerificationResult(
            status=VerificationStatus.TAMPERED,
            message=t("certificates.verify.tampered"),
            key_id=signed.key_id,
        )

    checked, revocation = RevocationCheck.NO_LIST, None
    if status_list is not None and status_list.covers(data.issued_on):
        checked, revocation = RevocationCheck.CHECKED, status_list.find(data.number)
    elif status_list is not None:
        checked = RevocationCheck.LIST_PREDATES
    if revocation is not None:
        # A list signed before reasons were withheld may still name the holder.
        shown = public_reason(revocation.reason, data.candidate_name, (data.id_number,))
        reason = t("certificates.verify.revoked_reason", reason=shown) if shown else ""
        return VerificationResult(
            glyphs_checked=glyphs is GlyphCheck.SAME,
            revocation=checked,
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
            revocation_reason=shown,
        )
    return VerificationResult(
        glyphs_checked=glyphs is GlyphCheck.SAME,
        revocation=checked,
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
