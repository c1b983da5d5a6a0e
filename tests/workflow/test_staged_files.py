"""A copy written beside its place, put there only once its record is made.

Trial: ``document get --out`` to a place that took no file after all (a full
disk, ``/proc``) recorded a fetch in the audit trail for a copy never made.
The copy is now written first, beside its place; the record is made; then
the copy takes its name. Each step failing leaves nothing of the others. A full
disk is said to be full, here and by `keys create`.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

import starter.cli as cli
from certflow.files import staged_private
from certflow.i18n import t
from starter.cli import _unwritten


def _left(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_the_copy_takes_its_name_only_once_the_block_has_run(tmp_path: Path) -> None:
    target = tmp_path / "out" / "summary.xlsx"
    with staged_private(target, b"data", overwrite=False):
        assert not target.exists()
        (staged,) = (tmp_path / "out").iterdir()
        assert staged.read_bytes() == b"data"  # on disk before the record

    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _left(tmp_path / "out") == ["summary.xlsx"]


def test_an_error_in_the_block_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "summary.xlsx"
    with (
        pytest.raises(ConnectionError),
        staged_private(target, b"data", overwrite=False),
    ):
        raise ConnectionError("the audit trail could not be written")

    assert _left(tmp_path) == []


def test_a_file_made_while_the_block_ran_is_never_replaced(tmp_path: Path) -> None:
    target = tmp_path / "summary.xlsx"
    with (
        pytest.raises(FileExistsError),
        staged_private(target, b"ours", overwrite=False),
    ):
        target.write_bytes(b"theirs")

    assert target.read_bytes() == b"theirs"
    assert _left(tmp_path) == ["summary.xlsx"]


def test_where_no_hard_link_can_be_made_the_copy_is_written_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: a USB stick's FAT keeps no hard links; the copy was refused
    there after its fetch had been recorded."""

    def no_links(source: object, target: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    target = tmp_path / "summary.xlsx"
    with staged_private(target, b"data", overwrite=False):
        pass

    assert target.read_bytes() == b"data"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _left(tmp_path) == ["summary.xlsx"]


def test_overwrite_replaces_a_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "summary.xlsx"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    with staged_private(target, b"new", overwrite=True):
        assert target.read_bytes() == b"old"

    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _left(tmp_path) == ["summary.xlsx"]


def test_a_place_with_no_room_is_said_to_be_full(tmp_path: Path) -> None:
    """Trial: a full disk was said to be a folder without write permission."""
    target = tmp_path / "summary.xlsx"
    full = _unwritten(target, OSError(errno.ENOSPC, "No space left on device"))
    denied = _unwritten(target, PermissionError(errno.EACCES, "Permission denied"))

    assert str(full) == t(
        "cli.refused", reason=t("cli.document.disk_full", path=target)
    )
    assert str(denied) == t(
        "cli.refused", reason=t("cli.document.unwritable", path=target)
    )


def test_a_full_disk_is_said_to_be_full_and_leaves_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Trial: on a full disk ``keys create`` asked to check the folder's write
    permission."""

    def no_room(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli, "create_private", no_room)
    target = tmp_path / "certificate-signing.pem"

    with pytest.raises(cli.CliError) as refused:
        cli._create_key_file(target, b"pem", "cli.keys_exists")

    assert str(refused.value) == t("cli.keys_disk_full", path=target)
    assert list(tmp_path.iterdir()) == []
