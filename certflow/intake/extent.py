"""How far an ods's sheets reach, counted before the cell reader makes a cell.

An ods writes a cell repeated along its row (``table:number-columns-repeated``)
and a row repeated down its sheet (``table:number-rows-repeated``) once, with
the count, so a few bytes may claim millions of cells. The cell reader
(python-calamine) makes every cell from the sheet's first to its last holding
content, the empty ones between included, before certflow's caps are checked:
a 1 KB file kept it busy for seconds and held gigabytes. LibreOffice saves the
rows and columns past the table the same way, with huge counts (the last row
repeated 1,048,000 times), but their cells hold nothing and the cell reader
makes nothing of them.

So ``content.xml`` is walked once while the container check inflates it, and
only the counts are added up. A cell holds content when it keeps a value or a
formula (a value type, a value, a ``table:formula``): the cell reader makes
every such cell; a cell holding only a style, a comment or text without a
value type reads as empty to it, and counts for nothing here. Per sheet, the
last row holding content and the widest row (the end of its last cell holding
content) give the extent the cell reader fills in.

The same walk counts the characters the cell reader copies into the cells
(``SheetExtent.text``): it copies a cell's text into each of its repeats, and
writes ``<text:s text:c="100000000"/>`` as that many spaces, so a 700-byte
file asked it for gigabytes and aborted the process. The count is an upper
bound, as the reader need not keep all it is given: every character of the
cell's text, each run of spaces at its count, each element inside the cell
(a paragraph's line break, a tab) as one, and its value written as text
(``office:string-value``, a date or a time), times its repeats along the
row and down the sheet.

The walk is expat's, strict: text that is not XML raises ``ExpatError``, so
nothing the cell reader would read is hidden from it by a malformed tag.
Elements and attributes are known by their local name, whatever their prefix.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from xml.parsers import expat

# What an element or an attribute is to the walk, by its local name.
_OTHER, _TABLE, _ROW, _CELL, _ROWS, _COLUMNS, _CONTENT, _NAME = range(8)
_SPACES, _TEXT = 8, 9
_ROLES = {
    # A run of spaces, written as its count (``text:c``).
    "s": _SPACES,
    "table": _TABLE,
    "table-row": _ROW,
    "table-cell": _CELL,
    "covered-table-cell": _CELL,
    "number-rows-repeated": _ROWS,
    "number-columns-repeated": _COLUMNS,
    "name": _NAME,
    # The attributes by which a cell keeps a value or a formula; of them,
    # those whose text the reader may keep as it is written (``_TEXT``).
    "value-type": _CONTENT,
    "value": _CONTENT,
    "string-value": _TEXT,
    "date-value": _TEXT,
    "time-value": _TEXT,
    "boolean-value": _CONTENT,
    "formula": _CONTENT,
}
# How many names' roles are remembered: an office suite's file uses a few
# dozen.
_NAMES_KEPT = 1024
# A count of more digits is taken as ``_HUGE``: far past any cap.
_DIGITS = 18
_HUGE = 10**_DIGITS

StartHandler = Callable[[str, dict[str, str]], None]
EndHandler = Callable[[str], None]
TextHandler = Callable[[str], None]


@dataclass
class SheetExtent:
    """The part of one ods sheet the cell reader fills in, from its first cell.

    ``rows`` is the last row holding content (1-based; 0 when none holds
    any), ``columns`` the count of columns up to the end of the widest row's
    last cell holding content, and ``widest_row`` that row (the first of its
    repeats). ``text`` is the characters the reader copies into its cells,
    at most (counted where a format lets a cell's text be repeated).
    """

    name: str
    rows: int = 0
    columns: int = 0
    widest_row: int = 0
    text: int = 0

    @property
    def cells(self) -> int:
        """The cells of the extent, the empty ones among them included."""
        return self.rows * self.columns


@dataclass
class _Walk:
    """Where the walk of one sheet stands: the rows read before the current
    one, how many times the current one is repeated, the columns read in it
    and the end of its last cell holding content; the characters of the
    current row's cells read (their repeats along it included), and of the
    cell open, if one is (``cell_columns`` its repeats, 0 when none is)."""

    sheet: SheetExtent
    row: int = 0
    repeated: int = 1
    column: int = 0
    reach: int = 0
    row_text: int = 0
    cell_text: int = 0
    cell_columns: int = 0


class OdsExtent:
    """The extent of an ods's sheets, added up as ``content.xml`` is fed.

    ``cells`` counts the cells of every sheet's extent together; ``tallest``
    is the sheet reaching farthest down and ``largest`` the one of the most
    cells, so far; ``text`` the characters copied into cells, and
    ``wordiest`` the sheet copying the most; ``sheets`` the sheets met.
    They are kept up row by row, so asking costs nothing however many
    sheets the file holds. The work is a step per element, whatever the
    counts say: no cell is made. A table written inside a cell (the format
    allows one) is a sheet of its own to the walk, so it neither hides nor
    adds rows of the sheet around it.
    """

    def __init__(self) -> None:
        self.cells = 0
        self.text = 0
        self.sheets = 0
        self.tallest: SheetExtent | None = None
        self.largest: SheetExtent | None = None
        self.wordiest: SheetExtent | None = None
        self._parser = expat.ParserCreate()
        start, end, text = self._handlers()
        self._parser.StartElementHandler = start
        self._parser.EndElementHandler = end
        self._parser.CharacterDataHandler = text

    def feed(self, chunk: bytes, *, final: bool = False) -> None:
        """Walk the next ``chunk`` of ``content.xml``; ``final`` for the last.

        Raises ``expat.ExpatError`` when the text is not XML.
        """
        self._parser.Parse(chunk, final)

    def _handlers(self) -> tuple[StartHandler, EndHandler, TextHandler]:
        """The handlers expat calls for every element's start and end, and
        for the text between.

        Closures over their state, the roles of the names met looked up
        once per name: expat calls them for every paragraph and span of
        text too, and a sheet of 20,000 rows holds half a million elements.
        """
        roles: dict[str, int] = {}
        walks: list[_Walk] = []  # the sheets open, the innermost last

        def role(name: str) -> int:
            found = _ROLES.get(name.rpartition(":")[2], _OTHER)
            if len(roles) < _NAMES_KEPT:  # a file may make up names without end
                roles[name] = found
            return found

        def start(tag: str, attributes: dict[str, str]) -> None:
            kind = roles.get(tag)
            if kind is None:
                kind = role(tag)
            if kind == _OTHER or kind == _SPACES:
                # A paragraph, a span: most elements. Inside a cell, each
                # is a character of its text at most (a line break between
                # two paragraphs, a tab), a run of spaces its count.
                if walks and walks[-1].cell_columns:
                    walks[-1].cell_text += 1 if kind == _OTHER else _spaces(attributes)
                return
            if kind == _CELL and walks:
                walk = walks[-1]
                columns, content, text = 1, False, 0
                for key, value in attributes.items():
                    meaning = roles.get(key)
                    if meaning is None:
                        meaning = role(key)
                    if meaning == _CONTENT:
                        content = True
                    elif meaning == _TEXT:
                        content = True
                        text += len(value)
                    elif meaning == _COLUMNS:
                        columns = _count(value)
                walk.column += columns
                if content:
                    walk.reach = walk.column
                walk.cell_text, walk.cell_columns = text, columns
            elif kind == _ROW and walks:
                walk = walks[-1]
                walk.repeated = next(
                    (_count(v) for k, v in attributes.items() if role(k) == _ROWS), 1
                )
                walk.column = walk.reach = walk.row_text = 0
            elif kind == _TABLE:
                name = next((v for k, v in attributes.items() if role(k) == _NAME), "")
                self.sheets += 1  # one inside a cell too, as the reader lists it
                walks.append(_Walk(SheetExtent(name)))

        def end(tag: str) -> None:
            kind = roles.get(tag)
            if kind == _CELL and walks and walks[-1].cell_columns:
                walk = walks[-1]
                walk.row_text += walk.cell_text * walk.cell_columns
                walk.cell_columns = 0
            elif kind == _ROW and walks:
                self._row_read(walks[-1])
            elif kind == _TABLE and walks:
                inner = walks.pop()
                if walks and walks[-1].cell_columns:
                    # The reader reads a table inside a cell as the cell's
                    # text, copied into each of the cell's repeats: counted
                    # there, not once as a sheet of its own.
                    walks[-1].cell_text += inner.sheet.text
                    self.text -= inner.sheet.text

        def text(data: str) -> None:
            if walks and walks[-1].cell_columns:
                walks[-1].cell_text += len(data)

        return start, end, text

    def _row_read(self, walk: _Walk) -> None:
        """Count the row ``walk`` has just read, with its repeats."""
        sheet = walk.sheet
        if walk.row_text:
            copied = walk.row_text * walk.repeated
            sheet.text += copied
            self.text += copied
            if self.wordiest is None or sheet.text > self.wordiest.text:
                self.wordiest = sheet
        if walk.reach:
            before = sheet.cells
            sheet.rows = walk.row + walk.repeated
            if walk.reach > sheet.columns:
                sheet.columns = walk.reach
                sheet.widest_row = walk.row + 1
            self.cells += sheet.cells - before
            if self.tallest is None or sheet.rows > self.tallest.rows:
                self.tallest = sheet
            if self.largest is None or sheet.cells > self.largest.cells:
                self.largest = sheet
        walk.row += walk.repeated


def _spaces(attributes: dict[str, str]) -> int:
    """How many spaces a ``text:s`` element stands for: its ``text:c``, one
    when it says none."""
    count = next((v for k, v in attributes.items() if k.rpartition(":")[2] == "c"), "")
    return _count(count)


def _count(value: str) -> int:
    """How many columns or rows an element repeats: at least one, whatever the
    file says. A count of more digits than any real one holds is taken as
    huge without being read: reading a number of thousands of digits costs
    the square of their count."""
    text = value.strip().lstrip("+").lstrip("0")
    if len(text) > _DIGITS:
        return _HUGE if text.isdigit() else 1
    try:
        return max(int(text), 1)
    except ValueError:
        return 1
