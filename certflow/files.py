"""Files certflow writes: readable by its own user only.

Output files hold personal data (annotated reports copy a whole sheet of names
and ID numbers; certificate PDFs; national-platform exports), so every file
certflow writes under its state and output folders is 0600 and every folder it
creates 0700, whatever the process umask. Folders that already exist are left
as they are: an administrator may have chosen them.

Only a regular file is ever replaced. A device, a pipe, a socket, a folder or a
symbolic link where a file is to go is refused (:class:`NotRegularFile`), never
followed nor replaced: run as root, replacing ``/dev/null`` with a file of
names and ID numbers breaks the machine and leaves the data where anyone reads
it.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700
# The errors of a write that found no room: the disk full, or the user's quota
# used up.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


class NotRegularFile(OSError):
    """Something other than a regular file is where a file is to be written.

    ``kind`` says what it is (see :func:`node_kind`); ``filename`` is the path.
    """

    def __init__(self, path: Path, kind: str) -> None:
        super().__init__(f"not a regular file ({kind})")
        self.filename = str(path)
        self.kind = kind

    def __str__(self) -> str:
        return f"{self.filename} is a {self.kind}, not a regular file: left as it is"


def node_kind(mode: int) -> str:
    """What a file system entry is, from its ``lstat`` mode: ``file``,
    ``folder``, ``symlink``, ``device``, ``fifo``, ``socket`` (or ``other``)."""
    kinds = (
        (stat.S_ISREG, "file"),
        (stat.S_ISDIR, "folder"),
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISCHR, "device"),
        (stat.S_ISBLK, "device"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISSOCK, "socket"),
    )
    return next((kind for test, kind in kinds if test(mode)), "other")


def existing_kind(path: Path) -> str | None:
    """What is at ``path`` now, the entry itself (a link is not followed), or
    None when nothing is."""
    try:
        return node_kind(path.lstat().st_mode)
    except FileNotFoundError:
        return None


def check_replaceable(path: Path) -> None:
    """Raise :class:`NotRegularFile` unless ``path`` is free or a regular file."""
    kind = existing_kind(path)
    if kind not in (None, "file"):
        raise NotRegularFile(path, kind)


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents as 0700 folders; return it."""
    for folder in reversed(_missing_folders(path)):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # made meanwhile by another process: not ours to change
        os.chmod(folder, PRIVATE_DIR)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as a 0600 file, atomically.

    The bytes go to a temporary file (0600 from the start) in the same folder,
    which then replaces ``path``: a reader never sees half a file, and a file
    left 0644 by an older version is replaced, not rewritten in place. Only a
    regular file is replaced: anything else there is :class:`NotRegularFile`.
    """
    with staged_private(path, data, overwrite=True):
        pass


@contextmanager
def staged_private(path: Path, data: bytes, *, overwrite: bool) -> Iterator[None]:
    """Write ``data`` beside ``path``, and put it at ``path`` once the block
    has run without error; an error anywhere leaves nothing behind.

    For a copy recorded before anyone has it, and recorded only if it is
    made: the bytes are on disk (0600, synced) before the block runs, so a
    full disk or a folder that takes no file fails before the record is
    written. With ``overwrite`` only a regular file at ``path`` is replaced
    (:class:`NotRegularFile`); without, nothing there ever is
    (``FileExistsError``, also for a file made while the block ran).
    """
    check_replaceable(path)
    if not overwrite and existing_kind(path) is not None:
        raise FileExistsError(errno.EEXIST, "exists", str(path))
    # The folders this write makes, deepest first: each one's name is its
    # parent's, up to the folder that was there already.
    made = _missing_folders(path.parent)
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=STAGED_PREFIX)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        yield
        check_replaceable(path)  # made meanwhile: still never replaced
        if overwrite:
            os.replace(tmp, path)
        else:
            _put_new(Path(tmp), path, data)
        # The bytes were synced; the name given them is the folder's, and
        # each new folder's name its parent's (a fresh store's, and the state
        # folder's above it, too): a power cut must not lose a file recorded
        # as made.
        sync_folder(path.parent)
        for folder in made:
            sync_folder(folder.parent)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _missing_folders(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that are not there, deepest first."""
    missing: list[Path] = []
    while not folder.exists() and folder.parent != folder:
        missing.append(folder)
        folder = folder.parent
    return missing


# The prefix of a file ``staged_private`` writes before giving it its name.
STAGED_PREFIX = ".incoming-"


def sync_folder(folder: Path) -> None:
    """Write the folder's entries to disk (the names of the files in it). A
    file system that syncs no folder (some network shares), or a folder this
    user may write in but not read, is left as it is."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except PermissionError:
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in _NO_FOLDER_SYNC:
            raise
    finally:
        os.close(fd)


# What a file system that syncs no folder answers the sync with: no such call
# for folders (EINVAL, ENOTSUP, ENOSYS), a folder opened for reading (EBADF),
# or refused outright as not permitted (EACCES, EPERM), as some shares do. The
# file is named already: failing the write for it would say a file was not
# made that is there.
_NO_FOLDER_SYNC = frozenset(
    {
        errno.EINVAL,
        errno.ENOTSUP,
        errno.EOPNOTSUPP,
        errno.ENOSYS,
        errno.EBADF,
        errno.EACCES,
        errno.EPERM,
    }
)


# What a file system that keeps no hard links (FAT and exFAT on a USB stick,
# some network shares) answers a link with.
_NO_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK})


def _put_new(staged: Path, path: Path, data: bytes) -> None:
    """Give the staged file ``path`` as its name, never replacing a file there:
    a hard link, which refuses a path that exists, atomically; where the file
    system keeps no links, the bytes written anew, created exclusively."""
    try:
        os.link(staged, path)
    except OSError as err:
        if isinstance(err, FileExistsError) or err.errno not in _NO_LINKS:
            raise
        create_private(path, data)


def open_private_append(path: Path) -> int:
    """Open ``path`` for appending, creating it 0600; return the descriptor.

    A link there is not followed, and anything but a regular file is
    :class:`NotRegularFile` (a pipe would block the writer, a device take the
    log).
    """
    check_replaceable(path)
    private_dir(path.parent)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
    fd = os.open(path, flags, PRIVATE_FILE)
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped in since the check
        os.close(fd)
        raise NotRegularFile(path, "other")
    os.set_blocking(fd, True)
    return fd


def create_private(path: Path, data: bytes) -> None:
    """Write a new 0600 file; ``FileExistsError`` if ``path`` exists already.

    For a file that must never be overwritten, such as a signing key another
    process may have created in the meantime. A write that fails removes the
    file it created, so no half-written key is left to be mistaken for one.
    Exclusive creation follows no link and opens nothing that exists.
    """
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            # On disk before the command says so: an empty key file left by a
            # crash would refuse the next try ("exists") and the web service.
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
