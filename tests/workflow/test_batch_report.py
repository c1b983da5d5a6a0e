"""The approval batch report: plans, counts and payments read from PostgreSQL into
an xlsx and a PDF for the general manager, with no candidate's name or ID in them.
"""

from __future__ import annotations

import dataclasses
import io
import re
import subprocess
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from openpyxl import load_workbook

from activities.batch_report import (
    COLUMNS,
    BatchReportActivities,
    Check,
    Payment,
    PlanLine,
    check_payments,
    payment_from_audit,
    render_pdf,
    render_xlsx,
)
from activities.documents import DocumentStore
from certflow.activity_models import BatchReportRequest
from certflow.config import Settings
from certflow.i18n import t
from certflow.linebreak import Rule, break_lines, widest_piece
from certflow.models import DocumentRef, Level
from tests.support import next_second, one_activity

pytestmark = pytest.mark.timeout(60)
on_session_loop = pytest.mark.asyncio(loop_scope="session")

CERTIFICATE = "汽车运用与维修"
GATHERED = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)


@dataclass
class Seeded:
    """A batch of plans written straight into the test database."""

    prefix: str
    batch_id: str
    fee: Decimal
    plan_ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    id_numbers: list[str] = field(default_factory=list)


async def _plan(
    pool: Any,
    seeded: Seeded,
    suffix: str,
    *,
    site_name: str,
    level: Level,
    results: list[bool],
) -> str:
    plan_id = f"{seeded.prefix}-{suffix}"
    await pool.execute(
        """
        INSERT INTO plans (plan_id, workflow_id, site_code, site_name, certificate,
                           level, module_code, module_name, exam_end_date, stage,
                           batch_id, created_at, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, '1-1', '汽车动力与驱动系统综合分析技术',
                $7, 'awaiting_approval', $8, now(), now())
        """,
        plan_id,
        f"exam-plan-{plan_id}",
        f"HB-{suffix}",
        site_name,
        CERTIFICATE,
        level.value,
        date(2026, 10, 20),
        seeded.batch_id,
    )
    for number, passed in enumerate(results, start=1):
        # Made-up people whose name and ID number must never reach the report.
        name = f"考生{suffix}{number}号"
        id_number = f"42010{uuid.uuid4().int % 10**13:013d}"
        seeded.names.append(name)
        seeded.id_numbers.append(id_number)
        await pool.execute(
            """
            INSERT INTO scores (plan_id, admission_number, module_code, seq, name,
                                id_type, id_number, theory, practical, total, status,
                                passed, source_version, updated_at)
            VALUES ($1, $2, '1-1', $3, $4, '居民身份证', $5, 70, 80, 77,
                    'present', $6, 1, now())
            """,
            plan_id,
            f"2026{suffix}{number:04d}",
            number,
            name,
            id_number,
            passed,
        )
    await pool.execute(
        "INSERT INTO batch_plans (batch_id, plan_id) VALUES ($1, $2)",
        seeded.batch_id,
        plan_id,
    )
    seeded.plan_ids.append(plan_id)
    return plan_id


async def _passing_plans(pool: Any, seeded: Seeded, *suffixes: str) -> list[str]:
    """Plans of one candidate who passed, one for each suffix."""
    return [
        await _plan(
            pool,
            seeded,
            suffix,
            site_name="学校",
            level=Level.INTERMEDIATE,
            results=[True],
        )
        for suffix in suffixes
    ]


async def _audit(
    pool: Any, plan_id: str, action: str, at: datetime, **details: str
) -> None:
    await pool.execute(
        """
        INSERT INTO audit (plan_id, action, role, person, at, accepted, late,
                           details, idempotency_key)
        VALUES ($1, $2, 'finance', 'staff-01', $3, true, false, $4, $5)
        """,
        plan_id,
        action,
        at,
        details,
        f"{plan_id}/{action}/{uuid.uuid4().hex}",
    )


