"""Messages into and out of the workflows: one small model per update or signal.

One model per message (never several positional arguments) keeps payloads
decodable as the right type and lets fields be added with defaults later.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from certflow.activity_models import (
    BatchHold,
    HeldCertificate,
    JointPayment,
    SplitPayment,
)
from certflow.calendar import PublicityWindow
from certflow.config import DeadlinePolicy
from certflow.free_text import (
    REASON,
    Address,
    Detail,
    PersonName,
    Reason,
    RequestReason,
)
from certflow.i18n import t
from certflow.identity import ADMISSION_NUMBER_MAX_LENGTH
from certflow.models import (
    Actor,
    DocumentKind,
    DocumentRef,
    Level,
    Model,
    PlanInfo,
    Problem,
    Role,
    Stage,
    SummaryStats,
)
from certflow.plan import (
    Action,
    Cancellation,
    ConsistencySummary,
    CorrectionStatus,
    Duty,
    HistoryEntry,
    PaymentRecord,
    PlanState,
)
from certflow.privacy import holds_id_number
from certflow.timeutil import CST


def plan_workflow_id(plan_id: str) -> str:
    """The workflow id of an exam plan: derived from the plan id, nothing personal."""
    return f"exam-plan-{plan_id}"


def batch_workflow_id(batch_id: str) -> str:
    return f"approval-batch-{batch_id}"


def new_batch_id(now: datetime) -> str:
    """A batch id from the CST second it was gathered: ``B20261204-153012``.

    Staff gathering by hand and the weekly schedule name batches alike, so
    every batch is typed the same way in the staff tool.
    """
    return now.astimezone(CST).strftime("B%Y%m%d-%H%M%S")


class ExamPlanInput(Model):
    """Start (or continue-as-new) input of ``ExamPlanWorkflow``."""

    info: PlanInfo
    policy: DeadlinePolicy = Field(default_factory=DeadlinePolicy)
    state: PlanState | None = None
    # Who started the plan; None in inputs from before it was recorded.
    started_by: Actor | None = None
    # Continue as new once history passes this many events (tests lower it;
    # a run starts with some tens of events, so a lower limit would make
    # every run continue as new at once).
    history_event_limit: int = Field(default=10_000, ge=100)
    # Continue as new once the run has taken this many updates: the server
    # refuses every update of a run past its own limit (2,000 by default).
    update_limit: int = Field(default=1_000, ge=1)


class UploadRequest(Model):
    """An uploaded file, already in the document store, for one kind of document."""

    actor: Actor
    document: DocumentRef
    # For the signed scan: staff ids of the evaluators whose signatures it bears.
    signed_evaluator_ids: list[str] = Field(default_factory=list)


class ConfirmSummaryRequest(Model):
    """The site confirms the score summary; names the version it looked at."""

    actor: Actor
    summary_version: int | None = None
    comment: Reason = ""


class ReviewRequest(Model):
    """The regional contact's consistency decision (4.1.5)."""

    actor: Actor
    approve: bool
    send_back_to: list[Role] = Field(default_factory=list)
    items: list[Duty] = Field(default_factory=list)
    reason: Reason = ""


class SimpleAction(Model):
    """An action with no argument but the actor and an optional comment."""

    actor: Actor
    comment: Reason = ""


# The longest score or status word a correction request may ask for.
REQUESTED_SCORE_MAX_LENGTH = 16


