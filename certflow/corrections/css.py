"""Just enough CSS to tell whether the text of an HTML mail is shown to a reader.

A request is what the person who opens the mail sees. Text a mail client does not
show (``display:none``, ``visibility:hidden``, a zero font size, white on white)
must not be read as one, or a sender could file a request the reader of the mail
never saw. This is no CSS engine: it evaluates inline styles, the presentational
attributes mail clients still honour, and the rules of ``<style>`` blocks matched
on their last simple selector only. Matching a rule on ``.x`` where the sheet said
``table .x`` hides more than a browser would, never less: text wrongly taken for
hidden goes to staff, text wrongly taken for shown would be filed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

# The properties looked at; a stylesheet rule setting none of them is dropped.
_PROPERTIES = frozenset(
    {
        "display",
        "visibility",
        "opacity",
        "mso-hide",
        "font-size",
        "color",
        "background",
        "background-color",
        "height",
        "max-height",
        "width",
        "max-width",
        "overflow",
        "position",
        "left",
        "top",
        "text-indent",
    }
)
# A sheet with more rules of interest than this is not a hand-written mail; it is
# not evaluated and the whole body counts as hidden (see ``Stylesheet.parse``).
MAX_RULES = 1000

# Text smaller than this (in CSS px) cannot be read.
_TINY_FONT_PX = 4.0
# Text whose colour differs from its background by no more than this on every
# channel (0-255) cannot be told from it.
_SAME_COLOUR = 16
# Moved this far off the page (CSS px), a box is out of sight.
_OFF_PAGE_PX = -999.0

_WHITE = (255, 255, 255, 1.0)
_BLACK = (0, 0, 0, 1.0)
# Named colours: the basic ones and the near-whites, which pass for white.
_NAMED: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255),
    "black": (0, 0, 0),
    "red": (255, 0, 0),
    "green": (0, 128, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "gray": (128, 128, 128),
    "grey": (128, 128, 128),
    "silver": (192, 192, 192),
    "snow": (255, 250, 250),
    "honeydew": (240, 255, 240),
    "mintcream": (245, 255, 250),
    "azure": (240, 255, 255),
    "aliceblue": (240, 248, 255),
    "ghostwhite": (248, 248, 255),
    "whitesmoke": (245, 245, 245),
    "floralwhite": (255, 250, 240),
    "ivory": (255, 255, 240),
    "lavenderblush": (255, 240, 245),
}
_UNIT_PX = {
    "px": 1.0,
    "pt": 4 / 3,
    "pc": 16.0,
    "in": 96.0,
    "cm": 96 / 2.54,
    "mm": 96 / 25.4,
    "q": 96 / 101.6,
}
_LENGTH = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))([a-z%]*)$")
_HEX = re.compile(r"^#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$")
_RGB = re.compile(r"^rgba?\(([^)]*)\)$")
# A rule's selectors and body. Tried only where a selector may start (the
# text's start, a brace): tried at every position, a run of text without a
# brace after it was read again from each of its characters, and 40 KB of a
# mailed style sheet took 8 seconds (a few hundred KB, hours).
_RULE = re.compile(r"(?:^|(?<=[{}]))([^{}]*)\{([^{}]*)\}")
_COMBINATOR = re.compile(r"\s*[>+~]\s*|\s+")
_PSEUDO_ELEMENT = re.compile(r"::|:(before|after|first-line|first-letter)\b")
_PSEUDO_OR_ATTRIBUTE = re.compile(r":{1,2}[\w-]+(\([^)]*\))?|\[[^\]]*\]")
_TAG = re.compile(r"^[a-z][\w-]*")
_CLASS = re.compile(r"\.([\w-]+)")
_ID = re.compile(r"#([\w-]+)")

Colour = tuple[int, int, int, float]


def without_comments(css: str) -> str:
    r"""``css`` without its comments; one left open runs to the end, as CSS
    reads it.

    Found by ``str.find``, each once: a pattern for a comment (``/\*.*?\*/``)
    was tried again from each ``/*`` of a text holding no ``*/``, and 60 KB of
    them in a mail took 4 seconds (a few hundred KB, minutes).
    """
    kept: list[str] = []
    position = 0
    while (start := css.find("/*", position)) != -1:
        kept.append(css[position:start])
        end = css.find("*/", start + 2)
        if end == -1:
            return "".join(kept)
        position = end + 2
    kept.append(css[position:])
    return "".join(kept)


def declarations(style: str) -> dict[str, tuple[str, bool]]:
    """Parse ``name: value; …`` into name -> (value, important), lower-cased."""
    found: dict[str, tuple[str, bool]] = {}
    for item in without_comments(style).split(";"):
        name, colon, value = item.partition(":")
        name = name.strip().lower()
        if not colon or name not in _PROPERTIES:
            continue
        value = " ".join(value.lower().split())
        important = value.endswith("!important")
        if important:
            value = value[: -len("!important")].strip()
        found[name] = (value, important)
    return found


@dataclass(frozen=True)
class _Rule:
    tag: str | None
    classes: frozenset[str]
    ids: frozenset[str]
    declarations: dict[str, tuple[str, bool]]

    @property
    def key(self) -> str | None:
        """One thing an element must have for the rule to match, as indexed."""
        if self.ids:
            return f"#{min(self.ids)}"
        if self.classes:
            return f".{min(self.classes)}"
        return f"<{self.tag}" if self.tag else None

    def matches(self, tag: str, classes: set[str], element_id: str) -> bool:
        return (
            (self.tag is None or self.tag == tag)
            and self.classes <= classes
            and all(i == element_id for i in self.ids)
        )


@dataclass
class Stylesheet:
    """The rules of a mail's ``<style>`` blocks that can hide text.

    ``unreadable`` is set when the sheet is too large to evaluate: the body is
    then taken as hidden altogether rather than read half-checked.
    """

    rules: list[_Rule] = field(default_factory=list)
    unreadable: bool = False
    # Rule positions by the id, class or tag they require (None: any element),
    # so an element is matched against its few candidates, not the whole sheet.
    _index: dict[str | None, list[int]] = field(default_factory=dict)

    @classmethod
    def parse(cls, css: str) -> Stylesheet:
        sheet = cls()
        # Only the innermost blocks match, so rules inside @media are taken as if
        # the media always applied: more is hidden, never less.
        for selectors, body in _RULE.findall(without_comments(css)):
            found = declarations(body)
            if not found:
                continue
            for selector in selectors.split(","):
                rule = _subject_rule(selector, found)
                if rule is not None:
                    sheet._index.setdefault(rule.key, []).append(len(sheet.rules))
                    sheet.rules.append(rule)
            if len(sheet.rules) > MAX_RULES:
                return cls(unreadable=True)
        return sheet

    def matching(
        self, tag: str, classes: set[str], element_id: str
    ) -> list[dict[str, tuple[str, bool]]]:
        """The declarations of every rule matching the element, in sheet order."""
        keys: list[str | None] = [None, f"<{tag}", *(f".{c}" for c in classes)]
        if element_id:
            keys.append(f"#{element_id}")
        candidates = sorted({i for key in keys for i in self._index.get(key, ())})
        return [
            self.rules[i].declarations
            for i in candidates
            if self.rules[i].matches(tag, classes, element_id)
        ]


def _subject_rule(selector: str, found: dict[str, tuple[str, bool]]) -> _Rule | None:
    """A rule for the last compound selector of ``selector`` (what it styles)."""
    selector = selector.strip().lower()
    if not selector or selector.startswith("@"):
        return None
    subject = _COMBINATOR.split(selector)[-1]
    # A pseudo-element styles generated content, not the element's own text.
    if _PSEUDO_ELEMENT.search(subject):
        return None
    # Pseudo-classes and attribute tests are dropped: the rule then matches more.
    subject = _PSEUDO_OR_ATTRIBUTE.sub("", subject)
    tag = _TAG.match(subject)
    return _Rule(
        tag=tag.group(0) if tag else None,
        classes=frozenset(_CLASS.findall(subject)),
        ids=frozenset(_ID.findall(subject)),
        declarations=found,
    )


@dataclass(frozen=True)
class Look:
    """How an element's text appears, as far as visibility goes.

    ``gone`` is final for everything inside (``display:none`` and the like);
    ``invisible``, the font size and the colours are inherited but may be
    overridden by a descendant, as in CSS.
    """

    gone: bool = False
    invisible: bool = False
    tiny_font: bool = False
    colour: Colour = _BLACK
    background: Colour = _WHITE

    @property
    def shows_text(self) -> bool:
        """Whether text directly inside the element can be seen."""
        return not (
            self.gone
            or self.invisible
            or self.tiny_font
            or self.colour[3] < 0.1
            or _same_colour(self.colour, self.background)
        )

    def child(
        self, style: dict[str, tuple[str, bool]], *, hidden: bool = False
    ) -> Look:
        """The look of a child element with the given computed declarations."""
        value = {name: v for name, (v, _) in style.items()}
        gone = self.gone or hidden or _removed(value)
        visibility = value.get("visibility")
        invisible = (
            visibility in ("hidden", "collapse")
            if visibility in ("hidden", "collapse", "visible")
            else self.invisible
        )
        return Look(
            gone=gone,
            invisible=invisible,
            tiny_font=_tiny_font(value.get("font-size"), self.tiny_font),
            colour=parse_colour(value.get("color", "")) or self.colour,
            background=_background(value, self.background),
        )


def computed(
    sheet_matches: list[dict[str, tuple[str, bool]]],
    inline: dict[str, tuple[str, bool]],
) -> dict[str, tuple[str, bool]]:
    """Combine sheet rules and the inline style as the cascade does.

    Later wins, inline over the sheet, and an ``!important`` sheet declaration
    over a plain inline one. Specificity is not weighed.
    """
    result: dict[str, tuple[str, bool]] = {}
    for layer in (*sheet_matches, inline):
        for name, (value, important) in layer.items():
            if not important:
                result[name] = (value, important)
    for layer in (*sheet_matches, inline):
        for name, (value, important) in layer.items():
            if important:
                result[name] = (value, important)
    return result


def parse_colour(text: str) -> Colour | None:
    """Parse a CSS or HTML attribute colour; None when unknown (``inherit``…)."""
    text = text.strip().lower()
    if text == "transparent":
        return (0, 0, 0, 0.0)
    if text in _NAMED:
        return (*_NAMED[text], 1.0)
    if not text.startswith("#") and re.fullmatch(r"[0-9a-f]{6}", text):
        text = "#" + text  # bgcolor="ffffff", as old HTML writes it
    if match := _HEX.match(text):
        digits = match.group(1)
        if len(digits) <= 4:
            digits = "".join(d * 2 for d in digits)
        channels = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
        alpha = channels[3] / 255 if len(channels) == 4 else 1.0
        return (channels[0], channels[1], channels[2], alpha)
    if match := _RGB.match(text):
        parts = re.split(r"[\s,/]+", match.group(1).strip())
        if len(parts) not in (3, 4):
            return None
        try:
            rgb = [_channel(p) for p in parts[:3]]
            alpha = _alpha(parts[3]) if len(parts) == 4 else 1.0
        except ValueError:
            return None
        return (rgb[0], rgb[1], rgb[2], alpha)
    return None


def length_px(text: str) -> float | None:
    """Parse an absolute CSS length into px; None for relative or other values."""
    match = _LENGTH.match(text.strip())
    if match is None:
        return None
    number, unit = float(match.group(1)), match.group(2)
    if number == 0:
        return 0.0
    if unit in ("em", "rem"):
        return number * 16  # the default size: near enough for "far off the page"
    factor = _UNIT_PX.get(unit)
    return number * factor if factor is not None else None


def _removed(value: dict[str, str]) -> bool:
    """Whether the box is not rendered, has no room, or is off the page."""
    if value.get("display") == "none" or value.get("mso-hide") == "all":
        return True
    opacity = value.get("opacity", "1")
    try:
        if float(opacity.rstrip("%")) / (100 if opacity.endswith("%") else 1) < 0.1:
            return True
    except ValueError:
        pass
    clipped = value.get("overflow", "").split()[:1] in (["hidden"], ["clip"])
    for size in ("height", "max-height", "width", "max-width"):
        if clipped and length_px(value.get(size, "")) == 0:
            return True
    offsets = [value.get("text-indent", "")]
    if value.get("position") in ("absolute", "fixed"):
        offsets += [value.get("left", ""), value.get("top", "")]
    return any((length_px(o) or 0) <= _OFF_PAGE_PX for o in offsets)


def _tiny_font(size: str | None, inherited: bool) -> bool:
    if size is None:
        return inherited
    px = length_px(size)
    if px is not None:
        return px < _TINY_FONT_PX
    match = _LENGTH.match(size)
    if match and float(match.group(1)) == 0:
        return True
    # Relative sizes (1.2em, 80%, smaller) scale the parent's; keywords are legible.
    return inherited if match else False


def _background(value: dict[str, str], inherited: Colour) -> Colour:
    for name in ("background-color", "background"):
        for token in value.get(name, "").split():
            colour = parse_colour(token)
            if colour is not None and colour[3] >= 0.5:
                return colour
    return inherited


def _same_colour(a: Colour, b: Colour) -> bool:
    return all(abs(x - y) <= _SAME_COLOUR for x, y in zip(a[:3], b[:3], strict=True))


def _channel(text: str) -> int:
    value = _number(text) * (2.55 if text.endswith("%") else 1)
    return round(max(0.0, min(255.0, value)))


def _alpha(text: str) -> float:
    value = _number(text) / (100 if text.endswith("%") else 1)
    return max(0.0, min(1.0, value))


def _number(text: str) -> float:
    """A finite number, else ValueError: ``1e999`` or ``nan`` is no colour."""
    value = float(text.removesuffix("%"))
    if not math.isfinite(value):
        raise ValueError(text)
    return value
