"""The certflow worker: connects to Temporal and PostgreSQL and runs everything.

``run_worker`` is what the local stack, the demo and the tests all call, so there
is one wiring of workflows and activities, not one per entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.batch_report import BatchReportActivities
from activities.calendar import CalendarActivities
from activities.certificates import CertificateActivities
from activities.db import RENEWAL_POOL, create_pool, migrate
from activities.documents import DocumentStore, sweep_output
from activities.heartbeat import HEARTBEAT_EVERY
from activities.intake import IntakeActivities
from activities.mail_intake import mailbox_activities
from activities.notify import Mailer, Notifier
from activities.store import PlanStore
from certflow.config import ConfigError, Settings, deployment_warnings
from certflow.isolation import resume_readings, stop_readings
from starter.embedded_pg import redact
from starter.logs import configure as configure_logging
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow
from workflows.mailbox import MAILBOX_WORKFLOWS
from workflows.resend_mail import ResendMailWorkflow
from workflows.revocation_mail import RevocationMailWorkflow

log = logging.getLogger("certflow.worker")

WORKFLOWS = [
    ExamPlanWorkflow,
    ApprovalBatchWorkflow,
    ResendMailWorkflow,
    RevocationMailWorkflow,
    *MAILBOX_WORKFLOWS,
]


async def connect(settings: Settings) -> Client:
    """Connect to the configured Temporal frontend with certflow's data converter."""
    return await Client.connect(
        settings.temporal.address,
        namespace=settings.temporal.namespace,
        data_converter=pydantic_data_converter,
    )


def build_activities(
    settings: Settings, pool: Any, store: DocumentStore, renewals: Any = None
) -> list[Callable[..., Any]]:
    """Every activity of certflow, bound to the shared pool, store and mailer;
    the mails' claims renewed through ``renewals`` (``pool`` if None)."""
    plans = PlanStore(pool)
    intake = IntakeActivities(pool, store, settings.reading)
    calendar = CalendarActivities(pool)
    notifier = Notifier(settings, pool, store, Mailer(settings.smtp), renewals)
    certificates = CertificateActivities(settings, pool, store)
    reports = BatchReportActivities(settings, pool, store)
    return [
        plans.register_plan,
        plans.record_stage,
        plans.record_deadlines,
        plans.cancel_plan,
        plans.record_audit,
        plans.record_finance,
        plans.claim_ready_plans,
        plans.release_plans,
        plans.close_batch,
        plans.mark_plans_gone,
        plans.joint_payments,
        plans.held_back_to_tell,
        plans.payment_holds_told,
        plans.batch_holds,
        plans.check_joint_payment,
        plans.record_payment_hold,
        plans.joint_holds,
        intake.process_upload,
        intake.record_upload,
        intake.build_consistency_report,
        intake.build_platform_import,
        intake.record_correction,
        intake.forget_correction,
        intake.record_correction_decision,
        intake.check_correction_font,
        intake.apply_correction,
        calendar.publicity_window,
        calendar.working_days_after,
        notifier.notify,
        notifier.withdraw,
        notifier.resend,
        certificates.issue_certificates,
        reports.build_batch_report,
    ]


@asynccontextmanager
async def worker_resources(
    settings: Settings,
) -> AsyncIterator[tuple[Any, DocumentStore]]:
    """The database pool (schema migrated) and the document store, closed on exit."""
    pool = await create_pool(settings.database_url)
    try:
        await migrate(pool)
        store = DocumentStore(settings.documents_dir)
        await asyncio.to_thread(store.sweep_staged)
        # Certificate copies are written into the output folder the same way.
        await asyncio.to_thread(sweep_output, settings.output_dir)
        yield pool, store
    finally:
        await pool.close()


@asynccontextmanager
async def claim_renewals(settings: Settings) -> AsyncIterator[Any]:
    """The small pool the mails' claims are renewed through, beside the
    worker's (``RENEWAL_POOL`` connections), closed on exit: activities
    holding every connection of the worker's pool never keep a renewal
    waiting (see ``activities.notify.Held``)."""
    renewals = await create_pool(
        settings.database_url, min_size=1, max_size=RENEWAL_POOL
    )
    try:
        yield renewals
    finally:
        await renewals.close()


