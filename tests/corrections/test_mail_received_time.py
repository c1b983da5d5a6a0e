"""When a mailed request counts as received: never after the poll that read it.

A mail the mail server stamped no arrival time on counts from the Date the
sender's machine wrote. A school PC whose clock is a day ahead filed its
request dated tomorrow; one whose clock is far behind filed it dated before
publicity opened (refused) or, read after the cut-off, dated as if on time.
Real parts only: mail in by SMTP over loopback (the sink stamps no Received
header), the poller on the time-skipping server, PostgreSQL.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from activities.mail_intake import DATE_HEADER_TRUSTED_FOR, received_time
from certflow.timeutil import cst_date
from starter import mailbox_cli
from tests.corrections.mail_intake_support import (
    SITE_ADDRESS,
    RigFactory,
    assign_argv,
    correction_body,
    mail,
)

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]

# Seq 12 of the sample summary, as in test_mail_intake_e2e.
CANDIDATE = "2026110412012"


@pytest.mark.parametrize(
    "written_days", [1, -30], ids=["clock_a_day_ahead", "clock_a_month_behind"]
)
async def test_a_mail_dated_wrongly_is_filed_as_received_at_the_poll(
    open_rig: RigFactory, written_days: int
) -> None:
    """Regression: a Date of tomorrow filed the request received tomorrow, and
    a Date a month back had it refused as sent before publicity opened."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        before = await rig.now()
        message = mail(
            SITE_ADDRESS,
            "成绩修改申请",
            correction_body(plan_id, CANDIDATE),
            before + timedelta(days=written_days),
        )
        await rig.send_raw(message.as_bytes())

        run = await rig.poll()

        after = await rig.now()
        assert run.counts == {"received": 1}
        row = await rig.mail_row(message["Message-ID"])
        [filed] = await rig.filed(plan_id)
        # Dated when the poll read it, by the clock the plans read the day by.
        assert filed["received_at"] == row["received_at"] == row["processed_at"]
        assert before <= filed["received_at"] <= after
        assert cst_date(filed["received_at"]) == cst_date(after)


async def test_assigning_a_mail_dated_tomorrow_files_it_at_the_poll(
    open_rig: RigFactory,
) -> None:
    """Regression: ``certflow mailbox assign`` filed the request dated as the
    sender's clock wrote, tomorrow, for a mail recorded before the cap too."""
    async with open_rig() as rig:
        driver = await rig.plan_in_publicity(then_poll=True)
        plan_id = driver.plan.plan_id
        tomorrow = await rig.now() + timedelta(days=1)
        plea = mail(
            SITE_ADDRESS,
            "关于考生成绩的问题",
            "老师好，我校一名考生对实操成绩有异议，详情见电话沟通。",
            tomorrow,
        )
        await rig.send_raw(plea.as_bytes())
        assert (await rig.poll()).counts == {"unmatched": 1}
        row = await rig.mail_row(plea["Message-ID"])
        assert row["received_at"] == row["processed_at"] < tomorrow
        # As a row recorded before received times were capped holds it.
        await rig.pool.execute(
            "UPDATE mail_messages SET received_at = $2 WHERE dedupe_key = $1",
            row["dedupe_key"],
            tomorrow,
        )

        out = io.StringIO()
        code = await mailbox_cli.run(
            assign_argv(row["dedupe_key"], plan_id, CANDIDATE),
            rig.settings,
            client=rig.env.client,
            out=out,
        )

        assert code == 0, out.getvalue()
        [filed] = await rig.filed(plan_id)
        assert filed["received_at"] == row["processed_at"]


async def test_the_received_time_prefers_the_servers_stamp_and_caps_at_the_poll() -> (
    None
):
    read_at = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    stamped = b"Received: from mx by exam; Mon, 07 Dec 2026 08:30:00 +0000\r\n\r\n"
    unstamped = b"Subject: x\r\n\r\n"
    written = read_at - timedelta(hours=20)

    assert received_time(stamped, written, read_at) == read_at - timedelta(minutes=30)
    # A server clock ahead does not pass the poll either.
    assert received_time(stamped, None, read_at - timedelta(hours=1)) == (
        read_at - timedelta(hours=1)
    )
    assert received_time(unstamped, written, read_at) == written
    assert received_time(unstamped, None, read_at) == read_at
    assert received_time(unstamped, read_at + timedelta(minutes=1), read_at) == read_at
    oldest = read_at - DATE_HEADER_TRUSTED_FOR
    assert received_time(unstamped, oldest, read_at) == oldest
    assert received_time(unstamped, oldest - timedelta(seconds=1), read_at) == read_at
