"""The weekly Temporal Schedule that gathers approval batches, on a dev server
(the time-skipping test server has no schedules)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from certflow.config import Settings
from certflow.timeutil import CST
from starter.devserver import DevServer
from starter.schedules import SCHEDULE_ID, TIME_ZONE, ensure_batch_schedule
from tests.support import free_ports
from worker import build_worker, connect

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(90)]


async def test_schedule_is_created_once_in_cst_and_starts_batches(
    settings: Settings, resources: Any, tmp_path: Path
) -> None:
    pool, store = resources
    port, ui, http, metrics = free_ports(4)
    server = DevServer(
        tmp_path / "t.sqlite",
        port=port,
        ui_port=ui,
        http_port=http,
        metrics_port=metrics,
    )
    async with server:
        dev = settings.model_copy(
            update={
                "temporal": settings.temporal.model_copy(
                    update={"address": server.address, "task_queue": uuid.uuid4().hex}
                ),
                "batch_schedule": "0 9 * * MON",
            }
        )
        client = await connect(dev)
        await ensure_batch_schedule(client, dev)
        await ensure_batch_schedule(client, dev)  # a restart changes nothing

        handle = client.get_schedule_handle(SCHEDULE_ID)
        described = await handle.describe()
        # The server keeps the cron line as calendar specs; its next firing tells.
        assert described.schedule.spec.time_zone_name == TIME_ZONE
        upcoming = described.info.next_action_times[0]
        assert upcoming.astimezone(CST).hour == 9
        assert upcoming.astimezone(CST).weekday() == 0

        async with build_worker(client, dev, pool, store):
            await handle.trigger()
            for _ in range(100):
                described = await handle.describe()
                if described.info.recent_actions:
                    break
                await asyncio.sleep(0.1)
            started = described.info.recent_actions[-1].action
            run = client.get_workflow_handle(started.workflow_id)
            result = await asyncio.wait_for(run.result(), 30)
            # The batch took its name from its own workflow id, unique per run.
            assert result["batch_id"].startswith("scheduled")
        await handle.delete()
