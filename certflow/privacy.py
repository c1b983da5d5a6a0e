"""Masking of personal data where staff do not need it whole."""

from __future__ import annotations


def mask_id_number(value: str) -> str:
    """Mask an identity document number, keeping its first 4 and last 4 characters.

    Short values keep only their last character, so nothing identifying is left.
    """
    text = value.strip()
    if len(text) <= 8:
        return "*" * max(len(text) - 1, 0) + text[-1:]
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def mask_name(value: str) -> str:
    """Mask a person's name, keeping its first character: 黎芬 -> 黎*."""
    text = value.strip()
    if not text:
        return text
    return text[0] + "*" * (len(text) - 1)
