"""The document store: a damaged file is named whole and mended by a new upload;
a file is taken back out of it only while no record names it."""

from __future__ import annotations

import asyncio
import errno
import hashlib
import os
import stat
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from activities.document_records import discard_unnamed
from activities.documents import (
    STAGED_LEFT,
    DocumentDamaged,
    DocumentNotFound,
    DocumentStore,
)
from activities.intake import record_upload_row
from certflow.activity_models import UploadRecord
from certflow.files import STAGED_PREFIX
from certflow.models import DocumentKind
from tests.support import REPO, SCAN_PDF, registered_plan, waiting_on_locks


def test_a_damaged_file_is_mended_by_storing_the_same_bytes_again(
    tmp_path: Path,
) -> None:
    """Regression: storing skipped a file whose path existed, so after a
    disk fault every upload of the good file was refused for ever."""
    store = DocumentStore(tmp_path)
    data = b"score summary bytes"
    ref = store.put(data, filename="summary.xlsx")
    store.path_of(ref).write_bytes(b"damaged")

    with pytest.raises(DocumentDamaged) as damaged:
        store.get(ref)
    store.put(data, filename="summary.xlsx")

    # What an operator restores it under: the whole digest and its path.
    assert ref.sha256 in str(damaged.value)
    assert str(store.path_of(ref)) in str(damaged.value)
    assert store.get(ref) == data


def test_a_file_of_the_same_size_but_other_bytes_is_mended_too(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path)
    data = b"0123456789"
    ref = store.put(data)
    store.path_of(ref).write_bytes(b"9876543210")

    store.put(data)

    assert hashlib.sha256(store.path_of(ref).read_bytes()).hexdigest() == ref.sha256


def test_a_missing_file_names_where_to_restore_it(tmp_path: Path) -> None:
    store = DocumentStore(tmp_path)
    ref = store.put(b"platform import")
    store.path_of(ref).unlink()

    with pytest.raises(DocumentNotFound) as missing:
        store.get(ref)

    assert not isinstance(missing.value, DocumentDamaged)
    assert str(store.path_of(ref)) in str(missing.value)


def test_a_file_that_cannot_be_read_is_missing_and_names_where_to_restore_it(
    tmp_path: Path,
) -> None:
    """Trial: a folder where the file belongs gave ``IsADirectoryError`` with a
    traceback in ``certflow document get``. Run as root, a permission is no
    obstacle: a file where the digest's folder belongs stands for one."""
    store = DocumentStore(tmp_path)
    ref = store.put(b"score summary")
    store.path_of(ref).unlink()
    store.path_of(ref).mkdir()
    other = store.put(b"candidates")
    folder = store.path_of(other).parent
    for entry in folder.iterdir():
        entry.unlink()
    folder.rmdir()
    folder.write_bytes(b"not a folder")

    for unreadable in (ref, other):
        with pytest.raises(DocumentNotFound) as missing:
            store.get(unreadable)
        assert not isinstance(missing.value, DocumentDamaged)
        assert str(store.path_of(unreadable)) in str(missing.value)


@pytest.mark.asyncio(loop_scope="session")
async def test_a_file_is_taken_back_only_while_no_record_names_it(
    resources: tuple[Any, DocumentStore],
) -> None:
    """The staff tool takes back the file of an upload nobody took up. Another
    run may upload the same bytes at the same moment and be taken: a record
    being written for the file makes the take-back wait for it, then keep the
    file; a file taken back first is never recorded (the record is refused,
    the upload answered "upload it again")."""
    pool, store = resources
    plan, at = await registered_plan(pool)

    def scan(tag: str) -> Any:
        data = SCAN_PDF + b"\0" + tag.encode() + os.urandom(8).hex().encode()
        return store.put(data, filename=f"{tag}.pdf", media_type="application/pdf")

    record = UploadRecord(
        plan_id=plan.plan_id,
        kind=DocumentKind.SIGNED_SUMMARY_SCAN,
        document=scan("recorded"),
        uploaded_by="ZCX-E-0107",
        at=at,
        accepted=True,
    )
    async with pool.acquire() as conn, conn.transaction():
        assert await record_upload_row(conn, store, record) == 1
        taking_back = asyncio.create_task(discard_unnamed(pool, store, record.document))
        await waiting_on_locks(pool, 1)
    assert not await taking_back
    assert store.holds(record.document)

    gone = record.model_copy(update={"document": scan("taken back")})
    assert await discard_unnamed(pool, store, gone.document)
    with pytest.raises(DocumentNotFound):
        async with pool.acquire() as conn, conn.transaction():
            await record_upload_row(conn, store, gone)
    named = "SELECT count(*) FROM plan_documents WHERE sha256 = $1"
    assert await pool.fetchval(named, gone.document.sha256) == 0


