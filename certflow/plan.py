"""The state of one exam plan and the rules that decide who may do what, when.

Everything here is pure and deterministic: the workflow keeps a ``PlanState``,
its update validators ask ``check_action`` and its timer loop asks
``next_alarm`` / ``take_due_alarms``. Keeping the rules out of the workflow class
lets them be tested directly and read in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from pydantic import Field, computed_field

from certflow.activity_models import BatchHold, HeldCertificate
from certflow.arguments import named_codes, shown
from certflow.calendar import PublicityWindow
from certflow.config import DeadlinePolicy
from certflow.free_text import (
    DETAIL_MAX_LENGTH,
    FILENAME_MAX_LENGTH,
    REASON_MAX_LENGTH,
    clipped,
)
from certflow.i18n import t, t_or
from certflow.identity import (
    could_be_id_number,
    invoice_number,
    is_invoice_placeholder,
    staff_key,
)
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
from certflow.payment_difference import (
    HOLD_DIFFERENCE,
    HOLD_INVOICE,
    HOLD_JOINT,
    PaymentDifference,
    SettledDifference,
    difference_text,
    expected_amount,
    hold_details,
)
from certflow.scan import SCAN_MEDIA_TYPES
from certflow.timeutil import cst_date, end_of_day, format_deadline

HISTORY_KEEP = 60  # entries kept in state; the whole audit trail is in PostgreSQL
# What a plan carries to its next run of a text staff gave, at most (see
# ``PlanState.carried``): a history line's note (a reason with the words
# around it) and what it names, and an application as sent; the texts of
# their own bound (``certflow.free_text``) to that bound. The whole text stays
# in the plan's history and the database.
NOTE_KEPT = 1000
APPLICATION_KEPT = 4000
# The voided invoices a plan carries, the last ones; those before are counted
# (``PaymentRecord.voided_earlier``) and kept in the audit trail.
VOIDED_KEPT = 50


class Duty(StrEnum):
    """What a party owes the plan; each is one obligation with an owner."""

    SCORE_SUMMARY = "score_summary"
    SIGNED_SCAN = "signed_scan"
    CANDIDATE_SIGN_IN = "candidate_sign_in"
    EVALUATOR_SIGN_IN = "evaluator_sign_in"
    SUMMARY_CONFIRMATION = "summary_confirmation"
    CONSISTENCY_REVIEW = "consistency_review"
    SCORE_UPLOAD = "score_upload"
    CORRECTION_DECISION = "correction_decision"
    CORRECTION_APPLY = "correction_apply"
    APPLICATION = "application"
    ORG_SIGNOFF = "org_signoff"
    PAYMENT_CHECK = "payment_check"
    INVOICE = "invoice"
    SITE_SIGNOFF = "site_signoff"
    APPROVAL = "approval"
    # Certificates held out of issuance, or an issuance blocked for the whole
    # plan: the tech dept mends the cause, then issues again.
    ISSUANCE_REPAIR = "issuance_repair"
    # A confirmed payment a later correction made differ (see
    # ``certflow.payment_difference``): finance settles it with the site, then
    # corrects the invoice recorded for the old total.
    PAYMENT_DIFFERENCE = "payment_difference"
    INVOICE_CORRECTION = "invoice_correction"


DUTY_OWNER: dict[Duty, Role] = {
    Duty.SCORE_SUMMARY: Role.LEAD_EVALUATOR,
    Duty.SIGNED_SCAN: Role.LEAD_EVALUATOR,
    Duty.CANDIDATE_SIGN_IN: Role.SITE,
    Duty.EVALUATOR_SIGN_IN: Role.SITE,
    Duty.SUMMARY_CONFIRMATION: Role.SITE,
    Duty.CONSISTENCY_REVIEW: Role.REGIONAL_CONTACT,
    Duty.SCORE_UPLOAD: Role.INFO_CENTER,
    Duty.CORRECTION_DECISION: Role.REGIONAL_MANAGER,
    Duty.CORRECTION_APPLY: Role.INFO_CENTER,
    Duty.APPLICATION: Role.SITE,
    Duty.ORG_SIGNOFF: Role.TECH_DEPT,
    Duty.PAYMENT_CHECK: Role.FINANCE,
    Duty.INVOICE: Role.FINANCE,
    Duty.SITE_SIGNOFF: Role.SITE,
    Duty.APPROVAL: Role.GENERAL_MANAGER,
    Duty.ISSUANCE_REPAIR: Role.TECH_DEPT,
    Duty.PAYMENT_DIFFERENCE: Role.FINANCE,
    Duty.INVOICE_CORRECTION: Role.FINANCE,
}

SUBMISSION_DUTIES = (
    Duty.SCORE_SUMMARY,
    Duty.SIGNED_SCAN,
    Duty.CANDIDATE_SIGN_IN,
    Duty.EVALUATOR_SIGN_IN,
    Duty.SUMMARY_CONFIRMATION,
)

# What a general manager's rejection may send back to stage 5-8 to be redone
# (4.2.6), in process order: the site's application, the tech dept's
# sign-off, finance's check of the payment, the site's sign-off.
REDO_DUTIES = (
    Duty.APPLICATION,
    Duty.ORG_SIGNOFF,
    Duty.PAYMENT_CHECK,
    Duty.SITE_SIGNOFF,
)

# What rests on a duty and must be done again when it is redone: a new
# application is a new payment to check, and the site signs off what it paid.
_FOLLOWS: dict[Duty, tuple[Duty, ...]] = {
    Duty.APPLICATION: (Duty.PAYMENT_CHECK, Duty.SITE_SIGNOFF),
}


def duties_to_redo(named: list[Duty]) -> list[Duty]:
    """The duties a plan sent back owes: those named and what follows them.

    In process order, each once. Only ``REDO_DUTIES`` are expected; the
    batch's validator refuses any other before a verdict is sent.
    """
    owed = set(named)
    for duty in named:
        owed.update(_FOLLOWS.get(duty, ()))
    order = [*REDO_DUTIES, *(d for d in Duty if d not in REDO_DUTIES)]
    return [d for d in order if d in owed]


def waiting_in_redo(redo: list[Duty]) -> set[Duty]:
    """The duties of ``redo`` that rest on another of them, so not owed yet.

    Finance cannot check a payment, nor the site sign off what it paid,
    before the new application is in; its upload opens both again. Until
    then they are nobody's to do now: of them, the plan shows only the
    application owed.
    """
    return {after for duty in redo for after in _FOLLOWS.get(duty, ())} & set(redo)


UPLOAD_DUTY: dict[DocumentKind, Duty] = {
    DocumentKind.SCORE_SUMMARY: Duty.SCORE_SUMMARY,
    DocumentKind.SIGNED_SUMMARY_SCAN: Duty.SIGNED_SCAN,
    DocumentKind.CANDIDATE_SIGN_IN: Duty.CANDIDATE_SIGN_IN,
    DocumentKind.EVALUATOR_SIGN_IN: Duty.EVALUATOR_SIGN_IN,
}


def role_name(role: Role) -> str:
    return t(f"roles.{role.value}")


def duty_names(duties: list[Duty]) -> str:
    return "、".join(t(f"duties.{d.value}") for d in duties)


# Who is told of certificates held out of issuance, with their admission
# numbers and masked names: who mends the cause, who keeps the scores, and
# the school the candidates ask. The status shows the list to them (and to
# admins) only.
HELD_TOLD = (Role.TECH_DEPT, Role.INFO_CENTER, Role.SITE)


def blocked_text(cause: str, rows: list[str]) -> str:
    """What blocks a plan's issuance as a whole, as staff read it: its cause
    (a code of ``certificates.blocked``), naming the printed rows of the
    plan's text the font cannot print where the worker said which."""
    if not rows:
        return t_or(cause, f"certificates.blocked.{cause}")
    named = (t_or(row, f"certificates.blocked_rows.{row}") for row in rows)
    return t(
        "certificates.blocked.plan_text_rows",
        rows=t("certificates.list_separator").join(named),
    )


def held_lines(held: list[HeldCertificate]) -> str:
    """Certificates held out of issuance, one line each, as staff read them:
    admission number, masked name, why, where in the name, and the number
    one was given before issuance checked the font."""
    lines = []
    for h in held:
        number = t("certificates.held.numbered", number=h.number) if h.number else ""
        reason = t_or(
            h.reason,
            f"certificates.held.{h.reason}",
        ).format(positions="、".join(map(str, h.positions)))
        lines.append(
            t(
                "certificates.held.line",
                admission=h.admission_number,
                name=h.masked_name,
                reason=reason,
                number=number,
            )
        )
    return "\n".join(lines)


