"""ExamPlanWorkflow: one exam plan from score sheets to issued e-certificates.

The workflow is orchestration only. It keeps one ``PlanState``, moves through the
stages of PROCESS.md, and asks activities for every side effect. Staff act through
updates whose validators refuse wrong roles, sites, stages and arguments before
anything reaches history; deadlines are durable timers computed from the open
obligations, so reminders and escalations need no outside scheduler.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Concatenate, ParamSpec, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError
from temporalio.workflow import ActivityCancellationType

with workflow.unsafe.imports_passed_through():
    from activities.calendar import CalendarActivities
    from activities.certificates import ISSUANCE_BLOCKED, CertificateActivities
    from activities.heartbeat import HEARTBEAT_TIMEOUT
    from activities.intake import IntakeActivities
    from activities.notify import MAIL_RETRY, Notifier, log_not_sent
    from activities.store import PLAN_ID_TAKEN, START_PLAN, PlanStore
    from certflow import search_attributes as sa
    from certflow.actions import (
        SAME_APPLICATION,
        ActionResult,
        ApplicationUpload,
        BatchJoined,
        BatchVerdict,
        CalendarReloaded,
        CancelRequest,
        CertificatesRevoked,
        ConfirmSummaryRequest,
        CorrectionApply,
        CorrectionCounts,
        CorrectionDecision,
        CorrectionSubmission,
        DifferenceSettlement,
        ExamPlanInput,
        InvoiceCorrectedWith,
        InvoiceRecord,
        OwedItem,
        PaymentConfirmation,
        PaymentFreed,
        PaymentHeld,
        PlanResult,
        PlanStatus,
        ReviewRequest,
        SimpleAction,
        SiteSignoffRequest,
        UploadRequest,
        plan_workflow_id,
    )
    from certflow.activity_models import (
        AuditEntry,
        BatchHold,
        ConsistencyRequest,
        CorrectionApplication,
        CorrectionDecisionRecord,
        CorrectionFontCheck,
        CorrectionGivenUp,
        CorrectionRecord,
        DeadlineChange,
        FinanceOutcome,
        FinanceRecord,
        IssuanceResult,
        IssueRequest,
        JointHolds,
        JointPaymentCheck,
        Notification,
        PaymentHold,
        PlanRegistration,
        PlatformImportRequest,
        ProcessUpload,
        StageChange,
        UploadRecord,
        WindowRequest,
        WorkingDaysAnswer,
        WorkingDaysRequest,
    )
    from certflow.calendar import score_submission_deadline
    from certflow.free_text import field_label, text_problem
    from certflow.i18n import t, t_or
    from certflow.identity import (
        canonical_code,
        invoice_number,
        mask_person_id_numbers,
    )
    from certflow.joint_invoice import (
        InvoiceHolding,
        conflict_message,
        holdings_text,
        still_to_correct,
    )
    from certflow.joint_payment import (
        JointPaymentFacts,
        application_refusal,
        lists_refusal,
        received_refusal,
        received_still_apart,
    )
    from certflow.models import Actor, DocumentKind, DocumentRef, Problem, Role, Stage
    from certflow.payment_difference import (
        HOLD_JOINT,
        PaymentDifference,
        SettledDifference,
        difference_text,
        settlement_refusal,
        settlement_text,
    )
    from certflow.plan import (
        DUTY_OWNER,
        HELD_TOLD,
        REDO_DUTIES,
        SUBMISSION_DUTIES,
        UPLOAD_DUTY,
        Action,
        Alarm,
        AlarmKind,
        BatchMembership,
        Cancellation,
        CorrectionState,
        CorrectionStatus,
        Duty,
        HistoryEntry,
        Obligation,
        PlanState,
        Refusal,
        VoidedInvoice,
        application_mismatch,
        application_scan_refusal,
        blocked_text,
        cancel_refusal,
        check_action,
        correction_refusal,
        count_waited,
        date_after_today,
        date_before,
        difference_of,
        duties_by_party,
        duties_to_redo,
        duty_codes,
        duty_names,
        held_lines,
        invoice_mismatch,
        invoice_number_id_refusal,
        invoice_number_refusal,
        invoice_outdated,
        invoiced_whole,
        is_joint,
        joint_total_claimed,
        money_held,
        needs_nudges,
        next_alarm,
        next_nudge_wake,
        nothing_to_issue,
        nothing_to_pay_refusal,
        nudge_count_start,
        paid_plans_refusal,
        payment_mismatch,
        reissue_refusal,
        role_name,
        take_due_alarms,
        take_due_nudge,
        typo_refusal,
        unknown_signers,
        waiting_in_redo,
        waits_for_corrections,
        zero_amount_refusal,
    )
    from certflow.plan_busy import CONTINUING_AS_NEW
    from certflow.plan_details import current_details, timer_summary
    from certflow.privacy import mask_id_numbers_in
    from certflow.problem_list import problem_lines
    from certflow.timeutil import (
        cst_date,
        end_of_day,
        format_cst,
        format_deadline,
        start_of_day,
    )

SHORT = timedelta(minutes=2)
LONG = timedelta(minutes=10)
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))
# The shortest sleep of the timer loop: alarms already due wait for it.
MIN_SLEEP = timedelta(seconds=1)
# What a staff member waits on gets a few quick tries, then an answer.
ANSWER_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=4)
# Patch id: an issued plan waits for the invoice finance still owes.
INVOICE_AFTER_ISSUANCE = "invoice-after-issuance"
# Patch id: a plan whose publicity window opens after the upload is confirmed
# (always, but for a calendar year loaded late) waits for its first day in
# stage awaiting_publicity, and enters publicity, mailing that it opened, on
# that day. Before, it entered publicity and mailed 现进入成绩公示期 at the
# confirmation, up to 16 days before the period began.
PUBLICITY_WAITS_FOR_ITS_START = "publicity-waits-for-its-start"
# Patch id, followed by the case's number in the run (see _patched_case): an
# approved correction is the info center's to apply by the publicity end day,
# or some working days after the approval where that is later
# (``DeadlinePolicy.correction_apply_working_days``), reminded and escalated
# as any duty. Before, it had no deadline: nobody was reminded, while it held
# the tech dept's sign-off.
CORRECTION_APPLY_DEADLINE = "correction-apply-deadline"
# Patch id, and the history and audit action: the accepted scan re-sent with
# another list of signers corrects the list.
SCAN_SIGNERS_CORRECTED = "correct_scan_signers"
# Patch id: what a wait waits for is published before it starts, so a duty
# opened just before (a review, an upload to the platform) shows in OwedBy,
# NextDeadline and the Web UI's details at once, not at the next alarm.
PUBLISH_BEFORE_WAIT = "publish-before-wait"
# Patch id: an applied correction recounts passed, failed and absent alike;
# before, only the passes followed it and the counts stopped adding up.
CORRECTION_RECOUNTS = "correction-recounts"
# Patch id: mail goes out beside the plan, in the order it was asked for, and
# nobody waits for it: an update answers at once while the mail server is down,
# and the plan's timers go on. The plan ends or continues as new only once every
# mail it asked for has gone out.
MAIL_BESIDE = "mail-beside-the-plan"
# Patch id: a plan the general manager sends back to stage 5-8 reopens what
# follows a redone duty too (a new application is checked and signed off
# again), and the tech dept is told with the owners of the duties.
BATCH_RETURN_REDOES_WHAT_FOLLOWS = "batch-return-redoes-what-follows"
# Patch id: a correction applied after the site's application, making it no
# longer add up, sends the application back to the site (finance told too),
# or, once finance has confirmed the payment, tells finance and the tech dept.
CORRECTION_RECHECKS_APPLICATION = "correction-rechecks-application"
# Patch id: an application whose invoice form was read while a correction
# changed the counts is checked again before it is recorded.
APPLICATION_RECHECKED = "application-rechecked-after-its-form"
# Patch id: of the duties a plan redoes, those resting on another of them (the
# payment check and the site's sign-off rest on the new application) are not
# shown owed, nor listed under their party in OwedBy, before it is in; nor is
# an invoice still owed for a payment to be checked again.
FOLLOWERS_WAIT = "redone-followers-wait"
# Patch id: a reminder or overdue notice an outage held is withdrawn once its
# duty is done: it would ask staff for what they have already done.
ALARMS_WITHDRAWN = "alarms-withdrawn-when-done"
# Patch id: a plan that waits for each of its mails (started before
# MAIL_BESIDE) goes on past a mail given up (the mail server will never take
# it); the code before this patch failed the plan on it.
MAIL_GIVEN_UP = "mail-given-up"
# Patch id: the timer loop never cancels its timer (see _sleep_until): the
# time-skipping server of the training stack lost a plan whose workflow task
# cancelled a timer that fired while the task ran.
TIMERS_LEFT_TO_FIRE = "timers-left-to-fire"
# Patch id: a mail the plan no longer wants sent is withdrawn in the database,
# and the activity sending it is left to find out, never cancelled (see
# _mail): the time-skipping server of the training stack lost a plan whose
# workflow task cancelled an activity that finished while the task ran.
MAILS_WITHDRAWN_IN_STORE = "mails-withdrawn-in-store"
# Patch id: an upload or confirmation that arrives while the plan is still
# writing its row waits for it, and for the duties it opens after: handled
# before, it closed a duty not yet open, which then opened as owed.
ACTIONS_AFTER_REGISTRATION = "actions-wait-for-registration"
# The most a mail to finance carries in attachments (the scan and the form):
# base64 makes 7 MiB about 9.3 MB on the wire, under the 10 MB many mail
# servers take. A larger scan (it may be up to 30 MB) stays out, said so.
MAIL_ATTACHMENTS_MIB = 7
# Patch id: an invoice number is claimed for the plan's payment in the
# database, with its audit line, before the plan records it: the same number
# on a plan of another payment is refused.
INVOICE_NUMBER_CLAIMED = "invoice-number-claimed"
# Patch id: an application sending again the invoice details form accepted
# before keeps it, instead of reading it again as a new version.
SAME_FORM_KEPT = "same-invoice-form-kept"
# Patch id, and the audit and history action: an invoice set aside because its
# payment is checked again gets an audit line of its own (number, date, amount,
# who sent the payment back and why); before, only the rejection was audited.
INVOICE_VOID_AUDITED = "invoice-void-audited"
VOID_INVOICE = "void_invoice"
# Patch id, asked once per application of the run, refused ones too (see
# _patched_case): each application's scan is recorded in the database,
# accepted with a version or refused; before, the plan kept the current one
# alone, and those it replaced were named by no record.
APPLICATION_SCANS_RECORDED = "application-scans-recorded"
# Patch id, followed by the case's number in the run (see _patched_case): an
# action that awaited the lock (or its form's reading) is checked again at its
# turn against what its validator checked, and refused if the plan changed
# meanwhile: cancelled, moved on, its payment confirmed, its request decided.
# Before, only an application's figures were checked again; a cancelled plan
# took an upload or an application and reopened duties.
CHECKED_AT_ITS_TURN = "checked-again-at-its-turn"
# Patch id, followed by the case's number in the run: a confirmation (of the
# payment, of the score summary) arriving while an upload or a correction
# holds the lock waits for it, and is checked again; refused when what it
# confirms was replaced meanwhile. Before, it was taken at once, and the
# application being recorded then reopened the payment check it closed, with
# the invoice owed on the old figures.
CONFIRMATIONS_WAIT = "confirmations-wait-their-turn"
# The mails a cancelled plan still sends: the news of its cancellation, and
# finance's word of the money the plan held.
CANCELLED_TEMPLATE = "plan_cancelled"
CANCELLED_MONEY_TEMPLATE = "plan_cancelled_money"
# Patch id: a plan holding money (a confirmed payment, an invoice) is
# cancelled only with ``refund_by_finance``, and finance is mailed what it
# held, to refund and reverse. Before, it was cancelled as any plan, and
# nobody was told of the money.
CANCEL_TELLS_FINANCE = "cancel-tells-finance-of-money"
# Patch id: issuance holds out the certificates the font cannot draw and
# issues the others, the tech dept told; an issuance no retry can mend (no
# font, no signing key) waits for the tech dept to mend it and issue again.
# Before, one name the font lacked failed issuance, retried for ever.
ISSUANCE_HOLDS = "issuance-holds-and-blocks"
# Patch id: the tech dept's issuance repair has a deadline, some working days
# after it opens (``DeadlinePolicy.issuance_repair_working_days``), with the
# reminders and escalation of any duty; before, it had none, and a plan held
# up waited without anybody being reminded.
ISSUANCE_REPAIR_DEADLINE = "issuance-repair-deadline"
# Patch id: the first issuance records the certificates it held out (and the
# repair owed) before the plan moves to issued; before, the plan read issued,
# nothing held, while the stage was written and the parties told.
HOLDS_BEFORE_ISSUED = "holds-before-issued"
# Patch id: an issuance blocked by the plan's own text keeps the rows of it
# the font cannot print (the activity's second detail), and the tech dept is
# told which; before, only that one of them could not be printed.
BLOCKED_ROWS_NAMED = "issuance-blocked-rows-named"
# Patch id: an issue_again blocked as before mails the tech dept no notice
# again (they asked, and are answered); before, each one mailed it anew.
# Asked as itself first (the release that brought it recorded it so), then,
# where that stays no for the run (a case from before it replayed), case by
# case (see _patched_case), so a plan upgraded after such a case mails once.
BLOCKED_TOLD_ONCE = "issuance-blocked-told-once"
# Patch id: a correction is approved only if its candidate, passing after it,
# has a name the certificate font prints; checked under the plan's lock.
CORRECTION_FONT_CHECKED = "correction-font-checked"
# Patch id: an application the activity refused for the same reason is
# answered as refused. Only results of this release carry a refusal, so no
# history recorded before takes this branch; the marker names those that do.
CORRECTION_APPLY_REFUSED = "correction-apply-refused"
# Patch id: the plan looks whether to continue as new whenever a handler
# finishes, not only when its timer loop wakes for an alarm or a changed duty,
# and counts the updates its run has taken (the server refuses a run's 2,001st
# by default). Before, updates that changed nothing (refused uploads or
# requests) never woke the loop: one run grew past every limit, and once the
# server refused its updates the plan took no action until its next timer.
CONTINUE_AS_NEW_AFTER_HANDLERS = "continue-as-new-after-handlers"
# Patch id, followed by the case's number in the run: an application, and
# finance's confirmation of the payment, are checked against the other plans
# of the payment in the database (certflow.joint_payment): which plans it
# covers must agree across them, and one payment arrives on one day under one
# reference. Before, each plan took its own application's list on trust.
PAYMENT_AGREES_ACROSS_PLANS = "payment-agrees-across-plans"
# Patch id, followed by the case's number in the run: a correction changing
# what a payment finance confirmed must cover records the difference, owed by
# finance (the plan held out of approval until it is settled, and until an
# invoice recorded for the old total is corrected), and makes the confirmed
# figures follow where the money does not change. Before, finance and the
# tech dept were told, and nothing could settle it.
PAYMENT_DIFFERENCE_HELD = "payment-difference-held"
# Patch id, followed by the case's number in the run: a settlement of a
# payment difference, or a correction that ends one (or makes the confirmed
# figures follow), writes the audit line the approval sheet reads the payment
# from before it lifts the plan's payment hold. Before, the hold was lifted
# first, and a gathering in between drew the sheet from the old figures.
PAYMENT_FACTS_BEFORE_HOLD_LIFTS = "payment-facts-before-hold-lifts"
# Patch id, followed by the case's number in the run: a request the plan gave
# up on recording is said so to the database (IntakeActivities.
# forget_correction), beside the plan: the row an attempt it gave up on wrote
# late is removed, or never written. Before, the row stayed, pending and
# unknown to the plan, until its next request took the id over.
CORRECTION_GIVEN_UP_FORGOTTEN = "correction-given-up-forgotten"
# Patch id, followed by the case's number in the run: finance corrects an
# invoice also once the plan is approved (the invoice holds no approval); a
# whole-payment invoice corrected on one plan of a joint payment is corrected
# with it on the approved plans carrying it, and the tech dept and the
# general manager are mailed. Before, both were refused.
INVOICE_CORRECTED_AFTER_APPROVAL = "invoice-corrected-after-approval"
INVOICE_CORRECTED_TEMPLATE = "invoice_corrected_after_approval"
# Patch id, followed by the case's number in the run: a plan its payment holds
# out of approval (a difference, an invoice to correct after one) as it comes
# to await approval is not said ready to the tech dept until nothing holds
# it. Before, it was said ready, to be gathered by the next batch, at once.
READY_TOLD_WHEN_FREE = "ready-told-when-free"
# Patch id, followed by the case's number in the run: a plan of a joint
# payment invoiced whole asks the database whether another plan of the
# payment holds it (a ``joint`` hold) before it is said ready, and a plan
# lifting its own hold tells the plans of its payment nothing holds any more
# (``payment_freed``), which are said ready then. Before, a plan held only
# by another was said ready at once, and one whose own hold lifted was said
# ready while another still held it.
READY_TOLD_WHEN_PAYMENT_FREE = "ready-told-when-payment-free"
# Patch id, followed by the case's number in the run: an invoice corrected
# under a new number is a new invoice, the old one reversed (红字冲销), unless
# finance says the record was typed wrong (``InvoiceRecord.typo``): the
# correction names the number it reverses, which the database records voided
# (never recorded again, nor rewritten by a plan still carrying it), and the
# plan lists it voided; while the plan owes the correction after a settlement,
# keeping the old number is refused. Before, a number was rewritten in place
# and freed once no plan held it.
INVOICE_REISSUED = "invoice-reissued-anew"
# Patch id, followed by the case's number in the run: a whole-payment invoice
# corrected on this plan and, in the database, on approved plans of the
# payment is signalled to those plans (``invoice_corrected_with``): one whose
# workflow still runs (its certificates held, say) records the new invoice,
# as the database does. Before, its record kept the old one, and a later
# correction on it named the wrong invoice as replaced.
INVOICE_CORRECTION_SIGNALLED = "invoice-correction-signalled"
# Patch id: a plan of a joint payment cancelled while its payment held it
# out of approval asks the database which plans of the payment nothing holds
# now, and tells them (``payment_freed``), as a settlement does: their joint
# hold leaves their status, and the ready mail withheld for it is sent.
# Before, they were told nothing, and waited for the next gathering.
CANCEL_FREES_PARTNERS = "cancel-frees-payment-partners"
# Patch id, followed by the case's number in the run: an invoice corrected
# with another plan of the payment (``invoice_corrected_with``) is taken
# under the plan's lock, after a correction of its own under way. Before, it
# was taken at once, in the middle of one.
INVOICE_CORRECTED_WITH_LOCKED = "invoice-corrected-with-locked"
# Patch id, followed by the case's number in the run: an invoice correction
# names the invoice it replaces (the plan's record of it), and the database
# refuses it, nothing written, unless that is the plan's invoice in force,
# checked under the payment's locks. Before, a plan whose whole-payment
# invoice was corrected with another plan at that moment replaced (and
# reversed) the old invoice, and the one the database held was lost unvoided.
INVOICE_REPLACED_IN_FORCE = "invoice-replaced-in-force"
# Patch id, followed by the case's number in the run, asked until a case takes
# it (see _keeps_row): the plan's row in the database follows whether the plan
# is overdue and its next deadline whenever either changes, in the order its
# writes were asked (the stage's too). Before, they were written only with the
# stage: a plan overdue, or owing a duty opened after its stage began, read
# ``overdue = false, next_deadline = NULL`` to anyone reporting from SQL.
ROW_KEEPS_DEADLINES = "row-keeps-deadlines"

# Patch id, followed by the case's number in the run (see _patched_case): the
# requester of a correction is mailed its outcome, rejected (with the reason)
# or applied (with what changed), at the address the request came from, else
# the site's. Before, the automatic reply promised it and nobody was told.
CORRECTION_OUTCOME_MAILED = "correction-outcome-mailed"

# Patch id, asked as publicity closes (and, followed by the case's number, at
# each wake of a plan from before it found with nothing to issue): a plan
# nobody passed owes no application, no sign-off and no approval. Once
# publicity and every correction are closed with nobody passing and no money
# on record, it ends in stage ``no_certificates``, the parties told once;
# while corrections are still open, nothing of the payment stage is owed.
# Before, it owed an application nobody could make, reminded and escalated
# for ever; such a plan ends at its next wake once this runs.
NO_CERTIFICATES = "no-certificates-to-issue"
NO_CERTIFICATES_TEMPLATE = "no_certificates"
# Patch id, followed by the case's number in the run: a plan of a joint
# payment ending with no certificate to issue has left its payment, as a
# cancelled one has (the database counts it out: ``LEFT_PAYMENT``). It tells
# the plans of the payment nothing holds now (``payment_freed``), as a
# cancellation does, and its mail tells finance the payment's amount due no
# longer counts its share. Before, nobody was told, and the other plans'
# payment still waited for its confirmation.
NO_CERTIFICATES_LEAVES_PAYMENT = "no-certificates-leaves-payment"
PAYMENT_WAITS_TEMPLATE = "payment_waits_for_corrections"

# Patch id, followed by the case's number in the run: finance's confirmation
# of the payment is checked against the other plans of its payment and
# written in one database transaction, under the payment's locks
# (``FinanceRecord.received_once``). Before, the plan read the other plans
# and then wrote its line: two plans of one payment confirmed at the same
# moment, on two days, were both taken.
PAYMENT_CONFIRMED_IN_STORE = "payment-confirmed-in-store"
# Patch id, followed by the case's number in the run: the site is mailed a
# payment difference a correction opened (what changed, what it pays or is
# paid back, whom to ask), its settlement, and its clearing by a later
# correction. Before, only finance and the tech dept were told, and the
# school learnt of money it owed from nobody.
DIFFERENCE_TOLD_TO_SITE = "difference-told-to-site"
# Patch id, followed by the case's number in the run: an invoice a general
# manager's return voids (the payment checked again) is named in the mail of
# the rejection, with the red-letter reversal (红字发票) finance owes, and the
# site is told its invoice is void. Before, the invoice was voided silently.
INVOICE_VOID_TOLD = "invoice-void-told"

# Patch id, followed by the case's number in the run (see _patched_case): a
# duty the procedure gives no deadline (finance's payment check, the
# invoice, the site's sign-off, …) has its owner nudged once it has waited
# ``DeadlinePolicy.nudge_working_days`` working days, and again every as
# many while it stays open; never overdue, no supervisor told. Before, it
# waited with nobody told.
NUDGES = "nudges-without-deadline"
# Patch id: a plan awaiting approval that no batch has taken yet is listed
# under the tech dept in ``OwedBy`` (who gathers it, or the weekly schedule),
# and under the general manager only once a batch holds it. Before, the
# general manager was listed from the moment the plan awaited approval, for
# a decision no batch had put to them yet.
APPROVAL_OWED_ONCE_GATHERED = "approval-owed-once-gathered"
# Patch id: while the plan's payment holds it out of every batch (its own
# difference or invoice to correct, or another plan's of its joint payment),
# its approval counts as nobody's in ``OwedBy``: what is owed is the duty
# holding it, and the tech dept owes its gathering again once the hold lifts.
# Before (with APPROVAL_OWED_ONCE_GATHERED), the tech dept was listed for a
# gathering that would leave the plan out.
GATHERING_OWED_ONCE_PAYMENT_FREES = "gathering-owed-once-payment-frees"
# Patch id: a plan cancelled while it waits to be gathered into a batch
# mails the tech dept, who gathers it (and was told it ready), for its
# approval, and nobody for it while its payment held it out of every batch
# (the tech dept was not told it ready); the mail names the gathering.
# Before, the general manager was mailed of an approval no batch had put to
# them.
CANCEL_TELLS_WHO_GATHERS = "cancel-tells-who-gathers"

# Patch id: a plan continuing as new carries its state bounded
# (``PlanState.carried``): each text staff gave cut to its bound, whatever was
# recorded before the bounds, and the last voided invoices only. Before, it
# carried every text whole: a few reasons of tens of thousands of characters
# made the state larger than the server takes (2 MB), and the plan stopped.
BOUNDED_CARRY = "bounded-carry"
# Patch ids of this group are asked case by case (see _patched_case): a plan
# upgraded after a case from before them replayed takes them from its next.
# Patch id: the plan keeps when each duty's last overdue notice fell due
# (``Obligation.escalated_at``), and the next repeats no sooner than
# ``overdue_repeat`` after it. Before, repeats kept to the deadline's rhythm
# alone: a first notice sent off it (a plan started after its deadline, a
# duty reopened after it) was repeated at the next beat, hours after it.
OVERDUE_REPEATS_SPACED = "overdue-repeats-spaced"
# Patch id: a plan waiting for a year the calendar does not know mails the
# administrators once for those years; its daily look for a missed load
# mails nobody. Before, every daily look mailed them again, one mail a day
# for each plan waiting.
CALENDAR_MISSING_TOLD_ONCE = "calendar-missing-told-once"
# Patch id: a window the plan could compute only once a missing year was
# loaded starts no earlier than the day after the load (as after a late
# confirmation), so its requesters get the whole 15 days. Before, it was
# dated from the confirmation: loaded after E+15, its first days had passed
# unannounced, loaded after E+30, the whole window.
PUBLICITY_AFTER_CALENDAR_LOAD = "publicity-after-calendar-load"

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _approved_with(verdict: BatchVerdict) -> str:
    """What a rejection mail adds where the decision approved other plans of
    the rejected plan's joint payment: they were, and how its invoice goes."""
    if not verdict.approved_with:
        return ""
    return t("mail.approval_rejected.split", approved="、".join(verdict.approved_with))


def _voided_text(voided: VoidedInvoice) -> str:
    """An invoice voided, as a mail names it: number, and its date and amount
    where the plan kept them."""
    if voided.issued_on is None or voided.amount_text is None:
        return voided.number
    return t(
        "mail.invoice_voided_site.invoice",
        number=voided.number,
        issued_on=voided.issued_on.isoformat(),
        amount=voided.amount_text,
    )


def _voided_note(voided: VoidedInvoice | None) -> str:
    """What a rejection mail adds where the return voided the plan's invoice:
    which, and that finance reverses it and issues one anew."""
    if voided is None:
        return ""
    return t("mail.approval_rejected.invoice_voided", invoice=_voided_text(voided))


