"""Reading the State Council notice and admins' schedule files into year schedules."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook

from certflow.calendar import (
    NoticeError,
    ScheduleError,
    WorkingCalendar,
    YearSchedule,
    holiday_periods,
    load_schedule_file,
    parse_notice,
)
from certflow.i18n import t
from tests.support import english_words

DATA = Path(__file__).resolve().parent / "data"

# Written for these tests in the notice's form, from the holidays package's 2025
# data: a single day with its count (放假1天), a range across months (5月31日 to
# 6月2日), a range across a month end (1月28日 to 2月4日), and make-up days.
NOTICE_2025 = """关于2025年部分节假日安排的通知（测试用文本）

一、元旦：1月1日（周三）放假1天，不调休。
二、春节：1月28日（农历除夕、周二）至2月4日（农历正月初七、周二）放假调休，共8天。1月26日（周日）、2月8日（周六）上班。
三、清明节：4月4日（周五）至6日（周日）放假，共3天。
四、劳动节：5月1日（周四）至5日（周一）放假调休，共5天。4月27日（周日）上班。
五、端午节：5月31日（周六）至6月2日（周一）放假，共3天。
六、国庆节、中秋节：10月1日（周三）至8日（周三）放假调休，共8天。9月28日（周日）、10月11日（周六）上班。
"""


def statuses(calendar: WorkingCalendar, year: int) -> dict[date, bool]:
    first = date(year, 1, 1)
    days = (first + timedelta(days=i) for i in range(366))
    return {day: calendar.is_working_day(day) for day in days if day.year == year}


def codes(error: ScheduleError) -> list[str]:
    return sorted(problem.code for problem in error.problems)


def test_the_2026_notice_gives_the_package_status_of_every_day(
    notice_2026: str, package_calendar: WorkingCalendar
) -> None:
    schedule = parse_notice(notice_2026)
    from_notice = statuses(WorkingCalendar([schedule]), 2026)

    assert schedule.year == 2026
    assert schedule.source.startswith("notice:")
    assert from_notice == statuses(package_calendar, 2026)
    assert sum(from_notice.values()) == 248
    weekday_holidays = [d for d in schedule.holidays if d.weekday() < 5]
    assert len(weekday_holidays) == 19
    assert len(schedule.makeup_workdays) == 6


def test_the_2026_notice_lists_weekend_days_inside_holiday_ranges(
    notice_2026: str,
) -> None:
    schedule = parse_notice(notice_2026)

    # 2月15日（周日）至23日: the range starts on a Sunday and holds a whole weekend.
    assert date(2026, 2, 15) in schedule.holidays
    assert date(2026, 2, 21) in schedule.holidays
    assert date(2026, 1, 3) in schedule.holidays  # Saturday ending 1月1日至3日
    assert schedule.makeup_workdays == [
        date(2026, 1, 4),
        date(2026, 2, 14),
        date(2026, 2, 28),
        date(2026, 5, 9),
        date(2026, 9, 20),
        date(2026, 10, 10),
    ]


def test_ranges_across_months_and_single_days(
    package_calendar: WorkingCalendar,
) -> None:
    schedule = parse_notice(NOTICE_2025)

    assert {date(2025, 5, 31), date(2025, 6, 1), date(2025, 6, 2)} <= set(
        schedule.holidays
    )
    assert statuses(WorkingCalendar([schedule]), 2025) == statuses(
        package_calendar, 2025
    )


def test_the_year_may_be_given_when_the_title_is_missing(notice_2026: str) -> None:
    body = notice_2026.split("\n", 1)[1]

    assert parse_notice(body, 2026).holidays == parse_notice(notice_2026).holidays
    with pytest.raises(NoticeError) as raised:
        parse_notice(body)
    assert codes(raised.value) == ["notice_no_year"]


def test_a_year_contradicting_the_title_is_refused(notice_2026: str) -> None:
    with pytest.raises(NoticeError) as raised:
        parse_notice(notice_2026, 2027)

    assert codes(raised.value) == ["notice_year_mismatch"]


def test_a_notice_read_for_the_wrong_year_is_caught_by_its_weekdays(
    notice_2026: str,
) -> None:
    relabelled = notice_2026.replace("关于2026年", "关于2027年")

    with pytest.raises(NoticeError) as raised:
        parse_notice(relabelled)

    assert set(codes(raised.value)) == {"notice_weekday_mismatch"}
    assert "2027-01-01 写作周四，但 2027 年的这一天是周五" in str(raised.value)


def test_a_day_count_that_does_not_match_the_range_is_refused(notice_2026: str) -> None:
    with pytest.raises(NoticeError) as raised:
        parse_notice(notice_2026.replace("共9天", "共8天"))

    assert codes(raised.value) == ["notice_count_mismatch"]
    assert "2026-02-15 至 2026-02-23 共 9 天" in str(raised.value)


def test_a_weekday_listed_as_makeup_day_is_refused(notice_2026: str) -> None:
    with pytest.raises(NoticeError) as raised:
        parse_notice(notice_2026.replace("1月4日（周日）上班", "1月5日上班"))

    assert codes(raised.value) == ["makeup_not_weekend"]


def test_a_day_without_its_month_is_refused(notice_2026: str) -> None:
    broken = notice_2026.replace(
        "一、元旦：1月1日（周四）至3日", "一、元旦：1日（周四）至3日"
    )

    with pytest.raises(NoticeError) as raised:
        parse_notice(broken)

    assert "notice_missing_month" in codes(raised.value)


def test_days_of_another_year_are_refused_not_dropped() -> None:
    text = (
        "关于2019年部分节假日安排的通知\n"
        "一、元旦：2018年12月30日至2019年1月1日放假调休，共3天。"
    )

    with pytest.raises(NoticeError) as raised:
        parse_notice(text)

    (problem,) = raised.value.problems
    assert problem.render() == t(
        "calendar.dates_outside_year",
        first="2018-12-30",
        last="2018-12-31",
        days=2,
        year=2019,
    )


def test_a_range_of_another_year_is_said_once_not_day_by_day() -> None:
    """Trial: a TOML schedule of 2028 with a range of 2027 was refused with
    365 lines, one a day."""
    data = b'year = 2028\nholidays = [2028-01-01, "2027-01-01..2027-12-31"]\n'

    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, "2028.toml")

    (problem,) = raised.value.problems
    assert problem.code == "dates_outside_year"
    assert "365" in problem.render()


def test_text_without_any_holiday_is_refused() -> None:
    with pytest.raises(NoticeError) as raised:
        parse_notice("关于2026年部分节假日安排的通知\n\n此处没有正文。")

    assert codes(raised.value) == ["notice_no_holidays"]


def test_every_reason_is_chinese_text_without_placeholders(notice_2026: str) -> None:
    with pytest.raises(NoticeError) as raised:
        parse_notice(
            notice_2026.replace("关于2026年", "关于2027年").replace("共9天", "共2天")
        )

    for problem in raised.value.problems:
        assert "{" not in problem.message
        assert any("\u4e00" <= char <= "\u9fff" for char in problem.message)


# Admins' files.


def test_the_toml_and_csv_forms_give_the_same_schedule(
    made_up_2027: YearSchedule,
) -> None:
    csv_path = DATA / "2027-test-schedule.csv"
    from_csv = load_schedule_file(csv_path.read_bytes(), csv_path.name)

    assert from_csv.holidays == made_up_2027.holidays
    assert from_csv.makeup_workdays == made_up_2027.makeup_workdays
    assert made_up_2027.year == from_csv.year == 2027
    assert len(made_up_2027.holidays) == 1 + 8 + 5  # ranges are expanded
    assert made_up_2027.source.endswith("made-up test data")


@pytest.mark.parametrize("name", ["2027-test-schedule.toml", "2027-test-schedule.csv"])
def test_the_form_is_recognised_without_a_file_name(
    name: str, made_up_2027: YearSchedule
) -> None:
    schedule = load_schedule_file((DATA / name).read_bytes(), None)

    assert schedule.holidays == made_up_2027.holidays


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
@pytest.mark.parametrize("hint", [None, "2026年放假安排.txt"])
def test_the_notice_text_is_read_as_a_file(
    notice_2026: str, encoding: str, hint: str | None
) -> None:
    schedule = load_schedule_file(notice_2026.encode(encoding), hint)

    assert schedule.holidays == parse_notice(notice_2026).holidays
    assert schedule.makeup_workdays == parse_notice(notice_2026).makeup_workdays


def test_the_expected_year_is_checked(made_up_2027: YearSchedule) -> None:
    data = (DATA / "2027-test-schedule.toml").read_bytes()

    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, "x.toml", year=2028)

    assert codes(raised.value) == ["year_mismatch"]


def test_a_malformed_toml_file_is_located_in_chinese() -> None:
    """Regression: the refusal repeated tomllib's English message."""
    data = b'year = 2027\nholidays = ["2027-01-01"\nmakeup = 1\n'

    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, "2027.toml")

    (problem,) = raised.value.problems
    assert problem.code == "toml_invalid_at" and problem.row == 3
    assert problem.render() == "第 3 行：" + t("calendar.toml_invalid_at", column=1)
    assert english_words(problem.render(), "TOML") == []