async def _batch(pool: Any, settings: Settings, letters: str) -> Seeded:
    """A new batch, gathered at ``GATHERED``, with no plan yet."""
    configured = settings.fee_for(CERTIFICATE, Level.INTERMEDIATE)
    assert configured, "the project configuration prices this certificate"
    fee = Decimal(str(configured)).quantize(Decimal("0.01"))
    prefix = f"{letters}{uuid.uuid4().hex[:6].upper()}"
    data = Seeded(prefix=prefix, batch_id=f"{prefix}-batch", fee=fee)
    await pool.execute(
        "INSERT INTO batches (batch_id, created_at, requested_by) VALUES ($1, $2, 't')",
        data.batch_id,
        GATHERED,
    )
    return data


async def _forget(pool: Any, data: Seeded) -> None:
    """Remove a seeded batch and its plans, scores and audit lines."""
    await pool.execute("DELETE FROM audit WHERE plan_id = ANY($1)", data.plan_ids)
    await pool.execute("DELETE FROM scores WHERE plan_id = ANY($1)", data.plan_ids)
    await pool.execute("DELETE FROM batch_plans WHERE batch_id = $1", data.batch_id)
    await pool.execute("DELETE FROM plans WHERE plan_id = ANY($1)", data.plan_ids)
    await pool.execute("DELETE FROM batches WHERE batch_id = $1", data.batch_id)


@pytest_asyncio.fixture(loop_scope="session")
async def seeded(
    resources: tuple[Any, DocumentStore], settings: Settings
) -> AsyncIterator[Seeded]:
    """Three plans in one batch, each with a different state of payment records.

    - A: 4 candidates, 3 passed, one absentee paid for too, 4 fees confirmed
      and invoiced: matches.
    - B: 3 candidates, 2 passed, site declared 2 fees but finance confirmed
      100.00 less: differs by -100.00.
    - C: what the plan workflow writes today: an invoice number, no amount.
    """
    pool, _ = resources
    data = await _batch(pool, settings, "BR")
    fee = data.fee
    a = await _plan(
        pool,
        data,
        "A",
        site_name="武汉市交通学校",
        level=Level.INTERMEDIATE,
        results=[True, True, True, False],
    )
    b = await _plan(
        pool,
        data,
        "B",
        site_name='=HYPERLINK("http://127.0.0.1/")',
        level=Level.INTERMEDIATE,
        results=[True, False, True],
    )
    c = await _plan(
        pool,
        data,
        "C",
        site_name="襄阳汽车职业技术学院",
        level=Level.INTERMEDIATE,
        results=[True, True],
    )
    day = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    await _audit(
        pool,
        a,
        "upload_application",
        day,
        amount=str(4 * fee),
        head_count="4",
        absentees_paid="1",
        paid_plans=a,
    )
    await _audit(pool, a, "confirm_payment", day, amount=str(4 * fee))
    await _audit(pool, a, "record_invoice", day, invoice="INV-A-0001")
    await _audit(pool, b, "upload_application", day, amount=str(2 * fee))
    # An earlier confirmation is superseded by the latest one.
    await _audit(pool, b, "confirm_payment", day, amount="1.00")
    later = datetime(2026, 12, 2, 17, 0, tzinfo=UTC)  # 2026-12-03 in CST
    await _audit(pool, b, "confirm_payment", later, amount=str(2 * fee - 100))
    await _audit(pool, c, "upload_application", day)
    await _audit(pool, c, "confirm_payment", day)
    await _audit(pool, c, "record_invoice", day, invoice="INV-C-0003")
    yield data

    await _forget(pool, data)


@pytest_asyncio.fixture(loop_scope="session")
async def built(
    seeded: Seeded, settings: Settings, resources: tuple[Any, DocumentStore]
) -> tuple[bytes, bytes, list[DocumentRef]]:
    pool, store = resources
    activities = BatchReportActivities(settings, pool, store)
    refs = await one_activity("build_batch_report").run(
        activities.build_batch_report,
        BatchReportRequest(batch_id=seeded.batch_id, plan_ids=seeded.plan_ids),
    )
    return store.get(refs[0]), store.get(refs[1]), refs


