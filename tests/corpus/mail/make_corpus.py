"""Write the correction-mail corpus: messages shaped like real Chinese mail clients.

Run from the repository root: ``.venv/bin/python tests/corpus/mail/make_corpus.py``.
Every message is assembled byte by byte (not with the email package) so that it
carries the quirks of the client it imitates: GBK text labelled gb2312, encoded
words cut in the middle of a character, RFC 2047 inside quoted filenames, raw
8-bit headers. The expected outcome of each message is written by hand in
``manifest.toml``, not derived from this script.

The people are the fictitious candidates of samples/intake (plan P2026-1104-0412).
"""

# Header lines are kept whole, as the imitated clients write them.
# ruff: noqa: E501

from __future__ import annotations

import base64
import io
import quopri
import shutil
import struct
import subprocess
import sys
import tempfile
import urllib.parse
import zlib
from collections.abc import Iterable
from pathlib import Path

from openpyxl import load_workbook

HERE = Path(__file__).resolve().parent
FORMS = HERE / "forms"
SAMPLES = HERE.parents[2] / "samples" / "intake"
sys.path.insert(0, str(HERE.parents[2] / "templates"))
import make_correction_template  # noqa: E402

CRLF = "\r\n"
PLAN = "P2026-1104-0412"
MODULE = "1-1 汽车动力与驱动系统综合分析技术"
SITE = "武汉市交通职业技术学校"


# --- encodings ---------------------------------------------------------------


def b64_lines(data: bytes, width: int = 76) -> str:
    """Base64 body text in lines of ``width`` characters, as clients write it."""
    text = base64.b64encode(data).decode("ascii")
    return CRLF.join(text[i : i + width] for i in range(0, len(text), width))


def qp_body(text: str, charset: str) -> str:
    """Quoted-printable body, hard and soft line breaks both CRLF."""
    lines = []
    for line in text.split("\n"):
        encoded = quopri.encodestring(line.encode(charset)).decode("ascii")
        lines.append(encoded.removesuffix("\n").replace("=\n", "=" + CRLF))
    return CRLF.join(lines)


def word_b(text: str, charset: str, label: str | None = None) -> str:
    """One RFC 2047 B-encoded word; ``label`` is the charset named, if it lies."""
    data = base64.b64encode(text.encode(charset)).decode()
    return f"=?{label or charset}?B?{data}?="


def words_b_split(text: str, charset: str, cut: int) -> str:
    """Two B words cut after ``cut`` bytes, possibly inside a character."""
    data = text.encode(charset)
    first = base64.b64encode(data[:cut]).decode()
    second = base64.b64encode(data[cut:]).decode()
    return f"=?{charset}?B?{first}?={CRLF} =?{charset}?B?{second}?="


def words_q_split(text: str, charset: str, cut: int) -> str:
    """Two Q-encoded words cut after ``cut`` bytes (163 webmail does this)."""

    def q(data: bytes) -> str:
        return "".join(
            chr(b)
            if b < 128 and chr(b).isalnum()
            else ("_" if b == 32 else f"={b:02X}")
            for b in data
        )

    data = text.encode(charset)
    return f"=?{charset}?Q?{q(data[:cut])}?={CRLF} =?{charset}?Q?{q(data[cut:])}?="


def rfc2231(name: str, charset: str, value: str, chunk: int | None = None) -> str:
    """An RFC 2231 parameter, split into numbered continuations if ``chunk``."""
    # One token per byte, so a %XX escape is never cut in half.
    tokens = [urllib.parse.quote(bytes([b]), safe="") for b in value.encode(charset)]
    if chunk is None:
        return f"{name}*={charset}''{''.join(tokens)}"
    pieces: list[str] = []
    while tokens:
        piece = ""
        while tokens and len(piece) + len(tokens[0]) <= chunk:
            piece += tokens.pop(0)
        prefix = f"{charset}''" if not pieces else ""
        pieces.append(f"{name}*{len(pieces)}*={prefix}{piece}")
    return (";" + CRLF + "\t").join(pieces)


def text_part(
    subtype: str,
    label: str,
    text: str,
    *,
    codec: str | None = None,
    encoding: str = "base64",
    folded: bool = True,
) -> str:
    """A text/plain or text/html part: headers, blank line, body and a blank line.

    ``label`` is the charset named in the header, ``codec`` the one the bytes are
    really in (they differ when a client labels GBK text gb2312); ``folded``
    puts the charset on a continuation line, as Foxmail and QQ Mail do.
    """
    codec = codec or label
    if encoding == "base64":
        payload = b64_lines(text.replace("\n", CRLF).encode(codec))
    else:
        payload = qp_body(text, codec)
    separator = f";{CRLF}\t" if folded else "; "
    return (
        f'Content-Type: text/{subtype}{separator}charset="{label}"{CRLF}'
        f"Content-Transfer-Encoding: {encoding}{CRLF}{CRLF}{payload}{CRLF}{CRLF}"
    )


def headers(*lines: str) -> str:
    return CRLF.join(lines) + CRLF


def xlsx(rows: Iterable[list[object]], *, id_as_number: bool = False) -> bytes:
    """The template filled with ``rows`` (from row 4), as a site would send it."""
    workbook = load_workbook(io.BytesIO(make_correction_template.build()))
    sheet = workbook["成绩修改申请表"]
    for offset, row in enumerate(rows):
        for col, value in enumerate(row, start=1):
            cell = sheet.cell(row=4 + offset, column=col, value=value)
            if id_as_number and col == 3 and isinstance(value, str) and value.isdigit():
                cell.value = float(value)
                cell.number_format = "0"
    workbook.properties.modified = make_correction_template._STAMP
    buffer = io.BytesIO()
    workbook.save(buffer)
    return make_correction_template.stable_zip(buffer.getvalue())


def request_row(
    name: str,
    id_number: str,
    admission: str,
    field: str,
    published: str,
    requested: str,
    reason: str,
    requester: str = f"李晓红/{SITE}",
    phone: str = "13971234567",
) -> list[object]:
    return [
        PLAN,
        name,
        id_number,
        admission,
        MODULE,
        field,
        published,
        requested,
        reason,
        requester,
        phone,
    ]


# --- messages ----------------------------------------------------------------


