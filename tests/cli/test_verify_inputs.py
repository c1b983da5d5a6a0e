"""``certflow verify``: what it is given, and what it says when that is wrong.

Found by a first-time verifier: a missing status list and a folder were both
"cannot read the status list"; a FIFO and ``/dev/null`` were "not found"; the
service's ``/keys.json`` could not be used as the keys; a status list signed by
a newer key than the verifier had was only "cannot be verified"; a configured
font that was not there went unmentioned; and the help listed flags of the
commands that talk to the stack.
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from certflow.certificates import (
    FONT_ENV,
    FONT_ENV_PREVIOUS,
    StatusList,
    generate_keypair,
    key_id,
    load_private_key,
    sign_status_list,
)
from certflow.config import Settings
from certflow.i18n import t
from tests.cli.conftest import certflow_runner
from tests.cli.test_staff_rules import certificate_pdf
from web.app import create_app

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A genuine certificate PDF's public key file, and the PDF."""
    private_pem, public_pem = generate_keypair()
    return (
        _write(tmp_path / "key.pub.pem", public_pem),
        _write(tmp_path / "cert.pdf", certificate_pdf(private_pem)),
    )


async def test_a_status_list_not_there_or_a_folder_is_named_for_what_it_is(
    settings: Settings, tmp_path: Path
) -> None:
    certflow = certflow_runner(settings, None)
    key, pdf = _certificate(tmp_path)
    missing, folder = tmp_path / "status-list.json", tmp_path / "downloads"
    folder.mkdir()

    absent = await certflow(
        "verify", "--public-key", str(key), "--status-list", str(missing), str(pdf)
    )
    a_folder = await certflow(
        "verify", "--public-key", str(key), "--status-list", str(folder), str(pdf)
    )

    assert absent.status == 7 and a_folder.status == 7
    assert absent.out.strip() == t("cli.file_missing", path=missing)
    assert a_folder.out.strip() == t("cli.file_is_folder", path=folder)


async def test_a_pipe_or_a_device_is_not_a_file_that_is_missing(
    settings: Settings, tmp_path: Path
) -> None:
    certflow = certflow_runner(settings, None)
    key, _pdf = _certificate(tmp_path)
    pipe = tmp_path / "pipe.pdf"
    os.mkfifo(pipe)

    outcomes = {
        path: await certflow("verify", "--public-key", str(key), str(path))
        for path in (pipe, Path(os.devnull))
    }

    for path, outcome in outcomes.items():
        assert outcome.status == 7
        assert outcome.out.strip() == t("cli.file_not_regular", path=path)


async def _served_keys(
    settings: Settings, signing: Path, previous: list[Path], into: Path
) -> Path:
    """``/keys.json`` as the web service serves it, saved as a verifier would."""
    served = settings.model_copy(
        update={
            "certificates": settings.certificates.model_copy(
                update={"signing_key_file": signing, "previous_public_keys": previous}
            )
        }
    )
    app = create_app(served)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://certs.test"
    ) as client:
        response = await client.get("/keys.json")
    assert response.status_code == 200
    return _write(into, response.content)


@dataclass(frozen=True)
class Rotated:
    """After a key rotation: the old key signed the certificate, the new key
    the status list; the service's ``/keys.json`` holds both."""

    old_key: Path
    new_key_id: str
    keys_json: Path
    status_list: Path
    pdf: Path

    def verify(self, key: Path) -> tuple[str, ...]:
        """``certflow verify`` of the certificate with the list, trusting ``key``."""
        return (
            "verify", "--public-key", str(key),
            "--status-list", str(self.status_list), str(self.pdf),
        )  # fmt: skip


async def _rotated(settings: Settings, tmp_path: Path) -> Rotated:
    old_private, old_public = generate_keypair()
    new_private, _ = generate_keypair()
    old_key = _write(tmp_path / "old.pub.pem", old_public)
    signing = _write(tmp_path / "new.pem", new_private)
    signed_list = sign_status_list(
        StatusList(issued_at=datetime.now(UTC)), load_private_key(new_private)
    )
    return Rotated(
        old_key=old_key,
        new_key_id=key_id(load_private_key(new_private)),
        keys_json=await _served_keys(
            settings, signing, [old_key], tmp_path / "keys.json"
        ),
        status_list=_write(
            tmp_path / "status-list.json", signed_list.model_dump_json().encode()
        ),
        pdf=_write(tmp_path / "cert.pdf", certificate_pdf(old_private)),
    )


async def test_the_services_key_list_verifies_certificates_of_every_key(
    settings: Settings, tmp_path: Path
) -> None:
    certflow = certflow_runner(settings, None)
    rotated = await _rotated(settings, tmp_path)

    outcome = await certflow(*rotated.verify(rotated.keys_json))

    assert outcome.status == 0, outcome.out
    # The list, signed by the new key, was trusted and read.
    checked_until = t("cli.verify_revocation_as_of", at="|").split("|")[0]
    assert checked_until in outcome.out


async def test_files_saved_with_a_byte_order_mark_verify_as_they_are(
    settings: Settings, tmp_path: Path
) -> None:
    """Trial: a genuine status list saved with a UTF-8 byte order mark (as
    Windows editors save) was refused as unrecognisable; a key list too."""
    certflow = certflow_runner(settings, None)
    rotated = await _rotated(settings, tmp_path)
    for path in (rotated.status_list, rotated.keys_json):
        path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())

    outcome = await certflow(*rotated.verify(rotated.keys_json))

    assert outcome.status == 0, outcome.out


