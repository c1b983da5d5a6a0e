"""Helpers that act as each party on a plan, the way the staff tool does."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from activities.documents import DocumentStore
from certflow.actions import (
    ActionResult,
    ApplicationUpload,
    ConfirmSummaryRequest,
    ExamPlanInput,
    PaymentConfirmation,
    PlanStatus,
    ReviewRequest,
    SimpleAction,
    SiteSignoffRequest,
    UploadRequest,
    plan_workflow_id,
)
from certflow.config import DeadlinePolicy, Settings
from certflow.models import Actor, Level, PlanInfo, Role
from certflow.timeutil import cst_date
from workflows import ExamPlanWorkflow

ROOT = Path(__file__).resolve().parents[1]
INTAKE = ROOT / "samples" / "intake"
SUMMARY = INTAKE / "P2026-1104-0412-成绩汇总表.xlsx"
CANDIDATE_SIGN_IN = INTAKE / "P2026-1104-0412-考生签到表.xlsx"
EVALUATOR_SIGN_IN = INTAKE / "P2026-1104-0412-考评员签到表.xlsx"
SAMPLE_PLAN_ID = "P2026-1104-0412"
SITE_CODE = "HB-WH-0031"

# A one-page PDF is all a "scan" needs to be for intake: it checks the format.
SCAN_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)

LEAD = Actor(role=Role.LEAD_EVALUATOR, person="ZCX-E-0107")
SITE = Actor(role=Role.SITE, person="whjt-kaowu", site_code=SITE_CODE)
OTHER_SITE = Actor(role=Role.SITE, person="other-kaowu", site_code="HB-WH-0099")
CONTACT = Actor(role=Role.REGIONAL_CONTACT, person="rc-zhang")
MANAGER = Actor(role=Role.REGIONAL_MANAGER, person="rm-wang")
INFO = Actor(role=Role.INFO_CENTER, person="ic-li")
TECH = Actor(role=Role.TECH_DEPT, person="tech-zhao")
FINANCE = Actor(role=Role.FINANCE, person="fin-sun")
GM = Actor(role=Role.GENERAL_MANAGER, person="gm-chen")


def sample_plan(exam_end: date, plan_id: str | None = None) -> PlanInfo:
    """The plan of the intake samples; the id may differ so tests stay apart.

    The score summary names P2026-1104-0412 in its title rows, so a plan with
    another id gets a copy of the summary without them (see ``summary_for``).
    """
    return PlanInfo(
        plan_id=plan_id or SAMPLE_PLAN_ID,
        site_code=SITE_CODE,
        site_name="武汉市交通职业技术学校",
        certificate="汽车运用与维修",
        level=Level.INTERMEDIATE,
        module_code="1-1",
        module_name="汽车动力与驱动系统综合分析技术",
        exam_end_date=exam_end,
        lead_evaluator_id="ZCX-E-0107",
        evaluator_ids=["ZCX-E-0213", "ZCX-E-0288", "ZCX-E-0301"],
    )


def unique_plan_id() -> str:
    return f"T{uuid.uuid4().hex[:10].upper()}"


def retitled(path: Path, plan_id: str, tmp: Path) -> Path:
    """A copy of a sample workbook whose title rows name ``plan_id`` instead."""
    import openpyxl

    book = openpyxl.load_workbook(path)
    for sheet in book.worksheets:
        for row in sheet.iter_rows(max_row=3):
            for cell in row:
                if isinstance(cell.value, str) and SAMPLE_PLAN_ID in cell.value:
                    cell.value = cell.value.replace(SAMPLE_PLAN_ID, plan_id)
    target = tmp / f"{plan_id}-{path.name}"
    book.save(target)
    return target


@dataclass
class PlanDriver:
    """Acts on one plan as its parties would, through workflow updates."""

    client: Client
    env: WorkflowEnvironment
    settings: Settings
    store: DocumentStore
    plan: PlanInfo
    tmp: Path
    handle: WorkflowHandle[Any, Any] | None = None
    files: dict[str, Path] = field(default_factory=dict)

    async def start(
        self, policy: DeadlinePolicy | None = None, **input_fields: Any
    ) -> None:
        self.handle = await self.client.start_workflow(
            ExamPlanWorkflow.run,
            ExamPlanInput(
                info=self.plan, policy=policy or DeadlinePolicy(), **input_fields
            ),
            id=plan_workflow_id(self.plan.plan_id),
            task_queue=self.settings.temporal.task_queue,
        )
        for name, path in (
            ("summary", SUMMARY),
            ("candidates", CANDIDATE_SIGN_IN),
            ("evaluators", EVALUATOR_SIGN_IN),
        ):
            self.files[name] = (
                path
                if self.plan.plan_id == SAMPLE_PLAN_ID
                else retitled(path, self.plan.plan_id, self.tmp)
            )

    @property
    def h(self) -> WorkflowHandle[Any, Any]:
        assert self.handle is not None
        return self.handle

    async def status(self) -> PlanStatus:
        return await self.h.query(ExamPlanWorkflow.status)  # type: ignore[no-any-return]

    async def today(self) -> date:
        return cst_date(await self.env.get_current_time())

    def put(self, path: Path) -> Any:
        return self.store.put_file(path)

    async def upload(
        self, update: Any, actor: Actor, path: Path, **extra: Any
    ) -> ActionResult:
        request = UploadRequest(actor=actor, document=self.put(path), **extra)
        return await self.h.execute_update(update, request)  # type: ignore[no-any-return]

    async def submit_everything(self) -> None:
        """Stage 1 done right: every upload accepted and the summary confirmed."""
        wf = ExamPlanWorkflow
        result = await self.upload(wf.upload_score_summary, LEAD, self.files["summary"])
        assert result.accepted, result.problems
        scan = self.tmp / "scan.pdf"
        scan.write_bytes(SCAN_PDF)
        result = await self.upload(
            wf.upload_signed_scan,
            LEAD,
            scan,
            signed_evaluator_ids=[
                "ZCX-E-0107",
                "ZCX-E-0213",
                "ZCX-E-0288",
                "ZCX-E-0301",
            ],
        )
        assert result.accepted, result.problems
        result = await self.upload(
            wf.upload_candidate_sign_in, SITE, self.files["candidates"]
        )
        assert result.accepted, result.problems
        result = await self.upload(
            wf.upload_evaluator_sign_in, SITE, self.files["evaluators"]
        )
        assert result.accepted, result.problems
        result = await self.h.execute_update(
            wf.confirm_score_summary,
            ConfirmSummaryRequest(actor=SITE, summary_version=1),
        )
        assert result.accepted

    async def wait_for(self, predicate: Any, *, attempts: int = 100) -> PlanStatus:
        """Poll the status query until ``predicate(status)`` holds (real seconds)."""
        import asyncio

        status = await self.status()
        for _ in range(attempts):
            if predicate(status):
                return status
            await asyncio.sleep(0.1)
            status = await self.status()
        raise AssertionError(
            f"condition never held; last status: {status.stage} batch={status.batch_id}"
            f" owed={[o.key for o in status.owed]} history={status.history[-4:]}"
        )

    async def approve_review(self) -> None:
        await self.wait_for(
            lambda s: any(o.duty == "consistency_review" for o in s.owed)
        )
        result = await self.h.execute_update(
            ExamPlanWorkflow.review_consistency,
            ReviewRequest(actor=CONTACT, approve=True),
        )
        assert result.accepted

    async def confirm_upload(self) -> None:
        await self.wait_for(lambda s: any(o.duty == "score_upload" for o in s.owed))
        result = await self.h.execute_update(
            ExamPlanWorkflow.confirm_score_upload, SimpleAction(actor=INFO)
        )
        assert result.accepted

    async def skip(self, days: float) -> None:
        await self.env.sleep(timedelta(days=days))

    async def pay_and_sign(self, amount: Decimal = Decimal("4200.00")) -> None:
        """Stages 5-8 done right: application, finance, both sign-offs."""
        wf = ExamPlanWorkflow
        scan = self.tmp / "application.pdf"
        scan.write_bytes(SCAN_PDF)
        today = await self.today()
        result = await self.h.execute_update(
            wf.upload_application,
            ApplicationUpload(
                actor=SITE,
                application_scan=self.put(scan),
                paid_plan_ids=[self.plan.plan_id],
                head_count=14,
                amount=amount,
                paid_on=today,
                method="银行转账",
                reference="TX-0001",
            ),
        )
        assert result.accepted, result.message
        result = await self.h.execute_update(
            wf.confirm_payment,
            PaymentConfirmation(
                actor=FINANCE, received_amount=amount, received_on=today
            ),
        )
        assert result.accepted, result.message
        result = await self.h.execute_update(wf.org_signoff, SimpleAction(actor=TECH))
        assert result.accepted, result.message
        result = await self.h.execute_update(
            wf.site_signoff, SiteSignoffRequest(actor=SITE, plan_id=self.plan.plan_id)
        )
        assert result.accepted, result.message


async def refused(coro: Any) -> str:
    """Await an update that must be refused by its validator; return the error type."""
    try:
        await coro
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        return str(getattr(cause, "type", "") or cause)
    raise AssertionError("the update was accepted but should have been refused")
