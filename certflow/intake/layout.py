"""Finding the table inside a sheet: the header row, its columns, the data rows.

Schools put a title and metadata rows (often merged cells) above the header and
signature lines below the data. The header is the row whose cells name the most
known columns; each column is known by several names (``SYNONYMS``). Data rows
follow it; empty rows are skipped and the first signature or remark line ends
the table. A row below that line which holds a candidate's data (a sequence
number, an ID, admission or staff number) is not read but kept aside, so that
it is reported instead of lost.

Above that line, a row naming nobody (no name, ID, admission or staff number)
is no data row when it holds nothing a school typed for a person: a sequence
number, formula results, a template's values filled down (a pre-numbered,
pre-filled form's row left unfilled), or a note that nothing follows
(以下空白), which ends the list (``_Leftovers``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum, StrEnum

from certflow.intake.cells import CellValue, clean_text, compact
from certflow.intake.vocabulary import STATUS_WORDS
from certflow.intake.workbook import Grid
from certflow.models import ExamStatus

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
    # Rows below the last data row naming nobody and holding only what a
    # template fills in (formula results, the 序号, values filled down),
    # never read: blank, as ``numbered_blank``.
    prefilled_blank: list[int] = field(default_factory=list)
    # Rows below the last data row naming nobody yet holding data, with the
    # column of their first such cell: never read, refused.
    unidentified: dict[int, Column] = field(default_factory=dict)
    # The rows saying that nothing follows (以下空白; the first ends the
    # list), the first one's text, and the rows below it and above the
    # footer holding data, with the column of their first such cell: never
    # read, refused.
    end_markers: list[int] = field(default_factory=list)
    end_marker_text: str = ""
    below_end_marker: dict[int, Column] = field(default_factory=dict)

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
    return best_partial_row(grid, wanted)[1]


def best_partial_row(grid: Grid, wanted: set[Column]) -> tuple[int, set[Column]]:
    """The first row (0-based) naming the most of ``wanted``, and those."""
    best: set[Column] = set()
    where = 0
    for index, row in enumerate(grid.rows[:HEADER_SEARCH_ROWS]):
        found = columns_named(row, wanted)
        if len(found) > len(best):
            best, where = found, index
    return where, best


def columns_named(row: list[CellValue], wanted: set[Column]) -> set[Column]:
    """The columns of ``wanted`` whose header a cell of ``row`` writes."""
    return {_LOOKUP[k] for k in map(header_key, row) if k in _LOOKUP} & wanted


def _collect_rows(grid: Grid, table: Table) -> None:
    start = table.header_row + 1
    data_rows = table.data_rows
    naming_nobody = _Leftovers(grid, table).kind
    left: list[tuple[int, _Leftover]] = []
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
        found = naming_nobody(row, index)
        if found is None:
            data_rows.append(index)
        else:
            left.append((index, found))
    if left:
        _place_leftovers(table, left, grid.rows)


def _place_leftovers(
    table: Table, left: list[tuple[int, _Leftover]], rows: list[list[CellValue]]
) -> None:
    """Sort the rows naming nobody (``left``, in order) by where they stand.

    The first row saying that nothing follows (以下空白) ends the list: below
    it, rows holding no data are blank and any other is refused, data rows
    included. Above it, rows below the last data row are blank, or refused
    when they hold data; among the data rows, a row holding only its 序号 is
    a gap (refused once), any other is read as a data row, every check
    applying.
    """
    markers = [index for index, found in left if found.kind is _Kind.MARKER]
    end = markers[0] if markers else len(rows)
    if markers:
        table.end_markers = markers
        table.end_marker_text = next(f.text for i, f in left if i == end)
        below = [index for index in table.data_rows if index > end]
        table.data_rows = [index for index in table.data_rows if index < end]
        table.below_end_marker = {
            index: _first_identity(rows[index], table) for index in below
        }
    last = table.data_rows[-1] if table.data_rows else -1
    read = []
    for index, found in left:
        if found.kind is _Kind.MARKER:
            continue
        if last < index and found.kind is _Kind.NUMBERED:
            table.numbered_blank.append(index)
        elif last < index and found.kind is _Kind.PREFILLED:
            table.prefilled_blank.append(index)
        elif end < index:
            table.below_end_marker[index] = found.column
        elif last < index:
            table.unidentified[index] = found.column
        elif found.kind is _Kind.NUMBERED:
            table.numbered_gaps.append(index)
        else:
            read.append(index)
    if read:
        table.data_rows = sorted([*table.data_rows, *read])
    table.below_end_marker = dict(sorted(table.below_end_marker.items()))


def _first_identity(row: list[CellValue], table: Table) -> Column:
    """The first identity column filled in a data row (the name when none)."""
    for column in IDENTITY_COLUMNS:
        if clean_text(table.cell(row, column)):
            return column
    return Column.NAME


def _opens_data_row(row: list[CellValue]) -> bool:
    # A number in the first column (the sequence number) opens a data row;
    # signature and remark lines start with text.
    return bool(row) and type(row[0]) in (int, float)


# A sequence number typed as text: "33", full-width "３３" (cells are made
# ASCII), "No.33".
_NUMBERED = re.compile(r"^(?:no\.?)?\d+$", re.IGNORECASE)
_SCORES = (Column.THEORY, Column.PRACTICAL, Column.TOTAL)
# The columns saying whose row it is, the name first: a row with none of them
# filled names no candidate nor evaluator.
IDENTITY_COLUMNS = (
    Column.NAME,
    Column.ID_NUMBER,
    Column.ADMISSION_NUMBER,
    Column.STAFF_ID,
)
# Columns a template fills down with one value for every row, and where a
# typed value says nothing of a person: the kind of document, the module,
# the evaluator's role, and a status meaning present (正常; 缺考 and 违纪
# are said of someone).
_TEMPLATE_COLUMNS = (Column.ID_TYPE, Column.MODULE, Column.STATUS, Column.ROLE)
# A note that the list ends here, as schools write it in the first unused row
# (以下空白, 以下无内容, （以下空白）, 此页以下空白, ——以下空白——), once the
# spaces are gone and the marks around it stripped.
_END_MARKER = re.compile(
    r"(?:此页|本页|本表)?以下(?:空白|为空|无内容|无数据|无正文|空)"
)
_MARKER_MARKS = "()[]【】〔〕《》<>「」『』-—–―─_*·.。…~=:：、!！"


def end_marker(value: CellValue) -> str | None:
    """The cell's text when it says that nothing follows (以下空白), else None."""
    if type(value) is not str or "下" not in value:
        return None  # the usual cell, a name or a number, at once
    text = clean_text(value)
    return text if _END_MARKER.fullmatch(compact(text).strip(_MARKER_MARKS)) else None


