"""Revocation of issued e-certificates and the signed status list that publishes it.

A revoked certificate keeps its row: ``revoked_on`` and ``revocation_reason`` are
set once, with an audit row naming who revoked it and in which role, and the
certificate then appears on every status list signed afterwards, its reason as
it may be published. The staff command ``certflow revoke`` and the web
service's ``/status-list.json`` call the functions here; the staff command
then mails the info center and the site (``revocation_notice``), who keep the
national platform and the organisation's database in step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from certflow.activity_models import Notification
from certflow.certificates import (
    RevocationEntry,
    SignedStatusList,
    SigningKey,
    StatusList,
    public_reason,
    sign_status_list,
    status_list_time,
)
from certflow.free_text import REASON, field_label
from certflow.i18n import t
from certflow.models import Role
from certflow.privacy import (
    holds_code,
    holds_full_name,
    holds_id_number,
    holds_name,
    mask_id_numbers_in,
)
from certflow.text import code_points, hidden_in
from certflow.timeutil import CST

log = logging.getLogger(__name__)

REVOKE_ACTION = "revoke_certificate"
# The mail telling of a revocation, and who gets it: the info center updates
# the national platform and the organisation's database, the site tells its
# candidate.
REVOKED_TEMPLATE = "certificate_revoked"
REVOKED_TOLD = (Role.INFO_CENTER, Role.SITE)
# The failure type of a revocation's mail the staff tool could not start.
MAIL_NOT_STARTED = "mail_not_started"


async def _other_candidate_named(
    conn: asyncpg.Connection, reason: str, holder: asyncpg.Record
) -> str | None:
    """What of another candidate of the holder's plan ``reason`` holds (their
    full name, admission number or document number), as the refusal names
    it, or None.

    Only the full name of another: a surname or given name alone is in too
    many words of a reason (the holder's own are refused, they are known to
    be theirs).
    """
    others = await conn.fetch(
        "SELECT DISTINCT name, admission_number, id_number FROM scores"
        " WHERE plan_id = $1 AND admission_number <> $2",
        holder["plan_id"],
        holder["admission_number"],
    )
    for other in others:
        if holds_full_name(reason, other["name"]):
            return t("revocation.other_candidate.name")
        if holds_code(reason, other["admission_number"]):
            return t("revocation.other_candidate.admission_number")
        if holds_code(reason, other["id_number"]):
            return t("revocation.other_candidate.document_number")
    return None


class RevocationError(ValueError):
    """A revocation that was refused; ``str()`` is the Chinese text for staff."""


@dataclass(frozen=True)
class Revoked:
    """A revocation just recorded: the certificate, its plan, and how many of
    the plan's certificates are revoked now. No name, no ID number."""

    number: str
    plan_id: str
    site_code: str
    site_name: str
    issued_on: date
    revoked_on: date
    reason: str
    revoked_in_plan: int


def revocation_notice(revoked: Revoked) -> Notification:
    """The mail telling the info center and the site of ``revoked``.

    It gives the certificate's number, its dates and the reason as published
    (``public_reason``), never the holder's name or ID number: the info center
    finds the record by the number. A certificate is revoked once, so its
    number keys the mail's row, and a mail sent is never sent twice.
    """
    return Notification(
        plan_id=revoked.plan_id,
        template=REVOKED_TEMPLATE,
        roles=list(REVOKED_TOLD),
        site_code=revoked.site_code,
        fields={
            "plan_id": revoked.plan_id,
            "site_name": revoked.site_name,
            "number": revoked.number,
            "issued_on": revoked.issued_on.isoformat(),
            "revoked_on": revoked.revoked_on.isoformat(),
            "reason": revoked.reason,
            "revoked": str(revoked.revoked_in_plan),
        },
        idempotency_key=f"{REVOKE_ACTION}:{revoked.number}",
    )