class CorrectionSubmission(Model):
    """成绩修改申请表 entered by staff or read from the exam mailbox.

    Its personal parts (the scores asked and published, the reason, who asks
    and their address) are kept in PostgreSQL by whoever sends it
    (``activities.correction_drafts``), and ``draft`` names them: the plan's
    history holds the key, never them. A request carrying them itself (from a
    sender of an earlier release) is taken as before.
    """

    actor: Actor
    # Intake's one rule: a number intake accepted can always be named here.
    admission_number: str = Field(min_length=1, max_length=ADMISSION_NUMBER_MAX_LENGTH)
    field: str = Field(pattern=r"^(theory|practical|total|status)$")
    # Before the parts it stands for: their checks read it.
    draft: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")
    published_score: Detail = ""
    requested_score: str = Field(
        default="", max_length=REQUESTED_SCORE_MAX_LENGTH, validate_default=True
    )
    # Its length is checked at decoding as it always was; the plan's validator
    # checks it again with the characters it may hold (``certflow.free_text``).
    reason: RequestReason = Field(default="", max_length=2000, validate_default=True)
    requester: PersonName = ""
    requester_email: Address = ""
    received_at: datetime | None = None
    source_key: str | None = None  # the mail's dedupe key, when it came by mail

    @field_validator("requested_score", "reason")
    @classmethod
    def _given(cls, value: str, info: ValidationInfo) -> str:
        """Required, as they always were, unless the draft holds them."""
        if not value and info.data.get("draft") is None:
            raise PydanticCustomError(
                "string_too_short",
                "String should have at least {min_length} character",
                {"min_length": 1},
            )
        return value

    def personal_parts(self) -> dict[str, str]:
        """What a draft keeps of the request, by field."""
        return {name: getattr(self, name) for name in DRAFTED}

    def text_holding_id_number(self) -> str | None:
        """The first of the reason and the requester holding what could be an
        ID number, by field name; None when neither does. Both go into the
        database and the regional manager's mail: no sender may file one."""
        return next(
            (
                name
                for name in ("reason", "requester")
                if holds_id_number(getattr(self, name))
            ),
            None,
        )


# The fields of a correction request its draft keeps (see ``CorrectionSubmission``).
DRAFTED = (
    "published_score",
    "requested_score",
    "reason",
    "requester",
    "requester_email",
)


class CorrectionDecision(Model):
    actor: Actor
    request_id: str
    approve: bool
    reason: Reason = ""


class CorrectionApply(Model):
    actor: Actor
    request_id: str


# The refusal code of an application that is the one in force sent again:
# the staff tool says so as done, and records nothing (nothing was sent).
SAME_APPLICATION = "same_application"


class ApplicationUpload(Model):
    """证书申请表 with its payment confirmation part, and the invoice details form."""

    actor: Actor
    application_scan: DocumentRef
    invoice_details: DocumentRef | None = None
    paid_plan_ids: list[str] = Field(min_length=1)
    head_count: int = Field(ge=0)
    # Absent candidates the site pays for too (the head count includes them).
    absentees_paid: int = Field(default=0, ge=0)
    # 0.00 is let through to the plan, which says why it takes none: nobody
    # passed (nothing to pay), or the passes are to be paid for.
    amount: Decimal = Field(ge=0, decimal_places=2)
    paid_on: date
    method: Detail = ""
    reference: Detail = ""

    def sent_as(self, form_sha256: str | None) -> str:
        """What the application says, as one text to compare: its scan's
        digest, the invoice details form going with it (``form_sha256``: the
        one sent, or the one kept from before) and every figure declared.
        The same text is the same application, sent again."""
        return "|".join(
            [
                self.application_scan.sha256,
                form_sha256 or "",
                ",".join(sorted(set(self.paid_plan_ids))),
                str(self.head_count),
                str(self.absentees_paid),
                f"{self.amount:.2f}",
                self.paid_on.isoformat(),
                self.method.strip(),
                self.reference.strip(),
            ]
        )


class PaymentConfirmation(Model):
    """Finance's record of the money actually received (4.2.3)."""

    actor: Actor
    received_amount: Decimal = Field(gt=0, decimal_places=2)
    received_on: date
    reference: Detail = ""
    # Finance corrects its own confirmation (until the plan is in a batch),
    # saying why; the plan refuses a blank reason.
    correct: bool = False
    reason: Reason = ""


class DifferenceSettlement(Model):
    """Finance settles a payment difference a late correction made (see
    ``certflow.payment_difference``): the site's supplementary payment
    received (``received_on``), or the money returned to it
    (``refunded_on``), for exactly the difference."""

    actor: Actor
    # ``received_amount`` as the staff tool's ``payment --amount`` names it.
    amount: Decimal = Field(
        gt=0,
        decimal_places=2,
        validation_alias=AliasChoices("amount", "received_amount"),
    )
    received_on: date | None = None
    refunded_on: date | None = None
    reference: Detail = ""