def foxmail_gbk_xlsx() -> bytes:
    """Foxmail 7.2 on Windows: gb2312 label on GBK text, attachment name in RFC 2047."""
    boundary_mixed = "----=_NextPart_6763A1B2_0F3C2D18_4E5A7F21"
    boundary_alt = "----=_NextPart_6763A1B2_0F3C2D18_39B0C6D4"
    subject = "成绩修改申请－武汉市交通职业技术学校（王喆）"
    plain = "王老师：\n\n您好！附件是我校成绩修改申请表，共两条，请查收。\n\n王喆\n武汉市交通职业技术学校 教务处\n"
    html = (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=gb2312">'
        "<style>body { font-size: 10.5pt; font-family: 微软雅黑; }</style></head>"
        "<body><div>王老师：</div><div><br></div><div>您好！附件是我校成绩修改申请表，"
        "共两条，请查收。</div><div><br></div><div>王喆</div>"
        f"<div>{SITE} 教务处</div></body></html>"
    )
    attachment = xlsx(
        [
            request_row(
                "陈思彬",
                "110105200412147666",
                "2026110412004",
                "理论成绩",
                "53.1",
                "63.1",
                "复核试卷发现第三大题漏计 10 分",
                requester=f"王喆/{SITE}",
            ),
            request_row(
                "黎芬",
                "421002200506166066",
                "2026110412001",
                "理论成绩",
                "0",
                "70",
                "理论成绩录入时漏填，原始试卷得分 70 分",
                requester=f"王喆/{SITE}",
            ),
        ]
    )
    filename = "成绩修改申请表-武汉交通.xlsx"
    head = headers(
        # Foxmail labels GBK text gb2312; 喆 is not in GB2312 at all.
        f'From: "{word_b("王喆", "gbk", "gb2312")}" <wangzhe@whjtzx.edu.cn>',
        f'To: "{word_b("1+X考务", "gbk", "gb2312")}" <kaowu1x@zcx-eval.org.cn>',
        f"Subject: {word_b(subject, 'gbk', 'gb2312')}",
        "Date: Mon, 23 Nov 2026 10:12:47 +0800",
        "Message-ID: <202611231012470123456@whjtzx.edu.cn>",
        "X-Priority: 3",
        "X-Has-Attach: yes",
        "X-Mailer: Foxmail 7.2.25.375[cn]",
        "Mime-Version: 1.0",
        f'Content-Type: multipart/mixed;{CRLF}\tboundary="{boundary_mixed}"',
    )
    body = (
        f"{CRLF}This is a multi-part message in MIME format.{CRLF}{CRLF}"
        f"--{boundary_mixed}{CRLF}"
        f'Content-Type: multipart/alternative;{CRLF}\tboundary="{boundary_alt}"{CRLF}{CRLF}'
        f"{CRLF}--{boundary_alt}{CRLF}"
        + text_part("plain", "gb2312", plain, codec="gb18030")
        + f"--{boundary_alt}{CRLF}"
        + text_part(
            "html", "gb2312", html, codec="gb18030", encoding="quoted-printable"
        )
        + f"--{boundary_alt}--{CRLF}{CRLF}"
        f"--{boundary_mixed}{CRLF}"
        "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;"
        f'{CRLF}\tname="{word_b(filename, "gb2312")}"{CRLF}'
        f"Content-Transfer-Encoding: base64{CRLF}"
        f'Content-Disposition: attachment;{CRLF}\tfilename="{word_b(filename, "gb2312")}"'
        f"{CRLF}{CRLF}{b64_lines(attachment)}{CRLF}{CRLF}"
        f"--{boundary_mixed}--{CRLF}{CRLF}"
    )
    return (head + body).encode("ascii")


def foxmail_redelivered() -> bytes:
    """The Foxmail message again, as a second delivery adds its trace headers."""
    trace = headers(
        "Return-Path: <wangzhe@whjtzx.edu.cn>",
        "Delivered-To: kaowu1x@zcx-eval.org.cn",
        "Received: from mx1.whjtzx.edu.cn (unknown [10.20.1.5])",
        "\tby mail.zcx-eval.org.cn (Postfix) with ESMTPS id 4Q7wXk2Jz1z9v",
        "\tfor <kaowu1x@zcx-eval.org.cn>; Mon, 23 Nov 2026 10:15:02 +0800 (CST)",
    )
    return trace.encode("ascii") + foxmail_gbk_xlsx()


def qqmail_utf8_text() -> bytes:
    """QQ Mail web: hand-typed form in the body, UTF-8, base64, full-width colons."""
    boundary = "----=_NextPart_674A3E1F_0B8E5D40_6C2A19F3"
    plain = (
        "考务老师您好：\n"
        "我校以下两名考生对公示成绩有异议，申请修改：\n"
        "\n"
        "考试计划编号：P2026-1104-0412\n"
        "考生姓名：方浩\n"
        "证件号码：420106200706163919\n"
        "准考证号：2026110412005\n"
        "考核模块：1-1 汽车动力与驱动系统综合分析技术\n"
        "修改项目：理论成绩\n"
        "原成绩：58.1\n"
        "申请修改为：61.1\n"
        "修改原因：第 12 题判分有误，复核后应加 3 分\n"
        "\n"
        "考生姓名：任俊\n"
        "准考证号：２０２６１１０４１２００９\n"
        "修改项目：实操成绩\n"
        "原成绩：60.8\n"
        "申请修改为：68.8\n"
        "修改原因：\n"
        "实操评分表第 4 项分数抄录错误，\n"
        "考评员已签字确认。\n"
        "\n"
        "申请人：李晓红/武汉市交通职业技术学校\n"
        "联系电话：13971234567\n"
        "\n"
        "谢谢！\n"
    )
    html = (
        "<div>"
        + "</div><div>".join(line if line else "<br>" for line in plain.splitlines())
        + "</div>"
    )
    head = headers(
        'From: "=?utf-8?B?5p2O5pmT57qi?=" <3307451122@qq.com>',
        'To: "=?utf-8?B?MSvogIPliqE=?=" <kaowu1x@zcx-eval.org.cn>',
        f"Subject: {word_b('关于 P2026-1104-0412 两名考生成绩的修改申请', 'utf-8')}",
        "Mime-Version: 1.0",
        f'Content-Type: multipart/alternative;{CRLF}\tboundary="{boundary}"',
        "Content-Transfer-Encoding: 8Bit",
        "Date: Tue, 24 Nov 2026 09:03:11 +0800",
        "X-Priority: 3",
        "Message-ID: <tencent_8F2D1C6E0A4B3F9E7D5C2B1A@qq.com>",
        "X-QQ-MIME: TCMime 1.0 by Tencent",
        "X-Mailer: QQMail 2.x",
        "X-QQ-Mailer: QQMail 2.x",
    )
    body = (
        f"{CRLF}This is a multi-part message in MIME format.{CRLF}{CRLF}"
        f"--{boundary}{CRLF}"
        + text_part("plain", "utf-8", plain)
        + f"--{boundary}{CRLF}"
        + text_part("html", "utf-8", html)
        + f"--{boundary}--{CRLF}{CRLF}"
    )
    return (head + body).encode("ascii")


