"""A genuine certificate with active content or extra files added is not as issued.

From a security trial: an incremental update adding document JavaScript, a
second attached file, outlines opening a link, or a portfolio view to a freshly
issued certificate left its signature and page untouched, and it verified as
valid. The writers write none of these; the file's structure is compared with
what they do write (an allow-list), so each of them, and anything else, is
refused.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from certificate_samples import (
    add_document_javascript,
    incrementally,
    javascript,
    make_data,
)
from pypdf import PdfWriter
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    NameObject,
    TextStringObject,
)

from certflow.certificates import (
    FONT_ENV,
    KeyRing,
    SignedCertificate,
    SigningKey,
    VerificationStatus,
    render_pdf,
    sign,
    verify_pdf,
)
from certflow.certificates.pagecheck import PageProblem
from certflow.certificates.pdf import page_problems
from certflow.i18n import t
from tests.certificates.certificate_samples import INSTALLED_FONTS

Update = Callable[[PdfWriter], None]


def _name(value: str) -> NameObject:
    return NameObject(value)


def second_attached_file(writer: PdfWriter) -> None:
    writer.add_attachment("invoice.exe", b"MZ\x90\x00\x03\x00\x00\x00")


def outlines_opening_a_link(writer: PdfWriter) -> None:
    writer.add_outline_item(title="点此在线核验", page_number=0)
    item = writer._root_object["/Outlines"]["/First"].get_object()
    item[_name("/A")] = DictionaryObject({
        _name("/S"): _name("/URI"),
        _name("/URI"): TextStringObject("https://zhengshu.example.net/verify"),
    })  # fmt: skip
    writer._root_object[_name("/PageMode")] = _name("/UseOutlines")


def portfolio(writer: PdfWriter) -> None:
    # A collection shows an attached file first: here, another PDF.
    writer.add_attachment("certificate.pdf", b"%PDF-1.7\n%%EOF\n")
    writer._root_object[_name("/Collection")] = DictionaryObject({
        _name("/Type"): _name("/Collection"),
        _name("/D"): TextStringObject("certificate.pdf"),
        _name("/View"): _name("/D"),
    })  # fmt: skip


def opening_script(writer: PdfWriter) -> None:
    writer._root_object[_name("/OpenAction")] = javascript("app.alert(1)")


def form_fields(writer: PdfWriter) -> None:
    writer._root_object[_name("/AcroForm")] = DictionaryObject(
        {_name("/Fields"): ArrayObject()}
    )


def actions_on_closing(writer: PdfWriter) -> None:
    writer._root_object[_name("/AA")] = DictionaryObject(
        {_name("/WC"): javascript("app.launchURL('https://example.net')")}
    )


ADDITIONS = [
    pytest.param(add_document_javascript, id="document-javascript"),
    pytest.param(second_attached_file, id="second-file"),
    pytest.param(outlines_opening_a_link, id="outlines-uri"),
    pytest.param(portfolio, id="collection"),
    pytest.param(opening_script, id="open-action-script"),
    pytest.param(form_fields, id="acroform"),
    pytest.param(actions_on_closing, id="additional-actions"),
]


@pytest.fixture
def genuine(signing_key: SigningKey) -> SignedCertificate:
    return sign(make_data(name="黎芬"), signing_key.private_key)


def test_an_incremental_update_of_the_document_information_stays_valid(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    """The forgers' tool alone: the checks below fail for what it adds."""

    def retitle(writer: PdfWriter) -> None:
        writer.add_metadata({"/Keywords": "职业技能等级证书"})

    pdf = incrementally(render_pdf(genuine), retitle)
    assert verify_pdf(pdf, keyring).status is VerificationStatus.VALID


@pytest.mark.parametrize("add", ADDITIONS)
def test_content_the_writer_never_writes_is_not_as_issued(
    add: Update, genuine: SignedCertificate, keyring: KeyRing
) -> None:
    pdf = incrementally(render_pdf(genuine), add)

    result = verify_pdf(pdf, keyring)

    assert result.status is VerificationStatus.TAMPERED
    assert result.content_added and not result.page_altered
    assert result.data is None
    assert result.message == t("certificates.verify.content_added")
    assert page_problems(pdf, genuine) == [PageProblem.FOREIGN_CONTENT]


@pytest.mark.parametrize("font_path", INSTALLED_FONTS, ids=lambda p: p.name)
@pytest.mark.parametrize(
    "add", [pytest.param(second_attached_file, id="second-file"), ADDITIONS[0]]
)
def test_either_writers_certificate_with_content_added_is_refused(
    font_path: Path,
    add: Update,
    genuine: SignedCertificate,
    keyring: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """fpdf2's pages (faces with PostScript outlines) open at their page: that
    view is allowed, nothing else beyond it."""
    pdf = render_pdf(genuine, font_path=font_path)
    monkeypatch.setenv(FONT_ENV, str(font_path))
    assert verify_pdf(pdf, keyring).status is VerificationStatus.VALID

    result = verify_pdf(incrementally(pdf, add), keyring)

    assert result.status is VerificationStatus.TAMPERED and result.content_added


def _properties(**changed: str) -> Update:
    def update(writer: PdfWriter) -> None:
        writer.add_metadata({f"/{key}": value for key, value in changed.items()})

    return update


# Trial: a genuine certificate retitled with another number verified as valid,
# while every PDF viewer showed that number as the certificate's.
OTHER = "ZCX2027QCYY2000009"
RETITLED = {
    "title-and-subject": _properties(Title=f"汽车运用与维修 {OTHER}", Subject=OTHER),
    "subject": _properties(Subject=OTHER),
    "title": _properties(Title=f"汽车运用与维修 {OTHER}"),
    "author": _properties(Author="另一家评价组织"),
    # Review: a title that only ended in the number passed, another shown first.
    "title-ending-in-the-number": _properties(
        Title=f"汽车运用与维修 {OTHER}" + " " * 120 + " ZCX2026QCYY2000001"
    ),
    "another-occupation": _properties(Title="高级技师 焊工 ZCX2026QCYY2000001"),
}


@pytest.mark.parametrize("font_path", INSTALLED_FONTS, ids=lambda p: p.name)
@pytest.mark.parametrize("change", RETITLED.values(), ids=RETITLED.keys())
def test_properties_naming_another_certificate_are_not_as_issued(
    font_path: Path,
    change: Update,
    genuine: SignedCertificate,
    keyring: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pdf = render_pdf(genuine, font_path=font_path)
    monkeypatch.setenv(FONT_ENV, str(font_path))
    assert verify_pdf(pdf, keyring).status is VerificationStatus.VALID

    result = verify_pdf(incrementally(pdf, change), keyring)

    assert result.status is VerificationStatus.TAMPERED
    assert result.properties_altered and not result.page_altered
    assert result.message == t("certificates.verify.properties_altered")


def test_properties_emptied_say_nothing_false_and_stay_valid(
    genuine: SignedCertificate, keyring: KeyRing
) -> None:
    emptied = _properties(Title="", Subject="", Author="")

    result = verify_pdf(incrementally(render_pdf(genuine), emptied), keyring)

    assert result.status is VerificationStatus.VALID
