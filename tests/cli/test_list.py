"""``certflow list`` against a real dev server: visibility queries by stage.

The time-skipping test server has no visibility store, so this test starts the
dev server from the package binary on free loopback ports, with a worker on the
session's database, and lets the command connect by itself as staff would.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from activities.documents import DocumentStore
from certflow.actions import plan_workflow_id
from certflow.config import Settings
from certflow.i18n import t
from certflow.timeutil import cst_date
from starter.devserver import DevServer, temporal_cli_path
from tests.cli.conftest import Outcome, certflow_runner
from tests.cli.test_commands import start_argv
from tests.support import sample_plan, unique_plan_id
from worker import build_worker, connect

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(90)]


def free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports, all held open until chosen."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


async def until_listed(run: Any, plan_id: str, *argv: str) -> Outcome:
    """Run ``list`` until the plan shows up (visibility lags the workflow a bit)."""
    for _ in range(50):
        outcome: Outcome = await run(*argv)
        if plan_id in outcome.out:
            return outcome
        await asyncio.sleep(0.2)
    raise AssertionError(f"{plan_id} never listed by {argv}: {outcome.out}")


async def test_list_finds_a_started_plan_by_stage(
    settings: Settings, resources: tuple[Any, DocumentStore], tmp_path: Path
) -> None:
    pool, store = resources
    port, ui_port, http_port, metrics_port = free_ports(4)
    server = DevServer(
        tmp_path / "temporal.sqlite",
        port=port,
        ui_port=ui_port,
        http_port=http_port,
        metrics_port=metrics_port,
    )
    async with server:
        dev = settings.model_copy(
            update={
                "temporal": settings.temporal.model_copy(
                    update={
                        "address": server.address,
                        "task_queue": f"cli-list-{uuid.uuid4().hex[:8]}",
                    }
                )
            }
        )
        client = await connect(dev)
        plan = sample_plan(cst_date(datetime.now(UTC)), unique_plan_id())
        certflow = certflow_runner(dev, None)  # connects as staff would

        async with build_worker(client, dev, pool, store):
            started = await certflow(*start_argv(plan))
            by_stage = await until_listed(
                certflow, plan.plan_id, "list", "--stage", "score_submission"
            )
            by_owner = await until_listed(
                certflow,
                plan.plan_id,
                "list",
                "--owed-by",
                "lead_evaluator",
                "--site",
                plan.site_code,
            )
            elsewhere = await certflow("list", "--stage", "publicity")
            not_overdue = await certflow("list", "--overdue")
            cli = await asyncio.create_subprocess_exec(
                str(temporal_cli_path()),
                "workflow",
                "list",
                "--address",
                server.address,
                "--query",
                "Stage='score_submission'",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            listed, errors = await asyncio.wait_for(cli.communicate(), 30)
            await client.get_workflow_handle(plan_workflow_id(plan.plan_id)).terminate(
                "test finished"
            )

    assert started.status == 0
    assert by_stage.status == 0
    row = next(line for line in by_stage.out.splitlines() if plan.plan_id in line)
    assert t("stages.score_submission") in row and plan.site_code in row
    assert t("cli.list.no") in row  # not overdue
    assert by_owner.status == 0
    assert plan.plan_id not in elsewhere.out
    assert plan.plan_id not in not_overdue.out
    assert cli.returncode == 0, errors.decode()
    assert plan_workflow_id(plan.plan_id) in listed.decode()
