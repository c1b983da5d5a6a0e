"""Revoking certificates: refusals, the audit row, and the signed status list."""

from __future__ import annotations

from datetime import date

import asyncpg
import pytest

from activities.revocation import (
    REVOKE_ACTION,
    RevocationError,
    revoke,
    revoked_entries,
    status_list,
)
from certflow.certificates import (
    KeyRing,
    SigningKey,
    Verdict,
    verify_status_list,
)
from certflow.config import Settings
from certflow.i18n import t
from certflow.identity import is_or_holds_id_number, mask_person_id_numbers
from certflow.models import Role
from certflow.privacy import holds_code, holds_full_name, holds_id_number, holds_name
from tests.web.samples import AILI, PLAN_A, SUN, WANG, Holder, Issued

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def refused_revocation(pool: asyncpg.Pool, number: str, reason: str) -> str:
    """Revoke ``number`` for ``reason``, which must be refused: the refusal's
    text, once the certificate is found still unrevoked."""
    with pytest.raises(RevocationError) as refused:
        await revoke(
            pool,
            number,
            reason=reason,
            revoked_on=date(2026, 12, 18),
            by="t",
            role=Role.TECH_DEPT,
        )
    row = await pool.fetchrow(
        "SELECT revoked_on, revocation_reason FROM certificates WHERE number = $1",
        number,
    )
    assert tuple(row) == (None, None)
    return str(refused.value)


async def test_revocation_records_date_reason_and_an_audit_row(
    web_pool: asyncpg.Pool, issued: Issued
) -> None:
    row = await web_pool.fetchrow(
        "SELECT revoked_on, revocation_reason FROM certificates WHERE number = $1",
        issued.of(SUN),
    )
    audit = await web_pool.fetchrow(
        "SELECT * FROM audit WHERE action = $1 AND details->>'number' = $2",
        REVOKE_ACTION,
        issued.of(SUN),
    )

    assert row["revoked_on"] == date(2026, 12, 18)
    assert row["revocation_reason"] == "成绩更正"
    assert audit["plan_id"] == PLAN_A.plan_id
    assert audit["person"] == "tech-zhang"
    assert audit["accepted"] is True
    assert audit["idempotency_key"] == f"{REVOKE_ACTION}:{issued.of(SUN)}"
    assert audit["details"]["reason"] == "成绩更正"


async def test_an_already_revoked_certificate_is_refused(
    web_pool: asyncpg.Pool, issued: Issued
) -> None:
    with pytest.raises(RevocationError) as refused:
        await revoke(
            web_pool,
            issued.of(SUN),
            reason="重复撤销",
            revoked_on=date(2026, 12, 20),
            by="tech-li",
            role=Role.TECH_DEPT,
        )

    assert "已于 2026-12-18 撤销" in str(refused.value)
    reason = await web_pool.fetchval(
        "SELECT revocation_reason FROM certificates WHERE number = $1",
        issued.of(SUN),
    )
    assert reason == "成绩更正"


async def test_unknown_numbers_empty_reasons_and_early_dates_are_refused(
    web_pool: asyncpg.Pool, issued: Issued
) -> None:
    number = issued.of(WANG)
    cases = {
        "unknown": ("ZCX2026QCYY2999999", "成绩更正", date(2026, 12, 18)),
        "no reason": (number, "   ", date(2026, 12, 18)),
        "before issue": (number, "成绩更正", date(2026, 12, 3)),
    }
    texts = {}
    for name, (which, reason, day) in cases.items():
        with pytest.raises(RevocationError) as refused:
            await revoke(
                web_pool,
                which,
                reason=reason,
                revoked_on=day,
                by="t",
                role=Role.TECH_DEPT,
            )
        texts[name] = str(refused.value)

    assert "ZCX2026QCYY2999999 不存在" in texts["unknown"]
    assert "撤销原因" in texts["no reason"]
    assert "发证日期 2026-12-04" in texts["before issue"]
    assert (
        await web_pool.fetchval(
            "SELECT revoked_on FROM certificates WHERE number = $1", number
        )
        is None
    )


