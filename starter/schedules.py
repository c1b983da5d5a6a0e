"""The Temporal Schedule that gathers approval batches (4.2.6) on its own.

By default every Monday at 09:00 China Standard Time, configurable with
``batch_schedule`` in the configuration file; staff can also gather a batch at
any time with ``certflow batch gather``. Each run starts one
``ApprovalBatchWorkflow`` with no batch id, which names a batch as the staff
tool does (``B20261207-090000``) and starts it; a batch that finds no plan
ready ends at once, mails nobody and takes no batch id (no row in ``batches``).

:func:`ensure_standing_workflows` sets up this schedule and the mailbox poller,
the two pieces of work no plan starts; every entry point that runs a worker
(the local stack, ``python -m worker``) calls it at start.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from certflow.actions import SCHEDULE, BatchInput, batch_workflow_id
from certflow.config import Settings
from certflow.i18n import t
from starter.mailbox_cli import start_or_wake_poller
from workflows import ApprovalBatchWorkflow

log = logging.getLogger(__name__)

SCHEDULE_ID = "approval-batch-weekly"
TIME_ZONE = "Asia/Shanghai"
# How long a start waits for an existing schedule to be read back before it
# updates it (see ``ensure_batch_schedule``).
DESCRIBE_WAIT = timedelta(seconds=10)
# What a read that gets no answer in time ends with: the client's own time
# limit (``CANCELLED``, "Timeout expired") or the server's.
_NO_ANSWER_YET = (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)


def batch_schedule(settings: Settings) -> Schedule:
    """The schedule as configured: its cron line read in China Standard Time."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ApprovalBatchWorkflow.run,
            # An empty batch id: the run names the batch after the second it
            # runs in and starts it (the schedule's own workflow ids, suffixed
            # with the time, cannot be typed in the staff tool).
            BatchInput(batch_id="", requested_by=SCHEDULE),
            id=batch_workflow_id("scheduled"),
            task_queue=settings.temporal.task_queue,
            static_summary=t("details.batch_scheduled_summary"),
        ),
        spec=ScheduleSpec(
            cron_expressions=[settings.batch_schedule], time_zone_name=TIME_ZONE
        ),
        # A batch still waiting for the general manager must not block the next
        # one: plans that became ready since then go into the new batch.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
    )


async def ensure_batch_schedule(client: Client, settings: Settings) -> None:
    """Create the schedule, or bring an existing one in line with the configuration.

    Worker replicas starting at the same second all come here: one creates the
    schedule, the others find it created and update it. Updating reads the
    schedule back first, which the server answers only once its scheduler has
    run the new schedule; on a busy host that is later than a start should
    wait (``DESCRIBE_WAIT``). Such a schedule is left as its creator made it,
    from the same configuration: one schedule all the same, and no error.
    """
    schedule = batch_schedule(settings)
    try:
        await client.create_schedule(SCHEDULE_ID, schedule)
        log.info("batch schedule created cron=%s", settings.batch_schedule)
        return
    except ScheduleAlreadyRunningError:
        pass

    def replace(current: ScheduleUpdateInput) -> ScheduleUpdate:
        # The configuration's action, times and policy; the state is the
        # operators' (a pause and its note survive every start).
        state = current.description.schedule.state
        return ScheduleUpdate(schedule=dataclasses.replace(schedule, state=state))

    try:
        await client.get_schedule_handle(SCHEDULE_ID).update(
            replace, rpc_timeout=DESCRIBE_WAIT
        )
    except RPCError as err:
        if err.status not in _NO_ANSWER_YET:
            raise
        # Harmless when another replica has just created it from the same
        # configuration; but a changed batch_schedule is not applied either,
        # and nothing else says so: a WARNING, with what to do.
        log.warning(
            "batch schedule left as it is, not updated to batch_schedule=%s: it"
            " does not answer yet, as one another worker has just created does"
            " (or the server is busy). If batch_schedule was changed, check the"
            " schedule's times (temporal schedule describe --schedule-id %s) and"
            " restart a worker once the server answers to apply it",
            settings.batch_schedule,
            SCHEDULE_ID,
        )
        return
    log.info("batch schedule updated cron=%s", settings.batch_schedule)


async def ensure_standing_workflows(
    client: Client, settings: Settings, *, started_by: str, schedule: bool = True
) -> None:
    """Make sure the weekly batch schedule and the mailbox poller exist.

    Both are idempotent, so every start of every worker replica may call this:
    the schedule is created or brought in line with the configuration, and the
    poller is started or, when it runs already, woken to read the mailbox now
    (one workflow id: never a second poller). ``schedule`` False leaves the
    schedule alone (the training stack gathers batches by hand). A server
    without schedules (the time-skipping test server) is one warning line, not
    a failure: the poller is started all the same.
    """
    refused: RPCError | None = None
    if schedule:
        try:
            await ensure_batch_schedule(client, settings)
        except RPCError as err:
            if err.status != RPCStatusCode.UNIMPLEMENTED:
                # Said by the caller once the poller runs: a schedule the
                # namespace refuses must not leave mailed corrections unread.
                refused = err
            else:
                log.warning(
                    "batch schedule not created: this Temporal server has no "
                    "schedules (the time-skipping test server); gather approval "
                    "batches with certflow batch gather"
                )
    await start_or_wake_poller(client, settings, started_by)
    log.info("mailbox poller running started_by=%s", started_by)
    if refused is not None:
        raise refused
