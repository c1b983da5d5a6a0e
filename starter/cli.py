"""The staff tool: ``certflow``, one subcommand for every action of every role.

Each action on a plan is one workflow update; the table ``PLAN_ACTIONS`` says,
for each, its subcommand, the update it calls and how its request model is
built from the command line. The plan answers in Chinese and this tool prints
that answer as it is: accepted (with a late mark), or refused with the reasons.

Exit status: 0 done, 2 refused (by the plan or for a wrong argument), 1 when
Temporal or PostgreSQL cannot be reached, or the plan could not process the
action for a system reason (nothing was recorded: send it again later).
Nothing printed here holds an identity number or a person's name: problems
arrive masked, and only staff ids are shown.
The worker, the workflows and the certificate code are imported where they are
used, so the offline subcommands (verify, keys, mail) start quickly.
"""

from __future__ import annotations

import argparse
import asyncio
import codecs
import functools
import logging
import os
import re
import sys
import tomllib
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.documents import (
    DocumentDamaged,
    DocumentNotFound,
    DocumentStore,
    guess_media_type,
    media_suffix,
)
from certflow import correction_details
from certflow import search_attributes as sa
from certflow.actions import (
    SAME_APPLICATION,
    SCHEDULE,
    ActionResult,
    ApplicationUpload,
    BatchDecisionRequest,
    BatchInput,
    BatchStatus,
    CalendarReloaded,
    CancelRequest,
    ConfirmSummaryRequest,
    CorrectionApply,
    CorrectionDecision,
    CorrectionSubmission,
    DifferenceSettlement,
    ExamPlanInput,
    InvoiceRecord,
    OwedItem,
    PaymentConfirmation,
    PaymentHeld,
    PlanStatus,
    Rejection,
    ReviewRequest,
    SimpleAction,
    SiteSignoffRequest,
    UploadRequest,
    batch_workflow_id,
    decision_role_refusal,
    new_batch_id,
    plan_workflow_id,
)
from certflow.activity_models import BatchHold, UploadRecord
from certflow.arguments import (
    StaffArgumentParser,
    about,
    argument_help,
    code_typed,
    named_codes,
    shown,
)
from certflow.config import (
    MAILED_ROLES,
    ConfigError,
    Settings,
    malformed_toml,
    not_utf8,
)
from certflow.files import (
    DISK_FULL,
    NotRegularFile,
    create_private,
    existing_kind,
    staged_private,
    write_private,
)
from certflow.free_text import (
    DETAIL,
    NAME,
    REASON,
    REQUEST_REASON,
    TextBound,
    field_label,
    limits,
)
from certflow.i18n import catalogue, t, t_or
from certflow.identity import (
    ADMISSION_NUMBER_MAX_LENGTH,
    canonical_code,
    compact_code,
    could_be_id_number,
    invoice_number,
    is_admission_number,
    is_or_holds_id_number,
    is_staff_id,
    staff_key,
)
from certflow.intake.container import is_blank
from certflow.intake.vocabulary import STATUS_BY_NAME, decimal_mark_slip, parse_score
from certflow.invoice import LABELS, InvoiceField, read_invoice_details
from certflow.isolation import read_apart
from certflow.joint_payment import LEFT_PAYMENT
from certflow.mail_address import is_mail_address
from certflow.models import (
    PLAN_CODE_MAX_LENGTH,
    PLAN_TEXT_MAX_LENGTH,
    Actor,
    DocumentKind,
    DocumentRef,
    Level,
    NewPlanInfo,
    PlanInfo,
    Problem,
    Role,
    Stage,
)
from certflow.plan import (
    HELD_TOLD,
    SUBMISSION_DUTIES,
    Action,
    Duty,
    HistoryEntry,
    blocked_text,
    duties_by_party,
    held_lines,
    invoice_number_id_refusal,
    invoice_number_refusal,
    is_joint,
    paid_plans_refusal,
    redo_duty_codes,
    role_refusal,
)
from certflow.plan_busy import (
    CONTINUING_AS_NEW,
    PATIENCE,
    Busy,
    PlanBusyError,
    send_update,
)
from certflow.plan_details import batch_summary, plan_summary
from certflow.plan_documents import (
    FETCHABLE_KINDS,
    DocumentState,
    PlanDocument,
    StoredDocument,
    Upload,
    fetchable_by,
    find,
    may_fetch,
    plan_documents,
    readers,
)
from certflow.privacy import holds_id_number, mask_id_number, name_initial
from certflow.problem_list import problem_lines, recorded_text
from certflow.scan import scan_media_type, scan_problems
from certflow.text import code_points, line_feeds
from certflow.timeutil import (
    CST,
    cst_date,
    date_from_text,
    date_parts,
    format_cst,
    format_deadline,
)
from certflow.validation import explain, problem_of
from starter.echo import echoing, safe_echo

if TYPE_CHECKING:
    from certflow.certificates import (
        KeyRing,
        SignedStatusList,
        StatusListError,
        VerificationResult,
    )

ROLE_ENV, PERSON_ENV, SITE_ENV = "CERTFLOW_ROLE", "CERTFLOW_PERSON", "CERTFLOW_SITE"
DEFAULT_WAIT = 120.0
HISTORY_SHOWN = 12
PROBLEMS_SHOWN = 20
# Site codes and plan ids go into visibility queries; this keeps quotes out.
_CODE_LONGEST = 41
_CODE = re.compile(rf"^[A-Za-z0-9][A-Za-z0-9_-]{{0,{_CODE_LONGEST - 1}}}$")
# A code of the characters codes are made of, however long: one that is not
# of a shape above is too long.
_CODE_CHARACTERS = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
# A correction request's id is its plan's id (of any form a plan was started
# with), then -C and its number (P2026-1104-0412-C001): longer than a code.
_REQUEST_ID_LONGEST = 64
_REQUEST_ID_SHAPE = re.compile(
    rf"^[A-Za-z0-9][A-Za-z0-9_-]{{0,{_REQUEST_ID_LONGEST - 1}}}$"
)
# A batch the weekly schedule gathered before scheduled batches were named like
# the others took its workflow id's suffix: scheduled-2026-12-07T01:00:00Z.
_SCHEDULED_BATCH = re.compile(
    r"SCHEDULED-(?P<day>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})Z"
)
# The organisation registers plans; a site, an evaluator or a candidate may not.
PLAN_STARTERS = frozenset(
    {Role.ADMIN, Role.TECH_DEPT, Role.REGIONAL_CONTACT, Role.INFO_CENTER}
)
# 4.2.6: the tech department gathers plans for the general manager's approval.
BATCH_GATHERERS = frozenset({Role.TECH_DEPT, Role.ADMIN})
# A typo guard on the exam end date of a new plan (``--force`` overrides it).
EXAM_END_AHEAD = timedelta(days=60)
EXAM_END_BEHIND = timedelta(days=365)


class CliError(Exception):
    """A failure this tool reports in Chinese with an exit status."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class ConnectionProblem(CliError):
    """Temporal or PostgreSQL did not answer: the stack is probably not running."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=1)


# -- context: settings, lazily opened connections, output ----------------------


@dataclass
class Context:
    """What every subcommand works with: settings, connections, the output stream."""

    settings: Settings
    out: TextIO
    wait: float = DEFAULT_WAIT
    given_client: Client | None = None
    # Set once this context opened its own Temporal connection (see ``main``).
    connected: bool = False
    _client: Client | None = None
    _pool: Any = None

    def say(self, *lines: str) -> None:
        """Print lines for the staff member."""
        for line in lines:
            print(line, file=self.out)

    @property
    def store(self) -> DocumentStore:
        """The document store uploads are put into before the plan is told."""
        return DocumentStore(self.settings.documents_dir)

    def export(self, ref: DocumentRef) -> Path:
        """Copy a stored file into the output folder under its own name.

        The store names files by digest, which no office suite opens; staff get
        a copy named as the worker named it. Where the store is not on this
        machine, or no copy can be made (the folder not writable, something
        other than a file in the way, never replaced), the store path is all
        there is to show.
        """
        target = self.settings.output_dir / local_name(ref, ref.sha256[:16])
        try:
            data = self.store.get(ref)
        except DocumentNotFound:
            return self.store.path_of(ref)
        try:
            write_private(target, data)
        except OSError:
            return self.store.path_of(ref)
        return target

    async def client(self) -> Client:
        """The Temporal client: the one given (tests), or a new connection."""
        if self.given_client is not None:
            return self.given_client
        if self._client is None:
            from worker import connect

            # Even a failed attempt starts the native runtime.
            self.connected = True
            try:
                self._client = await connect(self.settings)
            except (RuntimeError, RPCError, OSError) as err:
                raise self.unreachable() from err
        return self._client

    async def now(self) -> datetime:
        """Now, on the clock of the Temporal server this tool talks to.

        A training stack's clock is ahead of the wall clock by what staff
        advanced it; every other server runs on the wall clock.
        """
        from starter.training import training_now

        client = await self.client()
        return await training_now(client) or datetime.now(UTC)

    def unreachable(self) -> ConnectionProblem:
        """The error shown when Temporal does not answer, naming the address."""
        address = self.settings.temporal.address
        return ConnectionProblem(t("cli.connection", address=address))

    async def pool(self) -> Any:
        """A PostgreSQL pool on the configured database, schema migrated."""
        if self._pool is None:
            self._pool = await open_database(self.settings.database_url)
        return self._pool

    async def close(self) -> None:
        """Close what this context opened (never the client it was given)."""
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def answer(
        self, coroutine: Awaitable[Any], *, unanswered: str = "cli.no_answer"
    ) -> Any:
        """Await a workflow call; no answer within ``wait`` seconds is an error,
        said by the message ``unanswered``."""
        try:
            return await asyncio.wait_for(coroutine, self.wait)
        except TimeoutError:
            raise ConnectionProblem(t(unanswered, seconds=f"{self.wait:.0f}")) from None

    async def ask(self, query: Awaitable[Any]) -> Any:
        """Await a workflow query, which changes nothing: unanswered, only the
        worker that answers it is in doubt (trial: ``certflow status`` told
        staff to look later with ``certflow status`` whether it was done)."""
        return await self.answer(query, unanswered="cli.query_no_answer")

    async def update(self, call: Awaitable[Any], *, check: str) -> Any:
        """Await a workflow update; ``check`` is the command that shows its fate.

        Unlike a query, an update with no answer in time may still be taken:
        the server holds it until a worker runs the plan. Staff are told so,
        and to look with ``check`` before sending it again.
        """
        try:
            return await asyncio.wait_for(call, self.wait)
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            seconds = f"{self.wait:.0f}"
            raise ConnectionProblem(
                t("cli.update_no_answer", seconds=seconds, check=check)
            ) from None


async def open_database(url: str, max_size: int = 2) -> Any:
    """A pool on the database at ``url``, schema migrated; every staff tool's.

    A database that cannot be used is one Chinese line and status 1, never a
    traceback: nothing answering, or a server that answers and refuses (closed
    to connections, starting, full, the login), told apart by SQLSTATE.
    """
    from activities.db import DatabaseUnusable, open_migrated

    try:
        return await open_migrated(url, max_size=max_size)
    except OSError as err:
        raise ConnectionProblem(t("cli.database")) from err
    except DatabaseUnusable as err:
        raise ConnectionProblem(str(err)) from err


def local_name(ref: DocumentRef, fallback: str) -> str:
    """The name a copy of a stored file gets on this machine: its recorded name.

    Only ever a name in the folder it is written to: a recorded name that is
    empty or would be a hidden file or a folder (``.``, ``..``) is replaced
    by ``fallback`` with the suffix of its media type.
    """
    name = Path(ref.filename).name
    if name and not name.startswith("."):
        return name
    return fallback + media_suffix(ref.media_type)


def role_code(text: str) -> str | None:
    """The code of a role as staff type it, or None when it names no role.

    ``Tech_Dept``, `` tech_dept`` and the role's Chinese name (``技术部``, as
    the tool itself names it) all mean ``tech_dept``.
    """
    return code_typed(text, (role.value for role in Role), "roles.")


def role_choices(roles: Iterable[str | Role] = tuple(Role)) -> str:
    """The roles a role flag takes, each as code and Chinese name."""
    return named_codes((Role(r).value for r in roles), "roles.")


class RoleAction(argparse.Action):
    """``--as``: a role code or the role's Chinese name, kept as its code.

    An action, not a ``type``: argparse would pass the default (the
    environment's CERTFLOW_ROLE) through a type too, refusing a mistyped
    variable as if ``--as`` had been typed; ``actor_of`` says which it was.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        try:
            code = role_argument()(str(values))
        except argparse.ArgumentTypeError as refusal:
            raise argparse.ArgumentError(self, str(refusal)) from None
        setattr(namespace, self.dest, code)


def role_argument(roles: Iterable[str | Role] = tuple(Role)) -> Callable[[str], str]:
    """A role flag's ``type`` (``list --owed-by``, ``notice resend --role``):
    a role code or the role's Chinese name, as ``--as`` takes one, kept as
    its code; a role not among ``roles`` is refused listing those."""
    codes = [Role(r).value for r in roles]

    def convert(text: str) -> str:
        code = role_code(text)
        if code is None or code not in codes:
            raise argparse.ArgumentTypeError(
                t("cli.bad_role", value=shown(text), roles=role_choices(codes))
            )
        return code

    return convert


def kind_argument(text: str) -> str:
    """``document get KIND``: a kind of document as ``document list`` shows
    it, by its code or its Chinese name (``考生签到表``), kept as its code; any
    other is refused listing the kinds, each with its name."""
    codes = [kind.value for kind in FETCHABLE_KINDS]
    code = code_typed(text, codes, "document_kinds.")
    if code is None:
        kinds = named_codes(codes, "document_kinds.")
        raise argparse.ArgumentTypeError(
            t("cli.bad_kind", value=shown(text), kinds=kinds)
        )
    return code


def env_value(name: str) -> str | None:
    """A role variable as staff set it: ``Tech_Dept``, `` tech_dept`` and
    ``技术部`` mean ``tech_dept``; an unknown role is kept (as typed, in lower
    case) to be refused. Other variables are taken as they are.

    A variable set to nothing (``export CERTFLOW_SITE=``, how a shell clears
    it) is not set: argparse would read an empty ``--site`` from it and
    refuse every command of every role."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    if name != ROLE_ENV:
        return value
    return role_code(value) or value.strip().lower() or None


def staff_id_as_typed(text: str) -> str:
    """``--person`` (or CERTFLOW_PERSON) as recorded: a staff id typed in full
    width (a Chinese input method) is kept in half width, its case as typed."""
    return unicodedata.normalize("NFKC", text)


def staff_id_argument(text: str) -> str:
    """A staff member named by an option other than ``--person`` (the signers
    of ``--signed-by``): a staff id, as ``--person`` takes one.

    A name or an ID number would be kept in the plan's history for good; it
    is refused, and not repeated.
    """
    staff_id = staff_id_as_typed(text).strip()
    if not is_staff_id(staff_id):
        raise argparse.ArgumentTypeError(t("cli.not_staff_id"))
    return staff_id


def person_refusal(role: str | None, person: str | None) -> str | None:
    """The refusal of ``person`` as the one acting in ``role``, or None.

    ``person`` goes into the audit trail and the plans' history, so it must be
    a staff id (``ZCX-E-0107``): a name or an identity number typed there
    would be kept for good (and is never repeated back). Nor may it be the
    environment's person, set for another role: a shell set up for one role
    (``CERTFLOW_ROLE``, ``CERTFLOW_PERSON``) acting once as another with
    ``--as`` only would record the action under the first role's person, the
    audit trail naming the wrong member of staff.
    """
    if person is not None and not is_staff_id(person):
        return t("cli.person_not_staff_id")
    env_role, env_person = env_value(ROLE_ENV), os.environ.get(PERSON_ENV)
    if (
        not env_role
        or not env_person
        or role == env_role
        or person != staff_id_as_typed(env_person)
    ):
        return None
    return t(
        "cli.person_of_other_role",
        role=t_or(role or "", f"roles.{role}"),
        env_role=t_or(env_role, f"roles.{env_role}"),
        person=env_person,
    )


def actor_of(args: argparse.Namespace) -> Actor:
    """The actor of a staff action, from the flags or their environment variables."""
    return _site_given(_acting_role(args), args)


def _acting_role(args: argparse.Namespace) -> Role:
    """The role acting, once the role and the person are said and agree."""
    if not args.role and not args.person:
        raise CliError(t("cli.actor_missing"))
    if not args.role:
        raise CliError(t("cli.role_missing"))
    if not args.person:
        raise CliError(
            t("cli.person_missing", role=t_or(args.role, f"roles.{args.role}"))
        )
    if args.role not in {r.value for r in Role}:
        # --as is checked by its choices: this came from the environment.
        raise CliError(
            t(
                "cli.bad_env_role",
                value=shown(args.role),
                roles=role_choices(),
            )
        )
    if (refusal := person_refusal(args.role, args.person)) is not None:
        raise CliError(refusal)
    return Role(args.role)


def _site_given(role: Role, args: argparse.Namespace) -> Actor:
    """The actor in ``role``; a site must say which site it is."""
    if role is Role.SITE and not args.site:
        raise CliError(t("cli.site_missing"))
    return Actor(role=role, person=args.person, site_code=args.site or None)


def actor_allowed(
    args: argparse.Namespace, allowed: frozenset[Role], refusal: str
) -> Actor:
    """The actor of a command only some roles may run; others are refused.

    ``refusal`` is the catalogue key of the reason, given the actor's role.
    A role the command is not for is refused as such before a site is asked
    for its code: ``--as site`` without ``--site`` on ``batch gather`` is
    told a site does not gather batches, not to name its site.
    """
    role = _acting_role(args)
    if role not in allowed:
        raise CliError(t(refusal, role=t(f"roles.{role.value}")))
    return _site_given(role, args)


# -- rendering -------------------------------------------------------------------


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Lay out rows under headers in columns, counting CJK characters as two wide."""
    widths = [_width(h) for h in headers]
    for row in rows:
        widths = [max(w, _width(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = ["  ".join(_pad(h, w) for h, w in zip(headers, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append("  ".join(_pad(c, w) for c, w in zip(row, widths, strict=True)))
    return [line.rstrip() for line in lines]


def _fields(pairs: Sequence[tuple[str, str]]) -> list[str]:
    width = max(_width(label) for label, _ in pairs)
    return [f"{_pad(label, width)}  {value}" for label, value in pairs]


def show_result(ctx: Context, result: ActionResult) -> int:
    """Print the plan's answer to an action; return the exit status it means."""
    if result.accepted:
        mark = t("cli.late_mark") if result.late else ""
        ctx.say(f"{mark}{result.message}")
        if result.reference:
            ctx.say(t("cli.reference", reference=result.reference))
        if result.report is not None:
            ctx.say(t("cli.output_file", path=ctx.export(result.report)))
        return 0

    if result.retry:
        ctx.say(result.message)  # a system failure, not a verdict: try again
        return 1
    ctx.say(t("cli.refused", reason=result.message))
    if _only_repeats(result):
        # One problem the refusal already says: a list of it says it again.
        return 2
    if result.problems:
        ctx.say(t("cli.problems", count=result.problem_count or len(result.problems)))
        # A reason recurring down a column is one line naming its rows.
        lines, hidden = problem_lines(
            result.problems, result.problem_count, PROBLEMS_SHOWN
        )
        ctx.say(*(f"  {n}. {line}" for n, line in enumerate(lines, start=1)))
        if hidden > 0:
            ctx.say(t("cli.problems_more", count=hidden))
    if result.report is not None:
        ctx.say(t("cli.report", path=ctx.export(result.report)))
    return 2


def _only_repeats(result: ActionResult) -> bool:
    """Whether the refusal's one problem says nothing its message does not."""
    if len(result.problems) != 1 or result.problem_count > 1 or result.report:
        return False
    said = result.problems[0].render().rstrip("。")
    return bool(said) and said in result.message


def _history_action(entry: HistoryEntry) -> str:
    """One history line's action, with what it was about, decided and why.

    A review read twice (sent back, then approved) must not look the same:
    the outcome and the reason given are part of the line.
    """
    name, _, suffix = entry.action.partition(":")
    if name == "stage":
        return t("cli.status.entered", stage=t(f"stages.{suffix}"))
    # An action this tool has no word for yet is said as one, with its code.
    label = t_or(t("cli.status.other_action", code=name), f"actions.{name}")
    if entry.ref:
        label = f"{label} {entry.ref}"
    if suffix:
        return t("cli.status.refused_action", action=label)
    if entry.outcome:
        label = t("cli.status.decided", action=label, outcome=_outcome(entry.outcome))
    if name in _NOTE_SAYS_WHAT and entry.note.strip():
        return label + t("cli.status.history_details", details=entry.note.strip())
    return label + _reason(entry.note)


# The history lines whose note says what was done (the figures), not why.
_NOTE_SAYS_WHAT = frozenset(
    {
        "settle_payment_difference",
        "confirmed_payment_differs",
        "payment_difference_cleared",
        "no_certificates",
    }
)


def _outcome(code: str) -> str:
    return t_or(code, f"cli.outcomes.{code}")


def _reason(text: str) -> str:
    """``（原因：…）`` after a decision, or nothing where none was given."""
    return t("cli.status.reason", reason=text.strip()) if text.strip() else ""


def deadline_text(instant: datetime) -> str:
    """A deadline instant (the first moment after its day) as its last day."""
    return format_deadline(cst_date(instant - timedelta(seconds=1)))


def _waiting(item: OwedItem) -> str:
    """How long a duty without a deadline has waited, and the nudges its
    owner got; nothing for a duty with one (its deadline says it)."""
    if item.deadline_day is not None or item.waiting_since is None:
        return ""
    since = cst_date(item.waiting_since).isoformat()
    waited = (
        t("cli.status.waiting_since", since=since)
        if item.working_days_waited is None
        else t("cli.status.waiting_days", days=item.working_days_waited, since=since)
    )
    if item.nudges_sent:
        waited += t("cli.status.nudged", count=item.nudges_sent)
    return waited


def _gathering_line(status: PlanStatus) -> str:
    """Who gathers the plan into an approval batch, and when: the weekly
    schedule at its next run, or the tech dept on demand; the general
    manager decides only once a batch holds it."""
    if status.next_gathering is None:
        return t("cli.status.awaits_batch_on_demand")
    return t("cli.status.awaits_batch_scheduled", at=format_cst(status.next_gathering))


def render_status(status: PlanStatus, reader: Role | None = None) -> list[str]:
    """The readable status of a plan, as ``certflow status`` prints it to
    ``reader`` (None: nobody said who asks): the commands it names are those
    ``reader`` may run."""
    overdue = t("cli.status.overdue") if status.overdue else t("cli.status.on_time")
    next_deadline = (
        f"{deadline_text(status.next_deadline)}  {overdue}"
        if status.next_deadline
        else t("cli.status.none")
    )
    pairs = [
        (t("cli.status.plan"), status.plan_id),
        (t("cli.status.site"), status.site_code),
        (t("cli.status.stage"), f"{status.stage_label} ({status.stage.value})"),
        (t("cli.status.next_deadline"), next_deadline),
        *_exam_facts(status),
    ]
    cancelled = status.cancellation
    if cancelled is not None:
        pairs.append(
            (
                t("cli.status.cancelled"),
                t(
                    "cli.status.cancelled_line",
                    who=f"{t(f'roles.{cancelled.role.value}')} {cancelled.person}",
                    at=format_cst(cancelled.at),
                    stage=t(f"stages.{cancelled.stage.value}"),
                    reason=cancelled.reason,
                ),
            )
        )
    if status.stage is Stage.NO_CERTIFICATES:
        # Why a plan ended with nothing issued: nobody passed.
        pairs.append((t("cli.status.no_certificates"), _no_certificates_line(status)))
    lines = _fields(pairs)

    lines += ["", t("cli.status.owed")]
    if status.owed:
        rows = [
            [
                item.label,
                t(f"roles.{item.owner.value}"),
                format_deadline(item.deadline_day)
                if item.deadline_day
                else t("cli.status.no_deadline"),
                t("cli.status.overdue") if item.overdue else _waiting(item),
                f"{item.reminders_sent}/{item.escalations_sent}"
                + _notices_waiting_mark(status, item.notices_waiting),
            ]
            for item in sorted(
                status.owed, key=lambda i: (i.owner.value, i.deadline_day or date.max)
            )
        ]
        headers = ["duty", "owner", "deadline", "state", "reminders"]
        lines += table([t(f"cli.status.{h}") for h in headers], rows)
    else:
        lines.append(t("cli.status.nothing_owed"))
    if status.payment_waits_for_corrections:
        # Nothing of the payment stage is owed: say why, and until when.
        waiting = status.corrections.pending + status.corrections.approved
        lines.append(t("cli.status.payment_waits", count=waiting))
    if status.calendar_missing_years:
        # Nobody owes a step, yet the plan waits: say for what.
        years = "、".join(str(y) for y in status.calendar_missing_years)
        lines.append(t("cli.status.waiting_calendar", years=years))
    window = status.publicity
    if status.stage is Stage.AWAITING_PUBLICITY and window is not None:
        # As for a missing year: the plan waits for its first publicity day.
        lines.append(
            t(
                "cli.status.waiting_publicity",
                start=window.start_day.isoformat(),
                end=window.end_day.isoformat(),
            )
        )
    if status.held_back is not None:
        lines.append(_held_back_line(status.held_back))
    elif status.payment_held is not None:
        # No gathering would take it: nobody owes one until the hold lifts.
        lines.append(_payment_held_line(status.payment_held))
    elif status.stage is Stage.AWAITING_APPROVAL and status.batch_id is None:
        lines.append(_gathering_line(status))
    if status.mails_waiting:
        lines.append(_mails_waiting_line(status))

    lines += ["", *_fields(_status_facts(status, reader))]
    lines += _issuance_problems(status)
    review = status.consistency
    if status.stage is Stage.CONSISTENCY_REVIEW and review and review.mismatches:
        # What the regional contact decides on, without asking for --json.
        lines += ["", t("cli.status.mismatches", count=review.mismatch_count)]
        lines += [f"  {n}. {text}" for n, text in enumerate(review.mismatches, 1)]
        if review.mismatch_count > len(review.mismatches):
            lines.append(
                t(
                    "cli.problems_more",
                    count=review.mismatch_count - len(review.mismatches),
                )
            )
    elif status.stage is Stage.CONSISTENCY_REVIEW and review and review.mismatch_count:
        # Withheld (see ``for_reader``): say who sees them.
        roles = _role_names(readers(DocumentKind.CONSISTENCY_REPORT))
        withheld = t(
            "cli.status.mismatches_withheld", count=review.mismatch_count, roles=roles
        )
        lines += ["", withheld]

    lines += ["", t("cli.status.history")]
    recent = status.history[-HISTORY_SHOWN:]
    rows = [
        [
            format_cst(entry.at),
            " ".join(
                part
                for part in (
                    t(f"roles.{entry.role.value}") if entry.role else "",
                    entry.person or "",
                )
                if part
            ),
            _history_action(entry) + (t("cli.late_mark") if entry.late else ""),
        ]
        for entry in recent
    ]
    lines += table(
        [t("cli.status.at"), t("cli.status.who"), t("cli.status.action")], rows
    )
    return lines


