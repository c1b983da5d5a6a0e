"""Arguments and results of activities: the workflow's requests for real work."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import Field

from certflow.calendar import PublicityWindow
from certflow.joint_invoice import InvoiceConflict, InvoiceHolding
from certflow.joint_payment import JointPaymentFacts, ReceivedHolding
from certflow.models import (
    Actor,
    DocumentKind,
    DocumentRef,
    Model,
    PlanInfo,
    Problem,
    Role,
    Stage,
    SummaryStats,
)


class PlanRegistration(Model):
    info: PlanInfo
    workflow_id: str
    started_at: datetime
    # The first run of the registering workflow (kept across continue-as-new
    # and reset); empty in histories from before it was sent.
    first_run_id: str = ""
    # Who started the plan: written to the audit trail with the plan's row.
    started_by: Actor | None = None


class StageChange(Model):
    plan_id: str
    stage: Stage
    at: datetime
    overdue: bool = False
    next_deadline: datetime | None = None


class DeadlineChange(Model):
    """What the plan's row says of its deadlines, as its status computes them:
    overdue, and the next deadline (None when nothing owed has one). Written
    whenever either changes, not only with the stage, for those who report
    from SQL."""

    plan_id: str
    at: datetime
    overdue: bool
    next_deadline: datetime | None = None


class AuditEntry(Model):
    """One line of the audit trail; ``details`` never holds personal data."""

    plan_id: str
    action: str
    role: Role | None
    person: str | None
    at: datetime
    accepted: bool = True
    late: bool = False
    details: dict[str, str] = Field(default_factory=dict)
    # Retries of the same activity write the same line once.
    idempotency_key: str


class PaymentHold(Model):
    """What holds a plan out of every approval batch by its payment, as the
    plan says it (``payment_holds``): ``reason`` ``difference`` (a confirmed
    payment a correction made differ, not settled yet) or ``invoice`` (the
    invoice recorded for the total before a settlement, not corrected yet);
    None once nothing holds it. ``details`` are the figures staff are shown.
    ``at`` orders the plan's writes: a late attempt never undoes a newer one.
    """

    plan_id: str
    reason: str | None
    details: dict[str, str] = Field(default_factory=dict)
    at: datetime


class JointHolds(Model):
    """A plan of a joint payment invoiced whole, as a gathering reads it
    (see ``PlanStore.joint_holds``): the hold another plan of the payment
    puts on it (``held``: its reason ``joint`` and figures; None if none),
    and the other plans of the payment nothing holds now (``free``)."""

    held: dict[str, Any] | None = None
    free: list[str] = Field(default_factory=list)


class CancelOutcome(Model):
    """The database's answer to a cancellation: done, or the batch holding the plan."""

    cancelled: bool
    batch_id: str | None = None


class FinanceRecord(Model):
    """Finance's record of an invoice or a correction, with its audit line.

    ``invoice_number`` claims the number for the plan's payment (the plans
    ``paid_plan_ids`` names); ``outside_batch`` refuses the record once an
    approval batch has gathered the plan (a correction must not change what
    the general manager is approving).
    """

    entry: AuditEntry
    invoice_number: str | None = None
    paid_plan_ids: list[str] = Field(default_factory=list)
    outside_batch: bool = False
    # An invoice of a joint payment for more than the plan's own amount: it
    # must be the payment's total, the amounts finance confirmed on each of
    # its plans added up (``"8400.00"``); None for any other record.
    joint_amount: str | None = None
    # The invoice's amount and date, compared with what the other plans of
    # the payment carry; None from attempts scheduled before they were sent.
    invoice_amount: Decimal | None = None
    invoice_issued_on: date | None = None
    # An invoice correction that approved plans do not refuse: the plan's own
    # decided batch lets it through, and the approved plans of the payment
    # carrying the whole-payment invoice it corrects are corrected with it,
    # at once (their workflows may have ended). False from attempts
    # scheduled before, and for every other record.
    with_approved: bool = False
    # A correction to another amount: the number of the invoice it reverses
    # (红字冲销), recorded voided with it; None for every other record.
    reverses: str | None = None
    # Finance's confirmation of the payment (its line names the received day
    # and reference): refused, nothing written, where the other plans of the
    # payment list other plans, or confirmed its money as arriving on another
    # day or under another reference (``certflow.joint_payment``). Checked
    # under the payment's locks, which the confirmations of its other plans
    # take too: of two at once, the second sees the first. False from
    # attempts scheduled before, and for every other record.
    received_once: bool = False
    # An invoice correction: the invoice the plan's record says it replaces.
    # Refused, nothing written, unless it is the one the database holds for
    # the plan now (a whole-payment invoice may have been corrected on it
    # with another plan of its payment meanwhile). Checked under the
    # payment's locks, which such a correction takes too. None from attempts
    # scheduled before, and for every other record.
    replaces: InvoiceHolding | None = None