async def test_an_empty_status_list_or_certificate_is_said_to_be_empty(
    settings: Settings, tmp_path: Path
) -> None:
    """Trial: an empty status list was said to be unrecognisable, an empty
    PDF to hold no signed data."""
    certflow = certflow_runner(settings, None)
    key, pdf = _certificate(tmp_path)
    empty_list = _write(tmp_path / "status-list.json", codecs.BOM_UTF8 + b"\n")
    empty_pdf = _write(tmp_path / "empty.pdf", b"")

    no_list = await certflow(
        "verify", "--public-key", str(key), "--status-list", str(empty_list), str(pdf)
    )
    no_pdf = await certflow("verify", "--public-key", str(key), str(empty_pdf))

    assert no_list.status == 7
    assert no_list.out.strip() == t("cli.status_list_empty", path=empty_list)
    assert no_pdf.status == 6
    assert no_pdf.out.strip() == t("cli.verify_empty", path=empty_pdf)


async def test_a_status_list_signed_by_a_key_not_held_names_that_key(
    settings: Settings, tmp_path: Path
) -> None:
    """A verifier with only the old public key: the list is not trusted, and
    the tool names the key id it lacks (no personal data)."""
    certflow = certflow_runner(settings, None)
    rotated = await _rotated(settings, tmp_path)

    outcome = await certflow(*rotated.verify(rotated.old_key))

    assert outcome.status == 7
    assert outcome.out.strip() == t(
        "cli.status_list_unknown_key",
        path=rotated.status_list,
        key_id=rotated.new_key_id,
    )


async def test_a_key_list_that_is_damaged_or_another_file_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    certflow = certflow_runner(settings, None)
    private_pem, _public = generate_keypair()
    signing = _write(tmp_path / "signing.pem", private_pem)
    keys = await _served_keys(settings, signing, [], tmp_path / "keys.json")
    pdf = _write(tmp_path / "cert.pdf", certificate_pdf(private_pem))
    # Another key's id written over the served one: the list is not trusted.
    other_id = key_id(load_private_key(generate_keypair()[0]))
    own_id = key_id(load_private_key(private_pem))
    edited = _write(
        tmp_path / "edited.json",
        keys.read_bytes().replace(own_id.encode(), other_id.encode()),
    )
    other_json = _write(
        tmp_path / "other.json", b'{"schema": "certflow-status-list-v1"}'
    )

    served = await certflow("verify", "--public-key", str(keys), str(pdf))
    damaged = await certflow("verify", "--public-key", str(edited), str(pdf))
    not_a_list = await certflow("verify", "--public-key", str(other_json), str(pdf))

    assert served.status == 0, served.out
    assert damaged.status == 7
    assert damaged.out.strip() == t("cli.bad_key_key_id_mismatch", path=edited)
    assert not_a_list.status == 7
    assert not_a_list.out.strip() == t("cli.bad_key_not_key_list", path=other_json)


async def test_a_configured_font_file_that_is_not_there_is_named(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A warning, not an error: the signature and the page were checked, and
    the page is left to be compared by eye (status 8). The certificate's own
    face, installed, is compared with all the same."""
    certflow = certflow_runner(settings, None)
    key, pdf = _certificate(tmp_path)
    font = tmp_path / "fonts" / "wqy-microhei.ttc"
    monkeypatch.setenv(FONT_ENV, str(font))

    installed = await certflow("verify", "--public-key", str(key), str(pdf))
    monkeypatch.setenv(FONT_ENV_PREVIOUS, "")  # no other certificate font
    outcome = await certflow("verify", "--public-key", str(key), str(pdf))

    assert installed.status == 0, installed.out
    assert outcome.status == 8, outcome.out
    assert t("cli.verify_font_missing", variable=FONT_ENV, path=font) in outcome.out
    assert t("cli.verify_glyphs_unchecked") not in outcome.out


async def test_who_acts_named_after_verify_is_passed_over(
    settings: Settings, tmp_path: Path
) -> None:
    """Trial: ``verify --as admin --public-key K C.pdf`` read ``admin`` as the
    certificate and refused the rest as unknown; before ``verify`` the same
    flags were taken and, as nobody acts in an offline check, ignored."""
    certflow = certflow_runner(settings, None)
    key, pdf = _certificate(tmp_path)

    after = await certflow(
        "verify", "--as", "admin", "--person", "admin-li", "--public-key", str(key),
        str(pdf),
    )  # fmt: skip
    before = await certflow(
        "--as", "admin", "verify", "--public-key", str(key), str(pdf)
    )

    assert after.status == 0, after.out
    assert after.out == before.out
    # Left out, not taken as options: --p still abbreviates --public-key.
    abbreviated = await certflow("verify", "--p", str(key), "--as=admin", str(pdf))
    assert abbreviated.status == 0, abbreviated.out


@pytest.mark.parametrize("command", [("verify",), ("keys", "create")], ids=" ".join)
async def test_the_offline_commands_list_only_the_options_they_take(
    command: tuple[str, ...],
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    certflow = certflow_runner(settings, None)

    outcome = await certflow(*command, "--help")

    shown = capsys.readouterr().out
    assert outcome.status == 0
    assert "--config" in shown
    for flag in ("--wait", "--as", "--person", "--site"):
        assert flag not in shown, flag
