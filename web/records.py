"""Reading issued certificates for the web pages: by holder, by number, by file."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from certflow.certificates import CertificateData, SignedCertificate, public_reason
from certflow.identity import read_id_number
from certflow.models import DocumentRef, Level
from certflow.text import name_key

_COLUMNS = """
    c.number, c.admission_number, c.payload, c.key_id, c.signature, c.revoked_on,
    c.revocation_reason, c.pdf_sha256, d.size AS pdf_size, h.number IS NOT NULL AS held
    FROM certificates c LEFT JOIN documents d ON d.sha256 = c.pdf_sha256
    LEFT JOIN certificate_holds h ON h.number = c.number AND h.released_at IS NULL
"""


@dataclass(frozen=True)
class CertificateRecord:
    """An issued certificate as stored: signed data, PDF and revocation state.

    ``held``: numbered before issuance checked the font, then held out of
    issuance because the font cannot draw it; it has no PDF until it can.
    """

    signed: SignedCertificate
    pdf: DocumentRef | None
    revoked_on: date | None
    revocation_reason: str | None
    held: bool = False
    # The holder's admission number, never shown: a reason holding it is
    # withheld (``public_reason``).
    admission_number: str = ""

    @property
    def data(self) -> CertificateData:
        """The signed certificate data."""
        return self.signed.data

    def signed_as(self, key_id: str | None, signature: str | None) -> bool:
        """Whether ``key_id`` and ``signature`` are the record's own, to the
        character: what a QR code or a file of it carries, where the key is no
        longer trusted and nothing else can be checked."""
        return (key_id, signature) == (self.signed.key_id, self.signed.signature_b64)

    @property
    def public_reason(self) -> str | None:
        """The revocation reason as the pages may show it: withheld where it
        names the holder, holds their admission or document number or what
        could be an ID number; its hidden characters shown as code points."""
        if self.revocation_reason is None:
            return None
        return public_reason(
            self.revocation_reason,
            self.data.candidate_name,
            (self.admission_number, self.data.id_number),
        )


@dataclass(frozen=True)
class HeldRecord:
    """A passing candidate's certificate held out of issuance, unnumbered: the
    certificate font cannot print the name (``certificate_holds``)."""

    certificate: str
    level: Level
    module_code: str
    module_name: str


def _record(row: asyncpg.Record) -> CertificateRecord:
    payload: Any = row["payload"]
    if isinstance(payload, str):  # a pool without certflow's jsonb codec
        payload = json.loads(payload)
    pdf = None
    if row["pdf_sha256"] is not None and row["pdf_size"] is not None:
        pdf = DocumentRef(
            sha256=row["pdf_sha256"],
            size=row["pdf_size"],
            media_type="application/pdf",
            filename=f"{row['number']}.pdf",
        )
    return CertificateRecord(
        signed=SignedCertificate(
            data=CertificateData.model_validate(payload),
            key_id=row["key_id"],
            signature_b64=row["signature"],
        ),
        pdf=pdf,
        revoked_on=row["revoked_on"],
        revocation_reason=row["revocation_reason"],
        held=bool(row["held"]),
        admission_number=row["admission_number"],
    )


async def find_by_holder(
    pool: asyncpg.Pool, name: str, id_number: str
) -> list[CertificateRecord]:
    """Return the certificates whose holder has this name and ID number.

    The ID number is read as intake stored it (``read_id_number``: half width,
    without spaces, hyphens or dots, its check letter ``X``); the certificates of that
    number are then those whose name has the typed name's
    :func:`certflow.text.name_key`: case, spaces, hidden characters and the dot
    between the parts of a name (left out or typed as another dot) do not
    count.
    """
    rows = await pool.fetch(
        f"SELECT c.name AS holder, {_COLUMNS} WHERE c.id_number = $1 "
        "ORDER BY c.issued_on DESC, c.number",
        read_id_number(id_number),
    )
    return [_record(row) for row in _named(rows, name)]


async def find_held(pool: asyncpg.Pool, name: str, id_number: str) -> list[HeldRecord]:
    """Return the unnumbered certificates of this holder held out of issuance.

    Matched as :func:`find_by_holder` matches: the same person may look up a
    certificate issued and one still held.
    """
    rows = await pool.fetch(
        """
        SELECT h.name AS holder, p.certificate, p.level, p.module_code,
            p.module_name
        FROM certificate_holds h JOIN plans p ON p.plan_id = h.plan_id
        WHERE h.id_number = $1 AND h.released_at IS NULL AND h.number IS NULL
        ORDER BY h.held_at DESC, h.plan_id
        """,
        read_id_number(id_number),
    )
    return [
        HeldRecord(
            certificate=row["certificate"],
            level=Level(row["level"]),
            module_code=row["module_code"],
            module_name=row["module_name"],
        )
        for row in _named(rows, name)
    ]


def _named(rows: list[asyncpg.Record], name: str) -> list[asyncpg.Record]:
    """The rows of one ID number whose holder's name is ``name`` as typed.

    Compared in Python, not SQL: the key (NFKC, case folding, every kind of
    dot and space) is one function, and one ID number has a few rows.
    """
    typed = name_key(name)
    return [row for row in rows if name_key(row["holder"]) == typed]


async def get(pool: asyncpg.Pool, number: str) -> CertificateRecord | None:
    """Return the certificate numbered ``number``, or ``None``."""
    row = await pool.fetchrow(f"SELECT {_COLUMNS} WHERE c.number = $1", number)
    return _record(row) if row is not None else None
