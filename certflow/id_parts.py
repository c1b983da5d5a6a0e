"""What the 18 characters of a GB 11643 number say: a region and a birth date.

The region (a province's two digits, or a residence permit's six) and the
birth date (digits 7-14) tell a person's number from any other run of 18
digits, whatever its check character. Both :mod:`certflow.identity` (which
checks numbers) and :mod:`certflow.privacy` (which finds them in free text)
ask it, so it sits below both. Pure code, no I/O.
"""

from __future__ import annotations

from calendar import isleap
from datetime import date
from functools import lru_cache

# First two digits of a mainland administrative division code, and 71 (Taiwan).
PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 "
    "50 51 52 53 54 61 62 63 64 65 71".split()
)
PERMIT_PREFIXES = {"810000": "香港", "820000": "澳门", "830000": "台湾"}

# The check letter X as people type it: lower case, full width, the
# multiplication sign and the Cyrillic Х (U+0425, U+0445) of another keyboard.
CHECK_LETTER = str.maketrans(dict.fromkeys("xＸｘ×Хх", "X"))

# Every MMDD a birth date can have, read off a leap year; 29 February is checked
# against the year separately.
_MONTH_DAYS = frozenset(
    f"{date.fromordinal(date(2000, 1, 1).toordinal() + n):%m%d}" for n in range(366)
)


@lru_cache(maxsize=8192)
def birth_problem(digits: str, today: date) -> str | None:
    """None when eight digits are a real day from 1900 up to ``today``, else
    the reason key (``bad_birth_date``, ``future_birth_date``).

    Cached: candidates of one exam share a few thousand birth dates at most.
    """
    # For eight digits, text order is date order.
    month_day = digits[4:]
    if (
        digits < "19000101"
        or month_day not in _MONTH_DAYS
        or (month_day == "0229" and not isleap(int(digits[:4])))
    ):
        return "bad_birth_date"
    if digits > f"{today.year:04d}{today.month:02d}{today.day:02d}":
        return "future_birth_date"
    return None


def names_a_person(run: str) -> bool:
    """Whether 17 digits and a check character could be a person's number.

    A resident ID, a residence permit or a 2023 foreign permanent residence
    card: the first two digits name a province (or it starts with a permit's
    prefix, or with 9 and a province for the foreign card) and digits 7-14
    are a real day from 1900. The check character is not compared: a
    mistyped ID number is still one.
    """
    region = run[1:3] if run[0] == "9" else run[:2]
    known = region in PROVINCE_CODES or run[:6] in PERMIT_PREFIXES
    return known and birth_problem(run[6:14], date.max) is None
