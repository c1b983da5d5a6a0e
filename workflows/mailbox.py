"""MailboxPollWorkflow: reads the exam mailbox every few minutes, for ever.

One long-running workflow (id ``mailbox-poller``) calls the intake activity,
sleeps the poll interval, and starts again; a ``poll_now`` signal cuts the
sleep short (the next timed poll stays when it was due). Every poll is one
activity, so the work of a poll is retried by Temporal after a crash, and the
activity's own bookkeeping (``mail_messages``) keeps a retried poll from
filing a request twice.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import Field
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.heartbeat import HEARTBEAT_TIMEOUT
    from activities.mail_intake import (
        MailboxRun,
        MailboxRunRequest,
        MailIntakeActivities,
    )
    from certflow.models import Model

MAILBOX_WORKFLOW_ID = "mailbox-poller"
# A poll handles a batch of mail. It heartbeats in the background
# (activities/heartbeat.py): a poll whose worker died is retried after the
# heartbeat timeout, 30 s. It was 2 minutes, with a heartbeat per mail, which
# also retried a poll held that long by one mail (a plan slow to answer), only
# for the retry to wait on the same mail. The whole poll is bounded by this.
POLL_TIMEOUT = timedelta(minutes=30)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5)
)
# Patch id: the poll timer is never cancelled (see _sleep): the time-skipping
# server of the training stack stuck a poller whose workflow task, woken by
# poll_now, cancelled a timer that fired while the task ran.
TIMER_LEFT_TO_FIRE = "poll-timer-left-to-fire"


class MailboxPollState(Model):
    """What the poller has done so far; carried across continue-as-new."""

    polls: int = 0
    fetched: int = 0
    counts: dict[str, int] = Field(default_factory=dict)
    last: MailboxRun | None = None
    # A poll_now that arrived while the previous run was closing.
    wake: bool = False


class MailboxPollInput(Model):
    """Start (or continue-as-new) input of ``MailboxPollWorkflow``."""

    poll_interval: timedelta = timedelta(minutes=5)
    # Continue as new after this many polls, so history stays short.
    polls_per_run: int = 200
    state: MailboxPollState = Field(default_factory=MailboxPollState)


class PollNow(Model):
    """Ask the poller to read the mailbox now instead of at the next interval."""

    requested_by: str = ""


@workflow.defn
class MailboxPollWorkflow:
    """Polls the exam mailbox (1+X 考务邮箱) for correction requests."""

    @workflow.init
    def __init__(self, input: MailboxPollInput) -> None:
        self._state = input.state.model_copy(deep=True)
        self._wake = self._state.wake
        self._timer: asyncio.Task[None] | None = None

    @workflow.run
    async def run(self, input: MailboxPollInput) -> None:
        for _ in range(input.polls_per_run):
            # Cleared before the poll: a signal during the poll means another one.
            self._wake = False
            run = await workflow.execute_activity_method(
                MailIntakeActivities.process_mailbox,
                MailboxRunRequest(poll=self._state.polls + 1),
                start_to_close_timeout=POLL_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RETRY,
            )
            self._record(run)
            if workflow.patched(TIMER_LEFT_TO_FIRE):
                await self._sleep(input.poll_interval)
            else:
                # As pollers recorded before: the timer cancelled on waking early.
                try:
                    await workflow.wait_condition(
                        lambda: self._wake, timeout=input.poll_interval
                    )
                except TimeoutError:
                    pass
            if workflow.info().is_continue_as_new_suggested():
                break

        await workflow.wait_condition(workflow.all_handlers_finished)
        self._state.wake = self._wake
        workflow.continue_as_new(input.model_copy(update={"state": self._state}))

    async def _sleep(self, interval: timedelta) -> None:
        """Wait until the poll timer fires, or ``poll_now`` wakes the poller.

        The timer is never cancelled. The time-skipping test server (the
        training stack's) refuses a workflow task that cancels a timer which
        fired while the task ran, and every later attempt of it: the poller
        would be stuck for good. So a timer ``poll_now`` cut short is left to
        fire, and the next wait ends when it does: a poll asked for puts off
        no timed poll, and one timer at most is running.
        """
        if self._timer is None or self._timer.done():
            self._timer = asyncio.create_task(workflow.sleep(interval))
        timer = self._timer
        await workflow.wait_condition(lambda: self._wake or timer.done())

    @workflow.signal
    def poll_now(self, request: PollNow) -> None:
        """Read the mailbox at once (staff expect a mail they just sent)."""
        self._wake = True

    @workflow.query
    def progress(self) -> MailboxPollState:
        """How many polls ran and what they did, for staff and tests."""
        return self._state

    def _record(self, run: MailboxRun) -> None:
        state = self._state
        state.polls += 1
        state.fetched += run.fetched
        for status, count in run.counts.items():
            state.counts[status] = state.counts.get(status, 0) + count
        state.last = run
        workflow.logger.info(
            "mailbox polled", extra={"polls": state.polls, "fetched": run.fetched}
        )


MAILBOX_WORKFLOWS = [MailboxPollWorkflow]

__all__ = [
    "MAILBOX_WORKFLOWS",
    "MAILBOX_WORKFLOW_ID",
    "MailboxPollInput",
    "MailboxPollState",
    "MailboxPollWorkflow",
    "PollNow",
]
