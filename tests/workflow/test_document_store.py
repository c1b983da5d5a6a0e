"""The document store: a damaged file is named whole and mended by a new upload."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from activities.documents import DocumentDamaged, DocumentNotFound, DocumentStore


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