def duty_codes(duties: list[Duty]) -> str:
    """Duties as the audit trail keeps them: ``application,payment_check``."""
    return ",".join(d.value for d in duties)


def redo_duty_codes() -> str:
    """The duties a rejected plan may be sent back to redo, as typed and named."""
    return named_codes((d.value for d in REDO_DUTIES), "duties.")


def redo_duties_by_party() -> str:
    """The duties a rejected plan may be sent back to redo, each as typed,
    named, and with the party that redoes it: ``application（…，考核站点重办）``."""
    return "、".join(
        t(
            "plan.redo_duty_party",
            code=d.value,
            duty=t(f"duties.{d.value}"),
            party=role_name(DUTY_OWNER[d]),
        )
        for d in REDO_DUTIES
    )


def duties_by_party(duties: list[Duty]) -> str:
    """Reopened duties, by party: ``上传考生签到表（考核站点）；…``."""
    parties = dict.fromkeys(DUTY_OWNER[d] for d in duties)
    return "；".join(
        t(
            "plan.sent_back_group",
            items=duty_names([d for d in duties if DUTY_OWNER[d] is party]),
            party=role_name(party),
        )
        for party in parties
    )


class Obligation(Model):
    """One thing one party owes, with its deadline and the alarms already sent.

    ``key`` is unique in the plan: the duty's name, or ``duty:ref`` for duties
    that exist once per item (one decision per correction request).
    """

    key: str
    duty: Duty
    owner: Role
    opened_at: datetime
    deadline_day: date | None = None
    done_at: datetime | None = None
    done_by: str | None = None
    late: bool = False
    # Positions in the alarm schedule (several due together collapse into one).
    reminders_sent: int = 0
    escalations_sent: int = 0
    # The notices actually sent, as staff count them.
    reminder_mails: int = 0
    escalation_mails: int = 0
    # When the plan took its last overdue notice, where it keeps that (workflow
    # patch ``overdue-repeats-spaced``): the next one comes no sooner than
    # ``overdue_repeat`` after it. None before the first, and in plans from
    # before, whose repeats keep to the deadline's rhythm alone.
    escalated_at: datetime | None = None
    # Closed because the plan was cancelled, not because anybody did it.
    withdrawn: bool = False
    # When it began to wait this time, if it was reopened once done (else
    # ``opened_at``): what its nudges count from.
    reopened_at: datetime | None = None
    # The nudges of a duty without a deadline (see ``take_due_nudge``): the
    # working days of the count under way, at the end of the last of which
    # the next nudge is due (empty: none scheduled); the last day of the
    # counts already waited through (None: none yet, the first counts from
    # the day it began to wait) and how many working days they held; the
    # nudges actually mailed.
    nudge_days: list[date] = Field(default_factory=list)
    counted_from: date | None = None
    days_waited: int = 0
    nudge_mails: int = 0

    @property
    def open(self) -> bool:
        return self.done_at is None

    @property
    def waiting_since(self) -> datetime:
        """When the duty began to wait for its owner this time."""
        return self.reopened_at or self.opened_at

    def working_days_waited(self, now: datetime) -> int | None:
        """The working days it has waited by ``now``, the day it began not
        counted; None while its nudges count none (turned off, not scheduled
        yet, or a plan recorded before nudges)."""
        if not self.nudge_days and self.counted_from is None:
            return None
        ended = sum(1 for day in self.nudge_days if end_of_day(day) <= now)
        return self.days_waited + ended

    @property
    def deadline(self) -> datetime | None:
        """The first instant after the deadline day ends (CST)."""
        return end_of_day(self.deadline_day) if self.deadline_day else None

    def overdue(self, now: datetime) -> bool:
        deadline = self.deadline
        return self.open and deadline is not None and now >= deadline


class AlarmKind(StrEnum):
    REMINDER = "reminder"
    OVERDUE = "overdue"
    OVERDUE_REPEAT = "overdue_repeat"
    # A duty without a deadline that has waited long: its owner alone is
    # told, and it is not overdue.
    NUDGE = "nudge"


@dataclass(frozen=True)
class Alarm:
    """A notification the timer loop owes: to the owner, and the supervisor if late."""

    kind: AlarmKind
    obligation: Obligation

    def uncount(self) -> None:
        """Take this alarm off its obligation's mail counters: it was not mailed.

        Its duty was done before it went out. The counters say what staff
        received; its place in the alarm schedule stays, so the alarm is not
        owed again.
        """
        ob = self.obligation
        if self.kind is AlarmKind.REMINDER:
            ob.reminder_mails -= 1
        elif self.kind is AlarmKind.NUDGE:
            ob.nudge_mails -= 1
        else:
            ob.escalation_mails -= 1


def next_alarm(ob: Obligation, policy: DeadlinePolicy) -> datetime | None:
    """Return when the obligation next needs a reminder or an escalation."""
    deadline = ob.deadline
    if not ob.open or deadline is None:
        return None
    offsets = sorted(policy.remind_before, reverse=True)
    if ob.reminders_sent < len(offsets):
        return deadline - offsets[ob.reminders_sent]
    return _next_escalation(ob, deadline, policy)


def _next_escalation(
    ob: Obligation, deadline: datetime, policy: DeadlinePolicy
) -> datetime:
    """When the obligation's next overdue notice falls due: on the deadline's
    rhythm (its end, then every ``overdue_repeat``), but never sooner than
    ``overdue_repeat`` after the last one where the plan keeps when that was.

    A first notice sent off that rhythm (the plan started after the deadline,
    the duty reopened after it, the worker away) would otherwise be repeated
    at the next beat, hours or seconds after it.
    """
    due = deadline + policy.overdue_repeat * ob.escalations_sent
    if ob.escalations_sent and ob.escalated_at is not None:
        due = max(due, ob.escalated_at + policy.overdue_repeat)
    return due


def take_due_alarms(
    ob: Obligation, policy: DeadlinePolicy, now: datetime
) -> list[Alarm]:
    """Advance the obligation's alarm counters to ``now`` and return what is due.

    Several reminders that fell due together (the timer loop was busy, or the
    obligation opened late) collapse into one, and reminders are never sent once
    the deadline has passed: the overdue notice replaces them.

    Known limitation: overdue notices of several duties falling due together
    (a plan started after its deadline) go out one per duty, not one mail per
    recipient set listing them.
    """
    deadline = ob.deadline
    if not ob.open or deadline is None:
        return []

    alarms: list[Alarm] = []
    offsets = sorted(policy.remind_before, reverse=True)
    reminded = False
    while (
        ob.reminders_sent < len(offsets)
        and deadline - offsets[ob.reminders_sent] <= now
    ):
        ob.reminders_sent += 1
        reminded = True
    if reminded and now < deadline and now >= ob.opened_at:
        alarms.append(Alarm(AlarmKind.REMINDER, ob))
        ob.reminder_mails += 1

    if now >= deadline:
        ob.reminders_sent = len(offsets)
        due = _next_escalation(ob, deadline, policy)
        if due <= now:
            kind = (
                AlarmKind.OVERDUE
                if ob.escalations_sent == 0
                else AlarmKind.OVERDUE_REPEAT
            )
            elapsed = now - deadline
            ob.escalations_sent = int(elapsed / policy.overdue_repeat) + 1
            alarms.append(Alarm(kind, ob))
            ob.escalation_mails += 1
    return alarms


# Who gathers a plan awaiting approval into a batch, on demand (``certflow
# batch gather``); the weekly schedule does it on its own where there is one.
GATHERED_BY = Role.TECH_DEPT
# The duties never nudged: the general manager's approval is owed through an
# approval batch, which the tech dept gathers, not to the plan alone.
NOT_NUDGED = frozenset({Duty.APPROVAL})


def needs_nudges(ob: Obligation, policy: DeadlinePolicy) -> bool:
    """Whether ``ob`` is a duty without a deadline whose nudges are still to
    schedule (``policy.nudge_working_days`` of 0 turns them off)."""
    return (
        ob.open
        and ob.deadline_day is None
        and ob.duty not in NOT_NUDGED
        and policy.nudge_working_days > 0
        and not ob.nudge_days
    )


def nudge_count_start(ob: Obligation) -> date:
    """The day after which the next nudge's working days are counted: the
    day the duty began to wait, or the day the last nudge's count ended."""
    return ob.counted_from or cst_date(ob.waiting_since)


def count_waited(ob: Obligation, days: list[date]) -> None:
    """Take ``days``, a count that ended, as waited through: the next count
    starts after them."""
    ob.days_waited += len(days)
    ob.counted_from = days[-1]


