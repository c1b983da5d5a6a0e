"""The certflow worker: connects to Temporal and PostgreSQL and runs everything.

``run_worker`` is what the local stack, the demo and the tests all call, so there
is one wiring of workflows and activities, not one per entry point.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.batch_report import BatchReportActivities
from activities.calendar import CalendarActivities
from activities.certificates import CertificateActivities
from activities.db import create_pool, migrate
from activities.documents import DocumentStore
from activities.intake import IntakeActivities
from activities.mail_intake import mailbox_activities
from activities.notify import Mailer, Notifier
from activities.store import PlanStore
from certflow.config import ConfigError, Settings, deployment_warnings
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow
from workflows.mailbox import MAILBOX_WORKFLOWS
from workflows.resend_mail import ResendMailWorkflow

log = logging.getLogger("certflow.worker")

WORKFLOWS = [
    ExamPlanWorkflow,
    ApprovalBatchWorkflow,
    ResendMailWorkflow,
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
    settings: Settings, pool: Any, store: DocumentStore
) -> list[Callable[..., Any]]:
    """Every activity of certflow, bound to the shared pool, store and mailer."""
    plans = PlanStore(pool)
    intake = IntakeActivities(pool, store)
    calendar = CalendarActivities(pool)
    notifier = Notifier(settings, pool, store, Mailer(settings.smtp))
    certificates = CertificateActivities(settings, pool, store)
    reports = BatchReportActivities(settings, pool, store)
    return [
        plans.register_plan,
        plans.record_stage,
        plans.cancel_plan,
        plans.record_audit,
        plans.record_finance,
        plans.claim_ready_plans,
        plans.release_plans,
        plans.close_batch,
        plans.mark_plans_gone,
        intake.process_upload,
        intake.build_consistency_report,
        intake.build_platform_import,
        intake.record_correction,
        intake.record_correction_decision,
        intake.apply_correction,
        calendar.publicity_window,
        notifier.notify,
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
        yield pool, DocumentStore(settings.documents_dir)
    finally:
        await pool.close()


def build_worker(
    client: Client, settings: Settings, pool: Any, store: DocumentStore, **options: Any
) -> Worker:
    """The worker of every certflow workflow and activity on the configured queue.

    The mailbox intake's activities hold the client: they file the corrections
    they read through the plans' own updates.
    """
    return Worker(
        client,
        task_queue=settings.temporal.task_queue,
        workflows=WORKFLOWS,
        activities=[
            *build_activities(settings, pool, store),
            *mailbox_activities(settings, pool, client),
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
    async with worker_resources(settings) as (pool, store):
        worker = build_worker(client, settings, pool, store)
        log.info("worker started task_queue=%s", settings.temporal.task_queue)
        async with worker:
            await stop.wait()
        log.info("worker stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """Run a worker against an existing Temporal server (production entry point)."""
    parser = argparse.ArgumentParser(prog="worker.py", description=main.__doc__)
    parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    try:
        settings = Settings.load()
    except ConfigError as err:
        logging.getLogger(__name__).error("%s", err)
        return 2
    for warning in deployment_warnings(settings):
        logging.getLogger(__name__).warning("%s", warning)

    async def _run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        client = await connect(settings)
        await run_worker(client, settings, stop=stop)

    asyncio.run(_run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
