"""The content-addressed document store: files on disk, named by their SHA-256.

Uploads and produced files live here; workflows only ever hold a ``DocumentRef``.
The uploader's file name is kept for display and never used to build a path.
"""

from __future__ import annotations

import hashlib
import logging
import stat
import time
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from certflow.files import STAGED_PREFIX, write_private
from certflow.free_text import FILENAME_MAX_LENGTH
from certflow.models import DocumentRef
from certflow.privacy import mask_id_numbers_in

log = logging.getLogger(__name__)

# How old a file staged for the store must be to be taken for one a writer
# killed mid-write left (a write takes milliseconds; its record, seconds).
STAGED_LEFT = timedelta(hours=1)


def sweep_staged(found: Iterable[Path], older_than: timedelta = STAGED_LEFT) -> int:
    """Delete the files of ``found`` (``.incoming-…`` a writer killed
    mid-write left) last written over ``older_than`` ago; return how many.
    Younger ones may be another writer's, under way. The log counts them,
    never names them."""
    cut = time.time() - older_than.total_seconds()
    swept = 0
    for staged in found:
        try:
            if staged.lstat().st_mtime < cut and staged.is_file():
                staged.unlink()
                swept += 1
        except FileNotFoundError:
            continue  # taken by another worker's sweep meanwhile
    if swept:
        log.info("staged files left by a stopped writer removed count=%d", swept)
    return swept


def sweep_output(folder: Path) -> int:
    """Sweep the output folder as :meth:`DocumentStore.sweep_staged` sweeps
    the store: issuance writes each certificate's copy there (the holder's
    name and ID number) the same way, staged first."""
    return sweep_staged(folder.rglob(f"{STAGED_PREFIX}*"))


class DocumentNotFound(Exception):
    """The store has no good file with that digest (missing, or damaged).

    A missing file may come back (a store not mounted or not yet synced, a
    backup to restore); so may one there but unreadable (a folder in its
    place, no permission), said the same way; a damaged one is
    :class:`DocumentDamaged`.
    """


class DocumentDamaged(DocumentNotFound):
    """The store's file no longer matches its digest: its bytes are lost."""


class DocumentStore:
    """Files under ``root/ab/abcdef…``; writing the same bytes twice is a no-op,
    unless the stored file was damaged, which the second write mends."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def sweep_staged(self, older_than: timedelta = STAGED_LEFT) -> int:
        """Delete the files a writer killed mid-write left staged in the
        store (``.incoming-…``, never named by a record: uploads holding
        names and ID numbers); return how many. Those younger than
        ``older_than`` may be another worker's, under way."""
        return sweep_staged(self.root.glob(f"*/{STAGED_PREFIX}*"), older_than)

    def path_of(self, ref: DocumentRef) -> Path:
        # The digest is validated by DocumentRef's pattern, so it is a safe name.
        return self.root / ref.sha256[:2] / ref.sha256

    def put(
        self,
        data: bytes,
        *,
        filename: str = "",
        media_type: str = "application/octet-stream",
    ) -> DocumentRef:
        """Store ``data`` atomically and return its reference."""
        return self.put_new(data, filename=filename, media_type=media_type)[0]

    def put_new(
        self,
        data: bytes,
        *,
        filename: str = "",
        media_type: str = "application/octet-stream",
    ) -> tuple[DocumentRef, bool]:
        """Store ``data`` as :meth:`put` does; also say whether this call wrote
        the file (False: the store held those bytes already)."""
        ref = self.reference(data, filename=filename, media_type=media_type)
        target = self.path_of(ref)
        if self._holds(target, data, ref.sha256):
            return ref, False
        # Atomic (a reader never sees half a file), 0600 in 0700 folders. A file
        # damaged in the store is replaced: uploading the document again mends it.
        write_private(target, data)
        return ref, True

    @staticmethod
    def reference(
        data: bytes,
        *,
        filename: str = "",
        media_type: str = "application/octet-stream",
    ) -> DocumentRef:
        """The reference :meth:`put` gives ``data``, without storing anything."""
        return DocumentRef(
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            media_type=media_type,
            filename=_display_name(filename),
        )

    def holds(self, ref: DocumentRef) -> bool:
        """Whether a regular file of ``ref``'s size is where ``ref`` belongs.

        Not read: a quick look before a plan goes by a file nobody reads.
        """
        try:
            found = self.path_of(ref).stat()
        except OSError:
            return False
        return stat.S_ISREG(found.st_mode) and found.st_size == ref.size

    def discard(self, ref: DocumentRef) -> None:
        """Remove ``ref``'s file, if there: only for a file no record names."""
        self.path_of(ref).unlink(missing_ok=True)

    @staticmethod
    def _holds(target: Path, data: bytes, digest: str) -> bool:
        """Whether ``target`` already holds ``data`` (its digest is ``digest``)."""
        try:
            if target.stat().st_size != len(data):
                return False
            return hashlib.sha256(target.read_bytes()).hexdigest() == digest
        except OSError:  # missing, or unreadable: written (or refused) afresh
            return False

    def put_file(self, path: Path, *, media_type: str | None = None) -> DocumentRef:
        return self.put(
            path.read_bytes(),
            filename=path.name,
            media_type=media_type or guess_media_type(path.name),
        )

    def get(self, ref: DocumentRef) -> bytes:
        """Return the bytes of ``ref``, checking they still match the digest.

        A file that is not there, or cannot be read there (a folder in its
        place, its permissions), is :class:`DocumentNotFound`, naming the path
        to restore it at: never an error of the file system's own.
        """
        try:
            data = self.path_of(ref).read_bytes()
        except FileNotFoundError:
            raise DocumentNotFound(
                f"Document {ref.sha256} is not in the store: restore it as"
                f" {self.path_of(ref)}."
            ) from None
        except OSError as err:
            raise DocumentNotFound(
                f"Document {ref.sha256} cannot be read in the store"
                f" ({err.strerror or type(err).__name__}): restore it as"
                f" {self.path_of(ref)}."
            ) from None
        if hashlib.sha256(data).hexdigest() != ref.sha256:
            # The whole digest and path: what an operator restores it under.
            raise DocumentDamaged(
                f"Document {ref.sha256} is damaged in the store: restore"
                f" {self.path_of(ref)} from a backup, or upload the document again."
            )
        return data


def _display_name(filename: str) -> str:
    """Only the last path component, without control characters, for display.

    The name travels with the reference into workflow history and the database,
    so an identity number people put in a file name is masked here, where the
    staff tool builds the reference, before it leaves the machine.
    """
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    shown = mask_id_numbers_in("".join(ch for ch in name if ch.isprintable()))
    return shown[:FILENAME_MAX_LENGTH]


_MEDIA_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".xls": "application/vnd.ms-excel",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".csv": "text/csv",
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
}


def guess_media_type(filename: str) -> str:
    return _MEDIA_TYPES.get(Path(filename).suffix.lower(), "application/octet-stream")


def media_suffix(media_type: str) -> str:
    """The file name suffix of a media type (``.xlsx``); ``.bin`` for others."""
    return next(
        (suffix for suffix, known in _MEDIA_TYPES.items() if known == media_type),
        ".bin",
    )
