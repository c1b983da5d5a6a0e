"""Which face a certificate is drawn in, and finding that face on this machine.

The certificate font can be switched (``CERTFLOW_CJK_FONT``), say to a face
that prints a rare character of a name; certificates drawn before keep the
face they were drawn in. So a verifier does not compare a page with the
face configured here but with the face the page was drawn in, found among
the fonts certificates may have been drawn in (:func:`certificate_fonts`):
the configured one and the earlier ones (``CERTFLOW_PREVIOUS_CJK_FONTS``,
by default every Debian CJK font of :data:`~certflow.certificates.fonts.KNOWN_FONTS`
installed here).

A face is known by two things. Its name on the page (:func:`face_name`): both
writers name the embedded font after the face's full name, letters and digits
kept (``WenQuanYiMicroHei``, ``NotoSansCJKSC``), which tells faces apart but
not releases of one face. Its id (:func:`font_id`): that name, a colon and a
digest of the face's tables, which certificates name in their signed data
(``CertificateData.font``) from the release that drew them.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from functools import cache, lru_cache
from pathlib import Path

from fontTools.ttLib import TTFont, TTLibError

from certflow.certificates.fonts import (
    FONT_ENV,
    KNOWN_FONTS,
    CjkFont,
    FontNotFoundError,
    choose_face,
    find_font,
    load_font,
)

FONT_ENV_PREVIOUS = "CERTFLOW_PREVIOUS_CJK_FONTS"

_SUBSET_TAG = re.compile(r"^[A-Z]{6}\+")


def face_name(full_name: str) -> str:
    """The name the writers give a face on the page, from its full name.

    The letters and digits of the full name (``WenQuanYi Micro Hei`` →
    ``WenQuanYiMicroHei``): what the direct writer's and fpdf2's font names
    (``/BaseFont``, after the subset tag) have in common.
    """
    return re.sub(r"[^A-Za-z0-9]", "", full_name)[:64] or "CJK"


def page_face_name(base_font: str) -> str:
    """The face name of a page's font, from its ``/BaseFont`` (``TAG+Name``)."""
    return face_name(_SUBSET_TAG.sub("", base_font.lstrip("/")))


def font_id(font: CjkFont) -> str:
    """The id a certificate drawn in ``font`` names it by (``CertificateData.font``).

    ``{face name}:{16 hex digits}``, the digits a SHA-256 over the face's
    tables: one release of one face, the same on every machine that has it.
    """
    return _font_id(font.path, font.face_index)


@cache
def _font_id(path: Path, face_index: int) -> str:
    face = TTFont(str(path), fontNumber=face_index, lazy=True)
    try:
        digest = hashlib.sha256()
        for tag in sorted(face.reader.keys()):
            data = face.reader[tag]
            digest.update(tag.encode("latin-1") + len(data).to_bytes(4, "big"))
            digest.update(data)
        full_name = face["name"].getBestFullName() or ""
    finally:
        face.close()
    return f"{face_name(full_name)}:{digest.hexdigest()[:16]}"


def certificate_fonts() -> list[Path]:
    """The font files certificates may have been drawn in, here.

    The configured certificate font first (when it is there), then the files
    ``CERTFLOW_PREVIOUS_CJK_FONTS`` lists (separated by ``:``), or where it
    is unset every Debian CJK font known to certflow that is installed.
    """
    return list(
        _certificate_fonts(
            os.environ.get(FONT_ENV) or None,
            os.environ.get(FONT_ENV_PREVIOUS),
        )
    )


@lru_cache(maxsize=16)
def _certificate_fonts(
    configured: str | None, previous: str | None
) -> tuple[Path, ...]:
    del configured  # part of the cache key: find_font reads it from the environment
    paths: list[Path] = []
    try:
        paths.append(find_font())
    except FontNotFoundError:
        pass  # a verifier without the configured font still has the others
    if previous is None:
        paths += [Path(candidate) for candidate, _package in KNOWN_FONTS]
    else:
        paths += [Path(p) for p in previous.split(os.pathsep) if p.strip()]
    found: list[Path] = []
    for path in paths:
        if path.is_file() and path.resolve() not in found:
            found.append(path.resolve())
    return tuple(found)


def find_face(name: str, wanted: str | None = None) -> CjkFont | None:
    """The face named ``name`` on the page, among :func:`certificate_fonts`.

    With ``wanted`` (a certificate's signed font id), only that release of
    the face. ``None`` when this machine has no such face: a certificate drawn
    in it can be verified but for its glyphs.
    """
    for path in certificate_fonts():
        if _file_face_name(path) != name:
            continue
        font = load_font(path)
        if wanted is None or font_id(font) == wanted:
            return font
    return None


@cache
def _file_face_name(path: Path) -> str | None:
    """The face name of the face certflow draws from ``path`` (read, not parsed).

    ``None`` for a file listed as a font that is none: no certificate was
    drawn in it.
    """
    try:
        face = TTFont(str(path), fontNumber=choose_face(path), lazy=True)
        try:
            return face_name(face["name"].getBestFullName() or "")
        finally:
            face.close()
    except (OSError, TTLibError, KeyError, ValueError, struct.error):
        return None