class InvoiceRecord(Model):
    actor: Actor
    # 8 to 20 digits: checked by the plan's validator, not here (an invoice
    # accepted before the rule must still be read back on replay).
    number: str = Field(min_length=1, max_length=64)
    issued_on: date
    amount: Decimal = Field(gt=0, decimal_places=2)
    # Finance corrects the invoice it recorded (until the plan is in a
    # batch), saying why; the plan refuses a blank reason.
    correct: bool = False
    reason: Reason = ""
    # A correction under a new number replaces a real invoice, reversed
    # (红字冲销) and issued anew: the old number is void for good. Unless
    # finance says the record was typed wrong (``typo``): no invoice is
    # voided, and a number no plan holds any more is free again.
    typo: bool = False


class SiteSignoffRequest(Model):
    """The site's sign-off on the national platform, naming the plan it signed."""

    actor: Actor
    plan_id: str


class CancelRequest(Model):
    """Withdraw a plan started by mistake; the reason is kept and mailed."""

    actor: Actor
    # At most 500 characters: checked by the plan's validator, as every
    # reason (``certflow.free_text``), no longer at decoding.
    reason: Reason = ""
    # Said by whoever cancels a plan holding money (a confirmed payment or an
    # invoice): they know finance refunds it or reverses the invoice.
    refund_by_finance: bool = False


class ActionResult(Model):
    """The plan's answer to a staff action: accepted, or refused with problems."""

    accepted: bool
    message: str
    late: bool = False
    problems: list[Problem] = Field(default_factory=list)
    problem_count: int = 0
    reference: str | None = None
    report: DocumentRef | None = None
    # Refused for a system reason, with nothing recorded: the same action may
    # be sent again later and is not a verdict on its content.
    retry: bool = False


class BatchJoined(Model):
    batch_id: str


class PaymentFreed(Model):
    """Another plan of the joint payment (``by_plan``) lifted its payment
    hold, and nothing holds this plan by its payment now: a joint hold the
    last gathering named is gone, and a ready mail withheld for it is due."""

    by_plan: str


class CertificatesRevoked(Model):
    """A certificate of the plan was revoked (``certflow revoke``); ``revoked``
    is how many of the plan's certificates the database holds revoked now.

    Signalled to a plan whose workflow still runs, so that its status and
    Web UI page count them; the database is the record (``certificates``).
    """

    number: str
    revoked: int


class InvoiceCorrectedWith(Model):
    """A whole-payment invoice corrected on another plan of the joint
    payment (``with_plan``), which the database wrote on this approved plan
    too: the plan's record of its invoice follows, so that a correction of
    it later starts from the invoice the database holds."""

    with_plan: str
    old_number: str
    number: str
    issued_on: date
    amount: Decimal
    # Reversed (红字冲销) and issued anew, not a record typed wrong: the old
    # invoice is listed voided.
    reissued: bool = False
    at: datetime
    actor: Actor
    reason: str = ""

    def take(self, payment: PaymentRecord) -> HistoryEntry | None:
        """Make ``payment``'s record of its invoice follow this correction,
        the old invoice listed voided if it was reversed; return the history
        line that says so. None where nothing is taken: the payment carries
        another invoice by now, or this one already (a signal sent twice)."""
        if payment.invoice_number != self.old_number or (
            self.number == payment.invoice_number
            and self.issued_on == payment.invoice_issued_on
            and payment.invoice_amount == float(self.amount)
        ):
            return None
        if self.reissued and self.number != self.old_number:
            payment.reverse_invoice(
                self.at, self.actor, self.reason, replaced_by=self.number
            )
        payment.invoice_number = self.number
        payment.invoice_issued_on = self.issued_on
        payment.invoice_amount = float(self.amount)
        return HistoryEntry(
            at=self.at,
            action=Action.CORRECT_INVOICE.value,
            role=self.actor.role,
            person=self.actor.person,
            note=t(
                "plan.invoice_corrected_with_note",
                plan_id=self.with_plan,
                reason=self.reason,
            ),
        )


