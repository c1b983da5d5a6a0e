"""Pure parts of the staff tool: batch ids, table layout, argument parsing."""

from __future__ import annotations

import subprocess
import sys
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from certflow.actions import (
    ApplicationUpload,
    BatchStatus,
    CorrectionCounts,
    InvoiceRecord,
    OwedItem,
    PlanStatus,
    ReviewRequest,
    SiteSignoffRequest,
)
from certflow.arguments import named_codes
from certflow.i18n import t
from certflow.intake.common import formula_error
from certflow.models import Actor, Problem, Role, Stage
from certflow.plan import REDO_DUTIES, Duty, HistoryEntry, PaymentRecord
from certflow.plan_details import batch_details
from certflow.problem_list import group_line, grouped, recorded_text, row_ranges
from certflow.validation import explain
from starter.cli import (
    actor_of,
    batch_lines,
    new_batch_id,
    parse,
    render_status,
    returns_by_plan,
    table,
)
from tests.support import english_words


def test_batch_id_is_the_cst_second() -> None:
    # Seconds, so two gatherings within one minute get different ids.
    at = datetime(2026, 12, 4, 7, 30, 5, tzinfo=UTC)
    assert new_batch_id(at) == "B20261204-153005"
    assert new_batch_id(at + timedelta(seconds=1)) == "B20261204-153006"
    assert new_batch_id(datetime(2026, 12, 4, 16, 5, tzinfo=UTC)) == "B20261205-000500"


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_table_columns_line_up_with_chinese_text() -> None:
    lines = table(["事项 Duty", "截止"], [["上传考生签到表", "2026-12-20"], ["x", "-"]])

    second = ["截止", "-" * 10, "2026-12-20", "-"]
    offsets = {
        _display_width(line[: line.rindex(cell)])
        for line, cell in zip(lines, second, strict=True)
    }
    assert offsets == {_display_width("上传考生签到表") + 2}


def test_flags_fill_the_request_and_the_plan_id_stays_apart() -> None:
    actor = ["--as", "site", "--person", "p", "--site", "S-1"]
    args, _ = parse(
        [*actor, "site-signoff", "P2026-1", "--platform-plan-id", "P2026-9"]
    )
    request = args.plan_action.request(args, actor_of(args), None)

    assert args.plan_id == "P2026-1"
    assert isinstance(request, SiteSignoffRequest) and request.plan_id == "P2026-9"
    assert request.actor.site_code == "S-1"


def test_paid_plans_are_read_as_issued() -> None:
    """Regression: ``--paid-plan p2026-1104-0412`` was refused by the plan as
    not among those paid for."""
    actor = ["--as", "site", "--person", "p", "--site", "S-1"]
    args, _ = parse(
        [*actor, "application", "P2026-1104-0412", "--scan", "a.pdf",
         "--paid-plan", "p2026-1104-0412", "Ｐ2026-1104-0413",
         "--head-count", "3", "--amount", "900", "--paid-on", "2026-12-01"]
    )  # fmt: skip

    assert args.field_paid_plan_ids == ["P2026-1104-0412", "P2026-1104-0413"]


def test_send_back_items_become_roles_and_duties() -> None:
    actor = ["--as", "regional_contact", "--person", "rc"]
    decision = ["--send-back", "site", "--reason", "签到表缺页"]
    args, _ = parse(
        ["review", "P2026-1", *actor, *decision, "--item", "candidate_sign_in"]
    )
    request = args.plan_action.request(args, actor_of(args), None)

    assert isinstance(request, ReviewRequest)
    assert request.send_back_to == [Role.SITE]
    assert request.items == [Duty.CANDIDATE_SIGN_IN]
    assert not request.approve


def test_stack_and_mail_get_their_own_arguments() -> None:
    args, rest = parse(["--person", "mail", "mail", "show", "2", "--folder", "exam"])

    assert args.delegate == "mail" and args.person == "mail"
    assert rest == ["show", "2", "--folder", "exam"]
    with pytest.raises(SystemExit):
        parse(["review", "P2026-1", "--approve", "--send-back", "site"])


