"""Canonical form, Ed25519 signatures, key rotation and the signed status list."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time

import pytest
from certificate_samples import make_data
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from certflow.certificates import (
    CertificateData,
    InvalidKeyError,
    KeyRing,
    PayloadError,
    RevocationEntry,
    SignedCertificate,
    SigningKey,
    StatusList,
    Verdict,
    canonical_bytes,
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    sign,
    sign_status_list,
    status_list_time,
    verify,
    verify_bytes,
    verify_status_list,
)
from certflow.certificates.pdf import parse_payload, payload_bytes
from certflow.timeutil import CST


def test_canonical_bytes_are_sorted_compact_utf8(data: CertificateData) -> None:
    raw = canonical_bytes(data)
    decoded = json.loads(raw)
    assert list(decoded) == sorted(decoded)
    assert decoded["schema"] == "certflow-certificate-v1"
    assert decoded["issued_on"] == "2026-12-04"
    assert decoded["level"] == "intermediate"
    assert "买买提·艾力".encode() in raw
    assert b": " not in raw and b", " not in raw and b"\n" not in raw


# A certificate signed before certificates named their font, as
# docs/certificates.md shows it: its bytes, and so its signature, never change.
SIGNED_BEFORE_FONTS = (
    '{"candidate_name":"黎芬","certificate":"汽车运用与维修",'
    '"id_number":"65010219990101123X","id_type":"居民身份证",'
    '"issued_on":"2026-12-04","level":"intermediate","module_code":"1-1",'
    '"module_name":"汽车动力与驱动综合分析技术","number":"ZCX2026QCYY2000001",'
    '"organisation":"北京中车行高新技术有限公司","plan_id":"P2026-HB-0031",'
    '"schema":"certflow-certificate-v1",'
    '"verify_url_base":"https://zhengshu.example.org"}'
).encode()


def test_a_certificate_naming_its_font_is_signed_under_its_own_schema(
    signing_key: SigningKey, keyring: KeyRing
) -> None:
    before = make_data(name="黎芬")
    named = before.model_copy(update={"font": "WenQuanYiMicroHei:0123456789abcdef"})

    assert canonical_bytes(before) == SIGNED_BEFORE_FONTS
    decoded = json.loads(canonical_bytes(named))
    assert decoded["schema"] == "certflow-certificate-v2"
    assert decoded["font"] == "WenQuanYiMicroHei:0123456789abcdef"
    # The font is signed: naming another face breaks the signature.
    signed = sign(named, signing_key.private_key)
    other = named.model_copy(update={"font": "NotoSerifCJKSC:0123456789abcdef"})
    assert verify(signed, keyring) is Verdict.VALID
    assert verify(signed.model_copy(update={"data": other}), keyring) is (
        Verdict.TAMPERED
    )
    # A payload whose schema and fields disagree was edited after signing.
    payload = payload_bytes(signed)
    with pytest.raises(PayloadError):
        parse_payload(payload.replace(b"certificate-v2", b"certificate-v1"))
    assert parse_payload(payload) == signed


def test_canonical_bytes_normalise_to_nfc() -> None:
    composed = make_data(name="Zoë 黎芬")
    decomposed = make_data(name="Zoe\u0308 黎芬")
    assert composed.candidate_name != decomposed.candidate_name
    assert canonical_bytes(composed) == canonical_bytes(decomposed)


def test_key_id_is_sha256_prefix_of_the_raw_public_key(
    keypair: tuple[bytes, bytes],
) -> None:
    public = load_public_key(keypair[1])
    raw = public.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    assert key_id(public) == hashlib.sha256(raw).hexdigest()[:16]
    assert key_id(load_private_key(keypair[0])) == key_id(public)
    assert key_id(load_public_key(raw)) == key_id(public)


def test_raw_private_key_loads_like_pem(keypair: tuple[bytes, bytes]) -> None:
    private = load_private_key(keypair[0])
    raw = private.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    assert key_id(load_private_key(raw)) == key_id(private)


def test_keys_of_other_algorithms_or_garbage_are_refused() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_pem = rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(InvalidKeyError, match="Ed25519"):
        load_private_key(rsa_pem)
    with pytest.raises(InvalidKeyError):
        load_public_key(
            b"-----BEGIN PUBLIC KEY-----\nnonsense\n-----END PUBLIC KEY-----\n"
        )


def test_a_signed_certificate_verifies(
    data: CertificateData, signing_key: SigningKey, keyring: KeyRing
) -> None:
    signed = sign(data, signing_key.private_key, signing_key.key_id)
    assert signed.key_id == signing_key.key_id
    assert len(signed.signature_b64) == 86
    assert verify(signed, keyring) is Verdict.VALID


def test_every_single_byte_change_of_the_canonical_data_fails(
    data: CertificateData, signing_key: SigningKey, keyring: KeyRing
) -> None:
    signed = sign(data, signing_key.private_key)
    message = canonical_bytes(data)
    for index in range(len(message)):
        changed = bytearray(message)
        changed[index] ^= 0x01
        verdict = verify_bytes(
            bytes(changed), signed.key_id, signed.signature_b64, keyring
        )
        assert verdict is Verdict.TAMPERED, index


@settings(max_examples=300, deadline=None)
@given(position=st.floats(0, 1, exclude_max=True), replacement=st.integers(0, 255))
def test_any_byte_replaced_by_any_other_value_fails(
    position: float, replacement: int, signing_key: SigningKey, keyring: KeyRing
) -> None:
    data = make_data()
    signed = sign(data, signing_key.private_key)
    message = bytearray(canonical_bytes(data))
    index = int(position * len(message))
    if message[index] == replacement:
        replacement ^= 0xFF
    message[index] = replacement
    verdict = verify_bytes(bytes(message), signed.key_id, signed.signature_b64, keyring)
    assert verdict is Verdict.TAMPERED


@pytest.mark.parametrize(
    "change",
    [
        {"candidate_name": "买买提·艾丽"},
        {"id_number": "65010219990101124X"},
        {"level": "advanced"},
        {"issued_on": date(2026, 12, 5)},
        {"verify_url_base": "https://evil.example.org"},
    ],
)
def test_a_changed_field_fails(
    change: dict[str, object], signing_key: SigningKey, keyring: KeyRing
) -> None:
    signed = sign(make_data(), signing_key.private_key)
    forged = signed.model_copy(update={"data": make_data(**change)})
    assert verify(forged, keyring) is Verdict.TAMPERED


def test_a_damaged_signature_string_fails(
    data: CertificateData, signing_key: SigningKey, keyring: KeyRing
) -> None:
    signed = sign(data, signing_key.private_key)
    for bad in ("", "!!!!", signed.signature_b64[:-4]):
        damaged = signed.model_copy(update={"signature_b64": bad})
        assert verify(damaged, keyring) is Verdict.TAMPERED


def test_a_key_not_in_the_ring_is_unknown(
    data: CertificateData, keyring: KeyRing
) -> None:
    stranger = SigningKey.load(generate_keypair()[0])
    signed = sign(data, stranger.private_key)
    assert verify(signed, keyring) is Verdict.UNKNOWN_KEY


def test_a_signature_claiming_a_trusted_key_id_is_tampered(
    data: CertificateData, signing_key: SigningKey, keyring: KeyRing
) -> None:
    stranger = SigningKey.load(generate_keypair()[0])
    by_stranger = sign(data, stranger.private_key)
    claimed = SignedCertificate(
        data=data, key_id=signing_key.key_id, signature_b64=by_stranger.signature_b64
    )
    assert verify(claimed, keyring) is Verdict.TAMPERED


def test_sign_refuses_a_key_id_that_is_not_the_keys(
    data: CertificateData, signing_key: SigningKey
) -> None:
    with pytest.raises(ValueError, match="does not belong"):
        sign(data, signing_key.private_key, "0" * 16)


def test_rotated_keys_keep_old_certificates_valid(data: CertificateData) -> None:
    old_private, old_public = generate_keypair()
    new_private, new_public = generate_keypair()
    old_cert = sign(data, load_private_key(old_private))
    new_cert = sign(make_data(seq=2), load_private_key(new_private))
    assert old_cert.key_id != new_cert.key_id

    ring = KeyRing.from_public_keys([old_public, new_public])
    assert verify(old_cert, ring) is Verdict.VALID
    assert verify(new_cert, ring) is Verdict.VALID

    only_new = KeyRing.from_public_keys([new_public])
    assert verify(old_cert, only_new) is Verdict.UNKNOWN_KEY
    assert verify(new_cert, only_new) is Verdict.VALID


def _status_list() -> StatusList:
    return StatusList(
        issued_at=datetime(2026, 12, 20, 9, 30, tzinfo=CST),
        entries=[
            RevocationEntry(
                number="ZCX2026QCYY2000002",
                revoked_on=date(2026, 12, 18),
                reason="成绩更正",
            ),
            RevocationEntry(number="ZCX2026QCYY2000001", revoked_on=date(2026, 12, 19)),
        ],
    )


def test_status_list_signature_verifies_and_ignores_entry_order(
    signing_key: SigningKey, keyring: KeyRing
) -> None:
    signed = sign_status_list(_status_list(), signing_key.private_key)
    assert verify_status_list(signed, keyring) is Verdict.VALID

    reordered = signed.model_copy(
        update={
            "status_list": StatusList(
                issued_at=signed.status_list.issued_at,
                entries=list(reversed(signed.status_list.entries)),
            )
        }
    )
    assert verify_status_list(reordered, keyring) is Verdict.VALID


def test_an_edited_status_list_fails(signing_key: SigningKey, keyring: KeyRing) -> None:
    signed = sign_status_list(_status_list(), signing_key.private_key)
    entries = list(signed.status_list.entries[1:])  # an entry silently dropped
    edited = signed.model_copy(
        update={
            "status_list": StatusList(
                issued_at=signed.status_list.issued_at, entries=entries
            )
        }
    )
    assert verify_status_list(edited, keyring) is Verdict.TAMPERED


@pytest.mark.parametrize(
    "change",
    [{"reason": "已撤销"}, {"reason": ""}, {"revoked_on": date(2026, 12, 17)}],
)
def test_an_edited_revocation_entry_fails(
    change: dict[str, object], signing_key: SigningKey, keyring: KeyRing
) -> None:
    """Audit: the signature over a status list was shown to cover which
    entries it lists, not what each says; a reason or a revocation day
    edited in a copy must be as tampered as an entry dropped."""
    signed = sign_status_list(_status_list(), signing_key.private_key)
    first, *rest = signed.status_list.entries
    edited = signed.model_copy(
        update={
            "status_list": StatusList(
                issued_at=signed.status_list.issued_at,
                entries=[first.model_copy(update=change), *rest],
            )
        }
    )
    assert verify_status_list(edited, keyring) is Verdict.TAMPERED


def test_a_certificate_signature_is_no_status_list_signature(
    data: CertificateData, signing_key: SigningKey, keyring: KeyRing
) -> None:
    cert = sign(data, signing_key.private_key)
    signed_list = sign_status_list(_status_list(), signing_key.private_key)
    swapped = signed_list.model_copy(update={"signature_b64": cert.signature_b64})
    assert verify_status_list(swapped, keyring) is Verdict.TAMPERED


def test_a_raw_key_that_starts_like_json_is_read_as_a_key() -> None:
    """A raw 32-byte public key is one key whatever its first byte: one that
    happens to be "{" was taken for the web service's key list and refused."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from certflow.certificates.keys import key_id, load_public_keys

    while True:
        public = Ed25519PrivateKey.generate().public_key()
        raw = public.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        if raw.startswith(b"{"):
            break

    [loaded] = load_public_keys(raw)
    assert key_id(loaded) == key_id(public)


