"""Every message of the real-world mail corpus reads exactly as its manifest says."""

from __future__ import annotations

import importlib.util
import tomllib
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from certflow.corrections import (
    PROBLEM_CODES,
    CorrectionDraft,
    MailReading,
    dedupe_key,
    read_correction_mail,
)

CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "mail"
MANIFEST: list[dict[str, Any]] = tomllib.loads(
    (CORPUS / "manifest.toml").read_text(encoding="utf-8")
)["message"]
BY_FILE = {entry["file"]: entry for entry in MANIFEST}
READABLE = [entry for entry in MANIFEST if "same_as" not in entry]


def _read(name: str) -> MailReading:
    return read_correction_mail((CORPUS / name).read_bytes())


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_corpus", CORPUS / "make_corpus.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_manifest_lists_every_message_of_the_corpus() -> None:
    on_disk = {path.name for path in CORPUS.glob("*.eml")}
    assert on_disk == set(BY_FILE)


def test_committed_messages_are_what_the_generator_writes() -> None:
    generator = _generator()
    for name, build in generator.MESSAGES.items():
        assert (CORPUS / name).read_bytes() == build(), (
            f"{name} is stale: rerun make_corpus.py"
        )


@pytest.mark.parametrize("entry", READABLE, ids=[e["file"] for e in READABLE])
def test_message_reads_as_the_manifest_says(entry: dict[str, Any]) -> None:
    reading = _read(entry["file"])

    assert reading.sender == entry["sender"]
    assert reading.sender_name == entry["sender_name"]
    assert reading.subject == entry["subject"]
    if entry.get("synthetic"):
        assert reading.message_id_synthetic
        assert reading.message_id.endswith("@synthetic.certflow.invalid>")
    else:
        assert not reading.message_id_synthetic
        assert reading.message_id == entry["message_id"]
    assert reading.received_at == datetime.fromisoformat(entry["received_at"])
    assert reading.attachments == entry["attachments"]
    assert reading.references == entry.get("references", [])
    assert reading.auto_submitted == entry.get("auto_submitted", False)

    expected_drafts = [CorrectionDraft(**draft) for draft in entry.get("draft", [])]
    assert reading.drafts == expected_drafts

    problems = [
        {key: getattr(problem, key) for key in expected}
        for problem, expected in zip(reading.problems, entry["problems"], strict=False)
    ]
    assert len(reading.problems) == len(entry["problems"])
    assert problems == entry["problems"]
    for problem in reading.problems:
        assert problem.code in PROBLEM_CODES
        assert problem.message and not problem.message.isascii()


def test_a_second_delivery_has_the_same_dedupe_key_but_other_bytes() -> None:
    for entry in MANIFEST:
        if "same_as" not in entry:
            continue
        first = _read(entry["same_as"])
        again = _read(entry["file"])
        assert again.content_key != first.content_key
        assert dedupe_key(again) == dedupe_key(first)
        assert again.drafts == first.drafts


def test_different_messages_have_different_dedupe_keys() -> None:
    keys = {dedupe_key(_read(entry["file"])) for entry in READABLE}
    assert len(keys) == len(READABLE)


def test_synthetic_message_id_is_stable_across_trace_headers() -> None:
    raw = (CORPUS / "06-android-no-message-id.eml").read_bytes()
    trace = b"Received: from phone (unknown [10.0.0.9]) by mx; Sat, 28 Nov 2026\r\n"
    first = read_correction_mail(raw)
    relayed = read_correction_mail(trace + raw)
    assert relayed.message_id == first.message_id
    assert dedupe_key(relayed) == dedupe_key(first)


def test_corpus_has_the_shapes_real_clients_send() -> None:
    everything = b"".join(p.read_bytes() for p in sorted(CORPUS.glob("*.eml")))
    for marker in (
        b'charset="gb2312"',
        b"charset=GBK",
        b'charset="GB18030"',
        b"charset=UTF-8",
        b"=?GBK?Q?",
        b"?B?",
        b"filename*=utf-8''",
        b"filename*0*=GB18030''",
        b"Content-Type: message/rfc822",
        b"multipart/related",
        b"Content-Transfer-Encoding: quoted-printable",
        b"Content-Transfer-Encoding: 8bit",
        b"X-Mailer: Foxmail 7.2",
        b"X-Mailer: QQMail",
        b"Coremail",
        b"X-MS-Has-Attach",
        b"X-Mailer: iPhone Mail",
        b"Content-Type: application/vnd.ms-excel",
    ):
        assert marker in everything, marker


def test_corpus_lines_end_in_crlf_as_on_the_wire() -> None:
    for path in sorted(CORPUS.glob("*.eml")):
        raw = path.read_bytes()
        assert raw.count(b"\n") == raw.count(b"\r\n"), path.name
