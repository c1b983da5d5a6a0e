"""Fixtures shared by the calendar tests: the package calendar and the test data."""

from __future__ import annotations

from pathlib import Path

import pytest

from certflow.calendar import WorkingCalendar, YearSchedule, load_schedule_file

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def package_calendar() -> WorkingCalendar:
    """Every year the holidays package knows officially."""
    return WorkingCalendar.from_holidays_package()


@pytest.fixture(scope="session")
def made_up_2027() -> YearSchedule:
    """The made-up 2027 test schedule of data/ (not an official notice)."""
    path = DATA / "2027-test-schedule.toml"
    return load_schedule_file(path.read_bytes(), path.name)


@pytest.fixture(scope="session")
def notice_2026() -> str:
    """The State Council's 2026 notice as published (samples/calendar/)."""
    path = (
        Path(__file__).resolve().parents[2] / "samples" / "calendar" / "2026-notice.txt"
    )
    return path.read_text(encoding="utf-8")
