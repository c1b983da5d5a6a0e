"""Write templates/correction-request.xlsx, the 成绩修改申请表 sites fill in.

Run from the repository root:
``.venv/bin/python templates/make_correction_template.py``.
The reader (certflow.corrections) finds the header row by its labels, so the
title and note rows above it may change without breaking anything.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

OUTPUT = Path(__file__).resolve().parent / "correction-request.xlsx"

# (header, width, text format): numbers that must stay text are formatted "@" so
# Excel keeps all 18 characters of an ID number and the leading zeros.
COLUMNS: list[tuple[str, int, bool]] = [
    ("考试计划编号", 18, True),
    ("考生姓名", 10, False),
    ("证件号码（选填）", 22, True),
    ("准考证号", 16, True),
    ("考核模块", 30, False),
    ("修改项目", 12, False),
    ("原成绩", 9, True),
    ("申请修改为", 11, True),
    ("修改原因", 36, False),
    ("申请人（姓名/单位）", 26, False),
    ("联系电话（选填）", 16, True),
]
DATA_ROWS = 50
SCORE_FIELDS = "理论成绩,实操成绩,总成绩,考试状态"
INSTRUCTIONS = [
    "填写说明",
    "1. 每行填写一条修改申请，可填写多行；同一考生的理论成绩和实操成绩需分两行填写。",
    "2. 考试计划编号、准考证号按成绩公示中的内容填写，"
    "例如 P2026-1104-0412、2026110412004。",
    "3. 修改项目只能选择：理论成绩、实操成绩、总成绩、考试状态。",
    "4. 原成绩填写公示的成绩；考生没有该项成绩（缺考，或该项成绩尚未录入）时，"
    "原成绩可不填或填写“无”。修改考试状态时，原成绩填写“正常”“缺考”或“违纪”。",
    "5. 证件号码、联系电话可不填。证件号码请保持文本格式，不要改成数字。",
    "6. 填好后作为附件发送至 1+X 考务邮箱；"
    "也可以在邮件正文中逐行填写“考试计划编号：……”。",
    "7. 最后受理日为公示结束日前第 3 个工作日（含当日），逾期不再受理。",
]
# Fixed so that re-running the script gives the same bytes and no noisy diff.
_STAMP = datetime(2026, 11, 1, 9, 0, 0)
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def build() -> bytes:
    """Return the template workbook as xlsx bytes."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "成绩修改申请表"

    sheet.append(["成绩修改申请表"])
    sheet["A1"].font = Font(size=16, bold=True)
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(COLUMNS))
    sheet["A1"].alignment = Alignment(horizontal="center")
    sheet.append(["每行一条申请；标 “（选填）” 的列可不填。填写说明见第二个工作表。"])
    sheet.append([header for header, _, _ in COLUMNS])

    header_fill = PatternFill("solid", fgColor="DDEBF7")
    for index, (_, width, as_text) in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=3, column=index)
        cell.font = Font(bold=True)
        cell.fill = header_fill
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = width
        if as_text:
            for row in range(4, 4 + DATA_ROWS):
                sheet.cell(row=row, column=index).number_format = "@"
    sheet.freeze_panes = "A4"

    choices = DataValidation(
        type="list", formula1=f'"{SCORE_FIELDS}"', allow_blank=True
    )
    choices.error = "请从列表中选择修改项目。"
    sheet.add_data_validation(choices)
    choices.add(f"F4:F{3 + DATA_ROWS}")

    return finish(workbook, INSTRUCTIONS)


def finish(workbook: Workbook, instructions: Sequence[str]) -> bytes:
    """Add the instructions sheet and save with fixed dates: a template's last steps.

    Shared by every template generator, so all of them read and save alike.
    """
    notes = workbook.create_sheet("填写说明")
    for line in instructions:
        notes.append([line])
    notes.column_dimensions["A"].width = 100
    notes["A1"].font = Font(bold=True)

    workbook.properties.creator = "1+X 考务"
    workbook.properties.created = _STAMP
    workbook.properties.modified = _STAMP
    buffer = io.BytesIO()
    workbook.save(buffer)
    return stable_zip(buffer.getvalue())


def stable_zip(data: bytes) -> bytes:
    """Rewrite an xlsx with fixed entry dates, so the same content gives the same bytes.

    openpyxl stamps every zip entry, and the document's "modified" property, with
    the time of saving.
    """
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for entry in source.infolist():
            fixed = zipfile.ZipInfo(entry.filename, date_time=_STAMP.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            content = source.read(entry.filename)
            if entry.filename == "docProps/core.xml":
                content = _MODIFIED.sub(
                    rb"\g<1>"
                    + _STAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
                    + rb"\g<2>",
                    content,
                )
            target.writestr(fixed, content)
    return buffer.getvalue()


def main() -> None:
    """Write the template next to this script."""
    OUTPUT.write_bytes(build())
    print(f"wrote {OUTPUT.name}")


if __name__ == "__main__":
    main()