def _refuse(refusal: Refusal) -> ApplicationError:
    # Validators refuse by raising; ApplicationError carries the Chinese message
    # and a stable code to the staff tool without failing the workflow.
    return ApplicationError(refusal.message, type=refusal.code, non_retryable=True)


def _first(*refusals: Refusal | None) -> Refusal | None:
    """The first refusal of several checks, in the order staff fix them."""
    return next((refusal for refusal in refusals if refusal is not None), None)


def _refuse_first(*refusals: Refusal | None) -> None:
    """Raise the first refusal of several checks, in the order staff fix them."""
    refusal = _first(*refusals)
    if refusal is not None:
        raise _refuse(refusal)


def _today() -> date:
    """The plan's today in CST: what a date staff give may not come after."""
    return cst_date(workflow.now())


def _correction_holding_id_number(req: CorrectionSubmission) -> Refusal | None:
    """Refuse a request whose reason or requester holds an ID number.

    Both go into the plan's history, the database and the regional manager's
    mail: whichever client sends the request (the staff tool and the mailbox
    refuse such a text first, saying so in their own words), the plan takes
    none. The text is never repeated.
    """
    name = req.text_holding_id_number()
    if name is None:
        return None
    return Refusal(
        "holds_id_number", t("plan.correction_holds_id_number", field=field_label(name))
    )


def _correction_dated_in_future(req: CorrectionSubmission) -> Refusal | None:
    """Refuse a request staff enter dated after today (CST).

    A request read from mail (``source_key``) counts from when the mailbox got
    it; one staff enter without a mail is dated by whoever enters it, and a
    later day would file it as if it came on a day that has not come.
    """
    if req.source_key is not None or req.received_at is None:
        return None
    return date_after_today(
        "plan.correction_received_in_future", cst_date(req.received_at), _today()
    )


def _counted(
    handler: Callable[Concatenate[ExamPlanWorkflow, _P], Awaitable[_R]],
) -> Callable[Concatenate[ExamPlanWorkflow, _P], Awaitable[_R]]:
    """Count each update the plan's run takes (its validator let it through).

    The server counts them too, and refuses every update of a run past its
    limit: the plan continues as new long before (see _should_continue_as_new).
    """

    @functools.wraps(handler)
    async def counted(
        plan: ExamPlanWorkflow, /, *args: _P.args, **kwargs: _P.kwargs
    ) -> _R:
        plan._updates_taken += 1
        return await handler(plan, *args, **kwargs)

    return counted


