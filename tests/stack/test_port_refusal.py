"""A stack whose ports are taken refuses to start, clearly, and leaves nothing.

A second stack on the first one's Temporal port once reported itself ready: its
own server had failed to bind, the readiness check reached the first stack's
server, and its worker ran the first stack's work with another database.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from certflow.i18n import t
from starter.devserver import (
    DevServer,
    DevServerExitedError,
    PortInUseError,
    _owns_listener,
)
from tests.stack.conftest import LOCAL_SERVER
from tests.support import free_ports

REPO = Path(__file__).resolve().parents[2]
PORT_FIELDS = ["port", "ui_port", "http_port", "metrics_port"]
FLAGS = ["--port", "--ui-port", "--http-port", "--metrics-port", "--smtp-port"]


@pytest.fixture
def occupied_port() -> Iterator[int]:
    """A loopback port something else listens on for the whole test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def _processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue  # ended while we looked
        if text.encode() in cmdline:
            found.append(int(entry.name))
    return found


def _server_with_taken(db_file: Path, taken_field: str, taken: int) -> DevServer:
    port, ui, http, metrics = (
        taken if field == taken_field else free
        for field, free in zip(PORT_FIELDS, free_ports(len(PORT_FIELDS)), strict=True)
    )
    return DevServer(
        db_file, port=port, ui_port=ui, http_port=http, metrics_port=metrics
    )


@pytest.mark.timeout(30)
@pytest.mark.parametrize("taken_field", PORT_FIELDS)
async def test_dev_server_refuses_a_taken_port_before_launching(
    tmp_path: Path, occupied_port: int, taken_field: str
) -> None:
    db_file = tmp_path / "temporal.sqlite"
    server = _server_with_taken(db_file, taken_field, occupied_port)

    started = time.monotonic()
    with pytest.raises(PortInUseError) as refused:
        await server.start()
    took = time.monotonic() - started

    assert refused.value.port == occupied_port
    assert f"Port {occupied_port}" in str(refused.value)
    assert "--port" in str(refused.value) or "--ui-port" in str(refused.value)
    assert took < 2
    assert server.client is None
    # Never launched: no log written, no process naming its database file.
    assert not server.log_file.exists()
    assert _processes_mentioning(str(db_file)) == []


@pytest.mark.timeout(60)
async def test_a_server_that_dies_is_not_trusted_when_another_answers(
    tmp_path: Path, free_port: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The port is taken between the check and the launch: the race stays safe."""
    frontend = free_port()
    first = DevServer(
        tmp_path / "first.sqlite",
        port=frontend,
        ui_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
    )
    second_db = tmp_path / "second.sqlite"
    second = DevServer(
        second_db,
        port=frontend,
        ui_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
    )
    # Skipping the check stands for the other server binding the port just after.
    monkeypatch.setattr(second, "check_ports", lambda: None)

    async with first:
        with pytest.raises(DevServerExitedError) as refused:
            await second.start()
        # The first server is untouched and still answers.
        assert first.client is not None
        await first.client.workflow_service.get_system_info(GetSystemInfoRequest())

    assert "address already in use" in refused.value.log_tail
    assert second.client is None
    assert _processes_mentioning(str(second_db)) == []


@pytest.mark.timeout(60)
async def test_a_server_that_exits_at_start_is_reported_with_its_output(
    tmp_path: Path, free_port: Callable[[], int]
) -> None:
    # A folder where the SQLite file should be: the server gives up at once.
    db_file = tmp_path / "temporal.sqlite"
    db_file.mkdir()
    server = DevServer(
        db_file,
        port=free_port(),
        ui_port=free_port(),
        http_port=free_port(),
        metrics_port=free_port(),
        log_file=tmp_path / "temporal.log",
    )
    server.log_file.write_text("output of an earlier run\n")

    with pytest.raises(DevServerExitedError) as refused:
        await server.start()

    assert "exited with code" in str(refused.value)
    assert "unable to open database" in refused.value.log_tail
    assert "earlier run" not in refused.value.log_tail
    assert _processes_mentioning(str(db_file)) == []


async def _database_exists(url: str) -> bool:
    conn = await asyncpg.connect(LOCAL_SERVER)
    try:
        name = url.rsplit("/", 1)[1]
        found = await conn.fetchval(
            "SELECT 1 FROM pg_database WHERE datname = $1", name
        )
    finally:
        await conn.close()
    return bool(found == 1)


async def _run_stack(
    state: Path, ports: dict[str, int], database_url: str
) -> tuple[int, str, float]:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("CERTFLOW_STATE", None)
    command = [sys.executable, "-m", "starter.stack", "--state", str(state)]
    for flag, port in ports.items():
        command += [flag, str(port)]
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=REPO,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stderr.decode("utf-8"), time.monotonic() - started


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("taken_flag", "what"),
    [
        ("--port", "Temporal frontend"),
        ("--smtp-port", "SMTP sink"),
    ],
)
async def test_stack_with_a_taken_port_exits_1_and_starts_nothing(
    tmp_path: Path,
    occupied_port: int,
    fresh_database_url: str,
    taken_flag: str,
    what: str,
) -> None:
    state = tmp_path / "state"
    ports = dict(zip(FLAGS, free_ports(len(FLAGS)), strict=True))
    ports[taken_flag] = occupied_port

    code, errors, took = await _run_stack(state, ports, fresh_database_url)

    assert code == 1, errors
    assert took < 10
    assert "Traceback" not in errors
    assert f"Port {occupied_port} on 127.0.0.1 ({what}) is already in use" in errors
    assert f"with {taken_flag}" in errors
    assert f"端口 {occupied_port}" in errors and "已被占用" in errors
    # Nothing was started: no database, no Temporal state, no mail folders.
    assert not await _database_exists(fresh_database_url)
    assert not (state / "temporal.sqlite").exists()
    assert not (state / "mailbox").exists()
    assert _processes_mentioning(str(state)) == []


@pytest.mark.timeout(30)
def test_stack_refuses_one_port_asked_for_twice(tmp_path: Path) -> None:
    port, ui = free_ports(2)
    command = [sys.executable, "-m", "starter.stack", "--state", str(tmp_path)]
    command += ["--port", str(port), "--ui-port", str(ui), "--smtp-port", str(port)]

    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)

    assert done.returncode == 2
    assert t("stack.same_port", flag="--smtp-port", other="--port", port=port) in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_a_process_gone_while_its_sockets_are_read_holds_no_port() -> None:
    """Regression (a flaky start check): a server that failed to bind exits
    while its descriptors are read; that read failing counted as "cannot
    tell", and the other server answering on the port was trusted."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        finished = subprocess.Popen(["true"])
        finished.wait()

        assert _owns_listener(finished.pid, port) is False
        assert _owns_listener(os.getpid(), port) is True
