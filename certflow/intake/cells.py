"""Normalisation of single cells as office suites and teachers leave them.

Full-width digits and letters become ASCII, numbers stored as text are read as
numbers, and integers that a spreadsheet keeps as floats (``1.0``) lose their
``.0``; names are read by :func:`certflow.text.normalise_name` (the web
look-up compares them by :func:`certflow.text.name_key`). Nothing here
guesses a lost digit: a number that cannot be read exactly is reported, never
repaired.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from certflow.text import clean_unicode

CellValue = str | int | float | bool | date | datetime | time | timedelta | None

# Letters that show as nothing (Hangul fillers, the blank Braille pattern, Khmer
# inherent vowels): Unicode calls them letters, but in a name they can only
# hide a difference between two names that look the same.
INVISIBLE_LETTERS = "\u115f\u1160\u3164\uffa0\u2800\u17b4\u17b5"
_INVISIBLE = re.compile(f"[{INVISIBLE_LETTERS}]")
_DIGITS = re.compile(r"[0-9]+")
_SCIENTIFIC = re.compile(r"^[0-9]+(\.[0-9]+)?E\+?[0-9]+$", re.IGNORECASE)
# A number as people write a score: ASCII digits, a decimal point between digits,
# a leading minus. Decimal() also reads "1e1", "Infinity", "NaN" and the digits
# of other scripts ("١٠"); none of those is a plain decimal number.
_PLAIN_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")

# Excel's way of keeping a long number as text in a CSV: ="421002200506166066"
# shows as the text between the quotes. Only letters, digits, spaces and
# hyphens are taken out of it, so nothing of a formula is ever kept.
_TEXT_FORMULA = re.compile(r'="([0-9A-Za-z -]+)"')

# Excel keeps 15 significant digits; an integer past that lost its last digits.
EXACT_INTEGER_LIMIT = 10**15


def clean_text(value: CellValue) -> str:
    """Return a cell as trimmed half-width text, with runs of spaces made one."""
    if type(value) is str:
        # Most cells are short ASCII without runs of spaces: skip the regex.
        if value.isascii() and "  " not in value and value.isprintable():
            return value.strip()
        return clean_unicode(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < EXACT_INTEGER_LIMIT:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, time):
        return value.strftime("%H:%M")
    if isinstance(value, (int, date, timedelta)):
        return str(value)
    return clean_unicode(str(value))


def compact(value: CellValue) -> str:
    """Return a cell as half-width text with every space removed (numbers, codes)."""
    return clean_text(value).replace(" ", "")


def has_invisible_letter(name: str) -> bool:
    """Whether ``name`` holds a letter that shows as nothing (``INVISIBLE_LETTERS``)."""
    return _INVISIBLE.search(name) is not None


def is_number_cell(value: CellValue) -> bool:
    """Tell whether the spreadsheet stored this cell as a number, not as text."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def lost_digits(value: CellValue) -> bool:
    """Tell whether a long number was stored as a number and may have lost digits.

    True for numeric cells past 15 digits or with a fraction, and for text in
    scientific notation (``4.21002E+17``), as a CSV saved from Excel carries it.
    """
    if is_number_cell(value):
        assert isinstance(value, (int, float))
        return abs(value) >= EXACT_INTEGER_LIMIT or not float(value).is_integer()
    return bool(_SCIENTIFIC.match(compact(value)))


def plain_decimal(text: str) -> Decimal | None:
    """Return ``text`` as a Decimal when it is a plain decimal number, else None.

    Plain means ASCII digits with at most one decimal point between digits and
    an optional leading minus: ``85``, ``85.5``, ``-5``. The Decimal keeps the
    digits as written (``85.50`` stays ``85.50``).
    """
    return Decimal(text) if _PLAIN_DECIMAL.fullmatch(text) else None


def decimal_of(value: CellValue) -> Decimal | None:
    """Return a number cell, or a text cell holding a plain decimal, as a Decimal.

    A spreadsheet's own numbers are read as they are; text must be a plain
    decimal number once full-width characters are made ASCII and the cell is
    trimmed (see ``plain_decimal``).
    """
    if is_number_cell(value):
        assert isinstance(value, (int, float))
        # Binary floating noise (74.47999999999999) is not a third decimal.
        return Decimal(repr(round(float(value), 9))).normalize()
    number = plain_decimal(clean_text(value))
    return None if number is None else number.normalize()


def unwrap_text_formula(value: CellValue) -> CellValue:
    """Return the text inside ``="…"`` (a number kept as text), else ``value``.

    The identity and admission number cells of a CSV saved by a program
    (or typed so in Excel) often hold the formula itself: the office suite
    shows only the quoted digits, and so are they read.
    """
    if type(value) is str and '="' in value:
        found = _TEXT_FORMULA.fullmatch(clean_text(value))
        if found is not None:
            return found.group(1)
    return value


def integer_text(value: CellValue) -> str | None:
    """Return an integer cell (``1.0``, ``"0001"``) as digits, or None if not one."""
    if is_number_cell(value):
        assert isinstance(value, (int, float))
        if float(value).is_integer() and abs(value) < EXACT_INTEGER_LIMIT:
            return str(int(value))
        return None
    text = compact(value)
    return text if _DIGITS.fullmatch(text) else None
