"""What staff type stays out of the plans' records: no ID number, no name.

Regression (tester): ``plan start --plan-id 421002200506166066`` started a
plan named by the number (its workflow id, search attributes, summary, worker
log and mail subjects); an ID number in a correction's reason, requester or
admission number was kept whole in the plan's history, the plan's own refusal
repeating it; ``--signed-by 周建国`` was sent as a signer; a request id
matched only in the case it was issued in; and a right-to-left override in
what the tool repeats (a typed value, a spreadsheet cell) was printed raw.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from temporalio.client import Client

from certflow.actions import (
    ActionResult,
    CorrectionSubmission,
    plan_workflow_id,
)
from certflow.i18n import t
from certflow.identity import compact_code
from certflow.privacy import mask_id_number
from tests.cli.conftest import Certflow
from tests.cli.test_commands import (
    ADMIN,
    INFO,
    LEAD,
    MANAGER,
    payload_text,
    start_argv,
)
from tests.cli.test_rough_edges import ACTING_INFO, ASSIGN, status_of
from tests.cli.test_staff_rules import plan_exists, with_flag
from tests.support import INFO as INFO_CENTER
from tests.support import SUMMARY, PlanDriver, retitled
from workflows import ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

ID_NUMBER = "421002200506166066"
# The same number as people type or paste it, and numbers only shaped like one.
ID_FORMS = [
    ID_NUMBER,
    "421002200506166067",  # a wrong check character
    "11010519491231002x",  # the check letter, in lower case
    "110105491231002",  # the old 15-digit number
    "４２１００２２００５０６１６６０６６",  # full width
    "421002 20050616 6066",  # in its groups
    "421002-20050616-6066",
    "4210\u200b02200506166066",  # a zero-width space from a paste
]
RLO = "\u202e"


def leaked(text: str) -> list[str]:
    """The forms of ``ID_FORMS`` whose digits ``text`` holds in a row, however
    written (full width, in groups)."""
    digits = "".join(ch for ch in compact_code(text) if ch.isdigit())
    return [form for form in ID_FORMS if compact_code(form).rstrip("X") in digits]


async def recorded(client: Client, plan_id: str) -> str:
    """Every payload of the plan's history, decoded: what it keeps for good."""
    history = await client.get_workflow_handle(
        plan_workflow_id(plan_id)
    ).fetch_history()
    return payload_text(json.loads(history.to_json()))


# -- plan ids -------------------------------------------------------------------