@workflow.defn
class ExamPlanWorkflow:
    """The whole issuance process of one exam plan (PROCESS.md stages 1-10)."""

    @workflow.init
    def __init__(self, input: ExamPlanInput) -> None:
        now = workflow.now()
        self._input = input
        self._state = input.state or PlanState(
            info=input.info, policy=input.policy, started_at=now
        )
        self._fresh_start = input.state is None
        # A plan is cancelled only once its row exists (see ``cancel_plan``).
        self._registered = not self._fresh_start
        # Set whenever obligations change, so the timer loop recomputes its sleep.
        self._alarms_changed = False
        # Uploads and decisions await activities; the lock keeps two of them from
        # interleaving their reads and writes of the same part of the state.
        self._lock = asyncio.Lock()
        self._calendar_reloaded = False
        self._update_seq = 0
        # The updates this run has taken (see _counted), and whether the plan
        # waits for the actions under way to continue as new: new ones are
        # refused meanwhile, to be sent again to the new run (see _check).
        self._updates_taken = 0
        self._draining = False
        # While a correction that changes a confirmed payment's money is
        # being recorded: the plan does not move to awaiting approval before
        # the database holds it out of every batch (see _reckon_difference).
        self._reckoning = False
        # How often each case-by-case patch was asked (see _patched_case).
        self._patch_cases: dict[str, int] = {}
        self._published: dict[str, Any] = {}
        # The mails asked for and not yet sent, oldest first; each waits for
        # the one before it (see _notify).
        self._mails: list[asyncio.Task[None]] = []
        # Reminders and overdue notices asked for and not gone out yet, by
        # obligation key: what a mail outage holds (status says so).
        self._notices_waiting: dict[str, int] = {}
        self._mail_fault: Exception | None = None
        # The requests given up on that the database is being told of (see
        # _forget_correction): the run ends, or continues as new, after.
        self._forgetting: list[asyncio.Task[None]] = []
        # The timer loop's timer and when it fires; a timer no longer wanted
        # is left to fire (see _sleep_until).
        self._timer: tuple[datetime, asyncio.Task[None]] | None = None
        # The plan's row (see _keep_row): whether this run keeps its deadlines
        # up to date, the overdue flag and next deadline wanted there with the
        # workflow time they were seen at, those last handed to an activity
        # and the time that write was stamped with, and the last of its
        # writes asked for (each waits for the one before).
        self._row_kept = False
        self._row_wanted: tuple[tuple[bool, datetime | None], datetime] | None = None
        self._row_sent: tuple[bool, datetime | None] | None = None
        self._row_stamp: datetime | None = None
        self._row_writes: asyncio.Task[None] | None = None
        # Whether the stage is being written outside the row's turns (a run
        # that does not keep the row's deadlines yet, see _enter).
        self._stage_writing = False
        # Whether the updates this run takes count towards continuing as new
        # (CONTINUE_AS_NEW_AFTER_HANDLERS, as its waits found it).
        self._updates_continue_run = False
        # How often the timer loop has woken in this run: a wait may ask
        # again at the next wake what it was told no to (see
        # _await_payment_and_signoffs).
        self._wakes = 0

    # -- main line -----------------------------------------------------------

    @workflow.run
    async def run(self, input: ExamPlanInput) -> PlanResult:
        state = self._state
        if self._fresh_start:
            if not await self._register():
                await workflow.wait_condition(workflow.all_handlers_finished)
                return PlanResult(
                    plan_id=state.info.plan_id, stage=state.stage, certificates_issued=0
                )
            self._open_submission()
            deadline = score_submission_deadline(state.info.exam_end_date)
            # A plan started after its deadline (moved in late) is overdue from
            # its first mail: say so rather than ask for it "before" the date.
            when = "late" if workflow.now() >= end_of_day(deadline) else "on_time"
            await self._notify(
                "submission_opened",
                [Role.LEAD_EVALUATOR, Role.SITE],
                deadline=format_deadline(deadline),
                request=t(f"mail.submission_opened.request_{when}"),
                deadline_state=t(f"mail.submission_opened.deadline_{when}"),
            )
        self._publish()

        stages: dict[Stage, Callable[[], Any]] = {
            Stage.SCORE_SUBMISSION: self._await_submission,
            Stage.CONSISTENCY_REVIEW: self._await_review,
            Stage.SCORE_PUBLICATION: self._await_score_upload,
            Stage.AWAITING_PUBLICITY: self._await_publicity_start,
            Stage.PUBLICITY: self._run_publicity,
            Stage.PAYMENT_AND_SIGNOFF: self._await_payment_and_signoffs,
            Stage.AWAITING_APPROVAL: self._await_approval,
            Stage.ISSUANCE: self._issue,
        }
        while state.stage in stages:
            await stages[state.stage]()
        await self._await_invoice_after_issuance()
        await self._await_issuance_repair()

        await workflow.wait_condition(self._all_done)
        return PlanResult(
            plan_id=state.info.plan_id,
            stage=state.stage,
            certificates_issued=state.certificates_issued,
        )

    async def _register(self) -> bool:
        """Write the plan's row; False when its plan id belongs to another plan.

        The database may know the plan id from a workflow Temporal no longer
        has (its store was reset, or a second stack shares the database). Such
        a plan ends here, cancelled, and says why in its status: going on would
        mix its scores and request numbers with the old plan's records. Nothing
        is written, to the database or to anybody's mailbox.
        """
        state = self._state
        info = workflow.info()
        try:
            await self._activity(
                PlanStore.register_plan,
                PlanRegistration(
                    info=state.info,
                    workflow_id=info.workflow_id,
                    started_at=state.started_at,
                    first_run_id=info.first_execution_run_id or info.run_id,
                    started_by=self._input.started_by,
                ),
            )
        except ActivityError as err:
            cause = err.cause
            if not (
                isinstance(cause, ApplicationError) and cause.type == PLAN_ID_TAKEN
            ):
                raise
            state.stage = Stage.CANCELLED
            state.remember(HistoryEntry(at=workflow.now(), action=PLAN_ID_TAKEN))
            workflow.logger.warning(
                "plan id registered by another workflow",
                extra={"plan_id": state.info.plan_id},
            )
            self._publish()
            return False
        self._registered = True
        starter = self._input.started_by
        if starter is not None:
            state.remember(
                HistoryEntry(
                    at=state.started_at,
                    action=START_PLAN,
                    role=starter.role,
                    person=starter.person,
                )
            )
        return True

    async def _after_registration(self) -> ActionResult | None:
        """Wait until the plan's row is written and its first duties are open.

        A staff action can reach a plan in its first moments, while it writes
        its row (an activity): handled at once, an upload closed a duty not
        yet open, and the duty then opened as owed, the upload recorded but
        the plan waiting for it. A refusal when the plan ended instead (its id
        belongs to another plan); None to go on.
        """
        if self._registered or not workflow.patched(ACTIONS_AFTER_REGISTRATION):
            return None
        await workflow.wait_condition(lambda: self._registered or self._cancelled)
        if self._registered:
            return None
        return ActionResult(accepted=False, message=t("actions.plan_id_taken"))

    def _open_submission(self) -> None:
        now = workflow.now()
        deadline = score_submission_deadline(self._state.info.exam_end_date)
        for duty in SUBMISSION_DUTIES:
            self._state.open_duty(duty, now, deadline)
        self._alarms_changed = True

    async def _await_submission(self) -> None:
        state = self._state
        await self._wait_until(
            lambda: all(state.is_done(d.value) for d in SUBMISSION_DUTIES)
        )
        if self._cancelled:
            return
        await self._enter(Stage.CONSISTENCY_REVIEW)
        if self._cancelled:
            return
        result = await self._activity(
            IntakeActivities.build_consistency_report,
            ConsistencyRequest(
                plan=state.info, signed_evaluator_ids=state.signed_evaluator_ids
            ),
            start_to_close=LONG,
        )
        if self._cancelled:
            return
        state.consistency = result
        state.open_duty(Duty.CONSISTENCY_REVIEW, workflow.now())
        self._alarms_changed = True
        await self._notify(
            "review_requested",
            [Role.REGIONAL_CONTACT],
            verdict=result.verdict,
            mismatches=str(result.mismatch_count),
            # The report lists every mismatch (masked): what the review decides on.
            attachments=[result.report] if result.report else [],
        )

    async def _await_review(self) -> None:
        # The review update moves the stage: on to publication, or back to
        # submission; either way this stage is over once it changes.
        await self._wait_until(lambda: self._state.stage != Stage.CONSISTENCY_REVIEW)

    async def _await_score_upload(self) -> None:
        state = self._state
        if state.platform_import is None:
            state.platform_import = await self._activity(
                IntakeActivities.build_platform_import,
                PlatformImportRequest(plan=state.info),
                start_to_close=LONG,
            )
            if self._cancelled:
                return
            state.open_duty(Duty.SCORE_UPLOAD, workflow.now())
            self._alarms_changed = True
            await self._notify(
                "score_upload_requested",
                [Role.INFO_CENTER],
                attachments=[state.platform_import],
            )
        await self._wait_until(lambda: state.score_upload_confirmed_at is not None)
        if self._cancelled:
            return
        await self._compute_publicity()
        if self._cancelled:
            return
        window = state.publicity
        assert window is not None
        if workflow.now() < start_of_day(window.start_day) and workflow.patched(
            PUBLICITY_WAITS_FOR_ITS_START
        ):
            await self._enter(Stage.AWAITING_PUBLICITY)
            return
        await self._open_publicity()

    async def _await_publicity_start(self) -> None:
        """Wait for the first publicity day (a durable timer), then open it.

        The window is known from the confirmed upload, but begins at the
        later of E+16 and the day after it: until then no request is taken
        and nobody is told publicity began.
        """
        window = self._state.publicity
        assert window is not None
        opens = start_of_day(window.start_day)
        await self._wait_until(lambda: workflow.now() >= opens, until=opens)
        if self._cancelled:
            return
        await self._open_publicity()

    async def _open_publicity(self) -> None:
        """Enter publicity and tell the site, the regional manager and the
        info center its period and the last day to file a request."""
        window = self._state.publicity
        assert window is not None
        await self._enter(Stage.PUBLICITY)
        await self._notify(
            "publicity_opened",
            [Role.SITE, Role.REGIONAL_MANAGER, Role.INFO_CENTER],
            start=window.start_day.isoformat(),
            end=format_deadline(window.end_day),
            cutoff=format_deadline(window.cutoff_day),
        )

    async def _compute_publicity(self) -> None:
        """Ask the calendar (an activity, so replays never see today's data).

        A year the calendar does not know is never guessed: the plan records it,
        administrators are told, and it waits for the year to be loaded.
        """
        state = self._state
        assert state.score_upload_confirmed_at is not None
        # The window is dated as from a confirmation at this instant: the
        # confirmation's at first, the moment the plan looks again after a
        # wait for the calendar (its first day is then the day after, unless
        # E+16 is later), so the window is announced on its first day. A run
        # the plan continued as new while it waited looks again now too.
        anchor = state.score_upload_confirmed_at
        if state.calendar_missing_years and self._patched_case(
            PUBLICITY_AFTER_CALENDAR_LOAD
        ):
            anchor = max(anchor, workflow.now())
        while state.publicity is None and not self._cancelled:
            # Cleared before asking, not after: a load signalled while the
            # activities below run must still wake the wait that follows.
            self._calendar_reloaded = False
            answer = await self._activity(
                CalendarActivities.publicity_window,
                WindowRequest(exam_end=state.info.exam_end_date, confirmed_at=anchor),
            )
            if answer.window is not None:
                state.publicity = answer.window
                state.calendar_missing_years = []
                self._publish()
                return
            # The administrators were told of these years at an earlier look
            # (this run's, or the run it continued): the daily look is for a
            # missed signal, not another mail.
            told = state.calendar_missing_years == answer.missing_years
            state.calendar_missing_years = answer.missing_years
            self._publish()
            years = "、".join(str(y) for y in answer.missing_years)
            workflow.logger.warning(
                "calendar year missing",
                extra={"plan_id": state.info.plan_id, "years": years},
            )
            if not (told and self._patched_case(CALENDAR_MISSING_TOLD_ONCE)):
                await self._notify("calendar_missing", [Role.ADMIN], years=years)
            # Wait for the administrator's load, and look again once a day in
            # case the signal was missed while the worker was down.
            await self._wait_until(
                lambda: self._calendar_reloaded, limit=timedelta(days=1)
            )
            if self._patched_case(PUBLICITY_AFTER_CALENDAR_LOAD):
                anchor = max(anchor, workflow.now())

    async def _run_publicity(self) -> None:
        state = self._state
        window = state.publicity
        assert window is not None
        publicity_end = end_of_day(window.end_day)
        await self._wait_until(
            lambda: workflow.now() >= publicity_end, until=publicity_end
        )
        if self._cancelled:
            return
        state.publicity_closed = True
        state.nobody_passed_rule = workflow.patched(NO_CERTIFICATES)
        if (
            state.nobody_passed_rule
            and nothing_to_issue(state)
            and await self._end_without_certificates()
        ):
            return
        await self._enter(Stage.PAYMENT_AND_SIGNOFF)
        if self._cancelled:
            return
        if waits_for_corrections(state):
            await self._wait_for_corrections()
            return
        await self._open_payment()

    async def _open_payment(self) -> None:
        """Owe the site's application and the tech dept's sign-off, due at
        the payment deadline, and tell the site, the tech dept and finance."""
        state = self._state
        window = state.publicity
        assert window is not None  # set before the payment stage
        now = workflow.now()
        state.open_duty(Duty.APPLICATION, now, window.payment_deadline_day)
        if not state.is_done(Duty.ORG_SIGNOFF.value):
            state.open_duty(Duty.ORG_SIGNOFF, now, window.payment_deadline_day)
        self._alarms_changed = True
        # Approved requests the info center has still to apply are open too,
        # as the org sign-off counts them.
        pending = len(state.open_corrections())
        await self._notify(
            "payment_opened",
            [Role.SITE, Role.TECH_DEPT, Role.FINANCE],
            deadline=format_deadline(window.payment_deadline_day),
            pending=str(pending),
        )

    def _payment_done(self) -> bool:
        """Whether stages 5-8 are done: the plan may await its approval."""
        state = self._state
        return (
            state.is_done(Duty.PAYMENT_CHECK.value)
            and state.is_done(Duty.ORG_SIGNOFF.value)
            and state.is_done(Duty.SITE_SIGNOFF.value)
            and not self._reckoning
        )

    def _payment_moves(self, declined: int | None) -> bool:
        """Whether the payment stage is over (done, or the plan cancelled),
        waits for the corrections, or has nothing to issue: the last not at
        the wake ``declined``, when a run from before the rule went on."""
        state = self._state
        return (
            state.stage is not Stage.PAYMENT_AND_SIGNOFF
            or self._payment_done()
            or waits_for_corrections(state)
            or (nothing_to_issue(state) and self._wakes != declined)
        )

    async def _await_payment_and_signoffs(self) -> None:
        state = self._state
        # The wake at which a run from before NO_CERTIFICATES, replayed, went
        # on waiting with nothing to issue: asked again at its next wake.
        declined: int | None = None
        while True:
            if state.payment_waits_for_corrections:
                await self._wait_until(lambda: not waits_for_corrections(state))
                if state.stage is not Stage.PAYMENT_AND_SIGNOFF:
                    return
                state.payment_waits_for_corrections = False
                if not nothing_to_issue(state):
                    # A correction made a candidate pass: there is a fee. Once
                    # the correction under way is answered, not in its middle.
                    async with self._lock:
                        await self._open_payment()
            await self._wait_until(functools.partial(self._payment_moves, declined))
            if state.stage is not Stage.PAYMENT_AND_SIGNOFF or self._payment_done():
                break
            if waits_for_corrections(state):
                await self._wait_for_corrections()
                continue
            if state.nobody_passed_rule or self._patched_case(NO_CERTIFICATES):
                if await self._end_without_certificates():
                    return
                continue
            declined = self._wakes
        if state.stage == Stage.PAYMENT_AND_SIGNOFF:
            await self._enter(Stage.AWAITING_APPROVAL)
            if self._cancelled:
                return
            state.open_duty(Duty.APPROVAL, workflow.now())
            self._alarms_changed = True
            if state.payment_hold()[0] is not None and self._patched_case(
                READY_TOLD_WHEN_FREE
            ):
                # No batch takes it yet: said once its payment holds it no more.
                state.ready_mail_withheld = True
                return
            # Withheld while the database is asked whether another plan of its
            # payment holds it: one lifting that hold meanwhile finds the mail
            # withheld, and whoever ends the wait first sends it, once.
            state.ready_mail_withheld = True
            joint = await self._joint_holds()
            if joint is not None:
                self._note_partner_hold(_partner_hold(joint))
            if joint is not None and joint.held is not None:
                return  # said when the other plan's hold lifts
            if state.ready_mail_withheld:
                state.ready_mail_withheld = False
                await self._notify("ready_for_approval", [Role.TECH_DEPT])

    async def _wait_for_corrections(self) -> None:
        """Owe nothing of the payment stage while nobody passes and
        corrections are still open (see ``waits_for_corrections``).

        An application already sent is no longer to be checked, nor signed
        off: the duties are set aside, and open again (with the payment
        deadline) only once a correction makes a candidate pass. The site and
        the tech dept are told, and finance when it had an application.
        """
        state = self._state
        await workflow.wait_condition(workflow.all_handlers_finished)
        async with self._lock:
            # A correction may have been applied while this waited its turn.
            if not waits_for_corrections(state):
                return
            for duty in REDO_DUTIES:
                state.set_aside(duty.value)
            state.payment_waits_for_corrections = True
            self._alarms_changed = True
            self._publish()
            roles = [Role.SITE, Role.TECH_DEPT]
            if state.payment.head_count is not None:
                roles.append(Role.FINANCE)
            await self._notify(
                PAYMENT_WAITS_TEMPLATE,
                roles,
                count=str(len(state.open_corrections())),
                application=self._application_dropped(),
            )

    async def _end_without_certificates(self) -> bool:
        """End the plan in stage ``no_certificates``: nobody passed, and
        nothing is owed (see ``nothing_to_issue``). False when that no
        longer holds at its turn (finance confirmed a payment meanwhile).

        Every open duty is withdrawn, so no reminder follows; the row, the
        search attributes, the history and the audit trail say so, and the
        site, the tech dept and the info center are told once, with whoever
        owed a duty or was told it was overdue, and finance where the site
        had sent an application. A plan of a joint payment leaves it, as a
        cancelled one does (NO_CERTIFICATES_LEAVES_PAYMENT): the mail says
        what the payment owes no more, and the other plans of it nothing
        holds now are told (``payment_freed``).
        """
        state = self._state
        # The decision or correction that left nobody passing is answered,
        # and written to the history and audit trail, first.
        await workflow.wait_condition(workflow.all_handlers_finished)
        async with self._lock:
            if not nothing_to_issue(state):
                return False
            now = workflow.now()
            previous = state.stage
            withdrawn = state.withdraw_all(now, None)
            roles = {Role.SITE, Role.TECH_DEPT, Role.INFO_CENTER}
            for ob in withdrawn:
                roles.add(ob.owner)
                supervisor = state.policy.supervisors.get(ob.owner)
                if ob.escalation_mails and supervisor is not None:
                    roles.add(supervisor)
            if state.payment.head_count is not None:
                roles.add(Role.FINANCE)
            state.payment_waits_for_corrections = False
            self._alarms_changed = True
            leaves = is_joint(state.payment) and self._patched_case(
                NO_CERTIFICATES_LEAVES_PAYMENT
            )
            await self._enter(Stage.NO_CERTIFICATES)
            summary = state.summary
            assert summary is not None  # nobody passed: counted
            counts = t(
                "plan.no_certificates_counts",
                candidates=summary.candidates,
                failed=summary.failed,
                absent=summary.absent,
                disqualified=summary.disqualified,
            )
            workflow.logger.info(
                "plan ends with no certificates to issue",
                extra={"plan_id": state.info.plan_id, "stage": previous.value},
            )
            # The audit keeps the plan's figures, never a candidate's.
            await self._audit_raw(
                NO_CERTIFICATES_TEMPLATE,
                None,
                note=counts,
                stage=previous.value,
                candidates=summary.candidates,
                passed=summary.passed,
                failed=summary.failed,
                absent=summary.absent,
                withdrawn=duty_codes([ob.duty for ob in withdrawn]),
            )
            items = list(dict.fromkeys(ob.duty for ob in withdrawn))
            await self._notify(
                NO_CERTIFICATES_TEMPLATE,
                sorted(roles),
                counts=counts,
                previous=t(f"stages.{previous.value}"),
                items=duty_names(items) if items else t("plan.no_duties_withdrawn"),
                application=self._application_dropped()
                + (self._joint_payment_left() if leaves else ""),
            )
            if leaves:
                # The database counts the plan out of its payment now (its
                # row says ``no_certificates``), as after a cancellation.
                joint = await self._joint_holds()
                if joint is not None:
                    await self._tell_freed(joint.free)
        return True

    def _joint_payment_left(self) -> str:
        """What the mail of a plan of a joint payment ending with no
        certificate adds: the payment's other plans go on without it, and
        the share the site declared for it is no longer due."""
        state = self._state
        payment = state.payment
        others = sorted(set(payment.paid_plan_ids) - {state.info.plan_id})
        return t(
            "plan.joint_payment_left",
            plans="、".join(others),
            amount=payment.declared_amount_text or "—",
        )

    def _application_dropped(self) -> str:
        """What a mail adds about an application the site sent for a plan
        nobody passes now: not to be checked, and its money returned."""
        payment = self._state.payment
        if payment.head_count is None:
            return ""
        return t(
            "plan.application_dropped",
            heads=payment.head_count,
            amount=payment.declared_amount_text or "—",
        )

    async def _await_approval(self) -> None:
        # Batch verdicts arrive as signals and move the stage on (or back).
        await self._wait_until(lambda: self._state.stage != Stage.AWAITING_APPROVAL)

    async def _issue(self) -> None:
        state = self._state
        # A plan resumed as new while blocked waits as it did.
        if state.issuance_blocked is None:
            result = await self._run_issuance(RETRY)
            if result is not None:
                await self._issued(result, None)
                return
        # Nothing could be issued: the tech dept, told why, mends the cause
        # and issues again (``issue_again``), which moves the stage on.
        await self._wait_until(lambda: state.stage != Stage.ISSUANCE)

    async def _run_issuance(self, retry: RetryPolicy) -> IssuanceResult | None:
        """Issue the plan's certificates once; None when the issuance is blocked.

        The activity retries what may pass (a database away) as ``retry``
        says; what no retry can mend fails it for good, and is recorded and
        told to the tech dept here.
        """
        state = self._state
        try:
            result: IssuanceResult = await self._activity(
                CertificateActivities.issue_certificates,
                IssueRequest(
                    plan=state.info,
                    issued_on=cst_date(workflow.now()),
                    batch_id=state.batch.batch_id if state.batch else None,
                ),
                start_to_close=timedelta(minutes=30),
                retry=retry,
            )
        except ActivityError as err:
            cause = err.cause
            if not (
                isinstance(cause, ApplicationError)
                and cause.type == ISSUANCE_BLOCKED
                and workflow.patched(ISSUANCE_HOLDS)
            ):
                raise
            details = cause.details
            await self._issuance_blocked(
                str(details[0]) if details else "", _blocked_rows(details)
            )
            return None
        return result

    async def _issuance_blocked(self, cause: str, rows: list[str]) -> None:
        """Record what blocks the plan's issuance; tell the tech dept, who owes
        the repair (the duty opens last: ``issue_again`` waits for it)."""
        state = self._state
        # Blocked again as before (an issue_again the repair did not mend):
        # the tech dept who asked is answered, and was told already.
        told = (
            state.is_open(Duty.ISSUANCE_REPAIR.value)
            and (state.issuance_blocked, state.issuance_blocked_rows) == (cause, rows)
            and (
                workflow.patched(BLOCKED_TOLD_ONCE)
                or self._patched_case(BLOCKED_TOLD_ONCE)
            )
        )
        deadline = await self._repair_deadline()
        state.issuance_blocked = cause
        state.issuance_blocked_rows = rows
        workflow.logger.warning(
            "issuance blocked",
            extra={
                "plan_id": state.info.plan_id,
                "stage": state.stage.value,
                "cause": cause,
            },
        )
        if not told:
            await self._notify(
                "issuance_blocked", [Role.TECH_DEPT], cause=blocked_text(cause, rows)
            )
        state.open_duty(Duty.ISSUANCE_REPAIR, workflow.now(), deadline)
        self._alarms_changed = True
        self._publish()

    async def _repair_deadline(self) -> date | None:
        """The last day of the tech dept's repair of the issuance, when it is
        to open anew: some working days from today, or calendar days where
        the calendar does not know a year on the way (no later, and nothing
        guessed). None when it is open already: issued again, still held or
        blocked, it keeps its deadline and alarms.

        Asked before the plan records what held its issuance up, so that its
        status never shows that without the repair owed.
        """
        state = self._state
        if state.is_open(Duty.ISSUANCE_REPAIR.value) or not workflow.patched(
            ISSUANCE_REPAIR_DEADLINE
        ):
            return None
        request = self._working_days(state.policy.issuance_repair_working_days)
        answer = await self._activity(CalendarActivities.working_days_after, request)
        return self._working_days_on(request, answer)

    def _working_days(self, days: int) -> WorkingDaysRequest:
        """The question for the ``days``-th working day after today (CST)."""
        return WorkingDaysRequest(day=cst_date(workflow.now()), count=days)

    def _working_days_on(
        self, request: WorkingDaysRequest, answer: WorkingDaysAnswer
    ) -> date:
        """The day the calendar answered ``request`` with; where it does not
        know a year the count reaches, as many calendar days on: no later
        than the working days, and nothing guessed."""
        if answer.day is not None:
            return answer.day
        state = self._state
        workflow.logger.warning(
            "calendar year missing",
            extra={
                "plan_id": state.info.plan_id,
                "stage": state.stage.value,
                "years": str(answer.missing_year),
            },
        )
        return request.day + timedelta(days=request.count)

    async def _issued(self, result: IssuanceResult, actor: Actor | None) -> None:
        """Record an issuance that went through, those it held out included.

        The first moves the plan to issued and tells the parties; one the
        tech dept ran again tells them of the certificates it added.
        """
        state = self._state
        deadline = await self._repair_deadline() if result.held else None
        added = result.issued - state.certificates_issued
        state.certificates_issued = result.issued
        repair = Duty.ISSUANCE_REPAIR.value
        if (
            state.stage is Stage.ISSUANCE
            and (result.held or state.is_open(repair))
            and workflow.patched(HOLDS_BEFORE_ISSUED)
        ):
            # Recorded before the stage moves: ``issued`` is never read
            # without the certificates held out and the repair owed.
            told = self._take_holds(result)
            self._owe_repair(result, actor, deadline)
            await self._enter(Stage.ISSUED)
            await self._notify(
                "certificates_issued",
                [Role.TECH_DEPT, Role.INFO_CENTER, Role.SITE],
                count=str(result.issued),
            )
            if told:
                await self._tell_held(result)
            self._publish()
            return
        if state.stage is Stage.ISSUANCE:
            await self._enter(Stage.ISSUED)
            await self._notify(
                "certificates_issued",
                [Role.TECH_DEPT, Role.INFO_CENTER, Role.SITE],
                count=str(result.issued),
            )
        elif added > 0:
            await self._notify(
                "held_certificates_issued",
                [Role.TECH_DEPT, Role.INFO_CENTER, Role.SITE],
                count=str(added),
                total=str(result.issued),
            )
        if not result.held and not state.is_open(repair):
            return  # as every plan issued before certificates were held
        if not workflow.patched(ISSUANCE_HOLDS):
            return
        if self._take_holds(result):
            await self._tell_held(result)
        self._owe_repair(result, actor, deadline)
        self._publish()

    def _take_holds(self, result: IssuanceResult) -> bool:
        """Keep the certificates ``result`` held out; True when one of them
        was not held before."""
        state = self._state
        known = {h.admission_number for h in state.certificates_held}
        state.certificates_held = list(result.held)
        state.issuance_blocked = None
        state.issuance_blocked_rows = []
        return any(h.admission_number not in known for h in result.held)

    def _owe_repair(
        self, result: IssuanceResult, actor: Actor | None, deadline: date | None
    ) -> None:
        """The tech dept owes the repair while ``result`` holds any out."""
        if result.held:
            self._state.open_duty(Duty.ISSUANCE_REPAIR, workflow.now(), deadline)
        else:
            self._state.close_duty(Duty.ISSUANCE_REPAIR.value, workflow.now(), actor)
        self._alarms_changed = True

    async def _tell_held(self, result: IssuanceResult) -> None:
        """Tell the tech dept and the info center of the certificates held."""
        state = self._state
        workflow.logger.warning(
            "certificates held",
            extra={
                "plan_id": state.info.plan_id,
                "stage": state.stage.value,
                "count": len(result.held),
            },
        )
        await self._notify(
            "certificates_held",
            list(HELD_TOLD),
            count=str(len(result.held)),
            issued=str(result.issued),
            held=held_lines(result.held),
        )

    async def _await_issuance_repair(self) -> None:
        """Stay open while certificates are held out: the tech dept issues them
        once their cause is mended (``issue_again``)."""
        owed = Duty.ISSUANCE_REPAIR.value
        if self._state.is_open(owed):
            await self._wait_until(lambda: not self._state.is_open(owed))

    @workflow.update
    async def issue_again(self, req: SimpleAction) -> ActionResult:
        """The tech dept mended what held certificates out (the font) or
        blocked the plan's issuance: issue what is still to be issued."""
        state = self._state
        async with self._lock:
            if not state.is_open(Duty.ISSUANCE_REPAIR.value):
                # Another ``issue_again`` issued everything while this waited.
                return ActionResult(accepted=False, message=t("plan.nothing_held"))
            try:
                result = await self._run_issuance(ANSWER_RETRY)
            except ActivityError:
                workflow.logger.warning(
                    "staff action could not be processed",
                    extra={"plan_id": state.info.plan_id, "activity": "issue"},
                )
                return _not_processed("plan.action_failed")
            if result is None:
                cause = state.issuance_blocked or ""
                await self._audit(
                    Action.ISSUE_AGAIN, req.actor, accepted=False, cause=cause
                )
                message = t(
                    "plan.issuance_still_blocked",
                    cause=blocked_text(cause, state.issuance_blocked_rows),
                )
                return ActionResult(accepted=False, message=message)
            before = state.certificates_issued
            await self._issued(result, req.actor)
            added = result.issued - before
            await self._audit(
                Action.ISSUE_AGAIN,
                req.actor,
                issued=str(added),
                held=str(len(result.held)),
            )
            message = t("plan.issued_again", count=added, total=result.issued)
            if result.held:
                message += t("plan.still_held", count=len(result.held))
            return ActionResult(accepted=True, message=message)

    @issue_again.validator
    def _check_issue_again(self, req: SimpleAction) -> None:
        self._check(Action.ISSUE_AGAIN, req)
        if not self._state.is_open(Duty.ISSUANCE_REPAIR.value):
            raise _refuse(Refusal("not_ready", t("plan.nothing_held")))

    async def _await_invoice_after_issuance(self) -> None:
        """Stay open after issuance until finance has recorded the invoice.

        Issuance needs the confirmed payment, not the invoice (4.2.6), so finance
        may still owe it; a completed plan could no longer take the invoice and
        its reminders would stop. Plans that completed at issuance before this
        rule carry no marker in their history and replay as they ran.
        """
        state = self._state
        owed = Duty.INVOICE.value
        if state.stage != Stage.ISSUED or not state.is_open(owed):
            return
        if not workflow.patched(INVOICE_AFTER_ISSUANCE):
            return
        await self._wait_until(lambda: not state.is_open(owed))

    # -- timers ----------------------------------------------------------------

    async def _wait_until(
        self,
        condition: Callable[[], bool],
        *,
        until: datetime | None = None,
        limit: timedelta | None = None,
    ) -> None:
        """Wait for ``condition`` while sending reminders and escalations when due.

        This is the plan's only timer: it sleeps until the earliest alarm of any
        open obligation (or ``until``), so changing an obligation just wakes it to
        recompute. It also continues as new when history grows long or the run
        has taken many updates: it wakes for that as soon as a handler finishes
        (plans recorded before CONTINUE_AS_NEW_AFTER_HANDLERS look only when
        woken for an alarm or a changed obligation).

        A cancelled plan waits for nothing: every wait ends, and the stage
        that waited returns without entering the next one.
        """
        started = workflow.now()
        after_handlers = workflow.patched(CONTINUE_AS_NEW_AFTER_HANDLERS)
        self._updates_continue_run = after_handlers

        def done() -> bool:
            return condition() or self._cancelled

        def woken() -> bool:
            return (
                done()
                or self._alarms_changed
                or (after_handlers and self._should_continue_as_new(True))
            )

        while not done():
            if limit is not None and workflow.now() - started >= limit:
                return
            if workflow.patched(PUBLISH_BEFORE_WAIT):
                self._publish()
            await self._schedule_nudges()
            wake = self._next_wake(until)
            if limit is not None:
                wake = min(wake, started + limit) if wake else started + limit
            self._alarms_changed = False
            if workflow.patched(TIMERS_LEFT_TO_FIRE):
                await self._sleep_until(wake, woken)
            else:
                # As plans recorded before: the timer cancelled on waking early.
                timeout = (
                    max(wake - workflow.now(), MIN_SLEEP) if wake is not None else None
                )
                try:
                    await workflow.wait_condition(
                        woken,
                        timeout=timeout,
                        timeout_summary=timer_summary(wake) if wake else None,
                    )
                except TimeoutError:
                    pass
            self._wakes += 1
            await self._fire_due_alarms()
            self._publish()
            if self._should_continue_as_new(after_handlers):
                await self._continue_as_new(after_handlers)

    async def _sleep_until(
        self, wake: datetime | None, woken: Callable[[], bool]
    ) -> None:
        """Wait until ``wake`` (at least a second from now), or ``woken`` holds.

        The timer is never cancelled. The time-skipping test server (the
        training stack's) refuses a workflow task that cancels a timer which
        fired while the task ran, after applying part of its commands, and
        refuses every later attempt of it ("invalid history builder state for
        action", then "Already open activity"): the plan is stuck for good.
        The real server drops the fired timer instead. So a timer that fires no
        later than needed is kept for the next wait, and one no longer wanted
        is left to fire: its wake changes nothing.
        """
        now = workflow.now()
        timer = self._timer
        if wake is not None:
            fires_at = max(wake, now + MIN_SLEEP)
            if timer is None or timer[1].done() or timer[0] > fires_at:
                sleep = workflow.sleep(fires_at - now, summary=timer_summary(wake))
                timer = (fires_at, asyncio.create_task(sleep))
                self._timer = timer
        else:
            timer = None
        await workflow.wait_condition(
            lambda: woken() or (timer is not None and timer[1].done())
        )

    def _next_wake(self, until: datetime | None) -> datetime | None:
        now = workflow.now()
        times = [
            at
            for ob in self._state.open_obligations()
            for at in (next_alarm(ob, self._state.policy), next_nudge_wake(ob, now))
            if at is not None
        ]
        if until is not None:
            times.append(until)
        return min(times) if times else None

    async def _schedule_nudges(self) -> None:
        """Count the working days to the next nudge of each duty without a
        deadline that has none scheduled (see ``take_due_nudge``).

        Counts that ended while the plan could not nudge (it was not running,
        or ran code from before nudges) are taken as waited: one nudge goes
        out for them, not one for each. Where the calendar does not know a
        year the count reaches, calendar days are counted, as for every
        working-day count: sooner, never later, nothing guessed.
        """
        state = self._state
        days = state.policy.nudge_working_days
        for ob in state.open_obligations():
            if not needs_nudges(ob, state.policy):
                continue
            # A count after a nudge this code sent needs no patch of its own.
            if ob.counted_from is None and not self._patched_case(NUDGES):
                continue
            since = ob.waiting_since
            counted = await self._working_days_counted(nudge_count_start(ob), days)
            waited: list[date] = []
            while end_of_day(counted[-1]) <= workflow.now():
                following = await self._working_days_counted(counted[-1], days)
                if end_of_day(following[-1]) > workflow.now():
                    break
                waited += counted
                counted = following
            if not ob.open or ob.waiting_since != since:
                continue  # done or reopened meanwhile: counted anew if owed
            if waited:
                count_waited(ob, waited)
            ob.nudge_days = counted

    async def _working_days_counted(self, day: date, count: int) -> list[date]:
        """The ``count`` working days after ``day``; as many calendar days
        where the calendar does not know a year on the way (see
        _working_days_on)."""
        request = WorkingDaysRequest(day=day, count=count)
        answer: WorkingDaysAnswer = await self._activity(
            CalendarActivities.working_days_after, request
        )
        last = self._working_days_on(request, answer)
        if answer.days:
            return answer.days
        return [day + timedelta(days=n) for n in range(1, (last - day).days + 1)]

    async def _fire_due_alarms(self) -> None:
        now = workflow.now()
        alarms: list[Alarm] = []
        for ob in self._state.open_obligations():
            alarms += take_due_alarms(ob, self._state.policy, now)
            nudge = take_due_nudge(ob, now)
            if nudge is not None:
                alarms.append(nudge)
        for alarm in alarms:
            if alarm.kind is AlarmKind.NUDGE:
                await self._send_nudge(alarm)
                continue
            if alarm.kind is not AlarmKind.REMINDER and self._patched_case(
                OVERDUE_REPEATS_SPACED
            ):
                alarm.obligation.escalated_at = now
            await self._send_alarm(alarm)

    async def _send_nudge(self, alarm: Alarm) -> None:
        """Mail the owner of a duty without a deadline that it still waits:
        since when, how many working days, and for what. Nobody else is told,
        and the duty is not overdue: the procedure gives it no deadline."""
        ob = alarm.obligation
        state = self._state
        workflow.logger.info(
            "duty nudged",
            extra={
                "plan_id": state.info.plan_id,
                "stage": state.stage.value,
                "duty": ob.duty.value,
                "days_waited": ob.days_waited,
            },
        )
        await self._notify(
            "alarm_nudge",
            [ob.owner],
            alarm=alarm,
            key_suffix=f"{ob.key}:{ob.days_waited}",
            duty=_owed_label(ob),
            owner=t(f"roles.{ob.owner.value}"),
            since=format_cst(ob.waiting_since),
            days=str(ob.days_waited),
            every=str(state.policy.nudge_working_days),
            waits=_nudge_waits(ob, state.info.plan_id),
        )

    async def _send_alarm(self, alarm: Alarm) -> None:
        """Mail a reminder or an overdue notice of ``alarm``'s duty: to its
        owner, and once late to the owner's supervisor too.

        The org sign-off waits for every correction request to be closed: its
        notice names those still open and who owes them, and goes to them as
        well, so the tech dept is not asked alone for what it cannot do.
        """
        ob = alarm.obligation
        state = self._state
        roles = [ob.owner]
        if alarm.kind is not AlarmKind.REMINDER:
            supervisor = state.policy.supervisors.get(ob.owner)
            if supervisor is not None:
                roles.append(supervisor)
        holding = state.corrections_holding() if ob.duty is Duty.ORG_SIGNOFF else ""
        if holding:
            roles += [r for r in state.holding_roles() if r not in roles]
        assert ob.deadline_day is not None
        workflow.logger.info(
            "deadline alarm",
            extra={
                "plan_id": self._state.info.plan_id,
                "stage": self._state.stage.value,
                "duty": ob.duty.value,
                "alarm": alarm.kind.value,
            },
        )
        await self._notify(
            f"alarm_{alarm.kind.value}",
            roles,
            alarm=alarm,
            key_suffix=f"{ob.key}:{ob.reminders_sent}:{ob.escalations_sent}",
            # A duty owed once per item names its item (a request number), as
            # the status does: two decisions owed are two mails that say which
            # (trial: the general manager got two identical overdue notices).
            duty=_owed_label(ob),
            owner=t(f"roles.{ob.owner.value}"),
            deadline=format_deadline(ob.deadline_day),
            held=t("mail.alarm_held", corrections=holding) if holding else "",
        )

    def _should_continue_as_new(self, count_updates: bool) -> bool:
        """Whether this run has grown enough to hand its state to a new one.

        Its history is past the plan's limit, or Temporal suggests it (a
        history or an update count near the server's own limits); with
        ``count_updates``, also when the run has taken ``update_limit``
        updates: the server refuses every update past its limit (2,000 by
        default), a few seconds of actions sent one after another.
        """
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > self._input.history_event_limit
            or (count_updates and self._updates_taken >= self._input.update_limit)
        )

    async def _continue_as_new(self, refuse_meanwhile: bool) -> None:
        """Continue as new with the plan's state, once every action under way is
        answered and every mail asked for has gone out.

        With ``refuse_meanwhile`` the actions arriving while it waits for the
        ones under way are refused, to be sent again (see _check): a stream of
        actions, each arriving before the last is answered, would otherwise
        put off the new run for as long as it lasted.
        """
        self._draining = refuse_meanwhile
        await workflow.wait_condition(self._all_done)
        workflow.logger.info(
            "continuing as new",
            extra={
                "plan_id": self._state.info.plan_id,
                "stage": self._state.stage.value,
                "updates": self._updates_taken,
                "events": workflow.info().get_current_history_length(),
            },
        )
        state = self._state
        if workflow.patched(BOUNDED_CARRY):
            # Plans that continued as new before carried their state whole.
            state = state.carried()
        workflow.continue_as_new(self._input.model_copy(update={"state": state}))

    # -- queries ---------------------------------------------------------------

    @workflow.query
    def status(self) -> PlanStatus:
        """The plan as staff see it: stage, what each party owes, deadlines, history.

        Shown as the plan carries its state to its next run (``carried``):
        a text recorded before the bounds is shown cut, as the next run
        holds it, and the status reads the same before and after.
        """
        state = self._state.carried()
        now = workflow.now()
        counts = CorrectionCounts()
        for c in state.corrections.values():
            setattr(counts, c.status.value, getattr(counts, c.status.value) + 1)
        # What the tech dept's sign-off, owed, waits for: said on its line.
        holding = state.corrections_holding()
        return PlanStatus(
            plan_id=state.info.plan_id,
            site_code=state.info.site_code,
            stage=state.stage,
            stage_label=_stage_label(state),
            owed=[
                OwedItem(
                    key=ob.key,
                    duty=ob.duty,
                    label=_owed_label(
                        ob,
                        holding if ob.duty is Duty.ORG_SIGNOFF else "",
                        gathering=state.awaits_gathering(ob),
                    ),
                    # No batch has taken the plan yet: its gathering is owed,
                    # not the general manager's decision.
                    owner=state.acting_owner(ob),
                    deadline_day=ob.deadline_day,
                    overdue=ob.overdue(now),
                    reminders_sent=ob.reminder_mails,
                    escalations_sent=ob.escalation_mails,
                    notices_waiting=self._notices_waiting.get(ob.key, 0),
                    waiting_since=ob.waiting_since,
                    working_days_waited=(
                        ob.working_days_waited(now) if ob.deadline_day is None else None
                    ),
                    nudges_sent=ob.nudge_mails,
                )
                # An approval its payment holds out of every batch is owed by
                # nobody: ``payment_held`` says what holds it.
                for ob in state.owed_obligations()
            ],
            next_deadline=state.next_deadline(),
            overdue=state.overdue(now),
            documents=state.documents,
            document_versions=state.document_versions,
            summary=state.summary,
            consistency=state.consistency,
            publicity=state.publicity,
            calendar_missing_years=state.calendar_missing_years,
            corrections=counts,
            correction_states={k: c.status for k, c in state.corrections.items()},
            payment=state.payment,
            batch_id=state.batch.batch_id if state.batch else None,
            certificates_issued=state.certificates_issued,
            certificates_revoked=state.certificates_revoked,
            certificates_held=state.certificates_held,
            issuance_blocked=state.issuance_blocked,
            issuance_blocked_rows=state.issuance_blocked_rows,
            platform_import=state.platform_import,
            history=state.history,
            cancellation=state.cancellation,
            lead_evaluator_id=state.info.lead_evaluator_id,
            certificate=state.info.certificate,
            level=state.info.level,
            module_code=state.info.module_code,
            module_name=state.info.module_name,
            exam_end_date=state.info.exam_end_date,
            evaluator_ids=list(state.info.evaluator_ids),
            held_back=state.held_back(),
            payment_held=_payment_held(state),
            mails_waiting=sum(1 for mail in self._mails if not mail.done()),
            payment_waits_for_corrections=state.payment_waits_for_corrections,
        )

    # -- stage 1: score submission (4.1.1-4.1.4) -------------------------------

    @workflow.update
    @_counted
    async def upload_score_summary(self, req: UploadRequest) -> ActionResult:
        return await self._upload(DocumentKind.SCORE_SUMMARY, req)

    @upload_score_summary.validator
    def _check_score_summary(self, req: UploadRequest) -> None:
        self._check(Action.UPLOAD_SCORE_SUMMARY, req)

    @workflow.update
    @_counted
    async def upload_signed_scan(self, req: UploadRequest) -> ActionResult:
        # The signers belong to the scan: a refused scan leaves the earlier ones.
        return await self._upload(DocumentKind.SIGNED_SUMMARY_SCAN, req)

    @upload_signed_scan.validator
    def _check_signed_scan(self, req: UploadRequest) -> None:
        self._check(Action.UPLOAD_SIGNED_SCAN, req)
        if not req.signed_evaluator_ids:
            raise _refuse(Refusal("bad_argument", t("plan.no_evaluators_signed")))
        # Matched as staff type them (any case, full width); kept as typed.
        unknown = unknown_signers(self._state.info, req.signed_evaluator_ids)
        if unknown:
            refusal = t("plan.unknown_evaluator", staff_id=unknown[0])
            raise _refuse(Refusal("bad_argument", refusal))

    @workflow.update
    @_counted
    async def upload_candidate_sign_in(self, req: UploadRequest) -> ActionResult:
        return await self._upload(DocumentKind.CANDIDATE_SIGN_IN, req)

    @upload_candidate_sign_in.validator
    def _check_candidate_sign_in(self, req: UploadRequest) -> None:
        self._check(Action.UPLOAD_CANDIDATE_SIGN_IN, req)

    @workflow.update
    @_counted
    async def upload_evaluator_sign_in(self, req: UploadRequest) -> ActionResult:
        return await self._upload(DocumentKind.EVALUATOR_SIGN_IN, req)

    @upload_evaluator_sign_in.validator
    def _check_evaluator_sign_in(self, req: UploadRequest) -> None:
        self._check(Action.UPLOAD_EVALUATOR_SIGN_IN, req)

    async def _upload(self, kind: DocumentKind, req: UploadRequest) -> ActionResult:
        if (refused := await self._after_registration()) is not None:
            return refused
        state = self._state
        action = _UPLOAD_ACTION[kind]
        async with self._lock:
            # A cancellation, or the upload completing the stage, may have held
            # the lock meanwhile: taken now, the file would be recorded for a
            # plan that no longer asks for it.
            refused = self._refused_at_turn(self._action_refusal(action, req.actor))
            if refused is not None:
                await self._attempt(
                    IntakeActivities.record_upload,
                    self._upload_record(kind, req.document, req.actor, refused=True),
                )
                return refused
            current = state.documents.get(kind)
            if (
                current is not None
                and current.sha256 == req.document.sha256
                and state.is_done(UPLOAD_DUTY[kind].value)
            ):
                # The very file already accepted: a re-send, not a new version.
                # (After a send-back the duty is open again and the upload counts.)
                version = state.document_versions.get(kind, 0)
                if kind is DocumentKind.SIGNED_SUMMARY_SCAN:
                    corrected = await self._correct_signers(req, version)
                    if corrected is not None:
                        return corrected
                return ActionResult(
                    accepted=True, message=t("plan.same_file", version=version)
                )
            outcome = await self._attempt(
                IntakeActivities.process_upload,
                ProcessUpload(
                    plan=state.info,
                    kind=kind,
                    document=req.document,
                    uploaded_by=req.actor.person,
                    at=workflow.now(),
                ),
                start_to_close=LONG,
            )
            if outcome is None:
                return _not_processed("plan.upload_failed")
            if not outcome.accepted:
                await self._audit(
                    action,
                    req.actor,
                    accepted=False,
                    problems=str(outcome.problem_count),
                )
                await self._notify(
                    "upload_refused",
                    [req.actor.role],
                    file=_uploaded_as(req.document.filename),
                    document=t(f"actions.{action.value}"),
                    count=str(outcome.problem_count),
                    problems=_problem_list(outcome.problems, outcome.problem_count),
                    attachments=[outcome.report] if outcome.report else [],
                )
                return ActionResult(
                    accepted=False,
                    message=t("plan.upload_refused", count=outcome.problem_count),
                    problems=outcome.problems,
                    problem_count=outcome.problem_count,
                    report=outcome.report,
                )

            version = state.document_versions.get(kind, 0) + 1
            # After a send-back the very file sent back is rarely what was meant.
            unchanged = current is not None and current.sha256 == req.document.sha256
            state.documents[kind] = req.document
            state.document_versions[kind] = version
            if kind is DocumentKind.SIGNED_SUMMARY_SCAN:
                state.signed_evaluator_ids = list(req.signed_evaluator_ids)
            if kind is DocumentKind.SCORE_SUMMARY:
                state.summary = outcome.stats
                # A new summary must be confirmed again by the site (4.1.4).
                if state.is_done(Duty.SUMMARY_CONFIRMATION.value):
                    state.open_duty(Duty.SUMMARY_CONFIRMATION, workflow.now())
            late = state.close_duty(UPLOAD_DUTY[kind].value, workflow.now(), req.actor)
            self._alarms_changed = True
            await self._audit(action, req.actor, late=late, version=str(version))
            message = t("plan.upload_accepted", version=version)
            if unchanged:
                message += t("plan.upload_unchanged", version=version - 1)
            if outcome.note:
                message += t("plan.upload_notes", notes=outcome.note)
            return self._accepted(message, late, UPLOAD_DUTY[kind])

    async def _correct_signers(
        self, req: UploadRequest, version: int
    ) -> ActionResult | None:
        """The accepted scan sent again with another list of signers.

        The file is the same, so no new version; the list is the lead
        evaluator's correction of who signed it, and the consistency review
        compares it with the evaluators' sign-in sheet: it is recorded as a
        correction, in the audit trail and the history. None when the list
        is the same (a plain re-send).
        """
        state = self._state
        given = list(dict.fromkeys(req.signed_evaluator_ids))
        before = state.signed_evaluator_ids
        if sorted(given) == sorted(set(before)):
            return None
        if not workflow.patched(SCAN_SIGNERS_CORRECTED):
            # As plans recorded before this rule ran: replaced, not recorded.
            state.signed_evaluator_ids = given
            return None
        state.signed_evaluator_ids = given
        await self._audit_raw(
            SCAN_SIGNERS_CORRECTED,
            req.actor,
            ref=t("plan.version_ref", version=version),
            version=str(version),
            signed_by=",".join(given),
            previously=",".join(before),
        )
        return ActionResult(
            accepted=True,
            message=t(
                "plan.signers_corrected",
                version=version,
                before="、".join(before),
                after="、".join(given),
            ),
        )

    @workflow.update
    @_counted
    async def confirm_score_summary(self, req: ConfirmSummaryRequest) -> ActionResult:
        if (refused := await self._after_registration()) is not None:
            return refused
        # A new summary being read now would reopen the confirmation taken
        # before it.
        return await self._confirmed_in_turn(
            DocumentKind.SCORE_SUMMARY,
            "plan.summary_replaced",
            lambda: self._confirm_summary_refusal(req),
            lambda: self._confirm_summary(req),
        )

    async def _confirm_summary(self, req: ConfirmSummaryRequest) -> ActionResult:
        # Without --version the site confirms the latest: say which that was.
        version = self._state.document_versions[DocumentKind.SCORE_SUMMARY]
        late = self._state.close_duty(
            Duty.SUMMARY_CONFIRMATION.value, workflow.now(), req.actor
        )
        self._alarms_changed = True
        await self._audit(
            Action.CONFIRM_SCORE_SUMMARY,
            req.actor,
            late=late,
            ref=t("plan.version_ref", version=version),
            version=str(version),
        )
        return self._accepted(
            t("plan.summary_confirmed", version=version),
            late,
            Duty.SUMMARY_CONFIRMATION,
        )

    @confirm_score_summary.validator
    def _check_confirm_summary(self, req: ConfirmSummaryRequest) -> None:
        self._check_request(req)
        _refuse_first(self._confirm_summary_refusal(req))

    def _confirm_summary_refusal(self, req: ConfirmSummaryRequest) -> Refusal | None:
        """Why the site's confirmation is refused now; None to take it."""
        refusal = self._action_refusal(Action.CONFIRM_SCORE_SUMMARY, req.actor)
        if refusal is not None:
            return refusal
        latest = self._state.document_versions.get(DocumentKind.SCORE_SUMMARY)
        if latest is None:
            return Refusal("bad_argument", t("plan.summary_not_accepted"))
        if req.summary_version is not None and req.summary_version != latest:
            return Refusal(
                "bad_argument",
                t(
                    "plan.summary_version_mismatch",
                    confirmed=req.summary_version,
                    latest=latest,
                ),
            )
        if self._state.is_done(Duty.SUMMARY_CONFIRMATION.value):
            return Refusal("already_done", t("plan.already_done"))
        return None

    # -- stage 2: consistency review (4.1.5) -----------------------------------

    @workflow.update
    @_counted
    async def review_consistency(self, req: ReviewRequest) -> ActionResult:
        state = self._state
        now = workflow.now()
        state.close_duty(Duty.CONSISTENCY_REVIEW.value, now, req.actor)
        decision = "approved" if req.approve else "sent_back"
        if state.consistency is not None:
            state.consistency.review_outcome = decision
            state.consistency.reviewed_by = req.actor.person
            state.consistency.review_reason = req.reason
        if req.approve:
            state.sent_back_reason = None
            await self._audit(
                Action.REVIEW_CONSISTENCY,
                req.actor,
                outcome=decision,
                note=req.reason,
                decision=decision,
                reason=req.reason,
            )
            await self._enter(Stage.SCORE_PUBLICATION)
            return self._accepted(
                t("plan.accepted") + t("plan.next_after_review"),
                False,
                Duty.CONSISTENCY_REVIEW,
            )

        items = req.items or [
            duty for duty in SUBMISSION_DUTIES if DUTY_OWNER[duty] in req.send_back_to
        ]
        for duty in items:
            state.open_duty(duty, now)
        reopened = list(items)
        if Duty.SCORE_SUMMARY in items:
            # A new summary is confirmed again by the site (4.1.4).
            state.open_duty(Duty.SUMMARY_CONFIRMATION, now)
            if Duty.SUMMARY_CONFIRMATION not in reopened:
                reopened.append(Duty.SUMMARY_CONFIRMATION)
        state.sent_back_reason = req.reason
        self._alarms_changed = True
        what = duties_by_party(reopened)
        await self._audit(
            Action.REVIEW_CONSISTENCY,
            req.actor,
            outcome=decision,
            note=req.reason,
            ref=what,
            decision=decision,
            items=duty_codes(reopened),
            reason=req.reason,
        )
        await self._enter(Stage.SCORE_SUBMISSION)
        # Everyone who owes something again is told, the site too when only
        # the summary went back (its confirmation reopened with it).
        await self._notify(
            "sent_back",
            sorted({DUTY_OWNER[d] for d in reopened}),
            reason=req.reason,
            items=duty_names(reopened),
        )
        return self._accepted(
            t("plan.sent_back", items=what), False, Duty.CONSISTENCY_REVIEW
        )

    @review_consistency.validator
    def _check_review(self, req: ReviewRequest) -> None:
        self._check(Action.REVIEW_CONSISTENCY, req)
        # The report is computed on entering the stage; no decision before it.
        if not self._state.is_open(Duty.CONSISTENCY_REVIEW.value):
            raise _refuse(Refusal("not_ready", t("plan.review_not_ready")))
        consistency = self._state.consistency
        if req.approve and (req.items or req.send_back_to):
            # Items or parties say what goes back: with an approval they would
            # be dropped without a word.
            raise _refuse(Refusal("bad_argument", t("plan.approve_with_items")))
        if req.approve:
            # Approving despite computed mismatches needs the contact's reason.
            if consistency and not consistency.consistent and not req.reason.strip():
                raise _refuse(
                    Refusal(
                        "reason_required",
                        t(
                            "plan.mismatches_need_reason",
                            count=consistency.mismatch_count,
                        ),
                    )
                )
            return
        if not req.reason.strip():
            raise _refuse(Refusal("bad_argument", t("plan.reason_required")))
        if not req.send_back_to and not req.items:
            raise _refuse(Refusal("bad_argument", t("plan.send_back_needs_parties")))
        if any(r not in (Role.LEAD_EVALUATOR, Role.SITE) for r in req.send_back_to):
            raise _refuse(Refusal("bad_argument", t("plan.send_back_needs_parties")))
        for item in req.items:
            if item not in SUBMISSION_DUTIES:
                raise _refuse(
                    Refusal(
                        "bad_argument", t("plan.bad_send_back_item", item=item.value)
                    )
                )
        _refuse_first(_send_back_mismatch(req.send_back_to, req.items))

    # -- stage 3: score publication (4.1.6) ------------------------------------

    @workflow.update
    @_counted
    async def confirm_score_upload(self, req: SimpleAction) -> ActionResult:
        now = workflow.now()
        self._state.score_upload_confirmed_at = now
        late = self._state.close_duty(Duty.SCORE_UPLOAD.value, now, req.actor)
        self._alarms_changed = True
        await self._audit(Action.CONFIRM_SCORE_UPLOAD, req.actor, late=late)
        return self._accepted(
            t("plan.accepted") + t("plan.next_after_score_upload"),
            late,
            Duty.SCORE_UPLOAD,
        )

    @confirm_score_upload.validator
    def _check_score_upload(self, req: SimpleAction) -> None:
        self._check(Action.CONFIRM_SCORE_UPLOAD, req)
        if self._state.score_upload_confirmed_at is not None:
            raise _refuse(Refusal("already_done", t("plan.already_done")))
        if not self._state.is_open(Duty.SCORE_UPLOAD.value):
            raise _refuse(Refusal("not_ready", t("plan.import_not_ready")))

    @workflow.signal
    def calendar_reloaded(self, notice: CalendarReloaded) -> None:
        """An administrator loaded a year's schedule; recompute what waited for it."""
        self._calendar_reloaded = True

    # -- stage 4: publicity and corrections (4.1.7) ----------------------------

    @workflow.update
    @_counted
    async def submit_correction(self, req: CorrectionSubmission) -> ActionResult:
        state = self._state
        async with self._lock:
            # A cancellation may have held the lock meanwhile.
            refused = self._refused_at_turn(self._correction_submission_refusal(req))
            if refused is not None:
                return refused
            request_id = f"{state.info.plan_id}-C{len(state.corrections) + 1:03d}"
            received_at = req.received_at or workflow.now()
            recorded = await self._attempt(
                IntakeActivities.record_correction,
                CorrectionRecord(
                    plan=state.info,
                    request_id=request_id,
                    admission_number=req.admission_number,
                    field=req.field,
                    published_score=req.published_score,
                    requested_score=req.requested_score,
                    reason=req.reason,
                    requester=req.requester,
                    requester_email=req.requester_email,
                    received_at=received_at,
                    entered_by=req.actor.person,
                    source_key=req.source_key,
                    draft=req.draft,
                ),
            )
            if recorded is None:
                if self._patched_case(CORRECTION_GIVEN_UP_FORGOTTEN):
                    self._forget_correction(request_id)
                return _not_processed("plan.action_failed")
            if not recorded.accepted:
                await self._audit(Action.SUBMIT_CORRECTION, req.actor, accepted=False)
                return ActionResult(
                    accepted=False,
                    message=recorded.problems[0].message if recorded.problems else "",
                    problems=recorded.problems,
                    problem_count=len(recorded.problems),
                )
            state.corrections[request_id] = CorrectionState(
                request_id=request_id, received_at=received_at
            )
            window = state.publicity
            assert window is not None
            state.open_duty(
                Duty.CORRECTION_DECISION, workflow.now(), window.end_day, ref=request_id
            )
            self._alarms_changed = True
            await self._audit(
                Action.SUBMIT_CORRECTION,
                req.actor,
                ref=request_id,
                request_id=request_id,
            )
            await self._notify(
                "correction_received", [Role.REGIONAL_MANAGER], request_id=request_id
            )
            result = self._accepted(t("plan.accepted"), False, None)
            result.reference = request_id
            return result

    @submit_correction.validator
    def _check_correction(self, req: CorrectionSubmission) -> None:
        self._check_request(req)
        _refuse_first(
            self._correction_submission_refusal(req),
            # Only here, as the check below: a request taken before it
            # replays, as a validator does not run on replay.
            _correction_holding_id_number(req),
            # Only here: a day not after today when this lets it through is
            # not after today at its turn either, and a replay runs no
            # validator, so a request recorded before this check replays.
            _correction_dated_in_future(req),
        )

    def _correction_submission_refusal(
        self, req: CorrectionSubmission
    ) -> Refusal | None:
        """Why a correction request is refused now; None to record it."""
        refusal = self._action_refusal(Action.SUBMIT_CORRECTION, req.actor)
        missing = self._state.calendar_missing_years
        if refusal is not None and refusal.code == "wrong_stage" and missing:
            # Not "the plan is in 成绩上传": the window waits for the
            # calendar, and the requester is told so and when it will open.
            years = "、".join(str(year) for year in missing)
            return Refusal("wrong_stage", t("plan.calendar_missing", years=years))
        if refusal is not None:
            return refusal
        window = self._state.publicity
        if window is None:
            return Refusal("wrong_stage", t("plan.publicity_not_started"))
        received = cst_date(req.received_at or workflow.now())
        # Confirming the upload sets the window, which opens on E+16, or the
        # day after a later confirmation: a request before its first day is
        # too early, and so is any while the plan waits for that day (one
        # dated later by whoever enters it too). One taken as the day comes
        # may reach the plan just before the timer that opens publicity.
        waiting = self._state.stage is Stage.AWAITING_PUBLICITY
        if received < window.start_day or (waiting and _today() < window.start_day):
            return Refusal(
                "before_publicity",
                t(
                    "plan.correction_before_publicity",
                    opens=window.start_day.isoformat(),
                ),
            )
        if received > window.cutoff_day:
            return Refusal(
                "after_cutoff",
                t(
                    "plan.correction_after_cutoff",
                    cutoff=window.cutoff_day.isoformat(),
                ),
            )
        return None

    @workflow.update
    @_counted
    async def decide_correction(self, req: CorrectionDecision) -> ActionResult:
        if not req.approve or not workflow.patched(CORRECTION_FONT_CHECKED):
            return await self._decide_correction(req)
        # Under the lock: another decision on the same candidate, or an
        # application, could change what the check found before this is
        # recorded.
        async with self._lock:
            problems = await self._attempt(
                IntakeActivities.check_correction_font,
                CorrectionFontCheck(plan=self._state.info, request_id=req.request_id),
            )
            if problems is None:
                return _not_processed("plan.action_failed")
            apply_by: date | None = None
            if not problems and self._patched_case(CORRECTION_APPLY_DEADLINE):
                # Asked before the request is looked at again: a rejection
                # (which takes no lock) may come while the calendar answers.
                days = self._state.policy.correction_apply_working_days
                request = self._working_days(days)
                answer = await self._attempt(
                    CalendarActivities.working_days_after, request
                )
                if answer is None:
                    return _not_processed("plan.action_failed")
                apply_by = self._apply_by(request, answer)
            correction = self._state.corrections[req.request_id]
            if correction.status is not CorrectionStatus.PENDING:
                # Decided by another update while the check ran.
                return ActionResult(
                    accepted=False,
                    message=t(
                        "plan.correction_not_pending",
                        request_id=req.request_id,
                        status=t(f"correction_status.{correction.status.value}"),
                    ),
                )
            if problems:
                return await self._correction_refused(
                    Action.DECIDE_CORRECTION, req.actor, req.request_id, problems
                )
            return await self._decide_correction(req, apply_by)

    def _apply_by(self, request: WorkingDaysRequest, answer: WorkingDaysAnswer) -> date:
        """The last day for the info center to apply a correction approved
        today: the publicity end day, or, where fewer working days are left
        (approved late in publicity, or after it), the ``request``-ed working
        day after today, as the calendar ``answer``-ed it."""
        window = self._state.publicity
        assert window is not None  # requests are taken during publicity only
        return max(window.end_day, self._working_days_on(request, answer))

    async def _correction_refused(
        self, action: Action, actor: Actor, request_id: str, problems: list[Problem]
    ) -> ActionResult:
        """Refuse a decision on, or the application of, a correction for what
        the database found (a name the font cannot print): audited, answered."""
        await self._audit(
            action,
            actor,
            accepted=False,
            ref=request_id,
            request_id=request_id,
            code=problems[0].code,
        )
        return ActionResult(
            accepted=False,
            message=problems[0].message,
            problems=problems,
            problem_count=len(problems),
        )

    async def _decide_correction(
        self, req: CorrectionDecision, apply_by: date | None = None
    ) -> ActionResult:
        """Record the regional manager's decision; an approval opens the info
        center's duty to apply it, due ``apply_by`` (None: no deadline, as
        decisions recorded before CORRECTION_APPLY_DEADLINE)."""
        state = self._state
        now = workflow.now()
        req = req.model_copy(update={"request_id": self._correction_key(req)})
        correction = state.corrections[req.request_id]
        correction.status = (
            CorrectionStatus.APPROVED if req.approve else CorrectionStatus.REJECTED
        )
        correction.decided_by = req.actor.person
        late = state.close_duty(
            f"{Duty.CORRECTION_DECISION.value}:{req.request_id}", now, req.actor
        )
        if req.approve:
            state.open_duty(Duty.CORRECTION_APPLY, now, apply_by, ref=req.request_id)
        self._alarms_changed = True
        # Said as the decision leaves the plan, before anything awaits.
        then = self._nobody_passes_note()
        await self._activity(
            IntakeActivities.record_correction_decision,
            CorrectionDecisionRecord(
                plan_id=state.info.plan_id,
                request_id=req.request_id,
                approved=req.approve,
                reason=req.reason,
                decided_by=req.actor.person,
                at=now,
            ),
        )
        decision = "approved" if req.approve else "rejected"
        await self._audit(
            Action.DECIDE_CORRECTION,
            req.actor,
            late=late,
            outcome=decision,
            note=req.reason,
            ref=req.request_id,
            request_id=req.request_id,
            decision=decision,
        )
        if req.approve:
            due = "" if apply_by is None else format_deadline(apply_by)
            await self._notify(
                "correction_approved",
                [Role.INFO_CENTER],
                request_id=req.request_id,
                due=t("mail.correction_approved.due", deadline=due) if due else "",
            )
        elif self._patched_case(CORRECTION_OUTCOME_MAILED):
            await self._notify_requester("correction_rejected", req.request_id)
        after = "next_after_approval" if req.approve else "next_after_rejection"
        message = t("plan.accepted") + t(f"plan.{after}") + then
        return self._accepted(message, late, None)

    @decide_correction.validator
    def _check_decide_correction(self, req: CorrectionDecision) -> None:
        self._check(Action.DECIDE_CORRECTION, req)
        _refuse_first(self._correction_status_refusal(req, CorrectionStatus.PENDING))
        if not req.approve and not req.reason.strip():
            raise _refuse(Refusal("bad_argument", t("plan.reason_required")))

    @workflow.update
    @_counted
    async def apply_correction(self, req: CorrectionApply) -> ActionResult:
        state = self._state
        now = workflow.now()
        req = req.model_copy(update={"request_id": self._correction_key(req)})
        async with self._lock:
            # A cancellation, or the same request applied by another update,
            # may have held the lock meanwhile.
            refused = self._refused_at_turn(self._apply_refusal(req))
            if refused is not None:
                return refused
            applied = await self._attempt(
                IntakeActivities.apply_correction,
                CorrectionApplication(
                    plan=state.info,
                    request_id=req.request_id,
                    applied_by=req.actor.person,
                    at=now,
                ),
            )
            if applied is None:
                return _not_processed("plan.action_failed")
            refusal = applied.refusal
            if refusal is not None and workflow.patched(CORRECTION_APPLY_REFUSED):
                return await self._correction_refused(
                    Action.APPLY_CORRECTION, req.actor, req.request_id, [refusal]
                )
            state.corrections[req.request_id].status = CorrectionStatus.APPLIED
            summary = state.summary
            if summary is not None and workflow.patched(CORRECTION_RECOUNTS):
                # Every count follows the changed result, not only the passes:
                # failed and absent ones too, so they still add up.
                if applied.stats is not None:
                    state.summary = applied.stats.model_copy(
                        update={"version": summary.version}
                    )
                elif applied.passed is not None:
                    # A result the activity returned before it counted them all.
                    summary.passed = applied.passed
            elif summary is not None and applied.passed is not None:
                summary.passed = applied.passed
            # Decided before anything awaits: the org sign-off may come now.
            self._reckoning = self._difference_case()
            late = state.close_duty(
                f"{Duty.CORRECTION_APPLY.value}:{req.request_id}", now, req.actor
            )
            self._alarms_changed = True
            await self._audit(
                Action.APPLY_CORRECTION,
                req.actor,
                late=late,
                ref=req.request_id,
                request_id=req.request_id,
                changes=applied.changes,
            )
            if self._patched_case(CORRECTION_OUTCOME_MAILED):
                await self._notify_requester("correction_applied", req.request_id)
            # A request asking for the score on record changes nothing: said
            # so, not answered as if the score had been corrected.
            unchanged = not applied.changes
            message = t("plan.correction_unchanged" if unchanged else "plan.accepted")
            if applied.without_score is not None:
                # Nothing to change: no score, not the score on record.
                message = applied.without_score.message
            if self._reckoning:
                message += await self._reckon_difference(req)
            else:
                message += await self._recheck_application(req)
            message += self._nobody_passes_note()
            result = self._accepted(message, late, None)
            result.report = applied.update_file
            return result

    async def _notify_requester(self, template: str, request_id: str) -> None:
        """Tell whoever asked for a correction what became of it (the
        automatic reply promised it: 核实结果另行通知): the site's role, which
        the notification activity addresses to the request's own address
        when it has one (``Notification.to``). The plan names the request
        only; what it asked and why it was refused are read from the
        database as the mail is written."""
        await self._notify(template, [Role.SITE], request_id=request_id)

    async def _recheck_application(self, req: CorrectionApply) -> str:
        """Act on an application a correction just made wrong; return what to add
        to the answer.

        The site's application was checked against the counts of its day; an
        applied correction that moves a candidate between passed, failed and
        absent may leave it no longer adding up (4.2.1, 4.2.3). Before finance
        has confirmed the payment, the application is owed again with its
        original deadline (what rests on it once it is in), and the site and
        finance are told why. Money finance has confirmed is not reopened:
        finance settles the difference with the site, and the tech dept, which
        signs off and gathers the plan for approval, is told too.
        """
        state = self._state
        if not state.is_done(Duty.APPLICATION.value):
            return ""  # none on record, or already owed again: checked at upload
        confirmed = state.is_done(Duty.PAYMENT_CHECK.value)
        advice = (
            "plan.confirmed_payment_after_correction"
            if confirmed
            else "plan.application_after_correction"
        )
        mismatch = payment_mismatch(state, advice)
        if mismatch is None or not workflow.patched(CORRECTION_RECHECKS_APPLICATION):
            return ""
        summary = state.summary
        assert summary is not None  # the mismatch was found against it
        # Confirmed money stays confirmed; an application not yet confirmed is
        # owed again with its deadline, and what rests on it once it is in.
        redo = [] if confirmed else duties_to_redo([Duty.APPLICATION])
        # Not confirmed, the payment has no invoice yet: nothing is voided.
        self._redo(redo, workflow.now(), req.actor, mismatch.message)
        action = "confirmed_payment_differs" if confirmed else "application_reopened"
        # The audit keeps the plan's figures, never a candidate's.
        await self._audit_raw(
            action,
            req.actor,
            note=mismatch.message,
            ref=req.request_id,
            request_id=req.request_id,
            code=mismatch.code,
            head_count=state.payment.head_count,
            passed=summary.passed,
            absent=summary.absent,
            **_returned_to(redo),
        )
        if confirmed:
            # Known limitation: a difference with no price is not mailed to the site.
            await self._notify(
                action,
                [Role.FINANCE, Role.TECH_DEPT],
                request_id=req.request_id,
                mismatch=mismatch.message,
                difference=t("plan.difference_mail_unpriced"),
            )
            return t("plan.confirmed_payment_differs")
        if self._nobody_to_pay_for():
            # Nobody passes now: no application is owed again. The plan's own
            # mail says what becomes of it (see _await_payment_and_signoffs).
            return ""
        window = state.publicity
        assert window is not None  # set before the payment stage
        deadline = state.obligations[Duty.APPLICATION.value].deadline_day
        await self._notify(
            action,
            [Role.SITE, Role.FINANCE],
            request_id=req.request_id,
            mismatch=mismatch.message,
            deadline=format_deadline(deadline or window.payment_deadline_day),
            items=duties_by_party(redo),
        )
        return t("plan.application_reopened")

    def _nobody_to_pay_for(self) -> bool:
        """Whether nobody passes now, so the payment stage owes nothing: it
        waits for the corrections still open, or the plan ends (a case of
        NO_CERTIFICATES in a plan from before it)."""
        state = self._state
        if waits_for_corrections(state):
            return True
        return nothing_to_issue(state) and (
            state.nobody_passed_rule or self._patched_case(NO_CERTIFICATES)
        )

    def _nobody_passes_note(self) -> str:
        """What an answer adds once a correction's decision or application
        leaves nobody passing: the plan ends, or its payment waits."""
        state = self._state
        if nothing_to_issue(state):
            return t("plan.ends_without_certificates")
        if waits_for_corrections(state):
            return t("plan.waits_for_corrections")
        return ""

    def _difference_case(self) -> bool:
        """Whether the correction just applied changes what the payment
        finance confirmed covers: a difference is open, or the counts no
        longer fit the confirmed figures (a case of PAYMENT_DIFFERENCE_HELD).

        Asked where the case arises, before anything awaits, so the patch is
        decided at the same point on replay.
        """
        state = self._state
        confirmed = state.is_done(Duty.APPLICATION.value) and state.is_done(
            Duty.PAYMENT_CHECK.value
        )
        if not confirmed:
            return False
        if state.payment.difference is not None:
            return True  # opened under the patch: this run took it
        if payment_mismatch(state) is None:
            return False
        if difference_of(state, workflow.now(), "") is None:
            return False  # no price to count the money by: told, as before
        return self._patched_case(PAYMENT_DIFFERENCE_HELD)

    async def _reckon_difference(self, req: CorrectionApply) -> str:
        """Record what the payment finance confirmed now owes or is owed;
        return what to add to the answer.

        Confirmed money is not reopened (4.2.3: it is a fact of the bank
        account, and an invoice may rest on it). A difference in money is
        recorded, finance owes its settlement, and the database holds the
        plan out of every approval batch until it is settled, before the
        plan may await approval. A correction that leaves the money as it
        is (a difference undone, or an absentee paid for who now passes)
        makes the confirmed figures follow the counts, nothing to settle.
        """
        state = self._state
        payment = state.payment
        summary = state.summary
        now = workflow.now()
        try:
            found = difference_of(state, now, req.request_id)
            assert found is not None and summary is not None  # _difference_case's
            opened = payment.difference
            # The audit keeps the plan's figures, never a candidate's.
            figures: dict[str, Any] = {
                "ref": req.request_id,
                "request_id": req.request_id,
                "head_count": found.confirmed_heads,
                "passed": summary.passed,
                "absent": summary.absent,
                "expected_heads": found.expected_heads,
                "expected_amount": f"{found.expected_amount:.2f}",
                "confirmed_amount": f"{found.confirmed_amount:.2f}",
                "difference": f"{found.amount:+.2f}",
            }
            cleared = found.amount == 0
            audited_first = False
            if cleared:
                payment.take_figures(found)
                state.close_duty(Duty.PAYMENT_DIFFERENCE.value, now, req.actor)
                # The approval sheet reads the absentees paid for from this
                # line: written before the hold lifts, never after.
                audited_first = self._patched_case(PAYMENT_FACTS_BEFORE_HOLD_LIFTS)
                if audited_first:
                    await self._audit_cleared(req, figures, found.expected_heads)
            else:
                if opened is not None:
                    found.opened_at = opened.opened_at
                payment.difference = found
                state.open_duty(Duty.PAYMENT_DIFFERENCE, now)
            self._alarms_changed = True
            await self._record_payment_hold()
        finally:
            self._reckoning = False
        if cleared:
            if not audited_first:
                await self._audit_cleared(req, figures, found.expected_heads)
            if opened is None:
                return t("plan.difference_figures_follow", heads=found.expected_heads)
            await self._notify(
                "payment_difference_cleared",
                [Role.FINANCE, Role.TECH_DEPT],
                settlement=t(
                    "plan.difference_cleared_by",
                    request_id=req.request_id,
                    difference=difference_text(opened),
                ),
                next=t("plan.difference_nothing_to_do"),
            )
            if self._patched_case(DIFFERENCE_TOLD_TO_SITE):
                await self._notify(
                    "payment_difference_site_cleared",
                    [Role.SITE],
                    request_id=req.request_id,
                    difference=difference_text(opened),
                )
            return t("plan.difference_cleared", heads=found.expected_heads)
        text = difference_text(found)
        await self._audit_raw(
            "confirmed_payment_differs", req.actor, note=text, **figures
        )
        mismatch = payment_mismatch(state, "plan.confirmed_payment_after_correction")
        await self._notify(
            "confirmed_payment_differs",
            [Role.FINANCE, Role.TECH_DEPT],
            request_id=req.request_id,
            mismatch=mismatch.message if mismatch is not None else "",
            difference=t("plan.difference_mail", difference=text),
        )
        if self._patched_case(DIFFERENCE_TOLD_TO_SITE):
            await self._tell_site_difference(found)
        return t("plan.difference_opened", difference=text)

    async def _tell_site_difference(self, difference: PaymentDifference) -> None:
        """Tell the site what a correction made its confirmed payment owe or
        be owed: the figures, what it does (pays the difference, or waits
        for finance's refund), and whom to ask."""
        kind = difference.kind.value
        amount = f"{abs(difference.amount):.2f}"
        await self._notify(
            "payment_difference_site",
            [Role.SITE],
            request_id=difference.request_id,
            owed=t(f"mail.payment_difference_site.owed_{kind}", amount=amount),
            difference=difference_text(difference),
            todo=t(
                f"mail.payment_difference_site.todo_{kind}",
                amount=amount,
                plan_id=self._state.info.plan_id,
            ),
        )

    async def _audit_cleared(
        self, req: CorrectionApply, figures: dict[str, Any], heads: int
    ) -> None:
        """The audit line of a correction that left the confirmed money as
        it is: with the absentees paid for that the figures now read, which
        the approval sheet takes as a settlement's."""
        await self._audit_raw(
            "payment_difference_cleared",
            req.actor,
            note=t("plan.difference_cleared", heads=heads),
            absentees_paid=self._state.payment.absentees_paid,
            **figures,
        )

    async def _record_payment_hold(self) -> None:
        """Tell the database what holds the plan out of approval by its
        payment (``payment_holds``): a difference not settled, an invoice not
        corrected to the settled total, or nothing."""
        state = self._state
        reason, details = state.payment_hold()
        await self._activity(
            PlanStore.record_payment_hold,
            PaymentHold(
                plan_id=state.info.plan_id,
                reason=reason,
                details=details,
                at=workflow.now(),
            ),
        )
        joint = await self._joint_holds() if reason is None else None
        if joint is not None:
            self._note_partner_hold(_partner_hold(joint))
            await self._tell_freed(joint.free)
        if (
            reason is None
            and (joint is None or joint.held is None)
            and state.ready_mail_withheld
            and state.stage is Stage.AWAITING_APPROVAL
        ):
            state.ready_mail_withheld = False
            await self._notify("ready_for_approval", [Role.TECH_DEPT])

    def _note_partner_hold(self, hold: dict[str, str] | None) -> None:
        """Keep what another plan of the joint payment holds the plan by
        (``PlanState.partner_hold``); where ``OwedBy`` counts it
        (GATHERING_OWED_ONCE_PAYMENT_FREES), it follows at once."""
        state = self._state
        if hold == state.partner_hold:
            return
        state.partner_hold = hold
        if state.stage is Stage.AWAITING_APPROVAL and workflow.patched(
            GATHERING_OWED_ONCE_PAYMENT_FREES
        ):
            self._publish()

    async def _joint_holds(self) -> JointHolds | None:
        """For a plan of a joint payment (a case of READY_TOLD_WHEN_PAYMENT_FREE):
        whether another plan of the payment holds it, and which of them
        nothing holds now, as the database reads them. None for a plan
        paid alone, and in a run from before the rule."""
        state = self._state
        if not is_joint(state.payment) or not self._patched_case(
            READY_TOLD_WHEN_PAYMENT_FREE
        ):
            return None
        holds: JointHolds = await self._activity(
            PlanStore.joint_holds,
            JointPaymentCheck(
                plan_id=state.info.plan_id,
                paid_plan_ids=state.payment.paid_plan_ids,
            ),
        )
        return holds

    async def _tell_freed(self, plans: list[str]) -> None:
        """Tell the plans of the payment nothing holds now that this plan's
        hold is lifted (``payment_freed``); a plan whose workflow ended has
        nobody to tell."""
        freed = PaymentFreed(by_plan=self._state.info.plan_id)
        for plan_id in plans:
            handle = workflow.get_external_workflow_handle(plan_workflow_id(plan_id))
            try:
                await handle.signal("payment_freed", freed)
            except FailureError:
                pass

    @workflow.signal
    async def payment_freed(self, freed: PaymentFreed) -> None:
        """Another plan of the joint payment lifted its hold, and the database
        found nothing holding this plan by its payment: a joint hold the last
        gathering named is gone from its status, and the ready mail withheld
        for it is sent. Sent again, it finds nothing left to do."""
        state = self._state
        hold = state.batch_hold
        if hold is not None and hold.payment_reason == HOLD_JOINT:
            state.batch_hold = None
            self._publish()
        self._note_partner_hold(None)
        if (
            state.ready_mail_withheld
            and state.stage is Stage.AWAITING_APPROVAL
            and state.payment_hold()[0] is None
        ):
            state.ready_mail_withheld = False
            await self._notify("ready_for_approval", [Role.TECH_DEPT])

    @apply_correction.validator
    def _check_apply_correction(self, req: CorrectionApply) -> None:
        self._check_request(req)
        _refuse_first(self._apply_refusal(req))

    def _apply_refusal(self, req: CorrectionApply) -> Refusal | None:
        """Why applying a correction is refused now; None to apply it."""
        return _first(
            self._action_refusal(Action.APPLY_CORRECTION, req.actor),
            self._correction_status_refusal(req, CorrectionStatus.APPROVED),
        )

    def _correction_key(self, req: CorrectionDecision | CorrectionApply) -> str:
        """The id a request is kept under, for the id a request names.

        Request ids are matched as plan ids are, as issued: the staff tool
        sends ``p2026-1104-0412-c001`` as typed by older versions and other
        clients may still. An id that names no request is returned as it is.
        """
        if req.request_id in self._state.corrections:
            return req.request_id
        wanted = canonical_code(req.request_id)
        return next(
            (key for key in self._state.corrections if canonical_code(key) == wanted),
            req.request_id,
        )

    def _correction_status_refusal(
        self, req: CorrectionDecision | CorrectionApply, expected: CorrectionStatus
    ) -> Refusal | None:
        request_id = self._correction_key(req)
        correction = self._state.corrections.get(request_id)
        if correction is None:
            # Never repeated whole if it could be an ID number typed by mistake.
            shown = mask_id_numbers_in(request_id)
            return Refusal(
                "bad_argument", t("plan.unknown_correction", request_id=shown)
            )
        if correction.status is not expected:
            return Refusal(
                "wrong_stage",
                t(
                    "plan.correction_not_pending",
                    request_id=request_id,
                    status=t(f"correction_status.{correction.status.value}"),
                ),
            )
        return None

    # -- stages 5-8: payment, sign-offs, finance (4.2.1-4.2.5) -----------------

    @workflow.update
    @_counted
    async def upload_application(self, req: ApplicationUpload) -> ActionResult:
        state = self._state
        accepted_form = state.documents.get(DocumentKind.INVOICE_DETAILS)
        form_sent_again = False
        if (
            req.invoice_details is not None
            and accepted_form is not None
            and req.invoice_details.sha256 == accepted_form.sha256
            and workflow.patched(SAME_FORM_KEPT)
        ):
            # The form accepted before, sent again with a corrected application:
            # kept as it is, not read again as a new version.
            req = req.model_copy(update={"invoice_details": None})
            form_sent_again = True
        # Each application's scan gets a row of its own, accepted with a
        # version or refused: the scans a later application replaces stay
        # listed and fetchable, and none lies unnamed in the store.
        recorded = self._patched_case(APPLICATION_SCANS_RECORDED)
        # When intake read the form this application brought, if it did.
        form_read_at: datetime | None = None
        if req.invoice_details is not None:
            # The invoice details form is read and checked like any upload; a
            # refused form refuses the application, which stays owed.
            async with self._lock:
                form_read_at = workflow.now()
                outcome = await self._attempt(
                    IntakeActivities.process_upload,
                    ProcessUpload(
                        plan=state.info,
                        kind=DocumentKind.INVOICE_DETAILS,
                        document=req.invoice_details,
                        uploaded_by=req.actor.person,
                        at=form_read_at,
                    ),
                )
            if outcome is None:
                return _not_processed("plan.upload_failed")
            if not outcome.accepted:
                if recorded:
                    scan = self._upload_record(
                        DocumentKind.CERTIFICATE_APPLICATION,
                        req.application_scan,
                        req.actor,
                        refused=True,
                        problems=outcome.problem_count,
                    )
                    # Why, for document list: the form's row has its problems.
                    scan.refusal = t(
                        "plan.application_refused_for_form",
                        count=outcome.problem_count,
                    )
                    await self._attempt(IntakeActivities.record_upload, scan)
                await self._audit(
                    Action.UPLOAD_APPLICATION,
                    req.actor,
                    accepted=False,
                    problems=str(outcome.problem_count),
                )
                return ActionResult(
                    accepted=False,
                    message=t("plan.upload_refused", count=outcome.problem_count),
                    problems=outcome.problems,
                    problem_count=outcome.problem_count,
                    report=outcome.report,
                )
            if not recorded:
                # A correction applied while the form was read may have changed
                # the counts the validator checked the figures against.
                changed = self._application_mismatch(req)
                if changed is not None and workflow.patched(APPLICATION_RECHECKED):
                    return ActionResult(accepted=False, message=changed.message)
                state.documents[DocumentKind.INVOICE_DETAILS] = req.invoice_details
        if recorded:
            refused = await self._record_application(req, form_read_at)
            if refused is not None:
                return refused
        now = workflow.now()
        state.documents[DocumentKind.CERTIFICATE_APPLICATION] = req.application_scan
        state.payment.declared_amount = float(req.amount)
        state.payment.site_declared_amount = None  # the site's own again
        state.payment.site_head_count = None
        state.payment.head_count = req.head_count
        state.payment.absentees_paid = req.absentees_paid
        state.payment.paid_plan_ids = list(req.paid_plan_ids)
        state.payment.paid_on = req.paid_on
        state.payment.method = req.method.strip()
        form = state.documents.get(DocumentKind.INVOICE_DETAILS)
        state.application_sent = req.sent_as(form.sha256 if form else None)
        late = state.close_duty(Duty.APPLICATION.value, now, req.actor)
        state.open_duty(Duty.PAYMENT_CHECK, now)
        state.open_duty(Duty.SITE_SIGNOFF, now)
        self._alarms_changed = True
        await self._audit(
            Action.UPLOAD_APPLICATION,
            req.actor,
            late=late,
            amount=f"{req.amount:.2f}",
            head_count=req.head_count,
            absentees_paid=req.absentees_paid,
            paid_plans=",".join(req.paid_plan_ids),
            method=req.method.strip(),
            reference=req.reference,
        )
        await self._notify_application(req, form_sent_again)
        return self._accepted(t("plan.accepted"), late, Duty.APPLICATION)

    async def _record_application(
        self, req: ApplicationUpload, form_read_at: datetime | None
    ) -> ActionResult | None:
        """Record the application's scan as its next version and take its form;
        None once done. Or refuse an application the plan can no longer take,
        its scan recorded as refused, and its form too where intake read and
        accepted it (at ``form_read_at``).

        Checked again under the lock, as the validator checked it: a correction
        applied while the form was read, or while this waited, may have changed
        the counts the figures were checked against; a cancellation may have
        held the lock. None of it can change between this check and the
        record, and finance's confirmation waits for the lock too (see
        ``confirm_payment``): no payment is confirmed meanwhile on the figures
        this application replaces.
        """
        state = self._state
        async with self._lock:
            changed = self._application_mismatch(req)
            refused = (
                ActionResult(accepted=False, message=changed.message)
                if changed is not None
                else self._refused_at_turn(self._application_refusal(req))
            )
            if refused is None and self._patched_case(PAYMENT_AGREES_ACROSS_PLANS):
                refused = await self._payment_disagrees(req.paid_plan_ids)
            record = self._upload_record(
                DocumentKind.CERTIFICATE_APPLICATION,
                req.application_scan,
                req.actor,
                refused=refused is not None,
            )
            if refused is not None:
                # Why, kept with the row and in the audit trail, as the
                # staff tool records an application its validator refused.
                record.refusal = refused.message
                record.action = Action.UPLOAD_APPLICATION.value
                record.role = req.actor.role
            if refused is not None and form_read_at is not None:
                assert req.invoice_details is not None  # read with the application
                record.refused_with = self._upload_record(
                    DocumentKind.INVOICE_DETAILS,
                    req.invoice_details,
                    req.actor,
                    refused=True,
                    at=form_read_at,
                )
                # The form had nothing wrong: its row says whose reason it is.
                record.refused_with.refusal = t(
                    "plan.form_refused_with_application", reason=refused.message
                )
            version = await self._attempt(IntakeActivities.record_upload, record)
            if refused is not None:
                return refused
            if version is None:
                return _not_processed("plan.upload_failed")
            if req.invoice_details is not None:
                state.documents[DocumentKind.INVOICE_DETAILS] = req.invoice_details
            state.document_versions[DocumentKind.CERTIFICATE_APPLICATION] = version
        return None

    def _upload_record(
        self,
        kind: DocumentKind,
        document: DocumentRef,
        actor: Actor,
        *,
        refused: bool,
        problems: int = 1,
        at: datetime | None = None,
    ) -> UploadRecord:
        """The record of an upload nobody reads (or read before, at ``at``):
        accepted, or refused for ``problems`` reasons."""
        return UploadRecord(
            plan_id=self._state.info.plan_id,
            kind=kind,
            document=document,
            uploaded_by=actor.person,
            at=at or workflow.now(),
            accepted=not refused,
            problems=problems if refused else 0,
        )

    async def _notify_application(
        self, req: ApplicationUpload, form_sent_again: bool = False
    ) -> None:
        """Tell finance what the site declared, with what it invoices from (4.2.3).

        The figures are in the body; the sealed application and the invoice
        details form (the school's tax and bank details, nobody's personal
        data) are attached: the form sent now, or the one accepted before
        (``form_sent_again``: the very file sent with this application). A
        scan too large for most mail servers stays out, said in the body with
        the command finance fetches it with: a mail refused for its size would
        leave finance with no word at all.
        """
        scan = req.application_scan
        form = self._state.documents.get(DocumentKind.INVOICE_DETAILS)
        form_size = form.size if form is not None else 0
        attach_scan = scan.size + form_size <= MAIL_ATTACHMENTS_MIB * 1024 * 1024
        attachments = [scan] if attach_scan else []
        if form is not None:
            attachments.append(form)
        figures = t(
            "mail.application_uploaded.figures",
            paid_plans="、".join(req.paid_plan_ids),
            head_count=str(req.head_count),
            absentees_paid=str(req.absentees_paid),
            amount=f"{req.amount:.2f}",
            paid_on=req.paid_on.isoformat(),
            method=req.method.strip() or t("mail.application_uploaded.not_given"),
            reference=req.reference.strip() or t("mail.application_uploaded.not_given"),
        )
        scan_note = t(
            "mail.application_uploaded.scan_attached"
            if attach_scan
            else "mail.application_uploaded.scan_too_large",
            limit=MAIL_ATTACHMENTS_MIB,
            plan_id=self._state.info.plan_id,
        )
        form_note = t(
            "mail.application_uploaded.form_attached"
            if req.invoice_details is not None
            else "mail.application_uploaded.form_sent_again"
            if form is not None and form_sent_again
            else "mail.application_uploaded.form_kept"
            if form is not None
            else "mail.application_uploaded.form_missing",
            plan_id=self._state.info.plan_id,
        )
        await self._notify(
            "application_uploaded",
            [Role.FINANCE],
            attachments=attachments,
            figures=f"{figures}\n{scan_note}{form_note}",
        )

    @upload_application.validator
    def _check_application(self, req: ApplicationUpload) -> None:
        self._check_request(req)
        _refuse_first(self._application_refusal(req))

    def _application_refusal(self, req: ApplicationUpload) -> Refusal | None:
        """Why the site's application is refused now; None to take it."""
        refusal = self._action_refusal(Action.UPLOAD_APPLICATION, req.actor)
        if refusal is not None:
            return refusal
        state = self._state
        # The site may correct its application until finance has confirmed it.
        if state.is_done(Duty.PAYMENT_CHECK.value):
            # Said as it is (trial: only 此事项已办理 was said).
            return Refusal("already_done", t("plan.application_confirmed"))
        if self._same_application(req):
            # Trial: sent three times, it was three versions and three mails.
            version = state.document_versions.get(DocumentKind.CERTIFICATE_APPLICATION)
            return Refusal(
                SAME_APPLICATION, t("plan.application_same", version=version or 1)
            )
        return _first(
            # Before the figures: 0 人 × 300.00 元 said nothing of why.
            nothing_to_pay_refusal(state, req.amount),
            application_scan_refusal(req.application_scan),
            # 4.2.1: the form comes with the application. A new application
            # after a send-back may leave out the form already accepted: the
            # school's invoice details have not changed with its figures.
            None
            if req.invoice_details is not None
            or DocumentKind.INVOICE_DETAILS in state.documents
            else Refusal("bad_argument", t("plan.invoice_form_required")),
            paid_plans_refusal(req.paid_plan_ids, state.info.plan_id),
            # Refused here, to the site, with the figures it should have given:
            # not later to finance, who cannot correct the site's application.
            self._application_mismatch(req),
            zero_amount_refusal(state, req.amount),
            date_after_today("plan.paid_on_in_future", req.paid_on, _today()),
            # The certificate fee is paid for an exam that has taken place.
            date_before("plan.paid_before_exam", req.paid_on, state.info.exam_end_date),
        )

    def _same_application(self, req: ApplicationUpload) -> bool:
        """Whether ``req`` is the application in force sent again: the same
        scan, the same invoice details form (or none, keeping it) and the
        same figures. Taken again, it would be a new version, and finance
        asked again to check what it has before it."""
        state = self._state
        if not state.is_done(Duty.APPLICATION.value) or state.application_sent is None:
            return False
        kept = state.documents.get(DocumentKind.INVOICE_DETAILS)
        form = req.invoice_details or kept
        return req.sent_as(form.sha256 if form else None) == state.application_sent

    def _application_mismatch(self, req: ApplicationUpload) -> Refusal | None:
        """The site's figures against the plan's counts, said to the site."""
        return application_mismatch(
            self._state,
            req.head_count,
            req.absentees_paid,
            req.amount,
            "plan.application_mismatch_to_site",
        )

    @workflow.update
    @_counted
    async def confirm_payment(self, req: PaymentConfirmation) -> ActionResult:
        if req.correct:
            return await self._correct_payment(req)
        # An application being recorded now would reopen the payment check
        # this closes, and leave the invoice owed on the figures it replaces;
        # a correction may send the application back, a cancellation withdraw
        # the plan.
        if self._patched_case(PAYMENT_AGREES_ACROSS_PLANS):
            return await self._confirm_agreed_payment(req)
        return await self._confirmed_in_turn(
            DocumentKind.CERTIFICATE_APPLICATION,
            "plan.application_replaced",
            lambda: self._payment_refusal(req),
            lambda: self._confirm_payment(req),
        )

    async def _confirm_agreed_payment(self, req: PaymentConfirmation) -> ActionResult:
        """Confirm the payment once the database says the other plans of it
        agree: they list the same plans, and those confirmed give the same
        received day and reference (``certflow.joint_payment``).

        Under the lock, as an application is recorded: none is taken while
        the other plans are read, and what the validator checked is checked
        again at the end, the plan maybe changed while they were.
        """
        seen = self._state.document_versions.get(DocumentKind.CERTIFICATE_APPLICATION)
        async with self._lock:
            in_store = self._patched_case(PAYMENT_CONFIRMED_IN_STORE)
            facts = (
                None
                if in_store
                else await self._joint_facts(self._state.payment.paid_plan_ids)
            )
            latest = self._state.document_versions.get(
                DocumentKind.CERTIFICATE_APPLICATION
            )
            refused = _first(
                None
                if latest == seen
                else Refusal(
                    "replaced", t("plan.application_replaced", version=latest)
                ),
                self._payment_refusal(req),
            )
            if refused is not None:
                return ActionResult(accepted=False, message=refused.message)
            if in_store:
                return await self._confirm_payment_in_store(req)
            if facts is None:
                return _not_processed("plan.action_failed")
            plan_id = self._state.info.plan_id
            paid = self._state.payment.paid_plan_ids
            message = lists_refusal(
                plan_id, paid, facts, "plan.paid_plans_to_confirm"
            ) or received_refusal(
                req.received_on, req.reference, facts, sorted({plan_id, *paid})
            )
            if message is not None:
                return ActionResult(accepted=False, message=message)
            return await self._confirm_payment(req)

    async def _joint_facts(self, paid_plan_ids: list[str]) -> JointPaymentFacts | None:
        """What the other plans of the payment list and confirmed; None when
        the database could not be reached."""
        facts: JointPaymentFacts | None = await self._attempt(
            PlanStore.check_joint_payment,
            JointPaymentCheck(
                plan_id=self._state.info.plan_id, paid_plan_ids=paid_plan_ids
            ),
        )
        return facts

    async def _payment_disagrees(self, paid_plan_ids: list[str]) -> ActionResult | None:
        """The answer to an application whose list of plans does not fit the
        other plans of its payment; None to take it."""
        facts = await self._joint_facts(paid_plan_ids)
        if facts is None:
            return _not_processed("plan.upload_failed")
        message = application_refusal(self._state.info.plan_id, paid_plan_ids, facts)
        return (
            None if message is None else ActionResult(accepted=False, message=message)
        )

    async def _confirm_payment(self, req: PaymentConfirmation) -> ActionResult:
        late = self._take_confirmation(req, workflow.now())
        await self._audit(
            Action.CONFIRM_PAYMENT, req.actor, late=late, **_confirmed_details(req)
        )
        return self._accepted(t("plan.accepted"), late, Duty.PAYMENT_CHECK)

    async def _confirm_payment_in_store(self, req: PaymentConfirmation) -> ActionResult:
        """Confirm the payment once the database has checked it against the
        other plans of its payment and written it, in one transaction (a case
        of PAYMENT_CONFIRMED_IN_STORE); or say why it refused.

        The plan takes the confirmation only once it is written: refused, the
        plan is as it was, and its payment check still owed.
        """
        state = self._state
        now = workflow.now()
        late = state.is_late(Duty.PAYMENT_CHECK.value, now)
        outcome = await self._finance_record(
            Action.CONFIRM_PAYMENT,
            req.actor,
            late=late,
            received_once=True,
            **_confirmed_details(req),
        )
        if outcome is None:
            return _not_processed("plan.action_failed")
        if not outcome.recorded:
            plan_id = state.info.plan_id
            paid = state.payment.paid_plan_ids
            facts = outcome.paid_plans or JointPaymentFacts()
            message = lists_refusal(
                plan_id, paid, facts, "plan.paid_plans_to_confirm"
            ) or received_refusal(
                req.received_on, req.reference, facts, sorted({plan_id, *paid})
            )
            return ActionResult(
                accepted=False, message=message or t("plan.action_failed")
            )
        self._take_confirmation(req, now)
        self._publish()
        return self._accepted(t("plan.accepted"), late, Duty.PAYMENT_CHECK)

    def _take_confirmation(self, req: PaymentConfirmation, now: datetime) -> bool:
        """Keep finance's confirmation in the plan: the payment check done,
        the invoice owed. Returns whether the check was done late."""
        state = self._state
        state.payment.confirmed_amount = float(req.received_amount)
        # Differences are priced from this confirmation on (see difference_of).
        state.payment.priced_from = len(state.payment.settlements)
        state.payment.received_on = req.received_on
        state.payment.received_reference = req.reference.strip()
        late = state.close_duty(Duty.PAYMENT_CHECK.value, now, req.actor)
        days = state.policy.invoice_days
        invoice_due = cst_date(now) + timedelta(days=days) if days is not None else None
        state.open_duty(Duty.INVOICE, now, invoice_due)
        self._alarms_changed = True
        return late

    @confirm_payment.validator
    def _check_payment(self, req: PaymentConfirmation) -> None:
        self._check_request(req)
        _refuse_first(self._payment_refusal(req))

    def _payment_refusal(self, req: PaymentConfirmation) -> Refusal | None:
        """Why finance's confirmation (or its correction) is refused now; None
        to take it."""
        state = self._state
        if req.correct:
            refusal = self._finance_correction_refusal(
                Action.CORRECT_PAYMENT, req, Duty.PAYMENT_CHECK, Action.CONFIRM_PAYMENT
            )
        elif state.is_done(Duty.PAYMENT_CHECK.value):
            # Confirmed before, whatever the stage now: say how to correct it.
            refusal = self._action_refusal(
                Action.CORRECT_PAYMENT, req.actor
            ) or Refusal("already_done", t("plan.already_recorded"))
        else:
            refusal = self._action_refusal(Action.CONFIRM_PAYMENT, req.actor)
            if refusal is None and not state.is_done(Duty.APPLICATION.value):
                refusal = Refusal("wrong_stage", t("plan.application_required"))
        if refusal is not None:
            return refusal
        difference = state.payment.difference
        if difference is not None:
            # The counts changed after finance confirmed: the application
            # does not add up, but the site has nothing to send again.
            return Refusal(
                "difference_open",
                t(
                    "plan.correct_difference_open",
                    difference=difference_text(difference),
                ),
            )
        mismatch = payment_mismatch(state)
        if mismatch is not None:
            return mismatch
        declared = state.payment.declared_amount
        if declared is not None and abs(float(req.received_amount) - declared) > 0.005:
            site = state.payment.site_declared_amount
            return Refusal(
                "amount_mismatch",
                t(
                    # The site declared less (or more) than the settled total.
                    "plan.amount_mismatch"
                    if site is None
                    else "plan.amount_mismatch_settled",
                    received=f"{req.received_amount:.2f}",
                    declared=f"{declared:.2f}",
                    difference=f"{float(req.received_amount) - declared:+.2f}",
                    site=f"{site or 0:.2f}",
                ),
            )
        refusal = _first(
            date_after_today("plan.received_on_in_future", req.received_on, _today()),
            date_before(
                "plan.received_before_paid", req.received_on, state.payment.paid_on
            ),
            date_before(
                "plan.received_before_exam", req.received_on, state.info.exam_end_date
            ),
        )
        if refusal is not None or not req.correct:
            return refusal
        refusal = self._received_after_invoice(req.received_on)
        if refusal is None and not self._payment_changes(req):
            refusal = Refusal("unchanged", t("plan.correct_unchanged"))
        return refusal

    def _finance_correction_refusal(
        self,
        action: Action,
        req: PaymentConfirmation | InvoiceRecord,
        duty: Duty,
        first: Action,
        *,
        after_approval: bool = False,
    ) -> Refusal | None:
        """Refuse a correction of a record not made (``first`` is how it is
        made), or one the plan can no longer take (see ``correction_refusal``)."""
        refusal = self._action_refusal(action, req.actor)
        if refusal is None and not self._state.is_done(duty.value):
            name = t(f"actions.{first.value}")
            refusal = Refusal(
                "wrong_stage", t("plan.correct_nothing_recorded", action=name)
            )
        return refusal or correction_refusal(
            self._state, req.reason, after_approval=after_approval
        )

    def _received_after_invoice(self, received_on: date) -> Refusal | None:
        """A corrected received date must not come after the invoice's date."""
        issued = self._state.payment.invoice_issued_on
        if issued is None or received_on <= issued:
            return None
        return Refusal(
            "date_order",
            t(
                "plan.received_after_invoice",
                day=received_on.isoformat(),
                invoice=issued.isoformat(),
            ),
        )

    def _payment_changes(self, req: PaymentConfirmation) -> list[str]:
        """What a payment correction changes, said for staff.

        The amount cannot change (it is the declared one): the day and the
        reference can. Regression (trial): a reference alone was refused as
        no change at all.
        """
        payment = self._state.payment
        changes = []
        if req.received_on != payment.received_on:
            old = payment.received_on.isoformat() if payment.received_on else "—"
            changes.append(_change("received_on", old, req.received_on.isoformat()))
        given = req.reference.strip()
        if given and given != payment.received_reference:
            old = payment.received_reference or "—"
            changes.append(_change("reference", old, given))
        return changes

    async def _correct_payment(self, req: PaymentConfirmation) -> ActionResult:
        """Finance corrects its confirmation: the received date or its note.

        The amount is the declared one either way (the validator's rule). The
        database refuses the correction once a batch has gathered the plan;
        the audit line keeps the old and new values and the reason.
        """
        state = self._state
        async with self._lock:
            # No patch: corrections are new in this release, so no running
            # plan has recorded one under the rule of the day alone.
            changes = self._payment_changes(req)
            refused = self._not_correctable(
                req.reason, changes
            ) or self._refused_at_turn(self._payment_refusal(req))
            if refused is not None:
                return refused
            payment = state.payment
            outcome = await self._finance_record(
                Action.CORRECT_PAYMENT,
                req.actor,
                note=req.reason.strip(),
                amount=f"{req.received_amount:.2f}",
                received_on=req.received_on.isoformat(),
                old_received_on=(
                    payment.received_on.isoformat() if payment.received_on else ""
                ),
                reference=req.reference,
                old_reference=payment.received_reference,
                reason=req.reason.strip(),
            )
            answer = self._correction_answer(outcome, "", changes)
            if answer.accepted:
                payment.received_on = req.received_on
                payment.received_reference = (
                    req.reference.strip() or payment.received_reference
                )
            return answer

    @workflow.update
    @_counted
    async def settle_payment_difference(
        self, req: DifferenceSettlement
    ) -> ActionResult:
        """Finance settles the difference a correction made: the confirmed
        payment then reads the new total, and an invoice recorded for the old
        one is owed corrected (the plan still held out of approval until it
        is)."""
        state = self._state
        async with self._lock:
            refusal = self._settlement_refusal(req)
            if refusal is not None:  # changed while it waited its turn
                return ActionResult(accepted=False, message=refusal.message)
            payment = state.payment
            difference = payment.difference
            day = req.received_on or req.refunded_on
            assert difference is not None and day is not None  # the refusal's
            now = workflow.now()
            # The difference's own fields, not those computed from them.
            computed = set(type(difference).model_computed_fields)
            settled = SettledDifference(
                **difference.model_dump(exclude=computed),
                settled_at=now,
                settled_on=day,
                reference=req.reference.strip(),
                role=req.actor.role,
                person=req.actor.person,
            )
            old_heads, old_amount = payment.head_count, payment.confirmed_amount_text
            if (
                payment.invoice_number is not None
                and payment.invoiced_share is None
                and not state.is_open(Duty.INVOICE_CORRECTION.value)
            ):
                # An invoice taken before its share was kept: it matched then.
                payment.invoiced_share = payment.confirmed_amount
            payment.settlements.append(settled)
            payment.take_figures(difference)
            state.close_duty(Duty.PAYMENT_DIFFERENCE.value, now, req.actor)
            # Owed while the invoice is for another total than the settled
            # one; one settlement undoing another brings them back together.
            if invoice_outdated(payment):
                state.open_duty(Duty.INVOICE_CORRECTION, now)
            else:
                state.close_duty(Duty.INVOICE_CORRECTION.value, now, req.actor)
            invoice = self._invoice_after_settlement()
            self._alarms_changed = True
            text = settlement_text(settled)
            # The sheet a gathering draws reads the payment from this line: it
            # is written before the hold lifts, never after (as invoices are).
            audited_first = self._patched_case(PAYMENT_FACTS_BEFORE_HOLD_LIFTS)
            if not audited_first:
                await self._record_payment_hold()
            # ``amount``, ``received_on`` and ``reference`` are the confirmed
            # payment's as it now reads, as a confirmation's line gives them:
            # the batch's sheet and the joint payment's checks read them.
            await self._audit(
                Action.SETTLE_PAYMENT_DIFFERENCE,
                req.actor,
                note=text,
                ref=difference.request_id,
                amount=payment.confirmed_amount_text,
                received_on=(
                    payment.received_on.isoformat() if payment.received_on else ""
                ),
                reference=payment.received_reference,
                head_count=payment.head_count,
                absentees_paid=payment.absentees_paid,
                old_amount=old_amount,
                old_head_count=old_heads,
                difference=f"{difference.amount:+.2f}",
                kind=difference.kind.value,
                settled_on=day.isoformat(),
                settlement_reference=req.reference.strip(),
                request_id=difference.request_id,
            )
            if audited_first:
                await self._record_payment_hold()
            await self._notify(
                "payment_difference_settled",
                [Role.FINANCE, Role.TECH_DEPT],
                settlement=text,
                next=invoice,
            )
            if self._patched_case(DIFFERENCE_TOLD_TO_SITE):
                await self._notify(
                    "payment_difference_site_settled",
                    [Role.SITE],
                    settlement=text,
                    invoice=self._site_invoice_after_settlement(),
                )
            return ActionResult(
                accepted=True, message=t("plan.difference_settled") + invoice
            )

    def _site_invoice_after_settlement(self) -> str:
        """What the site is told of its invoice once a difference is settled:
        the one issued for the old total is reversed and issued anew; nothing
        where none is issued, or it matches the settled total."""
        payment = self._state.payment
        if payment.invoice_number is None or not invoice_outdated(payment):
            return ""
        return t(
            "mail.payment_difference_site_settled.invoice_reissued",
            number=payment.invoice_number,
            amount=payment.invoice_amount_text or "",
        )

    def _invoice_after_settlement(self) -> str:
        """What finance does with the invoice once a difference is settled
        (the figures already the new ones): record none yet for the new
        total; none where the invoice matches it again; correct the plan's
        own invoice to it; a joint payment's whole invoice, on every plan of
        the payment, to the total moved by as much as the plan's share."""
        payment = self._state.payment
        new_total = Decimal(str(payment.confirmed_amount)).quantize(Decimal("0.01"))
        number = payment.invoice_number
        if number is None:
            return t("plan.difference_invoice_none", amount=f"{new_total:.2f}")
        if not invoice_outdated(payment):
            return t(
                "plan.difference_invoice_matches",
                number=number,
                amount=payment.invoice_amount_text or "",
            )
        invoiced = payment.invoice_amount
        share = payment.invoiced_share
        # The approved plans carrying a whole-payment invoice are corrected
        # with the first plan of the payment corrected.
        if invoiced is not None and share is not None and invoiced_whole(payment):
            whole = Decimal(str(invoiced)) + new_total - Decimal(str(share))
            return t(
                "plan.difference_invoice_whole",
                number=number,
                plans="、".join(sorted(set(payment.paid_plan_ids))),
                total=f"{whole.quantize(Decimal('0.01')):.2f}",
                share=f"{new_total:.2f}",
            )
        joint = t("plan.difference_invoice_own_joint") if is_joint(payment) else ""
        return t(
            "plan.difference_invoice_own",
            number=number,
            amount=f"{new_total:.2f}",
            joint=joint,
        )

    @settle_payment_difference.validator
    def _check_settlement(self, req: DifferenceSettlement) -> None:
        self._check_request(req)
        _refuse_first(self._settlement_refusal(req))

    def _settlement_refusal(self, req: DifferenceSettlement) -> Refusal | None:
        """Why finance's settlement is refused now; None to take it."""
        state = self._state
        refusal = self._action_refusal(Action.SETTLE_PAYMENT_DIFFERENCE, req.actor)
        if refusal is not None:
            return refusal
        if state.batch is not None:
            return Refusal(
                "in_batch", t("plan.correct_in_batch", batch_id=state.batch.batch_id)
            )
        found = settlement_refusal(
            state.payment.difference, req.amount, req.received_on, req.refunded_on
        )
        if found is not None:
            code, message = found
            waiting = sorted(
                key
                for key, c in state.corrections.items()
                if c.status is CorrectionStatus.APPROVED
            )
            if code == "nothing_to_settle" and waiting:
                # A difference may come once the info center applies them.
                message += t(
                    "plan.difference_awaits_apply", requests="、".join(waiting)
                )
            return Refusal(code, message)
        day = req.received_on or req.refunded_on
        assert day is not None  # one of them, or refused above
        return _first(
            date_after_today("plan.settled_on_in_future", day, _today()),
            date_before("plan.settled_before_received", day, state.payment.received_on),
        )

    @workflow.update
    @_counted
    async def record_invoice(self, req: InvoiceRecord) -> ActionResult:
        if req.correct:
            return await self._correct_invoice(req)
        state = self._state
        if not workflow.patched(INVOICE_NUMBER_CLAIMED):
            # An invoice accepted before numbers were checked: kept as typed.
            number = req.number
            self._take_invoice(req, number)
            late = state.close_duty(Duty.INVOICE.value, workflow.now(), req.actor)
            self._alarms_changed = True
            await self._audit(
                Action.RECORD_INVOICE,
                req.actor,
                late=late,
                invoice=number,
                issued_on=req.issued_on.isoformat(),
                amount=f"{req.amount:.2f}",
            )
            return self._accepted(t("plan.accepted"), late, Duty.INVOICE)
        number = invoice_number(req.number) or req.number  # stored as digits
        async with self._lock:
            if state.is_done(Duty.INVOICE.value):
                # Another invoice was recorded while this one waited its turn.
                return ActionResult(accepted=False, message=t("plan.already_recorded"))
            # A batch's verdict may have sent the payment back meanwhile.
            refused = self._refused_at_turn(self._invoice_refusal(req))
            if refused is not None:
                return refused
            ob = state.obligations.get(Duty.INVOICE.value)
            deadline = ob.deadline if ob is not None else None
            late = deadline is not None and workflow.now() >= deadline
            outcome = await self._finance_record(
                Action.RECORD_INVOICE,
                req.actor,
                late=late,
                number=number,
                invoiced=req,
                invoice=number,
                issued_on=req.issued_on.isoformat(),
                amount=f"{req.amount:.2f}",
            )
            if outcome is None:
                return _not_processed("plan.action_failed")
            if not outcome.recorded:
                return self._finance_refused(outcome, number, req)
            if not state.is_open(Duty.INVOICE.value):
                # The general manager sent the payment back to be checked
                # again while the record was written (a verdict does not wait
                # for this lock): the invoice is for the next confirmation.
                return ActionResult(
                    accepted=False, message=t("plan.invoice_payment_reopened")
                )
            self._take_invoice(req, number)
            state.close_duty(Duty.INVOICE.value, workflow.now(), req.actor)
            self._alarms_changed = True
            self._publish()
            message = t("plan.accepted")
            if state.payment.difference is not None:
                # For the total confirmed before the difference: to reissue.
                message += t(
                    "plan.invoice_before_settlement",
                    difference=difference_text(state.payment.difference),
                )
            return self._accepted(message, late, Duty.INVOICE)

    def _joint_amount(self, req: InvoiceRecord) -> str | None:
        """The amount of an invoice for a whole joint payment, for the
        database to check against the payment's total; None otherwise."""
        if not joint_total_claimed(self._state.payment, req.amount):
            return None
        return f"{req.amount:.2f}"

    def _take_invoice(self, req: InvoiceRecord, number: str) -> None:
        payment = self._state.payment
        payment.invoice_number = number
        payment.invoice_issued_on = req.issued_on
        payment.invoice_amount = float(req.amount)
        payment.invoiced_share = payment.confirmed_amount
        payment.void_invoice_number = None

    def _invoice_changes(self, req: InvoiceRecord) -> list[str]:
        """What an invoice correction changes, said for staff."""
        payment = self._state.payment
        number = invoice_number(req.number) or req.number
        old_amount = payment.invoice_amount_text or "—"
        pairs = [
            ("invoice_number", payment.invoice_number or "—", number),
            (
                "invoice_date",
                payment.invoice_issued_on.isoformat()
                if payment.invoice_issued_on
                else "—",
                req.issued_on.isoformat(),
            ),
            ("invoice_amount", old_amount, f"{req.amount:.2f}"),
        ]
        return [_change(name, old, new) for name, old, new in pairs if old != new]

    async def _correct_invoice(self, req: InvoiceRecord) -> ActionResult:
        """Finance replaces the invoice it recorded: number, date or amount.

        The new number is claimed for the plan's payment and the old one let
        go, the batch check and the audit line (old, new, why) in the same
        transaction.
        """
        state = self._state
        number = invoice_number(req.number) or req.number
        async with self._lock:
            changes = self._invoice_changes(req)
            # Approved (maybe while it waited its turn): corrected as the
            # validator now lets it, unless the run took it before the rule.
            approved = state.stage in (Stage.ISSUANCE, Stage.ISSUED)
            after_approval = not approved or self._patched_case(
                INVOICE_CORRECTED_AFTER_APPROVAL
            )
            reissued = self._reissue_case(req, number)
            refused = self._not_correctable(
                req.reason, changes, after_approval=after_approval
            ) or self._refused_at_turn(
                self._invoice_refusal(
                    req, after_approval=after_approval, reissued=reissued
                )
            )
            if refused is not None:
                return refused
            payment = state.payment
            old_invoice = self._invoice_text()
            reverses = payment.invoice_number if reissued else None
            replaces = None
            if payment.invoice_number is not None and self._patched_case(
                INVOICE_REPLACED_IN_FORCE
            ):
                replaces = InvoiceHolding(
                    plan_id=state.info.plan_id,
                    number=payment.invoice_number,
                    amount=_decimal(payment.invoice_amount_text),
                    issued_on=payment.invoice_issued_on,
                )
            outcome = await self._finance_record(
                Action.CORRECT_INVOICE,
                req.actor,
                note=req.reason.strip(),
                number=number,
                invoiced=req,
                with_approved=True,
                reverses=reverses,
                replaces=replaces,
                invoice=number,
                issued_on=req.issued_on.isoformat(),
                amount=f"{req.amount:.2f}",
                old_invoice=payment.invoice_number or "",
                old_issued_on=(
                    payment.invoice_issued_on.isoformat()
                    if payment.invoice_issued_on
                    else ""
                ),
                old_amount=payment.invoice_amount_text or "",
                reason=req.reason.strip(),
            )
            replaced = payment.invoice_number
            answer = self._correction_answer(outcome, number, changes, replaced, req)
            reversed_ = answer.accepted and reverses is not None and reverses != number
            if reversed_:
                payment.reverse_invoice(
                    workflow.now(), req.actor, req.reason, replaced_by=number
                )
                answer.message += t("plan.invoice_reversed_for_good", number=reverses)
            elif answer.accepted and replaced not in (None, number) and req.typo:
                answer.message += t("plan.invoice_typo_not_voided", number=replaced)
            if answer.accepted:
                self._take_invoice(req, number)
            if answer.accepted and state.is_open(Duty.INVOICE_CORRECTION.value):
                # The invoice follows the settled total now (the amount was
                # checked as any invoice's): nothing holds the approval.
                state.close_duty(
                    Duty.INVOICE_CORRECTION.value, workflow.now(), req.actor
                )
                self._alarms_changed = True
                await self._record_payment_hold()
                answer.message += _corrected_after_settlement(outcome)
            if answer.accepted and outcome is not None:
                answer.message += await self._tell_invoice_corrected(
                    req, old_invoice, approved, outcome.corrected_with, reversed_
                )
            if answer.accepted and replaced is not None and outcome is not None:
                await self._signal_corrected_with(
                    req, outcome.corrected_with, replaced, reversed_
                )
            return answer

    async def _signal_corrected_with(
        self, req: InvoiceRecord, plans: list[str], replaced: str, reissued: bool
    ) -> None:
        """Tell the approved plans the database corrected with this one the
        invoice they carry now (see ``invoice_corrected_with``). A plan whose
        workflow ended has nobody to tell: its status is its record."""
        if not plans or not self._patched_case(INVOICE_CORRECTION_SIGNALLED):
            return
        payment = self._state.payment
        assert payment.invoice_number is not None  # taken above
        corrected = InvoiceCorrectedWith(
            with_plan=self._state.info.plan_id,
            old_number=replaced,
            number=payment.invoice_number,
            issued_on=req.issued_on,
            amount=req.amount,
            reissued=reissued,
            at=workflow.now(),
            actor=req.actor,
            reason=req.reason.strip(),
        )
        for plan_id in plans:
            handle = workflow.get_external_workflow_handle(plan_workflow_id(plan_id))
            try:
                await handle.signal("invoice_corrected_with", corrected)
            except FailureError:
                pass  # issued and invoiced, its workflow ended

    @workflow.signal
    async def invoice_corrected_with(self, corrected: InvoiceCorrectedWith) -> None:
        """Another plan of the joint payment corrected the whole-payment
        invoice this approved plan carries, and the database wrote the new
        one here too (``PlanStore`` corrects approved plans alike): the
        plan's record follows, the old invoice listed voided if it was
        reversed. A plan carrying another invoice by now takes nothing, so a
        signal sent twice changes nothing the second time.

        Taken under the plan's lock (a case of INVOICE_CORRECTED_WITH_LOCKED):
        the plan's own correction reads its invoice, awaits the database and
        writes it after, and a correction arriving in between would be
        written over, its replaced invoice voided as the plan's own.
        """
        if not self._patched_case(INVOICE_CORRECTED_WITH_LOCKED):
            self._take_corrected_with(corrected)  # as runs before the rule did
            return
        async with self._lock:
            self._take_corrected_with(corrected)

    def _take_corrected_with(self, corrected: InvoiceCorrectedWith) -> None:
        state = self._state
        entry = corrected.take(state.payment)
        if entry is None:
            return
        state.remember(entry)
        self._publish()

    def _reissue_case(self, req: InvoiceRecord, number: str) -> bool:
        """Whether the correction is a new invoice (a case of
        INVOICE_REISSUED): under a new number, reversing the old one, unless
        finance says the old one was typed wrong; or under the old number
        while the plan owes its correction after a settlement, refused.
        Asked before anything awaits."""
        payment = self._state.payment
        if payment.invoice_number is None:
            return False
        if number == payment.invoice_number:
            case = reissue_refusal(self._state, number) is not None
        else:
            # The safe reading for the records: a number that may be printed
            # on an invoice out there is never recorded again by omission.
            case = not req.typo
        return case and self._patched_case(INVOICE_REISSUED)

    def _invoice_text(self) -> str:
        """The invoice the plan carries, as a mail names it: number, date and
        amount (``—`` for what is not known)."""
        payment = self._state.payment
        return t(
            "plan.invoice_named",
            number=payment.invoice_number or "—",
            day=(
                payment.invoice_issued_on.isoformat()
                if payment.invoice_issued_on
                else "—"
            ),
            amount=payment.invoice_amount_text or "—",
        )

    async def _tell_invoice_corrected(
        self,
        req: InvoiceRecord,
        old_invoice: str,
        approved: bool,
        corrected_with: list[str],
        reversed_: bool,
    ) -> str:
        """Mail the tech dept and the general manager an invoice corrected on
        approved plans: this one, or those of its payment that took the
        corrected whole-payment invoice with it; said as a reversed invoice
        issued anew (``reversed_``) or as a record typed wrong. What the
        answer adds."""
        plans = sorted({*corrected_with, *([self._state.info.plan_id] * approved)})
        if not plans:
            return ""
        # ``approved`` asked the patch already; plans corrected with this one
        # are a case of their own (an activity of the patch answered so).
        if not approved and not self._patched_case(INVOICE_CORRECTED_AFTER_APPROVAL):
            return ""
        named = "、".join(plans)
        await self._notify(
            INVOICE_CORRECTED_TEMPLATE,
            [Role.TECH_DEPT, Role.GENERAL_MANAGER],
            plans=named,
            old=old_invoice,
            new=self._invoice_text(),
            how=t(
                "mail.invoice_corrected_after_approval."
                + ("reissued" if reversed_ else "typo")
            ),
            reason=req.reason.strip(),
            by=f"{role_name(req.actor.role)} {req.actor.person}",
        )
        if not corrected_with:
            return t("plan.invoice_corrected_approved")
        return t("plan.invoice_corrected_with", plans="、".join(corrected_with))

    @record_invoice.validator
    def _check_invoice(self, req: InvoiceRecord) -> None:
        self._check_request(req)
        _refuse_first(invoice_number_id_refusal(req.number))
        _refuse_first(self._invoice_refusal(req))

    def _invoice_refusal(
        self,
        req: InvoiceRecord,
        *,
        after_approval: bool = True,
        reissued: bool = True,
    ) -> Refusal | None:
        """Why finance's invoice (or its correction) is refused now; None to
        take it. A correction is taken on an approved plan unless told
        otherwise (``after_approval``: a run from before the rule), and one
        keeping the number of an invoice for a total since settled is
        refused unless told otherwise (``reissued``: likewise)."""
        state = self._state
        if req.correct:
            refusal = self._finance_correction_refusal(
                Action.CORRECT_INVOICE,
                req,
                Duty.INVOICE,
                Action.RECORD_INVOICE,
                after_approval=after_approval,
            )
        else:
            refusal = self._action_refusal(Action.RECORD_INVOICE, req.actor)
            if refusal is None and not state.is_done(Duty.PAYMENT_CHECK.value):
                refusal = Refusal("wrong_stage", t("plan.payment_required"))
            if refusal is None and state.is_done(Duty.INVOICE.value):
                refusal = Refusal("already_done", t("plan.already_recorded"))
        if refusal is not None:
            return refusal
        payment = state.payment
        refusal = _first(
            invoice_number_refusal(req.number),
            date_after_today("plan.invoice_date_in_future", req.issued_on, _today()),
            date_before(
                "plan.invoice_before_received", req.issued_on, payment.received_on
            ),
            date_before(
                "plan.invoice_before_exam",
                req.issued_on,
                self._state.info.exam_end_date,
            ),
            invoice_mismatch(payment, req.amount),
        )
        if (
            refusal is not None
            and refusal.code == "amount_mismatch"
            and payment.difference is not None
        ):
            # The new total is not confirmed before the difference is settled.
            refusal = Refusal(
                refusal.code,
                refusal.message
                + t(
                    "plan.invoice_settle_first",
                    difference=difference_text(payment.difference),
                    expected=f"{payment.difference.expected_amount:.2f}",
                ),
            )
        if refusal is None and req.correct and not self._invoice_changes(req):
            refusal = Refusal("unchanged", t("plan.correct_unchanged"))
        number = invoice_number(req.number) or req.number
        if refusal is None and req.correct and reissued:
            refusal = reissue_refusal(state, number)
        if refusal is None and req.correct and req.typo:
            refusal = typo_refusal(state, number)
        return refusal

    @workflow.update
    @_counted
    async def org_signoff(self, req: SimpleAction) -> ActionResult:
        late = self._state.close_duty(Duty.ORG_SIGNOFF.value, workflow.now(), req.actor)
        self._alarms_changed = True
        await self._audit(Action.ORG_SIGNOFF, req.actor, late=late)
        return self._accepted(t("plan.accepted"), late, Duty.ORG_SIGNOFF)

    @org_signoff.validator
    def _check_org_signoff(self, req: SimpleAction) -> None:
        self._check(Action.ORG_SIGNOFF, req)
        state = self._state
        still_open = state.open_corrections()
        if still_open:
            message = t(
                "plan.corrections_open",
                count=len(still_open),
                corrections=state.corrections_holding(),
            )
            raise _refuse(Refusal("corrections_open", message))
        if state.is_done(Duty.ORG_SIGNOFF.value):
            raise _refuse(Refusal("already_done", t("plan.already_done")))

    @workflow.update
    @_counted
    async def site_signoff(self, req: SiteSignoffRequest) -> ActionResult:
        state = self._state
        if (
            req.plan_id != state.info.plan_id
            or req.plan_id not in state.payment.paid_plan_ids
        ):
            # 4.2.5: the plan signed must be the plan paid for. Unlike other
            # refusals this one is recorded: signing another plan on the
            # national platform is an event finance and the exam office review.
            # What was given is kept and repeated, an ID number in it masked.
            given = mask_id_numbers_in(req.plan_id)
            await self._audit(
                Action.SITE_SIGNOFF,
                req.actor,
                accepted=False,
                signed_plan=given,
                paid_plans=",".join(state.payment.paid_plan_ids),
            )
            return ActionResult(
                accepted=False,
                message=t(
                    "plan.signoff_plan_mismatch",
                    given=given,
                    plan_id=state.info.plan_id,
                    paid="、".join(state.payment.paid_plan_ids),
                ),
                problems=[
                    Problem(
                        code="plan_mismatch",
                        message=t(
                            "plan.signoff_plan_problem",
                            given=given,
                            plan_id=state.info.plan_id,
                        ),
                    )
                ],
            )
        late = self._state.close_duty(
            Duty.SITE_SIGNOFF.value, workflow.now(), req.actor
        )
        self._alarms_changed = True
        await self._audit(Action.SITE_SIGNOFF, req.actor, late=late)
        return self._accepted(t("plan.accepted"), late, Duty.SITE_SIGNOFF)

    @site_signoff.validator
    def _check_site_signoff(self, req: SiteSignoffRequest) -> None:
        self._check(Action.SITE_SIGNOFF, req)
        state = self._state
        if not state.is_done(Duty.APPLICATION.value):
            raise _refuse(Refusal("wrong_stage", t("plan.application_required")))
        if state.is_done(Duty.SITE_SIGNOFF.value):
            raise _refuse(Refusal("already_done", t("plan.already_done")))

    # -- stage 9: approval batches (4.2.6) -------------------------------------

    @workflow.signal
    def batch_joined(self, joined: BatchJoined) -> None:
        self._state.batch = BatchMembership(
            batch_id=joined.batch_id, joined_at=workflow.now()
        )
        self._state.batch_hold = None
        self._state.partner_hold = None
        self._publish()

    @workflow.signal
    def batch_held_back(self, hold: BatchHold) -> None:
        """A gathering left the plan out: its joint payment's invoices
        disagree. Its status and Web UI page say so until a batch takes it.

        Signals of two batches are not ordered: one from a gathering older
        than the hold shown, or arriving once a batch took the plan, is late.
        """
        state = self._state
        shown = state.batch_hold
        if state.batch is not None or (shown is not None and shown.at > hold.at):
            return
        state.batch_hold = hold
        self._publish()

    @workflow.signal
    async def batch_verdict(self, verdict: BatchVerdict) -> None:
        state = self._state
        # A verdict can only be acted on while the plan waits for one; one that
        # arrives early (signals are not ordered with our stage changes) waits;
        # a cancelled plan takes none (it was in no batch when cancelled).
        await workflow.wait_condition(
            lambda: state.stage in (Stage.AWAITING_APPROVAL, Stage.CANCELLED)
        )
        if self._cancelled:
            return
        if state.batch is None or state.batch.batch_id != verdict.batch_id:
            workflow.logger.warning(
                "verdict for another batch ignored",
                extra={"plan_id": state.info.plan_id, "batch_id": verdict.batch_id},
            )
            return
        now = workflow.now()
        actor = Actor(role=Role.GENERAL_MANAGER, person=verdict.decided_by)
        state.close_duty(Duty.APPROVAL.value, now, actor)
        state.approval_note = verdict.reason or None
        if verdict.approved:
            await self._audit_raw(
                "approve_batch", actor, ref=verdict.batch_id, batch_id=verdict.batch_id
            )
            await self._enter(Stage.ISSUANCE)
            return
        state.batch = None
        redo: list[Duty] = []
        if verdict.return_to and workflow.patched(BATCH_RETURN_REDOES_WHAT_FOLLOWS):
            redo = duties_to_redo(verdict.return_to)
        await self._audit_raw(
            "reject_batch",
            actor,
            note=verdict.reason,
            ref=verdict.batch_id,
            outcome="sent_back" if redo else "",
            batch_id=verdict.batch_id,
            reason_given="yes",
            **_returned_to(redo),
        )
        if redo:
            voided = self._redo(redo, now, actor, verdict.reason, verdict.batch_id)
            await self._audit_void(voided, actor)
            await self._enter(Stage.PAYMENT_AND_SIGNOFF)
            # The timer loop wakes once more after the stage is recorded, as
            # it always has: histories of plans sent back replay by it.
            self._alarms_changed = True
            # Those who redo a duty, and the tech dept, which gathers the plan
            # again once they have, learn why and what is owed; the invoice
            # voided is named, to be reversed, and its site told.
            told = voided is not None and self._patched_case(INVOICE_VOID_TOLD)
            await self._notify(
                "approval_rejected",
                sorted({DUTY_OWNER[d] for d in redo} | {Role.TECH_DEPT}),
                reason=verdict.reason,
                next=t("mail.approval_rejected.returned", items=duties_by_party(redo))
                + (_voided_note(voided) if told else "")
                + _approved_with(verdict),
            )
            if told:
                assert voided is not None  # told only of an invoice voided
                await self._notify(
                    "invoice_voided_site", [Role.SITE], invoice=_voided_text(voided)
                )
            return
        if verdict.return_to:
            # Histories from before the patch: the named duties alone, their
            # owners alone told.
            for duty in verdict.return_to:
                state.open_duty(duty, now)
            await self._enter(Stage.PAYMENT_AND_SIGNOFF)
            roles = sorted(
                {state.obligations[d.value].owner for d in verdict.return_to}
            )
        else:
            state.open_duty(Duty.APPROVAL, now)
            # Finance too: a rejection without a return is how the general
            # manager asks finance to correct its record before the next batch.
            roles = [Role.TECH_DEPT, Role.FINANCE]
            self._publish()
        self._alarms_changed = True
        if not verdict.approved_with:
            await self._notify("approval_rejected", roles, reason=verdict.reason)
            return
        # Told apart from its payment's approved plans: how its invoice goes.
        await self._notify(
            "approval_rejected",
            roles,
            reason=verdict.reason,
            next=t("mail.approval_rejected.defaults.next") + _approved_with(verdict),
        )

    # -- after issuance: revocations (certflow revoke) -------------------------

    @workflow.signal
    def certificate_revoked(self, revoked: CertificatesRevoked) -> None:
        """A certificate of the plan was revoked: its status and Web UI page
        count those revoked. Only the count the database gave is kept, so a
        signal late or sent again changes nothing."""
        state = self._state
        if revoked.revoked <= state.certificates_revoked:
            return
        state.certificates_revoked = revoked.revoked
        self._publish()

    # -- withdrawing a plan started by mistake ---------------------------------

    @workflow.update
    @_counted
    async def cancel_plan(self, req: CancelRequest) -> ActionResult:
        """Withdraw the plan: nobody owes it anything more, and it completes.

        The database row is written first and may still refuse (an approval
        batch gathered the plan meanwhile); only then are the duties closed,
        so a refusal leaves the plan exactly as it was. Those who owed a step,
        and the supervisors already told it was overdue, learn why by mail.
        A plan whose payment held it out of approval, and with it the other
        plans of its joint payment, frees them as a settlement would.
        """
        state = self._state
        async with self._lock:
            # An upload or a correction held the lock meanwhile: look again.
            held = money_held(state.payment)
            # As plans recorded before: cancelled whatever money they held.
            tells_finance = held is not None and workflow.patched(CANCEL_TELLS_FINANCE)
            refusal = cancel_refusal(
                state,
                req.reason,
                refund_by_finance=req.refund_by_finance or not tells_finance,
            )
            if refusal is not None:
                return ActionResult(accepted=False, message=refusal.message)
            now = workflow.now()
            reason = req.reason.strip()
            answer = await self._attempt(
                PlanStore.cancel_plan,
                self._audit_entry(
                    Action.CANCEL_PLAN.value,
                    req.actor,
                    now,
                    details={"reason": reason, "stage": state.stage.value},
                ),
            )
            if answer is None:
                return _not_processed("plan.action_failed")
            if not answer.cancelled:
                return ActionResult(
                    accepted=False,
                    message=t("plan.cancel_in_batch", batch_id=answer.batch_id),
                )
            previous = state.stage
            # Read before its duties are withdrawn: a plan its payment held
            # may hold the other plans of a joint payment with it.
            holding = state.payment_hold()[0] is not None
            told = self._told_of_cancel()
            withdrawn = state.withdraw_all(now, req.actor)
            roles = {role for ob in withdrawn if (role := told[ob.key]) is not None}
            for ob in withdrawn:
                supervisor = state.policy.supervisors.get(ob.owner)
                if ob.escalation_mails and supervisor is not None:
                    roles.add(supervisor)
            state.stage = Stage.CANCELLED
            self._withdraw_mails()
            state.cancellation = Cancellation(
                at=now,
                role=req.actor.role,
                person=req.actor.person,
                reason=reason,
                stage=previous,
            )
            state.remember(
                HistoryEntry(
                    at=now,
                    action=Action.CANCEL_PLAN.value,
                    role=req.actor.role,
                    person=req.actor.person,
                    note=reason,
                )
            )
            self._alarms_changed = True
            self._publish()
            workflow.logger.info(
                "plan cancelled",
                extra={"plan_id": state.info.plan_id, "stage": previous.value},
            )
            if roles:
                await self._notify(
                    CANCELLED_TEMPLATE,
                    sorted(roles),
                    reason=reason,
                    by=f"{role_name(req.actor.role)} {req.actor.person}",
                    previous=t(f"stages.{previous.value}"),
                    items="、".join(
                        dict.fromkeys(
                            _withdrawn_label(state, ob, told)
                            for ob in withdrawn
                            if told[ob.key] is not None
                        )
                    ),
                )
            if tells_finance and held is not None:
                await self._notify(
                    CANCELLED_MONEY_TEMPLATE,
                    [Role.FINANCE],
                    reason=reason,
                    by=f"{role_name(req.actor.role)} {req.actor.person}",
                    held=held,
                )
            if (
                holding
                and is_joint(state.payment)
                and workflow.patched(CANCEL_FREES_PARTNERS)
            ):
                # The database holds the plan no more (see PlanStore.cancel_plan).
                joint = await self._joint_holds()
                if joint is not None:
                    await self._tell_freed(joint.free)
            return ActionResult(
                accepted=True, message=t("plan.cancelled", plan_id=state.info.plan_id)
            )

    def _told_of_cancel(self) -> dict[str, Role | None]:
        """Who is told of each open duty a cancellation withdraws: its owner;
        but, for an approval no batch has taken yet (CANCEL_TELLS_WHO_GATHERS),
        the tech dept, who gathers it and was told it ready, and nobody while
        the plan's payment held it out of every batch. Read before the duties
        are withdrawn (a withdrawn difference holds nothing)."""
        state = self._state
        opened = state.open_obligations()
        gathering = any(state.awaits_gathering(ob) for ob in opened) and (
            workflow.patched(CANCEL_TELLS_WHO_GATHERS)
        )
        if not gathering:
            return {ob.key: ob.owner for ob in opened}
        owed = state.owed_obligations()
        return {ob.key: state.acting_owner(ob) if ob in owed else None for ob in opened}

    @cancel_plan.validator
    def _check_cancel(self, req: CancelRequest) -> None:
        self._check(Action.CANCEL_PLAN, req)
        _refuse_first(
            cancel_refusal(
                self._state, req.reason, refund_by_finance=req.refund_by_finance
            )
        )
        if not self._registered:
            raise _refuse(Refusal("not_ready", t("plan.cancel_not_registered")))

    # -- helpers ---------------------------------------------------------------

    def _redo(
        self,
        redo: list[Duty],
        now: datetime,
        actor: Actor,
        reason: str,
        batch_id: str = "",
    ) -> VoidedInvoice | None:
        """Owe ``redo`` again: each at once, or once the duty it rests on is in.

        ``actor`` sent the plan back for ``reason``: they are named with the
        invoice a payment checked again voids, which is returned.
        """
        if not redo:
            return None
        state = self._state
        voided = None
        followers_wait = workflow.patched(FOLLOWERS_WAIT)
        waiting = waiting_in_redo(redo) if followers_wait else set()
        for duty in redo:
            if duty in waiting:
                state.set_aside(duty.value)
            else:
                state.open_duty(duty, now)
        if followers_wait and Duty.PAYMENT_CHECK in redo:
            # An invoice still owed is for the payment finance checks again:
            # it cannot be recorded before, and confirming opens it anew, so
            # finance is not reminded of it meanwhile.
            state.set_aside(Duty.INVOICE.value)
            # The invoice recorded is for the payment checked again: void.
            voided = state.payment.set_invoice_aside(now, actor, reason, batch_id)
        self._alarms_changed = True
        return voided

    async def _audit_void(self, voided: VoidedInvoice | None, actor: Actor) -> None:
        """Audit an invoice set aside: which, of what date and amount, who sent
        its payment back to be checked again and why."""
        if voided is None or not workflow.patched(INVOICE_VOID_AUDITED):
            return
        await self._audit_raw(
            VOID_INVOICE,
            actor,
            note=voided.reason,
            ref=voided.number,
            invoice=voided.number,
            issued_on=voided.issued_on.isoformat() if voided.issued_on else "",
            amount=voided.amount_text or "",
            batch_id=voided.batch_id,
            reason=voided.reason,
        )

    async def _finance_record(
        self,
        action: Action,
        actor: Actor,
        *,
        late: bool = False,
        note: str = "",
        number: str | None = None,
        invoiced: InvoiceRecord | None = None,
        with_approved: bool = False,
        reverses: str | None = None,
        replaces: InvoiceHolding | None = None,
        received_once: bool = False,
        **details: Any,
    ) -> FinanceOutcome | None:
        """Write finance's invoice or correction to the database, or be refused.

        One activity claims the invoice ``number`` for the plan's payment,
        checks the invoice (``invoiced``) against the others of the payment,
        refuses a correction of a plan a batch has gathered, and writes the
        audit line; the history line follows only once it is written.
        ``reverses`` is the number of the invoice a correction to another
        amount reverses, recorded voided with it. ``received_once`` checks a
        confirmation against the other plans of its payment, in the same
        transaction. None when the database could not be reached.
        """
        state = self._state
        now = workflow.now()
        outcome: FinanceOutcome | None = await self._attempt(
            PlanStore.record_finance,
            FinanceRecord(
                entry=self._audit_entry(
                    action.value, actor, now, late=late, details=details
                ),
                invoice_number=number,
                paid_plan_ids=state.payment.paid_plan_ids,
                outside_batch=action
                in (Action.CORRECT_PAYMENT, Action.CORRECT_INVOICE),
                joint_amount=None if invoiced is None else self._joint_amount(invoiced),
                invoice_amount=None if invoiced is None else invoiced.amount,
                invoice_issued_on=None if invoiced is None else invoiced.issued_on,
                with_approved=with_approved,
                reverses=reverses,
                replaces=replaces,
                received_once=received_once,
            ),
        )
        if outcome is not None and outcome.recorded:
            state.remember(
                HistoryEntry(
                    at=now,
                    action=action.value,
                    role=actor.role,
                    person=actor.person,
                    late=late,
                    note=note,
                )
            )
            self._publish()
        return outcome

    def _not_correctable(
        self, reason: str, changes: list[str], *, after_approval: bool = False
    ) -> ActionResult | None:
        """A correction refused at its turn: a batch took the plan while it
        waited for the lock, or it changes nothing (``after_approval``: see
        ``correction_refusal``)."""
        refusal = correction_refusal(self._state, reason, after_approval=after_approval)
        if refusal is None and not changes:
            refusal = Refusal("unchanged", t("plan.correct_unchanged"))
        if refusal is None:
            return None
        return ActionResult(accepted=False, message=refusal.message)

    def _correction_answer(
        self,
        outcome: FinanceOutcome | None,
        number: str,
        changes: list[str],
        replaced: str | None = None,
        invoiced: InvoiceRecord | None = None,
    ) -> ActionResult:
        """The answer to a correction, once the database has had its say.

        ``replaced`` is the invoice number the correction replaced: other plans
        of the payment still holding it are named, each corrected on its own,
        and so are those the corrected invoice leaves to correct alike.
        """
        if outcome is None:
            return _not_processed("plan.action_failed")
        if not outcome.recorded:
            return self._finance_refused(outcome, number, invoiced)
        message = t("plan.corrected", changes="；".join(changes))
        if outcome.still_holding and replaced:
            message += t(
                "plan.invoice_still_shared",
                number=replaced,
                plans="、".join(outcome.still_holding),
            )
        return ActionResult(
            accepted=True,
            message=message
            + still_to_correct(number, outcome.still_differing, outcome.still_apart)
            + received_still_apart(outcome.still_received),
        )

    def _finance_refused(
        self,
        outcome: FinanceOutcome,
        number: str,
        invoiced: InvoiceRecord | None = None,
    ) -> ActionResult:
        """The answer to a record the database refused: the batch, the number
        (a voided invoice's, or another payment's), an amount claimed as a
        joint payment's total that is none, an invoice that does not fit the
        others of its payment, or one leaving them apart from a plan of the
        payment a batch holds."""
        amount = None if invoiced is None else invoiced.amount
        if outcome.not_in_force:
            in_force = outcome.in_force
            return ActionResult(
                accepted=False,
                message=t(
                    "plan.invoice_not_in_force",
                    replaced=self._invoice_text(),
                    in_force=(
                        t("plan.invoice_none_in_force")
                        if in_force is None
                        else _holding_text(in_force)
                    ),
                ),
            )
        if outcome.paid_plans is not None:
            message = lists_refusal(
                self._state.info.plan_id,
                self._state.payment.paid_plan_ids,
                outcome.paid_plans,
                "plan.paid_plans_to_invoice",
            )
            return ActionResult(accepted=False, message=message or "")
        if outcome.unconfirmed or outcome.joint_total is not None:
            return ActionResult(
                accepted=False, message=self._joint_refusal(outcome, amount)
            )
        if outcome.gathered:
            # Waiting for a decision helps only where a batch is still open.
            key = (
                "plan.invoice_joint_approved"
                if set(outcome.gathered) <= set(outcome.approved)
                else "plan.invoice_joint_gathered"
            )
            message = t(
                key,
                plans="、".join(sorted(set(self._state.payment.paid_plan_ids))),
                gathered="、".join(
                    t("plan.invoice_gathered_plan", plan_id=plan_id, batch_id=batch)
                    for plan_id, batch in sorted(outcome.gathered.items())
                ),
                holders=holdings_text(outcome.clashing, numbered=True),
            )
            return ActionResult(accepted=False, message=message)
        if outcome.conflict is not None and invoiced is not None:
            claim = InvoiceHolding(
                plan_id=self._state.info.plan_id,
                number=number,
                amount=invoiced.amount,
                issued_on=invoiced.issued_on,
            )
            message = conflict_message(
                outcome.conflict,
                claim,
                outcome.clashing,
                sorted(set(self._state.payment.paid_plan_ids)),
            )
            return ActionResult(accepted=False, message=message)
        if outcome.batch_id is not None:
            message = t("plan.correct_in_batch", batch_id=outcome.batch_id)
        elif outcome.voided_on is not None and outcome.voided_at is not None:
            key = "plan.invoice_number_voided"
            if outcome.voided_by_cancellation:
                key = "plan.invoice_number_cancelled"
            elif outcome.voided_by_reissue:
                key = "plan.invoice_number_reversed"
            message = t(
                key,
                number=number,
                plan_id=outcome.voided_on,
                at=format_cst(outcome.voided_at),
            )
        else:
            plans = "、".join(outcome.other_plans)
            message = t("plan.invoice_number_taken", number=number, plans=plans)
        return ActionResult(accepted=False, message=message)

    def _joint_refusal(self, outcome: FinanceOutcome, amount: Decimal | None) -> str:
        """Why an invoice amount is not its joint payment's total, with the
        figures finance may record instead."""
        payment = self._state.payment
        figures = {
            "invoiced": f"{amount:.2f}" if amount is not None else "—",
            "confirmed": payment.confirmed_amount_text or "—",
            "plans": "、".join(sorted(set(payment.paid_plan_ids))),
        }
        if outcome.unconfirmed:
            refusal = t(
                "plan.invoice_joint_unconfirmed",
                unconfirmed="、".join(outcome.unconfirmed),
                **figures,
            )
        else:
            refusal = t(
                "plan.invoice_joint_total_mismatch",
                total=outcome.joint_total,
                **figures,
            )
        if outcome.cancelled:
            refusal += t(
                "plan.invoice_joint_cancelled", cancelled="、".join(outcome.cancelled)
            )
        return refusal

    def _forget_correction(self, request_id: str) -> None:
        """Tell the database the plan gave up on ``request_id``, beside the
        plan: retried until it answers, while the sender has the plan's answer
        and the next request (which takes the id) goes on meanwhile."""
        given_up = CorrectionGivenUp(
            plan_id=self._state.info.plan_id,
            request_id=request_id,
            given_up_at=workflow.now(),
        )

        async def forget() -> None:
            try:
                await self._activity(IntakeActivities.forget_correction, given_up)
            except ActivityError:
                workflow.logger.warning(
                    "given up request not forgotten",
                    extra={"plan_id": given_up.plan_id, "request_id": request_id},
                )

        self._forgetting = [f for f in self._forgetting if not f.done()]
        self._forgetting.append(asyncio.create_task(forget()))

    def _beside_done(self) -> bool:
        """Whether every mail, every request given up and every write of the
        plan's row has been seen to."""
        row = [self._row_writes] if self._row_writes is not None else []
        return all(task.done() for task in (*self._mails, *self._forgetting, *row))

    def _check(self, action: Action, req: Any) -> None:
        """``_check_request``, then the refusal every action shares (role,
        site, stage) for ``req``'s actor."""
        self._check_request(req)
        _refuse_first(self._action_refusal(action, req.actor))

    def _check_request(self, req: Any) -> None:
        """What every validator checks first: refuse a new action while the
        run waits to continue as new, then one whose free text (a reason, a
        comment, a name…) is longer than its bound or holds a hidden
        character (``certflow.free_text``), before anything is recorded."""
        if self._draining and self._beside_done():
            # Only actions under way hold the new run back: one taken now
            # would too. Refused before it counts or reaches history, it is
            # sent again in a moment (the staff tool and the mailbox do) and
            # reaches the new run. While a mail waits for the mail server (or
            # a request given up for the database), actions are taken as usual.
            raise _refuse(Refusal(CONTINUING_AS_NEW, t("plan.continuing_as_new")))
        # Only here: a replay runs no validator, so a request taken before
        # the bounds (a longer reason) replays as it was taken.
        problem = text_problem(req)
        if problem is not None:
            raise _refuse(Refusal("bad_argument", problem))

    def _action_refusal(self, action: Action, actor: Actor) -> Refusal | None:
        """The refusal every action shares (role, site, stage); None if none."""
        try:
            check_action(self._state, action, actor)
        except Refusal as refusal:
            return refusal
        return None

    def _patched_case(self, patch: str) -> bool:
        """``workflow.patched`` for one more case of ``patch`` in this run.

        Asked only where the case arises, under an id of its own each time
        (``patch-1``, ``-2``…): a patch is decided once per run, and one id,
        decided false on replaying a case from before the patch, would keep
        every later case of the run on the old path too.
        """
        case = self._patch_cases.get(patch, 0) + 1
        self._patch_cases[patch] = case
        return workflow.patched(f"{patch}-{case}")

    def _refused_at_turn(self, refusal: Refusal | None) -> ActionResult | None:
        """The answer to an action refused at its turn, by what its validator
        checked (``refusal``, found again under the lock); None to go on.

        The validator let it in; a cancellation, a verdict or another action
        changed the plan while it waited (CHECKED_AT_ITS_TURN). An action from
        before the patch went on as it did.
        """
        if refusal is None or not self._patched_case(CHECKED_AT_ITS_TURN):
            return None
        return ActionResult(accepted=False, message=refusal.message)

    async def _confirmed_in_turn(
        self,
        kind: DocumentKind,
        replaced: str,
        refusal: Callable[[], Refusal | None],
        confirm: Callable[[], Awaitable[ActionResult]],
    ) -> ActionResult:
        """Take a confirmation of the latest version of ``kind``: at once, or
        at its turn while an upload or a correction holds the lock.

        Taken at once then, what is being recorded could undo it, or replace
        what it confirms (CONFIRMATIONS_WAIT). At its turn it is checked again
        (``refusal``, its validator's checks) and refused, with the message
        ``replaced``, where a newer version came in while it waited: staff
        confirm what they saw.
        """
        if not (self._lock.locked() and self._patched_case(CONFIRMATIONS_WAIT)):
            return await confirm()
        seen = self._state.document_versions.get(kind)
        async with self._lock:
            latest = self._state.document_versions.get(kind)
            refused = _first(
                None
                if latest == seen
                else Refusal("replaced", t(replaced, version=latest)),
                refusal(),
            )
            if refused is not None:
                return ActionResult(accepted=False, message=refused.message)
            return await confirm()

    def _accepted(self, message: str, late: bool, duty: Duty | None) -> ActionResult:
        if late and duty is not None:
            ob = self._state.obligations.get(duty.value)
            if ob is not None and ob.deadline_day is not None:
                deadline = format_deadline(ob.deadline_day)
                message = f"{message}{t('plan.late_note', deadline=deadline)}"
        return ActionResult(accepted=True, message=message, late=late)

    @property
    def _cancelled(self) -> bool:
        return self._state.stage is Stage.CANCELLED

    async def _enter(self, stage: Stage) -> None:
        """Move the plan to ``stage``; a cancelled plan stays cancelled.

        A decision accepted just before the cancellation may still be on its
        way to moving the stage on once the plan is cancelled.
        """
        state = self._state
        if self._cancelled:
            return
        state.stage = stage
        now = workflow.now()
        state.remember(HistoryEntry(at=now, action=f"stage:{stage.value}"))
        workflow.logger.info(
            "stage entered", extra={"plan_id": state.info.plan_id, "stage": stage.value}
        )
        deadlines = (state.overdue(now), state.next_deadline())
        change = StageChange(
            plan_id=state.info.plan_id,
            stage=stage,
            at=now,
            overdue=deadlines[0],
            next_deadline=deadlines[1],
        )
        if not self._row_kept:
            self._publish()
            self._stage_writing = True
            try:
                await self._activity(PlanStore.record_stage, change)
            finally:
                self._stage_writing = False
            self._keep_row(state.overdue(workflow.now()), state.next_deadline())
            return
        # The stage's write carries the deadlines: none of their own for them.
        self._row_wanted = (deadlines, now)
        self._publish()
        await self._write_row_in_turn(lambda: self._write_stage(change, deadlines))

    async def _write_stage(
        self, change: StageChange, deadlines: tuple[bool, datetime | None]
    ) -> None:
        self._row_sent = deadlines
        # A write of newer deadlines asked for before it may have gone first:
        # stamped no earlier, so the row takes the stage (and the deadlines
        # follow again with the next write, see _write_deadlines).
        at = self._stamp(change.at)
        await self._activity(
            PlanStore.record_stage, change.model_copy(update={"at": at})
        )

    def _publish(self) -> None:
        """Refresh what the Web UI shows: current details and search attributes.

        Only a change is upserted: every upsert is a history event, and the
        timer loop calls this on each wake.
        """
        state = self._state
        now = workflow.now()
        workflow.set_current_details(current_details(state, now))
        overdue, next_deadline = state.overdue(now), state.next_deadline()
        self._keep_row(overdue, next_deadline)
        values: list[tuple[Any, Any]] = [
            (sa.PLAN_ID, state.info.plan_id),
            (sa.SITE_CODE, state.info.site_code),
            (sa.STAGE, state.stage.value),
            (sa.OVERDUE, overdue),
            (sa.OWED_BY, self._owed_by()),
            (sa.CALENDAR_MISSING, bool(state.calendar_missing_years)),
            (sa.NEXT_DEADLINE, next_deadline),
            (sa.BATCH_ID, state.batch.batch_id if state.batch else None),
        ]
        published = {key.name: value for key, value in values}
        if published == self._published:
            return
        self._published = published
        workflow.upsert_search_attributes(
            [
                key.value_unset() if value is None else key.value_set(value)
                for key, value in values
            ]
        )

    def _owed_by(self) -> list[str]:
        """``OwedBy`` as this run publishes it: see ``PlanState.owed_by``
        and the patches deciding its flags."""
        gathering = self._approval_owed_once_gathered()
        held = gathering and self._gathering_owed_once_payment_frees()
        return self._state.owed_by(gathering=gathering, held=held)

    def _gathering_owed_once_payment_frees(self) -> bool:
        """Whether ``OwedBy`` names nobody for an approval the plan's payment
        holds out of every batch (GATHERING_OWED_ONCE_PAYMENT_FREES).

        Asked only where such an approval is open, and decided once per run,
        as APPROVAL_OWED_ONCE_GATHERED is: a run that published the tech
        dept for it before the patch keeps doing so (its upserts replay as
        they ran); its next run names nobody for it.
        """
        state = self._state
        held = any(state.awaits_payment(ob) for ob in state.open_obligations())
        return held and workflow.patched(GATHERING_OWED_ONCE_PAYMENT_FREES)

    def _approval_owed_once_gathered(self) -> bool:
        """Whether ``OwedBy`` names the tech dept, not the general manager, for
        an approval no batch has taken yet (APPROVAL_OWED_ONCE_GATHERED).

        Asked only where such an approval is open, and decided once per run:
        a run that published the general manager for it before the patch
        keeps doing so (its upserts replay as they ran); its next run, after
        a continue-as-new, names the tech dept.
        """
        state = self._state
        waiting = any(state.awaits_gathering(ob) for ob in state.open_obligations())
        return waiting and workflow.patched(APPROVAL_OWED_ONCE_GATHERED)

    def _keep_row(self, overdue: bool, next_deadline: datetime | None) -> None:
        """Have the plan's row say ``overdue`` and ``next_deadline`` where it
        says otherwise, beside the plan (ROW_KEEPS_DEADLINES).

        Cheap: only a change is written, the newest values at the write's
        turn, however often the plan publishes meanwhile. Nothing is written
        before the plan's row exists, nor once the plan is cancelled (its
        cancellation wrote the row).
        """
        deadlines = (overdue, next_deadline)
        if not self._registered or self._cancelled:
            return
        if self._should_continue_as_new(self._updates_continue_run):
            # The run is about to continue as new, and the new run writes the
            # row at its start. Written here, the run would wait for the write
            # past the action that asked it (the last of the run): a status
            # query sent in that wait was never answered on the test server.
            # So too while a mail outage holds the run back: the row waits
            # for the new run (asking the write then, beside the mail, broke
            # the same tests).
            return
        if self._stage_writing:
            # Not while the stage is written without its turn (a run from
            # before the patch, see _enter): a write of newer deadlines could
            # land first, and its later stamp would have the row refuse the
            # stage. The deadlines are looked at again once the stage is in.
            return
        if self._row_wanted is not None and self._row_wanted[0] == deadlines:
            return
        if not self._keeps_row():
            return
        self._row_wanted = (deadlines, workflow.now())
        self._row_writes = asyncio.create_task(
            self._after_row_writes(self._row_writes, self._write_deadlines)
        )

    def _keeps_row(self) -> bool:
        """Whether this run keeps the row's deadlines (ROW_KEEPS_DEADLINES).

        Asked case by case until one takes the patch, then never again: a
        run replayed from before the patch goes on to take it at its first
        change since, and a replay of that run asks exactly as it did.
        """
        if not self._row_kept:
            self._row_kept = self._patched_case(ROW_KEEPS_DEADLINES)
        return self._row_kept

    async def _write_deadlines(self) -> None:
        """Write the deadlines wanted now, unless the row is getting them."""
        assert self._row_wanted is not None
        deadlines, at = self._row_wanted
        if deadlines == self._row_sent:
            return
        self._row_sent = deadlines
        overdue, next_deadline = deadlines
        change = DeadlineChange(
            plan_id=self._state.info.plan_id,
            at=self._stamp(at),
            overdue=overdue,
            next_deadline=next_deadline,
        )
        try:
            await self._activity(PlanStore.record_deadlines, change)
        except ActivityError:
            workflow.logger.warning(
                "plan row deadlines not written",
                extra={"plan_id": change.plan_id, "stage": self._state.stage.value},
            )

    def _stamp(self, at: datetime) -> datetime:
        """The time a write of the row taking its turn is stamped with: when
        its values were seen, and never before the write ahead of it, so
        the row keeps each write in the order they were asked."""
        if self._row_stamp is not None and self._row_stamp > at:
            at = self._row_stamp
        self._row_stamp = at
        return at

    async def _write_row_in_turn(self, write: Callable[[], Awaitable[None]]) -> None:
        """Run ``write`` once the row's writes asked for before it are done."""
        self._row_writes = asyncio.create_task(
            self._after_row_writes(self._row_writes, write)
        )
        await self._row_writes

    @staticmethod
    async def _after_row_writes(
        before: asyncio.Task[None] | None, write: Callable[[], Awaitable[None]]
    ) -> None:
        """In turn: the row keeps the write of the latest stamp (see
        ``PlanStore.record_stage`` and _stamp); two landing out of order
        would keep the older deadlines, or drop a stage."""
        if before is not None:
            await workflow.wait([before])
        await write()

    async def _audit(self, action: Action, actor: Actor, **details: Any) -> None:
        await self._audit_raw(action.value, actor, **details)

    async def _audit_raw(
        self,
        action: str,
        actor: Actor | None,
        *,
        accepted: bool = True,
        late: bool = False,
        outcome: str = "",
        note: str = "",
        ref: str = "",
        **details: Any,
    ) -> None:
        """Write an audit line and the history line staff see in the status.

        ``outcome``, ``note`` and ``ref`` go to the history line only: what a
        decision decided, the reason given, and what it was about. Without
        ``actor``, the plan did it by itself.
        """
        state = self._state
        now = workflow.now()
        state.remember(
            HistoryEntry(
                at=now,
                action=action if accepted else f"{action}:refused",
                role=actor.role if actor else None,
                person=actor.person if actor else None,
                late=late,
                outcome=outcome,
                note=note,
                ref=ref,
            )
        )
        entry = self._audit_entry(
            action, actor, now, accepted=accepted, late=late, details=details
        )
        await self._activity(PlanStore.record_audit, entry)
        self._publish()

    def _audit_entry(
        self,
        action: str,
        actor: Actor | None,
        at: datetime,
        *,
        accepted: bool = True,
        late: bool = False,
        details: dict[str, Any],
    ) -> AuditEntry:
        """The plan's next audit line, keyed by its run and sequence number, so
        that an activity retried writes it once."""
        self._update_seq += 1
        info = workflow.info()
        return AuditEntry(
            plan_id=self._state.info.plan_id,
            action=action,
            role=actor.role if actor else None,
            person=actor.person if actor else None,
            at=at,
            accepted=accepted,
            late=late,
            details={k: str(v) for k, v in details.items()},
            idempotency_key=f"{info.workflow_id}/{info.run_id}/{self._update_seq}",
        )

    async def _notify(
        self,
        template: str,
        roles: list[Role],
        *,
        attachments: list[Any] | None = None,
        alarm: Alarm | None = None,
        key_suffix: str = "",
        **fields: str,
    ) -> None:
        """Mail the people of ``roles`` from ``template``, without waiting.

        The mail is composed now (the stage it names is today's) and sent
        beside the plan: an update answers, and the plan goes on, while the
        mail server is away. A cancelled plan mails nothing but the news of
        its cancellation: a step that was under way when it was cancelled asks
        nobody to act. The mail of an ``alarm`` is withdrawn if its duty is
        done before it goes out (see _alarm_while_owed).
        """
        state = self._state
        if self._cancelled and template not in (
            CANCELLED_TEMPLATE,
            CANCELLED_MONEY_TEMPLATE,
        ):
            return
        info = workflow.info()
        self._update_seq += 1
        note = Notification(
            plan_id=state.info.plan_id,
            template=template,
            roles=roles,
            site_code=state.info.site_code,
            fields={
                "plan_id": state.info.plan_id,
                "site_name": state.info.site_name,
                "stage": t(f"stages.{state.stage.value}"),
                **fields,
            },
            attachments=attachments or [],
            idempotency_key=f"{info.workflow_id}/{info.run_id}/{self._update_seq}/{template}{key_suffix}",
        )
        if not workflow.patched(MAIL_BESIDE):
            # As plans recorded before: the caller waits until the mail is sent,
            # or given up.
            try:
                await self._send(note)
            except ActivityError:
                if not workflow.patched(MAIL_GIVEN_UP):
                    raise  # as recorded before the patch: the plan failed
                log_not_sent(workflow.logger, note.template, plan_id=note.plan_id)
            return
        if alarm is not None and not workflow.patched(ALARMS_WITHDRAWN):
            alarm = None  # as plans recorded before: sent whatever became of it
        in_store = workflow.patched(MAILS_WITHDRAWN_IN_STORE)
        before = self._mails[-1] if self._mails else None
        mail = asyncio.create_task(self._mail(note, before, alarm, in_store))
        self._mails = [m for m in self._mails if not m.done()] + [mail]

    def _withdraw_mails(self) -> None:
        """Stop the mails a cancelled plan had not sent yet (a mail outage held
        them): they would ask people to act on a plan that no longer runs."""
        for mail in self._mails:
            mail.cancel()

    async def _mail(
        self,
        note: Notification,
        before: asyncio.Task[None] | None,
        alarm: Alarm | None = None,
        in_store: bool = False,
    ) -> None:
        """Send one mail once the one asked for before it has gone out.

        In turn, so the parties read a plan's mails in the order they were
        asked for (the opening mail first, a reminder before its escalation)
        however long the mail server was away. The activity is retried until
        the server takes the mail or it is given up (see Notifier.notify); its
        idempotency key keeps a retry from sending twice.

        A mail withdrawn while its activity runs (``in_store``) is withdrawn
        in the database, and the activity left to find out at its next
        attempt: never cancelled, as the time-skipping server of the training
        stack loses a plan whose workflow task cancels an activity finishing
        at that moment (the real server does not). Plans recorded before
        cancel it.
        """
        # Counted from the task's first step, and uncounted in its finally: a
        # task cancelled before it ran (the plan's cancellation) does neither.
        key = alarm.obligation.key if alarm is not None else None
        if key is not None:
            self._notices_waiting[key] = self._notices_waiting.get(key, 0) + 1
        cancellation = (
            ActivityCancellationType.ABANDON
            if in_store
            else ActivityCancellationType.TRY_CANCEL
        )
        turn = False
        try:
            if before is not None:
                # Whatever became of the one before, this one goes out.
                await workflow.wait([before])
            turn = True
            if alarm is None:
                await self._send(note, cancellation)
            elif not await self._alarm_while_owed(note, alarm, cancellation):
                alarm.uncount()
                # In the text too: a plain log format shows no extra fields.
                workflow.logger.info(
                    "alarm withdrawn: its duty is done (plan %s, %s, duty %s)",
                    note.plan_id,
                    note.template,
                    alarm.obligation.duty.value,
                    extra={
                        "plan_id": note.plan_id,
                        "template": note.template,
                        "duty": alarm.obligation.duty.value,
                    },
                )
        except asyncio.CancelledError:
            # Withdrawn by the plan's cancellation (see _withdraw_mails); at
            # its turn, its activity was under way.
            if turn and in_store:
                await self._withdraw(note)
            workflow.logger.info(
                "mail withdrawn",
                extra={"plan_id": note.plan_id, "template": note.template},
            )
        except ActivityError:
            # Only a non-retryable failure ends the retries (a mail the server
            # will never take): the mails after this one still go out.
            log_not_sent(workflow.logger, note.template, plan_id=note.plan_id)
        except Exception as err:
            # A fault of the plan itself, not of mail: kept, to fail the
            # workflow task where operators see it (as before mail went beside).
            self._mail_fault = err
        finally:
            if key is not None:
                self._notices_waiting[key] -= 1

    async def _alarm_while_owed(
        self,
        note: Notification,
        alarm: Alarm,
        cancellation: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    ) -> bool:
        """Send an alarm's mail unless its duty is done first; False if withdrawn.

        An outage can hold a reminder or an overdue notice until the owner has
        done the duty; sent then, it would ask for what is done. So it is not
        sent when, at its turn, no obligation of its key is open (a duty sent
        back before then is owed again, and reminded of), and a send the mail
        server keeps refusing is withdrawn once the duty is done (see _mail;
        plans recorded before cancel it). A mail the server has taken cannot
        be called back.
        """
        key = alarm.obligation.key

        def done() -> bool:
            return not self._state.is_open(key)

        if done():
            return False
        send = asyncio.create_task(self._send(note, cancellation))
        closed = asyncio.create_task(workflow.wait_condition(done))
        try:
            await workflow.wait([send, closed], return_when=asyncio.FIRST_COMPLETED)
            withdrawn = not send.done()
        finally:
            # The loser is cancelled (both are, when the plan's cancellation
            # withdraws this mail) and awaited: no task is left unretrieved.
            send.cancel()
            closed.cancel()
            outcomes = await asyncio.gather(send, closed, return_exceptions=True)
        sent = outcomes[0]
        if not isinstance(sent, BaseException):
            return True  # gone out as the duty was done: too late to withdraw
        if withdrawn and cancellation is ActivityCancellationType.ABANDON:
            # Left running: the database tells its next attempt, or says it
            # went out meanwhile (too late to withdraw).
            return not await self._withdraw(note)
        if withdrawn:
            return False
        raise sent

    async def _send(
        self,
        note: Notification,
        cancellation: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
    ) -> None:
        """Run ``notify`` for ``note`` until the mail is sent or given up.

        It heartbeats, short as it is: a worker dying mid-send costs half a
        minute, not its two-minute start-to-close (see SEND_CLAIM in
        activities/notify.py). Heartbeats also bring the attempt a cancellation
        its plan asks for. Only plans recorded before MAILS_WITHDRAWN_IN_STORE
        ask for one (TRY_CANCEL, kept: their histories hold the request); the
        others withdraw a mail in the database and abandon its activity, which
        asks for none and lets a send under way end and be recorded. Cut
        mid-send, the attempt records a mail the server took, ends the claim
        of one surely not handed over, and leaves one that may have been to
        its claim's lapse; before, it was never told, and sent the mail to its
        end.
        """
        await self._activity(
            Notifier.notify,
            note,
            retry=MAIL_RETRY,
            cancellation=cancellation,
            beats=True,
        )

    async def _withdraw(self, note: Notification) -> bool:
        """Withdraw ``note`` in the database; False if it went out first.

        Idempotent, and never cancelled either: a plan cancelled meanwhile
        leaves it to finish and withdraws the mail again.
        """
        withdrawn: bool = await self._activity(
            Notifier.withdraw, note, cancellation=ActivityCancellationType.ABANDON
        )
        return withdrawn

    def _all_done(self) -> bool:
        """No update or signal is being handled, every mail has gone out,
        every request given up has been told to the database and the plan's
        row written."""
        if self._mail_fault is not None:
            raise self._mail_fault
        return workflow.all_handlers_finished() and self._beside_done()

    async def _attempt(
        self, fn: Any, arg: Any, *, start_to_close: timedelta = SHORT
    ) -> Any | None:
        """Run an activity a staff member waits on; None when it keeps failing.

        Such an activity runs inside an update that holds the plan's lock:
        retried for ever, it would leave the sender without an answer and every
        other upload or correction waiting. After a few tries the handler answers
        instead; the activities are all-or-nothing, so nothing half-done stays.
        An attempt stalled past them all records nothing behind the answer:
        the records without heartbeat commit only within their attempt's time
        (activities/deadline.py), and a correction request the plan gave up
        on is told to the database (``forget_correction``).
        """
        try:
            return await self._activity(
                fn, arg, start_to_close=start_to_close, retry=ANSWER_RETRY
            )
        except ActivityError:
            workflow.logger.warning(
                "staff action could not be processed",
                extra={"plan_id": self._state.info.plan_id, "activity": fn.__name__},
            )
            return None

    async def _activity(
        self,
        fn: Any,
        arg: Any,
        *,
        start_to_close: timedelta = SHORT,
        retry: RetryPolicy = RETRY,
        cancellation: ActivityCancellationType = ActivityCancellationType.TRY_CANCEL,
        beats: bool = False,
    ) -> Any:
        return await workflow.execute_activity_method(
            fn,
            arg,
            start_to_close_timeout=start_to_close,
            # The long ones heartbeat (activities/heartbeat.py), and the mails
            # (``beats``): an attempt whose worker died is retried after the
            # heartbeat timeout, not after its start-to-close. Options are no
            # command of their own: histories recorded without it replay
            # unchanged.
            heartbeat_timeout=(
                HEARTBEAT_TIMEOUT if beats or start_to_close > SHORT else None
            ),
            retry_policy=retry,
            cancellation_type=cancellation,
        )


