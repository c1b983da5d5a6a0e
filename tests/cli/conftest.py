"""Fixtures of the staff-tool tests: run ``certflow`` against the test servers."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.documents import DocumentStore
from certflow.actions import plan_workflow_id
from certflow.config import Settings
from certflow.timeutil import cst_date
from starter.cli import run
from tests.support import (
    PlanDriver,
    sample_plan,
    terminate_when_idle,
    unique_plan_id,
)


@dataclass
class Outcome:
    """What one ``certflow`` run returned and printed."""

    status: int
    out: str


Certflow = Callable[..., Awaitable[Outcome]]


def certflow_runner(settings: Settings, client: Client | None) -> Certflow:
    """Return ``certflow(*argv)``: one run of the command, its output captured."""

    async def certflow(*argv: str) -> Outcome:
        buffer = io.StringIO()
        status = await run(list(argv), settings=settings, client=client, out=buffer)
        return Outcome(status, buffer.getvalue())

    return certflow


@pytest.fixture
def no_acting_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Nobody acting from the environment, and a database that refuses at
    once: the commands of such a test are refused before reaching anything."""
    for name in ("CERTFLOW_ROLE", "CERTFLOW_PERSON", "CERTFLOW_SITE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    return monkeypatch


@pytest.fixture
def certflow(client: Client, worker_settings: Settings) -> Certflow:
    """The command, on this test's worker and the time-skipping server."""
    return certflow_runner(worker_settings, client)


@pytest.fixture
async def new_driver(
    client: Client,
    env: WorkflowEnvironment,
    worker_settings: Settings,
    resources: tuple[Any, DocumentStore],
    tmp_path: Path,
) -> AsyncIterator[PlanDriver]:
    """A driver of a new plan (not started) ending today.

    The staff tool starts the plan; the driver only waits and skips time. The
    plan is terminated afterwards: its worker is gone, and a plan left running
    would wake on later tests' skipped time with nobody to run it.
    """
    today = cst_date(await env.get_current_time())
    plan = sample_plan(today, unique_plan_id())
    yield PlanDriver(
        client=client,
        env=env,
        settings=worker_settings,
        store=resources[1],
        plan=plan,
        tmp=tmp_path,
    )
    await terminate_when_idle(client, plan_workflow_id(plan.plan_id), "test finished")