@pytest.mark.parametrize("typed", ID_FORMS)
async def test_an_id_number_is_no_plan_id_and_is_not_repeated(
    typed: str, certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    argv = with_flag(start_argv(new_driver.plan), "--plan-id", typed)

    refused = await certflow(*argv)

    assert refused.status == 2
    assert t("validation.id_number") in refused.out
    assert leaked(refused.out) == []
    assert mask_id_number(compact_code(typed)) not in refused.out
    assert not await plan_exists(client, compact_code(typed))


@pytest.mark.parametrize("typed", ["T1A2B3C4D5E", "P26-1104-0412", "P2026-HB-"])
async def test_a_new_plan_id_takes_the_documented_form(
    typed: str, certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    """P, the year, then groups of letters or digits: ``P2026-HB-0031``."""
    refused = await certflow(
        *with_flag(start_argv(new_driver.plan), "--plan-id", typed)
    )

    assert refused.status == 2
    assert t("cli.plan_field_shapes.plan_id") in refused.out
    assert not await plan_exists(client, compact_code(typed))


async def test_no_field_of_a_new_plan_holds_an_id_number(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    """The site's and module's names and codes, and the staff ids, go into the
    plan's history, its search attributes and its mails."""
    argv = start_argv(new_driver.plan)
    for flag in ("--site-name", "--module-name", "--site-code", "--lead-evaluator"):
        argv = with_flag(argv, flag, f"考生{ID_NUMBER}")
    argv = with_flag(argv, "--lead-evaluator", "421002-20050616-6066")

    refused = await certflow(*argv)

    assert refused.status == 2
    for flag in ("--site-name", "--module-name", "--site-code", "--lead-evaluator"):
        assert f"（{flag}）：{t('validation.id_number')}" in refused.out
    assert leaked(refused.out) == []
    assert not await plan_exists(client, new_driver.plan.plan_id)


# -- free text and staff ids ----------------------------------------------------

PLAN = "P2026-1104-0412"
# Every free text of the staff tool that is kept or mailed on, with an ID number.
FREE_TEXTS = {
    "submit_reason": [*INFO, "correction", "submit", PLAN, "--admission",
                      "2026110412012", "--field", "theory", "--requested", "60",
                      "--reason", f"身份证 {ID_NUMBER} 的考生"],
    "requester": [*INFO, "correction", "submit", PLAN, "--admission",
                  "2026110412012", "--field", "theory", "--requested", "60",
                  "--reason", "漏登", "--requester", ID_NUMBER],
    "decide_reason": [*MANAGER, "correction", "decide", PLAN, f"{PLAN}-C001",
                      "--reject", "--reason", f"{ID_NUMBER[:6]} {ID_NUMBER[6:14]} "
                      f"{ID_NUMBER[14:]}"],
    "review_reason": ["--as", "regional_contact", "--person", "rc-zhang", "review",
                      PLAN, "--approve", "--reason", f"旁听人员{ID_NUMBER}"],
    "comment": ["--as", "site", "--person", "whjt-kaowu", "--site", "HB-WH-0031",
                "confirm-summary", PLAN, "--comment", ID_NUMBER],
    "cancel_reason": [*ADMIN, "plan", "cancel", PLAN, "--reason",
                      "4210\u200b02200506166066 录错"],
    "payment_reference": ["--as", "finance", "--person", "fin-sun", "payment", PLAN,
                          "--amount", "300", "--received-on", "2026-12-01",
                          "--reference", ID_NUMBER],
    "invoice_reason": ["--as", "finance", "--person", "fin-sun", "invoice", PLAN,
                       "--number", "12345678", "--date", "2026-12-01", "--amount",
                       "300", "--correct", "--reason", f"{ID_NUMBER}号码错"],
    "batch_reject": ["--as", "general_manager", "--person", "gm-chen", "batch",
                     "decide", "B20261204-153012", "--reject",
                     f"{PLAN}=考生 {ID_NUMBER} 缺材料"],
    "mailbox_reason": [*ACTING_INFO, "mailbox", *ASSIGN, "--reason", ID_NUMBER],
}  # fmt: skip


@pytest.mark.parametrize("argv", FREE_TEXTS.values(), ids=FREE_TEXTS.keys())
async def test_free_text_holding_an_id_number_is_refused_unrepeated(
    argv: list[str], certflow: Certflow, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await status_of(certflow, *argv)

    printed = capsys.readouterr()
    assert status == 2
    assert t("cli.text_holds_id_number") in printed.err
    assert leaked(printed.out + printed.err) == []


# Every value of the staff tool typed where a code or an admission number
# belongs, with an ID number there.
CODES = {
    "status": (["status", ID_NUMBER], "cli.code_is_id_number"),
    "site": ([*ADMIN, "--site", "421002 20050616 6066", "status", PLAN],
             "cli.code_is_id_number"),
    "platform_plan": (["--as", "site", "--person", "whjt-kaowu", "--site",
                       "HB-WH-0031", "site-signoff", PLAN, "--platform-plan-id",
                       f"P{ID_NUMBER}"], "cli.code_is_id_number"),
    "request_id": ([*MANAGER, "correction", "decide", PLAN, ID_NUMBER, "--approve"],
                   "cli.code_is_id_number"),
    "batch": (["batch", "status", ID_NUMBER], "cli.code_is_id_number"),
    "admission": ([*INFO, "correction", "submit", PLAN, "--admission", ID_NUMBER,
                   "--field", "theory", "--requested", "60", "--reason", "漏登"],
                  "cli.admission_is_id_number"),
    "history": ([*INFO, "correction", "history", PLAN, "110105194912310021"],
                "cli.admission_is_id_number"),
    "mailbox_plan": ([*ACTING_INFO, "mailbox", "assign", "0123456789ab", ID_NUMBER,
                      "--admission", "A1", "--field", "theory", "--requested", "60",
                      "--reason", "电话核实"], "cli.code_is_id_number"),
    "mailbox_admission": ([*ACTING_INFO, "mailbox", "assign", "0123456789ab", PLAN,
                           "--admission", ID_NUMBER, "--field", "theory",
                           "--requested", "60", "--reason", "电话核实"],
                          "cli.admission_is_id_number"),
}  # fmt: skip


@pytest.mark.parametrize(("argv", "refusal"), CODES.values(), ids=CODES.keys())
async def test_an_id_number_typed_as_a_code_is_refused_unrepeated(
    argv: list[str],
    refusal: str,
    certflow: Certflow,
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = await status_of(certflow, *argv)

    printed = capsys.readouterr()
    assert status == 2
    assert t(refusal) in printed.err
    assert leaked(printed.out + printed.err) == []


async def test_an_id_number_typed_as_a_year_is_refused_unrepeated(
    certflow: Certflow, capsys: pytest.CaptureFixture[str]
) -> None:
    """Trial: ``calendar show`` took any whole number for a year and the
    database refused an ID number's with a traceback repeating it whole."""
    status = await status_of(
        certflow, "--as", "admin", "--person", "admin-li", "calendar", "show", ID_NUMBER
    )

    printed = capsys.readouterr()
    assert status == 2
    assert t("cli.calendar_year", value="").split("，收到")[0] in printed.err
    assert "Traceback" not in printed.err
    assert leaked(printed.out + printed.err) == []


@pytest.mark.parametrize(
    "signers",
    [["周建国"], ["ZCX-E-0107", ID_NUMBER], ["ZCX-E-0107", "421002-20050616-6066"]],
    ids=["name", "id_number", "grouped_id_number"],
)
async def test_a_signer_is_named_by_staff_id_only(
    signers: list[str],
    certflow: Certflow,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """``--signed-by`` goes into the plan's history as ``--person`` does."""
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(b"%PDF-1.4\n")

    status = await status_of(
        certflow, *LEAD, "upload", "scan", PLAN, str(scan), "--signed-by", *signers
    )

    printed = capsys.readouterr()
    assert status == 2
    assert t("cli.not_staff_id") in printed.err
    assert "周建国" not in printed.out + printed.err
    assert leaked(printed.out + printed.err) == []


async def test_a_grouped_id_number_is_no_person(certflow: Certflow) -> None:
    """Digits and hyphens make a staff id's shape; an ID number in groups is none."""
    refused = await certflow(
        "--as", "regional_contact", "--person", "421002-20050616-6066", "status", PLAN
    )

    assert refused.status == 2
    assert t("cli.person_not_staff_id") in refused.out
    assert leaked(refused.out) == []


# -- corrections --------------------------------------------------------------


async def test_a_correction_keeps_no_id_number_and_its_id_matches_in_any_case(
    certflow: Certflow, new_driver: PlanDriver, client: Client
) -> None:
    await new_driver.reach_publicity()
    await new_driver.open_publicity()
    plan_id = new_driver.plan.plan_id
    submit = [
        *INFO, "correction", "submit", plan_id, "--field", "practical",
        "--published", "50.1", "--requested", "60.10",
    ]  # fmt: skip

    as_admission = await certflow(*submit, "--admission", ID_NUMBER, "--reason", "漏登")
    in_reason = await certflow(
        *submit, "--admission", "2026110412012", "--reason", f"身份证 {ID_NUMBER}"
    )
    as_requester = await certflow(
        *submit, "--admission", "2026110412012", "--reason", "漏登",
        "--requester", ID_NUMBER,
    )  # fmt: skip
    filed = await certflow(*submit, "--admission", "2026110412012", "--reason", "漏登")
    request_id = f"{plan_id}-C001"
    decided = await certflow(
        *MANAGER, "correction", "decide", plan_id, request_id.lower(), "--approve"
    )
    wide = request_id.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    applied = await certflow(*INFO, "correction", "apply", plan_id, wide)

    assert [as_admission.status, in_reason.status, as_requester.status] == [2, 2, 2]
    assert filed.status == 0 and request_id in filed.out
    assert decided.status == 0, decided.out
    assert applied.status == 0, applied.out
    status = await new_driver.status()
    assert status.correction_states == {request_id: "applied"}
    kept = await recorded(client, plan_id)
    assert ID_NUMBER not in kept and mask_id_number(ID_NUMBER) not in kept


async def test_the_plans_refusal_masks_an_admission_number_like_an_id_number(
    new_driver: PlanDriver,
) -> None:
    """A request another client sends (as the exam mailbox files a form's):
    the plan's answer, kept in its history, names no ID number whole."""
    await new_driver.reach_publicity()
    await new_driver.open_publicity()

    answer: ActionResult = await new_driver.h.execute_update(
        ExamPlanWorkflow.submit_correction,
        CorrectionSubmission(
            actor=INFO_CENTER,
            admission_number=ID_NUMBER,
            field="theory",
            requested_score="60",
            reason="成绩登记错误",
        ),
    )

    assert not answer.accepted
    assert ID_NUMBER not in answer.message
    assert mask_id_number(ID_NUMBER) in answer.message
    assert all(ID_NUMBER not in p.render() for p in answer.problems)


# -- hidden characters ----------------------------------------------------------


async def test_a_typed_direction_override_is_shown_not_obeyed(
    certflow: Certflow, capsys: pytest.CaptureFixture[str]
) -> None:
    status = await status_of(certflow, "status", f"P2026{RLO}-1104 0412")

    printed = capsys.readouterr()
    assert status == 2
    assert RLO not in printed.out + printed.err
    assert "P2026<U+202E>-1104 0412" in printed.err


async def test_hidden_characters_of_a_refused_summary_are_shown_and_skipped(
    certflow: Certflow, new_driver: PlanDriver, tmp_path: Path
) -> None:
    """A cell's right-to-left override garbled the refusal's line, and a name
    starting with an invisible letter was masked to that letter alone."""
    plan = new_driver.plan
    book = openpyxl.load_workbook(retitled(SUMMARY, plan, tmp_path))
    sheet = book.worksheets[0]
    sheet.title = f"成绩{RLO}汇总"
    names = [c for c in sheet["B"] if c.value == "黎芬"]
    names[0].value = f"{RLO}黎芬"
    upload = tmp_path / "summary.xlsx"
    buffer = io.BytesIO()
    book.save(buffer)
    upload.write_bytes(buffer.getvalue())
    assert (await certflow(*start_argv(plan))).status == 0

    refused = await certflow(*LEAD, "upload", "summary", plan.plan_id, str(upload))

    assert refused.status == 2
    assert RLO not in refused.out
    assert "成绩<U+202E>汇总" in refused.out
    assert "（值：黎*）" in refused.out


async def test_a_hidden_character_staff_type_is_refused_before_it_is_mailed(
    certflow: Certflow,
    new_driver: PlanDriver,
    client: Client,
    sink_messages: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A right-to-left override in a reason turned the lines of the mails it
    went into (shown as ``<U+202E>`` there since). It is refused now, by the
    tool as by the plan (``certflow.free_text``): nothing is cancelled, and
    nobody is mailed it."""
    plan = new_driver.plan
    assert (await certflow(*start_argv(plan))).status == 0
    new_driver.handle = client.get_workflow_handle(plan_workflow_id(plan.plan_id))
    await new_driver.wait_for(lambda s: bool(s.owed))  # registered: cancellable

    cancelled = await status_of(
        certflow,
        *ADMIN, "plan", "cancel", plan.plan_id, "--reason", f"编号录错{RLO}重新登记",
    )  # fmt: skip

    assert cancelled == 2
    err = capsys.readouterr().err
    assert RLO not in err
    assert t("free_text.hidden_lines", field="理由", chars="U+202E") in err
    assert (await new_driver.status()).cancellation is None
    assert not [
        m
        for m in sink_messages()
        if m["X-Certflow-Plan"] == plan.plan_id
        and m["X-Certflow-Template"] == "plan_cancelled"
    ]
