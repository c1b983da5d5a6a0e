"""Regenerate the intake corpus: honest and broken uploads with known outcomes.

Sources are written with openpyxl or as CSV text, then LibreOffice re-saves most
of them as xlsx, xls or ods, so the corpus holds files a real office suite wrote.
Encrypted files are saved with a password through LibreOffice's UNO bridge.
The expected outcome of every file is in manifest.json beside this script and
is written by hand, not by running intake.

Needs LibreOffice (Debian: libreoffice-calc-nogui, python3-uno) and, for the
encrypted xlsx, msoffcrypto-tool. Run from the
repository root:  .venv/bin/python tests/corpus/intake/make_corpus.py
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import tempfile
import zipfile
from datetime import date
from pathlib import Path

from openpyxl import Workbook

from certflow.identity import (
    make_foreign_permanent_id,
    make_residence_permit,
    make_resident_id,
)

HERE = Path(__file__).resolve().parent
MODULE = "1-1 汽车动力与驱动系统综合分析技术"
TITLE = "武汉市交通职业技术学校 汽车运用与维修职业技能等级证书（中级）考核成绩汇总表"
META = "考试计划编号：P2026-1104-0412    考核站点：武汉市交通职业技术学校（HB-WH-0031）"
HEADER = [
    "序号",
    "姓名",
    "证件类型",
    "证件号码",
    "准考证号",
    "考核模块",
    "理论成绩",
    "实操成绩",
    "总成绩",
    "考试状态",
    "考核结果",
    "备注",
]


def rid(seq: int, year: int = 2005) -> str:
    return make_resident_id("420106", date(year, 3, 1 + seq % 27), 100 + seq)


def wrong_check(number: str) -> str:
    """Return ``number`` with its check character replaced by another one."""
    return number[:-1] + ("1" if number[-1] != "1" else "2")


def row(
    seq: int,
    name: str,
    theory: object,
    practical: object,
    total: object,
    result: str,
    *,
    id_type: str = "居民身份证",
    id_number: str | None = None,
    admission: object = None,
    module: str = MODULE,
    status: str = "正常",
) -> list[object]:
    return [
        seq,
        name,
        id_type,
        rid(seq) if id_number is None else id_number,
        admission if admission is not None else f"20261104120{seq:02d}",
        module,
        theory,
        practical,
        total,
        status,
        result,
        "",
    ]


def honest_rows() -> list[list[object]]:
    """Twelve candidates exercising every normalisation and document type."""
    lower_x = next(
        make_resident_id("420106", date(2004, 5, 5), n)
        for n in range(1000)
        if make_resident_id("420106", date(2004, 5, 5), n).endswith("X")
    )
    return [
        row(1, "黎芬", 80, 90, 87, "合格"),
        # Admission number kept as a number by the spreadsheet.
        row(2, "胡俊霞  ", 74, 84.6, 81.42, "合格", admission=2026110412002),
        # Full-width digits in scores and admission number, numbers as text.
        row(
            3,
            "夏宇玲",
            "７１．４",
            "75.8",
            "74.48",
            "合格",
            admission="２０２６１１０４１２００３",
        ),
        row(4, "阿不都・热合曼", 53.1, 60.8, 58.49, "不合格"),
        row(5, "买买提．艾力", 58.1, 82.3, 75.04, "不合格", id_number=lower_x.lower()),
        row(
            6,
            "陈家明",
            60,
            60,
            60,
            "合格",
            id_type="港澳台居民居住证",
            id_number=make_residence_permit("810000", date(2003, 7, 1), 11),
        ),
        row(
            7,
            "林志玲",
            98,
            93.4,
            94.78,
            "合格",
            id_type="外国人永久居留身份证",
            id_number=make_foreign_permanent_id("11", "156", date(2002, 2, 2), 7),
        ),
        row(
            8,
            "JOHN SMITH",
            93.2,
            80.8,
            84.52,
            "合格",
            id_type="外国人永久居留身份证",
            id_number="USA110002020201",
        ),
        row(
            9, "金敏", 87.4, 60.8, 68.78, "合格", id_type="护照", id_number="E12345678"
        ),
        row(
            10,
            "何嘉欣",
            78.5,
            80.2,
            79.69,
            "合格",
            id_type="港澳居民来往内地通行证",
            id_number="H12345678",
        ),
        row(11, "杨鹏", "", "", "", "不合格", status="缺考"),
        row(12, "熊杰", "", "", "", "不合格", status="违纪"),
    ]


def summary_sheet(
    book: Workbook,
    rows: list[list[object]],
    *,
    title: str = TITLE,
    meta: str = META,
    header: list[str] = HEADER,
    gap_after: int | None = None,
) -> None:
    sheet = book.create_sheet("成绩汇总")
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    sheet.append([meta])
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(header))
    sheet.append(header)
    for index, values in enumerate(rows):
        sheet.append(values)
        if gap_after is not None and index == gap_after:
            sheet.append([])
    sheet.append([])
    sheet.append(["考评员签字：", "", "", "", "", "", "考评组长签字："])
    sheet.append(["日期：2026年11月4日"])


def workbook(rows: list[list[object]], **options: object) -> Workbook:
    book = Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "填表说明"
    notes.append(["请按模板填写，证件号码列设为文本格式。"])
    summary_sheet(book, rows, **options)  # type: ignore[arg-type]
    return book


def csv_bytes(rows: list[list[object]], header: list[str], encoding: str) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def convert(source: Path, target: Path, work: Path) -> None:
    """Re-save ``source`` with LibreOffice in the format of ``target``'s suffix."""
    fmt = target.suffix.lstrip(".")
    out = work / "converted"
    out.mkdir(exist_ok=True)
    subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{work}/profile",
            "--headless",
            "--convert-to",
            fmt,
            "--outdir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    shutil.move(out / f"{source.stem}.{fmt}", target)