async def test_the_status_list_is_signed_with_the_configured_key(
    web_pool: asyncpg.Pool, web_settings: Settings, issued: Issued
) -> None:
    key = SigningKey.load(web_settings.certificates.signing_key_file.read_bytes())

    signed = await status_list(web_pool, key)

    ring = KeyRing.from_public_keys([key.private_key.public_key()])
    assert signed.key_id == key.key_id
    assert verify_status_list(signed, ring) is Verdict.VALID
    assert signed.status_list.entries == await revoked_entries(web_pool)
    [entry] = signed.status_list.entries
    assert (entry.number, entry.revoked_on, entry.reason) == (
        issued.of(SUN),
        date(2026, 12, 18),
        "成绩更正",
    )
    assert signed.status_list.issued_at.utcoffset() is not None


async def test_a_reason_holding_an_id_number_is_refused_and_an_id_number_not_repeated(
    web_pool: asyncpg.Pool, issued: Issued
) -> None:
    """The reason is published (status list, verification page): no ID number.
    And a number that is an ID number is not repeated whole in the refusal."""
    number = issued.of(WANG)
    with pytest.raises(RevocationError) as reason_refused:
        await revoke(
            web_pool,
            number,
            reason=f"考生 {WANG.id_number} 成绩更正",
            revoked_on=date(2026, 12, 18),
            by="t",
            role=Role.TECH_DEPT,
        )
    with pytest.raises(RevocationError) as number_refused:
        await revoke(
            web_pool,
            WANG.id_number,
            reason="成绩更正",
            revoked_on=date(2026, 12, 18),
            by="t",
            role=Role.TECH_DEPT,
        )

    assert "不能含有证件号码" in str(reason_refused.value)
    assert WANG.id_number not in str(reason_refused.value)
    assert "4405**********0014 不存在" in str(number_refused.value)
    assert (
        await web_pool.fetchval(
            "SELECT revoked_on FROM certificates WHERE number = $1", number
        )
        is None
    )


# 买买提·艾力's ID number typed in the groups people write it in.
AILI_GROUPED = [
    "650102 1990 0101 0017",  # 6-4-4-4, as the tester typed it
    "650102 19900101 0017",  # 6-8-4
    "650 102 1990 0101 0017",  # 3-3-4-4-4
    "6501 0219 9001 0100 17",  # fours
    "650102-1990-0101-0017",
    "650102.19900101.0017",
    "650102\u00a01990\u00a00101\u00a00017",  # no-break spaces
    "６５０１０２　１９９０　０１０１　００１７",  # full width, ideographic spaces
    "650102 - 1990 0101 0017",
    # Review: split by characters that show as nothing but were no gap.
    "650 102\u2061 199 001 010 017",  # a function application
    "650102 1990\u2062 0101 0017",  # an invisible times
    "650102\u2064 1990 0101 0017",  # an invisible plus
    "6501\u202a02 1990 0101 0017",  # a bidi embedding inside a group
    "650102 \u202d1990 0101\u202c 0017",  # an override and its end
    "650102\u2066 1990\u2069 0101 0017",  # an isolate
    "650102\u180e1990\u180e0101\u180e0017",  # the Mongolian vowel separator
    "650102\u061c 1990 0101 0017",  # the Arabic letter mark
    # Review: slashes, underscores, commas, and columns lined up with spaces.
    "650102/1990/0101/0017",
    "650102／1990／0101／0017",
    "650102_1990_0101_0017",
    "650102,1990,0101,0017",
    "650102，1990，0101，0017",
    "650102    1990    0101    0017",
    "650102        19900101        0017",
]


@pytest.mark.parametrize("grouped", AILI_GROUPED)
async def test_a_reason_holding_an_id_number_typed_in_groups_is_refused(
    web_pool: asyncpg.Pool, issued: Issued, grouped: str
) -> None:
    """Trial: ``revoke … --reason "证件 650102 1990 0101 0017"`` was accepted and
    the number published on /verify/… and in /status-list.json: only the
    6-8-4 grouping and fours were read as an ID number."""
    number = issued.of(WANG)

    with pytest.raises(RevocationError) as refused:
        await revoke(
            web_pool,
            number,
            reason=f"证件 {grouped} 成绩更正",
            revoked_on=date(2026, 12, 18),
            by="t",
            role=Role.TECH_DEPT,
        )

    assert str(refused.value) == t("revocation.reason_holds_id_number")
    assert is_or_holds_id_number(grouped)
    assert mask_person_id_numbers(f"证件 {grouped} 成绩更正") == (
        "证件 6501**********0017 成绩更正"
    )
    assert (
        await web_pool.fetchval(
            "SELECT revoked_on FROM certificates WHERE number = $1", number
        )
        is None
    )


