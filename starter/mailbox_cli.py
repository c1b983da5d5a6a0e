"""``certflow mailbox``: the exam mailbox's queue, for the info center.

- ``list [--status S]``: the recorded mail, newest first: key, time, sender
  address, subject, status and the requests registered from it.
- ``assign KEY PLAN_ID --admission N --field F --requested X --reason R --as P``:
  file a request a person read from a mail of the unmatched queue (a photo of
  the form, a free-text plea); the mail is marked assigned and its sender gets
  the reference. KEY may be the first characters of the key ``list`` shows.
- ``poll``: read the mailbox now (starts the poller when it is not running).

Exit status: 0 done, 2 refused or a wrong argument, 1 when Temporal or
PostgreSQL cannot be reached. Nothing printed names a candidate: the subject is
what the sender wrote, and the form's contents are never shown.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from certflow.config import ConfigError, Settings
from certflow.i18n import t
from certflow.timeutil import format_cst

SUBJECT_SHOWN = 40
STATUSES = ("received", "refused", "unmatched", "assigned", "ignored")


class _Refused(Exception):
    """A command this tool refuses, with the Chinese reason to print."""


class _Unreachable(Exception):
    """Temporal or PostgreSQL did not answer."""


def build_parser() -> argparse.ArgumentParser:
    """The ``certflow mailbox`` command line."""
    parser = argparse.ArgumentParser(
        prog="certflow mailbox", description="The exam mailbox's queue."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="recorded mail, newest first")
    listing.add_argument("--status", choices=STATUSES, help="only mail in this status")
    listing.add_argument("--limit", type=int, default=50)

    assign = commands.add_parser(
        "assign", help="file a request read by a person from a recorded mail"
    )
    assign.add_argument("key", help="the mail's key as 'list' shows it (a prefix)")
    assign.add_argument("plan_id")
    assign.add_argument("--admission", required=True, help="admission number")
    assign.add_argument(
        "--field", required=True, choices=("theory", "practical", "total", "status")
    )
    assign.add_argument("--requested", required=True, help="the requested score")
    assign.add_argument("--published", default="", help="the published score")
    assign.add_argument("--reason", required=True)
    assign.add_argument(
        "--as", dest="person", required=True, help="your staff id (info center)"
    )

    commands.add_parser("poll", help="read the mailbox now")
    return parser


async def run(
    argv: Sequence[str],
    settings: Settings,
    *,
    client: Client | None = None,
    out: TextIO | None = None,
) -> int:
    """Run one ``certflow mailbox`` command and return its exit status.

    Tests pass their own ``client``; otherwise one connects to the configured
    Temporal address when the command needs it.
    """
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exit:
        return int(exit.code or 0)
    stream = out or sys.stdout
    pool: Any = None
    try:
        if args.command == "poll":
            return await _poll(settings, client or await _connect(settings), stream)
        pool = await _open_pool(settings)
        if args.command == "list":
            return await _list(pool, args, stream)
        return await _assign(
            settings, pool, client or await _connect(settings), args, stream
        )
    except _Refused as refusal:
        print(str(refusal), file=stream)
        return 2
    except _Unreachable as err:
        print(str(err), file=sys.stderr)
        return 1
    finally:
        if pool is not None:
            await pool.close()


async def _connect(settings: Settings) -> Client:
    from worker import connect

    try:
        return await connect(settings)
    except (RuntimeError, RPCError, OSError) as err:
        raise _Unreachable(
            f"Cannot reach Temporal at {settings.temporal.address}; "
            f"{t('cli.connection', address=settings.temporal.address)}"
        ) from err


async def _open_pool(settings: Settings) -> Any:
    from activities.db import create_pool, migrate

    try:
        pool = await create_pool(settings.database_url, max_size=2)
    except (OSError, ConnectionError) as err:
        raise _Unreachable(f"Cannot reach PostgreSQL; {t('cli.database')}") from err
    await migrate(pool)
    return pool


async def _list(pool: Any, args: argparse.Namespace, out: TextIO) -> int:
    rows = await pool.fetch(
        """
        SELECT dedupe_key, received_at, sender, subject, status, request_ids
        FROM mail_messages WHERE $1::text IS NULL OR status = $1
        ORDER BY received_at DESC LIMIT $2
        """,
        args.status,
        args.limit,
    )
    if not rows:
        print(t("mailbox.empty"), file=out)
        return 0

    from starter.cli import table

    headers = [
        t(f"mailbox.header_{name}")
        for name in ("key", "received", "sender", "subject", "status", "requests")
    ]
    lines = table(
        headers,
        [
            [
                row["dedupe_key"][:12],
                format_cst(row["received_at"]),
                row["sender"],
                _short(row["subject"]),
                t(f"mailbox.status_{row['status']}"),
                "、".join(row["request_ids"]) or "—",
            ]
            for row in rows
        ],
    )
    print("\n".join(lines), file=out)
    return 0


def _short(subject: str) -> str:
    flat = " ".join(subject.split())
    return flat if len(flat) <= SUBJECT_SHOWN else flat[: SUBJECT_SHOWN - 1] + "…"


async def _full_key(pool: Any, prefix: str) -> str:
    if not prefix or any(c not in "0123456789abcdef" for c in prefix.lower()):
        raise _Refused(t("mailbox.not_found", key=prefix))
    keys = await pool.fetch(
        "SELECT dedupe_key FROM mail_messages WHERE dedupe_key LIKE $1 LIMIT 2",
        prefix.lower() + "%",
    )
    if not keys:
        raise _Refused(t("mailbox.not_found", key=prefix))
    if len(keys) > 1:
        raise _Refused(t("mailbox.ambiguous", key=prefix))
    return str(keys[0]["dedupe_key"])


async def _assign(
    settings: Settings,
    pool: Any,
    client: Client,
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    from activities.documents import DocumentStore
    from activities.mail_intake import AssignError, MailIntakeActivities

    key = await _full_key(pool, args.key)
    intake = MailIntakeActivities(
        settings, pool, DocumentStore(settings.documents_dir), client
    )
    try:
        answer = await intake.assign(
            key,
            args.plan_id,
            admission_number=args.admission,
            score_field=args.field,
            requested_score=args.requested,
            published_score=args.published,
            reason=args.reason,
            person=args.person,
        )
    except AssignError as err:
        raise _Refused(str(err)) from None
    except RPCError as err:
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            address = settings.temporal.address
            raise _Unreachable(t("cli.connection", address=address)) from err
        raise
    if answer.reference is None:
        raise _Refused(t("mailbox.refused", reason=answer.reason or ""))
    print(t("mailbox.assigned", reference=answer.reference), file=out)
    return 0


async def start_or_wake_poller(
    client: Client, settings: Settings, requested_by: str
) -> None:
    """Make the mailbox poller read the mailbox now, starting it if it is not running.

    Signal-with-start does both in one call, so two callers never start two
    pollers; the stack or a deployment script can call this at start-up.
    """
    from workflows.mailbox import (
        MAILBOX_WORKFLOW_ID,
        MailboxPollInput,
        MailboxPollWorkflow,
        PollNow,
    )

    await client.start_workflow(
        MailboxPollWorkflow.run,
        MailboxPollInput(poll_interval=settings.mailbox.poll_interval),
        id=MAILBOX_WORKFLOW_ID,
        task_queue=settings.temporal.task_queue,
        start_signal="poll_now",
        start_signal_args=[PollNow(requested_by=requested_by)],
    )


async def _poll(settings: Settings, client: Client, out: TextIO) -> int:
    await start_or_wake_poller(client, settings, "certflow mailbox poll")
    print(t("mailbox.poll_started"), file=out)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python -m starter.mailbox_cli``."""
    import asyncio

    try:
        settings = Settings.load()
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    return asyncio.run(run(sys.argv[1:] if argv is None else argv, settings))


if __name__ == "__main__":
    raise SystemExit(main())
