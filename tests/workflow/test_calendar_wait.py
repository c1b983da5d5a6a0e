"""A plan whose publicity needs a year the calendar does not know waits for it.

Decision (PROCESS.md, "Time"): a year with no published schedule is never
guessed. The plan records the missing year (shown in the Web UI through the
CalendarMissing search attribute), administrators are mailed, and the window is
computed once the year is loaded.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import PatchActivationInput

from activities.calendar import CalendarActivities
from certflow.actions import CalendarReloaded, PlanStatus
from certflow.calendar import load_schedule_file
from certflow.i18n import t
from certflow.models import Stage
from tests.conftest import TEST_2027
from tests.support import (
    PlanDriver,
    correction_request,
    own_worker,
    settle,
    worker_decoding,
)
from workflows import ExamPlanWorkflow
from workflows.exam_plan import (
    CALENDAR_MISSING_TOLD_ONCE,
    PUBLICITY_AFTER_CALENDAR_LOAD,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def _load_2027(pool: Any) -> None:
    """Load the test schedule of 2027 back, as an administrator would."""
    schedule = load_schedule_file(TEST_2027.read_bytes(), TEST_2027.name)
    await CalendarActivities(pool).store_year(
        schedule, loaded_by="test-admin", at=datetime.now(UTC)
    )


async def _until_2027_is_missed(driver: PlanDriver) -> None:
    """Play stages 1-3 of the plan right, until it waits for the year 2027."""
    await driver.start()
    await driver.submit_everything()
    await driver.approve_review()
    await driver.confirm_upload()
    await driver.wait_for(lambda s: s.calendar_missing_years == [2027])


async def test_plan_waits_for_an_unknown_year_then_computes_publicity(
    make_driver: Any, resources: Any, sink_messages: Any
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    window_years = await pool.fetchval(
        "DELETE FROM calendar_years WHERE year = 2027 RETURNING year"
    )
    assert window_years == 2027
    try:
        await driver.start()
        await driver.submit_everything()
        await driver.approve_review()
        await driver.confirm_upload()
        status = await driver.wait_for(lambda s: s.calendar_missing_years == [2027])
        assert status.publicity is None
        assert status.stage == Stage.SCORE_PUBLICATION
        admin_mails: list[Any] = []
        for _ in range(50):  # the mail follows the recorded state by a moment
            admin_mails = [
                m
                for m in sink_messages()
                if m["X-Certflow-Plan"] == driver.plan.plan_id
                and "admin@" in str(m["To"])
            ]
            if admin_mails:
                break
            await asyncio.sleep(0.1)
        assert admin_mails and "2027" in str(admin_mails[0]["Subject"])
    finally:
        await _load_2027(pool)

    await driver.h.signal(
        ExamPlanWorkflow.calendar_reloaded, CalendarReloaded(years=[2027])
    )
    status = await driver.wait_for(lambda s: s.stage == Stage.AWAITING_PUBLICITY)
    assert status.publicity is not None and status.calendar_missing_years == []


async def test_a_load_signalled_while_the_plan_mails_the_admins_is_not_lost(
    make_driver: Any, resources: Any
) -> None:
    """Regression: the plan used to clear the reload flag after mailing the
    administrators, so a load signalled during that mail was forgotten and the
    plan slept a whole day."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await pool.execute("DELETE FROM calendar_years WHERE year = 2027")
    try:
        await _until_2027_is_missed(driver)
    finally:
        await _load_2027(pool)
    # Signalled at once, while the plan may still be mailing the administrators.
    await driver.h.signal(
        ExamPlanWorkflow.calendar_reloaded, CalendarReloaded(years=[2027])
    )
    status = await driver.wait_for(
        lambda s: s.stage == Stage.AWAITING_PUBLICITY, attempts=50
    )
    assert status.publicity is not None


async def test_the_admins_are_told_of_a_missing_year_once_not_every_day(
    make_driver: Any, resources: Any
) -> None:
    """Regression: the plan looks for the year again once a day in case the
    load's signal was missed, and mailed the administrators again at each
    look: a plan waiting three weeks sent them 20 【需要处理】 mails, and every
    other plan waiting for the year as many."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await pool.execute("DELETE FROM calendar_years WHERE year = 2027")
    try:
        await _until_2027_is_missed(driver)
        for _ in range(4):
            await driver.skip(1)
        await driver.wait_for(lambda s: s.calendar_missing_years == [2027])
    finally:
        await _load_2027(pool)
    # Found on the plan's own daily look, the signal being missed.
    await driver.skip(1)
    await driver.wait_for(lambda s: s.publicity is not None)

    missing = await _admins_told(driver)
    assert len(missing) == 1, len(missing)
    assert missing[0]["roles"] == ["admin"]


async def _admins_told(driver: PlanDriver) -> list[dict[str, Any]]:
    """The plan's notices of a missing year, as its history scheduled them."""
    scheduled = []
    async for event in driver.h.fetch_history_events():
        attributes = event.activity_task_scheduled_event_attributes
        if attributes.activity_type.name == "notify":
            scheduled.append(json.loads(attributes.input.payloads[0].data))
    return [n for n in scheduled if n["template"] == "calendar_missing"]


async def _told_of_the_late_load(
    driver: PlanDriver, exam_end: date
) -> tuple[date, PlanStatus]:
    """Signal the load of 2027, made today after E+16; the day of the load and
    the plan's status once its window is set."""
    loaded_on = await driver.today()
    assert loaded_on > exam_end + timedelta(days=16)
    await driver.h.signal(
        ExamPlanWorkflow.calendar_reloaded, CalendarReloaded(years=[2027])
    )
    return loaded_on, await driver.wait_for(lambda s: s.publicity is not None)


