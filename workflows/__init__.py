"""Workflows: deterministic orchestration only; every side effect is an activity."""

from workflows.approval_batch import ApprovalBatchWorkflow
from workflows.exam_plan import ExamPlanWorkflow

__all__ = ["ApprovalBatchWorkflow", "ExamPlanWorkflow"]
