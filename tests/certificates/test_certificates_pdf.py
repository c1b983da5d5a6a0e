"""The certificate PDF: its text and font, the signed attachment, offline verification.

These tests run the real poppler tools (Debian package poppler-utils) on the
rendered PDF, as a reader on another machine would see it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from certificate_samples import make_data
from fontTools.ttLib import TTFont
from fpdf import FPDF
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from certflow.certificates import (
    ATTACHMENT_NAME,
    FONT_ENV,
    PRINTED_PLAN_FIELDS,
    CertificateData,
    FontNotFoundError,
    KeyRing,
    NotACertificateError,
    RevocationCheck,
    RevocationEntry,
    SigningKey,
    StatusList,
    StatusListError,
    UnsupportedCharactersError,
    Verdict,
    VerificationStatus,
    check_scanned_record,
    extract_signed,
    generate_keypair,
    load_font,
    render_pdf,
    sign,
    sign_status_list,
    unprintable,
    unsupported_characters,
    verification_url,
    verify_pdf,
)
from certflow.certificates import fonts as font_module
from certflow.certificates.pdf import page_mismatches, payload_bytes
from certflow.models import PlanInfo
from certflow.timeutil import CST
from tests.certificates.certificate_samples import INSTALLED_FONTS

NAMES = ["买买提·艾力", "黎芬"]


def _run(*args: str | Path) -> str:
    return subprocess.run(
        [str(a) for a in args], check=True, capture_output=True, text=True
    ).stdout


def _text_of(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    return _run("pdftotext", "-enc", "UTF-8", path, "-")


@pytest.fixture
def signed_pdf(signing_key: SigningKey) -> bytes:
    return render_pdf(sign(make_data(), signing_key.private_key))


@pytest.mark.parametrize("name", NAMES)
def test_pdf_text_holds_the_certificate_contents(
    name: str, signing_key: SigningKey, tmp_path: Path
) -> None:
    data = make_data(name=name)
    pdf = render_pdf(sign(data, signing_key.private_key))

    text = _text_of(pdf, tmp_path)
    for expected in (
        "职业技能等级证书",
        name,
        "汽车运用与维修职业技能等级证书",
        "中级",
        data.number,
        "65010219990101123X",
        "居民身份证",
        "1-1 汽车动力与驱动综合分析技术",
        "北京中车行高新技术有限公司",
        "2026年12月04日",
        "本证书信息可在职业技能等级证书信息管理服务平台查询",
    ):
        assert expected in text, expected

    _run("pdftoppm", "-png", "-r", "72", "-singlefile", tmp_path / "certificate.pdf",
         tmp_path / "certificate")  # fmt: skip
    png = tmp_path / "certificate.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000  # a drawn page, not a blank one


def test_pdf_is_one_a4_page(signed_pdf: bytes, tmp_path: Path) -> None:
    path = tmp_path / "c.pdf"
    path.write_bytes(signed_pdf)
    info = _run("pdfinfo", path)
    assert re.search(r"Pages:\s+1\n", info)
    assert re.search(r"Page size:\s+595\.2\d x 841\.8\d pts \(A4\)", info)


def test_the_cjk_font_is_embedded_as_a_subset(
    signed_pdf: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "c.pdf"
    path.write_bytes(signed_pdf)
    rows = _run("pdffonts", path).splitlines()[2:]
    assert rows, "the PDF uses no font"
    for row in rows:
        columns = row.split()
        emb, sub, uni = columns[-5:-2]
        assert (emb, sub, uni) == ("yes", "yes", "yes"), row
        assert "+" in columns[0]  # subset tag before the font name
    # a whole CJK face is megabytes; a subset of one page is tens of kilobytes
    assert len(signed_pdf) < 120_000


def test_rendering_is_deterministic(signing_key: SigningKey) -> None:
    signed = sign(make_data(), signing_key.private_key)
    assert render_pdf(signed) == render_pdf(signed)


def test_qr_url_names_number_and_signature_but_no_personal_data(
    signing_key: SigningKey,
) -> None:
    signed = sign(make_data(), signing_key.private_key)
    url = verification_url(signed)
    assert url == (
        f"https://zhengshu.example.org/verify/{signed.data.number}"
        f"?k={signed.key_id}&sig={signed.signature_b64}"
    )
    assert "65010219990101123X" not in url
    assert "%" not in url  # nothing needed escaping: no name in it


def test_the_embedded_payload_reads_back(signing_key: SigningKey) -> None:
    signed = sign(make_data(name="黎芬"), signing_key.private_key)
    assert extract_signed(render_pdf(signed)) == signed


def test_verify_pdf_accepts_a_genuine_certificate(
    signed_pdf: bytes, keyring: KeyRing
) -> None:
    result = verify_pdf(signed_pdf, keyring)
    assert result.status is VerificationStatus.VALID
    assert result.ok
    assert result.data == make_data()
    assert "证书有效" in result.message and make_data().number in result.message


def test_an_edited_embedded_payload_is_tampered(
    signed_pdf: bytes, keyring: KeyRing
) -> None:
    # Same length, so the PDF's cross-reference table stays valid.
    edited = signed_pdf.replace(b"65010219990101123X", b"65010219990101124X")
    assert edited != signed_pdf
    result = verify_pdf(edited, keyring)
    assert result.status is VerificationStatus.TAMPERED
    assert result.data is None
    assert "篡改" in result.message


def test_an_edited_name_in_the_payload_is_tampered(
    signing_key: SigningKey, keyring: KeyRing
) -> None:
    pdf = render_pdf(sign(make_data(name="黎芬"), signing_key.private_key))
    edited = pdf.replace("黎芬".encode(), "黎芳".encode())
    assert edited != pdf
    assert verify_pdf(edited, keyring).status is VerificationStatus.TAMPERED


def test_a_payload_edited_into_invalid_json_is_tampered(
    signed_pdf: bytes, keyring: KeyRing
) -> None:
    edited = signed_pdf.replace(b'"format":', b'"fxrmat":')
    assert edited != signed_pdf
    assert verify_pdf(edited, keyring).status is VerificationStatus.TAMPERED


def _page_of_other_data(
    signing_key: SigningKey, keyring: KeyRing, **shown: object
) -> str:
    """The verdict's message on the page of a certificate holding ``shown``
    under the genuine signed attachment of 黎芬's; asserted tampered."""
    genuine = sign(make_data(name="黎芬"), signing_key.private_key)
    other = sign(make_data(**{"name": "黎芬", **shown}), signing_key.private_key)
    payload, other_payload = payload_bytes(genuine), payload_bytes(other)
    assert len(payload) == len(other_payload)  # the cross-references stay valid
    forged = render_pdf(other).replace(other_payload, payload)

    result = verify_pdf(forged, keyring)

    assert result.status is VerificationStatus.TAMPERED
    assert result.data is None
    assert "页面" in result.message
    return result.message