@on_session_loop
async def test_a_retry_takes_back_the_report_its_first_attempt_stored(
    seeded: Seeded, settings: Settings, resources: tuple[Any, DocumentStore]
) -> None:
    """Regression: each attempt stores the report anew (a workbook carries the
    second it was saved), and one whose answer was lost (it timed out) left
    its files in the store with nothing naming them. The retry takes them
    back; its own are named (``produced_files``) as the batch's report."""
    pool, store = resources
    activities = BatchReportActivities(settings, pool, store)
    request = BatchReportRequest(batch_id=seeded.batch_id, plan_ids=seeded.plan_ids)
    env = one_activity("build_batch_report")

    first = await env.run(activities.build_batch_report, request)
    await next_second()
    env.info = dataclasses.replace(env.info, attempt=2)
    retried = await env.run(activities.build_batch_report, request)

    # The workbook carries its second; a file stored again alike stays.
    gone = [ref for ref in first if ref not in retried]
    assert gone and first[0] in gone
    assert not any(store.holds(ref) for ref in gone)
    assert all(store.get(ref) for ref in retried)
    named = await pool.fetch(
        "SELECT attempt, sha256 FROM produced_files WHERE produced_by = $1",
        f"{env.info.workflow_run_id}/{env.info.activity_id}",
    )
    assert sorted(tuple(row) for row in named) == sorted(
        (2, ref.sha256) for ref in retried
    )


def _sheet(xlsx: bytes) -> Any:
    sheet = load_workbook(io.BytesIO(xlsx)).active
    assert sheet is not None
    return sheet


def _rows(xlsx: bytes) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in _sheet(xlsx).iter_rows(values_only=True)]


def _run(*command: str) -> str:
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def _pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    return _run("pdftotext", "-enc", "UTF-8", str(path), "-")


@on_session_loop
async def test_the_report_is_stored_as_an_xlsx_and_a_pdf_named_for_the_batch(
    built: tuple[bytes, bytes, list[DocumentRef]], seeded: Seeded
) -> None:
    xlsx, pdf, refs = built
    stem = f"发证批次-{seeded.batch_id}"
    assert [r.filename for r in refs] == [f"{stem}.xlsx", f"{stem}.pdf"]
    assert refs[0].media_type.endswith("spreadsheetml.sheet")
    assert refs[1].media_type == "application/pdf"
    assert xlsx.startswith(b"PK") and pdf.startswith(b"%PDF")


@on_session_loop
async def test_the_workbook_has_one_row_per_plan_with_numbers_and_totals(
    built: tuple[bytes, bytes, list[DocumentRef]], seeded: Seeded
) -> None:
    xlsx, _, _ = built
    sheet = _sheet(xlsx)
    rows = _rows(xlsx)
    assert rows[0][0] == f"发证批次 {seeded.batch_id} 审批表"
    header = rows[2]
    assert header[1] == "考试计划编号" and all(c.font.b for c in sheet[3])
    column = {name: index for index, name in enumerate(header)}

    by_plan = {row[1]: row for row in rows[3:6]}
    assert sorted(by_plan) == sorted(seeded.plan_ids)
    a, b, c = (by_plan[p] for p in seeded.plan_ids)
    assert a[column["等级"]] == "中级"
    assert a[column["考核站点"]] == "武汉市交通学校"
    heads = (a[column["考生人数"]], a[column["合格人数"]], a[column["计费人数"]])
    assert heads == (4, 3, 4)
    fee = seeded.fee
    assert a[column["收费标准（元/人）"]] == fee
    assert a[column["应收金额（元）"]] == a[column["实收金额（元）"]] == 4 * fee
    assert a[column["发票号码"]] == "INV-A-0001"
    assert a[column["核对"]] == "一致"
    assert a[column["考试结束日期"]].date() == date(2026, 10, 20)

    # Finance's latest confirmation counts, not the site's declaration.
    assert (b[column["合格人数"]], b[column["实收金额（元）"]]) == (2, 2 * fee - 100)
    assert b[column["差额（元）"]] == -100
    assert b[column["核对"]].startswith("不符")
    assert b[column["到账日期"]].date() == date(2026, 12, 3)

    # The workflow of today records the invoice number but no amount.
    assert c[column["实收金额（元）"]] is None
    assert c[column["发票号码"]] == "INV-C-0003"
    assert c[column["核对"]] == t("batch_report.check.not_recorded")

    totals = rows[6]
    assert totals[0] == "合计" and totals[1] == 3
    assert (totals[column["考生人数"]], totals[column["合格人数"]]) == (9, 7)
    assert totals[column["计费人数"]] == 8
    assert totals[column["应收金额（元）"]] == 8 * fee
    assert totals[column["实收金额（元）"]] == 6 * fee - 100
    assert "2 个考试计划" in totals[column["核对"]]
    assert sheet.cell(7, 1).font.b
    assert sheet.column_dimensions["C"].width >= 20