def netease_html_table() -> bytes:
    """163 webmail (Coremail): HTML only, GBK, quoted-printable, Q subject cut mid-character."""
    html = (
        '<div style="line-height:1.7;color:#000000;font-size:14px;font-family:Arial">'
        "<div>您好，现提交成绩修改申请如下：</div>"
        '<table border="1" cellspacing="0" cellpadding="4" style="border-collapse:collapse">'
        "<tbody>"
        "<tr><td>考试计划编号</td><td>P2026-1104-0412</td></tr>"
        "<tr><td>考生姓名</td><td>杨鹏</td></tr>"
        "<tr><td>证件号码</td><td>440305200704183180</td></tr>"
        "<tr><td>准考证号</td><td>2026110412006</td></tr>"
        "<tr><td>考核模块</td><td>1-1&nbsp;汽车动力与驱动系统综合分析技术</td></tr>"
        "<tr><td>修改项目</td><td>考试状态</td></tr>"
        "<tr><td>原成绩</td><td>缺考</td></tr>"
        "<tr><td>申请修改为</td><td>正常</td></tr>"
        "<tr><td>修改原因</td><td>该生实际参加了考试，签到表漏签，<br>监考老师可以证明，试卷已找到。</td></tr>"
        "<tr><td>申请人</td><td>熊国栋/武汉市交通职业技术学校</td></tr>"
        "<tr><td>联系电话</td><td>027-83456789</td></tr>"
        "</tbody></table>"
        "<div><br></div><div>熊国栋</div></div><br><br>"
        '<span title="neteasefooter"><p>&nbsp;</p></span>'
    )
    subject = "杨鹏成绩修改申请"
    head = headers(
        "Date: Wed, 25 Nov 2026 16:40:05 +0800 (CST)",
        f'From: "{word_b("熊国栋", "GBK")}" <xiongguodong2008@163.com>',
        "To: kaowu1x@zcx-eval.org.cn",
        f"Subject: {words_q_split(subject, 'GBK', 5)}",
        "X-Priority: 3",
        "X-Mailer: Coremail Webmail Server Version XT5.0.14 build 20230109(dcb5de15)",
        " Copyright (c) 2002-2026 www.mailtech.cn 163com",
        "X-NTES-SC: AL_Qu2cAvyYuUAr5SaaYekfmk4Xgu06UMC5v/gh1IBXP5FwjDvh+wQsW1BhHVDv3fmDACO5qAmI",
        "Content-Transfer-Encoding: quoted-printable",
        "Content-Type: text/html; charset=GBK",
        "MIME-Version: 1.0",
        "Message-ID: <3a1c7d2e.5f21.18c4a9e0b1d.Coremail.xiongguodong2008@163.com>",
        "X-Coremail-Locale: zh_CN",
        "X-CM-TRANSID:_____wD3_3Ud5GFnAKkCAA--.30153S2",
    )
    return (head + CRLF + qp_body(html, "gbk") + CRLF).encode("ascii")


def outlook_related_rfc2231() -> bytes:
    """Outlook 16: mixed > alternative > related, RFC 2231 filename, one bad row."""
    mixed = "_004_TYCPR01MB84419E2F6B1C4D0AB7E5A9C3B0F2ATYCPR01MB8441jpnp_"
    alt = "_000_TYCPR01MB84419E2F6B1C4D0AB7E5A9C3B0F2ATYCPR01MB8441jpnp_"
    related = "_003_TYCPR01MB84419E2F6B1C4D0AB7E5A9C3B0F2ATYCPR01MB8441jpnp_"
    filename = "成绩修改申请表（第二批）.xlsx"
    plain = "您好：\n\n附件为第二批成绩修改申请，请审核。\n\n周敏\n武汉市交通职业技术学校\n[cid:image001.png@01DB3E8A.5C1F2D40]\n"
    html = (
        '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office">'
        '<head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">'
        "<style><!-- p.MsoNormal {margin:0cm; font-size:11.0pt;} --></style></head>"
        '<body lang="ZH-CN"><div class="WordSection1">'
        '<p class="MsoNormal">您好：<o:p></o:p></p><p class="MsoNormal"><o:p>&nbsp;</o:p></p>'
        '<p class="MsoNormal">附件为第二批成绩修改申请，请审核。<o:p></o:p></p>'
        '<p class="MsoNormal">周敏<br>武汉市交通职业技术学校<br>'
        '<img width="120" height="40" src="cid:image001.png@01DB3E8A.5C1F2D40"></p>'
        "</div></body></html>"
    )
    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    )
    attachment = xlsx(
        [
            request_row(
                "陈思彬",
                "110105200412147666",
                "2026110412004",
                "实操成绩",
                "60.8",
                "65.8",
                "实操第二项评分漏记",
                requester=f"周敏/{SITE}",
            ),
            request_row(
                "方浩",
                "420106200706163919",
                "2026110412005",
                "总成绩",
                "75.04",
                "76.84",
                "",
                requester=f"周敏/{SITE}",
            ),
            request_row(
                "任俊",
                "440305200403043002",
                "2026110412009",
                "理论成绩",
                "87.4",
                "89.4",
                "试卷合分错误",
                requester=f"周敏/{SITE}",
            ),
        ]
    )
    head = headers(
        "From: =?utf-8?B?5ZGo5pWP?= <zhoumin@whjtzx.edu.cn>",
        "To: =?utf-8?B?MSvogIPliqHpgq7nrrE=?= <kaowu1x@zcx-eval.org.cn>",
        f"Subject: {word_b('答复: 第二批成绩修改申请', 'utf-8')}",
        "Thread-Topic: =?utf-8?B?56ys5LqM5om55oiQ57up5L+u5pS555Sz6K+3?=",
        "Thread-Index: AdtHm5d9Rk1qX0BqTu2cJ8Zl3f1bWA==",
        "Date: Thu, 26 Nov 2026 02:21:33 +0000",
        "Message-ID: <TYCPR01MB84419E2F6B1C4D0AB7E5A9C3B0F2A@TYCPR01MB8441.jpnprd01.prod.outlook.com>",
        "References: <202611201530112233445@zcx-eval.org.cn>",
        "In-Reply-To: <202611201530112233445@zcx-eval.org.cn>",
        "Accept-Language: zh-CN, en-US",
        "Content-Language: zh-CN",
        "X-MS-Has-Attach: yes",
        "X-MS-TNEF-Correlator:",
        f'Content-Type: multipart/mixed;{CRLF}\tboundary="{mixed}"',
        "MIME-Version: 1.0",
    )
    body = (
        f"{CRLF}--{mixed}{CRLF}"
        f'Content-Type: multipart/alternative;{CRLF}\tboundary="{alt}"{CRLF}{CRLF}'
        f"--{alt}{CRLF}"
        + text_part("plain", "utf-8", plain, folded=False)
        + f"--{alt}{CRLF}"
        f'Content-Type: multipart/related;{CRLF}\tboundary="{related}";{CRLF}\ttype="text/html"{CRLF}{CRLF}'
        f"--{related}{CRLF}"
        + text_part("html", "utf-8", html, folded=False)
        + f"--{related}{CRLF}"
        f'Content-Type: image/png; name="image001.png"{CRLF}'
        f"Content-Description: image001.png{CRLF}"
        f'Content-Disposition: inline; filename="image001.png"; size=70;{CRLF}'
        f'\tcreation-date="Thu, 26 Nov 2026 02:21:32 GMT";{CRLF}'
        f'\tmodification-date="Thu, 26 Nov 2026 02:21:32 GMT"{CRLF}'
        f"Content-ID: <image001.png@01DB3E8A.5C1F2D40>{CRLF}"
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"
        f"{b64_lines(png)}{CRLF}{CRLF}"
        f"--{related}--{CRLF}{CRLF}"
        f"--{alt}--{CRLF}{CRLF}"
        f"--{mixed}{CRLF}"
        "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;"
        f'{CRLF}\tname="{word_b(filename, "utf-8")}"{CRLF}'
        f"Content-Description: {word_b(filename, 'utf-8')}{CRLF}"
        f"Content-Disposition: attachment;{CRLF}\t{rfc2231('filename', 'utf-8', filename)};"
        f'{CRLF}\tsize=9876; creation-date="Thu, 26 Nov 2026 02:20:10 GMT";{CRLF}'
        f'\tmodification-date="Thu, 26 Nov 2026 02:20:10 GMT"{CRLF}'
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"
        f"{b64_lines(attachment)}{CRLF}{CRLF}"
        f"--{mixed}--{CRLF}"
    )
    return (head + body).encode("ascii")


