"""``certflow mailbox``: the exam mailbox's queue, for the info center.

- ``list [--status S] [--limit N] [--subjects]``: the recorded mail, newest
  first: key, time, sender address, status and the requests registered from
  it; with ``--subjects`` also each mail's subject, as its sender wrote it
  (an ID number in it masked, as it is stored).
- ``assign KEY PLAN_ID --admission N --field F --requested X --reason R``, as
  ``--as info_center --person ID`` (before or after ``mailbox``, or from the
  environment): file a request a person read from a mail of the unmatched
  queue (a photo of the form, a free-text plea); the mail is marked assigned
  by that person and its sender gets the reference. KEY may be the first
  characters of the key ``list`` shows.
- ``poll``: read the mailbox now (starts the poller when it is not running).

Exit status: 0 done, 2 refused or a wrong argument, 1 when Temporal or
PostgreSQL cannot be reached. Nothing printed by default names a candidate:
subjects are free text that often does ("张三成绩复核"), so they are shown only
on request, and the form's contents never.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from certflow.arguments import StaffArgumentParser, about, argument_help, named_codes
from certflow.config import ConfigError, Settings
from certflow.free_text import limits
from certflow.i18n import t
from certflow.models import Role
from certflow.timeutil import format_cst
from certflow.validation import explain
from starter.cli import (
    SCORE_FIELDS,
    ConnectionProblem,
    acting_flags,
    admission_argument,
    code_argument,
    correction_value_problems,
    open_database,
    person_refusal,
    request_reason_argument,
    table,
)

SUBJECT_SHOWN = 40
STATUSES = ("received", "refused", "unmatched", "assigned", "ignored")


class _Refused(Exception):
    """A command this tool refuses, with the Chinese reason to print."""


class _Unreachable(Exception):
    """Temporal or PostgreSQL did not answer."""


def _limit(text: str) -> int:
    """``--limit``: how many mails to show, a whole number from 1 up."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(t("mailbox.bad_limit", value=text))
    return count


def build_parser(
    role: str | None = None, person: str | None = None
) -> argparse.ArgumentParser:
    """The ``certflow mailbox`` command line; ``role``/``person``: given before it."""
    parser = StaffArgumentParser(prog="certflow mailbox", description=about("mailbox"))
    # Also given before 'mailbox' (certflow --config FILE mailbox): CERTFLOW_CONFIG.
    config = StaffArgumentParser(add_help=False)
    config.add_argument(
        "--config", type=Path, metavar="FILE", help=argument_help("common", "config")
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str) -> tuple[argparse.ArgumentParser, Callable[[str], str]]:
        key = f"mailbox_{name}"
        text = about(key)
        glossary = {
            "statuses": named_codes(STATUSES, "mailbox.status_"),
            "fields": named_codes(SCORE_FIELDS, "cli.fields."),
            **limits(),
        }
        sub = commands.add_parser(name, help=text, description=text, parents=[config])
        return sub, (lambda argument: argument_help(key, argument, **glossary))

    listing, helps = command("list")
    listing.add_argument(
        "--status", choices=STATUSES, metavar="STATUS", help=helps("status")
    )
    listing.add_argument("--limit", type=_limit, default=50, help=helps("limit"))
    listing.add_argument("--subjects", action="store_true", help=helps("subjects"))

    assign, helps = command("assign")
    assign.add_argument("key", metavar="KEY", help=helps("key"))
    assign.add_argument(
        "plan_id", type=code_argument, metavar="PLAN_ID", help=helps("plan_id")
    )
    assign.add_argument(
        "--admission", type=admission_argument, required=True, help=helps("admission")
    )
    assign.add_argument(
        "--field", required=True, choices=SCORE_FIELDS, help=helps("field")
    )
    assign.add_argument("--requested", required=True, help=helps("requested"))
    assign.add_argument("--published", default="", help=helps("published"))
    assign.add_argument(
        "--reason", type=request_reason_argument, required=True, help=helps("reason")
    )
    acting_flags(assign, role=role, person=person, roles=[Role.INFO_CENTER])

    command("poll")
    return parser


async def run(
    argv: Sequence[str],
    settings: Settings,
    *,
    client: Client | None = None,
    out: TextIO | None = None,
    role: str | None = None,
    person: str | None = None,
) -> int:
    """Run one ``certflow mailbox`` command and return its exit status.

    Tests pass their own ``client``; otherwise one connects to the configured
    Temporal address when the command needs it. ``role`` and ``person`` are
    the acting flags given before ``mailbox``.
    """
    try:
        args = build_parser(role, person).parse_args(list(argv))
    except SystemExit as exit:
        return int(exit.code or 0)
    return await _execute(args, settings, client=client, out=out)


