"""Identity documents (证件类型 / 证件号码): their types and valid numbers.

Numbers with a check character (resident ID, Hong Kong / Macau / Taiwan residence
permit, the 2023 foreign permanent residence card) are checked against GB 11643:
the check character and a real birth date that is not in the future. The other
documents have no public check and are checked by pattern only.

``validate_id`` checks exactly the text it is given: callers normalise cells first
(full-width digits, spaces, lower-case ``x``), so this module never repairs a number.
The ``make_*`` helpers build valid numbers for tests and the benchmark.

An organisation's unified social credit code (统一社会信用代码, GB 32100) is
here too: it is the number a school's ID-number-shaped value is told apart by.

The admission number (准考证号) and the name are not documents, but they name a
candidate in every upload and in every correction request; their rules are
here so that intake and the correction reader apply the same ones.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from enum import StrEnum
from functools import lru_cache
from operator import mul

from certflow.id_parts import (
    CHECK_LETTER,
    PERMIT_PREFIXES,
    PROVINCE_CODES,
    birth_problem,
    names_a_person,
)
from certflow.privacy import (
    holds_id_number,
    holds_id_shaped,
    mask_id_number,
    mask_id_shaped,
)

# A correction request finds its score by admission number, so intake accepts
# only the admission numbers a request can name: ASCII letters, digits and
# hyphens, at most ADMISSION_NUMBER_MAX_LENGTH of them.
ADMISSION_NUMBER_MAX_LENGTH = 40
ADMISSION_NUMBER = re.compile(rf"[A-Za-z0-9-]{{1,{ADMISSION_NUMBER_MAX_LENGTH}}}")
# The longest registered names (Uyghur and foreign names written in Chinese
# characters) stay well below this; a longer "name" is a note or a pasted row,
# and no certificate line holds it.
NAME_MAX_LENGTH = 50
# A staff id (工号) names an evaluator in a plan and the person acting in the
# staff tools: ASCII letters, digits and hyphens (``ZCX-E-0107``), starting
# with a letter or digit. A person's name ("张 三") is no staff id: the plan
# would wait for an upload by somebody no login is called. Nor is an ID
# number, which the pattern alone would let through (see ``is_staff_id``).
STAFF_ID_MAX_LENGTH = 64
STAFF_ID_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9-]{{0,{STAFF_ID_MAX_LENGTH - 1}}}$"
# An exam plan id (考试计划编号) of a plan started today: P, the year, then one
# to four groups of letters or digits after hyphens (P2026-1104-0412,
# P2026-HB-0031), as issued (upper case). No group is long enough to hold an
# ID number. Plans started before the rule keep their ids (``PlanInfo``).
PLAN_ID_PATTERN = r"^P[0-9]{4}(?:-[A-Z0-9]{1,12}){1,4}$"


# GB 32100-2015: the 18-character unified social credit code (统一社会信用代码).
CREDIT_CODE_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def canonical_code(text: str) -> str:
    """A code as issued: upper case, half width, trimmed.

    Plan, site and batch ids and certificate numbers are compared as text, so
    'p2026-1104-0412' would otherwise start a second plan beside
    'P2026-1104-0412', and 'zcx2027qcyy2000002' find no certificate.
    """
    return unicodedata.normalize("NFKC", text).strip().upper()


def staff_key(text: str) -> str:
    """A staff id (工号) as compared: :func:`canonical_code` of it.

    Staff type ids as they please (``zcx-e-0107``, full-width ``ＺＣＸ－Ｅ－０１０７``)
    and a plan keeps its ids as it was started with them: a person is matched
    against the plan (its lead evaluator, its team, a sign-in sheet's 工号)
    by this key, while what either side recorded is kept as it was typed.
    """
    return canonical_code(text)


def compact_code(text: str) -> str:
    """A number as typed, read as issued: :func:`canonical_code` with no spaces.

    People type long numbers in groups (``ZCX 2027 QCYY 2000001``,
    ``110105 19491231 002x``); no ID number or certificate number holds a space.
    Nor any letter that shows as nothing: a number pasted from a web page or a
    chat often carries a zero-width space, a joiner or a direction mark (the
    characters a typed name loses in :func:`certflow.text.normalise_name`, and
    every other format character), and is read without them.
    """
    return "".join(
        ch
        for ch in canonical_code(text)
        if not ch.isspace() and unicodedata.category(ch) != "Cf"
    )


# What people put between the groups of an ID number besides spaces (which
# compact_code drops): hyphens and dashes, dots, as NFKC leaves them.
_ID_GROUP_MARKS = re.compile(r"[\-\u2010-\u2015\u2212\ufe63.\u00b7\u30fb]")
_SEVENTEEN_AND_A_LETTER = re.compile(r"[0-9]{17}\D")


def read_id_number(text: str) -> str:
    """An ID number as typed, read as intake stores it.

    :func:`compact_code` (half width, upper case, without spaces or hidden
    characters: what intake's reading of a cell does), and without the
    hyphens or dots people write between the groups (``421002-20040821-049X``);
    after 17 digits, a check letter typed as ``×`` or the Cyrillic ``Х`` is
    ``X``. No stored number holds a hyphen or a dot, so nothing is lost.
    """
    number = _ID_GROUP_MARKS.sub("", compact_code(text))
    if _SEVENTEEN_AND_A_LETTER.fullmatch(number):
        return number[:17] + number[17].translate(CHECK_LETTER)
    return number


def is_or_holds_id_number(text: str) -> bool:
    """Whether a value typed where a code belongs is, or holds, an ID number.

    As typed, or read as typed numbers are (:func:`compact_code`: full width,
    spaces between the groups, a zero-width space), it holds 15 to 18 digits
    and an optional X, valid or not, or an ID number in hyphenated groups
    (:func:`certflow.privacy.holds_id_shaped`). What a code, a plan id, a
    request id or an admission number never is, and what a refusal must not
    repeat.
    """
    return holds_id_shaped(compact_code(text)) or holds_id_shaped(text)


# A run an ID number could be: 17 digits and a check character, not part of a
# longer run.
_ID_RUN_IN_CODE = re.compile(r"(?<![0-9])[0-9]{17}[0-9X](?![0-9X])")


def could_be_id_number(text: str) -> bool:
    """Whether a value typed or read where an admission number belongs holds
    what could be a mainland ID number, a residence permit or a new foreign
    permanent residence card.

    Read as typed numbers are (full width, without spaces, hidden characters
    and hyphens between groups), a run of 18 characters whose first two
    digits name a province (or that starts with a permit's prefix, or with 9
    and a province for the foreign card) and whose digits 7-14 are a real day
    from 1900. The check character is not compared: a mistyped ID number is
    still one. The old 15-digit numbers are left out: they have not been
    valid since 2013, and their six-digit day (YYMMDD) is found in too many
    15-digit admission numbers. An admission number that merely is a long
    run of digits is none of these (a year first, 2026…, names no province;
    the digits after a site code are seldom a day), so intake, the
    correction form and the staff tool refuse the same values, and every
    accepted candidate's admission number can be typed in a correction.
    """
    read = compact_code(text).replace("-", "").upper()
    return any(names_a_person(run) for run in _ID_RUN_IN_CODE.findall(read))


def credit_code_check_character(first17: str) -> str:
    """Return the GB 32100 check character for the first 17 characters of a code.

    Raises ``ValueError`` when ``first17`` is not 17 characters of the code's set.
    """
    if len(first17) != 17 or any(c not in CREDIT_CODE_CHARSET for c in first17):
        raise ValueError("a credit code starts with 17 characters of its charset")
    total = sum(
        CREDIT_CODE_CHARSET.index(c) * w
        for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_CHARSET[(31 - total % 31) % 31]


def is_valid_credit_code(code: str) -> bool:
    """Tell whether ``code`` is an 18-character credit code with a correct check."""
    return (
        len(code) == 18
        and all(c in CREDIT_CODE_CHARSET for c in code)
        and credit_code_check_character(code[:17]) == code[17]
    )


def mask_person_id_numbers(text: str) -> str:
    """Mask what in ``text`` could be a person's ID number, for a refusal to repeat.

    Each run of digits :func:`could_be_id_number` takes keeps what
    :func:`certflow.privacy.mask_id_number` keeps, the rest of ``text`` as it
    is; a number typed in groups or full width is masked with the text around
    it. A school's credit code is no person's: one with a correct check
    character is left whole even when it is all digits.
    """

    def a_person_s(run: str) -> bool:
        return could_be_id_number(run) and not is_valid_credit_code(run.upper())

    masked = mask_id_shaped(text, a_person_s)
    if could_be_id_number(masked) and not is_valid_credit_code(compact_code(masked)):
        return mask_id_number(masked)
    return masked


def is_staff_id(text: str) -> bool:
    """Whether ``text`` is a staff id: of ``STAFF_ID_PATTERN``, and not an ID
    number (which a name-free pattern of digits and hyphens would take)."""
    shaped = re.fullmatch(STAFF_ID_PATTERN, text) is not None
    return shaped and not holds_id_number(text)


# 发票号码: a paper invoice's number has 8 digits, a fully digital (全电)
# invoice's 20; nothing but ASCII digits once read as typed. Every length
# between is taken too (process.md's choice: 8 to 20 digits), as the help,
# the refusals and the staff guide say: numbers of other receipts a payment
# may be invoiced with fall between, and the plans' records hold such
# numbers. An ID number (18 characters) is refused apart (see
# ``could_be_id_number``).
INVOICE_NUMBER_DIGITS = (8, 20)
_INVOICE_NUMBER = re.compile(
    rf"[0-9]{{{INVOICE_NUMBER_DIGITS[0]},{INVOICE_NUMBER_DIGITS[1]}}}"
)


def invoice_number(text: str) -> str | None:
    """An invoice number as typed, read as issued; None when it is none.

    Full-width digits are read as digits and the spaces of a number typed in
    groups (``2644 2000 0000 1234 5678``) dropped; what is left must be 8 to
    20 ASCII digits. A blank, a letter, a hyphen or a symbol is no number.
    """
    number = compact_code(text)
    return number if _INVOICE_NUMBER.fullmatch(number) else None


def is_invoice_placeholder(number: str) -> bool:
    """Whether an invoice number read as issued is all zeros: a placeholder.

    Refused where numbers are taken (the staff tool, the plan's validator),
    not in ``invoice_number``, which plans also use to store what they took.
    """
    return not number.strip("0")


def is_admission_number(text: str) -> bool:
    """Whether ``text`` (already normalised) has the form of an admission number."""
    return ADMISSION_NUMBER.fullmatch(text) is not None


class IdType(StrEnum):
    """证件类型: the kinds of identity document a candidate may present."""

    RESIDENT_ID = "resident_id"  # 居民身份证
    HMT_RESIDENCE_PERMIT = "hmt_residence_permit"  # 港澳台居民居住证
    FOREIGN_PERMANENT_RESIDENCE = "foreign_permanent_residence"  # 外国人永久居留身份证
    PASSPORT = "passport"  # 护照
    HK_MACAU_HOME_RETURN_PERMIT = (
        "hk_macau_home_return_permit"  # 港澳居民来往内地通行证
    )
    TAIWAN_COMPATRIOT_PERMIT = "taiwan_compatriot_permit"  # 台湾居民来往大陆通行证
    MAINLAND_TO_HK_MACAU_PERMIT = "mainland_to_hk_macau_permit"  # 往来港澳通行证
    MAINLAND_TO_TAIWAN_PERMIT = "mainland_to_taiwan_permit"  # 大陆居民往来台湾通行证

    @property
    def chinese(self) -> str:
        """The official Chinese name, as forms and the national platform use it."""
        return _CHINESE[self]


_CHINESE: dict[IdType, str] = {
    IdType.RESIDENT_ID: "居民身份证",
    IdType.HMT_RESIDENCE_PERMIT: "港澳台居民居住证",
    IdType.FOREIGN_PERMANENT_RESIDENCE: "外国人永久居留身份证",
    IdType.PASSPORT: "护照",
    IdType.HK_MACAU_HOME_RETURN_PERMIT: "港澳居民来往内地通行证",
    IdType.TAIWAN_COMPATRIOT_PERMIT: "台湾居民来往大陆通行证",
    IdType.MAINLAND_TO_HK_MACAU_PERMIT: "往来港澳通行证",
    IdType.MAINLAND_TO_TAIWAN_PERMIT: "大陆居民往来台湾通行证",
}

# Names schools write in the 证件类型 column, besides the official ones.
_SYNONYMS: dict[str, IdType] = {
    "身份证": IdType.RESIDENT_ID,
    "二代身份证": IdType.RESIDENT_ID,
    "中华人民共和国居民身份证": IdType.RESIDENT_ID,
    "港澳居民居住证": IdType.HMT_RESIDENCE_PERMIT,
    "台湾居民居住证": IdType.HMT_RESIDENCE_PERMIT,
    "居住证": IdType.HMT_RESIDENCE_PERMIT,
    "外国人永久居留证": IdType.FOREIGN_PERMANENT_RESIDENCE,
    "外国人永久居留身份证件": IdType.FOREIGN_PERMANENT_RESIDENCE,
    "永久居留证": IdType.FOREIGN_PERMANENT_RESIDENCE,
    "外国护照": IdType.PASSPORT,
    "中国护照": IdType.PASSPORT,
    "回乡证": IdType.HK_MACAU_HOME_RETURN_PERMIT,
    "港澳通行证": IdType.HK_MACAU_HOME_RETURN_PERMIT,
    "台胞证": IdType.TAIWAN_COMPATRIOT_PERMIT,
    "台湾通行证": IdType.MAINLAND_TO_TAIWAN_PERMIT,
    "往来台湾通行证": IdType.MAINLAND_TO_TAIWAN_PERMIT,
}

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARACTERS = "10X98765432"
_DIGIT_OFFSET = ord("0") * sum(WEIGHTS)
# The weights are 13 ** (17 - i) mod 11 for the i-th digit (from 0), so modulo 11
# the weighted sum of 17 digits is 13 times their value read in base 13: one
# int() call in C instead of a sum over the digits.
_WEIGHT_BASE = 13

# Looking a member up on an enum class runs Python code; these run on every row.
_RESIDENT_ID = IdType.RESIDENT_ID
_HMT_RESIDENCE_PERMIT = IdType.HMT_RESIDENCE_PERMIT
_FOREIGN_PERMANENT_RESIDENCE = IdType.FOREIGN_PERMANENT_RESIDENCE

_EIGHTEEN = re.compile(r"^[0-9]{17}[0-9X]$")
# Both resident ID shapes in one pass: the 18-character one and the old 15-digit one.
_RESIDENT_SHAPE = re.compile(r"[0-9]{15}(?:[0-9]{2}[0-9X])?")
_EIGHT = re.compile(r"^[0-9]{8}$")
_FOREIGN_OLD = re.compile(r"^[A-Z]{3}[0-9]{12}$")
_FOREIGN_NEW = re.compile(r"^9[0-9]{16}[0-9X]$")
_PATTERNS: dict[IdType, re.Pattern[str]] = {
    # Passports differ by country: letters and digits, at least one digit.
    IdType.PASSPORT: re.compile(r"^(?=.*[0-9])[A-Z0-9]{5,17}$"),
    IdType.HK_MACAU_HOME_RETURN_PERMIT: re.compile(r"^[HM][0-9]{8}([0-9]{2})?$"),
    IdType.TAIWAN_COMPATRIOT_PERMIT: re.compile(r"^[0-9]{8}([0-9]{2})?$"),
    IdType.MAINLAND_TO_HK_MACAU_PERMIT: re.compile(r"^C[A-Z0-9][0-9]{7}$"),
    IdType.MAINLAND_TO_TAIWAN_PERMIT: re.compile(r"^L[0-9]{8}$"),
}


@lru_cache(maxsize=256)
def parse_id_type(text: str) -> IdType | None:
    """Return the document type a 证件类型 cell names (key or Chinese), or None."""
    cleaned = re.sub(r"\s+", "", text)
    if not cleaned:
        return IdType.RESIDENT_ID
    for kind in IdType:
        if cleaned in (kind.value, kind.chinese):
            return kind
    return _SYNONYMS.get(cleaned)


def check_character(first17: str) -> str:
    """Return the GB 11643 check character of the first 17 digits."""
    if len(first17) != len(WEIGHTS):
        raise ValueError("a check character is computed from exactly 17 digits")
    # Weighting the ASCII codes and taking off 48 ("0") times the weights' sum
    # avoids converting each digit.
    weighted = sum(map(mul, first17.encode("ascii"), WEIGHTS)) - _DIGIT_OFFSET
    return CHECK_CHARACTERS[weighted % 11]


def validate_id(id_type: str, number: str, *, today: date | None = None) -> str | None:
    """Return None when ``number`` is valid for ``id_type``, else a reason key.

    The key names a message in ``certflow/messages/identity.zh.toml``
    (``certflow.i18n.t("identity." + key)``). ``today`` bounds the birth date; it
    defaults to the current date, and intake passes the exam date so a replayed
    check gives the same answer.
    """
    kind = parse_id_type(id_type)
    if kind is None:
        return "unknown_type"
    if not number:
        return "empty"
    return validate_number(kind, number, today or date.today())


def validate_number(kind: IdType, number: str, today: date) -> str | None:
    """Like ``validate_id`` for a parsed type and a non-empty number.

    For callers that check many rows: it skips parsing the type on every call.
    """
    if kind is _RESIDENT_ID:
        return _check_resident_id(number, today)
    if kind is _HMT_RESIDENCE_PERMIT:
        return _check_residence_permit(number, today)
    if kind is _FOREIGN_PERMANENT_RESIDENCE:
        return _check_foreign_permanent(number, today)
    return None if _PATTERNS[kind].fullmatch(number) else f"bad_pattern_{kind.value}"


def _check_resident_id(number: str, today: date) -> str | None:
    if not _RESIDENT_SHAPE.fullmatch(number):
        return "bad_format_resident_id"
    if len(number) != 18:
        return "old_fifteen_digit"
    if number[:6] in PERMIT_PREFIXES:
        return "is_residence_permit"
    if number[:2] not in PROVINCE_CODES:
        return "bad_region"
    return _check_birth_and_check_character(number, today)


def _check_residence_permit(number: str, today: date) -> str | None:
    if not _EIGHTEEN.fullmatch(number):
        return "bad_format_residence_permit"
    if number[:6] not in PERMIT_PREFIXES:
        return "bad_permit_prefix"
    return _check_birth_and_check_character(number, today)


def _check_foreign_permanent(number: str, today: date) -> str | None:
    if _FOREIGN_OLD.fullmatch(number):
        return None
    if not _FOREIGN_NEW.fullmatch(number):
        return "bad_format_foreign_permanent"
    return _check_birth_and_check_character(number, today)


def _check_birth_and_check_character(number: str, today: date) -> str | None:
    # The caller matched 17 ASCII digits and a check character.
    if (reason := birth_problem(number[6:14], today)) is not None:
        return reason
    weighted = int(number[:17], _WEIGHT_BASE) * _WEIGHT_BASE
    if CHECK_CHARACTERS[weighted % 11] != number[17]:
        return "bad_check_character"
    return None


def birth_date(number: str) -> date | None:
    """Return the birth date held in digits 7-14 of an 18-character number, or None."""
    digits = number[6:14]
    if not _EIGHT.fullmatch(digits):
        return None
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
    return born if born.year >= 1900 else None


def make_resident_id(region: str, birth: date, sequence: int) -> str:
    """Build a valid resident ID: 6-digit region, birth date, 3-digit sequence."""
    first17 = f"{region}{birth:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_character(first17)


def make_residence_permit(place: str, birth: date, sequence: int) -> str:
    """Build a valid residence permit number; ``place`` is 810000, 820000 or 830000."""
    return make_resident_id(place, birth, sequence)


def make_foreign_permanent_id(
    province: str, nationality: str, birth: date, sequence: int
) -> str:
    """Build a valid 2023 foreign permanent residence card number (starts with 9)."""
    first17 = f"9{province}{nationality}{birth:%Y%m%d}{sequence % 1000:03d}"
    return first17 + check_character(first17)