@on_session_loop
async def test_text_that_looks_like_a_formula_stays_text(
    built: tuple[bytes, bytes, list[DocumentRef]], seeded: Seeded
) -> None:
    sheet = _sheet(built[0])
    site = next(
        cell
        for cell in sheet["C"]
        if isinstance(cell.value, str) and "HYPER" in cell.value
    )
    assert site.data_type == "s"
    assert site.value.startswith("'=")


@on_session_loop
async def test_the_pdf_has_the_title_plans_and_totals_in_an_embedded_font(
    built: tuple[bytes, bytes, list[DocumentRef]], seeded: Seeded, tmp_path: Path
) -> None:
    _, pdf, _ = built
    text = _pdf_text(pdf, tmp_path)
    flat = "".join(text.split())
    assert f"发证批次{seeded.batch_id}审批表" in flat
    for plan_id in seeded.plan_ids:
        assert plan_id in flat
    totals = (
        "合计：3个考试计划，考生9人，合格7人，计费8人；"
        f"应收{8 * seeded.fee:,.2f}元，实收{6 * seeded.fee - 100:,.2f}元。"
    )
    assert totals in flat
    assert "其中2个考试计划的缴费需核对" in flat
    assert "总经理审批意见" in flat and "日期" in flat
    fonts = _run("pdffonts", str(tmp_path / "report.pdf")).splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts)


@on_session_loop
async def test_no_name_or_id_number_of_a_candidate_is_in_either_file(
    built: tuple[bytes, bytes, list[DocumentRef]], seeded: Seeded, tmp_path: Path
) -> None:
    xlsx, pdf, _ = built
    with zipfile.ZipFile(io.BytesIO(xlsx)) as archive:
        workbook_text = "".join(
            archive.read(name).decode("utf-8", "replace") for name in archive.namelist()
        )
    pdf_text = "".join(_pdf_text(pdf, tmp_path).split())
    assert seeded.names and seeded.id_numbers
    for secret in [*seeded.names, *seeded.id_numbers]:
        assert secret not in workbook_text
        assert secret not in pdf_text
    # The admission numbers are the candidates' too; the report has no need of them.
    assert "2026A0001" not in workbook_text and "2026A0001" not in pdf_text


@on_session_loop
async def test_a_plan_with_no_configured_fee_is_flagged(
    seeded: Seeded, settings: Settings, resources: tuple[Any, DocumentStore]
) -> None:
    pool, store = resources
    plan_id = seeded.plan_ids[0]
    await pool.execute(
        "UPDATE plans SET level = 'advanced' WHERE plan_id = $1", plan_id
    )
    report = await BatchReportActivities(settings, pool, store).gather(
        BatchReportRequest(batch_id=seeded.batch_id, plan_ids=[plan_id])
    )
    (line,) = report.lines
    assert line.line.level is Level.ADVANCED and line.line.fee is None
    assert line.check is Check.NO_FEE
    assert report.flagged == 1 and report.gathered_at == GATHERED