class BatchVerdict(Model):
    """The general manager's decision on one plan of a batch."""

    batch_id: str
    approved: bool
    decided_by: str
    reason: str = ""
    return_to: list[Duty] = Field(default_factory=list)
    # Rejected: the plans of its joint payment approved in the same decision
    # (their invoice and this plan's are then corrected together).
    approved_with: list[str] = Field(default_factory=list)


class CalendarReloaded(Model):
    years: list[int]


class OwedItem(Model):
    key: str
    duty: Duty
    label: str
    owner: Role
    deadline_day: date | None
    overdue: bool
    # Notices sent for it: reminders before the deadline, escalations after.
    reminders_sent: int
    escalations_sent: int
    # Of those, the ones not gone out yet: a mail outage holds them.
    notices_waiting: int = 0
    # Since when it waits for its owner; for a duty without a deadline, the
    # working days waited so far (None while they are not counted: nudges
    # turned off, or not scheduled yet) and the nudges mailed.
    waiting_since: datetime | None = None
    working_days_waited: int | None = None
    nudges_sent: int = 0


class CorrectionCounts(Model):
    pending: int = 0
    approved: int = 0
    rejected: int = 0
    applied: int = 0


class PaymentHeld(Model):
    """What holds a plan awaiting its gathering out of every batch by a
    payment (``PlanState.gathering_hold``): its own difference not settled
    (``difference``) or invoice not corrected after one (``invoice``), or
    another plan's of its joint payment invoiced whole (``joint``), with the
    figures staff are shown (see ``payment_difference.hold_text``)."""

    reason: str
    details: dict[str, str] = Field(default_factory=dict)


class PlanStatus(Model):
    """What the status query returns: computed from state, no database touched."""

    plan_id: str
    site_code: str
    stage: Stage
    stage_label: str
    owed: list[OwedItem]
    next_deadline: datetime | None
    overdue: bool
    documents: dict[DocumentKind, DocumentRef]
    document_versions: dict[DocumentKind, int]
    summary: SummaryStats | None
    consistency: ConsistencySummary | None
    publicity: PublicityWindow | None
    calendar_missing_years: list[int]
    corrections: CorrectionCounts
    correction_states: dict[str, CorrectionStatus]
    payment: PaymentRecord
    batch_id: str | None
    certificates_issued: int
    platform_import: DocumentRef | None
    # Of those, the ones revoked since, as the plan was told (``certflow
    # status`` reads the database, which knows those of an ended plan too).
    certificates_revoked: int = 0
    # Certificates held out of issuance, and what blocks it for the whole plan
    # (a code of ``certificates.blocked``): the tech dept owes the repair.
    certificates_held: list[HeldCertificate] = Field(default_factory=list)
    issuance_blocked: str | None = None
    # The rows of the plan's text the font cannot print, where that blocks it.
    issuance_blocked_rows: list[str] = Field(default_factory=list)
    history: list[HistoryEntry]
    cancellation: Cancellation | None = None
    # The plan's lead evaluator, who alone may act as such on it.
    lead_evaluator_id: str = ""
    # The exam as the plan was started with it (its ``PlanInfo``): what it
    # certifies, when it ended, and the other evaluators of its team, by
    # staff id (their names live in the staff directory). Empty, or None,
    # from a worker that did not yet tell them.
    certificate: str = ""
    level: Level | None = None
    module_code: str = ""
    module_name: str = ""
    exam_end_date: date | None = None
    evaluator_ids: list[str] = Field(default_factory=list)
    # Why the last gathering of a batch left the plan out, while it waits
    # for one: its joint payment's invoices disagreed.
    held_back: BatchHold | None = None
    # What holds the plan out of every batch by a payment while it waits to
    # be gathered, gathering or not: nobody owes its gathering meanwhile
    # (its approval is not among ``owed``).
    payment_held: PaymentHeld | None = None
    # The mails the plan asked for that have not gone out (nor been given up):
    # while the mail server is away they wait, in turn.
    mails_waiting: int = 0
    # The kind of error (``mail_server_away``…) the last failed attempt to
    # send the plan's waiting mail met; None while none failed (queued, or
    # being sent). The plan cannot tell: ``certflow status`` reads it from
    # the mail's row (see ``with_mail_trouble``).
    mail_trouble: str | None = None
    # Nobody passes and corrections are still open: nothing of the payment
    # stage is owed until they are closed (``PlanState``'s field).
    payment_waits_for_corrections: bool = False
    # When the weekly schedule next gathers an approval batch, while the plan
    # waits to be gathered into one; None where no schedule runs (none set
    # up, paused, or not asked). The plan cannot tell: ``certflow status``
    # asks the schedule (see ``with_next_gathering``).
    next_gathering: datetime | None = None


