"""Finding the table inside a sheet: the header row, its columns, the data rows.

Schools put a title and metadata rows (often merged cells) above the header and
signature lines below the data. The header is the row whose cells name the most
known columns; each column is known by several names (``SYNONYMS``). Data rows
follow it; empty rows are skipped and the first signature or remark line ends
the table. A row below that line which holds a candidate's data (a sequence
number, an ID, admission or staff number) is not read but kept aside, so that
it is reported instead of lost. Above it, a row holding a sequence number and
nothing else (a pre-numbered form's row left unfilled) is no data row either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from certflow.intake.cells import CellValue, clean_text, compact
from certflow.intake.workbook import Grid

HEADER_SEARCH_ROWS = 50


class Column(StrEnum):
    """The columns intake knows, by role rather than by the header's wording."""

    SEQ = "seq"
    NAME = "name"
    ID_TYPE = "id_type"
    ID_NUMBER = "id_number"
    ADMISSION_NUMBER = "admission_number"
    MODULE = "module"
    THEORY = "theory"
    PRACTICAL = "practical"
    TOTAL = "total"
    STATUS = "status"
    RESULT = "result"
    REMARK = "remark"
    SIGN_TIME = "sign_time"
    SIGNATURE = "signature"
    ROLE = "role"
    STAFF_ID = "staff_id"


# The first name of each list is the template's own header text.
SYNONYMS: dict[Column, tuple[str, ...]] = {
    Column.SEQ: ("序号", "序", "no", "no."),
    Column.NAME: ("姓名", "考生姓名", "学生姓名", "考评员姓名", "名字"),
    Column.ID_TYPE: ("证件类型", "证件种类", "身份证件类型"),
    Column.ID_NUMBER: (
        "证件号码",
        "证件号",
        "身份证号",
        "身份证号码",
        "身份证",
        "公民身份号码",
        "身份证件号码",
    ),
    Column.ADMISSION_NUMBER: ("准考证号", "准考证号码", "准考证", "准考号", "考生号"),
    Column.MODULE: ("考核模块", "模块", "考试模块", "模块名称", "考核科目"),
    Column.THEORY: ("理论成绩", "理论", "理论分数", "理论得分", "理论考试成绩"),
    Column.PRACTICAL: (
        "实操成绩",
        "实操",
        "实操分数",
        "实操得分",
        "实操考试成绩",
        "技能操作成绩",
        "技能成绩",
    ),
    Column.TOTAL: ("总成绩", "总分", "综合成绩", "总评成绩", "总评"),
    Column.STATUS: ("考试状态", "状态", "考试情况", "参考状态", "考生状态"),
    Column.RESULT: ("考核结果", "是否合格", "考试结果", "结果", "合格情况", "成绩判定"),
    Column.REMARK: ("备注", "说明"),
    Column.SIGN_TIME: ("签到时间", "时间", "到场时间"),
    Column.SIGNATURE: (
        "签名",
        "签字",
        "本人签名",
        "考生签名",
        "考评员签名",
        "签到签名",
    ),
    Column.ROLE: ("角色", "职务", "考评角色", "身份"),
    Column.STAFF_ID: (
        "工号",
        "考评员编号",
        "考评员工号",
        "人员编号",
        "员工编号",
        "考评员证号",
    ),
}

_LOOKUP = {name: column for column, names in SYNONYMS.items() for name in names}
_BRACKETED = re.compile(r"[(\[（【][^)\]）】]*[)\]）】]$")

# A line starting with one of these below the data is a signature or remark line.
_FOOTER = re.compile(
    r"^(考评员|考评组长|考评组|监考|考务|制表|审核|负责人|站点负责人|签字|签名|考核日期|考试日期|"
    r"日期[:：]?|备注[:：]|说明[:：]|注[:：]|合计|总计|统计|盖章|单位(盖章)?)"
)


def header_key(value: CellValue) -> str:
    """Return a header cell reduced for matching: no spaces, marks or unit notes."""
    text = compact(value).lower().replace("*", "").replace("＊", "")
    return _BRACKETED.sub("", text)


@dataclass
class Table:
    """A located table: where its header is and which column plays which role."""

    sheet: str
    header_row: int  # 0-based index into the grid
    columns: dict[Column, int]
    headers: dict[Column, str]  # the header text as the sheet writes it
    data_rows: list[int] = field(default_factory=list)  # 0-based indexes
    # Further header cells naming a column already in ``columns``: position
    # and header text of each, in the order the header writes them.
    repeated: dict[Column, list[tuple[int, str]]] = field(default_factory=dict)
    footer_row: int | None = None
    # Rows below the footer that look like data rows (0-based): never read.
    rows_below_footer: list[int] = field(default_factory=list)
    # Rows above the footer holding a sequence number and nothing else in the
    # table's columns (0-based), never read: those below the last data row
    # are blank (a pre-numbered form's rows left over), those above it are
    # gaps among the data, refused (``common.locate``).
    numbered_blank: list[int] = field(default_factory=list)
    numbered_gaps: list[int] = field(default_factory=list)

    def cell(self, row: list[CellValue], column: Column) -> CellValue:
        """Return the cell of ``row`` in ``column``, or "" when absent."""
        index = self.columns.get(column)
        if index is None or index >= len(row):
            return ""
        return row[index]


