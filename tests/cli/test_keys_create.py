"""``certflow keys create`` writes a new key pair and never over an existing file.

A key rotation done by moving the old private key aside and creating the new
one at the same path once replaced the old public key, and every certificate
it had signed then read as 无法确认真伪.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import starter.cli
from certflow.config import Settings
from certflow.i18n import t
from tests.cli.conftest import certflow_runner
from tests.support import run_python

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]


async def test_an_old_public_key_is_not_replaced_by_a_new_pair(
    settings: Settings, tmp_path: Path
) -> None:
    certflow = certflow_runner(settings, None)
    private, public = tmp_path / "signing.pem", tmp_path / "signing.pub.pem"
    first = await certflow("keys", "create", "--out", str(private))
    old_public = public.read_bytes()
    private.rename(tmp_path / "retired.pem")  # the old private key moved aside

    again = await certflow("keys", "create", "--out", str(private))

    assert first.status == 0, first.out
    assert again.status == 2
    assert t("cli.keys_public_exists", path=public) in again.out
    assert public.read_bytes() == old_public
    assert not private.exists()  # nothing written: no new key without its half


@pytest.mark.parametrize("name", ["signing.pub.pem", "SIGNING.PUB.PEM"])
async def test_a_public_keys_name_given_for_the_private_key_is_refused(
    settings: Settings, tmp_path: Path, name: str
) -> None:
    """Trial: ``--out x.pub.pem`` wrote the private key under a public key's
    name (and the public key as ``x.pub.pub.pem``): a file anyone would hand
    out as the public key."""
    certflow = certflow_runner(settings, None)
    target = tmp_path / name

    refused = await certflow("keys", "create", "--out", str(target))

    assert refused.status == 2
    assert t("cli.keys_out_is_public", path=target) in refused.out
    assert _entries(tmp_path) == []


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


async def test_a_folder_given_as_the_key_file_is_named_a_folder(
    settings: Settings, tmp_path: Path
) -> None:
    """Regression: ``--out`` naming a folder was refused as a key that
    "already exists", sending staff to look for a key that is not there."""
    certflow = certflow_runner(settings, None)
    folder = tmp_path / "keys"
    folder.mkdir()

    refused = await certflow("keys", "create", "--out", str(folder))

    assert refused.status == 2
    assert t("cli.keys_out_is_folder", path=folder) in refused.out
    assert _entries(folder) == [] and _entries(tmp_path) == [folder]


async def test_a_key_path_ending_in_a_slash_or_empty_is_refused(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trial (``document get``, the same ``--out``): ``new/`` wrote a file
    named ``new``, and ``''`` wrote into the current folder."""
    certflow = certflow_runner(settings, None)

    folder = await certflow("keys", "create", "--out", f"{tmp_path / 'new'}/")
    empty = await certflow("keys", "create", "--out", "")

    assert folder.status == 2
    assert t("cli.keys_out_is_folder", path=tmp_path / "new") in folder.out
    assert empty.status == 2
    # Trial: the refusal offered a folder, which keys create refuses.
    assert t("cli.key_out_empty") in capsys.readouterr().err
    assert _entries(tmp_path) == []


async def test_a_public_key_made_meanwhile_takes_the_new_private_key_back(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both files are created exclusively: when the second cannot be (another
    process made it between the check and the write), the first goes too."""
    certflow = certflow_runner(settings, None)
    private, public = tmp_path / "signing.pem", tmp_path / "signing.pub.pem"
    create = starter.cli.create_private

    def raced(path: Path, data: bytes) -> None:
        if path == public:
            public.write_bytes(b"written by another process\n")
        create(path, data)

    monkeypatch.setattr(starter.cli, "create_private", raced)

    outcome = await certflow("keys", "create", "--out", str(private))

    assert outcome.status == 2
    assert t("cli.keys_public_exists", path=public) in outcome.out
    assert not private.exists()
    assert public.read_bytes() == b"written by another process\n"


async def test_a_key_file_that_cannot_be_written_whole_is_not_left_half_written(
    tmp_path: Path,
) -> None:
    """A write cut short (here a file size limit, as a full disk would) leaves
    no truncated private key behind to be taken for a key."""
    private = tmp_path / "signing.pem"
    program = (
        "import resource, sys\n"
        "from starter.cli import main\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))\n"
        f"sys.exit(main(['keys', 'create', '--out', {str(private)!r}]))\n"
    )

    status, out = await run_python(
        "-c", program, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    )

    assert status == 2, out
    assert t("cli.keys_unwritable", path=private) in out
    assert os.listdir(tmp_path) == []