def _exam_facts(status: PlanStatus) -> list[tuple[str, str]]:
    """The exam the plan is for: its certificate and level, module, end
    date, and evaluator team by staff id. None from a worker that did not
    tell them (its status has no exam end date)."""
    if status.exam_end_date is None:
        return []
    certificate = status.certificate
    if status.level is not None:
        certificate = t(
            "cli.status.certificate_level",
            certificate=certificate,
            level=status.level.chinese,
        )
    team = t("cli.status.team_lead", lead=status.lead_evaluator_id)
    if status.evaluator_ids:
        evaluators = "、".join(status.evaluator_ids)
        team += t("cli.status.team_evaluators", evaluators=evaluators)
    return [
        (t("cli.status.certificate"), certificate),
        (t("cli.status.module"), f"{status.module_code} {status.module_name}"),
        (t("cli.status.exam_end_date"), status.exam_end_date.isoformat()),
        (t("cli.status.team"), team),
    ]


def _no_certificates_line(status: PlanStatus) -> str:
    """When the plan ended with no certificate to issue, and its counts."""
    ended = next(
        (h for h in reversed(status.history) if h.action == "no_certificates"), None
    )
    return t(
        "cli.status.no_certificates_line",
        at=format_cst(ended.at) if ended else "—",
        counts=ended.note if ended else "",
    )


def _issuance_problems(status: PlanStatus) -> list[str]:
    """What keeps certificates of the plan from being issued, for the tech
    dept to mend before ``issue-again``: the plan's cause, or those held."""
    lines = []
    cause = status.issuance_blocked
    if cause is not None:
        reason = blocked_text(cause, status.issuance_blocked_rows)
        lines += ["", t("cli.status.issuance_blocked", cause=reason)]
    held = status.certificates_held
    if held:
        lines += ["", t("cli.status.certificates_held", count=len(held))]
        if all(h.admission_number for h in held):
            lines += [f"  {line}" for line in held_lines(held).split("\n")]
        else:
            roles = _role_names([*HELD_TOLD, Role.ADMIN])
            lines.append(t("cli.status.held_withheld", roles=roles))
    return lines


def _status_facts(status: PlanStatus, reader: Role | None) -> list[tuple[str, str]]:
    none = t("cli.status.none")
    if status.publicity is not None:
        window = status.publicity
        publicity = t(
            "cli.status.publicity_window",
            start=window.start_day.isoformat(),
            end=window.end_day.isoformat(),
            cutoff=window.cutoff_day.isoformat(),
            payment=window.payment_deadline_day.isoformat(),
        )
    elif status.calendar_missing_years:
        years = "、".join(str(y) for y in status.calendar_missing_years)
        publicity = t("cli.status.calendar_missing", years=years)
    else:
        publicity = t("cli.status.publicity_pending")

    summary = none
    if status.summary is not None:
        summary = t("cli.status.summary_counts", **status.summary.model_dump())
    consistency = none
    review = status.consistency
    if review is not None and review.review_outcome:
        # The computed verdict asks for a review; once done, say its outcome.
        consistency = t(
            "cli.status.consistency_reviewed",
            count=review.mismatch_count,
            person=review.reviewed_by or "",
            outcome=_outcome(review.review_outcome),
        ) + _reason(review.review_reason)
    elif review is not None:
        consistency = t(
            "cli.status.consistency_line",
            verdict=review.verdict,
            count=review.mismatch_count,
        )
    pay, invoice = _payment_facts(status)
    return [
        (t("cli.status.publicity"), publicity),
        (t("cli.status.summary"), summary),
        (t("cli.status.consistency"), consistency),
        (
            t("cli.status.corrections"),
            t("cli.status.correction_counts", **status.corrections.model_dump())
            + (
                t("cli.status.correction_show", plan_id=status.plan_id)
                if (status.corrections.pending or status.corrections.approved)
                and reader in CORRECTION_READERS
                else ""
            ),
        ),
        (t("cli.status.payment"), pay),
        *_payment_differences(status),
        (t("cli.status.invoice"), invoice),
        *_voided_invoices(status),
        (t("cli.status.batch"), status.batch_id or none),
        (t("cli.status.certificates"), _certificates_text(status)),
    ]


def _certificates_text(status: PlanStatus) -> str:
    """How many certificates were issued, and how many of them are revoked."""
    issued = str(status.certificates_issued)
    if not status.certificates_revoked:
        return issued
    return t(
        "cli.status.certificates_revoked",
        count=issued,
        revoked=status.certificates_revoked,
    )


def _payment_facts(status: PlanStatus) -> tuple[str, str]:
    """The payment and the invoice as the plan has them, dates and sums.

    Figures a send-back reopened are the old ones until replaced, and an
    invoice recorded for a payment finance checks again is void: both are
    said to be so, never shown as current.
    """
    none = t("cli.status.none")
    payment = status.payment
    owed = {o.duty for o in status.owed}
    pay = none
    if payment.declared_amount is not None:
        paid = none
        if payment.paid_on is not None:
            paid = t("cli.status.paid_on", day=payment.paid_on.isoformat())
            if payment.method:
                paid += t("cli.status.paid_by", method=payment.method)
        # What the site declared, and what arrived on the day finance
        # confirmed: the site's figures, a settlement's total shown apart.
        site = payment.site_declared_amount
        declared, heads = payment.declared_amount_text, payment.head_count
        if site is not None:
            declared, heads = f"{site:.2f}", payment.site_head_count
        received = t("cli.status.received_pending")
        if payment.confirmed_amount_text is not None:
            day = payment.received_on.isoformat() if payment.received_on else "—"
            received = t(
                "cli.status.received",
                amount=declared if site is not None else payment.confirmed_amount_text,
                day=day,
            )
            if payment.received_reference:
                received += t(
                    "cli.status.received_reference",
                    reference=payment.received_reference,
                )
        if site is not None:
            received += t(
                "cli.status.payment_settled",
                amount=payment.confirmed_amount_text or "—",
                heads=payment.head_count if payment.head_count is not None else "—",
            )
        pay = t(
            "cli.status.payment_line",
            declared=declared,
            heads=heads if heads is not None else "—",
            paid=paid,
            received=received,
        )
        if Duty.APPLICATION in owed:
            pay += t("cli.status.payment_superseded")
        elif Duty.PAYMENT_CHECK in owed and payment.confirmed_amount is not None:
            pay += t("cli.status.payment_check_again")
    reopened = owed & {Duty.APPLICATION, Duty.PAYMENT_CHECK, Duty.INVOICE}
    void = payment.void_invoice_number
    if payment.invoice_number is not None and reopened:
        void = payment.invoice_number  # set aside by a plan from before it said so
    if void is not None and (payment.invoice_number is None or reopened):
        invoice = t("cli.status.invoice_void", number=void)
    elif payment.invoice_number is not None:
        invoice = payment.invoice_number
        if payment.invoice_issued_on is not None:
            invoice = t(
                "cli.status.invoice_line",
                number=payment.invoice_number,
                day=payment.invoice_issued_on.isoformat(),
                amount=payment.invoice_amount_text or "—",
            )
        if is_joint(payment) and payment.invoice_amount_text not in (
            None,
            payment.confirmed_amount_text,
        ):
            # A joint payment's invoice for its total: this plan's part beside.
            invoice += t(
                "cli.status.invoice_joint",
                plans="、".join(sorted(set(payment.paid_plan_ids))),
                share=payment.confirmed_amount_text or "—",
            )
    elif Duty.INVOICE in owed:
        invoice = t("cli.status.invoice_pending")
    else:
        invoice = none
    return pay, invoice


def _payment_differences(status: PlanStatus) -> list[tuple[str, str]]:
    """The difference a late correction made to the confirmed payment, while
    finance owes its settlement, and each settled one: money records stay in
    view once the payment reads the new total."""
    from certflow.payment_difference import difference_text, settlement_text

    payment = status.payment
    pairs = [
        (t("payment_difference.settled_label"), settlement_text(settled))
        for settled in payment.settlements
    ]
    if payment.difference is not None:
        # A cancelled plan's difference is never settled: its refund is.
        key = "open_cancelled" if status.stage is Stage.CANCELLED else "open"
        text = t(
            f"payment_difference.{key}",
            difference=difference_text(payment.difference),
        )
        pairs.append((t("payment_difference.label"), text))
    return pairs


def _voided_invoices(status: PlanStatus) -> list[tuple[str, str]]:
    """Each invoice the plan set aside, with when, by whom and why: money
    records stay in view after finance records the next invoice (the last
    ``VOIDED_KEPT``; those before are counted, and in the audit trail)."""
    pairs = []
    for voided in status.payment.voided_invoices:
        if voided.replaced_by:
            cause = t("cli.status.invoice_voided_reissued", number=voided.replaced_by)
        elif voided.batch_id:
            cause = t("cli.status.invoice_voided_in_batch", batch_id=voided.batch_id)
        else:
            cause = t("cli.status.invoice_voided_recheck")
        line = t(
            "cli.status.invoice_voided_line",
            number=voided.number,
            day=voided.issued_on.isoformat() if voided.issued_on else "—",
            amount=voided.amount_text or "—",
            at=format_cst(voided.voided_at),
            who=f"{t(f'roles.{voided.role.value}')} {voided.person}",
            cause=cause,
            reason=voided.reason or "—",
        )
        pairs.append((t("cli.status.invoice_voided"), line))
    if status.payment.voided_earlier:
        earlier = t(
            "cli.status.invoice_voided_earlier",
            count=status.payment.voided_earlier,
            plan_id=status.plan_id,
        )
        pairs.append((t("cli.status.invoice_voided"), earlier))
    return pairs


# -- actions on one plan: one table row per workflow update ----------------------


# An amount as written on a bank slip or an invoice: digits, in groups of three
# with commas or not, and decimals; a sign only so the request can say a
# negative amount must be above 0. Read after NFKC, so full-width digits,
# commas and points are the ASCII ones, and ￥ is ¥.
_AMOUNT_TEXT = re.compile(r"[+-]?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?")
# What Decimal would read as a number but nobody writes as an amount:
# an exponent (42e2) or no number at all (inf, nan).
_NOT_WRITTEN_OUT = re.compile(r"[0-9.]e|inf|nan", re.IGNORECASE)


def amount_argument(text: str) -> Decimal:
    """Read an amount of money as staff type it: the one reader of ``--amount``.

    ``4200``, ``4200.00``, ``4,200.00`` (groups of three, a full-width comma
    too), ``¥4200`` or ``￥4200`` and ``4200元`` are the same amount. An
    exponent (``42e2``), ``inf`` and ``nan`` are refused, saying to write the
    digits out, and so is a comma anywhere but between groups of three
    (``42,00``), which says nothing sure about the amount.
    """
    read = unicodedata.normalize("NFKC", text).strip()
    read = read.removeprefix("¥").strip().removesuffix("元").strip()
    if _AMOUNT_TEXT.fullmatch(read) is None:
        exponent = _NOT_WRITTEN_OUT.search(read) is not None
        key = "cli.amount_not_written_out" if exponent else "cli.bad_amount"
        raise argparse.ArgumentTypeError(t(key, value=shown(text)))
    return Decimal(read.replace(",", ""))


def _day(text: str) -> date:
    """A date as staff type it: 2026-11-04, 2026/11/4, 2026.11.04 or 2026年11月4日.

    Written as a date but no day of the calendar, it is said what is wrong:
    a month that does not exist (2026-13-01), or a day its month has not
    (2026-02-30).
    """
    day = date_from_text(text)
    if day is not None:
        return day
    parts = date_parts(text)
    if parts is None or parts[0] == 0:  # no year 0: no date at all
        raise argparse.ArgumentTypeError(t("cli.bad_date", value=shown(text)))
    year, month, day_of_month = parts
    if not 1 <= month <= 12:
        raise argparse.ArgumentTypeError(
            t("cli.no_such_month", value=shown(text), month=month)
        )
    raise argparse.ArgumentTypeError(
        t(
            "cli.no_such_day",
            value=shown(text),
            year=year,
            month=month,
            day=day_of_month,
        )
    )


def code_argument(text: str) -> str:
    """A plan, site or batch code as issued, however staff typed it."""
    return _issued_code(text, _CODE, longest=_CODE_LONGEST)


def record_action(text: str) -> str:
    """An action of ``plan history --action``: its code or its name as the
    record says it (``void_invoice`` or 作废发票)."""
    typed = unicodedata.normalize("NFKC", text).strip()
    for key, name in catalogue().items():
        code = key.removeprefix("actions.")
        if code != key and (typed.lower() == code or typed == name):
            return code
    raise argparse.ArgumentTypeError(t("cli.plan_record.unknown_action", action=typed))


def certificate_number_argument(text: str) -> str:
    """A certificate number as issued: upper case, ASCII, no spaces (the web
    pages read typed numbers alike); an empty one is said to be empty, not
    looked for."""
    number = compact_code(text)
    if not number:
        raise argparse.ArgumentTypeError(t("cli.certificate_number_blank"))
    return number


def _request_id(text: str) -> str:
    """A correction request's id as issued: ``p2026-1104-0412-c001`` or full
    width names ``P2026-1104-0412-C001`` (the plan matches ids so too)."""
    return _issued_code(text, _REQUEST_ID_SHAPE, longest=_REQUEST_ID_LONGEST)


def _issued_code(text: str, shape: re.Pattern[str], *, longest: int) -> str:
    """``text`` as issued (upper case, half width, trimmed), of ``shape``.

    An ID number typed in a code's place is refused without being repeated:
    a code names a workflow and is kept in its history, its search attributes
    and its mails.
    """
    code = canonical_code(text)
    if not code:
        raise argparse.ArgumentTypeError(t("cli.code_blank"))
    if is_or_holds_id_number(text):
        raise argparse.ArgumentTypeError(t("cli.code_is_id_number"))
    if not shape.match(code):
        if _CODE_CHARACTERS.fullmatch(code):
            # Of the right characters: what is wrong is its length.
            raise argparse.ArgumentTypeError(
                t("cli.code_too_long", limit=longest, length=len(code))
            )
        raise argparse.ArgumentTypeError(t("cli.bad_code", value=shown(text)))
    return code


def _batch_code(text: str) -> str:
    """A batch id as issued: a code like ``B20261204-153012``, or the id of a
    batch the schedule gathered under the old form, as that batch keeps it."""
    old = _SCHEDULED_BATCH.fullmatch(canonical_code(text))
    if old is not None:
        return f"scheduled-{old['day']}T{old['time']}Z"
    return code_argument(text)


def admission_argument(text: str) -> str:
    """An admission number as intake keeps it: NFKC, trimmed, of its one shape.

    An ID number typed in its place (both are long runs of digits) is refused
    without being repeated, before it reaches the plan's history. Intake
    refuses the same values (``could_be_id_number``), so no accepted
    candidate's admission number is refused here.
    """
    if could_be_id_number(text):
        raise argparse.ArgumentTypeError(t("cli.admission_is_id_number"))
    admission = unicodedata.normalize("NFKC", text).strip()
    if not admission:
        raise argparse.ArgumentTypeError(t("cli.admission_blank"))
    if not is_admission_number(admission):
        raise argparse.ArgumentTypeError(
            t("cli.bad_admission", value=shown(text), limit=ADMISSION_NUMBER_MAX_LENGTH)
        )
    return admission


def _positional_code(
    parser: argparse.ArgumentParser, name: str, helps: Callable[[str], str]
) -> None:
    """A plan or batch code typed after the command: ``PLAN_ID``, ``BATCH_ID``."""
    parser.add_argument(
        name, type=code_argument, metavar=name.upper(), help=helps(name)
    )


def _batch_argument(
    parser: argparse.ArgumentParser, helps: Callable[[str], str]
) -> None:
    """The batch typed after a batch command: ``BATCH_ID``, old forms too."""
    parser.add_argument(
        "batch_id", type=_batch_code, metavar="BATCH_ID", help=helps("batch_id")
    )


def bounded(text: str, bound: TextBound, name: str, key: object = None) -> str:
    """``text`` when ``bound`` takes it (``certflow.free_text``: its length,
    no hidden character); refused otherwise naming the field (``name``, for
    ``key``: the plan a reason is given for), its limit and the length given.

    The bound the plan's validator checks: a text it would refuse is refused
    here, before anything is stored or sent. Each line break is sent as a
    line feed (a CR LF or a CR typed or pasted from Windows), so what plans
    store is written one way.
    """
    problem = bound.problem(text, field_label(name, key))
    if problem is not None:
        raise argparse.ArgumentTypeError(problem)
    return line_feeds(text)


def free_text_argument(
    text: str,
    *,
    refusal: str = "cli.text_holds_id_number",
    bound: TextBound = REASON,
    name: str = "reason",
    key: object = None,
) -> str:
    """Free text staff type (a reason, a requester, a comment), trimmed.

    Every such text is kept in the plan's history and the database, and
    mailed on: one holding an ID number is refused (``refusal``, the message
    key) without being repeated, first (its digits may be split by a hidden
    character), then one longer than its ``bound`` or holding a hidden
    character (``bounded``). Candidates are named by admission number.
    """
    if holds_id_number(text):
        raise argparse.ArgumentTypeError(t(refusal))
    return bounded(text.strip(), bound, name, key)


def _said(text: str, **checks: Any) -> str:
    """A reason that says something: ``free_text_argument``, never blank.

    A blank reason would pass where one is optional and be stored as "no
    reason"; given at all, it is refused here, before anything is sent.
    """
    reason = free_text_argument(text, **checks)
    if not reason:
        key = checks.get("key")
        if key is not None:
            # One of several (a --reject per plan): which one is blank.
            field = field_label(checks.get("name", "reason"), key)
            raise argparse.ArgumentTypeError(t("cli.reason_blank_for", field=field))
        raise argparse.ArgumentTypeError(t("cli.reason_blank"))
    return reason


def reason_argument(text: str) -> str:
    """``--reason``: kept on record and read by others, so it must say
    something, in at most 500 characters (``_said``)."""
    return _said(text)


def request_reason_argument(text: str) -> str:
    """``--reason`` of a correction request: the requester's reason, up to
    2,000 characters as a mailed form's (``_said``)."""
    return _said(text, bound=REQUEST_REASON)


def public_reason_argument(text: str) -> str:
    """``revoke --reason``: published with the status list and on the
    verification page; an ID number in it is refused saying so."""
    return _said(
        text, refusal="revocation.reason_holds_id_number", name="revocation_reason"
    )


def rejection_reason(text: str, plan_id: str) -> str:
    """The reason of a ``--reject PLAN=REASON``, named with its plan."""
    return _said(text, name="reject", key=plan_id)


def comment_argument(text: str) -> str:
    """``--comment``: optional, and kept like a reason (``free_text_argument``)."""
    return free_text_argument(text, name="comment")


def requester_argument(text: str) -> str:
    """``--requester``: who asked, as the request will name them; never blank,
    never an ID number, one line of at most 100 characters."""
    requester = free_text_argument(text, bound=NAME, name="requester")
    if not requester:
        raise argparse.ArgumentTypeError(t("cli.requester_blank"))
    return requester


def _payment_text(text: str, name: str) -> str:
    """A free-text payment detail (缴费方式, 凭证号): given at all, something,
    and a bank's serial number or a few words on one line, never a pasted
    page; never an ID number (``free_text_argument``)."""
    value = free_text_argument(text, bound=DETAIL, name=name)
    if not value:
        raise argparse.ArgumentTypeError(t("cli.payment_text_blank"))
    return value


def method_argument(text: str) -> str:
    """``--method`` (缴费方式): see ``_payment_text``."""
    return _payment_text(text, "method")


def payment_reference_argument(text: str) -> str:
    """``--reference`` (凭证号): see ``_payment_text``."""
    return _payment_text(text, "reference")


def invoice_number_argument(text: str) -> str:
    """``--number``: a 发票号码 as issued, 8 to 20 digits, however typed.

    Full-width digits and spaces between groups are read as the digits they
    are (as other codes are); a blank or anything else is refused.
    """
    refusal = invoice_number_id_refusal(text) or invoice_number_refusal(text)
    if refusal is not None:
        raise argparse.ArgumentTypeError(refusal.message)
    number = invoice_number(text)
    assert number is not None  # what the refusal refuses
    return number


def check_payment_flags(args: argparse.Namespace) -> None:
    """``payment``: a confirmation gives the received day; a settlement of a
    difference gives the day a supplement was received or a refund paid, one
    of the two, and corrects nothing."""
    if not args.field_settle_difference:
        if args.field_refunded_on is not None:
            raise CliError(t("cli.refunded_needs_settle"))
        if args.field_received_on is None:
            raise CliError(t("cli.received_on_required"))
        check_finance_correction(args)
        return
    if args.field_correct or args.field_reason is not None:
        raise CliError(t("cli.settle_not_correct"))
    if (args.field_received_on is None) == (args.field_refunded_on is None):
        raise CliError(t("cli.settle_needs_one_day"))


def check_finance_correction(args: argparse.Namespace) -> None:
    """``--correct`` and ``--reason`` go together: a correction says why, and a
    first record has no reason to give."""
    if args.field_correct and args.field_reason is None:
        raise CliError(t("cli.correct_needs_reason"))
    if not args.field_correct and args.field_reason is not None:
        raise CliError(t("cli.reason_needs_correct"))


def check_invoice_flags(args: argparse.Namespace) -> None:
    """``invoice``: a correction says why; ``--typo`` says what a correction
    mends (a record typed wrong, not an invoice reissued), so it goes with
    ``--correct`` alone."""
    check_finance_correction(args)
    if args.field_typo and not args.field_correct:
        raise CliError(t("cli.typo_needs_correct"))


def _whole_number(text: str, *, digits: int) -> int | None:
    """``text`` as a whole number of at most ``digits`` digits, read as every
    number typed is (``int``): full-width digits (``９９``) too, but not "²",
    which ``str.isdigit`` takes and ``int`` refuses. None for anything else."""
    typed = text.strip()
    return int(typed) if re.fullmatch(rf"\d{{1,{digits}}}", typed) else None


def version_argument(text: str) -> int:
    """``--version``: a version number as ``document list`` shows it, 1 up."""
    number = _whole_number(text, digits=9)
    if number is None or number < 1:
        raise argparse.ArgumentTypeError(t("cli.bad_version", value=shown(text)))
    return number


def mail_address_argument(text: str) -> str:
    """``--email``: where the requester is answered; the shape of an address."""
    address = text.strip()
    if not is_mail_address(address):
        raise argparse.ArgumentTypeError(t("cli.bad_email", value=shown(text)))
    return address


def existing_file(path: Path, *, folder: str = "cli.file_is_folder") -> Path:
    """``path``, when it names a regular file; anything else is refused in words.

    "Not found" would send staff looking for a file that is there: a folder
    given where a file belongs is said to be a folder (``folder`` is the
    message), and a device or a pipe (``/dev/null``, a FIFO) not a file.
    """
    if path.is_dir():
        raise CliError(t(folder, path=path))
    if not path.exists():
        raise CliError(t("cli.file_missing", path=path))
    if not path.is_file():
        raise CliError(t("cli.file_not_regular", path=path))
    return path


