"""What a correction request (成绩修改申请) asks, said to those who act on it.

The regional manager decides a request, the info center applies it, and the
requester is told the outcome: each needs to see which candidate, which
score, what it is now, what is asked and why. A plan keeps only request
numbers and states; the rest is read from PostgreSQL where it is said
(``REQUEST_QUERY``): in the mails about one request (written by the
notification activity) and by ``certflow correction show``. Never in a log,
a search attribute or a plan's history.

The candidate is named by the admission number and the name masked to its
first character, as the mailbox's replies name them: the admission number
finds the candidate in the score summary, and the masked name is a check
that it is the one meant. Texts: ``correction_details.*``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from certflow.i18n import t, t_or
from certflow.privacy import mask_name
from certflow.timeutil import format_cst

# The staff id the exam mailbox files requests under (activities.mail_intake).
MAILBOX_PERSON = "mailbox"
# A plan's requests with their candidates' current scores (a request of a
# candidate since gone from the scores still shows, without them).
REQUEST_QUERY = """
    SELECT r.request_id, r.plan_id, r.admission_number, r.field,
        r.published_score, r.requested_score, r.reason, r.requester,
        r.requester_email, r.received_at, r.entered_by, r.status,
        r.decided_by, r.decided_at, r.decision_reason, r.applied_by,
        r.applied_at, s.name, s.theory, s.practical, s.total,
        s.status AS exam_status, s.passed
    FROM correction_requests r
    LEFT JOIN scores s
        ON s.plan_id = r.plan_id AND s.admission_number = r.admission_number
"""
# One request of a plan: $1 the plan, $2 the request id.
ONE_REQUEST = f"{REQUEST_QUERY} WHERE r.plan_id = $1 AND r.request_id = $2"
# A request of a plan ($1) by any of the ids $2 (upper case), as typed.
FIND_REQUEST = (
    f"{REQUEST_QUERY} WHERE r.plan_id = $1 AND upper(r.request_id) = ANY($2::text[])"
)
# Every request of a plan ($1), in the order filed.
PLAN_REQUESTS = f"{REQUEST_QUERY} WHERE r.plan_id = $1 ORDER BY r.request_id"
# What a request changed ($1 the plan, $2 the request), in the order written.
REQUEST_CHANGES = """
    SELECT field, old_value, new_value FROM score_history
    WHERE plan_id = $1 AND request_id = $2 ORDER BY id
"""

Row = Mapping[str, Any]
# The fields that hold a score (the others: the status, the pass result).
SCORE_FIELDS = frozenset({"theory", "practical", "total"})


def field_label(field: str) -> str:
    """理论成绩, 实操成绩, 总成绩, 考试状态, 考核结果: a score's name."""
    return t_or(field, f"cli.fields.{field}")


def history_value(field: str, value: str | None) -> str:
    """A value of the score history as staff say it: 合格 not True, 缺考 not
    absent; a score with two decimals, as the scores show it (the history
    keeps a requested 60.1 as typed); an empty one as ``—``."""
    if not value:
        return "—"
    if field in SCORE_FIELDS:
        try:
            return f"{Decimal(value):.2f}"
        except ArithmeticError:
            return value
    return t_or(value, f"cli.history_value.{field}_{value.lower()}")


def candidate(row: Row) -> str:
    """``陈** （准考证号 2026110412004）``, or the number alone for a
    candidate no longer in the plan's scores."""
    if row["name"] is None:
        return t("correction_details.candidate_gone", admission=row["admission_number"])
    return t(
        "correction_details.candidate",
        name=mask_name(row["name"]),
        admission=row["admission_number"],
    )


def current_value(row: Row) -> str:
    """The score the request would change, as recorded now: a score with two
    decimals, the status as 正常/缺考/违纪, ``（无）`` for a score the
    candidate does not have."""
    field = row["field"]
    if row["name"] is None:
        return "—"
    if field == "status":
        return history_value("status", row["exam_status"])
    value: Decimal | None = row[field]
    if value is None:
        return t("correction_details.no_score")
    return f"{value:.2f}"


