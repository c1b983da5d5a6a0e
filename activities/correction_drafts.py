"""A correction request's personal parts, kept in PostgreSQL while its plan
files it (schema version 29).

A request sent to a plan stays in the plan's Temporal history for good, in
the Web UI of every operator. Its sender (the staff tool, the exam mailbox)
keeps the scores, the reason, who asks and their address here instead and
sends their key (``CorrectionSubmission.draft``); the plan's
``record_correction`` activity reads them into ``correction_requests`` and
deletes the draft in one transaction. A sender deletes a draft the plan
refused; one nobody filed (the sender stopped before the plan answered) is
deleted a day after it was written, by the next sender.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import asyncpg

from certflow.actions import DRAFTED, CorrectionSubmission

# How long a draft nobody filed is kept: a plan answers a request within the
# staff tool's wait (minutes), and a request it took later finds its draft
# gone and is refused (the sender sends it again).
DRAFT_KEPT = timedelta(days=1)

_INSERT = f"""
    INSERT INTO correction_drafts (draft_key, plan_id, {", ".join(DRAFTED)})
    VALUES ($1, $2, {", ".join(f"${n}" for n in range(3, 3 + len(DRAFTED)))})
"""


async def drafted(
    pool: Any, plan_id: str, submission: CorrectionSubmission
) -> CorrectionSubmission:
    """``submission`` as sent to its plan: its personal parts kept here, the
    request naming them by a new key. A database of a schema before version
    29 (its workers not upgraded yet) has no drafts: sent whole, as before."""
    key = uuid.uuid4().hex
    parts = submission.personal_parts()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "DELETE FROM correction_drafts WHERE created_at < now() - $1::interval",
                DRAFT_KEPT,
            )
            await conn.execute(_INSERT, key, plan_id, *parts.values())
    except asyncpg.UndefinedTableError:
        return submission
    return submission.model_copy(update={"draft": key} | dict.fromkeys(parts, ""))


async def drop_draft(db: Any, key: str | None) -> None:
    """Delete a draft: filed (in the filing's transaction), or refused by its
    plan (by its sender). ``db`` is a pool or a connection."""
    if key is not None:
        await db.execute("DELETE FROM correction_drafts WHERE draft_key = $1", key)


async def read_draft(
    conn: asyncpg.Connection, key: str, plan_id: str
) -> dict[str, str] | None:
    """A draft's parts, by field, locked until the caller's transaction ends;
    None when there is none of that key for the plan."""
    row = await conn.fetchrow(
        f"SELECT {', '.join(DRAFTED)} FROM correction_drafts "
        "WHERE draft_key = $1 AND plan_id = $2 FOR UPDATE",
        key,
        plan_id,
    )
    return None if row is None else {name: row[name] for name in DRAFTED}