async def revoke(
    pool: asyncpg.Pool,
    number: str,
    *,
    reason: str,
    revoked_on: date,
    by: str,
    role: Role,
) -> Revoked:
    """Revoke certificate ``number`` as of ``revoked_on``, recording who (``by``,
    acting as ``role``) and why; return what the parties are told of it.

    ``pool`` comes from :func:`activities.db.create_pool` (jsonb as Python objects).

    Raises :class:`RevocationError` for an empty reason, one longer than a
    reason may be or holding a character that shows as nothing or turns the
    text around (``certflow.free_text``; the reason is published), one holding
    an ID number or the holder's name, admission number or document number
    (or the full name, admission number or document number of another
    candidate of the plan: a mix-up's reason names them as easily), an
    unknown number, a certificate already revoked, or a date before the
    certificate was issued. Neither a number nor the name is repeated.
    The row update and its audit row commit together.
    """
    reason = reason.strip()
    if not reason:
        raise RevocationError(t("revocation.reason_required"))
    if holds_id_number(reason):
        # The reason is published (status list, verification page): no ID number.
        raise RevocationError(t("revocation.reason_holds_id_number"))

    async with pool.acquire() as conn, conn.transaction():
        # The row lock makes two concurrent revocations of one number queue up,
        # so the second sees the first and is refused instead of overwriting it.
        row = await conn.fetchrow(
            "SELECT c.plan_id, c.name, c.admission_number, c.id_number,"
            " c.issued_on, c.revoked_on, p.site_code, p.site_name"
            " FROM certificates c JOIN plans p USING (plan_id)"
            " WHERE c.number = $1 FOR UPDATE OF c",
            number,
        )
        if row is None:
            # Staff paste an ID number here by mistake: not repeated whole.
            raise RevocationError(
                t("revocation.unknown_certificate", number=mask_id_numbers_in(number))
            )
        if holds_name(reason, row["name"]):
            # Published beside the certificate's number: the holder's name in
            # it would tie the number to the person for anyone who reads it.
            raise RevocationError(t("revocation.reason_holds_name"))
        if holds_code(reason, row["admission_number"]):
            # As the name: the admission number names the holder too.
            raise RevocationError(t("revocation.reason_holds_admission_number"))
        if holds_code(reason, row["id_number"]):
            # A passport's or a permit's number, which no ID-number shape finds.
            raise RevocationError(t("revocation.reason_holds_document_number"))
        # A reason telling of a mix-up names the other candidate just as
        # easily ("与准考证号…互换"): anyone of the plan, passed or not.
        other = await _other_candidate_named(conn, reason, row)
        if other is not None:
            raise RevocationError(
                t("revocation.reason_holds_other_candidate", what=other)
            )
        hidden = hidden_in(reason)
        if hidden:
            # Published, a right-to-left override would turn the text after
            # it around on the organisation's page: the reason must read as
            # typed. Personal data pasted with one is said to be that first.
            raise RevocationError(
                t(
                    "revocation.reason_holds_hidden",
                    characters=code_points(hidden),
                )
            )
        # Published: bounded, and no hidden character, as every reason staff
        # give (after the checks above, which say more of what they find).
        problem = REASON.problem(reason, field_label("revocation_reason"))
        if problem is not None:
            raise RevocationError(problem)
        if row["revoked_on"] is not None:
            raise RevocationError(
                t(
                    "revocation.already_revoked",
                    number=number,
                    revoked_on=row["revoked_on"].isoformat(),
                )
            )
        if revoked_on < row["issued_on"]:
            raise RevocationError(
                t(
                    "revocation.before_issue",
                    number=number,
                    issued_on=row["issued_on"].isoformat(),
                )
            )

        await conn.execute(
            "UPDATE certificates SET revoked_on = $2, revocation_reason = $3 "
            "WHERE number = $1",
            number,
            revoked_on,
            reason,
        )
        details = {
            "number": number,
            "revoked_on": revoked_on.isoformat(),
            "reason": reason,
        }
        # A certificate is revoked at most once, so its number alone keys the row.
        await conn.execute(
            """
            INSERT INTO audit (plan_id, action, role, person, at, accepted, late,
                               details, idempotency_key)
            VALUES ($1, $2, $3, $4, $5, true, false, $6, $7)
            """,
            row["plan_id"],
            REVOKE_ACTION,
            role.value,
            by,
            datetime.now(CST),
            details,
            f"{REVOKE_ACTION}:{number}",
        )
        # Two revocations in one plan, each counting before the other's
        # commit, both said N+1: the plan's row lock makes the second count
        # once the first committed, so the two say N+1 and N+2.
        await conn.execute(
            "SELECT 1 FROM plans WHERE plan_id = $1 FOR UPDATE", row["plan_id"]
        )
        revoked_in_plan: int = await conn.fetchval(
            "SELECT count(*) FROM certificates"
            " WHERE plan_id = $1 AND revoked_on IS NOT NULL",
            row["plan_id"],
        )
    log.info(
        "certificate revoked plan_id=%s number=%s revoked_on=%s",
        row["plan_id"],
        number,
        revoked_on.isoformat(),
    )
    return _revoked(row, number, revoked_on, reason, revoked_in_plan)


def _revoked(
    row: Any, number: str, revoked_on: date, reason: str, revoked_in_plan: int
) -> Revoked:
    """What the parties are told of a revocation, from its certificate's row."""
    return Revoked(
        number=number,
        plan_id=row["plan_id"],
        site_code=row["site_code"],
        site_name=row["site_name"],
        issued_on=row["issued_on"],
        revoked_on=revoked_on,
        reason=public_reason(
            reason, row["name"], (row["admission_number"], row["id_number"])
        ),
        revoked_in_plan=revoked_in_plan,
    )


