"""Every free text staff send to a plan or a batch is bounded, by the tool too.

Found by a trial: only ``plan cancel --reason`` had a limit (500 characters).
Eighteen send-backs of a plan with 43,000-character reasons made the state it
carried to its next run larger than the server takes (2 MB): the plan stopped
for good. A reason holding a right-to-left override (U+202E) turned the lines
it was mailed and shown in. And ``batch decide --reject P=A --reject P=B``
kept the second reason without a word.

Each refusal here comes before anything is sent, naming the flag, the field,
its limit and the length given (``certflow.free_text``); the plan and the
batch refuse the same (tests/workflow/test_text_bounds.py).
"""

from __future__ import annotations

import argparse
from typing import Any, get_args

import pytest
from pydantic import BaseModel
from temporalio.workflow import _Definition

from certflow.free_text import (
    DETAIL_MAX_LENGTH,
    NAME_MAX_LENGTH,
    REASON_MAX_LENGTH,
    REQUEST_REASON_MAX_LENGTH,
    TextBound,
)
from certflow.i18n import t
from starter.cli import (
    PLAN_ACTIONS,
    Arg,
    correction_value_problems,
    decision_of,
    parse,
    reason_argument,
)
from tests.cli.conftest import Certflow
from tests.cli.test_rough_edges import ACTING_INFO, ASSIGN, status_of
from workflows import ApprovalBatchWorkflow, ExamPlanWorkflow

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(60)]

PLAN = "P2026-1104-0412"
ADMIN = ["--as", "admin", "--person", "admin-liu"]
CONTACT = ["--as", "regional_contact", "--person", "rc-zhang"]
MANAGER = ["--as", "regional_manager", "--person", "rm-wang"]
INFO = ["--as", "info_center", "--person", "ic-li"]
FINANCE = ["--as", "finance", "--person", "fin-sun"]
SITE = ["--as", "site", "--person", "whjt-kaowu", "--site", "HB-WH-0031"]
GM = ["--as", "general_manager", "--person", "gm-chen"]
SUBMIT = [*INFO, "correction", "submit", PLAN, "--admission", "2026110412012",
          "--field", "practical", "--requested", "60"]  # fmt: skip
DECIDE = [*GM, "batch", "decide", "B20261204-153012"]


def too_long(field: str, limit: int, kind: str) -> str:
    return t(
        "free_text.too_long",
        field=field,
        limit=limit,
        length=limit + 1,
        hint=t(f"free_text.hints.{kind}"),
    )


REASON = "因" * (REASON_MAX_LENGTH + 1)
# Every command that sends a free text, with one just over its bound.
TOO_LONG = {
    "cancel": ([*ADMIN, "plan", "cancel", PLAN, "--reason", REASON],
               "--reason", too_long("理由", REASON_MAX_LENGTH, "reason")),
    "review": ([*CONTACT, "review", PLAN, "--send-back", "site", "--reason", REASON],
               "--reason", too_long("理由", REASON_MAX_LENGTH, "reason")),
    "decide": ([*MANAGER, "correction", "decide", PLAN, "C001", "--reject",
                "--reason", REASON],
               "--reason", too_long("理由", REASON_MAX_LENGTH, "reason")),
    "submit": ([*SUBMIT, "--reason", "因" * (REQUEST_REASON_MAX_LENGTH + 1)],
               "--reason",
               too_long("理由", REQUEST_REASON_MAX_LENGTH, "request_reason")),
    "requester": ([*SUBMIT, "--reason", "录入错误",
                   "--requester", "校" * (NAME_MAX_LENGTH + 1)],
                  "--requester", too_long("申请人", NAME_MAX_LENGTH, "name")),
    "comment": ([*SITE, "confirm-summary", PLAN, "--comment", REASON],
                "--comment", too_long("备注", REASON_MAX_LENGTH, "reason")),
    "payment": ([*FINANCE, "payment", PLAN, "--amount", "4200", "--received-on",
                 "2026-12-21", "--correct", "--reason", REASON],
                "--reason", too_long("理由", REASON_MAX_LENGTH, "reason")),
    "reference": ([*FINANCE, "payment", PLAN, "--amount", "4200", "--received-on",
                   "2026-12-21", "--reference", "流" * (DETAIL_MAX_LENGTH + 1)],
                  "--reference", too_long("凭证号", DETAIL_MAX_LENGTH, "detail")),
    "invoice": ([*FINANCE, "invoice", PLAN, "--number", "12345678", "--date",
                 "2026-12-22", "--amount", "4200", "--correct", "--reason", REASON],
                "--reason", too_long("理由", REASON_MAX_LENGTH, "reason")),
    "batch": ([*DECIDE, "--reject", f"{PLAN}={REASON}"],
              "--reject", too_long(f"驳回理由（{PLAN}）", REASON_MAX_LENGTH, "reason")),
    "mailbox": ([*ACTING_INFO, "mailbox", *ASSIGN, "--reason",
                 "因" * (REQUEST_REASON_MAX_LENGTH + 1)],
                "--reason",
                too_long("理由", REQUEST_REASON_MAX_LENGTH, "request_reason")),
    "revoke": ([*ADMIN, "revoke", "ZCX2027QCYY2000001", "--reason", REASON],
               "--reason", too_long("撤销原因", REASON_MAX_LENGTH, "reason")),
}  # fmt: skip