UNO_SCRIPT = r"""
import subprocess, sys, time, uno
# Hard stop: a UNO call that hangs must not hang the corpus build.
import threading, os
watchdog = threading.Timer(120, lambda: os._exit(3))
watchdog.daemon = True
watchdog.start()
from com.sun.star.beans import PropertyValue

def prop(name, value):
    p = PropertyValue(); p.Name = name; p.Value = value; return p

profile, jobs = sys.argv[1], sys.argv[2:]
PIPE = "pipe,name=certflowcorpus;urp;"
office = subprocess.Popen(
    ["soffice", "-env:UserInstallation=file://" + profile, "--headless",
     "--accept=" + PIPE]
)
resolver = uno.getComponentContext().ServiceManager.createInstanceWithContext(
    "com.sun.star.bridge.UnoUrlResolver", uno.getComponentContext())
for _ in range(100):
    try:
        ctx = resolver.resolve("uno:" + PIPE + "StarOffice.ComponentContext")
        break
    except Exception:
        time.sleep(0.3)
manager = ctx.ServiceManager
desktop = manager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
for i in range(0, len(jobs), 3):
    source, target, filter_name = jobs[i:i + 3]
    hidden = (prop("Hidden", True),)
    url = uno.systemPathToFileUrl(source)
    doc = desktop.loadComponentFromURL(url, "_blank", 0, hidden)
    options = (prop("FilterName", filter_name), prop("Password", "secret"))
    doc.storeToURL(uno.systemPathToFileUrl(target), options)
    doc.close(True)
try:
    desktop.terminate()
except Exception:
    pass
office.wait(timeout=60)
"""


def encrypt(jobs: list[tuple[Path, Path, str]], work: Path) -> None:
    script = work / "encrypt.py"
    script.write_text(UNO_SCRIPT, encoding="utf-8")
    args = [str(part) for job in jobs for part in job]
    subprocess.run(
        ["/usr/bin/python3", str(script), str(work / "uno-profile"), *args],
        check=True,
        timeout=300,
    )


def encrypt_ooxml(source: bytes) -> bytes:
    """Encrypt an xlsx with a password (ECMA-376 agile encryption, as Excel does).

    LibreOffice 7.4 ignores a password given through UNO for OOXML, so this file
    is encrypted with msoffcrypto-tool (pip install msoffcrypto-tool).
    """
    from msoffcrypto.format.ooxml import OOXMLFile

    encrypted = io.BytesIO()
    OOXMLFile(io.BytesIO(source)).encrypt("secret", encrypted)
    return encrypted.getvalue()


