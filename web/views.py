"""What the pages show of a certificate: verdicts, masked fields, result rows.

Pure presentation over :class:`web.records.CertificateRecord`; the texts come from
the message catalogue (the certificate's own labels, as printed on the PDF).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from certflow.certificates import (
    CertificateData,
    KeyRing,
    Verdict,
    VerificationStatus,
    check_scanned_record,
    verify,
)
from certflow.i18n import t
from certflow.models import Level
from certflow.privacy import id_number_tail, mask_id_number, name_initial
from web.records import CertificateRecord, HeldRecord
from web.tokens import DownloadTokens


def status_of(verdict: Verdict) -> str:
    """The page status of a signature verdict."""
    return {
        Verdict.VALID: "valid",
        Verdict.TAMPERED: "tampered",
        Verdict.UNKNOWN_KEY: VerificationStatus.UNKNOWN_KEY.value,
    }[verdict]


def record_verdict(record: CertificateRecord, keyring: KeyRing) -> str:
    """The stored record's own signature: an edited database row shows tampered."""
    return status_of(verify(record.signed, keyring))


def record_status(record: CertificateRecord, keyring: KeyRing) -> str:
    """What the pages say of a stored certificate: its signature, then revocation.

    ``valid``, ``revoked``, ``tampered`` or ``unknown_key``. The verification
    page and the look-up both ask this, so a candidate never reads 有效 for a
    certificate the verification page cannot confirm.

    A revoked certificate is revoked whatever key signed it: one whose key is
    no longer trusted (rotated without listing the old public key) read
    无法确认真伪, and its file was offered and served again. Only a record that
    fails its own signature says so instead: operators must look at the row.
    """
    outcome = record_verdict(record, keyring)
    if outcome != "tampered" and record.revoked_on is not None:
        return "revoked"
    return outcome


def matches_record(
    record: CertificateRecord, kid: str, sig: str, keyring: KeyRing
) -> bool:
    """Whether a QR link's key id and signature are those printed for
    ``record``: they verify against it, or, the key no longer trusted, they
    are the record's own to the character (nothing else could be checked)."""
    query = urlencode({"k": kid, "sig": sig})
    url = f"/verify/{record.data.number}?{query}"
    scan = check_scanned_record(url, record.data, keyring)
    if scan is Verdict.VALID:
        return True
    return scan is Verdict.UNKNOWN_KEY and record.signed_as(kid, sig)


# The statuses whose PDF the look-up offers for download.
DOWNLOADABLE = frozenset({"valid", "unknown_key"})


def fields(
    data: CertificateData, *, held: bool, full_id_number: bool = False
) -> list[tuple[str, str]]:
    """Label and value of each printed field, the ID number (and name) masked.

    ``held``: the visitor showed they hold the certificate (the QR code's
    signature, or the PDF itself), which prints the name and the whole ID
    number: the full name, and the ID number's first 4 and last 4 characters.
    Otherwise (a number typed, and numbers are sequential) only the name's
    first character (:func:`certflow.privacy.name_initial`) and the ID
    number's last 4, enough to compare with an ID card in
    front of the verifier and too little to guess the rest from: docs/web.md,
    "What the verification page shows". ``full_id_number`` (an uploaded file
    whose glyphs were not compared) shows the ID number whole: the uploader
    holds it, and must compare every digit with the page.
    """
    if held:
        name = data.candidate_name
        id_number = data.id_number if full_id_number else mask_id_number(data.id_number)
    else:
        name, id_number = (
            name_initial(data.candidate_name),
            id_number_tail(data.id_number),
        )
    return [
        (t("certificates.pdf.candidate_name"), name),
        (t("certificates.pdf.id_type"), data.id_type),
        (t("certificates.pdf.id_number"), id_number),
        (
            t("certificates.pdf.certificate"),
            t("certificates.pdf.certificate_name", certificate=data.certificate),
        ),
        (t("certificates.pdf.level"), data.level.chinese),
        (t("certificates.pdf.module"), f"{data.module_code} {data.module_name}"),
        (t("certificates.pdf.number"), data.number),
        (t("certificates.pdf.issued_on"), data.issued_on.isoformat()),
        (t("certificates.pdf.organisation"), data.organisation),
    ]


def verdict_context(
    record: CertificateRecord, outcome: str, *, held: bool
) -> dict[str, Any]:
    """The verification page's context for a stored record and its verdict."""
    context: dict[str, Any] = {"status": outcome, "number": record.data.number}
    if outcome in ("valid", "revoked"):
        context["fields"] = fields(record.data, held=held)
        context["held"] = held
    if outcome == "revoked":
        context["revoked_on"] = record.revoked_on
        context["reason"] = record.public_reason
    return context


def lookup_row(
    record: CertificateRecord, status: str, tokens: DownloadTokens
) -> dict[str, Any]:
    """One row of the look-up results, with a fresh download link if it may have one.

    ``status`` is :func:`record_status`. A certificate that cannot be confirmed
    (its key is no longer trusted) is still the holder's own record and keeps
    its link; a revoked one, or one whose record no longer verifies, has none.
    One held out of issuance (the font cannot draw it) is said to be held, not
    valid with its file "being made": it is not made until the font prints it.
    """
    data = record.data
    if record.held and status in DOWNLOADABLE:
        status = "held"
    downloadable = status in DOWNLOADABLE
    link = None
    if record.pdf is not None and downloadable:
        issued = tokens.issue(data.number)
        query = urlencode({"e": issued.expires, "t": issued.mac})
        link = f"/download/{data.number}?{query}"
    return {
        **_what_certifies(
            data.certificate, data.level, data.module_code, data.module_name
        ),
        "number": data.number,
        "issued_on": data.issued_on.isoformat(),
        "status": status,
        "downloadable": downloadable,
        "revoked_on": record.revoked_on,
        "reason": record.public_reason,
        "download": link,
    }


def held_row(held: HeldRecord) -> dict[str, Any]:
    """One row of the look-up results for a certificate held out of issuance
    before it had a number: no number, no date, no link, and why."""
    return {
        **_what_certifies(
            held.certificate, held.level, held.module_code, held.module_name
        ),
        "number": None,
        "issued_on": None,
        "status": "held",
        "downloadable": False,
        "download": None,
    }


def _what_certifies(
    certificate: str, level: Level, module_code: str, module_name: str
) -> dict[str, str]:
    """The certificate, level and module of a result row, as printed."""
    return {
        "certificate": t("certificates.pdf.certificate_name", certificate=certificate),
        "level": level.chinese,
        "module": f"{module_code} {module_name}",
    }
