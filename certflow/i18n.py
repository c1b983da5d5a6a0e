"""The message catalogue: every text addressed to people, in Simplified Chinese.

Texts live in ``certflow/messages/*.zh.toml`` (one file per area, keys namespaced
by the file's stem: ``intake.bad_check_character``), never in code strings.
Templates use ``str.format`` fields.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any


@cache
def catalogue() -> dict[str, str]:
    """Return every message, keyed ``area.key``; loaded once per process."""
    merged: dict[str, str] = {}
    folder = resources.files("certflow") / "messages"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".zh.toml"):
            continue
        area = entry.name.removesuffix(".zh.toml")
        table = tomllib.loads(entry.read_text(encoding="utf-8"))
        _flatten(area, table, merged)
    return merged


def _flatten(prefix: str, table: dict[str, Any], into: dict[str, str]) -> None:
    for key, value in table.items():
        name = f"{prefix}.{key}"
        if isinstance(value, dict):
            _flatten(name, value, into)
        else:
            into[name] = str(value)


def t(key: str, /, **fields: object) -> str:
    """Return the message ``key`` with ``fields`` filled in.

    A missing key is a programming error and raises ``KeyError`` naming it, so a
    test catches it before staff ever see a blank message.
    """
    try:
        template = catalogue()[key]
    except KeyError:
        raise KeyError(f"message {key!r} is not in the catalogue") from None
    return template.format(**fields) if fields else template


def t_or(default: str, *keys: str) -> str:
    """The first of ``keys`` the catalogue holds, else ``default``.

    For words looked up by a code that may be new to the catalogue (an action,
    a field, a stored value): staff see the code rather than an error.
    """
    messages = catalogue()
    return next((messages[key] for key in keys if key in messages), default)