def read_file(path: Path, *, folder: str = "cli.file_is_folder") -> bytes:
    """The bytes of a file staff named, refused as :func:`existing_file` says.

    A file that is there but cannot be read (its permissions) is refused too,
    never with a traceback.
    """
    existing_file(path, folder=folder)
    try:
        return path.read_bytes()
    except OSError:
        raise CliError(t("cli.file_unreadable", path=path)) from None


def upload_bytes(path: Path, arg: Arg) -> bytes:
    """The bytes of a file to upload, checked before anything is stored or sent.

    An empty file (or one of blank lines only) is refused as empty: saved
    before it was filled in, or the wrong file chosen; a scan's refusal asks
    for a new scan (``Arg.empty``). A scan the plan never reads
    (``Arg.scan``) is checked here as intake checks a scan: too large, or no
    PDF, JPEG or PNG that opens, it is refused.
    """
    data = read_file(path)
    if is_blank(data):
        raise CliError(t(arg.empty, path=path))
    if arg.scan:
        problems = scan_problems(data)
        if problems:
            reason = problems[0].message
            raise CliError(t("cli.scan_refused", flag=arg.flag, reason=reason))
    return data


@dataclass(frozen=True)
class GivenFile:
    """A checked file given for an action: its bytes, its reference once
    stored, and the kind of document the plan records it as."""

    path: Path
    data: bytes
    kind: DocumentKind
    ref: DocumentRef


@dataclass(frozen=True)
class PutFile:
    """A file this run put in the document store; ``written`` False where
    the store held those bytes already (another record may name them)."""

    kind: DocumentKind
    ref: DocumentRef
    written: bool


def _given_file(path: Path, data: bytes, arg: Arg) -> GivenFile:
    """A checked upload and the reference the store will give it.

    A scan's media type is the one its bytes show.
    """
    media_type = scan_media_type(data) if arg.scan else guess_media_type(path.name)
    assert media_type is not None  # a scan without problems is one of the three
    assert arg.kind is not None  # every document argument names its kind
    ref = DocumentStore.reference(data, filename=path.name, media_type=media_type)
    return GivenFile(path=path, data=data, kind=arg.kind, ref=ref)


async def _stored(ctx: Context, given: Sequence[GivenFile]) -> list[PutFile]:
    """Put an action's checked uploads in the document store.

    A store that cannot take one (a folder or a device where the file belongs,
    no permission) is said with the path, as a system fault (status 1), and
    nothing is sent: the files of the action put before it are taken out
    again where no record names them.
    """
    put: list[PutFile] = []
    for file in given:
        try:
            ref, written = ctx.store.put_new(
                file.data, filename=file.path.name, media_type=file.ref.media_type
            )
        except OSError as err:
            await _take_back(ctx, put)
            where = err.filename or ctx.settings.documents_dir
            reason = t("cli.store_unwritable", path=where, file=file.path)
            raise CliError(reason, status=1) from None
        put.append(PutFile(kind=file.kind, ref=ref, written=written))
    return put


async def _take_back(ctx: Context, put: Sequence[PutFile]) -> None:
    """Remove the files this run wrote to the store for an action nobody
    took up (refused unread, or never sent), where no record names them.

    A file the store held before stays. So does one a record names or is
    being written for, checked in the database under the file's lock (see
    ``discard_unnamed``): the same bytes uploaded by another run at the same
    moment and taken, or a damaged file of the store this run mended. Where
    the database does not answer, the files stay, named on the error stream:
    a file nothing names harms nothing.
    """
    written = [file for file in put if file.written]
    if not written:
        return
    import asyncpg

    from activities.document_records import discard_unnamed

    try:
        pool = await ctx.pool()
        for file in written:
            await discard_unnamed(pool, ctx.store, file.ref)
    except (OSError, asyncpg.PostgresError, ConnectionProblem):
        paths = "、".join(str(ctx.store.path_of(file.ref)) for file in written)
        print(t("cli.upload_left_in_store", paths=paths), file=sys.stderr)


@dataclass(frozen=True)
class Arg:
    """One command-line argument of an action and the request field it fills.

    ``target`` names the field of the request model; a ``document`` argument is
    a file put into the document store first, and the field gets its reference.
    ``target=None`` marks a flag sent nowhere (the "reject" of approve/reject).
    """

    flag: str
    target: str | None
    options: dict[str, Any] = field(default_factory=dict)
    document: bool = False
    # A document that is a scan of a signed paper (see ``upload_bytes``).
    scan: bool = False
    # How a document that is empty is refused: a scan is scanned again.
    empty: str = "cli.file_empty"
    # The kind the plan records a document as.
    kind: DocumentKind | None = None

    @property
    def dest(self) -> str:
        """The argparse name; prefixed so no field clashes with the plan id."""
        return f"field_{self.target}" if self.target else self.flag.strip("-")

    @property
    def name(self) -> str:
        """The argument's name in the help catalogue: ``--paid-on`` is ``paid_on``."""
        return self.flag.lstrip("-").replace("-", "_")

    def add_to(self, parser: Any, help: str) -> None:
        """Add the argument to a parser (or a mutually exclusive group)."""
        options = {**self.options, "help": help}
        if self.flag.startswith("-"):
            if not {"action", "choices", "metavar"} & options.keys():
                options["metavar"] = self.name.upper()
            parser.add_argument(self.flag, dest=self.dest, **options)
        else:
            parser.add_argument(self.dest, metavar=self.flag.upper(), **options)


@dataclass(frozen=True)
class PlanAction:
    """One staff action on a plan: its subcommand, its update, its request model.

    ``arguments`` fill the fields of ``model``; ``exclusive`` is a required
    choice between flags (approve or send back, approve or reject).
    """

    command: tuple[str, ...]
    update: str
    model: type[BaseModel]
    arguments: tuple[Arg, ...] = ()
    exclusive: tuple[Arg, ...] = ()
    # What one flag's type cannot see: values read by another flag's value.
    check: Callable[[argparse.Namespace], None] | None = None
    # What only the stack can tell, asked before anything is stored or sent.
    verify: Callable[[Context, argparse.Namespace], Awaitable[None]] | None = None
    # Another update with its own model, taken when a flag (by its argparse
    # name) is given: ``payment --settle-difference``.
    variant: tuple[str, str, type[BaseModel]] | None = None

    def chosen(self, args: argparse.Namespace) -> tuple[str, type[BaseModel]]:
        """The update and request model the parsed arguments ask for."""
        if self.variant is not None and getattr(args, self.variant[0], False):
            return self.variant[1], self.variant[2]
        return self.update, self.model

    def add_arguments(
        self, parser: argparse.ArgumentParser, helps: Callable[[str], str]
    ) -> None:
        """Add the plan id and the action's own arguments to its parser.

        ``helps`` gives the help of an argument by its name (``Arg.name``).
        """
        _positional_code(parser, "plan_id", helps)
        for arg in self.arguments:
            arg.add_to(parser, helps(arg.name))
        if self.exclusive:
            group = parser.add_mutually_exclusive_group(required=True)
            for arg in self.exclusive:
                arg.add_to(group, helps(arg.name))

    def request(
        self,
        args: argparse.Namespace,
        actor: Actor,
        given: list[GivenFile] | None = None,
    ) -> Any:
        """Build the update's request from the parsed arguments.

        Every file given is read and checked, and none is stored: the request
        holds the references they will have, and each file is added to
        ``given`` for the caller to store once nothing else refuses the
        action (a file refused, the application's form after its scan, or a
        flag the model refuses). Every file refused is said at once (an empty
        scan and an empty form), in the order of the arguments.
        """
        arguments = (*self.arguments, *self.exclusive)
        files: dict[str, bytes] = {}
        refusals: list[str] = []
        for arg in arguments:
            if not arg.document or (path := getattr(args, arg.dest)) is None:
                continue
            try:
                files[arg.dest] = upload_bytes(path, arg)
            except CliError as err:
                refusals.append(err.message)
        if refusals:
            raise CliError("\n".join(refusals))
        values: dict[str, Any] = {"actor": actor}
        for arg in arguments:
            if arg.target is None:
                continue
            value = getattr(args, arg.dest)
            if value is None and arg.options.get("type") in _OPTIONAL_TEXT:
                continue  # an optional text not given: the model's default
            if arg.dest in files:
                assert given is not None  # an action with files stores them
                file = _given_file(value, files[arg.dest], arg)
                given.append(file)
                value = file.ref
            values[arg.target] = value
        return self.chosen(args)[1].model_validate(values)


# Flags whose checked text defaults to None rather than "": argparse would run
# a "" default through the check, and refuse a flag nobody gave.
_OPTIONAL_TEXT = (
    reason_argument,
    requester_argument,
    mail_address_argument,
    method_argument,
    payment_reference_argument,
)


def _flag(flag: str, target: str | None, **options: Any) -> Arg:
    return Arg(flag, target, options)


def _document(
    flag: str,
    target: str,
    kind: DocumentKind,
    empty: str = "cli.file_empty",
    **options: Any,
) -> Arg:
    options = {"type": Path, **options}
    return Arg(flag, target, options, document=True, empty=empty, kind=kind)


def _scan(flag: str, target: str, kind: DocumentKind, **options: Any) -> Arg:
    options = {"type": Path, **options}
    return Arg(
        flag, target, options, document=True, scan=True, empty=SCAN_EMPTY, kind=kind
    )


# An empty scan is refused in the scan's words: scan the paper again.
SCAN_EMPTY = "cli.scan_empty"


_REQUEST_ID = _flag("request_id", "request_id", type=_request_id)
# The last part of a request's number (C001), as its plan numbers them.
_SHORT_REQUEST_ID = re.compile(r"C\d+")


async def full_request_id(ctx: Context, args: argparse.Namespace) -> None:
    """``C001`` names the plan's request ``P…-C001``, as ``correction show``
    takes it: the plan numbers its requests so, and the plan is given."""
    if _SHORT_REQUEST_ID.fullmatch(args.field_request_id):
        args.field_request_id = f"{args.plan_id}-{args.field_request_id}"


# Optional reasons default to None (argparse would run a "" default through
# ``reason_argument``); ``PlanAction.request`` then uses the model's default.
_REASON = _flag("--reason", "reason", type=reason_argument, default=None)
_AMOUNT = _flag("--amount", "amount", type=amount_argument, required=True)
# Finance corrects its own record: ``--correct --reason "…"``.
_CORRECTION = (
    _flag("--correct", "correct", action="store_true"),
    _REASON,
)


def _payment_flag(flag: str, target: str, check: Callable[[str], str]) -> Arg:
    return _flag(flag, target, type=check, default=None)


_UPLOADS = {
    "summary": ("upload_score_summary", DocumentKind.SCORE_SUMMARY),
    "scan": ("upload_signed_scan", DocumentKind.SIGNED_SUMMARY_SCAN),
    "candidates": ("upload_candidate_sign_in", DocumentKind.CANDIDATE_SIGN_IN),
    "evaluators": ("upload_evaluator_sign_in", DocumentKind.EVALUATOR_SIGN_IN),
}
# The uploads that are scans of a signed paper, read by intake.
_SCANNED_UPLOADS = frozenset({"scan"})
# The score fields a correction may change.
SCORE_FIELDS = ("theory", "practical", "total", "status")


def check_correction_values(args: argparse.Namespace) -> None:
    """``--published`` and ``--requested`` read as the plan will read them."""
    problems = correction_value_problems(
        args.field_field, args.field_published_score, args.field_requested_score
    )
    if problems:
        raise CliError("\n".join(problems))


def correction_value_problems(field: str, published: str, requested: str) -> list[str]:
    """What is wrong with a correction's ``--published`` and ``--requested``.

    A score by intake's rule for text (``parse_score``), a status by its word
    (正常, 缺考, 违纪), so a value the plan would refuse is refused here naming
    its flag. An empty ``--published`` is a score nobody quoted.
    """
    status = field == "status"
    problems = []
    for flag, text in (("--published", published), ("--requested", requested)):
        if flag == "--published" and not text.strip():
            continue
        if status and text.strip() not in STATUS_BY_NAME:
            words = "、".join(STATUS_BY_NAME)
            problems.append(
                t("cli.bad_status_value", flag=flag, value=shown(text), words=words)
            )
        elif not status and parse_score(text) is None:
            meant = decimal_mark_slip(text)
            key = "cli.bad_score_mark" if meant else "cli.bad_score_value"
            problems.append(t(key, flag=flag, value=shown(text), meant=meant))
    if not problems and _same_value(status, published, requested):
        problems.append(
            t(
                "cli.requested_is_published",
                requested=requested.strip(),
                published=published.strip(),
                field=t(f"corrections.reply.field_{field}"),
            )
        )
    return problems


def _same_value(status: bool, published: str, requested: str) -> bool:
    """Whether ``--published`` (given) and ``--requested`` are one value, as
    the plan compares them: 53.1 and 53.10 are one score, a status one word."""
    if not published.strip():
        return False
    if status:
        return STATUS_BY_NAME[published.strip()] is STATUS_BY_NAME[requested.strip()]
    return parse_score(published) == parse_score(requested)


async def check_paid_plans(ctx: Context, args: argparse.Namespace) -> None:
    """``--paid-plan``: each plan once, this plan among them, and each other
    plan one of the same site.

    A plan named twice (``P…`` and ``p…`` are one plan) is kept once. The plan
    cannot look up other plans, so the tool asks each other plan named for its
    status: one that does not exist, belongs to another site or left its
    payment (cancelled, or ended with no certificate: ``LEFT_PAYMENT``) is
    refused, all of them in one answer, with the plan's own refusal of a
    list that leaves it out (trial: that came only once the others were
    mended, a second refusal of one list).
    """
    paid: list[str] = list(dict.fromkeys(args.field_paid_plan_ids))
    args.field_paid_plan_ids = paid
    site = actor_of(args).site_code
    own = paid_plans_refusal(paid, args.plan_id)
    problems = [own.message] if own is not None else []
    for plan_id in paid:
        if plan_id == args.plan_id:
            continue  # the plan checks itself
        status = await _status_if_any(ctx, plan_id)
        if status is None:
            problems.append(t("cli.paid_plan_unknown", plan_id=plan_id))
        elif status.site_code != site:
            problems.append(t("cli.paid_plan_other_site", plan_id=plan_id))
        elif status.stage.value in LEFT_PAYMENT:
            problems.append(t("cli.paid_plan_cancelled", plan_id=plan_id))
    if problems:
        # A refusal, like the plan's own: 未受理 first, then each plan's
        # reason, and the form's problems the plan would have found.
        form = await asyncio.to_thread(application_form_problems, args)
        if form:
            raise CliError(refused_with_form(problems, form))
        raise CliError(t("cli.refused", reason="\n".join(problems)))


async def check_joint_share(ctx: Context, args: argparse.Namespace) -> None:
    """``payment --amount``: a joint payment's bank total is no plan's amount.

    Each plan of a joint payment (合并缴费) declares, and finance confirms,
    the plan's own share. Finance reading the bank's one total off the slip
    and typing it on one plan was told by the plan to have the site correct
    its application, which was right. The plan cannot see the other plans'
    shares, so the tool asks each of them: an amount that is their total is
    refused here, naming this plan's share. Any other amount goes to the plan.
    A settlement's amount (``--settle-difference``) is the plan's own payment
    difference, checked by the plan alone, whatever the shares add up to.
    """
    if _acting_role(args) is not Role.FINANCE:
        return  # refused before (``refuse_role_not_served``)
    if args.field_settle_difference:
        return
    status = await _status_if_any(ctx, args.plan_id)
    if status is None:
        return
    payment = status.payment
    if not is_joint(payment) or payment.declared_amount is None:
        return
    cent = Decimal("0.01")
    received = args.field_received_amount.quantize(cent)
    share = Decimal(str(payment.declared_amount)).quantize(cent)
    if received == share:
        return
    total = share
    for plan_id in sorted(set(payment.paid_plan_ids) - {status.plan_id}):
        other = await _status_if_any(ctx, plan_id)
        declared = None if other is None else other.payment.declared_amount
        if declared is None:
            return  # a share not known: the plan answers as it does
        total += Decimal(str(declared)).quantize(cent)
    if received != total:
        return
    reason = t(
        "cli.payment_joint_total",
        received=f"{received:.2f}",
        plans="、".join(sorted(set(payment.paid_plan_ids))),
        plan_id=status.plan_id,
        share=f"{share:.2f}",
    )
    raise CliError(t("cli.refused", reason=reason))


async def _status_if_any(ctx: Context, plan_id: str) -> PlanStatus | None:
    """A plan's status; None for a plan that does not exist (anymore)."""
    try:
        return await plan_status(ctx, plan_id)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return None


PLAN_ACTIONS: list[PlanAction] = [
    *(
        PlanAction(
            ("upload", name),
            update,
            UploadRequest,
            (
                _document(
                    "file",
                    "document",
                    kind,
                    SCAN_EMPTY if name in _SCANNED_UPLOADS else "cli.file_empty",
                ),
                _flag(
                    "--signed-by",
                    "signed_evaluator_ids",
                    type=staff_id_argument,
                    nargs="+",
                    default=[],
                    metavar="STAFF_ID",
                ),
            ),
        )
        for name, (update, kind) in _UPLOADS.items()
    ),
    PlanAction(
        ("confirm-summary",),
        "confirm_score_summary",
        ConfirmSummaryRequest,
        (
            _flag("--version", "summary_version", type=version_argument),
            _flag("--comment", "comment", type=comment_argument, default=""),
        ),
    ),
    PlanAction(
        ("review",),
        "review_consistency",
        ReviewRequest,
        (
            _flag(
                "--reason",
                "reason",
                type=reason_argument,
                default=None,
            ),
            _flag(
                "--item",
                "items",
                nargs="+",
                default=[],
                choices=[d.value for d in SUBMISSION_DUTIES],
                metavar="DUTY",
            ),
        ),
        exclusive=(
            _flag("--approve", "approve", action="store_true"),
            _flag(
                "--send-back",
                "send_back_to",
                nargs="+",
                default=[],
                choices=[Role.LEAD_EVALUATOR.value, Role.SITE.value],
                metavar="PARTY",
            ),
        ),
    ),
    PlanAction(
        ("confirm-upload",),
        "confirm_score_upload",
        SimpleAction,
    ),
    PlanAction(
        ("correction", "submit"),
        "submit_correction",
        CorrectionSubmission,
        (
            _flag(
                "--admission",
                "admission_number",
                type=admission_argument,
                required=True,
            ),
            _flag(
                "--field",
                "field",
                required=True,
                choices=SCORE_FIELDS,
            ),
            _flag("--published", "published_score", default=""),
            _flag("--requested", "requested_score", required=True),
            _flag("--reason", "reason", type=request_reason_argument, required=True),
            _flag("--requester", "requester", type=requester_argument, default=None),
            _flag(
                "--email", "requester_email", type=mail_address_argument, default=None
            ),
        ),
        check=check_correction_values,
    ),
    PlanAction(
        ("correction", "decide"),
        "decide_correction",
        CorrectionDecision,
        (_REQUEST_ID, _REASON),
        exclusive=(
            _flag("--approve", "approve", action="store_true"),
            _flag("--reject", None, action="store_true"),
        ),
        verify=full_request_id,
    ),
    PlanAction(
        ("correction", "apply"),
        "apply_correction",
        CorrectionApply,
        (_REQUEST_ID,),
        verify=full_request_id,
    ),
    PlanAction(
        ("application",),
        "upload_application",
        ApplicationUpload,
        (
            _scan(
                "--scan",
                "application_scan",
                DocumentKind.CERTIFICATE_APPLICATION,
                required=True,
            ),
            _document(
                "--invoice-form", "invoice_details", DocumentKind.INVOICE_DETAILS
            ),
            _flag(
                "--paid-plan",
                "paid_plan_ids",
                type=code_argument,
                nargs="+",
                required=True,
                metavar="PLAN_ID",
            ),
            _flag("--head-count", "head_count", type=int, required=True),
            _flag("--absentees-paid", "absentees_paid", type=int, default=0),
            _AMOUNT,
            _flag("--paid-on", "paid_on", type=_day, required=True),
            _payment_flag("--method", "method", method_argument),
            _payment_flag("--reference", "reference", payment_reference_argument),
        ),
        verify=check_paid_plans,
    ),
    PlanAction(
        ("payment",),
        "confirm_payment",
        PaymentConfirmation,
        (
            _flag("--amount", "received_amount", type=amount_argument, required=True),
            # Required but for a refund settled (``check_payment_flags``).
            _flag("--received-on", "received_on", type=_day, default=None),
            _payment_flag("--reference", "reference", payment_reference_argument),
            *_CORRECTION,
            _flag("--settle-difference", "settle_difference", action="store_true"),
            _flag("--refunded-on", "refunded_on", type=_day, default=None),
        ),
        check=check_payment_flags,
        verify=check_joint_share,
        variant=(
            "field_settle_difference",
            "settle_payment_difference",
            DifferenceSettlement,
        ),
    ),
    PlanAction(
        ("invoice",),
        "record_invoice",
        InvoiceRecord,
        (
            _flag("--number", "number", type=invoice_number_argument, required=True),
            _flag("--date", "issued_on", type=_day, required=True),
            _AMOUNT,
            *_CORRECTION,
            _flag("--typo", "typo", action="store_true"),
        ),
        check=check_invoice_flags,
    ),
    PlanAction(
        ("org-signoff",),
        "org_signoff",
        SimpleAction,
    ),
    PlanAction(
        ("site-signoff",),
        "site_signoff",
        SiteSignoffRequest,
        (_flag("--platform-plan-id", "plan_id", type=code_argument, required=True),),
    ),
    PlanAction(
        ("issue-again",),
        "issue_again",
        SimpleAction,
    ),
    PlanAction(
        ("plan", "cancel"),
        "cancel_plan",
        CancelRequest,
        (
            _flag(
                "--reason",
                "reason",
                type=reason_argument,
                required=True,
            ),
            _flag("--refund-by-finance", "refund_by_finance", action="store_true"),
        ),
    ),
]


def refuse_role_not_served(spec: PlanAction, args: argparse.Namespace) -> None:
    """Refuse a role none of the action's updates is for, in the plan's words.

    First, as ``actor_allowed`` does for the tool's own commands: ``--as
    site`` without ``--site`` on ``payment`` is told that finance confirms
    payments, not to give ``--site``; nothing is read, stored or sent.
    """
    role = _acting_role(args)
    updates = (spec.update, *(spec.variant[1:2] if spec.variant else ()))
    if any(role_refusal(Action(update), role) is None for update in updates):
        return
    refusal = role_refusal(Action(spec.chosen(args)[0]), role)
    assert refusal is not None
    raise CliError(t("cli.refused", reason=refusal.message))


async def run_plan_action(ctx: Context, args: argparse.Namespace) -> int:
    """Send one action to its plan and print the plan's answer.

    The files of an upload go into the document store once nothing but the
    plan can refuse it. A plan that refuses it unread leaves no file named by
    no record (see ``_refused_unread``).
    """
    spec: PlanAction = args.plan_action
    refuse_role_not_served(spec, args)
    if spec.verify is not None:
        await spec.verify(ctx, args)
    actor = actor_of(args)
    given: list[GivenFile] = []
    request = spec.request(args, actor, given)
    if spec.check is not None:  # after the model's limits, said all at once
        spec.check(args)

    client = await ctx.client()
    handle = client.get_workflow_handle(plan_workflow_id(args.plan_id))
    put = await _stored(ctx, given)
    request = await _kept_apart(ctx, args.plan_id, request)
    # Sent again for a few seconds while the plan continues as new; within
    # the tool's own wait, which says the action may still be taken.
    patience = min(PATIENCE, ctx.wait / 2)
    try:
        result = await ctx.update(
            send_update(
                handle,
                spec.chosen(args)[0],
                request,
                result_type=ActionResult,
                patience=patience,
            ),
            check=f"certflow status {args.plan_id}",
        )
    except PlanBusyError as err:
        await _take_back(ctx, put)  # refused unread: no record names the files
        await _drop_kept(ctx, request)
        raise CliError(_busy_text(err, args.plan_id, patience), status=1) from None
    except WorkflowUpdateFailedError as err:
        await _drop_kept(ctx, request)
        if _refusal_code(err) == SAME_APPLICATION:
            # The plan holds this very application: nothing new was sent, so
            # nothing is refused, and no file of it is left unnamed.
            await _take_back(ctx, put)
            ctx.say(str(getattr(err.cause, "message", "") or err))
            return 0
        refused = Refused(
            action=spec.chosen(args)[0],
            code=_refusal_code(err),
            reason=str(getattr(err.cause, "message", "") or ""),
        )
        form: list[Problem] = []
        if refused.action == "upload_application" and refused.code not in (
            NOT_TAKEN_NOW
        ):
            # The plan refused the figures before reading the form: its
            # problems too, at once (trial: they came on the next try).
            form = await asyncio.to_thread(application_form_problems, args)
        await _refused_unread(ctx, args.plan_id, actor, put, refused, form)
        if form:
            raise CliError(refused_with_form([refused.reason], form)) from None
        raise
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            await _take_back(ctx, put)  # no plan read it, nor checked who sent it
            await _drop_kept(ctx, request)
        if err.status == RPCStatusCode.NOT_FOUND and await plan_known(
            ctx, client, args.plan_id
        ):
            raise CliError(
                await _closed_plan_text(ctx, args.plan_id, actor.role)
            ) from None
        raise
    if not result.accepted:
        result = await _told(ctx, request, result)
        await _drop_kept(ctx, request)
    return show_result(ctx, result)