class FinanceOutcome(Model):
    """Recorded; or refused: the batch holding the plan, the other plans
    holding the invoice number for another payment, the void of the invoice
    that had the number, a joint payment's total that is none, an invoice
    that does not fit the others of its payment, or one that would leave
    them disagreeing with a plan of the payment a batch holds."""

    recorded: bool
    batch_id: str | None = None
    other_plans: list[str] = Field(default_factory=list)
    # The number is a voided invoice's: the plan that voided it, and when.
    voided_on: str | None = None
    voided_at: datetime | None = None
    # The void was the plan's cancellation: its invoice is finance's to reverse.
    voided_by_cancellation: bool = False
    # The void was a reversal: the invoice was issued anew under another
    # number (a plan still carrying it keeps it as it is, and no more).
    voided_by_reissue: bool = False
    # Recorded: the other plans still holding the number this one replaced
    # (plans of one payment share its invoice; each is corrected on its own).
    still_holding: list[str] = Field(default_factory=list)
    # A joint payment's total claimed (``joint_amount``) but refused: the
    # plans whose payment finance has not confirmed (or checks again), or,
    # all confirmed, their total.
    unconfirmed: list[str] = Field(default_factory=list)
    joint_total: str | None = None
    # With either: the plans of the payment cancelled, left out of its total.
    cancelled: list[str] = Field(default_factory=list)
    # Refused: how the invoice does not fit the other invoices of its payment,
    # and those it clashes with (see ``certflow.joint_invoice``).
    conflict: InvoiceConflict | None = None
    clashing: list[InvoiceHolding] = Field(default_factory=list)
    # Recorded: other plans left to correct alike, each on its own: carrying
    # the number with the amount or date this record corrected, or invoiced
    # the other way under another number.
    still_differing: list[InvoiceHolding] = Field(default_factory=list)
    still_apart: list[InvoiceHolding] = Field(default_factory=list)
    # Refused: the other plans of the payment an approval batch holds (or
    # approved), by plan, with their batch ids; the record would leave their
    # invoices, as gathered, disagreeing with the payment's (``clashing``).
    gathered: dict[str, str] = Field(default_factory=dict)
    # Of them, those approved in a batch decided since: their invoice stands.
    approved: list[str] = Field(default_factory=list)
    # Refused: the plans of the payment list different plans (what each
    # lists, see ``certflow.joint_payment``).
    paid_plans: JointPaymentFacts | None = None
    # Recorded (a received date corrected): the other plans of the payment
    # whose confirmations still give another day or reference.
    still_received: list[ReceivedHolding] = Field(default_factory=list)
    # Recorded (``with_approved``): the approved plans of the payment whose
    # whole-payment invoice was corrected with this one, each audited.
    corrected_with: list[str] = Field(default_factory=list)
    # Refused: the invoice a correction said it replaces is not the plan's in
    # force (``FinanceRecord.replaces``); ``in_force`` is that one (None: the
    # plan carries none now).
    not_in_force: bool = False
    in_force: InvoiceHolding | None = None


class JointPaymentCheck(Model):
    """A plan and the plans its payment covers (its application's list, or
    the one being uploaded), for the database to say what the other plans of
    that payment list and how their money was confirmed."""

    plan_id: str
    paid_plan_ids: list[str]


class ProcessUpload(Model):
    plan: PlanInfo
    kind: DocumentKind
    document: DocumentRef
    uploaded_by: str
    at: datetime


class UploadRecord(Model):
    """An upload recorded as it is, without intake reading it.

    The site's application scan, which nothing reads, accepted or refused with
    its application; and an upload the plan refused before anything read it
    (its validator, or the check at its turn), which the staff tool or the
    plan records. ``problems`` is how many reasons it was refused for.

    ``refused_with`` is an upload that came with this one and is refused with
    it: the invoice details form of an application refused after intake read
    and accepted the form. It is recorded refused in the same transaction:
    the row intake wrote for it at its time is marked refused (no version),
    and its invoice details go unless another accepted row names the form.
    """

    plan_id: str
    kind: DocumentKind
    document: DocumentRef
    uploaded_by: str
    at: datetime
    accepted: bool
    problems: int = 0
    refused_with: UploadRecord | None = None
    # Why it was refused, as its sender was told (no personal data), for
    # document list: the plan's reason for an upload it refused unread, the
    # problems intake found in an invoice details form, or, for a file refused
    # with another (the form with its application, the scan with its form),
    # the other's. "" for one accepted, and for other uploads intake refused
    # (their annotated report says).
    refusal: str = ""
    # The refused action and its sender's role: with ``refusal``, the
    # refusal's line in the audit trail is written with the row.
    action: str = ""
    role: Role | None = None


