"""What a staff member's action writes, written only while its plan waits.

The activities recording a staff action (a cancellation, finance's record, a
correction applied, an application scan) send no heartbeat: an attempt that
outlives its start-to-close timeout, waiting for a connection of a busy pool
or for a lock, is retried by the server and never stopped. The plan gives
such an action a few attempts (``_attempt`` in workflows/exam_plan.py) and
then answers that it was not processed. An attempt stalled past all of them
would still write once it got its connection: a plan cancelled in the
database while its workflow runs on (no later stage of it recorded, no batch
ever gathering it), an invoice number claimed by a record finance was told
was not made, a score changed that the plan does not know of.

So these activities commit only within their attempt's time, less a margin
for the answer to reach the server: an attempt past it rolls back and fails,
and what its plan answered (or its retry wrote) stands. The time is counted
on the worker's own clock from the moment the attempt began there, so a
clock apart from the server's, or a test server's skipped one, moves nothing.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import ParamSpec, TypeVar

import asyncpg
from temporalio import activity
from temporalio.exceptions import ApplicationError

log = logging.getLogger(__name__)

# Kept free before the server's timeout: the commit, and the answer's way.
MARGIN = timedelta(seconds=10)
# The failure of an attempt that rolled back, past its time.
OVERDUE = "attempt_overdue"

P = ParamSpec("P")
R = TypeVar("R")

# The worker's monotonic time after which the running attempt writes nothing.
_deadline: ContextVar[float | None] = ContextVar("attempt_deadline", default=None)


def writes_in_time(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Let the activity ``fn`` commit (``transaction_in_time``) only until
    its start-to-close timeout, less :data:`MARGIN`, from when it began.

    Outside an activity (a script or a test calling the method itself), or
    with a timeout no longer than the margin, nothing is bounded.
    """

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        token = _deadline.set(_attempt_deadline())
        try:
            return await fn(*args, **kwargs)
        finally:
            _deadline.reset(token)

    return run


def _attempt_deadline() -> float | None:
    if not activity.in_activity():
        return None
    timeout = activity.info().start_to_close_timeout
    if timeout is None or timeout <= MARGIN:
        return None
    return time.monotonic() + (timeout - MARGIN).total_seconds()


@asynccontextmanager
async def transaction_in_time(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """A transaction on ``conn`` that commits only while the running attempt
    is within its time (see :func:`writes_in_time`); past it, rolled back,
    and the attempt fails with ``OVERDUE``."""
    async with conn.transaction():
        yield
        deadline = _deadline.get()
        if deadline is not None and time.monotonic() > deadline:
            kind = activity.info().activity_type
            log.warning(
                "attempt past its time rolled back activity=%s attempt=%d",
                kind,
                activity.info().attempt,
            )
            raise ApplicationError(
                f"This attempt of {kind} outlived its start-to-close timeout:"
                " what it wrote is rolled back, its plan having gone on without it.",
                type=OVERDUE,
            )
