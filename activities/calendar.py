"""The working-day calendar as the workflows see it: through an activity.

Schedules come from the ``holidays`` package for the years it knows officially,
overridden by any year an administrator loaded into PostgreSQL. Workflows ask
here, never compute calendars themselves, so a replay reads the answer recorded
in history and never today's data.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import asyncpg
from temporalio import activity

from certflow.activity_models import (
    WindowAnswer,
    WindowRequest,
    WorkingDaysAnswer,
    WorkingDaysRequest,
)
from certflow.calendar import (
    UnknownYear,
    WorkingCalendar,
    YearSchedule,
    check_schedule,
    publicity_window,
    years_needed,
)

log = logging.getLogger(__name__)


class CalendarActivities:
    """Reads and stores year schedules; answers the workflows' date questions."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def calendar(self) -> WorkingCalendar:
        calendar = WorkingCalendar.from_holidays_package()
        for row in await self.pool.fetch(
            "SELECT schedule FROM calendar_years ORDER BY year"
        ):
            calendar = calendar.with_schedule(
                YearSchedule.model_validate(row["schedule"])
            )
        return calendar

    async def store_year(
        self, schedule: YearSchedule, *, loaded_by: str, at: datetime
    ) -> None:
        """Store (or replace) one year's schedule and audit who loaded it."""
        check_schedule(schedule)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                """
                INSERT INTO calendar_years
                    (year, schedule, source, loaded_by, loaded_at)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (year) DO UPDATE SET schedule = EXCLUDED.schedule,
                    source = EXCLUDED.source, loaded_by = EXCLUDED.loaded_by,
                    loaded_at = EXCLUDED.loaded_at
                """,
                schedule.year,
                schedule.model_dump(mode="json"),
                schedule.source,
                loaded_by,
                at,
            )
            await conn.execute(
                """
                INSERT INTO audit (plan_id, action, role, person, at, accepted, late,
                                   details, idempotency_key)
                VALUES ('-', 'calendar_load', 'admin', $1, $2, true, false, $3, $4)
                """,
                loaded_by,
                at,
                {"year": str(schedule.year), "source": schedule.source},
                f"calendar/{schedule.year}/{at.isoformat()}",
            )
        log.info(
            "calendar year stored year=%d source=%s", schedule.year, schedule.source
        )

    @activity.defn
    async def publicity_window(self, req: WindowRequest) -> WindowAnswer:
        """The publicity window, or the years that must be loaded first."""
        calendar = await self.calendar()
        missing = sorted(
            years_needed(req.exam_end, req.confirmed_at) - calendar.known_years()
        )
        if missing:
            return WindowAnswer(missing_years=missing)
        try:
            return WindowAnswer(
                window=publicity_window(req.exam_end, req.confirmed_at, calendar)
            )
        except UnknownYear as unknown:
            return WindowAnswer(missing_years=[unknown.year])

    @activity.defn
    async def working_days_after(self, req: WorkingDaysRequest) -> WorkingDaysAnswer:
        """The ``count``-th working day after ``day``, or the year unknown."""
        calendar = await self.calendar()
        try:
            last = calendar.working_days_after(req.day, req.count)
        except UnknownYear as unknown:
            return WorkingDaysAnswer(missing_year=unknown.year)
        span = (req.day + timedelta(days=n) for n in range(1, (last - req.day).days))
        days = [day for day in span if calendar.is_working_day(day)]
        return WorkingDaysAnswer(day=last, days=[*days, last])