def _corrected_after_settlement(outcome: FinanceOutcome | None) -> str:
    """What an invoice corrected to the settled total adds to its answer:
    the plan may be gathered, or, where other plans of its joint payment
    still carry another invoice, once they are corrected to the same."""
    left: set[str] = set()
    if outcome is not None:
        left = {*outcome.still_holding}
        left |= {h.plan_id for h in [*outcome.still_differing, *outcome.still_apart]}
    if not left:
        return t("plan.difference_invoice_corrected")
    return t("plan.difference_invoice_corrected_others", plans="、".join(sorted(left)))


def _holding_text(holding: InvoiceHolding) -> str:
    """An invoice the database holds, as ``_invoice_text`` names the plan's."""
    return t(
        "plan.invoice_named",
        number=holding.number,
        day=holding.issued_on.isoformat() if holding.issued_on else "—",
        amount="—" if holding.amount is None else f"{holding.amount:.2f}",
    )


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _confirmed_details(req: PaymentConfirmation) -> dict[str, Any]:
    """The audit details of finance's confirmation: the approval sheet reads
    the payment from them."""
    return {
        "amount": f"{req.received_amount:.2f}",
        "received_on": req.received_on.isoformat(),
        "reference": req.reference,
    }


def _returned_to(redo: list[Duty]) -> dict[str, Any]:
    """The audit detail of duties reopened to be redone; none when there are none."""
    return {"returned_to": duty_codes(redo)} if redo else {}


