"""What the Temporal Web UI shows of a plan besides its search attributes.

The Web UI lists plans by their search attributes; a plan's own page shows a
*summary* fixed at start and *current details* the workflow keeps up to date
(Markdown). Both are built here from the plan's state, in Chinese, and hold what
an operator needs to see at a glance: the stage, what is owed by whom until
when, how many reminders went out. No name, ID number or score ever goes in:
the texts are visible to everyone who may open the Web UI.
"""

from __future__ import annotations

from datetime import datetime

from certflow.actions import BatchStatus
from certflow.i18n import t
from certflow.models import PlanInfo, Stage
from certflow.payment_difference import HOLD_JOINT, hold_text, joint_cause
from certflow.plan import Obligation, PlanState, blocked_text, duty_names
from certflow.timeutil import format_cst, format_deadline


def plan_summary(info: PlanInfo) -> str:
    """The one line the Web UI shows under a plan's id, fixed when it starts."""
    return t(
        "details.plan_summary",
        plan_id=info.plan_id,
        site_code=info.site_code,
        certificate=info.certificate,
        level=info.level.chinese,
        module_code=info.module_code,
    )


def batch_summary(batch_id: str) -> str:
    """The one line the Web UI shows under an approval batch's id."""
    return t("details.batch_summary", batch_id=batch_id)


def current_details(state: PlanState, now: datetime) -> str:
    """The plan as an operator reads it on its Web UI page, as Markdown."""
    lines = [
        t(
            "details.title",
            plan_id=state.info.plan_id,
            stage=t(f"stages.{state.stage.value}"),
        ),
        "",
    ]
    if state.cancellation is not None:
        c = state.cancellation
        lines += [
            t(
                "details.cancelled",
                day=format_cst(c.at),
                role=t(f"roles.{c.role.value}"),
                stage=t(f"stages.{c.stage.value}"),
            ),
            "",
        ]
    if state.stage is Stage.NO_CERTIFICATES:
        lines += [t("details.no_certificates"), ""]
    owed = sorted(
        state.owed_obligations(),
        key=lambda ob: (ob.deadline_day is None, ob.deadline_day, ob.key),
    )
    if owed:
        lines += [t("details.owed_header"), t("details.owed_rule")]
        lines += [_owed_row(state, ob, now) for ob in owed]
        lines.append("")
    elif state.cancellation is None:
        lines += [t("details.nothing_owed"), ""]
    facts: list[str] = []
    days = [ob.deadline_day for ob in owed if ob.deadline_day is not None]
    if days:
        # As the table and the staff tool say it: the last day, to 23:59:59.
        facts.append(t("details.next_deadline", deadline=format_deadline(min(days))))
    if state.calendar_missing_years:
        years = "、".join(str(y) for y in state.calendar_missing_years)
        facts.append(t("details.calendar_missing", years=years))
    if state.publicity is not None:
        # Waiting for its first day, nobody owes anything: say what comes.
        key = (
            "details.publicity_waiting"
            if state.stage is Stage.AWAITING_PUBLICITY
            else "details.publicity"
        )
        facts.append(
            t(
                key,
                start=state.publicity.start_day.isoformat(),
                end=state.publicity.end_day.isoformat(),
            )
        )
    pending = len(state.open_corrections())
    if pending:
        facts.append(t("details.corrections_open", count=pending))
    if state.payment_waits_for_corrections:
        facts.append(t("details.payment_waits", count=pending))
    if state.batch is not None:
        facts.append(t("details.batch", batch_id=state.batch.batch_id))
    hold = state.held_back()
    reason, details = state.gathering_hold()
    if hold is not None:
        plans = "、".join(dict.fromkeys(h.plan_id for h in hold.invoices))
        at = format_cst(hold.at)
        # A plan's own payment (its difference, or its invoice after one)
        # holds it when no invoices of a joint payment do.
        key = (
            f"details.held_back_{hold.payment_reason}"
            if hold.payment_reason and not hold.invoices
            else "details.held_back"
        )
        fields = {**hold.payment_details, "plans": plans}
        if hold.payment_reason == HOLD_JOINT:
            fields["cause"] = joint_cause(hold.payment_details)
        facts.append(t(key, at=at, batch_id=hold.batch_id, **fields))
    elif reason is not None:
        # No gathering has left it out yet: what will, until it lifts.
        facts.append(hold_text(reason, details))
    if state.certificates_issued:
        facts.append(t("details.certificates", count=state.certificates_issued))
    if state.certificates_revoked:
        revoked = state.certificates_revoked
        facts.append(t("details.certificates_revoked", count=revoked))
    if state.certificates_held:
        held = len(state.certificates_held)
        facts.append(t("details.certificates_held", count=held))
    if state.issuance_blocked is not None:
        cause = blocked_text(state.issuance_blocked, state.issuance_blocked_rows)
        facts.append(t("details.issuance_blocked", cause=cause))
    facts.append(t("details.as_of", time=format_cst(now)))
    lines += [f"- {fact}" for fact in facts]
    return "\n".join(lines)


