"""Sample certificate data shared by the e-certificate tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from io import BytesIO

from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

from certflow.certificates import CertificateData, NumberScheme
from certflow.models import Level


def make_data(
    name: str = "买买提·艾力", seq: int = 1, **changes: object
) -> CertificateData:
    """A certificate of an intermediate 汽车运用与维修 candidate, numbered by scheme."""
    number = NumberScheme().format(
        year=2026, certificate="汽车运用与维修", level=Level.INTERMEDIATE, seq=seq
    )
    fields: dict[str, object] = {
        "number": number,
        "organisation": "北京中车行高新技术有限公司",
        "candidate_name": name,
        "id_type": "居民身份证",
        "id_number": "65010219990101123X",
        "certificate": "汽车运用与维修",
        "level": Level.INTERMEDIATE,
        "module_code": "1-1",
        "module_name": "汽车动力与驱动综合分析技术",
        "plan_id": "P2026-HB-0031",
        "issued_on": date(2026, 12, 4),
        "verify_url_base": "https://zhengshu.example.org",
    }
    fields.update(changes)
    return CertificateData.model_validate(fields)


def incrementally(pdf: bytes, update: Callable[[PdfWriter], None]) -> bytes:
    """``pdf`` with ``update`` appended as an incremental update: the original
    bytes, the signed attachment among them, are kept as they are."""
    writer = PdfWriter(BytesIO(pdf), incremental=True)
    update(writer)
    out = BytesIO()
    writer.write(out)
    assert out.getvalue().startswith(pdf)
    return out.getvalue()


def javascript(code: str) -> DictionaryObject:
    """A JavaScript action running ``code``."""
    return DictionaryObject({
        NameObject("/S"): NameObject("/JavaScript"),
        NameObject("/JS"): TextStringObject(code),
    })  # fmt: skip


def add_document_javascript(writer: PdfWriter) -> None:
    """Document JavaScript, which a reader runs when it opens the file."""
    script = writer._add_object(javascript("app.alert('证书有效')"))
    names = writer._root_object["/Names"]
    names[NameObject("/JavaScript")] = DictionaryObject(
        {NameObject("/Names"): ArrayObject([TextStringObject("check"), script])}
    )
