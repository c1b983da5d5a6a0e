"""Refusals that say a plan cannot take an action just now, and sending again.

A plan's run continues as new once its history, or the number of updates it
has taken, grows long (``ExamPlanWorkflow._continue_as_new``). Until the new
run starts, an action may be refused before the plan reads it: by the plan
itself (code ``continuing_as_new``), or by the server, as the run is closing,
or as too many updates are under way at once. Sent again a moment later, it
reaches the new run: ``send_update`` does so for a few seconds.

One refusal does not pass as quickly: a run that has taken as many updates
as the server allows (2,000 by default) takes none until it continues as new,
and a plan continues as new only once every mail it asked for has gone out;
a mail server that is down holds it. Nothing of a refused action is recorded.
"""

from __future__ import annotations

import asyncio
import re
from enum import StrEnum
from typing import Any, TypeVar

from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

# The code of the plan's refusal of an action that arrives while it waits for
# the actions under way, to continue as new (see ExamPlanWorkflow._check).
CONTINUING_AS_NEW = "continuing_as_new"
# How long an action refused as "busy" is sent again, and the pauses between:
# doubling, so that the refusals of a long wait do not keep interrupting the
# workflow task in which the plan continues as new.
PATIENCE = 10.0
FIRST_PAUSE = 0.25
LONGEST_PAUSE = 2.0

# The server's words for these refusals (Temporal 1.2x-1.3x); the status code
# alone would take a refusal of another kind for one of them.
_UPDATE_LIMIT = re.compile(
    r"limit on the total number of distinct updates in this workflow has been "
    r"reached \((?P<limit>\d+)\)"
)
_CLOSED_UNDER_IT = "aborted by closing workflow"

_T = TypeVar("_T")


class Busy(StrEnum):
    """Why a plan's run refused an action before reading it."""

    # The run is continuing as new, or has too many updates under way.
    CONTINUING = "continuing"
    # The run has taken as many updates as the server allows.
    UPDATE_LIMIT = "update_limit"


class PlanBusyError(Exception):
    """An action a plan's run kept refusing, unread, for ``PATIENCE`` seconds."""

    def __init__(self, busy: Busy, limit: int | None = None) -> None:
        super().__init__(busy.value)
        self.busy = busy
        # The server's limit on a run's updates, when it said it.
        self.limit = limit


def busy(err: BaseException) -> Busy | None:
    """What ``err`` says of the plan's run, if it is a refusal that passes."""
    if isinstance(err, WorkflowUpdateFailedError):
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type == CONTINUING_AS_NEW:
            return Busy.CONTINUING
        return None
    if not isinstance(err, RPCError):
        return None
    if err.status == RPCStatusCode.FAILED_PRECONDITION and _UPDATE_LIMIT.search(
        err.message
    ):
        return Busy.UPDATE_LIMIT
    if err.status == RPCStatusCode.RESOURCE_EXHAUSTED:
        # The run is closing, or takes no more updates at once for now.
        return Busy.CONTINUING
    if err.status == RPCStatusCode.NOT_FOUND and _CLOSED_UNDER_IT in err.message:
        # Taken in by a run that closed before reading it: a run continued
        # as new, sent again, it reaches the new one (a plan that ended is
        # then said to be not found, as it is).
        return Busy.CONTINUING
    return None


def update_limit(err: BaseException) -> int | None:
    """The server's limit on a run's updates, as its refusal ``err`` says it."""
    found = _UPDATE_LIMIT.search(err.message) if isinstance(err, RPCError) else None
    return int(found["limit"]) if found else None


async def send_update(
    handle: WorkflowHandle[Any, Any],
    update: str,
    arg: Any,
    *,
    result_type: type[_T],
    patience: float = PATIENCE,
) -> _T:
    """Send ``update`` to the plan of ``handle``; again while its run is busy.

    ``handle`` names no run, so an action sent again reaches the run the plan
    continued as, with an update id of its own. Raises ``PlanBusyError`` once
    ``patience`` seconds have passed, and whatever else the update raises.
    """
    loop = asyncio.get_running_loop()
    give_up = loop.time() + patience
    pause = FIRST_PAUSE
    while True:
        try:
            answer: _T = await handle.execute_update(
                update, arg, result_type=result_type
            )
            return answer
        except (RPCError, WorkflowUpdateFailedError) as err:
            refusal = busy(err)
            if refusal is None:
                raise
            if loop.time() + pause > give_up:
                raise PlanBusyError(refusal, update_limit(err)) from err
        await asyncio.sleep(pause)
        pause = min(pause * 2, LONGEST_PAUSE)