def iphone_forward() -> bytes:
    """iPhone Mail forwarding a Foxmail message as message/rfc822 with its attachment."""
    outer = "Apple-Mail-4E1F7A2C-9D3B-4C58-A1E6-7B0D2F5C8E91"
    inner = "----=_NextPart_674C21A8_1D2E3F40_5A6B7C8D"
    filename = "成绩修改申请表_汤涵华.xlsx"
    attachment = xlsx(
        [
            request_row(
                "汤涵华",
                "420111200507057612",
                "2026110412007",
                "总成绩",
                "94.78",
                "95.78",
                "总成绩按公式计算应为 95.78",
                requester=f"黄俊/{SITE}",
                phone="",
            ),
        ]
    )
    inner_msg = (
        headers(
            f'From: "{word_b("黄俊", "GB18030")}" <huangjun@whjtzx.edu.cn>',
            f'To: "{word_b("李晓红", "GB18030")}" <lixiaohong@whjtzx.edu.cn>',
            f"Subject: {word_b('汤涵华成绩修改申请', 'GB18030')}",
            "Date: Fri, 27 Nov 2026 08:55:20 +0800",
            "Message-ID: <202611270855200987654@whjtzx.edu.cn>",
            "X-Mailer: Foxmail 7.2.23.121[cn]",
            "Mime-Version: 1.0",
            f'Content-Type: multipart/mixed;{CRLF}\tboundary="{inner}"',
        )
        + f"{CRLF}This is a multi-part message in MIME format.{CRLF}{CRLF}"
        + f"--{inner}{CRLF}"
        + f'Content-Type: text/plain;{CRLF}\tcharset="GB18030"{CRLF}'
        + f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"
        + b64_lines(
            "李老师，汤涵华的申请表在附件，麻烦转给考务邮箱。\r\n".encode("gb18030")
        )
        + f"{CRLF}{CRLF}--{inner}{CRLF}"
        + f'Content-Type: application/octet-stream;{CRLF}\tname="{word_b(filename, "GB18030")}"{CRLF}'
        + f"Content-Transfer-Encoding: base64{CRLF}"
        + f"Content-Disposition: attachment;{CRLF}\t{rfc2231('filename', 'GB18030', filename, chunk=30)}"
        + f"{CRLF}{CRLF}{b64_lines(attachment)}{CRLF}{CRLF}--{inner}--{CRLF}"
    )
    head = headers(
        "Content-Type: multipart/mixed;",
        f"\tboundary={outer}",
        "Content-Transfer-Encoding: 7bit",
        "From: =?utf-8?B?5p2O5pmT57qi?= <LiXiaoHong@whjtzx.edu.cn>",
        "Mime-Version: 1.0 (1.0)",
        "Date: Fri, 27 Nov 2026 09:31:02 +0800",
        f"Subject: {word_b('转发：汤涵华成绩修改申请', 'utf-8')}",
        "Message-Id: <5B9E2C71-3A4D-4F8B-9C1E-2D7A6B0F4E93@whjtzx.edu.cn>",
        "To: kaowu1x@zcx-eval.org.cn",
        "X-Mailer: iPhone Mail (21F90)",
    )
    note = qp_body(
        "请处理，谢谢\n\n从我的 iPhone 发送\n\n以下是转发的邮件：\n", "utf-8"
    )
    eml_name = word_b("汤涵华成绩修改申请.eml", "utf-8")
    body = (
        f"{CRLF}--{outer}{CRLF}"
        f"Content-Type: text/plain;{CRLF}\tcharset=utf-8{CRLF}"
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
        f"{note}{CRLF}"
        f"--{outer}{CRLF}"
        f"Content-Type: message/rfc822{CRLF}"
        f'Content-Disposition: attachment;{CRLF}\tfilename="{eml_name}"{CRLF}'
        f"Content-Transfer-Encoding: 7bit{CRLF}{CRLF}"
        f"{inner_msg}{CRLF}"
        f"--{outer}--{CRLF}"
    )
    return (head + body).encode("ascii")


def android_no_message_id() -> bytes:
    """A phone client with no Message-ID, 8-bit UTF-8 body, ASCII colons."""
    text = (
        "考试计划编号: P2026-1104-0412\r\n"
        "考生姓名: 姜嘉\r\n"
        "准考证号: 2026110412008\r\n"
        "修改项目: 实操成绩\r\n"
        "原成绩: 80.8\r\n"
        "申请修改为: 83.8\r\n"
        "修改原因: 实操第5项评分时漏记3分\r\n"
        "申请人: 李晓红 武汉市交通职业技术学校\r\n"
        "\r\n"
        "发自我的手机\r\n"
    )
    head = headers(
        "From: =?UTF-8?B?5p2O5pmT57qi?= <13971234567@139.com>",
        "To: kaowu1x@zcx-eval.org.cn",
        f"Subject: {word_b('成绩修改申请 姜嘉', 'UTF-8')}",
        "Date: Sat, 28 Nov 2026 21:47:09 +0800",
        "X-Mailer: MailMasterAndroid/7.18.6",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: 8bit",
    )
    return (head + CRLF).encode("ascii") + text.encode("utf-8")


