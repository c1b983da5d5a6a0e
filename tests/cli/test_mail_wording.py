"""Staff answers say a mail is arranged, never that it went out.

Trial: with the mail server away, staff read 已邮件通知信息中心 while the mail
waited in the plan; it goes out only once the server takes it (``certflow
notice failed`` lists the mails waiting).
"""

from __future__ import annotations

import pytest

from certflow.i18n import catalogue

# The one 已通知 that is no mail: running plans signalled to compute again.
NOT_A_MAIL = {"cli.calendar_signalled"}


@pytest.mark.parametrize("area", ["plan.", "cli.", "actions.", "batch."])
def test_no_staff_answer_claims_a_mail_was_sent(area: str) -> None:
    claims = {
        key: text
        for key, text in catalogue().items()
        if key.startswith(area)
        and key not in NOT_A_MAIL
        and ("已邮件通知" in text or "已通知" in text)
    }
    assert claims == {}
