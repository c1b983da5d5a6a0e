"""A plan's documents as staff see them: one line each, and who may fetch which.

Two records say what a plan holds. PostgreSQL's ``plan_documents`` keeps every
upload, accepted (with its version) or refused, and the files certflow
produced (the consistency reports, the national platform's import and update
files). The plan's state keeps the document of each kind it goes by now. An
application scan or a consistency report from before they were recorded
(workflow patch ``application-scans-recorded``, schema of the same release)
is known from the state alone, and only while the plan still goes by it.
``plan_documents`` puts the two together; the rules of who may fetch what are
the staff tool's to apply before it reads the store.

Pure: no I/O, so both the staff tool and its tests use it as it is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from certflow.models import DocumentKind, DocumentRef, Role
from certflow.plan import DUTY_OWNER, UPLOAD_DUTY, Duty

_EXAM_REVIEW = {Role.REGIONAL_CONTACT, Role.ADMIN}
_OWN_PLAN = {Role.LEAD_EVALUATOR, Role.SITE}

# Who may fetch each kind, by what their part of the process needs (PROCESS.md).
# The lead evaluator and the site fetch their own plan's exam material, which
# they upload, confirm (4.1.4) and redo when the review sends it back (4.1.5),
# and the site its application; the regional contact checks the exam material
# against itself (4.1.5); the regional manager verifies corrections against
# the summary, its signed paper and the scores as published (4.1.7); the info
# center publishes and updates the scores (4.1.6-4.1.7) and the tech dept signs
# off on them (4.2.2); finance checks the application's payment part and
# invoices from the form (4.2.3-4.2.4); the general manager approves on the
# payment confirmed (4.2.6). Kinds missing here (certificates, annotated
# reports) are for admins only: the tool never lists them.
DOCUMENT_READERS: dict[DocumentKind, frozenset[Role]] = {
    DocumentKind.SCORE_SUMMARY: frozenset(
        {
            *_OWN_PLAN,
            *_EXAM_REVIEW,
            Role.REGIONAL_MANAGER,
            Role.INFO_CENTER,
            Role.TECH_DEPT,
        }
    ),
    DocumentKind.SIGNED_SUMMARY_SCAN: frozenset(
        {*_OWN_PLAN, *_EXAM_REVIEW, Role.REGIONAL_MANAGER}
    ),
    DocumentKind.CANDIDATE_SIGN_IN: frozenset(
        {*_OWN_PLAN, *_EXAM_REVIEW, Role.REGIONAL_MANAGER}
    ),
    DocumentKind.EVALUATOR_SIGN_IN: frozenset({*_OWN_PLAN, *_EXAM_REVIEW}),
    DocumentKind.CONSISTENCY_REPORT: frozenset({*_OWN_PLAN, *_EXAM_REVIEW}),
    DocumentKind.PLATFORM_IMPORT: frozenset(
        {Role.REGIONAL_MANAGER, Role.INFO_CENTER, Role.TECH_DEPT, Role.ADMIN}
    ),
    DocumentKind.CERTIFICATE_APPLICATION: frozenset(
        {Role.SITE, Role.FINANCE, Role.GENERAL_MANAGER, Role.ADMIN}
    ),
    DocumentKind.INVOICE_DETAILS: frozenset({Role.SITE, Role.FINANCE, Role.ADMIN}),
}
# The kinds staff fetch, in the order of the process.
FETCHABLE_KINDS = tuple(DOCUMENT_READERS)
# Roles that reach one plan only: the plan's site and its lead evaluator.
OWN_PLAN_ONLY = frozenset(_OWN_PLAN)


def may_fetch(role: Role, kind: DocumentKind) -> bool:
    return role is Role.ADMIN or role in DOCUMENT_READERS.get(kind, ())


def readers(kind: DocumentKind) -> list[Role]:
    """The roles that may fetch ``kind``, in the order of ``Role``."""
    return [role for role in Role if may_fetch(role, kind)]


def fetchable_by(role: Role) -> list[DocumentKind]:
    """The kinds ``role`` may fetch, in the order of the process."""
    return [kind for kind in FETCHABLE_KINDS if may_fetch(role, kind)]


# The duty each upload is part of; its owner is the only role that uploads it.
_UPLOADED_FOR: dict[DocumentKind, Duty] = {
    **UPLOAD_DUTY,
    DocumentKind.CERTIFICATE_APPLICATION: Duty.APPLICATION,
    DocumentKind.INVOICE_DETAILS: Duty.APPLICATION,
}


def uploader_role(kind: DocumentKind) -> Role | None:
    """The role that uploads ``kind``; None for a file certflow produces."""
    duty = _UPLOADED_FOR.get(kind)
    return DUTY_OWNER[duty] if duty is not None else None


class DocumentState(StrEnum):
    """What became of a document, as far as the plan's records say."""

    # The plan's document of its kind now.
    CURRENT = "current"
    # An accepted version a later one replaced.
    SUPERSEDED = "superseded"
    # Accepted by intake, but the plan went on with an earlier one: the
    # application it came with was not processed after the form was read, or
    # was refused before such a form was recorded refused with it.
    NOT_TAKEN = "not_taken"
    # Refused by intake: kept for the record, no version.
    REFUSED = "refused"
    # A file certflow produced besides the plan's current one (an update file).
    PRODUCED = "produced"
    # A file certflow produced that the plan never went by (it was cancelled
    # while the file was made).
    NOT_USED = "not_used"