@pytest.mark.parametrize(
    "data",
    [b"year = 2027\nholidays = [2027-01-01\n", b'year = 2027\nsource = """notice\n'],
    ids=["array-left-open", "string-left-open"],
)
def test_a_toml_file_ending_unfinished_is_said_to_be_so(data: bytes) -> None:
    """Trial: a bracket left open was refused with no place named at all."""
    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, "2027.toml")

    assert codes(raised.value) == ["toml_invalid_end"]


def test_an_unsound_toml_file_is_refused_with_every_reason() -> None:
    data = b"""
year = 2027
holidays = [2027-01-01, "2027-01-01", "2027-02-10..2027-02-08", "2027-13-01"]
makeup_workdays = [2027-01-04, 2028-01-01]
"""

    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, "2027.toml")
    assert codes(raised.value) == ["bad_date_value", "bad_range"]

    fixed = data.replace(b', "2027-02-10..2027-02-08", "2027-13-01"', b"")
    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(fixed, "2027.toml")
    assert codes(raised.value) == [
        "date_outside_year",
        "duplicate_holiday",
        "makeup_not_weekend",
    ]


def test_a_toml_file_without_year_is_refused() -> None:
    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(b"holidays = [2027-01-01]\n", "2027.toml")

    assert codes(raised.value) == ["toml_missing_key"]
    assert "year" in str(raised.value)


