"""Decoding the text of real-world Chinese mail: charsets, encoded words, filenames.

Chinese mail clients label GBK text "gb2312" (GB2312 lacks many name characters,
such as 镕 or 喆), split one character's bytes across two RFC 2047 encoded words,
and some put raw 8-bit GBK or UTF-8 in headers. The standard library trips on each
of these, so headers and bodies are decoded here with those habits in mind.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re
from email.message import Message
from email.policy import Compat32

# Every GB-family label is read as GB18030, the superset that decodes them all.
_GB_FAMILY = {
    "gb2312",
    "gb_2312",
    "gb_2312-80",
    "gbk",
    "x-gbk",
    "cp936",
    "ms936",
    "windows-936",
    "euc-cn",
    "euccn",
    "x-euc-cn",
    "csgb2312",
    "gb18030",
}
_ENCODED_WORD = re.compile(
    r"=\?(?P<charset>[^?*\s]+)(?:\*[^?]*)?\?(?P<encoding>[bBqQ])\?(?P<text>[^?]*)\?="
)
_FOLD = re.compile(r"\r?\n[ \t]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class RawHeaderPolicy(Compat32):
    """Compat32, but headers are returned exactly as received (still folded).

    The stock policy turns headers holding 8-bit bytes into ``Header`` objects
    that have lost which charset the bytes were in; the raw text keeps them
    (as surrogate escapes) for ``decode_header_text`` to guess.
    """

    def header_fetch_parse(self, name: str, value: str) -> str:
        return value


RAW = RawHeaderPolicy()


def codec_for(charset: str | None) -> str | None:
    """Return the Python codec for a MIME charset label, or None if unknown."""
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    if not label.isascii():
        return None
    if label in _GB_FAMILY:
        return "gb18030"
    try:
        info = codecs.lookup(label)
    except (LookupError, ValueError):  # ValueError: a NUL byte in the label
        return None
    # "base64" or "hex" name codecs too, but not of text.
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_bytes(data: bytes, charset: str | None = None) -> str:
    """Decode text bytes in their declared charset, guessing when that fails.

    A wrong or missing label is common, so the guesses are UTF-8 (strict, which
    rarely passes by accident) and then GB18030.
    """
    tried: list[str] = []
    for codec in (codec_for(charset), "utf-8", "gb18030"):
        if codec is None or codec in tried:
            continue
        tried.append(codec)
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode(codec_for(charset) or "gb18030", errors="replace")


def _raw_bytes(text: str) -> bytes:
    return text.encode("ascii", errors="surrogateescape")


def clean_text(value: str) -> str:
    """Turn a raw header fragment (8-bit bytes kept as surrogates) into text."""
    try:
        return decode_bytes(_raw_bytes(value))
    except UnicodeEncodeError:
        # Already text (not from the bytes parser): nothing to undo.
        return value


def decode_header_text(value: str | None) -> str:
    """Decode a raw header value: encoded words (B and Q) and raw 8-bit bytes.

    Adjacent encoded words in one charset are joined as bytes before decoding,
    because some clients cut a two-byte character in half at the word boundary.
    """
    if not value:
        return ""
    unfolded = _FOLD.sub(" ", value).strip()
    pieces: list[tuple[str | None, bytes]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(unfolded):
        between = unfolded[position : match.start()]
        # Whitespace between two encoded words is folding, not text (RFC 2047 6.2).
        if between and not (between.isspace() and pieces and pieces[-1][0]):
            pieces.append((None, _raw_bytes(between)))
        data = _word_bytes(match.group("encoding"), match.group("text"))
        charset = match.group("charset")
        if data is None:
            pieces.append((None, _raw_bytes(match.group(0))))
        elif (
            pieces and pieces[-1][0] and codec_for(pieces[-1][0]) == codec_for(charset)
        ):
            pieces[-1] = (pieces[-1][0], pieces[-1][1] + data)
        else:
            pieces.append((charset, data))
        position = match.end()
    if position < len(unfolded):
        pieces.append((None, _raw_bytes(unfolded[position:])))
    text = "".join(decode_bytes(data, charset) for charset, data in pieces)
    # An encoded word may hide line breaks or NULs; as header text they would
    # break (or inject into) the headers of a reply that quotes it.
    return _CONTROL.sub(" ", text).strip()


def _word_bytes(encoding: str, text: str) -> bytes | None:
    try:
        if encoding in "bB":
            # Some clients drop the trailing padding.
            return base64.b64decode(text + "=" * (-len(text) % 4))
        return quopri.decodestring(text.replace("_", " ").encode("ascii"), header=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None


def part_filename(part: Message) -> str:
    """Return an attachment's filename, however the client encoded it.

    Tries Content-Disposition ``filename`` then Content-Type ``name``, each as
    RFC 2231 (``filename*=gbk''%B3%C9…``, with continuations), as RFC 2047
    encoded words inside quotes (Outlook, Foxmail), or as raw 8-bit text.
    """
    for param, header in (
        ("filename", "content-disposition"),
        ("name", "content-type"),
    ):
        value = part.get_param(param, header=header)
        if value is None:
            continue
        if isinstance(value, tuple):
            charset, _language, text = value
            raw = bytes(text, "raw-unicode-escape")
            return decode_bytes(raw, charset).strip()
        return decode_header_text(str(value).strip('"'))
    return ""


def part_text(part: Message) -> str:
    """Return the decoded text of a text/* part (transfer encoding and charset)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    return decode_bytes(payload, part.get_content_charset())