def _send_back_mismatch(parties: list[Role], items: list[Duty]) -> Refusal | None:
    """Refuse items and named parties that do not go together.

    Named parties and items both given, each item must be a named party's and
    each named party must have an item: otherwise a part of the decision would
    be dropped, or another party would get what the contact meant for one.
    """
    if not parties or not items:
        return None
    named = "、".join(role_name(p) for p in parties)
    for item in items:
        owner = DUTY_OWNER[item]
        if owner not in parties:
            return Refusal(
                "bad_argument",
                t(
                    "plan.send_back_item_not_of_party",
                    item=duty_names([item]),
                    owner=role_name(owner),
                    named=named,
                ),
            )
    for party in parties:
        if not any(DUTY_OWNER[item] is party for item in items):
            own = [d for d in SUBMISSION_DUTIES if DUTY_OWNER[d] is party]
            return Refusal(
                "bad_argument",
                t(
                    "plan.send_back_party_without_item",
                    party=role_name(party),
                    items=duty_names(own),
                ),
            )
    return None


def _withdrawn_label(
    state: PlanState, ob: Obligation, told: dict[str, Role | None]
) -> str:
    """A duty a cancellation withdrew, as its mail names it: an approval told
    to the tech dept (see ``_told_of_cancel``) is its gathering."""
    if told[ob.key] is not ob.owner and state.awaits_gathering(ob):
        return t("duties.approval_gathering")
    return t(f"duties.{ob.duty.value}")