# Stores ``sys.argv[2]`` as a document of the store at ``sys.argv[1]`` and
# stops for good once the bytes are staged, before they are named: a worker
# killed there.
_KILLED_WRITER = """
import sys, time
import certflow.files as files
from activities.documents import DocumentStore

def staged_then_stopped(*args, **kwargs):
    with files.staged_private(*args, **kwargs):
        print("staged", flush=True)
        time.sleep(600)

files.write_private = lambda path, data: staged_then_stopped(path, data, overwrite=True)
import activities.documents as documents
documents.write_private = files.write_private
DocumentStore(__import__("pathlib").Path(sys.argv[1])).put(sys.argv[2].encode())
"""


async def test_a_file_a_killed_writer_left_staged_is_swept_at_the_next_start(
    settings: Any,
) -> None:
    """Regression: a worker killed between staging an upload and naming it
    left ``.incoming-…`` in the store for good, a copy of a file holding
    names and ID numbers that no record names and nothing removed."""
    from worker import worker_resources

    root = settings.documents_dir
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _KILLED_WRITER,
        str(root),
        f"名单 {os.urandom(8).hex()}",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
    )
    assert writer.stdout is not None
    assert await asyncio.wait_for(writer.stdout.readline(), 30) == b"staged\n"
    writer.kill()
    await writer.wait()
    left = list(root.glob(f"*/{STAGED_PREFIX}*"))
    assert left, "the killed writer left nothing staged"
    hour_ago = time.time() - STAGED_LEFT.total_seconds() - 60
    for staged in left:
        os.utime(staged, (hour_ago, hour_ago))
    # Another worker's, under way: kept.
    fresh = left[0].parent / f"{STAGED_PREFIX}under-way"
    fresh.write_bytes(b"x")

    async with worker_resources(settings):
        remaining = set(root.glob(f"*/{STAGED_PREFIX}*"))

    assert remaining == {fresh}
    fresh.unlink()


def folder_syncs(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The folders synced from now on, in the order synced (each file's
    sync goes on as it would)."""
    synced: list[Path] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def test_a_stored_file_is_named_on_disk_before_it_is_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes were synced before the file was named, but not the name:
    a power cut could lose a file PostgreSQL records as stored. Its folder,
    and the store's folder holding that folder, are synced too."""
    synced = folder_syncs(monkeypatch)
    store = DocumentStore(tmp_path / "store")

    ref = store.put(b"signed scan")

    folder = store.path_of(ref).parent
    assert folder in synced and store.root in synced


def test_every_folder_made_for_a_stored_file_is_named_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: only the new folder's parent was synced. A store written
    to for the first time (its own folder, and the state folder above it,
    new) kept those names unsynced: a power cut could lose the whole store,
    with the file PostgreSQL records as stored."""
    synced = folder_syncs(monkeypatch)
    store = DocumentStore(tmp_path / "state" / "documents")

    ref = store.put(b"signed scan")

    folder = store.path_of(ref).parent
    for made in (folder, store.root, store.root.parent, tmp_path):
        assert made in synced, made


async def test_a_certificate_copy_a_killed_worker_left_staged_is_swept_too(
    settings: Any,
) -> None:
    """Regression: only the document store was swept. Issuance writes each
    certificate's copy into ``out/certificates/<plan>/`` the same way: a
    worker killed there left a ``.incoming-…`` PDF with the holder's name
    and ID number that nothing removed. An old one goes at the next start;
    a young one (a staff tool's copy under way) stays."""
    from worker import worker_resources

    folder = settings.output_dir / "certificates" / "P2026-0000-0001"
    folder.mkdir(parents=True)
    left = folder / f"{STAGED_PREFIX}k1x2"
    left.write_bytes(b"%PDF certificate of a holder")
    hour_ago = time.time() - STAGED_LEFT.total_seconds() - 60
    os.utime(left, (hour_ago, hour_ago))
    fresh = settings.output_dir / f"{STAGED_PREFIX}under-way"
    fresh.write_bytes(b"x")

    async with worker_resources(settings):
        remaining = set(settings.output_dir.rglob(f"{STAGED_PREFIX}*"))

    assert remaining == {fresh}


@pytest.mark.parametrize("refusal", [errno.EACCES, errno.EPERM, errno.ENOSYS])
def test_a_file_system_refusing_a_folders_sync_still_takes_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refusal: int
) -> None:
    """Regression: a file system that will not sync a folder (a share that
    refuses it as not permitted, or has no such call) failed every write
    once folders were synced, though the file was named already: issuance
    and uploads failed where they had worked, and ``document get`` said
    未取回 of a copy it had made and recorded. Such a folder is left as it
    is, as one that cannot be opened is."""
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(refusal, os.strerror(refusal))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    store = DocumentStore(tmp_path / "store")

    ref = store.put(b"signed scan")

    assert store.path_of(ref).read_bytes() == b"signed scan"