class _Kind(Enum):
    """What a row naming nobody holds, in the table's columns."""

    NUMBERED = "a sequence number alone"
    PREFILLED = "what a template fills in"
    MARKER = "a note that nothing follows"
    DATA = "data"


@dataclass(frozen=True)
class _Leftover:
    """A row naming nobody: what it holds, the column of its first cell of
    data (``_Kind.DATA``), the note's text (``_Kind.MARKER``)."""

    kind: _Kind
    column: Column = Column.NAME
    text: str = ""


class _Leftovers:
    """Tells a row naming nobody from a data row, and what it holds.

    Schools' forms come numbered 1 to 40 (typed, or ``=ROW()-3`` filled down)
    and often pre-filled further: a 证件类型 or 考核模块 filled down, a
    考核结果 formula showing 不合格, a 总成绩 formula showing 0. Only the
    candidates there are get a name, and the rows left over keep the rest.
    A row whose identity columns (``IDENTITY_COLUMNS``) read empty names
    nobody; a formula saved without its result there may hold a name, so such a
    row is a data row. A template may number its places with an ID, admission
    or staff number computed by formula too: a row whose name reads empty and
    whose numbers only formulas show names nobody when the rest of it holds no
    data, and is a data row, as before, beside data. Each other cell of the
    table's columns reads empty (a formula error, an array formula's cell saved
    without its value read so, see ``common._formulas_in_blank_rows``), or
    holds the 序号, a formula (whatever it shows, its result saved or not), or,
    in a template column (``_TEMPLATE_COLUMNS``), a value the column holds in a
    data row above: the template's value filled down, which the rows filled in
    keep (a 缺考 or 护照 typed over some of them does not stop it). Anything else
    (a typed score, 考核结果 or 备注, a value no data row above holds) is data. A
    cell saying that nothing follows (``end_marker``), in any column,
    makes the row the list's end. Cells beside the table are not looked at,
    as for any row; a row with nothing in the table's columns is a data row.
    """

    def __init__(self, grid: Grid, table: Table) -> None:
        columns = table.columns
        self.grid = grid
        self.data_rows = table.data_rows  # filled as the rows are read
        self.identity = [columns[c] for c in IDENTITY_COLUMNS if c in columns]
        self.name = columns.get(Column.NAME, 1 << 30)  # past any row's end
        self.others = sorted(
            (position, column)
            for column, position in columns.items()
            if column not in IDENTITY_COLUMNS
        )
        self.seq = columns.get(Column.SEQ)
        self.unknown = grid.uncalculated - grid.array_uncalculated
        # The values each template column holds in the data rows above, read
        # only when a row naming nobody asks, up to the data rows read then.
        self.seen = {columns[c]: set[str]() for c in _TEMPLATE_COLUMNS if c in columns}
        self.seen_rows = 0

    def kind(self, row: list[CellValue], index: int) -> _Leftover | None:
        """What the row at ``index`` holds when it names nobody, else None."""
        width = len(row)
        name = self.name
        if name < width and type(value := row[name]) is str and "下" not in value:
            if value.isprintable() and not value.isspace() and value:
                return None  # a name: the usual row, settled at once
        number = index + 1
        computed = False
        for position in self.identity:
            if position < width:
                value = row[position]
                if not _empty(value) and end_marker(value) is None:
                    if position == name or not self._formula(number, position):
                        return None
                    computed = True
        if self.unknown and any((number, p) in self.unknown for p in self.identity):
            return None

        found = self._content(row, number)
        if not computed:
            return found
        # Only a formula fills the ID or admission number in: the template
        # numbers its places, and the row is one when it holds no data.
        if found is not None and found.kind is _Kind.DATA:
            return None  # someone's data beside it: a candidate's row
        if found is not None and found.kind is _Kind.MARKER:
            return found
        return _Leftover(_Kind.PREFILLED)

    def _formula(self, number: int, position: int) -> bool:
        """Whether the cell at row ``number``, ``position`` holds a formula."""
        return (number, position) in self.grid.formulas()

    def _content(self, row: list[CellValue], number: int) -> _Leftover | None:
        """What the row ``number`` holds in the table's other columns than
        its identity, when these read empty: None when nothing."""
        width = len(row)
        marker = next(filter(None, map(end_marker, row)), None)
        kind = None
        for position, column in self.others:
            value = row[position] if position < width else None
            if _empty(value):
                if (number, position) in self.unknown:
                    kind = _Kind.PREFILLED
                continue
            if marker is not None and end_marker(value) is not None:
                continue
            if position == self.seq and _NUMBERED.match(compact(value)):
                kind = kind or _Kind.NUMBERED
            elif self._prefilled(column, position, value, number):
                kind = _Kind.PREFILLED
            else:
                return _Leftover(_Kind.DATA, column)
        if marker is not None:
            return _Leftover(_Kind.MARKER, text=marker)
        return None if kind is None else _Leftover(kind)

    def _prefilled(
        self, column: Column, position: int, value: CellValue, number: int
    ) -> bool:
        """Whether a cell holds a formula, or a template column's value filled
        down from the data rows above."""
        if position in self.seen and self._filled_down(column, position, value):
            return True
        return self._formula(number, position)

    def _filled_down(self, column: Column, position: int, value: CellValue) -> bool:
        text = compact(value)
        if column is Column.STATUS and STATUS_WORDS.get(text) is not ExamStatus.PRESENT:
            return False
        rows = self.grid.rows
        for index in self.data_rows[self.seen_rows :]:
            row = rows[index]
            for at, values in self.seen.items():
                if at < len(row) and (held := compact(row[at])):
                    values.add(held)
        self.seen_rows = len(self.data_rows)
        return text in self.seen[position]


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
