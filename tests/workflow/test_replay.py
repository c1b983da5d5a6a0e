"""Recorded histories replay against the current workflow code.

The JSON files in ``histories/`` are whole histories of real runs (the
lifecycle test writes them when CERTFLOW_RECORD_HISTORIES=1).
``exam-plan-alarms-in-outage`` is the run of test_mail_down's withdrawn-reminder
test recorded before alarms were withdrawn: its reminders of duties done during
the outage went out afterwards, and it must replay as it ran.
``exam-plan-sent-back-by-batch`` is a plan a general manager's rejection sent
back to redo its application, recorded before the duties resting on it waited
for it (a refactoring that woke the timer loop one time fewer broke it).
``exam-plan-invoiced`` (a plan run to the end, its invoice recorded) and
``exam-plan-rejected-without-return`` (a plan the general manager rejected to
wait for the next batch; terminated once recorded) were recorded with the
release before invoice numbers were claimed in the database and before such a
rejection was mailed to finance. ``exam-plan-invoice-voided`` is a plan whose
invoice a return to ``payment_check`` voided and whose next invoice finance then
recorded, recorded before a void had an audit line of its own.
``approval-batch-scheduled`` is a run of the weekly schedule that gathered a
plan and was approved, recorded when such a run was the batch itself, named
``scheduled-<time>`` after its workflow id. ``approval-batch-joint-return``
is a batch that sent both plans of a joint payment back to have it checked
again, recorded when only the gathering read the joint payments (the
decision did not read them again). ``exam-plan-mails-cancelled`` is
a plan whose reminder, retried through a mail outage, was withdrawn once its
duty was done, and which was then cancelled with mails still held, recorded
when the timer loop cancelled its timer and a withdrawn mail's activity was
cancelled (before either was left to run). ``exam-plan-payment-differs`` is
a plan whose confirmed payment a correction made differ, then signed off and
awaiting approval, recorded when finance and the tech dept were only told
(before the difference was recorded and held the plan).
``exam-plan-nobody-passed`` is a plan nobody passed, run by the release before
such a plan ended: stuck in the payment stage, its application and sign-off
reminded and escalated twice, then taken over by the release that ends it,
which did so at its next wake (patch ``no-certificates-to-issue``, asked at
each wake, said no on replay of the waits before). ``exam-plan-row-deadlines``
is a plan run to its payment stage by the first release that kept the plan
row's deadlines between stage changes (patch ``row-keeps-deadlines``, asked
case by case). ``exam-plan-held-before-gathering`` is a plan signed off with
a payment difference open (OwedBy listing the tech dept for its gathering),
settled, its invoice corrected, then cancelled before any gathering (the
general manager mailed); ``exam-plan-held-by-partner`` a plan another plan of
its joint payment held as it came to await approval, freed by it, then
cancelled; ``exam-plan-held-by-partner-cancelled`` such a plan cancelled while
held. All three were recorded by the release before such a plan owed nobody
its gathering (patches ``gathering-owed-once-payment-frees`` and
``cancel-tells-who-gathers``). ``exam-plan-blocked-again-across-upgrade`` is
a plan of the upgrade trial whose issuance (its signing key missing) the
release before blocked and whose ``issue-again`` it answered blocked again,
mailing the tech dept each time, then taken over by the next release, whose
``issue-again`` blocked as before mailed again (patch
``issuance-blocked-told-once``, asked once per run, said no on replay).
``exam-plan-blocked-again-told-once`` is a plan whose ``issue-again``
blocked as before was answered without a mail by the release that brought
that patch, which recorded it under its own id: the patch is asked so first,
then case by case. A code change
that would break the plans already running in production fails here first; when
a change is meant to alter histories, it needs a patch (``workflow.patched``),
not a new recording.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker import WORKFLOWS

HISTORIES = Path(__file__).parent / "histories"
RECORDED = sorted(HISTORIES.glob("*.json"))

pytestmark = [pytest.mark.timeout(60)]


def test_histories_are_recorded() -> None:
    assert {p.stem for p in RECORDED} >= {"exam-plan-lifecycle", "approval-batch"}


@pytest.mark.asyncio(loop_scope="session")
@pytest.mark.parametrize("path", RECORDED, ids=[p.stem for p in RECORDED])
async def test_recorded_history_replays(path: Path) -> None:
    text = await asyncio.to_thread(path.read_text, encoding="utf-8")
    history = WorkflowHistory.from_json(path.stem, text)
    replayer = Replayer(workflows=WORKFLOWS, data_converter=pydantic_data_converter)
    await replayer.replay_workflow(history)
