"""ResendMailWorkflow: an admin sends a mail again once its cause is fixed.

A mail the server would never take (an address mistyped in configuration, the
message refused, its attachment damaged) was given up, or went to only some
of its recipients. Once the address is corrected and the worker restarted, or
the store restored, an admin asks for it again (``certflow notice resend``):
this workflow runs one activity, which sends the kept mail to the current
addresses of the chosen roles and records the outcome. Its id names the mail
by its number (``resend-42``), never a person or an address: one resend of a
mail runs at a time, and each attempt's idempotency key adds its number
(``resend-42-1``).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.heartbeat import HEARTBEAT_TIMEOUT
    from activities.notify import MAIL_RETRY, Notifier
    from certflow.activity_models import ResendOutcome, ResendRequest

TIMEOUT = timedelta(minutes=2)
# How long a resend keeps trying a mail server that is away: after a day it
# ends without an outcome, and an admin may ask again.
GIVE_UP_AFTER = timedelta(days=1)


def resend_workflow_id(notification: int) -> str:
    """The workflow id of the resends of one mail: one runs at a time."""
    return f"resend-{notification}"


@workflow.defn
class ResendMailWorkflow:
    """One resend (补发) of one mail to some of its roles."""

    @workflow.run
    async def run(self, request: ResendRequest) -> ResendOutcome:
        # As ``notify``: retried until sent or given up, the key keeping a
        # retry from sending twice.
        return await workflow.execute_activity_method(
            Notifier.resend,
            request.model_copy(
                update={
                    "resend_key": f"{workflow.info().workflow_id}-{request.attempt}",
                    "requested_at": workflow.now(),
                }
            ),
            start_to_close_timeout=TIMEOUT,
            schedule_to_close_timeout=GIVE_UP_AFTER,
            # It heartbeats: a worker dying mid-send costs half a minute, not
            # the two minutes of TIMEOUT (see SEND_CLAIM in activities/notify.py).
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=MAIL_RETRY,
        )
