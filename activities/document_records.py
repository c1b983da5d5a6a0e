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
"""

from __future__ import annotations

import asyncpg

from activities.documents import DocumentNotFound, DocumentStore
from certflow.models import DocumentRef

# The first key of the per-digest advisory locks: a two-key lock, apart from
# the one-key locks of plans and payments.
_DIGEST_LOCKS = 0x646F63

# Whether a record names the digest: every plan document, score version,
# invoice form and certificate names its file in ``documents``; the mails of
# the exam mailbox name their raw message and reply without it.
_NAMED = """
    SELECT EXISTS (SELECT 1 FROM documents WHERE sha256 = $1)
        OR EXISTS (
            SELECT 1 FROM mail_messages WHERE raw_sha256 = $1 OR reply_sha256 = $1)
"""


async def _lock(conn: asyncpg.Connection, ref: DocumentRef) -> None:
    """Hold ``ref``'s digest until the transaction ends."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", _DIGEST_LOCKS, ref.sha256
    )


async def name_document(
    conn: asyncpg.Connection, store: DocumentStore, ref: DocumentRef
) -> None:
    """Name ``ref``'s file in ``documents``, in the caller's transaction.

    Under the digest's lock, and only while the store holds the file: one
    taken back (or lost) since it was read is :class:`DocumentNotFound`, and
    the record the caller was writing is not written.
    """
    await _lock(conn, ref)
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
        await _lock(conn, ref)
        if await conn.fetchval(_NAMED, ref.sha256):
            return False
        store.discard(ref)
        return True
