"""``./run demo`` ends with certificates that verify, one of them revoked.

The demo is the README's first command; this runs it as a user does (its own
process, its own database on the local server) and checks what it leaves with
the staff tool's offline verification: every certificate valid, the revoked
one revoked with the published list, an edited copy tampered, and a stranger's
key unable to vouch for any.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from certflow.certificates import (
    KeyRing,
    SignedStatusList,
    VerificationStatus,
    extract_signed,
    generate_keypair,
    verify_pdf,
)
from starter.smtp_sink import read_messages
from tests.support import run_python


async def _verify(pdf: Path, key: Path, *extra: str) -> tuple[int, str]:
    return await run_python(
        "-m", "starter.cli", "verify", "--public-key", str(key), *extra, str(pdf)
    )


@pytest.mark.timeout(240)
async def test_the_demo_ends_with_verifiable_and_revoked_certificates(
    tmp_path: Path, fresh_database_url: str
) -> None:
    state = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CERTFLOW_")}
    status, out = await run_python(
        "-m",
        "starter.demo",
        "--state",
        str(state),
        "--database-url",
        fresh_database_url,
        env=env,
    )
    assert status == 0, out
    # The narration is all a user reads: no SDK or workflow warnings over it.
    assert "WARN" not in out, out
    # Each plan's invoice is recorded: a demo number of an old form was once
    # refused by the invoice number check, and the demo went on without one.
    assert len(re.findall(r"record_invoice accepted", out)) == 2, out
    # A refusal reads as staff read it: its internal type (wrong_role:) and
    # the batch named by the real clock, not the demo's, once showed.
    refusals = re.findall(r"refused: (.*)", out)
    assert refusals, out
    assert not any(re.match(r"[a-z_]+: ", r) for r in refusals), refusals
    batch = re.search(r"\bB(\d{8})-\d{6}\b", out)
    assert batch is not None, out
    day = re.search(r"\[(\d{4})-(\d{2})-(\d{2}) \d{2}:\d{2} CST\] Stage 9", out)
    assert day is not None, out
    assert batch.group(1) == "".join(day.groups()), out

    issued = [int(n) for n in re.findall(r": issued, (\d+) e-certificates", out)]
    assert len(issued) == 2 and all(n > 0 for n in issued), out
    pdfs = sorted((state / "out" / "certificates").glob("*/*.pdf"))
    assert len(pdfs) == sum(issued)
    # Each plan's last mail, that its certificates are issued, is in the
    # mailbox the report counts: the worker once stopped before sending it.
    subjects = [str(m["Subject"]) for m in read_messages(state / "mailbox")]
    for plan_id in re.findall(r"(P\S+): issued, \d+ e-certificates", out):
        assert any(f"【考试计划 {plan_id}】电子证书已发放" in s for s in subjects), out
    assert f"Mails: {len(subjects)} in" in out, out
    revoked_match = re.search(r"Revoked: (\S+)", out)
    assert revoked_match is not None, out
    revoked = revoked_match.group(1)
    # The info center and the site are told of the revocation, as by revoke.
    assert any(f"证书 {revoked} 已撤销" in s for s in subjects), out

    key = state / "keys" / "certificate-signing.pub.pem"
    ring = KeyRing.from_public_keys([key.read_bytes()])
    published = state / "out" / "status-list.json"
    status_list = SignedStatusList.model_validate_json(published.read_bytes())
    # Regression: the list was dated on the real clock, weeks before the
    # revocation it lists (made on the demo's simulated day) and before the
    # certificates it speaks of, so it could not vouch for any of them.
    listed = status_list.status_list
    assert [entry.number for entry in listed.entries] == [revoked]
    assert listed.issued_on >= listed.entries[0].revoked_on
    assert all(
        listed.covers(extract_signed(pdf.read_bytes()).data.issued_on) for pdf in pdfs
    )
    verdicts = {
        pdf.stem: verify_pdf(pdf.read_bytes(), ring, status_list).status for pdf in pdfs
    }
    assert verdicts.pop(revoked) is VerificationStatus.REVOKED
    assert set(verdicts.values()) == {VerificationStatus.VALID}

    # The staff tool says the same, in Chinese, with its exit status.
    genuine = next(p for p in pdfs if p.stem != revoked)
    code, text = await _verify(genuine, key, "--status-list", str(published))
    assert code == 0 and "证书有效" in text, text
    assert "撤销状态核对至" in text, text
    revoked_pdf = next(p for p in pdfs if p.stem == revoked)
    code, text = await _verify(revoked_pdf, key, "--status-list", str(published))
    assert code == 3 and "被撤销" in text, text

    edited = tmp_path / "edited.pdf"
    data = genuine.read_bytes()
    at = data.index(b'"candidate_name":"') + len(b'"candidate_name":"')
    # One byte of the signed name changed to another valid UTF-8 lead byte's
    # sibling: the file still parses, the signature no longer holds.
    edited.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :])
    code, text = await _verify(edited, key)
    assert code == 4 and "篡改" in text, text

    stranger = tmp_path / "stranger.pub.pem"
    stranger.write_bytes(generate_keypair()[1])
    code, text = await _verify(genuine, stranger)
    assert code == 5 and "不在受信任的密钥列表中" in text, text
