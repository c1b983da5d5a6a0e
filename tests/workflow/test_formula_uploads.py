"""An upload holding a formula saved without its result is refused, naming the
cell for what it is, and nothing of it is recorded.

Regression: a workbook written by a program (openpyxl here) keeps formulas
without their results; intake read those cells as empty and told the sender
"此项不能为空" of a cell that is not empty. Each upload intake reads is tried
here, through the intake activity on the real document store and PostgreSQL,
and the score summary through a running plan too.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from activities.intake import IntakeActivities
from certflow.activity_models import ProcessUpload
from certflow.i18n import t
from certflow.identity import credit_code_check_character
from certflow.models import DocumentKind, PlanInfo
from starter.sample_plan import INVOICE_TEMPLATE
from tests.intake.conftest import with_error_cells
from tests.support import (
    CANDIDATE_SIGN_IN,
    EVALUATOR_SIGN_IN,
    LEAD,
    SITE,
    SUMMARY,
    PlanDriver,
    mails_of,
    registered_plan,
    retitled,
)
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

NO_RESULT = "formula_without_result"


def _summary(plan: PlanInfo, folder: Path) -> Path:
    book = openpyxl.load_workbook(retitled(SUMMARY, plan, folder))
    book.worksheets[0]["H5"] = "=60+24.6"  # 胡俊霞's practical score
    return _saved(book, folder / "成绩汇总表.xlsx")


def _candidates(plan: PlanInfo, folder: Path) -> Path:
    book = openpyxl.load_workbook(retitled(CANDIDATE_SIGN_IN, plan, folder))
    book.worksheets[0]["B5"] = '=IF(1,"夏宇玲")'  # a name looked up elsewhere
    return _saved(book, folder / "考生签到表.xlsx")


def _evaluators(plan: PlanInfo, folder: Path) -> Path:
    book = openpyxl.load_workbook(retitled(EVALUATOR_SIGN_IN, plan, folder))
    book.worksheets[0]["D6"] = '="ZCX-E-"&"0301"'
    return _saved(book, folder / "考评员签到表.xlsx")


def _invoice_form(plan: PlanInfo, folder: Path) -> Path:
    book = openpyxl.load_workbook(INVOICE_TEMPLATE)
    sheet = book["发票信息"]
    code = "12420000MB0123456" + credit_code_check_character("12420000MB0123456")
    values = [
        "武汉市交通职业技术学校",
        code,
        "湖北省武汉市江岸区解放大道 1 号",
        "027-82812345",
        "中国工商银行武汉江岸支行",
        '="3202001109200123456"',  # the account, pasted as a formula
        "caiwu@whjtxx.edu.cn",
    ]
    for row, value in enumerate(values, start=4):
        sheet.cell(row=row, column=2, value=value)
    return _saved(book, folder / "院校发票信息收集表.xlsx")


def _saved(book: openpyxl.Workbook, path: Path) -> Path:
    book.save(path)
    return path


# Each upload intake reads: how its file is made, and where the formula is.
UPLOADS = {
    DocumentKind.SCORE_SUMMARY: (_summary, ("成绩汇总", 5, "实操成绩")),
    DocumentKind.CANDIDATE_SIGN_IN: (_candidates, ("考生签到表", 5, "姓名")),
    DocumentKind.EVALUATOR_SIGN_IN: (_evaluators, ("考评员签到表", 6, "工号")),
    DocumentKind.INVOICE_DETAILS: (_invoice_form, ("发票信息", 9, "内容")),
}


async def _recorded(pool: Any, plan_id: str) -> dict[str, int]:
    """How many rows each table an accepted upload writes holds for the plan."""
    counts = {}
    for table in (
        "score_versions",
        "score_rows",
        "scores",
        "sign_ins",
        "invoice_details",
    ):
        counts[table] = await pool.fetchval(
            f"SELECT count(*) FROM {table} WHERE plan_id = $1", plan_id
        )
    return counts


@pytest.mark.parametrize("kind", UPLOADS, ids=[k.value for k in UPLOADS])
async def test_a_formula_without_its_result_is_named_and_nothing_is_recorded(
    resources: Any, tmp_path: Path, kind: DocumentKind
) -> None:
    pool, store = resources
    plan, at = await registered_plan(pool)
    make, where = UPLOADS[kind]
    path = make(plan, tmp_path)

    outcome = await IntakeActivities(pool, store).process_upload(
        ProcessUpload(
            plan=plan,
            kind=kind,
            document=store.put_file(path),
            uploaded_by=LEAD.person,
            at=at,
        )
    )

    assert not outcome.accepted and outcome.version is None
    assert [(p.code, p.sheet, p.row, p.column) for p in outcome.problems] == [
        (NO_RESULT, *where)
    ]
    assert outcome.problems[0].message == t(f"intake.{NO_RESULT}")
    assert "不能为空" not in outcome.problems[0].render()
    # Nothing of the file is kept: no scores, sign-ins or invoice details.
    assert set((await _recorded(pool, plan.plan_id)).values()) == {0}
    documents = await pool.fetch(
        "SELECT accepted, version, problems FROM plan_documents WHERE plan_id = $1",
        plan.plan_id,
    )
    assert [tuple(row) for row in documents] == [(False, None, 1)]
    # The annotated report marks the very cell, with the reason.
    assert outcome.report is not None
    report = openpyxl.load_workbook(io.BytesIO(store.get(outcome.report)))
    marked = [
        (cell.row, cell.comment.text)
        for row in report.worksheets[0].iter_rows()
        for cell in row
        if cell.comment is not None
    ]
    assert marked == [(where[1], t(f"intake.{NO_RESULT}"))]


async def test_the_plan_answers_with_the_cell_and_keeps_no_version(
    make_driver: Any, resources: Any
) -> None:
    pool, _ = resources
    driver: PlanDriver = await make_driver()
    await driver.start()
    summary = _summary(driver.plan, driver.tmp)
    candidates = _candidates(driver.plan, driver.tmp)

    refused = [
        await driver.upload(ExamPlanWorkflow.upload_score_summary, LEAD, summary),
        await driver.upload(
            ExamPlanWorkflow.upload_candidate_sign_in, SITE, candidates
        ),
    ]

    for result, where in zip(
        refused,
        [
            UPLOADS[DocumentKind.SCORE_SUMMARY][1],
            UPLOADS[DocumentKind.CANDIDATE_SIGN_IN][1],
        ],
        strict=True,
    ):
        assert not result.accepted
        [found] = result.problems
        assert (found.code, found.sheet, found.row, found.column) == (NO_RESULT, *where)
    status = await driver.status()
    assert status.document_versions == {}
    assert status.summary is None
    owed = {o.duty for o in status.owed}
    assert {"score_summary", "candidate_sign_in"} <= owed
    assert set((await _recorded(pool, driver.plan.plan_id)).values()) == {0}
    # The sender's fix, the same file saved by an office suite, is accepted.
    fixed = openpyxl.load_workbook(summary)
    fixed.worksheets[0]["H5"] = 84.6
    fixed.save(summary)
    accepted = await driver.upload(ExamPlanWorkflow.upload_score_summary, LEAD, summary)
    assert accepted.accepted, accepted.problems


async def test_the_refusal_mail_lists_a_recurring_reason_once_with_its_rows(
    make_driver: Any, sink_messages: Any
) -> None:
    """The mail refusing a summary whose 理论成绩 and 总成绩 columns are formulas
    saved without their results repeated the same long advice on every line,
    as the staff tool once did: it lists them as the staff tool does, one line
    per column naming its rows, counts the cells it does not list, and the
    annotated report attached still marks every cell."""
    driver: PlanDriver = await make_driver()
    await driver.start()
    book = openpyxl.load_workbook(driver.files["summary"])
    sheet = book.worksheets[0]
    for row in range(4, 36):
        sheet[f"G{row}"] = f"=SUM(M{row}:P{row})"  # the parts, beside the table
        sheet[f"I{row}"] = f"=G{row}*0.3+H{row}*0.7"
    sheet["B10"] = None  # and one problem of another kind
    path = _saved(book, driver.tmp / "成绩汇总表.xlsx")

    result = await driver.upload(ExamPlanWorkflow.upload_score_summary, LEAD, path)

    assert not result.accepted and result.problem_count == 65
    [mail] = await mails_of(sink_messages, driver.plan.plan_id, "upload_refused")
    body = mail.get_body(("plain",)).get_content()
    message = t(f"intake.{NO_RESULT}")
    # The plan keeps the first 50 problems (rows 4 to 28, B10 among them).
    assert [line for line in body.splitlines() if line.startswith("工作表")] == [
        t(
            "cli.problem_group",
            where=f"工作表“成绩汇总” “{column}”列 第 4 至 {last} 行",
            count=count,
            message=message,
        )
        for column, last, count in (("理论成绩", 28, 25), ("总成绩", 27, 24))
    ] + [f"工作表“成绩汇总” 第 10 行 “姓名”列：{t('intake.missing_value')}"]
    assert t("cli.problems_more", count=15) in body
    assert body.count(message) == 2
    [attached] = list(mail.iter_attachments())
    report = openpyxl.load_workbook(io.BytesIO(attached.get_content())).worksheets[0]
    assert all(report[f"{c}{row}"].comment for c in "GI" for row in range(4, 36))


async def test_the_refusal_mail_lists_a_column_of_one_formula_error_once(
    make_driver: Any, sink_messages: Any
) -> None:
    """A VLOOKUP dragged down the 姓名 column that found no name shows #N/A
    in every candidate's row: the mail listed the same long reason once per
    cell, each problem carrying its error as its value. It is one line naming
    the rows and the error, as a column of formulas without results is."""
    driver: PlanDriver = await make_driver()
    await driver.start()
    book = openpyxl.load_workbook(driver.files["summary"])
    sheet = book.worksheets[0]
    for row in range(4, 36):
        sheet[f"B{row}"] = f"=VLOOKUP(E{row},名单!A:B,2,0)"
    path = _saved(book, driver.tmp / "成绩汇总表.xlsx")
    errors: dict[str, str | None] = {f"B{row}": "#N/A" for row in range(4, 36)}
    path.write_bytes(with_error_cells(path.read_bytes(), errors))

    result = await driver.upload(ExamPlanWorkflow.upload_score_summary, LEAD, path)

    assert not result.accepted and result.problem_count == 32
    [mail] = await mails_of(sink_messages, driver.plan.plan_id, "upload_refused")
    body = mail.get_body(("plain",)).get_content()
    assert [line for line in body.splitlines() if line.startswith("工作表")] == [
        "工作表“成绩汇总” “姓名”列 第 4 至 35 行（共 32 处）：该单元格是公式错误值 #N/A"
        "（如 #N/A 常因查找不到数据），请改为实际的内容（值：#N/A）。"
    ]