def _partner_hold(joint: JointHolds) -> dict[str, str] | None:
    """The figures of the hold another plan of the payment puts on the
    plan, as the database read them; None when none does."""
    if joint.held is None:
        return None
    details = joint.held.get("details") or {}
    return {str(key): str(value) for key, value in details.items()}


def _payment_held(state: PlanState) -> PaymentHeld | None:
    """What holds the plan out of every batch by a payment, for its status."""
    reason, details = state.gathering_hold()
    return None if reason is None else PaymentHeld(reason=reason, details=details)


def _owed_label(ob: Obligation, holding: str = "", *, gathering: bool = False) -> str:
    """A duty as staff read it; one owed per request names the request, so
    three decisions owed read as three requests, not one line three times.
    ``holding`` names what the duty waits for (the open correction requests
    holding the org sign-off, see ``PlanState.corrections_holding``);
    ``gathering``, that it is an approval no batch has taken yet (see
    ``PlanState.awaits_gathering``)."""
    if gathering:
        return t("duties.approval_gathering")
    label = t(f"duties.{ob.duty.value}")
    _, _, ref = ob.key.partition(":")
    if ref:
        return t("plan.owed_with_ref", duty=label, ref=ref)
    return t("plan.owed_held_by", duty=label, corrections=holding) if holding else label


