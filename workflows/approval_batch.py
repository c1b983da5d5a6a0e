"""ApprovalBatchWorkflow: the general manager's approval of ready plans (4.2.6).

A batch gathers every plan that waits for approval and is in no other open
batch, tells each plan it joined, mails the general manager, and waits for the
decision: all, some, or none (with reasons). Each plan then gets its verdict.

The weekly schedule starts it with no batch id. Such a run gathers nothing
itself: it names a batch as staff do (the CST second) and starts that batch,
whose workflow id is derived from its batch id like every other batch's.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    FailureError,
    WorkflowAlreadyStartedError,
)

with workflow.unsafe.imports_passed_through():
    from activities.batch_report import BatchReportActivities
    from activities.heartbeat import HEARTBEAT_TIMEOUT
    from activities.notify import MAIL_RETRY, Notifier, log_not_sent
    from activities.store import PlanStore
    from certflow.actions import (
        BatchDecisionRequest,
        BatchInput,
        BatchJoined,
        BatchResult,
        BatchStatus,
        BatchVerdict,
        batch_workflow_id,
        decision_role_refusal,
        new_batch_id,
        plan_workflow_id,
    )
    from certflow.activity_models import (
        BatchClosing,
        BatchHold,
        BatchReportRequest,
        ClaimRequest,
        HeldBackPayment,
        JointPayment,
        JointPaymentsRequest,
        Notification,
        PlanVerdictRecord,
        ReleaseRequest,
        split_payments,
    )
    from certflow.arguments import named_codes
    from certflow.free_text import text_problem
    from certflow.i18n import t
    from certflow.models import DocumentRef, Role
    from certflow.payment_difference import held_back_lines
    from certflow.plan import (
        REDO_DUTIES,
        Duty,
        duties_to_redo,
        redo_duties_by_party,
        redo_duty_codes,
    )
    from certflow.plan_details import batch_details, batch_summary

from workflows.exam_plan import ANSWER_RETRY

TIMEOUT = timedelta(minutes=2)
RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5))
# Patch id: a report mail given up (the mail server will never take it) is
# logged, a short mail without the report tells its recipients the batch waits,
# and the batch goes on; the code before this patch failed the batch.
REPORT_MAIL_GIVEN_UP = "report-mail-given-up"
# Patch id: a run of the weekly schedule names its batch after the CST second
# (B20261207-090000) and starts it as a batch of its own, which the staff tool
# reaches by that id. Before, the run was the batch, named after its workflow
# id's suffix (scheduled-2026-12-07T01:00:00Z), which the tool could not read.
SCHEDULED_BATCH_NAMED = "scheduled-batch-named"
# Patch id: once gathered, a batch reads the joint payments of its plans, and
# a decision sending one plan of such a payment back for the payment to be
# checked again (which voids its one invoice) is refused unless every other
# plan of it goes back in the same decision. Before, the invoice was voided on
# the plan sent back and stayed valid on the others.
JOINT_PAYMENTS_READ = "joint-payments-read"
# Patch id: a decision sending a plan back for its payment to be checked again
# reads the joint payments anew, and is checked against what they cover then:
# a plan of such a payment cancelled since gathering no longer counts. Before,
# the reading of the gathering stood, and the cancelled plan still refused it.
JOINT_PAYMENTS_AT_DECISION = "joint-payments-read-at-decision"
# Patch id: the plans a gathering held back (their joint payment's invoices
# disagree) are told to finance and the general manager, once per hold (see
# PlanStore.held_back_to_tell). Before, only their audit trail said so, and
# whoever gathered by hand.
HELD_BACK_TOLD = "held-back-told"
# Patch id: the plans a gathering held back are each signalled why
# (``batch_held_back``), for their status and Web UI page to say so. Before,
# only ``certflow status`` said so, from PostgreSQL.
HELD_BACK_SIGNALLED = "held-back-signalled"
# Patch id: a decision approving some plans of a joint payment and rejecting
# others tells each rejected plan which were approved, for its rejection mail
# to say how their invoice is corrected. Before, it was not told.
JOINT_SPLIT_TOLD = "joint-split-told"
# Patch id: the general manager hears of the plans a gathering held back,
# with why: the batch's mail lists them; a gathering that forms no batch
# mails finance and the general manager those their payment holds (a
# difference, an invoice after one, a joint payment's plan owing either),
# once per hold and again a week on (see PlanStore.payment_holds_told).
# Before, the general manager heard of a plan held for its payment from no
# mail (finance and the tech dept were mailed when its difference opened).
HELD_BACK_IN_MAIL = "held-back-in-mail"
# Patch id: a decided batch's row names who decided and when (the workflow's
# time), and each plan's row its verdict and the reason of a rejection.
# Before, the row was only marked decided, at the database's clock.
DECISION_RECORDED = "batch-decision-recorded"
# The seconds a scheduled run tries, from its own on, for a batch id no other
# batch has had: another holds one only if started in that very second.
NAMING_TRIES = 60


@workflow.defn
class ApprovalBatchWorkflow:
    """One issuance batch (发证批次) from gathering to the general manager's verdict."""

    @workflow.init
    def __init__(self, input: BatchInput) -> None:
        # A scheduled run from before SCHEDULED_BATCH_NAMED is the batch: it
        # takes its workflow id's suffix, which the schedule makes unique
        # (…-scheduled-2026-12-07T01:00:00Z). Those batches keep that id.
        self._batch_id = input.batch_id or workflow.info().workflow_id.removeprefix(
            "approval-batch-"
        )
        self._plan_ids: list[str] = []
        self._closed_empty = False
        self._decision: BatchDecisionRequest | None = None
        self._started_batch = ""
        self._requested_by = input.requested_by
        self._requested_role = input.requested_role
        # The payments covering a plan of the batch and others (合并缴费), and
        # whether they were read: no decision is taken before.
        self._joint: list[JointPayment] = []
        self._joint_read = False
        self._ready = False
        # The plans the gathering held back, for the batch's mail to list
        # (see HELD_BACK_IN_MAIL).
        self._held: list[BatchHold] = []
        # One decision at a time: a decision reads the joint payments before
        # it is taken, and a second one arriving meanwhile must find it taken.
        self._deciding = asyncio.Lock()

    @workflow.run
    async def run(self, input: BatchInput) -> BatchResult:
        if not input.batch_id and workflow.patched(SCHEDULED_BATCH_NAMED):
            return await self._start_named_batch(input)
        self._describe()
        self._plan_ids = await workflow.execute_activity_method(
            PlanStore.claim_ready_plans,
            # Who gathers goes to the batch's row and each plan's audit trail.
            ClaimRequest(
                batch_id=self._batch_id,
                requested_by=self._requested_by,
                requested_role=self._requested_role,
                at=workflow.now(),
            ),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )
        self._describe()
        if workflow.patched(HELD_BACK_TOLD):
            await self._tell_held_back()
        holds: list[BatchHold] = []
        if workflow.patched(HELD_BACK_SIGNALLED):
            holds = await self._signal_held_back()
        # Those held for their payment not told of before: mailed if no
        # batch forms, else the batch's mail lists them with the others.
        waiting: list[BatchHold] = []
        if holds and workflow.patched(HELD_BACK_IN_MAIL):
            self._held = holds
            waiting = await self._payment_holds_told()
        if not self._plan_ids:
            workflow.logger.info("batch empty", extra={"batch_id": self._batch_id})
            return await self._close_empty(waiting)

        gone: list[str] = []
        for plan_id in self._plan_ids:
            handle = workflow.get_external_workflow_handle(plan_workflow_id(plan_id))
            try:
                await handle.signal(
                    "batch_joined", BatchJoined(batch_id=self._batch_id)
                )
            except FailureError:
                # The plan's workflow no longer runs (an operator terminated it):
                # it is not waiting for approval, whatever its last recorded stage.
                gone.append(plan_id)
        if gone:
            workflow.logger.warning(
                "plans without a running workflow left out",
                extra={"batch_id": self._batch_id, "count": len(gone)},
            )
            await workflow.execute_activity_method(
                PlanStore.mark_plans_gone,
                ReleaseRequest(batch_id=self._batch_id, plan_ids=gone),
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
            self._plan_ids = [p for p in self._plan_ids if p not in gone]
            self._describe()
        if not self._plan_ids:
            return await self._close_empty(waiting)
        if workflow.patched(JOINT_PAYMENTS_READ):
            self._joint = await self._joint_payments(RETRY)
            self._joint_read = True
        self._ready = True
        # The approval form (xlsx and PDF: plans, sites, passing candidates,
        # fees, payments, invoices) goes to the general manager with the mail.
        report = await workflow.execute_activity_method(
            BatchReportActivities.build_batch_report,
            BatchReportRequest(batch_id=self._batch_id, plan_ids=self._plan_ids),
            start_to_close_timeout=timedelta(minutes=5),
            # It heartbeats: a worker dying under it costs 30 s, not 5 minutes.
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=RETRY,
        )
        await self._mail_report(report)

        await workflow.wait_condition(lambda: self._decision is not None)
        decision = self._decision
        assert decision is not None
        approved = self._plan_ids if decision.approve_all else sorted(decision.approve)
        rejected = {
            plan_id: decision.reject.get(plan_id, "")
            for plan_id in self._plan_ids
            if plan_id not in approved
        }
        decided_at = workflow.now()
        split = split_payments(self._joint, approved, sorted(rejected))
        if split and not workflow.patched(JOINT_SPLIT_TOLD):
            split = []  # as decided before: the rejected plans were not told
        approved_with = {p: s.approved for s in split for p in s.rejected}
        for plan_id in self._plan_ids:
            verdict = BatchVerdict(
                batch_id=self._batch_id,
                approved=plan_id in approved,
                decided_by=decision.actor.person,
                reason=rejected.get(plan_id, ""),
                return_to=decision.return_to.get(plan_id, []),
                approved_with=approved_with.get(plan_id, []),
            )
            handle = workflow.get_external_workflow_handle(plan_workflow_id(plan_id))
            await handle.signal("batch_verdict", verdict)
        if rejected:
            await workflow.execute_activity_method(
                PlanStore.release_plans,
                ReleaseRequest(
                    batch_id=self._batch_id,
                    plan_ids=sorted(rejected),
                    returned=sorted(p for p in decision.return_to if p in rejected),
                    decided_at=decided_at,
                ),
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
        closing = BatchClosing(batch_id=self._batch_id)
        if workflow.patched(DECISION_RECORDED):
            closing = BatchClosing(
                batch_id=self._batch_id,
                decided_by=decision.actor.person,
                decided_at=decided_at,
                verdicts=[
                    PlanVerdictRecord(
                        plan_id=plan_id,
                        approved=plan_id in approved,
                        reason=rejected.get(plan_id, ""),
                    )
                    for plan_id in self._plan_ids
                ],
            )
        await self._close(closing)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return BatchResult(
            batch_id=self._batch_id, approved=approved, rejected=rejected
        )

    async def _start_named_batch(self, input: BatchInput) -> BatchResult:
        """Start the batch this scheduled run names, and end: the batch goes on.

        Its id is the CST second of this run, as ``certflow batch gather``
        names one, or the next second free. A workflow id once used is never
        used again here: a batch of that id may have gathered and been decided,
        and its approved plans still name it.
        """
        at = workflow.now()
        for second in range(NAMING_TRIES):
            batch_id = new_batch_id(at + timedelta(seconds=second))
            try:
                await workflow.start_child_workflow(
                    ApprovalBatchWorkflow.run,
                    BatchInput(
                        batch_id=batch_id,
                        requested_by=input.requested_by,
                        requested_role=input.requested_role,
                    ),
                    id=batch_workflow_id(batch_id),
                    static_summary=batch_summary(batch_id),
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    # The batch waits for the general manager, for days
                    # maybe; this run ends once it has started.
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                )
            except WorkflowAlreadyStartedError:
                continue
            self._started_batch = self._batch_id = batch_id
            self._describe()
            workflow.logger.info(
                "scheduled batch started", extra={"batch_id": batch_id}
            )
            return BatchResult(batch_id=batch_id, approved=[], rejected={})
        raise ApplicationError(
            f"No free batch id in the {NAMING_TRIES} seconds from {at.isoformat()}.",
            type="batch_id_taken",
            non_retryable=True,
        )

    async def _close_empty(self, waiting: list[BatchHold]) -> BatchResult:
        """End a batch that gathered no plan, its id left free; first mail
        of the plans ``waiting`` for finance, whom no batch lists."""
        if waiting:
            await self._tell_waiting_on_finance(waiting)
        self._closed_empty = True
        await self._close()
        return BatchResult(batch_id=self._batch_id, approved=[], rejected={})

    async def _mail_report(self, report: list[DocumentRef]) -> None:
        """Mail the report; if the server will never take it, say so without it.

        The report is the mail most likely refused for good (too large for the
        server, its file damaged). The batch goes on without it: a short mail
        tells the general manager and the tech dept that the batch waits and
        how to get the report, the general manager still decides, and the
        plans get their verdicts instead of waiting in a failed batch.
        """
        fields = {
            "batch_id": self._batch_id,
            "count": str(len(self._plan_ids)),
            "plans": "\n".join(self._plan_ids),
            "held": "",
            # The staff tool's commands, as ``batch decide`` takes them. A
            # field of the mail alone: no command of the batch changes.
            "decide": t(
                "mail.batch_ready.decide",
                batch_id=self._batch_id,
                allowed=redo_duties_by_party(),
            ),
        }
        if self._held:
            fields["held"] = t(
                "mail.batch_ready.held",
                count=len(self._held),
                lines=held_back_lines(self._held),
            )
        try:
            await self._mail("batch_ready", fields, report)
        except ActivityError:
            if not workflow.patched(REPORT_MAIL_GIVEN_UP):
                raise  # as recorded before the patch: the batch failed
            log_not_sent(workflow.logger, "batch_ready", batch_id=self._batch_id)
        else:
            return
        try:
            await self._mail("batch_ready_without_report", fields, [])
        except ActivityError:
            log_not_sent(
                workflow.logger, "batch_ready_without_report", batch_id=self._batch_id
            )

    async def _tell_held_back(self) -> None:
        """Mail finance, who corrects the invoices, and the general manager,
        whose batch goes without them, of the plans this gathering held back:
        one mail per joint payment, naming its plans and their invoices. A
        mail given up is logged, and the batch goes on."""
        payments: list[HeldBackPayment] = await workflow.execute_activity_method(
            PlanStore.held_back_to_tell,
            ClaimRequest(batch_id=self._batch_id, at=workflow.now()),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )
        for payment in payments:
            workflow.logger.warning(
                "plans held back",
                extra={"batch_id": self._batch_id, "count": len(payment.plan_ids)},
            )
            fields = {
                "batch_id": self._batch_id,
                "plans": "、".join(payment.plan_ids),
                "invoices": payment.invoices,
            }
            try:
                await self._mail(
                    "batch_held_back",
                    fields,
                    [],
                    roles=[Role.FINANCE, Role.GENERAL_MANAGER],
                    key=payment.plan_ids[0],
                )
            except ActivityError:
                log_not_sent(
                    workflow.logger, "batch_held_back", batch_id=self._batch_id
                )

    async def _signal_held_back(self) -> list[BatchHold]:
        """Tell each plan this gathering held back why, and when; return
        the holds."""
        holds: list[BatchHold] = await workflow.execute_activity_method(
            PlanStore.batch_holds,
            ClaimRequest(batch_id=self._batch_id),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )
        for hold in holds:
            handle = workflow.get_external_workflow_handle(
                plan_workflow_id(hold.plan_id)
            )
            try:
                await handle.signal("batch_held_back", hold)
            except FailureError:
                pass  # its workflow no longer runs: nobody to tell
        return holds

    async def _payment_holds_told(self) -> list[BatchHold]:
        """Mark the plans this gathering held back for their payment told of
        (the batch's mail lists them); those not told of before."""
        holds: list[BatchHold] = await workflow.execute_activity_method(
            PlanStore.payment_holds_told,
            ClaimRequest(batch_id=self._batch_id, at=workflow.now()),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )
        return holds

    async def _tell_waiting_on_finance(self, holds: list[BatchHold]) -> None:
        """Mail finance, who settles, and the general manager, whom no batch
        mail tells, of the plans a gathering that formed no batch held back
        for their payment. A mail given up is logged, and the batch ends."""
        workflow.logger.warning(
            "plans held back for their payment",
            extra={"batch_id": self._batch_id, "count": len(holds)},
        )
        fields = {
            "batch_id": self._batch_id,
            "count": str(len(holds)),
            "lines": held_back_lines(holds),
        }
        try:
            await self._mail(
                "batch_held_for_payment",
                fields,
                [],
                roles=[Role.FINANCE, Role.GENERAL_MANAGER],
            )
        except ActivityError:
            log_not_sent(
                workflow.logger, "batch_held_for_payment", batch_id=self._batch_id
            )

    async def _mail(
        self,
        template: str,
        fields: dict[str, str],
        attachments: list[DocumentRef],
        *,
        roles: tuple[Role, ...] | list[Role] = (Role.GENERAL_MANAGER, Role.TECH_DEPT),
        key: str = "",
    ) -> None:
        """Mail ``roles`` (the general manager and tech dept unless told);
        retried until sent or given up. ``key`` tells apart mails of one
        template the batch sends more than once."""
        suffix = f"/{key}" if key else ""
        await workflow.execute_activity_method(
            Notifier.notify,
            Notification(
                plan_id="-",
                template=template,
                roles=list(roles),
                fields=fields,
                attachments=attachments,
                idempotency_key=f"{workflow.info().workflow_id}/{template}{suffix}",
            ),
            start_to_close_timeout=TIMEOUT,
            # It heartbeats: a worker dying mid-send costs half a minute, not
            # the two minutes of TIMEOUT (see SEND_CLAIM in activities/notify.py).
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=MAIL_RETRY,
        )

    def _describe(self) -> None:
        """Show the batch's progress on its Web UI page."""
        workflow.set_current_details(batch_details(self.status()))

    async def _close(self, closing: BatchClosing | None = None) -> None:
        """Close the batch's row: ``closing`` says what was decided; a batch
        closed empty has no row, and sends its id alone."""
        self._describe()
        await workflow.execute_activity_method(
            PlanStore.close_batch,
            closing or BatchClosing(batch_id=self._batch_id),
            start_to_close_timeout=TIMEOUT,
            retry_policy=RETRY,
        )

    @workflow.query
    def status(self) -> BatchStatus:
        decision = self._decision
        approved = (
            (self._plan_ids if decision.approve_all else decision.approve)
            if decision
            else []
        )
        rejected = [p for p in self._plan_ids if p not in approved] if decision else []
        return BatchStatus(
            batch_id=self._batch_id,
            plan_ids=self._plan_ids,
            decided=decision is not None,
            approved=list(approved),
            rejected=dict(decision.reject) if decision else {},
            closed_empty=self._closed_empty,
            returned={
                plan_id: duties_to_redo(duties)
                for plan_id, duties in sorted(decision.return_to.items())
            }
            if decision
            else {},
            started_batch=self._started_batch,
            requested_by=self._requested_by,
            requested_role=self._requested_role,
            decided_by=decision.actor.person if decision else "",
            joint_payments=self._joint,
            gathered=self._ready,
            split_payments=split_payments(self._joint, list(approved), rejected),
        )

    async def _joint_payments(self, retry: RetryPolicy) -> list[JointPayment]:
        """The payments covering a plan of the batch and other plans, as now."""
        payments: list[JointPayment] = await workflow.execute_activity_method(
            PlanStore.joint_payments,
            JointPaymentsRequest(batch_id=self._batch_id, plan_ids=self._plan_ids),
            start_to_close_timeout=TIMEOUT,
            retry_policy=retry,
        )
        return payments

    @workflow.update
    async def decide(self, decision: BatchDecisionRequest) -> BatchStatus:
        """The general manager's decision; the validator refuses a malformed one.

        A decision sending a plan back for its payment to be checked again
        reads the joint payments first (a plan of one may have been cancelled
        since the batch gathered), and is refused here if it would void a
        joint payment's invoice in part.
        """
        async with self._deciding:
            if self._decision is not None:
                raise ApplicationError(t("plan.already_done"), type="already_done")
            # A batch gathered before JOINT_PAYMENTS_READ decides as before.
            if (
                self._joint_read
                and _checked_again(decision)
                and workflow.patched(JOINT_PAYMENTS_AT_DECISION)
            ):
                try:
                    self._joint = await self._joint_payments(ANSWER_RETRY)
                except ActivityError:
                    raise ApplicationError(
                        t("batch.joint_unread"), type="not_ready"
                    ) from None
                self._describe()
            self._check_joint_returns(decision)
            self._decision = decision
            self._describe()
            return self.status()

    @decide.validator
    def _check_decision(self, decision: BatchDecisionRequest) -> None:
        refusal = decision_role_refusal(decision.actor.role)
        if refusal is not None:
            raise ApplicationError(refusal, type="wrong_role", non_retryable=True)
        if self._decision is not None:
            raise ApplicationError(t("plan.already_done"), type="already_done")
        if not self._plan_ids or not self._ready:
            raise ApplicationError(t("batch.not_gathered"), type="not_ready")
        # Only here: a replay runs no validator (see ``certflow.free_text``).
        problem = text_problem(decision)
        if problem is not None:
            raise ApplicationError(problem, type="bad_argument")
        _check_rejections(decision)
        named = set(decision.approve) | set(decision.reject) | set(decision.return_to)
        for plan_id in sorted(named):
            if plan_id not in self._plan_ids:
                raise ApplicationError(
                    t("plan.not_in_batch", plan_id=plan_id, batch_id=self._batch_id),
                    type="bad_argument",
                )
        both = (
            list(decision.reject)
            if decision.approve_all
            else [p for p in dict.fromkeys(decision.approve) if p in decision.reject]
        )
        if both:
            # Named: the general manager sees which plan was given both ways.
            plans = "、".join(both)
            raise ApplicationError(t("batch.both", plans=plans), type="bad_argument")
        if len(set(decision.approve)) < len(decision.approve):
            # The staff tool sends each once; another client is told.
            twice = [p for p in decision.approve if decision.approve.count(p) > 1]
            raise ApplicationError(
                t("batch.approved_twice", plan_id=twice[0]), type="bad_argument"
            )
        if not decision.approve_all:
            undecided = [
                p
                for p in self._plan_ids
                if p not in decision.approve and p not in decision.reject
            ]
            if undecided:
                raise ApplicationError(
                    t("batch.undecided", plans="、".join(undecided)),
                    type="bad_argument",
                )
            if any(not reason.strip() for reason in decision.reject.values()):
                raise ApplicationError(t("plan.reason_required"), type="bad_argument")
        self._check_returns(decision)
        # Whether it voids a joint payment's invoice in part is checked by the
        # update itself, against the joint payments as they are then.

    def _check_returns(self, decision: BatchDecisionRequest) -> None:
        """Refuse a send-back the plans could not act on (4.2.6, stage 5-8).

        Only a plan rejected in this decision goes back, to redo duties of the
        payment and sign-off stage; anything else would be dropped silently or
        reopen a duty the plan cannot take again.
        """
        for plan_id, duties in sorted(decision.return_to.items()):
            if decision.approve_all or plan_id not in decision.reject:
                raise ApplicationError(
                    t("batch.return_not_rejected", plan_id=plan_id),
                    type="bad_argument",
                )
            if not duties:
                raise ApplicationError(
                    t(
                        "batch.return_nothing",
                        plan_id=plan_id,
                        allowed=redo_duty_codes(),
                    ),
                    type="bad_argument",
                )
            for duty in duties:
                if duty not in REDO_DUTIES:
                    # A wrong invoice is corrected by finance once the plan is
                    # out of the batch: the refusal says how.
                    refusal = (
                        "batch.return_invoice"
                        if duty is Duty.INVOICE
                        else "batch.return_bad_duty"
                    )
                    raise ApplicationError(
                        t(
                            refusal,
                            plan_id=plan_id,
                            duty=named_codes([duty.value], "duties."),
                            allowed=redo_duty_codes(),
                        ),
                        type="bad_argument",
                    )

    def _check_joint_returns(self, decision: BatchDecisionRequest) -> None:
        """Refuse a send-back that would void a joint payment's invoice in part.

        A joint payment (合并缴费) is one payment, invoiced as a whole (one
        invoice carried by each of its plans) or plan by plan. Sending one
        of them back for the payment to be checked again (``payment_check``,
        or ``application``, which is followed by it) voids the payment's
        invoice: so every other plan of the payment must go back with it in
        the same decision. A plan of it outside the batch (approved or
        issued before, or not ready yet) cannot: then the plan is rejected
        without a return, and a wrong invoice is finance's to correct or to
        reverse (红字发票). ``decide`` reads the joint payments anew before
        it asks.
        """
        checked_again = _checked_again(decision)
        for payment in self._joint:
            sent = [p for p in payment.plan_ids if p in checked_again]
            if not sent:
                continue
            plan_id = sent[0]
            others = "、".join(p for p in payment.plan_ids if p != plan_id)
            if payment.outside:
                raise ApplicationError(
                    t(
                        "batch.joint_return_outside",
                        plan_id=plan_id,
                        others=others,
                        voids=_voids(payment),
                        outside="、".join(payment.outside),
                    ),
                    type="bad_argument",
                )
            kept = [
                p
                for p in payment.plan_ids
                if p in self._plan_ids and p not in checked_again
            ]
            if kept:
                raise ApplicationError(
                    t(
                        "batch.joint_return_partial",
                        plan_id=plan_id,
                        others=others,
                        voids=_voids(payment),
                        kept="、".join(kept),
                    ),
                    type="bad_argument",
                )


def _check_rejections(decision: BatchDecisionRequest) -> None:
    """Refuse a plan given two reasons: ``reject`` would keep one of them
    without a word. ``rejections`` lists them as given (empty from a staff
    tool from before); they must be the reasons ``reject`` holds."""
    twice = decision.rejected_twice()
    if twice is not None:
        raise ApplicationError(
            t("batch.rejected_twice", plan_id=twice), type="bad_argument"
        )
    given = {r.plan_id: r.reason for r in decision.rejections}
    if decision.rejections and given != decision.reject:
        raise ApplicationError(t("batch.rejections_differ"), type="bad_argument")


def _voids(payment: JointPayment) -> str:
    """What sending the payment back voids, said by how it is invoiced."""
    if payment.invoiced_whole is None:
        return t("batch.joint_voids_none")
    return t(
        "batch.joint_voids_whole"
        if payment.invoiced_whole
        else "batch.joint_voids_apart"
    )


def _checked_again(decision: BatchDecisionRequest) -> set[str]:
    """The plans the decision sends back for their payment to be checked again
    (``payment_check``, or ``application``, which is followed by it)."""
    return {
        plan_id
        for plan_id, duties in decision.return_to.items()
        if Duty.PAYMENT_CHECK in duties_to_redo(duties)
    }
