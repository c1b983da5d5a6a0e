"""Only the text a reader of an HTML mail sees is read as a correction request."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from certflow.corrections import read_correction_form_text, read_correction_mail
from certflow.corrections.html import html_to_text

SENDER = "kaowu@school.example.edu.cn"
LINES = [
    "考试计划编号：P2026-1104-0412",
    "考生姓名：陈思彬",
    "准考证号：2026110412004",
    "修改项目：理论成绩",
    "原成绩：53.1",
    "申请修改为：99",
    "修改原因：x",
]
FORM = "<br>".join(LINES)


def _html_mail(html: str) -> bytes:
    message = EmailMessage()
    message["From"] = f"考务 <{SENDER}>"
    message["To"] = "1x-kaowu@certflow.example.org"
    message["Subject"] = "成绩修改申请"
    message["Message-ID"] = "<hidden-form@school.example.edu.cn>"
    message.set_content(html, subtype="html")
    return message.as_bytes()


def test_a_request_hidden_in_an_html_only_mail_is_not_filed() -> None:
    raw = _html_mail(f'<div style="display:none">{FORM}</div><p>您好</p>')

    reading = read_correction_mail(raw)

    assert reading.drafts == []
    assert [p.code for p in reading.problems] == ["no_form"]


HIDDEN = {
    "display none": f'<div style="DISPLAY: none !important">{FORM}</div>',
    "visibility hidden": f'<div style="visibility:hidden">{FORM}</div>',
    "hidden attribute": f"<div hidden>{FORM}</div>",
    "script": f"<script>/*{FORM}*/</script>",
    "style": f"<style>/*{FORM}*/</style>",
    "template": f"<template>{FORM}</template>",
    "head": f"<html><head><title>{FORM}</title></head><body>",
    "comment": f"<!-- {FORM} -->",
    "font size zero": f'<div style="font-size:0">{FORM}</div>',
    "one pixel font": f'<span style="font-size:1px">{FORM}</span>',
    "white on white": f'<div style="color:#FFF">{FORM}</div>',
    "near white named": f'<font color="ghostwhite">{FORM}</font>',
    "text as the background": (
        f'<table bgcolor="#102030"><tr><td style="color:rgb(16,32,48)">{FORM}'
        "</td></tr></table>"
    ),
    "transparent": f'<p style="color:transparent">{FORM}</p>',
    "opacity": f'<p style="opacity:0">{FORM}</p>',
    "outlook only": f'<div style="mso-hide:all">{FORM}</div>',
    "collapsed box": f'<div style="max-height:0;overflow:hidden">{FORM}</div>',
    "off the page": f'<div style="position:absolute;left:-9999px">{FORM}</div>',
    "stylesheet class": (
        "<style>@media screen { table .pre { display: none } }</style>"
        f'<div class="x pre">{FORM}</div>'
    ),
    "stylesheet below": f'<p id="f">{FORM}</p><style>#f{{visibility:hidden}}</style>',
    "self-closed div": f'<div style="display:none"/>{FORM}',
    "paragraph left open": f'<p style="display:none">{FORM}',
}


@pytest.mark.parametrize("html", HIDDEN.values(), ids=HIDDEN.keys())
def test_text_a_reader_does_not_see_is_not_read(html: str) -> None:
    text = html_to_text(f"{html}<p>您好</p>")

    assert read_correction_form_text(text, sender=SENDER) == ([], [])
    assert "陈思彬" not in text


SHOWN = {
    "visible inside hidden": (
        '<div style="visibility:hidden">签名<div style="visibility:visible">'
        f"{FORM}</div></div>"
    ),
    "font size restored": (
        f'<div style="font-size:0"> <div style="font-size:14px">{FORM}</div></div>'
    ),
    "white on a dark cell": (
        f'<table><tr><td bgcolor="#1f3864"><font color="#ffffff">{FORM}</font>'
        "</td></tr></table>"
    ),
    "hidden preheader before": (
        '<span style="display:none;max-height:0">申请修改为：100</span>'
        f"<p>{'</p><p>'.join(LINES)}</p>"
    ),
    "next paragraph after a hidden one": (
        f'<p style="display:none">申请修改为：100<p>{FORM}'
    ),
    "hidden cell of a shown row": (
        "<table>"
        + "".join(
            f'<tr><td>{label}：</td><td style="display:none">100</td><td>{value}</td>'
            for label, value in (line.split("：") for line in LINES)
        )
        + "</table>"
    ),
}


@pytest.mark.parametrize("html", SHOWN.values(), ids=SHOWN.keys())
def test_the_text_a_reader_sees_is_read_whatever_is_hidden_beside_it(
    html: str,
) -> None:
    drafts, problems = read_correction_form_text(html_to_text(html), sender=SENDER)

    assert problems == []
    assert [(d.plan_id, d.requested_score) for d in drafts] == [
        ("P2026-1104-0412", "99")
    ]


@pytest.mark.parametrize(
    "style",
    [
        "color:rgb(1e999,0,0)",
        "color:rgba(0,0,0,nan)",
        "background:rgb(-inf%,0,0)",
        f"font-size:{'9' * 400}px",
        "opacity:1e999",
        "left:-1e999px;position:absolute",
    ],
)
def test_a_style_value_out_of_every_range_is_no_crash(style: str) -> None:
    html = f'<p style="{style}">{FORM}</p><style>p{{{style}}}</style>'
    raw = _html_mail(html)

    reading = read_correction_mail(raw)

    assert len(reading.drafts) + len(reading.problems) >= 1


@pytest.mark.parametrize(
    "html",
    [
        # A comment left open ends with its own style block, as a browser
        # reads it: the next block's rules still hide.
        "<style>/* a note</style><style>.h{display:none}</style>",
        # A start tag holding a "<" is a style element all the same.
        "<style <b>.h{display:none}</style>",
    ],
)
def test_style_blocks_hide_as_a_browser_reads_them(html: str) -> None:
    """Review: the linear reading of style blocks (for bodies that took
    minutes) read a comment left open as running on into the next block,
    and a start tag holding "<" as no style element: the text they hid
    showed."""
    text = html_to_text(f'{html}<div class="h">隐藏的申请</div><p>您好</p>')

    assert text == "您好"