def find_table(grid: Grid, required: set[Column]) -> Table | None:
    """Locate the header holding every ``required`` column, then the data rows."""
    best: Table | None = None
    for index, row in enumerate(grid.rows[:HEADER_SEARCH_ROWS]):
        columns: dict[Column, int] = {}
        headers: dict[Column, str] = {}
        repeated: dict[Column, list[tuple[int, str]]] = {}
        for position, value in enumerate(row):
            column = _LOOKUP.get(header_key(value))
            if column is None:
                continue
            if column in columns:
                repeated.setdefault(column, []).append((position, clean_text(value)))
            else:
                columns[column] = position
                headers[column] = clean_text(value)
        if not required <= set(columns):
            continue
        if best is None or len(columns) > len(best.columns):
            best = Table(grid.name, index, columns, headers, repeated=repeated)
    if best is not None:
        _collect_rows(grid, best)
    return best


def best_partial_match(grid: Grid, wanted: set[Column]) -> set[Column]:
    """Return the most of ``wanted`` that any one row of the sheet names."""
    best: set[Column] = set()
    for row in grid.rows[:HEADER_SEARCH_ROWS]:
        found = {_LOOKUP[k] for k in map(header_key, row) if k in _LOOKUP} & wanted
        if len(found) > len(best):
            best = found
    return best


def _collect_rows(grid: Grid, table: Table) -> None:
    start = table.header_row + 1
    data_rows = table.data_rows
    numbered = []
    only_numbered = _numbered_only(grid, table)
    for index, row in enumerate(grid.rows[start:], start):
        if table.footer_row is not None:
            # Below the footer, signature, date, seal and remark lines are free
            # text; a row with a sequence number or an identity is a candidate
            # typed in the wrong place.
            if _looks_like_a_candidate(row, table):
                table.rows_below_footer.append(index)
            continue
        if not _opens_data_row(row):
            first = next((text for text in map(clean_text, row) if text), None)
            if first is None:
                continue
            if _FOOTER.match(first.replace(" ", "")) and not _has_identity(row, table):
                table.footer_row = index
                continue
        if only_numbered(row, index):
            numbered.append(index)
        else:
            data_rows.append(index)
    last = data_rows[-1] if data_rows else -1
    table.numbered_gaps = [index for index in numbered if index < last]
    table.numbered_blank = [index for index in numbered if index > last]


def _opens_data_row(row: list[CellValue]) -> bool:
    # A number in the first column (the sequence number) opens a data row;
    # signature and remark lines start with text.
    return bool(row) and type(row[0]) in (int, float)


# A sequence number typed as text: "33", full-width "３３" (cells are made
# ASCII), "No.33".
_NUMBERED = re.compile(r"^(?:no\.?)?\d+$", re.IGNORECASE)
_SCORES = (Column.THEORY, Column.PRACTICAL, Column.TOTAL)


def _numbered_only(grid: Grid, table: Table) -> Callable[[list[CellValue], int], bool]:
    """A test of whether a row holds a sequence number and nothing else.

    Schools' forms come numbered 1 to 40 (typed, or ``=ROW()-3`` filled down),
    and only the candidates there are get a name: the rows left over keep
    their 序号 alone. Such a row has a sequence number in the 序号 column and
    every other column of the table reads empty: a formula error, or an array
    formula's cell saved without its value, reads so (see
    ``common._formulas_in_blank_rows``), but not a formula saved without its
    own result, which may hold anything. Cells beside the table are not
    looked at, as for any row.
    """
    seq = table.columns.get(Column.SEQ)
    if seq is None:
        return lambda row, index: False
    # The name first: it settles a candidate's row at the first cell.
    others = sorted(
        (
            position
            for column, position in table.columns.items()
            if column is not Column.SEQ
        ),
        key=lambda position: position != table.columns.get(Column.NAME),
    )
    unknown = grid.uncalculated - grid.array_uncalculated

    def only_numbered(row: list[CellValue], index: int) -> bool:
        width = len(row)
        for position in others:
            if position < width and not _empty(row[position]):
                return False
        if seq >= width or not _NUMBERED.match(compact(row[seq])):
            return False
        return not any((index + 1, position) in unknown for position in others)

    return only_numbered


def _empty(value: CellValue) -> bool:
    """Whether a cell reads as empty, as ``clean_text`` reads it; cheap for
    the printable text most cells hold."""
    if type(value) is str:
        return not value.strip() or (not value.isprintable() and not clean_text(value))
    return value is None


def _looks_like_a_candidate(row: list[CellValue], table: Table) -> bool:
    """Below the footer: a row numbered, holding an identity, or scored."""
    if _opens_data_row(row) or _has_identity(row, table):
        return True
    if row and _NUMBERED.match(compact(row[0])):
        return True
    scored = [table.cell(row, c) for c in _SCORES if c in table.columns]
    return sum(1 for v in scored if clean_text(v)) >= 2


def _has_identity(row: list[CellValue], table: Table) -> bool:
    for column in (Column.ID_NUMBER, Column.ADMISSION_NUMBER, Column.STAFF_ID):
        if clean_text(table.cell(row, column)):
            return True
    return False
