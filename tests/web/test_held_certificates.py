"""The look-up of a certificate held out of issuance (the certificate font
cannot print the holder's name): said to be held, never 有效 with its file
"being made" for ever, as the tester saw for every candidate of a plan whose
issuance failed on one name."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from temporalio.testing import ActivityEnvironment

from activities.certificates import CertificateActivities
from activities.documents import DocumentStore
from certflow.activity_models import IssuanceResult, IssueRequest
from certflow.certificates import CertificateData, sign
from certflow.config import Settings
from certflow.models import Level, PlanInfo
from tests.support import RARE_CHARACTER, font_printing
from tests.web.conftest import add_score, register_plan, rotated_client
from tests.web.samples import ISSUED_ON, PLAN_A, ClientFactory, Holder, Issued

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

# Plans of their own, at a level no other test issues, so that no other
# test's numbers or look-ups change.
HELD_PLAN = PLAN_A.model_copy(
    update={"plan_id": "P2026-WEB-0101", "level": Level.ADVANCED}
)
OLDER_PLAN = PLAN_A.model_copy(
    update={"plan_id": "P2026-WEB-0102", "level": Level.ADVANCED}
)
HU = Holder(f"胡{RARE_CHARACTER}霞", "330106200308287009", "H001")
REN = Holder("任俊", "440305200403043002", "H002")


async def _issue(
    settings: Settings, pool: asyncpg.Pool, plan: PlanInfo
) -> IssuanceResult:
    issuer = CertificateActivities(
        settings, pool, DocumentStore(settings.documents_dir)
    )
    return await ActivityEnvironment().run(
        issuer.issue_certificates, IssueRequest(plan=plan, issued_on=ISSUED_ON)
    )


def _said_held(page: str) -> None:
    assert "暂缓发放" in page and "姓名中的个别字" in page
    assert "badge good" not in page  # not 有效
    assert "正在生成" not in page
    assert "/download/" not in page
    # Nothing to download: no word of download links either (a trial read
    # "下载链接 15 分钟内有效" above a held certificate, and no link).
    assert "共找到 1 本证书。" in page and "下载链接" not in page


async def test_a_certificate_held_before_its_number_is_said_to_be_held(
    web_client: ClientFactory,
    web_settings: Settings,
    web_pool: asyncpg.Pool,
    issued: Issued,
) -> None:
    font_printing(RARE_CHARACTER)
    await register_plan(web_pool, HELD_PLAN)
    await add_score(web_pool, HELD_PLAN, HU, passed=True)
    result = await _issue(web_settings, web_pool, HELD_PLAN)
    assert result.issued == 0 and len(result.held) == 1

    response = await web_client().post(
        "/lookup", data={"name": HU.name, "id_number": HU.id_number}
    )

    assert response.status_code == 200
    _said_held(response.text)
    assert "汽车运用与维修职业技能等级证书" in response.text


async def test_a_certificate_numbered_by_an_older_version_and_held_is_said_held(
    web_client: ClientFactory,
    web_settings: Settings,
    web_pool: asyncpg.Pool,
    issued: Issued,
    tmp_path: Path,
) -> None:
    """Regression: numbered and signed, its PDF never drawn, it read 有效
    with "证书文件正在生成，请稍后再查询" for as long as anyone looked."""
    font_printing(RARE_CHARACTER)
    await register_plan(web_pool, OLDER_PLAN)
    await add_score(web_pool, OLDER_PLAN, REN, passed=True)
    [number] = (await _issue(web_settings, web_pool, OLDER_PLAN)).numbers
    # As the older version left it: the rare name signed, no PDF.
    rare = f"任{RARE_CHARACTER}"
    issuer = CertificateActivities(
        web_settings, web_pool, DocumentStore(web_settings.documents_dir)
    )
    payload = await web_pool.fetchval(
        "SELECT payload FROM certificates WHERE number = $1", number
    )
    data = CertificateData.model_validate(payload).model_copy(
        update={"candidate_name": rare}
    )
    signed = sign(data, issuer.key.private_key, issuer.key.key_id)
    await web_pool.execute(
        "UPDATE certificates SET name = $2, payload = $3, signature = $4, "
        "pdf_sha256 = NULL WHERE number = $1",
        number,
        rare,
        data.model_dump(mode="json"),
        signed.signature_b64,
    )
    result = await _issue(web_settings, web_pool, OLDER_PLAN)
    assert [h.number for h in result.held] == [number]

    response = await web_client().post(
        "/lookup", data={"name": rare, "id_number": REN.id_number}
    )

    assert response.status_code == 200
    _said_held(response.text)
    assert number in response.text
    # Regression: the verification page called it 证书有效 meanwhile.
    verified = await web_client().get(f"/verify/{number}")
    assert "证书暂缓发放" in verified.text and "证书有效" not in verified.text
    # And 无法确认真伪 once its key was no longer trusted, while the look-up
    # said 暂缓发放 (review).
    async with rotated_client(web_settings, web_pool, tmp_path) as (client, _):
        untrusted = await client.get(f"/verify/{number}")
    assert "证书暂缓发放" in untrusted.text and "无法确认真伪" not in untrusted.text
