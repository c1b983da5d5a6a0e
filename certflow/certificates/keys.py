"""Ed25519 signing keys: generation, loading, key ids and the verifying key ring.

A key id is the first 16 hex digits of SHA-256 over the 32-byte raw public key.
Every signature names its key id, so keys can be rotated: a new private key signs
from some day on, and the key ring keeps every public key ever used, so older
certificates keep verifying.
"""

from __future__ import annotations

import codecs
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)


class InvalidKeyError(ValueError):
    """Key material that is not an Ed25519 key in a supported encoding.

    The text is the library's, for logs; ``kind`` says which for people:
    ``not_pem`` (no unencrypted PEM key of the kind asked for),
    ``not_ed25519`` (a key of another algorithm), ``not_key_list`` (JSON that is
    not a published key list) or ``key_id_mismatch`` (a listed key whose id is
    not the id of its key).
    """

    def __init__(self, message: str, kind: str = "not_pem") -> None:
        super().__init__(message)
        self.kind = kind


def generate_keypair() -> tuple[bytes, bytes]:
    """Return a new (private key PEM, public key PEM) pair.

    The private key is PKCS#8 PEM without encryption: store it where only the
    issuing worker can read it (file mode 0600); publish the public key.
    """
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return private_pem, public_pem(private.public_key())


def public_pem(public: Ed25519PublicKey) -> bytes:
    """Return the SubjectPublicKeyInfo PEM of a public key."""
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def load_private_key(pem_or_raw: bytes) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from PKCS#8 PEM or its 32 raw bytes."""
    if len(pem_or_raw) == 32:
        return Ed25519PrivateKey.from_private_bytes(pem_or_raw)
    key = _load_pem(
        lambda: serialization.load_pem_private_key(pem_or_raw, password=None)
    )
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidKeyError(
            f"Expected an Ed25519 key, got {type(key).__name__}.", "not_ed25519"
        )
    return key


def load_public_key(pem_or_raw: bytes) -> Ed25519PublicKey:
    """Load an Ed25519 public key from SubjectPublicKeyInfo PEM or 32 raw bytes."""
    if len(pem_or_raw) == 32:
        return Ed25519PublicKey.from_public_bytes(pem_or_raw)
    key = _load_pem(lambda: serialization.load_pem_public_key(pem_or_raw))
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidKeyError(
            f"Expected an Ed25519 key, got {type(key).__name__}.", "not_ed25519"
        )
    return key


def key_list(keys: Iterable[tuple[str, bytes]]) -> dict[str, list[dict[str, str]]]:
    """The published list of public keys (``/keys.json``) from (key id, PEM) pairs.

    :func:`load_public_keys` reads it back.
    """
    return {
        "keys": [
            {"key_id": kid, "public_key_pem": pem.decode("ascii")} for kid, pem in keys
        ]
    }


def load_public_keys(data: bytes) -> list[Ed25519PublicKey]:
    """Load the public keys of a file: one PEM (or raw) key, or a published list.

    The list is what the certificate web service serves at ``/keys.json``:
    ``{"keys": [{"key_id": ..., "public_key_pem": ...}, ...]}``. Each listed
    id must be the id of its key, so a damaged or edited list is refused
    rather than trusted under wrong names.
    """
    if len(data) != 32:
        # Saved by an editor on Windows: a byte order mark before the text.
        data = data.removeprefix(codecs.BOM_UTF8)
    if len(data) == 32 or not data.lstrip().startswith(b"{"):
        return [load_public_key(data)]  # 32 bytes are a raw key, "{" or not
    try:
        listed = json.loads(data)["keys"]
        entries = [(str(e["key_id"]), str(e["public_key_pem"])) for e in listed]
    except (ValueError, TypeError, KeyError):
        raise InvalidKeyError("Not a key list of /keys.json.", "not_key_list") from None
    if not entries:
        raise InvalidKeyError("The key list holds no key.", "not_key_list")
    keys = []
    for listed_id, pem in entries:
        public = load_public_key(pem.encode("ascii", "replace"))
        if key_id(public) != listed_id:
            raise InvalidKeyError(
                f"Key {listed_id} of the list is another key.", "key_id_mismatch"
            )
        keys.append(public)
    return keys


def _load_pem(loader: Callable[[], object]) -> object:
    try:
        return loader()
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise InvalidKeyError(f"Not an unencrypted PEM key: {exc}") from None


def key_id(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """Return the key id: first 16 hex digits of SHA-256 of the raw public key."""
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    raw = public.public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class KeyRing:
    """The public keys a verifier trusts, by key id (current and retired ones)."""

    keys: Mapping[str, Ed25519PublicKey] = field(default_factory=dict)

    @classmethod
    def from_public_keys(cls, keys: Iterable[bytes | Ed25519PublicKey]) -> KeyRing:
        """Build a ring from PEM/raw public keys, computing each key id."""
        ring: dict[str, Ed25519PublicKey] = {}
        for item in keys:
            public = (
                item if isinstance(item, Ed25519PublicKey) else load_public_key(item)
            )
            ring[key_id(public)] = public
        return cls(ring)

    def get(self, kid: str) -> Ed25519PublicKey | None:
        """Return the public key named ``kid``, or ``None`` if it is not trusted."""
        return self.keys.get(kid)

    def __contains__(self, kid: object) -> bool:
        return kid in self.keys


@dataclass(frozen=True)
class SigningKey:
    """The private key that signs new certificates, with its key id."""

    private_key: Ed25519PrivateKey
    key_id: str

    @classmethod
    def load(cls, pem_or_raw: bytes) -> SigningKey:
        """Load a private key (PEM or raw) and compute its key id."""
        private = load_private_key(pem_or_raw)
        return cls(private, key_id(private))
