"""The staff tool's side of the site's application (4.2.1) and finance's view of
it, as the trial of finance found them: a scan of anything, plans paid for that
do not exist or repeat, a day that does not exist said to be in a wrong format,
invoice details finance could not see, an empty batch that did not say where
the ready plans were."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from temporalio.client import Client

from certflow.i18n import t
from certflow.invoice import read_invoice_details
from certflow.models import Stage
from starter.sample_plan import SAMPLE_INVOICE_DETAILS, sample_invoice_form
from tests.cli.conftest import Certflow
from tests.support import (
    SCAN_PDF,
    PlanDriver,
    sample_plan,
    terminate_when_idle,
    unique_plan_id,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

SITE = ["--as", "site", "--person", "whjt-kaowu", "--site", "HB-WH-0031"]
FINANCE = ["--as", "finance", "--person", "fin-sun"]
TECH = ["--as", "tech_dept", "--person", "tech-zhao"]


def _files(
    folder: Path,
    scan: bytes = SCAN_PDF,
    name: str = "申请表.pdf",
    form_data: bytes | None = None,
) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(scan)
    form = folder / "院校发票信息收集表.xlsx"
    form.write_bytes(form_data or sample_invoice_form())
    return ["--scan", str(path), "--invoice-form", str(form)]


def _application(plan_id: str, files: list[str], *paid: str, on: str) -> list[str]:
    return [
        *SITE, "application", plan_id, *files, "--paid-plan", *(paid or (plan_id,)),
        "--head-count", "14", "--amount", "4200.00", "--paid-on", on,
    ]  # fmt: skip


async def test_a_scan_that_is_empty_or_no_pdf_jpeg_or_png_is_refused_before_sending(
    certflow: Certflow, tmp_path: Path
) -> None:
    """Regression: an empty file and a spreadsheet were taken as the scan."""
    plan_id = "P2026-0000-0001"  # refused before any plan is asked
    empty = await certflow(
        *_application(plan_id, _files(tmp_path, b"", "空.pdf"), on="2026-12-20")
    )
    sheet = await certflow(
        *_application(
            plan_id, _files(tmp_path, b"PK\x03\x04", "a.xlsx"), on="2026-12-20"
        )
    )

    assert empty.status == 2
    assert empty.out.strip() == t("cli.scan_empty", path=tmp_path / "空.pdf")
    assert (
        sheet.status == 2
        and t("cli.scan_refused", flag="--scan", reason=t("intake_db.scan_format"))
        in sheet.out
    ), sheet.out


async def test_a_day_that_does_not_exist_is_said_so(
    certflow: Certflow, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: 2026-02-30 was said not to be written as YYYY-MM-DD."""
    outcome = await certflow(
        *_application("P2026-0000-0001", _files(tmp_path), on="2026-02-30")
    )

    assert outcome.status == 2
    said = capsys.readouterr().err
    assert "“2026-02-30”这一天不存在：2026 年 2 月没有 30 日" in said, said
    assert t("cli.bad_date", value="2026-02-30") not in said


async def test_paid_plans_are_read_as_codes_once_and_must_be_this_sites(
    certflow: Certflow,
    new_driver: PlanDriver,
    client: Client,
    tmp_path: Path,
) -> None:
    """Regression: a lower-case repeat of the plan and a plan that does not
    exist were accepted into the payment's list of plans; a list leaving the
    plan out was refused for that only after its other problems."""
    driver = new_driver
    await driver.reach_payment()
    plan_id = driver.plan.plan_id
    today = (await driver.today()).isoformat()
    other_site = sample_plan(await driver.today(), unique_plan_id()).model_copy(
        update={"site_code": "HB-WH-0099"}
    )
    other = PlanDriver(
        client=client,
        env=driver.env,
        settings=driver.settings,
        store=driver.store,
        plan=other_site,
        tmp=tmp_path,
    )
    await other.start()
    files = _files(tmp_path)
    try:
        refused = await certflow(
            *_application(
                plan_id, files, plan_id, "P2099-0000-0000", other_site.plan_id, on=today
            )
        )
        # Trial: a list leaving the plan out and naming one that does not
        # exist was refused for the second alone, the first said only once
        # that was mended.
        both = await certflow(
            *_application(plan_id, files, "P2099-0000-0000", on=today)
        )
        accepted = await certflow(
            *_application(plan_id, files, plan_id, plan_id.lower(), on=today)
        )
    finally:
        await terminate_when_idle(client, other.h.id, "test finished")

    assert refused.status == 2, refused.out
    # A refusal like every other (trial: these lines lacked 未受理：).
    assert refused.out.startswith(t("cli.refused", reason=""))
    assert t("cli.paid_plan_unknown", plan_id="P2099-0000-0000") in refused.out
    assert t("cli.paid_plan_other_site", plan_id=other_site.plan_id) in refused.out
    assert both.status == 2, both.out
    assert both.out.startswith(t("cli.refused", reason=""))
    left_out = t("plan.plan_not_paid", paid="P2099-0000-0000", plan_id=plan_id)
    assert left_out in both.out
    assert t("cli.paid_plan_unknown", plan_id="P2099-0000-0000") in both.out
    assert accepted.status == 0, accepted.out
    assert (await driver.status()).payment.paid_plan_ids == [plan_id]


