"""The shape of a mail address, as a form or a staff member gives one.

A simple, well-known shape (``local@domain.tld``, no spaces, no display name),
checked without the network: it catches a name or a phone number typed where
the address goes, not an address that does not exist. The invoice details form
and correction requests share it.
"""

from __future__ import annotations

import re

# RFC 5321 limits a path to 256 octets, so an address to 254 characters.
MAIL_ADDRESS_MAX_LENGTH = 254
_MAIL_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def is_mail_address(text: str) -> bool:
    """Whether ``text`` (already trimmed) has the shape of a mail address."""
    return len(text) <= MAIL_ADDRESS_MAX_LENGTH and bool(_MAIL_ADDRESS.fullmatch(text))
