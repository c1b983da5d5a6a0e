"""Masking of personal data where staff do not need it whole.

A character that shows as nothing (a zero-width space, a direction mark) is no
part of what is masked: it is left out, so a masked name shows its first
letter that shows, and an ID number pasted with one is still found.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from certflow.id_parts import CHECK_LETTER, names_a_person
from certflow.text import halfwidth, is_hidden, without_hidden

# A run of 15 or more digits (full-width ones too, as input methods type them),
# with the check letter X if one follows: an identity number, typed right or not.
_ID_RUN = re.compile(r"(?<!\d)\d{15,}[XxＸｘ]?")
# The old 15-digit form typed in its groups, region, birth date (YYMMDD) and
# sequence (421002 050616 606): any digits, as any run of 15 counts.
_GROUPED_OLD_ID = re.compile(r"(?<!\d)\d{6}[ -]\d{6}[ -]\d{3}(?![\dXx])")
# An ID number typed in groups of any sizes (650102 1990 0101 0017, 650 102
# 1990 0101 0017, 650102.19900101.0017, 650102/1990/0101/0017), read half
# width and without hidden characters: groups of digits, the last one may end
# in the check letter (or the × and Cyrillic Х typed for it), and between them
# one to three of what people put there (a space of any width, a line break, a
# hyphen or a dash, a dot, a slash, an underscore, a comma) or a longer run of
# spaces (columns lined up by hand).
_GROUP = r"[0-9]+[XxХх×]?"
_GAP = r"(?:[\s\-\u2010-\u2015\u2212\ufe63.\u00b7\u30fb/_,]{1,3}|[^\S\n]{4,})"
_GROUPS = re.compile(_GROUP)
_GROUPED_RUN = re.compile(rf"(?<![0-9]){_GROUP}(?:{_GAP}{_GROUP})*")
# What parts groups though it shows as nothing: a line break, a tab.
_LAYOUT = frozenset("\n\t")
_EIGHTEEN = re.compile(r"[0-9]{17}[0-9X]")
_ID_LENGTH = 18
# People type an ID number in five groups at most (3-3-4-4-4, fours), six in
# threes; 18 digits in more groups are a list of small numbers (0, 1, 1, 2…).
_MOST_GROUPS = 6
# Shaped like an identity number and nothing longer: 15 to 18 digits, with or
# without the check letter, not part of a longer run of digits (a 20-digit
# invoice number is none).
_ID_SHAPED = re.compile(r"(?<!\d)\d{15,18}[XxＸｘ]?(?!\d)")
# How many characters the verification page by number alone shows of an ID
# number: the last 4 of a resident ID number (the check character and 3 of
# the sequence code), fewer of a shorter document's number.
_TAIL = 4
_SHORT_TAIL = 2
_SHORT = 15


def mask_id_number(value: str) -> str:
    """Mask an identity document number, keeping its first 4 and last 4 characters.

    A number shorter than a resident ID number's 15 (a passport's, a permit's:
    9 to 11 characters) keeps its first and its last 2: the first 4 and last
    4 left one character of a 9-character passport number hidden. Values of
    8 characters or fewer keep only their last, so nothing identifying is left.
    """
    text = without_hidden(value).strip()
    if len(text) <= 8:
        return "*" * max(len(text) - 1, 0) + text[-1:]
    if len(text) < _SHORT:
        return text[:1] + "*" * (len(text) - 3) + text[-2:]
    return text[:4] + "*" * (len(text) - 8) + text[-4:]


def id_number_tail(value: str) -> str:
    """Mask an identity document number but for its end: ``**************7009``.

    The last 4 characters of a number of 15 or more (a resident ID number), the
    last 2 of a shorter one (a passport's, a permit's), nothing of one of 4
    characters or fewer. No region, no birth date.
    """
    text = without_hidden(value).strip()
    keep = _TAIL if len(text) >= _SHORT else _SHORT_TAIL if len(text) > 4 else 0
    return "*" * (len(text) - keep) + text[len(text) - keep :]


def mask_name(value: str) -> str:
    """Mask a person's name, keeping its first character: 黎芬 -> 黎*."""
    text = without_hidden(value).strip()
    if not text:
        return text
    return text[0] + "*" * (len(text) - 1)