def _nudge_due(ob: Obligation) -> datetime | None:
    """When the obligation's next nudge falls due, if one is scheduled."""
    if not ob.open or ob.deadline_day is not None or not ob.nudge_days:
        return None
    return end_of_day(ob.nudge_days[-1])


def next_nudge_wake(ob: Obligation, now: datetime) -> datetime | None:
    """When the plan next wakes for the obligation's nudges: at the end of
    each working day of the count, so that the working days it shows waited
    (the status, the Web UI) are never a day behind, and the last of them
    sends the nudge."""
    due = _nudge_due(ob)
    if due is None:
        return None
    ends = (end_of_day(day) for day in ob.nudge_days)
    return min((end for end in ends if end > now), default=due)


def take_due_nudge(ob: Obligation, now: datetime) -> Alarm | None:
    """The nudge due by ``now``, its count ended (the next one is scheduled
    anew from its last day); None when none is due.

    A nudge is due once the last working day of its count has ended. A duty
    given a deadline meanwhile is reminded and escalated instead.
    """
    due = _nudge_due(ob)
    if due is None or now < due:
        return None
    count_waited(ob, ob.nudge_days)
    ob.nudge_days = []
    ob.nudge_mails += 1
    return Alarm(AlarmKind.NUDGE, ob)


class HistoryEntry(Model):
    """One line of the plan's recent history, shown by the status query.

    A decision's line carries its outcome and reason: the same action read
    twice (sent back, then approved) must not look the same to staff.
    ``ref`` names what was acted on (a request or a batch); ``note`` is the
    reason staff gave, never personal data of a candidate.
    """

    at: datetime
    action: str
    role: Role | None = None
    person: str | None = None
    late: bool = False
    note: str = ""
    outcome: str = ""  # a code of ``cli.outcomes``: approved, sent_back, ...
    ref: str = ""


class CorrectionStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    APPLIED = "applied"


# A correction request not closed, and the duty it waits for.
_OPEN_CORRECTION = {
    CorrectionStatus.PENDING: Duty.CORRECTION_DECISION,
    CorrectionStatus.APPROVED: Duty.CORRECTION_APPLY,
}


class CorrectionState(Model):
    """What the workflow keeps of one correction request (scores stay in the DB)."""

    request_id: str
    status: CorrectionStatus = CorrectionStatus.PENDING
    received_at: datetime
    decided_by: str | None = None


class ConsistencySummary(Model):
    """What the workflow keeps of the consistency report: the verdict and counts.

    ``verdict`` is the computed one, written before anybody looked; the
    regional contact's decision on it is kept beside it, so the status says
    what became of the report, not only what it found.
    """

    consistent: bool
    verdict: str
    mismatch_count: int
    mismatches: list[str] = Field(default_factory=list)  # masked, capped
    report: DocumentRef | None = None
    review_outcome: str | None = None  # approved | sent_back
    reviewed_by: str | None = None
    review_reason: str = ""


class Cancellation(Model):
    """Who cancelled the plan, when, why, and in which stage it then stood."""

    at: datetime
    role: Role
    person: str
    reason: str
    stage: Stage


class VoidedInvoice(Model):
    """An invoice set aside (作废): the payment it was for is checked again,
    or it was reversed (红字冲销) and issued anew for another amount under a
    new number (``replaced_by``).

    A money record is never dropped from view: each stays listed, with when,
    by whom and why it was voided, after finance records the next invoice.
    """

    number: str
    issued_on: date | None = None
    amount: float | None = None
    voided_at: datetime
    role: Role
    person: str
    reason: str = ""
    # The approval batch whose rejection sent the payment back, if one did.
    batch_id: str = ""
    # The number of the invoice issued in its place, where it was reversed.
    replaced_by: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def amount_text(self) -> str | None:
        return _yuan(self.amount)


class PaymentRecord(Model):
    """The site's declared payment and finance's check of it."""

    declared_amount: float | None = None
    head_count: int | None = None
    absentees_paid: int = 0
    paid_plan_ids: list[str] = Field(default_factory=list)
    # The day the site says it paid, and the day finance saw the money arrive:
    # money cannot arrive before it was paid, nor be invoiced before it arrived.
    paid_on: date | None = None
    confirmed_amount: float | None = None
    received_on: date | None = None
    # Finance's reference of the money received (bank statement line);
    # empty in plans from before it was kept, or when finance gave none.
    received_reference: str = ""
    invoice_number: str | None = None
    # 缴费方式 as the site gave it; empty in plans from before it was kept.
    method: str = ""
    # The invoice's date and amount; None in plans from before they were kept.
    invoice_issued_on: date | None = None
    invoice_amount: float | None = None
    # The confirmed amount the recorded invoice was taken against: a joint
    # payment's whole invoice is for the total, so this is what tells whether
    # the plan's share changed since. None in plans from before it was kept.
    invoiced_share: float | None = None
    # An invoice set aside: the payment it was for is being checked again, so
    # it is no longer the plan's invoice (finance records the new one).
    void_invoice_number: str | None = None
    # Every invoice set aside so far, oldest first; kept once a new one is in.
    # A plan carries the last VOIDED_KEPT to its next run, and counts those
    # before (in the audit trail, ``void_invoice``).
    voided_invoices: list[VoidedInvoice] = Field(default_factory=list)
    voided_earlier: int = 0
    # The difference a correction made between the confirmed payment and the
    # corrected counts, while finance has not settled it; and those settled,
    # oldest first (the confirmed figures above read the settled total).
    difference: PaymentDifference | None = None
    settlements: list[SettledDifference] = Field(default_factory=list)
    # The settlements of the payment confirmed now start here: a payment
    # confirmed anew (after a batch's return) is priced at its own rate.
    priced_from: int = 0
    # What the site's application declared, kept once a settlement (or a
    # correction leaving the money as it was) made the declared figures above
    # read the settled total; None while they are the site's own.
    site_declared_amount: float | None = None
    site_head_count: int | None = None

    # Money as text with two decimals, beside the floats kept for readers of
    # the status from before (``status --json``): 4200.0 reads "4200.00".
    @computed_field  # type: ignore[prop-decorator]
    @property
    def declared_amount_text(self) -> str | None:
        return _yuan(self.declared_amount)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def confirmed_amount_text(self) -> str | None:
        return _yuan(self.confirmed_amount)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def invoice_amount_text(self) -> str | None:
        return _yuan(self.invoice_amount)

    def take_figures(self, difference: PaymentDifference) -> None:
        """The confirmed payment reads ``difference``'s expected figures: it
        was settled, or its money did not change. The application's figures
        follow, so its check adds up again against the counts."""
        self.difference = None
        if self.site_declared_amount is None:
            self.site_declared_amount = self.declared_amount
            self.site_head_count = self.head_count
        self.head_count = difference.expected_heads
        self.absentees_paid = difference.expected_absentees_paid
        amount = float(difference.expected_amount)
        self.confirmed_amount = amount
        self.declared_amount = amount

    def set_invoice_aside(
        self, at: datetime, actor: Actor, reason: str, batch_id: str = ""
    ) -> VoidedInvoice | None:
        """The recorded invoice is void: the payment is being checked again.

        Returns the invoice voided, now listed in ``voided_invoices``; None
        when the plan held no invoice.
        """
        voided = self._void(at, actor, reason, batch_id=batch_id)
        if voided is not None:
            self.void_invoice_number = voided.number
        self.invoice_number = None
        self.invoice_issued_on = None
        self.invoice_amount = None
        return voided

    def reverse_invoice(
        self, at: datetime, actor: Actor, reason: str, replaced_by: str
    ) -> VoidedInvoice | None:
        """The recorded invoice was reversed (红字冲销) and issued anew under
        the number ``replaced_by``: listed in ``voided_invoices``, before
        finance's correction records the new one. None with no invoice."""
        return self._void(at, actor, reason, replaced_by=replaced_by)

    def _void(
        self,
        at: datetime,
        actor: Actor,
        reason: str,
        *,
        batch_id: str = "",
        replaced_by: str = "",
    ) -> VoidedInvoice | None:
        if self.invoice_number is None:
            return None
        voided = VoidedInvoice(
            number=self.invoice_number,
            issued_on=self.invoice_issued_on,
            amount=self.invoice_amount,
            voided_at=at,
            role=actor.role,
            person=actor.person,
            reason=reason.strip(),
            batch_id=batch_id,
            replaced_by=replaced_by,
        )
        self.voided_invoices.append(voided)
        return voided


