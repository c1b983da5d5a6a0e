"""Heartbeats of the long activities, sent in the background while they run.

An activity whose worker dies (killed, out of memory, the machine lost) sends
no result. Without heartbeats the Temporal server waits out the attempt's
whole start-to-close timeout (10 minutes for an upload, 30 for issuance)
before it retries on a live worker, and the plan waits with it: the staff
tool gives up on an upload after two minutes, and the plan's other uploads
queue behind it. With a heartbeat timeout the server retries once no
heartbeat has come for :data:`HEARTBEAT_TIMEOUT`.

The work of these activities is awaited (database calls, files and CPU work
run in threads), so one task beside it heartbeats for as long as the worker's
event loop runs, however long one step takes; the start-to-close timeout
still bounds an attempt that hangs. A heartbeat also carries a cancellation
requested by the workflow to the activity, as ``asyncio.CancelledError``:
each of these activities does its work in one transaction or repeats it
safely, so a cancelled attempt leaves nothing half-done.

The mail activities (``notify`` and ``resend``, short as they are, and the
mailbox poll answering mails) heartbeat too: a mail whose worker died then
goes out about half a minute later, its claim lapsed by then (``SEND_CLAIM``
in activities/notify.py), instead of after the two-minute start-to-close. A
cancellation that reaches one of them mid-send records the mail the server
took, ends the claim of one surely not handed over, and leaves the claim of
one that may be with the server to lapse (``Held`` there).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import ParamSpec, TypeVar

from temporalio import activity

# Silence after which the server takes an attempt for dead and retries it.
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
# How often an attempt heartbeats: three chances within the timeout. The
# worker sends them on at this pace too (``max_heartbeat_throttle_interval``),
# not at its default of 80% of the timeout, which left a margin of 6 s.
HEARTBEAT_EVERY = HEARTBEAT_TIMEOUT / 3

P = ParamSpec("P")
R = TypeVar("R")


def beats_while_running(
    fn: Callable[P, Awaitable[R]],
) -> Callable[P, Awaitable[R]]:
    """Make the activity ``fn`` heartbeat in the background while it runs.

    Only when its workflow gave it a heartbeat timeout: an attempt scheduled
    before (none) keeps running as it did, cancellations not delivered. Called
    outside an activity (a script or a test calling the method itself), it
    just runs.
    """

    @functools.wraps(fn)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        timeout = activity.info().heartbeat_timeout if activity.in_activity() else None
        if not timeout:
            return await fn(*args, **kwargs)
        beating = asyncio.create_task(_beat(min(timeout / 3, HEARTBEAT_EVERY)))
        try:
            return await fn(*args, **kwargs)
        finally:
            beating.cancel()

    return run


async def _beat(every: timedelta) -> None:
    while True:
        activity.heartbeat()
        await asyncio.sleep(every.total_seconds())
