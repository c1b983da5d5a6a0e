"""One stack per state folder; a killed stack takes its Temporal server with it.

Two stacks on one folder ran two Temporal servers on one SQLite file and two
workers on one document store. A stack killed with ``kill -9`` left its server
running, and the next start was refused as "port in use", whose advice (another
``--port``) led to two servers on one folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from certflow.i18n import t
from starter import stack
from starter.stack import StateLock
from tests.stack.test_port_refusal import _database_exists
from tests.support import free_ports, read_until_ready, run_python

REPO = Path(__file__).resolve().parents[2]
FLAGS = ["--port", "--ui-port", "--http-port", "--metrics-port", "--smtp-port"]


def _stack_command(state: Path, *extra: str) -> list[str]:
    command = [sys.executable, "-m", "starter.stack", "--state", str(state)]
    for flag, port in zip(FLAGS, free_ports(len(FLAGS)), strict=True):
        command += [flag, str(port)]
    return [*command, *extra]


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLOW_")}
    return {**env, "DATABASE_URL": database_url}


async def _refused(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a stack that is to be refused; its status and what it printed."""
    async with asyncio.timeout(30):
        return await run_python(*command[1:], env=env)


@contextlib.asynccontextmanager
async def _running(
    command: list[str], env: dict[str, str], log: Path
) -> AsyncIterator[tuple[asyncio.subprocess.Process, list[str]]]:
    """A stack started as a process, and its banner once it is ready.

    Killed at the end if the test has not stopped it; its log goes to a file,
    as a pipe nobody reads would fill and stop it.
    """
    with log.open("wb") as errors:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE, stderr=errors
        )
        try:
            yield process, await asyncio.wait_for(read_until_ready(process), 60)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie nobody reaped (no init here) does not."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _still_alive_after(pid: int, seconds: float) -> bool:
    """Whether ``pid`` still runs once ``seconds`` have passed (or it ended)."""
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return _alive(pid)


def _exported(banner: list[str]) -> dict[str, str]:
    line = next(line.strip() for line in banner if line.strip().startswith("export "))
    return dict(word.split("=", 1) for word in shlex.split(line)[1:])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG")
@pytest.mark.timeout(180)
async def test_a_second_stack_is_refused_and_a_killed_stack_takes_its_server(
    tmp_path: Path, fresh_database_url: str
) -> None:
    state = tmp_path / "state"
    config = tmp_path / "own.toml"
    config.write_bytes((REPO / "config" / "certflow.toml").read_bytes())
    env = _env(fresh_database_url)
    server_pid = 0
    first_command = _stack_command(state, "--config", str(config))
    try:
        async with _running(first_command, env, tmp_path / "first.log") as (
            first,
            banner,
        ):
            server_pid = int((state / "temporal.pid").read_text())
            assert _alive(server_pid)

            # Other ports, same folder: what the port-in-use advice led to.
            second = await _refused(_stack_command(state), env)

            first.kill()  # kill -9: no handler of the stack's runs
            await first.wait()
            orphaned = await asyncio.to_thread(_still_alive_after, server_pid, 20)

        # The same ports again: the folder's lock went with the killed stack.
        again_command = [*first_command, "--no-worker"]
        async with _running(again_command, env, tmp_path / "again.log") as (again, _):
            again.send_signal(signal.SIGINT)
            await asyncio.wait_for(again.wait(), timeout=30)
    finally:
        if server_pid and _alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)

    code, text = second
    assert code == 1, text
    assert text.strip() == t("stack.state_in_use", state=state, pid=first.pid)
    assert not orphaned, "the killed stack's Temporal server still runs"
    assert again.returncode == 0
    # Staff tools run from the printed line read the stack's own configuration.
    assert _exported(banner)["CERTFLOW_CONFIG"] == str(config)


@pytest.mark.timeout(60)
async def test_a_port_held_by_the_folders_earlier_server_says_to_stop_it(
    tmp_path: Path, fresh_database_url: str
) -> None:
    """The server a killed stack left (where it could not die with it) is named
    with the command that stops it, not the advice to take another port."""
    state = tmp_path / "state"
    state.mkdir()
    command = _stack_command(state)
    port = int(command[command.index("--port") + 1])
    with socket.socket() as orphan:  # this process stands for the server
        orphan.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        orphan.bind(("127.0.0.1", port))
        orphan.listen()
        (state / "temporal.pid").write_text(f"{os.getpid()}\n")
        earlier = await _refused(command, _env(fresh_database_url))
        (state / "temporal.pid").write_text("1\n")  # another process's pid
        other = await _refused(command, _env(fresh_database_url))

    assert earlier[0] == 1 and "Traceback" not in earlier[1]
    assert f"kill {os.getpid()}" in earlier[1]
    assert f"进程 {os.getpid()}" in earlier[1] and str(state) in earlier[1]
    assert other[0] == 1 and "with --port" in other[1] and "kill" not in other[1]
    assert not await _database_exists(fresh_database_url)
    assert not (state / "temporal.sqlite").exists()


