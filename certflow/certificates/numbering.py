"""Certificate numbers: a configurable pattern over a few known fields.

The database allocates a plain sequence number per :meth:`NumberScheme.sequence_key`
(one counter per key, never reused); this module turns it into the printed number.
Distinct sequence numbers under one key, or distinct keys, give distinct numbers
as long as the pattern passes :meth:`NumberScheme.validate_pattern`.
"""

from __future__ import annotations

import re
import string
from typing import Any, ClassVar

from pydantic import Field, model_validator

from certflow.models import Level, Model

LEVEL_DIGITS: dict[Level, str] = {
    Level.ELEMENTARY: "1",
    Level.INTERMEDIATE: "2",
    Level.ADVANCED: "3",
}

_SEQ_SPEC = re.compile(r"^0([1-9]|1[0-9])d$")
_CODE = re.compile(r"^[A-Z0-9]{1,12}$")
_LITERAL = re.compile(r"^[A-Za-z0-9-]*$")


class NumberSchemeError(ValueError):
    """The configured number scheme cannot produce unique numbers."""


class NumberScheme(Model):
    """证书编号规则: how a certificate number is composed.

    ``pattern`` is a ``str.format`` template over these fields:

    - ``{org}``: the evaluation organisation's code (``org_code``);
    - ``{year}``: the four-digit issue year; ``{yy}``: its last two digits;
    - ``{cert}``: the code of the certificate type (``certificate_codes``);
    - ``{level}``: the level digit, 1 elementary, 2 intermediate, 3 advanced;
    - ``{seq:0Nd}``: the sequence number, zero-padded to exactly N digits.

    Literal text between fields may use ASCII letters, digits and ``-``. The
    default gives ``ZCX2026QCYY2000001`` for the first intermediate 汽车运用与维修
    certificate of 2026.
    """

    pattern: str = "{org}{year}{cert}{level}{seq:06d}"
    org_code: str = "ZCX"
    certificate_codes: dict[str, str] = Field(
        default_factory=lambda: {"汽车运用与维修": "QCYY"}
    )

    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"org", "year", "yy", "cert", "level", "seq"}
    )

    @model_validator(mode="after")
    def _check(self) -> NumberScheme:
        self.validate_pattern()
        return self

    def validate_pattern(self) -> None:
        """Refuse a pattern or codes that could print two certificates alike.

        The sequence must appear once with a fixed width, every other field at
        most once, codes must be upper-case ASCII, and no certificate code may be
        a prefix of another (so each number reads back to one key).
        """
        seen: list[str] = []
        for literal, name, spec, conversion in string.Formatter().parse(self.pattern):
            if not _LITERAL.match(literal):
                raise NumberSchemeError(
                    f"Number pattern text {literal!r} may hold only ASCII letters, "
                    "digits and '-'."
                )
            if name is None:
                continue
            if name not in self.FIELDS or conversion:
                raise NumberSchemeError(
                    f"Unknown field {{{name}}} in number pattern {self.pattern!r}; "
                    f"known fields: {', '.join(sorted(self.FIELDS))}."
                )
            if name in seen:
                raise NumberSchemeError(
                    f"Field {{{name}}} appears twice in the pattern."
                )
            if name == "seq" and not _SEQ_SPEC.match(spec or ""):
                raise NumberSchemeError(
                    "The sequence must be zero-padded to a fixed width, e.g. {seq:06d}."
                )
            if name != "seq" and spec:
                raise NumberSchemeError(f"Field {{{name}}} takes no format spec.")
            seen.append(name)
        if "seq" not in seen:
            raise NumberSchemeError("The number pattern must contain {seq:0Nd}.")
        if "year" in seen and "yy" in seen:
            raise NumberSchemeError("Use either {year} or {yy}, not both.")

        if not _CODE.match(self.org_code):
            raise NumberSchemeError(
                f"Organisation code {self.org_code!r} is not A-Z0-9."
            )
        codes = list(self.certificate_codes.values())
        for code in codes:
            if not _CODE.match(code):
                raise NumberSchemeError(f"Certificate code {code!r} is not A-Z0-9.")
        if len(set(codes)) != len(codes):
            raise NumberSchemeError("Two certificate types share one code.")
        for a in codes:
            for b in codes:
                if a != b and b.startswith(a):
                    raise NumberSchemeError(
                        f"Certificate code {a!r} is a prefix of {b!r}; numbers "
                        "could not be read back unambiguously."
                    )

    @property
    def sequence_width(self) -> int:
        """The number of digits of the sequence part."""
        for _literal, name, spec, _conv in string.Formatter().parse(self.pattern):
            if name == "seq" and spec:
                return int(spec[1:-1])
        raise NumberSchemeError("pattern has no {seq}")  # unreachable after validation

    def certificate_code(self, certificate: str) -> str:
        """Return the code of a certificate type, or raise naming the missing one."""
        try:
            return self.certificate_codes[certificate]
        except KeyError:
            raise NumberSchemeError(
                f"No certificate code configured for {certificate!r}; add it to "
                "the number scheme's certificate_codes."
            ) from None

    def _fields(self, year: int, certificate: str, level: Level) -> dict[str, str]:
        if not 2000 <= year <= 2099:
            raise NumberSchemeError(f"Issue year {year} is out of range 2000-2099.")
        return {
            "org": self.org_code,
            "year": f"{year:04d}",
            "yy": f"{year % 100:02d}",
            "cert": self.certificate_code(certificate),
            "level": LEVEL_DIGITS[Level(level)],
        }

    def format(self, *, year: int, certificate: str, level: Level, seq: int) -> str:
        """Return the certificate number for one allocated sequence number.

        ``seq`` starts at 1 and must fit the fixed width: an overflow would make
        the number longer and possibly equal to another, so it raises instead.
        """
        if not 1 <= seq < 10**self.sequence_width:
            raise NumberSchemeError(
                f"Sequence {seq} does not fit {self.sequence_width} digits; widen "
                "{seq} in the number pattern."
            )
        return self.pattern.format(**self._fields(year, certificate, level), seq=seq)

    def sequence_key(self, *, year: int, certificate: str, level: Level) -> str:
        """Return the key of the counter a sequence number is allocated under.

        The key holds exactly the fields the pattern prints besides the sequence,
        so two numbers from different counters always differ in a printed part,
        and a pattern without ``{year}`` keeps one counter across years.
        """
        values = self._fields(year, certificate, level)
        parts = [
            f"{name}={values[name]}"
            for _lit, name, _spec, _conv in string.Formatter().parse(self.pattern)
            if name is not None and name != "seq"
        ]
        return "|".join(parts) if parts else "all"

    def parse(self, number: str) -> dict[str, Any] | None:
        """Read a number back into its fields, or ``None`` if it does not match."""
        regex = ""
        for literal, name, _spec, _conv in string.Formatter().parse(self.pattern):
            regex += re.escape(literal)
            if name == "org":
                regex += f"(?P<org>{re.escape(self.org_code)})"
            elif name == "year":
                regex += r"(?P<year>\d{4})"
            elif name == "yy":
                regex += r"(?P<yy>\d{2})"
            elif name == "cert":
                codes = "|".join(re.escape(c) for c in self.certificate_codes.values())
                regex += f"(?P<cert>{codes})"
            elif name == "level":
                regex += "(?P<level>[123])"
            elif name == "seq":
                regex += rf"(?P<seq>\d{{{self.sequence_width}}})"
        match = re.fullmatch(regex, number)
        if match is None:
            return None
        found: dict[str, Any] = match.groupdict()
        found["seq"] = int(found["seq"])
        if "level" in found:
            digit = found.pop("level")
            found["level"] = next(lv for lv, d in LEVEL_DIGITS.items() if d == digit)
        if "cert" in found:
            code = found.pop("cert")
            found["certificate"] = next(
                name for name, c in self.certificate_codes.items() if c == code
            )
        return found