async def _kept_apart(ctx: Context, plan_id: str, request: BaseModel) -> BaseModel:
    """A correction request with its personal parts kept in PostgreSQL, not
    sent into the plan's history (``activities.correction_drafts``); any
    other request as it is."""
    if not isinstance(request, CorrectionSubmission):
        return request
    from activities.correction_drafts import drafted

    return await drafted(await ctx.pool(), plan_id, request)


async def _told(ctx: Context, request: BaseModel, result: ActionResult) -> ActionResult:
    """The plan's refusal of a correction request in the words kept with its
    draft, which the plan's history does not hold (``correction_drafts.told``)."""
    if not isinstance(request, CorrectionSubmission) or request.draft is None:
        return result
    from activities.correction_drafts import told

    return await told(await ctx.pool(), request.draft, result)


async def _drop_kept(ctx: Context, request: BaseModel) -> None:
    """Delete the draft of a correction request its plan did not file."""
    if isinstance(request, CorrectionSubmission) and request.draft is not None:
        from activities.correction_drafts import drop_draft

        await drop_draft(await ctx.pool(), request.draft)


def _busy_text(err: PlanBusyError, plan_id: str, patience: float) -> str:
    """Why a plan's run took no action: it continues as new, or it has taken
    as many updates as the server allows (and a mail outage may hold it)."""
    if err.busy is Busy.UPDATE_LIMIT:
        limit = t("cli.update_limit_count", limit=err.limit) if err.limit else ""
        return t("cli.plan_update_limit", plan_id=plan_id, limit=limit)
    return t("cli.plan_busy", plan_id=plan_id, seconds=f"{patience:.0f}")


# Refusals of who acts, not of what was sent: the sender is no party of the
# plan (another role, another site, another lead evaluator).
NOT_THE_PLANS_PARTY = frozenset({"wrong_role", "wrong_site", "wrong_person"})
# Refusals of the action whatever was sent: by whom, or not now.
NOT_TAKEN_NOW = NOT_THE_PLANS_PARTY | {"wrong_stage", "already_done", CONTINUING_AS_NEW}


def application_form_problems(args: argparse.Namespace) -> list[Problem]:
    """The problems of the invoice details form given with an application,
    read as the plan's intake reads it; none for no form, or one the tool or
    the plan refuses for what it is (empty, unreadable: said by them)."""
    path = getattr(args, "field_invoice_details", None)
    if path is None:
        return []
    try:
        data = read_file(path)
    except CliError:
        return []
    if is_blank(data):
        return []
    try:
        # Read apart, as the worker reads it: a file that makes the reader
        # abort would take the tool with it.
        reading = read_apart(read_invoice_details, data)
    except Exception:  # ReadingFailed too: the plan's intake says so
        return []
    return [] if reading.accepted else list(reading.problems)


def refused_with_form(reasons: Sequence[str], form: Sequence[Problem]) -> str:
    """A refusal of an application for ``reasons``, with the problems of its
    invoice details form listed after them: every problem in one answer."""
    lines, _ = problem_lines(form, len(form))
    return "\n".join(
        [
            t("cli.refused", reason="\n".join(reasons)),
            t("cli.application_form_problems", count=len(form)),
            *(f"  {n}. {line}" for n, line in enumerate(lines, start=1)),
        ]
    )


def _refusal_code(err: WorkflowUpdateFailedError) -> str:
    """The code a plan refused an update with (``wrong_stage``…); "" if none."""
    return str(getattr(err.cause, "type", "") or "")


@dataclass(frozen=True)
class Refused:
    """A plan's refusal of an action before anything read it: the update,
    the refusal's code (``wrong_stage``…) and the plan's reason."""

    action: str
    code: str
    reason: str


async def _refused_unread(
    ctx: Context,
    plan_id: str,
    actor: Actor,
    put: Sequence[PutFile],
    refused: Refused,
    form: Sequence[Problem] = (),
) -> None:
    """Leave no file of an upload the plan refused before reading it unnamed.

    A plan's own party refused (wrong stage, already confirmed, figures that
    do not add up…) has each file recorded as a refused upload of the plan,
    listed as refused intake's are, with the plan's reason: staff see what was
    sent and why it was refused. An application's invoice details form is
    recorded with its own problems (``form``, those the sender is told), or,
    having none, with the application's reason said as the application's.
    The refusal gets its line in the audit trail with the first file
    recorded with the plan's reason (the scan). A file from someone who is
    no party of the plan is taken out of the store instead,
    never listed to the plan's parties; so is one for a plan that has no
    record yet. Written with the database's own answer or not at all: where
    the database does not answer, the files are named on the error stream.
    """
    if not put:
        return
    import asyncpg

    from activities.intake import record_refused_upload

    if refused.code in NOT_THE_PLANS_PARTY:
        await _take_back(ctx, put)
        return
    try:
        pool = await ctx.pool()
        at = await ctx.now()
        for file in put:
            record = UploadRecord(
                plan_id=plan_id,
                kind=file.kind,
                document=file.ref,
                uploaded_by=actor.person,
                at=at,
                accepted=False,
                problems=1,
                refusal=refused.reason,
                action=refused.action,
                role=actor.role,
            )
            if file.kind is DocumentKind.INVOICE_DETAILS:
                record = _refused_form(record, form)
            if not await record_refused_upload(pool, ctx.store, record):
                await _take_back(ctx, [file])
    except (OSError, asyncpg.PostgresError, ConnectionProblem, RPCError):
        paths = "、".join(str(ctx.store.path_of(file.ref)) for file in put)
        print(t("cli.refused_upload_unrecorded", paths=paths), file=sys.stderr)


def _refused_form(record: UploadRecord, form: Sequence[Problem]) -> UploadRecord:
    """The record of an application's invoice details form refused with it
    (``record``, with the plan's reason): refused for its own problems where
    it has any, else for the application's reason, said as the
    application's. Without the refused action: the audit line of the
    refusal is the plan's reason, written with the scan."""
    refusal = (
        recorded_text(form, len(form))
        if form
        else t("plan.form_refused_with_application", reason=record.refusal)
    )
    return record.model_copy(
        update={"problems": len(form) or 1, "refusal": refusal, "action": ""}
    )


async def _closed_plan_text(
    ctx: Context, plan_id: str, role: Role | None = None
) -> str:
    """Why an ended plan takes no action: cancelled, or issued and invoiced.

    The plan's row says which, with no worker needed (a query on an ended
    plan waits for one to replay it). Anything else, such as a plan an
    operator terminated, or no answer from the database, is said as both.
    Regression (trial): an issued plan was told 已取消，或证书已发放且已开票.
    An issued plan sends the others to the tech dept for a correction, and
    the tech dept to what it can do itself (trial: it was told to contact
    the tech dept).
    """
    import asyncpg

    try:
        pool = await ctx.pool()
        stage = await pool.fetchval(
            "SELECT stage FROM plans WHERE plan_id = $1", plan_id
        )
    except (OSError, asyncpg.PostgresError, ConnectionProblem):
        stage = None
    if stage == Stage.CANCELLED.value:
        return t("cli.plan_closed_cancelled", plan_id=plan_id)
    if stage == Stage.ISSUED.value and role is Role.TECH_DEPT:
        return t("cli.plan_closed_issued_tech", plan_id=plan_id)
    if stage == Stage.ISSUED.value:
        return t("cli.plan_closed_issued", plan_id=plan_id)
    if stage == Stage.NO_CERTIFICATES.value:
        return t("cli.plan_closed_no_certificates", plan_id=plan_id)
    return t("cli.plan_closed", plan_id=plan_id)


async def plan_known(ctx: Context, client: Client, plan_id: str) -> bool:
    """Whether Temporal knows the plan's workflow, running or ended.

    An action sent to a plan that has ended (cancelled, or issued and
    invoiced) is answered "not found" by the server, as for a plan id that
    was never started; staff must be told which of the two it is. The raw
    call: only whether Temporal knows the workflow matters, and the SDK's own
    ``describe`` would also decode every search attribute.
    """
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace,
        execution=WorkflowExecution(workflow_id=plan_workflow_id(plan_id)),
    )
    try:
        await ctx.answer(client.workflow_service.describe_workflow_execution(request))
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return False
    return True


# -- plan start, status, list ------------------------------------------------------

_PLAN_FLAGS = {
    "plan_id": "--plan-id",
    "site_code": "--site-code",
    "site_name": "--site-name",
    "certificate": "--certificate",
    "level": "--level",
    "module_code": "--module-code",
    "module_name": "--module-name",
    "exam_end_date": "--exam-end",
    "lead_evaluator_id": "--lead-evaluator",
}


def _level(text: str, where: str) -> Level:
    """A level typed as its code or its Chinese name; ``where`` names flag or key."""
    chinese = Level.from_chinese(text)
    if chinese is not None:
        return chinese
    try:
        return Level(text.strip())
    except ValueError:
        levels = "、".join(f"{level.value}（{level.chinese}）" for level in Level)
        raise CliError(
            t("cli.bad_level", where=where, level=shown(text), levels=levels)
        ) from None


def plan_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The fields of a new plan, from ``--from-file`` (TOML) or from the flags.

    Every required field left out is named at once: the file's keys with
    their Chinese names, or the flags.
    """
    if args.from_file is not None:
        data = plan_file(args.from_file)
        missing = [name for name in _PLAN_FLAGS if _left_out(data.get(name))]
        if missing:
            fields = named_codes(missing, "cli.plan_fields.")
            raise CliError(
                t("cli.plan_file_missing", path=args.from_file, fields=fields)
            )
    else:
        data = {name: getattr(args, name) for name in _PLAN_FLAGS}
        data["evaluator_ids"] = args.evaluator
        missing = [flag for name, flag in _PLAN_FLAGS.items() if data[name] is None]
        if missing:
            raise CliError(t("cli.plan_fields_missing", fields=" ".join(missing)))
    data["level"] = _level(str(data["level"]), _plan_field_name(args, "level"))
    for name in ("plan_id", "site_code"):
        if isinstance(data.get(name), str):
            data[name] = canonical_code(data[name])
    return dict(data)


def _left_out(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _plan_field_name(args: argparse.Namespace, name: str) -> str:
    """A plan field as staff gave it: the file's key, or the flag."""
    if args.from_file is not None:
        return name
    return _PLAN_FLAGS.get(name, "--evaluator" if name == "evaluator_ids" else "")


def plan_file(path: Path) -> dict[str, Any]:
    """The fields of a ``plan.toml``: its ``[plan]`` table, or the whole file.

    A missing, unreadable or malformed file is refused naming the file (and,
    for TOML errors, the line), never with a traceback.
    """
    content = read_file(path)
    try:
        data: Any = tomllib.loads(content.decode("utf-8"))
    except UnicodeDecodeError:
        raise CliError(not_utf8(path, t("cli.plan_file"))) from None
    except tomllib.TOMLDecodeError as err:
        raise CliError(malformed_toml(path, err, t("cli.plan_file"))) from None
    data = data.get("plan", data)
    if not isinstance(data, dict):
        raise CliError(t("cli.plan_file_no_table", path=path))
    return data


def plan_info(fields: dict[str, Any], args: argparse.Namespace) -> PlanInfo:
    """Validate a new plan's fields; each wrong one is refused naming it in Chinese.

    The flag (or the file's key) is named with what is wrong: the limit of a
    text too long, the shape of a code or a staff id. The input itself is not
    repeated: it may be anything at all, a name included.
    """
    try:
        return NewPlanInfo.model_validate(fields).recorded()
    except ValidationError as err:
        lines: dict[str, str] = {}
        for error in err.errors(include_input=False, include_url=False):
            name = str(error["loc"][0]) if error["loc"] else "plan"
            if name in lines:
                continue  # a second evaluator id of the same shape
            shape = f"cli.plan_field_shapes.{name}"
            problem = (
                t(shape)
                if error["type"] == "string_pattern_mismatch" and shape in catalogue()
                else problem_of(error)
            )
            lines[name] = t(
                "cli.plan_field_invalid",
                field=t_or(name, f"cli.plan_fields.{name}"),
                flag=_plan_field_name(args, name),
                problem=problem,
            )
        raise CliError("\n".join(lines.values())) from None


def check_new_plan(
    settings: Settings, info: PlanInfo, *, force: bool, today: date
) -> None:
    """Refuse a plan the configuration cannot grade or mail, or a far-off end date.

    ``Settings.pass_rule_for`` falls back to a default rule, which would grade a
    certificate nobody configured; here that is refused instead, as is a site
    with no mail address in ``site_recipients``. The date guard
    catches typos such as a wrong year; ``force`` lets old plans be moved in.
    """
    if not any(
        entry.certificate == info.certificate
        and entry.level == info.level
        and entry.module_code in (info.module_code, "*")
        for entry in settings.pass_rules
    ):
        raise CliError(
            t(
                "cli.no_pass_rule",
                certificate=info.certificate,
                level=info.level.chinese,
                module_code=info.module_code,
            )
        )
    if not settings.site_recipients.get(info.site_code):
        # The plan would run, and the site would never hear of a duty it owes.
        raise CliError(t("cli.site_not_configured", site_code=info.site_code))
    earliest, latest = today - EXAM_END_BEHIND, today + EXAM_END_AHEAD
    if not force and not earliest <= info.exam_end_date <= latest:
        # Far behind may be an old plan entered late; far ahead is a typo.
        ahead = info.exam_end_date > latest
        raise CliError(
            t(
                "cli.exam_end_far_ahead" if ahead else "cli.exam_end_far",
                date=info.exam_end_date.isoformat(),
                earliest=earliest.isoformat(),
                latest=latest.isoformat(),
            )
        )


def check_plan_printable(
    settings: Settings, info: PlanInfo, args: argparse.Namespace
) -> str | None:
    """Refuse a plan whose certificates the certificate font cannot draw.

    Issuance draws no certificate of a plan whose own text on it (the
    certificate's name, the module's code and name, the organisation
    configured) holds a character the font has no glyph for: the plan would
    wait in issuance, and its texts cannot be changed once it is started.
    Every such field is refused at once, naming its flag and the characters
    by code point (a plan's texts are no personal data).

    The font is found as the worker finds it (``CERTFLOW_CJK_FONT``, else the
    Debian fonts) and parsed once. Where there is none here, nothing can be
    checked: the plan starts, and the warning returned says so.
    Not checked against the worker's own font, where it runs elsewhere with
    another (README, "Known limitations").
    """
    from certflow.certificates import PRINTED_PLAN_FIELDS, FontNotFoundError, load_font

    try:
        font = load_font()
    except FontNotFoundError:
        # The worker without it blocks issuance naming the cause, to be mended.
        return t("cli.plan_font_unchecked")

    lines = [
        t(
            "cli.plan_field_invalid",
            field=t(f"cli.plan_fields.{name}"),
            flag=_plan_field_name(args, name),
            problem=t("cli.plan_field_unprintable", chars=code_points(missing)),
        )
        for name in PRINTED_PLAN_FIELDS
        if (missing := font.unsupported(getattr(info, name)))
    ]
    if missing := font.unsupported(settings.organisation):
        lines.append(t("cli.organisation_unprintable", chars=code_points(missing)))
    if lines:
        raise CliError("\n".join(lines))
    return None