def _yuan(amount: float | None) -> str | None:
    if amount is None:
        return None
    return f"{Decimal(str(amount)).quantize(Decimal('0.01'))}"


class BatchMembership(Model):
    batch_id: str
    joined_at: datetime


class PlanState(Model):
    """All the state of one exam-plan workflow, carried across continue-as-new."""

    info: PlanInfo
    policy: DeadlinePolicy
    stage: Stage = Stage.SCORE_SUBMISSION
    started_at: datetime
    obligations: dict[str, Obligation] = Field(default_factory=dict)
    documents: dict[DocumentKind, DocumentRef] = Field(default_factory=dict)
    document_versions: dict[DocumentKind, int] = Field(default_factory=dict)
    summary: SummaryStats | None = None
    signed_evaluator_ids: list[str] = Field(default_factory=list)
    consistency: ConsistencySummary | None = None
    sent_back_reason: str | None = None
    platform_import: DocumentRef | None = None
    score_upload_confirmed_at: datetime | None = None
    publicity: PublicityWindow | None = None
    calendar_missing_years: list[int] = Field(default_factory=list)
    corrections: dict[str, CorrectionState] = Field(default_factory=dict)
    publicity_closed: bool = False
    payment: PaymentRecord = Field(default_factory=PaymentRecord)
    # The application in force as it was sent (``ApplicationUpload.sent_as``):
    # the same one sent again is not taken as a new version. None before one
    # was accepted.
    application_sent: str | None = None
    batch: BatchMembership | None = None
    # The last gathering that left the plan out of its batch, until a batch
    # takes it (see ``held_back``).
    batch_hold: BatchHold | None = None
    approval_note: str | None = None
    # The tech dept's word that the plan is ready for approval, withheld while
    # its payment holds it out of every batch: sent once nothing does.
    ready_mail_withheld: bool = False
    # The figures of the hold another plan of its joint payment puts on the
    # plan (see ``PlanStore.joint_holds``), as the database said when the
    # plan came to await approval or its own hold lifted; None when none
    # did, and once the plan is freed (``payment_freed``) or gathered.
    partner_hold: dict[str, str] | None = None
    certificates_issued: int = 0
    # How many of them were revoked since, as the revocations were signalled.
    certificates_revoked: int = 0
    # Certificates held out of issuance (see ``HeldCertificate``), and what
    # blocks the plan's issuance as a whole (a code of ``certificates.blocked``).
    certificates_held: list[HeldCertificate] = Field(default_factory=list)
    issuance_blocked: str | None = None
    # Where the cause is the plan's text, the printed rows of it the font
    # cannot print (``PrintGap.row``); empty for another cause, or where the
    # worker did not say (patch ``issuance-blocked-rows-named``).
    issuance_blocked_rows: list[str] = Field(default_factory=list)
    cancellation: Cancellation | None = None
    # Set when publicity closes, in plans run under the rule that a plan
    # nobody passed owes no application (patch ``no-certificates-to-issue``):
    # plans from before took applications as they did.
    nobody_passed_rule: bool = False
    # Publicity is over, nobody passes, and corrections are still open: no
    # application nor sign-off is owed until one makes a candidate pass (they
    # open then, with the payment deadline) or the last closes (the plan ends
    # with no certificate to issue, see ``nothing_to_issue``).
    payment_waits_for_corrections: bool = False
    history: list[HistoryEntry] = Field(default_factory=list)

    # -- obligations -------------------------------------------------------

    def open_duty(
        self,
        duty: Duty,
        now: datetime,
        deadline_day: date | None = None,
        ref: str | None = None,
    ) -> Obligation:
        """Open (or reopen) the obligation for ``duty``.

        A reopened obligation keeps its deadline unless a new one is given.
        """
        key = f"{duty.value}:{ref}" if ref else duty.value
        existing = self.obligations.get(key)
        if existing is not None:
            if not existing.open:
                # It waits anew: its nudges count from now.
                existing.reopened_at = now
                existing.nudge_days = []
                existing.counted_from = None
                existing.days_waited = 0
            existing.done_at = None
            existing.done_by = None
            if deadline_day is not None:
                existing.deadline_day = deadline_day
            return existing
        ob = Obligation(
            key=key,
            duty=duty,
            owner=DUTY_OWNER[duty],
            opened_at=now,
            deadline_day=deadline_day,
        )
        self.obligations[key] = ob
        return ob

    def close_duty(self, key: str, now: datetime, actor: Actor | None) -> bool:
        """Mark the obligation done; return True when it was done late.

        An obligation done before is left as it is, but the action repeating it
        (a replacement file) is late too once the deadline has passed.
        """
        ob = self.obligations.get(key)
        if ob is None:
            return False
        if not ob.open:
            return self.is_late(key, now)
        ob.done_at = now
        ob.done_by = actor.person if actor else None
        ob.late = self.is_late(key, now)
        return ob.late

    def is_late(self, key: str, now: datetime) -> bool:
        """Whether the obligation, done ``now``, is done late (as
        ``close_duty`` would say): its deadline has passed."""
        ob = self.obligations.get(key)
        return ob is not None and ob.deadline is not None and now >= ob.deadline

    def set_aside(self, key: str) -> None:
        """Forget the obligation: it is owed again only once the duty it rests
        on is done again, which opens it anew (see ``waiting_in_redo``)."""
        self.obligations.pop(key, None)

    def is_done(self, key: str) -> bool:
        ob = self.obligations.get(key)
        return ob is not None and not ob.open

    def is_open(self, key: str) -> bool:
        ob = self.obligations.get(key)
        return ob is not None and ob.open

    def open_corrections(self) -> list[CorrectionState]:
        """The correction requests not closed: waiting for the regional
        manager's decision, or approved and waiting for the info center."""
        return [c for c in self.corrections.values() if c.status in _OPEN_CORRECTION]

    def corrections_holding(self) -> str:
        """The open correction requests, each with who owes it what and by
        when, as the org sign-off they hold up names them; empty when none.

        ``…-C001（信息管理中心“将修改后的成绩更新至国家平台和数据库”，截止 …）``.
        """
        lines = []
        for c in self.open_corrections():
            duty = _OPEN_CORRECTION[c.status]
            ob = self.obligations.get(f"{duty.value}:{c.request_id}")
            day = ob.deadline_day if ob is not None else None
            lines.append(
                t(
                    "plan.correction_holding",
                    request_id=c.request_id,
                    owner=role_name(DUTY_OWNER[duty]),
                    duty=t(f"duties.{duty.value}"),
                    deadline=(
                        t("plan.holding_deadline", deadline=format_deadline(day))
                        if day
                        else t("plan.no_deadline")
                    ),
                )
            )
        return "、".join(lines)

    def holding_roles(self) -> list[Role]:
        """Who owes the open correction requests, in process order."""
        owed = {_OPEN_CORRECTION[c.status] for c in self.open_corrections()}
        return [DUTY_OWNER[d] for d in _OPEN_CORRECTION.values() if d in owed]

    def open_obligations(self) -> list[Obligation]:
        return [ob for ob in self.obligations.values() if ob.open]

    def held_back(self) -> BatchHold | None:
        """Why the last gathering left the plan out, while it still waits for
        a batch; None once a batch took it, or it waits no more."""
        if self.stage is not Stage.AWAITING_APPROVAL or self.batch is not None:
            return None
        hold = self.batch_hold
        if hold is None or hold.invoices or not hold.payment_reason:
            return hold
        if hold.payment_reason == HOLD_JOINT:
            # Another plan of its payment held it: as the gathering said.
            return hold
        # The plan's own payment held it: what holds it now is the plan's to
        # say (a settlement or a corrected invoice since lifts or changes it).
        reason, details = self.payment_hold()
        if reason is None:
            return None
        return hold.model_copy(
            update={"payment_reason": reason, "payment_details": details}
        )

    def payment_hold(self) -> tuple[str | None, dict[str, str]]:
        """What holds the plan out of approval by its payment, with the
        figures staff are shown: a difference not settled, an invoice not
        corrected to the settled total, or nothing (None)."""
        payment = self.payment
        if self.is_open(Duty.PAYMENT_DIFFERENCE.value) and payment.difference:
            return HOLD_DIFFERENCE, hold_details(payment.difference)
        if self.is_open(Duty.INVOICE_CORRECTION.value):
            return HOLD_INVOICE, {
                "invoice": payment.invoice_number or "",
                "invoice_amount": payment.invoice_amount_text or "",
                "confirmed": payment.confirmed_amount_text or "",
            }
        return None, {}

    def gathering_hold(self) -> tuple[str | None, dict[str, str]]:
        """What holds the plan, awaiting its gathering into a batch, out of
        every batch by a payment, with the figures staff are shown: its own
        (``payment_hold``), or another plan's of its joint payment invoiced
        whole, as the last gathering or the database said (``joint``); or
        nothing (None). A gathering would leave the plan out."""
        if self.stage is not Stage.AWAITING_APPROVAL or self.batch is not None:
            return None, {}
        reason, details = self.payment_hold()
        if reason is not None:
            return reason, details
        hold = self.batch_hold
        if hold is not None and hold.payment_reason == HOLD_JOINT:
            return HOLD_JOINT, hold.payment_details
        if self.partner_hold is not None:
            return HOLD_JOINT, self.partner_hold
        return None, {}

    def awaits_gathering(self, ob: Obligation) -> bool:
        """Whether ``ob`` is the approval of a plan no batch has taken yet:
        owed first by whoever gathers batches (the weekly schedule, or the
        tech dept on demand), and by the general manager only once a batch
        holds the plan."""
        return ob.duty is Duty.APPROVAL and self.batch is None

    def awaits_payment(self, ob: Obligation) -> bool:
        """Whether ``ob`` is the approval of a plan its payment holds out of
        every batch (``gathering_hold``): nobody owes its gathering until
        the hold lifts, only the duty holding it (a settlement, an invoice
        corrected, here or on another plan of the payment)."""
        return self.awaits_gathering(ob) and self.gathering_hold()[0] is not None

    def owed_obligations(self) -> list[Obligation]:
        """The open obligations someone owes now: all but an approval its
        payment holds out of every batch (``awaits_payment``)."""
        return [ob for ob in self.open_obligations() if not self.awaits_payment(ob)]

    def acting_owner(self, ob: Obligation) -> Role:
        """Who acts next on ``ob``: its owner, but the tech dept (who gathers
        batches) for an approval no batch has taken yet."""
        return GATHERED_BY if self.awaits_gathering(ob) else ob.owner

    def owed_by(self, *, gathering: bool = False, held: bool = False) -> list[str]:
        """The parties owing the plan something, for the ``OwedBy`` search
        attribute. With ``gathering`` (workflow patch
        ``approval-owed-once-gathered``) an approval no batch has taken yet
        counts as the tech dept's (:meth:`acting_owner`); before, it counted
        as the general manager's from the moment the plan awaited approval.
        With ``held`` too (patch ``gathering-owed-once-payment-frees``), it
        counts as nobody's while the plan's payment holds it out of every
        batch (:meth:`awaits_payment`); before, as the tech dept's."""
        owed = self.owed_obligations() if held else self.open_obligations()
        return sorted(
            {(self.acting_owner(ob) if gathering else ob.owner).value for ob in owed}
        )

    def next_deadline(self) -> datetime | None:
        deadlines = [ob.deadline for ob in self.open_obligations() if ob.deadline]
        return min(deadlines) if deadlines else None

    def overdue(self, now: datetime) -> bool:
        return any(ob.overdue(now) for ob in self.open_obligations())

    def withdraw_all(self, now: datetime, actor: Actor | None) -> list[Obligation]:
        """Close every open obligation of a plan that ends without them (it
        was cancelled by ``actor``, or has nothing to issue); return those
        closed.

        Alarms are computed from the open obligations only, so once none is
        open no reminder or overdue notice can fall due again.
        """
        closed = self.open_obligations()
        for ob in closed:
            ob.done_at = now
            ob.done_by = actor.person if actor else None
            ob.withdrawn = True
        return closed

    def passed(self) -> int | None:
        """The candidates who pass as the counts stand; None before a summary."""
        return self.summary.passed if self.summary is not None else None

    def corrections_closed(self) -> bool:
        """True when no correction request waits for a decision or to be applied."""
        return not self.open_corrections()

    def remember(self, entry: HistoryEntry) -> None:
        self.history.append(entry)
        del self.history[:-HISTORY_KEEP]

    def carried(self) -> PlanState:
        """The state as the plan hands it to its next run, and as its status
        shows it: bounded, whatever was recorded before the bounds.

        Each text staff gave is cut to its bound (``certflow.free_text``),
        a history line's note and what it names to ``NOTE_KEPT``, and only
        the last ``VOIDED_KEPT`` voided invoices are kept (those before are
        counted). A plan that took a 43,000-character reason before its
        bound, sent back a few times, carried more than the server takes
        (2 MB) and stopped for good. The whole texts stay in the plan's
        history and in the database's audit trail. Every list the plan's
        actions grow is bounded: the history lines (``HISTORY_KEEP``) and
        the voided invoices here; the rest grow with the plan's candidates
        and correction requests, not with its actions.
        """
        state = self.model_copy(deep=True)
        del state.history[:-HISTORY_KEEP]
        for entry in state.history:
            entry.note = clipped(entry.note, NOTE_KEPT)
            entry.ref = clipped(entry.ref, NOTE_KEPT)
        if state.sent_back_reason is not None:
            state.sent_back_reason = clipped(state.sent_back_reason, REASON_MAX_LENGTH)
        if state.approval_note is not None:
            state.approval_note = clipped(state.approval_note, REASON_MAX_LENGTH)
        if state.consistency is not None:
            review = state.consistency
            review.review_reason = clipped(review.review_reason, REASON_MAX_LENGTH)
        if state.cancellation is not None:
            cancelled = state.cancellation
            cancelled.reason = clipped(cancelled.reason, REASON_MAX_LENGTH)
        if state.application_sent is not None:
            state.application_sent = clipped(state.application_sent, APPLICATION_KEPT)
        for ref in (*state.documents.values(), state.platform_import):
            if ref is not None:
                ref.filename = clipped(ref.filename, FILENAME_MAX_LENGTH)
        payment = state.payment
        payment.method = clipped(payment.method, DETAIL_MAX_LENGTH)
        payment.received_reference = clipped(
            payment.received_reference, DETAIL_MAX_LENGTH
        )
        dropped = max(0, len(payment.voided_invoices) - VOIDED_KEPT)
        payment.voided_earlier += dropped
        del payment.voided_invoices[:dropped]
        for voided in payment.voided_invoices:
            voided.reason = clipped(voided.reason, REASON_MAX_LENGTH)
        for settled in payment.settlements:
            settled.reference = clipped(settled.reference, DETAIL_MAX_LENGTH)
        return state


