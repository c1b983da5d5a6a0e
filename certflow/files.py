"""Files certflow writes: readable by its own user only.

Output files hold personal data (annotated reports copy a whole sheet of names
and ID numbers; certificate PDFs; national-platform exports), so every file
certflow writes under its state and output folders is 0600 and every folder it
creates 0700, whatever the process umask. Folders that already exist are left
as they are: an administrator may have chosen them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents as 0700 folders; return it."""
    missing: list[Path] = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for folder in reversed(missing):
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
    left 0644 by an older version is replaced, not rewritten in place.
    """
    private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def open_private_append(path: Path) -> int:
    """Open ``path`` for appending, creating it 0600; return the descriptor."""
    private_dir(path.parent)
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE_FILE)


def create_private(path: Path, data: bytes) -> None:
    """Write a new 0600 file; ``FileExistsError`` if ``path`` exists already.

    For a file that must never be overwritten, such as a signing key another
    process may have created in the meantime. A write that fails removes the
    file it created, so no half-written key is left to be mistaken for one.
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