def _nudge_waits(ob: Obligation, plan_id: str) -> str:
    """What a nudged duty waits for, and the command that does it."""
    waits = t_or(
        t("mail.alarm_nudge.waits.default"), f"mail.alarm_nudge.waits.{ob.duty.value}"
    )
    return waits.format(
        plan_id=plan_id,
        owner=t(f"roles.{ob.owner.value}"),
        duty=t(f"duties.{ob.duty.value}"),
    )


def _stage_label(state: PlanState) -> str:
    """The plan's stage as staff read it; waiting for its publicity, with the
    day it opens."""
    label = t(f"stages.{state.stage.value}")
    window = state.publicity
    if state.stage is Stage.AWAITING_PUBLICITY and window is not None:
        return t("plan.stage_opens", stage=label, opens=window.start_day.isoformat())
    return label


def _change(field: str, old: str, new: str) -> str:
    """One value a correction changes: ``发票号码由 … 改为 …``."""
    return t("plan.correct_change", field=t(f"plan.field_{field}"), old=old, new=new)


def _problem_list(problems: list[Problem], total: int) -> str:
    """A refused upload's problems as its mail lists them, as the staff tool
    does: a reason recurring down one column is one line naming its rows (the
    annotated report attached marks every cell), the cells not listed
    counted."""
    lines, left_out = problem_lines(problems, total)
    if left_out > 0:
        lines.append(t("cli.problems_more", count=left_out))
    return "\n".join(lines)


