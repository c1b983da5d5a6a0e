"""The direct PDF writer: spliced zlib streams, font subsets on a base, templates.

Every font the writer embeds is opened by fontTools with checksum checking on,
and its whole-file checksum is checked as the 'head' table requires; every PDF
is read by poppler, which must print no complaint.
"""

from __future__ import annotations

import struct
import subprocess
import zlib
from datetime import datetime
from io import BytesIO
from pathlib import Path

import pytest
from certificate_samples import make_data
from fontTools.ttLib import TTFont
from hypothesis import given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from certflow.certificates import SigningKey, load_font, render_pdf, sign
from certflow.certificates.canonical import canonical_bytes, canonical_json
from certflow.certificates.deflate import (
    Deflated,
    adler32_combine,
    joined,
    zlib_stream,
)
from certflow.certificates.fonts import CjkFont, SubsetBase
from certflow.certificates.pdf import PAYLOAD_FORMAT, payload_bytes
from certflow.certificates.pdfwriter import Box, Info, Line, Template, Text
from certflow.timeutil import CST
from tests.certificates.certificate_samples import INSTALLED_FONTS

NOTO = [p for p in INSTALLED_FONTS if "noto" in p.name.lower()]


def _fast_font() -> CjkFont:
    font = load_font()
    if not font.fast_subsetting:
        pytest.skip("the default font has no TrueType outlines")
    return font