def test_the_installed_command_runs_offline_subcommands(tmp_path: Path) -> None:
    key = tmp_path / "signing.pem"
    not_pdf = tmp_path / "not-a-certificate.pdf"
    not_pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    command = [sys.executable, "-m", "starter.cli"]

    created = subprocess.run(
        [*command, "keys", "create", "--out", str(key)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    checked = subprocess.run(
        [
            *command,
            "verify",
            str(not_pdf),
            "--public-key",
            str(tmp_path / "signing.pub.pem"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert created.returncode == 0, created.stderr
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert checked.returncode == 6, checked.stderr  # not a certificate
    assert checked.stdout.strip()  # the verdict, in Chinese


def _status_with(history: list[HistoryEntry]) -> PlanStatus:
    """A plan waiting for approval again, with ``history`` as its recent lines."""
    return PlanStatus(
        plan_id="P2026-1104-0412",
        site_code="HB-WH-0031",
        stage=Stage.AWAITING_APPROVAL,
        stage_label=t("stages.awaiting_approval"),
        owed=[],
        next_deadline=None,
        overdue=False,
        documents={},
        document_versions={},
        summary=None,
        consistency=None,
        publicity=None,
        calendar_missing_years=[],
        corrections=CorrectionCounts(),
        correction_states={},
        payment=PaymentRecord(),
        batch_id=None,
        certificates_issued=0,
        platform_import=None,
        history=history,
    )


def test_history_of_a_rejected_batch_is_said_in_chinese() -> None:
    """Regression: a batch's rejection showed in the history as 'reject_batch'."""
    at = datetime(2026, 12, 20, 2, 0, tzinfo=UTC)
    gm = {"role": Role.GENERAL_MANAGER, "person": "gm-chen"}
    lines = render_status(
        _status_with(
            [
                HistoryEntry(at=at, action="approve_batch", **gm),
                HistoryEntry(at=at, action="reject_batch", **gm),
                HistoryEntry(at=at, action="stage:awaiting_approval"),
                HistoryEntry(at=at, action="reject_batch:refused", **gm),
                HistoryEntry(at=at, action="some_future_action", **gm),
            ]
        )
    )
    text = "\n".join(lines)

    assert t("actions.reject_batch") in text
    assert t("cli.status.other_action", code="some_future_action") in text
    # The plan waits for a batch: the status names the command gathering it.
    command = ("certflow", "batch", "gather")
    codes = ("gm-chen", "awaiting_approval", "some_future_action", *command)
    assert english_words(text, *codes) == []


def test_notices_a_mail_outage_holds_are_said_not_sent() -> None:
    """Regression (trial): while mail was down, 已提醒 1 read as sent."""
    held = OwedItem(
        key="score_summary",
        duty=Duty.SCORE_SUMMARY,
        label=t("duties.score_summary"),
        owner=Role.LEAD_EVALUATOR,
        deadline_day=date(2026, 11, 19),
        overdue=False,
        reminders_sent=1,
        escalations_sent=0,
        notices_waiting=1,
    )
    gone = held.model_copy(update={"key": "signed_scan", "notices_waiting": 0})
    status = _status_with([]).model_copy(
        update={"owed": [held, gone], "mail_trouble": "mail_server_away"}
    )

    text = "\n".join(render_status(status))

    assert text.count(t("cli.status.notices_waiting", count=1)) == 1
    # On its way, none of the plan's mail failed: not said held by the server.
    sending = "\n".join(render_status(status.model_copy(update={"mail_trouble": None})))
    assert text.count(t("cli.status.notices_sending", count=1)) == 0
    assert sending.count(t("cli.status.notices_sending", count=1)) == 1
    assert "暂时无法连接" not in sending


def test_a_plan_awaiting_its_gathering_says_when_the_schedule_runs() -> None:
    """Trial: a plan no batch had taken said only 批准发证 总经理 自…起等待.
    It says who gathers it and when: the weekly schedule at its next run,
    or the tech dept on demand; the general manager once it is in a batch."""
    since = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)
    gathering = OwedItem(
        key="approval",
        duty=Duty.APPROVAL,
        label=t("duties.approval_gathering"),
        owner=Role.TECH_DEPT,
        deadline_day=None,
        overdue=False,
        reminders_sent=0,
        escalations_sent=0,
        waiting_since=since,
    )
    waiting = _status_with([]).model_copy(update={"owed": [gathering]})
    monday = datetime(2026, 12, 7, 1, 0, tzinfo=UTC)  # 09:00 in China

    scheduled = render_status(waiting.model_copy(update={"next_gathering": monday}))
    on_demand = render_status(waiting)
    in_batch = render_status(
        waiting.model_copy(
            update={
                "batch_id": "B20261207-090000",
                "owed": [
                    gathering.model_copy(
                        update={
                            "label": t("duties.approval"),
                            "owner": Role.GENERAL_MANAGER,
                        }
                    )
                ],
            }
        )
    )

    said = t("cli.status.awaits_batch_scheduled", at="2026-12-07 09:00")
    assert "2026-12-07 09:00" in said
    assert said in scheduled
    assert t("cli.status.awaits_batch_on_demand") in on_demand
    assert not any("待汇总进发证批次" in line for line in in_batch)


def test_a_refused_field_is_named_and_explained_in_chinese() -> None:
    """Regression: pydantic's English ("String should have at least 1 character")
    reached staff when a request model refused a value."""
    fields = {
        "actor": Actor(role=Role.FINANCE, person="fin-sun"),
        "issued_on": "2026-13-01",
        "amount": "abc",
    }
    cases = [
        ({**fields, "number": ""}, ["number：不能为空", "issued_on：不是有效的日期"]),
        ({**fields, "number": "N" * 65}, ["number：太长，最多 64 个字符"]),
        ({k: v for k, v in fields.items() if k != "issued_on"}, ["number：必须填写"]),
        ({**fields, "number": "1", "amount": "0"}, ["amount：须大于 0"]),
        ({**fields, "number": "1", "amount": "1.234"}, ["amount：最多 2 位小数"]),
    ]
    for values, expected in cases:
        with pytest.raises(ValidationError) as refused:
            InvoiceRecord.model_validate(values)
        lines = explain(refused.value, lambda loc: ".".join(map(str, loc)))
        text = "\n".join(lines)
        assert all(part in text for part in expected), (expected, lines)
        assert english_words(text, "number", "issued_on", "amount", "YYYY-MM-DD") == []
    with pytest.raises(ValidationError) as listed:
        ApplicationUpload.model_validate({"paid_plan_ids": [], "head_count": -1})
    text = "\n".join(explain(listed.value, lambda loc: str(loc[0])))
    assert "paid_plan_ids：至少要有 1 项" in text
    assert "head_count：不能小于 0" in text
    assert "amount：必须填写" in text
    codes = ("actor", "application_scan", "paid_plan_ids", "head_count", "amount")
    assert english_words(text, *codes, "paid_on") == []


def test_batch_decide_reads_plan_ids_as_issued_and_adds_up_returns() -> None:
    """Regression: ``--approve p2026-1104-0412`` was refused as not in the
    batch; a plan id is read as issued wherever it is typed."""
    args, _ = parse(
        ["batch", "decide", "b-1",
         "--approve", "p2026-1104-0412", "--approve", "Ｐ2026-1104-0413",
         "--reject", "p2026-1104-0415＝缴费凭证不清晰=补交", "p2026-1104-0416=重拍",
         "--return", "p2026-1104-0415=site_signoff，application",
         "--return", "P2026-1104-0415=org_signoff,application"]
    )  # fmt: skip

    assert args.batch_id == "B-1"
    assert args.approve == ["P2026-1104-0412", "P2026-1104-0413"]
    assert dict(args.reject) == {
        "P2026-1104-0415": "缴费凭证不清晰=补交",
        "P2026-1104-0416": "重拍",
    }
    assert returns_by_plan(args.returns) == {
        "P2026-1104-0415": [Duty.SITE_SIGNOFF, Duty.APPLICATION, Duty.ORG_SIGNOFF]
    }


@pytest.mark.parametrize(
    ("value", "key", "shown"),
    [
        ("P1", "cli.bad_return", "P1"),
        ("P1=", "cli.bad_return", "P1="),
        ("=application", "cli.bad_return", "=application"),
        ("P1=application,payment", "cli.bad_return_duty", "payment"),
    ],
    ids=["no-sign", "no-duty", "no-plan", "unknown-duty"],
)
def test_a_return_of_the_wrong_form_is_refused_naming_the_duties(
    value: str, key: str, shown: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        parse(["batch", "decide", "B1", "--reject", "P1=原因", "--return", value])

    err = capsys.readouterr().err
    assert exit.value.code == 2
    allowed = named_codes((d.value for d in REDO_DUTIES), "duties.")
    assert "--return" in err and t(key, value=shown, allowed=allowed) in err
    assert "site_signoff（在国家平台进行考核站确认签发）" in allowed


def test_a_decided_batch_says_where_each_rejected_plan_went() -> None:
    returned = [Duty.APPLICATION, Duty.PAYMENT_CHECK, Duty.SITE_SIGNOFF]
    lines = batch_lines(
        BatchStatus(
            batch_id="B20261204-153000",
            plan_ids=["P1", "P2", "P3"],
            decided=True,
            approved=["P1"],
            rejected={"P2": "缴费凭证不清晰", "P3": "发票信息待核实"},
            returned={"P2": returned},
        )
    )
    text = "\n".join(lines)

    sent_back = lines.index(
        t("cli.batch_rejected", plan_id="P2", reason="缴费凭证不清晰")
    )
    assert lines[sent_back + 1] == t(
        "cli.batch_returned",
        items="缴费并上传证书申请表及院校发票信息收集表、在国家平台进行考核站确认签发"
        "（考核站点）；核对缴费并签字确认（财务部）",
    )
    waits = lines.index(t("cli.batch_rejected", plan_id="P3", reason="发票信息待核实"))
    assert lines[waits + 1] == t("cli.batch_waits")
    assert english_words(text) == []


def test_a_decided_batchs_details_say_where_each_rejected_plan_went() -> None:
    status = BatchStatus(
        batch_id="B1",
        plan_ids=["P1", "P2", "P3"],
        decided=True,
        approved=["P1"],
        rejected={"P2": "缴费凭证不清晰", "P3": "发票信息待核实"},
        returned={"P2": [Duty.APPLICATION, Duty.PAYMENT_CHECK]},
    )

    lines = batch_details(status).splitlines()

    assert lines[0] == t("details.batch_decided", batch_id="B1", approved=1, rejected=2)
    assert f"- {t('details.batch_approved', plans='P1')}" in lines
    assert f"- {t('details.batch_rejected', plans='P3')}" in lines
    redo = f"{t('duties.application')}、{t('duties.payment_check')}"
    assert f"- {t('details.batch_returned', plan_id='P2', duties=redo)}" in lines
    # Reasons are the general manager's words for the parties, not the Web UI's.
    assert "缴费凭证不清晰" not in batch_details(status)


@pytest.mark.parametrize("tool", ["mailbox", "revoke"])
def test_a_tool_that_starts_the_temporal_runtime_ends_as_the_command_does(
    tool: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (trial): `certflow mailbox poll` aborted with a fatal
    "PyGILState_Release" error (exit 134) about one run in ten, after its
    answer: the Temporal runtime's threads outlived the interpreter. The
    command ends such a process at once once its output is out; the mailbox
    tool was not among those it did so for."""
    import starter.cli as cli

    ended: list[int] = []
    monkeypatch.setattr(cli, "_delegate", lambda name, rest, args=None: 0)
    monkeypatch.setattr(cli.os, "_exit", ended.append)
    monkeypatch.setattr(cli.sys, "argv", ["certflow", tool, "poll"])

    cli.main()

    assert ended == [0]


class _Said:
    """A context that keeps what the command says."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def say(self, *lines: str) -> None:
        self.lines += lines


def test_a_refusal_whose_one_problem_it_already_says_is_said_once() -> None:
    """Regression (trial): a correction refusal printed its sentence twice, as
    未受理：X and again as 问题清单（共 1 处）：1. X."""
    from certflow.actions import ActionResult
    from certflow.models import Problem
    from starter.cli import show_result

    said = "准考证号 2026110412999 不在本考试计划的考生名单中"
    once, listed = _Said(), _Said()
    repeated = ActionResult(
        accepted=False,
        message=f"{said}。",
        problems=[Problem(code="unknown_candidate", message=said)],
    )
    other = repeated.model_copy(
        update={"problems": [Problem(code="x", message="另一处问题", row=3)]}
    )

    assert show_result(once, repeated) == 2  # type: ignore[arg-type]
    assert show_result(listed, other) == 2  # type: ignore[arg-type]

    assert once.lines == [t("cli.refused", reason=f"{said}。")]
    assert any("另一处问题" in line for line in listed.lines)


def test_a_reason_recurring_in_a_column_is_one_line_and_others_stay_apart() -> None:
    """Cells of one column and reason are one line naming their rows; a
    problem with a value of its own, or in another column, stays a line."""
    blank = {"code": "missing_value", "message": "此项不能为空", "sheet": "表"}
    problems = [
        Problem(row=4, column="姓名", **blank),
        Problem(row=5, column="姓名", **blank),
        Problem(row=5, column="证件号码", **blank),
        Problem(row=6, column="姓名", **blank),
        Problem(row=9, column="姓名", **blank),
        Problem(
            row=9, column="姓名", sheet="表", value="4210**", code="bad", message="不对"
        ),
        Problem(
            row=10,
            column="姓名",
            sheet="表",
            value="4211**",
            code="bad",
            message="不对",
        ),
    ]

    lines = [group_line(group) for group in grouped(problems)]

    assert lines == [
        "工作表“表” “姓名”列 第 4 至 6、9 行（共 4 处）：此项不能为空",
        "工作表“表” 第 5 行 “证件号码”列：此项不能为空",
        "工作表“表” 第 9 行 “姓名”列：不对（值：4210**）",
        "工作表“表” 第 10 行 “姓名”列：不对（值：4211**）",
    ]
    assert row_ranges([1, 3, 4, 5, 7, 8]) == "1、3 至 5、7 至 8"


def test_a_forms_problems_are_kept_numbered_without_their_values() -> None:
    """A refused invoice details form's problems as its record keeps them for
    document list, which roles that may not fetch the form read: each where
    it is and why, never the value the cell holds; those not given counted."""
    bank = {"code": "bad_account", "message": "“银行账号”不对。", "sheet": "发票信息"}
    problems = [
        Problem(row=8, column="内容", value="6222 0000 1111", **bank),
        Problem(code="missing_field", message="缺少“电话”一项。", sheet="发票信息"),
    ]

    one = recorded_text(problems[:1], 1)
    both = recorded_text(problems, 3)

    assert one == "工作表“发票信息” 第 8 行 “内容”列：“银行账号”不对。"
    assert both == (
        f"（1）{one}（2）工作表“发票信息”：缺少“电话”一项。"
        + t("cli.problems_not_recorded", count=1)
    )
    assert "6222" not in both


def test_a_column_of_one_formula_error_is_one_line_naming_the_error() -> None:
    """A VLOOKUP dragged down one column shows #N/A in each row: each cell's
    problem carries its error as its value, which kept every cell a line of
    its own. The cells showing one error are one line, the value said once;
    another error, or another column, is another line."""
    problems = [
        formula_error("表", 4, "姓名", "#N/A"),
        formula_error("表", 5, "姓名", "#N/A"),
        formula_error("表", 5, "总成绩", "#N/A"),
        formula_error("表", 6, "姓名", "#REF!"),
        formula_error("表", 7, "姓名", "#N/A"),
    ]

    lines = [group_line(group) for group in grouped(problems)]

    assert lines == [
        "工作表“表” “姓名”列 第 4 至 5、7 行（共 3 处）：该单元格是公式错误值 #N/A"
        "（如 #N/A 常因查找不到数据），请改为实际的内容（值：#N/A）。",
        problems[2].render(),
        problems[3].render(),
    ]
    assert problems[3].render() == (
        "工作表“表” 第 6 行 “姓名”列：该单元格是公式错误值 #REF!"
        "（如 #N/A 常因查找不到数据），请改为实际的内容（值：#REF!）。"
    )


def test_the_status_names_a_command_that_lists_every_voided_invoice() -> None:
    """Regression: the status said invoices voided before the last ones it
    lists were in the database's audit table, which no command showed."""
    said = t("cli.status.invoice_voided_earlier", count=30, plan_id="P2026-1104-0412")
    command = said[said.index("certflow") : said.index("查看")].split()

    args, _ = parse(command[1:])

    assert args.plan_id == "P2026-1104-0412"
    assert args.record_actions == ["void_invoice"]
