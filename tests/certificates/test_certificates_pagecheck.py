"""A page that shows other data than its signed attachment is tampered.

Each forgery keeps the genuine signed attachment and every signed value in the
page's text, so reading the text back finds nothing wrong; only how the page is
drawn gives it away. The forger's tool is the issuer's own writer (so the first
test checks that the tool alone passes) plus edits of the content stream.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from io import BytesIO
from typing import Any

import pytest
from certificate_samples import make_data, with_glyphs_swapped
from fontTools.ttLib import TTFont
from pypdf import PdfReader, PdfWriter
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    FloatObject,
    NameObject,
    StreamObject,
    TextStringObject,
)

from certflow.certificates import (
    ATTACHMENT_NAME,
    KeyRing,
    SignedCertificate,
    SigningKey,
    VerificationStatus,
    load_font,
    qr,
    render_pdf,
    sign,
    verification_url,
    verify_pdf,
)
from certflow.certificates.pagecheck import PageProblem
from certflow.certificates.pdf import (
    _QR_SIDE,
    _QR_X,
    _QR_Y,
    _fields,
    _Layout,
    page_problems,
    payload_bytes,
)
from certflow.certificates.pdfwriter import (
    Attachment,
    Info,
    Op,
    Picture,
    Template,
    Text,
)
from certflow.timeutil import CST

Edit = Callable[[list[Op]], list[Op]]


def _drawn(signed: SignedCertificate, edit: Edit, url: str | None = None) -> bytes:
    """The certificate of ``signed`` drawn by the writer with its lines edited."""
    font = load_font(None)
    layout = _Layout(font.widths())
    fields = tuple(_fields(signed.data))
    ops = edit([*layout.shared(fields), *layout.own(fields)])
    symbol = qr.encode(url or verification_url(signed))
    moment = datetime(2026, 12, 4, 9, tzinfo=CST)
    return Template(font, ()).render(
        ops,
        Info(title="", author="", subject="", created=moment),
        bytes(16),
        picture=Picture(_QR_X, _QR_Y, _QR_SIDE, symbol.width, symbol.modules),
        attachment=Attachment(
            ATTACHMENT_NAME, payload_bytes(signed), "application/json", "", moment
        ),
    )


def _name_line(ops: list[Op], name: str) -> Text:
    return next(op for op in ops if isinstance(op, Text) and op.text == name)


def _replace(ops: list[Op], old: Op, *new: Op) -> list[Op]:
    at = ops.index(old)
    return [*ops[:at], *new, *ops[at + 1 :]]


def _with_content(pdf: bytes, edit: Callable[[bytes], bytes]) -> bytes:
    """``pdf`` with its page's content stream edited, saved by pypdf."""
    writer = PdfWriter(clone_from=PdfReader(BytesIO(pdf)))
    page = writer.pages[0]
    contents = page.get_contents()
    assert contents is not None
    contents.set_data(edit(contents.get_data()))
    page.replace_contents(contents)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.fixture
def genuine(signing_key: SigningKey) -> SignedCertificate:
    return sign(make_data(name="黎芬"), signing_key.private_key)


def _verdict(pdf: bytes, keyring: KeyRing) -> VerificationStatus:
    return verify_pdf(pdf, keyring).status


