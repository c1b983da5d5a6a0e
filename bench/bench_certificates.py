"""Benchmark: e-certificates issued per second on one core.

The full pipeline of one certificate is signing its data and rendering the PDF
with its QR code on the plan's compiled template, as issuance renders a plan's
certificates one after another (the first one's extra cost is reported too).
It is compared with the least a PDF in the same font can cost: one A4 page with
one line of text, written by the same writer with the same font machinery (an
empty template: the font's own tables precompressed once, as every document of
the process shares them). Targets: at least 100 certificates per second, and at
most 1.5 times the bare page. For scale it also reports the bare page through
fpdf2, with the face parsed once and with fpdf2 parsing it itself.

    python -m bench.bench_certificates           # full run, exit 1 on a missed target
    python -m bench.bench_certificates --quick   # a few seconds, for CI; never fails
    python -m bench.bench_certificates --profile # also print where the time goes
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path

from fpdf import FPDF

from certflow.certificates import (
    CertificateData,
    NumberScheme,
    SigningKey,
    font_id,
    generate_keypair,
    load_font,
    render_pdf,
    sign,
)
from certflow.certificates.pdf import FONT_FAMILY, _template
from certflow.certificates.pdffont import CjkPDF
from certflow.certificates.pdfwriter import Info, Template, Text
from certflow.models import Level
from certflow.timeutil import CST

TARGET_RATE = 100.0
TARGET_RATIO = 1.5
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = ["芬", "伟", "秀英", "建国", "丽娟", "子涵", "浩然", "艾力", "雪梅", "志强"]
SCHEME = NumberScheme()


def _data(index: int, font: str | None = None) -> CertificateData:
    """The index-th benchmark certificate: names vary, so font subsets do too.

    ``font`` is the id of the face it is drawn in, as issuance signs it.
    """
    name = SURNAMES[index % len(SURNAMES)] + GIVEN[index % len(GIVEN)]
    if index % 7 == 0:
        name = "买买提·艾力"
    number = SCHEME.format(
        year=2026, certificate="汽车运用与维修", level=Level.INTERMEDIATE, seq=index + 1
    )
    return CertificateData(
        number=number,
        organisation="北京中车行高新技术有限公司",
        candidate_name=name,
        id_type="居民身份证",
        id_number=f"4201061990{index % 10000:04d}123X",
        certificate="汽车运用与维修",
        level=Level.INTERMEDIATE,
        module_code="1-1",
        module_name="汽车动力与驱动综合分析技术",
        plan_id="P2026-HB-0031",
        issued_on=date(2026, 12, 4),
        verify_url_base="https://zhengshu.example.org",
        font=font,
    )


BARE_INFO = Info(
    title="", author="", subject="", created=datetime(2026, 12, 4, 9, tzinfo=CST)
)


def _line(index: int) -> str:
    return f"{SURNAMES[index % len(SURNAMES)]}{GIVEN[index % len(GIVEN)]}"


def _bare_page(index: int, empty: Template) -> bytes:
    """One A4 page with one line of text in the certificate font."""
    return empty.render([Text(20, 20, 14, _line(index))], BARE_INFO, bytes(16))


def _fpdf2_bare_page(index: int, font_path: Path | None) -> bytes:
    """The bare page through fpdf2, with the face parsed once."""
    line = _line(index)
    pdf = CjkPDF(format="A4")
    pdf.use_cjk_font(load_font(font_path), FONT_FAMILY)
    pdf.add_page()
    pdf.set_font(FONT_FAMILY, size=14)
    pdf.text(20, 20, line)
    return pdf.to_bytes()


def _naive_bare_page(font_path: Path | None) -> bytes:
    """The bare page with fpdf2 parsing and subsetting the whole font file itself."""
    font = load_font(font_path)
    pdf = FPDF(format="A4")
    pdf.add_font("naive", "", str(font.path), collection_font_number=font.face_index)
    pdf.add_page()
    pdf.set_font("naive", size=14)
    pdf.text(20, 20, "黎芬")
    return bytes(pdf.output())


def _rate(work: Callable[[int], object], seconds: float, minimum: int = 5) -> float:
    """Run ``work(i)`` for about ``seconds`` and return calls per CPU second."""
    work(0)  # warm caches outside the measurement
    count = 0
    start = time.process_time()
    deadline = time.perf_counter() + seconds
    while count < minimum or time.perf_counter() < deadline:
        work(count + 1)
        count += 1
    return count / (time.process_time() - start)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the numbers, and judge them in full mode."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short run for CI")
    parser.add_argument("--profile", action="store_true", help="profile the pipeline")
    parser.add_argument("--font", type=Path, default=None, help="CJK font file")
    args = parser.parse_args(argv)
    seconds = 1.0 if args.quick else 5.0

    started = time.perf_counter()
    font = load_font(args.font)
    load_seconds = time.perf_counter() - started
    key = SigningKey.load(generate_keypair()[0])
    face = font_id(font)

    def certificate(index: int) -> bytes:
        signed = sign(_data(index, face), key.private_key)
        return render_pdf(signed, font_path=args.font)

    empty = Template(font, ())
    size = len(certificate(0))

    def first_of_a_plan(index: int) -> bytes:
        _template.cache_clear()  # the plan's template is compiled again
        return certificate(index)

    cold_rate = _rate(first_of_a_plan, seconds / 4, minimum=3)
    cert_rate = _rate(certificate, seconds)
    bare_rate = _rate(lambda i: _bare_page(i, empty), seconds)
    sign_rate = _rate(lambda i: sign(_data(i, face), key.private_key), seconds / 4)
    ratio = bare_rate / cert_rate

    fast = "yes" if font.fast_subsetting else "no (CFF outlines)"
    loaded = f"parsed once in {load_seconds * 1000:.0f} ms"
    print(f"font: {font.family} ({font.path.name}, face {font.face_index}), {loaded}")
    print(f"fast subsetting: {fast}")
    print(f"certificate PDF size: {size / 1024:.1f} KiB")
    print(f"signing alone:       {sign_rate:10.1f} /s per core")
    print(f"bare one-line page:  {bare_rate:10.1f} /s per core")
    print(f"certificate (sign + PDF + QR): {cert_rate:.1f} /s per core "
          f"(target >= {TARGET_RATE:.0f})")  # fmt: skip
    print(
        f"cost ratio certificate / bare page: {ratio:.2f}x (target <= {TARGET_RATIO})"
    )
    print(f"first certificate of a plan (compiles its template): "
          f"{1000 / cold_rate:.1f} ms")  # fmt: skip
    if not args.quick:
        fpdf2 = _rate(lambda i: _fpdf2_bare_page(i, args.font), seconds)
        print(f"bare page through fpdf2 (face parsed once): {fpdf2:.1f} /s per core; "
              f"certificate costs {fpdf2 / cert_rate:.2f}x that page")  # fmt: skip
        naive = _rate(lambda i: _naive_bare_page(args.font), seconds, minimum=3)
        print(f"bare page through fpdf2's own font loading (no cache): "
              f"{naive:.1f} /s per core; certificate costs {naive / cert_rate:.3f}x "
              "that page")  # fmt: skip

    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [certificate(i) for i in range(200)])
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
        print(out.getvalue())

    met = cert_rate >= TARGET_RATE and ratio <= TARGET_RATIO
    print("targets met" if met else "TARGETS MISSED")
    if args.quick:
        return 0
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
