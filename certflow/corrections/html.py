"""Turning an HTML mail body into the lines a person sees, for the text form reader.

Webmail and Outlook often send HTML only. Paragraphs and line breaks become lines;
a table row becomes one line with its cells separated by tabs, so a two-column
"label | value" table reads like typed "label：value" lines and a table with a
header row reads like rows pasted from the spreadsheet.

Only text a reader sees is kept. Comments, ``<head>``, ``<script>``, ``<style>``,
``<template>`` and the other elements never rendered are dropped, and so is text
that CSS hides (``certflow.corrections.css``): a request must not be filed from
text the person who opens the mail cannot see. Element nesting is followed as a
browser would for the tags mail uses (``<p>`` ended by the next block, ``<li>``
by the next item, ``<div/>`` left open), since a hidden element that a browser
keeps open hides what follows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser

from certflow.corrections.css import (
    Look,
    Stylesheet,
    computed,
    declarations,
    parse_colour,
    without_comments,
)

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
# Elements whose content is never rendered. <noscript> is shown or not depending
# on the client; what some readers do not see is not read.
_NEVER_SHOWN = {
    "head",
    "title",
    "style",
    "script",
    "template",
    "noscript",
    "iframe",
    "noembed",
    "noframes",
}
# Elements without content or end tag: they never enclose text.
_VOID = {
    "area",
    "base",
    "br",
    "col",
    "embed",
    "hr",
    "img",
    "input",
    "link",
    "meta",
    "param",
    "source",
    "track",
    "wbr",
}
# Elements whose content a browser takes as text up to their own end tag; the
# standard parser reads tags in them, which are ignored here.
_RAW_TEXT = {"title", "iframe", "noembed", "noframes"}
# What <head> may hold; any other start tag ends it, as in a browser.
_HEAD_CONTENT = {"title", "style", "script", "meta", "link", "base", "noscript"}
# Start tags that end an open <p> (HTML's "close a p element").
_ENDS_P = _BLOCKS - {"br", "tr"} | {
    "address",
    "aside",
    "dl",
    "fieldset",
    "figure",
    "footer",
    "form",
    "header",
    "main",
    "nav",
    "ol",
    "ul",
}
# Start tag -> (the open elements it ends, the elements that bound the search).
_IMPLIED_END: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "li": (frozenset({"li"}), frozenset({"ul", "ol", "table"})),
    "dt": (frozenset({"dt", "dd"}), frozenset({"dl", "table"})),
    "dd": (frozenset({"dt", "dd"}), frozenset({"dl", "table"})),
    "td": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "th": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "tr": (frozenset({"tr"}), frozenset({"table", "tbody", "thead", "tfoot"})),
    "option": (frozenset({"option"}), frozenset({"select"})),
}
_P_SCOPE = frozenset({"table", "td", "th", "button", "template"})
# How far down the open elements an implied end is looked for: real mail nests a
# few dozen deep, and a deeper search would let a hostile page cost quadratic time.
_SEARCH_DEPTH = 64
# A style block's start tag and end; found one after the other
# (``_style_sheets``), never as one pattern: ``<style[^>]*>(.*?)</style``
# read on from each ``<style`` of a body holding no ``</style`` to the end,
# and a 140 KB body of them took 22 seconds (the mailbox's worker held).
_STYLE_START = re.compile(r"<style\b", re.IGNORECASE)
_STYLE_END = re.compile(r"</style", re.IGNORECASE)


@dataclass(frozen=True)
class _Open:
    """An open element: its tag and how its text looks."""

    tag: str
    look: Look


class _TextCollector(HTMLParser):
    """Collect visible text, keeping line and table-cell boundaries."""

    def __init__(self, sheet: Stylesheet) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._cells: list[str] | None = None
        self._cell: list[str] | None = None
        self._sheet = sheet
        self._open: list[_Open] = []
        self._open_count: dict[str, int] = {}
        self._root = Look(gone=sheet.unreadable)

    @property
    def _look(self) -> Look:
        return self._open[-1].look if self._open else self._root

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        # HTML ignores the slash of <div/>: the element stays open.
        self.handle_starttag(tag, attrs)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._open and self._open[-1].tag in _RAW_TEXT:
            return
        self._end_implied(tag)
        look = self._look_of(tag, dict(attrs))
        if tag not in _VOID:
            self._open.append(_Open(tag, look))
            self._open_count[tag] = self._open_count.get(tag, 0) + 1
        if look.gone:
            return
        if tag == "tr":
            self._end_row()
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
        if self._open and self._open[-1].tag in _RAW_TEXT - {tag}:
            return
        closed = self._close(tag)
        # A stray end tag (nothing open to close) still ends a line or a cell,
        # unless it stands inside something not rendered.
        if (closed.look if closed is not None else self._look).gone:
            return
        if tag in _CELLS:
            self._end_cell()
        elif tag == "tr" or (tag == "table" and self._cells is not None):
            self._end_row()
        elif tag in _BLOCKS and self._cell is None:
            self._break()

    def handle_data(self, data: str) -> None:
        if not self._look.shows_text:
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

    def _look_of(self, tag: str, attrs: dict[str, str | None]) -> Look:
        classes = set((attrs.get("class") or "").lower().split())
        element_id = (attrs.get("id") or "").lower()
        layers = self._sheet.matching(tag, classes, element_id)
        if tag == "font" and parse_colour(attrs.get("color") or ""):
            layers.insert(0, {"color": (attrs["color"] or "", False)})
        if parse_colour(attrs.get("bgcolor") or ""):
            layers.insert(0, {"background-color": (attrs["bgcolor"] or "", False)})
        hidden = tag in _NEVER_SHOWN or "hidden" in attrs
        if not layers and not attrs.get("style") and not hidden:
            return self._look  # most elements of a mail change nothing
        style = computed(layers, declarations(attrs.get("style") or ""))
        return self._look.child(style, hidden=hidden)

    def _end_implied(self, tag: str) -> None:
        """Close what a browser closes when ``tag`` starts."""
        if tag not in _HEAD_CONTENT:
            self._close("head")
        if tag in _ENDS_P:
            self._close("p", bounds=_P_SCOPE)
        if tag in _IMPLIED_END:
            ends, bounds = _IMPLIED_END[tag]
            for name in ends:
                self._close(name, bounds=bounds)

    def _close(self, tag: str, bounds: frozenset[str] = frozenset()) -> _Open | None:
        """Pop the innermost open ``tag`` and what it holds; None if none is open."""
        if not self._open_count.get(tag):
            return None
        for depth in range(1, min(len(self._open), _SEARCH_DEPTH) + 1):
            element = self._open[-depth]
            if element.tag in bounds:
                return None
            if element.tag == tag:
                for popped in self._open[-depth:]:
                    self._open_count[popped.tag] -= 1
                del self._open[-depth:]
                return element
        return None

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


def _style_sheets(html: str) -> Iterator[str]:
    """The text of each ``<style>`` block of ``html``, in order, its
    comments left out (a browser ends a comment left open with its own
    block); a block never closed ends the search, as the body holds no sheet
    after it. The start tag ends at its first ``>``, as a browser reads it
    (a ``<`` inside it included). Each character is read once."""
    position = 0
    while (start := _STYLE_START.search(html, position)) is not None:
        opened = html.find(">", start.end())
        if opened == -1:
            return
        end = _STYLE_END.search(html, opened + 1)
        if end is None:
            return
        yield without_comments(html[opened + 1 : end.start()])
        position = end.end()


def html_to_text(html: str) -> str:
    """Return the visible text of an HTML body, one block or table row a line."""
    # Every <style> block applies, also one below the text it hides; one inside a
    # comment is taken too, which can only hide more.
    css = "\n".join(_style_sheets(html))
    collector = _TextCollector(Stylesheet.parse(css))
    collector.feed(html)
    collector.close()
    return "\n".join(collector.lines)