@on_session_loop
async def test_the_sheet_of_a_joint_payment_shows_each_plans_share(
    settings: Settings, resources: tuple[Any, DocumentStore]
) -> None:
    """Regression: two plans paying one joint payment, each confirmed for its
    own share and both carrying the whole payment's invoice, were both 不符
    by minus one share and the batch's 实收 was one share; a real shortfall of
    one plan showed as the other plan's fee and more."""
    pool, store = resources
    data = await _batch(pool, settings, "BJ")
    fee, prefix = data.fee, data.prefix
    try:
        plans = await _passing_plans(pool, data, "C1", "C2", "D1", "D2")
        c1, c2, d1, d2 = plans
        day = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
        # C1 and C2 paid in full and invoiced as a whole; D1 and D2 paid
        # together, D2 short by 100.00, and D3 of that payment not in the batch.
        for plan_id, paid, group, number in (
            (c1, fee, f"{c1},{c2}", "26442000000000040101"),
            (c2, fee, f"{c1},{c2}", "26442000000000040101"),
            (d1, fee, f"{d1},{d2},{prefix}-D3", None),
            (d2, fee - 100, f"{d1},{d2},{prefix}-D3", None),
        ):
            await _audit(
                pool,
                plan_id,
                "upload_application",
                day,
                amount=f"{fee:.2f}",
                paid_plans=group,
            )
            await _audit(pool, plan_id, "confirm_payment", day, amount=f"{paid:.2f}")
            if number:
                await _audit(pool, plan_id, "record_invoice", day, invoice=number)

        report = await BatchReportActivities(settings, pool, store).gather(
            BatchReportRequest(batch_id=data.batch_id, plan_ids=plans)
        )
        rows = _rows(render_xlsx(report))
    finally:
        await _forget(pool, data)

    column = {name: index for index, name in enumerate(rows[2])}
    by_plan = {row[1]: row for row in rows[3:7]}
    checks = {p: by_plan[p][column["核对"]] for p in plans}
    assert checks[c1] == checks[c2] == f"一致；合并缴费：{c1}、{c2}"
    assert checks[d1].startswith("一致；")
    assert checks[d2].startswith("不符（-100.00）；")
    assert f"其中 {prefix}-D3 不在本批次" in checks[d2]
    assert by_plan[d2][column["差额（元）"]] == -100
    totals = rows[7]
    assert totals[column["应收金额（元）"]] == 4 * fee
    assert totals[column["实收金额（元）"]] == 4 * fee - 100
    assert report.paid == 4 * fee - 100 and report.flagged == 1