class ConsistencyRequest(Model):
    plan: PlanInfo
    signed_evaluator_ids: list[str]


class PlatformImportRequest(Model):
    plan: PlanInfo


class WindowRequest(Model):
    exam_end: date
    confirmed_at: datetime


class WindowAnswer(Model):
    """The publicity window, or the years the calendar does not know yet."""

    window: PublicityWindow | None = None
    missing_years: list[int] = Field(default_factory=list)


class WorkingDaysRequest(Model):
    """The ``count``-th working day after ``day`` is asked for."""

    day: date
    count: int = Field(ge=1)


class WorkingDaysAnswer(Model):
    """The working day asked for, or the first year the calendar does not
    know on the way to it.

    ``days`` are the working days counted, ``day`` the last of them: what a
    plan shows as waited so far while it waits for ``day`` to end (answers
    recorded before it was given hold none).
    """

    day: date | None = None
    missing_year: int | None = None
    days: list[date] = Field(default_factory=list)


class Notification(Model):
    """A mail to the people of some roles (and the plan's site), from a template."""

    plan_id: str
    template: str
    roles: list[Role]
    site_code: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    attachments: list[DocumentRef] = Field(default_factory=list)
    idempotency_key: str
    # Addresses the mail goes to instead of its roles' (the requester of a
    # correction request, told its outcome): filled by the notification
    # activity from the database, never by the plan, so no address is in
    # its history. Empty: the roles' configured addresses.
    to: list[str] = Field(default_factory=list)


class ResendRequest(Model):
    """An admin's request to send a mail again to some roles of it.

    ``notification`` is the mail's number (``notifications.id``), ``attempt``
    the how-manieth resend of it; the workflow fills in ``resend_key`` (its own
    id, the attempt's idempotency key) and ``requested_at``.
    """

    notification: int
    attempt: int
    roles: list[Role]
    requested_by: str
    resend_key: str = ""
    requested_at: datetime | None = None


class ResendOutcome(Model):
    """What became of a resend: sent (perhaps partly), or refused again.

    Roles, counts and reasons only: no address.
    """

    notification: int
    resend_key: str
    roles: list[Role]
    recipients: int
    sent: bool
    refused_roles: list[Role] = Field(default_factory=list)
    failure_type: str | None = None
    failure: str | None = None


class CorrectionRecord(Model):
    plan: PlanInfo
    request_id: str
    admission_number: str
    field: str
    published_score: str
    requested_score: str
    reason: str
    requester: str
    requester_email: str
    received_at: datetime
    entered_by: str
    source_key: str | None = None
    # Where the request's personal parts wait, when its sender kept them
    # apart (``CorrectionSubmission.draft``); those above are then empty.
    draft: str | None = None


class CorrectionRecorded(Model):
    accepted: bool
    problems: list[Problem] = Field(default_factory=list)


class CorrectionGivenUp(Model):
    """A request id the plan gave up on recording (every attempt of
    ``record_correction`` failed), and when: an attempt asked for before
    then writes it no more."""

    plan_id: str
    request_id: str
    given_up_at: datetime


class CorrectionDecisionRecord(Model):
    plan_id: str
    request_id: str
    approved: bool
    reason: str
    decided_by: str
    at: datetime


class CorrectionApplication(Model):
    plan: PlanInfo
    request_id: str
    applied_by: str
    at: datetime


class CorrectionFontCheck(Model):
    """A correction about to be approved: would its candidate pass with a name
    the certificate font cannot print?"""

    plan: PlanInfo
    request_id: str


class CorrectionApplied(Model):
    update_file: DocumentRef | None = None
    # Score fields the correction changed: 0 when it asked for what was on
    # record. Results recorded before counted every correction as 1.
    changes: int
    # Passing candidates of the plan after the change (a correction can move one).
    passed: int | None = None
    # All the plan's counts after the change; None in results recorded before.
    stats: SummaryStats | None = None
    # Why the correction was not applied (nothing changed, no file): it would
    # make a candidate pass whose name the certificate font cannot print.
    refusal: Problem | None = None
    # A part score asked for a candidate recorded absent or disqualified (a
    # request approved before such requests were refused): nothing changed,
    # and this says why, instead of "the score asked for was on record".
    without_score: Problem | None = None


class IssueRequest(Model):
    plan: PlanInfo
    issued_on: date
    batch_id: str | None = None


class HeldCertificate(Model):
    """A passing candidate's certificate held out of issuance: it cannot be drawn.

    ``reason`` is a code of ``certificates.held`` (a name the font cannot
    print, most often); ``positions`` says where in the name the font lacks
    a glyph (from 1), never the characters. ``number`` is set only for a
    certificate numbered before issuance checked the font (schema 18).
    """

    admission_number: str
    masked_name: str
    reason: str
    positions: list[int] = Field(default_factory=list)
    number: str | None = None


