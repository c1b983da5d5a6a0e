"""Short-lived download links that carry no personal data.

A link names the certificate number, an expiry instant and an HMAC of both under
a secret derived from the signing key, so the server keeps no session and the
link cannot be widened to another certificate or a later time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization

from certflow.certificates import SigningKey

# Separates this use of the key from any other secret derived from it later.
_PURPOSE = b"certflow web download link v1"


def derive_secret(key: SigningKey) -> bytes:
    """Derive the link secret from the signing key: rotating the key voids links."""
    raw = key.private_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return hmac.new(raw, _PURPOSE, hashlib.sha256).digest()


@dataclass(frozen=True)
class DownloadLink:
    """The expiry (Unix seconds) and MAC that go into a download URL's query."""

    expires: int
    mac: str


class DownloadTokens:
    """Issues and checks download links for certificate numbers."""

    def __init__(
        self,
        secret: bytes,
        *,
        lifetime_seconds: int = 900,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self.lifetime_seconds = lifetime_seconds
        self._clock = clock

    def _mac(self, number: str, expires: int) -> str:
        message = f"{number}|{expires}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def issue(self, number: str) -> DownloadLink:
        """Return a link for ``number`` valid for ``lifetime_seconds`` from now."""
        expires = int(self._clock()) + self.lifetime_seconds
        return DownloadLink(expires=expires, mac=self._mac(number, expires))

    def check(self, number: str, expires: int, mac: str) -> bool:
        """Whether the link was issued here for ``number`` and has not expired.

        Any ``mac`` at all is answered: one of characters no MAC holds (a
        full-width bracket a chat app added) is no link issued here.
        """
        if not mac.isascii():
            # compare_digest takes no other text (it raised: a 500 at will).
            return False
        if expires < self._clock():
            return False
        # A link claiming a far-off expiry was not issued here, whatever its MAC.
        if expires > self._clock() + self.lifetime_seconds + 60:
            return False
        return hmac.compare_digest(self._mac(number, expires), mac)
