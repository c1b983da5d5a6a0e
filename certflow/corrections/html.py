"""Turning an HTML mail body into lines the text form reader understands.

Webmail and Outlook often send HTML only. Paragraphs and line breaks become lines;
a table row becomes one line with its cells separated by tabs, so a two-column
"label | value" table reads like typed "label：value" lines and a table with a
header row reads like rows pasted from the spreadsheet.
"""

from __future__ import annotations

from html.parser import HTMLParser

_BLOCKS = {
    "p",
    "div",
    "br",
    "li",
    "tr",
    "table",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "section",
    "article",
    "hr",
}
_CELLS = {"td", "th"}
_HIDDEN = {"style", "script", "head", "title"}


class _TextCollector(HTMLParser):
    """Collect visible text, keeping line and table-cell boundaries."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._cells: list[str] | None = None
        self._cell: list[str] | None = None
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag == "tr":
            self._break()
            self._cells = []
        elif tag in _CELLS:
            self._end_cell()
            self._cell = []
        elif tag == "br" and self._cell is not None:
            # A line break inside a cell keeps the cell together.
            self._cell.append(" ")
        elif tag in _BLOCKS and self._cell is None:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _CELLS:
            self._end_cell()
        elif tag == "tr" or (tag == "table" and self._cells is not None):
            self._end_row()
        elif tag in _BLOCKS and self._cell is None:
            self._break()

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        text = " ".join(data.replace("\xa0", " ").split())
        if data[:1].isspace() and text:
            text = " " + text
        if not text:
            return
        (self._cell if self._cell is not None else self._line).append(text)

    def close(self) -> None:
        super().close()
        self._end_row()
        self._break()

    def _end_cell(self) -> None:
        if self._cell is not None and self._cells is not None:
            self._cells.append("".join(self._cell).strip())
        self._cell = None

    def _end_row(self) -> None:
        self._end_cell()
        if self._cells is not None:
            cells = self._cells
            while cells and not cells[-1]:
                cells.pop()
            if len(cells) == 2 and cells[0].rstrip().endswith((":", "：")):
                self.lines.append(cells[0] + cells[1])
            elif len(cells) == 2:
                self.lines.append(f"{cells[0]}：{cells[1]}")
            elif cells:
                self.lines.append("\t".join(cells))
        self._cells = None

    def _break(self) -> None:
        text = "".join(self._line).strip()
        if text:
            self.lines.append(text)
        self._line = []


def html_to_text(html: str) -> str:
    """Return the visible text of an HTML body, one block or table row a line."""
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    return "\n".join(collector.lines)
