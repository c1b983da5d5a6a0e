"""A plan driver per test, on the sample plan with a unique plan id; mail
claims on short times."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import activities.notify as notify
from activities.documents import DocumentStore
from certflow.config import Settings
from certflow.timeutil import cst_date
from tests.conftest import replay_all
from tests.support import PlanDriver, sample_plan, terminate_when_idle, unique_plan_id


@pytest_asyncio.fixture(loop_scope="session")
async def make_driver(
    client: Client,
    env: WorkflowEnvironment,
    worker_settings: Settings,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
) -> AsyncIterator[Any]:
    """Return a factory of drivers, each for a new plan ending on today (CST).

    Plans still running at the end of the test are terminated: the time-skipping
    server will not skip time while their timers fire for a worker that is gone.
    """
    made: list[PlanDriver] = []

    async def make(**plan_fields: Any) -> PlanDriver:
        today = cst_date(await env.get_current_time())
        plan = sample_plan(today, unique_plan_id()).model_copy(update=plan_fields)
        folder = tmp_path / plan.plan_id
        folder.mkdir()
        driver = PlanDriver(
            client=client,
            env=env,
            settings=worker_settings,
            store=resources[1],
            plan=plan,
            tmp=folder,
        )
        made.append(driver)
        return driver

    yield make
    await replay_all([d.handle for d in made if d.handle is not None])
    for driver in made:
        if driver.handle is not None:
            await terminate_when_idle(client, driver.handle.id, "test finished")


@pytest.fixture
def short_claims(monkeypatch: pytest.MonkeyPatch) -> timedelta:
    """Mail claims renewed every 0.2 s, lapsing after 1.5 s; the lapse."""
    lapse = timedelta(seconds=1.5)
    monkeypatch.setattr(notify, "SEND_CLAIM", lapse)
    monkeypatch.setattr(notify, "RENEW_EVERY", timedelta(seconds=0.2))
    monkeypatch.setattr(notify, "UNCONFIRMED", lapse - timedelta(seconds=0.2))
    return lapse