def name_initial(value: str) -> str:
    """A person's name as its first character and 某: 黎芬 -> 黎某, 胡俊霞 -> 胡某.

    A name in Latin letters keeps its first letter, upper case: John SMITH
    -> J某 (which of its words is the surname, the text does not say, so the
    initial is the name's, not the surname's). Unlike :func:`mask_name`, the
    length of the name is not told either. The one masking of a holder's name
    wherever a certificate is shown to someone who need not see the name: the
    verification page by number, ``certflow verify``.
    """
    text = unicodedata.normalize("NFC", without_hidden(value)).strip()
    return f"{text[0].upper()}某" if text else text


def _read_for_names(text: str) -> str:
    """``text`` as names are looked for in it: without spaces or hidden
    characters (``黎 芬``, ``黎\u200b芬`` are ``黎芬``)."""
    return "".join(without_hidden(text).split())


def name_parts(name: str) -> list[str]:
    """What of a person's name names them in a public text, longest first.

    The full name; for a Chinese name of three characters or more, the surname
    with one character of the given name (胡俊霞 -> 胡俊) and the given name
    (俊霞), and for four or more the same after a two-character surname too
    (欧阳娜娜 -> 欧阳娜, 娜娜); for a name written in parts (买买提·艾力), each part of
    two characters or more. A single character alone (黎芬's 芬) is no part:
    it is in too many words.
    """
    text = _read_for_names(name)
    parts = {text}
    if "·" in text or "•" in text:
        parts.update(part for part in re.split(r"[·•]", text) if len(part) >= 2)
    elif len(text) >= 3:
        parts.update((text[:2], text[1:]))
        if len(text) >= 4:  # 欧阳娜娜: the surname may be 欧阳
            parts.update((text[:3], text[2:]))
    return sorted((part for part in parts if part), key=len, reverse=True)


def holds_name(text: str, name: str) -> bool:
    """Whether ``text`` holds the person called ``name``: any of
    :func:`name_parts`, read without spaces or hidden characters."""
    read = _read_for_names(text)
    return any(part in read for part in name_parts(name))


def holds_full_name(text: str, name: str) -> bool:
    """Whether ``text`` holds ``name`` whole, read as :func:`holds_name` reads
    it. For a person other than the one a text is about: their surname or
    given name alone is in too many words. A name of one character is never
    found."""
    whole = _read_for_names(name)
    return len(whole) >= 2 and whole in _read_for_names(text)


# A code shorter than this (an admission number such as ``A1``) stands in too
# many words and numbers of a text to be told in it.
_SHORTEST_CODE = 4
# What people put between the groups of a number they type: spaces, hyphens
# and dashes, dots, slashes, underscores.
_CODE_GAP = r"[\s\-\u2010-\u2015\u2212\ufe63._/]*"


def holds_code(text: str, code: str) -> bool:
    """Whether ``text`` holds ``code`` (a person's admission number, the
    number of their identity document) as a number of its own.

    Read half width, in any case and without hidden characters, with spaces,
    hyphens, dots or slashes typed between its characters, but not inside a
    longer run of letters and digits. A code of fewer than 4 letters and
    digits is never found: it is in too many texts.
    """
    key = [ch for ch in halfwidth(without_hidden(code)).upper() if ch.isalnum()]
    if len(key) < _SHORTEST_CODE:
        return False
    pattern = _CODE_GAP.join(re.escape(ch) for ch in key)
    read = halfwidth(without_hidden(text)).upper()
    return re.search(rf"(?<![0-9A-Z]){pattern}(?![0-9A-Z])", read) is not None


def mask_id_numbers_in(text: str) -> str:
    """Mask every run shaped like an identity number inside ``text``.

    For file names such as ``黎芬421002200506166066补签.xlsx``, which people name
    after the candidate: -> ``黎芬4210**********6066补签.xlsx``. Each run keeps what
    :func:`mask_id_number` keeps; the rest of the text, the extension included,
    is left as it is.
    """
    return _ID_RUN.sub(lambda run: mask_id_number(run.group()), text)


@dataclass(frozen=True)
class GroupedIdNumber:
    """An ID number found typed in groups: where it is in the text, and its
    18 characters read as issued (half width, the check letter ``X``)."""

    start: int
    end: int
    number: str


def _read(text: str) -> tuple[str, list[int]]:
    """``text`` as the search for grouped numbers reads it, half width and
    without hidden characters but line breaks and tabs, and the index in
    ``text`` of each character read."""
    where = [at for at, ch in enumerate(text) if ch in _LAYOUT or not is_hidden(ch)]
    return halfwidth("".join(text[at] for at in where)), where