@on_session_loop
async def test_the_sheet_shows_a_whole_invoices_total_and_the_money_references(
    settings: Settings, resources: tuple[Any, DocumentStore], tmp_path: Path
) -> None:
    """Regression (trial): a joint payment's invoice issued for the whole
    payment showed as its number alone on each plan, its total nowhere (the
    general manager read it as each plan's own invoice), and the references
    finance confirmed the money by (到账凭证, a settlement's) were not on the
    sheet at all. The audit lines are as the plan workflow writes them."""
    pool, store = resources
    data = await _batch(pool, settings, "BW")
    fee = data.fee
    try:
        e1, e2, f1 = await _passing_plans(pool, data, "E1", "E2", "F1")
        day = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
        hour = timedelta(hours=1)
        whole = "26442000000000050101"
        share, joint = f"{fee:.2f}", f"{e1},{e2}"
        first = {"received_on": "2026-11-30", "reference": "HX20261130-0088"}
        lines: list[tuple[str, str, datetime, dict[str, str]]] = []
        for plan_id in (e1, e2):
            lines += [
                (
                    plan_id,
                    "upload_application",
                    day,
                    {"amount": share, "paid_plans": joint},
                ),
                (plan_id, "confirm_payment", day, {"amount": share, **first}),
                (
                    plan_id,
                    "record_invoice",
                    day + hour,
                    {
                        "invoice": whole,
                        "issued_on": "2026-12-01",
                        "amount": f"{2 * fee:.2f}",
                    },
                ),
            ]
        alone = {"received_on": "2026-11-30", "reference": "HX20261130-0099"}
        lines += [
            # Finance corrected E2's received day alone: its reference stands.
            (
                e2,
                "correct_payment",
                day + 2 * hour,
                {
                    "amount": share,
                    "received_on": "2026-11-29",
                    "reference": "",
                    "old_reference": first["reference"],
                    "reason": "到账日期录错",
                },
            ),
            # F1 alone, its own invoice, a supplement settled since.
            (f1, "upload_application", day, {"amount": share}),
            (f1, "confirm_payment", day, {"amount": f"{fee - 100:.2f}", **alone}),
            (
                f1,
                "settle_payment_difference",
                day + 48 * hour,
                {
                    "amount": share,
                    **alone,
                    "kind": "supplement",
                    "settled_on": "2026-12-03",
                    "settlement_reference": "BJ20261203-0007",
                },
            ),
            (
                f1,
                "record_invoice",
                day + 72 * hour,
                {
                    "invoice": "26442000000000050202",
                    "issued_on": "2026-12-04",
                    "amount": share,
                },
            ),
        ]
        for plan_id, action, at, details in lines:
            await _audit(pool, plan_id, action, at, **details)

        report = await BatchReportActivities(settings, pool, store).gather(
            BatchReportRequest(batch_id=data.batch_id, plan_ids=[e1, e2, f1])
        )
        rows = _rows(render_xlsx(report))
        pdf = render_pdf(report)
    finally:
        await _forget(pool, data)

    column = {name: index for index, name in enumerate(rows[2])}
    by_plan = {row[1]: row for row in rows[3:6]}
    total = f"合并缴费整笔开具，合计 {2 * fee:,.2f} 元"
    for plan_id in (e1, e2):
        assert by_plan[plan_id][column["发票号码"]] == f"{whole}\n{total}"
        assert by_plan[plan_id][column["到账凭证"]] == "HX20261130-0088"
        assert by_plan[plan_id][column["核对"]].startswith("一致")
    # A plan's own invoice is its number alone; a settlement's reference below.
    assert by_plan[f1][column["发票号码"]] == "26442000000000050202"
    assert (
        by_plan[f1][column["到账凭证"]] == "HX20261130-0099\n补缴凭证 BJ20261203-0007"
    )
    assert by_plan[f1][column["到账日期"]] == "2026-11-30\n补缴 2026-12-03"

    flat = "".join(_pdf_text(pdf, tmp_path).split())
    assert "".join(total.split()) in flat
    for reference in ("HX20261130-0088", "HX20261130-0099", "BJ20261203-0007"):
        assert reference in flat
    assert "到账日期／到账凭证" in flat


def _line(plan_id: str, passed: int, payment: Payment) -> PlanLine:
    return PlanLine(
        plan_id=plan_id,
        site_name="学校",
        site_code="S1",
        certificate=CERTIFICATE,
        level=Level.INTERMEDIATE,
        module_code="1-1",
        module_name="模块",
        exam_end_date=date(2026, 10, 20),
        candidates=passed + 1,
        passed=passed,
        fee=Decimal("300.00"),
        payment=payment,
    )