@dataclass(frozen=True)
class StoredDocument:
    """One row of ``plan_documents``, with its file's size and media type."""

    kind: DocumentKind
    version: int | None
    ref: DocumentRef
    uploaded_by: str
    uploaded_at: datetime
    accepted: bool
    problems: int = 0
    # Why the plan refused it unread (its words to the sender); "" if none kept.
    refusal: str = ""


@dataclass(frozen=True)
class Upload:
    """Who uploaded a file the plan alone keeps, and when (from the audit trail)."""

    person: str
    at: datetime


@dataclass(frozen=True)
class PlanDocument:
    """One document of a plan, as ``certflow document list`` shows it.

    ``version`` is the accepted version of an upload, or the place of a
    produced file among those of its kind; None where no number is kept.
    ``role`` None is certflow itself; ``person`` and ``at`` are empty where
    the records do not say.
    """

    kind: DocumentKind
    version: int | None
    ref: DocumentRef
    role: Role | None
    person: str
    at: datetime | None
    state: DocumentState
    problems: int = 0
    refusal: str = ""


def plan_documents(
    stored: Iterable[StoredDocument],
    held: Mapping[DocumentKind, DocumentRef],
    versions: Mapping[DocumentKind, int],
    uploads: Mapping[DocumentKind, Upload] | None = None,
) -> list[PlanDocument]:
    """Every document of a plan, by kind in the order of the process.

    ``stored`` are the plan's rows in the order they were written; ``held``
    the document the plan's state goes by for each kind and ``versions`` its
    version where the state numbers it; ``uploads`` who sent a held document
    no row records. A held document no accepted row records (one from before
    it was recorded) is listed from the state.
    """
    by_kind: dict[DocumentKind, list[StoredDocument]] = {}
    for row in stored:
        by_kind.setdefault(row.kind, []).append(row)
    order = [*FETCHABLE_KINDS, *(k for k in DocumentKind if k not in FETCHABLE_KINDS)]

    documents: list[PlanDocument] = []
    for kind in order:
        rows = by_kind.get(kind, [])
        current = held.get(kind)
        if uploader_role(kind) is None:
            documents += _produced(kind, rows, current)
        else:
            documents += _uploaded(kind, rows, current, versions.get(kind))
        # Recorded since: what an application scan or consistency report from
        # before replaced has no record; only the one held is listed.
        if current is not None and not any(
            r.accepted and r.ref.sha256 == current.sha256 for r in rows
        ):
            upload = (uploads or {}).get(kind)
            documents.append(
                PlanDocument(
                    kind=kind,
                    version=None,
                    ref=current,
                    role=uploader_role(kind),
                    person=upload.person if upload else "",
                    at=upload.at if upload else None,
                    state=DocumentState.CURRENT,
                )
            )
    return documents


def _uploaded(
    kind: DocumentKind,
    rows: list[StoredDocument],
    current: DocumentRef | None,
    current_version: int | None,
) -> list[PlanDocument]:
    """Uploads of one kind: the current version, those before it, refusals."""
    if current_version is None and current is not None:
        # The state names the file, not its version (the invoice form).
        same = [
            r.version for r in rows if r.accepted and r.ref.sha256 == current.sha256
        ]
        current_version = max((v for v in same if v is not None), default=None)
    role = uploader_role(kind)
    documents = []
    for row in rows:
        if not row.accepted:
            state = DocumentState.REFUSED
        elif row.version is not None and row.version == current_version:
            state = DocumentState.CURRENT
        elif row.version is not None and current_version is not None:
            state = (
                DocumentState.SUPERSEDED
                if row.version < current_version
                else DocumentState.NOT_TAKEN
            )
        else:
            state = DocumentState.NOT_TAKEN
        documents.append(
            PlanDocument(
                kind=kind,
                version=row.version if row.accepted else None,
                ref=row.ref,
                role=role,
                person=row.uploaded_by,
                at=row.uploaded_at,
                state=state,
                problems=row.problems,
                refusal=row.refusal,
            )
        )
    return documents


def _produced(
    kind: DocumentKind, rows: list[StoredDocument], current: DocumentRef | None
) -> list[PlanDocument]:
    """Files certflow produced, numbered in the order they were made.

    The import file comes first and the update files of corrections follow
    it, each its own; a consistency report replaces the one before it.
    """
    held = [
        n for n, row in enumerate(rows) if current and row.ref.sha256 == current.sha256
    ]
    at = held[-1] if held else -1
    documents = []
    for n, row in enumerate(rows):
        if n == at:
            state = DocumentState.CURRENT
        elif kind is DocumentKind.PLATFORM_IMPORT:
            state = DocumentState.PRODUCED
        elif n < at:
            state = DocumentState.SUPERSEDED
        else:
            state = DocumentState.NOT_USED
        documents.append(
            PlanDocument(
                kind=kind,
                version=n + 1,
                ref=row.ref,
                role=None,
                person="",
                at=row.uploaded_at,
                state=state,
            )
        )
    return documents


def find(
    documents: Iterable[PlanDocument], kind: DocumentKind, version: int | None
) -> PlanDocument | None:
    """The document of ``kind`` at ``version``; without one, the current one."""
    for document in documents:
        if document.kind is not kind:
            continue
        if version is None and document.state is DocumentState.CURRENT:
            return document
        if version is not None and document.version == version:
            return document
    return None
