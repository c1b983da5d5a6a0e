"""The consistency report and the national platform's file of a large plan are
built while the activity goes on heartbeating.

Regression: both were built on the worker's event loop. A large plan's
workbook took seconds of CPU there, during which no heartbeat went out (nor
did any other activity of the worker move); on a busy host such an attempt
could miss its 30 s heartbeat timeout and be run a second time. They are now
built in a thread, as the batch report and the certificates are.

The heartbeat timeout is scaled down (0.9 s, a heartbeat every 0.3 s), the plan
large enough that building its workbook takes seconds; its scores and
sign-ins are real rows in PostgreSQL and the workbook a real stored file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from io import BytesIO
from itertools import pairwise
from typing import Any

import openpyxl
import pytest

from activities.documents import DocumentStore
from activities.intake import IntakeActivities
from certflow.activity_models import ConsistencyRequest, PlatformImportRequest
from certflow.models import DocumentRef, PlanInfo
from tests.support import one_activity, registered_plan

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(180)]

# Candidates of a large plan: its workbook then takes well over a second to
# build (the consistency report's lines are shorter work than the platform's).
REPORTED = 24000
EXPORTED = 9000
HEARTBEAT_TIMEOUT = timedelta(seconds=0.9)
# The build must take this long for the test to tell anything.
AT_LEAST = 1.5


async def large_plan(pool: Any, candidates: int) -> PlanInfo:
    """A registered plan of ``candidates`` scores, each signed in under
    another name: every candidate is one line of the consistency report."""
    plan, _ = await registered_plan(pool)
    now = datetime.now(UTC)
    await pool.executemany(
        "INSERT INTO scores (plan_id, admission_number, module_code, seq, name,"
        " id_type, id_number, theory, practical, total, status, passed,"
        " source_version, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, '身份证', $6, 60, 70, 66, 'present', true,"
        " 1, $7)",
        [
            (plan.plan_id, f"A{i:08d}", plan.module_code, i, f"张{i}", _id(i), now)
            for i in range(candidates)
        ],
    )
    await pool.executemany(
        "INSERT INTO sign_ins (plan_id, kind, version, seq, name, id_number,"
        " admission_number) VALUES ($1, 'candidates', 1, $2, $3, $4, $5)",
        [(plan.plan_id, i, f"李{i}", _id(i), f"A{i:08d}") for i in range(candidates)],
    )
    return plan


def _id(i: int) -> str:
    return f"11010119900101{i:04d}"


async def built_while_heartbeating(
    build: Callable[[Any], Awaitable[Any]], request: Any
) -> Any:
    """Run the activity ``build`` on ``request``, as an attempt given a
    heartbeat timeout; what it returned, once it is seen to have heartbeated
    all along a build of seconds."""
    loop = asyncio.get_running_loop()
    env = one_activity(build.__name__, heartbeat_timeout=HEARTBEAT_TIMEOUT)
    beats: list[float] = []
    env.on_heartbeat = lambda *_: beats.append(loop.time())

    started = loop.time()
    result = await env.run(build, request)
    ended = loop.time()

    took = ended - started
    longest = max(b - a for a, b in pairwise([started, *beats, ended]))
    assert took > AT_LEAST, f"the build took {took:.2f} s: make the plan larger"
    assert longest < HEARTBEAT_TIMEOUT.total_seconds(), (
        f"no heartbeat for {longest:.2f} s of a {took:.2f} s build"
    )
    return result


async def test_a_large_consistency_report_is_built_while_heartbeating(
    resources: tuple[Any, DocumentStore],
) -> None:
    pool, store = resources
    plan = await large_plan(pool, REPORTED)
    intake = IntakeActivities(pool, store)
    request = ConsistencyRequest(plan=plan, signed_evaluator_ids=[])

    summary = await built_while_heartbeating(intake.build_consistency_report, request)

    # Built to the end, every candidate reported, the file stored.
    assert summary.mismatch_count == REPORTED
    assert rows_of(store, summary.report) > REPORTED


async def test_a_large_platform_file_is_built_while_heartbeating(
    resources: tuple[Any, DocumentStore],
) -> None:
    pool, store = resources
    plan = await large_plan(pool, EXPORTED)
    intake = IntakeActivities(pool, store)

    ref = await built_while_heartbeating(
        intake.build_platform_import, PlatformImportRequest(plan=plan)
    )

    assert rows_of(store, ref) > EXPORTED


def rows_of(store: DocumentStore, ref: DocumentRef) -> int:
    """How many rows the stored workbook's first sheet has."""
    book = openpyxl.load_workbook(BytesIO(store.get(ref)), read_only=True)
    rows = book.worksheets[0].max_row or 0
    book.close()
    return rows
