"""Text as people type it and office suites keep it: half width, plain spaces, names.

Intake reads names from spreadsheets through :func:`normalise_name`, which
stores them with one "·" between their parts; the certificate web service
compares a name typed into its look-up form with the stored one by
:func:`name_key`, so a name typed with a space between its characters, another
dot between its parts or none, or in another case, finds the stored name.
What people type may also hold characters that show as nothing or move the
text around them (a right-to-left override, a zero-width space pasted from a
chat): :func:`visible` shows them when the text is repeated to staff or in a
mail. Pure code, no I/O, and light to import.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

# Full-width ASCII (U+FF01..U+FF5E) and the ideographic space map onto ASCII.
_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FULL_WIDTH[0x3000] = 0x20
_SPACES = re.compile(r"[\s\u00a0\u2000-\u200b\u202f\u205f\ufeff]+")

# The middle dot between the parts of a name (Uyghur, Tibetan, foreign names
# written in Chinese characters), and the characters typed in its place.
NAME_SEPARATOR = "·"
SEPARATOR_LOOKALIKES = "•・･‧∙⋅.．⸱ꞏ᛫"
# Han characters of every block: the BMP's unified ideographs, extension A and
# compatibility ideographs, and extensions B to I and the compatibility
# supplement on planes 2 and 3, where rare surnames and given names live.
HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U000323af"
_LETTER = rf"[{HAN}\u0600-\u06ffA-Za-z]"
_DOTS = re.escape(NAME_SEPARATOR + SEPARATOR_LOOKALIKES)
_SEPARATOR = re.compile(rf"(?<={_LETTER})\s*[{_DOTS}]\s*(?={_LETTER})")
_CJK_GAP = re.compile(rf"(?<=[{HAN}])\s+(?=[{HAN}])")


def halfwidth(text: str) -> str:
    """Return ``text`` with full-width ASCII and ideographic spaces made ASCII."""
    return text.translate(_FULL_WIDTH)


def _clean(text: str) -> str:
    return _SPACES.sub(" ", halfwidth(text)).strip()


@lru_cache(maxsize=4096)
def clean_unicode(text: str) -> str:
    """Return ``text`` half width and trimmed, each run of spaces made one space.

    Cached: module names, document types and statuses repeat on every row.
    Names do not go through the cache (see :func:`normalise_name`).
    """
    return _clean(text)


# Every dot written between the parts of a name, as NFKC leaves it: the name
# separator and its look-alikes, the Greek ano teleia (U+0387, NFKC's "·"), the
# Hangul araea (U+318D and the U+119E NFKC makes of it), a white bullet.
_NAME_DOTS = frozenset(NAME_SEPARATOR + SEPARATOR_LOOKALIKES + "\u0387\u318d\u119e◦")


def name_key(text: str) -> str:
    """A person's name as the look-up compares it: NFKC, case folded, without
    any dot between its parts and without any space or hidden character.

    ``买买提·艾力``, ``买买提艾力``, ``买买提 艾力`` and ``买买提ㆍ艾力`` have one
    key, as have ``John SMITH`` and ``JOHN SMITH``. For a look-up that also
    matches the ID number, never to tell two people apart: that is what the
    number is for.
    Traditional and simplified characters are not made one: ``陳`` and ``陈``
    keep their own keys.
    """
    folded = unicodedata.normalize(
        "NFKC", unicodedata.normalize("NFKC", text).casefold()
    )
    return "".join(
        ch
        for ch in folded
        if ch not in _NAME_DOTS
        and not ch.isspace()
        and not is_hidden(ch)
        and unicodedata.category(ch) != "Zs"
    )


def normalise_name(text: str) -> str:
    """Return a person's name with one "·" between its parts and no stray spaces.

    ``周 燕`` and ``周　燕`` read as ``周燕``, ``买买提・艾力`` as ``买买提·艾力``:
    the name as intake stores it and the certificate prints it.

    Not cached: each name is read once at intake, and the web service would
    otherwise keep the last few thousand names typed into its look-up form.
    """
    name = _SEPARATOR.sub(NAME_SEPARATOR, _clean(text))
    return _CJK_GAP.sub("", name)


# Control characters (Cc: escape, carriage return…), format characters (Cf:
# zero-width spaces and joiners, bidi overrides and isolates, the soft hyphen),
# the line and paragraph separators some viewers break lines at (Zl, Zp), and
# halves of a surrogate pair (Cs: bytes of a command line that are no UTF-8).
_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})
# What text repeated to staff keeps as it is: its own line breaks and tabs.
_LAYOUT = frozenset("\n\t")


def is_hidden(ch: str) -> bool:
    """Whether ``ch`` shows as nothing, or changes how the text around it shows."""
    return unicodedata.category(ch) in _HIDDEN_CATEGORIES


def hidden_in(text: str) -> list[str]:
    """The characters of ``text`` that are hidden (``is_hidden``), in order."""
    return [ch for ch in text if is_hidden(ch)]


def code_point(ch: str) -> str:
    """``ch`` named as Unicode charts name it: ``U+202E``."""
    return f"U+{ord(ch):04X}"


def code_points(chars: Iterable[str], most: int = 5) -> str:
    """The distinct characters of ``chars`` by code point, in order of first
    appearance, for a message saying which characters were refused:
    ``U+200B、U+202E``; past ``most`` of them an ellipsis stands for the rest."""
    named = [code_point(ch) for ch in dict.fromkeys(chars)]
    if len(named) > most:
        named = [*named[:most], "…"]
    return "、".join(named)


def visible(text: str) -> str:
    """``text`` with each hidden character (but a line feed or a tab) shown as
    its code point: ``<U+202E>``.

    For everything repeated from what people typed or sent: a right-to-left
    override in a spreadsheet cell would otherwise turn the rest of the
    terminal line (or the mail's line) around, and a zero-width space make two
    different values look the same.
    """
    if text.isprintable():
        return text
    return "".join(
        f"<{code_point(ch)}>" if ch not in _LAYOUT and is_hidden(ch) else ch
        for ch in text
    )


def without_hidden(text: str) -> str:
    """``text`` with every hidden character (:func:`is_hidden`) left out."""
    if text.isprintable():
        return text
    return "".join(ch for ch in text if not is_hidden(ch))


# A line end as Windows (CR LF), old Macs (CR) and the rest (LF) write it.
_LINE_END = re.compile(r"\r\n?")
# Every line end a text may hold, those of Unicode too: CR LF, CR, LF, the
# next-line control (NEL), the line and the paragraph separator.
_ANY_LINE_END = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


# What ends a sentence of a message: another may follow it directly.
_SENTENCE_ENDS = ("。", "！", "？", "…")


def sentences(texts: Iterable[str]) -> str:
    """Join messages as one text, each a sentence: one that ends without a
    full stop is given one, so two never meet as "…数字。；申请表…"."""
    return "".join(
        text if text.endswith(_SENTENCE_ENDS) else f"{text}。"
        for text in (text.strip() for text in texts)
        if text
    )


def line_feeds(text: str) -> str:
    """``text`` with each line end (CR LF, a CR alone) one line feed: a line
    break counts as one character, however the sender's machine wrote it."""
    return _LINE_END.sub("\n", text) if "\r" in text else text


def as_seen(text: str, *, multiline: bool) -> str:
    """``text`` as its reader sees it, for a text nobody can be asked to type
    again without what does not show (a mailed form).

    Each line end (CR LF, CR, NEL, a line or paragraph separator) is a line
    feed in a text of several lines (``multiline``), a space in a text of one;
    a tab is kept in a text of several lines; every other control character
    is a space; every format character (zero-width spaces and joiners, the
    soft hyphen, a BOM, bidi overrides and isolates) and half a surrogate
    pair is left out.
    """
    if text.isprintable():
        return text
    kept = []
    for ch in _ANY_LINE_END.sub("\n" if multiline else " ", text):
        if not is_hidden(ch) or (multiline and ch in _LAYOUT):
            kept.append(ch)
        elif unicodedata.category(ch) == "Cc":
            kept.append(" ")
    return "".join(kept)