class PlanResult(Model):
    plan_id: str
    stage: Stage
    certificates_issued: int


# Who gathers a batch the weekly schedule starts (``BatchInput.requested_by``).
SCHEDULE = "schedule"


class BatchInput(Model):
    """Start input of ``ApprovalBatchWorkflow``.

    ``requested_by`` is who gathers the batch: a staff id (acting in
    ``requested_role``), or ``schedule`` for the weekly schedule's runs.
    """

    batch_id: str
    requested_by: str = SCHEDULE
    requested_role: Role | None = None


class Rejection(Model):
    """One plan the general manager rejects, and why."""

    plan_id: str
    reason: Reason


def decision_role_refusal(role: Role) -> str | None:
    """Why ``role`` may not decide an approval batch (the general manager
    alone does), in the words a plan refuses a role; None when it may."""
    if role is Role.GENERAL_MANAGER:
        return None
    return t(
        "plan.wrong_role",
        action=t("actions.approve_batch"),
        allowed=t("roles.general_manager"),
    )


class BatchDecisionRequest(Model):
    """The general manager's decision on a batch: all, some, or none."""

    actor: Actor
    approve_all: bool = False
    approve: list[str] = Field(default_factory=list)
    # Plan id -> reason, each reason bounded as every reason is.
    reject: Annotated[dict[str, str], REASON] = Field(default_factory=dict)
    # Every --reject as the general manager gave them, in order: a plan given
    # two reasons is refused (``reject`` holds one). Empty from a staff tool
    # from before it was sent.
    rejections: list[Rejection] = Field(default_factory=list)
    # Rejected plans sent back to stage 5-8: plan id -> the duties to redo.
    return_to: dict[str, list[Duty]] = Field(default_factory=dict)

    def rejected_twice(self) -> str | None:
        """The first plan ``rejections`` gives two reasons, which ``reject``
        would hold one of without a word; None when each is given once."""
        seen: set[str] = set()
        for rejection in self.rejections:
            if rejection.plan_id in seen:
                return rejection.plan_id
            seen.add(rejection.plan_id)
        return None


class BatchStatus(Model):
    batch_id: str
    plan_ids: list[str]
    decided: bool
    approved: list[str]
    rejected: dict[str, str]
    # Closed without a decision: nothing was ready (or every plan was gone).
    closed_empty: bool = False
    # Rejected plans sent back to stage 5-8: every duty they owe again, those
    # named and what follows them. A rejected plan not here waits for the
    # next batch.
    returned: dict[str, list[Duty]] = Field(default_factory=dict)
    # A run of the weekly schedule gathers nothing itself: it names a batch
    # as staff do and starts it. This is that batch's id.
    started_batch: str = ""
    # Who gathered the batch: a staff id in ``requested_role``, or schedule.
    requested_by: str = ""
    requested_role: Role | None = None
    # Who decided it: the general manager's staff id, once decided.
    decided_by: str = ""
    # The payments covering several plans of which the batch holds one or
    # more: sent back to be checked again together or not at all.
    joint_payments: list[JointPayment] = Field(default_factory=list)
    # Gathered: its plans told and their joint payments read. A decision
    # arriving before is refused (``batch.not_gathered``).
    gathered: bool = False
    # Decided: the joint payments the decision split, approving some of
    # their plans and rejecting others.
    split_payments: list[SplitPayment] = Field(default_factory=list)


class BatchResult(Model):
    batch_id: str
    approved: list[str]
    rejected: dict[str, str]
