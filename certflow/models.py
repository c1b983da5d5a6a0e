"""The serializable models shared by workflows, activities and staff tools.

Every message into or out of a workflow is one small pydantic model, so fields can
be added later (with defaults) without breaking workflows already running.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from certflow.free_text import FileName
from certflow.identity import (
    PLAN_ID_PATTERN,
    STAFF_ID_MAX_LENGTH,
    STAFF_ID_PATTERN,
    staff_key,
)
from certflow.privacy import holds_id_number
from certflow.text import code_points, hidden_in


class Model(BaseModel):
    """Base of every certflow model: unknown fields are ignored, not errors.

    Ignoring extras lets an older worker replay a history written by a newer
    staff tool that sent a field it does not know yet.
    """

    model_config = ConfigDict(extra="ignore")


class Role(StrEnum):
    """A party of the process (see PROCESS.md, "Parties")."""

    EVALUATOR = "evaluator"
    LEAD_EVALUATOR = "lead_evaluator"
    SITE = "site"
    REGIONAL_CONTACT = "regional_contact"
    REGIONAL_MANAGER = "regional_manager"
    INFO_CENTER = "info_center"
    TECH_DEPT = "tech_dept"
    FINANCE = "finance"
    GENERAL_MANAGER = "general_manager"
    CANDIDATE = "candidate"
    ADMIN = "admin"


class Level(StrEnum):
    """等级: the level of a vocational skill certificate."""

    ELEMENTARY = "elementary"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"

    @property
    def chinese(self) -> str:
        return {"elementary": "初级", "intermediate": "中级", "advanced": "高级"}[
            self.value
        ]

    @classmethod
    def from_chinese(cls, text: str) -> Level | None:
        for level in cls:
            if level.chinese == text.strip():
                return level
        return None


class Stage(StrEnum):
    """Where an exam plan stands; the Web UI filters on these values."""

    SCORE_SUBMISSION = "score_submission"
    CONSISTENCY_REVIEW = "consistency_review"
    SCORE_PUBLICATION = "score_publication"
    # The upload is confirmed and the publicity window known, but its first
    # day has not come: no request is taken, nobody has been told it opened.
    AWAITING_PUBLICITY = "awaiting_publicity"
    PUBLICITY = "publicity"
    PAYMENT_AND_SIGNOFF = "payment_and_signoff"
    AWAITING_APPROVAL = "awaiting_approval"
    ISSUANCE = "issuance"
    ISSUED = "issued"
    CANCELLED = "cancelled"
    # Nobody passed, publicity and every correction closed: no certificate to
    # issue and nothing to pay, so the plan ends without stages 5-10.
    NO_CERTIFICATES = "no_certificates"


class Actor(Model):
    """Who performs a staff action: a role and the person acting in it.

    ``person`` is a staff or login id, never a name or an identity number.
    ``site_code`` is required for the site role and names the site acted for.
    """

    role: Role
    person: str = Field(min_length=1, max_length=STAFF_ID_MAX_LENGTH)
    site_code: str | None = None


class PassRuleKind(StrEnum):
    """How the pass result of a candidate is computed from the scores."""

    BOTH_AT_LEAST = "both_at_least"  # theory >= N and practical >= N
    WEIGHTED_TOTAL_AT_LEAST = "weighted_total_at_least"  # total >= N
    PRACTICAL_ONLY = "practical_only"  # practical >= N, no theory part


class PassRule(Model):
    """The pass rule configured for one certificate, level and module."""

    kind: PassRuleKind = PassRuleKind.BOTH_AT_LEAST
    threshold: float = 60.0
    theory_weight: float = 0.3
    practical_weight: float = 0.7


def no_id_number(value: Any) -> Any:
    """Refuse a value that holds an ID number (error type ``id_number``).

    A new plan's texts and codes go into its workflow id, its search
    attributes, its history and every mail: none may hold an ID number.
    Checked before the field's own shape, so such a value is refused as what
    it is rather than as a code of the wrong form, and never repeated.
    """
    if isinstance(value, str | int) and holds_id_number(str(value)):
        raise PydanticCustomError("id_number", "holds an ID number")
    return value


NoIdNumber = BeforeValidator(no_id_number)


def no_hidden(value: Any) -> Any:
    """Refuse a text holding a hidden character (error type ``hidden``).

    A new plan's names and codes are printed on its certificates, shown in
    every mail and matched against the site's records: a zero-width space
    makes ``S01`` another code than the site's, a right-to-left override turns
    the module's name around on the certificate. What leads or trails the text
    is no matter: it is stripped as spaces are.
    """
    if isinstance(value, str):
        hidden = hidden_in(value.strip())
        if hidden:
            raise PydanticCustomError(
                "hidden",
                "holds hidden characters {chars}",
                {"chars": code_points(hidden)},
            )
    return value


NoHidden = BeforeValidator(no_hidden)


# The texts a plan cannot do without hold something other than spaces.
# The longest name a plan holds (a site's, a certificate's, a module's). Real
# ones stay below 40 characters; a longer text is a paste of something else,
# and the certificate, the mails and the Web UI would all print it.
PLAN_TEXT_MAX_LENGTH = 100
# Codes a plan is filed under besides its id: a site's, a module's.
PLAN_CODE_MAX_LENGTH = 32
PlanText = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=PLAN_TEXT_MAX_LENGTH
    ),
    NoIdNumber,
    NoHidden,
]
PlanCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=PLAN_CODE_MAX_LENGTH
    ),
    NoIdNumber,
    NoHidden,
]
# An evaluator by staff id (``certflow.identity``), never by name nor by ID
# number.
StaffId = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=STAFF_ID_PATTERN), NoIdNumber
]
# The id of a plan started today (``PLAN_ID_PATTERN``).
NewPlanId = Annotated[str, StringConstraints(pattern=PLAN_ID_PATTERN), NoIdNumber]
# Any text with something other than spaces: what plans recorded before the
# limits above held, and must still load.
Filled = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class PlanInfo(Model):
    """考试计划: what the organisation knows of an exam plan when it starts.

    The evaluators are listed by staff id only; their names live in the
    organisation's staff directory, not in workflow history.

    This is the model every recorded plan is read back with (its workflow
    input, its state across continue-as-new, its activities' inputs), so it
    only asks what every plan ever started had; ``NewPlanInfo`` holds a plan
    being started to the stricter rules of today.
    """

    plan_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{2,40}$")
    site_code: str = Field(min_length=1, max_length=PLAN_CODE_MAX_LENGTH)
    site_name: Filled
    certificate: Filled
    level: Level
    module_code: Filled
    module_name: Filled
    exam_end_date: date
    # Without a lead evaluator nobody may upload the scores: the plan would stall.
    lead_evaluator_id: Filled
    evaluator_ids: list[Filled] = Field(default_factory=list)
    pass_rule: PassRule = Field(default_factory=PassRule)
    # The fee table's price per candidate for this certificate and level, copied
    # from configuration when the plan starts; None where none is configured.
    fee_per_candidate: Decimal | None = None


class NewPlanInfo(PlanInfo):
    """A plan being started: names of a sane length, staff ids that are ids.

    Checked where plans are started (``certflow plan start``), never when a
    recorded plan is read back: a plan started before these rules, with a
    longer name, a name as an evaluator id or a plan id of another form, must
    keep running. None of a new plan's texts holds an ID number.
    """

    plan_id: NewPlanId
    site_code: PlanCode
    site_name: PlanText
    certificate: PlanText
    module_code: PlanCode
    module_name: PlanText
    lead_evaluator_id: StaffId
    evaluator_ids: list[StaffId] = Field(default_factory=list)

    @field_validator("evaluator_ids")
    @classmethod
    def _each_evaluator_once(cls, ids: list[str], info: ValidationInfo) -> list[str]:
        """Each evaluator once, the lead evaluator not among them.

        The team is the lead and the evaluators (``evaluator_ids`` are the
        others); a staff id given twice, in any case or width, is a typing
        slip that leaves someone out of the team, and the plan's record would
        keep it for good.
        """
        lead = info.data.get("lead_evaluator_id")
        seen = {staff_key(lead)} if isinstance(lead, str) else set()
        for staff_id in ids:
            key = staff_key(staff_id)
            if key not in seen:
                seen.add(key)
                continue
            code = "lead_as_evaluator" if key == staff_key(lead or "") else "repeated"
            raise PydanticCustomError(
                f"{code}_staff_id", "a staff id given twice", {"staff_id": staff_id}
            )
        return ids

    def recorded(self) -> PlanInfo:
        """The plan as workflows record it."""
        return PlanInfo.model_validate(self.model_dump())


class DocumentKind(StrEnum):
    """The kinds of document a plan collects."""

    SCORE_SUMMARY = "score_summary"
    SIGNED_SUMMARY_SCAN = "signed_summary_scan"
    CANDIDATE_SIGN_IN = "candidate_sign_in"
    EVALUATOR_SIGN_IN = "evaluator_sign_in"
    CERTIFICATE_APPLICATION = "certificate_application"
    INVOICE_DETAILS = "invoice_details"
    PLATFORM_IMPORT = "platform_import"
    CONSISTENCY_REPORT = "consistency_report"
    ANNOTATED_UPLOAD = "annotated_upload"
    CERTIFICATE = "certificate"


class DocumentRef(Model):
    """A file in the content-addressed document store.

    Only this reference travels through workflow history, never the bytes.
    ``filename`` is the uploader's name for display; it is never used as a path.
    """

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    media_type: str = "application/octet-stream"
    filename: FileName = ""


class Problem(Model):
    """One reason an upload or a request is refused, as the sender must see it.

    ``value`` is already masked where it holds personal data. ``row`` is the
    1-based row number as the office suite shows it.
    """

    code: str
    message: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    value: str | None = None

    def locate(self) -> str:
        """Return where the problem is, as a teacher reads it.

        For example: 工作表 X 第 6 行 证件号码列.
        """
        parts = []
        if self.sheet:
            parts.append(f"工作表“{self.sheet}”")
        if self.row is not None:
            parts.append(f"第 {self.row} 行")
        if self.column:
            parts.append(f"“{self.column}”列")
        return " ".join(parts)

    def render(self) -> str:
        """Return the whole problem as one line of Chinese text.

        The value belongs to the message's sentence: it is shown before the
        sentence's closing 。 (``…请核对号码是否抄错（值：4210**）。``).
        """
        where = self.locate()
        text = self.message
        if self.value not in (None, ""):
            stop = "。" if text.endswith("。") else ""
            text = f"{text.removesuffix('。')}（值：{self.value}）{stop}"
        return f"{where}：{text}" if where else text


class ExamStatus(StrEnum):
    """考试状态 of one candidate."""

    PRESENT = "present"  # 正常
    ABSENT = "absent"  # 缺考
    DISQUALIFIED = "disqualified"  # 违纪


class CandidateScore(Model):
    """One validated row of a score summary. Personal data: never log it."""

    seq: int | None = None
    name: str
    id_type: str
    id_number: str
    admission_number: str
    module_code: str
    theory: float | None
    practical: float | None
    total: float | None
    status: ExamStatus
    passed: bool
    remark: str = ""


class SummaryStats(Model):
    """What the workflow keeps of an accepted score summary: counts only."""

    version: int
    candidates: int
    passed: int
    failed: int
    absent: int
    disqualified: int = 0

    @classmethod
    def count(
        cls, version: int, results: Iterable[tuple[ExamStatus, bool]]
    ) -> SummaryStats:
        """Count candidates by (status, passed): the one rule for every count.

        Failed are the candidates present who did not pass; absent and
        disqualified ones are counted apart, so the four add up to all.
        """
        seen = list(results)
        return cls(
            version=version,
            candidates=len(seen),
            passed=sum(1 for _, passed in seen if passed),
            failed=sum(
                1
                for status, passed in seen
                if status is ExamStatus.PRESENT and not passed
            ),
            absent=sum(1 for status, _ in seen if status is ExamStatus.ABSENT),
            disqualified=sum(
                1 for status, _ in seen if status is ExamStatus.DISQUALIFIED
            ),
        )


class UploadOutcome(Model):
    """The answer to an upload: accepted with counts, or refused with problems.

    Problems are capped for workflow history; ``problem_count`` tells the whole
    number and ``report`` points to the full annotated report in the store.
    """

    accepted: bool
    problems: list[Problem] = Field(default_factory=list)
    problem_count: int = 0
    report: DocumentRef | None = None
    stats: SummaryStats | None = None
    version: int | None = None  # the accepted version's number, counted per kind
    note: str = ""