def test_the_forgers_tools_alone_leave_a_valid_certificate(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    """The checks below fail for the forgery, not for the tools."""
    drawn = _drawn(genuine, lambda ops: ops)
    assert _verdict(drawn, keyring) is VerificationStatus.VALID
    rewritten = _with_content(render_pdf(genuine), lambda data: data)
    assert _verdict(rewritten, keyring) is VerificationStatus.VALID
    assert page_problems(rewritten, genuine) == []


@pytest.mark.parametrize(
    "hide",
    [
        pytest.param(
            lambda t: Text(t.x, t.y, t.size, t.text, (255, 255, 255)), id="white"
        ),
        pytest.param(lambda t: Text(t.x, t.y, 1, t.text, t.colour), id="tiny"),
        pytest.param(
            lambda t: Text(-300, t.y, t.size, t.text, t.colour), id="off-page"
        ),
        pytest.param(lambda t: Text(30, 250, t.size, t.text, t.colour), id="under-qr"),
    ],
)
def test_a_hidden_genuine_name_beside_a_visible_forged_one_is_tampered(
    hide: Callable[[Text], Text], genuine: SignedCertificate, keyring: KeyRing
) -> None:
    def forge(ops: list[Op]) -> list[Op]:
        name = _name_line(ops, "黎芬")
        forged = Text(name.x, name.y, name.size, "黎芳", name.colour)
        return _replace(ops, name, hide(name), forged)

    pdf = _drawn(genuine, forge)
    result = verify_pdf(pdf, keyring)
    assert result.status is VerificationStatus.TAMPERED
    assert result.data is None
    assert "页面" in result.message and "位置、间距、大小、颜色或内容" in result.message
    assert page_problems(pdf, genuine) == [PageProblem.LAYOUT]


def test_a_name_drawn_in_invisible_render_mode_is_tampered(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    # Render mode 3 draws nothing; the text still reads back.
    pdf = _with_content(
        render_pdf(genuine), lambda data: data.replace(b"BT ", b"BT 3 Tr ", 1)
    )
    result = verify_pdf(pdf, keyring)
    assert result.status is VerificationStatus.TAMPERED
    assert "不会绘制的内容" in result.message


@pytest.mark.parametrize(
    "cover",
    [
        pytest.param(b"1 1 1 rg 200 560 120 20 re f\n", id="white-box"),
        pytest.param(b"1 1 1 RG 20 w 200 570 m 330 570 l S\n", id="wide-white-stroke"),
        pytest.param(b"q 200 560 120 20 re W n Q\n", id="clip"),
    ],
)
def test_painting_over_the_page_is_tampered(
    cover: bytes, genuine: SignedCertificate, keyring: KeyRing
) -> None:
    edited = _with_content(render_pdf(genuine), lambda data: data + cover)
    _assert_tampered(edited, keyring, "不会绘制的内容")


def _assert_tampered(pdf: bytes, keyring: KeyRing, saying: str) -> None:
    result = verify_pdf(pdf, keyring)
    assert result.status is VerificationStatus.TAMPERED
    assert result.data is None
    assert saying in result.message, result.message


def test_extra_text_on_the_page_is_tampered(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    def add(ops: list[Op]) -> list[Op]:
        return [*ops, Text(72, 200, 13, "优秀", (30, 30, 30))]

    result = verify_pdf(_drawn(genuine, add), keyring)
    assert result.status is VerificationStatus.TAMPERED
    assert "位置、间距、大小、颜色或内容" in result.message


def test_another_qr_code_is_tampered(
    genuine: SignedCertificate, signing_key: SigningKey, keyring: KeyRing
) -> None:
    other = sign(make_data(name="黎芳", seq=2), signing_key.private_key)
    pdf = _drawn(genuine, lambda ops: ops, url=verification_url(other))
    result = verify_pdf(pdf, keyring)
    assert result.status is VerificationStatus.TAMPERED
    assert "二维码" in result.message
    assert page_problems(pdf, genuine) == [PageProblem.QR_CODE]


def test_a_link_annotation_on_the_page_is_tampered(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    writer = PdfWriter(clone_from=PdfReader(BytesIO(render_pdf(genuine))))
    link = DictionaryObject({
        NameObject("/Type"): NameObject("/Annot"),
        NameObject("/Subtype"): NameObject("/Link"),
        NameObject("/Rect"): ArrayObject([FloatObject(v) for v in (60, 90, 170, 200)]),
        NameObject("/A"): DictionaryObject({
            NameObject("/S"): NameObject("/URI"),
            NameObject("/URI"): TextStringObject("https://forged.example"),
        }),
    })  # fmt: skip
    writer.add_annotation(0, link)
    out = BytesIO()
    writer.write(out)
    result = verify_pdf(out.getvalue(), keyring)
    assert result.status is VerificationStatus.TAMPERED
    assert "批注" in result.message


def test_a_page_built_to_make_reading_slow_is_refused_before_it_is_read(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    """Regression: a 2 KiB file drawing one form thousands of times held a
    verification (and a web worker thread) for seconds, while the page's text
    was laid out before the page was checked."""
    writer = PdfWriter(clone_from=PdfReader(BytesIO(render_pdf(genuine))))
    form = StreamObject()
    form.set_data(b"BT /F1 12 Tf 1 0 0 1 100 100 Tm <0003> Tj ET\n" * 5000)
    form.update({
        NameObject("/Type"): NameObject("/XObject"),
        NameObject("/Subtype"): NameObject("/Form"),
        NameObject("/BBox"): ArrayObject([FloatObject(v) for v in (0, 0, 595, 842)]),
        NameObject("/Resources"): writer.pages[0]["/Resources"],
    })  # fmt: skip
    page = writer.pages[0]
    page["/Resources"]["/XObject"][NameObject("/X0")] = writer._add_object(form)
    contents = page.get_contents()
    assert contents is not None
    contents.set_data(contents.get_data() + b"/X0 Do\n" * 2000)
    page.replace_contents(contents)
    out = BytesIO()
    writer.write(out)

    result = verify_pdf(out.getvalue(), keyring)

    # Refused on its structure: had its text been laid out first (2,000 x
    # 5,000 text shows), the answer would name the rows it does not show.
    assert result.status is VerificationStatus.TAMPERED
    assert "不会绘制的内容" in result.message
    assert "姓名" not in result.message


def test_a_genuine_page_has_its_glyphs_checked_against_the_font(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    result = verify_pdf(render_pdf(genuine), keyring)
    assert result.status is VerificationStatus.VALID and result.glyphs_checked


def test_glyphs_redrawn_to_show_other_characters_are_tampered(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    """The level reads 中级 but shows 高级: the outlines of 中 and 高 were
    swapped in the embedded font, the text and its map left alone."""
    forged = with_glyphs_swapped(render_pdf(genuine), "中", "高")
    assert page_problems(forged, genuine) == []  # the drawing itself is the issuer's

    result = verify_pdf(forged, keyring)

    assert result.status is VerificationStatus.TAMPERED
    assert "字形" in result.message


# -- from a later trial: forgeries the drawing rules let through ---------------------


def _font_object(writer: PdfWriter) -> Any:
    return writer.pages[0]["/Resources"]["/Font"]["/F1"].get_object()


def _saved(writer: PdfWriter) -> bytes:
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    "edit",
    [
        # Characters of a line spread apart, off the page or over each other.
        pytest.param(
            lambda d: d.replace(b" Tj ET", b" Tj 0 Tc ET", 1).replace(
                b"rg 1 0 0 1", b"rg 900 Tc 1 0 0 1", 1
            ),
            id="spacing",
        ),
        pytest.param(lambda d: d.replace(b"Tm <", b"Tm 0 0 Td <", 1), id="extra-move"),
        pytest.param(
            lambda d: d.replace(b"BT /F1 13 Tf", b"BT /F1 12.5 Tf", 1), id="smaller"
        ),
    ],
)
def test_any_change_of_how_a_line_is_drawn_is_tampered(
    edit: Callable[[bytes], bytes], genuine: SignedCertificate, keyring: KeyRing
) -> None:
    edited = _with_content(render_pdf(genuine), edit)
    _assert_tampered(edited, keyring, "位置、间距、大小、颜色或内容")


def test_a_page_re_saved_with_its_content_reformatted_stays_valid(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    """PDF tools rewrite content streams (spacing, line breaks): same drawing."""
    reformatted = _with_content(
        render_pdf(genuine), lambda d: d.replace(b" ", b"  ").replace(b"\n", b"\r\n")
    )
    assert verify_pdf(reformatted, keyring).status is VerificationStatus.VALID


def test_a_media_box_cutting_the_page_is_tampered(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    writer = PdfWriter(clone_from=PdfReader(BytesIO(render_pdf(genuine))))
    writer.pages[0][NameObject("/MediaBox")] = ArrayObject(
        [FloatObject(v) for v in (0, 0, 595.28, 560)]
    )
    _assert_tampered(_saved(writer), keyring, "不会绘制的内容")


def test_a_qr_code_changed_off_its_module_centres_is_tampered(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    """Each module is 8 x 8 image pixels: a second code painted around the
    centres still scans as another link."""
    writer = PdfWriter(clone_from=PdfReader(BytesIO(render_pdf(genuine))))
    image = next(iter(writer.pages[0]["/Resources"]["/XObject"].values())).get_object()
    rows = bytearray(image.get_data())
    rows[0] ^= 0x80  # the first pixel of the first row: a corner, not a centre
    image.set_data(bytes(rows))
    _assert_tampered(_saved(writer), keyring, "二维码")


def test_a_changed_font_revision_does_not_switch_the_glyph_check_off(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    swapped = with_glyphs_swapped(render_pdf(genuine), "中", "高")
    writer = PdfWriter(clone_from=PdfReader(BytesIO(swapped)))
    descriptor = _font_object(writer)["/DescendantFonts"][0]["/FontDescriptor"]
    program = descriptor["/FontFile2"].get_object()
    face = TTFont(BytesIO(program.get_data()))
    face["head"].fontRevision += 0.001
    out = BytesIO()
    face.save(out)
    program.set_data(out.getvalue())

    result = verify_pdf(_saved(writer), keyring)

    assert result.status is VerificationStatus.TAMPERED
    assert "字形" in result.message


@pytest.mark.parametrize("stream", ["content", "to_unicode"])
def test_a_small_file_inflating_past_a_certificates_size_is_refused_unread(
    stream: str, genuine: SignedCertificate, keyring: KeyRing
) -> None:
    """Regression: a 140 KB text map of 4M entries took 6 s and 1.4 GB, a
    226 KB content stream inflated to 200 MB, before any check."""
    writer = PdfWriter(clone_from=PdfReader(BytesIO(render_pdf(genuine))))
    if stream == "content":
        target = writer.pages[0]["/Contents"].get_object()
        filler = target.get_data() + b" " * (300 * 1024)
    else:
        target = _font_object(writer)["/ToUnicode"].get_object()
        filler = b"1 beginbfchar\n" + b"<0001> <0020>\n" * 30_000 + b"endbfchar\n"
    target.set_data(filler)

    result = verify_pdf(_saved(writer), keyring)

    assert result.status is VerificationStatus.TAMPERED
    assert "不会绘制的内容" in result.message
