"""What a certificate says, and the one byte string its signature covers."""

from __future__ import annotations

import json
import unicodedata
from datetime import date, datetime
from typing import Any

from pydantic import Field

from certflow.models import Level, Model

CERTIFICATE_SCHEMA = "certflow-certificate-v1"
# Certificates that name the face they are drawn in (``CertificateData.font``).
# Those without keep the first schema, so their bytes, and signatures, are as
# they were signed.
CERTIFICATE_SCHEMA_FONT = "certflow-certificate-v2"


class CertificateData(Model):
    """电子证书内容: everything an e-certificate prints, all covered by its signature.

    Personal data (name, identity document): never log it. ``certificate`` is the
    certificate type as the plan names it (``汽车运用与维修``); the printed title
    appends 职业技能等级证书. ``verify_url_base`` is where the QR code points,
    without a trailing slash, e.g. ``https://zhengshu.example.org``.
    """

    number: str = Field(pattern=r"^[A-Za-z0-9-]{4,40}$")
    organisation: str = Field(min_length=1)
    candidate_name: str = Field(min_length=1)
    id_type: str = Field(min_length=1)
    id_number: str = Field(min_length=1)
    certificate: str = Field(min_length=1)
    level: Level
    module_code: str
    module_name: str
    plan_id: str
    issued_on: date
    verify_url_base: str = Field(pattern=r"^https?://[^\s?#]+[^/\s?#]$")
    font: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,64}:[0-9a-f]{16}$")


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` deterministically: sorted keys, no whitespace, UTF-8, NFC.

    Strings are NFC-normalised so that a name typed with a decomposed character
    signs the same as its composed form; dates are ISO 8601; enums by value.
    """
    return json.dumps(
        _normalise(value), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    ).encode("utf-8")


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {_normalise(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(v) for v in value]
    if isinstance(value, bool | int | None):
        return value
    raise TypeError(f"{type(value).__name__} has no canonical form")


def canonical_bytes(data: CertificateData) -> bytes:
    """Return the bytes a certificate's signature covers.

    The JSON object holds every field of :class:`CertificateData` plus
    ``"schema": "certflow-certificate-v1"``, so a signature over a certificate can
    never be replayed as a signature over a status list or a later format. A
    certificate naming its font holds ``font`` too, under
    ``"certflow-certificate-v2"``; one without is written exactly as before.
    """
    fields = data.model_dump(mode="json")
    if fields["font"] is None:
        del fields["font"]
        return canonical_json({"schema": CERTIFICATE_SCHEMA, **fields})
    return canonical_json({"schema": CERTIFICATE_SCHEMA_FONT, **fields})


def data_from_canonical(payload: bytes) -> CertificateData:
    """Read certificate data back from its canonical bytes (raises on bad input)."""
    fields = json.loads(payload.decode("utf-8"))
    if not isinstance(fields, dict) or fields.pop("schema", None) not in _SCHEMAS:
        raise ValueError("not a certflow certificate payload")
    return CertificateData.model_validate(fields)


_SCHEMAS = (CERTIFICATE_SCHEMA, CERTIFICATE_SCHEMA_FONT)
