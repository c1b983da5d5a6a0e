"""Checking that a certificate file holds nothing beyond what its writers write.

The page check (:mod:`certflow.certificates.pagecheck`) looks at what the page
draws. A PDF holds more than its page: its catalog can run document
JavaScript, list further attached files (an ``invoice.exe`` beside the signed
data), open an outline of links, or be a portfolio that shows another attached
PDF first. None of it touches the page, and all of it can be added to a genuine
certificate by an incremental update.

So the file's structure is compared with what either writer produces (the
direct writer, :mod:`certflow.certificates.pdfwriter`, and fpdf2 for faces with
PostScript outlines): every dictionary below holds only the keys they write,
and the one attached file is the signed data. This is an allow-list: anything
a PDF may hold that certflow does not write is refused, whether or not it is
known to be harmful.
"""

from __future__ import annotations

from typing import Any

from certflow.certificates.pagecheck import is_a4

# The keys each writer puts in each dictionary of the file (the union of both).
_CATALOG_KEYS = frozenset(
    {"/Type", "/Pages", "/Names", "/AF", "/Lang", "/OpenAction", "/PageLayout"}
)
_PAGES_KEYS = frozenset({"/Type", "/Kids", "/Count", "/MediaBox"})
_NAMES_KEYS = frozenset({"/EmbeddedFiles"})
_NAME_TREE_KEYS = frozenset({"/Names"})  # one leaf: no /Kids, no /Limits
_FILESPEC_KEYS = frozenset({"/Type", "/F", "/UF", "/EF", "/Desc", "/AFRelationship"})
_EMBEDDED_FILE_KEYS = frozenset(
    {"/Type", "/Subtype", "/Params", "/Length", "/Filter", "/DL"}
)
_PARAMS_KEYS = frozenset({"/Size", "/CreationDate", "/ModDate", "/CheckSum"})
# fpdf2 opens the document at its page, fitted to the window's width.
_OPENING_FIT = "/FitH"
_PAGE_LAYOUT = "/OneColumn"


def foreign_content(reader: Any, attachment: str) -> bool:
    """Whether the file of ``reader`` (a pypdf reader) holds anything, beyond its
    page's drawing, that the issuer's writers never write.

    ``attachment`` is the name of the signed data's file, the only file a
    certificate carries. A file with more than one page is left to the page
    check, which refuses it.
    """
    catalog = reader.trailer["/Root"].get_object()
    if not _only(catalog, _CATALOG_KEYS) or catalog.get("/Type") != "/Catalog":
        return True
    pages = catalog.get("/Pages")
    if pages is None or _foreign_pages(pages.get_object()):
        return True
    page_ref = pages.get_object()["/Kids"][0]
    if "/Lang" in catalog and not isinstance(catalog["/Lang"], str):
        return True
    if "/PageLayout" in catalog and catalog["/PageLayout"] != _PAGE_LAYOUT:
        return True
    if "/OpenAction" in catalog and not _opens_at(catalog["/OpenAction"], page_ref):
        return True
    filespec = _only_attachment(catalog.get("/Names"), attachment)
    if filespec is None:
        return True
    if "/AF" not in catalog:
        return False
    files = catalog["/AF"].get_object()
    return not (
        isinstance(files, list) and len(files) == 1 and _same(files[0], filespec)
    )


def altered_properties(
    reader: Any, *, title: str, number: str, organisation: str
) -> bool:
    """Whether the file's document properties (what a PDF viewer shows as
    its title, author and subject, and a file list as its name) say other
    than its signed data.

    Trial: a genuine certificate whose title and subject were changed to
    another number verified as valid, while every viewer showed that number.
    ``title``, ``number`` and ``organisation`` are what the signed data
    gives them, as every certificate has had them (the title is the whole
    of it: one ending in the number could show another before it). A
    property left out or empty says nothing false;
    others (keywords, dates) name no certificate, and are left to the reader.
    """
    if "/Info" not in reader.trailer:
        return False  # nothing shown that the page does not say
    info = reader.trailer["/Info"].get_object()
    if not hasattr(info, "get"):
        return True
    shown = {key: info.get(key) or "" for key in ("/Title", "/Subject", "/Author")}
    if not all(isinstance(value, str) for value in shown.values()):
        return True
    return not (
        shown["/Subject"] in ("", number)
        and shown["/Author"] in ("", organisation)
        and shown["/Title"] in ("", title)
    )


def _only(dictionary: Any, keys: frozenset[str]) -> bool:
    return hasattr(dictionary, "keys") and set(dictionary.keys()) <= keys


def _foreign_pages(pages: Any) -> bool:
    """The page tree is one node holding the one page, and nothing it passes on
    to the page (no inherited crop box, rotation or resources)."""
    if not _only(pages, _PAGES_KEYS) or pages.get("/Type") != "/Pages":
        return True
    kids = pages.get("/Kids")
    if not isinstance(kids, list) or len(kids) != 1 or pages.get("/Count") != 1:
        return True
    if not hasattr(kids[0], "idnum") or kids[0].get_object().get("/Type") != "/Page":
        return True
    box = pages.get("/MediaBox")
    return box is not None and not is_a4(box)


def _opens_at(opening: Any, page_ref: Any) -> bool:
    """fpdf2's opening view: the page itself, fitted to the window's width.

    An action dictionary (a script, a link, a launch) is not a view.
    """
    from pypdf.generic import NullObject

    view = opening.get_object()
    return (
        isinstance(view, list)
        and len(view) == 3
        and _same(view[0], page_ref)
        and view[1] == _OPENING_FIT
        and isinstance(view[2], NullObject | int | float)
    )


def _only_attachment(names: Any, attachment: str) -> Any:
    """The file specification of the one attached file, the signed data; ``None``
    if the names tree holds anything else (scripts, destinations, more files)."""
    if names is None:
        return None
    names = names.get_object()
    if not _only(names, _NAMES_KEYS) or "/EmbeddedFiles" not in names:
        return None
    tree = names["/EmbeddedFiles"].get_object()
    if not _only(tree, _NAME_TREE_KEYS):
        return None
    leaf = tree.get("/Names")
    if leaf is None:
        return None
    leaf = leaf.get_object()
    if not isinstance(leaf, list) or len(leaf) != 2 or leaf[0] != attachment:
        return None
    filespec = leaf[1]
    return filespec if _is_signed_data(filespec.get_object(), attachment) else None


def _is_signed_data(filespec: Any, attachment: str) -> bool:
    if not _only(filespec, _FILESPEC_KEYS) or filespec.get("/Type") != "/Filespec":
        return False
    if any(filespec.get(key, attachment) != attachment for key in ("/F", "/UF")):
        return False
    streams = filespec.get("/EF")
    if streams is None:
        return False
    streams = streams.get_object()
    if not _only(streams, frozenset({"/F", "/UF"})) or "/F" not in streams:
        return False
    # Compared as references: a pypdf dictionary resolves what it is indexed by.
    if not all(_same(streams.raw_get(k), streams.raw_get("/F")) for k in streams):
        return False  # a second file under the same name
    embedded = streams["/F"].get_object()
    params = embedded.get("/Params")
    return _only(embedded, _EMBEDDED_FILE_KEYS) and (
        params is None or _only(params.get_object(), _PARAMS_KEYS)
    )


def _same(one: Any, other: Any) -> bool:
    """Whether two references name the same object (both writers refer to the
    page, the file specification and the file by reference)."""
    return (
        hasattr(one, "idnum")
        and hasattr(other, "idnum")
        and (one.idnum, one.generation) == (other.idnum, other.generation)
    )
