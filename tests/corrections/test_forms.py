"""The correction form read from text, HTML and xlsx, and the header decoding."""

from __future__ import annotations

import base64
import io
import zipfile
from email import message_from_bytes
from email.message import EmailMessage
from pathlib import Path

import pytest
from openpyxl import load_workbook

from certflow.corrections import (
    read_correction_form_text,
    read_correction_form_xlsx,
    read_correction_mail,
)
from certflow.corrections.decode import (
    RAW,
    decode_bytes,
    decode_header_text,
    part_filename,
)
from certflow.corrections.html import html_to_text

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "templates" / "correction-request.xlsx"
CORPUS_FORMS = ROOT / "tests" / "corpus" / "mail" / "forms"
SAMPLES = ROOT / "samples" / "intake"
SENDER = "Teacher@School.edu.cn"

TYPED = """考试计划编号：P2026-1104-0412
考生姓名：陈思彬
准考证号：2026110412004
修改项目：理论成绩
原成绩：53.1
申请修改为：63.1
修改原因：漏计一题
申请人：张明/武汉市交通职业技术学校
"""


def _filled_template(rows: list[list[object]]) -> bytes:
    workbook = load_workbook(TEMPLATE)
    sheet = workbook["成绩修改申请表"]
    for offset, row in enumerate(rows):
        for col, value in enumerate(row, start=1):
            sheet.cell(row=4 + offset, column=col, value=value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_typed_form_gives_one_draft_with_the_sender_lower_cased() -> None:
    drafts, problems = read_correction_form_text(TYPED, sender=SENDER)

    assert problems == []
    assert len(drafts) == 1
    draft = drafts[0]
    assert (draft.plan_id, draft.admission_number, draft.field) == (
        "P2026-1104-0412",
        "2026110412004",
        "theory",
    )
    assert (draft.published_score, draft.requested_score) == ("53.1", "63.1")
    assert draft.requester == "张明/武汉市交通职业技术学校"
    assert draft.requester_email == "teacher@school.edu.cn"


def test_a_blank_published_score_is_read_as_blank() -> None:
    """A candidate without a score has no 原成绩 to copy: whether the blank
    stands is the mailbox's to say, against the record (once it was refused
    here as missing)."""
    drafts, problems = read_correction_form_text(
        TYPED.replace("原成绩：53.1", "原成绩："), sender=SENDER
    )

    assert problems == []
    assert [d.published_score for d in drafts] == [""]


def test_ascii_colons_and_spaces_around_them_read_the_same() -> None:
    ascii_form = TYPED.replace("：", " : ")
    assert read_correction_form_text(ascii_form, sender=SENDER) == (
        read_correction_form_text(TYPED, sender=SENDER)
    )


def test_quoted_lines_of_a_reply_are_not_read() -> None:
    quoted = "\n".join(f"> {line}" for line in TYPED.splitlines())
    assert read_correction_form_text(quoted, sender=SENDER) == ([], [])


def test_a_signature_with_a_phone_number_is_not_a_request() -> None:
    text = "谢谢！\n\n张明\n电话：027-88886666\n地址：武汉市江岸区\n"
    assert read_correction_form_text(text, sender=SENDER) == ([], [])


def test_missing_requester_falls_back_to_the_sender_name() -> None:
    text = TYPED.replace("申请人：张明/武汉市交通职业技术学校\n", "")
    drafts, _ = read_correction_form_text(text, sender=SENDER, sender_name="张明")
    assert drafts[0].requester == "张明"


def test_a_plan_id_of_another_shape_is_refused() -> None:
    text = TYPED.replace("P2026-1104-0412", "第 P2026 号计划")
    drafts, problems = read_correction_form_text(text, sender=SENDER)
    assert drafts == []
    assert [p.code for p in problems] == ["bad_plan_id"]


def test_words_after_a_code_are_dropped() -> None:
    text = TYPED.replace(
        "P2026-1104-0412", "P2026-1104-0412    考核站点：武汉市交通职业技术学校"
    ).replace("2026110412004", "２０２６１１０４１２００４（陈思彬）")
    drafts, problems = read_correction_form_text(text, sender=SENDER)
    assert problems == []
    assert (drafts[0].plan_id, drafts[0].admission_number) == (
        "P2026-1104-0412",
        "2026110412004",
    )


HOSTILE_PLAN_ID = "P2026'; DROP TABLE plans;--"


def test_a_plan_id_with_characters_after_it_is_refused_whole_not_cut() -> None:
    text = TYPED.replace("P2026-1104-0412", HOSTILE_PLAN_ID)

    drafts, problems = read_correction_form_text(text, sender=SENDER)

    assert drafts == []
    [problem] = problems
    assert (problem.code, problem.value) == ("bad_plan_id", HOSTILE_PLAN_ID)
    assert "考试计划编号" in problem.render() and HOSTILE_PLAN_ID in problem.render()


@pytest.mark.parametrize(
    "admission",
    ["2026110412004'--", "2026110412004;2026110412005", "2026110412 004"],
)
def test_an_admission_number_with_characters_after_it_is_refused_whole(
    admission: str,
) -> None:
    text = TYPED.replace("2026110412004", admission)

    drafts, problems = read_correction_form_text(text, sender=SENDER)

    assert drafts == []
    assert [(p.code, p.value) for p in problems] == [
        ("bad_admission_number", admission)
    ]
    assert "准考证号" in problems[0].render()


def test_a_plan_id_in_the_template_is_read_whole_in_its_column_and_above() -> None:
    row: list[object] = [HOSTILE_PLAN_ID, "方浩", "", "2026110412005", ""]
    row += ["实操成绩", 82.3, 85.3, "漏记"]
    data = _filled_template([row, ["", *row[1:]]])
    workbook = load_workbook(io.BytesIO(data))
    workbook["成绩修改申请表"]["A2"] = f"考试计划编号：{HOSTILE_PLAN_ID}"
    buffer = io.BytesIO()
    workbook.save(buffer)

    drafts, problems = read_correction_form_xlsx(buffer.getvalue(), sender=SENDER)

    assert drafts == []
    assert [(p.code, p.row, p.column, p.value) for p in problems] == [
        ("bad_plan_id", 4, "考试计划编号", HOSTILE_PLAN_ID),
        ("bad_plan_id", 5, "考试计划编号", HOSTILE_PLAN_ID),
    ]


def test_a_refused_value_is_shown_cut_when_long() -> None:
    text = TYPED.replace("P2026-1104-0412", "P2026;" + "x" * 200)
    _, [problem] = read_correction_form_text(text, sender=SENDER)
    assert problem.value == "P2026;" + "x" * 34 + "…"


def test_several_fields_on_one_line_are_split() -> None:
    text = (
        "考试计划编号：P2026-1104-0412\n"
        "考生姓名：陈思彬  准考证号：2026110412004，修改项目：理论成绩\n"
        "原成绩：53.1 申请修改为：63.1\n"
        "修改原因：原成绩：53.1 漏计一题, 申请修改为 63.1\n"
    )
    drafts, problems = read_correction_form_text(text, sender=SENDER)
    assert problems == []
    draft = drafts[0]
    assert (draft.candidate_name, draft.admission_number, draft.field) == (
        "陈思彬",
        "2026110412004",
        "theory",
    )
    assert (draft.published_score, draft.requested_score) == ("53.1", "63.1")
    assert draft.reason == "原成绩：53.1 漏计一题, 申请修改为 63.1"


def test_name_separator_look_alikes_become_the_middle_dot() -> None:
    text = TYPED.replace("陈思彬", "买买提 • 艾力")
    drafts, _ = read_correction_form_text(text, sender=SENDER)
    assert drafts[0].candidate_name == "买买提·艾力"


def test_an_id_number_pasted_in_scientific_notation_is_reported() -> None:
    text = TYPED + "证件号码：1.10105E+17\n"
    drafts, problems = read_correction_form_text(text, sender=SENDER)
    assert drafts == []
    assert [p.code for p in problems] == ["id_number_as_number"]


def test_two_requests_for_different_plans_do_not_share_a_plan_id() -> None:
    second = TYPED.replace("P2026-1104-0412", "P2026-1105-0007")
    text = TYPED + "\n" + second.replace("考试计划编号：P2026-1105-0007\n", "")
    text += "考试计划编号：P2026-1105-0007\n"
    drafts, problems = read_correction_form_text(text, sender=SENDER)
    assert problems == []
    assert [d.plan_id for d in drafts] == ["P2026-1104-0412", "P2026-1105-0007"]


def test_html_label_value_table_reads_like_typed_lines() -> None:
    rows = [line.split("：", 1) for line in TYPED.splitlines()]
    html = "<table>" + "".join(
        f"<tr><td>{label}</td><td>&nbsp;{value}</td></tr>" for label, value in rows
    )
    html += "</table><style>td { color: red }</style>"
    assert read_correction_form_text(html_to_text(html), sender=SENDER) == (
        read_correction_form_text(TYPED, sender=SENDER)
    )


def test_html_paragraphs_become_lines() -> None:
    html = "".join(f"<p>{line}</p>" for line in TYPED.splitlines())
    assert html_to_text(html).splitlines() == TYPED.splitlines()


def test_empty_template_is_a_form_without_requests() -> None:
    assert read_correction_form_xlsx(TEMPLATE.read_bytes(), sender=SENDER) == ([], [])


def test_template_rows_become_drafts_and_incomplete_rows_problems() -> None:
    good: list[object] = ["P2026-1104-0412", "方浩", "420106200706163919"]
    good += ["2026110412005"]
    good += ["1-1 汽车动力与驱动系统综合分析技术", "实操成绩", 82.3, 85.3, "漏记"]
    good += ["李晓红/武汉市交通职业技术学校"]
    missing: list[object] = [*good[:3], "", *good[4:]]
    data = _filled_template([good, missing])

    drafts, problems = read_correction_form_xlsx(data, sender=SENDER)

    assert len(drafts) == 1
    assert drafts[0].published_score == "82.3"
    assert drafts[0].requested_score == "85.3"
    assert drafts[0].module_code == "1-1"
    assert [(p.code, p.sheet, p.row, p.column) for p in problems] == [
        ("missing_field", "成绩修改申请表", 5, "准考证号")
    ]


def test_ods_saved_by_an_office_suite_reads_like_the_xlsx() -> None:
    data = (CORPUS_FORMS / "成绩修改申请表.ods").read_bytes()
    drafts, problems = read_correction_form_xlsx(data, sender=SENDER)
    assert problems == []
    assert [
        (d.candidate_name, d.field, d.published_score, d.requested_score)
        for d in drafts
    ] == [("熊杰", "status", "缺考", "正常")]


def test_a_score_summary_is_not_a_correction_form() -> None:
    data = (SAMPLES / "P2026-1104-0412-成绩汇总表.xlsx").read_bytes()
    drafts, problems = read_correction_form_xlsx(data, sender=SENDER)
    assert drafts == []
    assert [p.code for p in problems] == ["not_a_form"]


def _template_with_macro() -> bytes:
    buffer = io.BytesIO(TEMPLATE.read_bytes())
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("xl/vbaProject.bin", b"\x00" * 64)
    return buffer.getvalue()


def _template_marked_encrypted() -> bytes:
    """The template with the zip "encrypted" flag set, as a password would set it.

    zipfile cannot write that flag, so the headers are patched in place.
    """
    data = bytearray(TEMPLATE.read_bytes())
    for signature, flag_offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start >= 0:
            data[start + flag_offset] |= 0x1
            start = data.find(signature, start + 4)
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (_template_with_macro(), "macro_attachment"),
        (_template_marked_encrypted(), "encrypted_attachment"),
        (b"PK\x03\x04" + b"\x00" * (11 * 1024 * 1024), "attachment_too_large"),
    ],
    ids=["macro", "encrypted", "too-large"],
)
def test_attachments_intake_refuses_say_what_to_do(data: bytes, code: str) -> None:
    drafts, problems = read_correction_form_xlsx(data, sender=SENDER)
    assert drafts == []
    assert [p.code for p in problems] == [code]
    assert "xlsx" in problems[0].message