async def _execute(
    args: argparse.Namespace,
    settings: Settings,
    *,
    client: Client | None = None,
    out: TextIO | None = None,
) -> int:
    """Run a parsed ``certflow mailbox`` command with these settings."""
    stream = out or sys.stdout
    pool: Any = None
    try:
        if args.command == "assign":
            _check_assigner(args)
        if args.command == "poll":
            return await _poll(settings, client or await _connect(settings), stream)
        pool = await _open_pool(settings)
        if args.command == "list":
            return await _list(pool, args, stream)
        # An unknown key is refused before Temporal is needed.
        key = await _full_key(pool, args.key)
        return await _assign(
            settings, pool, client or await _connect(settings), key, args, stream
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


def _check_assigner(args: argparse.Namespace) -> None:
    """Only the info center files requests read from mail, each as a named
    person, with scores the plan can read (as ``certflow correction submit``)."""
    if args.role != Role.INFO_CENTER.value:
        raise _Refused(t("mailbox.assign_role"))
    if not (args.person or "").strip():
        raise _Refused(t("mailbox.assign_person"))
    if (refusal := person_refusal(args.role, args.person)) is not None:
        raise _Refused(refusal)
    problems = correction_value_problems(args.field, args.published, args.requested)
    if problems:
        raise _Refused("\n".join(problems))


# The request's fields as the flags of ``assign`` name them.
_FLAGS = {
    "admission_number": "--admission",
    "published_score": "--published",
    "requested_score": "--requested",
    "reason": "--reason",
}


def _flag_of(location: tuple[int | str, ...]) -> str:
    name = str(location[0]) if location else ""
    return _FLAGS.get(name, name)


async def _connect(settings: Settings) -> Client:
    from worker import connect

    try:
        return await connect(settings)
    except (RuntimeError, RPCError, OSError) as err:
        raise _Unreachable(
            t("cli.connection", address=settings.temporal.address)
        ) from err


async def _open_pool(settings: Settings) -> Any:
    try:
        return await open_database(settings.database_url)
    except ConnectionProblem as err:
        raise _Unreachable(err.message) from err


async def _list(pool: Any, args: argparse.Namespace, out: TextIO) -> int:
    rows = await pool.fetch(
        """
        SELECT dedupe_key, received_at, sender, subject, status, request_ids,
            replied_at, reply_failure
        FROM mail_messages WHERE $1::text IS NULL OR status = $1
        ORDER BY received_at DESC LIMIT $2
        """,
        args.status,
        args.limit,
    )
    if not rows:
        print(t("mailbox.empty"), file=out)
        return 0

    names = ["key", "received", "sender", "subject", "status", "requests", "reply"]
    if not args.subjects:
        names.remove("subject")
    shown = [
        {
            "key": row["dedupe_key"][:12],
            "received": format_cst(row["received_at"]),
            "sender": row["sender"],
            "subject": _short(row["subject"]),
            "status": t(f"mailbox.status_{row['status']}"),
            "requests": "、".join(row["request_ids"]) or "—",
            "reply": _reply(row),
        }
        for row in rows
    ]
    lines = table(
        [t(f"mailbox.header_{name}") for name in names],
        [[row[name] for name in names] for row in shown],
    )
    print("\n".join(lines), file=out)
    return 0


def _reply(row: Any) -> str:
    """Whether the sender was answered; a reply given up is for staff to follow."""
    if row["reply_failure"] is not None:
        return t("mailbox.reply_failed")
    return t("mailbox.reply_sent") if row["replied_at"] is not None else "—"


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
    key: str,
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    from activities.documents import DocumentStore
    from activities.mail_intake import AssignError, MailIntakeActivities

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
    except ValidationError as err:
        # What the request cannot hold, named by field; never the input.
        detail = "；".join(explain(err, _flag_of))
        raise _Refused(t("cli.bad_argument", detail=detail)) from None
    except RPCError as err:
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            address = settings.temporal.address
            raise _Unreachable(t("cli.connection", address=address)) from err
        raise
    if answer.reference is None:
        raise _Refused(t("mailbox.refused", reason=answer.reason or ""))
    if answer.reply_failure is not None:
        print(t("mailbox.assigned_unanswered", reference=answer.reference), file=out)
        return 0
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


def main(
    argv: Sequence[str] | None = None,
    *,
    role: str | None = None,
    person: str | None = None,
) -> int:
    """Entry point: ``python -m starter.mailbox_cli``, or ``certflow mailbox``."""
    import asyncio

    given = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(role, person).parse_args(list(given))
    except SystemExit as exit:
        return int(exit.code or 0)
    try:
        settings = Settings.load(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2
    return asyncio.run(_execute(args, settings))


if __name__ == "__main__":
    raise SystemExit(main())
