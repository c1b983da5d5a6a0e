"""E-certificates: numbers, signed data, the PDF and its offline verification.

Everything here is pure domain code except reading the CJK font file; the
activities that allocate numbers, store PDFs and publish status lists call it.
"""

from certflow.certificates.canonical import (
    CERTIFICATE_SCHEMA,
    CertificateData,
    canonical_bytes,
    canonical_json,
)
from certflow.certificates.fonts import (
    FONT_ENV,
    FontNotFoundError,
    UnsupportedCharactersError,
    find_font,
    load_font,
    unsupported_characters,
)
from certflow.certificates.keys import (
    InvalidKeyError,
    KeyRing,
    SigningKey,
    generate_keypair,
    key_id,
    load_private_key,
    load_public_key,
    load_public_keys,
)
from certflow.certificates.numbering import (
    LEVEL_DIGITS,
    NumberScheme,
    NumberSchemeError,
)
from certflow.certificates.pdf import (
    ATTACHMENT_NAME,
    NotACertificateError,
    PayloadError,
    StatusListError,
    VerificationResult,
    VerificationStatus,
    check_scanned_record,
    extract_signed,
    render_pdf,
    verification_url,
    verify_pdf,
)
from certflow.certificates.signing import (
    RevocationEntry,
    SignedCertificate,
    SignedStatusList,
    StatusList,
    Verdict,
    sign,
    sign_status_list,
    status_list_bytes,
    verify,
    verify_bytes,
    verify_status_list,
)

__all__ = [
    "ATTACHMENT_NAME",
    "CERTIFICATE_SCHEMA",
    "FONT_ENV",
    "LEVEL_DIGITS",
    "CertificateData",
    "FontNotFoundError",
    "InvalidKeyError",
    "KeyRing",
    "NotACertificateError",
    "NumberScheme",
    "NumberSchemeError",
    "PayloadError",
    "RevocationEntry",
    "SignedCertificate",
    "SignedStatusList",
    "SigningKey",
    "StatusList",
    "StatusListError",
    "UnsupportedCharactersError",
    "Verdict",
    "VerificationResult",
    "VerificationStatus",
    "canonical_bytes",
    "canonical_json",
    "check_scanned_record",
    "extract_signed",
    "find_font",
    "generate_keypair",
    "key_id",
    "load_font",
    "load_private_key",
    "load_public_key",
    "load_public_keys",
    "render_pdf",
    "sign",
    "sign_status_list",
    "status_list_bytes",
    "unsupported_characters",
    "verification_url",
    "verify",
    "verify_bytes",
    "verify_pdf",
    "verify_status_list",
]