def test_a_page_showing_other_data_than_its_signed_payload_is_tampered(
    signing_key: SigningKey, keyring: KeyRing
) -> None:
    """Regression: a page whose printed name was edited, with its genuine
    signed attachment left in place, verified as valid."""
    message = _page_of_other_data(signing_key, keyring, name="黎芳")

    assert "姓名" in message
    assert "证件号码" not in message  # only the rows that differ


def test_a_page_showing_another_id_number_than_its_payload_is_tampered(
    signing_key: SigningKey, keyring: KeyRing
) -> None:
    """Audit by mutation: the comparison of the page's text with the signed
    data could skip the ID number's row and pass every test, which edited
    the name only (the drawing check still said tampered, naming no row).
    A page showing another ID number is tampered, naming that row alone."""
    message = _page_of_other_data(signing_key, keyring, id_number="650102199901011248")

    assert "证件号码" in message and "姓名" not in message


def test_a_genuine_attachment_moved_into_another_pdf_is_tampered(
    signing_key: SigningKey, keyring: KeyRing
) -> None:
    signed = sign(make_data(name="黎芬"), signing_key.private_key)
    plain = FPDF()
    plain.add_page()
    plain.set_font("helvetica", size=12)
    plain.cell(text="Hello certificate")
    plain.embed_file(bytes=payload_bytes(signed), basename=ATTACHMENT_NAME)

    result = verify_pdf(bytes(plain.output()), keyring)

    assert result.status is VerificationStatus.TAMPERED
    assert result.data is None
    assert "页面" in result.message and "不会绘制的内容" in result.message


