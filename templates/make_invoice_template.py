"""Write templates/invoice-details.xlsx, the 院校发票信息收集表 sites fill in.

Run from the repository root:
``.venv/bin/python templates/make_invoice_template.py``.
The reader (certflow.invoice) finds each field by the label in its row, so the
title and note rows may change without breaking anything.
"""

from __future__ import annotations

import sys
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_correction_template import finish

OUTPUT = Path(__file__).resolve().parent / "invoice-details.xlsx"

# The labels are the first names of certflow.invoice.LABELS; the reader strips
# the "*" that marks a required field.
FIELDS = [
    "发票抬头",
    "纳税人识别号",
    "地址",
    "电话",
    "开户银行",
    "银行账号",
    "接收电子发票邮箱",
]
FIRST_FIELD_ROW = 4
INSTRUCTIONS = [
    "填写说明",
    "1. 请在第一个工作表的“内容”列逐项填写，不要改动“项目”列的文字，不要增删行。",
    "2. 发票抬头填写学校（单位）的全称，与营业执照或事业单位法人证书一致。",
    "3. 纳税人识别号填写 18 位统一社会信用代码，字母请用大写；"
    "仍使用 15 位旧税务登记号的单位照实填写。",
    "4. 地址、电话填写单位注册地址和电话；电话不要以“+”开头，例如 027-12345678。",
    "5. 开户银行填写开户行全称；银行账号只填数字，可用空格分隔。",
    "6. 接收电子发票邮箱填写一个常用邮箱，电子发票将发送到该邮箱。",
    "7. “内容”列已设为文本格式，请勿改为数字，否则长账号末尾几位会丢失。",
    "8. 任何单元格都不要以 =、+、-、@ 开头，这样的表格会被拒收。",
    "9. 填好后保存为 xlsx（也可以是 xls、ods 或 csv），随证书申请表一并上传。",
]


def build() -> bytes:
    """Return the template workbook as xlsx bytes."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "发票信息"

    sheet.append(["院校发票信息收集表"])
    sheet["A1"].font = Font(size=16, bold=True)
    sheet.merge_cells("A1:B1")
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append(["所有项目均为必填。填写说明见第二个工作表。"])
    sheet.append(["项目", "内容"])
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    for cell in sheet[3]:
        cell.font = Font(bold=True)
        cell.fill = header_fill

    for offset, label in enumerate(FIELDS):
        row = FIRST_FIELD_ROW + offset
        sheet.cell(row=row, column=1, value=f"*{label}")
        # Text format keeps every digit of a long account or code.
        sheet.cell(row=row, column=2).number_format = "@"
    sheet.column_dimensions["A"].width = 22
    sheet.column_dimensions["B"].width = 60

    return finish(workbook, INSTRUCTIONS)


def main() -> None:
    """Write the template next to this script."""
    OUTPUT.write_bytes(build())
    print(f"wrote {OUTPUT.name}")


if __name__ == "__main__":
    main()