def test_each_plan_of_a_joint_payment_is_checked_on_its_own_share() -> None:
    """Regression: a plan's own share of a joint payment was compared with the
    fees of every plan of the payment (4200.00 against 8400.00: 不符 -4,200.00
    on a payment paid in full) and the paid total counted one share for the
    whole payment."""
    audit = {
        "upload_application": (
            GATHERED,
            {"amount": "600.00", "paid_plans": "P-001,P-002"},
        )
    }
    first = payment_from_audit("P-001", audit)
    assert first.covers == ("P-001", "P-002") and first.amount == Decimal("600.00")
    # A list written out as JSON names the same plans.
    listed = {"upload_application": (GATHERED, {"paid_plan_ids": '["P-002"]'})}
    assert payment_from_audit("P-002", listed).covers == ("P-002",)
    assert payment_from_audit("P-002", {}).covers == ("P-002",)
    second = Payment(
        amount=Decimal("600.00"),
        covers=("P-001", "P-002"),
        absentees_paid=0,
        received_on=None,
        invoice=None,
    )

    both = check_payments(
        "B", "", GATHERED, [_line("P-001", 2, first), _line("P-002", 2, second)]
    )
    assert [(c.check, c.difference) for c in both.lines] == [
        (Check.MATCH, Decimal(0)),
        (Check.MATCH, Decimal(0)),
    ]
    assert both.paid == Decimal("1200.00") == both.expected and both.flagged == 0

    # The second plan short by 100.00: that plan alone differs, by that much.
    short = check_payments(
        "B", "", GATHERED, [_line("P-001", 2, first), _line("P-002", 3, second)]
    )
    assert [(c.check, c.difference) for c in short.lines] == [
        (Check.MATCH, Decimal(0)),
        (Check.DIFFERENT, Decimal("-300.00")),
    ]
    assert short.paid == Decimal("1200.00") and short.expected == Decimal("1500.00")

    # The other plan outside the batch: this plan's share is still checked,
    # the other's neither counted nor asked for, and the sheet names it.
    (alone,) = check_payments("B", "", GATHERED, [_line("P-001", 2, first)]).lines
    assert (alone.check, alone.difference, alone.outside) == (
        Check.MATCH,
        Decimal(0),
        ("P-002",),
    )


def test_the_sheet_shows_the_day_the_money_arrived_not_the_day_finance_acted() -> None:
    """Regression: 到账确认日期 showed the day finance confirmed, so a received
    date decades before the exam could not be seen by the approver."""
    acted = datetime(2026, 12, 21, 3, tzinfo=UTC)
    audit = {
        "confirm_payment": (acted, {"amount": "4200.00", "received_on": "2026-12-18"})
    }
    older = {"confirm_payment": (acted, {"amount": "4200.00"})}

    assert payment_from_audit("P-001", audit).received_on == date(2026, 12, 18)
    # An audit line from before the received date was recorded: the day
    # finance confirmed, the latest the money can have arrived.
    assert payment_from_audit("P-001", older).received_on == date(2026, 12, 21)
    assert t("batch_report.column.received_on") == "到账日期"


def test_the_sheet_shows_the_invoice_the_plan_holds_now() -> None:
    """Regression: the sheet said 发票号码 未记录 for a blank number the status
    showed; a number is now always digits, a correction replaces the invoice,
    and an invoice for a payment checked again since is void."""
    hour = timedelta(hours=1)
    confirmed = {"amount": "4200.00"}
    audit = {
        "confirm_payment": (GATHERED, confirmed),
        "record_invoice": (GATHERED + hour, {"invoice": "26442000000000001111"}),
    }
    assert payment_from_audit("P-001", audit).invoice == "26442000000000001111"
    corrected = {
        **audit,
        "correct_invoice": (GATHERED + 2 * hour, {"invoice": "26442000000000002222"}),
    }
    assert payment_from_audit("P-001", corrected).invoice == "26442000000000002222"
    # Sent back to check the payment again: confirmed anew after the invoice.
    again = {**audit, "confirm_payment": (GATHERED + 3 * hour, confirmed)}
    assert payment_from_audit("P-001", again).invoice is None


# Chinese punctuation that closes what is before it, and that opens what follows.
CLOSING = "，。、；：！？）」』》"
OPENING = "（「『《"