class IssuanceResult(Model):
    """The plan's certificates issued (with their PDF) and those held out.

    ``held`` is empty in results recorded before certificates were held.
    """

    plan_id: str
    issued: int
    numbers: list[str] = Field(default_factory=list)
    held: list[HeldCertificate] = Field(default_factory=list)


class ClaimRequest(Model):
    """A batch gathering the plans awaiting approval, or asking which it held back.

    ``requested_by`` is who gathered it: the staff id of the person who ran
    ``certflow batch gather`` (in ``requested_role``), or ``schedule`` for
    the weekly schedule; empty from batches started before it was sent.
    """

    batch_id: str
    requested_by: str = ""
    requested_role: Role | None = None
    at: datetime | None = None


class HeldBackPayment(Model):
    """The plans of one joint payment a gathering held back, for finance and
    the general manager to be told: the invoices its plans carry disagree
    (``invoices``, as the mail names them)."""

    plan_ids: list[str]
    invoices: str


class BatchHold(Model):
    """A plan an approval batch's gathering held back (``batch_holds``): the
    invoices of its joint payment disagreed (``invoices``, as they were then),
    or its payment did (``payment_reason``, ``difference`` or ``invoice``,
    with ``payment_details``' figures: see ``PaymentHold``). ``at`` is when
    that gathering held it back, ``since`` since when it is held back for
    that. Plan ids, invoice numbers, amounts, head counts and dates only: it
    is shown on the plan's Web UI page and in ``status --json``."""

    plan_id: str
    batch_id: str
    at: datetime
    since: datetime
    invoices: list[InvoiceHolding]
    payment_reason: str | None = None
    payment_details: dict[str, str] = Field(default_factory=dict)


class ReleaseRequest(Model):
    batch_id: str
    plan_ids: list[str]
    # Of those, the plans sent back to stage 5-8 to redo duties: no longer
    # awaiting approval, whatever their row said a moment before.
    returned: list[str] = Field(default_factory=list)
    # When the general manager's verdicts were sent: a stage a returned plan
    # recorded after it (it redid its duties already) is newer, and stays.
    decided_at: datetime | None = None


class PlanVerdictRecord(Model):
    """The general manager's verdict on one plan of a batch, as its
    ``batch_plans`` row keeps it: approved, or rejected with the reason."""

    plan_id: str
    approved: bool
    reason: str = ""


class BatchClosing(Model):
    """A batch closing (``PlanStore.close_batch``), and what was decided.

    ``decided_by`` is the general manager's staff id, ``decided_at`` the
    batch workflow's time of the decision, ``verdicts`` one per plan. A batch
    that closed empty sends its id alone, as did every batch closed before
    decisions were recorded (their ``ClaimRequest`` reads as this).
    """

    batch_id: str
    decided_by: str = ""
    decided_at: datetime | None = None
    verdicts: list[PlanVerdictRecord] = Field(default_factory=list)


class JointPaymentsRequest(Model):
    """The plans a batch gathered, whose joint payments it asks for."""

    batch_id: str
    plan_ids: list[str]


class JointPayment(Model):
    """One payment (合并缴费) covering a plan of a batch and other plans.

    A joint payment is checked again whole: sending one plan back for the
    payment to be checked again voids its invoice, the one all its plans
    share where it was invoiced as a whole (see ``certflow.joint_invoice``).
    ``plan_ids`` are every plan the payment covers that is not cancelled, in
    the batch or not, sorted; ``outside`` those of them the batch does not
    hold (approved or issued before, or still at an earlier stage).
    """

    plan_ids: list[str]
    outside: list[str] = Field(default_factory=list)
    # How it is invoiced: one whole-payment invoice (True), plan by plan
    # (False), or not yet (None; also in readings from before it was kept).
    invoiced_whole: bool | None = None


class SplitPayment(Model):
    """A joint payment a batch's decision split: some of its plans approved,
    others rejected in the same decision. Allowed (a rejection may have
    nothing to do with money), but the rejected plans' invoice can then be
    corrected only as a whole-payment invoice, with the approved plans too."""

    approved: list[str]
    rejected: list[str]
    invoiced_whole: bool | None = None


def split_payments(
    joint: list[JointPayment], approved: list[str], rejected: list[str]
) -> list[SplitPayment]:
    """The joint payments a decision approving ``approved`` and rejecting
    ``rejected`` splits (see ``SplitPayment``)."""
    split = []
    for payment in joint:
        yes = [p for p in payment.plan_ids if p in approved]
        no = [p for p in payment.plan_ids if p in rejected]
        if yes and no:
            split.append(
                SplitPayment(
                    approved=yes, rejected=no, invoiced_whole=payment.invoiced_whole
                )
            )
    return split


class BatchReportRequest(Model):
    batch_id: str
    plan_ids: list[str]