def test_a_misspelt_toml_key_is_refused_naming_the_key_meant() -> None:
    """Trial: ``makeup_workday`` (no final s) was ignored, the file loaded,
    and the year's three stored make-up days were replaced by none."""
    data = b"year = 2027\nholidays = [2027-01-01]\nmakeup_workday = [2027-02-20]\n"

    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, "2027.toml")

    (problem,) = raised.value.problems
    assert problem.render() == t(
        "calendar.toml_unknown_key_like", key="makeup_workday", like="makeup_workdays"
    )


def test_an_unknown_toml_key_is_refused_with_every_other_reason() -> None:
    data = b"holidays = [2027-01-01]\nremarks = 1\n"

    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, "2027.toml")

    assert codes(raised.value) == ["toml_missing_key", "toml_unknown_key"]
    assert "remarks" in str(raised.value)


@pytest.mark.parametrize("year", ['"二〇二七"', "2027.5", "true", "27", "[2027]"])
def test_a_year_that_is_no_year_is_said_to_be_so(year: str) -> None:
    """Trial: ``year = "二〇二七"`` was refused as if the file had no year."""
    data = f"year = {year}\nholidays = [2027-01-01]\n".encode()

    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, "2027.toml")

    assert codes(raised.value) == ["toml_bad_year"]