# -- who may do what, and when ---------------------------------------------


class Action(StrEnum):
    """Every staff action on a plan; each is one workflow update."""

    UPLOAD_SCORE_SUMMARY = "upload_score_summary"
    UPLOAD_SIGNED_SCAN = "upload_signed_scan"
    UPLOAD_CANDIDATE_SIGN_IN = "upload_candidate_sign_in"
    UPLOAD_EVALUATOR_SIGN_IN = "upload_evaluator_sign_in"
    CONFIRM_SCORE_SUMMARY = "confirm_score_summary"
    REVIEW_CONSISTENCY = "review_consistency"
    CONFIRM_SCORE_UPLOAD = "confirm_score_upload"
    SUBMIT_CORRECTION = "submit_correction"
    DECIDE_CORRECTION = "decide_correction"
    APPLY_CORRECTION = "apply_correction"
    UPLOAD_APPLICATION = "upload_application"
    CONFIRM_PAYMENT = "confirm_payment"
    RECORD_INVOICE = "record_invoice"
    CORRECT_PAYMENT = "correct_payment"
    CORRECT_INVOICE = "correct_invoice"
    ORG_SIGNOFF = "org_signoff"
    SITE_SIGNOFF = "site_signoff"
    CANCEL_PLAN = "cancel_plan"
    ISSUE_AGAIN = "issue_again"
    SETTLE_PAYMENT_DIFFERENCE = "settle_payment_difference"


@dataclass(frozen=True)
class ActionRule:
    roles: frozenset[Role]
    stages: frozenset[Stage]


def _rule(roles: set[Role], stages: set[Stage]) -> ActionRule:
    return ActionRule(frozenset(roles), frozenset(stages))


_LATE_PAYMENT_STAGES = {Stage.PAYMENT_AND_SIGNOFF, Stage.AWAITING_APPROVAL}

