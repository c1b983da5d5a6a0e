"""Ed25519 signatures over certificates and over the revocation status list.

A signature covers the canonical bytes (:mod:`certflow.certificates.canonical`)
and is carried as URL-safe base64 without padding (86 characters), so the same
string goes into the QR code's URL unchanged.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field

from certflow.certificates.canonical import (
    CertificateData,
    canonical_bytes,
    canonical_json,
)
from certflow.certificates.keys import KeyRing
from certflow.certificates.keys import key_id as compute_key_id
from certflow.i18n import t
from certflow.identity import could_be_id_number
from certflow.models import Model
from certflow.privacy import holds_code, holds_id_number, holds_name
from certflow.text import visible
from certflow.timeutil import CST

STATUS_LIST_SCHEMA = "certflow-status-list-v1"

# Past this age a verifier is told that its status list is out of date: the
# web service signs a new list on every request, and a revocation takes effect
# the day it is made, so a list a week old may well miss one.
STATUS_LIST_MAX_AGE = timedelta(days=7)


class Verdict(StrEnum):
    """What a signature check found. Revocation is judged separately."""

    VALID = "valid"
    TAMPERED = "tampered"  # the bytes are not what the named key signed
    UNKNOWN_KEY = "unknown_key"  # the named key is not in the verifier's key ring


class SignedCertificate(Model):
    """Certificate data with the id of the signing key and the signature."""

    data: CertificateData
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    signature_b64: str


def encode_signature(signature: bytes) -> str:
    """Encode a raw signature as URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii")


def decode_signature(text: str) -> bytes | None:
    """Decode a signature string; ``None`` if it is not 64 bytes of base64url
    as :func:`encode_signature` writes them.

    Only that one spelling: the last of 86 characters carries 2 bits of the
    signature and 4 spare ones, and a character differing only there decodes
    to the same bytes. A link or a file so altered is altered, and said so.
    """
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 64 or encode_signature(raw) != text:
        return None
    return raw


def sign_bytes(message: bytes, private_key: Ed25519PrivateKey) -> str:
    """Sign ``message`` and return the encoded signature."""
    return encode_signature(private_key.sign(message))


def verify_bytes(
    message: bytes, kid: str, signature_b64: str, keyring: KeyRing
) -> Verdict:
    """Check that the key ``kid`` of ``keyring`` signed exactly ``message``."""
    public = keyring.get(kid)
    if public is None:
        return Verdict.UNKNOWN_KEY
    signature = decode_signature(signature_b64)
    if signature is None:
        return Verdict.TAMPERED
    try:
        public.verify(signature, message)
    except InvalidSignature:
        return Verdict.TAMPERED
    return Verdict.VALID


def _checked_key_id(private_key: Ed25519PrivateKey, kid: str | None) -> str:
    actual = compute_key_id(private_key)
    if kid is not None and kid != actual:
        raise ValueError(
            f"Key id {kid} does not belong to this private key (its id is {actual})."
        )
    return actual


def sign(
    data: CertificateData, private_key: Ed25519PrivateKey, key_id: str | None = None
) -> SignedCertificate:
    """Sign a certificate's canonical bytes with the organisation's current key.

    ``key_id`` is checked against the key (it is computed when omitted), so a
    certificate can never name a key that did not sign it.
    """
    kid = _checked_key_id(private_key, key_id)
    signature = sign_bytes(canonical_bytes(data), private_key)
    return SignedCertificate(data=data, key_id=kid, signature_b64=signature)


def verify(signed: SignedCertificate, keyring: KeyRing) -> Verdict:
    """Check a signed certificate against the trusted keys (any rotation era)."""
    return verify_bytes(
        canonical_bytes(signed.data), signed.key_id, signed.signature_b64, keyring
    )


class RevocationEntry(Model):
    """One revoked certificate: its number, the day it was revoked, and why."""

    number: str
    revoked_on: date
    reason: str = ""