def test_an_empty_attachment_is_said_to_be_empty() -> None:
    """Regression: it was said to be damaged or no Excel file."""
    reading = read_correction_mail(_mail_with_attachment("成绩修改申请表.xlsx", b""))

    assert reading.drafts == []
    assert [p.code for p in reading.problems] == ["empty_attachment"]
    assert "成绩修改申请表.xlsx" in reading.problems[0].message
    assert "空文件" in reading.problems[0].message


def test_bytes_that_are_no_workbook_are_an_unreadable_attachment() -> None:
    drafts, problems = read_correction_form_xlsx(b"PK\x03\x04 broken", sender=SENDER)
    assert drafts == []
    assert [p.code for p in problems] == ["unreadable_attachment"]


def _mail_with_attachment(filename: str, data: bytes) -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "kaowu1x@zcx-eval.org.cn"
    message["Subject"] = "成绩修改申请"
    message["Message-ID"] = "<rar-1@school.edu.cn>"
    message.set_content("见附件")
    message.add_attachment(
        data, maintype="application", subtype="octet-stream", filename=filename
    )
    return message.as_bytes()


def test_a_rar_archive_is_handed_to_people() -> None:
    raw = _mail_with_attachment("申请表.rar", b"Rar!\x1a\x07\x01\x00 not more")
    reading = read_correction_mail(raw)
    assert reading.drafts == []
    assert [(p.code, "申请表.rar" in p.message) for p in reading.problems] == [
        ("unreadable_archive", True)
    ]