async def untold(pool: asyncpg.Pool, number: str) -> Revoked | None:
    """A revocation whose mail was never recorded, to be told now; None when
    the certificate is not revoked, or its mail is recorded (sent, given up,
    or kept for a resend).

    The revocation commits before its mail is started: a tool stopped in
    between (killed, or PostgreSQL lost as it recorded the mail not sent)
    left it untold, and revoking again is refused as already done. Told
    again, a mail on its way already is not started twice (its workflow id)
    nor sent twice (its key). The count is the plan's now.
    """
    row = await pool.fetchrow(
        "SELECT c.plan_id, c.name, c.admission_number, c.id_number, c.issued_on,"
        " c.revoked_on, c.revocation_reason, p.site_code, p.site_name"
        " FROM certificates c JOIN plans p USING (plan_id) WHERE c.number = $1",
        number,
    )
    if row is None or row["revoked_on"] is None:
        return None
    recorded = await pool.fetchval(
        "SELECT 1 FROM notifications WHERE idempotency_key = $1",
        f"{REVOKE_ACTION}:{number}",
    )
    if recorded is not None:
        return None
    count = await revoked_count(pool, row["plan_id"])
    return _revoked(
        row, number, row["revoked_on"], row["revocation_reason"] or "", count
    )


async def revoked_count(pool: asyncpg.Pool, plan_id: str) -> int:
    """How many of the plan's certificates are revoked."""
    count: int = await pool.fetchval(
        "SELECT count(*) FROM certificates"
        " WHERE plan_id = $1 AND revoked_on IS NOT NULL",
        plan_id,
    )
    return count


async def record_not_started(pool: asyncpg.Pool, note: Notification) -> int:
    """Record the mail of a revocation that could not be started (Temporal out
    of reach) as not sent to any of its roles; return its number.

    Kept with its row as a mail given up is: ``certflow notice failed`` lists
    it, and an admin sends it with ``certflow notice resend`` once Temporal is
    back. A mail already recorded keeps its row.
    """
    roles = [role.value for role in note.roles]
    number: int = await pool.fetchval(
        """
        INSERT INTO notifications (idempotency_key, plan_id, template, recipients,
            note, failure, failure_type, refused_roles, failed_at)
        VALUES ($1, $2, $3, '{}', $4, $5, $6, $7, now())
        ON CONFLICT (idempotency_key) DO UPDATE
            SET idempotency_key = EXCLUDED.idempotency_key
        RETURNING id
        """,
        note.idempotency_key,
        note.plan_id,
        note.template,
        note.model_dump(mode="json"),
        "Not sent: the staff tool could not reach Temporal to start the mail.",
        MAIL_NOT_STARTED,
        roles,
    )
    return number


async def revoked_entries(pool: asyncpg.Pool) -> list[RevocationEntry]:
    """Return every revoked certificate, ordered by number, as published.

    A reason naming the holder, holding their admission or document number
    or what could be an ID number (stored before :func:`revoke` refused
    those) is withheld, and a hidden character in it shown as its code point
    (:func:`~certflow.certificates.public_reason`); the row and its audit line
    keep it whole.
    """
    rows = await pool.fetch(
        "SELECT number, name, admission_number, id_number, revoked_on,"
        " revocation_reason FROM certificates"
        " WHERE revoked_on IS NOT NULL ORDER BY number"
    )
    return [
        RevocationEntry(
            number=r["number"],
            revoked_on=r["revoked_on"],
            reason=public_reason(
                r["revocation_reason"] or "",
                r["name"],
                (r["admission_number"], r["id_number"]),
            ),
        )
        for r in rows
    ]


async def current_status_list(
    pool: asyncpg.Pool, *, now: datetime | None = None
) -> StatusList:
    """The list of every revoked certificate as of ``now`` (default: the wall
    clock), unsigned, for a verification that reads the records directly.

    It is dated by :func:`~certflow.certificates.status_list_time`: never
    before a revocation it lists nor the newest certificate on record, even
    where ``now`` is behind the clock the records were dated on (a demo or
    training stack's), so it speaks of every certificate it can be asked about.
    """
    entries = await revoked_entries(pool)
    newest: date | None = await pool.fetchval("SELECT max(issued_on) FROM certificates")
    issued_at = status_list_time(now or datetime.now(CST), entries, newest)
    return StatusList(issued_at=issued_at, entries=entries)


async def status_list(
    pool: asyncpg.Pool, signing_key: SigningKey, *, now: datetime | None = None
) -> SignedStatusList:
    """Build the status list of every revoked certificate, as of ``now`` (see
    :func:`current_status_list`), and sign it."""
    current = await current_status_list(pool, now=now)
    return sign_status_list(current, signing_key.private_key, signing_key.key_id)