def public_reason(reason: str, holder: str, codes: Iterable[str] = ()) -> str:
    """A revocation reason as it may be shown to anyone who asks.

    ``reason`` itself, unless it names ``holder`` (the certificate's holder,
    as :func:`~certflow.privacy.holds_name` reads a name), holds one of
    ``codes`` (the holder's admission number and document number, as far as
    the caller knows them, :func:`~certflow.privacy.holds_code`) or holds
    what could be an identity number: then a neutral text saying it is
    withheld. Revoking refuses such reasons now, but reasons stored before it
    did are published (status list, verification pages, ``certflow verify``)
    through here, and kept whole only in the records and their audit trail.

    A character that shows as nothing or turns the text around it (a
    right-to-left override, a zero-width space, a control character) is
    published as its code point, ``<U+202E>``, as every mail shows it
    (:func:`~certflow.text.visible`), and a line break or a tab as a space:
    the organisation's public page never shows a reason other than it reads.
    """
    if not reason.strip():
        return reason
    personal = (
        holds_name(reason, holder)
        or holds_id_number(reason)
        or could_be_id_number(reason)
        or any(holds_code(reason, code) for code in codes)
    )
    if personal:
        return t("certificates.revocation_reason_withheld")
    # One line: line breaks and tabs (and every other space) as one space.
    return visible(" ".join(reason.split()))


class StatusList(Model):
    """证书状态列表: every revoked certificate, as of ``issued_at``.

    A verifier holding a recent list can tell a revoked certificate from a
    valid one without asking any server. Numbers not listed are not revoked.
    """

    issued_at: datetime
    entries: list[RevocationEntry] = Field(default_factory=list)

    def find(self, number: str) -> RevocationEntry | None:
        """Return the revocation of ``number``, or ``None`` if it is not revoked."""
        for entry in self.entries:
            if entry.number == number:
                return entry
        return None

    @property
    def issued_on(self) -> date:
        """The day the list was issued, in China Standard Time."""
        return _in_cst(self.issued_at).date()

    def covers(self, issued_on: date) -> bool:
        """Whether the list can speak of a certificate issued on ``issued_on``.

        A list issued before the certificate was cannot have it among its
        entries, revoked or not: its silence says nothing.
        """
        return self.issued_on >= issued_on

    def out_of_date(self, now: datetime) -> bool:
        """Whether the list is older than :data:`STATUS_LIST_MAX_AGE` at ``now``."""
        return _in_cst(now) - _in_cst(self.issued_at) > STATUS_LIST_MAX_AGE


class SignedStatusList(Model):
    """A status list with the id of the signing key and the signature."""

    status_list: StatusList
    key_id: str = Field(pattern=r"^[0-9a-f]{16}$")
    signature_b64: str


def _in_cst(moment: datetime) -> datetime:
    """``moment`` in China Standard Time; a moment without an offset is taken
    to be written in it, as every time of the process is."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=CST)
    return moment.astimezone(CST)


def status_list_time(
    now: datetime, entries: Iterable[RevocationEntry], newest: date | None = None
) -> datetime:
    """When a status list of ``entries`` made at ``now`` is dated.

    ``now`` to the second, unless the clock is behind the records the list
    speaks of (a demo or training stack whose certificates and revocations are
    dated on a clock ahead of this one): then the start of the latest day among
    the revocations and ``newest``, the issue date of the newest certificate on
    record. A list is thus never dated before a revocation it lists, nor before
    a certificate it speaks of.
    """
    at = _in_cst(now).replace(microsecond=0)
    days = [entry.revoked_on for entry in entries]
    latest = max([*days, newest] if newest else days, default=None)
    if latest is not None and latest > at.date():
        return datetime.combine(latest, time(0), tzinfo=CST)
    return at


def status_list_bytes(status_list: StatusList) -> bytes:
    """Return the canonical bytes of a status list (entries sorted by number)."""
    fields = status_list.model_dump(mode="json")
    fields["entries"] = sorted(fields["entries"], key=lambda e: e["number"])
    return canonical_json({"schema": STATUS_LIST_SCHEMA, **fields})


def sign_status_list(
    status_list: StatusList, private_key: Ed25519PrivateKey, key_id: str | None = None
) -> SignedStatusList:
    """Sign a status list so that verifiers can trust a copy from anywhere.

    Raises ``ValueError`` for a list dated before one of its revocations (a
    clock behind the records: date it with :func:`status_list_time`).
    """
    late = [e for e in status_list.entries if e.revoked_on > status_list.issued_on]
    if late:
        raise ValueError(
            f"The status list is dated {status_list.issued_on}, before a "
            f"revocation it lists (of {late[0].revoked_on}): date it with "
            "status_list_time."
        )
    kid = _checked_key_id(private_key, key_id)
    signature = sign_bytes(status_list_bytes(status_list), private_key)
    return SignedStatusList(
        status_list=status_list, key_id=kid, signature_b64=signature
    )


def verify_status_list(signed: SignedStatusList, keyring: KeyRing) -> Verdict:
    """Check a signed status list against the trusted keys."""
    return verify_bytes(
        status_list_bytes(signed.status_list),
        signed.key_id,
        signed.signature_b64,
        keyring,
    )
