"""``python -m worker``, the compose stack's entry point, on servers that are away.

It printed a traceback when Temporal or PostgreSQL did not answer; compose may
also start it while they are still coming up. Run on its own, it also sets up
the weekly batch schedule and the mailbox poller, which only the local stack
used to create.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from temporalio.client import Client

from certflow.timeutil import CST
from starter.embedded_pg import create_database_if_missing
from starter.schedules import SCHEDULE_ID
from starter.training import TrainingServer
from tests.support import dev_server_on_free_ports, run_python
from workflows.mailbox import MAILBOX_WORKFLOW_ID

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2SECRET"


def _env(state: Path, temporal_port: int, database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLOW_")}
    return {
        **env,
        "CERTFLOW_STATE": str(state),
        "TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "DATABASE_URL": database_url,
    }


async def _worker(env: dict[str, str], *argv: str) -> tuple[int, str]:
    async with asyncio.timeout(60):
        return await run_python("-m", "worker", *argv, env=env)


@asynccontextmanager
async def _worker_in_background(
    env: dict[str, str], log_file: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``python -m worker`` waiting up to 60 s, its output in ``log_file``;
    killed on the way out if it has not ended."""
    with log_file.open("wb") as log:
        worker = await asyncio.create_subprocess_exec(
            *[sys.executable, "-m", "worker", "--connect-wait", "60"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            yield worker
        finally:
            if worker.returncode is None:
                worker.kill()
                await worker.wait()


def _logged(log_file: Path, text: str, within: float = 40) -> bool:
    """Whether ``text`` appears in ``log_file`` within ``within`` seconds."""
    deadline = time.monotonic() + within
    while text.encode() not in log_file.read_bytes():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.mark.timeout(90)
async def test_a_server_away_is_one_line_and_status_1(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    nowhere = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/certflow"
    temporal_port = free_port()
    no_temporal = await _worker(
        _env(tmp_path, temporal_port, nowhere), "--connect-wait", "0"
    )
    server = TrainingServer(tmp_path / "temporal.log", port=temporal_port)
    async with server:
        no_database = await _worker(
            _env(tmp_path, temporal_port, nowhere), "--connect-wait", "2"
        )

    for code, text in (no_temporal, no_database):
        assert code == 1, text
        assert "Traceback" not in text and PASSWORD not in text
        # Where the key goes, said before anything else fails.
        assert "signing_key_file" in text and "certflow keys create" in text
    errors = [line for line in no_temporal[1].splitlines() if " ERROR " in line]
    assert len(errors) == 1
    assert f"cannot reach Temporal at 127.0.0.1:{temporal_port}" in errors[0]
    last = no_database[1].strip().splitlines()[-1]
    assert (
        " ERROR " in last
        and "cannot reach PostgreSQL at postgresql://postgres@" in last
    )
    # Tried again while the wait lasted, each time in one line.
    assert "not reachable yet" in no_database[1]


@pytest.mark.timeout(120)
async def test_the_worker_waits_for_a_server_that_comes_up(
    tmp_path: Path, free_port: Callable[[], int], fresh_database_url: str
) -> None:
    temporal_port = free_port()
    await create_database_if_missing(fresh_database_url)
    log_file = tmp_path / "worker.log"
    env = _env(tmp_path, temporal_port, fresh_database_url)
    async with _worker_in_background(env, log_file) as worker:
        # Compose started it before the server: the server comes up once the
        # worker has tried (a fixed pause raced a slow start of the worker).
        waited = await asyncio.to_thread(_logged, log_file, "not reachable yet")
        assert waited, log_file.read_text("utf-8")
        async with TrainingServer(tmp_path / "temporal.log", port=temporal_port):
            started = await asyncio.to_thread(_logged, log_file, "worker started")
            worker.send_signal(signal.SIGTERM)
            await asyncio.wait_for(worker.wait(), timeout=30)
    text = log_file.read_text("utf-8")

    assert started, text
    assert worker.returncode == 0, text
    assert "Traceback" not in text
    # The test server has no schedules: said in one line, and the worker runs.
    assert text.count("this Temporal server has no schedules") == 1, text
    # The poller it started finds no maildir: one line each poll, no traceback.
    assert "is no maildir (no new/ and cur/)" in text


@pytest.mark.timeout(90)
async def test_a_stop_while_waiting_for_the_servers_ends_at_once(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    """Review: SIGTERM during the start-up wait was noted but not heeded; the
    worker went on trying, past compose's stop timeout, and exited 1."""
    nowhere = f"postgresql://postgres:{PASSWORD}@127.0.0.1:{free_port()}/certflow"
    log_file = tmp_path / "worker.log"
    async with _worker_in_background(
        _env(tmp_path, free_port(), nowhere), log_file
    ) as worker:
        waiting = await asyncio.to_thread(_logged, log_file, "not reachable yet")
        stopped_at = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), timeout=30)
        took = time.monotonic() - stopped_at
    text = log_file.read_text("utf-8")

    assert waiting, text
    assert worker.returncode == 0, text
    assert "stopped before the servers answered" in text
    assert took < 5 and "Traceback" not in text


async def _started_once(
    env: dict[str, str], log_file: Path, until: str = "worker started"
) -> str:
    """Run ``python -m worker`` until it logs ``until``, stop it; return its log."""
    async with _worker_in_background(env, log_file) as worker:
        started = await asyncio.to_thread(_logged, log_file, until)
        worker.send_signal(signal.SIGTERM)
        await asyncio.wait_for(worker.wait(), timeout=30)
    text = await asyncio.to_thread(log_file.read_text, "utf-8")
    assert started and worker.returncode == 0, text
    return text


async def _schedule_ids(client: Client) -> list[str]:
    return [entry.id async for entry in await client.list_schedules()]


async def _poller_runs(client: Client) -> list[str]:
    query = f"WorkflowId = '{MAILBOX_WORKFLOW_ID}'"
    return [run.run_id async for run in client.list_workflows(query)]


@pytest.mark.timeout(180)
async def test_the_worker_sets_up_the_batch_schedule_and_the_mailbox_poller(
    tmp_path: Path, fresh_database_url: str
) -> None:
    """Operator trial: compose runs only ``python -m worker``; mailed corrections
    were never read and batches never gathered, as nothing created the poller
    or the schedule, and nothing said so."""
    await create_database_if_missing(fresh_database_url)
    server = dev_server_on_free_ports(tmp_path / "temporal.sqlite")
    async with server:
        env = _env(tmp_path, server.port, fresh_database_url)
        client = await Client.connect(server.address)
        first = await _started_once(env, tmp_path / "first.log", "mailbox not read")
        poller = await client.get_workflow_handle(MAILBOX_WORKFLOW_ID).describe()
        schedule = await client.get_schedule_handle(SCHEDULE_ID).describe()
        for sub in ("new", "cur", "tmp"):
            (tmp_path / "mailbox" / "exam" / sub).mkdir(parents=True)
        second = await _started_once(env, tmp_path / "second.log")
        again = await client.get_workflow_handle(MAILBOX_WORKFLOW_ID).describe()
        schedules = await _schedule_ids(client)
        runs = await _poller_runs(client)

    assert "batch schedule created" in first and "mailbox poller running" in first
    # Nothing delivered into the maildir yet: said at start, in one line.
    assert first.count("is no maildir (no new/ and cur/)") == 1, first
    # And the poll that finds none is one line, not a traceback.
    assert "mailbox not read" in first and "Traceback" not in first
    assert "batch schedule updated" in second and "Traceback" not in second
    # The configured Monday 09:00 CST (the server keeps it as calendar specs).
    upcoming = schedule.info.next_action_times[0].astimezone(CST)
    assert (upcoming.weekday(), upcoming.hour) == (0, 9)
    # The second start found both: one schedule, the same poller run.
    assert poller.status is not None and poller.status.name == "RUNNING"
    assert again.run_id == poller.run_id and again.status == poller.status
    assert schedules == [SCHEDULE_ID]
    assert runs == [poller.run_id]