def no_form() -> bytes:
    """A question, not a request: GB18030 base64 body, no form anywhere."""
    text = (
        "您好，我校学生陈思彬说他的理论成绩好像有问题，能不能帮忙查一下？\r\n"
        "谢谢！\r\n\r\n李晓红\r\n电话：13971234567\r\n"
    )
    head = headers(
        f'From: "{word_b("李晓红", "gb18030")}" <3307451122@qq.com>',
        f'To: "{word_b("1+X考务", "gb18030")}" <kaowu1x@zcx-eval.org.cn>',
        f"Subject: {word_b('咨询成绩问题', 'gb18030')}",
        "Mime-Version: 1.0",
        'Content-Type: text/plain; charset="gb18030"',
        "Content-Transfer-Encoding: base64",
        "Date: Sun, 29 Nov 2026 11:02:45 +0800",
        "Message-ID: <tencent_1A2B3C4D5E6F708192A3B4C5@qq.com>",
        "X-QQ-MIME: TCMime 1.0 by Tencent",
        "X-Mailer: QQMail 2.x",
    )
    return (head + CRLF + b64_lines(text.encode("gb18030")) + CRLF).encode("ascii")


def foxmail_one_attachment(
    *,
    subject: str,
    date: str,
    message_id: str,
    boundary: str,
    text: str,
    content_type: str,
    filename: str,
    data: bytes,
) -> bytes:
    """Foxmail from 王喆: a short gb2312-labelled note and one attachment."""
    label = word_b(filename, "gbk", "gb2312")
    head = headers(
        f'From: "{word_b("王喆", "gbk", "gb2312")}" <wangzhe@whjtzx.edu.cn>',
        "To: kaowu1x@zcx-eval.org.cn",
        f"Subject: {word_b(subject, 'gbk', 'gb2312')}",
        f"Date: {date}",
        f"Message-ID: {message_id}",
        "X-Mailer: Foxmail 7.2.25.375[cn]",
        "Mime-Version: 1.0",
        f'Content-Type: multipart/mixed;{CRLF}\tboundary="{boundary}"',
    )
    body = (
        f"{CRLF}This is a multi-part message in MIME format.{CRLF}{CRLF}"
        f"--{boundary}{CRLF}"
        + text_part("plain", "gb2312", text, codec="gbk")
        + f"--{boundary}{CRLF}"
        f'Content-Type: {content_type};{CRLF}\tname="{label}"{CRLF}'
        f"Content-Transfer-Encoding: base64{CRLF}"
        f'Content-Disposition: attachment;{CRLF}\tfilename="{label}"'
        f"{CRLF}{CRLF}{b64_lines(data)}{CRLF}{CRLF}"
        f"--{boundary}--{CRLF}{CRLF}"
    )
    return (head + body).encode("ascii")


def scan_only() -> bytes:
    """Foxmail with a photo of the signed paper form and nothing machine-readable."""
    return foxmail_one_attachment(
        subject="成绩修改申请表（盖章扫描件）",
        date="Mon, 30 Nov 2026 14:20:00 +0800",
        message_id="<202611301420003456789@whjtzx.edu.cn>",
        boundary="----=_NextPart_674D5A10_2E3F4051_6B7C8D9E",
        text="附件为盖章后的申请表扫描件。",
        content_type="image/jpeg",
        filename="成绩修改申请表（盖章）.jpg",
        data=bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9"),
    )


def wrong_attachment() -> bytes:
    """Foxmail with the score summary attached instead of the correction form."""
    filename = "P2026-1104-0412-成绩汇总表.xlsx"
    return foxmail_one_attachment(
        subject="成绩有误，请修改",
        date="Fri, 4 Dec 2026 09:12:40 +0800",
        message_id="<202612040912400345678@whjtzx.edu.cn>",
        boundary="----=_NextPart_6751B2C0_3F405162_7C8D9EAF",
        text="成绩汇总表里陈思彬的理论成绩不对，请修改。",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        filename=filename,
        data=(SAMPLES / filename).read_bytes(),
    )


def incomplete_text() -> bytes:
    """Two typed requests, one without a reason, one with an unknown score field."""
    text = (
        "考试计划编号：P2026-1104-0412\n"
        "考生姓名：夏宇玲\n"
        "准考证号：2026110412003\n"
        "修改项目：理论成绩\n"
        "原成绩：71.4\n"
        "申请修改为：75.4\n"
        "\n"
        "考生姓名：胡俊霞\n"
        "准考证号：2026110412002\n"
        "修改项目：平时成绩\n"
        "原成绩：74\n"
        "申请修改为：80\n"
        "修改原因：平时表现良好\n"
        "申请人：李晓红/武汉市交通职业技术学校\n"
    )
    head = headers(
        "From: =?utf-8?B?5p2O5pmT57qi?= <3307451122@qq.com>",
        "To: kaowu1x@zcx-eval.org.cn",
        f"Subject: {word_b('成绩修改申请（补充）', 'utf-8')}",
        "Date: Mon, 30 Nov 2026 16:05:31 +0800",
        "Message-ID: <tencent_9C8B7A6F5E4D3C2B1A098765@qq.com>",
        "X-Mailer: QQMail 2.x",
        "Mime-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
    )
    return (head + CRLF + qp_body(text, "utf-8") + CRLF).encode("ascii")


def raw8bit_id_as_number() -> bytes:
    """Raw UTF-8 in Subject and filename; the ID number column was typed as a number."""
    boundary = "=-mwd3Bz0QjX2tqA7vY1cR"
    filename = "修改申请.xlsx"
    attachment = xlsx(
        [
            request_row(
                "汤涵华",
                "420111200507057612",
                "2026110412007",
                "实操成绩",
                "93.4",
                "95.4",
                "复核评分表后更正",
                requester="黄俊",
            ),
        ],
        id_as_number=True,
    )
    head = headers(
        "From: huangjun@whjtzx.edu.cn",
        "To: kaowu1x@zcx-eval.org.cn",
        "Subject: 成绩修改申请-汤涵华",
        "Date: Tue, 1 Dec 2026 07:58:12 +0800",
        "Message-ID: <1733011092.4821.7@huangjun-laptop>",
        "User-Agent: Evolution 3.46.4-2",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
    )
    body = (
        f"{CRLF}--{boundary}{CRLF}"
        f"Content-Type: text/plain; charset=UTF-8{CRLF}"
        f"Content-Transfer-Encoding: 8bit{CRLF}{CRLF}"
        f"见附件。{CRLF}{CRLF}"
        f"--{boundary}{CRLF}"
        f'Content-Type: application/octet-stream; name="{filename}"{CRLF}'
        f'Content-Disposition: attachment; filename="{filename}"{CRLF}'
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"
        f"{b64_lines(attachment)}{CRLF}{CRLF}"
        f"--{boundary}--{CRLF}"
    )
    return (head + body).encode("utf-8")