@pytest.mark.parametrize("font_path", INSTALLED_FONTS, ids=lambda p: p.name)
def test_every_renderers_page_shows_its_signed_data(
    font_path: Path,
    signing_key: SigningKey,
    keyring: KeyRing,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    signed = sign(make_data(name="黎芬"), signing_key.private_key)
    pdf = render_pdf(signed, font_path=font_path)
    assert page_mismatches(pdf, signed.data) == []
    # Verified where this face is the configured certificate font.
    monkeypatch.setenv(FONT_ENV, str(font_path))
    result = verify_pdf(pdf, keyring)
    assert result.status is VerificationStatus.VALID
    # Glyphs are compared for both writers' pages: TrueType and CFF outlines.
    assert result.glyphs_checked


def test_a_certificate_from_an_unknown_key_says_so(signed_pdf: bytes) -> None:
    other_ring = KeyRing.from_public_keys([generate_keypair()[1]])
    result = verify_pdf(signed_pdf, other_ring)
    assert result.status is VerificationStatus.UNKNOWN_KEY
    assert result.key_id is not None and result.key_id in result.message


def test_a_revoked_certificate_verifies_as_revoked_with_its_date(
    signed_pdf: bytes, signing_key: SigningKey, keyring: KeyRing
) -> None:
    number = make_data().number
    status = StatusList(
        issued_at=datetime(2026, 12, 20, 9, 0, tzinfo=CST),
        entries=[
            RevocationEntry(
                number=number, revoked_on=date(2026, 12, 18), reason="成绩更正"
            )
        ],
    )
    result = verify_pdf(signed_pdf, keyring, status)
    assert result.status is VerificationStatus.REVOKED
    assert result.revoked_on == date(2026, 12, 18)
    assert "2026-12-18" in result.message and "成绩更正" in result.message

    signed_list = sign_status_list(status, signing_key.private_key)
    assert (
        verify_pdf(signed_pdf, keyring, signed_list).status
        is VerificationStatus.REVOKED
    )

    other = StatusList(issued_at=status.issued_at, entries=[
        RevocationEntry(number="ZCX2026QCYY2000999", revoked_on=date(2026, 12, 18))
    ])  # fmt: skip
    assert verify_pdf(signed_pdf, keyring, other).status is VerificationStatus.VALID


def test_a_list_issued_before_the_certificate_is_not_consulted(
    signed_pdf: bytes, keyring: KeyRing
) -> None:
    """A list from before the issue date cannot list the certificate; its
    silence is not "not revoked" (the sample was issued 2026-12-04)."""
    number = make_data().number
    earlier = StatusList(issued_at=datetime(2026, 12, 3, 23, 59, tzinfo=CST))
    # Even one naming the number (a number can only be listed once issued).
    naming = StatusList(
        issued_at=earlier.issued_at,
        entries=[RevocationEntry(number=number, revoked_on=date(2026, 12, 3))],
    )
    on_the_day = StatusList(issued_at=datetime(2026, 12, 4, 0, 1, tzinfo=CST))

    for stale in (earlier, naming):
        result = verify_pdf(signed_pdf, keyring, stale)
        assert result.status is VerificationStatus.VALID
        assert result.revocation is RevocationCheck.LIST_PREDATES
    current = verify_pdf(signed_pdf, keyring, on_the_day)
    assert current.revocation is RevocationCheck.CHECKED
    assert verify_pdf(signed_pdf, keyring).revocation is RevocationCheck.NO_LIST


def test_a_forged_status_list_is_refused(
    signed_pdf: bytes, signing_key: SigningKey, keyring: KeyRing
) -> None:
    signed_list = sign_status_list(
        StatusList(issued_at=datetime(2026, 12, 20, tzinfo=CST)),
        signing_key.private_key,
    )
    forged = signed_list.model_copy(
        update={"status_list": StatusList(issued_at=datetime(2026, 12, 21, tzinfo=CST))}
    )
    with pytest.raises(StatusListError):
        verify_pdf(signed_pdf, keyring, forged)


def test_other_pdfs_and_other_files_are_not_certificates(
    keyring: KeyRing, tmp_path: Path
) -> None:
    plain = FPDF()
    plain.add_page()
    plain.set_font("helvetica", size=12)
    plain.cell(text="an invoice")
    for data in (bytes(plain.output()), b"not a pdf at all", b""):
        result = verify_pdf(data, keyring)
        assert result.status is VerificationStatus.NOT_A_CERTIFICATE
        assert "不是本机构签发的电子证书" in result.message
        with pytest.raises(NotACertificateError):
            extract_signed(data)


def test_the_attachment_is_listed_by_poppler(signed_pdf: bytes, tmp_path: Path) -> None:
    path = tmp_path / "c.pdf"
    path.write_bytes(signed_pdf)
    assert ATTACHMENT_NAME in _run("pdfdetach", "-list", path)


@pytest.mark.parametrize("font_path", INSTALLED_FONTS, ids=lambda p: p.name)
def test_a_name_outside_the_basic_plane_renders_or_is_reported(
    font_path: Path, signing_key: SigningKey, tmp_path: Path
) -> None:
    name = "𠮷田"
    signed = sign(make_data(name=name), signing_key.private_key)
    missing = unsupported_characters(name, font_path)
    if missing:
        assert missing == ["𠮷"]
        with pytest.raises(UnsupportedCharactersError) as caught:
            render_pdf(signed, font_path=font_path)
        assert caught.value.characters == ["𠮷"]
        assert caught.value.positions == [1]
        # Regression: the message quoted the character (and its code), and
        # issuance logged it with every retry. It says where, not which.
        message = str(caught.value)
        assert "𠮷" not in message and "20BB7" not in message.upper()
        assert "第 1 个字" in message
    else:
        pdf = render_pdf(signed, font_path=font_path)
        assert name in _text_of(pdf, tmp_path)


def test_the_installed_fonts_cover_both_outcomes_of_rare_names() -> None:
    if len(INSTALLED_FONTS) < 2:
        pytest.skip("only one CJK font installed")
    outcomes = {bool(unsupported_characters("𠮷", p)) for p in INSTALLED_FONTS}
    assert outcomes == {True, False}


def test_unprintable_says_which_row_and_where_never_which_character() -> None:
    """Issuance asks this before it numbers a certificate: the candidate's
    own rows held out, the plan's text stopping every certificate."""
    private_use = "\ue000"
    assert unprintable(make_data()) == []

    gaps = unprintable(make_data(name=f"黎{private_use}芬{private_use}"))
    assert [g.model_dump() for g in gaps] == [
        {"row": "candidate_name", "positions": [2, 4], "own": True}
    ]
    module = make_data(module_name=f"汽车{private_use}")
    assert [(g.row, g.own) for g in unprintable(module)] == [("module", False)]
    assert private_use not in repr(gaps)


def test_the_plan_fields_plan_start_checks_are_those_the_page_prints() -> None:
    """``plan start`` refuses a ``PRINTED_PLAN_FIELDS`` text the font lacks a
    character of: each stops every certificate of the plan, and no other
    text of the plan is printed (its level is printed by its Chinese name)."""
    private_use = "\ue000"
    sample = make_data()
    texts = [
        name
        for name in PlanInfo.model_fields.keys() & CertificateData.model_fields
        if type(getattr(sample, name)) is str
    ]

    stopping = {
        name
        for name in texts
        if any(
            not gap.own
            for gap in unprintable(
                make_data(**{name: getattr(sample, name) + private_use})
            )
        )
    }

    assert stopping == set(PRINTED_PLAN_FIELDS)


def test_unsupported_characters_lists_each_missing_character_once() -> None:
    font = load_font()
    assert unsupported_characters("买买提·艾力 黎芬") == []
    private_use = "\ue000"
    assert ord(private_use) not in font.cmap
    assert unsupported_characters(f"黎{private_use}芬{private_use}") == [private_use]


def test_a_configured_font_path_that_does_not_exist_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(FONT_ENV, str(tmp_path / "missing.ttc"))
    with pytest.raises(FontNotFoundError, match="fonts-wqy-microhei"):
        load_font()


def test_without_any_cjk_font_the_error_names_the_debian_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(FONT_ENV, raising=False)
    monkeypatch.setattr(font_module, "KNOWN_FONTS", ())
    with pytest.raises(FontNotFoundError, match="apt-get install fonts-wqy-microhei"):
        font_module.find_font()


def test_the_font_override_is_used(
    monkeypatch: pytest.MonkeyPatch, signing_key: SigningKey, tmp_path: Path
) -> None:
    if len(INSTALLED_FONTS) < 2:
        pytest.skip("only one CJK font installed")
    chosen = INSTALLED_FONTS[-1]
    monkeypatch.setenv(FONT_ENV, str(chosen))
    pdf = render_pdf(sign(make_data(), signing_key.private_key))
    path = tmp_path / "c.pdf"
    path.write_bytes(pdf)
    family = load_font().family.replace(" ", "")
    assert family in _run("pdffonts", path)


def test_the_fast_subset_keeps_the_original_outlines() -> None:
    font = load_font()
    if not font.fast_subsetting:
        pytest.skip("the default font has no TrueType outlines")
    text = "买提艾力黎芬证书ZCX2026·"
    subset = TTFont(BytesIO(font.subset(text)))
    original = TTFont(str(font.path), fontNumber=font.face_index)
    sub_cmap, orig_cmap = subset.getBestCmap(), original.getBestCmap()
    assert set(sub_cmap) == {ord(c) for c in text}
    assert subset["maxp"].numGlyphs < 40
    for char in text:
        new, old = (
            subset["glyf"][sub_cmap[ord(char)]],
            original["glyf"][orig_cmap[ord(char)]],
        )
        assert (
            new.getCoordinates(subset["glyf"])[0]
            == old.getCoordinates(original["glyf"])[0]
        )
        assert (
            subset["hmtx"][sub_cmap[ord(char)]]
            == original["hmtx"][orig_cmap[ord(char)]]
        )


def test_composite_glyphs_bring_their_components() -> None:
    font = load_font()
    if not font.fast_subsetting:
        pytest.skip("the default font has no TrueType outlines")
    original = TTFont(str(font.path), fontNumber=font.face_index)
    glyf = original["glyf"]
    by_glyph = {name: cp for cp, name in original.getBestCmap().items()}
    composite = next(
        (
            chr(by_glyph[n])
            for n in glyf.keys()
            if n in by_glyph and glyf[n].isComposite()
        ),
        None,
    )
    if composite is None:
        pytest.skip("the default font has no composite glyphs")
    subset = TTFont(BytesIO(font.subset(composite)))
    sub_name = subset.getBestCmap()[ord(composite)]
    orig_name = original.getBestCmap()[ord(composite)]
    assert subset["glyf"][sub_name].isComposite()
    assert (
        subset["glyf"][sub_name].getCoordinates(subset["glyf"])[0]
        == glyf[orig_name].getCoordinates(glyf)[0]
    )


@pytest.mark.skipif(shutil.which("zbarimg") is None, reason="zbar-tools not installed")
def test_the_qr_code_scans_to_the_verification_url(
    signing_key: SigningKey, tmp_path: Path
) -> None:
    signed = sign(make_data(name="黎芬"), signing_key.private_key)
    path = tmp_path / "c.pdf"
    path.write_bytes(render_pdf(signed))
    _run("pdftoppm", "-png", "-r", "150", "-singlefile", path, tmp_path / "page")
    scanned = subprocess.run(
        ["zbarimg", "-q", "--raw", str(tmp_path / "page.png")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert scanned == verification_url(signed)


def test_text_outside_the_basic_plane_stays_extractable_on_the_fast_path(
    signing_key: SigningKey, tmp_path: Path
) -> None:
    font = load_font()
    if not font.fast_subsetting:
        pytest.skip("the default font has no TrueType outlines")
    astral = next((chr(cp) for cp in sorted(font.cmap) if cp > 0xFFFF), None)
    if astral is None:
        pytest.skip("the default font has no glyph outside the basic plane")
    name = f"黎{astral}芬"
    pdf = render_pdf(sign(make_data(name=name), signing_key.private_key))
    assert name in _text_of(pdf, tmp_path)


def test_the_embedded_font_holds_the_pages_glyphs_by_character_code(
    signing_key: SigningKey,
) -> None:
    font = load_font()
    if not font.fast_subsetting:
        pytest.skip("the default font has no TrueType outlines")
    pdf = render_pdf(sign(make_data(name="黎芬"), signing_key.private_key))
    resources: Any = PdfReader(BytesIO(pdf)).pages[0]["/Resources"]
    (composite,) = (f.get_object() for f in resources["/Font"].values())
    descendant = composite["/DescendantFonts"][0].get_object()
    assert descendant["/CIDToGIDMap"] == "/Identity"
    stream = descendant["/FontDescriptor"]["/FontFile2"].get_object().get_data()
    embedded = TTFont(BytesIO(stream))
    to_unicode = composite["/ToUnicode"].get_object().get_data().decode("latin-1")
    mappings = to_unicode.split("endcodespacerange", 1)[1]
    codes = {
        int(code, 16): chr(int(text, 16))
        for code, text in re.findall(r"<([0-9A-F]{4})> <([0-9A-F]{4})>", mappings)
    }
    assert "黎" in codes.values() and "芬" in codes.values()
    # the page's glyphs and the template's Latin letters, not the face's 30,000
    assert embedded["maxp"].numGlyphs < 400

    original = TTFont(str(font.path), fontNumber=font.face_index)
    order = embedded.getGlyphOrder()
    for code, char in codes.items():
        glyph = embedded["glyf"][order[code]]
        source = original["glyf"][original.getBestCmap()[ord(char)]]
        assert (
            glyph.getCoordinates(embedded["glyf"])[0]
            == source.getCoordinates(original["glyf"])[0]
        ), char


def test_long_values_shrink_to_stay_inside_the_border(
    signing_key: SigningKey, tmp_path: Path
) -> None:
    data = make_data(
        organisation="新疆维吾尔自治区乌鲁木齐市职业技能鉴定与评价服务中心有限责任公司",
        module_name="新能源汽车动力电池及电池管理系统检测与维修综合技术与智能网联系统维护",
    )
    path = tmp_path / "long.pdf"
    path.write_bytes(render_pdf(sign(data, signing_key.private_key)))
    boxes = _run("pdftotext", "-bbox", path, "-")
    words = re.findall(r'xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"', boxes)
    assert words
    inner_left, inner_right = 13 * 72 / 25.4, (210 - 13) * 72 / 25.4
    for x_min, x_max in words:
        assert inner_left < float(x_min) and float(x_max) < inner_right
    assert data.organisation in _text_of(path.read_bytes(), tmp_path)


def test_a_scanned_url_is_checked_against_the_pages_record(
    signing_key: SigningKey, keyring: KeyRing
) -> None:
    record = make_data(name="黎芬")
    url = verification_url(sign(record, signing_key.private_key))
    assert check_scanned_record(url, record, keyring) is Verdict.VALID

    changed = make_data(name="黎芳")  # the record was edited after issue
    assert check_scanned_record(url, changed, keyring) is Verdict.TAMPERED
    other = make_data(name="黎芬", seq=2)  # a URL pointing at another number
    assert check_scanned_record(url, other, keyring) is Verdict.TAMPERED
    damaged = url.replace("sig=", "sig=A")
    assert check_scanned_record(damaged, record, keyring) is Verdict.TAMPERED
    stranger = sign(record, SigningKey.load(generate_keypair()[0]).private_key)
    assert (
        check_scanned_record(verification_url(stranger), record, keyring)
        is Verdict.UNKNOWN_KEY
    )


_HANZI = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5).filter(
    lambda c: not unsupported_characters(c)
)


@settings(max_examples=25, deadline=None)
@given(name=st.text(_HANZI, min_size=2, max_size=8))
def test_any_printable_name_round_trips_through_the_pdf(
    name: str, signing_key: SigningKey, keyring: KeyRing, tmp_path_factory: Any
) -> None:
    pdf = render_pdf(sign(make_data(name=name), signing_key.private_key))
    assert verify_pdf(pdf, keyring).status is VerificationStatus.VALID
    assert name in _text_of(pdf, tmp_path_factory.mktemp("name"))
