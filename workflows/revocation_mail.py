"""RevocationMailWorkflow: the info center and the site told of a revoked certificate.

``certflow revoke`` records a revocation in PostgreSQL alone (it must not wait
for Temporal), then starts this workflow to mail the parties who keep the
national platform, the organisation's database and the candidate in step. It
runs one activity, the plans' own ``notify``: retried until the mail server
takes the mail or gives it up, its row in ``notifications`` saying which, so
``certflow notice failed`` lists a mail given up and ``notice resend`` sends it
again. Its id names the certificate by its number (published anyway on the
status list), never a person.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.heartbeat import HEARTBEAT_TIMEOUT
    from activities.notify import MAIL_RETRY, Notifier, log_not_sent
    from certflow.activity_models import Notification

TIMEOUT = timedelta(minutes=2)


def revocation_mail_workflow_id(number: str) -> str:
    """The workflow id of the mail telling of certificate ``number``'s
    revocation: a certificate is revoked once, and told once."""
    return f"revocation-mail-{number}"


@workflow.defn
class RevocationMailWorkflow:
    """One mail telling of one revocation (撤销证书通知)."""

    @workflow.run
    async def run(self, note: Notification) -> None:
        try:
            await workflow.execute_activity_method(
                Notifier.notify,
                note,
                start_to_close_timeout=TIMEOUT,
                # It heartbeats: a worker dying mid-send costs half a minute
                # (see SEND_CLAIM in activities/notify.py).
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=MAIL_RETRY,
            )
        except ActivityError:
            # Given up (the mail server will never take it): its row says
            # why, for an admin's resend.
            log_not_sent(workflow.logger, note.template, plan_id=note.plan_id)
