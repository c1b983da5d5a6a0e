"""``batch gather`` takes a batch id only for a batch that gathers plans.

This module moves the test server's clock (a plan is played to approval), so
its tests keep out of modules that compare dates with today's.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from certflow.actions import batch_workflow_id
from certflow.i18n import t
from tests.cli.conftest import Certflow
from tests.cli.test_commands import TECH
from tests.support import PlanDriver, unique_plan_id

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]


async def test_gathering_with_nothing_ready_takes_no_batch_id(
    certflow: Certflow, new_driver: PlanDriver, client: Client, resources: Any
) -> None:
    """Regression: a gathering that found no plan ready still started a batch,
    which took its id for ever; the next real batch could not have it."""
    pool, _ = resources
    # Plans other tests left awaiting approval in no batch are gathered (and
    # found gone) first: then nothing is ready.
    await certflow(*TECH, "batch", "gather")
    batch_id = f"B-{unique_plan_id()}"

    empty = await certflow(*TECH, "batch", "gather", "--batch-id", batch_id)
    status = await certflow(*TECH, "batch", "status", batch_id)

    assert empty.status == 0, empty.out
    assert "未创建发证批次" in empty.out, empty.out
    assert t("cli.batch_id_free", batch_id=batch_id) in empty.out
    assert t("cli.batch_started", batch_id=batch_id) not in empty.out
    assert status.status == 2
    assert t("cli.batch_not_found", batch_id=batch_id) in status.out
    with pytest.raises(RPCError):
        await client.get_workflow_handle(batch_workflow_id(batch_id)).describe()
    assert not await pool.fetchval(
        "SELECT 1 FROM batches WHERE batch_id = $1", batch_id
    )

    # A plan ready later is gathered under that id; then the id is taken.
    await new_driver.reach_approval()
    gathered = await certflow(*TECH, "batch", "gather", "--batch-id", batch_id)
    again = await certflow(*TECH, "batch", "gather", "--batch-id", batch_id)

    assert gathered.status == 0, gathered.out
    assert t("cli.batch_started", batch_id=batch_id) in gathered.out
    assert new_driver.plan.plan_id in gathered.out
    assert again.status == 2
    assert t("cli.batch_exists", batch_id=batch_id) in again.out
