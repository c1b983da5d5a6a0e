"""Which stored files the database names, and taking back one it does not.

The document store is content-addressed: two uploads of the same bytes share
one file, and uploading a damaged file again mends it in place. The staff
tool takes back the file it wrote for an upload nobody took up; it must never
take a file a record names, nor one a record is being written for at that
moment. So both go under one PostgreSQL lock per digest: a file is named
(``documents``) only while it is in the store, and taken back only while
nothing names it. A run taking back a file another run uploaded a moment
later, not recorded yet, leaves that upload nothing to record: it is answered
"not processed, upload it again", never recorded for a file that is gone.

An activity producing files takes back, by the same rule, the files its
earlier attempts stored and nothing took up (``put_produced``,
``keep_produced``).
"""

from __future__ import annotations

import asyncio

import asyncpg
from temporalio import activity

from activities.documents import DocumentNotFound, DocumentStore
from certflow.models import DocumentRef

# The first key of the per-digest advisory locks: a two-key lock, apart from
# the one-key locks of plans and payments.
_DIGEST_LOCKS = 0x646F63

# Whether a record names the digest: every plan document, score version,
# invoice form and certificate names its file in ``documents``; the mails of
# the exam mailbox name their raw message and reply without it; an attempt of
# an activity its files (``produced_files``), from before it stores them.
_NAMED = """
    SELECT EXISTS (SELECT 1 FROM documents WHERE sha256 = $1)
        OR EXISTS (
            SELECT 1 FROM mail_messages WHERE raw_sha256 = $1 OR reply_sha256 = $1)
        OR EXISTS (SELECT 1 FROM produced_files WHERE sha256 = $1)
"""


def activity_key() -> str:
    """The running activity, the same for each of its attempts: its workflow
    run and its activity id."""
    info = activity.info()
    return f"{info.workflow_run_id}/{info.activity_id}"


async def _lock(conn: asyncpg.Connection, sha256: str) -> None:
    """Hold the digest ``sha256`` until the transaction ends."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", _DIGEST_LOCKS, sha256
    )


async def name_document(
    conn: asyncpg.Connection, store: DocumentStore, ref: DocumentRef
) -> None:
    """Name ``ref``'s file in ``documents``, in the caller's transaction.

    Under the digest's lock, and only while the store holds the file: one
    taken back (or lost) since it was read is :class:`DocumentNotFound`, and
    the record the caller was writing is not written.
    """
    await _lock(conn, ref.sha256)
    if not store.holds(ref):
        raise DocumentNotFound(
            f"Document {ref.sha256} is not in the store: upload it again."
        )
    await conn.execute(
        """
        INSERT INTO documents (sha256, size, media_type) VALUES ($1, $2, $3)
        ON CONFLICT DO NOTHING
        """,
        ref.sha256,
        ref.size,
        ref.media_type,
    )


async def discard_unnamed(
    pool: asyncpg.Pool, store: DocumentStore, ref: DocumentRef
) -> bool:
    """Take ``ref``'s file out of the store unless a record names it; whether
    it was taken. A record being written for it meanwhile is waited for."""
    async with pool.acquire() as conn, conn.transaction():
        await _lock(conn, ref.sha256)
        if await conn.fetchval(_NAMED, ref.sha256):
            return False
        store.discard(ref)
        return True


async def put_produced(
    pool: asyncpg.Pool,
    store: DocumentStore,
    data: bytes,
    *,
    filename: str,
    media_type: str,
) -> DocumentRef:
    """Store a file the running activity attempt produced, named first in
    ``produced_files`` as this attempt's: stored and never taken up (the
    attempt fails before recording it, or times out), it is found there and
    taken back (see ``keep_produced``)."""
    ref = store.reference(data, filename=filename, media_type=media_type)
    await pool.execute(
        """
        INSERT INTO produced_files (produced_by, attempt, sha256)
        VALUES ($1, $2, $3) ON CONFLICT DO NOTHING
        """,
        activity_key(),
        activity.info().attempt,
        ref.sha256,
    )
    await asyncio.to_thread(store.put, data, filename=filename, media_type=media_type)
    return ref


async def keep_produced(
    pool: asyncpg.Pool,
    store: DocumentStore,
    produced: list[DocumentRef],
    kept: list[DocumentRef],
) -> None:
    """End the running attempt, which stored ``produced`` and keeps ``kept``.

    The files of the activity's earlier attempts (failed or timed out: their
    result is never taken) and those of ``produced`` not kept are taken back
    out of the store where no record names them. An attempt a later one
    already followed is such an attempt itself: it keeps nothing. One of an
    earlier attempt still storing its file then finds the later attempt here
    when it ends, and takes its own back.

    Not handled: such an earlier attempt storing its file after the later
    one ended, and dying before it ends itself, leaves that file unnamed.
    """
    key, attempt = activity_key(), activity.info().attempt
    rows = await pool.fetch(
        "SELECT attempt, sha256 FROM produced_files WHERE produced_by = $1", key
    )
    if any(row["attempt"] > attempt for row in rows):
        kept = []
    keep = {ref.sha256 for ref in kept}
    taken = {
        (row["attempt"], row["sha256"]) for row in rows if row["attempt"] < attempt
    }
    taken |= {(attempt, ref.sha256) for ref in produced if ref.sha256 not in keep}
    for number, sha256 in sorted(taken):
        async with pool.acquire() as conn, conn.transaction():
            await _lock(conn, sha256)
            await conn.execute(
                "DELETE FROM produced_files"
                " WHERE produced_by = $1 AND attempt = $2 AND sha256 = $3",
                key,
                number,
                sha256,
            )
            if not await conn.fetchval(_NAMED, sha256):
                store.discard(DocumentRef(sha256=sha256, size=0))
