"""Telling of a revocation: the mail to the info center and the site, and the
plan's own count while its workflow runs.

``certflow revoke`` (and the demo) record a revocation in PostgreSQL first: it
stands whether or not Temporal answers. The mail then goes through Temporal
(``RevocationMailWorkflow``), as every mail of certflow does; where Temporal
cannot be reached, the mail is recorded not sent, for an admin's resend.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.revocation import Revoked, record_not_started, revocation_notice
from certflow.actions import CertificatesRevoked, plan_workflow_id
from certflow.config import Settings
from workflows.revocation_mail import (
    RevocationMailWorkflow,
    revocation_mail_workflow_id,
)

# How long a call to Temporal may take before it counts as out of reach.
TEMPORAL_WAIT = 10.0


async def tell_revocation(
    client: Client | None,
    settings: Settings,
    pool: Any,
    revoked: Revoked,
    *,
    wait: float | None = None,
) -> int | None:
    """Mail the info center and the site of ``revoked``, and let its plan
    count it if its workflow still runs.

    None once the mail is on its way (the worker sends it); else, Temporal
    being out of reach (``client`` None, or its calls failing or unanswered
    within ``wait`` seconds, default ``TEMPORAL_WAIT``), the number of the
    mail recorded not sent, for ``certflow notice resend``.
    """
    wait = wait or TEMPORAL_WAIT
    # A tool stopped before this runs leaves the mail unrecorded: revoking
    # again tells it (``activities.revocation.untold``).
    note = revocation_notice(revoked)
    if client is None:
        return await record_not_started(pool, note)
    try:
        await asyncio.wait_for(
            client.start_workflow(
                RevocationMailWorkflow.run,
                note,
                id=revocation_mail_workflow_id(revoked.number),
                task_queue=settings.temporal.task_queue,
            ),
            wait,
        )
    except WorkflowAlreadyStartedError:
        pass  # on its way already: the mail's key keeps it from going twice
    except (TimeoutError, RPCError, RuntimeError, OSError):
        return await record_not_started(pool, note)
    await _tell_plan(client, revoked, wait)
    return None


async def _tell_plan(client: Client, revoked: Revoked, wait: float) -> None:
    """Signal the plan, whose status and Web UI page then count the revoked.

    A plan whose workflow has ended hears of nothing: ``certflow status``
    reads the count from the database.
    """
    handle = client.get_workflow_handle(plan_workflow_id(revoked.plan_id))
    news = CertificatesRevoked(number=revoked.number, revoked=revoked.revoked_in_plan)
    try:
        await asyncio.wait_for(handle.signal("certificate_revoked", news), wait)
    except (TimeoutError, RPCError):
        pass