@pytest.mark.timeout(60)
async def test_a_locked_folder_is_refused_before_anything_starts(
    tmp_path: Path, fresh_database_url: str
) -> None:
    state = tmp_path / "training"
    state.mkdir()
    held = StateLock(state)
    held.acquire()
    try:
        code, text = await _refused(
            [
                *[sys.executable, "-m", "starter.stack", "--training"],
                *["--state", str(state), "--database-url", fresh_database_url],
                *["--port", str(free_ports(1)[0]), "--smtp-port", "1"],
            ],
            {k: v for k, v in _env(fresh_database_url).items() if k != "DATABASE_URL"},
        )
    finally:
        held.release()

    # The folder is named before the SMTP port 1, which nobody may bind.
    assert code == 1
    assert text.strip() == t("stack.state_in_use", state=state, pid=os.getpid())
    assert not await _database_exists(fresh_database_url)
    assert sorted(p.name for p in state.iterdir()) == ["stack.lock"]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--port", "70000"], "--port 的端口 70000"),
        (["--port", "0"], "--port 的端口 0"),
        (["--smtp-port", "-1"], "--smtp-port 的端口 -1"),
        (["--ui-port", "65535"], "--http-port 将使用端口 65536"),
        (["--ui-port", "65534", "--http-port", "9"], "--metrics-port 将使用端口 65536"),
    ],
)
def test_a_port_out_of_range_is_a_usage_error_before_anything_is_made(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    said: str,
) -> None:
    state = tmp_path / "state"

    with pytest.raises(SystemExit) as refused:
        stack.main(["--state", str(state), *argv])
    errors = capsys.readouterr().err

    assert refused.value.code == 2
    assert said in errors and "1 到 65535" in errors
    assert "Traceback" not in errors
    assert not state.exists()


def test_a_state_that_is_no_folder_is_refused_in_one_line(
    capsys: pytest.CaptureFixture[str], free_port: Callable[[], int]
) -> None:
    ports = ["--port", str(free_port()), "--smtp-port", str(free_port())]

    not_folder = stack.main(["--state", "/dev/null", "--training", *ports])
    first = capsys.readouterr().err
    beneath = stack.main(["--state", "/dev/null/state", "--training", *ports])
    second = capsys.readouterr().err

    assert not_folder == 2
    assert first.strip() == t("stack.state_not_folder", state="/dev/null")
    assert beneath == 1
    assert second.strip() == t("stack.state_unusable", state="/dev/null/state")


def test_a_broken_configuration_creates_no_state_folder(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    free_port: Callable[[], int],
) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[smtp\n", encoding="utf-8")
    monkeypatch.setenv("CERTFLOW_CONFIG", str(broken))
    state = tmp_path / "state"

    code = stack.main(
        ["--state", str(state), "--port", str(free_port()), "--ui-port", "18300"]
    )

    assert code == 2
    assert not state.exists()


def test_the_export_line_names_a_configuration_given_by_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CERTFLOW_CONFIG", "own.toml")
    given = stack._config_file(None)
    monkeypatch.delenv("CERTFLOW_CONFIG")

    assert given == tmp_path / "own.toml"
    assert stack._config_file(Path("x.toml")) == tmp_path / "x.toml"
    assert stack._config_file(None) is None


def test_a_lock_file_that_is_a_link_or_a_pipe_is_neither_followed_nor_written(
    tmp_path: Path,
) -> None:
    """The lock file takes the stack's pid, written over what was there: through
    a link it truncated the file the link named."""
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_bytes(b"kept")
    linked, piped = tmp_path / "linked", tmp_path / "piped"
    linked.mkdir()
    piped.mkdir()
    (linked / stack.LOCK_FILE).symlink_to(elsewhere)
    os.mkfifo(piped / stack.LOCK_FILE)

    for state in (linked, piped):
        with pytest.raises(OSError) as refused:
            StateLock(state).acquire()
        assert refused.value.filename == str(state / stack.LOCK_FILE)

    assert elsewhere.read_bytes() == b"kept"
    assert (linked / stack.LOCK_FILE).is_symlink()