def test_csv_problems_name_their_row() -> None:
    data = (
        "date,kind\n2027-01-01,holiday\n2027-01-02,vacation\n2028-01-03,放假\n".encode()
    )

    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, "2027.csv")

    assert codes(raised.value) == ["csv_bad_kind", "date_outside_year"]
    assert [problem.row for problem in raised.value.problems] == [3, 4]
    assert str(raised.value).startswith("第 3 行：")


def test_every_problem_of_a_csv_names_its_row_beside_unreadable_rows() -> None:
    """Trial: duplicates, a make-up day on a weekday and a day of another year
    were said without their rows, and not at all beside a row that could not
    be read."""
    data = (
        b"date,kind\n"
        b"2027-01-01,holiday\n"  # 2
        b"2027-02-05..2027-02-11,holiday\n"  # 3
        b"2027-01-01,holiday\n"  # 4: listed again
        b"2027-02-22,makeup_workday\n"  # 5: a Monday
        b"2028-01-03,holiday\n"  # 6: another year
        b"2027-02-10,makeup_workday\n"  # 7: a holiday of row 3
        b"2027-13-01,holiday\n"  # 8: no such day
        b"2027-01-01,holiday\n"  # 9: again, said once at row 4
    )

    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, "2027.csv")

    said = [(problem.row, problem.code) for problem in raised.value.problems]
    assert said == [
        (4, "duplicate_holiday"),
        (5, "makeup_not_weekend"),
        (6, "date_outside_year"),
        (7, "holiday_and_makeup"),
        (8, "bad_date_value"),
    ]
    assert raised.value.problems[0].render() == "第 4 行：" + t(
        "calendar.duplicate_holiday", day="2027-01-01", count=3
    )


@pytest.mark.parametrize("hint", ["2027.csv", None])
@pytest.mark.parametrize(
    "data", [b"date,kind\n", b"date,kind,note\r\n\r\n,,\r\n"], ids=["alone", "blank"]
)
def test_a_csv_file_of_its_header_alone_is_said_to_have_no_days(
    hint: str | None, data: bytes
) -> None:
    """Trial: the header alone was refused with "第 2 行：每行应至少有日期和类型
    两列" for a file that has no line 2."""
    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, hint)

    assert codes(raised.value) == ["csv_no_days"]
    assert raised.value.problems[0].row is None
    assert str(raised.value) == t("calendar.csv_no_days")


def test_a_file_of_no_known_form_is_refused() -> None:
    with pytest.raises(ScheduleError) as raised:
        load_schedule_file("随便写的一段文字，没有日期。".encode(), None)

    assert codes(raised.value) == ["file_unreadable"]


@pytest.mark.parametrize("hint", ["2027.toml", "2027.csv", "notice.txt", None])
@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf\r\n  \n\t\n"], ids=["0", "blank"])
def test_an_empty_file_is_said_to_be_empty_whatever_its_form(
    hint: str | None, data: bytes
) -> None:
    """Regression: an empty file was called unreadable (neither TOML, CSV nor
    the notice), and a blank .toml said to lack "year" and "holidays"."""
    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, hint)

    assert codes(raised.value) == ["file_empty"]
    assert raised.value.problems[0].message == t("calendar.file_empty")


def test_a_december_day_of_the_previous_year_is_named_as_such() -> None:
    # The shape of pre-2008 notices: the make-up Saturday belongs to last year.
    text = (
        "关于2006年部分节假日安排的通知\n"
        "一、元旦：1月1日—3日放假，共3天。12月31日（星期六）上班。"
    )

    with pytest.raises(NoticeError) as raised:
        parse_notice(text)

    assert codes(raised.value) == ["notice_previous_year_day"]
    assert "上一年的 2005-12-31" in str(raised.value)


NOTICE_2026_PERIODS = [
    (date(2026, 1, 1), date(2026, 1, 3)),
    (date(2026, 2, 15), date(2026, 2, 23)),
    (date(2026, 4, 4), date(2026, 4, 6)),
    (date(2026, 5, 1), date(2026, 5, 5)),
    (date(2026, 6, 19), date(2026, 6, 21)),
    (date(2026, 9, 25), date(2026, 9, 27)),
    (date(2026, 10, 1), date(2026, 10, 7)),
]