@on_session_loop
async def test_the_pdf_sheet_has_the_difference_column_and_breaks_lines_as_chinese(
    built: tuple[bytes, bytes, list[DocumentRef]], seeded: Seeded, tmp_path: Path
) -> None:
    """Regression (finance trial): the PDF had no 差额 column though the
    workbook has one; its headers wrapped as ``应收金额（元`` / ``）``; the
    note broke after ``计费人数 ×`` and a line of it began with ``；``."""
    xlsx, pdf, _ = built
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    layout = _run("pdftotext", "-layout", "-enc", "UTF-8", str(path), "-")
    lines = layout.splitlines()

    # Each header whole, or broken only before its bracket: 应收金额 / （元）.
    first_row = next(i for i, line in enumerate(lines) if CERTIFICATE[:2] in line)
    head = "\n".join(lines[:first_row])
    for key in COLUMNS:
        if key in ("site_code", "level"):  # under the site and the certificate
            continue
        for phrase in re.split(r"(?=（)", t(f"batch_report.column.{key}")):
            assert phrase in head, (phrase, head)
    assert head.count("（元）") == 3 and "差额" in head

    # The 差额 of each plan as in the workbook, after 实收 and before the invoice.
    rows = _rows(xlsx)
    column = {name: index for index, name in enumerate(rows[2])}
    for row in rows[3:6]:
        money = ("收费标准（元/人）", "应收金额（元）", "实收金额（元）", "差额（元）")
        cells = [row[column[name]] for name in money]
        shown = [
            t("batch_report.not_recorded") if c is None else f"{c:,.2f}" for c in cells
        ]
        if cells[3] is None:
            shown.pop()  # left blank, as in the workbook
        shown.append(row[column["发票号码"]])
        [line] = [line for line in lines if row[1] in line]
        words = line.split()
        start = words.index(shown[0])
        assert words[start : start + len(shown)] == shown, (shown, line)
    by_plan = {row[1]: row[column["差额（元）"]] for row in rows[3:6]}
    assert [by_plan[p] for p in seeded.plan_ids] == [0, -100, None]

    # No line of a cell or of the notes starts with closing punctuation or
    # ends with opening punctuation; the formulas stay on their lines.
    for word in layout.split():
        assert word[0] not in CLOSING and word[-1] not in OPENING, (word, layout)
    assert any("应收金额 = 计费人数 × 收费标准。" in line for line in lines)
    assert any(
        "计费人数 = 合格人数 + 申请表中为缺考考生缴费的人数；" in x for x in lines
    )


def _cells(text: str) -> float:
    # A monospace measure: a Chinese character or mark is two cells wide.
    return float(sum(2 if ord(char) > 0x2E7F else 1 for char in text))


def test_chinese_text_breaks_only_where_chinese_typesetting_allows() -> None:
    """At every width, no line of the note or of a check starts with closing
    punctuation or ends with opening punctuation, nothing is lost but the
    spaces at a break, and the formulas stay whole wherever a line can hold
    them; a header breaks before its bracket, never inside a word."""
    note = t("batch_report.source_note")
    check = "不符（-10,600.00）；合并缴费：P2026-1104-0412、P2026-1104-0413"
    for text in (note, check):
        for width in range(6, 120):
            lines = break_lines(text, width, _cells)
            assert all(line[0] not in CLOSING for line in lines), (width, lines)
            assert all(line[-1] not in OPENING for line in lines), (width, lines)
            assert "".join(lines).replace(" ", "") == text.replace(" ", "")
            assert all(_cells(line) <= width for line in lines), (width, lines)
            if text is note and width >= 32:
                assert any("应收金额 = 计费人数 × 收费标准。" in x for x in lines)
    first, second = break_lines(note, 80, _cells)[:2]
    assert first == "说明：计费人数 = 合格人数 + 申请表中为缺考考生缴费的人数；"
    assert second.startswith("应收金额 = 计费人数 × 收费标准。")

    header = t("batch_report.column.expected")
    assert break_lines(header, 12, _cells, Rule.PHRASES) == ["应收金额", "（元）"]
    assert break_lines("考试计划编号", 8, _cells, Rule.PHRASES) == ["考试计划", "编号"]
    assert (
        widest_piece(t("batch_report.column.fee"), _cells, Rule.PHRASES) == 9
    )  # （元/人）
    # A piece too wide for any line is broken between its characters.
    assert break_lines("26442000000000040101", 10, _cells) == [
        "2644200000",
        "0000040101",
    ]