def _uploaded_as(filename: str) -> str:
    """The refused file as its refusal mail names it: its name as uploaded,
    so a sender who uploads several files at once knows which to mend; ""
    when it has none. An ID number in the name (people name files after a
    candidate) is masked, though the staff tool masks it already: a file may
    come from elsewhere."""
    if not filename:
        return ""
    shown = mask_person_id_numbers(mask_id_numbers_in(filename))
    return t("mail.upload_refused.file_named", name=shown)


def _not_processed(message: str) -> ActionResult:
    """The answer to an action a system failure kept from being processed."""
    return ActionResult(accepted=False, message=t(message), retry=True)


def _blocked_rows(details: Sequence[Any]) -> list[str]:
    """The rows of the plan's text a blocked issuance's failure says the font
    cannot print (its second detail); empty for another cause.

    Asked of the patch only where the failure names rows: no failure of a
    worker from before did, so their histories replay without it.
    """
    if len(details) < 2 or not workflow.patched(BLOCKED_ROWS_NAMED):
        return []
    return [str(row) for row in details[1]]


_UPLOAD_ACTION = {
    DocumentKind.SCORE_SUMMARY: Action.UPLOAD_SCORE_SUMMARY,
    DocumentKind.SIGNED_SUMMARY_SCAN: Action.UPLOAD_SIGNED_SCAN,
    DocumentKind.CANDIDATE_SIGN_IN: Action.UPLOAD_CANDIDATE_SIGN_IN,
    DocumentKind.EVALUATOR_SIGN_IN: Action.UPLOAD_EVALUATOR_SIGN_IN,
}
