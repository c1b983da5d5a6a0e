"""Revocation reasons stored before revoking refused personal data in them.

``certflow revoke`` now refuses a reason naming the holder or holding an ID
number, the holder's admission number or a character that shows as nothing
or turns the text around, as the reason is published. Reasons stored before
it did were still published whole: in the signed status list, on the
verification pages and in ``certflow verify``'s verdict. They are withheld
(or their hidden characters shown as code points) wherever they are shown to
anyone, and kept whole in the records.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio

from activities.db import create_pool, migrate
from activities.documents import DocumentStore
from certflow.certificates import (
    KeyRing,
    RevocationEntry,
    SignedStatusList,
    SigningKey,
    StatusList,
    Verdict,
    generate_keypair,
    sign_status_list,
    verify_status_list,
)
from certflow.config import Settings
from certflow.i18n import t
from tests.cli.conftest import certflow_runner
from tests.support import throwaway_database
from tests.web.conftest import ADMIN_URL, add_score, issue_plans, register_plan
from tests.web.samples import AILI, LI_FEN, PLAN_A, PLAN_B, SUN, WANG, Holder, Issued
from tests.web.test_revocation import refused_revocation
from web import records
from web.app import create_app

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

WITHHELD = t("certificates.revocation_reason_withheld")
REVOKED_ON = date(2026, 12, 18)
# What each holder's certificate was revoked for, stored before the checks.
REASONS = {
    WANG: "王小明成绩更正",  # the holder's name
    AILI: f"考生 {AILI.id_number} 成绩更正",  # the holder's ID number
    LI_FEN: "核对 1101051949-1231-002X 后更正",  # an ID number typed in groups
    SUN: "成绩更正",  # nothing personal: published as it is
}
# The same for certificates of another plan (PLAN_B).
LATER_REASONS = {
    WANG: "准考证号A002成绩更正",  # the holder's admission number
    # A right-to-left override and a line break, as the trial's reason.
    SUN: "重复发证\u202eabc\n核实",
}
SUN_PUBLISHED = "重复发证<U+202E>abc 核实"
# 黎芬's certificate of PLAN_B, left unrevoked: her document is a passport.
PASSPORT = "E12345678"


@dataclass(frozen=True)
class OldReasons:
    """A database whose revocations were stored before the checks."""

    settings: Settings
    pool: asyncpg.Pool
    issued: Issued
    key: SigningKey
    public_pem: bytes


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def old_reasons(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[OldReasons]:
    state = tmp_path_factory.mktemp("old-reasons")
    key_file = state / "keys" / "certificate-signing.pem"
    key_file.parent.mkdir(parents=True)
    private_pem, public_pem = generate_keypair()
    key_file.write_bytes(private_pem)
    admin_url = os.environ.get("DATABASE_ADMIN_URL", ADMIN_URL)
    async with throwaway_database(admin_url, "certflow_reasons", state) as url:
        settings = Settings().with_environment(
            {"CERTFLOW_STATE": str(state), "DATABASE_URL": url}
        )
        pool = await create_pool(url)
        try:
            await migrate(pool)
            for plan in (PLAN_A, PLAN_B):
                await register_plan(pool, plan)
            for holder in REASONS:
                await add_score(pool, PLAN_A, holder, passed=True)
            for holder in (*LATER_REASONS, LI_FEN):
                await add_score(pool, PLAN_B, holder, passed=True)
            issued = await issue_plans(settings, pool, (PLAN_A, PLAN_B))
            stored = [(issued.of(h), r) for h, r in REASONS.items()]
            stored += [(issued.of(h, PLAN_B), r) for h, r in LATER_REASONS.items()]
            for number, reason in stored:
                # As revoke stored it before it read the reason for the
                # holder's name or an ID number.
                await pool.execute(
                    "UPDATE certificates SET revoked_on = $2, revocation_reason = $3 "
                    "WHERE number = $1",
                    number,
                    REVOKED_ON,
                    reason,
                )
            await pool.execute(
                "UPDATE certificates SET id_type = 'passport', id_number = $2"
                " WHERE number = $1",
                issued.of(LI_FEN, PLAN_B),
                PASSPORT,
            )
            key = SigningKey.load(private_pem)
            yield OldReasons(settings, pool, issued, key, public_pem)
        finally:
            await pool.close()


def _client(world: OldReasons) -> httpx.AsyncClient:
    app = create_app(world.settings, world.pool)
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://certs.test")


def _personal(text: str, holder: Holder) -> bool:
    """Whether ``text`` shows the reason stored for ``holder`` or its parts."""
    return REASONS[holder] in text or holder.id_number in text or "王小明" in text


async def _pdf(world: OldReasons, holder: Holder) -> bytes:
    record = await records.get(world.pool, world.issued.of(holder))
    assert record is not None and record.pdf is not None
    return DocumentStore(world.settings.documents_dir).get(record.pdf)


async def test_the_status_list_withholds_reasons_holding_personal_data(
    old_reasons: OldReasons,
) -> None:
    async with _client(old_reasons) as client:
        answer = await client.get("/status-list.json")

    signed = SignedStatusList.model_validate_json(answer.text)
    ring = KeyRing.from_public_keys([old_reasons.key.private_key.public_key()])
    assert verify_status_list(signed, ring) is Verdict.VALID
    reasons = {entry.number: entry.reason for entry in signed.status_list.entries}
    assert reasons == {
        old_reasons.issued.of(WANG): WITHHELD,
        old_reasons.issued.of(AILI): WITHHELD,
        old_reasons.issued.of(LI_FEN): WITHHELD,
        old_reasons.issued.of(SUN): "成绩更正",
        old_reasons.issued.of(WANG, PLAN_B): WITHHELD,
        old_reasons.issued.of(SUN, PLAN_B): SUN_PUBLISHED,
    }
    for holder in (WANG, AILI, LI_FEN):
        assert not _personal(answer.text, holder)
    assert "A002" not in answer.text
    assert "\u202e" not in answer.text and "\\u202e" not in answer.text.lower()
    # The records keep the reason whole, for the staff and the audit trail.
    stored = await old_reasons.pool.fetch(
        "SELECT number, revocation_reason FROM certificates"
    )
    assert {r["revocation_reason"] for r in stored} == {
        *REASONS.values(),
        *LATER_REASONS.values(),
        None,
    }


async def test_the_verification_pages_withhold_them(old_reasons: OldReasons) -> None:
    number = old_reasons.issued.of(WANG)
    async with _client(old_reasons) as client:
        by_number = await client.get(f"/verify/{number}")
        looked_up = await client.post(
            "/lookup", data={"name": WANG.name, "id_number": WANG.id_number}
        )
        uploads = {
            holder: await client.post(
                "/verify/pdf",
                files={
                    "file": (
                        "c.pdf",
                        await _pdf(old_reasons, holder),
                        "application/pdf",
                    )
                },
            )
            for holder in (WANG, AILI)
        }
        plain = await client.get(f"/verify/{old_reasons.issued.of(SUN)}")

    for page in (by_number, looked_up, *uploads.values()):
        assert page.status_code == 200
        assert "已撤销" in page.text or "被撤销" in page.text, page.text
        assert WITHHELD in page.text
    assert not _personal(by_number.text, WANG)
    assert not _personal(looked_up.text, WANG)
    # The uploader holds the whole file, so the page may show the holder's
    # name and number; not the reason stored with them.
    for holder, page in uploads.items():
        assert REASONS[holder] not in page.text
    assert "撤销原因：成绩更正" in plain.text


async def test_certflow_verify_withholds_them_from_a_list_signed_before(
    old_reasons: OldReasons, tmp_path: Path
) -> None:
    """A status list downloaded before the service withheld such reasons is
    signed, so it cannot be mended: the verdict withholds them itself."""
    public = tmp_path / "key.pub.pem"
    public.write_bytes(old_reasons.public_pem)
    listed = StatusList(
        issued_at=datetime(2026, 12, 18, 2, 0, tzinfo=UTC),
        entries=[
            RevocationEntry(
                number=old_reasons.issued.of(holder), revoked_on=REVOKED_ON, reason=r
            )
            for holder, r in REASONS.items()
        ],
    )
    old_list = tmp_path / "status-list.json"
    old_list.write_text(
        sign_status_list(
            listed, old_reasons.key.private_key, old_reasons.key.key_id
        ).model_dump_json()
    )
    certflow = certflow_runner(old_reasons.settings, None)

    outcomes = {}
    for holder in (WANG, AILI, SUN):
        pdf = tmp_path / f"{holder.admission_number}.pdf"
        pdf.write_bytes(await _pdf(old_reasons, holder))
        outcomes[holder] = await certflow(
            "verify", "--public-key", str(public), "--status-list", str(old_list),
            str(pdf),
        )  # fmt: skip

    for holder in (WANG, AILI):
        outcome = outcomes[holder]
        assert outcome.status == 3, outcome.out
        assert t("certificates.verify.revoked_reason", reason=WITHHELD) in outcome.out
        assert REASONS[holder] not in outcome.out
    assert "王小明" not in outcomes[WANG].out
    assert t("certificates.verify.revoked_reason", reason="成绩更正") in (
        outcomes[SUN].out
    )


async def test_the_pages_never_show_a_hidden_character_nor_an_admission_number(
    old_reasons: OldReasons,
) -> None:
    """Trial: a reason holding a right-to-left override went raw into
    /verify/…: the text after it was turned around on the organisation's
    public page. Stored before revoking refused it, it is shown as its code
    point, as the mails show it; a reason holding the holder's admission
    number is withheld as one naming them."""
    hidden = old_reasons.issued.of(SUN, PLAN_B)
    admission = old_reasons.issued.of(WANG, PLAN_B)
    async with _client(old_reasons) as client:
        by_number = await client.get(f"/verify/{hidden}")
        looked_up = await client.post(
            "/lookup", data={"name": SUN.name, "id_number": SUN.id_number}
        )
        withheld = await client.get(f"/verify/{admission}")

    for page in (by_number, looked_up):
        assert page.status_code == 200
        assert "\u202e" not in page.text
        assert "重复发证&lt;U+202E&gt;abc 核实" in page.text, page.text
    assert withheld.status_code == 200
    assert WITHHELD in withheld.text
    assert LATER_REASONS[WANG] not in withheld.text


async def test_a_reason_holding_the_holders_passport_number_is_refused(
    old_reasons: OldReasons,
) -> None:
    """A passport's number has no ID number's shape: the holder's own
    document number is looked for in the reason."""
    number = old_reasons.issued.of(LI_FEN, PLAN_B)
    reason = f"护照 {PASSPORT.lower()} 登记有误"

    said = await refused_revocation(old_reasons.pool, number, reason)

    assert said == t("revocation.reason_holds_document_number")
    assert PASSPORT not in said
