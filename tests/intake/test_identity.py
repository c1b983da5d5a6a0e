"""Identity document numbers: generated valid numbers pass, any single change fails."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certflow.identity import (
    PROVINCE_CODES,
    IdType,
    check_character,
    make_foreign_permanent_id,
    make_residence_permit,
    make_resident_id,
    parse_id_type,
    validate_id,
)

TODAY = date(2026, 11, 4)
ALPHABET = "0123456789X"

births = st.dates(min_value=date(1900, 1, 1), max_value=TODAY)
regions = st.builds(
    lambda province, rest: province + rest,
    st.sampled_from(sorted(PROVINCE_CODES)),
    st.from_regex(r"[0-9]{4}", fullmatch=True),
)
resident_ids = st.builds(make_resident_id, regions, births, st.integers(0, 999))
permits = st.builds(
    make_residence_permit,
    st.sampled_from(["810000", "820000", "830000"]),
    births,
    st.integers(0, 999),
)
foreign_ids = st.builds(
    make_foreign_permanent_id,
    st.from_regex(r"[0-9]{2}", fullmatch=True),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
    births,
    st.integers(0, 999),
)
CHECKED = [
    ("居民身份证", resident_ids),
    ("港澳台居民居住证", permits),
    ("外国人永久居留身份证", foreign_ids),
]


@pytest.mark.parametrize(("kind", "numbers"), CHECKED, ids=[k for k, _ in CHECKED])
@given(data=st.data())
def test_generated_numbers_are_valid(
    kind: str, numbers: st.SearchStrategy[str], data: st.DataObject
) -> None:
    number = data.draw(numbers)
    assert validate_id(kind, number, today=TODAY) is None


@pytest.mark.parametrize(("kind", "numbers"), CHECKED, ids=[k for k, _ in CHECKED])
@given(data=st.data())
def test_any_single_changed_character_is_refused(
    kind: str, numbers: st.SearchStrategy[str], data: st.DataObject
) -> None:
    number = data.draw(numbers)
    position = data.draw(st.integers(0, len(number) - 1))
    replacement = data.draw(
        st.sampled_from(ALPHABET).filter(lambda c: c != number[position])
    )
    changed = number[:position] + replacement + number[position + 1 :]

    assert validate_id(kind, changed, today=TODAY) is not None


def test_check_character_of_the_standard_example() -> None:
    # GB 11643-1999 appendix example: 11010519491231002X.
    assert check_character("11010519491231002") == "X"
    assert validate_id("居民身份证", "11010519491231002X", today=TODAY) is None


@pytest.mark.parametrize(
    ("kind", "number", "reason"),
    [
        ("居民身份证", "11010519491231002", "bad_format_resident_id"),
        ("居民身份证", "110105491231002", "old_fifteen_digit"),
        ("居民身份证", "11010519491231002x", "bad_format_resident_id"),
        ("居民身份证", "990105194912310021", "bad_region"),
        (
            "居民身份证",
            make_resident_id("110105", date(2027, 1, 1), 2),
            "future_birth_date",
        ),
        ("居民身份证", "110105194902300021", "bad_birth_date"),
        (
            "居民身份证",
            make_resident_id("810000", date(2000, 1, 1), 2),
            "is_residence_permit",
        ),
        (
            "港澳台居民居住证",
            make_resident_id("110105", date(2000, 1, 1), 2),
            "bad_permit_prefix",
        ),
        ("外国人永久居留身份证", "US1234567890123", "bad_format_foreign_permanent"),
        ("外国人永久居留身份证", "USA123456789012", None),
        ("护照", "E12345678", None),
        ("护照", "ABCDEFG", "bad_pattern_passport"),
        ("港澳居民来往内地通行证", "H1234567890", None),
        (
            "港澳居民来往内地通行证",
            "C12345678",
            "bad_pattern_hk_macau_home_return_permit",
        ),
        ("台湾居民来往大陆通行证", "12345678", None),
        ("台湾居民来往大陆通行证", "1234567", "bad_pattern_taiwan_compatriot_permit"),
        ("往来港澳通行证", "CA1234567", None),
        ("大陆居民往来台湾通行证", "L12345678", None),
        ("军官证", "12345678", "unknown_type"),
        ("居民身份证", "", "empty"),
    ],
)
def test_reasons_by_document_type(kind: str, number: str, reason: str | None) -> None:
    assert validate_id(kind, number, today=TODAY) == reason


def test_type_names_and_synonyms() -> None:
    assert parse_id_type("") is IdType.RESIDENT_ID
    assert parse_id_type("身份证") is IdType.RESIDENT_ID
    assert parse_id_type("台胞证") is IdType.TAIWAN_COMPATRIOT_PERMIT
    assert parse_id_type("passport") is IdType.PASSPORT
    assert parse_id_type("驾驶证") is None