def build_worker(
    client: Client,
    settings: Settings,
    pool: Any,
    store: DocumentStore,
    renewals: Any = None,
    **options: Any,
) -> Worker:
    """The worker of every certflow workflow and activity on the configured queue.

    The mailbox intake's activities hold the client: they file the corrections
    they read through the plans' own updates. The mails' claims are renewed
    through ``renewals`` (see ``claim_renewals``; ``pool`` if None).
    """
    # Heartbeats go to the server as often as the long activities send them
    # (activities/heartbeat.py), three within each heartbeat timeout.
    options.setdefault("max_heartbeat_throttle_interval", HEARTBEAT_EVERY)
    return Worker(
        client,
        task_queue=settings.temporal.task_queue,
        workflows=WORKFLOWS,
        activities=[
            *build_activities(settings, pool, store, renewals),
            *mailbox_activities(settings, pool, client, renewals),
        ],
        **options,
    )


async def run_worker(
    client: Client, settings: Settings, *, stop: asyncio.Event
) -> None:
    """Run the worker until ``stop`` is set, then stop it and return.

    Activities still running are cancelled; Temporal runs them again after the
    next start (each is safe to repeat).
    """
    async with (
        worker_resources(settings) as (pool, store),
        claim_renewals(settings) as renewals,
    ):
        resume_readings()  # a worker run again in this process reads again
        worker = build_worker(client, settings, pool, store, renewals)
        log.info("worker started task_queue=%s", settings.temporal.task_queue)
        async with worker:
            await stop.wait()
            # Readings under way are ended, not waited for: their uploads
            # are handed back to be read again after the restart.
            stop_readings()
        log.info("worker stopped")


# How long the worker keeps trying to reach Temporal and PostgreSQL at start.
# Compose may start it as their containers come up (or restart it while they
# restart); the restart policy takes over after that.
CONNECT_WAIT = 60.0
# The longest pause between two attempts.
MAX_CONNECT_DELAY = 15.0

T = TypeVar("T")


class ServerUnreachableError(Exception):
    """Temporal or PostgreSQL did not answer at start; the message says which."""


class Stopped(Exception):
    """The worker was told to stop (SIGTERM, SIGINT) while it waited at start."""


# The longest one attempt to reach a server may take: a port that takes the
# connection and never answers must not outlast the wait.
ATTEMPT_TIMEOUT = 10.0