def test_a_damaged_zip_is_handed_to_people() -> None:
    reading = read_correction_mail(_mail_with_attachment("申请表.zip", b"PK\x03\x04xx"))
    assert [p.code for p in reading.problems] == ["unreadable_archive"]


def _mail_without_attachment(body: str, subtype: str = "plain") -> bytes:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = "kaowu1x@zcx-eval.org.cn"
    message["Subject"] = "成绩修改申请"
    message["Message-ID"] = "<no-attachment-1@school.edu.cn>"
    message.set_content(body, subtype=subtype)
    return message.as_bytes()


@pytest.mark.parametrize(
    ("body", "subtype"),
    [
        ("老师好，本校的成绩修改申请表见附件，请查收。", "plain"),
        ("<p>您好！</p><p>申请表请见<b>附件</b>。</p>", "html"),
        ("Please find the form attached.", "plain"),
    ],
    ids=["typed", "html", "english"],
)
def test_see_attachment_without_an_attachment_says_it_did_not_come(
    body: str, subtype: str
) -> None:
    reading = read_correction_mail(_mail_without_attachment(body, subtype))

    assert reading.drafts == []
    [problem] = reading.problems
    assert problem.code == "attachment_missing"
    assert "没有任何附件" in problem.message and "正文中按模板" in problem.message