@pytest.mark.parametrize(
    "reason",
    [
        "2026-12-18 成绩更正",
        "2026 12 18 经电话 138 0013 8000 核实",
        "电话 138 0013 8000、139 0013 8000 均已核实",
        "退费 1 280.00 元，发票号码 2644 2000 0000 1234 5678",
        "发票 12345678 2026.12.18 作废",
        "第 3 批 20 人 2026-12-04 至 2026-12-18",
        "证书编号 ZCX 2026 QCYY 2000003 重复",
        # Review: 18 digits in groups naming no province or no birth date.
        "回执 2026 1104 0412 0001 11",
        "编号 4200 4500 4800 5100 54",
        "2026/12/04 至 2026/12/18，第 3 批 20 人",
        "退费 1,280,000.00 元",
        "发票 2644 2000 0000 1234 5678，1,280.00 元",
        "电话 138 0013 8000    139 0013 8000",
        "批次 B20261204_153012 作废",
        # 18 digits with a province and a day, but in more groups than any
        # ID number is typed in: a list.
        "0, 1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17",
    ],
)
async def test_a_reason_holding_ordinary_numbers_is_no_id_number(reason: str) -> None:
    """Dates, amounts, phone numbers and invoice numbers in groups are not read as
    an ID number, in the staff tool's check or in what it masks; nor are 18
    digits in groups that could be no person's number (review: a receipt
    number in fours was refused)."""
    assert not holds_id_number(reason)
    assert mask_person_id_numbers(reason) == reason


@pytest.mark.parametrize(
    ("holder", "reason"),
    [
        (WANG, "王小明成绩更正"),  # the full name
        (WANG, "王 小明 成绩更正"),  # typed with spaces
        (WANG, "王小成绩更正"),  # the surname and one character of the given name
        (WANG, "小明成绩更正"),  # the given name
        (WANG, "王\u200b小明成绩更正"),  # pasted with a zero-width space
        (AILI, "考生艾力成绩更正"),  # a part of a name written in parts
    ],
)
async def test_a_reason_holding_the_holders_name_is_refused_unrepeated(
    web_pool: asyncpg.Pool, issued: Issued, holder: Holder, reason: str
) -> None:
    """Trial: ``revoke NUMBER --reason 黎芬成绩更正`` was accepted, and the name
    was published beside the number in the status list and on the holder's
    verification page."""
    said = await refused_revocation(web_pool, issued.of(holder), reason)

    assert said == t("revocation.reason_holds_name")
    assert not holds_name(said, holder.name)


async def test_a_reason_naming_somebody_else_or_one_character_is_no_name() -> None:
    assert not holds_name("成绩更正，经王老师核实", WANG.name)
    assert not holds_name("成绩更正", "黎芬")
    assert not holds_name("考生芬", "黎芬")  # one character alone is in many words
    assert holds_name("欧阳娜成绩更正", "欧阳娜娜")
    assert holds_name("娜娜成绩更正", "欧阳娜娜")


async def test_another_candidate_is_found_by_the_full_name_alone() -> None:
    """Another candidate's name is read as the holder's is (without spaces or
    hidden characters), but only whole: their surname or given name alone is
    in too many words of a reason."""
    assert holds_full_name("与赵 六成绩互换", "赵六")
    assert holds_full_name("与赵\u200b六成绩互换", "赵 六")
    assert holds_full_name("与买买提·艾力串号", "买买提·艾力")
    assert not holds_full_name("与赵老师核实", "赵六")
    assert not holds_full_name(
        "娜娜成绩更正", "欧阳娜娜"
    )  # the holder's part, not whole
    assert not holds_full_name("成绩更正六", "六")  # one character is in many words