async def test_finance_prints_the_invoice_details_the_site_sent(
    certflow: Certflow, new_driver: PlanDriver, tmp_path: Path
) -> None:
    """Regression: the checked invoice details were in a table no command read."""
    driver = new_driver
    await driver.reach_payment()
    await driver.pay_and_sign(org_signoff=False, site_signoff=False)
    plan_id = driver.plan.plan_id

    shown = await certflow(*FINANCE, "invoice-details", plan_id)
    by_site = await certflow(*SITE, "invoice-details", plan_id)
    unknown = await certflow(*FINANCE, "invoice-details", "P2099-0000-0000")

    assert shown.status == 0, shown.out
    for label in ("发票抬头", "纳税人识别号", "开户银行", "接收电子发票邮箱"):
        assert label in shown.out and SAMPLE_INVOICE_DETAILS[label] in shown.out
    assert "3202001109200123456" in shown.out  # the account, spaces closed
    assert by_site.status == 2
    assert t("cli.invoice_details_not_allowed", role=t("roles.site")) in by_site.out
    assert unknown.status == 2
    assert t("cli.plan_not_found", plan_id="P2099-0000-0000") in unknown.out


async def test_a_batch_gathering_nothing_names_the_batch_holding_the_ready_plans(
    certflow: Certflow, new_driver: PlanDriver, resources: Any
) -> None:
    """Regression: it said no plan was ready, while one waited in an open batch."""
    driver = new_driver
    await driver.reach_approval()
    await driver.start_batch()
    await driver.wait_gathered()
    pool, _ = resources
    # Other tests' plans awaiting approval in no batch would be gathered.
    await pool.execute(
        "UPDATE plans SET batch_id = $1 WHERE stage = $2 AND batch_id IS NULL",
        driver.batch_id,
        Stage.AWAITING_APPROVAL.value,
    )

    gathered = await certflow(
        *TECH, "batch", "gather", "--batch-id", f"B-{unique_plan_id()}"
    )

    assert gathered.status == 0, gathered.out
    held = t("cli.batch_held", batch_id=driver.batch_id, plans=driver.plan.plan_id)
    assert held in gathered.out or driver.plan.plan_id in gathered.out, gathered.out
    assert f"批次 {driver.batch_id} 中" in gathered.out
    assert t("cli.batch_empty") not in gathered.out


def _bad_check_character_form() -> bytes:
    """The sample form with its taxpayer id's check character changed."""
    book = openpyxl.load_workbook(io.BytesIO(sample_invoice_form()))
    for row in book.worksheets[0].iter_rows():
        if str(row[0].value or "").strip().lstrip("*") == "纳税人识别号":
            good = SAMPLE_INVOICE_DETAILS["纳税人识别号"]
            wrong = next(c for c in "0123456789" if c != good[-1])
            row[1].value = good[:-1] + wrong
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


async def test_wrong_figures_and_a_bad_form_are_refused_at_once(
    certflow: Certflow, new_driver: PlanDriver, tmp_path: Path
) -> None:
    """Regression (trial): an application with a wrong ``--head-count`` and an
    invoice details form whose taxpayer id had a wrong check character was
    refused for the head count alone; the form's problem came on the next
    try. Every problem is said at once, as for ``--paid-plan``."""
    driver = new_driver
    await driver.reach_payment()
    plan_id = driver.plan.plan_id
    today = (await driver.today()).isoformat()
    files = _files(tmp_path)
    bad = _bad_check_character_form()
    form_problems = read_invoice_details(bad).problems
    assert form_problems  # the form alone is refused by intake
    said = [problem.render() for problem in form_problems]

    def wrong_heads(argv: list[str]) -> list[str]:
        return [*argv[: argv.index("--head-count") + 1], "13", "--amount", "4200.00",
                "--paid-on", today]  # fmt: skip

    figures_alone = await certflow(*wrong_heads(_application(plan_id, files, on=today)))
    assert figures_alone.status == 2, figures_alone.out
    reason = figures_alone.out.strip()

    files = _files(tmp_path / "bad", form_data=bad)
    both = await certflow(*wrong_heads(_application(plan_id, files, on=today)))
    unknown = "P2099-0000-0000"
    paid_too = await certflow(
        *wrong_heads(_application(plan_id, files, plan_id, unknown, on=today))
    )

    assert both.status == 2, both.out
    assert both.out.startswith(reason), both.out
    assert t("cli.application_form_problems", count=len(said)) in both.out
    assert all(line in both.out for line in said), both.out
    # The tool's own refusal of the plans paid for names the form's too.
    assert paid_too.status == 2, paid_too.out
    assert t("cli.paid_plan_unknown", plan_id=unknown) in paid_too.out
    assert all(line in paid_too.out for line in said), paid_too.out
    assert (await driver.status()).payment.head_count is None


async def test_a_form_that_ends_the_reader_lists_nothing_and_the_tool_goes_on(
    tmp_path: Path,
) -> None:
    """After a refused application the tool reads the form given with it,
    apart, as the worker does: an xls whose dimensions claim 2^32 rows
    aborted the reader, and the tool with it, in the tool's own process."""
    import argparse
    import os

    from starter.cli import application_form_problems
    from tests.intake.xls_writer import xls_file

    form = tmp_path / "发票信息.xls"
    form.write_bytes(
        xls_file({"发票信息": [["单位名称"]]}, dimensions=(2**32 - 1, 0xFFFF))
    )
    parent = os.getpid()

    # Off the event loop, as the tool reads it.
    problems = await asyncio.to_thread(
        application_form_problems, argparse.Namespace(field_invoice_details=form)
    )

    assert problems == []
    assert os.getpid() == parent