def test_a_list_on_a_clock_behind_its_records_is_dated_after_them() -> None:
    """Regression: the demo revoked a certificate on its simulated clock, weeks
    ahead, and published a list dated today, before the revocation it listed."""
    entries = _status_list().entries  # revoked 2026-12-18 and 2026-12-19
    behind = datetime(2026, 11, 5, 1, 2, 3, 456, tzinfo=UTC)
    ahead = datetime(2027, 1, 5, 1, 2, 3, 456, tzinfo=UTC)

    assert status_list_time(behind, entries) == datetime.combine(
        date(2026, 12, 19), time(0), tzinfo=CST
    )
    # The newest certificate on record counts too: a list speaks of it.
    assert status_list_time(behind, [], date(2026, 12, 4)) == datetime.combine(
        date(2026, 12, 4), time(0), tzinfo=CST
    )
    assert status_list_time(ahead, entries, date(2026, 12, 4)) == datetime(
        2027, 1, 5, 9, 2, 3, tzinfo=CST
    )


def test_a_list_dated_before_a_revocation_it_lists_is_not_signed(
    signing_key: SigningKey,
) -> None:
    early = StatusList(
        issued_at=datetime(2026, 12, 18, 23, 0, tzinfo=UTC),  # 12-19 07:00 CST
        entries=[
            RevocationEntry(number="ZCX2026QCYY2000001", revoked_on=date(2026, 12, 20))
        ],
    )
    with pytest.raises(ValueError, match="before a revocation"):
        sign_status_list(early, signing_key.private_key)
    same_day = early.model_copy(
        update={"issued_at": datetime(2026, 12, 19, 16, 0, tzinfo=UTC)}
    )
    assert sign_status_list(same_day, signing_key.private_key).status_list == same_day


def test_a_list_covers_the_certificates_issued_up_to_its_day_in_beijing() -> None:
    listed = StatusList(issued_at=datetime(2026, 12, 3, 16, 30, tzinfo=UTC))
    assert listed.issued_on == date(2026, 12, 4)  # 00:30 in Beijing
    assert listed.covers(date(2026, 12, 4)) and not listed.covers(date(2026, 12, 5))
    assert not listed.out_of_date(datetime(2026, 12, 10, 16, 30, tzinfo=UTC))
    assert listed.out_of_date(datetime(2026, 12, 10, 16, 31, tzinfo=UTC))