def test_holiday_periods_are_the_notices_from_either_source(
    notice_2026: str, package_calendar: WorkingCalendar
) -> None:
    """Regression: 'calendar show 2026' listed 22 days off (the package lists
    official days only, some weekend days of a period and not others) where
    the notice gives seven periods of 33 days."""
    from_notice = holiday_periods(parse_notice(notice_2026))
    from_package = holiday_periods(package_calendar.schedule_for(2026))

    assert from_notice == NOTICE_2026_PERIODS
    assert from_package == NOTICE_2026_PERIODS
    assert sum((last - first).days + 1 for first, last in from_notice) == 33


@pytest.mark.parametrize("hint", ["2027.xlsx", "2027.csv", None])
def test_a_workbook_given_as_the_calendar_says_it_must_be_csv(
    hint: str | None, tmp_path: Path
) -> None:
    """Staff trial: an xlsx given to ``calendar load`` was said to be in an
    unknown text encoding ("请以 UTF-8 保存"), which says nothing of the cause."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["date", "kind"])
    sheet.append(["2027-01-01", "holiday"])
    book.save(tmp_path / "2027.xlsx")

    with pytest.raises(ScheduleError) as raised:
        load_schedule_file((tmp_path / "2027.xlsx").read_bytes(), hint)

    assert codes(raised.value) == ["file_not_text"]
    message = raised.value.problems[0].message
    assert "xlsx" in message and "CSV 文件" in message


def test_a_pdf_given_as_the_calendar_is_named_as_such() -> None:
    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(b"%PDF-1.7\n\xe2\xe3\xcf\xd3\n1 0 obj", "2027.csv")

    assert codes(raised.value) == ["file_not_text"]
    assert "PDF" in raised.value.problems[0].message


def test_a_file_over_a_megabyte_is_refused_before_it_is_read() -> None:
    """Trial: a 57 MB CSV took 11.7 s and 1.1 GB of memory to be refused."""
    row = b"2027-01-01,holiday\n"
    data = b"date,kind\n" + row * (1024 * 1024 // len(row) + 1)

    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, "2027.csv")

    (problem,) = raised.value.problems
    assert problem.render() == t("calendar.file_too_big", size="1.1")


def test_a_notice_is_named_by_the_hash_of_the_file_as_uploaded(
    notice_2026: str,
) -> None:
    """Trial: a notice saved in GB18030 was named by the hash of its text
    re-encoded as UTF-8, not of the file (docs/calendar.md says the file)."""
    data = notice_2026.encode("gb18030")

    schedule = load_schedule_file(data, "2026-notice.txt")

    assert schedule.source == f"notice:{hashlib.sha256(data).hexdigest()[:12]}"


def test_the_row_of_another_year_is_named_even_when_its_range_is_long() -> None:
    """Review: the year was the one most days were in, so a week of 2026
    mistyped beside a row of 2027 blamed the 2027 row; and a row's days of
    another year were named by the first one only."""
    data = (
        b"date,kind\n"
        b"2027-01-01..2027-01-03,holiday\n"  # 2
        b"2027-10-01,holiday\n"  # 3
        b"2026-02-01..2026-02-07,holiday\n"  # 4: the mistyped year
    )

    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, "2027.csv")

    (problem,) = raised.value.problems
    assert problem.row == 4
    assert problem.render() == "第 4 行：" + t(
        "calendar.dates_outside_year",
        first="2026-02-01",
        last="2026-02-07",
        days=7,
        year=2027,
    )


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"date,kind\n1000-01-01..9999-12-31,holiday\n", "2027.csv"),
        (b'year = 2027\nholidays = ["2027-01-01..2028-12-31"]\n', "2027.toml"),
    ],
    ids=["csv", "toml"],
)
def test_a_range_longer_than_a_year_is_refused_at_once(data: bytes, name: str) -> None:
    """Review: a 45-byte range of three million days took some ten seconds."""
    with pytest.raises(ScheduleError) as raised:
        load_schedule_file(data, name)

    assert codes(raised.value) == ["range_too_long"]
