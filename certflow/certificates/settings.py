"""The e-certificate part of the configuration, ready to nest in ``Settings``.

``[certificates]`` in the TOML file: where the signing key and the trusted public
keys live, the verification page's base URL, the font override and the number
scheme. Key files are read when asked for, never stored in workflow history.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from certflow.certificates.keys import KeyRing, SigningKey
from certflow.certificates.numbering import NumberScheme
from certflow.models import Model


class CertificateSettings(Model):
    """How the worker signs and renders certificates, and what verifiers trust.

    ``public_key_files`` lists every public key ever used for signing (current
    and retired), so certificates from before a key rotation keep verifying.
    """

    signing_key_file: Path | None = None
    public_key_files: list[Path] = Field(default_factory=list)
    verify_url_base: str = "https://zhengshu.example.org"
    font_path: Path | None = None
    numbering: NumberScheme = Field(default_factory=NumberScheme)

    def signing_key(self) -> SigningKey:
        """Read the private key file; raise naming the setting when it is missing."""
        if self.signing_key_file is None:
            raise ValueError(
                "certificates.signing_key_file is not configured; generate a key "
                "pair and point it at the private key PEM."
            )
        return SigningKey.load(self.signing_key_file.read_bytes())

    def keyring(self) -> KeyRing:
        """Read the trusted public keys, plus the current key's own public half."""
        keys = [path.read_bytes() for path in self.public_key_files]
        ring = KeyRing.from_public_keys(keys)
        if self.signing_key_file is not None and self.signing_key_file.exists():
            own = self.signing_key().private_key.public_key()
            ring = KeyRing.from_public_keys([*ring.keys.values(), own])
        return ring
