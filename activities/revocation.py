"""Revocation of issued e-certificates and the signed status list that publishes it.

A revoked certificate keeps its row: ``revoked_on`` and ``revocation_reason`` are
set once, with an audit row, and the certificate then appears on every status
list signed afterwards, its reason as it may be published. The staff command
``certflow revoke`` and the web service's ``/status-list.json`` call the two
functions here.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

import asyncpg

from certflow.certificates import (
    RevocationEntry,
    SignedStatusList,
    SigningKey,
    StatusList,
    public_reason,
    sign_status_list,
    status_list_time,
)
from certflow.i18n import t
from certflow.privacy import holds_id_number, holds_name, mask_id_numbers_in
from certflow.timeutil import CST

log = logging.getLogger(__name__)

REVOKE_ACTION = "revoke_certificate"


class RevocationError(ValueError):
    """A revocation that was refused; ``str()`` is the Chinese text for staff."""


async def revoke(
    pool: asyncpg.Pool,
    number: str,
    *,
    reason: str,
    revoked_on: date,
    by: str,
) -> None:
    """Revoke certificate ``number`` as of ``revoked_on``, recording who and why.

    ``pool`` comes from :func:`activities.db.create_pool` (jsonb as Python objects).

    Raises :class:`RevocationError` for an empty reason or one holding an ID
    number or the holder's name (the reason is published), an unknown number,
    a certificate already revoked, or a date before the certificate was issued.
    Neither the ID number nor the name is repeated.
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
            "SELECT plan_id, name, issued_on, revoked_on FROM certificates "
            "WHERE number = $1 FOR UPDATE",
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
            INSERT INTO audit (plan_id, action, person, at, accepted, late, details,
                               idempotency_key)
            VALUES ($1, $2, $3, $4, true, false, $5, $6)
            """,
            row["plan_id"],
            REVOKE_ACTION,
            by,
            datetime.now(CST),
            details,
            f"{REVOKE_ACTION}:{number}",
        )
    log.info(
        "certificate revoked plan_id=%s number=%s revoked_on=%s",
        row["plan_id"],
        number,
        revoked_on.isoformat(),
    )


async def revoked_entries(pool: asyncpg.Pool) -> list[RevocationEntry]:
    """Return every revoked certificate, ordered by number, as published.

    A reason naming the holder or holding what could be an ID number (stored
    before :func:`revoke` refused those) is withheld
    (:func:`~certflow.certificates.public_reason`); the row and its audit line
    keep it whole.
    """
    rows = await pool.fetch(
        "SELECT number, name, revoked_on, revocation_reason FROM certificates "
        "WHERE revoked_on IS NOT NULL ORDER BY number"
    )
    return [
        RevocationEntry(
            number=r["number"],
            revoked_on=r["revoked_on"],
            reason=public_reason(r["revocation_reason"] or "", r["name"]),
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