_PARTS = st.lists(
    st.tuples(st.booleans(), st.binary(max_size=300)),
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(parts=_PARTS)
def test_a_spliced_stream_inflates_to_its_parts(
    parts: list[tuple[bool, bytes]],
) -> None:
    pieces = [Deflated.of(data) if early else data for early, data in parts]
    assert zlib.decompress(zlib_stream(pieces)) == joined(pieces)


def test_long_raw_runs_between_precompressed_parts_are_stored_in_blocks() -> None:
    long_run = bytes(range(256)) * 400  # over 65,535 bytes: two stored blocks
    pieces = [b"head", Deflated.of(b"fixed" * 100), long_run, Deflated.of(b"x"), b"!"]
    assert zlib.decompress(zlib_stream(pieces)) == joined(pieces)


@settings(max_examples=200, deadline=None)
@given(first=st.binary(max_size=200), second=st.binary(max_size=200))
def test_adler32_combines_like_one_pass(first: bytes, second: bytes) -> None:
    combined = adler32_combine(zlib.adler32(first), zlib.adler32(second), len(second))
    assert combined == zlib.adler32(first + second)


def _open(program_parts: tuple[object, ...]) -> tuple[TTFont, bytes]:
    raw = joined(program_parts)  # type: ignore[arg-type]
    words = struct.unpack(f">{len(raw) // 4}I", raw + b"\0" * (-len(raw) % 4))
    assert sum(words) & 0xFFFFFFFF == 0xB1B0AFBA  # head.checkSumAdjustment
    font = TTFont(BytesIO(raw), checkChecksums=2)  # raises on a wrong checksum
    return font, raw


def _outline(font: TTFont, glyph_name: str) -> object:
    return font["glyf"][glyph_name].getCoordinates(font["glyf"])[0]


@pytest.mark.parametrize("mapped", [True, False], ids=["mapped", "unmapped"])
def test_a_subset_on_a_base_holds_the_faces_outlines_by_code(mapped: bool) -> None:
    face = _fast_font()
    base = SubsetBase(face, "职业技能等级证书0123456789X-", mapped=mapped)
    program = base.extend("黎芬职2X")  # new, new, in the base, in the base
    assert set(program.added) == {ord("黎"), ord("芬")}
    subset, raw = _open(program.parts)
    assert program.length == len(raw)
    assert zlib.decompress(zlib_stream(program.parts)) == raw

    original = TTFont(str(face.path), fontNumber=face.face_index)
    original_cmap = original.getBestCmap()
    order = subset.getGlyphOrder()
    for char in "黎芬职业证书2X":
        code = base.code(char, program)
        assert _outline(subset, order[code]) == _outline(
            original, original_cmap[ord(char)]
        ), char
        assert subset["hmtx"][order[code]] == original["hmtx"][original_cmap[ord(char)]]
    cmap = subset.getBestCmap() or {}
    if mapped:
        assert cmap[ord("黎")] == order[base.code("黎", program)]
    else:
        assert cmap == {}  # PDF selects glyphs by id; the empty cmap is fixed


def test_extending_leaves_the_base_as_it_was() -> None:
    face = _fast_font()
    base = SubsetBase(face, "证书", mapped=False)
    first = base.extend("黎芬")
    second = base.extend("王")
    assert set(second.added) == {ord("王")}
    assert base.extend("黎芬") == first  # the same text gives the same subset
    assert first.tag != second.tag
    _open(second.parts)


def test_a_subset_with_nothing_added_is_the_base_alone() -> None:
    face = _fast_font()
    base = SubsetBase(face, "证书", mapped=False)
    program = base.extend("书证")
    assert program.added == {}
    subset, _raw = _open(program.parts)
    empty, _raw = _open(base.extend("").parts)
    assert subset["maxp"].numGlyphs == empty["maxp"].numGlyphs


def test_composite_glyphs_added_to_a_base_bring_their_parts() -> None:
    face = _fast_font()
    original = TTFont(str(face.path), fontNumber=face.face_index)
    glyf = original["glyf"]
    by_glyph = {name: cp for cp, name in original.getBestCmap().items()}
    composites = [
        chr(by_glyph[name])
        for name in glyf.keys()
        if name in by_glyph and glyf[name].isComposite()
    ][:3]
    if not composites:
        pytest.skip("the default font has no composite glyphs")
    base = SubsetBase(face, composites[0], mapped=False)
    program = base.extend("".join(composites))
    subset, _raw = _open(program.parts)
    order = subset.getGlyphOrder()
    for char in composites:
        name = order[base.code(char, program)]
        assert subset["glyf"][name].isComposite()
        assert _outline(subset, name) == _outline(
            original, original.getBestCmap()[ord(char)]
        )


def _poppler(pdf: bytes, tmp_path: Path, *tools: list[str]) -> list[str]:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    outputs = []
    for tool in tools:
        done = subprocess.run(
            [*tool, str(path), *(["-"] if tool[0] == "pdftotext" else [])],
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stderr == "", (tool, done.stderr)  # no syntax complaints
        outputs.append(done.stdout)
    return outputs


def test_a_bare_page_on_an_empty_template_is_a_clean_pdf(tmp_path: Path) -> None:
    template = Template(_fast_font(), ())
    info = Info(title="试页", author="certflow", subject="bare",
                created=datetime(2026, 12, 4, 9, tzinfo=CST))  # fmt: skip
    pdf = template.render([Text(20, 20, 14, "黎芬")], info, bytes(16))
    text, fonts, _ = _poppler(pdf, tmp_path, ["pdftotext"], ["pdffonts"], ["pdfinfo"])
    assert text.strip() == "黎芬"
    assert "yes yes yes" in fonts
    reader = PdfReader(BytesIO(pdf), strict=True)
    assert reader.metadata is not None and reader.metadata.title == "试页"


def test_a_template_draws_its_shared_lines_under_each_page(tmp_path: Path) -> None:
    face = _fast_font()
    shared = (
        Box(10, 10, 190, 277, 1, (150, 28, 32)),
        Line(20, 40, 190, 40, 0.3, (150, 28, 32)),
        Text(20, 30, 20, "职业技能等级证书", spacing=2),
    )
    template = Template(face, shared)
    info = Info(title="t", author="a", subject="s",
                created=datetime(2026, 12, 4, 9, tzinfo=CST))  # fmt: skip
    for name in ("黎芬", "王秀英"):
        pdf = template.render([Text(20, 60, 14, name)], info, bytes(16))
        (text,) = _poppler(pdf, tmp_path, ["pdftotext", "-raw"])
        # the spaced title comes out a character at a time
        assert "".join(text.split()) == "职业技能等级证书" + name


def test_a_certificate_reads_cleanly_in_poppler_and_strict_pypdf(
    signing_key: SigningKey, tmp_path: Path
) -> None:
    pdf = render_pdf(sign(make_data(name="黎芬"), signing_key.private_key))
    _poppler(pdf, tmp_path, ["pdfinfo"], ["pdffonts"], ["pdftotext"],
             ["pdfdetach", "-list"])  # fmt: skip
    reader = PdfReader(BytesIO(pdf), strict=True)
    assert len(reader.pages) == 1
    assert "黎芬" in reader.pages[0].extract_text()


def test_qpdf_finds_no_syntax_or_stream_error(
    signing_key: SigningKey, tmp_path: Path
) -> None:
    """A second, independent reader of the structure: cross-reference table,
    object syntax, and every stream inflated (the spliced ones included)."""
    path = tmp_path / "certificate.pdf"
    path.write_bytes(render_pdf(sign(make_data(name="黎芬"), signing_key.private_key)))
    done = subprocess.run(
        ["qpdf", "--check", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No syntax or stream encoding errors found" in done.stdout


def test_a_name_from_the_templates_own_characters_adds_no_glyph(
    signing_key: SigningKey, tmp_path: Path
) -> None:
    # 汽车 and 证书 are printed on every certificate of the plan already.
    for name in ("汽车", "证书"):
        pdf = render_pdf(sign(make_data(name=name), signing_key.private_key))
        (text,) = _poppler(pdf, tmp_path, ["pdftotext"])
        assert name in text


@pytest.mark.skipif(not NOTO, reason="fonts-noto-cjk not installed")
def test_both_renderers_print_the_same_lines(
    signing_key: SigningKey, tmp_path: Path
) -> None:
    signed = sign(make_data(name="黎芬"), signing_key.private_key)
    fast = render_pdf(signed)
    fpdf2 = render_pdf(signed, font_path=NOTO[0])  # PostScript outlines
    assert not load_font(NOTO[0]).fast_subsetting

    def lines(pdf: bytes) -> list[str]:
        (text,) = _poppler(pdf, tmp_path, ["pdftotext"])
        return [line.strip() for line in text.splitlines() if line.strip()]

    assert lines(fast) == lines(fpdf2)


def test_the_payload_is_the_canonical_json_of_its_members(
    signing_key: SigningKey,
) -> None:
    import json

    signed = sign(make_data(name="黎芬"), signing_key.private_key)
    generic = canonical_json({
        "format": PAYLOAD_FORMAT,
        "certificate": json.loads(canonical_bytes(signed.data)),
        "key_id": signed.key_id,
        "signature": signed.signature_b64,
    })  # fmt: skip
    assert payload_bytes(signed) == generic