ACTION_RULES: dict[Action, ActionRule] = {
    Action.UPLOAD_SCORE_SUMMARY: _rule({Role.LEAD_EVALUATOR}, {Stage.SCORE_SUBMISSION}),
    Action.UPLOAD_SIGNED_SCAN: _rule({Role.LEAD_EVALUATOR}, {Stage.SCORE_SUBMISSION}),
    Action.UPLOAD_CANDIDATE_SIGN_IN: _rule({Role.SITE}, {Stage.SCORE_SUBMISSION}),
    Action.UPLOAD_EVALUATOR_SIGN_IN: _rule({Role.SITE}, {Stage.SCORE_SUBMISSION}),
    Action.CONFIRM_SCORE_SUMMARY: _rule({Role.SITE}, {Stage.SCORE_SUBMISSION}),
    Action.REVIEW_CONSISTENCY: _rule(
        {Role.REGIONAL_CONTACT}, {Stage.CONSISTENCY_REVIEW}
    ),
    Action.CONFIRM_SCORE_UPLOAD: _rule({Role.INFO_CENTER}, {Stage.SCORE_PUBLICATION}),
    # The exam mailbox is read by the info center's intake; staff of the exam
    # office may also enter a request received another way. A plan waiting for
    # its publicity refuses one with the first day (see the plan's check): let
    # through here to be said so.
    Action.SUBMIT_CORRECTION: _rule(
        {Role.INFO_CENTER, Role.REGIONAL_CONTACT, Role.REGIONAL_MANAGER},
        {Stage.AWAITING_PUBLICITY, Stage.PUBLICITY},
    ),
    Action.DECIDE_CORRECTION: _rule(
        {Role.REGIONAL_MANAGER}, {Stage.PUBLICITY, Stage.PAYMENT_AND_SIGNOFF}
    ),
    Action.APPLY_CORRECTION: _rule(
        {Role.INFO_CENTER}, {Stage.PUBLICITY, Stage.PAYMENT_AND_SIGNOFF}
    ),
    Action.UPLOAD_APPLICATION: _rule({Role.SITE}, {Stage.PAYMENT_AND_SIGNOFF}),
    Action.CONFIRM_PAYMENT: _rule({Role.FINANCE}, {Stage.PAYMENT_AND_SIGNOFF}),
    Action.RECORD_INVOICE: _rule(
        {Role.FINANCE},
        _LATE_PAYMENT_STAGES | {Stage.ISSUANCE, Stage.ISSUED},
    ),
    # Finance corrects its own record until the plan is approved; the stages
    # after are let through to be refused with their reason (see
    # ``correction_refusal``).
    Action.CORRECT_PAYMENT: _rule(
        {Role.FINANCE}, _LATE_PAYMENT_STAGES | {Stage.ISSUANCE, Stage.ISSUED}
    ),
    Action.CORRECT_INVOICE: _rule(
        {Role.FINANCE}, _LATE_PAYMENT_STAGES | {Stage.ISSUANCE, Stage.ISSUED}
    ),
    # While the plan waits for its approval too: a difference holds it out
    # of every batch until settled.
    Action.SETTLE_PAYMENT_DIFFERENCE: _rule({Role.FINANCE}, _LATE_PAYMENT_STAGES),
    Action.ORG_SIGNOFF: _rule({Role.TECH_DEPT}, {Stage.PAYMENT_AND_SIGNOFF}),
    Action.SITE_SIGNOFF: _rule({Role.SITE}, {Stage.PAYMENT_AND_SIGNOFF}),
    # A plan started by mistake is withdrawn by those who start plans for the
    # organisation. The stages it is refused in each have their own reason
    # (see ``cancel_refusal``), so the shared check lets every stage through.
    Action.CANCEL_PLAN: _rule({Role.ADMIN, Role.TECH_DEPT}, set(Stage)),
    # Once the cause of a held or blocked issuance is mended (see
    # ``Duty.ISSUANCE_REPAIR``).
    Action.ISSUE_AGAIN: _rule({Role.TECH_DEPT}, {Stage.ISSUANCE, Stage.ISSUED}),
}

# The stages whose publicity window is known and not over, and how an action
# of stages 5-8 is refused in each: with the day it can be done.
_BEFORE_PUBLICITY_ENDS = {
    Stage.AWAITING_PUBLICITY: "plan.wait_for_publicity_start",
    Stage.PUBLICITY: "plan.wait_for_publicity_end",
}

# Once certificates are being issued a plan is no mistake to withdraw: an
# issued certificate is revoked one by one instead.
_NOT_CANCELLABLE = {Stage.ISSUANCE, Stage.ISSUED}


