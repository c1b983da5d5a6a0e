"""certflow replaces or appends to regular files only.

Trial: run as root, the staff tool's copy replaced ``/dev/null`` with a regular
file of names and ID numbers, and a FIFO the same way: the write went to a
temporary file renamed over whatever was at the path.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from certflow.files import NotRegularFile, open_private_append, write_private


def test_only_a_regular_file_is_ever_replaced_or_appended_to(tmp_path: Path) -> None:
    """Trial: the staff tool's copy replaced ``/dev/null`` (run as root) and a
    FIFO with a regular file. Every write of certflow goes through these
    functions: the document store, certificates, the copies in ``out/``, the
    servers' logs. Made in ``tmp_path`` only: a FIFO, a link to it, a folder."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link"
    link.symlink_to(fifo)
    folder = tmp_path / "folder"
    folder.mkdir()
    linked_file = tmp_path / "linked.txt"
    linked_file.symlink_to(tmp_path / "real.txt")
    (tmp_path / "real.txt").write_bytes(b"kept")

    for path, kind in (
        (fifo, "fifo"),
        (link, "symlink"),
        (folder, "folder"),
        (linked_file, "symlink"),
    ):
        with pytest.raises(NotRegularFile) as refused:
            write_private(path, b"names and ID numbers")
        assert (refused.value.kind, refused.value.filename) == (kind, str(path))
        with pytest.raises(NotRegularFile):
            os.close(open_private_append(path))

    assert stat.S_ISFIFO(fifo.lstat().st_mode) and link.readlink() == fifo
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert (tmp_path / "real.txt").read_bytes() == b"kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "folder",
        "link",
        "linked.txt",
        "pipe",
        "real.txt",
    ]