@pytest.mark.parametrize(("argv", "flag", "refusal"), TOO_LONG.values(), ids=TOO_LONG)
async def test_a_text_over_its_bound_is_refused_before_sending(
    argv: list[str],
    flag: str,
    refusal: str,
    certflow: Certflow,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Regression (trial): only ``plan cancel --reason`` had a limit, said by
    the plan; a 43,000-character reason was sent on every other command."""
    status = await status_of(certflow, *argv)

    err = capsys.readouterr().err
    assert status == 2, err
    assert f"参数 {flag}：{refusal}" in err
    assert "因因因因因" not in err  # the text is not repeated


HIDDEN = {
    "review": ([*CONTACT, "review", PLAN, "--send-back", "site", "--reason",
                "成绩\u202e有误"],
               t("free_text.hidden_lines", field="理由", chars="U+202E")),
    "submit": ([*SUBMIT, "--reason", "录入\x1b[2J错误"],
               t("free_text.hidden_lines", field="理由", chars="U+001B")),
    "requester": ([*SUBMIT, "--reason", "录入错误", "--requester", "武汉\u200b交通"],
                  t("free_text.hidden", field="申请人", chars="U+200B")),
    "reference": ([*FINANCE, "payment", PLAN, "--amount", "4200", "--received-on",
                   "2026-12-21", "--reference", "TX\n0001"],
                  t("free_text.one_line", field="凭证号")),
    "batch": ([*DECIDE, "--reject", f"{PLAN}=金额\u2066不符"],
              t("free_text.hidden_lines", field=f"驳回理由（{PLAN}）",
                chars="U+2066")),
    "revoke": ([*ADMIN, "revoke", "ZCX2027QCYY2000001", "--reason", "成绩\u202e更正"],
               t("free_text.hidden_lines", field="撤销原因", chars="U+202E")),
}  # fmt: skip


@pytest.mark.parametrize(("argv", "refusal"), HIDDEN.values(), ids=HIDDEN)
async def test_a_hidden_character_is_refused_before_sending(
    argv: list[str],
    refusal: str,
    certflow: Certflow,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A right-to-left override turns the line a reason is mailed and shown
    in; a zero-width space makes two texts look alike; an escape sequence
    clears the terminal that shows it. Refused, the character named by code
    point; a reason keeps its own line breaks and tabs."""
    status = await status_of(certflow, *argv)

    assert status == 2
    assert refusal in capsys.readouterr().err


async def test_a_text_at_its_bound_is_taken() -> None:
    args, _ = parse([*ADMIN, "plan", "cancel", PLAN, "--reason",
                     "因" * REASON_MAX_LENGTH])  # fmt: skip
    assert args.field_reason == "因" * REASON_MAX_LENGTH
    args, _ = parse([*SUBMIT, "--reason", "第一行\r\n第二行\n\t第三行\r第四行",
                     "--requester", "校" * NAME_MAX_LENGTH])  # fmt: skip
    # Each line break is sent as a line feed, however it was typed.
    assert args.field_reason == "第一行\n第二行\n\t第三行\n第四行"
    assert args.field_requester == "校" * NAME_MAX_LENGTH


async def test_a_line_break_counts_as_one_character() -> None:
    """Regression (review): a CR LF counted two characters, so a reason that
    looks 500 characters long was refused "现有 501 个字符", and a CR alone
    was refused as a control character though line breaks may be kept."""
    half = "因" * (REASON_MAX_LENGTH // 2)
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        reason_argument(f"{half}\r\n{half}")
    assert str(refused.value) == too_long("理由", REASON_MAX_LENGTH, "reason")

    longest = "第一行\r第二行\r\n" + "因" * (REASON_MAX_LENGTH - 8)
    taken = reason_argument(longest)
    assert taken == "第一行\n第二行\n" + "因" * (REASON_MAX_LENGTH - 8)


async def test_a_plan_rejected_twice_is_refused_naming_it(
    certflow: Certflow, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression (trial): ``--reject P0414=不符 --reject P0414=另一个`` was
    taken, and only the second reason kept."""
    outcome = await certflow(
        *DECIDE, "--reject", "P2026-1104-0414=不符",
        "--reject", "p2026-1104-0414＝另一个", "--approve", PLAN,
    )  # fmt: skip

    said = outcome.out + capsys.readouterr().err
    assert outcome.status == 2, said
    assert t("batch.rejected_twice", plan_id="P2026-1104-0414") in said


async def test_a_blank_rejection_reason_names_its_plan(
    certflow: Certflow, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression (trial): ``--reject P0413=`` said 理由不能为空 of no plan,
    where a hidden character in it was said of the plan."""
    outcome = await certflow(*DECIDE, "--reject", "P2026-1104-0413=  ")

    said = outcome.out + capsys.readouterr().err
    assert outcome.status == 2, said
    assert t("cli.reason_blank_for", field="驳回理由（P2026-1104-0413）") in said


async def test_a_plan_approved_twice_is_sent_once() -> None:
    """Regression (trial): ``--approve P --approve p２０２６…`` was sent as
    given, and the batch's status read 批准：P…、P…."""
    args, _ = parse([*DECIDE, "--approve", PLAN, "--approve", "p２０２６-1104-0412",
                     "--approve", "P2026-1104-0413"])  # fmt: skip

    assert decision_of(args).approve == [PLAN, "P2026-1104-0413"]


# -- one bound, for the tool and the workflows -----------------------------------


def _bound(model: type[BaseModel], field: str) -> TextBound | None:
    info = model.model_fields[field]
    return next((m for m in info.metadata if isinstance(m, TextBound)), None)


def _flags() -> list[tuple[str, Arg, TextBound]]:
    found = []
    for action in PLAN_ACTIONS:
        models = [action.model] + ([action.variant[2]] if action.variant else [])
        for arg in (*action.arguments, *action.exclusive):
            for model in models:
                if arg.target in model.model_fields and (
                    bound := _bound(model, arg.target)
                ):
                    name = " ".join(action.command) + " " + arg.flag
                    found.append((name, arg, bound))
    return found


FLAGS = _flags()


@pytest.mark.parametrize(("name", "arg", "bound"), FLAGS, ids=[f[0] for f in FLAGS])
async def test_each_flag_refuses_what_its_plan_refuses(
    name: str, arg: Arg, bound: TextBound
) -> None:
    """The tool's check of a flag is the plan's check of the field it fills:
    the longest text the plan takes is taken, one character more refused."""
    if arg.flag == "--published":
        # A score or a status word, as the plan reads it: far shorter.
        assert correction_value_problems("practical", "甲", "60")
        return
    check = arg.options["type"]
    longest, longer = _text(arg, bound.max_length), _text(arg, bound.max_length + 1)
    assert check(longest) == longest
    # An address too long is no address (``cli.bad_email``); others say the limit.
    limit = None if arg.flag == "--email" else str(bound.max_length)
    with pytest.raises(argparse.ArgumentTypeError, match=limit):
        check(longer)


def _text(arg: Arg, length: int) -> str:
    """A text of ``length`` characters of the shape ``arg`` takes."""
    if arg.flag == "--email":
        domain = "@ex.cn"
        return "a" * (length - len(domain)) + domain
    return "甲" * length


# The text fields of requests that are codes, numbers or ids, each checked by
# its own rule (a shape, a list of known values) rather than as free text.
CODES = {
    ("Actor", "person"),
    ("Actor", "site_code"),
    ("DocumentRef", "sha256"),
    ("DocumentRef", "media_type"),
    ("CorrectionSubmission", "admission_number"),
    ("CorrectionSubmission", "field"),
    ("CorrectionSubmission", "requested_score"),
    ("CorrectionSubmission", "source_key"),
    ("CorrectionSubmission", "draft"),  # 32 hexadecimal digits
    ("CorrectionDecision", "request_id"),
    ("CorrectionApply", "request_id"),
    ("InvoiceRecord", "number"),
    ("SiteSignoffRequest", "plan_id"),
    ("Rejection", "plan_id"),
    ("UploadRequest", "signed_evaluator_ids"),
    ("ApplicationUpload", "paid_plan_ids"),
    ("BatchDecisionRequest", "approve"),
    ("BatchDecisionRequest", "return_to"),
}


def _text_fields(model: type[BaseModel]) -> set[tuple[str, str]]:
    """Every field of ``model`` (and of the models it holds) that holds text
    and no bound."""
    found = set()
    for name, info in model.model_fields.items():
        if _bound(model, name) is not None:
            continue
        for kind in [info.annotation, *_args(info.annotation)]:
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                found |= _text_fields(kind)
            elif kind is str:
                found.add((model.__name__, name))
    return found


def _args(kind: Any) -> list[Any]:
    args = list(get_args(kind))
    return args + [a for arg in args for a in _args(arg)]


@pytest.mark.parametrize("workflow", [ExamPlanWorkflow, ApprovalBatchWorkflow])
async def test_every_text_a_workflow_takes_is_bounded(workflow: type) -> None:
    """Each text field of every update a workflow takes is bounded as free
    text, or is a code checked by a rule of its own: a field added without
    a bound fails here."""
    unbounded: set[tuple[str, str]] = set()
    for update in _Definition.must_from_class(workflow).updates.values():
        for kind in update.arg_types or []:
            unbounded |= _text_fields(kind)
    assert unbounded <= CODES, unbounded - CODES
