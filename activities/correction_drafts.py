"""A correction request's personal parts, kept in PostgreSQL while its plan
files it (schema version 29).

A request sent to a plan stays in the plan's Temporal history for good, in
the Web UI of every operator. Its sender (the staff tool, the exam mailbox)
keeps the scores, the reason, who asks and their address here instead and
sends their key (``CorrectionSubmission.draft``); the plan's
``record_correction`` activity reads them into ``correction_requests`` and
deletes the draft in one transaction. A sender deletes a draft the plan
refused; one nobody filed (the sender stopped before the plan answered) is
deleted a day after it was written, by the next sender or the mailbox's
next poll (``purge_drafts``).

A refusal quoting those parts (a score asked that is no score, a published
score not the one on record, and that one) would put them in the history
after all: the plan's answer names its problems by code only, and their
words wait in the draft (``refused``, schema version 30) for its sender to
read (``told``) before it deletes the draft.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import asyncpg

from certflow.actions import DRAFTED, ActionResult, CorrectionSubmission
from certflow.i18n import t
from certflow.models import Problem

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
            await purge_drafts(conn)
            await conn.execute(_INSERT, key, plan_id, *parts.values())
    except asyncpg.UndefinedTableError:
        return submission
    return submission.model_copy(update={"draft": key} | dict.fromkeys(parts, ""))


async def purge_drafts(db: Any) -> int:
    """Delete the drafts nobody filed, written over :data:`DRAFT_KEPT` ago;
    their number. Each sender does before it writes one, and the mailbox's
    every poll, so none outlives a quiet season with no request sent."""
    done: str = await db.execute(
        "DELETE FROM correction_drafts WHERE created_at < now() - $1::interval",
        DRAFT_KEPT,
    )
    return int(done.split()[-1])


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


async def keep_refusal(
    conn: asyncpg.Connection, key: str, problems: list[Problem]
) -> list[Problem]:
    """Keep ``problems``, the refusal of the draft ``key``, with the draft for
    its sender; return them as the plan's history may hold them: by code,
    with words that quote nothing of the request."""
    await conn.execute(
        "UPDATE correction_drafts SET refused = $2 WHERE draft_key = $1",
        key,
        [p.model_dump(mode="json") for p in problems],
    )
    said = t("intake_db.correction_refused_kept")
    return [Problem(code=p.code, message=said) for p in problems]


async def refusal_of(db: Any, key: str | None) -> list[Problem] | None:
    """The refusal kept with the draft ``key`` (see :func:`keep_refusal`);
    None when there is none (no draft, or one refused without quoting it)."""
    if key is None:
        return None
    try:
        kept = await db.fetchval(
            "SELECT refused FROM correction_drafts WHERE draft_key = $1", key
        )
    except asyncpg.UndefinedColumnError:  # a schema before version 30
        return None
    if kept is None:
        return None
    if isinstance(kept, str):  # a connection without the pool's JSON codec
        kept = json.loads(kept)
    return [Problem.model_validate(p) for p in kept]


async def told(db: Any, key: str | None, result: ActionResult) -> ActionResult:
    """The plan's refusal of a drafted request in the words it kept with the
    draft (see :func:`keep_refusal`); any other answer as it is: one not of
    those words (the plan's own refusal, or "not processed" after an attempt
    that kept them lost its answer) keeps its own."""
    if result.accepted or result.retry or not result.problems:
        return result
    problems = await refusal_of(db, key)
    if not problems or [p.code for p in problems] != [p.code for p in result.problems]:
        return result
    return result.model_copy(
        update={
            "message": problems[0].message,
            "problems": problems,
            "problem_count": len(problems),
        }
    )