def outlook_pasted_rows() -> bytes:
    """Rows pasted from Excel into Outlook: tabs in the plain text, a table in HTML."""
    boundary = "_000_SEZPR06MB6957A1B2C3D4E5F6A7B8C9D0E1F2SEZPR06MB6957apcp_"
    header = [
        "考试计划编号",
        "考生姓名",
        "准考证号",
        "修改项目",
        "原成绩",
        "申请修改为",
        "修改原因",
        "申请人",
    ]
    rows = [
        [
            PLAN,
            "黎芬",
            "2026110412001",
            "实操成绩",
            "69",
            "71",
            "实操评分表加分错误",
            "周敏",
        ],
        [
            PLAN,
            "姜嘉",
            "2026110412008",
            "理论成绩",
            "93.2",
            "95.2",
            "客观题答题卡识别错误",
            "周敏",
        ],
    ]
    plain = (
        "您好，申请如下：\n\n"
        + "\n".join("\t".join(r) for r in [header, *rows])
        + "\n\n周敏\n"
    )
    html = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312"></head>'
        '<body><p class="MsoNormal">您好，申请如下：</p>'
        '<table class="MsoNormalTable" border="0" cellspacing="0" cellpadding="0">'
        + "".join(
            "<tr>"
            + "".join(f'<td nowrap><p class="MsoNormal">{c}</p></td>' for c in r)
            + "</tr>"
            for r in [header, *rows]
        )
        + '</table><p class="MsoNormal">周敏</p></body></html>'
    )
    head = headers(
        f"From: {word_b('周敏', 'gb2312')} <zhoumin@whjtzx.edu.cn>",
        'To: "kaowu1x@zcx-eval.org.cn" <kaowu1x@zcx-eval.org.cn>',
        f"Subject: {word_b('成绩修改申请（黎芬、姜嘉）', 'gb2312')}",
        "Thread-Index: AdtIaBc1q2w3e4r5t6y7u8i9o0pA==",
        "Date: Wed, 2 Dec 2026 01:10:44 +0000",
        "Message-ID: <SEZPR06MB6957A1B2C3D4E5F6A7B8C9D0E1F2@SEZPR06MB6957.apcprd06.prod.outlook.com>",
        "Accept-Language: zh-CN, en-US",
        "Content-Language: zh-CN",
        "X-MS-Has-Attach:",
        f'Content-Type: multipart/alternative;{CRLF}\tboundary="{boundary}"',
        "MIME-Version: 1.0",
    )
    body = (
        f"{CRLF}--{boundary}{CRLF}"
        + text_part("plain", "gb2312", plain, codec="gb18030", folded=False)
        + f"--{boundary}{CRLF}"
        + text_part(
            "html",
            "gb2312",
            html,
            codec="gb18030",
            encoding="quoted-printable",
            folded=False,
        )
        + f"--{boundary}--{CRLF}"
    )
    return (head + body).encode("ascii")


def vacation_reply() -> bytes:
    """An out-of-office robot answering the mailbox: never to be answered back."""
    text = "您好，本人 12 月 3 日至 12 月 6 日外出培训，邮件回复可能延迟。\r\n"
    head = headers(
        "From: =?utf-8?B?5ZGo5pWP?= <zhoumin@whjtzx.edu.cn>",
        "To: kaowu1x@zcx-eval.org.cn",
        f"Subject: {word_b('自动回复: 成绩修改申请已登记', 'utf-8')}",
        "Date: Thu, 3 Dec 2026 09:00:02 +0800",
        "Message-ID: <autoreply.20261203090002.77@whjtzx.edu.cn>",
        "In-Reply-To: <certflow.ack.0001@zcx-eval.org.cn>",
        "Auto-Submitted: auto-replied",
        "X-Auto-Response-Suppress: All",
        "MIME-Version: 1.0",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: base64",
    )
    return (head + CRLF + b64_lines(text.encode("utf-8")) + CRLF).encode("ascii")


def qqmail_app_html_paragraphs() -> bytes:
    """QQ Mail phone app: HTML only, GB18030 base64, the form typed as paragraphs."""
    lines = [
        "考试计划编号：P2026-1104-0412",
        "考生姓名：买买提·艾力",
        "证件号码：65010220050315271x",
        "准考证号：2026110412033",
        "考核模块：1-1",
        "修改项目：理论成绩",
        "原成绩：58",
        "申请修改为：62",
        "修改原因：主观题第 3 题复核加 4 分",
        "申请人：李晓红（武汉市交通职业技术学校）",
        "联系电话：13971234567",
    ]
    html = (
        '<meta http-equiv="Content-Type" content="text/html; charset=GB18030">'
        + "".join(f"<div>{line}</div>" for line in lines)
        + '<div><br></div><div><sign signid="0"><div style="color:#909090;'
        'font-family:Arial Narrow;font-size:12px">发自我的QQ邮箱</div></sign></div>'
    )
    head = headers(
        f'From: "{word_b("李晓红", "GB18030")}" <3307451122@qq.com>',
        'To: "kaowu1x" <kaowu1x@zcx-eval.org.cn>',
        f"Subject: {word_b('成绩修改申请', 'GB18030')}",
        "Mime-Version: 1.0",
        'Content-Type: text/html;\r\n\tcharset="GB18030"',
        "Content-Transfer-Encoding: base64",
        "Date: Thu, 3 Dec 2026 20:15:37 +0800",
        "X-Priority: 3",
        "Message-ID: <tencent_5E6F7A8B9C0D1E2F3A4B5C6D@qq.com>",
        "X-QQ-MIME: TCMime 1.0 by Tencent",
        "X-Mailer: QQMail 2.x",
        "X-QQ-Mailer: QQMail 2.x",
    )
    return (head + CRLF + b64_lines(html.encode("gb18030")) + CRLF).encode("ascii")


def old_form_rows() -> list[list[object]]:
    """The request saved as .xls and .ods by office suites (forms/)."""
    return [
        request_row(
            "熊杰",
            "440305200611035306",
            "2026110412018",
            "考试状态",
            "缺考",
            "正常",
            "考生因交通管制迟到 10 分钟，经考点同意入场，实际参加考试",
            requester=f"熊国栋/{SITE}",
        )
    ]


def convert_forms() -> None:
    """Save the old-format forms with LibreOffice, as a school's office suite would.

    Run only with ``--forms``: LibreOffice stamps each file with the time, so the
    files are committed and the messages embed them as they are.
    """
    soffice = shutil.which("soffice")
    if soffice is None:
        raise SystemExit("LibreOffice (soffice) is needed to write forms/")
    FORMS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "成绩修改申请表.xlsx"
        source.write_bytes(xlsx(old_form_rows()))
        for target in ("xls", "ods"):
            subprocess.run(
                [
                    soffice,
                    f"-env:UserInstallation=file://{work}/profile",
                    "--headless",
                    "--convert-to",
                    target,
                    "--outdir",
                    str(FORMS),
                    str(source),
                ],
                check=True,
                capture_output=True,
            )


