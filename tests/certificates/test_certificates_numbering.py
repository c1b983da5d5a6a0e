"""Certificate numbers: the documented default, uniqueness, and pattern checks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from certflow.certificates import NumberScheme, NumberSchemeError
from certflow.models import Level

CODES = {"汽车运用与维修": "QCYY", "智能新能源汽车": "ZNXNY", "汽车电子": "QCDZ"}
SCHEME = NumberScheme(certificate_codes=CODES)


def test_default_scheme_formats_the_documented_example() -> None:
    scheme = NumberScheme()
    number = scheme.format(
        year=2026, certificate="汽车运用与维修", level=Level.INTERMEDIATE, seq=1
    )
    assert number == "ZCX2026QCYY2000001"
    key = scheme.sequence_key(
        year=2026, certificate="汽车运用与维修", level=Level.INTERMEDIATE
    )
    assert key == "org=ZCX|year=2026|cert=QCYY|level=2"


@given(
    a=st.tuples(
        st.integers(2000, 2099),
        st.sampled_from(sorted(CODES)),
        st.sampled_from(list(Level)),
        st.integers(1, 999_999),
    ),
    b=st.tuples(
        st.integers(2000, 2099),
        st.sampled_from(sorted(CODES)),
        st.sampled_from(list(Level)),
        st.integers(1, 999_999),
    ),
)
def test_distinct_allocations_give_distinct_numbers(
    a: tuple[int, str, Level, int], b: tuple[int, str, Level, int]
) -> None:
    def number(year: int, cert: str, level: Level, seq: int) -> str:
        return SCHEME.format(year=year, certificate=cert, level=level, seq=seq)

    if a != b:
        assert number(*a) != number(*b)
    else:
        assert number(*a) == number(*b)


@given(
    year=st.integers(2000, 2099),
    cert=st.sampled_from(sorted(CODES)),
    level=st.sampled_from(list(Level)),
    seq=st.integers(1, 999_999),
)
def test_a_number_reads_back_to_its_fields(
    year: int, cert: str, level: Level, seq: int
) -> None:
    number = SCHEME.format(year=year, certificate=cert, level=level, seq=seq)
    assert SCHEME.parse(number) == {
        "org": "ZCX",
        "year": f"{year}",
        "certificate": cert,
        "level": level,
        "seq": seq,
    }


def test_numbers_of_one_key_differ_only_in_the_sequence() -> None:
    numbers = {
        SCHEME.format(year=2026, certificate="汽车电子", level=Level.ADVANCED, seq=s)
        for s in range(1, 2001)
    }
    assert len(numbers) == 2000
    assert all(len(n) == len("ZCX2026QCDZ3000001") for n in numbers)


def test_a_pattern_without_year_shares_one_counter_across_years() -> None:
    scheme = NumberScheme(
        pattern="{org}-{cert}{level}-{seq:08d}", certificate_codes=CODES
    )
    key_2026 = scheme.sequence_key(
        year=2026, certificate="汽车电子", level=Level.ELEMENTARY
    )
    key_2027 = scheme.sequence_key(
        year=2027, certificate="汽车电子", level=Level.ELEMENTARY
    )
    assert key_2026 == key_2027 == "org=ZCX|cert=QCDZ|level=1"
    assert (
        scheme.format(year=2027, certificate="汽车电子", level=Level.ELEMENTARY, seq=42)
        == "ZCX-QCDZ1-00000042"
    )


def test_two_digit_year_field() -> None:
    scheme = NumberScheme(pattern="{cert}{yy}{level}{seq:05d}")
    assert (
        scheme.format(
            year=2026, certificate="汽车运用与维修", level=Level.ADVANCED, seq=7
        )
        == "QCYY26300007"
    )


def test_a_sequence_that_outgrows_its_width_is_refused() -> None:
    scheme = NumberScheme(pattern="{org}{seq:03d}")
    assert scheme.format(
        year=2026, certificate="汽车运用与维修", level=Level.ADVANCED, seq=999
    )
    with pytest.raises(NumberSchemeError, match="does not fit 3 digits"):
        scheme.format(
            year=2026, certificate="汽车运用与维修", level=Level.ADVANCED, seq=1000
        )
    with pytest.raises(NumberSchemeError):
        scheme.format(
            year=2026, certificate="汽车运用与维修", level=Level.ADVANCED, seq=0
        )


def test_an_unconfigured_certificate_type_is_named_in_the_error() -> None:
    with pytest.raises(NumberSchemeError, match="工业机器人"):
        SCHEME.format(year=2026, certificate="工业机器人", level=Level.ADVANCED, seq=1)


@pytest.mark.parametrize(
    ("pattern", "codes", "fragment"),
    [
        ("{org}{year}{cert}{level}", CODES, "must contain {seq"),
        ("{org}{year}{cert}{level}{seq}", CODES, "fixed width"),
        ("{org}{year}{cert}{level}{seq:6d}", CODES, "fixed width"),
        ("{org}{month}{seq:06d}", CODES, "Unknown field {month}"),
        ("{org}{seq:06d}{org}", CODES, "appears twice"),
        ("{year}{yy}{seq:06d}", CODES, "either {year} or {yy}"),
        ("{org}/{seq:06d}", CODES, "ASCII letters"),
        ("{org}{year!r}{seq:06d}", CODES, "Unknown field"),
        ("{org}{cert}{seq:06d}", {"a": "QC", "b": "QCYY"}, "prefix"),
        ("{org}{cert}{seq:06d}", {"a": "QC", "b": "QC"}, "share one code"),
        ("{org}{cert}{seq:06d}", {"a": "qc"}, "not A-Z0-9"),
    ],
)
def test_patterns_that_could_repeat_numbers_are_refused_at_load(
    pattern: str, codes: dict[str, str], fragment: str
) -> None:
    with pytest.raises(
        ValueError, match=fragment.replace("{", r"\{").replace("}", r"\}")
    ):
        NumberScheme(pattern=pattern, certificate_codes=codes)


def test_scheme_loads_from_configuration_mapping() -> None:
    scheme = NumberScheme.model_validate(
        {"pattern": "{org}{yy}{cert}{level}{seq:07d}", "org_code": "ZCH",
         "certificate_codes": {"智能新能源汽车": "ZNXNY"}}
    )  # fmt: skip
    assert (
        scheme.format(
            year=2031, certificate="智能新能源汽车", level=Level.ELEMENTARY, seq=5
        )
        == "ZCH31ZNXNY10000005"
    )