def flag_macro_sheet(xls: bytes, sheet_name: str) -> bytes:
    """Mark the named sheet of an xls as an Excel 4.0 macro sheet (BOUNDSHEET dt=1)."""
    encoded = bytes([len(sheet_name), 1]) + sheet_name.encode("utf-16-le")
    at = xls.find(encoded)
    assert at > 0, "BOUNDSHEET record not found"
    record = at - 6 - 4  # name follows lbPlyPos(4), hsState(1), dt(1)
    assert xls[record : record + 2] == b"\x85\x00"
    patched = bytearray(xls)
    patched[at - 1] = 0x01
    return bytes(patched)


def macro_xlsm(source: bytes) -> bytes:
    """Add a VBA project to an xlsx, as Excel saves an xlsm."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(source)) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
    ):
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "[Content_Types].xml":
                data = data.replace(
                    b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
                    b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
                )
            dst.writestr(item, data)
        dst.writestr(
            "xl/vbaProject.bin", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
        )
    return out.getvalue()


def hidden_and_merged(work: Path) -> None:
    """Hidden sheets, hidden rows and merged data cells, as LibreOffice saves them.

    Run alone with ``python -c "from tests.corpus.intake.make_corpus import *;
    hidden_and_merged_files()"``: the other corpus files stay as they are.
    """

    def copy_first(book: Workbook, state: str, extra: bool) -> None:
        copy = book.copy_worksheet(book["成绩汇总"])
        copy.title = "成绩汇总 (2)"
        # Seq 4 passes in the copy: theory 53.1 -> 63.1.
        copy["G7"], copy["I7"], copy["K7"] = 63.1, 61.49, "合格"
        if extra:
            copy.insert_rows(17)
            for column, value in enumerate(row(13, "严豪刚", 90, 90, 90, "合格"), 1):
                copy.cell(17, column, value)
        copy.sheet_state = state
        book.move_sheet(copy, offset=-len(book.sheetnames) + 1)

    book = workbook(honest_rows(), gap_after=5)
    copy_first(book, "veryHidden", extra=False)
    book.save(work / "hidden-copy-first.xlsx")
    convert(work / "hidden-copy-first.xlsx", HERE / "hidden-copy-first.xls", work)

    book = workbook(honest_rows(), gap_after=5)
    copy_first(book, "hidden", extra=True)
    book.save(work / "hidden-longer-copy.xlsx")
    convert(work / "hidden-longer-copy.xlsx", HERE / "hidden-longer-copy.ods", work)

    book = workbook(honest_rows(), gap_after=5)
    book["成绩汇总"].sheet_state = "hidden"
    book.save(work / "hidden-summary-only.xlsx")
    convert(work / "hidden-summary-only.xlsx", HERE / "hidden-summary-only.xls", work)

    book = workbook(honest_rows(), gap_after=5)
    book["成绩汇总"].row_dimensions[6].hidden = True
    book.save(work / "hidden-row.xlsx")
    for fmt in ("xls", "ods"):
        convert(work / "hidden-row.xlsx", HERE / f"hidden-row.{fmt}", work)

    # The module merged down the whole data area (over the blank row too), and
    # 缺考 merged over the two absentees' status cells.
    rows = honest_rows()
    rows[11] = row(12, "熊杰", "", "", "", "不合格", status="缺考")
    for values in rows[1:]:
        values[5] = None
    rows[11][9] = None
    book = workbook(rows, gap_after=5)
    book["成绩汇总"].merge_cells("F4:F16")
    book["成绩汇总"].merge_cells("J15:J16")
    book.save(work / "merged-module.xlsx")
    for fmt in ("xls", "ods"):
        convert(work / "merged-module.xlsx", HERE / f"merged-module.{fmt}", work)


def hidden_and_merged_files() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        hidden_and_merged(Path(tmp))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)

        def save(book: Workbook, name: str) -> Path:
            path = work / name
            book.save(path)
            return path

        honest = save(workbook(honest_rows(), gap_after=5), "honest-layout.xlsx")
        shutil.copy(honest, HERE / "honest-layout-openpyxl.xlsx")
        for fmt in ("xlsx", "xls", "ods"):
            convert(honest, HERE / f"honest-layout-libreoffice.{fmt}", work)

        plain = [r[:] for r in honest_rows()]
        plain[1][1] = "胡俊霞"
        plain[1][4] = "2026110412002"
        synonyms = [
            "序号",
            "考生姓名",
            "证件类型",
            "身份证号码",
            "准考证号",
            "考核模块",
            "理论",
            "实操",
            "总分",
            "考试状态",
            "是否合格",
            "备注",
        ]
        (HERE / "synonyms-utf8-bom.csv").write_bytes(
            b"\xef\xbb\xbf" + csv_bytes(plain, synonyms, "utf-8")
        )
        (HERE / "synonyms-utf8.csv").write_bytes(csv_bytes(plain, synonyms, "utf-8"))
        (HERE / "synonyms-gb18030.csv").write_bytes(
            csv_bytes(plain, synonyms, "gb18030")
        )

        identity = [
            row(1, "黎芬", 80, 90, 87, "合格", id_number="991002200506166066"),
            row(
                2,
                "胡俊霞",
                80,
                90,
                87,
                "合格",
                id_number=make_resident_id("420106", date(2030, 1, 1), 5),
            ),
            row(3, "夏宇玲", 80, 90, 87, "合格", id_number="42010620050230123X"),
            row(4, "陈思彬", 80, 90, 87, "合格", id_number="420106050301123"),
            row(
                5,
                "方浩",
                80,
                90,
                87,
                "合格",
                id_type="港澳台居民居住证",
                id_number=make_resident_id("420106", date(2003, 1, 1), 5),
            ),
            row(
                6,
                "林青",
                80,
                90,
                87,
                "合格",
                id_type="外国人永久居留身份证",
                id_number=wrong_check(
                    make_foreign_permanent_id("11", "156", date(2002, 2, 2), 7)
                ),
            ),
            row(7, "金敏", 80, 90, 87, "合格", id_type="护照", id_number="E12"),
            row(8, "何嘉欣", 80, 90, 87, "合格", id_type="军官证", id_number="12345"),
            row(9, "汤涵华", 80, 90, 87, "合格", id_number="4.20106200503E+17"),
            row(
                10,
                "姜嘉",
                80,
                90,
                87,
                "合格",
                id_type="港澳居民来往内地通行证",
                id_number="X12345678",
            ),
            row(11, "任俊", 80, 90, 87, "合格", id_number=""),
            row(12, "肖怡", 80, 90, 87, "合格"),
            row(13, "韩思思", 80, 90, 87, "合格", id_number=rid(12)),
        ]
        convert(
            save(workbook(identity), "broken-identity.xlsx"),
            HERE / "broken-identity.xlsx",
            work,
        )

        scores = [
            row(1, "黎芬", "八十", 90, 87, "合格"),
            row(2, "胡俊霞", 80.125, 90, 87.04, "合格"),
            row(3, "夏宇玲", -1, 90, 62.7, "不合格"),
            row(4, "陈思彬", 80, "", 24, "不合格"),
            row(5, "方浩", 80, 90, 87, "合格", status="缺考"),
            row(6, "林青", "", "", "", "合格", status="违纪"),
            row(7, "金敏", 80, 90, 87, "合格", status="迟到"),
            row(8, "何嘉欣", 80, 90, 87, "优秀"),
            row(9, "汤涵华", 80, 90, "", "合格"),
            row(10, "", 80, 90, 87, "合格"),
            row(11, "任俊", 80, 90, 87.01, "合格"),
        ]
        convert(
            save(workbook(scores), "broken-scores.xlsx"),
            HERE / "broken-scores.ods",
            work,
        )

        plan_rows = [
            row(1, "黎芬", 80, 90, 87, "合格"),
            row(
                2,
                "胡俊霞",
                80,
                90,
                87,
                "合格",
                module="1-2 汽车电子电气与空调舒适系统综合分析技术",
            ),
        ]
        plan_book = workbook(
            plan_rows,
            title="智能新能源汽车职业技能等级证书（高级）成绩汇总表",
            meta="考试计划编号：P2026-1104-0999  考核站点：武汉市交通职业技术学校"
            "（HB-WH-0032）",
        )
        convert(save(plan_book, "broken-plan.xlsx"), HERE / "broken-plan.xls", work)

        practical_header = [
            "序号",
            "姓名",
            "证件号码",
            "准考证号",
            "实操成绩",
            "总成绩",
            "考核结果",
        ]
        practical = [
            [1, "黎芬", rid(1), "2026110412001", 59.99, 59.99, "不合格"],
            [2, "胡俊霞", rid(2), "2026110412002", 60, 60, "合格"],
        ]
        (HERE / "practical-only.csv").write_bytes(
            csv_bytes(practical, practical_header, "utf-8")
        )

        weighted = [
            row(1, "黎芬", 40, 80, 68, "合格"),
            row(2, "胡俊霞", 90, 40, 55, "不合格"),
            row(3, "夏宇玲", 90, 40, 55, "合格"),
        ]
        convert(
            save(workbook(weighted), "weighted-total.xlsx"),
            HERE / "weighted-total.xlsx",
            work,
        )

        sign_in = Workbook()
        sheet = sign_in.active
        assert sheet is not None
        sheet.title = "考生签到表"
        sheet.append(["武汉市交通职业技术学校 1+X 考核考生签到表（P2026-1104-0412）"])
        sheet.append(["序号", "姓名", "身份证号", "准考证号", "签到时间", "签名"])
        sheet.append([1, "黎芬", rid(1), "2026110412001", "08:11", "（已签）"])
        sheet.append([2, "胡俊霞", "", 2026110412002, "", "未签"])
        sheet.append([3, "阿不都•热合曼", rid(3), "2026110412003", "08:13", "（已签）"])
        convert(
            save(sign_in, "signin-candidates.xlsx"),
            HERE / "signin-candidates.ods",
            work,
        )

        broken_sign_in = Workbook()
        sheet = broken_sign_in.active
        assert sheet is not None
        sheet.append(["序号", "姓名", "证件号码", "准考证号", "签名"])
        sheet.append([1, "黎芬", wrong_check(rid(1)), "2026110412001", "已签"])
        sheet.append([2, "", rid(2), "2026110412002", "已签"])
        sheet.append([3, "夏宇玲", rid(3), "2026110412001", "已签"])
        convert(
            save(broken_sign_in, "signin-candidates-broken.xlsx"),
            HERE / "signin-candidates-broken.xlsx",
            work,
        )

        evaluators = Workbook()
        sheet = evaluators.active
        assert sheet is not None
        sheet.title = "考评员签到"
        sheet.append(["序号", "姓名", "角色", "工号", "签到时间"])
        sheet.append([1, "周建国", "考评组长", "ZCX-E-0107", "07:50"])
        sheet.append([2, "刘海波", "考评员", "zcx-e-0213", "07:50"])
        sheet.append([3, "刘海波", "考评员", "ZCX-E-0213", "07:55"])
        convert(
            save(evaluators, "signin-evaluators.xlsx"),
            HERE / "signin-evaluators-duplicate.ods",
            work,
        )

        # Refusals.
        small = save(workbook(honest_rows()[:2]), "small.xlsx")
        (HERE / "macro.xlsm").write_bytes(macro_xlsm(small.read_bytes()))
        convert(small, work / "small.xls", work)
        (HERE / "macro-sheet.xls").write_bytes(
            flag_macro_sheet((work / "small.xls").read_bytes(), "成绩汇总")
        )
        encrypt(
            [
                (small, HERE / "encrypted.xls", "MS Excel 97"),
                (small, HERE / "encrypted.ods", "calc8"),
            ],
            work,
        )
        (HERE / "encrypted.xlsx").write_bytes(encrypt_ooxml(small.read_bytes()))
        with zipfile.ZipFile(HERE / "not-a-spreadsheet.docx", "w") as docx:
            docx.writestr("[Content_Types].xml", "<Types/>")
            docx.writestr("word/document.xml", "<document/>")
        (HERE / "report.pdf").write_bytes(b"%PDF-1.4\n% not a spreadsheet\n")
        (HERE / "page.html").write_text(
            "<html><body><table><tr><td>姓名</td></tr></table></body></html>",
            encoding="utf-8",
        )
        (HERE / "empty.xlsx").write_bytes(b"")
        hidden_and_merged(work)


if __name__ == "__main__":
    main()