@pytest.mark.parametrize(
    "reason",
    [
        "重复发证\u202eabc",  # a right-to-left override, as the trial typed it
        "成绩\u200b更正",  # a zero-width space pasted from a chat
        "成绩更正\u2066核实\u2069",  # a bidi isolate
        "成绩更正\x1b[31m",  # a terminal escape
        "成绩更正\u2028核实",  # a line separator
    ],
)
async def test_a_reason_with_a_hidden_or_direction_character_is_refused(
    web_pool: asyncpg.Pool, issued: Issued, reason: str
) -> None:
    """Trial: ``revoke NUMBER --reason "$(printf '重复发证\\u202eabc')"`` was
    accepted, and the override went raw into the verification page and the
    status list, turning the text after it around on the public page."""
    said = await refused_revocation(web_pool, issued.of(WANG), reason)

    assert "不可见字符或改变文字方向的控制字符" in said
    assert "U+" in said and said.isprintable()


@pytest.mark.parametrize(
    "reason",
    [
        "准考证号A002成绩更正",  # as the trial typed it (its number was 13 digits)
        "准考证号 a002 成绩更正",  # in another case
        "准考证号 A-002 成绩更正",  # typed in groups
        "准考证号Ａ００２成绩更正",  # full width
        "准考证号A\u200b002成绩更正",  # pasted with a zero-width space
    ],
)
async def test_a_reason_holding_the_holders_admission_number_is_refused(
    web_pool: asyncpg.Pool, issued: Issued, reason: str
) -> None:
    """Trial: ``--reason 准考证号2026110412002成绩更正`` was accepted and the
    admission number published beside the certificate's number, tying it to
    the holder as their name would."""
    said = await refused_revocation(web_pool, issued.of(WANG), reason)

    # The name's refusal, its wording and its rewriting example too.
    assert said == t("revocation.reason_holds_admission_number")
    assert "A002" not in said


async def test_a_code_is_found_as_a_number_of_its_own_only() -> None:
    assert holds_code("准考证号2026110412002成绩更正", "2026110412002")
    assert holds_code("准考证号 2026 1104 12002 成绩更正", "2026110412002")
    assert holds_code("护照 e1234 5678 有误", "E12345678")
    # Inside a longer number it is another number; a short code is in too many.
    assert not holds_code("发票 20261104120021 作废", "2026110412002")
    assert not holds_code("证书编号 ZCX2026QCYY2000003 重复", "2000003")
    assert not holds_code("第 12 批", "12")
    assert not holds_code("成绩更正", "")


@pytest.mark.parametrize(
    ("reason", "what"),
    [
        ("与准考证号A004考生成绩互换", "准考证号"),  # one who did not pass
        ("与 a-001 成绩串号", "准考证号"),  # typed in groups, in another case
        ("与赵六成绩互换", "姓名"),
        ("与赵 六成绩互换", "姓名"),  # typed with a space
        ("与黎芬成绩串号", "姓名"),  # one who holds certificates of her own
        ("与考生11010519491231002X串号", "证件号码"),
    ],
)
async def test_a_reason_naming_another_candidate_of_the_plan_is_refused(
    web_pool: asyncpg.Pool, issued: Issued, reason: str, what: str
) -> None:
    """Review: a reason telling of a mix-up ("与准考证号…考生成绩互换")
    published the other candidate's admission number or name beside the
    revoked certificate's number, where only the holder's were refused."""
    said = await refused_revocation(web_pool, issued.of(WANG), reason)

    if what == "证件号码":  # an ID number's shape is refused whoever's it is
        assert said == t("revocation.reason_holds_id_number")
    else:
        assert said == t("revocation.reason_holds_other_candidate", what=what)
    assert "A004" not in said and "赵六" not in said and "黎芬" not in said


async def test_a_passport_number_of_another_candidate_is_refused(
    web_pool: asyncpg.Pool, issued: Issued
) -> None:
    await web_pool.execute(
        "INSERT INTO scores (plan_id, admission_number, module_code, name, id_type,"
        " id_number, status, passed, source_version, updated_at)"
        " VALUES ($1, 'A009', '1-1', 'JOHN SMITH', 'passport', 'E98765432',"
        " 'absent', false, 1, now())",
        PLAN_A.plan_id,
    )
    try:
        said = await refused_revocation(
            web_pool, issued.of(WANG), "与护照 E9876 5432 考生串号"
        )
    finally:
        await web_pool.execute(
            "DELETE FROM scores WHERE plan_id = $1 AND admission_number = 'A009'",
            PLAN_A.plan_id,
        )
    assert said == t("revocation.reason_holds_other_candidate", what="证件号码")