def _owed_row(plan: PlanState, ob: Obligation, now: datetime) -> str:
    if ob.overdue(now):
        state = t("details.overdue")
    elif ob.deadline_day is None:
        state = t("details.no_deadline_state")
    else:
        state = t("details.on_time")
    if ob.reminder_mails or ob.escalation_mails:
        alarms = t(
            "details.alarms",
            reminders=ob.reminder_mails,
            escalations=ob.escalation_mails,
        )
        state = t("details.state_with_alarms", state=state, alarms=alarms)
    waited = ob.working_days_waited(now) if ob.deadline_day is None else None
    if waited is not None:
        waiting = t("details.waiting", days=waited, nudges=ob.nudge_mails)
        state = t("details.state_with_alarms", state=state, alarms=waiting)
    # An approval no batch has taken yet is its gathering, the tech dept's.
    gathering = plan.awaits_gathering(ob)
    duty = "approval_gathering" if gathering else ob.duty.value
    return t(
        "details.owed_row",
        duty=t(f"duties.{duty}"),
        owner=t(f"roles.{plan.acting_owner(ob).value}"),
        deadline=(
            format_deadline(ob.deadline_day)
            if ob.deadline_day is not None
            else t("details.no_deadline")
        ),
        state=state,
    )


def timer_summary(wake: datetime) -> str:
    """What the plan's one timer waits for, as the Web UI's event list names it."""
    return t("details.timer", time=format_cst(wake))


def batch_details(status: BatchStatus) -> str:
    """An approval batch as an operator reads it on its Web UI page, as Markdown."""
    batch_id = status.batch_id
    if status.started_batch:
        return t("details.batch_scheduled_started", batch_id=status.started_batch)
    if status.closed_empty:
        return t("details.batch_empty", batch_id=batch_id)
    if not status.plan_ids:
        return t("details.batch_gathering", batch_id=batch_id)
    if not status.decided:
        head = t("details.batch_waiting", batch_id=batch_id, count=len(status.plan_ids))
        return "\n".join([head, "", f"- {_plans('batch_plans', status.plan_ids)}"])
    approved = [p for p in status.plan_ids if p in status.approved]
    rejected = [p for p in status.plan_ids if p not in status.approved]
    head = t(
        "details.batch_decided",
        batch_id=batch_id,
        approved=len(approved),
        rejected=len(rejected),
    )
    lines = [head, ""]
    if approved:
        lines.append(f"- {_plans('batch_approved', approved)}")
    waiting = [p for p in rejected if p not in status.returned]
    if waiting:
        lines.append(f"- {_plans('batch_rejected', waiting)}")
    for plan_id, duties in status.returned.items():
        redo = duty_names(duties)
        lines.append(f"- {t('details.batch_returned', plan_id=plan_id, duties=redo)}")
    return "\n".join(lines)


def _plans(key: str, plan_ids: list[str]) -> str:
    return t(f"details.{key}", plans="、".join(plan_ids))