def state_label(row: Row) -> str:
    """The request's state as staff read it (待核实, 不予修改…)."""
    return t_or(row["status"], f"correction_status.{row['status']}")


def asks(row: Row) -> str:
    """One sentence of what the request asks, for a mail: no ``label：value``
    shape, so a mail quoted back to the exam mailbox is read as no request."""
    published = (row["published_score"] or "").strip()
    return t(
        "correction_details.asks",
        candidate=candidate(row),
        field=field_label(row["field"]),
        current=current_value(row),
        requested=row["requested_score"],
        published=(
            t("correction_details.published", published=published) if published else ""
        ),
    )


def for_staff(row: Row) -> str:
    """What the regional manager decides on (and the info center applies):
    what is asked, why, by whom, and when it came."""
    return t(
        "correction_details.for_staff",
        asks=asks(row),
        reason=" ".join(row["reason"].split()),
        requester=_requester(row),
        received=format_cst(row["received_at"]),
        entered=_entered(row),
    )


def changes(rows: list[Row]) -> str:
    """What applying a request changed, one clause per field; empty for none."""
    return "；".join(
        t(
            "correction_details.change",
            field=field_label(row["field"]),
            old=history_value(row["field"], row["old_value"]),
            new=history_value(row["field"], row["new_value"]),
        )
        for row in rows
    )


def pairs(row: Row) -> list[tuple[str, str]]:
    """Label and value of every fact of a request, for the staff tool."""
    label = "correction_details.label"
    facts = [
        (t(f"{label}.request"), row["request_id"]),
        (t(f"{label}.state"), state_label(row)),
        (t(f"{label}.candidate"), candidate(row)),
        (t(f"{label}.field"), field_label(row["field"])),
        (t(f"{label}.current"), current_value(row)),
        (t(f"{label}.published"), (row["published_score"] or "").strip() or "—"),
        (t(f"{label}.requested"), row["requested_score"]),
        (t(f"{label}.reason"), " ".join(row["reason"].split())),
        (t(f"{label}.requester"), _requester(row)),
        (t(f"{label}.received"), format_cst(row["received_at"])),
        (t(f"{label}.entered"), _entered(row)),
    ]
    if row["decided_at"] is not None:
        decided = t(
            "correction_details.decided",
            person=row["decided_by"] or "—",
            at=format_cst(row["decided_at"]),
        )
        if row["decision_reason"]:
            decided += t(
                "correction_details.decision_reason",
                reason=" ".join(row["decision_reason"].split()),
            )
        facts.append((t(f"{label}.decided"), decided))
    if row["applied_at"] is not None:
        applied = t(
            "correction_details.decided",
            person=row["applied_by"] or "—",
            at=format_cst(row["applied_at"]),
        )
        facts.append((t(f"{label}.applied"), applied))
    return facts


def list_row(row: Row) -> list[str]:
    """One request as a line of the plan's list (``LIST_HEADERS``)."""
    return [
        row["request_id"],
        candidate(row),
        field_label(row["field"]),
        current_value(row),
        row["requested_score"],
        state_label(row),
        format_cst(row["received_at"]),
    ]


LIST_HEADERS = (
    "request",
    "candidate",
    "field",
    "current",
    "requested",
    "state",
    "received",
)


def _requester(row: Row) -> str:
    requester = " ".join((row["requester"] or "").split())
    who = requester or t("correction_details.requester_unnamed")
    if row["requester_email"]:
        return t(
            "correction_details.requester_with_address",
            requester=who,
            address=row["requester_email"],
        )
    return who


def _entered(row: Row) -> str:
    if row["entered_by"] == MAILBOX_PERSON:
        return t("correction_details.by_mail")
    return t("correction_details.by_staff", person=row["entered_by"])