class Refusal(Exception):
    """A staff action the plan refuses; ``code`` is stable, ``message`` Chinese."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def role_refusal(action: Action, role: Role) -> Refusal | None:
    """The refusal of ``role`` for an ``action`` that is not its; None if it is.

    The first check of ``check_action``; the staff tool asks it too, so a
    role is refused before it is asked for anything else (a site's code).
    """
    rule = ACTION_RULES[action]
    if role in rule.roles:
        return None
    allowed = "、".join(t(f"roles.{r.value}") for r in sorted(rule.roles))
    return Refusal(
        "wrong_role",
        t("plan.wrong_role", action=t(f"actions.{action.value}"), allowed=allowed),
    )


def check_action(state: PlanState, action: Action, actor: Actor) -> None:
    """Refuse an action from the wrong role, for another site, or in the wrong stage.

    Argument-specific checks live with each action; this is the part every action
    shares, so a validator can never forget one of them.
    """
    if (refusal := role_refusal(action, actor.role)) is not None:
        raise refusal
    rule = ACTION_RULES[action]
    if actor.role is Role.SITE and actor.site_code != state.info.site_code:
        raise Refusal("wrong_site", t("plan.wrong_site", plan_id=state.info.plan_id))
    # The lead evaluator is one named person of the plan, not any lead evaluator,
    # matched as staff type ids: ``zcx-e-0107`` is ``ZCX-E-0107``.
    if actor.role is Role.LEAD_EVALUATOR and not is_lead_evaluator(
        state.info, actor.person
    ):
        raise Refusal(
            "wrong_person",
            t(
                "plan.wrong_lead",
                plan_id=state.info.plan_id,
                lead=state.info.lead_evaluator_id,
            ),
        )
    window = state.publicity
    if (
        state.stage in _BEFORE_PUBLICITY_ENDS
        and Stage.PUBLICITY not in rule.stages
        and Stage.PAYMENT_AND_SIGNOFF in rule.stages
        and window is not None
    ):
        # Said with the day it can be done: the day after publicity ends.
        raise Refusal(
            "wrong_stage",
            t(
                _BEFORE_PUBLICITY_ENDS[state.stage],
                action=t(f"actions.{action.value}"),
                start=window.start_day.isoformat(),
                end=window.end_day.isoformat(),
                opens=(window.end_day + timedelta(days=1)).isoformat(),
            ),
        )
    if state.stage is Stage.NO_CERTIFICATES and state.stage not in rule.stages:
        # Said as the plan says it once its workflow has ended.
        raise Refusal("wrong_stage", t("plan.ended_no_certificates"))
    if state.stage not in rule.stages:
        raise Refusal(
            "wrong_stage",
            t(
                "plan.wrong_stage",
                action=t(f"actions.{action.value}"),
                stage=t(f"stages.{state.stage.value}"),
            ),
        )


def is_lead_evaluator(plan: PlanInfo, person: str) -> bool:
    """Whether ``person``, as typed, is the plan's lead evaluator."""
    return staff_key(person) == staff_key(plan.lead_evaluator_id)


def unknown_signers(plan: PlanInfo, signed: list[str]) -> list[str]:
    """The staff ids of ``signed`` (as typed) that are not of the plan's team."""
    team = {staff_key(s) for s in (plan.lead_evaluator_id, *plan.evaluator_ids)}
    return [s for s in signed if staff_key(s) not in team]


def money_held(payment: PaymentRecord) -> str | None:
    """What a plan holds of its payment, for a cancellation to name: the
    money finance confirmed, the invoice recorded, and a payment difference
    not settled (a supplement the site may have paid already is finance's to
    return too); None when nothing is confirmed nor invoiced."""
    held = []
    if payment.confirmed_amount_text is not None:
        held.append(
            t(
                "plan.money_held_received",
                amount=payment.confirmed_amount_text,
                day=payment.received_on.isoformat() if payment.received_on else "—",
            )
        )
    if payment.invoice_number is not None:
        held.append(
            t(
                "plan.money_held_invoice",
                number=payment.invoice_number,
                amount=payment.invoice_amount_text or "—",
            )
        )
    if held and payment.difference is not None:
        held.append(
            t(
                "plan.money_held_difference",
                difference=difference_text(payment.difference),
            )
        )
    return "，".join(held) or None


def cancel_refusal(
    state: PlanState, reason: str, *, refund_by_finance: bool = True
) -> Refusal | None:
    """Refuse a cancellation the plan cannot take, saying why in staff's terms.

    A plan holding money (a confirmed payment, an invoice) is cancelled only
    when ``refund_by_finance`` says whoever cancels it knows finance has the
    money refunded and the invoice reversed (红字发票): the plan ends, and the
    money would otherwise be nobody's to follow.
    """
    if state.stage is Stage.CANCELLED:
        return Refusal("already_done", t("plan.already_cancelled"))
    if state.stage is Stage.NO_CERTIFICATES:
        return Refusal("already_done", t("plan.cancel_no_certificates"))
    if state.stage in _NOT_CANCELLABLE:
        return Refusal(
            "wrong_stage",
            t("plan.cancel_after_issuance", stage=t(f"stages.{state.stage.value}")),
        )
    if state.batch is not None:
        # The general manager decides on the batch as it was sent: a plan
        # vanishing from it would leave the decision about a plan that is gone.
        return Refusal(
            "in_batch", t("plan.cancel_in_batch", batch_id=state.batch.batch_id)
        )
    if not reason.strip():
        return Refusal("reason_required", t("plan.cancel_reason_required"))
    held = money_held(state.payment)
    if held is not None and not refund_by_finance:
        return Refusal("money_held", t("plan.cancel_money_held", held=held))
    return None


def correction_refusal(
    state: PlanState, reason: str, *, after_approval: bool = False
) -> Refusal | None:
    """Refuse a correction of finance's record the plan can no longer take.

    Finance corrects its payment confirmation until the plan is approved:
    the certificates are issued on it (4.2.6). Its invoice, which holds no
    approval, it corrects also once the plan is approved (``after_approval``:
    a red-letter invoice and a new one). While an approval batch holds the
    plan, the general manager decides on the records as gathered: the plan
    must be rejected first.
    """
    approved = state.stage in _NOT_CANCELLABLE
    if approved and not after_approval:
        return Refusal("wrong_stage", t("plan.correct_after_approval"))
    if state.batch is not None and not approved:
        return Refusal(
            "in_batch", t("plan.correct_in_batch", batch_id=state.batch.batch_id)
        )
    if not reason.strip():
        return Refusal("reason_required", t("plan.correct_reason_required"))
    return None


def refusal_problem(refusal: Refusal) -> Problem:
    return Problem(code=refusal.code, message=refusal.message)


def date_after_today(key: str, day: date, today: date) -> Refusal | None:
    """Refuse a day that has not come yet: money is recorded as it happened.

    ``key`` is the message naming which date it is; ``today`` is the plan's
    clock in CST, so a replay decides the same.
    """
    if day <= today:
        return None
    return Refusal("future_date", t(key, day=day.isoformat(), today=today.isoformat()))


def date_before(key: str, day: date, earliest: date | None) -> Refusal | None:
    """Refuse a day before the one it must follow (unknown for older plans)."""
    if earliest is None or day >= earliest:
        return None
    return Refusal(
        "date_order", t(key, day=day.isoformat(), earliest=earliest.isoformat())
    )


def application_scan_refusal(scan: DocumentRef) -> Refusal | None:
    """Refuse an application scan that is empty or no PDF, JPEG or PNG.

    The staff tool reads the file's first bytes (``certflow.scan``) and names
    its media type by them; here the reference it sent is checked again.
    """
    if scan.size == 0:
        return Refusal(
            "empty", t("plan.application_scan", reason=t("intake_db.scan_empty"))
        )
    if scan.media_type not in SCAN_MEDIA_TYPES:
        return Refusal(
            "not_a_scan", t("plan.application_scan", reason=t("intake_db.scan_format"))
        )
    return None


def paid_plans_refusal(paid_plan_ids: list[str], plan_id: str) -> Refusal | None:
    """Refuse a list of plans paid for that repeats one or leaves this one out."""
    repeated = sorted({p for p in paid_plan_ids if paid_plan_ids.count(p) > 1})
    if repeated:
        return Refusal(
            "bad_argument", t("plan.paid_plan_repeated", plans="、".join(repeated))
        )
    if plan_id not in paid_plan_ids:
        return Refusal(
            "bad_argument",
            t("plan.plan_not_paid", paid="、".join(paid_plan_ids), plan_id=plan_id),
        )
    return None


def invoice_number_refusal(text: str) -> Refusal | None:
    """Refuse what is no invoice number: blank, or not 8 to 20 digits."""
    if not text.strip():
        return Refusal("bad_argument", t("plan.invoice_number_blank"))
    number = invoice_number(text)
    if number is None or is_invoice_placeholder(number):
        return Refusal("bad_argument", t("plan.bad_invoice_number", value=shown(text)))
    return None


def invoice_number_id_refusal(text: str) -> Refusal | None:
    """Refuse an invoice number that could be an ID number (18 characters,
    the check character an X too), without repeating it: none is an
    invoice's (a paper invoice's has 8 digits, a 全电 invoice's 20), though
    18 digits fall within the 8 to 20 taken, and one kept would be printed by
    ``status`` and stay in the audit trail for good.

    Checked where a number is typed (the staff tool, the plan's validator),
    not when an update already accepted waits its turn: numbers accepted
    before this check replay as they were taken.
    """
    if could_be_id_number(text):
        return Refusal("bad_argument", t("plan.invoice_number_id"))
    return None


def is_joint(payment: PaymentRecord) -> bool:
    """Whether the payment covers other plans too (合并缴费): one invoice for all."""
    return len(set(payment.paid_plan_ids)) > 1


def joint_total_claimed(payment: PaymentRecord, amount: Decimal) -> bool:
    """Whether an invoice of ``amount`` is for the whole of a joint payment.

    An invoice is issued for a payment: a joint payment's carries the
    payment's total (8400.00 for two plans of 4200.00), more than any one
    plan's amount. Whether it is that total only the database knows (the
    other plans' confirmed amounts): the plan checks no more than that it is
    more than its own, and asks the database for the rest.
    """
    confirmed = payment.confirmed_amount
    if not is_joint(payment) or confirmed is None:
        return False
    return amount.quantize(Decimal("0.01")) > Decimal(str(confirmed))


def invoiced_whole(payment: PaymentRecord) -> bool:
    """Whether the recorded invoice is a joint payment's whole invoice (for
    the payment's total), not the plan's own: more than the share it was
    taken against (or, where that was not kept, than the confirmed amount)."""
    if payment.invoice_amount is None or not is_joint(payment):
        return False
    share = payment.invoiced_share
    if share is None:
        share = payment.confirmed_amount
    return share is not None and _cents(payment.invoice_amount) > _cents(share)


def invoice_outdated(payment: PaymentRecord) -> bool:
    """Whether the recorded invoice is for another total than the payment
    now confirmed: a settled payment difference changed it, and finance owes
    the invoice corrected (duty ``invoice_correction``).

    The plan's own invoice is compared with the confirmed amount, to the
    cent (as ``invoice_mismatch`` takes an invoice; it is not asked, since a
    joint payment's own invoice above a refunded share would read as the
    whole payment's). A whole invoice is for the payment's total, which the
    plan cannot see: it is outdated once the plan's share moved from the one
    it was taken against, and taken as outdated where that was not kept.
    """
    confirmed = payment.confirmed_amount
    if payment.invoice_number is None or confirmed is None:
        return False
    if payment.invoice_amount is None:
        return True  # an invoice from before amounts were kept: have it checked
    if not invoiced_whole(payment):
        return _cents(payment.invoice_amount) != _cents(confirmed)
    share = payment.invoiced_share
    # Missing: a whole invoice outdated before its share was kept is owed
    # corrected even once the share comes back (README).
    return share is None or _cents(share) != _cents(confirmed)


def _cents(amount: float) -> Decimal:
    return Decimal(str(amount)).quantize(Decimal("0.01"))


def invoice_mismatch(payment: PaymentRecord, amount: Decimal) -> Refusal | None:
    """Refuse an invoice for any other amount than the one finance confirmed (4.2.4).

    Finance invoices "the payments so confirmed": the invoice is for the money
    received, to the cent, and the refusal spells out both sums. A joint
    payment's invoice may carry the payment's total instead, which the
    database checks (see ``joint_total_claimed``).
    """
    if payment.confirmed_amount is None or joint_total_claimed(payment, amount):
        return None
    cent = Decimal("0.01")
    confirmed = Decimal(str(payment.confirmed_amount)).quantize(cent)
    invoiced = amount.quantize(cent)
    if invoiced == confirmed:
        return None
    return Refusal(
        "amount_mismatch",
        t(
            "plan.invoice_amount_mismatch",
            invoiced=f"{invoiced:.2f}",
            confirmed=f"{confirmed:.2f}",
            difference=f"{invoiced - confirmed:+.2f}",
        ),
    )


def reissue_refusal(state: PlanState, number: str) -> Refusal | None:
    """Refuse an invoice correction keeping the number of an invoice issued
    for a total since settled (the plan owes its correction).

    An invoice's amount and date are printed on it: an invoice for another
    total is a new invoice, the old one reversed (红字冲销) and its number
    never used again. Finance records the new invoice's number.
    """
    payment = state.payment
    if (
        not state.is_open(Duty.INVOICE_CORRECTION.value)
        or number != payment.invoice_number
    ):
        return None
    return Refusal(
        "invoice_reversed",
        t(
            "plan.invoice_reissue_needs_number",
            number=number,
            amount=payment.invoice_amount_text or "—",
            confirmed=payment.confirmed_amount_text or "—",
        ),
    )


def typo_refusal(state: PlanState, number: str) -> Refusal | None:
    """Refuse an invoice correction said to mend a typing error (``typo``)
    where the invoice recorded is a real one to reverse: the plan owes its
    correction after a settlement, and the invoice recorded was issued for
    the total before it. Its number is voided; finance leaves ``--typo`` out.
    """
    payment = state.payment
    if (
        not state.is_open(Duty.INVOICE_CORRECTION.value)
        or number == payment.invoice_number
    ):
        return None
    return Refusal(
        "invoice_reversed",
        t(
            "plan.invoice_typo_after_settlement",
            number=payment.invoice_number or "—",
            amount=payment.invoice_amount_text or "—",
        ),
    )


def nothing_to_issue(state: PlanState) -> bool:
    """Whether the plan ends here, with no certificate to issue (无证书可发).

    Publicity is over, every correction is decided and applied, nobody
    passes, and no money is on record (finance confirmed none, nor recorded
    an invoice): the fee table prices the candidates who pass, and absentees
    are paid for only beside them, at the site's word, so nothing is owed,
    and the application, the sign-offs and the approval have nothing to act
    on. A payment finance already confirmed is refunded as a payment
    difference instead (see ``difference_of``), on the plan's usual way.
    """
    return (
        state.stage in (Stage.PUBLICITY, Stage.PAYMENT_AND_SIGNOFF)
        and state.publicity_closed
        and state.passed() == 0
        and state.corrections_closed()
        and state.batch is None
        and money_held(state.payment) is None
    )


def waits_for_corrections(state: PlanState) -> bool:
    """Whether the payment stage waits for the open corrections, owing no
    application nor sign-off: nobody passes now and no money is on record,
    in a plan under the rule (``PlanState.nobody_passed_rule``)."""
    return (
        state.nobody_passed_rule
        and state.stage is Stage.PAYMENT_AND_SIGNOFF
        and state.passed() == 0
        and not state.corrections_closed()
        and money_held(state.payment) is None
    )


def nothing_to_pay_refusal(state: PlanState, amount: Decimal) -> Refusal | None:
    """Refuse an application while nobody passes: there is no fee to pay.

    A plan nobody passes owes nothing (see ``nothing_to_issue``): under the
    rule, any application is refused saying so and what happens next; in a
    plan from before it, one of 0.00, which finance could never confirm
    (those took an application for absentees alone, and still do).
    """
    if state.passed() != 0 or not (state.nobody_passed_rule or amount == 0):
        return None
    pending = len(state.open_corrections())
    then = (
        t("plan.nothing_to_pay_pending", count=pending)
        if pending
        else t("plan.nothing_to_pay_closed")
    )
    return Refusal("nothing_to_pay", t("plan.nothing_to_pay") + then)


def zero_amount_refusal(state: PlanState, amount: Decimal) -> Refusal | None:
    """Refuse an application of 0.00 for candidates who pass: without a fee
    configured, the figures check cannot see it."""
    passed = state.passed()
    if amount != 0 or not passed:
        return None
    return Refusal("bad_argument", t("plan.application_amount_zero", passed=passed))


def application_mismatch(
    state: PlanState,
    head_count: int,
    absentees_paid: int,
    amount: Decimal | None,
    advice: str,
) -> Refusal | None:
    """Compare an application's figures with the plan (4.2.1, 4.2.3).

    The one rule for the site's upload and finance's check: the head count must
    be the passing candidates plus the absentees the site declares it pays for
    (no more than were absent), and the amount must be the head count times the
    configured fee. The refusal spells out the expected figure and the
    difference, then ``advice`` (a message key) says what is left to do, to
    whom the refusal goes.

    It compares with this plan's counts only, also when the payment names
    other plans as well: each plan's application states that plan's figures.
    """
    refusal = _figures_mismatch(state, head_count, absentees_paid, amount)
    if refusal is None:
        return None
    return Refusal(refusal.code, refusal.message + t(advice))


def _figures_mismatch(
    state: PlanState, head_count: int, absentees_paid: int, amount: Decimal | None
) -> Refusal | None:
    summary = state.summary
    if summary is None:
        return None
    if absentees_paid > summary.absent:
        return Refusal(
            "head_count_mismatch",
            t(
                "plan.absentees_mismatch",
                paid=absentees_paid,
                absent=summary.absent,
                difference=f"{absentees_paid - summary.absent:+d}",
            ),
        )
    expected_heads = summary.passed + absentees_paid
    if head_count != expected_heads:
        return Refusal(
            "head_count_mismatch",
            t(
                "plan.head_count_mismatch",
                declared=head_count,
                expected=expected_heads,
                passed=summary.passed,
                absentees=absentees_paid,
                difference=f"{head_count - expected_heads:+d}",
            ),
        )
    fee = state.info.fee_per_candidate
    if fee is not None and amount is not None:
        expected = fee * head_count
        declared = amount.quantize(Decimal("0.01"))
        if declared != expected:
            return Refusal(
                "fee_mismatch",
                t(
                    "plan.fee_mismatch",
                    declared=f"{declared:.2f}",
                    expected=f"{expected:.2f}",
                    heads=head_count,
                    fee=f"{fee:.2f}",
                    difference=f"{declared - expected:+.2f}",
                ),
            )
    return None


def payment_mismatch(
    state: PlanState, advice: str = "plan.application_mismatch_to_finance"
) -> Refusal | None:
    """Finance's check of the application on record (4.2.3).

    The site's upload was checked by the same rule, so a mismatch here means
    the plan's counts changed since (a correction applied afterwards), or the
    application came before the upload was checked: the site must send again.
    ``advice`` (a message key) says what is left to do, as for
    ``application_mismatch``; by default, to finance.
    """
    payment = state.payment
    if payment.head_count is None:
        return None
    declared = payment.declared_amount
    return application_mismatch(
        state,
        payment.head_count,
        payment.absentees_paid,
        None if declared is None else Decimal(str(declared)),
        advice,
    )


def difference_of(
    state: PlanState, at: datetime, request_id: str
) -> PaymentDifference | None:
    """The confirmed payment against the plan's counts as they stand (4.2.3).

    The confirmed figures are finance's, as last settled; the expected ones
    follow the application's rule (``application_mismatch``), the absentees
    paid for capped at those still absent. None where nothing is confirmed,
    or where no price is known to compute the money by.
    """
    payment = state.payment
    summary = state.summary
    if summary is None or payment.head_count is None:
        return None
    if payment.confirmed_amount is None:
        return None
    confirmed = Decimal(str(payment.confirmed_amount)).quantize(Decimal("0.01"))
    absentees = min(payment.absentees_paid, summary.absent)
    heads = summary.passed + absentees
    # Without a fee, the money is priced at the rate of the payment confirmed
    # now, as first confirmed: never at a settled total's (rounded already),
    # nor at an earlier confirmation's; as many heads as confirmed cost what
    # was confirmed.
    current = payment.settlements[payment.priced_from :]
    first = current[0] if current else None
    paid_heads = payment.head_count if first is None else first.confirmed_heads
    paid = confirmed if first is None else first.confirmed_amount
    fee = state.info.fee_per_candidate
    if fee is None and heads == payment.head_count:
        expected: Decimal | None = confirmed
    else:
        expected = expected_amount(fee, paid_heads, paid, heads)
    if expected is None:
        return None
    return PaymentDifference(
        opened_at=at,
        request_id=request_id,
        confirmed_heads=payment.head_count,
        confirmed_amount=confirmed,
        expected_heads=heads,
        expected_absentees_paid=absentees,
        expected_amount=expected,
    )