async def test_a_window_known_only_after_a_late_load_still_lasts_fifteen_days(
    make_driver: Any, resources: Any
) -> None:
    """Regression: the window was dated from the confirmation however late
    the missing year was loaded. Loaded on E+20, publicity was announced on
    its fifth day, and a request made while the plan waited was refused as
    if the plan were still in 成绩上传. The window starts the day after the
    load now, as after a late confirmation, and the waiting plan's refusal
    says what it waits for."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await pool.execute("DELETE FROM calendar_years WHERE year = 2027")
    exam_end = driver.plan.exam_end_date
    try:
        await _until_2027_is_missed(driver)
        await driver.skip(20)
        await driver.wait_for(lambda s: s.calendar_missing_years == [2027])
        try:
            await driver.h.execute_update(
                ExamPlanWorkflow.submit_correction,
                correction_request("2026110412012", "practical", "60.10"),
            )
        except WorkflowUpdateFailedError as err:
            assert isinstance(err.cause, ApplicationError)
            assert err.cause.message == t("plan.calendar_missing", years="2027")
        else:
            raise AssertionError("a request was taken while the window was unknown")
    finally:
        await _load_2027(pool)
    loaded_on, status = await _told_of_the_late_load(driver, exam_end)
    window = status.publicity
    assert window is not None
    assert window.start_day == loaded_on + timedelta(days=1)
    assert window.end_day == window.start_day + timedelta(days=14)
    assert status.stage == Stage.AWAITING_PUBLICITY
    status = await driver.open_publicity()
    assert status.stage == Stage.PUBLICITY


async def test_a_plan_waiting_for_the_calendar_when_released_takes_both_fixes(
    make_driver: Any, resources: Any
) -> None:
    """Review: the plans a missing year keeps waiting are the ones these
    fixes are for, and a plan waiting when the release came kept mailing the
    administrators daily and dated its window from the confirmation: its
    patches were plain, asked at each look, and said no on replaying the
    looks from before the release, a patch's answer holding for the whole
    run. The release before is played by a worker declining both patches."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await pool.execute("DELETE FROM calendar_years WHERE year = 2027")
    exam_end = driver.plan.exam_end_date
    patches = (CALENDAR_MISSING_TOLD_ONCE, PUBLICITY_AFTER_CALENDAR_LOAD)

    def before_the_release(asked: PatchActivationInput) -> bool:
        return not asked.patch_id.startswith(patches)

    try:
        # No cache, so no task is left on the stopped worker's sticky queue.
        async with own_worker(
            driver,
            resources,
            patch_activation_callback=before_the_release,
            max_cached_workflows=0,
        ):
            await _until_2027_is_missed(driver)
            for _ in range(2):
                await driver.skip(1)
                await driver.wait_for(lambda s: s.calendar_missing_years == [2027])
            # Its mails sent: an attempt cut off by the worker's stop would
            # hold the test server's clock.
            assert await settle(driver.client, driver.h.id, any_activity=True)
        mailed_before = len(await _admins_told(driver))
        async with worker_decoding(driver.client, driver.settings, resources, None):
            for _ in range(20):
                await driver.skip(1)
                await driver.wait_for(lambda s: s.calendar_missing_years == [2027])
            assert len(await _admins_told(driver)) == mailed_before
            await _load_2027(pool)
            loaded_on, status = await _told_of_the_late_load(driver, exam_end)
    finally:
        await _load_2027(pool)
    assert mailed_before >= 2  # a look of the release before mailed again
    assert status.publicity is not None
    assert status.publicity.start_day == loaded_on + timedelta(days=1)


async def test_a_run_continued_while_waiting_dates_its_window_from_its_look(
    make_driver: Any, resources: Any
) -> None:
    """Review: the instant a window is dated from after a wait was kept by
    the run alone. A plan continuing as new at the wake that finds the year
    (its history long) dated the window from the confirmation again. The
    first look of a run continued while waiting is dated from that look."""
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await pool.execute("DELETE FROM calendar_years WHERE year = 2027")
    try:
        await driver.start(history_event_limit=100)
        await driver.submit_everything()
        await driver.approve_review()
        await driver.confirm_upload()
        confirmed = await driver.env.get_current_time()
        await driver.wait_for(lambda s: s.calendar_missing_years == [2027])
        waiting_since = await driver.env.get_current_time()
        latest = driver.client.get_workflow_handle(driver.h.id)
        looks: list[dict[str, Any]] = []
        # Loads signalled without the year: each wakes the plan to look
        # again, until its history is long enough for it to continue as new
        # at one of them. No skip of the clock: the test server may time a
        # skip across a continue-as-new out ("Timeout expired").
        for _ in range(60):
            await latest.signal(
                ExamPlanWorkflow.calendar_reloaded, CalendarReloaded(years=[2027])
            )
            await asyncio.sleep(0.2)
            history = await latest.fetch_history()
            started = history.events[0].event_time.ToDatetime(tzinfo=UTC)
            if started <= waiting_since:
                continue  # the run that began to wait
            looks = [
                json.loads(attributes.input.payloads[0].data)
                for event in history.events
                if (
                    attributes := event.activity_task_scheduled_event_attributes
                ).activity_type.name
                == "publicity_window"
            ]
            if looks:
                break
        else:
            raise AssertionError("the plan never continued as new while waiting")
    finally:
        await _load_2027(pool)
    assert looks, "the continued run did not look for the year"
    looked_from = datetime.fromisoformat(looks[0]["confirmed_at"])
    # From the continued run's own look, after the confirmation (the clock
    # moves on in real time between the signals).
    assert confirmed <= waiting_since < started <= looked_from