def _last_of_eighteen(groups: list[re.Match[str]], first: int) -> int | None:
    """The last of at most ``_MOST_GROUPS`` groups from ``first`` on that
    make 18 characters, or None when they make more or fewer."""
    typed = 0
    for last in range(first, min(len(groups), first + _MOST_GROUPS)):
        typed += len(groups[last].group())
        if typed >= _ID_LENGTH:
            return last if typed == _ID_LENGTH else None
    return None


def grouped_id_numbers(text: str) -> Iterator[GroupedIdNumber]:
    """The ID numbers ``text`` holds typed in groups, of any sizes (one group
    too: a number typed whole).

    Read half width and without hidden characters (a zero-width space, a
    direction mark, an invisible operator pasted inside a group or between
    groups), consecutive groups whose 17 digits and check character make 18
    count when they could be a person's number
    (:func:`certflow.id_parts.names_a_person`: a province and a real birth
    date), wherever they stand among other groups. Ordinary numbers are none:
    a date, an amount, a phone number typed as 138 0013 8000, an invoice or a
    receipt number in fours. Where each is, is told in ``text`` as given.
    """
    read, where = _read(text)
    for run in _GROUPED_RUN.finditer(read):
        groups = list(_GROUPS.finditer(read, run.start(), run.end()))
        for first in range(len(groups)):
            last = _last_of_eighteen(groups, first)
            if last is None:
                continue
            typed = "".join(group.group() for group in groups[first : last + 1])
            number = typed.translate(CHECK_LETTER)
            if _EIGHTEEN.fullmatch(number) and names_a_person(number):
                yield GroupedIdNumber(
                    start=where[groups[first].start()],
                    end=where[groups[last].end() - 1] + 1,
                    number=number,
                )


def _holds_grouped(text: str) -> bool:
    return next(grouped_id_numbers(text), None) is not None


def holds_id_number(text: str) -> bool:
    """Whether ``text`` holds something shaped like an identity number.

    A run of 15 or more digits, in full width too and with a hidden character
    inside (a zero-width space from a paste), or an ID number typed in groups
    (:func:`grouped_id_numbers`). The one check of every free text staff
    type that is kept or sent on (a reason, a requester, a comment), of staff
    ids and of a new plan's names and codes.
    """
    read = halfwidth(without_hidden(text))
    return (
        _ID_RUN.search(read) is not None
        or _GROUPED_OLD_ID.search(read) is not None
        or _holds_grouped(text)
    )


def holds_id_shaped(text: str) -> bool:
    """Like :func:`holds_id_number`, but a run of digits counts only when it is
    no longer than an ID number (15 to 18 digits and an X): for a value typed
    where a code belongs, where a long paste of digits is no ID number but a
    value of the wrong form."""
    read = halfwidth(without_hidden(text))
    return (
        _ID_SHAPED.search(read) is not None
        or _GROUPED_OLD_ID.search(read) is not None
        or _holds_grouped(text)
    )


def id_shaped_runs(text: str) -> list[str]:
    """The runs of ``text`` shaped like an identity number: 15 to 18 digits and
    an optional X, not part of a longer run of digits."""
    return _ID_SHAPED.findall(text)


def mask_id_shaped(text: str, which: Callable[[str], bool]) -> str:
    """Mask (as :func:`mask_id_number`) each of :func:`id_shaped_runs` and of
    :func:`grouped_id_numbers` for which ``which(run)`` holds, leaving the rest
    of ``text`` as it is. A number typed in groups is given ``which`` and shown
    masked as its 18 characters read as issued."""
    pieces: list[str] = []
    shown = 0
    for grouped in grouped_id_numbers(text):
        if grouped.start >= shown and which(grouped.number):
            pieces += (text[shown : grouped.start], mask_id_number(grouped.number))
            shown = grouped.end
    text = "".join(pieces) + text[shown:]

    def masked(run: re.Match[str]) -> str:
        return mask_id_number(run.group()) if which(run.group()) else run.group()

    return _ID_SHAPED.sub(masked, text)


def mask_id_numbers_anywhere(text: str) -> str:
    """Mask every ID number ``text`` may hold, for free text kept as written
    (a mail's subject): a run of 15 to 18 digits and an X, an ID number typed
    in groups or full width (:func:`mask_id_shaped`), and a longer run of
    digits an ID number may be glued into (:func:`mask_id_numbers_in`). An
    admission number (13 digits) or a date is left as it is."""
    return mask_id_numbers_in(mask_id_shaped(text, lambda _run: True))