def test_a_mail_neither_holding_nor_naming_a_form_says_no_form_was_found() -> None:
    reading = read_correction_mail(_mail_without_attachment("老师好，有问题请回电。"))
    assert [p.code for p in reading.problems] == ["no_form"]


def test_gb2312_label_on_gbk_only_characters_decodes() -> None:
    data = "王喆".encode("gbk")
    word = f"=?gb2312?B?{base64.b64encode(data).decode()}?="
    assert decode_header_text(word) == "王喆"


def test_encoded_words_cut_inside_a_character_are_joined() -> None:
    data = "成绩修改申请".encode()
    first = base64.b64encode(data[:4]).decode()
    second = base64.b64encode(data[4:]).decode()
    header = f"=?UTF-8?B?{first}?=\r\n =?UTF-8?B?{second}?="
    assert decode_header_text(header) == "成绩修改申请"


def test_raw_8bit_gbk_header_is_guessed() -> None:
    raw = "成绩修改申请".encode("gbk").decode("ascii", "surrogateescape")
    assert decode_header_text(raw) == "成绩修改申请"


def test_text_without_charset_label_is_guessed() -> None:
    assert decode_bytes("申请修改为".encode("gb18030"), None) == "申请修改为"
    assert decode_bytes("申请修改为".encode(), "us-ascii") == "申请修改为"


def test_rfc2231_continuations_decode_to_one_name() -> None:
    raw = (
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment;\r\n"
        b"\tfilename*0*=gbk''%B3%C9%BC%A8;\r\n"
        b"\tfilename*1*=%D0%DE%B8%C4.xlsx\r\n\r\nx"
    )
    part = message_from_bytes(raw, policy=RAW)
    assert part_filename(part) == "成绩修改.xlsx"


def test_q_encoded_attachment_name_decodes() -> None:
    raw = (
        b"Content-Type: application/vnd.ms-excel;\r\n"
        b'\tname="=?GB18030?Q?=B3=C9=BC=A8=D0=DE=B8=C4_=B1=ED.xls?="\r\n'
        b"Content-Disposition: attachment\r\n\r\nx"
    )
    part = message_from_bytes(raw, policy=RAW)
    assert part_filename(part) == "成绩修改 表.xls"