async def reach(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    wait: float,
    stop: asyncio.Event | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, for up to ``wait`` seconds.

    Pauses grow from 1 s to :data:`MAX_CONNECT_DELAY`; each failure is one log
    line. A server still away at the end raises :class:`ServerUnreachableError`;
    ``stop`` set meanwhile (the container is being stopped) raises
    :class:`Stopped` at once, whatever the attempt or pause under way.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    delay = 1.0
    stop = stop or asyncio.Event()

    async def unless_stopped(work: Awaitable[Any]) -> Any:
        task = asyncio.ensure_future(work)
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not task.done():
            task.cancel()
            raise Stopped
        return task.result()

    while True:
        try:
            left = max(deadline - loop.time(), 1.0)
            answer: T = await unless_stopped(
                asyncio.wait_for(attempt(), min(left, ATTEMPT_TIMEOUT))
            )
            return answer
        except (OSError, TimeoutError, RuntimeError, asyncpg.PostgresError) as err:
            reason = " ".join(str(err).split()) or type(err).__name__
            left = deadline - loop.time()
            if left <= 0 or isinstance(
                err, asyncpg.InvalidAuthorizationSpecificationError
            ):
                raise ServerUnreachableError(
                    f"cannot reach {what} (tried for {wait:.0f} s): {reason}"
                ) from None
            pause = min(delay, left)
            log.warning(
                "%s not reachable yet: %s; trying again in %.0f s", what, reason, pause
            )
            await unless_stopped(asyncio.sleep(pause))
            delay = min(delay * 2, MAX_CONNECT_DELAY)


async def _database_answers(url: str) -> None:
    conn = await asyncpg.connect(url, timeout=5)
    await conn.close()


async def ensure_standing_work(client: Client, settings: Settings) -> None:
    """Set up the weekly batch schedule and the mailbox poller, as the stack does.

    Without them a deployment that runs only workers (compose, production)
    never reads the exam mailbox and never gathers a batch on its own. Both
    are idempotent, so every replica does it at each start. A server that
    refuses is one ERROR line: the plans' own work goes on without them, and
    the next start tries again.
    """
    # Imported here: it reads the staff tool's modules, which a worker's start
    # need not wait for.
    from starter.schedules import ensure_standing_workflows

    try:
        await ensure_standing_workflows(client, settings, started_by="worker")
    except RPCError as err:
        log.error(
            "batch schedule and mailbox poller not ensured: %s; mailed "
            "corrections may go unread and batches ungathered until a later "
            "worker start ensures them (certflow mailbox poll starts the poller)",
            " ".join(err.message.split()),
        )


def missing_key_warning(settings: Settings) -> str | None:
    """What the worker says at start when there is no signing key to issue with."""
    key = settings.certificates.signing_key_file
    if key.is_file():
        return None
    return (
        f"certificates.signing_key_file {key} does not exist: no certificate can be "
        "issued until it does. Create the key once with 'certflow keys create --out "
        "FILE' and supply it there (compose: the certificate-signing-key secret, "
        "docs/operations.md)."
    )


def missing_maildir_warning(settings: Settings) -> str | None:
    """What the worker says at start when the exam mailbox's maildir is not there.

    The poller it starts would fail each poll until it is: mailed correction
    requests are not read.
    """
    mailbox = settings.mailbox
    if mailbox.kind != "maildir":
        return None
    if all((mailbox.path / sub).is_dir() for sub in ("new", "cur")):
        return None
    return (
        f"mailbox.path {mailbox.path} is no maildir (no new/ and cur/): mailed "
        "correction requests are not read until mail is delivered there, or "
        '[mailbox] kind = "imap" names the exam mailbox (docs/operations.md).'
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run a worker against an existing Temporal server (production entry point)."""
    parser = argparse.ArgumentParser(prog="worker.py", description=main.__doc__)
    parser.add_argument(
        "--connect-wait",
        type=float,
        default=CONNECT_WAIT,
        metavar="SECONDS",
        help="how long to keep trying to reach Temporal and PostgreSQL at start "
        f"(default {CONNECT_WAIT:.0f})",
    )
    args = parser.parse_args(argv)
    configure_logging()
    try:
        settings = Settings.load()
    except ConfigError as err:
        logging.getLogger(__name__).error("%s", err)
        return 2
    for warning in deployment_warnings(settings):
        logging.getLogger(__name__).warning("%s", warning)
    for missing in (missing_key_warning(settings), missing_maildir_warning(settings)):
        if missing is not None:
            log.warning("%s", missing)

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        temporal = settings.temporal
        client = await reach(
            f"Temporal at {temporal.address} (namespace {temporal.namespace})",
            lambda: connect(settings),
            args.connect_wait,
            stop,
        )
        await reach(
            f"PostgreSQL at {redact(settings.database_url)}",
            lambda: _database_answers(settings.database_url),
            args.connect_wait,
            stop,
        )
        await ensure_standing_work(client, settings)
        await run_worker(client, settings, stop=stop)

    try:
        asyncio.run(_run())
        status = 0
    except ServerUnreachableError as err:
        log.error("%s", err)
        status = 1
    except Stopped:
        log.info("stopped before the servers answered")
        status = 0
    # Only as the program itself: a caller in the same process goes on.
    return _ended(status) if argv is None else status


def _ended(status: int) -> int:
    """End the process with ``status`` once the log is out.

    The Temporal client's native runtime keeps threads that may call into
    Python while the interpreter finalises; after failed connects about one run
    in three then aborted with "PyGILState_Release" (exit 134) instead of the
    one line and status promised. Nothing is left to clean up by then.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


if __name__ == "__main__":
    raise SystemExit(main())