def outlook2007_xls() -> bytes:
    """Outlook 2007 with the form saved as .xls (BIFF8) and a gb2312 body."""
    boundary = "----=_NextPart_000_0013_01DB45A1.7C3E2F10"
    filename = "成绩修改申请表.xls"
    plain = "考务老师：\n\n附件为熊杰考试状态修改申请，请审核。\n\n熊国栋\n"
    head = headers(
        f'From: "{word_b("熊国栋", "gb2312")}" <xiongguodong@whjtzx.edu.cn>',
        "To: <kaowu1x@zcx-eval.org.cn>",
        f"Subject: {word_b('成绩修改申请（熊杰）', 'gb2312')}",
        "Date: Fri, 4 Dec 2026 08:30:12 +0800",
        "Message-ID: <000f01db45a1$7c3e2f10$74ba8d30$@whjtzx.edu.cn>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed;{CRLF}\tboundary="{boundary}"',
        "X-Mailer: Microsoft Office Outlook 12.0",
        "Thread-Index: AdtFoXcvTzJ8Qm5aRk6yQ0VxQm1hTg==",
        "Content-Language: zh-cn",
    )
    body = (
        f"{CRLF}This is a multi-part message in MIME format.{CRLF}{CRLF}"
        f"--{boundary}{CRLF}"
        + text_part("plain", "gb2312", plain)
        + f"--{boundary}{CRLF}"
        f"Content-Type: application/vnd.ms-excel;{CRLF}"
        f'\tname="{word_b(filename, "gb2312")}"{CRLF}'
        f"Content-Transfer-Encoding: base64{CRLF}"
        f"Content-Disposition: attachment;{CRLF}"
        f'\tfilename="{word_b(filename, "gb2312")}"{CRLF}{CRLF}'
        f"{b64_lines((FORMS / '成绩修改申请表.xls').read_bytes())}{CRLF}{CRLF}"
        f"--{boundary}--{CRLF}{CRLF}"
    )
    return (head + body).encode("ascii")


def windows_zip(members: list[tuple[str, bytes]]) -> bytes:
    """A zip as Windows' "send to compressed folder" writes it: GBK names, no UTF-8 flag.

    Python's zipfile always writes non-ASCII names in UTF-8, so the few records
    needed (stored, not deflated) are written here.
    """
    local = b""
    central = b""
    stamp_time, stamp_date = (9 << 11) | (30 << 5), ((2026 - 1980) << 9) | (12 << 5) | 2
    for name, data in members:
        raw_name = name.encode("gbk")
        crc = zlib.crc32(data)
        fields = struct.pack(
            "<HHHHHIIIHH",
            20,
            0,
            0,
            stamp_time,
            stamp_date,
            crc,
            len(data),
            len(data),
            len(raw_name),
            0,
        )
        central += (
            b"PK\x01\x02"
            + struct.pack("<H", 20)
            + fields
            + struct.pack("<HHHII", 0, 0, 0, 0x20, len(local))
            + raw_name
        )
        local += b"PK\x03\x04" + fields + raw_name + data
    end = b"PK\x05\x06" + struct.pack(
        "<HHHHIIH", 0, 0, len(members), len(members), len(central), len(local), 0
    )
    return local + central + end


def qqmail_zip() -> bytes:
    """QQ Mail web with the form zipped on Windows (GBK member name)."""
    boundary = "----=_NextPart_6750A1B2_4C5D6E7F_8091A2B3"
    archive = windows_zip(
        [
            (
                "成绩修改申请表（谢鹏）.xlsx",
                xlsx(
                    [
                        request_row(
                            "谢鹏",
                            "420902200511262974",
                            "2026110412020",
                            "实操成绩",
                            "50.5",
                            "60.5",
                            "实操第 3 项漏评，考评组复核后补记 10 分",
                        )
                    ]
                ),
            )
        ]
    )
    filename = "成绩修改申请.zip"
    head = headers(
        f'From: "{word_b("李晓红", "utf-8")}" <3307451122@qq.com>',
        "To: kaowu1x@zcx-eval.org.cn",
        f"Subject: {word_b('成绩修改申请（压缩包）', 'utf-8')}",
        "Mime-Version: 1.0",
        f'Content-Type: multipart/mixed;{CRLF}\tboundary="{boundary}"',
        "Content-Transfer-Encoding: 8Bit",
        "Date: Fri, 4 Dec 2026 10:02:19 +0800",
        "X-Priority: 3",
        "Message-ID: <tencent_0F1E2D3C4B5A69788796A5B4@qq.com>",
        "X-QQ-MIME: TCMime 1.0 by Tencent",
        "X-Mailer: QQMail 2.x",
        "X-QQ-Mailer: QQMail 2.x",
    )
    body = (
        f"{CRLF}This is a multi-part message in MIME format.{CRLF}{CRLF}"
        f"--{boundary}{CRLF}"
        + text_part("plain", "utf-8", "申请表在压缩包里。")
        + f"--{boundary}{CRLF}"
        f'Content-Type: application/octet-stream;{CRLF}\tcharset="utf-8";{CRLF}'
        f'\tname="{word_b(filename, "utf-8")}"{CRLF}'
        f'Content-Disposition: attachment; filename="{word_b(filename, "utf-8")}"{CRLF}'
        f"Content-Transfer-Encoding: base64{CRLF}{CRLF}"
        f"{b64_lines(archive)}{CRLF}{CRLF}"
        f"--{boundary}--{CRLF}{CRLF}"
    )
    return (head + body).encode("ascii")


