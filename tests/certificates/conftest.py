"""Shared fixtures of the e-certificate tests: keys and a sample certificate."""

from __future__ import annotations

import pytest
from certificate_samples import make_data

from certflow.certificates import (
    CertificateData,
    KeyRing,
    SigningKey,
    generate_keypair,
)


@pytest.fixture(scope="session")
def keypair() -> tuple[bytes, bytes]:
    """The organisation's current (private PEM, public PEM)."""
    return generate_keypair()


@pytest.fixture(scope="session")
def signing_key(keypair: tuple[bytes, bytes]) -> SigningKey:
    return SigningKey.load(keypair[0])


@pytest.fixture(scope="session")
def keyring(keypair: tuple[bytes, bytes]) -> KeyRing:
    return KeyRing.from_public_keys([keypair[1]])


@pytest.fixture
def data() -> CertificateData:
    sample: CertificateData = make_data()
    return sample
