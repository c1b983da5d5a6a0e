"""The worker's log: one event per line, readable in a file.

Trial: the worker's log file held the SDK core's ANSI colour codes; a database
outage's asyncpg traceback at WARNING for every attempt; and "stage entered"
without its stage, the plan id and stage being passed as ``extra`` fields the
plain format did not show.
"""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from starter.logs import FieldsFormatter
from tests.cli.test_database_refusals import CLOSED, refusing

ROOT = Path(__file__).resolve().parents[2]

# A worker on the time-skipping server, whose core warns that the server does
# not advertise a capability: a line the SDK core writes itself.
CORE_WARNS = """
import asyncio
import sys
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from starter.devserver import test_server_path
from starter.logs import configure

configure()

@activity.defn
async def nothing() -> None:
    return None

async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(test_server_path())
    )
    async with Worker(env.client, task_queue="log-test", activities=[nothing]):
        # Until the test closes our input, once the core has spoken: then the
        # server is shut down with us (a signal would leave it running).
        await asyncio.to_thread(sys.stdin.read)
    await env.shutdown()

asyncio.run(main())
"""


@pytest.mark.timeout(120)
def test_the_sdk_cores_lines_reach_a_file_without_colour_codes(tmp_path: Path) -> None:
    log_file = tmp_path / "worker.log"
    with log_file.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-c", CORE_WARNS],
            cwd=ROOT,
            # Whatever the environment running the tests says of colour.
            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
            stdin=subprocess.PIPE,
            stdout=output,
            stderr=output,
        )
        assert worker.stdin is not None
        try:
            # The core writes its line once the worker polls: on a loaded
            # machine that may take longer than any fixed wait.
            deadline = time.monotonic() + 90
            while b"heartbeat details" not in log_file.read_bytes():
                assert worker.poll() is None, log_file.read_text("utf-8")
                assert time.monotonic() < deadline, log_file.read_text("utf-8")
                time.sleep(0.2)
        finally:
            worker.stdin.close()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                raise
    text = log_file.read_text(encoding="utf-8")

    assert "\x1b[" not in text
    core = [line for line in text.splitlines() if "heartbeat details" in line]
    assert core and all(" WARN temporalio_sdk_core::worker: " in line for line in core)


@pytest.fixture
def written() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the worker's formatter into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(FieldsFormatter("%(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("certflow.test.worker_log")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, buffer
    logger.removeHandler(handler)


def test_the_fields_a_workflow_passes_are_written_on_its_line(
    written: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = written
    logger.info(
        "stage entered", extra={"plan_id": "P2026-HB-0031", "stage": "publicity"}
    )
    logger.warning(
        "staff action could not be processed",
        extra={"plan_id": "P2026-HB-0031", "activity": "record_upload"},
    )
    # Fields the message already names are not written twice; others never.
    logger.info(
        "alarm withdrawn (plan P2026-HB-0031) plan_id=P2026-HB-0031",
        extra={"plan_id": "P2026-HB-0031", "person_name": "王伟"},
    )

    assert buffer.getvalue().splitlines() == [
        "INFO certflow.test.worker_log stage entered plan_id=P2026-HB-0031"
        " stage=publicity",
        "WARNING certflow.test.worker_log staff action could not be processed"
        " plan_id=P2026-HB-0031 activity=record_upload",
        "INFO certflow.test.worker_log alarm withdrawn (plan P2026-HB-0031)"
        " plan_id=P2026-HB-0031",
    ]


@pytest.mark.asyncio(loop_scope="session")
async def test_a_database_outage_is_one_line_not_a_traceback(
    written: tuple[logging.Logger, io.StringIO], tmp_path: Path
) -> None:
    logger, buffer = written
    async with refusing(CLOSED, tmp_path) as url:
        try:
            await asyncpg.connect(url)
        except asyncpg.PostgresError:
            logger.warning("Completing activity as failed", exc_info=True)
    try:
        raise KeyError("a fault of the code")
    except KeyError:
        logger.warning("Completing activity as failed", exc_info=True)

    outage, *fault = buffer.getvalue().splitlines()
    assert outage == (
        "WARNING certflow.test.worker_log Completing activity as failed"
        " error=ObjectNotInPrerequisiteStateError sqlstate=55000"
        " (database unavailable)"
    )
    # Any other failure keeps its traceback.
    assert fault[0].endswith("Completing activity as failed")
    assert "Traceback" in fault[1] and "KeyError" in fault[-1]