def foxmail_reply_quoting_old_form() -> bytes:
    """Foxmail reply: a new typed request above, the earlier one quoted without "> "."""
    boundary = "----=_NextPart_6750C3D4_5E6F7081_92A3B4C5"
    plain = (
        "王老师：\n补充一条申请：\n\n"
        "考试计划编号：P2026-1104-0412\n考生姓名：袁一\n准考证号：2026110412014\n"
        "修改项目：理论成绩\n原成绩：50.1\n申请修改为：60.1\n修改原因：第二页漏批\n"
        f"申请人：王喆/{SITE}\n\n王喆\n\n \n"
        "发件人： 王喆\n发送时间： 2026-11-23 10:12\n收件人： 1+X考务\n"
        "主题： 成绩修改申请\n\n"
        "考试计划编号：P2026-1104-0412\n考生姓名：唐俊雨\n准考证号：2026110412015\n"
        "修改项目：理论成绩\n原成绩：0\n申请修改为：58\n修改原因：漏录\n"
        f"申请人：王喆/{SITE}\n"
    )
    html = (
        '<html><head><meta http-equiv="content-type" content="text/html; charset=gb2312">'
        "</head><body>"
        + "".join(f"<div>{line or '<br>'}</div>" for line in plain.splitlines()[:13])
        + '<div style="border:none;border-top:solid #B5C4DF 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
        + "".join(f"<div>{line or '<br>'}</div>" for line in plain.splitlines()[14:])
        + "</div></body></html>"
    )
    head = headers(
        f'From: "{word_b("王喆", "gbk", "gb2312")}" <wangzhe@whjtzx.edu.cn>',
        "To: kaowu1x@zcx-eval.org.cn",
        f"Subject: {word_b('回复: 成绩修改申请', 'gbk', 'gb2312')}",
        "Date: Fri, 4 Dec 2026 10:40:05 +0800",
        "Message-ID: <202612041040050456789@whjtzx.edu.cn>",
        "References: <202611231012470123456@whjtzx.edu.cn>",
        "In-Reply-To: <202611231012470123456@whjtzx.edu.cn>",
        "X-Mailer: Foxmail 7.2.25.375[cn]",
        "Mime-Version: 1.0",
        f'Content-Type: multipart/alternative;{CRLF}\tboundary="{boundary}"',
    )
    body = (
        f"{CRLF}This is a multi-part message in MIME format.{CRLF}{CRLF}"
        f"--{boundary}{CRLF}"
        + text_part("plain", "gb2312", plain, codec="gbk")
        + f"--{boundary}{CRLF}"
        + text_part("html", "gb2312", html, codec="gbk", encoding="quoted-printable")
        + f"--{boundary}--{CRLF}{CRLF}"
    )
    return (head + body).encode("ascii")


def qqmail_inline_forward() -> bytes:
    """QQ Mail web forward: a note above, the typed form only in the quoted mail."""
    boundary = "----=_NextPart_6750D4E5_6F708192_A3B4C5D6"
    quoted = [
        "考试计划编号：P2026-1104-0412",
        "考生姓名：唐俊雨",
        "准考证号：2026110412015",
        "修改项目：理论成绩",
        "原成绩：0",
        "申请修改为：58",
        "修改原因：孩子参加了理论考试，成绩却是 0 分，怀疑漏录",
        "申请人：唐建军（考生家长）",
    ]
    plain = (
        "转发一下我校考生家长的申请，请处理。\n\n\n"
        "------------------ 原始邮件 ------------------\n"
        '发件人: "唐建军"<tangjianjun1978@139.com>;\n'
        "发送时间: 2026年12月4日(星期五) 上午9:02\n"
        '收件人: "李晓红"<3307451122@qq.com>;\n'
        "主题: 成绩修改申请\n\n" + "\n".join(quoted) + "\n"
    )
    html = (
        "<div>转发一下我校考生家长的申请，请处理。</div><div><br></div><div><br></div>"
        '<div style="font-size: 12px;font-family: Arial Narrow;padding:2px 0 2px 0;">'
        "------------------&nbsp;原始邮件&nbsp;------------------</div>"
        '<div style="font-size: 12px;background:#efefef;padding:8px;">'
        '<div><b>发件人:</b>&nbsp;"唐建军"&lt;tangjianjun1978@139.com&gt;;</div>'
        "<div><b>发送时间:</b>&nbsp;2026年12月4日(星期五) 上午9:02</div>"
        '<div><b>收件人:</b>&nbsp;"李晓红"&lt;3307451122@qq.com&gt;;<wbr></div>'
        "<div><b>主题:</b>&nbsp;成绩修改申请</div></div><div><br></div>"
        + "".join(f"<div>{line}</div>" for line in quoted)
    )
    head = headers(
        f'From: "{word_b("李晓红", "gb18030")}" <3307451122@qq.com>',
        "To: kaowu1x@zcx-eval.org.cn",
        f"Subject: {word_b('转发：成绩修改申请', 'gb18030')}",
        "Mime-Version: 1.0",
        f'Content-Type: multipart/alternative;{CRLF}\tboundary="{boundary}"',
        "Content-Transfer-Encoding: 8Bit",
        "Date: Fri, 4 Dec 2026 11:20:44 +0800",
        "X-Priority: 3",
        "Message-ID: <tencent_2B3C4D5E6F7A8B9C0D1E2F3A@qq.com>",
        "X-QQ-MIME: TCMime 1.0 by Tencent",
        "X-Mailer: QQMail 2.x",
        "X-QQ-Mailer: QQMail 2.x",
    )
    body = (
        f"{CRLF}This is a multi-part message in MIME format.{CRLF}{CRLF}"
        f"--{boundary}{CRLF}"
        + text_part("plain", "gb18030", plain)
        + f"--{boundary}{CRLF}"
        + text_part("html", "gb18030", html)
        + f"--{boundary}--{CRLF}{CRLF}"
    )
    return (head + body).encode("ascii")


MESSAGES = {
    "01-foxmail-gbk-xlsx.eml": foxmail_gbk_xlsx,
    "02-qqmail-utf8-typed.eml": qqmail_utf8_text,
    "03-netease163-html-table.eml": netease_html_table,
    "04-outlook-related-rfc2231.eml": outlook_related_rfc2231,
    "05-iphone-forwarded-rfc822.eml": iphone_forward,
    "06-android-no-message-id.eml": android_no_message_id,
    "07-qqmail-no-form.eml": no_form,
    "08-foxmail-scan-only.eml": scan_only,
    "09-qqmail-incomplete.eml": incomplete_text,
    "10-evolution-raw8bit-id-number.eml": raw8bit_id_as_number,
    "11-foxmail-redelivered.eml": foxmail_redelivered,
    "12-outlook-pasted-rows.eml": outlook_pasted_rows,
    "13-vacation-autoreply.eml": vacation_reply,
    "14-qqmail-app-html-paragraphs.eml": qqmail_app_html_paragraphs,
    "15-outlook2007-xls.eml": outlook2007_xls,
    "16-foxmail-wrong-attachment.eml": wrong_attachment,
    "17-qqmail-zip-gbk-names.eml": qqmail_zip,
    "18-foxmail-reply-quoting-old-form.eml": foxmail_reply_quoting_old_form,
    "19-qqmail-inline-forward.eml": qqmail_inline_forward,
}


def main() -> None:
    """Write every message of the corpus next to this script (``--forms``: and forms/)."""
    if "--forms" in sys.argv[1:]:
        convert_forms()
    for name, build in MESSAGES.items():
        (HERE / name).write_bytes(build())
    print(f"wrote {len(MESSAGES)} messages")


if __name__ == "__main__":
    main()