async def start_plan(ctx: Context, args: argparse.Namespace) -> int:
    """Start the workflow of a new exam plan with the configured rules."""
    from workflows import ExamPlanWorkflow

    starter = actor_allowed(args, PLAN_STARTERS, "cli.start_not_allowed")
    settings = ctx.settings
    info = plan_info(plan_fields(args), args)
    unchecked = check_plan_printable(settings, info, args)
    # The guard reads the stack's clock: a training stack's may be weeks ahead.
    today = cst_date(await ctx.now())
    check_new_plan(settings, info, force=args.force, today=today)
    fee = settings.fee_for(info.certificate, info.level)
    info = info.model_copy(
        update={
            "pass_rule": settings.pass_rule_for(
                info.certificate, info.level, info.module_code
            ),
            "fee_per_candidate": None if fee is None else Decimal(str(fee)),
        }
    )

    client = await ctx.client()
    await check_plan_id_free(ctx, client, info.plan_id)
    try:
        await ctx.answer(
            client.start_workflow(
                ExamPlanWorkflow.run,
                ExamPlanInput(info=info, policy=settings.deadlines, started_by=starter),
                id=plan_workflow_id(info.plan_id),
                task_queue=settings.temporal.task_queue,
                static_summary=plan_summary(info),
                # A plan id names one plan for ever, even after it is issued.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        )
    except WorkflowAlreadyStartedError:
        raise CliError(t("cli.plan_exists", plan_id=info.plan_id)) from None
    ctx.say(
        t("cli.plan_started", plan_id=info.plan_id, stage=t("stages.score_submission"))
    )
    if unchecked is not None:
        ctx.say(unchecked)
    return 0


async def check_plan_id_free(ctx: Context, client: Client, plan_id: str) -> None:
    """Refuse a plan id the database knows when Temporal knows no such plan.

    That happens when Temporal's own store was reset, or a second stack shares
    the database: a new workflow would meet the old plan's records (scores,
    request numbers). A cancelled plan's id is refused as such: it is not
    started again, and "started already" would hide why. Where Temporal does
    know the workflow, the start goes on and the reuse policy answers as
    before (a repeated start is refused as started already). The plan's first
    activity refuses such a row too; this check only spares staff a plan that
    would end at once.
    """
    pool = await ctx.pool()
    stage = await pool.fetchval("SELECT stage FROM plans WHERE plan_id = $1", plan_id)
    if stage is None:
        return
    if stage == Stage.CANCELLED.value:
        raise CliError(t("cli.plan_id_cancelled", plan_id=plan_id))
    if not await plan_known(ctx, client, plan_id):
        raise CliError(t("cli.plan_id_used", plan_id=plan_id))


async def plan_status(ctx: Context, plan_id: str) -> PlanStatus:
    """Query the status of one plan."""
    client = await ctx.client()
    handle = client.get_workflow_handle(plan_workflow_id(plan_id))
    status: PlanStatus = await ctx.ask(handle.query("status", result_type=PlanStatus))
    return status


async def show_status(ctx: Context, args: argparse.Namespace) -> int:
    """Print what a plan waits for, from whom, until when.

    Who asks decides what of it (see ``for_reader``); without ``--as`` it is
    the plan's facts alone. A site or lead evaluator reaches its own plan only.
    """
    actor = actor_of(args) if args.role or args.person else None
    status = await plan_status(ctx, args.plan_id)
    if actor is not None:
        _reach_plan(actor, status, args.plan_id)
    status = await with_current_invoice(ctx, await with_hold(ctx, status))
    status = await with_revoked(ctx, status)
    status = await with_mail_trouble(ctx, status)
    status = await with_next_gathering(ctx, status)
    shown = for_reader(status, actor.role if actor is not None else None)
    if args.json:
        ctx.say(shown.model_dump_json(indent=2))
    else:
        ctx.say(*render_status(shown, actor.role if actor is not None else None))
    return 0


async def with_hold(ctx: Context, status: PlanStatus) -> PlanStatus:
    """``status`` with why the last gathering of a batch left the plan out
    (``held_back``), while it waits for one.

    The plan says so itself once a batch has told it (workflow patch
    ``held-back-signalled``); a hold from before that is read from
    PostgreSQL (``batch_holds``), where every gathering keeps it.
    """
    from activities.store import open_holds

    if (
        status.held_back is not None
        or status.stage is not Stage.AWAITING_APPROVAL
        or status.batch_id is not None
    ):
        return status
    holds = await open_holds(await ctx.pool(), plan_id=status.plan_id)
    return status.model_copy(update={"held_back": _held_now(status, holds)})


def _held_now(status: PlanStatus, holds: list[BatchHold]) -> BatchHold | None:
    """The hold a gathering kept for the plan (``batch_holds``) as it stands
    now: one by the plan's own payment is the plan's to say, as
    ``PlanState.held_back`` says it (a settlement or an invoice corrected
    since lifts or changes it, before any gathering releases the row)."""
    from certflow.payment_difference import HOLD_JOINT

    hold = holds[0] if holds else None
    if hold is None or hold.invoices or hold.payment_reason in (None, HOLD_JOINT):
        return hold
    held = status.payment_held
    if held is None or held.reason == HOLD_JOINT:
        return None
    return hold.model_copy(
        update={"payment_reason": held.reason, "payment_details": held.details}
    )


# How long ``certflow status`` waits for the weekly schedule to say when it
# runs next: the status is shown without it rather than late.
SCHEDULE_ASK_WAIT = timedelta(seconds=5)


async def with_next_gathering(ctx: Context, status: PlanStatus) -> PlanStatus:
    """``status`` with when the weekly schedule next gathers an approval
    batch (``next_gathering``), while the plan waits to be gathered into one
    (and no payment holds it out of every batch: no gathering would take it).

    None where no schedule will: none set up (the training stack gathers by
    hand), paused, or a server without schedules; then the tech dept gathers
    on demand (``certflow batch gather``).
    """
    from starter.schedules import SCHEDULE_ID

    if (
        status.stage is not Stage.AWAITING_APPROVAL
        or status.batch_id is not None
        or status.payment_held is not None
    ):
        return status
    client = await ctx.client()
    try:
        described = await client.get_schedule_handle(SCHEDULE_ID).describe(
            rpc_timeout=SCHEDULE_ASK_WAIT
        )
    except RPCError:
        return status
    upcoming = described.info.next_action_times
    if described.schedule.state.paused or not upcoming:
        return status
    return status.model_copy(update={"next_gathering": upcoming[0]})


# The error kind of an attempt that found an earlier attempt still sending
# its mail (activities/notify.py ``BEING_SENT``): the mail is on its way,
# nothing failed; and of one that found the mail server away.
_MAIL_BEING_SENT = "mail_being_sent"
_MAIL_SERVER_AWAY = "mail_server_away"


async def with_mail_trouble(ctx: Context, status: PlanStatus) -> PlanStatus:
    """``status`` with what the last failed attempt to send the plan's
    waiting mail met (``mail_trouble``), as its row says; None while none
    failed.

    The plan knows only that a mail has not gone out yet. Trial: right after
    ``plan start`` its opening mail, on its way, was said held by a mail
    server away (邮件服务器暂时无法连接), with ``notice failed`` to look at;
    it went out seconds later. Its mails go out in turn, so the first
    waiting one speaks for the others.
    """
    if not status.mails_waiting and not any(o.notices_waiting for o in status.owed):
        return status
    kind = await (await ctx.pool()).fetchval(
        """
        SELECT last_error_type FROM notifications
        WHERE plan_id = $1 AND sent_at IS NULL AND failure IS NULL
            AND withdrawn_at IS NULL AND attempts IS NOT NULL
        ORDER BY last_tried_at DESC NULLS LAST, id DESC
        LIMIT 1
        """,
        status.plan_id,
    )
    trouble = None if kind == _MAIL_BEING_SENT else kind
    return status.model_copy(update={"mail_trouble": trouble})


def _mails_waiting_line(status: PlanStatus) -> str:
    """What becomes of the plan's mails not gone out yet: on their way, or
    held by what their last attempt met (the mail server away…)."""
    count = status.mails_waiting
    trouble = status.mail_trouble
    if trouble is None:
        return t("cli.status.mails_sending", count=count)
    if trouble == _MAIL_SERVER_AWAY:
        return t("cli.status.mails_waiting", count=count)
    why = _waits_why({"last_error_type": trouble})
    return t("cli.status.mails_failing", count=count, why=why)


def _notices_waiting_mark(status: PlanStatus, count: int) -> str:
    """The reminders of one duty not gone out yet, as ``_mails_waiting_line``."""
    if not count:
        return ""
    if status.mail_trouble is None:
        return t("cli.status.notices_sending", count=count)
    if status.mail_trouble == _MAIL_SERVER_AWAY:
        return t("cli.status.notices_waiting", count=count)
    return t("cli.status.notices_failing", count=count)


async def with_revoked(ctx: Context, status: PlanStatus) -> PlanStatus:
    """``status`` with how many of the plan's certificates are revoked, as
    the database says: the plan counts only the revocations signalled while
    its workflow ran, and an issued plan's workflow has usually ended."""
    from activities.revocation import revoked_count

    if status.stage not in (Stage.ISSUANCE, Stage.ISSUED):
        return status
    revoked = await revoked_count(await ctx.pool(), status.plan_id)
    return status.model_copy(update={"certificates_revoked": revoked})


async def with_current_invoice(ctx: Context, status: PlanStatus) -> PlanStatus:
    """``status`` of an approved plan with the invoice the database holds.

    A whole-payment invoice corrected on another plan of the joint payment
    is written in the database on the approved plans carrying it too; a
    plan whose workflow still runs is signalled and records it, one whose
    workflow has ended hears of nothing. Its status takes those corrections
    from the audit trail as the running plan would have (the replaced
    invoice listed voided where it was reversed, a history line naming the
    plan it was corrected with), and shows the invoice the database holds;
    the workflow's own record stays in its history and the audit trail.
    """
    from activities.store import corrected_with, current_invoice

    if status.stage not in (Stage.ISSUANCE, Stage.ISSUED):
        return status
    pool = await ctx.pool()
    payment = status.payment.model_copy(deep=True)
    history = list(status.history)
    for corrected in await corrected_with(pool, status.plan_id):
        entry = corrected.take(payment)
        if entry is not None:
            history.append(entry)
    held = await current_invoice(pool, status.plan_id)
    if held is not None:
        payment.invoice_number = held.number
        payment.invoice_issued_on = held.issued_on or payment.invoice_issued_on
        if held.amount is not None:
            payment.invoice_amount = float(held.amount)
    return status.model_copy(update={"payment": payment, "history": history})


def _payment_held_line(held: PaymentHeld) -> str:
    """What holds the plan out of every batch by a payment, gathering or
    not: its own difference or invoice, or another plan's of its payment."""
    from certflow.payment_difference import hold_text

    return hold_text(held.reason, held.details)


def _held_back_line(hold: BatchHold) -> str:
    """Why the last gathering left the plan out: the invoices of its joint
    payment disagreed, as they were then; or its payment difference was not
    settled, or its invoice not corrected to the settled total."""
    from certflow.joint_invoice import holdings_text
    from certflow.payment_difference import hold_text

    if not hold.invoices and hold.payment_reason:
        return hold_text(hold.payment_reason, hold.payment_details)
    return t(
        "cli.status.held_back",
        at=format_cst(hold.at),
        batch_id=hold.batch_id,
        holders=holdings_text(hold.invoices, numbered=True),
    )


def for_reader(status: PlanStatus, role: Role | None) -> PlanStatus:
    """The status as ``role`` sees it (None: nobody said who asks).

    The stage, the duties and deadlines, the counts, the payment and the
    history are the plan's facts, for anyone. Personal data is not: the
    consistency review's mismatches (candidates' and evaluators' names and ID
    numbers, masked, and admission numbers) are shown to those who may fetch
    the consistency report, and the names of the plan's files (which uploaders
    may have named after a candidate) to those who may list its documents, as
    ``certflow document`` shows them.
    """
    shown = status.model_copy(deep=True)
    review = shown.consistency
    if review is not None and not (
        role is not None and may_fetch(role, DocumentKind.CONSISTENCY_REPORT)
    ):
        review.mismatches = []
    if role is None or not fetchable_by(role):
        shown.documents = {}
        shown.platform_import = None
        if review is not None:
            review.report = None
    if role not in (*HELD_TOLD, Role.ADMIN):
        # Who is held stays with those told; the count and why are facts.
        shown.certificates_held = [
            held.model_copy(update={"admission_number": "", "masked_name": ""})
            for held in shown.certificates_held
        ]
    return shown


def _reach_plan(actor: Actor, status: PlanStatus, plan_id: str) -> None:
    """Refuse a site another site's plan, and a lead evaluator a plan they
    do not lead; every other role reaches every plan."""
    if actor.role is Role.SITE and actor.site_code != status.site_code:
        raise CliError(t("cli.refused", reason=t("plan.wrong_site", plan_id=plan_id)))
    # Matched as the plan matches its lead evaluator: as staff type ids.
    if actor.role is Role.LEAD_EVALUATOR and staff_key(actor.person) != staff_key(
        status.lead_evaluator_id
    ):
        raise CliError(
            t(
                "cli.refused",
                reason=t(
                    "plan.wrong_lead", plan_id=plan_id, lead=status.lead_evaluator_id
                ),
            )
        )


def list_query(args: argparse.Namespace) -> str:
    """The visibility query of ``certflow list`` for its filters."""
    terms = ["WorkflowType = 'ExamPlanWorkflow'"]
    if args.stage:
        terms.append(f"{sa.STAGE.name} = '{Stage(args.stage).value}'")
    if args.overdue:
        terms.append(f"{sa.OVERDUE.name} = true")
    if args.filter_site:
        terms.append(f"{sa.SITE_CODE.name} = '{args.filter_site}'")
    if args.owed_by:
        terms.append(f"{sa.OWED_BY.name} = '{Role(args.owed_by).value}'")
    return " AND ".join(terms)


async def list_plans(ctx: Context, args: argparse.Namespace) -> int:
    """Find plans by stage, site, owner or lateness through the search attributes."""
    client = await ctx.client()
    query = list_query(args)
    rows: list[list[str]] = []
    try:
        async for execution in client.list_workflows(query):
            attributes = execution.typed_search_attributes
            stage = attributes.get(sa.STAGE)
            deadline = attributes.get(sa.NEXT_DEADLINE)
            rows.append(
                [
                    attributes.get(sa.PLAN_ID) or execution.id,
                    attributes.get(sa.SITE_CODE) or "",
                    t(f"stages.{stage}") if stage else "",
                    deadline_text(deadline) if deadline else "—",
                    t("cli.list.yes")
                    if attributes.get(sa.OVERDUE)
                    else t("cli.list.no"),
                ]
            )
    except RPCError as err:
        if err.status == RPCStatusCode.UNIMPLEMENTED:
            raise CliError(t("cli.list_visibility"), status=1) from None
        raise
    if not rows:
        ctx.say(t("cli.list_empty"))
        return 0
    headers = ["plan", "site", "stage", "next_deadline", "overdue"]
    ctx.say(*table([t(f"cli.list.{h}") for h in headers], sorted(rows)))
    return 0


# -- correction history (PostgreSQL) -----------------------------------------------


def history_admission(args: argparse.Namespace) -> str:
    """The candidate of ``correction history``: ADMISSION_NUMBER or ``--admission``.

    Both are taken (``correction submit`` names the candidate by the flag);
    given both, they must name the same candidate.
    """
    given, flagged = args.admission, args.admission_flag
    if given is None and flagged is None:
        raise CliError(t("cli.history_admission_missing"))
    if given is not None and flagged is not None and given != flagged:
        raise CliError(t("cli.history_admission_twice", positional=given, flag=flagged))
    return str(given if given is not None else flagged)


async def correction_history(ctx: Context, args: argparse.Namespace) -> int:
    """Print every change of one candidate's scores: who, when, why, old, new.

    The scores and reasons are the readers' of correction requests
    (``CORRECTION_READERS``); other roles are refused as by ``show``.
    """
    args.admission = history_admission(args)
    actor_allowed(args, CORRECTION_READERS, "cli.correction_history_not_allowed")
    pool = await ctx.pool()
    rows = await pool.fetch(
        """
        SELECT changed_at, changed_by, field, old_value, new_value, request_id, reason
        FROM score_history WHERE plan_id = $1 AND admission_number = $2
        ORDER BY changed_at, id
        """,
        args.plan_id,
        args.admission,
    )
    if not rows:
        await _plan_known(pool, args.plan_id)
        if not await _candidate_known(pool, args.plan_id, args.admission):
            ctx.say(t("cli.history_no_list", plan_id=args.plan_id))
            return 0
        ctx.say(t("cli.history_empty", admission=args.admission, plan_id=args.plan_id))
        return 0
    headers = ["at", "who", "field", "old", "new", "request", "reason"]
    ctx.say(
        *table(
            [t(f"cli.history.{h}") for h in headers],
            [
                [
                    format_cst(row["changed_at"]),
                    row["changed_by"],
                    correction_details.field_label(row["field"]),
                    correction_details.history_value(row["field"], row["old_value"]),
                    correction_details.history_value(row["field"], row["new_value"]),
                    row["request_id"] or "—",
                    row["reason"].replace("\n", " "),
                ]
                for row in rows
            ],
        )
    )
    return 0


# -- a plan's whole record (PostgreSQL) ---------------------------------------------

# What of an audit line ``plan history`` does not show: a file's digest and
# the words of a refusal (``document list`` shows both to whom may read the
# plan's files: a value typed into a file may be repeated in them), and
# codes kept for the program (a mail's template and resend key, a refusal's
# code, whether a reason was given: the line says the reason itself).
_RECORD_HIDDEN = frozenset(
    {"sha256", "refusal", "template", "resend", "notification", "code", "reason_given"}
)


async def plan_record(ctx: Context, args: argparse.Namespace) -> int:
    """Print a plan's whole record from PostgreSQL, oldest first: each action
    taken on it, refused or late, by whom and when, with what it named.

    ``status`` shows the latest lines of the plan's history; the database
    keeps them all, after the plan has ended too. Audit lines never hold
    personal data; a site reads its own plans only, a lead evaluator the
    plan they lead.
    """
    actor = actor_allowed(
        args,
        frozenset(Role) - {Role.CANDIDATE},
        "cli.plan_record.not_allowed",
    )
    pool = await ctx.pool()
    site = await pool.fetchval(
        "SELECT site_code FROM plans WHERE plan_id = $1", args.plan_id
    )
    if site is None:
        raise CliError(t("cli.plan_not_found", plan_id=args.plan_id))
    if actor.role is Role.SITE and actor.site_code != site:
        raise CliError(
            t("cli.refused", reason=t("plan.wrong_site", plan_id=args.plan_id))
        )
    if actor.role is Role.LEAD_EVALUATOR:
        # Who leads the plan is its workflow's to say; one gone (kept past
        # the namespace's retention) cannot say it.
        status = await _status_if_any(ctx, args.plan_id)
        if status is None:
            reason = t("cli.plan_record.lead_unknown", plan_id=args.plan_id)
            raise CliError(t("cli.refused", reason=reason))
        _reach_plan(actor, status, args.plan_id)
    rows = await pool.fetch(
        """
        SELECT at, action, role, person, accepted, late, details FROM audit
        WHERE plan_id = $1 AND ($2::text[] IS NULL OR action = ANY($2))
        ORDER BY at, id
        """,
        args.plan_id,
        args.record_actions or None,
    )
    if not rows:
        ctx.say(t("cli.plan_record.none", plan_id=args.plan_id))
        return 0
    ctx.say(t("cli.plan_record.heading", plan_id=args.plan_id, count=len(rows)))
    headers = [t(f"cli.plan_record.{h}") for h in ("at", "who", "action", "details")]
    ctx.say(*table(headers, [_record_row(row) for row in rows]))
    return 0


def _record_row(row: Any) -> list[str]:
    """One audit line as ``plan history`` shows it."""
    role = t_or(row["role"] or "", f"roles.{row['role']}") if row["role"] else ""
    who = " ".join(part for part in (role, row["person"] or "") if part)
    code = row["action"]
    label = t_or(t("cli.status.other_action", code=code), f"actions.{code}")
    if not row["accepted"]:
        label = t("cli.status.refused_action", action=label)
    if row["late"]:
        label += t("cli.late_mark")
    details = row["details"] if isinstance(row["details"], dict) else {}
    said = [
        t(
            "cli.plan_record.detail",
            label=_record_label(key),
            value=_record_value(key, v),
        )
        for key, v in details.items()
        if key not in _RECORD_HIDDEN and str(v).strip()
    ]
    return [format_cst(row["at"]), who or "—", label, "；".join(said) or "—"]


def _record_label(key: str) -> str:
    return t_or(key, f"cli.record_details.{key}")


def _record_value(key: str, value: object) -> str:
    """A detail's value in words where it is a code: a stage, a decision,
    the duties a decision reopened, a document's kind."""
    text = " ".join(str(value).split())
    if key == "stage":
        return t_or(text, f"stages.{text}")
    if key == "decision":
        return t_or(text, f"cli.outcomes.{text}")
    if key in ("document", "kind"):
        return t_or(text, f"document_kinds.{text}")
    if key in ("items", "withdrawn"):
        return "、".join(t_or(code, f"duties.{code}") for code in text.split(","))
    return text


# Who may read what a plan's correction requests ask (the candidate, scores,
# the reason, the requester) and a candidate's score history (``history``):
# the regional manager deciding them, the info center entering and applying
# them, and administrators.
CORRECTION_READERS = frozenset({Role.REGIONAL_MANAGER, Role.INFO_CENTER, Role.ADMIN})


async def correction_show(ctx: Context, args: argparse.Namespace) -> int:
    """Print what a correction request asks, or list a plan's requests.

    From PostgreSQL, as ``history``: the candidate (admission number and
    masked name), the score and its value now, the value asked, the reason,
    the requester, when it came, its state and who decided and applied it.
    REQUEST may be the full number or its last part (``C001``).
    """
    actor_allowed(args, CORRECTION_READERS, "cli.correction_show_not_allowed")
    pool = await ctx.pool()
    if args.request_id is None:
        rows = await pool.fetch(correction_details.PLAN_REQUESTS, args.plan_id)
        if not rows:
            await _plan_known(pool, args.plan_id)
            ctx.say(t("cli.corrections_none", plan_id=args.plan_id))
            return 0
        headers = [
            t(f"correction_details.list.{h}") for h in correction_details.LIST_HEADERS
        ]
        ctx.say(*table(headers, [correction_details.list_row(r) for r in rows]))
        return 0
    wanted = [args.request_id, canonical_code(f"{args.plan_id}-{args.request_id}")]
    row = await pool.fetchrow(correction_details.FIND_REQUEST, args.plan_id, wanted)
    if row is None:
        await _plan_known(pool, args.plan_id)
        raise CliError(t("plan.unknown_correction", request_id=args.request_id))
    ctx.say(*_fields(correction_details.pairs(row)))
    return 0


async def _plan_known(pool: Any, plan_id: str) -> None:
    """Refuse a plan the database does not know: no record of an unknown
    plan is no answer."""
    known = "SELECT 1 FROM plans WHERE plan_id = $1"
    if await pool.fetchval(known, plan_id) is None:
        raise CliError(t("cli.plan_not_found", plan_id=plan_id))


async def _candidate_known(pool: Any, plan_id: str, admission: str) -> bool:
    """Refuse an admission number not on the plan's candidate list (its
    current scores), as ``correction submit`` does: "no record" of a mistyped
    number is no answer. False when the plan has no list yet (no score
    summary accepted): no number can be checked, and nobody has a record;
    the caller says so rather than "no record" of this one number."""
    listed = await pool.fetchval(
        "SELECT bool_or(admission_number = $2) FROM scores WHERE plan_id = $1",
        plan_id,
        admission,
    )
    if listed is False:
        raise CliError(
            t("intake_db.unknown_candidate", admission=admission, plan_id=plan_id)
        )
    return listed is True


# Who may read a plan's invoice details: those who invoice, and administrators.
INVOICE_READERS = frozenset({Role.FINANCE, Role.ADMIN})


async def show_invoice_details(ctx: Context, args: argparse.Namespace) -> int:
    """Print the invoice details of a plan's current form, as intake read them.

    The current form is the latest version accepted; the details are the
    school's (title, tax id, bank), which finance invoices from.
    """
    actor_allowed(args, INVOICE_READERS, "cli.invoice_details_not_allowed")
    pool = await ctx.pool()
    row = await pool.fetchrow(
        """
        SELECT d.details, d.received_at, p.version FROM invoice_details d
        JOIN plan_documents p ON p.plan_id = d.plan_id AND p.sha256 = d.sha256
        WHERE d.plan_id = $1 AND p.kind = $2 AND p.accepted
        ORDER BY p.version DESC LIMIT 1
        """,
        args.plan_id,
        DocumentKind.INVOICE_DETAILS.value,
    )
    if row is None:
        known = "SELECT 1 FROM plans WHERE plan_id = $1"
        if await pool.fetchval(known, args.plan_id) is None:
            raise CliError(t("cli.plan_not_found", plan_id=args.plan_id))
        raise CliError(t("cli.invoice_details_none", plan_id=args.plan_id))
    details = row["details"]
    ctx.say(
        t(
            "cli.invoice_details_heading",
            plan_id=args.plan_id,
            version=row["version"],
            at=format_cst(row["received_at"]),
        )
    )
    ctx.say(
        *_fields(
            [
                (LABELS[field][0], str(details.get(field.value, "")))
                for field in InvoiceField
            ]
        )
    )
    return 0


# -- a plan's documents (the document store) -------------------------------------

# The audit action of a document fetched from the store.
FETCH_ACTION = "fetch_document"
DIGEST_SHOWN = 12


async def list_documents(ctx: Context, args: argparse.Namespace) -> int:
    """Print every document of a plan: kind, version, name, who sent it, when, state."""
    actor = _document_reader(args)
    documents = await _plan_documents(ctx, actor, args.plan_id)

    if not documents:
        ctx.say(t("cli.document.none", plan_id=args.plan_id))
    else:
        ctx.say(t("cli.document.heading", plan_id=args.plan_id, count=len(documents)))
        headers = ["kind", "version", "filename", "size", "by", "at", "digest"]
        ctx.say(
            *table(
                [t(f"cli.document.{h}") for h in (*headers, "state")],
                [_document_row(document) for document in documents],
            )
        )
        ctx.say(*_refusal_lines(documents))
    ctx.say(
        t(
            "cli.document.may_fetch",
            role=t(f"roles.{actor.role.value}"),
            kinds=named_codes(fetchable_by(actor.role), "document_kinds."),
            plan_id=args.plan_id,
        )
    )
    return 0


async def get_document(ctx: Context, args: argparse.Namespace) -> int:
    """Write one stored document out, checked against its digest, audited, 0600.

    Nothing is written unless the file is whole: a file missing from the store
    or damaged is named, with where it belongs. The copy is written beside
    its place first, then the fetch to the audit trail, then the copy is put
    in its place: no copy leaves without a trace, and a copy that could not
    be made (a full disk, a folder that takes no file) leaves none.
    """
    kind = DocumentKind(args.kind)
    actor = _document_reader(args)
    if not may_fetch(actor.role, kind):
        raise CliError(
            t(
                "cli.refused",
                reason=t(
                    "cli.document.kind_not_allowed",
                    role=t(f"roles.{actor.role.value}"),
                    kind=t(f"document_kinds.{kind.value}"),
                    roles=_role_names(readers(kind)),
                ),
            )
        )
    documents = await _plan_documents(ctx, actor, args.plan_id)
    document = _chosen(documents, kind, args.version, args.plan_id)
    target = _fetch_target(args.out, document, args.plan_id)
    _check_fetch_target(target, overwrite=args.overwrite)

    data = _stored_bytes(ctx, document, args.plan_id)
    try:
        with staged_private(target, data, overwrite=args.overwrite):
            await _record_fetch(ctx, actor, args.plan_id, document)
    except OSError as err:
        raise _unwritten(target, err) from None
    ctx.say(
        t(
            "cli.document.fetched",
            plan_id=args.plan_id,
            document=_document_name(document),
            path=target,
            size=_size_text(document.ref.size),
            digest=document.ref.sha256[:DIGEST_SHOWN],
        )
    )
    return 0


def _document_reader(args: argparse.Namespace) -> Actor:
    """The actor, when their role may fetch some kind of a plan's documents."""
    actor = actor_of(args)
    if not fetchable_by(actor.role):
        reason = t(
            "cli.document.not_reader",
            role=t(f"roles.{actor.role.value}"),
            roles=_role_names([role for role in Role if fetchable_by(role)]),
        )
        raise CliError(t("cli.refused", reason=reason))
    return actor


async def _plan_documents(
    ctx: Context, actor: Actor, plan_id: str
) -> list[PlanDocument]:
    """The plan's documents, once ``actor`` is one who may reach the plan.

    The plan's state says which document of each kind it goes by now;
    PostgreSQL keeps every upload, accepted or refused, and each file
    certflow made. An application scan or consistency report from before
    they were recorded is known from the state alone. A site reaches its own
    plans only, a lead evaluator the plan they lead.
    """
    status = await plan_status(ctx, plan_id)
    _reach_plan(actor, status, plan_id)

    pool = await ctx.pool()
    rows = await pool.fetch(
        """
        SELECT p.kind, p.version, p.sha256, p.filename, p.uploaded_by,
            p.uploaded_at, p.accepted, p.problems, p.refusal, d.size, d.media_type
        FROM plan_documents p JOIN documents d ON d.sha256 = p.sha256
        WHERE p.plan_id = $1 ORDER BY p.uploaded_at, p.id
        """,
        plan_id,
    )
    # An application scan from before scans were recorded is the plan's
    # alone: the audit trail says who sent the one it holds (the latest
    # application accepted) and when.
    application = await pool.fetchrow(
        """
        SELECT person, at FROM audit
        WHERE plan_id = $1 AND action = $2 AND accepted
        ORDER BY at DESC, id DESC LIMIT 1
        """,
        plan_id,
        Action.UPLOAD_APPLICATION.value,
    )
    held = dict(status.documents)
    if status.platform_import is not None:
        held[DocumentKind.PLATFORM_IMPORT] = status.platform_import
    if status.consistency is not None and status.consistency.report is not None:
        held[DocumentKind.CONSISTENCY_REPORT] = status.consistency.report
    return plan_documents(
        [
            StoredDocument(
                kind=DocumentKind(row["kind"]),
                version=row["version"],
                ref=DocumentRef(
                    sha256=row["sha256"],
                    size=row["size"],
                    media_type=row["media_type"],
                    filename=row["filename"],
                ),
                uploaded_by=row["uploaded_by"],
                uploaded_at=row["uploaded_at"],
                accepted=row["accepted"],
                problems=row["problems"],
                refusal=row["refusal"] or "",
            )
            for row in rows
        ],
        held,
        status.document_versions,
        {
            DocumentKind.CERTIFICATE_APPLICATION: Upload(
                person=application["person"] or "", at=application["at"]
            )
        }
        if application is not None
        else {},
    )


def _document_row(document: PlanDocument) -> list[str]:
    unknown = t("cli.document.unknown")
    if document.role is None:
        by = t("cli.document.by_certflow")
    else:
        by = f"{t(f'roles.{document.role.value}')} {document.person}".rstrip()
    state = (
        t("cli.document.refused", count=document.problems)
        if document.state is DocumentState.REFUSED
        else t(f"cli.document.{document.state.value}")
    )
    return [
        t(f"document_kinds.{document.kind.value}"),
        str(document.version) if document.version is not None else unknown,
        document.ref.filename or unknown,
        _size_text(document.ref.size),
        by,
        format_cst(document.at) if document.at is not None else unknown,
        document.ref.sha256[:DIGEST_SHOWN],
        state,
    ]


def _refusal_lines(documents: list[PlanDocument]) -> list[str]:
    """Why the plan refused each upload it never read, under the table: the
    state column says only how many problems."""
    refused = [d for d in documents if d.refusal]
    if not refused:
        return []
    lines = ["", t("cli.document.refusals")]
    for document in refused:
        lines.append(
            t(
                "cli.document.refusal_line",
                kind=t(f"document_kinds.{document.kind.value}"),
                at=format_cst(document.at) if document.at is not None else "—",
                digest=document.ref.sha256[:DIGEST_SHOWN],
                reason=document.refusal,
            )
        )
    return lines


def _document_name(document: PlanDocument) -> str:
    """``成绩汇总表第 2 版``, or the kind alone where no version is kept."""
    name = t(f"document_kinds.{document.kind.value}")
    if document.version is None:
        return name
    return name + t("cli.document.version_label", version=document.version)


def _size_text(size: int) -> str:
    if size < 1024:
        return t("cli.document.size_bytes", count=size)
    if size < 1024 * 1024:
        return t("cli.document.size_kb", count=f"{size / 1024:.1f}")
    return t("cli.document.size_mb", count=f"{size / (1024 * 1024):.1f}")


def _chosen(
    documents: list[PlanDocument],
    kind: DocumentKind,
    version: int | None,
    plan_id: str,
) -> PlanDocument:
    """The document asked for: the version given, else the current one."""
    document = find(documents, kind, version)
    if document is not None:
        return document
    name = t(f"document_kinds.{kind.value}")
    numbered = sorted(
        {d.version for d in documents if d.kind is kind and d.version is not None}
    )
    if version is None or not any(d.kind is kind for d in documents):
        reason = t("cli.document.no_document", plan_id=plan_id, kind=name)
    elif not numbered:
        reason = t("cli.document.no_versions_kept", plan_id=plan_id, kind=name)
    else:
        reason = t(
            "cli.document.no_version",
            plan_id=plan_id,
            kind=name,
            version=version,
            versions="、".join(str(v) for v in numbered),
        )
    raise CliError(t("cli.refused", reason=reason))


def _fetch_target(out: str | None, document: PlanDocument, plan_id: str) -> Path:
    """Where a fetched file goes: ``--out``'s file, or its recorded name in
    ``--out``'s folder, else in the current folder.

    ``--out`` ending in ``/`` names a folder, existing or to be created (0700
    when the file is written), as a shell's completion of a folder ends; a
    file by that name is refused, never written over with the fetched one.
    """
    name = local_name(
        document.ref,
        f"{plan_id}-{document.kind.value}-{document.ref.sha256[:DIGEST_SHOWN]}",
    )
    if out is None:
        return Path.cwd() / name
    path = Path(out)
    if path.is_dir():
        return path / name
    if names_folder(out):
        if path.exists() or path.is_symlink():
            reason = t("cli.document.out_not_folder", path=out)
            raise CliError(t("cli.refused", reason=reason))
        return path / name
    return path


def names_folder(out: str) -> bool:
    """Whether a path typed ends as a folder's does: ``new/``, ``new/.``."""
    return out.endswith(("/", "/.", "/..")) or out in (".", "..")


def _check_fetch_target(target: Path, *, overwrite: bool) -> None:
    """Refuse, before the fetch is recorded, a copy that must not be made there.

    Only a regular file is ever replaced, and only with ``--overwrite``: a
    device, a pipe, a socket or a link is refused either way, never followed
    or replaced (run as root, ``--out /dev/null --overwrite`` replaced the
    device with a file of names and ID numbers). The folder the file goes
    into must take it.
    """
    try:
        kind = existing_kind(target)
    except OSError:  # a part of the path is a file, or cannot be looked into
        kind = None
    if kind == "folder":
        reason = t("cli.document.out_is_folder", path=target)
    elif kind not in (None, "file"):
        what = t(f"cli.document.node_{kind}")
        reason = t("cli.document.not_regular", path=target, what=what)
    elif kind == "file" and not overwrite:
        reason = t("cli.document.exists", path=target)
    elif not _may_write_in(target):
        reason = t("cli.document.unwritable", path=target)
    else:
        return
    raise CliError(t("cli.refused", reason=reason))


def _may_write_in(target: Path) -> bool:
    """Whether the folder ``target`` goes into (or the nearest that exists, in
    which the rest is created) takes a new file: asked before the fetch is
    recorded, so that a copy that cannot be made leaves no record of one."""
    folder = target.parent
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def _stored_bytes(ctx: Context, document: PlanDocument, plan_id: str) -> bytes:
    """The document's bytes, checked against its digest by the store."""
    ref = document.ref
    names = {
        "plan_id": plan_id,
        "document": _document_name(document),
        "filename": ref.filename or t("cli.document.unknown"),
        "digest": ref.sha256[:DIGEST_SHOWN],
        "path": ctx.store.path_of(ref),
    }
    try:
        return ctx.store.get(ref)
    except DocumentDamaged:
        raise CliError(t("cli.document.damaged", **names), status=1) from None
    except DocumentNotFound:
        raise CliError(
            t("cli.document.missing", sha256=ref.sha256, **names), status=1
        ) from None


async def _record_fetch(
    ctx: Context, actor: Actor, plan_id: str, document: PlanDocument
) -> None:
    """One audit line: who fetched which file of the plan, and when.

    Kept on the wall clock, as every record of when a person acted outside a
    plan; each fetch is its own line.
    """
    import asyncpg

    from activities.store import PlanStore
    from certflow.activity_models import AuditEntry

    details = {"kind": document.kind.value, "sha256": document.ref.sha256}
    if document.version is not None:
        details["version"] = str(document.version)
    if actor.site_code:
        details["site_code"] = actor.site_code
    entry = AuditEntry(
        plan_id=plan_id,
        action=FETCH_ACTION,
        role=actor.role,
        person=actor.person,
        at=datetime.now(UTC),
        details=details,
        idempotency_key=f"{FETCH_ACTION}/{uuid.uuid4()}",
    )
    try:
        await PlanStore(await ctx.pool()).record_audit(entry)
    except (OSError, asyncpg.PostgresError) as err:
        raise ConnectionProblem(t("cli.database")) from err


def _unwritten(target: Path, err: OSError) -> CliError:
    """Why a fetched file could not be written at ``target``, in words: one
    there already (or made meanwhile), something there that is no file, a
    full disk, or a place that takes no file."""
    if isinstance(err, FileExistsError):
        reason = t("cli.document.exists", path=target)
    elif isinstance(err, NotRegularFile):  # put there since the check
        what = t(f"cli.document.node_{err.kind}")
        reason = t("cli.document.not_regular", path=target, what=what)
    elif err.errno in DISK_FULL:
        reason = t("cli.document.disk_full", path=target)
    else:
        reason = t("cli.document.unwritable", path=target)
    return CliError(t("cli.refused", reason=reason))


# -- approval batches ------------------------------------------------------------


async def gather_batch(ctx: Context, args: argparse.Namespace) -> int:
    """Start a batch, then show the plans it gathered for the general manager.

    A batch id is taken by the batch's row, written only with the plans it
    claims: with no plan ready nothing is started, and a batch that finds
    none after all (another took them meanwhile) leaves its id free. So the
    id given, or the second it names, may name a later batch that gathers.
    """
    from workflows import ApprovalBatchWorkflow

    actor = actor_allowed(args, BATCH_GATHERERS, "cli.gather_not_allowed")
    batch_id = args.batch_id or new_batch_id(await ctx.now())
    # An id the tool made up is taken by a gathering started in the same
    # second (another tech dept member's): no other id to ask staff for.
    taken = "cli.batch_exists" if args.batch_id else "cli.batch_just_started"
    pool = await ctx.pool()
    if await pool.fetchval("SELECT 1 FROM batches WHERE batch_id = $1", batch_id):
        raise CliError(t(taken, batch_id=batch_id))
    ready = await pool.fetchval(
        "SELECT 1 FROM plans WHERE stage = $1 AND batch_id IS NULL LIMIT 1",
        Stage.AWAITING_APPROVAL.value,
    )
    if not ready:
        ctx.say(*await nothing_gathered(ctx, args))
        return 0

    client = await ctx.client()
    try:
        handle = await ctx.answer(
            client.start_workflow(
                ApprovalBatchWorkflow.run,
                BatchInput(
                    batch_id=batch_id,
                    requested_by=actor.person,
                    requested_role=actor.role,
                ),
                id=batch_workflow_id(batch_id),
                task_queue=ctx.settings.temporal.task_queue,
                static_summary=batch_summary(batch_id),
                # A closed run of this id gathered nothing (a batch that did
                # has its row, refused above), so the id may be used again.
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            )
        )
    except WorkflowAlreadyStartedError:
        raise CliError(t(taken, batch_id=batch_id)) from None

    # Gathering is an activity; poll briefly so staff see what was gathered.
    loop = asyncio.get_running_loop()
    until = loop.time() + min(ctx.wait, 15.0)
    while loop.time() < until:
        status: BatchStatus = await ctx.answer(
            handle.query("status", result_type=BatchStatus)
        )
        if status.plan_ids:
            ctx.say(t("cli.batch_started", batch_id=batch_id))
            ctx.say(t("cli.batch_gathered", count=len(status.plan_ids)))
            ctx.say(*(f"  {plan_id}" for plan_id in status.plan_ids))
            ctx.say(*await held_back(ctx))
            return 0
        described = await ctx.answer(handle.describe())
        if described.status != WorkflowExecutionStatus.RUNNING:
            ctx.say(*await nothing_gathered(ctx, args))
            return 0
        await asyncio.sleep(0.2)
    ctx.say(t("cli.batch_started", batch_id=batch_id))
    ctx.say(t("cli.batch_still_gathering", batch_id=batch_id))
    return 0


async def nothing_gathered(ctx: Context, args: argparse.Namespace) -> list[str]:
    """What a gathering that found no plan says: why, and that the id given
    is still free."""
    held = await held_back(ctx)
    lines = [t("cli.batch_none_ready"), *held] if held else [await why_empty(ctx)]
    if args.batch_id:
        lines.append(t("cli.batch_id_free", batch_id=args.batch_id))
    return lines


async def held_back(ctx: Context) -> list[str]:
    """The plans awaiting approval a gathering leaves out, one line per joint
    payment whose plans' invoices disagree, naming them, and one per plan its
    payment difference (or its invoice after one) holds."""
    from activities.store import disagreeing_payments, payment_held
    from certflow.joint_invoice import holdings_text
    from certflow.payment_difference import hold_text

    pool = await ctx.pool()
    async with pool.acquire() as conn, conn.transaction():
        ready = await conn.fetch(
            "SELECT plan_id FROM plans WHERE stage = $1 AND batch_id IS NULL"
            " ORDER BY plan_id",
            Stage.AWAITING_APPROVAL.value,
        )
        ready_ids = [row["plan_id"] for row in ready]
        held = await disagreeing_payments(conn, ready_ids)
        for_payment = await payment_held(conn, ready_ids)
    payments: dict[str, list[str]] = {}
    for plan_id, holdings in sorted(held.items()):
        text = holdings_text(holdings, numbered=True)
        payments.setdefault(text, []).append(plan_id)
    return [
        t("cli.batch_held_back", plans="、".join(plans), holders=holders)
        for holders, plans in payments.items()
    ] + [
        f"{plan_id}：{hold_text(hold['reason'], hold['details'])}"
        for plan_id, hold in sorted(for_payment.items())
    ]


async def why_empty(ctx: Context) -> str:
    """What a batch that gathered nothing says: that it closed, and where the
    plans awaiting approval are when an open batch holds them all."""
    pool = await ctx.pool()
    rows = await pool.fetch(
        """
        SELECT plan_id, batch_id FROM plans
        WHERE stage = $1 AND batch_id IS NOT NULL ORDER BY plan_id
        """,
        Stage.AWAITING_APPROVAL.value,
    )
    if not rows:
        return t("cli.batch_empty")
    held: dict[str, list[str]] = {}
    for row in rows:
        held.setdefault(row["batch_id"], []).append(row["plan_id"])
    return t(
        "cli.batch_all_held",
        held="；".join(
            t("cli.batch_held", batch_id=batch_id, plans="、".join(plans))
            for batch_id, plans in sorted(held.items())
        ),
    )


# ``PLAN=VALUE``: typed with a Chinese input method, the sign may be full width.
_PAIR = re.compile(r"\s*(?P<plan>[^=＝]*?)\s*[=＝](?P<value>.*)", re.DOTALL)


def _rejection(text: str) -> tuple[str, str]:
    """``--reject PLAN=REASON``: the plan id as issued, a reason that says something."""
    pair = _PAIR.fullmatch(text)
    if pair is None or not pair["plan"]:
        raise argparse.ArgumentTypeError(t("cli.bad_reject", value=shown(text)))
    plan_id = code_argument(pair["plan"])
    return plan_id, rejection_reason(pair["value"], plan_id)


def _return(text: str) -> tuple[str, list[Duty]]:
    """``--return PLAN=DUTY[,DUTY…]``: a rejected plan and the duties to redo.

    A code that names no duty at all is refused here; whether a duty may be
    redone is the batch's to decide, which refuses any outside stage 5-8.
    """
    pair = _PAIR.fullmatch(unicodedata.normalize("NFKC", text))
    codes = [c for c in re.split(r"[,、\s]+", pair["value"]) if c] if pair else []
    if pair is None or not pair["plan"] or not codes:
        raise argparse.ArgumentTypeError(
            t("cli.bad_return", value=shown(text), allowed=redo_duty_codes())
        )
    duties: list[Duty] = []
    for code in codes:
        try:
            duties.append(Duty(code.lower()))
        except ValueError:
            raise argparse.ArgumentTypeError(
                t("cli.bad_return_duty", value=shown(code), allowed=redo_duty_codes())
            ) from None
    return code_argument(pair["plan"]), list(dict.fromkeys(duties))


def returns_by_plan(given: list[tuple[str, list[Duty]]]) -> dict[str, list[Duty]]:
    """Every ``--return`` of one plan adds to its duties."""
    returns: dict[str, list[Duty]] = {}
    for plan_id, duties in given:
        returns[plan_id] = list(dict.fromkeys([*returns.get(plan_id, []), *duties]))
    return returns


async def _until_gathered(ctx: Context, handle: Any, current: BatchStatus) -> None:
    """Wait a little for a batch still reading its plans' payments: its plans
    show (in ``status`` and the plans' rows) a moment before it has gathered,
    and a decision sent then was refused (批次尚未汇总). Past the wait the
    decision goes anyway, and the batch says why it is refused."""
    loop = asyncio.get_running_loop()
    until = loop.time() + min(ctx.wait, 15.0)
    while not current.gathered and loop.time() < until:
        await asyncio.sleep(0.2)
        current = await ctx.answer(handle.query("status", result_type=BatchStatus))


def decision_of(args: argparse.Namespace) -> BatchDecisionRequest:
    """The decision ``batch decide`` sends: every ``--reject`` as given (the
    batch refuses a plan rejected twice), each plan approved once, however
    often (or in whatever case) it was typed."""
    given: list[tuple[str, str]] = args.reject or []
    return BatchDecisionRequest(
        actor=actor_of(args),
        approve_all=args.approve_all,
        approve=list(dict.fromkeys(args.approve or [])),
        reject=dict(given),
        rejections=[Rejection(plan_id=p, reason=r) for p, r in given],
        return_to=returns_by_plan(args.returns or []),
    )


async def decide_batch(ctx: Context, args: argparse.Namespace) -> int:
    """The general manager's decision on a batch.

    A plan given two ``--reject`` is refused before anything is sent: one of
    its reasons would otherwise be dropped without a word. The batch, told
    every ``--reject`` as given, refuses it too.
    """
    # Another role is refused in the batch's words, before a site is asked
    # for its code (and before the batch is asked anything).
    refusal = decision_role_refusal(_acting_role(args))
    if refusal is not None:
        raise CliError(t("cli.refused", reason=refusal))
    request = decision_of(args)
    if (twice := request.rejected_twice()) is not None:
        reason = t("batch.rejected_twice", plan_id=twice)
        raise CliError(t("cli.refused", reason=reason))
    handle, current = await batch_handle(ctx, args.batch_id)
    if current.closed_empty:
        raise CliError(t("cli.batch_empty_closed", batch_id=current.batch_id))
    if current.decided:
        raise CliError(t("cli.batch_already_decided", batch_id=current.batch_id))
    await _until_gathered(ctx, handle, current)
    status: BatchStatus = await ctx.update(
        handle.execute_update("decide", request, result_type=BatchStatus),
        check=f"certflow batch status {current.batch_id}",
    )
    ctx.say(t("cli.batch_decided"), *batch_lines(status))
    return 0


async def batch_status(ctx: Context, args: argparse.Namespace) -> int:
    """Print the plans of a batch and its decision so far."""
    _, status = await batch_handle(ctx, args.batch_id)
    ctx.say(*batch_lines(status))
    return 0


async def batch_handle(
    ctx: Context, batch_id: str
) -> tuple[WorkflowHandle[Any, Any], BatchStatus]:
    """The workflow of batch ``batch_id``, and its status.

    A batch's workflow id is derived from its batch id. A run of the weekly
    schedule, found by its own id (``scheduled-…``), names the batch it
    started: that batch is the one meant.
    """
    client = await ctx.client()
    handle = client.get_workflow_handle(batch_workflow_id(batch_id))
    status: BatchStatus = await ctx.ask(handle.query("status", result_type=BatchStatus))
    if status.started_batch:
        handle = client.get_workflow_handle(batch_workflow_id(status.started_batch))
        status = await ctx.ask(handle.query("status", result_type=BatchStatus))
    return handle, status


def batch_lines(status: BatchStatus) -> list[str]:
    if status.closed_empty:
        return [t("cli.batch_empty_closed", batch_id=status.batch_id)]
    decided = t("cli.batch_closed") if status.decided else t("cli.batch_open")
    lines = [
        t(
            "cli.batch_status",
            batch_id=status.batch_id,
            count=len(status.plan_ids),
            decided=decided,
        )
    ]
    lines += [f"  {plan_id}" for plan_id in status.plan_ids]
    if status.requested_by:
        lines.append(t("cli.batch_gathered_by", who=_gatherer(status)))
    if status.decided_by:
        who = f"{t('roles.general_manager')} {status.decided_by}"
        lines.append(t("cli.batch_decided_by", who=who))
    for payment in status.joint_payments:
        # What the general manager sends back for the payment to be checked
        # again together, or not at all (one invoice).
        key = "cli.batch_joint_outside" if payment.outside else "cli.batch_joint"
        lines.append(
            t(
                key,
                plans="、".join(payment.plan_ids),
                outside="、".join(payment.outside),
            )
        )
    if status.approved:
        lines.append(t("cli.batch_approved", plans="、".join(status.approved)))
    for plan_id, reason in sorted(status.rejected.items()):
        lines.append(t("cli.batch_rejected", plan_id=plan_id, reason=reason))
        # Where the rejected plan went: back to stage 5-8, or on to wait.
        duties = status.returned.get(plan_id)
        if duties:
            lines.append(t("cli.batch_returned", items=duties_by_party(duties)))
        else:
            lines.append(t("cli.batch_waits"))
    for split in status.split_payments:
        # Not refused (a rejection may have nothing to do with money), but
        # the rejected plans' invoice is no longer theirs alone to correct.
        lines.append(
            t(
                "cli.batch_joint_split",
                approved="、".join(split.approved),
                rejected="、".join(split.rejected),
            )
        )
    return lines


def _gatherer(status: BatchStatus) -> str:
    """Who gathered a batch, as staff read it: role and staff id, or the schedule."""
    if status.requested_by == SCHEDULE:
        return t("cli.batch_gathered_by_schedule")
    role = status.requested_role
    return " ".join(
        part
        for part in (t(f"roles.{role.value}") if role else "", status.requested_by)
        if part
    )


# -- mails that did not reach everyone ----------------------------------------------

# Only admins see the mails that failed and send them again: they fix the
# configuration and restart the worker, which is what makes a resend pass.
NOTICE_ADMINS = frozenset({Role.ADMIN})
# The roles mails go to, those ``notice resend --role`` takes: the
# organisation's (``MAILED_ROLES``), the site and the admins. Candidates and
# evaluators get none.
RESENT_ROLES = tuple(
    r for r in Role if r in MAILED_ROLES or r in (Role.SITE, Role.ADMIN)
)


def _notice_id(text: str) -> int:
    """A mail's number as ``notice failed`` shows it: a whole number from 1 up."""
    number = _whole_number(text, digits=18)  # within bigint
    if number is None or number < 1:
        raise argparse.ArgumentTypeError(t("cli.notice.bad_id", value=shown(text)))
    return number


def _role_names(roles: Sequence[str | Role]) -> str:
    return "、".join(t_or(str(r), f"roles.{Role(r).value}") for r in roles) or "—"


def _not_reached(refused: Sequence[str] | None, attempts: Sequence[Any]) -> list[str]:
    """The refused roles of a mail that no resend has reached since."""
    reached = {
        role
        for attempt in attempts
        if attempt["sent_at"] is not None
        for role in set(attempt["roles"]) - set(attempt["refused_roles"] or [])
    }
    return [role for role in refused or [] if role not in reached]


def _why(row: Any) -> str:
    """Why a mail (or a resend) did not reach everyone, in words for staff."""
    sent = row["sent_at"] is not None
    kind = row["failure_type"]
    if kind is None:  # recorded before the kind was
        return t("cli.notice.why_partly" if sent else "cli.notice.why_unknown")
    if kind == "mail_recipients_refused":
        key = "cli.notice.why_refused_some" if sent else "cli.notice.why_refused"
        return t(key, roles=_role_names(row["refused_roles"] or []))
    if kind == "mail_no_recipients":
        key = "cli.notice.why_no_address_some" if sent else "cli.notice.why_no_address"
        return t(key, roles=_role_names(row["refused_roles"] or []))
    return t_or(t("cli.notice.why_unknown"), f"cli.notice.why_{kind}")


def _whose_mail(row: Any) -> str:
    """The plan of a mail, or its approval batch (whose mails have no plan)."""
    if row["batch_id"]:
        return t("cli.notice.batch", batch_id=row["batch_id"])
    return str(row["plan_id"])


def _resent(row: Any, attempts: Sequence[Any]) -> str:
    if not attempts:
        return "—"
    last = attempts[-1]
    if last["sent_at"] is None and last["failure"] is None:
        return t("cli.notice.resending", count=len(attempts))
    left = _not_reached(row["refused_roles"], attempts)
    if left:
        return t("cli.notice.resent_left", count=len(attempts), roles=_role_names(left))
    return t("cli.notice.resent_all", count=len(attempts))


async def failed_notices(ctx: Context, args: argparse.Namespace) -> int:
    """List the mails that did not reach everyone, and what became of resends."""
    actor_allowed(args, NOTICE_ADMINS, "cli.notice.admin_only")
    pool = await ctx.pool()
    rows = await pool.fetch(
        """
        SELECT id, plan_id, batch_id, template, note, sent_at, failed_at,
            failure, failure_type, refused_roles
        FROM notifications
        WHERE failure IS NOT NULL AND ($1::text IS NULL OR plan_id = $1)
            AND ($2::text IS NULL OR batch_id = $2)
        ORDER BY id
        """,
        args.plan,
        args.batch,
    )
    waiting = await _waiting_notices(pool, args)
    if not rows and not waiting:
        # Trial: a mistyped plan id read as "no mail undelivered".
        if args.plan is not None and not await pool.fetchval(
            "SELECT 1 FROM plans WHERE plan_id = $1", args.plan
        ):
            raise CliError(t("cli.plan_not_found", plan_id=args.plan))
        if args.batch is not None and not await pool.fetchval(
            "SELECT 1 FROM batches WHERE batch_id = $1"
            " UNION ALL SELECT 1 FROM notifications WHERE batch_id = $1",
            args.batch,
        ):
            raise CliError(t("cli.batch_not_found", batch_id=args.batch))
        ctx.say(t("cli.notice.none"))
        return 0
    if rows:
        ctx.say(*await _failed_table(pool, rows))
    if waiting:
        if rows:
            ctx.say("")
        ctx.say(*_waiting_table(waiting))
    return 0


async def _failed_table(pool: Any, rows: Sequence[Any]) -> list[str]:
    """The lines of the mails given up or partly refused, with their resends."""
    attempts: dict[int, list[Any]] = {}
    for attempt in await pool.fetch(
        "SELECT * FROM notification_resends WHERE notification = ANY($1)"
        " ORDER BY attempt",
        [row["id"] for row in rows],
    ):
        attempts.setdefault(attempt["notification"], []).append(attempt)
    lines = table(
        [t(f"cli.notice.{h}") for h in ("id", "whose", "mail", "at", "why", "can")]
        + [t("cli.notice.resent")],
        [
            [
                str(row["id"]),
                _whose_mail(row),
                t_or(row["template"], f"mail.{row['template']}.name"),
                format_cst(when)
                if (when := row["sent_at"] or row["failed_at"])
                else "—",
                _why(row),
                t("cli.list.yes")
                if row["note"] is not None
                else t("cli.notice.not_kept_short"),
                _resent(row, attempts.get(row["id"], [])),
            ]
            for row in rows
        ],
    )
    return lines


async def _waiting_notices(pool: Any, args: argparse.Namespace) -> list[Any]:
    """The mails not sent yet and not given up: each plan's mail being tried.

    Trial: while the mail server was away ``notice failed`` said nothing was
    undelivered. A plan sends its mails in turn, so only the first waiting mail
    of each plan has a row; ``certflow status`` counts the plan's others. A
    row no attempt has failed on nor claims is a mail on its way out.
    """
    rows: list[Any] = await pool.fetch(
        """
        SELECT id, plan_id, batch_id, template, attempts, last_tried_at,
            last_error_type, sending_since
        FROM notifications
        WHERE sent_at IS NULL AND failure IS NULL AND withdrawn_at IS NULL
            AND (attempts IS NOT NULL OR sending_since IS NOT NULL)
            AND ($1::text IS NULL OR plan_id = $1)
            AND ($2::text IS NULL OR batch_id = $2)
        ORDER BY id
        """,
        args.plan,
        args.batch,
    )
    return rows


def _waiting_table(rows: Sequence[Any]) -> list[str]:
    """The lines of the mails waiting to be sent, with their last attempt."""
    body = [
        [
            str(row["id"]),
            _whose_mail(row),
            t_or(row["template"], f"mail.{row['template']}.name"),
            str(row["attempts"] or 0),
            format_cst(row["last_tried_at"]) if row["last_tried_at"] else "—",
            _waits_why(row),
        ]
        for row in rows
    ]
    headers = ["id", "whose", "mail", "attempts", "last_tried", "waits_why"]
    return [
        t("cli.notice.waiting", count=len(rows)),
        *table([t(f"cli.notice.{h}") for h in headers], body),
        t("cli.notice.waiting_after"),
    ]


def _waits_why(row: Any) -> str:
    """Why a mail waits, from its last attempt's error kind, for staff."""
    kind = row["last_error_type"]
    if kind is None:
        return t("cli.notice.waits_sending")
    return t_or(t("cli.notice.waits_other", kind=kind), f"cli.notice.waits_{kind}")


async def resend_notice(ctx: Context, args: argparse.Namespace) -> int:
    """Send a mail again to the roles that did not get it, or to those given."""
    from activities.notify import Mailer, Notifier
    from certflow.activity_models import Notification, ResendOutcome, ResendRequest
    from workflows.resend_mail import ResendMailWorkflow, resend_workflow_id

    actor = actor_allowed(args, NOTICE_ADMINS, "cli.notice.admin_only")
    pool = await ctx.pool()
    number = args.notification
    row = await pool.fetchrow(
        "SELECT note, refused_roles FROM notifications WHERE id = $1", number
    )
    if row is None:
        raise CliError(t("cli.notice.unknown", id=number))
    if row["note"] is None:
        raise CliError(t("cli.notice.not_kept", id=number))
    note = Notification.model_validate(row["note"])
    attempts = await pool.fetch(
        "SELECT * FROM notification_resends WHERE notification = $1 ORDER BY attempt",
        number,
    )
    roles = resend_roles(args, note, _not_reached(row["refused_roles"], attempts))
    notifier = Notifier(ctx.settings, pool, ctx.store, Mailer(ctx.settings.smtp))
    # A mail to its own addresses (a requester told an outcome) goes to them.
    unaddressed = [
        r for r in roles if not note.to and not notifier.addresses(r, note.site_code)
    ]
    if unaddressed:
        raise CliError(t("cli.notice.no_address", roles=_role_names(unaddressed)))

    attempt = max((a["attempt"] for a in attempts), default=0) + 1
    client = await ctx.client()
    try:
        handle = await ctx.answer(
            client.start_workflow(
                ResendMailWorkflow.run,
                ResendRequest(
                    notification=number,
                    attempt=attempt,
                    roles=roles,
                    requested_by=actor.person,
                ),
                # One resend of a mail at a time: a second asked for while the
                # first still waits for the mail server would send it twice.
                id=resend_workflow_id(number),
                task_queue=ctx.settings.temporal.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            )
        )
    except WorkflowAlreadyStartedError:
        raise CliError(t("cli.notice.in_progress", id=number)) from None
    ctx.say(t("cli.notice.started", id=number, roles=_role_names(roles)))
    try:
        outcome: ResendOutcome = await asyncio.wait_for(handle.result(), ctx.wait)
    except TimeoutError:
        raise ConnectionProblem(
            t("cli.notice.no_answer", seconds=f"{ctx.wait:.0f}")
        ) from None
    if not outcome.sent:
        ctx.say(t("cli.notice.refused_again", why=_why(_outcome_row(outcome))))
        return 2
    ctx.say(
        t(
            "cli.notice.sent",
            count=outcome.recipients,
            roles=_role_names(outcome.roles),
        )
    )
    if outcome.refused_roles:
        ctx.say(t("cli.notice.sent_partly", why=_why(_outcome_row(outcome))))
    return 0


def resend_roles(
    args: argparse.Namespace, note: Any, not_reached: list[str]
) -> list[Role]:
    """The roles a resend goes to: those given (of the mail's), else those left."""
    if args.roles:
        roles = [Role(r) for r in dict.fromkeys(args.roles)]
        others = [r for r in roles if r not in note.roles]
        if others:
            raise CliError(
                t(
                    "cli.notice.not_its_role",
                    roles=_role_names(others),
                    its=_role_names(note.roles),
                )
            )
        return roles
    if not not_reached:
        raise CliError(t("cli.notice.reached_all", id=args.notification))
    return [Role(r) for r in not_reached]


def _outcome_row(outcome: Any) -> dict[str, Any]:
    """A resend's outcome in the shape of a row, for ``_why``."""
    return {
        "sent_at": True if outcome.sent else None,
        "failure_type": outcome.failure_type,
        "refused_roles": [r.value for r in outcome.refused_roles],
    }


# -- the training clock ------------------------------------------------------------

# A typo guard: a training session spans a plan's months, not years.
CLOCK_DAYS_MOST = 400


def _clock_days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= CLOCK_DAYS_MOST:
        raise argparse.ArgumentTypeError(
            t("cli.clock.days_range", most=CLOCK_DAYS_MOST, value=shown(text))
        )
    return days


def _calendar_year(text: str) -> int:
    """``calendar show YEAR``: a year of four digits. A longer number (an ID
    number typed in the wrong place) went to the database as it was, which
    refused it with a traceback repeating it whole."""
    year = _whole_number(text, digits=4)
    if year is None or year < 1000:
        raise argparse.ArgumentTypeError(t("cli.calendar_year", value=shown(text)))
    return year


async def show_clock(ctx: Context, args: argparse.Namespace) -> int:
    """Print the clock of the Temporal server: a training one, or the wall clock."""
    from starter.training import training_now

    now = await ctx.answer(training_now(await ctx.client()))
    if now is None:
        ctx.say(t("cli.clock.real", now=format_cst(datetime.now(UTC))))
    else:
        ctx.say(t("cli.clock.training", now=format_cst(now)))
    return 0


async def advance_clock(ctx: Context, args: argparse.Namespace) -> int:
    """Move a training stack's clock forward; timers due on the way fire in order."""
    from starter import training

    actor_allowed(args, frozenset({Role.ADMIN}), "cli.clock.admin_only")
    if (args.days is None) == (args.to is None):
        raise CliError(t("cli.clock.days_or_date"))
    client = await ctx.client()
    before = await ctx.answer(training.training_now(client))
    if before is None:
        raise CliError(
            t("cli.clock.real_refused", address=ctx.settings.temporal.address)
        )
    if args.to is not None:
        target = datetime.combine(args.to, datetime.min.time(), CST)
        if target <= before:
            raise CliError(
                t(
                    "cli.clock.not_forward",
                    now=format_cst(before),
                    target=format_cst(target),
                )
            )
        by = target - before
    else:
        by = timedelta(days=args.days)
    rpc_timeout = timedelta(seconds=ctx.wait)
    try:
        after = await training.advance_clock(client, by, rpc_timeout=rpc_timeout)
    except RPCError as err:
        # The server skips no time while a workflow task is open: a plan whose
        # task keeps failing holds the clock, with the worker running.
        failing = await _plans_failing(ctx, client)
        if failing:
            raise ConnectionProblem(
                t("cli.clock.task_failing", plans="、".join(failing))
            ) from None
        if err.status == RPCStatusCode.DEADLINE_EXCEEDED:
            raise ConnectionProblem(
                t("cli.clock.still_moving", seconds=f"{ctx.wait:.0f}")
            ) from None
        # The test server gave up on the skip itself ("Timeout expired",
        # "transport error"): typically a plan's task waits for a worker that
        # is gone (a worker run by hand and restarted). Regression (trial): a
        # traceback.
        raise ConnectionProblem(t("cli.clock.skip_failed")) from None
    ctx.say(t("cli.clock.advanced", before=format_cst(before), after=format_cst(after)))
    return 0


async def _plans_failing(ctx: Context, client: Client) -> list[str]:
    """The plans on the training server whose workflow task keeps failing.

    Read from the plans the database knows (the server lists no workflows),
    within a few seconds; none when the database cannot tell.
    """
    import asyncpg

    from starter import training

    try:
        async with asyncio.timeout(min(ctx.wait, 15.0)):
            pool = await ctx.pool()
            rows = await pool.fetch(
                "SELECT plan_id, workflow_id FROM plans"
                " WHERE stage <> $1 ORDER BY plan_id",
                Stage.CANCELLED.value,
            )
            return [
                row["plan_id"]
                for row in rows
                if await training.task_failing(client, row["workflow_id"])
            ]
    except (TimeoutError, CliError, OSError, asyncpg.PostgresError):
        return []


# -- calendar ----------------------------------------------------------------------


async def load_calendar(ctx: Context, args: argparse.Namespace) -> int:
    """Store a year's schedule, then wake the plans that waited for it."""
    from activities.calendar import CalendarActivities
    from certflow.calendar import ScheduleError, load_schedule_file

    actor = actor_allowed(args, frozenset({Role.ADMIN}), "cli.admin_only")
    content = read_file(args.file)
    try:
        schedule = load_schedule_file(content, args.file.name)
    except ScheduleError as err:
        ctx.say(t("cli.calendar_refused"), *(f"  {p.render()}" for p in err.problems))
        return 2

    pool = await ctx.pool()
    await CalendarActivities(pool).store_year(
        schedule, loaded_by=actor.person, at=datetime.now(UTC)
    )
    ctx.say(t("cli.calendar_stored", year=schedule.year, source=schedule.source))

    try:
        woken = await _wake_waiting_plans(ctx, schedule.year)
    except (CliError, RPCError):
        ctx.say(t("cli.calendar_recheck"))
        return 0
    ctx.say(
        t("cli.calendar_signalled", count=woken)
        if woken
        else t("cli.calendar_none_waiting")
    )
    return 0


async def _wake_waiting_plans(ctx: Context, year: int) -> int:
    client = await ctx.client()
    query = (
        f"WorkflowType = 'ExamPlanWorkflow' AND ExecutionStatus = 'Running' "
        f"AND {sa.CALENDAR_MISSING.name} = true"
    )
    woken = 0
    async for execution in client.list_workflows(query):
        handle = client.get_workflow_handle(execution.id)
        await ctx.answer(
            handle.signal("calendar_reloaded", CalendarReloaded(years=[year]))
        )
        woken += 1
    return woken


async def show_calendar(ctx: Context, args: argparse.Namespace) -> int:
    """Print a year's holidays and make-up workdays, and where they came from."""
    from activities.calendar import CalendarActivities
    from certflow.calendar import UnknownYear, holiday_periods

    pool = await ctx.pool()
    row = await pool.fetchrow(
        "SELECT loaded_by, loaded_at FROM calendar_years WHERE year = $1", args.year
    )
    calendar = await CalendarActivities(pool).calendar()
    try:
        schedule = calendar.schedule_for(args.year)
    except UnknownYear:
        ctx.say(t("cli.calendar_unknown", year=args.year))
        return 2
    ctx.say(t("cli.calendar_header", year=schedule.year, source=schedule.source))
    if row is not None:
        ctx.say(
            t(
                "cli.calendar_loaded",
                person=row["loaded_by"],
                at=format_cst(row["loaded_at"]),
            )
        )
    periods = holiday_periods(schedule)
    days = sum((last - first).days + 1 for first, last in periods)
    ctx.say(t("cli.calendar_periods", count=len(periods), days=days))
    ctx.say(
        *(
            t("cli.calendar_period", first=first.isoformat(), last=last.isoformat(),
              days=(last - first).days + 1)
            for first, last in periods
        )
    )  # fmt: skip
    ctx.say(t("cli.calendar_makeup", count=len(schedule.makeup_workdays)))
    ctx.say(*_day_lines(schedule.makeup_workdays))
    return 0


def _day_lines(days: Sequence[date], per_line: int = 7) -> list[str]:
    ordered = sorted(days)
    return [
        "  " + "  ".join(d.isoformat() for d in ordered[i : i + per_line])
        for i in range(0, len(ordered), per_line)
    ]


# -- certificates: offline verification and keys -----------------------------------


def trusted_keys(settings: Settings, given: Sequence[Path]) -> KeyRing:
    """Public keys for verification: the flags, else the configured signing keys.

    Each file is a PEM public key or the web service's ``/keys.json`` (all its
    keys). The configured signing key counts only if it exists (a verifying
    machine usually has none); a configured previous public key that is missing
    is an error, since trusting fewer keys than configured would call valid
    ones bad.
    """
    from certflow.certificates import (
        InvalidKeyError,
        KeyRing,
        load_private_key,
        load_public_keys,
    )

    paths = list(given) or list(settings.certificates.previous_public_keys)
    keys = []
    for path in paths:
        try:
            keys += load_public_keys(read_file(path))
        except InvalidKeyError as err:
            raise CliError(t(f"cli.bad_key_{err.kind}", path=path)) from None

    signing = settings.certificates.signing_key_file
    if not given and signing.is_file():
        try:
            keys.append(load_private_key(read_file(signing)).public_key())
        except InvalidKeyError:
            raise CliError(t("cli.bad_signing_key", path=signing)) from None
    return KeyRing.from_public_keys(keys)


# A certificate is some 30 KB; anything this big is not one, and reading it
# whole would cost seconds and gigabytes.
LARGEST_CERTIFICATE = 10 * 2**20


_T = TypeVar("_T")


class VerifyExit(IntEnum):
    """The exit statuses of ``certflow verify``: one per outcome, so a script
    tells a revoked certificate from a forgery without reading Chinese
    (the table is in docs/staff-guide.md)."""

    VALID = 0  # genuine, and checked as far as asked
    USAGE = 2  # arguments or configuration refused, as by every command
    REVOKED = 3
    TAMPERED = 4  # signed data, page or file altered
    UNKNOWN_KEY = 5
    NOT_A_CERTIFICATE = 6
    UNUSABLE_INPUT = 7  # a file, key or status list given cannot be used
    GLYPHS_UNCHECKED = 8  # genuine, but the printed page must be compared by eye
    REVOCATION_UNCHECKED = 9  # genuine, but the status list predates it


_VERDICT_EXITS = {
    "revoked": VerifyExit.REVOKED,
    "tampered": VerifyExit.TAMPERED,
    "unknown_key": VerifyExit.UNKNOWN_KEY,
    "not_a_certificate": VerifyExit.NOT_A_CERTIFICATE,
}


async def verify_certificate(ctx: Context, args: argparse.Namespace) -> int:
    """Check a certificate PDF offline; the exit status is a :class:`VerifyExit`."""
    from certflow.certificates import StatusListError, verify_pdf

    pdf = _given(lambda: existing_file(args.file, folder="cli.verify_is_folder"))
    size = pdf.stat().st_size
    if size == 0:  # a download or a copy that never finished
        raise CliError(
            t("cli.verify_empty", path=pdf), status=VerifyExit.NOT_A_CERTIFICATE
        )
    if size > LARGEST_CERTIFICATE:
        raise CliError(
            t("cli.verify_too_large", path=pdf, size=f"{size / 2**20:.1f}",
              limit=LARGEST_CERTIFICATE // 2**20),
            status=VerifyExit.NOT_A_CERTIFICATE,
        )  # fmt: skip
    # pypdf and fontTools (reading a damaged embedded font) warn in English
    # about damaged files; the verdict says it in Chinese.
    for library in ("pypdf", "fontTools"):
        logging.getLogger(library).setLevel(logging.ERROR)
    keyring = _given(lambda: trusted_keys(ctx.settings, args.public_key))
    if not keyring.keys:
        raise CliError(t("cli.verify_no_keys"), status=VerifyExit.UNUSABLE_INPUT)
    status_list = _given(lambda: read_status_list(args.status_list))
    content = _given(lambda: read_file(pdf))
    try:
        result = verify_pdf(content, keyring, status_list)
    except StatusListError as err:
        raise CliError(
            untrusted_status_list(err, args.status_list),
            status=VerifyExit.UNUSABLE_INPUT,
        ) from None
    ctx.say(result.message, *_revocation_lines(result, status_list))
    if result.number:
        ctx.say(t("cli.verify_number", number=result.number))
    if result.data is not None:
        ctx.say(*_data_lines(result))
    return _verify_exit(result)


def _given(read: Callable[[], _T]) -> _T:
    """What ``read`` makes of a file given to ``verify``; a file it refuses is
    an unusable input, not a verdict on the certificate."""
    try:
        return read()
    except CliError as err:
        raise CliError(err.message, status=VerifyExit.UNUSABLE_INPUT) from None


def _verify_exit(result: VerificationResult) -> VerifyExit:
    """A verdict against the certificate comes first; then what was left
    unchecked of a genuine one (its revocation before its glyphs)."""
    from certflow.certificates import RevocationCheck

    if result.status.value in _VERDICT_EXITS:
        return _VERDICT_EXITS[result.status.value]
    if result.revocation is RevocationCheck.LIST_PREDATES:
        return VerifyExit.REVOCATION_UNCHECKED
    if not result.glyphs_checked:
        return VerifyExit.GLYPHS_UNCHECKED
    return VerifyExit.VALID


def _revocation_lines(
    result: VerificationResult, status_list: SignedStatusList | None
) -> list[str]:
    """What the verdict rests on as to revocation: no list, a list too old to
    know the certificate, or the list's date (and a warning past its age)."""
    from certflow.certificates import (
        STATUS_LIST_MAX_AGE,
        RevocationCheck,
        VerificationStatus,
    )

    if result.data is None:
        return []
    if status_list is None:
        if result.status is VerificationStatus.VALID:
            # Valid means "genuine" here: whether it was revoked since is unknown.
            return [t("cli.verify_revocation_unchecked")]
        return []
    listed = status_list.status_list
    at = f"{listed.issued_at.astimezone(CST):%Y-%m-%d %H:%M}"
    if result.revocation is RevocationCheck.LIST_PREDATES:
        return [
            t(
                "cli.verify_list_predates",
                at=at,
                issued_on=result.data.issued_on.isoformat(),
            )
        ]
    # A list says nothing of revocations after it was published.
    lines = [t("cli.verify_revocation_as_of", at=at)]
    if listed.out_of_date(datetime.now(CST)):
        lines.append(
            t("cli.verify_list_out_of_date", at=at, days=STATUS_LIST_MAX_AGE.days)
        )
    return lines


def _data_lines(result: VerificationResult) -> list[str]:
    """The signed data, for a reader to compare with the page.

    Where the glyphs were compared, the page shows the signed data, as the
    check proved: the holder is masked, the output being no place to copy
    them from. Where they were not, the page could show other characters
    under the same text, and only a reader comparing each printed row with
    the signed one would see it: every row is printed whole, as the page
    prints it. The verifier holds the whole PDF, so nothing is given away.
    """
    from certflow.certificates import printed_fields

    data = result.data
    assert data is not None
    if not result.glyphs_checked:
        return [
            glyphs_unchecked(),
            t("cli.verify_compare_printed"),
            *(
                t("cli.verify_printed_field", label=label, value=value)
                for label, value in printed_fields(data)
            ),
        ]
    return [
        t(
            "cli.verify_holder",
            name=name_initial(data.candidate_name),
            id_type=data.id_type,
            id_number=mask_id_number(data.id_number),
        ),
        t(
            "cli.verify_details",
            certificate=data.certificate,
            level=data.level.chinese,
            module_code=data.module_code,
            module_name=data.module_name,
            plan_id=data.plan_id,
            issued_on=data.issued_on.isoformat(),
        ),
    ]


def read_status_list(path: Path | None) -> SignedStatusList | None:
    """The signed list ``--status-list`` names (the web service's
    ``/status-list.json``), or ``None`` when none is given."""
    from certflow.certificates import SignedStatusList

    if path is None:
        return None
    # A byte order mark, as an editor on Windows saves the file, is no content.
    content = read_file(path).removeprefix(codecs.BOM_UTF8)
    if is_blank(content):
        raise CliError(t("cli.status_list_empty", path=path))
    try:
        return SignedStatusList.model_validate_json(content)
    except ValueError:
        raise CliError(t("cli.status_list_unreadable", path=path)) from None


def untrusted_status_list(err: StatusListError, path: Path) -> str:
    """Why a status list is not trusted: a key this machine lacks, or altered.

    A list signed by a key the verifier does not have is most likely signed by
    a newer key after a rotation: its id (no personal data) tells which.
    """
    from certflow.certificates import Verdict

    if err.verdict is Verdict.UNKNOWN_KEY:
        return t("cli.status_list_unknown_key", path=path, key_id=err.key_id)
    return t("cli.status_list_untrusted", path=path)


def glyphs_unchecked() -> str:
    """Why the glyphs were not compared: a configured font that is not there,
    or (the usual case) this machine lacks the face the certificate was drawn in.

    A font named by ``CERTFLOW_CJK_FONT`` that is missing is a warning, not an
    error: the signature and the page were checked all the same, as on a
    machine with no certificate font at all.
    """
    from certflow.certificates import FONT_ENV

    configured = os.environ.get(FONT_ENV)
    if configured and not Path(configured).is_file():
        return t("cli.verify_font_missing", variable=FONT_ENV, path=configured)
    return t("cli.verify_glyphs_unchecked")


async def create_keys(ctx: Context, args: argparse.Namespace) -> int:
    """Create a signing key pair, never replacing an existing key file.

    ``--out`` names the private key's file: one ending in ``/`` is a folder.
    """
    if args.out is not None and names_folder(args.out):
        raise CliError(t("cli.keys_out_is_folder", path=Path(args.out)))
    private_path = Path(args.out or ctx.settings.certificates.signing_key_file)
    ctx.say(write_keypair(private_path))
    return 0


def write_keypair(private_path: Path) -> str:
    """Write a new key pair (public key beside it as ``.pub.pem``); say where.

    Neither file may exist: an old public key is as precious as its private
    key, since every certificate it signed is checked with it. Moving the old
    private key aside and creating a new pair at the same path must not
    replace it. Both files are created exclusively; if the second cannot be,
    the first is removed, so a refusal leaves nothing behind.
    """
    from certflow.certificates import generate_keypair, key_id, load_public_key

    if private_path.is_dir():
        raise CliError(t("cli.keys_out_is_folder", path=private_path))
    if private_path.name.lower().endswith(".pub.pem"):
        # A private key under a public key's name would be handed out as one.
        raise CliError(t("cli.keys_out_is_public", path=private_path))
    public_path = private_path.with_name(private_path.stem + ".pub.pem")
    refusals = {private_path: "cli.keys_exists", public_path: "cli.keys_public_exists"}
    for path, refusal in refusals.items():
        if path.exists() or path.is_symlink():
            raise CliError(t(refusal, path=path))
    private_pem, public_pem = generate_keypair()
    # Created with owner-only permissions from the start, never widened later.
    _create_key_file(private_path, private_pem, refusals[private_path])
    try:
        _create_key_file(public_path, public_pem, refusals[public_path])
    except BaseException:
        private_path.unlink()
        raise
    return t(
        "cli.keys_created",
        private=private_path,
        public=public_path,
        key_id=key_id(load_public_key(public_pem)),
    )


def _create_key_file(path: Path, pem: bytes, refusal: str) -> None:
    """Create one key file; one made meanwhile, or a folder that cannot be
    written to, is refused in words."""
    try:
        create_private(path, pem)
    except FileExistsError:
        raise CliError(t(refusal, path=path)) from None
    except OSError as err:
        if err.errno in DISK_FULL:
            raise CliError(t("cli.keys_disk_full", path=path)) from None
        raise CliError(t("cli.keys_unwritable", path=path)) from None


# -- the parser --------------------------------------------------------------------


def out_argument(text: str, *, empty: str = "cli.out_empty") -> str:
    """``--out``: a path where a file is written, as typed (a final ``/`` says
    a folder). An empty one is refused (it wrote into the current folder),
    in the words ``empty`` names: ``keys create`` asks for a file, as a
    folder is no key file."""
    if not text.strip():
        raise argparse.ArgumentTypeError(t(empty))
    return text


def _positive_seconds(text: str) -> float:
    """``--wait``: a number of seconds above zero."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(t("cli.bad_wait", value=shown(text)))
    return seconds


def _glossary() -> dict[str, str]:
    """The codes a help may list ({roles}, {stages}...), each with its name."""
    return {
        "roles": named_codes((r.value for r in Role), "roles."),
        "duties": named_codes((d.value for d in SUBMISSION_DUTIES), "duties."),
        "redo_duties": redo_duty_codes(),
        "fields": named_codes(SCORE_FIELDS, "cli.fields."),
        "stages": named_codes((s.value for s in Stage), "stages."),
        "kinds": named_codes((k.value for k in FETCHABLE_KINDS), "document_kinds."),
        "seconds": f"{DEFAULT_WAIT:.0f}",
        "text_limit": str(PLAN_TEXT_MAX_LENGTH),
        "code_limit": str(PLAN_CODE_MAX_LENGTH),
        **limits(),
    }


def _general_flags(
    parser: argparse.ArgumentParser, *, suppress: bool, wait: bool = True
) -> None:
    """``--config`` and ``--wait``: on the command and, suppressed, its subcommands.

    ``wait`` false leaves ``--wait`` out, for commands that ask no server.
    """
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        default=argparse.SUPPRESS if suppress else None,
        help=argument_help("common", "config"),
    )
    if not wait:
        return
    # Not given before the subcommand, None (``parse`` makes it the default),
    # so that a tool with a default of its own (``revoke``) can tell.
    parser.add_argument(
        "--wait",
        type=_positive_seconds,
        default=argparse.SUPPRESS if suppress else None,
        metavar="SECONDS",
        help=argument_help("common", "wait", seconds=f"{DEFAULT_WAIT:.0f}"),
    )


def _actor_flags(
    parser: argparse.ArgumentParser, *, suppress: bool, site: bool = True
) -> None:
    """``--as``, ``--person`` and (``site``) ``--site``: who acts.

    ``site`` false leaves ``--site`` out, for ``list``, whose own ``--site``
    after its name picks the plans listed.
    """

    # On subcommands the flags default to SUPPRESS, so a value given before the
    # subcommand (or from the environment) is not overwritten by a blank one.
    def default(env: str) -> str | None:
        return argparse.SUPPRESS if suppress else env_value(env)

    glossary = _glossary()
    parser.add_argument(
        "--as",
        dest="role",
        action=RoleAction,
        metavar="ROLE",
        default=default(ROLE_ENV),
        help=argument_help("common", "as", **glossary),
    )
    parser.add_argument(
        "--person",
        type=staff_id_as_typed,
        default=default(PERSON_ENV),
        help=argument_help("common", "person"),
    )
    if not site:
        return
    parser.add_argument(
        "--site",
        type=code_argument,
        default=default(SITE_ENV),
        metavar="SITE_CODE",
        help=argument_help("common", "site"),
    )


Handler = Callable[[Context, argparse.Namespace], Awaitable[int]]


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the whole ``certflow`` command."""
    glossary = _glossary()
    parser = StaffArgumentParser(prog="certflow", description=about("certflow"))
    _general_flags(parser, suppress=False)
    _actor_flags(parser, suppress=False)
    # The same flags after the subcommand: ``certflow status P --wait 5``.
    actor = StaffArgumentParser(add_help=False)
    _general_flags(actor, suppress=True)
    _actor_flags(actor, suppress=True)
    # Offline commands (verify, keys create) read files only: no server to wait
    # for, nobody acting.
    offline = StaffArgumentParser(add_help=False)
    _general_flags(offline, suppress=True, wait=False)
    # ``list`` takes who acts after its name too, but its own ``--site`` picks
    # the plans listed: the acting site is given before ``list``.
    lister = StaffArgumentParser(add_help=False)
    _general_flags(lister, suppress=True)
    _actor_flags(lister, suppress=True, site=False)

    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    groups: dict[str, argparse._SubParsersAction[StaffArgumentParser]] = {}

    def group(name: str) -> argparse._SubParsersAction[StaffArgumentParser]:
        if name not in groups:
            text = about(name)
            sub = commands.add_parser(name, help=text, description=text)
            groups[name] = sub.add_subparsers(
                dest=f"{name}_command", required=True, metavar="COMMAND"
            )
        return groups[name]

    def leaf(
        path: tuple[str, ...],
        handler: Handler,
        *,
        parent: StaffArgumentParser = actor,
    ) -> tuple[argparse.ArgumentParser, Callable[[str], str]]:
        """A subcommand's parser, and the help of its arguments by name.

        ``parent`` holds the flags the command takes after its name: who acts
        and how long to wait (the default), only the wait, or only the config.
        """
        key = command_key(path)
        where = commands if len(path) == 1 else group(path[0])
        text = about(key)
        sub = where.add_parser(
            path[-1],
            help=text,
            description=text,
            parents=[parent],
        )
        sub.set_defaults(handler=handler)
        return sub, lambda name: argument_help(key, name, **glossary)

    start, helps = leaf(("plan", "start"), start_plan)
    start.add_argument(
        "--from-file", type=Path, metavar="FILE", help=helps("from_file")
    )
    for name, flag in _PLAN_FLAGS.items():
        start.add_argument(
            flag,
            dest=name,
            type=_day if name == "exam_end_date" else str,
            help=helps(flag.lstrip("-").replace("-", "_")),
        )
    # "extend": repeated flags add up, and one flag may name several ids.
    start.add_argument(
        "--evaluator",
        action="extend",
        nargs="+",
        default=[],
        metavar="STAFF_ID",
        help=helps("evaluator"),
    )
    start.add_argument("--force", action="store_true", help=helps("force"))

    for spec in PLAN_ACTIONS:
        sub, helps = leaf(spec.command, run_plan_action)
        spec.add_arguments(sub, helps)
        sub.set_defaults(plan_action=spec)

    record, helps = leaf(("plan", "history"), plan_record)
    _positional_code(record, "plan_id", helps)
    # "extend": a repeated flag adds to the actions it names.
    record.add_argument(
        "--action",
        dest="record_actions",
        action="extend",
        nargs="+",
        default=[],
        type=record_action,
        metavar="ACTION",
        help=helps("action"),
    )

    shown, helps = leaf(("correction", "show"), correction_show)
    _positional_code(shown, "plan_id", helps)
    shown.add_argument(
        "request_id",
        nargs="?",
        type=_request_id,
        metavar="REQUEST_ID",
        help=helps("request_id"),
    )

    history, helps = leaf(("correction", "history"), correction_history)
    _positional_code(history, "plan_id", helps)
    # By position, or by --admission as ``correction submit`` takes it.
    history.add_argument(
        "admission",
        nargs="?",
        type=admission_argument,
        metavar="ADMISSION_NUMBER",
        help=helps("admission"),
    )
    history.add_argument(
        "--admission",
        dest="admission_flag",
        type=admission_argument,
        metavar="ADMISSION_NUMBER",
        help=helps("admission_flag"),
    )

    gather, helps = leaf(("batch", "gather"), gather_batch)
    gather.add_argument("--batch-id", type=code_argument, help=helps("batch_id"))
    decide, helps = leaf(("batch", "decide"), decide_batch)
    _batch_argument(decide, helps)
    verdict = decide.add_mutually_exclusive_group()
    verdict.add_argument(
        "--approve-all", action="store_true", help=helps("approve_all")
    )
    # "extend": a repeated flag adds to the plans it names.
    for where, flag, dest, parse, metavar in (
        (verdict, "--approve", "approve", code_argument, "PLAN_ID"),
        (decide, "--reject", "reject", _rejection, "PLAN_ID=REASON"),
        (decide, "--return", "returns", _return, "PLAN_ID=DUTY[,DUTY...]"),
    ):
        where.add_argument(
            flag,
            dest=dest,
            action="extend",
            nargs="+",
            type=parse,
            metavar=metavar,
            help=helps(flag.lstrip("-")),
        )
    batch, helps = leaf(("batch", "status"), batch_status)
    _batch_argument(batch, helps)

    details, helps = leaf(("invoice-details",), show_invoice_details)
    _positional_code(details, "plan_id", helps)

    documents, helps = leaf(("document", "list"), list_documents)
    _positional_code(documents, "plan_id", helps)
    fetch, helps = leaf(("document", "get"), get_document)
    _positional_code(fetch, "plan_id", helps)
    fetch.add_argument("kind", type=kind_argument, metavar="KIND", help=helps("kind"))
    fetch.add_argument(
        "--version", type=version_argument, metavar="N", help=helps("version")
    )
    fetch.add_argument("--out", type=out_argument, metavar="PATH", help=helps("out"))
    fetch.add_argument("--overwrite", action="store_true", help=helps("overwrite"))

    status, helps = leaf(("status",), show_status)
    _positional_code(status, "plan_id", helps)
    status.add_argument("--json", action="store_true", help=helps("json"))

    listing, helps = leaf(("list",), list_plans, parent=lister)
    listing.add_argument(
        "--stage",
        choices=[s.value for s in Stage],
        metavar="STAGE",
        help=helps("stage"),
    )
    listing.add_argument("--overdue", action="store_true", help=helps("overdue"))
    listing.add_argument(
        "--site",
        dest="filter_site",
        type=code_argument,
        metavar="SITE_CODE",
        help=helps("site"),
    )
    listing.add_argument(
        "--owed-by",
        type=role_argument(),
        metavar="ROLE",
        help=helps("owed_by"),
    )

    failed, helps = leaf(("notice", "failed"), failed_notices)
    # A mail is a plan's or an approval batch's (those have no plan): one or
    # the other selects, and they are different codes, so two flags.
    whose = failed.add_mutually_exclusive_group()
    whose.add_argument(
        "--plan", type=code_argument, metavar="PLAN_ID", help=helps("plan")
    )
    whose.add_argument(
        "--batch", type=_batch_code, metavar="BATCH_ID", help=helps("batch")
    )
    resend, helps = leaf(("notice", "resend"), resend_notice)
    resend.add_argument("notification", type=_notice_id, metavar="ID", help=helps("id"))
    resend.add_argument(
        "--role",
        dest="roles",
        action="extend",
        nargs="+",
        type=role_argument(RESENT_ROLES),
        metavar="ROLE",
        # Lists the roles taken, not every role.
        help=argument_help("notice_resend", "role", roles=role_choices(RESENT_ROLES)),
    )

    load, helps = leaf(("calendar", "load"), load_calendar)
    load.add_argument("file", type=Path, metavar="FILE", help=helps("file"))
    shown, helps = leaf(("calendar", "show"), show_calendar)
    shown.add_argument("year", type=_calendar_year, metavar="YEAR", help=helps("year"))

    leaf(("clock", "show"), show_clock)
    advance, helps = leaf(("clock", "advance"), advance_clock)
    advance.add_argument(
        "days", nargs="?", type=_clock_days, metavar="DAYS", help=helps("days")
    )
    advance.add_argument("--to", type=_day, metavar="YYYY-MM-DD", help=helps("to"))

    verify, helps = leaf(("verify",), verify_certificate, parent=offline)
    verify.add_argument("file", type=Path, metavar="PDF", help=helps("file"))
    # One key per flag: with nargs the flag swallowed the certificate file.
    verify.add_argument(
        "--public-key",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help=helps("public_key"),
    )
    verify.add_argument(
        "--status-list", type=Path, metavar="JSON", help=helps("status_list")
    )
    keys, helps = leaf(("keys", "create"), create_keys, parent=offline)
    keys.add_argument(
        "--out",
        type=functools.partial(out_argument, empty="cli.key_out_empty"),
        metavar="PEM",
        help=helps("out"),
    )

    for name in DELEGATES:
        delegate = commands.add_parser(name, help=about(name), add_help=False)
        delegate.set_defaults(delegate=name)
    return parser


def command_key(path: Sequence[str]) -> str:
    """The help catalogue's table of a command: ``plan start`` is ``plan_start``."""
    return "_".join(path).replace("-", "_")


# The tools with their own parsers, which ``certflow NAME ...`` hands over to.
DELEGATES = ("stack", "mail", "mailbox", "web", "revoke")
_VALUE_FLAGS = {"--config", "--wait", "--as", "--person", "--site"}
# The commands that act for nobody (they read files only).
_OFFLINE = ("verify", "keys")
_ACTOR_FLAGS = ("--as", "--person", "--site")


def _command_at(argv: Sequence[str]) -> int | None:
    """Where the command's name is in ``argv``: the first word that is no
    flag nor a flag's value (``--as admin verify``: 2); None if none is."""
    return next(
        (
            index
            for index, token in enumerate(argv)
            if not token.startswith("-")
            and (index == 0 or argv[index - 1] not in _VALUE_FLAGS)
        ),
        None,
    )


def _offline_without_actor(argv: list[str]) -> list[str]:
    """``argv`` without who acts, where it is named after an offline command.

    Named before the command it is taken and, nobody acting, ignored; after
    it, ``verify --as admin --public-key K C.pdf`` read ``admin`` as the
    certificate file. Left out rather than taken as hidden options, which
    would make ``--p`` (``--public-key``) ambiguous with ``--person``.
    """
    command = _command_at(argv)
    if command is None or argv[command] not in _OFFLINE:
        return argv
    kept, skip = argv[: command + 1], False
    for index, token in enumerate(argv[command + 1 :], start=command + 1):
        if token == "--":  # what follows is files, whatever their names
            return kept + argv[index:]
        if skip:
            skip = False
        elif token in _ACTOR_FLAGS:
            skip = True
        elif not token.startswith(tuple(f"{flag}=" for flag in _ACTOR_FLAGS)):
            kept.append(token)
    return kept


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """Parse the command line; for ``stack`` and ``mail`` also return their own.

    Those two keep their own parsers, so everything after their name is
    handed to them untouched.
    """
    parser = build_parser()
    argv = _offline_without_actor(list(argv))
    command = _command_at(argv)
    if command is not None and argv[command] in DELEGATES:
        # ``wait`` stays None unless given: ``revoke`` has its own default.
        args = parser.parse_args(argv[: command + 1])
        return args, argv[command + 1 :]
    args = parser.parse_args(argv)
    if args.wait is None:
        args.wait = DEFAULT_WAIT
    return args, []


def _delegate(
    name: str, rest: list[str], globals_: argparse.Namespace | None = None
) -> int:
    """Hand the rest of the command line to a tool with its own parser.

    A ``--config`` given before the tool's name reaches it through
    ``CERTFLOW_CONFIG``, which every tool reads.
    """
    config = getattr(globals_, "config", None) if globals_ is not None else None
    before = os.environ.get(CONFIG_ENV)
    if config is not None:
        os.environ[CONFIG_ENV] = str(config)
    try:
        return _run_tool(name, rest, globals_)
    finally:  # tests run tools in-process: leave the environment as it was
        if before is None:
            os.environ.pop(CONFIG_ENV, None)
        else:
            os.environ[CONFIG_ENV] = before


CONFIG_ENV = "CERTFLOW_CONFIG"


def _run_tool(name: str, rest: list[str], globals_: argparse.Namespace | None) -> int:
    if name == "stack":
        from starter.stack import main as stack_main

        return stack_main(rest)
    given = globals_ or argparse.Namespace()
    acting = {
        "role": getattr(given, "role", None),
        "person": getattr(given, "person", None),
    }
    if name == "mailbox":
        from starter.mailbox_cli import main as mailbox_main

        return mailbox_main(rest, **acting)
    if name == "web":
        from web.app import main as web_main

        return web_main(rest)
    if name == "revoke":
        return revoke_main(
            rest,
            **acting,
            site=getattr(given, "site", None),
            wait=getattr(given, "wait", None),
        )
    from starter.smtp_sink import main as mail_main

    return mail_main(rest)


def acting_flags(
    parser: argparse.ArgumentParser,
    *,
    role: str | None,
    person: str | None,
    roles: Sequence[Role],
    site: str | None = None,
) -> None:
    """``--as ROLE``, ``--person ID`` and ``--site CODE`` on a tool that has
    its own parser.

    They mean what they mean everywhere in ``certflow``: who is acting. Given
    before the tool's name they arrive as ``role``, ``person`` and ``site``;
    the environment variables come next.
    """
    parser.add_argument(
        "--as",
        dest="role",
        action=RoleAction,
        metavar="ROLE",
        default=role or env_value(ROLE_ENV),
        help=argument_help("common", "as", roles=role_choices(roles)),
    )
    parser.add_argument(
        "--person",
        type=staff_id_as_typed,
        default=person or env_value(PERSON_ENV),
        help=argument_help("common", "person"),
    )
    # Taken as everywhere in certflow, before or after the tool's name; the
    # tool then refuses a role it does not serve, not the flag.
    parser.add_argument(
        "--site",
        type=code_argument,
        default=site or env_value(SITE_ENV),
        metavar="SITE_CODE",
        help=argument_help("common", "site"),
    )


# Who may revoke a certificate: the department that issues them, and admins.
REVOKING_ROLES = (Role.TECH_DEPT, Role.ADMIN)


def revoke_main(
    argv: Sequence[str],
    *,
    role: str | None = None,
    person: str | None = None,
    site: str | None = None,
    wait: float | None = None,
) -> int:
    """Revoke a certificate: NUMBER --reason TEXT [--date YYYY-MM-DD].

    Only the tech dept and admins revoke (--as, before or after 'revoke');
    the date may not be in the future. ``--wait`` (before or after
    'revoke') bounds each call to Temporal; without it, the short waits of
    a tool that needs only PostgreSQL (``STACK_CLOCK_WAIT``, ``TEMPORAL_WAIT``).
    """
    from activities.revocation import RevocationError, revoke, untold
    from starter.revocation_news import TEMPORAL_WAIT, tell_revocation

    parser = StaffArgumentParser(prog="certflow revoke", description=about("revoke"))
    parser.add_argument(
        "number",
        metavar="NUMBER",
        type=certificate_number_argument,
        help=argument_help("revoke", "number"),
    )
    parser.add_argument(
        "--reason",
        type=public_reason_argument,
        required=True,
        help=argument_help("revoke", "reason", **limits()),
    )
    parser.add_argument("--date", type=_day, help=argument_help("revoke", "date"))
    acting_flags(parser, role=role, person=person, site=site, roles=REVOKING_ROLES)
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help=argument_help("common", "config")
    )
    parser.add_argument(
        "--wait",
        type=_positive_seconds,
        default=wait,
        metavar="SECONDS",
        help=argument_help(
            "revoke",
            "wait",
            clock=f"{STACK_CLOCK_WAIT:.0f}",
            mail=f"{TEMPORAL_WAIT:.0f}",
        ),
    )
    args = parser.parse_args(list(argv))
    if not args.person:
        parser.error(t("cli.revoke_person"))
    if (refusal := person_refusal(args.role, args.person)) is not None:
        parser.error(refusal)
    if args.role not in REVOKING_ROLES:
        allowed = "、".join(t(f"roles.{r.value}") for r in REVOKING_ROLES)
        print(t("cli.revoke_role", roles=allowed))
        return 2
    try:
        settings = Settings.load(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2

    number = args.number

    async def _run() -> int:
        client = await stack_client(settings, args.wait)
        # A training stack's certificates are dated on its clock, ahead of the
        # wall clock: "today" and "not in the future" are read on it too.
        today = cst_date(await stack_now(client, args.wait))
        if args.date is not None and args.date > today:
            print(
                t(
                    "cli.revoke_future",
                    date=args.date.isoformat(),
                    today=today.isoformat(),
                )
            )
            return 2
        try:
            pool = await open_database(settings.database_url, max_size=1)
        except ConnectionProblem as err:
            print(err.message, file=sys.stderr)
            return 1
        try:
            revoked = await revoke(
                pool,
                number,
                reason=args.reason,
                revoked_on=args.date or today,
                by=args.person,
                role=Role(args.role),
            )
            print(t("cli.revoked", number=number))
            # Recorded: the mail follows it, or is recorded not sent.
            unsent = await tell_revocation(
                client, settings, pool, revoked, wait=args.wait
            )
        except RevocationError as refusal:
            print(str(refusal))
            # Revoked before by a tool stopped before its mail started: the
            # mail goes now (revoking again is the one thing staff would do).
            left = await untold(pool, number)
            if left is not None:
                unsent = await tell_revocation(
                    client, settings, pool, left, wait=args.wait
                )
                _said_told(unsent)
            return 2
        finally:
            await pool.close()
        _said_told(unsent)
        return 0

    return asyncio.run(_run())


def _said_told(unsent: int | None) -> None:
    """Whether a revocation's mail is on its way, or recorded not sent."""
    if unsent is None:
        print(t("cli.revoke_told"))
    else:
        print(t("cli.revoke_not_told", id=unsent))


async def stack_client(settings: Settings, wait: float | None = None) -> Client | None:
    """A client of the configured Temporal server, for tools that need only
    PostgreSQL; None when none answers within ``wait`` seconds (default a
    few: a revocation must not wait for Temporal)."""
    from worker import connect

    try:
        return await asyncio.wait_for(connect(settings), wait or STACK_CLOCK_WAIT)
    except (TimeoutError, RuntimeError, RPCError, OSError):
        return None


async def stack_now(client: Client | None, wait: float | None = None) -> datetime:
    """Now on the clock of the Temporal server ``client`` talks to.

    A training stack answers with its clock; any other server, or none
    (``client`` None, or no answer within ``wait`` seconds, default a few),
    means the wall clock.
    """
    from starter.training import training_now

    if client is None:
        return datetime.now(UTC)
    try:
        now = await asyncio.wait_for(training_now(client), wait or STACK_CLOCK_WAIT)
    except (TimeoutError, RuntimeError, RPCError, OSError):
        return datetime.now(UTC)
    return now or datetime.now(UTC)


STACK_CLOCK_WAIT = 5.0


# -- entry points ------------------------------------------------------------------


async def run(
    argv: Sequence[str],
    *,
    settings: Settings | None = None,
    client: Client | None = None,
    out: TextIO | None = None,
) -> int:
    """Run one ``certflow`` command and return its exit status.

    Tests pass their own ``settings`` and ``client``; otherwise the configuration
    file is read and a client connects to the configured Temporal address.
    """
    # What is typed is masked in what is printed, and hidden characters
    # shown: see starter/echo.py.
    with safe_echo(argv) as typed:
        stream = echoing(out, typed) if out is not None else None
        status, _ = await _run(argv, settings=settings, client=client, out=stream)
    return status


async def _run(
    argv: Sequence[str],
    *,
    settings: Settings | None = None,
    client: Client | None = None,
    out: TextIO | None = None,
) -> tuple[int, bool]:
    """Run one command: its exit status, and whether it connected to Temporal."""
    try:
        args, rest = parse(argv)
    except SystemExit as exit:
        return int(exit.code or 0), False
    stream = out or sys.stdout
    if getattr(args, "delegate", None):
        return await asyncio.to_thread(_delegate, args.delegate, rest, args), False

    try:
        settings = settings or Settings.load(args.config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 2, False
    ctx = Context(
        settings=settings,
        out=stream,
        wait=args.wait,
        given_client=client,
    )
    try:
        return await _reported(ctx, args), ctx.connected
    except BrokenPipeError:  # the reader of the output went away: see ``main``
        return BROKEN_PIPE, ctx.connected
    finally:
        await ctx.close()


async def _reported(ctx: Context, args: argparse.Namespace) -> int:
    """Run the handler, turning every expected failure into a reason and a status."""
    try:
        status: int = await args.handler(ctx, args)
        return status
    except CliError as err:
        print(err.message, file=sys.stderr if err.status == 1 else ctx.out)
        return err.status
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        reason = getattr(cause, "message", None) or str(cause or err)
        ctx.say(t("cli.refused", reason=reason))
        return 2
    except WorkflowFailureError as err:
        ctx.say(t("cli.refused", reason=str(err.cause or err)))
        return 2
    except ValidationError as err:
        # Inputs are left out: they may hold a requester's name.
        detail = "；".join(explain(err, _input_label(args)))
        ctx.say(t("cli.bad_argument", detail=detail))
        return 2
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            if getattr(args, "batch_id", None):
                ctx.say(t("cli.batch_not_found", batch_id=args.batch_id))
            else:
                ctx.say(t("cli.plan_not_found", plan_id=getattr(args, "plan_id", "")))
            return 2
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            print(ctx.unreachable().message, file=sys.stderr)
            return 1
        # Any other refusal of the server (its words are English): said in
        # Chinese with its code, as a fault that may pass.
        print(t("cli.server_refused", code=int(err.status)), file=sys.stderr)
        return 1


# The status a shell shows for a command a closed pipe stopped (128 + SIGPIPE),
# as for ``yes | head -1``.
BROKEN_PIPE = 141


def _input_label(args: argparse.Namespace) -> Callable[[tuple[int | str, ...]], str]:
    """Name a refused request field as staff typed it: the flag, else its label."""
    spec: PlanAction | None = getattr(args, "plan_action", None)
    flags = {
        arg.target: arg.flag if arg.flag.startswith("-") else arg.flag.upper()
        for arg in ((*spec.arguments, *spec.exclusive) if spec else ())
        if arg.target
    }

    def label(location: tuple[int | str, ...]) -> str:
        name = str(location[0]) if location else ""
        if name in flags:
            return flags[name]
        code = ".".join(str(part) for part in location)  # a field code
        return t_or(code, f"cli.fields.{name}", f"cli.plan_fields.{name}")

    return label


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``certflow`` command."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        # An ID number typed in place of anything else is never repeated whole
        # by a message, of the tool or of a tool it hands over to; nor is a
        # character that hides itself or turns the line around.
        with safe_echo(arguments):
            status, connected = _main(arguments)
    except BrokenPipeError:
        status, connected = BROKEN_PIPE, False
    status = _flushed(status)
    # Only as the program itself (no argv given): a caller in the same process
    # (a test) goes on running, and its interpreter does not end here.
    if connected and argv is None:
        # The Temporal client's native (Rust) runtime keeps threads that may
        # still call into Python while the interpreter finalises; about one run
        # in ten then aborts with "PyGILState_Release" (exit 134) after the
        # answer was printed. The work is done and nothing is left to clean up,
        # so the process ends here, skipping finalisation, once output is out.
        sys.stderr.flush()
        os._exit(status)
    return status


def _main(arguments: list[str]) -> tuple[int, bool]:
    """Run the command line: its exit status, and whether Temporal was connected."""
    try:
        args, rest = parse(arguments)
    except SystemExit as exit:
        return int(exit.code or 0), False
    # The stack installs signal handlers, which only the main thread may do.
    if getattr(args, "delegate", None):
        return _delegate(args.delegate, rest, args), args.delegate in CONNECTING_TOOLS
    return asyncio.run(_run(arguments))


# The tools handed over to that start the Temporal client's runtime, so their
# process must end as the command's does (see ``main``): revoke reads the
# stack's clock; mailbox poll wakes the poller. Regression: `mailbox poll`
# aborted with "PyGILState_Release" (exit 134) about one run in ten.
CONNECTING_TOOLS = frozenset({"revoke", "mailbox"})


def _flushed(status: int) -> int:
    """Flush standard output; a reader that went away ends the command quietly.

    ``certflow list | head`` closes the pipe early. Like the standard tools,
    the command then stops without a word: its output goes to the null device
    from here on, so not even the interpreter's last flush complains.
    """
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        status = BROKEN_PIPE
    if status == BROKEN_PIPE:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    return status


if __name__ == "__main__":
    sys.exit(main())
